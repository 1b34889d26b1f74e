"""Engines for the configured database; the service, not the operator, picks the driver."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, make_url

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_KIB = 65_536


def sync_url(database_url: str) -> URL:
    """The SQLAlchemy URL with the synchronous driver this project uses for each database.

    ``sqlite:///PATH`` uses the standard library's sqlite3, ``postgresql://`` (or
    ``postgres://``) uses psycopg 3, whatever driver the operator's URL named.
    """
    url = make_url(database_url.replace("postgres://", "postgresql://", 1))
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+pysqlite")
    if backend == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    raise ValueError(f"unsupported database {backend!r}")


def create_sync_engine(database_url: str, **kwargs: Any) -> Engine:
    """An engine for the CLI, migrations and bulk imports."""
    url = sync_url(database_url)
    engine = create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the bots read while an import writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # SQLite's default page cache is 2 MiB: a full match writing millions of rows into
    # two indexes then rereads pages from disk at every insert (measured: twice as slow).
    # The cache grows only as far as a connection uses it.
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.close()
    # A transaction that writes takes the write lock when it begins (the driver begins it
    # at its first write): one that read first and then wrote would otherwise fail at once
    # ("database is locked", no waiting) whenever another connection wrote in between.
    dbapi_connection.isolation_level = "IMMEDIATE"
