"""Console staff: password + TOTP sign-in, lockout, sessions, and the account admin commands."""
from __future__ import annotations

import json
import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyotp
import pytest
from sqlalchemy import select, update

from autofinance.config import Secret, Settings
from autofinance.adapters.security import keyed_hash, verify_password
from autofinance.demo.seed import DEMO_AGENT
from autofinance.services.errors import (
    InvalidStaffDetails, NotSignedIn, SignInFailed, SignInLocked, StaffExists, UnknownStaff,
    WeakPassword,
)
from autofinance.services.staff import (
    ISSUER, NewStaff, StaffPrincipal, agents_online, authenticator, create_staff, principal_for,
    reset_password,
    reset_totp, sign_in, sign_out,
)
from autofinance.adapters.store.models import AuditLog, StaffSession, StaffUser
from fixtures_store import UowFactory

if TYPE_CHECKING:
    from conftest import Clock

PASSWORD = "correct-horse-battery"


def code(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


def signing(settings: Settings) -> dict[str, Any]:
    """What sign-in takes from the settings."""
    return {"pepper": settings.secret_pepper, "session_minutes": settings.console_session_minutes,
            "demo_mode": settings.demo_mode}


def session_of(settings: Settings) -> dict[str, Any]:
    """What a session check takes from the settings."""
    return {"pepper": settings.secret_pepper, "idle_minutes": settings.console_idle_minutes}


@pytest.fixture
def jane(uow_factory: UowFactory, clock: Clock) -> NewStaff:
    return create_staff("Jane.Doe", "Jane Doe", "agent", uow_factory(),
                        pepper=Settings().secret_pepper, password=PASSWORD,
                        now=clock.now)


def jane_signs_in(jane: NewStaff, uow_factory: UowFactory, settings: Settings, when: datetime,
                  password: str = PASSWORD) -> str:
    return sign_in("jane.doe", password, code(jane.totp_secret, when), uow_factory(),
                   **signing(settings), now=when).token


def staff_row(uow_factory: UowFactory, username: str) -> StaffUser:
    with uow_factory() as uow:
        row = uow.session.scalars(select(StaffUser).where(StaffUser.username == username)).one()
        uow.session.expunge(row)  # readable after the unit of work ends
        return row


def audit_rows(uow_factory: UowFactory) -> list[AuditLog]:
    with uow_factory() as uow:
        rows = list(uow.session.scalars(
            select(AuditLog).where(AuditLog.action.like("staff%")).order_by(AuditLog.id)))
        uow.session.expunge_all()
        return rows


# --- sign-in ----------------------------------------------------------------------------


def test_password_and_code_open_a_session_stored_only_as_a_keyed_hash(
        jane: NewStaff, uow_factory: UowFactory, settings: Settings, clock: Clock) -> None:
    signed = sign_in(" Jane.Doe ", PASSWORD, code(jane.totp_secret, clock.now), uow_factory(),
                     **signing(settings), now=clock.now)

    row = staff_row(uow_factory, "jane.doe")
    assert signed.principal == StaffPrincipal(row.id, "jane.doe", "Jane Doe", "agent")
    assert not signed.principal.is_supervisor
    assert len(signed.token) >= 43 and signed.token not in repr(signed)
    with uow_factory() as uow:
        token_hash, expires_at = uow.session.execute(
            select(StaffSession.token_hash, StaffSession.expires_at)).one()
    assert token_hash == keyed_hash(signed.token, settings.secret_pepper)
    assert expires_at == clock.now + timedelta(minutes=480)
    assert principal_for(signed.token, uow_factory(),
                         **session_of(settings), now=clock.now) == signed.principal


def test_the_seeded_demo_agent_signs_in_in_demo_mode_only_and_its_secret_is_sealed(
        uow_factory: UowFactory, settings: Settings, clock: Clock) -> None:
    demo_code = authenticator(DEMO_AGENT["totp_secret"], demo_mode=True).at(clock.now)
    stored = staff_row(uow_factory, "demo.agent").totp_secret
    assert stored.startswith("sealed:") and DEMO_AGENT["totp_secret"] not in stored
    other_pepper = replace(settings, secret_pepper=Secret("another-pepper"))
    production = replace(settings, demo_mode=False, profile="production")
    for refused in (other_pepper, production):  # a stolen database; a demo agent seeded by mistake
        with pytest.raises(SignInFailed):
            sign_in("demo.agent", DEMO_AGENT["password"], demo_code, uow_factory(),
                    **signing(refused), now=clock.now)

    signed = sign_in("demo.agent", DEMO_AGENT["password"], demo_code, uow_factory(),
                     **signing(settings), now=clock.now)
    assert signed.principal.is_supervisor


@pytest.mark.parametrize("username, password, wrong_code", [
    ("jane.doe", "wrong-password-123", False),
    ("jane.doe", PASSWORD, True),
    ("no.such.person", PASSWORD, False),
])
def test_any_wrong_detail_fails_the_same_way(
        username: str, password: str, wrong_code: bool, jane: NewStaff, uow_factory: UowFactory,
        settings: Settings, clock: Clock) -> None:
    right = code(jane.totp_secret, clock.now)
    typed = f"{(int(right) + 1) % 1_000_000:06d}" if wrong_code else right
    with pytest.raises(SignInFailed) as refused:
        sign_in(username, password, typed, uow_factory(), **signing(settings), now=clock.now)

    assert type(refused.value) is SignInFailed
    assert refused.value.message == SignInFailed.message
    with uow_factory() as uow:
        assert uow.session.scalars(select(StaffSession)).first() is None


def test_an_inactive_account_fails_like_a_wrong_password(
        jane: NewStaff, uow_factory: UowFactory, settings: Settings, clock: Clock) -> None:
    with uow_factory() as uow:
        uow.session.execute(update(StaffUser).where(StaffUser.username == "jane.doe")
                            .values(active=False))
        uow.commit()
    with pytest.raises(SignInFailed):
        jane_signs_in(jane, uow_factory, settings, clock.now)


def test_a_code_works_in_the_neighbouring_steps_only(
        jane: NewStaff, uow_factory: UowFactory, settings: Settings, clock: Clock) -> None:
    too_old = code(jane.totp_secret, clock.now - timedelta(seconds=60))
    with pytest.raises(SignInFailed):
        sign_in("jane.doe", PASSWORD, too_old, uow_factory(), **signing(settings), now=clock.now)

    previous = code(jane.totp_secret, clock.now - timedelta(seconds=30))
    assert sign_in("jane.doe", PASSWORD, previous, uow_factory(),
                   **signing(settings), now=clock.now).token


def test_a_code_used_once_is_refused_even_inside_its_window(
        jane: NewStaff, uow_factory: UowFactory, settings: Settings, clock: Clock) -> None:
    first = code(jane.totp_secret, clock.now)
    sign_in("jane.doe", PASSWORD, first, uow_factory(), **signing(settings), now=clock.now)

    with pytest.raises(SignInFailed):
        sign_in("jane.doe", PASSWORD, first, uow_factory(),
                **signing(settings), now=clock.advance(seconds=10))
    older = code(jane.totp_secret, clock.now - timedelta(seconds=30))  # a step before the used one
    with pytest.raises(SignInFailed):
        sign_in("jane.doe", PASSWORD, older, uow_factory(), **signing(settings), now=clock.now)
    assert audit_rows(uow_factory)[-1].details == {"reason": "replayed_code"}

    later = clock.advance(seconds=30)
    assert sign_in("jane.doe", PASSWORD, code(jane.totp_secret, later), uow_factory(),
                   **signing(settings), now=later).token


def test_five_failures_lock_for_fifteen_minutes_even_with_the_right_details(
        jane: NewStaff, uow_factory: UowFactory, settings: Settings, clock: Clock) -> None:
    for _ in range(4):
        with pytest.raises(SignInFailed):
            jane_signs_in(jane, uow_factory, settings, clock.advance(seconds=30), "wrong-pass-1234")
    with pytest.raises(SignInLocked) as locked:
        jane_signs_in(jane, uow_factory, settings, clock.advance(seconds=30), "wrong-pass-1234")
    assert "try again later" in locked.value.message
    locked_at = clock.now
    assert staff_row(uow_factory, "jane.doe").locked_until == locked_at + timedelta(minutes=15)

    with pytest.raises(SignInLocked):  # the right password and code change nothing while locked
        jane_signs_in(jane, uow_factory, settings, locked_at + timedelta(minutes=14, seconds=59))

    assert jane_signs_in(jane, uow_factory, settings, locked_at + timedelta(minutes=15))
    row = staff_row(uow_factory, "jane.doe")
    assert row.failed_sign_ins == 0 and row.locked_until is None


def test_a_success_resets_the_failure_count(
        jane: NewStaff, uow_factory: UowFactory, settings: Settings, clock: Clock) -> None:
    for _ in range(4):
        with pytest.raises(SignInFailed):
            jane_signs_in(jane, uow_factory, settings, clock.now, "wrong-pass-1234")
    jane_signs_in(jane, uow_factory, settings, clock.advance(seconds=30))
    for _ in range(4):
        with pytest.raises(SignInFailed):  # 4 more: not locked, as the count started again
            jane_signs_in(jane, uow_factory, settings, clock.advance(seconds=30), "wrong-pass-1234")
    assert staff_row(uow_factory, "jane.doe").failed_sign_ins == 4


def test_an_unknown_username_locks_like_a_real_one_and_is_not_recorded(
        uow_factory: UowFactory, settings: Settings, clock: Clock) -> None:
    for _ in range(4):
        with pytest.raises(SignInFailed):
            sign_in("ghost.user", "some-password-12", "123456", uow_factory(), **signing(settings),
                    now=clock.now)
    with pytest.raises(SignInLocked):
        sign_in("ghost.user", "some-password-12", "123456", uow_factory(),
                **signing(settings), now=clock.now)
    with pytest.raises(SignInLocked):
        sign_in("Ghost.User", "some-password-12", "123456", uow_factory(), **signing(settings),
                now=clock.advance(minutes=14))
    with pytest.raises(SignInFailed):
        sign_in("ghost.user", "some-password-12", "123456", uow_factory(), **signing(settings),
                now=clock.advance(minutes=1))

    rows = audit_rows(uow_factory)
    assert [row.action for row in rows].count("staff_locked") == 1
    assert all("ghost" not in row.subject and "ghost" not in json.dumps(row.details)
               for row in rows)


# --- sessions ---------------------------------------------------------------------------


def test_a_session_ends_after_thirty_idle_minutes_and_use_keeps_it_alive(
        jane: NewStaff, uow_factory: UowFactory, settings: Settings, clock: Clock) -> None:
    token = jane_signs_in(jane, uow_factory, settings, clock.now)
    principal_for(token, uow_factory(), **session_of(settings), now=clock.advance(minutes=25))
    principal_for(token, uow_factory(),
                  **session_of(settings), now=clock.advance(minutes=30))  # slid

    with pytest.raises(NotSignedIn):
        principal_for(token, uow_factory(),
                      **session_of(settings), now=clock.advance(minutes=30, seconds=1))


def test_a_session_ends_after_the_shift_length_however_busy(
        jane: NewStaff, uow_factory: UowFactory, settings: Settings, clock: Clock) -> None:
    start = clock.now
    token = jane_signs_in(jane, uow_factory, settings, start)
    while clock.now < start + timedelta(minutes=460):
        principal_for(token, uow_factory(), **session_of(settings), now=clock.advance(minutes=20))

    with pytest.raises(NotSignedIn):
        principal_for(token, uow_factory(),
                      **session_of(settings), now=start + timedelta(minutes=480))


@pytest.mark.parametrize("token", ["", "not-a-real-token"])
def test_a_missing_or_unknown_token_is_not_signed_in(
        token: str, uow_factory: UowFactory, settings: Settings) -> None:
    with pytest.raises(NotSignedIn):
        principal_for(token, uow_factory(), **session_of(settings))


def test_sign_out_revokes_the_session_once(
        jane: NewStaff, uow_factory: UowFactory, settings: Settings, clock: Clock) -> None:
    token = jane_signs_in(jane, uow_factory, settings, clock.now)
    sign_out(token, uow_factory(), pepper=settings.secret_pepper, now=clock.advance(minutes=1))
    sign_out(token, uow_factory(),
             pepper=settings.secret_pepper, now=clock.advance(minutes=1))  # twice is fine

    with pytest.raises(NotSignedIn):
        principal_for(token, uow_factory(), **session_of(settings), now=clock.now)
    actions = [row.action for row in audit_rows(uow_factory)]
    assert actions.count("staff_signed_out") == 1


def test_agents_online_counts_live_recently_seen_sessions_of_active_staff(
        jane: NewStaff, uow_factory: UowFactory, settings: Settings, clock: Clock) -> None:
    now = clock.now
    jane_signs_in(jane, uow_factory, settings, now - timedelta(minutes=1))
    jane_signs_in(jane, uow_factory, settings, now)  # a second tab: still one person
    demo_id = staff_row(uow_factory, "demo.agent").id
    later = now + timedelta(hours=1)

    def demo_session(**values: object) -> None:
        with uow_factory() as uow:
            fields = {"staff_id": demo_id, "token_hash": secrets.token_hex(32),
                      "created_at": now - timedelta(hours=1), "last_seen_at": now,
                      "expires_at": later, **values}
            uow.session.add(StaffSession(**fields))
            uow.commit()

    demo_session(revoked_at=now)
    demo_session(expires_at=now)
    demo_session(last_seen_at=now - timedelta(minutes=6))
    assert agents_online(uow_factory(), now=now) == 1
    assert agents_online(uow_factory(), now=now, within_minutes=10) == 2

    with uow_factory() as uow:
        uow.session.execute(update(StaffUser).where(StaffUser.username == "jane.doe")
                            .values(active=False))
        uow.commit()
    assert agents_online(uow_factory(), now=now) == 0


# --- account admin ----------------------------------------------------------------------


def test_create_staff_gives_a_working_password_and_an_authenticator_uri(
        uow_factory: UowFactory, settings: Settings, clock: Clock) -> None:
    created = create_staff(" Sam.Lee ", " Sam Lee ", "supervisor", uow_factory(),
                           pepper=settings.secret_pepper, now=clock.now)

    assert created.username == "sam.lee" and len(created.password) >= 12
    assert created.password not in repr(created) and created.totp_secret not in repr(created)
    assert created.provisioning_uri == pyotp.TOTP(created.totp_secret).provisioning_uri(
        name="sam.lee", issuer_name=ISSUER)
    assert created.provisioning_uri.startswith(
        "otpauth://totp/Meridian%20Support%20Console:sam.lee?secret=")
    row = staff_row(uow_factory, "sam.lee")
    assert row.display_name == "Sam Lee" and row.role == "supervisor"
    assert row.password_hash.startswith("$argon2") and created.password not in row.password_hash
    signed = sign_in("sam.lee", created.password, code(created.totp_secret, clock.now),
                     uow_factory(), **signing(settings), now=clock.now)
    assert signed.principal.is_supervisor


@pytest.mark.parametrize("username, name, role, password, error", [
    ("DEMO.AGENT", "Someone", "agent", None, StaffExists),
    ("x", "Someone", "agent", None, InvalidStaffDetails),
    ("has space", "Someone", "agent", None, InvalidStaffDetails),
    ("new.person", "  ", "agent", None, InvalidStaffDetails),
    ("new.person", "Someone", "admin", None, InvalidStaffDetails),
    ("new.person", "Someone", "agent", "short-pass1", WeakPassword),
])
def test_create_staff_refuses_bad_details(
        username: str, name: str, role: str, password: str | None, error: type[Exception],
        uow_factory: UowFactory) -> None:
    with pytest.raises(error):
        create_staff(username, name, role, uow_factory(),
                     pepper=Settings().secret_pepper, password=password)
    with uow_factory() as uow:
        assert uow.session.scalars(select(StaffUser.username)).all() == ["demo.agent"]


def test_reset_totp_replaces_the_secret_and_ends_sessions(
        jane: NewStaff, uow_factory: UowFactory, settings: Settings, clock: Clock) -> None:
    token = jane_signs_in(jane, uow_factory, settings, clock.now)
    new = reset_totp("Jane.Doe", uow_factory(),
                     pepper=settings.secret_pepper, now=clock.advance(minutes=1))

    assert new.totp_secret != jane.totp_secret
    assert "secret=" + new.totp_secret in new.provisioning_uri
    with pytest.raises(NotSignedIn):
        principal_for(token, uow_factory(), **session_of(settings), now=clock.now)
    later = clock.advance(minutes=1)
    with pytest.raises(SignInFailed):
        sign_in("jane.doe", PASSWORD, code(jane.totp_secret, later), uow_factory(),
                **signing(settings), now=later)
    assert sign_in("jane.doe", PASSWORD, code(new.totp_secret, later), uow_factory(),
                   **signing(settings), now=later).token
    with pytest.raises(UnknownStaff):
        reset_totp("nobody", uow_factory(), pepper=Settings().secret_pepper)


def test_reset_password_replaces_it_lifts_a_lock_and_ends_sessions(
        jane: NewStaff, uow_factory: UowFactory, settings: Settings, clock: Clock) -> None:
    token = jane_signs_in(jane, uow_factory, settings, clock.now)
    with uow_factory() as uow:
        uow.session.execute(update(StaffUser).where(StaffUser.username == "jane.doe")
                            .values(locked_until=clock.now + timedelta(minutes=10)))
        uow.commit()

    new_password = reset_password("jane.doe", uow_factory(), now=clock.advance(minutes=1))
    assert len(new_password) >= 12 and new_password != PASSWORD
    with pytest.raises(NotSignedIn):
        principal_for(token, uow_factory(), **session_of(settings), now=clock.now)
    later = clock.advance(minutes=1)
    with pytest.raises(SignInFailed):
        jane_signs_in(jane, uow_factory, settings, later)
    assert jane_signs_in(jane, uow_factory, settings, later, new_password)
    chosen = reset_password("jane.doe", uow_factory(), password="chosen-by-admin-77")
    assert chosen == "chosen-by-admin-77"
    assert verify_password(chosen, staff_row(uow_factory, "jane.doe").password_hash)
    with pytest.raises(WeakPassword):
        reset_password("jane.doe", uow_factory(), password="too-short")
    with pytest.raises(UnknownStaff):
        reset_password("nobody", uow_factory())


def test_every_step_is_audited_without_a_password_or_a_code(
        jane: NewStaff, uow_factory: UowFactory, settings: Settings, clock: Clock) -> None:
    wrong_code = "000000" if code(jane.totp_secret, clock.now) != "000000" else "111111"
    with pytest.raises(SignInFailed):
        sign_in("jane.doe", PASSWORD, wrong_code, uow_factory(), **signing(settings), now=clock.now)
    with pytest.raises(SignInFailed):
        jane_signs_in(jane, uow_factory, settings, clock.now, "wrong-pass-1234")
    used_code = code(jane.totp_secret, clock.advance(seconds=30))
    token = jane_signs_in(jane, uow_factory, settings, clock.now)
    sign_out(token, uow_factory(), pepper=settings.secret_pepper, now=clock.now)
    new_password = reset_password("jane.doe", uow_factory(), now=clock.now)
    new_totp = reset_totp("jane.doe", uow_factory(), pepper=settings.secret_pepper, now=clock.now)

    rows = audit_rows(uow_factory)
    jane_id = staff_row(uow_factory, "jane.doe").id
    assert [(row.actor, row.action, row.details.get("reason")) for row in rows] == [
        ("system", "staff_created", None),
        ("system", "staff_sign_in_failed", "bad_code"),
        ("system", "staff_sign_in_failed", "bad_password"),
        (f"staff:{jane_id}", "staff_signed_in", None),
        (f"staff:{jane_id}", "staff_signed_out", None),
        ("system", "staff_password_reset", None),
        ("system", "staff_totp_reset", None),
    ]
    assert {row.subject for row in rows} == {f"staff:{jane_id}"}
    written = json.dumps([[row.actor, row.subject, row.details] for row in rows])
    for secret in (PASSWORD, "wrong-pass-1234", wrong_code, used_code, token, new_password,
                   jane.totp_secret, new_totp.totp_secret):
        assert secret not in written
