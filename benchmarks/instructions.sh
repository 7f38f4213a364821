#!/usr/bin/env bash
# Seawall's own cost per request in CPU instructions (valgrind/callgrind): repeatable whatever
# else the machine is doing, unlike seconds. Runs benchmarks/inprocess.py (ASGI app called
# directly, stub upstream, every resilience policy on) with N and 3N requests and divides the
# difference, so start-up and warm-up cancel out.
#   benchmarks/instructions.sh            # both trace settings, N=1000 (~2 min)
#   N=2000 benchmarks/instructions.sh sqlite
#   MODE=stream benchmarks/instructions.sh      # a 13-event stream through the real OpenAI adapter
#   INPROCESS_ARGS=--no-capture benchmarks/instructions.sh sqlite   # without replay's capture
#   PYTHON=/tmp/before/.venv/bin/python benchmarks/instructions.sh   # the same harness on another checkout
#   SPLIT=1 benchmarks/instructions.sh sqlite   # also: the main thread (the event loop) vs the others
#                                               # (the trace writer: store form, indexing, SQLite)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
N=${N:-1000}
command -v valgrind >/dev/null || { echo "valgrind is required (Debian: apt-get install valgrind)" >&2; exit 2; }
export PYTHONHASHSEED=0  # string hashing is randomised per process: without this, counts move by ~0.5%
count() {  # $1 store, $2 requests -> instructions collected (SPLIT: "all main-thread")
  if [ -n "${SPLIT:-}" ]; then
    out=$(mktemp -d)
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out/cg" "$PY" \
      benchmarks/inprocess.py --requests "$2" --store "$1" --mode "${MODE:-json}" ${INPROCESS_ARGS:-} >/dev/null 2>&1
    main=$(sed -n 's/^summary: //p' "$out"/cg-01)
    all=$(cat "$out"/cg-* | sed -n 's/^summary: //p' | paste -sd+ | bc)
    rm -rf "$out"
    echo "$all $main"
  else
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$PY" benchmarks/inprocess.py \
      --requests "$2" --store "$1" --mode "${MODE:-json}" ${INPROCESS_ARGS:-} 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
  fi
}
for store in ${1:-none sqlite}; do
  read -r small small_main <<<"$(count "$store" "$N")"
  read -r large large_main <<<"$(count "$store" $((3 * N)))"
  # inprocess.py also runs requests/10 warm-up requests: 2N + 2N/10 more requests in the large run
  requests=$((2 * N + 2 * N / 10))
  per=$(( (large - small) / requests ))
  if [ -n "${SPLIT:-}" ]; then
    main=$(( (large_main - small_main) / requests ))
    echo "traces $store: $per instructions per request (main thread, the event loop: $main; other threads: $((per - main)))"
  else
    echo "traces $store: $per instructions per request"
  fi
done
