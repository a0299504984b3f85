"""Balance, payment status, terms and history for the demo customers, read from a seeded
SQLite store."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from fixtures_store import DANA, JAMES, MARIA, TRAN, UowFactory, customer_id, set_account
from sqlalchemy import select

from autofinance.services.accounts import (
    LeaseBalance,
    LoanBalance,
    LoanTerms,
    PaymentLine,
    PaymentStatus,
    balance_summary,
    loan_terms,
    payment_history,
    payment_status,
    primary_account,
)
from autofinance.services.errors import AccountNotFound, AccountPaidOff
from autofinance.adapters.store.models import Account

TODAY = date(2026, 11, 24)


def test_maria_sees_her_loan_balance_with_a_masked_account_number(uow_factory: UowFactory) -> None:
    balance = balance_summary(customer_id(uow_factory, MARIA), uow_factory(), TODAY)

    assert balance == LoanBalance(
        account_masked="****4821",
        vehicle="2022 Toyota RAV4",
        principal_balance=Decimal("18420.55"),
        next_payment_amount=Decimal("452.18"),
        next_payment_due=date(2026, 12, 15),
        past_due_amount=Decimal("0.00"),
        days_past_due=0,
    )
    assert isinstance(balance.principal_balance, Decimal)


def test_james_sees_his_remaining_lease_payments_and_residual(uow_factory: UowFactory) -> None:
    balance = balance_summary(customer_id(uow_factory, JAMES), uow_factory(), TODAY)

    assert isinstance(balance, LeaseBalance)
    assert balance.account_masked == "****7734"
    assert balance.vehicle == "2024 Honda Accord"
    assert balance.remaining_payments == 3
    assert balance.monthly_payment == Decimal("389.00")
    assert balance.remaining_payments_total == Decimal("1167.00")
    assert balance.residual_value == Decimal("21350.00")
    assert balance.maturity_date == TODAY + timedelta(days=75)
    assert balance.annual_mileage_allowance == 12000
    assert balance.next_payment_due == date(2026, 12, 1)


def test_dana_sees_how_much_and_how_long_she_is_past_due(uow_factory: UowFactory) -> None:
    balance = balance_summary(customer_id(uow_factory, DANA), uow_factory(), TODAY)

    assert isinstance(balance, LoanBalance)
    assert balance.principal_balance == Decimal("9870.10")
    assert balance.past_due_amount == Decimal("812.40")
    assert balance.days_past_due == 45
    assert balance.next_payment_amount == Decimal("406.20")
    assert balance.next_payment_due == date(2026, 12, 5)


def test_a_next_due_date_the_store_has_not_advanced_yet_rolls_forward(uow_factory: UowFactory) -> None:
    balance = balance_summary(customer_id(uow_factory, MARIA), uow_factory(), date(2026, 12, 20))

    assert balance.next_payment_due == date(2027, 1, 15)


def test_dana_payment_status_says_how_far_behind_she_is(uow_factory: UowFactory) -> None:
    status = payment_status(customer_id(uow_factory, DANA), uow_factory(), TODAY)

    assert status == PaymentStatus(Decimal("406.20"), date(2026, 12, 5), Decimal("812.40"), 45)
    assert status.behind is True


def test_maria_is_current_with_her_next_payment_and_no_autopay(uow_factory: UowFactory) -> None:
    status = payment_status(customer_id(uow_factory, MARIA), uow_factory(), TODAY)

    assert status == PaymentStatus(Decimal("452.18"), date(2026, 12, 15), Decimal("0.00"), 0)
    assert status.behind is False


def test_james_payment_status_says_autopay_takes_it_and_from_where(uow_factory: UowFactory) -> None:
    status = payment_status(customer_id(uow_factory, JAMES), uow_factory(), TODAY)

    assert (status.next_payment_amount, status.next_payment_due) == (Decimal("389.00"), date(2026, 12, 1))
    assert (status.autopay_source, status.autopay_next_debit) == ("checking ****2244", date(2026, 12, 1))
    assert status.behind is False


def test_payment_status_rolls_a_passed_due_date_forward(uow_factory: UowFactory) -> None:
    set_account(uow_factory, MARIA, next_due_date=date(2026, 11, 15))
    status = payment_status(customer_id(uow_factory, MARIA), uow_factory(), TODAY)
    assert status.next_payment_due == date(2026, 12, 15)


def test_loan_terms_give_the_apr_payments_left_and_maturity(uow_factory: UowFactory) -> None:
    terms = loan_terms(customer_id(uow_factory, MARIA), uow_factory())

    assert terms == LoanTerms(
        product="loan",
        monthly_payment=Decimal("452.18"),
        payments_remaining=46,
        maturity_date=date(2030, 9, 15),
        apr=Decimal("5.49"),
    )


def test_lease_terms_give_the_money_factor_and_lease_end(uow_factory: UowFactory) -> None:
    terms = loan_terms(customer_id(uow_factory, JAMES), uow_factory())

    assert terms.product == "lease"
    assert terms.money_factor == Decimal("0.00125")
    assert terms.apr is None
    assert terms.payments_remaining == 3
    assert terms.maturity_date == TODAY + timedelta(days=75)


def test_payment_history_lists_the_newest_payments_first_with_masked_methods(
    uow_factory: UowFactory,
) -> None:
    history = payment_history(customer_id(uow_factory, MARIA), uow_factory())

    assert len(history) == 6
    assert history[0] == PaymentLine(
        date=date(2026, 11, 15),
        amount=Decimal("452.18"),
        fee=Decimal("0.00"),
        method="checking ****6789",
        status="posted",
        confirmation_number="MP482100H",
    )
    assert [line.date for line in history] == sorted((line.date for line in history), reverse=True)
    assert history[-1].date == date(2026, 6, 15)


def test_payment_history_honours_the_limit(uow_factory: UowFactory) -> None:
    history = payment_history(customer_id(uow_factory, MARIA), uow_factory(), limit=2)

    assert [line.date for line in history] == [date(2026, 11, 15), date(2026, 10, 15)]


def test_dana_history_stops_before_the_payments_she_missed(uow_factory: UowFactory) -> None:
    history = payment_history(customer_id(uow_factory, DANA), uow_factory())

    assert history[0].date == date(2026, 9, 5)


def test_a_customer_without_an_open_account_gets_account_not_found(uow_factory: UowFactory) -> None:
    with pytest.raises(AccountNotFound):
        balance_summary(987654, uow_factory(), TODAY)


def test_primary_account_skips_closed_accounts(uow_factory: UowFactory) -> None:
    maria = customer_id(uow_factory, MARIA)
    with uow_factory() as uow:
        account = uow.session.scalar(select(Account).where(Account.account_number == MARIA))
        assert account is not None
        account.status = "closed"
        uow.session.flush()
        with pytest.raises(AccountNotFound):
            primary_account(uow.session, maria)


def test_a_customer_whose_loan_is_paid_off_hears_so_not_that_no_account_exists(uow_factory: UowFactory) -> None:
    with pytest.raises(AccountPaidOff) as paid_off:
        balance_summary(customer_id(uow_factory, TRAN), uow_factory(), TODAY)
    assert "paid off on November 12, 2026" in paid_off.value.message and "no balance" in paid_off.value.message
    assert isinstance(paid_off.value, AccountNotFound)  # whoever expects no open account still gets one
