"""The outbox as a tester reads it (the demo's dev outbox): what the assistant "sent", newest first.

In the demo the outbox IS the delivery, so sealed bodies (codes and links) are unsealed here for
display; the store keeps them sealed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import select

from autofinance.adapters.notify import readable_body
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import OutboxMessage
from autofinance.config import Secret

UNREADABLE = "[sealed under another pepper]"


@dataclass(frozen=True)
class SentMessage:
    to: str
    channel: str  # 'email' | 'sms'
    subject: str  # '' for a text message
    body: str
    created_at: datetime
    kind: str = ""


def newest_messages(uow: UnitOfWork, pepper: Secret, limit: int = 100,
                    to: Optional[str] = None, kind: Optional[str] = None) -> list[SentMessage]:
    """The last `limit` messages written to the outbox (only to `to`, only of `kind` if
    given), delivered or not, newest first, as their recipients read them."""
    query = select(OutboxMessage)
    if to is not None:
        query = query.where(OutboxMessage.to == to)
    if kind is not None:
        query = query.where(OutboxMessage.kind == kind)
    with uow:
        rows = uow.session.scalars(query.order_by(OutboxMessage.id.desc()).limit(limit))
        return [SentMessage(row.to, row.channel, row.subject,
                            readable_body(row, pepper) or UNREADABLE, row.created_at, row.kind)
                for row in rows]
