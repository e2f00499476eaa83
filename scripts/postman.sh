#!/usr/bin/env bash
# Regenerate docs/trailmark.postman_collection.json from docs/openapi.json
# with openapi-to-postmanv2 (npm), requests grouped by the document's tags.
# Run after `cargo run -p trailmark -- openapi > docs/openapi.json`; a test
# fails while the collection misses a route the document has.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=$(mktemp -d)
trap 'rm -rf "$tool"' EXIT
npm install --silent --prefix "$tool" openapi-to-postmanv2@6 >/dev/null
"$tool/node_modules/.bin/openapi2postmanv2" \
    -s docs/openapi.json \
    -o docs/trailmark.postman_collection.json \
    -p -O folderStrategy=Tags
