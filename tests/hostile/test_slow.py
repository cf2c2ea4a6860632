"""Hostile inputs, research/security.md §6 item 20: slowloris. Headers
trickled byte by byte, then a body trickled just under the deadline and
past it.

The design (DESIGN §3 "10 s to receive a request", server/framing.h) is one
deadline per request, counted from its first byte and covering the request
line, the headers and the body: bytes arriving slowly but steadily do not
extend it. Past it the server answers 408 with a problem document and
closes the connection. A connection that sends nothing is bounded by the
idle timeout instead. To keep the suite short these cases run against a
second server of the suite's database with a 2 s deadline and a 4 s idle
timeout (evhttp sees a request only once the framing filter has all of
it, so its idle timeout also runs while one is received, and must be
longer than the deadline); the suite's own server must meanwhile go on
serving (conftest)."""
import select
import socket
import threading
import time
from collections import namedtuple

import pytest
import requests

from conftest import SLOW, Server
from gen import application

from .common import (HTTP_TIMEOUT, PASSWORD, exchange, login_form, login_request, nothing_stored,
                     parse_responses)

DEADLINE = 2 if SLOW == 1 else 4    # --request-timeout, seconds
IDLE = DEADLINE + 2                 # --idle-timeout, seconds
LATE = 1.5 * SLOW                   # how late after the deadline the 408 may come

Trickled = namedtuple("Trickled", "responses data answered_at closed_at sent")


@pytest.fixture(scope="module")
def slow(hostile_db, hostile_logs, env):
    with Server(hostile_db, hostile_logs, extra=("--request-timeout", str(DEADLINE), "--idle-timeout", str(IDLE))) as s:
        yield {"port": s.port, "url": s.url, "server": s, "prov": env["prov"]}


def trickle(port, pieces, gap, linger=None):
    """Send `pieces` on a fresh connection, `gap` seconds apart, reading
    whatever comes back meanwhile; stop sending once the server closes. Then
    read until the server closes or `linger` seconds pass. Times are seconds
    since the first byte was sent."""
    linger = DEADLINE + IDLE + LATE if linger is None else linger
    s = socket.create_connection(("127.0.0.1", port), timeout=HTTP_TIMEOUT)
    buf, answered_at, closed_at, sent = b"", None, None, 0
    t0 = time.monotonic()

    def read_until(end):
        nonlocal buf, answered_at, closed_at
        while closed_at is None and (left := end - time.monotonic()) > 0:
            if not select.select([s], [], [], left)[0]:
                continue
            try:
                chunk = s.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                closed_at = time.monotonic() - t0
            else:
                buf += chunk
                answered_at = answered_at if answered_at is not None else time.monotonic() - t0

    try:
        for piece in pieces:
            try:
                s.sendall(piece)
            except OSError:
                break
            sent += 1
            read_until(time.monotonic() + gap)
            if closed_at is not None:
                break
        read_until(time.monotonic() + linger)
    finally:
        s.close()
    return Trickled(parse_responses(buf, closed_at is not None), buf, answered_at, closed_at, sent)


def bytewise(data):
    return [data[i:i + 1] for i in range(len(data))]


def pieces(data, n):
    step = -(-len(data) // n)
    return [data[i:i + step] for i in range(0, len(data), step)]


def timed_out(t, what):
    """One answer, 408 problem+json with Connection: close, given at the
    deadline (not before, not much after), then the connection closed."""
    assert [r.status for r in t.responses] == [408], (what, t.data[:300])
    r = t.responses[0]
    assert r.headers.get("content-type", "").startswith("application/problem+json"), (what, r.headers)
    assert b'"status":408' in r.body, (what, r.body)
    assert r.headers.get("connection", "").lower() == "close", (what, r.headers)
    assert DEADLINE - 0.2 <= t.answered_at <= DEADLINE + LATE, (what, t.answered_at)
    assert t.closed_at is not None and t.closed_at <= DEADLINE + LATE + 0.5, (what, t.closed_at)


def test_slowloris_headers_answered_408(slow):
    """Request line and headers, one byte every 0.25 s: 408 at the deadline
    though a byte came every quarter second, then the connection closes."""
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 60 + b"\r\n\r\n"
    assert len(req) * 0.25 > DEADLINE + LATE
    t = trickle(slow["port"], bytewise(req), 0.25)
    timed_out(t, "slowloris headers")
    assert t.sent < len(req)


def test_many_slowloris_while_others_are_served(slow):
    """50 slowloris connections at once: each gets its 408 at its
    deadline, and meanwhile ordinary requests are answered at once."""
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: a\r\n" * 40 + b"\r\n"
    results = [None] * 50

    def one(i):
        results[i] = trickle(slow["port"], bytewise(req), 0.2)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for th in threads:
        th.start()
    time.sleep(0.5)
    with requests.Session() as s:
        for _ in range(10):
            t0 = time.monotonic()
            r = s.get(slow["url"] + "/healthz", timeout=HTTP_TIMEOUT)
            assert r.status_code == 200 and time.monotonic() - t0 < 0.5 * SLOW
            time.sleep(0.1)
    for th in threads:
        th.join()
    for i, t in enumerate(results):
        timed_out(t, f"slowloris {i}")


def test_partial_request_line_answered_408(slow):
    """One byte of a request line, then silence: the deadline runs from
    that byte."""
    t = trickle(slow["port"], [b"G"], 0)
    timed_out(t, "one byte")


def test_body_trickled_under_the_deadline_is_answered(slow):
    """Headers at once, then the body in pieces spread over 60 % of the
    deadline: a normal answer (the login succeeds)."""
    form = login_form()
    head = login_request(b"Content-Length: %d\r\nConnection: close\r\n" % len(form), b"")
    parts = pieces(form, 10)
    t = trickle(slow["port"], [head] + parts, 0.6 * DEADLINE / len(parts), linger=HTTP_TIMEOUT)
    assert [r.status for r in t.responses] == [200], t.data[:300]
    assert b"Set-Cookie: gen_session=" in t.data
    assert t.answered_at < DEADLINE + LATE


def test_chunked_body_trickled_under_the_deadline_is_answered(slow):
    form = login_form()
    head = login_request(b"Transfer-Encoding: chunked\r\nConnection: close\r\n", b"")
    parts = [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces(form, 8)] + [b"0\r\n\r\n"]
    t = trickle(slow["port"], [head] + parts, 0.6 * DEADLINE / len(parts), linger=HTTP_TIMEOUT)
    assert [r.status for r in t.responses] == [200], t.data[:300]


def test_body_trickled_past_the_deadline_408(slow, env):
    """A valid submission whose body comes in 40 pieces 0.2 s apart (8 s in
    all): each piece arrives well within the deadline, the whole does not;
    408 at the deadline and nothing stored."""
    body = application("AAP-TEST", title="Trickled")
    head = (b"POST /api/v1/calls/AAP-TEST/applications HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + slow["prov"].encode() + b"\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n" % len(body))
    with nothing_stored(env):
        t = trickle(slow["port"], [head] + pieces(body, 40), 0.2)
        timed_out(t, "body trickle")
        time.sleep(0.5)


def test_chunked_body_trickled_past_the_deadline_408(slow):
    form = login_form()
    head = login_request(b"Transfer-Encoding: chunked\r\n", b"")
    parts = [b"1\r\n%s\r\n" % form[i:i + 1] for i in range(len(form))] + [b"0\r\n\r\n"]
    t = trickle(slow["port"], [head] + parts, 0.2)
    timed_out(t, "chunked trickle")
    assert b"Set-Cookie" not in t.data


def test_deadline_is_per_request_on_a_keep_alive_connection(slow):
    """Two requests on one connection, the second trickled: the deadline
    starts at each request's first byte, so both are answered though the
    connection lives longer than one deadline."""
    first = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    second = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    parts = pieces(second, 6)
    gap = 0.6 * DEADLINE / len(parts) + 0.1
    pause = [b""] * 3  # nothing sent: the connection idles between the two
    t = trickle(slow["port"], [first] + pause + parts, gap, linger=HTTP_TIMEOUT)
    assert [r.status for r in t.responses] == [200, 200], t.data[:400]
    assert t.closed_at is not None and t.closed_at > DEADLINE


def test_silent_connection_closed_by_idle_timeout(slow):
    """A connection that never sends a byte holds no request; the idle
    timeout closes it, without an answer."""
    t = trickle(slow["port"], [b""], 0, linger=IDLE + 2 * LATE + 1)
    assert t.closed_at is not None, "still open after the idle timeout"
    assert IDLE - 0.2 <= t.closed_at <= IDLE + 2 * LATE, t.closed_at
    assert t.data == b"", t.data[:200]


def test_slow_server_still_serves(slow):
    res = exchange({"port": slow["port"]}, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert [r.status for r in res.responses] == [200]
    r = requests.post(slow["url"] + "/api/v1/session", data={"email": "staff@gen.test", "password": PASSWORD},
                      timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
