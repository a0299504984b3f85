"""Verification factors as keyed hashes, sealed outbox secrets, attempt counters.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

ZIP and date of birth are verification factors, so they are kept as keyed hashes (like the SSN
last four) and the clear columns are dropped; the mailing ZIP letters need is kept sealed, and so
is the new value of a contact change (an address holds the ZIP; the column grows to fit). Outbox
messages with a code or a link (the kinds below) are sealed, or dropped when delivered. The new
tables `attempt_counters` (one row per limited key, with its block) and `counted_attempts` (the
time of each attempt that counts) hold the failure and send limits of verification, so the
challenges' own `sends` and `attempts` counts, never read, are dropped.

Converting rows needs SECRET_PEPPER, and only that: it is read from the environment (the demo's
default in the demo profile; in production it must be set and real, as the app requires), and
only when there are rows to convert. What this revision decides (which kinds are sealed, the
marker of a delivered message) is written here, frozen, not imported from today's app. The hashing and sealing are the app's own functions, so stored
values match what the app computes. Irreversible: a date of birth cannot come back from its hash.
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BATCH = 1000

customers = sa.table(
    "customers", sa.column("id", sa.Integer()), sa.column("zip_code", sa.String()),
    sa.column("date_of_birth", sa.Date()), sa.column("zip_code_hash", sa.String()),
    sa.column("date_of_birth_hash", sa.String()), sa.column("zip_code_sealed", sa.String()),
)
contact_changes = sa.table(
    "contact_changes", sa.column("id", sa.Integer()), sa.column("new_value", sa.String()),
)
outbox = sa.table(
    "outbox", sa.column("id", sa.Integer()), sa.column("kind", sa.String()),
    sa.column("body", sa.Text()), sa.column("sent_at", sa.DateTime(timezone=True)),
)


SEALED_KINDS = ("otp", "contact_change_code", "password_reset", "document_link")
DELIVERED_MARKER = "[delivered; the code or link is no longer kept]"
SEALED_PREFIX = "sealed:"


def _pepper() -> Any:
    """SECRET_PEPPER alone (not every production setting): a migration job needs no other secret."""
    import os

    from autofinance.config import Secret, production_problems, profile_of, value

    profile = profile_of(os.environ)
    refused = production_problems(os.environ).get("SECRET_PEPPER") if profile == "production" else None
    if refused:
        raise RuntimeError(f"migration 0005 converts stored factors with SECRET_PEPPER, which {refused}")
    return Secret(value(os.environ, "SECRET_PEPPER", profile))


def _batches(rows: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start:start + BATCH]


def _convert_customers(bind: sa.Connection) -> None:
    from autofinance.adapters.sealing import seal_at_rest
    from autofinance.adapters.security import keyed_hash

    rows = bind.execute(sa.select(customers.c.id, customers.c.zip_code,
                                  customers.c.date_of_birth)).all()
    if not rows:
        return
    pepper = _pepper()
    change = customers.update().where(customers.c.id == sa.bindparam("row_id")).values(
        zip_code_hash=sa.bindparam("zip_hash"), date_of_birth_hash=sa.bindparam("dob_hash"),
        zip_code_sealed=sa.bindparam("zip_sealed"))
    for batch in _batches(rows):
        bind.execute(change, [
            {"row_id": row.id, "zip_hash": keyed_hash(row.zip_code[:5], pepper),
             "dob_hash": keyed_hash(row.date_of_birth.isoformat(), pepper),
             "zip_sealed": seal_at_rest(row.zip_code, pepper)}
            for row in batch])


def _seal_outbox(bind: sa.Connection) -> None:
    from autofinance.adapters.sealing import seal_at_rest

    bind.execute(outbox.update().where(
        outbox.c.kind.in_(SEALED_KINDS), outbox.c.sent_at.is_not(None),
    ).values(body=DELIVERED_MARKER))
    rows = bind.execute(sa.select(outbox.c.id, outbox.c.body).where(
        outbox.c.kind.in_(SEALED_KINDS), outbox.c.sent_at.is_(None),
        sa.not_(outbox.c.body.startswith(SEALED_PREFIX)))).all()
    if not rows:
        return
    pepper = _pepper()
    change = outbox.update().where(outbox.c.id == sa.bindparam("row_id")).values(
        body=sa.bindparam("sealed"))
    for batch in _batches(rows):
        bind.execute(change, [{"row_id": row.id, "sealed": seal_at_rest(row.body, pepper)}
                              for row in batch])


def _seal_contact_changes(bind: sa.Connection) -> None:
    from autofinance.adapters.sealing import seal_at_rest

    rows = bind.execute(sa.select(contact_changes.c.id, contact_changes.c.new_value).where(
        sa.not_(contact_changes.c.new_value.startswith(SEALED_PREFIX)))).all()
    if not rows:
        return
    pepper = _pepper()
    change = contact_changes.update().where(
        contact_changes.c.id == sa.bindparam("row_id")).values(new_value=sa.bindparam("sealed"))
    for batch in _batches(rows):
        bind.execute(change, [{"row_id": row.id, "sealed": seal_at_rest(row.new_value, pepper)}
                              for row in batch])


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    # SQLite adds a NOT NULL column only with a default, and dropping that default means
    # rebuilding `customers`, which the foreign keys pointing at it forbid: there the (unused)
    # empty default stays. PostgreSQL adds the columns, fills them, then makes them NOT NULL.
    new_columns = (("zip_code_hash", 64), ("date_of_birth_hash", 64), ("zip_code_sealed", 255))
    for name, length in new_columns:
        op.add_column("customers", sa.Column(name, sa.String(length=length), nullable=not sqlite,
                                             server_default="" if sqlite else None))
    _convert_customers(bind)
    if not sqlite:
        for name, length in new_columns:
            op.alter_column("customers", name, existing_type=sa.String(length=length),
                            nullable=False)
    op.drop_column("customers", "zip_code")  # plain ALTER TABLE ... DROP COLUMN, on SQLite too
    op.drop_column("customers", "date_of_birth")
    with op.batch_alter_table("contact_changes") as batch:  # nothing points at it: SQLite may rebuild it
        batch.alter_column("new_value", type_=sa.String(length=512),
                           existing_type=sa.String(length=254), existing_nullable=False)
    _seal_contact_changes(bind)
    _seal_outbox(bind)
    op.create_table(
        "attempt_counters",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("scope", sa.String(length=24), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("scope", "key", name="uq_attempt_counters_scope_key"),
    )
    op.create_table(
        "counted_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("counter_id", sa.Integer(), sa.ForeignKey("attempt_counters.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_counted_attempts_counter_at", "counted_attempts", ["counter_id", "at"])
    # `attempts` is named in a CHECK constraint, which SQLite's DROP COLUMN refuses: the table is
    # rebuilt there (nothing points at it); PostgreSQL drops the constraint and columns in place.
    with op.batch_alter_table("verification_challenges") as batch:
        batch.drop_constraint("ck_challenge_attempts", type_="check")
        batch.drop_column("attempts")
        batch.drop_column("sends")


def downgrade() -> None:
    raise NotImplementedError(
        "0005 is irreversible: dates of birth and ZIP codes are kept only as keyed hashes")
