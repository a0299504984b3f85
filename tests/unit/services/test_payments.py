"""One-time payments: options, funding sources, scheduling exactly once, cancelling."""
from __future__ import annotations

import re
import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Optional

import pytest
from fixtures_store import (
    DANA,
    JAMES,
    MARIA,
    UowFactory,
    count,
    customer_id,
    set_account,
    set_source,
    source_id,
    stored,
)
from sqlalchemy import select

from autofinance.config import Settings
from autofinance.services import payments
from autofinance.services.errors import (
    AccountFrozen,
    AmountAbovePayoff,
    AmountNotPositive,
    AmountNotWholeCents,
    AmountOverPayoff,
    IdempotencyConflict,
    InvalidAmount,
    InvalidPaymentDate,
    NoPastDueAmount,
    PaymentDateInPast,
    PaymentDateTooFar,
    PaymentNotCancellable,
    PaymentNotFound,
    ServiceError,
    UnknownFundingSource,
)
from autofinance.services.payments import FundingOption, PaymentReceipt
from autofinance.adapters.store.models import AuditLog, OutboxMessage, Payment

TODAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
FREE = Decimal("0.00")


def pay(uow_factory: UowFactory, settings: Settings, amount: Any = Decimal("452.18"),
        pay_on: date = date(2026, 12, 15), last4: str = "6789", key: str = "key-1",
        account: str = MARIA, source: Optional[int] = None) -> PaymentReceipt:
    return payments.schedule_payment(
        customer_id(uow_factory, account), amount, pay_on,
        source if source is not None else source_id(uow_factory, last4), key,
        uow_factory(), settings.public_base_url, TODAY, now=NOW,
    )


def outbox(uow_factory: UowFactory, kind: str) -> list[OutboxMessage]:
    with uow_factory() as uow:
        messages = list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))
        uow.session.expunge_all()  # keep the loaded values: leaving the unit of work expires them
        return messages


# --- options and funding sources -------------------------------------------------------------


def test_payment_options_show_the_amounts_and_saved_sources_with_fees(uow_factory: UowFactory) -> None:
    options = payments.payment_options(customer_id(uow_factory, MARIA), uow_factory(), TODAY)

    assert options.monthly_payment == Decimal("452.18")
    assert options.past_due_amount == FREE
    assert options.payoff_amount == Decimal("18420.55")
    assert options.debit_card_fee == Decimal("2.95")
    assert [(o.masked_name, o.kind, o.fee) for o in options.funding_sources] == [
        ("checking ****6789", "checking", FREE),
        ("debit card ****1111", "debit_card", Decimal("2.95")),
    ]


def test_dana_can_pick_her_past_due_amount(uow_factory: UowFactory) -> None:
    options = payments.payment_options(customer_id(uow_factory, DANA), uow_factory(), TODAY)
    assert options.past_due_amount == Decimal("812.40")


@pytest.mark.parametrize("text, last4", [
    ("checking", "6789"), ("my checking", "6789"), ("the bank account", "6789"),
    ("debit card", "1111"), ("card ending 1111", "1111"), ("6789", "6789"),
    ("checking ****6789", "6789"), ("Debit Card ****1111", "1111"),
])
def test_resolves_the_one_saved_source_the_customer_means(uow_factory: UowFactory, text: str,
                                                          last4: str) -> None:
    option = payments.resolve_funding_source(customer_id(uow_factory, MARIA), text, uow_factory())
    assert isinstance(option, FundingOption)
    assert option.id == source_id(uow_factory, last4)
    assert option.masked_name.endswith(last4)


@pytest.mark.parametrize("text", [
    "", "savings", "checking 1111", "5555", "2244", "my account", "checking or card",
])
def test_does_not_resolve_unknown_other_customers_or_ambiguous_sources(uow_factory: UowFactory,
                                                                       text: str) -> None:
    assert payments.resolve_funding_source(customer_id(uow_factory, MARIA), text, uow_factory()) is None


def test_does_not_resolve_an_inactive_source(uow_factory: UowFactory) -> None:
    set_source(uow_factory, "1111", active=False)
    maria = customer_id(uow_factory, MARIA)
    assert payments.resolve_funding_source(maria, "debit card", uow_factory()) is None
    assert payments.resolve_funding_source(maria, "card", uow_factory()) is None


# --- the amount and date rules the form checks as the customer answers ------------------------


@pytest.mark.parametrize("account, choice, expected", [
    (MARIA, "monthly_payment", Decimal("452.18")), (MARIA, "payoff", Decimal("18420.55")),
    (DANA, "past_due", Decimal("812.40")),
])
def test_a_named_amount_is_the_accounts_own_figure(uow_factory: UowFactory, account: str,
                                                    choice: str, expected: Decimal) -> None:
    assert payments.resolve_amount(customer_id(uow_factory, account), choice, uow_factory(),
                                   TODAY) == expected


def test_a_typed_amount_comes_back_to_the_cent(uow_factory: UowFactory) -> None:
    amount = payments.resolve_amount(customer_id(uow_factory, MARIA), Decimal("100"), uow_factory(),
                                     TODAY)
    assert str(amount) == "100.00"


def test_the_past_due_amount_is_refused_when_nothing_is_past_due(uow_factory: UowFactory) -> None:
    with pytest.raises(NoPastDueAmount) as refused:
        payments.resolve_amount(customer_id(uow_factory, MARIA), "past_due", uow_factory(), TODAY)
    assert refused.value.message == ("You don't have a past-due amount right now. "
                                     "How much would you like to pay?")


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-5.00")])
def test_an_amount_that_is_not_more_than_zero_is_refused(uow_factory: UowFactory,
                                                         amount: Decimal) -> None:
    with pytest.raises(AmountNotPositive) as refused:
        payments.resolve_amount(customer_id(uow_factory, MARIA), amount, uow_factory(), TODAY)
    assert refused.value.message == ("The amount has to be more than $0.00. "
                                     "How much would you like to pay?")


def test_an_amount_above_todays_payoff_is_refused_naming_the_payoff(uow_factory: UowFactory) -> None:
    with pytest.raises(AmountAbovePayoff) as refused:
        payments.resolve_amount(customer_id(uow_factory, MARIA), Decimal("18420.56"), uow_factory(),
                                TODAY)
    assert refused.value.message == ("That's more than your payoff amount of $18,420.55. "
                                     "Please choose a smaller amount.")


def test_an_amount_in_fractions_of_a_cent_is_refused(uow_factory: UowFactory) -> None:
    with pytest.raises(AmountNotWholeCents) as refused:
        payments.resolve_amount(customer_id(uow_factory, MARIA), Decimal("10.005"), uow_factory(),
                                TODAY)
    assert refused.value.message == ("Amounts go to the cent, like $125.50. "
                                     "How much would you like to pay?")


def test_an_amount_above_the_payoff_is_refused_for_that_before_its_fractions_of_a_cent(
    uow_factory: UowFactory,
) -> None:
    with pytest.raises(AmountAbovePayoff):
        payments.resolve_amount(customer_id(uow_factory, MARIA), Decimal("99999.999"),
                                uow_factory(), TODAY)


def test_a_payment_date_in_the_past_is_refused_naming_the_date() -> None:
    with pytest.raises(PaymentDateInPast) as refused:
        payments.check_payment_date(TODAY - timedelta(days=3), TODAY)
    assert refused.value.message == ("November 21, 2026 has already passed. "
                                     "Please choose today or a later date.")


def test_a_payment_date_beyond_thirty_days_is_refused_naming_the_last_day() -> None:
    with pytest.raises(PaymentDateTooFar) as refused:
        payments.check_payment_date(TODAY + timedelta(days=31), TODAY)
    assert refused.value.message == ("I can schedule payments up to December 24, 2026. "
                                     "Please choose an earlier date.")


@pytest.mark.parametrize("days", [0, 30])
def test_today_and_thirty_days_ahead_are_payment_dates(days: int) -> None:
    payments.check_payment_date(TODAY + timedelta(days=days), TODAY)


@pytest.mark.parametrize("status, pay_on, expected", [
    ("scheduled", TODAY + timedelta(days=1), True), ("scheduled", TODAY, False),
    ("pending", TODAY + timedelta(days=1), False), ("cancelled", TODAY + timedelta(days=1), False),
])
def test_only_a_payment_scheduled_for_a_later_day_can_be_cancelled(status: str, pay_on: date,
                                                                   expected: bool) -> None:
    assert payments.cancellable(status, pay_on, TODAY) is expected


# --- scheduling -------------------------------------------------------------------------------


def test_schedules_a_future_payment_and_emails_a_masked_confirmation(uow_factory: UowFactory,
                                                                     settings: Settings) -> None:
    payments_before, _ = stored(uow_factory)

    receipt = pay(uow_factory, settings)

    assert receipt.created is True
    assert receipt.status == "scheduled"
    assert (receipt.amount, receipt.fee, receipt.total) == (Decimal("452.18"), FREE, Decimal("452.18"))
    assert receipt.pay_on == date(2026, 12, 15)
    assert receipt.source_masked == "checking ****6789"
    assert re.fullmatch(r"MP[A-Z2-7]{8}", receipt.confirmation_number)
    assert count(uow_factory, Payment) == payments_before + 1
    [email] = outbox(uow_factory, "payment_confirmation")
    assert email.to == "maria.lopez@example.com" and email.channel == "email"
    for part in ("$452.18", "December 15, 2026", "checking ****6789", "****4821",
                 receipt.confirmation_number):
        assert part in email.body
    assert "7301004821" not in email.body
    with uow_factory() as uow:
        audit = uow.session.scalar(select(AuditLog).where(AuditLog.action == "payment_scheduled"))
        assert audit is not None
        assert audit.subject == f"payment:{receipt.confirmation_number}"
        assert audit.details["amount"] == "452.18" and "7301004821" not in str(audit.details)
        assert audit.occurred_at == NOW


def test_a_payment_for_today_is_pending(uow_factory: UowFactory, settings: Settings) -> None:
    receipt = pay(uow_factory, settings, pay_on=TODAY)
    assert receipt.status == "pending"
    assert "being processed today" in outbox(uow_factory, "payment_confirmation")[0].body


def test_a_debit_card_payment_carries_the_convenience_fee(uow_factory: UowFactory,
                                                          settings: Settings) -> None:
    receipt = pay(uow_factory, settings, last4="1111")
    assert receipt.fee == Decimal("2.95")
    assert receipt.total == Decimal("455.13")
    assert "$2.95 debit card convenience fee" in outbox(uow_factory, "payment_confirmation")[0].body


def test_each_payment_gets_its_own_confirmation_number(uow_factory: UowFactory,
                                                       settings: Settings) -> None:
    first = pay(uow_factory, settings, key="a")
    second = pay(uow_factory, settings, key="b")
    assert first.confirmation_number != second.confirmation_number


def test_the_whole_payoff_as_of_the_payment_date_is_accepted(uow_factory: UowFactory,
                                                             settings: Settings) -> None:
    # ten days of interest: 18420.55 + 27.71
    receipt = pay(uow_factory, settings, amount=Decimal("18448.26"), pay_on=TODAY + timedelta(days=10))
    assert receipt.created


def test_repeating_a_request_with_the_same_key_returns_the_first_receipt(
    uow_factory: UowFactory, settings: Settings,
) -> None:
    first = pay(uow_factory, settings)
    payments_after_first = stored(uow_factory)

    again = pay(uow_factory, settings)

    assert again.created is False
    assert again.confirmation_number == first.confirmation_number
    assert again.amount == first.amount and again.status == first.status
    assert stored(uow_factory) == payments_after_first


def test_an_idempotent_replay_still_works_after_the_payment_date_has_come(
    uow_factory: UowFactory, settings: Settings,
) -> None:
    first = pay(uow_factory, settings, pay_on=TODAY)
    maria = customer_id(uow_factory, MARIA)
    again = payments.schedule_payment(maria, Decimal("452.18"), TODAY, source_id(uow_factory, "6789"),
                                      "key-1", uow_factory(), settings.public_base_url,
                                      TODAY + timedelta(days=1))
    assert again.confirmation_number == first.confirmation_number and not again.created


@pytest.mark.parametrize("change", [
    {"amount": Decimal("100.00")}, {"pay_on": date(2026, 12, 16)}, {"last4": "1111"},
])
def test_a_key_reused_for_a_different_payment_is_a_conflict(uow_factory: UowFactory,
                                                           settings: Settings, change: dict) -> None:
    pay(uow_factory, settings)
    before = stored(uow_factory)
    with pytest.raises(IdempotencyConflict):
        pay(uow_factory, settings, **change)
    assert stored(uow_factory) == before


def test_another_customers_key_is_a_conflict_not_their_receipt(uow_factory: UowFactory,
                                                              settings: Settings) -> None:
    pay(uow_factory, settings, key="shared")
    before = stored(uow_factory)
    with pytest.raises(IdempotencyConflict):
        pay(uow_factory, settings, key="shared", account=DANA, last4="3030", amount=Decimal("406.20"))
    assert stored(uow_factory) == before


def test_concurrent_requests_with_one_key_make_exactly_one_payment(uow_factory: UowFactory,
                                                                   settings: Settings) -> None:
    maria, checking = customer_id(uow_factory, MARIA), source_id(uow_factory, "6789")
    barrier = threading.Barrier(8)
    receipts: list[PaymentReceipt] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        barrier.wait()
        try:
            receipts.append(payments.schedule_payment(
                maria, Decimal("452.18"), date(2026, 12, 15), checking, "race-key", uow_factory(),
                settings.public_base_url, TODAY, now=NOW))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(receipts) == 8
    assert len({r.confirmation_number for r in receipts}) == 1
    assert sum(r.created for r in receipts) == 1
    assert count(uow_factory, Payment, Payment.idempotency_key == "race-key") == 1
    assert len(outbox(uow_factory, "payment_confirmation")) == 1
    assert count(uow_factory, AuditLog, AuditLog.action == "payment_scheduled") == 1


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-5.00"), Decimal("10.005"),
                                    Decimal("NaN")])
def test_refuses_amounts_that_are_not_positive_whole_cents(uow_factory: UowFactory,
                                                           settings: Settings, amount: Decimal) -> None:
    before = stored(uow_factory)
    with pytest.raises(InvalidAmount):
        pay(uow_factory, settings, amount=amount)
    assert stored(uow_factory) == before


def test_refuses_a_float_amount_as_a_programming_error(uow_factory: UowFactory,
                                                       settings: Settings) -> None:
    before = stored(uow_factory)
    with pytest.raises(TypeError):
        pay(uow_factory, settings, amount=452.18)
    assert stored(uow_factory) == before


@pytest.mark.parametrize("key", ["", "k" * 129])
def test_refuses_an_empty_or_overlong_idempotency_key(uow_factory: UowFactory, settings: Settings,
                                                      key: str) -> None:
    before = stored(uow_factory)
    with pytest.raises(ValueError):
        pay(uow_factory, settings, key=key)
    assert stored(uow_factory) == before


def test_refuses_more_than_the_payoff_on_the_payment_date(uow_factory: UowFactory,
                                                          settings: Settings) -> None:
    before = stored(uow_factory)
    with pytest.raises(AmountOverPayoff):
        pay(uow_factory, settings, amount=Decimal("18420.56"), pay_on=TODAY)
    assert stored(uow_factory) == before


@pytest.mark.parametrize("pay_on", [TODAY - timedelta(days=1), TODAY + timedelta(days=31)])
def test_refuses_dates_in_the_past_or_more_than_thirty_days_ahead(uow_factory: UowFactory,
                                                                  settings: Settings,
                                                                  pay_on: date) -> None:
    before = stored(uow_factory)
    with pytest.raises(InvalidPaymentDate):
        pay(uow_factory, settings, pay_on=pay_on)
    assert stored(uow_factory) == before


def test_accepts_a_date_exactly_thirty_days_ahead(uow_factory: UowFactory, settings: Settings) -> None:
    assert pay(uow_factory, settings, pay_on=TODAY + timedelta(days=30)).status == "scheduled"


def test_refuses_payments_on_a_fraud_frozen_account(uow_factory: UowFactory,
                                                    settings: Settings) -> None:
    set_account(uow_factory, MARIA, fraud_frozen=True)
    before = stored(uow_factory)
    with pytest.raises(AccountFrozen):
        pay(uow_factory, settings)
    assert stored(uow_factory) == before


@pytest.mark.parametrize("last4, deactivate", [("2244", False), ("1111", True), ("none", False)])
def test_refuses_a_source_that_is_not_the_customers_or_not_active(
    uow_factory: UowFactory, settings: Settings, last4: str, deactivate: bool,
) -> None:
    if deactivate:
        set_source(uow_factory, last4, active=False)
    source = 999_999 if last4 == "none" else source_id(uow_factory, last4)
    before = stored(uow_factory)
    with pytest.raises(UnknownFundingSource):
        pay(uow_factory, settings, source=source)
    assert stored(uow_factory) == before


@pytest.mark.parametrize("change, general", [
    ({"amount": Decimal("0")}, InvalidAmount), ({"amount": Decimal("10.005")}, InvalidAmount),
    ({"amount": Decimal("18420.56"), "pay_on": TODAY}, AmountOverPayoff),
    ({"pay_on": TODAY - timedelta(days=1)}, InvalidPaymentDate),
])
def test_a_refusal_at_submission_gives_the_general_message_not_the_forms_question(
    uow_factory: UowFactory, settings: Settings, change: dict, general: type[ServiceError],
) -> None:
    with pytest.raises(general) as refused:
        pay(uow_factory, settings, **change)
    assert refused.value.message == general.message


def test_refusal_messages_are_safe_to_show_the_customer() -> None:
    for error in (InvalidAmount(), AmountOverPayoff(), InvalidPaymentDate(), AccountFrozen(),
                  UnknownFundingSource(), IdempotencyConflict(), PaymentNotCancellable(),
                  PaymentNotFound()):
        assert isinstance(error, ServiceError)
        assert error.message and not re.search(r"\d{5,}", error.message)


def test_refuses_a_naive_now(uow_factory: UowFactory, settings: Settings) -> None:
    before = stored(uow_factory)
    with pytest.raises(ValueError):
        payments.schedule_payment(customer_id(uow_factory, MARIA), Decimal("1.00"), TODAY,
                                  source_id(uow_factory, "6789"), "k", uow_factory(),
                                  settings.public_base_url, TODAY, now=datetime(2026, 11, 24, 15, 0))
    assert stored(uow_factory) == before


# --- cancelling and listing -------------------------------------------------------------------


def test_cancels_a_payment_scheduled_for_a_later_day(uow_factory: UowFactory,
                                                     settings: Settings) -> None:
    receipt = pay(uow_factory, settings)
    later = NOW + timedelta(hours=1)

    cancelled = payments.cancel_payment(customer_id(uow_factory, MARIA),
                                        receipt.confirmation_number.lower(), uow_factory(), TODAY,
                                        now=later)

    assert cancelled.confirmation_number == receipt.confirmation_number
    assert (cancelled.amount, cancelled.pay_on) == (Decimal("452.18"), date(2026, 12, 15))
    assert cancelled.source_masked == "checking ****6789" and cancelled.cancelled_at == later
    with uow_factory() as uow:
        payment = uow.session.scalar(select(Payment).where(
            Payment.confirmation_number == receipt.confirmation_number))
        assert payment is not None
        assert (payment.status, payment.cancelled_at) == ("cancelled", later)
    [notice] = outbox(uow_factory, "payment_cancelled")
    assert receipt.confirmation_number in notice.body and "was cancelled" in notice.body
    assert count(uow_factory, AuditLog, AuditLog.action == "payment_cancelled") == 1


def test_a_payment_already_submitted_today_cannot_be_cancelled(uow_factory: UowFactory,
                                                               settings: Settings) -> None:
    receipt = pay(uow_factory, settings, pay_on=TODAY)
    before = stored(uow_factory)
    with pytest.raises(PaymentNotCancellable):
        payments.cancel_payment(customer_id(uow_factory, MARIA), receipt.confirmation_number,
                                uow_factory(), TODAY)
    assert stored(uow_factory) == before


def test_a_scheduled_payment_cannot_be_cancelled_on_its_own_date(uow_factory: UowFactory,
                                                                 settings: Settings) -> None:
    receipt = pay(uow_factory, settings, pay_on=date(2026, 12, 1))
    before = stored(uow_factory)
    with pytest.raises(PaymentNotCancellable):
        payments.cancel_payment(customer_id(uow_factory, MARIA), receipt.confirmation_number,
                                uow_factory(), date(2026, 12, 1))
    assert stored(uow_factory) == before
    assert payments.scheduled_payments(customer_id(uow_factory, MARIA), uow_factory(),
                                       date(2026, 12, 1))[0].status == "scheduled"


def test_posted_and_already_cancelled_payments_cannot_be_cancelled(uow_factory: UowFactory,
                                                                   settings: Settings) -> None:
    maria = customer_id(uow_factory, MARIA)
    receipt = pay(uow_factory, settings)
    payments.cancel_payment(maria, receipt.confirmation_number, uow_factory(), TODAY)
    before = stored(uow_factory)
    for number in ("MP482100H", receipt.confirmation_number):
        with pytest.raises(PaymentNotCancellable):
            payments.cancel_payment(maria, number, uow_factory(), TODAY)
    assert stored(uow_factory) == before


@pytest.mark.parametrize("number", ["MP773400H", "MPNOTREAL", ""])
def test_another_customers_or_an_unknown_number_is_not_found(uow_factory: UowFactory,
                                                             number: str) -> None:
    before = stored(uow_factory)
    with pytest.raises(PaymentNotFound):
        payments.cancel_payment(customer_id(uow_factory, MARIA), number, uow_factory(), TODAY)
    assert stored(uow_factory) == before


def test_scheduled_payments_lists_what_is_still_to_come_soonest_first(uow_factory: UowFactory,
                                                                      settings: Settings) -> None:
    maria = customer_id(uow_factory, MARIA)
    later = pay(uow_factory, settings, pay_on=date(2026, 12, 15), key="a")
    now = pay(uow_factory, settings, pay_on=TODAY, key="b", amount=Decimal("50.00"))
    dropped = pay(uow_factory, settings, pay_on=date(2026, 12, 10), key="c", amount=Decimal("10.00"))
    payments.cancel_payment(maria, dropped.confirmation_number, uow_factory(), TODAY)

    lines = payments.scheduled_payments(maria, uow_factory(), TODAY)

    assert [(line.confirmation_number, line.status) for line in lines] == [
        (now.confirmation_number, "pending"), (later.confirmation_number, "scheduled"),
    ]
    assert lines[1].method == "checking ****6789" and lines[1].amount == Decimal("452.18")


def test_james_has_no_one_time_payments_scheduled(uow_factory: UowFactory) -> None:
    assert payments.scheduled_payments(customer_id(uow_factory, JAMES), uow_factory(), TODAY) == []


def test_losing_the_race_for_a_key_rolls_back_and_returns_the_winners_payment(
    uow_factory: UowFactory, settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    winner = pay(uow_factory, settings)
    before = stored(uow_factory)
    real_replay, calls = payments._replay, []

    def not_yet_visible(*args: Any) -> Optional[PaymentReceipt]:
        calls.append(args)  # the first look misses the winner, as a concurrent request would
        return None if len(calls) == 1 else real_replay(*args)

    monkeypatch.setattr(payments, "_replay", not_yet_visible)
    loser = pay(uow_factory, settings)

    assert len(calls) == 2
    assert (loser.created, loser.confirmation_number) == (False, winner.confirmation_number)
    assert stored(uow_factory) == before
