"""Insurance on the financed vehicle: the policy on file, an update, and policies that lapsed.

The contract requires physical-damage insurance for as long as the loan or lease runs, so the
lender keeps the current policy on file. A customer can give a new one in chat; each detail is
checked (an insurer's name, a policy number's shape, an effective date not far in the future, an
expiry after it and not already past), the change is confirmed before it is made, emailed and
audited. The policy number is sealed at rest and only its last four are ever shown. A policy
whose expiry has passed is lapsed: the customer hears it when they ask, and `lapsed_policies`
lists them for whatever sends reminders.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from autofinance.adapters.notify import queue_message
from autofinance.adapters.sealing import seal_at_rest, unseal_at_rest
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Account, Customer, InsurancePolicy
from autofinance.config import Secret
from autofinance.domain.calendar import add_months
from autofinance.domain.clock import aware
from autofinance.domain.masking import mask_account_number, mask_email
from autofinance.domain.parsing import format_long_date
from autofinance.services import audit, work_items
from autofinance.services.accounts import primary_account
from autofinance.services.errors import InsuranceUnchanged, InvalidInsuranceDetail

logger = logging.getLogger(__name__)

MAX_EFFECTIVE_DAYS_AHEAD = 60  # a policy starting later than this is not yet proof of coverage
MAX_TERM_MONTHS = 24  # policies run 6 or 12 months; more than two years is a typing mistake
SUPPORT_PHONE = "1-800-555-0199"

_INSURER = re.compile(r"[A-Za-z0-9&.,'() -]{2,60}")
_NOT_INSURERS = frozenset({"yes", "yeah", "yep", "no", "nope", "ok", "okay", "sure", "none", "n/a",
                           "na", "idk", "unknown", "insurance", "my insurance", "the same", "same"})
_POLICY = re.compile(r"[A-Z0-9][A-Z0-9-]{3,23}[A-Z0-9]")
_POLICY_LABEL = re.compile(r"^(?:(?:it'?s|the|my|new)\s+)*(?:policy\s*)?(?:number|no\.?|num|#)?\s*(?:is\s+)?[:#]?",
                           re.IGNORECASE)


@dataclass(frozen=True)
class PolicyOnFile:
    insurer: str
    policy_masked: str  # '****4418'
    effective_on: date
    expires_on: date
    lapsed: bool  # the expiry has passed and no newer policy was given
    vehicle: str
    gap_coverage: bool


@dataclass(frozen=True)
class PolicyUpdated:
    insurer: str
    policy_masked: str
    effective_on: date
    expires_on: date
    replaced_insurer: Optional[str]  # the insurer of the policy it replaced; None if none was on file
    email_masked: str


@dataclass(frozen=True)
class LapsedPolicy:
    """An open account whose active policy has expired: for reminders."""

    customer_id: int
    account_id: int
    insurer: str
    policy_masked: str
    expired_on: date


def check_insurer(text: str) -> str:
    """The insurer's name, tidied ('state farm' -> 'State Farm', spaces collapsed); raises
    InvalidInsuranceDetail('insurer') for anything that is not a name."""
    name = " ".join(text.split()).strip(" .,")
    name = name.title() if name.islower() else name
    letters = sum(ch.isalpha() for ch in name)
    if not _INSURER.fullmatch(name) or letters < 2 or name.lower() in _NOT_INSURERS:
        raise InvalidInsuranceDetail("insurer")
    return name


def check_policy_number(text: str) -> str:
    """The policy number in capitals without spaces ('pa 123-456 78' -> 'PA123-45678'): 5 to 25
    letters, digits or dashes with at least three digits; raises InvalidInsuranceDetail otherwise."""
    number = re.sub(r"[\s#]", "", _POLICY_LABEL.sub("", text.strip()).upper()).strip("-:.")
    if not _POLICY.fullmatch(number) or sum(ch.isdigit() for ch in number) < 3:
        raise InvalidInsuranceDetail("policy_number")
    return number


def check_effective(effective_on: date, today: date) -> None:
    """Raises InvalidInsuranceDetail('effective_too_far') for a policy that starts too late to count."""
    if effective_on > today + timedelta(days=MAX_EFFECTIVE_DAYS_AHEAD):
        raise InvalidInsuranceDetail("effective_too_far")


def check_dates(effective_on: date, expires_on: date, today: date) -> None:
    """Raises InvalidInsuranceDetail unless the policy is in force now or starts soon."""
    check_effective(effective_on, today)
    if expires_on <= effective_on:
        raise InvalidInsuranceDetail("expiry_before_effective")
    if expires_on <= today:
        raise InvalidInsuranceDetail("already_expired")
    if expires_on > add_months(effective_on, MAX_TERM_MONTHS):
        raise InvalidInsuranceDetail("term_too_long")


def policy_on_file(customer_id: int, uow: UnitOfWork, today: date) -> Optional[PolicyOnFile]:
    """The active policy on the customer's open account; None if none is on file."""
    with uow:
        account = primary_account(uow.session, customer_id)
        policy = active_policy(uow.session, account.id)
        if policy is None:
            return None
        return PolicyOnFile(policy.insurer, _masked(policy.policy_last4), policy.effective_on,
                            policy.expires_on, policy.expires_on < today,
                            account.vehicle.description if account.vehicle else "vehicle",
                            account.gap_coverage)


def update_policy(customer_id: int, insurer: str, policy_number: str, effective_on: date,
                  expires_on: date, uow: UnitOfWork, pepper: Secret, today: date,
                  now: Optional[datetime] = None) -> PolicyUpdated:
    """Puts the new policy on file in place of the old one, emails a receipt and audits it: all or
    nothing. Every detail is checked again here; the same policy twice raises InsuranceUnchanged
    (a "yes" said twice updates once)."""
    insurer, policy_number = check_insurer(insurer), check_policy_number(policy_number)
    check_dates(effective_on, expires_on, today)
    now = aware(now)
    with uow:
        session = uow.session
        account = primary_account(session, customer_id)
        old = active_policy(session, account.id)
        if old is not None and _same(old, insurer, policy_number, effective_on, expires_on, pepper):
            raise InsuranceUnchanged()
        if old is not None:
            old.status, old.replaced_at = "replaced", now
            session.flush()  # the partial unique index allows one active policy at a time
        last4 = policy_number.replace("-", "")[-4:]
        policy = InsurancePolicy(account_id=account.id, insurer=insurer,
                                 policy_number_sealed=seal_at_rest(policy_number, pepper),
                                 policy_last4=last4, effective_on=effective_on,
                                 expires_on=expires_on, created_at=now)
        session.add(policy)
        session.flush()
        # what the customer typed is on file at once; a specialist checks it with the insurer
        work_items.queue_item(
            session, "insurance_document", f"insurance_policy:{policy.id}", customer_id, account.id,
            f"Verify proof of insurance for account {mask_account_number(account.account_number)}: "
            f"{insurer}, policy {_masked(last4)}, {format_long_date(effective_on)} to "
            f"{format_long_date(expires_on)}"
            + (f" (replaces {old.insurer} {_masked(old.policy_last4)})." if old is not None else "."),
            now, policy_id=policy.id, insurer=insurer, policy=_masked(last4))
        customer = session.get_one(Customer, customer_id)
        result = PolicyUpdated(insurer, _masked(last4), effective_on, expires_on,
                               old.insurer if old is not None else None, mask_email(customer.email))
        _notify_and_audit(session, customer, account, result, now)
        uow.commit()
    logger.info("insurance policy updated for customer %s", customer_id)
    return result


def lapsed_policies(session: Session, today: date) -> list[LapsedPolicy]:
    """Open accounts whose active policy expired before `today`, oldest lapse first. Read-only, in
    the caller's session: a reminder job decides what to send and records it."""
    rows = session.execute(
        select(InsurancePolicy, Account.customer_id)
        .join(Account, Account.id == InsurancePolicy.account_id)
        .where(InsurancePolicy.status == "active", InsurancePolicy.expires_on < today,
               Account.status != "closed")
        .order_by(InsurancePolicy.expires_on, InsurancePolicy.id)).all()
    return [LapsedPolicy(customer_id, policy.account_id, policy.insurer, _masked(policy.policy_last4),
                         policy.expires_on) for policy, customer_id in rows]


def active_policy(session: Session, account_id: int) -> Optional[InsurancePolicy]:
    return session.scalar(select(InsurancePolicy).where(InsurancePolicy.account_id == account_id,
                                                        InsurancePolicy.status == "active"))


def _same(policy: InsurancePolicy, insurer: str, number: str, effective_on: date, expires_on: date,
          pepper: Secret) -> bool:
    return (policy.insurer.casefold() == insurer.casefold()
            and unseal_at_rest(policy.policy_number_sealed, pepper) == number
            and (policy.effective_on, policy.expires_on) == (effective_on, expires_on))


def _masked(last4: str) -> str:
    return f"****{last4}"


def _notify_and_audit(session: Session, customer: Customer, account: Account, updated: PolicyUpdated,
                      now: datetime) -> None:
    masked = mask_account_number(account.account_number)
    body = (f"Hi {customer.first_name}, we've updated the insurance on file for account {masked}: "
            f"{updated.insurer}, policy {updated.policy_masked}, in force from "
            f"{format_long_date(updated.effective_on)} to {format_long_date(updated.expires_on)}. "
            "Please keep Meridian Auto Finance listed as lienholder and loss payee on the policy. "
            f"If you didn't make this change, call us at {SUPPORT_PHONE}.")
    queue_message(session, to=customer.email, channel="email", kind="insurance_updated",
                  subject="We've updated your insurance on file", body=body, customer_id=customer.id)
    audit.record(session, now, audit.customer(customer.id), "insurance_updated", f"account:{masked}",
                 insurer=updated.insurer, policy=updated.policy_masked,
                 effective_on=updated.effective_on.isoformat(), expires_on=updated.expires_on.isoformat(),
                 replaced=updated.replaced_insurer)
