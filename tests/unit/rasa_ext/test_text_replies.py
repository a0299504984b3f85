"""Keywords on text channels: SMS's STOP, HELP and START, and the answers a reminder invites."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from rasa_ext.limits import guarded
from rasa_ext.text_replies import keyword_intent, with_keywords


@pytest.mark.parametrize("text, intent", [
    ("STOP", "EXTERNAL_sms_stop"), (" stop. ", "EXTERNAL_sms_stop"), ("Unsubscribe", "EXTERNAL_sms_stop"),
    ("HELP", "EXTERNAL_sms_help"), ("START", "EXTERNAL_sms_start"),
    ("PAY NOW", "EXTERNAL_reminder_pay"), ("Paid!", "EXTERNAL_reminder_paid"),
    ("I already paid", "EXTERNAL_reminder_paid"), ("I\u2019ve paid", "EXTERNAL_reminder_paid"),
    ("call me", "EXTERNAL_reminder_call"),
    # the conversation's own words keep their meaning
    ("cancel", None), ("yes", None), ("stop the payment", None), ("help me pay", None),
    ("I want to pay now from checking", None),
])
def test_only_whole_message_keywords_count_on_sms(text: str, intent: str | None) -> None:
    assert keyword_intent(text, sms=True) == intent


def test_whatsapp_and_telegram_read_the_reminder_answers_but_not_the_carrier_keywords() -> None:
    assert keyword_intent("STOP", sms=False) is None
    assert keyword_intent("HELP", sms=False) is None
    assert keyword_intent("call me", sms=False) == "EXTERNAL_reminder_call"


async def test_the_channel_writes_the_intent_and_a_typed_one_stays_text() -> None:
    received: list[str] = []

    async def on_new_message(message: Any) -> None:
        received.append(message.text)

    handler = guarded(with_keywords(on_new_message, sms=True))
    for text in ("STOP", "/EXTERNAL_sms_start", "what is my balance"):
        await handler(SimpleNamespace(text=text, input_channel="twilio", sender_id="+14045550101"))

    assert received == ["/EXTERNAL_sms_stop", "EXTERNAL_sms_start", "what is my balance"]
