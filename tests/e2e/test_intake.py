"""Black-box tests of intake: calls, applications, receipts, idempotency,
screening, amendments, withdrawal, roles, audit. Real binaries, real
PostgreSQL."""
import concurrent.futures
import hashlib
import re

import pytest
import requests

from conftest import Server, genctl, sql, wait_for
from gen import (SIRET_A, SIRET_B, application, auth, call_doc, parse_receipt, problem,
                 verify_receipt, xml_headers, account, example)


@pytest.fixture(scope="module")
def env(database, server, worker):
    e = {
        "db": database,
        "url": server.url,
        "staff": account(database, "staff@gen.test", "staff"),
        "prov": account(database, "alice@numerique-solidaire.test", "provider", SIRET_A),
        "prov_b": account(database, "bob@other.test", "provider", SIRET_B, org="Autre organisme"),
        "reviewer": account(database, "rita@review.test", "reviewer"),
    }
    r = requests.post(server.url + "/api/v1/calls", data=call_doc("AAP-TEST"),
                      headers=xml_headers(e["staff"]))
    assert r.status_code == 201, r.text
    r = requests.post(server.url + "/api/v1/calls", data=call_doc("LABEL-TEST", kind="label", max_request=None),
                      headers=xml_headers(e["staff"]))
    assert r.status_code == 201, r.text
    r = requests.post(server.url + "/api/v1/calls",
                      data=call_doc("AAP-CLOSED", opens="2020-01-01T00:00:00Z", closes="2021-01-01T00:00:00Z"),
                      headers=xml_headers(e["staff"]))
    assert r.status_code == 201, r.text
    return e


def submit(env, body, call="AAP-TEST", token=None, **headers):
    return requests.post(f"{env['url']}/api/v1/calls/{call}/applications", data=body,
                         headers=xml_headers(token or env["prov"], **headers))


def count(env, table):
    return sql(env["db"], f"SELECT count(*) FROM {table}")[0][0]


# ---- public routes ----

def test_healthz(env):
    r = requests.get(env["url"] + "/healthz")
    assert r.status_code == 200 and r.text == "ok\n"


def test_metrics_prometheus_text(env):
    requests.get(env["url"] + "/healthz")
    r = requests.get(env["url"] + "/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    assert 'gen_http_requests_total{route="healthz",status="2xx"}' in r.text
    assert "gen_http_request_duration_seconds_bucket" in r.text
    assert "gen_db_connections_ready" in r.text
    assert 'gen_jobs{state="queued"}' in r.text


def test_schemas_served(env):
    for root in ("call", "projectApplication", "labelApplication", "receipt"):
        r = requests.get(f"{env['url']}/forms/{root}.xsd")
        assert r.status_code == 200 and b"urn:gen:forms:1" in r.content
    problem(requests.get(env["url"] + "/forms/passwd.xsd"), 404)
    problem(requests.get(env["url"] + "/forms/..%2f..%2fetc%2fpasswd"), 404)


def test_unknown_route_and_method(env):
    problem(requests.get(env["url"] + "/api/v1/nothing"), 404)
    r = requests.delete(env["url"] + "/api/v1/calls")
    p = problem(r, 405)
    assert "GET" in r.headers["Allow"] and "POST" in r.headers["Allow"]


# ---- identity ----

def test_identity_rules(env):
    url = env["url"] + "/api/v1/calls"
    p = problem(requests.post(url, data=call_doc("AAP-NOAUTH"), headers={"Content-Type": "application/xml"}), 401)
    assert "WWW-Authenticate" in requests.post(url, data=b"").headers
    for bad in ("", "x" * 10000, "not base64 !!", "A" * 42 + "!", "Basic abc"):
        h = {"Authorization": bad if bad.startswith("Basic") else f"Bearer {bad}",
             "Content-Type": "application/xml"}
        problem(requests.post(url, data=call_doc("AAP-BAD"), headers=h), 401)
    # a well-formed token nobody has
    problem(requests.post(url, data=call_doc("AAP-X"), headers=xml_headers("A" * 43)), 401)
    # valid identity, wrong role
    problem(requests.post(url, data=call_doc("AAP-PROV"), headers=xml_headers(env["prov"])), 403)
    problem(submit(env, application("AAP-TEST"), token=env["staff"]), 403)
    problem(submit(env, application("AAP-TEST"), token=env["reviewer"]), 403)
    assert sql(env["db"], "SELECT count(*) FROM calls WHERE ref IN ('AAP-NOAUTH','AAP-BAD','AAP-X','AAP-PROV')")[0][0] == 0


def test_login_session_cookie(env):
    url = env["url"] + "/api/v1/session"
    s = requests.Session()
    r = s.post(url, data={"email": "alice@numerique-solidaire.test", "password": "correct horse battery"})
    assert r.status_code == 200, r.text
    assert r.json() == {"email": "alice@numerique-solidaire.test", "role": "provider"}
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    token = re.search(r"gen_session=([^;]+)", cookie).group(1)
    # only the hash is stored
    assert sql(env["db"], "SELECT count(*) FROM sessions WHERE token_hash = sha256(%s::bytea)", (token,))[0][0] == 1
    assert sql(env["db"], "SELECT count(*) FROM sessions WHERE encode(token_hash, 'escape') LIKE %s",
               ("%" + token + "%",))[0][0] == 0
    me = s.get(env["url"] + "/api/v1/me")
    assert me.status_code == 200 and me.json()["organisation"]["siret"] == SIRET_A
    assert s.delete(url).status_code == 204
    problem(s.get(env["url"] + "/api/v1/me"), 401)
    problem(requests.post(url, data={"email": "alice@numerique-solidaire.test", "password": "wrong"}), 401)
    problem(requests.post(url, data={"email": "nobody@x.test", "password": "whatever"}), 401)
    problem(requests.post(url, data='{"email":"a"}', headers={"Content-Type": "application/json"}), 415)


# ---- calls ----

def test_calls_list_and_get(env):
    r = requests.get(env["url"] + "/api/v1/calls")
    assert r.status_code == 200
    refs = {c["ref"]: c for c in r.json()["calls"]}
    assert refs["AAP-TEST"]["open"] is True and refs["AAP-TEST"]["kind"] == "project"
    assert refs["AAP-CLOSED"]["open"] is False
    c = requests.get(env["url"] + "/api/v1/calls/LABEL-TEST").json()
    assert set(c) >= {"ref", "kind", "title", "opensAt", "closesAt", "open"}
    assert c["kind"] == "label" and c["closesAt"] == "2099-12-31T23:59:59.000000Z"
    problem(requests.get(env["url"] + "/api/v1/calls/NOPE-123"), 404)


def test_call_create_rules(env):
    url = env["url"] + "/api/v1/calls"
    r = requests.post(url, data=call_doc("AAP-TEST"), headers=xml_headers(env["staff"]))
    problem(r, 409)
    p = problem(requests.post(url, data=call_doc("AAP-BACKWARDS", opens="2030-01-01T00:00:00Z",
                                                 closes="2029-01-01T00:00:00Z"),
                              headers=xml_headers(env["staff"])), 422)
    assert any("closesAt" in e["message"] or "closesAt" in e["path"] for e in p["errors"])
    # a label call may not have a budget
    bad = call_doc("LABEL-BUDGET", kind="label").replace(b"<reviewersPerApplication>",
                                                          b"<budget>10.00</budget><reviewersPerApplication>")
    problem(requests.post(url, data=bad, headers=xml_headers(env["staff"])), 422)
    assert requests.get(url + "/LABEL-BUDGET").status_code == 404
    # an audit entry per created call
    assert sql(env["db"], "SELECT count(*) FROM audit_log WHERE action='call.create' AND subject='AAP-TEST'")[0][0] == 1


# ---- submissions ----

def test_submit_receipt_and_retrieval(env):
    body = application("AAP-TEST")
    r = submit(env, body)
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/xml")
    rec = parse_receipt(r.content)
    assert re.fullmatch(r"GEN-\d{4}-\d{6}", rec["tracking"])
    assert r.headers["Location"] == f"/api/v1/applications/{rec['tracking']}"
    assert rec["version"] == "1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", rec["receivedAt"])
    assert rec["sha256"] == hashlib.sha256(body).hexdigest()
    assert verify_receipt(env["url"], rec, body)
    # a tampered receipt does not verify
    assert not verify_receipt(env["url"], dict(rec, version="2"))

    loc = env["url"] + r.headers["Location"]
    j = requests.get(loc, headers=auth(env["prov"])).json()
    assert j["tracking"] == rec["tracking"] and j["call"] == "AAP-TEST" and j["version"] == 1
    assert j["receivedAt"] == rec["receivedAt"]
    assert j["organisation"] == {"siret": SIRET_A, "name": "Association Numérique Solidaire des Hauts-de-France"}
    assert j["state"] in ("submitted", "screening", "eligible")
    x = requests.get(loc, headers=dict(auth(env["prov"]), Accept="application/xml"))
    assert x.status_code == 200 and x.content == body
    again = requests.get(loc + "/receipt", headers=auth(env["prov"]))
    assert again.status_code == 200 and parse_receipt(again.content) == rec
    # stored row and audit entry
    row = sql(env["db"], "SELECT v.sha256, v.received_at, length(v.body) FROM application_versions v "
                         "JOIN applications a ON a.id = v.application_id WHERE a.tracking = %s", (rec["tracking"],))
    assert row == [(rec["sha256"], rec["receivedAt"], len(body))]
    assert sql(env["db"], "SELECT actor, action FROM audit_log WHERE subject = %s ORDER BY seq LIMIT 1",
               (rec["tracking"],)) == [("user:alice@numerique-solidaire.test", "application.submit")]


def test_screening_outcomes(env):
    ok = parse_receipt(submit(env, application("AAP-TEST", title="Eligible")).content)["tracking"]
    bad = parse_receipt(submit(env, application("AAP-TEST", women="20", title="Low women")).content)["tracking"]

    def state(t):
        j = requests.get(f"{env['url']}/api/v1/applications/{t}", headers=auth(env["staff"])).json()
        return j if j["state"] in ("eligible", "ineligible") else None

    assert wait_for(lambda: state(ok), what="screening")["state"] == "eligible"
    j = wait_for(lambda: state(bad), what="screening")
    assert j["state"] == "ineligible"
    assert "women" in j["stateReason"] and "20.0" in j["stateReason"] and "30.0" in j["stateReason"]
    trail = sql(env["db"], "SELECT actor, detail FROM audit_log WHERE subject=%s AND action='application.state' "
                           "ORDER BY seq", (bad,))
    assert trail == [("worker", "submitted->screening"), ("worker", "screening->ineligible")]


def test_idempotency(env):
    body = application("AAP-TEST", title="Idempotent")
    before = count(env, "application_versions")
    r1 = submit(env, body, **{"Idempotency-Key": "key-1"})
    assert r1.status_code == 201
    r2 = submit(env, body, **{"Idempotency-Key": "key-1"})
    assert r2.status_code == 200 and r2.content == r1.content
    assert count(env, "application_versions") == before + 1
    p = problem(submit(env, application("AAP-TEST", title="Other"), **{"Idempotency-Key": "key-1"}), 409)
    assert p["type"].endswith("/idempotency-key-reused")
    assert count(env, "application_versions") == before + 1
    # the same key from another user is another key
    assert submit(env, application("AAP-TEST", siret=SIRET_B), token=env["prov_b"],
                  **{"Idempotency-Key": "key-1"}).status_code == 201
    problem(submit(env, body, **{"Idempotency-Key": "x" * 300}), 400)


def test_idempotency_concurrent_retries(env):
    body = application("AAP-TEST", title="Concurrent")
    before = count(env, "application_versions")
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        rs = list(ex.map(lambda _: submit(env, body, **{"Idempotency-Key": "concurrent-1"}), range(16)))
    codes = sorted(r.status_code for r in rs)
    assert codes == [200] * 15 + [201], codes
    assert len({r.content for r in rs}) == 1
    assert count(env, "application_versions") == before + 1


def test_rules_after_schema(env):
    before = count(env, "application_versions")
    p = problem(submit(env, application("AAP-CLOSED"), call="AAP-CLOSED"), 409)
    assert p["type"].endswith("/call-closed")
    p = problem(submit(env, application("LABEL-TEST"), call="LABEL-TEST"), 422)
    assert any("kind" in e["message"] for e in p["errors"])
    p = problem(submit(env, application("AAP-TEST", siret=SIRET_B)), 422)
    assert any(SIRET_B in e["message"] for e in p["errors"])
    p = problem(submit(env, application("AAP-OTHER")), 422)
    root_line = application("AAP-OTHER").split(b"<projectApplication", 1)[0].count(b"\n") + 1
    assert [(e["line"], e["path"]) for e in p["errors"]] == [(root_line, "/projectApplication/@call")], p
    assert "AAP-OTHER" in p["errors"][0]["message"] and p["errors"][0]["column"] > 0
    problem(submit(env, application("AAP-TEST", requested="200000.00")), 422)
    problem(submit(env, application("NOPE-CALL"), call="NOPE-CALL"), 404)
    assert count(env, "application_versions") == before


def test_invalid_document_reports_every_error(env):
    body = application("AAP-TEST").replace(b"<durationMonths>9</durationMonths>",
                                           b"<durationMonths>99</durationMonths>")
    body = body.replace(b"<learners>96</learners>", b"<learners>0</learners>")
    p = problem(submit(env, body), 422)
    assert len(p["errors"]) >= 2
    lines = body.split(b"\n")
    for e in p["errors"]:
        assert e["line"] > 0 and e["column"] > 0 and e["path"].startswith("/")
    found = {lines[e["line"] - 1].strip()[:16] for e in p["errors"]}
    assert b"<durationMonths>" in found and b"<learners>0</lea" in found


def test_visibility(env):
    r = submit(env, application("AAP-TEST", title="Private"))
    t = parse_receipt(r.content)["tracking"]
    url = f"{env['url']}/api/v1/applications/{t}"
    assert requests.get(url, headers=auth(env["staff"])).status_code == 200
    problem(requests.get(url, headers=auth(env["prov_b"])), 404)
    problem(requests.get(url + "/receipt", headers=auth(env["prov_b"])), 404)
    problem(requests.get(url, headers=auth(env["reviewer"])), 404)
    problem(requests.get(url), 401)
    problem(requests.get(env["url"] + "/api/v1/applications/GEN-2026-999999", headers=auth(env["staff"])), 404)
    lst = requests.get(env["url"] + "/api/v1/calls/AAP-TEST/applications", headers=auth(env["staff"]))
    assert lst.status_code == 200 and t in [a["tracking"] for a in lst.json()["applications"]]
    problem(requests.get(env["url"] + "/api/v1/calls/AAP-TEST/applications", headers=auth(env["prov"])), 403)
    problem(requests.get(env["url"] + "/api/v1/calls/NOPE-X/applications", headers=auth(env["staff"])), 404)


def test_amend_and_withdraw(env):
    body = application("AAP-TEST", title="Version one")
    t = parse_receipt(submit(env, body).content)["tracking"]
    url = f"{env['url']}/api/v1/applications/{t}"
    body2 = application("AAP-TEST", title="Version two")
    r = requests.put(url, data=body2, headers=xml_headers(env["prov"]))
    assert r.status_code == 200, r.text
    rec = parse_receipt(r.content)
    assert rec["version"] == "2" and verify_receipt(env["url"], rec, body2)
    assert requests.get(url, headers=dict(auth(env["prov"]), Accept="application/xml")).content == body2
    assert requests.get(url, headers=auth(env["prov"])).json()["version"] == 2
    # both versions kept byte for byte
    assert [bytes(b) for (b,) in sql(env["db"], "SELECT v.body FROM application_versions v JOIN applications a "
                                              "ON a.id=v.application_id WHERE a.tracking=%s ORDER BY version", (t,))] \
        == [body, body2]
    # another provider cannot amend or withdraw it
    problem(requests.put(url, data=application("AAP-TEST", siret=SIRET_B), headers=xml_headers(env["prov_b"])), 404)
    problem(requests.post(url + "/withdraw", headers=auth(env["prov_b"])), 404)
    r = requests.post(url + "/withdraw", data="Projet reporté".encode(), headers=auth(env["prov"]))
    assert r.status_code == 200 and r.json()["state"] == "withdrawn"
    problem(requests.post(url + "/withdraw", headers=auth(env["prov"])), 409)
    problem(requests.post(url + "/withdraw", data=b"\xe9t\xe9", headers=auth(env["prov"])), 422)
    problem(requests.put(url, data=body2, headers=xml_headers(env["prov"])), 409)
    j = requests.get(url, headers=auth(env["staff"])).json()
    assert j["state"] == "withdrawn" and j["stateReason"] == "Projet reporté"


def test_audit_chain(env):
    r = requests.get(env["url"] + "/api/v1/audit/verify", headers=auth(env["staff"]))
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["entries"] > 10
    problem(requests.get(env["url"] + "/api/v1/audit/verify", headers=auth(env["prov"])), 403)
    out = genctl(env["db"], "audit", "verify").stdout
    # the C walk agrees with the SQL walk (the worker may add entries in between)
    m = re.fullmatch(r"ok entries=(\d+)", out.strip())
    assert m and int(m.group(1)) >= r.json()["entries"], out


def test_wrong_content_type(env):
    body = application("AAP-TEST")
    for ct in (None, "application/json", "text/plain"):
        h = {"Authorization": f"Bearer {env['prov']}"}
        if ct:
            h["Content-Type"] = ct
        problem(requests.post(env["url"] + "/api/v1/calls/AAP-TEST/applications", data=body, headers=h), 415)


def test_job_status(env):
    jid = sql(env["db"], "SELECT max(id) FROM jobs")[0][0]
    r = requests.get(f"{env['url']}/api/v1/jobs/{jid}", headers=auth(env["staff"]))
    assert r.status_code == 200 and r.json()["kind"] == "screen"
    problem(requests.get(f"{env['url']}/api/v1/jobs/99999999", headers=auth(env["staff"])), 404)
    problem(requests.get(f"{env['url']}/api/v1/jobs/abc", headers=auth(env["staff"])), 404)


def test_login_throttling(env):
    url = env["url"] + "/api/v1/session"
    account(env["db"], "victim@orga.test", "provider", SIRET_B, password="le bon mot de passe", org="Autre organisme")
    for _ in range(5):
        problem(requests.post(url, data={"email": "victim@orga.test", "password": "devine"}), 401)
    # now refused before any hashing, even with the right password
    r = requests.post(url, data={"email": "victim@orga.test", "password": "le bon mot de passe"})
    p = problem(r, 429)
    assert int(r.headers["Retry-After"]) > 0 and p["type"].endswith("/too-many-logins")
    assert sql(env["db"], "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id "
                          "WHERE u.email = 'victim@orga.test'")[0][0] == 0
    # other accounts are not affected
    assert requests.post(url, data={"email": "alice@numerique-solidaire.test",
                                    "password": "correct horse battery"}).status_code == 200
    # no clear password or e-mail leaks into the throttling table beyond the account key
    assert sql(env["db"], "SELECT count(*) FROM login_failures WHERE key LIKE '%%devine%%'")[0][0] == 0


def test_login_throttling_cannot_lock_an_account_out(database, tmpdir_module):
    """Behind a trusted reverse proxy, failures count per client address
    (the last X-Forwarded-For entry, the one the proxy appended): five bad
    passwords from one client block that account from that client only;
    the account as a whole only after 50 failures from anywhere; 30 from
    one client block that client. Without the setting the header is
    ignored (covered by the test above, all from the TCP peer)."""
    account(database, "target@orga.test", "provider", SIRET_B, password="mot de passe juste", org="Cible")
    with Server(database, tmpdir_module, extra=("--trusted-proxies", "127.0.0.1")) as srv:
        url = srv.url + "/api/v1/session"

        def login(password, client, email="target@orga.test"):
            return requests.post(url, data={"email": email, "password": password},
                                 headers={"X-Forwarded-For": client})

        for _ in range(5):
            problem(login("faux", "203.0.113.66"), 401)
        problem(login("mot de passe juste", "203.0.113.66"), 429)
        # a forged earlier entry does not change who the client is
        problem(login("mot de passe juste", "198.51.100.1, 203.0.113.66"), 429)
        # the owner, elsewhere, logs in
        assert login("mot de passe juste", "198.51.100.20").status_code == 200
        # one client guessing many accounts is stopped at 30 failures
        for i in range(30):
            problem(login("faux", "203.0.113.77", email=f"nobody{i}@x.test"), 401)
        problem(login("mot de passe juste", "203.0.113.77"), 429)
        # a distributed guess (50 failures from 50 clients) blocks the account
        for i in range(50):
            problem(login("faux", f"192.0.2.{i + 1}"), 401)
        problem(login("mot de passe juste", "198.51.100.21"), 429)
        assert sql(database, "SELECT count(*) FROM login_failures WHERE key LIKE 'pair:target@orga.test|%%'")[0][0] == 55


def test_security_headers(env):
    for path in ("/healthz", "/api/v1/calls", "/api/v1/nothing"):
        r = requests.get(env["url"] + path)
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in r.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
