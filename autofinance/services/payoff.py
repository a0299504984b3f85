"""Payoff: what it takes to close the account on a given day.

A loan's payoff is its principal plus the interest that accrues each day until the money
arrives (the per-diem), plus any fees due; that is why a quote is "good through" a date. A
lease's payoff is the buyout: the remaining payments, the residual value and the purchase-option
fee. The figure is also the ceiling for a one-time payment, so `payments` reuses it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Optional

from sqlalchemy import select

from autofinance.adapters.notify import queue_message
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Account, AuditLog, Customer
from autofinance.domain.clock import aware
from autofinance.domain.masking import mask_account_number, mask_email
from autofinance.domain.money import format_usd, to_money
from autofinance.domain.parsing import format_long_date
from autofinance.services import audit
from autofinance.services.accounts import primary_account
from autofinance.services.errors import InvalidPayoffDate

logger = logging.getLogger(__name__)

MAX_QUOTE_DAYS = 30  # a quote further out would be wrong by more payments than it could foresee
DAYS_PER_YEAR = Decimal(365)


@dataclass(frozen=True)
class PayoffQuote:
    amount: Decimal
    good_through: date
    per_diem: Decimal  # daily interest, to the cent, for display; zero for a lease buyout
    quote_number: str


@dataclass(frozen=True)
class QuoteEmailed:
    quote: PayoffQuote
    destination_masked: str
    sent: bool  # False when this quote had already been emailed: a retry sends nothing twice


def per_diem(account: Account) -> Decimal:
    """Unrounded daily interest: principal × APR ÷ 100 ÷ 365 (rounding happens once, at the end)."""
    if account.product == "lease" or not account.apr:
        return Decimal(0)
    return account.principal_balance * account.apr / Decimal(100) / DAYS_PER_YEAR


def payoff_amount(account: Account, on: date, today: date) -> Decimal:
    """Exact payoff if the money arrives on `on`: per-diem interest accrues from today.

    Raises ValueError for a date before today: there is no payoff in the past, and callers
    validate customer dates first (see `payoff_quote`, `payments.schedule_payment`).
    """
    if on < today:
        raise ValueError("payoff date is before today")
    if account.product == "lease":
        assert account.residual_value is not None  # a schema check guarantees it
        remaining = account.monthly_payment * account.payments_remaining
        return to_money(remaining + account.residual_value + (account.purchase_option_fee or 0))
    interest = to_money(per_diem(account) * (on - today).days)
    return to_money(account.principal_balance + interest + account.fees_due)


def quote_number(account: Account, good_through: date) -> str:
    """Deterministic, so asking twice for the same day gives the customer the same reference."""
    return f"PQ{account.account_number[-4:]}{good_through:%y%m%d}"


def _check_quote_date(good_through: date, today: date) -> None:
    if not today <= good_through <= today + timedelta(days=MAX_QUOTE_DAYS):
        raise InvalidPayoffDate()


def _quote(account: Account, good_through: date, today: date) -> PayoffQuote:
    return PayoffQuote(
        amount=payoff_amount(account, good_through, today),
        good_through=good_through,
        per_diem=to_money(per_diem(account)),
        quote_number=quote_number(account, good_through),
    )


def payoff_quote(customer_id: int, good_through: date, uow: UnitOfWork, today: date) -> PayoffQuote:
    """A payoff quote good through a date from today to 30 days ahead."""
    _check_quote_date(good_through, today)
    with uow:
        quote = _quote(primary_account(uow.session, customer_id), good_through, today)
    logger.info("payoff quote %s for customer %s", quote.quote_number, customer_id)
    return quote


def email_payoff_quote(customer_id: int, good_through: date, uow: UnitOfWork, base_url: str,
                       today: date, now: Optional[datetime] = None) -> QuoteEmailed:
    """Email the quote to the address on file, once per quote number (a retry finds the first).

    The quote is worked out in the same transaction that records the email, so the figures sent
    are the figures quoted; the email points to `base_url` for questions.
    """
    _check_quote_date(good_through, today)
    now = aware(now)
    with uow:
        session = uow.session
        account = primary_account(session, customer_id)
        quote = _quote(account, good_through, today)
        subject = f"payoff_quote:{quote.quote_number}"
        customer = session.get_one(Customer, customer_id)
        masked = mask_email(customer.email)
        if session.scalar(select(AuditLog.id).where(
                AuditLog.action == "payoff_quote_emailed", AuditLog.subject == subject)):
            return QuoteEmailed(quote, masked, sent=False)
        what = "lease buyout" if account.product == "lease" else "payoff"
        body = (f"Your {what} amount for account {mask_account_number(account.account_number)} is "
                f"{format_usd(quote.amount)} if we receive it by {format_long_date(quote.good_through)}. "
                f"Quote number: {quote.quote_number}.")
        if quote.per_diem > 0:
            body += f" After that date, interest adds {format_usd(quote.per_diem)} a day."
        body += (" Pay it from a saved account in the chat or online, or mail a check with the quote "
                 f"number. Questions? Visit {base_url}.")
        queue_message(session, to=customer.email, channel="email", kind="payoff_quote",
                      customer_id=customer_id, subject=f"Your {what} quote {quote.quote_number}",
                      body=body)
        audit.record(session, now, audit.customer(customer_id), "payoff_quote_emailed", subject,
                     to=masked, good_through=quote.good_through.isoformat(),
                     amount=str(quote.amount))  # for the reminder before it lapses
        uow.commit()
    logger.info("payoff quote %s emailed to customer %s", quote.quote_number, customer_id)
    return QuoteEmailed(quote, masked, sent=True)
