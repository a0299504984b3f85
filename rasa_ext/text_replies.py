"""Keyword replies on text channels, read before the assistant's understanding.

- SMS (carriers require it): STOP and its synonyms withdraw consent to texts, HELP says who we
  are and how to stop, START gives consent again. Only whole-message keywords count. CANCEL and
  YES, which some carriers' lists also name, keep their meaning here (leaving a task,
  confirming a payment); set the SMS provider's own opt-out keywords to the same list.
- Any text channel (SMS, WhatsApp, Telegram): the answers a reminder invites, "pay now", "paid"
  ("I already paid") and "call me", continue in the chat with that reminder's context.

Each becomes a server-only `/EXTERNAL_...` intent. The channel writes it after `guarded` has
defused any the customer typed, so only these words reach those intents.
"""
from __future__ import annotations

import re
from typing import Any, Awaitable, Callable, Optional

SMS_KEYWORDS = {
    "EXTERNAL_sms_stop": {"stop", "stopall", "unsubscribe", "end", "quit", "optout", "opt out",
                          "revoke"},
    "EXTERNAL_sms_help": {"help", "info"},
    "EXTERNAL_sms_start": {"start", "unstop"},
}
REMINDER_REPLIES = {
    "EXTERNAL_reminder_pay": {"pay now", "paynow", "pay it now"},
    "EXTERNAL_reminder_paid": {"paid", "i paid", "already paid", "i already paid", "ive paid",
                               "i've paid", "i have paid", "i have already paid", "i paid already"},
    "EXTERNAL_reminder_call": {"call me", "please call me", "call me please", "callme"},
}
_EDGES = re.compile(r"^[\s\"'.,!?]+|[\s\"'.,!?]+$")


def keyword_intent(text: str, sms: bool) -> Optional[str]:
    """The intent a whole-message keyword stands for on this channel, or None."""
    said = " ".join(_EDGES.sub("", text.lower()).replace("\u2019", "'").split())
    tables = ({**SMS_KEYWORDS, **REMINDER_REPLIES} if sms else REMINDER_REPLIES)
    return next((intent for intent, words in tables.items() if said in words), None)


OnNewMessage = Callable[[Any], Awaitable[Any]]


def with_keywords(on_new_message: OnNewMessage, sms: bool) -> OnNewMessage:
    """Rasa's `on_new_message`, with keyword messages turned into their intents."""

    async def handler(message: Any) -> Any:
        intent = keyword_intent(message.text if isinstance(message.text, str) else "", sms)
        if intent is not None:
            message.text = f"/{intent}"
        return await on_new_message(message)

    return handler
