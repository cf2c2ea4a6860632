#!/usr/bin/env bash
# tests/bench/assign.sh - the reviewer-assignment benchmark (DESIGN §5,
# research/review.md (d): 5,000 applications x 2,000 reviewers in < 10 s).
# Self-contained: builds tests/bench/assign_bench.c with server/assign.c and
# server/util.c, installs glpk-utils when glpsol is missing.
#
#   (1) 5,000 x 2,000 x 3 seats, 2 % conflicted pairs, seat limits summing
#       to 1.1x the seats: build and solve time, wall time of the process,
#       peak RSS (getrusage ru_maxrss), every result verified by assign_check
#       (dual certificate + Hall bound = proof of exact optimality). Also the
#       "scarce" variant (experts of popular families rare) and an
#       infeasible one (limits at 0.95x the seats: diagnosis).
#   (2) a ladder of smaller instances solved by the module and by GLPK as a
#       linear program (maximise sum (M + affinity)·x, M > any total
#       affinity; the matrix is totally unimodular so the LP optimum is the
#       integral optimum). The objectives must be equal: any difference
#       fails the script. The ladder stops once glpsol needs more than
#       BENCH_GLPK_LIMIT seconds (default 30: the next size would exceed a
#       minute). Time ratio = glpsol wall / module (build + solve).
#
# Output: stdout and var/bench/assign.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/var/bench
WORK=$ROOT/build/bench
mkdir -p "$OUT" "$WORK"
LIMIT=${BENCH_GLPK_LIMIT:-30}

if ! command -v glpsol >/dev/null; then
  apt-get install -y -qq glpk-utils >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq glpk-utils >/dev/null; }
fi
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
  line=$("$B" solve "$mode" 5000 2000 3 20 "$slack" 1) || { echo "FAILED: $line" >&2; exit 1; }
  t1=$(ms_now)
  printf '%-36s %9s %7s %7s %6s %9s %8s %8s %7s %7s %6.1f MiB\n' "5000x2000 $label" \
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
printf '%-24s %9s %7s %9s %11s %11s %10s %8s\n' \
  instance pairs filled affinity module_ms glpsol_ms ratio objective
run_pair() { # mode apps slack
  local mode=$1 n=$2 slack=$3 r=$(($2 * 2 / 5)) lp="$WORK/assign_$1_$2.lp" sol="$WORK/assign_$1_$2.sol"
  local line obj want t0 t1 mod gl
  line=$("$B" lp "$mode" "$n" "$r" 3 20 "$slack" "$n" "$lp") || { echo "FAILED: $line" >&2; exit 1; }
  want=$(field lp_obj "$line")
  mod=$(awk -v a="$(field build_ms "$line")" -v b="$(field solve_ms "$line")" 'BEGIN { printf "%.1f", a + b }')
  t0=$(ms_now)
  timeout 900 glpsol --lp "$lp" -o "$sol" >"$WORK/glpsol.log" 2>&1 ||
    { echo "FAILED: glpsol on $lp (see $WORK/glpsol.log)" >&2; exit 1; }
  t1=$(ms_now)
  gl=$((t1 - t0))
  obj=$(sed -nE 's/^Objective: +obj = +([-0-9.e+]+).*/\1/p' "$sol")
  if ! awk -v a="$obj" -v b="$want" 'BEGIN { exit !(a - b < 0.5 && b - a < 0.5) }'; then
    echo "MISMATCH at $mode $n x $r: glpsol objective $obj, module $want ($line)" >&2
    exit 1
  fi
  printf '%-24s %9s %7s %9s %11s %11s %10s %8s\n' "$n x $r $mode ${slack}%" \
    "$(field pairs "$line")" "$(field filled "$line")" "$(field affinity "$line")" "$mod" "$gl" \
    "$(awk -v g="$gl" -v m="$mod" 'BEGIN { printf "%.0fx", g / (m > 0.1 ? m : 0.1) }')" "equal"
  rm -f "$lp" "$sol"
  LAST_GLPK_MS=$gl
}
for n in 50 100 200 400 800 1600 3200 6400; do
  run_pair real "$n" 10
  [ "$LAST_GLPK_MS" -gt $((LIMIT * 1000)) ] && break
done
run_pair scarce 400 0
run_pair scarce 800 0
run_pair real 400 -5
echo "(module_ms = build + solve in process; glpsol_ms = wall time of glpsol reading the LP and solving it;"
echo " ratio = glpsol_ms / module_ms; every row's objectives are equal or the script fails)"
} | tee "$OUT/assign.txt"
exit "${PIPESTATUS[0]}"
