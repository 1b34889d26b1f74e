"""The Bluesky bot on the real local network (Bluesky's own PDS and AppView): it answers when
addressed, in thread with a real mention, once, across restarts and interrupted sends."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from atproto import models
from sqlmodel import Session, select

from bsky_service import chat as bsky_chat
from bsky_service import notifications as bsky_notifications
from bsky_service.adapter import BlueskyAdapter
from shared.bot.handlers import default_registry
from shared.db.models import BotState, OutboundAction
from shared.service import Service
from shared.stores import Stores
from shared.vocabulary import ActionStatus, Network
from tests.running import Crashes, run_until
from testworld.bluesky.people import PASSWORD, create_person

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Engine

    from shared.protocol import IncomingPost
    from testworld.bluesky.network import BlueskyDevNetwork
    from testworld.bluesky.people import Person

pytestmark = pytest.mark.integration
WAIT_SEC = 20.0
SESSION_KEY = "a-secret-key-for-tests-only-0123456789"
# People post before the bot's first start in these tests: it is asked to catch up.
CATCH_UP = timedelta(minutes=5)
_names = (f"b{n}" for n in itertools.count())


def person(bluesky: BlueskyDevNetwork, name: str) -> Person:
    return create_person(bluesky, f"{name}{next(_names)}")


def run_bot(
    bluesky: BlueskyDevNetwork,
    engine: Engine,
    bot: Person,
    until: Callable[[], bool],
    password: str = PASSWORD,
) -> None:
    """Run the service with the Bluesky bot until ``until()`` holds (or fail)."""
    assert bluesky.urls is not None
    adapter = BlueskyAdapter(
        Stores.of(engine, None),
        bluesky.urls.pds,
        bot.handle,
        password,
        poll_interval_sec=0.1,
        catch_up=CATCH_UP,
        session_key=SESSION_KEY,
    )
    service = Service(engine, [adapter], default_registry(), delivery_interval_sec=0.2)

    def done() -> bool:
        bluesky.process_all()
        return until()

    run_until(service, done, WAIT_SEC)
    # The bot may have written between the last indexing and ``until()``: index that too,
    # so what a test reads from the AppView afterwards is what the bot did.
    bluesky.process_all()


def bot_posts(bot: Person) -> list[Any]:
    listed = bot.client.com.atproto.repo.list_records(
        {"repo": bot.did, "collection": "app.bsky.feed.post", "limit": 100}
    )
    return list(listed.records)


def answers_to(bot: Person, uri: str) -> list[Any]:
    return [r.value for r in bot_posts(bot) if r.value.reply and r.value.reply.parent.uri == uri]


def strong_ref(created: Any) -> models.ComAtprotoRepoStrongRef.Main:
    return models.ComAtprotoRepoStrongRef.Main(uri=created.uri, cid=created.cid)


def test_a_mention_is_answered_in_thread_with_a_real_mention(
    bluesky: BlueskyDevNetwork, db: Engine
) -> None:
    bot, alice = person(bluesky, "bot"), person(bluesky, "alice")
    asked = alice.post("Bonjour ! Vous êtes qui ?", mention=bot, langs=["fr"])
    run_bot(bluesky, db, bot, lambda: bool(answers_to(bot, asked.uri)))

    [answer] = answers_to(bot, asked.uri)
    assert answer.reply.root.uri == asked.uri and answer.reply.root.cid == asked.cid
    assert answer.reply.parent.cid == asked.cid
    assert answer.langs == ["fr"]
    assert "Je suis HelloQuitteX" in answer.text
    [facet] = answer.facets
    assert facet.features[0].did == alice.did
    mentioned = answer.text.encode()[facet.index.byte_start : facet.index.byte_end]
    assert mentioned.decode() == f"@{alice.handle}"
    # Alice sees it where people see replies: in her notifications, from the bot.
    assert [r.text for r in alice.answers_from(bot)] == [answer.text]

    # Apps show the self-label the AppView reports on the bot's profile.
    profile = alice.client.app.bsky.actor.get_profile({"actor": bot.did})
    assert [(label.val, label.src) for label in profile.labels or []] == [("bot", bot.did)]


def test_a_reply_to_the_bot_continues_the_thread_and_others_are_left_alone(
    bluesky: BlueskyDevNetwork, db: Engine
) -> None:
    bot, alice, bob = person(bluesky, "bot"), person(bluesky, "alice"), person(bluesky, "bob")
    asked = alice.post("help", mention=bot, langs=["en"])
    run_bot(bluesky, db, bot, lambda: bool(answers_to(bot, asked.uri)))
    [first] = [r for r in bot_posts(bot) if r.value.reply.parent.uri == asked.uri]
    root = strong_ref(asked)

    # Alice answers the bot without mentioning it: addressed. Bob talks to Alice in the same
    # thread: not addressed, even though the bot's post is the thread's root's reply.
    again = alice.post(
        "help",
        langs=["en"],
        reply_to=models.AppBskyFeedPost.ReplyRef(root=root, parent=strong_ref(first)),
    )
    bobs = bob.post(
        "Alice, did it work?",
        langs=["en"],
        reply_to=models.AppBskyFeedPost.ReplyRef(root=root, parent=strong_ref(again)),
    )
    run_bot(bluesky, db, bot, lambda: bool(answers_to(bot, again.uri)))
    [second] = answers_to(bot, again.uri)
    assert second.reply.root.uri == asked.uri, "the answer stays in the thread"
    assert answers_to(bot, bobs.uri) == []
    assert len(bot_posts(bot)) == 2


def test_a_restart_reuses_the_session_and_answers_nothing_twice(
    bluesky: BlueskyDevNetwork, db: Engine
) -> None:
    bot, alice = person(bluesky, "bot"), person(bluesky, "alice")
    bot.client.com.atproto.repo.put_record(  # the operator's own profile, to be kept
        {
            "repo": bot.did,
            "collection": "app.bsky.actor.profile",
            "rkey": "self",
            "record": {"$type": "app.bsky.actor.profile", "displayName": "Le bot HQX"},
        }
    )
    first = alice.post("help", mention=bot)
    run_bot(bluesky, db, bot, lambda: bool(answers_to(bot, first.uri)))
    second = alice.post("help", mention=bot)  # while the bot is stopped
    # A wrong password proves the saved session is used: no createSession at all.
    run_bot(
        bluesky,
        db,
        bot,
        lambda: bool(answers_to(bot, second.uri)),
        password="wrong-password",
    )
    assert len(answers_to(bot, first.uri)) == 1
    assert len(bot_posts(bot)) == 2
    with Session(db) as session:  # kept sealed: the database alone gives no access
        kept = " ".join(session.exec(select(BotState.value)))
    assert "sealed1:" in kept
    assert "eyJ" not in kept and bot.did not in kept, "no JWT, not even the account, in clear"
    profile = alice.client.app.bsky.actor.get_profile({"actor": bot.did})
    assert profile.display_name == "Le bot HQX"
    assert [label.val for label in profile.labels or []] == ["bot"], "labelled once"


def test_a_backlog_of_several_pages_is_answered_in_full(
    bluesky: BlueskyDevNetwork, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bsky_notifications, "NOTIFICATIONS_PAGE", 2)
    bot, alice = person(bluesky, "bot"), person(bluesky, "alice")
    asked = [alice.post(f"help {n}", mention=bot).uri for n in range(5)]
    run_bot(bluesky, db, bot, lambda: len(bot_posts(bot)) >= len(asked))
    assert sorted(r.value.reply.parent.uri for r in bot_posts(bot)) == sorted(asked)


def action_done(db: Engine) -> bool:
    with Session(db) as session:
        return session.exec(select(OutboundAction)).one().status == ActionStatus.DONE


def test_an_interrupted_reply_is_posted_exactly_once(
    bluesky: BlueskyDevNetwork, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashes = Crashes(monkeypatch)
    bot, alice = person(bluesky, "bot"), person(bluesky, "alice")
    asked = alice.post("help", mention=bot)
    run_bot(bluesky, db, bot, lambda: bool(answers_to(bot, asked.uri)))
    [posted] = bot_posts(bot)

    crashes.after_sending(db)  # died after the PDS stored the reply, before recording it
    run_bot(bluesky, db, bot, lambda: action_done(db))
    assert [r.uri for r in bot_posts(bot)] == [posted.uri]

    # Died after claiming the reply, before the PDS stored it: it is posted on restart.
    rkey = posted.uri.rsplit("/", 1)[1]
    bot.client.com.atproto.repo.delete_record(
        {"repo": bot.did, "collection": "app.bsky.feed.post", "rkey": rkey}
    )
    crashes.after_sending(db)
    run_bot(bluesky, db, bot, lambda: action_done(db))
    assert [r.uri for r in bot_posts(bot)] == [posted.uri]


def test_mentions_are_received_when_the_chat_service_is_broken(
    bluesky: BlueskyDevNetwork,
    db: Engine,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The receive loop keeps running through chat failures: no restart, no delay; the
    failure is said once, and the chat service is asked again later and later."""
    import asyncio
    import time

    monkeypatch.setattr(bsky_chat, "CHAT_RETRY_FIRST_SEC", 0.05)
    assert bluesky.urls is not None
    bot, alice = person(bluesky, "bot"), person(bluesky, "alice")
    adapter = BlueskyAdapter(
        Stores.of(db, None),
        bluesky.urls.pds,
        bot.handle,
        PASSWORD,
        poll_interval_sec=0.1,
        chat_proxy="did:plc:nochatservicehere#bsky_chat",  # the PDS cannot proxy to it
        catch_up=CATCH_UP,
    )
    received: list[IncomingPost] = []
    calls = {"polls": 0, "chats": 0}
    poll_once, poll_messages = adapter.poll_once, adapter.poll_messages

    async def counted_poll(receive: Any) -> int:
        calls["polls"] += 1
        return await poll_once(receive)

    async def counted_chat(receive: Any) -> int:
        calls["chats"] += 1
        return await poll_messages(receive)

    adapter.poll_once = counted_poll  # type: ignore[method-assign]
    adapter.poll_messages = counted_chat  # type: ignore[method-assign]

    async def receive(post: IncomingPost) -> None:
        received.append(post)

    async def scenario() -> None:
        await adapter.start()
        loop = asyncio.create_task(adapter.receive_forever(receive))
        try:
            deadline = time.monotonic() + WAIT_SEC
            while calls["polls"] < 12 and not loop.done():  # each chat call fails
                assert time.monotonic() < deadline, f"too few polls: {calls}"
                await asyncio.sleep(0.05)
            assert not loop.done(), "a broken chat must not stop the loop"
            assert 3 <= calls["chats"] < calls["polls"], f"asked again, less often: {calls}"
            await asyncio.to_thread(alice.post, "help", bot)
            for _ in range(100):
                await asyncio.to_thread(bluesky.process_all)
                if received or loop.done():
                    break
                await asyncio.sleep(0.1)
            assert not loop.done()
        finally:
            loop.cancel()
            await asyncio.gather(loop, return_exceptions=True)
            await adapter.close()

    asyncio.run(scenario())
    assert [post.author.subject for post in received] == [alice.did]
    said = [r for r in caplog.records if "chat unavailable" in r.getMessage()]
    assert len(said) == 1, "a broken chat is said once, not at every poll"
    assert adapter.health()["messages"].startswith("failing: ")


def answered_once_running(
    bluesky: BlueskyDevNetwork, bot: Person, who: Person, text: str
) -> Callable[[], bool]:
    """A scene for :func:`run_until`: once the service runs, ``who`` mentions the bot with
    ``text``; it is over when the bot has answered that post."""
    asked: list[Any] = []

    def scene() -> bool:
        bluesky.process_all()
        if not asked:
            asked.append(who.post(text, mention=bot))
        return bool(answers_to(bot, asked[0].uri))

    return scene


def test_a_first_start_answers_nothing_from_before_it(
    bluesky: BlueskyDevNetwork, db: Engine
) -> None:
    # An old bot account: people wrote to it before this database existed, some of it
    # unread. A first start answers only what comes after it.
    assert bluesky.urls is not None
    bot, alice = person(bluesky, "bot"), person(bluesky, "alice")
    old = [alice.post(f"help {n}", mention=bot) for n in range(3)]
    adapter = BlueskyAdapter(
        Stores.of(db, None), bluesky.urls.pds, bot.handle, PASSWORD, poll_interval_sec=0.1
    )
    service = Service(db, [adapter], default_registry(), delivery_interval_sec=0.2)
    run_until(service, answered_once_running(bluesky, bot, alice, "help, new"), WAIT_SEC)
    assert [len(answers_to(bot, post.uri)) for post in old] == [0, 0, 0]
    meanwhile = alice.post("help, meanwhile", mention=bot)
    run_bot(bluesky, db, bot, lambda: bool(answers_to(bot, meanwhile.uri)))
    assert [len(answers_to(bot, post.uri)) for post in old] == [0, 0, 0]
    assert len(bot_posts(bot)) == 2


def test_messages_turned_off_declare_none_and_call_no_chat_service(
    bluesky: BlueskyDevNetwork, db: Engine
) -> None:
    assert bluesky.urls is not None
    bot, alice = person(bluesky, "bot"), person(bluesky, "alice")
    bot.allow_messages_from("all")  # as an earlier deployment with messages on left it
    adapter = BlueskyAdapter(
        Stores.of(db, None), bluesky.urls.pds, bot.handle, PASSWORD, poll_interval_sec=0.1
    )

    def no_chat() -> Any:
        raise AssertionError("a chat service was called")

    adapter._chat = no_chat  # type: ignore[method-assign]
    service = Service(db, [adapter], default_registry(), delivery_interval_sec=0.2)
    run_until(service, answered_once_running(bluesky, bot, alice, "help"), WAIT_SEC)
    declaration = bot.client.com.atproto.repo.get_record(
        {"repo": bot.did, "collection": "chat.bsky.actor.declaration", "rkey": "self"}
    )
    assert declaration.value.allow_incoming == "none"
    assert adapter.health()["messages"] == "off"


def test_handles_are_read_again_from_the_network(bluesky: BlueskyDevNetwork, db: Engine) -> None:
    """A person who changes their handle is shown under the new one, without posting."""
    from shared.db.models import Identity
    from shared.db.models import Person as PersonRow

    assert bluesky.urls is not None
    bot, alice = person(bluesky, "bot"), person(bluesky, "alice")
    with Session(db) as session, session.begin():
        row = PersonRow()
        session.add(row)
        session.flush()
        assert row.id is not None
        session.add(Identity(person_id=row.id, network=Network.BLUESKY, subject=alice.did,
                             handle=alice.handle))  # fmt: skip
    renamed = f"renamed{next(_names)}.test"
    alice.client.com.atproto.identity.update_handle({"handle": renamed})
    bluesky.process_all()
    adapter = BlueskyAdapter(
        Stores.of(db, None), bluesky.urls.pds, bot.handle, PASSWORD, poll_interval_sec=0.1
    )
    service = Service(db, [adapter], default_registry(), delivery_interval_sec=0.2)
    changed: list[int] = []

    async def scenario() -> None:
        await service.start()
        try:
            changed.append(await service.refresh_handles())
        finally:
            await service.stop()

    import asyncio

    asyncio.run(scenario())
    assert changed == [1]
    with Session(db) as session:
        assert session.exec(select(Identity.handle)).one() == renamed


def test_processes_sharing_the_bots_session_outlive_each_others_refreshes(
    bluesky: BlueskyDevNetwork, db: Engine
) -> None:
    """Two processes of the service, one Bluesky bot: one refreshes the session (the other's
    refresh token is then only good for the PDS's two-hour grace, revoked here to stand for
    it); the other, due to refresh, takes the session the first saved instead of being
    refused. When every refresh token is gone, a process logs in again with the password."""
    bot = person(bluesky, "bot")
    assert bluesky.urls is not None
    urls = bluesky.urls

    def process() -> BlueskyAdapter:
        return BlueskyAdapter(
            Stores.of(db, None), urls.pds, bot.handle, PASSWORD,
            catch_up=CATCH_UP, session_key=SESSION_KEY,
        )  # fmt: skip

    async def revoke(adapter: BlueskyAdapter) -> None:
        """The adapter's refresh token refused from now on (as after the grace)."""
        client = adapter._client
        await client.com.atproto.server.delete_session(
            headers=client._get_refresh_auth_headers(), ignore_session_check=True
        )

    async def refresh(adapter: BlueskyAdapter) -> str:
        """What the SDK does when the access token nears its end; the session's DID, asked."""
        await adapter._client._refresh_and_set_session()
        return str((await adapter._client.com.atproto.server.get_session()).did)

    async def scenario() -> list[str]:
        first, second = process(), process()
        await first.start()
        await second.start()  # from the session the first saved
        try:
            await refresh(first)  # rotates the token both held
            await revoke(second)  # what the second holds is refused now
            took_over = await refresh(second)
            await revoke(second)  # the token the first saved, refused too
            logged_in = await refresh(second)
            caught_up = await refresh(first)  # takes the second's new session
            return [took_over, logged_in, caught_up]
        finally:
            await first.close()
            await second.close()

    assert asyncio.run(scenario()) == [bot.did] * 3
