"""Cancelling a scheduled payment: only future ones are offered, and nothing goes without a yes."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from actions.cancel_payment import (
    ActionAskCancelPaymentConfirmed,
    ActionAskPaymentToCancel,
    ActionCheckScheduledPayments,
    ActionSubmitCancelPayment,
    ValidateCancelPaymentForm,
)
from actions.conversation import ActionCancelTask
from actions.runtime import lender_today
from autofinance.bootstrap import Container
from autofinance.domain.parsing import format_long_date
from autofinance.services import payments
from autofinance.services.payments import PaymentReceipt
from autofinance.adapters.store.models import Account, FundingSource, OutboxMessage, Payment
from tests.actions.conftest import make_tracker, run, texts, verify


def _slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def _schedule(store: Container, account_number: str, last4: str, amount: str, days_ahead: int) -> PaymentReceipt:
    with store.uow() as uow:
        customer_id = uow.session.scalar(select(Account.customer_id).where(Account.account_number == account_number))
        source_id = uow.session.scalar(select(FundingSource.id).where(FundingSource.last4 == last4))
    today = lender_today()
    return payments.schedule_payment(customer_id, Decimal(amount), today + timedelta(days=days_ahead), source_id,
                                     f"test-{account_number}-{amount}-{days_ahead}", store.uow(),
                                     store.settings.public_base_url, today)


def _status(store: Container, number: str) -> str:
    with store.uow() as uow:
        return uow.session.scalar(select(Payment.status).where(Payment.confirmation_number == number))


async def _pick(value: str, entities: list[dict[str, Any]] | None = None,
                intent: str = "inform") -> tuple[dict[str, Any], str]:
    tracker = make_tracker("maria-chat", {"verified": True, "requested_slot": "payment_to_cancel",
                                          "payment_to_cancel": value},
                           intent=intent, text=value, entities=entities, active_loop="cancel_payment_form")
    tracker.events.append({"event": "slot", "name": "payment_to_cancel", "value": value})
    events, messages = await run(ValidateCancelPaymentForm(), tracker)
    return _slots(events), texts(messages)


async def test_with_nothing_scheduled_maria_is_told_so_plainly(store: Container) -> None:
    verify(store, "maria-chat")
    events, said = await run(ActionCheckScheduledPayments(), make_tracker("maria-chat", {"verified": True},
                                                                          intent="cancel_payment"))
    assert _slots(events) == {"payments_scheduled": False}
    assert "don't have any scheduled payments" in texts(said) and "cancel autopay" in texts(said)


async def test_a_payment_already_being_processed_today_is_not_offered(store: Container) -> None:
    verify(store, "maria-chat")
    today_payment = _schedule(store, "7301004821", "6789", "100.00", 0)
    events, said = await run(ActionCheckScheduledPayments(), make_tracker("maria-chat", {"verified": True}))
    assert _slots(events) == {"payments_scheduled": False}
    assert "already being processed" in texts(said) and today_payment.confirmation_number in texts(said)


async def test_maria_picks_one_of_two_payments_confirms_and_it_is_cancelled(store: Container) -> None:
    verify(store, "maria-chat")
    first = _schedule(store, "7301004821", "6789", "100.00", 3)
    second = _schedule(store, "7301004821", "1111", "452.18", 9)
    events, said = await run(ActionCheckScheduledPayments(), make_tracker("maria-chat", {"verified": True}))
    assert _slots(events) == {"payments_scheduled": True} and said == []

    _, asked = await run(ActionAskPaymentToCancel(), make_tracker("maria-chat", {"verified": True}))
    titles = [b["title"] for b in asked[0]["buttons"]]
    assert titles == [
        f"$100.00 from checking ****6789 on {format_long_date(first.pay_on)} (confirmation {first.confirmation_number})",
        f"$452.18 from debit card ****1111 on {format_long_date(second.pay_on)} "
        f"(confirmation {second.confirmation_number})",
    ]
    slots, _ = await _pick(asked[0]["buttons"][1]["payload"],
                           [{"entity": "confirmation_number", "value": second.confirmation_number}])
    assert slots["payment_to_cancel"] == second.confirmation_number

    chosen = {"verified": True, "payment_to_cancel": second.confirmation_number}
    _, summary = await run(ActionAskCancelPaymentConfirmed(), make_tracker("maria-chat", chosen))
    assert "$452.18 from debit card ****1111" in texts(summary) and "Please confirm" in texts(summary)
    assert _status(store, second.confirmation_number) == "scheduled"

    events, done = await run(ActionSubmitCancelPayment(),
                             make_tracker("maria-chat", {**chosen, "cancel_payment_confirmed": True}))
    assert "is cancelled" in texts(done) and second.confirmation_number in texts(done)
    assert _status(store, second.confirmation_number) == "cancelled"
    assert _status(store, first.confirmation_number) == "scheduled"
    with store.uow() as uow:
        assert uow.session.scalar(select(OutboxMessage.kind).where(OutboxMessage.kind == "payment_cancelled"))
    assert all(value is None for value in _slots(events).values())


async def test_a_typed_date_amount_or_number_picks_a_payment_and_anything_unclear_is_asked_again(
    store: Container,
) -> None:
    verify(store, "maria-chat")
    first = _schedule(store, "7301004821", "6789", "100.00", 3)
    second = _schedule(store, "7301004821", "6789", "250.00", 9)
    on_day = first.pay_on.strftime("%m/%d")
    assert (await _pick(f"the one on {on_day}"))[0]["payment_to_cancel"] == first.confirmation_number
    assert (await _pick("the $250 one"))[0]["payment_to_cancel"] == second.confirmation_number
    typed = f"cancel {second.confirmation_number.lower()} please"
    assert (await _pick(typed))[0]["payment_to_cancel"] == second.confirmation_number
    for unclear in ("yes", "the big one", "$75"):
        slots, said = await _pick(unclear, intent="affirm" if unclear == "yes" else "inform")
        assert slots["payment_to_cancel"] is None and "couldn't tell which payment" in said, unclear


async def test_with_one_payment_a_yes_picks_it(store: Container) -> None:
    verify(store, "maria-chat")
    only = _schedule(store, "7301004821", "6789", "100.00", 3)
    assert (await _pick("yes", intent="affirm"))[0]["payment_to_cancel"] == only.confirmation_number


async def test_another_customers_payment_cannot_be_picked_or_cancelled(store: Container) -> None:
    verify(store, "maria-chat")
    _schedule(store, "7301004821", "6789", "100.00", 3)
    james = _schedule(store, "7301007734", "2244", "389.00", 4)
    slots, _ = await _pick(james.confirmation_number,
                           [{"entity": "confirmation_number", "value": james.confirmation_number}])
    assert slots["payment_to_cancel"] is None
    _, said = await run(ActionSubmitCancelPayment(), make_tracker("maria-chat", {
        "verified": True, "payment_to_cancel": james.confirmation_number, "cancel_payment_confirmed": True}))
    assert "couldn't find a payment" in texts(said) and "Nothing was cancelled" in texts(said)
    assert _status(store, james.confirmation_number) == "scheduled"


async def test_saying_no_keeps_the_payment(store: Container) -> None:
    verify(store, "maria-chat")
    kept = _schedule(store, "7301004821", "6789", "100.00", 3)
    _, said = await run(ActionSubmitCancelPayment(), make_tracker("maria-chat", {
        "verified": True, "payment_to_cancel": kept.confirmation_number, "cancel_payment_confirmed": False}))
    assert "haven't cancelled anything" in texts(said)
    assert _status(store, kept.confirmation_number) == "scheduled"


async def test_cancel_leaves_the_task_and_nothing_is_cancelled() -> None:
    tracker = make_tracker("maria-chat", {"payment_to_cancel": "MPABCDEFGH"}, intent="cancel",
                           active_loop="cancel_payment_form")
    events, said = await run(ActionCancelTask(), tracker)
    assert texts(said) == "utter_cancel_payment_stopped"
    assert _slots(events)["payment_to_cancel"] is None and _slots(events)["payments_scheduled"] is None
