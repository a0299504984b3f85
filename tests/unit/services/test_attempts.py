"""The attempt limiter: at most N attempts in any window, blocks that start once and never move."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Optional

from sqlalchemy import func, select

from autofinance.adapters.store.models import AttemptCounter, CountedAttempt
from autofinance.services import attempts
from autofinance.services.attempts import Limit

WINDOW = timedelta(minutes=15)
LIMIT = Limit("test_scope", 5, WINDOW)
T0 = datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc)


def take(uow_factory, at: datetime, key: str = "k", limit: Limit = LIMIT) -> Optional[datetime]:
    with uow_factory() as uow:
        refused = attempts.take(uow.session, limit, key, at)
        uow.commit()
        return refused


def fail(uow_factory, at: datetime, key: str = "k") -> tuple[Optional[datetime], Optional[datetime]]:
    """One attempt that turns out a failure: (refused until, blocked until)."""
    with uow_factory() as uow:
        refused = attempts.take(uow.session, LIMIT, key, at)
        blocked = None if refused else attempts.block_if_full(uow.session, LIMIT, key, at, WINDOW)
        uow.commit()
        return refused, blocked


def counted(uow_factory, at: datetime, key: str = "k", limit: Limit = LIMIT) -> int:
    with uow_factory() as uow:
        return attempts.counted(uow.session, limit, key, at)


def test_attempts_are_counted_up_to_the_limit_then_refused_until_the_oldest_leaves_the_window(
        uow_factory):
    for minute in range(5):
        assert take(uow_factory, T0 + timedelta(minutes=minute)) is None
    assert take(uow_factory, T0 + timedelta(minutes=6)) == T0 + WINDOW
    assert counted(uow_factory, T0 + timedelta(minutes=6)) == 5  # the refusal counted nothing
    assert take(uow_factory, T0 + WINDOW) is None  # the first one has just left the window
    assert take(uow_factory, T0 + WINDOW) == T0 + timedelta(minutes=1) + WINDOW


def test_attempts_either_side_of_where_a_fixed_window_would_restart_count_together(uow_factory):
    """The review: 1 at 0:00, 3 at 14:59, 4 at 15:01 all passed a fixed 15-minute window."""
    take(uow_factory, T0)
    before, after = T0 + timedelta(minutes=14, seconds=59), T0 + timedelta(minutes=15, seconds=1)
    outcomes = [take(uow_factory, before) for _ in range(3)]
    outcomes += [take(uow_factory, after) for _ in range(4)]

    assert outcomes[:5] == [None] * 5  # 0:00 has left the window by 15:01
    assert outcomes[5:] == [before + WINDOW] * 2


def test_no_window_ever_holds_more_than_the_limit(uow_factory):
    """Bursts and gaps at random; every window of the limit's length is checked afterwards."""
    rng = random.Random(20261124)
    at, kept = T0, []
    for _ in range(300):
        at += timedelta(seconds=rng.choice([0, 0, 1, 5, 30, 120, 400, 890, 899, 900, 901]))
        if take(uow_factory, at) is None:
            kept.append(at)

    for start in kept:  # the busiest windows start at a counted attempt
        assert sum(start <= t < start + WINDOW for t in kept) <= LIMIT.most, start
    assert len(kept) > 60  # and the limit still lets attempts through over time


def test_a_failure_that_fills_the_count_blocks_the_key_from_that_moment(uow_factory):
    results = [fail(uow_factory, T0 + timedelta(minutes=minute)) for minute in range(5)]

    assert [blocked for _, blocked in results] == [None] * 4 + [T0 + timedelta(minutes=4) + WINDOW]
    assert take(uow_factory, T0 + timedelta(minutes=10)) == T0 + timedelta(minutes=4) + WINDOW


def test_a_blocked_key_is_refused_without_counting_and_its_block_never_moves(uow_factory):
    for _ in range(5):
        fail(uow_factory, T0)
    until = T0 + WINDOW
    for minute in (1, 5, 10, 14):  # someone keeps trying throughout the block
        assert fail(uow_factory, T0 + timedelta(minutes=minute)) == (until, None)
    with uow_factory() as uow:  # even a direct call cannot move a running block
        assert attempts.block_if_full(uow.session, LIMIT, "k", T0 + timedelta(minutes=14),
                                      WINDOW) is None
        uow.commit()
        assert uow.session.scalar(select(AttemptCounter.blocked_until)) == until

    assert counted(uow_factory, until) == 0  # the block ends with an empty count
    assert [fail(uow_factory, until)[1] for _ in range(5)] == [None] * 4 + [until + WINDOW]


def test_a_refund_gives_back_only_the_attempt_just_taken(uow_factory):
    take(uow_factory, T0)
    with uow_factory() as uow:
        attempts.take(uow.session, LIMIT, "k", T0 + timedelta(minutes=1))
        attempts.refund(uow.session, LIMIT, "k")
        uow.commit()

    with uow_factory() as uow:
        assert uow.session.scalars(select(CountedAttempt.at)).all() == [T0]


def test_a_reset_forgets_every_attempt_of_its_key_and_no_other(uow_factory):
    other = Limit("other_scope", 5, WINDOW)
    for _ in range(3):
        take(uow_factory, T0, "k")
        take(uow_factory, T0, "j")
        take(uow_factory, T0, "k", other)
    with uow_factory() as uow:
        attempts.reset(uow.session, LIMIT, "k")
        uow.commit()

    assert (counted(uow_factory, T0, "k"), counted(uow_factory, T0, "j"),
            counted(uow_factory, T0, "k", other)) == (0, 3, 3)


def test_a_rolled_back_attempt_was_never_counted(uow_factory):
    with uow_factory() as uow:
        assert attempts.take(uow.session, LIMIT, "k", T0) is None  # then the caller gives up

    assert counted(uow_factory, T0) == 0


def test_attempts_two_windows_old_are_deleted_when_the_key_tries_again(uow_factory):
    for minute in (0, 10, 20):
        take(uow_factory, T0 + timedelta(minutes=minute))
    take(uow_factory, T0 + timedelta(minutes=40))

    with uow_factory() as uow:
        assert uow.session.scalars(select(CountedAttempt.at).order_by(CountedAttempt.at)).all() == [
            T0 + timedelta(minutes=minute) for minute in (20, 40)]
        assert uow.session.scalar(select(func.count()).select_from(AttemptCounter)) == 1
