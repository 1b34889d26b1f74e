"""Responses recorded from a real Mastodon, as the reference for the test server's shapes.

Mastodon.py's source distribution carries its test suite's VCR cassettes: hundreds of real
request/response pairs from a Mastodon server. :func:`fetch` downloads that distribution from
PyPI once (a setup step, never a test) into a cache; :func:`load` reads the JSON responses by
endpoint; :func:`differences` compares a response with the recorded ones, field by field.

    python -m testworld.mastodon.reference   # fetch into the cache, print where
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from shared.paths import user_cache_dir

DISTRIBUTION = "Mastodon.py"
SAME_ENTITY_OVERLAP = 0.5
# libyaml's loader when present: the cassettes are 17 MB of YAML.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ID_SEGMENT = re.compile(r"/(\d+|[0-9a-f]{32,})(?=/|$)")


class RecordingsMissingError(RuntimeError):
    """The recordings are missing or unreadable; the message says how to get them."""


def version() -> str:
    """The installed Mastodon.py's version: the recordings come from the same release."""
    return metadata.version(DISTRIBUTION)


def cache_dir() -> Path:
    """``$HQX_MASTODON_REFERENCE_CACHE``, else ``$XDG_CACHE_HOME/helloquittex/mastodon-py``."""
    return user_cache_dir("mastodon-py", "HQX_MASTODON_REFERENCE_CACHE")


def cassettes_path(cache: Path | None = None) -> Path:
    """Where the cassettes of this Mastodon.py version are (or will be) kept."""
    return (cache or cache_dir()) / version() / "cassettes"


def fetch(cache: Path | None = None) -> Path:
    """Download the source distribution from PyPI and keep its cassettes; a no-op if kept."""
    target = cassettes_path(cache)
    if target.is_dir():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(  # noqa: S603  (pip, with a pinned requirement)
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
             ":all:", f"{DISTRIBUTION}=={version()}", "--dest", tmp],
            check=True,
        )  # fmt: skip
        [archive] = Path(tmp).glob("*.tar.gz")
        staging = Path(tmp) / "cassettes"
        staging.mkdir()
        with tarfile.open(archive) as sdist:
            for member in sdist.getmembers():
                parts = Path(member.name).parts
                if member.isfile() and parts[1:3] == ("tests", "cassettes"):
                    member.name = Path(*parts[3:]).as_posix()
                    sdist.extract(member, staging, filter="data")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(target)
    return target


@dataclass
class Recordings:
    """Recorded JSON responses by endpoint, ``("GET", "/api/v1/accounts/:id")``."""

    responses: dict[tuple[str, str], list[Any]] = field(default_factory=lambda: defaultdict(list))
    nullable: set[str] = field(default_factory=set)
    """Field names that are null somewhere in the recordings: Mastodon leaves them empty
    depending on the data (an account's ``discoverable``, a status's ``language``)."""

    def differences(self, endpoint: tuple[str, str], actual: Any) -> list[str]:
        """:func:`differences` against this endpoint's recordings."""
        return differences(self[endpoint], actual, nullable=frozenset(self.nullable))

    def __getitem__(self, endpoint: tuple[str, str]) -> list[Any]:
        found = self.responses.get(endpoint)
        if not found:
            raise KeyError(f"no recorded response for {endpoint[0]} {endpoint[1]}")
        return found


def endpoint_of(method: str, uri: str) -> tuple[str, str]:
    """The endpoint of a request: method and path, ids replaced by ``:id``."""
    path = _ID_SEGMENT.sub("/:id", urlsplit(uri).path).rstrip("/")
    return method.upper(), path or "/"


def load(cassettes: Path | None = None) -> Recordings:
    """Every successful JSON response of the cassettes, by endpoint."""
    folder = cassettes or cassettes_path()
    if not folder.is_dir():
        raise RecordingsMissingError(
            f"no recorded Mastodon responses in {folder}: run "
            "`python -m testworld.mastodon.reference` (scripts/test.sh does)"
        )
    recordings = Recordings()
    for path in sorted(folder.glob("*.yaml")):
        cassette = yaml.load(path.read_text(), Loader=_YAML_LOADER) or {}  # noqa: S506
        for interaction in cassette.get("interactions", []):
            response = interaction["response"]
            body = response.get("body", {}).get("string", "")
            if not 200 <= response["status"]["code"] < 300 or not body.startswith(("{", "[")):
                continue
            request = interaction["request"]
            parsed = json.loads(body)
            recordings.responses[endpoint_of(request["method"], request["uri"])].append(parsed)
            recordings.nullable |= _null_keys(parsed)
    return recordings


def _null_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {key for key, item in value.items() if item is None}
        for item in value.values():
            found |= _null_keys(item)
        return found
    if isinstance(value, list):
        return set().union(*(_null_keys(item) for item in value)) if value else set()
    return set()


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def _alike(objects: list[dict[str, Any]], actual: dict[str, Any]) -> list[dict[str, Any]]:
    """The examples of the same entity as ``actual``: one endpoint may answer several kinds
    (a status, or a scheduled status), told apart by their fields."""
    keys = set(actual)

    def overlap(example: dict[str, Any]) -> float:
        union = keys | set(example)
        return len(keys & set(example)) / len(union) if union else 1.0

    alike = [example for example in objects if overlap(example) >= SAME_ENTITY_OVERLAP]
    return alike or objects


def differences(
    recorded: list[Any], actual: Any, path: str = "", nullable: frozenset[str] = frozenset()
) -> list[str]:
    """How ``actual`` departs from the shape of the recorded examples.

    A field every recorded example has must be there; a field must have a type some example
    has. Null and a value stand for each other only for fields in ``nullable``. Fields no
    example has are allowed: servers add their own.
    """
    kinds = {_kind(example) for example in recorded}
    kind = _kind(actual)
    either_null = "null" in (kinds | {kind}) and path.rsplit("/", 1)[-1] in nullable
    if kind not in kinds and not either_null:
        return [f"{path or '/'}: {kind}, recorded {' or '.join(sorted(kinds))}"]
    if kind == "null":
        return []
    if kind == "object":
        objects = _alike([e for e in recorded if isinstance(e, dict)], actual)
        found = []
        for key in sorted(set().union(*objects)):
            present = [e[key] for e in objects if key in e]
            if key not in actual:
                if len(present) == len(objects):
                    found.append(f"{path}/{key}: missing")
                continue
            found += differences(present, actual[key], f"{path}/{key}", nullable)
        return found
    if kind == "array":
        items = [item for e in recorded if isinstance(e, list) for item in e]
        if not items:
            return []
        return [d for item in actual for d in differences(items, item, f"{path}[]", nullable)]
    return []


def main() -> int:
    """Fetch (a no-op once cached) and say where; a failure is one clear line after pip's."""
    try:
        print(fetch())
    except (subprocess.CalledProcessError, OSError, tarfile.TarError) as e:
        print(f"error: the recorded Mastodon responses could not be fetched: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
