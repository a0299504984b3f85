"""Messages go to the outbox first; a real sender delivers them once, even after a failure."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from typing import Any, Callable

import pytest
from sqlalchemy import select

from autofinance.adapters import notify
from autofinance.adapters.twilio_sms import TwilioSmsSender
from autofinance.adapters.sealing import seal_at_rest
from autofinance.config import Secret, Settings
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import OutboxMessage


T0 = datetime(2026, 12, 7, 15, 0, tzinfo=timezone.utc)


class FlakySender:
    """Delivers until the `fail_on`-th message, then says the relay did not take it."""

    def __init__(self, fail_on: int = 0) -> None:
        self.sent: list[str] = []
        self.fail_on = fail_on

    def deliver(self, message: OutboxMessage) -> None:
        if self.fail_on and len(self.sent) + 1 == self.fail_on:
            raise notify.DeliveryDeferred("relay down")
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
    assert notify.deliver_pending(uow_factory(), flaky, now=T0) == 1
    assert flaky.sent == ["one"]  # two and three were not taken: they wait for their next try
    steady = FlakySender()
    assert notify.deliver_pending(uow_factory(), steady, now=T0) == 0  # not before their time
    assert notify.deliver_pending(uow_factory(), steady, now=T0 + notify.FIRST_RETRY) == 2
    assert steady.sent == ["two", "three"]
    with uow_factory() as uow:
        unsent = uow.session.scalars(select(OutboxMessage.channel).where(OutboxMessage.sent_at.is_(None))).all()
    assert unsent == ["sms"]  # texts wait for an SMS sender


def test_the_demo_has_no_real_sender_and_smtp_is_chosen_by_configuration() -> None:
    assert notify.senders_for(Settings()) == {}
    assert isinstance(notify.senders_for(Settings(notifier="smtp"))["email"], notify.SmtpSender)


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
    with pytest.raises(notify.DeliveryRefused):  # never relays the sealed text itself
        notify.SmtpSender(Settings(notifier="smtp", secret_pepper=Secret("another"))).deliver(
            OutboxMessage(id=7, to="maria.lopez@example.com", channel="email", kind="otp",
                          subject="Code", body=sealed))


# --- retries, refusals and never twice ----------------------------------------------------------


class ScriptedSender:
    """Raises what `outcomes` says for each message in turn (None: taken), recording the taken."""

    def __init__(self, *outcomes: Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[str] = []

    def deliver(self, message: OutboxMessage) -> None:
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        self.sent.append(message.subject)


def _state(uow: UnitOfWork) -> list[tuple[str, bool, bool, int, str | None]]:
    """(subject, sent, failed, attempts, last error) of each email."""
    with uow:
        return [(m.subject, m.sent_at is not None, m.failed_at is not None, m.attempts, m.last_error)
                for m in uow.session.scalars(select(OutboxMessage).where(
                    OutboxMessage.channel == "email").order_by(OutboxMessage.id))]


def test_a_message_not_taken_is_tried_again_later_then_given_up_with_the_reason(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    _queue(uow_factory(), "one")
    down = ScriptedSender(*[notify.DeliveryDeferred("relay down")] * notify.MAX_ATTEMPTS)
    at = T0
    for attempt in range(1, notify.MAX_ATTEMPTS + 1):
        assert notify.deliver_pending(uow_factory(), down, now=at) == 0
        assert _state(uow_factory())[0][3] == attempt
        at += notify.FIRST_RETRY * 2 ** (attempt - 1)  # 1, 2, 4, 8 minutes between tries
    [(_, sent, failed, attempts, error)] = _state(uow_factory())
    assert not sent and failed and attempts == notify.MAX_ATTEMPTS and "relay down" in (error or "")
    later = ScriptedSender()
    assert notify.deliver_pending(uow_factory(), later, now=at + timedelta(days=1)) == 0
    assert later.sent == []  # a failed message is never sent on its own later


def test_a_refused_or_unknown_delivery_is_recorded_and_never_tried_again(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    _queue(uow_factory(), "bad number", "timed out", "fine")
    sender = ScriptedSender(notify.DeliveryRefused("invalid number"), TimeoutError("no answer"), None)
    assert notify.deliver_pending(uow_factory(), sender, now=T0) == 1
    state = _state(uow_factory())
    assert [(s[0], s[1], s[2]) for s in state] == [("bad number", False, True),
                                                   ("timed out", False, True), ("fine", True, False)]
    assert "refused: invalid number" in (state[0][4] or "")
    assert "outcome unknown" in (state[1][4] or "")
    again = ScriptedSender()
    assert notify.deliver_pending(uow_factory(), again, now=T0 + timedelta(hours=1)) == 0
    assert again.sent == []


def test_two_workers_never_send_one_message_twice(uow_factory: Callable[[], UnitOfWork]) -> None:
    """While worker A hands message one over, worker B runs: B sends the others, never one."""
    _queue(uow_factory(), "one", "two", "three")
    second = ScriptedSender()

    class FirstWorker:
        def __init__(self) -> None:
            self.sent: list[str] = []

        def deliver(self, message: OutboxMessage) -> None:
            if not self.sent and not second.sent:
                notify.deliver_pending(uow_factory(), second, now=T0)  # B runs mid-delivery
            self.sent.append(message.subject)

    first = FirstWorker()
    notify.deliver_pending(uow_factory(), first, now=T0)
    assert sorted(first.sent + second.sent) == ["one", "three", "two"]
    assert "one" in first.sent and "one" not in second.sent


def test_a_worker_killed_while_handing_one_over_leaves_it_failed_not_sent_twice(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    _queue(uow_factory(), "one")

    class Killed(BaseException):
        """Stands for the process dying between the claim and the provider's answer."""

    class DiesMidway:
        def deliver(self, message: OutboxMessage) -> None:
            raise Killed()

    with pytest.raises(Killed):
        notify.deliver_pending(uow_factory(), DiesMidway(), now=T0)
    soon = ScriptedSender()
    assert notify.deliver_pending(uow_factory(), soon, now=T0 + timedelta(minutes=5)) == 0
    assert soon.sent == []  # still claimed: nobody else takes it
    later = ScriptedSender()
    notify.deliver_pending(uow_factory(), later, now=T0 + notify.CLAIM_LEASE + timedelta(seconds=1))
    [(_, sent, failed, _, error)] = _state(uow_factory())
    assert later.sent == [] and not sent and failed and "interrupted" in (error or "")


def test_texts_go_through_twilio_when_its_account_is_set_and_email_through_smtp() -> None:
    assert notify.senders_for(Settings()) == {}  # the demo: the outbox is the end
    assert set(notify.senders_for(Settings(notifier="smtp"))) == {"email"}
    twilio = Settings(notifier="smtp", twilio_account_sid="AC1", twilio_auth_token=Secret("t"),
                      twilio_number="+15005550006")
    senders = notify.senders_for(twilio)
    assert set(senders) == {"email", "sms"} and isinstance(senders["sms"], TwilioSmsSender)
