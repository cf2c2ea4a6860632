#!/usr/bin/env bash
# tests/run-all.sh - what `make test` runs: a throw-away PostgreSQL cluster,
# the unit tests (C), the integration and black-box tests (pytest, real
# binaries, real database). Ends with "N passed, N failed"; exits non-zero on
# any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash deploy/packages.sh || { echo "0 passed, 1 failed"; exit 1; }
MAKEFLAGS_EXTRA=()
[ "${SANITIZE:-}" = 1 ] && MAKEFLAGS_EXTRA+=(SANITIZE=1)
make -s -j"$(nproc)" "${MAKEFLAGS_EXTRA[@]}" all unit-bins || { echo "0 passed, 1 failed"; exit 1; }

PGDIR=$ROOT/var/test-pg
PORT=${GEN_TEST_PORT:-25433}
deploy/pg.sh kill "$PGDIR" 2>/dev/null
rm -rf "$PGDIR"
deploy/pg.sh start "$PGDIR" "$PORT" || { echo "0 passed, 1 failed"; exit 1; }
trap 'deploy/pg.sh stop "$PGDIR"; rm -rf "$PGDIR"' EXIT

export PGOPTIONS="-c client_min_messages=warning"
export GEN_TEST_PG="host=127.0.0.1 port=$PORT user=postgres"
export GEN_TEST_PGDIR=$PGDIR
export GEN_TEST_PORT=$PORT
psql "$GEN_TEST_PG dbname=postgres" -qAtc "CREATE DATABASE gen_template" >/dev/null
BIN=$ROOT/bin; [ "${SANITIZE:-}" = 1 ] && BIN=$ROOT/build/san/bin
[ "${SANITIZE:-}" = 1 ] && export GEN_TEST_SANITIZED=1
GEN_DATABASE_URL="$GEN_TEST_PG dbname=gen_template" "$BIN/genctl" migrate >/dev/null \
  || { echo "migrations failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0; failed=0
BUILD=build/rel; [ "${SANITIZE:-}" = 1 ] && BUILD=build/san
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  psql "$GEN_TEST_PG dbname=postgres" -qAtc "DROP DATABASE IF EXISTS unit_$name" -c "CREATE DATABASE unit_$name TEMPLATE gen_template" >/dev/null
  out=$(GEN_DATABASE_URL="$GEN_TEST_PG dbname=unit_$name" timeout 300 "$t" 2>&1); rc=$?
  line=$(printf '%s\n' "$out" | grep -E '^[a-z0-9_]+: [0-9]+ passed, [0-9]+ failed$' | tail -n1)
  if [ -n "$line" ]; then
    p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")
  else
    p=0; f=1
  fi
  [ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$f" -ne 0 ]; then printf '%s\n' "$out"; else echo "$line"; fi
done

# The fuzz corpora, replayed through the same harnesses (a crash found once
# stays fixed): the XML intake, then the HTTP front.
for replay in fuzz_replay:xml fuzz_http_replay:http; do
  out=$("$BUILD"/tests/${replay%:*} tests/fuzz/corpus/${replay#*:}/* 2>&1); rc=$?
  if [ $rc -eq 0 ] && line=$(grep -E "^${replay%:*}: [0-9]+ passed" <<<"$out"); then
    echo "$line"; passed=$((passed + $(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")))
  else
    printf '%s\n' "$out"; failed=$((failed + 1))
  fi
done

export GEN_TEST_BIN=$BIN
JUNIT=$ROOT/var/pytest.xml
mkdir -p var
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/e2e tests/hostile tests/faults --junitxml="$JUNIT" ${PYTEST_ARGS:-}
counts=$(/usr/bin/python3 - "$JUNIT" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    r = ET.parse(sys.argv[1]).getroot()
except Exception:
    print(0, 1); sys.exit()
suites = [r] if r.tag == "testsuite" else list(r)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
sk = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - sk, f if t else 1)
PY
)
passed=$((passed + ${counts% *})); failed=$((failed + ${counts#* }))

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
