"""The share button that replaces X's: Bluesky's composer or the reader's own server, whose
software its NodeInfo names (each kind its own share address, or the text to copy where it
has none), the reader's server remembered only when they ask, and a share counted for its
outlet per day, nothing else."""

from __future__ import annotations

import re
from html import unescape
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlmodel import Session

from shared.clock import utcnow
from shared.db.models import Person
from shared.portal import directory, sharing, tallies
from shared.vocabulary import PersonKind, Tally
from tests.test_portal_space import portal
from testworld.mastodon.profiles import PROFILES
from testworld.mastodon.server import MastodonTestServer

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient
    from aiohttp.typedefs import Handler
    from sqlalchemy.engine import Engine

ARTICLE = "https://lemedia.example/2025/01/20/quitter-x"
TITLE = "Pourquoi nous quittons X"
REFRESH = re.compile(r'<meta http-equiv="refresh" content="0; url=([^"]+)">')
LOOPBACK = ("127.0.0.1",)


def nodeinfo_app(software: str) -> web.Application:
    """A server that says, as real ones do, which software it runs (and nothing else)."""

    async def links(request: web.Request) -> web.Response:
        base = f"http://{request.host}"
        return web.json_response(
            {
                "links": [
                    {"rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                     "href": f"{base}/nodeinfo/2.0"},
                    {"rel": "http://nodeinfo.diaspora.software/ns/schema/2.1",
                     "href": f"{base}/nodeinfo/2.1"},
                ]
            }
        )  # fmt: skip

    async def document(request: web.Request) -> web.Response:
        version = request.match_info["version"]
        name = software if version == "2.1" else "an-older-document"
        return web.json_response({"version": version, "software": {"name": name}})

    app = web.Application()
    app.router.add_get("/.well-known/nodeinfo", links)
    app.router.add_get("/nodeinfo/{version}", document)
    return app


async def choose(
    client: TestClient[Any, Any], to: str, server: str = "", outlet: str = "", **more: str
) -> tuple[int, str]:
    form = {"text": TITLE, "url": ARTICLE, "o": outlet, "to": to, "server": server, **more}
    answer = await client.post("/share?lang=en", data=form)
    return answer.status, await answer.text()


def onward_to(page: str) -> str:
    found = REFRESH.search(page)
    assert found is not None, page
    return unescape(found.group(1))


def outlet(engine: Engine, name: str = "Le Média", *, approved: bool = True) -> tuple[int, str]:
    with Session(engine) as session, session.begin():
        person = Person(kind=PersonKind.INDIVIDUAL)
        session.add(person)
        session.flush()
        entry = directory.ask(session, person.id or 0, name, "committed", "removed")
        if approved:
            directory.approve(session, person.id or 0)
        return person.id or 0, entry.slug


# --- the rules ------------------------------------------------------------------------


def test_what_is_shared_is_checked_and_named_when_wrong() -> None:
    assert sharing.Shared.of("  Un   titre ", ARTICLE) == sharing.Shared("Un titre", ARTICLE)
    for text, url, said in [
        ("", "", "nothing to share"),
        ("x", "javascript:alert(1)", "is not an http(s) address"),
        ("x", "https://a.example/" + "a" * 2000, "more than 2,000"),
        ("x" * 1001, ARTICLE, "the text has 1,001 characters"),
    ]:
        with pytest.raises(sharing.ShareError, match=re.escape(said)):
            sharing.Shared.of(text, url)


def test_bluesky_gets_its_composer_with_the_link_whole_in_one_post() -> None:
    short = urlsplit(sharing.bluesky_intent(sharing.Shared(TITLE, ARTICLE)))
    assert (short.netloc, short.path) == ("bsky.app", "/intent/compose")
    assert parse_qs(short.query)["text"] == [f"{TITLE}\n{ARTICLE}"]
    long = sharing.bluesky_intent(sharing.Shared("é" * 400, ARTICLE))
    [post] = parse_qs(urlsplit(long).query)["text"]
    assert post.endswith(f"…\n{ARTICLE}") and len(post) == sharing.BLUESKY_GRAPHEMES


def test_a_readers_server_is_read_from_what_they_type() -> None:
    for typed in ["mastodon.social", "Mastodon.Social/", "@me@mastodon.social",
                  "https://mastodon.social/@me", "me@mastodon.social"]:  # fmt: skip
        assert sharing.server_origin(typed) == "https://mastodon.social", typed
    assert sharing.server_origin("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    for typed in ["", "localhost", "ftp://a.example", "a b.example", "https://"]:
        with pytest.raises(sharing.ShareError, match="is not a server's"):
            sharing.server_origin(typed)


def test_each_software_has_its_own_share_address() -> None:
    shared = sharing.Shared(TITLE, ARTICLE)
    origin = "https://s.example"
    mastodon = urlsplit(sharing.share_address("mastodon", origin, shared) or "")
    assert mastodon.path == "/share" and parse_qs(mastodon.query) == {"text": [shared.post()]}
    for fork in ("misskey", "sharkey", "firefish", "iceshrimp"):
        misskey = urlsplit(sharing.share_address(fork, origin, shared) or "")
        assert parse_qs(misskey.query) == {"text": [TITLE], "url": [ARTICLE]}, fork
    friendica = urlsplit(sharing.share_address("friendica", origin, shared) or "")
    assert friendica.path == "/compose" and parse_qs(friendica.query)["body"] == [shared.post()]
    for none in ("gotosocial", "akkoma", "pleroma", "unknown-software"):
        assert sharing.share_address(none, origin, shared) is None, none


def test_nodeinfo_is_read_at_its_newest_schema_and_refused_when_it_names_nothing() -> None:
    schema = "http://nodeinfo.diaspora.software/ns/schema/"
    listing = {"links": [{"rel": schema + "2.0", "href": "https://s.example/a"},
                         {"rel": schema + "2.1", "href": "https://s.example/b"},
                         {"rel": "other", "href": "https://s.example/c"}]}  # fmt: skip
    assert sharing.nodeinfo_link(listing) == "https://s.example/b"
    assert sharing.nodeinfo_link({"links": "nope"}) is None
    assert sharing.nodeinfo_link([]) is None
    assert sharing.software_of({"software": {"name": "GoToSocial"}}) == "gotosocial"
    with pytest.raises(sharing.ShareError, match="names no software"):
        sharing.software_of({"software": {"name": "<script>"}})


# --- the page -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("software", "path", "params"),
    [
        ("mastodon", "/share", {"text": [f"{TITLE}\n{ARTICLE}"]}),
        ("hometown", "/share", {"text": [f"{TITLE}\n{ARTICLE}"]}),
        ("misskey", "/share", {"text": [TITLE], "url": [ARTICLE]}),
        ("sharkey", "/share", {"text": [TITLE], "url": [ARTICLE]}),
        ("friendica", "/compose", {"body": [f"{TITLE}\n{ARTICLE}"]}),
        ("gotosocial", None, None),
        ("akkoma", None, None),
        ("pleroma", None, None),
    ],
)
def test_a_reader_of_each_software_lands_in_its_own_composer(
    engine: Engine,
    database_url: str,
    software: str,
    path: str | None,
    params: dict[str, list[str]] | None,
) -> None:
    async def scene(client: TestClient[Any, Any]) -> tuple[str, str, int, str]:
        async with TestServer(nodeinfo_app(software), host="127.0.0.1") as server:
            origin = f"http://127.0.0.1:{server.port}"
            status, page = await choose(client, "fediverse", origin)
            return origin, str(server.port), status, page

    origin, port, status, page = portal(database_url, scene, outbound_allow=LOOPBACK)
    assert status == 200
    if path is None:
        assert f"runs {software}, which has no page that takes a post" in page
        assert f"{TITLE}\n{ARTICLE}</textarea>" in page and f'href="{origin}/"' in page
        return
    address = urlsplit(onward_to(page))
    assert (address.netloc, address.path) == (f"127.0.0.1:{port}", path)
    assert parse_qs(address.query) == params
    assert f"Going to 127.0.0.1:{port}, where your post is ready to go." in page


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_the_mastodon_test_servers_say_what_they_run_as_the_real_ones(
    engine: Engine, database_url: str, profile: str
) -> None:
    quirks = PROFILES[profile]

    async def scene(client: TestClient[Any, Any]) -> str:
        mastodon = MastodonTestServer("127.0.0.1", quirks)
        async with TestServer(mastodon.app(), host="127.0.0.1") as server:
            mastodon.domain = f"127.0.0.1:{server.port}"
            _, page = await choose(client, "fediverse", mastodon.base_url)
            if quirks.share_page:
                async with client.session.get(onward_to(page)) as composer:
                    assert TITLE in await composer.text()
                assert mastodon.shared == [f"{TITLE}\n{ARTICLE}"]
            return page

    page = portal(database_url, scene, outbound_allow=LOOPBACK)
    if quirks.share_page:
        assert "/share?text=" in onward_to(page)
    else:
        assert f"runs {quirks.software}, which has no page" in page


def test_a_server_that_cannot_be_asked_is_said_so_and_loopback_is_never_asked(
    engine: Engine, database_url: str
) -> None:
    async def scene(client: TestClient[Any, Any]) -> list[tuple[int, str]]:
        asked: list[str] = []

        async def anything(request: web.Request) -> web.Response:
            asked.append(request.path)
            raise web.HTTPNotFound()

        app = web.Application()
        app.router.add_get("/{tail:.*}", anything)
        async with TestServer(app, host="127.0.0.1") as server:
            said = [await choose(client, "fediverse", f"http://127.0.0.1:{server.port}"),
                    await choose(client, "fediverse", f"https://127.0.0.1:{server.port}"),
                    await choose(client, "fediverse", "not a server")]  # fmt: skip
        assert asked == [], "the guarded client never reaches loopback unless allowed"
        return said

    said = portal(database_url, scene)
    for status, page in said[:2]:
        assert status == 400 and "could not be reached safely" in page
    status, page = said[2]
    assert status == 400 and "'not a server' is not a server's name" in unescape(page)
    assert 'value="not a server"' in page, "what they typed stays in the form"


def test_the_readers_server_is_remembered_only_when_they_ask(
    engine: Engine, database_url: str
) -> None:
    async def scene(client: TestClient[Any, Any]) -> tuple[str, str, str, str]:
        async with TestServer(nodeinfo_app("mastodon"), host="127.0.0.1") as server:
            origin = f"http://127.0.0.1:{server.port}"
            query = {"text": TITLE, "url": ARTICLE}
            before = await (await client.get("/share", params=query)).text()
            chosen = {**query, "to": "fediverse", "server": origin, "remember": "yes"}
            answer = await client.post("/share", data=chosen)
            cookie = answer.headers.get("Set-Cookie", "")
            kept = await (await client.get("/share", params=query)).text()
            await client.post("/share", data={**query, "to": "fediverse", "server": origin})
            forgotten = await (await client.get("/share", params=query)).text()
            return before, cookie, kept, forgotten.replace(origin, "ORIGIN") + origin

    before, cookie, kept, forgotten = portal(database_url, scene, outbound_allow=LOOPBACK)
    assert 'name="server" required' in before and 'value=""' in before
    assert "hqx_share_server=" in cookie and "HttpOnly" in cookie and "Path=/share" in cookie
    assert re.search(r'value="http://127\.0\.0\.1:\d+"', kept) and 'value="yes" checked' in kept
    assert 'value="ORIGIN"' not in forgotten, "unticked: the browser forgets it"


def test_shares_are_counted_for_their_outlet_per_day_and_nothing_else(
    engine: Engine, database_url: str
) -> None:
    media, slug = outlet(engine)
    waiting, waiting_slug = outlet(engine, "En attente", approved=False)

    async def scene(client: TestClient[Any, Any]) -> list[int]:
        statuses = [(await choose(client, "bluesky", outlet=slug))[0]]
        statuses.append((await choose(client, "bluesky", outlet="no-such-outlet"))[0])
        statuses.append((await choose(client, "bluesky", outlet=waiting_slug))[0])
        elsewhere = await client.post(
            "/share", data={"text": TITLE, "o": slug, "to": "bluesky"},
            headers={"Origin": "https://another.example"},
        )  # fmt: skip
        statuses.append(elsewhere.status)
        for _ in range(12):  # a flood from one address counts its pace, no more
            await choose(client, "bluesky", outlet=slug)
        return statuses

    assert portal(database_url, scene) == [200, 200, 200, 403]
    # One address's first ten shares of a minute count, whatever their outlet: 1, then 7
    # of the flood's 12 (the unknown and the waiting outlet took two).
    with Session(engine) as session:
        assert tallies.totals(session, media) == {Tally.SHARE: 8}
        assert tallies.totals(session, waiting) == {}
        [(day, counts)] = tallies.daily(session, media).items()
    assert counts == {Tally.SHARE: 8} and day == utcnow().date()


def test_a_share_page_keeps_what_is_shared_in_the_other_language(
    engine: Engine, database_url: str
) -> None:
    async def scene(client: TestClient[Any, Any]) -> str:
        page = await client.get("/share", params={"text": TITLE, "url": ARTICLE, "o": "x"})
        return await page.text()

    page = portal(database_url, scene)
    assert "Partager sur Bluesky" in page and "Se souvenir de mon serveur" in page
    switch = re.search(r'<a href="(/share\?[^"]+)" hreflang="en"', page)
    assert switch is not None
    assert parse_qs(urlsplit(unescape(switch.group(1))).query) == {
        "text": [TITLE], "url": [ARTICLE], "o": ["x"], "lang": ["en"]
    }  # fmt: skip


def test_two_outlets_of_one_name_get_two_addresses(engine: Engine) -> None:
    assert directory.slug_of("  Le Média — Édition du soir ") == "le-media-edition-du-soir"
    assert directory.slug_of("日本") == "outlet"
    first, second = outlet(engine, "Le Média")[1], outlet(engine, "Le  Média")[1]
    assert (first, second) == ("le-media", "le-media-2")


def test_a_flood_from_one_address_asks_no_new_server(engine: Engine, database_url: str) -> None:
    async def scene(client: TestClient[Any, Any]) -> tuple[list[int], list[str]]:
        asked: list[str] = []

        @web.middleware
        async def seen(request: web.Request, handler: Handler) -> web.StreamResponse:
            asked.append(f"{request.host}{request.path}")
            return await handler(request)

        known, unknown = nodeinfo_app("mastodon"), nodeinfo_app("misskey")
        for app in (known, unknown):
            app.middlewares.append(seen)
        async with TestServer(known, host="127.0.0.1") as a, TestServer(
            unknown, host="127.0.0.1"
        ) as b:  # fmt: skip
            first = f"http://127.0.0.1:{a.port}"
            statuses = [(await choose(client, "fediverse", first))[0]]
            statuses += [(await choose(client, "bluesky"))[0] for _ in range(9)]
            statuses.append((await choose(client, "fediverse", first))[0])
            statuses.append((await choose(client, "fediverse", f"http://127.0.0.1:{b.port}"))[0])
            return statuses, [path.split("/", 1)[1] if str(b.port) not in path else "B"
                              for path in asked]  # fmt: skip

    statuses, asked = portal(database_url, scene, outbound_allow=LOOPBACK)
    assert statuses == [200] * 11 + [429], "past its pace, a server not known is not asked"
    assert asked == [".well-known/nodeinfo", "nodeinfo/2.1"], "the known one asked once"
