"""Putting a request in front of a specialist: the work item, written in the caller's transaction.

The services that take a request a person must decide (hardship, lease end, fees, insurance)
call `queue_item` in the same unit of work as the request itself, so a request is never
recorded without its item, nor an item without its request. Deciding items is
`services.work_queue`. This module imports no other service (the catalogue aside), so any of them,
and the reminder rules, can use it.
"""
from __future__ import annotations

import secrets
from base64 import b32encode
from datetime import datetime
from decimal import Decimal
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from autofinance.adapters.store.models import WorkItem
from autofinance.domain.money import format_usd
from autofinance.services import reminder_texts

KINDS = ("hardship", "lease_extension", "insurance_document", "fee_waiver")
OPEN = ("open", "claimed")
DECIDED = ("completed", "declined")
PREFIX = {"fee_waiver": "FW", "insurance_document": "PI"}  # the others reuse the request's number


def new_reference(kind: str) -> str:
    """'FW' or 'PI' + 8 base32 characters (40 random bits): unique in practice, not guessable."""
    return PREFIX[kind] + b32encode(secrets.token_bytes(5)).decode()


def queue_item(session: Session, kind: str, subject: str, customer_id: int,
               account_id: Optional[int], summary: str, now: datetime,
               reference: Optional[str] = None, **details: Any) -> WorkItem:
    """The open item about `subject`, or a new one. `details` are what deciding it needs (no
    secret, no full number); `summary` is for staff."""
    if kind not in KINDS:
        raise ValueError(f"unknown work item kind {kind!r}")
    existing = open_item(session, kind, subject)
    if existing is not None:
        return existing
    item = WorkItem(reference=reference or new_reference(kind), kind=kind, subject=subject,
                    customer_id=customer_id, account_id=account_id, summary=summary,
                    details=details, status="open", created_at=now)
    session.add(item)
    session.flush()
    return item


def open_item(session: Session, kind: str, subject: str) -> Optional[WorkItem]:
    """The item about `subject` still waiting for a decision, if any."""
    return session.scalar(select(WorkItem).where(WorkItem.kind == kind, WorkItem.subject == subject,
                                                 WorkItem.status.in_(OPEN)))


def recently_decided(session: Session, since: datetime) -> list[WorkItem]:
    """Items decided at or after `since`, in the caller's session (the reminder rule's source)."""
    return list(session.scalars(select(WorkItem).where(
        WorkItem.status.in_(DECIDED), WorkItem.decided_at >= since).order_by(WorkItem.id)))


def outcome_text(item: WorkItem) -> str:
    """The decision in the customer's words (reminder_texts.yml, `work_outcomes`)."""
    details = item.details or {}
    key = f"{item.kind}_{item.status}"
    if item.kind == "hardship":
        key = f"hardship_{details.get('option', 'specialist')}_{item.status}"
    months = int(details.get("months", 0) or 0)
    values = {"reference": item.reference,
              "months": "1 month" if months == 1 else f"{months} months",
              "insurer": str(details.get("insurer", "")), "policy": str(details.get("policy", "")),
              "amount": format_usd(Decimal(str(details.get("amount", "0"))))}
    return reminder_texts.piece("work_outcomes", key, **values)
