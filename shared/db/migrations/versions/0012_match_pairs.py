"""Matches stored once per follow (follower, followee), not once per side

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30

Each pair was two rows (the person's following, the contact's follower); the full match
wrote both and indexed three ways. The pairs already found keep when they were found.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _person(column: str) -> sa.Column[int]:
    return sa.Column(
        column,
        _ID,
        sa.ForeignKey("person.id", name=f"fk_x_match_{column}_person", ondelete="CASCADE"),
        primary_key=True,
        nullable=False,
    )


def upgrade() -> None:
    # Relation 2: the person followed the contact; relation 1: the contact followed them.
    op.execute(
        "CREATE TABLE x_match_kept AS SELECT follower_id, followee_id, min(found_at) AS found_at"
        " FROM (SELECT person_id AS follower_id, contact_id AS followee_id, found_at"
        " FROM x_match WHERE relation = 2 UNION ALL SELECT contact_id, person_id, found_at"
        " FROM x_match WHERE relation = 1) s GROUP BY follower_id, followee_id"
    )
    op.drop_table("x_match")
    op.create_table(
        "x_match",
        _person("follower_id"),
        _person("followee_id"),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("follower_id", "followee_id", name=op.f("pk_x_match")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_x_match_followee", "x_match", ["followee_id", "follower_id"])
    op.create_index("ix_x_match_found_at", "x_match", ["found_at"])
    op.execute(
        "INSERT INTO x_match (follower_id, followee_id, found_at)"
        " SELECT follower_id, followee_id, found_at FROM x_match_kept"
    )
    op.drop_table("x_match_kept")


def downgrade() -> None:
    op.execute(
        "CREATE TABLE x_match_kept AS SELECT follower_id, followee_id, found_at FROM x_match"
    )
    op.drop_table("x_match")
    op.create_table(
        "x_match",
        sa.Column("person_id", _ID, nullable=False),
        sa.Column("contact_id", _ID, nullable=False),
        sa.Column("relation", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name="fk_x_match_person_id_person", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["person.id"], name="fk_x_match_contact_id_person", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("person_id", "contact_id", "relation", name="pk_x_match"),
    )
    op.create_index("ix_x_match_contact", "x_match", ["contact_id"])
    op.execute(
        "INSERT INTO x_match (person_id, contact_id, relation, found_at)"
        " SELECT follower_id, followee_id, 2, found_at FROM x_match_kept"
        " UNION ALL SELECT followee_id, follower_id, 1, found_at FROM x_match_kept"
    )
    op.drop_table("x_match_kept")
