"""A and C, the rules every channel applies before Rasa sees a message (rasa_ext.limits, pure):
the length limit and the `/EXTERNAL_` intents only the server may send."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest

from rasa_ext.limits import TOO_LONG, guarded, is_external_trigger, positive_int, screen


@dataclass
class Output:
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send_text_message(self, recipient: str, text: str) -> None:
        self.sent.append((recipient, text))


@dataclass
class Message:  # what the wrapper reads of Rasa's UserMessage
    text: Optional[str]
    output_channel: Output = field(default_factory=Output)
    sender_id: str = "web-1"
    input_channel: str = "socketio"


def through_guard(text: str, limit: int = 1000) -> tuple[list[Any], Message]:
    reached: list[Any] = []

    async def rasa(message: Any) -> None:
        reached.append(message.text)

    message = Message(text)
    asyncio.run(guarded(rasa, limit)(message))
    return reached, message


def test_a_message_over_the_limit_is_refused_before_parsing() -> None:
    reached, message = through_guard("a" * 1001)
    assert reached == []  # Rasa never saw it: not parsed, not stored
    assert message.output_channel.sent == [("web-1", TOO_LONG)]


def test_480000_repetitions_of_one_letter_never_reach_rasa() -> None:
    reached, message = through_guard("a" * 480_000)
    assert reached == [] and message.output_channel.sent[0][1] == TOO_LONG


def test_a_message_at_the_limit_reaches_rasa_unchanged() -> None:
    reached, message = through_guard("b" * 1000)
    assert reached == ["b" * 1000] and message.output_channel.sent == []


def test_the_limit_counts_characters_of_the_text_as_sent_including_spaces() -> None:
    assert screen(" " * 600 + "a" * 401).refusal == TOO_LONG


@pytest.mark.parametrize("value, expected", [(None, 1000), ("", 1000), ("250", 250), (40, 40),
                                             ("lots", 1000), (0, 1000), (-5, 1000)])
def test_a_missing_or_nonsensical_limit_in_the_credentials_falls_back_to_the_default(
        value: Any, expected: int) -> None:
    assert positive_int(value, 1000) == expected


@pytest.mark.parametrize("typed", [
    "/EXTERNAL_handoff_resolved", "  /EXTERNAL_handoff_resolved", "\t\n/external_handoff_resolved",
    "/ EXTERNAL_handoff_resolved", "//EXTERNAL_reminder", '/EXTERNAL_reminder{"amount":"5000"}',
    "/ExTeRnAl_anything@0.99",
], ids=["plain", "leading-spaces", "other-whitespace-lowercase", "space-after-slash",
        "double-slash", "with-entities", "mixed-case-with-confidence"])
def test_a_typed_external_intent_reaches_rasa_as_plain_text(typed: str) -> None:
    reached, _ = through_guard(typed)
    assert len(reached) == 1 and not reached[0].lstrip().startswith("/")
    assert "EXTERNAL_" in reached[0].upper()  # agents still see what was typed
    assert is_external_trigger(typed)


@pytest.mark.parametrize("typed", ['/inform{"otp_channel":"email"}', "/affirm", "/restart",
                                   "external_ stuff", "what does /EXTERNAL_x mean"])
def test_other_messages_reach_rasa_untouched(typed: str) -> None:
    reached, _ = through_guard(typed)
    assert reached == [typed]
