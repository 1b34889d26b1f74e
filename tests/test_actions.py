"""Outbound actions are typed, versioned values: stored and read back the same, a stored row
of an unknown kind or version fails with one clear line (and is not sent), and the rows of
earlier releases are migrated to the typed form."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from shared import actions
from shared.actions import (
    Delete,
    DirectMessage,
    FollowAccount,
    Recipient,
    Reply,
    UnknownActionError,
    WithdrawAttestation,
    WriteAttestation,
)
from shared.bot.handlers import default_registry
from shared.clock import utcnow
from shared.db import migrate
from shared.db.engine import create_sync_engine
from shared.db.models import LinkRequest, OutboundAction
from shared.service import Service
from shared.vocabulary import ActionStatus, Network
from tests.fakes import FakeAdapter

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine

ALICE = Recipient("https://m.test/users/alice", "alice@m.test")
EVERY_KIND: list[actions.Action] = [
    Reply("111", ALICE, "Bonjour", "fr", direct=True, context={"status_id": "111"}),
    DirectMessage(ALICE, "3 people you followed on X joined", "en"),
    Delete("at://did:plc:bot/app.bsky.feed.post/3k"),
    WriteAttestation("did:plc:alice", {"accounts": [{"network": "bluesky"}]}),
    WithdrawAttestation("did:plc:alice"),
    FollowAccount(7, "bob@m.test", 12),
]


@pytest.mark.parametrize("action", EVERY_KIND, ids=[a.kind for a in EVERY_KIND])
def test_each_kind_is_stored_and_read_back_the_same(action: actions.Action) -> None:
    stored = actions.encode(action)
    assert stored["v"] == actions.VERSION
    assert actions.decode(action.kind, stored) == action


@pytest.mark.parametrize(
    ("kind", "payload", "message"),
    [
        ("boost", {"v": 1}, "outbound action of unknown kind 'boost'"),
        ("delete", {"v": 2, "ref": "x"}, "outbound 'delete' of version 2: this release reads"),
        ("delete", {"ref": "x"}, "outbound 'delete' of version None"),
        ("delete", {"v": 1, "uri": "x"}, "outbound 'delete' does not fit its kind"),
    ],
)
def test_an_unknown_kind_or_version_is_one_clear_line(
    kind: str, payload: dict[str, Any], message: str
) -> None:
    with pytest.raises(UnknownActionError) as caught:
        actions.decode(kind, payload)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_stored_action_of_a_newer_release_is_set_aside_not_sent(engine: Engine) -> None:
    adapter = FakeAdapter()
    core = Service(engine, [adapter], default_registry())
    with Session(engine) as session, session.begin():
        session.add(
            OutboundAction(
                idempotency_key="delete:from-the-future",
                network=Network.MASTODON,
                kind="delete",
                payload={"v": 9, "ref": "110"},
            )
        )
    assert asyncio.run(core.deliver_due()) == 0
    assert adapter.deliveries == []
    with Session(engine) as session:
        row = session.exec(select(OutboundAction)).one()
    assert row.status == ActionStatus.FAILED
    assert row.last_error == "outbound 'delete' of version 9: this release reads version 1"


def test_what_an_adapter_does_not_deliver_is_never_queued(engine: Engine) -> None:
    class RepliesOnly(FakeAdapter):
        delivers = frozenset({Reply})

    core = Service(engine, [RepliesOnly()], default_registry())
    assert core.delivers(Network.MASTODON, Reply)
    assert not core.delivers(Network.MASTODON, WriteAttestation)
    assert not core.delivers(Network.BLUESKY, Reply), "no Bluesky bot runs"


def test_rows_of_the_earlier_release_are_migrated(tmp_path: Path) -> None:
    engine = create_sync_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(engine, to="0005")  # the release before typed actions
    old_reply = {
        "scrub": False,
        "text": "Voici votre code",
        "lang": "fr",
        "to_post": "111",
        "to_author": {"subject": ALICE.subject, "handle": ALICE.handle},
        "direct": True,
        "context": {"status_id": "111", "visibility": "direct"},
    }
    # Rows written as that release's tables were (today's models have more columns).
    with Session(engine) as session, session.begin():
        session.execute(
            text(
                "INSERT INTO person (id, kind, reconnect, stopped, created_at) VALUES"
                " (1, 'individual', 'both', false, :now)"
            ),
            {"now": utcnow()},
        )
        session.execute(
            text(
                "INSERT INTO identity (id, person_id, network, subject, handle, trust,"
                " created_at, updated_at) VALUES (1, 1, 'mastodon', :subject, :handle,"
                " 'proven', :now, :now)"
            ),
            {"subject": ALICE.subject, "handle": ALICE.handle, "now": utcnow()},
        )
        session.execute(
            text(
                "INSERT INTO link_request (nonce, identity_id, target_network, target_handle,"
                " reply, expires_at, created_at) VALUES ('abc', :id, 'bluesky', 'alice.test',"
                " :reply, :now, :now)"
            ),
            {"id": 1, "reply": json.dumps({**old_reply, "text": ""}), "now": utcnow()},
        )
        stored: list[tuple[str, str, dict[str, Any]]] = [
            ("reply:a", "reply", old_reply),
            ("delete:b", "delete", {"ref": "110"}),
            ("attest:c", "attest", {"rkey": "did:plc:alice", "record": {"accounts": []}}),
            ("unattest:d", "unattest", {"rkey": "did:plc:alice"}),
            ("reply:e", "reply", {}),  # sent and scrubbed: nothing left to read
        ]
        for key, kind, payload in stored:
            session.execute(
                text(
                    "INSERT INTO outbound_action (idempotency_key, network, kind, payload,"
                    " status, attempts, not_before, created_at, updated_at) VALUES"
                    " (:key, 'mastodon', :kind, :payload, 'pending', 0, :now, :now, :now)"
                ),
                {"key": key, "kind": kind, "payload": json.dumps(payload), "now": utcnow()},
            )
    migrate.upgrade(engine)
    with Session(engine) as session:
        rows = {r.idempotency_key: r for r in session.exec(select(OutboundAction))}
        request = session.exec(select(LinkRequest)).one()
    expected = Reply("111", ALICE, "Voici votre code", "fr", direct=True,
                     context={"status_id": "111", "visibility": "direct"})  # fmt: skip
    assert actions.decode("reply", rows["reply:a"].payload) == expected
    assert actions.decode("delete", rows["delete:b"].payload) == Delete("110")
    assert actions.decode("attest", rows["attest:c"].payload) == WriteAttestation(
        "did:plc:alice", {"accounts": []}
    )
    assert actions.decode("unattest", rows["unattest:d"].payload) == WithdrawAttestation(
        "did:plc:alice"
    )
    assert rows["reply:e"].payload == {}
    assert actions.decode("reply", request.reply) == replace(expected, text="")
    engine.dispose()
