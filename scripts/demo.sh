#!/usr/bin/env bash
# Runs what the service does today, end to end, on SQLite: installs it, creates the database,
# writes a demo X archive in X's own format, inspects it and imports it.
#   bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
export HQX_DATABASE_URL="${HQX_DATABASE_URL:-sqlite:///$PWD/demo.db}"
demo=$(mktemp -d)/demo-archive.zip
trap 'rm -rf "$(dirname "$demo")"' EXIT

.venv/bin/hqx db upgrade
.venv/bin/hqx archive sample "$demo" --followers 20000 --following 800
.venv/bin/hqx archive inspect "$demo"
.venv/bin/hqx archive import "$demo"
echo "Imported into $HQX_DATABASE_URL"
