"""docs/PRIVACY.md stays true: every table of the database has its section, and the
durations it states are the ones the code enforces."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import SQLModel

import shared.db.models  # noqa: F401  (registers the tables)
from shared import retention
from shared.identity.challenge import DEFAULT_TTL
from shared.identity.linking import JOIN_TTL
from shared.portal import upload_queue, uploads
from shared.reconnection.grants import REVOKE_FOR

if TYPE_CHECKING:
    from datetime import timedelta

DOC = Path(__file__).resolve().parents[1] / "docs" / "PRIVACY.md"


def sections() -> dict[str, str]:
    """Each table's section of the document, by table name."""
    parts = re.split(r"^### (\w+)\n", DOC.read_text(), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def said(duration: timedelta) -> str:
    """A duration as the document writes it."""
    seconds = int(duration.total_seconds())
    for unit, size in (("days", 86_400), ("hours", 3_600), ("minutes", 60)):
        if seconds % size == 0 and seconds // size > 1:  # "24 hours", not "1 days"
            return f"{seconds // size} {unit}"
    raise AssertionError(f"no unit for {duration}")


def test_every_table_has_its_section() -> None:
    tables = {table.name for table in SQLModel.metadata.sorted_tables}
    assert sorted(tables - set(sections())) == [], "tables the privacy document leaves out"
    assert sorted(set(sections()) - tables) == [], "sections of tables that do not exist"


def test_the_durations_are_the_codes() -> None:
    doc = sections()
    expected = {
        "inbound_post": [retention.INBOUND_KEPT],
        "outbound_action": [retention.OUTBOX_KEPT],
        "reconnect_run": [retention.WATCH_RUNS_KEPT],
        "join_offer": [JOIN_TTL],
        "link_request": [DEFAULT_TTL],
        "upload_token": [
            uploads.TTL[p] for p in (uploads.UPLOAD, uploads.FOLLOWING, uploads.SPACE)
        ],
        "grant_revocation": [REVOKE_FOR],
        "archive_upload": [
            upload_queue.STAGED_TTL,
            upload_queue.READ_TTL,
            upload_queue.RECEIVE_TTL,
            upload_queue.SHOWN_TTL,
        ],
    }
    for table, durations in expected.items():
        for duration in durations:
            assert said(duration) in doc[table], f"{table}: the code keeps it {said(duration)}"
