"""Who is this conversation? identify -> send_code -> verify_code, and the guards
`require_verified` and `verify_conversation`. A customer signed in on the website skips
identify: start_step_up -> send_code -> verify_code.

A code gives level 'full', a website sign-in 'read'. Codes exist only as keyed hashes and in
the (sealed) outbox message to the customer: never returned, logged or stored anywhere else.
Every limit (wrong factors, wrong codes, codes sent) holds over any window of its length and
is kept in the store by `attempts`, atomically, so it holds across conversations, channels,
processes and replicas; this module decides what counts against which key.
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Optional

import pyotp
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from autofinance.config import Secret
from autofinance.adapters.notify import queue_message
from autofinance.adapters.security import keyed_hash, same_secret
from autofinance.domain.masking import mask_email, mask_phone
from autofinance.services import attempts, audit
from autofinance.services.attempts import Limit
from autofinance.services.errors import (
    CodeAlreadyUsed, CodeExpired, CodeInvalid, CodeSendLimitReached, IdentificationFailed,
    NoPendingVerification, NotVerified, StepUpRequired, VerificationLocked,
)
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import (
    Account, Customer, OnlineCredential, VerificationChallenge, VerifiedSession,
)
from autofinance.domain.clock import aware

logger = logging.getLogger(__name__)

Level = Literal["read", "full"]
Channel = Literal["email", "sms"]

IDENTIFICATION_WINDOW = timedelta(minutes=15)  # identify -> code must happen within this
CODE_LIFETIME = timedelta(minutes=5)
MAX_FAILURES = 5  # wrong factors per conversation and per account, wrong codes per customer
MAX_CLIENT_FAILURES = 10  # wrong factors from one client address, whatever the accounts
LOCK_DURATION = timedelta(minutes=15)  # failures count within any; a full count blocks for it
MAX_SENDS_PER_CONVERSATION = 3  # codes per SEND_WINDOW, however many identifications
MAX_SENDS_PER_CUSTOMER = 5  # codes per SEND_WINDOW across every conversation and channel
SEND_WINDOW = timedelta(hours=1)
INACTIVITY_TIMEOUT = timedelta(minutes=15)
# Activity is written at most this often: a burst of account actions (a form validates every
# answer) costs one write, not one each, and the window closes at most this much early.
ACTIVITY_RESOLUTION = timedelta(seconds=30)

_ACCOUNT_NUMBER = re.compile(r"[0-9]{10}")
_FACTORS = {"zip": re.compile(r"[0-9]{5}"), "dob": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
            "ssn4": re.compile(r"[0-9]{4}")}
_DUMMY_FACTOR = "no-such-customer"
_LEVEL_RANK = {"read": 1, "full": 2}

_CONVERSATION_FACTORS = Limit("identify_conversation", MAX_FAILURES, LOCK_DURATION)
_CLIENT_FACTORS = Limit("identify_client", MAX_CLIENT_FAILURES, LOCK_DURATION)
_ACCOUNT_FACTORS = Limit("identify_account", MAX_FAILURES, LOCK_DURATION)
_CUSTOMER_CODES = Limit("code_customer", MAX_FAILURES, LOCK_DURATION)
_CONVERSATION_SENDS = Limit("code_send_conversation", MAX_SENDS_PER_CONVERSATION, SEND_WINDOW)
_CUSTOMER_SENDS = Limit("code_send_customer", MAX_SENDS_PER_CUSTOMER, SEND_WINDOW)


@dataclass(frozen=True)
class ContactOptions:
    email_masked: str
    phone_masked: str
    # the account the customer identified with, when they gave an account number: with several
    # accounts, the natural one to talk about (an internal id, never the number)
    account_id: Optional[int] = field(default=None, compare=False)


@dataclass(frozen=True)
class CodeSent:
    channel: str
    destination_masked: str
    expires_in_minutes: int = 5


@dataclass(frozen=True)
class VerifiedCustomer:
    customer_id: int
    first_name: str
    level: str


def identify(conversation_id: str, identifier: str, factor: str, pepper: Secret, uow: UnitOfWork,
             now: Optional[datetime] = None, client_key: Optional[str] = None) -> ContactOptions:
    """Match an account number or username plus ZIP, date of birth or SSN last four.

    Wrong factors are counted in the store per conversation, per client address (`client_key`,
    a keyed hash the channel computes; None when it has none) and per account, so switching
    conversations, channels or processes buys no guesses. Only the conversation's and the
    client's own limits answer as a lock. An account is counted the same whether it exists or
    not, and a blocked account answers exactly like a wrong factor, its factor unchecked: the
    answer never tells whether an account exists, is locked, or what its factor is.

    A block starts when a count becomes full and lasts LOCK_DURATION: tries against a blocked
    account neither count against it nor move its end. They still count against the
    conversation and the client, the right factor too: counting only wrong ones there would
    make a conversation lock later when it had typed the right factor, and so confirm it.
    """
    now, subject = aware(now), _subject(conversation_id)
    identifier, factor = identifier.strip(), factor.strip()
    with uow:
        session = uow.session
        customer = _find_customer(session, identifier)
        account = audit.customer(customer.id) if customer else _unknown_account(identifier, pepper)
        gates = [(_CONVERSATION_FACTORS, subject, "conversation")]
        if client_key:
            gates.append((_CLIENT_FACTORS, _client(client_key), "client"))
        for limit, key, _ in gates:  # always in this order, so concurrent attempts cannot deadlock
            until = attempts.take(session, limit, key, now)
            if until is not None:
                uow.rollback()  # refused before anything was checked: nothing counted
                raise VerificationLocked(until)
        checked = not (customer is not None and _is_locked(customer, now)) and (
            attempts.take(session, _ACCOUNT_FACTORS, account, now) is None)
        kind = next((k for k, rx in _FACTORS.items() if rx.fullmatch(factor)), None)
        expected = _expected_hash(customer, kind, pepper)  # dummy hash when nobody matched
        matched = same_secret(factor, expected, pepper)  # the same work, checked or not
        if customer is None or kind is None or not (checked and matched):
            audit.record(session, now, "anonymous", "identify_failed", subject,
                         factor=kind or "unrecognised", checked=checked,
                         customer_id=customer.id if customer else None)
            if checked:  # silent: looks like any failure
                _block_if_full(session, _ACCOUNT_FACTORS, account, "account", now)
            blocked = [_block_if_full(session, *gate, now) for gate in gates]
            uow.commit()
            logger.info("identification failed")
            if any(blocked):
                raise VerificationLocked(now + LOCK_DURATION)
            raise IdentificationFailed()
        for limit, key, _ in (*gates, (_ACCOUNT_FACTORS, account, "account")):
            attempts.refund(session, limit, key)  # a match is not a failure
        _expire_open_challenges(session, conversation_id, now)
        session.add(VerificationChallenge(
            conversation_id=conversation_id, customer_id=customer.id, created_at=now,
            expires_at=now + IDENTIFICATION_WINDOW,
        ))
        uow.commit()
        logger.info("customer %s identified by %s", customer.id, kind)
        return ContactOptions(mask_email(customer.email), mask_phone(customer.mobile),
                              account_id=_identified_account(session, identifier))


def start_step_up(conversation_id: str, customer_id: int, uow: UnitOfWork,
                  now: Optional[datetime] = None, channel: Optional[str] = None) -> ContactOptions:
    """A customer signed in on the website asks for a change: open the same pending
    verification `identify` opens, for them, without asking who they are again.

    `customer_id` is the customer of a valid portal token on this very message (the caller
    checks the token). Only a conversation that holds a live portal 'read' session of that
    customer (on `channel`, when given) may step up; anything else raises NotVerified and the
    customer identifies as anyone else does. The code then goes, as always, to the email or
    phone on file (`send_code`), under the same limits. A conversation blocked by wrong
    factors, or a customer blocked by wrong factors or wrong codes, is refused with
    VerificationLocked: the sign-in proves who they are, so the lock is theirs to know.
    """
    now, subject = aware(now), _subject(conversation_id)
    with uow:
        session = uow.session
        if (current_verification(session, conversation_id, now, channel) is None
                or (current := _current_session(session, conversation_id)) is None
                or current.customer_id != customer_id or current.method != "portal"
                or current.level != "read"):
            uow.commit()  # a lapsed session stays ended
            raise NotVerified()
        customer = session.get_one(Customer, customer_id)
        gates = ((_CONVERSATION_FACTORS, subject), (_ACCOUNT_FACTORS, audit.customer(customer.id)))
        for limit, key in gates:  # the order identify takes them in
            until = attempts.take(session, limit, key, now)
            if until is not None:
                uow.rollback()
                raise VerificationLocked(until)
            attempts.refund(session, limit, key)  # not a failure: only the block is checked
        if _is_locked(customer, now):
            uow.rollback()
            raise VerificationLocked(customer.verification_locked_until)
        _expire_open_challenges(session, conversation_id, now)
        session.add(VerificationChallenge(
            conversation_id=conversation_id, customer_id=customer.id, created_at=now,
            expires_at=now + IDENTIFICATION_WINDOW,
        ))
        audit.record(session, now, audit.customer(customer.id), "step_up_started", subject,
                     method="portal")
        uow.commit()
        logger.info("customer %s steps up from a portal session", customer.id)
        return ContactOptions(mask_email(customer.email), mask_phone(customer.mobile))


def send_code(conversation_id: str, channel: Channel, pepper: Secret, uow: UnitOfWork,
              now: Optional[datetime] = None) -> CodeSent:
    """Send a fresh 6-digit code to the contact on file; only its keyed hash is kept (the
    outbox message is sealed). Capped per conversation and per customer each hour, however
    many times the conversation identifies again."""
    if channel not in ("email", "sms"):
        raise ValueError(f"unknown channel {channel!r}")
    now = aware(now)
    with uow:
        session = uow.session
        challenge = _latest_challenge(session, conversation_id, with_code=False)
        if challenge is None or challenge.used_at is not None or challenge.expires_at <= now:
            raise NoPendingVerification()
        customer = session.get_one(Customer, challenge.customer_id)
        _ensure_not_locked(customer, now)
        for limit, key in ((_CONVERSATION_SENDS, _subject(conversation_id)),
                           (_CUSTOMER_SENDS, audit.customer(customer.id))):
            if attempts.take(session, limit, key, now) is not None:
                logger.warning("code send limit reached for customer %s", customer.id)
                raise CodeSendLimitReached()  # leaving the unit of work undoes the counts
        code = pyotp.TOTP(pyotp.random_base32(), digits=6).now()  # random secret: random code
        challenge.channel, challenge.code_sent_at = channel, now
        challenge.code_hash = keyed_hash(code, pepper)
        challenge.expires_at = now + CODE_LIFETIME
        destination = customer.email if channel == "email" else customer.mobile
        queue_message(
            session, to=destination, channel=channel, kind="otp", customer_id=customer.id,
            subject="Your Meridian Auto Finance verification code" if channel == "email" else "",
            body=f"Your Meridian Auto Finance verification code is {code}. It expires in 5 "
                 "minutes. We will never call or text to ask you for this code.",
            pepper=pepper,
        )
        uow.commit()
        masked = mask_email(destination) if channel == "email" else mask_phone(destination)
        return CodeSent(channel, masked, int(CODE_LIFETIME.total_seconds() // 60))


def verify_code(conversation_id: str, code: str, pepper: Secret, uow: UnitOfWork,
                now: Optional[datetime] = None, channel: str = "unknown") -> VerifiedCustomer:
    """Check the conversation's latest code; 5 wrong codes lock the customer everywhere.

    Wrong codes are counted per customer, not per challenge, so resending or opening new
    conversations buys no guesses; and each check first takes its place in the customer's
    counter (a conditional UPDATE), so codes sent all at once are never checked past the limit.
    """
    now = aware(now)
    with uow:
        session = uow.session
        challenge = _latest_challenge(session, conversation_id, with_code=True)
        if challenge is None or challenge.code_hash is None:
            raise NoPendingVerification()
        key = audit.customer(challenge.customer_id)
        until = attempts.take(session, _CUSTOMER_CODES, key, now)
        session.refresh(challenge)  # as it is now that this attempt holds the counter
        customer = session.get_one(Customer, challenge.customer_id)
        if until is not None:
            raise VerificationLocked(until)  # leaving the unit of work undoes the count
        _ensure_not_locked(customer, now)
        if challenge.used_at is not None:
            raise CodeAlreadyUsed()
        if challenge.expires_at <= now:
            raise CodeExpired()
        if not same_secret(code.strip(), challenge.code_hash, pepper):
            audit.record(session, now, "anonymous", "code_invalid", key, channel=challenge.channel)
            locked_until = attempts.block_if_full(session, _CUSTOMER_CODES, key, now, LOCK_DURATION)
            if locked_until is not None:
                customer.verification_locked_until = locked_until
                challenge.expires_at = now
                audit.record(session, now, "system", "verification_locked", key)
                uow.commit()
                logger.warning("verification locked for customer %s", customer.id)
                raise VerificationLocked(locked_until)
            failures = attempts.counted(session, _CUSTOMER_CODES, key, now)
            uow.commit()
            raise CodeInvalid(MAX_FAILURES - failures)
        attempts.reset(session, _CUSTOMER_CODES, key)  # a right code starts the count again
        challenge.used_at = now
        verified = _open_session(session, conversation_id, customer, "full", "otp", now, channel)
        audit.record(session, now, audit.customer(customer.id), "verified", _subject(conversation_id),
                     method="otp", channel=challenge.channel, level="full")
        uow.commit()
        logger.info("customer %s verified by code", customer.id)
        return verified


def start_portal_session(conversation_id: str, customer_id: int, uow: UnitOfWork,
                         now: Optional[datetime] = None, channel: str = "socketio") -> VerifiedCustomer:
    """A customer signed in on the website may read; changes still need a code (step-up)."""
    now = aware(now)
    with uow:
        verified = _sign_in_from_portal(uow.session, conversation_id, customer_id, now, channel)
        if verified is None:
            raise NotVerified()
        uow.commit()
        return verified


def require_verified(conversation_id: str, level: Level, uow: UnitOfWork,
                     now: Optional[datetime] = None, channel: Optional[str] = None) -> VerifiedCustomer:
    """The guard before every account action; activity slides the 15-minute inactivity window.

    With `channel`, the session counts only on the channel it was verified on.
    """
    _check_level(level)
    now = aware(now)
    with uow:
        verified = current_verification(uow.session, conversation_id, now, channel)
        uow.commit()  # a lapsed session stays ended, activity is kept, even when refused below
    return _at_level(verified, level)


def verify_conversation(conversation_id: str, level: Level, channel: Optional[str],
                        portal_customer_id: Optional[int], uow: UnitOfWork,
                        now: Optional[datetime] = None) -> VerifiedCustomer:
    """The assistant's guard, in one transaction: `require_verified`, plus the portal sign-in.

    `portal_customer_id` is the customer of a valid portal token on this very message, or None.
    It signs an unverified conversation in at 'read'; and a 'read' session counts only while
    the message carries it, so the same conversation id sent without the token (REST trusts
    the client's sender id) gets nothing.
    """
    _check_level(level)
    now = aware(now)
    with uow:
        session = uow.session
        verified = current_verification(session, conversation_id, now, channel)
        if verified is None and portal_customer_id is not None:
            verified = _sign_in_from_portal(session, conversation_id, portal_customer_id, now,
                                            channel or "socketio")
        uow.commit()
    verified = _at_level(verified, level)
    if verified.level == "read" and verified.customer_id != portal_customer_id:
        raise NotVerified()
    return verified


def current_verification(session: Session, conversation_id: str, now: datetime,
                         channel: Optional[str] = None) -> Optional[VerifiedCustomer]:
    """Who the conversation is verified as, inside the caller's unit of work; None if nobody.

    Ends a lapsed or revoked session and slides the inactivity window: the caller commits.
    With `channel`, the session counts only on the channel it was verified on.
    """
    current = _current_session(session, conversation_id)
    if current is None or (channel is not None and current.channel != channel):
        return None
    lapsed = now - current.last_seen_at > INACTIVITY_TIMEOUT
    if lapsed or _portal_revoked(session, current):
        current.ended_at = current.last_seen_at + INACTIVITY_TIMEOUT if lapsed else now
        logger.info("verification lapsed for customer %s", current.customer_id)
        return None
    if now - current.last_seen_at >= ACTIVITY_RESOLUTION:
        current.last_seen_at = now
    customer = session.get_one(Customer, current.customer_id)
    return VerifiedCustomer(customer.id, customer.first_name, current.level)


def end_verification(conversation_id: str, uow: UnitOfWork, now: Optional[datetime] = None) -> None:
    """Session end, restart or reset: the conversation must verify again, pending codes die."""
    now = aware(now)
    with uow:
        _end_sessions(uow.session, conversation_id, now)
        _expire_open_challenges(uow.session, conversation_id, now)
        uow.commit()


# --- helpers ----------------------------------------------------------------------------


def _subject(conversation_id: str) -> str:
    """The audit subject for a conversation (the column holds 80 characters)."""
    if not conversation_id:
        raise ValueError("conversation_id is required")
    if len(conversation_id) <= 80:
        return conversation_id
    return "conv-sha256:" + hashlib.sha256(conversation_id.encode()).hexdigest()


def _find_customer(session: Session, identifier: str) -> Optional[Customer]:
    if _ACCOUNT_NUMBER.fullmatch(identifier):
        query = select(Customer).join(Account).where(Account.account_number == identifier)
    else:
        query = select(Customer).join(OnlineCredential).where(
            func.lower(OnlineCredential.username) == identifier.lower())
    return session.scalars(query.limit(1)).first()


def _identified_account(session: Session, identifier: str) -> Optional[int]:
    """The id of the account an account-number identifier names (None for a username)."""
    if not _ACCOUNT_NUMBER.fullmatch(identifier):
        return None
    return session.scalar(select(Account.id).where(Account.account_number == identifier))


def _expected_hash(customer: Optional[Customer], kind: Optional[str], pepper: Secret) -> str:
    if customer is None or kind is None:
        return keyed_hash(_DUMMY_FACTOR, pepper)
    return {"zip": customer.zip_code_hash, "dob": customer.date_of_birth_hash,
            "ssn4": customer.ssn_last4_hash}[kind]


def _check_level(level: str) -> None:
    if level not in _LEVEL_RANK:
        raise ValueError(f"unknown verification level {level!r}")


def _at_level(verified: Optional[VerifiedCustomer], level: str) -> VerifiedCustomer:
    """The verified customer, if their session is at `level` or above."""
    if verified is None:
        raise NotVerified()
    if _LEVEL_RANK[verified.level] < _LEVEL_RANK[level]:
        raise StepUpRequired()
    return verified


def _sign_in_from_portal(session: Session, conversation_id: str, customer_id: int, now: datetime,
                         channel: str) -> Optional[VerifiedCustomer]:
    """A 'read' session for the portal's customer (None if there is no such customer)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    current = _current_session(session, conversation_id)
    if (current is not None and current.customer_id == customer_id and current.channel == channel
            and now - current.last_seen_at <= INACTIVITY_TIMEOUT):
        current.last_seen_at = now  # already verified (maybe at 'full'): keep, don't downgrade
        return VerifiedCustomer(customer.id, customer.first_name, current.level)
    verified = _open_session(session, conversation_id, customer, "read", "portal", now, channel)
    audit.record(session, now, audit.customer(customer.id), "verified", _subject(conversation_id),
                 method="portal", level="read")
    return verified


def _ensure_not_locked(customer: Customer, now: datetime) -> None:
    if _is_locked(customer, now):
        raise VerificationLocked(customer.verification_locked_until)


def _is_locked(customer: Customer, now: datetime) -> bool:
    """Locked by wrong codes (`verify_code`)."""
    until = customer.verification_locked_until
    return until is not None and until > now


def _unknown_account(identifier: str, pepper: Secret) -> str:
    """The counter key of an identifier that matches no customer: counted like a customer.

    The purpose is inside the keyed hash, so the key never equals the stored hash of a factor
    (a ZIP, SSN digits or date of birth typed as the identifier) or of anything else.
    """
    return "identifier:" + keyed_hash("counter:identifier:" + identifier.lower(), pepper)


def _client(client_key: str) -> str:
    """The counter key of a client address (already a keyed hash; hashed again to fit)."""
    return "client:" + hashlib.sha256(client_key.encode()).hexdigest()


def _block_if_full(session: Session, limit: Limit, key: str, blocked: str, now: datetime) -> bool:
    """After a counted wrong factor: blocks `key` if its count is now full, and audits it. The
    key names what was blocked: a conversation, a customer, or a keyed hash of an unknown
    identifier or of a client address, never the identifier or address itself."""
    until = attempts.block_if_full(session, limit, key, now, LOCK_DURATION)
    if until is None:
        return False
    audit.record(session, now, "system", "identification_blocked", key, blocked=blocked,
                 until=until.isoformat(), failures=limit.most)
    return True


def _latest_challenge(session: Session, conversation_id: str,
                      with_code: bool) -> Optional[VerificationChallenge]:
    query = select(VerificationChallenge).where(
        VerificationChallenge.conversation_id == conversation_id)
    if with_code:
        query = query.where(VerificationChallenge.code_hash.is_not(None))
    return session.scalars(
        query.order_by(VerificationChallenge.id.desc()).limit(1).with_for_update()).first()


def _expire_open_challenges(session: Session, conversation_id: str, now: datetime) -> None:
    session.execute(update(VerificationChallenge).where(
        VerificationChallenge.conversation_id == conversation_id,
        VerificationChallenge.used_at.is_(None), VerificationChallenge.expires_at > now,
    ).values(expires_at=now))


def _current_session(session: Session, conversation_id: str) -> Optional[VerifiedSession]:
    return session.scalars(
        select(VerifiedSession)
        .where(VerifiedSession.conversation_id == conversation_id,
               VerifiedSession.ended_at.is_(None))
        .order_by(VerifiedSession.id.desc()).limit(1).with_for_update()
    ).first()


def _end_sessions(session: Session, conversation_id: str, now: datetime) -> None:
    session.execute(update(VerifiedSession).where(
        VerifiedSession.conversation_id == conversation_id, VerifiedSession.ended_at.is_(None),
    ).values(ended_at=now))


def _open_session(session: Session, conversation_id: str, customer: Customer, level: str,
                  method: str, now: datetime, channel: str) -> VerifiedCustomer:
    _end_sessions(session, conversation_id, now)
    session.add(VerifiedSession(conversation_id=conversation_id, customer_id=customer.id,
                                level=level, method=method, channel=channel, verified_at=now,
                                last_seen_at=now))
    return VerifiedCustomer(customer.id, customer.first_name, level)


def _portal_revoked(session: Session, current: VerifiedSession) -> bool:
    """A password change or reset (sessions_valid_after) ends portal sessions started before it."""
    if current.method != "portal":
        return False
    valid_after = session.scalar(select(OnlineCredential.sessions_valid_after)
                                 .where(OnlineCredential.customer_id == current.customer_id))
    return valid_after is not None and current.verified_at < valid_after
