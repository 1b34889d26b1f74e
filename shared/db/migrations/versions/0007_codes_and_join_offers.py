"""Proofs and link requests known by their whole code; join offers

A code is now single-use by its digest (which holds the requester), not by its 24-bit nonce,
which collided between people's codes at scale. Existing rows keep their nonce: codes of the
first format are still known by it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("link_proof", schema=None) as batch_op:
        batch_op.drop_constraint("uq_link_proof_nonce", type_="unique")
        batch_op.alter_column("nonce", new_column_name="code", existing_type=sa.String(64))
    with op.batch_alter_table("link_proof", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_link_proof_code"), ["code"])
    with op.batch_alter_table("link_request", schema=None) as batch_op:
        batch_op.alter_column(
            "nonce",
            new_column_name="code",
            existing_type=sa.String(16),
            type_=sa.String(64),
            existing_nullable=False,
        )
    op.create_table(
        "join_offer",
        sa.Column("id", _ID, nullable=False),
        sa.Column("identity_id", _ID, nullable=False),
        sa.Column("from_person", _ID, nullable=False),
        sa.Column("to_person", _ID, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identity.id"],
            name=op.f("fk_join_offer_identity_id_identity"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["from_person"],
            ["person.id"],
            name=op.f("fk_join_offer_from_person_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_person"],
            ["person.id"],
            name=op.f("fk_join_offer_to_person_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_join_offer")),
    )


def downgrade() -> None:
    op.drop_table("join_offer")
    with op.batch_alter_table("link_request", schema=None) as batch_op:
        batch_op.alter_column(
            "code", new_column_name="nonce", existing_type=sa.String(64), type_=sa.String(16)
        )
    with op.batch_alter_table("link_proof", schema=None) as batch_op:
        batch_op.drop_constraint("uq_link_proof_code", type_="unique")
        batch_op.alter_column("code", new_column_name="nonce", existing_type=sa.String(64))
    with op.batch_alter_table("link_proof", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_link_proof_nonce"), ["nonce"])
