"""Reading a post on X through its public oEmbed endpoint (no API key): who wrote it, and its
text. Used, where the operator enables it, to prove an X account by a post carrying a code.

https://developer.x.com/en/docs/x-for-websites/oembed-api — the answer's ``author_url`` is
``https://twitter.com/SCREEN_NAME`` and its ``html`` a blockquote whose first paragraph is
the post's text.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import TYPE_CHECKING

import aiohttp

from hqx.outbound import read_bounded
from shared.errors import HqxError
from shared.identity.accounts import XPost
from shared.identity.addresses import find_post_url
from shared.outbound import OutboundError

if TYPE_CHECKING:
    from aiohttp import ClientSession

TIMEOUT_SEC = 15.0


class XPostError(HqxError):
    """The post cannot be read: not a post's URL, gone, or X did not answer."""


class _FirstParagraph(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth, self.done, self.parts = 0, False, list[str]()

    def handle_starttag(self, tag: str, _attrs: list[tuple[str, str | None]]) -> None:
        if tag == "p" and not self.done:
            self.depth += 1
        elif tag == "br" and self.depth:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p" and self.depth:
            self.depth -= 1
            self.done = self.depth == 0

    def handle_data(self, data: str) -> None:
        if self.depth and not self.done:
            self.parts.append(data)


MAX_ANSWER_BYTES = 64 * 1024
"""An oEmbed answer is a few kilobytes of HTML."""


class OEmbedReader:
    """Reads posts through an oEmbed endpoint; one HTTP session, closed with :meth:`close`."""

    def __init__(self, endpoint: str) -> None:
        self._endpoint = endpoint
        self._session: ClientSession | None = None

    async def read(self, url: str) -> XPost:
        if find_post_url(url) != url:
            raise XPostError(f"{url!r} is not the link of a post on X")
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SEC))
        params = {"url": url, "omit_script": "true", "dnt": "true"}
        try:
            async with self._session.get(self._endpoint, params=params) as response:
                if response.status == 404:
                    raise XPostError("X shows no such post (deleted, or the account is private)")
                response.raise_for_status()
                found = json.loads(await read_bounded(response, MAX_ANSWER_BYTES, "oEmbed"))
        except (aiohttp.ClientError, TimeoutError, ValueError, OutboundError) as e:
            raise XPostError(f"X's oEmbed did not answer: {e}") from e
        author = str(found.get("author_url", "")).rstrip("/").rsplit("/", 1)[-1]
        paragraph = _FirstParagraph()
        paragraph.feed(str(found.get("html", "")))
        return XPost(url=url, author=author, text="".join(paragraph.parts).strip())

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
