"""A hand-off request: who the customer is, the ticket and who can answer, in one transaction."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Optional

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import AuditLog, HandoffTicket, StaffSession, StaffUser
from autofinance.services import availability, handoff, identity
from tests.unit.fixtures_store import MARIA, UowFactory, count, customer_id

ALWAYS = "mon-sun 00:00-24:00"
NEW_YORK = "America/New_York"


def summarise(name: Optional[str]) -> str:
    return f"Customer {name or 'not verified'}."


def request(uow_factory: UowFactory, clock: Any, conversation: str = "conv-1",
            channel: Optional[str] = "rest", lender_timezone: str = NEW_YORK,
            support_hours: str = ALWAYS) -> handoff.HandoffOutcome:
    return handoff.request_handoff(conversation, channel, "customer_request", summarise,
                                   lender_timezone, support_hours, uow_factory(), now=clock.now)


def agent_signs_in(uow_factory: UowFactory, clock: Any) -> None:
    with uow_factory() as uow:
        agent = uow.session.scalar(select(StaffUser).where(StaffUser.username == "demo.agent"))
        uow.session.add(StaffSession(staff_id=agent.id, token_hash="f" * 64, created_at=clock.now,
                                     last_seen_at=clock.now,
                                     expires_at=clock.now + timedelta(hours=1)))
        uow.commit()


def test_a_verified_customer_is_named_on_the_ticket_in_one_transaction(
        uow_factory: UowFactory, clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    maria = customer_id(uow_factory, MARIA)
    identity.start_portal_session("conv-1", maria, uow_factory(), now=clock.now, channel="rest")
    agent_signs_in(uow_factory, clock)
    opened: list[UnitOfWork] = []
    enter = UnitOfWork.__enter__

    def counted(uow: UnitOfWork) -> UnitOfWork:
        opened.append(uow)
        return enter(uow)

    monkeypatch.setattr(UnitOfWork, "__enter__", counted)
    outcome = request(uow_factory, clock)

    assert len(opened) == 1
    assert outcome.first_name == "Maria" and outcome.ticket.created and outcome.ticket.position == 1
    assert outcome.staffing is not None and outcome.staffing.available
    with uow_factory() as uow:
        ticket = uow.session.scalars(select(HandoffTicket)).one()
        assert (ticket.customer_id, ticket.channel) == (maria, "rest")
        assert ticket.summary == "Customer Maria."


def test_an_unverified_customer_still_gets_a_ticket(uow_factory: UowFactory, clock: Any) -> None:
    outcome = request(uow_factory, clock, channel=None)

    assert outcome.first_name is None and outcome.ticket.created
    assert outcome.staffing is not None and not outcome.staffing.available  # nobody signed in
    with uow_factory() as uow:
        ticket = uow.session.scalars(select(HandoffTicket)).one()
        assert (ticket.customer_id, ticket.channel) == (None, "unknown")
        assert ticket.summary == "Customer not verified."
        row = uow.session.scalars(
            select(AuditLog).where(AuditLog.action == "handoff_requested")).one()
        assert (row.actor, row.subject) == ("system", "conv-1")
        assert row.details == {"reason": "customer_request", "priority": 3}


def test_a_session_on_another_channel_does_not_name_the_customer(
        uow_factory: UowFactory, clock: Any) -> None:
    identity.start_portal_session("conv-1", customer_id(uow_factory, MARIA), uow_factory(),
                                  now=clock.now, channel="socketio")

    assert request(uow_factory, clock, channel="rest").first_name is None


def test_outside_support_hours_the_outcome_says_when_the_team_is_back(
        uow_factory: UowFactory, clock: Any) -> None:
    agent_signs_in(uow_factory, clock)  # the clock's Tuesday 10:00 in New York: closed below
    outcome = request(uow_factory, clock, support_hours="mon 09:00-17:00")

    assert outcome.staffing is not None and not outcome.staffing.available
    assert outcome.staffing.when_back() == "Monday at 9:00 AM"


def test_a_hand_off_keeps_its_ticket_when_staffing_cannot_be_worked_out(
        uow_factory: UowFactory, clock: Any) -> None:
    outcome = request(uow_factory, clock, lender_timezone="Nowhere/Atlantis")

    assert outcome.staffing is None and outcome.ticket.created
    assert count(uow_factory, HandoffTicket) == 1


def test_a_hand_off_keeps_its_ticket_when_staffing_cannot_be_read(
        uow_factory: UowFactory, clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(session: Session, *args: Any) -> availability.Staffing:
        session.execute(text("SELECT * FROM no_such_table"))
        raise AssertionError("unreachable")

    monkeypatch.setattr(availability, "staffing", broken)
    outcome = request(uow_factory, clock)

    assert outcome.staffing is None
    with uow_factory() as uow:
        number = uow.session.scalar(select(HandoffTicket.ticket_number))
        assert number == outcome.ticket.ticket_number
        assert uow.session.scalar(select(func.count()).select_from(AuditLog)
                                  .where(AuditLog.action == "handoff_requested")) == 1


def test_a_waiting_conversation_keeps_its_ticket_and_place(
        uow_factory: UowFactory, clock: Any) -> None:
    first = request(uow_factory, clock)
    clock.advance(minutes=1)
    again = request(uow_factory, clock)

    assert not again.ticket.created and again.ticket.ticket_number == first.ticket.ticket_number
    assert count(uow_factory, HandoffTicket) == 1


def _set_status(uow_factory: UowFactory, status: str) -> None:
    with uow_factory() as uow:
        uow.session.scalars(select(HandoffTicket)).one().status = status
        uow.commit()


def test_a_claimed_ticket_silences_the_assistant_whatever_the_tracker_says(
    uow_factory: UowFactory, clock: Any,
) -> None:
    def silent(paused: bool) -> bool:
        return handoff.assistant_must_stay_silent("conv-1", paused, uow_factory())

    assert (silent(False), silent(True)) == (False, False)  # no ticket
    request(uow_factory, clock)
    assert (silent(False), silent(True)) == (False, True)  # waiting: as the assistant left it
    _set_status(uow_factory, "claimed")
    assert (silent(False), silent(True)) == (True, True)  # an agent holds it: always
    _set_status(uow_factory, "resolved")
    assert (silent(False), silent(True)) == (False, False)  # handed back
    assert not handoff.assistant_must_stay_silent("conv-other", True, uow_factory())
