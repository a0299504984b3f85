"""Calendar rules for monthly payments: month arithmetic, due dates and rolling them forward."""
from __future__ import annotations

import calendar
from datetime import date
from typing import Optional


def add_months(day: date, months: int, day_of_month: Optional[int] = None) -> date:
    """`day` moved by `months` (negative goes back), on `day_of_month` if given, clamped to the
    month's last day (Jan 31 + 1 month is Feb 28 or 29)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    wanted = day_of_month or day.day
    return date(year, month, min(wanted, calendar.monthrange(year, month)[1]))


def next_due(today: date, due_day: int) -> date:
    """The first date on or after `today` that falls on the due day."""
    candidate = today.replace(day=due_day) if today.day <= due_day else None
    return candidate or add_months(today, 1, due_day)


def upcoming_due_date(stored_next_due: date, due_day: int, today: date) -> date:
    """The stored next due date, rolled forward if the store has not been advanced since it
    passed (the nightly posting run does that in production; a demo store may be days old)."""
    if stored_next_due >= today:
        return stored_next_due
    return next_due(today, due_day)


def add_business_days(day: date, days: int) -> date:
    """`day` moved forward by `days` weekdays (Saturdays and Sundays are skipped; holidays are not
    known here, so a promise made with it is a 'by', never an 'on')."""
    moved = day
    while days > 0:
        moved = date.fromordinal(moved.toordinal() + 1)
        if moved.weekday() < 5:
            days -= 1
    return moved
