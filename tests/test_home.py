"""The campaign's own pages: the home page (what the service does, the steps with the bots'
links, the dates, the figures, the media's asks, the data kept, questions) in French and
English, without script or anything fetched elsewhere, light; the privacy page; the link
cards every public page carries; the figures' chart with its scale and its table."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image
from sqlmodel import Session

from hqx.web import figures
from hqx.web import home as home_module
from shared.clock import utcnow
from shared.db.models import Person
from shared.portal import directory
from tests.test_outlet import BOTS
from tests.test_portal_space import portal

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient
    from sqlalchemy.engine import Engine

PUBLIC = "https://hqx.example"
STYLE = Path(__file__).resolve().parents[1] / "hqx" / "web" / "static" / "style.css"
OG = re.compile(r'<meta (?:property|name)="([\w:]+)" content="([^"]*)">')


def people(engine: Engine, count: int) -> None:
    with Session(engine) as session, session.begin():
        for n in range(count):
            session.add(Person(created_at=utcnow() - timedelta(days=n)))


def test_the_home_page_says_what_to_do_and_when_in_both_languages(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(home_module, "bots", lambda _request: BOTS)
    people(engine, 1234)
    cutover = utcnow() + timedelta(days=30)

    async def scene(client: TestClient[Any, Any]) -> tuple[str, str]:
        french = await (await client.get("/")).text()
        english = await (await client.get("/?lang=en")).text()
        return french, english

    french, english = portal(database_url, scene, public=PUBLIC, cutover_at=cutover)
    assert '<html lang="fr">' in french and "Quittez X sans perdre votre public." in french
    steps = (
        "Link your accounts by writing to the bot",
        "Ask X for your archive",
        "Upload it through the bot&#39;s private link",
        "Choose what to find again",
    )
    for step in steps:
        assert step in english, step
    assert "Download an archive of your data" in english and "usually within a day" in english
    assert 'href="https://bsky.app/profile/helloquittex.bsky.social"' in english
    assert 'href="https://piaille.example/@helloquittex"' in english
    composer = re.search(
        r'<a class="button" href="([^"]+)"[^>]*>Write to the bot on Bluesky', english
    )
    assert composer is not None
    assert unescape(composer.group(1)).startswith(
        "https://bsky.app/intent/compose?text=%40helloquittex.bsky.social%20hello"
    )
    months = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")  # fmt: skip
    day = f"{cutover.day} {months[cutover.month - 1]} {cutover.year}"
    assert f"The reconnection starts on {day}, in 30 days." in english
    assert '<dd id="figure-people">1\u202f234</dd>' in french
    assert '<dd id="figure-people">1,234</dd>' in english
    assert 'href="/privacy?lang=en"' in english and 'href="/media?lang=en"' in english
    assert english.count("<details>") == 4 and "What if I change my mind?" in english


def test_without_a_bot_the_home_page_says_so(engine: Engine, database_url: str) -> None:
    async def scene(client: TestClient[Any, Any]) -> str:
        return await (await client.get("/?lang=en")).text()

    page = portal(database_url, scene)
    assert "No bot is configured on this service yet" in page
    assert "Write to the bot on" not in page


def test_the_home_page_is_light_and_asks_nothing_of_another_site(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(home_module, "bots", lambda _request: BOTS)

    async def scene(client: TestClient[Any, Any]) -> tuple[bytes, str]:
        answer = await client.get("/")
        return await answer.read(), answer.headers["Content-Security-Policy"]

    body, policy = portal(database_url, scene, public=PUBLIC)
    assert len(body) + STYLE.stat().st_size < 100_000
    page = body.decode()
    assert "<script" not in page and "<img" not in page and "<iframe" not in page
    resources = re.findall(r'<link [^>]*href="([^"]+)"', page)
    assert resources == ["/static/style.css"], "nothing loaded from elsewhere"
    assert "default-src 'none'" in policy


@pytest.mark.parametrize("path", ["/", "/stats", "/media", "/privacy", "/join/le-media"])
def test_every_public_page_carries_its_link_card(
    engine: Engine, database_url: str, path: str
) -> None:
    with Session(engine) as session, session.begin():
        outlet = Person()
        session.add(outlet)
        session.flush()
        directory.ask(session, outlet.id or 0, "Le Média", "committed")
        directory.approve(session, outlet.id or 0)

    async def scene(client: TestClient[Any, Any]) -> tuple[dict[str, str], int, str, bytes]:
        page = await (await client.get(f"{path}?lang=en")).text()
        tags = {name: unescape(value) for name, value in OG.findall(page)}
        image = await client.get(tags["og:image"].removeprefix(PUBLIC))
        return tags, image.status, image.content_type, await image.read()

    tags, status, kind, png = portal(database_url, scene, public=PUBLIC)
    assert tags["og:title"] and len(tags["og:description"]) > 40
    assert tags["og:locale"] == "en_GB" and tags["og:site_name"] == "HelloQuitteX"
    assert tags["og:url"] == f"{PUBLIC}{path}?lang=en"
    assert (
        tags["og:image"].startswith(f"{PUBLIC}/") and tags["twitter:card"] == "summary_large_image"
    )
    assert (status, kind) == (200, "image/png")
    assert Image.open(io.BytesIO(png)).size == (1200, 630)
    if path == "/join/le-media":
        assert tags["og:title"] == "Le Média invites you to leave X"


def test_the_privacy_page_says_what_is_kept_and_how_to_erase_it(
    engine: Engine, database_url: str
) -> None:
    async def scene(client: TestClient[Any, Any]) -> tuple[str, str]:
        return (await (await client.get("/privacy")).text(),
                await (await client.get("/privacy?lang=en")).text())  # fmt: skip

    french, english = portal(database_url, scene)
    assert "Vos données et la vie privée" in french and "Tout effacer" in french
    for said in ("What we keep", "not the archive (read, then erased)", "after 30 days",
                 "A media outlet sees numbers only", "Erase everything"):  # fmt: skip
        assert said in english, said


def test_the_figures_chart_has_its_scale_its_last_values_and_a_table(
    engine: Engine, database_url: str
) -> None:
    people(engine, 12)

    async def scene(client: TestClient[Any, Any]) -> str:
        return await (await client.get("/stats?lang=en")).text()

    page = portal(database_url, scene)
    axis = re.findall(r'<text class="axis"[^>]*>([^<]+)</text>', page)
    assert axis[:3] == ["12", "6", "0"], "the scale: its top, its middle, zero"
    ends = re.findall(r'<text class="end"[^>]*>([^<]+)</text>', page)
    assert ends[0] == "12", "each line's last value, by its end"
    rows = re.findall(r'<tr><th scope="row">([\d-]+)</th><td>(\d+)</td>', page)
    assert rows[0] == (utcnow().date().isoformat(), "12") and len(rows) == 90


def test_a_visitor_never_waits_for_the_figures_but_the_very_first(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted once; later, a visitor who finds them old reads them while they are counted
    again in the background; a count that fails leaves the last ones."""
    people(engine, 3)

    async def scene() -> list[int]:
        cache = figures.StatsCache()
        seen = [(await cache.get(engine)).figures["people"]]
        people(engine, 2)
        seen.append((await cache.get(engine)).figures["people"])  # fresh: the same
        cache.at -= figures.FRESH_SEC + 1
        seen.append((await cache.get(engine)).figures["people"])  # old: read, recounted
        assert cache.refreshing is not None
        await cache.refreshing
        seen.append((await cache.get(engine)).figures["people"])
        monkeypatch.setattr(figures, "_count", lambda _engine: 1 / 0)
        cache.at -= figures.FRESH_SEC + 1
        seen.append((await cache.get(engine)).figures["people"])
        await asyncio.gather(cache.refreshing, return_exceptions=True)
        seen.append((await cache.get(engine)).figures["people"])
        await cache.close()
        return seen

    assert asyncio.run(scene()) == [3, 3, 3, 5, 5, 5]
