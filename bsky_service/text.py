"""Text as Bluesky holds it: posts cut to their length, the bot's own mention cut out of what
people wrote, and the moments the AppView writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from atproto import models


def fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    # Code points stand in for graphemes: our texts hold no combining sequences.
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def without_mention_of(record: models.AppBskyFeedPost.Record, did: str) -> str:
    """The post's text with the mention facets of ``did`` cut out (facets index UTF-8 bytes)."""
    data = record.text.encode()
    spans = sorted(
        (facet.index.byte_start, facet.index.byte_end)
        for facet in record.facets or []
        if any(getattr(feature, "did", None) == did for feature in facet.features)
    )
    kept, position = bytearray(), 0
    for start, end in spans:
        kept += data[position:start]
        position = max(position, end)
    kept += data[position:]
    return " ".join(kept.decode(errors="replace").split())


def parse_moment(moment: str) -> datetime:
    """A moment as the AppView writes it (one without a zone is UTC)."""
    parsed = datetime.fromisoformat(moment)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
