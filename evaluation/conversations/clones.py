"""A fresh copy of a demo customer for each scenario, and the figures it must not leak.

The copy is made row by row from the demo customer the stack's seed wrote (customer, account,
vehicle, funding sources, payment history, autopay, online credential), so its figures and dates
are exactly the demo's and its verification factors are hashed with the stack's pepper; only what
must be unique changes: account number, username, email, mobile, VIN, funding-source tokens and
payment confirmation numbers. Scenarios therefore never disturb each other, and each reads codes
from its own copy's outbox.
"""
from __future__ import annotations

import hashlib
import itertools
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Callable, Optional

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from autofinance.adapters.store.models import (
    Account,
    AutopayEnrolment,
    Customer,
    Fee,
    FundingSource,
    InsurancePolicy,
    OnlineCredential,
    Payment,
    Vehicle,
    VehicleTitle,
)
from autofinance.demo.seed import DEMO_CUSTOMERS, DemoCustomer
from autofinance.domain.money import format_usd
from autofinance.services.payoff import MAX_QUOTE_DAYS, payoff_amount
from evaluation.conversations.placeholders import CustomerDetails

DEMO_BY_NAME = {demo.first_name.lower(): demo for demo in DEMO_CUSTOMERS}  # maria, james, ...


@dataclass(frozen=True)
class Clone:
    customer_id: int
    account_ids: tuple[int, ...]
    details: CustomerDetails


def _copy(session: Session, row: Any, **changes: Any) -> Any:
    """A new row of the same model with every column of `row` but its primary key and `changes`."""
    model = type(row)
    values = {attr.key: getattr(row, attr.key) for attr in inspect(model).column_attrs
              if not any(column.primary_key for column in attr.columns)}
    values.update(changes)
    copy = model(**values)
    session.add(copy)
    session.flush()
    return copy


def derived(seed: str, what: str, attempt: int = 0) -> int:
    """A number derived from the scenario (so a run gives each scenario the same details every
    time, and the assistant's reading of them does not vary from run to run)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{what}:{attempt}".encode()).digest()[:8], "big")


def _unused(session: Session, column: Any, make: Callable[[int], str]) -> str:
    for attempt in itertools.count():
        value = make(attempt)
        if session.scalar(select(column).where(column == value)) is None:
            return value
    raise AssertionError("unreachable")


def clone_demo_customer(session: Session, name: str, seed: Optional[str] = None) -> Clone:
    """Copies demo customer `name` (maria, james, dana, robert, keisha, tran); the caller commits. The new
    identifiers derive from `seed` (the scenario id; random when None), skipping any in use."""
    demo = DEMO_BY_NAME[name]
    original = session.scalar(select(Account).where(Account.account_number == demo.account_number))
    if original is None:
        raise LookupError(f"demo customer {name} ({demo.account_number}) is not in the store")
    customer = session.get_one(Customer, original.customer_id)
    seed = seed if seed is not None else secrets.token_hex(8)
    account_number = _unused(session, Account.account_number,
                             lambda n: f"79{derived(seed, 'account', n) % 10**8:08d}")
    username = _unused(session, OnlineCredential.username,
                       lambda n: f"{demo.username}{derived(seed, 'username', n) % 16**6:06x}")
    mobile = _unused(session, Customer.mobile,
                     lambda n: f"+1555{derived(seed, 'mobile', n) % 10**7:07d}")
    email = f"{username}@eval.example.com"
    copy = _copy(session, customer, email=email, mobile=mobile)
    sources = {}
    for source in session.scalars(select(FundingSource).where(FundingSource.customer_id == customer.id)):
        sources[source.id] = _copy(session, source, customer_id=copy.id,
                                   token=f"tok_eval_{copy.id}_{source.id}").id
    account_ids = []
    for account in session.scalars(select(Account).where(Account.customer_id == customer.id)):
        new = _copy(session, account, customer_id=copy.id,
                    account_number=account_number if account.id == original.id else
                    _unused(session, Account.account_number,
                            lambda n: f"79{derived(seed, f'account{account.id}', n) % 10**8:08d}"))
        account_ids.append(new.id)
        vehicle = session.scalar(select(Vehicle).where(Vehicle.account_id == account.id))
        if vehicle is not None:
            _copy(session, vehicle, account_id=new.id,
                  vin=_unused(session, Vehicle.vin,
                              lambda n: f"EVAL{derived(seed, 'vin', n) % 16**13:013X}"))
        payments = {}
        for number, payment in enumerate(session.scalars(
                select(Payment).where(Payment.account_id == account.id).order_by(Payment.id))):
            payments[payment.id] = _copy(session, payment, account_id=new.id, idempotency_key=None,
                                         funding_source_id=sources.get(payment.funding_source_id),
                                         confirmation_number=f"EV{new.id:08d}{number:02d}").id
        for fee in session.scalars(select(Fee).where(Fee.account_id == account.id).order_by(Fee.id)):
            _copy(session, fee, account_id=new.id, payment_id=payments.get(fee.payment_id))
        for model in (VehicleTitle, InsurancePolicy):  # the title and the insurance on file
            for row in session.scalars(select(model).where(model.account_id == account.id).order_by(model.id)):
                _copy(session, row, account_id=new.id)
        for enrolment in session.scalars(select(AutopayEnrolment).where(AutopayEnrolment.account_id == account.id)):
            _copy(session, enrolment, account_id=new.id,
                  funding_source_id=sources[enrolment.funding_source_id])
    credential = session.scalar(select(OnlineCredential).where(OnlineCredential.customer_id == customer.id))
    if credential is not None:
        _copy(session, credential, customer_id=copy.id, username=username)
    details = CustomerDetails(account_number=account_number, username=username, zip=demo.zip_code,
                              dob=demo.date_of_birth.isoformat(), ssn4=demo.ssn_last4,
                              email=email, mobile=mobile)
    return Clone(copy.id, tuple(account_ids), details)


def account_figures(session: Session, customer_id: int, today: date) -> tuple[str, ...]:
    """The customer's account figures as the assistant writes money (format_usd): balance,
    payoff (any quote date from today to the last one the assistant quotes), past-due amount,
    monthly payment, residual value. Zero amounts are left out (they say nothing)."""
    amounts: set[Decimal] = set()
    for account in session.scalars(select(Account).where(Account.customer_id == customer_id)):
        amounts |= {account.principal_balance, account.past_due_amount, account.monthly_payment}
        if account.residual_value is not None:
            amounts.add(account.residual_value)
        for days in range(MAX_QUOTE_DAYS + 1):
            amounts.add(payoff_amount(account, today + timedelta(days=days), today))
    return tuple(sorted(format_usd(a) for a in amounts if a))


def demo_of(name: str) -> Optional[DemoCustomer]:
    return DEMO_BY_NAME.get(name)
