"""Attempt limits kept in the store: at most `most` attempts per key in ANY `window` (sliding),
and a block that starts when a count of failures becomes full and is never extended.

A module of its own because it is a mechanism, not a rule: identity.py decides what is counted
(wrong factors, wrong codes, codes sent), per what key, and what the customer is told; this
module only counts, refuses and blocks, atomically across conversations, processes and replicas,
on SQLite and PostgreSQL, and is tested on its own (tests/unit/services/test_attempts.py).

How it is kept: one `attempt_counters` row per (scope, key) holds the block, and each counted
attempt is a `counted_attempts` row with its time. `take` first locks the key's row (an upsert
that updates it: a row lock on PostgreSQL, the database write lock on SQLite) and holds it until
the caller's commit or rollback, so concurrent attempts on a key run one after another and each
one counts what the previous ones stored.

Why "at most `most` in any window" holds: an attempt at time t is counted only if fewer than
`most` stored attempts are later than t - window. Take any attempts counted within one window
and the last of them to be counted: every other one was stored before it and is later than its
time minus the window, so it saw them all, and they were fewer than `most`. (Rows are pruned
only once two windows old, so this holds as long as the clocks of the processes agree to
within a window.) A fixed window that restarts would let `most` - 1 attempts just before its
end and `most` - 1 just after it through in seconds.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from autofinance.adapters.store.models import AttemptCounter, CountedAttempt


@dataclass(frozen=True)
class Limit:
    """What is counted (`scope`), how many per key (`most`), within any `window`."""

    scope: str
    most: int
    window: timedelta


def take(session: Session, limit: Limit, key: str, now: datetime) -> Optional[datetime]:
    """Counts one attempt by `key` at `now`: None, or (refused, nothing counted) the time from
    which `key` may try again: the end of its block, or when its oldest attempt in the window
    leaves it.

    Holds the key until the caller's transaction ends: call `block_if_full`, `refund` or
    `reset` for the key in the same transaction, and take keys in a fixed order.
    """
    counter_id, blocked_until = _lock(session, limit, key)
    if blocked_until is not None and blocked_until > now:
        return blocked_until
    session.execute(delete(CountedAttempt).where(  # keeps the table small; see the docstring
        CountedAttempt.counter_id == counter_id, CountedAttempt.at <= now - 2 * limit.window))
    times = session.scalars(select(CountedAttempt.at).where(
        CountedAttempt.counter_id == counter_id, CountedAttempt.at > now - limit.window,
    ).order_by(CountedAttempt.at)).all()
    if len(times) >= limit.most:
        return times[len(times) - limit.most] + limit.window
    session.execute(insert(CountedAttempt).values(counter_id=counter_id, at=now))
    return None


def block_if_full(session: Session, limit: Limit, key: str, now: datetime,
                  duration: timedelta) -> Optional[datetime]:
    """After an attempt `take` counted turned out a failure: if it made the count full, blocks
    `key` for `duration` from now and returns until when (else None). A block only starts: one
    still running is never moved, whatever is tried meanwhile."""
    if counted(session, limit, key, now) < limit.most:
        return None
    until = now + duration
    started = session.execute(
        update(AttemptCounter)
        .where(*_of(limit, key),
               or_(AttemptCounter.blocked_until.is_(None), AttemptCounter.blocked_until <= now))
        .values(blocked_until=until)
        .execution_options(synchronize_session=False)).rowcount == 1
    return until if started else None


def refund(session: Session, limit: Limit, key: str) -> None:
    """Gives back the attempt `take` just counted (it turned out not to be a failure). The key
    is still held, so the newest counted attempt is that one."""
    newest = select(func.max(CountedAttempt.id)).where(
        CountedAttempt.counter_id == _counter_id(limit, key)).scalar_subquery()
    session.execute(delete(CountedAttempt).where(CountedAttempt.id == newest)
                    .execution_options(synchronize_session=False))


def reset(session: Session, limit: Limit, key: str) -> None:
    """Forgets every attempt counted for `key` (a success that starts the count again)."""
    session.execute(delete(CountedAttempt).where(
        CountedAttempt.counter_id == _counter_id(limit, key))
        .execution_options(synchronize_session=False))


def counted(session: Session, limit: Limit, key: str, now: datetime) -> int:
    """How many attempts by `key` count at `now` (those within the window before it)."""
    return session.scalar(select(func.count()).select_from(CountedAttempt).where(
        CountedAttempt.counter_id == _counter_id(limit, key),
        CountedAttempt.at > now - limit.window)) or 0


def _of(limit: Limit, key: str) -> tuple[Any, Any]:
    return AttemptCounter.scope == limit.scope, AttemptCounter.key == key


def _counter_id(limit: Limit, key: str) -> Any:
    return select(AttemptCounter.id).where(*_of(limit, key)).scalar_subquery()


def _lock(session: Session, limit: Limit, key: str) -> tuple[int, Optional[datetime]]:
    """Creates the key's counter if need be and locks it until the transaction ends (an update
    of the row, also when it exists: concurrent callers wait here); its id and block."""
    upsert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = upsert(AttemptCounter).values(scope=limit.scope, key=key, blocked_until=None)
    row = session.execute(
        statement.on_conflict_do_update(
            index_elements=["scope", "key"],
            set_={"blocked_until": AttemptCounter.blocked_until})  # unchanged: only the lock
        .returning(AttemptCounter.id, AttemptCounter.blocked_until)).one()
    return row.id, row.blocked_until
