"""Due-date changes: moving the monthly due day, as a routine request or as hardship help.

A change moves the next payment by at most 15 days, to a day every month has (1-28), once in 12
months, and never before the first payment date. From a late day, an early one is the next
month's ("from the 20th to the 1st": 12 days later), never the same month's 19 days earlier. A routine change also needs the account current: a
customer who is behind moves the day through hardship help (`hardship.request_hardship`), where
a specialist follows up. The payment amount never changes; on a loan, a later due date means
more days of interest before the payment arrives, and the customer is told how much first.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Optional

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from autofinance.adapters.notify import queue_message
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Account, Customer
from autofinance.domain.calendar import add_months, upcoming_due_date
from autofinance.domain.clock import aware
from autofinance.domain.masking import mask_account_number
from autofinance.domain.money import format_usd, to_money
from autofinance.domain.parsing import format_long_date
from autofinance.services import audit
from autofinance.services.accounts import active_autopay, primary_account
from autofinance.services.errors import DueDateMoveTooFar, InvalidDueDay, NotEligible
from autofinance.services.payoff import per_diem

logger = logging.getLogger(__name__)

MAX_DUE_DAY_MOVE, LAST_DAY = 15, 28
LONGEST_MONTH = 31  # a move into next month is checked as if this month were this long
CONSEQUENCE = (
    "Your payment amount stays the same; from your next payment on, it's due on the new day. "
    "You can change your due date once every 12 months. If you use autopay, it keeps its own "
    "day, so you may want to change it to match.")
IF_HARD = (" If paying on your current due date is hard, a hardship specialist can go over other "
           "options with you.")
ALLOWED = "You can move your due date by up to 15 days."
BEFORE_FIRST_PAYMENT = "You can change your due date once your first payment date has passed." + IF_HARD
NO_REPEAT = ("Your due date was changed in the last 12 months, and it can be changed once every "
             "12 months." + IF_HARD)
PAST_DUE = ("Your account is past due, so I can't change your due date as a routine request. Once "
            "the past-due amount is paid, you can; or a hardship specialist can look at a new due "
            "date with you now, along with your other options.")
SAME_DAY = "Your payment is already due on that day, so nothing changes."


@dataclass(frozen=True)
class DueDateEligibility:
    eligible: bool
    reason: str  # plain words; when not eligible, why and what the customer can do instead
    current_day: int
    earliest_day: int  # the days a change may pick from: within 15 days, 1-28
    latest_day: int
    autopay_day: Optional[int]  # autopay keeps its own day when the due day moves


@dataclass(frozen=True)
class DueDatePreview:
    """What the change would mean, for the customer to confirm; nothing is stored yet."""

    current_day: int
    new_day: int
    current_due_date: date
    next_due_date: date  # the next payment's due date after the move
    payment_amount: Decimal
    extra_interest: Decimal  # a loan's interest for the days the payment comes later; else 0


@dataclass(frozen=True)
class DueDateChanged:
    old_day: int
    new_day: int
    next_due_date: date
    payment_amount: Decimal
    autopay_day: Optional[int]  # set when autopay still runs on its own day


def refusal(account: Account, today: date) -> Optional[str]:
    """Why the account can't move its due day now (None if it can): the rules every change keeps."""
    if account.first_payment_date > today:
        return BEFORE_FIRST_PAYMENT
    changed = account.last_due_date_change_on
    if changed and changed > add_months(today, -12):
        return NO_REPEAT
    return None


def day_range(current_day: int) -> tuple[int, int]:
    """The earliest and latest day a change may pick: within 15 days in this month, or, from a
    late day, an early day of next month within 15 days (so from the 16th on, any day)."""
    earliest = 1 if _wraps(1, current_day) else max(1, current_day - MAX_DUE_DAY_MOVE)
    return earliest, min(LAST_DAY, current_day + MAX_DUE_DAY_MOVE)


def _wraps(new_day: int, current_day: int) -> bool:
    """Whether `new_day` is reached by moving into next month, within 15 days however long
    this month is."""
    return new_day < current_day and new_day + LONGEST_MONTH - current_day <= MAX_DUE_DAY_MOVE


def due_date_change_eligibility(customer_id: int, uow: UnitOfWork, today: date) -> DueDateEligibility:
    """Whether the customer can move the due day as a routine request, and to which days."""
    with uow:
        account = primary_account(uow.session, customer_id)
        reason = _routine_refusal(account, today)
        enrolment = active_autopay(uow.session, account.id)
        return DueDateEligibility(reason is None, reason or ALLOWED, account.payment_due_day,
                                  *day_range(account.payment_due_day),
                                  enrolment.day_of_month if enrolment else None)


def preview_due_date_change(customer_id: int, new_day: int, uow: UnitOfWork,
                            today: date) -> DueDatePreview:
    """The move to confirm: the next payment's new due date and, on a loan, the extra interest.

    The extra interest is simple daily interest on the principal for the days the payment comes
    later; a move to an earlier date adds none, and a lease charges no interest.
    """
    with uow:
        account = primary_account(uow.session, customer_id)
        if (reason := _routine_refusal(account, today)) is not None:
            raise NotEligible(reason)
        day = _checked_day(new_day, account.payment_due_day)
        current, moved = _due_dates(account, day, today)
        extra_days = max((moved - current).days, 0)
        return DueDatePreview(account.payment_due_day, day, current, moved, account.monthly_payment,
                              to_money(per_diem(account) * extra_days))


def change_due_date(customer_id: int, new_day: int, uow: UnitOfWork, base_url: str, today: date,
                    now: Optional[datetime] = None) -> DueDateChanged:
    """Move the due day at once, email a confirmation and audit it: all or nothing."""
    now = aware(now)
    with uow:
        session = uow.session
        account = primary_account(session, customer_id)
        if (reason := _routine_refusal(account, today)) is not None:
            raise NotEligible(reason)
        old_day = account.payment_due_day
        moved = move_due_day(session, account, new_day, today)
        enrolment = active_autopay(session, account.id)
        autopay_day = enrolment.day_of_month if enrolment and enrolment.day_of_month != new_day else None
        result = DueDateChanged(old_day, new_day, moved, account.monthly_payment, autopay_day)
        _notify_and_audit(session, account, result, now, base_url)
        uow.commit()
    logger.info("due day moved from %d to %d for customer %s", old_day, new_day, customer_id)
    return result


def _checked_day(new_day: object, current_day: int) -> int:
    """A day every month has, not the current one, within 15 days of it: in the same month, or,
    from a late day, in the next (the 28th to the 2nd is 5 days later). A move never goes back
    into the previous month, so a change never skips or doubles a payment."""
    if isinstance(new_day, bool) or not isinstance(new_day, int) or not 1 <= new_day <= LAST_DAY:
        raise InvalidDueDay()
    if new_day == current_day:
        raise InvalidDueDay(SAME_DAY)
    if abs(new_day - current_day) > MAX_DUE_DAY_MOVE and not _wraps(new_day, current_day):
        raise DueDateMoveTooFar()
    return new_day


def move_due_day(session: Session, account: Account, new_day: object, today: date) -> date:
    """Store the new day in the caller's transaction; returns the next payment's due date.

    The caller checks eligibility first. The update is conditional, so of two racing changes only
    one passes the once-in-12-months rule.
    """
    old_day = account.payment_due_day
    day = _checked_day(new_day, old_day)
    moved = _due_dates(account, day, today)[1]
    changed = session.scalar(
        update(Account)
        .where(Account.id == account.id, Account.payment_due_day == old_day,
               or_(Account.last_due_date_change_on.is_(None),
                   Account.last_due_date_change_on <= add_months(today, -12)))
        .values(payment_due_day=day, next_due_date=moved, last_due_date_change_on=today)
        .returning(Account.id).execution_options(synchronize_session="fetch"))
    if changed is None:
        raise NotEligible(NO_REPEAT)
    return moved


def _routine_refusal(account: Account, today: date) -> Optional[str]:
    if account.past_due_amount > 0:
        return PAST_DUE
    return refusal(account, today)


def _due_dates(account: Account, new_day: int, today: date) -> tuple[date, date]:
    """The next payment's due date now and after the move. A new day that has already passed
    this month takes effect next month, never in the past."""
    current = upcoming_due_date(account.next_due_date, account.payment_due_day, today)
    moved = current.replace(day=new_day)
    if _wraps(new_day, account.payment_due_day):
        return current, add_months(moved, 1, new_day)  # from the 20th to the 1st: next month's 1st
    return current, moved if moved >= today else add_months(moved, 1, new_day)


def _notify_and_audit(session: Session, account: Account, changed: DueDateChanged, now: datetime,
                      base_url: str) -> None:
    customer = session.get_one(Customer, account.customer_id)
    masked = mask_account_number(account.account_number)
    body = (f"Your payment due date changed from day {changed.old_day} to day {changed.new_day} of "
            f"each month. Your next payment of {format_usd(changed.payment_amount)} is due "
            f"{format_long_date(changed.next_due_date)}; the amount stays the same.")
    if changed.autopay_day is not None:
        body += (f" Your autopay still runs on day {changed.autopay_day}; you can change it in chat "
                 "or online.")
    body += (f" Account {masked}. To review it, visit {base_url}. "
             "If you didn't make this change, please contact us right away.")
    queue_message(session, to=customer.email, channel="email", kind="due_date_changed",
                  subject="Your Meridian Auto Finance due date was changed", body=body,
                  customer_id=customer.id)
    audit.record(session, now, audit.customer(customer.id), "due_date_changed", f"account:{masked}",
                 account=masked, old_day=changed.old_day, new_day=changed.new_day,
                 next_due_date=changed.next_due_date.isoformat())
