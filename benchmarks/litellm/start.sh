#!/usr/bin/env bash
# Copied from the Seawall team's shared gateway harness (shared/bench/litellm/start.sh, 2026-11-26); only the
# default install folder changed (/tmp/seawall-bench/...).
# Start LiteLLM's proxy in front of the fake upstream: ONE uvicorn worker process
# (--num_workers 1), so the comparison with other gateways is per process / per core.
# LiteLLM scales by adding worker processes (--num_workers N); that is not measured here.
#   LITELLM_VENV        virtualenv made by install.sh (default /tmp/seawall-bench/litellm;
#                       install.sh runs first if it is missing)
#   LITELLM_PORT        listen port (default 4400, on 127.0.0.1; 4000 is Seawall's default)
#   LITELLM_CONFIG      config file (default config.yaml beside this script)
#   BENCH_UPSTREAM_URL  fake upstream base URL (default http://127.0.0.1:9999)
#   LITELLM_MASTER_KEY  proxy key clients must send (default sk-bench)
# Everything that phones home is off: local cost map, offline mode, no database, no callbacks.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VENV=${LITELLM_VENV:-/tmp/seawall-bench/litellm}
[ -x "$VENV/bin/litellm" ] || LITELLM_VENV="$VENV" "$HERE/install.sh"
export BENCH_UPSTREAM_URL=${BENCH_UPSTREAM_URL:-http://127.0.0.1:9999}
export BENCH_UPSTREAM_V1="$BENCH_UPSTREAM_URL/v1"
export LITELLM_MASTER_KEY=${LITELLM_MASTER_KEY:-sk-bench}
export LITELLM_LOCAL_MODEL_COST_MAP=True   # do not download the model cost map
export LITELLM_OFFLINE_MODE=true           # skip every catalog/check LiteLLM fetches itself
export LITELLM_LOG=${LITELLM_LOG:-ERROR}   # production recommendation: no info logs
export LITELLM_MODE=PRODUCTION             # do not load a .env file
export DISABLE_SCHEMA_UPDATE=true          # no database, nothing to migrate
unset DATABASE_URL REDIS_HOST REDIS_URL
exec "$VENV/bin/litellm" --config "${LITELLM_CONFIG:-$HERE/config.yaml}" \
  --host 127.0.0.1 --port "${LITELLM_PORT:-4400}" --num_workers 1
