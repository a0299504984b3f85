"""Autopay: see it, set it up, change it, cancel it.

An enrolment debits the monthly payment on a chosen day from 1 to 28 (every month has it). The
database allows one active enrolment per account (a partial unique index); that index, not the
read-before-write check, is what stops two racing requests from enrolling twice. Confirmations
go to the outbox in the same transaction, so an email exists exactly when the change does, and
each one says "if this wasn't you, contact us" because autopay moves money every month.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Optional

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from autofinance.adapters.notify import queue_message
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Account, AutopayEnrolment, Customer, FundingSource
from autofinance.domain.calendar import next_due, upcoming_due_date
from autofinance.domain.clock import aware
from autofinance.domain.masking import mask_account_number
from autofinance.domain.money import format_usd
from autofinance.domain.parsing import format_long_date
from autofinance.services import audit
from autofinance.services.accounts import primary_account
from autofinance.services.errors import (
    AccountFrozen,
    AlreadyEnrolled,
    InvalidAutopayDay,
    NotEnrolled,
    UnknownFundingSource,
)

logger = logging.getLogger(__name__)

FIRST_DAY, LAST_DAY = 1, 28  # the days of the month an enrolment may debit on

_SUBJECTS = {"autopay_enrolled": "Your Meridian Auto Finance autopay is set up",
             "autopay_changed": "Your Meridian Auto Finance autopay was changed",
             "autopay_cancelled": "Your Meridian Auto Finance autopay was cancelled"}


@dataclass(frozen=True)
class AutopayStatus:
    """Not enrolled: `enrolled` is False and every other field is None."""

    enrolled: bool
    day_of_month: Optional[int] = None
    amount: Optional[Decimal] = None
    source_masked: Optional[str] = None  # 'checking ****2244'
    next_debit_date: Optional[date] = None


@dataclass(frozen=True)
class CancelledAutopay:
    """What was cancelled, so the assistant can read it back, and the next payment still due."""

    day_of_month: int
    amount: Decimal
    source_masked: str
    cancelled_at: datetime
    next_payment_due: date


@dataclass(frozen=True)
class AutopaySetup:
    """What setting up or changing autopay offers the customer."""

    monthly_payment: Decimal  # what autopay takes each month
    source_names: tuple[str, ...]  # the saved, active sources, oldest first: 'checking ****6789'
    next_payment_due: date
    current: AutopayStatus  # the enrolment a change would replace; `enrolled` False if none


@dataclass(frozen=True)
class AutopayPreview:
    """The plan the customer is asked to confirm; nothing is stored yet."""

    day_of_month: int
    amount: Decimal
    source_masked: str
    first_debit_date: date
    current: AutopayStatus  # the enrolment a change would replace; `enrolled` False if none
    due_before_first_debit: Optional[date]  # a payment due before then: the customer makes it


def autopay_status(customer_id: int, uow: UnitOfWork, today: date) -> AutopayStatus:
    """Whether autopay is on and, if so, what it takes, from where, and when it next runs."""
    with uow:
        return _current(uow.session, primary_account(uow.session, customer_id).id, today)


def autopay_setup(customer_id: int, uow: UnitOfWork, today: date) -> AutopaySetup:
    """What the customer chooses from, and what a change would replace: one read per question."""
    with uow:
        session = uow.session
        account = primary_account(session, customer_id)
        sources = session.scalars(select(FundingSource).where(
            FundingSource.customer_id == customer_id, FundingSource.active.is_(True)
        ).order_by(FundingSource.id))
        due = upcoming_due_date(account.next_due_date, account.payment_due_day, today)
        return AutopaySetup(account.monthly_payment, tuple(s.masked_name for s in sources), due,
                            _current(session, account.id, today))


def preview_autopay(customer_id: int, funding_source_id: int, day_of_month: int, uow: UnitOfWork,
                    today: date) -> AutopayPreview:
    """The plan to confirm before anything is stored: the first debit is the next chosen day, so
    a payment due before it is still the customer's to make."""
    day = _checked_day(day_of_month)
    with uow:
        session = uow.session
        account = primary_account(session, customer_id)
        source = _source(session, customer_id, funding_source_id)
        first = next_due(today, day)
        due = upcoming_due_date(account.next_due_date, account.payment_due_day, today)
        return AutopayPreview(day, account.monthly_payment, source.masked_name, first,
                              _current(session, account.id, today), due if due < first else None)


def enrol_autopay(customer_id: int, funding_source_id: int, day_of_month: int, uow: UnitOfWork,
                  base_url: str, today: date, now: Optional[datetime] = None) -> AutopayStatus:
    """Set up autopay for the monthly payment. An existing enrolment is never replaced here
    (AlreadyEnrolled): changing it is `change_autopay`, so a repeated request can't double up."""
    now, day = aware(now), _checked_day(day_of_month)
    with uow:
        session = uow.session
        account = primary_account(session, customer_id)
        account_id = account.id
        if account.fraud_frozen:
            raise AccountFrozen()
        if _active(session, account_id) is not None:
            raise AlreadyEnrolled()
        source = _source(session, customer_id, funding_source_id)
        status = _status(day, account.monthly_payment, source.masked_name, today)
        try:  # the flush may hit the one-active-enrolment index a concurrent request just took
            session.add(AutopayEnrolment(account_id=account_id, funding_source_id=source.id,
                                         day_of_month=day, amount=account.monthly_payment,
                                         created_at=now))
            session.flush()
            _notify_and_audit(session, account, "autopay_enrolled", now, status, base_url)
            uow.commit()
        except IntegrityError:
            uow.rollback()
            if _active(session, account_id) is not None:
                logger.info("concurrent autopay enrolment for customer %s refused", customer_id)
                raise AlreadyEnrolled() from None
            raise
        logger.info("autopay enrolled for customer %s", customer_id)
        return status


def change_autopay(customer_id: int, funding_source_id: Optional[int],
                   day_of_month: Optional[int], uow: UnitOfWork, base_url: str, today: date,
                   now: Optional[datetime] = None) -> AutopayStatus:
    """Change the source, the day or both (None keeps it); the amount follows the current
    monthly payment. Updated in place, conditionally, so a change racing a cancel can't revive
    a cancelled enrolment."""
    if funding_source_id is None and day_of_month is None:
        raise ValueError("nothing to change: give a funding source, a day or both")
    now = aware(now)
    day = None if day_of_month is None else _checked_day(day_of_month)
    with uow:
        session = uow.session
        account = primary_account(session, customer_id)
        enrolment = _active(session, account.id)
        if enrolment is None:
            raise NotEnrolled()
        if account.fraud_frozen:
            raise AccountFrozen()
        source = _source(session, customer_id, enrolment.funding_source_id
                         if funding_source_id is None else funding_source_id)
        before = {"day": enrolment.day_of_month, "source": enrolment.funding_source.masked_name}
        new_day = day or enrolment.day_of_month
        changed = session.scalar(
            update(AutopayEnrolment)
            .where(AutopayEnrolment.id == enrolment.id, AutopayEnrolment.active.is_(True))
            .values(funding_source_id=source.id, day_of_month=new_day,
                    amount=account.monthly_payment)
            .returning(AutopayEnrolment.id).execution_options(synchronize_session="fetch")
        )
        if changed is None:
            raise NotEnrolled()
        status = _status(new_day, account.monthly_payment, source.masked_name, today)
        _notify_and_audit(session, account, "autopay_changed", now, status, base_url, before)
        uow.commit()
        logger.info("autopay changed for customer %s", customer_id)
        return status


def cancel_autopay(customer_id: int, uow: UnitOfWork, base_url: str, today: date,
                   now: Optional[datetime] = None) -> CancelledAutopay:
    """Stop autopay. The row is kept (inactive, cancelled_at) as the record of what ran; the
    result names the next payment still due, so the customer knows to pay it another way."""
    now = aware(now)
    with uow:
        session = uow.session
        account = primary_account(session, customer_id)
        enrolment = _active(session, account.id)
        if enrolment is None:
            raise NotEnrolled()
        result = CancelledAutopay(
            enrolment.day_of_month, enrolment.amount, enrolment.funding_source.masked_name, now,
            upcoming_due_date(account.next_due_date, account.payment_due_day, today),
        )
        changed = session.scalar(
            update(AutopayEnrolment)
            .where(AutopayEnrolment.id == enrolment.id, AutopayEnrolment.active.is_(True))
            .values(active=False, cancelled_at=now)
            .returning(AutopayEnrolment.id).execution_options(synchronize_session="fetch")
        )
        if changed is None:  # a concurrent cancel won
            raise NotEnrolled()
        _notify_and_audit(session, account, "autopay_cancelled", now,
                          _status(result.day_of_month, result.amount, result.source_masked, today),
                          base_url, next_payment=(account.monthly_payment, result.next_payment_due))
        uow.commit()
        logger.info("autopay cancelled for customer %s", customer_id)
        return result


def _active(session: Session, account_id: int) -> Optional[AutopayEnrolment]:
    return session.scalar(select(AutopayEnrolment).where(
        AutopayEnrolment.account_id == account_id, AutopayEnrolment.active.is_(True)))


def _current(session: Session, account_id: int, today: date) -> AutopayStatus:
    enrolment = _active(session, account_id)
    if enrolment is None:
        return AutopayStatus(enrolled=False)
    return _status(enrolment.day_of_month, enrolment.amount, enrolment.funding_source.masked_name,
                   today)


def _status(day: int, amount: Decimal, source_masked: str, today: date) -> AutopayStatus:
    return AutopayStatus(True, day, amount, source_masked, next_due(today, day))


def _checked_day(day: Any) -> int:
    """1 to 28 only: a 29th-31st would silently move in short months."""
    if isinstance(day, bool) or not isinstance(day, int) or not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidAutopayDay()
    return day


def _source(session: Session, customer_id: int, source_id: int) -> FundingSource:
    source = session.get(FundingSource, source_id)
    if source is None or source.customer_id != customer_id or not source.active:
        raise UnknownFundingSource()
    return source


def _notify_and_audit(session: Session, account: Account, kind: str, now: datetime,
                      status: AutopayStatus, base_url: str,
                      before: Optional[dict[str, Any]] = None,
                      next_payment: Optional[tuple[Decimal, date]] = None) -> None:
    """Email the customer and record the action, inside the caller's transaction."""
    customer = session.get_one(Customer, account.customer_id)
    assert status.amount is not None and status.next_debit_date is not None
    amount, masked = format_usd(status.amount), mask_account_number(account.account_number)
    plan = f"{amount} from {status.source_masked} on day {status.day_of_month} of each month"
    if next_payment is not None:
        due_amount, due_on = next_payment
        body = (f"Your autopay of {plan} was cancelled. Your next payment of "
                f"{format_usd(due_amount)} is due {format_long_date(due_on)}; please pay it "
                "another way, or set up autopay again.")
    else:
        verb = "is set up" if kind == "autopay_enrolled" else "was changed"
        body = (f"Your autopay {verb}: {plan}. The next automatic payment is on "
                f"{format_long_date(status.next_debit_date)}.")
    body += (f" Account {masked}. To review it, visit {base_url}. "
             "If you didn't make this change, please contact us right away.")
    queue_message(session, to=customer.email, channel="email", kind=kind,
                  subject=_SUBJECTS[kind], body=body, customer_id=customer.id)
    details: dict[str, Any] = {"account": masked, "day": status.day_of_month,
                               "amount": str(status.amount), "source": status.source_masked}
    if before is not None:
        details["before"] = before
    audit.record(session, now, audit.customer(customer.id), kind, f"account:{masked}", **details)

