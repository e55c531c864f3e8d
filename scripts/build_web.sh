#!/usr/bin/env bash
# Install the pinned browser dependencies (package-lock.json) and copy MapLibre GL JS
# into the map's static folder. Run from anywhere; needs node + npm.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
npm ci --ignore-scripts --no-audit --no-fund
vendor="src/crimemap/web/static/vendor"
mkdir -p "$vendor"
cp node_modules/maplibre-gl/dist/maplibre-gl.js "$vendor/maplibre-gl.js"
cp node_modules/maplibre-gl/dist/maplibre-gl.css "$vendor/maplibre-gl.css"
cp node_modules/maplibre-gl/LICENSE.txt "$vendor/maplibre-gl.LICENSE.txt"
version="$(node -p "require('./node_modules/maplibre-gl/package.json').version")"
echo "maplibre-gl $version copied to $vendor"
