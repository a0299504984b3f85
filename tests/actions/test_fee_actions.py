"""Fees in conversation: explained from the store, a waiver only after a yes, a refusal with a ticket."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update

from actions.account import ActionPaymentHistory
from actions.payments import ValidatePaymentForm
from actions.fees import (
    ActionExplainFees,
    ActionExplainReturnedPayment,
    ActionOfferFeeWaiver,
    ActionSubmitFeeWaiver,
)
from autofinance.adapters.store.models import Account, AuditLog, Fee, HandoffTicket, OutboxMessage, WorkItem
from autofinance.bootstrap import Container
from tests.actions.conftest import make_tracker, run, texts, verify

KEISHA, KEISHA_ZIP = "7301006618", "98101"
VERIFIED = {"verified": True}


def _slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def _waivers(store: Container) -> tuple[Any, ...]:
    """(fees due, late-fee status, receipts, audit records): what a waiver changes."""
    with store.uow() as uow:
        session = uow.session
        return (session.scalar(select(Account.fees_due).where(Account.account_number == KEISHA)),
                tuple(session.scalars(select(Fee.status).where(Fee.kind == "late").order_by(Fee.id))),
                session.scalar(select(func.count()).select_from(OutboxMessage)
                               .where(OutboxMessage.kind == "fee_waived")),
                session.scalar(select(func.count()).select_from(AuditLog)
                               .where(AuditLog.action == "fee_waived")))


async def test_the_fees_are_explained_each_with_its_reason(store: Container) -> None:
    verify(store, "k-chat", KEISHA, KEISHA_ZIP)
    tracker = make_tracker("k-chat", VERIFIED, intent="fee_question", text="why was I charged a fee")
    _, messages = await run(ActionExplainFees(), tracker)
    said = texts(messages)
    assert "$15.00 late fee" in said and "after the 10-day grace period" in said
    assert "$25.00 returned-payment fee" in said and "insufficient funds" in said
    assert "You still owe $55.00 in fees" in said and "waiving a late fee" in said


async def test_the_amount_asked_about_is_the_fee_explained(store: Container) -> None:
    verify(store, "k-chat", KEISHA, KEISHA_ZIP)
    tracker = make_tracker("k-chat", VERIFIED, intent="fee_question", text="what is this $25 charge")
    _, messages = await run(ActionExplainFees(), tracker)
    assert "$25.00 returned-payment fee" in texts(messages) and "late fee:" not in texts(messages)


async def test_the_code_typed_to_verify_is_never_read_as_the_amount_asked_about(store: Container) -> None:
    verify(store, "k-chat", KEISHA, KEISHA_ZIP)
    tracker = make_tracker("k-chat", {**VERIFIED, "pending_task": "fee_question"}, intent="inform",
                           text="349163")
    tracker.events.insert(0, {"event": "user", "text": "why was i charged a fee",
                              "parse_data": {"intent": {"name": "fee_question"}, "entities": [],
                                             "text": "why was i charged a fee"}})
    _, messages = await run(ActionExplainFees(), tracker)
    assert "$349,163" not in texts(messages) and texts(messages).startswith("Here are the fees")


async def test_maria_has_no_fees_and_hears_so(store: Container) -> None:
    verify(store, "m-chat")
    _, messages = await run(ActionExplainFees(), make_tracker("m-chat", VERIFIED, intent="fee_question"))
    assert texts(messages) == "There are no late or returned-payment fees on your account."


async def test_the_payment_history_shows_the_returned_payment_and_the_fees(store: Container) -> None:
    verify(store, "k-chat", KEISHA, KEISHA_ZIP)
    _, messages = await run(ActionPaymentHistory(), make_tracker("k-chat", VERIFIED, intent="payment_history"))
    said = texts(messages)
    assert "$367.45 from checking ****5521 (returned)" in said
    assert "Fees charged:" in said and "late fee: the payment due" in said


async def test_the_returned_payment_is_explained_with_what_to_do_next(store: Container) -> None:
    verify(store, "k-chat", KEISHA, KEISHA_ZIP)
    _, messages = await run(ActionExplainReturnedPayment(),
                            make_tracker("k-chat", VERIFIED, intent="returned_payment", text="my payment bounced"))
    said = texts(messages)
    assert "Your payment of $367.45 from checking ****5521" in said and "returned by your bank" in said
    assert "A $25.00 returned-payment fee was charged on October" in said
    assert "savings ****8830" in said and "check with your bank" in said
    assert messages[0]["buttons"] == [{"title": "Make a payment", "payload": "/make_payment"}]


async def test_keisha_is_offered_the_waiver_and_nothing_changes_before_yes(store: Container) -> None:
    verify(store, "k-chat", KEISHA, KEISHA_ZIP)
    before = _waivers(store)
    events, messages = await run(ActionOfferFeeWaiver(), make_tracker("k-chat", VERIFIED, intent="waive_fee"))
    assert _slots(events) == {"fee_waiver_offered": True}
    assert "one-time courtesy waiver" in texts(messages) and "waive the $15.00 late fee" in texts(messages)
    assert _waivers(store) == before


async def test_yes_waives_the_fee_once_with_a_receipt_and_an_audit_record(store: Container) -> None:
    verify(store, "k-chat", KEISHA, KEISHA_ZIP)
    offered = {**VERIFIED, "fee_waiver_offered": True}
    events, messages = await run(ActionSubmitFeeWaiver(), make_tracker("k-chat", offered, intent="affirm"))
    assert _slots(events) == {"fee_waiver_offered": None}
    assert "the $15.00 late fee is waived" in texts(messages) and "$40.00" in texts(messages)
    assert _waivers(store) == (Decimal("40.00"), ("charged", "waived"), 1, 1)
    _, again = await run(ActionSubmitFeeWaiver(), make_tracker("k-chat", offered, intent="affirm"))  # yes twice
    assert "Nothing was changed." in texts(again)
    assert _waivers(store) == (Decimal("40.00"), ("charged", "waived"), 1, 1)


async def test_no_or_cancel_after_the_offer_changes_nothing(store: Container) -> None:
    verify(store, "k-chat", KEISHA, KEISHA_ZIP)
    before = _waivers(store)
    for intent in ("deny", "cancel"):
        tracker = make_tracker("k-chat", {**VERIFIED, "fee_waiver_offered": True}, intent=intent)
        events, messages = await run(ActionSubmitFeeWaiver(), tracker)
        assert _slots(events) == {"fee_waiver_offered": None}
        assert [m["response"] for m in messages] == ["utter_fee_not_waived"]
    assert _waivers(store) == before


async def test_without_an_offer_a_yes_changes_nothing(store: Container) -> None:
    verify(store, "k-chat", KEISHA, KEISHA_ZIP)
    before = _waivers(store)
    _, messages = await run(ActionSubmitFeeWaiver(), make_tracker("k-chat", VERIFIED, intent="affirm"))
    assert [m["response"] for m in messages] == ["utter_fee_not_waived"]
    assert _waivers(store) == before


async def test_past_due_the_waiver_is_refused_and_a_specialists_review_is_queued(store: Container) -> None:
    verify(store, "k-chat", KEISHA, KEISHA_ZIP)
    with store.uow() as uow:
        uow.session.execute(update(Account).where(Account.account_number == KEISHA)
                            .values(past_due_amount=Decimal("367.45"), status="past_due"))
        uow.commit()
    before = _waivers(store)
    events, messages = await run(ActionOfferFeeWaiver(), make_tracker("k-chat", VERIFIED, intent="waive_fee"))
    assert _slots(events) == {"fee_waiver_offered": False}
    with store.uow() as uow:
        number, kind = uow.session.execute(select(WorkItem.reference, WorkItem.kind)).one()
        assert uow.session.scalar(select(func.count()).select_from(HandoffTicket)) == 0
    said = texts(messages)
    assert "past due ($367.45 past due)" in said and number in said
    assert "specialist" in said and kind == "fee_waiver"
    assert _waivers(store) == before


async def test_in_the_middle_of_a_payment_a_bounced_payment_is_explained_and_the_step_asked_again(
    store: Container,
) -> None:
    verify(store, "k-chat", KEISHA, KEISHA_ZIP)
    slots = {**VERIFIED, "payment_amount": "367.45", "payment_attempt": "a1", "requested_slot": "payment_date"}
    said_text = "hang on, why did my last payment bounce?"
    tracker = make_tracker("k-chat", slots, intent="returned_payment", text=said_text, active_loop="payment_form")
    tracker.events.append({"event": "slot", "name": "payment_date", "value": said_text})
    events, said = await run(ValidatePaymentForm(), tracker)
    assert "was returned by your bank" in texts(said)
    assert _slots(events)["payment_date"] is None and "payment_amount" not in _slots(events)
