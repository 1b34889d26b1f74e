"""Trust, second round: a claim X itself verified (a verified account never moves silently),
and grants whose server must still be told they are over

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("x_claim") as batch_op:
        batch_op.add_column(
            sa.Column("verified", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "grant_revocation",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grant_revocation")),
    )
    op.create_index(op.f("ix_grant_revocation_next_at"), "grant_revocation", ["next_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_grant_revocation_next_at"), table_name="grant_revocation")
    op.drop_table("grant_revocation")
    with op.batch_alter_table("x_claim") as batch_op:
        batch_op.drop_column("verified")
