"""The migrations, not `create_all`, build the production schema: they must match models.py."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, inspect

from autofinance.adapters.store.db import make_engine
from autofinance.adapters.store.migrate import current_revision, head_revision, upgrade_to_head
from autofinance.adapters.store.models import Base

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
