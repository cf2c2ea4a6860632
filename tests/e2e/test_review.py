"""Black-box tests of the review workflow over HTTP: reviewers, panel,
conflicts, optimal assignment, explanations, reviews and their visibility,
declines, ranking, decisions, programmes, notifications."""
import hashlib
import time

import pytest
import requests

from conftest import genctl, sql, wait_for
from gen import (NS, SIRET_A, SIRET_B, SIRET_C, account, application, auth, call_doc, parse_receipt,
                 problem, xml_headers)


def reviewer_doc(email, families=("development",), regions=("32",), max_load=10, employer=None):
    fam = "".join(f"<family>{f}</family>" for f in families)
    reg = "".join(f"<region>{r}</region>" for r in regions)
    emp = f"<employerSiret>{employer}</employerSiret>" if employer else ""
    return (f'<reviewer xmlns="{NS}"><email>{email}</email><name>{email.split("@")[0]}</name>'
            f"{fam}{reg}<maxLoad>{max_load}</maxLoad>{emp}</reviewer>").encode()


def review_doc(rec="fund", conf=2, scores=(("innovation", 4), ("inclusion", 7)), comment="Solide.",
               feedback="Bon dossier."):
    s = "".join(f'<score criterion="{c}" value="{v}"/>' for c, v in scores)
    return (f'<review xmlns="{NS}"><recommendation>{rec}</recommendation><confidence>{conf}</confidence>'
            f"{s}<comment>{comment}</comment><feedback>{feedback}</feedback></review>").encode()


REVIEWERS = ["r1@comite.test", "r2@comite.test", "r3@comite.test", "r4@comite.test"]
# r5 works for organisation A (employer conflict); r6 shares the applicants'
# contact e-mail domain (e-mail-domain conflict with every application).
R5 = "r5@comite.test"
R6 = "expert@numerique-solidaire.example.fr"


@pytest.fixture(scope="module")
def env(database, server, worker):
    e = {"db": database, "url": server.url, "pkey": server.pkey,
         "staff": account(database, "staff@gen.test", "staff"),
         "provA": account(database, "a@orga.test", "provider", SIRET_A),
         "provB": account(database, "b@orgb.test", "provider", SIRET_B, org="Org B"),
         "provC": account(database, "c@orgc.test", "provider", SIRET_C, org="Org C")}
    url = server.url
    r = requests.post(url + "/api/v1/calls", data=call_doc("AAP-REV", extra="<threshold>50</threshold>"),
                      headers=xml_headers(e["staff"]))
    assert r.status_code == 201, r.text
    for email in REVIEWERS:
        r = requests.post(url + "/api/v1/reviewers", data=reviewer_doc(email), headers=xml_headers(e["staff"]))
        assert r.status_code == 201, r.text
    assert requests.post(url + "/api/v1/reviewers", data=reviewer_doc(R5, employer=SIRET_A),
                         headers=xml_headers(e["staff"])).status_code == 201
    assert requests.post(url + "/api/v1/reviewers", data=reviewer_doc(R6),
                         headers=xml_headers(e["staff"])).status_code == 201
    for email in REVIEWERS + [R5, R6]:
        e[email] = genctl(database, "token", "create", "--email", email).stdout.strip()
    members = "".join(f"<member>{m}</member>" for m in REVIEWERS + [R5, R6])
    r = requests.put(url + "/api/v1/calls/AAP-REV/panel",
                     data=f'<panel xmlns="{NS}" call="AAP-REV">{members}</panel>'.encode(),
                     headers=xml_headers(e["staff"]))
    assert r.status_code == 200, r.text
    assert sorted(r.json()["members"]) == sorted(REVIEWERS + [R5, R6])  # the panel as stored
    e["apps"] = {}
    for name, tok, siret in (("A", "provA", SIRET_A), ("B", "provB", SIRET_B), ("C", "provC", SIRET_C)):
        r = requests.post(url + "/api/v1/calls/AAP-REV/applications",
                          data=application("AAP-REV", siret=siret, title=f"Dossier {name}"),
                          headers=xml_headers(e[tok]))
        assert r.status_code == 201, r.text
        e["apps"][name] = parse_receipt(r.content)["tracking"]
    for t in e["apps"].values():
        wait_for(lambda: sql(database, "SELECT state FROM applications WHERE tracking=%s", (t,))[0][0] == "eligible",
                 what="screening")
    return e


def staff(env):
    return xml_headers(env["staff"])


def test_reviewer_and_panel_rules(env):
    url = env["url"]
    r = requests.get(url + "/api/v1/calls/AAP-REV/panel", headers=auth(env["staff"]))
    assert r.status_code == 200 and sorted(r.json()["members"]) == sorted(REVIEWERS + [R5, R6])
    # updating a reviewer
    r = requests.post(url + "/api/v1/reviewers", data=reviewer_doc("r1@comite.test", max_load=10),
                      headers=staff(env))
    assert r.status_code == 200 and r.json()["created"] is False
    # a provider's e-mail cannot become a reviewer
    problem(requests.post(url + "/api/v1/reviewers", data=reviewer_doc("a@orga.test"), headers=staff(env)), 409)
    # unknown members: one error each, where it stands; the panel unchanged
    p = problem(requests.put(url + "/api/v1/calls/AAP-REV/panel",
                             data=f'<panel xmlns="{NS}" call="AAP-REV">\n<member>nobody@x.test</member>\n'
                                  f'<member>r1@comite.test</member>\n<member>a@orga.test</member></panel>'.encode(),
                             headers=staff(env)), 422)
    assert [(e["line"], e["path"], e["message"]) for e in p["errors"]] == [
        (2, "/panel/member[1]", "nobody@x.test is not a reviewer"),
        (4, "/panel/member[3]", "a@orga.test is not a reviewer")], p
    assert all(e["column"] > 0 for e in p["errors"])
    r = requests.get(url + "/api/v1/calls/AAP-REV/panel", headers=auth(env["staff"]))
    assert sorted(r.json()["members"]) == sorted(REVIEWERS + [R5, R6])
    # wrong call in the document: located at the root element's @call
    p = problem(requests.put(url + "/api/v1/calls/AAP-REV/panel",
                             data=f'<?xml version="1.0"?>\n<panel xmlns="{NS}" call="AAP-OTHER"><member>r1@comite.test</member></panel>'.encode(),
                             headers=staff(env)), 422)
    assert [(e["line"], e["path"]) for e in p["errors"]] == [(2, "/panel/@call")], p
    # roles
    problem(requests.post(url + "/api/v1/reviewers", data=reviewer_doc("x@y.test"),
                          headers=xml_headers(env["provA"])), 403)
    problem(requests.get(url + "/api/v1/calls/AAP-REV/panel", headers=auth(env["r1@comite.test"])), 403)
    # the employer conflict was stored with its source
    assert sql(env["db"], "SELECT source, created_by LIKE 'system%%' FROM conflicts c JOIN users u ON u.id = c.user_id "
                          "WHERE u.email = %s", (R5,)) == [("employer", True)]


def test_conflict_declaration(env):
    url = env["url"]
    doc = f'<conflict xmlns="{NS}"><reviewer>r4@comite.test</reviewer><siret>{SIRET_C}</siret><reason>Ancien salarié</reason></conflict>'.encode()
    # a reviewer declares only their own
    problem(requests.post(url + "/api/v1/conflicts", data=doc, headers=xml_headers(env["r1@comite.test"])), 403)
    r = requests.post(url + "/api/v1/conflicts", data=doc, headers=xml_headers(env["r4@comite.test"]))
    assert r.status_code == 201, r.text
    assert requests.post(url + "/api/v1/conflicts", data=doc, headers=xml_headers(env["r4@comite.test"])).status_code == 200
    problem(requests.post(url + "/api/v1/conflicts", data=doc, headers=xml_headers(env["provA"])), 403)
    bad = doc.replace(SIRET_C.encode(), b"12345678901234")
    problem(requests.post(url + "/api/v1/conflicts", data=bad, headers=staff(env)), 422)


def test_assignment_refusals(env):
    url = env["url"]
    problem(requests.post(url + "/api/v1/calls/NOPE-CALL/assignment", headers=auth(env["staff"])), 404)
    r = requests.post(url + "/api/v1/calls", data=call_doc("AAP-EMPTY"), headers=staff(env))
    assert r.status_code == 201
    p = problem(requests.post(url + "/api/v1/calls/AAP-EMPTY/assignment", headers=auth(env["staff"])), 409)
    assert p["type"].endswith("/no-panel")
    requests.put(url + "/api/v1/calls/AAP-EMPTY/panel",
                 data=f'<panel xmlns="{NS}" call="AAP-EMPTY"><member>r1@comite.test</member></panel>'.encode(),
                 headers=staff(env))
    p = problem(requests.post(url + "/api/v1/calls/AAP-EMPTY/assignment", headers=auth(env["staff"])), 422)
    assert p["type"].endswith("/no-eligible")
    problem(requests.post(url + "/api/v1/calls/AAP-REV/assignment", headers=auth(env["provA"])), 403)


def run_assignment(env, ref="AAP-REV"):
    r = requests.post(f"{env['url']}/api/v1/calls/{ref}/assignment", headers=auth(env["staff"]))
    assert r.status_code == 202, r.text
    job = env["url"] + r.headers["Location"]
    j = wait_for(lambda: (lambda x: x if x["state"] in ("done", "failed") else None)(
        requests.get(job, headers=auth(env["staff"])).json()), what="assignment job")
    assert j["state"] == "done", j
    return j["result"]


def test_assignment_is_optimal_and_respects_conflicts(env):
    result = run_assignment(env)
    assert result["filled"] == 6 and result["unfilled"] == 0
    a = requests.get(env["url"] + "/api/v1/calls/AAP-REV/assignments", headers=auth(env["staff"])).json()
    active = [x for x in a["assignments"] if x["state"] == "active"]
    assert len(active) == 6 and a["unfilled"] == 0 and a["diagnosis"] is None
    by_app = {}
    for x in active:
        by_app.setdefault(x["application"], []).append(x["reviewer"])
        assert x["affinity"] == 4  # family and region match for r1..r4
    assert sorted(by_app) == sorted(env["apps"].values())
    assert all(len(v) == 2 for v in by_app.values())
    # never a conflicted pair: r5 not on A (employer), r6 on nothing (e-mail domain), r4 not on C (declared)
    assert R5 not in by_app[env["apps"]["A"]]
    assert all(R6 not in v for v in by_app.values())
    assert "r4@comite.test" not in by_app[env["apps"]["C"]]
    # automatic e-mail-domain conflicts are recorded with their source
    assert sql(env["db"], "SELECT count(*) FROM conflicts c JOIN users u ON u.id = c.user_id "
                          "WHERE u.email = %s AND source = 'email-domain'", (R6,))[0][0] == 3
    # state, audit, notifications, stored run
    assert {s for (s,) in sql(env["db"], "SELECT state FROM applications WHERE call_id = "
                                         "(SELECT id FROM calls WHERE ref='AAP-REV')")} == {"in-review"}
    run = sql(env["db"], "SELECT id, input, input_hash FROM assignment_runs ORDER BY id DESC LIMIT 1")[0]
    assert hashlib.sha256(run[1].encode()).hexdigest() == run[2]
    assert genctl(env["db"], "assignment", "replay", str(run[0])).returncode == 0
    # one notification per reviewer who got seats
    assert sql(env["db"], "SELECT count(*) FROM outbox WHERE kind = 'assignment'")[0][0] == \
        len({x["reviewer"] for x in active})
    # explanation of one pair
    app, rev = active[0]["application"], active[0]["reviewer"]
    x = requests.get(env["url"] + "/api/v1/calls/AAP-REV/assignments/explain",
                     params={"application": app, "reviewer": rev}, headers=auth(env["staff"]))
    assert x.status_code == 200 and x.json()["affinity"] == 4 and x.json()["why"]
    problem(requests.get(env["url"] + "/api/v1/calls/AAP-REV/assignments/explain",
                         params={"application": app, "reviewer": R6}, headers=auth(env["staff"])), 404)
    env["by_app"] = by_app


def test_reviews_visibility_and_rules(env):
    url = env["url"]
    tA = env["apps"]["A"]
    ra, rb = env["by_app"][tA]
    others = [r for r in REVIEWERS if r not in (ra, rb)]
    # an assigned reviewer sees the dossier, an unassigned one does not
    assert requests.get(f"{url}/api/v1/applications/{tA}", headers=auth(env[ra])).status_code == 200
    for o in others:
        if tA not in [t for t, v in env["by_app"].items() if o in v]:
            problem(requests.get(f"{url}/api/v1/applications/{tA}", headers=auth(env[o])), 404)
            problem(requests.put(f"{url}/api/v1/reviews/{tA}", data=review_doc(), headers=xml_headers(env[o])), 404)
            break
    mine = requests.get(url + "/api/v1/reviews", headers=auth(env[ra])).json()["reviews"]
    assert tA in [m["application"] for m in mine]
    # bad reviews
    p = problem(requests.put(f"{url}/api/v1/reviews/{tA}", data=review_doc(scores=(("innovation", 4),)),
                             headers=xml_headers(env[ra])), 422)
    assert any("inclusion" in e["message"] for e in p["errors"])
    p = problem(requests.put(f"{url}/api/v1/reviews/{tA}", data=review_doc(scores=(("innovation", 6), ("inclusion", 7))),
                             headers=xml_headers(env[ra])), 422)
    assert any("innovation" in e["path"] or "innovation" in e["message"] for e in p["errors"])
    assert sql(env["db"], "SELECT count(*) FROM reviews")[0][0] == 0
    # first review
    r = requests.put(f"{url}/api/v1/reviews/{tA}", data=review_doc("fund", scores=(("innovation", 5), ("inclusion", 10))),
                     headers=xml_headers(env[ra]))
    assert r.status_code == 201, r.text
    # the second reviewer cannot see it before submitting their own
    v = requests.get(f"{url}/api/v1/reviews/{tA}", headers=auth(env[rb])).json()
    assert v["othersVisible"] is False and v["reviews"] == []
    r = requests.put(f"{url}/api/v1/reviews/{tA}", data=review_doc("reject", scores=(("innovation", 1), ("inclusion", 2))),
                     headers=xml_headers(env[rb]))
    assert r.status_code == 201, r.text
    v = requests.get(f"{url}/api/v1/reviews/{tA}", headers=auth(env[rb])).json()
    assert v["othersVisible"] is True and len(v["reviews"]) == 2
    # all seats reviewed: the application is 'reviewed'
    assert sql(env["db"], "SELECT state FROM applications WHERE tracking=%s", (tA,))[0][0] == "reviewed"
    # the provider does not see feedback before the decision
    j = requests.get(f"{url}/api/v1/applications/{tA}", headers=auth(env["provA"])).json()
    assert "feedback" not in j


def test_decline_replacement(env):
    url = env["url"]
    tB = env["apps"]["B"]
    r1 = env["by_app"][tB][0]
    others_before = sorted((x["application"], x["reviewer"]) for x in requests.get(
        url + "/api/v1/calls/AAP-REV/assignments", headers=auth(env["staff"])).json()["assignments"]
        if x["state"] == "active" and x["application"] != tB)
    r = requests.post(f"{url}/api/v1/reviews/{tB}/decline", data="Conflit découvert".encode(),
                      headers=auth(env[r1]))
    assert r.status_code == 200, r.text
    rep = r.json()["replacement"]
    assert rep not in (None, r1, R6) and rep not in env["by_app"][tB]
    problem(requests.post(f"{url}/api/v1/reviews/{tB}/decline", headers=auth(env[r1])), 409)
    # no longer assigned: the dossier is no longer theirs to read; the replacement reads it
    problem(requests.get(f"{url}/api/v1/applications/{tB}", headers=auth(env[r1])), 404)
    assert requests.get(f"{url}/api/v1/applications/{tB}", headers=auth(env[rep])).status_code == 200
    after = requests.get(url + "/api/v1/calls/AAP-REV/assignments", headers=auth(env["staff"])).json()
    others_after = sorted((x["application"], x["reviewer"]) for x in after["assignments"]
                          if x["state"] == "active" and x["application"] != tB)
    assert others_after == others_before  # no other assignment moved
    assert sql(env["db"], "SELECT count(*) FROM audit_log WHERE action = 'assignment.decline' AND subject=%s", (tB,))[0][0] == 1


def test_conflict_found_after_assignment_blocks_the_review(env):
    url = env["url"]
    tC = env["apps"]["C"]
    rev = env["by_app"][tC][-1]
    doc = f'<conflict xmlns="{NS}"><reviewer>{rev}</reviewer><siret>{SIRET_C}</siret><reason>Lien familial</reason></conflict>'.encode()
    assert requests.post(url + "/api/v1/conflicts", data=doc, headers=staff(env)).status_code == 201
    # never a conflicted active pair: the seat ends and goes to a replacement at once
    seats = sql(env["db"], "SELECT u.email, x.state, x.origin FROM assignments x JOIN users u ON u.id = x.user_id "
                           "JOIN applications a ON a.id = x.application_id WHERE a.tracking = %s ORDER BY x.id", (tC,))
    assert (rev, "declined", "optimiser") in seats, seats
    active = [e for e, st, _ in seats if st == "active"]
    assert rev not in active and len(active) == 2, seats
    assert sql(env["db"], "SELECT count(*) FROM audit_log WHERE action = 'assignment.decline' AND subject = %s "
                          "AND reason LIKE 'conflict of interest declared%%'", (tC,))[0][0] == 1
    p = problem(requests.put(f"{url}/api/v1/reviews/{tC}", data=review_doc(), headers=xml_headers(env[rev])), 403)
    assert p["type"].endswith("/conflict-of-interest")
    # and the dossier is no longer visible to them
    problem(requests.get(f"{url}/api/v1/applications/{tC}", headers=auth(env[rev])), 404)
    problem(requests.get(f"{url}/api/v1/reviews/{tC}", headers=auth(env[rev])), 404)
    # providers never see reviews
    problem(requests.get(f"{url}/api/v1/reviews/{tC}", headers=auth(env["provC"])), 403)


def test_ranking_and_extra_reviewer(env):
    url = env["url"]
    tA = env["apps"]["A"]
    r = requests.get(url + "/api/v1/calls/AAP-REV/ranking", headers=auth(env["staff"]))
    assert r.status_code == 200, r.text
    rows = r.json()["ranking"]
    a = [x for x in rows if x["application"] == tA][0]
    # T1 = 100*(3*5/5 + 2*10/10)/5 = 100; T2 = 100*(3*1/5 + 2*2/10)/5 = 20; raw mean 60
    assert a["reviews"] == 2 and abs(a["rawScore"] - 60.0) < 1e-9
    assert a["disagreement"] is True and a["aboveThreshold"] is True
    assert set(a) >= {"application", "rank", "rawScore", "calibratedScore", "reviews", "disagreement",
                      "requestedAmount", "withinBudget", "aboveThreshold"}
    csv = requests.get(url + "/api/v1/calls/AAP-REV/ranking?format=csv", headers=auth(env["staff"]))
    assert csv.status_code == 200 and csv.headers["Content-Type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("application,rank,rawScore")
    problem(requests.get(url + "/api/v1/calls/AAP-REV/ranking", headers=auth(env["provA"])), 403)
    # a disagreeing dossier gets one more reviewer with one request
    r = requests.post(url + "/api/v1/calls/AAP-REV/extra-reviewer", params={"application": tA},
                      headers=auth(env["staff"]))
    assert r.status_code == 201, r.text
    assert sql(env["db"], "SELECT state FROM applications WHERE tracking=%s", (tA,))[0][0] == "in-review"


def test_decisions(env):
    url = env["url"]
    tA, tC = env["apps"]["A"], env["apps"]["C"]

    def decisions(items, call="AAP-REV"):
        d = "".join(f'<decision application="{t}" outcome="{o}"{a}><rationale>{why}</rationale></decision>'
                    for t, o, a, why in items)
        return f'<decisions xmlns="{NS}" call="{call}">{d}</decisions>'.encode()

    # an application of another call: nothing recorded
    problem(requests.post(url + "/api/v1/calls/AAP-REV/decisions",
                          data=decisions([(tA, "funded", ' amount="1000.00"', "ok"), ("GEN-2026-999999", "rejected", "", "x")]),
                          headers=staff(env)), 422)
    # labelled does not apply to a project call
    problem(requests.post(url + "/api/v1/calls/AAP-REV/decisions",
                          data=decisions([(tA, "labelled", "", "no")]), headers=staff(env)), 422)
    assert sql(env["db"], "SELECT count(*) FROM decisions")[0][0] == 0
    r = requests.post(url + "/api/v1/calls/AAP-REV/decisions",
                      data=decisions([(tA, "funded", ' amount="120000.00"', "Projet innovant et inclusif."),
                                      (tC, "rejected", "", "Budget insuffisamment détaillé.")]),
                      headers=staff(env))
    assert r.status_code == 200, r.text
    # a second decision on the same application is a state conflict
    problem(requests.post(url + "/api/v1/calls/AAP-REV/decisions",
                          data=decisions([(tA, "rejected", "", "x")]), headers=staff(env)), 409)
    assert sql(env["db"], "SELECT kind FROM programmes WHERE tracking=%s", (tA,)) == [("funded",)]
    assert sql(env["db"], "SELECT count(*) FROM audit_log WHERE action='decision.funded' AND subject=%s "
                          "AND reason='Projet innovant et inclusif.'", (tA,))[0][0] == 1
    # the provider now sees the decision and the reviewers' feedback
    j = requests.get(f"{url}/api/v1/applications/{tA}", headers=auth(env["provA"])).json()
    assert j["state"] == "funded" and j["decision"]["outcome"] == "funded" and "Bon dossier." in j["feedback"]
    # reviews are closed once decided
    ra = env["by_app"][tA][0]
    problem(requests.put(f"{url}/api/v1/reviews/{tA}", data=review_doc(), headers=xml_headers(env[ra])), 409)
    # the decision notification is delivered to the spool as an e-mail
    wait_for(lambda: sql(env["db"], "SELECT count(*) FROM outbox WHERE kind='decision' AND delivered_at IS NOT NULL")[0][0] >= 2,
             what="decision notifications delivered")
    r = requests.get(url + "/api/v1/audit/verify", headers=auth(env["staff"]))
    assert r.json()["ok"] is True


def test_decision_amounts_and_budget(env):
    """The committee funds within the call's budget: an amount only on a
    funded decision, never above the amount requested; a funded decision
    without an amount grants the amount requested; each refusal names its
    decision by line and column, and nothing is recorded. Once decided, the
    dossier takes no replacement reviewer and its run cannot be undone."""
    url, db = env["url"], env["db"]
    r = requests.post(url + "/api/v1/calls", data=call_doc("AAP-BUDGET", budget="200000.00"), headers=staff(env))
    assert r.status_code == 201, r.text
    requests.put(url + "/api/v1/calls/AAP-BUDGET/panel",
                 data=f'<panel xmlns="{NS}" call="AAP-BUDGET"><member>r1@comite.test</member>'
                      f'<member>r2@comite.test</member></panel>'.encode(), headers=staff(env))
    ts = []
    for tok, siret in (("provB", SIRET_B), ("provC", SIRET_C)):
        r = requests.post(url + "/api/v1/calls/AAP-BUDGET/applications", data=application("AAP-BUDGET", siret=siret),
                          headers=xml_headers(env[tok]))
        assert r.status_code == 201, r.text
        ts.append(parse_receipt(r.content)["tracking"])
    for t in ts:
        wait_for(lambda: sql(db, "SELECT state FROM applications WHERE tracking=%s", (t,))[0][0] == "eligible",
                 what="screening")
    run = run_assignment(env, "AAP-BUDGET")["run"]
    t1, t2 = ts

    def post(*items):
        # one decision per line: the first on line 2
        d = "".join(f'\n  <decision application="{t}" outcome="{o}"{a}><rationale>Motif</rationale></decision>'
                    for t, o, a in items)
        return requests.post(url + "/api/v1/calls/AAP-BUDGET/decisions",
                             data=f'<decisions xmlns="{NS}" call="AAP-BUDGET">{d}\n</decisions>'.encode(),
                             headers=staff(env))

    def refused(r, line, words):
        p = problem(r, 422)
        # the element's path, indexed when it has siblings of its name
        assert [(e["line"], e["column"] > 0, e["path"].split("[")[0]) for e in p["errors"]] == \
            [(line, True, "/decisions/decision")], p
        assert p["errors"][0]["path"] in ("/decisions/decision", f"/decisions/decision[{line - 1}]"), p
        assert all(w in p["errors"][0]["message"] for w in words), p
        assert sql(db, "SELECT count(*) FROM decisions d JOIN applications a ON a.id = d.application_id "
                       "WHERE a.tracking IN %s", (tuple(ts),))[0][0] == 0

    refused(post((t1, "rejected", ""), (t2, "rejected", ' amount="10.00"')), 3, ["amount", "rejected"])
    refused(post((t1, "funded", ' amount="135000.01"')), 2, ["135000.01", "135000.00", t1])
    # 135,000 + 135,000 requested (no amounts given) > 200,000
    refused(post((t1, "funded", ""), (t2, "funded", "")), 3, ["270000.00", "200000.00"])
    r = post((t1, "funded", ""))
    assert r.status_code == 200, r.text
    assert sql(db, "SELECT d.amount_cents FROM decisions d JOIN applications a ON a.id = d.application_id "
                   "WHERE a.tracking = %s", (t1,)) == [(13500000,)]
    assert sql(db, "SELECT detail FROM audit_log WHERE action = 'decision.funded' AND subject = %s", (t1,)) == \
        [("13500000",)]
    # 65,000.01 more would pass the budget by one cent; 65,000 meets it exactly
    p = problem(post((t2, "funded", ' amount="65000.01"')), 422)
    assert [e["line"] for e in p["errors"]] == [2] and "200000.01" in p["errors"][0]["message"], p
    assert sql(db, "SELECT count(*) FROM decisions d JOIN applications a ON a.id = d.application_id "
                   "WHERE a.tracking = %s", (t2,))[0][0] == 0
    # decided: no decline (so no replacement), no undo of its run
    rev = sql(db, "SELECT u.email FROM assignments x JOIN users u ON u.id = x.user_id "
                  "JOIN applications a ON a.id = x.application_id WHERE a.tracking = %s AND x.state = 'active' "
                  "ORDER BY u.email LIMIT 1", (t1,))[0][0]
    p = problem(requests.post(f"{url}/api/v1/reviews/{t1}/decline", headers=auth(env[rev])), 409)
    assert p["type"].endswith("/decided"), p
    assert sql(db, "SELECT count(*) FROM assignments x JOIN applications a ON a.id = x.application_id "
                   "WHERE a.tracking = %s AND x.origin = 'replacement'", (t1,))[0][0] == 0
    p = problem(requests.post(f"{url}/api/v1/assignment-runs/{run}/undo", headers=auth(env["staff"])), 409)
    assert p["type"].endswith("/decided"), p
    assert sql(db, "SELECT count(*) FROM assignments WHERE run_id = %s AND state = 'undone'", (run,))[0][0] == 0
    r = post((t2, "funded", ' amount="65000.00"'))
    assert r.status_code == 200, r.text


def test_undo_run(env):
    url = env["url"]
    r = requests.post(url + "/api/v1/calls", data=call_doc("AAP-UNDO"), headers=staff(env))
    assert r.status_code == 201
    requests.put(url + "/api/v1/calls/AAP-UNDO/panel",
                 data=f'<panel xmlns="{NS}" call="AAP-UNDO"><member>r1@comite.test</member><member>r2@comite.test</member></panel>'.encode(),
                 headers=staff(env))
    r = requests.post(url + "/api/v1/calls/AAP-UNDO/applications", data=application("AAP-UNDO", siret=SIRET_B),
                      headers=xml_headers(env["provB"]))
    t = parse_receipt(r.content)["tracking"]
    wait_for(lambda: sql(env["db"], "SELECT state FROM applications WHERE tracking=%s", (t,))[0][0] == "eligible",
             what="screening")
    result = run_assignment(env, "AAP-UNDO")
    run = result["run"]
    r = requests.post(f"{url}/api/v1/assignment-runs/{run}/undo", headers=auth(env["staff"]))
    assert r.status_code == 200, r.text
    assert sql(env["db"], "SELECT state FROM applications WHERE tracking=%s", (t,))[0][0] == "eligible"
    assert sql(env["db"], "SELECT count(*) FROM assignments WHERE run_id=%s AND state='active'", (run,))[0][0] == 0
    problem(requests.post(f"{url}/api/v1/assignment-runs/{run}/undo", headers=auth(env["staff"])), 409)
    problem(requests.post(f"{url}/api/v1/assignment-runs/999999/undo", headers=auth(env["staff"])), 404)


def test_label_validity_and_expiry(env):
    url = env["url"]
    r = requests.post(url + "/api/v1/calls", data=call_doc("LABEL-REV", kind="label", max_request=None),
                      headers=staff(env))
    assert r.status_code == 201, r.text
    requests.put(url + "/api/v1/calls/LABEL-REV/panel",
                 data=f'<panel xmlns="{NS}" call="LABEL-REV"><member>r1@comite.test</member><member>r2@comite.test</member></panel>'.encode(),
                 headers=staff(env))
    ts = []
    for siret, tok in ((SIRET_B, "provB"), (SIRET_C, "provC")):
        r = requests.post(url + "/api/v1/calls/LABEL-REV/applications",
                          data=application("LABEL-REV", siret=siret, kind="labelApplication"),
                          headers=xml_headers(env[tok]))
        assert r.status_code == 201, r.text
        ts.append(parse_receipt(r.content)["tracking"])
    for t in ts:
        wait_for(lambda: sql(env["db"], "SELECT state FROM applications WHERE tracking=%s", (t,))[0][0] == "eligible",
                 what="screening")
    run_assignment(env, "LABEL-REV")
    d = "".join(f'<decision application="{t}" outcome="labelled"><rationale>Label accordé.</rationale></decision>'
                for t in ts)
    r = requests.post(url + "/api/v1/calls/LABEL-REV/decisions",
                      data=f'<decisions xmlns="{NS}" call="LABEL-REV">{d}</decisions>'.encode(), headers=staff(env))
    assert r.status_code == 200, r.text
    rows = sql(env["db"], "SELECT tracking, valid_until - valid_from FROM programmes WHERE kind='labelled' ORDER BY tracking")
    assert [t for t, _ in rows] == sorted(ts) and all(1095 <= days <= 1096 for _, days in rows)
    # one label has passed its validity, the other expires within 60 days
    sql(env["db"], "UPDATE programmes SET valid_until = current_date - 1 WHERE tracking = %s", (ts[0],))
    sql(env["db"], "UPDATE programmes SET valid_until = current_date + 30 WHERE tracking = %s", (ts[1],))
    # today's daily job (the worker schedules it; run it again now)
    sql(env["db"], "INSERT INTO jobs (kind, payload) VALUES ('label_expiry', jsonb_build_object('day', current_date::text)) "
                   "ON CONFLICT (kind, (payload->>'day')) WHERE kind = 'label_expiry' DO NOTHING")
    sql(env["db"], "UPDATE jobs SET state='queued', run_at=now(), attempts=0 WHERE kind='label_expiry'; "
                   "NOTIFY gen_jobs")
    wait_for(lambda: sql(env["db"], "SELECT state FROM applications WHERE tracking=%s", (ts[0],))[0][0] == "expired",
             what="label expiry")
    assert sql(env["db"], "SELECT state FROM programmes WHERE tracking=%s", (ts[0],)) == [("expired",)]
    assert sql(env["db"], "SELECT count(*) FROM outbox WHERE kind='label-expired'")[0][0] == 1
    assert sql(env["db"], "SELECT count(*) FROM outbox WHERE kind='label-expiry-soon'")[0][0] == 1
    assert sql(env["db"], "SELECT count(*) FROM audit_log WHERE subject=%s AND detail='labelled->expired'",
               (ts[0],))[0][0] == 1


def cohort_report(programme, code, women, total=20):
    learners = "".join(
        f'<learner ref="L{i:03d}" gender="{"F" if i < women else "M"}" birthYear="1998" qualification="4" '
        f'priorityArea="true" rural="false" jobSeeker="true" region="32" status="enrolled"/>'
        for i in range(total))
    return (f'<cohortReport xmlns="{NS}" programme="{programme}" cohort="{code}"><startDate>2026-01-05</startDate>'
            f"<endDate>2026-09-30</endDate><plannedSeats>24</plannedSeats><region>32</region>{learners}"
            f"</cohortReport>").encode()


def run_alerts(env):
    sql(env["db"], "INSERT INTO jobs (kind, payload) VALUES ('outcome_alerts', jsonb_build_object('day', current_date::text)) "
                   "ON CONFLICT (kind, (payload->>'day')) WHERE kind = 'outcome_alerts' DO NOTHING")
    sql(env["db"], "UPDATE jobs SET state='queued', run_at=now(), attempts=0, result=NULL WHERE kind='outcome_alerts'; "
                   "NOTIFY gen_jobs")
    wait_for(lambda: sql(env["db"], "SELECT state = 'done' AND result IS NOT NULL FROM jobs WHERE kind='outcome_alerts'")[0][0],
             what="alerts job")


def test_outcome_alerts(env):
    url = env["url"]
    tA = env["apps"]["A"]  # funded in test_decisions; its commitment: 40 % women
    r = requests.put(f"{url}/api/v1/programmes/{tA}/cohorts/C1", data=cohort_report(tA, "C1", women=2),
                     headers=xml_headers(env["provA"]))
    assert r.status_code == 201, r.text
    run_alerts(env)
    alerts = requests.get(url + "/api/v1/dashboard/alerts", headers=auth(env["staff"])).json()["alerts"]
    women = [a for a in alerts if a["programme"] == tA and a["metric"] == "women"]
    assert len(women) == 1 and float(women[0]["value"]) == 10.0 and float(women[0]["target"]) == 40.0
    assert sql(env["db"], "SELECT count(*) FROM outbox WHERE kind='outcome-alert' AND recipient='a@orga.test'")[0][0] >= 1
    # running again does not open a second alert or notify again
    n = sql(env["db"], "SELECT count(*) FROM outbox WHERE kind='outcome-alert'")[0][0]
    run_alerts(env)
    assert sql(env["db"], "SELECT count(*) FROM outbox WHERE kind='outcome-alert'")[0][0] == n
    # a corrected report brings the figure back: the alert closes
    r = requests.put(f"{url}/api/v1/programmes/{tA}/cohorts/C1", data=cohort_report(tA, "C1", women=12),
                     headers=xml_headers(env["provA"]))
    assert r.status_code == 200 and r.json()["version"] == 2
    run_alerts(env)
    alerts = requests.get(url + "/api/v1/dashboard/alerts", headers=auth(env["staff"])).json()["alerts"]
    assert not [a for a in alerts if a["programme"] == tA and a["metric"] == "women"]
    problem(requests.get(url + "/api/v1/dashboard/alerts", headers=auth(env["provA"])), 403)


def test_import_cohorts(env, tmp_path):
    tA = env["apps"]["A"]
    (tmp_path / "a.xml").write_bytes(cohort_report(tA, "IMP-1", women=9, total=30))
    (tmp_path / "b.xml").write_bytes(cohort_report(tA, "IMP-2", women=15, total=20))
    (tmp_path / "c.xml").write_bytes(cohort_report(tA, "IMP-3", women=1, total=5).replace(b'ref="L001"', b'ref="L000"'))
    (tmp_path / "notes.txt").write_text("ignored")
    # genctl uses the server's pseudonym key, so refs map to the same pseudonyms
    key = {"GEN_PSEUDONYM_KEY": env["pkey"]}
    r = genctl(env["db"], "import", "cohorts", str(tmp_path), check=False, extra_env=key)
    assert r.returncode == 1, r.stderr
    assert "c.xml" in r.stderr and "L000" in r.stderr  # the duplicate ref, named
    assert "imported 2 of 3 files, 50 learners" in r.stdout
    rows = sql(env["db"], "SELECT code, version, learners, women FROM cohorts WHERE programme=%s AND code LIKE 'IMP-%%' "
                          "ORDER BY code", (tA,))
    assert rows == [("IMP-1", 1, 30, 9), ("IMP-2", 1, 20, 15)]
    # safe to re-run: nothing changes
    r = genctl(env["db"], "import", "cohorts", str(tmp_path), check=False, extra_env=key)
    assert sql(env["db"], "SELECT code, version FROM cohorts WHERE programme=%s AND code LIKE 'IMP-%%' ORDER BY code",
               (tA,)) == [("IMP-1", 1), ("IMP-2", 1)]
    assert sql(env["db"], "SELECT count(*) FROM cohort_reports cr JOIN cohorts c ON c.id = cr.cohort_id "
                          "WHERE c.code LIKE 'IMP-%%'")[0][0] == 2
