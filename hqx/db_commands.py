"""``hqx db``: the database's schema (upgrade, status) and its backups (backup, restore)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

    from sqlalchemy.engine import Engine

    from shared.config import Settings


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``db`` commands, on the ``hqx`` command's parser."""
    db = commands.add_parser("db", help="the database schema").add_subparsers(
        title="db commands", metavar="COMMAND"
    )
    db.add_parser("upgrade", help="create or migrate the schema").set_defaults(handler=upgrade)
    db.add_parser("status", help="show the schema revision").set_defaults(handler=status)
    backing = db.add_parser("backup", help="a consistent copy of the database, while it runs")
    backing.add_argument("folder", type=Path, help="where the copies are kept")
    backing.add_argument("--keep", type=int, default=14, help="how many copies to keep (14)")
    backing.set_defaults(handler=backup)
    restoring = db.add_parser("restore", help="replace the database with a copy (stopped)")
    restoring.add_argument("file", type=Path)
    restoring.set_defaults(handler=restore)


@contextmanager
def database(settings: Settings) -> Iterator[Engine]:
    """An engine on the configured database, disposed of after."""
    from shared.db.engine import create_sync_engine

    engine = create_sync_engine(settings.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def upgrade(_args: argparse.Namespace, settings: Settings) -> int:
    from shared.db import migrate

    with database(settings) as engine:
        before = migrate.status(engine).current
        after = migrate.upgrade(engine)
    if before == after.current:
        print(f"The database schema is up to date ({after.current}).")
    else:
        print(f"Upgraded the database schema from {before or 'empty'} to {after.current}.")
    return 0


def backup(args: argparse.Namespace, settings: Settings) -> int:
    from shared.db import backup as backups

    print(f"Backed up to {backups.backup(settings.database_url, args.folder, keep=args.keep)}.")
    return 0


def restore(args: argparse.Namespace, settings: Settings) -> int:
    from shared.db import backup as backups

    backups.restore(settings.database_url, args.file)
    print(f"Restored from {args.file}; run `hqx db upgrade` if the copy is older than the code.")
    return 0


def status(_args: argparse.Namespace, settings: Settings) -> int:
    from shared.db import migrate

    with database(settings) as engine:
        state = migrate.status(engine)
    note = "up to date" if state.up_to_date else "run `hqx db upgrade`"
    print(f"schema {state.current or 'empty'}, code {state.head}: {note}")
    return 0 if state.up_to_date else 1
