"""Changing the email, mobile number or mailing address on file: request, then confirm by code.

The code goes to the NEW email or mobile, so a typo cannot lock the customer out of their own
messages (an address change has nothing to send to, so its code goes to the email on file).
Once confirmed, a notice goes to the OLD email or number: if someone else made the change, the
real customer hears about it where they still read. Values are masked in audit rows and logs.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Optional

import pyotp
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from autofinance.adapters.notify import queue_message
from autofinance.adapters.sealing import seal_at_rest, unseal_at_rest
from autofinance.adapters.security import keyed_hash, same_secret
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import ContactChange, Customer
from autofinance.config import Secret
from autofinance.domain.clock import aware
from autofinance.domain.masking import mask_email, mask_phone
from autofinance.services import audit, fraud
from autofinance.services.errors import (
    ContactChangeHeld, ContactChangeLimitReached, ContactCodeExpired, ContactCodeInvalid,
    ContactUnchanged, InvalidContactValue, NoPendingContactChange, ServiceError,
)

logger = logging.getLogger(__name__)

Field = Literal["email", "mobile", "address"]

CODE_LIFETIME = timedelta(minutes=10)
MAX_ATTEMPTS = 5  # wrong codes per requested change; the change is cancelled after the last
MAX_REQUESTS_PER_DAY = 5  # codes sent per customer per 24 hours: caps guesses and message spam
SUPPORT_PHONE = "1-800-555-0199"

_EMAIL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_NANP = re.compile(r"[2-9][0-9]{2}[2-9][0-9]{6}")  # area code and exchange never start 0 or 1
_STREET = re.compile(r"[A-Za-z0-9 .,'#/&-]+")
_CITY = re.compile(r"[A-Za-z .'-]+")
_STATE_ZIP = re.compile(r"([A-Za-z]{2}),?\s+([0-9]{5})(?:-[0-9]{4})?")
_STATES = frozenset("AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS "
                    "MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI "
                    "WY PR VI GU AS MP AA AE AP".split())
_WHAT = {"email": "email address", "mobile": "mobile number", "address": "mailing address"}


@dataclass(frozen=True)
class ContactChangePending:
    field: str
    destination_masked: str  # where the code went
    expires_in_minutes: int = 10


@dataclass(frozen=True)
class ContactChanged:
    field: str
    new_value_masked: str


def normalise_email(value: str) -> str:
    email = value.strip().lower()
    if len(email) > 254 or len(email.partition("@")[0]) > 64 or not _EMAIL.fullmatch(email):
        raise InvalidContactValue("That email address doesn't look right, like name@example.com.")
    return email


def normalise_mobile(value: str) -> str:
    """US numbers only, as E.164: '(404) 555-0199' -> '+14045550199'."""
    digits = re.sub(r"[\s().-]", "", value)
    if digits.startswith("+") and not digits.startswith("+1"):
        raise InvalidContactValue("I can only use a US mobile number.")
    digits = digits.removeprefix("+")
    digits = digits[1:] if len(digits) == 11 and digits.startswith("1") else digits
    if not _NANP.fullmatch(digits):
        raise InvalidContactValue("Please give a 10-digit US mobile number, like 404-555-0199.")
    return "+1" + digits


_CITY_STATE_ZIP = re.compile(r"(.+?)\s+([A-Za-z]{2}\.?\s+\d{5}(?:-\d{4})?)")


def split_address(value: str) -> tuple[str, str, str, str]:
    """'500 Brannan St, San Francisco, CA 94107' -> (street, city, state, zip), normalised."""
    parts = [" ".join(p.split()).strip(" .") for p in value.split(",")]
    if len(parts) >= 4 and _STATE_ZIP.fullmatch(f"{parts[-2]} {parts[-1]}"):
        parts = parts[:-2] + [f"{parts[-2]} {parts[-1]}"]  # 'city, ST, 12345'
    if len(parts) == 2 and (city_state := _CITY_STATE_ZIP.fullmatch(parts[1])):
        parts = [parts[0], city_state.group(1), city_state.group(2)]  # 'street, City ST 12345'
    if len(parts) < 3:
        raise InvalidContactValue("Please give the address as: street, city, state ZIP "
                                  "(for example 500 Main St, Atlanta, GA 30309).")
    street, city, state_zip = ", ".join(parts[:-2]), parts[-2], parts[-1]
    if not street or len(street) > 120 or not _STREET.fullmatch(street) or not (
            re.search(r"[0-9]", street) and re.search(r"[A-Za-z]", street)):
        raise InvalidContactValue("Please include the street with its house or building number.")
    if not city or len(city) > 80 or not _CITY.fullmatch(city):
        raise InvalidContactValue("Please include the city.")
    match = _STATE_ZIP.fullmatch(state_zip)
    if match is None or match.group(1).upper() not in _STATES:
        raise InvalidContactValue("Please end the address with the 2-letter state and the "
                                  "5-digit ZIP code, like GA 30309.")
    if city.islower() or city.isupper():
        city = city.title()
    return street, city, match.group(1).upper(), match.group(2)


def normalise(field: str, value: str) -> str:
    """The one spelling stored and compared: lowercased email, E.164 mobile, tidy address."""
    if field not in _WHAT:
        raise ValueError(f"unknown contact field {field!r}")
    if field != "address":
        return normalise_email(value) if field == "email" else normalise_mobile(value)
    street, city, state, zip_code = split_address(value)
    return f"{street}, {city}, {state} {zip_code}"


def mask(field: str, value: str) -> str:
    """What a customer, an audit row or a log may show: never the whole value."""
    if field != "address":
        return mask_email(value) if field == "email" else mask_phone(value)
    parts = value.rsplit(",", 2)  # lenient: an old address on file may not parse today
    if len(parts) < 3:
        return "****"
    state, _, zip_code = parts[2].strip().partition(" ")
    return f"****, {parts[1].strip()}, {state} {zip_code.strip()[:3]}**"


def current_value(customer: Customer, field: str, pepper: Secret) -> str:
    if field == "address":
        zip_code = unseal_at_rest(customer.zip_code_sealed, pepper) or ""
        return f"{customer.address_line1}, {customer.city}, {customer.state} {zip_code}"
    return customer.email if field == "email" else customer.mobile


def request_contact_change(customer_id: int, field: Field, new_value: str, uow: UnitOfWork,
                           pepper: Secret, now: Optional[datetime] = None
                           ) -> ContactChangePending:
    """Validate the new value and send a 10-minute code; nothing on file changes yet."""
    now, value = aware(now), normalise(field, new_value)
    with uow:
        session = uow.session
        if fraud.online_access_held(session, customer_id):
            raise ContactChangeHeld()
        customer = session.get_one(Customer, customer_id)
        if value.casefold() == current_value(customer, field, pepper).casefold():
            raise ContactUnchanged()
        sent_today = session.scalar(select(func.count()).select_from(ContactChange).where(
            ContactChange.customer_id == customer_id,
            ContactChange.created_at > now - timedelta(days=1))) or 0
        if sent_today >= MAX_REQUESTS_PER_DAY:
            raise ContactChangeLimitReached()
        session.execute(update(ContactChange).where(
            ContactChange.customer_id == customer_id, ContactChange.field == field,
            ContactChange.confirmed_at.is_(None), ContactChange.cancelled_at.is_(None),
        ).values(cancelled_at=now))
        code = pyotp.TOTP(pyotp.random_base32(), digits=6).now()  # random secret: random code
        session.add(ContactChange(
            customer_id=customer_id, field=field, new_value=seal_at_rest(value, pepper),
            created_at=now, attempts=0,
            code_hash=keyed_hash(code, pepper), expires_at=now + CODE_LIFETIME))
        masked_to = _send(  # the NEW email or mobile; an address has nowhere else to send to
            session, customer_id, field, customer.email if field == "address" else value,
            "contact_change_code", "Confirm your Meridian Auto Finance contact change",
            f"Your Meridian Auto Finance code to confirm your new {_WHAT[field]} is {code}. It "
            "expires in 10 minutes. If you didn't ask for this change, ignore this message.",
            pepper)
        audit.record(session, now, audit.customer(customer_id), "contact_change_requested",
                     f"customer:{customer_id}", field=field, to=masked_to)
        try:
            uow.commit()
        except IntegrityError:  # a concurrent request for the same field took the pending slot
            logger.warning("concurrent %s change request for customer %s", field, customer_id)
            raise ServiceError() from None
        logger.info("%s change requested for customer %s", field, customer_id)
        return ContactChangePending(field, masked_to, int(CODE_LIFETIME.total_seconds() // 60))


def confirm_contact_change(customer_id: int, field: Field, code: str, uow: UnitOfWork,
                           pepper: Secret, now: Optional[datetime] = None) -> ContactChanged:
    """Apply the pending change if the code matches; tell the old email or number it happened."""
    now = aware(now)
    with uow:
        session = uow.session
        change = session.scalars(select(ContactChange).where(
            ContactChange.customer_id == customer_id, ContactChange.field == field,
            ContactChange.confirmed_at.is_(None), ContactChange.cancelled_at.is_(None),
        ).order_by(ContactChange.id.desc()).limit(1).with_for_update()).first()
        if change is None:
            raise NoPendingContactChange()
        if fraud.online_access_held(session, customer_id):  # reported after the code was sent
            raise ContactChangeHeld()
        if change.expires_at <= now:
            raise ContactCodeExpired()
        if not same_secret("".join(code.split()), change.code_hash, pepper):
            change.attempts += 1
            left = MAX_ATTEMPTS - change.attempts
            if left <= 0:
                change.cancelled_at = now
                audit.record(session, now, audit.customer(customer_id), "contact_change_cancelled",
                             f"customer:{customer_id}", field=field, reason="too_many_wrong_codes")
            uow.commit()
            logger.info("wrong %s change code for customer %s", field, customer_id)
            raise ContactCodeInvalid(max(left, 0))
        customer = session.get_one(Customer, customer_id)
        old, new = current_value(customer, field, pepper), unseal_at_rest(change.new_value, pepper)
        if new is None:  # sealed under another pepper: it cannot be applied
            raise NoPendingContactChange()
        _apply(customer, field, new, pepper)
        change.confirmed_at = now
        _send(  # the OLD email or number: where the real customer still reads
            session, customer_id, field, customer.email if field == "address" else old,
            "contact_changed_notice", "Your Meridian Auto Finance contact details changed",
            f"The {_WHAT[field]} on your Meridian Auto Finance account was changed to "
            f"{mask(field, new)}. If you did not make this change, call us right away at "
            f"{SUPPORT_PHONE}.", pepper)
        audit.record(session, now, audit.customer(customer_id), "contact_changed",
                     f"customer:{customer_id}", field=field, old=mask(field, old),
                     new=mask(field, new))
        uow.commit()
        logger.info("%s changed for customer %s", field, customer_id)
        return ContactChanged(field, mask(field, new))


def _apply(customer: Customer, field: str, value: str, pepper: Secret) -> None:
    """Write the new value; the ZIP is also an identity factor, so its hash follows the
    address (the mailing ZIP itself is kept sealed, for letters)."""
    if field == "address":
        customer.address_line1, customer.city, customer.state, zip_code = split_address(value)
        customer.zip_code_hash = keyed_hash(zip_code, pepper)
        customer.zip_code_sealed = seal_at_rest(zip_code, pepper)
    else:
        setattr(customer, field, value)


def _send(session: Session, customer_id: int, field: str, to: str, kind: str, subject: str,
          body: str, pepper: Secret) -> str:
    """Queue a text (mobile changes) or an email (the rest), a code sealed with `pepper`;
    returns the masked destination."""
    sms = field == "mobile"
    queue_message(session, to=to, channel="sms" if sms else "email", kind=kind, body=body,
                  subject="" if sms else subject, customer_id=customer_id, pepper=pepper)
    return mask_phone(to) if sms else mask_email(to)

