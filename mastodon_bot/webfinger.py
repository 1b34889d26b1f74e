"""WebFinger: the ActivityPub id of a fediverse address (``user@domain``), for servers that
write no ``uri`` on their accounts (GoToSocial, Akkoma). The bot's own server is asked
directly; any other through the service's guarded client (its domain is another server's
word)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp

from shared.errors import HqxError
from shared.outbound import OutboundError, RefusedAddressError, acct_domain

if TYPE_CHECKING:
    from shared.outbound import Outbound

DOCUMENT_MAX_BYTES = 64 * 1024
ACCEPT = {"Accept": "application/jrd+json"}


async def actor_id(
    acct: str,
    *,
    own_domain: str,
    own_base_url: str,
    own_http: aiohttp.ClientSession,
    outbound: Outbound | None,
    deadline_sec: float,
) -> str | None:
    """The actor id WebFinger's ``self`` link gives for ``acct``; ``None``: no such account.

    Raises:
        HqxError: WebFinger cannot be asked now, or names no actor.
    """
    try:
        domain = acct_domain(acct)
    except RefusedAddressError as e:
        raise HqxError(f"Mastodon: {e}") from e
    resource = {"resource": f"acct:{acct.removeprefix('@')}"}
    if domain.casefold() == own_domain.casefold():
        scheme = urlsplit(own_base_url).scheme
        document = await _own(own_http, f"{scheme}://{domain}", resource, deadline_sec)
    else:
        document = await _remote(outbound, domain, resource, deadline_sec)
    if document is None:
        return None
    for link in document.get("links") or []:
        if link.get("rel") == "self" and "activity+json" in str(link.get("type", "")):
            return str(link["href"])
    raise HqxError(f"Mastodon: WebFinger of {acct} names no ActivityPub actor")


async def _own(
    http: aiohttp.ClientSession, base: str, resource: dict[str, str], deadline_sec: float
) -> Any:
    try:
        async with http.get(
            f"{base}/.well-known/webfinger", params=resource, headers=ACCEPT,
            timeout=aiohttp.ClientTimeout(total=deadline_sec),
        ) as response:  # fmt: skip
            if response.status in (404, 410):
                return None
            response.raise_for_status()
            return await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as e:
        raise HqxError(f"Mastodon: WebFinger at {base} failed: {e}") from e


async def _remote(
    outbound: Outbound | None, domain: str, resource: dict[str, str], deadline_sec: float
) -> Any:
    if outbound is None:
        raise HqxError(f"Mastodon: no client to ask {domain}'s WebFinger")
    try:
        answer = await outbound.request(
            "GET", f"https://{domain}/.well-known/webfinger", params=resource, headers=ACCEPT,
            max_bytes=DOCUMENT_MAX_BYTES, deadline_sec=deadline_sec, follow_redirects=True,
        )  # fmt: skip
        if answer.status in (404, 410):
            return None
        if answer.status != 200:
            raise HqxError(f"Mastodon: WebFinger at {domain} answered {answer.status}")
        document = answer.json()
    except OutboundError as e:
        raise HqxError(f"Mastodon: WebFinger at {domain} failed: {e}") from e
    return document if isinstance(document, dict) else {}
