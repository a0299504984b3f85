"""Redacting secrets out of conversation events before they are stored or published.

Pure functions over Rasa's event dicts (no Rasa import), so the rules are testable anywhere.
The number and order of events never change: Rasa's SQL tracker store appends by count.
What goes:
- whatever the customer types while answering a verification question (account number or
  username, ZIP / date of birth / SSN digits, the email-or-text choice, a one-time code, the code
  that confirms a new contact detail) or the number of a new bank account, except a plain
  "email" / "text" choice, and the raw values of those slots;
- message metadata and session-start metadata (a portal token rides there), wherever it is:
  the events' own and the `session_started_metadata` slot;
- anywhere else (texts, entities, every slot, bot messages): whatever looks like a one-time code
  (also spaced, "6 0 0 4 5 7"), an SSN, a full account or card number (also glued to letters,
  "acct#7301007734x"), a CVV, a date of birth (numeric or written, "1979/11/02", "Nov 2nd 1979"),
  a token or a JWT.
What stays, for the agents who read a conversation: amounts ("$250", "pay 300 on the 15th"),
payment dates ("december 15", "12/15/2026": a date counts as a birth date when its year is at
least `ADULT_YEARS` back), masked values ("***-***-0101") and our reference numbers (MP..., FR...,
HT...).

What is stored is what Rasa reads back on the next turn: a slot redacted here reads as redacted
later on (the actions seal or mark the values they need to keep).
"""
from __future__ import annotations

import re
from datetime import date
from typing import Any, Optional

REDACTED = "[redacted]"
SEALED_PREFIX = "sealed:"  # slot values the actions encrypted themselves
# Slots whose raw value is a secret whatever its shape (a bank account number can be 4 digits);
# only a sealed value or a safe marker stays
VERIFICATION_SLOTS = frozenset({"identifier", "identity_factor", "otp_code", "contact_code",
                                "bank_account_number"})
SAFE_SLOT_MARKERS = frozenset({"provided", "verified", "locked"})
VERIFICATION_FORM = "identity_form"
# Every question that verifies someone: the form asking it and the slot it fills.
VERIFICATION_STEPS = frozenset({
    ("identity_form", "identifier"), ("identity_form", "identity_factor"),
    ("identity_form", "otp_channel"), ("identity_form", "otp_code"),
    ("contact_form", "contact_code"),
    # not verification, but as secret: a new bank account's number, typed in answer
    ("bank_account_form", "bank_account_number"),
})
CHANNEL_SLOT = "otp_channel"  # its answer is kept when it is nothing but a channel choice
CHANNEL_VALUES = frozenset({"email", "sms", "locked"})
METADATA_SLOTS = frozenset({"session_started_metadata"})
MACHINE_SLOTS = frozenset({"requested_slot", "payment_attempt"})  # set by code, never typed
# Entities that are secrets whatever their shape (the others keep their value, pattern-redacted)
SECRET_ENTITIES = frozenset({"account_number", "zip_code", "ssn_last4", "otp_code", "dob",
                             "username", "email", "phone", "address"})
ADULT_YEARS = 16  # a date at least this many years back is taken for a birth date

# --- free text ---------------------------------------------------------------------------------

_REFERENCE = re.compile(r"\b((?:MP|FR)[A-Z2-7]{8}|HT[0-9A-F]{8})\b")  # ours: never secrets
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?")
_TOKEN = re.compile(r"\b[A-Za-z0-9_-]{32,}\b")  # reset tokens, session tokens, JWT parts
_DIGIT_WORD = r"(?:zero|one|two|three|four|five|six|seven|eight|nine)"
_SPELLED_DIGITS = re.compile(rf"\b{_DIGIT_WORD}(?:[\s,.-]+{_DIGIT_WORD}){{3,}}\b", re.IGNORECASE)
_LABELLED = re.compile(  # a short number right after a word that says what it is: a CVV, a PIN
    r"(?P<label>\b(?:cvv2?|cvc2?|csc|cid|security\s+code|card\s+code|pin)\b"
    r"[^\w\n]{0,3}(?:(?:is|was|number|no|num|of|code|digits)\b[^\w\n]{0,3}){0,3})"
    r"\d(?:[ -]?\d){2,5}(?!\d)", re.IGNORECASE)
# A password or passphrase a customer volunteers ("my password is Tr0ub4dor&3"): the assistant
# never asks for one, but what follows the word up to the end of the phrase is a secret.
_PASSWORD = re.compile(
    r"(?P<label>\b(?:pass\s?(?:word|phrase|code)|passwd|pwd|pw)\b[^\w\n]{0,3}"
    r"(?:(?:is|was|should\s+be|=|:)(?!\w)[^\w\n]{0,3}){0,2})"
    r"(?P<secret>[^\s,;][^,;\n]{0,79}?)?(?=[,;\n]|\.\s|\.?$)", re.IGNORECASE)
# A ZIP given as a verification detail ("zip 30309", "postal code: 30309-1234")
_ZIP_DIGITS = re.compile(r"(?P<label>\b(?:zip(?:\s*code)?|postal\s*code)\b\W{0,3}(?:(?:is|was|of)\W{1,3})?)"
                         r"\d{5}(?:-\d{4})?(?!\d)", re.IGNORECASE)
_SSN_DIGITS = re.compile(r"\b(?:last\s*(?:4|four)|ssn|social)\D{0,20}\d{4}(?!\d)", re.IGNORECASE)
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
          r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d{2}|'\d{2})(?!\d)"
_WRITTEN_DATES = [
    re.compile(rf"\b{_MONTH}\s*{_DAY}\b,?\s*(?:of\s+|in\s+)?{_YEAR}", re.IGNORECASE),  # Nov 2nd 1979
    re.compile(rf"\b{_DAY}\s*(?:of\s+)?{_MONTH},?\s*{_YEAR}", re.IGNORECASE),  # 2nd of November 1979
    re.compile(rf"\b{_MONTH},?\s*(?:of\s+)?(?P<year>(?:19|20)\d{{2}})(?!\d)", re.IGNORECASE),  # Nov 1979
]
_NUMERIC_DATES = [  # month/day/year or day/month/year, and year/month/day; any of / . - space
    re.compile(r"(?<!\d)(?P<a>\d{1,2})(?P<sep>[/.\- ])(?P<b>\d{1,2})(?P=sep)(?P<year>\d{4}|\d{2})(?!\d)"),
    re.compile(r"(?<!\d)(?P<year>(?:19|20)\d{2})(?P<sep>[/.\- ])(?P<a>\d{1,2})(?P=sep)(?P<b>\d{1,2})(?!\d)"),
]
# Digits joined by at most one space or dash: a code, an SSN, an account, card or phone number
_DIGIT_RUN = re.compile(r"(?<!\d)\d(?:[ -]?\d)*")


def _year(text: str) -> int:
    digits = text.lstrip("'")
    year = int(digits)
    if len(digits) == 2:
        this = date.today().year
        year += 2000 if 2000 + year <= this + 10 else 1900
    return year


def _birth_year(text: str) -> bool:
    year = _year(text)
    return 1900 <= year <= date.today().year - ADULT_YEARS


def _day_and_month(a: str, b: str) -> bool:
    first, second = int(a), int(b)
    return 1 <= first <= 31 and 1 <= second <= 31 and min(first, second) <= 12


def _compact_birth_date(digits: str) -> bool:
    """Eight digits that read as MMDDYYYY, DDMMYYYY or YYYYMMDD with a birth year."""
    for a, b, year in ((digits[:2], digits[2:4], digits[4:]), (digits[4:6], digits[6:], digits[:4])):
        if year[:2] in ("19", "20") and _day_and_month(a, b) and _birth_year(year):
            return True
    return False


def _numeric_date(match: re.Match[str]) -> str:
    if _day_and_month(match["a"], match["b"]) and _birth_year(match["year"]):
        return REDACTED
    return match.group(0)


def _written_date(match: re.Match[str]) -> str:
    return REDACTED if _birth_year(match["year"]) else match.group(0)


def _digit_run(match: re.Match[str]) -> str:
    run = match.group(0)
    digits = re.sub(r"\D", "", run)
    count = len(digits)
    before = match.string[:match.start()].rstrip()
    if count >= 9 or (count == 6 and not before.endswith("$")):
        return REDACTED  # SSN; account, card or phone number; one-time code (not "$250000")
    if count == 8 and _compact_birth_date(digits):
        return REDACTED
    if count >= 4 and re.fullmatch(r"\d(?: \d)+|\d(?:-\d)+", run):
        return REDACTED  # a code read out digit by digit
    return run


def _labelled(match: re.Match[str]) -> str:
    return match["label"] + REDACTED


_NOT_A_PASSWORD = frozenset({"reset", "help", "link", "please", "again", "anymore", "doesn't",
                             "does", "isn't", "is", "was", "not", "wrong", "expired", "locked",
                             "forgot", "for", "and", "but", "so", "to", "?", "."})


def _password(match: re.Match[str]) -> str:
    """What follows "password (is)": a secret unless it is plainly talk about the password
    ("password reset", "password isn't working")."""
    secret = match["secret"]
    if not secret or secret.split()[0].lower().strip(".?!") in _NOT_A_PASSWORD:
        return match[0]
    return match["label"] + REDACTED


_RULES: list[tuple[re.Pattern[str], Any]] = [
    (_JWT, REDACTED),
    (_TOKEN, REDACTED),
    (_SPELLED_DIGITS, REDACTED),
    (_LABELLED, _labelled),
    (_PASSWORD, _password),
    (_SSN_DIGITS, REDACTED),
    (_ZIP_DIGITS, _labelled),
    *((pattern, _written_date) for pattern in _WRITTEN_DATES),
    *((pattern, _numeric_date) for pattern in _NUMERIC_DATES),
    (_DIGIT_RUN, _digit_run),
]


def _redact_plain(text: str) -> str:
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def redact_text(text: Optional[str]) -> Optional[str]:
    """Masks every secret-looking run in a free text; other words stay readable."""
    if not text or not isinstance(text, str):
        return text
    parts = _REFERENCE.split(text)  # odd positions: our reference numbers, kept as they are
    return "".join(part if index % 2 else _redact_plain(part) for index, part in enumerate(parts))


def redact_value(value: Any) -> Any:
    """`redact_text` over every string in a JSON value (strings, lists, dicts)."""
    if isinstance(value, str):
        return value if value.startswith(SEALED_PREFIX) else redact_text(value)
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    return value


_CHANNEL_WORDS = frozenset({
    "email", "e-mail", "mail", "inbox", "text", "texts", "sms", "txt", "phone", "mobile", "cell",
    "message", "by", "via", "to", "my", "the", "a", "an", "me", "it", "send", "please", "pls",
    "ok", "okay", "yes", "thanks", "thank", "you", "number", "address", "over", "through", "is",
    "fine", "works", "that", "prefer", "i'd", "i", "would", "like", "rather",
})
_CHANNEL_PAYLOAD = re.compile(r'/inform\{"otp_channel":\s*"(?:email|sms)"\}')


def harmless_channel_answer(text: Any) -> bool:
    """Whether an answer to "email or text?" is nothing but a choice of channel (then it stays
    readable): the button's payload, or only words from a short list, no digits."""
    if not isinstance(text, str):
        return False
    text = text.strip()
    if _CHANNEL_PAYLOAD.fullmatch(text):
        return True
    words = re.findall(r"[^\s.,!?;:()]+", text.lower())
    return bool(words) and len(text) <= 60 and all(word in _CHANNEL_WORDS for word in words)


# --- events ------------------------------------------------------------------------------------


def _safe_slot_value(value: Any) -> bool:
    return value is None or value in SAFE_SLOT_MARKERS or (
        isinstance(value, str) and value.startswith(SEALED_PREFIX)
    )


KEPT_METADATA = frozenset({"model_id", "assistant_id"})  # set by Rasa itself, not the client


def _redact_metadata(metadata: Any) -> Any:
    if not isinstance(metadata, dict):
        return REDACTED if metadata not in (None, "", [], {}) else metadata
    return {key: value if key in KEPT_METADATA else REDACTED for key, value in metadata.items()}


def _redact_entities(entities: Any, everything: bool) -> None:
    for entity in entities if isinstance(entities, list) else []:
        if not isinstance(entity, dict):
            continue
        entity.pop("additional_info", None)
        if everything or entity.get("entity") in SECRET_ENTITIES:
            entity["value"] = REDACTED
            entity.pop("text", None)
        else:
            entity["value"] = redact_value(entity.get("value"))
            if "text" in entity:
                entity["text"] = redact_text(entity["text"])


def _redact_user(event: dict[str, Any], step: Optional[tuple[Any, Any]]) -> None:
    text = event.get("text")
    answering = step in VERIFICATION_STEPS and bool(text)
    if answering and not (step[1] == CHANNEL_SLOT and harmless_channel_answer(text)):
        event["text"] = REDACTED
    else:
        event["text"] = redact_text(text)
        answering = False
    event["metadata"] = _redact_metadata(event.get("metadata"))
    parse_data = event.get("parse_data") or {}
    if parse_data:
        parse_data["text"] = event["text"]
        parse_data["metadata"] = _redact_metadata(parse_data.get("metadata"))
        _redact_entities(parse_data.get("entities"), everything=answering)


def _redact_slot(event: dict[str, Any]) -> None:
    name, value = event.get("name"), event.get("value")
    if name in VERIFICATION_SLOTS:
        event["value"] = value if _safe_slot_value(value) else REDACTED
    elif name == CHANNEL_SLOT:
        event["value"] = value if (value is None or value in CHANNEL_VALUES
                                   or harmless_channel_answer(value)) else REDACTED
    elif name in METADATA_SLOTS:
        event["value"] = _redact_metadata(value)
    elif name not in MACHINE_SLOTS:
        event["value"] = redact_value(value)


def json_copy(value: Any) -> Any:
    """A deep copy of serialised events (dicts, lists and scalars): what `copy.deepcopy` gives,
    several times faster, and this runs on every event of every turn."""
    if isinstance(value, dict):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_copy(item) for item in value]
    return value


FormState = tuple[Optional[str], Optional[str]]  # (active loop, requested slot)


def redact_events(events: list[dict[str, Any]], state: FormState = (None, None)) -> list[dict[str, Any]]:
    """A copy of `events` with secrets masked; same length, same order, same types.

    `state` is the form state before the first of them, when they continue a conversation.
    """
    active_loop, requested_slot = state
    redacted: list[dict[str, Any]] = []
    for original in events:
        event = json_copy(original)
        kind = event.get("event")
        if kind == "active_loop":
            active_loop = event.get("name")
        elif kind == "slot" and event.get("name") == "requested_slot":
            requested_slot = event.get("value")
        elif kind == "slot":
            _redact_slot(event)
        elif kind == "user":
            _redact_user(event, (active_loop, requested_slot))
        elif kind == "bot":
            event["text"] = redact_text(event.get("text"))
            event["data"] = redact_value(event.get("data"))
        elif kind == "session_started":
            event["metadata"] = _redact_metadata(event.get("metadata"))
        elif kind in ("entities", "reminder"):
            _redact_entities(event.get("entities"), everything=False)
        redacted.append(event)
    return redacted

