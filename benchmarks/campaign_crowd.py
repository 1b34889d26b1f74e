"""The campaign's crowd for ``benchmarks/campaign.py``: a synthetic population at the scale
of the campaign's successor (17,000 people, 23 million X connections), written into a
service's database the way the service stores it.

- People: a few media outlets (organisations, followed on X by hundreds of thousands) and
  individuals; each on Bluesky, on Mastodon or on both (``BLUESKY_SHARE``,
  ``MASTODON_SHARE``), French mostly, each registered by mentioning the bot (their thread
  with it is where suggestions go).
- Archives: every person shared theirs (the campaign asked for it). Whom they followed and
  who followed them on X, a power-law graph: degrees spread over two orders of magnitude,
  popular accounts drawn far more often; most connections lead to X accounts that never
  join (the watch list), a share to other people of the crowd (``COMMUNITY``): people who
  leave together knew each other.
- Grants: ``grants`` of the individuals consent to follows made as them, and granted them
  on each of their networks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import text
from sqlmodel import Session, SQLModel

from shared.db import bulk, migrate
from shared.db.models import Consent, FollowEdge, FollowGrant, Identity
from shared.identity.accounts import Thread
from shared.vocabulary import Direction, Network, Purpose

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

FIRST_X = 10_000_000
PEOPLE = 17_000
CONNECTIONS = 23_000_000
MEDIA = 20
MEDIA_FOLLOWERS = (100_000, 600_000)
"""How many follow each media outlet on X (uniformly between)."""
MEDIA_IN_CROWD = 0.25
"""The share of the crowd that follows a given media outlet."""
BLUESKY_SHARE, MASTODON_SHARE = 0.8, 0.35
"""Who is on each network (independently; someone on neither is put on Bluesky)."""
FRENCH = 0.85
COMMUNITY = 0.06
"""The share of an individual's connections that lead to someone of the crowd."""
UNIVERSE_PER_PERSON = 150
"""X accounts in the world the crowd's archives draw from, per person of the crowd."""


@dataclass
class Crowd:
    """The population, by person index (person id = index + 1)."""

    media: int
    bluesky: np.ndarray[Any, np.dtype[np.bool_]]
    mastodon: np.ndarray[Any, np.dtype[np.bool_]]
    french: np.ndarray[Any, np.dtype[np.bool_]]
    grants: np.ndarray[Any, np.dtype[np.bool_]]
    x_ids: np.ndarray[Any, np.dtype[np.uint64]]
    archives: list[tuple[int, Direction, np.ndarray[Any, np.dtype[np.uint64]]]]
    """(person index, direction, the other X ids: sorted, unique)."""

    @property
    def people(self) -> int:
        return len(self.x_ids)

    @property
    def connections(self) -> int:
        return sum(len(others) for _, _, others in self.archives)


def generate(scale: float, grants: float, seed: int = 21) -> Crowd:
    """The crowd at ``scale`` of the campaign's; ``grants``: the share of individuals who
    grant follows."""
    rng = np.random.default_rng(seed)
    people = max(50, round(PEOPLE * scale))
    media = max(2, round(MEDIA * scale))
    universe = people * UNIVERSE_PER_PERSON
    # Where each person sits in the world's popularity (rank 0 the most followed): media at
    # the top, the others drawn towards the top (people who leave with a campaign are
    # followed more than most).
    ranks = np.empty(people, dtype=np.int64)
    ranks[:media] = np.arange(media)
    others = np.unique((universe * rng.random(people * 3) ** 3).astype(np.int64) + media)
    ranks[media:] = rng.permutation(others)[: people - media]
    x_ids = (FIRST_X + ranks).astype(np.uint64)
    bluesky = rng.random(people) < BLUESKY_SHARE
    mastodon = rng.random(people) < MASTODON_SHARE
    bluesky |= ~mastodon
    granting = rng.random(people) < grants
    granting[:media] = False
    crowd = Crowd(media, bluesky, mastodon, rng.random(people) < FRENCH, granting, x_ids, [])
    _archives(crowd, rng, universe, round(CONNECTIONS * scale))
    return crowd


def _archives(crowd: Crowd, rng: np.random.Generator, universe: int, connections: int) -> None:
    people, media = crowd.people, crowd.media
    # The media's followers: hundreds of thousands of X accounts, a share of the crowd.
    low, high = (max(100, round(n * connections / CONNECTIONS)) for n in MEDIA_FOLLOWERS)
    media_edges = 0
    for outlet in range(media):
        size = int(rng.integers(low, high))
        from_crowd = crowd.x_ids[media:][rng.random(people - media) < MEDIA_IN_CROWD]
        drawn = FIRST_X + rng.integers(media, universe, size)
        audience = np.unique(np.concatenate([from_crowd, drawn.astype(np.uint64)]))
        crowd.archives.append((outlet, Direction.FOLLOWER, audience))
        media_edges += len(audience)
    # The individuals: degrees of a power law, to the connections left.
    degrees = rng.pareto(1.6, people - media) + 1
    degrees = (degrees * max(0, connections - media_edges) / degrees.sum()).astype(np.int64)
    degrees = degrees.clip(2, universe // 4)
    for index, degree in zip(range(media, people), degrees, strict=True):
        following = int(degree * 0.55)
        followers = int(degree) - following
        crowd.archives.append(
            (index, Direction.FOLLOWING, _following(crowd, rng, universe, following))
        )
        crowd.archives.append(
            (index, Direction.FOLLOWER, _followers(crowd, rng, universe, followers))
        )


def _following(crowd: Crowd, rng: np.random.Generator, universe: int, count: int) -> Any:
    """Whom one follows: the media and the popular most often, in and out of the crowd."""
    inside = rng.binomial(count, COMMUNITY)
    peers = _distinct(rng, inside, lambda n: crowd.x_ids[(rng.zipf(1.4, n) - 1) % crowd.people])
    outside = _distinct(rng, count - inside, lambda n: FIRST_X + (rng.zipf(1.3, n) - 1) % universe)
    media = crowd.x_ids[: crowd.media][rng.random(crowd.media) < MEDIA_IN_CROWD]
    return np.unique(np.concatenate([peers, outside, media]))


def _followers(crowd: Crowd, rng: np.random.Generator, universe: int, count: int) -> Any:
    """Who follows one: anyone, the crowd's share of them among the crowd."""
    inside = min(rng.binomial(count, COMMUNITY), crowd.people - crowd.media)
    peers = _distinct(
        rng, inside, lambda n: crowd.x_ids[rng.integers(crowd.media, crowd.people, n)]
    )
    outside = _distinct(rng, count - inside, lambda n: FIRST_X + rng.integers(0, universe, n))
    return np.unique(np.concatenate([peers, outside]))


def _distinct(rng: np.random.Generator, count: int, draw: Any) -> Any:
    """``count`` distinct ids of ``draw(n)`` (fewer when it cannot give so many): popular
    ones drawn again do not shrink a list, as they would by dropping repeats."""
    found = np.unique(draw(count).astype(np.uint64))
    for _ in range(8):
        if len(found) >= count:
            break
        found = np.unique(np.concatenate([found, draw(2 * (count - len(found))).astype(np.uint64)]))
    return rng.permutation(found)[:count]


def store(engine: Engine, crowd: Crowd) -> None:
    """The crowd written into a fresh database, as the service keeps it."""
    migrate.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO person (id, kind, locale, reconnect, stopped, findable, created_at)"
                " VALUES (:id, :kind, :locale, 'both', false, true, CURRENT_TIMESTAMP)"
            ),
            [
                {
                    "id": n + 1,
                    "kind": "organisation" if n < crowd.media else "individual",
                    "locale": "fr" if crowd.french[n] else "en",
                }
                for n in range(crowd.people)
            ],
        )
        connection.execute(
            text(
                "INSERT INTO x_identity (x_account_id, person_id, username, trust, created_at,"
                " updated_at) VALUES (:x, :p, :u, 'claimed', CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP)"
            ),
            [{"x": int(x), "p": n + 1, "u": f"p{n}"} for n, x in enumerate(crowd.x_ids)],
        )
        _store_edges(connection, crowd)
    with Session(engine) as session, session.begin():
        for n in range(crowd.people):
            lang = "fr" if crowd.french[n] else "en"
            for network, there in ((Network.BLUESKY, crowd.bluesky),
                                   (Network.MASTODON, crowd.mastodon)):  # fmt: skip
                if there[n]:
                    session.add(_identity(n, network, lang))
                    if crowd.grants[n]:
                        session.add(_grant(n, network))
            if crowd.grants[n]:
                session.add(Consent(person_id=n + 1, purpose=Purpose.FOLLOWS_ON_BEHALF,
                                    granted=True))  # fmt: skip


def _store_edges(connection: Connection, crowd: Crowd) -> None:
    """The archives' edges through the service's bulk import, in the primary key's order,
    the index of the other side built once after them (a bulk load's way: 23 million rows
    inserted into both B-trees at random places took minutes)."""
    indexes = list(SQLModel.metadata.tables[FollowEdge.__tablename__].indexes)
    for index in indexes:
        index.drop(connection)
    in_order = sorted(crowd.archives, key=lambda a: (int(crowd.x_ids[a[0]]), a[1]))
    for person, direction, others in in_order:
        bulk.insert_edges(connection, int(crowd.x_ids[person]), direction, [np.sort(others)])
    for index in indexes:
        index.create(connection)


def _identity(n: int, network: Network, lang: str) -> Identity:
    if network == Network.BLUESKY:
        subject, handle = f"did:plc:person{n:08d}", f"p{n}.bsky.test"
        post = f"at://{subject}/app.bsky.feed.post/3jhello{n}"
        context = {"uri": post, "cid": "bafyhello", "root_uri": post, "root_cid": "bafyhello"}
    else:
        subject, handle = f"https://m{n % 40}.test/users/p{n}", f"p{n}@m{n % 40}.test"
        post, context = str(110_000_000 + n), {}
    thread = Thread(post=post, direct=False, lang=lang, context=context)
    return Identity(person_id=n + 1, network=network, subject=subject, handle=handle,
                    thread=thread)  # fmt: skip


def _grant(n: int, network: Network) -> FollowGrant:
    server = "https://pds.bsky.test" if network == Network.BLUESKY else f"https://m{n % 40}.test"
    subject = f"did:plc:person{n:08d}" if network == Network.BLUESKY else f"{server}/users/p{n}"
    sealed = "never used: the stand-ins send nothing"
    return FollowGrant(person_id=n + 1, network=network, server=server, subject=subject,
                       token=sealed, scope="follow")  # fmt: skip
