"""Online access: reset links stored only hashed, single use, 30 minutes; password rules; unlocks."""
from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from fixtures_store import MARIA, ROBERT, UowFactory, count, customer_id
from sqlalchemy import delete, select, update

from autofinance.config import Settings
from autofinance.adapters.notify import readable_body
from autofinance.adapters.security import keyed_hash, verify_password
from autofinance.demo.seed import DEMO_PASSWORD
from autofinance.services import fraud, identity, online_access
from autofinance.services.errors import (
    InvalidResetLink, NoOnlineAccess, NotVerified, OnlineAccessHeld, ResetLimitReached,
    WeakPassword,
)
from autofinance.services.online_access import (
    AccessStatus, AccessUnlocked, PasswordChanged, ResetLinkSent, UsernameSent,
)
from autofinance.adapters.store.models import AuditLog, OnlineCredential, OutboxMessage, PasswordResetToken

GOOD = "Blue-Harbor-Kite-42"


# --- helpers ----------------------------------------------------------------------------


def send(uow_factory: UowFactory, settings: Settings, clock: Any,
         account: str = ROBERT) -> ResetLinkSent:
    return online_access.send_password_reset(customer_id(uow_factory, account), uow_factory(),
                                             settings.public_base_url, settings.secret_pepper,
                                             now=clock.now)


def reset(uow_factory: UowFactory, settings: Settings, clock: Any, token: str,
          password: str = GOOD) -> PasswordChanged:
    return online_access.reset_password(token, password, uow_factory(), settings.secret_pepper,
                                        now=clock.now)


def messages(uow_factory: UowFactory, kind: str) -> list[OutboxMessage]:
    with uow_factory() as uow:
        found = list(uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)))
        uow.session.expunge_all()
        return found


def last_token(uow_factory: UowFactory, settings: Settings) -> str:
    """The token as the customer reads it in the link we emailed."""
    body = readable_body(messages(uow_factory, "password_reset")[-1], settings.secret_pepper) or ""
    found = re.search(r"(\S+)/reset-password\?token=([A-Za-z0-9_-]{43})\s", body)
    assert found is not None and found.group(1) == settings.public_base_url
    return found.group(2)


def credential(uow_factory: UowFactory, account: str = ROBERT) -> OnlineCredential:
    with uow_factory() as uow:
        row = uow.session.scalars(select(OnlineCredential).where(
            OnlineCredential.customer_id == customer_id(uow_factory, account))).one()
        uow.session.expunge(row)
        return row


def snapshot(uow_factory: UowFactory) -> tuple[Any, ...]:
    """Every credential and token row and the outbox and audit counts: a refusal changes none."""
    with uow_factory() as uow:
        s = uow.session
        creds = s.execute(select(OnlineCredential.password_hash, OnlineCredential.failed_sign_ins,
                                 OnlineCredential.locked, OnlineCredential.sessions_valid_after)
                          .order_by(OnlineCredential.id)).all()
        tokens = s.execute(select(PasswordResetToken.id, PasswordResetToken.used_at,
                                  PasswordResetToken.expires_at)).all()
    return tuple(creds), tuple(tokens), count(uow_factory, OutboxMessage), count(uow_factory, AuditLog)


def audit_actions(uow_factory: UowFactory) -> list[str]:
    with uow_factory() as uow:
        return list(uow.session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


# --- status and reset links -------------------------------------------------------------


def test_status_shows_a_masked_username_and_the_lock(uow_factory: UowFactory) -> None:
    maria = online_access.access_status(customer_id(uow_factory, MARIA), uow_factory())
    robert = online_access.access_status(customer_id(uow_factory, ROBERT), uow_factory())
    assert maria == AccessStatus("ml***z", locked=False, failed_sign_ins=0)
    assert robert == AccessStatus("ro***r", locked=True, failed_sign_ins=5)


def test_the_token_exists_only_in_the_email_never_in_the_store_or_the_logs(
        uow_factory: UowFactory, settings: Settings, clock: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sent = send(uow_factory, settings, clock)
    token = last_token(uow_factory, settings)

    assert sent == ResetLinkSent("r****@example.com", 30)
    assert messages(uow_factory, "password_reset")[-1].to == "robert.okafor@example.com"
    with uow_factory() as uow:
        rows = uow.session.execute(select(PasswordResetToken.__table__)).all()
        audit = uow.session.execute(select(AuditLog.__table__)).all()
    assert len(rows) == 1 and rows[0].token_hash == keyed_hash(token, settings.secret_pepper)
    assert token not in repr(rows) and token not in repr(audit) and token not in caplog.text
    assert rows[0].expires_at - rows[0].created_at == timedelta(minutes=30)


def test_a_link_works_for_30_minutes(uow_factory: UowFactory, settings: Settings,
                                     clock: Any) -> None:
    send(uow_factory, settings, clock)
    token = last_token(uow_factory, settings)
    clock.advance(minutes=29, seconds=59)
    assert online_access.reset_link_valid(token, uow_factory(), settings.secret_pepper,
                                          now=clock.now)
    clock.advance(seconds=1)
    assert not online_access.reset_link_valid(token, uow_factory(), settings.secret_pepper,
                                              now=clock.now)
    with pytest.raises(InvalidResetLink):
        reset(uow_factory, settings, clock, token)
    assert credential(uow_factory).locked


def test_a_link_works_once(uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    send(uow_factory, settings, clock)
    token = last_token(uow_factory, settings)
    assert online_access.reset_link_valid(token, uow_factory(), settings.secret_pepper,
                                          now=clock.now)
    reset(uow_factory, settings, clock, token)  # checking validity above did not use it up
    assert not online_access.reset_link_valid(token, uow_factory(), settings.secret_pepper,
                                              now=clock.now)
    before = snapshot(uow_factory)
    with pytest.raises(InvalidResetLink) as refused:
        reset(uow_factory, settings, clock, token, "Another-Good-Pass-77")
    assert "not valid or has expired" in refused.value.message
    assert snapshot(uow_factory) == before


def test_two_resets_racing_with_one_link_change_the_password_once(
        uow_factory: UowFactory, settings: Settings, clock: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    send(uow_factory, settings, clock)
    token = last_token(uow_factory, settings)
    real_hash = online_access.hash_password

    def hash_while_another_request_wins(password: str) -> str:
        monkeypatch.setattr(online_access, "hash_password", real_hash)
        reset(uow_factory, settings, clock, token, "Winner-Takes-It-91")  # both read the token
        return real_hash(password)

    monkeypatch.setattr(online_access, "hash_password", hash_while_another_request_wins)
    with pytest.raises(InvalidResetLink):
        reset(uow_factory, settings, clock, token)
    assert verify_password("Winner-Takes-It-91", credential(uow_factory).password_hash)
    assert len(messages(uow_factory, "password_changed")) == 1


def test_a_new_link_cancels_the_earlier_one(uow_factory: UowFactory, settings: Settings,
                                            clock: Any) -> None:
    send(uow_factory, settings, clock)
    first = last_token(uow_factory, settings)
    clock.advance(minutes=1)
    send(uow_factory, settings, clock)
    second = last_token(uow_factory, settings)
    assert first != second
    with pytest.raises(InvalidResetLink):
        reset(uow_factory, settings, clock, first)
    assert reset(uow_factory, settings, clock, second) == PasswordChanged("Robert")


@pytest.mark.parametrize("token", ["", "short", "x" * 43 + "y", "<script>" + "a" * 35])
def test_unknown_and_malformed_tokens_are_refused_the_same_way(
        token: str, uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    assert not online_access.reset_link_valid(token, uow_factory(), settings.secret_pepper,
                                              now=clock.now)
    with pytest.raises(InvalidResetLink):
        reset(uow_factory, settings, clock, token)


def test_at_most_5_reset_emails_a_day(uow_factory: UowFactory, settings: Settings,
                                      clock: Any) -> None:
    for _ in range(5):
        send(uow_factory, settings, clock)
        clock.advance(hours=1)
    before = snapshot(uow_factory)
    with pytest.raises(ResetLimitReached):
        send(uow_factory, settings, clock)
    assert snapshot(uow_factory) == before
    clock.advance(hours=20)  # 24 hours after the first
    send(uow_factory, settings, clock)
    assert len(messages(uow_factory, "password_reset")) == 6


def test_a_customer_without_online_access_is_told_so(uow_factory: UowFactory,
                                                     settings: Settings, clock: Any) -> None:
    with uow_factory() as uow:
        uow.session.execute(delete(OnlineCredential).where(
            OnlineCredential.customer_id == customer_id(uow_factory, MARIA)))
        uow.commit()
    with pytest.raises(NoOnlineAccess):
        send(uow_factory, settings, clock, MARIA)


# --- choosing the new password ----------------------------------------------------------


@pytest.mark.parametrize("password, fix", [
    ("Sh0rt!pass", "at least 12 characters"),
    ("Aa1!" + "x" * 125, "at most 128 characters"),
    ("Password123!", "too common"),
    ("Qwerty2026!!", "too common"),
    ("P@ssw0rd2026", "too common"),
    ("aaaaaaaaaaaaaaaaaaaaaaaa", "too easy to guess"),
    ("Xy7!RoKaFoR-zz", "can't contain your username"),
    ("Xy7!robert-zz9", "first or last name"),
    ("Lane#2026OKAFOR", "first or last name"),
    ("lowercaseonlyword", "at least 3 of these"),
    ("lowercase123456", "at least 3 of these"),
])
def test_a_weak_password_is_refused_with_what_to_fix_and_nothing_changes(
        password: str, fix: str, uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    send(uow_factory, settings, clock)
    token = last_token(uow_factory, settings)
    before = snapshot(uow_factory)
    with pytest.raises(WeakPassword) as refused:
        reset(uow_factory, settings, clock, token, password)
    assert fix in refused.value.message
    assert snapshot(uow_factory) == before
    assert reset(uow_factory, settings, clock, token)  # the link still works


def test_a_long_passphrase_needs_no_mix_of_characters(uow_factory: UowFactory,
                                                      settings: Settings, clock: Any) -> None:
    send(uow_factory, settings, clock)
    reset(uow_factory, settings, clock, last_token(uow_factory, settings),
          "correct staple orbit lantern")
    assert verify_password("correct staple orbit lantern", credential(uow_factory).password_hash)


def test_a_reset_unlocks_ends_old_sessions_and_tells_the_customer(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    robert = customer_id(uow_factory, ROBERT)
    identity.start_portal_session("conv-portal", robert, uow_factory(), now=clock.now)
    clock.advance(minutes=2)
    send(uow_factory, settings, clock)
    token = last_token(uow_factory, settings)
    changed_at = clock.advance(minutes=5)

    assert reset(uow_factory, settings, clock, token) == PasswordChanged("Robert")

    row = credential(uow_factory)
    assert verify_password(GOOD, row.password_hash)
    assert not verify_password(DEMO_PASSWORD, row.password_hash)
    assert (row.locked, row.locked_at, row.failed_sign_ins) == (False, None, 0)
    assert row.password_changed_at == row.sessions_valid_after == changed_at
    with pytest.raises(NotVerified):  # the portal session from before the reset has ended
        identity.require_verified("conv-portal", "read", uow_factory(), now=clock.advance(minutes=1))
    notice = messages(uow_factory, "password_changed")
    assert len(notice) == 1 and notice[0].to == "robert.okafor@example.com"
    assert "1-800-555-0199" in notice[0].body and GOOD not in notice[0].body
    assert audit_actions(uow_factory)[-1] == "password_reset"
    with uow_factory() as uow:
        assert uow.session.scalars(select(PasswordResetToken.used_at)).one() == changed_at


# --- username reminder and unlock -------------------------------------------------------


def test_the_username_goes_to_the_email_on_file(uow_factory: UowFactory, clock: Any) -> None:
    sent = online_access.send_username_reminder(customer_id(uow_factory, MARIA), uow_factory(),
                                                now=clock.now)
    assert sent == UsernameSent("m****@example.com")
    (message,) = messages(uow_factory, "username_reminder")
    assert message.to == "maria.lopez@example.com" and "mlopez" in message.body
    assert audit_actions(uow_factory)[-1] == "username_reminder_sent"


def test_unlock_resets_the_failed_count_and_tells_the_customer(
        uow_factory: UowFactory, clock: Any) -> None:
    robert = customer_id(uow_factory, ROBERT)
    unlocked = online_access.unlock_online_access(robert, uow_factory(), now=clock.now)

    assert unlocked == AccessUnlocked(was_locked=True)
    row = credential(uow_factory)
    assert (row.locked, row.locked_at, row.failed_sign_ins) == (False, None, 0)
    assert verify_password(DEMO_PASSWORD, row.password_hash)  # the password is unchanged
    (notice,) = messages(uow_factory, "online_access_unlocked")
    assert notice.to == "robert.okafor@example.com" and "1-800-555-0199" in notice.body
    assert audit_actions(uow_factory)[-1] == "online_access_unlocked"

    before = snapshot(uow_factory)
    again = online_access.unlock_online_access(robert, uow_factory(), now=clock.now)
    assert again == AccessUnlocked(was_locked=False) and snapshot(uow_factory) == before


def test_a_naive_time_is_refused(uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    with pytest.raises(ValueError):
        online_access.send_password_reset(customer_id(uow_factory, ROBERT), uow_factory(),
                                          settings.public_base_url, settings.secret_pepper,
                                          now=clock.now.replace(tzinfo=None))


# --- help signing in --------------------------------------------------------------------


def help_signing_in(uow_factory: UowFactory, settings: Settings, clock: Any,
                    account: str = ROBERT) -> online_access.SignInHelp:
    return online_access.help_with_sign_in(customer_id(uow_factory, account), uow_factory(),
                                           settings.public_base_url, settings.secret_pepper,
                                           now=clock.now)


def test_a_locked_customer_asking_for_help_is_unlocked_and_sent_a_reset_link(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    helped = help_signing_in(uow_factory, settings, clock)

    assert helped == online_access.SignInHelp(
        AccessStatus("ro***r", locked=True, failed_sign_ins=5), ResetLinkSent("r****@example.com", 30))
    row = credential(uow_factory)
    assert (row.locked, row.failed_sign_ins) == (False, 0)
    assert audit_actions(uow_factory)[-2:] == ["online_access_unlocked", "password_reset_link_sent"]
    assert last_token(uow_factory, settings)


def test_a_customer_whose_access_is_not_locked_gets_the_status_and_nothing_is_sent(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    before = snapshot(uow_factory)
    helped = help_signing_in(uow_factory, settings, clock, MARIA)

    assert helped == online_access.SignInHelp(
        AccessStatus("ml***z", locked=False, failed_sign_ins=0), None)
    assert snapshot(uow_factory) == before


def test_the_unlock_stands_when_the_daily_limit_refuses_the_reset_link(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    for _ in range(5):
        send(uow_factory, settings, clock)
    with pytest.raises(ResetLimitReached):
        help_signing_in(uow_factory, settings, clock)
    assert credential(uow_factory).locked is False
    assert len(messages(uow_factory, "password_reset")) == 5


# --- a fraud report's lock is the fraud team's ------------------------------------------------


def report_fraud(uow_factory: UowFactory, clock: Any, account: str = ROBERT) -> str:
    return fraud.report_fraud("conv-fraud", "a payment I didn't make", "today",
                              customer_id(uow_factory, account), True, uow_factory(),
                              now=clock.now).case_number


def test_a_fraud_lock_is_neither_lifted_nor_worked_around_by_self_service(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    """Robert was locked after failed sign-ins, then reported fraud: now the lock is held."""
    report_fraud(uow_factory, clock)
    robert = customer_id(uow_factory, ROBERT)
    before = snapshot(uow_factory)

    with pytest.raises(OnlineAccessHeld) as refused:
        online_access.help_with_sign_in(robert, uow_factory(), settings.public_base_url,
                                        settings.secret_pepper, now=clock.now)
    assert "fraud team will contact you" in refused.value.message
    with pytest.raises(OnlineAccessHeld):
        online_access.unlock_online_access(robert, uow_factory(), now=clock.now)
    with pytest.raises(OnlineAccessHeld):
        send(uow_factory, settings, clock)

    assert snapshot(uow_factory) == before
    assert credential(uow_factory).locked


def test_a_link_sent_before_the_fraud_report_stops_working(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    send(uow_factory, settings, clock, account=MARIA)
    token = last_token(uow_factory, settings)
    report_fraud(uow_factory, clock, account=MARIA)

    assert not online_access.reset_link_valid(token, uow_factory(), settings.secret_pepper,
                                              now=clock.now)
    with pytest.raises(InvalidResetLink):
        reset(uow_factory, settings, clock, token)
    assert credential(uow_factory, MARIA).locked


def test_a_link_still_open_is_refused_while_the_hold_lasts(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    """Even a link that somehow outlived the report (it was not expired) unlocks nothing."""
    send(uow_factory, settings, clock, account=MARIA)
    token = last_token(uow_factory, settings)
    report_fraud(uow_factory, clock, account=MARIA)
    with uow_factory() as uow:  # as if the report had not expired it
        uow.session.execute(update(PasswordResetToken).values(expires_at=clock.now + timedelta(minutes=20)))
        uow.commit()
    assert not online_access.reset_link_valid(token, uow_factory(), settings.secret_pepper,
                                              now=clock.now)
    with pytest.raises(InvalidResetLink):
        reset(uow_factory, settings, clock, token)
    assert credential(uow_factory, MARIA).locked
