"""Images made to be posted or shown in a link's card: drawn here (Pillow, with DejaVu Sans),
PNG, 1200 by 630 (the size both networks' cards and posts show whole)."""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger(__name__)

SIZE = (1200, 630)
KEPT_SEC = 600.0
"""How long a drawn image is kept (a link shared widely is fetched by every server that
sees it)."""
MARGIN = 64
INK = "#ffffff"
PAPER = "#0b3d91"  # the portal's blue: white on it passes WCAG AA (8.9:1)
SOFT = "#d6e4ff"


FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),  # Debian's fonts-dejavu-core
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)


@functools.cache
def _font_file() -> Path | None:
    found = next((path for path in FONTS if path.exists()), None)
    if found is None:
        log.warning("no DejaVu Sans font (Debian: fonts-dejavu-core): images drawn without accents")
    return found


@functools.lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = _font_file()
    return ImageFont.load_default(size) if path is None else ImageFont.truetype(str(path), size)


def _wrapped(draw: ImageDraw.ImageDraw, text: str, size: int, width: int) -> list[str]:
    """``text`` in lines no wider than ``width`` at ``size``."""
    font = _font(size)
    lines: list[str] = []
    for word in text.split():
        trial = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textlength(trial, font=font) <= width:
            lines[-1] = trial
        else:
            lines.append(word)
    return lines


def card(title: str, lines: Sequence[str], footer: str) -> bytes:
    """A card: the service's name, a title (as large as fits in three lines), the lines,
    and a footer (an address)."""
    image = Image.new("RGB", SIZE, PAPER)
    draw = ImageDraw.Draw(image)
    width = SIZE[0] - 2 * MARGIN
    draw.text((MARGIN, MARGIN - 16), "HelloQuitteX", fill=SOFT, font=_font(34))
    size = 64
    while size > 32 and len(_wrapped(draw, title, size, width)) > 3:
        size -= 4
    y = MARGIN + 44
    for line in _wrapped(draw, title, size, width):
        draw.text((MARGIN, y), line, fill=INK, font=_font(size))
        y += int(size * 1.2)
    y += 18
    for text in lines:
        for line in _wrapped(draw, text, 34, width):
            draw.text((MARGIN, y), line, fill=INK, font=_font(34))
            y += 44
    draw.text((MARGIN, SIZE[1] - MARGIN - 20), footer, fill=SOFT, font=_font(30))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


@dataclass
class Cards:
    """Images drawn, by page and language, kept :data:`KEPT_SEC`."""

    _kept: dict[tuple[str, str], tuple[float, bytes]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self, key: tuple[str, str], draw: Callable[[], Awaitable[bytes]]) -> bytes:
        async with self.lock:
            kept = self._kept.get(key)
            if kept is None or kept[0] < time.monotonic():
                kept = (time.monotonic() + KEPT_SEC, await draw())
                self._kept[key] = kept
            return kept[1]
