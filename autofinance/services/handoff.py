"""Hand-off tickets: a queued request for a person, with what an agent needs at a glance."""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import func, select

from autofinance.adapters.store.db import UnitOfWork
from autofinance.domain.masking import mask_email, mask_phone
from autofinance.adapters.store.models import AuditLog, ConversationStart, Customer, HandoffTicket
from autofinance.domain.clock import utcnow

logger = logging.getLogger(__name__)

# 1 is served first. Fraud outranks everything; a confused customer waits longest.
PRIORITY_BY_REASON = {
    "fraud": 1,
    "verification_locked": 2,
    "hardship": 2,
    "frustration": 3,
    "customer_request": 3,
    "lease_end": 3,
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


def _ticket_number() -> str:
    return "HT" + secrets.token_hex(4).upper()


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
    now = now or utcnow()
    priority = PRIORITY_BY_REASON.get(reason, 3)
    with uow:
        session = uow.session
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
            session.add(
                AuditLog(actor="system", action="handoff_requested", subject=conversation_id,
                         details={"reason": reason, "priority": priority}, occurred_at=now)
            )
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
        result = TicketOpened(
            ticket_number=ticket.ticket_number,
            priority=ticket.priority,
            position=ahead + 1,
            estimated_wait_minutes=max(2, (ahead + 1) * MINUTES_PER_TICKET_AHEAD),
            created=created,
        )
        uow.commit()
    logger.info("hand-off ticket %s (%s, priority %d)", result.ticket_number, reason, priority)
    return result


def has_open_ticket(conversation_id: str, uow: UnitOfWork) -> bool:
    """True while a person owns the conversation: the assistant must stay silent."""
    with uow:
        return uow.session.scalar(
            select(func.count()).select_from(HandoffTicket).where(
                HandoffTicket.conversation_id == conversation_id,
                HandoffTicket.status.in_(OPEN_STATUSES),
            )
        ) > 0


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
    now = now or utcnow()
    with uow:
        ticket = uow.session.scalar(
            select(HandoffTicket).where(HandoffTicket.conversation_id == conversation_id,
                                        HandoffTicket.status.in_(OPEN_STATUSES))
        )
        if ticket is None:
            return None
        ticket.followup = method
        uow.session.add(AuditLog(actor="system", action="handoff_followup_requested",
                                 subject=ticket.ticket_number, details={"method": method},
                                 occurred_at=now))
        customer = uow.session.get(Customer, ticket.customer_id) if ticket.customer_id else None
        contact = ""
        if customer is not None:
            contact = mask_email(customer.email) if method == "email" else mask_phone(customer.mobile)
        result = FollowupRecorded(ticket.ticket_number, method, contact)
        uow.commit()
    return result


def record_conversation_start(conversation_id: str, channel: str, uow: UnitOfWork,
                              now: Optional[datetime] = None) -> None:
    """Counts a conversation session, the denominator of containment."""
    with uow:
        uow.session.add(ConversationStart(conversation_id=conversation_id, channel=channel,
                                          started_at=now or utcnow()))
        uow.commit()
