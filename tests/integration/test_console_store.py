"""The console's store rules on SQLite and PostgreSQL: one claim wins, queue order, metrics."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Callable, Optional

import pytest
from sqlalchemy import Engine, func, select

from autofinance.services import console
from autofinance.services.errors import TicketAlreadyClaimed
from autofinance.adapters.store.db import UnitOfWork, session_factory
from autofinance.adapters.store.models import AuditLog, ConversationStart, HandoffTicket, StaffUser

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
AGENTS = 6


@dataclass(frozen=True)
class Staff:
    id: int
    display_name: str
    role: str = "agent"

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


@pytest.fixture
def uow_factory(engine: Engine) -> Callable[[], UnitOfWork]:
    sessions = session_factory(engine)
    return lambda: UnitOfWork(sessions)


@pytest.fixture
def staff(uow_factory: Callable[[], UnitOfWork]) -> list[Staff]:
    """Agents 0..AGENTS-1, then a supervisor last."""
    roles = ["agent"] * AGENTS + ["supervisor"]
    with uow_factory() as uow:
        users = [StaffUser(username=f"staff{i}", display_name=f"Staff {i}", password_hash="unused",
                           totp_secret="unused", role=role) for i, role in enumerate(roles)]
        uow.session.add_all(users)
        uow.commit()
        return [Staff(user.id, user.display_name, user.role) for user in users]


def add_ticket(uow_factory: Callable[[], UnitOfWork], number: str, *, priority: int = 3,
               reason: str = "customer_request", created_at: datetime = NOW,
               claimed_after: Optional[timedelta] = None, conversation: str = "") -> None:
    with uow_factory() as uow:
        uow.session.add(HandoffTicket(
            ticket_number=number, conversation_id=conversation or f"conv-{number}", channel="rest",
            reason=reason, priority=priority, summary="Asked for a person.", created_at=created_at,
            status="queued" if claimed_after is None else "claimed",
            claimed_at=None if claimed_after is None else created_at + claimed_after))
        uow.commit()


def test_of_many_agents_claiming_at_once_exactly_one_wins(
        uow_factory: Callable[[], UnitOfWork], staff: list[Staff]) -> None:
    add_ticket(uow_factory, "HTRACE001")
    agents = staff[:AGENTS]
    start = threading.Barrier(len(agents))

    def attempt(agent: Staff) -> str:
        start.wait()
        try:
            console.claim("HTRACE001", agent, uow_factory(), now=NOW)
            return "won"
        except TicketAlreadyClaimed:
            return "lost"

    with ThreadPoolExecutor(max_workers=len(agents)) as pool:
        outcomes = list(pool.map(attempt, agents))

    assert sorted(outcomes) == ["lost"] * (len(agents) - 1) + ["won"]
    winner = agents[outcomes.index("won")]
    with uow_factory() as uow:
        stored = uow.session.execute(select(HandoffTicket.status, HandoffTicket.assigned_staff_id)
                                     .where(HandoffTicket.ticket_number == "HTRACE001")).one()
        claims = uow.session.scalar(select(func.count()).select_from(AuditLog)
                                    .where(AuditLog.action == "ticket_claimed"))
    assert tuple(stored) == ("claimed", winner.id)
    assert claims == 1


def test_the_queue_is_ordered_by_priority_and_age_and_shows_each_role_its_tickets(uow_factory: Callable[[], UnitOfWork], staff: list[Staff]) -> None:
    agent, other, supervisor = staff[0], staff[1], staff[-1]
    add_ticket(uow_factory, "HTLOW", priority=4, created_at=NOW - timedelta(hours=3))
    add_ticket(uow_factory, "HTNEW", priority=3, created_at=NOW - timedelta(minutes=1))
    add_ticket(uow_factory, "HTOLD", priority=3, created_at=NOW - timedelta(minutes=9))
    add_ticket(uow_factory, "HTURGENT", priority=1, created_at=NOW)
    add_ticket(uow_factory, "HTOTHER", priority=2, created_at=NOW - timedelta(minutes=2))
    console.claim("HTOTHER", other, uow_factory(), now=NOW)

    mine = [row.ticket_number for row in console.queue(agent, uow_factory(), now=NOW)]
    everything = [(row.ticket_number, row.assigned_to)
                  for row in console.queue(supervisor, uow_factory(), now=NOW)]

    assert mine == ["HTURGENT", "HTOLD", "HTNEW", "HTLOW"]
    assert everything == [("HTURGENT", None), ("HTOTHER", "Staff 1"), ("HTOLD", None),
                          ("HTNEW", None), ("HTLOW", None)]


def test_metrics_on_a_crafted_dataset(uow_factory: Callable[[], UnitOfWork], staff: list[Staff]) -> None:
    late_yesterday = datetime(2026, 11, 23, 23, 59, tzinfo=timezone.utc)
    add_ticket(uow_factory, "HTA", reason="fraud", created_at=NOW, claimed_after=timedelta(seconds=30))
    add_ticket(uow_factory, "HTB", reason="hardship", created_at=late_yesterday,
               claimed_after=timedelta(seconds=90))
    add_ticket(uow_factory, "HTC", reason="hardship", created_at=late_yesterday,
               claimed_after=timedelta(minutes=10))
    add_ticket(uow_factory, "HTD", reason="frustration", created_at=NOW - timedelta(days=3))
    add_ticket(uow_factory, "HTE", reason="fraud", created_at=NOW - timedelta(days=9))  # outside
    with uow_factory() as uow:
        uow.session.add_all(
            [ConversationStart(conversation_id=f"conv-HT{letter}", channel="rest", started_at=NOW)
             for letter in "ABCD"]
            + [ConversationStart(conversation_id=f"self-{i}", channel="rest",
                                 started_at=NOW - timedelta(days=1)) for i in range(12)]
            + [ConversationStart(conversation_id="conv-HTE", channel="rest",
                                 started_at=NOW - timedelta(days=9))])
        uow.commit()

    result = console.metrics(uow_factory(), days=7, now=NOW)

    assert result.since == date(2026, 11, 18) and result.handoffs == 4
    assert {reason: count for reason, count in result.per_reason.items() if count} == {
        "fraud": 1, "hardship": 2, "frustration": 1}
    per_day = {day.day: day.count for day in result.per_day}
    assert len(per_day) == 7
    assert (per_day[date(2026, 11, 21)], per_day[date(2026, 11, 23)], per_day[date(2026, 11, 24)]) == (1, 2, 1)
    assert result.average_wait_seconds == pytest.approx(240.0)
    assert result.median_wait_seconds == pytest.approx(90.0)
    assert result.waiting_now == 2
    assert (result.sessions, result.contained_sessions, result.containment) == (16, 12, 0.75)
