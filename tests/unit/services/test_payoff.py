"""Payoff amounts to the cent: principal plus per-diem interest, or a lease buyout."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from fixtures_store import DANA, JAMES, MARIA, ROBERT, UowFactory, count, customer_id, set_account, stored
from sqlalchemy import select

from autofinance.config import Settings
from autofinance.services.errors import InvalidPayoffDate
from autofinance.services.payoff import PayoffQuote, email_payoff_quote, payoff_amount, payoff_quote
from autofinance.adapters.store.models import Account, AuditLog, OutboxMessage

TODAY = date(2026, 11, 24)
CENT = Decimal("0.01")


def interest(principal: str, apr: str, days: int) -> Decimal:
    """The contract's formula, written out: principal × APR ÷ 100 ÷ 365 × days, rounded once."""
    daily = Decimal(principal) * Decimal(apr) / Decimal(100) / Decimal(365)
    return (daily * days).quantize(CENT, rounding=ROUND_HALF_UP)


def payoff_on(uow_factory: UowFactory, number: str, on: date) -> Decimal:
    """`payoff_amount` of a stored account, called while its unit of work is open."""
    with uow_factory() as uow:
        found = uow.session.scalar(select(Account).where(Account.account_number == number))
        assert found is not None
        return payoff_amount(found, on, TODAY)


@pytest.mark.parametrize("number, principal, apr, days, expected", [
    # 18420.55 × 0.0549 ÷ 365 = 2.77065... a day; × 10 = 27.7065 -> 27.71
    (MARIA, "18420.55", "5.49", 10, Decimal("18448.26")),
    (MARIA, "18420.55", "5.49", 0, Decimal("18420.55")),
    # 9870.10 × 0.089 ÷ 365 = 2.40668... a day; × 30 = 72.2005 -> 72.20
    (DANA, "9870.10", "8.90", 30, Decimal("9942.30")),
    # 3215.77 × 0.039 ÷ 365 = 0.34360... a day -> 0.34
    (ROBERT, "3215.77", "3.90", 1, Decimal("3216.11")),
])
def test_loan_payoff_is_principal_plus_per_diem_interest_to_the_day(
    uow_factory: UowFactory, number: str, principal: str, apr: str, days: int, expected: Decimal,
) -> None:
    assert Decimal(principal) + interest(principal, apr, days) == expected
    assert payoff_on(uow_factory, number, TODAY + timedelta(days=days)) == expected


def test_interest_is_rounded_once_at_the_end_not_each_day(uow_factory: UowFactory) -> None:
    rounded_daily = Decimal("2.77") * 10  # 27.70: a cent short of the exact 27.7065 -> 27.71
    amount = payoff_on(uow_factory, MARIA, TODAY + timedelta(days=10))
    assert amount - Decimal("18420.55") == Decimal("27.71") != rounded_daily


def test_fees_due_are_part_of_the_loan_payoff(uow_factory: UowFactory) -> None:
    set_account(uow_factory, MARIA, fees_due=Decimal("25.00"))
    assert payoff_on(uow_factory, MARIA, TODAY) == Decimal("18445.55")


def test_lease_buyout_is_remaining_payments_residual_and_purchase_option_fee(
    uow_factory: UowFactory,
) -> None:
    expected = 3 * Decimal("389.00") + Decimal("21350.00") + Decimal("350.00")
    assert expected == Decimal("22867.00")
    assert payoff_on(uow_factory, JAMES, TODAY) == expected
    assert payoff_on(uow_factory, JAMES, TODAY + timedelta(days=20)) == expected


def test_payoff_amount_refuses_a_day_in_the_past(uow_factory: UowFactory) -> None:
    with pytest.raises(ValueError):
        payoff_on(uow_factory, MARIA, TODAY - timedelta(days=1))


def test_quote_gives_amount_per_diem_and_a_stable_quote_number(uow_factory: UowFactory) -> None:
    maria = customer_id(uow_factory, MARIA)
    good_through = TODAY + timedelta(days=10)

    quote = payoff_quote(maria, good_through, uow_factory(), TODAY)

    assert quote == PayoffQuote(
        amount=Decimal("18448.26"),
        good_through=date(2026, 12, 4),
        per_diem=Decimal("2.77"),
        quote_number="PQ4821261204",
    )
    assert payoff_quote(maria, good_through, uow_factory(), TODAY).quote_number == "PQ4821261204"


def test_a_lease_quote_has_no_per_diem(uow_factory: UowFactory) -> None:
    quote = payoff_quote(customer_id(uow_factory, JAMES), TODAY, uow_factory(), TODAY)
    assert quote.amount == Decimal("22867.00")
    assert quote.per_diem == Decimal("0.00")
    assert quote.quote_number == "PQ7734261124"


@pytest.mark.parametrize("days", [0, 30])
def test_quotes_are_given_from_today_through_thirty_days(uow_factory: UowFactory, days: int) -> None:
    quote = payoff_quote(customer_id(uow_factory, DANA), TODAY + timedelta(days=days), uow_factory(),
                         TODAY)
    assert quote.good_through == TODAY + timedelta(days=days)


@pytest.mark.parametrize("days", [-1, 31, 365])
def test_quotes_in_the_past_or_beyond_thirty_days_are_refused(uow_factory: UowFactory,
                                                               days: int) -> None:
    before = stored(uow_factory)
    with pytest.raises(InvalidPayoffDate) as refused:
        payoff_quote(customer_id(uow_factory, MARIA), TODAY + timedelta(days=days), uow_factory(),
                     TODAY)
    assert "30 days" in refused.value.message
    assert stored(uow_factory) == before


def _emailed(uow_factory: UowFactory) -> list[tuple[str, str, str]]:
    """(to, channel, body) of every payoff-quote email in the outbox."""
    with uow_factory() as uow:
        rows = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "payoff_quote"))
        return [(m.to, m.channel, m.body) for m in rows]


def test_a_quote_is_emailed_to_the_address_on_file_with_its_figures(
        uow_factory: UowFactory, settings: Settings) -> None:
    good_through = TODAY + timedelta(days=10)
    emailed = email_payoff_quote(customer_id(uow_factory, MARIA), good_through, uow_factory(),
                                 settings.public_base_url, TODAY)

    assert emailed.sent and emailed.destination_masked == "m****@example.com"
    assert emailed.quote.amount == Decimal("18448.26")
    [(to, channel, body)] = _emailed(uow_factory)
    assert to == "maria.lopez@example.com" and channel == "email"
    assert "$18,448.26" in body and "December 4, 2026" in body
    assert emailed.quote.quote_number in body and "$2.77 a day" in body
    assert "7301004821" not in body and "****4821" in body
    assert count(uow_factory, AuditLog, AuditLog.action == "payoff_quote_emailed") == 1


def test_asking_again_for_the_same_quote_sends_no_second_email(
        uow_factory: UowFactory, settings: Settings) -> None:
    customer = customer_id(uow_factory, JAMES)
    first = email_payoff_quote(customer, TODAY, uow_factory(), settings.public_base_url, TODAY)
    again = email_payoff_quote(customer, TODAY, uow_factory(), settings.public_base_url, TODAY)

    assert first.sent and not again.sent and again.quote == first.quote
    [(_, _, body)] = _emailed(uow_factory)
    assert "lease buyout" in body and "a day" not in body


def test_a_quote_for_a_date_out_of_range_is_not_emailed(uow_factory: UowFactory, settings: Settings) -> None:
    with pytest.raises(InvalidPayoffDate):
        email_payoff_quote(customer_id(uow_factory, MARIA), TODAY + timedelta(days=31), uow_factory(),
                           settings.public_base_url, TODAY)
    assert _emailed(uow_factory) == [] and count(uow_factory, AuditLog) == 0
