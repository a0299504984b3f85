"""What a customer's message must be before Rasa sees it: short enough, and never a server trigger.

Pure rules plus one wrapper, shared by every input channel we own (REST, the widget's socket.io;
the messaging channels can use `guarded` the same way).

- Length: Rasa has no limit, and its RegexFeaturizer's cost grows with matches times tokens
  (480,000 repetitions of one letter kept the server's one event loop busy for minutes, and every
  other conversation waited). A message longer than `max_message_length` characters is answered
  with `TOO_LONG` by the channel and never reaches Rasa: not parsed, not stored, not published.
- `/EXTERNAL_...`: Rasa unpacks a message that starts with "/" (after whitespace) as an intent,
  and intents named EXTERNAL_ are meant for the server only (the support console hands a
  conversation back with one). A customer's message that would be unpacked as one reaches Rasa
  as plain text, its slashes removed: the assistant answers it as it answers any text it does not
  understand, and the conversation (an agent's hand-off included) carries on; agents still see
  what was typed. Other "/intent" payloads stay: the assistant's own buttons send them.
- Card numbers: never taken in chat (PCI: a chat transcript is no place for one). A message with
  a card number in it (13 to 19 digits, spaces or dashes allowed, a card network's first digit,
  passing the Luhn check) reaches Rasa as `/EXTERNAL_card_number` alone: the number is not
  parsed, stored, published or logged, and the assistant says why and points to the secure card
  page. Known limit: a bank account number of 13 to 17 digits that starts with 2-6 and happens
  to pass Luhn (about one in eighteen of those lengths) is refused as a card too; such a
  customer needs an agent to add that account.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
import re
from typing import Any, Awaitable, Callable, Optional

from stdnum import luhn

logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_LENGTH = 1000  # characters; the widget's input box allows as many
DEFAULT_MAX_BODY_BYTES = 64 * 1024  # a REST request or a socket.io packet, in bytes
TOO_LONG = "That message is too long for me. Could you say it in a few sentences?"
EXTERNAL_PREFIX = "external_"


@dataclass(frozen=True)
class Screened:
    """What to do with a customer's message: pass `text` on to Rasa, or answer `refusal`."""

    text: Optional[str]
    refusal: Optional[str] = None


def positive_int(value: Any, default: int) -> int:
    """A limit from the credentials file (a number, or its text); `default` when empty or bad."""
    try:
        number = int(str(value).strip()) if value not in (None, "") else default
    except (TypeError, ValueError):
        logger.warning("ignored a limit that is not a whole number: %r (using %s)", value, default)
        return default
    return number if number > 0 else default


def is_external_trigger(text: str) -> bool:
    """Whether Rasa would read `text` as an `/EXTERNAL_...` intent (any case, any whitespace)."""
    stripped = text.lstrip()
    return (stripped.startswith("/")
            and stripped.lstrip("/").lstrip().lower().startswith(EXTERNAL_PREFIX))


def defused(text: str) -> str:
    """`text` without the leading slashes that would make Rasa read it as an intent."""
    return text.lstrip().lstrip("/").lstrip() if is_external_trigger(text) else text


CARD_NUMBER_INTENT = "/EXTERNAL_card_number"
_DIGIT_GROUPS = re.compile(r"(?<!\d)\d+(?:[ -]\d+)*(?!\d)")  # digits joined by one space or dash
_CARD_NETWORKS = "23456"  # Mastercard 2-series, Amex/Diners/JCB, Visa, Mastercard, Discover/UnionPay


def has_card_number(text: str) -> bool:
    """Whether `text` holds a card number: 13-19 digits in a row of digit groups ("4111 1111 1111
    1111 exp 12/29" too), a card network's first digit, and the Luhn check."""
    for run in _DIGIT_GROUPS.finditer(text):
        groups = re.split(r"[ -]", run.group(0))
        for start in range(len(groups)):
            digits = ""
            for group in groups[start:]:
                digits += group
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and digits[0] in _CARD_NETWORKS and luhn.is_valid(digits):
                    return True
    return False


def screen(text: str, max_length: int = DEFAULT_MAX_MESSAGE_LENGTH) -> Screened:
    """The length check (on the text as sent), the EXTERNAL_ intent defused, a card number kept
    out (the message becomes CARD_NUMBER_INTENT)."""
    if len(text) > max_length:
        return Screened(None, TOO_LONG)
    if has_card_number(text):
        return Screened(CARD_NUMBER_INTENT)
    return Screened(defused(text))


OnNewMessage = Callable[[Any], Awaitable[Any]]


def guarded(on_new_message: OnNewMessage, max_length: int = DEFAULT_MAX_MESSAGE_LENGTH) -> OnNewMessage:
    """Rasa's `on_new_message`, behind `screen`: a refused message is answered on its own output
    channel and goes no further; a defused one goes on with its new text."""

    async def handler(message: Any) -> Any:
        text = message.text if isinstance(message.text, str) else ""
        verdict = screen(text, max_length)
        if verdict.refusal is not None:
            logger.info("refused a %s-character message on %s (limit %s)", len(text),
                        message.input_channel, max_length)
            await message.output_channel.send_text_message(message.sender_id, verdict.refusal)
            return None
        if verdict.text == CARD_NUMBER_INTENT:  # never the text: it holds the number
            logger.info("a card number typed on %s was kept out of the conversation",
                        message.input_channel)
            message.text = verdict.text
        elif verdict.text != text:
            logger.info("a customer typed an EXTERNAL_ intent on %s: passed on as text",
                        message.input_channel)
            message.text = verdict.text
        return await on_new_message(message)

    return handler
