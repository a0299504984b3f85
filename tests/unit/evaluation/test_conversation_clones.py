"""A fresh copy of a demo customer per scenario, its figures, and effects read from the store
(evaluation/conversations/clones.py, effects.py) over the seeded SQLite store of tests/unit."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select

from autofinance.adapters.store.models import (
    Account, Fee, FundingSource, InsurancePolicy, OnlineCredential, Payment, VehicleTitle,
)
from autofinance.config import Settings
from autofinance.services import identity
from autofinance.services.payments import schedule_payment
from evaluation.conversations.clones import account_figures, clone_demo_customer
from evaluation.conversations.effects import happened, snapshot
from tests.unit.fixtures_store import MARIA, UowFactory, customer_id

TODAY = date(2026, 11, 24)


def copy_of(uow_factory: UowFactory, name: str):  # noqa: ANN201
    with uow_factory() as uow:
        clone = clone_demo_customer(uow.session, name)
        uow.commit()
    return clone


def test_a_copy_has_the_demo_customers_figures_under_new_identifiers(uow_factory: UowFactory) -> None:
    clone = copy_of(uow_factory, "maria")
    details = clone.details
    assert details.account_number != MARIA and len(details.account_number) == 10
    assert details.username.startswith("mlopez") and details.username != "mlopez"
    assert (details.zip, details.dob, details.ssn4) == ("30309", "1985-03-14", "4821")
    with uow_factory() as uow:
        original = uow.session.scalar(select(Account).where(Account.account_number == MARIA))
        copy = uow.session.scalar(select(Account).where(Account.account_number == details.account_number))
        assert (copy.principal_balance, copy.monthly_payment, copy.next_due_date) == (
            original.principal_balance, original.monthly_payment, original.next_due_date)
        assert sorted(s.masked_name for s in uow.session.scalars(
            select(FundingSource).where(FundingSource.customer_id == clone.customer_id))) == [
            "checking ****6789", "debit card ****1111"]
        assert uow.session.scalar(select(OnlineCredential.username).where(
            OnlineCredential.customer_id == clone.customer_id)) == details.username
        history = uow.session.scalars(select(Payment).where(Payment.account_id == copy.id)).all()
        assert len(history) == len(uow.session.scalars(
            select(Payment).where(Payment.account_id == original.id)).all()) > 0


def test_a_copy_of_keisha_keeps_her_fees_and_which_payment_was_returned(uow_factory: UowFactory) -> None:
    clone = copy_of(uow_factory, "keisha")
    with uow_factory() as uow:
        copy = uow.session.scalar(select(Account).where(Account.account_number == clone.details.account_number))
        fees = uow.session.scalars(select(Fee).where(Fee.account_id == copy.id).order_by(Fee.id)).all()
        assert [(f.kind, f.amount, f.status) for f in fees] == [
            ("late", Decimal("15.00"), "charged"), ("late", Decimal("15.00"), "charged"),
            ("returned_payment", Decimal("25.00"), "charged")]
        returned = uow.session.get_one(Payment, fees[2].payment_id)
        assert (returned.account_id, returned.status) == (copy.id, "returned")


def test_a_copy_keeps_the_title_the_insurance_on_file_and_gap(uow_factory: UowFactory) -> None:
    maria, tran = copy_of(uow_factory, "maria"), copy_of(uow_factory, "tran")
    with uow_factory() as uow:
        session = uow.session
        copy = session.scalar(select(Account).where(Account.account_number == maria.details.account_number))
        policy = session.scalar(select(InsurancePolicy).where(InsurancePolicy.account_id == copy.id))
        assert copy.gap_coverage and (policy.insurer, policy.policy_last4, policy.status) == (
            "Peachtree Mutual", "4418", "active")
        paid_off = session.scalar(select(Account).where(Account.account_number == tran.details.account_number))
        title = session.scalar(select(VehicleTitle).where(VehicleTitle.account_id == paid_off.id))
        assert (paid_off.status, title.kind, title.status) == ("closed", "paper", "mailed")


def test_two_copies_of_one_customer_never_share_an_identifier(uow_factory: UowFactory) -> None:
    first, second = copy_of(uow_factory, "james"), copy_of(uow_factory, "james")
    for field in ("account_number", "username", "email", "mobile"):
        assert getattr(first.details, field) != getattr(second.details, field)


def test_a_copy_verifies_with_the_demo_details_hashed_under_the_stores_pepper(uow_factory: UowFactory) -> None:
    clone = copy_of(uow_factory, "dana")
    options = identity.identify("conv-1", clone.details.account_number, clone.details.zip,
                                Settings().secret_pepper, uow_factory())
    assert options.email_masked.endswith("@eval.example.com")


def test_the_figures_are_written_as_the_assistant_writes_money(uow_factory: UowFactory) -> None:
    dana = copy_of(uow_factory, "dana")
    with uow_factory() as uow:
        figures = account_figures(uow.session, dana.customer_id, TODAY)
    assert {"$9,870.10", "$812.40", "$406.20"} <= set(figures)
    assert all(f.startswith("$") for f in figures) and "$0.00" not in figures


def test_a_payment_made_through_the_service_is_read_as_payment_scheduled(uow_factory: UowFactory) -> None:
    clone = copy_of(uow_factory, "maria")
    with uow_factory() as uow:
        before = snapshot(uow.session, clone.customer_id, "conv-2")
        source = uow.session.scalar(select(FundingSource.id).where(
            FundingSource.customer_id == clone.customer_id, FundingSource.last4 == "6789"))
    schedule_payment(clone.customer_id, Decimal("300.00"), TODAY, source, "key-1", uow_factory(),
                     "http://localhost", TODAY)
    with uow_factory() as uow:
        after = snapshot(uow.session, clone.customer_id, "conv-2")
        assert snapshot(uow.session, customer_id(uow_factory, MARIA), "conv-2").payments != after.payments
    assert happened(before, after) == {"payment_scheduled": (Decimal("300.00"),)}


def test_a_scenario_gets_the_same_details_in_every_run_and_others_get_their_own(
        uow_factory: UowFactory, tmp_path) -> None:  # noqa: ANN001
    with uow_factory() as uow:
        first = clone_demo_customer(uow.session, "robert", seed="pay-next-up-front-03")
        other = clone_demo_customer(uow.session, "robert", seed="pay-next-sms-05")
        uow.rollback()
    with uow_factory() as uow:
        again = clone_demo_customer(uow.session, "robert", seed="pay-next-up-front-03")
    assert first.details == again.details
    assert first.details.username != other.details.username


def test_a_derived_identifier_already_in_use_is_skipped(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        first = clone_demo_customer(uow.session, "maria", seed="same-seed-01")
        second = clone_demo_customer(uow.session, "maria", seed="same-seed-01")
    assert first.details.account_number != second.details.account_number
    assert first.details.username != second.details.username
