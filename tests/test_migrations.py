"""Data carried across schema changes: what earlier releases stored means, after the
upgrade, what it really proved."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlmodel import Session, select

from shared.clock import utcnow
from shared.db import migrate
from shared.db.engine import create_sync_engine
from shared.db.models import LinkProof, XIdentity, XMatch
from shared.reconnection import matching
from shared.reconnection.matching import Relation
from shared.vocabulary import TrustLevel

if TYPE_CHECKING:
    from pathlib import Path


def test_x_accounts_of_earlier_releases_keep_only_what_they_proved(tmp_path: Path) -> None:
    """A post on X proved a username, never an id: "proven" X accounts become claimed with
    their username proven then; an operator's imports (an organisation with no account on
    the networks) become reserved; link proofs keep their nonces, still single-use."""
    engine = create_sync_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(engine, to="0006")
    now = utcnow()
    rows = [
        "INSERT INTO person (id, kind, reconnect, stopped, created_at) VALUES"
        " (1, 'individual', 'both', 0, :now), (2, 'organisation', 'both', 0, :now)",
        "INSERT INTO identity (id, person_id, network, subject, handle, trust, created_at,"
        " updated_at) VALUES (1, 1, 'mastodon', 'https://m.test/users/a', 'a@m.test',"
        " 'proven', :now, :now)",
        "INSERT INTO x_identity (x_account_id, person_id, username, trust, created_at,"
        " updated_at) VALUES (11, 1, 'alice_x', 'proven', :now, :now),"
        " (22, 2, 'le_media', 'claimed', :now, :now)",
        "INSERT INTO link_proof (person_id, network, subject, nonce, post_uri, verified_at)"
        " VALUES (1, 'x', '11', 'a1b2c3', 'https://x.com/alice_x/status/1', :now)",
    ]
    with Session(engine) as session, session.begin():
        for row in rows:
            session.execute(text(row), {"now": now})
    migrate.upgrade(engine)
    with Session(engine) as session:
        xs = {x.x_account_id: x for x in session.exec(select(XIdentity))}
        proof = session.exec(select(LinkProof)).one()
    assert (xs[11].trust, xs[11].username_proven_at is not None) == (TrustLevel.CLAIMED, True)
    assert (xs[22].trust, xs[22].username_proven_at) == (TrustLevel.RESERVED, None)
    assert proof.code == "a1b2c3", "a code of the first format is known by its nonce"
    engine.dispose()


def test_matches_of_earlier_releases_become_one_pair_per_follow(tmp_path: Path) -> None:
    """A follow was stored twice (the follower's following, the followee's follower), or
    once when only one side was found: each becomes one pair, found when first found."""
    engine = create_sync_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(engine, to="0011")
    early, late = utcnow() - timedelta(days=2), utcnow()
    with Session(engine) as session, session.begin():
        for person in (1, 2, 3):
            session.execute(
                text(
                    "INSERT INTO person (id, kind, reconnect, stopped, findable, created_at)"
                    " VALUES (:id, 'individual', 'both', false, true, :now)"
                ),
                {"id": person, "now": early},
            )
        session.execute(
            text(
                "INSERT INTO x_match (person_id, contact_id, relation, found_at) VALUES"
                " (1, 2, 2, :late), (2, 1, 1, :early), (3, 1, 1, :late)"
            ),
            {"early": early, "late": late},
        )
    migrate.upgrade(engine)
    with Session(engine) as session:
        pairs = {(m.follower_id, m.followee_id): m.found_at for m in session.exec(select(XMatch))}
        assert matching.matches_of(session, 1) == [(2, Relation.FOLLOWING), (3, Relation.FOLLOWING)]
    assert pairs == {(1, 2): early, (1, 3): late}, "1 followed 2 and 3 (seen from 3's side)"
    engine.dispose()
