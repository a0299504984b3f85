"""New funding sources: bank accounts added in chat, debit cards added on a single-use page.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08

A funding source added by the customer records when (`created_at`) and, from chat, a keyed hash
of the conversation (`added_in`), so new sources can be limited per customer and per
conversation. The page that takes a debit card is reached by a single-use link whose token is
kept only as a keyed hash, as for registration links. No account or card number is stored:
sources keep their last four and the processor's token.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: Union[str, Sequence[str], None] = "0013"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("funding_sources") as batch:
        batch.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("added_in", sa.String(length=64), nullable=True))
        batch.create_index("ix_funding_sources_added_in", ["added_in"])
    op.create_table(
        "card_link_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_card_link_tokens_customer_id", "card_link_tokens", ["customer_id"])


def downgrade() -> None:
    op.drop_table("card_link_tokens")  # its index goes with it
    with op.batch_alter_table("funding_sources") as batch:
        batch.drop_index("ix_funding_sources_added_in")
        batch.drop_column("added_in")
        batch.drop_column("created_at")
