"""Secrets never reach the tracker store or the event broker; the event count never changes."""
from __future__ import annotations

import json
from typing import Any

import pytest

from rasa_ext.redaction import REDACTED, redact_events, redact_text


def _user(text: str, entities: list[dict[str, Any]] | None = None, **metadata: Any) -> dict[str, Any]:
    return {"event": "user", "text": text, "metadata": metadata,
            "parse_data": {"text": text, "intent": {"name": "inform"}, "entities": entities or [],
                           "metadata": metadata}}


def _slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


def verification_conversation() -> list[dict[str, Any]]:
    return [
        _user("what's my balance"),
        {"event": "active_loop", "name": "identity_form"},
        _slot("requested_slot", "identifier"),
        _user("7301004821", [{"entity": "account_number", "value": "7301004821"}]),
        _slot("identifier", "7301004821"),
        _slot("identifier", "sealed:gAAAAB-opaque"),
        _slot("requested_slot", "identity_factor"),
        _user("born 03/14/1985"),
        _slot("identity_factor", "born 03/14/1985"),
        _slot("identity_factor", "provided"),
        _slot("requested_slot", "otp_channel"),
        _user("email"),
        _slot("requested_slot", "otp_code"),
        _user("482913", portal_token="eyJhbGciOi.secret.token", model_id="m1"),
        _slot("otp_code", "482913"),
        _slot("otp_code", "verified"),
        {"event": "active_loop", "name": None},
        _user("thanks! my ssn last 4 is 4821 by the way"),
        {"event": "bot", "text": "Your code 482913 works", "data": {}},
        {"event": "session_started", "metadata": {"portal_token": "abc"}},
    ]


def test_no_verification_answer_or_code_survives_anywhere_in_the_events() -> None:
    stored = json.dumps(redact_events(verification_conversation()))
    for secret in ("7301004821", "03/14/1985", "482913", "4821", "eyJhbGciOi", "abc"):
        assert secret not in stored


def test_redaction_keeps_every_event_in_order_and_keeps_safe_markers() -> None:
    original = verification_conversation()
    redacted = redact_events(original)
    assert [e["event"] for e in redacted] == [e["event"] for e in original]
    slots = [(e["name"], e["value"]) for e in redacted if e["event"] == "slot"]
    assert ("identifier", "sealed:gAAAAB-opaque") in slots and ("otp_code", "verified") in slots
    assert ("identifier", REDACTED) in slots and ("requested_slot", "otp_code") in slots
    assert redacted[11]["text"] == "email"  # answers that are not secrets stay readable
    assert redacted[13]["metadata"]["model_id"] == "m1"


def test_redaction_does_not_modify_the_events_it_was_given() -> None:
    original = verification_conversation()
    redact_events(original)
    assert original[3]["text"] == "7301004821"


def test_free_text_keeps_ordinary_words_and_amounts_but_masks_secret_shapes() -> None:
    assert redact_text("pay $100 on friday") == "pay $100 on friday"
    assert "123-45-6789" not in redact_text("my ssn is 123-45-6789")
    assert "4111 1111 1111 1111" not in redact_text("card 4111 1111 1111 1111")
    assert "123 456" not in redact_text("code is 123 456")


def test_redacting_a_turn_at_a_time_gives_what_redacting_the_whole_conversation_gives() -> None:
    """The tracker store redacts only each turn's new events, starting from the form state the
    earlier events left: a username typed as the identifier is still recognised as an answer."""
    events = verification_conversation()
    events[3] = _user("mlopez", [{"entity": "username", "value": "mlopez"}])
    whole = redact_events(events)
    for cut in range(1, len(events)):
        loop = next((e["name"] for e in reversed(events[:cut]) if e["event"] == "active_loop"), None)
        asked = next((e["value"] for e in reversed(events[:cut])
                      if e["event"] == "slot" and e["name"] == "requested_slot"), None)
        assert redact_events(events[:cut]) + redact_events(events[cut:], (loop, asked)) == whole
    assert "mlopez" not in json.dumps(whole)


@pytest.mark.parametrize("text, kept", [
    ("acct 7301004821 zip 30309, how far behind am i", "how far behind am i"),
    ("my zip code is 30309-1234", "my zip code is"),
    ("Postal code: 30309", "Postal code:"),
])
def test_a_labelled_zip_is_redacted_wherever_it_is_typed(text: str, kept: str) -> None:
    redacted = redact_text(text)
    assert "30309" not in redacted and kept in redacted
