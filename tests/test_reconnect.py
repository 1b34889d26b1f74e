"""The reconnection with two fake networks: the cutover's delivery (packs on the network that
keeps them, messages on the other, Bridgy Fed addresses across), nothing delivered twice,
and only what is new when someone joins later."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from shared import clock
from shared.actions import DirectMessage, FollowAccount, Reply, WriteCollection
from shared.archive_import import import_archive
from shared.bot import privacy
from shared.bot.handlers import default_registry
from shared.clock import utcnow
from shared.config import Reconnection
from shared.db.models import (
    Consent,
    Delivery,
    Identity,
    OutboundAction,
    Person,
    ReconnectRun,
)
from shared.identity import xtrust
from shared.identity.accounts import Thread
from shared.portal import space
from shared.protocol import WriteBudget
from shared.reconnection import grants, matching, reports, runs, waiting
from shared.service import Service
from shared.vocabulary import ActionStatus, Network, Purpose, RunKind
from tests.archives import make_archive
from tests.fakes import FakeAdapter, FakeBluesky
from tests.test_portal_space import KEY

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine

ALICE_X, BOB_X, CAROL_X, DAVE_X = 100, 200, 300, 400


class Net:
    def __init__(self, engine: Engine, *, cutover_in: timedelta = -timedelta(hours=1)) -> None:
        self.engine = engine
        self.bluesky, self.mastodon = FakeBluesky(), FakeAdapter()
        self.service = Service(
            engine,
            [self.bluesky, self.mastodon],
            default_registry(),
            public_url="https://hqx.test",
            reconnection=Reconnection(cutover_at=utcnow() + cutover_in),
        )

    def person(self, name: str, x_id: int, *networks: str) -> int:
        with Session(self.engine) as session, session.begin():
            person = Person(locale="en")
            session.add(person)
            session.flush()
            assert person.id is not None
            for network in networks:
                bluesky = network == "bluesky"
                session.add(
                    Identity(
                        person_id=person.id,
                        network=Network(network),
                        subject=f"did:plc:{name}" if bluesky else f"https://m.test/users/{name}",
                        handle=f"{name}.test" if bluesky else f"{name}@m.test",
                        thread=Thread(f"{name}-post", direct=True, lang="en",
                                      context={"status_id": f"{name}-post"}),
                    )
                )  # fmt: skip
            xtrust.claim(session, person.id, x_id, f"{name}_x")
            matching.request(session, person.id)
            return person.id

    def alice_follows_carol(self, folder: Path) -> int:
        """Alice and Carol on Bluesky, Alice's archive showing she followed Carol on X."""
        alice = self.person("alice", ALICE_X, "bluesky")
        self.person("carol", CAROL_X, "bluesky")
        archive = make_archive(folder / "a.zip", [], [CAROL_X], account_id=ALICE_X,
                               username="alice_x")  # fmt: skip
        import_archive(self.engine, archive, for_person=alice)
        return alice

    def run(self) -> list[int]:
        async def go() -> list[int]:
            await self.service.match_requested()
            made = await self.service.reconnect_when_due()
            while await self.service.deliver_due():
                pass
            return made

        return asyncio.run(go())

    def sent(self, adapter: FakeAdapter, kind: type) -> list[Any]:
        return [o.action for o in adapter.sent.values() if isinstance(o.action, kind)]


def texts(actions: list[Any]) -> str:
    return "\n".join(a.text for a in actions if isinstance(a, Reply | DirectMessage))


def test_cutover_delivers_packs_messages_and_bridges_once(engine: Engine, tmp_path: Path) -> None:
    net = Net(engine)
    alice = net.person("alice", ALICE_X, "bluesky")
    bob = net.person("bob", BOB_X, "mastodon")
    carol = net.person("carol", CAROL_X, "bluesky")
    archive = make_archive(tmp_path / "a.zip", [BOB_X], [CAROL_X, DAVE_X], account_id=ALICE_X,
                           username="alice_x")  # fmt: skip
    import_archive(engine, archive, for_person=alice)

    runs = net.run()
    assert len(runs) == 1
    packs = net.sent(net.bluesky, WriteCollection)
    by_owner = {p.collection: sorted(m.subject for m in p.members) for p in packs}
    assert sorted(by_owner.values()) == [["did:plc:alice"], ["did:plc:carol"]]
    assert all(p.create for p in packs), "each person's first pack is created with its items"
    to_alice = texts(net.sent(net.bluesky, Reply))
    assert "Reconnection has started: 2 of your X contacts are on Bluesky." in to_alice
    assert "https://packs.test/" in to_alice
    assert "bob.m.test.ap.brid.gy" in to_alice, "Bob is only on Mastodon: his bridged address"
    assert "/x/following/" not in to_alice, "the list is in Mastodon's import format"
    to_bob = net.sent(net.mastodon, Reply)
    assert [r.to_post for r in to_bob] == ["bob-post"], "in Bob's own thread, privately"
    assert to_bob[0].direct
    assert "alice.test@bsky.brid.gy" in to_bob[0].text
    assert "@alice" not in to_bob[0].text, "addresses, never mentions: nobody else is told"
    assert "https://hqx.test/x/following/" in to_bob[0].text

    before = {k for a in (net.bluesky, net.mastodon) for k in a.sent}
    assert net.run() == [], "nothing new: no run"
    with Session(engine) as session:
        later = ReconnectRun(key="rematch:test", kind="rematch")
        session.add(later)
        session.commit()
    net.run()
    after = {k for a in (net.bluesky, net.mastodon) for k in a.sent}
    assert after == before, "a second run delivers nothing"
    with Session(engine) as session:
        delivered = {(d.person_id, d.contact_id, d.network) for d in session.exec(select(Delivery))}
    assert delivered == {
        (alice, carol, "bluesky"),
        (alice, bob, "bluesky"),
        (carol, alice, "bluesky"),
        (bob, alice, "mastodon"),
    }


def test_someone_joining_later_brings_only_what_is_new(engine: Engine, tmp_path: Path) -> None:
    net = Net(engine)
    alice = net.person("alice", ALICE_X, "bluesky")
    net.person("carol", CAROL_X, "bluesky")
    archive = make_archive(tmp_path / "a.zip", [], [CAROL_X, DAVE_X], account_id=ALICE_X,
                           username="alice_x")  # fmt: skip
    import_archive(engine, archive, for_person=alice)
    net.run()
    first_packs = net.sent(net.bluesky, WriteCollection)
    alices_pack = next(p.collection for p in first_packs if p.members[0].subject == "did:plc:carol")
    sent_before = set(net.bluesky.sent)

    net.person("dave", DAVE_X, "bluesky")
    net.run()
    new = [net.bluesky.sent[k].action for k in set(net.bluesky.sent) - sent_before]
    writes = [a for a in new if isinstance(a, WriteCollection)]
    to_alice = [w for w in writes if w.collection == alices_pack]
    assert len(to_alice) == 1 and not to_alice[0].create, "added to her pack, not a new one"
    assert [m.subject for m in to_alice[0].members] == ["did:plc:dave"]
    assert [m.seq for m in to_alice[0].members] == [1]
    news = [a.text for a in new if isinstance(a, Reply)]
    assert any("1 of your X contacts joined Bluesky since." in t for t in news)
    assert any("did:plc:alice" in [m.subject for m in w.members] for w in writes), (
        "Dave finds Alice, who had him on her watch list"
    )


def test_nothing_before_the_cutover(engine: Engine, tmp_path: Path) -> None:
    net = Net(engine, cutover_in=timedelta(hours=1))
    net.alice_follows_carol(tmp_path)
    assert net.run() == []
    assert net.sent(net.bluesky, WriteCollection) == []


def test_already_followed_and_not_findable_are_not_delivered(
    engine: Engine, tmp_path: Path
) -> None:
    net = Net(engine)
    alice = net.person("alice", ALICE_X, "bluesky")
    net.person("carol", CAROL_X, "bluesky")
    dave = net.person("dave", DAVE_X, "bluesky")
    with Session(engine) as session, session.begin():
        session.get_one(Person, dave).findable = False
    net.bluesky.following["did:plc:alice"] = {"did:plc:carol"}
    archive = make_archive(tmp_path / "a.zip", [], [CAROL_X, DAVE_X], account_id=ALICE_X,
                           username="alice_x")  # fmt: skip
    import_archive(engine, archive, for_person=alice)
    net.run()
    members = [m.subject for p in net.sent(net.bluesky, WriteCollection) for m in p.members]
    assert "did:plc:carol" not in members, "Alice follows Carol already"
    assert "did:plc:dave" not in members, "Dave turned being found off"
    assert "did:plc:alice" in members, "Carol still finds Alice"


def test_a_failed_pack_fails_the_message_that_gives_its_link(
    engine: Engine, tmp_path: Path
) -> None:
    from shared.protocol import DeliveryError

    net = Net(engine)
    net.alice_follows_carol(tmp_path)
    net.bluesky.failures.append(DeliveryError("refused", permanent=True))
    net.run()
    with Session(engine) as session:
        rows = {r.kind: r.status for r in session.exec(select(OutboundAction))}
    assert rows.get("collection") == ActionStatus.FAILED
    assert rows.get("reply") == ActionStatus.FAILED, "no link to a pack that is not there"


def test_linking_says_when_reconnection_starts_and_where(engine: Engine) -> None:
    from datetime import UTC, datetime

    from tests.core_world import ALICE_B, ALICE_M, World, to_post

    world = World(engine, reconnection=Reconnection(datetime(2030, 1, 20, 9, tzinfo=UTC)))
    proved = world.say(ALICE_M, to_post(world.say(ALICE_B, "link alice@masto.test")))
    assert proved.endswith(
        "Reconnection starts on 2030-01-20: I'll write your X contacts found here in this "
        "conversation. Keep it: Mastodon hides private mentions from accounts you don't "
        "follow, except in your own conversations."
    )
    [(_, confirmed)] = world.confirmations()
    assert "Reconnection starts on 2030-01-20: I'll send you here a starter pack" in confirmed.text


def say(net: Net, name: str, words: str) -> None:
    from shared.protocol import Author, IncomingPost

    post = IncomingPost(
        network="bluesky",  # type: ignore[arg-type]
        post_id=f"{name}-{words}",
        author=Author(f"did:plc:{name}", f"{name}.test"),
        text=words,
        languages=("en",),
    )

    async def go() -> None:
        await net.service.receive(post)
        while await net.service.deliver_due():
            pass

    asyncio.run(go())


def test_turning_being_found_off_takes_one_out_of_every_pack(
    engine: Engine, tmp_path: Path
) -> None:
    from shared.actions import WithdrawMembers

    net = Net(engine)
    net.alice_follows_carol(tmp_path)
    net.run()
    [alices] = [p for p in net.sent(net.bluesky, WriteCollection)
                if p.members[0].subject == "did:plc:carol"]  # fmt: skip
    say(net, "carol", "settings found no")
    withdrawn = net.sent(net.bluesky, WithdrawMembers)
    assert [(w.collection, w.seqs, w.drop) for w in withdrawn] == [(alices.collection, [0], False)]
    net.run()
    members = [m.subject for p in net.sent(net.bluesky, WriteCollection) for m in p.members]
    assert members.count("did:plc:carol") == 1, "not put back"


def test_forgetting_deletes_ones_packs_and_ones_place_in_others(
    engine: Engine, tmp_path: Path
) -> None:
    from shared.actions import WithdrawMembers

    net = Net(engine)
    net.alice_follows_carol(tmp_path)
    net.run()
    packs = {p.members[0].subject: p.collection for p in net.sent(net.bluesky, WriteCollection)}
    say(net, "alice", "forget")
    say(net, "alice", "forget confirm")
    withdrawn = {(w.collection, tuple(w.seqs), w.drop)
                 for w in net.sent(net.bluesky, WithdrawMembers)}  # fmt: skip
    assert withdrawn == {
        (packs["did:plc:carol"], (0,), True),  # her own pack, whole
        (packs["did:plc:alice"], (0,), False),  # her place in Carol's
    }


def test_operators_see_runs_budget_waiting_and_one_persons_matches(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from hqx.cli import main

    net = Net(engine)
    alice = net.person("alice", ALICE_X, "bluesky")
    net.person("bob", BOB_X, "mastodon")
    net.person("carol", CAROL_X, "bluesky")
    archive = make_archive(tmp_path / "a.zip", [BOB_X], [CAROL_X], account_id=ALICE_X,
                           username="alice_x")  # fmt: skip
    import_archive(engine, archive, for_person=alice)
    monkeypatch.setenv("HQX_DATABASE_URL", database_url)
    monkeypatch.setenv("HQX_CUTOVER_AT", "2025-01-20T00:00:00+01:00")
    assert main(["reconnect", "status", "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert before["runs"] == [] and before["started"] is True
    assert before["waiting"]["bluesky"] == {"people": 0, "pairs": 0}, "not matched yet"
    net.run()
    assert main(["reconnect", "status", "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    [run] = after["runs"]
    assert (run["key"], run["delivered"]) == ("cutover", 4)
    assert run["finished_at"] is not None
    bluesky = next(b for b in after["budget"] if b["network"] == "bluesky")
    # Two packs (a list and a starter pack each) of one account each; messages are free here.
    assert bluesky["last_hour"] == run["points"] == 2 * (6 + 3)
    assert main(["reconnect", "status"]) == 0
    shown = capsys.readouterr().out
    assert "run cutover:" in shown and "delivered 4" in shown
    assert main(["person", "matches", "alice.test"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Person 1: 2 former X contacts found"
    assert any("(follower): mastodon @bob@m.test" in line for line in lines)
    assert any("bluesky   bridge" in line for line in lines), "Bob, bridged on Bluesky"
    assert any("bluesky   list" in line for line in lines), "Carol, in Alice's pack"
    with Session(engine) as session, session.begin():  # a match lost behind the service's back
        session.execute(text("DELETE FROM x_match WHERE followee_id = :p"), {"p": alice})
    assert main(["reconnect", "match"]) == 0
    assert capsys.readouterr().out.startswith("2 matches (1 new, 0 gone) in ")


def _told_of_forty_on_mastodon(net: Net, tmp_path: Path, person: int, x_id: int, name: str) -> Any:
    """``name``'s archive follows forty people only on Mastodon; the cutover's message to
    them, in their thread."""
    for n in range(40):
        net.person(f"friend{n}", 7000 + n, "mastodon")
    archive = make_archive(tmp_path / f"{name}.zip", [], [7000 + n for n in range(40)],
                           account_id=x_id, username=f"{name}_x")  # fmt: skip
    import_archive(net.engine, archive, for_person=person)
    net.run()
    [told] = [
        r
        for adapter in (net.bluesky, net.mastodon)
        for r in net.sent(adapter, Reply)
        if r.to_post == f"{name}-post"
    ]
    return told


def test_many_addresses_go_in_one_message_with_the_list_that_holds_them_all(
    engine: Engine, tmp_path: Path
) -> None:
    net = Net(engine)
    bob = net.person("bob", BOB_X, "mastodon")
    to_bob = _told_of_forty_on_mastodon(net, tmp_path, bob, BOB_X, "bob")
    assert len(to_bob.text) <= net.mastodon.text_limit
    assert "https://hqx.test/x/following/" in to_bob.text
    shown = [line for line in to_bob.text.splitlines() if line.endswith("@m.test")]
    assert shown and f"… and {40 - len(shown)} more, all in the list." in to_bob.text
    with Session(engine) as session:
        assert len(reports.following_list(session, bob)) == 40, "the list: all 40"


def test_many_bridged_addresses_on_bluesky_go_in_one_post_and_the_space_holds_them_all(
    engine: Engine, tmp_path: Path
) -> None:
    """On Bluesky, where there is no following list to import, forty contacts only on
    Mastodon would be a thread of posts of addresses: one post, the first of them and how
    many more the person's space lists."""
    net = Net(engine)
    alice = net.person("alice", ALICE_X, "bluesky")
    to_alice = _told_of_forty_on_mastodon(net, tmp_path, alice, ALICE_X, "alice")
    assert len(to_alice.text) <= net.bluesky.text_limit
    assert to_alice.text.startswith("Reconnection has started: 40 of your X contacts")
    shown = [line for line in to_alice.text.splitlines() if line.endswith(".ap.brid.gy")]
    more = f"… and {40 - len(shown)} more, all in your space: write me “space”."
    assert shown and to_alice.text.endswith(more)
    with Session(engine) as session:
        listed = space.contacts_of(session, alice)
    assert {c.accounts["mastodon"] for c in listed} == {f"friend{n}@m.test" for n in range(40)}
    assert all(c.delivered["bluesky"] == "bridge" for c in listed), "the space lists all 40"


@pytest.mark.parametrize(
    ("per_day", "expected"),
    [(48, [0, 0, 1, 1, 2]), (4, [0, 0, 1, 1, 24])],
    ids=["two an hour", "four a day"],
)
def test_messages_are_paced_under_the_networks_budget(
    engine: Engine, tmp_path: Path, per_day: int, expected: list[int]
) -> None:
    class Paced(FakeAdapter):
        write_budget = WriteBudget(per_hour=2, per_day=per_day, reserve=0)
        message_cost = 1

    net = Net(engine)
    net.mastodon = Paced()
    net.service = Service(
        engine,
        [net.bluesky, net.mastodon],
        default_registry(),
        reconnection=Reconnection(cutover_at=utcnow() - timedelta(hours=1)),
    )
    people = [net.person(f"p{n}", 2000 + n, "mastodon") for n in range(5)]
    archive = make_archive(tmp_path / "a.zip", [], [2001, 2002, 2003, 2004], account_id=2000,
                           username="p0_x")  # fmt: skip
    import_archive(engine, archive, for_person=people[0])
    net.run()
    with Session(engine) as session:
        rows = session.exec(select(OutboundAction).where(OutboundAction.kind == "reply")).all()
    hours = sorted(round((r.not_before - utcnow()).total_seconds() / 3600) for r in rows)
    assert hours == expected, "two an hour; past the day's share, the next day's hours"
    assert len(net.sent(net.mastodon, Reply)) == 2, "only this hour's are sent now"


def test_a_media_outlet_is_found_by_its_followers_and_gets_nothing_itself(
    engine: Engine, tmp_path: Path
) -> None:
    from shared.vocabulary import PersonKind

    net = Net(engine)
    outlet = net.person("outlet", 900, "bluesky")
    with Session(engine) as session, session.begin():
        session.get_one(Person, outlet).kind = PersonKind.ORGANISATION
    net.person("alice", ALICE_X, "bluesky")
    net.person("carol", CAROL_X, "mastodon")
    archive = make_archive(tmp_path / "o.zip", [ALICE_X, CAROL_X], [], account_id=900,
                           username="outlet_x")  # fmt: skip
    import_archive(engine, archive, for_person=outlet)  # its followers, as an operator imports
    net.run()
    packs = net.sent(net.bluesky, WriteCollection)
    assert [[m.subject for m in p.members] for p in packs] == [["did:plc:outlet"]], (
        "in Alice's pack; the outlet gets no pack of its followers"
    )
    to_carol = net.sent(net.mastodon, Reply)
    assert len(to_carol) == 1 and "outlet.test@bsky.brid.gy" in to_carol[0].text
    assert all(r.to.subject != "did:plc:outlet" for r in net.sent(net.bluesky, Reply))


def test_accounts_many_followed_go_in_one_shared_pack(engine: Engine, tmp_path: Path) -> None:
    from shared.reconnection import planner

    net = Net(engine)
    popular = [net.person(f"star{n}", 3000 + n, "bluesky") for n in range(planner.SHARED_FIT)]
    fans = [net.person(f"fan{n}", 4000 + n, "bluesky") for n in range(planner.SHARED_MIN)]
    for n, fan in enumerate(fans):
        following = [3000 + s for s in range(len(popular))]
        archive = make_archive(tmp_path / f"f{n}.zip", [], following, account_id=4000 + n,
                               username=f"fan{n}_x")  # fmt: skip
        import_archive(engine, archive, for_person=fan)
    net.run()
    packs = net.sent(net.bluesky, WriteCollection)
    with Session(engine) as session:
        from shared.db.models import Collection

        owners = {c.id: c.person_id for c in session.exec(select(Collection))}
    shared = [p for p in packs if owners[p.collection] is None]
    assert len(shared) == 1
    stars = {f"did:plc:star{n}" for n in range(len(popular))}
    assert stars <= {m.subject for m in shared[0].members}
    assert not any(owners[p.collection] in fans for p in packs), "no fan needs a pack of their own"
    to_fans = [
        r.text for r in net.sent(net.bluesky, Reply) if r.to.subject.startswith("did:plc:fan")
    ]
    assert len(to_fans) == len(fans)
    assert len({t.rsplit("/", 1)[1] for t in to_fans}) == 1, "one pack serves them all"
    assert all("10 are in this pack of accounts many followed on X: " in t for t in to_fans)
    with Session(engine) as session:
        listed = space.space_of(session, fans[0], lambda network, pack: f"{network}/{pack}").packs
    assert [(p.shared, p.members, p.url) for p in listed] == [
        (True, len(shared[0].members), f"bluesky/{shared[0].collection}")
    ], "the fan's space lists the shared pack that holds their contacts"


def test_packs_that_do_not_fit_one_post_are_named_in_the_space_not_a_thread() -> None:
    """Seven packs' links would be a thread of three posts, each one more of the bot's
    budget: one post names those that fit and says the space holds the rest."""
    from shared.bot.messages import Lang
    from shared.reconnection import suggestions

    url = "https://bsky.app/starter-pack/helloquittex.bsky.social/3lbcdefghijkl"
    packs = [suggestions.PackLink(f"{url}{n}", 150, shared=n >= 5) for n in range(7)]
    bridged = [suggestions.Contact(9, None, "friend.m.test.ap.brid.gy")]
    kwargs: dict[str, Any] = {"lang": Lang.EN, "first": True, "packs": packs, "csv_link": None,
                              "network": Network.BLUESKY, "room": 280}  # fmt: skip
    thread = suggestions.compose(addresses=bridged, space=False, **kwargs)
    assert len(thread) == 4, "without a space: every link and the address, in a thread"
    [one] = suggestions.compose(addresses=bridged, space=True, **kwargs)
    assert len(one) <= 280
    named = [line for line in one.splitlines() if url in line]
    assert named and named[0].startswith("They are in your starter pack (150): ")
    left = 7 - len(named)
    assert one.endswith(
        f"… and {left} more packs and 1 address, all in your space: write me “space”."
    )
    [fits] = suggestions.compose(addresses=[], space=True, **{**kwargs, "packs": packs[:1]})
    assert "in your space" not in fits, "what fits is said in full"


def test_a_spent_read_limit_is_waited_out_not_hammered(engine: Engine, tmp_path: Path) -> None:
    from shared.protocol import ThrottledError

    class Throttled(FakeBluesky):
        calls = 0

        async def follows(self, subject: str, handle: str) -> frozenset[str]:
            self.calls += 1
            if self.calls == 1:
                raise ThrottledError("spent", until=utcnow() + timedelta(milliseconds=200))
            return await super().follows(subject, handle)

    net = Net(engine)
    net.bluesky = throttled = Throttled()
    net.service = Service(
        engine,
        [net.bluesky, net.mastodon],
        default_registry(),
        reconnection=Reconnection(cutover_at=utcnow() - timedelta(hours=1)),
    )
    net.alice_follows_carol(tmp_path)
    net.run()
    assert throttled.calls == 3, "once refused, then Alice's and Carol's"
    assert len(net.sent(net.bluesky, WriteCollection)) == 2, "both delivered in the same run"


def test_old_watch_runs_are_pruned_and_what_they_delivered_stays(
    engine: Engine, tmp_path: Path
) -> None:
    from shared import retention

    net = Net(engine)
    alice = net.person("alice", ALICE_X, "bluesky")
    net.run()
    net.person("carol", CAROL_X, "bluesky")
    archive = make_archive(tmp_path / "a.zip", [], [CAROL_X], account_id=ALICE_X,
                           username="alice_x")  # fmt: skip
    import_archive(engine, archive, for_person=alice)
    net.run()
    with Session(engine) as session:
        kinds = sorted(r.kind for r in session.exec(select(ReconnectRun)))
    assert kinds == ["cutover", "watch"]
    later = utcnow() + retention.WATCH_RUNS_KEPT + timedelta(days=1)
    assert retention.prune(engine, later).runs == 1
    with Session(engine) as session:
        assert [r.kind for r in session.exec(select(ReconnectRun))] == ["cutover"]
        assert len(session.exec(select(Delivery)).all()) == 2, "deliveries stay"


def test_messages_off_stops_messages_and_nothing_else(engine: Engine, tmp_path: Path) -> None:
    """Each consent on its own: Bob says no to messages (not ``stop``): his pack is still
    written, he still reaches his contacts, nothing is written to him; what only a message
    carries waits until he allows messages again."""
    net = Net(engine)
    alice = net.person("alice", ALICE_X, "mastodon")
    bob = net.person("bob", BOB_X, "bluesky", "mastodon")
    net.person("carol", CAROL_X, "bluesky")
    with Session(engine) as session, session.begin():
        person = session.get_one(Person, bob)
        privacy.set_consent(session, person, Purpose.SUGGESTIONS_BY_MESSAGE, False,
                            trigger="t", env=net.service.environment())  # fmt: skip
        assert not person.stopped
    archive = make_archive(tmp_path / "b.zip", [ALICE_X], [CAROL_X], account_id=BOB_X,
                           username="bob_x")  # fmt: skip
    import_archive(engine, archive, for_person=bob)

    net.run()
    packs = net.sent(net.bluesky, WriteCollection)
    assert any("did:plc:carol" in [m.subject for m in p.members] for p in packs), "his pack"
    told = [a.to.subject for a in net.sent(net.bluesky, Reply) + net.sent(net.mastodon, Reply)]
    assert "did:plc:bob" not in told and "https://m.test/users/bob" not in told, "no message"
    assert "https://m.test/users/alice" in told, "Alice still finds him"
    with Session(engine) as session:
        to_bob = {
            d.contact_id
            for d in session.exec(select(Delivery))
            if d.person_id == bob and d.network == "mastodon"
        }
    assert alice not in to_bob, "Alice (only a message would carry her there) stays due"

    with Session(engine) as session, session.begin():
        privacy.set_consent(session, session.get_one(Person, bob), Purpose.SUGGESTIONS_BY_MESSAGE,
                            True, trigger="t2", env=net.service.environment())  # fmt: skip
        matching.request(session, bob)
    net.service._reconnection = Reconnection(cutover_at=utcnow() - timedelta(hours=1),
                                             rematch_hours=0)  # fmt: skip
    net.run()
    to_bob_now = [a for a in net.sent(net.mastodon, Reply) if a.to.subject.endswith("/bob")]
    assert to_bob_now and "alice@m.test" in to_bob_now[0].text, "delivered once allowed"


def test_a_cutover_at_midnight_in_paris_is_kept_as_that_moment(engine: Engine) -> None:
    """A moment with an offset (the campaign's cutover, midnight in Paris) is stored as that
    moment on both databases: the next day's re-match comes 24 hours after it, not 23 or
    25 (SQLite kept its wall clock as UTC, an hour late, and a day's re-match was skipped)."""
    paris = timezone(timedelta(hours=1))
    cutover = datetime(2025, 1, 20, tzinfo=paris)
    with clock.simulated(lambda: cutover):
        run = runs.start_run(engine, "cutover", RunKind.CUTOVER)
    assert run is not None and run.id is not None
    assert runs.last_rematch(engine) == cutover
    with Session(engine) as session:
        after = session.exec(
            select(ReconnectRun).where(ReconnectRun.started_at > cutover - timedelta(minutes=1))
        ).all()
    assert [r.id for r in after] == [run.id], "compared as moments, whatever their offset"


def test_once_the_budget_is_spent_a_run_asks_only_about_those_it_can_give_follows(
    engine: Engine, tmp_path: Path
) -> None:
    """Everyone told and the bot's budget for the day spent: a later run asks the network
    whom a person follows only for those it can still give something (follows, with their
    grant); the others' new contacts wait for the budget, and nobody is asked about them."""

    class Paced(FakeAdapter):
        write_budget = WriteBudget(per_hour=1, per_day=1, reserve=0)
        message_cost = 1

        def __init__(self) -> None:
            super().__init__()
            self.asked: list[str] = []

        async def follows(self, subject: str, handle: str) -> frozenset[str]:
            self.asked.append(handle)
            return await super().follows(subject, handle)

    net = Net(engine)
    net.mastodon = mastodon = Paced()
    cutover = Reconnection(cutover_at=utcnow() - timedelta(hours=1))
    net.service = Service(engine, [net.bluesky, mastodon], default_registry(), reconnection=cutover)
    alice, grace = net.person("alice", ALICE_X, "mastodon"), net.person("grace", 500, "mastodon")
    bob, carol = net.person("bob", BOB_X, "mastodon"), net.person("carol", CAROL_X, "mastodon")
    with Session(engine) as session, session.begin():
        for contact in (bob, carol):  # told of nobody themselves: only the two who follow
            session.get_one(Person, contact).reconnect = "followings"
        session.add(Consent(person_id=grace, purpose=Purpose.FOLLOWS_ON_BEHALF, granted=True))
        acting = grants.Token("https://m.test", "t", "https://m.test/users/grace")
        grants.grant(session, KEY, person_id=grace, network=Network.MASTODON, acting_as=acting,
                     scope="write:follows")  # fmt: skip

    def follow(person: int, x_id: int, name: str, *followed: int) -> None:
        archive = make_archive(tmp_path / f"{name}.zip", [], list(followed), account_id=x_id,
                               username=f"{name}_x")  # fmt: skip
        import_archive(engine, archive, for_person=person)

    follow(alice, ALICE_X, "alice", BOB_X)
    follow(grace, 500, "grace", BOB_X)
    net.run()
    assert sorted(mastodon.asked) == ["alice@m.test", "grace@m.test"]
    assert len(net.sent(mastodon, Reply)) == 1, "Alice told of Bob: the day's one message"
    mastodon.asked.clear()

    follow(alice, ALICE_X, "alice2", BOB_X, CAROL_X)
    follow(grace, 500, "grace2", BOB_X, CAROL_X)
    net.run()
    assert mastodon.asked == ["grace@m.test"], "only Grace can be given anything today"
    followed = {
        f.action.contact for f in mastodon.sent.values() if isinstance(f.action, FollowAccount)
    }
    assert followed == {bob, carol}, "Carol followed for Grace at once"
    with Session(engine) as session:
        waiting = reports.waiting(session, Network.MASTODON)
    assert waiting == {"people": 1, "pairs": 1}, "Alice's Carol waits for the bot's budget"


def test_a_run_finds_who_is_waiting_and_each_accounts_demand_in_one_read(
    engine: Engine, tmp_path: Path
) -> None:
    """Who has contacts due, and how many people want each account there (a shared pack's
    demand): someone both following and followed by an account wants it once; an account
    with nobody there is wanted by nobody there."""
    from shared.reconnection import due, planner

    net = Net(engine)
    ana = net.person("ana", 700, "bluesky")
    ben = net.person("ben", 701, "bluesky")
    cy, dee = net.person("cy", 702, "bluesky"), net.person("dee", 703, "bluesky")
    eve = net.person("eve", 704, "mastodon")
    for n, (person, x_id, followed) in enumerate(
        [(ana, 700, [701, 704]), (ben, 701, [700]), (cy, 702, [701, 704]), (dee, 703, [701])]
    ):
        archive = make_archive(tmp_path / f"w{n}.zip", [], followed, account_id=x_id,
                               username=f"w{n}_x")  # fmt: skip
        import_archive(engine, archive, for_person=person)
    matching.match_all(engine)
    with Session(engine) as session:
        found = waiting.waiting(session, Network.BLUESKY)
    assert found.people == [ana, ben, cy, dee]
    assert planner.SHARED_MIN == 3
    assert found.demand == {ben: 3}, "Ana, Cy and Dee want Ben; Ana once, though they follow back"
    assert found.followable == [], "nobody granted follows"
    with Session(engine) as session:
        assert [item.person for item in due.due(session, Network.BLUESKY, found.people)] == [
            ana, ben, cy, dee
        ]  # fmt: skip
        assert waiting.waiting(session, Network.MASTODON).people == [eve]
        [told] = due.due(session, Network.MASTODON, [eve])
        bridged = {c.address for c in told.contacts}
        assert bridged == {"ana.test@bsky.brid.gy", "cy.test@bsky.brid.gy"}
