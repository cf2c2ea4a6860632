#!/usr/bin/env bash
# tests/bench/run.sh - `make bench`: measurements, not tests. Each figure is
# measured side by side with a reference in the same run and reported as a
# ratio. Results go to stdout and var/bench/results.txt.
#
#   intake: wrk POSTs valid ~8 KB projectApplication documents over
#           keep-alive connections (concurrency 16) to gen-server, then
#           pgbench runs the same inserts in one transaction per submission
#           (tests/bench/intake.sql) with 16 clients, same database, same
#           durability settings (fsync on, synchronous_commit on).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
EXTRA_PACKAGES="wrk" bash deploy/packages.sh
make -s -j"$(nproc)" all

DUR=${BENCH_SECONDS:-20}
CONC=${BENCH_CONCURRENCY:-16}
WORKERS=${BENCH_WORKERS:-2}
PGDIR=$ROOT/var/bench-pg
PORT=55499
HTTP_PORT=18099
OUT=$ROOT/var/bench; mkdir -p "$OUT"
deploy/pg.sh kill "$PGDIR" 2>/dev/null || true
rm -rf "$PGDIR"
deploy/pg.sh start "$PGDIR" "$PORT"
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; deploy/pg.sh stop "$PGDIR"; }
trap cleanup EXIT

PG="host=127.0.0.1 port=$PORT user=postgres"
psql "$PG dbname=postgres" -qAtc "CREATE DATABASE gen_bench"
export GEN_DATABASE_URL="$PG dbname=gen_bench"
bin/genctl migrate >/dev/null
echo "bench-password" | bin/genctl user add --email staff@bench.test --role staff --password-stdin >/dev/null
echo "bench-password" | bin/genctl user add --email provider@bench.test --role provider \
  --siret 73282932000074 --org-name "Bench org" --password-stdin >/dev/null
STAFF=$(bin/genctl token create --email staff@bench.test)
PROV=$(bin/genctl token create --email provider@bench.test)

bin/gen-server --port $HTTP_PORT --workers "$WORKERS" --receipt-key "$OUT/receipt-key.pem" \
  --pseudonym-key "$OUT/pseudonym-key" \
  >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null && break; sleep 0.1; done
curl -sf -H "Authorization: Bearer $STAFF" -H 'Content-Type: application/xml' \
  --data-binary @forms/examples/call-project.xml "http://127.0.0.1:$HTTP_PORT/api/v1/calls" >/dev/null
BODY=forms/examples/projectApplication.xml
size=$(stat -c %s $BODY)

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
rss_sampler & SAMPLER=$!

BENCH_BODY=$BODY BENCH_TOKEN=$PROV BENCH_CALL=AAP-2026-INNOV \
  wrk -t2 -c"$CONC" -d"${DUR}s" --latency -s tests/bench/intake.lua "http://127.0.0.1:$HTTP_PORT" \
  >"$OUT/wrk.txt" 2>&1
kill $SAMPLER 2>/dev/null || true
line=$(grep '^BENCH' "$OUT/wrk.txt")
http_rps=$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$line")
http_p50=$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$line")
http_p99=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line")
http_err=$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$line")
rss_kb=$(cat "$OUT/rss_max_kb")
stored=$(psql "$GEN_DATABASE_URL" -qAtc "SELECT count(*) FROM application_versions")

# The reference: the same inserts through pgbench.
psql "$GEN_DATABASE_URL" -qAt -v body="$(cat $BODY)" -v sha="$(sha256sum $BODY | cut -c1-64)" >/dev/null <<'SQL'
CREATE TABLE bench_body AS SELECT convert_to(:'body', 'UTF8') AS body, :'sha'::text AS sha;
SQL
CALL_ID=$(psql "$GEN_DATABASE_URL" -qAtc "SELECT id FROM calls WHERE ref='AAP-2026-INNOV'")
PROV_ID=$(psql "$GEN_DATABASE_URL" -qAtc "SELECT id FROM users WHERE email='provider@bench.test'")
PGBENCH=$(ls /usr/lib/postgresql/*/bin/pgbench | head -n1)
run_pgbench() { # protocol script output-file
  "$PGBENCH" -n -M "$1" -c "$CONC" -j 2 -T "$DUR" -D call="$CALL_ID" -D provider="$PROV_ID" \
    -f "$2" "$GEN_DATABASE_URL" >"$3" 2>&1
}
run_pgbench simple tests/bench/intake.sql "$OUT/pgbench.txt"
pg_tps=$(awk '/^tps = / {printf "%.1f", $3}' "$OUT/pgbench.txt")
pg_lat=$(awk '/^latency average/ {print $4}' "$OUT/pgbench.txt")
run_pgbench prepared tests/bench/intake_fn.sql "$OUT/pgbench_fn.txt"
fn_tps=$(awk '/^tps = / {printf "%.1f", $3}' "$OUT/pgbench_fn.txt")
fn_lat=$(awk '/^latency average/ {print $4}' "$OUT/pgbench_fn.txt")
if grep -q "aborted" "$OUT/pgbench.txt" "$OUT/pgbench_fn.txt"; then
  echo "pgbench failed:" >&2; cat "$OUT"/pgbench*.txt >&2; exit 1
fi

ratio=$(awk -v a="$http_rps" -v b="$pg_tps" 'BEGIN { printf "%.2f", a / b }')
ratio_fn=$(awk -v a="$http_rps" -v b="$fn_tps" 'BEGIN { printf "%.2f", a / b }')
{
  echo "intake benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, body $size bytes, concurrency $CONC, ${DUR}s each, server --workers $WORKERS)"
  printf '%-34s %12s %10s %10s %12s\n' "" "req/s" "p50 ms" "p99 ms" "max RSS"
  printf '%-34s %12s %10s %10s %9s MiB\n' "gen-server POST applications" "$http_rps" "$http_p50" "$http_p99" "$(awk -v k="$rss_kb" 'BEGIN{printf "%.1f", k/1024}')"
  printf '%-34s %12s %10s %10s %12s\n' "pgbench same inserts, plain SQL" "$pg_tps" "$pg_lat avg" "-" "-"
  printf '%-34s %12s %10s %10s %12s\n' "pgbench same inserts, gen_submit()" "$fn_tps" "$fn_lat avg" "-" "-"
  echo "ratio intake/pgbench plain SQL: $ratio    ratio intake/pgbench gen_submit(): $ratio_fn"
  echo "(target ratio >= 0.7; RSS target < 64 MiB per process; pgbench $CONC clients)"
  echo "HTTP errors: $http_err; applications stored by the HTTP run: $stored"
} | tee "$OUT/results.txt"

[ "${BENCH_ONLY:-}" = intake ] && exit 0

# The HTTP front: /healthz vs nginx, memory per idle connection.
kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null || true
GEN_DATABASE_URL="$GEN_DATABASE_URL" bash tests/bench/front.sh
bin/gen-server --port $HTTP_PORT --workers "$WORKERS" --receipt-key "$OUT/receipt-key.pem" \
  --pseudonym-key "$OUT/pseudonym-key" >>"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null && break; sleep 0.1; done

# Outcome figures at scale: 1,000,000 learners, API vs direct aggregate.
GEN_DATABASE_URL="$GEN_DATABASE_URL" BENCH_URL="http://127.0.0.1:$HTTP_PORT" BENCH_TOKEN="$STAFF" \
  BENCH_OUT="$OUT" GEN_PSEUDONYM_KEY="$OUT/pseudonym-key" /usr/bin/python3 tests/bench/outcomes.py

# Reviewer assignment: the optimiser against GLPK on the same instances.
bash tests/bench/assign.sh
