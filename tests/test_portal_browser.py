"""The portal in a real browser (headless Chromium), against the whole service: the bot on
the Mastodon-API test server hands out the links, the person signs in, lets the service
follow for them on their own server, drops their archive, checks what it holds, imports it,
sees the follows made, downloads everything held about them and erases it; the public pages
in both languages. The screenshots in the README are taken here (``SCREENSHOTS_DIR=folder``
keeps them)."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from sqlmodel import Session, select

from hqx.app import create_app
from shared.archive_import import import_archive
from shared.clock import utcnow
from shared.config import Settings, UploadLimits
from shared.db.models import Consent, Identity, Person, XIdentity
from shared.portal import directory
from shared.vocabulary import Network, Purpose, TrustLevel
from tests.archives import make_archive
from tests.background import BackgroundApp
from tests.browser import PHONE, Browser
from tests.linked import add_linked

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tests.mastodon_world import MastodonWorld
    from testworld.mastodon.server import Account

KEY = "a-secret-key-for-browser-tests-0123456789"
ALICE_X, BOB_X = 7_001, 7_002
WAIT_SEC = 30.0


def serve(
    engine: Engine,
    database_url: str,
    mastodon: MastodonWorld | None,
    cutover_at: datetime | None = None,
) -> BackgroundApp:
    """The whole service (bot, scheduler, portal) on loopback, after the cutover (or
    before ``cutover_at``)."""
    background = BackgroundApp()
    networks = {}
    if mastodon is not None:
        networks = {
            "mastodon_api_base_url": mastodon.url,
            "mastodon_access_token": mastodon.bot.token,
            "mastodon_poll_sec": 0.2,
        }
    settings = Settings(
        database_url=database_url,
        secret_key=KEY,
        public_url=background.url,
        cutover_at=cutover_at or utcnow() - timedelta(days=1),
        reconnect_check_sec=0.5,
        upload_limits=UploadLimits(folder=Path(engine.url.database or ".").parent / "up"),
        **networks,  # type: ignore[arg-type]
    )
    return background.start(create_app(settings))


def until(condition: object, what: str) -> object:
    deadline = time.monotonic() + WAIT_SEC
    while not (found := condition()):  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not in time: {what}"
        time.sleep(0.1)
    return found


def link_from_bot(mastodon: MastodonWorld, asking: str, path: str) -> str:
    """Alice asks the bot in public; the link comes in a direct message."""
    before = {s.id for s in mastodon.bot_statuses()}
    mastodon.alice_person.post(f"@helloquittex {asking}")
    pattern = re.compile(rf"http://127\.0\.0\.1:\d+{re.escape(path)}[\w-]+")

    def sent() -> str | None:
        for status in mastodon.bot_statuses():
            found = pattern.search(status.text)
            if status.id not in before and status.visibility == "direct" and found:
                return found.group(0)
        return None

    return str(until(sent, f"the bot's private link for {asking!r}"))


def bob_joins(engine: Engine, mastodon: MastodonWorld, tmp_path: Path) -> Account:
    """Bob, followed by Alice on X, is here already: his Mastodon account and his archive."""
    server = mastodon.server
    bob = server.create_account("bob")
    with Session(engine) as session, session.begin():
        bob_id = add_linked(session, Network.MASTODON, server.actor_id(bob), f"bob@{server.domain}")
    archive = make_archive(tmp_path / "bob.zip", [ALICE_X], [], account_id=BOB_X, username="bob")
    import_archive(engine, archive, for_person=bob_id)
    return bob


def listed(engine: Engine, handle: str) -> bool:
    with Session(engine) as session:
        alice = session.exec(select(Identity).where(Identity.handle == handle)).one()
        consent = session.get(Consent, (alice.person_id, Purpose.PUBLIC_DIRECTORY))
        return consent is not None and consent.granted


def test_a_person_signs_in_connects_uploads_and_sees_the_follows_made(
    engine: Engine,
    database_url: str,
    mastodon: MastodonWorld,
    browser: Browser,
    tmp_path: Path,
    shots: Path,
) -> None:
    server = mastodon.server
    bob = bob_joins(engine, mastodon, tmp_path)
    service = serve(engine, database_url, mastodon)
    try:
        # The bot's link, pressed: a session.
        browser.open(link_from_bot(mastodon, "space", "/me/signin/"))
        assert "This link works once" in browser.text()
        browser.press("main form button")
        browser.until(lambda: browser.path == "/me", "the space")
        assert f"alice@{server.domain}" in browser.text("#accounts + ul")

        # Her settings, changed in the form: what the bot would do changes with them.
        browser.press("input[name=directory]")
        browser.press("section[aria-labelledby=settings] form button")
        browser.until(lambda: "Settings saved." in browser.text(), "the settings saved")
        assert browser.run("return document.querySelector('input[name=directory]').checked")
        assert listed(engine, f"alice@{server.domain}"), "kept as her consent"

        # Follows on her behalf: allowed on her own server (she is signed in there).
        server.oauth.sign_in(mastodon.alice)
        browser.press("section[aria-labelledby=follows] form button")
        browser.until(lambda: "Allowed on mastodon" in browser.text(), "the grant")
        assert "Follows made: 0; to come: 0; impossible: 0." in browser.text()
        assert browser.run("return document.querySelector('input[name=follow]').checked")
        browser.screenshot(shots / "space.png")

        # The archive: chosen, sent with a progress bar, shown, confirmed.
        archive = make_archive(
            tmp_path / "twitter-2025-01-19.zip",
            [],
            [BOB_X, 7_003],
            account_id=ALICE_X,
            username="alice_x",
        )
        browser.open(link_from_bot(mastodon, "link x", "/x/upload/"))
        assert browser.run("return !document.getElementById('drop').hidden"), "the drop zone"
        browser.screenshot(shots / "upload.png")
        not_a_zip = tmp_path / "notes.zip"
        not_a_zip.write_text("these are my notes, not an archive")
        browser.choose_file("#archive", not_a_zip)
        browser.press("form[data-upload] button")
        browser.until(lambda: "refused" in browser.text("#upload-status"), "the refusal")
        assert browser.path.startswith("/x/upload/"), "told in place, the form still there"
        browser.choose_file("#archive", archive)
        browser.run(  # what a drop gives the page: the file in a DataTransfer
            "const dropped = new DataTransfer();"
            "dropped.items.add(document.getElementById('archive').files[0]);"
            "document.getElementById('drop').dispatchEvent("
            "  new DragEvent('drop', {dataTransfer: dropped, bubbles: true, cancelable: true}));"
        )
        browser.until(lambda: "/archive/" in browser.path, "the page of what it holds")
        shown = browser.text()
        assert "Is this your archive?" in shown
        assert "X account @alice_x" in shown and "Following 2" in shown and "Followers 0" in shown
        browser.screenshot(shots / "upload-check.png")
        browser.press("button[value=import]")
        browser.until(lambda: "imported: @alice_x" in browser.text(), "the import")

        # After the cutover the service follows Bob for her, with her token, on her server.
        until(
            lambda: server.follows.get((mastodon.alice.id, bob.id)),
            "Alice following Bob on her server",
        )
        browser.open(service.url + "/me")
        browser.until(lambda: "Follows made: 1" in browser.text(), "the progress")
        assert "bob@" in browser.text("#contacts ~ ul")
        browser.screenshot(shots / "space-phone.png", PHONE)

        # Everything held about her, downloaded; then erased.
        browser.press("a[href='/me/export']")
        held = json.loads(browser.downloaded("helloquittex-export.json").read_text())
        assert any(
            row.get("x_account_id") == str(ALICE_X) or row.get("x_account_id") == ALICE_X
            for row in held["x_identity"]
        ), held["x_identity"]
        browser.press("input[name=confirm]")
        browser.press("form[action^='/me/erase'] button")
        browser.until(lambda: "erased" in browser.text(), "the erasure")
        browser.open(service.url + "/me")
        assert browser.path == "/me/out", "signed out: the cookie went with her data"
    finally:
        service.stop()
    with Session(engine) as session:
        people = session.exec(select(Identity.handle)).all()
        assert people == [f"bob@{server.domain}"], "only Bob is left"
        assert session.exec(select(XIdentity.x_account_id)).all() == [BOB_X]


# The contrast ratio of each visible text's colour against the background it sits on (the
# first opaque background up its ancestors), by WCAG 2's relative luminance.
CONTRAST = """
const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => [r, g, b].map((v) => {
  v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
}).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
const behind = (e) => {
  for (; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
return [...document.querySelectorAll("p, a, button, label, h1, h2, dt, dd, li, legend")]
  .filter((e) => e.offsetParent !== null && e.textContent.trim())
  .map((e) => {
    const [a, b] = [lum(rgb(getComputedStyle(e).color)), lum(behind(e))];
    return [e.textContent.trim().slice(0, 30), (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
  })
  .filter(([, ratio]) => ratio < 4.5);
"""


def seed_movement(engine: Engine) -> None:
    """Eleven weeks of people joining, more each week, and two outlets in the directory."""
    now = utcnow()
    outlets = [
        ("Le Quotidien", "committed", "lequotidien.example", "lequotidien@media.example"),
        ("Radio Libre", "left", "radiolibre.example", "radiolibre@media.example"),
    ]
    with Session(engine) as session, session.begin():
        for ago in range(77, -1, -1):
            joined = now - timedelta(days=ago, hours=1)
            session.add_all(Person(created_at=joined) for _ in range(1 + (77 - ago) // 6))
        for name, status, bsky, masto in outlets:
            outlet = Person()
            session.add(outlet)
            session.flush()
            for network, handle, subject in (
                ("bluesky", bsky, f"did:plc:{bsky.split('.')[0]:0<24}"),
                ("mastodon", masto, f"https://media.example/users/{masto.split('@')[0]}"),
            ):
                session.add(
                    Identity(
                        person_id=outlet.id or 0,
                        network=Network(network),
                        subject=subject,
                        handle=handle,
                        trust=TrustLevel.PROVEN,
                    )
                )
            directory.ask(session, outlet.id or 0, name, status)
            directory.approve(session, outlet.id or 0)


def test_the_public_pages_speak_the_browsers_language_and_switch(
    engine: Engine, database_url: str, browser: Browser, shots: Path
) -> None:
    seed_movement(engine)
    service = serve(engine, database_url, None)
    try:
        browser.open(service.url + "/stats")
        assert browser.run("return document.documentElement.lang") == "en", "the browser's"
        figures = browser.text(".figures")
        assert "People 548" in figures, figures
        assert browser.run("return document.querySelectorAll('svg polyline').length") >= 1
        browser.screenshot(shots / "stats.png")
        browser.press("a[hreflang=fr]")
        browser.until(lambda: browser.run("return document.documentElement.lang") == "fr", "fr")
        assert "Chiffres" in browser.text("nav")
        browser.open(service.url + "/media?lang=fr")
        assert "Médias" in browser.text("nav")
        listed = browser.text()
        assert "Le Quotidien" in listed and "lequotidien@media.example" in listed
        assert "Engagés à quitter X" in listed
        browser.screenshot(shots / "media.png")
        for path in ("/", "/stats", "/media", "/me"):
            browser.open(service.url + path)
            unlabelled = browser.run(
                "return [...document.querySelectorAll('input:not([type=hidden]), select')]"
                ".filter((e) => e.labels.length === 0).map((e) => e.name)"
            )
            assert unlabelled == [], f"{path}: every field has its label"
            low = browser.run(CONTRAST)
            assert low == [], f"{path}: text under WCAG AA contrast (4.5:1): {low}"
        # The keyboard alone: Tab reaches every link of the navigation, focus always shown.
        browser.open(service.url + "/stats?lang=en")
        reached, outlines = [], set()
        for _ in range(5):  # the page's five links, in order
            ActionChains(browser.driver).send_keys(Keys.TAB).perform()
            focused = browser.driver.switch_to.active_element
            reached.append(focused.text)
            outlines.add(browser.run("return getComputedStyle(arguments[0]).outlineStyle", focused))
        assert reached == ["HelloQuitteX", "Figures", "Media", "My space", "Français"]
        assert "none" not in outlines, "focus is always visible"
    finally:
        service.stop()
