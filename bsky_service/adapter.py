"""The Bluesky adapter: the bot's account on a PDS, driven through the atproto SDK's async
client. What it reads and writes has a module each: mentions (:mod:`.notifications`),
messages (:mod:`.chat`), the bot's own records (:mod:`.repo`), people's PDSes, as them
(:mod:`.acting`).

- Sessions are reused across restarts (stored in the database): createSession is limited to
  30 per 5 minutes and 300 a day per account.
- Direct messages go through the chat service the PDS proxies to (``HQX_BSKY_CHAT_PROXY``):
  a request made by message is answered by message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from atproto import AsyncClient, SessionEvent
from atproto_client.exceptions import (
    AtProtocolError,
    BadRequestError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)

from bsky_service.acting import PeopleRepos
from bsky_service.chat import Chat, Outage
from bsky_service.notifications import Mentions
from bsky_service.repo import POST_MAX_GRAPHEMES, BotRepo, WriteLimits, collection_rkey
from bsky_service.session import SharedSessionClient, TransportRequest
from shared import sealed
from shared.actions import (
    KINDS,
    Delete,
    DirectMessage,
    FollowAccount,
    Recipient,
    Reply,
    WithdrawAttestation,
    WithdrawMembers,
    WriteAttestation,
    WriteCollection,
)
from shared.config import DEFAULT_BSKY_POLL_SEC
from shared.errors import HqxError
from shared.identity import attestation
from shared.identity.accounts import Account
from shared.protocol import (
    Delivered,
    DeliveryError,
    IncomingPost,
    Outgoing,
    Pace,
    Protocol,
    ReceiveError,
    ThrottledError,
    WriteBudget,
)
from shared.vocabulary import Network

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from atproto_client.client.session import Session as AtSession

    from shared.outbound import Outbound
    from shared.reconnection import grants
    from shared.stores import Stores


log = logging.getLogger(__name__)

POLL_INTERVAL_SEC = DEFAULT_BSKY_POLL_SEC
SESSION_PURPOSE = "bluesky session"
RATE_LIMIT_FALLBACK_SEC = 60.0
PROFILES_PAGE = 25  # app.bsky.actor.getProfiles takes at most 25 actors
FOLLOWS_PAGE = 100
FOLLOWS_MAX_PAGES = 100  # 10,000 follows: past that, the rest is not checked


class BlueskyAdapter(Protocol):
    """The bot's account on a PDS, driven through the atproto SDK's async client."""

    network = Network.BLUESKY
    delivers = frozenset(KINDS.values())  # every kind of action there is
    write_budget = WriteBudget(per_hour=5_000, per_day=35_000)
    message_cost = 3  # a reply is a post created (a private message costs nothing)
    # Bluesky counts points per account: 5,000 an hour, 35,000 a day, a follow costs 3;
    # a margin is left for what the person does themselves.
    follow_pace = (Pace(1_500, timedelta(hours=1)), Pace(10_000, timedelta(days=1)))

    def __init__(
        self,
        stores: Stores,
        pds_url: str,
        handle: str,
        app_password: str,
        poll_interval_sec: float = POLL_INTERVAL_SEC,
        chat_proxy: str | None = None,
        catch_up: timedelta = timedelta(0),
        session_key: str | None = None,
        outbound: Outbound | None = None,
    ) -> None:
        """``chat_proxy``: the chat service for direct messages (``None``: no messages; the
        bot declares it accepts none). ``catch_up``: on a first start (a database that has
        never seen this bot account), also answer the mentions this old. ``session_key``:
        the service's secret: it seals the session kept across restarts and opens people's
        grants to follow for them (``None``: no session kept, no follows for anyone).
        ``outbound``: the service's guarded client, for people's own PDSes (``None``: no
        follows for anyone)."""
        self._stores = stores
        self._catch_up = catch_up
        self._pds_url = pds_url.rstrip("/")
        self._handle = handle
        self._password = app_password
        self._poll_interval_sec = poll_interval_sec
        self._limits = WriteLimits()
        self._client = self._new_client()
        self._chat_proxy = chat_proxy
        self._session_key = session_key
        self._did: str | None = None
        self._mentions = Mentions(stores.state, self._key("notifications"))
        self._chat_outage = Outage()
        self._people = PeopleRepos(stores.grants, outbound, session_key)
        """People's own PDSes, as them (follows on their behalf)."""

    @property
    def bot_handle(self) -> str:
        return self._handle

    def _new_client(self) -> AsyncClient:
        """The SDK's client, reading the rate-limit headers of every answer, its session
        shared with the service's other processes."""
        request = TransportRequest(event_hooks={"response": [self._limits.read]})
        return SharedSessionClient(
            f"{self._pds_url}/xrpc", request, saved=self._saved_session,
            credentials=(self._handle, self._password),
        )  # fmt: skip

    @property
    def did(self) -> str:
        """The bot's DID (known once started)."""
        if self._did is None:
            raise HqxError("the Bluesky bot has not logged in yet")
        return self._did

    def _key(self, name: str) -> str:
        return f"bluesky:{self._handle}:{name}"

    async def start(self) -> None:
        # One client (one connection pool) per run: close() ends it, a new start opens one.
        self._client = self._new_client()
        self._client.on_session_change(self._session_changed)
        try:
            await self._login()
            await self._repo().label_as_bot()
            await self._repo().declare_messages("all" if self._chat_proxy else "none")
            await self._first_start()
        except RequestErrorBase as e:
            raise HqxError(
                f"Bluesky: cannot log in as {self._handle} at {self._pds_url}: {e}"
            ) from e
        log.info("Bluesky bot running as %s (%s)", self._handle, self._did)

    async def _saved_session(self) -> str | None:
        """The session the service's processes saved last, unsealed."""
        saved = await self._stores.state.load(self._key("session"))
        if saved is None or self._session_key is None:
            return None
        return sealed.unseal(self._session_key, SESSION_PURPOSE, saved)

    async def _login(self) -> None:
        session = await self._saved_session()
        if session is not None:
            try:
                await self._client.login(session_string=session, fetch_bsky_profile=False)
                self._did = (await self._client.com.atproto.server.get_session()).did
                return
            except AtProtocolError:
                log.info("the saved Bluesky session is no longer valid; logging in again")
        await self._client.login(self._handle, self._password, fetch_bsky_profile=False)
        self._did = (await self._client.com.atproto.server.get_session()).did

    async def _session_changed(self, event: SessionEvent, session: AtSession) -> None:
        """Keep the session, sealed, so a restart does not log in again (createSession is
        rate-limited); without a key to seal it, keep none."""
        if event in (SessionEvent.CREATE, SessionEvent.REFRESH) and self._session_key:
            kept = sealed.seal(self._session_key, SESSION_PURPOSE, session.encode())
            await self._stores.state.save(self._key("session"), kept)

    async def _first_start(self) -> None:
        """On a database that has never seen this bot account, answer only what comes from
        now on (less the catch-up window); a known database resumes where it was."""
        key = self._key("since")
        saved = await self._stores.state.load(key)
        if saved is None:
            saved = (datetime.now(UTC) - self._catch_up).isoformat()
            await self._stores.state.save(key, saved)
            log.info("Bluesky: first start on this database; answering from %s", saved)
        self._mentions.since = datetime.fromisoformat(saved)

    def _repo(self) -> BotRepo:
        """The bot's repository, through this run's client."""
        return BotRepo(self._client, self.did, self._limits)

    def _chat(self) -> Chat:
        """The bot's conversations, through this run's client."""
        assert self._chat_proxy is not None  # noqa: S101  (callers check)
        return Chat(self._client, self.did, self._chat_proxy, self._stores.state, self._key)

    async def close(self) -> None:
        await self._client.request.close()

    def health(self) -> dict[str, str]:
        receiving = f"polling every {self._poll_interval_sec:g} s"
        if self._chat_proxy is None:
            return {"receiving": receiving, "messages": "off"}
        failing = self._chat_outage.failing
        messages = "on" if failing is None else f"failing: {failing}"
        return {"receiving": receiving, "messages": messages}

    async def receive_forever(self, receive: Callable[[IncomingPost], Awaitable[None]]) -> None:
        try:
            while True:  # at a steady rate: the time a read takes is not added to the wait
                started = time.monotonic()
                await self.poll_once(receive)
                if self._chat_proxy is not None and self._chat_outage.due():
                    await self._poll_chat(receive)
                took = time.monotonic() - started
                await asyncio.sleep(max(0.0, self._poll_interval_sec - took))
        except UnauthorizedError as e:  # the session could not even be refreshed
            raise ReceiveError(
                f"Bluesky: {self._pds_url} refuses the bot's credentials ({e})", permanent=True
            ) from e
        except RequestErrorBase as e:
            raise ReceiveError(f"Bluesky: reading notifications failed ({e})") from e

    async def _poll_chat(self, receive: Callable[[IncomingPost], Awaitable[None]]) -> None:
        """Read messages; a chat service that fails is an outage, never the loop's end."""
        try:
            await self.poll_messages(receive)
        except RequestErrorBase as e:
            self._chat_outage.failed(e)
            return
        self._chat_outage.answered()

    async def poll_messages(self, receive: Callable[[IncomingPost], Awaitable[None]]) -> int:
        """Hand over the new messages of unread conversations, oldest first; mark them read."""
        return await self._chat().poll(receive)

    async def poll_once(self, receive: Callable[[IncomingPost], Awaitable[None]]) -> int:
        """Hand over every addressed notification not handed over yet; return how many."""
        return await self._mentions.poll(self._client, self.did, receive)

    async def resolve(self, handle: str) -> Account | None:
        try:
            did = (await self._client.com.atproto.identity.resolve_handle({"handle": handle})).did
            profile = await self._client.app.bsky.actor.get_profile({"actor": did})
        except BadRequestError:
            return None
        except RequestErrorBase as e:
            raise HqxError(f"Bluesky: cannot look up @{handle}: {e}") from e
        # The AppView checks that the DID document names the handle back; a handle it does
        # not confirm (it shows handle.invalid) names nobody.
        if profile.handle.casefold() != handle.casefold():
            return None
        return Account(Network.BLUESKY, did, profile.handle)

    async def current_handles(self, subjects: Sequence[str]) -> dict[str, str]:
        """Handles as the AppView verifies them (the DID document names the handle back);
        an account whose handle it cannot confirm (``handle.invalid``) is left out."""
        handles: dict[str, str] = {}
        for start in range(0, len(subjects), PROFILES_PAGE):
            actors = list(subjects[start : start + PROFILES_PAGE])
            try:
                found = await self._client.app.bsky.actor.get_profiles({"actors": actors})
            except RequestErrorBase as e:
                raise HqxError(f"Bluesky: cannot read profiles: {e}") from e
            for profile in found.profiles:
                if profile.handle != "handle.invalid":
                    handles[profile.did] = profile.handle
        return handles

    @property
    def text_limit(self) -> int:
        return POST_MAX_GRAPHEMES  # a reply in public; a message may hold more

    @property
    def messages(self) -> bool:
        return self._chat_proxy is not None

    def collection_url(self, collection: int) -> str | None:
        return f"https://bsky.app/starter-pack/{self._handle}/{collection_rkey(collection, 1)}"

    async def follows(self, subject: str, handle: str) -> frozenset[str]:
        """Whom ``subject`` follows, as the AppView lists it (``app.bsky.graph.getFollows``)."""
        del handle
        followed: set[str] = set()
        cursor: str | None = None
        try:
            for _ in range(FOLLOWS_MAX_PAGES):
                page = await self._client.app.bsky.graph.get_follows(
                    {"actor": subject, "limit": FOLLOWS_PAGE, "cursor": cursor}
                )
                followed.update(profile.did for profile in page.follows)
                cursor = page.cursor
                if not cursor or not page.follows:
                    break
        except RateLimitExceededError as e:
            until = _rate_limited(e).retry_at or datetime.now(UTC)
            raise ThrottledError(f"Bluesky: rate limited ({e})", until=until) from e
        except RequestErrorBase as e:
            raise HqxError(f"Bluesky: cannot read whom {subject} follows: {e}") from e
        return frozenset(followed)

    async def deliver(self, outgoing: Outgoing) -> Delivered:
        """One action; the SDK's errors are converted here, once: a 429 waits for its reset,
        a refusal (400: MessagesDisabled, InvalidConvo, a bad record) is permanent, anything
        else is tried again."""
        kind = outgoing.action.kind
        try:
            return await self._deliver(outgoing)
        except RateLimitExceededError as e:
            raise _rate_limited(e) from e
        except BadRequestError as e:
            raise DeliveryError(f"Bluesky refused the {kind}: {e}", permanent=True) from e
        except RequestErrorBase as e:
            raise DeliveryError(f"Bluesky: the {kind} failed: {e}") from e

    async def _deliver(self, outgoing: Outgoing) -> Delivered:
        action = outgoing.action
        match action:
            case Reply(direct=True):
                convo_id = action.context.get("convo_id")  # None: asked in public
                return await self._message(outgoing, action.to, action.text, convo_id)
            case Reply():
                return await self._repo().reply(outgoing, action)
            case DirectMessage():
                return await self._message(outgoing, action.to, action.text, None)
            case Delete() if action.ref.startswith("chat:"):
                return Delivered(action.ref)  # a message cannot be taken back from its reader
            case Delete():
                return await self._repo().delete(action.ref)
            case WriteAttestation():
                return await self._repo().attest(action.rkey, action.record)
            case WithdrawAttestation():
                uri = f"at://{self.did}/{attestation.COLLECTION}/{action.rkey}"
                return await self._repo().delete(uri)
            case WriteCollection():
                return await self._repo().collect(outgoing, action)
            case WithdrawMembers():
                return await self._repo().uncollect(action)
            case FollowAccount():
                return await self._people.follow(outgoing, action)
        raise DeliveryError(f"Bluesky cannot deliver {action.kind!r}", permanent=True)

    async def revoke_grant(self, grant: grants.Token) -> None:
        await self._people.revoke(grant)

    async def _message(
        self, outgoing: Outgoing, to: Recipient, text: str, convo_id: str | None
    ) -> Delivered:
        if self._chat_proxy is None:
            raise DeliveryError("Bluesky direct messages are turned off", permanent=True)
        return await self._chat().send(outgoing, to, text, convo_id)


def _rate_limited(error: RateLimitExceededError) -> DeliveryError:
    """A 429: try again when the window resets (the headers say when)."""
    fallback = datetime.now(UTC) + timedelta(seconds=RATE_LIMIT_FALLBACK_SEC)
    reset = error.reset_at or fallback
    return DeliveryError(f"Bluesky rate limit until {reset.isoformat()}", retry_at=reset)
