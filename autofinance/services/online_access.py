"""Website access: lock status, password-reset links, password resets, username reminders, unlocks.

TRUST: `access_status`, `send_password_reset`, `send_username_reminder`, `unlock_online_access`
and `help_with_sign_in` act on the `customer_id` they are given without checking who asks; the
Rasa adapter calls them only after `identity.require_verified` for that customer (level 'full',
as they send mail to the customer and change the lock). `reset_link_valid` and `reset_password`
take no customer: the emailed token is the credential.

A lock from a verified fraud report is the fraud team's (`fraud.online_access_held`): while it
holds, these functions neither unlock, nor send a reset link, nor accept one (OnlineAccessHeld;
an old link is simply not valid), so chat can't undo what the fraud report protects.

A reset token is 32 random bytes that exist only in the email to the customer: the store keeps
its keyed hash, so a database leak yields no usable link. Tokens live 30 minutes, work once, and
a newer link cancels older ones. Neither tokens nor passwords are ever returned, logged or audited.
"""
from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional, Union

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from autofinance.adapters.notify import queue_message
from autofinance.adapters.security import hash_password, keyed_hash
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import (CardLinkToken, Customer, OnlineCredential, PasswordResetToken,
                                               RegistrationToken)
from autofinance.config import Secret
from autofinance.domain.clock import aware
from autofinance.domain.masking import mask_email
from autofinance.services import audit
from autofinance.services.errors import (
    InvalidResetLink, NoOnlineAccess, OnlineAccessHeld, ResetLimitReached, WeakPassword,
)
from autofinance.services.fraud import online_access_held

logger = logging.getLogger(__name__)

RESET_LIFETIME = timedelta(minutes=30)
MAX_RESETS_PER_DAY = 5  # reset emails per customer per 24 hours: caps mail-bombing a customer
MIN_LENGTH, MAX_LENGTH, PASSPHRASE_LENGTH = 12, 128, 20
SUPPORT_PHONE = "1-800-555-0199"

_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
# Matched against the whole password and against its letters with leading/trailing digits and
# symbols removed, so 'Password123!' and 'Qwerty2026!!' are refused too.
_COMMON = frozenset(
    "password passw0rd p@ssword p@ssw0rd qwerty qwertyuiop qwertyuiop123 asdfgh asdfghjkl "
    "zxcvbnm letmein welcome iloveyou admin administrator monkey dragon football baseball "
    "sunshine princess trustno1 abc123 abcdef abcdefgh changeme master shadow superman batman "
    "starwars whatever freedom michael jennifer hello login secret summer winter autumn spring "
    "meridian meridianauto autofinance carloan 123456789012 1234567890ab 098765432109 "
    "correcthorsebatterystaple".split())


@dataclass(frozen=True)
class AccessStatus:
    username_masked: str
    locked: bool
    failed_sign_ins: int


@dataclass(frozen=True)
class ResetLinkSent:
    destination_masked: str
    expires_in_minutes: int = 30


@dataclass(frozen=True)
class PasswordChanged:
    first_name: str


@dataclass(frozen=True)
class UsernameSent:
    destination_masked: str


@dataclass(frozen=True)
class AccessUnlocked:
    was_locked: bool


@dataclass(frozen=True)
class SignInHelp:
    status: AccessStatus  # as it was when the customer asked
    reset: Optional[ResetLinkSent]  # sent when access was locked (it is now unlocked), else None


def access_status(customer_id: int, uow: UnitOfWork) -> AccessStatus:
    with uow:
        credential = _credential(uow.session, customer_id)
        return AccessStatus(mask_username(credential.username), credential.locked,
                            credential.failed_sign_ins)


def send_password_reset(customer_id: int, uow: UnitOfWork, base_url: str, pepper: Secret,
                        now: Optional[datetime] = None) -> ResetLinkSent:
    """Email a 30-minute single-use link to the email on file; earlier unused links stop working."""
    now = aware(now)
    with uow:
        session = uow.session
        _credential(session, customer_id)
        refuse_if_held(session, customer_id)
        sent_today = session.scalar(select(func.count()).select_from(PasswordResetToken).where(
            PasswordResetToken.customer_id == customer_id,
            PasswordResetToken.created_at > now - timedelta(days=1))) or 0
        if sent_today >= MAX_RESETS_PER_DAY:
            raise ResetLimitReached()
        expire_open_tokens(session, PasswordResetToken, customer_id, now)
        token = secrets.token_urlsafe(32)
        session.add(PasswordResetToken(
            customer_id=customer_id, token_hash=keyed_hash(token, pepper),
            created_at=now, expires_at=now + RESET_LIFETIME))
        link = f"{base_url.rstrip('/')}/reset-password?token={token}"
        to = email_customer(session, customer_id, "password_reset", "Reset your password",
                    f"use this link to choose a new password: {link}\nIt works once, for 30 "
                    "minutes. If you didn't ask for this, ignore this email: your password "
                    "stays the same.", pepper=pepper)
        audit.record(session, now, audit.customer(customer_id), "password_reset_link_sent",
                     f"customer:{customer_id}", to=to)
        uow.commit()
        logger.info("password reset link sent to customer %s", customer_id)
        return ResetLinkSent(to, int(RESET_LIFETIME.total_seconds() // 60))


def reset_link_valid(token: str, uow: UnitOfWork, pepper: Secret,
                     now: Optional[datetime] = None) -> bool:
    """Whether a link would still work, without using it: lets the page say so before the form."""
    now = aware(now)
    with uow:
        row = open_token(uow.session, PasswordResetToken, token, pepper, now)
        return row is not None and not online_access_held(uow.session, row.customer_id)


def reset_password(token: str, new_password: str, uow: UnitOfWork, pepper: Secret,
                   now: Optional[datetime] = None) -> PasswordChanged:
    """Set a new password from a reset link; also unlocks access and signs out old sessions."""
    now = aware(now)
    with uow:
        session = uow.session
        row = open_token(session, PasswordResetToken, token, pepper, now)
        credential = None if row is None else session.scalar(
            select(OnlineCredential).where(OnlineCredential.customer_id == row.customer_id))
        if row is None or credential is None or online_access_held(session, row.customer_id):
            logger.info("refused a password reset link")  # no ids: the request may be forged
            raise InvalidResetLink()
        customer = session.get_one(Customer, row.customer_id)
        check_password_strength(new_password, credential.username,
                                (customer.first_name, customer.last_name))
        password_hash = hash_password(new_password)
        claimed = session.execute(update(PasswordResetToken).where(  # atomic: one winner only
            PasswordResetToken.id == row.id, PasswordResetToken.used_at.is_(None),
            PasswordResetToken.expires_at > now).values(used_at=now))
        if claimed.rowcount != 1:
            raise InvalidResetLink()
        expire_open_tokens(session, PasswordResetToken, customer.id, now)
        credential.password_hash, credential.password_changed_at = password_hash, now
        credential.sessions_valid_after = now  # portal sessions from before now end
        credential.failed_sign_ins, credential.locked, credential.locked_at = 0, False, None
        email_customer(session, customer.id, "password_changed", "Your password was changed",
               "the password for your online account was just changed, and other devices were "
               f"signed out. If this wasn't you, call us right away at {SUPPORT_PHONE}.")
        audit.record(session, now, audit.customer(customer.id), "password_reset",
                     f"customer:{customer.id}", unlocked=True)
        uow.commit()
        logger.info("password reset for customer %s", customer.id)
        return PasswordChanged(customer.first_name)


def send_username_reminder(customer_id: int, uow: UnitOfWork,
                           now: Optional[datetime] = None) -> UsernameSent:
    """Email the username to the email on file; chat only ever shows it masked."""
    now = aware(now)
    with uow:
        session = uow.session
        username = _credential(session, customer_id).username
        to = email_customer(session, customer_id, "username_reminder", "Your username",
                    f"your username is {username}. If you didn't ask for this, you can ignore "
                    "this email.")
        audit.record(session, now, audit.customer(customer_id), "username_reminder_sent",
                     f"customer:{customer_id}", to=to)
        uow.commit()
        return UsernameSent(to)


def unlock_online_access(customer_id: int, uow: UnitOfWork,
                         now: Optional[datetime] = None) -> AccessUnlocked:
    """Unlock after failed sign-ins (the password is unchanged); a no-op if it was not locked.
    A fraud report's lock is refused (OnlineAccessHeld): only the fraud team lifts it."""
    now = aware(now)
    with uow:
        session = uow.session
        credential = _credential(session, customer_id)
        refuse_if_held(session, customer_id)
        if not credential.locked:
            return AccessUnlocked(was_locked=False)
        credential.failed_sign_ins, credential.locked, credential.locked_at = 0, False, None
        email_customer(session, customer_id, "online_access_unlocked", "Your online access is unlocked",
               "your online access was unlocked at your request. If this wasn't you, call us "
               f"right away at {SUPPORT_PHONE}.")
        audit.record(session, now, audit.customer(customer_id), "online_access_unlocked",
                     f"customer:{customer_id}")
        uow.commit()
        logger.info("online access unlocked for customer %s", customer_id)
        return AccessUnlocked(was_locked=True)


def help_with_sign_in(customer_id: int, uow: UnitOfWork, base_url: str, pepper: Secret,
                      now: Optional[datetime] = None) -> SignInHelp:
    """Why sign-in fails, and the way back in: a lock after failed sign-ins is lifted and a
    reset link sent, in case the password is forgotten too. One transaction per step, so the
    unlock stands even when the daily reset limit refuses the link. A fraud report's lock
    changes nothing and sends nothing (OnlineAccessHeld)."""
    now = aware(now)
    with uow:
        refuse_if_held(uow.session, customer_id)
    status = access_status(customer_id, uow)
    if not status.locked:
        return SignInHelp(status, None)
    unlock_online_access(customer_id, uow, now)
    return SignInHelp(status, send_password_reset(customer_id, uow, base_url, pepper, now))


def check_password_strength(password: str, username: str, names: tuple[str, ...]) -> None:
    """Raise WeakPassword saying exactly what to fix; the rules are written out on the web form."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Your new password needs at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"Your new password can be at most {MAX_LENGTH} characters.")
    lowered = password.casefold()
    core = re.sub(r"^[\W\d_]+|[\W\d_]+$", "", lowered)
    if lowered in _COMMON or core in _COMMON or len(set(lowered)) < 5:
        raise WeakPassword("That password is too common or too easy to guess. "
                           "Please choose something less predictable.")
    if username and username.casefold() in lowered:
        raise WeakPassword("Your new password can't contain your username.")
    if any(len(name) >= 3 and name.casefold() in lowered for name in names):
        raise WeakPassword("Your new password can't contain your first or last name.")
    kinds = sum((any(c.islower() for c in password), any(c.isupper() for c in password),
                 any(c.isdigit() for c in password), any(not c.isalnum() for c in password)))
    if kinds < 3 and len(password) < PASSPHRASE_LENGTH:
        raise WeakPassword(
            "Your new password needs at least 3 of these: lowercase letters, uppercase letters, "
            f"numbers and symbols. Or use a passphrase of {PASSPHRASE_LENGTH} or more characters.")


def mask_username(username: str) -> str:
    """mlopez -> ml***z: enough for the customer to recognise, not enough to sign in with."""
    return f"{username[:1]}***" if len(username) <= 3 else f"{username[:2]}***{username[-1]}"


# --- helpers ----------------------------------------------------------------------------


def email_customer(session: Session, customer_id: int, kind: str, subject: str, text: str,
           pepper: Optional[Secret] = None) -> str:
    """Email the address on file (never one given in chat); returns it masked. A link is
    sealed in the outbox with `pepper` (notify.SEALED_KINDS)."""
    customer = session.get_one(Customer, customer_id)
    queue_message(session, to=customer.email, channel="email", kind=kind, customer_id=customer_id,
                  subject=f"Meridian Auto Finance: {subject}",
                  body=f"Hi {customer.first_name}, {text}", pepper=pepper)
    return mask_email(customer.email)


def _credential(session: Session, customer_id: int) -> OnlineCredential:
    credential = session.scalar(
        select(OnlineCredential).where(OnlineCredential.customer_id == customer_id))
    if credential is None:
        raise NoOnlineAccess()
    return credential


def refuse_if_held(session: Session, customer_id: int) -> None:
    if online_access_held(session, customer_id):
        logger.info("online access of customer %s is held by a fraud case", customer_id)
        raise OnlineAccessHeld()


LinkToken = Union[type[PasswordResetToken], type[RegistrationToken], type[CardLinkToken]]


def open_token(session: Session, model: LinkToken, token: str, pepper: Secret,
               now: datetime) -> Optional[Union[PasswordResetToken, RegistrationToken, CardLinkToken]]:
    """The unused, unexpired row of `model` for an emailed token; malformed tokens never reach
    the database."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        return None
    row = session.scalar(select(model).where(model.token_hash == keyed_hash(token, pepper)))
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    return row


def expire_open_tokens(session: Session, model: LinkToken, customer_id: int, now: datetime) -> None:
    """A newer link cancels the customer's older unused ones."""
    session.execute(update(model).where(
        model.customer_id == customer_id, model.used_at.is_(None),
        model.expires_at > now).values(expires_at=now))
