"""Texts leave the outbox through Twilio's Messages API (here its local stand-in): once, with
the code in clear only on the wire, tried again when Twilio did not take them, and recorded
as failed when it refused them."""
from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

import pytest
from sqlalchemy import select

from autofinance.adapters import notify
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import OutboxMessage
from autofinance.adapters.twilio_sms import TwilioSmsSender
from autofinance.config import Secret, Settings
from tests.e2e.platform_fakes import FakeTwilio

SID, TOKEN, FROM, TO = "AC0123456789abcdef0123456789abcdef", "twilio-token", "+15005550006", "+14045550101"
T0 = datetime(2026, 12, 7, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio(SID, TOKEN).start()
    yield fake
    fake.stop()


def _settings(base_url: str, token: str = TOKEN) -> Settings:
    return Settings(notifier="smtp", twilio_account_sid=SID, twilio_auth_token=Secret(token),
                    twilio_number=FROM, twilio_api_base_url=base_url)


def _queue_code(uow: UnitOfWork, settings: Settings, body: str = "Your Meridian code is 482913.") -> None:
    with uow:
        notify.queue_message(uow.session, to=TO, channel="sms", kind="otp", body=body,
                             pepper=settings.secret_pepper)
        uow.commit()


def _texts(uow: UnitOfWork) -> list[OutboxMessage]:
    with uow:
        found = list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "sms").order_by(OutboxMessage.id)))
        uow.session.expunge_all()
        return found


def test_a_code_by_text_reaches_twilio_once_and_leaves_no_copy(
        twilio: FakeTwilio, uow_factory: Callable[[], UnitOfWork]) -> None:
    settings = _settings(twilio.url)
    _queue_code(uow_factory(), settings)
    senders = notify.senders_for(settings)
    assert notify.deliver_pending(uow_factory(), senders, now=T0) == 1
    assert notify.deliver_pending(uow_factory(), senders, now=T0 + timedelta(hours=1)) == 0
    [request] = twilio.recorded(lambda r: r.path.endswith("/Messages.json"))
    assert request.form == {"To": TO, "From": FROM, "Body": "Your Meridian code is 482913."}
    [text] = _texts(uow_factory())
    assert text.sent_at is not None and text.body == notify.DELIVERED_MARKER


def test_busy_twilio_is_tried_again_later_and_a_bad_number_is_recorded_not_retried(
        twilio: FakeTwilio, uow_factory: Callable[[], UnitOfWork]) -> None:
    settings = _settings(twilio.url)
    sender = TwilioSmsSender(settings)
    _queue_code(uow_factory(), settings)
    twilio.fail_next = [503]
    assert notify.deliver_pending(uow_factory(), sender, "sms", now=T0) == 0
    [text] = _texts(uow_factory())
    assert text.sent_at is None and text.failed_at is None and "Twilio 503" in (text.last_error or "")
    assert notify.deliver_pending(uow_factory(), sender, "sms", now=T0 + notify.FIRST_RETRY) == 1
    # two requests: the one answered 503 (Twilio took nothing) and the one taken
    assert twilio.bodies_to(TO) == ["Your Meridian code is 482913."] * 2
    assert _texts(uow_factory())[0].sent_at is not None

    _queue_code(uow_factory(), settings, "Your payment of $25.00 was received.")
    twilio.fail_next = [400]
    assert notify.deliver_pending(uow_factory(), sender, "sms", now=T0 + timedelta(hours=1)) == 0
    refused = _texts(uow_factory())[-1]
    assert refused.failed_at is not None and "21211" in (refused.last_error or "")
    assert notify.deliver_pending(uow_factory(), sender, "sms", now=T0 + timedelta(days=1)) == 0
    assert len(twilio.bodies_to(TO)) == 3  # the refused text was asked for once, never again


def test_wrong_credentials_are_a_refusal_and_an_unreachable_twilio_a_retry(
        twilio: FakeTwilio, uow_factory: Callable[[], UnitOfWork]) -> None:
    settings = _settings(twilio.url)
    _queue_code(uow_factory(), settings)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    assert notify.deliver_pending(uow_factory(), TwilioSmsSender(_settings(closed)), "sms", now=T0) == 0
    [text] = _texts(uow_factory())
    assert text.failed_at is None and "unreachable" in (text.last_error or "")
    wrong = TwilioSmsSender(_settings(twilio.url, token="not-the-token"))
    assert notify.deliver_pending(uow_factory(), wrong, "sms", now=T0 + notify.FIRST_RETRY) == 0
    [text] = _texts(uow_factory())
    assert text.failed_at is not None and "Twilio 401" in (text.last_error or "")
    assert text.body == notify.UNDELIVERED_MARKER  # no code kept for a text that never went
