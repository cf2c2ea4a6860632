"""The `assign` job against a real PostgreSQL and the real gen-worker: the
optimal assignment of DESIGN §5 checked against an independent exhaustive
search, every kind of conflict (declared, employer, e-mail domain, public
webmail excepted) respected and the automatic ones stored with their source,
capacities per call, the state changes with their audit entries, the
messages, the stored run (input hash, params, result hash) and its exact
replay with `genctl assignment replay`, tampering detected, and the
diagnosis of an infeasible pool.

Set-up goes through SQL: organisations, providers, reviewers, panels and
declared conflicts are inserted directly; applications are submitted with
gen_submit (the stored body is a valid projectApplication, whose contact
e-mail the job reads) and moved to 'eligible' through gen_app_transition in
the same transaction, so the screening job that gen_submit queues finds
them already screened and skips them."""
import hashlib
import itertools
import json
import os
import random
import re

import psycopg2
import pytest

from conftest import ROOT, genctl, sql, wait_for
from gen import luhn_ok

EXAMPLES = os.path.join(ROOT, "forms", "examples")
FAMILIES = ["development", "infrastructure", "cybersecurity-cloud", "data-ai-iot", "design",
            "digital-marketing", "management"]
REGIONS = ["01", "02", "03", "04", "06", "11", "24", "27", "28", "32", "44", "52", "53", "75",
           "76", "84", "93", "94"]
SOLVER = "min-cost-flow primal-dual"


# ---- set-up helpers ----

def siret(n):
    """A Luhn-valid 14-digit SIRET made from the integer n."""
    body = f"{n:013d}"
    for d in range(10):
        if luhn_ok(body + str(d)):
            return body + str(d)
    raise AssertionError("no Luhn digit")


_counter = itertools.count(1)


def make_call(db, rpa=2, mlpr=10):
    ref = f"ASG-{next(_counter):04d}-{random.randrange(10**6):06d}"
    doc = open(os.path.join(EXAMPLES, "call-project.xml"), "rb").read()
    cid = sql(db, """
        INSERT INTO calls (ref, kind, title, opens_at, closes_at, budget_cents, max_request_cents,
                           reviewers_per_application, max_load_per_reviewer, document)
        VALUES (%s, 'project', 'Appel ' || %s, now() - interval '1 day', now() + interval '30 days',
                250000000, 15000000, %s, %s, %s) RETURNING id""", (ref, ref, rpa, mlpr, doc))[0][0]
    return cid, ref


def app_body(ref, org_siret, contact, family, region, title):
    text = open(os.path.join(EXAMPLES, "projectApplication.xml"), "rb").read().decode()
    text = re.sub(r'call="[^"]*"', f'call="{ref}"', text, count=1)
    text = re.sub(r'siret="[0-9]{14}"', f'siret="{org_siret}"', text, count=1)
    text = re.sub(r"<email>[^<]*</email>", f"<email>{contact}</email>", text, count=1)
    text = re.sub(r"<region>[^<]*</region>", f"<region>{region}</region>", text, count=1)
    text = re.sub(r"<family>[^<]*</family>", f"<family>{family}</family>", text, count=1)
    text = re.sub(r"<title>[^<]*</title>", f"<title>{title}</title>", text, count=1)
    return text.encode()


def eligible_app(db, call, ref, org_siret, contact, family, region, title):
    """Organisation, provider, submission and screening (in one transaction).
    Returns (application id, tracking)."""
    email = f"provider-{org_siret}@{ref.lower()}.example.org"
    body = app_body(ref, org_siret, contact, family, region, title)
    conn = psycopg2.connect(db)
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO organisations (siret, name, region) VALUES (%s, %s, %s) "
                        "ON CONFLICT DO NOTHING", (org_siret, "Org " + org_siret, region))
            cur.execute("INSERT INTO users (email, role, siret) VALUES (%s, 'provider', %s) "
                        "ON CONFLICT (email) DO UPDATE SET role = 'provider' RETURNING id",
                        (email, org_siret))
            user = cur.fetchone()[0]
            cur.execute("SELECT status, tracking FROM gen_submit(%s, %s, NULL, %s, %s, %s, %s, %s, "
                        "13500000, %s, %s, NULL)",
                        (user, call, org_siret, "Org " + org_siret, region, title, family, body,
                         hashlib.sha256(body).hexdigest()))
            status, tracking = cur.fetchone()
            assert status == 201, status
            cur.execute("SELECT id FROM applications WHERE tracking = %s", (tracking,))
            app = cur.fetchone()[0]
            cur.execute("SELECT gen_app_transition(%s, 'screening', 'worker', 'test')", (app,))
            cur.execute("SELECT gen_app_transition(%s, 'eligible', 'worker', 'test')", (app,))
        conn.commit()
    finally:
        conn.close()
    return app, tracking


def reviewer(db, email, families, regions=(), max_load=10, employer=None):
    uid = sql(db, "INSERT INTO users (email, role, name) VALUES (%s, 'reviewer', %s) RETURNING id",
              (email, email.split("@")[0]))[0][0]
    sql(db, "INSERT INTO reviewers (user_id, families, regions, max_load, employer_siret) "
            "VALUES (%s, %s, %s, %s, %s)", (uid, list(families), list(regions), max_load, employer))
    return uid


def panel(db, call, uids):
    for u in uids:
        sql(db, "INSERT INTO panel_members (call_id, user_id) VALUES (%s, %s)", (call, u))


def declare(db, uid, org_siret, reason="former partner"):
    sql(db, "INSERT INTO conflicts (user_id, siret, source, reason, created_by) "
            "VALUES (%s, %s, 'declared', %s, 'test')", (uid, org_siret, reason))


def run_assign(db, call, by=None):
    jid = sql(db, "SELECT gen_enqueue('assign', jsonb_build_object('call', %s::bigint, 'by', %s::bigint))",
              (call, by))[0][0]
    wait_for(lambda: sql(db, "SELECT state FROM jobs WHERE id = %s", (jid,))[0][0] in ("done", "dead"),
             timeout=30, what=f"assign job {jid}")
    state, result, error = sql(db, "SELECT state, result, error FROM jobs WHERE id = %s", (jid,))[0]
    return jid, state, result, error


def run_row(db, run):
    cols = ("call_id", "job_id", "input", "input_hash", "params", "result", "result_hash")
    return dict(zip(cols, sql(db, "SELECT " + ", ".join(cols) + " FROM assignment_runs WHERE id = %s",
                              (run,))[0]))


def canonical_result_text(result):
    """The result JSON as the job writes it (DESIGN key order, no spaces),
    rebuilt from the stored jsonb, for an independent check of result_hash."""
    ordered = {
        "filled": result["filled"],
        "unfilled": result["unfilled"],
        "totalAffinity": result["totalAffinity"],
        "assignments": [{"application": a["application"], "reviewer": a["reviewer"],
                         "affinity": a["affinity"]} for a in result["assignments"]],
        "diagnosis": None if result["diagnosis"] is None else {
            "applications": result["diagnosis"]["applications"],
            "reviewers": result["diagnosis"]["reviewers"],
            "seatsNeeded": result["diagnosis"]["seatsNeeded"],
            "capacity": result["diagnosis"]["capacity"],
        },
    }
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False)


# ---- the independent optimum ----

def affinity(app, rev):
    return 3 * (app["family"] in rev["families"]) + (app["region"] in rev["regions"])


def brute_force(apps, revs, seats, conflicts):
    """Exhaustive search: the best (filled seats, total affinity) over every
    assignment giving each application at most `seats` distinct allowed
    reviewers within their capacities."""
    options = []
    for i, a in enumerate(apps):
        allowed = [j for j in range(len(revs)) if (i, j) not in conflicts]
        opts = []
        for k in range(min(seats, len(allowed)) + 1):
            for combo in itertools.combinations(allowed, k):
                opts.append((combo, k, sum(affinity(a, revs[j]) for j in combo)))
        options.append(opts)
    best = (-1, -1)
    for choice in itertools.product(*options):
        load = [0] * len(revs)
        for combo, _, _ in choice:
            for j in combo:
                load[j] += 1
        if any(load[j] > revs[j]["cap"] for j in range(len(revs))):
            continue
        best = max(best, (sum(c[1] for c in choice), sum(c[2] for c in choice)))
    return best


# ---- checks shared by the tests ----

def active_assignments(db, call):
    return sql(db, """
        SELECT a.tracking, u.email, x.affinity, x.user_id, x.application_id, x.origin, x.run_id
          FROM assignments x JOIN applications a ON a.id = x.application_id
          JOIN users u ON u.id = x.user_id
         WHERE x.call_id = %s AND x.state = 'active' ORDER BY x.application_id, x.user_id""", (call,))


def check_run_invariants(db, call, seats, feasible):
    rows = active_assignments(db, call)
    # Never a conflicted pair, whatever the source.
    assert sql(db, """
        SELECT count(*) FROM assignments x JOIN applications a ON a.id = x.application_id
          JOIN conflicts c ON c.user_id = x.user_id AND c.siret = a.siret
         WHERE x.call_id = %s AND x.state = 'active'""", (call,))[0][0] == 0
    # Only panel members, within min(maxLoad, maxLoadPerReviewer).
    assert sql(db, """
        SELECT count(*) FROM assignments x
         WHERE x.call_id = %s AND x.state = 'active'
           AND NOT EXISTS (SELECT 1 FROM panel_members p WHERE p.call_id = x.call_id
                              AND p.user_id = x.user_id)""", (call,))[0][0] == 0
    over = sql(db, """
        SELECT x.user_id, count(*), least(r.max_load, c.max_load_per_reviewer)
          FROM assignments x JOIN reviewers r ON r.user_id = x.user_id JOIN calls c ON c.id = x.call_id
         WHERE x.call_id = %s AND x.state = 'active'
         GROUP BY x.user_id, r.max_load, c.max_load_per_reviewer
        HAVING count(*) > least(r.max_load, c.max_load_per_reviewer)""", (call,))
    assert over == []
    # Stored affinities are those of DESIGN §5.
    assert sql(db, """
        SELECT count(*) FROM assignments x JOIN applications a ON a.id = x.application_id
          JOIN reviewers r ON r.user_id = x.user_id
         WHERE x.call_id = %s AND x.affinity <> gen_affinity(r.families, r.regions, a.family, a.region)""",
               (call,))[0][0] == 0
    per_app = sql(db, """
        SELECT a.tracking, count(x.id) FROM applications a
          LEFT JOIN assignments x ON x.application_id = a.id AND x.state = 'active'
         WHERE a.call_id = %s GROUP BY a.tracking ORDER BY a.tracking""", (call,))
    if feasible:
        assert all(n == seats for _, n in per_app), per_app
    else:
        assert all(n <= seats for _, n in per_app), per_app
    return rows


def replay(db, run):
    return genctl(db, "assignment", "replay", str(run), check=False)


# ---- tests ----

def test_small_instance_is_optimal_conflicts_respected_and_run_replayable(database, worker):
    """3 applications × 4 reviewers × 2 seats, with one conflict of each
    source, a shared webmail domain that is no conflict, and capacities that
    bind. The job's total affinity equals the exhaustive optimum."""
    db = database
    call, ref = make_call(db, rpa=2, mlpr=2)
    tag = ref.lower()
    s1, s2, s3 = siret(101), siret(202), siret(303)
    specs = [  # organisation, contact, family, region, title
        (s1, f"Direction@Acme-{tag}.fr", "development", "32", "Développeur web"),
        (s2, "asso.b@gmail.com", "data-ai-iot", "11", "Data analyste"),
        (s3, f"contact@gamma-{tag}.fr", "design", "84", "Designer UX"),
    ]
    apps = []
    for org, contact, fam, reg, title in specs:
        aid, tracking = eligible_app(db, call, ref, org, contact, fam, reg, title)
        apps.append({"id": aid, "tracking": tracking, "family": fam, "region": reg, "siret": org,
                     "title": title})
    revs = [  # e-mail, families, regions, maxLoad, employer
        dict(email=f"ana@{tag}.example.net", families=["development", "data-ai-iot"], regions=["32"],
             max_load=5, employer=None),
        dict(email=f"expert@acme-{tag}.fr", families=["development"], regions=["32", "11"],
             max_load=5, employer=None),                       # e-mail domain of app 0's contact
        dict(email=f"{tag}.jean@gmail.com", families=["data-ai-iot", "design"], regions=["11"],
             max_load=1, employer=s3),                         # employed by app 2's organisation
        dict(email=f"zoe@{tag}.example.com", families=["design", "development"], regions=["84", "11"],
             max_load=5, employer=None),                       # declared conflict with app 1
    ]
    for r in revs:
        r["id"] = reviewer(db, r["email"], r["families"], r["regions"], r["max_load"], r["employer"])
        r["cap"] = min(r["max_load"], 2)
    panel(db, call, [r["id"] for r in revs])
    declare(db, revs[3]["id"], s2)
    # Not a panel member: its conflicts and e-mail domain play no part.
    outsider = reviewer(db, f"outsider@acme-{tag}.fr", ["development"], employer=s1)

    jid, state, result, error = run_assign(db, call, by=None)
    assert state == "done", error

    conflicts = {(0, 1), (1, 3), (2, 2)}
    filled, total = brute_force(apps, revs, 2, conflicts)
    assert result["filled"] == filled == 6
    assert result["unfilled"] == 0
    assert result["totalAffinity"] == total
    assert result["diagnosis"] is None
    run = result["run"]
    assert set(result) == {"run", "filled", "unfilled", "totalAffinity", "diagnosis"}

    # The automatic conflicts are stored with their source; the webmail
    # domain shared by app 1's contact and reviewer 2 is none.
    auto = sql(db, "SELECT user_id, siret, source, reason, created_by FROM conflicts "
                   "WHERE created_by = 'system: assignment run' ORDER BY user_id, source")
    assert outsider not in {row[0] for row in auto}
    auto = [row for row in auto if row[0] in {r["id"] for r in revs}]
    assert [(u, s, src) for u, s, src, _, _ in auto] == [
        (revs[1]["id"], s1, "email-domain"),
        (revs[2]["id"], s3, "employer"),
    ]
    assert f"acme-{tag}.fr" in auto[0][3] and apps[0]["tracking"] in auto[0][3]
    assert s3 in auto[1][3]
    assert sql(db, "SELECT count(*) FROM conflicts WHERE source = 'email-domain' AND reason LIKE '%%gmail.com%%'")[0][0] == 0

    rows = check_run_invariants(db, call, 2, feasible=True)
    for tracking, email, aff, uid, aid, origin, run_id in rows:
        i = next(k for k, a in enumerate(apps) if a["id"] == aid)
        j = next(k for k, r in enumerate(revs) if r["id"] == uid)
        assert (i, j) not in conflicts
        assert aff == affinity(apps[i], revs[j])
        assert origin == "optimiser" and run_id == run
    assert sum(r[2] for r in rows) == total

    # The stored run: exact input, its hash, params, result and its hash.
    row = run_row(db, run)
    assert row["call_id"] == call and row["job_id"] == jid
    assert row["input_hash"] == hashlib.sha256(row["input"].encode()).hexdigest()
    assert row["params"] == {"seats": 2, "solver": SOLVER, "version": 1}
    assert row["result"]["filled"] == 6 and row["result"]["totalAffinity"] == total
    assert row["result_hash"] == hashlib.sha256(canonical_result_text(row["result"]).encode()).hexdigest()
    assert [(a["application"], a["reviewer"], a["affinity"]) for a in row["result"]["assignments"]] \
        == [(t, e, a) for t, e, a, *_ in rows]
    lines = row["input"].split("\n")
    assert lines[:3] == ["gen-assignment-input 1", f"call {ref}", "seats 2"]
    assert lines[-1] == ""
    assert lines[3:6] == [f"app {a['tracking']} {a['id']} {a['family']} {a['region']} {a['siret']}"
                          for a in apps]
    order = {f: k for k, f in enumerate(FAMILIES)}
    for k, r in enumerate(revs):
        fams = ",".join(sorted(r["families"], key=order.get))
        regs = ",".join(sorted(r["regions"]))
        assert lines[6 + k] == f"rev {r['id']} {r['email']} {r['cap']} {fams} {regs}"
    assert lines[10:13] == [f"conflict {apps[i]['tracking']} {revs[j]['id']}" for i, j in sorted(conflicts)]

    # Every application moved to in-review through the transition function.
    for a in apps:
        assert sql(db, "SELECT state FROM applications WHERE id = %s", (a["id"],))[0][0] == "in-review"
        assert sql(db, "SELECT actor, reason, detail FROM audit_log WHERE subject = %s "
                       "AND action = 'application.state' ORDER BY seq DESC LIMIT 1", (a["tracking"],)) \
            == [("worker", f"assignment run {run}", "eligible->in-review")]
    assert sql(db, "SELECT actor, reason, detail FROM audit_log WHERE subject = %s "
                   "AND action = 'assignment.run'", (ref,)) \
        == [("worker", f"run {run}: 6 seats filled, 0 unfilled", row["input_hash"])]

    # One message per reviewer who got seats, listing the dossiers and titles.
    for r in revs:
        mine = [(t, aid) for t, e, _, _, aid, _, _ in rows if e == r["email"]]
        msgs = sql(db, "SELECT kind, subject, body FROM outbox WHERE recipient = %s", (r["email"],))
        if not mine:
            assert msgs == []
            continue
        assert len(msgs) == 1
        kind, subject, body = msgs[0]
        assert kind == "assignment" and ref in subject
        for t, aid in mine:
            title = next(a["title"] for a in apps if a["id"] == aid)
            assert f"- {t} « {title} »" in body
        assert body.count("\n- ") == len(mine)
    assert sql(db, "SELECT count(*) FROM jobs WHERE kind = 'deliver' AND (payload->>'outbox')::bigint "
                   "IN (SELECT id FROM outbox WHERE kind = 'assignment' AND subject LIKE %s)",
               (f"%{ref}%",))[0][0] == len({e for _, e, *_ in rows})

    # Replay: identical, with the stored hash.
    r = replay(db, run)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"identical run={run} hash={row['result_hash']}\n"
    shown = genctl(db, "assignment", "show", str(run))
    assert json.loads(shown.stdout) == row["result"]

    # Tampering with the stored result, its hash, or the input is caught.
    sql(db, "UPDATE assignment_runs SET result = jsonb_set(result, '{totalAffinity}', '999') "
            "WHERE id = %s", (run,))
    r = replay(db, run)
    assert r.returncode == 1
    m = re.fullmatch(rf"different run={run} stored=([0-9a-f]{{64}}) replayed=([0-9a-f]{{64}})\n", r.stdout)
    assert m and m.group(1) != m.group(2), r.stdout
    sql(db, "UPDATE assignment_runs SET result = %s::jsonb WHERE id = %s", (json.dumps(row["result"]), run))
    assert replay(db, run).returncode == 0

    sql(db, "UPDATE assignment_runs SET result_hash = repeat('0', 64) WHERE id = %s", (run,))
    r = replay(db, run)
    assert r.returncode == 1
    assert r.stdout == f"different run={run} stored={'0' * 64} replayed={row['result_hash']}\n"
    sql(db, "UPDATE assignment_runs SET result_hash = %s WHERE id = %s", (row["result_hash"], run))

    sql(db, "UPDATE assignment_runs SET input = replace(input, 'seats 2', 'seats 1') WHERE id = %s", (run,))
    r = replay(db, run)
    assert r.returncode == 1
    assert r.stdout.startswith(f"input altered run={run} stored={row['input_hash']} actual=")
    sql(db, "UPDATE assignment_runs SET input = %s WHERE id = %s", (row["input"], run))
    assert replay(db, run).returncode == 0


def test_random_small_instances_match_exhaustive_search(database, worker):
    """Random pools (up to 4 applications × 4 reviewers, 1-2 seats, tight
    capacities, random declared conflicts): filled seats and total affinity
    equal the exhaustive optimum, feasible or not."""
    db = database
    rng = random.Random(20260515)
    outcomes = set()
    for trial in range(6):
        seats = rng.choice([1, 2])
        mlpr = rng.choice([1, 2, 3])
        call, ref = make_call(db, rpa=seats, mlpr=mlpr)
        tag = ref.lower()
        apps, revs = [], []
        for i in range(rng.randint(2, 4)):
            org = siret(1000 * (trial + 1) + i)
            fam, reg = rng.choice(FAMILIES[:3]), rng.choice(REGIONS[:3])
            aid, tracking = eligible_app(db, call, ref, org, f"c{i}@org{i}-{tag}.fr", fam, reg, f"Titre {i}")
            apps.append({"id": aid, "tracking": tracking, "family": fam, "region": reg, "siret": org})
        for j in range(rng.randint(2, 4)):
            fams = rng.sample(FAMILIES[:3], rng.randint(1, 2))
            regs = rng.sample(REGIONS[:3], rng.randint(0, 2))
            ml = rng.randint(1, 3)
            uid = reviewer(db, f"r{j}@{tag}.example.net", fams, regs, ml)
            revs.append({"id": uid, "families": fams, "regions": regs, "cap": min(ml, mlpr),
                         "email": f"r{j}@{tag}.example.net"})
        panel(db, call, [r["id"] for r in revs])
        conflicts = set()
        for i, a in enumerate(apps):
            for j, r in enumerate(revs):
                if rng.random() < 0.2:
                    declare(db, r["id"], a["siret"])
                    conflicts.add((i, j))
        _, state, result, error = run_assign(db, call)
        assert state == "done", error
        filled, total = brute_force(apps, revs, seats, conflicts)
        assert (result["filled"], result["totalAffinity"]) == (filled, total), (trial, result)
        assert result["unfilled"] == seats * len(apps) - filled
        assert (result["diagnosis"] is None) == (filled == seats * len(apps))
        check_run_invariants(db, call, seats, feasible=filled == seats * len(apps))
        outcomes.add((filled == seats * len(apps), bool(conflicts)))
        r = replay(db, result["run"])
        assert r.returncode == 0 and r.stdout.startswith(f"identical run={result['run']} "), r.stdout
    # The seed gives feasible and infeasible pools, with and without conflicts.
    assert {f for f, _ in outcomes} == {True, False} and any(c for _, c in outcomes), outcomes


def test_infeasible_pool_names_applications_and_reviewers(database, worker):
    """Three applications × 2 seats, two usable reviewers of 2 seats each and
    a third conflicted with everyone: 2 seats stay empty and the diagnosis
    names the three applications and the two reviewers, 6 needed > 4."""
    db = database
    call, ref = make_call(db, rpa=2, mlpr=10)
    tag = ref.lower()
    apps = [eligible_app(db, call, ref, siret(5000 + i), f"c@o{i}-{tag}.fr", "design", "11", f"T{i}")
            for i in range(3)]
    r1 = reviewer(db, f"a@{tag}.example.net", ["design"], ["11"], max_load=2)
    r2 = reviewer(db, f"b@{tag}.example.net", ["management"], [], max_load=2)
    r3 = reviewer(db, f"c@{tag}.example.net", ["design"], ["11"], max_load=9)
    panel(db, call, [r1, r2, r3])
    for i in range(3):
        declare(db, r3, siret(5000 + i))
    _, state, result, error = run_assign(db, call)
    assert state == "done", error
    assert result["filled"] == 4 and result["unfilled"] == 2
    assert result["totalAffinity"] == 2 * 4 + 2 * 0
    diag = result["diagnosis"]
    assert diag == {"applications": [t for _, t in apps],
                    "reviewers": [f"a@{tag}.example.net", f"b@{tag}.example.net"],
                    "seatsNeeded": 6, "capacity": 4}
    assert diag["seatsNeeded"] > diag["capacity"]
    stored = run_row(db, result["run"])
    assert stored["result"]["diagnosis"] == diag and stored["result"]["unfilled"] == 2
    assert stored["result_hash"] == hashlib.sha256(canonical_result_text(stored["result"]).encode()).hexdigest()
    check_run_invariants(db, call, 2, feasible=False)
    # Every eligible application moved on, seats filled or not.
    assert sql(db, "SELECT array_agg(DISTINCT state) FROM applications WHERE call_id = %s", (call,))[0][0] \
        == ["in-review"]
    assert sql(db, "SELECT reason FROM audit_log WHERE subject = %s AND action = 'assignment.run'", (ref,)) \
        == [(f"run {result['run']}: 4 seats filled, 2 unfilled",)]
    assert replay(db, result["run"]).returncode == 0


def test_second_run_counts_earlier_seats_and_takes_only_new_applications(database, worker):
    db = database
    call, ref = make_call(db, rpa=1, mlpr=2)
    tag = ref.lower()
    first = eligible_app(db, call, ref, siret(7001), f"c@a-{tag}.fr", "development", "32", "Un")
    r1 = reviewer(db, f"a@{tag}.example.net", ["development"], ["32"], max_load=5)
    r2 = reviewer(db, f"b@{tag}.example.net", ["design"], [], max_load=1)
    panel(db, call, [r1, r2])
    _, state, res1, error = run_assign(db, call)
    assert state == "done", error
    assert [(t, e) for t, e, *_ in active_assignments(db, call)] == [(first[1], f"a@{tag}.example.net")]
    second = eligible_app(db, call, ref, siret(7002), f"c@b-{tag}.fr", "development", "32", "Deux")
    third = eligible_app(db, call, ref, siret(7003), f"c@c-{tag}.fr", "development", "32", "Trois")
    _, state, res2, error = run_assign(db, call)
    assert state == "done", error
    inp = run_row(db, res2["run"])["input"]
    # Only the new applications; reviewer a has 2 - 1 = 1 seat left in the call.
    assert f"app {first[1]} " not in inp
    assert f"app {second[1]} " in inp and f"app {third[1]} " in inp
    assert f"rev {r1} a@{tag}.example.net 1 development 32\n" in inp
    assert f"rev {r2} b@{tag}.example.net 1 design -\n" in inp
    assert res2["filled"] == 2 and res2["totalAffinity"] == 4 + 0
    rows = check_run_invariants(db, call, 1, feasible=True)
    assert len(rows) == 3


def test_no_panel_or_no_eligible_application_is_fatal(database, worker):
    db = database
    call, ref = make_call(db)
    tag = ref.lower()
    _, state, result, error = run_assign(db, call)
    assert state == "dead" and error == f"call {ref} has no eligible application to assign"
    eligible_app(db, call, ref, siret(9001), f"c@x-{tag}.fr", "design", "11", "X")
    _, state, result, error = run_assign(db, call)
    assert state == "dead"
    assert error == f"call {ref} has no panel: a call without a panel cannot be assigned"
    assert sql(db, "SELECT count(*) FROM assignment_runs WHERE call_id = %s", (call,))[0][0] == 0
    assert sql(db, "SELECT state FROM applications WHERE call_id = %s", (call,)) == [("eligible",)]
    _, state, _, error = run_assign(db, 999999)
    assert state == "dead" and error == "no call 999999"
    jid = sql(db, "SELECT gen_enqueue('assign', '{\"call\": \"x\"}')")[0][0]
    wait_for(lambda: sql(db, "SELECT state FROM jobs WHERE id = %s", (jid,))[0][0] == "dead",
             what="bad payload dead")


def test_replay_and_show_usage(database):
    r = genctl(database, "assignment", "replay", check=False)
    assert r.returncode == 2 and "RUN is required" in r.stderr
    r = genctl(database, "assignment", "replay", "abc", check=False)
    assert r.returncode == 2
    r = genctl(database, "assignment", "show", "424242", check=False)
    assert r.returncode == 1 and "no assignment run 424242" in r.stderr
    r = genctl(database, "assignment", "replay", "424242", check=False)
    assert r.returncode == 1 and "no assignment run 424242" in r.stderr
