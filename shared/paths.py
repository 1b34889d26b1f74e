"""Where helloquittex keeps files on this machine."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir(name: str, override_variable: str) -> Path:
    """``$<override_variable>`` if set, else ``$XDG_CACHE_HOME/helloquittex/<name>``
    (``~/.cache`` without XDG_CACHE_HOME)."""
    explicit = os.environ.get(override_variable)
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "helloquittex" / name
