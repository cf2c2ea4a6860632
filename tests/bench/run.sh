#!/usr/bin/env bash
# tests/bench/run.sh - `make bench`: measurements, not tests. It ends with
# one table, every line a ratio of ours against a reference measured side
# by side in the same run; tests/bench/table.py defines the lines and their
# ratio (> 1 means ours is better: faster or smaller). The parts, in order:
#   intake     intake.sh     POST applications vs pgbench doing the same inserts
#   front      front.sh      GET /healthz vs nginx; RSS per idle keep-alive connection
#   dashboard  dashboard.sh  GET /dashboard and the figures API vs the direct SQL aggregate
#   assign     assign.sh     the assignment optimiser vs GLPK on the same instances
# The first three share a fresh database (setup.sh: var/bench-pg, port
# 25499; gen-server on 18099, the front part on 26097 and nginx on 26098).
# A part that fails does not stop the others: its lines show "failed" and
# the reason, and the run exits 1.
#
# Environment; the defaults finish in about 25 minutes on 2 cores:
#   BENCH_ONLY=intake,front  only these parts
#   BENCH_QUICK=1            tiny sizes, the whole run in a couple of minutes
#                            (a smoke test of the benchmark, not figures)
#   BENCH_SECONDS=20         each intake run (wrk, then each pgbench)
#   BENCH_CONCURRENCY=16     connections of wrk = clients of pgbench
#   BENCH_WORKERS=2          gen-server processes (intake and dashboard)
#   BENCH_FRONT_SECONDS=10   each wrk run of the front
#   BENCH_IDLE=10000         idle keep-alive connections
#   BENCH_LEARNERS=1000000   learners loaded for the dashboard
#   BENCH_REQUESTS=100       requests per dashboard view
#   BENCH_ASSIGN_APPS=5000   the large assignment instances (raw output only)
#   BENCH_ASSIGN_MAX=6400    largest size of the GLPK ladder
#   BENCH_GLPK_LIMIT=30      the ladder stops after glpsol needs more (s)
#   BENCH_GLPK_TIMEOUT=900   a glpsol run killed after that long (s)
# Output in var/bench/: table.txt (the table), table.tsv (its lines), a log
# per part (setup.log, intake.log, ...) and its raw figures (intake.txt,
# front.txt, outcomes.txt, assign.txt).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
START=$(date +%s)
ALL=intake,front,dashboard,assign
PARTS=${BENCH_ONLY:-$ALL}
for p in ${PARTS//,/ }; do
  case ",$ALL," in *",$p,"*) ;; *) echo "BENCH_ONLY: unknown part '$p' (parts: $ALL)" >&2; exit 2 ;; esac
done
MODE="full sizes"
if env | grep -qE '^BENCH_(SECONDS|CONCURRENCY|WORKERS|FRONT_SECONDS|IDLE|LEARNERS|REQUESTS|ASSIGN_[A-Z]+|GLPK_[A-Z]+)='; then
  MODE="sizes set by BENCH_* variables"
fi
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  MODE="BENCH_QUICK=1: tiny sizes, a smoke run, not figures"
  : "${BENCH_SECONDS:=3}" "${BENCH_FRONT_SECONDS:=3}" "${BENCH_IDLE:=1000}" "${BENCH_LEARNERS:=5000}" \
    "${BENCH_REQUESTS:=20}" "${BENCH_ASSIGN_APPS:=500}" "${BENCH_ASSIGN_MAX:=400}"
fi
export BENCH_SECONDS BENCH_CONCURRENCY BENCH_WORKERS BENCH_FRONT_SECONDS BENCH_IDLE BENCH_LEARNERS \
  BENCH_REQUESTS BENCH_ASSIGN_APPS BENCH_ASSIGN_MAX BENCH_GLPK_LIMIT BENCH_GLPK_TIMEOUT
export BENCH_PG_PORT=25499 BENCH_HTTP_PORT=18099

EXTRA_PACKAGES="wrk nginx-light glpk-utils" bash deploy/packages.sh || exit 1
make -s -j"$(nproc)" all || exit 1
rm -f "$OUT/table.tsv" "$OUT/bench.env"
trap 'deploy/pg.sh stop "$ROOT/var/bench-pg"' EXIT

selected() { case ",$PARTS," in *",$1,"*) return 0 ;; esac; return 1; }

# run_logged NAME SCRIPT: run SCRIPT, its output on the terminal and in
# $OUT/NAME.log; on failure, set WHY (its last line other than the one of
# lib.sh's ERR trap, else that one) and return 1.
run_logged() {
  local rc trace='^[a-z_]+\.sh: line [0-9]+: exit [0-9]+: '
  echo "== $1 ($(date -u +%H:%M:%S))"
  bash "$2" 2>&1 | tee "$OUT/$1.log"
  rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] && return 0
  WHY=$(grep -v '^[[:space:]]*$' "$OUT/$1.log" | grep -Ev "$trace" | tail -n1)
  [ -n "$WHY" ] || WHY=$(tail -n1 "$OUT/$1.log")
  WHY="$(basename "$2") exited $rc: $WHY"
  return 1
}

# part NAME SCRIPT: a part, if selected; when it fails, each of its lines
# without a result is marked failed with the reason.
part() {
  selected "$1" || return 0
  if [ -n "${SETUP_FAILED:-}" ] && [ "$1" != assign ]; then
    table fail-part "$1" "setup failed: $SETUP_FAILED"
    return
  fi
  run_logged "$1" "$2" || table fail-part "$1" "$WHY"
}

if selected intake || selected front || selected dashboard; then
  if run_logged setup tests/bench/setup.sh; then
    . "$OUT/bench.env"
  else
    SETUP_FAILED=$WHY
  fi
fi
part intake tests/bench/intake.sh
part front tests/bench/front.sh
part dashboard tests/bench/dashboard.sh
part assign tests/bench/assign.sh

echo
table print "$PARTS" "make bench ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $MODE)" | tee "$OUT/table.txt"
status=${PIPESTATUS[0]}
took=$(($(date +%s) - START))
echo "raw output in var/bench/: table.tsv, <part>.log, intake.txt, front.txt, outcomes.txt, assign.txt;" \
  "the run took $((took / 60)) min $((took % 60)) s" | tee -a "$OUT/table.txt"
exit "$status"
