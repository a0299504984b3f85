"""Lease end: the buyout and return terms, and extension requests that change nothing yet."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from fixtures_store import JAMES, MARIA, UowFactory, count, customer_id, set_account
from sqlalchemy import select

from autofinance.config import Settings
from autofinance.services import lease_end, payoff
from autofinance.services.accounts import primary_account
from autofinance.services.errors import InvalidExtensionLength, NotALease
from autofinance.adapters.store.models import Account, AuditLog, OutboxMessage

TODAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)


def account_row(uow_factory: UowFactory, number: str) -> tuple[Any, ...]:
    with uow_factory() as uow:
        a = uow.session.scalars(select(Account).where(Account.account_number == number)).one()
        return (a.maturity_date, a.payments_remaining, a.monthly_payment, a.residual_value,
                a.last_extension_on, a.status, a.next_due_date)


def stored(uow_factory: UowFactory) -> tuple[Any, ...]:
    """Both accounts, the outbox and the audit log: a refusal leaves all of them unchanged."""
    return (account_row(uow_factory, JAMES), account_row(uow_factory, MARIA),
            count(uow_factory, OutboxMessage), count(uow_factory, AuditLog))


def extend(uow_factory: UowFactory, settings: Settings, months: Any,
           account: str = JAMES) -> lease_end.LeaseExtensionRequested:
    return lease_end.request_lease_extension(customer_id(uow_factory, account), months,
                                             uow_factory(), settings.public_base_url, TODAY,
                                             now=NOW)


def test_james_sees_his_buyout_maturity_and_return_terms(uow_factory: UowFactory) -> None:
    options = lease_end.lease_end_options(customer_id(uow_factory, JAMES), uow_factory(), TODAY)

    assert options.buyout_price == Decimal("22867.00") == 3 * Decimal("389.00") + \
        Decimal("21350.00") + Decimal("350.00")
    assert options.maturity_date == TODAY + timedelta(days=75) and options.days_left == 75
    assert (options.account_masked, options.vehicle) == ("****7734", "2024 Honda Accord")
    assert options.extension_months_available == 6
    assert options.monthly_payment == Decimal("389.00")
    info = options.return_info
    assert (info.inspection_window_days, info.annual_mileage_allowance) == (30, 12000)
    assert (info.excess_mileage_rate, info.disposition_fee) == (Decimal("0.20"), Decimal("395.00"))
    assert "waived" in info.disposition_fee_waiver and "Meridian" in info.disposition_fee_waiver
    assert "excess wear" in info.excess_wear


def test_james_buyout_is_itemised_and_the_parts_add_up_to_the_total(uow_factory: UowFactory) -> None:
    james = customer_id(uow_factory, JAMES)
    buyout = lease_end.lease_buyout(james, uow_factory(), TODAY)

    assert buyout == lease_end.BuyoutBreakdown(
        residual_value=Decimal("21350.00"), remaining_payments=3, monthly_payment=Decimal("389.00"),
        remaining_payments_total=Decimal("1167.00"), purchase_option_fee=Decimal("350.00"),
        total=Decimal("22867.00"), good_through=date(2026, 12, 1),
        maturity_date=TODAY + timedelta(days=75), state="CA", vehicle="2024 Honda Accord")
    parts = buyout.remaining_payments_total + buyout.residual_value + buyout.purchase_option_fee
    assert buyout.remaining_payments * buyout.monthly_payment == buyout.remaining_payments_total
    assert parts == buyout.total
    assert buyout.total == lease_end.lease_end_options(james, uow_factory(), TODAY).buyout_price
    with uow_factory() as uow:
        assert buyout.total == payoff.payoff_amount(primary_account(uow.session, james), TODAY, TODAY)


@pytest.mark.parametrize("monthly, residual, fee", [
    ("389.07", "21350.13", "350.00"), ("0.01", "0.99", "0.00"), ("612.35", "18999.99", "299.50")])
def test_the_buyout_parts_add_up_exactly_for_any_cents(uow_factory: UowFactory, monthly: str,
                                                       residual: str, fee: str) -> None:
    set_account(uow_factory, JAMES, monthly_payment=Decimal(monthly),
                residual_value=Decimal(residual), purchase_option_fee=Decimal(fee))
    buyout = lease_end.lease_buyout(customer_id(uow_factory, JAMES), uow_factory(), TODAY)
    assert buyout.remaining_payments_total == 3 * Decimal(monthly)
    assert buyout.total == 3 * Decimal(monthly) + Decimal(residual) + Decimal(fee)
    assert buyout.total == buyout.total.quantize(Decimal("0.01"))


def test_a_lease_with_no_payments_left_is_priced_for_today(uow_factory: UowFactory) -> None:
    set_account(uow_factory, JAMES, payments_remaining=0)
    buyout = lease_end.lease_buyout(customer_id(uow_factory, JAMES), uow_factory(), TODAY)
    assert (buyout.total, buyout.good_through) == (Decimal("21700.00"), TODAY)


def test_a_loan_has_no_buyout(uow_factory: UowFactory) -> None:
    with pytest.raises(NotALease):
        lease_end.lease_buyout(customer_id(uow_factory, MARIA), uow_factory(), TODAY)


def test_days_left_never_goes_below_zero(uow_factory: UowFactory) -> None:
    late = TODAY + timedelta(days=90)
    options = lease_end.lease_end_options(customer_id(uow_factory, JAMES), uow_factory(), late)
    assert options.days_left == 0


def test_a_loan_customer_gets_not_a_lease_and_nothing_changes(
        uow_factory: UowFactory, settings: Settings) -> None:
    before = stored(uow_factory)
    with pytest.raises(NotALease):
        lease_end.lease_end_options(customer_id(uow_factory, MARIA), uow_factory(), TODAY)
    with pytest.raises(NotALease):
        extend(uow_factory, settings, 3, account=MARIA)
    assert stored(uow_factory) == before


def test_an_extension_request_records_and_confirms_receipt_but_leaves_the_lease_alone(
        uow_factory: UowFactory, settings: Settings) -> None:
    before = account_row(uow_factory, JAMES)
    requested = extend(uow_factory, settings, 3)

    assert account_row(uow_factory, JAMES) == before
    assert (requested.months, requested.monthly_payment, requested.created) == (
        3, Decimal("389.00"), True)
    assert requested.maturity_date == date(2027, 2, 7)
    assert requested.requested_maturity_date == date(2027, 5, 7)
    assert requested.reference == "LX77342611243"
    assert "lease-end specialist" in requested.message and "confirm" in requested.message
    assert "still ends on February 7, 2027" in requested.message
    with uow_factory() as uow:
        message = uow.session.scalars(select(OutboxMessage)).one()
        assert (message.to, message.kind) == ("james.chen@example.com", "lease_extension_requested")
        assert "LX77342611243" in message.body and "7301007734" not in message.body
        audit = uow.session.scalars(select(AuditLog)).one()
        assert (audit.action, audit.subject) == ("lease_extension_requested",
                                                 "lease_extension:LX77342611243")
        assert audit.details == {"account": "****7734", "months": 3,
                                 "maturity_date": "2027-02-07",
                                 "requested_maturity_date": "2027-05-07"}


def test_the_summary_before_a_yes_moves_the_end_by_the_months_at_the_same_payment(
        uow_factory: UowFactory) -> None:
    before = stored(uow_factory)
    preview = lease_end.preview_lease_extension(customer_id(uow_factory, JAMES), 3, uow_factory())

    assert preview == lease_end.LeaseExtensionPreview(3, Decimal("389.00"), date(2027, 2, 7),
                                                      date(2027, 5, 7))
    assert stored(uow_factory) == before  # nothing is sent before the yes


@pytest.mark.parametrize("account, months, refused", [
    (MARIA, 3, NotALease), (JAMES, 7, InvalidExtensionLength), (JAMES, 0, InvalidExtensionLength)])
def test_the_summary_is_only_for_a_lease_and_1_to_6_months(
        account: str, months: int, refused: type, uow_factory: UowFactory) -> None:
    with pytest.raises(refused):
        lease_end.preview_lease_extension(customer_id(uow_factory, account), months, uow_factory())


def test_asking_twice_the_same_day_sends_one_confirmation(
        uow_factory: UowFactory, settings: Settings) -> None:
    first = extend(uow_factory, settings, 2)
    again = extend(uow_factory, settings, 2)

    assert again.created is False and again.reference == first.reference
    assert count(uow_factory, OutboxMessage) == count(uow_factory, AuditLog) == 1
    assert extend(uow_factory, settings, 1).created  # a different request is a new one


@pytest.mark.parametrize("months", [0, 7, -1, True, 2.5, "3", None])
def test_an_extension_of_other_than_1_to_6_months_is_refused_and_nothing_changes(
        months: Any, uow_factory: UowFactory, settings: Settings) -> None:
    before = stored(uow_factory)
    with pytest.raises(InvalidExtensionLength):
        extend(uow_factory, settings, months)
    assert stored(uow_factory) == before
