"""The web portal's pages: French first, English when the browser asks or the person
switches, auto-escaped, with its static files."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp.test_utils import TestClient, TestServer

from hqx.app import create_app
from shared.config import Settings
from shared.vocabulary import Network, Via

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine


def get(database_url: str, path: str, **headers: str) -> tuple[int, str, Any]:
    async def main() -> tuple[int, str, Any]:
        app = create_app(Settings(database_url=database_url))
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            response = await client.get(path, headers=headers)
            return response.status, await response.text(), response.headers

    return asyncio.run(main())


def test_the_home_page_speaks_french_first(engine: Engine, database_url: str) -> None:
    status, page, headers = get(database_url, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert '<html lang="fr">' in page
    assert "Quittez X sans perdre votre public." in page
    assert '<a href="?lang=en" hreflang="en" lang="en">English</a>' in page


def test_english_from_the_browser_or_the_switch(engine: Engine, database_url: str) -> None:
    _, page, _ = get(database_url, "/", **{"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"})
    assert '<html lang="en">' in page and "Leave X without losing your audience." in page
    _, switched, _ = get(database_url, "/?lang=en", **{"Accept-Language": "fr"})
    assert '<html lang="en">' in switched


def test_what_pages_show_is_escaped() -> None:
    import aiohttp_jinja2
    from aiohttp import web

    from hqx import web as portal
    from hqx.web.texts import TEXTS

    app = web.Application()
    portal.setup(app)
    page = (
        aiohttp_jinja2.get_env(app)
        .get_template("message.html")
        .render(lang="fr", other="en", t=TEXTS["fr"], lines=["<script>alert(1)</script>"])
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page


def test_static_files_are_served(engine: Engine, database_url: str, tmp_path: Path) -> None:
    status, css, headers = get(database_url, "/static/style.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    assert ":focus-visible" in css


def test_every_answer_carries_the_security_headers(engine: Engine, database_url: str) -> None:
    for path in ("/", "/static/style.css", "/x/upload/unknown", "/healthz"):
        _, _, headers = get(database_url, path)
        assert headers["Content-Security-Policy"].endswith("frame-ancestors 'none'"), path
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy, "our own script files only"
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Server"] == "helloquittex", "no version for scanners"


def test_the_following_list_downloads_once_in_mastodons_import_format(
    engine: Engine, database_url: str
) -> None:
    from sqlmodel import Session

    from shared.clock import utcnow
    from shared.db.models import Delivery, Identity, Person
    from shared.portal import uploads

    with Session(engine) as session, session.begin():
        bob, alice, carol = Person(), Person(), Person()
        session.add_all([bob, alice, carol])
        session.flush()
        assert bob.id and alice.id and carol.id
        session.add_all(
            [
                Identity(person_id=bob.id, network=Network.MASTODON, subject="https://m.test/u/bob",
                         handle="bob@m.test"),
                Identity(person_id=alice.id, network=Network.BLUESKY, subject="did:plc:alice",
                         handle="alice.bsky.test"),
                Identity(person_id=carol.id, network=Network.MASTODON, subject="https://o.test/u/c",
                         handle="carol@o.test"),
                Delivery(person_id=bob.id, contact_id=carol.id, network=Network.MASTODON,
                         via=Via.MESSAGE),
                Delivery(person_id=bob.id, contact_id=alice.id, network=Network.MASTODON,
                         via=Via.BRIDGE),
            ]
        )  # fmt: skip
        token = uploads.issue(session, bob.id, now=utcnow(), purpose=uploads.FOLLOWING)
        upload_token = uploads.issue(session, bob.id, now=utcnow())
    path = f"{uploads.FOLLOWING_PATH}{token}"

    async def main() -> list[tuple[int, str, Any]]:
        app = create_app(Settings(database_url=database_url))
        seen = []
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            for method, url in (("GET", path), ("POST", path), ("POST", path),
                                ("GET", f"{uploads.FOLLOWING_PATH}{upload_token}")):  # fmt: skip
                response = await client.request(method, url, headers={"Accept-Language": "en"})
                seen.append((response.status, await response.text(), response.headers))
        return seen

    page, download, again, other = asyncio.run(main())
    assert page[0] == 200 and "Accounts: 2." in page[1]
    assert download[0] == 200 and download[2]["Content-Type"].startswith("text/csv")
    assert download[2]["Content-Disposition"] == 'attachment; filename="following_accounts.csv"'
    assert download[1].splitlines() == [
        "Account address,Show boosts,Notify on new posts,Languages",
        "carol@o.test,true,false,",
        "alice.bsky.test@bsky.brid.gy,true,false,",
    ]
    assert again[0] == 410 and "used already" in again[1]
    assert other[0] == 410, "an upload link is not a following-list link"
