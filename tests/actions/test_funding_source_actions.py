"""A new bank account in conversation (checked, sealed, summarised masked, saved only after a yes,
then used by the payment or autopay it was for) and a debit card only by a secure link; a card
number is refused. The numbers never appear in slots, messages, the outbox or the logs."""
from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import func, select

from actions import details
from actions.conversation import ActionCancelTask
from actions.funding_sources import (
    ActionAskBankAccountConfirmed, ActionRefuseCardNumber, ActionSendCardLink, ActionStartBankAccount,
    ActionSubmitBankAccount, ValidateBankAccountForm,
)
from actions.payments import ActionAskPaymentSource, ActionStartPayment, ValidatePaymentForm, names_new_source
from autofinance.adapters.notify import readable_body
from autofinance.adapters.sealing import seal
from autofinance.adapters.store.models import AuditLog, FundingSource, OutboxMessage
from autofinance.bootstrap import Container
from autofinance.services import funding_sources
from tests.actions.conftest import domain, make_tracker, run, verify

MARIA = ("7301004821", "30309")
VERIFIED = {"verified": True}
ROUTING, ACCOUNT = "021000021", "987654326789"


def _responses(messages: list[dict[str, Any]]) -> list[str]:
    return [m.get("response") for m in messages]


def _slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def _changes(store: Container) -> tuple[int, ...]:
    with store.uow() as uow:
        return tuple(uow.session.scalar(select(func.count()).select_from(model))
                     for model in (FundingSource, OutboxMessage, AuditLog))


def _form_tracker(sender: str, requested: str, text: str, slots: dict[str, Any]) -> Any:
    tracker = make_tracker(sender, {**VERIFIED, **slots, "requested_slot": requested, requested: text},
                           intent="inform", text=text, active_loop="bank_account_form")
    tracker.events.append({"event": "slot", "name": requested, "value": text})
    return tracker


def _confirmed(store: Container, **slots: Any) -> dict[str, Any]:
    pepper = store.settings.secret_pepper
    return {**VERIFIED, "bank_routing": seal(ROUTING, pepper), "bank_account_number": seal(ACCOUNT, pepper),
            "bank_account_kind": "checking", "bank_account_confirmed": True, **slots}


async def test_a_different_account_at_the_payment_question_starts_the_form_for_that_payment(
        store: Container) -> None:
    verify(store, "m", *MARIA)
    tracker = make_tracker("m", {**VERIFIED, "requested_slot": "payment_source"}, intent="add_bank_account",
                           text="a new checking account", active_loop="payment_form")
    events, messages = await run(ActionStartBankAccount(), tracker)
    assert {"bank_account_for": "payment", "bank_account_kind": "checking",
            "bank_account_allowed": True}.items() <= _slots(events).items()
    assert messages == []
    # the payment form takes "a new checking account" for no saved account (Maria has a checking)
    assert ValidatePaymentForm().named_values(tracker) == {}


async def test_the_payment_question_offers_a_new_bank_account(store: Container) -> None:
    verify(store, "m", *MARIA)
    _, messages = await run(ActionAskPaymentSource(), make_tracker("m", VERIFIED, intent="make_payment"))
    assert messages[0]["buttons"][-1] == {"title": "A new bank account", "payload": "/add_bank_account"}


async def test_each_number_is_checked_then_sealed(store: Container) -> None:
    verify(store, "m", *MARIA)
    form = ValidateBankAccountForm()
    events, messages = await run(form, _form_tracker("m", "bank_routing", "021000022", {}))
    assert _slots(events)["bank_routing"] is None
    assert _responses(messages) == ["utter_bank_invalid_routing_checksum"]
    events, messages = await run(form, _form_tracker("m", "bank_routing", "0210 0002", {}))
    assert _responses(messages) == ["utter_bank_invalid_routing_format"]
    events, messages = await run(form, _form_tracker("m", "bank_routing", ROUTING, {}))
    sealed = _slots(events)["bank_routing"]
    assert sealed.startswith("sealed:") and ROUTING not in sealed and messages == []
    events, _ = await run(form, _form_tracker("m", "bank_account_number", ACCOUNT, {"bank_routing": sealed}))
    assert _slots(events)["bank_account_number"].startswith("sealed:")
    events, messages = await run(form, _form_tracker("m", "bank_account_number", "12", {"bank_routing": sealed}))
    assert _slots(events)["bank_account_number"] is None
    assert _responses(messages) == ["utter_bank_invalid_account_format"]
    events, messages = await run(form, _form_tracker("m", "bank_account_kind", "brokerage", {}))
    assert _responses(messages) == ["utter_bank_invalid_kind"]


async def test_the_summary_shows_both_numbers_masked(store: Container) -> None:
    verify(store, "m", *MARIA)
    _, messages = await run(ActionAskBankAccountConfirmed(), make_tracker("m", _confirmed(store)))
    assert _responses(messages) == ["utter_ask_bank_account_confirmed"]
    assert (messages[0]["last4"], messages[0]["routing"], messages[0]["kind"]) == ("6789", "***0021", "checking")
    assert ACCOUNT not in json.dumps(messages) and ROUTING not in json.dumps(messages)


async def test_yes_saves_the_account_and_the_payment_resumes_with_it(
        store: Container, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    verify(store, "m", *MARIA)
    slots = _confirmed(store, bank_account_for="payment", payment_amount="100.00", payment_date="2026-12-01")
    events, messages = await run(ActionSubmitBankAccount(), make_tracker("m", slots, intent="affirm"))
    assert _responses(messages) == ["utter_bank_account_added"]
    assert messages[0]["account"] == "checking ****6789" and messages[0]["email"] == "m****@example.com"
    with store.uow() as uow:
        source = uow.session.scalars(select(FundingSource).order_by(FundingSource.id.desc())).first()
        assert source is not None and source.last4 == "6789" and source.added_in is not None
        source_id = source.id
        outbox = [readable_body(m, store.settings.secret_pepper) or "" for m in uow.session.scalars(select(OutboxMessage))]
        notice = [body for body in outbox if "new checking account ending 6789" in body]
    assert _slots(events)["payment_source"] == f"source:{source_id}"
    # the payment form takes it as that saved account, asking nothing again
    validated, said = await run(ValidatePaymentForm(), make_tracker(
        "m", {**VERIFIED, "payment_source": f"source:{source_id}", "requested_slot": "payment_amount"},
        intent="affirm", active_loop="payment_form",
        events=[{"event": "user", "text": "yes"}, {"event": "slot", "name": "payment_source",
                                                   "value": f"source:{source_id}"}]))
    assert _slots(validated)["payment_source"] == str(source_id) and said == []
    assert {"event": "followup", "timestamp": None, "name": "payment_form"} in events
    assert all(_slots(events)[slot] is None for slot in ("bank_routing", "bank_account_number"))
    assert len(notice) == 1
    everything = json.dumps([events, messages, outbox]) + caplog.text
    assert ACCOUNT not in everything and ROUTING not in everything


async def test_an_account_added_on_its_own_says_it_is_ready_to_use(store: Container) -> None:
    verify(store, "m", *MARIA)
    events, messages = await run(ActionSubmitBankAccount(), make_tracker("m", _confirmed(store), intent="affirm"))
    assert _responses(messages) == ["utter_bank_account_added_standalone"]
    assert not [e for e in events if e.get("event") == "followup"]


async def test_no_at_the_summary_saves_nothing_and_the_payment_asks_for_its_account_again(store: Container) -> None:
    verify(store, "m", *MARIA)
    before = _changes(store)
    slots = _confirmed(store, bank_account_confirmed=False, bank_account_for="payment")
    events, messages = await run(ActionSubmitBankAccount(), make_tracker("m", slots, intent="deny"))
    assert _responses(messages) == ["utter_bank_account_not_added"]
    assert "payment_source" not in _slots(events)
    assert {"event": "followup", "timestamp": None, "name": "payment_form"} in events
    assert _changes(store) == before


async def test_cancel_in_the_middle_leaves_nothing_saved_and_ends_the_payment_too(store: Container) -> None:
    verify(store, "m", *MARIA)
    before = _changes(store)
    slots = {**_confirmed(store, bank_account_for="payment"), "bank_account_confirmed": None,
             "payment_amount": "100.00"}
    events, messages = await run(ActionCancelTask(), make_tracker("m", slots, intent="cancel",
                                                                  active_loop="bank_account_form"))
    assert _responses(messages) == ["utter_bank_account_stopped"]
    cleared = _slots(events)
    assert cleared["bank_account_number"] is None and cleared["payment_amount"] is None
    assert _changes(store) == before


async def test_the_limit_per_conversation_is_said_before_any_number_is_asked(store: Container) -> None:
    verify(store, "m", *MARIA)
    key = funding_sources.conversation_key("m", store.settings.secret_pepper)
    for n in range(funding_sources.MAX_NEW_PER_CONVERSATION):
        funding_sources.add_bank_account(1, ROUTING, f"5550{n}", "checking", key, store.uow(),
                                         store.settings.secret_pepper)
    tracker = make_tracker("m", {**VERIFIED, "requested_slot": "payment_source"}, intent="add_bank_account",
                           text="a different account", active_loop="payment_form")
    events, messages = await run(ActionStartBankAccount(), tracker)
    assert _responses(messages) == ["utter_bank_account_limit_conversation"]
    assert _slots(events)["bank_account_allowed"] is False
    assert {"event": "followup", "timestamp": None, "name": "payment_form"} in events


async def test_a_debit_card_is_added_only_by_an_emailed_link(store: Container) -> None:
    verify(store, "m", *MARIA)
    _, messages = await run(ActionSendCardLink(), make_tracker("m", VERIFIED, intent="add_debit_card"))
    assert _responses(messages) == ["utter_card_link_sent"]
    assert messages[0]["destination"] == "m****@example.com" and messages[0]["minutes"] == 30
    assert "token" not in json.dumps(messages)


async def test_a_card_number_is_refused_with_the_way_to_the_secure_page() -> None:
    _, messages = await run(ActionRefuseCardNumber(), make_tracker("x", intent="EXTERNAL_card_number",
                                                                   text="/EXTERNAL_card_number"))
    assert _responses(messages) == ["utter_card_number_refused"]
    buttons = domain()["responses"]["utter_card_number_refused"][0]["buttons"]
    assert buttons[0]["payload"] == "/add_debit_card"
    _, messages = await run(ActionRefuseCardNumber(), make_tracker("x", intent="EXTERNAL_card_number",
                                                                   active_loop="payment_form"))
    assert _responses(messages) == ["utter_card_number_refused_in_task"]


async def test_a_new_account_is_never_added_before_verification(store: Container) -> None:
    before = _changes(store)
    await run(ActionSubmitBankAccount(), make_tracker("nobody", _confirmed(store), intent="affirm"))
    assert _changes(store) == before


async def test_a_payment_asked_with_a_new_account_starts_with_the_amount_and_date_it_named(
        store: Container) -> None:
    """"pay $50 on friday from a new checking account": once the account is added, the payment
    starts with $50 and Friday (the form still checks both), and with the new account."""
    verify(store, "m", *MARIA)
    text = "I want to pay $50 on friday from a new checking account"
    asked = make_tracker("m", VERIFIED, intent="add_bank_account", text=text,
                         entities=[{"entity": "amount", "value": "$50"}])
    started, _ = await run(ActionStartBankAccount(), asked)
    assert _slots(started)["bank_account_for"] == "payment"
    assert "task_details" not in _slots(started)  # still sealed for the payment to come
    sealed = details.capture_events(asked)[0]["value"]
    slots = _confirmed(store, bank_account_for="payment", task_details=sealed)
    events, _ = await run(ActionSubmitBankAccount(), make_tracker("m", slots, intent="affirm"))
    named = _slots(events)
    assert named["payment_amount"] == "$50" and "friday" in named["payment_date"].lower()
    assert named["payment_source"].startswith("source:") and named["task_details"] is None
    assert {"event": "followup", "timestamp": None, "name": "payment_form"} in events


async def test_a_payment_under_way_keeps_its_own_details_after_a_new_account(store: Container) -> None:
    verify(store, "m", *MARIA)
    slots = _confirmed(store, bank_account_for="payment", payment_amount="100.00")
    events, _ = await run(ActionSubmitBankAccount(), make_tracker("m", slots, intent="affirm"))
    assert "payment_amount" not in _slots(events)  # nothing sealed: nothing refilled


@pytest.mark.parametrize("text, new", [
    ("I want to pay $50 on friday from a new checking account", True),
    ("pay 200 from a different bank account pls", True),
    ("can autopay come out of another checking acct", True),
    ("set up autopay from my new savings", True),
    ("pay $50 from my checking", False),
    ("pay my other car", False),
    ("I'd like to make a payment", False),
])
def test_a_request_naming_an_account_not_saved_yet_is_recognised(text: str, new: bool) -> None:
    assert names_new_source(text) is new


async def test_a_payment_from_a_new_account_adds_the_account_first_keeping_the_request(
        store: Container) -> None:
    verify(store, "m", *MARIA)
    text = "pay $50 from a new checking account"
    events, messages = await run(ActionStartPayment(), make_tracker(
        "m", VERIFIED, intent="make_payment", text=text, entities=[{"entity": "amount", "value": "$50"}]))
    assert messages == [] and "payment_amount" not in _slots(events)
    assert {"event": "followup", "timestamp": None, "name": "action_start_bank_account"} in events
    kept = details.sealed_request(make_tracker("m", {"task_details": _slots(events)["task_details"]}))
    assert kept is not None and kept.text == text and kept.entity("amount") == "$50"


async def test_the_debit_card_on_file_is_used_when_a_payment_switches_to_it(store: Container) -> None:
    """"no wait, use the debit card" at a payment's summary: Maria's saved card, the summary
    again; no card link is sent. "add a new debit card" still gets the link."""
    verify(store, "m", *MARIA)
    before = _changes(store)
    switch = make_tracker("m", {**VERIFIED, "payment_confirmed": None, "requested_slot": "payment_confirmed"},
                          intent="add_debit_card", text="no wait, use the debit card", active_loop="payment_form")
    events, messages = await run(ActionSendCardLink(), switch)
    with store.uow() as uow:
        card_id = uow.session.scalars(select(FundingSource.id).where(FundingSource.kind == "debit_card")
                                      .where(FundingSource.last4 == "1111")).one()
    assert _responses(messages) == ["utter_change_noted"]
    assert _slots(events) == {"payment_source": str(card_id), "payment_confirmed": None}
    assert _changes(store) == before  # no link, no email
    add = make_tracker("m", VERIFIED, intent="add_debit_card", text="i want to add a new debit card",
                       active_loop="payment_form")
    _, messages = await run(ActionSendCardLink(), add)
    assert _responses(messages) == ["utter_card_link_sent"]
