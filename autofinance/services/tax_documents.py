"""Year-end interest: what a loan customer paid in interest in a calendar year, for their taxes.

The store keeps each payment but not its split between interest and principal, so the split is
worked out the way a simple-interest loan accrues: walking back from today's principal balance
through the posted payments, the balance before each payment is (balance after + payment) /
(1 + monthly rate), and that balance times the monthly rate is the interest the payment paid.
A lease has no interest statement (`NoInterestStatement`). The statement itself is a document
of the portal's kind ("interest-2026"), sent as a signed, expiring link to the email on file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Account, Payment
from autofinance.domain.money import format_usd, to_money
from autofinance.services.accounts import primary_account
from autofinance.services.errors import NoInterestStatement

SUPPORT_PHONE = "1-800-555-0199"


@dataclass(frozen=True)
class InterestStatement:
    year: int
    interest: Decimal
    principal: Decimal
    payments: int  # posted payments in the year
    through: date  # the year's end, or today for the year so far


def interest_paid(customer_id: int, year: int, uow: UnitOfWork, today: date) -> InterestStatement:
    """Interest and principal paid by the posted payments of `year` (the year so far for this
    one); raises NoInterestStatement for a lease."""
    with uow:
        return interest_of(primary_account(uow.session, customer_id), year, uow, today)


def interest_of(account: Account, year: int, uow: UnitOfWork, today: date) -> InterestStatement:
    """As `interest_paid`, for an account already read in the caller's unit of work."""
    if account.product == "lease" or account.apr is None:
        raise NoInterestStatement()
    monthly = account.apr / Decimal(1200)
    payments = uow.session.scalars(
        select(Payment).where(Payment.account_id == account.id, Payment.status == "posted",
                              Payment.scheduled_for <= today)
        .order_by(Payment.scheduled_for.desc(), Payment.id.desc())).all()
    balance = account.principal_balance
    interest = principal = Decimal("0")
    counted = 0
    for payment in payments:
        before = (balance + payment.amount) / (1 + monthly)
        paid_interest = before * monthly
        if payment.scheduled_for.year == year:
            interest += paid_interest
            principal += payment.amount - paid_interest
            counted += 1
        balance = before
    through = min(date(year, 12, 31), today)
    return InterestStatement(year, to_money(interest), to_money(principal), counted, through)


def render_interest_statement(account: Account, year: int, uow: UnitOfWork, today: date) -> list[str]:
    """The statement's lines, for the document page."""
    found = interest_of(account, year, uow, today)
    so_far = " (the year so far)" if found.through < date(year, 12, 31) else ""
    return [f"Year-end interest statement: {year}{so_far}",
            f"Posted payments in {year}: {found.payments}",
            f"Interest paid: {format_usd(found.interest)}",
            f"Principal paid: {format_usd(found.principal)}", "",
            "Interest is worked out from your payments and your loan's rate; it is for your records "
            "and your tax preparer, not tax advice. Personal auto-loan interest is usually not "
            "deductible; business use of the vehicle may be. Questions? Call "
            f"{SUPPORT_PHONE}."]


def statement_year(asked: str, today: date) -> int:
    """The year a request means: a year named ("for 2025"), "this year" / "so far" for this one,
    otherwise last year (what a tax return is for)."""
    named = re.search(r"\b(20\d\d)\b", asked)
    if named and int(named.group(1)) <= today.year:
        return int(named.group(1))
    if re.search(r"\b(this year|so far|year to date|ytd|current year)\b", asked, re.IGNORECASE):
        return today.year
    return today.year - 1


def year_document_id(year: int) -> str:
    return f"interest-{year}"

