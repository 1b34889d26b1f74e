"""The service's logs, as a line of text or a JSON object per record (``HQX_LOG_FORMAT``),
and never with what identifies a person: DIDs (and so AT URIs), account addresses
(``user@host``, ``@handle``), the paths of account URLs, X ids and tokens are replaced by a
short digest of themselves, the same each time, so that an operator can still follow one
account through the log without reading who it is. Redacted after formatting: exceptions'
messages and tracebacks too."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.config import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CHATTY = ("httpx", "apscheduler", "alembic")
"""Libraries that log a line per request or job run: only what goes wrong is kept."""

_PERSONAL = re.compile(
    "|".join(
        (
            r"did:(?:plc|web|key):[A-Za-z0-9._:%-]+",  # a DID, alone or in an AT URI
            r"(?<![\w.@/-])@?[A-Za-z0-9_][\w.-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?::\d+)?",
            r"(?<=[/])(?:users/|@)[\w.-]+",  # the account in an ActivityPub id or profile URL
            r"(?<![\w.-])@[A-Za-z0-9][\w-]*(?:\.[\w-]+)+",  # a mention of a handle
            r"(?<!\d)\d{10,19}(?!\d)",  # an X id (timestamps and ports are shorter)
            r"[Bb]earer\s+[\w.~+/=-]+",
            r"[A-Za-z0-9_-]{32,}",  # a token, a key, a signature
        )
    )
)


def redact(text: str) -> str:
    """``text`` without what identifies a person (see the module's doc)."""
    return _PERSONAL.sub(_digest, text)


def _digest(found: re.Match[str]) -> str:
    return f"[#{hashlib.sha256(found.group(0).encode()).hexdigest()[:8]}]"


class TextFormatter(logging.Formatter):
    """A line per record, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """A JSON object per record, on one line: ``time``, ``level``, ``logger``, ``message``,
    and ``exception`` when there is one; redacted."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def configure(settings: Settings) -> None:
    """The root logger writes to standard error as the settings say (replacing any handler
    set before: the last call wins)."""
    handler = logging.StreamHandler(sys.stderr)
    json_lines = settings.log_format == "json"
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for chatty in CHATTY:
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
