"""E: secrets typed anywhere never reach the stored conversation (or the event broker, which gets
the same redacted events: see test_security_rasa_checks.py), while the amounts and payment dates
agents need stay readable. Each test is one way a secret used to slip through."""
from __future__ import annotations

import json
from typing import Any

import pytest

from rasa_ext.redaction import REDACTED, redact_events, redact_text

JWT = ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiIsImlzcyI6Im1lcmlkaWFuLXBvcnRhbCJ9."
       "c2lnbmF0dXJlLW9mLXRoZS10b2tlbg")


def user(text: str, entities: list[dict[str, Any]] | None = None, **metadata: Any) -> dict[str, Any]:
    return {"event": "user", "text": text, "metadata": metadata, "input_channel": "rest",
            "parse_data": {"text": text, "intent": {"name": "inform"}, "entities": entities or [],
                           "metadata": metadata}}


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


def at_step(form: str, asked: str, *events: dict[str, Any]) -> list[dict[str, Any]]:
    return redact_events([{"event": "active_loop", "name": form}, slot("requested_slot", asked),
                          *events])


def stored(events: list[dict[str, Any]]) -> str:
    return json.dumps(events)


# --- the "email or text?" prompt --------------------------------------------------------------

@pytest.mark.parametrize("typed, secret", [
    ("my ssn is 123-45-6789", "6789"),
    ("born 11/02/1979", "1979"),
    ("account 7301007734", "7301007734"),
    ("the code was 600457", "600457"),
    ("zip 30309", "30309"),
], ids=["ssn", "birth-date", "account-number", "code", "zip"])
def test_a_secret_typed_at_the_email_or_text_prompt_is_not_stored(typed: str, secret: str) -> None:
    events = at_step("identity_form", "otp_channel", user(typed), slot("otp_channel", typed))
    assert secret not in stored(events)
    assert events[2]["text"] == REDACTED and events[3]["value"] == REDACTED


@pytest.mark.parametrize("typed", ["email", "Text me please", "by e-mail", '/inform{"otp_channel":"sms"}'])
def test_a_plain_email_or_text_choice_stays_readable(typed: str) -> None:
    events = at_step("identity_form", "otp_channel", user(typed), slot("otp_channel", "sms"))
    assert events[2]["text"] == typed and events[3]["value"] == "sms"


def test_a_code_typed_in_the_contact_change_form_is_not_stored() -> None:
    events = at_step("contact_form", "contact_code", user("it's 6 0 0 4 5 7 i think"))
    assert events[2]["text"] == REDACTED


def test_anything_typed_at_a_verification_step_is_redacted_even_without_digits() -> None:
    events = at_step("identity_form", "identifier", user("mlopez", [{"entity": "username", "value": "mlopez"}]))
    assert "mlopez" not in stored(events)


# --- free-text forms the patterns used to miss ------------------------------------------------

@pytest.mark.parametrize("text, secret", [
    ("someone used acct#7301007734x yesterday", "7301007734"),
    ("dob 1979/11/02", "1979/11/02"),
    ("I was born Nov 2nd 1979", "1979"),
    ("born on the 2nd of November, 1979", "1979"),
    ("born 11 02 1979", "1979"),
    ("born 11021979", "11021979"),
    ("born 03/14/85", "03/14/85"),
    ("the code is 6 0 0 4 5 7", "6 0 0 4 5 7"),
    ("the code is 600-457", "600-457"),
    ("code:600457.", "600457"),
    ("it's six zero zero four five seven", "six zero zero"),
    ("cvv 123", "123"),
    ("my CVV: 9876", "9876"),
    ("card 4111-1111-1111-1111 exp 04/29", "4111"),
    ("ssn123456789x", "123456789"),
    ("my ssn last 4 is 4821", "4821"),
    ("token " + JWT, "eyJhbGciOiJIUzI1NiJ9"),
], ids=["account-glued", "ymd-birth-date", "written-birth-date", "day-of-month-birth-date",
        "spaced-birth-date", "compact-birth-date", "two-digit-year", "spaced-code", "dashed-code",
        "glued-code", "spelled-code", "cvv", "cvv-4-digits", "card", "ssn-glued", "ssn-last-4", "jwt"])
def test_a_secret_in_free_text_is_redacted(text: str, secret: str) -> None:
    assert secret not in redact_text(text)


@pytest.mark.parametrize("text", [
    "pay $250 on friday", "pay 300 on the 15th", "schedule it for december 15",
    "December 15, 2026 please", "on 12/15/2026", "payoff good through 2026-12-24", "$1,250.00",
    "pay $250000 of it", "my payment of $18,420.55", "confirmation MP234567AB", "ticket HT1A2B3C4D",
    "your number ***-***-0101", "pay 1500.00 on 12/01",
])
def test_ordinary_amounts_payment_dates_and_references_stay_readable(text: str) -> None:
    assert redact_text(text) == text


# --- every place a secret can sit in an event -------------------------------------------------

def test_a_fraud_description_keeps_no_full_account_number_in_text_entities_or_slot() -> None:
    typed = "someone took $900 from acct#7301007734x on december 3"
    events = at_step("fraud_form", "fraud_description",
                     user(typed, [{"entity": "account_number", "value": "7301007734", "start": 27, "end": 37},
                                  {"entity": "amount", "value": "$900"}]),
                     slot("fraud_description", typed))
    assert "7301007734" not in stored(events)
    assert "$900" in events[2]["text"] and "december 3" in events[3]["value"]
    assert {"entity": "amount", "value": "$900"} in events[2]["parse_data"]["entities"]


def test_the_session_started_metadata_slot_keeps_no_portal_token() -> None:
    events = redact_events([slot("session_started_metadata", {"portal_token": JWT, "page": "/portal"}),
                            {"event": "session_started", "metadata": {"portal_token": JWT}}])
    assert "eyJ" not in stored(events)


def test_message_metadata_keeps_no_portal_token() -> None:
    events = redact_events([user("hi", portal_token=JWT, model_id="m1")])
    assert "eyJ" not in stored(events) and events[0]["metadata"]["model_id"] == "m1"


def test_a_slot_holding_a_list_or_dict_is_redacted_inside() -> None:
    events = redact_events([slot("notes", {"said": ["cvv 123", "born Nov 2nd 1979"]})])
    assert "123" not in stored(events) and "1979" not in stored(events)


def test_an_entity_typed_in_an_intent_payload_is_redacted() -> None:
    typed = '/inform{"otp_code":"600457","amount":"$250"}'
    events = redact_events([user(typed, [{"entity": "otp_code", "value": "600457"},
                                         {"entity": "amount", "value": "$250"}])])
    assert "600457" not in stored(events) and "$250" in stored(events)


def test_a_bot_message_or_its_buttons_echoing_a_secret_is_redacted() -> None:
    events = redact_events([{"event": "bot", "text": "Your code 600457 works",
                             "data": {"buttons": [{"title": "acct 7301007734", "payload": "/x"}]}}])
    assert "600457" not in stored(events) and "7301007734" not in stored(events)


def test_the_payment_attempt_id_and_sealed_values_are_kept_as_set() -> None:
    attempt = "0123456789abcdef0123456789abcdef"
    events = redact_events([slot("payment_attempt", attempt), slot("identifier", "sealed:gAAAA" + "x" * 40)])
    assert events[0]["value"] == attempt and events[1]["value"].startswith("sealed:gAAAA")


def test_redaction_never_changes_the_number_or_kind_of_events() -> None:
    events = [user("cvv 123"), slot("fraud_description", "acct 7301007734"),
              {"event": "bot", "text": "ok"}, {"event": "session_started", "metadata": {"t": JWT}},
              {"event": "entities", "entities": [{"entity": "dob", "value": "1979-11-02"}]}]
    redacted = redact_events(events)
    assert [e["event"] for e in redacted] == [e["event"] for e in events]
    assert "1979-11-02" not in stored(redacted)


@pytest.mark.parametrize("typed, secret", [
    ("I can't log in, my password is Tr0ub4dor&3-meridian", "Tr0ub4dor&3-meridian"),
    ("password: hunter2", "hunter2"),
    ("my pw is correct horse battery staple, help", "correct horse battery staple"),
    ("my passcode is 4455", "4455"),
    ("passwd hunter2", "hunter2"),
    ("the password was Summer2024! and it failed", "Summer2024!"),
])
def test_a_password_volunteered_in_chat_is_not_stored(typed: str, secret: str) -> None:
    """The assistant never asks for a password, but a customer who types one must not find it
    in the stored conversation (the store scan found one kept in clear)."""
    (event,) = redact_events([user(typed)])
    assert secret not in json.dumps(event) and REDACTED in event["text"]


@pytest.mark.parametrize("typed", ["I need a password reset", "my password isn't working",
                                   "forgot my password", "password is wrong",
                                   "reset my password please"])
def test_talk_about_a_password_stays_readable(typed: str) -> None:
    assert redact_text(typed) == typed
