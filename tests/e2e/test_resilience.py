"""The server under stress of its surroundings: a database restart while it
runs, a graceful shutdown with requests in flight, several processes on one
port with one of them killed, and its connection limits."""
import concurrent.futures
import os
import signal
import socket
import subprocess
import threading
import time

import psycopg2
import pytest
import requests

from conftest import BIN, ROOT, Server, alive, sql, wait_for
from gen import SIRET_A, account, application, call_doc, parse_receipt, problem, xml_headers

PGDIR = os.environ.get("GEN_TEST_PGDIR")
PGPORT = os.environ.get("GEN_TEST_PORT")


@pytest.fixture(scope="module")
def env(database, tmpdir_module):
    staff = account(database, "staff@gen.test", "staff")
    prov = account(database, "alice@numerique-solidaire.test", "provider", SIRET_A)
    return {"db": database, "tmp": tmpdir_module, "staff": staff, "prov": prov}


def open_call(env, server, ref):
    r = requests.post(server.url + "/api/v1/calls", data=call_doc(ref), headers=xml_headers(env["staff"]))
    assert r.status_code in (201, 409), r.text


def submit(env, server, ref, title="Résilience", timeout=30):
    return requests.post(f"{server.url}/api/v1/calls/{ref}/applications",
                         data=application(ref, title=title), headers=xml_headers(env["prov"]), timeout=timeout)


@pytest.mark.skipif(not PGDIR, reason="needs the throw-away cluster of tests/run-all.sh")
def test_database_restart_while_serving(env):
    server = Server(env["db"], env["tmp"])
    try:
        open_call(env, server, "AAP-RESTART")
        assert submit(env, server, "AAP-RESTART").status_code == 201
        subprocess.run([os.path.join(ROOT, "deploy", "pg.sh"), "kill", PGDIR], check=True)
        # While the database is away: 503 with a problem document, quickly.
        t0 = time.time()
        r = requests.get(server.url + "/healthz", timeout=10)
        assert r.status_code == 503
        r = submit(env, server, "AAP-RESTART", timeout=10)
        p = problem(r, 503)
        assert r.headers.get("Retry-After")
        assert time.time() - t0 < 8
        subprocess.run([os.path.join(ROOT, "deploy", "pg.sh"), "start", PGDIR, PGPORT], check=True)
        # It comes back by itself, statements prepared again.
        wait_for(lambda: requests.get(server.url + "/healthz", timeout=5).status_code == 200,
                 timeout=20, what="healthz after restart")
        r = submit(env, server, "AAP-RESTART", title="Après redémarrage")
        assert r.status_code == 201, r.text
        t = parse_receipt(r.content)["tracking"]
        assert requests.get(f"{server.url}/api/v1/applications/{t}",
                            headers={"Authorization": "Bearer " + env["prov"]}).status_code == 200
        m = requests.get(server.url + "/metrics").text
        assert "gen_db_reconnects_total" in m
        assert server.p.poll() is None
    finally:
        server.stop()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_graceful_shutdown_finishes_in_flight(env, workers):
    server = Server(env["db"], env["tmp"], extra=("--workers", workers))
    open_call(env, server, "AAP-DRAIN-" + workers)
    # Hold the audit chain's lock so a submission waits inside PostgreSQL.
    blocker = psycopg2.connect(env["db"])
    blocker.autocommit = False
    cur = blocker.cursor()
    cur.execute("SELECT pg_advisory_xact_lock(7300001)")
    before = sql(env["db"], "SELECT count(*) FROM application_versions")[0][0]
    result = {}

    def go():
        result["r"] = submit(env, server, "AAP-DRAIN-" + workers, title="En vol")

    th = threading.Thread(target=go)
    th.start()
    wait_for(lambda: sql(env["db"], "SELECT count(*) FROM pg_locks WHERE locktype='advisory' AND NOT granted")[0][0] > 0,
             what="submission waiting on the lock")
    server.p.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    # Draining: a new connection is refused at once (safe to retry), not
    # queued where no process accepts any more, then reset.
    t0 = time.monotonic()
    with pytest.raises(requests.ConnectionError) as refused:
        requests.get(server.url + "/healthz", timeout=2)
    assert time.monotonic() - t0 < 1 and not isinstance(refused.value, requests.Timeout), refused.value
    blocker.rollback()
    blocker.close()
    th.join(15)
    r = result["r"]
    assert r.status_code == 201, r.text
    assert server.p.wait(15) == 0
    after = sql(env["db"], "SELECT count(*) FROM application_versions")[0][0]
    assert after == before + 1
    server.stop()


def test_several_processes_and_a_killed_one(env):
    server = Server(env["db"], env["tmp"], extra=("--workers", "3"))
    try:
        open_call(env, server, "AAP-MULTI")
        with concurrent.futures.ThreadPoolExecutor(12) as ex:
            rs = list(ex.map(lambda i: submit(env, server, "AAP-MULTI", title=f"Dossier {i}"), range(60)))
        assert [r.status_code for r in rs] == [201] * 60
        trackings = {parse_receipt(r.content)["tracking"] for r in rs}
        assert len(trackings) == 60
        kids = subprocess.run(["pgrep", "-P", str(server.p.pid)], capture_output=True, text=True).stdout.split()
        assert len(kids) == 3
        os.kill(int(kids[0]), signal.SIGKILL)
        wait_for(lambda: len(subprocess.run(["pgrep", "-P", str(server.p.pid)], capture_output=True,
                                            text=True).stdout.split()) == 3, what="replacement process")
        ok = 0
        for i in range(30):
            try:
                ok += requests.get(server.url + "/healthz", timeout=5).status_code == 200
            except requests.RequestException:
                pass
        assert ok >= 29
    finally:
        server.stop()
    assert server.p.returncode == 0


def test_children_follow_a_killed_supervisor(env):
    """kill -9 of the supervising process: its children are told (SIGTERM
    from the kernel), finish what they serve and exit, so none keeps the
    port and a new server starts on it at once."""
    server = Server(env["db"], env["tmp"], extra=("--workers", "2"))
    try:
        open_call(env, server, "AAP-ORPHAN")
        kids = subprocess.run(["pgrep", "-P", str(server.p.pid)], capture_output=True, text=True).stdout.split()
        assert len(kids) == 2
        server.p.send_signal(signal.SIGKILL)
        server.p.wait()
        wait_for(lambda: not any(alive(int(k)) for k in kids), timeout=20, what="children to exit")
        assert server.log().count("event=stopped") == 2, server.log()[-2000:]
    finally:
        server.stop()
    again = Server(env["db"], env["tmp"], port=server.port)
    try:
        r = submit(env, again, "AAP-ORPHAN")
        assert r.status_code == 201, r.text
    finally:
        again.stop()


@pytest.mark.skipif(not os.environ.get("GEN_TEST_PGDIR"), reason="needs the throw-away cluster of tests/run-all.sh")
def test_database_restart_while_out_of_descriptors(env):
    """Idle clients take every connection the process may hold; PostgreSQL
    restarts meanwhile. The pool reconnects at once on the descriptors kept
    back for it: a keep-alive client is served again as soon as the database
    is, not when the idle clients leave (it was 503 until then)."""
    pgdir, pgport = os.environ["GEN_TEST_PGDIR"], os.environ["GEN_TEST_PORT"]
    server = Server(env["db"], env["tmp"], wrap=("prlimit", "--nofile=160:160", "--"),
                    extra=("--db-connections", "2", "--idle-timeout", "120"))
    keep = requests.Session()
    idle = []
    try:
        assert keep.get(server.url + "/healthz", timeout=5).status_code == 200
        for _ in range(200):  # past the capacity (160 - 68): the rest wait in the backlog
            try:
                idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=0.5))
            except OSError:
                break
        assert len(idle) > 100
        subprocess.run([os.path.join(ROOT, "deploy", "pg.sh"), "kill", pgdir], check=True)
        subprocess.run([os.path.join(ROOT, "deploy", "pg.sh"), "start", pgdir, pgport], check=True)
        wait_for(lambda: keep.get(server.url + "/healthz", timeout=5).status_code == 200, timeout=10,
                 what="the pool to reconnect while idle clients hold their connections")
        assert "Too many open files" not in server.log()
    finally:
        subprocess.run([os.path.join(ROOT, "deploy", "pg.sh"), "start", pgdir, pgport], check=True)
        for s in idle:
            s.close()
        keep.close()
        server.stop()


def test_idle_connection_closed(env):
    server = Server(env["db"], env["tmp"], extra=("--idle-timeout", "1"))
    try:
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = s.recv(4096)
        assert first.startswith(b"HTTP/1.1 200")
        time.sleep(2.5)
        s.settimeout(3)
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        assert data == b""  # closed by the server
        s.close()
    finally:
        server.stop()


def test_body_limit_is_configurable_and_413(env):
    server = Server(env["db"], env["tmp"], extra=("--max-body", "4096"))
    try:
        open_call(env, server, "AAP-LIMIT")
        r = submit(env, server, "AAP-LIMIT")
        assert r.status_code == 413
        assert server.p.poll() is None
        assert requests.get(server.url + "/healthz").status_code == 200
    finally:
        server.stop()


def test_bad_configuration_fails_fast(env):
    r = subprocess.run([os.path.join(BIN, "gen-server"), "--port", "0"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 2 and "port" in r.stderr and "1 to 65535" in r.stderr
    r = subprocess.run([os.path.join(BIN, "gen-server"), "--no-such-thing", "1"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2 and "unknown option" in r.stderr
    r = subprocess.run([os.path.join(BIN, "gen-server"), "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "--max-body" in r.stdout and "--workers" in r.stdout
