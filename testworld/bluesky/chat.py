"""A test double of Bluesky's chat service, which is closed source.

It serves the ``chat.bsky.convo.*`` methods the bot uses (getConvoForMembers,
getConvoAvailability, sendMessage, getMessages, listConvos, updateRead) and honours each
person's ``chat.bsky.actor.declaration`` (allowIncoming all / following / none, read from
their repo; "following" when absent, as Bluesky does). Every request and every response is
validated against the official lexicon documents, so the double cannot drift from them.
It is reached the way the real service is: the PDS resolves the double's did:plc and proxies
to it with a service token, which the double verifies against the caller's signing key.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import ClientSession, web
from atproto_identity.cache.in_memory_cache import AsyncDidInMemoryCache
from atproto_identity.resolver import AsyncIdResolver
from atproto_server.auth.jwt import verify_jwt_async

from bsky_service.lexicon import LexiconError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bsky_service.lexicon import Lexicons
    from testworld.bluesky.network import BlueskyDevNetwork

SERVICE_ID = "bsky_chat"
SERVICE_TYPE = "BskyChatService"
DECLARATION = "chat.bsky.actor.declaration"
DEFAULT_ALLOW_INCOMING = "following"
Params = dict[str, Any]


class XrpcError(Exception):
    """An XRPC error answer: status, error name, message."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


@dataclass
class Message:
    """One message of a conversation."""

    id: str
    rev: str
    sender: str
    text: str
    sent_at: str
    facets: list[Any] | None = None

    def view(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "$type": "chat.bsky.convo.defs#messageView",
            "id": self.id,
            "rev": self.rev,
            "text": self.text,
            "sender": {"did": self.sender},
            "sentAt": self.sent_at,
        }
        if self.facets:
            view["facets"] = self.facets
        return view


@dataclass
class Convo:
    """A direct conversation between members."""

    id: str
    members: tuple[str, ...]
    rev: str
    messages: list[Message] = field(default_factory=list)
    read_rev: dict[str, str] = field(default_factory=dict)

    def unread(self, viewer: str) -> int:
        seen = self.read_rev.get(viewer, "")
        return sum(1 for m in self.messages if m.sender != viewer and m.rev > seen)


class ChatDouble:
    """The double: its state, its aiohttp app, and the lookups it makes on the network."""

    def __init__(self, lexicons: Lexicons, plc_url: str, appview_url: str) -> None:
        self._lexicons = lexicons
        self._plc_url = plc_url
        self._appview_url = appview_url
        self._revs = itertools.count(1)
        self.convos: dict[str, Convo] = {}
        self.did = ""
        self._methods: dict[str, Callable[[str, Params, Any], Awaitable[Any]]] = {
            "chat.bsky.convo.getConvoForMembers": self._get_convo_for_members,
            "chat.bsky.convo.getConvoAvailability": self._get_convo_availability,
            "chat.bsky.convo.sendMessage": self._send_message,
            "chat.bsky.convo.getMessages": self._get_messages,
            "chat.bsky.convo.listConvos": self._list_convos,
            "chat.bsky.convo.updateRead": self._update_read,
        }

    def register(self, network: BlueskyDevNetwork, endpoint: str) -> str:
        """Give the double a did:plc naming ``endpoint`` as its chat service; return the
        ``atproto-proxy`` value that reaches it (``did#bsky_chat``)."""
        self.did = network.register_service(SERVICE_ID, SERVICE_TYPE, endpoint)
        return f"{self.did}#{SERVICE_ID}"

    def app(self) -> web.Application:
        """The aiohttp application serving ``/xrpc/<method>``."""
        app = web.Application()
        app.router.add_route("*", "/xrpc/{nsid}", self._handle)
        app.cleanup_ctx.append(self._http_client)
        return app

    async def _http_client(self, app: web.Application) -> Any:
        self._session = ClientSession()
        # Cached: every convo view resolves each member; a key rotation is refetched on a
        # failed signature (verify_jwt asks again with force_refresh).
        self._resolver = AsyncIdResolver(plc_url=self._plc_url, cache=AsyncDidInMemoryCache())
        yield
        await self._session.close()

    # --- HTTP ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        nsid = request.match_info["nsid"]
        try:
            method = self._methods.get(nsid)
            if method is None:
                raise XrpcError(501, "MethodNotImplemented", f"{nsid} is not served here")
            requester = await self._authenticate(request, nsid)
            params = self._params(nsid, request)
            body = await request.json() if request.method == "POST" else None
            try:
                self._lexicons.validate_params(nsid, params)
                if body is not None:
                    self._lexicons.validate_input(nsid, body)
            except LexiconError as e:
                raise XrpcError(400, "InvalidRequest", str(e)) from None
            output = await method(requester, params, body)
            # A response off the lexicon is the double's own bug: fail loudly (500).
            self._lexicons.validate_output(nsid, output)
            return web.json_response(output)
        except XrpcError as e:
            return web.json_response({"error": e.error, "message": e.message}, status=e.status)

    def _params(self, nsid: str, request: web.Request) -> dict[str, Any]:
        schema = self._lexicons.main(nsid).get("parameters") or {}
        typed: dict[str, Any] = {}
        for name, prop in schema.get("properties", {}).items():
            values = request.query.getall(name, [])
            if not values:
                continue
            kind = prop["type"]
            try:
                if kind == "array":
                    typed[name] = values
                elif kind == "integer":
                    typed[name] = int(values[0])
                elif kind == "boolean":
                    typed[name] = values[0] == "true"
                else:
                    typed[name] = values[0]
            except ValueError:
                raise XrpcError(400, "InvalidRequest", f"params/{name}: not a {kind}") from None
        return typed

    async def _authenticate(self, request: web.Request, nsid: str) -> str:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            raise XrpcError(401, "AuthenticationRequired", "a service token is required")

        async def signing_key(did: str, force_refresh: bool) -> str:
            return str(await self._resolver.did.resolve_atproto_key(did, force_refresh))

        try:
            payload = await verify_jwt_async(header.removeprefix("Bearer "), signing_key)
        except Exception as e:
            raise XrpcError(401, "InvalidToken", f"bad service token: {e}") from None
        if (payload.aud or "").split("#")[0] != self.did:
            raise XrpcError(401, "InvalidToken", "the service token is for another service")
        if getattr(payload, "lxm", None) not in (None, nsid):
            raise XrpcError(401, "InvalidToken", "the service token is for another method")
        return str(payload.iss).split("#")[0]

    # --- methods ------------------------------------------------------------------------

    async def _get_convo_for_members(
        self, requester: str, params: dict[str, Any], _body: Any
    ) -> Any:
        members = self._members(requester, params["members"])
        convo = self._find(members)
        if convo is None:
            await self._require_can_chat(requester, members)
            convo = Convo(id=secrets.token_hex(8), members=members, rev=self._rev())
            self.convos[convo.id] = convo
        return {"convo": await self._convo_view(convo, requester)}

    async def _get_convo_availability(
        self, requester: str, params: dict[str, Any], _body: Any
    ) -> Any:
        members = self._members(requester, params["members"])
        convo = self._find(members)
        can_chat = convo is not None or await self._can_chat(requester, members)
        output: dict[str, Any] = {"canChat": can_chat}
        if convo is not None:
            output["convo"] = await self._convo_view(convo, requester)
        return output

    async def _send_message(self, requester: str, _params: Params, body: Any) -> Any:
        convo = self._member_of(body["convoId"], requester)
        if not convo.messages:
            await self._require_can_chat(requester, convo.members)
        message = Message(
            id=secrets.token_hex(8),
            rev=self._rev(),
            sender=requester,
            text=body["message"]["text"],
            facets=body["message"].get("facets"),
            sent_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        )
        convo.messages.append(message)
        convo.rev = message.rev
        convo.read_rev[requester] = message.rev
        return message.view()

    async def _get_messages(self, requester: str, params: Params, _body: Any) -> Any:
        convo = self._member_of(params["convoId"], requester)
        newest_first = sorted(convo.messages, key=lambda m: m.rev, reverse=True)
        page, cursor = _page(newest_first, params, key=lambda m: m.rev)
        output: dict[str, Any] = {"messages": [m.view() for m in page]}
        if cursor:
            output["cursor"] = cursor
        return output

    async def _list_convos(self, requester: str, params: Params, _body: Any) -> Any:
        mine = sorted(
            (c for c in self.convos.values() if requester in c.members),
            key=lambda c: c.rev,
            reverse=True,
        )
        page, cursor = _page(mine, params, key=lambda c: c.rev)
        output: dict[str, Any] = {"convos": [await self._convo_view(c, requester) for c in page]}
        if cursor:
            output["cursor"] = cursor
        return output

    async def _update_read(self, requester: str, _params: Params, body: Any) -> Any:
        convo = self._member_of(body["convoId"], requester)
        wanted = body.get("messageId")
        rev = convo.rev
        if wanted is not None:
            found = [m for m in convo.messages if m.id == wanted]
            if not found:
                raise XrpcError(400, "InvalidRequest", f"no message {wanted} in this convo")
            rev = found[0].rev
        convo.read_rev[requester] = max(rev, convo.read_rev.get(requester, ""))
        return {"convo": await self._convo_view(convo, requester)}

    # --- rules and views ----------------------------------------------------------------

    def _rev(self) -> str:
        return f"{next(self._revs):013d}"

    def _members(self, requester: str, members: list[str]) -> tuple[str, ...]:
        return tuple(sorted({requester, *members}))

    def _find(self, members: tuple[str, ...]) -> Convo | None:
        return next((c for c in self.convos.values() if c.members == members), None)

    def _member_of(self, convo_id: str, requester: str) -> Convo:
        convo = self.convos.get(convo_id)
        if convo is None or requester not in convo.members:
            raise XrpcError(400, "InvalidConvo", "convo not found")
        return convo

    async def _require_can_chat(self, requester: str, members: tuple[str, ...]) -> None:
        if not await self._can_chat(requester, members):
            raise XrpcError(400, "MessagesDisabled", "recipient has disabled incoming messages")

    async def _can_chat(self, requester: str, members: tuple[str, ...]) -> bool:
        for other in members:
            if other == requester:
                continue
            allow = await self._allow_incoming(other)
            if allow == "none" or (
                allow == "following" and not await self._follows(other, requester)
            ):
                return False
        return True

    async def _allow_incoming(self, did: str) -> str:
        data = await self._resolver.did.resolve_atproto_data(did)
        url = f"{data.pds}/xrpc/com.atproto.repo.getRecord"
        query = {"repo": did, "collection": DECLARATION, "rkey": "self"}
        async with self._session.get(url, params=query) as response:
            if response.status != 200:
                return DEFAULT_ALLOW_INCOMING
            record = (await response.json()).get("value", {})
        return str(record.get("allowIncoming", DEFAULT_ALLOW_INCOMING))

    async def _follows(self, actor: str, subject: str) -> bool:
        url = f"{self._appview_url}/xrpc/app.bsky.graph.getRelationships"
        async with self._session.get(url, params={"actor": actor, "others": subject}) as response:
            response.raise_for_status()
            relationships = (await response.json()).get("relationships", [])
        return bool(relationships and relationships[0].get("following"))

    async def _convo_view(self, convo: Convo, viewer: str) -> dict[str, Any]:
        members = []
        for did in convo.members:
            data = await self._resolver.did.resolve_atproto_data(did)
            members.append({"did": did, "handle": data.handle or "handle.invalid"})
        view: dict[str, Any] = {
            "id": convo.id,
            "rev": convo.rev,
            "members": members,
            "muted": False,
            "unreadCount": convo.unread(viewer),
        }
        if convo.messages:
            view["lastMessage"] = convo.messages[-1].view()
        return view


def _page(
    items: list[Any], params: dict[str, Any], key: Callable[[Any], str]
) -> tuple[list[Any], str | None]:
    cursor = params.get("cursor")
    if cursor:
        items = [item for item in items if key(item) < cursor]
    limit = int(params.get("limit", 50))
    page = items[:limit]
    return page, key(page[-1]) if len(items) > limit else None
