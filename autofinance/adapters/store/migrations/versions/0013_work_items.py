"""Specialist work queues: the requests a person decides in the console.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08

One table. Hardship requests keep their case in `hardship_cases` (the item points at it by
`subject`); the item is what is claimed, decided and told to the customer. One open item per
subject is a partial unique index, as for the active insurance policy. Plain column types, so
this revision imports no app code.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: Union[str, Sequence[str], None] = "0012"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "work_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=60), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.Integer(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("customer_told_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('hardship', 'lease_extension', 'insurance_document', 'fee_waiver')",
            name="ck_work_items_kind"),
        sa.CheckConstraint("status IN ('open', 'claimed', 'completed', 'declined')",
                           name="ck_work_items_status"),
        sa.CheckConstraint("status = 'open' OR claimed_by IS NOT NULL",
                           name="ck_work_items_claimed_by"),
        sa.CheckConstraint("status NOT IN ('completed', 'declined') OR decided_at IS NOT NULL",
                           name="ck_work_items_decided_at"),
        sa.CheckConstraint("status <> 'declined' OR note IS NOT NULL",
                           name="ck_work_items_decline_note"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["claimed_by"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    op.create_index("ix_work_items_customer_id", "work_items", ["customer_id"])
    op.create_index("ix_work_items_status", "work_items", ["status"])
    op.create_index("uq_work_items_open_subject", "work_items", ["kind", "subject"], unique=True,
                    sqlite_where=sa.text("status IN ('open', 'claimed')"),
                    postgresql_where=sa.text("status IN ('open', 'claimed')"))


def downgrade() -> None:
    op.drop_table("work_items")  # its indexes go with it
