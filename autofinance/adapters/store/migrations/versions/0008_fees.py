"""Fees: late and returned-payment fees with their reasons, and the last courtesy waiver.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

`fees` is a new table, so its CHECK constraints are created with it (on SQLite a table others
point at cannot be rebuilt later). `accounts.last_fee_waiver_on` is a plain ADD COLUMN: the
once-in-12-months rule of services.fees is checked in the same UPDATE that records a waiver.
Plain column types (Money is BigInteger cents, UTCDateTime is DateTime(timezone=True)), so this
revision imports no app code.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "fees",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("charged_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("waived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("waiver_reason", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('late', 'returned_payment')", name="ck_fees_kind"),
        sa.CheckConstraint("amount > 0", name="ck_fees_amount"),
        sa.CheckConstraint("status IN ('charged', 'paid', 'waived')", name="ck_fees_status"),
        sa.CheckConstraint("status <> 'waived' OR waived_at IS NOT NULL", name="ck_fees_waived_at"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_fees_account_id", "fees", ["account_id"])
    op.add_column("accounts", sa.Column("last_fee_waiver_on", sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column("accounts", "last_fee_waiver_on")
    op.drop_table("fees")  # its index goes with it
