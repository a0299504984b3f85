"""A lease on a periodic job, in the account store: one holder at a time, across processes
and machines (two schedulers never work the same batch at once).

The lease is taken or renewed by one UPDATE that only succeeds for its holder or once it has
run out, and its times are the database's clock (PostgreSQL's `now()`), so a process whose own
clock jumps cannot take a lease another still holds. Every new holder gets a higher `token`;
work done under a lease renews it in the same transaction (`renew`), so a holder that lost it
(paused past its expiry, then woke up) has its work rolled back instead of doubling another's.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from autofinance.adapters.store.models import JobLease
from autofinance.domain.clock import utcnow

EPOCH = datetime(1970, 1, 1, tzinfo=utcnow().tzinfo)


class LeaseLost(Exception):
    """This process no longer holds the job's lease: what it was doing must not commit."""


def database_now(session: Session) -> datetime:
    """The database server's clock on PostgreSQL (one clock for every scheduler), this
    machine's on SQLite (one machine)."""
    if session.get_bind().dialect.name == "postgresql":
        return session.scalar(select(func.now()))  # type: ignore[return-value]
    return utcnow()


def acquire(session: Session, name: str, holder: str, ttl: timedelta) -> Optional[int]:
    """Takes or renews the lease on `name` for `holder`; its token, or None while another
    holds it. Commits nothing: the caller commits."""
    if session.get(JobLease, name) is None:
        try:
            with session.begin_nested():
                session.add(JobLease(name=name, holder="", token=0, expires_at=EPOCH))
        except IntegrityError:
            pass  # another process made it first
    now = database_now(session)
    taken = session.execute(
        update(JobLease)
        .where(JobLease.name == name, or_(JobLease.holder == holder, JobLease.expires_at < now))
        .values(token=case((JobLease.holder == holder, JobLease.token), else_=JobLease.token + 1),
                holder=holder, expires_at=now + ttl)
        .execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        return None
    return session.scalar(select(JobLease.token).where(JobLease.name == name))


def renew(session: Session, name: str, holder: str, token: int, ttl: timedelta) -> None:
    """Extends the lease inside the caller's transaction, or raises LeaseLost: on PostgreSQL the
    row stays locked until that transaction ends, so no other holder can take it meanwhile."""
    now = database_now(session)
    renewed = session.execute(
        update(JobLease)
        .where(JobLease.name == name, JobLease.holder == holder, JobLease.token == token,
               JobLease.expires_at >= now)
        .values(expires_at=now + ttl)
        .execution_options(synchronize_session=False))
    if renewed.rowcount != 1:
        raise LeaseLost(f"the lease on {name} is no longer {holder}'s")


def release(session: Session, name: str, holder: str) -> None:
    """Gives the lease up (a clean stop), so another scheduler need not wait for it to run out."""
    session.execute(update(JobLease).where(JobLease.name == name, JobLease.holder == holder)
                    .values(expires_at=EPOCH).execution_options(synchronize_session=False))
