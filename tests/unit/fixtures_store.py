"""Helpers for service tests over the seeded demo store (`uow_factory` in conftest.py).

Plain functions rather than fixtures, so each test reads what it looks up; they open their own
unit of work, so they see only what a service committed.
"""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import func, select, update

from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Account, FundingSource, OutboxMessage, Payment

UowFactory = Callable[[], UnitOfWork]

MARIA, JAMES, DANA, ROBERT = "7301004821", "7301007734", "7301005530", "7301009912"
KEISHA = "7301006618"  # the fees demo customer: a late fee and a returned payment, both owed
TRAN = "7301003350"  # the title demo customer: a loan paid off 12 days ago, its paper title mailed
# the several-accounts demo customer, Alex Morgan: a loan (2021 Toyota Camry) and a lease (2023 Honda CR-V)
ALEX_LOAN, ALEX_LEASE = "7301009911", "7301009922"


def account_id(uow_factory: UowFactory, account_number: str) -> int:
    with uow_factory() as uow:
        found = uow.session.scalar(select(Account.id).where(Account.account_number == account_number))
        assert found is not None
        return found


def customer_id(uow_factory: UowFactory, account_number: str) -> int:
    with uow_factory() as uow:
        account = uow.session.scalar(select(Account).where(Account.account_number == account_number))
        assert account is not None
        return account.customer_id


def source_id(uow_factory: UowFactory, last4: str) -> int:
    with uow_factory() as uow:
        found = uow.session.scalar(select(FundingSource.id).where(FundingSource.last4 == last4))
        assert found is not None
        return found


def count(uow_factory: UowFactory, model: type, *where: Any) -> int:
    with uow_factory() as uow:
        return uow.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def stored(uow_factory: UowFactory) -> tuple[int, int]:
    """(payments, outbox messages): a refusal must leave both unchanged."""
    return count(uow_factory, Payment), count(uow_factory, OutboxMessage)


def set_account(uow_factory: UowFactory, account_number: str, **values: Any) -> None:
    with uow_factory() as uow:
        uow.session.execute(
            update(Account).where(Account.account_number == account_number).values(**values)
        )
        uow.commit()


def set_source(uow_factory: UowFactory, last4: str, **values: Any) -> None:
    with uow_factory() as uow:
        uow.session.execute(
            update(FundingSource).where(FundingSource.last4 == last4).values(**values)
        )
        uow.commit()
