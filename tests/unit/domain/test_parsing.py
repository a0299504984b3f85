"""The pure form-value parsers: what they read, and what they refuse to guess."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Optional

import pytest

from autofinance.domain.parsing import (
    format_long_date,
    parse_choice_number,
    your_account,
    parse_amount,
    parse_amount_choice,
    parse_date,
    parse_date_of_birth,
    parse_day_of_month,
    parse_identifier,
    parse_identity_factor,
    parse_months,
    parse_otp_code,
    parse_stated_identity,
    StatedIdentity,
)

TODAY = date(2026, 11, 24)  # a Tuesday


@pytest.mark.parametrize("text, expected", [
    ("$1,250.50", Decimal("1250.50")),
    ("1250.5", Decimal("1250.5")),
    ("450 bucks", Decimal("450")),
    ("450 dollars", Decimal("450")),
    ("$100", Decimal("100")),
    ("$100.", Decimal("100")),
    ("USD 20", Decimal("20")),
    ("I'd like to pay $452.18 please", Decimal("452.18")),
    ("pay $450 on 12/3", Decimal("450")),
    ("pay 450 on the 15th", Decimal("450")),
    ("one hundred", Decimal("100")),
    ("a hundred bucks", Decimal("100")),
    ("four hundred fifty dollars", Decimal("450")),
    ("two thousand five hundred dollars", Decimal("2500")),
    ("twenty-five", Decimal("25")),
])
def test_reads_amounts_written_with_symbols_separators_or_words(text: str, expected: Decimal) -> None:
    amount = parse_amount(text)
    assert amount == expected
    assert isinstance(amount, Decimal)


def test_keeps_fractions_of_a_cent_so_the_service_can_refuse_them() -> None:
    assert parse_amount("10.005") == Decimal("10.005")


@pytest.mark.parametrize("text", [
    "", "abc", "-50", "5.49%", "1,25", "450 or 500", "on 12/3", "the 15th", "pay one payment",
    "404-555-0101",
])
def test_returns_none_for_text_that_is_not_one_clear_amount(text: str) -> None:
    assert parse_amount(text) is None


@pytest.mark.parametrize("text, expected", [
    ("my monthly payment", "monthly_payment"),
    ("the regular payment", "monthly_payment"),
    ("what I'm behind", "past_due"),
    ("the past due amount", "past_due"),
    ("everything I'm behind on", "past_due"),
    ("the full balance", "payoff"),
    ("pay it off", "payoff"),
    ("everything", "payoff"),
    ("hello there", None),
])
def test_names_the_amount_a_customer_picks_in_words(text: str, expected: Optional[str]) -> None:
    assert parse_amount_choice(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("today", date(2026, 11, 24)),
    ("tomorrow", date(2026, 11, 25)),
    ("friday", date(2026, 11, 27)),
    ("next friday", date(2026, 11, 27)),
    ("Friday.", date(2026, 11, 27)),
    ("tuesday", date(2026, 12, 1)),  # said on a Tuesday: the coming one, never today
    ("the 15th", date(2026, 12, 15)),  # the 15th of November has passed
    ("the 30th", date(2026, 11, 30)),
    ("the 31st", date(2026, 12, 31)),  # November has no 31st
    ("15", date(2026, 12, 15)),
    ("the first", date(2026, 12, 1)),
    ("12/3", date(2026, 12, 3)),
    ("11/1", date(2027, 11, 1)),  # past this year: next year
    ("Dec 1st", date(2026, 12, 1)),
    ("December 15", date(2026, 12, 15)),
    ("December 15, 2026", date(2026, 12, 15)),
    ("1st of December", date(2026, 12, 1)),
    ("2026-12-03", date(2026, 12, 3)),
    ("in 5 days", date(2026, 11, 29)),
    ("in a week", date(2026, 12, 1)),
    ("next week", date(2026, 12, 1)),
    ("pay it on 12/3.", date(2026, 12, 3)),
    ("a week from today", date(2026, 12, 1)),  # not today: "today" is only where it counts from
    ("two weeks from now", date(2026, 12, 8)),
    ("10 days from today please", date(2026, 12, 4)),
])
def test_reads_payment_dates_relative_to_today(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


def test_returns_a_past_date_with_an_explicit_year_as_written_for_the_service_to_refuse() -> None:
    assert parse_date("11/20/2026", TODAY) == date(2026, 11, 20)


@pytest.mark.parametrize("text", ["", "soon", "my first payment", "4.15", "13/45"])
def test_returns_none_for_text_without_a_date(text: str) -> None:
    assert parse_date(text, TODAY) is None


@pytest.mark.parametrize("text, expected", [
    ("03/14/1985", date(1985, 3, 14)),
    ("March 14 1985", date(1985, 3, 14)),
    ("March 14, 1985", date(1985, 3, 14)),
    ("1985-03-14", date(1985, 3, 14)),
    ("14 March 1985", date(1985, 3, 14)),
    ("born 3/14/85", date(1985, 3, 14)),
    ("3/14/05", date(2005, 3, 14)),
    ("14/03/1985", date(1985, 3, 14)),  # day first only when it cannot be a month
])
def test_reads_dates_of_birth(text: str, expected: date) -> None:
    assert parse_date_of_birth(text, today=TODAY) == expected


@pytest.mark.parametrize("text", ["3/14/2030", "1/1/1900", "March 14", "yesterday", "02/30/1985"])
def test_refuses_dates_of_birth_in_the_future_too_old_or_without_a_year(text: str) -> None:
    assert parse_date_of_birth(text, today=TODAY) is None


@pytest.mark.parametrize("text, expected", [
    ("my zip is 30309", ("zip", "30309")),
    ("30309-1234", ("zip", "30309")),
    ("last 4 are 4821", ("ssn_last4", "4821")),
    ("4821", ("ssn_last4", "4821")),
    ("born 3/14/85", ("dob", "1985-03-14")),
    ("my birthday is March 14, 1985", ("dob", "1985-03-14")),
])
def test_reads_one_identity_factor_from_free_text(text: str, expected: tuple[str, str]) -> None:
    assert parse_identity_factor(text, today=TODAY) == expected


@pytest.mark.parametrize("text", [
    "123-45-6789", "123456789", "born in 1985", "30309 and 4821", "7301004821", "hi",
])
def test_refuses_a_full_ssn_a_birth_year_or_more_than_one_factor(text: str) -> None:
    assert parse_identity_factor(text, today=TODAY) is None


@pytest.mark.parametrize("text, expected", [
    ("7301004821", ("account_number", "7301004821")),
    ("7301 004 821", ("account_number", "7301004821")),
    ("7301-004-821", ("account_number", "7301004821")),
    ("acct #7301004821", ("account_number", "7301004821")),
    ("mlopez", ("username", "mlopez")),
    ("MLopez.", ("username", "mlopez")),
    ("my username is mlopez", ("username", "mlopez")),
    ("username: j.chen_2", ("username", "j.chen_2")),
])
def test_reads_an_account_number_or_a_username(text: str, expected: tuple[str, str]) -> None:
    assert parse_identifier(text) == expected


@pytest.mark.parametrize("text", [
    "hello", "30309", "it's mlopez", "maria.lopez@example.com", "ab", "730100482", "7301004821 30309",
])
def test_does_not_take_greetings_short_numbers_or_sentences_for_an_identifier(text: str) -> None:
    assert parse_identifier(text) is None


@pytest.mark.parametrize("text, expected", [
    ("123456", "123456"), ("123 456", "123456"), ("code is 123-456", "123456"),
])
def test_reads_a_six_digit_code_with_spaces(text: str, expected: str) -> None:
    assert parse_otp_code(text) == expected


@pytest.mark.parametrize("text", ["12345", "1234567", "123456 and 7", "abcdef", ""])
def test_refuses_anything_but_exactly_six_digits_as_a_code(text: str) -> None:
    assert parse_otp_code(text) is None


@pytest.mark.parametrize("text, expected", [
    ("the 15th", 15), ("15", 15), ("the 1st", 1), ("the first", 1), ("fifteenth", 15),
    ("on the 28th of each month", 28), ("pay on the 3rd", 3), ("the twenty-first", 21),
])
def test_reads_a_day_of_the_month(text: str, expected: int) -> None:
    assert parse_day_of_month(text) == expected


@pytest.mark.parametrize("text", ["0", "the 29th", "31", "someday", "my first payment"])
def test_refuses_days_that_not_every_month_has(text: str) -> None:
    assert parse_day_of_month(text) is None


def test_formats_a_date_the_way_it_is_read_back_to_the_customer() -> None:
    assert format_long_date(date(2026, 12, 15)) == "December 15, 2026"
    assert format_long_date(date(2027, 1, 5)) == "January 5, 2027"


@pytest.mark.parametrize("text, months", [
    ("3", 3), ("six", 6), ("3 months", 3), ("2-months", 2), ("three more months", 3),
    ("a month", 1), ("one more month", 1), ("a couple of months", 2), ("half a year", 6),
    ("can you extend my lease 4 months please", 4), ("12 months", 12), ("zero", 0),
])
def test_months_from_what_customers_say(text: str, months: int) -> None:
    assert parse_months(text) == months


@pytest.mark.parametrize("text", ["i want to extend my lease", "extend my 2024 lease", "", "soon"])
def test_no_month_count_is_guessed(text: str) -> None:
    assert parse_months(text) is None


def test_an_account_is_named_by_its_vehicle_or_plainly_without_one() -> None:
    assert your_account("2021 Toyota RAV4", "loan") == "Your 2021 Toyota RAV4 loan"
    assert your_account("", "lease") == "Your lease"  # no double space when no vehicle is on file


@pytest.mark.parametrize("text, expected", [
    ("2", 2), ("option 2", 2), ("#1", 1), ("2nd", 2), ("the second one", 2), ("the last one", 3),
    ("1 please", 1), ("4", None), ("0", None), ("$200", None), ("1 or 2", None),
    ("the first, no the second", None), ("specialist", None),
])
def test_a_reply_picks_a_numbered_option(text: str, expected: int | None) -> None:
    assert parse_choice_number(text, 3) == expected


# ---- identity details stated with a request ----------------------------------------------------

ACCOUNT, ZIP = ("account_number", "7301004821"), ("zip", "30309")


@pytest.mark.parametrize("text, identifier, factor", [
    ("acct 7301004821 zip 30309, how far behind am i", ACCOUNT, ZIP),
    ("Hi, I'm mgarcia, born 1985-03-14. Can I get my payoff amount", ("username", "mgarcia"),
     ("dob", "1985-03-14")),
    ("I'm locked out, username jdoe, last 4 of my social 1234, what's my balance",
     ("username", "jdoe"), ("ssn_last4", "1234")),
    ("7301004821 what's my balance", ACCOUNT, None),
    ("my account is 7301004821", ACCOUNT, None),
    ("balance on 7301 004 821", ACCOUNT, None),
    ("acct 7301004821 30309", ACCOUNT, None),  # an unlabelled ZIP is not taken from the text
    ("zip 30309, what do I owe", None, ZIP),
    ("my zip code is 30309-1234", None, ZIP),
    ("dob 03/14/1985", None, ("dob", "1985-03-14")),
    ("I was born on March 14, 1985, balance?", None, ("dob", "1985-03-14")),
    ("last four 1234", None, ("ssn_last4", "1234")),
    ("my social ends in 4821", None, ("ssn_last4", "4821")),
    ("username: j.chen_2. balance", ("username", "j.chen_2"), None),
    ("my username's tonyb1972, balance?", ("username", "tonyb1972"), None),
    ("login is jwhite.mfa", ("username", "jwhite.mfa"), None),
    ("I am jdoe. balance", ("username", "jdoe"), None),
    ("zip 30309 and dob 03/14/1985", None, ZIP),  # two kinds: the first one given
])
def test_reads_the_identity_details_a_request_states(text, identifier, factor) -> None:
    assert parse_stated_identity(text, today=TODAY) == StatedIdentity(identifier, factor)


@pytest.mark.parametrize("text", [
    "what's my balance 30309",  # a bare number is no account number, and no ZIP
    "pay $300 on friday",
    "pay 300 on friday",
    "I can pay $3000 on the 15th",
    "I'm Maria, what do I owe",  # a capitalised name is not a username
    "I'm late, sorry",
    "I'm locked out",
    "I'm trying, really",
    "my login isn't working",
    "username and password reset",
    "forgot my username",
    "call me at 4045550101",
    "my phone number is 404 555 0101",
    "7301004821 or 7301007734",  # two accounts: not guessed
    "my ssn is 123-45-6789, last 4 6789",  # a full SSN is never trimmed
    "zip 30309 or maybe zip 30310",  # two ZIP codes: not guessed
    "card 4111111111111111",
    "born in 1985",
])
def test_states_nothing_when_a_request_carries_no_clear_details(text: str) -> None:
    stated = parse_stated_identity(text, today=TODAY)
    assert stated == StatedIdentity(None, None), stated


def test_entities_count_when_their_value_is_in_the_text_and_not_an_amount() -> None:
    entities = {"account_number": "7301004821", "zip_code": "30309"}
    assert parse_stated_identity("balance 7301004821 30309", entities, TODAY) == StatedIdentity(ACCOUNT, ZIP)
    assert parse_stated_identity("pay $30309 today", {"zip_code": "30309"}, TODAY).factor is None
    assert parse_stated_identity("pay 1234.50 today", {"ssn_last4": "1234"}, TODAY).factor is None
    assert parse_stated_identity("balance please", {"zip_code": "30309"}, TODAY).factor is None
    assert parse_stated_identity("it's mlopez, balance", {"username": "mlopez"}, TODAY).identifier == (
        "username", "mlopez")
    assert parse_stated_identity("I'm locked", {"username": "locked"}, TODAY).identifier is None
    assert parse_stated_identity("dob 3/14/85", {"dob": "3/14/85"}, TODAY).factor == ("dob", "1985-03-14")


def test_stated_details_read_back_the_same_through_the_form_parsers() -> None:
    stated = parse_stated_identity("username MLopez, born 3/14/85, balance", today=TODAY)
    assert parse_identifier(stated.identifier[1]) == stated.identifier
    assert parse_identity_factor(stated.factor[1], today=TODAY) == stated.factor


def test_last_friday_is_in_the_past_so_the_payment_rules_can_refuse_it() -> None:
    from datetime import date as _date  # noqa: PLC0415

    monday = _date(2026, 12, 7)
    assert parse_date("have it dated last friday", monday) == _date(2026, 12, 4)
    assert parse_date("this past monday", monday) == _date(2026, 11, 30)
    assert parse_date("friday", monday) == _date(2026, 12, 11)
