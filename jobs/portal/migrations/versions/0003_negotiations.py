"""Approver tokens and contract negotiations.

An officer's token for ``cde contracts approve`` (stored as its SHA-256, expiring, revocable); a buyer's
request for a product, its state as the Dataspace Protocol names them, each supplier's answer, and every
transition with who and when.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

STATES = ("REQUESTED", "OFFERED", "ACCEPTED", "AGREED", "VERIFIED", "FINALIZED", "TERMINATED")


def upgrade() -> None:
    op.create_table(
        "approver_tokens",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("label", sa.String(100), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "negotiations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("offer_id", sa.String(128), nullable=False),
        sa.Column("buyer_id", sa.String(64), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("contract_id", sa.String(128), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("terms_yaml", sa.Text, nullable=False),
        sa.Column("countered_by", sa.String(64)),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("store_path", sa.String(400)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state in (" + ", ".join(f"'{s}'" for s in STATES) + ")", name="known_state"),
    )
    op.create_table(
        "negotiation_parties",
        sa.Column("negotiation_id", sa.Integer, sa.ForeignKey("negotiations.id"), primary_key=True),
        sa.Column("supplier_id", sa.String(64), primary_key=True),
        sa.Column("answer", sa.String(20), nullable=False),
        sa.Column("answered_by", sa.String(64)),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "negotiation_steps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("negotiation_id", sa.Integer, sa.ForeignKey("negotiations.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("from_state", sa.String(20)),
        sa.Column("to_state", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("negotiation_steps")
    op.drop_table("negotiation_parties")
    op.drop_table("negotiations")
    op.drop_table("approver_tokens")
