"""Link cards: what a link to a public page shows when it is posted on Bluesky or Mastodon
(both read the page's Open Graph tags: Mastodon's server fetches the page and its
``og:image``; Bluesky's app builds the card from the same tags), and the images drawn for
them (``/card/NAME.png``), kept a while: a link shared widely is fetched by every server
that sees it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

from hqx.state import CARDS, ENGINE, SETTINGS, STATS
from hqx.web import images
from hqx.web.images import KEPT_SEC
from hqx.web.texts import TEXTS, language_of
from shared.portal import stats

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

routes = web.RouteTableDef()

LOCALES = {"fr": "fr_FR", "en": "en_GB"}
PAGES = ("home", "stats", "media", "privacy")
"""The public pages that have an image of their own."""


def public_url(request: web.Request) -> str:
    return (request.app[SETTINGS].public_url or f"{request.scheme}://{request.host}").rstrip("/")


def meta(request: web.Request, title: str, description: str, image: str) -> dict[str, str]:
    """A page's Open Graph tags (``image``: a path on the portal, made absolute)."""
    lang = language_of(request)
    base = public_url(request)
    return {
        "og:type": "website",
        "og:site_name": "HelloQuitteX",
        "og:title": title,
        "og:description": description,
        "og:url": f"{base}{request.path}" + (f"?lang={lang}" if "lang" in request.query else ""),
        "og:image": f"{base}{image}",
        "og:image:width": str(images.SIZE[0]),
        "og:image:height": str(images.SIZE[1]),
        "og:image:alt": title,
        "og:locale": LOCALES[lang],
        "twitter:card": "summary_large_image",
    }


def page_meta(
    request: web.Request, page: str, title_key: str, description_key: str
) -> dict[str, str]:
    """The tags of one of :data:`PAGES`, with its own image."""
    words = TEXTS[language_of(request)]
    lang = language_of(request)
    return meta(request, words[title_key], words[description_key], f"/card/{page}.png?lang={lang}")


@routes.get("/card/{page}.png")
async def _card(request: web.Request) -> web.Response:
    page = request.match_info["page"]
    if page not in PAGES:
        raise web.HTTPNotFound
    lang = language_of(request)

    async def draw() -> bytes:
        words = TEXTS[lang]
        if page == "stats":
            counted = await request.app[STATS].get(request.app[ENGINE])
            sep = words["thousands"]
            lines = [f"{words['figure_' + name]} : {counted.figures[name]:,}".replace(",", sep)
                     if lang == "fr" else f"{words['figure_' + name]}: {counted.figures[name]:,}"
                     for name in stats.CHARTED]  # fmt: skip
            title = words["stats_title"]
        else:
            title = {"home": words["home_lead"], "media": words["media_title"],
                     "privacy": words["privacy_title"]}[page]  # fmt: skip
            lines = [words["home_description"]] if page == "home" else []
        return await asyncio.to_thread(images.card, title, lines, public_url(request))

    return await drawn(request, (page, lang), draw)


async def drawn(
    request: web.Request, key: tuple[str, str], draw: Callable[[], Awaitable[bytes]]
) -> web.Response:
    """The card image of ``key``, kept or drawn now, as a PNG caches may keep as long."""
    png = await request.app[CARDS].get(key, draw)
    return web.Response(body=png, content_type="image/png",
                        headers={"Cache-Control": f"public, max-age={int(KEPT_SEC)}"})  # fmt: skip
