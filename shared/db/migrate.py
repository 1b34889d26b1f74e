"""Schema migrations: upgrade to the code's revision, and refuse a database newer than the code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from shared.errors import HqxError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class SchemaError(HqxError):
    """The database's schema is not the one this code expects."""


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Where a database stands against this code's migrations."""

    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        """Whether the database is at this code's latest revision."""
        return self.current == self.head


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def status(engine: Engine) -> SchemaStatus:
    """The database's revision and the code's; raise if the database is newer than the code."""
    script = _script()
    head = script.get_current_head()
    if head is None:
        raise SchemaError(f"no migration found in {MIGRATIONS_DIR}: the installation is broken")
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current is not None and current not in {rev.revision for rev in script.walk_revisions()}:
        raise SchemaError(
            f"the database is at schema revision {current}, which this version of helloquittex "
            "does not know: it was upgraded by a newer version; run that version"
        )
    return SchemaStatus(current=current, head=head)


def upgrade(engine: Engine, to: str = "head") -> SchemaStatus:
    """Apply every migration the database lacks (up to revision ``to``), in one
    transaction per run."""
    status(engine)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode copies a table and drops the old one: with foreign keys enforced,
            # that drop would cascade, deleting every row that refers to the table. (The
            # pragma is a no-op inside a transaction: it is set before one starts.)
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                command.upgrade(_config(connection), to)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise SchemaError(
                            f"the upgrade would leave {len(broken)} broken references "
                            f"(first in table {broken[0][0]}): nothing was changed"
                        )
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
    return status(engine)


def require_current(engine: Engine) -> None:
    """Refuse to work on a database whose schema is not this code's."""
    state = status(engine)
    if not state.up_to_date:
        shown = state.current or "empty"
        raise SchemaError(
            f"the database schema is {shown}, this code needs {state.head}: run `hqx db upgrade`"
        )
