"""Faults under load, Jepsen-style: while submissions keep coming, kill -9 a
server process, kill -9 the worker in the middle of jobs, stop PostgreSQL
immediately then start it again, and pause it (SIGSTOP: it neither answers
nor closes anything) then resume it. Every request's outcome is
recorded; afterwards every acknowledged submission exists exactly once,
byte for byte, with a receipt that verifies, and every screening job ran
exactly once."""
import concurrent.futures
import hashlib
import os
import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import ROOT, Server, Worker, sql, wait_for
from gen import SIRET_A, account, application, call_doc, parse_receipt, verify_receipt, xml_headers

PGDIR = os.environ.get("GEN_TEST_PGDIR")
PGPORT = os.environ.get("GEN_TEST_PORT")


def cluster_pids():
    """The postmaster first, then its children (none can start while it is stopped)."""
    with open(os.path.join(PGDIR, "data", "postmaster.pid")) as f:
        master = int(f.readline())
    kids = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    return [master] + [int(k) for k in kids]


@pytest.mark.skipif(not PGDIR, reason="needs the throw-away cluster of tests/run-all.sh")
def test_nothing_acknowledged_is_lost(database, tmpdir_module):
    staff = account(database, "staff@gen.test", "staff")
    prov = account(database, "a@orga.test", "provider", SIRET_A)
    server = Server(database, tmpdir_module, extra=("--workers", "2", "--db-timeout-ms", "2000",
                                                    "--db-statement-timeout-ms", "1000"))
    worker = Worker(database, tmpdir_module, extra=("--lease-seconds", "2"))
    outcomes = []          # (key, status, body bytes sent, response bytes)
    lock = threading.Lock()
    stop = threading.Event()
    try:
        assert requests.post(server.url + "/api/v1/calls", data=call_doc("AAP-FAULT"),
                             headers=xml_headers(staff)).status_code == 201

        def client(n):
            i = 0
            while not stop.is_set():
                key = f"c{n}-{i}"
                body = application("AAP-FAULT", title=f"Dossier {key}")
                try:
                    r = requests.post(server.url + "/api/v1/calls/AAP-FAULT/applications", data=body,
                                      headers=xml_headers(prov, **{"Idempotency-Key": key}), timeout=10)
                    res = (key, r.status_code, body, r.content)
                except requests.RequestException as e:
                    res = (key, None, body, str(e).encode())
                with lock:
                    outcomes.append(res)
                if res[1] != 201:
                    time.sleep(0.2)  # a client backs off while the service is away
                i += 1

        with concurrent.futures.ThreadPoolExecutor(6) as ex:
            futures = [ex.submit(client, n) for n in range(6)]
            time.sleep(2)
            # (a) kill -9 one server process
            kids = subprocess.run(["pgrep", "-P", str(server.p.pid)], capture_output=True, text=True).stdout.split()
            os.kill(int(kids[0]), signal.SIGKILL)
            time.sleep(2)
            # (b) kill -9 the worker in the middle of its jobs, start another
            os.killpg(worker.p.pid, signal.SIGKILL)
            worker.p.wait()
            time.sleep(1)
            worker = Worker(database, tmpdir_module, extra=("--lease-seconds", "2"))
            time.sleep(2)
            # (c) PostgreSQL stopped immediately, then started again
            subprocess.run([os.path.join(ROOT, "deploy", "pg.sh"), "kill", PGDIR], check=True)
            time.sleep(1.5)
            down = requests.get(server.url + "/healthz", timeout=10).status_code
            subprocess.run([os.path.join(ROOT, "deploy", "pg.sh"), "start", PGDIR, PGPORT], check=True)
            wait_for(lambda: requests.get(server.url + "/healthz", timeout=5).status_code == 200, timeout=30,
                     what="recovery")
            time.sleep(2)
            # (d) PostgreSQL paused: connections stay open and silent, so only
            # the server's own deadlines (statement timeout + 2 s for what is
            # in flight, the queue wait for the rest) can answer the clients
            paused = cluster_pids()
            try:
                for pid in paused:
                    os.kill(pid, signal.SIGSTOP)
                time.sleep(1)
                t0 = time.monotonic()
                paused_health = requests.get(server.url + "/healthz", timeout=10).status_code
                paused_wait = time.monotonic() - t0
                time.sleep(3)
            finally:
                for pid in paused:
                    os.kill(pid, signal.SIGCONT)
            wait_for(lambda: requests.get(server.url + "/healthz", timeout=5).status_code == 200, timeout=30,
                     what="recovery after the pause")
            time.sleep(2)
            stop.set()
            for f in futures:
                f.result()
        assert down == 503
        assert paused_health == 503 and paused_wait < 5, (paused_health, paused_wait)
        acked = [o for o in outcomes if o[1] in (200, 201)]
        refused = [o for o in outcomes if o[1] == 503]
        other = [o for o in outcomes if o[1] not in (200, 201, 503)]
        assert len(acked) > 50, len(acked)
        assert not [o for o in other if o[1] is not None], [(o[0], o[1], o[3][:200]) for o in other][:5]
        # every acknowledged submission exists exactly once, byte for byte, with its receipt
        pem_ok = 0
        for key, status, body, resp in acked:
            rec = parse_receipt(resp)
            rows = sql(database, "SELECT a.tracking, v.version, v.sha256, v.body FROM application_versions v "
                                 "JOIN applications a ON a.id = v.application_id WHERE v.sha256 = %s",
                       (hashlib.sha256(body).hexdigest(),))
            assert len(rows) == 1, (key, len(rows))
            assert rows[0][0] == rec["tracking"] and bytes(rows[0][3]) == body
            if pem_ok < 10:  # verify a sample with openssl
                assert verify_receipt(server.url, rec, body)
                pem_ok += 1
        # requests whose outcome the client did not learn: retried with the same key, exactly once
        for key, status, body, resp in [o for o in outcomes if o[1] in (None, 503)]:
            r = requests.post(server.url + "/api/v1/calls/AAP-FAULT/applications", data=body,
                              headers=xml_headers(prov, **{"Idempotency-Key": key}), timeout=10)
            assert r.status_code in (200, 201), r.text
            n = sql(database, "SELECT count(*) FROM application_versions WHERE sha256 = %s",
                    (hashlib.sha256(body).hexdigest(),))[0][0]
            assert n == 1, key
        # every screening job ran exactly once: one done job per version, one screening trail
        wait_for(lambda: sql(database, "SELECT count(*) FROM jobs WHERE kind='screen' AND state <> 'done'")[0][0] == 0,
                 timeout=60, what="all screening jobs done")
        assert sql(database, "SELECT count(*) FROM application_versions")[0][0] == \
            sql(database, "SELECT count(*) FROM jobs WHERE kind='screen'")[0][0]
        twice = sql(database, "SELECT subject FROM audit_log WHERE action='application.state' "
                              "AND detail='submitted->screening' GROUP BY subject HAVING count(*) > 1")
        assert twice == []
        assert sql(database, "SELECT count(*) FROM applications WHERE state NOT IN ('eligible', 'ineligible')")[0][0] == 0
        assert requests.get(server.url + "/api/v1/audit/verify",
                            headers={"Authorization": "Bearer " + staff}).json()["ok"] is True
        print(f"faults: {len(outcomes)} requests, {len(acked)} acknowledged, {len(refused)} answered 503, "
              f"{len([o for o in outcomes if o[1] is None])} without answer; all acknowledged present once; "
              f"paused database: /healthz 503 after {paused_wait:.1f} s")
    finally:
        stop.set()
        worker.stop()
        server.stop()
