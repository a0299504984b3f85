"""Reminders by SMS and Telegram end to end, against the local fakes of Twilio and Telegram.

The stack runs as `make run` does with real senders (NOTIFIER=smtp): the scheduler finds what
is due, the delivery worker hands texts to the fake Twilio and Telegram chats to the fake bot
API; the customer's answers come back on the channels' webhooks and carry on in the chat.
Priya (payment due, a returned payment, a payoff quote lapsing) chose SMS; James (lease ending)
chose Telegram.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterator

import pytest
from sqlalchemy import select, update

from autofinance.adapters.store.db import make_engine, session_factory
from autofinance.adapters.store.models import Customer, Reminder
from tests.e2e.conftest import RunningStack, free_port, seed_store, start_stack
from tests.e2e.platform_fakes import FakeTelegram, FakeTwilio
from tests.e2e.test_messaging_channels import (
    TELEGRAM_BOT, TELEGRAM_TOKEN, TELEGRAM_WEBHOOK, TWILIO_NUMBER, TWILIO_SID, TWILIO_TOKEN,
    sms_says, telegram_says,
)

pytestmark = pytest.mark.e2e

PRIYA, JAMES_CHAT = "+17205550164", 4155550142


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram(TELEGRAM_TOKEN, TELEGRAM_BOT).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio(TWILIO_SID, TWILIO_TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def reminder_stack(tmp_path_factory: pytest.TempPathFactory, telegram: FakeTelegram,
                   twilio: FakeTwilio) -> Iterator[RunningStack]:
    tmp = tmp_path_factory.mktemp("reminders")
    database_url = f"sqlite:///{tmp / 'accounts.db'}"
    seed_store(database_url)  # the stack seeds again and adds nothing: the choices below stay
    consent = datetime(2026, 1, 1, tzinfo=timezone.utc)
    engine = make_engine(database_url)
    with session_factory(engine)() as session:
        session.execute(update(Customer).where(Customer.mobile == PRIYA).values(
            reminder_channel="sms", sms_consent_at=consent))
        session.execute(update(Customer).where(Customer.first_name == "James").values(
            reminder_channel="telegram", telegram_consent_at=consent, telegram_chat_id=str(JAMES_CHAT)))
        session.commit()
    engine.dispose()
    yield from start_stack(tmp, {
        "DATABASE_URL": database_url, "NOTIFIER": "smtp",
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(free_port()),  # emails wait: nobody listens
        "TELEGRAM_ACCESS_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_BOT_NAME": TELEGRAM_BOT,
        "TELEGRAM_WEBHOOK_URL": TELEGRAM_WEBHOOK, "TELEGRAM_API_BASE_URL": telegram.url,
        "TWILIO_ACCOUNT_SID": TWILIO_SID, "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_NUMBER": TWILIO_NUMBER, "TWILIO_API_BASE_URL": twilio.url,
        "REMINDER_TEXT_HOURS": "00:00-24:00",  # whatever the hour the tests run at
        "REMINDER_EVERY_SECONDS": "5",
    })


def _consent(running: RunningStack) -> object:
    engine = make_engine(running.env["DATABASE_URL"])
    try:
        with session_factory(engine)() as session:
            return session.scalar(select(Customer.sms_consent_at).where(Customer.mobile == PRIYA))
    finally:
        engine.dispose()


def test_the_scheduler_and_the_delivery_worker_text_and_message_what_is_due_once(
    reminder_stack: RunningStack, twilio: FakeTwilio, telegram: FakeTelegram,
) -> None:
    texts = twilio.wait_for_body(PRIYA, "is due", timeout=60)
    chats = telegram.wait_for_text(JAMES_CHAT, "lease", timeout=60)

    assert any("Txt STOP to opt out." in body for body in texts)
    assert any("(acct ****7734) ends" in m["text"] for m in chats)
    twilio.wait_for(lambda r: False, timeout=12)  # two more scheduler passes: nothing new
    assert len(twilio.bodies_to(PRIYA)) == 3  # payment due, returned payment, payoff quote
    assert len(telegram.messages_to(JAMES_CHAT)) == 1


def test_pay_now_by_text_carries_on_in_the_chat_and_verifies_first(
    reminder_stack: RunningStack, twilio: FakeTwilio,
) -> None:
    reminders = len(twilio.wait_for_body(PRIYA, "is due", timeout=60))

    sms_says(reminder_stack, PRIYA, "PAY NOW")

    replies = " ".join(twilio.wait_for_body(PRIYA, "account number")[reminders:])
    assert "Thanks for answering our payment reminder" in replies and "$" not in replies
    engine = make_engine(reminder_stack.env["DATABASE_URL"])
    try:
        with session_factory(engine)() as session:
            assert session.scalar(select(Reminder.kind).where(Reminder.answered_at.is_not(None))) \
                == "payment_due"
    finally:
        engine.dispose()


def test_call_me_on_telegram_queues_a_call_back_to_the_number_on_file(
    reminder_stack: RunningStack, telegram: FakeTelegram,
) -> None:
    telegram.wait_for_text(JAMES_CHAT, "lease", timeout=60)

    telegram_says(reminder_stack, JAMES_CHAT, "call me")

    replies = " ".join(m["text"] for m in telegram.wait_for_text(JAMES_CHAT, "We'll call you"))
    assert "***-***-0142" in replies and "ticket HT" in replies


def test_stop_help_and_start_by_sms_are_answered_and_change_consent(
    reminder_stack: RunningStack, twilio: FakeTwilio,
) -> None:
    sms_says(reminder_stack, PRIYA, "STOP")
    assert any("unsubscribed" in body for body in twilio.wait_for_body(PRIYA, "unsubscribed"))
    assert _consent(reminder_stack) is None

    sms_says(reminder_stack, PRIYA, "HELP")
    assert any("Reply STOP" in body for body in twilio.wait_for_body(PRIYA, "Msg & data rates"))

    sms_says(reminder_stack, PRIYA, "START")
    twilio.wait_for_body(PRIYA, "get our texts again")
    assert _consent(reminder_stack) is not None
