"""Outlets' addresses and numbers: each directory entry gets a slug (its invitation page's
and share button's name, made from its name once), what it says of X's button on its
site, and the numbers counted for it per day (shares, invitations)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03
"""

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _slug(name: str, taken: set[str]) -> str:
    # The rule as it stood at this revision (shared/portal/directory.py keeps the live one).
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")[:40].strip("-") or "outlet"
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug


def upgrade() -> None:
    with op.batch_alter_table("directory_entry") as batch_op:
        batch_op.add_column(sa.Column("slug", sa.String(length=48), nullable=True))
        batch_op.add_column(sa.Column("x_button", sa.String(length=16), nullable=True))
    entries = sa.table(
        "directory_entry", sa.column("person_id", _ID), sa.column("name"), sa.column("slug")
    )
    connection = op.get_bind()
    taken: set[str] = set()
    rows = connection.execute(sa.select(entries.c.person_id, entries.c.name).order_by("person_id"))
    for person_id, name in rows.all():
        connection.execute(
            entries.update().where(entries.c.person_id == person_id).values(slug=_slug(name, taken))
        )
    with op.batch_alter_table("directory_entry") as batch_op:
        batch_op.alter_column("slug", existing_type=sa.String(length=48), nullable=False)
        batch_op.create_unique_constraint(op.f("uq_directory_entry_slug"), ["slug"])
    op.create_table(
        "outlet_tally",
        sa.Column("person_id", _ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_outlet_tally_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", "day", "kind", name=op.f("pk_outlet_tally")),
    )


def downgrade() -> None:
    op.drop_table("outlet_tally")
    with op.batch_alter_table("directory_entry") as batch_op:
        batch_op.drop_constraint(op.f("uq_directory_entry_slug"), type_="unique")
        batch_op.drop_column("x_button")
        batch_op.drop_column("slug")
