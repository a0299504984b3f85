"""Support hours as a lender publishes them: "mon-fri 08:00-20:00, sat 09:00-14:00".

Parsed where the settings are read, so a typo stops the start-up with a clear message instead
of surfacing as "nobody is available" at the first hand-off.
"""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Optional

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PART = re.compile(r"^(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})$")

# weekday (0 = Monday) -> list of (start minute, end minute) in local time
Hours = dict[int, list[tuple[int, int]]]


def _minutes(clock: str) -> int:
    hours, minutes = (int(part) for part in clock.split(":"))
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or hours * 60 + minutes > 24 * 60:
        raise ValueError(f"not a time of day: {clock}")
    return hours * 60 + minutes


def parse_hours(spec: str) -> Hours:
    """Parses "mon-fri 08:00-20:00, sat 09:00-14:00"; raises ValueError on anything else."""
    hours: Hours = {}
    for part in filter(None, (p.strip().lower() for p in spec.split(","))):
        match = _PART.match(part)
        if not match or match["first"] not in DAYS or (match["last"] or match["first"]) not in DAYS:
            raise ValueError(f"support hours: cannot read {part!r} (example: 'mon-fri 08:00-20:00')")
        first, last = DAYS.index(match["first"]), DAYS.index(match["last"] or match["first"])
        start, end = _minutes(match["start"]), _minutes(match["end"])
        if start >= end or last < first:
            raise ValueError(f"support hours: {part!r} ends before it starts")
        for day in range(first, last + 1):
            hours.setdefault(day, []).append((start, end))
    return hours


def is_open(hours: Hours, local: datetime) -> bool:
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in hours.get(local.weekday(), []))


def next_opening(hours: Hours, local: datetime) -> Optional[datetime]:
    """The next time support opens after `local` (within a week), in the same time zone."""
    for offset in range(8):
        day = (local + timedelta(days=offset)).date()
        for start, _ in sorted(hours.get(day.weekday(), [])):
            opening = datetime.combine(day, time(start // 60, start % 60), tzinfo=local.tzinfo)
            if opening > local:
                return opening
    return None
