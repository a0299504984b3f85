"""Support console staff: sign-in with password + TOTP code, console sessions, account admin.

Sign-in never tells a guesser which detail was wrong or whether a username exists: an unknown
name costs the same argon2 work (against a dummy hash) and is locked out after the same number
of failures (counted in audit rows, as it has no row of its own). A TOTP code works once: its
time step must be newer than the last one accepted. A session token exists only in the staff
member's cookie; the store keeps its keyed hash, so a copy of the database opens no session.
Passwords and codes are never stored, logged or audited.
"""
from __future__ import annotations

import functools
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NoReturn, Optional

import pyotp
from pyotp.exceptions import OTPVerificationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from autofinance.config import Secret
from autofinance.adapters.sealing import seal_at_rest, unseal_at_rest
from autofinance.adapters.security import hash_password, keyed_hash, verify_password
from autofinance.services import audit
from autofinance.services.errors import (
    InvalidStaffDetails, NotSignedIn, SignInFailed, SignInLocked, StaffExists, UnknownStaff,
    WeakPassword,
)
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import AuditLog, StaffSession, StaffUser
from autofinance.domain.clock import aware

logger = logging.getLogger(__name__)

MAX_FAILURES = 5  # failed sign-ins in a row before the account is locked
LOCK_DURATION = timedelta(minutes=15)
MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH = 12, 128
ISSUER = "Meridian Support Console"  # what the authenticator app shows next to the code
ROLES = ("agent", "supervisor")
SYSTEM = "system"  # the audit actor of sign-in checks and account admin

_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
_CODE = re.compile(r"[0-9]{6}")


@dataclass(frozen=True)
class StaffPrincipal:
    """Who is signed in; what the console shows and checks roles against."""

    id: int
    username: str
    display_name: str
    role: str  # 'agent' | 'supervisor'

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


@dataclass(frozen=True)
class SignedIn:
    token: str = field(repr=False)  # the raw session token: it goes only into the cookie
    principal: StaffPrincipal


@dataclass(frozen=True)
class NewStaff:
    """A created account's secrets, to hand to the person once; nothing keeps them readable."""

    username: str
    password: str = field(repr=False)
    totp_secret: str = field(repr=False)
    provisioning_uri: str = field(repr=False)


@dataclass(frozen=True)
class NewTotp:
    username: str
    totp_secret: str = field(repr=False)
    provisioning_uri: str = field(repr=False)


# --- signing in and out -----------------------------------------------------------------


def sign_in(username: str, password: str, code: str, uow: UnitOfWork, *, pepper: Secret,
            session_minutes: int, demo_mode: bool, now: Optional[datetime] = None) -> SignedIn:
    """Password plus a fresh TOTP code open a session; 5 failures in a row lock for 15 minutes.

    Raises SignInFailed (whatever was wrong) or SignInLocked. A locked account is refused
    before the password is checked, so a guess made while locked teaches nothing. A session
    lasts `session_minutes`; `demo_mode` accepts the demo agent's short TOTP secret.
    """
    now = aware(now)
    name = username.strip().lower()
    with uow:
        session = uow.session
        staff = _find(session, name)
        if staff is None:
            _refuse_unknown_name(uow, name, password, pepper, now)
        subject = audit.staff(staff.id)
        if staff.locked_until is not None and staff.locked_until > now:
            audit.record(session, now, SYSTEM, "staff_sign_in_refused", subject, reason="locked")
            uow.commit()
            raise SignInLocked()
        password_ok = verify_password(password, staff.password_hash)
        step = _code_step(unseal_at_rest(staff.totp_secret, pepper), code, now, demo_mode)
        reason = _failure_reason(staff, password_ok, step)
        if reason is not None:
            staff.failed_sign_ins += 1
            audit.record(session, now, SYSTEM, "staff_sign_in_failed", subject, reason=reason)
            if staff.failed_sign_ins >= MAX_FAILURES:
                staff.failed_sign_ins, staff.locked_until = 0, now + LOCK_DURATION
                audit.record(session, now, SYSTEM, "staff_locked", subject,
                             until=staff.locked_until.isoformat())
                uow.commit()
                logger.warning("console sign-in locked for %s", subject)
                raise SignInLocked()
            uow.commit()
            logger.info("console sign-in refused for %s", subject)
            raise SignInFailed()
        staff.failed_sign_ins, staff.locked_until, staff.totp_last_step = 0, None, step
        token = secrets.token_urlsafe(32)
        session.add(StaffSession(
            staff_id=staff.id, token_hash=keyed_hash(token, pepper),
            created_at=now, last_seen_at=now, expires_at=now + timedelta(minutes=session_minutes),
        ))
        audit.record(session, now, subject, "staff_signed_in", subject)
        principal = _principal(staff)
        uow.commit()
    logger.info("console sign-in for %s", subject)
    return SignedIn(token, principal)


def principal_for(token: str, uow: UnitOfWork, *, pepper: Secret, idle_minutes: int,
                  now: Optional[datetime] = None) -> StaffPrincipal:
    """Who a cookie's token belongs to; every use slides the idle window (`idle_minutes`).

    Raises NotSignedIn for an unknown, revoked, expired or idle session, or a deactivated account.
    """
    now = aware(now)
    if not token:
        raise NotSignedIn()
    with uow:
        row = uow.session.execute(
            select(StaffSession, StaffUser)
            .join(StaffUser, StaffUser.id == StaffSession.staff_id)
            .where(StaffSession.token_hash == keyed_hash(token, pepper))
        ).first()
        if row is None:
            raise NotSignedIn()
        staff_session, staff = row
        idle = timedelta(minutes=idle_minutes)
        if (staff_session.revoked_at is not None or staff_session.expires_at <= now
                or now - staff_session.last_seen_at > idle or not staff.active):
            raise NotSignedIn()
        staff_session.last_seen_at = now
        principal = _principal(staff)
        uow.commit()
        return principal


def sign_out(token: str, uow: UnitOfWork, *, pepper: Secret,
             now: Optional[datetime] = None) -> None:
    """Ends the session; an unknown or already ended token is left alone (sign out twice: fine)."""
    now = aware(now)
    with uow:
        staff_session = uow.session.scalar(select(StaffSession).where(
            StaffSession.token_hash == keyed_hash(token, pepper),
            StaffSession.revoked_at.is_(None)))
        if staff_session is None:
            return
        staff_session.revoked_at = now
        subject = audit.staff(staff_session.staff_id)
        audit.record(uow.session, now, subject, "staff_signed_out", subject)
        uow.commit()


def agents_online(uow: UnitOfWork, now: Optional[datetime] = None, within_minutes: int = 5) -> int:
    """Staff with a live session used within the window: who could take a hand-off now."""
    now = aware(now)
    with uow:
        return count_agents_online(uow.session, now, within_minutes)


def count_agents_online(session: Session, now: datetime, within_minutes: int = 5) -> int:
    """`agents_online` inside the caller's transaction (the hand-off reads it with its ticket)."""
    return session.scalar(
        select(func.count(StaffSession.staff_id.distinct()))
        .select_from(StaffSession)
        .join(StaffUser, StaffUser.id == StaffSession.staff_id)
        .where(StaffSession.revoked_at.is_(None), StaffSession.expires_at > now,
               StaffSession.last_seen_at >= now - timedelta(minutes=within_minutes),
               StaffUser.active.is_(True))
    ) or 0


# --- account admin (the `python -m autofinance staff` commands) -------------------------


def create_staff(username: str, display_name: str, role: str, uow: UnitOfWork, *, pepper: Secret,
                 password: Optional[str] = None, now: Optional[datetime] = None) -> NewStaff:
    """A new account with a fresh TOTP secret, sealed under `pepper`; the password is generated
    unless one is given."""
    now = aware(now)
    name = username.strip().lower()
    display_name = display_name.strip()
    if not _USERNAME.fullmatch(name):
        raise InvalidStaffDetails("A username is 2 to 64 characters: letters, digits, '.', '_' "
                                  "or '-', starting with a letter or digit.")
    if not 0 < len(display_name) <= 80:
        raise InvalidStaffDetails("A display name is 1 to 80 characters.")
    if role not in ROLES:
        raise InvalidStaffDetails("The role is 'agent' or 'supervisor'.")
    password = _usable_password(password)
    # argon2 is slow: hash before the transaction opens, not while it holds the database
    password_hash, secret = hash_password(password), pyotp.random_base32()
    with uow:
        session = uow.session
        if _find(session, name) is not None:
            raise StaffExists()
        staff = StaffUser(username=name, display_name=display_name, password_hash=password_hash,
                          totp_secret=seal_at_rest(secret, pepper), role=role, failed_sign_ins=0,
                          active=True, created_at=now)
        session.add(staff)
        session.flush()  # the new id names the audit subject
        audit.record(session, now, SYSTEM, "staff_created", audit.staff(staff.id), role=role)
        uow.commit()
    logger.info("staff account %s created", name)
    return NewStaff(name, password, secret, _provisioning_uri(name, secret))


def reset_totp(username: str, uow: UnitOfWork, *, pepper: Secret,
               now: Optional[datetime] = None) -> NewTotp:
    """A new TOTP secret (a lost or replaced phone); every session of the account ends."""
    now = aware(now)
    name, secret = username.strip().lower(), pyotp.random_base32()
    with uow:
        staff = _existing(uow.session, name)
        staff.totp_secret = seal_at_rest(secret, pepper)
        ended = _revoke_sessions(uow.session, staff.id, now)
        audit.record(uow.session, now, SYSTEM, "staff_totp_reset", audit.staff(staff.id),
                     sessions_revoked=ended)
        uow.commit()
    logger.info("TOTP secret reset for staff account %s", name)
    return NewTotp(name, secret, _provisioning_uri(name, secret))


def reset_password(username: str, uow: UnitOfWork, password: Optional[str] = None,
                   now: Optional[datetime] = None) -> str:
    """Sets a new password (generated unless given), lifts a lockout and ends every session.

    Returns the new password, to hand over once.
    """
    now = aware(now)
    name = username.strip().lower()
    password = _usable_password(password)
    password_hash = hash_password(password)
    with uow:
        staff = _existing(uow.session, name)
        staff.password_hash = password_hash
        staff.failed_sign_ins, staff.locked_until = 0, None
        ended = _revoke_sessions(uow.session, staff.id, now)
        audit.record(uow.session, now, SYSTEM, "staff_password_reset", audit.staff(staff.id),
                     sessions_revoked=ended)
        uow.commit()
    logger.info("password reset for staff account %s", name)
    return password


# --- helpers ----------------------------------------------------------------------------


class _DemoTOTP(pyotp.TOTP):
    """Accepts the demo agent's published 80-bit secret (shared/docs/demo-customers.md).

    pyotp refuses secrets under 112 bits; outside demo mode that stays so, which also keeps a
    demo agent seeded into a real deployment by mistake from signing in. Secrets this module
    creates are 160 bits.
    """

    min_secret_length_bits = 80


def authenticator(secret: str, demo_mode: bool) -> pyotp.TOTP:
    """What an authenticator app computes from `secret` (tests and the demo use it for codes)."""
    return _DemoTOTP(secret) if demo_mode else pyotp.TOTP(secret)


def _code_step(secret: Optional[str], code: str, now: datetime, demo_mode: bool) -> Optional[int]:
    """The time step of a 6-digit code (the current one or either neighbour), None if no match."""
    code = code.strip()
    if not _CODE.fullmatch(code):
        return None
    try:
        if secret is None:
            raise ValueError("not sealed with this SECRET_PEPPER")
        return authenticator(secret, demo_mode).verify_and_get_timecode(
            code, for_time=now, valid_window=1)
    except OTPVerificationError:
        return None
    except ValueError:  # unsealable (the pepper changed), too short outside the demo, not base32
        logger.error("a staff TOTP secret is unusable; give it a new one with "
                     "`python -m autofinance staff reset-totp USERNAME`")
        return None


def _failure_reason(staff: StaffUser, password_ok: bool, step: Optional[int]) -> Optional[str]:
    """Why a sign-in fails, for the audit log only (the person is told nothing specific)."""
    if not password_ok:
        return "bad_password"
    if step is None:
        return "bad_code"
    if staff.totp_last_step is not None and step <= staff.totp_last_step:
        return "replayed_code"
    if not staff.active:
        return "inactive"
    return None


def _refuse_unknown_name(uow: UnitOfWork, name: str, password: str, pepper: Secret,
                         now: datetime) -> NoReturn:
    """Same work, same answers and the same lockout as a real account, so names can't be probed.

    The audit subject is a keyed hash of the name: a mistyped username is often a password.
    """
    session = uow.session
    subject = "staff-name:" + keyed_hash(name, pepper)
    last_lock = session.scalar(
        select(AuditLog.occurred_at)
        .where(AuditLog.action == "staff_locked", AuditLog.subject == subject)
        .order_by(AuditLog.occurred_at.desc()).limit(1))
    if last_lock is not None and last_lock + LOCK_DURATION > now:
        audit.record(session, now, SYSTEM, "staff_sign_in_refused", subject, reason="locked")
        uow.commit()
        raise SignInLocked()
    verify_password(password, _dummy_hash())
    audit.record(session, now, SYSTEM, "staff_sign_in_failed", subject, reason="unknown_user")
    # the session autoflushes before the count, so it includes the row just recorded
    since_lock = select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "staff_sign_in_failed", AuditLog.subject == subject)
    if last_lock is not None:
        since_lock = since_lock.where(AuditLog.occurred_at > last_lock)
    failures = session.scalar(since_lock) or 0
    if failures >= MAX_FAILURES:
        audit.record(session, now, SYSTEM, "staff_locked", subject,
                     until=(now + LOCK_DURATION).isoformat())
        uow.commit()
        raise SignInLocked()
    uow.commit()
    logger.info("console sign-in refused for an unknown username")
    raise SignInFailed()


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """An argon2 hash at the same cost as stored ones, to verify unknown names against."""
    return hash_password(secrets.token_urlsafe(16))


def _usable_password(password: Optional[str]) -> str:
    if password is None:
        return secrets.token_urlsafe(18)  # 24 characters, 144 random bits
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"A staff password is {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} "
                           "characters long.")
    return password


def _provisioning_uri(username: str, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads (from the QR code the CLI prints)."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def _find(session: Session, name: str) -> Optional[StaffUser]:
    return session.scalars(
        select(StaffUser).where(func.lower(StaffUser.username) == name).limit(1).with_for_update()
    ).first()


def _existing(session: Session, name: str) -> StaffUser:
    staff = _find(session, name)
    if staff is None:
        raise UnknownStaff()
    return staff


def _revoke_sessions(session: Session, staff_id: int, now: datetime) -> int:
    """Ends the account's open sessions; returns how many."""
    result = session.execute(
        update(StaffSession)
        .where(StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now))
    return result.rowcount


def _principal(staff: StaffUser) -> StaffPrincipal:
    return StaffPrincipal(staff.id, staff.username, staff.display_name, staff.role)

