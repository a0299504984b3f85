"""Replies to what we texted: STOP, HELP and START change consent as carriers require, and an
answer to a reminder is recorded against the newest reminder sent to that address."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from fixtures_store import MARIA, UowFactory, count, customer_id
from sqlalchemy import select, update

from autofinance.adapters.store.models import AuditLog, Customer, HandoffTicket, Reminder
from autofinance.domain.reminders import ReminderPolicy
from autofinance.services import reminder_replies, reminders

MARIA_MOBILE = "+14045550101"
DUE_REMINDER_DAY = datetime(2026, 12, 10, 15, 0, tzinfo=timezone.utc)  # 10:00 in New York


def _remind(uow_factory: UowFactory, now: datetime = DUE_REMINDER_DAY) -> None:
    reminders.send_due_reminders(uow_factory(), ReminderPolicy(), "America/New_York",
                                 "https://meridian.example", now=now)


def _consent(uow_factory: UowFactory) -> datetime | None:
    with uow_factory() as uow:
        return uow.session.get_one(Customer, customer_id(uow_factory, MARIA)).sms_consent_at


def test_stop_withdraws_consent_so_the_next_reminder_goes_by_email(uow_factory: UowFactory) -> None:
    changed = reminder_replies.sms_keyword(MARIA_MOBILE, "stop", uow_factory(), now=DUE_REMINDER_DAY)
    _remind(uow_factory)

    assert changed == 1 and _consent(uow_factory) is None
    with uow_factory() as uow:
        assert uow.session.scalars(select(Reminder.channel)).all()[-1] == "email"
    assert count(uow_factory, AuditLog, AuditLog.action == "sms_stop") == 1


def test_start_gives_consent_again_and_help_changes_nothing(uow_factory: UowFactory) -> None:
    reminder_replies.sms_keyword(MARIA_MOBILE, "stop", uow_factory(), now=DUE_REMINDER_DAY)
    assert reminder_replies.sms_keyword(MARIA_MOBILE, "help", uow_factory(), now=DUE_REMINDER_DAY) == 0
    assert _consent(uow_factory) is None

    reminder_replies.sms_keyword(MARIA_MOBILE, "start", uow_factory(), now=DUE_REMINDER_DAY)

    assert _consent(uow_factory) == DUE_REMINDER_DAY


def test_a_number_on_no_account_changes_nothing(uow_factory: UowFactory) -> None:
    assert reminder_replies.sms_keyword("+15550000000", "stop", uow_factory()) == 0


def test_an_answer_marks_the_newest_reminder_to_that_number_answered(uow_factory: UowFactory) -> None:
    _remind(uow_factory)
    later = DUE_REMINDER_DAY + timedelta(hours=2)

    answered = reminder_replies.answer_reminder("twilio", MARIA_MOBILE, "pay", uow_factory(), now=later)

    assert answered is not None and (answered.kind, answered.topic) == ("payment_due", "payment reminder")
    with uow_factory() as uow:
        assert uow.session.scalars(select(Reminder.answered_at).where(
            Reminder.customer_id == customer_id(uow_factory, MARIA))).one() == later


def test_an_answer_from_another_channel_or_long_after_answers_nothing(uow_factory: UowFactory) -> None:
    _remind(uow_factory)

    assert reminder_replies.answer_reminder("telegram", MARIA_MOBILE, "pay", uow_factory(),
                                            now=DUE_REMINDER_DAY) is None
    assert reminder_replies.answer_reminder("twilio", MARIA_MOBILE, "pay", uow_factory(),
                                            now=DUE_REMINDER_DAY + timedelta(days=15)) is None


def test_call_me_queues_a_call_back_that_names_the_reminder(uow_factory: UowFactory) -> None:
    _remind(uow_factory)

    answered = reminder_replies.answer_reminder("twilio", MARIA_MOBILE, "call", uow_factory(),
                                                now=DUE_REMINDER_DAY)

    assert answered is not None and answered.phone_masked == "***-***-0101"
    with uow_factory() as uow:
        ticket = uow.session.scalars(select(HandoffTicket)).one()
        assert (ticket.ticket_number, ticket.reason, ticket.followup, ticket.conversation_id) == (
            answered.ticket_number, "reminder_callback", "call", MARIA_MOBILE)
        assert "payment due reminder" in ticket.summary and "2026-12-15" in ticket.summary


def test_whatsapp_answers_match_the_whatsapp_address(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        uow.session.execute(update(Customer).where(Customer.id == customer_id(uow_factory, MARIA))
                            .values(reminder_channel="whatsapp", whatsapp_consent_at=DUE_REMINDER_DAY))
        uow.commit()
    _remind(uow_factory)

    answered = reminder_replies.answer_reminder("twilio_whatsapp", f"whatsapp:{MARIA_MOBILE}", "paid",
                                                uow_factory(), now=DUE_REMINDER_DAY)

    assert answered is not None and answered.kind == "payment_due"
    assert date(2026, 12, 10) == answered.sent_at.date()
