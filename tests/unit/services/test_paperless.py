"""Paperless statements: switched both ways with a confirmation email and an audit row, never
"changed" to what it already is, and statement notices by email only to paperless customers."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Callable

import pytest
from sqlalchemy import select

from autofinance.adapters.notify import readable_body
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import AuditLog, Customer, OutboxMessage
from autofinance.config import Settings
from autofinance.services import paperless
from autofinance.services.errors import StatementDeliveryUnchanged

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=timezone.utc)
TODAY = date(2026, 12, 7)


def _customer(uow: UnitOfWork, email: str = "maria.lopez@example.com") -> int:
    with uow:
        return uow.session.scalar(select(Customer.id).where(Customer.email == email))


def _emails(uow: UnitOfWork, kind: str) -> list[OutboxMessage]:
    with uow:
        found = list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)
                                         .order_by(OutboxMessage.id)))
        uow.session.expunge_all()
        return found


def test_going_paperless_and_back_is_confirmed_by_email_and_audited(
        uow_factory: Callable[[], UnitOfWork]) -> None:
    maria = _customer(uow_factory())
    before = paperless.statement_delivery(maria, uow_factory())
    assert before.by == "mail" and before.since is None and before.email_masked == "m****@example.com"
    now = paperless.change_statement_delivery(maria, "email", uow_factory(), NOW)
    assert now.by == "email" and now.since == NOW
    back = paperless.change_statement_delivery(maria, "mail", uow_factory(), NOW)
    assert back.by == "mail" and back.mailed_to_city == before.mailed_to_city != ""
    confirmations = _emails(uow_factory(), "statement_delivery_changed")
    assert [m.subject for m in confirmations] == ["You're now paperless", "Your statements will come by mail"]
    assert all(m.to == "maria.lopez@example.com" for m in confirmations)
    with uow_factory() as uow:
        audited = uow.session.scalars(select(AuditLog.details).where(
            AuditLog.action == "statement_delivery_changed")).all()
    assert audited == [{"to": "email"}, {"to": "mail"}]


def test_asking_for_what_is_already_so_changes_and_sends_nothing(
        uow_factory: Callable[[], UnitOfWork]) -> None:
    maria = _customer(uow_factory())
    with pytest.raises(StatementDeliveryUnchanged):
        paperless.change_statement_delivery(maria, "mail", uow_factory(), NOW)
    paperless.change_statement_delivery(maria, "email", uow_factory(), NOW)
    with pytest.raises(StatementDeliveryUnchanged):  # twice, as two racing requests would
        paperless.change_statement_delivery(maria, "email", uow_factory(), NOW)
    assert len(_emails(uow_factory(), "statement_delivery_changed")) == 1
    with pytest.raises(ValueError):
        paperless.change_statement_delivery(maria, "fax", uow_factory(), NOW)  # type: ignore[arg-type]


def test_statement_notices_go_by_email_to_paperless_customers_only_and_once(
        uow_factory: Callable[[], UnitOfWork]) -> None:
    settings = Settings()
    maria = _customer(uow_factory())
    # of the demo customers only James is paperless
    assert paperless.statement_ready_notices(uow_factory(), TODAY, "http://x", settings.secret_pepper, NOW) == 1
    assert [m.to for m in _emails(uow_factory(), paperless.NOTICE_KIND)] == ["james.chen@example.com"]
    paperless.change_statement_delivery(maria, "email", uow_factory(), NOW)
    assert paperless.statement_ready_notices(uow_factory(), TODAY, "http://x", settings.secret_pepper, NOW) == 1
    assert paperless.statement_ready_notices(uow_factory(), TODAY, "http://x", settings.secret_pepper, NOW) == 0
    notice = _emails(uow_factory(), paperless.NOTICE_KIND)[-1]
    assert notice.to == "maria.lopez@example.com" and notice.subject == "Your November 2026 statement is ready"
    body = readable_body(notice, settings.secret_pepper) or ""
    assert "/documents/statement-2026-11?" in body and "/documents/" not in notice.body  # sealed at rest
