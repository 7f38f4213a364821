#!/usr/bin/env bash
# Copied from the Seawall team's shared gateway harness (shared/bench/portkey/start.sh, 2026-11-26); only the
# default install folder changed (/tmp/seawall-bench/...).
# Start Portkey's gateway (one Node.js process, --headless: no console UI) on 127.0.0.1.
#   PORTKEY_DIR   folder made by install.sh (default /tmp/seawall-bench/portkey; install.sh
#                 runs first if it is missing)
#   PORTKEY_PORT  listen port (default 8787)
# Routing is per request, by headers (see target.json): x-portkey-provider: openai and
# x-portkey-custom-host: <upstream>/v1. It starts and runs with no network access.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${PORTKEY_DIR:-/tmp/seawall-bench/portkey}
ENTRY="$DIR/node_modules/@portkey-ai/gateway/build/start-server.js"
[ -f "$ENTRY" ] || PORTKEY_DIR="$DIR" "$HERE/install.sh"
export NODE_ENV=production
exec node "$ENTRY" --port="${PORTKEY_PORT:-8787}" --headless
