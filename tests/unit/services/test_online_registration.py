"""Registering for online access: a link only for a customer without online access, stored only
hashed, single use, 60 minutes; a checked username that is free; the password rules; nothing
created on a refused attempt."""
from __future__ import annotations

import re
from typing import Any

import pytest
from fixtures_store import MARIA, ROBERT, UowFactory, count, customer_id
from sqlalchemy import delete, select

from autofinance.adapters.notify import readable_body
from autofinance.adapters.security import keyed_hash, verify_password
from autofinance.adapters.store.models import AuditLog, OnlineCredential, OutboxMessage, RegistrationToken
from autofinance.config import Settings
from autofinance.services import fraud, online_registration
from autofinance.services.errors import (
    AlreadyRegistered, InvalidRegistrationLink, InvalidUsername, OnlineAccessHeld,
    RegistrationLimitReached, WeakPassword,
)

GOOD = "Blue-Harbor-Kite-42"


def unregister(uow_factory: UowFactory, account: str = MARIA) -> int:
    """Maria as a customer who never set up online access."""
    cid = customer_id(uow_factory, account)
    with uow_factory() as uow:
        uow.session.execute(delete(OnlineCredential).where(OnlineCredential.customer_id == cid))
        uow.commit()
    return cid


def send(uow_factory: UowFactory, settings: Settings, clock: Any, cid: int) -> Any:
    return online_registration.send_registration_link(cid, uow_factory(), settings.public_base_url,
                                                      settings.secret_pepper, now=clock.now)


def last_token(uow_factory: UowFactory, settings: Settings) -> str:
    """The token as the customer reads it in the emailed link."""
    with uow_factory() as uow:
        message = uow.session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "registration_link").order_by(OutboxMessage.id.desc())).first()
        body = readable_body(message, settings.secret_pepper) if message else ""
    found = re.search(r"(\S+)/register\?token=([A-Za-z0-9_-]{43})\s", body or "")
    assert found is not None and found.group(1) == settings.public_base_url
    return found.group(2)


def register(uow_factory: UowFactory, settings: Settings, clock: Any, token: str,
             username: str = "maria.lopez85", password: str = GOOD) -> Any:
    return online_registration.register(token, username, password, uow_factory(), settings.secret_pepper,
                                        now=clock.now)


def credential(uow_factory: UowFactory, cid: int) -> OnlineCredential | None:
    with uow_factory() as uow:
        found = uow.session.scalar(select(OnlineCredential).where(OnlineCredential.customer_id == cid))
        uow.session.expunge_all()
        return found


def test_a_link_registers_the_customer_once(uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    cid = unregister(uow_factory)
    sent = send(uow_factory, settings, clock, cid)
    assert sent.destination_masked == "m****@example.com" and sent.expires_in_minutes == 60
    token = last_token(uow_factory, settings)
    with uow_factory() as uow:  # only the keyed hash is stored, and the outbox keeps the link sealed
        row = uow.session.scalar(select(RegistrationToken).where(RegistrationToken.customer_id == cid))
        assert row is not None and row.token_hash == keyed_hash(token, settings.secret_pepper)
        raw = uow.session.scalars(select(OutboxMessage.body).where(OutboxMessage.kind == "registration_link")).all()
        assert all(token not in body for body in raw)
    assert online_registration.registration_link_valid(token, uow_factory(), settings.secret_pepper, now=clock.now)

    done = register(uow_factory, settings, clock, token)
    assert done.first_name == "Maria" and done.username == "maria.lopez85"
    made = credential(uow_factory, cid)
    assert made is not None and verify_password(GOOD, made.password_hash) and not made.locked
    assert count(uow_factory, AuditLog, AuditLog.action == "online_access_registered") == 1
    assert count(uow_factory, OutboxMessage, OutboxMessage.kind == "online_access_registered") == 1
    with pytest.raises(InvalidRegistrationLink):  # used up
        register(uow_factory, settings, clock, token, username="someone.else")
    assert not online_registration.registration_link_valid(token, uow_factory(), settings.secret_pepper,
                                                           now=clock.now)


def test_a_registered_customer_gets_no_link_but_their_masked_username(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    with pytest.raises(AlreadyRegistered) as refused:
        send(uow_factory, settings, clock, customer_id(uow_factory, MARIA))
    assert refused.value.username_masked == "ml***z"
    assert count(uow_factory, RegistrationToken) == 0


def test_links_expire_after_an_hour_and_a_newer_one_cancels_the_older(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    cid = unregister(uow_factory)
    send(uow_factory, settings, clock, cid)
    first = last_token(uow_factory, settings)
    send(uow_factory, settings, clock, cid)
    second = last_token(uow_factory, settings)
    with pytest.raises(InvalidRegistrationLink):
        register(uow_factory, settings, clock, first)
    clock.advance(minutes=61)
    with pytest.raises(InvalidRegistrationLink):
        register(uow_factory, settings, clock, second)
    assert credential(uow_factory, cid) is None


def test_at_most_five_links_a_day(uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    cid = unregister(uow_factory)
    for _ in range(online_registration.MAX_LINKS_PER_DAY):
        send(uow_factory, settings, clock, cid)
    with pytest.raises(RegistrationLimitReached):
        send(uow_factory, settings, clock, cid)
    clock.advance(hours=24, minutes=1)
    send(uow_factory, settings, clock, cid)


@pytest.mark.parametrize("username, fix", [
    ("abcd", "5 to 32 characters"),
    ("x" * 33, "5 to 32 characters"),
    ("7301004821", "start with a letter"),
    ("maria lopez", "start with a letter"),
    ("maria<script>", "start with a letter"),
    ("rokafor", "taken"),
    ("ROKAFOR", "taken"),
])
def test_a_refused_username_says_what_to_fix_and_keeps_the_link(
        uow_factory: UowFactory, settings: Settings, clock: Any, username: str, fix: str) -> None:
    cid = unregister(uow_factory)
    send(uow_factory, settings, clock, cid)
    token = last_token(uow_factory, settings)
    with pytest.raises(InvalidUsername) as refused:
        register(uow_factory, settings, clock, token, username=username)
    assert fix in refused.value.message
    assert credential(uow_factory, cid) is None
    assert register(uow_factory, settings, clock, token).username == "maria.lopez85"  # still works


def test_a_weak_password_is_refused_and_the_link_kept(uow_factory: UowFactory, settings: Settings,
                                                      clock: Any) -> None:
    cid = unregister(uow_factory)
    send(uow_factory, settings, clock, cid)
    token = last_token(uow_factory, settings)
    for weak in ("Password123!", "maria.lopez85-Garden-9", "Lopez-and-more-2026"):
        with pytest.raises(WeakPassword):
            register(uow_factory, settings, clock, token, password=weak)
    assert credential(uow_factory, cid) is None
    register(uow_factory, settings, clock, token)


@pytest.mark.parametrize("token", ["", "short", "x" * 43, "../../etc/passwd" + "a" * 27, "a" * 200])
def test_forged_or_malformed_tokens_register_nobody(uow_factory: UowFactory, settings: Settings, clock: Any,
                                                     token: str) -> None:
    cid = unregister(uow_factory)
    send(uow_factory, settings, clock, cid)
    with pytest.raises(InvalidRegistrationLink):
        register(uow_factory, settings, clock, token)
    assert credential(uow_factory, cid) is None


def test_a_fraud_hold_stops_registration(uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    cid = unregister(uow_factory, ROBERT)
    send(uow_factory, settings, clock, cid)
    token = last_token(uow_factory, settings)
    fraud.report_fraud("conv-fraud", "a payment I didn't make", "today", cid, True, uow_factory(), now=clock.now)
    with pytest.raises(OnlineAccessHeld):
        send(uow_factory, settings, clock, cid)
    with pytest.raises(InvalidRegistrationLink):
        register(uow_factory, settings, clock, token, username="robert.okafor")
    assert credential(uow_factory, cid) is None
