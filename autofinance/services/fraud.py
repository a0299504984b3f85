"""Fraud reports: a case for anyone who reports; protection only for a verified customer.

Anyone may report fraud, so an unverified report only opens a case for the fraud team. It
locks, freezes and cancels nothing (otherwise a stranger could lock any customer out of their
account) and its result is the same whether or not the person named has an account with us.
A verified customer's report also locks online access, cancels recent self-service payments
and freezes the account against new payments until the fraud team clears it. The case, the
protection, the notice to the customer on file and the audit row commit together or not at all.

The lock a verified report places is the fraud team's: while the customer has an open verified
case (`online_access_held`), nothing the customer can do (chat unlock, a reset link, a password
reset) lifts it. Only `clear_fraud_case`, a supervisor's audited action in the console, does.
"""
from __future__ import annotations

import logging
import re
import secrets
from base64 import b32encode
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from autofinance.adapters.notify import queue_message
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import (
    Account,
    Customer,
    FraudCase,
    OnlineCredential,
    PasswordResetToken,
    Payment,
)
from autofinance.domain.clock import aware
from autofinance.domain.masking import mask_account_number
from autofinance.services import audit
from autofinance.services.console import Viewer
from autofinance.services.errors import (
    FraudCaseNotFound, FraudCaseNotOpen, FraudTeamOnly, InvalidFraudReport,
)

logger = logging.getLogger(__name__)

ADVICE = (
    "Never share a verification code with anyone, even someone who says they're calling from "
    "Meridian Auto Finance. We will never ask for your password, and we will never ask you to "
    "pay by gift card or wire transfer."
)
MAX_DESCRIPTION = 2000
MAX_OCCURRED, MAX_CONVERSATION_ID = 120, 128  # the columns' widths: a report must never fail
RECENT_PAYMENTS = timedelta(days=7)
SELF_SERVICE_ORIGINS = ("chat", "portal")
OPEN_CASE_STATUSES = ("open", "investigating")
# 6 to 19 digits, spaces or dashes allowed: one-time codes, SSNs, card and account numbers.
# The store never keeps those (see store/models.py), even inside a free-text description.
_NUMBER_RUN = re.compile(r"\b\d(?:[ -]?\d){5,18}\b")
_NONE: tuple[str, ...] = ()


@dataclass(frozen=True)
class FraudCaseCleared:
    case_number: str
    unlocked_online_access: bool  # False while another open verified case still holds it
    unfrozen_accounts: tuple[str, ...]  # masked account numbers


@dataclass(frozen=True)
class FraudReport:
    case_number: str
    locked_online_access: bool
    cancelled_payments: tuple[str, ...]  # confirmation numbers, for the assistant to read back
    advice: str


def report_fraud(conversation_id: str, description: str, occurred: str,
                 customer_id: Optional[int], verified: bool, uow: UnitOfWork,
                 now: Optional[datetime] = None) -> FraudReport:
    """Open a fraud case; protect the account only if the reporter is the verified customer.

    `verified` must come from the verification guard for this conversation, never from what
    the reporter says. An unknown `customer_id` is recorded as no customer, silently.
    """
    now = aware(now)
    text = _clean_description(description)
    with uow:
        session = uow.session
        customer = session.get(Customer, customer_id) if customer_id is not None else None
        trusted = verified and customer is not None
        case = FraudCase(
            case_number=_case_number(), conversation_id=conversation_id[:MAX_CONVERSATION_ID],
            customer_id=customer.id if customer else None, reporter_verified=trusted,
            description=text, occurred=_NUMBER_RUN.sub("[redacted]", (occurred or "").strip())[:MAX_OCCURRED],
            created_at=now,
        )
        session.add(case)
        locked, cancelled, frozen = False, _NONE, _NONE
        if trusted and customer is not None:
            locked = _lock_online_access(session, customer.id, now)
            cancelled = _cancel_recent_self_service_payments(session, customer.id, now)
            frozen = _freeze_accounts(session, customer.id)
            _notify(session, customer, case.case_number, cancelled)
        actor = audit.customer(customer.id) if trusted and customer else "anonymous"
        audit.record(session, now, actor, "fraud_reported", f"fraud_case:{case.case_number}",
                     verified=trusted, locked_online_access=locked,
                     cancelled_payments=list(cancelled), frozen_accounts=list(frozen))
        result = FraudReport(case.case_number, locked, cancelled, ADVICE)
        uow.commit()
    logger.info("fraud case %s opened (verified=%s, %d payments cancelled)",
                result.case_number, trusted, len(cancelled))
    return result


def online_access_held(session: Session, customer_id: int) -> bool:
    """True while a verified fraud report of this customer is open: the lock is the fraud
    team's, so self-service (chat, reset links) must neither lift nor work around it."""
    return bool(session.scalar(select(exists().where(
        FraudCase.customer_id == customer_id, FraudCase.reporter_verified.is_(True),
        FraudCase.status.in_(OPEN_CASE_STATUSES)))))


def clear_fraud_case(case_number: str, staff: Viewer, uow: UnitOfWork,
                     now: Optional[datetime] = None) -> FraudCaseCleared:
    """The fraud team closes a case after review. Once no open verified case is left for the
    customer, online access is unlocked and the accounts take payments again; the customer is
    told by email. Supervisors only (the console's roles have no separate fraud team yet)."""
    if not staff.is_supervisor:
        raise FraudTeamOnly()
    now = aware(now)
    with uow:
        session = uow.session
        case = session.scalar(select(FraudCase).where(FraudCase.case_number == case_number))
        if case is None:
            raise FraudCaseNotFound()
        closed = session.execute(  # conditional: two clicks close it once
            update(FraudCase).where(FraudCase.id == case.id,
                                    FraudCase.status.in_(OPEN_CASE_STATUSES))
            .values(status="closed").execution_options(synchronize_session=False)).rowcount
        if closed != 1:
            raise FraudCaseNotOpen()
        unlocked, unfrozen = False, _NONE
        customer = session.get(Customer, case.customer_id) if case.customer_id else None
        if customer is not None and case.reporter_verified \
                and not online_access_held(session, customer.id):
            unlocked = _unlock_online_access(session, customer.id)
            unfrozen = _unfreeze_accounts(session, customer.id)
            queue_message(
                session, to=customer.email, channel="email", kind="fraud_case_cleared",
                subject="Your fraud case is closed", customer_id=customer.id,
                body=f"Hi {customer.first_name}, our fraud team has finished reviewing case "
                     f"{case_number}. Your online access is unlocked and payments work again. "
                     "If you haven't chosen a new password since the case was opened, please ask "
                     f"our assistant for a reset link. {ADVICE}")
        audit.record(session, now, audit.staff(staff.id), "fraud_case_cleared",
                     f"fraud_case:{case_number}", unlocked_online_access=unlocked,
                     unfrozen_accounts=list(unfrozen))
        uow.commit()
    logger.info("fraud case %s cleared by staff %s", case_number, staff.id)
    return FraudCaseCleared(case_number, unlocked, unfrozen)


def _clean_description(description: str) -> str:
    """Trimmed, number runs masked, at most 2,000 characters (the first ones are kept)."""
    text = _NUMBER_RUN.sub("[redacted]", (description or "").strip())
    text = text[:MAX_DESCRIPTION].strip()
    if not text:
        raise InvalidFraudReport()
    return text


def _lock_online_access(session: Session, customer_id: int, now: datetime) -> bool:
    """Lock website sign-in and end every open website session (the fraudster's included).

    A credential already locked keeps its original locked_at. False if the customer has no
    online access to lock.
    """
    credential = session.scalar(
        select(OnlineCredential).where(OnlineCredential.customer_id == customer_id))
    if credential is None:
        return False
    if not credential.locked or credential.locked_at is None:
        credential.locked_at = now
    credential.locked = True
    credential.sessions_valid_after = now
    session.execute(  # a reset link sent before the report must not outlive it
        update(PasswordResetToken).where(
            PasswordResetToken.customer_id == customer_id, PasswordResetToken.used_at.is_(None),
            PasswordResetToken.expires_at > now).values(expires_at=now)
        .execution_options(synchronize_session=False))
    return True


def _unlock_online_access(session: Session, customer_id: int) -> bool:
    """Lifts the lock the report placed; False if the customer has no online access."""
    credential = session.scalar(
        select(OnlineCredential).where(OnlineCredential.customer_id == customer_id))
    if credential is None:
        return False
    credential.failed_sign_ins, credential.locked, credential.locked_at = 0, False, None
    return True


def _unfreeze_accounts(session: Session, customer_id: int) -> tuple[str, ...]:
    """Payments work again on the accounts the report froze. Returns them masked."""
    numbers = session.scalars(
        update(Account).where(Account.customer_id == customer_id, Account.fraud_frozen.is_(True))
        .values(fraud_frozen=False).returning(Account.account_number)
        .execution_options(synchronize_session=False)
    ).all()
    return tuple(sorted(mask_account_number(n) for n in numbers))


def _cancel_recent_self_service_payments(session: Session, customer_id: int,
                                         now: datetime) -> tuple[str, ...]:
    """Cancel payments scheduled through chat or the portal in the last 7 days.

    Those are the ones someone holding the customer's sign-in or chat verification could have
    set up (for example from a stolen bank account or card, which would later be returned and
    leave the customer owing). Autopay, phone and mail payments need other steps; older ones
    predate the likely takeover; posted or pending money has already moved and is the fraud
    team's to review. Only 'scheduled' rows change, conditionally, so the posting run can't race.
    """
    return tuple(sorted(session.scalars(
        update(Payment)
        .where(Payment.account_id.in_(select(Account.id).where(Account.customer_id == customer_id)),
               Payment.status == "scheduled", Payment.origin.in_(SELF_SERVICE_ORIGINS),
               Payment.created_at >= now - RECENT_PAYMENTS)
        .values(status="cancelled", cancelled_at=now)
        .returning(Payment.confirmation_number)
        .execution_options(synchronize_session=False)
    ).all()))


def _freeze_accounts(session: Session, customer_id: int) -> tuple[str, ...]:
    """No new payment on any open account until the fraud team clears it (schedule_payment
    checks `fraud_frozen`). Returns the masked account numbers frozen."""
    numbers = session.scalars(
        update(Account).where(Account.customer_id == customer_id, Account.status != "closed")
        .values(fraud_frozen=True).returning(Account.account_number)
        .execution_options(synchronize_session=False)
    ).all()
    return tuple(sorted(mask_account_number(n) for n in numbers))


def _notify(session: Session, customer: Customer, case_number: str,
            cancelled: tuple[str, ...]) -> None:
    """Tell the customer on file by email and by text, without any detail of the report.

    Both channels, because whoever took over an account may also control one of them: if the
    real customer didn't report this, one of the two should reach them. The email lists the
    cancelled payments, because a customer whose own payment was among them must pay again.
    """
    body = (f"We've opened fraud case {case_number} on your Meridian Auto Finance account. To "
            "protect you, online access is locked and new payments are paused until our fraud "
            "team has reviewed it; they will contact you.")
    if cancelled:
        body += (" We cancelled the payments scheduled in chat or online in the last 7 days "
                 f"(confirmation numbers {', '.join(cancelled)}). If you made any of them, "
                 "the fraud team will help you pay again.")
    body += f" If you didn't report this, contact us right away. {ADVICE}"
    queue_message(session, to=customer.email, channel="email", kind="fraud_case_opened",
                  subject="We've opened a fraud case for you", body=body,
                  customer_id=customer.id)
    queue_message(session, to=customer.mobile, channel="sms", kind="fraud_case_opened",
                  body=f"Meridian Auto Finance: we opened fraud case {case_number} and locked "
                       "online access. If you didn't report this, contact us right away.",
                  customer_id=customer.id)


def _case_number() -> str:
    """'FR' + 8 base32 characters (40 random bits): unique in practice, not guessable."""
    return "FR" + b32encode(secrets.token_bytes(5)).decode()

