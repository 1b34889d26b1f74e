"""The Mastodon test server: Mastodon.py drives it, and its responses have the fields and types
of the responses recorded from a real Mastodon (conformance), quirks included."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.mastodon_world import MastodonWorld as World
from testworld.mastodon.profiles import PROFILES, Quirks

if TYPE_CHECKING:
    from collections.abc import Iterator

    from testworld.mastodon import reference


@pytest.fixture
def world() -> Iterator[World]:
    running = World()
    yield running
    running.background.stop()


def test_a_mention_becomes_a_notification_of_the_mentioned(world: World) -> None:
    alice = world.client(world.alice.token)
    bot = world.client(world.bot.token)
    posted = alice.status_post("@helloquittex link me please", language="en")
    [notification] = bot.notifications(types=["mention"])
    assert notification.type == "mention"
    assert notification.status.id == posted.id
    assert notification.account.acct == "alice"
    assert [m.acct for m in notification.status.mentions] == ["helloquittex"]
    assert bot.notifications(types=["mention"], since_id=notification.id) == []
    assert alice.notifications() == []


def test_a_direct_reply_with_an_idempotency_key_is_posted_once(world: World) -> None:
    alice = world.client(world.alice.token)
    bot = world.client(world.bot.token)
    asked = alice.status_post("@helloquittex lier", visibility="direct")
    replies = [
        bot.status_post(
            "@alice voici votre code", in_reply_to_id=asked.id, visibility="direct",
            idempotency_key="reply-1",
        )
        for _ in range(2)
    ]  # fmt: skip
    assert replies[0].id == replies[1].id
    assert replies[0].visibility == "direct"
    assert replies[0].in_reply_to_id == asked.id
    assert len([s for s in world.server.statuses.values() if s.account is world.bot]) == 1


def test_the_bot_marks_itself_as_a_bot(world: World) -> None:
    bot = world.client(world.bot.token)
    world.server.accounts[world.bot.id].bot = False
    updated = bot.account_update_credentials(bot=True, fields=[("Source", "https://hqx.example")])
    assert updated.bot is True
    assert bot.account_verify_credentials().fields[0].name == "Source"


def test_a_server_reporting_its_own_version_still_works() -> None:
    world = World(Quirks(version="0.19.1 git-8a7ad2f", acct_with_domain=True))
    try:
        client = world.client(world.alice.token)
        # Mastodon.py's instance() recurses without end on such servers (its version check
        # retries forever): the bot must ask for v1 or v2 explicitly.
        assert client.instance_v2().version == "0.19.1 git-8a7ad2f"
        assert client.instance_v1().version == "0.19.1 git-8a7ad2f"
        posted = client.status_post("@helloquittex bonjour")
        assert posted.mentions[0].acct == f"helloquittex@{world.server.domain}"
    finally:
        world.background.stop()


def test_following_a_locked_account_is_a_request(world: World) -> None:
    carol = world.server.create_account("carol", locked=True)
    bot = world.client(world.bot.token)
    open_ = bot.account_follow(world.alice.id)
    locked = bot.account_follow(carol.id)
    assert (open_.following, open_.requested) == (True, False)
    assert (locked.following, locked.requested) == (False, True)
    assert [n.type for n in world.client(carol.token).notifications()] == ["follow_request"]


def test_lookup_search_and_conversations(world: World) -> None:
    bot = world.client(world.bot.token)
    alice = world.client(world.alice.token)
    assert bot.account_lookup("alice").id == world.alice.id
    assert [a.acct for a in bot.search_v2("@alice", result_type="accounts").accounts] == ["alice"]
    asked = alice.status_post("@helloquittex forget me", visibility="direct")
    bot.status_post("@alice confirm?", in_reply_to_id=asked.id, visibility="direct")
    [conversation] = alice.conversations()
    assert [a.acct for a in conversation.accounts] == ["helloquittex"]
    assert conversation.last_status.content.endswith("confirm?</p>")
    assert conversation.unread is True


def test_servers_without_conversations_or_lookup_answer_404() -> None:
    from mastodon.errors import MastodonNotFoundError

    world = World(Quirks(conversations=False, lookup=False))
    try:
        client = world.client(world.bot.token)
        with pytest.raises(MastodonNotFoundError):
            client.conversations()
        with pytest.raises(MastodonNotFoundError):
            client.account_lookup("alice")
        assert client.search_v2("alice", result_type="accounts").accounts[0].acct == "alice"
    finally:
        world.background.stop()


# Each endpoint the bots use, and the request that exercises it ({status}, {alice}, {bot}: ids;
# {own}: a status of the bot's).
CONFORMANCE_CASES: dict[tuple[str, str], tuple[str, dict[str, str] | None]] = {
    ("GET", "/api/v1/instance"): ("/api/v1/instance", None),
    ("GET", "/api/v2/instance"): ("/api/v2/instance", None),
    ("GET", "/api/v1/accounts/verify_credentials"): ("/api/v1/accounts/verify_credentials", None),
    ("PATCH", "/api/v1/accounts/update_credentials"): (
        "/api/v1/accounts/update_credentials",
        {"bot": "1"},
    ),
    ("POST", "/api/v1/statuses"): ("/api/v1/statuses", {"status": "hello"}),
    ("GET", "/api/v1/statuses/:id"): ("/api/v1/statuses/{status}", None),
    ("PUT", "/api/v1/statuses/:id"): ("/api/v1/statuses/{own}", {"status": "edited"}),
    ("DELETE", "/api/v1/statuses/:id"): ("/api/v1/statuses/{own}", None),
    ("GET", "/api/v1/notifications"): ("/api/v1/notifications", None),
    ("GET", "/api/v1/accounts/:id/statuses"): ("/api/v1/accounts/{bot}/statuses", None),
    ("GET", "/api/v1/conversations"): ("/api/v1/conversations", None),
    ("POST", "/api/v1/accounts/:id/follow"): ("/api/v1/accounts/{alice}/follow", {}),
    ("GET", "/api/v1/accounts/lookup"): ("/api/v1/accounts/lookup?acct=alice", None),
    ("GET", "/api/v2/search"): ("/api/v2/search?q=alice&type=accounts", None),
}


@pytest.mark.parametrize("endpoint", list(CONFORMANCE_CASES), ids=" ".join)
def test_responses_have_the_recorded_shape(
    world: World, recordings: reference.Recordings, endpoint: tuple[str, str]
) -> None:
    posted = world.raw(
        "POST", "/api/v1/statuses", world.alice.token, {"status": "@helloquittex hi"}
    )
    world.raw(
        "POST",
        "/api/v1/statuses",
        world.alice.token,
        {"status": "@helloquittex hi", "visibility": "direct"},
    )
    own = world.raw("POST", "/api/v1/statuses", world.bot.token, {"status": "Bonjour !"})
    path, form = CONFORMANCE_CASES[endpoint]
    path = path.format(status=posted["id"], alice=world.alice.id, bot=world.bot.id, own=own["id"])
    actual = world.raw(endpoint[0], path, world.bot.token, form)
    assert actual, "an empty answer proves nothing"
    assert recordings.differences(endpoint, actual) == []


def test_the_user_stream_delivers_mentions_as_they_happen(
    world: World, recordings: reference.Recordings
) -> None:
    import threading

    from mastodon import StreamListener

    received: list[Any] = []
    arrived = threading.Event()

    class Listener(StreamListener):
        def on_notification(self, notification: Any) -> None:
            received.append(notification)
            arrived.set()

    bot = world.client(world.bot.token)
    handle = bot.stream_user(Listener(), run_async=True)
    try:
        deadline = 50
        while not world.server._streams.get(world.bot.id) and deadline:
            threading.Event().wait(0.1)
            deadline -= 1
        posted = world.client(world.alice.token).status_post("@helloquittex over the stream")
        assert arrived.wait(10), "no notification came over the stream"
    finally:
        handle.close()
    [notification] = received
    assert (notification.type, notification.status.id) == ("mention", posted.id)
    raw = world.server.notification(world.server.notifications[-1])
    assert recordings.differences(("GET", "/api/v1/notifications"), [raw]) == []


def test_people_helpers_read_what_the_bot_answered(world: World) -> None:
    asked = world.alice_person.post("@helloquittex aide", direct=True)
    world.bot_person.post("@alice voici l'aide", direct=True, reply_to=asked.id)
    [mention] = world.bot_person.mentions()
    assert mention.status.id == asked.id
    [answer] = world.alice_person.answers_to(asked)
    assert answer.visibility == "direct"
    assert answer.content.endswith("</span> voici l'aide</p>")


@pytest.fixture(params=list(PROFILES.values()), ids=list(PROFILES))
def any_server(request: pytest.FixtureRequest) -> Iterator[World]:
    running = World(request.param)
    yield running
    running.background.stop()


ID_SHAPES = {
    "mastodon": r"^\d{18,19}$",
    "mastodon-3": r"^\d{18,19}$",
    "gotosocial": r"^[0-9A-HJKMNP-TV-Z]{26}$",  # ULID: Crockford base32
    "akkoma": r"^[0-9A-Za-z]{18,22}$",  # flake id: base62
}


def test_each_server_writes_its_own_ids_and_pages_by_them(any_server: World) -> None:
    import re

    alice, bot = any_server.client(any_server.alice.token), any_server.client(any_server.bot.token)
    posted = [alice.status_post(f"@helloquittex {n}") for n in range(5)]
    shape = ID_SHAPES[any_server.server.quirks.name]
    assert all(re.match(shape, str(s.id)) for s in posted)
    newest = bot.notifications(types=["mention"], limit=2)
    assert [n.status.id for n in newest] == [posted[4].id, posted[3].id]
    older = bot.fetch_next(newest)  # the server's Link header
    assert older is not None
    assert [n.status.id for n in older] == [posted[2].id, posted[1].id]
    after = bot.notifications(types=["mention"], min_id=newest[1].id, limit=2)
    assert [n.status.id for n in after] == [posted[4].id]


def test_accounts_carry_uri_only_where_the_server_writes_it(any_server: World) -> None:
    account = any_server.raw("GET", "/api/v1/accounts/verify_credentials", any_server.bot.token)
    actor = f"{any_server.url}/users/helloquittex"
    assert ("uri" in account) == any_server.server.quirks.account_uri
    resource = f"acct:helloquittex@{any_server.server.domain}"
    finger = any_server.raw("GET", f"/.well-known/webfinger?resource={resource}", "")
    [self_link] = [link for link in finger["links"] if link["rel"] == "self"]
    assert self_link == {"rel": "self", "type": "application/activity+json", "href": actor}


def test_the_websocket_stream_sends_notifications_as_json_text(
    any_server: World, recordings: reference.Recordings
) -> None:
    import asyncio
    import json

    import aiohttp

    url = any_server.url.replace("http://", "ws://") + "/api/v1/streaming?stream=user"

    async def scene() -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(url, protocols=(any_server.bot.token,)) as socket,
        ):
            await asyncio.to_thread(
                any_server.client(any_server.alice.token).status_post, "@helloquittex hi"
            )
            frame: dict[str, Any] = await asyncio.wait_for(socket.receive_json(), 10)
            return frame

    frame = asyncio.run(scene())
    assert frame["stream"] == ["user"] and frame["event"] == "notification"
    notification = json.loads(frame["payload"])  # the payload is JSON text, not an object
    assert notification["type"] == "mention"
    if any_server.server.quirks.name == "mastodon":
        assert recordings.differences(("GET", "/api/v1/notifications"), [notification]) == []


def test_only_mastodon_takes_the_token_in_an_authorization_header(any_server: World) -> None:
    import asyncio

    import aiohttp

    url = any_server.url.replace("http://", "ws://") + "/api/v1/streaming?stream=user"

    async def status() -> int:
        headers = {"Authorization": f"Bearer {any_server.bot.token}"}
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(url, headers=headers):
                    return 101
            except aiohttp.WSServerHandshakeError as e:
                return e.status

    expected = 101 if any_server.server.quirks.websocket_authorization else 401
    assert asyncio.run(status()) == expected


@pytest.mark.parametrize(
    ("path", "method", "needs"),
    [
        ("/api/v1/accounts/verify_credentials", "GET", "read:accounts"),
        ("/api/v2/search?q=alice&resolve=true", "GET", "read:search"),
        ("/api/v1/accounts/lookup?acct=alice", "GET", "read:accounts"),
        ("/api/v1/accounts/{alice}/follow", "POST", "write:follows"),
    ],
)
def test_each_endpoint_asks_the_scope_real_servers_ask(
    world: World, path: str, method: str, needs: str
) -> None:
    """As Mastodon's controllers and GoToSocial's handlers check them: a token without the
    scope is refused (403), one with it (or its broad scope) goes through."""
    import urllib.error

    from testworld.mastodon.oauth import Grant

    path = path.replace("{alice}", world.alice.id)
    for scopes, allowed in (({"write:statuses"}, False), ({needs}, True),
                            ({needs.split(":")[0]}, True)):  # fmt: skip
        token = f"token-{'-'.join(sorted(scopes))}"
        world.server.oauth.tokens[token] = Grant(world.bot, scopes, "client")
        try:
            world.raw(method, path, token, {} if method == "POST" else None)
            status = 200
        except urllib.error.HTTPError as e:
            status = e.code
        assert (status == 200) is allowed, (scopes, status)
        assert status in (200, 403)
