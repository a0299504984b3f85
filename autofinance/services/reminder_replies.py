"""Answers to what we texted: SMS consent keywords (STOP, HELP, START), and replies to a reminder
("pay now", "paid", "call me") that continue in the chat with the reminder's context.

The conversation id of a text channel is the customer's address there (a phone number,
`whatsapp:+1...`, a Telegram chat id) and the platform vouches for it (signed webhooks), so the
reminder a reply answers is the newest one sent to that address. Nothing about the account is
said here: what follows in the chat (a payment, the payment history) verifies as always.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Optional

from sqlalchemy import select, update

from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Customer, OutboxMessage, Reminder
from autofinance.domain.clock import aware
from autofinance.domain.masking import mask_phone
from autofinance.services import audit, handoff, reminder_texts

logger = logging.getLogger(__name__)

SmsKeyword = Literal["stop", "help", "start"]
Reply = Literal["pay", "paid", "call"]
REPLY_WINDOW = timedelta(days=14)  # a reply later than this answers no reminder
CALLBACK_REASON = "reminder_callback"
CHANNELS = {"twilio": "sms", "twilio_whatsapp": "whatsapp", "telegram": "telegram"}


@dataclass(frozen=True)
class ReminderAnswered:
    kind: str  # the reminder's kind, 'payment_missed_10'
    topic: str  # what the chat calls it: "past-due notice"
    sent_at: datetime
    ticket_number: Optional[str] = None  # "call me": the call-back ticket
    phone_masked: str = ""
    # what "pay now" pays, as the payment form reads a request: {"amount_choice": "past_due"}
    payment: dict[str, str] = field(default_factory=dict)


# the amount a reminder was about, named so the payment takes today's figure
_PAY_AMOUNT = {"payment_due": "monthly_payment", "payment_missed": "past_due", "payoff_expiring": "payoff"}


def payment_asked(context: dict[str, object]) -> dict[str, str]:
    """What "pay now" in answer to a reminder pays: the monthly payment, the past-due amount or
    the payoff (today's figures), or the figure of a returned payment; nothing for other reminders."""
    rule = str(context.get("rule", ""))
    if rule == "payment_returned" and context.get("amount"):
        return {"amount": f"${context['amount']}"}
    return {"amount_choice": _PAY_AMOUNT[rule]} if rule in _PAY_AMOUNT else {}


def sms_keyword(phone: str, keyword: SmsKeyword, uow: UnitOfWork, now: Optional[datetime] = None) -> int:
    """STOP withdraws consent to texts from every customer with this mobile number, START gives
    it again (the carrier's rule: a START after a STOP resubscribes), HELP changes nothing.
    Returns how many customers it changed; audited."""
    now = aware(now)
    if keyword == "help":
        return 0
    with uow:
        changed = uow.session.scalars(
            update(Customer).where(Customer.mobile == phone)
            .values(sms_consent_at=None if keyword == "stop" else now)
            .returning(Customer.id).execution_options(synchronize_session=False)).all()
        for customer_id in changed:
            audit.record(uow.session, now, audit.customer(customer_id), f"sms_{keyword}",
                         f"customer:{customer_id}", phone=mask_phone(phone))
        uow.commit()
    logger.info("SMS %s from %s: %d customer(s)", keyword.upper(), mask_phone(phone), len(changed))
    return len(changed)


def answer_reminder(input_channel: str, address: str, reply: Reply, uow: UnitOfWork,
                    now: Optional[datetime] = None) -> Optional[ReminderAnswered]:
    """Records that the newest reminder sent to `address` on this channel was answered; for
    "call me", also queues a call-back ticket whose summary names the reminder. None when no
    reminder went there lately (the chat then carries on without one)."""
    now = aware(now)
    channel = CHANNELS.get(input_channel)
    if channel is None:
        return None
    to = address if channel != "whatsapp" or address.startswith("whatsapp:") else f"whatsapp:{address}"
    with uow:
        session = uow.session
        reminder = session.scalars(
            select(Reminder).join(OutboxMessage, OutboxMessage.id == Reminder.outbox_id)
            .where(Reminder.channel == channel, OutboxMessage.to == to,
                   Reminder.sent_at >= now - REPLY_WINDOW)
            .order_by(Reminder.sent_at.desc(), Reminder.id.desc()).limit(1)).first()
        if reminder is None:
            return None
        session.execute(update(Reminder).where(Reminder.id == reminder.id,
                                               Reminder.answered_at.is_(None))
                        .values(answered_at=now).execution_options(synchronize_session=False))
        audit.record(session, now, audit.customer(reminder.customer_id), "reminder_answered",
                     f"reminder:{reminder.id}", reply=reply, kind=reminder.kind)
        ticket_number, phone = None, ""
        if reply == "call":
            customer = session.get_one(Customer, reminder.customer_id)
            phone = mask_phone(customer.mobile)
            summary = (f"Asked to be called back, answering the {reminder.kind.replace('_', ' ')} "
                       f"reminder of {reminder.sent_at:%Y-%m-%d} ({reminder.event_key}).")
            ticket = handoff.queue_ticket(session, address, input_channel, CALLBACK_REASON, summary,
                                          reminder.customer_id, now)
            handoff.set_followup(session, ticket.ticket_number, "call", now)
            ticket_number = ticket.ticket_number
        uow.commit()
    topic = reminder_texts.piece("topics", str(reminder.context.get("rule", "")))
    return ReminderAnswered(reminder.kind, topic, reminder.sent_at, ticket_number, phone,
                            payment_asked(reminder.context))
