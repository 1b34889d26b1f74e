"""Importing archives into SQLite and into a real PostgreSQL: the same tests run on both."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from shared.archive_import import import_archive
from shared.db import bulk, migrate
from shared.db.engine import create_sync_engine
from shared.db.models import ArchiveImport, Person, XIdentity
from shared.vocabulary import Direction, PersonKind
from shared.xarchive.errors import ArchiveError
from shared.xarchive.sample import ArchiveStyle, random_ids
from shared.xarchive.xid import from_db, to_db
from tests.archives import OWNER, OWNER_ID, make_archive

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine

FOLLOWERS = [*random_ids(3000, seed=5), 2**63, 2**64 - 1, 1]
FOLLOWING = list(random_ids(800, seed=6))


def edges(engine: Engine, owner: int = OWNER_ID) -> dict[Direction, list[int]]:
    with engine.connect() as c:
        rows = c.execute(
            text("SELECT direction, other_x_id FROM follow_edge WHERE owner_x_id = :o"),
            {"o": to_db(owner)},
        ).all()
    found: dict[Direction, list[int]] = {Direction.FOLLOWER: [], Direction.FOLLOWING: []}
    for direction, other in rows:
        found[Direction(direction)].append(from_db(other))
    return {d: sorted(ids) for d, ids in found.items()}


def test_import_stores_every_edge_and_the_owner(engine: Engine, tmp_path: Path) -> None:
    path = make_archive(tmp_path / "a.zip", FOLLOWERS + FOLLOWERS[:7], FOLLOWING)
    result = import_archive(engine, path)
    assert result.new_person
    assert (result.summary.followers, result.summary.duplicate_rows) == (len(FOLLOWERS), 7)
    assert edges(engine) == {
        Direction.FOLLOWER: sorted(FOLLOWERS),
        Direction.FOLLOWING: sorted(FOLLOWING),
    }
    with Session(engine) as session:
        identity = session.exec(select(XIdentity)).one()
        assert (identity.x_account_id, identity.username, identity.trust) == (
            OWNER_ID,
            OWNER,
            "reserved",  # an operator's import: held for its owner's proof
        )
        record = session.exec(select(ArchiveImport)).one()
        assert (record.followers, record.following, record.duplicate_rows) == (
            len(FOLLOWERS),
            len(FOLLOWING),
            7,
        )
        assert record.files[0].endswith("data/account.js")


def test_reimport_replaces_the_earlier_import(engine: Engine, tmp_path: Path) -> None:
    import_archive(engine, make_archive(tmp_path / "old.zip", FOLLOWERS, FOLLOWING))
    newer = [*FOLLOWERS[1000:], 42]
    result = import_archive(engine, make_archive(tmp_path / "new.zip", newer, []))
    assert not result.new_person
    assert result.replaced_edges == len(FOLLOWERS) + len(FOLLOWING)
    assert edges(engine) == {Direction.FOLLOWER: sorted(newer), Direction.FOLLOWING: []}
    with Session(engine) as session:
        assert len(session.exec(select(Person)).all()) == 1
        assert session.exec(select(ArchiveImport)).one().followers == len(newer)


def test_imports_of_two_accounts_are_kept_apart(engine: Engine, tmp_path: Path) -> None:
    import_archive(engine, make_archive(tmp_path / "a.zip", FOLLOWERS[:50]))
    other = 2**64 - 2  # stored as a negative integer
    import_archive(
        engine, make_archive(tmp_path / "b.zip", FOLLOWERS[:20], account_id=other, username="other")
    )
    assert edges(engine)[Direction.FOLLOWER] == sorted(FOLLOWERS[:50])
    assert edges(engine, other)[Direction.FOLLOWER] == sorted(FOLLOWERS[:20])
    with engine.connect() as c:
        # The reverse index answers "who among imported archives has X as follower".
        owners = (
            c.execute(
                text(
                    "SELECT owner_x_id FROM follow_edge WHERE other_x_id = :x ORDER BY owner_x_id"
                ),
                {"x": to_db(FOLLOWERS[0])},
            )
            .scalars()
            .all()
        )
    assert sorted(from_db(o) for o in owners) == sorted([OWNER_ID, other])


def test_a_refused_archive_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    import_archive(engine, make_archive(tmp_path / "a.zip", FOLLOWERS, FOLLOWING))
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ArchiveError):
        import_archive(engine, bad)
    assert edges(engine)[Direction.FOLLOWER] == sorted(FOLLOWERS)


def test_a_crash_midway_leaves_the_earlier_import_whole(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_archive(engine, make_archive(tmp_path / "a.zip", FOLLOWERS, FOLLOWING))
    real_insert = bulk.insert_edges

    def crash_on_following(connection, owner, direction, blocks):  # type: ignore[no-untyped-def]
        if direction == Direction.FOLLOWING:
            raise ConnectionError("simulated crash")
        return real_insert(connection, owner, direction, blocks)

    monkeypatch.setattr(bulk, "insert_edges", crash_on_following)
    with pytest.raises(ConnectionError):
        import_archive(engine, make_archive(tmp_path / "b.zip", [7, 8, 9], [10]))
    assert edges(engine) == {
        Direction.FOLLOWER: sorted(FOLLOWERS),
        Direction.FOLLOWING: sorted(FOLLOWING),
    }


def test_no_personal_field_of_account_js_reaches_the_database(
    engine: Engine, tmp_path: Path
) -> None:
    import_archive(engine, make_archive(tmp_path / "a.zip", FOLLOWERS[:10]))
    with engine.connect() as c:
        dump = " ".join(
            repr(row)
            for table in ("person", "x_identity", "archive_import", "identity", "consent")
            for row in c.execute(text(f"SELECT * FROM {table}")).all()
        )
    assert OWNER in dump
    assert "example.org" not in dump and "+336" not in dump and "2010-06-01" not in dump


def test_organisations_are_marked(engine: Engine, tmp_path: Path) -> None:
    import_archive(engine, make_archive(tmp_path / "a.zip", [1, 2]), kind=PersonKind.ORGANISATION)
    with Session(engine) as session:
        assert session.exec(select(Person)).one().kind == "organisation"


def test_an_unmigrated_database_is_refused_with_the_fix(database_url: str, tmp_path: Path) -> None:
    engine = create_sync_engine(database_url)
    try:
        with pytest.raises(migrate.SchemaError, match=r"run `hqx db upgrade`"):
            import_archive(engine, make_archive(tmp_path / "a.zip", [1]))
    finally:
        engine.dispose()


def test_a_database_newer_than_the_code_is_refused(engine: Engine) -> None:
    with engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(migrate.SchemaError, match="upgraded by a newer version"):
        migrate.upgrade(engine)


def test_migrations_build_exactly_the_models(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), SQLModel.metadata)
    assert diff == []


def test_upgrade_is_idempotent(engine: Engine) -> None:
    before = migrate.status(engine)
    after = migrate.upgrade(engine)
    assert before.up_to_date and after == before


def test_large_import_in_blocks(engine: Engine, tmp_path: Path) -> None:
    many = list(random_ids(200_000, seed=9))
    path = make_archive(tmp_path / "big.zip", many, style=ArchiveStyle(entries_per_part=80_000))
    result = import_archive(engine, path)
    assert result.summary.followers == len(many)
    with engine.connect() as c:
        count, low, high = c.execute(
            text("SELECT count(*), min(other_x_id), max(other_x_id) FROM follow_edge")
        ).one()
    assert (count, low, high) == (len(many), min(many), max(many))
