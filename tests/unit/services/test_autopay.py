"""Autopay: status, enrolling once, changing, cancelling and enrolling again."""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from fixtures_store import (
    JAMES,
    MARIA,
    UowFactory,
    count,
    customer_id,
    set_account,
    set_source,
    source_id,
)
from sqlalchemy import select

from autofinance.config import Settings
from autofinance.services import autopay
from autofinance.services.autopay import AutopayStatus
from autofinance.services.errors import (
    AccountFrozen,
    AlreadyEnrolled,
    InvalidAutopayDay,
    NotEnrolled,
    ServiceError,
    UnknownFundingSource,
)
from autofinance.adapters.store.models import AuditLog, AutopayEnrolment, OutboxMessage

TODAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)


def enrolments(uow_factory: UowFactory) -> list[tuple[Any, ...]]:
    with uow_factory() as uow:
        rows = uow.session.scalars(select(AutopayEnrolment).order_by(AutopayEnrolment.id))
        return [(r.id, r.account_id, r.funding_source_id, r.day_of_month, r.amount, r.active,
                 r.cancelled_at) for r in rows]


def snapshot(uow_factory: UowFactory) -> tuple[Any, ...]:
    """Everything a refusal must leave as it was."""
    return (enrolments(uow_factory), count(uow_factory, OutboxMessage),
            count(uow_factory, AuditLog))


def bodies(uow_factory: UowFactory, kind: str) -> list[str]:
    with uow_factory() as uow:
        return list(uow.session.scalars(
            select(OutboxMessage.body).where(OutboxMessage.kind == kind)))


def enrol(uow_factory: UowFactory, settings: Settings, account: str = MARIA, last4: str = "6789",
          day: Any = 15) -> AutopayStatus:
    return autopay.enrol_autopay(customer_id(uow_factory, account), source_id(uow_factory, last4),
                                 day, uow_factory(), settings.public_base_url, TODAY, now=NOW)


# --- status -----------------------------------------------------------------------------------


def test_james_sees_his_autopay_from_checking_on_the_first(uow_factory: UowFactory) -> None:
    status = autopay.autopay_status(customer_id(uow_factory, JAMES), uow_factory(), TODAY)
    assert status == AutopayStatus(True, 1, Decimal("389.00"), "checking ****2244",
                                   date(2026, 12, 1))


def test_maria_is_not_enrolled(uow_factory: UowFactory) -> None:
    status = autopay.autopay_status(customer_id(uow_factory, MARIA), uow_factory(), TODAY)
    assert status == AutopayStatus(enrolled=False)


# --- before a yes -----------------------------------------------------------------------------


def test_setting_up_offers_the_saved_sources_the_due_date_and_any_current_enrolment(
        uow_factory: UowFactory) -> None:
    maria = autopay.autopay_setup(customer_id(uow_factory, MARIA), uow_factory(), TODAY)
    assert maria == autopay.AutopaySetup(
        Decimal("452.18"), ("checking ****6789", "debit card ****1111"), date(2026, 12, 15),
        AutopayStatus(enrolled=False))
    james = autopay.autopay_setup(customer_id(uow_factory, JAMES), uow_factory(), TODAY)
    assert james.current == autopay.autopay_status(customer_id(uow_factory, JAMES), uow_factory(),
                                                   TODAY)


@pytest.mark.parametrize("day, first_debit, due_before", [
    (20, date(2026, 12, 20), date(2026, 12, 15)),  # the payment due on the 15th comes first
    (10, date(2026, 12, 10), None),
    (15, date(2026, 12, 15), None),
])
def test_the_summary_names_the_first_debit_and_a_payment_due_before_it(
        day: int, first_debit: date, due_before: Any, uow_factory: UowFactory) -> None:
    before = snapshot(uow_factory)
    plan = autopay.preview_autopay(customer_id(uow_factory, MARIA), source_id(uow_factory, "6789"),
                                   day, uow_factory(), TODAY)
    assert plan == autopay.AutopayPreview(day, Decimal("452.18"), "checking ****6789", first_debit,
                                          AutopayStatus(enrolled=False), due_before)
    assert snapshot(uow_factory) == before  # nothing is stored before the yes


def test_the_summary_of_a_change_shows_the_enrolment_it_replaces(uow_factory: UowFactory) -> None:
    james = customer_id(uow_factory, JAMES)
    plan = autopay.preview_autopay(james, source_id(uow_factory, "2244"), 5, uow_factory(), TODAY)
    assert (plan.current.day_of_month, plan.current.source_masked) == (1, "checking ****2244")


def test_the_summary_refuses_a_source_or_day_autopay_could_not_use(uow_factory: UowFactory) -> None:
    maria = customer_id(uow_factory, MARIA)
    with pytest.raises(UnknownFundingSource):
        autopay.preview_autopay(maria, source_id(uow_factory, "2244"), 5, uow_factory(), TODAY)
    with pytest.raises(InvalidAutopayDay):
        autopay.preview_autopay(maria, source_id(uow_factory, "6789"), 29, uow_factory(), TODAY)


# --- enrolling --------------------------------------------------------------------------------


def test_maria_enrols_for_her_monthly_payment_and_gets_a_confirmation(
    uow_factory: UowFactory, settings: Settings,
) -> None:
    status = enrol(uow_factory, settings)

    assert status == AutopayStatus(True, 15, Decimal("452.18"), "checking ****6789",
                                   date(2026, 12, 15))
    assert autopay.autopay_status(customer_id(uow_factory, MARIA), uow_factory(), TODAY) == status
    [body] = bodies(uow_factory, "autopay_enrolled")
    for part in ("$452.18", "checking ****6789", "day 15", "December 15, 2026", "****4821",
                 "If you didn't make this change"):
        assert part in body
    assert "7301004821" not in body
    with uow_factory() as uow:
        audit = uow.session.scalar(select(AuditLog).where(AuditLog.action == "autopay_enrolled"))
        assert audit is not None and audit.occurred_at == NOW
        assert audit.actor == f"customer:{customer_id(uow_factory, MARIA)}"
        assert audit.details["amount"] == "452.18" and "7301004821" not in str(audit.details)


@pytest.mark.parametrize("day, first_debit", [
    (24, date(2026, 11, 24)), (25, date(2026, 11, 25)), (23, date(2026, 12, 23)),
    (1, date(2026, 12, 1)), (28, date(2026, 11, 28)),
])
def test_the_next_debit_is_the_first_date_on_or_after_today_on_that_day(
    uow_factory: UowFactory, settings: Settings, day: int, first_debit: date,
) -> None:
    assert enrol(uow_factory, settings, day=day).next_debit_date == first_debit


def test_a_second_enrolment_is_refused_so_the_customer_changes_it_instead(
    uow_factory: UowFactory, settings: Settings,
) -> None:
    enrol(uow_factory, settings)
    before = snapshot(uow_factory)
    with pytest.raises(AlreadyEnrolled):
        enrol(uow_factory, settings, last4="1111", day=20)
    assert snapshot(uow_factory) == before


def test_james_cannot_enrol_again_while_enrolled(uow_factory: UowFactory,
                                                 settings: Settings) -> None:
    before = snapshot(uow_factory)
    with pytest.raises(AlreadyEnrolled):
        enrol(uow_factory, settings, account=JAMES, last4="2244", day=1)
    assert snapshot(uow_factory) == before


def test_concurrent_enrolments_make_exactly_one(uow_factory: UowFactory,
                                                settings: Settings) -> None:
    maria, checking = customer_id(uow_factory, MARIA), source_id(uow_factory, "6789")
    barrier = threading.Barrier(6)
    results: list[Any] = []

    def attempt() -> None:
        barrier.wait()
        try:
            results.append(autopay.enrol_autopay(maria, checking, 15, uow_factory(),
                                                 settings.public_base_url, TODAY, now=NOW))
        except BaseException as error:  # noqa: BLE001 - checked below
            results.append(error)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(isinstance(r, AutopayStatus) for r in results) == 1
    assert sum(isinstance(r, AlreadyEnrolled) for r in results) == 5
    assert count(uow_factory, AutopayEnrolment, AutopayEnrolment.active.is_(True),
                 AutopayEnrolment.funding_source_id == checking) == 1
    assert len(bodies(uow_factory, "autopay_enrolled")) == 1
    assert count(uow_factory, AuditLog, AuditLog.action == "autopay_enrolled") == 1


@pytest.mark.parametrize("day", [0, 29, 31, -1, True, "15"])
def test_refuses_a_day_outside_1_to_28(uow_factory: UowFactory, settings: Settings,
                                       day: Any) -> None:
    before = snapshot(uow_factory)
    with pytest.raises(InvalidAutopayDay):
        enrol(uow_factory, settings, day=day)
    assert snapshot(uow_factory) == before


@pytest.mark.parametrize("last4, deactivate", [("2244", False), ("1111", True)])
def test_refuses_a_source_that_is_not_the_customers_or_not_active(
    uow_factory: UowFactory, settings: Settings, last4: str, deactivate: bool,
) -> None:
    if deactivate:
        set_source(uow_factory, last4, active=False)
    before = snapshot(uow_factory)
    with pytest.raises(UnknownFundingSource):
        enrol(uow_factory, settings, last4=last4)
    assert snapshot(uow_factory) == before


def test_refuses_to_enrol_a_fraud_frozen_account(uow_factory: UowFactory,
                                                 settings: Settings) -> None:
    set_account(uow_factory, MARIA, fraud_frozen=True)
    before = snapshot(uow_factory)
    with pytest.raises(AccountFrozen):
        enrol(uow_factory, settings)
    assert snapshot(uow_factory) == before


# --- changing ---------------------------------------------------------------------------------


def test_james_moves_his_autopay_to_the_fifth(uow_factory: UowFactory,
                                              settings: Settings) -> None:
    james = customer_id(uow_factory, JAMES)
    status = autopay.change_autopay(james, None, 5, uow_factory(), settings.public_base_url, TODAY,
                                    now=NOW)

    assert status == AutopayStatus(True, 5, Decimal("389.00"), "checking ****2244",
                                   date(2026, 12, 5))
    assert autopay.autopay_status(james, uow_factory(), TODAY) == status
    assert count(uow_factory, AutopayEnrolment) == 1
    [body] = bodies(uow_factory, "autopay_changed")
    assert "day 5" in body and "December 5, 2026" in body
    with uow_factory() as uow:
        audit = uow.session.scalar(select(AuditLog).where(AuditLog.action == "autopay_changed"))
        assert audit is not None and audit.details["before"] == {"day": 1,
                                                                  "source": "checking ****2244"}


def test_maria_switches_her_autopay_to_her_debit_card(uow_factory: UowFactory,
                                                      settings: Settings) -> None:
    enrol(uow_factory, settings)
    status = autopay.change_autopay(customer_id(uow_factory, MARIA), source_id(uow_factory, "1111"),
                                    None, uow_factory(), settings.public_base_url, TODAY, now=NOW)
    assert (status.source_masked, status.day_of_month) == ("debit card ****1111", 15)


def test_changing_autopay_that_is_not_set_up_is_refused(uow_factory: UowFactory,
                                                        settings: Settings) -> None:
    before = snapshot(uow_factory)
    with pytest.raises(NotEnrolled):
        autopay.change_autopay(customer_id(uow_factory, MARIA), None, 20, uow_factory(),
                               settings.public_base_url, TODAY, now=NOW)
    assert snapshot(uow_factory) == before


@pytest.mark.parametrize("source, day, error", [
    (None, 29, InvalidAutopayDay), ("6789", None, UnknownFundingSource), (None, None, ValueError),
])
def test_an_invalid_change_leaves_autopay_as_it_was(uow_factory: UowFactory, settings: Settings,
                                                    source: Any, day: Any, error: type) -> None:
    james = customer_id(uow_factory, JAMES)
    source_arg = None if source is None else source_id(uow_factory, source)  # Maria's checking
    before = snapshot(uow_factory)
    with pytest.raises(error):
        autopay.change_autopay(james, source_arg, day, uow_factory(), settings.public_base_url,
                               TODAY, now=NOW)
    assert snapshot(uow_factory) == before


# --- cancelling and enrolling again -----------------------------------------------------------


def test_james_cancels_autopay_and_enrols_again(uow_factory: UowFactory,
                                                settings: Settings) -> None:
    james = customer_id(uow_factory, JAMES)

    cancelled = autopay.cancel_autopay(james, uow_factory(), settings.public_base_url, TODAY,
                                       now=NOW)

    assert (cancelled.day_of_month, cancelled.amount, cancelled.source_masked) == (
        1, Decimal("389.00"), "checking ****2244")
    assert (cancelled.cancelled_at, cancelled.next_payment_due) == (NOW, date(2026, 12, 1))
    assert autopay.autopay_status(james, uow_factory(), TODAY) == AutopayStatus(enrolled=False)
    [(_, _, _, _, _, active, cancelled_at)] = enrolments(uow_factory)
    assert (active, cancelled_at) == (False, NOW)
    [body] = bodies(uow_factory, "autopay_cancelled")
    assert "was cancelled" in body and "$389.00 is due December 1, 2026" in body
    assert count(uow_factory, AuditLog, AuditLog.action == "autopay_cancelled") == 1

    later = NOW + timedelta(hours=1)
    again = autopay.enrol_autopay(james, source_id(uow_factory, "2244"), 3, uow_factory(),
                                  settings.public_base_url, TODAY, now=later)

    assert again == AutopayStatus(True, 3, Decimal("389.00"), "checking ****2244",
                                  date(2026, 12, 3))
    assert [row[5] for row in enrolments(uow_factory)] == [False, True]


def test_cancelling_autopay_that_is_not_set_up_is_refused(uow_factory: UowFactory,
                                                          settings: Settings) -> None:
    before = snapshot(uow_factory)
    with pytest.raises(NotEnrolled):
        autopay.cancel_autopay(customer_id(uow_factory, MARIA), uow_factory(),
                               settings.public_base_url, TODAY)
    assert snapshot(uow_factory) == before


def test_cancelling_twice_is_refused_the_second_time(uow_factory: UowFactory,
                                                     settings: Settings) -> None:
    james = customer_id(uow_factory, JAMES)
    autopay.cancel_autopay(james, uow_factory(), settings.public_base_url, TODAY, now=NOW)
    before = snapshot(uow_factory)
    with pytest.raises(NotEnrolled):
        autopay.cancel_autopay(james, uow_factory(), settings.public_base_url, TODAY, now=NOW)
    assert snapshot(uow_factory) == before


def test_refusal_messages_are_safe_to_show_the_customer() -> None:
    for error in (InvalidAutopayDay(), AlreadyEnrolled(), NotEnrolled()):
        assert isinstance(error, ServiceError) and error.message


def test_refuses_a_naive_now(uow_factory: UowFactory, settings: Settings) -> None:
    before = snapshot(uow_factory)
    with pytest.raises(ValueError):
        autopay.cancel_autopay(customer_id(uow_factory, JAMES), uow_factory(),
                               settings.public_base_url, TODAY, now=datetime(2026, 11, 24, 15, 0))
    assert snapshot(uow_factory) == before
