#!/usr/bin/env bash
# Upgrades the locked Python dependencies on purpose: resolves pyproject.toml again against
# PyPI and writes requirements/*.txt with every file's hash. Review the diff, run the tests.
#   bash scripts/lock.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools"
"$tools/bin/python" -m pip install --quiet --disable-pip-version-check uv
for extra in sandbox dev; do
    "$tools/bin/uv" pip compile pyproject.toml --extra "$extra" --generate-hashes \
        --python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-header \
        --index-url https://pypi.org/simple --quiet -o "requirements/$extra.txt"
done
echo "requirements/ written: review with git diff, then bash scripts/test.sh"
