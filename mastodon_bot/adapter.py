"""The Mastodon adapter: mentions and direct statuses from notifications, answers in thread.

Mastodon.py is synchronous (requests), so every call runs in a worker thread. It is built with
``version_check_mode="none"``: servers that report their own version (GoToSocial, Takahe)
would otherwise be refused, and ``instance()`` is never called (against such a server
Mastodon.py's ``instance()`` recurses without end); ``instance_v2()``/``instance_v1()`` are.
How it hears (:mod:`.receiving`), who is who (:mod:`.accounts`), its statuses
(:mod:`.statuses`) and people's own servers, as them (:mod:`.acting`) have a module each.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from mastodon_bot.accounts import Directory
from mastodon_bot.acting import PeopleServers
from mastodon_bot.receiving import Receiver
from mastodon_bot.statuses import Statuses
from mastodon_bot.text import html_to_text
from shared.actions import Delete, DirectMessage, FollowAccount, Reply
from shared.errors import HqxError
from shared.identity.accounts import Account
from shared.protocol import (
    Author,
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
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

    from shared.outbound import Outbound
    from shared.reconnection import grants
    from shared.stores import Stores


log = logging.getLogger(__name__)

# 30 requests per 5 minutes: a tenth of Mastodon's 300 per token, room for everything else.
POLL_INTERVAL_SEC = 10.0
PAGE_LIMIT = 40
REQUEST_TIMEOUT_SEC = 30.0
DEFAULT_MAX_CHARACTERS = 500
# A first start's catch-up, and reading from the beginning, stop after this many pages.
CATCH_UP_MAX_PAGES = 25
RATE_LIMIT_FALLBACK_SEC = 300.0
FOLLOWING_PAGE = 80  # Mastodon's largest page of accounts
FOLLOWING_MAX_PAGES = 50
# Requests of the window (300 per 5 minutes) never spent on reading follows.
READS_RESERVE = 60


class MastodonAdapter(Protocol):
    """The bot's account on a Mastodon-API server."""

    network = Network.MASTODON
    delivers = frozenset({Reply, DirectMessage, Delete, FollowAccount})
    # 300 statuses per 3 hours per account: 100 an hour, 2,400 a day.
    write_budget = WriteBudget(per_hour=100, per_day=2_400)
    message_cost = 1
    # Mastodon lets an account follow 400 accounts a day.
    follow_pace = (Pace(400, timedelta(days=1)),)

    def __init__(
        self,
        stores: Stores,
        api_base_url: str,
        access_token: str,
        poll_interval_sec: float = POLL_INTERVAL_SEC,
        catch_up: timedelta = timedelta(0),
        outbound: Outbound | None = None,
    ) -> None:
        """``catch_up``: on a first start (a database that has never seen this bot account),
        also answer the mentions this old; a known database resumes where it stopped.
        ``stores``: what the adapter keeps and reads of the database (its watermark, people's
        grants to follow for them, accounts to move to their ids).
        ``outbound``: the service's guarded client, for every server but the bot's own
        (people's servers, other servers' WebFinger); ``None``: those are not asked."""
        self._stores = stores
        self._outbound = outbound
        self._people = PeopleServers(stores.grants, outbound, REQUEST_TIMEOUT_SEC)
        self._catch_up = catch_up
        self._base_url = api_base_url.rstrip("/")
        self._poll_interval_sec = poll_interval_sec
        self._api = Mastodon(
            access_token=access_token,
            api_base_url=self._base_url,
            version_check_mode="none",
            ratelimit_method="throw",
            request_timeout=REQUEST_TIMEOUT_SEC,
        )
        self._http: aiohttp.ClientSession | None = None
        self._advertised_streaming: str | None = None
        self._receiver = Receiver(self._base_url, access_token, poll_interval_sec,
                                  self.poll_once, self.pause_sec, self._incoming)  # fmt: skip
        self._accounts = Directory(self._api, self._base_url, stores, outbound, REQUEST_TIMEOUT_SEC)
        self._me: Any = None
        self._max_characters = DEFAULT_MAX_CHARACTERS

    @property
    def streaming(self) -> asyncio.Event:
        """Set while the user stream is connected."""
        return self._receiver.streaming

    @property
    def _domain(self) -> str:
        return self._accounts.domain

    @property
    def bot_handle(self) -> str:
        return f"{self._me.username}@{self._domain}" if self._me else ""

    @property
    def account_id(self) -> str:
        """The bot's account id on its server (known once started)."""
        if self._me is None:
            raise HqxError("the Mastodon bot has not started yet")
        return str(self._me.id)

    async def start(self) -> None:
        try:
            self._me = await asyncio.to_thread(self._api.account_verify_credentials)
            await self._read_instance()
            if not self._me.bot:
                self._me = await asyncio.to_thread(self._api.account_update_credentials, bot=True)
            self._http = self._accounts.http = aiohttp.ClientSession()
            await self._first_start()
        except MastodonUnauthorizedError as e:
            raise HqxError(f"Mastodon: the access token is refused by {self._base_url}") from e
        except MastodonError as e:
            raise HqxError(f"Mastodon: cannot start the bot at {self._base_url}: {e}") from e
        log.info("Mastodon bot running as @%s", self.bot_handle)

    async def close(self) -> None:
        """Close both connection pools: aiohttp's (stream, WebFinger) and Mastodon.py's."""
        if self._http is not None:
            await self._http.close()
            self._http = self._accounts.http = None
        await asyncio.to_thread(self._api.session.close)

    async def _read_instance(self) -> None:
        try:
            instance = await asyncio.to_thread(self._api.instance_v2)
            self._accounts.domain = str(instance.domain)
            configuration = instance.configuration
            streaming = (configuration.get("urls") or {}).get("streaming")
        except (MastodonNotFoundError, MastodonAPIError, AttributeError, KeyError):
            instance = await asyncio.to_thread(self._api.instance_v1)  # servers without v2
            self._accounts.domain = (
                str(instance.uri).removeprefix("https://").removeprefix("http://")
            )
            configuration = instance.get("configuration") or {}
            streaming = (instance.get("urls") or {}).get("streaming_api")
        statuses = configuration.get("statuses") or {}
        self._max_characters = int(statuses.get("max_characters") or DEFAULT_MAX_CHARACTERS)
        self._advertised_streaming = str(streaming) if streaming else None

    def health(self) -> dict[str, str]:
        failing = {name: f"failing: {why}" for name, why in self._receiver.failing.items()}
        return {"receiving": self._receiver.status, **failing}

    async def receive_forever(self, receive: Callable[[IncomingPost], Awaitable[None]]) -> None:
        """The user stream, and polling: often while the stream is down, seldom while it is up
        (a reconnection may miss events). The core drops what both deliver. Either failing
        leaves the other running."""
        assert self._http is not None  # noqa: S101  (started)
        http, advertised, receiver = self._http, self._advertised_streaming, self._receiver
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(
                    receiver.supervised(
                        "stream", lambda: receiver.stream_forever(http, advertised, receive)
                    )
                )
                group.create_task(
                    receiver.supervised("polling", lambda: receiver.poll_forever(receive))
                )
                group.create_task(self._migrate_once(), name="migrate-ids")  # fmt: skip
        except ExceptionGroup as e:  # the core is told why, not handed a group
            refused = [x for x in e.exceptions if isinstance(x, ReceiveError)]
            if refused:
                raise refused[0] from e
            raise

    async def _migrate_once(self) -> None:
        try:
            await self.migrate_stored_ids()
        except Exception:  # receiving goes on; the next start tries again
            log.exception("Mastodon: moving stored accounts to their ids failed")

    async def migrate_stored_ids(self) -> int:
        """Accounts stored under their profile URL moved to their id (once per database)."""
        return await self._accounts.migrate_stored_ids()

    def pause_sec(self) -> float:
        """The poll interval, stretched when the server says the budget runs low: what is
        left of the window is shared out over the calls it still allows."""
        remaining = self._api.ratelimit_remaining
        reset = self._api.ratelimit_reset
        if remaining is None or reset is None:
            return self._poll_interval_sec
        window_left = max(float(reset) - datetime.now(UTC).timestamp(), 0.0)
        return max(self._poll_interval_sec, window_left / max(int(remaining), 1))

    @property
    def _watermark_key(self) -> str:
        return f"mastodon:{self._base_url}:{self.account_id}:notifications"

    async def _first_start(self) -> None:
        """On a database that has never seen this bot account, start from now: the newest
        notification older than the catch-up window is the watermark (``""``: there is none,
        every notification is new). A known database resumes where it was."""
        if await self._stores.state.load(self._watermark_key) is not None:
            return
        cutoff = _now() - self._catch_up
        watermark = ""  # nothing older: every notification is in the window
        async for page in self._pages_back():
            older = next((n for n in page if _moment(n.created_at) < cutoff), None)
            if older is not None:
                watermark = str(older.id)
                break
            # A full page: if the catch-up is capped here, start here; a short one is the
            # end: every notification is in the window.
            watermark = str(page[-1].id) if len(page) == PAGE_LIMIT else ""
        await self._stores.state.save(self._watermark_key, watermark)
        log.info("Mastodon: first start on this database; answering from %s", cutoff)

    async def poll_once(self, receive: Callable[[IncomingPost], Awaitable[None]]) -> int:
        """Hand over every mention after the persisted watermark, oldest first, moving the
        watermark past each; return how many."""
        key = self._watermark_key
        watermark = await self._stores.state.load(key) or ""
        handled = 0
        while True:
            page = await self._page_after(watermark)
            for notification in page:
                post = await self._incoming(notification)
                if post is not None:
                    await receive(post)
                    handled += 1
                watermark = str(notification.id)
                await self._stores.state.save(key, watermark)
            if len(page) < PAGE_LIMIT:
                return handled

    async def _page_after(self, watermark: str) -> list[Any]:
        """The mentions right after ``watermark``, oldest first. Pages come newest first; the
        order is the server's, ids are never compared here. ``""``: from the beginning."""
        if watermark:
            return list(reversed(await self._notifications_page(min_id=watermark)))
        return list(reversed([n async for page in self._pages_back() for n in page]))

    async def _pages_back(self) -> AsyncIterator[list[Any]]:
        """The mentions, newest first, a page at a time (each from the last one's end), up
        to :data:`CATCH_UP_MAX_PAGES`, until a page comes short."""
        max_id: str | None = None
        for _ in range(CATCH_UP_MAX_PAGES):
            page = await self._notifications_page(max_id=max_id)
            yield page
            if len(page) < PAGE_LIMIT:
                return
            max_id = str(page[-1].id)

    async def _notifications_page(
        self, *, min_id: str | None = None, max_id: str | None = None
    ) -> list[Any]:
        page = await asyncio.to_thread(
            self._api.notifications,
            types=["mention"],
            min_id=min_id,
            max_id=max_id,
            limit=PAGE_LIMIT,
        )
        return list(page)

    async def _incoming(self, notification: Mapping[str, Any]) -> IncomingPost | None:
        """The post a mention notification brings; from Mastodon.py or from the raw stream
        (plain JSON), so only mapping access is used.

        Raises:
            HqxError: the author's stable id cannot be found now (try again later).
        """
        status = notification.get("status")
        if notification.get("type") != "mention" or not status:
            return None
        account = status["account"]
        if str(account["id"]) == self.account_id:
            return None
        subject = await self._accounts.subject(account)
        if subject is None:
            return None  # the author is gone
        profile = str(account.get("url") or "")
        return IncomingPost(
            network=Network.MASTODON,
            post_id=str(status["id"]),
            author=Author(
                subject=subject,
                handle=self._accounts.full_acct(account["acct"]),
                former_subjects=(profile,) if profile and profile != subject else (),
            ),
            text=self._without_own_mention(html_to_text(status["content"])),
            languages=(status["language"],) if status.get("language") else (),
            direct=status["visibility"] == "direct",
            created_at=_moment(status["created_at"]),
            url=status.get("url"),
            edited=status.get("edited_at") is not None,
            reply_context={"status_id": str(status["id"]), "visibility": status["visibility"]},
        )

    def _without_own_mention(self, text: str) -> str:
        own = re.compile(
            rf"(?<![\w@])@{re.escape(self._me.username)}(@{re.escape(self._domain)})?(?![\w@])",
            re.IGNORECASE,
        )
        return " ".join(own.sub(" ", text).split())

    async def resolve(self, handle: str) -> Account | None:
        user, _, domain = handle.partition("@")
        local = not domain or domain.casefold() == self._domain.casefold()
        try:
            try:
                found = await asyncio.to_thread(self._api.account_lookup, user if local else handle)
            except MastodonNotFoundError:  # unknown here yet, or a server without lookup
                found = await asyncio.to_thread(self._accounts.search, handle)
            if (
                found is None
                or self._accounts.full_acct(found.acct).casefold() != handle.casefold()
            ):
                return None
            subject = await self._accounts.subject(found)
        except MastodonError as e:
            raise HqxError(f"Mastodon: cannot look up @{handle}: {e}") from e
        if subject is None:
            return None
        return Account(Network.MASTODON, subject, self._accounts.full_acct(found.acct))

    @property
    def text_limit(self) -> int:
        return self._max_characters

    async def follows(self, subject: str, handle: str) -> frozenset[str]:
        """Whom an account follows, as the bot's server knows it (for an account of another
        server, what that server told it), by ActivityPub id; the account's own server is
        asked by address: ``subject`` is not searchable."""
        del subject
        followed: set[str] = set()
        try:
            self._keep_for_answers()
            account = await asyncio.to_thread(self._accounts.search, handle)
            if account is None:
                return frozenset()
            self._keep_for_answers()
            page = await asyncio.to_thread(
                self._api.account_following, account.id, limit=FOLLOWING_PAGE
            )
            for _ in range(FOLLOWING_MAX_PAGES):
                if not page:
                    break
                for other in page:
                    found = await self._accounts.subject(other)
                    if found is not None:
                        followed.add(found)
                self._keep_for_answers()
                page = await asyncio.to_thread(self._api.fetch_next, page)
        except MastodonRatelimitError as e:
            raise ThrottledError(f"Mastodon: rate limited ({e})", until=self._reset()) from e
        except MastodonError as e:
            raise HqxError(f"Mastodon: cannot read whom {handle} follows: {e}") from e
        return frozenset(followed)

    def _keep_for_answers(self) -> None:
        """Raise :class:`ThrottledError` when what the window has left is what answering
        people needs: reading follows never starves the bot's answers."""
        remaining = self._api.ratelimit_remaining
        if remaining is not None and int(remaining) < READS_RESERVE:
            raise ThrottledError(
                f"Mastodon: {remaining} requests left in the window, kept for answers",
                until=self._reset(),
            )

    def _reset(self) -> datetime:
        """When the server's rate-limit window resets (as its headers said last)."""
        reset = self._api.ratelimit_reset
        if reset:
            return datetime.fromtimestamp(float(reset), UTC)
        return _now() + timedelta(seconds=RATE_LIMIT_FALLBACK_SEC)

    async def deliver(self, outgoing: Outgoing) -> Delivered:
        """One action; Mastodon.py's errors are converted here, once: a 429 waits for the
        window's reset, a 4xx refusal is permanent, a network or server error is retried."""
        action = outgoing.action
        try:
            match action:
                case Reply():
                    status_id = str(action.context["status_id"])
                    return await self._statuses().post(
                        outgoing, action.to, action.text, action.lang,
                        reply_to=status_id, direct=action.direct,
                    )  # fmt: skip
                case DirectMessage():
                    return await self._statuses().post(
                        outgoing, action.to, action.text, action.lang,
                        reply_to=None, direct=True,
                    )  # fmt: skip
                case Delete():
                    return await self._statuses().delete(action.ref)
                case FollowAccount():
                    return await self._people.follow(action)
        except MastodonRatelimitError as e:
            reset = self._api.ratelimit_reset
            retry_at = (
                datetime.fromtimestamp(reset, UTC)
                if reset
                else _now() + timedelta(seconds=RATE_LIMIT_FALLBACK_SEC)
            )
            raise DeliveryError(f"Mastodon rate limit until {retry_at}", retry_at=retry_at) from e
        except (MastodonNetworkError, MastodonServerError) as e:
            raise DeliveryError(f"Mastodon: {e}") from e
        except MastodonAPIError as e:  # 4xx: refused as it is
            raise DeliveryError(f"Mastodon refused the {action.kind}: {e}", permanent=True) from e
        raise DeliveryError(f"Mastodon cannot deliver {action.kind!r}", permanent=True)

    async def revoke_grant(self, grant: grants.Token) -> None:
        """Tell the person's server their grant is over (:mod:`mastodon_bot.acting`)."""
        await self._people.revoke(grant)

    def _statuses(self) -> Statuses:
        return Statuses(self._api, self.account_id, self._max_characters)


def _moment(value: datetime | str) -> datetime:
    """A date-time as Mastodon.py parses it, or as the raw API writes it."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    # Servers write offsets; one that does not means UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)
