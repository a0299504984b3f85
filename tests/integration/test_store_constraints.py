"""The schema itself refuses bad rows, whatever code writes them; money and times stay exact."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from autofinance.adapters.store.models import Account, AutopayEnrolment, Customer, FundingSource, Payment

pytestmark = pytest.mark.integration


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@pytest.fixture
def customer(session: Session) -> Customer:
    customer = Customer(
        first_name="Maria",
        last_name="Lopez",
        email="maria.lopez@example.com",
        mobile="+14045550101",
        zip_code_hash="1" * 64,
        date_of_birth_hash="2" * 64,
        zip_code_sealed="sealed-zip",
        ssn_last4_hash="0" * 64,
    )
    session.add(customer)
    session.commit()
    return customer


def _account(customer: Customer, **overrides: Any) -> Account:
    fields: dict[str, Any] = dict(
        account_number="1000004821",
        customer=customer,
        product="loan",
        opened_on=date(2024, 1, 10),
        first_payment_date=date(2024, 2, 15),
        maturity_date=date(2030, 1, 15),
        apr=Decimal("5.4900"),
        principal_balance=Decimal("18420.55"),
        monthly_payment=Decimal("412.37"),
        payment_due_day=15,
        next_due_date=date(2026, 12, 15),
        payments_remaining=48,
    )
    return Account(**{**fields, **overrides})


@pytest.fixture
def account(session: Session, customer: Customer) -> Account:
    account = _account(customer)
    session.add(account)
    session.commit()
    return account


@pytest.fixture
def checking(session: Session, customer: Customer) -> FundingSource:
    source = FundingSource(customer=customer, kind="checking", last4="6789", token="tok_checking")
    session.add(source)
    session.commit()
    return source


def _payment(account: Account, **overrides: Any) -> Payment:
    fields: dict[str, Any] = dict(
        account=account,
        amount=Decimal("412.37"),
        scheduled_for=date(2026, 12, 15),
        confirmation_number="PMT-000001",
    )
    return Payment(**{**fields, **overrides})


def _autopay(account: Account, source: FundingSource, **overrides: Any) -> AutopayEnrolment:
    fields: dict[str, Any] = dict(
        account_id=account.id, funding_source=source, day_of_month=15, amount=Decimal("412.37")
    )
    return AutopayEnrolment(**{**fields, **overrides})


def assert_refused(session: Session, constraint: str) -> None:
    """The flush fails and the database names the constraint that refused it."""
    with pytest.raises(IntegrityError) as refused:
        session.flush()
    assert re.search(constraint, str(refused.value.orig)), str(refused.value.orig)
    session.rollback()


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-25.00")], ids=["zero", "negative"])
def test_a_payment_must_be_for_a_positive_amount(
    session: Session, account: Account, amount: Decimal
) -> None:
    session.add(_payment(account, amount=amount))
    assert_refused(session, "ck_payments_amount")


def test_an_idempotency_key_is_used_by_one_payment_only(session: Session, account: Account) -> None:
    session.add(_payment(account, idempotency_key="conv-1:pay-1"))
    session.commit()
    session.add(_payment(account, idempotency_key="conv-1:pay-1", confirmation_number="PMT-2"))
    assert_refused(session, "idempotency_key")


def test_a_confirmation_number_is_never_given_twice(session: Session, account: Account) -> None:
    session.add(_payment(account))
    session.commit()
    session.add(_payment(account))
    assert_refused(session, "confirmation_number")


def test_an_account_is_a_loan_or_a_lease_not_a_boat(session: Session, customer: Customer) -> None:
    # full loan and lease terms, so that only the product can be what is refused
    session.add(
        _account(
            customer, product="boat", money_factor=Decimal("0.00125"), residual_value=Decimal("1")
        )
    )
    assert_refused(session, "ck_accounts_product")


def test_a_lease_needs_a_residual_value(session: Session, customer: Customer) -> None:
    session.add(
        _account(customer, product="lease", apr=None, money_factor=Decimal("0.00125"))
    )
    assert_refused(session, "ck_accounts_lease_terms")


def test_a_funding_source_keeps_exactly_four_last_digits(
    session: Session, customer: Customer
) -> None:
    session.add(FundingSource(customer=customer, kind="savings", last4="482", token="tok_short"))
    assert_refused(session, "ck_funding_last4")


def test_autopay_cannot_run_on_the_29th(
    session: Session, account: Account, checking: FundingSource
) -> None:
    session.add(_autopay(account, checking, day_of_month=29))
    assert_refused(session, "ck_autopay_day")


def test_an_account_has_at_most_one_active_autopay(
    session: Session, account: Account, checking: FundingSource
) -> None:
    session.add(_autopay(account, checking))
    session.commit()
    session.add(_autopay(account, checking, day_of_month=1))
    assert_refused(session, r"uq_autopay_active_account|autopay_enrolments\.account_id")


def test_a_cancelled_autopay_does_not_block_a_new_active_one(
    session: Session, account: Account, checking: FundingSource
) -> None:
    session.add(_autopay(account, checking, active=False))
    session.add(_autopay(account, checking, active=False, day_of_month=5))
    session.add(_autopay(account, checking, day_of_month=1))
    session.commit()

    active = session.scalars(select(AutopayEnrolment.active).order_by(AutopayEnrolment.id))
    assert list(active) == [False, False, True]


def test_a_naive_datetime_is_refused_rather_than_guessed(
    session: Session, account: Account
) -> None:
    session.add(_payment(account, created_at=datetime(2026, 11, 24, 9, 30)))
    with pytest.raises(StatementError) as refused:
        session.flush()
    assert isinstance(refused.value.orig, ValueError)


def test_money_round_trips_exactly_and_is_stored_as_integer_cents(
    session: Session, account: Account
) -> None:
    session.expire_all()

    assert session.scalar(select(Account.principal_balance)) == Decimal("18420.55")
    raw = session.execute(text("SELECT principal_balance FROM accounts")).scalar_one()
    assert raw == 1842055 and isinstance(raw, int)


def test_datetimes_come_back_aware_in_utc(session: Session, account: Account) -> None:
    new_york_morning = datetime(2026, 3, 1, 9, 30, tzinfo=ZoneInfo("America/New_York"))
    session.add(_payment(account, created_at=new_york_morning))
    session.commit()
    session.expire_all()

    created_at = session.scalar(select(Payment.created_at))
    assert created_at is not None and created_at.tzinfo == timezone.utc
    assert created_at == datetime(2026, 3, 1, 14, 30, tzinfo=timezone.utc)
