"""Acting for people on their own Mastodon-API servers, with the grants they gave, through
the service's guarded client (a person's server is their word): following an account as
them, and telling their server a grant is over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mastodon_bot import oauth
from shared.errors import HqxError
from shared.outbound import OutboundError
from shared.protocol import Delivered, DeliveryError

if TYPE_CHECKING:
    from shared.actions import FollowAccount
    from shared.outbound import Outbound
    from shared.reconnection import grants
    from shared.stores import GrantStore

RATE_LIMIT_FALLBACK_SEC = 300.0


class PeopleServers:
    """People's own servers, as the adapter acts there for them."""

    def __init__(self, store: GrantStore, outbound: Outbound | None, deadline_sec: float) -> None:
        """``outbound``: ``None``: nobody's server is asked (follows are off)."""
        self._store = store
        self._outbound = outbound
        self._deadline_sec = deadline_sec

    async def follow(self, action: FollowAccount) -> Delivered:
        """Follow an account with the person's own token, on their own server: found there
        by a search that lets the server fetch it from its own (``resolve``), as a person's
        search would, and written ``@user@host`` (GoToSocial finds an address only with its
        leading ``@``); an account it cannot find is said so, for good."""
        acting = await self._store.token(action.grant)
        if acting is None:
            raise DeliveryError("the person revoked the grant to follow for them", permanent=True)
        if self._outbound is None:
            raise DeliveryError("no client for people's servers: follows are off", permanent=True)
        server, auth = acting.server, {"Authorization": f"Bearer {acting.token}"}
        found = await self._as_person(
            "GET", f"{server}/api/v2/search", auth,
            params={"q": "@" + action.account.lstrip("@"), "resolve": "true",
                    "type": "accounts", "limit": "5"},
        )  # fmt: skip
        accounts = found.get("accounts") if isinstance(found, dict) else None
        target = next((a for a in accounts or [] if _is(a, action, server)), None)
        if target is None:
            raise DeliveryError(f"{server} cannot find {action.account}", permanent=True)
        await self._as_person("POST", f"{server}/api/v1/accounts/{target['id']}/follow", auth)
        return Delivered(str(target["id"]))

    async def revoke(self, grant: grants.Token) -> None:
        """Tell the person's server their grant is over (the service's app there revokes
        the token).

        Raises:
            HqxError: it could not be told now.
        """
        client = await self._store.client(grant.server)
        if client is None or self._outbound is None:
            raise HqxError(f"Mastodon: the service's app on {grant.server} is not known here")
        try:
            await oauth.revoke(self._outbound, client, grant.token)
        except OutboundError as e:
            raise HqxError(f"Mastodon: {e}") from e

    async def _as_person(
        self, method: str, url: str, auth: dict[str, str], params: dict[str, str] | None = None
    ) -> Any:
        """A call to a person's server with their token; its errors as delivery errors."""
        assert self._outbound is not None  # noqa: S101  (callers check)
        try:
            answer = await self._outbound.request(
                method, url, headers=auth, params=params, deadline_sec=self._deadline_sec
            )
        except OutboundError as e:
            raise DeliveryError(f"Mastodon: {e}", permanent=e.reason == "refused") from e
        if answer.status == 429:
            raise DeliveryError(f"{url}: rate limited", retry_at=_reset(answer.headers))
        if answer.status >= 500:
            raise DeliveryError(f"{url} answered {answer.status}")
        if answer.status >= 400:
            raise DeliveryError(f"{url} refused: {answer.status}", permanent=True)
        try:
            return answer.json()
        except OutboundError as e:
            raise DeliveryError(f"{url}: {e}") from e


def _reset(headers: Any) -> datetime:
    """When a person's server says its rate-limit window resets (an ISO time)."""
    try:
        moment = datetime.fromisoformat(str(headers["x-ratelimit-reset"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return datetime.now(UTC) + timedelta(seconds=RATE_LIMIT_FALLBACK_SEC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _is(account: Any, action: FollowAccount, server: str) -> bool:
    """Whether a search's account is the contact: by its ActivityPub id where the server
    gives one (Mastodon's ``uri``), else by its address (a local ``acct`` has no domain)."""
    if action.subject and account.get("uri"):
        return bool(account["uri"] == action.subject)
    acct = str(account.get("acct", ""))
    if "@" not in acct:
        acct = f"{acct}@{urlsplit(server).netloc}"
    return acct.casefold() == action.account.casefold().lstrip("@")
