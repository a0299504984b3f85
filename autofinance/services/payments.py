"""One-time payments: the options, scheduling (exactly once), cancelling, the upcoming list.

Scheduling is the one money-moving use case, so it is idempotent: the caller passes a key that
is stable for one confirmed request (a retried webhook, a double click, a restarted action
server all reuse it). The database's unique index on the key, not a read-then-write check,
is what guarantees a single payment when two requests race. The confirmation email is written
to the outbox in the same transaction, so it exists exactly when the payment does.
"""
from __future__ import annotations

import logging
import re
import secrets
from base64 import b32encode
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Iterator, Optional, Union, get_args

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from autofinance.adapters.notify import queue_message
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Account, Customer, FundingSource, Payment
from autofinance.domain.clock import aware
from autofinance.domain.masking import mask_account_number
from autofinance.domain.money import CENT, format_usd
from autofinance.domain.parsing import AmountChoice, format_long_date
from autofinance.services import audit
from autofinance.services.accounts import PaymentLine, payment_line, primary_account
from autofinance.services.errors import (
    AccountFrozen,
    AmountAbovePayoff,
    AmountNotPositive,
    AmountNotWholeCents,
    AmountOverPayoff,
    IdempotencyConflict,
    InvalidAmount,
    InvalidPaymentDate,
    NoPastDueAmount,
    PaymentDateInPast,
    PaymentDateTooFar,
    PaymentNotCancellable,
    PaymentNotFound,
    UnknownFundingSource,
)
from autofinance.services.payoff import payoff_amount

logger = logging.getLogger(__name__)

DEBIT_CARD_FEE = Decimal("2.95")  # the lender's convenience fee per debit-card payment
MAX_DAYS_AHEAD = 30  # the latest date a one-time payment may be scheduled, counted from today
AMOUNT_CHOICES: tuple[AmountChoice, ...] = get_args(AmountChoice)  # the amounts named by choice
_KIND_WORDS = {"checking": ("checking", "bank"), "savings": ("savings", "bank"),
               "debit_card": ("debit", "card")}
_AUDIT_ACTIONS = {"payment_confirmation": "payment_scheduled",
                  "payment_cancelled": "payment_cancelled"}


@dataclass(frozen=True)
class FundingOption:
    id: int
    masked_name: str  # 'checking ****6789'
    kind: str
    fee: Decimal


@dataclass(frozen=True)
class PaymentOptions:
    monthly_payment: Decimal
    past_due_amount: Decimal
    payoff_amount: Decimal  # as of today
    funding_sources: tuple[FundingOption, ...]
    debit_card_fee: Decimal


@dataclass(frozen=True)
class PaymentReceipt:
    confirmation_number: str
    amount: Decimal
    fee: Decimal
    pay_on: date
    source_masked: str
    status: str  # 'pending' (today) or 'scheduled'
    created: bool  # False when an earlier request with the same key already made it

    @property
    def total(self) -> Decimal:
        return self.amount + self.fee


@dataclass(frozen=True)
class CancelledPayment:
    confirmation_number: str
    amount: Decimal
    pay_on: date
    source_masked: str
    cancelled_at: datetime


def fee_for(kind: str) -> Decimal:
    """Bank accounts are free; a debit card carries the convenience fee."""
    return DEBIT_CARD_FEE if kind == "debit_card" else Decimal("0.00")


def _option(source: FundingSource) -> FundingOption:
    return FundingOption(source.id, source.masked_name, source.kind, fee_for(source.kind))


def _active_sources(session: Session, customer_id: int) -> list[FundingSource]:
    return list(session.scalars(
        select(FundingSource)
        .where(FundingSource.customer_id == customer_id, FundingSource.active.is_(True))
        .order_by(FundingSource.id)
    ))


def payment_options(customer_id: int, uow: UnitOfWork, today: date) -> PaymentOptions:
    """The amounts a customer can pick by name and the saved ways to pay, with their fees."""
    with uow:
        account = primary_account(uow.session, customer_id)
        sources = _active_sources(uow.session, customer_id)
        return PaymentOptions(
            monthly_payment=account.monthly_payment,
            past_due_amount=account.past_due_amount,
            payoff_amount=payoff_amount(account, today, today),
            funding_sources=tuple(_option(s) for s in sources),
            debit_card_fee=DEBIT_CARD_FEE,
        )


def resolve_funding_source(
    customer_id: int, text: str, uow: UnitOfWork
) -> Optional[FundingOption]:
    """The one saved, active source the customer means ('my checking', 'card ending 1111').

    Every clue given (kind words, last four) must fit; None unless exactly one source fits,
    so an ambiguous answer makes the form ask again instead of picking for the customer.
    """
    lowered = text.lower()
    last4s = set(re.findall(r"(?<!\d)\d{4}(?!\d)", lowered))
    kinds = {kind for kind, words in _KIND_WORDS.items()
             if any(re.search(rf"\b{word}\b", lowered) for word in words)}
    if not last4s and not kinds:
        return None
    with uow:
        matches = [
            s for s in _active_sources(uow.session, customer_id)
            if (not last4s or s.last4 in last4s) and (not kinds or s.kind in kinds)
        ]
        return _option(matches[0]) if len(matches) == 1 else None


def _checked_amount(amount: Decimal, payoff: Optional[Decimal] = None) -> Decimal:
    """The amount to the cent: more than zero, not above the payoff (when given) and in whole
    cents, checked in that order; a refused amount is never rounded into an accepted one."""
    if isinstance(amount, float):
        raise TypeError("money must not be a float")
    amount = Decimal(amount)
    if not amount.is_finite() or amount <= 0:
        raise AmountNotPositive()
    if payoff is not None and amount > payoff:
        raise AmountAbovePayoff(payoff)
    if amount != amount.quantize(CENT):
        raise AmountNotWholeCents()
    return amount.quantize(CENT)


def resolve_amount(customer_id: int, wanted: Union[AmountChoice, Decimal], uow: UnitOfWork,
                   today: date) -> Decimal:
    """The amount the customer asked to pay, by name ('my past due') or as a figure, checked
    against today's payoff: the date is not known yet when the amount is asked for."""
    with uow:
        account = primary_account(uow.session, customer_id)
        payoff = payoff_amount(account, today, today)
        named = {"monthly_payment": account.monthly_payment,
                 "past_due": account.past_due_amount, "payoff": payoff}
    if isinstance(wanted, Decimal):
        return _checked_amount(wanted, payoff)
    if wanted == "past_due" and named["past_due"] <= 0:
        raise NoPastDueAmount()
    return _checked_amount(named[wanted], payoff)


def check_payment_date(pay_on: date, today: date) -> None:
    """A one-time payment goes today or on a day up to MAX_DAYS_AHEAD days ahead."""
    if pay_on < today:
        raise PaymentDateInPast(pay_on)
    last = today + timedelta(days=MAX_DAYS_AHEAD)
    if pay_on > last:
        raise PaymentDateTooFar(last)


def cancellable(status: str, pay_on: date, today: date) -> bool:
    """Only a payment scheduled for a later day can be cancelled: one being processed today
    (or already posted, cancelled or returned) cannot be recalled."""
    return status == "scheduled" and pay_on > today


@contextmanager
def _general_refusals() -> Iterator[None]:
    """At submission the form is over, so a refused amount or date gets the general message,
    not the form's follow-up question ("How much would you like to pay?")."""
    try:
        yield
    except InvalidAmount:
        raise InvalidAmount() from None
    except AmountOverPayoff:
        raise AmountOverPayoff() from None
    except InvalidPaymentDate:
        raise InvalidPaymentDate() from None


def _masked_source(payment: Payment) -> str:
    return payment.funding_source.masked_name if payment.funding_source else ""


def _receipt(payment: Payment, created: bool) -> PaymentReceipt:
    return PaymentReceipt(payment.confirmation_number, payment.amount, payment.fee,
                          payment.scheduled_for, _masked_source(payment), payment.status, created)


def _replay(session: Session, key: str, customer_id: int, amount: Decimal, pay_on: date,
            source_id: int) -> Optional[PaymentReceipt]:
    """The receipt of the payment this key already made, if any. A different request under the
    same key (or another customer's key) is a conflict, never a second payment."""
    payment = session.scalar(select(Payment).where(Payment.idempotency_key == key))
    if payment is None:
        return None
    same = (payment.account.customer_id, payment.amount, payment.scheduled_for,
            payment.funding_source_id) == (customer_id, amount, pay_on, source_id)
    if not same:
        raise IdempotencyConflict()
    return _receipt(payment, created=False)


def new_confirmation_number() -> str:
    """'MP' + 8 base32 characters (40 random bits): unique in practice, not guessable."""
    return "MP" + b32encode(secrets.token_bytes(5)).decode()


@_general_refusals()
def schedule_payment(
    customer_id: int, amount: Decimal, pay_on: date, funding_source_id: int,
    idempotency_key: str, uow: UnitOfWork, base_url: str, today: date,
    now: Optional[datetime] = None,
) -> PaymentReceipt:
    """Schedule (or, for today, submit) a one-time payment, exactly once per idempotency key.

    The form's amount and date rules apply again, the payoff now being the one on the payment
    date; a refusal is the general one (see `_general_refusals`). The confirmation email links
    to `base_url`.
    """
    now, amount = aware(now), _checked_amount(amount)
    if not 0 < len(idempotency_key) <= 128:  # the column's width; hash longer keys upstream
        raise ValueError("idempotency_key must be 1 to 128 characters")
    request = (idempotency_key, customer_id, amount, pay_on, funding_source_id)
    with uow:
        session = uow.session
        if replayed := _replay(session, *request):
            return replayed
        check_payment_date(pay_on, today)
        account = primary_account(session, customer_id)
        if account.fraud_frozen:
            raise AccountFrozen()
        source = session.get(FundingSource, funding_source_id)
        if source is None or source.customer_id != customer_id or not source.active:
            raise UnknownFundingSource()
        _checked_amount(amount, payoff_amount(account, pay_on, today))
        payment = Payment(
            account=account, funding_source=source, amount=amount, fee=fee_for(source.kind),
            scheduled_for=pay_on, status="pending" if pay_on == today else "scheduled",
            origin="chat", confirmation_number=new_confirmation_number(),
            idempotency_key=idempotency_key, created_at=now,
        )
        footer = f" To view or cancel it, visit {base_url}."
        try:  # any flush from here on may hit the unique key a concurrent request just took
            session.add(payment)
            _notify_and_audit(session, account, payment, now, "payment_confirmation", footer)
            uow.commit()
        except IntegrityError:
            uow.rollback()  # lost the race for this key: the winner's payment is the answer
            logger.info("idempotency key race for customer %s: replaying", customer_id)
            if replayed := _replay(session, *request):
                return replayed
            raise
        logger.info("payment %s %s for customer %s",
                    payment.confirmation_number, payment.status, customer_id)
        return _receipt(payment, created=True)


def cancel_payment(customer_id: int, confirmation_number: str, uow: UnitOfWork, today: date,
                   now: Optional[datetime] = None) -> CancelledPayment:
    """Cancel a payment scheduled for a future day; one already submitted cannot be recalled."""
    now = aware(now)
    with uow:
        session = uow.session
        payment = session.scalar(
            select(Payment).join(Account)
            .where(Payment.confirmation_number == confirmation_number.strip().upper(),
                   Account.customer_id == customer_id)
        )
        if payment is None:
            raise PaymentNotFound()
        if not cancellable(payment.status, payment.scheduled_for, today):
            raise PaymentNotCancellable()
        # conditional update: of two racing cancels (or a cancel racing the posting run) one wins
        changed = session.scalar(
            update(Payment).where(Payment.id == payment.id, Payment.status == "scheduled")
            .values(status="cancelled", cancelled_at=now).returning(Payment.id)
            .execution_options(synchronize_session="fetch")
        )
        if changed is None:
            raise PaymentNotCancellable()
        _notify_and_audit(session, payment.account, payment, now, "payment_cancelled")
        uow.commit()
        logger.info("payment %s cancelled for customer %s",
                    payment.confirmation_number, customer_id)
        return CancelledPayment(payment.confirmation_number, payment.amount,
                                payment.scheduled_for, _masked_source(payment), now)


def scheduled_payments(customer_id: int, uow: UnitOfWork, today: date) -> list[PaymentLine]:
    """Payments still to come (pending today or scheduled later), soonest first."""
    with uow:
        account = primary_account(uow.session, customer_id)
        payments = uow.session.scalars(
            select(Payment)
            .where(Payment.account_id == account.id, Payment.scheduled_for >= today,
                   Payment.status.in_(("pending", "scheduled")))
            .order_by(Payment.scheduled_for, Payment.id)
        ).all()
        return [payment_line(p) for p in payments]


def _notify_and_audit(session: Session, account: Account, payment: Payment, now: datetime,
                      kind: str, footer: str = "") -> None:
    """Email the customer and record the action, inside the caller's transaction."""
    customer = session.get(Customer, account.customer_id)
    assert customer is not None  # a foreign key guarantees it
    source = _masked_source(payment) or "your account"
    amount, when = format_usd(payment.amount), format_long_date(payment.scheduled_for)
    if kind == "payment_cancelled":
        subject = "Your Meridian Auto Finance payment was cancelled"
        body = f"Your payment of {amount} from {source} scheduled for {when} was cancelled."
    else:
        subject = "Your Meridian Auto Finance payment confirmation"
        scheduled = payment.status == "scheduled"
        timing = f"scheduled for {when}" if scheduled else f"being processed today, {when}"
        body = f"Your payment of {amount} from {source} is {timing}."
        if payment.fee:
            body += f" A {format_usd(payment.fee)} debit card convenience fee applies."
    body += f" Account {mask_account_number(account.account_number)}."
    body += f" Confirmation number: {payment.confirmation_number}.{footer}"
    queue_message(session, to=customer.email, channel="email", kind=kind, subject=subject,
                  body=body, customer_id=customer.id)
    audit.record(session, now, audit.customer(customer.id), _AUDIT_ACTIONS[kind],
                 f"payment:{payment.confirmation_number}",
                 amount=str(payment.amount), fee=str(payment.fee), source=source,
                 date=payment.scheduled_for.isoformat(),
                 account=mask_account_number(account.account_number))
