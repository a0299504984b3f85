"""Alembic environment: configured in code by `autofinance.adapters.store.migrate`, no alembic.ini.

The database comes from the `sqlalchemy.url` main option. The engine is built by the app's
`make_engine` so migrations see the same SQLite pragmas and PostgreSQL driver as the app.
"""
from __future__ import annotations

import logging
from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.types import TypeDecorator

from autofinance.adapters.store.db import make_engine
from autofinance.adapters.store.models import Base

logger = logging.getLogger(__name__)


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Render app column types (Money, UTCDateTime) as their plain impl types.

    A revision is a frozen record of the schema; importing app types would tie old revisions
    to code that may change or disappear.
    """
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def run_migrations() -> None:
    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_item=render_item,
                render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run_migrations()
