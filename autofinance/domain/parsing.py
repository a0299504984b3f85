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


def parse_date(text: str, today: date) -> Optional[date]:
    """A payment date from 'tomorrow', 'friday', 'the 15th', '12/3', 'Dec 1st', 'in 5 days'...

    Written dates without a year and bare days of the month roll forward to the next such date,
    because a customer scheduling a payment means the future. A weekday means the coming one,
    never today: "Friday" said on a Friday means next week. "next Friday" means the same coming
    Friday; the assistant always reads the exact date back for confirmation.
    Dates with an explicit year are returned as written, past or not: the service decides.
    """
    t = " ".join(text.lower().replace(",", " ").split())
    if re.search(r"\b(today|right now|now|asap)\b", t):
        return today
    if re.search(r"\bday after tomorrow\b", t):
        return today + timedelta(days=2)
    if re.search(r"\b(tomorrow|tmrw|tmr)\b", t):
        return today + timedelta(days=1)
    if m := re.search(r"\bin\s+(\d{1,3}|a|one|two|three|four|five|six|seven)\s+(day|week)s?\b", t):
        n = 1 if m[1] in {"a", "one"} else int(m[1]) if m[1].isdigit() else _NUMBER_WORDS[m[1]]
        return today + timedelta(days=n * (7 if m[2] == "week" else 1))
    if re.search(r"\bnext week\b", t):
        return today + timedelta(days=7)
    found, has_year = _explicit_date(t, today)
    if found:
        if not has_year and found < today:
            found = _safe_date(found.year + 1, found.month, found.day)
        return found
    if m := re.search(rf"\b({_WEEKDAY_RE})\b", t):
        ahead = (_WEEKDAYS[m[1]] - today.weekday() - 1) % 7 + 1
        return today + timedelta(days=ahead)
    day = _day_number(t, max_day=31)
    return _next_day_of_month(day, today) if day else None


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


def parse_otp_code(text: str) -> Optional[str]:
    """Exactly six digits, spaces or a dash allowed ('123 456'); anything else is not a code."""
    found = re.findall(r"(?<!\d)\d(?:[ -]?\d){5}(?![ -]?\d)", text)
    if len(found) != 1 or len(re.sub(r"\D", "", text)) != 6:
        return None
    return re.sub(r"\D", "", found[0])
