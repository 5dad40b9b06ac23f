"""Offers: the catalogue's entries, each published by a supplier (its officer, or an administrator).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "offers",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("supplier_id", sa.String(64), nullable=False),
        sa.Column("contract_id", sa.String(128), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("use_cases", sa.Text, nullable=False, server_default=""),
        sa.Column("price_amount", sa.Float),
        sa.Column("price_currency", sa.String(8)),
        sa.Column("price_unit", sa.String(40)),
        sa.Column("licence", sa.String(200), nullable=False, server_default=""),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("published_by", sa.String(64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status in ('published', 'withdrawn')", name="known_status"),
    )


def downgrade() -> None:
    op.drop_table("offers")
