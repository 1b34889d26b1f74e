"""The core with two fake networks that know a few accounts: people talk to the bot and read
what it answers, with no network at all."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, select

from shared.actions import Reply
from shared.bot.handlers import default_registry
from shared.db.models import Identity, OutboundAction
from shared.identity import challenge, linking
from shared.identity.accounts import Account
from shared.protocol import Author, IncomingPost
from shared.service import Service
from shared.vocabulary import Network
from tests.fakes import FakeAdapter, FakeBluesky

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from shared.config import Reconnection

KEY = "a-secret-key-for-tests-only-0123456789"
ALICE_B = Author("did:plc:alice", "alice.test")
ALICE_M = Author("https://masto.test/users/alice", "alice@masto.test")
MALLORY_M = Author("https://masto.test/users/mallory", "mallory@masto.test")
MALLORY_B = Author("did:plc:mallory", "mallory.test")


class World:
    """The core with a fake Bluesky and a fake Mastodon that know a few accounts."""

    def __init__(
        self,
        engine: Engine,
        public_url: str | None = None,
        x_posts: Any = None,
        reconnection: Reconnection | None = None,
    ) -> None:
        self.engine = engine
        self.bluesky, self.mastodon = FakeBluesky(), FakeAdapter()
        for author in (ALICE_B, MALLORY_B):
            self.bluesky.accounts[author.handle] = Account(
                Network.BLUESKY, author.subject, author.handle
            )
        for author in (ALICE_M, MALLORY_M):
            self.mastodon.accounts[author.handle] = Account(
                Network.MASTODON, author.subject, author.handle
            )
        self.service = Service(
            engine,
            [self.bluesky, self.mastodon],
            default_registry(),
            KEY,
            public_url=public_url,
            x_posts=x_posts,
            reconnection=reconnection,
        )
        self._ids = iter(range(1, 10_000))

    def say(self, author: Author, text: str, *, network: Network | None = None, **kw: Any) -> str:
        """``author`` addresses the bot; return the bot's answer to that post."""
        network = network or (
            Network.BLUESKY if author.subject.startswith("did:") else Network.MASTODON
        )
        post = IncomingPost(
            network=network,
            post_id=f"{network}-post-{next(self._ids)}",
            author=author,
            text=text,
            languages=kw.pop("languages", ("en",)),
            reply_context={"thread": "t"},
            **kw,
        )
        return self.receive(post)

    def receive(self, post: IncomingPost) -> str:
        asyncio.run(self._receive(post))
        return self.answer_to(post.post_id)

    async def _receive(self, post: IncomingPost) -> None:
        await self.service.receive(post)
        await self.service.deliver_due()

    def answer_to(self, post_id: str) -> str:
        for adapter in (self.bluesky, self.mastodon):
            for sent in adapter.sent.values():
                answer = sent.action
                ours = isinstance(answer, Reply) and answer.to_post == post_id
                if ours and sent.key.startswith("reply:"):
                    assert isinstance(answer, Reply)
                    return answer.text
        return ""

    def confirmations(self) -> list[tuple[str, Reply]]:
        """Confirmations sent, with their network."""
        return [
            (adapter.network, sent.action)
            for adapter in (self.bluesky, self.mastodon)
            for sent in adapter.sent.values()
            if sent.key.startswith("confirm:") and isinstance(sent.action, Reply)
        ]

    def persons_of(self, author: Author) -> int:
        """The person of ``author``'s account, stored now if new (as a first proof would)."""
        network = Network.BLUESKY if author.subject.startswith("did:") else Network.MASTODON
        with Session(self.engine) as session, session.begin():
            return linking.identity_of(session, network, author).person_id

    def mastodon_outbox(self) -> list[OutboundAction]:
        """What is queued or sent for the Mastodon bot."""
        with Session(self.engine) as session:
            query = select(OutboundAction).where(OutboundAction.network == Network.MASTODON)
            return list(session.exec(query))

    def persons(self) -> dict[str, int]:
        with Session(self.engine) as session:
            return {i.handle: i.person_id for i in session.exec(select(Identity))}


def code_in(answer: str) -> str:
    found = challenge.find(answer)
    assert found is not None, f"no code in {answer!r}"
    return found


def to_post(answer: str) -> str:
    """The text the bot handed over to post as proof (the line holding the code)."""
    code = code_in(answer)
    return next(line for line in answer.splitlines() if code in line)
