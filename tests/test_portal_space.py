"""A person's own space on the portal: the bot's private sign-in link, the session, the
settings form, the export of everything held about them, erasing, signing out."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlmodel import Session, SQLModel, select

from hqx.app import create_app
from shared.actions import Reply
from shared.config import Settings
from shared.db.models import Consent, Identity, Person
from shared.portal import export, uploads
from shared.vocabulary import Purpose
from tests.core_world import ALICE_M, MALLORY_M, World

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.engine import Engine

PUBLIC = "https://hqx.example"
KEY = "a-secret-key-for-tests-only-0123456789"
LINK = re.compile(r"https://hqx\.example/me/signin/([\w-]+)")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def world(engine: Engine) -> World:
    return World(engine, public_url=PUBLIC)


def signin_link(world: World, author: Any = ALICE_M) -> str:
    """``author`` asks in public for their space; the link comes privately."""
    before = set(world.mastodon.sent)
    public = world.say(author, "space")
    assert public == "I've sent you a private message with a link to sign in to your space."
    new = [o.action for k, o in world.mastodon.sent.items() if k not in before]
    [private] = [a for a in new if isinstance(a, Reply) and a.direct]
    assert isinstance(private, Reply) and private.direct is True
    found = LINK.search(private.text)
    assert found is not None, private.text
    return found.group(1)


def portal(
    database_url: str,
    scene: Callable[[TestClient[Any, Any]], Awaitable[Any]],
    public: str = "http://hqx.example",
    **changes: Any,
) -> Any:
    """Run ``scene`` against the portal (its cookies Secure when ``public`` is https), with
    ``changes`` to its settings."""
    settings = Settings(database_url=database_url, public_url=public, secret_key=KEY, **changes)

    async def main() -> Any:
        async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
            return await scene(client)

    return asyncio.run(main())


PAGE = re.compile(r'name="page" value="(\w+)"')


async def press(browser: Any, token: str, base: str = "", **options: Any) -> Any:
    """Open the link's page and press its button (``browser``: a test client, or a session
    on ``base``); the answer."""
    opened = await browser.get(f"{base}/me/signin/{token}?lang=en")
    found = PAGE.search(await opened.text())
    proof = found.group(1) if found else ""
    return await browser.post(f"{base}/me/signin/{token}?lang=en", data={"page": proof},
                              allow_redirects=False, **options)  # fmt: skip


async def sign_in(browser: Any, token: str, base: str = "") -> str:
    """Press the link's button (``browser``: a test client, or a session on ``base``);
    return the space's page."""
    response = await press(browser, token, base)
    assert response.status == 303 and response.headers["Location"] == "/me?lang=en"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = await browser.get(f"{base}/me?lang=en")
    assert page.status == 200
    return str(await page.text())


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found is not None
    return found.group(1)


def test_the_link_goes_privately_and_signs_in_once(world: World, database_url: str) -> None:
    token = signin_link(world)

    async def scene(client: TestClient[Any, Any]) -> None:
        preview = await client.get(f"/me/signin/{token}")  # a link preview only reads
        assert preview.status == 200 and '<form method="post">' in await preview.text()
        # Another site's form (login CSRF), without this page's cookie, signs nobody in.
        forced = await client.post(f"/me/signin/{token}", data={"page": "0" * 64},
                                   allow_redirects=False)  # fmt: skip
        assert forced.status == 403 and "hqx_space" not in forced.headers.get("Set-Cookie", "")
        found = PAGE.search(await preview.text())
        assert found is not None
        cross = await client.post(f"/me/signin/{token}", data={"page": found.group(1)},
                                  headers={"Origin": "https://evil.example"},
                                  allow_redirects=False)  # fmt: skip
        assert cross.status == 403, "the browser says it comes from another site"
        page = await sign_in(client, token)
        assert "Your space" in page and ALICE_M.handle in page
        client.session.cookie_jar.clear()
        again = await press(client, token)
        assert again.status == 410
        assert "this link was used already: ask the bot for a new one" in await again.text()
        out = await client.get("/me", allow_redirects=False)
        assert out.status == 303 and out.headers["Location"].startswith("/me/out")

    portal(database_url, scene)


def test_behind_https_the_session_cookie_is_secure(world: World, database_url: str) -> None:
    token = signin_link(world)

    async def scene(client: TestClient[Any, Any]) -> str:
        opened = await client.get(f"/me/signin/{token}")
        page_cookie = str(opened.headers["Set-Cookie"])
        assert "SameSite=Strict" in page_cookie and "Secure" in page_cookie
        found = PAGE.search(await opened.text())
        assert found is not None
        # Behind https the test client keeps no Secure cookie: the browser would send it.
        nonce = page_cookie.split(";")[0].split("=", 1)[1]
        response = await client.post(f"/me/signin/{token}", data={"page": found.group(1)},
                                     headers={"Cookie": f"hqx_signin_page={nonce}"},
                                     allow_redirects=False)  # fmt: skip
        return str(response.headers["Set-Cookie"])

    cookie = portal(database_url, scene, public=PUBLIC)
    assert "Secure" in cookie and "HttpOnly" in cookie and "Max-Age=43200" in cookie


def test_an_expired_link_or_a_forged_cookie_opens_nothing(
    world: World, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = signin_link(world)
    ttl = uploads.TTL[uploads.SPACE]
    later = uploads.utcnow() + ttl + timedelta(seconds=1)  # type: ignore[attr-defined]
    monkeypatch.setattr(uploads, "utcnow", lambda: later)

    async def scene(client: TestClient[Any, Any]) -> None:
        expired = await press(client, token)
        assert expired.status == 410
        assert "this link has expired: ask the bot for a new one" in await expired.text()
        client.session.cookie_jar.update_cookies({"hqx_space": "forged"})
        out = await client.get("/me", allow_redirects=False)
        assert out.status == 303

    portal(database_url, scene)


def test_the_settings_form_changes_what_the_bot_would(
    world: World, engine: Engine, database_url: str
) -> None:
    token = signin_link(world)

    async def scene(client: TestClient[Any, Any]) -> None:
        page = await sign_in(client, token)
        forged = await client.post("/me/settings", data={"reconnect": "followers"})
        assert forged.status == 403, "a form without the session's token changes nothing"
        form = {"csrf": csrf_of(page), "reconnect": "followers", "directory": "yes"}
        saved = await client.post("/me/settings?lang=en", data=form)
        assert saved.status == 200 and "Settings saved." in await saved.text()

    portal(database_url, scene)
    person = world.persons_of(ALICE_M)
    with Session(engine) as session:
        alice = session.get_one(Person, person)
        consents = {c.purpose: c.granted for c in session.exec(select(Consent))}
    assert (alice.reconnect, alice.findable, alice.stopped) == ("followers", False, False), (
        "messages off is no `stop`: she is still matched, found, followed for"
    )
    assert consents[Purpose.PUBLIC_DIRECTORY] is True
    assert consents[Purpose.SUGGESTIONS_BY_MESSAGE] is False, "unticked: no messages"
    said = world.say(ALICE_M, "settings")
    assert "messages no," in said and "reconnect followers" in said and "directory yes" in said


def test_signing_out_everywhere_ends_every_session(world: World, database_url: str) -> None:
    first, second = signin_link(world), signin_link(world)

    async def scene(client: TestClient[Any, Any]) -> None:
        page = await sign_in(client, first)
        base = str(client.make_url("")).rstrip("/")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as elsewhere:
            await sign_in(elsewhere, second, base)
            form = {"csrf": csrf_of(page), "everywhere": "yes"}
            out = await client.post("/me/signout", data=form, allow_redirects=False)
            assert out.status == 303
            gone = await elsewhere.get(f"{base}/me", allow_redirects=False)
            assert gone.status == 303, "the other browser's session ended too"

    portal(database_url, scene)


def test_erasing_from_the_space_forgets_the_person(
    world: World, engine: Engine, database_url: str
) -> None:
    token = signin_link(world)
    person = world.persons_of(ALICE_M)

    async def scene(client: TestClient[Any, Any]) -> None:
        page = await sign_in(client, token)
        unconfirmed = await client.post(
            "/me/erase", data={"csrf": csrf_of(page)}, allow_redirects=False
        )
        assert unconfirmed.status == 303, "nothing erased without the box ticked"
        form = {"csrf": csrf_of(page), "confirm": "erase"}
        done = await client.post("/me/erase?lang=en", data=form)
        assert "everything we knew about you is erased" in await done.text()
        after = await client.get("/me", allow_redirects=False)
        assert after.status == 303

    portal(database_url, scene)
    with Session(engine) as session:
        assert session.get(Person, person) is None
        mine = select(Identity).where(Identity.handle == ALICE_M.handle)
        assert session.exec(mine).first() is None


def test_the_export_holds_every_row_about_the_person_and_nothing_of_others(
    world: World, engine: Engine, database_url: str, tmp_path: Path
) -> None:
    token = signin_link(world)
    signin_link(world, MALLORY_M)
    alice, mallory = world.persons_of(ALICE_M), world.persons_of(MALLORY_M)
    with Session(engine) as session, session.begin():
        _rows_of_every_kind(session, alice, mallory)

    async def scene(client: TestClient[Any, Any]) -> Any:
        await sign_in(client, token)
        response = await client.get("/me/export")
        assert response.headers["Content-Disposition"].startswith("attachment;")
        return json.loads(await response.text())

    data = portal(database_url, scene)
    tables = SQLModel.metadata.sorted_tables
    personal = [t.name for t in tables if t.name not in export.NOT_PERSONAL]
    empty = [name for name in personal if not data.get(name)]
    assert empty == [], "every table that can hold something about a person is exported"
    assert data["person"] == [{**data["person"][0], "id": alice}]
    assert all("token_hash" not in row for row in data["upload_token"]), "credentials withheld"
    assert data["archive_upload"] == [{**data["archive_upload"][0], "username": "alice_x"}]
    assert not {"key_hash", "token_hash", "claimed_by"} & set(data["archive_upload"][0])
    assert "sealed-secret" not in json.dumps(data["follow_grant"]), "tokens withheld"
    dumped = json.dumps(data)
    assert MALLORY_M.handle not in dumped and "7770556" not in dumped, "nothing of Mallory's"


def _rows_of_every_kind(session: Session, alice: int, mallory: int) -> None:
    """A row in every personal table for Alice, and one for Mallory beside it."""
    moment = uploads.utcnow()  # type: ignore[attr-defined]
    now = {"now": moment, "later": moment + timedelta(hours=1)}  # not pruned meanwhile
    statements = [
        "INSERT INTO x_identity (x_account_id, person_id, username, trust, created_at,"
        " updated_at) VALUES (1001, :alice, 'alice_x', 'claimed', :now, :now),"
        " (9990001, :mallory, 'mallory_x', 'claimed', :now, :now),"
        " (3330003, :mallory, 'mallory_too', 'claimed', :now, :now)",
        # Mallory followed Alice, says her archive; Mallory's archive has its own.
        "INSERT INTO follow_edge (owner_x_id, direction, other_x_id) VALUES (1001, 1, 9990001),"
        " (9990001, 1, 7770556)",
        "INSERT INTO archive_import (x_account_id, followers, following, rejected_rows,"
        " duplicate_rows, files, imported_at) VALUES (1001, 1, 0, 0, 0, '[]', :now)",
        "INSERT INTO x_claim (x_account_id, person_id, username, created_at)"
        " VALUES (3330003, :alice, 'mallory_too', :now)",
        "INSERT INTO directory_entry (person_id, name, slug, status, requested_at, updated_at)"
        " VALUES (:alice, 'Le Média', 'le-media', 'considering', :now, :now)",
        "INSERT INTO outlet_tally (person_id, day, kind, count) VALUES (:alice, '2025-01-20',"
        " 'share', 3), (:mallory, '2025-01-20', 'share', 5)",
        "INSERT INTO outlet_audience (person_id, counted_at, figures, days) VALUES"
        " (:alice, :now, '{\"here\": 4}', '[]'), (:mallory, :now, '{\"here\": 9}', '[]')",
        "INSERT INTO follow_grant (person_id, network, server, subject, token, scope,"
        " created_at) VALUES (:alice, 'mastodon', 'https://m.test', 's', 'sealed-secret',"
        " 'read:follows write:follows', :now)",
        "INSERT INTO consent (person_id, purpose, granted, updated_at)"
        " VALUES (:alice, 'public_directory', true, :now)",
        "INSERT INTO link_proof (person_id, network, subject, code, post_uri, verified_at)"
        " VALUES (:alice, 'mastodon', 's', 'c0de', 'https://m.test/1', :now)",
        "INSERT INTO x_match (follower_id, followee_id, found_at) VALUES (:mallory, :alice, :now)",
        "INSERT INTO collection (network, person_id, part, members, created_at)"
        " VALUES ('bluesky', :alice, 1, 1, :now)",
        "INSERT INTO collection_member (collection_id, contact_id, seq, subject)"
        " SELECT id, :mallory, 0, 'did:plc:m' FROM collection",
        "INSERT INTO delivery (person_id, contact_id, network, via, collection_id,"
        " delivered_at) SELECT :alice, :mallory, 'bluesky', 'list', id, :now FROM collection",
        "INSERT INTO join_offer (identity_id, from_person, to_person, expires_at, created_at)"
        " SELECT id, :alice, :alice, :now, :now FROM identity WHERE person_id = :alice",
        "INSERT INTO link_request (code, identity_id, target_network, target_handle, reply,"
        " expires_at, created_at) SELECT 'secret', id, 'bluesky', 'a.test', '{}', :now, :now"
        " FROM identity WHERE person_id = :alice",
        "INSERT INTO upload_token (token_hash, person_id, purpose, expires_at, created_at)"
        " VALUES ('t0ken', :alice, 'upload', :later, :now)",
        "INSERT INTO archive_upload (key_hash, token_hash, person_id, state, claimed_by,"
        " attempts, username, followers, following, expires_at, created_at, updated_at)"
        " SELECT 'k3y', token_hash, :alice, 'waiting', 'host pid 1', 1, 'alice_x', 1, 0,"
        " :later, :now, :now FROM upload_token WHERE token_hash = 't0ken'",
    ]
    for statement in statements:
        session.execute(text(statement), {"alice": alice, "mallory": mallory, **now})


def test_every_exported_field_is_documented() -> None:
    documented = (Path(__file__).parent.parent / "docs" / "EXPORT.md").read_text()
    for table in SQLModel.metadata.sorted_tables:
        if table.name in export.NOT_PERSONAL:
            continue
        section = documented.split(f"\n## {table.name}\n", 1)
        assert len(section) == 2, f"docs/EXPORT.md has no section for {table.name}"
        body = section[1].split("\n## ", 1)[0]
        withheld = export.WITHHELD.get(table.name, set())
        missing = [c.name for c in table.columns if c.name not in withheld]
        missing = [name for name in missing if f"`{name}`" not in body]
        assert missing == [], f"{table.name}: {missing} undocumented"


def test_a_flood_on_the_links_is_paced_per_client(engine: Engine, database_url: str) -> None:
    async def scene(client: TestClient[Any, Any]) -> list[tuple[int, str | None]]:
        answers = []
        for n in range(4):
            response = await client.get(f"/me/signin/guess{n}")
            answers.append((response.status, response.headers.get("Retry-After")))
        other = await client.get("/me/signin/x", headers={"X-Forwarded-For": "203.0.113.9"})
        spoofed = await client.get("/x/upload/x", headers={"X-Forwarded-For": "6.6.6.6, 1.2.3.4"})
        home = await client.get("/")
        return [*answers, (other.status, None), (spoofed.status, None), (home.status, None)]

    answers = portal(database_url, scene, links_per_minute=3, behind_proxy=True)
    assert [a[0] for a in answers[:4]] == [410, 410, 410, 429], "the fourth in a minute waits"
    assert answers[3][1] is not None and 1 <= int(answers[3][1]) <= 60
    assert answers[4][0] == 410, "another client (as the proxy says) is not held up"
    assert answers[5][0] == 410, "the address the proxy appended counts, not what came before"
    assert answers[6][0] == 200, "other pages are not paced"
