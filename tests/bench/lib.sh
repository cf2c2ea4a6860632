# tests/bench/lib.sh - sourced by the benchmark scripts: paths, the table
# of results (tests/bench/table.py) and a gen-server started for one part.
shopt -s inherit_errexit # a failure inside $(...) stops the script too
# In a script under set -e, the command that stops it says which (run.sh
# takes the reason of a failed part from its last other line, if any).
if [[ $- == *e* ]]; then
  set -E
  trap 'bench_rc=$?; echo "$(basename "$0"): line $LINENO: exit $bench_rc: $BASH_COMMAND" >&2' ERR
fi
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${BENCH_OUT:-$ROOT/var/bench}
export BENCH_OUT=$OUT
mkdir -p "$OUT"

# table add KEY OURS REFERENCE [NOTE] | table fail KEY REASON | ...
table() { /usr/bin/python3 "$ROOT/tests/bench/table.py" "$@"; }

# wait_http URL PID: wait up to 10 s for URL to answer 2xx while PID lives.
wait_http() {
  for _ in $(seq 100); do
    curl -sf "$1" >/dev/null && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "no answer from $1" >&2
  return 1
}

# server_start PORT WORKERS LOG [FLAG...]: gen-server on GEN_DATABASE_URL
# with the benchmark's keys, once /healthz answers; sets SERVER_PID.
server_start() {
  local port=$1 workers=$2 log=$3
  shift 3
  "$ROOT/bin/gen-server" --port "$port" --workers "$workers" --receipt-key "$OUT/receipt-key.pem" \
    --pseudonym-key "$OUT/pseudonym-key" "$@" >>"$log" 2>&1 &
  SERVER_PID=$!
  wait_http "http://127.0.0.1:$port/healthz" "$SERVER_PID" || { echo "gen-server did not start (see $log)" >&2; return 1; }
}

server_stop() {
  if [ -n "${SERVER_PID:-}" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}
