#!/usr/bin/env bash
# Makes Debian's Chromium available at /usr/bin/chromium for the browser tests (Playwright drives it;
# `playwright install` cannot download here). Idempotent; installs with apt-get when run as root on Debian.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
  echo "chromium is missing; install it with: sudo apt-get install -y chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
test -x "$CHROMIUM"
