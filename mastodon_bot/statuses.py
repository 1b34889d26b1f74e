"""The bot's own statuses: replies and direct statuses sent once, and deleted when asked.

A send that may have happened (a retry) is looked up among the bot's recent statuses first:
GoToSocial ignores ``Idempotency-Key``, some Mastodon versions answer a repeated key with a
500, and Mastodon keeps a key for an hour only. The key is still sent: where it is kept, it
covers what the lookup cannot see."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from mastodon.errors import MastodonNotFoundError

from mastodon_bot.text import html_to_text
from shared.protocol import Delivered

if TYPE_CHECKING:
    from mastodon import Mastodon

    from shared.actions import Recipient
    from shared.protocol import Outgoing

STATUSES_PAGE = 40


class Statuses:
    """The bot's statuses on its server (Mastodon.py is blocking: each call in a thread)."""

    def __init__(self, api: Mastodon, account_id: str, max_characters: int) -> None:
        self._api, self._account_id, self._max_characters = api, account_id, max_characters

    async def post(
        self,
        outgoing: Outgoing,
        to: Recipient,
        text: str,
        lang: str,
        *,
        reply_to: str | None,
        direct: bool,
    ) -> Delivered:
        """A status mentioning ``to``: in reply to ``reply_to`` (a status id), else starting
        a conversation; direct, or unlisted (out of public timelines)."""
        body = self._fitted(to, text)
        if outgoing.attempts > 1:  # it may have been sent before a crash: look first
            earlier = await asyncio.to_thread(self._sent_before, reply_to, body)
            if earlier is not None:
                return Delivered(earlier)
        status = await asyncio.to_thread(
            self._api.status_post,
            body,
            in_reply_to_id=reply_to,
            visibility="direct" if direct else "unlisted",
            language=lang,
            idempotency_key=outgoing.key,
        )
        return Delivered(str(status.id))  # the id: what deleting it takes

    async def delete(self, status_id: str) -> Delivered:
        """Delete one of the bot's statuses (one already gone counts as deleted)."""
        with contextlib.suppress(MastodonNotFoundError):
            await asyncio.to_thread(self._api.status_delete, status_id)
        return Delivered(status_id)

    def _fitted(self, to: Recipient, text: str) -> str:
        """``@handle text``, the text cut to the server's status length."""
        mention = f"@{to.handle}"
        room = self._max_characters - len(mention) - 1
        if len(text) > room:
            text = text[: room - 1].rstrip() + "…"
        return f"{mention} {text}"

    def _sent_before(self, reply_to: str | None, body: str) -> str | None:
        """The bot's status sent for this action before a crash, if any: with the same words,
        in reply to ``reply_to`` (``None``: starting a conversation). The words matter: the
        bot may say several things in one person's thread."""
        words = body.split(" ", 1)[1]
        for status in self._api.account_statuses(self._account_id, limit=STATUSES_PAGE):
            replied = None if status.in_reply_to_id is None else str(status.in_reply_to_id)
            if replied == reply_to and html_to_text(status.content).endswith(words):
                return str(status.id)
        return None
