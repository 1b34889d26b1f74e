"""Everything the service holds about a person, for them to take away (the portal's "My
data"): every row of every table that refers to them, table by table.

Found by the schema itself, not by a list kept by hand: a row belongs to a person when a
foreign key points at them, at one of their accounts or at one of their packs, or when it
names one of their accounts (an edge of their archive, a post they sent). A table added
later is exported without anyone remembering to. What is withheld is a credential, never
a fact: the hash of a one-time link, a pending link code, a grant's token. The fields are
described in ``docs/EXPORT.md``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Table, false, or_
from sqlmodel import SQLModel, select

from shared.clock import iso_utc
from shared.db.models import Collection, Identity, XIdentity
from shared.identity.accounts import Thread

if TYPE_CHECKING:
    from sqlmodel import Session

NOT_PERSONAL = frozenset(
    {"bot_state", "reconnect_run", "service_lease", "oauth_client", "grant_revocation"}
)
"""Tables of the service's own workings: nothing in them is about anyone living here
(``grant_revocation`` holds only the sealed tokens of erased people's grants, until their
servers are told)."""
WITHHELD = {
    "upload_token": {"token_hash"},
    "archive_upload": {"key_hash", "token_hash", "claimed_by"},
    "link_request": {"code"},
    "follow_grant": {"token"},
}
"""Credentials: who holds them can act as the person; the rest of their row is exported."""
# Rows that name an account without a foreign key (kept apart from their owner on purpose:
# edges are bulk-loaded, posts outlive the people who sent them).
_NAMED = {"follow_edge": ("owner_x_id", "x"), "inbound_post": ("author", "subject")}
# What a foreign key to each table means for a person: theirs if the key is one of these.
_OWNED_KEYS = {
    "person.id": "person",
    "identity.id": "identity",
    "x_identity.x_account_id": "x",
    "collection.id": "collection",
}


def export(session: Session, person_id: int) -> dict[str, Any]:
    """Every table's rows about ``person_id`` (the ``person`` table: their own row)."""
    keys = _keys(session, person_id)
    exported: dict[str, Any] = {"format": "helloquittex-export/1", "person": person_id}
    for table in SQLModel.metadata.sorted_tables:
        if table.name in NOT_PERSONAL:
            continue
        rows = session.execute(table.select().where(_theirs(table, keys))).mappings()
        hidden = WITHHELD.get(table.name, set())
        exported[table.name] = [
            {name: _plain(value) for name, value in row.items() if name not in hidden}
            for row in rows
        ]
    return exported


def _keys(session: Session, person_id: int) -> dict[str, list[Any]]:
    identities = Identity.of_person(session, person_id)
    return {
        "person": [person_id],
        "identity": [i.id for i in identities],
        "subject": [i.subject for i in identities],
        "x": [x.x_account_id for x in XIdentity.of_person(session, person_id)],
        "collection": [
            c.id for c in session.exec(select(Collection).where(Collection.person_id == person_id))
        ],
    }


def _theirs(table: Table, keys: dict[str, list[Any]]) -> ColumnElement[bool]:
    """Whether a row of ``table`` is about the person whose ``keys`` these are."""
    conditions: list[ColumnElement[bool]] = []
    if table.name == "person":
        conditions.append(table.c.id.in_(keys["person"]))
    if table.name in _NAMED:
        name, by = _NAMED[table.name]
        conditions.append(table.c[name].in_(keys[by]))
    for column in table.columns:
        for foreign in column.foreign_keys:
            owned = _OWNED_KEYS.get(foreign.target_fullname)
            if owned is not None:
                conditions.append(column.in_(keys[owned]))
    return or_(*conditions) if conditions else false()


def _plain(value: Any) -> Any:
    """A column's value as JSON holds it (as the database keeps it)."""
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Thread):
        return value.dump()
    return value
