#!/usr/bin/env bash
# Debian packages the tests need, installed when missing (idempotent):
# - postgresql: server binaries; tests start private servers on free loopback ports
# - redis-server: the local Bluesky AppView needs one (started the same way)
# - iproute2: `ss`, with which a test checks that every server listens on loopback only
# - chromium, chromium-driver: the portal's end-to-end tests drive a real headless browser
# - systemd: `systemd-analyze verify` checks the units in deploy/systemd
# - nginx: a test runs the site of deploy/nginx in front of two web processes
# - fonts-dejavu-core: the font of the images the portal draws (invitations, link cards)
# Node.js and npm come with the machine; the Bluesky network's own Node 22 comes from npm.
set -euo pipefail

missing=()
command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null \
    || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v ss >/dev/null 2>&1 || missing+=(iproute2)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "missing Debian packages: ${missing[*]} (install them, then run again)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Installed, never started: the tests start their own servers (nginx would otherwise take
# port 80 for the whole machine).
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
