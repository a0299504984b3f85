"""Whether a person can take a conversation now: support hours and agents signed in.

Support hours (see `autofinance.domain.hours`) are in the lender's time zone. Outside them, or when no agent is signed in to the
console, a hand-off still queues its ticket, but the customer is told nobody can answer now
and is offered a follow-up instead of waiting in silence.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional
from zoneinfo import ZoneInfo

from autofinance.config import Settings
from autofinance.domain.hours import is_open, next_opening, parse_hours
from autofinance.services import staff
from autofinance.adapters.store.db import UnitOfWork
from autofinance.domain.clock import utcnow


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
