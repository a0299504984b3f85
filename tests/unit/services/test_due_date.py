"""Due-date changes as a routine request: who may, which days, what it costs, and the change."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from fixtures_store import DANA, JAMES, MARIA, ROBERT, UowFactory, count, customer_id, set_account
from sqlalchemy import select

from autofinance.adapters.store.models import Account, AuditLog, HardshipCase, OutboxMessage
from autofinance.config import Settings
from autofinance.services import due_date
from autofinance.services.accounts import primary_account
from autofinance.services.errors import DueDateMoveTooFar, InvalidDueDay, NotEligible

TODAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
BASE_URL = Settings().public_base_url


def eligibility(uow_factory: UowFactory, account: str) -> due_date.DueDateEligibility:
    return due_date.due_date_change_eligibility(customer_id(uow_factory, account), uow_factory(), TODAY)


def preview(uow_factory: UowFactory, account: str, new_day: Any) -> due_date.DueDatePreview:
    return due_date.preview_due_date_change(customer_id(uow_factory, account), new_day, uow_factory(),
                                            TODAY)


def change(uow_factory: UowFactory, account: str, new_day: Any) -> due_date.DueDateChanged:
    return due_date.change_due_date(customer_id(uow_factory, account), new_day, uow_factory(),
                                    BASE_URL, TODAY, now=NOW)


def due(uow_factory: UowFactory, account_number: str) -> tuple[int, date, Any]:
    with uow_factory() as uow:
        a = uow.session.scalars(select(Account).where(Account.account_number == account_number)).one()
        return a.payment_due_day, a.next_due_date, a.last_due_date_change_on


def snapshot(uow_factory: UowFactory, account_number: str) -> tuple[Any, ...]:
    """Everything a refusal must leave as it was."""
    return (due(uow_factory, account_number), count(uow_factory, OutboxMessage),
            count(uow_factory, AuditLog), count(uow_factory, HardshipCase))


# --- who may, and which days ------------------------------------------------------------------


def test_maria_current_on_her_loan_may_move_her_15th_to_any_day(uow_factory: UowFactory) -> None:
    found = eligibility(uow_factory, MARIA)
    assert (found.eligible, found.reason) == (True, due_date.ALLOWED)
    assert (found.current_day, found.earliest_day, found.latest_day) == (15, 1, 28)
    assert found.autopay_day is None


def test_james_on_autopay_may_move_within_15_days_of_the_1st(uow_factory: UowFactory) -> None:
    found = eligibility(uow_factory, JAMES)
    assert found.eligible and (found.current_day, found.earliest_day, found.latest_day) == (1, 1, 16)
    assert found.autopay_day == 1


def test_dana_past_due_is_pointed_to_hardship_help_instead(uow_factory: UowFactory) -> None:
    found = eligibility(uow_factory, DANA)
    assert found.eligible is False and found.reason == due_date.PAST_DUE
    assert "past due" in found.reason and "hardship specialist" in found.reason


def test_a_change_in_the_last_12_months_makes_another_ineligible(uow_factory: UowFactory) -> None:
    set_account(uow_factory, MARIA, last_due_date_change_on=date(2026, 1, 10))
    found = eligibility(uow_factory, MARIA)
    assert found.eligible is False and "once every 12 months" in found.reason


def test_no_change_before_the_first_payment_date(uow_factory: UowFactory) -> None:
    set_account(uow_factory, MARIA, first_payment_date=date(2026, 12, 15))
    found = eligibility(uow_factory, MARIA)
    assert found.eligible is False and "first payment" in found.reason


# --- the preview --------------------------------------------------------------------------------


def test_maria_moving_to_the_25th_pays_ten_more_days_of_interest(uow_factory: UowFactory) -> None:
    before = snapshot(uow_factory, MARIA)
    found = preview(uow_factory, MARIA, 25)
    assert (found.current_day, found.new_day) == (15, 25)
    assert (found.current_due_date, found.next_due_date) == (date(2026, 12, 15), date(2026, 12, 25))
    assert found.payment_amount == Decimal("452.18")
    # 18,420.55 × 5.49% ÷ 365 × 10 days = 27.7065...
    assert found.extra_interest == Decimal("27.71")
    assert snapshot(uow_factory, MARIA) == before


def test_an_earlier_due_date_adds_no_interest(uow_factory: UowFactory) -> None:
    found = preview(uow_factory, MARIA, 5)
    assert found.next_due_date == date(2026, 12, 5) and found.extra_interest == Decimal("0.00")


def test_an_earlier_day_already_passed_this_month_is_later_and_adds_interest(
    uow_factory: UowFactory,
) -> None:
    set_account(uow_factory, MARIA, payment_due_day=25, next_due_date=date(2026, 11, 25))
    found = preview(uow_factory, MARIA, 20)
    assert (found.current_due_date, found.next_due_date) == (date(2026, 11, 25), date(2026, 12, 20))
    assert found.extra_interest == Decimal("69.27")  # 25 days: 2.770652... × 25


def test_a_lease_has_no_extra_interest(uow_factory: UowFactory) -> None:
    found = preview(uow_factory, JAMES, 16)
    assert found.next_due_date == date(2026, 12, 16) and found.extra_interest == Decimal("0.00")


@pytest.mark.parametrize("new_day", [0, 29, 31, -3, 15, True, "20", None])
def test_a_day_outside_1_to_28_or_the_current_day_is_refused(uow_factory: UowFactory,
                                                             new_day: Any) -> None:
    before = snapshot(uow_factory, MARIA)
    with pytest.raises(InvalidDueDay):
        preview(uow_factory, MARIA, new_day)
    with pytest.raises(InvalidDueDay):
        change(uow_factory, MARIA, new_day)
    assert snapshot(uow_factory, MARIA) == before


def test_the_current_day_is_refused_saying_nothing_would_change(uow_factory: UowFactory) -> None:
    with pytest.raises(InvalidDueDay) as refused:
        preview(uow_factory, MARIA, 15)
    assert refused.value.message == due_date.SAME_DAY


def test_a_move_of_more_than_15_days_is_refused(uow_factory: UowFactory) -> None:
    before = snapshot(uow_factory, JAMES)  # due on the 1st: the 16th at the latest
    assert preview(uow_factory, JAMES, 16).next_due_date == date(2026, 12, 16)  # 15 days: allowed
    with pytest.raises(DueDateMoveTooFar):
        preview(uow_factory, JAMES, 17)
    with pytest.raises(DueDateMoveTooFar):
        change(uow_factory, JAMES, 17)
    assert snapshot(uow_factory, JAMES) == before


def test_from_a_late_day_an_early_day_is_next_months_within_15_days(uow_factory: UowFactory) -> None:
    """Robert, due on the 20th, asks for the 1st: his next payment moves 11 days later, to the
    1st of the month after (never 19 days earlier); the 5th is still this month's, 15 days earlier."""
    moved = preview(uow_factory, ROBERT, 1)
    assert (moved.current_due_date, moved.next_due_date) == (date(2026, 12, 20), date(2027, 1, 1))
    assert moved.extra_interest > 0  # later, so a few more days of interest on the loan
    assert preview(uow_factory, ROBERT, 4).next_due_date == date(2027, 1, 4)  # 15 days later
    assert preview(uow_factory, ROBERT, 5).next_due_date == date(2026, 12, 5)  # 15 days earlier
    assert due_date.day_range(20) == (1, 28) and due_date.day_range(1) == (1, 16)
    assert change(uow_factory, ROBERT, 1).next_due_date == date(2027, 1, 1)


def test_dana_gets_no_preview_and_no_change(uow_factory: UowFactory) -> None:
    before = snapshot(uow_factory, DANA)
    with pytest.raises(NotEligible) as refused:
        preview(uow_factory, DANA, 10)
    assert refused.value.message == due_date.PAST_DUE
    with pytest.raises(NotEligible):
        change(uow_factory, DANA, 10)
    assert snapshot(uow_factory, DANA) == before


# --- the change ---------------------------------------------------------------------------------


def test_maria_moves_her_due_date_to_the_25th_with_an_email_and_an_audit_record(
    uow_factory: UowFactory,
) -> None:
    result = change(uow_factory, MARIA, 25)

    assert result == due_date.DueDateChanged(15, 25, date(2026, 12, 25), Decimal("452.18"), None)
    assert due(uow_factory, MARIA) == (25, date(2026, 12, 25), TODAY)
    with uow_factory() as uow:
        [email] = uow.session.scalars(select(OutboxMessage)).all()
        assert (email.kind, email.to, email.channel) == (
            "due_date_changed", "maria.lopez@example.com", "email")
        assert "from day 15 to day 25" in email.body and "December 25, 2026" in email.body
        assert "$452.18" in email.body and "****4821" in email.body and BASE_URL in email.body
        assert "7301004821" not in email.body and "autopay" not in email.body
        [record] = uow.session.scalars(select(AuditLog).where(AuditLog.action == "due_date_changed"))
        assert record.actor == f"customer:{customer_id(uow_factory, MARIA)}"
        assert record.subject == "account:****4821"
        assert record.details == {"account": "****4821", "old_day": 15, "new_day": 25,
                                  "next_due_date": "2026-12-25"}
    assert count(uow_factory, HardshipCase) == 0  # routine, not hardship


def test_james_hears_that_his_autopay_keeps_its_own_day(uow_factory: UowFactory) -> None:
    result = change(uow_factory, JAMES, 10)
    assert (result.next_due_date, result.autopay_day) == (date(2026, 12, 10), 1)
    with uow_factory() as uow:
        body = uow.session.scalar(select(OutboxMessage.body))
    assert "autopay still runs on day 1" in body


def test_a_second_change_within_12_months_is_refused_and_changes_nothing(
    uow_factory: UowFactory,
) -> None:
    change(uow_factory, MARIA, 20)
    before = snapshot(uow_factory, MARIA)
    with pytest.raises(NotEligible) as refused:
        change(uow_factory, MARIA, 25)
    assert refused.value.message == due_date.NO_REPEAT
    assert snapshot(uow_factory, MARIA) == before


def test_of_two_racing_changes_only_the_first_is_stored(uow_factory: UowFactory) -> None:
    maria = customer_id(uow_factory, MARIA)
    with uow_factory() as slow:
        stale = primary_account(slow.session, maria)  # read before the other change commits
        change(uow_factory, MARIA, 20)
        with pytest.raises(NotEligible):
            due_date.move_due_day(slow.session, stale, 25, TODAY)
    assert due(uow_factory, MARIA)[0] == 20
    assert count(uow_factory, AuditLog, AuditLog.action == "due_date_changed") == 1
