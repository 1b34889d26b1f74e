#!/usr/bin/env bash
# The test command: installs what the tests need, then runs linters, type checks and tests.
#   bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/system-packages.sh
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"

# The recorded Mastodon responses the Mastodon test server is checked against (PyPI, cached),
# and the local Bluesky network the integration tests run on (npm, cached; minutes the first time).
.venv/bin/python -m testworld.mastodon.reference >/dev/null
.venv/bin/python -m testworld.bluesky.install >/dev/null

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
