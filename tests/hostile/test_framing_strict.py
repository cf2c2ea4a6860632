"""The framing filter's strictness (server/framing.c), from an outside
black-box review: request smuggling through line ends and chunk lines that
a lenient parser reads otherwise than a front end does.

Each refused case must get exactly one answer, 400 problem+json, and the
connection closed: the request that a lenient parser would have found after
the fault (a GET /healthz, answered 200) is never parsed."""
import json

import pytest

from .common import exchange

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
