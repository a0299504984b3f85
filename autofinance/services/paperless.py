"""Paperless statements: each month's statement by email, instead of on paper by mail.

A customer chooses `email` (paperless) or `mail` (paper, everyone's default). The choice is
confirmed by email and audited; asking for what is already the case changes nothing. Statement
notices follow it (`statement_ready_notices`): a paperless customer gets an email with a link to
the month's statement (the portal's signed document link), a paper one gets the letter and no
email. The mailing address is never shown in chat in full: the city is enough to recognise it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, Optional

from sqlalchemy import select, update

from autofinance.adapters.notify import queue_message
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Account, Customer, OutboxMessage
from autofinance.config import Secret
from autofinance.domain.clock import aware
from autofinance.domain.masking import mask_email
from autofinance.services import audit, documents
from autofinance.services.errors import StatementDeliveryUnchanged

logger = logging.getLogger(__name__)

Delivery = Literal["mail", "email"]
MAIL, EMAIL = "mail", "email"
NOTICE_KIND = "statement_ready"
SUPPORT_PHONE = "1-800-555-0199"


@dataclass(frozen=True)
class StatementDelivery:
    by: str  # 'mail' (paper) or 'email' (paperless)
    email_masked: str
    mailed_to_city: str  # "Atlanta, GA": where the paper statements go, without the street
    since: Optional[datetime]


def statement_delivery(customer_id: int, uow: UnitOfWork) -> StatementDelivery:
    """How the customer gets statements now."""
    with uow:
        return _delivery(uow.session.get_one(Customer, customer_id))


def change_statement_delivery(customer_id: int, to: Delivery, uow: UnitOfWork,
                              now: Optional[datetime] = None) -> StatementDelivery:
    """Switch to paperless (`email`) or back to paper (`mail`), confirm by email and audit it:
    all or nothing. Raises StatementDeliveryUnchanged when it is already so."""
    if to not in (MAIL, EMAIL):
        raise ValueError(f"statement delivery is 'mail' or 'email', not {to!r}")
    now = aware(now)
    with uow:
        session = uow.session
        changed = session.scalar(
            update(Customer).where(Customer.id == customer_id, Customer.statement_delivery != to)
            .values(statement_delivery=to, statement_delivery_changed_at=now)
            .returning(Customer.id).execution_options(synchronize_session="fetch"))
        if changed is None:
            raise StatementDeliveryUnchanged()
        customer = session.get_one(Customer, customer_id)
        session.refresh(customer)
        result = _delivery(customer)
        queue_message(session, to=customer.email, channel="email", kind="statement_delivery_changed",
                      customer_id=customer_id, subject=_SUBJECT[to],
                      body=f"Hi {customer.first_name}, {_CONFIRMATION[to].format(city=result.mailed_to_city)} "
                           f"If you didn't ask for this, call us at {SUPPORT_PHONE}.")
        audit.record(session, now, audit.customer(customer_id), "statement_delivery_changed",
                     f"customer:{customer_id}", to=to)
        uow.commit()
    logger.info("statement delivery of customer %s is now %s", customer_id, to)
    return result


def statement_ready_notices(uow: UnitOfWork, today: date, base_url: str, pepper: Secret,
                            now: Optional[datetime] = None) -> int:
    """Emails each paperless customer a link to their newest statement, once per statement;
    paper customers get the letter instead, so no email. Returns how many were queued. Run it
    after statements close (e.g. daily: a statement already announced is not announced again)."""
    now = aware(now)
    queued = 0
    with uow:
        session = uow.session
        paperless = session.scalars(select(Customer).where(Customer.statement_delivery == EMAIL)).all()
        for customer in paperless:
            for account in session.scalars(select(Account).where(Account.customer_id == customer.id)):
                newest = next((d for d in documents.for_account(
                    session, account, documents.account_documents(account, today)) if d.kind == "statement"), None)
                if newest is None:
                    continue
                subject = f"Your {newest.label} statement is ready"
                if session.scalar(select(OutboxMessage.id).where(
                        OutboxMessage.customer_id == customer.id, OutboxMessage.kind == NOTICE_KIND,
                        OutboxMessage.subject == subject)) is not None:
                    continue
                link = documents.document_link(customer.id, newest.document_id, base_url, pepper, now)
                queue_message(session, to=customer.email, channel="email", kind=NOTICE_KIND,
                              customer_id=customer.id, subject=subject,
                              body=f"Hi {customer.first_name}, your {newest.label} statement is ready: "
                                   f"{link}\nThe link works for 24 hours; your statements are always "
                                   "in the portal too.", pepper=pepper)
                queued += 1
        uow.commit()
    return queued


_SUBJECT = {EMAIL: "You're now paperless", MAIL: "Your statements will come by mail"}
_CONFIRMATION = {
    EMAIL: "you're now paperless: each month we'll email you when your statement is ready, with a "
           "secure link, and paper statements stop.",
    MAIL: "your statements will come by mail again, to your address in {city}, from the next one on.",
}


def _delivery(customer: Customer) -> StatementDelivery:
    city = ", ".join(part for part in (customer.city, customer.state) if part)
    return StatementDelivery(customer.statement_delivery, mask_email(customer.email), city,
                             customer.statement_delivery_changed_at)
