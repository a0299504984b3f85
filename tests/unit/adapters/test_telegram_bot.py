"""Reminders to Telegram and WhatsApp leave the outbox through the bot's sendMessage and
Twilio's WhatsApp sender (here their local stand-ins): once, and a refusal is kept."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

import pytest
from sqlalchemy import select

from autofinance.adapters import notify
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import OutboxMessage
from autofinance.config import Secret, Settings
from tests.e2e.platform_fakes import FakeTelegram, FakeTwilio

BOT_TOKEN = "7012345678:AAF-fake-token-for-tests-0123456789ab"
SID, TOKEN = "AC0123456789abcdef0123456789abcdef", "twilio-token"
T0 = datetime(2026, 12, 7, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram(BOT_TOKEN, "MeridianTestBot").start()
    yield fake
    fake.stop()


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio(SID, TOKEN).start()
    yield fake
    fake.stop()


def _queue(uow: UnitOfWork, channel: str, to: str, body: str) -> None:
    with uow:
        notify.queue_message(uow.session, to=to, channel=channel, kind="reminder_payment_due", body=body)
        uow.commit()


def test_a_telegram_reminder_reaches_the_chat_once(telegram: FakeTelegram,
                                                   uow_factory: Callable[[], UnitOfWork]) -> None:
    settings = Settings(notifier="smtp", telegram_access_token=Secret(BOT_TOKEN),
                        telegram_api_base_url=telegram.url)
    _queue(uow_factory(), "telegram", "5550101", "Your payment is due December 15.")
    senders = notify.senders_for(settings)

    assert notify.deliver_pending(uow_factory(), senders, now=T0) == 1
    assert notify.deliver_pending(uow_factory(), senders, now=T0 + timedelta(hours=1)) == 0
    assert telegram.messages_to(5550101) == [{"text": "Your payment is due December 15.",
                                              "reply_markup": None}]


def test_a_bot_with_another_token_is_refused_and_the_message_kept_as_failed(
        telegram: FakeTelegram, uow_factory: Callable[[], UnitOfWork]) -> None:
    settings = Settings(notifier="smtp", telegram_access_token=Secret("1:wrong"),
                        telegram_api_base_url=telegram.url)
    _queue(uow_factory(), "telegram", "5550101", "Your payment is due December 15.")

    assert notify.deliver_pending(uow_factory(), notify.senders_for(settings), now=T0) == 0
    with uow_factory() as uow:
        message = uow.session.scalars(select(OutboxMessage)).one()
        assert message.failed_at is not None and "401" in (message.last_error or "")


def test_a_whatsapp_reminder_goes_from_the_whatsapp_sender(twilio: FakeTwilio,
                                                           uow_factory: Callable[[], UnitOfWork]) -> None:
    settings = Settings(notifier="smtp", twilio_account_sid=SID, twilio_auth_token=Secret(TOKEN),
                        twilio_number="+15005550006", twilio_whatsapp_number="+14155238886",
                        twilio_api_base_url=twilio.url)
    _queue(uow_factory(), "whatsapp", "whatsapp:+14045550101", "Your payment is due December 15.")

    assert notify.deliver_pending(uow_factory(), notify.senders_for(settings), now=T0) == 1
    [request] = twilio.recorded()
    assert (request.form["To"], request.form["From"]) == ("whatsapp:+14045550101", "whatsapp:+14155238886")
