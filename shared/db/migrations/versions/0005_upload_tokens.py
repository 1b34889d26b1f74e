"""Upload tokens: one-time links to upload an X archive

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "upload_token",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_upload_token_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_upload_token")),
    )
    with op.batch_alter_table("upload_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_upload_token_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("upload_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_upload_token_person_id"))
    op.drop_table("upload_token")
