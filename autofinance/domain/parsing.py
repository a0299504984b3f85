"""Small pure parsers that turn what a customer types into typed form values.

Form validators call these and nothing else: each returns a value or None (never raises), has no
I/O and, where the answer depends on the calendar, takes `today` so the result is deterministic.
They read what was said; whether it is allowed (a past date, an amount over the payoff) is the
service layer's decision, so a parser never rejects a well-formed value for business reasons.
"""
from __future__ import annotations

import calendar
import logging
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal, Optional

from dateutil.relativedelta import relativedelta

logger = logging.getLogger(__name__)

AmountChoice = Literal["monthly_payment", "past_due", "payoff"]
IdentityKind = Literal["zip", "ssn_last4", "dob"]
IdentifierKind = Literal["account_number", "username"]

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
          "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_NUMBER_WORDS = {w: i for i, w in enumerate(_UNITS)} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}
_FIRST_20 = ("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
             "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth "
             "twentieth").split()
_ORDINALS = {w: i + 1 for i, w in enumerate(_FIRST_20)} | {"thirtieth": 30}
_ORDINALS |= {f"{tens}{sep}{w}": base + i + 1 for tens, base in (("twenty", 20), ("thirty", 30))
              for i, w in enumerate(_FIRST_20[:9]) for sep in ("-", " ", "")}
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS |= {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m} | {"sept": 9}
_WEEKDAYS = {d.lower(): i for i, d in enumerate(calendar.day_name)}
_WEEKDAYS |= {d.lower(): i for i, d in enumerate(calendar.day_abbr)}
_WEEKDAYS |= {"tues": 1, "thur": 3, "thurs": 3}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ORD_RE = "|".join(sorted(_ORDINALS, key=len, reverse=True))
_WEEKDAY_RE = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_DAY_ORDINAL = rf"(?:\d{{1,2}}(?:st|nd|rd|th)|{_ORD_RE})"
_CURRENCY = r"(?:bucks|dollars?|usd)"
_NOT_USERNAMES = {"hello", "hey", "yes", "yeah", "no", "nope", "help", "thanks", "okay", "sure",
                  "stop", "cancel", "agent", "human", "representative", "menu", "hiya"}


def format_long_date(d: date) -> str:
    """'December 15, 2026': the unambiguous form the assistant reads back for confirmation."""
    return f"{calendar.month_name[d.month]} {d.day}, {d.year}"


def parse_choice_number(text: str, count: int) -> Optional[int]:
    """Which of `count` numbered options a reply picks (1-based): "2", "option 2", "#2", "the
    second one", "the last one". SMS and WhatsApp show buttons as numbered lines, so customers
    answer with the number. None when it names no option, or more than one."""
    words = re.findall(r"[a-z]+|\d+", text.lower())
    picks = {int(word) for word in words if word.isdigit()}
    picks |= {_ORDINALS[word] for word in words if word in _ORDINALS}
    picks |= {count} if "last" in words else set()
    if len(picks) == 1 and 1 <= (pick := picks.pop()) <= count:
        return pick
    return None


def your_account(vehicle: str, product: str) -> str:
    """'Your 2021 Toyota RAV4 loan', or 'Your loan' for an account with no vehicle on file."""
    return f"Your {vehicle} {product}" if vehicle else f"Your {product}"


# ---- amounts -------------------------------------------------------------------------------
_AMOUNT = re.compile(  # groups: 1 "$" or "usd", 2 whole dollars, 3 ".cents", 4 "dollars"
    r"(?<![\w/.,-])(\$|usd\s?)?\s?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?"
    r"(?![\d/%]|[,.-]\d|st\b|nd\b|rd\b|th\b)"  # not a date, a percentage or an ordinal
    rf"(\s*{_CURRENCY}\b)?",
    re.IGNORECASE,
)


def parse_amount(text: str) -> Optional[Decimal]:
    """'$1,250.50', '450 bucks', 'four hundred fifty dollars' -> Decimal; None if unclear.

    Two different figures in one message ("450 or 500") are ambiguous, so the answer is None and
    the form asks again rather than guessing which one the customer meant.
    """
    matches = list(_AMOUNT.finditer(text))
    if matches:
        marked = [m for m in matches if m[1] or m[4]]  # "$450" beats a bare "3"
        values = {Decimal(m[2].replace(",", "") + (m[3] or "")) for m in marked or matches}
        return values.pop() if len(values) == 1 else None
    return _amount_in_words(text)


def _amount_in_words(text: str) -> Optional[Decimal]:
    """Whole dollars in words, accepted only before a currency word or standing alone."""
    words = re.findall(r"[a-z]+", text.lower().replace("-", " "))
    scale = ("hundred", "thousand")
    start = next((i for i, w in enumerate(words) if w in _NUMBER_WORDS
                  or (w == "a" and words[i + 1:i + 2] and words[i + 1] in scale)), None)
    if start is None:
        return None
    total = current = 0
    end = start
    for end in range(start, len(words) + 1):
        word = words[end] if end < len(words) else ""
        if word in _NUMBER_WORDS:
            current += _NUMBER_WORDS[word]
        elif word == "hundred":
            current = (current or 1) * 100
        elif word == "thousand":
            total, current = total + (current or 1) * 1000, 0
        elif word not in {"and", "a"}:
            break
    rest = words[end:]
    standalone = start == 0 and not rest
    if not standalone and not (rest and re.fullmatch(_CURRENCY, rest[0])):
        return None
    return Decimal(total + current)


_CHOICES: tuple[tuple[AmountChoice, tuple[str, ...]], ...] = (
    ("past_due", ("past due", "past-due", "behind", "overdue", "late", "missed", "catch up",
                  "arrears")),
    ("payoff", ("pay it off", "pay off", "payoff", "full balance", "whole balance",
                "entire balance", "everything", "in full", "remaining balance", "all of it",
                "whole thing")),
    ("monthly_payment", ("monthly", "regular", "usual", "normal", "minimum", "installment",
                         "this month", "amount due", "scheduled payment")),
)


def parse_amount_choice(text: str) -> Optional[AmountChoice]:
    """Which named amount the customer means; past due wins ('everything I'm behind on')."""
    lowered = " ".join(text.lower().replace("’", "'").split())
    for choice, phrases in _CHOICES:
        if any(re.search(rf"\b{re.escape(p)}\b", lowered) for p in phrases):
            return choice
    return None


# ---- dates ---------------------------------------------------------------------------------
def _safe_date(year: int, month: int, day: int) -> Optional[date]:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _full_year(year: str, today: date) -> int:
    """Two-digit years: 19yy if yy is after this year's yy, else 20yy ('85' -> 1985)."""
    if len(year) == 4:
        return int(year)
    yy = int(year)
    return 1900 + yy if yy > today.year % 100 else 2000 + yy


def _explicit_date(text: str, today: date) -> tuple[Optional[date], bool]:
    """A calendar date written out; returns (date, whether the year was given).

    Month/day is read the US way; day/month only when it cannot be anything else (14/3).
    """
    for m in re.finditer(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", text):
        if found := _safe_date(int(m[1]), int(m[2]), int(m[3])):
            return found, True
    numeric = r"(?<![\d/.-])(\d{1,2})[/-](\d{1,2})(?:[/-](\d{4}|\d{2}))?(?![\d/-]|\.\d)"
    for m in re.finditer(numeric, text):
        first, second = int(m[1]), int(m[2])
        month, day = (second, first) if first > 12 >= second else (first, second)
        if found := _safe_date(_full_year(m[3], today) if m[3] else today.year, month, day):
            return found, bool(m[3])
    year = r"(?:,?\s*(\d{4}))?"
    for pattern, month_group, day_group in (
        (rf"\b({_MONTH_RE})\.?\s+(?:the\s+)?{_DAY}\b{year}", 1, 2),
        (rf"\b{_DAY}\s+(?:of\s+)?({_MONTH_RE})\b\.?{year}", 2, 1),
    ):
        for m in re.finditer(pattern, text):
            month, day = _MONTHS[m[month_group]], int(m[day_group])
            if found := _safe_date(int(m[3] or today.year), month, day):
                return found, bool(m[3])
    return None, False


def _next_day_of_month(day: int, today: date) -> Optional[date]:
    """The next date on or after today falling on `day`, skipping months too short for it."""
    for months_ahead in range(0, 13):
        first = today.replace(day=1) + relativedelta(months=months_ahead)
        candidate = _safe_date(first.year, first.month, day)
        if candidate and candidate >= today:
            return candidate
    return None


_COUNT = r"(\d{1,3}|a|one|two|three|four|five|six|seven)"
_FROM_TODAY = re.compile(rf"\b{_COUNT}\s+(day|week)s?\s+from\s+(?:today|now)\b")


def _count(word: str) -> int:
    return 1 if word in {"a", "one"} else int(word) if word.isdigit() else _NUMBER_WORDS[word]


def parse_date(text: str, today: date) -> Optional[date]:
    """A payment date from 'tomorrow', 'friday', 'the 15th', '12/3', 'Dec 1st', 'in 5 days'...

    Written dates without a year and bare days of the month roll forward to the next such date,
    because a customer scheduling a payment means the future. A weekday means the coming one,
    never today: "Friday" said on a Friday means next week. "next Friday" means the same coming
    Friday; the assistant always reads the exact date back for confirmation.
    Dates with an explicit year are returned as written, past or not: the service decides.
    """
    t = " ".join(text.lower().replace(",", " ").split())
    if m := _FROM_TODAY.search(t):  # "a week from today", "10 days from now"
        return today + timedelta(days=_count(m[1]) * (7 if m[2] == "week" else 1))
    if re.search(r"\b(today|2day|tday|right now|now|asap)\b", t):
        return today
    if re.search(r"\bday after tomorrow\b", t):
        return today + timedelta(days=2)
    if re.search(r"\b(tomorrow|tmrw|tmr)\b", t):
        return today + timedelta(days=1)
    if m := re.search(rf"\bin\s+{_COUNT}\s+(day|week)s?\b", t):
        return today + timedelta(days=_count(m[1]) * (7 if m[2] == "week" else 1))
    if re.search(r"\bnext week\b", t):
        return today + timedelta(days=7)
    found, has_year = _explicit_date(t, today)
    if found:
        if not has_year and found < today:
            found = _safe_date(found.year + 1, found.month, found.day)
        return found
    if m := re.search(rf"\b(?:last|this past|past)\s+({_WEEKDAY_RE})\b", t):
        back = (today.weekday() - _WEEKDAYS[m[1]] - 1) % 7 + 1
        return today - timedelta(days=back)  # a past day: the payment rules refuse it plainly
    if m := re.search(rf"\b({_WEEKDAY_RE})\b", t):
        ahead = (_WEEKDAYS[m[1]] - today.weekday() - 1) % 7 + 1
        return today + timedelta(days=ahead)
    day = _day_number(t, max_day=31)
    return _next_day_of_month(day, today) if day else None


def parse_calendar_date(text: str, today: date, future: bool = False) -> Optional[date]:
    """A date that may be past or future, such as an insurance policy's start or end: 'today',
    'yesterday', '6/1/2026', 'June 1st 2027', '1/15/27' (two-digit years are this century's).
    Without a year: the next such date when `future` (an end date), else the one nearest today
    ("Nov 1" said on Nov 24 is this month's)."""
    t = " ".join(text.lower().replace(",", " ").split())
    for word, days in (("yesterday", -1), ("tomorrow", 1), ("today", 0)):
        if re.search(rf"\b{word}\b", t):
            return today + timedelta(days=days)
    found, has_year = _explicit_date(t, today)
    if found is None:
        return None
    if has_year:
        return _safe_date(found.year + 100, found.month, found.day) if found.year < 2000 else found
    nearby = [d for d in (_safe_date(found.year + k, found.month, found.day) for k in (-1, 0, 1)) if d]
    if future:
        return min((d for d in nearby if d > today), default=None)
    return min(nearby, key=lambda d: abs((d - today).days))


_DATE_WORDS = re.compile(
    rf"\b(?:today|2day|tday|tomorrow|tmrw|tmr|tonight|asap|right now|next week|({_WEEKDAY_RE})|({_MONTH_RE})|"
    rf"{_DAY_ORDINAL}|in\s+\w+\s+(?:day|week)s?|\w+\s+(?:day|week)s?\s+from\s+(?:today|now))\b|\b\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?\b", re.IGNORECASE)


def mentions_date(text: str) -> bool:
    """Whether a message names a day in words a payment date is given in ("friday", "the 15th",
    "12/20", "tomorrow"), so a figure in it ("pay 25") is not mistaken for a day."""
    return bool(_DATE_WORDS.search(text))


def _day_number(t: str, max_day: int) -> Optional[int]:
    """'15', 'the 15th', 'the fifteenth', '15th of each month'; ordinal words need "the" inside
    a sentence so that "my first payment" is not read as the 1st."""
    whole = r"(?:on\s+)?(?:the\s+)?(?:{})(?:\s+of\s+(?:the|each|every)\s+month)?"
    if m := re.fullmatch(whole.format(_DAY), t):
        day = int(m[1])
    elif m := re.fullmatch(whole.format(f"({_ORD_RE})"), t):
        day = _ORDINALS[m[1]]
    elif m := re.search(rf"\bthe\s+{_DAY}\b|\b(\d{{1,2}})(?:st|nd|rd|th)\b", t):
        day = int(m[1] or m[2])
    elif m := re.search(rf"\bthe\s+({_ORD_RE})\b", t):
        day = _ORDINALS[m[1]]
    else:
        return None
    return day if 1 <= day <= max_day else None


def parse_day_of_month(text: str) -> Optional[int]:
    """'the 15th' / '15' / 'the first' -> 1..28, the days every month has (due dates, autopay)."""
    return _day_number(" ".join(text.lower().split()), max_day=28)


def parse_months(text: str) -> Optional[int]:
    """'3', '3 months', 'three more months', 'a month', 'half a year' -> a number of months.

    A lone number counts, as the answer to "how many months?"; inside a sentence only a number
    followed by "month(s)" does, so "extend my 2024 lease" is not read as 2024 months. The
    caller decides which counts are allowed.
    """
    t = " ".join(text.lower().replace("-", " ").split()).strip(" .!?")
    if re.search(r"\b(half a year|six months?)\b", t):
        return 6
    if re.search(r"\b(a|one|another|an extra|one more)\s+(more\s+)?month\b", t):
        return 1
    if re.search(r"\ba couple( of)?( more)? months?\b", t):
        return 2
    if m := re.fullmatch(r"(\d{1,3}|[a-z]+)", t):
        return int(m[1]) if m[1].isdigit() else _NUMBER_WORDS.get(m[1])
    if m := re.search(r"\b(\d{1,3}|[a-z]+)\s+(?:more\s+|extra\s+|additional\s+)?months?\b", t):
        return int(m[1]) if m[1].isdigit() else _NUMBER_WORDS.get(m[1])
    return None


def parse_date_of_birth(text: str, today: Optional[date] = None) -> Optional[date]:
    """'03/14/1985', 'March 14 1985', '14 March 1985', '1985-03-14', 'born 3/14/85'.

    A birth date must carry a year; one in the future or more than 120 years ago is a typo.
    """
    today = today or date.today()
    found, has_year = _explicit_date(" ".join(text.lower().replace(",", " ").split()), today)
    if not found or not has_year or found > today:
        return None
    age = today.year - found.year - ((today.month, today.day) < (found.month, found.day))
    return found if age <= 120 else None


# ---- identity --------------------------------------------------------------------------------
def parse_identity_factor(
    text: str, today: Optional[date] = None
) -> Optional[tuple[IdentityKind, str]]:
    """('zip', '30309'), ('ssn_last4', '4821') or ('dob', '1985-03-14') from one message.

    A full SSN is refused rather than trimmed: we never want the whole number. A bare 4-digit
    number next to "born" is a birth year, not an SSN, so it is not guessed either.
    """
    lowered = text.lower()
    if re.search(r"(?<![\d-])\d{3}([ -]?)\d{2}\1\d{4}(?![\d-])", lowered):
        return None
    if born := parse_date_of_birth(lowered, today):
        return "dob", born.isoformat()
    if re.search(r"\b(born|birth|dob|birthday)\b", lowered):
        return None
    candidates = {m[1] for m in re.finditer(r"(?<![\d-])(\d{5}|\d{4})(?:-\d{4})?(?![\d])", lowered)}
    if len(candidates) != 1:
        return None
    value = candidates.pop()
    return ("zip", value) if len(value) == 5 else ("ssn_last4", value)


_ACCOUNT = re.compile(r"(?<![\d])\d(?:[ -]?\d){9}(?![ -]?\d)")
_USERNAME = re.compile(r"[a-z0-9._-]{3,32}")


def parse_identifier(text: str) -> Optional[tuple[IdentifierKind, str]]:
    """A 10-digit account number ('7301 004 821', 'acct #7301004821') or an online username.

    A username is accepted only when it stands alone or follows "username"/"user id", and must
    contain a letter, so a ZIP code or a greeting is never taken for one. Usernames are
    case-insensitive, so they are lower-cased.
    """
    accounts = {re.sub(r"\D", "", m[0]) for m in _ACCOUNT.finditer(text)}
    if accounts:
        return ("account_number", accounts.pop()) if len(accounts) == 1 else None
    lowered = text.strip().lower().rstrip(".!")
    if m := re.search(r"\buser\s*(?:name|id)\b\s*(?:is|:|=)?\s*(\S+)$", lowered):
        token = m[1]
    elif len(lowered.split()) == 1:
        token = lowered
    else:
        return None
    if not _USERNAME.fullmatch(token) or not re.search(r"[a-z]", token) or token in _NOT_USERNAMES:
        return None
    return "username", token


# ---- identity details given up front ---------------------------------------------------------
@dataclass(frozen=True)
class StatedIdentity:
    """The identity details a request carried ("acct 7301004821 zip 30309, how far behind am
    i"): each None when the message did not clearly give it."""

    identifier: Optional[tuple[IdentifierKind, str]] = None
    factor: Optional[tuple[IdentityKind, str]] = None


# In a sentence the number must stand on its own ("7301004821 30309" is an account and a ZIP).
_STATED_ACCOUNT = re.compile(r"(?<![\d-])(?:\d{10}|\d{4}[ -]\d{3}[ -]\d{3})(?!\d|-\d)")
_SSN_ANYWHERE = re.compile(r"(?<![\d-])\d{3}([ -]?)\d{2}\1\d{4}(?![\d-])")
_PHONE_LABEL = re.compile(r"\b(?:phone|cell|mobile|tel|telephone|call|text|fax|reach)\b\W*"
                          r"(?:(?:me|at|on|number|no|is|my|#)\b\W*){0,3}$")
_USERNAME_LABEL = re.compile(
    r"\b(?:(?:user\s?name|user\s?id|login\s+(?:name|id)|online\s+id)(?:'s|\s+is|\s*[:=])?"
    r"|login(?:'s|\s+is|\s*[:=]))\s*(?<=[\s:=])([a-z0-9._-]+?)(?=[.,;!?]*(?:\s|$))")
_SELF_NAMED = re.compile(r"(?:^|[\s,;.!])(?:i'?m|i\s+am)\s+([a-z0-9._-]+)(?=\s*(?:[,;!]|\.(?:\s|$)|$))",
                         re.IGNORECASE)
_NOT_SELF_NAMES = _NOT_USERNAMES | {
    "locked", "late", "behind", "trying", "having", "not", "unable", "looking", "calling",
    "confused", "new", "stuck", "going", "getting", "so", "very", "really", "just", "still",
    "here", "back", "sorry", "ok", "fine", "good", "frustrated", "worried", "done", "ready",
    "interested", "unemployed", "moving", "out", "away", "sick", "struggling", "broke",
    "overdue", "annoyed", "upset", "sure", "lost", "desperate", "concerned", "curious",
    "wondering", "retired", "disabled", "deployed", "traveling", "travelling", "busy", "home",
    "confident", "positive", "afraid", "scared", "the", "a", "an", "in", "on", "at", "from",
    "over", "under", "down", "up", "also", "too", "customer", "borrower", "owner", "lessee",
    "and", "or", "is", "was", "for", "to", "reset", "recovery", "change", "forgot", "lookup",
    "password", "please", "my", "it", "that", "this", "isn't", "doesn't", "won't", "same",
}
_ZIP_LABELLED = re.compile(r"\b(?:zip|zipcode|zip\s+code|postal\s+code|post\s+code)\b\W{0,3}"
                           r"(?:(?:is|was|of|it's)\b\W{0,3})?(\d{5})(?:-\d{4})?(?![\d-])")
_SSN_LABELLED = re.compile(
    r"\b(?:ssn|social(?:\s+security)?(?:\s+number|\s+no)?|last\s*(?:4|four)(?:\s+digits)?)\b"
    r"[^\d$]{0,24}?(?<![\d-])(\d{4})(?![\d-])")
_DOB_LABEL = re.compile(r"\b(?:born(?:\s+on)?|dob|d\.o\.b\.?|date\s+of\s+birth|birth\s*date|"
                        r"birthday)\b\W{0,3}(?:(?:is|was|on)\b\W{0,3})?")
_FACTOR_ENTITIES = {"zip_code": "zip", "ssn_last4": "ssn_last4", "dob": "dob"}


def parse_stated_identity(text: str, entities: Optional[dict[str, str]] = None,
                          today: Optional[date] = None) -> StatedIdentity:
    """The identifier and the identity factor a request states, read from its text and the
    NLU's entities (`account_number`, `username`, `zip_code`, `ssn_last4`, `dob`).

    Stricter than the form's answers, because the message is about something else: a factor
    counts only after its label ("zip 30309", "born 03/14/1985", "last 4 of my social 1234")
    or as an entity whose value is in the text and is not an amount; a bare "30309" or "$3000"
    is never taken. A 10-digit number standing on its own (or as 4-3-3 digits) counts as an
    account number unless a phone label precedes it ("call me at ..."); a username only after its label ("username jdoe") or as
    "I'm jdoe," (not a capitalised name, not a common word), or as an entity. Anything
    ambiguous (two account numbers, a full SSN, two different ZIP codes) gives None for that
    detail: the form then asks for it. Returns values in the form `parse_identifier` and
    `parse_identity_factor` read back.
    """
    entities = {k: str(v) for k, v in (entities or {}).items() if v is not None}
    return StatedIdentity(_stated_identifier(text, entities), _stated_factor(text, entities, today))


def _stated_identifier(text: str, entities: dict[str, str]) -> Optional[tuple[IdentifierKind, str]]:
    lowered = text.lower()
    accounts = set()
    for m in _STATED_ACCOUNT.finditer(text):
        if _PHONE_LABEL.search(lowered[:m.start()]):
            continue
        accounts.add(re.sub(r"\D", "", m[0]))
    account_entity = re.sub(r"[ -]", "", entities.get("account_number", ""))
    if not accounts and re.fullmatch(r"\d{10}", account_entity):
        accounts.add(account_entity)
    if len(accounts) > 1:
        return None
    if accounts:
        return "account_number", accounts.pop()
    names = {m[1].rstrip("._-") for m in _USERNAME_LABEL.finditer(lowered)}
    names |= {m[1].lower() for m in _SELF_NAMED.finditer(text)
              if not (m[1][:1].isupper() and m[1][1:].islower())  # "I'm Maria," is a name
              and m[1].lower() not in _NOT_SELF_NAMES and not m[1].lower().endswith("ing")}
    named = entities.get("username", "").strip().lower()
    if named and named in lowered and named not in _NOT_SELF_NAMES:
        names.add(named)
    names = {name for name in names if _USERNAME.fullmatch(name) and re.search(r"[a-z]", name)
             and name not in _NOT_SELF_NAMES}
    return ("username", names.pop()) if len(names) == 1 else None


def _stated_factor(text: str, entities: dict[str, str],
                   today: Optional[date]) -> Optional[tuple[IdentityKind, str]]:
    lowered = " ".join(text.lower().split())
    if _SSN_ANYWHERE.search(lowered):
        return None  # a full SSN is never trimmed to its last four
    found: list[tuple[int, IdentityKind, str]] = []
    for m in _ZIP_LABELLED.finditer(lowered):
        found.append((m.start(), "zip", m[1]))
    for m in _SSN_LABELLED.finditer(lowered):
        found.append((m.start(), "ssn_last4", m[1]))
    for m in _DOB_LABEL.finditer(lowered):
        born = parse_date_of_birth(lowered[m.end():m.end() + 24], today)
        if born:
            found.append((m.start(), "dob", born.isoformat()))
    for entity, kind in _FACTOR_ENTITIES.items():
        value = entities.get(entity, "").strip()
        if kind == "dob":
            born = parse_date_of_birth(value, today) if value and value.lower() in lowered else None
            if born:
                found.append((lowered.find(value.lower()), "dob", born.isoformat()))
        elif re.fullmatch(r"\d{5}" if kind == "zip" else r"\d{4}", value):
            at = [m.start() for m in re.finditer(rf"(?<![\d$.,-]){value}(?![\d%]|[.,-]\d)", lowered)]
            if at and not re.search(rf"\$\s*{value}", lowered):
                found.append((at[0], kind, value))
    by_kind: dict[str, set[str]] = {}
    for _, kind, value in found:
        by_kind.setdefault(kind, set()).add(value)
    if any(len(values) > 1 for values in by_kind.values()):
        return None  # two different ZIP codes (or dates, or last fours): not guessed
    if not found:
        return None
    _, kind, value = min(found)
    return kind, value


def parse_otp_code(text: str) -> Optional[str]:
    """Exactly six digits, spaces or a dash allowed ('123 456'); anything else is not a code."""
    found = re.findall(r"(?<!\d)\d(?:[ -]?\d){5}(?![ -]?\d)", text)
    if len(found) != 1 or len(re.sub(r"\D", "", text)) != 6:
        return None
    return re.sub(r"\D", "", found[0])
