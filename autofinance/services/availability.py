"""Whether a person can take a conversation now: support hours and agents signed in.

Support hours are written the way a lender publishes them, in the lender's time zone:
"mon-fri 08:00-20:00, sat 09:00-14:00". Outside them, or when no agent is signed in to the
console, a hand-off still queues its ticket, but the customer is told nobody can answer now
and is offered a follow-up instead of waiting in silence.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Optional
from zoneinfo import ZoneInfo

from autofinance.config import Settings
from autofinance.services import staff
from autofinance.store.db import UnitOfWork
from autofinance.store.types import utcnow

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


@dataclass(frozen=True)
class Staffing:
    within_hours: bool
    agents_online: int
    next_opening: Optional[datetime]  # lender-local

    @property
    def available(self) -> bool:
        return self.within_hours and self.agents_online > 0

    def when_back(self) -> str:
        """'Monday at 8:00 AM' for the customer, or '' when unknown or already open."""
        if self.within_hours or self.next_opening is None:
            return ""
        clock = self.next_opening.strftime("%I:%M %p").lstrip("0")
        return f"{self.next_opening.strftime('%A')} at {clock}"


def staffing_now(settings: Settings, uow: UnitOfWork, now: Optional[datetime] = None) -> Staffing:
    local = (now or utcnow()).astimezone(ZoneInfo(settings.lender_timezone))
    hours = parse_hours(settings.support_hours)
    return Staffing(
        within_hours=is_open(hours, local),
        agents_online=staff.agents_online(uow, now=now),
        next_opening=next_opening(hours, local),
    )
