"""An authorization a person starts from their space on their own server (OAuth), carried to
its callback in a sealed cookie: bound to the session's person, short-lived, for the callback
path only, checked there against the ``state`` the server sends back."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hqx.state import SETTINGS
from hqx.web.texts import context
from shared import sealed

if TYPE_CHECKING:
    from hqx.web.space import Visit

FLOW_SEC = 600


@dataclass(frozen=True, slots=True)
class Flow:
    """One kind of flow: its cookie, what its seal is for, its callback's path."""

    cookie: str
    purpose: str
    path: str

    def keep(
        self, request: web.Request, response: web.StreamResponse, visit: Visit, **values: Any
    ) -> None:
        """Set the cookie: ``values`` (``state`` among them), the person, the language."""
        settings = request.app[SETTINGS]
        flow = {"person": visit.person, "until": time.time() + FLOW_SEC,
                "lang": context(request)["lang"], **values}  # fmt: skip
        response.set_cookie(
            self.cookie,
            sealed.seal(settings.require_secret_key(), self.purpose, json.dumps(flow)),
            path=self.path,
            max_age=FLOW_SEC,
            httponly=True,
            samesite="Lax",  # sent on the server's redirect back (a top-level navigation)
            secure=(settings.public_url or "").startswith("https://"),
        )

    def opened(self, request: web.Request, visit: Visit) -> dict[str, Any] | None:
        """The flow this callback ends, if it is the one this person started here, in time,
        with the same ``state``."""
        key = request.app[SETTINGS].require_secret_key()
        cookie = request.cookies.get(self.cookie)
        opened = sealed.unseal(key, self.purpose, cookie) if cookie else None
        flow = json.loads(opened) if opened else None
        if (
            not isinstance(flow, dict)
            or flow.get("person") != visit.person
            or flow.get("until", 0) < time.time()
            or not secrets.compare_digest(request.query.get("state", ""), flow.get("state", ""))
        ):
            return None
        return flow

    def done(self, flow: dict[str, Any]) -> web.Response:
        """Back to the space, in the language the person started in (the server's redirect
        carries none), the cookie gone."""
        response = web.Response(
            status=303, headers={"Location": f"/me?saved=1&lang={flow['lang']}"}
        )
        response.del_cookie(self.cookie, path=self.path)
        return response
