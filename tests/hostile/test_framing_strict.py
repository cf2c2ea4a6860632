"""The framing filter's strictness (server/framing.c), from an outside
black-box review: request smuggling through line ends and chunk lines that
a lenient parser reads otherwise than a front end does.

Each refused case must get exactly one answer, 400 problem+json, and the
connection closed: the request that a lenient parser would have found after
the fault (a GET /healthz, answered 200) is never parsed."""
import json
import select
import socket
import ssl
import time

import pytest
import requests

from conftest import RSS_MEANINGFUL, Server
from gen import application

from .common import RAW_TIMEOUT, exchange, login_form, nothing_stored, parse_responses, rss_kb, server_pids

NEXT = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def chunked_post(body):
    return (b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + body)


def assert_malformed(res, what):
    """One answer, 400 problem+json, then the close; nothing after it."""
    statuses = [r.status for r in res.responses]
    assert statuses == [400], (what, statuses, res.data[:600])
    r = res.responses[0]
    assert r.headers["content-type"].startswith("application/problem+json"), (what, r.headers)
    assert json.loads(r.body)["status"] == 400
    assert res.closed, (what, "connection left open")


def refused_400(env, data, what):
    res = exchange(env, data + NEXT, want=2)
    assert_malformed(res, what)


# ---- a CR must be followed by LF ----

CR_CASES = {
    "end of headers": b"GET /nope HTTP/1.1\r\nHost: x\r\n\rX",
    "end of a header line": b"GET /nope HTTP/1.1\r\nHost: x\rXX-A: b\r\n\r\n",
    "chunk-size line": chunked_post(b"5\rXhello\r\n0\r\n\r\n"),
    "after chunk data": chunked_post(b"5\r\nhelloXX0\r\n\r\n"),
    "CR then other byte after chunk data": chunked_post(b"5\r\nhello\rX0\r\n\r\n"),
    "end of trailers": chunked_post(b"5\r\nhello\r\n0\r\n\rX"),
    "end of a trailer line": chunked_post(b"5\r\nhello\r\n0\r\nX-T: 1\rX\r\n"),
}


@pytest.mark.parametrize("case", CR_CASES, ids=list(CR_CASES))
def test_cr_not_followed_by_lf(env, case):
    refused_400(env, CR_CASES[case], case)


# ---- chunk extensions ----

def smuggled_in_chunk_extension():
    """The review's case: a front end that takes a bare LF as the end of
    the chunk line `10;` reads 16 bytes, then a 0x40 chunk whose data hold
    a whole request; a parser that skips the extension up to the CR reads
    `10;\\nAAAA` as the chunk line and the request inside as the next one."""
    d = b"AAAA\r\n" + b"B" * 10
    inner = b"\r\n0\r\n\r\nPOST /smuggled HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n"
    e = inner + b"q" * (64 - len(inner))
    return chunked_post(b"10;\n" + d + b"\r\n40\r\n" + e + b"\r\n0\r\n\r\n")


EXT_CASES = {
    "bare LF in extension": smuggled_in_chunk_extension(),
    "NUL in extension": chunked_post(b"5;a\x00b\r\nhello\r\n0\r\n\r\n"),
    "control byte in extension": chunked_post(b"5;a=\x01\r\nhello\r\n0\r\n\r\n"),
    "DEL in extension": chunked_post(b"5;a=\x7f\r\nhello\r\n0\r\n\r\n"),
    "text after the size without ;": chunked_post(b"5 anything\r\nhello\r\n0\r\n\r\n"),
    "bare LF right after the size": chunked_post(b"5 \nhello\r\n0\r\n\r\n"),
}


@pytest.mark.parametrize("case", EXT_CASES, ids=list(EXT_CASES))
def test_bad_chunk_extension(env, case):
    refused_400(env, EXT_CASES[case], case)


def test_smuggled_request_in_chunk_extension_not_answered(env):
    """The review's repro, as sent: no answer for POST /smuggled (a 404
    from the request layer), one 400 and the close."""
    res = exchange(env, smuggled_in_chunk_extension() + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close"
                        b"\r\n\r\n", want=3)
    assert_malformed(res, "smuggled in a chunk extension")


@pytest.mark.parametrize("ext", [b";name", b";name=value", b' ;name="quoted \xe9 value"', b"\t;a=1;b=2"])
def test_valid_chunk_extension_still_accepted(env, ext):
    """Extensions that follow RFC 9112 §7.1.1 (BWS, ';', a quoted value
    with obs-text) are ignored as before: the login they carry is read."""
    form = login_form()
    res = exchange(env, chunked_post(b"%x%s\r\n%s\r\n0\r\n\r\n" % (len(form), ext, form)))
    assert [r.status for r in res.responses] == [200], res.data[:400]


# ---- the request line ----

@pytest.mark.parametrize("line", [b"GET  /healthz HTTP/1.1", b"GET /healthz  HTTP/1.1", b"GET\t/healthz HTTP/1.1"])
def test_request_line_takes_single_spaces(env, line):
    """request-line = method SP request-target SP HTTP-version (RFC 9112
    §3): a lenient front end may split it elsewhere."""
    refused_400(env, line + b"\r\nHost: x\r\n\r\n", repr(line))


# ---- Connection: close in any form ----

@pytest.mark.parametrize("conn", [b"TE, close", b"keep-alive\r\nConnection: close", b"close\r\nConnection: keep-alive",
                                  b"CLOSE", b"upgrade ,  Close", b"close\t", b"foo,\tclose", b"close\t,foo"],
                         ids=["list", "second header", "first header", "upper case", "list with spaces",
                              "tab after", "tab before", "tab in list"])
def test_close_token_ends_the_connection(env, conn):
    """The close token in any Connection header makes the request the last
    one (RFC 9112 §9.6): it is answered with Connection: close, the
    connection closes, and a pipelined submission after it is neither
    stored nor answered."""
    body = application("AAP-TEST", title="Pipelined after a close token")
    second = (b"POST /api/v1/calls/AAP-TEST/applications HTTP/1.1\r\nHost: x\r\n"
              b"Authorization: Bearer " + env["prov"].encode() + b"\r\nContent-Type: application/xml\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    with nothing_stored(env):
        res = exchange(env, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: " + conn + b"\r\n\r\n" + second
                       + NEXT, want=3)
        time.sleep(0.2)
    assert [r.status for r in res.responses] == [200], res.data[:600]
    assert res.responses[0].headers["connection"].lower() == "close"
    assert res.closed


def test_http10_without_keep_alive_is_the_last(env):
    res = exchange(env, b"GET /healthz HTTP/1.0\r\n\r\n" + NEXT, want=2)
    assert [r.status for r in res.responses] == [200] and res.closed, res.data[:400]
    res = exchange(env, b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                        b"GET /healthz HTTP/1.0\r\n\r\n" + NEXT, want=3)
    assert [r.status for r in res.responses] == [200, 200] and res.closed, res.data[:400]


# ---- the header limit counts what was sent, however it was split ----

def header_block(size):
    """GET /healthz whose headers count `size` bytes against the limit
    (target, then each field name, value, ": " and CRLF), in 16 fields."""
    names = [b"X-Field-Name-%02d" % i for i in range(15)]
    used = len(b"/healthz") + len(b"Host") + len(b"x") + 4 + sum(len(n) + 4 for n in names)
    pad = size - used
    values = [b"v" * (pad // 15 + (1 if i < pad % 15 else 0)) for i in range(15)]
    fields = [(b"Host", b"x")] + list(zip(names, values))
    assert len(b"/healthz") + sum(len(n) + len(v) + 4 for n, v in fields) == size
    return fields


def send_split(env, fields):
    """The request with each field name cut in two, every part its own
    TCP segment; the answers, read until the server closes."""
    s = socket.create_connection(("127.0.0.1", env["port"]), timeout=RAW_TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        for name, value in fields:
            s.sendall(name[:3])
            time.sleep(0.02)
            s.sendall(name[3:] + b": " + value + b"\r\n")
            time.sleep(0.02)
        s.sendall(b"Connection: close\r\n\r\n")
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    finally:
        s.close()
    return parse_responses(buf, True)


def test_header_limit_counts_split_names_once(env):
    """16 KiB of headers (the limit, less the Connection: close line sent
    last) is accepted whether the field names come whole or cut across
    segments; one byte more is 431 either way."""
    limit = 16384 - len(b"Connection") - len(b"close") - 4
    for size, status in ((limit, 200), (limit + 1, 431)):
        fields = header_block(size)
        whole = b"GET /healthz HTTP/1.1\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in fields) \
            + b"Connection: close\r\n\r\n"
        res = exchange(env, whole)
        assert [r.status for r in res.responses] == [status], (size, res.data[:300])
        assert [r.status for r in send_split(env, fields)] == [status], size


# ---- back-pressure: a client that pipelines and never reads ----

FLOOD_BYTES = 20 * 1024 * 1024
FLOOD_RSS_GROWTH_KB = 48 * 1024   # far below what buffering 20 MB would take


@pytest.fixture(scope="module")
def tls_server(database, tmpdir_module):
    with Server(database, tmpdir_module, tls=True) as s:
        yield s


class Wire:
    """One client connection whose socket is driven by hand (non-blocking,
    so the test sees when the server stops reading); with TLS, OpenSSL runs
    over memory BIOs, so a write the kernel refuses is just bytes kept."""

    def __init__(self, port, cert=None):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # answers back up soon
        self.sock.connect(("127.0.0.1", port))
        self.tls = None
        if cert:
            self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
            ctx = ssl.create_default_context(cafile=cert)
            self.tls = ctx.wrap_bio(self.inc, self.out, server_hostname="localhost")
            self.sock.settimeout(5)
            while True:
                try:
                    self.tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    self.sock.sendall(self.out.read())
                    self.inc.write(self.sock.recv(65536))
            self.sock.sendall(self.out.read())
        self.sock.setblocking(False)

    def encode(self, data):
        if self.tls is None:
            return data
        self.tls.write(data)
        return self.out.read()

    def flood(self, chunk, total, stall=2.0, during=None):
        """Send `chunk` repeatedly, up to `total` bytes, until the server
        has not read for `stall` seconds; `during` is called meanwhile.
        Returns the plain bytes sent in full."""
        sent, pending = 0, b""
        while sent < total:
            if not pending:
                pending = self.encode(chunk)
            _, w, _ = select.select([], [self.sock], [], stall)
            if during:
                during()
            if not w:
                break
            n = self.sock.send(pending)
            pending = pending[n:]
            if not pending:
                sent += len(chunk)
        return sent

    def read(self, want, timeout):
        """Read until `want` whole answers or `timeout`; the answers."""
        buf, deadline = b"", time.monotonic() + timeout
        self.sock.settimeout(1)
        while len(parse_responses(buf, False)) < want and time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, BlockingIOError):
                continue
            if not data:
                break
            if self.tls is None:
                buf += data
                continue
            self.inc.write(data)
            try:
                while True:
                    buf += self.tls.read(65536)
            except ssl.SSLWantReadError:
                pass
        return parse_responses(buf, False)

    def close(self):
        self.sock.close()


def flood_stays_bounded(server, pids, verify):
    """~20 MB of pipelined GET /healthz on one connection that reads
    nothing: the server stops reading (TCP back-pressure) and its memory
    stays bounded; once read, the answers are whole and in order, and
    other clients are served meanwhile."""
    base = rss_kb(pids)
    peak = [base]
    wire = Wire(server.port, server.cert)
    try:
        chunk = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 1000
        sent = wire.flood(chunk, FLOOD_BYTES, during=lambda: peak.append(rss_kb(pids)))
        time.sleep(0.5)
        peak.append(rss_kb(pids))
        print(f"flood: {sent} bytes sent, server RSS {base} kB -> {max(peak)} kB")
        assert max(peak) - base < FLOOD_RSS_GROWTH_KB, (
            f"server RSS {base} kB -> {max(peak)} kB after {sent} bytes pipelined to a client that reads nothing")
        r = requests.get(server.url + "/healthz", timeout=5, verify=verify)
        assert r.status_code == 200 and r.text == "ok\n"
        answers = wire.read(2000, timeout=30)
        assert len(answers) >= 2000, len(answers)
        assert all(a.status == 200 and a.body == b"ok\n" for a in answers)
        ids = [int(a.headers["x-request-id"], 16) for a in answers]
        assert ids == sorted(ids)
    finally:
        wire.close()



def test_pipeline_past_the_bound_then_half_close(env):
    """More pipelined requests than the filter hands at once, then the
    client closes its sending side: every one is still answered, in order,
    before the server closes (the EOF waits for the input held back)."""
    data = b"".join(b"GET /healthz?n=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(200))
    res = exchange(env, data, want=0, half_close=True, timeout=10 * RAW_TIMEOUT)
    assert [r.status for r in res.responses] == [200] * 200, (len(res.responses), res.data[-300:])
    ids = [int(r.headers["x-request-id"], 16) for r in res.responses]
    assert ids == sorted(ids) and res.closed

@pytest.mark.skipif(not RSS_MEANINGFUL, reason="under valgrind or ASan the resident memory is theirs")
def test_pipelined_flood_without_reading_is_bounded(env):
    flood_stays_bounded(env["server"], env["pids"], True)


@pytest.mark.skipif(not RSS_MEANINGFUL, reason="under valgrind or ASan the resident memory is theirs")
def test_pipelined_flood_without_reading_is_bounded_tls(env, tls_server):
    flood_stays_bounded(tls_server, server_pids(tls_server), tls_server.cert)


def test_head_has_the_length_and_no_body(env):
    """HEAD gets the headers GET would (Content-Length included) and no
    body, so a pipelined GET after it is read as its own answer."""
    res = exchange(env, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", want=0)
    head, sep, rest = res.data.partition(b"\r\n\r\n")
    assert sep and head.startswith(b"HTTP/1.1 200"), res.data[:300]
    assert b"\r\nContent-Length: 3\r\n" in head + b"\r\n", head
    assert rest.startswith(b"HTTP/1.1 200"), rest[:200]
    after = parse_responses(rest, True)
    assert [(r.status, r.body) for r in after] == [(200, b"ok\n")]


def test_close_token_in_a_trailer_ends_the_connection(env):
    """A close token in a trailer field is taken as the last word, as
    http-parser does: the request is answered, nothing after it is read."""
    res = exchange(env, b"POST /api/v1/calls HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"0\r\nConnection: close\r\n\r\n" + NEXT, want=0)
    assert [r.status for r in res.responses] == [401] and res.closed, res.data[:600]


def test_chunk_declared_over_the_limit_refused_at_once(env):
    """A chunk whose declared size takes the body past max-body gets 413
    as soon as the size line is read, like a Content-Length over it."""
    for size in (b"fffffffffffffff", b"300000"):
        res = exchange(env, chunked_post(size + b"\r\nhello"), want=0, timeout=5)
        assert [r.status for r in res.responses] == [413], res.data[:600]
        assert res.elapsed < 2 and res.closed, res.elapsed


def test_continue_waits_for_earlier_answers(env):
    """100 Continue for a pipelined request comes after the final answers to
    the requests before it: a client would take an earlier one for the
    interim answer of its own request."""
    s = socket.create_connection(("127.0.0.1", env["port"]), timeout=RAW_TIMEOUT)
    try:
        s.sendall(NEXT * 3 + b"POST /api/v1/calls HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                  b"Content-Type: application/xml\r\nContent-Length: 5\r\n\r\n")
        data = b""
        while b"100 Continue" not in data:
            d = s.recv(65536)
            assert d, data
            data += d
        before = data[:data.index(b"HTTP/1.1 100 Continue")]
        assert before.count(b"HTTP/1.1 200") == 3, data[:800]
        s.sendall(b"hello")
        while len([r for r in parse_responses(data, False) if r.status >= 200]) < 4:
            d = s.recv(65536)
            assert d, data
            data += d
    finally:
        s.close()
    assert [r.status for r in parse_responses(data, False)] == [200, 200, 200, 100, 401]


@pytest.mark.parametrize("target", [b"http://x/healthz", b"HTTP://gen.example:8080/healthz?a=1"])
def test_absolute_form_target_served_on_a_kept_connection(env, target):
    """RFC 9112 §3.2.2: a server accepts the absolute form; the connection
    stays open and the next pipelined request is answered."""
    res = exchange(env, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n" + NEXT, want=2)
    assert [(r.status, r.body) for r in res.responses] == [(200, b"ok\n"), (200, b"ok\n")], res.data[:600]


def test_header_fields_are_counted(env):
    """At most 100 header fields: the 101st is refused with 431, however
    small (evhttp keeps each field as its own allocations)."""
    def req(n):
        return b"GET /healthz HTTP/1.1\r\nHost: a\r\n" + b"".join(b"a%d:b\r\n" % i for i in range(n - 1)) + b"\r\n"
    assert [r.status for r in exchange(env, req(100), want=1).responses] == [200]
    res = exchange(env, req(101) + NEXT, want=0)
    assert [r.status for r in res.responses] == [431] and res.closed, res.data[:400]


@pytest.mark.skipif(not RSS_MEANINGFUL, reason="under valgrind or ASan the resident memory is theirs")
def test_many_tiny_header_fields_cost_what_they_weigh(env):
    """Thousands of tiny fields under the byte limit, on 200 connections
    held open: refused at the 101st field, and memory stays where it was (it
    grew by about 2 KB per 5-byte field, 390 MB for these 2.6 MB)."""
    pids = server_pids(env["server"])
    req = b"GET /healthz HTTP/1.1\r\nHost: a\r\n" + b"a:b\r\n" * 2600 + b"\r\n"
    socks = []
    before = rss_kb(pids)
    try:
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", env["port"]), timeout=RAW_TIMEOUT)
            s.sendall(req)
            socks.append(s)
        for s in socks:
            data = b""
            while not parse_responses(data, False):
                d = s.recv(65536)
                assert d, data
                data += d
            assert parse_responses(data, False)[0].status == 431
        grown = rss_kb(pids) - before
    finally:
        for s in socks:
            s.close()
    assert grown < 20 * 1024, f"RSS grew by {grown} kB"
