"""The bot's direct messages, through the chat service its PDS proxies to
(``chat.bsky.convo``): unread conversations read, messages sent. A message has no
idempotency key: after a crash, the conversation is read before sending again."""

from __future__ import annotations

import functools
import logging
import time
from typing import TYPE_CHECKING, Any

from bsky_service.text import fit, parse_moment
from shared.protocol import Author, Delivered, IncomingPost
from shared.vocabulary import Network

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from atproto import AsyncClient

    from shared.actions import Recipient
    from shared.protocol import Outgoing
    from shared.stores import BotState

log = logging.getLogger(__name__)

MESSAGE_MAX_GRAPHEMES = 1000  # what the Bluesky app allows (the lexicon: 10,000 bytes)
CHAT_PAGE = 50
# A chat service that fails is asked again after this, doubling up to the cap.
CHAT_RETRY_FIRST_SEC = 10.0
CHAT_RETRY_MAX_SEC = 600.0


class Chat:
    """The bot's conversations: its own client (one connection pool, one session) with the
    proxy header on each call. (The SDK's ``with_proxy`` would open a new pool every time.)"""

    def __init__(
        self, client: AsyncClient, did: str, proxy: str, state: BotState, key: Callable[[str], str]
    ) -> None:
        """``key``: the bot's state key for a name (where each conversation's place is kept)."""
        self._convo = _Proxied(client.chat.bsky.convo, {"atproto-proxy": proxy})
        self._did, self._state, self._key = did, state, key

    async def poll(self, receive: Callable[[IncomingPost], Awaitable[None]]) -> int:
        """Hand over the new messages of unread conversations, oldest first; mark them read."""
        handled = 0
        listed = await self._convo.list_convos({"limit": CHAT_PAGE})
        for convo in listed.convos:
            if convo.unread_count:
                handled += await self._read(convo, receive)
                await self._convo.update_read({"convoId": convo.id})
        return handled

    async def _read(self, convo: Any, receive: Callable[[IncomingPost], Awaitable[None]]) -> int:
        """Hand over a conversation's messages after the last one handed over."""
        handles = {member.did: member.handle for member in convo.members}
        key = self._key(f"chat:{convo.id}")
        seen = await self._state.load(key)
        page = await self._convo.get_messages({"convoId": convo.id, "limit": CHAT_PAGE})
        fresh = [
            m
            for m in page.messages
            if getattr(m, "text", None) is not None
            and m.sender.did != self._did
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
                    created_at=parse_moment(message.sent_at),
                    reply_context={"convo_id": convo.id},
                )
            )
            await self._state.save(key, message.rev)
        return len(fresh)

    async def send(
        self, outgoing: Outgoing, to: Recipient, text: str, convo_id: str | None
    ) -> Delivered:
        """A message in the conversation ``convo_id`` (one a request came from), else in
        the bot's conversation with ``to`` (opened if need be)."""
        text = fit(text, MESSAGE_MAX_GRAPHEMES)
        if convo_id is None:
            opened = await self._convo.get_convo_for_members({"members": [to.subject]})
            convo_id = opened.convo.id
        if outgoing.attempts > 1:  # it may have been sent before a crash: look first
            page = await self._convo.get_messages({"convoId": convo_id, "limit": CHAT_PAGE})
            for message in page.messages:
                if message.sender.did == self._did and getattr(message, "text", None) == text:
                    return Delivered(f"chat:{convo_id}:{message.id}")
        sent = await self._convo.send_message({"convoId": convo_id, "message": {"text": text}})
        return Delivered(f"chat:{convo_id}:{sent.id}")


class Outage:
    """A chat service that fails: said once, asked again later and later, so that mentions
    never wait on it and the log stays quiet."""

    def __init__(self) -> None:
        self.failing: str | None = None
        self._retry_at = 0.0
        self._delay_sec = CHAT_RETRY_FIRST_SEC

    def due(self) -> bool:
        """Whether the chat service may be asked now."""
        return time.monotonic() >= self._retry_at

    def failed(self, error: Exception) -> None:
        if self.failing is None:
            log.warning("Bluesky chat unavailable (%s): answering mentions only", error)
        self.failing = str(error) or type(error).__name__
        self._retry_at = time.monotonic() + self._delay_sec
        self._delay_sec = min(self._delay_sec * 2, CHAT_RETRY_MAX_SEC)

    def answered(self) -> None:
        if self.failing is not None:
            log.info("Bluesky chat is back")
        self.failing, self._delay_sec = None, CHAT_RETRY_FIRST_SEC


class _Proxied:
    """A namespace of the SDK whose every call carries ``headers``."""

    def __init__(self, namespace: Any, headers: dict[str, str]) -> None:
        self._namespace, self._headers = namespace, headers

    def __getattr__(self, name: str) -> Any:
        return functools.partial(getattr(self._namespace, name), headers=self._headers)
