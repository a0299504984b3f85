"""Sending emails and texts through one interface.

Every message is first written to the outbox table in the caller's transaction, so a message is
never lost and never sent for work that was rolled back. The demo notifier stops there (and
logs that a message was queued, without its body). With NOTIFIER=smtp, `python -m autofinance
deliver-outbox` (once, or `--every N` seconds as a worker) hands unsent emails to the SMTP relay
and texts to Twilio (`adapters/twilio_sms.py`), and marks them sent.

Delivery never sends a message twice, also with two workers or after a crash: a worker claims a
message in its own commit before handing it over. A message the provider certainly did not take
(`DeliveryDeferred`: relay down, rate limited) is tried again later, with a growing pause, up to
`MAX_ATTEMPTS`; one it refused (`DeliveryRefused`) or whose fate is unknown (a timeout, a crash
between the claim and the answer) is not tried again: it keeps `failed_at` and `last_error` for
an operator, because a second copy of a code or a payment notice is worse than a late one.

A message with a code or a link (SEALED_KINDS) is sealed in the outbox, so a copy of the store
holds none in clear; a real sender unseals it to deliver it, and the body is then dropped.
"""
from __future__ import annotations

import logging
import smtplib
import socket
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Mapping, Optional, Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from autofinance.config import Secret, Settings
from autofinance.adapters.sealing import PREFIX, seal_at_rest, unseal_at_rest
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import OutboxMessage
from autofinance.domain.clock import aware, utcnow

logger = logging.getLogger(__name__)

# Kinds whose body holds a one-time code or a link that works on its own.
SEALED_KINDS = frozenset({"otp", "contact_change_code", "password_reset", "document_link",
                          "statement_ready", "registration_link", "card_link"})
DELIVERED_MARKER = "[delivered; the code or link is no longer kept]"
UNDELIVERED_MARKER = "[not delivered; the code or link is no longer kept]"
MAX_ATTEMPTS = 5  # tries of a message the provider did not take, before it is marked failed
FIRST_RETRY = timedelta(minutes=1)  # then 2, 4, 8 minutes
CLAIM_LEASE = timedelta(minutes=10)  # a claim older than this was cut short by a crash


class DeliveryDeferred(Exception):
    """The provider certainly did not take the message (down, busy, rate limited): try later."""


class DeliveryRefused(Exception):
    """The provider refused the message for good (a bad number or address): never try again."""


def queue_message(
    session: Session,
    *,
    to: str,
    channel: str,
    kind: str,
    body: str,
    subject: str = "",
    customer_id: Optional[int] = None,
    pepper: Optional[Secret] = None,
) -> OutboxMessage:
    """Write a message to the outbox within the caller's unit of work.

    A SEALED_KINDS body is sealed with `pepper`; without it such a message is refused rather
    than stored in clear.
    """
    if kind in SEALED_KINDS:
        if pepper is None:
            raise ValueError(f"a {kind!r} message holds a code or a link: queue it with the pepper")
        body = seal_at_rest(body, pepper)
    message = OutboxMessage(
        to=to, channel=channel, kind=kind, subject=subject, body=body, customer_id=customer_id
    )
    session.add(message)
    logger.info("queued %s %s to customer %s", channel, kind, customer_id)
    return message


def readable_body(message: OutboxMessage, pepper: Secret) -> Optional[str]:
    """The body as the recipient reads it; None if it is sealed under another pepper."""
    if not message.body.startswith(PREFIX):
        return message.body  # never sealed, or delivered and dropped (DELIVERED_MARKER)
    return unseal_at_rest(message.body, pepper)


class Sender(Protocol):
    def deliver(self, message: OutboxMessage) -> None: ...


class SmtpSender:
    """Delivers outbox emails through an SMTP relay."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def deliver(self, message: OutboxMessage) -> None:
        body = readable_body(message, self._settings.secret_pepper)
        if body is None:  # never send the sealed text itself
            raise DeliveryRefused(f"outbox message {message.id} is sealed under another pepper")
        email = EmailMessage()
        email["From"] = self._settings.smtp_sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email.set_content(body)
        try:
            smtp = smtplib.SMTP(self._settings.smtp_host, self._settings.smtp_port, timeout=10)
        except (ConnectionRefusedError, socket.gaierror, smtplib.SMTPConnectError) as error:
            raise DeliveryDeferred(f"SMTP relay unreachable: {error}") from error
        with smtp:
            try:
                smtp.send_message(email)
            except smtplib.SMTPRecipientsRefused as error:
                raise DeliveryRefused(f"SMTP relay refused the address: {error}") from error
            except smtplib.SMTPResponseException as error:
                if 400 <= error.smtp_code < 500:  # a temporary refusal: nothing was taken
                    raise DeliveryDeferred(f"SMTP {error.smtp_code}: {error.smtp_error!r}") from error
                raise DeliveryRefused(f"SMTP {error.smtp_code}: {error.smtp_error!r}") from error


def senders_for(settings: Settings) -> dict[str, Sender]:
    """The real sender of each channel: email through SMTP, SMS and WhatsApp through Twilio when
    its account, token and number are set, Telegram through the bot when its token is. Empty in
    the demo (the outbox is the end)."""
    # they import this module
    from autofinance.adapters.telegram_bot import TelegramSender  # noqa: PLC0415
    from autofinance.adapters.twilio_sms import TwilioSmsSender  # noqa: PLC0415

    if settings.notifier != "smtp":
        return {}
    senders: dict[str, Sender] = {"email": SmtpSender(settings)}
    if TwilioSmsSender.configured(settings):
        senders["sms"] = TwilioSmsSender(settings)
    if TwilioSmsSender.configured(settings, whatsapp=True):
        senders["whatsapp"] = TwilioSmsSender(settings, whatsapp=True)
    if TelegramSender.configured(settings):
        senders["telegram"] = TelegramSender(settings)
    return senders


def deliver_pending(uow: UnitOfWork, senders: Mapping[str, Sender] | Sender, channel: str = "email",
                    limit: int = 100, now: Optional[datetime] = None) -> int:
    """Hands due outbox messages to the real senders (one sender: for `channel` only); returns
    how many were delivered.

    Each message is claimed in its own commit before it is handed over and marked right after,
    so a failure half-way neither loses the rest nor sends a delivered one twice, and a second
    worker never takes a claimed one. A delivered code or link is dropped: from then on the
    customer's inbox is the only copy.
    """
    by_channel = dict(senders) if isinstance(senders, Mapping) else {channel: senders}
    now = aware(now)
    delivered = 0
    with uow:
        session = uow.session
        _fail_interrupted(session, now)
        uow.commit()
        due = session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None),
                   OutboxMessage.claimed_at.is_(None), OutboxMessage.channel.in_(by_channel),
                   or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now))
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).all()
        for message_id in due:
            message = _claim(session, message_id, now)
            uow.commit()
            if message is None:
                continue  # another worker took it
            delivered += _deliver_one(session, message, by_channel[message.channel], now)
            uow.commit()
    return delivered


def _claim(session: Session, message_id: int, now: datetime) -> Optional[OutboxMessage]:
    """The message, claimed for this worker; None if another one claimed it first."""
    claimed = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.claimed_at.is_(None),
               OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None))
        .values(claimed_at=now, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        return None
    message = session.get_one(OutboxMessage, message_id)
    session.refresh(message)
    return message


def _deliver_one(session: Session, message: OutboxMessage, sender: Sender, now: datetime) -> int:
    """Hands one claimed message over and records what came of it; 1 if it was delivered."""
    try:
        sender.deliver(message)
    except DeliveryDeferred as error:
        if message.attempts >= MAX_ATTEMPTS:
            _failed(message, now, f"gave up after {message.attempts} tries: {error}")
        else:
            message.claimed_at = None
            message.next_attempt_at = now + FIRST_RETRY * 2 ** (message.attempts - 1)
            message.last_error = str(error)[:200]
            logger.warning("outbox message %s not taken (try %d), again at %s: %s", message.id,
                           message.attempts, message.next_attempt_at.isoformat(), error)
        return 0
    except DeliveryRefused as error:
        _failed(message, now, f"refused: {error}")
        return 0
    except Exception as error:  # noqa: BLE001 - its fate is unknown: never risk a second copy
        _failed(message, now, f"outcome unknown, not tried again: {type(error).__name__}: {error}")
        return 0
    message.sent_at = now
    message.last_error = None
    if message.kind in SEALED_KINDS:
        message.body = DELIVERED_MARKER
    return 1


def _failed(message: OutboxMessage, now: datetime, why: str) -> None:
    message.failed_at = now
    message.last_error = why[:200]
    if message.kind in SEALED_KINDS:
        message.body = UNDELIVERED_MARKER  # a code nobody received is of no use to keep
    logger.error("outbox message %s (%s %s) not delivered: %s", message.id, message.channel,
                 message.kind, why)


def _fail_interrupted(session: Session, now: datetime) -> None:
    """Messages claimed long ago and never marked: a worker died while handing them over.
    Whether they went is unknown, so they are marked failed rather than sent again."""
    stale = session.scalars(select(OutboxMessage).where(
        OutboxMessage.claimed_at < now - CLAIM_LEASE, OutboxMessage.sent_at.is_(None),
        OutboxMessage.failed_at.is_(None))).all()
    for message in stale:
        _failed(message, now, "interrupted while being handed over; not sent again, so never twice")
