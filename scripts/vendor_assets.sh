#!/usr/bin/env bash
# Copies the console's front-end libraries (package.json, pinned in package-lock.json) from node_modules into
# ballast/ops/static/ops/vendor/, where Django's static files serve them (no CDN). The copies are committed, so
# a checkout runs without npm; run this (`make assets`) after changing a version in package.json.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --silent
out=ballast/ops/static/ops/vendor
mkdir -p "$out"
cp node_modules/htmx.org/dist/htmx.min.js "$out/htmx.min.js"
cp node_modules/uplot/dist/uPlot.iife.min.js "$out/uPlot.iife.min.js"
cp node_modules/uplot/dist/uPlot.min.css "$out/uPlot.min.css"
# What was copied, at which version: ballast/ops/tests/test_assets.py checks it against package-lock.json.
node -e '
const lock = require("./package-lock.json").packages;
const v = (name) => lock["node_modules/" + name].version;
process.stdout.write(JSON.stringify({"htmx.org": v("htmx.org"), "uplot": v("uplot")}, null, 2) + "\n");
' > "$out/versions.json"
