"""Month arithmetic and due dates, the rules every payment, autopay and hardship date uses."""
from __future__ import annotations

from datetime import date

from autofinance.domain.calendar import add_months, next_due, upcoming_due_date


def test_adding_a_month_to_the_31st_lands_on_the_last_day_of_a_shorter_month() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)


def test_adding_months_crosses_years_both_ways() -> None:
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)
    assert add_months(date(2026, 1, 15), -12) == date(2025, 1, 15)


def test_a_day_of_month_can_be_asked_for() -> None:
    assert add_months(date(2026, 11, 24), 1, day_of_month=5) == date(2026, 12, 5)


def test_the_next_due_date_is_today_when_today_is_the_due_day() -> None:
    assert next_due(date(2026, 11, 15), 15) == date(2026, 11, 15)


def test_the_next_due_date_is_next_month_once_the_due_day_has_passed() -> None:
    assert next_due(date(2026, 11, 16), 15) == date(2026, 12, 15)
    assert next_due(date(2026, 12, 20), 5) == date(2027, 1, 5)


def test_a_stored_due_date_still_ahead_is_kept() -> None:
    assert upcoming_due_date(date(2026, 12, 1), 1, today=date(2026, 11, 24)) == date(2026, 12, 1)


def test_a_stored_due_date_that_passed_is_rolled_forward_to_the_next_due_day() -> None:
    assert upcoming_due_date(date(2026, 10, 1), 1, today=date(2026, 11, 24)) == date(2026, 12, 1)
