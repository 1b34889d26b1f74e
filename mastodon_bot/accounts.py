"""Who is who on the fediverse, as the Mastodon bot sees it: an account's address written in
full (``user@domain``), its stable id (its ActivityPub id, from the server or from WebFinger),
a search that finds accounts of other servers, and the accounts stored by earlier versions
under their profile URL moved to their id."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mastodon_bot import webfinger
from shared.errors import HqxError
from shared.vocabulary import Network

if TYPE_CHECKING:
    from collections.abc import Mapping

    import aiohttp
    from mastodon import Mastodon

    from shared.outbound import Outbound
    from shared.stores import Stores

log = logging.getLogger(__name__)

# Actor ids found through WebFinger, kept for this many accounts.
ACTOR_CACHE_SIZE = 10_000
MIGRATED_KEY = "mastodon:ids-migrated"


class Directory:
    """The bot server's view of accounts (``domain``: the bot's server, once read)."""

    def __init__(
        self,
        api: Mastodon,
        base_url: str,
        stores: Stores,
        outbound: Outbound | None,
        deadline_sec: float,
    ) -> None:
        self._api, self._base_url, self._stores = api, base_url, stores
        self._outbound, self._deadline_sec = outbound, deadline_sec
        self.domain = ""
        self.http: aiohttp.ClientSession | None = None
        """The bot's own pool, to ask its server's WebFinger (open while started)."""
        self._actor_ids: dict[str, str | None] = {}
        """Actor ids found through WebFinger, by ``user@domain``, oldest first."""

    def full_acct(self, acct: str) -> str:
        """``user@domain`` whether the server wrote the domain for local accounts or not."""
        return acct if "@" in acct else f"{acct}@{self.domain}"

    async def subject(self, account: Mapping[str, Any]) -> str | None:
        """An account's stable id: its ActivityPub id, from ``uri``, else from WebFinger's
        ``self`` link (GoToSocial and Akkoma write no ``uri``); ``None``: no such account.

        Raises:
            HqxError: WebFinger cannot be asked now.
        """
        if account.get("uri"):
            return str(account["uri"])
        acct = self.full_acct(str(account["acct"]))
        if acct not in self._actor_ids:
            self._actor_ids[acct] = await self.webfinger(acct)
            while len(self._actor_ids) > ACTOR_CACHE_SIZE:
                self._actor_ids.pop(next(iter(self._actor_ids)))
        return self._actor_ids[acct]

    async def webfinger(self, acct: str) -> str | None:
        """The actor id WebFinger gives for ``acct`` (:mod:`mastodon_bot.webfinger`)."""
        if self.http is None:
            raise HqxError("Mastodon: the bot has not started yet")
        return await webfinger.actor_id(
            acct, own_domain=self.domain, own_base_url=self._base_url, own_http=self.http,
            outbound=self._outbound, deadline_sec=self._deadline_sec,
        )  # fmt: skip

    def search(self, handle: str) -> Any:
        """Search with webfinger resolution: finds accounts of other servers too (blocking:
        Mastodon.py's call; run it in a thread)."""
        # ``@user@host``: GoToSocial finds an address only with its leading ``@``.
        # ``exclude_unreviewed=False`` (it only concerns hashtags) keeps Mastodon.py from
        # checking the server's version, which fails on a version string it cannot parse.
        results = self._api.search_v2(
            "@" + handle.lstrip("@"), resolve=True, result_type="accounts", limit=5,
            exclude_unreviewed=False,
        )  # fmt: skip
        for account in results.accounts:
            if self.full_acct(account.acct).casefold() == handle.casefold():
                return account
        return None

    async def migrate_stored_ids(self) -> int:
        """Once per database: accounts that earlier versions stored under their profile URL
        (``https://host/@user``, where the server wrote no ``uri``) are moved to their
        ActivityPub id, found through WebFinger; return how many. One that cannot be found
        now is moved at its next post instead."""
        if await self._stores.state.load(MIGRATED_KEY) is not None:
            return 0
        moved = 0
        for account in await self._stores.accounts.stored(Network.MASTODON):
            if "/@" not in urlsplit(account.subject).path:
                continue  # an ActivityPub id already
            try:
                actor = await self.webfinger(account.handle)
            except HqxError as e:
                log.info("Mastodon: %s stays under its profile URL for now (%s)", account.handle, e)
                continue
            if actor is not None and await self._stores.accounts.rekey(
                Network.MASTODON, account.subject, actor
            ):
                moved += 1
        await self._stores.state.save(MIGRATED_KEY, datetime.now(UTC).isoformat())
        if moved:
            log.info("Mastodon: %d accounts moved from their profile URL to their id", moved)
        return moved
