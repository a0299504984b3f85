"""The specialist work queues: requests a person decides, seen, claimed and completed or declined
in the support console.

Four kinds of item (services.work_items queues them with the request): hardship requests, lease
extensions, proof of insurance to verify, and late-fee waivers the chat policy refused. The rules:
- an agent sees the open items and the ones they hold; a supervisor also sees who holds the rest;
- one person holds an item at a time (a conditional UPDATE: of two claims at once one wins), and
  only they decide it; they, or a supervisor, can release it back to the queue;
- an item is decided once (UPDATE ... WHERE status = 'claimed'); declining needs a note;
- completing applies the request in the same transaction (hardship.record_decision,
  lease_end.apply_extension, fees.waive_as_exception; a verified insurance policy changes
  nothing), so the item and the account never disagree;
- every change is audited (actor `staff:<id>`, subject the reference), never with the note's text.
The customer hears the outcome by reminder (the "decision" rule of services.reminder_rules reads
`work_items.recently_decided`) and once in their next verified chat (`outcomes_to_tell`), in the words of
the reminder catalogue.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, Optional

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Customer, StaffUser, WorkItem
from autofinance.domain.clock import aware
from autofinance.services import audit, fees, hardship, lease_end
from autofinance.services.console import Viewer
from autofinance.services.errors import (
    InvalidNote,
    WorkItemAlreadyClaimed,
    WorkItemAlreadyDecided,
    WorkItemNotClaimed,
    WorkItemNotFound,
    WorkItemNotYours,
    WorkItemNoteRequired,
)
from autofinance.services.work_items import DECIDED, KINDS, OPEN, outcome_text

NOTE_MAX = 2000
QUEUE_NAMES = {"hardship": "Hardship requests", "lease_extension": "Lease extensions",
               "insurance_document": "Insurance documents", "fee_waiver": "Fee waiver exceptions"}
Decision = Literal["completed", "declined"]


@dataclass(frozen=True)
class ItemView:
    """One item as a queue row; `mine` is relative to the viewer who asked."""

    reference: str
    kind: str
    status: str
    summary: str
    customer: str  # "Maria L.": enough to recognise, not to identify
    created_at: datetime
    waiting_seconds: int  # since it was queued, until now or the decision
    claimed_by: Optional[str]
    mine: bool
    decided_at: Optional[datetime]
    note: Optional[str]


@dataclass(frozen=True)
class Outcome:
    """A decision the customer is told in the chat."""

    reference: str
    kind: str
    status: str
    text: str  # the catalogue's words: "a specialist approved your ..."


# --- reading -------------------------------------------------------------------------------


def _rows(where: ColumnElement[bool]) -> Any:
    return (select(WorkItem, Customer.first_name, Customer.last_name, StaffUser.display_name)
            .join(Customer, Customer.id == WorkItem.customer_id)
            .outerjoin(StaffUser, StaffUser.id == WorkItem.claimed_by)
            .where(where))


def _view(row: Any, viewer: Viewer, now: datetime) -> ItemView:
    item, first, last, holder = row
    until = item.decided_at or now
    return ItemView(item.reference, item.kind, item.status, item.summary, f"{first} {last[:1]}.",
                    item.created_at, max(0, int((until - item.created_at).total_seconds())), holder,
                    item.claimed_by == viewer.id, item.decided_at, item.note)


def _load(session: Session, reference: str) -> Any:
    row = session.execute(_rows(WorkItem.reference == reference)
                          .execution_options(populate_existing=True)).first()
    if row is None:
        raise WorkItemNotFound()
    return row


def work_queue(viewer: Viewer, uow: UnitOfWork, kind: Optional[str] = None,
               now: Optional[datetime] = None) -> list[ItemView]:
    """The items waiting for a decision that the viewer may work on, oldest first."""
    now = aware(now)
    visible: ColumnElement[bool] = WorkItem.status.in_(OPEN)
    if not viewer.is_supervisor:
        visible = or_(WorkItem.status == "open",
                      and_(WorkItem.status == "claimed", WorkItem.claimed_by == viewer.id))
    if kind is not None:
        if kind not in KINDS:
            raise WorkItemNotFound("There is no such work queue.")
        visible = and_(visible, WorkItem.kind == kind)
    with uow:
        rows = uow.session.execute(_rows(visible).order_by(WorkItem.created_at, WorkItem.id))
        return [_view(row, viewer, now) for row in rows]


# --- changes -------------------------------------------------------------------------------


def claim_item(reference: str, viewer: Viewer, uow: UnitOfWork,
               now: Optional[datetime] = None) -> ItemView:
    """Takes an open item. A conditional UPDATE, so of two specialists clicking at once one wins."""
    now = aware(now)
    with uow:
        session = uow.session
        claimed = session.execute(
            update(WorkItem).where(WorkItem.reference == reference, WorkItem.status == "open")
            .values(status="claimed", claimed_by=viewer.id, claimed_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if claimed != 1:
            item, _, _, holder = _load(session, reference)
            if item.status in DECIDED:
                raise WorkItemAlreadyDecided()
            if item.claimed_by == viewer.id:
                raise WorkItemAlreadyClaimed("You have already claimed this item.")
            raise WorkItemAlreadyClaimed(f"{holder or 'Another specialist'} has already claimed this item.")
        view = _view(_load(session, reference), viewer, now)
        audit.record(session, now, audit.staff(viewer.id), "work_item_claimed", reference, kind=view.kind)
        uow.commit()
    return view


def release_item(reference: str, viewer: Viewer, uow: UnitOfWork,
                 now: Optional[datetime] = None) -> ItemView:
    """Puts a claimed item back in the queue: its holder, or a supervisor (someone away)."""
    now = aware(now)
    with uow:
        session = uow.session
        holder_only = [] if viewer.is_supervisor else [WorkItem.claimed_by == viewer.id]
        released = session.execute(
            update(WorkItem).where(WorkItem.reference == reference, WorkItem.status == "claimed",
                                   *holder_only)
            .values(status="open", claimed_by=None, claimed_at=None)
            .execution_options(synchronize_session=False)).rowcount
        if released != 1:
            raise _why_not(_load(session, reference)[0])
        view = _view(_load(session, reference), viewer, now)
        audit.record(session, now, audit.staff(viewer.id), "work_item_released", reference, kind=view.kind)
        uow.commit()
    return view


def complete_item(reference: str, viewer: Viewer, note: str, uow: UnitOfWork, today: date,
                  now: Optional[datetime] = None) -> ItemView:
    """Grants the request and applies it (holder only); the note is optional and internal."""
    return _decide(reference, viewer, "completed", note, uow, today, aware(now))


def decline_item(reference: str, viewer: Viewer, note: str, uow: UnitOfWork, today: date,
                 now: Optional[datetime] = None) -> ItemView:
    """Refuses the request (holder only), with a note saying why; nothing on the account changes."""
    return _decide(reference, viewer, "declined", note, uow, today, aware(now))


def _decide(reference: str, viewer: Viewer, decision: Decision, note: str, uow: UnitOfWork,
            today: date, now: datetime) -> ItemView:
    text = (note or "").strip()
    if decision == "declined" and not text:
        raise WorkItemNoteRequired()
    if len(text) > NOTE_MAX:
        raise InvalidNote()
    with uow:
        session = uow.session
        decided = session.execute(
            update(WorkItem).where(WorkItem.reference == reference, WorkItem.status == "claimed",
                                   WorkItem.claimed_by == viewer.id)
            .values(status=decision, decided_at=now, note=text or None)
            .execution_options(synchronize_session=False)).rowcount
        if decided != 1:
            raise _why_not(_load(session, reference)[0])
        item = _load(session, reference)[0]
        _apply(session, item, decision == "completed", today, now)
        audit.record(session, now, audit.staff(viewer.id), f"work_item_{decision}", reference,
                     kind=item.kind, customer=item.customer_id, note_length=len(text))
        view = _view(_load(session, reference), viewer, now)
        uow.commit()
    return view


def _apply(session: Session, item: WorkItem, grant: bool, today: date, now: datetime) -> None:
    """What the decision changes, in the same transaction; raises WorkItemCannotComplete."""
    details = item.details or {}
    if item.kind == "hardship":
        hardship.record_decision(session, str(details.get("case_number", item.reference)), grant,
                                 today, now)
    elif grant and item.kind == "lease_extension" and item.account_id is not None:
        lease_end.apply_extension(session, item.account_id, int(details["months"]),
                                  date.fromisoformat(details["maturity_date"]),
                                  date.fromisoformat(details["requested_maturity_date"]))
    elif grant and item.kind == "fee_waiver":
        fees.waive_as_exception(session, int(details["fee_id"]), today, now)
    # a verified insurance policy, and any other decline, changes nothing on the account


def _why_not(item: WorkItem) -> Exception:
    if item.status in DECIDED:
        return WorkItemAlreadyDecided()
    if item.status == "open":
        return WorkItemNotClaimed()
    return WorkItemNotYours()


# --- the customer's next chat --------------------------------------------------------------


def outcomes_to_tell(customer_id: int, uow: UnitOfWork, now: Optional[datetime] = None,
                     within: timedelta = timedelta(days=30)) -> list[Outcome]:
    """The decisions on the customer's items not yet said in a chat (decided within `within`),
    marked told as they are returned: each UPDATE is conditional, so two conversations at once
    tell each outcome once between them."""
    now = aware(now)
    told = []
    with uow:
        session = uow.session
        items = session.scalars(select(WorkItem).where(
            WorkItem.customer_id == customer_id, WorkItem.status.in_(DECIDED),
            WorkItem.customer_told_at.is_(None), WorkItem.decided_at >= now - within)
            .order_by(WorkItem.decided_at, WorkItem.id)).all()
        for item in items:
            marked = session.execute(
                update(WorkItem).where(WorkItem.id == item.id, WorkItem.customer_told_at.is_(None))
                .values(customer_told_at=now).execution_options(synchronize_session=False)).rowcount
            if marked == 1:
                told.append(Outcome(item.reference, item.kind, item.status, outcome_text(item)))
        uow.commit()
    return told
