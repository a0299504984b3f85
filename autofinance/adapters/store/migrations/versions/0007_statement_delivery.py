"""How a customer gets their statements: by mail (the default) or paperless, by email.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

`statement_delivery` is 'mail' or 'email'; `statement_delivery_changed_at` says since when (None:
never changed). Every existing customer keeps paper statements until they choose otherwise.
Plain column types, so this revision imports no app code.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # plain ALTER TABLE ... ADD COLUMN: rebuilding `customers` on SQLite (which a CHECK would
    # need) is refused by the foreign keys pointing at it, so services.paperless keeps the values
    op.add_column("customers", sa.Column("statement_delivery", sa.String(length=5), nullable=False,
                                         server_default="mail"))
    op.add_column("customers", sa.Column("statement_delivery_changed_at",
                                         sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("customers", "statement_delivery_changed_at")
    op.drop_column("customers", "statement_delivery")
