"""The authorization matrix: every route × every kind of caller, with the
status DESIGN §3 promises: 401 without identity, 403 for a role the route
is not for, 404 for a resource that exists but is not the caller's, and
otherwise an answer that is not an authorization refusal. The table must
name every route the server has: a new route without a row fails here."""
import os
import re

import pytest
import requests

from conftest import ROOT, sql, wait_for
from gen import (NS, SIRET_A, SIRET_B, account, application, auth, call_doc, parse_receipt, xml_headers)

ANON, PROV, PROV_OTHER, REVIEWER, REVIEWER_OTHER, STAFF = (
    "anonymous", "provider", "provider-other", "reviewer", "reviewer-other", "staff")
WHO = (ANON, PROV, PROV_OTHER, REVIEWER, REVIEWER_OTHER, STAFF)
OK = "ok"  # any answer but 401/403/404 (a 400/409/422 about the empty body is fine)

# (method, pattern, path with {app}/{call}/{run}/{job}/{prog}, expected per caller)
ANYONE = {w: OK for w in WHO}
STAFF_ONLY = {ANON: 401, PROV: 403, PROV_OTHER: 403, REVIEWER: 403, REVIEWER_OTHER: 403, STAFF: OK}
MATRIX = [
    ("GET", "/healthz", "/healthz", ANYONE),
    ("GET", "/metrics", "/metrics", ANYONE),
    ("GET", "/forms/{}", "/forms/call.xsd", ANYONE),
    ("GET", "/.well-known/gen-receipt-key.pem", "/.well-known/gen-receipt-key.pem", ANYONE),
    ("POST", "/api/v1/session", "/api/v1/session", ANYONE),
    ("DELETE", "/api/v1/session", "/api/v1/session", ANYONE),
    ("GET", "/login", "/login", ANYONE),
    ("POST", "/logout", "/logout", ANYONE),
    ("GET", "/api/v1/me", "/api/v1/me", {ANON: 401, PROV: OK, PROV_OTHER: OK, REVIEWER: OK, REVIEWER_OTHER: OK, STAFF: OK}),
    ("POST", "/api/v1/calls", "/api/v1/calls", STAFF_ONLY),
    ("GET", "/api/v1/calls", "/api/v1/calls", ANYONE),
    ("GET", "/api/v1/calls/{}", "/api/v1/calls/{call}", ANYONE),
    ("POST", "/api/v1/calls/{}/applications", "/api/v1/calls/{call}/applications",
     {ANON: 401, PROV: OK, PROV_OTHER: OK, REVIEWER: 403, REVIEWER_OTHER: 403, STAFF: 403}),
    ("GET", "/api/v1/calls/{}/applications", "/api/v1/calls/{call}/applications", STAFF_ONLY),
    ("PUT", "/api/v1/applications/{}", "/api/v1/applications/{app}",
     {ANON: 401, PROV: OK, PROV_OTHER: 404, REVIEWER: 403, REVIEWER_OTHER: 403, STAFF: 403}),
    ("GET", "/api/v1/applications/{}", "/api/v1/applications/{app}",
     {ANON: 401, PROV: OK, PROV_OTHER: 404, REVIEWER: OK, REVIEWER_OTHER: 404, STAFF: OK}),
    ("GET", "/api/v1/applications/{}/receipt", "/api/v1/applications/{app}/receipt",
     {ANON: 401, PROV: OK, PROV_OTHER: 404, REVIEWER: 403, REVIEWER_OTHER: 403, STAFF: OK}),
    ("POST", "/api/v1/applications/{}/withdraw", "/api/v1/applications/{other_app}/withdraw",
     {ANON: 401, PROV: 404, PROV_OTHER: OK, REVIEWER: 403, REVIEWER_OTHER: 403, STAFF: 403}),
    ("GET", "/api/v1/audit/verify", "/api/v1/audit/verify", STAFF_ONLY),
    ("POST", "/api/v1/reviewers", "/api/v1/reviewers", STAFF_ONLY),
    ("PUT", "/api/v1/calls/{}/panel", "/api/v1/calls/{call}/panel", STAFF_ONLY),
    ("GET", "/api/v1/calls/{}/panel", "/api/v1/calls/{call}/panel", STAFF_ONLY),
    ("POST", "/api/v1/conflicts", "/api/v1/conflicts",
     {ANON: 401, PROV: 403, PROV_OTHER: 403, REVIEWER: OK, REVIEWER_OTHER: OK, STAFF: OK}),
    ("POST", "/api/v1/calls/{}/assignment", "/api/v1/calls/{empty_call}/assignment", STAFF_ONLY),
    ("GET", "/api/v1/calls/{}/assignments", "/api/v1/calls/{call}/assignments", STAFF_ONLY),
    ("GET", "/api/v1/calls/{}/assignments/explain", "/api/v1/calls/{call}/assignments/explain", STAFF_ONLY),
    ("POST", "/api/v1/calls/{}/extra-reviewer", "/api/v1/calls/{call}/extra-reviewer", STAFF_ONLY),
    ("POST", "/api/v1/assignment-runs/{}/undo", "/api/v1/assignment-runs/999999/undo", dict(STAFF_ONLY, **{STAFF: 404})),
    ("GET", "/api/v1/reviews", "/api/v1/reviews",
     {ANON: 401, PROV: 403, PROV_OTHER: 403, REVIEWER: OK, REVIEWER_OTHER: OK, STAFF: 403}),
    ("GET", "/api/v1/reviews/{}", "/api/v1/reviews/{app}",
     {ANON: 401, PROV: 403, PROV_OTHER: 403, REVIEWER: OK, REVIEWER_OTHER: 404, STAFF: OK}),
    ("PUT", "/api/v1/reviews/{}", "/api/v1/reviews/{app}",
     {ANON: 401, PROV: 403, PROV_OTHER: 403, REVIEWER: OK, REVIEWER_OTHER: OK, STAFF: 403}),
    ("POST", "/api/v1/reviews/{}/decline", "/api/v1/reviews/{app}/decline",
     {ANON: 401, PROV: 403, PROV_OTHER: 403, REVIEWER: "skip", REVIEWER_OTHER: 404, STAFF: 403}),
    ("GET", "/api/v1/calls/{}/ranking", "/api/v1/calls/{call}/ranking", STAFF_ONLY),
    ("POST", "/api/v1/calls/{}/decisions", "/api/v1/calls/{call}/decisions", STAFF_ONLY),
    ("PUT", "/api/v1/programmes/{}/cohorts/{}", "/api/v1/programmes/{app}/cohorts/C1",
     {ANON: 401, PROV: OK, PROV_OTHER: OK, REVIEWER: 403, REVIEWER_OTHER: 403, STAFF: 403}),
    ("GET", "/api/v1/dashboard/outcomes", "/api/v1/dashboard/outcomes", STAFF_ONLY),
    ("GET", "/api/v1/dashboard/alerts", "/api/v1/dashboard/alerts", STAFF_ONLY),
    ("GET", "/dashboard", "/dashboard", STAFF_ONLY),
    ("GET", "/api/v1/jobs/{}", "/api/v1/jobs/{job}", STAFF_ONLY),
]


def server_routes():
    with open(os.path.join(ROOT, "server", "api.c"), encoding="utf-8") as f:
        text = f.read()
    return {(m, p) for m, p in re.findall(r'\{ EVHTTP_REQ_([A-Z]+), "([^"]+)"', text)}


def test_every_route_has_a_row():
    rows = {(m, p) for m, p, _, _ in MATRIX}
    missing = server_routes() - rows
    assert not missing, f"routes without a row in the authorization matrix: {sorted(missing)}"
    assert not rows - server_routes(), "rows for routes the server no longer has"


@pytest.fixture(scope="module")
def env(database, server, worker):
    url = server.url
    tok = {
        STAFF: account(database, "staff@gen.test", "staff"),
        PROV: account(database, "a@orga.test", "provider", SIRET_A),
        PROV_OTHER: account(database, "b@orgb.test", "provider", SIRET_B, org="Org B"),
    }
    assert requests.post(url + "/api/v1/calls", data=call_doc("AAP-AUTHZ"), headers=xml_headers(tok[STAFF])).status_code == 201
    assert requests.post(url + "/api/v1/calls", data=call_doc("AAP-NOAPP"), headers=xml_headers(tok[STAFF])).status_code == 201
    for email in ("rev@comite.test", "rev2@comite.test"):
        r = requests.post(url + "/api/v1/reviewers", headers=xml_headers(tok[STAFF]),
                          data=(f'<reviewer xmlns="{NS}"><email>{email}</email><name>R</name><family>development</family>'
                                f"<maxLoad>5</maxLoad></reviewer>").encode())
        assert r.status_code == 201
    from conftest import genctl
    tok[REVIEWER] = genctl(database, "token", "create", "--email", "rev@comite.test").stdout.strip()
    tok[REVIEWER_OTHER] = genctl(database, "token", "create", "--email", "rev2@comite.test").stdout.strip()
    requests.put(url + "/api/v1/calls/AAP-AUTHZ/panel", headers=xml_headers(tok[STAFF]),
                 data=f'<panel xmlns="{NS}" call="AAP-AUTHZ"><member>rev@comite.test</member></panel>'.encode())
    requests.put(url + "/api/v1/calls/AAP-NOAPP/panel", headers=xml_headers(tok[STAFF]),
                 data=f'<panel xmlns="{NS}" call="AAP-NOAPP"><member>rev@comite.test</member></panel>'.encode())
    r = requests.post(url + "/api/v1/calls/AAP-AUTHZ/applications", data=application("AAP-AUTHZ"),
                      headers=xml_headers(tok[PROV]))
    app = parse_receipt(r.content)["tracking"]
    r = requests.post(url + "/api/v1/calls/AAP-AUTHZ/applications", data=application("AAP-AUTHZ", siret=SIRET_B),
                      headers=xml_headers(tok[PROV_OTHER]))
    other = parse_receipt(r.content)["tracking"]
    for t in (app, other):
        wait_for(lambda: sql(database, "SELECT state FROM applications WHERE tracking=%s", (t,))[0][0] == "eligible")
    r = requests.post(url + "/api/v1/calls/AAP-AUTHZ/assignment", headers=auth(tok[STAFF]))
    job = r.headers["Location"].rsplit("/", 1)[1]
    wait_for(lambda: requests.get(url + "/api/v1/jobs/" + job, headers=auth(tok[STAFF])).json()["state"] == "done")
    return {"url": url, "tok": tok, "ids": {"app": app, "other_app": other, "call": "AAP-AUTHZ",
                                           "empty_call": "AAP-NOAPP", "job": job}}


@pytest.mark.parametrize("method,pattern,path,expect", MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
def test_matrix(env, method, pattern, path, expect):
    url = env["url"] + path.format(**env["ids"])
    for who in WHO:
        want = expect[who]
        if want == "skip":
            continue
        headers = {"Content-Type": "application/xml"}
        if who != ANON:
            headers["Authorization"] = "Bearer " + env["tok"][who]
        # Write routes get a valid document of the caller's own, so that
        # ownership, not validation, decides the answer.
        body = b""
        if (method, pattern) == ("PUT", "/api/v1/applications/{}") and who in (PROV, PROV_OTHER):
            body = application("AAP-AUTHZ", siret=SIRET_A if who == PROV else SIRET_B)
        r = requests.request(method, url, headers=headers, data=body, timeout=10)
        if want == OK:
            assert r.status_code not in (401, 403, 404), (who, method, path, r.status_code, r.text[:200])
            assert r.status_code < 500, (who, method, path, r.status_code, r.text[:200])
        else:
            assert r.status_code == want, (who, method, path, r.status_code, r.text[:200])
