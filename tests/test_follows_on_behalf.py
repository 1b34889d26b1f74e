"""Follows on a person's behalf, Mastodon: the grant from their space (OAuth 2.0 with PKCE on
their own server, the Mastodon-API test server on loopback), the follows made with their
token, never repeated and paced; taking it back."""

from __future__ import annotations

import asyncio
import html
import re
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from bsky_service.adapter import BlueskyAdapter
from hqx.outbound import OutboundClient
from mastodon_bot.adapter import MastodonAdapter
from shared import outbox
from shared.actions import FollowAccount
from shared.bot import privacy
from shared.bot.handlers import default_registry
from shared.clock import utcnow
from shared.db.models import (
    Consent,
    Delivery,
    FollowGrant,
    GrantRevocation,
    OutboundAction,
    Person,
    ReconnectRun,
)
from shared.errors import HqxError
from shared.outbound import Policy
from shared.portal import uploads
from shared.protocol import DeliveryError, Outgoing, Pace
from shared.reconnection import follows, grants
from shared.reconnection.suggestions import Contact
from shared.service import Service
from shared.stores import Stores
from shared.vocabulary import Network, Purpose
from tests.fakes import FakeAdapter
from tests.linked import linked_with_space
from tests.mastodon_world import MastodonWorld
from tests.test_portal_space import KEY, csrf_of, portal, sign_in
from testworld.mastodon.profiles import PROFILES

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient
    from sqlalchemy.engine import Engine

    from testworld.mastodon.server import Account


def linked(engine: Engine, mastodon: MastodonWorld, account: Account) -> tuple[int, str]:
    """A person with this Mastodon account linked; a sign-in token to their space."""
    server = mastodon.server
    handle = f"{account.username}@{server.domain}"
    return linked_with_space(engine, Network.MASTODON, server.actor_id(account), handle)


def space_token(engine: Engine, person: int) -> str:
    with Session(engine) as session, session.begin():
        return uploads.issue(session, person, now=utcnow(), purpose=uploads.SPACE)


def onward_of(status: int, page: str) -> str:
    """Where the page that leads on to the person's server leads (at once, by its refresh;
    by its button without)."""
    assert status == 200, page
    refresh = re.search(r'<meta http-equiv="refresh" content="0; url=([^"]+)">', page)
    button = re.search(r'<a class="button" href="([^"]+)">', page)
    assert refresh and button and refresh.group(1) == button.group(1), page
    return html.unescape(refresh.group(1))


async def grant_flow(client: TestClient[Any, Any], token: str) -> aiohttp.ClientResponse:
    """Sign in to the space, connect Mastodon, authorize on the server (whoever is signed
    in there), come back: the callback's answer."""
    page = await sign_in(client, token)
    started = await client.post(
        "/me/follows/mastodon?lang=en", data={"csrf": csrf_of(page)}, allow_redirects=False
    )
    authorize = onward_of(started.status, await started.text())
    asked = parse_qs(urlsplit(authorize).query)
    assert asked["scope"] == ["read:accounts read:search write:follows"], "the smallest scopes"
    assert asked["code_challenge_method"] == ["S256"] and asked["code_challenge"]
    async with aiohttp.ClientSession() as browser:
        approved = await browser.get(authorize, allow_redirects=False)
    assert approved.status == 302, await approved.text()
    back = urlsplit(approved.headers["Location"])
    assert back.path == "/me/follows/mastodon/callback"
    return await client.get(f"{back.path}?{back.query}", allow_redirects=False)


def with_bot(mastodon: MastodonWorld) -> dict[str, Any]:
    """The portal's settings with the Mastodon bot on the test server (which tells people's
    servers when a grant is over); the server, the operator's own, is reached on loopback."""
    return {"mastodon_api_base_url": mastodon.url, "mastodon_access_token": mastodon.bot.token}


def test_a_person_lets_the_service_follow_for_them_then_takes_it_back(
    engine: Engine, database_url: str, mastodon: MastodonWorld
) -> None:
    server = mastodon.server
    person, token = linked(engine, mastodon, mastodon.alice)
    again = space_token(engine, person)
    server.oauth.sign_in(mastodon.alice)

    async def scene(client: TestClient[Any, Any]) -> str:
        done = await grant_flow(client, token)
        assert done.status == 303 and done.headers["Location"] == "/me?saved=1&lang=en"
        page = await (await client.get("/me?lang=en")).text()
        assert f"Allowed on mastodon for alice@{server.domain}." in page
        assert "Follows made: 0; to come: 0; impossible: 0." in page
        return page

    portal(database_url, scene, **with_bot(mastodon))
    with Session(engine) as session:
        [grant] = session.exec(select(FollowGrant)).all()
        consent = session.get_one(Consent, (person, Purpose.FOLLOWS_ON_BEHALF))
        opened = grants.token(session, KEY, grant.id or 0)
    assert consent.granted, "connecting is asking for follows"
    assert opened is not None and opened.token in server.oauth.tokens
    assert opened.token not in grant.token, "sealed at rest"
    assert len(server.oauth.apps) == 1

    async def revoke(client: TestClient[Any, Any]) -> None:
        page = await sign_in(client, again)
        form = {"csrf": csrf_of(page)}
        await client.post(f"/me/follows/{grant.id}/revoke", data=form, allow_redirects=False)

    portal(database_url, revoke, **with_bot(mastodon))
    assert opened.token not in server.oauth.tokens, "the server was told"
    with Session(engine) as session:
        assert session.exec(select(FollowGrant)).all() == []


def test_a_token_for_another_account_is_refused_and_given_back(
    engine: Engine, database_url: str, mastodon: MastodonWorld
) -> None:
    server = mastodon.server
    _, token = linked(engine, mastodon, mastodon.alice)
    server.oauth.sign_in(server.create_account("mallory"))

    async def scene(client: TestClient[Any, Any]) -> tuple[int, str]:
        done = await grant_flow(client, token)
        return done.status, await done.text()

    status, page = portal(database_url, scene, **with_bot(mastodon))
    assert status == 400 and "that is not the Mastodon account linked here" in page
    assert server.oauth.tokens == {}, "the token was revoked on the server"
    with Session(engine) as session:
        assert session.exec(select(FollowGrant)).all() == []


# A server whose version string parses as no version (a fork, a development build).
NO_VERSION = replace(PROFILES["mastodon"], name="no-version", version="")


@pytest.mark.parametrize("profile", ["mastodon", "gotosocial", "akkoma", "no-version"])
def test_follows_are_made_with_the_persons_token_once_and_stop_when_revoked(
    engine: Engine, database_url: str, profile: str
) -> None:
    """On each kind of server: the grant with the smallest scopes those servers ask (each
    endpoint checks its own), the follow with the person's token (found as ``@user@host``:
    GoToSocial finds no bare address with a port; an odd version string stops nothing)."""
    mastodon = MastodonWorld(PROFILES.get(profile, NO_VERSION))
    try:
        follows_with_the_persons_token(engine, database_url, mastodon)
    finally:
        mastodon.stop()


@pytest.mark.parametrize("profile", ["mastodon", "gotosocial", "akkoma", "no-version"])
def test_whom_a_person_already_follows_is_read_on_each_server(db: Engine, profile: str) -> None:
    """At the cutover the bot reads whom each person follows already (left out of what is
    delivered): on GoToSocial too, and whatever version string the server reports."""
    mastodon = MastodonWorld(PROFILES.get(profile, NO_VERSION))
    try:
        bob = mastodon.server.create_account("bob")
        mastodon.server.follows[(mastodon.alice.id, bob.id)] = "following"
        adapter = MastodonAdapter(Stores.of(db, KEY), mastodon.url, mastodon.bot.token)

        async def read() -> frozenset[str]:
            await adapter.start()
            try:
                alice = f"alice@{mastodon.server.domain}"
                return await adapter.follows(mastodon.server.actor_id(mastodon.alice), alice)
            finally:
                await adapter.close()

        assert asyncio.run(read()) == {mastodon.server.actor_id(bob)}
    finally:
        mastodon.stop()


def follows_with_the_persons_token(
    engine: Engine, database_url: str, mastodon: MastodonWorld
) -> None:
    server = mastodon.server
    bob = server.create_account("bob")
    person, token = linked(engine, mastodon, mastodon.alice)
    server.oauth.sign_in(mastodon.alice)
    portal(database_url, lambda client: grant_flow(client, token), **with_bot(mastodon))
    with Session(engine) as session:
        [grant] = session.exec(select(FollowGrant)).all()
    outbound = OutboundClient(Policy.of([], [mastodon.url]))
    adapter = MastodonAdapter(
        Stores.of(engine, KEY), mastodon.url, mastodon.bot.token, outbound=outbound
    )
    follow = FollowAccount(grant.id or 0, f"bob@{server.domain}", 99)

    def outgoing(attempt: int) -> Outgoing:
        return Outgoing(follow, f"follow:{grant.id}:bob", 1, utcnow(), attempt)

    async def deliver(attempt: int) -> str:
        try:
            return (await adapter.deliver(outgoing(attempt))).remote_ref
        finally:
            await outbound.close()

    delivered = asyncio.run(deliver(1))
    assert delivered == bob.id
    assert server.follows[(mastodon.alice.id, bob.id)] == "following", "Alice follows Bob"
    assert (mastodon.bot.id, bob.id) not in server.follows, "never the bot"
    with Session(engine) as session, session.begin():
        grants.revoke(session, person, grant.id or 0)
    with pytest.raises(DeliveryError, match="revoked the grant") as refused:
        asyncio.run(deliver(2))
    assert refused.value.permanent


def test_bluesky_follows_keep_to_the_hourly_and_the_daily_points(engine: Engine) -> None:
    """5,000 points an hour and 35,000 a day, 3 a follow: 1,500 an hour, 10,000 a day (here
    scaled down to 3 and 7)."""
    hour, day = timedelta(hours=1), timedelta(days=1)
    assert BlueskyAdapter.follow_pace == (Pace(1_500, hour), Pace(10_000, day))
    with Session(engine) as session, session.begin():
        people = [Person() for _ in range(9)]
        session.add_all(people)
        run = ReconnectRun(key="cutover", kind="cutover")
        session.add(run)
        session.flush()
        alice, *others = [p.id or 0 for p in people]
        session.add(Consent(person_id=alice, purpose=Purpose.FOLLOWS_ON_BEHALF, granted=True))
        acting = grants.Token("https://pds.test", "t", "did:plc:alice")
        grants.grant(session, KEY, person_id=alice, network=Network.BLUESKY, acting_as=acting,
                     scope="atproto")  # fmt: skip
        contacts = [Contact(n, f"did:plc:c{n}", f"c{n}.test") for n in others]
        now = utcnow()
        made = follows.follow_for(session, network=Network.BLUESKY, person_id=alice,
                                  subject="did:plc:alice", contacts=contacts, now=now,
                                  pace=(Pace(3, hour), Pace(7, day)))  # fmt: skip
        assert made == set(others)
    with Session(engine) as session:
        queued = session.exec(select(OutboundAction).order_by(col(OutboundAction.id))).all()
    hours = [(a.not_before - now) // hour for a in queued]
    assert hours == [0, 0, 0, 1, 1, 1, 2, 24], "3 an hour; the 8th waits for the next day"


def test_follows_wait_for_consent_and_grant_and_keep_to_the_daily_limit(engine: Engine) -> None:
    assert MastodonAdapter.follow_pace == (Pace(400, timedelta(days=1)),)
    with Session(engine) as session, session.begin():
        people = [Person() for _ in range(4)]
        session.add_all(people)
        session.flush()
        run = ReconnectRun(key="cutover", kind="cutover")
        session.add(run)
        session.flush()
        alice, *contacts = [p.id or 0 for p in people]
        addresses = [Contact(c, f"https://m.test/users/c{c}", f"c{c}@m.test") for c in contacts]
        now = utcnow()
        asked: dict[str, Any] = {"network": Network.MASTODON, "person_id": alice,
                                 "subject": "s",
                                 "pace": (Pace(2, timedelta(days=1)),)}  # fmt: skip
        assert follows.follow_for(session, contacts=addresses, now=now, **asked) == set()
        session.add(Consent(person_id=alice, purpose=Purpose.FOLLOWS_ON_BEHALF, granted=True))
        assert follows.follow_for(session, contacts=addresses, now=now, **asked) == set(), (
            "no grant"
        )
        acting = grants.Token("https://m.test", "t", "s")
        grants.grant(
            session, KEY, person_id=alice, network=Network.MASTODON, acting_as=acting, scope="r"
        )
        made = follows.follow_for(session, contacts=addresses, now=now, **asked)
        assert made == set(contacts)
        session.add_all(  # as the delivery pass records them
            Delivery(person_id=alice, contact_id=c, network=Network.MASTODON,
                     via=follows.FOLLOWED, run_id=run.id)
            for c in made
        )  # fmt: skip
    with Session(engine) as session:
        queued = session.exec(select(OutboundAction).order_by(col(OutboundAction.id))).all()
    assert [a.kind for a in queued] == ["follow"] * 3
    days = [(a.not_before - now) // timedelta(days=1) for a in queued]
    assert days == [0, 0, 1], "two a day: the third waits for the next day"
    assert all("token" not in str(a.payload) for a in queued), "the outbox holds no secret"
    assert queued[0].payload["subject"] == f"https://m.test/users/c{contacts[0]}"

    # The person's server cannot follow the first: that contact is due again, by message.
    outbox.mark_failed(engine, queued[0].id or 0, "unknown to the server")
    with Session(engine) as session, session.begin():
        left = {d.contact_id for d in session.exec(select(Delivery)).all()}
        assert left == set(contacts[1:])
        again = follows.follow_for(session, contacts=addresses[:1], now=now, **asked)
        assert again == set(), "never tried twice: left to the suggestion"


def test_forms_lead_nowhere_but_the_portal_a_page_leads_on_to_the_server(
    engine: Engine, database_url: str, mastodon: MastodonWorld
) -> None:
    """Browsers apply ``form-action`` to where a form's answer redirects: the way to the
    person's server is a page of the portal that leads on, and forms stay on the portal."""
    _, token = linked(engine, mastodon, mastodon.alice)

    async def scene(client: TestClient[Any, Any]) -> tuple[str, str, int, str]:
        page = await sign_in(client, token)
        mine = await client.get("/me")
        started = await client.post("/me/follows/mastodon", data={"csrf": csrf_of(page)})
        text = await started.text()
        return mine.headers["Content-Security-Policy"], started.headers["Cache-Control"], \
            started.status, text  # fmt: skip

    policy, cache, status, page = portal(database_url, scene, **with_bot(mastodon))
    assert "form-action 'self';" in policy
    assert onward_of(status, page).startswith(f"{mastodon.url}/oauth/authorize?")
    assert cache == "no-store", "the address carries the flow's state"


def test_erasing_everything_takes_the_grant_back_at_the_server(
    engine: Engine, database_url: str, mastodon: MastodonWorld
) -> None:
    """ "Erase everything" tells the person's server, as "take the permission back" does:
    the token stops working there, nothing of it stays here."""
    server = mastodon.server
    person, token = linked(engine, mastodon, mastodon.alice)
    again = space_token(engine, person)
    server.oauth.sign_in(mastodon.alice)
    portal(database_url, lambda client: grant_flow(client, token), **with_bot(mastodon))
    with Session(engine) as session:
        [grant] = session.exec(select(FollowGrant)).all()
        opened = grants.token(session, KEY, grant.id or 0)
    assert opened is not None and opened.token in server.oauth.tokens

    async def erase(client: TestClient[Any, Any]) -> tuple[int, str]:
        page = await sign_in(client, again)
        form = {"csrf": csrf_of(page), "confirm": "erase"}
        erased = await client.post("/me/erase?lang=en", data=form)
        return erased.status, await erased.text()

    status, page = portal(database_url, erase, **with_bot(mastodon))
    assert status == 200 and "could not be withdrawn" not in page
    assert opened.token not in server.oauth.tokens, "the server was told"
    with Session(engine) as session:
        assert session.exec(select(FollowGrant)).all() == []
        assert session.exec(select(GrantRevocation)).all() == [], "nothing of it is kept"


class _Unreachable(FakeAdapter):
    """A network whose servers cannot be told at first, then can."""

    def __init__(self) -> None:
        super().__init__()
        self.reachable = False
        self.revoked: list[str] = []

    async def revoke_grant(self, grant: grants.Token) -> None:
        if not self.reachable:
            raise HqxError(f"{grant.server} could not be reached")
        self.revoked.append(grant.token)


def test_a_grant_whose_server_is_away_is_taken_back_later(engine: Engine) -> None:
    adapter = _Unreachable()
    service = Service(engine, [adapter], default_registry(), KEY)
    with Session(engine) as session, session.begin():
        person = Person()
        session.add(person)
        session.flush()
        acting = grants.Token("https://m.test", "tok-1", "https://m.test/users/a")
        grants.grant(session, KEY, person_id=person.id or 0, network=Network.MASTODON,
                     acting_as=acting, scope="s")  # fmt: skip
        session.flush()
        privacy.erase(session, person.id or 0)
    assert asyncio.run(service.tell_revocations()) == ["https://m.test"], "said which"
    with Session(engine) as session:
        [waiting] = session.exec(select(GrantRevocation)).all()
        assert waiting.attempts == 1 and "could not be reached" in waiting.last_error
        assert "tok-1" not in waiting.token, "still sealed"
    assert asyncio.run(service.tell_revocations()) == [], "not due yet: asked again later"
    adapter.reachable = True
    with Session(engine) as session, session.begin():
        session.execute(update(GrantRevocation).values(next_at=utcnow()))
    assert asyncio.run(service.tell_revocations()) == []
    assert adapter.revoked == ["tok-1"]
    with Session(engine) as session:
        assert session.exec(select(GrantRevocation)).all() == []
