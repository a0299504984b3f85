"""The vehicle's title: what happens to it at payoff, and where its release stands after.

While a loan is open Meridian is the lienholder. Once the payoff has cleared, the lien is
released the way the state keeps the title: electronically (the release goes to the state's
records, and the state issues the title to the owner) or on paper (we sign the release on the
title we hold and mail it). A lease is different: the lessor owns the car and keeps the title;
there is no lien to release unless the customer buys the car. Nothing here writes: the back
office records each step of a release in `vehicle_titles`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Account, Customer, VehicleTitle
from autofinance.domain.calendar import add_business_days
from autofinance.services.accounts import primary_account
from autofinance.services.errors import AccountNotFound

logger = logging.getLogger(__name__)

# business days from a cleared payoff to the release: sent to the state, or the paper title mailed
RELEASE_BUSINESS_DAYS = {"electronic": 3, "paper": 10}
MAIL_DAYS = 10  # a mailed title should have arrived within this many days


@dataclass(frozen=True)
class TitleStatus:
    """Where the title stands. `stage`: 'lease' (the lessor holds it), 'open' (a lien while the
    loan runs) or 'paid_off'; `status` is the release's step once paid off."""

    stage: str
    vehicle: str
    state: Optional[str]  # 'GA'; None when no title record is on file
    kind: Optional[str]  # 'electronic' | 'paper'
    status: Optional[str]  # 'lien_held' | 'release_requested' | 'released' | 'mailed'
    release_business_days: Optional[int]
    paid_off_on: Optional[date]
    released_on: Optional[date]
    mailed_on: Optional[date]
    expected_by: Optional[date]  # when the next step should be done (pending steps only)
    mailed_to_city: str  # "Portland, OR": where a paper title goes, without the street
    overdue: bool  # a mailed title that should have arrived by now


def title_status(customer_id: int, uow: UnitOfWork, today: date) -> TitleStatus:
    """The title of the customer's open account, or of the loan they paid off most recently."""
    with uow:
        session = uow.session
        account = _title_account(session, customer_id)
        customer = session.get_one(Customer, customer_id)
        vehicle = account.vehicle.description if account.vehicle else "vehicle"
        city = ", ".join(part for part in (customer.city, customer.state) if part)
        if account.product == "lease":
            return TitleStatus("lease", vehicle, None, None, None, None, None, None, None, None, city, False)
        title = session.scalar(select(VehicleTitle).where(VehicleTitle.account_id == account.id))
        stage = "paid_off" if account.status == "closed" else "open"
        if title is None:
            return TitleStatus(stage, vehicle, None, None, None, None, account.paid_off_on, None, None,
                               None, city, False)
        return TitleStatus(stage, vehicle, title.state, title.kind, title.status,
                           RELEASE_BUSINESS_DAYS[title.kind], account.paid_off_on, title.released_on,
                           title.mailed_on, _expected_by(title), city,
                           title.mailed_on is not None and today > title.mailed_on + timedelta(days=MAIL_DAYS))


def _title_account(session: Session, customer_id: int) -> Account:
    """The open account (the chosen one, with several) if there is one, else the loan paid off
    most recently."""
    accounts = session.scalars(select(Account).where(Account.customer_id == customer_id)
                               .order_by(Account.id)).all()
    if any(a.status != "closed" for a in accounts):
        return primary_account(session, customer_id)
    paid_off = sorted((a for a in accounts if a.paid_off_on is not None), key=lambda a: a.paid_off_on)
    if not paid_off:
        raise AccountNotFound()
    return paid_off[-1]


def _expected_by(title: VehicleTitle) -> Optional[date]:
    if title.status == "release_requested" and title.release_requested_on is not None:
        return add_business_days(title.release_requested_on, RELEASE_BUSINESS_DAYS[title.kind])
    if title.status == "released" and title.kind == "paper" and title.released_on is not None:
        return add_business_days(title.released_on, 2)  # signed, then mailed within two days
    return None
