"""Messages go to the outbox first; a real sender delivers them once, even after a failure."""
from __future__ import annotations

from email.message import EmailMessage
from typing import Any, Callable

import pytest
from sqlalchemy import select

from autofinance.adapters import notify
from autofinance.adapters.sealing import seal_at_rest
from autofinance.config import Secret, Settings
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import OutboxMessage


class FlakySender:
    """Delivers until the `fail_on`-th message, then raises like a relay that went away."""

    def __init__(self, fail_on: int = 0) -> None:
        self.sent: list[str] = []
        self.fail_on = fail_on

    def deliver(self, message: OutboxMessage) -> None:
        if self.fail_on and len(self.sent) + 1 == self.fail_on:
            raise ConnectionError("relay down")
        self.sent.append(message.subject)


def _queue(uow: UnitOfWork, *subjects: str) -> None:
    with uow:
        for subject in subjects:
            notify.queue_message(uow.session, to="maria.lopez@example.com", channel="email",
                                 kind="test", subject=subject, body="hello")
        notify.queue_message(uow.session, to="+14045550101", channel="sms", kind="test", body="sms")
        uow.commit()


def test_a_delivery_that_fails_half_way_resumes_without_sending_twice(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    _queue(uow_factory(), "one", "two", "three")
    flaky = FlakySender(fail_on=2)
    with pytest.raises(ConnectionError):
        notify.deliver_pending(uow_factory(), flaky)
    assert flaky.sent == ["one"]
    steady = FlakySender()
    assert notify.deliver_pending(uow_factory(), steady) == 2
    assert steady.sent == ["two", "three"]
    with uow_factory() as uow:
        unsent = uow.session.scalars(select(OutboxMessage.channel).where(OutboxMessage.sent_at.is_(None))).all()
    assert unsent == ["sms"]  # texts wait for an SMS sender


def test_the_demo_has_no_real_sender_and_smtp_is_chosen_by_configuration() -> None:
    assert notify.sender_for(Settings()) is None
    assert isinstance(notify.sender_for(Settings(notifier="smtp")), notify.SmtpSender)


def test_the_smtp_sender_hands_the_relay_one_plain_email(monkeypatch: pytest.MonkeyPatch) -> None:
    relayed: list[EmailMessage] = []

    class FakeSMTP:
        def __init__(self, host: str, port: int, timeout: int) -> None:
            assert (host, port) == ("mail.internal", 2525)

        def __enter__(self) -> "FakeSMTP":
            return self

        def __exit__(self, *exc: Any) -> None:
            return None

        def send_message(self, message: EmailMessage) -> None:
            relayed.append(message)

    monkeypatch.setattr(notify.smtplib, "SMTP", FakeSMTP)
    sender = notify.SmtpSender(Settings(notifier="smtp", smtp_host="mail.internal", smtp_port=2525))
    sender.deliver(OutboxMessage(to="maria.lopez@example.com", channel="email", kind="t",
                                 subject="Your payment", body="Thanks"))
    assert relayed[0]["To"] == "maria.lopez@example.com" and relayed[0]["Subject"] == "Your payment"
    assert relayed[0].get_content().strip() == "Thanks"


def test_a_code_or_link_is_sealed_in_the_outbox_and_refused_without_the_pepper(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    pepper = Settings().secret_pepper
    with uow_factory() as uow:
        for kind in sorted(notify.SEALED_KINDS):
            with pytest.raises(ValueError):
                notify.queue_message(uow.session, to="maria.lopez@example.com", channel="email",
                                     kind=kind, body="Your code is 123456.")
            notify.queue_message(uow.session, to="maria.lopez@example.com", channel="email",
                                 kind=kind, body="Your code is 123456.", pepper=pepper)
        notify.queue_message(uow.session, to="maria.lopez@example.com", channel="email",
                             kind="payment_confirmation", body="We received $25.00.", pepper=pepper)
        uow.commit()
    with uow_factory() as uow:
        messages = uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        sealed, plain = messages[:-1], messages[-1]
        assert len(sealed) == len(notify.SEALED_KINDS)
        assert all("123456" not in m.body and notify.readable_body(m, pepper) == "Your code is 123456."
                   for m in sealed)
        assert plain.body == "We received $25.00."  # nothing secret: kept as sent
        assert notify.readable_body(sealed[0], Secret("another-pepper")) is None


def test_once_delivered_a_code_is_dropped_and_the_relay_got_it_in_clear(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    settings = Settings()
    relayed: list[str] = []
    with uow_factory() as uow:
        notify.queue_message(uow.session, to="maria.lopez@example.com", channel="email", kind="otp",
                             body="Your code is 123456.", pepper=settings.secret_pepper)
        notify.queue_message(uow.session, to="maria.lopez@example.com", channel="email",
                             kind="payment_confirmation", body="We received $25.00.")
        uow.commit()

    class Relay:
        def deliver(self, message: OutboxMessage) -> None:
            relayed.append(notify.readable_body(message, settings.secret_pepper) or "")

    assert notify.deliver_pending(uow_factory(), Relay()) == 2
    assert relayed == ["Your code is 123456.", "We received $25.00."]
    with uow_factory() as uow:
        bodies = uow.session.scalars(select(OutboxMessage.body).order_by(OutboxMessage.id)).all()
    assert bodies == [notify.DELIVERED_MARKER, "We received $25.00."]


def test_the_smtp_sender_unseals_the_code_it_relays(monkeypatch: pytest.MonkeyPatch) -> None:
    relayed: list[EmailMessage] = []

    class FakeSMTP:
        def __init__(self, host: str, port: int, timeout: int) -> None:
            pass

        def __enter__(self) -> "FakeSMTP":
            return self

        def __exit__(self, *exc: Any) -> None:
            return None

        def send_message(self, message: EmailMessage) -> None:
            relayed.append(message)

    monkeypatch.setattr(notify.smtplib, "SMTP", FakeSMTP)
    settings = Settings(notifier="smtp")
    sealed = seal_at_rest("Your code is 123456.", settings.secret_pepper)
    notify.SmtpSender(settings).deliver(OutboxMessage(to="maria.lopez@example.com", channel="email",
                                                      kind="otp", subject="Code", body=sealed))
    assert relayed[0].get_content().strip() == "Your code is 123456."
    with pytest.raises(ValueError):  # never relays the sealed text itself
        notify.SmtpSender(Settings(notifier="smtp", secret_pepper=Secret("another"))).deliver(
            OutboxMessage(id=7, to="maria.lopez@example.com", channel="email", kind="otp",
                          subject="Code", body=sealed))
