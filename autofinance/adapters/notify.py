"""Sending emails and texts through one interface.

Every message is first written to the outbox table in the caller's transaction, so a message is
never lost and never sent for work that was rolled back. The demo notifier stops there (and
logs that a message was queued, without its body). With NOTIFIER=smtp, `python -m autofinance
deliver-outbox` (run it on a schedule) hands unsent emails to the SMTP relay and marks them sent;
an SMS provider plugs in the same way, as another `Sender`.

A message with a code or a link (SEALED_KINDS) is sealed in the outbox, so a copy of the store
holds none in clear; a real sender unseals it to deliver it, and the body is then dropped.
"""
from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from typing import Optional, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from autofinance.config import Secret, Settings
from autofinance.adapters.sealing import PREFIX, seal_at_rest, unseal_at_rest
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import OutboxMessage
from autofinance.domain.clock import utcnow

logger = logging.getLogger(__name__)

# Kinds whose body holds a one-time code or a link that works on its own.
SEALED_KINDS = frozenset({"otp", "contact_change_code", "password_reset", "document_link"})
DELIVERED_MARKER = "[delivered; the code or link is no longer kept]"


def queue_message(
    session: Session,
    *,
    to: str,
    channel: str,
    kind: str,
    body: str,
    subject: str = "",
    customer_id: Optional[int] = None,
    pepper: Optional[Secret] = None,
) -> OutboxMessage:
    """Write a message to the outbox within the caller's unit of work.

    A SEALED_KINDS body is sealed with `pepper`; without it such a message is refused rather
    than stored in clear.
    """
    if kind in SEALED_KINDS:
        if pepper is None:
            raise ValueError(f"a {kind!r} message holds a code or a link: queue it with the pepper")
        body = seal_at_rest(body, pepper)
    message = OutboxMessage(
        to=to, channel=channel, kind=kind, subject=subject, body=body, customer_id=customer_id
    )
    session.add(message)
    logger.info("queued %s %s to customer %s", channel, kind, customer_id)
    return message


def readable_body(message: OutboxMessage, pepper: Secret) -> Optional[str]:
    """The body as the recipient reads it; None if it is sealed under another pepper."""
    if not message.body.startswith(PREFIX):
        return message.body  # never sealed, or delivered and dropped (DELIVERED_MARKER)
    return unseal_at_rest(message.body, pepper)


class Sender(Protocol):
    def deliver(self, message: OutboxMessage) -> None: ...


class SmtpSender:
    """Delivers outbox emails through an SMTP relay."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def deliver(self, message: OutboxMessage) -> None:
        body = readable_body(message, self._settings.secret_pepper)
        if body is None:  # never send the sealed text itself
            raise ValueError(f"outbox message {message.id} is sealed under another pepper")
        email = EmailMessage()
        email["From"] = self._settings.smtp_sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email.set_content(body)
        with smtplib.SMTP(self._settings.smtp_host, self._settings.smtp_port, timeout=10) as smtp:
            smtp.send_message(email)


def sender_for(settings: Settings) -> Optional[Sender]:
    """The real email sender the configuration names; None in the demo (the outbox is the end)."""
    return SmtpSender(settings) if settings.notifier == "smtp" else None


def deliver_pending(uow: UnitOfWork, sender: Sender, channel: str = "email", limit: int = 100) -> int:
    """Hands unsent outbox messages of one channel to a real sender; returns how many went.

    Each message is marked sent in its own commit right after delivery, so a failure half-way
    neither loses the rest nor sends the delivered ones twice on the next run. A delivered code
    or link is dropped: from then on the customer's inbox is the only copy.
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
            if message.kind in SEALED_KINDS:
                message.body = DELIVERED_MARKER
            uow.commit()
            delivered += 1
    return delivered
