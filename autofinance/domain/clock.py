"""Time in UTC: the current instant, and the check that a caller's `now` is aware."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def aware(now: Optional[datetime]) -> datetime:
    """`now`, or the current instant when None; a naive datetime is refused (it would be
    compared with stored UTC times and be off by the server's offset)."""
    now = now or utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be an aware UTC datetime")
    return now
