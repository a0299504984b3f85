"""The payment form checks each answer, and a confirmed payment is stored exactly once."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Optional

import pytest
from sqlalchemy import func, select

from actions.payments import ActionAskPaymentConfirmed, ActionStartPayment, ActionSubmitPayment, ValidatePaymentForm
from actions.runtime import lender_today
from autofinance.bootstrap import Container
from autofinance.adapters.store.models import OutboxMessage, Payment
from tests.actions.conftest import make_tracker, run, texts, verify


def _slot_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


async def _validate(slot: str, value: str, entities: list[dict[str, Any]] | None = None,
                    slots: dict[str, Any] | None = None) -> tuple[dict[str, Any], str]:
    tracker = make_tracker("maria-chat", {"verified": True, "requested_slot": slot, slot: value, **(slots or {})},
                           intent="inform", text=value, entities=entities, active_loop="payment_form")
    tracker.events.append({"event": "slot", "name": slot, "value": value})
    events, messages = await run(ValidatePaymentForm(), tracker)
    return _slot_events(events), texts(messages)


def _payments(store: Container) -> int:
    with store.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(Payment).where(Payment.origin == "chat"))


async def test_amounts_are_read_from_words_and_refused_when_out_of_range(store: Container) -> None:
    verify(store, "maria-chat")
    assert (await _validate("payment_amount", "$100"))[0]["payment_amount"] == "100.00"
    choice = [{"entity": "amount_choice", "value": "monthly_payment"}]
    assert (await _validate("payment_amount", "my monthly payment", choice))[0]["payment_amount"] == "452.18"
    slots, said = await _validate("payment_amount", "$0")
    assert slots["payment_amount"] is None and "more than $0.00" in said
    slots, said = await _validate("payment_amount", "$99,999")
    assert slots["payment_amount"] is None and "payoff amount" in said


async def test_each_refused_amount_is_told_exactly_what_is_wrong(store: Container) -> None:
    verify(store, "maria-chat")
    for said, reply in [
        ("my past due", "You don't have a past-due amount right now. How much would you like to pay?"),
        ("$10.005", "Amounts go to the cent, like $125.50. How much would you like to pay?"),
        ("$99,999", "That's more than your payoff amount of $18,420.55. Please choose a smaller amount."),
        ("blah", "Sorry, I didn't catch the amount. How much would you like to pay, for example $250?"),
    ]:
        slots, text = await _validate("payment_amount", said)
        assert slots["payment_amount"] is None and text == reply, said


async def test_past_and_far_future_dates_are_refused(store: Container) -> None:
    verify(store, "maria-chat")
    today = lender_today()
    assert (await _validate("payment_date", "today"))[0]["payment_date"] == today.isoformat()
    past = (today - timedelta(days=3)).strftime("%m/%d/%Y")
    slots, said = await _validate("payment_date", past)
    assert slots["payment_date"] is None and "already passed" in said
    far = (today + timedelta(days=45)).strftime("%m/%d/%Y")
    slots, said = await _validate("payment_date", far)
    assert slots["payment_date"] is None and "up to" in said


async def test_the_summary_discloses_the_debit_card_fee_before_confirming(store: Container) -> None:
    verify(store, "maria-chat")
    card = (await _validate("payment_source", "debit card"))[0]["payment_source"]
    tracker = make_tracker("maria-chat", {"verified": True, "payment_amount": "100.00",
                                          "payment_date": lender_today().isoformat(), "payment_source": card})
    _, messages = await run(ActionAskPaymentConfirmed(), tracker)
    assert "$2.95 convenience fee" in texts(messages) and "$102.95" in texts(messages)


async def test_a_confirmed_payment_is_stored_once_even_when_confirmed_twice(store: Container) -> None:
    verify(store, "maria-chat")
    checking = (await _validate("payment_source", "my checking"))[0]["payment_source"]
    slots = {"verified": True, "payment_amount": "100.00", "payment_date": lender_today().isoformat(),
             "payment_source": checking, "payment_confirmed": True, "payment_attempt": "attempt-1"}
    _, first = await run(ActionSubmitPayment(), make_tracker("maria-chat", slots))
    _, second = await run(ActionSubmitPayment(), make_tracker("maria-chat", slots))
    assert "Your confirmation number is MP" in texts(first)
    assert _payments(store) == 1
    assert texts(first) == texts(second)  # the retry gets the same confirmation, not a new payment
    with store.uow() as uow:
        kinds = uow.session.scalars(select(OutboxMessage.kind)).all()
    assert kinds.count("payment_confirmation") == 1


async def test_saying_no_at_the_summary_stores_nothing(store: Container) -> None:
    verify(store, "maria-chat")
    slots = {"verified": True, "payment_amount": "100.00", "payment_date": lender_today().isoformat(),
             "payment_source": "1", "payment_confirmed": False, "payment_attempt": "attempt-2"}
    events, messages = await run(ActionSubmitPayment(), make_tracker("maria-chat", slots))
    assert _payments(store) == 0
    assert _slot_events(events)["payment_amount"] is None


async def test_details_in_the_first_request_start_the_form(store: Container) -> None:
    verify(store, "maria-chat")
    request = {"event": "user", "text": "pay $200 tomorrow from my checking", "parse_data": {
        "intent": {"name": "make_payment"},
        "entities": [{"entity": "amount", "value": "$200"}, {"entity": "date", "value": "tomorrow"},
                     {"entity": "funding_source", "value": "my checking"}]}}
    code = {"event": "user", "text": "123456", "parse_data": {"intent": {"name": "inform"}, "entities": []}}
    tracker = make_tracker("maria-chat", {"verified": True}, intent="inform", events=[request, code])
    events, messages = await run(ActionStartPayment(), tracker)
    assert _slot_events(events) == {"payment_amount": "$200", "payment_date": "tomorrow",
                                    "payment_source": "my checking"}
    assert messages == [] and _payments(store) == 0


def _after(answer: str, text: str) -> list[dict[str, Any]]:
    question = {"event": "user", "text": "when's my next one due", "parse_data": {"intent": {"name": "next_payment"}}}
    request = {"event": "user", "text": text, "parse_data": {"intent": {"name": "make_payment"}, "entities": []}}
    return [question, {"event": "action", "name": answer}, {"event": "bot", "text": "..."},
            {"event": "action", "name": "action_listen"}, request]


@pytest.mark.parametrize("answer, text, amount", [
    ("action_next_payment", "ok pay it friday from checking", "monthly_payment"),
    ("action_past_due", "can i just pay that now", "past_due"),
    ("action_check_balance", "ok pay it", None),  # the balance is not one amount to pay
    ("action_next_payment", "i want to make a payment", None),  # no "it": nothing referred to
])
async def test_pay_it_right_after_an_answer_pays_the_amount_it_named(
        store: Container, answer: str, text: str, amount: Optional[str]) -> None:
    verify(store, "maria-chat")
    tracker = make_tracker("maria-chat", {"verified": True}, intent="make_payment", text=text,
                           events=_after(answer, text))
    events, _ = await run(ActionStartPayment(), tracker)
    assert _slot_events(events).get("payment_amount") == amount


async def test_a_request_without_details_prefills_nothing(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = make_tracker("maria-chat", {"verified": True}, intent="make_payment", text="i want to pay")
    events, _ = await run(ActionStartPayment(), tracker)
    assert events == []
