"""Follows on a person's behalf: the service's app on each server, the people's grants

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "oauth_client",
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("client_secret", sa.Text(), nullable=False),
        sa.Column("redirect_uri", sa.String(length=1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("server", name=op.f("pk_oauth_client")),
    )
    op.create_table(
        "follow_grant",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("person_id", _ID, nullable=False),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=1024), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_follow_grant_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_grant")),
        sa.UniqueConstraint(
            "person_id",
            "network",
            "subject",
            name=op.f("uq_follow_grant_person_id_network_subject"),
        ),
    )
    op.create_index(op.f("ix_follow_grant_person_id"), "follow_grant", ["person_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_follow_grant_person_id"), table_name="follow_grant")
    op.drop_table("follow_grant")
    op.drop_table("oauth_client")
