"""A Mastodon-API server for tests and the sandbox: the endpoints the bots use, with the
entities shaped like a real Mastodon's (checked against the recordings of :mod:`.reference`),
and switchable behaviours of other servers (:class:`Quirks`) that the bots must survive.

Implemented: instance (v1, v2), WebFinger, verify_credentials, update_credentials, statuses
(post with Idempotency-Key, get, edit, delete), an account's statuses, notifications (types,
exclude_types, since_id, min_id, max_id, limit, Link headers), conversations, follow (a
request for locked accounts), accounts/lookup, v2 search (accounts), the user stream
(server-sent events, and WebSocket), NodeInfo, and Mastodon's share page. :mod:`.profiles`
holds the servers people run: Mastodon, GoToSocial, Akkoma.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import WSMsgType, web

from testworld.mastodon.oauth import OAuthServer
from testworld.mastodon.profiles import Quirks, id_factory, id_order

MENTION_RE = re.compile(r"(?<![\w@])@(\w{1,30})(?:@([\w.-]+\.\w+(?::\d+)?))?")
TOKEN_APP = {"name": "helloquittex tests", "website": None}
STATUS_MAX_CHARACTERS = 500
STREAM_HEARTBEAT_SEC = 10.0
WEBSOCKET_PING_SEC = 30.0
_STREAM_END: tuple[str, Any] = ("", {})


@dataclass
class Account:
    id: str
    username: str
    token: str
    display_name: str = ""
    note: str = ""
    bot: bool = False
    locked: bool = False
    fields: list[dict[str, Any]] = field(default_factory=list)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Status:
    id: str
    account: Account
    text: str
    visibility: str
    mentions: list[Account]
    in_reply_to: Status | None
    language: str | None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    edited_at: datetime | None = None


@dataclass
class Notification:
    id: str
    type: str
    owner: Account
    account: Account
    status: Status | None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class MastodonTestServer:
    """The server's state and its aiohttp application."""

    def __init__(
        self,
        domain: str,
        quirks: Quirks | None = None,
        stream_heartbeat_sec: float = STREAM_HEARTBEAT_SEC,
    ) -> None:
        self.domain = domain
        self.stream_heartbeat_sec = stream_heartbeat_sec
        self.quirks = quirks or Quirks()
        self._ids = id_factory(self.quirks.ids)
        self.accounts: dict[str, Account] = {}
        self.statuses: dict[str, Status] = {}
        self.notifications: list[Notification] = []
        self._idempotency: dict[tuple[str, str], str] = {}
        self._streams: dict[str, list[asyncio.Queue[tuple[str, Any]]]] = {}
        self.streams_opened = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop serving the streams (known once one is open)."""
        """How many stream connections were accepted, ever."""
        self.refuse_statuses: int = 0
        """How many next status posts to refuse with 429 Too Many Requests."""
        self.repeated_key_fails = False
        """A repeated Idempotency-Key answered 500 (mastodon/mastodon#40399)."""
        self.rate_limit_reset: datetime = datetime.now(UTC)
        """The reset time a 429 reports (X-RateLimit-Reset)."""
        self.rate_limit_reset_in: timedelta | None = None
        """When set, a 429 reports a reset this long after itself (and keeps it in
        :attr:`rate_limit_reset`): a slow machine cannot make it a reset already past."""
        self.follows: dict[tuple[str, str], str] = {}
        """(follower id, followed id) -> "following" or "requested" (locked accounts)."""
        self.shared: list[str] = []
        """The texts its share page was opened with."""
        self.oauth = OAuthServer(self._form)
        """Apps, authorization codes and the tokens people granted them."""

    @property
    def base_url(self) -> str:
        """``http://`` and the domain (tests serve plain HTTP on loopback)."""
        return f"http://{self.domain}"

    # --- test setup ---------------------------------------------------------------------

    def create_account(self, username: str, *, bot: bool = False, locked: bool = False) -> Account:
        """A local account and its access token (``token-<username>``)."""
        account = Account(
            id=self._id(), username=username, token=f"token-{username}", bot=bot, locked=locked
        )
        self.accounts[account.id] = account
        return account

    def _id(self) -> str:
        return self._ids()

    # --- HTTP ---------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        routes = [
            web.get("/api/v1/instance", self._instance_v1),
            web.get("/.well-known/webfinger", self._webfinger),
            web.get("/api/v1/accounts/verify_credentials", self._verify_credentials),
            web.patch("/api/v1/accounts/update_credentials", self._update_credentials),
            web.post("/api/v1/statuses", self._post_status),
            web.get("/api/v1/statuses/{id}", self._get_status),
            web.delete("/api/v1/statuses/{id}", self._delete_status),
            web.get("/api/v1/notifications", self._notifications),
            web.post("/api/v1/accounts/{id}/follow", self._follow),
            *self.oauth.routes(),
            web.get("/api/v1/accounts/{id}/statuses", self._account_statuses),
            web.get("/api/v1/accounts/{id}/following", self._following),
            web.get("/api/v2/search", self._search),
        ]
        routes.append(web.get("/.well-known/nodeinfo", self._nodeinfo_links))
        routes.append(web.get("/nodeinfo/2.0", self._nodeinfo))
        if self.quirks.share_page:
            routes.append(web.get("/share", self._share_page))
        if self.quirks.instance_v2:
            routes.append(web.get("/api/v2/instance", self._instance_v2))
        routes.append(web.put("/api/v1/statuses/{id}", self._edit_status))
        if self.quirks.sse:
            routes.append(web.get("/api/v1/streaming/user", self._stream_user))
        if self.quirks.websocket:
            routes.append(web.get("/api/v1/streaming", self._stream_websocket))
        if self.quirks.conversations:
            routes.append(web.get("/api/v1/conversations", self._conversations))
        if self.quirks.lookup:
            routes.append(web.get("/api/v1/accounts/lookup", self._lookup))
        # Mastodon answers with or without a trailing slash, and Mastodon.py uses both.
        slashed = [web.route(r.method, f"{r.path}/", r.handler) for r in routes]
        app.add_routes([*routes, *slashed])
        app.on_shutdown.append(self._end_streams)
        return app

    async def _end_streams(self, _app: web.Application) -> None:
        self.drop_streams()

    def revoke(self, account: Account) -> None:
        """Revoke the account's access token, as its owner or an admin would: every call with
        it is refused (401) from now on, and its open streams end."""
        account.token = ""
        self._end(self._streams.get(account.id, []))

    def drop_streams(self) -> None:
        """End every open stream, as a restarting server or a broken link would."""
        self._end([queue for queues in self._streams.values() for queue in queues])

    def _end(self, queues: list[asyncio.Queue[tuple[str, Any]]]) -> None:
        # Tests call this from their own thread: the queues belong to the server's loop.
        for queue in queues:
            assert self._loop is not None  # noqa: S101  (a queue means a stream was opened)
            self._loop.call_soon_threadsafe(queue.put_nowait, _STREAM_END)

    @property
    def open_streams(self) -> int:
        """How many streams are connected now."""
        return sum(len(queues) for queues in self._streams.values())

    def _publish(self, owner: Account, event: str, payload: Any) -> None:
        for queue in self._streams.get(owner.id, []):
            queue.put_nowait((event, payload))

    def _subscribe(self, account: Account) -> asyncio.Queue[tuple[str, Any]]:
        self._loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._streams.setdefault(account.id, []).append(queue)
        self.streams_opened += 1
        return queue

    async def _stream_websocket(self, request: web.Request) -> web.StreamResponse:
        """The streaming API over WebSocket: ``?stream=user``, the token in ``access_token``,
        in ``Sec-WebSocket-Protocol`` (every server) or in ``Authorization`` (Mastodon's);
        each event a JSON text frame whose ``payload`` is itself JSON text."""
        offered = request.headers.get("sec-websocket-protocol", "")
        protocols = tuple(p.strip() for p in offered.split(",") if p.strip())
        token = request.query.get("access_token") or (protocols[0] if protocols else "")
        if not token and self.quirks.websocket_authorization:
            token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        account = self._account_of(token)
        if account is None:
            raise web.HTTPUnauthorized(
                text='{"error":"Error: Missing access token"}', content_type="application/json"
            )
        if request.query.get("stream") != "user":
            raise web.HTTPBadRequest(
                text='{"error":"Unknown stream type"}', content_type="application/json"
            )
        # Pings as Mastodon's streaming server sends them (every 30 s or so): a short
        # interval would close a busy client's socket for a pong that came a little late.
        socket = web.WebSocketResponse(protocols=protocols, heartbeat=WEBSOCKET_PING_SEC)
        await socket.prepare(request)
        queue = self._subscribe(account)
        reader = asyncio.create_task(self._drain(socket))
        try:
            while not socket.closed:
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    break
                event, payload = getter.result()
                if (event, payload) == _STREAM_END:
                    break
                await socket.send_json(
                    {"stream": ["user"], "event": event, "payload": json.dumps(payload)}
                )
        except ConnectionResetError:
            pass  # the client went away
        finally:
            reader.cancel()
            self._streams[account.id].remove(queue)
            await socket.close()
        return socket

    @staticmethod
    async def _drain(socket: web.WebSocketResponse) -> None:
        """Read what the client sends (pongs, close) until it closes."""
        async for message in socket:
            if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break

    async def _stream_user(self, request: web.Request) -> web.StreamResponse:
        """The user stream as Mastodon serves it over HTTP: server-sent events."""
        account = self._caller(request)
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        queue = self._subscribe(account)
        try:
            await response.write(b":)\n")
            while True:
                try:
                    async with asyncio.timeout(self.stream_heartbeat_sec):
                        event, payload = await queue.get()
                except TimeoutError:
                    await response.write(b":thump\n")
                    continue
                if (event, payload) == _STREAM_END:
                    break
                data = json.dumps(payload)
                await response.write(f"event: {event}\ndata: {data}\n\n".encode())
        except ConnectionResetError:
            pass  # the client went away
        finally:
            self._streams[account.id].remove(queue)
        return response

    def _account_of(self, token: str) -> Account | None:
        own = next((a for a in self.accounts.values() if token and a.token == token), None)
        return own or self.oauth.account_of(token)

    def _caller(self, request: web.Request, *scopes: str) -> Account:
        """Whose token the request carries; with ``scopes``, an OAuth token must carry one of
        them, as the endpoint asks on real servers (the accounts' own test tokens carry
        every scope)."""
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        account = self._account_of(token)
        if account is None:
            raise web.HTTPUnauthorized(
                text='{"error":"The access token is invalid"}', content_type="application/json"
            )
        if scopes and self.oauth.allows(token, *scopes) is False:
            raise web.HTTPForbidden(
                text='{"error":"This action is outside the authorized scopes"}',
                content_type="application/json",
            )
        return account

    async def _form(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            data: dict[str, Any] = await request.json()
            return data
        form = await request.post()
        values: dict[str, Any] = {}
        for key in form:
            items = form.getall(key)
            values[key] = items if key.endswith("[]") else items[-1]
        return values

    async def _webfinger(self, request: web.Request) -> web.Response:
        """WebFinger (RFC 7033), as every server serves it: the actor id is the ``self`` link."""
        resource = request.query.get("resource", "")
        account = self._find_acct(resource.removeprefix("acct:"))
        if not resource.startswith("acct:") or account is None:
            raise web.HTTPNotFound()
        return web.json_response(
            {
                "subject": f"acct:{account.username}@{self.domain}",
                "aliases": [self.actor_id(account), self.profile_url(account)],
                "links": [
                    {
                        "rel": "http://webfinger.net/rel/profile-page",
                        "type": "text/html",
                        "href": self.profile_url(account),
                    },
                    {
                        "rel": "self",
                        "type": "application/activity+json",
                        "href": self.actor_id(account),
                    },
                ],
            },
            content_type="application/jrd+json",
        )

    async def _nodeinfo_links(self, _request: web.Request) -> web.Response:
        schema = "http://nodeinfo.diaspora.software/ns/schema/2.0"
        return web.json_response(
            {"links": [{"rel": schema, "href": f"{self.base_url}/nodeinfo/2.0"}]}
        )

    async def _nodeinfo(self, _request: web.Request) -> web.Response:
        """NodeInfo 2.0 as the servers write it: the software's name and version first."""
        return web.json_response(
            {
                "version": "2.0",
                "software": {"name": self.quirks.software, "version": self.quirks.version},
                "protocols": ["activitypub"],
                "services": {"outbound": [], "inbound": []},
                "usage": {"users": {"total": len(self.accounts)}, "localPosts": 0},
                "openRegistrations": False,
                "metadata": {},
            }
        )

    async def _share_page(self, request: web.Request) -> web.Response:
        """Mastodon's share page: its composer with ``text`` in it (signed in, as the reader
        in the browser is)."""
        self.shared.append(request.query.get("text", ""))
        text = html.escape(request.query.get("text", ""))
        page = (
            "<!doctype html><html><head><title>Mastodon: share</title></head><body>"
            f'<form><textarea id="compose" name="status">{text}</textarea>'
            "<button>Publish!</button></form></body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    async def _instance_v1(self, _request: web.Request) -> web.Response:
        return web.json_response(self.instance_v1())

    async def _instance_v2(self, _request: web.Request) -> web.Response:
        return web.json_response(self.instance_v2())

    async def _verify_credentials(self, request: web.Request) -> web.Response:
        # Mastodon 4.3 and GoToSocial also take ``profile``, made for this endpoint alone.
        account = self._caller(request, "read:accounts", "profile")
        return web.json_response(self.credential_account(account))

    async def _update_credentials(self, request: web.Request) -> web.Response:
        account = self._caller(request)
        form = await self._form(request)
        if "bot" in form:
            account.bot = str(form["bot"]).lower() in ("1", "true")
        if "display_name" in form:
            account.display_name = str(form["display_name"])
        if "note" in form:
            account.note = str(form["note"])
        fields = [
            {
                "name": form[f"fields_attributes[{n}][name]"],
                "value": form.get(f"fields_attributes[{n}][value]", ""),
            }
            for n in range(4)
            if f"fields_attributes[{n}][name]" in form
        ]
        if fields:
            account.fields = [
                {"name": f["name"], "value": f["value"], "verified_at": None} for f in fields
            ]
        return web.json_response(self.credential_account(account))

    async def _post_status(self, request: web.Request) -> web.Response:
        account = self._caller(request)
        if self.refuse_statuses > 0:
            self.refuse_statuses -= 1
            if self.rate_limit_reset_in is not None:
                self.rate_limit_reset = datetime.now(UTC) + self.rate_limit_reset_in
            # As Mastodon's rack-attack throttle answers: 429 with the window's headers.
            raise web.HTTPTooManyRequests(
                text='{"error":"Too many requests"}',
                content_type="application/json",
                headers={
                    "X-RateLimit-Limit": "300",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": _iso(self.rate_limit_reset),
                },
            )
        key = request.headers.get("idempotency-key") if self.quirks.idempotency_key else None
        if key and (account.id, key) in self._idempotency and self.repeated_key_fails:
            raise web.HTTPInternalServerError(text='{"error":"Internal Server Error"}',
                                              content_type="application/json")  # fmt: skip
        if key and (account.id, key) in self._idempotency:
            return web.json_response(self.status(self.statuses[self._idempotency[account.id, key]]))
        form = await self._form(request)
        text = str(form.get("status", ""))
        if not text.strip() or len(text) > STATUS_MAX_CHARACTERS:
            raise web.HTTPUnprocessableEntity(
                text='{"error":"Validation failed: Text can\'t be blank or is too long"}',
                content_type="application/json",
            )
        reply_to = self.statuses.get(str(form.get("in_reply_to_id", "")))
        status = Status(
            id=self._id(),
            account=account,
            text=text,
            visibility=str(form.get("visibility") or "public"),
            mentions=self._mentioned(text),
            in_reply_to=reply_to,
            language=form.get("language") or "en",
        )
        self.statuses[status.id] = status
        if key:
            self._idempotency[account.id, key] = status.id
        for mentioned in status.mentions:
            if mentioned.id != account.id:
                self._notify(Notification(self._id(), "mention", mentioned, account, status))
        return web.json_response(self.status(status))

    def _own_status(self, request: web.Request) -> tuple[Account, Status]:
        account = self._caller(request)
        status = self.statuses.get(request.match_info["id"])
        if status is None or status.account is not account:
            raise web.HTTPNotFound(
                text='{"error":"Record not found"}', content_type="application/json"
            )
        return account, status

    async def _edit_status(self, request: web.Request) -> web.Response:
        """An edit: Mastodon notifies accounts the new text mentions for the first time.
        Servers without edits have no such route: Rails answers 404 to an unknown route."""
        if not self.quirks.edits:
            raise web.HTTPNotFound(text='{"error":"Not Found"}', content_type="application/json")
        account, status = self._own_status(request)
        form = await self._form(request)
        before = {a.id for a in status.mentions}
        status.text = str(form.get("status", status.text))
        status.mentions = self._mentioned(status.text)
        status.edited_at = datetime.now(UTC)
        for mentioned in status.mentions:
            if mentioned.id not in before and mentioned.id != account.id:
                self._notify(Notification(self._id(), "mention", mentioned, account, status))
        return web.json_response(self.status(status, account))

    async def _delete_status(self, request: web.Request) -> web.Response:
        """Deleted; the answer is the status with its source text, to redraft it."""
        account, status = self._own_status(request)
        del self.statuses[status.id]
        self.notifications = [n for n in self.notifications if n.status is not status]
        return web.json_response({**self.status(status, account), "text": status.text})

    async def _get_status(self, request: web.Request) -> web.Response:
        self._caller(request)
        status = self.statuses.get(request.match_info["id"])
        if status is None:
            raise web.HTTPNotFound(
                text='{"error":"Record not found"}', content_type="application/json"
            )
        return web.json_response(self.status(status))

    async def _notifications(self, request: web.Request) -> web.Response:
        account = self._caller(request)
        query = request.query
        types = set(query.getall("types[]", [])) if self.quirks.types_filter else set()
        excluded = set(query.getall("exclude_types[]", []))
        since, until, after = (query.get(k) or None for k in ("since_id", "max_id", "min_id"))
        limit = min(int(query.get("limit", 40)), 80)
        lower = max((id_order(i) for i in (since, after) if i), default=None)
        mine = [
            n
            for n in reversed(self.notifications)
            if n.owner.id == account.id
            and (not types or n.type in types)
            and n.type not in excluded
            and (lower is None or id_order(n.id) > lower)
            and (until is None or id_order(n.id) < id_order(until))
        ]
        # min_id pages forward: the page right after min_id (still newest first), where
        # since_id gives the newest page.
        page = mine[-limit:] if after else mine[:limit]
        response = web.json_response([self.notification(n) for n in page])
        if page:  # as Mastodon, GoToSocial and Akkoma write it: older ("next"), newer ("prev")
            url = f"{self.base_url}{request.path}?limit={limit}"
            response.headers["Link"] = (
                f'<{url}&max_id={page[-1].id}>; rel="next", <{url}&min_id={page[0].id}>; rel="prev"'
            )
        return response

    async def _account_statuses(self, request: web.Request) -> web.Response:
        limit = min(int(request.query.get("limit", 20)), 40)
        owner = request.match_info["id"]
        viewer = self._caller(request)
        theirs = [s for s in reversed(self.statuses.values()) if s.account.id == owner]
        return web.json_response([self.status(s, viewer) for s in theirs[:limit]])

    async def _follow(self, request: web.Request) -> web.Response:
        follower = self._caller(request, "write:follows")
        target = self.accounts.get(request.match_info["id"])
        if target is None:
            raise web.HTTPNotFound(
                text='{"error":"Record not found"}', content_type="application/json"
            )
        key = (follower.id, target.id)
        if key not in self.follows:
            self.follows[key] = "requested" if target.locked else "following"
            kind = "follow_request" if target.locked else "follow"
            self._notify(Notification(self._id(), kind, target, follower, None))
        return web.json_response(self.relationship(follower, target))

    async def _following(self, request: web.Request) -> web.Response:
        """Whom an account follows, newest follow first, paged as Mastodon does: by the
        follow's own id (the ``Link`` header carries it; clients never read it)."""
        self._caller(request)
        limit = min(int(request.query.get("limit", 40)), 80)
        owner = request.match_info["id"]
        follows = [b for (a, b), s in self.follows.items() if a == owner and s == "following"]
        follows.reverse()
        start = int(request.query.get("max_id", 0))
        page = follows[start : start + limit]
        response = web.json_response([self.account(self.accounts[i]) for i in page])
        if start + limit < len(follows):
            url = f"{self.base_url}{request.path}?limit={limit}&max_id={start + limit}"
            response.headers["Link"] = f'<{url}>; rel="next"'
        return response

    async def _lookup(self, request: web.Request) -> web.Response:
        if request.headers.get("authorization"):  # public, but a token must allow it
            self._caller(request, "read:accounts")
        account = self._find_acct(request.query.get("acct", ""))
        if account is None:
            raise web.HTTPNotFound(
                text='{"error":"Record not found"}', content_type="application/json"
            )
        return web.json_response(self.account(account))

    async def _search(self, request: web.Request) -> web.Response:
        self._caller(request, "read:search")
        asked = request.query.get("q", "")
        if not self.quirks.search_bare_address and _bare_address_not_email(asked):
            asked = ""  # GoToSocial: not an address, and no account is named like it
        query = asked.lstrip("@").lower()
        query = query.removesuffix(f"@{self.domain.lower()}")  # an address here: a local acct
        found = [a for a in self.accounts.values() if query and query in self.acct(a).lower()]
        if request.query.get("type") not in (None, "accounts"):
            found = []
        return web.json_response(
            {
                "accounts": [self.account(a) for a in found],
                "statuses": [],
                "hashtags": [],
                "collections": [],
            }
        )

    async def _conversations(self, request: web.Request) -> web.Response:
        account = self._caller(request)
        threads: dict[frozenset[str], list[Status]] = {}
        for status in self.statuses.values():
            people = {status.account.id, *(m.id for m in status.mentions)}
            if status.visibility == "direct" and account.id in people:
                threads.setdefault(frozenset(people), []).append(status)
        ordered = sorted(threads.items(), key=lambda item: id_order(item[1][-1].id), reverse=True)
        views: list[dict[str, Any]] = [
            {
                "id": min((s.id for s in statuses), key=id_order),
                "unread": statuses[-1].account.id != account.id,
                "accounts": [
                    self.account(self.accounts[i]) for i in sorted(people) if i != account.id
                ],
                "last_status": self.status(statuses[-1]),
            }
            for people, statuses in ordered
        ]
        return web.json_response(views)

    def _notify(self, notification: Notification) -> None:
        self.notifications.append(notification)
        self._publish(notification.owner, "notification", self.notification(notification))

    def _find_acct(self, acct: str) -> Account | None:
        username, _, domain = acct.lstrip("@").partition("@")
        if domain and domain != self.domain:
            return None
        return next((a for a in self.accounts.values() if a.username == username), None)

    def _mentioned(self, text: str) -> list[Account]:
        found: list[Account] = []
        for username, domain in MENTION_RE.findall(text):
            if domain and domain != self.domain:
                continue
            account = next((a for a in self.accounts.values() if a.username == username), None)
            if account is not None and account not in found:
                found.append(account)
        return found

    # --- entities -----------------------------------------------------------------------

    def acct(self, account: Account) -> str:
        return (
            f"{account.username}@{self.domain}"
            if self.quirks.acct_with_domain
            else account.username
        )

    def actor_id(self, account: Account) -> str:
        """The account's ActivityPub id."""
        return f"{self.base_url}/users/{account.username}"

    def profile_url(self, account: Account) -> str:
        """The account's page for people."""
        return f"{self.base_url}/@{account.username}"

    def streaming_url(self) -> str:
        """What the instance advertises for streaming."""
        return f"{'wss' if self.quirks.advertise_tls else 'ws'}://{self.domain}"

    def account(self, account: Account) -> dict[str, Any]:
        statuses = [s for s in self.statuses.values() if s.account.id == account.id]
        entity = self._mastodon_account(account, statuses)
        if not self.quirks.account_uri:
            del entity["uri"]
        if self.quirks.pleroma:
            entity["url"] = self.actor_id(account)  # Pleroma: user.uri || user.ap_id
            entity["fqn"] = f"{account.username}@{self.domain}"
            entity["pleroma"] = {
                "ap_id": self.actor_id(account),
                "also_known_as": [],
                "is_confirmed": True,
                "tags": [],
                "relationship": {},
            }
        return entity

    def _mastodon_account(self, account: Account, statuses: list[Status]) -> dict[str, Any]:
        url = self.profile_url(account)
        return {
            "id": account.id,
            "username": account.username,
            "acct": self.acct(account),
            "display_name": account.display_name,
            "locked": account.locked,
            "bot": account.bot,
            "discoverable": False,
            "indexable": False,
            "group": False,
            "created_at": _iso(
                account.created_at.replace(hour=0, minute=0, second=0, microsecond=0)
            ),
            "note": html.escape(account.note),
            "url": url,
            "uri": self.actor_id(account),
            "avatar": f"{self.base_url}/avatars/original/missing.png",
            "avatar_static": f"{self.base_url}/avatars/original/missing.png",
            "avatar_description": "",
            "header": f"{self.base_url}/headers/original/missing.png",
            "header_static": f"{self.base_url}/headers/original/missing.png",
            "header_description": "",
            "followers_count": sum(
                1 for (_, b), s in self.follows.items() if b == account.id and s == "following"
            ),
            "following_count": sum(
                1 for (a, _), s in self.follows.items() if a == account.id and s == "following"
            ),
            "statuses_count": len(statuses),
            "last_status_at": statuses[-1].created_at.date().isoformat() if statuses else None,
            "hide_collections": None,
            "show_media": True,
            "show_media_replies": True,
            "show_featured": True,
            "noindex": False,
            "feature_approval": {"automatic": [], "manual": [], "current_user": "denied"},
            "emojis": [],
            "roles": [],
            "fields": account.fields,
        }

    def relationship(self, viewer: Account, other: Account) -> dict[str, Any]:
        state = self.follows.get((viewer.id, other.id))
        return {
            "id": other.id,
            "following": state == "following",
            "showing_reblogs": state == "following",
            "notifying": False,
            "languages": None,
            "followed_by": self.follows.get((other.id, viewer.id)) == "following",
            "blocking": False,
            "blocked_by": False,
            "muting": False,
            "muting_notifications": False,
            "muting_expires_at": None,
            "requested": state == "requested",
            "requested_by": self.follows.get((other.id, viewer.id)) == "requested",
            "domain_blocking": False,
            "endorsed": False,
            "note": "",
        }

    def credential_account(self, account: Account) -> dict[str, Any]:
        return self.account(account) | {
            "source": {
                "privacy": "public",
                "sensitive": False,
                "language": None,
                "note": account.note,
                "fields": [
                    {"name": f["name"], "value": f["value"], "verified_at": None}
                    for f in account.fields
                ],
                "follow_requests_count": 0,
                "hide_collections": None,
                "discoverable": None,
                "indexable": False,
                "attribution_domains": [],
                "quote_policy": "public",
            },
            "role": {
                "id": "-99",
                "name": "",
                "permissions": "0",
                "color": "",
                "highlighted": False,
                "collection_limit": 0,
            },
        }

    def status(self, status: Status, viewer: Account | None = None) -> dict[str, Any]:
        entity = {
            "id": status.id,
            "created_at": _iso(status.created_at),
            "in_reply_to_id": status.in_reply_to.id if status.in_reply_to else None,
            "in_reply_to_account_id": status.in_reply_to.account.id if status.in_reply_to else None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": status.visibility,
            "language": status.language,
            "uri": f"{self.base_url}/users/{status.account.username}/statuses/{status.id}",
            "url": f"{self.base_url}/@{status.account.username}/{status.id}",
            "replies_count": sum(1 for s in self.statuses.values() if s.in_reply_to is status),
            "reblogs_count": 0,
            "favourites_count": 0,
            "quotes_count": 0,
            "edited_at": _iso(status.edited_at) if status.edited_at else None,
            "favourited": False,
            "reblogged": False,
            "muted": False,
            "bookmarked": False,
            "content": self._content(status),
            "filtered": [],
            "reblog": None,
            "application": TOKEN_APP,
            "account": self.account(status.account),
            "media_attachments": [],
            "mentions": [
                {
                    "id": m.id,
                    "username": m.username,
                    "url": f"{self.base_url}/@{m.username}",
                    "acct": self.acct(m),
                }
                for m in status.mentions
            ],
            "tags": [],
            "emojis": [],
            "tagged_collections": [],
            "quote": None,
            "quote_approval": {"automatic": ["public"], "manual": [], "current_user": "automatic"},
            "card": None,
            "poll": None,
        }
        # Mastodon says whether a status is pinned only to its author, for pinnable ones.
        if viewer is status.account and status.visibility in ("public", "unlisted"):
            entity["pinned"] = False
        if self.quirks.pleroma:
            entity["pleroma"] = {"local": True, "conversation_id": None, "context": None}
        if not self.quirks.edits:
            del entity["edited_at"]
        return entity

    def _content(self, status: Status) -> str:
        def link(match: re.Match[str]) -> str:
            username = match.group(1)
            return (
                f'<span class="h-card" translate="no"><a href="{self.base_url}/@{username}" '
                f'class="u-url mention">@<span>{username}</span></a></span>'
            )

        return f"<p>{MENTION_RE.sub(link, html.escape(status.text, quote=False))}</p>"

    def notification(self, notification: Notification) -> dict[str, Any]:
        entity = {
            "id": notification.id,
            "type": notification.type,
            "created_at": _iso(notification.created_at),
            "group_key": f"ungrouped-{notification.id}",
            "account": self.account(notification.account),
            "status": self.status(notification.status) if notification.status else None,
        }
        if self.quirks.pleroma:
            entity["pleroma"] = {"is_seen": False, "is_muted": False}
        return entity

    def instance_v1(self) -> dict[str, Any]:
        return {
            "uri": self.domain,
            "title": "helloquittex test server",
            "short_description": "",
            "description": "",
            "email": "",
            "version": self.quirks.version,
            "urls": {"streaming_api": self.streaming_url()},
            "stats": {
                "user_count": len(self.accounts),
                "status_count": len(self.statuses),
                "domain_count": 1,
            },
            "thumbnail": f"{self.base_url}/preview.png",
            "languages": ["en", "fr"],
            "registrations": False,
            "approval_required": False,
            "invites_enabled": False,
            "configuration": self._configuration(),
            "contact_account": None,
            "rules": [],
        } | (
            {"pleroma": {"metadata": {"features": ["mastodon_api"]}}} if self.quirks.pleroma else {}
        )

    def instance_v2(self) -> dict[str, Any]:
        urls = {
            "streaming": self.streaming_url(),
            "status": None,
            "about": f"{self.base_url}/about",
            "privacy_policy": f"{self.base_url}/privacy-policy",
            "terms_of_service": None,
        }
        public = {"local": "public", "remote": "public"}
        return {
            "domain": self.domain,
            "title": "helloquittex test server",
            "version": self.quirks.version,
            "source_url": "https://github.com/mastodon/mastodon",
            "description": "",
            "usage": {"users": {"active_month": len(self.accounts)}},
            "thumbnail": {"url": f"{self.base_url}/preview.png", "description": ""},
            "icon": [],
            "languages": ["en", "fr"],
            "configuration": self._configuration()
            | {
                "urls": urls,
                "vapid": {"public_key": ""},
                "translation": {"enabled": False},
                "limited_federation": False,
                "timelines_access": {
                    "live_feeds": public,
                    "hashtag_feeds": public,
                    "trending_link_feeds": public,
                },
            },
            "registrations": {
                "enabled": False,
                "approval_required": False,
                "reason_required": False,
                "message": None,
                "min_age": None,
                "url": None,
            },
            "api_versions": {"mastodon": 6},
            "contact": {"email": "", "account": None},
            "rules": [],
            "wrapstodon": None,
        }

    def _configuration(self) -> dict[str, Any]:
        return {
            "accounts": {
                "max_featured_tags": 10,
                "max_pinned_statuses": 5,
                "max_display_name_length": 30,
                "max_note_length": 500,
                "max_avatar_description_length": 150,
                "max_header_description_length": 150,
                "max_profile_fields": 4,
                "profile_field_name_limit": 255,
                "profile_field_value_limit": 255,
            },
            "statuses": {
                "max_characters": STATUS_MAX_CHARACTERS,
                "max_media_attachments": 4,
                "characters_reserved_per_url": 23,
            },
            "media_attachments": {
                "supported_mime_types": ["image/png", "image/jpeg"],
                "description_limit": 1500,
                "image_size_limit": 16777216,
                "image_matrix_limit": 33177600,
                "video_size_limit": 103809024,
                "video_frame_rate_limit": 120,
                "video_matrix_limit": 8294400,
            },
            "polls": {
                "max_options": 4,
                "max_characters_per_option": 50,
                "min_expiration": 300,
                "max_expiration": 2629746,
            },
        }


def _bare_address_not_email(query: str) -> bool:
    """``user@host`` without its leading ``@``, that no e-mail parser would take (a port)."""
    if query.startswith("@") or "@" not in query:
        return False
    host = query.rsplit("@", 1)[1]
    return ":" in host
