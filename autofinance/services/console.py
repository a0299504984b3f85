"""The support console's rules over hand-off tickets: who sees, claims and closes what, and metrics.

Plain functions over the store, so the web layer stays thin and the rules are tested without a
server. Access is decided here, once: an agent works the open queue and their own tickets, a
supervisor sees everything. Every change a person makes leaves an `AuditLog` row (actor
`staff:<id>`, subject the ticket number) whose details never hold what the customer wrote.
The conversation id never leaves this module in a view: for SMS it is the customer's phone
number, so the browser gets ticket numbers only.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal, Optional, Protocol, Union

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from autofinance.services import audit
from autofinance.services.accounts import (
    AccountChoice, LeaseBalance, LoanBalance, balance_summary, choosing, open_accounts,
)
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
from autofinance.services.handoff import OPEN_STATUSES, PRIORITY_BY_REASON
from autofinance.services.reminders import ReminderFigures, reminder_figures
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import (
    ConversationStart,
    Customer,
    HandoffTicket,
    StaffUser,
    TicketNote,
)
from autofinance.domain.clock import utcnow

NOTE_MAX = 2000
REPLY_MAX = 1000
METRICS_MAX_DAYS = 90
UNVERIFIED = "Unverified customer"

Action = Literal["open", "reply", "resolve", "close"]


class Viewer(Protocol):
    """The signed-in staff member (`services.staff.StaffPrincipal` satisfies it)."""

    @property
    def id(self) -> int: ...

    @property
    def display_name(self) -> str: ...

    @property
    def is_supervisor(self) -> bool: ...


@dataclass(frozen=True)
class TicketView:
    """One ticket as a queue row; `mine` is relative to the viewer who asked."""

    ticket_number: str
    reason: str
    priority: int
    channel: str
    status: str
    summary: str
    customer: str  # "Maria L." or "Unverified customer": enough to greet, not to identify
    verified: bool
    created_at: datetime
    waiting_seconds: int  # queued until claimed, or until now while still queued
    assigned_to: Optional[str]
    mine: bool
    followup: Optional[str]


@dataclass(frozen=True)
class NoteView:
    author: str
    body: str
    created_at: datetime


@dataclass(frozen=True)
class TicketDetail:
    ticket: TicketView
    customer_name: Optional[str]  # full name, verified customers only
    account: Optional[Union[LoanBalance, LeaseBalance]]  # masked, read-only: the oldest open one
    notes: tuple[NoteView, ...]
    claimed_at: Optional[datetime]
    resolved_at: Optional[datetime]
    # every open account of the customer (a loan and a lease, say), masked, oldest first
    accounts: tuple[Union[LoanBalance, LeaseBalance], ...] = ()


@dataclass(frozen=True)
class DayCount:
    day: date
    count: int


@dataclass(frozen=True)
class Metrics:
    """Hand-offs created from `since` (00:00 UTC) up to `until`, and the queue right now."""

    since: date
    until: datetime
    days: int
    handoffs: int
    per_reason: dict[str, int]
    per_day: tuple[DayCount, ...]
    average_wait_seconds: Optional[float]
    median_wait_seconds: Optional[float]
    waiting_now: int
    sessions: int
    contained_sessions: int
    containment: Optional[float]  # 0..1, share of sessions that never needed a person
    reminders: ReminderFigures  # reminders sent in the period, delivered, answered, paid after


# --- reading -------------------------------------------------------------------------------

_Holder = aliased(StaffUser)


def _rows(ticket_filter: ColumnElement[bool]) -> Select[Any]:
    return (
        select(HandoffTicket, Customer.first_name, Customer.last_name, _Holder.display_name)
        .outerjoin(Customer, Customer.id == HandoffTicket.customer_id)
        .outerjoin(_Holder, _Holder.id == HandoffTicket.assigned_staff_id)
        .where(ticket_filter)
    )


def _view(row: Any, viewer: Viewer, now: datetime) -> TicketView:
    ticket, first, last, holder = row
    verified = ticket.customer_id is not None
    # the wait for a person ends at the claim (or at a close that came without one)
    waited_until = ticket.claimed_at or (ticket.resolved_at if ticket.status != "queued" else now) or now
    return TicketView(
        ticket_number=ticket.ticket_number,
        reason=ticket.reason,
        priority=ticket.priority,
        channel=ticket.channel,
        status=ticket.status,
        summary=ticket.summary,
        customer=f"{first} {last[:1]}." if verified else UNVERIFIED,
        verified=verified,
        created_at=ticket.created_at,
        waiting_seconds=max(0, int((waited_until - ticket.created_at).total_seconds())),
        assigned_to=holder,
        mine=ticket.assigned_staff_id == viewer.id,
        followup=ticket.followup,
    )


def _load(session: Session, ticket_number: str) -> Any:
    row = session.execute(_rows(HandoffTicket.ticket_number == ticket_number)).first()
    if row is None:
        raise TicketNotFound()
    return row


def _require(ticket: HandoffTicket, viewer: Viewer, action: Action) -> None:
    """Raises unless `viewer` may do `action` to `ticket` now; the one place access is decided."""
    held_by_viewer = ticket.assigned_staff_id == viewer.id
    if action == "open":
        if not (viewer.is_supervisor or ticket.status == "queued" or held_by_viewer):
            raise TicketNotYours()
        return
    if ticket.status not in OPEN_STATUSES:
        raise TicketNotOpen()
    if action == "close" and ticket.status == "queued" and viewer.is_supervisor:
        return  # e.g. a customer who left long ago: nobody needs to claim it first
    if ticket.status == "queued":
        raise TicketNotClaimed()
    if held_by_viewer or (viewer.is_supervisor and action != "reply"):
        return
    raise TicketNotYours()  # only the holder speaks to the customer


def queue(viewer: Viewer, uow: UnitOfWork, now: Optional[datetime] = None) -> list[TicketView]:
    """Open tickets, most urgent first, then longest waiting: what the viewer may work on."""
    now = now or utcnow()
    visible: ColumnElement[bool] = HandoffTicket.status.in_(OPEN_STATUSES)
    if not viewer.is_supervisor:
        visible = or_(HandoffTicket.status == "queued",
                      and_(HandoffTicket.status == "claimed",
                           HandoffTicket.assigned_staff_id == viewer.id))
    with uow:
        rows = uow.session.execute(_rows(visible).order_by(
            HandoffTicket.priority, HandoffTicket.created_at, HandoffTicket.id))
        return [_view(row, viewer, now) for row in rows]


def ticket_detail(ticket_number: str, viewer: Viewer, uow: UnitOfWork, today: date,
                  now: Optional[datetime] = None) -> TicketDetail:
    """The ticket, its notes and, for a verified customer, the masked account summary."""
    now = now or utcnow()
    with uow:
        session = uow.session
        row = _load(session, ticket_number)
        ticket, first, last, _ = row
        _require(ticket, viewer, "open")
        view = _view(row, viewer, now)
        notes = tuple(
            NoteView(author=author, body=note.body, created_at=note.created_at)
            for note, author in session.execute(
                select(TicketNote, StaffUser.display_name)
                .join(StaffUser, StaffUser.id == TicketNote.staff_id)
                .where(TicketNote.ticket_id == ticket.id)
                .order_by(TicketNote.created_at, TicketNote.id))
        )
        customer_id = ticket.customer_id
        claimed_at, resolved_at = ticket.claimed_at, ticket.resolved_at
    summaries: tuple[Union[LoanBalance, LeaseBalance], ...] = ()
    if customer_id is not None:
        with uow:
            ids = [account.id for account in open_accounts(uow.session, customer_id)]
        summaries = tuple(_summary(customer_id, account_id, uow, today) for account_id in ids)
    return TicketDetail(
        ticket=view,
        customer_name=f"{first} {last}" if customer_id is not None else None,
        account=summaries[0] if summaries else None,  # none: a customer whose accounts are all closed
        accounts=summaries,
        notes=notes,
        claimed_at=claimed_at,
        resolved_at=resolved_at,
    )


def _summary(customer_id: int, account_id: int, uow: UnitOfWork,
             today: date) -> Union[LoanBalance, LeaseBalance]:
    """One account's masked summary: the console looks at each account, not at a chat's choice."""
    with choosing(AccountChoice(account_id)):
        return balance_summary(customer_id, uow, today)


def conversation_of(ticket_number: str, viewer: Viewer, uow: UnitOfWork,
                    action: Action = "open") -> str:
    """The Rasa conversation behind a ticket, for a viewer allowed to do `action` to it."""
    with uow:
        ticket = _load(uow.session, ticket_number)[0]
        _require(ticket, viewer, action)
        return ticket.conversation_id


# --- changes -------------------------------------------------------------------------------


def claim(ticket_number: str, viewer: Viewer, uow: UnitOfWork,
          now: Optional[datetime] = None) -> TicketView:
    """Takes a queued ticket. A conditional UPDATE, so of two agents clicking at once one wins."""
    now = now or utcnow()
    with uow:
        session = uow.session
        claimed = session.execute(
            update(HandoffTicket)
            .where(HandoffTicket.ticket_number == ticket_number, HandoffTicket.status == "queued")
            .values(status="claimed", assigned_staff_id=viewer.id, claimed_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            session.rollback()
            ticket, _, _, holder = _load(session, ticket_number)
            if ticket.status not in OPEN_STATUSES:
                raise TicketNotOpen()
            if ticket.assigned_staff_id == viewer.id:
                raise TicketAlreadyClaimed("You have already claimed this ticket.")
            raise TicketAlreadyClaimed(f"{holder or 'Another agent'} has already claimed this ticket.")
        row = _load(session, ticket_number)
        view = _view(row, viewer, now)
        audit.record(session, now, audit.staff(viewer.id), "ticket_claimed", ticket_number,
                     waited_seconds=view.waiting_seconds)
        uow.commit()
    return view


def _finish(ticket_number: str, viewer: Viewer, uow: UnitOfWork, action: Literal["resolve", "close"],
            now: datetime) -> TicketView:
    status = "resolved" if action == "resolve" else "closed"
    with uow:
        session = uow.session
        ticket = _load(session, ticket_number)[0]
        _require(ticket, viewer, action)
        previous = ticket.status
        # conditional on the status just checked (a claimed ticket keeps its holder), so a
        # concurrent claim or close is never overwritten
        changed = session.execute(
            update(HandoffTicket)
            .where(HandoffTicket.id == ticket.id, HandoffTicket.status == previous)
            .values(status=status, resolved_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed != 1:
            raise TicketNotOpen("This ticket changed meanwhile; reload it and try again.")
        audit.record(session, now, audit.staff(viewer.id), f"ticket_{status}", ticket_number,
                     previous_status=previous)
        session.expire_all()
        view = _view(_load(session, ticket_number), viewer, now)
        uow.commit()
    return view


def resolve(ticket_number: str, viewer: Viewer, uow: UnitOfWork,
            now: Optional[datetime] = None) -> TicketView:
    """The person is done and the assistant takes the conversation back (holder or supervisor)."""
    return _finish(ticket_number, viewer, uow, "resolve", now or utcnow())


def close(ticket_number: str, viewer: Viewer, uow: UnitOfWork,
          now: Optional[datetime] = None) -> TicketView:
    """The conversation is over without a hand-back (holder, or a supervisor even unclaimed)."""
    return _finish(ticket_number, viewer, uow, "close", now or utcnow())


def add_note(ticket_number: str, viewer: Viewer, body: str, uow: UnitOfWork,
             now: Optional[datetime] = None) -> NoteView:
    """An internal note, by anyone who may open the ticket; never sent to the customer."""
    now = now or utcnow()
    text = (body or "").strip()
    if not 1 <= len(text) <= NOTE_MAX:
        raise InvalidNote()
    with uow:
        session = uow.session
        ticket = _load(session, ticket_number)[0]
        _require(ticket, viewer, "open")
        session.add(TicketNote(ticket_id=ticket.id, staff_id=viewer.id, body=text, created_at=now))
        audit.record(session, now, audit.staff(viewer.id), "ticket_note_added", ticket_number,
                     length=len(text))
        uow.commit()
    return NoteView(author=viewer.display_name, body=text, created_at=now)


def clean_reply(text: str) -> str:
    """The reply as it will be sent, or InvalidReply: checked before anything reaches Rasa."""
    cleaned = (text or "").strip()
    if not 1 <= len(cleaned) <= REPLY_MAX:
        raise InvalidReply()
    return cleaned


def reply_sent(ticket_number: str, viewer: Viewer, length: int, uow: UnitOfWork,
               now: Optional[datetime] = None) -> None:
    """Records that the holder replied; the text itself stays in the conversation, not here."""
    now = now or utcnow()
    with uow:
        audit.record(uow.session, now, audit.staff(viewer.id), "ticket_reply_sent", ticket_number,
                     length=length)
        uow.commit()


# --- metrics -------------------------------------------------------------------------------


def metrics(uow: UnitOfWork, days: int = 14, now: Optional[datetime] = None) -> Metrics:
    """Hand-offs of the last `days` UTC dates (today included), waits, and containment."""
    if not 1 <= days <= METRICS_MAX_DAYS:
        raise InvalidMetricsPeriod()
    now = (now or utcnow()).astimezone(timezone.utc)
    since = now.date() - timedelta(days=days - 1)
    start = datetime.combine(since, time(0), tzinfo=timezone.utc)
    in_period = and_(HandoffTicket.created_at >= start, HandoffTicket.created_at <= now)
    with uow:
        session = uow.session
        tickets = session.execute(
            select(HandoffTicket.reason, HandoffTicket.created_at, HandoffTicket.claimed_at)
            .where(in_period)).all()
        waiting_now = session.scalar(select(func.count()).select_from(HandoffTicket)
                                     .where(HandoffTicket.status == "queued")) or 0
        session_in_period = and_(ConversationStart.started_at >= start,
                                 ConversationStart.started_at <= now)
        sessions = session.scalar(select(func.count()).select_from(ConversationStart)
                                  .where(session_in_period)) or 0
        handed_off = session.scalar(
            select(func.count()).select_from(ConversationStart).where(
                session_in_period,
                exists().where(HandoffTicket.conversation_id == ConversationStart.conversation_id,
                               in_period))) or 0
        reminders = reminder_figures(session, start, now)
    per_reason = {reason: 0 for reason in PRIORITY_BY_REASON}
    per_day = {since + timedelta(days=offset): 0 for offset in range(days)}
    waits = []
    for reason, created_at, claimed_at in tickets:
        per_reason[reason] = per_reason.get(reason, 0) + 1
        per_day[created_at.astimezone(timezone.utc).date()] += 1
        if claimed_at is not None:
            waits.append((claimed_at - created_at).total_seconds())
    contained = sessions - handed_off
    return Metrics(
        since=since,
        until=now,
        days=days,
        handoffs=len(tickets),
        per_reason=per_reason,
        per_day=tuple(DayCount(day, count) for day, count in per_day.items()),
        average_wait_seconds=statistics.fmean(waits) if waits else None,
        median_wait_seconds=float(statistics.median(waits)) if waits else None,
        waiting_now=waiting_now,
        sessions=sessions,
        contained_sessions=contained,
        containment=contained / sessions if sessions else None,
        reminders=reminders,
    )
