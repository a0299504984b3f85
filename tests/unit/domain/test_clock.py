"""Services compare times with stored UTC times, so a `now` must be aware."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from autofinance.domain.clock import aware, utcnow


def test_the_current_instant_is_in_utc() -> None:
    assert utcnow().tzinfo is timezone.utc


def test_an_aware_now_is_used_as_given() -> None:
    now = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
    assert aware(now) is now


def test_no_now_means_the_current_instant() -> None:
    before = utcnow()
    assert before <= aware(None) <= utcnow()


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        aware(datetime(2026, 11, 24, 15, 0))
