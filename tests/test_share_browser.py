"""The share button in a real browser (headless Chromium), against the whole service: an
outlet copies its button from its space and pastes it into an article of its site; a reader
shares the article to Bluesky (its compose intent) and to their own Mastodon server (the
test server's share page, found by its NodeInfo); the outlet sees both shares counted. The
README's screenshots of the share, invitation and audience pages are taken here."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlsplit

from aiohttp import web
from selenium.webdriver.common.by import By
from sqlmodel import Session, select

from shared.db.models import Identity
from shared.portal import directory
from tests.background import BackgroundApp
from tests.test_portal_browser import link_from_bot, serve

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine

    from tests.browser import Browser
    from tests.mastodon_world import MastodonWorld

ARTICLE = "https://lemedia.example/2025/01/20/nous-quittons-x"
TITLE = "Pourquoi nous quittons X"


def outlet_site(snippet: str) -> BackgroundApp:
    """The outlet's site: one article, its share button pasted as the outlet's space gave
    it, with the article's address and title where the templates put them."""
    button = snippet.replace("ARTICLE_URL", quote(ARTICLE, safe="")).replace(
        "ARTICLE_TITLE", quote(TITLE, safe="")
    )
    page = (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Le Média</title>'
        f"</head><body><article><h1>{TITLE}</h1><p>…</p>{button}</article></body></html>"
    )

    async def article(_request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", article)
    return BackgroundApp(app).start()


def newest_window(browser: Browser) -> None:
    browser.until(lambda: len(browser.driver.window_handles) > 1, "the share page's tab")
    browser.driver.switch_to.window(browser.driver.window_handles[-1])


def test_an_outlets_button_shares_to_bluesky_and_to_a_readers_server_and_is_counted(
    engine: Engine,
    database_url: str,
    mastodon: MastodonWorld,
    browser: Browser,
    shots: Path,
) -> None:
    server = mastodon.server
    service = serve(engine, database_url, mastodon)
    site: BackgroundApp | None = None
    try:
        # The outlet (Alice's organisation) signs in to its space; an operator approved it.
        browser.open(link_from_bot(mastodon, "space", "/me/signin/"))
        browser.press("main form button")
        browser.until(lambda: browser.path == "/me", "the space")
        with Session(engine) as session, session.begin():
            handle = f"alice@{server.domain}"
            person = session.exec(select(Identity.person_id).where(Identity.handle == handle)).one()
            slug = directory.ask(session, person, "Le Média", "left", "removed").slug
            directory.approve(session, person)
        browser.open(f"{service.url}/me/outlet?lang=en")
        snippet = browser.run("return document.getElementById('snippet').value")
        assert "<script" not in snippet and f"/share?o={slug}&amp;url=ARTICLE_URL" in snippet

        # A reader of its site shares the article on Bluesky.
        site = outlet_site(snippet)
        home = browser.driver.current_window_handle
        browser.open(site.url)
        browser.press("a.hqx-share")
        newest_window(browser)
        browser.until(lambda: browser.path == "/share", "the share page")
        assert TITLE in browser.text() and ARTICLE in browser.text()
        browser.screenshot(shots / "share.png")
        browser.press("button.bluesky")
        browser.until(lambda: browser.url.startswith("https://bsky.app/"), "Bluesky's composer")
        intent = urlsplit(browser.url)
        assert intent.path == "/intent/compose"
        assert parse_qs(intent.query)["text"] == [f"{TITLE}\n{ARTICLE}"]
        browser.driver.close()
        browser.driver.switch_to.window(home)

        # Another reader shares it on their own Mastodon server, remembered for next time.
        browser.open(site.url)
        browser.press("a.hqx-share")
        newest_window(browser)
        browser.until(lambda: browser.path == "/share", "the share page")
        browser.driver.find_element(By.ID, "share-server").send_keys(mastodon.url)
        browser.press("input[name=remember]")
        browser.press("button[value=fediverse]")
        browser.until(lambda: browser.url.startswith(f"{mastodon.url}/share"), "the server")
        composed = browser.run("return document.getElementById('compose').value")
        assert composed == f"{TITLE}\n{ARTICLE}" and server.shared == [composed]
        browser.driver.close()
        browser.driver.switch_to.window(home)
        browser.open(f"{service.url}/share?text=x")
        assert browser.run("return document.getElementById('share-server').value") == (
            mastodon.url
        ), "remembered in this browser"

        # The outlet sees both shares counted; its invitation page.
        browser.open(f"{service.url}/me/outlet?lang=en")
        assert browser.text("#tally-share") == "2"
        browser.screenshot(shots / "outlet.png")
        browser.open(f"{service.url}/join/{slug}?lang=en")
        assert "Le Média invites you to leave X" in browser.text()
        browser.screenshot(shots / "join.png")
    finally:
        if site is not None:
            site.stop()
        service.stop()
