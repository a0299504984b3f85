"""Insurance: the policy on file for each financed vehicle, and whether a GAP contract covers it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

`insurance_policies` is a new table with its CHECK constraints and a partial unique index (one
active policy per account, as autopay's). `accounts.gap_coverage` is a plain ADD COLUMN with a
server default, so existing rows read "no GAP". Plain column types: no app code imported.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: Union[str, Sequence[str], None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "insurance_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("insurer", sa.String(length=60), nullable=False),
        sa.Column("policy_number_sealed", sa.String(length=255), nullable=False),
        sa.Column("policy_last4", sa.String(length=4), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('active', 'replaced')", name="ck_insurance_status"),
        sa.CheckConstraint("expires_on > effective_on", name="ck_insurance_dates"),
        sa.CheckConstraint("length(policy_last4) = 4", name="ck_insurance_last4"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_insurance_policies_account_id", "insurance_policies", ["account_id"])
    op.create_index(
        "uq_insurance_active_account",
        "insurance_policies",
        ["account_id"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )
    op.add_column("accounts", sa.Column("gap_coverage", sa.Boolean(), nullable=False,
                                        server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("accounts", "gap_coverage")
    op.drop_table("insurance_policies")  # its indexes go with it
