"""Read-only account views: balance, loan or lease terms, payment status, payment history.

Each use case opens the unit of work, reads, and returns small frozen results that hold only
what a customer may be told: account numbers and funding sources arrive masked, money is exact
`Decimal`. Nothing here writes, so nothing is committed.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal, Optional, Union

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Account, AutopayEnrolment, Payment
from autofinance.domain.calendar import next_due, upcoming_due_date
from autofinance.domain.masking import mask_account_number
from autofinance.domain.parsing import format_long_date
from autofinance.services.errors import AccountNotFound, AccountPaidOff

logger = logging.getLogger(__name__)

_ORIGIN_WITHOUT_SOURCE = {"mail": "mailed check", "phone": "payment by phone"}


@dataclass(frozen=True)
class LoanBalance:
    account_masked: str
    vehicle: str
    principal_balance: Decimal
    next_payment_amount: Decimal
    next_payment_due: date
    past_due_amount: Decimal
    days_past_due: int
    product: Literal["loan"] = "loan"


@dataclass(frozen=True)
class LeaseBalance:
    account_masked: str
    vehicle: str
    remaining_payments: int
    monthly_payment: Decimal
    remaining_payments_total: Decimal
    residual_value: Decimal
    maturity_date: date
    annual_mileage_allowance: Optional[int]
    next_payment_due: date
    past_due_amount: Decimal
    days_past_due: int
    product: Literal["lease"] = "lease"


@dataclass(frozen=True)
class LoanTerms:
    """Loan: `apr` is set (5.49 means 5.49%). Lease: `money_factor` is set, maturity = lease end."""

    product: Literal["loan", "lease"]
    monthly_payment: Decimal
    payments_remaining: int
    maturity_date: date
    apr: Optional[Decimal] = None
    money_factor: Optional[Decimal] = None


@dataclass(frozen=True)
class PaymentStatus:
    """Where the customer stands: the next payment, anything past due, and autopay if on.

    Paying `past_due_amount` brings the account current; the autopay fields are None when the
    customer is not enrolled.
    """

    next_payment_amount: Decimal
    next_payment_due: date
    past_due_amount: Decimal
    days_past_due: int
    autopay_source: Optional[str] = None  # 'checking ****2244'
    autopay_next_debit: Optional[date] = None

    @property
    def behind(self) -> bool:
        return self.past_due_amount > 0


@dataclass(frozen=True)
class PaymentLine:
    """One payment as a customer sees it: the method is masked ('checking ****6789')."""

    date: date
    amount: Decimal
    fee: Decimal
    method: str
    status: str
    confirmation_number: str


def primary_account(session: Session, customer_id: int) -> Account:
    """The customer's open account (the demo has one per customer; the oldest if several).

    Every account use case starts here, so the "which account" rule lives in one place.
    """
    account = session.scalars(
        select(Account)
        .where(Account.customer_id == customer_id, Account.status != "closed")
        .order_by(Account.id)
        .limit(1)
    ).first()
    if account is None:
        paid_off = session.scalar(select(func.max(Account.paid_off_on)).where(
            Account.customer_id == customer_id, Account.paid_off_on.is_not(None)))
        raise AccountPaidOff(format_long_date(paid_off)) if paid_off else AccountNotFound()
    return account


def active_autopay(session: Session, account_id: int) -> Optional[AutopayEnrolment]:
    """The account's autopay enrolment, if one is on (the database allows one at a time)."""
    return session.scalar(select(AutopayEnrolment).where(
        AutopayEnrolment.account_id == account_id, AutopayEnrolment.active.is_(True)))


def payment_line(payment: Payment) -> PaymentLine:
    source = payment.funding_source
    method = source.masked_name if source else _ORIGIN_WITHOUT_SOURCE.get(payment.origin, "other")
    return PaymentLine(
        date=payment.scheduled_for,
        amount=payment.amount,
        fee=payment.fee,
        method=method,
        status=payment.status,
        confirmation_number=payment.confirmation_number,
    )


def balance_summary(
    customer_id: int, uow: UnitOfWork, today: date
) -> Union[LoanBalance, LeaseBalance]:
    """What the customer owes now: a loan's principal or a lease's remaining payments."""
    with uow:
        account = primary_account(uow.session, customer_id)
        vehicle = account.vehicle.description if account.vehicle else ""
        masked = mask_account_number(account.account_number)
        due = upcoming_due_date(account.next_due_date, account.payment_due_day, today)
        if account.product == "lease":
            assert account.residual_value is not None  # a schema check guarantees it
            return LeaseBalance(
                account_masked=masked,
                vehicle=vehicle,
                remaining_payments=account.payments_remaining,
                monthly_payment=account.monthly_payment,
                remaining_payments_total=account.monthly_payment * account.payments_remaining,
                residual_value=account.residual_value,
                maturity_date=account.maturity_date,
                annual_mileage_allowance=account.annual_mileage_allowance,
                next_payment_due=due,
                past_due_amount=account.past_due_amount,
                days_past_due=account.days_past_due,
            )
        return LoanBalance(
            account_masked=masked,
            vehicle=vehicle,
            principal_balance=account.principal_balance,
            next_payment_amount=account.monthly_payment,
            next_payment_due=due,
            past_due_amount=account.past_due_amount,
            days_past_due=account.days_past_due,
        )


def payment_status(customer_id: int, uow: UnitOfWork, today: date) -> PaymentStatus:
    """The next payment and the past-due amount, for "when is my payment" and "how far behind am I"."""
    with uow:
        account = primary_account(uow.session, customer_id)
        enrolment = active_autopay(uow.session, account.id)
        return PaymentStatus(
            next_payment_amount=account.monthly_payment,
            next_payment_due=upcoming_due_date(account.next_due_date, account.payment_due_day, today),
            past_due_amount=account.past_due_amount,
            days_past_due=account.days_past_due,
            autopay_source=enrolment.funding_source.masked_name if enrolment else None,
            autopay_next_debit=next_due(today, enrolment.day_of_month) if enrolment else None,
        )


def loan_terms(customer_id: int, uow: UnitOfWork) -> LoanTerms:
    """The contract terms: rate, payments left and when the loan or lease ends."""
    with uow:
        account = primary_account(uow.session, customer_id)
        is_lease = account.product == "lease"
        return LoanTerms(
            product="lease" if is_lease else "loan",
            monthly_payment=account.monthly_payment,
            payments_remaining=account.payments_remaining,
            maturity_date=account.maturity_date,
            apr=None if is_lease or account.apr is None else account.apr.quantize(Decimal("0.01")),
            money_factor=(account.money_factor.normalize()
                          if is_lease and account.money_factor else None),
        )


def payment_history(customer_id: int, uow: UnitOfWork, limit: int = 6) -> list[PaymentLine]:
    """Payments made or attempted, newest first; future scheduled ones are `scheduled_payments`."""
    with uow:
        account = primary_account(uow.session, customer_id)
        payments = uow.session.scalars(
            select(Payment)
            .where(Payment.account_id == account.id, Payment.status != "scheduled")
            .options(selectinload(Payment.funding_source))
            .order_by(Payment.scheduled_for.desc(), Payment.id.desc())
            .limit(limit)
        ).all()
        return [payment_line(p) for p in payments]
