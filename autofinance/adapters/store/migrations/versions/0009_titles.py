"""Titles: who holds the vehicle's title, and the lien release after a loan is paid off.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

`vehicle_titles` is a new table, so its CHECK constraints come with it. `accounts.paid_off_on`
is a plain ADD COLUMN (SQLite cannot rebuild a table others point at). Plain column types, so
this revision imports no app code.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: Union[str, Sequence[str], None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "vehicle_titles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("release_requested_on", sa.Date(), nullable=True),
        sa.Column("released_on", sa.Date(), nullable=True),
        sa.Column("mailed_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('electronic', 'paper')", name="ck_titles_kind"),
        sa.CheckConstraint("status IN ('lien_held', 'release_requested', 'released', 'mailed')",
                           name="ck_titles_status"),
        sa.CheckConstraint("status = 'lien_held' OR release_requested_on IS NOT NULL",
                           name="ck_titles_requested_on"),
        sa.CheckConstraint("status NOT IN ('released', 'mailed') OR released_on IS NOT NULL",
                           name="ck_titles_released_on"),
        sa.CheckConstraint("status <> 'mailed' OR (kind = 'paper' AND mailed_on IS NOT NULL)",
                           name="ck_titles_mailed_on"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id"),
    )
    op.add_column("accounts", sa.Column("paid_off_on", sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column("accounts", "paid_off_on")
    op.drop_table("vehicle_titles")
