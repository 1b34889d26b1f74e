#!/usr/bin/env bash
# Runs the whole service end to end on this machine, on SQLite, with no account anywhere:
# installs what it needs (Debian's postgresql and redis-server when missing and run as root,
# the Python packages in .venv, the local Bluesky network into ~/.cache), then `hqx sandbox`.
#   bash scripts/sandbox.sh           plays the story and stops
#   bash scripts/sandbox.sh --keep    leaves everything running until Ctrl-C
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/system-packages.sh
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
echo "Python packages, as locked in requirements/sandbox.txt (a minute the first time)…"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
    -r requirements/sandbox.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
exec .venv/bin/hqx sandbox "$@"
