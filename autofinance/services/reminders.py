"""Sending reminders and alerts: each due one (services.reminder_rules) once, over the channel
the customer chose, within the rules a US lender keeps.

- **Channel**: the customer's choice (email, SMS, WhatsApp, Telegram) when it has an address and,
  for a text channel, consent on record; otherwise email, which needs no consent for servicing
  notices. Nothing is ever texted without consent.
- **Quiet hours**: texts go only within `text_hours` of the customer's own time zone; outside
  them the reminder waits for the next run (emails go at any hour).
- **Daily cap**: at most `daily_cap` reminders a customer a day (their day); the rest wait.
- **Once**: the ledger row (`Reminder`, unique per customer, kind and event) and its outbox
  message are written in one transaction, so a reminder is either sent and recorded or neither;
  a second scheduler, a retry after a crash or a clock that went back finds the row and sends
  nothing; nor is an earlier stage sent after a later one (a 30-day lease notice, then a clock
  gone back to the 60-day one). The scheduler's lease (services.job_lease) is renewed in that same transaction, so a
  scheduler that lost it commits nothing.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Callable, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from autofinance.adapters.notify import queue_message
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Customer, OutboxMessage, Payment, Reminder
from autofinance.domain.clock import aware
from autofinance.domain.reminders import ReminderPolicy, customer_zone, texts_allowed
from autofinance.services import reminder_texts
from autofinance.services.reminder_rules import Due, due_reminders

logger = logging.getLogger(__name__)

SENT, ALREADY, HELD, CAPPED = "sent", "already", "held", "capped"
PAID_WITHIN = timedelta(hours=48)


@dataclass
class RunReport:
    """What one run did with each due reminder."""

    counts: dict[str, int] = field(default_factory=lambda: {SENT: 0, ALREADY: 0, HELD: 0, CAPPED: 0})

    def add(self, outcome: str) -> None:
        self.counts[outcome] += 1

    @property
    def sent(self) -> int:
        return self.counts[SENT]


def send_due_reminders(uow: UnitOfWork, policy: ReminderPolicy, lender_timezone: str,
                       base_url: str, now: Optional[datetime] = None,
                       fence: Optional[Callable[[Session], None]] = None) -> RunReport:
    """Sends every reminder due now that the rules allow; each in its own transaction, so a
    crash part-way keeps what was sent and the next run sends the rest. `fence(session)` is
    called inside each transaction before it commits (the lease's renewal; it raises to stop)."""
    now = aware(now)
    today = now.astimezone(ZoneInfo(lender_timezone)).date()
    report = RunReport()
    with uow:
        dues = due_reminders(uow.session, policy, today, now)
        sent = set(uow.session.execute(select(Reminder.customer_id, Reminder.kind, Reminder.event_key)))
    for due in dues:
        if any((due.customer_id, kind, due.event_key) in sent for kind in (due.kind, *due.later_stages)):
            report.add(ALREADY)
            continue
        report.add(_send_one(uow, due, policy, lender_timezone, base_url, now, fence))
    if report.sent:
        logger.info("reminders: %s", report.counts)
    return report


WRITTEN_RULES = frozenset({"decision"})


def _send_one(uow: UnitOfWork, due: Due, policy: ReminderPolicy, lender_timezone: str,
              base_url: str, now: datetime, fence: Optional[Callable[[Session], None]]) -> str:
    with uow:
        session = uow.session
        # the customer's row is locked (PostgreSQL) so two senders cannot both pass the cap
        customer = session.scalars(select(Customer).where(Customer.id == due.customer_id)
                                   .with_for_update()).one()
        zone = customer_zone(customer.time_zone, lender_timezone)
        # a specialist's decision is a written answer: by email, whatever channel reminders take
        channel, to = ("email", customer.email) if due.rule in WRITTEN_RULES else channel_for(customer)
        if channel != "email" and not texts_allowed(policy, now, zone):
            return HELD
        if sent_today(session, customer.id, now, zone) >= policy.daily_cap:
            return CAPPED
        values = {**due.values, "first_name": customer.first_name, "url": base_url}
        title, body = reminder_texts.email(due.kind, values)  # the title: the widget's alert too
        subject = title if channel == "email" else ""
        if channel != "email":
            body = reminder_texts.text(due.kind, values, channel)
        message = queue_message(session, to=to, channel=channel, kind=f"reminder_{due.rule}",
                                subject=subject, body=body, customer_id=customer.id)
        session.flush()
        session.add(Reminder(customer_id=customer.id, account_id=due.account_id, kind=due.kind,
                             event_key=due.event_key, channel=channel, outbox_id=message.id,
                             context={**due.context, "rule": due.rule, "title": title}, sent_at=now))
        try:
            session.flush()
        except IntegrityError:  # another scheduler recorded this event first
            return ALREADY
        if fence is not None:
            fence(session)
        uow.commit()
    logger.info("reminder %s (%s) sent to customer %s by %s", due.kind, due.event_key,
                due.customer_id, channel)
    return SENT


@dataclass(frozen=True)
class ReminderFigures:
    """Reminders sent in a period and what came of them (the console's metrics)."""

    sent: int
    delivered: int  # handed to the email or text provider (in the demo the outbox is the end)
    answered: int  # the customer replied to it in the chat
    paid_within_48h: int  # a payment on its account was made within 48 hours of it


def reminder_figures(session: Session, start: datetime, end: datetime) -> ReminderFigures:
    """What the reminders sent between `start` and `end` led to."""
    rows = session.execute(
        select(Reminder.account_id, Reminder.sent_at, Reminder.answered_at, OutboxMessage.sent_at)
        .join(OutboxMessage, OutboxMessage.id == Reminder.outbox_id)
        .where(Reminder.sent_at >= start, Reminder.sent_at <= end)).all()
    paid = 0
    for account_id, sent_at, _, _ in rows:
        if account_id is not None and session.scalar(select(Payment.id).where(
                Payment.account_id == account_id, Payment.status.not_in(("cancelled", "returned")),
                Payment.created_at >= sent_at, Payment.created_at <= sent_at + PAID_WITHIN).limit(1)):
            paid += 1
    return ReminderFigures(sent=len(rows), delivered=sum(1 for row in rows if row[3] is not None),
                           answered=sum(1 for row in rows if row[2] is not None), paid_within_48h=paid)


@dataclass(frozen=True)
class Alert:
    """A reminder as the signed-in customer's chat widget lists it until it is read."""

    id: int
    title: str
    sent_at: datetime


def unread_alerts(customer_id: int, uow: UnitOfWork, limit: int = 5) -> list[Alert]:
    """The customer's newest reminders not yet seen in the widget, newest first."""
    with uow:
        rows = uow.session.scalars(select(Reminder).where(
            Reminder.customer_id == customer_id, Reminder.read_at.is_(None))
            .order_by(Reminder.sent_at.desc(), Reminder.id.desc()).limit(limit))
        return [Alert(r.id, str(r.context.get("title", "")), r.sent_at) for r in rows]


def mark_alerts_read(customer_id: int, alert_ids: list[int], uow: UnitOfWork,
                     now: Optional[datetime] = None) -> int:
    """Marks the customer's own alerts among `alert_ids` read; returns how many."""
    now = aware(now)
    with uow:
        marked = uow.session.execute(
            update(Reminder).where(Reminder.customer_id == customer_id, Reminder.id.in_(alert_ids),
                                   Reminder.read_at.is_(None))
            .values(read_at=now).execution_options(synchronize_session=False)).rowcount
        uow.commit()
    return int(marked or 0)


def channel_for(customer: Customer) -> tuple[str, str]:
    """(channel, address): the customer's choice where it has an address and consent, else email."""
    chosen = customer.reminder_channel
    if chosen == "sms" and customer.sms_consent_at and customer.mobile:
        return "sms", customer.mobile
    if chosen == "whatsapp" and customer.whatsapp_consent_at and customer.mobile:
        return "whatsapp", f"whatsapp:{customer.mobile}"
    if chosen == "telegram" and customer.telegram_consent_at and customer.telegram_chat_id:
        return "telegram", customer.telegram_chat_id
    return "email", customer.email


def sent_today(session: Session, customer_id: int, now: datetime, zone: ZoneInfo) -> int:
    """How many reminders the customer got since midnight of their own day."""
    local_day: date = now.astimezone(zone).date()
    midnight = datetime.combine(local_day, time(0), tzinfo=zone)
    return session.scalar(select(func.count()).select_from(Reminder).where(
        Reminder.customer_id == customer_id, Reminder.sent_at >= midnight,
        Reminder.sent_at < midnight + timedelta(days=1))) or 0
