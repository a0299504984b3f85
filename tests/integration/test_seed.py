"""The demo store holds exactly the customers of shared/docs/demo-customers.md, plus Keisha (fees
and returned payments), on both dialects; re-seeding adds nothing; bulk customers are
deterministic."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.orm import Session

from autofinance.config import Settings
from autofinance.adapters.sealing import unseal_at_rest
from autofinance.adapters.security import keyed_hash, verify_password
from autofinance.demo.seed import DEMO_AGENT, DEMO_CUSTOMERS, bulk_identity, seed_bulk, seed_demo
from autofinance.adapters.store.db import UnitOfWork, session_factory
from autofinance.adapters.store.models import (
    Account, AutopayEnrolment, Customer, Fee, FundingSource, InsurancePolicy, OnlineCredential, Payment,
    Reminder, StaffUser, VehicleTitle, WorkItem,
)
from autofinance.services import reminders

pytestmark = pytest.mark.integration
TODAY = date(2026, 11, 24)


def _account(session: Session, number: str) -> Account:
    return session.scalars(select(Account).where(Account.account_number == number)).one()


def test_the_demo_customers_have_the_exact_figures_of_the_table(engine: Engine) -> None:
    settings = Settings()
    with Session(engine) as session:
        assert seed_demo(session, TODAY, settings) == len(DEMO_CUSTOMERS)
        session.commit()
        maria, james = _account(session, "7301004821"), _account(session, "7301007734")
        dana, robert = _account(session, "7301005530"), _account(session, "7301009912")
        assert (maria.principal_balance, maria.apr, maria.monthly_payment, maria.payment_due_day) == (
            Decimal("18420.55"), Decimal("5.4900"), Decimal("452.18"), 15)
        assert (james.product, james.payments_remaining, james.monthly_payment, james.residual_value) == (
            "lease", 3, Decimal("389.00"), Decimal("21350.00"))
        assert james.maturity_date == TODAY + timedelta(days=75) and james.money_factor == Decimal("0.001250")
        assert (dana.principal_balance, dana.past_due_amount, dana.days_past_due, dana.apr) == (
            Decimal("9870.10"), Decimal("812.40"), 45, Decimal("8.9000"))
        assert (robert.principal_balance, robert.monthly_payment, robert.payment_due_day) == (
            Decimal("3215.77"), Decimal("298.50"), 20)
        assert maria.vehicle.description == "2022 Toyota RAV4" and dana.vehicle.description == "2019 Ford F-150"
        customer = session.get_one(Customer, maria.customer_id)
        pepper = settings.secret_pepper
        assert customer.mobile == "+14045550101"
        assert (customer.zip_code_hash, customer.date_of_birth_hash, customer.ssn_last4_hash) == (
            keyed_hash("30309", pepper), keyed_hash("1985-03-14", pepper), keyed_hash("4821", pepper))
        assert unseal_at_rest(customer.zip_code_sealed, pepper) == "30309"
        sources = {(s.kind, s.last4) for s in session.scalars(select(FundingSource).where(
            FundingSource.customer_id == maria.customer_id))}
        assert sources == {("checking", "6789"), ("debit_card", "1111")}
        autopay = session.scalars(select(AutopayEnrolment).where(AutopayEnrolment.active)).one()
        assert autopay.account_id == james.id and autopay.funding_source.last4 == "2244"
        locked = session.scalars(select(OnlineCredential).where(OnlineCredential.locked)).one()
        assert (locked.username, locked.failed_sign_ins) == ("rokafor", 5)
        agent = session.scalars(select(StaffUser)).one()
        assert agent.username == "demo.agent" and verify_password(DEMO_AGENT["password"], agent.password_hash)
        assert unseal_at_rest(agent.totp_secret, Settings().secret_pepper) == DEMO_AGENT["totp_secret"]


def test_keisha_is_current_with_two_late_fees_and_a_returned_payment_fee_still_owed(engine: Engine) -> None:
    with Session(engine) as session:
        seed_demo(session, TODAY, Settings())
        session.commit()
        keisha = _account(session, "7301006618")
        assert (keisha.status, keisha.past_due_amount, keisha.fees_due, keisha.last_fee_waiver_on) == (
            "current", Decimal("0.00"), Decimal("55.00"), None)
        fees = session.scalars(select(Fee).where(Fee.account_id == keisha.id).order_by(Fee.charged_on)).all()
        assert [(f.kind, f.amount, f.status) for f in fees] == [
            ("late", Decimal("15.00"), "charged"), ("late", Decimal("15.00"), "charged"),
            ("returned_payment", Decimal("25.00"), "charged")]
        returned = session.get_one(Payment, fees[2].payment_id)
        assert (returned.status, returned.amount) == ("returned", Decimal("367.45"))


def test_tran_paid_off_his_loan_and_his_paper_title_was_mailed(engine: Engine) -> None:
    with Session(engine) as session:
        seed_demo(session, TODAY, Settings())
        session.commit()
        tran = _account(session, "7301003350")
        assert (tran.status, tran.principal_balance, tran.payments_remaining, tran.paid_off_on) == (
            "closed", Decimal("0.00"), 0, TODAY - timedelta(days=12))
        title = session.scalar(select(VehicleTitle).where(VehicleTitle.account_id == tran.id))
        assert (title.state, title.kind, title.status, title.release_requested_on, title.mailed_on) == (
            "OR", "paper", "mailed", tran.paid_off_on, TODAY - timedelta(days=7))
        payoff = session.scalar(select(Payment).where(Payment.account_id == tran.id,
                                                      Payment.scheduled_for == tran.paid_off_on))
        assert (payoff.amount, payoff.status) == (Decimal("2187.64"), "posted")
        # he never set up online access: the demo's customer for registering from chat
        assert session.scalar(select(OnlineCredential).where(OnlineCredential.customer_id == tran.customer_id)) is None


def test_every_open_account_has_insurance_robert_lapsed_and_maria_gap(engine: Engine) -> None:
    with Session(engine) as session:
        seed_demo(session, TODAY, Settings())
        session.commit()
        policies = {session.get_one(Account, p.account_id).account_number: p
                    for p in session.scalars(select(InsurancePolicy))}
        open_accounts = set(session.scalars(select(Account.account_number).where(Account.status != "closed")))
        assert set(policies) == open_accounts
        assert [n for n, p in policies.items() if p.expires_on < TODAY] == ["7301009912"]
        assert list(session.scalars(select(Account.account_number).where(Account.gap_coverage))) == ["7301004821"]
        assert all(p.policy_number_sealed.startswith("sealed:") for p in policies.values())


def test_a_store_seeded_before_titles_and_insurance_gets_them_without_other_changes(engine: Engine) -> None:
    with Session(engine) as session:
        seed_demo(session, TODAY, Settings())
        session.commit()
        figures = [(a.account_number, a.principal_balance, a.past_due_amount, a.fees_due)
                   for a in session.scalars(select(Account).order_by(Account.id))]
        session.query(InsurancePolicy).delete()
        session.query(VehicleTitle).delete()
        session.query(Account).update({"gap_coverage": False})
        session.commit()
        assert seed_demo(session, TODAY + timedelta(days=3), Settings()) == 0
        session.commit()
        accounts = [each for demo in DEMO_CUSTOMERS for each in demo.accounts()]  # Alex has two
        open_accounts = sum(1 for each in accounts if not each.paid_off_days_ago)  # one policy each
        loans = sum(1 for each in accounts if each.product == "loan")  # a lease's title is the lessor's
        assert session.scalar(select(func.count()).select_from(InsurancePolicy)) == open_accounts
        assert session.scalar(select(func.count()).select_from(VehicleTitle)) == loans
        assert _account(session, "7301004821").gap_coverage
        assert figures == [(a.account_number, a.principal_balance, a.past_due_amount, a.fees_due)
                           for a in session.scalars(select(Account).order_by(Account.id))]
        assert seed_demo(session, TODAY, Settings()) == 0
        session.commit()
        assert session.scalar(select(func.count()).select_from(InsurancePolicy)) == open_accounts


def test_the_demo_seeded_with_its_activity_has_a_reminder_of_every_kind_due_at_once(engine: Engine) -> None:
    """What a new user sees in the dev outbox a minute after `make run` (at 10:00 in Denver, so
    texts may go too): every kind of reminder, each once."""
    settings = Settings()
    with Session(engine) as session:
        seed_demo(session, TODAY, settings, activity=True)
        session.commit()
        priya = _account(session, "7301002290")
        assert 1 <= (priya.next_due_date - TODAY).days <= 5 and priya.past_due_amount == 0
    uow = UnitOfWork(session_factory(engine))
    now = datetime(2026, 11, 24, 17, 0, tzinfo=timezone.utc)
    first = reminders.send_due_reminders(uow, settings.reminders, settings.lender_timezone, "http://x", now)
    again = reminders.send_due_reminders(uow, settings.reminders, settings.lender_timezone, "http://x", now)

    with Session(engine) as session:
        kinds = sorted(session.scalars(select(Reminder.kind)))
    assert kinds == ["decision", "insurance_lapsed", "lease_ending_90", "payment_due", "payment_missed_10",
                     "payment_returned", "payoff_expiring"]
    assert first.sent == 7 and again.sent == 0


def test_the_demo_seeded_with_its_activity_fills_every_work_queue_and_keeps_the_figures(engine: Engine) -> None:
    """What a new user sees at /console/work after `make run`: one open item in each queue, and
    Dana's decided request; again nothing is added, and no customer's figures move."""
    with Session(engine) as session:
        seed_demo(session, TODAY, Settings(), activity=True)
        session.commit()
        assert seed_demo(session, TODAY, Settings(), activity=True) == 0
        session.commit()
        items = sorted((i.kind, i.status) for i in session.scalars(select(WorkItem)))
        james, dana = _account(session, "7301007734"), _account(session, "7301005530")
        keisha = _account(session, "7301006618")
    assert items == [("fee_waiver", "open"), ("hardship", "declined"), ("hardship", "open"),
                     ("insurance_document", "open"), ("lease_extension", "open")]
    assert (james.payments_remaining, james.maturity_date) == (3, TODAY + timedelta(days=75))
    assert (dana.past_due_amount, keisha.fees_due) == (Decimal("812.40"), Decimal("55.00"))


def test_seeding_again_adds_nothing(engine: Engine) -> None:
    with Session(engine) as session:
        seed_demo(session, TODAY, Settings())
        session.commit()
        assert seed_demo(session, TODAY, Settings()) == 0
        session.commit()
        assert session.scalar(select(func.count()).select_from(Customer)) == len(DEMO_CUSTOMERS)
        assert session.scalar(select(func.count()).select_from(StaffUser)) == 1


def test_bulk_customers_come_on_top_deterministically_and_only_once(engine: Engine) -> None:
    settings = Settings()
    with Session(engine) as session:
        seed_demo(session, TODAY, settings)
        assert seed_bulk(session, 50, settings, TODAY) == 50
        session.commit()
        assert seed_bulk(session, 50, settings, TODAY) == 0
        assert seed_bulk(session, 60, settings, TODAY) == 10
        session.commit()
        assert session.scalar(select(func.count()).select_from(Customer)) == len(DEMO_CUSTOMERS) + 60
        ident = bulk_identity(7)
        account = _account(session, ident["account_number"])
        bulk = session.get_one(Customer, account.customer_id)
        assert bulk.zip_code_hash == keyed_hash(ident["zip_code"], settings.secret_pepper)
        assert unseal_at_rest(bulk.zip_code_sealed, settings.secret_pepper) == ident["zip_code"]


def test_the_store_holds_no_verification_factor_in_clear(engine: Engine) -> None:
    """ZIP, date of birth and SSN last four are factors: a copy of the store must not give them."""
    with Session(engine) as session:
        seed_demo(session, TODAY, Settings())
        seed_bulk(session, 5, Settings(), TODAY)
        session.commit()
        columns = {column["name"] for column in inspect(engine).get_columns("customers")}
        rows = [" ".join(str(value) for value in row)
                for row in session.execute(text("SELECT * FROM customers")).all()]
    assert not columns & {"zip_code", "date_of_birth", "ssn_last4"}
    for secret in ("30309", "1985-03-14", "1985, 3, 14", "4821", bulk_identity(3)["zip_code"]):
        assert not any(secret in row for row in rows), secret


def test_alex_has_a_loan_and_a_lease_each_with_its_vehicle(engine: Engine) -> None:
    """The demo's customer with several accounts: one customer, two open accounts, two cars."""
    with Session(engine) as session:
        seed_demo(session, TODAY, Settings())
        session.commit()
        loan, lease = _account(session, "7301009911"), _account(session, "7301009922")
        assert loan.customer_id == lease.customer_id
        assert (loan.product, loan.principal_balance, loan.status) == ("loan", Decimal("15310.25"), "current")
        assert (lease.product, lease.payments_remaining, lease.residual_value) == (
            "lease", 22, Decimal("19875.00"))
        assert (loan.vehicle.description, lease.vehicle.description) == ("2021 Toyota Camry", "2023 Honda CR-V")
        assert session.get_one(Customer, loan.customer_id).first_name == "Alex"
