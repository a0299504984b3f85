"""Two reminder schedulers on one PostgreSQL store, one killed (SIGKILL) in the middle of a
batch and started again: every due reminder is sent exactly once, each with its one message.

The schedulers are the real command (`python -m autofinance reminders --every ...`), as the
launcher and the deployment files run it; the store holds `CUSTOMERS` customers each with a
payment due in two days, so a batch takes a few seconds and the kill lands inside it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Iterator
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import func, select

from autofinance.adapters.store.db import make_engine, session_factory
from autofinance.adapters.store.migrate import upgrade_to_head
from autofinance.adapters.store.models import Account, Customer, JobLease, OutboxMessage, Reminder
from autofinance.config import PROJECT_ROOT, Settings
from tests.e2e.conftest import reachable

CUSTOMERS = 400
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def database_url() -> Iterator[str]:
    if not reachable("127.0.0.1", 5432):
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432")
    name = f"reminders_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _customers_due_in_two_days(database_url: str) -> None:
    upgrade_to_head(database_url)
    today = datetime.now(ZoneInfo(Settings().lender_timezone)).date()
    due = today + timedelta(days=2)
    engine = make_engine(database_url)
    with session_factory(engine)() as session:
        for i in range(CUSTOMERS):
            customer = Customer(first_name="Test", last_name=f"Customer{i}", email=f"c{i}@example.com",
                                mobile=f"+1555{i:07d}", zip_code_hash="x", date_of_birth_hash="x",
                                ssn_last4_hash="x", zip_code_sealed="x")
            session.add(customer)
            session.flush()
            session.add(Account(account_number=f"{7500000000 + i}", customer_id=customer.id,
                                product="loan", opened_on=date(2025, 1, 1),
                                first_payment_date=date(2025, 2, 1), maturity_date=date(2030, 1, 1),
                                apr=Decimal("6.9"), principal_balance=Decimal("5000.00"),
                                monthly_payment=Decimal("300.00"), payment_due_day=min(due.day, 28),
                                next_due_date=due, payments_remaining=40))
        session.commit()
    engine.dispose()


def _scheduler(database_url: str, log: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url, "REMINDER_EVERY_SECONDS": "1",
           "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen([sys.executable, "-m", "autofinance", "reminders", "--every", "0.5"],
                            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _counts(session_maker) -> tuple[int, int, int, str]:  # type: ignore[no-untyped-def]
    with session_maker() as session:
        ledger = session.scalar(select(func.count()).select_from(Reminder)) or 0
        events = session.scalar(select(func.count()).select_from(
            select(Reminder.customer_id, Reminder.kind, Reminder.event_key).distinct().subquery())) or 0
        messages = session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind == "reminder_payment_due")) or 0
        holder = session.scalar(select(JobLease.holder)) or ""
        return ledger, events, messages, holder


def test_two_schedulers_and_a_kill_mid_batch_send_each_reminder_exactly_once(
    database_url: str, tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    _customers_due_in_two_days(database_url)
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    with open(tmp_path / "schedulers.log", "ab") as log:
        schedulers = [_scheduler(database_url, log), _scheduler(database_url, log)]
        try:
            deadline = time.monotonic() + 60
            while True:  # wait for the batch to start, then kill whichever holds the lease
                ledger, _, _, holder = _counts(sessions)
                if ledger > 10:
                    break
                assert time.monotonic() < deadline, "no scheduler started sending"
                time.sleep(0.02)
            victim = next(p for p in schedulers if f":{p.pid}:" in holder)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            killed_at = _counts(sessions)[0]
            schedulers.append(_scheduler(database_url, log))  # as the launcher starts it again

            deadline = time.monotonic() + 90
            while _counts(sessions)[0] < CUSTOMERS:
                assert time.monotonic() < deadline, f"stuck at {_counts(sessions)}"
                time.sleep(0.2)
            time.sleep(2)  # a few more passes of both survivors: still nothing more
            ledger, events, messages, _ = _counts(sessions)
            with sessions() as session:
                orphans = session.scalar(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.kind == "reminder_payment_due",
                    OutboxMessage.id.not_in(select(Reminder.outbox_id))))
                token = session.scalar(select(JobLease.token))
        finally:
            for process in schedulers:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    process.wait(10)
            engine.dispose()

    assert 10 < killed_at < CUSTOMERS, "the kill landed outside the batch"
    assert (ledger, events, messages) == (CUSTOMERS, CUSTOMERS, CUSTOMERS)
    assert orphans == 0  # no message without its ledger row
    assert token is not None and token >= 2  # the lease changed hands after the kill
