"""Hand-off tickets: a queued request for a person, with what an agent needs at a glance."""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from autofinance.adapters.store.db import UnitOfWork
from autofinance.domain.masking import mask_email, mask_phone
from autofinance.adapters.store.models import ConversationStart, Customer, HandoffTicket
from autofinance.domain.clock import aware
from autofinance.services import audit, availability, identity

logger = logging.getLogger(__name__)

# 1 is served first. Fraud outranks everything; a confused customer waits longest.
PRIORITY_BY_REASON = {
    "fraud": 1,
    "verification_locked": 2,
    "hardship": 2,
    "frustration": 3,
    "customer_request": 3,
    "lease_end": 3,
    "fee_waiver": 3,
    "total_loss": 2,  # the car is gone and the insurer is waiting on our payoff
    "reminder_callback": 3,  # "call me" in answer to a reminder (services.reminder_replies)
    "misunderstanding": 4,
}
MINUTES_PER_TICKET_AHEAD = 3
OPEN_STATUSES = ("queued", "claimed")


@dataclass(frozen=True)
class TicketOpened:
    ticket_number: str
    priority: int
    position: int  # 1 = next in line
    estimated_wait_minutes: int
    created: bool


@dataclass(frozen=True)
class HandoffOutcome:
    ticket: TicketOpened
    first_name: Optional[str]  # the verified customer's; None when not verified
    staffing: Optional[availability.Staffing]  # None when unknown: promise nobody


def request_handoff(
    conversation_id: str,
    channel: Optional[str],
    reason: str,
    summarise: Callable[[Optional[str]], str],
    lender_timezone: str,
    support_hours: str,
    uow: UnitOfWork,
    now: Optional[datetime] = None,
) -> HandoffOutcome:
    """A person for this conversation, in one transaction: who it is, the ticket, who can answer.

    An unverified customer still gets a ticket; `summarise` writes the agent's summary for the
    verified first name (None when not verified). When staffing cannot be worked out, the
    ticket is kept and the outcome promises nobody (`staffing` is None).
    """
    now = aware(now)
    with uow:
        session = uow.session
        verified = identity.current_verification(session, conversation_id, now, channel)
        name = verified.first_name if verified else None
        ticket = queue_ticket(session, conversation_id, channel or "unknown", reason, summarise(name),
                        verified.customer_id if verified else None, now)
        staffing = _staffing_or_none(session, now, lender_timezone, support_hours)
        uow.commit()
    logger.info("hand-off ticket %s (%s, priority %d)", ticket.ticket_number, reason, ticket.priority)
    return HandoffOutcome(ticket, name, staffing)


def open_ticket(
    conversation_id: str,
    channel: str,
    reason: str,
    summary: str,
    customer_id: Optional[int],
    uow: UnitOfWork,
    now: Optional[datetime] = None,
) -> TicketOpened:
    """Queues a ticket; a conversation that already waits keeps its ticket (and place)."""
    now = aware(now)
    with uow:
        ticket = queue_ticket(uow.session, conversation_id, channel, reason, summary, customer_id, now)
        uow.commit()
    logger.info("hand-off ticket %s (%s, priority %d)", ticket.ticket_number, reason, ticket.priority)
    return ticket


def _ticket_number() -> str:
    return "HT" + secrets.token_hex(4).upper()


def queue_ticket(session: Session, conversation_id: str, channel: str, reason: str, summary: str,
           customer_id: Optional[int], now: datetime) -> TicketOpened:
    """The conversation's open ticket, or a new one; a more urgent reason moves it up. Runs in
    the caller's session, so a service can queue a ticket with the decision that needs it."""
    priority = PRIORITY_BY_REASON.get(reason, 3)
    ticket = session.scalar(
        select(HandoffTicket).where(
            HandoffTicket.conversation_id == conversation_id,
            HandoffTicket.status.in_(OPEN_STATUSES),
        )
    )
    created = ticket is None
    if ticket is None:
        ticket = HandoffTicket(
            ticket_number=_ticket_number(),
            conversation_id=conversation_id,
            channel=channel,
            customer_id=customer_id,
            reason=reason,
            priority=priority,
            summary=summary,
            created_at=now,
        )
        session.add(ticket)
        audit.record(session, now, "system", "handoff_requested", conversation_id,
                     reason=reason, priority=priority)
    elif priority < ticket.priority:  # e.g. a waiting customer now reports fraud
        ticket.priority, ticket.reason = priority, reason
        ticket.summary = f"{ticket.summary}\n{summary}"
    session.flush()
    ahead = session.scalar(
        select(func.count()).select_from(HandoffTicket).where(
            HandoffTicket.status == "queued",
            HandoffTicket.id != ticket.id,
            (HandoffTicket.priority < ticket.priority)
            | ((HandoffTicket.priority == ticket.priority)
               & (HandoffTicket.created_at < ticket.created_at)),
        )
    ) or 0
    return TicketOpened(
        ticket_number=ticket.ticket_number,
        priority=ticket.priority,
        position=ahead + 1,
        estimated_wait_minutes=max(2, (ahead + 1) * MINUTES_PER_TICKET_AHEAD),
        created=created,
    )


def _staffing_or_none(session: Session, now: datetime, lender_timezone: str,
                      support_hours: str) -> Optional[availability.Staffing]:
    """Staffing read in a savepoint, so that failing to read it cannot cost the ticket."""
    try:
        with session.begin_nested():
            return availability.staffing(session, now, lender_timezone, support_hours)
    except Exception:  # noqa: BLE001 - unknown staffing: promise nothing, the ticket is queued
        logger.exception("could not tell whether anyone is available")
        return None


def assistant_must_stay_silent(conversation_id: str, assistant_paused: bool,
                               uow: UnitOfWork) -> bool:
    """True while a person owns the conversation: an agent holds its ticket, whatever Rasa's
    tracker says (a pause can be lost: a restart, a fallback's rewind, Rasa down at the claim),
    or the assistant stepped aside (`assistant_paused`) for a ticket still waiting."""
    with uow:
        statuses = set(uow.session.scalars(
            select(HandoffTicket.status).where(
                HandoffTicket.conversation_id == conversation_id,
                HandoffTicket.status.in_(OPEN_STATUSES),
            )
        ))
    return "claimed" in statuses or (assistant_paused and bool(statuses))


FOLLOWUP_METHODS = ("email", "call")


@dataclass(frozen=True)
class FollowupRecorded:
    ticket_number: str
    method: str
    contact: str  # masked email or mobile on file; '' when the customer never verified


def record_followup(conversation_id: str, method: str, uow: UnitOfWork,
                    now: Optional[datetime] = None) -> Optional[FollowupRecorded]:
    """Notes how the customer wants to hear back on their waiting ticket; None when nothing waits."""
    if method not in FOLLOWUP_METHODS:
        raise ValueError(f"unknown follow-up method {method!r}")
    now = aware(now)
    with uow:
        ticket = uow.session.scalar(
            select(HandoffTicket).where(HandoffTicket.conversation_id == conversation_id,
                                        HandoffTicket.status.in_(OPEN_STATUSES))
        )
        if ticket is None:
            return None
        _set_followup(uow.session, ticket, method, now)
        customer = uow.session.get(Customer, ticket.customer_id) if ticket.customer_id else None
        contact = ""
        if customer is not None:
            contact = mask_email(customer.email) if method == "email" else mask_phone(customer.mobile)
        result = FollowupRecorded(ticket.ticket_number, method, contact)
        uow.commit()
    return result


def set_followup(session: Session, ticket_number: str, method: str, now: datetime) -> None:
    """Notes how the customer wants to hear back, in the caller's transaction (a call-back
    asked for by answering a reminder)."""
    ticket = session.scalars(select(HandoffTicket).where(
        HandoffTicket.ticket_number == ticket_number)).one()
    _set_followup(session, ticket, method, now)


def _set_followup(session: Session, ticket: HandoffTicket, method: str, now: datetime) -> None:
    if method not in FOLLOWUP_METHODS:
        raise ValueError(f"unknown follow-up method {method!r}")
    ticket.followup = method
    audit.record(session, now, "system", "handoff_followup_requested", ticket.ticket_number,
                 method=method)


def record_conversation_start(conversation_id: str, channel: str, uow: UnitOfWork,
                              now: Optional[datetime] = None) -> None:
    """Counts a conversation session, the denominator of containment."""
    with uow:
        uow.session.add(ConversationStart(conversation_id=conversation_id, channel=channel,
                                          started_at=aware(now)))
        uow.commit()
