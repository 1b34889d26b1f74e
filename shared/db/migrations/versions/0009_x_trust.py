"""X trust levels: claims, reservations, verified ids, username proofs, disputes

A post on X proved control of a username, never of an id: X accounts stored as ``proven``
become ``claimed`` with their username proven at that time. X accounts of organisations
(imported by an operator, with no account on the networks) become ``reserved``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("x_identity", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("username_proven_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("username_proof", sa.String(length=1024), nullable=True))
    op.execute(
        "UPDATE x_identity SET trust = 'claimed', username_proven_at = updated_at "
        "WHERE trust = 'proven'"
    )
    op.execute(
        "UPDATE x_identity SET trust = 'reserved' WHERE trust = 'claimed' AND person_id IN "
        "(SELECT id FROM person WHERE kind = 'organisation' AND id NOT IN "
        "(SELECT person_id FROM identity))"
    )
    op.create_table(
        "x_claim",
        sa.Column("id", _ID, nullable=False),
        sa.Column("x_account_id", sa.BigInteger(), nullable=False),
        sa.Column("person_id", _ID, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["x_account_id"],
            ["x_identity.x_account_id"],
            name=op.f("fk_x_claim_x_account_id_x_identity"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_x_claim_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_x_claim")),
        sa.UniqueConstraint(
            "x_account_id", "person_id", name=op.f("uq_x_claim_x_account_id_person_id")
        ),
    )
    with op.batch_alter_table("x_claim", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_x_claim_x_account_id"), ["x_account_id"])
        batch_op.create_index(batch_op.f("ix_x_claim_person_id"), ["person_id"])


def downgrade() -> None:
    op.drop_table("x_claim")
    op.execute("UPDATE x_identity SET trust = 'claimed' WHERE trust IN ('reserved', 'verified')")
    op.execute("UPDATE x_identity SET trust = 'proven' WHERE username_proven_at IS NOT NULL")
    with op.batch_alter_table("x_identity", schema=None) as batch_op:
        batch_op.drop_column("username_proof")
        batch_op.drop_column("username_proven_at")
