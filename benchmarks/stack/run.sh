#!/usr/bin/env bash
# The stack comparison behind docs/benchmarks.md ("Choosing the stack"): every measurement, in order.
#   benchmarks/stack/run.sh                     # all parts, ~75 min
#   benchmarks/stack/run.sh main echo           # some parts
#   RUNS=3 DURATION=10 TAG=run2 STACK_PY=/work/main/.venv/bin/python benchmarks/stack/run.sh main
# Parts:
#   main    the five proxies (+ uvicorn with h11): json + stream, wrk c=1/16/64
#   echo    the servers alone (canned answer, no upstream call): json + stream, c=1/64
#   relay   streams with a paced upstream (ttft 5 ms, 1 ms between chunks: 15 separate chunks):
#           wrk c=64 and loadgen 50 streams/s (TTFT)
#   client  the upstream client alone: aiohttp vs httpx vs httpx2 (if installed) under uvicorn; c=1/64
#   cancel  what cancelling on client disconnect costs: aiohttp.web with / without
#           handler_cancellation, raw ASGI with / without the disconnect watcher; c=1/64
#   json    orjson vs msgspec vs json microbenchmark (pinned to the gateway core)
#   idle    1000 idle streams through each proxy (RSS per stream, release)
# STACK_PY: the interpreter with aiohttp, uvicorn, uvloop, httptools, granian, httpx, orjson
# (default: run.py's /tmp/seawall-bench/stack virtualenv). JSON_PY: one with orjson + msgspec.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
B=$(dirname "$HERE")
T=stack/targets
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
TAG=${TAG:-$(date +%Y%m%d-%H%M)}
OUT=${OUT:-$B/results/stack}
VENVS=${SEAWALL_BENCH_HOME:-/tmp/seawall-bench}
PARTS=("$@")
[ ${#PARTS[@]} -gt 0 ] || PARTS=(main echo relay cancel json idle)

run() { # tag targets [overhead.py options...]
  local tag=$1 targets=$2
  shift 2
  (cd "$B" && python3 run.py --out "$OUT" --runs "$RUNS" --duration "$DURATION" --rates '' \
    --targets "$targets" --tag "$tag-$TAG" "$@")
}
for part in "${PARTS[@]}"; do
  case $part in
    main) run main "$T/a-aiohttp-web.json,$T/b-uvicorn-aiohttp.json,$T/c-granian-st-aiohttp.json,$T/c-granian-mt-aiohttp.json,$T/d-uvicorn-httpx.json,$T/x-uvicorn-h11-aiohttp.json" ;;
    echo) run echo "$T/e-aiohttp-web-echo.json,$T/e-uvicorn-echo.json,$T/e-granian-st-echo.json" --connections 1,64 ;;
    relay) run relay "$T/a-aiohttp-web.json,$T/b-uvicorn-aiohttp.json,$T/c-granian-st-aiohttp.json,$T/d-uvicorn-httpx.json" \
      --modes stream --connections 64 --rates 50 --upstream-arg=--ttft-ms=5 --upstream-arg=--chunk-delay-ms=1 ;;
    client) run client "$T/b-uvicorn-aiohttp.json,$T/d-uvicorn-httpx.json,$T/d2-uvicorn-httpx2.json" --connections 1,64 ;;
    cancel) run cancel "$T/a-aiohttp-web.json,$T/a0-aiohttp-web-nocancel.json,$T/b-uvicorn-aiohttp.json,$T/b0-uvicorn-aiohttp-nowatch.json" \
      --connections 1,64 ;;
    json)
      JSON_PY=${JSON_PY:-${STACK_PY:-$VENVS/stack/bin/python}}
      taskset -c 1 "$JSON_PY" "$HERE/json_bench.py" --repeat 9 | tee "$OUT/json-bench-$TAG.md" ;;
    idle)
      for t in a-aiohttp-web b-uvicorn-aiohttp c-granian-st-aiohttp d-uvicorn-httpx; do
        (cd "$B" && "$VENVS/bench/bin/python" idle_streams.py --target "$T/$t.json" --streams 1000 --hold 20 --out "$OUT")
      done ;;
    *) echo "unknown part $part" >&2; exit 2 ;;
  esac
done
