"""The reconnection on the local test world: at the cutover, starter packs on Bluesky's own
PDS (read back through its AppView) and suggestions in people's own Mastodon threads; a
second run delivers nothing; someone joining later brings only what is new; a crash
between sending and recording repeats nothing."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from atproto_client.exceptions import BadRequestError
from sqlmodel import Session, col, select

from bsky_service.adapter import BlueskyAdapter
from bsky_service.repo import collection_rkey
from mastodon_bot.adapter import MastodonAdapter
from shared.archive_import import import_archive
from shared.bot.handlers import default_registry
from shared.clock import utcnow
from shared.config import Reconnection
from shared.db.models import Collection, Identity, Person, ReconnectRun
from shared.identity import xtrust
from shared.identity.accounts import Thread
from shared.reconnection import matching
from shared.service import Service
from shared.stores import Stores
from shared.vocabulary import Network
from tests.archives import make_archive
from tests.running import Crashes, idle, run_until
from testworld.bluesky.people import PASSWORD, create_person

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine

    from tests.mastodon_world import MastodonWorld
    from testworld.bluesky.network import BlueskyDevNetwork
    from testworld.bluesky.people import Person as BskyPerson

pytestmark = pytest.mark.integration
WAIT_SEC = 60.0
ALICE_X, BOB_X, CAROL_X, DAVE_X = 1001, 1002, 1003, 1004
_names = (f"r{n}" for n in itertools.count())


class Scene:
    """The bot on both networks; Alice and Carol on Bluesky, Bob on Mastodon."""

    def __init__(self, bluesky: BlueskyDevNetwork, db: Engine, mastodon: MastodonWorld) -> None:
        self.bluesky, self.db, self.mastodon = bluesky, db, mastodon
        suffix = next(_names)
        self.bot = create_person(bluesky, f"bot{suffix}")
        self.alice = create_person(bluesky, f"alice{suffix}")
        self.carol = create_person(bluesky, f"carol{suffix}")
        self.bob = mastodon.server.create_account(f"bob{suffix}")
        self.hello = self.alice.post("hello", mention=self.bot)
        self.carol_hello = self.carol.post("hi", mention=self.bot)
        bob_client = mastodon.client(self.bob.token)
        self.bob_status = bob_client.status_post(
            f"@{mastodon.bot.username} hi", visibility="direct"
        )
        self.cutover_at = utcnow() + timedelta(seconds=2)

    def service(self) -> Service:
        assert self.bluesky.urls is not None
        adapters = [
            BlueskyAdapter(
    Stores.of(self.db, None), self.bluesky.urls.pds, self.bot.handle, PASSWORD,
                           poll_interval_sec=0.2),
            MastodonAdapter(
    Stores.of(self.db, None), self.mastodon.url, self.mastodon.bot.token,
                            poll_interval_sec=0.2),
        ]  # fmt: skip
        return Service(
            self.db,
            adapters,
            default_registry(),
            delivery_interval_sec=0.2,
            public_url="https://hqx.test",
            reconnection=Reconnection(self.cutover_at, rematch_hours=24, check_sec=0.3),
        )

    def join_bluesky(self, who: BskyPerson, x_id: int, thread: Any = None) -> int:
        context: Thread | None = None
        if thread is not None:
            context = Thread(thread.uri, direct=False, lang="en", context={
                "uri": thread.uri, "cid": thread.cid,
                "root_uri": thread.uri, "root_cid": thread.cid})  # fmt: skip
        return self._join(Network.BLUESKY, who.did, who.handle, context, x_id)

    def join_mastodon(self, x_id: int) -> int:
        domain = self.mastodon.server.domain
        status_id = str(self.bob_status.id)
        context = Thread(status_id, direct=True, lang="en",
                         context={"status_id": status_id, "visibility": "direct"})  # fmt: skip
        subject = self.mastodon.server.account(self.bob)["uri"]
        return self._join(Network.MASTODON, subject, f"{self.bob.username}@{domain}", context, x_id)

    def _join(
        self, network: Network, subject: str, handle: str, thread: Thread | None, x_id: int
    ) -> int:
        with Session(self.db) as session, session.begin():
            person = Person(locale="en")
            session.add(person)
            session.flush()
            assert person.id is not None
            session.add(Identity(person_id=person.id, network=network, subject=subject,
                                 handle=handle, thread=thread))  # fmt: skip
            xtrust.claim(session, person.id, x_id, f"x{x_id}")
            matching.request(session, person.id)
            return person.id

    def pack_members(self, person: int) -> set[str]:
        """Who is in that person's packs, as the AppView shows them."""
        with Session(self.db) as session:
            ids = [
                c.id
                for c in session.exec(select(Collection).where(Collection.person_id == person))
                if c.id
            ]
        members: set[str] = set()
        for collection in ids:
            uri = f"at://{self.bot.did}/app.bsky.graph.starterpack/{collection_rkey(collection, 1)}"
            try:
                pack = self.bot.client.app.bsky.graph.get_starter_pack({"starterPack": uri})
            except BadRequestError:  # not indexed yet (NotFound); any other error fails
                return set()
            listed = self.bot.client.app.bsky.graph.get_list({"list": pack.starter_pack.list.uri})
            members |= {item.subject.did for item in listed.items}
        return members

    def bot_records(self) -> dict[str, int]:
        counts = {}
        for collection in ("app.bsky.graph.list", "app.bsky.graph.listitem",
                           "app.bsky.graph.starterpack", "app.bsky.feed.post"):  # fmt: skip
            listed = self.bot.client.com.atproto.repo.list_records(
                {"repo": self.bot.did, "collection": collection, "limit": 100}
            )
            counts[collection] = len(listed.records)
        return counts

    def replies_to_alice(self) -> list[str]:
        listed = self.bot.client.com.atproto.repo.list_records(
            {"repo": self.bot.did, "collection": "app.bsky.feed.post", "limit": 100}
        )
        return [r.value.text for r in listed.records
                if r.value.reply and r.value.reply.parent.uri == self.hello.uri]  # fmt: skip

    def to_bob(self) -> list[Any]:
        status_id = str(self.bob_status.id)
        return [s for s in self.mastodon.bot_statuses()
                if s.in_reply_to is not None and str(s.in_reply_to.id) == status_id]  # fmt: skip

    def settled(self, until: Any) -> Any:
        def check() -> bool:
            self.bluesky.process_all()
            if not (until() and idle(self.db)):
                return False
            self.bluesky.process_all()  # what the bot wrote since, so that asserts read it
            return True

        return check


def test_the_cutover_and_after(
    bluesky: BlueskyDevNetwork,
    db: Engine,
    mastodon: MastodonWorld,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crashes = Crashes(monkeypatch)
    scene = Scene(bluesky, db, mastodon)
    alice = scene.join_bluesky(scene.alice, ALICE_X, scene.hello)
    carol = scene.join_bluesky(scene.carol, CAROL_X, scene.carol_hello)
    scene.join_mastodon(BOB_X)
    archive = make_archive(tmp_path / "alice.zip", [BOB_X], [CAROL_X, DAVE_X],
                           account_id=ALICE_X, username=f"x{ALICE_X}")  # fmt: skip
    import_archive(db, archive, for_person=alice)

    def delivered() -> bool:
        return bool(
            scene.pack_members(alice)
            and scene.pack_members(carol)
            and scene.to_bob()
            and scene.replies_to_alice()
        )

    run_until(scene.service(), scene.settled(delivered), WAIT_SEC)
    assert scene.pack_members(alice) == {scene.carol.did}
    assert scene.pack_members(carol) == {scene.alice.did}
    to_alice = "\n".join(scene.replies_to_alice())  # 300 characters each, as many as it takes
    assert "2 of your X contacts are on Bluesky" in to_alice
    assert f"https://bsky.app/starter-pack/{scene.bot.handle}/" in to_alice
    domain = mastodon.server.domain
    assert f"{scene.bob.username}.{domain}.ap.brid.gy" in to_alice, "Bob, bridged"
    [to_bob] = scene.to_bob()
    assert to_bob.visibility == "direct", "in Bob's own private thread"
    assert f"{scene.alice.handle}@bsky.brid.gy" in to_bob.text
    assert f"@{scene.alice.handle}" not in to_bob.text, "an address, not a mention"
    link = next(w for w in to_bob.text.split() if w.startswith("https://hqx.test/x/following/"))
    assert link
    first = scene.bot_records()
    assert first["app.bsky.graph.starterpack"] == 2 and first["app.bsky.graph.listitem"] == 2

    # Killed after every send, before recording any: started again, nothing is repeated.
    assert crashes.all_after_sending(db) > 0
    with Session(db) as session, session.begin():  # and a scheduled re-match is due
        session.add(ReconnectRun(key="rematch:again", kind="rematch"))
    run_until(scene.service(), scene.settled(lambda: True), WAIT_SEC)
    assert scene.bot_records() == first
    assert len(scene.to_bob()) == 1

    # Dave joins: Alice followed him on X. Only what is new goes, to both.
    dave_person = create_person(bluesky, f"dave{next(_names)}")
    dave = scene.join_bluesky(dave_person, DAVE_X)

    def joined() -> bool:
        return dave_person.did in scene.pack_members(alice) and bool(scene.pack_members(dave))

    run_until(scene.service(), scene.settled(joined), WAIT_SEC)
    assert scene.pack_members(alice) == {scene.carol.did, dave_person.did}, "her pack grew"
    assert scene.pack_members(dave) == {scene.alice.did}
    assert scene.pack_members(carol) == {scene.alice.did}, "Carol gets nothing new"
    replies = scene.replies_to_alice()
    assert any("1 of your X contacts joined Bluesky since" in r for r in replies)
    after = scene.bot_records()
    assert after["app.bsky.graph.starterpack"] == 3, "one new pack: Dave's"
    assert after["app.bsky.graph.listitem"] == 4
    assert len(scene.to_bob()) == 1, "Bob gets nothing new"
    with Session(db) as session:
        kinds = [r.kind for r in session.exec(select(ReconnectRun).order_by(col(ReconnectRun.id)))]
    assert kinds[:2] == ["cutover", "rematch"] and kinds[-1] == "watch"
