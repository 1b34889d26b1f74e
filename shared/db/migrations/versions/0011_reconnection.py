"""Reconnection: runs, deliveries, the bot's lists and packs; being findable; threads

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _person(
    column: str, table: str, *, primary: bool = False, nullable: bool = False
) -> sa.Column[int]:
    return sa.Column(
        column,
        _ID,
        sa.ForeignKey("person.id", name=f"fk_{table}_{column}_person", ondelete="CASCADE"),
        primary_key=primary,
        nullable=nullable,
    )


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("findable", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("thread", sa.JSON(), nullable=True))
    with op.batch_alter_table("outbound_action", schema=None) as batch_op:
        batch_op.add_column(sa.Column("after", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("cost", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("upload_token", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purpose", sa.String(length=16), nullable=False, server_default="upload")
        )
    op.create_table(
        "reconnect_run",
        sa.Column("id", _ID, primary_key=True, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("found", sa.Integer(), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("actions", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("deferred", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconnect_run")),
        sa.UniqueConstraint("key", name=op.f("uq_reconnect_run_key")),
    )
    op.create_table(
        "collection",
        sa.Column("id", _ID, primary_key=True, nullable=False),
        sa.Column("network", sa.String(length=16), nullable=False),
        _person("person_id", "collection", nullable=True),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection")),
    )
    op.create_index("ix_collection_person_id", "collection", ["person_id"])
    op.create_table(
        "collection_member",
        sa.Column(
            "collection_id",
            _ID,
            sa.ForeignKey(
                "collection.id",
                name="fk_collection_member_collection_id_collection",
                ondelete="CASCADE",
            ),
            primary_key=True,
            nullable=False,
        ),
        _person("contact_id", "collection_member", primary=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint("collection_id", "contact_id", name=op.f("pk_collection_member")),
    )
    op.create_table(
        "delivery",
        _person("person_id", "delivery", primary=True),
        _person("contact_id", "delivery", primary=True),
        sa.Column("network", sa.String(length=16), primary_key=True, nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column(
            "collection_id",
            _ID,
            sa.ForeignKey(
                "collection.id", name="fk_delivery_collection_id_collection", ondelete="SET NULL"
            ),
            nullable=True,
        ),
        sa.Column(
            "run_id",
            _ID,
            sa.ForeignKey(
                "reconnect_run.id", name="fk_delivery_run_id_reconnect_run", ondelete="SET NULL"
            ),
            nullable=True,
        ),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("person_id", "contact_id", "network", name=op.f("pk_delivery")),
    )
    op.create_index("ix_delivery_contact", "delivery", ["contact_id"])


def downgrade() -> None:
    op.drop_table("delivery")
    op.drop_table("collection_member")
    op.drop_index("ix_collection_person_id", table_name="collection")
    op.drop_table("collection")
    op.drop_table("reconnect_run")
    with op.batch_alter_table("upload_token", schema=None) as batch_op:
        batch_op.drop_column("purpose")
    with op.batch_alter_table("outbound_action", schema=None) as batch_op:
        batch_op.drop_column("cost")
        batch_op.drop_column("after")
    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.drop_column("thread")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("findable")
