"""Contact changes: a pending email, mobile or address change and the keyed hash of its code.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Plain database types, as in 0001 (UTCDateTime is DateTime(timezone=True)), so this revision
never imports app code. A partial unique index keeps one pending change per customer and field.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_PENDING = "confirmed_at IS NULL AND cancelled_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "contact_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=7), nullable=False),
        sa.Column("new_value", sa.String(length=254), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "field IN ('email', 'mobile', 'address')", name="ck_contact_change_field"
        ),
        sa.CheckConstraint("attempts >= 0", name="ck_contact_change_attempts"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_contact_changes_customer_id", "contact_changes", ["customer_id"])
    # at most one pending change per customer and field
    op.create_index(
        "uq_contact_change_pending",
        "contact_changes",
        ["customer_id", "field"],
        unique=True,
        sqlite_where=sa.text(_PENDING),
        postgresql_where=sa.text(_PENDING),
    )


def downgrade() -> None:
    op.drop_table("contact_changes")  # its indexes go with it
