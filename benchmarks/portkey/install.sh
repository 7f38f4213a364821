#!/usr/bin/env bash
# Copied from the Seawall team's shared gateway harness (shared/bench/portkey/install.sh, 2026-11-26); only the
# default install folder changed (/tmp/seawall-bench/...).
# Install Portkey's open-source gateway from the npm registry into a folder.
#   PORTKEY_DIR      install folder            (default /tmp/seawall-bench/portkey)
#   PORTKEY_VERSION  @portkey-ai/gateway version (default 1.15.2)
#   PORTKEY_HONO_NODE_SERVER  version of @hono/node-server to force (default 1.14.1)
# Why the override: the gateway asks for "@hono/node-server": "^1.3.3", which npm resolves
# to the newest 1.x. From 1.14.2 on, every streamed answer fails with
# "TypeError: immutable" (the gateway appends headers to a Response whose Headers came
# from fetch) and the client gets {"status":"failure","message":"Something went wrong"}.
# 1.14.1 is the newest release that streams (checked: 1.14.1 ok; 1.14.2, 1.14.3, 1.14.4,
# 1.17.1, 1.19.11-1.19.19 fail) on Node 20. Install scripts are skipped: the package's
# postinstall only runs patch-package, whose patches are not in the published package.
set -euo pipefail
DIR=${PORTKEY_DIR:-/tmp/seawall-bench/portkey}
VERSION=${PORTKEY_VERSION:-1.15.2}
HONO=${PORTKEY_HONO_NODE_SERVER:-1.14.1}
mkdir -p "$DIR"
cat > "$DIR/package.json" <<JSON
{
  "name": "portkey-bench",
  "private": true,
  "dependencies": {"@portkey-ai/gateway": "$VERSION"},
  "overrides": {"@hono/node-server": "$HONO"}
}
JSON
cd "$DIR"
npm install --no-audit --no-fund --ignore-scripts --loglevel=error
node -e 'for (const p of ["@portkey-ai/gateway", "@hono/node-server", "hono"])
  console.log(p, require(`./node_modules/${p}/package.json`).version)'
