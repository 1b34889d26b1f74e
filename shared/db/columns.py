"""Column types and helpers every table uses: aware date-times on every database, integer
ids that auto-increment on SQLite too, references to a person or an X account that go with
them."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    TypeDecorator,
)
from sqlmodel import Field

from shared.clock import utcnow
from shared.identity.accounts import Thread

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Dialect

W = TypeVar("W", bound=StrEnum)
_NOTHING = object()


def _last_kept(process: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """``process`` keeping its last value's result: the rows of a bulk write repeat a value
    on each (a delivery pass's moment, its network, on a hundred thousand rows), which
    would be converted anew for every row. The same object, not an equal one: a converter
    may tell equal values apart (moments of two offsets)."""
    if process is None:
        return None
    last: list[tuple[object, Any]] = [(_NOTHING, None)]

    def kept(value: Any) -> Any:
        seen, result = last[0]  # one tuple, swapped whole: threads share the converter
        if value is not seen:
            result = process(value)
            last[0] = (value, result)
        return result

    return kept


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware date-time on every database: SQLite keeps no offset, so what is
    written is turned to UTC first (a moment with another offset, such as a cutover at
    midnight in Paris, would otherwise be kept as its wall clock read as UTC), and what it
    hands back (naive, UTC) is made aware here, once for all callers."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, _dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        return _last_kept(super().bind_processor(dialect))

    def process_result_value(self, value: datetime | None, _dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def ts() -> Any:
    """A timestamp column, set to now when the row is made."""
    return Field(default_factory=utcnow, sa_type=UtcDateTime())


NO_AUTOINC = {"autoincrement": False}

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
ID = BigInteger().with_variant(Integer(), "sqlite")


def person_fk(*, nullable: bool = False, index: bool = True) -> Any:
    """A reference to a person, gone with them."""
    return Field(
        default=None,
        sa_column=Column(
            ID,
            ForeignKey("person.id", ondelete="CASCADE"),
            nullable=nullable,
            index=index,
        ),
    )


def x_account_fk(**column: Any) -> Any:
    """A required reference to an X account, gone with it."""
    return Field(
        sa_column=Column(
            BigInteger,
            ForeignKey("x_identity.x_account_id", ondelete="CASCADE"),
            nullable=False,
            **column,
        )
    )


class Words(TypeDecorator[W]):
    """One of a closed set of words (a :class:`~enum.StrEnum` of :mod:`shared.vocabulary`)
    kept as text: written as its value, refused when it is not one of them, read back as
    the word itself, so that a row's ``network`` is a ``Network`` wherever it is read."""

    impl = String
    cache_ok = True

    def __init__(self, words: type[W], length: int = 16) -> None:
        super().__init__(length)
        self.words = words

    def process_bind_param(self, value: W | str | None, _dialect: Any) -> str | None:
        return None if value is None else self.words(value).value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        return _last_kept(super().bind_processor(dialect))

    def process_result_value(self, value: str | None, _dialect: Any) -> W | None:
        return None if value is None else self.words(value)


class ThreadColumn(TypeDecorator[Thread]):
    """A :class:`~shared.identity.accounts.Thread` kept as JSON."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Thread | None, _dialect: Any) -> dict[str, Any] | None:
        return None if value is None else value.dump()

    def process_result_value(self, value: dict[str, Any] | None, _dialect: Any) -> Thread | None:
        return None if value is None else Thread.load(value)
