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

from sqlalchemy.orm import Session

from autofinance.domain.hours import is_open, next_opening, parse_hours
from autofinance.services import staff


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


def staffing(session: Session, now: datetime, lender_timezone: str, support_hours: str) -> Staffing:
    """Who could take a hand-off at `now`, read inside the caller's unit of work."""
    local = now.astimezone(ZoneInfo(lender_timezone))
    hours = parse_hours(support_hours)
    return Staffing(
        within_hours=is_open(hours, local),
        agents_online=staff.count_agents_online(session, now),
        next_opening=next_opening(hours, local),
    )

