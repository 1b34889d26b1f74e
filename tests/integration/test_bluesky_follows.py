"""Follows on a person's behalf on Bluesky, against Bluesky's own PDS and AppView: the grant by
AT Protocol OAuth through the PDS's own sign-in and consent pages in a real browser (PAR,
PKCE, DPoP), or by an app password; the follow made as the person, once, seen on the
AppView; taking the grant back."""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from sqlmodel import Session, select

from bsky_service import acting
from bsky_service.adapter import BlueskyAdapter
from bsky_service.oauth import Grant
from hqx.app import create_app
from hqx.outbound import OutboundClient
from shared.actions import FollowAccount
from shared.clock import utcnow
from shared.config import Settings
from shared.db.models import Consent, FollowGrant
from shared.outbound import Policy
from shared.portal import uploads
from shared.protocol import DeliveryError, Outgoing
from shared.reconnection import grants
from shared.stores import Stores
from shared.vocabulary import Network, Purpose
from tests.background import BackgroundApp
from tests.browser import Browser
from tests.linked import linked_with_space
from tests.test_portal_space import csrf_of, sign_in
from testworld.bluesky.people import PASSWORD, create_person

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine

    from testworld.bluesky.network import BlueskyDevNetwork
    from testworld.bluesky.people import Person as BskyPerson

pytestmark = pytest.mark.integration
KEY = "a-secret-key-for-bluesky-follows-0123456789"
_names = itertools.count()
QUEUED_AT = utcnow()


def linked(engine: Engine, who: BskyPerson) -> tuple[int, str]:
    """A person with this Bluesky account linked; a sign-in token to their space."""
    return linked_with_space(engine, Network.BLUESKY, who.did, who.handle)


def portal(
    bluesky: BlueskyDevNetwork, database_url: str, bot: BskyPerson | None = None
) -> BackgroundApp:
    """The portal on loopback (its OAuth client the loopback one); with ``bot``, the
    Bluesky bot too (it tells people's servers when a grant is over)."""
    assert bluesky.urls is not None
    background = BackgroundApp()
    with_bot: dict[str, Any] = {}
    if bot is not None:
        with_bot = {"bsky_pds_url": bluesky.urls.pds, "bsky_handle": bot.handle,
                    "bsky_app_password": PASSWORD, "bsky_chat_proxy": None}  # fmt: skip
    allow = (urlsplit(bluesky.urls.pds).netloc,)
    settings = Settings(
        database_url=database_url, secret_key=KEY, public_url=background.url,
        bsky_plc_url=bluesky.urls.plc, outbound_allow=allow, **with_bot,
    )  # fmt: skip
    return background.start(create_app(settings))


class Bot:
    """The bot's account, and the Bluesky adapter that delivers as it."""

    def __init__(self, bluesky: BlueskyDevNetwork, engine: Engine) -> None:
        assert bluesky.urls is not None
        self.account = create_person(bluesky, f"hqxbot{next(_names)}")
        self.outbound = OutboundClient(Policy.of([], [bluesky.urls.pds]))
        self.adapter = BlueskyAdapter(
            Stores.of(engine, KEY), bluesky.urls.pds, self.account.handle, PASSWORD,
            session_key=KEY, outbound=self.outbound,
        )  # fmt: skip


@pytest.fixture
def bot(bluesky: BlueskyDevNetwork, engine: Engine) -> Bot:
    return Bot(bluesky, engine)


def follow(bot: Bot, grant: int, contact: BskyPerson, attempt: int = 1) -> str:
    action = FollowAccount(grant, contact.handle, 99, contact.did)
    # The same outbox row each attempt: its id and its time make the record key.
    outgoing = Outgoing(action, f"follow:{grant}:99", 4242, QUEUED_AT, attempt)

    async def deliver() -> str:
        # One loop for the whole delivery: the adapter's sessions belong to the loop.
        await bot.adapter.start()
        try:
            return (await bot.adapter.deliver(outgoing)).remote_ref
        finally:
            await bot.adapter.close()
            await bot.outbound.close()

    return asyncio.run(deliver())


def follows_of(bluesky: BlueskyDevNetwork, who: BskyPerson) -> list[str]:
    """Whom the AppView shows ``who`` following."""
    bluesky.process_all()
    found = who.client.app.bsky.graph.get_follows({"actor": who.did})
    return [f.did for f in found.follows]


def follow_records(who: BskyPerson) -> int:
    """Follow records in ``who``'s own repository."""
    found = who.client.com.atproto.repo.list_records(
        {"repo": who.did, "collection": "app.bsky.graph.follow"}
    )
    return len(found.records)


def authorize(browser: Browser) -> bool:
    """Press the PDS's "Authorize" button, if it is there and still attached."""
    try:
        for button in browser.driver.find_elements(By.CSS_SELECTOR, "button"):
            if button.text.strip() == "Authorize":
                button.click()
                return True
    except StaleElementReferenceException:
        return False
    return False


def typed(browser: Browser, selector: str, text: str) -> bool:
    """Type ``text`` into the field ``selector``, once it is there and stays attached."""
    try:
        found = browser.driver.find_elements(By.CSS_SELECTOR, selector)
        if not found:
            return False
        found[0].clear()
        found[0].send_keys(text)
    except StaleElementReferenceException:
        return False
    return True


def the_grant(engine: Engine) -> FollowGrant:
    with Session(engine) as session:
        return session.exec(select(FollowGrant)).one()


def test_oauth_in_the_browser_then_follows_made_as_the_person_once(
    bluesky: BlueskyDevNetwork, engine: Engine, database_url: str, bot: Bot,
    tmp_path: Path,
) -> None:  # fmt: skip
    alice = create_person(bluesky, f"alice{next(_names)}")
    bob = create_person(bluesky, f"bob{next(_names)}")
    person, token = linked(engine, alice)
    service = portal(bluesky, database_url)
    browser = Browser(tmp_path / "profile", tmp_path / "downloads")
    try:
        browser.open(f"{service.url}/me/signin/{token}")
        browser.press("main form button")
        browser.until(lambda: browser.path == "/me", "the space")
        browser.press("form[action^='/me/follows/bluesky?'] button")
        # The PDS's own pages: the handle is filled in from our request, the password is hers.
        # It renders more than once too: a field found may go stale; type again.
        browser.until(lambda: typed(browser, "input[type=password]", PASSWORD),
                      "the PDS's sign-in page, the password typed")  # fmt: skip
        browser.press("button[type=submit]")
        # The consent page renders more than once: a button found may go stale; try again.
        browser.until(lambda: authorize(browser), "the PDS's consent page, authorized")
        browser.until(lambda: browser.path == "/me", "back in the space")
        assert f"Allowed on bluesky for {alice.handle}." in browser.text()
    finally:
        browser.close()
        service.stop()
    grant = the_grant(engine)
    with Session(engine) as session:
        opened = grants.token(session, KEY, grant.id or 0)
        consent = session.get_one(Consent, (person, Purpose.FOLLOWS_ON_BEHALF))
    assert opened is not None and consent.granted
    kept = Grant.loads(opened.token)
    assert (kept.kind, kept.did, grant.subject) == ("oauth", alice.did, alice.did)
    assert kept.access not in grant.token and kept.dpop["d"] not in grant.token, "sealed"

    first = follow(bot, grant.id or 0, bob)
    again = follow(bot, grant.id or 0, bob, attempt=2)  # a crash before it was recorded
    assert first == again and first.startswith(f"at://{alice.did}/app.bsky.graph.follow/")
    assert follows_of(bluesky, alice) == [bob.did], "Alice follows Bob"
    assert follow_records(alice) == 1, "once"
    assert follow_records(bot.account) == 0, "never the bot"

    # Taken back from her space: the PDS is told, the tokens it gave stop working.
    with Session(engine) as session, session.begin():
        again_token = uploads.issue(session, person, now=utcnow(), purpose=uploads.SPACE)
    service = portal(bluesky, database_url, bot.account)

    async def take_back() -> int:
        jar = aiohttp.CookieJar(unsafe=True)  # the portal is on 127.0.0.1
        async with aiohttp.ClientSession(cookie_jar=jar) as client:
            page = await sign_in(client, again_token, service.url)
            form = {"csrf": csrf_of(page)}
            await client.post(f"{service.url}/me/follows/{grant.id}/revoke", data=form)
            record = {"repo": alice.did, "collection": "app.bsky.graph.follow",
                      "record": {"$type": "app.bsky.graph.follow", "subject": bot.account.did,
                                 "createdAt": "2026-11-30T00:00:00Z"}}  # fmt: skip
            pds = OutboundClient(Policy.of([], [kept.pds]))
            try:
                answer, _ = await acting.call(pds, kept, "com.atproto.repo.createRecord", record)
            finally:
                await pds.close()
            return answer.status

    try:
        assert asyncio.run(take_back()) == 401, "the old access token is refused"
    finally:
        service.stop()
    with Session(engine) as session:
        assert session.exec(select(FollowGrant)).all() == [], "forgotten here"


def test_an_app_password_is_the_fallback_and_a_password_is_refused(
    bluesky: BlueskyDevNetwork, engine: Engine, database_url: str, bot: Bot
) -> None:
    alice = create_person(bluesky, f"alice{next(_names)}")
    carol = create_person(bluesky, f"carol{next(_names)}")
    _, token = linked(engine, alice)
    app_password = alice.client.com.atproto.server.create_app_password({"name": "hqx"}).password
    service = portal(bluesky, database_url)

    async def scene() -> list[tuple[int, str]]:
        jar = aiohttp.CookieJar(unsafe=True)  # the portal is on 127.0.0.1
        async with aiohttp.ClientSession(cookie_jar=jar) as client:
            page = await sign_in(client, token, service.url)
            answers = []
            for password in (PASSWORD, "not-the-password", app_password):
                answer = await client.post(
                    f"{service.url}/me/follows/bluesky/password?lang=en",
                    data={"csrf": csrf_of(page), "app_password": password},
                )
                answers.append((answer.status, await answer.text()))
            return answers

    try:
        own, wrong, app = asyncio.run(scene())
    finally:
        service.stop()
    assert own[0] == 400 and "that is the account password, not an app password" in own[1]
    assert wrong[0] == 400 and "the PDS refused this app password" in wrong[1]
    assert app[0] == 200 and f"Allowed on bluesky for {alice.handle}." in app[1]
    grant = the_grant(engine)
    assert grant.scope == "app-password"
    follow(bot, grant.id or 0, carol)
    assert follows_of(bluesky, alice) == [carol.did]

    with Session(engine) as session, session.begin():
        grants.revoke(session, grant.person_id, grant.id or 0)
    with pytest.raises(DeliveryError, match="revoked the grant") as refused:
        follow(bot, grant.id or 0, carol, attempt=3)
    assert refused.value.permanent
