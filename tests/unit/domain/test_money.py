"""Money is exact Decimal dollars, rounded half-up to the cent, shown as customers read it."""
from __future__ import annotations

from decimal import Decimal

import pytest

from autofinance.domain.money import format_usd, from_cents, to_cents, to_money


def test_a_float_is_refused_because_it_cannot_hold_cents_exactly() -> None:
    with pytest.raises(TypeError):
        to_money(0.1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "expected"),
    [("2.665", "2.67"), ("0.005", "0.01"), ("-2.665", "-2.67"), ("2.664", "2.66"), (7, "7.00")],
)
def test_amounts_round_half_up_to_the_cent(given: str | int, expected: str) -> None:
    rounded = to_money(given)

    assert rounded == Decimal(expected)
    assert rounded.as_tuple().exponent == -2


def test_cents_and_dollars_convert_both_ways_without_loss() -> None:
    assert to_cents(Decimal("18420.55")) == 1842055
    assert from_cents(1842055) == Decimal("18420.55")
    assert from_cents(to_cents(Decimal("0.10"))) == Decimal("0.10")


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("18420.55", "$18,420.55"),
        ("1234567.891", "$1,234,567.89"),
        ("412.5", "$412.50"),
        ("0", "$0.00"),
        ("-1234.5", "-$1,234.50"),
        ("-0.004", "$0.00"),
    ],
)
def test_format_usd_shows_dollars_with_thousands_and_a_leading_minus(
    amount: str, shown: str
) -> None:
    assert format_usd(Decimal(amount)) == shown
