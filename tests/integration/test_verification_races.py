"""Verification limits under concurrency, on SQLite and PostgreSQL: attempts sent all at once
are checked one after another against the store's counters, never past the limit."""
from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from typing import Callable

import pytest
from sqlalchemy import Engine, func, select

from autofinance.adapters.store.db import UnitOfWork, session_factory
from autofinance.adapters.store.models import Account, AttemptCounter, AuditLog, OutboxMessage
from autofinance.config import Settings
from autofinance.demo.seed import seed_demo
from autofinance.services import identity
from autofinance.services.errors import CodeSendLimitReached, ServiceError
from autofinance.services.outbox import newest_messages

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
MARIA, ZIP = "7301004821", "30309"
PEPPER = Settings().secret_pepper
ATTEMPTS = 15


@pytest.fixture
def uow_factory(engine: Engine) -> Callable[[], UnitOfWork]:
    sessions = session_factory(engine)
    with sessions() as session:
        seed_demo(session, date(2026, 11, 24), Settings())
        session.commit()
    return lambda: UnitOfWork(sessions)


def all_at_once(count: int, attempt: Callable[[int], str]) -> list[str]:
    """Runs `attempt(0..count-1)` in as many threads, released together."""
    start = threading.Barrier(count)

    def released(n: int) -> str:
        start.wait()
        return attempt(n)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(released, range(count)))


def audited(uow_factory: Callable[[], UnitOfWork], action: str) -> list[AuditLog]:
    with uow_factory() as uow:
        rows = uow.session.scalars(select(AuditLog).where(AuditLog.action == action)).all()
        uow.session.expunge_all()
        return list(rows)


def test_fifteen_wrong_codes_sent_at_once_over_five_conversations_get_five_checked(
        uow_factory: Callable[[], UnitOfWork]) -> None:
    """The review got 8 of 15 simultaneous wrong codes checked, not 5."""
    wrong = {}
    for n in range(5):
        identity.identify(f"conv-{n}", MARIA, ZIP, PEPPER, uow_factory(), now=NOW)
        identity.send_code(f"conv-{n}", "email", PEPPER, uow_factory(), now=NOW)
        [sent] = newest_messages(uow_factory(), PEPPER, 1, kind="otp")
        code = re.search(r"\b(\d{6})\b", sent.body).group(1)
        wrong[f"conv-{n}"] = f"{(int(code) + 1) % 1_000_000:06d}"

    def guess(n: int) -> str:
        conversation = f"conv-{n % 5}"
        try:
            identity.verify_code(conversation, wrong[conversation], PEPPER, uow_factory(), now=NOW)
        except ServiceError as error:
            return type(error).__name__
        return "verified"

    outcomes = all_at_once(ATTEMPTS, guess)

    assert len(audited(uow_factory, "code_invalid")) == 5
    assert sorted(outcomes) == ["CodeInvalid"] * 4 + ["VerificationLocked"] * 11
    assert len(audited(uow_factory, "verification_locked")) == 1


def test_fifteen_wrong_factors_sent_at_once_from_fifteen_conversations_get_five_checked(
        uow_factory: Callable[[], UnitOfWork]) -> None:
    def guess(n: int) -> str:
        try:
            identity.identify(f"attacker-{n}", MARIA, f"{1000 + n:04d}", PEPPER, uow_factory(),
                              now=NOW)
        except ServiceError as error:
            return type(error).__name__
        return "identified"

    outcomes = all_at_once(ATTEMPTS, guess)

    failures = audited(uow_factory, "identify_failed")
    assert outcomes == ["IdentificationFailed"] * ATTEMPTS
    assert len(failures) == ATTEMPTS
    assert sum(row.details["checked"] for row in failures) == 5
    [blocked] = audited(uow_factory, "identification_blocked")
    assert (blocked.subject, blocked.details["blocked"]) == (maria_key(uow_factory), "account")


def test_wrong_factors_sent_at_once_to_a_blocked_account_neither_count_nor_move_its_block(
        uow_factory: Callable[[], UnitOfWork]) -> None:
    for n in range(5):
        with pytest.raises(ServiceError):
            identity.identify(f"first-{n}", MARIA, f"{2000 + n:04d}", PEPPER, uow_factory(), now=NOW)
    later = NOW + timedelta(minutes=10)

    def guess(n: int) -> str:
        factor = ZIP if n % 2 else f"{3000 + n:04d}"  # the right ZIP too, from the customer
        try:
            identity.identify(f"later-{n}", MARIA, factor, PEPPER, uow_factory(), now=later)
        except ServiceError as error:
            return type(error).__name__
        return "identified"

    assert all_at_once(ATTEMPTS, guess) == ["IdentificationFailed"] * ATTEMPTS
    with uow_factory() as uow:
        counter = uow.session.scalars(select(AttemptCounter).where(
            AttemptCounter.scope == "identify_account")).one()
        assert counter.blocked_until == NOW + timedelta(minutes=15)
    assert len(audited(uow_factory, "identification_blocked")) == 1
    identity.identify("customer", MARIA, ZIP, PEPPER, uow_factory(), now=NOW + timedelta(minutes=15))


def maria_key(uow_factory: Callable[[], UnitOfWork]) -> str:
    with uow_factory() as uow:
        customer_id = uow.session.scalar(
            select(Account.customer_id).where(Account.account_number == MARIA))
        return f"customer:{customer_id}"


def test_ten_codes_asked_at_once_from_ten_conversations_send_five(
        uow_factory: Callable[[], UnitOfWork]) -> None:
    for n in range(10):
        identity.identify(f"conv-{n}", MARIA, ZIP, PEPPER, uow_factory(), now=NOW)

    def ask(n: int) -> str:
        try:
            identity.send_code(f"conv-{n}", "sms", PEPPER, uow_factory(), now=NOW)
        except CodeSendLimitReached:
            return "refused"
        return "sent"

    outcomes = all_at_once(10, ask)

    assert sorted(outcomes) == ["refused"] * 5 + ["sent"] * 5
    with uow_factory() as uow:
        assert uow.session.scalar(select(func.count()).select_from(OutboxMessage)) == 5
