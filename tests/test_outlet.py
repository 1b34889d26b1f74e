"""An outlet's invitation page (its accounts, a reader's steps, the cutover date; who sets
off from it counted) and its own page in its space (the share button to paste, invitations
ready to post for each network and as an image, what was counted)."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from html import unescape
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image
from sqlmodel import Session

from hqx.web import bots as bots_module
from hqx.web import join as join_module
from hqx.web import outlet as outlet_module
from hqx.web.bots import Bot
from shared.clock import utcnow
from shared.portal import directory, tallies
from shared.vocabulary import Network, Tally
from tests.core_world import ALICE_M, World
from tests.test_portal_space import portal, sign_in, signin_link

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient
    from sqlalchemy.engine import Engine

PUBLIC = "https://hqx.example"
"""Where the bot's links point (the sign-in link's form)."""
PORTAL = "http://hqx.example"
"""The portal as the tests reach it (plain http: its cookies are not Secure)."""
BOTS = [
    Bot(Network.BLUESKY, "Bluesky", "@helloquittex.bsky.social",
        "https://bsky.app/profile/helloquittex.bsky.social"),
    Bot(Network.MASTODON, "Mastodon", "@helloquittex@piaille.example",
        "https://piaille.example/@helloquittex"),
]  # fmt: skip


@pytest.fixture
def with_bots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both bots known, as a running service knows them once started."""
    for module in (join_module, outlet_module):
        monkeypatch.setattr(module, "bots", lambda _request: BOTS)


def listed(world: World, name: str = "Le Média") -> tuple[int, str]:
    person = world.persons_of(ALICE_M)
    with Session(world.engine) as session, session.begin():
        entry = directory.ask(session, person, name, "committed", "removed")
        directory.approve(session, person)
        return person, entry.slug


def test_the_invitation_page_names_the_outlet_its_accounts_the_steps_and_the_date(
    engine: Engine, database_url: str, with_bots: None
) -> None:
    world = World(engine, public_url=PUBLIC)
    _, slug = listed(world)
    cutover = utcnow() + timedelta(days=12)

    async def scene(client: TestClient[Any, Any]) -> tuple[str, str, int, int]:
        french = await (await client.get(f"/join/{slug}")).text()
        english = await (await client.get(f"/join/{slug}?lang=en")).text()
        unknown = await client.get("/join/nobody-here")
        malformed = await client.get("/join/Le%20M%C3%A9dia")
        return french, english, unknown.status, malformed.status

    french, english, unknown, malformed = portal(
        database_url, scene, public=PORTAL, cutover_at=cutover
    )
    assert "Le Média vous invite à quitter X" in unescape(french)
    assert f'<span class="network">mastodon</span> {ALICE_M.handle}' in french
    months = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")  # fmt: skip
    day = f"{cutover.day} {months[cutover.month - 1]} {cutover.year}"
    assert f"On {day}, the bot reconnects you" in english and "In 12 days." in english
    assert "Write to the bot on Bluesky" in english and "Write to the bot on Mastodon" in english
    assert 'href="https://piaille.example/@helloquittex"' in english
    assert "Download an archive of your data" in english
    assert (unknown, malformed) == (404, 404)


def test_setting_off_from_the_invitation_page_is_counted_and_leads_to_the_bot(
    engine: Engine, database_url: str, with_bots: None
) -> None:
    world = World(engine, public_url=PUBLIC)
    person, slug = listed(world)

    async def scene(client: TestClient[Any, Any]) -> list[tuple[int, str]]:
        said = []
        for to in ("bluesky", "mastodon", "x"):
            answer = await client.post(f"/join/{slug}/start?lang=en", data={"to": to},
                                       allow_redirects=False)  # fmt: skip
            said.append((answer.status, answer.headers.get("Location") or await answer.text()))
        elsewhere = await client.post(f"/join/{slug}/start", data={"to": "bluesky"},
                                      headers={"Origin": "https://evil.example"})  # fmt: skip
        said.append((elsewhere.status, ""))
        return said

    said = portal(database_url, scene, public=PORTAL)
    (bluesky, page), (mastodon, location), (other, refused), (elsewhere, _) = said
    assert bluesky == 200
    found = re.search(r'content="0; url=([^"]+)"', page)
    assert found is not None
    assert unescape(found.group(1)) == (
        "https://bsky.app/intent/compose?text=%40helloquittex.bsky.social%20hello"
    )
    assert mastodon == 303 and urlsplit(location).path == "/share"
    assert parse_qs(urlsplit(location).query)["text"] == ["@helloquittex@piaille.example hello"]
    assert other == 400 and "That network has no bot here" in refused
    assert elsewhere == 403
    with Session(engine) as session:
        assert tallies.totals(session, person) == {Tally.INVITATION: 2}


def test_an_outlet_gets_its_button_its_invitations_and_its_counts(
    engine: Engine, database_url: str, with_bots: None
) -> None:
    world = World(engine, public_url=PUBLIC)
    token = signin_link(world, ALICE_M)
    person, slug = listed(world, "Le Média " + "très " * 22)
    for kind, times in ((Tally.SHARE, 3), (Tally.INVITATION, 2)):
        for _ in range(times):
            tallies.add(engine, person, kind)
    cutover = datetime(2025, 1, 20, 12, tzinfo=utcnow().tzinfo)

    async def scene(client: TestClient[Any, Any]) -> dict[str, Any]:
        space = await sign_in(client, token)
        page = await (await client.get("/me/outlet?lang=en")).text()
        texts = {}
        for network in ("bluesky", "mastodon"):
            answer = await client.get(f"/me/outlet/invitation-{network}.txt?lang=fr")
            assert "attachment" in answer.headers["Content-Disposition"]
            texts[network] = await answer.text()
        image = await (await client.get("/me/outlet/invitation.png")).read()
        nothing = await client.get("/me/outlet/invitation-x.txt")
        return {"space": space, "page": page, "texts": texts, "image": image,
                "nothing": nothing.status}  # fmt: skip

    seen = portal(database_url, scene, public=PORTAL, cutover_at=cutover)
    assert "Your outlet&#39;s tools" in seen["space"]
    page = unescape(seen["page"])
    assert '<dd id="tally-share">3</dd>' in page and '<dd id="tally-invitation">2</dd>' in page
    assert f'href="{PORTAL}/share?o={slug}&amp;url=ARTICLE_URL' in page
    assert "<script" not in page.split('id="snippet"')[1].split("</textarea>")[0]
    bluesky, mastodon = seen["texts"]["bluesky"], seen["texts"]["mastodon"]
    assert len(bluesky) <= 300 and bluesky.startswith("Nous quittons X."), "the long name went"
    assert f"{PORTAL}/join/{slug}" in bluesky and "le 20 janvier 2025" in bluesky
    assert "@helloquittex.bsky.social" in bluesky
    assert len(mastodon) <= 500 and mastodon.startswith("Le Média très")
    image = Image.open(io.BytesIO(seen["image"]))
    assert (image.format, image.size) == ("PNG", (1200, 630))
    assert seen["nothing"] == 404


def test_a_person_not_listed_has_no_outlet_page(engine: Engine, database_url: str) -> None:
    world = World(engine, public_url=PUBLIC)
    token = signin_link(world, ALICE_M)

    async def scene(client: TestClient[Any, Any]) -> int:
        await sign_in(client, token)
        return (await client.get("/me/outlet")).status

    assert portal(database_url, scene, public=PORTAL) == 404


def test_the_fediverse_bot_is_written_to_from_the_readers_own_server() -> None:
    """Bluesky has one composer; a fediverse reader writes from their own server, which
    the share page asks them for."""
    bluesky, mastodon = BOTS
    assert bluesky.composer("en").startswith("https://bsky.app/intent/compose?text=%40helloq")
    assert mastodon.composer("fr") == (
        "/share?text=%40helloquittex%40piaille.example+" + bots_module.GREETING["fr"] + "&lang=fr"
    )
