"""The support console: staff sessions, sealed TOTP secrets and a replay guard, follow-up, conversation starts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Plain column types (UTCDateTime is DateTime(timezone=True)) so this revision imports no app code.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        # TOTP secrets are stored sealed (encrypted) from now on, which takes more room
        batch.alter_column("totp_secret", type_=sa.String(length=255),
                           existing_type=sa.String(length=64), existing_nullable=False)
        batch.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("handoff_tickets") as batch:
        batch.add_column(sa.Column("followup", sa.String(length=10), nullable=True))
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff_users.id"), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_staff_sessions_staff_id", "staff_sessions", ["staff_id"])
    op.create_table(
        "conversation_starts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_conversation_starts_conversation_id", "conversation_starts", ["conversation_id"])
    op.create_index("ix_conversation_starts_started_at", "conversation_starts", ["started_at"])


def downgrade() -> None:
    op.drop_table("conversation_starts")
    op.drop_table("staff_sessions")
    with op.batch_alter_table("handoff_tickets") as batch:
        batch.drop_column("followup")
    with op.batch_alter_table("staff_users") as batch:
        batch.alter_column("totp_secret", type_=sa.String(length=64),
                           existing_type=sa.String(length=255), existing_nullable=False)
        batch.drop_column("active")
        batch.drop_column("totp_last_step")
