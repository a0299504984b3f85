"""The audit trail: one way to record who did what to which record, inside the caller's unit of work."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from autofinance.adapters.store.models import AuditLog


def record(session: Session, now: datetime, actor: str, action: str, subject: str = "",
           **details: Any) -> None:
    """Adds an audit row to the open session; it commits (or rolls back) with the change it
    describes. `details` must never hold a secret, a code or a full account number."""
    session.add(AuditLog(occurred_at=now, actor=actor, action=action, subject=subject,
                         details=details))


def customer(customer_id: int) -> str:
    """The actor name of a customer."""
    return f"customer:{customer_id}"


def staff(staff_id: int) -> str:
    """The actor name of a staff member."""
    return f"staff:{staff_id}"
