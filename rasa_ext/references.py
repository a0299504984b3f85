"""A typed reference to one of the assistant's buttons ("2", "the second one", "option 3") read
as a press of that button.

SMS and WhatsApp show buttons as numbered lines ("1. Monthly payment $412.50"), so customers
answer "1", "#2", "the last one"; on the web some type the number too. Rasa parses such a reply
as text: "1" after the payment-amount buttons became an amount of $1.00. Here, when a message is
only a reference to a button of the assistant's latest reply, its NLU result is Rasa's own parse
of that button's payload (intent and entities, through the same path as a pressed button:
RegexMessageHandler for "/intent{...}", the NLU pipeline for a plain-text payload), while the
text stays what the customer typed.

The decision is made from the conversation's stored events only (so it holds on any replica):
the buttons of the latest bot message that had any, after the latest user message (none after a
new session, a restart or a rewind). Rules (`referenced_button`):

- a bare number N (digits or a word, "1" .. "ten") is button N, except on a channel that does
  not show numbers (anything but SMS / WhatsApp: `rest`, `socketio`, `telegram`, `slack`...)
  when the buttons' titles start with quantities ("1 month", "2 months", "6 months"): there "6"
  is the button whose title starts with 6, and "4" is no reference at all;
- "option N", "number N", "no. N", "#N", "choice N", "the Nth one", "the second option", "the
  last one", "the top/bottom one" are positions everywhere; a bare ordinal ("2nd", "the
  second", "last") too, unless the titles hold ordinals themselves (days: "The 15th (your due
  date)"): then it is the button whose title holds that ordinal, if exactly one does;
- "that one" / "this one" only when exactly one button was offered;
- light typos ("secnd", "thrid", "opton 2"), case, surrounding punctuation and a trailing
  "please" / "pls" / "thanks" are allowed; anything more ("pay 2", "2 months", "250", "1 and 2")
  is not a reference; neither is a number out of range;
- nothing while the identity form runs unless the very latest bot message has the buttons (a
  verification question never has: its answer is never mapped); a button without a payload, or
  whose payload is a server-only `/EXTERNAL_...` intent, is never used.

Only payloads of buttons in the stored latest bot event can come out of this, so a customer
cannot inject one. The pure functions take events as dicts (Rasa's `Event.as_dict()` shape) and
import nothing of Rasa; `install()` wraps `MessageProcessor.parse_message` (Rasa 3.6.21 only),
and is called by `rasa_ext.serving.install()`.
"""
from __future__ import annotations

import copy
import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Text

from rasa_ext.limits import is_external_trigger

logger = logging.getLogger(__name__)

PATCHED_RASA_VERSION = "3.6.21"
IDENTITY_FORM = "identity_form"
# Channels whose customers see buttons as numbered lines (Rasa's Twilio output prints them so):
# ours are named `twilio` (SMS) and `twilio_whatsapp`. Any name holding one of these counts.
NUMBERED_CHANNEL_MARKS = ("twilio", "sms", "whatsapp")
# Events after which earlier buttons are no longer on offer.
BOUNDARY_EVENTS = frozenset({"user", "session_started", "restart", "rewind"})
# Questions on the side that leave an offer standing: its buttons still count after them.
DIGRESSION_INTENTS = frozenset({"faq", "out_of_scope", "nlu_fallback", "bot_challenge",
                                "check_balance", "next_payment", "past_due", "loan_terms",
                                "payment_history"})
MAX_DIGRESSIONS = 2


@dataclass(frozen=True)
class Button:
    """One button of the assistant's latest offer: its 1-based position, title and payload."""

    position: int
    title: Text
    payload: Optional[Text]


# --- the offer: what the assistant's latest reply put on buttons ----------------------------


def offered_buttons(events: Sequence[Mapping[Text, Any]]) -> List[Button]:
    """The buttons of the latest bot message that had any since the latest user message
    (events oldest first), or before up to `MAX_DIGRESSIONS` questions answered in between
    ("the first option" after "what are your hours?"); [] when none was offered, or when the
    identity form is active and the very latest bot message has none."""
    latest_bot_seen = False
    digressions = 0
    for event in reversed(events):
        kind = event.get("event")
        if kind == "user" and digressions < MAX_DIGRESSIONS and _is_digression(event):
            digressions += 1
            continue
        if kind in BOUNDARY_EVENTS or kind == "active_loop" and digressions:
            return []
        if kind != "bot":
            continue
        buttons = _buttons_of(event)
        if buttons:
            if latest_bot_seen and active_loop(events) == IDENTITY_FORM:
                return []  # a verification question came after those buttons
            return buttons
        latest_bot_seen = True
    return []


def _is_digression(event: Mapping[Text, Any]) -> bool:
    """Whether a user message was a question on the side, after which an offer still stands."""
    parse_data = event.get("parse_data")
    intent = parse_data.get("intent") if isinstance(parse_data, Mapping) else None
    name = intent.get("name") if isinstance(intent, Mapping) else None
    return isinstance(name, str) and name.split("/")[0] in DIGRESSION_INTENTS


def _buttons_of(event: Mapping[Text, Any]) -> List[Button]:
    data = event.get("data")
    raw = data.get("buttons") if isinstance(data, Mapping) else None
    if not isinstance(raw, list):
        return []
    buttons = []
    for position, button in enumerate(raw, start=1):
        if not isinstance(button, Mapping):
            button = {}
        title, payload = button.get("title"), button.get("payload")
        buttons.append(Button(position, title if isinstance(title, str) else "",
                              payload if isinstance(payload, str) and payload.strip() else None))
    return buttons


def active_loop(events: Sequence[Mapping[Text, Any]]) -> Optional[Text]:
    """The active loop after `events` (the latest `active_loop` event's name)."""
    for event in reversed(events):
        if event.get("event") == "active_loop":
            name = event.get("name")
            return name if isinstance(name, str) and name else None
        if event.get("event") in ("session_started", "restart"):
            return None
    return None


def is_numbered_channel(channel: Optional[Text]) -> bool:
    """Whether the channel shows buttons as numbered lines (SMS, WhatsApp)."""
    name = (channel or "").lower()
    return any(mark in name for mark in NUMBERED_CHANNEL_MARKS)


# --- the reference: what the customer's text points at -------------------------------------

_CARDINALS = {word: n for n, word in enumerate(
    "one two three four five six seven eight nine ten".split(), start=1)}
_ORDINAL_WORDS = {word: n for n, word in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth".split(), start=1)}
_ORDINAL_WORDS.update({"1st": 1, "2nd": 2, "3rd": 3})
# words a typo must not be read from (a word of its own that is one letter off an ordinal)
_NOT_TYPOS = frozenset({"fifty", "sixty", "seconds", "eight", "tent"})
_NOUNS = frozenset({"one", "option", "choice", "button", "line", "item", "thing"})
_MARKERS = frozenset({"option", "number", "choice", "button", "num", "nr", "#", "opt"})
_FUZZY_VOCAB = ("option", "number", "choice", "button", "please", "thanks") + tuple(
    word for word in _ORDINAL_WORDS if word.isalpha())
_POLITE = frozenset({"please", "pls", "plz", "plse", "pleas", "thanks", "thanx", "thx", "ty",
                     "tks", "thankyou", "ok", "okay"})
_DEICTIC = frozenset({"that", "this"})
_LEAD_INS = tuple(tuple(phrase.split()) for phrase in (
    "ok", "okay", "k", "yes", "yeah", "yep", "yup", "sure", "hmm", "um", "umm", "uh", "so", "well",
    "alright", "fine", "great", "i'll take", "ill take", "i'll go with", "ill go with",
    "i'll do", "let's do", "lets do", "let's go with", "lets go with", "go with", "i choose",
    "i pick", "i'd like", "id like", "i want", "i'll have", "give me"))
_DIGITS = re.compile(r"[1-9][0-9]?")
_ORDINAL_DIGITS = re.compile(r"([1-9][0-9]?)(?:st|nd|rd|th)")
_EDGE_PUNCTUATION = " \t\r\n.,!?;:'\"()[]{}<>-*_~`\u2019\u2018\u201c\u201d"


@dataclass(frozen=True)
class Reference:
    """What a message refers to: `kind` is "number" (a bare number), "position" ("option 2",
    "the second one"), "ordinal" (a bare ordinal: "2nd", "the second"), or "that" ("that one");
    `n` is the number named (0 for "that", -1 for "last")."""

    kind: Text
    n: int


LAST = -1


def parse_reference(text: Optional[Text]) -> Optional[Reference]:
    """The button reference `text` is, and nothing more; None otherwise. A lead-in or a
    "then" ("ok, the first option then", "I'll take the second one") goes with a position or
    an ordinal, never with a bare number ("ok 2", "I want 2": amounts as often as choices)."""
    words = _words(text)
    core = _without_lead_in(words)
    if not core or len(core) > 5:
        return None
    if core[0] == "the" and len(core) > 1:
        reference = _reference(core[1:], after_the=True)
    else:
        reference = _reference(core, after_the=False)
    if reference is not None and reference.kind == "number" and len(core) < len(words):
        return None
    return reference


def _without_lead_in(words: List[Text]) -> List[Text]:
    """`words` without a leading "ok" / "yes" / "I'll take" / "let's go with" and a trailing
    "then"."""
    core = list(words)
    while len(core) > 1 and core[-1] == "then":
        core.pop()
    stripped = True
    while stripped and len(core) > 1:
        stripped = False
        for lead in _LEAD_INS:
            if len(core) > len(lead) and tuple(core[:len(lead)]) == lead:
                core = core[len(lead):]
                stripped = True
                break
    return core


def _words(text: Optional[Text]) -> List[Text]:
    """Lower-case words, without surrounding punctuation, emoji keycaps or a polite tail."""
    if not isinstance(text, str) or len(text) > 60:
        return []
    normal = unicodedata.normalize("NFKC", text).replace("\ufe0f", "").replace("\u20e3", "")
    normal = normal.lower().strip(_EDGE_PUNCTUATION)
    normal = re.sub(r"#\s*", "# ", normal)  # "#2" -> "# 2"
    normal = re.sub(r"\bno\.\s*(?=\d)", "nr ", normal)  # "no. 2", "no.2" (not "no 2": a no)
    normal = re.sub(r"\b(option|number|choice|button|opt|num|nr)(?=\d)", r"\1 ", normal)
    normal = re.sub(r"\bthank (you|u)\b", "thankyou", normal)
    words = [_corrected(word.strip(_EDGE_PUNCTUATION)) for word in normal.split()]
    words = [word for word in words if word]
    while len(words) > 1 and words[-1] in _POLITE:
        words.pop()
    return words


def _corrected(word: Text) -> Text:
    """`word`, or the word of ours it is one slip away from ("secnd" -> "second")."""
    if word in _NOT_TYPOS or len(word) < 4 or not word.isalpha():
        return word
    if word in _FUZZY_VOCAB or word in _CARDINALS:
        return word
    close = [known for known in _FUZZY_VOCAB if _one_slip(word, known)]
    return close[0] if len(close) == 1 else word


def _one_slip(a: Text, b: Text) -> bool:
    """Whether `a` is `b` with one letter changed, added, dropped, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diffs) == 1 or (len(diffs) == 2 and diffs[1] == diffs[0] + 1
                                   and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def _number(word: Text) -> Optional[int]:
    if _DIGITS.fullmatch(word):
        return int(word)
    return _CARDINALS.get(word)


def _ordinal(word: Text) -> Optional[int]:
    if word == "last":
        return LAST
    found = _ORDINAL_DIGITS.fullmatch(word)
    if found:
        return int(found.group(1))
    return _ORDINAL_WORDS.get(word)


def _reference(words: List[Text], after_the: bool) -> Optional[Reference]:
    # "2", "two" (not "the 2")
    if len(words) == 1 and not after_the and _number(words[0]) is not None:
        return Reference("number", _number(words[0]))  # type: ignore[arg-type]
    # "option 2", "#2", "number two", "option number 2", "option #2"
    if len(words) >= 2 and words[0] in _MARKERS:
        rest = words[1:]
        if len(rest) >= 2 and rest[0] in ("number", "#", "num", "nr"):
            rest = rest[1:]
        if len(rest) == 1 and _number(rest[0]) is not None:
            return Reference("position", _number(rest[0]))  # type: ignore[arg-type]
        return None
    # "2nd", "the second", "second one", "the last option", "the top one"
    if len(words) in (1, 2):
        head, noun = words[0], words[1] if len(words) == 2 else None
        if noun is not None and noun not in _NOUNS:
            return None
        position = _ordinal(head)
        if position is None and noun is not None and head in ("top", "bottom"):
            position = 1 if head == "top" else LAST
        if position is not None:
            return Reference("position" if noun else "ordinal", position)
        # "that one", "this option"
        if head in _DEICTIC and noun is not None:
            return Reference("that", 0)
    return None


# --- the rules: which button, if any -------------------------------------------------------


def _leading_quantity(title: Text) -> Optional[int]:
    """The number a title starts with as a quantity ("6 months" -> 6, "$80.00 now" -> 80)."""
    found = re.match(r"\s*\$?\s*(\d+)(?![\d])", title)
    return int(found.group(1)) if found else None


def _ordinals_in(title: Text) -> Set[int]:
    """The ordinals a title holds ("The 15th (your due date)" -> {15})."""
    found = {int(n) for n in re.findall(r"\b([1-9][0-9]?)(?:st|nd|rd|th)\b", title.lower())}
    found |= {n for word, n in _ORDINAL_WORDS.items() if re.search(rf"\b{word}\b", title.lower())}
    return found


def referenced_position(reference: Reference, buttons: Sequence[Button],
                        numbered: bool) -> Optional[int]:
    """The 1-based position of the button `reference` names among `buttons`; None if none."""
    count = len(buttons)
    if count == 0:
        return None
    if reference.kind == "that":
        return 1 if count == 1 else None
    if reference.kind == "number":
        quantities = [_leading_quantity(button.title) for button in buttons]
        if not numbered and any(q is not None for q in quantities):
            matching = [b.position for b, q in zip(buttons, quantities) if q == reference.n]
            return matching[0] if len(matching) == 1 else None
    if reference.kind == "ordinal":
        held = [_ordinals_in(button.title) for button in buttons]
        if any(held):
            matching = [b.position for b, ordinals in zip(buttons, held) if reference.n in ordinals]
            return matching[0] if len(matching) == 1 else None
    n = count if reference.n == LAST else reference.n
    return n if 1 <= n <= count else None


# "the extension one", "the checking one, please": a button named by a word of its title
_NAMED_ONE = re.compile(r"\s*(?:the|that|my)\s+([a-z]{4,})\s+(?:one|option)\b", re.IGNORECASE)
STEM = 5  # "extension" names "Extend my lease": words alike in their first letters


def named_position(word: Text, buttons: Sequence[Button]) -> Optional[int]:
    """The position of the one button whose title has a word starting like `word`; None when
    no button or several do."""
    stem = word.lower()[:STEM]
    matching = [button.position for button in buttons
                if any(title_word.startswith(stem) for title_word in re.findall(r"[a-z]+", button.title.lower()))]
    return matching[0] if len(matching) == 1 else None


def referenced_button(text: Optional[Text], channel: Optional[Text],
                      events: Sequence[Mapping[Text, Any]]) -> Optional[Button]:
    """The button of the assistant's latest reply that `text` (the customer's new message,
    not yet in `events`) only refers to, with a payload that may be used; None otherwise."""
    reference = parse_reference(text)
    if reference is None:
        named = _NAMED_ONE.match(text or "")
        if named is None:
            return None
        buttons = offered_buttons(events)
        position = named_position(named.group(1), buttons)
    else:
        buttons = offered_buttons(events)
        position = referenced_position(reference, buttons, is_numbered_channel(channel))
    if position is None:
        return None
    button = buttons[position - 1]
    if button.payload is None or is_external_trigger(button.payload):
        if button.payload is not None:
            logger.warning("a button carries a server-only /EXTERNAL_ payload: not used")
        return None
    return button


def referenced_payload(text: Optional[Text], channel: Optional[Text],
                       events: Sequence[Mapping[Text, Any]]) -> Optional[Text]:
    """The payload of the button `text` refers to (see `referenced_button`); None otherwise."""
    button = referenced_button(text, channel, events)
    return button.payload if button is not None else None


def button_of_latest_user_message(events: Sequence[Mapping[Text, Any]]) -> Optional[Button]:
    """For custom actions (whose tracker already holds the message): the button the latest user
    message referred to, judged on the events before it; None if it was no reference. A slot
    filled `from_text` gets the typed text ("4"): this says which button it meant."""
    events = list(events)
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if event.get("event") == "user":
            return referenced_button(event.get("text"), event.get("input_channel"),
                                     events[:index])
    return None


# --- Rasa: the processor's parse step --------------------------------------------------------

_STOCK: Dict[Text, Any] = {}


def install() -> bool:
    """Wraps `MessageProcessor.parse_message` once; False (nothing changed) on another Rasa."""
    import rasa
    from rasa.core.processor import MessageProcessor

    if rasa.__version__ != PATCHED_RASA_VERSION:
        logger.warning("rasa_ext.references: written for Rasa %s, found %s: typed button "
                       "references are not read as presses", PATCHED_RASA_VERSION,
                       rasa.__version__)
        return False
    if not _STOCK:
        _STOCK["parse"] = MessageProcessor.parse_message
        MessageProcessor.parse_message = _parse_message  # type: ignore[assignment]
    return True


def uninstall() -> None:
    """Puts Rasa's own parse step back."""
    if not _STOCK:
        return
    from rasa.core.processor import MessageProcessor

    MessageProcessor.parse_message = _STOCK.pop("parse")  # type: ignore[assignment]


async def _parse_message(self: Any, message: Any, tracker: Any = None,
                         only_output_properties: bool = True) -> Dict[Text, Any]:
    """Rasa's parse; for a typed reference to a button of the latest reply (judged on the
    conversation's tracker, so only where Rasa parses with one), Rasa's parse of that button's
    payload, with the text as typed."""
    stock = _STOCK["parse"]
    payload = None
    if tracker is not None:
        try:
            payload = payload_for(message, tracker)
        except Exception:  # noqa: BLE001 - never let this step lose a message
            logger.exception("could not check a message for a button reference")
    if payload is None:
        return await stock(self, message, tracker, only_output_properties)
    pressed = copy.copy(message)
    pressed.text = payload
    parse_data = await stock(self, pressed, tracker, only_output_properties)
    parse_data["text"] = message.text
    return parse_data


def payload_for(message: Any, tracker: Any) -> Optional[Text]:
    """The payload a Rasa `UserMessage` refers to, judged on the conversation's tracker
    (which does not hold the message yet)."""
    text = getattr(message, "text", None)
    if parse_reference(text) is None and not _NAMED_ONE.match(text or ""):  # most: no events read
        return None
    channel = getattr(message, "input_channel", None) or tracker.get_latest_input_channel()
    button = referenced_button(text, channel, latest_turn(tracker))
    if button is not None:
        logger.debug("a typed reference to button %d of the latest reply was read as a press",
                     button.position)
        return button.payload
    return None


def latest_turn(tracker: Any) -> List[Dict[Text, Any]]:
    """The tracker's events since its latest user messages (as many as digressions may be
    crossed, and one more), as dicts, after one giving the active loop: all
    `referenced_button` reads."""
    tail: List[Dict[Text, Any]] = []
    users = 0
    for event in reversed(tracker.events):
        tail.append(event.as_dict())
        kind = getattr(event, "type_name", None)
        users += kind == "user"
        if kind in BOUNDARY_EVENTS and (kind != "user" or users > MAX_DIGRESSIONS):
            break
    tail.append({"event": "active_loop", "name": tracker.active_loop_name})
    tail.reverse()
    return tail
