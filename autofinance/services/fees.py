"""Fees: what was charged and why, returned payments, and the courtesy waiver of a late fee.

The written policy for waiving a late fee in chat:
- only a late fee that is still owed (a returned-payment fee is the bank's doing and is never
  waived here);
- only when the account is current: nothing past due;
- one courtesy waiver in 12 months per account, counted from the day of the last one.
When the policy says no, the request is not lost: a work item ("fee_waiver") asks a specialist
to review it, and one who grants the exception waives the fee (`waive_as_exception`). The once-in-12-months rule is checked again in the UPDATE that records the waiver,
so two racing requests (or a "yes" said twice) waive once.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Optional

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, selectinload

from autofinance.adapters.notify import queue_message
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Account, Customer, Fee, Payment
from autofinance.domain.calendar import add_months
from autofinance.domain.clock import aware
from autofinance.domain.masking import mask_account_number
from autofinance.domain.money import format_usd
from autofinance.domain.parsing import format_long_date
from autofinance.services import audit, work_items
from autofinance.services.accounts import active_autopay, primary_account
from autofinance.services.errors import NotEligible, WorkItemCannotComplete

logger = logging.getLogger(__name__)

KIND_LABELS = {"late": "late fee", "returned_payment": "returned-payment fee"}
WAIVER_PERIOD_MONTHS = 12
ELIGIBLE = ("Your account is current and no fee has been waived in the last 12 months, so this "
            "late fee qualifies for a one-time courtesy waiver.")
NO_LATE_FEE = "I don't see a late fee on your account that's still owed, so there's nothing to waive."
PAST_DUE = ("I can't waive the late fee myself while your account is past due ({past_due} past "
            "due): a courtesy waiver is possible only once the account is current.")
ALREADY_WAIVED = ("I can't waive this late fee myself: a fee on your account was already waived as a "
                  "courtesy on {waived}, and we can waive one every 12 months.")


@dataclass(frozen=True)
class FeeLine:
    """One fee as the customer sees it."""

    kind: str  # 'late' | 'returned_payment'
    label: str  # 'late fee'
    amount: Decimal
    reason: str
    charged_on: date
    status: str  # 'charged' (owed), 'paid', 'waived'
    waived_on: Optional[date]


@dataclass(frozen=True)
class ReturnedPayment:
    """The latest payment the bank sent back, and what the customer can do now."""

    date: date
    amount: Decimal
    method: str  # 'checking ****5521'
    confirmation_number: str
    fee: Optional[FeeLine]
    other_sources: tuple[str, ...]  # saved accounts other than the one returned
    on_autopay: bool


@dataclass(frozen=True)
class WaiverDecision:
    eligible: bool
    reason: str  # plain words: why, or why not
    fee: Optional[FeeLine]  # the late fee asked about; None when there is none
    reference: Optional[str] = None  # the work item a specialist reviews a refused request by


@dataclass(frozen=True)
class FeeWaived:
    fee: FeeLine
    fees_due: Decimal  # what the account still owes in fees


def fee_line(fee: Fee) -> FeeLine:
    return FeeLine(fee.kind, KIND_LABELS[fee.kind], fee.amount, fee.reason, fee.charged_on,
                   fee.status, fee.waived_at.date() if fee.waived_at else None)


def recent_fees(customer_id: int, uow: UnitOfWork, limit: int = 6) -> list[FeeLine]:
    """The account's fees, newest first, each with its reason and whether it was waived."""
    with uow:
        account = primary_account(uow.session, customer_id)
        return [fee_line(fee) for fee in uow.session.scalars(
            select(Fee).where(Fee.account_id == account.id)
            .order_by(Fee.charged_on.desc(), Fee.id.desc()).limit(limit))]


def latest_returned_payment(customer_id: int, uow: UnitOfWork) -> Optional[ReturnedPayment]:
    """The newest returned payment with its fee (if one was charged); None if none was returned."""
    with uow:
        session = uow.session
        account = primary_account(session, customer_id)
        payment = session.scalars(
            select(Payment).where(Payment.account_id == account.id, Payment.status == "returned")
            .options(selectinload(Payment.funding_source))
            .order_by(Payment.scheduled_for.desc(), Payment.id.desc()).limit(1)).first()
        if payment is None:
            return None
        fee = session.scalar(select(Fee).where(Fee.payment_id == payment.id))
        source = payment.funding_source
        others = tuple(s.masked_name for s in account.customer.funding_sources
                       if s.active and (source is None or s.id != source.id))
        return ReturnedPayment(payment.scheduled_for, payment.amount,
                               source.masked_name if source else payment.origin,
                               payment.confirmation_number, fee_line(fee) if fee else None, others,
                               active_autopay(session, account.id) is not None)


def fee_waiver_decision(customer_id: int, conversation_id: str, channel: str, uow: UnitOfWork,
                        today: date, now: Optional[datetime] = None) -> WaiverDecision:
    """Whether the latest owed late fee can be waived now. A refusal queues a work item for a
    specialist and is audited; an eligible request changes nothing until it is confirmed.
    `conversation_id` is kept for the callers; the item belongs to the customer, not the chat."""
    now = aware(now)
    with uow:
        session = uow.session
        account = primary_account(session, customer_id)
        fee = owed_late_fee(session, account)
        if fee is None:
            return WaiverDecision(False, NO_LATE_FEE, None)
        reason = _refusal(account, today)
        if reason is None:
            return WaiverDecision(True, ELIGIBLE, fee_line(fee))
        summary = (f"Customer asks to waive a {format_usd(fee.amount)} late fee charged "
                   f"{fee.charged_on.isoformat()}; the chat policy refused: {reason}")
        item = work_items.queue_item(session, "fee_waiver", f"fee:{fee.id}", customer_id, account.id,
                                     summary, now, fee_id=fee.id, amount=str(fee.amount),
                                     charged_on=fee.charged_on.isoformat())
        audit.record(session, now, audit.customer(customer_id), "fee_waiver_refused",
                     f"account:{mask_account_number(account.account_number)}",
                     reference=item.reference, amount=str(fee.amount), channel=channel)
        uow.commit()
    logger.info("fee waiver refused for customer %s; work item %s", customer_id, item.reference)
    return WaiverDecision(False, reason, fee_line(fee), item.reference)


def waive_late_fee(customer_id: int, uow: UnitOfWork, base_url: str, today: date,
                   now: Optional[datetime] = None) -> FeeWaived:
    """Waive the latest owed late fee as a courtesy, email a receipt and audit it: all or nothing."""
    now = aware(now)
    with uow:
        session = uow.session
        account = primary_account(session, customer_id)
        fee = owed_late_fee(session, account)
        if fee is None:
            raise NotEligible(NO_LATE_FEE)
        if (reason := _refusal(account, today)) is not None:
            raise NotEligible(reason)
        record_waiver(session, account, fee, today, now)
        session.refresh(account)
        session.refresh(fee)
        waived = FeeWaived(fee_line(fee), account.fees_due)
        _notify_and_audit(session, account, waived, now, base_url)
        uow.commit()
    logger.info("late fee waived as a courtesy for customer %s", customer_id)
    return waived


def owed_late_fee(session: Session, account: Account) -> Optional[Fee]:
    """The newest late fee still owed, in the caller's session."""
    return session.scalars(
        select(Fee).where(Fee.account_id == account.id, Fee.kind == "late", Fee.status == "charged")
        .order_by(Fee.charged_on.desc(), Fee.id.desc()).limit(1)).first()


def _refusal(account: Account, today: date) -> Optional[str]:
    """Why the policy says no (None when it says yes)."""
    if account.past_due_amount > 0:
        return PAST_DUE.format(past_due=format_usd(account.past_due_amount))
    last = account.last_fee_waiver_on
    if last is not None and last > add_months(today, -WAIVER_PERIOD_MONTHS):
        return ALREADY_WAIVED.format(waived=format_long_date(last))
    return None


def record_waiver(session: Session, account: Account, fee: Fee, today: date, now: datetime) -> None:
    """Store the waiver in the caller's transaction; the caller checks the policy first. Both
    updates are conditional: of two racing waivers only one passes the 12-month rule, and a fee
    is waived once."""
    claimed = session.scalar(
        update(Account)
        .where(Account.id == account.id, Account.past_due_amount == 0,
               or_(Account.last_fee_waiver_on.is_(None),
                   Account.last_fee_waiver_on <= add_months(today, -WAIVER_PERIOD_MONTHS)))
        .values(last_fee_waiver_on=today, fees_due=Account.fees_due - fee.amount)
        .returning(Account.id).execution_options(synchronize_session=False))
    waived = session.scalar(
        update(Fee).where(Fee.id == fee.id, Fee.status == "charged")
        .values(status="waived", waived_at=now, waiver_reason="courtesy")
        .returning(Fee.id).execution_options(synchronize_session=False))
    if claimed is None or waived is None:
        raise NotEligible(ALREADY_WAIVED.format(waived=format_long_date(today)))


def _notify_and_audit(session: Session, account: Account, waived: FeeWaived, now: datetime,
                      base_url: str) -> None:
    customer = session.get_one(Customer, account.customer_id)
    masked = mask_account_number(account.account_number)
    fee = waived.fee
    body = (f"As a one-time courtesy, we waived the {format_usd(fee.amount)} late fee charged "
            f"{format_long_date(fee.charged_on)} on account {masked} ({fee.reason}). "
            f"Fees still owed on the account: {format_usd(waived.fees_due)}. We can waive one fee "
            f"every 12 months. To review your account, visit {base_url}. If you didn't ask for "
            "this, please contact us right away.")
    queue_message(session, to=customer.email, channel="email", kind="fee_waived",
                  subject="Your Meridian Auto Finance late fee was waived", body=body,
                  customer_id=customer.id)
    audit.record(session, now, audit.customer(customer.id), "fee_waived", f"account:{masked}",
                 account=masked, amount=str(fee.amount), charged_on=fee.charged_on.isoformat(),
                 waiver_reason="courtesy")



def waive_as_exception(session: Session, fee_id: int, today: date, now: datetime) -> None:
    """A specialist granted the waiver the chat policy refused: the fee is waived (reason
    'exception') and counts as the account's waiver for the 12 months, in the caller's
    transaction. Conditional on the fee still being owed, so it is waived once."""
    fee = session.get(Fee, fee_id)
    waived = session.execute(
        update(Fee).where(Fee.id == fee_id, Fee.status == "charged")
        .values(status="waived", waived_at=now, waiver_reason="exception")
        .execution_options(synchronize_session=False)).rowcount
    if fee is None or waived != 1:
        raise WorkItemCannotComplete("This fee is no longer owed (paid or waived meanwhile); "
                                     "decline the request with a note instead.")
    session.execute(update(Account).where(Account.id == fee.account_id)
                    .values(fees_due=Account.fees_due - fee.amount, last_fee_waiver_on=today)
                    .execution_options(synchronize_session=False))
