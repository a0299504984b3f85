"""Lease end: the customer's choices (buy, return, extend), the buyout itemised, and a request
to extend.

An extension changes the contract, so the assistant never grants it: it records the request
(audit row) and confirms receipt by email, and a lease-end specialist confirms or declines. The
account, its maturity date and its payments stay exactly as they were until then.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Optional

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from autofinance.adapters.notify import queue_message
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Account, AuditLog, Customer
from autofinance.domain.calendar import add_months, upcoming_due_date
from autofinance.domain.clock import aware
from autofinance.domain.masking import mask_account_number
from autofinance.domain.money import format_usd
from autofinance.domain.parsing import format_long_date
from autofinance.services import audit, work_items
from autofinance.services.accounts import primary_account
from autofinance.services.errors import InvalidExtensionLength, NotALease, WorkItemCannotComplete
from autofinance.services.payoff import payoff_amount

logger = logging.getLogger(__name__)

INSPECTION_WINDOW_DAYS = 30  # the return inspection happens within this many days of maturity
EXCESS_MILEAGE_RATE = Decimal("0.20")  # per mile over the allowance
DISPOSITION_FEE = Decimal("395.00")  # charged on return, waived for a new Meridian vehicle
MAX_EXTENSION_MONTHS = 6  # month to month, at the current payment


@dataclass(frozen=True)
class ReturnInfo:
    inspection_window_days: int
    annual_mileage_allowance: Optional[int]
    excess_mileage_rate: Decimal
    disposition_fee: Decimal
    disposition_fee_waiver: str
    excess_wear: str


@dataclass(frozen=True)
class LeaseEndOptions:
    account_masked: str
    vehicle: str
    maturity_date: date
    days_left: int  # 0 once the maturity date has passed
    buyout_price: Decimal  # remaining payments + residual value + purchase-option fee
    monthly_payment: Decimal
    return_info: ReturnInfo
    extension_months_available: int


@dataclass(frozen=True)
class BuyoutBreakdown:
    """The buyout price and its parts; `total` is their exact sum, so the lines shown add up.

    The price holds through `good_through`, the next payment date (today once none remain):
    once that payment is made, one fewer remains and the price goes down by it. It equals
    `payoff.payoff_amount` for the lease, the figure a buyout payment is checked against.
    """

    residual_value: Decimal
    remaining_payments: int
    monthly_payment: Decimal
    remaining_payments_total: Decimal
    purchase_option_fee: Decimal
    total: Decimal
    good_through: date
    maturity_date: date
    state: str  # where the customer lives: its sales tax and fees come on top
    vehicle: str


@dataclass(frozen=True)
class LeaseExtensionPreview:
    """The request the customer is asked to confirm; nothing is sent yet."""

    months: int
    monthly_payment: Decimal
    maturity_date: date
    requested_maturity_date: date


@dataclass(frozen=True)
class LeaseExtensionRequested:
    reference: str
    months: int
    monthly_payment: Decimal
    maturity_date: date  # unchanged until a specialist confirms
    requested_maturity_date: date
    created: bool  # False when the same request was already made today
    message: str


def _lease(session: Session, customer_id: int) -> Account:
    account = primary_account(session, customer_id)
    if account.product != "lease":
        raise NotALease()
    return account


def return_info(account: Account) -> ReturnInfo:
    return ReturnInfo(
        inspection_window_days=INSPECTION_WINDOW_DAYS,
        annual_mileage_allowance=account.annual_mileage_allowance,
        excess_mileage_rate=EXCESS_MILEAGE_RATE,
        disposition_fee=DISPOSITION_FEE,
        disposition_fee_waiver=(
            "The disposition fee is waived if you lease or buy another vehicle financed by "
            "Meridian Auto Finance."),
        excess_wear=(
            "Wear beyond normal use found at the inspection (for example body damage, worn "
            "tires or interior damage) is charged as excess wear."),
    )


def lease_end_options(customer_id: int, uow: UnitOfWork, today: date) -> LeaseEndOptions:
    """What the customer can do when the lease ends, with the figures for each choice."""
    with uow:
        account = _lease(uow.session, customer_id)
        return LeaseEndOptions(
            account_masked=mask_account_number(account.account_number),
            vehicle=account.vehicle.description if account.vehicle else "",
            maturity_date=account.maturity_date,
            days_left=max((account.maturity_date - today).days, 0),
            buyout_price=payoff_amount(account, today, today),
            monthly_payment=account.monthly_payment,
            return_info=return_info(account),
            extension_months_available=MAX_EXTENSION_MONTHS,
        )


def lease_buyout(customer_id: int, uow: UnitOfWork, today: date) -> BuyoutBreakdown:
    """What buying the car costs, part by part: remaining payments, residual value, fee."""
    with uow:
        session = uow.session
        account = _lease(session, customer_id)
        assert account.residual_value is not None  # a schema check guarantees it
        remaining = account.monthly_payment * account.payments_remaining
        fee = account.purchase_option_fee or Decimal("0.00")
        due = upcoming_due_date(account.next_due_date, account.payment_due_day, today)
        return BuyoutBreakdown(
            residual_value=account.residual_value,
            remaining_payments=account.payments_remaining,
            monthly_payment=account.monthly_payment,
            remaining_payments_total=remaining,
            purchase_option_fee=fee,
            total=remaining + account.residual_value + fee,
            good_through=due if account.payments_remaining else today,
            maturity_date=account.maturity_date,
            state=session.get_one(Customer, customer_id).state,
            vehicle=account.vehicle.description if account.vehicle else "",
        )


def extension_reference(account: Account, months: int, today: date) -> str:
    """Deterministic, so a retried request finds the first one instead of sending twice."""
    return f"LX{account.account_number[-4:]}{today:%y%m%d}{months}"


def preview_lease_extension(customer_id: int, months: int, uow: UnitOfWork
                            ) -> LeaseExtensionPreview:
    """What extending by `months` would mean: the same payment, the end that much later."""
    months = _checked_months(months)
    with uow:
        account = _lease(uow.session, customer_id)
        return LeaseExtensionPreview(months, account.monthly_payment, account.maturity_date,
                                     add_months(account.maturity_date, months))


def request_lease_extension(customer_id: int, months: int, uow: UnitOfWork, base_url: str,
                            today: date, now: Optional[datetime] = None
                            ) -> LeaseExtensionRequested:
    """Record a request to extend the lease by 1 to 6 months; a specialist confirms it."""
    months, now = _checked_months(months), aware(now)
    with uow:
        session = uow.session
        account = _lease(session, customer_id)
        reference = extension_reference(account, months, today)
        requested = add_months(account.maturity_date, months)
        payment = format_usd(account.monthly_payment)
        span = "1 month" if months == 1 else f"{months} months"
        what = (f"extend your lease by {span}, month to month at {payment} a month, to "
                f"{format_long_date(requested)}")
        pending = (f"A lease-end specialist will review it and contact you to confirm. Until "
                   f"then your lease still ends on {format_long_date(account.maturity_date)}. "
                   f"Your reference is {reference}.")
        message = f"I've sent your request to {what}. {pending}"
        result = LeaseExtensionRequested(reference, months, account.monthly_payment,
                                         account.maturity_date, requested, True, message)
        subject = f"lease_extension:{reference}"
        if session.scalar(select(AuditLog.id).where(
                AuditLog.action == "lease_extension_requested", AuditLog.subject == subject)):
            return replace(result, created=False)  # a retry: the first request stands
        customer = session.get_one(Customer, customer_id)
        queue_message(
            session, to=customer.email, channel="email", kind="lease_extension_requested",
            customer_id=customer_id, subject="We received your lease extension request",
            body=f"We received your request to {what}. {pending} Account "
                 f"{mask_account_number(account.account_number)}. Nothing on your lease has "
                 f"changed yet. Questions? Visit {base_url}.",
        )
        audit.record(session, now, audit.customer(customer_id), "lease_extension_requested",
                     subject, account=mask_account_number(account.account_number), months=months,
                     maturity_date=account.maturity_date.isoformat(),
                     requested_maturity_date=requested.isoformat())
        work_items.queue_item(
            session, "lease_extension", subject, customer_id, account.id,
            f"Extend lease {mask_account_number(account.account_number)} by {span}, month to month "
            f"at {payment}: from {format_long_date(account.maturity_date)} to "
            f"{format_long_date(requested)} ({account.payments_remaining} payments left now).",
            now, reference=reference, months=months,
            maturity_date=account.maturity_date.isoformat(),
            requested_maturity_date=requested.isoformat())
        uow.commit()
    logger.info("lease extension of %d months requested for customer %s", months, customer_id)
    return result


def _checked_months(months: object) -> int:
    """1 to 6 whole months: an extension runs month to month, at most half a year."""
    if isinstance(months, bool) or not isinstance(months, int) or not (
            1 <= months <= MAX_EXTENSION_MONTHS):
        raise InvalidExtensionLength()
    return months


def apply_extension(session: Session, account_id: int, months: int, maturity_date: date,
                    requested_maturity_date: date) -> None:
    """A specialist confirmed the extension: the lease ends `months` later, with as many more
    payments at the same amount, in the caller's transaction. Conditional on the end date the
    customer asked from, so it is applied once and never to a lease that changed meanwhile."""
    extended = session.execute(
        update(Account).where(Account.id == account_id, Account.product == "lease",
                              Account.status != "closed", Account.maturity_date == maturity_date)
        .values(maturity_date=requested_maturity_date,
                payments_remaining=Account.payments_remaining + months)
        .execution_options(synchronize_session=False)).rowcount
    if extended != 1:
        raise WorkItemCannotComplete("The lease's end date changed since this request; decline it "
                                     "with a note, or ask the customer to request again.")
