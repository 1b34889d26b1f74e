"""Typed, versioned outbound actions: every stored action's payload gains its version (1),
and replies take their typed form (``to`` instead of ``to_author``), as do the replies that
link requests keep for their confirmation

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500


def typed(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The version-1 form of a payload stored before versions (a scrubbed one stays empty)."""
    if not payload or "v" in payload:
        return payload
    if kind == "reply":
        author = payload.get("to_author") or {}
        return {
            "v": 1,
            "to_post": payload.get("to_post", ""),
            "to": {"subject": author.get("subject", ""), "handle": author.get("handle", "")},
            "text": payload.get("text", ""),
            "lang": payload.get("lang", "fr"),
            "direct": bool(payload.get("direct")),
            "context": payload.get("context") or {},
            "scrub": bool(payload.get("scrub")),
        }
    return {"v": 1, **payload}


def untyped(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    if not payload or "v" not in payload:
        return payload
    rest = {k: v for k, v in payload.items() if k != "v"}
    if kind == "reply":
        rest["to_author"] = rest.pop("to")
    return rest


def _rewrite(table: str, key: str, column: str, kind_of: Any, change: Any) -> None:
    bind = op.get_bind()
    rows = sa.table(table, sa.column(key), sa.column(column, sa.JSON), *kind_of.columns)
    last: Any = None
    while True:
        query = sa.select(rows).order_by(rows.c[key]).limit(BATCH)
        if last is not None:
            query = query.where(rows.c[key] > last)
        batch = bind.execute(query).mappings().all()
        if not batch:
            return
        for row in batch:
            value = row[column] or {}
            new = change(kind_of.kind(row), value)
            if new != value:
                bind.execute(sa.update(rows).where(rows.c[key] == row[key]).values({column: new}))
        last = batch[-1][key]


class _Outbox:
    columns: tuple[Any, ...] = (sa.column("kind"),)

    @staticmethod
    def kind(row: Any) -> str:
        return str(row["kind"])


class _Requests:
    columns: tuple[Any, ...] = ()

    @staticmethod
    def kind(_row: Any) -> str:
        return "reply"


def upgrade() -> None:
    _rewrite("outbound_action", "id", "payload", _Outbox, typed)
    _rewrite("link_request", "nonce", "reply", _Requests, typed)


def downgrade() -> None:
    _rewrite("outbound_action", "id", "payload", _Outbox, untyped)
    _rewrite("link_request", "nonce", "reply", _Requests, untyped)
