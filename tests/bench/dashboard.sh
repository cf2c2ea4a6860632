#!/usr/bin/env bash
# tests/bench/dashboard.sh - outcome figures at scale (run by run.sh after
# setup.sh): a gen-server (--workers BENCH_WORKERS) for tests/bench/outcomes.py,
# which loads BENCH_LEARNERS learners and compares the dashboard page and the
# figures API with the direct SQL aggregate over the learners.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap server_stop EXIT
server_start "${BENCH_HTTP_PORT:?}" "${BENCH_WORKERS:-2}" "$OUT/dashboard-server.log"
BENCH_URL="http://127.0.0.1:$BENCH_HTTP_PORT" GEN_PSEUDONYM_KEY="$OUT/pseudonym-key" \
  /usr/bin/python3 tests/bench/outcomes.py
