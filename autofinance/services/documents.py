"""Statements and the contract: which exist, signed links to them, and their text.

A link is a bearer credential (whoever holds it may read the document until it expires), so it
is signed with HMAC-SHA256 under the server pepper, carries its own expiry and is emailed only
to the address on file. Statements are built from what the store really holds: it has no
historical balances, so a statement lists the period's payments and today's balance, labelled so.
"""
from __future__ import annotations

import calendar
import hmac
import logging
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Optional, Union
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from autofinance.adapters.notify import queue_message
from autofinance.adapters.security import keyed_hash
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Account, Customer, Payment
from autofinance.config import Secret
from autofinance.domain.calendar import add_months
from autofinance.domain.clock import aware, utcnow
from autofinance.domain.masking import mask_account_number, mask_email
from autofinance.domain.money import format_usd
from autofinance.domain.parsing import format_long_date
from autofinance.services import audit, tax_documents
from autofinance.services.accounts import open_accounts, payment_line, primary_account
from autofinance.services.errors import UnknownDocument

logger = logging.getLogger(__name__)

STATEMENT_MONTHS = 12
MAX_LINK_MINUTES = 7 * 24 * 60
SUPPORT_PHONE = "1-800-555-0199"
_SIGNING_PREFIX = "document-link|"  # keeps link signatures apart from other keyed hashes
_DOCUMENT_ID = re.compile(r"statement-[0-9]{4}-(?:0[1-9]|1[0-2])|contract|interest-[0-9]{4}")
# a customer with several accounts: each document id names its account by the last four digits
_FOR_ACCOUNT = re.compile(r"(?P<document>.+)-for-(?P<last4>[0-9]{4})")


@dataclass(frozen=True)
class StatementInfo:
    period_end: date  # a statement's last day; the contract's date for the contract
    label: str  # 'October 2026', 'Lease contract'
    document_id: str  # 'statement-2026-10', 'contract'
    kind: str = "statement"  # or 'contract', or 'interest' (a year's interest statement)


@dataclass(frozen=True)
class DocumentLinkSent:
    label: str
    destination_masked: str
    expires_in_hours: int


@dataclass(frozen=True)
class RequestedDocument:
    """What a request for a document by name came to: the link sent, or None if nothing matched."""

    sent: Optional[DocumentLinkSent]
    is_contract: bool
    oldest_statement: Optional[str]  # the oldest statement on offer ('November 2025'), if any
    undecided: bool = False  # "one of my old statements, not sure which": nothing sent, ask which


def account_documents(account: Account, today: date) -> list[StatementInfo]:
    """Newest statement first: one per month before this one, since the account opened."""
    found = []
    for back in range(1, STATEMENT_MONTHS + 1):
        month = add_months(today.replace(day=1), -back)
        end = month.replace(day=calendar.monthrange(month.year, month.month)[1])
        if end <= account.opened_on:
            break
        found.append(StatementInfo(end, f"{calendar.month_name[end.month]} {end.year}",
                                   f"statement-{end:%Y-%m}"))
    kind = "Lease" if account.product == "lease" else "Loan"
    return found + [StatementInfo(account.opened_on, f"{kind} contract", "contract", "contract")]


def interest_document(account: Account, year: int, today: date) -> Optional[StatementInfo]:
    """A loan's interest statement for `year` (from the year it opened to this one); None for
    a lease or another year."""
    if account.product == "lease" or not account.opened_on.year <= year <= today.year:
        return None
    return StatementInfo(min(date(year, 12, 31), today), f"{year} interest statement",
                         tax_documents.year_document_id(year), "interest")


def _find(account: Account, document_id: str, today: date) -> StatementInfo:
    """The customer's own document, or UnknownDocument (another's, too old, or made up)."""
    listed = account_documents(account, today)
    if document_id.startswith("interest-") and _DOCUMENT_ID.fullmatch(document_id):
        listed = [d for d in [interest_document(account, int(document_id[-4:]), today)] if d]
    found = next((d for d in listed if d.document_id == document_id), None)
    if found is None:
        raise UnknownDocument()
    return found


def for_account(session: Session, account: Account, listed: list[StatementInfo]) -> list[StatementInfo]:
    """The documents' ids as links carry them: for a customer with several open accounts each
    names its account ('statement-2026-10-for-9922'), so a link opens that account's document."""
    if len(open_accounts(session, account.customer_id)) < 2:
        return listed
    return [replace(d, document_id=f"{d.document_id}-for-{account.account_number[-4:]}") for d in listed]


def _document_account(session: Session, customer_id: int, document_id: str) -> tuple[Account, str]:
    """The account a document id is about (its tag, else the account in play) and the id untagged;
    a tag names only an open account of this customer."""
    tagged = _FOR_ACCOUNT.fullmatch(document_id)
    if tagged is None:
        return primary_account(session, customer_id), document_id
    account = next((a for a in open_accounts(session, customer_id)
                    if a.account_number.endswith(tagged["last4"])), None)
    if account is None:
        raise UnknownDocument()
    return account, tagged["document"]


def list_statements(customer_id: int, uow: UnitOfWork, today: date) -> list[StatementInfo]:
    """The last 12 monthly statements (newest first), then the contract."""
    with uow:
        account = primary_account(uow.session, customer_id)
        return for_account(uow.session, account, account_documents(account, today))


_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_MONTHS |= {name.lower(): number for number, name in enumerate(calendar.month_abbr) if name}
_MONTHS["sept"] = 9


# "one of my old statements", "not sure which month yet", "some older statements": a statement,
# but not yet which one ("my last / previous statement" names the latest)
_UNDECIDED = re.compile(
    r"\b(not sure which|(don'?t|do not|dont) know which|one of (my|the|those)|some of (my|the)"
    r"|an? (old|older|earlier|past) (statement|one)|(old|older|earlier|past|previous) statements"
    r"|which (month|one)s? (yet|exactly))\b", re.IGNORECASE)


def is_undecided(asked: str) -> bool:
    """Whether the customer wants a statement without having decided which (no month named)."""
    return bool(_UNDECIDED.search(asked))


def choose_document(listed: list[StatementInfo], asked: str) -> Optional[StatementInfo]:
    """The document a customer names: "the contract", "march", "my oct 2026 statement", "latest".

    Nothing named means the latest statement; a month named without a year means its latest one.
    None when what they named is not among theirs (too old, or before the account opened).
    """
    words = re.findall(r"[a-z]+|\d{4}", asked.lower())
    if "contract" in words or "agreement" in words:
        return next((d for d in listed if d.kind == "contract"), None)
    statements = [d for d in listed if d.kind == "statement"]
    month, year = _named_period(asked)
    if month is None and year is None:
        return statements[0] if statements else None
    return next((d for d in statements if (month is None or d.period_end.month == month)
                 and (year is None or d.period_end.year == year)), None)


def _signature(customer_id: int, document_id: str, exp: int, pepper: Secret) -> str:
    return keyed_hash(f"{_SIGNING_PREFIX}{customer_id}|{document_id}|{exp}", pepper)


def document_link(customer_id: int, document_id: str, base_url: str, pepper: Secret,
                  now: Optional[datetime] = None, ttl_minutes: int = 60 * 24) -> str:
    """A signed URL to one document of one customer, good for `ttl_minutes` (at most 7 days)."""
    if not _DOCUMENT_ID.fullmatch(document_id):
        raise UnknownDocument()
    if not 0 < ttl_minutes <= MAX_LINK_MINUTES:
        raise ValueError("ttl_minutes must be between 1 and 7 days")
    exp = int((aware(now) + timedelta(minutes=ttl_minutes)).timestamp())
    query = urlencode({"c": customer_id, "exp": exp,
                       "sig": _signature(customer_id, document_id, exp, pepper)})
    return f"{base_url.rstrip('/')}/documents/{quote(document_id)}?{query}"


def verify_document_link(customer_id: Union[int, str], document_id: str, exp: Union[int, str],
                         sig: str, pepper: Secret, now: Optional[datetime] = None) -> bool:
    """True only for an untampered link before its expiry; values may come raw from a URL."""
    try:
        customer, expires = int(customer_id), int(exp)
    except (TypeError, ValueError):
        return False
    if not _DOCUMENT_ID.fullmatch(document_id) or not isinstance(sig, str):
        return False
    expected = _signature(customer, document_id, expires, pepper)
    genuine = hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace"))
    return genuine and aware(now).timestamp() < expires


def send_document_link(customer_id: int, document_id: str, uow: UnitOfWork, base_url: str,
                       pepper: Secret, timezone: str, now: Optional[datetime] = None
                       ) -> DocumentLinkSent:
    """Email a 24-hour link to the address on file: the link never appears in the chat."""
    now = aware(now)
    with uow:
        account, untagged = _document_account(uow.session, customer_id, document_id)
        found = _find(account, untagged, _lender_date(now, timezone))
        return _email_link(uow, customer_id, for_account(uow.session, account, [found])[0], base_url,
                           pepper, now)


def send_requested_document(customer_id: int, asked: str, uow: UnitOfWork, base_url: str,
                            pepper: Secret, timezone: str, now: Optional[datetime] = None
                            ) -> RequestedDocument:
    """Email a link to the document the customer names ("March", "the contract"; the latest
    statement if none), or send nothing when none of theirs matches (`choose_document`)."""
    now = aware(now)
    with uow:
        account = primary_account(uow.session, customer_id)
        listed = for_account(uow.session, account, account_documents(account, _lender_date(now, timezone)))
        statements = [d for d in listed if d.kind == "statement"]
        oldest = statements[-1].label if statements else None
        chosen = choose_document(listed, asked)
        if chosen is not None and chosen.kind == "statement" and is_undecided(asked) \
                and _named_period(asked) == (None, None):
            return RequestedDocument(None, False, oldest, undecided=True)
        if chosen is None:
            return RequestedDocument(None, False, oldest)
        sent = _email_link(uow, customer_id, chosen, base_url, pepper, now)
        return RequestedDocument(sent, chosen.kind == "contract", oldest)


def _named_period(asked: str) -> tuple[Optional[int], Optional[int]]:
    """The month and the year a request names, each None if it names none."""
    words = re.findall(r"[a-z]+|\d{4}", asked.lower())
    month = next((_MONTHS[w] for w in words if w in _MONTHS and w != "may"), None)
    if month is None and re.search(r"^may\b|\b(for|the|from) may\b|\bmay (statement|\d{4})", asked.lower()):
        month = 5  # "may" is a month only where it cannot be the verb
    return month, next((int(w) for w in words if w.isdigit()), None)


def send_interest_statement(customer_id: int, year: int, uow: UnitOfWork, base_url: str,
                            pepper: Secret, timezone: str, now: Optional[datetime] = None
                            ) -> tuple[tax_documents.InterestStatement, Optional[DocumentLinkSent]]:
    """The year's interest (NoInterestStatement for a lease) and a 24-hour link to its
    statement, emailed to the address on file (never shown in the chat); no link for a year
    without posted payments (None), and UnknownDocument for a year before the loan or after today."""
    now = aware(now)
    today = _lender_date(now, timezone)
    with uow:
        account = primary_account(uow.session, customer_id)
        figures = tax_documents.interest_of(account, year, uow, today)
        found = interest_document(account, year, today)
        if found is None:
            raise UnknownDocument()
        if figures.payments == 0:
            return figures, None
        return figures, _email_link(uow, customer_id, for_account(uow.session, account, [found])[0],
                                    base_url, pepper, now)


def _lender_date(now: datetime, timezone: str) -> date:
    """The lender's today: which statements exist depends on the month where the lender is."""
    return now.astimezone(ZoneInfo(timezone)).date()


def _email_link(uow: UnitOfWork, customer_id: int, found: StatementInfo, base_url: str,
                pepper: Secret, now: datetime) -> DocumentLinkSent:
    """Queue the email with the link and audit it, then commit (the caller's unit of work)."""
    session = uow.session
    customer = session.get_one(Customer, customer_id)
    link = document_link(customer_id, found.document_id, base_url, pepper, now)
    what = found.label if found.kind in ("contract", "interest") else f"{found.label} statement"
    queue_message(
        session, to=customer.email, channel="email", kind="document_link",
        customer_id=customer_id, subject=f"Your Meridian Auto Finance {what}",
        body=f"Here is the link to your {what}: {link}\nIt works for 24 hours. Do not forward "
             f"this email: anyone with the link can open the document. Questions? Call "
             f"{SUPPORT_PHONE}.",
        pepper=pepper,
    )
    masked = mask_email(customer.email)
    audit.record(session, now, audit.customer(customer_id), "document_link_sent",
                 f"customer:{customer_id}", document_id=found.document_id, to=masked)
    uow.commit()
    logger.info("document link %s sent to customer %s", found.document_id, customer_id)
    return DocumentLinkSent(found.label, masked, 24)


def render_statement(customer_id: int, document_id: str, uow: UnitOfWork,
                     today: Optional[date] = None) -> str:
    """The document as plain text (the page escapes it); `today` defaults to the UTC date."""
    today = today or utcnow().date()
    with uow:
        account, untagged = _document_account(uow.session, customer_id, document_id)
        found = _find(account, untagged, today)
        vehicle = account.vehicle.description if account.vehicle else "vehicle"
        head = ["Meridian Auto Finance",
                f"Account {mask_account_number(account.account_number)} "
                f"({account.product}, {vehicle})", ""]
        if found.kind == "contract":
            return "\n".join(head + _contract_lines(account))
        if found.kind == "interest":
            return "\n".join(head + tax_documents.render_interest_statement(
                account, found.period_end.year, uow, today))
        start = max(found.period_end.replace(day=1), account.opened_on)
        payments = uow.session.scalars(
            select(Payment).options(selectinload(Payment.funding_source))
            .where(Payment.account_id == account.id, Payment.status != "cancelled",
                   Payment.scheduled_for.between(start, found.period_end))
            .order_by(Payment.scheduled_for, Payment.id)).all()
        period = f"{format_long_date(start)} to {format_long_date(found.period_end)}"
        lines = head + [f"Monthly statement: {found.label}", f"Period: {period}",
                        "", "Payments in this period:"]
        for p in map(payment_line, payments):
            fee = f" + {format_usd(p.fee)} fee" if p.fee else ""
            lines.append(f"  {format_long_date(p.date)}  {format_usd(p.amount)}{fee}  {p.status}"
                         f"  {p.method}  confirmation {p.confirmation_number}")
        posted = sum((p.amount for p in payments if p.status == "posted"), Decimal("0.00"))
        lines += ["  None."] if not payments else []
        lines += [f"Total posted in this period: {format_usd(posted)}", "",
                  f"Your account today, {format_long_date(today)}:"] + _today_lines(account)
        lines += ["", "Balances on past dates are not shown on this statement; the figures "
                      f"above are today's. Questions? Call {SUPPORT_PHONE}."]
        return "\n".join(lines)


def _today_lines(account: Account) -> list[str]:
    if account.product == "lease":
        left = account.monthly_payment * account.payments_remaining
        return [f"  Remaining lease payments today: {account.payments_remaining} of "
                f"{format_usd(account.monthly_payment)} ({format_usd(left)})",
                f"  Residual value: {format_usd(account.residual_value or 0)}"]
    return [f"  Principal balance today: {format_usd(account.principal_balance)}",
            f"  Monthly payment: {format_usd(account.monthly_payment)}"]


def _contract_lines(account: Account) -> list[str]:
    lines = [f"{'Lease' if account.product == 'lease' else 'Loan'} contract summary",
             f"Contract date: {format_long_date(account.opened_on)}",
             f"First payment: {format_long_date(account.first_payment_date)}",
             f"Ends: {format_long_date(account.maturity_date)}",
             f"Monthly payment: {format_usd(account.monthly_payment)}"]
    if account.product == "lease":
        lines += [f"Residual value: {format_usd(account.residual_value or 0)}",
                  f"Purchase-option fee: {format_usd(account.purchase_option_fee or 0)}",
                  f"Mileage allowance: {account.annual_mileage_allowance or 0:,} miles a year"]
    elif account.apr is not None:
        lines.append(f"APR: {account.apr.quantize(Decimal('0.01'))}%")
    return lines + ["", "This is a summary of the terms on file, not a copy of your signed "
                        f"contract. For a copy of the signed contract, call {SUPPORT_PHONE}."]

