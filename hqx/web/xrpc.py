"""The registry other apps can query, as XRPC methods declared in ``lexicons/`` and checked
against them at run time (parameters on the way in, outputs on the way out): the public
``org.helloquittex.registry.lookup``, and a person's own ``getStatus`` and
``listContacts``, authenticated with AT Protocol service auth. The service's ``did:web``
document is served beside them."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from sqlmodel import Session

from bsky_service import service_auth
from bsky_service.lexicon import LexiconError, Lexicons, ours
from hqx.state import DIDS, ENGINE, SETTINGS
from shared.portal import registry
from shared.vocabulary import Network

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)
T = TypeVar("T")

LOOKUP = "org.helloquittex.registry.lookup"
GET_STATUS = "org.helloquittex.registry.getStatus"
LIST_CONTACTS = "org.helloquittex.registry.listContacts"
LEXICONS = web.AppKey("lexicons", Lexicons)
routes = web.RouteTableDef()


def setup(app: web.Application) -> None:
    """Read the lexicons once, when the application is made."""
    app[LEXICONS] = ours()
    app.add_routes(routes)


def _error(status: int, name: str, message: str) -> web.Response:
    return web.json_response({"error": name, "message": message}, status=status)


@routes.get("/.well-known/did.json")
async def _did_document(request: web.Request) -> web.Response:
    public_url = request.app[SETTINGS].public_url
    if public_url is None:
        raise web.HTTPNotFound
    return web.json_response(service_auth.did_document(public_url))


@routes.get("/xrpc/{nsid}")
async def _query(request: web.Request) -> web.Response:
    nsid = request.match_info["nsid"]
    method = _METHODS.get(nsid)
    if method is None:
        return _error(501, "MethodNotImplemented", f"{nsid} is not a method of this service")
    lexicons = request.app[LEXICONS]
    try:
        params = lexicons.query_params(nsid, request.query)
    except LexiconError as e:
        return _error(400, "InvalidRequest", str(e))
    try:
        output = await method(request, params)
    except registry.NotFoundError as e:
        return _error(404, "NotFound", str(e))
    except service_auth.ServiceAuthError as e:
        return _error(401, "InvalidToken", str(e))
    try:
        lexicons.validate_output(nsid, output)
    except LexiconError:  # ours to fix: never send what the lexicon does not promise
        log.exception("%s would have answered outside its lexicon", nsid)
        return _error(500, "InternalServerError", "the answer did not fit its lexicon")
    return web.json_response(output)


async def _lookup(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    return await _read(request.app[ENGINE], registry.lookup, params["x"])


async def _status(request: web.Request, _params: dict[str, Any]) -> dict[str, Any]:
    person = await _caller(request, GET_STATUS)
    return await _read(request.app[ENGINE], registry.status, person)


async def _contacts(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    person = await _caller(request, LIST_CONTACTS)

    def page(session: Session) -> dict[str, Any]:
        found = registry.contacts(session, person, limit=params["limit"],
                                  cursor=params.get("cursor"))  # fmt: skip
        return {"contacts": found.contacts} | ({"cursor": found.cursor} if found.cursor else {})

    return await _read(request.app[ENGINE], page)


async def _caller(request: web.Request, nsid: str) -> int:
    """The person whose PDS signed the request's service-auth token for this method."""
    settings = request.app[SETTINGS]
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or settings.public_url is None:
        raise service_auth.ServiceAuthError(
            "this method needs a service-auth token (com.atproto.server.getServiceAuth) in "
            "Authorization: Bearer"
        )
    did = await service_auth.verify(
        header.removeprefix("Bearer ").strip(),
        audience=service_auth.service_did(settings.public_url),
        method=nsid,
        documents=request.app[DIDS],
    )
    return await _read(request.app[ENGINE], registry.person_of, Network.BLUESKY.value, did)


async def _read(engine: Engine, read: Callable[..., T], *args: Any) -> T:
    def run() -> T:
        with Session(engine) as session:
            return read(session, *args)

    return await asyncio.to_thread(run)


_METHODS = {LOOKUP: _lookup, GET_STATUS: _status, LIST_CONTACTS: _contacts}
