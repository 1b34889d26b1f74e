"""The contract every network's adapter keeps with the core (:class:`shared.protocol.Protocol`),
checked the same way against each: the Bluesky adapter on Bluesky's own local network, the
Mastodon adapter on the test server in each server profile people run, and the recording
fake the core's own tests use (so that what those tests take for granted is what the real
adapters do).

The contract: started, the bot names itself and reports its health in words; an account
named by its handle is found with its stable subject, and no one is found for a handle
that names nobody; a post addressed to the bot is handed over as it was written, by the
account that wrote it; an answer delivered again after a crash (a second attempt of the same
action) is one answer on the network, under the same reference; what the adapter says it
cannot deliver is refused for good, never tried again."""

from __future__ import annotations

import asyncio
import itertools
import time
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from bsky_service.adapter import BlueskyAdapter
from mastodon_bot.adapter import MastodonAdapter
from shared.actions import (
    KINDS,
    Member,
    Recipient,
    Reply,
    WithdrawAttestation,
    WithdrawMembers,
    WriteAttestation,
    WriteCollection,
)
from shared.identity.accounts import Account
from shared.protocol import Author, DeliveryError, IncomingPost, Outgoing, Protocol
from shared.stores import Stores
from tests.fakes import FakeAdapter
from tests.mastodon_world import MastodonWorld
from testworld.bluesky.people import PASSWORD, create_person
from testworld.mastodon.profiles import PROFILES

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Engine

    from shared.actions import Action
    from testworld.bluesky.network import BlueskyDevNetwork

WAIT_SEC = 30.0  # a deadline for what must happen; a loaded machine is slow
CATCH_UP = timedelta(minutes=5)
NOBODY = "nobody-here-at-all"
_names = (f"contract{n}" for n in itertools.count())
"""Handles of this suite's own (the local Bluesky network is shared by the whole session)."""


class Side(ABC):
    """One adapter and the network it talks to, as the contract drives them."""

    adapter: Protocol
    person: str
    """The handle of a person on that network (not the bot)."""
    nobody: str
    """A well-formed handle that names no account there."""

    @abstractmethod
    def mention(self, text: str) -> str:
        """The person posts ``text`` addressed to the bot; the network's id of that post."""

    @abstractmethod
    def answers(self, post_id: str) -> int:
        """How many answers of the bot to that post the network holds."""

    def settle(self) -> None:  # noqa: B027  (most networks need nothing)
        """Let the network catch up with what was written (Bluesky indexes it)."""

    def stop(self) -> None:  # noqa: B027
        """Stop the network, if the side runs one of its own."""


class FakeSide(Side):
    """The recording fake: its network is what it was handed and what it sent."""

    def __init__(self) -> None:
        self.fake = FakeAdapter()
        self.adapter = self.fake
        self.person, self.nobody = "alice@fake.test", f"{NOBODY}@fake.test"
        self.fake.accounts[self.person] = Account(
            self.fake.network, "https://fake.test/users/alice", self.person
        )
        self._posts = (f"fake-post-{n}" for n in itertools.count())

    def mention(self, text: str) -> str:
        post_id = next(self._posts)
        author = self.fake.accounts[self.person]
        self.fake.inbox.put_nowait(
            IncomingPost(
                network=self.fake.network,
                post_id=post_id,
                author=Author(author.subject, author.handle),
                text=text,
                reply_context={"status_id": post_id},
            )
        )
        return post_id

    def answers(self, post_id: str) -> int:
        sent = [o.action for o in self.fake.sent.values()]
        return sum(isinstance(a, Reply) and a.to_post == post_id for a in sent)


class MastodonSide(Side):
    """The Mastodon adapter on the test server, in one server profile."""

    def __init__(self, profile: str, engine: Engine) -> None:
        self.world = MastodonWorld(PROFILES[profile])
        domain = self.world.server.domain
        self.adapter = MastodonAdapter(
            Stores.of(engine, None), self.world.url, self.world.bot.token,
            poll_interval_sec=0.05, catch_up=CATCH_UP,
        )  # fmt: skip
        self.person, self.nobody = f"alice@{domain}", f"{NOBODY}@{domain}"

    def mention(self, text: str) -> str:
        return str(self.world.alice_person.post(f"@helloquittex {text}").id)

    def answers(self, post_id: str) -> int:
        return sum(
            s.in_reply_to is not None and s.in_reply_to.id == post_id
            for s in self.world.bot_statuses()
        )

    def stop(self) -> None:
        self.world.stop()


class BlueskySide(Side):
    """The Bluesky adapter on Bluesky's own PDS, AppView and PLC (``@atproto/dev-env``)."""

    def __init__(self, bluesky: BlueskyDevNetwork, engine: Engine) -> None:
        assert bluesky.urls is not None
        self.bluesky = bluesky
        self.bot = create_person(bluesky, f"bot{next(_names)}")
        self.alice = create_person(bluesky, f"alice{next(_names)}")
        self.adapter = BlueskyAdapter(
            Stores.of(engine, None), bluesky.urls.pds, self.bot.handle, PASSWORD,
            poll_interval_sec=0.1, catch_up=CATCH_UP,
        )  # fmt: skip
        self.person, self.nobody = self.alice.handle, f"{NOBODY}.test"

    def mention(self, text: str) -> str:
        return str(self.alice.post(text, mention=self.bot).uri)

    def answers(self, post_id: str) -> int:
        listed = self.bot.client.com.atproto.repo.list_records(
            {"repo": self.bot.did, "collection": "app.bsky.feed.post", "limit": 100}
        )
        replies = [r.value.reply for r in listed.records]
        return sum(reply is not None and reply.parent.uri == post_id for reply in replies)

    def settle(self) -> None:
        self.bluesky.process_all()


SIDES = [
    pytest.param("fake", id="fake"),
    *(pytest.param(f"mastodon:{name}", id=name, marks=pytest.mark.integration)
      for name in PROFILES),
    pytest.param("bluesky", id="bluesky", marks=pytest.mark.integration),
]  # fmt: skip


def _side(name: str, request: pytest.FixtureRequest, engine: Engine) -> Side:
    if name == "fake":
        return FakeSide()
    if name.startswith("mastodon:"):
        return MastodonSide(name.removeprefix("mastodon:"), engine)
    return BlueskySide(request.getfixturevalue("bluesky"), engine)


@pytest.fixture(params=SIDES)
def side(request: pytest.FixtureRequest, db: Engine) -> Iterator[Side]:
    made = _side(request.param, request, db)
    yield made
    made.stop()


def run(side: Side, scenario: Any) -> Any:
    """``scenario(adapter)`` with the adapter started, and closed after."""

    async def started() -> Any:
        await side.adapter.start()
        try:
            return await scenario(side.adapter)
        finally:
            await side.adapter.close()

    return asyncio.run(started())


async def wait_for(side: Side, done: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_SEC
    while not done():
        assert time.monotonic() < deadline, f"not in {WAIT_SEC:g} s: {what}"
        await asyncio.to_thread(side.settle)
        await asyncio.sleep(0.05)


async def received_mention(side: Side, adapter: Protocol, text: str) -> IncomingPost:
    """The person mentions the bot with ``text``; the post as the adapter hands it over."""
    received: list[IncomingPost] = []

    async def receive(post: IncomingPost) -> None:
        received.append(post)

    loop = asyncio.create_task(adapter.receive_forever(receive))
    try:
        post_id = await asyncio.to_thread(side.mention, text)
        await wait_for(side, lambda: any(p.post_id == post_id for p in received), "the mention")
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    return next(p for p in received if p.post_id == post_id)


def outgoing(action: Action, attempts: int, action_id: int = 1) -> Outgoing:
    moment = datetime(2026, 12, 2, 12, 0, tzinfo=UTC) + timedelta(seconds=action_id)
    return Outgoing(action, f"contract:{action_id}", action_id, moment, attempts)


def test_started_the_bot_names_itself_and_says_how_it_is(side: Side) -> None:
    async def scenario(adapter: Protocol) -> None:
        assert adapter.bot_handle, "a started bot knows its own handle"
        health = adapter.health()
        assert health and all(isinstance(v, str) for v in health.values()), health
        assert adapter.text_limit >= 280, "room for an answer"

    run(side, scenario)


def test_an_account_is_found_by_its_handle_and_nobody_by_another(side: Side) -> None:
    async def scenario(adapter: Protocol) -> None:
        found = await adapter.resolve(side.person)
        assert found is not None, f"{side.person} is there"
        assert found.network == adapter.network
        assert found.handle.casefold() == side.person.casefold()
        assert found.subject, "a stable subject, not the handle"
        assert found.subject != found.handle
        assert await adapter.resolve(side.nobody) is None

    run(side, scenario)


def test_a_mention_is_handed_over_as_written_by_whoever_wrote_it(side: Side) -> None:
    async def scenario(adapter: Protocol) -> None:
        author = await adapter.resolve(side.person)
        post = await received_mention(side, adapter, "help")
        assert post.network == adapter.network
        assert author is not None
        assert (post.author.subject, post.author.handle.casefold()) == (
            author.subject, side.person.casefold()
        )  # fmt: skip
        assert post.text == "help", "the bot's own mention is not part of what was said"

    run(side, scenario)


def test_an_answer_delivered_again_after_a_crash_is_one_answer(side: Side) -> None:
    async def scenario(adapter: Protocol) -> None:
        post = await received_mention(side, adapter, "help")
        to = Recipient(post.author.subject, post.author.handle)
        answer = Reply(post.post_id, to, "Hello from the contract", "en", False,
                       dict(post.reply_context))  # fmt: skip
        first = await adapter.deliver(outgoing(answer, attempts=1))
        again = await adapter.deliver(outgoing(answer, attempts=2))  # the record was lost
        assert again == first, "the same answer, under the same reference"
        await asyncio.to_thread(side.settle)
        assert await asyncio.to_thread(side.answers, post.post_id) == 1

    run(side, scenario)


_ADAPTERS: list[tuple[str, type[Protocol], tuple[pytest.MarkDecorator, ...]]] = [
    ("fake", FakeAdapter, ()),
    *((f"mastodon:{p}", MastodonAdapter, (pytest.mark.integration,)) for p in PROFILES),
]
UNDELIVERED = [
    pytest.param(name, kind, id=f"{name}-{kind.kind}", marks=marks)
    for name, cls, marks in _ADAPTERS
    for kind in sorted(set(KINDS.values()) - cls.delivers, key=lambda k: k.kind)
]
"""What each adapter says it cannot deliver (Bluesky delivers every kind there is)."""


@pytest.mark.parametrize(("name", "kind"), UNDELIVERED)
def test_what_an_adapter_cannot_deliver_is_refused_for_good(
    name: str, kind: type[Action], request: pytest.FixtureRequest, db: Engine
) -> None:
    made = _side(name, request, db)
    action = _example(kind)

    async def scenario(adapter: Protocol) -> None:
        with pytest.raises(DeliveryError) as refused:
            await adapter.deliver(outgoing(action, attempts=1))
        assert refused.value.permanent, "never tried again"

    try:
        run(made, scenario)
    finally:
        made.stop()


EXAMPLES: dict[type[Action], Action] = {
    WriteAttestation: WriteAttestation("3kattest", {"$type": "org.helloquittex.attestation"}),
    WithdrawAttestation: WithdrawAttestation("3kattest"),
    WriteCollection: WriteCollection(
        1, True, "Your X contacts", "", "en", [Member(0, "did:plc:someone")]
    ),
    WithdrawMembers: WithdrawMembers(1, [0], drop=False),
}
"""An action of each kind an adapter may refuse (a kind missing here fails the test)."""


def _example(kind: type[Action]) -> Action:
    return EXAMPLES[kind]
