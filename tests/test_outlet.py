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
from sqlmodel import Session, col, delete

from hqx.web import bots as bots_module
from hqx.web import join as join_module
from hqx.web import outlet as outlet_module
from hqx.web.bots import Bot
from shared.archive_import import import_archive
from shared.clock import utcnow
from shared.db.models import (
    ArchiveImport,
    Delivery,
    Identity,
    OutletAudience,
    Person,
    XIdentity,
    XMatch,
)
from shared.portal import directory, tallies, uploads
from shared.portal.audience import audience, count_all, latest
from shared.vocabulary import Network, Tally, TrustLevel, Via
from tests.archives import make_archive
from tests.core_world import ALICE_M, World
from tests.linked import add_linked
from tests.test_portal_space import portal, sign_in, signin_link

if TYPE_CHECKING:
    from pathlib import Path

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


def audience_world(engine: Engine) -> tuple[int, str, int]:
    """An outlet followed on X by four people here: Ana (Bluesky) reconnected in a pack,
    Bob (Mastodon) by a suggestion, Chloé (both; found by nobody) by a follow made for her
    on Bluesky, Dan (Bluesky) still waiting; and Ana reconnected to someone else too."""
    now = utcnow()
    with Session(engine) as session, session.begin():
        media = add_linked(session, Network.MASTODON, "https://m.test/users/media", "media@m.test")
        ana = add_linked(session, Network.BLUESKY, "did:plc:ana", "ana.test")
        bob = add_linked(session, Network.MASTODON, "https://m.test/users/bob", "bob@m.test")
        chloe = add_linked(session, Network.BLUESKY, "did:plc:chloe", "chloe.test")
        chloe_m = "https://m.test/users/chloe"
        session.add(Identity(person_id=chloe, network=Network.MASTODON, subject=chloe_m,
                             handle="chloe@m.test", trust=TrustLevel.PROVEN))  # fmt: skip
        session.get_one(Person, chloe).findable = False
        dan = add_linked(session, Network.BLUESKY, "did:plc:dan", "dan.test")
        session.add(XIdentity(x_account_id=42, person_id=media, username="le_media",
                              trust=TrustLevel.VERIFIED))  # fmt: skip
        session.flush()
        session.add(ArchiveImport(x_account_id=42, followers=1_000_000, following=10))
        for n, follower in enumerate((ana, bob, chloe, dan)):
            session.add(XMatch(follower_id=follower, followee_id=media,
                               found_at=now - timedelta(days=3 - min(n, 2))))  # fmt: skip
        session.add(XMatch(follower_id=ana, followee_id=bob, found_at=now))
        deliveries = [
            (ana, media, Network.BLUESKY, Via.LIST), (bob, media, Network.MASTODON, Via.MESSAGE),
            (chloe, media, Network.BLUESKY, Via.FOLLOWED),
            (chloe, media, Network.MASTODON, Via.ELSEWHERE), (ana, bob, Network.BLUESKY, Via.LIST),
        ]  # fmt: skip
        for person, contact, network, via in deliveries:
            session.add(Delivery(person_id=person, contact_id=contact, network=network, via=via,
                                 delivered_at=now - timedelta(days=1)))  # fmt: skip
        entry = directory.ask(session, media, "Le Média", "left", "removed")
        directory.approve(session, media)
        slug = entry.slug
    tallies.add(engine, media, Tally.SHARE)
    return media, slug, dan


def test_the_audience_counts_each_channel_and_never_says_who(engine: Engine) -> None:
    media, _, _ = audience_world(engine)
    today = utcnow().date()
    with Session(engine) as session:
        seen = audience(session, media, today=today)
    assert (seen.on_x, seen.here) == (1_000_000, 4)
    assert seen.here_on == {Network.BLUESKY: 3, Network.MASTODON: 2}
    assert seen.channels == {"packs": 1, "suggestions": 1, "follows": 1, "already": 0}
    assert (seen.reconnected, seen.awaited) == (3, 1), "Chloé counts, though nobody finds her"
    assert seen.counted == {Tally.SHARE: 1}
    assert [d.day for d in seen.days] == [today - timedelta(days=n) for n in (3, 2, 1, 0)]
    assert [d.totals["here"] for d in seen.days] == [1, 2, 4, 4]
    assert [d.totals["reconnected"] for d in seen.days] == [0, 0, 3, 3]
    assert [d.totals["shares"] for d in seen.days] == [0, 0, 0, 1]


def test_the_outlet_reads_its_audience_as_a_page_a_chart_and_a_csv(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """The whole service runs (its matching from the archives included): the outlet's
    archive lists five followers, four of them here, one reconnected."""
    now = utcnow()
    with Session(engine) as session, session.begin():
        people = [add_linked(session, Network.BLUESKY, f"did:plc:p{n}", f"p{n}.test")
                  for n in range(4)]  # fmt: skip
        media = add_linked(session, Network.MASTODON, "https://m.test/users/media", "media@m.test")
        for n, person in enumerate(people):
            session.add(XIdentity(x_account_id=100 + n, person_id=person, username=f"p{n}",
                                  trust=TrustLevel.VERIFIED))  # fmt: skip
        session.flush()
        session.add(Delivery(person_id=people[0], contact_id=media, network=Network.BLUESKY,
                             via=Via.SHARED, delivered_at=now))  # fmt: skip
        directory.ask(session, media, "Le Média", "left", "removed")
        directory.approve(session, media)
        token = uploads.issue(session, media, now=now, purpose=uploads.SPACE)
    archive = make_archive(tmp_path / "media.zip", [100, 101, 102, 103, 999], [],
                           account_id=42, username="le_media")  # fmt: skip
    import_archive(engine, archive, for_person=media)
    tallies.add(engine, media, Tally.SHARE)

    async def scene(client: TestClient[Any, Any]) -> tuple[str, str, str]:
        await sign_in(client, token)
        page = await (await client.get("/me/outlet?lang=en")).text()
        answer = await client.get("/me/outlet/audience.csv")
        return page, answer.headers["Content-Disposition"], await answer.text()

    page, disposition, table = portal(database_url, scene, public=PORTAL)
    for figure, value in [("on-x", 5), ("here", 4), ("here-bluesky", 4), ("here-mastodon", 0),
                          ("reconnected", 1), ("channel-packs", 1), ("awaited", 3),
                          ("tally-share", 1)]:  # fmt: skip
        assert f'<dd id="{figure}">{value}</dd>' in page, figure
    for n in range(4):
        assert f"p{n}" not in page and f"p{n}" not in table, "never who"
    assert page.count("<polyline ") == 2 and '<th scope="col">Reconnected</th>' in page
    assert "audience-le-media.csv" in disposition
    lines = table.splitlines()
    assert lines[0] == "day,here,reconnected,shares,invitations"
    assert lines[-1] == f"{now.date().isoformat()},4,1,1,0"


def test_the_page_reads_the_audience_kept_and_the_work_process_counts_it_again(
    engine: Engine,
) -> None:
    media, _, _ = audience_world(engine)
    with Session(engine) as session:
        first = latest(session, media)
    tallies.add(engine, media, Tally.SHARE)
    with Session(engine) as session, session.begin():  # what only a count would see
        session.exec(delete(XMatch).where(col(XMatch.follower_id) != media))
    with Session(engine) as session:
        kept = latest(session, media)
        fresh = latest(session, media, max_age=timedelta(0))
    assert (first.here, kept.here, fresh.here) == (4, 4, 0), "read, not counted"
    assert kept.counted_at == first.counted_at and kept.here_on == first.here_on
    assert first.counted[Tally.SHARE] == 1 and kept.counted[Tally.SHARE] == 2, "shares at once"
    assert kept.days[-1].totals["shares"] == 2 and kept.days[:-1] == first.days[:-1]
    with Session(engine) as session, session.begin():
        waiting = add_linked(session, Network.BLUESKY, "did:plc:waiting", "waiting.test")
        directory.ask(session, waiting, "Pas encore", "considering")
    assert count_all(engine) == 1, "approved outlets only"
    with Session(engine) as session:
        assert session.get(OutletAudience, waiting) is None
        assert latest(session, media).counted[Tally.SHARE] == 2
