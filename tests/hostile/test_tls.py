"""TLS on gen-server (issue 5 item 1; research/security.md §6 items 21 and
29): the real binary with tls-cert/tls-key, real PostgreSQL, clients from
Python's ssl module and the openssl command line.

Checked: TLS 1.2 and 1.3 with forward-secret AEAD suites only, nothing
older; no renegotiation; plain HTTP sent to the TLS port answered with a
problem document in clear; connections that never send a ClientHello
closed at the handshake deadline; a TCP reset with no close_notify; the
whole workflow over TLS (login cookie, XML submission, receipt); and that a
reply is never cut when the connection closes after it, even to a slow
reader (the property the framing filter exists for).
"""
import hashlib
import json
import os
import resource
import socket
import ssl
import struct
import subprocess
import time

import pytest
import requests

from conftest import BIN, ROOT, RSS_MEANINGFUL, Server, self_signed_cert, sql
from gen import SIRET_A, account, application, call_doc, parse_receipt, xml_headers

from .common import parse_responses, rss_kb

DEADLINE = 2  # request-timeout of the server under test: also the handshake deadline


@pytest.fixture(scope="module")
def tls_server(database, tmpdir_module):
    with Server(database, tmpdir_module, tls=True, extra=("--request-timeout", str(DEADLINE))) as s:
        yield s


@pytest.fixture(autouse=True)
def still_serving(request):
    yield
    if "tls_server" in request.fixturenames:
        s = request.getfixturevalue("tls_server")
        assert s.p.poll() is None, "gen-server died:\n" + s.log()
        r = requests.get(s.url + "/healthz", verify=s.cert, timeout=5)
        assert r.status_code == 200 and r.text.strip() == "ok"


def client_ctx(server, minimum=None, maximum=None, ciphers=None):
    ctx = ssl.create_default_context(cafile=server.cert)
    if minimum or maximum or ciphers:
        ctx.set_ciphers((ciphers or "DEFAULT") + ":@SECLEVEL=0")
        ctx.minimum_version = minimum or ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = maximum or ssl.TLSVersion.MAXIMUM_SUPPORTED
    return ctx


def handshake(server, ctx):
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        t = ctx.wrap_socket(raw, server_hostname="localhost")
        return t.version(), t.cipher()[0], t.selected_alpn_protocol()
    finally:
        raw.close()


def http_over(sock, request, timeout=5):
    """Send request on sock (plain or TLS); the final responses read until
    the first is complete or the peer closes (common.parse_responses)."""
    sock.settimeout(timeout)
    sock.sendall(request)
    data, closed = b"", False
    while not any(r.status >= 200 for r in parse_responses(data, closed)):
        try:
            d = sock.recv(65536)
        except (socket.timeout, ssl.SSLError, ConnectionResetError):
            break
        closed = not d
        if closed:
            break
        data += d
    return [r for r in parse_responses(data, closed) if r.status >= 200]


def closed_within(sock, seconds):
    """Seconds until the peer closed the connection, or None."""
    sock.settimeout(seconds)
    t = time.time()
    try:
        while sock.recv(4096):
            pass
    except socket.timeout:
        return None
    except OSError:
        pass
    return time.time() - t


# ---------------------------------------------------------------------------
# protocol versions, suites, renegotiation
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_modern_versions_negotiate_aead_suites(tls_server, version):
    v, cipher, alpn = handshake(tls_server, client_ctx(tls_server, version, version))
    assert v == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
    assert "GCM" in cipher or "CHACHA20" in cipher, cipher
    if version == ssl.TLSVersion.TLSv1_2:
        assert cipher.startswith("ECDHE-"), cipher  # forward secrecy


def test_alpn_is_http11_only(tls_server):
    ctx = client_ctx(tls_server)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    assert handshake(tls_server, ctx)[2] == "http/1.1"


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_old_versions_refused(tls_server, version):
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        handshake(tls_server, client_ctx(tls_server, version, version))


@pytest.mark.parametrize("suite", ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384",
                                   "AES128-GCM-SHA256", "ECDHE-ECDSA-NULL-SHA"])
def test_weak_tls12_suites_refused(tls_server, suite):
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        handshake(tls_server, client_ctx(tls_server, ssl.TLSVersion.TLSv1_2,
                                         ssl.TLSVersion.TLSv1_2, suite))


def test_renegotiation_refused(tls_server):
    """§6 item 29: the openssl client asks to renegotiate ("R"); the server
    refuses and the connection does not go through a second handshake."""
    p = subprocess.run(
        ["bash", "-c", f"(sleep 1; printf 'R\\n'; sleep 2) | timeout 10 openssl s_client "
                       f"-connect 127.0.0.1:{tls_server.port} -tls1_2 -CAfile {tls_server.cert}"],
        capture_output=True, text=True, timeout=30)
    out = p.stdout + p.stderr
    assert "RENEGOTIATING" in out, out
    assert "no renegotiation" in out, out


# ---------------------------------------------------------------------------
# hostile connections (§6 items 21, 29)
# ---------------------------------------------------------------------------

def test_plain_http_on_tls_port_gets_clear_problem(tls_server):
    s = socket.create_connection(("127.0.0.1", tls_server.port), timeout=5)
    answers = http_over(s, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    closed = closed_within(s, 5)
    s.close()
    assert len(answers) == 1, answers
    r = answers[0]
    assert r.status == 400 and r.headers["content-type"].startswith("application/problem+json"), r
    assert r.headers["connection"] == "close" and closed is not None
    p = json.loads(r.body)
    assert p["status"] == 400 and "https" in p["detail"], p


@pytest.mark.parametrize("junk", [b"\x00" * 64, b"\x16\x03\x01\x00\x05hello", os.urandom(4096),
                                  b"\x16\x03\x03\xff\xff" + b"A" * 100],
                         ids=["nul", "short-record", "random", "oversized-record"])
def test_garbage_instead_of_client_hello(tls_server, junk):
    s = socket.create_connection(("127.0.0.1", tls_server.port), timeout=5)
    s.sendall(junk)
    assert closed_within(s, DEADLINE + 3) is not None
    s.close()


def test_no_client_hello_closed_at_deadline(tls_server):
    """§6 item 21, TLS half: a connection that never sends its ClientHello
    is closed at the handshake deadline (request-timeout)."""
    s = socket.create_connection(("127.0.0.1", tls_server.port), timeout=5)
    t = closed_within(s, DEADLINE + 5)
    s.close()
    assert t is not None and DEADLINE - 0.5 <= t <= DEADLINE + 3, t


def test_partial_client_hello_closed_at_deadline(tls_server):
    s = socket.create_connection(("127.0.0.1", tls_server.port), timeout=5)
    s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello's first bytes
    t = closed_within(s, DEADLINE + 5)
    s.close()
    assert t is not None and t <= DEADLINE + 3, t


def hold_silent_connections(server, n):
    """Open n connections that never send a byte, check a real client is
    served meanwhile, and that the handshake deadline closes all of them."""
    socks = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(n)]
    r = requests.get(server.url + "/healthz", verify=server.cert, timeout=5)
    assert r.status_code == 200
    time.sleep(DEADLINE + 2)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            closed += s.recv(1) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    assert closed == n, f"{n - closed} of {n} silent connections still open after the deadline"


def settled_rss(server, target_kb, seconds=15):
    """RSS once it is at most target_kb, or the last reading after `seconds`
    (the server gives freed memory back every 2 s once connections close)."""
    deadline = time.time() + seconds
    while True:
        rss = rss_kb([server.p.pid])
        if rss <= target_kb or time.time() > deadline:
            return rss
        time.sleep(0.5)


def test_many_silent_connections_leave_no_memory_behind(tls_server):
    """§6 item 21 at this machine's scale: 2,000 connections that never
    send a ClientHello, twice, are held while a real client is served, and
    closed by the deadline; each time the server's memory comes back within
    10 % of where it was before the first."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    n = min(2000, hard - 200)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n + 200), hard))
    base = rss_kb([tls_server.p.pid])
    for _ in range(2):
        hold_silent_connections(tls_server, n)
        after = settled_rss(tls_server, base * 1.10)
        if RSS_MEANINGFUL:  # not under ASan's quarantine
            assert after <= base * 1.10, (base, after)


def test_reset_without_close_notify(tls_server):
    """§6 item 29: a TCP RST in the middle of a TLS request, and one right
    after a reply, with no close_notify."""
    ctx = client_ctx(tls_server)
    for payload in (b"POST /api/v1/applications HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
                    b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"):
        raw = socket.create_connection(("127.0.0.1", tls_server.port), timeout=5)
        t = ctx.wrap_socket(raw, server_hostname="localhost")
        t.sendall(payload)
        time.sleep(0.2)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        t.close()  # RST, no close_notify


def test_close_notify_ends_the_connection(tls_server):
    """A client's close_notify without its TCP FIN is an end of input like
    a half-close: the server closes then, not at the idle timeout."""
    ctx = client_ctx(tls_server)
    raw = socket.create_connection(("127.0.0.1", tls_server.port), timeout=5)
    t = ctx.wrap_socket(raw, server_hostname="localhost")
    try:
        assert [r.status for r in http_over(t, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")] == [200]
        t.settimeout(5)
        t0 = time.time()
        try:
            plain = t.unwrap()  # sends close_notify, then waits for the server's or its close
        except (ssl.SSLError, OSError) as e:
            assert not isinstance(e, socket.timeout), "still open 5 s after close_notify"
            plain = None
        assert time.time() - t0 < 3
        if plain is not None:
            assert closed_within(plain, 3) is not None
            plain.close()
    finally:
        t.close()


# ---------------------------------------------------------------------------
# the workflow over TLS
# ---------------------------------------------------------------------------

def test_submission_over_tls_with_receipt(tls_server, database):
    staff = account(database, "staff@tls.test", "staff")
    prov = account(database, "alice@tls.test", "provider", SIRET_A)
    sess = requests.Session()
    r = sess.post(tls_server.url + "/api/v1/calls", data=call_doc("AAP-TLS"),
                  headers=xml_headers(staff), timeout=10, verify=tls_server.cert)
    assert r.status_code == 201, r.text
    body = application("AAP-TLS")
    r = sess.post(tls_server.url + "/api/v1/calls/AAP-TLS/applications", data=body,
                  headers=xml_headers(prov, **{"Idempotency-Key": "tls-1"}), timeout=10,
                  verify=tls_server.cert)
    assert r.status_code == 201, r.text
    receipt = parse_receipt(r.content)
    assert receipt["sha256"] == hashlib.sha256(body).hexdigest()
    stored = sql(database, "SELECT count(*) FROM applications WHERE tracking = %s", (receipt["tracking"],))
    assert stored[0][0] == 1
    # the receipt key is served over TLS too
    pem = sess.get(tls_server.url + "/.well-known/gen-receipt-key.pem", timeout=5,
                   verify=tls_server.cert)
    assert pem.status_code == 200 and b"PUBLIC KEY" in pem.content


def test_cookie_login_over_tls(tls_server, database):
    account(database, "rita@tls.test", "reviewer", password="correct horse battery")
    r = requests.post(tls_server.url + "/api/v1/session",
                      data={"email": "rita@tls.test", "password": "correct horse battery"},
                      timeout=10, verify=tls_server.cert)
    assert r.status_code == 200, r.text
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie, cookie
    assert r.headers.get("Strict-Transport-Security", "").startswith("max-age="), r.headers


def test_chunked_upload_and_continue_over_tls(tls_server, database):
    prov = account(database, "carl@tls.test", "provider", SIRET_A)
    body = application("AAP-TLS", women="35")
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000])
                      for i in range(0, len(body), 1000)) + b"0\r\n\r\n"
    ctx = client_ctx(tls_server)
    raw = socket.create_connection(("127.0.0.1", tls_server.port), timeout=5)
    t = ctx.wrap_socket(raw, server_hostname="localhost")
    head = (f"POST /api/v1/calls/AAP-TLS/applications HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {prov}\r\n"
            "Content-Type: application/xml\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n").encode()
    t.sendall(head)
    t.settimeout(5)
    interim = t.recv(4096)
    assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim
    answers = http_over(t, chunks)
    t.close()
    assert [r.status for r in answers] == [201], answers
    assert parse_receipt(answers[0].body)["sha256"] == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize("close", [True, False])
def test_slow_reader_gets_every_byte(tls_server, close):
    """A reply larger than the client's receive window, read slowly: with
    Connection: close (the server shuts the socket down after the reply)
    and on keep-alive with three pipelined requests, every byte arrives."""
    path = "/forms/types.xsd"
    with open(os.path.join(ROOT, "forms", "types.xsd"), "rb") as f:
        want = f.read()
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    raw.connect(("127.0.0.1", tls_server.port))
    t = client_ctx(tls_server).wrap_socket(raw, server_hostname="localhost")
    req = f"GET {path} HTTP/1.1\r\nHost: localhost\r\n".encode()
    n = 1 if close else 3
    t.sendall(req + b"Connection: close\r\n\r\n" if close else (req + b"\r\n") * n)
    time.sleep(0.5)  # let the server fill the window and wait
    t.settimeout(10)
    data = b""
    while data.count(want) < n:
        d = t.recv(1500)
        if not d:
            break
        data += d
        time.sleep(0.002)
    t.close()
    assert data.count(want) == n, (len(data), data[-200:])


def test_server_refuses_to_start_with_bad_tls_settings(database, tmpdir_module):
    cert, key = self_signed_cert(tmpdir_module)
    other_cert, other_key = self_signed_cert(tmpdir_module, cn="other")
    cases = [
        (("--tls-cert", cert), "go together"),
        (("--tls-cert", cert, "--tls-key", other_key), "tls-key"),
        (("--tls-cert", "/nonexistent.pem", "--tls-key", key), "tls-cert"),
    ]
    for extra, message in cases:
        env = dict(os.environ, GEN_DATABASE_URL=database)
        p = subprocess.run([os.path.join(BIN, "gen-server"),
                            "--port", "1", *extra], env=env, capture_output=True, text=True, timeout=20)
        assert p.returncode != 0 and message in p.stderr, (extra, p.returncode, p.stderr)
