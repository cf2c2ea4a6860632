#!/usr/bin/env python3
"""Outcome figures at scale (`make bench`, run by dashboard.sh): 1,000,000
learners in 40,000 cohorts loaded with `genctl import cohorts` (bulk import
throughput), then the latency (p50/p99) of the dashboard page GET /dashboard
with a regional filter and of the figures API GET /api/v1/dashboard/outcomes
(the total, each group_by and a filtered view), side by side with the same
figures computed by a direct SQL aggregate over the learners. The learner
counts of the answers behind the table lines must equal the aggregate's.
Table lines dashboard.page, dashboard.api_total, dashboard.api_region; raw
figures in $BENCH_OUT/outcomes.txt.

Environment: GEN_DATABASE_URL (a migrated database), BENCH_URL (a running
gen-server on it), BENCH_STAFF_TOKEN, BENCH_LEARNERS (default 1000000),
BENCH_REQUESTS (requests per view, default 100), BENCH_OUT (work directory)."""
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time

import psycopg2
import requests

import table

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DB = os.environ["GEN_DATABASE_URL"]
URL = os.environ["BENCH_URL"]
TOKEN = os.environ["BENCH_STAFF_TOKEN"]
TOTAL = int(os.environ.get("BENCH_LEARNERS", "1000000"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "100"))
OUT = os.environ.get("BENCH_OUT", os.path.join(ROOT, "var", "bench"))
PAGE_REGION = "84"  # the dashboard page's filter: one region
PAGE_FILTER = f"region={PAGE_REGION}"
FAMILIES = ["development", "infrastructure", "cybersecurity-cloud", "data-ai-iot", "design",
            "digital-marketing", "management"]
REGIONS = ["01", "02", "03", "04", "06", "11", "24", "27", "28", "32", "44", "52", "53", "75", "76", "84", "93", "94"]
COHORTS = max(1, TOTAL // 25)
PROGRAMMES = max(1, COHORTS // 4)


def setup_programmes(cur):
    """Programmes are the product of the review workflow; for a benchmark
    they are created directly in SQL (the workflow is measured elsewhere)."""
    cur.execute("SELECT id FROM calls WHERE ref = 'AAP-2026-INNOV'")
    call = cur.fetchone()[0]
    cur.execute("SELECT id, siret FROM users WHERE email = 'provider@bench.test'")
    user, siret = cur.fetchone()
    cur.execute("""
        INSERT INTO applications (tracking, call_id, kind, siret, org_name, submitted_by, state, title, family,
                                  region, first_received_at)
        SELECT 'GEN-2020-' || lpad(g::text, 6, '0'), %s, 'project', %s, 'Bench org', %s, 'funded',
               'Programme ' || g, (%s::text[])[1 + g %% 7], '32', now()
          FROM generate_series(1, %s) g""", (call, siret, user, FAMILIES, PROGRAMMES))
    cur.execute("""
        INSERT INTO application_versions (application_id, version, body, sha256, received_at, submitted_by)
        SELECT a.id, 1, b.body, b.sha, 'x', %s FROM applications a, bench_body b
         WHERE a.tracking LIKE 'GEN-2020-%%'""", (user,))
    cur.execute("""
        INSERT INTO programmes (tracking, application_id, kind, siret, family, call_id)
        SELECT tracking, id, 'funded', siret, family, call_id FROM applications WHERE tracking LIKE 'GEN-2020-%%'""")


def write_reports(directory):
    rnd = random.Random(40000)
    shutil.rmtree(directory, ignore_errors=True)  # files of an earlier, larger run
    os.makedirs(directory, exist_ok=True)
    left = TOTAL
    for c in range(COHORTS):
        n = left if c == COHORTS - 1 else min(left, rnd.randint(15, 35))
        left -= n
        programme = f"GEN-2020-{1 + c % PROGRAMMES:06d}"
        year = 2016 + c % 10
        region = REGIONS[c % len(REGIONS)]
        out = [f'<?xml version="1.0" encoding="UTF-8"?>\n<cohortReport xmlns="urn:gen:forms:1" '
               f'programme="{programme}" cohort="B{c:06d}"><startDate>{year}-09-01</startDate>'
               f"<endDate>{year + 1}-05-01</endDate><plannedSeats>{n + 5}</plannedSeats><region>{region}</region>"]
        for i in range(n):
            exited = rnd.random() < 0.9
            status = ("dropped" if rnd.random() < 0.12 else "completed") if exited else "enrolled"
            attrs = (f'ref="{c}-{i}" gender="{rnd.choice("FMMM")}" birthYear="1995" '
                     f'qualification="{rnd.choice(["none", "3", "4", "5", "6"])}" '
                     f'priorityArea="{"true" if rnd.random() < 0.2 else "false"}" rural="false" '
                     f'jobSeeker="true" region="{region}" status="{status}"')
            if exited:
                attrs += f' exitDate="{year + 1}-05-01"'
                kind = rnd.choice(["employed-permanent", "work-study", "job-seeking", "unknown"])
                out.append(f'<learner {attrs}><outcome kind="{kind}" at="{year + 1}-11-01"/></learner>')
            else:
                out.append(f"<learner {attrs}/>")
        out.append("</cohortReport>\n")
        with open(os.path.join(directory, f"c{c:06d}.xml"), "w") as f:
            f.write("".join(out))


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


# The figures' counts straight from the learners. {keys} are the group
# columns; "total" is true on the row of the grouping set () only.
DIRECT = """
SELECT {keys}, {total} AS total, count(*) AS learners,
       count(*) FILTER (WHERE l.gender = 'F') AS women,
       count(*) FILTER (WHERE l.priority_area) AS priority_area,
       count(*) FILTER (WHERE l.qualification IN ('none', '3', '4')) AS low_qualification,
       count(*) FILTER (WHERE l.status = 'dropped') AS dropped,
       count(*) FILTER (WHERE l.status IN ('completed', 'dropped')) AS exited,
       count(*) FILTER (WHERE l.outcome IS NOT NULL AND l.outcome <> 'unknown') AS reported,
       count(*) FILTER (WHERE l.outcome IN ('employed-permanent', 'employed-fixed-term', 'work-study',
                                            'business-creation', 'further-training')) AS positive
  FROM learners l JOIN cohorts c ON c.id = l.cohort_id {where} {group}"""


def direct_sql(keys, where):
    """The aggregate computing a view's numbers: keys is () for the total
    alone, else one grouping set per key and the total."""
    if not keys:
        return DIRECT.format(keys="NULL::text", total="true", where=where, group="")
    return DIRECT.format(keys=", ".join(f"{k}::text" for k in keys),
                         total=f"GROUPING({', '.join(keys)}) = {2 ** len(keys) - 1}", where=where,
                         group="GROUP BY GROUPING SETS (" + ", ".join(f"({k})" for k in keys) + ", ())")


def learners_of(rows, keys):
    """{group: learners} of a direct result, "total" for the total (with
    several keys, only the total is meaningful)."""
    n = max(1, len(keys))
    return {("total" if r[n] else r[0]): r[n + 1] for r in rows}


def api_learners(resp):
    j = resp.json()
    counts = {g["group"]: g["learners"] for g in j["groups"]}
    counts["total"] = j["total"]["learners"]
    return counts


def page_learners(resp):
    m = re.search(r'data-figure="learners" data-group="total">(\d+)<', resp.text)
    return {"total": int(m.group(1)) if m else None}


def main():
    conn = psycopg2.connect(DB)
    conn.autocommit = True
    cur = conn.cursor()
    setup_programmes(cur)
    reports = os.path.join(OUT, "cohorts")
    t0 = time.time()
    write_reports(reports)
    gen_s = time.time() - t0
    env = dict(os.environ)
    t0 = time.time()
    r = subprocess.run([os.path.join(ROOT, "bin", "genctl"), "import", "cohorts", reports], env=env,
                       capture_output=True, text=True)
    import_s = time.time() - t0
    if r.returncode != 0:
        sys.exit("import failed: " + r.stderr[-2000:])
    cur.execute("SELECT count(*), count(DISTINCT cohort_id) FROM learners")
    learners, cohorts = cur.fetchone()
    cur.execute("VACUUM ANALYZE")
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + TOKEN
    api = f"{URL}/api/v1/dashboard/outcomes?"
    # name, URL, key columns of the direct aggregate, its WHERE, table line
    views = [(f"/dashboard?{PAGE_FILTER}", f"{URL}/dashboard?{PAGE_FILTER}", ("c.region", "c.family", "c.year"),
              f"WHERE c.region = '{PAGE_REGION}'", "dashboard.page"),
             ("total", api, (), "", "dashboard.api_total"),
             ("group_by=year", api + "group_by=year", ("c.year",), "", None),
             ("group_by=region", api + "group_by=region", ("c.region",), "", "dashboard.api_region"),
             ("group_by=family", api + "group_by=family", ("c.family",), "", None),
             ("group_by=call", api + "group_by=call", ("c.call_id",), "", None),
             ("group_by=provider", api + "group_by=provider", ("c.siret",), "", None),
             ("group_by=programme", api + "group_by=programme", ("c.programme",), "", None),
             ("year=2021&region=84", api + "year=2021&region=84", (), "WHERE c.year = 2021 AND c.region = '84'",
              None)]
    rows = []
    for name, url, keys, where, line in views:
        lat = []
        for _ in range(5):
            s.get(url)  # warm
        for _ in range(REQUESTS if "programme" not in name else max(1, REQUESTS * 3 // 10)):
            t = time.perf_counter()
            resp = s.get(url)
            lat.append((time.perf_counter() - t) * 1000)
            assert resp.status_code == 200, f"{url}: {resp.status_code} {resp.text[:300]}"
        direct = []
        for _ in range(3):
            t = time.perf_counter()
            cur.execute(direct_sql(keys, where))
            result = cur.fetchall()
            direct.append((time.perf_counter() - t) * 1000)
        api_p50, api_p99 = percentile(lat, 50), percentile(lat, 99)
        sql_ms = statistics.median(direct)
        rows.append((name, api_p50, api_p99, sql_ms, sql_ms / api_p50))
        if line is None:
            continue
        # The numbers must be the same: the learners of the total (and of
        # every group of a JSON view) in the answer and in the aggregate.
        got = page_learners(resp) if name.startswith("/dashboard") else api_learners(resp)
        want = learners_of(result, keys)
        check = got.keys() if len(keys) > 1 else got.keys() | want.keys()
        if any(got.get(k) != want.get(k) for k in check):
            table.fail(line, f"learner counts differ from the direct aggregate: answer {got}, SQL {want}")
        else:
            table.add(line, api_p50, sql_ms,
                      f"{learners} learners; ours {len(lat)} requests, direct SQL 3 runs"
                      + (f"; filter {PAGE_FILTER}" if name.startswith("/dashboard") else ""))
    lines = [f"outcome figures: {learners} learners in {cohorts} cohorts "
             f"(import {learners / import_s:.0f} learners/s: {import_s:.1f} s for {COHORTS} files; "
             f"files written in {gen_s:.1f} s)",
             f"{'view':24} {'p50 ms':>11} {'p99 ms':>11} {'direct SQL ms':>14} {'SQL/ours':>8}"]
    for name, p50, p99, sql_ms, ratio in rows:
        lines.append(f"{name:24} {p50:11.2f} {p99:11.2f} {sql_ms:14.1f} {table.number(ratio):>7}x")
    lines.append("(target: API p99 < 20 ms and >= 50x faster than the direct aggregate over learners;"
                 f" /dashboard is the HTML page with the filter {PAGE_FILTER}: by region, family and year)")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(OUT, "outcomes.txt"), "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
