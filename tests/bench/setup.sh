#!/usr/bin/env bash
# tests/bench/setup.sh - the database of `make bench` (run by run.sh): a
# fresh PostgreSQL cluster in var/bench-pg on port BENCH_PG_PORT (fsync and
# synchronous_commit on, see deploy/pg.sh), database gen_bench migrated, a
# staff and a provider account with API tokens, the call AAP-2026-INNOV
# (created through the API) and the table bench_body holding the ~8 KB
# projectApplication of forms/examples (used by the intake and dashboard
# parts). Writes the connection string and tokens to $BENCH_OUT/bench.env.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
PGDIR=$ROOT/var/bench-pg
PG="host=127.0.0.1 port=${BENCH_PG_PORT:?} user=postgres"
BODY=forms/examples/projectApplication.xml

deploy/pg.sh kill "$PGDIR" 2>/dev/null || true
rm -rf "$PGDIR"
deploy/pg.sh start "$PGDIR" "$BENCH_PG_PORT"
psql "$PG dbname=postgres" -qAtc "CREATE DATABASE gen_bench"
export GEN_DATABASE_URL="$PG dbname=gen_bench"
bin/genctl migrate >/dev/null
echo "bench-password" | bin/genctl user add --email staff@bench.test --role staff --password-stdin >/dev/null
echo "bench-password" | bin/genctl user add --email provider@bench.test --role provider \
  --siret 73282932000074 --org-name "Bench org" --password-stdin >/dev/null
STAFF=$(bin/genctl token create --email staff@bench.test)
PROV=$(bin/genctl token create --email provider@bench.test)

trap server_stop EXIT
server_start "${BENCH_HTTP_PORT:?}" 1 "$OUT/setup-server.log"
curl -sf -H "Authorization: Bearer $STAFF" -H 'Content-Type: application/xml' \
  --data-binary @forms/examples/call-project.xml "http://127.0.0.1:$BENCH_HTTP_PORT/api/v1/calls" >/dev/null
psql "$GEN_DATABASE_URL" -qAt -v body="$(cat $BODY)" -v sha="$(sha256sum $BODY | cut -c1-64)" >/dev/null <<'SQL'
CREATE TABLE bench_body AS SELECT convert_to(:'body', 'UTF8') AS body, :'sha'::text AS sha;
SQL

{
  printf 'export GEN_DATABASE_URL=%q\n' "$GEN_DATABASE_URL"
  printf 'export BENCH_STAFF_TOKEN=%q\n' "$STAFF"
  printf 'export BENCH_PROVIDER_TOKEN=%q\n' "$PROV"
} >"$OUT/bench.env"
