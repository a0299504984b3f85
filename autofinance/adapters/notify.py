"""Sending emails and texts through one interface.

Every message is first written to the outbox table in the caller's transaction, so a message is
never lost and never sent for work that was rolled back. The demo notifier stops there (and
logs that a message was queued, without its body). With NOTIFIER=smtp, `python -m autofinance
deliver-outbox` (run it on a schedule) hands unsent emails to the SMTP relay and marks them sent;
an SMS provider plugs in the same way, as another `Sender`.
"""
from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from typing import Optional, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from autofinance.config import Settings
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import OutboxMessage
from autofinance.domain.clock import utcnow

logger = logging.getLogger(__name__)


def queue_message(
    session: Session,
    *,
    to: str,
    channel: str,
    kind: str,
    body: str,
    subject: str = "",
    customer_id: Optional[int] = None,
) -> OutboxMessage:
    """Write a message to the outbox within the caller's unit of work."""
    message = OutboxMessage(
        to=to, channel=channel, kind=kind, subject=subject, body=body, customer_id=customer_id
    )
    session.add(message)
    logger.info("queued %s %s to customer %s", channel, kind, customer_id)
    return message


class Sender(Protocol):
    def deliver(self, message: OutboxMessage) -> None: ...


class SmtpSender:
    """Delivers outbox emails through an SMTP relay."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def deliver(self, message: OutboxMessage) -> None:
        email = EmailMessage()
        email["From"] = self._settings.smtp_sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email.set_content(message.body)
        with smtplib.SMTP(self._settings.smtp_host, self._settings.smtp_port, timeout=10) as smtp:
            smtp.send_message(email)


def sender_for(settings: Settings) -> Optional[Sender]:
    """The real email sender the configuration names; None in the demo (the outbox is the end)."""
    return SmtpSender(settings) if settings.notifier == "smtp" else None


def deliver_pending(uow: UnitOfWork, sender: Sender, channel: str = "email", limit: int = 100) -> int:
    """Hands unsent outbox messages of one channel to a real sender; returns how many went.

    Each message is marked sent in its own commit right after delivery, so a failure half-way
    neither loses the rest nor sends the delivered ones twice on the next run.
    """
    delivered = 0
    with uow:
        pending = uow.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.sent_at.is_(None), OutboxMessage.channel == channel)
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).all()
        for message in pending:
            sender.deliver(message)
            message.sent_at = utcnow()
            uow.commit()
            delivered += 1
    return delivered
