"""Sending emails and texts through one interface.

Every message is first written to the outbox table in the caller's transaction, so a message is
never lost and never sent for work that was rolled back. The demo notifier stops there (and
logs that a message was queued, without its body); a real sender (SMTP, an SMS provider)
delivers outbox rows and marks them sent.
"""
from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from typing import Optional, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from autofinance.config import Settings
from autofinance.store.models import OutboxMessage
from autofinance.store.types import utcnow

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


def deliver_pending(session: Session, sender: Sender, channel: str = "email") -> int:
    """Hand unsent outbox messages of one channel to a real sender; returns how many went."""
    pending = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.channel == channel)
        .order_by(OutboxMessage.id)
    ).all()
    for message in pending:
        sender.deliver(message)
        message.sent_at = utcnow()
    return len(pending)
