"""Contact changes in conversation: the service checks the value, a code confirms it, and neither
the new value nor the code is ever said back or kept in full."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from actions.contact import (ActionStartContactChange, ActionSubmitContactChange, ValidateContactForm, new_value,
                             parse_contact_field)
from actions.conversation import ActionCancelTask
from autofinance.bootstrap import Container
from autofinance.adapters.portal_tokens import issue_token
from autofinance.adapters.store.models import Account, Customer
from autofinance.services.outbox import newest_messages
from tests.actions.conftest import make_tracker, run, texts, verify


def _slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


async def _answer(slot: str, value: str, field: str, entities: list[dict[str, Any]] | None = None,
                  sender: str = "maria-chat") -> tuple[dict[str, Any], str]:
    tracker = make_tracker(sender, {"verified": True, "requested_slot": slot, "contact_field": field, slot: value},
                           intent="inform", text=value, entities=entities, active_loop="contact_form")
    tracker.events.append({"event": "slot", "name": slot, "value": value})
    events, messages = await run(ValidateContactForm(), tracker)
    return _slots(events), texts(messages)


def _maria(store: Container) -> Customer:
    with store.uow() as uow:
        customer_id = uow.session.scalar(select(Account.customer_id).where(Account.account_number == "7301004821"))
        customer = uow.session.get_one(Customer, customer_id)
        uow.session.expunge(customer)
        return customer


def _outbox(store: Container, kind: str) -> list[tuple[str, str, str]]:
    """(to, channel, body as the recipient reads it), oldest first: codes are sealed at rest."""
    sent = newest_messages(store.uow(), store.settings.secret_pepper, kind=kind)
    return [(message.to, message.channel, message.body) for message in reversed(sent)]


def _code(store: Container) -> str:
    return re.search(r"\b(\d{6})\b", _outbox(store, "contact_change_code")[-1][2]).group(1)


def test_the_detail_is_read_from_what_the_customer_says() -> None:
    assert parse_contact_field("I need to update my email address") == "email"
    assert parse_contact_field("got a new cell number") == "mobile"
    assert parse_contact_field("i moved last month") == "address"
    assert parse_contact_field("change my mailing address") == "address"
    assert parse_contact_field("update my contact info") is None
    assert parse_contact_field("change my email and my phone") is None


def test_the_value_is_taken_out_of_a_sentence_only_when_it_reads_as_one() -> None:
    assert new_value("email", "sure, it's ana.r@example.org thanks", None) == "ana.r@example.org"
    assert new_value("email", "It's ana.r@example.org.", None) == "ana.r@example.org"
    assert new_value("mobile", "my new one is (404) 555-0177", None) == "(404) 555-0177"
    assert new_value("address", "it's 12 Peachtree St, Atlanta, GA 30303", None) == "12 Peachtree St, Atlanta, GA 30303"
    assert new_value("address", "my street", "12 Peachtree St, Atlanta, GA 30303") == "12 Peachtree St, Atlanta, GA 30303"


async def test_the_request_names_the_detail_so_it_is_not_asked_for(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = make_tracker("maria-chat", {"verified": True}, intent="update_contact_info",
                           text="hi, i need to change the phone number on my account")
    events, said = await run(ActionStartContactChange(), tracker)
    assert {k: v for k, v in _slots(events).items() if v is not None} == {"contact_field": "mobile"}
    assert said == []


async def test_a_new_value_in_the_request_is_kept_sealed_for_the_form(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = make_tracker("maria-chat", {"verified": True}, intent="update_contact_info",
                           text="change my email to lopez.maria@example.org please")
    events, _ = await run(ActionStartContactChange(), tracker)
    slots = _slots(events)
    assert slots["contact_field"] == "email"
    assert slots["contact_value"].startswith("sealed:") and "lopez" not in slots["contact_value"]
    slots, said = await _answer("contact_value", slots["contact_value"], "email")
    assert slots["contact_value"] == "l****@example.org"
    assert [to for to, _, _ in _outbox(store, "contact_change_code")] == ["lopez.maria@example.org"]


async def test_an_unreadable_value_in_the_request_is_not_taken(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = make_tracker("maria-chat", {"verified": True}, intent="update_contact_info",
                           text="my email changed to something new")
    events, _ = await run(ActionStartContactChange(), tracker)
    assert {k: v for k, v in _slots(events).items() if v is not None} == {"contact_field": "email"}


async def test_maria_changes_her_email_with_a_code_sent_to_the_new_address(store: Container) -> None:
    verify(store, "maria-chat")
    slots, said = await _answer("contact_value", "it's lopez.maria@example.org", "email",
                                [{"entity": "email", "value": "lopez.maria@example.org"}])
    assert slots["contact_value"] == "l****@example.org"
    assert "to your new email address, l****@example.org" in said and "lopez.maria" not in said
    assert [to for to, _, _ in _outbox(store, "contact_change_code")] == ["lopez.maria@example.org"]
    assert _maria(store).email == "maria.lopez@example.com"  # nothing changes before the code

    code = _code(store)
    slots, said = await _answer("contact_code", code, "email")
    assert slots == {"contact_code": "confirmed", "contact_value": "l****@example.org"} and code not in said
    assert _maria(store).email == "lopez.maria@example.org"
    assert [to for to, _, _ in _outbox(store, "contact_changed_notice")] == ["maria.lopez@example.com"]

    events, done = await run(ActionSubmitContactChange(), make_tracker("maria-chat", {
        "verified": True, "contact_field": "email", "contact_value": slots["contact_value"],
        "contact_code": "confirmed"}))
    assert "your email address is now l****@example.org" in texts(done) and "lopez.maria" not in texts(done)
    assert all(value is None for value in _slots(events).values())


async def test_a_new_mobile_gets_its_code_by_text_and_is_masked(store: Container) -> None:
    verify(store, "maria-chat")
    slots, said = await _answer("contact_value", "(404) 555-0177", "mobile",
                                [{"entity": "phone", "value": "(404) 555-0177"}])
    assert slots["contact_value"] == "***-***-0177" and "by text to your new number, ***-***-0177" in said
    assert _outbox(store, "contact_change_code")[0][:2] == ("+14045550177", "sms")
    slots, _ = await _answer("contact_code", _code(store), "mobile")
    assert slots["contact_code"] == "confirmed" and _maria(store).mobile == "+14045550177"


async def test_an_address_code_goes_to_the_email_on_file(store: Container) -> None:
    verify(store, "maria-chat")
    slots, said = await _answer("contact_value", "1200 Peachtree St NE Apt 5, Atlanta, GA 30309", "address")
    assert slots["contact_value"] == "****, Atlanta, GA 303**"
    assert "to the email address on file, m****@example.com" in said and "Peachtree" not in said
    assert _outbox(store, "contact_change_code")[0][0] == "maria.lopez@example.com"
    slots, _ = await _answer("contact_code", _code(store), "address")
    assert slots["contact_code"] == "confirmed" and _maria(store).address_line1 == "1200 Peachtree St NE Apt 5"


async def test_a_bad_or_unchanged_value_is_asked_for_again_and_sends_nothing(store: Container) -> None:
    verify(store, "maria-chat")
    for field, typed, expected in (("email", "maria at gmail", "doesn't look right"),
                                   ("mobile", "555-01", "10-digit US mobile"),
                                   ("address", "somewhere in atlanta", "street, city, state ZIP"),
                                   ("email", "maria.lopez@example.com", "already what we have")):
        slots, said = await _answer("contact_value", typed, field)
        assert slots["contact_value"] is None and expected in said and "What's the new" in said, typed
    assert _outbox(store, "contact_change_code") == []


async def test_a_wrong_code_is_asked_for_again_and_resend_asks_for_the_value(store: Container) -> None:
    verify(store, "maria-chat")
    await _answer("contact_value", "lopez.maria@example.org", "email")
    wrong = "000000" if _code(store) != "000000" else "111111"
    slots, said = await _answer("contact_code", wrong, "email")
    assert slots == {"contact_code": None} and "4 tries left" in said
    slots, said = await _answer("contact_code", "12345", "email")
    assert slots == {"contact_code": None} and "6 digits" in said
    slots, said = await _answer("contact_code", "i didn't get it, can you resend", "email")
    assert slots == {"contact_value": None, "contact_code": None} and "new email address once more" in said
    assert _maria(store).email == "maria.lopez@example.com"


async def test_cancel_leaves_the_change_and_forgets_the_answers() -> None:
    tracker = make_tracker("maria-chat", {"contact_field": "email", "contact_value": "l****@example.org"},
                           intent="cancel", active_loop="contact_form")
    events, said = await run(ActionCancelTask(), tracker)
    assert texts(said) == "utter_contact_change_stopped"
    assert _slots(events)["contact_value"] is None and _slots(events)["contact_field"] is None


async def test_a_portal_session_needs_a_code_before_a_contact_change(store: Container) -> None:
    maria = _maria(store).id
    tracker = make_tracker(f"portal-{maria}", {"verified": True, "requested_slot": "contact_value",
                                               "contact_field": "email", "contact_value": "x@example.org"},
                           intent="inform", text="x@example.org", active_loop="contact_form")
    tracker.latest_message["metadata"] = {"portal_token": issue_token(maria, "Maria", store.settings)}
    events, _ = await run(ValidateContactForm(), tracker)
    assert {"event": "followup", "name": "identity_form"} in [
        {k: e.get(k) for k in ("event", "name")} for e in events]
    assert _outbox(store, "contact_change_code") == []


def test_a_request_that_carries_the_new_address_or_an_email_among_other_words() -> None:
    from actions.contact import requested_change  # noqa: PLC0415

    moved = requested_change("I moved last month. My new address is 2217 N Halsted St Apt 3R, Chicago IL 60614.", {})
    assert moved == {"contact_field": "address", "contact_value": "2217 N Halsted St Apt 3R, Chicago IL 60614"}
    mixed = requested_change("my old work email still gets everything at that address; change it to "
                             "r.okafor68@example.com", {})
    assert mixed == {"contact_field": "email", "contact_value": "r.okafor68@example.com"}
