"""The campaign's home page in a real browser (headless Chromium), against the whole service
with its Mastodon bot: read as a newcomer would, in French and in English, on a desktop and
on a phone; its link card; the privacy page; the figures' chart read by its values. The
README's screenshots of the home page are taken here."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from shared.clock import utcnow
from tests.browser import PHONE
from tests.test_portal_browser import CONTRAST, seed_movement, serve

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine

    from tests.browser import Browser
    from tests.mastodon_world import MastodonWorld


def test_a_newcomer_reads_the_home_page_and_finds_the_way_to_the_bot(
    engine: Engine, database_url: str, mastodon: MastodonWorld, browser: Browser, shots: Path
) -> None:
    seed_movement(engine)
    cutover = utcnow() + timedelta(days=9)
    service = serve(engine, database_url, mastodon, cutover_at=cutover)
    try:
        browser.open(f"{service.url}/?lang=fr")
        read = browser.text()
        for said in ("Quittez X sans perdre votre public.", "Reliez vos comptes en écrivant au bot",
                     "Demandez votre archive à X", "Déposez-la par le lien privé du bot",
                     "Choisissez ce que vous voulez retrouver", "dans 9 jours",
                     "Médias : trois demandes", "Questions fréquentes"):  # fmt: skip
            assert said in read, said
        profile = browser.driver.find_element(By.CSS_SELECTOR, ".bots a:not(.button)")
        assert profile.text == f"@helloquittex@{mastodon.server.domain}"
        assert profile.get_attribute("href") == f"{mastodon.url}/@helloquittex"
        assert browser.text("#figure-people") == "548"
        browser.screenshot(shots / "home.png")
        browser.screenshot(shots / "home-phone.png", PHONE)
        low = browser.run(CONTRAST)
        assert low == [], f"text under WCAG AA contrast (4.5:1): {low}"
        # The keyboard alone: past the navigation, Tab reaches the way to the bot.
        browser.open(f"{service.url}/?lang=fr")
        reached, outlines = [], set()
        for _ in range(7):
            ActionChains(browser.driver).send_keys(Keys.TAB).perform()
            focused = browser.driver.switch_to.active_element
            reached.append(focused.text)
            outlines.add(browser.run("return getComputedStyle(arguments[0]).outlineStyle", focused))
        assert reached[:5] == ["HelloQuitteX", "Chiffres", "Médias", "Mon espace", "English"]
        assert reached[5:] == [
            "Écrire au bot sur Mastodon",
            f"@helloquittex@{mastodon.server.domain}",
        ]
        assert "none" not in outlines, "focus is always visible"

        # Writing to the Mastodon bot: the share page asks for the reader's own server,
        # which opens its composer with the bot's mention ready.
        browser.press(".bots a.button")
        browser.until(lambda: browser.path == "/share", "the way to one's own server")
        browser.driver.find_element(By.ID, "share-server").send_keys(mastodon.url)
        browser.press("button[value=fediverse]")
        browser.until(lambda: browser.url.startswith(f"{mastodon.url}/share"), "the composer")
        composed = browser.run("return document.getElementById('compose').value")
        assert composed == f"@helloquittex@{mastodon.server.domain} bonjour"

        # In English; the card a link to it shows; the privacy page it leads to.
        browser.open(f"{service.url}/?lang=en")
        assert "Link your accounts by writing to the bot" in browser.text()
        months = ("January", "February", "March", "April", "May", "June", "July", "August",
                  "September", "October", "November", "December")  # fmt: skip
        day = f"{cutover.day} {months[cutover.month - 1]} {cutover.year}"
        assert f"The reconnection starts on {day}, in 9 days." in browser.text()
        read_card = (
            "return Object.fromEntries([...document.querySelectorAll('meta[property^=\"og:\"]')]"
            ".map((m) => [m.getAttribute('property'), m.content]))"
        )
        card = browser.run(read_card)
        assert card["og:title"] == "Leave X without losing your audience."
        assert card["og:image"].startswith(f"{service.url}/card/home.png")
        browser.press("a[href^='/privacy']")
        browser.until(lambda: browser.path == "/privacy", "the privacy page")
        assert "What we keep" in browser.text() and "Erase everything" in browser.text()
        assert browser.run(CONTRAST) == []
        for path in ("/stats", "/media", "/privacy"):  # each public page, its own card
            browser.open(f"{service.url}{path}?lang=fr")
            tags = browser.run(read_card)
            assert tags["og:locale"] == "fr_FR" and tags["og:title"] in browser.text("h1"), path
            assert tags["og:image"].startswith(f"{service.url}/card/"), path

        # The figures' chart, read by its values.
        browser.open(f"{service.url}/stats?lang=en")
        axis = browser.run(
            "return [...document.querySelectorAll('text.axis')].map(t => t.textContent)"
        )
        assert axis[0] == "548" and axis[2] == "0"
        ends = browser.run(
            "return [...document.querySelectorAll('text.end')].map(t => t.textContent)"
        )
        assert ends[0] == "548"
    finally:
        service.stop()
