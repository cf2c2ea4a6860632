#!/usr/bin/env bash
# tests/bench/assign.sh - the reviewer-assignment benchmark (DESIGN §5,
# research/review.md (d): 5,000 applications x 2,000 reviewers in < 10 s).
# Needs no database: builds tests/bench/assign_bench.c with server/assign.c
# and server/util.c, installs glpk-utils when glpsol is missing.
#
#   (1) 5,000 x 2,000 x 3 seats, 2 % conflicted pairs, seat limits summing
#       to 1.1x the seats: build and solve time, wall time of the process,
#       peak RSS (getrusage ru_maxrss), every result verified by assign_check
#       (dual certificate + Hall bound = proof of exact optimality). Also the
#       "scarce" variant (experts of popular families rare) and an
#       infeasible one (limits at 0.95x the seats: diagnosis).
#   (2) a ladder of smaller instances (50 x 20, doubling) solved by the
#       module and by GLPK as a linear program (maximise sum (M + affinity)·x,
#       M > any total affinity; the matrix is totally unimodular so the LP
#       optimum is the integral optimum). The objectives must be equal: any
#       difference fails the script. The ladder stops after the first size
#       where glpsol needs more than BENCH_GLPK_LIMIT seconds (default 30:
#       the next size would exceed a minute), at BENCH_ASSIGN_MAX
#       applications (default 6400), or when glpsol does not finish within
#       BENCH_GLPK_TIMEOUT seconds (default 900; that size is then left out).
#
# BENCH_ASSIGN_APPS (default 5000) sets the size of (1), reviewers 2/5 of it.
# Table line assign.glpk: the largest ladder size glpsol finished, module
# build + solve against glpsol's own solve time ("Time used": preprocessing,
# scaling and simplex, not the reading of the LP file).
# Output: stdout and var/bench/assign.txt.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
WORK=$ROOT/build/bench
mkdir -p "$WORK"
LIMIT=${BENCH_GLPK_LIMIT:-30}
TIMEOUT=${BENCH_GLPK_TIMEOUT:-900}
MAX=${BENCH_ASSIGN_MAX:-6400}
BIG=${BENCH_ASSIGN_APPS:-5000}

EXTRA_PACKAGES=glpk-utils bash deploy/packages.sh
CFLAGS="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes \
-Wstrict-prototypes -Wno-unused-parameter -O2"
# shellcheck disable=SC2086
cc $CFLAGS -Iserver -o "$WORK/assign_bench" tests/bench/assign_bench.c server/assign.c server/util.c
B=$WORK/assign_bench

field() { sed -E "s/.*[ ^]$1=([^ ]*).*/\\1/" <<<" $2"; }
ms_now() { echo $(( $(date +%s%N) / 1000000 )); }

{
echo "assignment benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(glpsol --version | head -n1))"
echo
echo "(1) large calls: 3 seats per application, 2 % conflicts; verified optimal by assign_check"
printf '%-36s %9s %7s %7s %6s %9s %8s %8s %7s %7s %9s\n' \
  instance pairs build_ms solve_ms wall_ms filled affinity unfilled phases rounds peak_RSS
for spec in "real 10 feasible, limits 1.1x" "scarce 10 scarce experts, 1.1x" "real -5 infeasible, limits 0.95x"; do
  read -r mode slack label <<<"$spec"
  t0=$(ms_now)
  line=$("$B" solve "$mode" "$BIG" $((BIG * 2 / 5)) 3 20 "$slack" 1) || { echo "FAILED: $line" >&2; exit 1; }
  t1=$(ms_now)
  printf '%-36s %9s %7s %7s %6s %9s %8s %8s %7s %7s %6.1f MiB\n' "${BIG}x$((BIG * 2 / 5)) $label" \
    "$(field pairs "$line")" "$(field build_ms "$line")" "$(field solve_ms "$line")" "$((t1 - t0))" \
    "$(field filled "$line")" "$(field affinity "$line")" "$(field unfilled "$line")" \
    "$(field phases "$line")" "$(field rounds "$line")" \
    "$(awk -v k="$(field maxrss_kb "$line")" 'BEGIN { print k / 1024 }')"
  if [ "$(field unfilled "$line")" != 0 ]; then
    echo "    diagnosis: $(field violators "$line") violator set(s), largest $(field largest_violator "$line") applications; exact explanation of one pair: $(field explain_ms "$line") ms"
  fi
done
echo "(wall_ms includes generating the instance; peak RSS is the whole benchmark process)"
echo
echo "(2) module vs GLPK LP (glpsol --lp, primal simplex), same instances, objective M*filled + affinity"
printf '%-24s %9s %7s %9s %11s %11s %11s %10s %8s\n' \
  instance pairs filled affinity module_ms glpsol_ms glpsol_wall ratio objective
# run_pair MODE APPS SLACK: one instance by both; sets GL_WALL_MS (wall
# time of glpsol) and ROW (the figures of the table line); returns 124
# when glpsol did not finish within TIMEOUT seconds.
run_pair() {
  local mode=$1 n=$2 slack=$3 r=$(($2 * 2 / 5)) lp="$WORK/assign_$1_$2.lp" sol="$WORK/assign_$1_$2.sol"
  local line obj want t0 t1 mod gl used rc=0
  line=$("$B" lp "$mode" "$n" "$r" 3 20 "$slack" "$n" "$lp") || { echo "FAILED: $line" >&2; exit 1; }
  want=$(field lp_obj "$line")
  mod=$(awk -v a="$(field build_ms "$line")" -v b="$(field solve_ms "$line")" 'BEGIN { printf "%.1f", a + b }')
  t0=$(ms_now)
  timeout "$TIMEOUT" glpsol --lp "$lp" -o "$sol" >"$WORK/glpsol.log" 2>&1 || rc=$?
  t1=$(ms_now)
  rm -f "$lp"
  if [ $rc = 124 ]; then
    echo "$n x $r $mode ${slack}%: glpsol did not finish within $TIMEOUT s; the ladder stops"
    return 124
  fi
  [ $rc = 0 ] || { echo "FAILED: glpsol on $lp exited $rc (see $WORK/glpsol.log)" >&2; exit 1; }
  gl=$((t1 - t0))
  used=$(awk '/^Time used:/ { printf "%d", $3 * 1000 }' "$WORK/glpsol.log")
  obj=$(sed -nE 's/^Objective: +obj = +([-0-9.e+]+).*/\1/p' "$sol")
  rm -f "$sol"
  if ! awk -v a="$obj" -v b="$want" 'BEGIN { exit !(a - b < 0.5 && b - a < 0.5) }'; then
    echo "MISMATCH at $mode $n x $r: glpsol objective $obj, module $want ($line)" >&2
    exit 1
  fi
  printf '%-24s %9s %7s %9s %11s %11s %11s %10s %8s\n' "$n x $r $mode ${slack}%" \
    "$(field pairs "$line")" "$(field filled "$line")" "$(field affinity "$line")" "$mod" "$used" "$gl" \
    "$(awk -v g="$used" -v m="$mod" 'BEGIN { printf "%.0fx", g / (m > 0.1 ? m : 0.1) }')" "equal"
  GL_WALL_MS=$gl
  ROW="$mod $used $n x $r, $(field pairs "$line") pairs, 3 seats; objectives equal; glpsol wall with reading the LP $gl ms"
}
LARGEST=
for n in 50 100 200 400 800 1600 3200 6400; do
  [ "$n" -le "$MAX" ] || break
  run_pair real "$n" 10 || break
  LARGEST=$ROW
  [ "$GL_WALL_MS" -gt $((LIMIT * 1000)) ] && break
done
read -r mod used note <<<"$LARGEST"
if [ -z "$LARGEST" ]; then
  table fail assign.glpk "glpsol finished no instance of the ladder"
elif [ "$used" = 0 ]; then
  table fail assign.glpk "glpsol's solve time is below its 0.1 s resolution at $note: raise BENCH_ASSIGN_MAX"
else
  table add assign.glpk "$mod" "$used" "$note"
fi
for spec in "scarce 400 0" "scarce 800 0" "real 400 -5"; do
  read -r mode n slack <<<"$spec"
  if [ "$n" -le "$MAX" ]; then run_pair "$mode" "$n" "$slack" || true; fi
done
echo "(module_ms = build + solve in process; glpsol_ms = glpsol's own solve time (\"Time used\", 0.1 s"
echo " resolution); glpsol_wall also includes reading the LP file; ratio = glpsol_ms / module_ms;"
echo " every row's objectives are equal or the script fails)"
} | tee "$OUT/assign.txt"
exit "${PIPESTATUS[0]}"
