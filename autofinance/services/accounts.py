"""Read-only account views: balance, loan or lease terms, payment status, payment history.

Each use case opens the unit of work, reads, and returns small frozen results that hold only
what a customer may be told: account numbers and funding sources arrive masked, money is exact
`Decimal`. Nothing here writes, so nothing is committed.
"""
from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
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
from autofinance.services.errors import AccountChoiceNeeded, AccountNotFound, AccountPaidOff

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


@dataclass(frozen=True)
class AccountOption:
    """One open account as the customer may see it: masked, with its vehicle.

    `account_id` is the store's internal id, what the chat keeps in its slot (never the account
    number); it means nothing without the customer it belongs to (`primary_account` checks).
    """

    account_id: int
    product: Literal["loan", "lease"]
    account_masked: str  # ****4821
    vehicle: str  # 2021 Toyota Camry, or "" when none is on file

    @property
    def label(self) -> str:
        """'loan ****4821 · 2021 Toyota Camry': a button's title."""
        return f"{self.product} {self.account_masked}" + (f" · {self.vehicle}" if self.vehicle else "")

    @property
    def described(self) -> str:
        """'lease ****7390 (2023 Honda CR-V)': the account named in a sentence."""
        return f"{self.product} {self.account_masked}" + (f" ({self.vehicle})" if self.vehicle else "")


@dataclass
class AccountChoice:
    """The account the conversation is about, as the action layer read it from its slot.

    Set for the length of one action with `choosing`; `primary_account` is its only reader and
    trusts it only for an open account of the customer asked about. `used` records that an
    account was looked up under it, so the assistant can say which account its answer was about.
    """

    account_id: Optional[int]
    used: bool = field(default=False, compare=False)


_choice: ContextVar[Optional[AccountChoice]] = ContextVar("account_choice", default=None)


@contextmanager
def choosing(choice: AccountChoice) -> Iterator[AccountChoice]:
    """Runs the block with `choice` as the chosen account (threads started with
    `asyncio.to_thread` inside it see it too)."""
    token = _choice.set(choice)
    try:
        yield choice
    finally:
        _choice.reset(token)


def account_option(account: Account) -> AccountOption:
    return AccountOption(
        account_id=account.id,
        product="lease" if account.product == "lease" else "loan",
        account_masked=mask_account_number(account.account_number),
        vehicle=account.vehicle.description if account.vehicle else "",
    )


def open_accounts(session: Session, customer_id: int) -> list[Account]:
    """The customer's accounts not closed, oldest first."""
    return list(session.scalars(
        select(Account)
        .where(Account.customer_id == customer_id, Account.status != "closed")
        .order_by(Account.id)
    ))


def primary_account(session: Session, customer_id: int) -> Account:
    """The account a use case is about: the customer's only open account, or the one chosen.

    Every account use case starts here, so the "which account" rule lives in one place. With
    several open accounts the choice in effect (`choosing`) decides, and only when it names one
    of this customer's open accounts: anything else (none, closed, someone else's) raises
    AccountChoiceNeeded with the customer's options, masked. Callers that are about the customer
    (contact details, password, paperless, fraud) never come here.
    """
    accounts = open_accounts(session, customer_id)
    if not accounts:
        paid_off = session.scalar(select(func.max(Account.paid_off_on)).where(
            Account.customer_id == customer_id, Account.paid_off_on.is_not(None)))
        raise AccountPaidOff(format_long_date(paid_off)) if paid_off else AccountNotFound()
    choice = _choice.get()
    if choice is not None:
        choice.used = True
    if len(accounts) == 1:
        return accounts[0]
    chosen = next((a for a in accounts if choice is not None and a.id == choice.account_id), None)
    if chosen is None:
        raise AccountChoiceNeeded(tuple(account_option(a) for a in accounts))
    return chosen


@dataclass(frozen=True)
class AccountsInPlay:
    """The customer's open accounts and the one a choice names (None: none valid, or not needed
    because there is only one)."""

    options: tuple[AccountOption, ...]
    chosen: Optional[AccountOption]

    @property
    def several(self) -> bool:
        return len(self.options) > 1

    @property
    def current(self) -> Optional[AccountOption]:
        """The account answers are about: the chosen one, or the only one."""
        return self.chosen or (self.options[0] if len(self.options) == 1 else None)


def accounts_in_play(customer_id: int, account_id: Optional[int], uow: UnitOfWork) -> AccountsInPlay:
    """The customer's open accounts and which of them `account_id` names, if it is one of them
    (a value from a slot is never trusted: another customer's id names nothing)."""
    with uow:
        options = tuple(account_option(a) for a in open_accounts(uow.session, customer_id))
        chosen = next((o for o in options if o.account_id == account_id), None)
        return AccountsInPlay(options, chosen)


_OTHER = ("other", "another", "second", "different", "2nd")


def _words(text: str) -> set[str]:
    words = set(re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)?", text.lower()))
    return words | {w.replace("-", "") for w in words}


def _hits(said: set[str], names: set[str], vehicle: set[str]) -> int:
    """How many of the names were said; a make or model may be misspelt ("camery", "hundai"),
    never "loan" or "lease" ("please" is not "lease")."""
    exact = said & (names | vehicle)
    fuzzy = {n for n in vehicle - exact if len(n) >= 4 and not n.isdigit()
             and difflib.get_close_matches(n, [w for w in said if len(w) >= 4], n=1, cutoff=0.8)}
    return len(exact) + len(fuzzy)


def match_account(said: str, in_play: AccountsInPlay) -> Optional[AccountOption]:
    """The account a customer names in `said` ("my other car", "the lease", "the Camry",
    "switch to my loan", "the one ending 7390"): exactly one of `in_play.options`, or None
    when the words fit none or several. "Other" means the one not in use (with two)."""
    words = _words(said)
    options = in_play.options
    scored = []
    for option in options:
        names = {option.product, option.account_masked[-4:]}
        hits = _hits(words | {w[:-1] for w in words if w.endswith("s")}, names, _words(option.vehicle))
        scored.append((hits, option))
    best = max((hits for hits, _ in scored), default=0)
    if best > 0:
        top = [option for hits, option in scored if hits == best]
        return top[0] if len(top) == 1 else None
    if words & set(_OTHER) and len(options) == 2 and in_play.current is not None:
        return next(o for o in options if o != in_play.current)
    return None


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
