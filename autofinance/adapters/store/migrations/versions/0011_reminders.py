"""Reminders and alerts: consent per channel and time zone on customers, the reminders ledger,
the scheduler's lease, and WhatsApp and Telegram in the outbox.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

The ledger's unique key (customer, kind, event) is what makes a reminder go at most once, so it
is a constraint of the table, not a check in code. `customers` and `hardship_cases` get plain
ADD COLUMNs (other tables point at them; SQLite could not rebuild them); `outbox`, which nothing
points at yet, is rebuilt on SQLite to widen its channel CHECK. Plain column types, so this
revision imports no app code.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: Union[str, Sequence[str], None] = "0010"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_CHANNELS_BEFORE = "channel IN ('email', 'sms')"
_CHANNELS_AFTER = "channel IN ('email', 'sms', 'whatsapp', 'telegram')"


def upgrade() -> None:
    op.add_column("customers", sa.Column("time_zone", sa.String(length=40), nullable=False,
                                         server_default="America/New_York"))
    op.add_column("customers", sa.Column("reminder_channel", sa.String(length=8), nullable=False,
                                         server_default="email"))
    for name in ("sms_consent_at", "whatsapp_consent_at", "telegram_consent_at"):
        op.add_column("customers", sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.add_column("customers", sa.Column("telegram_chat_id", sa.String(length=32), nullable=True))
    op.add_column("hardship_cases", sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("channel", type_=sa.String(length=8), existing_type=sa.String(length=5),
                           existing_nullable=False)
        batch.drop_constraint("ck_outbox_channel", type_="check")
        batch.create_check_constraint("ck_outbox_channel", _CHANNELS_AFTER)
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("event_key", sa.String(length=80), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "kind", "event_key", name="uq_reminders_event"),
        sa.UniqueConstraint("outbox_id"),
    )
    op.create_index("ix_reminders_customer_sent", "reminders", ["customer_id", "sent_at"])
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=80), nullable=False),
        sa.Column("token", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("job_leases")
    op.drop_table("reminders")  # its index goes with it
    op.execute("DELETE FROM outbox WHERE channel IN ('whatsapp', 'telegram')")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("ck_outbox_channel", type_="check")
        batch.create_check_constraint("ck_outbox_channel", _CHANNELS_BEFORE)
        batch.alter_column("channel", type_=sa.String(length=5), existing_type=sa.String(length=8),
                           existing_nullable=False)
    op.drop_column("hardship_cases", "decided_at")
    for name in ("telegram_chat_id", "telegram_consent_at", "whatsapp_consent_at", "sms_consent_at",
                 "reminder_channel", "time_zone"):
        op.drop_column("customers", name)
