"""Claiming an X account by its archive: the bot's one-time link, given privately to an account
the network vouches for; the upload page; the import; and every refusal, in one line."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
import yarl
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import Session, select

from hqx.app import create_app, server_options
from hqx.web.access_log import redact
from shared.actions import Reply
from shared.config import Settings, UploadLimits
from shared.db.models import ArchiveImport, FollowEdge, Identity, XIdentity
from shared.portal import uploads
from shared.vocabulary import TrustLevel
from tests.archives import OWNER, OWNER_ID, make_archive
from tests.core_world import ALICE_B, ALICE_M, World

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine

PUBLIC = "https://hqx.example"
LINK = re.compile(r"https://hqx\.example/x/upload/([\w-]+)")


@pytest.fixture
def world(engine: Engine) -> World:
    return World(engine, public_url=PUBLIC)


def token_from(text: str) -> str:
    found = LINK.search(text)
    assert found is not None, text
    return found.group(1)


def private_link(world: World) -> str:
    """Alice asks in public on Mastodon; the link comes in a direct answer."""
    public = world.say(ALICE_M, "link x")
    assert public == "I've sent you a private message with a link to upload your X archive."
    [private] = [o.action for o in world.mastodon.sent.values() if o.key.startswith("upload")]
    assert isinstance(private, Reply) and private.direct is True
    assert "Your own link to upload your X archive" in private.text
    return token_from(private.text)


def test_the_link_goes_privately_and_only_to_the_asker(world: World) -> None:
    private_link(world)
    answer = world.say(ALICE_B, "lier X", direct=True, languages=("fr",))
    assert answer.startswith("Votre lien personnel pour importer votre archive X")
    assert LINK.search(answer)


def test_no_public_url_no_archives(engine: Engine) -> None:
    closed = World(engine)
    assert closed.say(ALICE_M, "link x") == "This service does not take X archives."


def serve(engine: Engine, database_url: str, **changes: Any):  # type: ignore[no-untyped-def]
    """The portal, with ``changes`` to its settings."""
    settings = Settings(database_url=database_url, public_url=PUBLIC, **changes)
    return TestClient(TestServer(create_app(settings), host="127.0.0.1"))


SETTLE_SEC = 30.0


async def settled(
    client: TestClient[Any, Any], response: aiohttp.ClientResponse
) -> tuple[int, str, str]:
    """The archive's page once it says more than "reading" or "importing" (it refreshes
    itself meanwhile, as a browser follows): its status, its text, and where it is."""
    deadline = asyncio.get_running_loop().time() + SETTLE_SEC
    text = await response.text()
    while 'http-equiv="refresh"' in text:
        assert asyncio.get_running_loop().time() < deadline, "the archive's page never settled"
        await asyncio.sleep(0.05)
        response = await client.get(response.url.path_qs)
        text = await response.text()
    return response.status, text, response.url.path


async def send(client: TestClient[Any, Any], token: str, data: bytes) -> tuple[int, str, str]:
    """The archive sent through the link's form: the page that answers once it was read
    (what it holds, or why it is refused) and where that page is."""
    form = aiohttp.FormData()
    form.add_field("archive", data, filename="twitter.zip", content_type="application/zip")
    return await settled(client, await client.post(f"/x/upload/{token}", data=form))


async def upload(client: TestClient[Any, Any], token: str, data: bytes) -> tuple[int, str]:
    """The archive sent, then its import confirmed on the page showing what it holds: the
    page once imported (or refused)."""
    status, text, waiting = await send(client, token, data)
    if status != 200:
        return status, text
    confirmed = await client.post(waiting, data={"action": "import"})
    status, text, _ = await settled(client, confirmed)
    return status, text


def run(engine: Engine, database_url: str, scenario: Any, **changes: Any) -> Any:
    async def main() -> Any:
        client = serve(engine, database_url, **changes)
        await client.server.start_server(**server_options())  # served as `hqx run` serves it
        async with client:
            return await scenario(client)

    return asyncio.run(main())


def test_an_uploaded_archive_is_claimed_for_the_asker(
    world: World, engine: Engine, database_url: str, tmp_path: Path
) -> None:
    token = private_link(world)
    archive = make_archive(tmp_path / "x.zip", [11, 12, 13], [14]).read_bytes()

    async def scenario(client: TestClient[Any, Any]) -> list[tuple[int, str]]:
        page = await client.get(f"/x/upload/{token}")
        assert page.status == 200
        assert 'type="file" name="archive"' in await page.text()
        first = await upload(client, token, archive)
        again = await upload(client, token, archive)
        later = await client.get(f"/x/upload/{token}")
        return [first, again, (later.status, await later.text())]

    (status, text), again, later = run(engine, database_url, scenario)
    assert status == 200
    assert f"imported: @{OWNER}" in text and "3 abonnés / followers" in text
    assert again[0] == 410 and "used already" in again[1]
    assert later[0] == 410
    with Session(engine) as session:
        x = session.exec(select(XIdentity)).one()
        alice = session.exec(select(Identity).where(Identity.handle == "alice@masto.test")).one()
        assert (x.x_account_id, x.person_id, x.trust) == (
            OWNER_ID,
            alice.person_id,
            TrustLevel.CLAIMED,
        )
        assert len(list(session.exec(select(FollowEdge)))) == 4
    assert world.say(ALICE_M, "status") == (
        f"Linked accounts: @alice@masto.test (Mastodon, proven), @{OWNER} (X, claimed)."
    )


def test_the_archive_waits_for_its_person_to_confirm_what_it_holds(
    world: World, engine: Engine, database_url: str, tmp_path: Path
) -> None:
    token = private_link(world)
    archive = make_archive(tmp_path / "x.zip", [11, 12, 13], [14]).read_bytes()

    async def scenario(client: TestClient[Any, Any]) -> tuple[str, int, list[int], int]:
        status, shown, waiting = await send(client, token, archive)
        assert status == 200 and waiting.startswith(f"/x/upload/{token}/archive/")
        with Session(engine) as session:
            assert list(session.exec(select(ArchiveImport))) == [], "nothing before consent"
        link = await client.get(f"/x/upload/{token}")
        again = await client.get(waiting + "?lang=en")
        assert "Is this your archive?" in await again.text(), "the page, in either language"
        dropped = await client.post(waiting, data={"action": "cancel"})
        gone = await client.get(waiting)
        return shown, link.status, [dropped.status, gone.status], len(await dropped.text())

    shown, link, (dropped, gone), _ = run(engine, database_url, scenario)
    text = " ".join(re.sub(r"<[^>]+>", " ", shown.split("<main>")[1]).split())
    assert "Est-ce bien votre archive ?" in text, "French unless the browser asks otherwise"
    assert f"Compte X @{OWNER}" in text and "Abonnés 3" in text and "Abonnements 1" in text
    assert link == 200, "the link stays usable until the import is confirmed"
    assert (dropped, gone) == (200, 410)
    with Session(engine) as session:
        assert list(session.exec(select(ArchiveImport))) == [], "cancelled: nothing imported"


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"this is no zip", 400, "Archive refusée / refused: "),
        (b"", 400, "the upload is empty"),
    ],
)
def test_a_refused_archive_stores_nothing_and_gives_the_link_back(
    world: World, engine: Engine, database_url: str, data: bytes, status: int, message: str
) -> None:
    token = private_link(world)

    async def scenario(client: TestClient[Any, Any]) -> tuple[tuple[int, str], int]:
        refused = await upload(client, token, data)
        page = await client.get(f"/x/upload/{token}")
        return refused, page.status

    (code, text), page = run(engine, database_url, scenario)
    assert code == status and message in text
    assert page == 200, "the link can be used again with another file"
    with Session(engine) as session:
        assert list(session.exec(select(ArchiveImport))) == []


def test_a_file_over_the_bound_is_cut_off(
    world: World, engine: Engine, database_url: str, tmp_path: Path
) -> None:
    token = private_link(world)
    archive = make_archive(tmp_path / "x.zip", list(range(1, 2000)), [14]).read_bytes()

    async def scenario(client: TestClient[Any, Any]) -> tuple[int, str]:
        return await upload(client, token, archive)

    bounded = UploadLimits(max_bytes=1000)
    code, text = run(engine, database_url, scenario, upload_limits=bounded)
    assert code == 413
    assert "larger than 1,000 bytes: send a zip of only data/account.js" in text


def test_an_expired_or_unknown_link_is_refused(
    world: World, engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = private_link(world)
    ttl = uploads.TTL[uploads.UPLOAD]
    later = uploads.utcnow() + ttl + timedelta(seconds=1)  # type: ignore[attr-defined]
    monkeypatch.setattr(uploads, "utcnow", lambda: later)

    async def scenario(client: TestClient[Any, Any]) -> list[tuple[int, str]]:
        pages = [await client.get(f"/x/upload/{t}") for t in (token, "forged-token")]
        return [(p.status, await p.text()) for p in pages]

    expired, unknown = run(engine, database_url, scenario)
    assert expired[0] == 410 and "has expired" in expired[1]
    assert unknown[0] == 410 and "not one of ours" in unknown[1]


def test_a_second_claim_disputes_the_account_and_tells_nothing_of_the_holder(
    world: World, engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """Squat 1: a forged archive with Alice's X id, uploaded first, no longer makes Alice's
    real upload fail "already linked"; neither wins: the account is disputed."""
    archive = make_archive(tmp_path / "x.zip", [11], [14]).read_bytes()
    first, second = private_link(world), token_from(world.say(ALICE_B, "link x", direct=True))
    # Alice's two accounts are two persons here (not linked): two claims of one X account.

    async def scenario(client: TestClient[Any, Any]) -> list[tuple[int, str]]:
        return [
            await upload(client, first, archive),
            await upload(client, second, archive),
            await upload(client, second, archive),
        ]

    ok, disputed, again = run(engine, database_url, scenario)
    assert ok[0] == 200
    assert disputed[0] == 409 and "another person claims this X account too" in disputed[1]
    assert OWNER not in disputed[1].split("<main>")[1], "nothing of the holder is shown"
    assert again[0] == 410, "a refused claim keeps the link used: no probing with one link"
    assert "(X, disputed)" in world.say(ALICE_M, "status"), "the holder sees it"
    assert "(X, disputed)" in world.say(ALICE_B, "status"), "and so does the claimant"
    with Session(engine) as session:
        assert session.exec(select(XIdentity.person_id)).one() == world.persons()[ALICE_M.handle]
        assert len(list(session.exec(select(FollowEdge)))) == 2, "the holder's graph, untouched"


def test_upload_links_never_reach_the_access_log(
    world: World, engine: Engine, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = private_link(world)

    async def scenario(client: TestClient[Any, Any]) -> int:
        page = await client.get(f"/x/upload/{token}?lang=en")
        return page.status

    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        assert run(engine, database_url, scenario) == 200
    logged = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any('"GET /x/upload/…?… HTTP/1.1" 200' in line for line in logged), logged
    assert not any(token in line for line in logged)


@pytest.mark.parametrize("path", uploads.LINK_PATHS)
def test_every_one_time_link_is_hidden_from_the_access_log(path: str) -> None:
    """Sign-in, upload, following-list and X sign-in links: each token opens something."""
    secret = "s3cr3t-T0ken_value"
    shown = redact(f"{path}{secret}/staged/abc", query=True)
    assert secret not in shown
    assert shown == path + "…?…", "the token and all after it"
    assert redact("/stats", query=True) == "/stats?…", "queries may hold OAuth codes"
    assert redact("/media") == "/media", "the rest stays readable"


@pytest.mark.parametrize(
    "target",
    ["/x/uploa%64/{token}", "/me/%73ignin/{token}", "/x/upload/{token}/archive/k",
     "/x/uploa%2564/{token}", "/%78/upload/{token}?lang=en", "/x/upload/{token}%0aFAKE LINE"],
)  # fmt: skip
def test_a_token_is_hidden_however_its_path_is_encoded(
    world: World, engine: Engine, database_url: str, caplog: pytest.LogCaptureFixture,
    target: str,
) -> None:  # fmt: skip
    """The router reads the decoded path: so does the redactor."""
    token = private_link(world)

    async def scenario(client: TestClient[Any, Any]) -> int:
        page = await client.get(yarl.URL(target.format(token=token), encoded=True))
        return page.status

    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        run(engine, database_url, scenario)
    logged = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert logged, "the request was logged"
    assert not any(token in line for line in logged), logged
    assert not any("\n" in line for line in logged), "one line per request"
