"""New ways to pay: a bank account added in chat, a debit card added on a secure page.

A bank account is given in chat: the routing number (9 digits with the ABA checksum), the
account number (4 to 17 digits) and checking or savings. A card number is never taken in chat
(the channels refuse one before the assistant sees it, rasa_ext/limits.py); the assistant emails
a single-use link to the card page instead (30 minutes, a newer link cancels older ones), where
the number is checked with Luhn.

Neither number is ever stored, returned, logged or audited: a source keeps its kind, its last
four and the processor's token (in this demo a keyed hash of the customer and the number, so the
same account added twice is found again). Every addition is emailed to the address on file (a
new way to pay is what an account takeover adds first) and audited. New sources are limited per
customer (a day, chat and page together) and per conversation; a refused detail or a limit
changes nothing. A source is usable as soon as it is added.
"""
from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import yaml
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from stdnum import luhn
from stdnum.us import rtn

from autofinance.adapters.notify import queue_message
from autofinance.adapters.security import keyed_hash
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import CardLinkToken, Customer, FundingSource
from autofinance.config import Secret
from autofinance.domain.clock import aware
from autofinance.domain.masking import mask_account_number, mask_email
from autofinance.domain.money import format_usd
from autofinance.services import audit
from autofinance.services.accounts import open_accounts
from autofinance.services.errors import (
    AccountFrozen, CardLinkLimitReached, InvalidBankDetail, InvalidCardDetail, InvalidCardLink,
    NewSourceLimitReached,
)
from autofinance.services.online_access import SUPPORT_PHONE, expire_open_tokens, open_token
from autofinance.services.payments import DEBIT_CARD_FEE

logger = logging.getLogger(__name__)

MAX_NEW_PER_DAY = 3  # new payment methods per customer in 24 hours, chat and card page together
MAX_NEW_PER_CONVERSATION = 2  # new bank accounts in one conversation
ACCOUNT_MIN, ACCOUNT_MAX = 4, 17  # digits of a US bank account number
CARD_MIN, CARD_MAX = 13, 19  # digits of a card number
CARD_LINK_LIFETIME = timedelta(minutes=30)
MAX_CARD_LINKS_PER_DAY = 5
BANK_KINDS = ("checking", "savings")
TEXTS = Path(__file__).with_name("funding_source_texts.yml")

_SEPARATORS = re.compile(r"[\s.-]")
_KIND_WORDS = {"checking": re.compile(r"\bche(?:c?k|q)\w*|\bchk\b|\bcurrent\b", re.IGNORECASE),
               "savings": re.compile(r"\bsav\w*|\bsvg?s?\b", re.IGNORECASE)}


@dataclass(frozen=True)
class BankAccountAdded:
    source_id: int
    masked_name: str  # 'checking ****6789'
    routing_masked: str  # '***0021'
    email_masked: str
    created: bool  # False: that account was already saved (nothing new was added)


@dataclass(frozen=True)
class CardLinkSent:
    destination_masked: str
    expires_in_minutes: int


@dataclass(frozen=True)
class DebitCardAdded:
    first_name: str
    masked_name: str  # 'debit card ****1111'
    fee: str  # '$2.95'


# --- checks (pure) -------------------------------------------------------------------------


def _digits(text: str) -> str:
    return _SEPARATORS.sub("", str(text).strip())


def check_routing_number(text: str) -> str:
    """The 9-digit ABA routing number, spaces and dashes removed; raises InvalidBankDetail
    ('routing_format' or 'routing_checksum')."""
    number = _digits(text)
    if not re.fullmatch(r"\d{9}", number):
        raise InvalidBankDetail("routing_format")
    if not rtn.is_valid(number):
        raise InvalidBankDetail("routing_checksum")
    return number


def check_account_number(text: str) -> str:
    """The bank account number: 4 to 17 digits; raises InvalidBankDetail('account_format')."""
    number = _digits(text)
    if not re.fullmatch(rf"\d{{{ACCOUNT_MIN},{ACCOUNT_MAX}}}", number):
        raise InvalidBankDetail("account_format")
    return number


def check_account_kind(text: str) -> str:
    """'checking' or 'savings' from what the customer said; InvalidBankDetail('kind') otherwise."""
    kinds = [kind for kind, words in _KIND_WORDS.items() if words.search(str(text))]
    if len(kinds) != 1:
        raise InvalidBankDetail("kind")
    return kinds[0]


def check_card_number(text: str) -> str:
    """A card number: 13 to 19 digits passing the Luhn check; InvalidCardDetail otherwise."""
    number = _digits(text)
    if not re.fullmatch(rf"\d{{{CARD_MIN},{CARD_MAX}}}", number) or not luhn.is_valid(number):
        raise InvalidCardDetail("That card number doesn't look right. Please check it and type it again.")
    return number


def check_card_expiry(month: str, year: str, today: date) -> tuple[int, int]:
    """(month, four-digit year) of a card that has not expired (it runs to the month's end)."""
    try:
        m, y = int(str(month).strip()), int(str(year).strip())
    except ValueError:
        raise InvalidCardDetail("Please give the card's expiry month and year.") from None
    y = y + 2000 if y < 100 else y
    if not 1 <= m <= 12 or (y, m) < (today.year, today.month) or y > today.year + 20:
        raise InvalidCardDetail("That card has expired or its expiry date isn't right. Please check it.")
    return m, y


def mask_routing(routing: str) -> str:
    return f"***{routing[-4:]}"


def conversation_key(conversation_id: str, pepper: Secret) -> str:
    """What the store keeps of a conversation's id: a keyed hash (limits per conversation)."""
    return keyed_hash(f"conversation:{conversation_id}", pepper)


def _token(prefix: str, customer_id: int, number: str, pepper: Secret) -> str:
    """The demo processor's token: the same number for the same customer gives the same token."""
    return prefix + keyed_hash(f"{customer_id}:{prefix}{number}", pepper)[:48]


# --- use cases -----------------------------------------------------------------------------


def check_new_source_allowed(customer_id: int, added_in: Optional[str], uow: UnitOfWork,
                             now: Optional[datetime] = None) -> None:
    """Raises NewSourceLimitReached (or AccountFrozen) before the customer types anything."""
    now = aware(now)
    with uow:
        _refuse_if_frozen(uow.session, customer_id)
        _check_limits(uow.session, customer_id, added_in, now)


def add_bank_account(customer_id: int, routing: str, account_number: str, kind: str, added_in: str,
                     uow: UnitOfWork, pepper: Secret, now: Optional[datetime] = None) -> BankAccountAdded:
    """Save a checked bank account as a funding source, email a notice and audit it: all or
    nothing. The same account again returns the saved one (a repeated "yes" adds it once)."""
    routing, account_number = check_routing_number(routing), check_account_number(account_number)
    kind = check_account_kind(kind)
    now = aware(now)
    token = _token("ba_", customer_id, f"{routing}:{account_number}", pepper)
    with uow:
        session = uow.session
        _refuse_if_frozen(session, customer_id)
        customer = session.get_one(Customer, customer_id)
        source = session.scalar(select(FundingSource).where(FundingSource.token == token))
        if source is not None and source.active:
            return BankAccountAdded(source.id, source.masked_name, mask_routing(routing),
                                    mask_email(customer.email), created=False)
        _check_limits(session, customer_id, added_in, now)
        if source is None:
            source = FundingSource(customer_id=customer_id, kind=kind, last4=account_number[-4:], token=token)
            session.add(source)
        source.active, source.kind, source.created_at, source.added_in = True, kind, now, added_in
        session.flush()
        _notify_and_audit(session, customer, source, now, "bank_account_added",
                          routing=mask_routing(routing), kind=kind)
        uow.commit()
        logger.info("bank account added for customer %s", customer_id)
        return BankAccountAdded(source.id, source.masked_name, mask_routing(routing),
                                mask_email(customer.email), created=True)


def send_card_link(customer_id: int, uow: UnitOfWork, base_url: str, pepper: Secret,
                   now: Optional[datetime] = None) -> CardLinkSent:
    """Email a 30-minute single-use link to the card page, to the address on file."""
    now = aware(now)
    with uow:
        session = uow.session
        _refuse_if_frozen(session, customer_id)
        _check_limits(session, customer_id, None, now)
        sent_today = session.scalar(select(func.count()).select_from(CardLinkToken).where(
            CardLinkToken.customer_id == customer_id, CardLinkToken.created_at > now - timedelta(days=1))) or 0
        if sent_today >= MAX_CARD_LINKS_PER_DAY:
            raise CardLinkLimitReached()
        expire_open_tokens(session, CardLinkToken, customer_id, now)
        token = secrets.token_urlsafe(32)
        session.add(CardLinkToken(customer_id=customer_id, token_hash=keyed_hash(token, pepper),
                                  created_at=now, expires_at=now + CARD_LINK_LIFETIME))
        customer = session.get_one(Customer, customer_id)
        minutes = int(CARD_LINK_LIFETIME.total_seconds() // 60)
        subject, body = email_text("card_link", first_name=customer.first_name, minutes=str(minutes),
                                   link=f"{base_url.rstrip('/')}/add-card?token={token}")
        queue_message(session, to=customer.email, channel="email", kind="card_link", subject=subject,
                      body=body, customer_id=customer_id, pepper=pepper)
        audit.record(session, now, audit.customer(customer_id), "card_link_sent", f"customer:{customer_id}",
                     to=mask_email(customer.email))
        uow.commit()
        logger.info("card link sent to customer %s", customer_id)
        return CardLinkSent(mask_email(customer.email), minutes)


def card_link_valid(token: str, uow: UnitOfWork, pepper: Secret, now: Optional[datetime] = None) -> bool:
    """Whether a card link would still work, without using it."""
    with uow:
        return open_token(uow.session, CardLinkToken, token, pepper, aware(now)) is not None


def add_debit_card(token: str, card_number: str, exp_month: str, exp_year: str, uow: UnitOfWork,
                   pepper: Secret, today: date, now: Optional[datetime] = None) -> DebitCardAdded:
    """Save a debit card from the card page's link: the link is used up only when the card is
    accepted. Raises InvalidCardLink, InvalidCardDetail or NewSourceLimitReached."""
    now = aware(now)
    with uow:
        session = uow.session
        row = open_token(session, CardLinkToken, token, pepper, now)
        if row is None:
            logger.info("refused a card link")  # no ids: the request may be forged
            raise InvalidCardLink()
        number = check_card_number(card_number)
        check_card_expiry(exp_month, exp_year, today)
        customer = session.get_one(Customer, row.customer_id)
        try:
            _refuse_if_frozen(session, customer.id)
        except AccountFrozen as frozen:
            raise InvalidCardLink() from frozen
        card_token = _token("dc_", customer.id, number, pepper)
        source = session.scalar(select(FundingSource).where(FundingSource.token == card_token))
        if source is None or not source.active:
            _check_limits(session, customer.id, None, now)
        claimed = session.execute(update(CardLinkToken).where(  # atomic: one winner only
            CardLinkToken.id == row.id, CardLinkToken.used_at.is_(None),
            CardLinkToken.expires_at > now).values(used_at=now))
        if claimed.rowcount != 1:
            raise InvalidCardLink()
        if source is None or not source.active:
            if source is None:
                source = FundingSource(customer_id=customer.id, kind="debit_card", last4=number[-4:],
                                       token=card_token)
                session.add(source)
            source.active, source.created_at = True, now
            session.flush()
            _notify_and_audit(session, customer, source, now, "debit_card_added", fee=format_usd(DEBIT_CARD_FEE))
        uow.commit()
        logger.info("debit card added for customer %s", customer.id)
        return DebitCardAdded(customer.first_name, source.masked_name, format_usd(DEBIT_CARD_FEE))


# --- helpers -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _catalogue() -> dict[str, Any]:
    with open(TEXTS, encoding="utf-8") as handle:
        return dict(yaml.safe_load(handle))


def email_text(template: str, **values: str) -> tuple[str, str]:
    """(subject, body) of the email `template` from the catalogue."""
    entry = _catalogue()[template]
    return str(entry["subject"]).format(**values), str(entry["body"]).format(**values)


def _refuse_if_frozen(session: Session, customer_id: int) -> None:
    # a payment method belongs to the customer, not to one account: no account is asked for
    if any(account.fraud_frozen for account in open_accounts(session, customer_id)):
        raise AccountFrozen()


def _check_limits(session: Session, customer_id: int, added_in: Optional[str], now: datetime) -> None:
    recent = select(func.count()).select_from(FundingSource).where(
        FundingSource.created_at > now - timedelta(days=1))
    if (session.scalar(recent.where(FundingSource.customer_id == customer_id)) or 0) >= MAX_NEW_PER_DAY:
        raise NewSourceLimitReached("customer")
    if added_in and (session.scalar(recent.where(FundingSource.added_in == added_in)) or 0) \
            >= MAX_NEW_PER_CONVERSATION:
        raise NewSourceLimitReached("conversation")


def _notify_and_audit(session: Session, customer: Customer, source: FundingSource, now: datetime,
                      email: str, **values: str) -> None:
    account = " and ".join(mask_account_number(a.account_number) for a in open_accounts(session, customer.id))
    subject, body = email_text(email, first_name=customer.first_name, last4=source.last4, account=account,
                               phone=SUPPORT_PHONE, **values)
    queue_message(session, to=customer.email, channel="email", kind=email, subject=subject, body=body,
                  customer_id=customer.id)
    audit.record(session, now, audit.customer(customer.id), "funding_source_added",
                 f"funding_source:{source.id}", kind=source.kind, last4=source.last4, account=account,
                 **({"routing": values["routing"]} if "routing" in values else {}))
