"""Account actions answer a verified customer with their own figures."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from actions.account import (
    ActionCheckBalance,
    ActionEmailPayoffQuote,
    ActionLoanTerms,
    ActionPaymentHistory,
    ActionPayoffQuote,
)
from actions.runtime import lender_today
from autofinance.bootstrap import Container
from autofinance.adapters.store.models import OutboxMessage
from tests.actions.conftest import make_tracker, run, texts, verify


async def test_maria_verified_by_code_sees_her_principal_balance(store: Container) -> None:
    verify(store, "maria-chat")
    _, messages = await run(ActionCheckBalance(), make_tracker("maria-chat", {"verified": True}))
    assert "$18,420.55" in texts(messages)
    assert "****4821" in texts(messages) and "7301004821" not in texts(messages)
    assert "$452.18" in texts(messages)


async def test_james_sees_his_lease_residual_and_remaining_payments(store: Container) -> None:
    verify(store, "james-chat", "jchen", "94107")
    _, messages = await run(ActionCheckBalance(), make_tracker("james-chat", {"verified": True}))
    assert "$21,350.00" in texts(messages)
    assert "3 payments of $389.00" in texts(messages)


async def test_dana_is_told_what_is_past_due_and_that_help_exists(store: Container) -> None:
    verify(store, "dana-chat", "7301005530", "1990-07-22")
    _, messages = await run(ActionCheckBalance(), make_tracker("dana-chat", {"verified": True}))
    assert "$812.40" in texts(messages) and "45 days past due" in texts(messages)
    assert "hardship" in texts(messages)


async def test_one_customer_never_sees_another_customers_data(store: Container) -> None:
    verify(store, "robert-chat", "7301009912", "9912")
    _, messages = await run(ActionCheckBalance(), make_tracker("robert-chat", {"verified": True}))
    assert "$3,215.77" in texts(messages) and "$18,420.55" not in texts(messages)


async def test_history_terms_and_payoff_read_the_verified_customers_account(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = make_tracker("maria-chat", {"verified": True})
    _, history = await run(ActionPaymentHistory(), tracker)
    _, terms = await run(ActionLoanTerms(), tracker)
    _, quote = await run(ActionPayoffQuote(), tracker)
    assert texts(history).count("$452.18") == 6 and "checking ****6789" in texts(history)
    assert "5.49%" in texts(terms)
    assert "payoff amount is $18," in texts(quote) and "good through" in texts(quote)


def _payoff_emails(store: Container) -> list[str]:
    with store.uow() as uow:
        return list(uow.session.scalars(select(OutboxMessage.body).where(OutboxMessage.kind == "payoff_quote")))


async def test_the_quote_given_is_the_quote_emailed_once(store: Container) -> None:
    verify(store, "maria-chat")
    day = (lender_today() + timedelta(days=5)).isoformat()
    events, quoted = await run(ActionPayoffQuote(), make_tracker(
        "maria-chat", {"verified": True}, intent="payoff_quote", text=f"payoff for {day}",
        entities=[{"entity": "date", "value": day}]))
    assert {"event": "slot", "name": "payoff_good_through", "value": day, "timestamp": None} in events
    assert "Email it to me" in str(quoted[0]["buttons"])
    amount = texts(quoted).split("payoff amount is ")[1].split(", good")[0]
    tracker = make_tracker("maria-chat", {"verified": True, "payoff_good_through": day}, intent="affirm")
    _, sent = await run(ActionEmailPayoffQuote(), tracker)
    _, again = await run(ActionEmailPayoffQuote(), tracker)
    assert "m****@example.com" in texts(sent) and amount in texts(sent)
    assert "already emailed" in texts(again)
    [body] = _payoff_emails(store)
    assert amount in body and "7301004821" not in body


async def test_a_lapsed_quote_date_gets_a_fresh_quote_by_email(store: Container) -> None:
    verify(store, "maria-chat")
    stale = (lender_today() - timedelta(days=2)).isoformat()
    tracker = make_tracker("maria-chat", {"verified": True, "payoff_good_through": stale}, intent="affirm")
    _, sent = await run(ActionEmailPayoffQuote(), tracker)
    assert "I've emailed quote" in texts(sent) and len(_payoff_emails(store)) == 1
