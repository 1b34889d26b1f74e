"""What the running application holds, under typed keys: its settings, and the database
engine and the service that its cleanup context owns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.engine import Engine

from bsky_service.identity import DidDocuments
from hqx.outbound import OutboundClient
from hqx.x_signin import XSignIn
from shared.config import Settings
from shared.service import Service

if TYPE_CHECKING:  # the portal's own types: typed here, without importing the portal
    from hqx.imports import Imports
    from hqx.web.figures import StatsCache
    from hqx.web.images import Cards
    from hqx.web.limits import Pace
    from hqx.web.nodeinfo import Servers

SETTINGS = web.AppKey("settings", Settings)
SERVICE = web.AppKey("service", Service)
ENGINE = web.AppKey("engine", Engine)
IMPORTS: web.AppKey[Imports] = web.AppKey("imports")
STATS: web.AppKey[StatsCache] = web.AppKey("stats")
DOORS: web.AppKey[Pace] = web.AppKey("doors")
"""The pace of the one-time links' pages, per client address."""
CARDS: web.AppKey[Cards] = web.AppKey("cards")
"""The link cards' images, drawn and kept a while."""
SHARES: web.AppKey[Servers] = web.AppKey("shares")
"""Readers' servers as their NodeInfo says, for the share button."""
SHARE_PACE: web.AppKey[Pace] = web.AppKey("share_pace")
"""How many shares one client address may have counted, per minute."""
X_SIGNIN = web.AppKey("x_signin", XSignIn)
"""Present when the operator configured an X app: "Sign in with X"."""
OUTBOUND = web.AppKey("outbound", OutboundClient)
"""The one client for addresses someone else gave (:mod:`shared.outbound`)."""
DIDS = web.AppKey("dids", DidDocuments)
"""DID documents, read through :data:`OUTBOUND` and kept a while."""
