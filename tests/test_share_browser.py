"""The share button in a real browser (headless Chromium), against the whole service: an
outlet copies its button from its space and pastes it into an article of its site; a reader
shares the article to Bluesky (its compose intent) and to their own Mastodon server (the
test server's share page, found by its NodeInfo); the outlet sees both shares counted. The
README's screenshots of the share, invitation and audience pages are taken here, of an
outlet a month into the campaign."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlsplit

from aiohttp import web
from selenium.webdriver.common.by import By
from sqlmodel import Session, select

from shared.clock import utcnow
from shared.db.models import ArchiveImport, Delivery, Identity, XIdentity, XMatch
from shared.portal import directory, tallies
from shared.vocabulary import Network, Tally, TrustLevel, Via
from tests.background import BackgroundApp
from tests.linked import add_linked, linked_with_space
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
    engine: Engine, database_url: str, mastodon: MastodonWorld, browser: Browser
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
        browser.open(f"{service.url}/join/{slug}?lang=en")
        assert "Le Média invites you to leave X" in browser.text()
    finally:
        if site is not None:
            site.stop()
        service.stop()


def a_month_of_audience(engine: Engine, outlet: int) -> None:
    """Sixty followers of the outlet joining over a month, most of them reconnected since
    the cutover ten days ago, and readers sharing its articles every day."""
    now = utcnow()
    vias = (Via.LIST, Via.SHARED, Via.MESSAGE, Via.FOLLOWED, Via.LIST, Via.BRIDGE)
    with Session(engine) as session, session.begin():
        session.add(XIdentity(x_account_id=4242, person_id=outlet, username="le_media",
                              trust=TrustLevel.VERIFIED))  # fmt: skip
        session.flush()
        session.add(ArchiveImport(x_account_id=4242, followers=18_400, following=300))
        for n in range(60):
            network = Network.BLUESKY if n % 3 else Network.MASTODON
            person = add_linked(session, network, f"did:plc:reader{n}", f"reader{n}.test")
            found = now - timedelta(days=30 - n // 2, hours=n % 7)
            session.add(XMatch(follower_id=person, followee_id=outlet, found_at=found))
            if n < 44:
                session.add(Delivery(person_id=person, contact_id=outlet, network=network,
                                     via=vias[n % len(vias)],
                                     delivered_at=now - timedelta(days=10 - n // 5)))  # fmt: skip
    for day in range(30):
        for _ in range(day // 3 + 1):
            tallies.add(engine, outlet, Tally.SHARE, (now - timedelta(days=29 - day)).date())
        if day % 2:
            tallies.add(engine, outlet, Tally.INVITATION, (now - timedelta(days=29 - day)).date())


def test_an_outlets_pages_as_the_readme_shows_them(
    engine: Engine,
    database_url: str,
    mastodon: MastodonWorld,
    browser: Browser,
    shots: Path,
) -> None:
    """Before the cutover (nothing is matched again under the month drawn here): the
    outlet's audience page, its invitation page, and the share page its button opens."""
    outlet, token = linked_with_space(engine, Network.MASTODON, "https://m.test/users/media",
                                      "lemedia@m.test")  # fmt: skip
    with Session(engine) as session, session.begin():
        slug = directory.ask(session, outlet, "Le Média", "left", "removed").slug
        directory.approve(session, outlet)
    a_month_of_audience(engine, outlet)
    service = serve(engine, database_url, mastodon, cutover_at=utcnow() + timedelta(days=12))
    try:
        browser.open(f"{service.url}/me/signin/{token}?lang=fr")
        browser.press("main form button")
        browser.until(lambda: browser.path == "/me", "the space")
        browser.open(f"{service.url}/me/outlet?lang=fr")
        assert browser.text("#here") == "60" and browser.text("#reconnected") == "44"
        assert browser.text("#awaited") == "16" and browser.text("#on-x") == "18 400"
        browser.screenshot(shots / "outlet.png")
        browser.open(f"{service.url}/join/{slug}?lang=fr")
        assert "Dans 12 jours." in browser.text()
        assert "Écrire au bot sur Mastodon" in browser.text()
        browser.screenshot(shots / "join.png")
        query = f"o={slug}&url={quote(ARTICLE, safe='')}&text={quote(TITLE, safe='')}&lang=fr"
        browser.open(f"{service.url}/share?{query}")
        assert TITLE in browser.text()
        browser.screenshot(shots / "share.png")
    finally:
        service.stop()
