"""Inbound posts (each handled once) and bot state (cursors, watermarks, sessions)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_post",
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("post_id", sa.String(length=512), nullable=False),
        sa.Column("author", sa.String(length=512), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("network", "post_id", name=op.f("pk_inbound_post")),
    )
    with op.batch_alter_table("inbound_post", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbound_post_author"), ["author"], unique=False)

    op.create_table(
        "bot_state",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=8000), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_bot_state")),
    )


def downgrade() -> None:
    op.drop_table("bot_state")
    with op.batch_alter_table("inbound_post", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_post_author"))
    op.drop_table("inbound_post")
