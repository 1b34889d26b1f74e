"""Matches: former X contacts found on the networks; people whose matches are due

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("match_requested_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "x_match",
        sa.Column("person_id", _ID, nullable=False),
        sa.Column("contact_id", _ID, nullable=False),
        sa.Column("relation", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_x_match_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["person.id"],
            name=op.f("fk_x_match_contact_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", "contact_id", "relation", name=op.f("pk_x_match")),
    )
    with op.batch_alter_table("x_match", schema=None) as batch_op:
        batch_op.create_index("ix_x_match_contact", ["contact_id"], unique=False)


def downgrade() -> None:
    op.drop_table("x_match")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("match_requested_at")
