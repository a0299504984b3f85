"""A total loss: the car was written off by the insurer (or stolen and not recovered).

What the customer needs at once: the payoff the insurer pays us (good for the 10 days insurers
take to settle), whether a GAP contract covers what the insurer's payment leaves owing, and a
specialist who works the claim with the insurer. Nothing is opened until the customer says yes;
then the specialist's ticket, an email with the figures for the insurer and an audit row are
written together.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Optional

from sqlalchemy.orm import Session

from autofinance.adapters.notify import queue_message
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Account, Customer
from autofinance.domain.clock import aware
from autofinance.domain.masking import mask_account_number, mask_email
from autofinance.domain.money import format_usd, to_money
from autofinance.domain.parsing import format_long_date
from autofinance.services import audit, handoff
from autofinance.services.accounts import primary_account
from autofinance.services.insurance import active_policy
from autofinance.services.payoff import PayoffQuote, payoff_amount, per_diem, quote_number

logger = logging.getLogger(__name__)

INSURER_QUOTE_DAYS = 10  # insurers settle against a 10-day payoff
LOSS_PAYEE = "Meridian Auto Finance, Total Loss Department, PO Box 105010, Atlanta, GA 30348"


@dataclass(frozen=True)
class TotalLossInfo:
    product: str  # 'loan' | 'lease'
    vehicle: str
    payoff: PayoffQuote
    gap_coverage: bool
    insurer: Optional[str]  # the insurer on file, if any
    past_due: Decimal  # GAP does not cover missed payments


@dataclass(frozen=True)
class TotalLossCase:
    info: TotalLossInfo
    ticket_number: str
    email_masked: str


def total_loss_info(customer_id: int, uow: UnitOfWork, today: date) -> TotalLossInfo:
    """The payoff for the insurer, GAP and the insurer on file; reads only."""
    with uow:
        return _info(uow.session, primary_account(uow.session, customer_id), today)


def open_total_loss_case(customer_id: int, conversation_id: str, channel: str, uow: UnitOfWork,
                         today: date, now: Optional[datetime] = None) -> TotalLossCase:
    """Queues the specialist's ticket ('total_loss'), emails the figures for the insurer and audits
    it, in one transaction. A conversation that already waits keeps its ticket."""
    now = aware(now)
    with uow:
        session = uow.session
        account = primary_account(session, customer_id)
        info = _info(session, account, today)
        masked = mask_account_number(account.account_number)
        summary = (f"Total loss reported on {info.vehicle} ({info.product} {masked}); payoff "
                   f"{format_usd(info.payoff.amount)} good through {info.payoff.good_through.isoformat()} "
                   f"(quote {info.payoff.quote_number}); GAP: {'yes' if info.gap_coverage else 'no'}; "
                   f"insurer on file: {info.insurer or 'none'}")
        ticket = handoff.queue_ticket(session, conversation_id, channel, "total_loss", summary,
                                      customer_id, now)
        customer = session.get_one(Customer, customer_id)
        _email(session, customer, masked, info, ticket.ticket_number)
        audit.record(session, now, audit.customer(customer_id), "total_loss_reported", f"account:{masked}",
                     ticket=ticket.ticket_number, quote=info.payoff.quote_number, gap=info.gap_coverage)
        uow.commit()
    logger.info("total loss reported by customer %s; ticket %s", customer_id, ticket.ticket_number)
    return TotalLossCase(info, ticket.ticket_number, mask_email(customer.email))


def _info(session: Session, account: Account, today: date) -> TotalLossInfo:
    good_through = today + timedelta(days=INSURER_QUOTE_DAYS)
    quote = PayoffQuote(payoff_amount(account, good_through, today), good_through,
                        to_money(per_diem(account)), quote_number(account, good_through))
    policy = active_policy(session, account.id)
    return TotalLossInfo(account.product, account.vehicle.description if account.vehicle else "vehicle",
                         quote, account.gap_coverage, policy.insurer if policy else None,
                         account.past_due_amount)


def _email(session: Session, customer: Customer, masked: str, info: TotalLossInfo, ticket: str) -> None:
    quote = info.payoff
    body = (f"Hi {customer.first_name}, we're sorry about your {info.vehicle}. For your insurer: the "
            f"payoff on account {masked} is {format_usd(quote.amount)} if received by "
            f"{format_long_date(quote.good_through)} (quote {quote.quote_number}")
    body += f"; {format_usd(quote.per_diem)} a day after that)." if quote.per_diem > 0 else ")."
    body += (f" The insurer should pay it to {LOSS_PAYEE}, with the account number. Until the claim "
             "is settled, keep making your monthly payments.")
    if info.gap_coverage:
        body += (" Your contract includes GAP coverage: if the insurer's payment is less than the payoff, "
                 "GAP may cover the difference; our specialist will file the GAP claim with you.")
    body += f" Your case with our total-loss specialist is {ticket}; they'll contact you by email."
    queue_message(session, to=customer.email, channel="email", kind="total_loss", customer_id=customer.id,
                  subject="Your total loss: the payoff for your insurer", body=body)

