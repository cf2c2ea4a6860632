"""Fixtures for the black-box tests: a real PostgreSQL database per test
module (cloned from the migrated template that tests/run-all.sh prepares),
and the real binaries started against it."""
import contextlib
import os
import shlex
import signal
import socket
import subprocess
import time
import uuid

import psycopg2
import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BIN = os.environ.get("GEN_TEST_BIN", os.path.join(ROOT, "bin"))
# Connection string of the throw-away cluster, without dbname.
PG = os.environ.get("GEN_TEST_PG", "host=127.0.0.1 port=25433 user=postgres")
TEMPLATE = os.environ.get("GEN_TEST_TEMPLATE", "gen_template")
# Tests use a cheap PBKDF2 cost for speed; one test checks the default cost.
FAST_ITER = "1000"
# A command the binaries are run under (gen-server, gen-worker and genctl as
# the tests start them), e.g. valgrind by tests/valgrind.sh; empty: none.
WRAP = shlex.split(os.environ.get("GEN_TEST_WRAP", ""))
# The binaries are the ASan+UBSan build (make test SANITIZE=1): ASan keeps
# freed memory in quarantine, so resident-memory figures are meaningless.
SANITIZED = os.environ.get("GEN_TEST_SANITIZED") == "1"
# Resident memory measures hold only for the release build run directly.
RSS_MEANINGFUL = not WRAP and not SANITIZED
# Multiplies the time allowed for start-up, stops and bounded waits, for
# slow runs (valgrind runs programs 20-50 times slower).
SLOW = float(os.environ.get("GEN_TEST_SLOW", "1"))


def sql(conninfo, query, params=None):
    """Run one statement, return all rows (or [] when none)."""
    conn = psycopg2.connect(conninfo)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@contextlib.contextmanager
def fresh_database():
    """A fresh migrated database for the length of the block; yields its
    libpq connection string."""
    name = "t_" + uuid.uuid4().hex[:12]
    sql(PG + " dbname=postgres", f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    try:
        yield f"{PG} dbname={name}"
    finally:
        sql(PG + " dbname=postgres",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        sql(PG + " dbname=postgres", f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(scope="module")
def database():
    """A fresh migrated database; yields its libpq connection string."""
    with fresh_database() as db:
        yield db


def genctl(database, *args, stdin=None, check=True, extra_env=None):
    env = dict(os.environ, GEN_DATABASE_URL=database, GEN_PBKDF2_ITERATIONS=FAST_ITER,
               GEN_FORMS_DIR=os.path.join(ROOT, "forms"))
    env.update(extra_env or {})
    r = subprocess.run([*WRAP, os.path.join(BIN, "genctl"), *args], input=stdin, env=env,
                       capture_output=True, text=True, timeout=60 * SLOW)
    if check and r.returncode != 0:
        raise AssertionError(f"genctl {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r


class Proc:
    """A running binary with its log file."""

    def __init__(self, args, env, log):
        self.log_path = log
        self.logf = open(log, "wb")
        self.p = subprocess.Popen(args, env=env, stdout=self.logf, stderr=subprocess.STDOUT,
                                  cwd=ROOT, start_new_session=True)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.p.poll() is None:
            os.killpg(self.p.pid, sig)
            try:
                self.p.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.logf.close()
        return self.p.returncode


def self_signed_cert(directory, cn="localhost"):
    """A self-signed P-256 certificate for localhost and 127.0.0.1 (made
    once per directory and name); returns (cert path, key path)."""
    cert, key = os.path.join(directory, f"{cn}-cert.pem"), os.path.join(directory, f"{cn}-key.pem")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "2", "-subj", f"/CN={cn}",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


class Server(Proc):
    """gen-server on a free port. With tls=True it speaks HTTPS only, with a
    self-signed certificate (self.cert, to pass as requests' verify=)."""

    def __init__(self, database, tmpdir, extra=(), port=None, env_extra=None, tls=False, wrap=()):
        self.port = port or free_port()
        self.cert = None
        if tls:
            self.cert, self.tls_key = self_signed_cert(tmpdir)
            extra = ("--tls-cert", self.cert, "--tls-key", self.tls_key, *extra)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.verify = self.cert or True
        self.key = os.path.join(tmpdir, "receipt-key.pem")
        self.pkey = os.path.join(tmpdir, "pseudonym-key")
        env = dict(os.environ, GEN_DATABASE_URL=database, GEN_PBKDF2_ITERATIONS=FAST_ITER)
        env.update(env_extra or {})
        args = [*wrap, *WRAP, os.path.join(BIN, "gen-server"), "--port", str(self.port),
                "--forms-dir", os.path.join(ROOT, "forms"), "--receipt-key", self.key,
                "--pseudonym-key", self.pkey, *extra]
        super().__init__(args, env, os.path.join(tmpdir, f"server-{self.port}.log"))
        self.wait_ready()

    def wait_ready(self, timeout=20):
        deadline = time.time() + timeout * SLOW
        while time.time() < deadline:
            if self.p.poll() is not None:
                raise AssertionError("gen-server exited:\n" + self.log())
            try:
                if requests.get(self.url + "/healthz", timeout=SLOW, verify=self.verify).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError("gen-server not ready:\n" + self.log())


class Worker(Proc):
    def __init__(self, database, tmpdir, extra=()):
        env = dict(os.environ, GEN_DATABASE_URL=database)
        args = [*WRAP, os.path.join(BIN, "gen-worker"), "--forms-dir", os.path.join(ROOT, "forms"),
                "--poll-ms", "200", *extra]
        super().__init__(args, env, os.path.join(tmpdir, f"worker-{uuid.uuid4().hex[:6]}.log"))


def logs_dir(name):
    """A new directory for logs and keys, kept under var/test-logs for
    reading after a failure."""
    d = os.path.join(ROOT, "var", "test-logs", name + "-" + uuid.uuid4().hex[:6])
    os.makedirs(d, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def tmpdir_module(request):
    """Logs and keys of one test module (see logs_dir)."""
    yield logs_dir(request.module.__name__)


@pytest.fixture(scope="module")
def server(database, tmpdir_module):
    with Server(database, tmpdir_module) as s:
        yield s


@pytest.fixture(scope="module")
def worker(database, tmpdir_module):
    with Worker(database, tmpdir_module) as w:
        yield w


def alive(pid):
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(predicate, timeout=15, interval=0.05, what="condition"):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")
