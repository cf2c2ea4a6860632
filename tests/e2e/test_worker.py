"""gen-worker against a real PostgreSQL: screening outcomes with their exact
reasons and audit entries, retries with back-off and the dead letter, a
worker killed mid-job (the job's effect happens exactly once), graceful
SIGTERM, LISTEN/NOTIFY wake-up latency, several workers at once, and a lost
database connection. Every test starts its own workers so it controls who
takes which job."""
import hashlib
import json
import os
import re
import signal
import subprocess
import time

import psycopg2
import pytest

from conftest import BIN, ROOT, Worker, alive, genctl, sql, wait_for

SIRET = "73282932000074"
EXAMPLES = os.path.join(ROOT, "forms", "examples")
ELIGIBLE = "meets the call's rules and targets"


def example(name="projectApplication.xml", **replace):
    body = open(os.path.join(EXAMPLES, name), "rb").read()
    for old, new in replace.items():
        old_b, new_b = old.encode(), new.encode()
        assert old_b in body, old
        body = body.replace(old_b, new_b)
    return body


def women(pct):
    return {"<womenPercent>40</womenPercent>": f"<womenPercent>{pct}</womenPercent>"}


@pytest.fixture(scope="module")
def setup(database):
    """A provider and an open project call shaped like forms/examples/call-project.xml."""
    genctl(database, "user", "add", "--email", "provider@example.org", "--role", "provider",
           "--siret", SIRET, "--org-name", "Association Numérique Solidaire")
    user = sql(database, "SELECT id FROM users WHERE email = 'provider@example.org'")[0][0]
    call = sql(database, """
        INSERT INTO calls (ref, kind, title, opens_at, closes_at, budget_cents, max_request_cents,
                           reviewers_per_application, max_load_per_reviewer, threshold_tenths,
                           max_funding_share_tenths, rank_by, document)
        VALUES ('AAP-2026-INNOV', 'project', 'Appel', now() - interval '1 day',
                now() + interval '30 days', 250000000, 15000000, 3, 12, 550, 800, 'calibrated',
                %s) RETURNING id""",
               (open(os.path.join(EXAMPLES, "call-project.xml"), "rb").read(),))[0][0]
    sql(database, "INSERT INTO targets (call_id, metric, min_tenths) VALUES "
                  "(%s, 'women', 300), (%s, 'priority-area', 150), "
                  "(%s, 'low-qualification', 400), (%s, 'positive-outcome', 600)",
        (call, call, call, call))
    return {"user": user, "call": call}


@pytest.fixture
def workers(database, tmp_path):
    """Start workers with start(*extra_args); all are stopped at the end."""
    started = []

    def start(*extra):
        w = Worker(database, str(tmp_path), extra)
        started.append(w)
        wait_for(lambda: "event=db_connected" in w.log() or w.p.poll() is not None,
                 what="worker connected")
        assert w.p.poll() is None, w.log()
        return w

    yield start
    for w in started:
        w.stop()


def submit(database, setup, body, tracking=None):
    """gen_submit as the server calls it; returns (application id, tracking, version)."""
    rows = sql(database, "SELECT status, code, tracking, version FROM gen_submit(%s, %s, %s, %s, "
                         "'Association Numérique Solidaire', '32', 'Programme', 'development', "
                         "13500000, %s, %s, NULL)",
               (setup["user"], setup["call"], tracking, SIRET, body,
                hashlib.sha256(body).hexdigest()))
    status, code, trk, version = rows[0]
    assert status in (200, 201), (status, code)
    app = sql(database, "SELECT id FROM applications WHERE tracking = %s", (trk,))[0][0]
    return app, trk, version


def screen_job(database, app, version):
    rows = sql(database, "SELECT id, state, attempts, result, error, locked_by FROM jobs "
                         "WHERE kind = 'screen' AND payload = jsonb_build_object("
                         "'application', %s::bigint, 'version', %s::int)", (app, version))
    assert len(rows) == 1
    return dict(zip(("id", "state", "attempts", "result", "error", "locked_by"), rows[0]))


def job(database, jid):
    rows = sql(database, "SELECT state, attempts, result, error, run_at, updated_at, locked_by "
                         "FROM jobs WHERE id = %s", (jid,))
    return dict(zip(("state", "attempts", "result", "error", "run_at", "updated_at",
                     "locked_by"), rows[0]))


def enqueue(database, kind, payload, max_attempts=None):
    """gen_enqueue, and set max_attempts in the same transaction."""
    conn = psycopg2.connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT gen_enqueue(%s, %s::jsonb)", (kind, json.dumps(payload)))
            jid = cur.fetchone()[0]
            if max_attempts is not None:
                cur.execute("UPDATE jobs SET max_attempts = %s WHERE id = %s", (max_attempts, jid))
        conn.commit()
    finally:
        conn.close()
    return jid


def wait_job_state(database, jid, states, timeout=15):
    return wait_for(lambda: (lambda j: j if j["state"] in states else None)(job(database, jid)),
                    timeout=timeout, what=f"job {jid} in {states}")


def app_state(database, app):
    return sql(database, "SELECT state, state_reason FROM applications WHERE id = %s", (app,))[0]


def worker_audit(database, tracking):
    return sql(database, "SELECT actor, action, reason, detail FROM audit_log "
                         "WHERE subject = %s AND actor = 'worker' ORDER BY seq", (tracking,))


def wait_screened(database, app, version, timeout=15):
    wait_for(lambda: screen_job(database, app, version)["state"] in ("done", "dead"),
             timeout=timeout, what=f"screening of application {app}")
    return screen_job(database, app, version)


def hold_application_lock(database, app):
    """An open transaction holding the application's row lock."""
    conn = psycopg2.connect(database)
    cur = conn.cursor()
    cur.execute("SELECT 1 FROM applications WHERE id = %s FOR UPDATE", (app,))
    return conn


def worker_waiting_on_lock(database):
    return sql(database, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                         "AND application_name = 'gen-worker' AND wait_event_type = 'Lock'")[0][0]


# ---- screening ----

def test_screening_eligible_and_ineligible_with_exact_reasons(database, setup, workers):
    workers()
    cases = [
        (example(), "eligible", ELIGIBLE),
        (example(**women(20)), "ineligible",
         "women commitment 20.0 % is below the call's minimum of 30.0 %"),
        (example(**{"<priorityAreaPercent>35.5</priorityAreaPercent>":
                    "<priorityAreaPercent>14.9</priorityAreaPercent>"}), "ineligible",
         "priority-area commitment 14.9 % is below the call's minimum of 15.0 %"),
        (example(**{"<requestedAmount>135000.00</requestedAmount>":
                    "<requestedAmount>160000.00</requestedAmount>"}), "ineligible",
         "requestedAmount 160000.00 exceeds the call's maxRequest (150000.00)"),
        (example("labelApplication.xml", **{'call="LABEL-2026"': 'call="AAP-2026-INNOV"'}),
         "ineligible",
         "call AAP-2026-INNOV is of kind project: it takes a projectApplication, "
         "not a labelApplication"),
    ]
    apps = [(submit(database, setup, body), state, reason) for body, state, reason in cases]
    for (app, tracking, version), state, reason in apps:
        j = wait_screened(database, app, version)
        assert j["state"] == "done", j
        assert j["attempts"] == 1
        assert j["result"] == {"state": state, "reason": reason}
        assert app_state(database, app) == (state, reason)
        assert worker_audit(database, tracking) == [
            ("worker", "application.state", "screening version 1", "submitted->screening"),
            ("worker", "application.state", reason, f"screening->{state}"),
        ]
    assert genctl(database, "audit", "verify").stdout.startswith("ok entries=")


def test_amended_version_is_screened_and_stale_jobs_skip(database, setup, workers):
    workers()
    app, tracking, v1 = submit(database, setup, example())
    assert wait_screened(database, app, v1)["result"]["state"] == "eligible"

    # An amendment puts the application back to submitted and screens version 2.
    _, _, v2 = submit(database, setup, example(**women(25)), tracking=tracking)
    assert v2 == 2
    j = wait_screened(database, app, v2)
    reason = "women commitment 25.0 % is below the call's minimum of 30.0 %"
    assert j["result"] == {"state": "ineligible", "reason": reason}
    assert app_state(database, app) == ("ineligible", reason)

    stale = enqueue(database, "screen", {"application": app, "version": 1})
    assert wait_job_state(database, stale, ("done",))["result"] == {"skipped": "superseded"}
    again = enqueue(database, "screen", {"application": app, "version": 2})
    assert wait_job_state(database, again, ("done",))["result"] == {"skipped": "state ineligible"}
    assert app_state(database, app) == ("ineligible", reason)
    assert len(worker_audit(database, tracking)) == 4


# ---- failures, retries, dead letter ----

def test_unknown_kind_is_dead_at_once(database, setup, workers):
    w = workers()
    jid = enqueue(database, "no-such-kind", {})
    j = wait_job_state(database, jid, ("dead",))
    assert j["attempts"] == 1
    assert j["error"] == 'unknown job kind "no-such-kind"'
    wait_for(lambda: f"event=job_dead id={jid} kind=no-such-kind" in w.log(), what="log line")


def test_bad_payload_is_dead_at_once(database, setup, workers):
    workers()
    jid = enqueue(database, "screen", {"application": "seven"})
    j = wait_job_state(database, jid, ("dead",))
    assert j["attempts"] == 1 and "payload" in j["error"]


def test_failing_job_is_retried_with_backoff_then_dead(database, setup, workers):
    w = workers()
    t0 = time.time()
    jid = enqueue(database, "screen", {"application": 987654321, "version": 1}, max_attempts=3)

    # After the first failure: queued again, error kept, run_at ~2 s later (jitter 0.8..1.2).
    j = wait_for(lambda: (lambda x: x if x["attempts"] == 1 and x["state"] == "queued" else None)(
        job(database, jid)), what="first retry scheduled")
    assert j["error"] == "no application 987654321"
    assert j["locked_by"] is None
    delay = (j["run_at"] - j["updated_at"]).total_seconds()
    assert 1.5 <= delay <= 2.5, delay

    j = wait_job_state(database, jid, ("dead",), timeout=20)
    elapsed = time.time() - t0
    assert j["attempts"] == 3
    assert j["error"] == "no application 987654321"
    assert elapsed >= (2 + 4) * 0.8 - 0.2, elapsed   # two back-offs: ~2 s then ~4 s
    log = w.log()
    assert log.count(f"event=job_retry id={jid} ") == 2
    assert log.count(f"event=job_dead id={jid} ") == 1
    assert "attempt=2/3" in log and "retry_in_ms=" in log


def test_worker_max_attempts_caps_the_rows_limit(database, setup, workers):
    workers("--max-attempts", "1")
    jid = enqueue(database, "screen", {"application": 987654322, "version": 1})
    j = wait_job_state(database, jid, ("dead",))
    assert j["attempts"] == 1 and j["error"] == "no application 987654322"


def test_unreadable_stored_document_is_dead_and_application_untouched(database, setup, workers):
    app, tracking, v = submit(database, setup, example())
    sql(database, "UPDATE application_versions SET body = convert_to('<projectApplication>', 'UTF8') "
                  "WHERE application_id = %s", (app,))
    workers()
    j = wait_screened(database, app, v)
    assert j["state"] == "dead" and j["attempts"] == 1
    assert tracking in j["error"] and "stored document" in j["error"]
    assert app_state(database, app) == ("submitted", None)
    assert worker_audit(database, tracking) == []


# ---- crashes and stops ----

def test_kill9_mid_job_runs_the_job_exactly_once(database, setup, workers):
    app, tracking, v = submit(database, setup, example())
    lock = hold_application_lock(database, app)
    try:
        a = workers("--lease-seconds", "2")
        wait_for(lambda: worker_waiting_on_lock(database) == 1, what="worker blocked mid-job")
        j = screen_job(database, app, v)
        assert j["state"] == "running" and j["attempts"] == 1
        assert a.stop(signal.SIGKILL) == -signal.SIGKILL
    finally:
        lock.commit()
        lock.close()

    # The killed worker's transaction never commits: nothing half done.
    time.sleep(1.0)
    assert app_state(database, app) == ("submitted", None)
    assert worker_audit(database, tracking) == []
    assert screen_job(database, app, v)["state"] == "running"

    b = workers("--lease-seconds", "2")
    j = wait_screened(database, app, v, timeout=20)
    assert j["state"] == "done" and j["attempts"] == 2
    assert j["result"] == {"state": "eligible", "reason": ELIGIBLE}
    b_id = re.search(r"worker=(\S+) event=worker_start", b.log()).group(1)
    assert j["locked_by"] == b_id
    assert worker_audit(database, tracking) == [
        ("worker", "application.state", "screening version 1", "submitted->screening"),
        ("worker", "application.state", ELIGIBLE, "screening->eligible"),
    ]
    assert f"event=job_lease_expired id={j['id']} " in b.log()
    assert genctl(database, "audit", "verify").stdout.startswith("ok entries=")


def test_sigterm_finishes_the_current_job_then_exits_0(database, setup, workers):
    app, tracking, v = submit(database, setup, example())
    lock = hold_application_lock(database, app)
    try:
        w = workers()
        wait_for(lambda: worker_waiting_on_lock(database) == 1, what="worker blocked mid-job")
        os.killpg(w.p.pid, signal.SIGTERM)
        time.sleep(0.5)
        assert w.p.poll() is None, "worker left its job unfinished"
    finally:
        lock.commit()
        lock.close()
    assert w.p.wait(15) == 0
    j = screen_job(database, app, v)
    assert j["state"] == "done" and j["attempts"] == 1
    assert app_state(database, app) == ("eligible", ELIGIBLE)
    assert "event=worker_stop" in w.log()


# ---- wake-up, several workers, reconnection ----

def test_notify_wakes_the_worker_well_before_the_poll_interval(database, setup, workers):
    workers("--poll-ms", "10000")
    time.sleep(0.5)  # idle, in its 10 s wait
    for _ in range(3):
        t0 = time.time()
        app, _, v = submit(database, setup, example())
        wait_for(lambda: screen_job(database, app, v)["state"] == "done", timeout=10,
                 interval=0.01, what="screening")
        latency = time.time() - t0
        assert latency < 1.0, latency
        time.sleep(0.3)


def test_several_workers_share_the_queue_each_job_once(database, setup, workers):
    sup = workers("--concurrency", "3")
    workers()
    workers()
    conn = psycopg2.connect(database)
    body = example()
    apps = []
    with conn.cursor() as cur:
        for _ in range(30):
            cur.execute("SELECT tracking, version FROM gen_submit(%s, %s, NULL, %s, 'Org', '32', "
                        "'P', 'development', 13500000, %s, %s, NULL)",
                        (setup["user"], setup["call"], SIRET, body,
                         hashlib.sha256(body).hexdigest()))
            apps.append(cur.fetchone())
    conn.commit()
    conn.close()
    trackings = [t for t, _ in apps]
    wait_for(lambda: sql(database, "SELECT count(*) FROM applications WHERE tracking = ANY(%s) "
                                   "AND state = 'eligible'", (trackings,))[0][0] == 30,
             timeout=30, what="30 screenings")
    counts = sql(database, "SELECT subject, count(*) FROM audit_log WHERE actor = 'worker' "
                           "AND subject = ANY(%s) GROUP BY subject", (trackings,))
    assert sorted(c for _, c in counts) == [2] * 30
    rows = sql(database, "SELECT j.attempts, j.locked_by FROM jobs j JOIN applications a "
                         "ON a.id::text = j.payload->>'application' "
                         "WHERE j.kind = 'screen' AND a.tracking = ANY(%s)", (trackings,))
    assert [r[0] for r in rows] == [1] * 30
    assert len({r[1] for r in rows}) >= 2
    assert sup.stop() == 0
    log = sup.log()
    assert log.count("event=worker_stop") == 3 and "event=supervisor_stop" in log


def test_lost_connection_is_reestablished_and_listen_renewed(database, setup, workers):
    w = workers("--poll-ms", "10000")
    time.sleep(0.3)
    sql(database, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE datname = current_database() AND application_name = 'gen-worker'")
    wait_for(lambda: w.log().count("event=db_connected") >= 2, what="reconnection")
    assert "event=db_lost" in w.log() or "event=db_error" in w.log()
    time.sleep(0.3)
    t0 = time.time()
    app, _, v = submit(database, setup, example())
    wait_for(lambda: screen_job(database, app, v)["state"] == "done", timeout=10, interval=0.01,
             what="screening after reconnection")
    assert time.time() - t0 < 1.0


def test_bad_settings_stop_the_worker_at_start(database, tmp_path):
    bin_ = os.path.join(BIN, "gen-worker")
    r = subprocess.run([bin_, "--no-such-setting", "1"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 2 and "--no-such-setting" in r.stderr
    r = subprocess.run([bin_, "--lease-seconds", "0"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 2 and "lease-seconds" in r.stderr
    r = subprocess.run([bin_, "--forms-dir", str(tmp_path / "none"),
                        "--database-url", database], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "gen-worker:" in r.stderr


def children(pid):
    r = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()]


def test_supervisor_restarts_a_dead_child_and_takes_children_down_with_it(database, setup,
                                                                          workers):
    sup = workers("--concurrency", "2")
    wait_for(lambda: len(children(sup.p.pid)) == 2, what="two children")
    victim = children(sup.p.pid)[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: f"event=child_exit pid={victim} " in sup.log(), what="child exit seen")
    wait_for(lambda: len(children(sup.p.pid)) == 2 and victim not in children(sup.p.pid),
             what="child restarted")
    app, _, v = submit(database, setup, example())
    assert wait_screened(database, app, v)["state"] == "done"

    kids = children(sup.p.pid)
    os.kill(sup.p.pid, signal.SIGKILL)      # the supervisor alone
    sup.p.wait(10)

    wait_for(lambda: not any(alive(k) for k in kids), what="children stopped after their supervisor died")
    assert sup.log().count("event=worker_stop") == 2
