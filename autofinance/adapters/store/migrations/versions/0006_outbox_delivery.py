"""Outbox delivery state: claims, retries and a failure record per message.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

A real sender (SMTP for email, Twilio for texts) claims a message before handing it over, so two
delivery workers never send it twice; a message the provider did not take is tried again later
(`attempts`, `next_attempt_at`) and, when it never goes, keeps why (`failed_at`, `last_error`).
Plain column types, so this revision imports no app code.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_error", sa.String(length=200), nullable=True))
    op.create_index("ix_outbox_unsent", "outbox", ["channel", "sent_at", "failed_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_unsent", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        for name in ("last_error", "failed_at", "next_attempt_at", "claimed_at", "attempts"):
            batch.drop_column(name)
