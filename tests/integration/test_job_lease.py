"""The scheduler's lease on SQLite and PostgreSQL: one holder at a time, a fence for the one
that lost it, and on PostgreSQL the database's clock, not the scheduler's."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, update

from autofinance.adapters.store.db import UnitOfWork, make_engine, session_factory
from autofinance.adapters.store.migrate import upgrade_to_head
from autofinance.adapters.store.models import JobLease
from autofinance.services import job_lease

pytestmark = pytest.mark.integration
TTL = timedelta(seconds=30)


def _acquire(engine: Engine, holder: str) -> int | None:
    with UnitOfWork(session_factory(engine)) as uow:
        token = job_lease.acquire(uow.session, "job", holder, TTL)
        uow.commit()
        return token


def _expire(engine: Engine) -> None:
    with UnitOfWork(session_factory(engine)) as uow:
        uow.session.execute(update(JobLease).values(expires_at=datetime(2000, 1, 1, tzinfo=timezone.utc)))
        uow.commit()


def test_one_holder_at_a_time_and_a_new_holder_gets_a_higher_token(engine: Engine) -> None:
    assert _acquire(engine, "a") == 1
    assert _acquire(engine, "b") is None
    assert _acquire(engine, "a") == 1  # renewing keeps the token

    _expire(engine)  # a died: its lease ran out
    assert _acquire(engine, "b") == 2
    assert _acquire(engine, "a") is None


def test_work_under_a_lost_lease_is_refused_in_its_own_transaction(engine: Engine) -> None:
    token = _acquire(engine, "a")
    assert token is not None
    _expire(engine)
    assert _acquire(engine, "b") == token + 1

    with UnitOfWork(session_factory(engine)) as uow, pytest.raises(job_lease.LeaseLost):
        job_lease.renew(uow.session, "job", "a", token, TTL)


def test_a_released_lease_is_free_at_once(engine: Engine) -> None:
    _acquire(engine, "a")
    with UnitOfWork(session_factory(engine)) as uow:
        job_lease.release(uow.session, "job", "a")
        uow.commit()

    assert _acquire(engine, "b") == 2


def test_on_postgresql_a_scheduler_whose_clock_jumped_ahead_cannot_take_a_held_lease(
    _postgres_database: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """(SQLite is one machine with one clock: its lease reads that clock.)"""
    upgrade_to_head(_postgres_database)
    engine = make_engine(_postgres_database)
    try:
        assert _acquire(engine, "a") == 1
        monkeypatch.setattr(job_lease, "utcnow", lambda: datetime(2099, 1, 1, tzinfo=timezone.utc))

        assert _acquire(engine, "b") is None
    finally:
        engine.dispose()
