#!/usr/bin/env bash
# tests/bench/intake.sh - intake against pgbench, side by side (run by
# run.sh after setup.sh). wrk POSTs the valid ~8 KB projectApplication of
# forms/examples over BENCH_CONCURRENCY keep-alive connections to gen-server
# (--workers BENCH_WORKERS) for BENCH_SECONDS; then pgbench, with as many
# clients on the same database and durability (fsync, synchronous_commit
# on), performs the same inserts in one transaction per submission: once as
# the single call of the server's own SQL function gen_submit()
# (intake_fn.sql), once as plain SQL statements (intake.sql).
# Table lines intake.gen_submit and intake.plain_sql; raw figures in
# $BENCH_OUT/intake.txt, wrk and pgbench outputs next to it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
DUR=${BENCH_SECONDS:-20}
CONC=${BENCH_CONCURRENCY:-16}
WORKERS=${BENCH_WORKERS:-2}
PORT=${BENCH_HTTP_PORT:?}
BODY=forms/examples/projectApplication.xml
size=$(stat -c %s $BODY)

trap server_stop EXIT
server_start "$PORT" "$WORKERS" "$OUT/intake-server.log"

# Resident memory of the server processes, sampled during the load.
rss_sampler() {
  local max=0
  while kill -0 "$SERVER_PID" 2>/dev/null; do
    for p in $SERVER_PID $(pgrep -P "$SERVER_PID" || true); do
      r=$(awk '/VmRSS/ {print $2}' /proc/$p/status 2>/dev/null || echo 0)
      [ "${r:-0}" -gt "$max" ] && max=$r
    done
    echo "$max" >"$OUT/rss_max_kb"
    sleep 0.2
  done
}
rss_sampler &
SAMPLER=$!

stored0=$(psql "$GEN_DATABASE_URL" -qAtc "SELECT count(*) FROM application_versions")
BENCH_BODY=$BODY BENCH_TOKEN=$BENCH_PROVIDER_TOKEN BENCH_CALL=AAP-2026-INNOV \
  wrk -t2 -c"$CONC" -d"${DUR}s" --latency -s tests/bench/intake.lua "http://127.0.0.1:$PORT" \
  >"$OUT/wrk.txt" 2>&1 || { echo "wrk failed: $(head -n1 "$OUT/wrk.txt")" >&2; exit 1; }
kill $SAMPLER 2>/dev/null || true
server_stop
line=$(grep '^BENCH' "$OUT/wrk.txt") || { echo "wrk printed no BENCH line (see $OUT/wrk.txt)" >&2; exit 1; }
field() { sed -E "s/.*[ ^]$1=([^ ]*).*/\\1/" <<<" $line"; }
http_rps=$(field rps)
http_err=$(field errors)
rss_kb=$(cat "$OUT/rss_max_kb")
stored=$(( $(psql "$GEN_DATABASE_URL" -qAtc "SELECT count(*) FROM application_versions") - stored0 ))

# The references: the same inserts through pgbench.
CALL_ID=$(psql "$GEN_DATABASE_URL" -qAtc "SELECT id FROM calls WHERE ref='AAP-2026-INNOV'")
PROV_ID=$(psql "$GEN_DATABASE_URL" -qAtc "SELECT id FROM users WHERE email='provider@bench.test'")
PGBENCH=$(ls /usr/lib/postgresql/*/bin/pgbench | head -n1)
# run_pgbench TABLE-KEY PROTOCOL SCRIPT OUTPUT: record the line ours vs this reference.
run_pgbench() {
  local tps
  "$PGBENCH" -n -M "$2" -c "$CONC" -j 2 -T "$DUR" -D call="$CALL_ID" -D provider="$PROV_ID" \
    -f "$3" "$GEN_DATABASE_URL" >"$4" 2>&1 || true
  tps=$(awk '/^tps = / {printf "%.1f", $3}' "$4")
  if [ -z "$tps" ] || grep -q "aborted" "$4"; then
    table fail "$1" "pgbench failed: $(grep -m1 -iE 'error|abort' "$4" || tail -n1 "$4") (see $4)"
  elif [ "$http_err" != 0 ]; then
    table fail "$1" "$http_err HTTP errors in the wrk run (see $OUT/wrk.txt, $OUT/intake-server.log)"
  else
    table add "$1" "$http_rps" "$tps" "$CONC connections / clients, ${DUR} s each, $size-byte body, --workers $WORKERS"
  fi
  echo "$tps $(awk '/^latency average/ {print $4}' "$4")"
}
read -r fn_tps fn_lat < <(run_pgbench intake.gen_submit prepared tests/bench/intake_fn.sql "$OUT/pgbench_fn.txt")
read -r pg_tps pg_lat < <(run_pgbench intake.plain_sql simple tests/bench/intake.sql "$OUT/pgbench.txt")

{
  echo "intake ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, body $size bytes, concurrency $CONC, ${DUR}s each, server --workers $WORKERS)"
  printf '%-34s %12s %10s %10s %12s\n' "" "req/s" "p50 ms" "p99 ms" "max RSS"
  printf '%-34s %12s %10s %10s %9s MiB\n' "gen-server POST applications" "$http_rps" "$(field p50_ms)" \
    "$(field p99_ms)" "$(awk -v k="$rss_kb" 'BEGIN{printf "%.1f", k/1024}')"
  printf '%-34s %12s %10s %10s %12s\n' "pgbench same inserts, gen_submit()" "${fn_tps:--}" "${fn_lat:--} avg" "-" "-"
  printf '%-34s %12s %10s %10s %12s\n' "pgbench same inserts, plain SQL" "${pg_tps:--}" "${pg_lat:--} avg" "-" "-"
  echo "HTTP errors: $http_err; applications stored by the HTTP run: $stored; RSS target < 64 MiB per process"
} | tee "$OUT/intake.txt"
