#!/usr/bin/env bash
# Makes promtool (Prometheus's linter: `promtool check metrics`) available for the scrape test. Idempotent.
# As root on Debian it takes /usr/bin/promtool out of Debian's `prometheus` package into /usr/local/bin, without
# installing the package: installing it would pull ~100 MB of web assets and start a Prometheus server.
set -euo pipefail
if command -v promtool >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
  echo "promtool is missing; the scrape test then lints with prometheus_client's parser only." >&2
  echo "Install it with: sudo apt-get install -y --no-install-recommends prometheus (or unpack its promtool)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
work=$(mktemp -d)
chmod 755 "$work"  # apt-get download runs as _apt
trap 'rm -rf "$work"' EXIT
apt-get update -qq >/dev/null
(cd "$work" && apt-get download -qq prometheus >/dev/null)
dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
install -m 0755 "$work/root/usr/bin/promtool" /usr/local/bin/promtool
promtool --version >/dev/null
