"""The migrations, not `create_all`, build the production schema: they must match models.py."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, inspect, text

from autofinance.adapters.notify import DELIVERED_MARKER
from autofinance.adapters.sealing import unseal_at_rest
from autofinance.adapters.security import keyed_hash
from autofinance.adapters.store.db import make_engine
from autofinance.adapters.store.migrate import (
    alembic_config, current_revision, head_revision, upgrade_to_head,
)
from autofinance.adapters.store.models import Base
from autofinance.config import Settings

pytestmark = pytest.mark.integration


def test_an_empty_database_has_no_revision(database_url: str) -> None:
    assert current_revision(database_url) is None


def test_upgrading_an_empty_database_reaches_head_with_the_schema_of_the_models(
    database_url: str,
) -> None:
    upgrade_to_head(database_url)

    assert current_revision(database_url) == head_revision()
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            assert set(Base.metadata.tables) <= set(inspect(connection).get_table_names())
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_upgrading_twice_changes_nothing(database_url: str) -> None:
    upgrade_to_head(database_url)
    upgrade_to_head(database_url)

    assert current_revision(database_url) == head_revision()


def test_every_named_check_constraint_of_the_models_exists_after_upgrade(
    database_url: str,
) -> None:
    """compare_metadata ignores CHECK constraints, so their names are compared here."""
    upgrade_to_head(database_url)

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            inspector = inspect(connection)
            for table in Base.metadata.sorted_tables:
                expected = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
                found = {c["name"] for c in inspector.get_check_constraints(table.name)}
                assert expected <= found, table.name
    finally:
        engine.dispose()


def test_upgrading_a_store_with_data_hashes_the_factors_and_seals_codes_and_links(
    database_url: str,
) -> None:
    """0005 on a store in use: ZIP and date of birth become keyed hashes (the clear columns go,
    though other tables point at customers), codes and links in the outbox are sealed, or
    dropped once delivered; everything else stays as it was."""
    command.upgrade(alembic_config(database_url), "0004")
    pepper = Settings().secret_pepper
    now = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO customers (id, first_name, last_name, email, mobile, zip_code, "
                "date_of_birth, ssn_last4_hash, address_line1, city, state, created_at) VALUES "
                "(1, 'Maria', 'Lopez', 'maria.lopez@example.com', '+14045550101', '30309', "
                ":born, :ssn, '1180 Peachtree St NE', 'Atlanta', 'GA', :now)"),
                {"born": date(1985, 3, 14), "ssn": keyed_hash("4821", pepper), "now": now})
            connection.execute(text(
                "INSERT INTO funding_sources (id, customer_id, kind, last4, token, active) "
                "VALUES (1, 1, 'checking', '6789', 'tok_6789', :yes)"), {"yes": True})
            connection.execute(text(
                "INSERT INTO contact_changes (customer_id, field, new_value, code_hash, created_at, "
                "expires_at, attempts) VALUES (1, 'address', '12 Oak St, Decatur, GA 30030', "
                ":hash, :now, :now, 0)"), {"hash": "0" * 64, "now": now})
            for kind, body, sent_at in (("otp", "Your code is 123456.", None),
                                        ("password_reset", "http://x/reset?token=abc", now),
                                        ("payment_confirmation", "We received $25.00.", now)):
                connection.execute(text(
                    'INSERT INTO outbox ("to", channel, subject, body, kind, customer_id, '
                    "created_at, sent_at) VALUES ('maria.lopez@example.com', 'email', '', :body, "
                    ":kind, 1, :now, :sent)"), {"body": body, "kind": kind, "now": now, "sent": sent_at})

        upgrade_to_head(database_url)

        with engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("customers")}
            customer = connection.execute(text(
                "SELECT zip_code_hash, date_of_birth_hash, zip_code_sealed FROM customers")).one()
            change = connection.scalar(text("SELECT new_value FROM contact_changes"))
            bodies = connection.execute(text("SELECT kind, body FROM outbox ORDER BY id")).all()
            sources = connection.scalar(text("SELECT count(*) FROM funding_sources"))
    finally:
        engine.dispose()
    assert not columns & {"zip_code", "date_of_birth"}
    assert customer[:2] == (keyed_hash("30309", pepper), keyed_hash("1985-03-14", pepper))
    assert unseal_at_rest(customer[2], pepper) == "30309"
    assert "30030" not in change and unseal_at_rest(change, pepper) == "12 Oak St, Decatur, GA 30030"
    otp, reset, receipt = bodies
    assert "123456" not in otp[1] and unseal_at_rest(otp[1], pepper) == "Your code is 123456."
    assert reset[1] == DELIVERED_MARKER
    assert receipt[1] == "We received $25.00."
    assert sources == 1


def test_upgrading_a_store_from_0008_keeps_its_accounts_with_no_gap_and_no_payoff_date(
    database_url: str,
) -> None:
    """0009 and 0010 add columns to `accounts`, which others point at: its rows stay as they were,
    read as not paid off and without GAP, and the new tables start empty."""
    command.upgrade(alembic_config(database_url), "0008")
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO customers (id, first_name, last_name, email, mobile, zip_code_hash, "
                "date_of_birth_hash, ssn_last4_hash, zip_code_sealed, address_line1, city, state, "
                "created_at) VALUES (1, 'Maria', 'Lopez', 'm@example.com', '+14045550101', 'z', 'd', "
                "'s', 'sealed:x', '', '', '', :now)"), {"now": datetime(2026, 11, 24, tzinfo=timezone.utc)})
            connection.execute(text(
                "INSERT INTO accounts (id, account_number, customer_id, product, status, opened_on, "
                "first_payment_date, maturity_date, apr, principal_balance, monthly_payment, "
                "payment_due_day, next_due_date, past_due_amount, days_past_due, payments_remaining, "
                "fees_due, fraud_frozen) VALUES (1, '7301004821', 1, 'loan', 'current', :d, :d, :d, "
                "5.49, 1842055, 45218, 15, :d, 0, 0, 46, 0, :no)"), {"d": date(2026, 12, 15), "no": False})

        upgrade_to_head(database_url)

        with engine.connect() as connection:
            row = connection.execute(text(
                "SELECT principal_balance, paid_off_on, gap_coverage FROM accounts")).one()
            empty = [connection.scalar(text(f"SELECT count(*) FROM {table}"))
                     for table in ("vehicle_titles", "insurance_policies")]
    finally:
        engine.dispose()
    assert (row[0], row[1], bool(row[2])) == (1842055, None, False)
    assert empty == [0, 0]


def test_migration_0005_freezes_what_it_decides_as_the_app_decided_it() -> None:
    """A revision must not change what it does to an old store when the app changes later, so
    it keeps its own copy of the sealed kinds and the delivered marker: today's seals those
    kinds at least (a kind added later, such as `statement_ready`, is sealed from its start)."""
    import importlib

    from autofinance.adapters import notify, sealing

    revision = importlib.import_module(
        "autofinance.adapters.store.migrations.versions.0005_factor_hashes_and_attempt_counters")
    assert set(revision.SEALED_KINDS) <= notify.SEALED_KINDS
    assert revision.DELIVERED_MARKER == notify.DELIVERED_MARKER
    assert revision.SEALED_PREFIX == sealing.PREFIX


def test_migration_0005_needs_only_a_real_pepper_in_production(monkeypatch) -> None:
    import importlib

    revision = importlib.import_module(
        "autofinance.adapters.store.migrations.versions.0005_factor_hashes_and_attempt_counters")
    for name in ("RASA_API_TOKEN", "ACTION_SERVER_TOKEN", "PORTAL_JWT_SECRET"):
        monkeypatch.delenv(name, raising=False)  # a migration job carries no other secret
    monkeypatch.setenv("ASSISTANT_PROFILE", "production")
    monkeypatch.setenv("SECRET_PEPPER", "a-real-pepper-of-enough-length")
    assert revision._pepper().reveal() == "a-real-pepper-of-enough-length"
    monkeypatch.setenv("SECRET_PEPPER", "demo-pepper-change-me")
    with pytest.raises(RuntimeError, match="SECRET_PEPPER"):
        revision._pepper()
