#!/usr/bin/env bash
# One command: set up and run the gateway comparison (see benchmarks/README.md).
#   benchmarks/run.sh                                  # every target, 3 runs x 10 s
#   benchmarks/run.sh --runs 1 --duration 5            # quick
#   benchmarks/run.sh --targets bare-proxy,seawall     # a subset
# Only needs python3 (>= 3.11) on PATH; run.py creates its own virtualenvs.
set -euo pipefail
exec "${PYTHON:-python3}" "$(dirname "$0")/run.py" "$@"
