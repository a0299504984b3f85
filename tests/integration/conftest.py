"""A fresh, empty database per test, on SQLite and on PostgreSQL.

PostgreSQL is the production dialect, so it is never silently left out: when the server is not
reachable its tests are reported as skipped, with the reason.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, make_url

from autofinance.adapters.store.db import make_engine
from autofinance.adapters.store.migrate import upgrade_to_head

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _libpq_url(url: str, database: str | None = None) -> str:
    """The URL psycopg understands (no '+driver'), optionally pointing at another database."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture
def _postgres_database() -> Iterator[str]:
    server = make_url(POSTGRES_URL)
    try:
        admin = psycopg.connect(_libpq_url(POSTGRES_URL), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        pytest.skip(f"PostgreSQL not reachable at {server.host}:{server.port}: {reason}")
    name = f"autofinance_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield _libpq_url(POSTGRES_URL, database=name)
        finally:
            # FORCE ends connections a failed test may have left open
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database, once per dialect."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("_postgres_database")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to head."""
    upgrade_to_head(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()
