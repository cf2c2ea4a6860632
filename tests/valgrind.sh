#!/usr/bin/env bash
# tests/valgrind.sh - what `make valgrind` runs: black-box tests with
# gen-server, gen-worker and genctl under valgrind (memcheck), then every
# valgrind log checked for errors (invalid reads and writes, uses of
# uninitialised values, bad frees) and definite leaks. Ends with a summary
# and "valgrind: N processes, N with errors, ..."; exits non-zero if any
# process had one, or if a test failed.
#
#   tests/valgrind.sh [PYTEST ARGS...]   default: the intake, authorisation
#                                        and hostile suites
# Environment: GEN_TEST_PORT (port of the throw-away cluster, default 25436),
# VALGRIND_EXTRA (more valgrind options).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

EXTRA_PACKAGES=valgrind bash deploy/packages.sh || exit 1
make -s -j"$(nproc)" all || exit 1

PGDIR=$ROOT/var/valgrind-pg
PORT=${GEN_TEST_PORT:-25436}
VGLOGS=$ROOT/var/valgrind
deploy/pg.sh kill "$PGDIR" 2>/dev/null
rm -rf "$PGDIR" "$VGLOGS"
mkdir -p "$VGLOGS"
deploy/pg.sh start "$PGDIR" "$PORT" || exit 1
trap 'deploy/pg.sh stop "$PGDIR"; rm -rf "$PGDIR"' EXIT

export PGOPTIONS="-c client_min_messages=warning"
export GEN_TEST_PG="host=127.0.0.1 port=$PORT user=postgres"
export GEN_TEST_PGDIR=$PGDIR
export GEN_TEST_PORT=$PORT
export GEN_TEST_BIN=$ROOT/bin
psql "$GEN_TEST_PG dbname=postgres" -qAtc "CREATE DATABASE gen_template" >/dev/null || exit 1
GEN_DATABASE_URL="$GEN_TEST_PG dbname=gen_template" bin/genctl migrate >/dev/null || exit 1

# Every binary the tests start (tests/conftest.py reads GEN_TEST_WRAP), one
# log per process (%p: forked server processes get their own).
# --errors-for-leak-kinds=definite: a definite leak is an error; memory
# still reachable at exit (libxml2's and OpenSSL's global tables, the
# configuration) is not.
export GEN_TEST_WRAP="valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
 --track-fds=no --num-callers=30 --suppressions=$ROOT/tests/valgrind.supp --log-file=$VGLOGS/vg.%p.log \
 ${VALGRIND_EXTRA:-}"
# valgrind runs programs 20-50 times slower: every bounded wait of the
# tests is multiplied, and the idle-connection case holds fewer.
export GEN_TEST_SLOW=10
export GEN_TEST_IDLE_CONNS=2000

if [ $# -eq 0 ]; then
  set -- tests/e2e/test_intake.py tests/e2e/test_authz.py tests/hostile
fi
/usr/bin/python3 -m pytest -q -p no:cacheprovider "$@"
tests_rc=$?

# Per process: program, errors, definitely lost bytes. A log without an
# error summary is a process killed (SIGKILL) before valgrind could check
# it: some tests kill -9 on purpose (tests/e2e/test_resilience.py,
# test_worker.py), so these are counted apart, not as failures.
summary=$VGLOGS/summary.txt
for log in "$VGLOGS"/vg.*.log; do
  [ -e "$log" ] || continue
  prog=$(sed -nE 's/^==[0-9]+== Command: ([^ ]+).*/\1/p' "$log" | head -n1)
  errs=$(sed -nE 's/^==[0-9]+== ERROR SUMMARY: ([0-9]+) errors.*/\1/p' "$log" | tail -n1)
  lost=$(sed -nE 's/^==[0-9]+==    definitely lost: ([0-9,]+) bytes.*/\1/p' "$log" | tail -n1)
  echo "${prog##*/} ${errs:-?} ${lost:-0} ${log#"$ROOT"/}"
done >"$summary"
echo "valgrind summary:"
awk '{ n[$1]++; if ($2 == "?") k[$1]++; else if ($2 != "0") b[$1]++; e[$1] += $2; gsub(",", "", $3); l[$1] += $3 }
     END { for (p in n) printf "  %-12s %5d processes, %3d with errors, %3d killed, %5d errors, %7d bytes definitely lost\n",
                                p, n[p], b[p], k[p], e[p], l[p] }' "$summary"
procs=$(wc -l <"$summary")
bad=$(awk '$2 != "0" && $2 != "?"' "$summary" | wc -l)
killed=$(awk '$2 == "?"' "$summary" | wc -l)
if [ "$bad" -gt 0 ]; then
  echo
  echo "first errors (full logs in ${VGLOGS#"$ROOT"/}):"
  for log in $(awk '$2 != "0" && $2 != "?" { print $4 }' "$summary" | head -n 5); do
    echo "--- $log"
    sed -nE '/^==[0-9]+== (Invalid|Conditional|Use of|Syscall param|Mismatched|Source and|[0-9,]+ bytes in [0-9,]+ blocks are definitely)/,/^==[0-9]+== $/p' "$ROOT/$log" | head -n 40
  done
fi
echo "valgrind: $procs processes, $bad with errors, $killed killed before their check; tests exit status $tests_rc"
[ "$bad" -eq 0 ] && [ "$tests_rc" -eq 0 ]
