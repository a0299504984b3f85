"""What the demo portal page reads about a customer: a name to greet, an id to sign in as.

The page shows no account data; the lender's real portal would ask its own services for that.
"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import select

from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Account, Customer


def full_name(customer_id: int, uow: UnitOfWork) -> Optional[str]:
    """The customer's full name, or None once they are no longer in the store."""
    with uow:
        customer = uow.session.get(Customer, customer_id)
        return customer.full_name if customer is not None else None


def customer_of_account(account_number: str, uow: UnitOfWork) -> Optional[int]:
    """The id of the customer who holds the account, or None for an account we don't have."""
    with uow:
        return uow.session.scalar(
            select(Account.customer_id).where(Account.account_number == account_number))
