"""The Bluesky adapter: reads mentions and replies from notifications, answers in thread.

- Sessions are reused across restarts (stored in the database): createSession is limited to
  30 per 5 minutes and 300 a day per account.
- Notifications are read newest first down to a persisted watermark, less an overlap: the
  AppView's ``indexedAt`` is a sort time that may be the post's own ``createdAt``, so a
  post indexed late can sort before posts already read. Repeats are dropped here (recent
  ones, in memory) and by the core (across restarts).
- A reply's record key is a TID derived from its outbound action: after a crash it is looked
  up before being created again, so it is posted once.
- Direct messages go through the chat service the PDS proxies to (``HQX_BSKY_CHAT_PROXY``):
  unread conversations are read, and a request made by message is answered by message. A
  message has no idempotency key: after a crash, the conversation is read before resending.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from atproto import AsyncClient, SessionEvent, client_utils, models
from atproto_client.exceptions import (
    AtProtocolError,
    BadRequestError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.request import AsyncRequest

from bsky_service import acting, oauth
from bsky_service.oauth import Grant, OAuthError
from bsky_service.tid import tid, tid_of
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
from shared.db.models import Network, iso_utc
from shared.errors import HqxError
from shared.identity import attestation
from shared.identity.accounts import Account
from shared.protocol import (
    Author,
    Delivered,
    DeliveryError,
    IncomingPost,
    Outgoing,
    Protocol,
    ReceiveError,
    ThrottledError,
    WriteBudget,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    import httpx
    from atproto_client.client.session import Session as AtSession

    from shared.outbound import Outbound
    from shared.reconnection import grants
    from shared.stores import Stores


log = logging.getLogger(__name__)

POLL_INTERVAL_SEC = 2.0
SESSION_PURPOSE = "bluesky session"
NOTIFICATIONS_PAGE = 100
ADDRESSED_REASONS = ("mention", "reply")
POST = "app.bsky.feed.post"
PROFILE = "app.bsky.actor.profile"
POST_MAX_GRAPHEMES = 300
BOT_LABEL = "bot"
RATE_LIMIT_FALLBACK_SEC = 60.0
DECLARATION = "chat.bsky.actor.declaration"
MESSAGE_MAX_GRAPHEMES = 1000  # what the Bluesky app allows (the lexicon: 10,000 bytes)
CHAT_PAGE = 50
WATERMARK_OVERLAP = timedelta(minutes=2)
PROFILES_PAGE = 25  # app.bsky.actor.getProfiles takes at most 25 actors
RATE_LIMIT_HEADERS = ("ratelimit-remaining", "ratelimit-reset")
LIST = "app.bsky.graph.list"
LIST_ITEM = "app.bsky.graph.listitem"
STARTER_PACK = "app.bsky.graph.starterpack"
REFERENCE_LIST = "app.bsky.graph.defs#referencelist"
LIST_NAME_MAX = 64
PACK_NAME_MAX = 50
FOLLOWS_PAGE = 100
FOLLOWS_MAX_PAGES = 100  # 10,000 follows: past that, the rest is not checked
# The record keys of a collection's records are TIDs of a moment long past (no post of the
# bot's has one), derived from the collection's id and the member's place: written again,
# a record lands on the same key.
COLLECTION_EPOCH_MICROS = 1_672_531_200_000_000  # 2023-01-01T00:00:00Z
COLLECTION_SLOTS = 4096
CREATE_COST = 3  # points a created record costs of the bot's write budget
# A chat service that fails is asked again after this, doubling up to the cap.
CHAT_RETRY_FIRST_SEC = 10.0
CHAT_RETRY_MAX_SEC = 600.0


class WriteLimits:
    """The PDS's rate-limit headers on the bot's writes, as last read: a batch that would
    overdraw the window waits for its reset instead of being refused (a 429 costs the
    attempt, and a refused ``applyWrites`` writes nothing)."""

    def __init__(self) -> None:
        self.remaining: int | None = None
        self.reset_at: datetime | None = None

    async def read(self, response: httpx.Response) -> None:
        """An httpx response hook: keep the window of repository writes."""
        if "/xrpc/com.atproto.repo." not in response.request.url.path:
            return
        remaining, reset = (response.headers.get(h) for h in RATE_LIMIT_HEADERS)
        if remaining is None or reset is None:
            return  # a PDS that sends none (a self-hosted one may not)
        try:
            self.remaining = int(remaining)
            self.reset_at = datetime.fromtimestamp(int(reset), UTC)
        except ValueError:
            return

    def check(self, cost: int, now: datetime) -> None:
        """Raise :class:`DeliveryError` (retry at the reset) when ``cost`` points would
        overdraw what the window has left."""
        if self.remaining is None or self.reset_at is None or self.reset_at <= now:
            return
        if self.remaining < cost:
            raise DeliveryError(
                f"Bluesky write budget: {self.remaining} points left, {cost} needed, "
                f"until {self.reset_at.isoformat()}",
                retry_at=self.reset_at,
            )


class BlueskyAdapter(Protocol):
    """The bot's account on a PDS, driven through the atproto SDK's async client."""

    network = Network.BLUESKY
    delivers = frozenset(KINDS.values())  # every kind of action there is
    write_budget = WriteBudget(per_hour=5_000, per_day=35_000)
    message_cost = 3  # a reply is a post created (a private message costs nothing)

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
        self._handed_over: dict[str, datetime] = {}
        """Notifications handed over within the overlap window: URI -> sort time."""
        self._since: datetime | None = None
        """Nothing sorted before this is answered: the first start on this database."""
        self._chat_retry_at = 0.0
        self._chat_delay_sec = CHAT_RETRY_FIRST_SEC
        self._chat_failing: str | None = None
        self._people_http = outbound
        """Requests to people's own PDSes, as them (follows on their behalf)."""
        self._grant_locks: dict[int, asyncio.Lock] = {}
        """One renewal of a grant's tokens at a time (a refresh token is used once)."""

    @property
    def bot_handle(self) -> str:
        return self._handle

    def _new_client(self) -> AsyncClient:
        """The SDK's client, reading the rate-limit headers of every answer."""
        request = AsyncRequest(event_hooks={"response": [self._limits.read]})
        return AsyncClient(base_url=f"{self._pds_url}/xrpc", request=request)

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
            await self._label_as_bot()
            await self._declare_messages("all" if self._chat_proxy is not None else "none")
            await self._first_start()
        except RequestErrorBase as e:
            raise HqxError(
                f"Bluesky: cannot log in as {self._handle} at {self._pds_url}: {e}"
            ) from e
        log.info("Bluesky bot running as %s (%s)", self._handle, self._did)

    async def _login(self) -> None:
        saved = await self._stores.state.load(self._key("session"))
        session = None
        if saved is not None and self._session_key is not None:
            session = sealed.unseal(self._session_key, SESSION_PURPOSE, saved)
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

    async def _label_as_bot(self) -> None:
        """Self-label the profile ``bot``, as Bluesky's bot guidelines ask; keep the rest."""
        try:
            current = await self._client.com.atproto.repo.get_record(
                {"repo": self.did, "collection": PROFILE, "rkey": "self"}
            )
            profile: dict[str, Any] = _as_dict(current.value)
            swap: str | None = current.cid
        except BadRequestError:  # RecordNotFound: the account has no profile yet
            profile = {"$type": PROFILE, "displayName": "HelloQuitteX"}
            swap = None
        labels = profile.get("labels") or {}
        values = [v.get("val") for v in labels.get("values", [])]
        if BOT_LABEL in values:
            return
        profile["labels"] = {
            "$type": "com.atproto.label.defs#selfLabels",
            "values": [*labels.get("values", []), {"val": BOT_LABEL}],
        }
        await self._client.com.atproto.repo.put_record(
            {
                "repo": self.did,
                "collection": PROFILE,
                "rkey": "self",
                "record": profile,
                "swapRecord": swap,
            }
        )

    async def _first_start(self) -> None:
        """On a database that has never seen this bot account, answer only what comes from
        now on (less the catch-up window); a known database resumes where it was."""
        key = self._key("since")
        saved = await self._stores.state.load(key)
        if saved is None:
            saved = (datetime.now(UTC) - self._catch_up).isoformat()
            await self._stores.state.save(key, saved)
            log.info("Bluesky: first start on this database; answering from %s", saved)
        self._since = datetime.fromisoformat(saved)

    async def _declare_messages(self, allow: str) -> None:
        """Say who may write to the bot: everyone while it reads messages, nobody when the
        operator turned them off (``chat.bsky.actor.declaration``); written only on change."""
        try:
            current = await self._client.com.atproto.repo.get_record(
                {"repo": self.did, "collection": DECLARATION, "rkey": "self"}
            )
            if _as_dict(current.value).get("allowIncoming") == allow:
                return
        except BadRequestError:
            pass  # no declaration yet
        await self._client.com.atproto.repo.put_record(
            {
                "repo": self.did,
                "collection": DECLARATION,
                "rkey": "self",
                "record": {"$type": DECLARATION, "allowIncoming": allow},
            }
        )

    def _chat(self) -> Any:
        """The ``chat.bsky.convo`` namespace, through the PDS's proxy to the chat service: the
        bot's own client (one connection pool, one session) with the proxy header on each
        call. (The SDK's ``with_proxy`` would open a new connection pool every time.)"""
        assert self._chat_proxy is not None  # noqa: S101  (callers check)
        return _Proxied(self._client.chat.bsky.convo, {"atproto-proxy": self._chat_proxy})

    async def close(self) -> None:
        await self._client.request.close()

    def health(self) -> dict[str, str]:
        receiving = f"polling every {self._poll_interval_sec:g} s"
        if self._chat_proxy is None:
            return {"receiving": receiving, "messages": "off"}
        messages = "on" if self._chat_failing is None else f"failing: {self._chat_failing}"
        return {"receiving": receiving, "messages": messages}

    async def receive_forever(self, receive: Callable[[IncomingPost], Awaitable[None]]) -> None:
        try:
            while True:
                await self.poll_once(receive)
                if self._chat_proxy is not None and time.monotonic() >= self._chat_retry_at:
                    await self._poll_chat(receive)
                await asyncio.sleep(self._poll_interval_sec)
        except UnauthorizedError as e:  # the session could not even be refreshed
            raise ReceiveError(
                f"Bluesky: {self._pds_url} refuses the bot's credentials ({e})", permanent=True
            ) from e
        except RequestErrorBase as e:
            raise ReceiveError(f"Bluesky: reading notifications failed ({e})") from e

    async def _poll_chat(self, receive: Callable[[IncomingPost], Awaitable[None]]) -> None:
        """Read messages; a chat service that fails is said once and asked again later,
        less and less often, so that mentions never wait on it and the log stays quiet."""
        try:
            await self.poll_messages(receive)
        except RequestErrorBase as e:
            if self._chat_failing is None:
                log.warning("Bluesky chat unavailable (%s): answering mentions only", e)
            self._chat_failing = str(e) or type(e).__name__
            self._chat_retry_at = time.monotonic() + self._chat_delay_sec
            self._chat_delay_sec = min(self._chat_delay_sec * 2, CHAT_RETRY_MAX_SEC)
            return
        if self._chat_failing is not None:
            log.info("Bluesky chat is back")
        self._chat_failing, self._chat_delay_sec = None, CHAT_RETRY_FIRST_SEC

    async def poll_messages(self, receive: Callable[[IncomingPost], Awaitable[None]]) -> int:
        """Hand over the new messages of unread conversations, oldest first; mark them read."""
        chat, handled = self._chat(), 0
        listed = await chat.list_convos({"limit": CHAT_PAGE})
        for convo in listed.convos:
            if not convo.unread_count:
                continue
            handles = {member.did: member.handle for member in convo.members}
            key = self._key(f"chat:{convo.id}")
            seen = await self._stores.state.load(key)
            page = await chat.get_messages({"convoId": convo.id, "limit": CHAT_PAGE})
            fresh = [
                m
                for m in page.messages
                if getattr(m, "text", None) is not None
                and m.sender.did != self.did
                and (seen is None or m.rev > seen)
            ]
            for message in sorted(fresh, key=lambda m: m.rev):
                sender = message.sender.did
                await receive(
                    IncomingPost(
                        network=Network.BLUESKY,
                        post_id=f"chat:{convo.id}:{message.id}",
                        author=Author(subject=sender, handle=handles.get(sender, sender)),
                        text=" ".join(message.text.split()),
                        direct=True,
                        created_at=_parse(message.sent_at),
                        reply_context={"convo_id": convo.id},
                    )
                )
                await self._stores.state.save(key, message.rev)
                handled += 1
            await chat.update_read({"convoId": convo.id})
        return handled

    async def poll_once(self, receive: Callable[[IncomingPost], Awaitable[None]]) -> int:
        """Hand over every addressed notification not handed over yet; return how many."""
        seen_at = iso_utc(datetime.now(UTC))  # taken before fetching: nothing is marked unseen
        key = self._key("notifications")
        saved = await self._stores.state.load(key)
        watermark = datetime.fromisoformat(saved) if saved else None
        fresh = [
            n
            for n in await self._notifications_since(watermark)
            if n.uri not in self._handed_over
            and (self._since is None or _parse(n.indexed_at) >= self._since)
        ]
        for notification in sorted(fresh, key=lambda n: _parse(n.indexed_at)):
            post = self._incoming(notification)
            if post is not None:
                await receive(post)
            sort_time = _parse(notification.indexed_at)
            self._handed_over[notification.uri] = sort_time
            if watermark is None or sort_time > watermark:
                watermark = sort_time
                await self._stores.state.save(key, watermark.isoformat())
        if watermark is not None:
            self._forget_before(watermark - WATERMARK_OVERLAP)
        if fresh:
            await self._client.app.bsky.notification.update_seen({"seenAt": seen_at})
        return len(fresh)

    def _forget_before(self, moment: datetime) -> None:
        for uri in [u for u, t in self._handed_over.items() if t < moment]:
            del self._handed_over[uri]

    async def _notifications_since(
        self, watermark: datetime | None
    ) -> list[models.AppBskyNotificationListNotifications.Notification]:
        floor = watermark - WATERMARK_OVERLAP if watermark is not None else None
        oldest = max((t for t in (floor, self._since) if t is not None), default=None)
        fresh: list[models.AppBskyNotificationListNotifications.Notification] = []
        cursor: str | None = None
        while True:
            page = await self._client.app.bsky.notification.list_notifications(
                {"limit": NOTIFICATIONS_PAGE, "cursor": cursor, "reasons": list(ADDRESSED_REASONS)}
            )
            for notification in page.notifications:
                if oldest is not None and _parse(notification.indexed_at) < oldest:
                    return fresh
                fresh.append(notification)
            if not page.cursor or not page.notifications:
                return fresh
            cursor = page.cursor

    def _incoming(
        self, notification: models.AppBskyNotificationListNotifications.Notification
    ) -> IncomingPost | None:
        record = notification.record
        if notification.reason not in ADDRESSED_REASONS or not isinstance(
            record, models.AppBskyFeedPost.Record
        ):
            return None
        if notification.author.did == self.did:
            return None
        if notification.reason == "reply" and not self._answers_the_bot(record):
            return None
        root = record.reply.root if record.reply else None
        return IncomingPost(
            network=Network.BLUESKY,
            post_id=notification.uri,
            author=Author(subject=notification.author.did, handle=notification.author.handle),
            text=_without_mention_of(record, self.did),
            languages=tuple(record.langs or ()),
            created_at=_parse(record.created_at),
            url=_web_url(notification.author.handle, notification.uri),
            reply_context={
                "uri": notification.uri,
                "cid": notification.cid,
                "root_uri": root.uri if root else notification.uri,
                "root_cid": root.cid if root else notification.cid,
            },
        )

    def _answers_the_bot(self, record: models.AppBskyFeedPost.Record) -> bool:
        """A reply addresses the bot only when its parent is the bot's own post."""
        parent = record.reply.parent.uri if record.reply else ""
        return parent.startswith(f"at://{self.did}/")

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
                return await self._reply(outgoing, action)
            case DirectMessage():
                return await self._message(outgoing, action.to, action.text, None)
            case Delete():
                return await self._delete(action.ref)
            case WriteAttestation():
                return await self._attest(action.rkey, action.record)
            case WithdrawAttestation():
                return await self._delete(f"at://{self.did}/{attestation.COLLECTION}/{action.rkey}")
            case WriteCollection():
                return await self._collect(outgoing, action)
            case WithdrawMembers():
                return await self._uncollect(action)
            case FollowAccount():
                return await self._follow_for(outgoing, action)
        raise DeliveryError(f"Bluesky cannot deliver {action.kind!r}", permanent=True)

    async def _follow_for(self, outgoing: Outgoing, action: FollowAccount) -> Delivered:
        """Follow with the person's own grant, on their own PDS, under a record key fixed by
        the action: made again after a crash, it is the same follow."""
        if self._people_http is None:
            raise DeliveryError("no client for people's servers: follows are off", permanent=True)
        if not action.subject.startswith("did:"):
            raise DeliveryError(f"no DID to follow for {action.account}", permanent=True)
        lock = self._grant_locks.setdefault(action.grant, asyncio.Lock())
        try:
            async with lock:
                grant = await self._renewed_grant(self._people_http, action.grant)
            rkey = tid(outgoing.created_at, outgoing.action_id)
            uri, _ = await acting.follow(
                self._people_http, grant, action.subject, rkey, iso_utc(outgoing.created_at)
            )
        except acting.ActingError as e:
            retry_at = None
            if e.retry_after is not None:
                retry_at = datetime.now(UTC) + timedelta(seconds=e.retry_after)
            raise DeliveryError(str(e), permanent=e.permanent, retry_at=retry_at) from e
        except OAuthError as e:  # their PDS could not be reached: try again later
            raise DeliveryError(f"following for a person: {e}") from e
        return Delivered(uri)

    async def _renewed_grant(self, http: Outbound, grant_id: int) -> Grant:
        """The person's grant, its tokens renewed (and the renewal kept at once: the old
        refresh token no longer works)."""
        opened = await self._stores.grants.token(grant_id)
        if opened is None:
            raise acting.ActingError("the person revoked the grant to follow for them",
                                     permanent=True)  # fmt: skip
        grant = Grant.loads(opened.token)
        signer = oauth.client_key(self._session_key) if self._session_key else None
        fresh = await acting.renewed(http, grant, signer)
        if fresh is not grant:
            await self._stores.grants.renew(grant_id, fresh.dumps())
        return fresh

    async def revoke_grant(self, grant: grants.Token) -> None:
        """Tell the person's servers their grant is over: OAuth tokens revoked, or the app
        password's session deleted."""
        if self._people_http is None:
            raise HqxError("Bluesky: no client for people's servers")
        signer = oauth.client_key(self._session_key) if self._session_key else None
        try:
            await acting.end(self._people_http, Grant.loads(grant.token), signer)
        except OAuthError as e:
            raise HqxError(f"Bluesky: {e}") from e

    async def _collect(self, outgoing: Outgoing, action: WriteCollection) -> Delivered:
        """A list with its starter pack, and/or members added to it, in one ``applyWrites``:
        all of it or nothing is written, so after a crash, finding its first record means
        it was all written."""
        list_rkey = collection_rkey(action.collection, 0)
        list_uri = f"at://{self.did}/{LIST}/{list_rkey}"
        moment = iso_utc(outgoing.created_at)
        writes: list[tuple[str, str, dict[str, Any]]] = []
        if action.create:
            writes.append((LIST, list_rkey, {
                "$type": LIST, "purpose": REFERENCE_LIST, "name": action.name[:LIST_NAME_MAX],
                "description": action.description, "createdAt": moment,
            }))  # fmt: skip
            writes.append((STARTER_PACK, collection_rkey(action.collection, 1), {
                "$type": STARTER_PACK, "name": action.name[:PACK_NAME_MAX],
                "description": action.description, "list": list_uri, "createdAt": moment,
            }))  # fmt: skip
        for member in action.members:
            rkey = collection_rkey(action.collection, 2 + member.seq)
            writes.append((LIST_ITEM, rkey, {
                "$type": LIST_ITEM, "subject": member.subject, "list": list_uri,
                "createdAt": moment,
            }))  # fmt: skip
        if not writes:
            return Delivered(list_uri)
        first_collection, first_rkey, _ = writes[0]
        if outgoing.attempts > 1 and await self._exists(first_rkey, first_collection):
            return Delivered(list_uri)
        self._limits.check(len(writes) * CREATE_COST, datetime.now(UTC))
        try:
            await self._client.com.atproto.repo.apply_writes(
                models.ComAtprotoRepoApplyWrites.Data(
                    repo=self.did,
                    writes=[
                        models.ComAtprotoRepoApplyWrites.Create(
                            collection=collection, rkey=rkey, value=value
                        )
                        for collection, rkey, value in writes
                    ],
                )
            )
        except (RateLimitExceededError, BadRequestError):
            raise
        except RequestErrorBase:
            if await self._exists(first_rkey, first_collection):  # written, answer lost
                return Delivered(list_uri)
            raise
        return Delivered(list_uri)

    async def _uncollect(self, action: WithdrawMembers) -> Delivered:
        """Delete a collection's items (and with ``drop`` its pack and list), one record at
        a time: deleting a record that is gone succeeds, so a retry is harmless."""
        records = [(LIST_ITEM, collection_rkey(action.collection, 2 + s)) for s in action.seqs]
        if action.drop:
            records += [
                (STARTER_PACK, collection_rkey(action.collection, 1)),
                (LIST, collection_rkey(action.collection, 0)),
            ]
        for collection, rkey in records:
            await self._client.com.atproto.repo.delete_record(
                {"repo": self.did, "collection": collection, "rkey": rkey}
            )
        return Delivered(f"at://{self.did}/{LIST}/{collection_rkey(action.collection, 0)}")

    async def _attest(self, rkey: str, record: dict[str, Any]) -> Delivered:
        """Write (or rewrite) an attestation; a put under a fixed key is idempotent."""
        written = await self._client.com.atproto.repo.put_record(
            {
                "repo": self.did,
                "collection": attestation.COLLECTION,
                "rkey": rkey,
                "record": record,
                "validate": False,  # our lexicon: the PDS does not know it
            }
        )
        return Delivered(written.uri)

    async def _message(
        self, outgoing: Outgoing, to: Recipient, text: str, convo_id: str | None
    ) -> Delivered:
        """A message in the conversation ``convo_id`` (one a request came from), else in
        the bot's conversation with ``to`` (opened if need be)."""
        if self._chat_proxy is None:
            raise DeliveryError("Bluesky direct messages are turned off", permanent=True)
        text = _fit(text, MESSAGE_MAX_GRAPHEMES)
        chat = self._chat()
        if convo_id is None:
            convo_id = (await chat.get_convo_for_members({"members": [to.subject]})).convo.id
        if outgoing.attempts > 1:  # it may have been sent before a crash: look first
            page = await chat.get_messages({"convoId": convo_id, "limit": CHAT_PAGE})
            for message in page.messages:
                if message.sender.did == self.did and getattr(message, "text", None) == text:
                    return Delivered(f"chat:{convo_id}:{message.id}")
        sent = await chat.send_message({"convoId": convo_id, "message": {"text": text}})
        return Delivered(f"chat:{convo_id}:{sent.id}")

    async def _delete(self, uri: str) -> Delivered:
        """Delete one of the bot's records (deleting a missing record succeeds: idempotent).
        A direct message cannot be taken back from its reader: there is nothing to delete."""
        if uri.startswith("chat:"):
            return Delivered(uri)
        repo, collection, rkey = uri.removeprefix("at://").split("/")
        if repo != self.did:
            raise DeliveryError(f"{uri} is not the bot's to delete", permanent=True)
        await self._client.com.atproto.repo.delete_record(
            {"repo": repo, "collection": collection, "rkey": rkey}
        )
        return Delivered(uri)

    async def _reply(self, outgoing: Outgoing, reply: Reply) -> Delivered:
        rkey = tid(outgoing.created_at, outgoing.action_id)
        uri = f"at://{self.did}/{POST}/{rkey}"
        # A retry may follow a crash after the post was made: look before posting again.
        if outgoing.attempts > 1 and await self._exists(rkey):
            return Delivered(uri)
        record = _reply_record(reply, outgoing.created_at)
        try:
            await self._client.com.atproto.repo.create_record(
                {"repo": self.did, "collection": POST, "rkey": rkey, "record": record}
            )
        except (RateLimitExceededError, BadRequestError):
            raise
        except RequestErrorBase:
            # The PDS answers 500 when the key exists: the post may have been made.
            if await self._exists(rkey):
                return Delivered(uri)
            raise
        return Delivered(uri)

    async def _exists(self, rkey: str, collection: str = POST) -> bool:
        try:
            await self._client.com.atproto.repo.get_record(
                {"repo": self.did, "collection": collection, "rkey": rkey}
            )
        except BadRequestError:
            return False
        return True


class _Proxied:
    """A namespace of the SDK whose every call carries ``headers``."""

    def __init__(self, namespace: Any, headers: dict[str, str]) -> None:
        self._namespace, self._headers = namespace, headers

    def __getattr__(self, name: str) -> Any:
        return functools.partial(getattr(self._namespace, name), headers=self._headers)


def collection_rkey(collection: int, slot: int) -> str:
    """The record key of a collection's record: slot 0 its list, 1 its starter pack, 2 and
    on its members in order."""
    if not 0 <= slot < COLLECTION_SLOTS:
        raise DeliveryError(f"collection {collection} has no slot {slot}", permanent=True)
    return tid_of(COLLECTION_EPOCH_MICROS + collection * COLLECTION_SLOTS + slot, 0)


def _rate_limited(error: RateLimitExceededError) -> DeliveryError:
    """A 429: try again when the window resets (the headers say when)."""
    fallback = datetime.now(UTC) + timedelta(seconds=RATE_LIMIT_FALLBACK_SEC)
    reset = error.reset_at or fallback
    return DeliveryError(f"Bluesky rate limit until {reset.isoformat()}", retry_at=reset)


def _reply_record(reply: Reply, created_at: datetime) -> models.AppBskyFeedPost.Record:
    """The reply record: a mention of the person, the text, and the thread references."""
    context = reply.context
    mention = f"@{reply.to.handle}"
    text = _fit(reply.text, POST_MAX_GRAPHEMES - len(mention) - 1)
    builder = client_utils.TextBuilder().mention(mention, reply.to.subject).text(f" {text}")
    return models.AppBskyFeedPost.Record(
        text=builder.build_text(),
        facets=builder.build_facets(),
        langs=[reply.lang],
        created_at=iso_utc(created_at),
        reply=models.AppBskyFeedPost.ReplyRef(
            root=models.ComAtprotoRepoStrongRef.Main(
                uri=context["root_uri"], cid=context["root_cid"]
            ),
            parent=models.ComAtprotoRepoStrongRef.Main(uri=context["uri"], cid=context["cid"]),
        ),
    )


def _web_url(handle: str, uri: str) -> str:
    return f"https://bsky.app/profile/{handle}/post/{uri.rsplit('/', 1)[-1]}"


def _fit(text: str, limit: int) -> str:
    # Code points stand in for graphemes: our texts hold no combining sequences.
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _without_mention_of(record: models.AppBskyFeedPost.Record, did: str) -> str:
    """The post's text with the bot's mention facets cut out (facets index UTF-8 bytes)."""
    data = record.text.encode()
    spans = sorted(
        (facet.index.byte_start, facet.index.byte_end)
        for facet in record.facets or []
        if any(getattr(feature, "did", None) == did for feature in facet.features)
    )
    kept, position = bytearray(), 0
    for start, end in spans:
        kept += data[position:start]
        position = max(position, end)
    kept += data[position:]
    return " ".join(kept.decode(errors="replace").split())


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return dict(value)
    dumped: dict[str, Any] = value.model_dump(by_alias=True, exclude_none=True)
    return dumped


def _parse(moment: str) -> datetime:
    parsed = datetime.fromisoformat(moment)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
