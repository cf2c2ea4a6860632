#!/usr/bin/env python3
"""tests/bench/table.py - the one table of `make bench`.

Every line compares a figure of ours with a reference measured side by side
in the same run, as a ratio oriented so that > 1 always means ours is better:
ours / reference for rates (per second), reference / ours for costs (times,
bytes). The lines are declared once, in LINES; the parts only record values.

  table.py add KEY OURS REFERENCE [NOTE]  record a measured line
  table.py fail KEY REASON                record a line that could not be measured
  table.py fail-part PART REASON          mark every line of PART still without a result as failed
  table.py print PARTS TITLE              print the lines of PARTS (comma-separated) as one
                                          aligned table; exit 1 if any failed or is missing

The rows live in $BENCH_OUT/table.tsv (default var/bench/table.tsv), one a
line, tab-separated, with a header: key, part, ours (what), reference (what),
ours_value, reference_value, unit, ratio, better, note. A failed line has
"failed" as its ratio and the reason as its note. Python parts import this
module and call add() and fail()."""
import csv
import math
import os
import sys

RATE, COST = "rate", "cost"

# key, part, ours, reference, unit, kind
LINES = [
    ("intake.gen_submit", "intake", "POST application (XML, wrk)", "pgbench: gen_submit(), same inserts",
     "/s", RATE),
    ("intake.plain_sql", "intake", "POST application (XML, wrk)", "pgbench: same inserts, plain SQL",
     "/s", RATE),
    ("front.healthz", "front", "GET /healthz, 1 process", "nginx static file, 1 worker", "/s", RATE),
    ("front.idle_rss", "front", "RSS per idle keep-alive conn", "nginx, measured the same way", "B", COST),
    ("dashboard.page", "dashboard", "GET /dashboard (HTML), p50", "direct SQL aggregate, median", "ms", COST),
    ("dashboard.api_total", "dashboard", "figures API total, p50", "direct SQL aggregate, median", "ms", COST),
    ("dashboard.api_region", "dashboard", "figures API by region, p50", "direct SQL aggregate, median", "ms",
     COST),
    ("assign.glpk", "assign", "assignment build+solve", "GLPK simplex (glpsol), same LP", "ms", COST),
]
BY_KEY = {line[0]: line for line in LINES}
PARTS = list(dict.fromkeys(line[1] for line in LINES))
HEADER = ["key", "part", "ours", "reference", "ours_value", "reference_value", "unit", "ratio", "better", "note"]


def path():
    out = os.environ.get("BENCH_OUT") or os.path.join(os.path.dirname(__file__), "..", "..", "var", "bench")
    return os.path.join(out, "table.tsv")


def read_rows():
    try:
        with open(path(), newline="") as f:
            return [r for r in csv.DictReader(f, delimiter="\t")]
    except FileNotFoundError:
        return []


def write_row(row):
    """Replace the row of the same key (a part run again) or append it."""
    rows = [r for r in read_rows() if r["key"] != row["key"]] + [row]
    os.makedirs(os.path.dirname(path()), exist_ok=True)
    with open(path(), "w", newline="") as f:
        w = csv.DictWriter(f, HEADER, delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def clean(text):
    return " ".join(str(text).split())


def number(v):
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def fail(key, reason):
    _, part, ours, ref, unit, _ = BY_KEY[key]
    write_row(dict(key=key, part=part, ours=ours, reference=ref, ours_value="-", reference_value="-",
                   unit=unit, ratio="failed", better="-", note=clean(reason)))


def add(key, ours, reference, note=""):
    """Record a measured line; a value that is not a positive number makes
    the line failed instead (a zero reference would give no ratio)."""
    _, part, ours_what, ref_what, unit, kind = BY_KEY[key]
    try:
        a, b = float(ours), float(reference)
        if not (a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)):
            raise ValueError
    except (TypeError, ValueError):
        fail(key, f"not a positive measurement: ours={ours!r} reference={reference!r}; {note}")
        return
    ratio = a / b if kind == RATE else b / a
    shown = number(ratio)
    better = "ours" if float(shown) > 1 else "reference" if float(shown) < 1 else "equal"
    write_row(dict(key=key, part=part, ours=ours_what, reference=ref_what, ours_value=f"{a:.6g}",
                   reference_value=f"{b:.6g}", unit=unit, ratio=f"{ratio:.4g}", better=better,
                   note=clean(note)))


def fail_part(part, reason):
    have = {r["key"] for r in read_rows()}
    for key, p, *_ in LINES:
        if (part == "all" or p == part) and key not in have:
            fail(key, reason)


def print_table(parts, title):
    """Print the table; return 1 if a line of these parts failed or is missing."""
    have = {r["key"] for r in read_rows()}
    for key, part, *_ in LINES:
        if part in parts and key not in have:
            fail(key, "no result recorded (see the part's log)")
    rows = {r["key"]: r for r in read_rows()}
    out, failed = [], 0
    for key, part, *_ in LINES:
        if part not in parts:
            continue
        r = rows[key]
        failed |= r["ratio"] == "failed"
        unit = r["unit"] if r["unit"].startswith("/") else " " + r["unit"]
        value = (lambda v: v if v == "-" else number(float(v)) + unit)
        ratio = r["ratio"] if r["ratio"] == "failed" else number(float(r["ratio"]))
        out.append([r["part"], r["ours"], r["reference"], value(r["ours_value"]), value(r["reference_value"]),
                    ratio, r["better"], r["note"]])
    head = ["part", "ours", "reference", "ours", "reference", "ratio", "better", "notes"]
    width = [max(len(x[i]) for x in out + [head]) for i in range(len(head))]
    right = {3, 4, 5}

    def line(cells):
        return "  ".join(c.rjust(width[i]) if i in right else c.ljust(width[i])
                         for i, c in enumerate(cells)).rstrip()
    print(title)
    print("ratio > 1: ours is better. Rates (/s): ours / reference; times (ms) and sizes (B): reference / ours.")
    print()
    print(line(head))
    for cells in out:
        print(line(cells))
    return 1 if failed else 0


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "add" and len(argv) in (5, 6):
        add(argv[2], argv[3], argv[4], argv[5] if len(argv) == 6 else "")
    elif cmd == "fail" and len(argv) == 4:
        fail(argv[2], argv[3])
    elif cmd == "fail-part" and len(argv) == 4:
        fail_part(argv[2], argv[3])
    elif cmd == "print" and len(argv) == 4:
        return print_table(argv[2].split(","), argv[3])
    else:
        sys.exit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
