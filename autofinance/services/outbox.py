"""The outbox as a tester reads it (the demo's dev outbox): what the assistant "sent", newest first."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import OutboxMessage


@dataclass(frozen=True)
class SentMessage:
    to: str
    channel: str  # 'email' | 'sms'
    subject: str  # '' for a text message
    body: str
    created_at: datetime


def newest_messages(uow: UnitOfWork, limit: int = 100) -> list[SentMessage]:
    """The last `limit` messages written to the outbox, delivered or not, newest first."""
    with uow:
        rows = uow.session.scalars(
            select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit))
        return [SentMessage(row.to, row.channel, row.subject, row.body, row.created_at)
                for row in rows]
