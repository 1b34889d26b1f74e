"""Validating data against AT Protocol lexicon documents: the service's own XRPC methods at
run time (:func:`ours`), and, in the tests, what the bot writes and what Bluesky's chat
double receives and answers.

Covers what XRPC methods and records use: objects, strings (lengths in UTF-8 bytes and in
graphemes, formats, enums), integers, booleans, arrays, refs, unions (open and closed),
unknown, bytes, cid-links, blobs and tokens; query parameters, procedure inputs and outputs.
https://atproto.com/specs/lexicon
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

Schema = dict[str, Any]

_FORMATS: dict[str, re.Pattern[str]] = {
    "did": re.compile(r"^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$"),
    "handle": re.compile(
        r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+"
        r"[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
    ),
    "nsid": re.compile(
        r"^[a-zA-Z]([a-zA-Z0-9-]{0,62})?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,62})?)+\.[a-zA-Z]{1,63}$"
    ),
    "at-uri": re.compile(r"^at://[^\s/?#]+(/[^\s?#]*)?(\?[^\s#]*)?(#[^\s]*)?$"),
    "uri": re.compile(r"^[a-z][a-z0-9+.-]*:[^\s]+$"),
    "cid": re.compile(r"^[a-zA-Z0-9+/=]{8,}$"),
    "tid": re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$"),
    "record-key": re.compile(r"^[a-zA-Z0-9_~.:-]{1,512}$"),
    "language": re.compile(r"^(i|[a-z]{2,3})(-[a-zA-Z0-9]+)*$"),
}


class LexiconError(ValueError):
    """Data does not match its lexicon; the message names where and why."""


class Lexicons:
    """A set of lexicon documents, by NSID."""

    def __init__(self, documents: Iterable[Mapping[str, Any]]) -> None:
        self._documents = {str(doc["id"]): dict(doc) for doc in documents}

    @classmethod
    def from_json_file(cls, path: Path) -> Lexicons:
        """Documents from a JSON file: a list of documents, or a dict whose values are ones."""
        loaded = json.loads(path.read_text())
        return cls(loaded.values() if isinstance(loaded, dict) else loaded)

    def __contains__(self, nsid: object) -> bool:
        return nsid in self._documents

    def main(self, nsid: str) -> Schema:
        """The main definition of ``nsid``."""
        return self.resolve(nsid, nsid)

    def resolve(self, ref: str, context: str) -> Schema:
        """The definition a ref names: ``nsid``, ``nsid#def``, ``#def`` (in ``context``)."""
        ref = ref.removeprefix("lex:")
        nsid, _, name = ref.partition("#")
        document = self._documents.get(nsid or context)
        definition = document["defs"].get(name or "main") if document else None
        if definition is None:
            raise LexiconError(f"unknown lexicon reference {ref!r}")
        return dict(definition)

    def validate_params(self, nsid: str, params: Mapping[str, Any]) -> None:
        """Query parameters of a query or procedure (values already typed)."""
        schema = self.main(nsid).get("parameters")
        if schema is None:
            if params:
                raise LexiconError(f"{nsid} takes no parameters, got {sorted(params)}")
            return
        self._object(schema, dict(params), "params", nsid)

    def query_params(self, nsid: str, query: Mapping[str, str]) -> dict[str, Any]:
        """A query string's parameters typed as the lexicon declares them, defaults filled
        in, validated; an unknown parameter is refused by name."""
        schema = self.main(nsid).get("parameters") or {}
        declared: dict[str, Schema] = schema.get("properties", {})
        params: dict[str, Any] = {}
        for name, raw in query.items():
            spec = declared.get(name)
            if spec is None:
                raise LexiconError(f"params.{name}: {nsid} has no such parameter")
            params[name] = _typed(spec, raw, f"params.{name}")
        for name, spec in declared.items():
            if name not in params and "default" in spec:
                params[name] = spec["default"]
        self.validate_params(nsid, params)
        return params

    def validate_input(self, nsid: str, body: Any) -> None:
        """The JSON input of a procedure."""
        self._body(self.main(nsid).get("input"), body, "input", nsid)

    def validate_output(self, nsid: str, body: Any) -> None:
        """The JSON output of a query or procedure."""
        self._body(self.main(nsid).get("output"), body, "output", nsid)

    def validate_record(self, nsid: str, record: Any) -> None:
        """A record of collection ``nsid``."""
        self._value(self.main(nsid)["record"], record, "record", nsid)

    def _body(self, spec: Schema | None, body: Any, path: str, nsid: str) -> None:
        schema = spec.get("schema") if spec else None
        if schema is None:
            if body not in (None, {}):
                raise LexiconError(f"{nsid} has no {path} body")
            return
        self._value(schema, body, path, nsid)

    def _value(self, schema: Schema, value: Any, path: str, nsid: str) -> None:
        kind = schema["type"]
        if kind == "ref":
            ref = schema["ref"]
            self._value(self.resolve(ref, nsid), value, path, _owner(ref, nsid))
        elif kind == "union":
            self._union(schema, value, path, nsid)
        elif kind in ("object", "params"):
            self._object(schema, value, path, nsid)
        elif kind == "array":
            self._array(schema, value, path, nsid)
        elif kind == "string":
            _string(schema, value, path)
        elif kind == "integer":
            _integer(schema, value, path)
        elif kind == "boolean":
            _expect(isinstance(value, bool), path, "must be a boolean")
            _const(schema, value, path)
        elif kind in ("unknown", "blob"):
            _expect(isinstance(value, dict), path, "must be an object")
        elif kind == "bytes":
            _expect(isinstance(value, dict) and "$bytes" in value, path, "must be {$bytes}")
        elif kind == "cid-link":
            _expect(isinstance(value, dict) and "$link" in value, path, "must be {$link}")
        elif kind == "token":
            _expect(isinstance(value, str), path, "must be a token")
        else:
            raise LexiconError(f"{path}: lexicon type {kind!r} is not supported here")

    def _object(self, schema: Schema, value: Any, path: str, nsid: str) -> None:
        _expect(isinstance(value, dict), path, "must be an object")
        nullable = set(schema.get("nullable", []))
        for name in schema.get("required", []):
            _expect(name in value, path, f"lacks required {name!r}")
        for name, prop in schema.get("properties", {}).items():
            if name not in value:
                continue
            if value[name] is None:
                _expect(name in nullable, f"{path}/{name}", "must not be null")
                continue
            self._value(prop, value[name], f"{path}/{name}", nsid)

    def _array(self, schema: Schema, value: Any, path: str, nsid: str) -> None:
        _expect(isinstance(value, list), path, "must be an array")
        _bounds(len(value), schema.get("minLength"), schema.get("maxLength"), path, "items")
        for index, item in enumerate(value):
            self._value(schema["items"], item, f"{path}/{index}", nsid)

    def _union(self, schema: Schema, value: Any, path: str, nsid: str) -> None:
        _expect(
            isinstance(value, dict) and isinstance(value.get("$type"), str),
            path,
            "must be an object with a $type",
        )
        wanted = _normal_ref(value["$type"], nsid)
        for ref in schema["refs"]:
            if _normal_ref(ref, nsid) == wanted:
                self._value({"type": "ref", "ref": ref}, value, path, nsid)
                return
        _expect(not schema.get("closed", False), path, f"$type {value['$type']!r} is not allowed")


def _typed(spec: Schema, raw: str, path: str) -> Any:
    """A query-string value as its lexicon type."""
    if spec.get("type") == "integer":
        try:
            return int(raw)
        except ValueError:
            raise LexiconError(f"{path}: must be an integer, not {raw[:20]!r}") from None
    if spec.get("type") == "boolean":
        if raw not in ("true", "false"):
            raise LexiconError(f"{path}: must be true or false, not {raw[:20]!r}")
        return raw == "true"
    return raw


def ours() -> Lexicons:
    """The lexicons helloquittex defines (the ``lexicons`` package's documents)."""
    folder = resources.files("lexicons")
    return Lexicons(
        json.loads(item.read_text(encoding="utf-8"))
        for item in folder.iterdir()
        if item.name.endswith(".json")
    )


def _owner(ref: str, context: str) -> str:
    nsid = ref.removeprefix("lex:").partition("#")[0]
    return nsid or context


def _normal_ref(ref: str, context: str) -> str:
    nsid, _, name = ref.removeprefix("lex:").partition("#")
    return f"{nsid or context}#{name or 'main'}"


def _expect(condition: bool, path: str, message: str) -> None:
    if not condition:
        raise LexiconError(f"{path}: {message}")


def _bounds(size: int, low: int | None, high: int | None, path: str, unit: str) -> None:
    _expect(low is None or size >= low, path, f"must have at least {low} {unit}")
    _expect(high is None or size <= high, path, f"must have at most {high} {unit}")


def _const(schema: Schema, value: Any, path: str) -> None:
    if "const" in schema:
        _expect(value == schema["const"], path, f"must be {schema['const']!r}")
    if "enum" in schema:
        _expect(value in schema["enum"], path, f"must be one of {schema['enum']}")


def _string(schema: Schema, value: Any, path: str) -> None:
    _expect(isinstance(value, str), path, "must be a string")
    _const(schema, value, path)
    _bounds(len(value.encode()), schema.get("minLength"), schema.get("maxLength"), path, "bytes")
    if "minGraphemes" in schema or "maxGraphemes" in schema:
        graphemes = grapheme_count(value)
        _bounds(
            graphemes, schema.get("minGraphemes"), schema.get("maxGraphemes"), path, "graphemes"
        )
    if "format" in schema:
        _expect(_is_format(schema["format"], value), path, f"is not a valid {schema['format']}")


def _integer(schema: Schema, value: Any, path: str) -> None:
    _expect(isinstance(value, int) and not isinstance(value, bool), path, "must be an integer")
    _const(schema, value, path)
    low, high = schema.get("minimum"), schema.get("maximum")
    _expect(low is None or value >= low, path, f"must be at least {low}")
    _expect(high is None or value <= high, path, f"must be at most {high}")


def _is_format(name: str, value: str) -> bool:
    if name == "datetime":
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return "T" in value and parsed.tzinfo is not None
    if name == "at-identifier":
        return _is_format("did", value) or _is_format("handle", value)
    pattern = _FORMATS.get(name)
    return pattern is None or pattern.match(value) is not None


_JOINERS = {"\u200d"}


def grapheme_count(text: str) -> int:
    """Graphemes, approximately: extended clusters of marks, variation selectors, skin tones,
    tags, ZWJ sequences and flag pairs each count once.

    Python has no grapheme segmentation in its standard library; this counts user-perceived
    characters the way the limits in Bluesky's lexicons need (emoji sequences count as one).
    """
    count = 0
    joined = False
    open_flag = False
    for char in text:
        code = ord(char)
        if char in _JOINERS:
            joined = True
            continue
        flag = 0x1F1E6 <= code <= 0x1F1FF
        extends = (
            joined
            or unicodedata.category(char) in ("Mn", "Me", "Mc")
            or 0xFE00 <= code <= 0xFE0F  # variation selectors
            or 0x1F3FB <= code <= 0x1F3FF  # skin tones
            or 0xE0020 <= code <= 0xE007F  # tag sequences (subdivision flags)
            or (flag and open_flag)  # the second regional indicator of a flag
        )
        if not extends:
            count += 1
        open_flag = flag and not open_flag
        joined = False
    return count
