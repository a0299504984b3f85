"""Hardship: who can have which option, asking for an extension or a specialist, or a new due
date as hardship help (the routine due-date change is tested in test_due_date.py)."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

import pytest
from fixtures_store import DANA, JAMES, MARIA, UowFactory, count, customer_id, set_account
from sqlalchemy import select

from autofinance.domain.calendar import add_months
from autofinance.services import hardship
from autofinance.services.errors import DueDateMoveTooFar, InvalidDueDay, NotEligible
from autofinance.services.hardship import EXTENSION_CONSEQUENCE, HardshipOptions
from autofinance.adapters.store.models import Account, AuditLog, HardshipCase, OutboxMessage

TODAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)


def options(uow_factory: UowFactory, account: str) -> HardshipOptions:
    return hardship.hardship_options(customer_id(uow_factory, account), uow_factory(), TODAY)


def account_row(uow_factory: UowFactory, account_number: str) -> tuple[Any, ...]:
    with uow_factory() as uow:
        a = uow.session.scalar(select(Account).where(Account.account_number == account_number))
        assert a is not None
        return (a.payment_due_day, a.next_due_date, a.last_due_date_change_on,
                a.last_extension_on, a.monthly_payment, a.payments_remaining, a.maturity_date)


def snapshot(uow_factory: UowFactory, account_number: str) -> tuple[Any, ...]:
    """Everything a refusal must leave as it was."""
    return (account_row(uow_factory, account_number), count(uow_factory, HardshipCase),
            count(uow_factory, OutboxMessage), count(uow_factory, AuditLog))


def request(uow_factory: UowFactory, account: str, option: str,
            **kwargs: Any) -> hardship.HardshipRequest:
    return hardship.request_hardship(customer_id(uow_factory, account), option, "lost my job",
                                     uow_factory(), TODAY, now=NOW, **kwargs)


def move_due_day(uow_factory: UowFactory, account: str,
                 new_day: Any) -> hardship.HardshipRequest:
    return request(uow_factory, account, "due_date_change", new_day=new_day)


# --- which options ----------------------------------------------------------------------------


def test_dana_is_eligible_for_a_payment_extension(uow_factory: UowFactory) -> None:
    found = options(uow_factory, DANA)
    assert found.extension.eligible is True
    assert found.extension.consequence == EXTENSION_CONSEQUENCE
    assert "end of your loan" in EXTENSION_CONSEQUENCE and "goes up" in EXTENSION_CONSEQUENCE
    assert found.due_date_change.eligible and found.specialist.eligible
    assert (found.current_due_day, found.earliest_due_day, found.latest_due_day) == (5, 1, 20)


def test_maria_current_and_open_20_months_is_eligible_too(uow_factory: UowFactory) -> None:
    found = options(uow_factory, MARIA)
    assert found.extension.eligible and found.due_date_change.eligible
    assert (found.earliest_due_day, found.latest_due_day) == (1, 28)


def test_an_account_opened_3_months_ago_cannot_have_an_extension(uow_factory: UowFactory) -> None:
    set_account(uow_factory, DANA, opened_on=add_months(TODAY, -3))
    extension = options(uow_factory, DANA).extension
    assert extension.eligible is False
    assert "6 months" in extension.reason and "specialist" in extension.reason


def test_an_account_open_exactly_6_months_can(uow_factory: UowFactory) -> None:
    set_account(uow_factory, DANA, opened_on=add_months(TODAY, -6))
    assert options(uow_factory, DANA).extension.eligible


def test_an_extension_within_the_last_12_months_makes_another_ineligible(
    uow_factory: UowFactory,
) -> None:
    set_account(uow_factory, DANA, last_extension_on=date(2026, 3, 1))
    extension = options(uow_factory, DANA).extension
    assert extension.eligible is False
    assert "12 months" in extension.reason and "specialist" in extension.reason


def test_an_extension_12_months_ago_no_longer_counts(uow_factory: UowFactory) -> None:
    set_account(uow_factory, DANA, last_extension_on=add_months(TODAY, -12))
    assert options(uow_factory, DANA).extension.eligible


@pytest.mark.parametrize("days_past_due, eligible", [(60, True), (61, False), (90, False)])
def test_more_than_60_days_past_due_is_ineligible(uow_factory: UowFactory, days_past_due: int,
                                                  eligible: bool) -> None:
    set_account(uow_factory, DANA, days_past_due=days_past_due)
    extension = options(uow_factory, DANA).extension
    assert extension.eligible is eligible
    if not eligible:
        assert "60 days past due" in extension.reason and "specialist" in extension.reason


def test_a_lease_is_offered_lease_end_options_instead_of_an_extension(
    uow_factory: UowFactory,
) -> None:
    found = options(uow_factory, JAMES)
    assert found.extension.eligible is False
    assert "lease-end" in found.extension.reason
    assert found.due_date_change.eligible and found.specialist.eligible


def test_no_due_date_change_before_the_first_payment_date(uow_factory: UowFactory) -> None:
    set_account(uow_factory, MARIA, first_payment_date=date(2026, 12, 15))
    change = options(uow_factory, MARIA).due_date_change
    assert change.eligible is False and "first payment" in change.reason


def test_no_second_due_date_change_within_12_months(uow_factory: UowFactory) -> None:
    set_account(uow_factory, MARIA, last_due_date_change_on=date(2026, 1, 10))
    change = options(uow_factory, MARIA).due_date_change
    assert change.eligible is False and "12 months" in change.reason


# --- extension and specialist requests --------------------------------------------------------


def test_dana_requests_an_extension_and_a_specialist_decides(uow_factory: UowFactory) -> None:
    account_before = account_row(uow_factory, DANA)

    result = request(uow_factory, DANA, "extension")

    assert (result.option, result.status, result.next_due_date) == ("extension", "requested", None)
    assert re.fullmatch(r"HS[A-Z2-7]{8}", result.case_number)
    assert "Nothing on your account has changed yet" in result.message
    assert "specialist" in result.message and result.case_number in result.message
    assert account_row(uow_factory, DANA) == account_before
    with uow_factory() as uow:
        case = uow.session.scalar(select(HardshipCase))
        assert case is not None
        assert (case.case_number, case.option, case.status, case.reason) == (
            result.case_number, "extension", "requested", "lost my job")
        [email] = uow.session.scalars(select(OutboxMessage)).all()
        assert (email.kind, email.to) == ("hardship_requested", "dana.whitfield@example.com")
        assert result.message in email.body and "****5530" in email.body
        audit = uow.session.scalar(select(AuditLog).where(AuditLog.action == "hardship_requested"))
        assert audit is not None and audit.subject == f"hardship_case:{result.case_number}"
        assert "lost my job" not in str(audit.details)


def test_asking_again_for_an_open_extension_returns_the_same_case(uow_factory: UowFactory) -> None:
    first = request(uow_factory, DANA, "extension")
    before = snapshot(uow_factory, DANA)
    assert request(uow_factory, DANA, "extension") == first
    assert snapshot(uow_factory, DANA) == before


def test_an_ineligible_extension_is_refused_with_the_reason(uow_factory: UowFactory) -> None:
    set_account(uow_factory, DANA, days_past_due=61)
    reason = options(uow_factory, DANA).extension.reason
    before = snapshot(uow_factory, DANA)
    with pytest.raises(NotEligible) as refused:
        request(uow_factory, DANA, "extension")
    assert refused.value.message == reason
    assert snapshot(uow_factory, DANA) == before


def test_james_cannot_request_an_extension_on_his_lease(uow_factory: UowFactory) -> None:
    before = snapshot(uow_factory, JAMES)
    with pytest.raises(NotEligible) as refused:
        request(uow_factory, JAMES, "extension")
    assert "lease-end" in refused.value.message
    assert snapshot(uow_factory, JAMES) == before


def test_a_specialist_is_always_available(uow_factory: UowFactory) -> None:
    set_account(uow_factory, DANA, days_past_due=90, opened_on=add_months(TODAY, -2))
    result = request(uow_factory, DANA, "specialist")
    assert (result.option, result.status) == ("specialist", "requested")
    assert count(uow_factory, HardshipCase, HardshipCase.option == "specialist") == 1


def test_an_unknown_option_is_a_programming_error(uow_factory: UowFactory) -> None:
    before = snapshot(uow_factory, DANA)
    with pytest.raises(ValueError):
        request(uow_factory, DANA, "forgiveness")
    assert snapshot(uow_factory, DANA) == before


# --- due-date changes -------------------------------------------------------------------------


def test_maria_moves_her_due_date_to_the_25th_at_once(uow_factory: UowFactory) -> None:
    result = request(uow_factory, MARIA, "due_date_change", new_day=25)

    assert (result.option, result.status) == ("due_date_change", "approved")
    assert result.next_due_date == date(2026, 12, 25)
    assert "day 25" in result.message and "December 25, 2026" in result.message
    assert account_row(uow_factory, MARIA)[:3] == (25, date(2026, 12, 25), TODAY)
    with uow_factory() as uow:
        case = uow.session.scalar(select(HardshipCase))
        assert case is not None and (case.option, case.status) == ("due_date_change", "approved")
        assert uow.session.scalar(select(OutboxMessage.kind)) == "due_date_changed"
    assert count(uow_factory, AuditLog, AuditLog.action == "due_date_changed") == 1


def test_dana_though_behind_may_move_her_due_date_by_15_days_as_hardship_help(
    uow_factory: UowFactory,
) -> None:
    result = move_due_day(uow_factory, DANA, 20)
    assert result.next_due_date == date(2026, 12, 20) and result.status == "approved"
    assert account_row(uow_factory, DANA)[:2] == (20, date(2026, 12, 20))
    assert count(uow_factory, HardshipCase, HardshipCase.option == "due_date_change") == 1


def test_a_due_date_change_by_16_days_is_refused(uow_factory: UowFactory) -> None:
    before = snapshot(uow_factory, DANA)
    with pytest.raises(DueDateMoveTooFar):
        move_due_day(uow_factory, DANA, 21)
    assert snapshot(uow_factory, DANA) == before


@pytest.mark.parametrize("new_day", [0, 29, 15, "20"])
def test_a_day_outside_1_to_28_or_the_current_day_opens_no_case(uow_factory: UowFactory,
                                                               new_day: Any) -> None:
    before = snapshot(uow_factory, MARIA)
    with pytest.raises(InvalidDueDay):
        move_due_day(uow_factory, MARIA, new_day)
    assert snapshot(uow_factory, MARIA) == before


def test_a_due_date_change_request_without_a_day_asks_for_one(uow_factory: UowFactory) -> None:
    before = snapshot(uow_factory, MARIA)
    with pytest.raises(InvalidDueDay):
        request(uow_factory, MARIA, "due_date_change")
    assert snapshot(uow_factory, MARIA) == before


def test_a_second_due_date_change_within_12_months_is_refused(uow_factory: UowFactory) -> None:
    move_due_day(uow_factory, MARIA, 20)
    before = snapshot(uow_factory, MARIA)
    with pytest.raises(NotEligible) as refused:
        move_due_day(uow_factory, MARIA, 25)
    assert "12 months" in refused.value.message
    assert snapshot(uow_factory, MARIA) == before


def test_a_due_date_change_before_the_first_payment_is_refused(uow_factory: UowFactory) -> None:
    set_account(uow_factory, MARIA, first_payment_date=date(2026, 12, 15))
    before = snapshot(uow_factory, MARIA)
    with pytest.raises(NotEligible):
        move_due_day(uow_factory, MARIA, 20)
    assert snapshot(uow_factory, MARIA) == before
