"""The service's one HTTP client for addresses someone else gave it (:mod:`shared.outbound`
holds the rules): owned by the application, handed to the adapters and the portal, closed on
stop.

The check happens where the connection is made: the connector's resolver looks a name up
once, refuses it when any of its addresses is not public, and hands aiohttp exactly the
addresses it checked, which are the ones connected to (no second lookup that a hostile DNS
could answer differently). A URL naming an address is checked before that (aiohttp does not
resolve those). Redirects are followed here, one hop at a time, under the same rules.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from shared.outbound import (
    ANSWER_MAX_BYTES,
    DEADLINE_SEC,
    MAX_REDIRECTS,
    Answer,
    OutboundError,
    Policy,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 64 * 1024
USER_AGENT = "HelloQuitteX (+https://github.com/helloquittex)"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class GuardedResolver(AbstractResolver):
    """Looks names up (``lookup``: the system's resolver, or a test's stub) and lets through
    only names whose every address may be reached."""

    def __init__(
        self,
        policy: Policy,
        lookup: Callable[[str, int], Awaitable[list[ResolveResult]]] | None = None,
    ) -> None:
        self._policy = policy
        self._system: ThreadedResolver | None = None
        self._lookup = lookup

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self._lookup is not None:
            found = await self._lookup(host, port)
        else:
            if self._system is None:
                self._system = ThreadedResolver()
            found = await self._system.resolve(host, port, family)
        self._policy.check_addresses(host, port, [r["host"] for r in found])
        return found

    async def close(self) -> None:
        if self._system is not None:
            await self._system.close()


class OutboundClient:
    """One connection pool under the rules; :meth:`close` ends it."""

    def __init__(
        self,
        policy: Policy,
        *,
        lookup: Callable[[str, int], Awaitable[list[ResolveResult]]] | None = None,
        connector_class: type[aiohttp.TCPConnector] = aiohttp.TCPConnector,
    ) -> None:
        self.policy = policy
        self._lookup = lookup
        self._connector_class = connector_class
        self._http: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _session(self) -> aiohttp.ClientSession:
        """The pool, opened on first use in the running loop (a pool belongs to its loop:
        a caller in another loop, as a test's, gets one of its own)."""
        loop = asyncio.get_running_loop()
        if self._http is None or self._http.closed or self._loop is not loop:
            self._loop = loop
            resolver = GuardedResolver(self.policy, self._lookup)
            connector = self._connector_class(resolver=resolver, limit=100, ttl_dns_cache=60)
            self._http = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,  # no proxy from the environment: the rules apply here
                headers={"User-Agent": USER_AGENT},
                auto_decompress=True,
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        json: Any = None,
        max_bytes: int = ANSWER_MAX_BYTES,
        deadline_sec: float = DEADLINE_SEC,
        follow_redirects: bool = False,
    ) -> Answer:
        """See :class:`shared.outbound.Outbound`."""
        try:
            async with asyncio.timeout(deadline_sec):
                return await self._follow(
                    method, url, headers=headers, params=params, form=form, json=json,
                    max_bytes=max_bytes, follow_redirects=follow_redirects,
                )  # fmt: skip
        except TimeoutError:
            raise OutboundError(
                f"{url} gave no whole answer within {deadline_sec:g} s", reason="slow"
            ) from None

    async def _follow(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
        form: Mapping[str, str] | None,
        json: Any,
        max_bytes: int,
        follow_redirects: bool,
    ) -> Answer:
        for _hop in range(MAX_REDIRECTS + 1):
            answer = await self._once(method, url, headers, params, form, json, max_bytes)
            location = answer.headers.get("location")
            if not follow_redirects or answer.status not in _REDIRECTS or not location:
                return answer
            url, params = urljoin(answer.url, location), None
            if answer.status == 303 or (answer.status in {301, 302} and method == "POST"):
                method, form, json = "GET", None, None
        raise OutboundError(f"{url}: more than {MAX_REDIRECTS} redirects", reason="refused")

    async def _once(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
        form: Mapping[str, str] | None,
        json: Any,
        max_bytes: int,
    ) -> Answer:
        target = self.policy.target(url)  # before any lookup or connection
        try:
            async with self._session().request(
                method, target.url, headers=dict(headers or {}), params=params,
                data=dict(form) if form is not None else None, json=json,
                allow_redirects=False,
            ) as response:  # fmt: skip
                body = await read_bounded(response, max_bytes, url)
                return Answer(
                    response.status,
                    {k.lower(): v for k, v in response.headers.items()},
                    body,
                    str(response.url),
                )
        except (aiohttp.ClientError, OSError) as e:  # the resolver's refusal is not one
            raise OutboundError(f"{url} could not be reached: {e}") from e


async def read_bounded(response: aiohttp.ClientResponse, max_bytes: int, url: str) -> bytes:
    """The whole body, to its end (``content.read(n)`` returns only what has arrived), or
    a refusal as soon as it passes ``max_bytes`` (one announced larger before it is read).

    Raises:
        OutboundError: over the bound.
    """
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise OutboundError(f"{url} announced {declared:,} bytes, over {max_bytes:,}",
                            reason="large")  # fmt: skip
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(READ_CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise OutboundError(f"{url} answered more than {max_bytes:,} bytes", reason="large")
        chunks.append(chunk)
    return b"".join(chunks)
