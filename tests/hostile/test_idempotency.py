"""Hostile inputs, research/security.md §6 item 32: the same idempotency key
sent concurrently; a resubmit after the answer was lost, and after
PostgreSQL was killed in the middle of the COMMIT. Then every acknowledged
submission exists exactly once.

DESIGN §3: a submission repeated with the same Idempotency-Key and the same
body returns the first receipt (200) and stores nothing new; the same key
with another body is 409; keys belong to a user. The same under load, with
a server process, the worker and PostgreSQL killed at random moments, is
tests/faults/test_faults.py; here each race is set up on purpose."""
import hashlib
import os
import socket
import struct
import subprocess
import threading
import time

import pytest
import requests

from conftest import ROOT, SLOW, Server, fresh_database, sql, wait_for
from gen import SIRET_A, account, application, call_doc, parse_receipt, problem, verify_receipt, xml_headers

from .common import HTTP_TIMEOUT, parse_responses

PGDIR = os.environ.get("GEN_TEST_PGDIR")
PGPORT = os.environ.get("GEN_TEST_PORT")


def submission(token, body, key):
    return (b"POST /api/v1/calls/AAP-TEST/applications HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + token.encode() + b"\r\nContent-Type: application/xml\r\nIdempotency-Key: " + key.encode()
            + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)


def all_at_once(env, requests_):
    """Connect one socket per request, then send them all at the same
    instant (a barrier); return each one's final response."""
    out = [None] * len(requests_)
    barrier = threading.Barrier(len(requests_))

    def one(i):
        s = socket.create_connection(("127.0.0.1", env["port"]), timeout=HTTP_TIMEOUT)
        buf = b""
        try:
            barrier.wait(timeout=HTTP_TIMEOUT)
            s.sendall(requests_[i])
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        finally:
            s.close()
        final = [r for r in parse_responses(buf, True) if r.status >= 200]
        out[i] = final[0] if final else None

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(requests_))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert None not in out, "a request got no answer"
    return out


def stored(env, body):
    """(tracking, version) of every stored version with these bytes."""
    return sql(env["db"], "SELECT a.tracking, v.version FROM application_versions v JOIN applications a "
                          "ON a.id = v.application_id WHERE v.sha256 = %s", (hashlib.sha256(body).hexdigest(),))


def exactly_once(env, body, tracking):
    """The version is stored once, with one screening job and one submit
    entry in the audit trail."""
    assert stored(env, body) == [(tracking, 1)]
    assert sql(env["db"], "SELECT count(*) FROM jobs j JOIN applications a ON a.id = (j.payload->>'application')::bigint "
                          "WHERE j.kind = 'screen' AND a.tracking = %s", (tracking,)) == [(1,)]
    assert sql(env["db"], "SELECT count(*) FROM audit_log WHERE action = 'application.submit' AND subject = %s",
               (tracking,)) == [(1,)]


def test_same_key_concurrently_stored_once(env):
    """32 identical submissions with one key, sent at the same instant over
    32 connections (spread over both server processes): one 201, 31 replays
    (200), all with the very same receipt; stored once."""
    body = application("AAP-TEST", title="Same key, 32 at once")
    rs = all_at_once(env, [submission(env["prov"], body, "race-32")] * 32)
    assert sorted(r.status for r in rs) == [200] * 31 + [201], [r.status for r in rs]
    assert len({r.body for r in rs}) == 1
    receipt = parse_receipt(rs[0].body)
    exactly_once(env, body, receipt["tracking"])
    assert sql(env["db"], "SELECT count(*) FROM idempotency_keys WHERE key = 'race-32'") == [(1,)]


def test_same_key_different_bodies_concurrently(env):
    """One key, 8 different bodies at the same instant: exactly one wins
    (201) and is the one stored; the 7 others are 409 key-reused."""
    bodies = [application("AAP-TEST", title=f"Same key, body {i}") for i in range(8)]
    rs = all_at_once(env, [submission(env["prov"], b, "race-bodies") for b in bodies])
    assert sorted(r.status for r in rs) == [201] + [409] * 7, [r.status for r in rs]
    for r in rs:
        if r.status == 409:
            assert b"idempotency-key-reused" in r.body, r.body
    won = next(i for i, r in enumerate(rs) if r.status == 201)
    exactly_once(env, bodies[won], parse_receipt(rs[won].body)["tracking"])
    for i, b in enumerate(bodies):
        if i != won:
            assert stored(env, b) == []


def test_same_key_two_users_concurrently(env):
    """Two providers use the same key string at the same instant, 8
    requests each: a key is per user, so each gets their own submission,
    stored once, and their own receipt."""
    body_a = application("AAP-TEST", title="Key shared by two users")
    body_b = application("AAP-TEST", siret="55208131766522", title="Key shared by two users")
    reqs = [submission(env["prov"], body_a, "race-users")] * 8 + [submission(env["prov_b"], body_b, "race-users")] * 8
    rs = all_at_once(env, reqs)
    for part, body in ((rs[:8], body_a), (rs[8:], body_b)):
        assert sorted(r.status for r in part) == [200] * 7 + [201], [r.status for r in part]
        assert len({r.body for r in part}) == 1
        exactly_once(env, body, parse_receipt(part[0].body)["tracking"])
    assert parse_receipt(rs[0].body)["tracking"] != parse_receipt(rs[8].body)["tracking"]


def test_answer_lost_then_resubmitted(env):
    """The client sends a submission and resets the connection at once, so
    it never learns the answer; it resubmits with the same key: the answer
    names the one stored submission (200 if the first was stored, 201 if
    the server dropped it), and a third try is a replay of that answer."""
    body = application("AAP-TEST", title="Answer lost")
    s = socket.create_connection(("127.0.0.1", env["port"]), timeout=HTTP_TIMEOUT)
    s.sendall(submission(env["prov"], body, "lost-answer"))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    time.sleep(1.0 * SLOW)
    h = xml_headers(env["prov"], **{"Idempotency-Key": "lost-answer"})
    url = env["url"] + "/api/v1/calls/AAP-TEST/applications"
    r2 = requests.post(url, data=body, headers=h, timeout=HTTP_TIMEOUT)
    assert r2.status_code in (200, 201), r2.text
    exactly_once(env, body, parse_receipt(r2.content)["tracking"])
    r3 = requests.post(url, data=body, headers=h, timeout=HTTP_TIMEOUT)
    assert r3.status_code == 200 and r3.content == r2.content
    print(f"first answer lost; the resubmission answered {r2.status_code}")


SLOW_COMMIT = """
CREATE FUNCTION test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(60); RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT ON idempotency_keys
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_slow_commit();
"""


@pytest.mark.skipif(not PGDIR, reason="needs the throw-away cluster of tests/run-all.sh (GEN_TEST_PGDIR)")
def test_resubmit_after_postgres_killed_mid_commit(env, hostile_logs):
    """The light, deterministic version of the faults test. In a database
    of its own, a deferred trigger holds every submission's transaction
    inside its COMMIT; PostgreSQL is killed (immediate stop) right there.
    The client is not told the submission was accepted (no 2xx); once
    PostgreSQL is back, the resubmission with the same key is stored
    exactly once (201) and a further one is a replay (200)."""
    with fresh_database() as db:
        staff = account(db, "staff@gen.test", "staff")
        prov = account(db, "a@orga.test", "provider", SIRET_A)
        srv = Server(db, hostile_logs, extra=("--db-timeout-ms", str(int(3000 * SLOW))))
        try:
            assert requests.post(srv.url + "/api/v1/calls", data=call_doc("AAP-TEST"), headers=xml_headers(staff),
                                 timeout=HTTP_TIMEOUT).status_code == 201
            sql(db, SLOW_COMMIT)
            body = application("AAP-TEST", title="Killed mid-COMMIT")
            h = xml_headers(prov, **{"Idempotency-Key": "mid-commit"})
            url = srv.url + "/api/v1/calls/AAP-TEST/applications"
            first = {}

            def send():
                try:
                    first["r"] = requests.post(url, data=body, headers=h, timeout=HTTP_TIMEOUT)
                except requests.RequestException as e:
                    first["e"] = e

            t = threading.Thread(target=send)
            t.start()
            wait_for(lambda: sql(db, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                     "AND wait_event = 'PgSleep'")[0][0] == 1, timeout=20, what="a COMMIT in progress")
            subprocess.run([os.path.join(ROOT, "deploy", "pg.sh"), "kill", PGDIR], check=True)
            t.join(HTTP_TIMEOUT)
            r = first.get("r")
            assert r is None or not 200 <= r.status_code < 300, (r.status_code, r.text)
            if r is not None:
                problem(r, r.status_code)
            # Down long enough for every process's reconnection back-off to
            # grow to its ceiling; meanwhile each answers 503 at once.
            down_until = time.monotonic() + 3
            while time.monotonic() < down_until:
                t0 = time.monotonic()
                h503 = requests.get(env["url"] + "/healthz", timeout=5)
                assert h503.status_code == 503 and time.monotonic() - t0 < 1 * SLOW, h503.status_code
                problem(h503, 503)
                time.sleep(0.2)
            subprocess.run([os.path.join(ROOT, "deploy", "pg.sh"), "start", PGDIR, PGPORT], check=True)
            # PostgreSQL accepts connections again: from the first request on,
            # each process of the suite's server (whichever takes each new
            # connection) reconnects at once, not after its back-off.
            answers = [requests.get(env["url"] + "/healthz", timeout=5).status_code for _ in range(20)]
            assert answers == [200] * 20, answers
            sql(db, "DROP TRIGGER test_slow_commit ON idempotency_keys")
            wait_for(lambda: requests.get(srv.url + "/healthz", timeout=5).status_code == 200, timeout=30,
                     what="the server to reconnect")
            assert stored({"db": db}, body) == []
            r2 = requests.post(url, data=body, headers=h, timeout=HTTP_TIMEOUT)
            assert r2.status_code == 201, r2.text
            receipt = parse_receipt(r2.content)
            exactly_once({"db": db}, body, receipt["tracking"])
            assert verify_receipt(srv.url, receipt, body)
            r3 = requests.post(url, data=body, headers=h, timeout=HTTP_TIMEOUT)
            assert r3.status_code == 200 and r3.content == r2.content
            print(f"killed mid-COMMIT: first answer {r.status_code if r is not None else first.get('e')}")
        finally:
            # never leave the cluster down (pg.sh start is a no-op when it runs)
            subprocess.run([os.path.join(ROOT, "deploy", "pg.sh"), "start", PGDIR, PGPORT], check=True)
            srv.stop()
    # the suite's own server reconnects too
    wait_for(lambda: requests.get(env["url"] + "/healthz", timeout=5).status_code == 200, timeout=30,
             what="the suite's server to reconnect")
