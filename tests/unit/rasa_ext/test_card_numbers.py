"""Card numbers are never taken in chat: every channel turns a message holding one into the
server-only card intent before Rasa sees it, and the number is logged nowhere; a bank account
number typed in answer is redacted from the stored conversation like a verification answer."""
from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from rasa_ext.limits import CARD_NUMBER_INTENT, guarded, has_card_number, screen
from rasa_ext.redaction import REDACTED, redact_events

CARD = "4111 1111 1111 1111"


@pytest.mark.parametrize("text", [
    CARD, "4111111111111111", "my card is 4111-1111-1111-1111 exp 12/29", "378282246310005",
    "6011 1111 1111 1117 cvv 123", "pay with 5555555555554444 please", "4111 1111 1111 1111 12 29",
])
def test_a_luhn_valid_card_number_is_found_however_it_is_written(text: str) -> None:
    assert has_card_number(text)
    assert screen(text).text == CARD_NUMBER_INTENT


@pytest.mark.parametrize("text", [
    "4111 1111 1111 1112",  # fails Luhn
    "7301004821", "acct 7301004821 zip 30309", "routing 021000021 account 123456789",
    "call 1-800-555-0199", "pay $250 on 12/15/2026", "482913", "1234567812345670",  # no card network
    "pay $18,420.55 today",
])
def test_other_numbers_are_not_taken_for_cards(text: str) -> None:
    assert not has_card_number(text)
    assert screen(text).text == text


async def test_the_channel_passes_only_the_card_intent_on_and_logs_no_number(
        caplog: pytest.LogCaptureFixture) -> None:
    received: list[str] = []

    async def on_new_message(message: Any) -> None:
        received.append(message.text)

    caplog.set_level(logging.DEBUG)
    handler = guarded(on_new_message)
    for text in (f"can I just pay with my card {CARD}?", "/EXTERNAL_card_number", "what is my balance"):
        await handler(SimpleNamespace(text=text, input_channel="rest", sender_id="c1", output_channel=None))
    assert received == [CARD_NUMBER_INTENT, "EXTERNAL_card_number", "what is my balance"]  # typed: text
    assert "4111" not in caplog.text


def _user(text: str) -> dict[str, Any]:
    return {"event": "user", "text": text, "metadata": {},
            "parse_data": {"text": text, "intent": {"name": "inform"},
                           "entities": [{"entity": "number", "value": text}], "metadata": {}}}


def test_a_bank_account_number_typed_in_answer_is_never_stored() -> None:
    events = [
        {"event": "active_loop", "name": "bank_account_form"},
        {"event": "slot", "name": "requested_slot", "value": "bank_routing"},
        _user("021000021"),
        {"event": "slot", "name": "bank_routing", "value": "021000021"},
        {"event": "slot", "name": "bank_routing", "value": "sealed:gAAAA-routing"},
        {"event": "slot", "name": "requested_slot", "value": "bank_account_number"},
        _user("its 6789"),
        {"event": "slot", "name": "bank_account_number", "value": "its 6789"},
        {"event": "slot", "name": "bank_account_number", "value": "sealed:gAAAA-account"},
        {"event": "slot", "name": "requested_slot", "value": "bank_account_kind"},
        _user("checking"),
    ]
    redacted = redact_events(events)
    stored = json.dumps(redacted)
    assert "6789" not in stored and "021000021" not in stored
    assert [e["event"] for e in redacted] == [e["event"] for e in events]
    assert redacted[6]["text"] == REDACTED and redacted[7]["value"] == REDACTED
    assert redacted[8]["value"] == "sealed:gAAAA-account" and redacted[10]["text"] == "checking"


def test_a_short_account_number_elsewhere_keeps_the_form_state_of_earlier_turns() -> None:
    later = [_user("12345"), {"event": "slot", "name": "bank_account_number", "value": "12345"}]
    redacted = redact_events(later, ("bank_account_form", "bank_account_number"))
    assert "12345" not in json.dumps(redacted)
