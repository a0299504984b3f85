"""Reminders and alerts on a controlled clock: what is due, over which channel, when, and once.

The seeded store's day is 2026-11-24. Maria (SMS, consent, New York) is due on the 15th; James
(autopay, Los Angeles) has a lease ending in 75 days; Dana (Chicago) is $812.40 past due since
October 5; Priya (Denver) is due on November 25 and her bank returned a payment on the 22nd;
Keisha's returned payment is two months old.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Optional

import pytest
from fixtures_store import DANA, JAMES, KEISHA, MARIA, ROBERT, UowFactory, count, customer_id, set_account
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from autofinance.adapters.store.models import (
    Account, Customer, InsurancePolicy, OutboxMessage, Payment, Reminder, StaffUser, WorkItem,
)
from autofinance.domain.reminders import ReminderPolicy
from autofinance.services import console, reminders
from autofinance.services.payoff import email_payoff_quote

PRIYA = "7301002290"
POLICY = ReminderPolicy()
LENDER_ZONE = "America/New_York"


def at(day: date, hour_utc: int = 15) -> datetime:
    """15:00 UTC is 10:00 in New York, 8:00 in Denver, 7:00 in Los Angeles."""
    return datetime(day.year, day.month, day.day, hour_utc, tzinfo=timezone.utc)


def run(uow_factory: UowFactory, now: datetime, policy: ReminderPolicy = POLICY,
        fence=None) -> reminders.RunReport:
    return reminders.send_due_reminders(uow_factory(), policy, LENDER_ZONE, "https://meridian.example",
                                        now=now, fence=fence)


def sent(uow_factory: UowFactory, number: Optional[str] = None) -> list[tuple[str, str, str]]:
    """(kind, event, channel) of every reminder in the ledger, for one customer if given."""
    with uow_factory() as uow:
        query = select(Reminder).order_by(Reminder.id)
        if number is not None:
            query = query.where(Reminder.customer_id == customer_id(uow_factory, number))
        return [(r.kind, r.event_key, r.channel) for r in uow.session.scalars(query)]


def kinds(uow_factory: UowFactory, number: str) -> list[str]:
    return [kind for kind, _, _ in sent(uow_factory, number)]


def set_customer(uow_factory: UowFactory, number: str, **values: object) -> None:
    with uow_factory() as uow:
        uow.session.execute(update(Customer).where(
            Customer.id == customer_id(uow_factory, number)).values(**values))
        uow.commit()


def outbox_for(uow_factory: UowFactory, number: str) -> list[SimpleNamespace]:
    with uow_factory() as uow:
        return [SimpleNamespace(to=m.to, channel=m.channel, subject=m.subject, body=m.body, kind=m.kind)
                for m in uow.session.scalars(select(OutboxMessage).where(
                    OutboxMessage.customer_id == customer_id(uow_factory, number)).order_by(OutboxMessage.id))]


# --- once ---------------------------------------------------------------------------------


def test_what_is_due_on_the_seed_day_goes_once_however_often_the_scheduler_runs(uow_factory: UowFactory) -> None:
    first = run(uow_factory, at(date(2026, 11, 24), 17))
    for minutes in range(3):
        again = run(uow_factory, at(date(2026, 11, 24), 17) + timedelta(minutes=minutes))
        assert again.sent == 0

    assert first.sent == 5
    assert sorted(kind for kind, _, _ in sent(uow_factory)) == [
        "insurance_lapsed", "lease_ending_90", "payment_due", "payment_missed_10", "payment_returned"]
    assert count(uow_factory, OutboxMessage, OutboxMessage.kind.like("reminder_%")) == 5
    with uow_factory() as uow:  # each ledger row points at its own outbox message
        rows = uow.session.scalars(select(Reminder)).all()
        assert len({r.outbox_id for r in rows}) == 5


def test_the_ledger_refuses_a_second_row_for_the_same_event(uow_factory: UowFactory) -> None:
    """What two schedulers racing past the read would meet: the constraint, not a check in code."""
    run(uow_factory, at(date(2026, 11, 24), 17))
    with uow_factory() as uow:
        first = uow.session.scalars(select(Reminder)).first()
        assert first is not None
        uow.session.add(Reminder(customer_id=first.customer_id, kind=first.kind,
                                 event_key=first.event_key, channel="email",
                                 outbox_id=first.outbox_id + 1000, context={},
                                 sent_at=at(date(2026, 11, 24))))
        with pytest.raises(Exception, match="(?i)unique"):
            uow.session.flush()


def test_a_failing_fence_commits_neither_the_reminder_nor_its_message(uow_factory: UowFactory) -> None:
    class Lost(Exception):
        pass

    def fence(_session: Session) -> None:
        raise Lost()

    with pytest.raises(Lost):
        run(uow_factory, at(date(2026, 11, 24), 17), fence=fence)

    assert sent(uow_factory) == []
    assert count(uow_factory, OutboxMessage) == 0


# --- the rules ----------------------------------------------------------------------------


def test_a_payment_reminder_goes_due_days_before_and_never_to_autopay(uow_factory: UowFactory) -> None:
    run(uow_factory, at(date(2026, 12, 9)))  # Maria's payment is 6 days away
    assert "payment_due" not in kinds(uow_factory, MARIA)

    run(uow_factory, at(date(2026, 12, 10)))

    assert sent(uow_factory, MARIA) == [("payment_due", "2026-12-15", "sms")]
    assert "payment_due" not in kinds(uow_factory, JAMES)  # on autopay
    (message,) = outbox_for(uow_factory, MARIA)
    assert message.to == "+14045550101" and message.subject == ""
    assert "$452.18" in message.body and "December 15, 2026" in message.body
    assert message.body.endswith("Txt STOP to opt out.")


def test_no_payment_reminder_once_the_payment_is_scheduled(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        account = uow.session.scalars(select(Account).where(Account.account_number == MARIA)).one()
        uow.session.add(Payment(account_id=account.id, amount=Decimal("452.18"),
                                scheduled_for=date(2026, 12, 14), status="scheduled",
                                origin="chat", confirmation_number="MPTEST0001"))
        uow.commit()

    run(uow_factory, at(date(2026, 12, 10)))

    assert kinds(uow_factory, MARIA) == []


def test_a_missed_payment_is_told_a_day_late_then_ten_days_late(uow_factory: UowFactory) -> None:
    set_account(uow_factory, MARIA, past_due_amount=Decimal("452.18"), status="past_due")
    # unpaid since November 15 (a month before her next due date)
    run(uow_factory, at(date(2026, 11, 15)))
    assert kinds(uow_factory, MARIA) == []

    run(uow_factory, at(date(2026, 11, 16)))
    run(uow_factory, at(date(2026, 11, 24)))
    run(uow_factory, at(date(2026, 11, 25)))

    assert sent(uow_factory, MARIA) == [("payment_missed_1", "2026-11-15", "sms"),
                                        ("payment_missed_10", "2026-11-15", "sms")]


def test_a_scheduler_that_was_down_sends_only_the_latest_stage_and_never_an_earlier_one_after(
    uow_factory: UowFactory,
) -> None:
    set_account(uow_factory, MARIA, past_due_amount=Decimal("452.18"), status="past_due")

    run(uow_factory, at(date(2026, 11, 30)))  # first run 15 days late: the 10-day notice only
    run(uow_factory, at(date(2026, 11, 16)))  # the clock jumps back: the 1-day one is stale

    assert kinds(uow_factory, MARIA) == ["payment_missed_10"]


def test_a_lease_end_is_told_at_90_60_and_30_days_and_a_clock_gone_back_repeats_nothing(
    uow_factory: UowFactory,
) -> None:
    # James's lease ends February 7, 2027 (75 days after the seed)
    for day in (date(2026, 11, 24), date(2026, 12, 9), date(2026, 12, 10), date(2027, 1, 8),
                date(2027, 1, 9), date(2026, 12, 10), date(2026, 11, 24)):
        run(uow_factory, at(day, 17))

    assert kinds(uow_factory, JAMES) == ["lease_ending_90", "lease_ending_60", "lease_ending_30"]
    emails = outbox_for(uow_factory, JAMES)
    assert [m.channel for m in emails] == ["email"] * 3
    assert all("February 7, 2027" in m.subject for m in emails)


def test_a_returned_payment_is_told_while_recent_only(uow_factory: UowFactory) -> None:
    run(uow_factory, at(date(2026, 11, 24), 17))

    assert ("payment_returned", "MP2290R2H", "email") in sent(uow_factory, PRIYA)
    assert "payment_returned" not in kinds(uow_factory, KEISHA)  # two months ago
    returned = next(m for m in outbox_for(uow_factory, PRIYA) if m.kind == "reminder_payment_returned")
    assert "checking ****4417" in returned.body and "$389.90" in returned.body


def test_an_emailed_payoff_quote_is_reminded_before_it_lapses(uow_factory: UowFactory) -> None:
    email_payoff_quote(customer_id(uow_factory, MARIA), date(2026, 11, 28), uow_factory(),
                       "https://meridian.example", today=date(2026, 11, 24))

    run(uow_factory, at(date(2026, 11, 25)))  # 3 days before: not yet
    assert "payoff_expiring" not in kinds(uow_factory, MARIA)
    run(uow_factory, at(date(2026, 11, 26)))

    assert sent(uow_factory, MARIA) == [("payoff_expiring", "PQ4821261128", "sms")]
    assert "November 28, 2026" in outbox_for(uow_factory, MARIA)[-1].body


def test_a_specialists_decision_on_any_work_item_is_told_once_and_an_open_one_is_not(
        uow_factory: UowFactory) -> None:
    dana, keisha = customer_id(uow_factory, DANA), customer_id(uow_factory, KEISHA)
    with uow_factory() as uow:
        staff_id = uow.session.scalar(select(StaffUser.id))
        for reference, who, kind, status, decided, details in (
                ("HSAPPROVED", dana, "hardship", "completed", at(date(2026, 11, 23)), {"option": "extension"}),
                ("HSWAITING1", dana, "hardship", "open", None, {"option": "extension"}),
                ("HSLONGAGO1", dana, "hardship", "declined", at(date(2026, 11, 1)), {"option": "extension"}),
                ("FWDECLINED", keisha, "fee_waiver", "declined", at(date(2026, 11, 23)), {"amount": "15.00"})):
            uow.session.add(WorkItem(
                reference=reference, kind=kind, subject=reference, customer_id=who, summary="",
                details=details, status=status, decided_at=decided, note="no" if status == "declined" else None,
                claimed_by=None if status == "open" else staff_id))
        uow.commit()

    run(uow_factory, at(date(2026, 11, 24), 17))
    run(uow_factory, at(date(2026, 11, 25), 17))

    assert ("decision", "HSAPPROVED:completed", "email") in sent(uow_factory, DANA)
    assert [k for k in kinds(uow_factory, DANA) if k == "decision"] == ["decision"]
    body = next(m.body for m in outbox_for(uow_factory, DANA) if m.kind == "reminder_decision")
    assert "approved your payment extension request (case HSAPPROVED)" in body
    # a written answer: by email, although Keisha takes her reminders by text
    assert ("decision", "FWDECLINED:declined", "email") in sent(uow_factory, KEISHA)
    text = next(m.body for m in outbox_for(uow_factory, KEISHA) if m.kind == "reminder_decision")
    assert "could not waive it" in text and "$15.00" in text


def test_only_the_reminders_the_lender_chose_are_sent(uow_factory: UowFactory) -> None:
    run(uow_factory, at(date(2026, 11, 24), 17), replace(POLICY, kinds=("lease_ending",)))

    assert [kind for kind, _, _ in sent(uow_factory)] == ["lease_ending_90"]


# --- channel, consent, quiet hours, cap ---------------------------------------------------


def test_no_text_without_consent_email_instead(uow_factory: UowFactory) -> None:
    set_customer(uow_factory, MARIA, sms_consent_at=None)

    run(uow_factory, at(date(2026, 12, 10)))

    assert sent(uow_factory, MARIA) == [("payment_due", "2026-12-15", "email")]
    assert outbox_for(uow_factory, MARIA)[0].to == "maria.lopez@example.com"


@pytest.mark.parametrize("channel, values, to", [
    ("whatsapp", {"whatsapp_consent_at": at(date(2026, 1, 1))}, "whatsapp:+14045550101"),
    ("telegram", {"telegram_consent_at": at(date(2026, 1, 1)), "telegram_chat_id": "5550101"}, "5550101"),
    ("telegram", {"telegram_consent_at": at(date(2026, 1, 1))}, "maria.lopez@example.com"),  # no chat
])
def test_whatsapp_and_telegram_when_chosen_with_consent_and_an_address(
    uow_factory: UowFactory, channel: str, values: dict, to: str,
) -> None:
    set_customer(uow_factory, MARIA, reminder_channel=channel, **values)

    run(uow_factory, at(date(2026, 12, 10)))

    (message,) = outbox_for(uow_factory, MARIA)
    assert message.to == to
    assert "STOP" not in message.body  # the opt-out line is SMS's


def test_texts_wait_for_the_customers_own_daytime_and_emails_do_not(uow_factory: UowFactory) -> None:
    night = datetime(2026, 12, 11, 2, 30, tzinfo=timezone.utc)  # 21:30 on the 10th in New York, 19:30 in Denver
    report = run(uow_factory, night)
    assert kinds(uow_factory, MARIA) == []
    assert report.counts["held"] == 1

    set_customer(uow_factory, MARIA, time_zone="America/Denver")  # 19:30 there: within hours
    run(uow_factory, night)
    assert kinds(uow_factory, MARIA) == ["payment_due"]


def test_texts_start_at_eight_in_the_morning(uow_factory: UowFactory) -> None:
    run(uow_factory, datetime(2026, 12, 10, 12, 59, tzinfo=timezone.utc))  # 7:59 in New York
    assert kinds(uow_factory, MARIA) == []
    run(uow_factory, datetime(2026, 12, 10, 13, 0, tzinfo=timezone.utc))
    assert kinds(uow_factory, MARIA) == ["payment_due"]


def test_the_daily_cap_holds_the_rest_for_the_customers_next_day(uow_factory: UowFactory) -> None:
    capped = replace(POLICY, daily_cap=1)
    first = run(uow_factory, at(date(2026, 11, 24), 17), capped)
    run(uow_factory, datetime(2026, 11, 25, 6, 59, tzinfo=timezone.utc), capped)  # 23:59 in Denver

    assert kinds(uow_factory, PRIYA) == ["payment_returned"]  # the most pressing first
    assert first.counts["capped"] == 1

    run(uow_factory, datetime(2026, 11, 25, 7, 0, tzinfo=timezone.utc), capped)  # her midnight
    assert kinds(uow_factory, PRIYA) == ["payment_returned", "payment_due"]


# --- what came of them ----------------------------------------------------------------------


def test_the_console_counts_reminders_sent_delivered_answered_and_paid_within_48_hours(
    uow_factory: UowFactory,
) -> None:
    sent_at = at(date(2026, 11, 24), 17)
    run(uow_factory, sent_at)
    with uow_factory() as uow:
        session = uow.session
        priya_due = session.scalars(select(Reminder).where(Reminder.kind == "payment_due")).one()
        priya_due.answered_at = sent_at + timedelta(hours=1)
        session.execute(update(OutboxMessage).where(OutboxMessage.id == priya_due.outbox_id)
                        .values(sent_at=sent_at + timedelta(seconds=5)))
        for confirmation, hours in (("MPPAID0001", 30), ("MPLATE0001", 50)):  # within 48 h, after
            session.add(Payment(account_id=priya_due.account_id, amount=Decimal("389.90"),
                                scheduled_for=date(2026, 11, 25), status="scheduled", origin="chat",
                                confirmation_number=confirmation,
                                created_at=sent_at + timedelta(hours=hours)))
        uow.commit()

    figures = console.metrics(uow_factory(), days=7, now=at(date(2026, 11, 27))).reminders

    # Priya's two reminders (payment due, returned payment) share the account she paid
    assert (figures.sent, figures.delivered, figures.answered, figures.paid_within_48h) == (5, 1, 1, 2)


def test_a_lapsed_policy_is_reminded_once_and_a_renewed_one_not_at_all(uow_factory: UowFactory) -> None:
    """Robert's policy on file lapsed before the seed day: one notice naming the insurer and the
    masked policy, never again for that lapse; a policy renewed since is not reminded."""
    only = replace(POLICY, kinds=("insurance_lapsed",))
    run(uow_factory, at(date(2026, 11, 24), 17), only)
    run(uow_factory, at(date(2026, 11, 26), 17), only)
    assert kinds(uow_factory, ROBERT) == ["insurance_lapsed"]
    [notice] = [m for m in outbox_for(uow_factory, ROBERT) if m.kind == "reminder_insurance_lapsed"]
    assert "Lone Star Indemnity" in notice.body and "****0472" in notice.body
    assert "LSI-88-10472" not in notice.body  # the policy number only masked
    assert kinds(uow_factory, MARIA) == []  # insured: nothing
    with uow_factory() as uow:
        uow.session.execute(update(InsurancePolicy).values(expires_on=date(2027, 6, 1)))
        uow.session.execute(delete(Reminder))
        uow.commit()
    run(uow_factory, at(date(2026, 11, 27), 17), only)
    assert kinds(uow_factory, ROBERT) == []
