"""The store-free rules of reminders: stages, text hours, windows."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from autofinance.domain.reminders import (
    ReminderPolicy, customer_zone, parse_window, reached_stage, texts_allowed,
)


@pytest.mark.parametrize("days_left, stage", [(91, None), (90, 90), (61, 90), (60, 60), (31, 60),
                                              (30, 30), (0, 30), (-1, None)])
def test_counting_down_the_nearest_stage_reached_is_due(days_left: int, stage: int | None) -> None:
    assert reached_stage(days_left, (30, 60, 90), counting_down=True) == stage


@pytest.mark.parametrize("days_late, stage", [(0, None), (1, 1), (9, 1), (10, 10), (45, 10)])
def test_counting_up_the_latest_stage_reached_is_due(days_late: int, stage: int | None) -> None:
    assert reached_stage(days_late, (1, 10), counting_down=False) == stage


def test_a_window_reads_as_minutes_of_the_day_and_nonsense_is_refused() -> None:
    assert parse_window("08:00-21:00") == (480, 1260)
    for bad in ("9-5", "21:00-08:00", "08:60-09:00", "08:00-25:00"):
        with pytest.raises(ValueError):
            parse_window(bad)


def test_texts_are_allowed_by_the_customers_clock_not_the_servers() -> None:
    policy = ReminderPolicy()
    noon_utc = datetime(2026, 12, 10, 12, 0, tzinfo=timezone.utc)
    assert not texts_allowed(policy, noon_utc, ZoneInfo("America/New_York"))  # 7:00
    assert texts_allowed(policy, noon_utc, ZoneInfo("Europe/Berlin"))  # 13:00
    assert not texts_allowed(policy, noon_utc, ZoneInfo("Asia/Tokyo"))  # 21:00


def test_an_unknown_zone_falls_back_to_the_lenders() -> None:
    assert customer_zone("Mars/Olympus", "America/Chicago") == ZoneInfo("America/Chicago")
