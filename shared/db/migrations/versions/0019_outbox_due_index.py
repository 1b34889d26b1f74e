"""The outbox's due index by network, state, kind and time: the sender's query takes the
longest-due actions of a network (follows or the others) in the index's order, instead of
sorting every due row (a campaign queues millions of paced follows)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_action") as batch_op:
        batch_op.drop_index("ix_outbound_action_due")
        batch_op.create_index(
            "ix_outbound_action_due", ["network", "status", "kind", "not_before"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbound_action") as batch_op:
        batch_op.drop_index("ix_outbound_action_due")
        batch_op.create_index("ix_outbound_action_due", ["status", "not_before"], unique=False)
