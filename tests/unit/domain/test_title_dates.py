"""Dates a policy or a title release is given in: past or future, business days."""
from __future__ import annotations

from datetime import date

import pytest

from autofinance.domain.calendar import add_business_days
from autofinance.domain.parsing import parse_calendar_date

TODAY = date(2026, 11, 24)  # a Tuesday


@pytest.mark.parametrize("text, expected", [
    ("today", TODAY), ("yesterday", date(2026, 11, 23)), ("11/15/2026", date(2026, 11, 15)),
    ("June 1st 2027", date(2027, 6, 1)), ("1/15/27", date(2027, 1, 15)), ("2027-05-01", date(2027, 5, 1)),
    ("Nov 1", date(2026, 11, 1)), ("it started on the 3rd of november", date(2026, 11, 3)),
])
def test_a_policy_date_is_read_past_or_future(text: str, expected: date) -> None:
    assert parse_calendar_date(text, TODAY) == expected


def test_without_a_year_an_end_date_is_the_next_one() -> None:
    assert parse_calendar_date("June 1st", TODAY) == date(2026, 6, 1)
    assert parse_calendar_date("June 1st", TODAY, future=True) == date(2027, 6, 1)


@pytest.mark.parametrize("text", ["next year", "soon", "13/45/2026", ""])
def test_what_is_not_a_date_is_none(text: str) -> None:
    assert parse_calendar_date(text, TODAY) is None


def test_business_days_skip_the_weekend() -> None:
    assert add_business_days(date(2026, 11, 20), 1) == date(2026, 11, 23)  # Friday -> Monday
    assert add_business_days(TODAY, 3) == date(2026, 11, 27)
    assert add_business_days(TODAY, 0) == TODAY
