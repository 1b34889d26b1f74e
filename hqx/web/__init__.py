"""The web portal: routes (:mod:`.pages`), templates with auto-escaping (``templates/``),
static files (``static/``), in French and English (:mod:`.texts`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp_jinja2
import jinja2

from hqx.web import follows, pages, public, space

if TYPE_CHECKING:
    from aiohttp import web

HERE = Path(__file__).resolve().parent


def setup(app: web.Application) -> None:
    """Give ``app`` the portal's templates, static files and routes."""
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"], default=True),
    )
    app.add_routes(pages.routes)
    app.add_routes(space.routes)
    app.add_routes(public.routes)
    app.add_routes(follows.routes)
    app.router.add_static("/static/", HERE / "static", name="static")
    app.on_response_prepare.append(_security_headers)


SECURITY_HEADERS = {
    # Our own styles, no script, no framing: nothing of the portal runs anywhere else.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Upload links hold a secret: no page of the portal tells another site where it was.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Server": "helloquittex",  # no software versions for scanners
}


async def _security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
