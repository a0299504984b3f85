"""What is due to be reminded today: plain rules over the store, on a date the caller gives.

Each rule names its event (the due date, the payment, the quote, the lease's end, the case)
so that the ledger (services.reminders) can send each reminder once. A rule only reads; it
does not know about channels, consent, quiet hours or caps, which the sender applies.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Callable, Iterator, Optional

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from autofinance.adapters.store.models import (
    Account,
    AuditLog,
    AutopayEnrolment,
    Payment,
)
from autofinance.domain.calendar import add_months
from autofinance.domain.masking import mask_account_number
from autofinance.domain.money import format_usd
from autofinance.domain.parsing import format_long_date
from autofinance.domain.reminders import ReminderPolicy, reached_stage
from autofinance.services import insurance, reminder_texts, work_items

# the cap lets the most pressing through first
PRIORITY = ("payment_returned", "payment_missed", "insurance_lapsed", "decision", "payoff_expiring",
            "payment_due", "lease_ending")
_PAID = ("scheduled", "pending", "posted")


@dataclass(frozen=True)
class Due:
    """One reminder that is due: for whom, about what, and the words' values."""

    customer_id: int
    account_id: Optional[int]
    rule: str  # one of domain.reminders.KINDS
    kind: str  # the ledger's kind: the rule and its stage, 'payment_missed_10'
    event_key: str  # which event: a date, a confirmation or case number
    values: dict[str, str] = field(default_factory=dict)  # the catalogue's placeholders
    context: dict[str, str] = field(default_factory=dict)  # what the chat carries on from
    later_stages: tuple[str, ...] = ()  # kinds that, once sent for this event, make this one stale


def due_reminders(session: Session, policy: ReminderPolicy, today: date,
                  now: datetime) -> list[Due]:
    """Every reminder the enabled rules find due on `today` (the lender's date), most pressing
    first; whether each was sent already is the ledger's business."""
    rules: dict[str, Callable[[], Iterator[Due]]] = {
        "payment_due": lambda: _payments_due(session, policy, today),
        "payment_missed": lambda: _payments_missed(session, policy, today),
        "payment_returned": lambda: _payments_returned(session, policy, today),
        "payoff_expiring": lambda: _payoffs_expiring(session, policy, today),
        "lease_ending": lambda: _leases_ending(session, policy, today),
        "decision": lambda: _decisions(session, policy, now),
        "insurance_lapsed": lambda: _insurance_lapsed(session, today),
    }
    return [due for rule in PRIORITY if rule in policy.kinds for due in rules[rule]()]


def _open_accounts(session: Session, *where: ColumnElement[bool]) -> Iterator[Account]:
    """Open accounts matching `where`, filtered by the database (a lender has many)."""
    yield from session.scalars(select(Account).where(Account.status != "closed", *where)
                               .order_by(Account.id))


def _on_autopay(session: Session) -> set[int]:
    return set(session.scalars(select(AutopayEnrolment.account_id).where(AutopayEnrolment.active)))


def _account_values(account: Account, amount: Decimal) -> dict[str, str]:
    return {"account": mask_account_number(account.account_number), "amount": format_usd(amount)}


def _payments_due(session: Session, policy: ReminderPolicy, today: date) -> Iterator[Due]:
    """A payment due within `due_days`, on an account that is current, not on autopay and
    with nothing paid or scheduled for this due date yet."""
    autopay = _on_autopay(session)
    for account in _open_accounts(session, Account.past_due_amount == 0,
                                  Account.next_due_date.between(today, today + timedelta(days=policy.due_days))):
        if account.id in autopay:
            continue
        cycle_start = add_months(account.next_due_date, -1, account.payment_due_day)
        if session.scalar(select(Payment.id).where(
                Payment.account_id == account.id, Payment.status.in_(_PAID),
                Payment.scheduled_for > cycle_start,
                Payment.scheduled_for <= account.next_due_date).limit(1)) is not None:
            continue
        due_date = format_long_date(account.next_due_date)
        yield Due(account.customer_id, account.id, "payment_due", "payment_due",
                  account.next_due_date.isoformat(),
                  {**_account_values(account, account.monthly_payment), "due_date": due_date},
                  {"amount": str(account.monthly_payment), "due_date": account.next_due_date.isoformat()})


def _payments_missed(session: Session, policy: ReminderPolicy, today: date) -> Iterator[Due]:
    """An account past due: the oldest due date not paid, and how long ago it was."""
    for account in _open_accounts(session, Account.past_due_amount > 0):
        missed = int((account.past_due_amount / account.monthly_payment).to_integral_value(ROUND_CEILING))
        missed_on = add_months(account.next_due_date, -missed, account.payment_due_day)
        stage = reached_stage((today - missed_on).days, policy.late_days, counting_down=False)
        if stage is None:
            continue
        yield Due(account.customer_id, account.id, "payment_missed", f"payment_missed_{stage}",
                  missed_on.isoformat(),
                  {**_account_values(account, account.past_due_amount),
                   "due_date": format_long_date(missed_on)},
                  {"amount": str(account.past_due_amount), "due_date": missed_on.isoformat()},
                  tuple(f"payment_missed_{later}" for later in policy.late_days if later > stage))


def _payments_returned(session: Session, policy: ReminderPolicy, today: date) -> Iterator[Due]:
    """A payment (autopay or one-time) the bank returned lately."""
    returned = session.scalars(select(Payment).where(
        Payment.status == "returned",
        Payment.scheduled_for >= today - timedelta(days=policy.recent_days)).order_by(Payment.id))
    for payment in returned:
        account = payment.account
        origin = "autopay" if payment.origin == "autopay" else "one_time"
        source = payment.funding_source.masked_name if payment.funding_source else ""
        yield Due(account.customer_id, account.id, "payment_returned", "payment_returned",
                  payment.confirmation_number,
                  {**_account_values(account, payment.amount), "source": source,
                   "origin": reminder_texts.piece("origins", origin),
                   "paid_on": format_long_date(payment.scheduled_for)},
                  {"amount": str(payment.amount), "confirmation": payment.confirmation_number})


def _payoffs_expiring(session: Session, policy: ReminderPolicy, today: date) -> Iterator[Due]:
    """An emailed payoff quote whose good-through date is at most `payoff_days` away."""
    quotes = session.scalars(select(AuditLog).where(AuditLog.action == "payoff_quote_emailed")
                             .order_by(AuditLog.id))
    for row in quotes:
        good_through = date.fromisoformat(str(row.details.get("good_through", "")) or "1970-01-01")
        if not 0 <= (good_through - today).days <= policy.payoff_days:
            continue
        customer_id = int(row.actor.split(":", 1)[1])
        account = session.scalars(select(Account).where(
            Account.customer_id == customer_id, Account.status != "closed").order_by(Account.id)).first()
        if account is None:
            continue
        quote_number = row.subject.split(":", 1)[1]
        amount = Decimal(str(row.details.get("amount", "0")))
        yield Due(customer_id, account.id, "payoff_expiring", "payoff_expiring", quote_number,
                  {**_account_values(account, amount), "quote_number": quote_number,
                   "good_through": format_long_date(good_through)},
                  {"amount": str(amount), "good_through": good_through.isoformat(),
                   "quote_number": quote_number})


def _leases_ending(session: Session, policy: ReminderPolicy, today: date) -> Iterator[Due]:
    """A lease whose end is `lease_end_days` away (90, 60, 30): the nearest stage reached."""
    furthest = today + timedelta(days=max(policy.lease_end_days, default=0))
    for account in _open_accounts(session, Account.product == "lease",
                                  Account.maturity_date.between(today, furthest)):
        stage = reached_stage((account.maturity_date - today).days, policy.lease_end_days,
                              counting_down=True)
        if stage is None:
            continue
        yield Due(account.customer_id, account.id, "lease_ending", f"lease_ending_{stage}",
                  account.maturity_date.isoformat(),
                  {**_account_values(account, account.monthly_payment),
                   "end_date": format_long_date(account.maturity_date)},
                  {"end_date": account.maturity_date.isoformat()},
                  tuple(f"lease_ending_{later}" for later in policy.lease_end_days if later < stage))


def _decisions(session: Session, policy: ReminderPolicy, now: datetime) -> Iterator[Due]:
    """A work item (hardship, lease extension, insurance document, fee waiver) a specialist
    completed or declined lately: the work queue is the one source, so each decision is one
    event, told once whichever way it was made."""
    for item in work_items.recently_decided(session, now - timedelta(days=policy.recent_days)):
        yield Due(item.customer_id, item.account_id, "decision", "decision",
                  f"{item.reference}:{item.status}",
                  {"case_number": item.reference, "outcome": work_items.outcome_text(item)},
                  {"case_number": item.reference, "outcome": item.status, "item": item.kind})


def _insurance_lapsed(session: Session, today: date) -> Iterator[Due]:
    """An open account whose policy on file has expired: once per lapse (a renewed policy that
    lapses again is a new event)."""
    for lapsed in insurance.lapsed_policies(session, today):
        account = session.get_one(Account, lapsed.account_id)
        yield Due(lapsed.customer_id, lapsed.account_id, "insurance_lapsed", "insurance_lapsed",
                  f"{lapsed.account_id}:{lapsed.expired_on.isoformat()}",
                  {**_account_values(account, account.monthly_payment), "insurer": lapsed.insurer,
                   "policy": lapsed.policy_masked, "expired_on": format_long_date(lapsed.expired_on)},
                  {"expired_on": lapsed.expired_on.isoformat()})
