"""The layers hold: every import of every product module, read from its source, against the
rules of the house. The core knows no network; the adapters never import each other; only the
composition root wires them; the local test world stays out of the product."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NETWORK_LIBRARIES = {"atproto", "mastodon", "aiohttp", "httpx", "requests", "websockets"}
ATPROTO = {"atproto", "atproto_client", "atproto_core", "atproto_crypto", "atproto_identity",
           "atproto_firehose", "atproto_server", "atproto_lexicon"}  # fmt: skip
DATABASE = {"sqlmodel", "sqlalchemy", "alembic"}
# What each product package must never import (top-level module names).
FORBIDDEN: dict[str, set[str]] = {
    "shared": NETWORK_LIBRARIES | ATPROTO | {"bsky_service", "mastodon_bot", "hqx", "testworld"},
    # Adapters reach the database only through the stores they are handed (shared.stores).
    "bsky_service": {"mastodon", "mastodon_bot", "hqx", "testworld"} | DATABASE,
    "mastodon_bot": ATPROTO | {"bsky_service", "hqx", "testworld"} | DATABASE,
    "hqx": {"testworld"},
}
# The one sanctioned door: `hqx sandbox` loads the local world when asked (with the extra).
ALLOWED = {("hqx/cli.py", "testworld.sandbox")}


def imports_of(source: str) -> set[str]:
    """Every module a source imports, anywhere in it (functions and TYPE_CHECKING included);
    relative imports are the package's own business and are not listed."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def violations(package: str, relative: str, source: str) -> list[str]:
    """What ``source`` (the file ``relative`` of ``package``) imports that it must not."""
    return [
        f"{relative} imports {name}"
        for name in sorted(imports_of(source))
        if name.split(".")[0] in FORBIDDEN[package] and (relative, name) not in ALLOWED
    ]


def product_modules() -> list[tuple[str, Path]]:
    return [
        (package, path)
        for package in FORBIDDEN
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts or package != "shared"
    ]


def test_every_product_module_keeps_to_its_layer() -> None:
    modules = product_modules()
    assert len(modules) > 40, "the modules were found"
    found = [
        problem
        for package, path in modules
        for problem in violations(
            package, path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")
        )
    ]
    assert found == []


@pytest.mark.parametrize(
    ("package", "source", "name"),
    [
        ("shared", "from mastodon import Mastodon\n", "mastodon"),
        ("shared", "def f():\n    import aiohttp\n", "aiohttp"),
        ("shared", "from atproto_client import models\n", "atproto_client"),
        ("shared", "from bsky_service.adapter import A\n", "bsky_service.adapter"),
        ("bsky_service", "import mastodon_bot.adapter\n", "mastodon_bot.adapter"),
        ("mastodon_bot", "from bsky_service import tid\n", "bsky_service"),
        ("mastodon_bot", "from sqlmodel import Session\n", "sqlmodel"),
        ("bsky_service", "from sqlalchemy.engine import Engine\n", "sqlalchemy.engine"),
        ("hqx", "from testworld.mastodon import server\n", "testworld.mastodon"),
    ],
)
def test_the_check_catches_a_forbidden_import(package: str, source: str, name: str) -> None:
    assert violations(package, f"{package}/x.py", source) == [f"{package}/x.py imports {name}"]


def test_the_check_lets_allowed_imports_through() -> None:
    assert violations("shared", "shared/x.py", "from sqlmodel import Session\n") == []
    assert violations("hqx", "hqx/cli.py", "from testworld.sandbox import run\n") == []
    assert violations("hqx", "hqx/app.py", "from bsky_service.adapter import A\n") == []


def module_imports() -> dict[str, set[str]]:
    """Each product module (dotted name) and the product modules it imports, anywhere in it
    (``TYPE_CHECKING`` included); ``from package import module`` names the module."""
    names: dict[str, Path] = {}
    for _package, path in product_modules():
        if "migrations" in path.parts:
            continue
        dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        names[dotted.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {name: set() for name in names}
    for name, path in names.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found = {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                subs = {f"{node.module}.{alias.name}" for alias in node.names}
                found = (subs & set(names)) or {node.module}
            else:
                continue
            graph[name] |= {f for f in found if f in names and f != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for other in graph[name]:
            if other not in index:
                visit(other)
                low[name] = min(low[name], low[other])
            elif other in stack:
                low[name] = min(low[name], index[other])
        if low[name] == index[name]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == name:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def test_no_product_module_imports_itself_round_a_circle() -> None:
    """A type lives where it belongs: no circle of imports, TYPE_CHECKING ones included."""
    graph = module_imports()
    assert len(graph) > 40
    assert circles(graph) == []


def test_a_circle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]


def test_every_product_module_is_on_the_map() -> None:
    """docs/ARCHITECTURE.md names every product module by its path."""
    page = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    missing = [
        path.relative_to(ROOT).as_posix()
        for _package, path in product_modules()
        if "versions" not in path.parts and f"`{path.relative_to(ROOT).as_posix()}`" not in page
    ]
    assert missing == []
