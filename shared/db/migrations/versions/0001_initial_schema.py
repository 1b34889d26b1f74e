"""Initial schema: persons, identities, proofs, imports, follow edges, consents, outbound actions

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate may emit sqlmodel types)
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "follow_edge",
        sa.Column("owner_x_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("direction", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("other_x_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint(
            "owner_x_id", "direction", "other_x_id", name=op.f("pk_follow_edge")
        ),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("follow_edge", schema=None) as batch_op:
        batch_op.create_index(
            "ix_follow_edge_other", ["other_x_id", "direction", "owner_x_id"], unique=False
        )

    op.create_table(
        "person",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
    )
    op.create_table(
        "consent",
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_consent_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", "purpose", name=op.f("pk_consent")),
    )
    op.create_table(
        "identity",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=512), nullable=False),
        sa.Column("handle", sa.String(length=512), nullable=False),
        sa.Column("trust", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_identity_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity")),
        sa.UniqueConstraint("network", "subject", name=op.f("uq_identity_network_subject")),
    )
    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identity_person_id"), ["person_id"], unique=False)

    op.create_table(
        "link_proof",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=512), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("post_uri", sa.String(length=1024), nullable=False),
        sa.Column("post_url", sa.String(length=1024), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_link_proof_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_proof")),
        sa.UniqueConstraint("nonce", name=op.f("uq_link_proof_nonce")),
    )
    with op.batch_alter_table("link_proof", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_link_proof_person_id"), ["person_id"], unique=False)

    op.create_table(
        "outbound_action",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remote_ref", sa.String(length=1024), nullable=True),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_outbound_action_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_action")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbound_action_idempotency_key")),
    )
    with op.batch_alter_table("outbound_action", schema=None) as batch_op:
        batch_op.create_index("ix_outbound_action_due", ["status", "not_before"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_outbound_action_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "x_identity",
        sa.Column("x_account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("trust", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_x_identity_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("x_account_id", name=op.f("pk_x_identity")),
    )
    with op.batch_alter_table("x_identity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_x_identity_person_id"), ["person_id"], unique=False)

    op.create_table(
        "archive_import",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("x_account_id", sa.BigInteger(), nullable=False),
        sa.Column("followers", sa.BigInteger(), nullable=False),
        sa.Column("following", sa.BigInteger(), nullable=False),
        sa.Column("rejected_rows", sa.BigInteger(), nullable=False),
        sa.Column("duplicate_rows", sa.BigInteger(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["x_account_id"],
            ["x_identity.x_account_id"],
            name=op.f("fk_archive_import_x_account_id_x_identity"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_import")),
        sa.UniqueConstraint("x_account_id", name=op.f("uq_archive_import_x_account_id")),
    )


def downgrade() -> None:
    op.drop_table("archive_import")
    with op.batch_alter_table("x_identity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_x_identity_person_id"))

    op.drop_table("x_identity")
    with op.batch_alter_table("outbound_action", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_action_person_id"))
        batch_op.drop_index("ix_outbound_action_due")

    op.drop_table("outbound_action")
    with op.batch_alter_table("link_proof", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_proof_person_id"))

    op.drop_table("link_proof")
    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_person_id"))

    op.drop_table("identity")
    op.drop_table("consent")
    op.drop_table("person")
    with op.batch_alter_table("follow_edge", schema=None) as batch_op:
        batch_op.drop_index("ix_follow_edge_other")

    op.drop_table("follow_edge")
