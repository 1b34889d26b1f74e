"""X accounts that cannot be squatted: an archive claims, a post proves a username, only X
itself ("Sign in with X", against a double of X's OAuth 2.0) proves an id; competing claims
are disputed, shown, settled by an operator or by X; operators' imports are reserved."""

from __future__ import annotations

import asyncio
import html
import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import delete
from sqlmodel import Session, select

from hqx.app import create_app, server_options
from hqx.cli import main
from shared.archive_import import import_archive
from shared.bot import notices
from shared.config import Settings
from shared.db.models import FollowEdge, Person, XClaim, XIdentity
from shared.errors import HqxError
from shared.identity import attestation, xtrust
from shared.identity.accounts import XPost
from shared.vocabulary import PersonKind, TrustLevel
from tests.archives import OWNER, OWNER_ID, make_archive
from tests.background import BackgroundApp
from tests.core_world import ALICE_M, KEY, MALLORY_M, World, code_in
from tests.test_upload import upload
from testworld.x.server import XApp, XDouble, XUser

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sqlalchemy.engine import Engine

PUBLIC = "http://hqx.test"  # plain http: the test client keeps no Secure cookie
ALICE_X = XUser(str(OWNER_ID), OWNER, "Alice")
CLIENT = "hqx-client-id"


@pytest.fixture
def x() -> Iterator[tuple[XDouble, str]]:
    double = XDouble(apps={CLIENT: XApp(CLIENT, f"{PUBLIC}/x/signin/callback")})
    server = BackgroundApp(double.app()).start()
    yield double, server.url
    server.stop()


@pytest.fixture
def world(engine: Engine) -> World:
    return World(engine, public_url=PUBLIC)


def link_for(world: World, author: Any) -> str:
    """The newest upload link the bot gave ``author`` (asked for now)."""
    world.say(author, "link x")
    sent = [
        o.action.text  # type: ignore[union-attr]
        for a in (world.bluesky, world.mastodon)
        for o in a.sent.values()
        if o.key.startswith("upload") and o.action.to.subject == author.subject  # type: ignore[union-attr]
    ]
    found = re.search(rf"{PUBLIC}/x/upload/([\w-]+)", sent[-1])
    assert found is not None, sent
    return found.group(1)


def settings(database_url: str, x_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        public_url=PUBLIC,
        secret_key=KEY,
        x_client_id=CLIENT,
        x_authorize_url=f"{x_url}/i/oauth2/authorize",
        x_api_url=x_url,
    )


def portal(database_url: str, x_url: str, scenario: Any) -> Any:
    async def main_() -> Any:
        client = TestClient(TestServer(create_app(settings(database_url, x_url)), host="127.0.0.1"))
        await client.server.start_server(**server_options())
        async with client:
            return await scenario(client)

    return asyncio.run(main_())


PROOF = re.compile(
    r'<form method="post" action="/x/signin/([\w-]+)">\s*'
    r'<input type="hidden" name="page" value="(\w+)">'
)


async def start(client: TestClient[Any, Any], token: str) -> tuple[str, str]:
    """The person opens their link's page and presses "Sign in with X": where X's page is,
    and the flow's cookie."""
    page = await client.get(f"/x/upload/{token}?lang=en")
    found = PROOF.search(await page.text())
    assert found is not None and found.group(1) == token, await page.text()
    started = await client.post(f"/x/signin/{token}", data={"page": found.group(2)})
    text = await started.text()
    assert started.status == 200, text
    refresh = re.search(r'<meta http-equiv="refresh" content="0; url=([^"]+)">', text)
    assert refresh is not None, text
    return html.unescape(refresh.group(1)), started.headers["Set-Cookie"]


async def sign_in(client: TestClient[Any, Any], token: str, x_url: str) -> tuple[int, str]:
    """The person follows "Sign in with X" from their link; X sends them back."""
    to_x, _ = await start(client, token)
    assert to_x.startswith(f"{x_url}/i/oauth2/authorize?")
    async with client.session.get(to_x, allow_redirects=False) as at_x:
        back = at_x.headers["Location"]
    assert back.startswith(f"{PUBLIC}/x/signin/callback?")
    answer = await client.get(back.removeprefix(PUBLIC), headers={"Accept-Language": "en"})
    return answer.status, await answer.text()


def x_rows(engine: Engine) -> tuple[list[XIdentity], list[XClaim]]:
    with Session(engine) as session:
        return list(session.exec(select(XIdentity))), list(session.exec(select(XClaim)))


def test_a_forged_archive_is_disputed_then_x_itself_settles_it(
    world: World, engine: Engine, database_url: str, tmp_path: Path, x: tuple[XDouble, str]
) -> None:
    """Squat 1: Mallory uploads a forged archive carrying Alice's X id before Alice."""
    double, x_url = x
    forged = make_archive(tmp_path / "forged.zip", [66, 67], [68]).read_bytes()
    real = make_archive(tmp_path / "real.zip", [11, 12, 13], [14]).read_bytes()
    mallorys, alices = link_for(world, MALLORY_M), link_for(world, ALICE_M)
    fresh = link_for(world, ALICE_M)
    double.at_browser = ALICE_X

    async def scenario(client: TestClient[Any, Any]) -> list[tuple[int, str]]:
        first = await upload(client, mallorys, forged)
        second = await upload(client, alices, real)
        page = await client.get(f"/x/upload/{alices}?lang=en")  # used: "Sign in with X" stays
        used_page = await page.text()
        assert "Sign in with X" in used_page and 'name="archive"' not in used_page
        offered = await client.get(f"/x/upload/{fresh}")
        assert "Sign in with X" in await offered.text() or "Se connecter avec X" in (
            await offered.text()
        )
        return [first, second, (page.status, ""), await sign_in(client, fresh, x_url)]

    first, disputed, used, signed = portal(database_url, x_url, scenario)
    assert first[0] == 200
    assert disputed[0] == 409, "Alice's real upload is not refused as 'already linked'"
    assert used[0] == 200
    assert signed[0] == 200 and f"@{OWNER}" in signed[1]
    [held], claims = x_rows(engine)
    assert (held.person_id, held.trust) == (world.persons()[ALICE_M.handle], TrustLevel.VERIFIED)
    assert claims == [], "X's word settles the dispute"
    with Session(engine) as session:
        assert list(session.exec(select(FollowEdge))) == [], "the forged graph is gone"
    assert "(X, verified by X)" in world.say(ALICE_M, "status")
    assert OWNER not in world.say(MALLORY_M, "status")
    assert double.tokens == {} and len(double.revoked) == 1, "the token served once, revoked"


def test_while_disputed_both_see_it_and_nothing_uses_it(
    world: World, engine: Engine, tmp_path: Path
) -> None:
    alice, mallory = (world.persons_of(a) for a in (ALICE_M, MALLORY_M))
    import_archive(engine, make_archive(tmp_path / "a.zip", [11]), for_person=mallory)
    with pytest.raises(xtrust.ClaimDisputedError) as raised:
        import_archive(
            engine,
            make_archive(tmp_path / "b.zip", [12]),
            for_person=alice,
            notify_on=("mastodon",),
        )
    assert "another person claims this X account too" in str(raised.value)
    assert "mallory" not in str(raised.value) and OWNER not in str(raised.value)
    [dm] = [o for o in world.mastodon_outbox() if o.kind == "message"]
    assert dm.person_id == mallory, "the holder is told, by message"
    with Session(engine) as session:
        assert list(session.exec(xtrust.undisputed())) == [], "matching may not use it"
        assert attestation.record(session, mallory, held_now()) is None, "nor attestations"
    assert "(X, disputed)" in world.say(MALLORY_M, "status")
    assert "(X, disputed)" in world.say(ALICE_M, "status")


def held_now() -> Any:
    from shared.clock import utcnow

    return utcnow()


def test_an_operators_import_is_reserved_never_taken_by_a_claim(
    world: World, engine: Engine, database_url: str, tmp_path: Path, capsys: Any
) -> None:
    """Squat 2: a media outlet imported by the operator, then a link holder's archive."""
    imported = import_archive(
        engine, make_archive(tmp_path / "media.zip", [1, 2]), kind=PersonKind.ORGANISATION
    )
    mallory = world.persons_of(MALLORY_M)
    with pytest.raises(xtrust.ClaimDisputedError):
        import_archive(engine, make_archive(tmp_path / "m.zip", [9]), for_person=mallory)
    [held], [claim] = x_rows(engine)
    assert (held.person_id, held.trust) == (imported.person_id, TrustLevel.RESERVED)
    assert claim.person_id == mallory
    with Session(engine) as session:
        assert session.get(Person, imported.person_id) is not None, "the outlet is not deleted"
        assert len(list(session.exec(select(FollowEdge)))) == 2, "its graph is untouched"
    # The operator sees the dispute, and settles it for the outlet.
    env = {"HQX_DATABASE_URL": database_url}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.chdir(tmp_path)
        assert main(["x", "disputes", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)["disputes"]
        assert [(d["x_account_id"], d["holder"]["person"], [c["person"] for c in d["claims"]])
                for d in listed] == [(OWNER_ID, imported.person_id, [mallory])]  # fmt: skip
        assert main(["x", "settle", str(OWNER_ID), "--to", str(imported.person_id)]) == 0
        capsys.readouterr()
    [held], claims = x_rows(engine)
    assert held.person_id == imported.person_id and claims == []


def test_a_post_by_a_username_proves_the_username_never_the_id(
    engine: Engine, tmp_path: Path
) -> None:
    """Squat 3: a forged archive pairs Alice's X id with @mallory_x, then @mallory_x posts."""
    from tests.test_x_proof import POST, FakeX

    fake = FakeX()
    world = World(engine, public_url=PUBLIC, x_posts=fake)
    mallory = world.persons_of(MALLORY_M)
    import_archive(
        engine, make_archive(tmp_path / "f.zip", [5], username="mallory_x"), for_person=mallory
    )
    world.say(MALLORY_M, "réglages attestation oui", languages=("fr",))
    code = code_in(world.say(MALLORY_M, "link x"))
    fake.posts[POST] = XPost(POST, author="mallory_x", text=code)
    assert world.say(MALLORY_M, POST).startswith("Done: your post proves you held @mallory_x")
    [held], _ = x_rows(engine)
    assert held.trust == TrustLevel.CLAIMED, "the id is still only claimed"
    published = [o.action for o in world.bluesky.sent.values() if o.key.startswith("attest")]
    [x_entry] = [a for a in published[-1].record["accounts"] if a["network"] == "x"]  # type: ignore[union-attr]
    assert x_entry == {
        "network": "x",
        "handle": "mallory_x",
        "trust": "username",
        "proof": POST,
        "provenAt": x_entry["provenAt"],
    }, "no id is published on the word of an archive"
    # Alice's real archive then disputes it, instead of being refused.
    alice = world.persons_of(ALICE_M)
    with pytest.raises(xtrust.ClaimDisputedError):
        import_archive(engine, make_archive(tmp_path / "r.zip", [6]), for_person=alice)


@pytest.mark.parametrize("failure", ["declined", "no-cookie", "replayed"])
def test_a_sign_in_that_says_nothing_stores_nothing(
    world: World, engine: Engine, database_url: str, x: tuple[XDouble, str], failure: str
) -> None:
    double, x_url = x
    double.at_browser = None if failure == "declined" else ALICE_X
    token = link_for(world, ALICE_M)

    async def scenario(client: TestClient[Any, Any]) -> tuple[int, str]:
        to_x, _ = await start(client, token)
        async with client.session.get(to_x, allow_redirects=False) as r:
            back = r.headers["Location"].removeprefix(PUBLIC)
        if failure == "no-cookie":
            client.session.cookie_jar.clear()
        if failure == "replayed":
            await client.get(back)
            await asyncio.to_thread(_forget_x, engine)
        answer = await client.get(back)
        return answer.status, await answer.text()

    status, page = portal(database_url, x_url, scenario)
    assert status == 400
    expected = {
        "declined": "X says: access_denied",
        "no-cookie": "this sign-in was not started here",
        "replayed": "this sign-in was not started here",
    }[failure]
    assert expected in page
    assert x_rows(engine) == ([], [])


def _forget_x(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        for row in session.exec(select(XIdentity)):
            session.delete(row)


def test_the_flow_is_pkce_with_the_least_scope(
    world: World, database_url: str, x: tuple[XDouble, str]
) -> None:
    _, x_url = x
    token = link_for(world, ALICE_M)

    async def scenario(client: TestClient[Any, Any]) -> tuple[str, str]:
        return await start(client, token)

    location, cookie = portal(database_url, x_url, scenario)
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["scope"] == "tweet.read users.read"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["redirect_uri"] == f"{PUBLIC}/x/signin/callback"
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/x/signin/callback" in cookie
    assert query["state"] not in cookie, "the flow is sealed in the cookie"


def test_notices_go_to_a_network_where_the_person_is(world: World, engine: Engine) -> None:
    alice = world.persons_of(ALICE_M)
    with Session(engine) as session, session.begin():
        told = [
            notices.Notice(alice, "x.settled_won", "e1"),
            notices.Notice(alice, "x.settled_won", "e1"),
        ]
        assert notices.queue(session, told, ("bluesky", "mastodon")) == 1, "once per event"
    [dm] = [o for o in world.mastodon_outbox() if o.kind == "message"]
    assert dm.network == "mastodon"


def test_an_archive_cannot_claim_an_account_x_verified(
    world: World, engine: Engine, tmp_path: Path
) -> None:
    alice, mallory = world.persons_of(ALICE_M), world.persons_of(MALLORY_M)
    with Session(engine) as session, session.begin():
        xtrust.verify(session, alice, OWNER_ID, OWNER)
        again = xtrust.verify(session, alice, OWNER_ID, OWNER)
        assert again.notices == [], "X's word again for the same person changes nothing"
        elsewhere = xtrust.verify(session, mallory, OWNER_ID, OWNER)
        assert xtrust.verified_elsewhere(elsewhere, mallory)
        told = sorted((n.person_id, n.key) for n in elsewhere.notices)
        assert told == sorted([(alice, "x.disputed_verified"), (mallory, "x.disputed_verified")])
        session.execute(delete(XClaim))
    with pytest.raises(xtrust.ClaimRefusedError) as refused:
        import_archive(engine, make_archive(tmp_path / "m.zip", [9]), for_person=mallory)
    assert OWNER not in str(refused.value) and "alice" not in str(refused.value)
    [held], claims = x_rows(engine)
    assert (held.person_id, held.trust, claims) == (alice, TrustLevel.VERIFIED, [])


def test_an_answer_from_x_is_read_within_bounds() -> None:
    """Whatever the X API address answers (misconfigured, hostile), a bounded read."""
    from aiohttp import web

    from hqx.x_signin import MAX_ANSWER_BYTES, XSignIn, XSignInError

    async def huge(_request: web.Request) -> web.Response:
        return web.Response(body=b"[" + b"0," * MAX_ANSWER_BYTES + b"0]")

    app = web.Application()
    app.router.add_post("/2/oauth2/token", huge)
    server = BackgroundApp(app).start()
    try:
        signin = XSignIn(settings("sqlite://", server.url))

        async def exchange() -> None:
            try:
                await signin.account("code", "verifier")
            finally:
                await signin.close()

        with pytest.raises(XSignInError, match="X answered more than 65,536 bytes"):
            asyncio.run(exchange())
    finally:
        server.stop()


def test_an_x_account_verified_for_alice_stays_hers_when_she_signs_in_from_mallorys_link(
    world: World, engine: Engine, database_url: str, tmp_path: Path, x: tuple[XDouble, str]
) -> None:
    """The attack: Mallory sends Alice her own upload link ("check your archive here"); Alice
    opens it in her browser and signs in with X. The page names Mallory first; the account
    X verified for Alice does not move, her graph stays, and both are told."""
    double, x_url = x
    real = make_archive(tmp_path / "real.zip", [11, 12, 13], [14]).read_bytes()
    alices, mallorys = link_for(world, ALICE_M), link_for(world, MALLORY_M)
    double.at_browser = ALICE_X

    async def scenario(client: TestClient[Any, Any]) -> tuple[str, tuple[int, str]]:
        assert (await upload(client, alices, real))[0] == 200
        assert (await sign_in(client, alices, x_url))[0] == 200
        page = await (await client.get(f"/x/upload/{mallorys}?lang=en")).text()
        return page, await sign_in(client, mallorys, x_url)

    page, (status, said) = portal(database_url, x_url, scenario)
    owner = page.index("This link belongs to:")
    assert owner < page.index("<form"), "whose link it is comes before anything else"
    assert MALLORY_M.handle in page[owner : page.index("<form")]
    assert status == 409 and "nothing moved" in said
    [held], [claim] = x_rows(engine)
    alice, mallory = world.persons()[ALICE_M.handle], world.persons()[MALLORY_M.handle]
    assert (held.person_id, held.trust) == (alice, TrustLevel.VERIFIED), "still Alice's"
    assert (claim.person_id, claim.verified) == (mallory, True), "disputed, on X's word"
    with Session(engine) as session:
        assert len(list(session.exec(select(FollowEdge)))) == 4, "Alice's graph is kept"
    # An operator cannot hand it over on an archive's word; on X's word for both, they may.
    with Session(engine) as session, session.begin():
        won = xtrust.settle(session, OWNER_ID, mallory)
    assert {n.key for n in won} == {"x.settled_won", "x.settled_lost"}
    [held], _ = x_rows(engine)
    assert (held.person_id, held.trust) == (mallory, TrustLevel.VERIFIED)


def test_an_operator_never_gives_a_verified_account_to_an_archives_claimant(
    world: World, engine: Engine, tmp_path: Path
) -> None:
    alice, mallory = world.persons_of(ALICE_M), world.persons_of(MALLORY_M)
    with Session(engine) as session, session.begin():
        xtrust.verify(session, alice, OWNER_ID, OWNER)
        again = xtrust.verify(session, alice, OWNER_ID, OWNER)
        assert again.notices == [], "X's word again for the same person changes nothing"
        elsewhere = xtrust.verify(session, mallory, OWNER_ID, OWNER)
        assert xtrust.verified_elsewhere(elsewhere, mallory)
        told = sorted((n.person_id, n.key) for n in elsewhere.notices)
        assert told == sorted([(alice, "x.disputed_verified"), (mallory, "x.disputed_verified")])
        session.execute(delete(XClaim))
    with pytest.raises(xtrust.ClaimRefusedError):
        import_archive(engine, make_archive(tmp_path / "f.zip", [6]), for_person=mallory)
    with Session(engine) as session, session.begin():
        session.add(XClaim(x_account_id=OWNER_ID, person_id=mallory, username=OWNER))
    with Session(engine) as session, session.begin(), pytest.raises(HqxError, match="cannot be"):
        xtrust.settle(session, OWNER_ID, mallory)
    [held], _ = x_rows(engine)
    assert (held.person_id, held.trust) == (alice, TrustLevel.VERIFIED)


def test_sign_in_with_x_starts_only_from_the_links_own_page_in_this_browser(
    world: World, engine: Engine, database_url: str, x: tuple[XDouble, str]
) -> None:
    double, x_url = x
    double.at_browser = ALICE_X
    token = link_for(world, ALICE_M)

    async def scenario(client: TestClient[Any, Any]) -> list[int]:
        forwarded = await client.get(f"/x/signin/{token}", allow_redirects=False)
        assert forwarded.headers["Location"] == f"/x/upload/{token}", "a GET starts nothing"
        blind = await client.post(f"/x/signin/{token}", data={"page": "0" * 64})
        page = await (await client.get(f"/x/upload/{token}")).text()
        found = PROOF.search(page)
        assert found is not None
        # Another browser, with the proof copied but not the page's cookie.
        async with aiohttp.ClientSession() as other:
            url = client.make_url(f"/x/signin/{token}")
            async with other.post(url, data={"page": found.group(2)}) as copied:
                elsewhere = copied.status
        return [forwarded.status, blind.status, elsewhere]

    assert portal(database_url, x_url, scenario) == [303, 403, 403]
    assert x_rows(engine) == ([], []) and double.tokens == {}


def test_a_callbacks_error_is_never_repeated_unless_it_is_an_oauth_code(
    world: World, database_url: str, x: tuple[XDouble, str]
) -> None:
    """Anyone can write a callback link: only the codes OAuth defines are shown."""
    _, x_url = x

    async def scenario(client: TestClient[Any, Any]) -> list[str]:
        pages = []
        for error in ("Your account is locked: call +1 555 0100", "access_denied"):
            answer = await client.get("/x/signin/callback", params={"error": error})
            pages.append(await answer.text())
        return pages

    forged, declined = portal(database_url, x_url, scenario)
    assert "555" not in forged and "X says: an error" in forged
    assert "X says: access_denied" in declined
