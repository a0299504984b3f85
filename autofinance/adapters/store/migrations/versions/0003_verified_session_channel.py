"""Verified sessions remember the input channel the customer verified on.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

A conversation id arriving on another channel must not inherit the verification (the REST
webhook trusts the sender id the client sends). Existing rows get 'unknown'.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("verified_sessions") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(length=40), nullable=False, server_default="unknown")
        )


def downgrade() -> None:
    with op.batch_alter_table("verified_sessions") as batch:
        batch.drop_column("channel")
