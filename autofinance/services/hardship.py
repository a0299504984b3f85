"""Hardship help: which options a customer can have, and asking for one.

Three options. A due-date change is applied at once (within the limits of `due_date`, which
also offers it as a routine request) because it changes no amount owed; asked for here, it is
recorded as an approved hardship case, and a customer who is behind may have it too. A payment
extension is only requested here: a specialist approves it, because it adds interest and
reshapes the schedule. A hardship specialist is always available. Every "no"
says why in plain words and what the customer can do instead, so a customer in difficulty
never reaches a dead end.
"""
from __future__ import annotations

import logging
import secrets
from base64 import b32encode
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Optional

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from autofinance.adapters.notify import queue_message
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Account, Customer, HardshipCase
from autofinance.domain.calendar import add_months
from autofinance.domain.clock import aware
from autofinance.domain.masking import mask_account_number
from autofinance.domain.parsing import format_long_date
from autofinance.services import audit, due_date, work_items
from autofinance.services.accounts import primary_account
from autofinance.services.errors import InvalidDueDay, NotEligible, WorkItemCannotComplete

logger = logging.getLogger(__name__)

OPTIONS = ("extension", "due_date_change", "specialist")
OPTION_LABELS = {"extension": "payment extension", "due_date_change": "due-date change",
                 "specialist": "hardship review"}
MIN_MONTHS_OPEN, MAX_DAYS_PAST_DUE, MAX_REASON = 6, 60, 2000
SPECIALIST = " A hardship specialist can go over other options with you."
EXTENSION_CONSEQUENCE = (
    "Your next payment moves to the end of your loan. Interest keeps adding up on your "
    "balance during the extension, so the total you pay goes up a little.")
SPECIALIST_OPTION = (  # (reason, consequence)
    "A hardship specialist can look at your situation and every option, including ones I "
    "can't offer here.",
    "We'll open a case and a specialist will contact you. Nothing on your account changes "
    "until you agree to it.")


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reason: str  # plain words; when not eligible, why and what else the customer can do
    consequence: str  # what taking the option means for the customer


@dataclass(frozen=True)
class HardshipOptions:
    extension: Eligibility
    due_date_change: Eligibility
    specialist: Eligibility  # always eligible
    current_due_day: int
    earliest_due_day: int  # the range a due-date change may pick from (within 15 days, 1-28)
    latest_due_day: int


@dataclass(frozen=True)
class HardshipRequest:
    case_number: str
    option: str
    status: str  # 'requested' (a specialist decides) or 'approved' (already applied)
    message: str  # what happened and what happens next, for the customer
    next_due_date: Optional[date] = None  # set after a due-date change


def hardship_options(customer_id: int, uow: UnitOfWork, today: date) -> HardshipOptions:
    """Each option with whether the account can have it, why, and what it would mean."""
    with uow:
        account = primary_account(uow.session, customer_id)
        day = account.payment_due_day
        return HardshipOptions(
            _extension(account, today), _due_date_change(account, today),
            Eligibility(True, *SPECIALIST_OPTION), day, *due_date.day_range(day))


def request_hardship(customer_id: int, option: str, reason_text: str, uow: UnitOfWork,
                     today: date, now: Optional[datetime] = None,
                     new_day: Optional[int] = None) -> HardshipRequest:
    """Ask for one option. 'due_date_change' needs `new_day` and is applied at once.

    An extension or a specialist is a request for a person: nothing on the account changes
    here. Asking again while the same request is still open returns that case, not a new one.
    """
    if option not in OPTIONS:
        raise ValueError(f"unknown hardship option {option!r}")
    if option == "due_date_change" and new_day is None:
        raise InvalidDueDay()
    now = aware(now)
    with uow:
        session = uow.session
        account = primary_account(session, customer_id)
        if option == "due_date_change":
            return _change_due_date(session, account, new_day, reason_text, now, uow, today)
        if option == "extension" and not (eligibility := _extension(account, today)).eligible:
            raise NotEligible(eligibility.reason)
        open_case = session.scalar(select(HardshipCase).where(
            HardshipCase.account_id == account.id, HardshipCase.option == option,
            HardshipCase.status == "requested"))
        if open_case is not None:
            return HardshipRequest(open_case.case_number, option, open_case.status,
                                   _requested_message(option, open_case.case_number))
        number = _case_number()
        return _open_case(session, account, option, "requested", reason_text,
                          _requested_message(option, number), now, uow, number=number)


def _extension(account: Account, today: date) -> Eligibility:
    def no(reason: str) -> Eligibility:
        return Eligibility(False, reason, EXTENSION_CONSEQUENCE)

    if account.product == "lease":
        return no("Payment extensions are for loans. On a lease, extending the lease itself is "
                  "one of your lease-end options, and I can tell you about those." + SPECIALIST)
    if add_months(account.opened_on, MIN_MONTHS_OPEN) > today:
        return no("A payment extension is available once an account has been open for 6 "
                  "months." + SPECIALIST)
    if account.last_extension_on and account.last_extension_on > add_months(today, -12):
        return no("You've had a payment extension in the last 12 months, and we can offer one "
                  "every 12 months." + SPECIALIST)
    if account.days_past_due > MAX_DAYS_PAST_DUE:
        return no("Your account is more than 60 days past due, so I can't offer an extension "
                  "here. A hardship specialist can review your account and your options.")
    return Eligibility(True, "You can ask for a payment extension; a specialist approves it.",
                       EXTENSION_CONSEQUENCE)


def _due_date_change(account: Account, today: date) -> Eligibility:
    """As hardship help a due-date change is open to a customer who is behind, too."""
    reason = due_date.refusal(account, today)
    return Eligibility(reason is None, reason or due_date.ALLOWED, due_date.CONSEQUENCE)


def _change_due_date(session: Session, account: Account, new_day: object, reason_text: str,
                     now: datetime, uow: UnitOfWork, today: date) -> HardshipRequest:
    """Move the due day at once and record it as an approved case, in one transaction."""
    if (reason := due_date.refusal(account, today)) is not None:
        raise NotEligible(reason)
    moved = due_date.move_due_day(session, account, new_day, today)
    message = (f"Done: your payment is now due on day {account.payment_due_day} of each month, "
               f"and your next payment is due {format_long_date(moved)}. The amount stays the same.")
    return _open_case(session, account, "due_date_change", "approved", reason_text, message, now,
                      uow, moved)


def _requested_message(option: str, number: str) -> str:
    if option == "extension":
        return (f"Your extension request is case {number}. Nothing on your account has changed "
                "yet: a hardship specialist will review it and contact you, and until then your "
                "payment is still due as usual.")
    return (f"Your case number is {number}. A hardship specialist will contact you; nothing on "
            "your account changes until you agree to it.")


def _open_case(session: Session, account: Account, option: str, status: str, reason_text: str,
               message: str, now: datetime, uow: UnitOfWork, next_due_date: Optional[date] = None,
               number: Optional[str] = None) -> HardshipRequest:
    """Record the case, email the customer and audit it, then commit: all or nothing."""
    number = number or _case_number()
    session.add(HardshipCase(case_number=number, customer_id=account.customer_id,
                             account_id=account.id, option=option, status=status,
                             reason=(reason_text or "").strip()[:MAX_REASON], created_at=now))
    customer = session.get_one(Customer, account.customer_id)
    masked = mask_account_number(account.account_number)
    if status == "requested":  # a person decides it: it waits in the hardship queue
        work_items.queue_item(
            session, "hardship", f"hardship_case:{number}", customer.id, account.id,
            f"{OPTION_LABELS[option].capitalize()} requested on account {masked} "
            f"({account.days_past_due} days past due). In the customer's words: "
            f"{(reason_text or '').strip()[:300] or '(no reason given)'}",
            now, reference=number, option=option, case_number=number)
    kind = "due_date_changed" if option == "due_date_change" else "hardship_requested"
    queue_message(session, to=customer.email, channel="email", kind=kind,
                  subject="Your Meridian Auto Finance hardship request",
                  body=f"{message} Account {masked}. If you didn't ask for this, please "
                       "contact us right away.", customer_id=customer.id)
    audit.record(session, now, audit.customer(customer.id), kind, f"hardship_case:{number}",
                 account=masked, option=option, status=status)
    result = HardshipRequest(number, option, status, message, next_due_date)
    uow.commit()
    logger.info("hardship case %s (%s, %s) for customer %s", number, option, status, customer.id)
    return result


def _case_number() -> str:
    """'HS' + 8 base32 characters (40 random bits): unique in practice, not guessable."""
    return "HS" + b32encode(secrets.token_bytes(5)).decode()


def record_decision(session: Session, case_number: str, approve: bool, today: date,
                    now: datetime) -> str:
    """A specialist's decision on a requested case, in the caller's transaction; returns the
    case's new status. An approved extension moves one payment to the end of the loan at once:
    the oldest past-due payment if the account is behind (else the next one), and the maturity
    a month later. Each UPDATE is conditional, so a case is decided once and an account gets
    one extension in 12 months however the clicks race."""
    case = session.scalar(select(HardshipCase).where(HardshipCase.case_number == case_number))
    if case is None:
        raise WorkItemCannotComplete("The hardship case behind this item no longer exists.")
    status = ("approved" if case.option == "extension" else "closed") if approve else "declined"
    decided = session.execute(
        update(HardshipCase).where(HardshipCase.id == case.id, HardshipCase.status == "requested")
        .values(status=status, decided_at=now).execution_options(synchronize_session=False)).rowcount
    if decided != 1:
        raise WorkItemCannotComplete("This hardship case was already decided.")
    if approve and case.option == "extension":
        _extend(session, session.get_one(Account, case.account_id), today)
    return status


def _extend(session: Session, account: Account, today: date) -> None:
    values: dict[str, object] = {"maturity_date": add_months(account.maturity_date, 1),
                                 "last_extension_on": today}
    if account.past_due_amount > 0:
        left = max(account.past_due_amount - account.monthly_payment, Decimal("0.00"))
        values.update(past_due_amount=left, days_past_due=max(account.days_past_due - 30, 0) if left else 0,
                      status="past_due" if left else "current")
    else:
        values["next_due_date"] = add_months(account.next_due_date, 1, account.payment_due_day)
    extended = session.execute(
        update(Account).where(Account.id == account.id,
                              or_(Account.last_extension_on.is_(None),
                                  Account.last_extension_on <= add_months(today, -12)))
        .values(**values).execution_options(synchronize_session=False)).rowcount
    if extended != 1:
        raise WorkItemCannotComplete("This account already had a payment extension in the last "
                                     "12 months; decline the request with a note instead.")
