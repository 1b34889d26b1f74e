"""Proving an X account by a post on X carrying a code, read through X's oEmbed: through the
core with a fake reader, and the reader itself against a local oEmbed server."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web
from sqlmodel import Session, select

from hqx.oembed import OEmbedReader, XPostError
from shared.archive_import import import_archive
from shared.db.models import LinkProof, XIdentity
from shared.identity.accounts import XPost
from shared.vocabulary import Network, TrustLevel
from tests.archives import OWNER, make_archive
from tests.background import BackgroundApp
from tests.core_world import ALICE_M, World, code_in

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sqlalchemy.engine import Engine

POST = f"https://x.com/{OWNER}/status/1881000000000000001"


class FakeX:
    """Posts on X by URL, as the reader would return them."""

    def __init__(self) -> None:
        self.posts: dict[str, XPost | Exception] = {}

    async def read(self, url: str) -> XPost:
        found = self.posts.get(url, XPostError("X shows no such post"))
        if isinstance(found, Exception):
            raise found
        return found

    async def close(self) -> None:
        pass


@pytest.fixture
def x() -> FakeX:
    return FakeX()


@pytest.fixture
def world(engine: Engine, x: FakeX, tmp_path: Path) -> World:
    """Alice on Mastodon, who claimed her X account by uploading its archive."""
    world = World(engine, public_url="https://hqx.example", x_posts=x)
    world.say(ALICE_M, "status")
    with Session(engine) as session, session.begin():
        from shared.identity.linking import identity_of

        person = identity_of(session, Network.MASTODON, ALICE_M).person_id
    import_archive(engine, make_archive(tmp_path / "x.zip", [11], [12]), for_person=person)
    return world


def trust(engine: Engine) -> str:
    with Session(engine) as session:
        return session.exec(select(XIdentity)).one().trust


def test_a_post_on_x_with_the_code_proves_the_username_not_the_id(world: World, x: FakeX) -> None:
    asked = world.say(ALICE_M, "link x")
    assert asked.startswith(f"To prove @{OWNER} on X is yours, post this code on X")
    x.posts[POST] = XPost(POST, author=OWNER, text=f"Je quitte X. {code_in(asked)}")
    assert world.say(ALICE_M, f"here it is: {POST}") == (
        f"Done: your post proves you held @{OWNER} on X. "
        "(Only “Sign in with X” proves the account itself.)"
    )
    assert trust(world.engine) == TrustLevel.CLAIMED, "the id rests on the archive still"
    with Session(world.engine) as session:
        proof = session.exec(select(LinkProof).where(LinkProof.network == "x")).one()
        xid = session.exec(select(XIdentity)).one()
    assert proof.post_url == POST
    assert (xid.username_proof, xid.username_proven_at is not None) == (POST, True)
    assert world.say(ALICE_M, "status").endswith(f"@{OWNER} (X, username proven).")
    assert world.say(ALICE_M, "link x") == f"@{OWNER} on X is proven already."


@pytest.mark.parametrize(
    ("post", "answer"),
    [
        (
            lambda code: XPost(POST, author="someone_else", text=code),
            "That post is by @someone_else",
        ),
        (lambda code: XPost(POST, author=OWNER, text="no code"), "That post on X holds no code"),
        (lambda code: XPost(POST, author=OWNER, text=code[:-1] + "9"), "This code"),
        (lambda code: XPostError("X shows no such post"), "I can't read that post on X: X shows"),
    ],
    ids=["other-author", "no-code", "tampered", "unreadable"],
)
def test_posts_that_prove_nothing(world: World, x: FakeX, post: Any, answer: str) -> None:
    code = code_in(world.say(ALICE_M, "link x"))
    x.posts[POST] = post(code)
    assert world.say(ALICE_M, POST).startswith(answer)
    assert trust(world.engine) == TrustLevel.CLAIMED


def test_a_code_on_x_is_accepted_once(world: World, x: FakeX) -> None:
    code = code_in(world.say(ALICE_M, "link x"))
    x.posts[POST] = XPost(POST, author=OWNER, text=code)
    world.say(ALICE_M, POST)
    again = POST.replace("1881000000000000001", "1881000000000000002")
    x.posts[again] = XPost(again, author=OWNER, text=code)
    assert world.say(ALICE_M, again).startswith("This code was already used")


def test_where_x_is_not_read_nothing_is_checked(engine: Engine) -> None:
    world = World(engine)
    assert world.say(ALICE_M, POST) == "This service does not check posts on X."
    with Session(engine) as session:
        assert list(session.exec(select(LinkProof))) == []


# --- the reader, against an oEmbed server answering as X's does --------------------------


def oembed_app(seen: list[dict[str, str]]) -> web.Application:
    async def oembed(request: web.Request) -> web.Response:
        seen.append(dict(request.query))
        if request.query["url"].endswith("404"):
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response(
            {
                "url": request.query["url"],
                "author_name": "Quitter",
                "author_url": f"https://twitter.com/{OWNER}",
                "html": (
                    '<blockquote class="twitter-tweet"><p lang="fr" dir="ltr">Je quitte X &amp; '
                    'voici mon code HQX-0000-1111<br>À bientôt <a href="https://t.co/a">'
                    "pic.twitter.com/a</a></p>&mdash; Quitter (@quitter_fr) "
                    f'<a href="{request.query["url"]}">January 19, 2025</a></blockquote>'
                ),
                "provider_name": "Twitter",
                "type": "rich",
                "version": "1.0",
            }
        )

    app = web.Application()
    app.router.add_get("/oembed", oembed)
    return app


@pytest.fixture
def oembed() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    server = BackgroundApp(oembed_app(seen)).start()
    yield f"{server.url}/oembed", seen
    server.stop()


def test_the_reader_takes_the_author_from_x_and_the_text_from_the_post(
    oembed: tuple[str, list[dict[str, str]]],
) -> None:
    endpoint, seen = oembed

    async def read() -> XPost:
        reader = OEmbedReader(endpoint)
        try:
            return await reader.read(POST)
        finally:
            await reader.close()

    post = asyncio.run(read())
    assert post.author == OWNER
    assert post.text == "Je quitte X & voici mon code HQX-0000-1111\nÀ bientôt pic.twitter.com/a"
    assert seen == [{"url": POST, "omit_script": "true", "dnt": "true"}]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"https://x.com/{OWNER}/status/404", "X shows no such post"),
        ("https://example.com/not-x", "is not the link of a post on X"),
    ],
)
def test_the_reader_says_why_it_cannot_read(
    oembed: tuple[str, list[dict[str, str]]], url: str, message: str
) -> None:
    async def read() -> None:
        reader = OEmbedReader(oembed[0])
        try:
            await reader.read(url)
        finally:
            await reader.close()

    with pytest.raises(XPostError, match=message):
        asyncio.run(read())
