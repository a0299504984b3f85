"""Account actions answer a verified customer with their own figures, fitted to the question."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from actions.account import (
    ActionCheckBalance,
    ActionEmailPayoffQuote,
    ActionLeaseBuyout,
    ActionLoanTerms,
    ActionNextPayment,
    ActionPastDue,
    ActionPaymentHistory,
    ActionPayoffQuote,
)
from actions.runtime import lender_today
from autofinance.bootstrap import Container
from autofinance.domain.calendar import next_due
from autofinance.domain.parsing import format_long_date
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
    assert "I've emailed your payoff quote" in texts(sent) and len(_payoff_emails(store)) == 1


# --- payment status and lease buyout ----------------------------------------------------------


def _said_date(day: date) -> str:
    return f"{day:%A}, {format_long_date(day)}"


async def test_dana_hears_how_far_behind_she_is_and_can_pay_it_now(store: Container) -> None:
    verify(store, "dana-chat", "7301005530", "1990-07-22")
    _, messages = await run(ActionPastDue(), make_tracker("dana-chat", {"verified": True}, intent="past_due"))
    due = _said_date(next_due(lender_today(), 5))
    assert texts(messages) == (
        "Your account is 45 days past due, with $812.40 past due. Paying $812.40 brings your account "
        f"current; after that, your next payment of $406.20 is due {due}. Would you like to pay the "
        "past-due amount now? If you're having a hard time, I can go over hardship options with you "
        "or connect you with a person.")
    assert messages[0]["buttons"] == [
        {"title": "Pay $812.40 now", "payload": '/make_payment{"amount_choice":"past_due"}'},
        {"title": "I need help with payments", "payload": "/hardship_help"}]


async def test_maria_asking_if_she_is_behind_hears_plainly_that_she_is_not(store: Container) -> None:
    verify(store, "maria-chat")
    _, messages = await run(ActionPastDue(), make_tracker("maria-chat", {"verified": True}, intent="past_due"))
    due = _said_date(next_due(lender_today(), 15))
    assert texts(messages) == (f"You're not behind: your account is current. Your next payment of $452.18 "
                               f"is due {due}.")
    assert "buttons" not in messages[0] or not messages[0]["buttons"]


async def test_maria_next_payment_is_the_date_and_the_amount(store: Container) -> None:
    verify(store, "maria-chat")
    _, messages = await run(ActionNextPayment(), make_tracker("maria-chat", {"verified": True},
                                                              intent="next_payment"))
    assert texts(messages) == f"Your next payment of $452.18 is due {_said_date(next_due(lender_today(), 15))}."


async def test_james_next_payment_says_autopay_takes_it_and_from_where(store: Container) -> None:
    verify(store, "james-chat", "jchen", "94107")
    _, messages = await run(ActionNextPayment(), make_tracker("james-chat", {"verified": True},
                                                              intent="next_payment"))
    due = next_due(lender_today(), 1)
    assert texts(messages) == (
        f"Your next payment of $389.00 is due {_said_date(due)}. You're on autopay, so it'll be taken "
        f"automatically on {format_long_date(due)} from checking ****2244.")


async def test_dana_next_payment_mentions_what_is_past_due(store: Container) -> None:
    verify(store, "dana-chat", "7301005530", "1990-07-22")
    _, messages = await run(ActionNextPayment(), make_tracker("dana-chat", {"verified": True},
                                                              intent="next_payment"))
    assert texts(messages) == (
        f"Your next payment of $406.20 is due {_said_date(next_due(lender_today(), 5))}. You also have "
        "$812.40 past due (45 days); paying it brings your account current.")
    assert messages[0]["buttons"][0]["payload"] == '/make_payment{"amount_choice":"past_due"}'


async def test_james_buyout_shows_each_part_and_a_total_they_add_up_to(store: Container) -> None:
    verify(store, "james-chat", "jchen", "94107")
    _, messages = await run(ActionLeaseBuyout(), make_tracker("james-chat", {"verified": True},
                                                              intent="lease_buyout"))
    today = lender_today()
    assert texts(messages) == (
        "Your 2024 Honda Accord lease buyout, part by part:\n"
        "- Residual value: $21,350.00\n"
        "- Remaining payments: 3 × $389.00 = $1,167.00\n"
        "- Purchase-option fee: $350.00\n"
        f"Total buyout price: $22,867.00, good through {format_long_date(next_due(today, 1))}. Your lease "
        f"ends {format_long_date(today + timedelta(days=75))}. Sales tax and fees for your state (CA) may "
        "be added when you buy. To buy it, a lease-end specialist arranges the purchase and the title "
        "with you: you pay us, not the dealer, from a saved bank account or with a loan from us. Would "
        "you like a specialist?")


async def test_a_loan_customer_asking_for_a_buyout_is_offered_a_payoff_quote(store: Container) -> None:
    verify(store, "maria-chat")
    _, messages = await run(ActionLeaseBuyout(), make_tracker("maria-chat", {"verified": True},
                                                              intent="lease_buyout"))
    assert "You have a loan, not a lease" in texts(messages) and "$" not in texts(messages)
    assert messages[0]["buttons"] == [{"title": "Payoff quote", "payload": "/payoff_quote"}]


async def test_an_unverified_customer_is_verified_first_and_the_question_kept(store: Container) -> None:
    for action, intent in [(ActionPastDue(), "past_due"), (ActionNextPayment(), "next_payment"),
                           (ActionLeaseBuyout(), "lease_buyout")]:
        events, messages = await run(action, make_tracker("stranger", intent=intent))
        assert texts(messages) == "utter_need_verification"
        assert {"event": "slot", "name": "pending_task", "value": intent, "timestamp": None} in events
        assert "$" not in texts(messages)


async def test_asking_for_the_payoff_by_email_emails_it_at_once(store: Container) -> None:
    verify(store, "maria-chat")
    _, messages = await run(ActionPayoffQuote(), make_tracker("maria-chat", {"verified": True},
                                                              intent="payoff_quote",
                                                              text="ok. email me that payoff then"))
    assert "I've emailed your payoff quote" in texts(messages) and "Would you like it by email" not in texts(messages)


async def test_a_payoff_for_a_week_from_today_is_quoted_for_that_day(store: Container) -> None:
    """The date named in words the entity catches only part of ("a week from today")."""
    verify(store, "maria-chat")
    week = lender_today() + timedelta(days=7)
    tracker = make_tracker("maria-chat", {"verified": True}, intent="make_payment",
                           text="can you do it for a week from today instead? that's when the bank "
                                "sends the money",
                           entities=[{"entity": "date", "value": "today"}])
    _, messages = await run(ActionPayoffQuote(), tracker)
    assert f"good through {format_long_date(week)}" in texts(messages)
