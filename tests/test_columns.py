"""Column types on both databases: a bulk write that repeats values on its rows (each
converted once) still stores each row's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from shared import outbox
from shared.actions import DirectMessage, Recipient
from shared.db.models import OutboundAction
from shared.vocabulary import Network

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def test_a_bulk_write_keeps_each_rows_own_moment_and_network(engine: Engine) -> None:
    paris = timezone(timedelta(hours=1))
    noon = datetime(2025, 1, 20, 12, tzinfo=UTC)
    moments = [noon, noon.astimezone(paris), noon + timedelta(hours=1), None]
    networks = [Network.BLUESKY, Network.MASTODON]
    queued = [
        outbox.Queued(
            key=f"k{n}",
            network=networks[n % 3 % 2],
            action=DirectMessage(Recipient(f"s{n}", f"h{n}"), "hello", "en"),
            not_before=moments[n % 4],
        )
        for n in range(24)
    ]
    with Session(engine) as session, session.begin():
        outbox.queue_many(session, queued)
    with Session(engine) as session:
        stored = {a.idempotency_key: a for a in session.exec(select(OutboundAction))}
    for n, q in enumerate(queued):
        row = stored[q.key]
        assert row.network == q.network
        if q.not_before is not None:
            assert row.not_before == q.not_before, f"row {n}"
    assert stored["k0"].not_before == stored["k1"].not_before, "one moment, two offsets"
    assert stored["k2"].not_before - stored["k1"].not_before == timedelta(hours=1)
