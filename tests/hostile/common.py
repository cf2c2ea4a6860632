"""Helpers of the hostile-input suite: bounds of every wait, the trap
listener, the check that a refused input stored nothing, raw HTTP exchanges
over sockets, and the server's processes and memory as /proc shows them."""
import collections
import contextlib
import os
import re
import socket
import subprocess
import threading
import time

import requests

from conftest import SLOW, sql

MAX_BODY = 2 * 1024 * 1024          # DESIGN §3 default body limit (413 beyond)
HTTP_TIMEOUT = 30 * SLOW            # bound of every requests call
RAW_TIMEOUT = 3.0 * SLOW            # bound of every raw-socket exchange
QUICK = 5.0 * SLOW                  # a hostile document must be refused within this
PASSWD = (b"root:x:0:0", b"/usr/sbin/nologin", b"daemon:x:")
PASSWORD = "correct horse battery"  # gen.account's default


class Trap:
    """A TCP listener on 127.0.0.1 that counts the connections it receives:
    URLs in hostile documents point here, so any fetch is seen."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.hits += 1
            c.close()

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        self.stopped = True
        self.thread.join(2)
        self.sock.close()


STORED = ("application_versions", "applications", "calls", "idempotency_keys", "sessions")
# Tests whose input may legitimately be accepted and stored (a document that
# is valid once the hostile part is ignored, or a submission whose storing
# exactly once is the point); every other test must leave the stored tables
# as they were (conftest.still_serving).
MAY_STORE = {"test_xsi_schema_location_ignored", "test_xml_stylesheet_pi_not_applied", "test_xinclude_not_expanded",
             "test_percent_minus_zero_is_zero", "test_valid_body_of_exactly_max_is_accepted",
             "test_same_key_concurrently_stored_once", "test_same_key_different_bodies_concurrently",
             "test_same_key_two_users_concurrently", "test_answer_lost_then_resubmitted",
             "test_server_still_serves_and_memory_is_back"}
explicit = {"checked": False}       # set when a test used nothing_stored itself


def counts(env):
    return {t: sql(env["db"], f"SELECT count(*) FROM {t}")[0][0] for t in STORED}


@contextlib.contextmanager
def nothing_stored(env):
    """Around a rejected input: no row added to any stored table."""
    explicit["checked"] = True
    before = counts(env)
    yield
    after = counts(env)
    assert after == before, f"rows stored by a rejected input: {before} -> {after}"


def submit(env, body, token=None, ct="application/xml", call="AAP-TEST", **headers):
    h = {"Authorization": f"Bearer {env['prov'] if token is None else token}"}
    if ct is not None:
        h["Content-Type"] = ct
    h.update(headers)
    return requests.post(f"{env['url']}/api/v1/calls/{call}/applications", data=body, headers=h,
                         timeout=HTTP_TIMEOUT)


def no_leak(r):
    blob = r.content + repr(r.headers).encode()
    for marker in PASSWD:
        assert marker not in blob, f"file content {marker!r} in the response"


# ---------------------------------------------------------------------------
# raw HTTP
# ---------------------------------------------------------------------------

Resp = collections.namedtuple("Resp", "version status headers body")
Raw = collections.namedtuple("Raw", "responses closed elapsed data")


def parse_responses(buf, closed):
    """Complete responses in buf (body framed by Content-Length, or by the
    close when there is none)."""
    out, pos = [], 0
    while True:
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        lines = buf[pos:end].decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/(\S+) (\d{3})", lines[0])
        if not m:
            break
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        start = end + 4
        status = int(m.group(2))
        if 100 <= status < 200:
            out.append(Resp(m.group(1), status, headers, b""))
            pos = start
            continue
        if "content-length" in headers:
            n = int(headers["content-length"])
            if len(buf) < start + n:
                break
            out.append(Resp(m.group(1), status, headers, buf[start:start + n]))
            pos = start + n
            continue
        out.append(Resp(m.group(1), status, headers, buf[start:]))
        break
    return out


def exchange(env, data, want=1, timeout=RAW_TIMEOUT, half_close=False):
    """Send bytes on a fresh connection; read until `want` final responses
    are complete, the server closes, or `timeout` passes."""
    s = socket.create_connection(("127.0.0.1", env["port"]), timeout=timeout)
    t0 = time.monotonic()
    buf, closed = b"", False
    try:
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may stop reading (and close) before we are done
        deadline = t0 + timeout
        while True:
            if want and len([r for r in parse_responses(buf, closed) if r.status >= 200]) >= want:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            buf += chunk
    finally:
        s.close()
    return Raw(parse_responses(buf, closed), closed, time.monotonic() - t0, buf)


def refused(res, allowed, what=""):
    """The request is refused: no 2xx or 5xx at all; the first final answer
    has a status in `allowed`, or there is none and the server closed the
    connection (a close is a refusal). Still waiting at the timeout with the
    connection open is a failure: the server holds a connection it should
    have refused."""
    for r in res.responses:
        assert not (200 <= r.status < 300), f"{what}: accepted ({r.status}) {res.data[:300]!r}"
        assert r.status < 500 or r.status in allowed, f"{what}: server error {r.status}"
    finals = [r for r in res.responses if r.status >= 200]
    if finals:
        # the login handler's own 400 means the framing was accepted and the
        # body misread: not the refusal we look for
        assert b"Malformed form" not in finals[0].body, f"{what}: framing accepted, body misread"
        assert finals[0].status in allowed, f"{what}: {finals[0].status} not in {allowed}: {res.data[:300]!r}"
    else:
        assert res.closed, f"{what}: no answer after {res.elapsed:.1f}s and the connection is still open"
    return finals[0] if finals else None


def login_form():
    return b"email=staff%40gen.test&password=" + PASSWORD.replace(" ", "+").encode()


def login_request(extra_headers, body):
    return (b"POST /api/v1/session HTTP/1.1\r\nHost: gen.test\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n" + extra_headers + b"\r\n" + body)


# ---------------------------------------------------------------------------
# the server's processes
# ---------------------------------------------------------------------------

def server_pids(server):
    """The gen-server process and the children it forked (--workers)."""
    kids = subprocess.run(["pgrep", "-P", str(server.p.pid)], capture_output=True, text=True).stdout.split()
    return [server.p.pid] + sorted(int(k) for k in kids)


def rss_kb(pids):
    """Resident memory of the processes, summed (VmRSS, kB)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return total


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))
