"""The rules of reminders that need no store: which stage of a reminder an event has reached,
and whether a text may go at this hour where the customer is.

A stage is a number of days (5 days before a due date; 1 or 10 days after it; 90, 60 or 30
days before a lease ends). Only the most advanced stage reached is ever due: a scheduler that
was down, or a clock that jumped, sends the notice that fits today rather than every one it
missed, and never an earlier stage after a later one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

KINDS = ("payment_due", "payment_missed", "payment_returned", "payoff_expiring", "lease_ending",
         "decision", "insurance_lapsed")
TEXT_CHANNELS = ("sms", "whatsapp", "telegram")
CHANNELS = ("email",) + TEXT_CHANNELS
_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


@dataclass(frozen=True)
class ReminderPolicy:
    """A lender's choices (autofinance.config, REMINDER_*); the defaults are a US lender's."""

    kinds: tuple[str, ...] = KINDS
    due_days: int = 5
    late_days: tuple[int, ...] = (1, 10)
    lease_end_days: tuple[int, ...] = (30, 60, 90)
    payoff_days: int = 2
    recent_days: int = 7
    text_hours: tuple[int, int] = (8 * 60, 21 * 60)  # minutes of the customer's day
    daily_cap: int = 3


def parse_window(spec: str) -> tuple[int, int]:
    """'08:00-21:00' as minutes of the day; raises ValueError on anything else."""
    match = _WINDOW.match(spec.strip())
    if not match:
        raise ValueError(f"not a time window: {spec!r} (example: '08:00-21:00')")
    start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if not (start_m < 60 and end_m < 60 and 0 <= start < end <= 24 * 60):
        raise ValueError(f"not a time window: {spec!r} (example: '08:00-21:00')")
    return start, end


def customer_zone(name: str, fallback: str) -> ZoneInfo:
    """The customer's time zone; the lender's when theirs is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(fallback)


def texts_allowed(policy: ReminderPolicy, now: datetime, zone: ZoneInfo) -> bool:
    """Whether a text may go now, by the customer's own clock."""
    local = now.astimezone(zone)
    minute = local.hour * 60 + local.minute
    start, end = policy.text_hours
    return start <= minute < end


def reached_stage(days: int, stages: Iterable[int], counting_down: bool) -> Optional[int]:
    """The most advanced stage `days` has reached, or None.

    Counting down (days left before a date: 90, 60, 30): the smallest stage still >= days left.
    Counting up (days since a date: 1, 10): the largest stage <= days since.
    """
    if counting_down:
        reached = [stage for stage in stages if 0 <= days <= stage]
        return min(reached) if reached else None
    reached = [stage for stage in stages if days >= stage]
    return max(reached) if reached else None
