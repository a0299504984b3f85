"""The console's rules: who sees and works which ticket, notes, resolve/close, audit and metrics."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Optional

import pytest
from fixtures_store import ALEX_LOAN, JAMES, MARIA, UowFactory, customer_id
from sqlalchemy import select

from autofinance.services import console
from autofinance.services.accounts import LeaseBalance, LoanBalance
from autofinance.services.errors import (
    InvalidMetricsPeriod,
    InvalidNote,
    InvalidReply,
    TicketAlreadyClaimed,
    TicketNotClaimed,
    TicketNotFound,
    TicketNotOpen,
    TicketNotYours,
)
from autofinance.services.handoff import open_ticket
from autofinance.adapters.store.models import AuditLog, ConversationStart, HandoffTicket, StaffUser

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
TODAY = NOW.date()
SCRIPT = "<script>alert(1)</script> wants a person"


@dataclass(frozen=True)
class Staff:
    """Shaped like services.staff.StaffPrincipal: the console needs only these."""

    id: int
    username: str
    display_name: str
    role: str

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


def add_staff(uow_factory: UowFactory, username: str, display_name: str, role: str = "agent") -> Staff:
    with uow_factory() as uow:
        user = StaffUser(username=username, display_name=display_name, password_hash="unused",
                         totp_secret="unused", role=role)
        uow.session.add(user)
        uow.commit()
        return Staff(user.id, username, display_name, role)


@pytest.fixture
def supervisor(uow_factory: UowFactory) -> Staff:
    with uow_factory() as uow:
        user = uow.session.scalars(select(StaffUser).where(StaffUser.username == "demo.agent")).one()
        return Staff(user.id, user.username, user.display_name, user.role)


@pytest.fixture
def alice(uow_factory: UowFactory) -> Staff:
    return add_staff(uow_factory, "alice", "Alice Agent")


@pytest.fixture
def bob(uow_factory: UowFactory) -> Staff:
    return add_staff(uow_factory, "bob", "Bob Agent")


def ticket(uow_factory: UowFactory, reason: str = "customer_request", *, ago: timedelta,
           customer: Optional[int] = None, summary: str = "Customer asked for a person.",
           conversation: str = "") -> str:
    conversation = conversation or f"conv-{reason}-{ago.total_seconds():.0f}"
    return open_ticket(conversation, "rest", reason, summary, customer, uow_factory(),
                       now=NOW - ago).ticket_number


@dataclass(frozen=True)
class Audit:
    action: str
    actor: str
    subject: str
    details: dict[str, object]


def audit_rows(uow_factory: UowFactory, action: str = "", subject: str = "") -> list[Audit]:
    query = select(AuditLog).order_by(AuditLog.id)
    if action:
        query = query.where(AuditLog.action == action)
    if subject:
        query = query.where(AuditLog.subject == subject)
    with uow_factory() as uow:
        return [Audit(row.action, row.actor, row.subject, row.details)
                for row in uow.session.scalars(query)]


def status_of(uow_factory: UowFactory, number: str) -> tuple[str, Optional[int]]:
    with uow_factory() as uow:
        row = uow.session.execute(select(HandoffTicket.status, HandoffTicket.assigned_staff_id)
                                  .where(HandoffTicket.ticket_number == number)).one()
        return row[0], row[1]


# --- queue ---------------------------------------------------------------------------------


def test_queue_is_ordered_by_priority_then_longest_waiting(
        uow_factory: UowFactory, supervisor: Staff) -> None:
    confused = ticket(uow_factory, "misunderstanding", ago=timedelta(hours=2))
    asked_late = ticket(uow_factory, "customer_request", ago=timedelta(minutes=5))
    asked_early = ticket(uow_factory, "customer_request", ago=timedelta(minutes=30))
    fraud = ticket(uow_factory, "fraud", ago=timedelta(minutes=1))

    rows = console.queue(supervisor, uow_factory(), now=NOW)

    assert [row.ticket_number for row in rows] == [fraud, asked_early, asked_late, confused]
    assert [row.waiting_seconds for row in rows] == [60, 1800, 300, 7200]
    assert rows[0].priority == 1 and rows[0].reason == "fraud"


def test_agents_see_queued_and_their_own_supervisors_see_every_open_ticket_and_who_holds_it(
        uow_factory: UowFactory, supervisor: Staff, alice: Staff, bob: Staff) -> None:
    alices = ticket(uow_factory, "hardship", ago=timedelta(minutes=20))
    bobs = ticket(uow_factory, "fraud", ago=timedelta(minutes=10))
    waiting = ticket(uow_factory, "frustration", ago=timedelta(minutes=5))
    done = ticket(uow_factory, "fraud", ago=timedelta(minutes=50))
    console.claim(alices, alice, uow_factory(), now=NOW)
    console.claim(bobs, bob, uow_factory(), now=NOW)
    console.claim(done, bob, uow_factory(), now=NOW)
    console.resolve(done, bob, uow_factory(), now=NOW)

    seen_by_alice = console.queue(alice, uow_factory(), now=NOW)
    seen_by_supervisor = console.queue(supervisor, uow_factory(), now=NOW)

    assert [(row.ticket_number, row.mine) for row in seen_by_alice] == [(alices, True), (waiting, False)]
    assert [(row.ticket_number, row.assigned_to) for row in seen_by_supervisor] == [
        (bobs, "Bob Agent"), (alices, "Alice Agent"), (waiting, None)]
    assert seen_by_alice[0].waiting_seconds == 20 * 60  # until claimed, not until now


def test_queue_names_a_verified_customer_by_first_name_and_initial_only(
        uow_factory: UowFactory, supervisor: Staff) -> None:
    ticket(uow_factory, "hardship", ago=timedelta(minutes=2), customer=customer_id(uow_factory, MARIA))
    ticket(uow_factory, "fraud", ago=timedelta(minutes=1))

    rows = console.queue(supervisor, uow_factory(), now=NOW)

    assert [(row.customer, row.verified) for row in rows] == [
        ("Unverified customer", False), ("Maria L.", True)]


# --- claim ---------------------------------------------------------------------------------


def test_claim_takes_a_queued_ticket_and_audits_it(uow_factory: UowFactory, alice: Staff) -> None:
    number = ticket(uow_factory, ago=timedelta(minutes=4), summary=SCRIPT)

    view = console.claim(number, alice, uow_factory(), now=NOW)

    assert (view.status, view.assigned_to, view.mine, view.waiting_seconds) == (
        "claimed", "Alice Agent", True, 240)
    assert status_of(uow_factory, number) == ("claimed", alice.id)
    [row] = audit_rows(uow_factory, "ticket_claimed")
    assert (row.actor, row.subject, row.details) == (f"staff:{alice.id}", number, {"waited_seconds": 240})


def test_a_second_claim_loses_and_says_who_holds_the_ticket(
        uow_factory: UowFactory, alice: Staff, bob: Staff) -> None:
    number = ticket(uow_factory, ago=timedelta(minutes=4))
    console.claim(number, alice, uow_factory(), now=NOW)

    with pytest.raises(TicketAlreadyClaimed, match="Alice Agent has already claimed"):
        console.claim(number, bob, uow_factory(), now=NOW)
    with pytest.raises(TicketAlreadyClaimed, match="You have already claimed"):
        console.claim(number, alice, uow_factory(), now=NOW)
    assert status_of(uow_factory, number) == ("claimed", alice.id)
    assert len(audit_rows(uow_factory, "ticket_claimed")) == 1


def test_claiming_an_unknown_or_finished_ticket_is_refused(
        uow_factory: UowFactory, supervisor: Staff, alice: Staff) -> None:
    number = ticket(uow_factory, ago=timedelta(minutes=4))
    console.close(number, supervisor, uow_factory(), now=NOW)

    with pytest.raises(TicketNotFound):
        console.claim("HT00000000", alice, uow_factory(), now=NOW)
    with pytest.raises(TicketNotOpen):
        console.claim(number, alice, uow_factory(), now=NOW)


# --- detail and access ---------------------------------------------------------------------


def test_detail_shows_a_masked_account_summary_and_notes_in_order(
        uow_factory: UowFactory, alice: Staff, supervisor: Staff) -> None:
    number = ticket(uow_factory, "hardship", ago=timedelta(minutes=3),
                    customer=customer_id(uow_factory, MARIA))
    console.claim(number, alice, uow_factory(), now=NOW)
    console.add_note(number, alice, "  Called back once.  ", uow_factory(), now=NOW)
    console.add_note(number, supervisor, "Check the hardship options.", uow_factory(),
                     now=NOW + timedelta(minutes=1))

    detail = console.ticket_detail(number, alice, uow_factory(), TODAY, now=NOW)

    assert detail.customer_name == "Maria Lopez"
    assert isinstance(detail.account, LoanBalance)
    assert detail.account.account_masked == "****4821"
    assert "7301004821" not in repr(detail)
    assert [(note.author, note.body) for note in detail.notes] == [
        ("Alice Agent", "Called back once."), ("Demo Agent", "Check the hardship options.")]
    assert detail.claimed_at == NOW and detail.resolved_at is None


def test_detail_of_a_customer_with_a_loan_and_a_lease_shows_both_masked(
        uow_factory: UowFactory, alice: Staff) -> None:
    """The console is not a chat: it shows every open account, never asks which."""
    number = ticket(uow_factory, "customer_request", ago=timedelta(minutes=3),
                    customer=customer_id(uow_factory, ALEX_LOAN))

    detail = console.ticket_detail(number, alice, uow_factory(), TODAY, now=NOW)

    assert [type(a) for a in detail.accounts] == [LoanBalance, LeaseBalance]
    assert [(a.account_masked, a.vehicle) for a in detail.accounts] == [
        ("****9911", "2021 Toyota Camry"), ("****9922", "2023 Honda CR-V")]
    assert detail.account == detail.accounts[0]
    assert "7301009911" not in repr(detail) and "7301009922" not in repr(detail)


def test_detail_of_an_unverified_customer_has_no_account(uow_factory: UowFactory, alice: Staff) -> None:
    number = ticket(uow_factory, "fraud", ago=timedelta(minutes=3))

    detail = console.ticket_detail(number, alice, uow_factory(), TODAY, now=NOW)

    assert (detail.customer_name, detail.account, detail.ticket.customer) == (
        None, None, "Unverified customer")


def test_an_agent_cannot_open_note_or_act_on_another_agents_ticket(
        uow_factory: UowFactory, alice: Staff, bob: Staff, supervisor: Staff) -> None:
    number = ticket(uow_factory, ago=timedelta(minutes=3), customer=customer_id(uow_factory, JAMES))
    console.ticket_detail(number, bob, uow_factory(), TODAY, now=NOW)  # queued: anyone may look
    console.claim(number, alice, uow_factory(), now=NOW)

    with pytest.raises(TicketNotYours):
        console.ticket_detail(number, bob, uow_factory(), TODAY, now=NOW)
    with pytest.raises(TicketNotYours):
        console.add_note(number, bob, "mine now", uow_factory(), now=NOW)
    for action in ("open", "reply", "resolve", "close"):
        with pytest.raises(TicketNotYours):
            console.conversation_of(number, bob, uow_factory(), action)  # type: ignore[arg-type]
    with pytest.raises(TicketNotYours):
        console.resolve(number, bob, uow_factory(), now=NOW)
    # a supervisor may look and finish, but only the holder speaks to the customer
    assert console.ticket_detail(number, supervisor, uow_factory(), TODAY, now=NOW).ticket.assigned_to == "Alice Agent"
    with pytest.raises(TicketNotYours):
        console.conversation_of(number, supervisor, uow_factory(), "reply")
    assert console.conversation_of(number, alice, uow_factory(), "reply") == "conv-customer_request-180"
    with pytest.raises(TicketNotFound):
        console.ticket_detail("HT12345678", alice, uow_factory(), TODAY, now=NOW)


def test_replying_needs_a_claim_and_some_text(uow_factory: UowFactory, alice: Staff) -> None:
    number = ticket(uow_factory, ago=timedelta(minutes=3))

    with pytest.raises(TicketNotClaimed):
        console.conversation_of(number, alice, uow_factory(), "reply")
    assert console.clean_reply("  Hello, I'm Alice.  ") == "Hello, I'm Alice."
    for bad in ("", "   \n ", "x" * 1001):
        with pytest.raises(InvalidReply):
            console.clean_reply(bad)
    assert console.clean_reply("x" * 1000) == "x" * 1000

    console.reply_sent(number, alice, 17, uow_factory(), now=NOW)
    [row] = audit_rows(uow_factory, "ticket_reply_sent")
    assert (row.actor, row.subject, row.details) == (f"staff:{alice.id}", number, {"length": 17})


# --- notes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["", "   ", "\n\t", "x" * 2001])
def test_a_note_must_have_1_to_2000_characters(uow_factory: UowFactory, alice: Staff, body: str) -> None:
    number = ticket(uow_factory, ago=timedelta(minutes=3))

    with pytest.raises(InvalidNote):
        console.add_note(number, alice, body, uow_factory(), now=NOW)
    assert audit_rows(uow_factory, "ticket_note_added") == []


def test_a_note_is_stored_stripped_and_its_audit_row_holds_only_its_length(
        uow_factory: UowFactory, alice: Staff) -> None:
    number = ticket(uow_factory, ago=timedelta(minutes=3))

    note = console.add_note(number, alice, " " + "y" * 2000 + " ", uow_factory(), now=NOW)

    assert (note.author, note.body, note.created_at) == ("Alice Agent", "y" * 2000, NOW)
    [row] = audit_rows(uow_factory, "ticket_note_added")
    assert (row.actor, row.subject, row.details) == (f"staff:{alice.id}", number, {"length": 2000})


# --- resolve and close ---------------------------------------------------------------------


def test_the_holder_resolves_a_claimed_ticket_once(uow_factory: UowFactory, alice: Staff) -> None:
    number = ticket(uow_factory, ago=timedelta(minutes=3), summary=SCRIPT)
    with pytest.raises(TicketNotClaimed):
        console.resolve(number, alice, uow_factory(), now=NOW)
    console.claim(number, alice, uow_factory(), now=NOW)

    view = console.resolve(number, alice, uow_factory(), now=NOW + timedelta(minutes=7))

    assert view.status == "resolved"
    detail = console.ticket_detail(number, alice, uow_factory(), TODAY, now=NOW)
    assert detail.resolved_at == NOW + timedelta(minutes=7)
    with pytest.raises(TicketNotOpen):
        console.resolve(number, alice, uow_factory(), now=NOW)
    [row] = audit_rows(uow_factory, "ticket_resolved")
    assert (row.actor, row.subject, row.details) == (
        f"staff:{alice.id}", number, {"previous_status": "claimed"})
    assert number not in [row.ticket_number for row in console.queue(alice, uow_factory(), now=NOW)]


def test_closing_a_queued_ticket_is_for_supervisors_only(
        uow_factory: UowFactory, alice: Staff, bob: Staff, supervisor: Staff) -> None:
    queued = ticket(uow_factory, ago=timedelta(minutes=3))
    held = ticket(uow_factory, "fraud", ago=timedelta(minutes=2))
    console.claim(held, bob, uow_factory(), now=NOW)

    with pytest.raises(TicketNotClaimed):
        console.close(queued, alice, uow_factory(), now=NOW)
    assert console.close(queued, supervisor, uow_factory(), now=NOW).status == "closed"
    assert console.close(held, supervisor, uow_factory(), now=NOW).status == "closed"
    rows = audit_rows(uow_factory, "ticket_closed")
    assert {(row.actor, row.subject, row.details["previous_status"]) for row in rows} == {
        (f"staff:{supervisor.id}", queued, "queued"), (f"staff:{supervisor.id}", held, "claimed")}


def test_audit_rows_never_hold_what_the_customer_wrote(
        uow_factory: UowFactory, alice: Staff) -> None:
    number = ticket(uow_factory, ago=timedelta(minutes=3), summary=SCRIPT)
    console.claim(number, alice, uow_factory(), now=NOW)
    console.add_note(number, alice, "private note text", uow_factory(), now=NOW)
    console.reply_sent(number, alice, 12, uow_factory(), now=NOW)
    console.close(number, alice, uow_factory(), now=NOW)

    rows = audit_rows(uow_factory, subject=number)
    assert [row.action for row in rows] == [
        "ticket_claimed", "ticket_note_added", "ticket_reply_sent", "ticket_closed"]
    assert all(row.actor == f"staff:{alice.id}" for row in rows)
    assert not any("script" in str(row.details) or "private" in str(row.details) for row in rows)


# --- metrics -------------------------------------------------------------------------------


def add_ticket_row(uow_factory: UowFactory, number: str, reason: str, conversation: str,
                   created_at: datetime, claimed_after: Optional[timedelta] = None) -> None:
    with uow_factory() as uow:
        uow.session.add(HandoffTicket(
            ticket_number=number, conversation_id=conversation, channel="rest", reason=reason,
            priority=3, summary="s", created_at=created_at,
            status="claimed" if claimed_after is not None else "queued",
            claimed_at=created_at + claimed_after if claimed_after is not None else None))
        uow.commit()


def add_sessions(uow_factory: UowFactory, *starts: tuple[str, datetime]) -> None:
    with uow_factory() as uow:
        for conversation, started_at in starts:
            uow.session.add(ConversationStart(conversation_id=conversation, channel="rest",
                                              started_at=started_at))
        uow.commit()


def test_metrics_count_handoffs_per_reason_and_day_waits_and_containment(
        uow_factory: UowFactory) -> None:
    now = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
    today, yesterday = now.replace(hour=1), now - timedelta(days=1)
    add_ticket_row(uow_factory, "HT1", "fraud", "c1", today, claimed_after=timedelta(seconds=60))
    add_ticket_row(uow_factory, "HT2", "fraud", "c2", yesterday, claimed_after=timedelta(seconds=120))
    add_ticket_row(uow_factory, "HT3", "hardship", "c3", yesterday, claimed_after=timedelta(seconds=600))
    add_ticket_row(uow_factory, "HT4", "customer_request", "c4", now - timedelta(minutes=5))
    add_ticket_row(uow_factory, "HT5", "fraud", "old", now - timedelta(days=3))  # before the period
    add_sessions(uow_factory, *[(f"c{i}", today) for i in range(1, 5)],
                 *[(f"self-served-{i}", yesterday) for i in range(6)],
                 ("old", now - timedelta(days=3)))

    result = console.metrics(uow_factory(), days=2, now=now)

    assert (result.since, result.days, result.handoffs) == (date(2026, 11, 23), 2, 4)
    assert result.per_reason == {"fraud": 2, "verification_locked": 0, "hardship": 1,
                                 "frustration": 0, "customer_request": 1, "lease_end": 0,
                                 "fee_waiver": 0, "total_loss": 0, "reminder_callback": 0, "misunderstanding": 0}
    assert [(day.day, day.count) for day in result.per_day] == [
        (date(2026, 11, 23), 2), (date(2026, 11, 24), 2)]
    assert result.average_wait_seconds == pytest.approx(260.0)
    assert result.median_wait_seconds == 120.0
    assert result.waiting_now == 2  # HT4, and HT5 still waits although it is older than the period
    assert (result.sessions, result.contained_sessions) == (10, 6)
    assert result.containment == pytest.approx(0.6)


def test_metrics_of_an_empty_period_have_no_averages_or_containment(uow_factory: UowFactory) -> None:
    result = console.metrics(uow_factory(), days=14, now=NOW)

    assert (result.handoffs, result.average_wait_seconds, result.median_wait_seconds,
            result.containment, result.sessions) == (0, None, None, None, 0)
    assert len(result.per_day) == 14 and result.per_day[-1].day == TODAY
    for days in (0, 91):
        with pytest.raises(InvalidMetricsPeriod):
            console.metrics(uow_factory(), days=days, now=NOW)
