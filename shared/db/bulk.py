"""Loading millions of follow edges fast, on each database the way it loads fastest.

PostgreSQL: ``COPY ... FROM STDIN (FORMAT BINARY)``, the rows encoded by numpy in one pass.
SQLite: one ``INSERT ... SELECT`` per block over ``json_each``, so rows never cross into
Python one by one (3-4x faster than ``executemany`` here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from sqlalchemy import text

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.engine import Connection

    from shared.vocabulary import Direction
    from shared.xarchive.idset import IdArray

SQLITE_LOAD_CACHE_KIB = 8 * 1024
PG_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
PG_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
# One binary COPY tuple: field count, then (length, value) for owner, direction, other.
_PG_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("owner_len", ">i4"),
        ("owner", ">i8"),
        ("direction_len", ">i4"),
        ("direction", ">i2"),
        ("other_len", ">i4"),
        ("other", ">i8"),
    ]
)


def insert_edges(
    connection: Connection, owner: int, direction: Direction, blocks: Iterable[IdArray]
) -> int:
    """Insert ``(owner, direction, other)`` for every id of ``blocks``; return the row count.

    ``owner`` is already in database form; ``blocks`` hold unsigned X ids, unique.
    """
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return _copy_postgresql(connection, owner, int(direction), blocks)
    if dialect == "sqlite":
        return _insert_sqlite(connection, owner, int(direction), blocks)
    raise ValueError(f"no bulk loader for {dialect}")


def delete_edges(connection: Connection, owner: int) -> int:
    """Delete every edge of one owner; return how many there were."""
    result = connection.execute(
        text("DELETE FROM follow_edge WHERE owner_x_id = :owner"), {"owner": owner}
    )
    return int(result.rowcount)


def _as_db(block: IdArray) -> np.ndarray[Any, np.dtype[np.int64]]:
    # Two's complement reinterpretation: see shared.xarchive.xid.to_db.
    return block.view(np.int64)


def _copy_postgresql(
    connection: Connection, owner: int, direction: int, blocks: Iterable[IdArray]
) -> int:
    raw: Any = connection.connection.driver_connection
    count = 0
    with (
        raw.cursor() as cursor,
        cursor.copy(
            "COPY follow_edge (owner_x_id, direction, other_x_id) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.write(PG_COPY_SIGNATURE)
        for block in blocks:
            rows = np.empty(len(block), dtype=_PG_ROW)
            rows["fields"] = 3
            rows["owner_len"] = 8
            rows["owner"] = owner
            rows["direction_len"] = 2
            rows["direction"] = direction
            rows["other_len"] = 8
            rows["other"] = _as_db(block)
            copy.write(rows.tobytes())
            count += len(block)
        copy.write(PG_COPY_TRAILER)
    return count


def _insert_sqlite(
    connection: Connection, owner: int, direction: int, blocks: Iterable[IdArray]
) -> int:
    raw: Any = connection.connection.driver_connection
    count = 0
    # The default 2 MiB page cache makes large loads re-read index pages; sorted loads need
    # little more: 8 MiB.
    (previous_cache,) = raw.execute("PRAGMA cache_size").fetchone()
    raw.execute(f"PRAGMA cache_size=-{SQLITE_LOAD_CACHE_KIB}")
    for block in blocks:
        raw.execute(
            "INSERT INTO follow_edge (owner_x_id, direction, other_x_id) "
            "SELECT ?, ?, value FROM json_each(?)",
            (owner, direction, orjson.dumps(_as_db(block), option=orjson.OPT_SERIALIZE_NUMPY)),
        )
        count += len(block)
    raw.execute(f"PRAGMA cache_size={int(previous_cache)}")
    return count
