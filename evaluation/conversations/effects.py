"""What a scenario did in the account store: snapshots of one customer's rows, and each effect
of FORMAT.md defined precisely over the snapshot before and the one after the scenario.

A snapshot covers the customer's copy (by customer id) and, for records anyone may create without
being verified (fraud cases, hand-off tickets), the scenario's conversation id too; `nobody` has
no customer id and is judged on the conversation alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Optional

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from autofinance.adapters.store.models import (
    Account,
    AuditLog,
    AutopayEnrolment,
    ContactChange,
    Customer,
    FraudCase,
    HandoffTicket,
    HardshipCase,
    OnlineCredential,
    OutboxMessage,
    PasswordResetToken,
    Payment,
)

VERIFICATION_KINDS = frozenset({"otp"})  # outbox kinds "nothing_changed" allows


@dataclass(frozen=True)
class Snapshot:
    """Plain values of the rows effects are defined on (ids -> the fields that matter)."""

    payments: dict[int, tuple[str, Decimal]] = field(default_factory=dict)  # status, amount
    autopay: dict[int, tuple[bool, int, int, Decimal]] = field(default_factory=dict)  # active, day, source, amount
    contact: tuple[str, ...] = ()  # email, mobile, address, city, state, zip hash
    contact_changes: dict[int, tuple[str, bool, bool]] = field(default_factory=dict)  # field, confirmed, cancelled
    hardship_cases: frozenset[int] = frozenset()
    accounts: dict[int, tuple[int, str, bool]] = field(default_factory=dict)  # due day, next due, frozen
    fraud_cases: frozenset[int] = frozenset()
    tickets: dict[int, Optional[str]] = field(default_factory=dict)  # id -> followup
    outbox: dict[int, str] = field(default_factory=dict)  # id -> kind
    credential: tuple[bool, int] = (False, 0)  # locked, failed sign-ins
    reset_tokens: frozenset[int] = frozenset()
    audit: dict[int, str] = field(default_factory=dict)  # id -> action, by this customer


def snapshot(session: Session, customer_id: Optional[int], conversation_id: str) -> Snapshot:
    by_conversation_fraud = FraudCase.conversation_id == conversation_id
    by_conversation_ticket = HandoffTicket.conversation_id == conversation_id
    if customer_id is None:
        fraud = set(session.scalars(select(FraudCase.id).where(by_conversation_fraud)))
        tickets = {t.id: t.followup for t in session.scalars(
            select(HandoffTicket).where(by_conversation_ticket))}
        return Snapshot(fraud_cases=frozenset(fraud), tickets=tickets)
    account_ids = list(session.scalars(select(Account.id).where(Account.customer_id == customer_id)))
    customer = session.get_one(Customer, customer_id)
    credential = session.scalar(select(OnlineCredential).where(OnlineCredential.customer_id == customer_id))
    return Snapshot(
        payments={p.id: (p.status, p.amount) for p in session.scalars(
            select(Payment).where(Payment.account_id.in_(account_ids)))},
        autopay={a.id: (a.active, a.day_of_month, a.funding_source_id, a.amount)
                 for a in session.scalars(select(AutopayEnrolment).where(
                     AutopayEnrolment.account_id.in_(account_ids)))},
        contact=(customer.email, customer.mobile, customer.address_line1, customer.city,
                 customer.state, customer.zip_code_hash),
        contact_changes={c.id: (c.field, c.confirmed_at is not None, c.cancelled_at is not None)
                         for c in session.scalars(select(ContactChange).where(
                             ContactChange.customer_id == customer_id))},
        hardship_cases=frozenset(session.scalars(select(HardshipCase.id).where(
            HardshipCase.customer_id == customer_id))),
        accounts={a.id: (a.payment_due_day, a.next_due_date.isoformat(), a.fraud_frozen)
                  for a in session.scalars(select(Account).where(Account.id.in_(account_ids)))},
        fraud_cases=frozenset(session.scalars(select(FraudCase.id).where(
            or_(FraudCase.customer_id == customer_id, by_conversation_fraud)))),
        tickets={t.id: t.followup for t in session.scalars(select(HandoffTicket).where(
            or_(HandoffTicket.customer_id == customer_id, by_conversation_ticket)))},
        outbox={m.id: m.kind for m in session.scalars(select(OutboxMessage).where(
            OutboxMessage.customer_id == customer_id))},
        credential=(credential.locked, credential.failed_sign_ins) if credential else (False, 0),
        reset_tokens=frozenset(session.scalars(select(PasswordResetToken.id).where(
            PasswordResetToken.customer_id == customer_id))),
        audit={a.id: a.action for a in session.scalars(select(AuditLog).where(
            AuditLog.actor == f"customer:{customer_id}"))},
    )


# --- the effects: each a function of (before, after) -> the amounts involved, or None ----------
# An effect holds when its function returns a tuple (possibly empty: no amount involved);
# `amount` is checked against the amounts returned.

Effect = Callable[[Snapshot, Snapshot], Optional[tuple[Decimal, ...]]]


def _new_outbox(before: Snapshot, after: Snapshot, kind: str) -> Optional[tuple[Decimal, ...]]:
    return () if any(k == kind and i not in before.outbox for i, k in after.outbox.items()) else None


def _holds(condition: bool) -> Optional[tuple[Decimal, ...]]:
    return () if condition else None


def payment_scheduled(before: Snapshot, after: Snapshot) -> Optional[tuple[Decimal, ...]]:
    """A payment row on the customer's account that did not exist before, now scheduled, pending
    or posted (made now or for a later day). Amounts: those payments'."""
    made = tuple(amount for pid, (status, amount) in after.payments.items()
                 if pid not in before.payments and status in ("scheduled", "pending", "posted"))
    return made or None


def payment_cancelled(before: Snapshot, after: Snapshot) -> Optional[tuple[Decimal, ...]]:
    """A payment (old, or made during the scenario) that is cancelled now and was not before.
    Amounts: the cancelled payments'."""
    cancelled = tuple(amount for pid, (status, amount) in after.payments.items()
                      if status == "cancelled" and before.payments.get(pid, ("", 0))[0] != "cancelled")
    return cancelled or None


def _active(snap: Snapshot) -> dict[int, tuple[bool, int, int, Decimal]]:
    return {i: row for i, row in snap.autopay.items() if row[0]}


def autopay_enrolled(before: Snapshot, after: Snapshot) -> Optional[tuple[Decimal, ...]]:
    """No active autopay enrolment before, an active one after."""
    return _holds(not _active(before) and bool(_active(after)))


def autopay_changed(before: Snapshot, after: Snapshot) -> Optional[tuple[Decimal, ...]]:
    """Active autopay before and after, and the active enrolment's day, funding source or amount
    (or the enrolment itself) differs; or a change the service audited during the scenario (an
    enrolment made and then changed in one conversation shows no difference of the first kind)."""
    old, new = _active(before), _active(after)
    audited = any(a == "autopay_changed" and i not in before.audit for i, a in after.audit.items())
    return _holds((bool(old) and bool(new) and old != new) or (bool(new) and audited))


def autopay_cancelled(before: Snapshot, after: Snapshot) -> Optional[tuple[Decimal, ...]]:
    """Active autopay before, none after."""
    return _holds(bool(_active(before)) and not _active(after))


def statement_emailed(before: Snapshot, after: Snapshot) -> Optional[tuple[Decimal, ...]]:
    """A new `document_link` email (the signed link to a statement) to the customer."""
    return _new_outbox(before, after, "document_link")


def payoff_quote_emailed(before: Snapshot, after: Snapshot) -> Optional[tuple[Decimal, ...]]:
    """A new `payoff_quote` email to the customer."""
    return _new_outbox(before, after, "payoff_quote")


def contact_change_code_sent(before: Snapshot, after: Snapshot) -> Optional[tuple[Decimal, ...]]:
    """A new contact-change request (its code sent to the new email or mobile, or for an
    address to the email on file)."""
    return _holds(any(i not in before.contact_changes for i in after.contact_changes))


def contact_changed(before: Snapshot, after: Snapshot) -> Optional[tuple[Decimal, ...]]:
    """A contact-change request confirmed during the scenario, and the customer's email, mobile
    or address differs from before."""
    confirmed = any(row[1] and not before.contact_changes.get(i, ("", False, False))[1]
                    for i, row in after.contact_changes.items())
    return _holds(confirmed and before.contact != after.contact)


def hardship_request_opened(before: Snapshot, after: Snapshot) -> Optional[tuple[Decimal, ...]]:
    """A new hardship case for the customer (any option: extension, due-date change, specialist)."""
    return _holds(bool(after.hardship_cases - before.hardship_cases))


def due_date_changed(before: Snapshot, after: Snapshot) -> Optional[tuple[Decimal, ...]]:
    """An account's payment due day is not what it was."""
    return _holds(any(after.accounts[i][0] != row[0] for i, row in before.accounts.items()
                      if i in after.accounts))


def fraud_case_opened(before: Snapshot, after: Snapshot) -> Optional[tuple[Decimal, ...]]:
    """A new fraud case for the customer or from this conversation (a reporter who is not
    verified is recorded by conversation only)."""
    return _holds(bool(after.fraud_cases - before.fraud_cases))


def lease_extension_requested(before: Snapshot, after: Snapshot) -> Optional[tuple[Decimal, ...]]:
    """A new lease extension request: the service audits it once per request
    (`lease_extension_requested`) and emails the customer a receipt."""
    return _holds(any(a == "lease_extension_requested" and i not in before.audit
                      for i, a in after.audit.items()))


def password_reset_sent(before: Snapshot, after: Snapshot) -> Optional[tuple[Decimal, ...]]:
    """A new password-reset token for the customer, and its link emailed (`password_reset`)."""
    return _holds(bool(after.reset_tokens - before.reset_tokens)
                  and _new_outbox(before, after, "password_reset") is not None)


def username_sent(before: Snapshot, after: Snapshot) -> Optional[tuple[Decimal, ...]]:
    """A new `username_reminder` email to the customer."""
    return _new_outbox(before, after, "username_reminder")


def online_access_unlocked(before: Snapshot, after: Snapshot) -> Optional[tuple[Decimal, ...]]:
    """The online credential was locked before and is not now."""
    return _holds(before.credential[0] and not after.credential[0])


def handoff_ticket_opened(before: Snapshot, after: Snapshot) -> Optional[tuple[Decimal, ...]]:
    """A new hand-off ticket for the customer or from this conversation."""
    return _holds(any(i not in before.tickets for i in after.tickets))


def followup_recorded(before: Snapshot, after: Snapshot) -> Optional[tuple[Decimal, ...]]:
    """A hand-off ticket of the customer or conversation has a follow-up (email or call) it
    did not have before."""
    return _holds(any(f and not before.tickets.get(i) for i, f in after.tickets.items()))


def nothing_changed(before: Snapshot, after: Snapshot) -> Optional[tuple[Decimal, ...]]:
    """No payment, autopay, contact detail or request, hardship case, account term, fraud case,
    lease extension, hand-off ticket, password reset or sign-in lock changed or appeared, and no
    email or text went out beyond verification codes."""
    same = (before.payments == after.payments and before.autopay == after.autopay
            and before.contact == after.contact and before.contact_changes == after.contact_changes
            and before.hardship_cases == after.hardship_cases and before.accounts == after.accounts
            and before.fraud_cases == after.fraud_cases and before.tickets == after.tickets
            and before.reset_tokens == after.reset_tokens and before.credential == after.credential
            and lease_extension_requested(before, after) is None)
    extra_mail = any(k not in VERIFICATION_KINDS for i, k in after.outbox.items() if i not in before.outbox)
    return _holds(same and not extra_mail)


EFFECTS: dict[str, Effect] = {f.__name__: f for f in (
    payment_scheduled, payment_cancelled, autopay_enrolled, autopay_changed, autopay_cancelled,
    statement_emailed, payoff_quote_emailed, contact_change_code_sent, contact_changed,
    hardship_request_opened, due_date_changed, fraud_case_opened, lease_extension_requested,
    password_reset_sent, username_sent, online_access_unlocked, handoff_ticket_opened,
    followup_recorded, nothing_changed)}


def happened(before: Snapshot, after: Snapshot) -> dict[str, tuple[Decimal, ...]]:
    """Every effect that holds between the two snapshots, with the amounts involved."""
    found = {}
    for name, effect in EFFECTS.items():
        result = effect(before, after)
        if result is not None:
            found[name] = result
    return found
