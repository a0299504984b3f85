"""Support hours as a lender publishes them, and who can take a conversation now."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from autofinance.config import Settings
from autofinance.domain.hours import is_open, next_opening, parse_hours
from autofinance.services.availability import Staffing

NEW_YORK = ZoneInfo("America/New_York")
HOURS = parse_hours("mon-fri 08:00-20:00, sat 09:00-14:00")


def test_weekdays_and_saturday_are_read_with_their_own_hours() -> None:
    assert HOURS[0] == [(480, 1200)] and HOURS[4] == [(480, 1200)]
    assert HOURS[5] == [(540, 840)] and 6 not in HOURS


@pytest.mark.parametrize("local, expected", [
    (datetime(2026, 11, 30, 8, 0), True),  # Monday, opening minute
    (datetime(2026, 11, 30, 19, 59), True),
    (datetime(2026, 11, 30, 20, 0), False),  # closing minute is closed
    (datetime(2026, 12, 5, 13, 30), True),  # Saturday
    (datetime(2026, 12, 6, 12, 0), False),  # Sunday
])
def test_open_exactly_within_the_published_hours(local: datetime, expected: bool) -> None:
    assert is_open(HOURS, local.replace(tzinfo=NEW_YORK)) is expected


def test_the_next_opening_after_saturday_closing_is_monday_morning() -> None:
    saturday_evening = datetime(2026, 12, 5, 15, 0, tzinfo=NEW_YORK)
    opening = next_opening(HOURS, saturday_evening)
    assert opening == datetime(2026, 12, 7, 8, 0, tzinfo=NEW_YORK)
    staffing = Staffing(within_hours=False, agents_online=0, next_opening=opening)
    assert not staffing.available and staffing.when_back() == "Monday at 8:00 AM"


def test_always_open_covers_midnight_and_needs_an_agent_signed_in() -> None:
    always = parse_hours("mon-sun 00:00-24:00")
    assert is_open(always, datetime(2026, 11, 29, 23, 59, tzinfo=NEW_YORK))
    assert not Staffing(within_hours=True, agents_online=0, next_opening=None).available
    assert Staffing(within_hours=True, agents_online=1, next_opening=None).available
    assert Staffing(within_hours=True, agents_online=1, next_opening=None).when_back() == ""


@pytest.mark.parametrize("spec", ["weekdays 9-5", "mon-fri 20:00-08:00", "fri-mon 08:00-10:00",
                                  "mon 08:00-25:00", "xyz 08:00-10:00"])
def test_unreadable_hours_are_refused_with_an_example(spec: str) -> None:
    with pytest.raises(ValueError, match="support hours|not a time"):
        parse_hours(spec)


def test_a_time_zone_aware_utc_instant_is_judged_in_lender_time() -> None:
    # 12:30 UTC on a Monday is 07:30 in New York: not open yet.
    local = datetime(2026, 11, 30, 12, 30, tzinfo=timezone.utc).astimezone(NEW_YORK)
    assert not is_open(HOURS, local)


def test_a_typo_in_support_hours_stops_the_start_up_with_an_example() -> None:
    with pytest.raises(ValueError, match="example: 'mon-fri 08:00-20:00'"):
        Settings.from_env({"SUPPORT_HOURS": "mon-fri 8-20"})
    assert Settings.from_env({"SUPPORT_HOURS": "sat 09:00-14:00"}).support_hours == "sat 09:00-14:00"


def test_the_launcher_refuses_bad_support_hours_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from autofinance.entrypoints import stack

    monkeypatch.setenv("SUPPORT_HOURS", "weekdays 9 to 5")
    monkeypatch.setattr(stack.Stack, "start", lambda self: pytest.fail("started services"))
    assert stack.main() == 1
    assert capsys.readouterr().err.strip() == (
        "Could not start the assistant: support hours: cannot read 'weekdays 9 to 5' "
        "(example: 'mon-fri 08:00-20:00')")
