"""Registering for online access from chat: a single-use link by email to a page that sets the
username and password.

TRUST: `send_registration_link` acts on the `customer_id` it is given; the Rasa adapter calls it
only after `identity.require_verified` (level 'full'), so the link goes to the email on file of a
customer who proved who they are. `registration_link_valid` and `register` take no customer: the
emailed token is the credential, as for password-reset links.

A token is 32 random bytes that exist only in the sealed email; the store keeps its keyed hash.
Links live 60 minutes, work once, and a newer link cancels older ones. A customer who already
has online access gets no link (AlreadyRegistered, with the username masked): a reset link or a
username reminder is the way back in. A fraud report's hold on online access stops registration
too (OnlineAccessHeld). Neither tokens nor passwords are ever returned, logged or audited.
"""
from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from autofinance.adapters.security import hash_password, keyed_hash
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Customer, OnlineCredential, RegistrationToken
from autofinance.config import Secret
from autofinance.domain.clock import aware
from autofinance.services import audit
from autofinance.services.errors import (
    AlreadyRegistered, InvalidRegistrationLink, InvalidUsername, OnlineAccessHeld,
    RegistrationLimitReached,
)
from autofinance.services.online_access import (
    SUPPORT_PHONE, check_password_strength, email_customer, expire_open_tokens, mask_username, open_token,
    refuse_if_held,
)

logger = logging.getLogger(__name__)

LINK_LIFETIME = timedelta(minutes=60)
MAX_LINKS_PER_DAY = 5  # registration emails per customer per 24 hours: caps mail-bombing
USERNAME_MIN, USERNAME_MAX = 5, 32

# a letter first, then letters, digits, '.', '_' or '-': never all digits, so a username can't be
# mistaken for an account number when a customer identifies with it in chat
_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class RegistrationLinkSent:
    destination_masked: str
    expires_in_minutes: int


@dataclass(frozen=True)
class Registered:
    first_name: str
    username: str


def send_registration_link(customer_id: int, uow: UnitOfWork, base_url: str, pepper: Secret,
                           now: Optional[datetime] = None) -> RegistrationLinkSent:
    """Email a 60-minute single-use registration link to the email on file."""
    now = aware(now)
    with uow:
        session = uow.session
        _refuse_if_registered(session, customer_id)
        refuse_if_held(session, customer_id)
        sent_today = session.scalar(select(func.count()).select_from(RegistrationToken).where(
            RegistrationToken.customer_id == customer_id,
            RegistrationToken.created_at > now - timedelta(days=1))) or 0
        if sent_today >= MAX_LINKS_PER_DAY:
            raise RegistrationLimitReached()
        expire_open_tokens(session, RegistrationToken, customer_id, now)
        token = secrets.token_urlsafe(32)
        session.add(RegistrationToken(customer_id=customer_id, token_hash=keyed_hash(token, pepper),
                                      created_at=now, expires_at=now + LINK_LIFETIME))
        link = f"{base_url.rstrip('/')}/register?token={token}"
        minutes = int(LINK_LIFETIME.total_seconds() // 60)
        to = email_customer(session, customer_id, "registration_link", "Set up your online access",
                    f"use this link to choose your username and password: {link}\nIt works once, "
                    f"for {minutes} minutes. If you didn't ask for this, ignore this email.",
                    pepper=pepper)
        audit.record(session, now, audit.customer(customer_id), "registration_link_sent",
                     f"customer:{customer_id}", to=to)
        uow.commit()
        logger.info("registration link sent to customer %s", customer_id)
        return RegistrationLinkSent(to, minutes)


def registration_link_valid(token: str, uow: UnitOfWork, pepper: Secret,
                            now: Optional[datetime] = None) -> bool:
    """Whether a link would still work, without using it: the page says so before the form."""
    now = aware(now)
    with uow:
        row = open_token(uow.session, RegistrationToken, token, pepper, now)
        if row is None:
            return False
        try:
            _refuse_if_registered(uow.session, row.customer_id)
            refuse_if_held(uow.session, row.customer_id)
        except (AlreadyRegistered, OnlineAccessHeld):
            return False
        return True


def register(token: str, username: str, password: str, uow: UnitOfWork, pepper: Secret,
             now: Optional[datetime] = None) -> Registered:
    """Create the customer's online access from a registration link: a checked username that is
    free, a password that meets the rules; the link is used up only when both are accepted."""
    now = aware(now)
    username = username.strip()
    with uow:
        session = uow.session
        row = open_token(session, RegistrationToken, token, pepper, now)
        if row is None:
            logger.info("refused a registration link")  # no ids: the request may be forged
            raise InvalidRegistrationLink()
        customer = session.get_one(Customer, row.customer_id)
        try:
            _refuse_if_registered(session, customer.id)
            refuse_if_held(session, customer.id)
        except (AlreadyRegistered, OnlineAccessHeld) as refused:  # since the link was sent
            raise InvalidRegistrationLink() from refused
        check_username(username)
        check_password_strength(password, username, (customer.first_name, customer.last_name))
        if session.scalar(select(OnlineCredential.id).where(
                func.lower(OnlineCredential.username) == username.casefold())) is not None:
            raise InvalidUsername("That username is taken. Please choose another one.")
        password_hash = hash_password(password)
        claimed = session.execute(update(RegistrationToken).where(  # atomic: one winner only
            RegistrationToken.id == row.id, RegistrationToken.used_at.is_(None),
            RegistrationToken.expires_at > now).values(used_at=now))
        if claimed.rowcount != 1:
            raise InvalidRegistrationLink()
        expire_open_tokens(session, RegistrationToken, customer.id, now)
        session.add(OnlineCredential(customer_id=customer.id, username=username,
                                     password_hash=password_hash, password_changed_at=now,
                                     failed_sign_ins=0, locked=False))
        email_customer(session, customer.id, "online_access_registered", "Your online access is ready",
               f"your online access is set up with the username {username}. If this wasn't you, "
               f"call us right away at {SUPPORT_PHONE}.")
        audit.record(session, now, audit.customer(customer.id), "online_access_registered",
                     f"customer:{customer.id}")
        try:
            uow.commit()
        except IntegrityError as taken:  # the same username chosen at the same moment elsewhere
            raise InvalidUsername("That username is taken. Please choose another one.") from taken
        logger.info("online access registered for customer %s", customer.id)
        return Registered(customer.first_name, username)


def check_username(username: str) -> None:
    """Raise InvalidUsername saying exactly what to fix; the rules are written out on the page."""
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        raise InvalidUsername(f"Your username needs {USERNAME_MIN} to {USERNAME_MAX} characters.")
    if not _USERNAME.fullmatch(username):
        raise InvalidUsername("Your username must start with a letter and use only letters, "
                              "numbers, dots, dashes and underscores.")


# --- helpers ----------------------------------------------------------------------------


def _refuse_if_registered(session: Session, customer_id: int) -> None:
    username = session.scalar(select(OnlineCredential.username).where(
        OnlineCredential.customer_id == customer_id))
    if username is not None:
        raise AlreadyRegistered(mask_username(username))
