"""Black-box tests of outcome tracking (DESIGN §3, §4 cohortReport, §6):
cohort reports of funded and labelled programmes, their versions, the
pseudonymisation of learner refs, and every figure of the outcomes dashboard
recomputed here, independently, from the raw learners that were sent.

Set-up: two providers (A, B), a project call AAP-OUT with targets and a label
call LAB-OUT with other targets; three programmes in three families:
  P1  A  AAP-OUT  development      funded    (commitments 40 / 35.5 / 60 / 70.0)
  P2  B  AAP-OUT  data-ai-iot      funded    (commitments 45 / 25.5 / 50 / 66.7)
  P3  A  LAB-OUT  infrastructure   labelled  (commitments 35 / 40 / 65 / 72.5)
Eight cohorts in seven regions and two years; cohort C1 is reported three times
(enrolment, exits, outcomes) and its first version had another year, region
and seats, which must leave no trace in the figures.

A few counts are fixed on purpose so that the exact comparisons of §6 are
exercised on their edges: P1's women share is exactly 40.0 % (its commitment:
met at equality), AAP-OUT's priority-area share is exactly 15.0 % (target 20:
"near" at exactly 5 points below), P2's positive-outcome rate is 2/3
(66.666...% shown as 66.7 but "near" its commitment of 66.7, because statuses
compare the exact value), cohort C5 has 16 learners so that odd counts give
half-way cases (k/16 = x.x25 or x.x75 %, rounded half away from zero), and
C7 has exactly 10 learners of whom exactly 9 exited (both sides of the
privacy threshold). C8 is the largest report allowed (5,000 learners)."""
import csv
import hashlib
import hmac
import io
import os
import random
import re
import threading
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from xml.sax.saxutils import quoteattr

import pytest
import requests

from conftest import ROOT, genctl, sql, wait_for
from gen import NS, SIRET_A, SIRET_B, account, application, auth, call_doc, parse_receipt, problem, xml_headers

PUT_PATH = "/api/v1/programmes/{}/cohorts/{}"
DASH = "/api/v1/dashboard/outcomes"

POSITIVE = ("employed-permanent", "employed-fixed-term", "work-study", "business-creation", "further-training")
NOT_POSITIVE = ("job-seeking", "inactive")
OUTCOME_KINDS = POSITIVE + NOT_POSITIVE + ("unknown",)
QUALIFICATIONS = ("none", "3", "4", "5", "6", "7", "8")
LOW_QUALIFICATION = ("none", "3", "4")
REGIONS = ("01", "02", "03", "04", "06", "11", "24", "27", "28", "32", "44", "52", "53", "75", "76", "84", "93", "94")

# FIGURES, in the order of DESIGN §6.
FIGURE_NAMES = ("fillRate", "womenShare", "priorityAreaShare", "lowQualificationShare", "ruralShare",
                "jobSeekerShare", "dropoutRate", "positiveOutcomeRate", "positiveOutcomeRateAllExits",
                "outcomeCoverage", "averageDurationMonths")
# Which figure each target metric is checked against (positive-outcome: the
# rate over reported outcomes).
METRIC_FIGURE = {"women": "womenShare", "priority-area": "priorityAreaShare",
                 "low-qualification": "lowQualificationShare", "positive-outcome": "positiveOutcomeRate",
                 "fill-rate": "fillRate"}
NATIONAL_TARGETS = {"women": "30", "positive-outcome": "70"}

CALL_TARGETS = {
    "AAP-OUT": {"women": "30", "positive-outcome": "60", "priority-area": "20", "fill-rate": "80"},
    "LAB-OUT": {"women": "25", "low-qualification": "50", "positive-outcome": "65"},
}
# Commitments of each programme's application document (the programme's targets).
COMMITMENTS = {
    "P1": {"women": "40", "priority-area": "35.5", "low-qualification": "60", "positive-outcome": "70.0"},
    "P2": {"women": "45", "priority-area": "25.5", "low-qualification": "50", "positive-outcome": "66.7"},
    "P3": {"women": "35", "priority-area": "40", "low-qualification": "65", "positive-outcome": "72.5"},
}
PROGRAMMES = {  # key: (provider, siret, call, family)
    "P1": ("provA", SIRET_A, "AAP-OUT", "development"),
    "P2": ("provB", SIRET_B, "AAP-OUT", "data-ai-iot"),
    "P3": ("provA", SIRET_A, "LAB-OUT", "infrastructure"),
}
REVIEWERS = ("ro1@comite.test", "ro2@comite.test")


def utc_today():
    # The server's "today" is the UTC calendar day; it can only be later.
    return datetime.now(timezone.utc).date()


# ---------------------------------------------------------------------------
# Exact arithmetic of DESIGN §6

def round1(x):
    """A non-negative rational rounded half away from zero to one decimal,
    as an exact Decimal."""
    assert x >= 0
    t = x * 10
    n = t.numerator // t.denominator
    if (t - n) * 2 >= 1:
        n += 1
    return Decimal(n) / Decimal(10)


def is_half_way(x):
    """True when x (a percentage) lies exactly half-way between two tenths."""
    return (x * 100) % 10 == 5 and (x * 100).denominator == 1


COUNT_KEYS = ("learners", "cohorts", "plannedSeats", "women", "priorityArea", "lowQualification", "rural",
              "jobSeeker", "dropped", "exited", "outcomeReported", "positive", "durationDays")


def cohort_counts(cohort):
    v = cohort["final"]
    c = dict.fromkeys(COUNT_KEYS, 0)
    c["cohorts"] = 1
    c["plannedSeats"] = v["seats"]
    c["durationDays"] = (v["end"] - v["start"]).days
    for l in v["learners"]:
        exited = l["status"] in ("completed", "dropped")
        c["learners"] += 1
        c["women"] += l["gender"] == "F"
        c["priorityArea"] += l["priorityArea"]
        c["lowQualification"] += l["qualification"] in LOW_QUALIFICATION
        c["rural"] += l["rural"]
        c["jobSeeker"] += l["jobSeeker"]
        c["dropped"] += l["status"] == "dropped"
        c["exited"] += exited
        if exited and l["outcome"] is not None and l["outcome"][0] != "unknown":
            c["outcomeReported"] += 1
            c["positive"] += l["outcome"][0] in POSITIVE
    return c


# figure: (numerator, denominator, of learners (suppressible))
RATIOS = {
    "fillRate": ("learners", "plannedSeats", False),
    "womenShare": ("women", "learners", True),
    "priorityAreaShare": ("priorityArea", "learners", True),
    "lowQualificationShare": ("lowQualification", "learners", True),
    "ruralShare": ("rural", "learners", True),
    "jobSeekerShare": ("jobSeeker", "learners", True),
    "dropoutRate": ("dropped", "learners", True),
    "positiveOutcomeRate": ("positive", "outcomeReported", True),
    "positiveOutcomeRateAllExits": ("positive", "exited", True),
    "outcomeCoverage": ("outcomeReported", "exited", True),
}

# What the expectations exercised, to show the edges were reached.
SEEN = {"status": set(), "half_way": 0, "suppressed": 0, "null_status": 0}


def figures(counts, targets):
    """FIGURES of summed counts, with targets {metric: "n"}."""
    out = {"learners": counts["learners"], "cohorts": counts["cohorts"], "plannedSeats": counts["plannedSeats"]}
    exact, suppressed = {}, []
    for name, (num, den, of_learners) in RATIOS.items():
        n, d = counts[num], counts[den]
        if of_learners and d < 10:
            out[name] = None
            suppressed.append(name)
            SEEN["suppressed"] += 1
        elif d == 0:
            out[name] = None
        else:
            exact[name] = Fraction(100 * n, d)
            out[name] = round1(exact[name])
            SEEN["half_way"] += is_half_way(exact[name])
    if counts["cohorts"] == 0:
        out["averageDurationMonths"] = None
    else:
        # mean over cohorts of days / 30.4375
        out["averageDurationMonths"] = round1(Fraction(counts["durationDays"], counts["cohorts"]) /
                                              Fraction("30.4375"))
    tg = {}
    for metric, t in targets.items():
        value = exact.get(METRIC_FIGURE[metric])
        target = Fraction(t)
        if value is None:
            status = None
            SEEN["null_status"] += 1
        elif value >= target:
            status = "met"
        elif value >= target - 5:
            status = "near"
        else:
            status = "below"
        SEEN["status"].add(status)
        tg[metric] = {"target": Decimal(t), "status": status}
    out["targets"] = tg
    out["suppressed"] = suppressed
    return out


def add_counts(a, b):
    return {k: a[k] + b[k] for k in COUNT_KEYS}


GROUP_ATTR = {"year": "year", "region": "region", "family": "family", "call": "call",
              "provider": "siret", "programme": "programme"}
FILTER_ATTR = dict(GROUP_ATTR)


def expected(env, params):
    """The dashboard's JSON as DESIGN §6 defines it, from the raw learners."""
    selected = [c for c in env["cohorts"].values()
                if all(str(c["meta"][FILTER_ATTR[k]]) == v for k, v in params.items() if k in FILTER_ATTR)]
    if "programme" in params:
        key = [k for k, t in env["programmes"].items() if t == params["programme"]]
        targets = COMMITMENTS[key[0]] if key else {}
    elif "call" in params:
        targets = CALL_TARGETS.get(params["call"], {})
    else:
        targets = NATIONAL_TARGETS
    zero = dict.fromkeys(COUNT_KEYS, 0)
    total = zero
    groups = {}
    for c in selected:
        cc = cohort_counts(c)
        total = add_counts(total, cc)
        if "group_by" in params:
            g = str(c["meta"][GROUP_ATTR[params["group_by"]]])
            groups[g] = add_counts(groups.get(g, zero), cc)
    return {"total": figures(total, targets),
            "groups": [dict(group=g, **figures(groups[g], targets)) for g in sorted(groups)]}


def normalise(doc):
    """Suppressed lists compared as sorted lists (their order is not part of
    the contract; their contents are)."""
    def one(f):
        f = dict(f)
        if isinstance(f.get("suppressed"), list):
            f["suppressed"] = sorted(f["suppressed"])
        return f
    return {"total": one(doc["total"]), "groups": [one(g) for g in doc["groups"]]}


def dashboard(env, params, token=None):
    return requests.get(env["url"] + DASH, params=params, headers=auth(token or env["staff"]), timeout=10)


# ---------------------------------------------------------------------------
# Documents

def reviewer_doc(email):
    return (f'<reviewer xmlns="{NS}"><email>{email}</email><name>{email.split("@")[0]}</name>'
            f"<family>development</family><family>data-ai-iot</family><family>infrastructure</family>"
            f"<region>32</region><maxLoad>20</maxLoad></reviewer>").encode()


def set_element(text, name, value):
    new, n = re.subn(rf"<{name}>[^<]*</{name}>", f"<{name}>{value}</{name}>", text, count=1)
    assert n == 1, name
    return new


def programme_application(key):
    prov, siret, call, family = PROGRAMMES[key]
    kind = "labelApplication" if call == "LAB-OUT" else "projectApplication"
    text = application(call, siret=siret, kind=kind, title=f"Programme {key}").decode("utf-8")
    com = COMMITMENTS[key]
    text = set_element(text, "family", family)
    text = set_element(text, "womenPercent", com["women"])
    text = set_element(text, "priorityAreaPercent", com["priority-area"])
    text = set_element(text, "lowQualificationPercent", com["low-qualification"])
    text = set_element(text, "positiveOutcomePercent", com["positive-outcome"])
    return text.encode("utf-8")


def learner_xml(l):
    attrs = [("ref", l["ref"]), ("gender", l["gender"]), ("birthYear", str(l["birthYear"])),
             ("qualification", l["qualification"]), ("priorityArea", "true" if l["priorityArea"] else "false"),
             ("rural", "true" if l["rural"] else "false"), ("jobSeeker", "true" if l["jobSeeker"] else "false"),
             ("region", l["region"]), ("status", l["status"])]
    if l["exitDate"] is not None:
        attrs.append(("exitDate", l["exitDate"].isoformat()))
    if l.get("qpvCode"):
        attrs.append(("qpvCode", l["qpvCode"]))
    a = " ".join(f"{k}={quoteattr(v)}" for k, v in attrs)
    if l["outcome"] is None:
        return f"  <learner {a}/>\n"
    kind, at = l["outcome"]
    return f'  <learner {a}>\n    <outcome kind="{kind}" at="{at.isoformat()}"/>\n  </learner>\n'


def report_doc(programme, code, v, learners=None):
    body = "".join(learner_xml(l) for l in (v["learners"] if learners is None else learners))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<cohortReport xmlns="{NS}" programme="{programme}" cohort="{code}">\n'
            f'  <startDate>{v["start"].isoformat()}</startDate>\n  <endDate>{v["end"].isoformat()}</endDate>\n'
            f'  <plannedSeats>{v["seats"]}</plannedSeats>\n  <region>{v["region"]}</region>\n'
            f"{body}</cohortReport>\n").encode("utf-8")


# ---------------------------------------------------------------------------
# Seeded learners

def new_learner(rng, ref, home_region, woman, priority):
    gender = "F" if woman else rng.choice("MMMX")
    q = rng.choice(QUALIFICATIONS)
    l = {"ref": ref, "gender": gender, "birthYear": rng.randint(1966, 2008), "qualification": q,
         "priorityArea": priority, "rural": (not priority) and rng.random() < 0.3,
         "jobSeeker": rng.random() < 0.75,
         "region": home_region if rng.random() < 0.8 else rng.choice(REGIONS),
         "status": "enrolled", "exitDate": None, "outcome": None, "qpvCode": None}
    if priority and rng.random() < 0.6:
        l["qpvCode"] = "Q" + rng.choice("NP") + "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ")
                                                      for _ in range(rng.randint(5, 8)))
    return l


def enrol(rng, tag, n, women, priority, home_region, special_refs=()):
    """n enrolled learners; exactly `women` women and `priority` from
    priority areas, in random positions; unique, distinctive refs."""
    w = [True] * women + [False] * (n - women)
    p = [True] * priority + [False] * (n - priority)
    rng.shuffle(w)
    rng.shuffle(p)
    refs = list(special_refs) + [f"lrn-{tag}-{rng.getrandbits(40):010x}-{i:03d}" for i in range(n - len(special_refs))]
    return [new_learner(rng, refs[i], home_region, w[i], p[i]) for i in range(n)]


def exits(rng, learners, start, end, completed, dropped, today):
    """The first `completed` + `dropped` learners (in a shuffled order) exit.
    Completed ones leave at the cohort's end (or earlier when it is still
    running), dropped ones at a random day; one exits on the start day and,
    for a running cohort, one on today's date (both bounds are inclusive)."""
    last = min(end, today)
    order = list(range(len(learners)))
    rng.shuffle(order)
    for j, i in enumerate(order[:completed + dropped]):
        l = learners[i]
        if j < completed:
            l["status"] = "completed"
            l["exitDate"] = last if rng.random() < 0.8 else start + timedelta(days=rng.randint(0, (last - start).days))
        else:
            l["status"] = "dropped"
            l["exitDate"] = start + timedelta(days=rng.randint(0, (last - start).days))
    ex = [learners[i] for i in order[:completed + dropped]]
    if ex:
        ex[-1]["exitDate"] = start
    if len(ex) > 1 and end >= today:
        ex[0]["exitDate"] = today
    return ex


def outcomes(rng, exited, kinds):
    """Give the exited learners these outcome kinds (None: not reported),
    dated on or after the exit (one on the exit day itself)."""
    assert len(kinds) == len(exited)
    kinds = list(kinds)
    rng.shuffle(kinds)
    for j, (l, k) in enumerate(zip(exited, kinds)):
        if k is None:
            l["outcome"] = None
        else:
            l["outcome"] = (k, l["exitDate"] + timedelta(days=0 if j == 0 else rng.randint(1, 200)))


def random_kinds(rng, n):
    return [None if rng.random() < 0.12 else rng.choice(OUTCOME_KINDS) for _ in range(n)]


def clone(learners):
    return [dict(l) for l in learners]


def build_cohorts(rng, today):
    """The reports to send: {key: {"programme", "code", "versions": [...]}};
    the last version of each cohort is the one that counts."""
    C = {}
    # C1: P1, three versions. v1 (enrolment) was sent with a wrong start (2024),
    # region and seats; v2 corrects them and reports exits (three learners
    # removed, one late enrolment), v3 adds the outcomes.
    v1_learners = enrol(rng, "c1", 26, women=11, priority=4, home_region="32")
    v1 = {"start": date(2024, 12, 2), "end": date(2025, 7, 4), "seats": 28, "region": "44",
          "learners": v1_learners}
    kept = clone(v1_learners)
    removed = ([l for l in kept if l["gender"] == "F" and not l["priorityArea"]][:1] +
               [l for l in kept if l["gender"] != "F" and not l["priorityArea"]][:2])
    kept = [l for l in kept if l not in removed]
    late = enrol(rng, "c1late", 1, women=0, priority=0, home_region="32")
    # 26 - 3 + 1 = 24 learners; women 11 - 1 = 10; priority-area 4
    v2_learners = kept + late
    start2, end2 = date(2025, 1, 6), date(2025, 8, 29)
    exits(rng, v2_learners, start2, end2, completed=18, dropped=4, today=today)
    v2 = {"start": start2, "end": end2, "seats": 30, "region": "32", "learners": v2_learners}
    v3_learners = clone(v2_learners)
    ex3 = [l for l in v3_learners if l["status"] != "enrolled"]
    outcomes(rng, ex3,
             ["employed-permanent"] * 6 + ["employed-fixed-term"] * 3 + ["work-study", "further-training",
              "business-creation"] + ["job-seeking"] * 3 + ["inactive", "unknown", "unknown"] + [None] * 4)
    v3 = {"start": start2, "end": end2, "seats": 30, "region": "32", "learners": v3_learners}
    C["C1"] = {"programme": "P1", "code": "P1-2025-RBX", "versions": [v1, v2, v3], "removed": removed}

    # C2: P1, 2026, Paris region; refs that differ only in case, two refs of
    # 64 characters (4-byte UTF-8) that differ only in their last one.
    special = ["ref-Case-Pair-5d1c", "REF-CASE-PAIR-5D1C",
               "\U0001D53E" * 63 + "a", "\U0001D53E" * 63 + "b"]
    l2 = enrol(rng, "c2", 16, women=6, priority=2, home_region="11", special_refs=special)
    s, e = date(2026, 1, 12), date(2026, 9, 25)
    ex = exits(rng, l2, s, e, completed=11, dropped=3, today=today)
    outcomes(rng, ex, random_kinds(rng, len(ex)))
    C["C2"] = {"programme": "P1", "code": "P1-2026-PAR", "versions": [{"start": s, "end": e, "seats": 20,
                                                                       "region": "11", "learners": l2}]}

    # C3 and C4: P2. Outcomes fixed over the programme: 8 positive of 12
    # reported (2/3), plus unknown and missing ones.
    l3 = enrol(rng, "c3", 13, women=5, priority=2, home_region="93",
               special_refs=["Élève-Ω-Marseille-0042"])
    s3, e3 = date(2025, 9, 1), date(2026, 4, 30)
    ex3 = exits(rng, l3, s3, e3, completed=10, dropped=3, today=today)
    l4 = enrol(rng, "c4", 7, women=4, priority=1, home_region="11")
    s4, e4 = date(2026, 3, 2), max(date(2026, 12, 18), today + timedelta(days=30))
    ex4 = exits(rng, l4, s4, e4, completed=0, dropped=4, today=today)
    kinds = (["employed-permanent"] * 3 + ["work-study"] * 2 + ["further-training", "business-creation",
             "employed-fixed-term"] + ["job-seeking"] * 3 + ["inactive"] + ["unknown"] * 2 + [None] * 3)
    rng.shuffle(kinds)
    outcomes(rng, ex3, kinds[:len(ex3)])
    outcomes(rng, ex4, kinds[len(ex3):])
    C["C3"] = {"programme": "P2", "code": "P2-2025-MRS", "versions": [{"start": s3, "end": e3, "seats": 25,
                                                                       "region": "93", "learners": l3}]}
    C["C4"] = {"programme": "P2", "code": "P2-2026-PAR.s", "versions": [{"start": s4, "end": e4, "seats": 12,
                                                                         "region": "11", "learners": l4}]}

    # C5: P3, 16 learners (half-way cases); C6: P3, a cohort without learners.
    l5 = enrol(rng, "c5", 16, women=5, priority=3, home_region="32")
    s5, e5 = date(2025, 3, 3), date(2025, 11, 28)
    ex = exits(rng, l5, s5, e5, completed=13, dropped=3, today=today)
    outcomes(rng, ex, random_kinds(rng, len(ex)))
    C["C5"] = {"programme": "P3", "code": "P3-2025-LIL", "versions": [{"start": s5, "end": e5, "seats": 16,
                                                                       "region": "32", "learners": l5}]}
    s6 = date(2026, 9, 7)
    C["C6"] = {"programme": "P3", "code": "P3-2026_ROU", "versions": [{"start": s6, "end": date(2027, 6, 25),
                                                                       "seats": 14, "region": "28",
                                                                       "learners": []}]}
    # C7: P3, exactly 10 learners (published) of whom exactly 9 exited
    # (figures over exits suppressed): both sides of the privacy threshold.
    l7 = enrol(rng, "c7", 10, women=4, priority=2, home_region="76")
    s7, e7 = date(2026, 1, 5), date(2026, 6, 26)
    ex = exits(rng, l7, s7, e7, completed=6, dropped=3, today=today)
    outcomes(rng, ex, ["employed-permanent", "work-study", "job-seeking", "unknown", None,
                       "employed-fixed-term", "inactive", "further-training", "employed-permanent"])
    C["C7"] = {"programme": "P3", "code": "P3-2026-ROUEN-1", "versions": [{"start": s7, "end": e7, "seats": 12,
                                                                           "region": "76", "learners": l7}]}
    # C8: P3, the largest report the schema allows (5,000 learners).
    l8 = enrol(rng, "max5000", 5000, women=1320, priority=950, home_region="84")
    s8, e8 = date(2025, 6, 2), date(2026, 2, 27)
    ex = exits(rng, l8, s8, e8, completed=3100, dropped=640, today=today)
    outcomes(rng, ex, random_kinds(rng, len(ex)))
    C["C8"] = {"programme": "P3", "code": "P3-2025-LYON-MAX", "versions": [{"start": s8, "end": e8, "seats": 5200,
                                                                            "region": "84", "learners": l8}]}
    return C


# ---------------------------------------------------------------------------
# Fixtures

def run_assignment(url, staff, ref):
    r = requests.post(f"{url}/api/v1/calls/{ref}/assignment", headers=auth(staff))
    assert r.status_code == 202, r.text
    job = url + r.headers["Location"]
    j = wait_for(lambda: (lambda x: x if x["state"] in ("done", "failed") else None)(
        requests.get(job, headers=auth(staff)).json()), what="assignment job")
    assert j["state"] == "done", j


@pytest.fixture(scope="module")
def env(database, server, worker):
    url = server.url
    e = {"db": database, "url": url, "server": server,
         "staff": account(database, "staff@gen.test", "staff"),
         "provA": account(database, "a@orga.test", "provider", SIRET_A, org="Org A"),
         "provB": account(database, "b@orgb.test", "provider", SIRET_B, org="Org B")}
    staff = xml_headers(e["staff"])
    for ref, targets in CALL_TARGETS.items():
        t = "".join(f'<target metric="{m}" min="{v}"/>' for m, v in targets.items())
        kind = "label" if ref.startswith("LAB") else "project"
        doc = call_doc(ref, kind=kind, targets=t, max_request=None if kind == "label" else "150000.00")
        r = requests.post(url + "/api/v1/calls", headers=staff, data=doc)
        assert r.status_code == 201, r.text
    for email in REVIEWERS:
        r = requests.post(url + "/api/v1/reviewers", data=reviewer_doc(email), headers=staff)
        assert r.status_code == 201, r.text
    e["reviewer"] = genctl(database, "token", "create", "--email", REVIEWERS[0]).stdout.strip()
    for ref in CALL_TARGETS:
        members = "".join(f"<member>{m}</member>" for m in REVIEWERS)
        r = requests.put(f"{url}/api/v1/calls/{ref}/panel", headers=staff,
                         data=f'<panel xmlns="{NS}" call="{ref}">{members}</panel>'.encode())
        assert r.status_code == 200, r.text
    e["programmes"] = {}
    for key, (prov, siret, call, family) in PROGRAMMES.items():
        r = requests.post(f"{url}/api/v1/calls/{call}/applications", data=programme_application(key),
                          headers=xml_headers(e[prov]))
        assert r.status_code == 201, r.text
        e["programmes"][key] = parse_receipt(r.content)["tracking"]
    for t in e["programmes"].values():
        wait_for(lambda: sql(database, "SELECT state FROM applications WHERE tracking=%s", (t,))[0][0]
                 in ("eligible", "ineligible"), what="screening")
        assert sql(database, "SELECT state, state_reason FROM applications WHERE tracking=%s", (t,))[0][0] \
            == "eligible", sql(database, "SELECT * FROM applications WHERE tracking=%s", (t,))
    for ref in CALL_TARGETS:
        run_assignment(url, e["staff"], ref)
    for ref, outcome in (("AAP-OUT", "funded"), ("LAB-OUT", "labelled")):
        amount = ' amount="100000.00"' if outcome == "funded" else ""
        items = "".join(f'<decision application="{e["programmes"][k]}" outcome="{outcome}"{amount}>'
                        f"<rationale>Retenu.</rationale></decision>"
                        for k, v in PROGRAMMES.items() if v[2] == ref)
        r = requests.post(f"{url}/api/v1/calls/{ref}/decisions", headers=staff,
                          data=f'<decisions xmlns="{NS}" call="{ref}">{items}</decisions>'.encode())
        assert r.status_code == 200, r.text
    rows = dict(sql(database, "SELECT tracking, family FROM programmes"))
    assert rows == {e["programmes"][k]: PROGRAMMES[k][3] for k in PROGRAMMES}, rows
    return e


@pytest.fixture(scope="module")
def reports(env):
    """Build the seeded cohorts and send every version of every report in
    order; record what the server answered."""
    rng = random.Random(20261130)
    today = utc_today()
    env["today"] = today
    cohorts = build_cohorts(rng, today)
    env["cohorts"] = cohorts
    env["answers"] = {}
    for key, c in cohorts.items():
        prog = env["programmes"][c["programme"]]
        prov, siret, call, family = PROGRAMMES[c["programme"]]
        c["tracking"] = prog
        c["bodies"] = []
        answers = []
        for v in c["versions"]:
            body = report_doc(prog, c["code"], v)
            c["bodies"].append(body)
            r = requests.put(env["url"] + PUT_PATH.format(prog, c["code"]), data=body,
                             headers=xml_headers(env[prov]), timeout=10)
            answers.append(r)
            assert r.status_code in (200, 201), (key, r.status_code, r.text)
        env["answers"][key] = answers
        final = c["versions"][-1]
        c["final"] = final
        c["meta"] = {"year": final["start"].year, "region": final["region"], "family": family, "call": call,
                     "siret": siret, "programme": prog}
    return cohorts


# ---------------------------------------------------------------------------
# Reports and versions

def test_reports_are_created_then_replaced(env, reports):
    for key, answers in env["answers"].items():
        statuses = [r.status_code for r in answers]
        assert statuses == [201] + [200] * (len(answers) - 1), (key, statuses)
        for i, r in enumerate(answers, start=1):
            j = r.json()
            assert j.get("version") == i, (key, j)
    c1 = reports["C1"]
    rows = sql(env["db"], "SELECT r.version, r.sha256 FROM cohort_reports r JOIN cohorts c ON c.id = r.cohort_id "
                          "WHERE c.programme = %s AND c.code = %s ORDER BY r.version", (c1["tracking"], c1["code"]))
    assert rows == [(i + 1, hashlib.sha256(b).hexdigest()) for i, b in enumerate(c1["bodies"])]
    # one cohort row per (programme, code), holding the latest version only
    rows = sql(env["db"], "SELECT programme, code, version, start_date, region, planned_seats, learners "
                          "FROM cohorts ORDER BY programme, code")
    exp = sorted((c["tracking"], c["code"], len(c["versions"]), c["final"]["start"], c["final"]["region"],
                  c["final"]["seats"], len(c["final"]["learners"])) for c in reports.values())
    assert sorted(rows) == exp
    # the current learners are those of the latest version, nothing more
    assert sql(env["db"], "SELECT count(*) FROM learners")[0][0] == \
        sum(len(c["final"]["learners"]) for c in reports.values())


def test_only_the_latest_version_counts(env, reports):
    # C1 was first reported as starting in 2024 in region 44, with 26
    # learners and 28 seats: none of it may remain anywhere in the figures.
    for params in ({"year": "2024"}, {"region": "44"}):
        r = dashboard(env, params)
        assert r.status_code == 200, r.text
        got = r.json(parse_float=Decimal)
        assert got["total"]["learners"] == 0 and got["total"]["cohorts"] == 0 and \
            got["total"]["plannedSeats"] == 0, (params, got["total"])
    for group_by, stale in (("year", "2024"), ("region", "44")):
        r = dashboard(env, {"group_by": group_by})
        assert r.status_code == 200, r.text
        groups = [g["group"] for g in r.json()["groups"]]
        assert stale not in groups, (
            f"group_by={group_by}: a group {stale!r} is listed although no current cohort report has it "
            f"(only a replaced version did): {r.json()['groups']}")
    c1 = reports["C1"]
    r = dashboard(env, {"programme": c1["tracking"], "year": "2025", "region": "32"})
    got = r.json(parse_float=Decimal)["total"]
    assert (got["learners"], got["cohorts"], got["plannedSeats"]) == (24, 1, 30)


def test_stored_learners_match_what_was_sent(env, reports):
    """Each current learner row is the learner that was sent, under a
    pseudonym; the stored document of each version carries pseudonyms in
    place of the refs, in document order."""
    for key, c in reports.items():
        docs = sql(env["db"], "SELECT r.version, r.document FROM cohort_reports r JOIN cohorts c ON c.id = r.cohort_id "
                              "WHERE c.programme = %s AND c.code = %s ORDER BY r.version", (c["tracking"], c["code"]))
        assert [v for v, _ in docs] == list(range(1, len(c["versions"]) + 1))
        last = doc_refs(bytes(docs[-1][1]))
        assert len(last) == len(c["final"]["learners"])
        rows = sql(env["db"], "SELECT encode(l.pseudonym, 'hex'), l.gender, l.birth_year, l.qualification, "
                              "l.priority_area, l.rural, l.job_seeker, l.region, l.status, l.exit_date, l.qpv_code, "
                              "l.outcome, l.outcome_at "
                              "FROM learners l JOIN cohorts c ON c.id = l.cohort_id "
                              "WHERE c.programme = %s AND c.code = %s", (c["tracking"], c["code"]))
        by_pseudo = {r[0]: r[1:] for r in rows}
        assert len(by_pseudo) == len(c["final"]["learners"])
        for p, l in zip(last, c["final"]["learners"]):
            assert p.lower() in by_pseudo, (key, p)
            assert by_pseudo[p.lower()] == (
                l["gender"], l["birthYear"], l["qualification"], l["priorityArea"], l["rural"], l["jobSeeker"],
                l["region"], l["status"], l["exitDate"], l["qpvCode"],
                l["outcome"][0] if l["outcome"] else None, l["outcome"][1] if l["outcome"] else None), (key, l["ref"])


def doc_refs(document):
    root = ET.fromstring(document)
    return [n.get("ref") for n in root.findall(f"{{{NS}}}learner")]


def test_pseudonyms(env, reports):
    """Same ref, same pseudonym across versions (and cohorts); different
    refs (even differing only in case, or in the 64th character) get
    different pseudonyms; the pseudonym is a keyed hash, not the ref nor its
    plain SHA-256."""
    mapping = {}   # clear ref -> pseudonym
    for key, c in reports.items():
        docs = sql(env["db"], "SELECT r.version, r.document FROM cohort_reports r JOIN cohorts c ON c.id = r.cohort_id "
                              "WHERE c.programme = %s AND c.code = %s ORDER BY r.version", (c["tracking"], c["code"]))
        for (version, document), v in zip(docs, c["versions"]):
            pseudos = doc_refs(bytes(document))
            assert len(pseudos) == len(v["learners"]), (key, version)
            for p, l in zip(pseudos, v["learners"]):
                assert p != l["ref"]
                assert mapping.setdefault(l["ref"], p) == p, \
                    f"{key} v{version}: ref {l['ref']!r} has pseudonym {p} here, {mapping[l['ref']]} before"
    # C1's refs were sent in 3 versions (2 of them only in v1)
    c1 = reports["C1"]
    assert all(l["ref"] in mapping for l in c1["removed"])
    assert len(set(mapping.values())) == len(mapping), "two different refs share a pseudonym"
    for a, b in (("ref-Case-Pair-5d1c", "REF-CASE-PAIR-5D1C"), ("\U0001D53E" * 63 + "a", "\U0001D53E" * 63 + "b")):
        assert mapping[a] != mapping[b]
    # the current learners rows are exactly the latest documents' pseudonyms
    current = {r[0] for r in sql(env["db"], "SELECT encode(pseudonym, 'hex') FROM learners")}
    latest = {mapping[l["ref"]].lower() for c in reports.values() for l in c["final"]["learners"]}
    assert current == latest
    for ref, p in mapping.items():
        assert p.lower() != hashlib.sha256(ref.encode()).hexdigest(), "unkeyed hash"
    # The test server's key file (outside the database): the pseudonym is
    # HMAC-SHA-256(key, ref).
    keyfile = getattr(env["server"], "pkey", None) or os.path.join(ROOT, "var", "pseudonym-key")
    if os.path.exists(keyfile):
        with open(keyfile) as f:
            key = bytes.fromhex(f.read().strip())
        for ref, p in mapping.items():
            assert p.lower() == hmac.new(key, ref.encode("utf-8"), hashlib.sha256).hexdigest(), ref


# ---------------------------------------------------------------------------
# Figures

def check(env, params):
    r = dashboard(env, params)
    assert r.status_code == 200, (params, r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    got = normalise(r.json(parse_float=Decimal))
    exp = normalise(expected(env, params))
    assert set(got) == {"total", "groups"}, got.keys()
    assert got["total"] == exp["total"], diff_msg(params, "total", got["total"], exp["total"])
    assert [g["group"] for g in got["groups"]] == [g["group"] for g in exp["groups"]], params
    for g, x in zip(got["groups"], exp["groups"]):
        assert g == x, diff_msg(params, g["group"], g, x)
    return got


def diff_msg(params, where, got, exp):
    keys = sorted(set(got) | set(exp))
    lines = [f"{k}: got {got.get(k)!r}, expected {exp.get(k)!r}" for k in keys if got.get(k) != exp.get(k)]
    return f"{params} [{where}]\n  " + "\n  ".join(lines)


def test_figures_without_filter(env, reports):
    got = check(env, {})
    assert got["groups"] == []
    assert got["total"]["learners"] == sum(len(c["final"]["learners"]) for c in reports.values())
    assert set(got["total"]["targets"]) == {"women", "positive-outcome"}


@pytest.mark.parametrize("group_by", ["year", "region", "family", "call", "provider", "programme"])
def test_figures_grouped(env, reports, group_by):
    got = check(env, {"group_by": group_by})
    assert len(got["groups"]) >= 2


def filter_cases(env):
    p = env["programmes"]
    return [
        {"year": "2025"}, {"year": "2026"},
        {"region": "32"}, {"region": "11"}, {"region": "93"}, {"region": "28"}, {"region": "76"},
        {"family": "development"}, {"family": "data-ai-iot"}, {"family": "infrastructure"}, {"family": "design"},
        {"call": "AAP-OUT"}, {"call": "LAB-OUT"},
        {"provider": SIRET_A}, {"provider": SIRET_B},
        {"programme": p["P1"]}, {"programme": p["P2"]}, {"programme": p["P3"]},
        {"year": "2031"},
        # C5 alone: 16 learners, 5 women (31.25 % -> 31.3), 3 priority-area (18.75 % -> 18.8)
        {"family": "infrastructure", "region": "32"},
    ]


def test_figures_filtered(env, reports):
    for params in filter_cases(env):
        check(env, params)
    # the engineered edges
    p = env["programmes"]
    t = check(env, {"programme": p["P1"]})["total"]
    assert t["womenShare"] == Decimal("40.0") and t["targets"]["women"]["status"] == "met"
    t = check(env, {"call": "AAP-OUT"})["total"]
    assert t["priorityAreaShare"] == Decimal("15.0") and t["targets"]["priority-area"]["status"] == "near"
    assert set(t["targets"]) == set(CALL_TARGETS["AAP-OUT"])
    t = check(env, {"programme": p["P2"]})["total"]
    assert t["positiveOutcomeRate"] == Decimal("66.7") and t["targets"]["positive-outcome"] == \
        {"target": Decimal("66.7"), "status": "near"}
    t = check(env, {"family": "infrastructure", "region": "32"})["total"]
    assert (t["learners"], t["womenShare"], t["priorityAreaShare"]) == (16, Decimal("31.3"), Decimal("18.8"))
    t = check(env, {"region": "76"})["total"]
    assert t["learners"] == 10 and t["womenShare"] == Decimal("40.0") and t["suppressed"] == \
        sorted(["positiveOutcomeRateAllExits", "outcomeCoverage", "positiveOutcomeRate"])
    t = check(env, {"region": "28"})["total"]
    assert t["learners"] == 0 and t["cohorts"] == 1 and t["fillRate"] == Decimal("0.0")
    assert len(t["suppressed"]) == 9 and "fillRate" not in t["suppressed"]
    assert t["targets"]["women"]["status"] is None


def test_figures_grouped_and_combined(env, reports):
    p = env["programmes"]
    cases = [
        {"year": "2026", "region": "11", "group_by": "programme"},
        {"call": "AAP-OUT", "year": "2025", "group_by": "provider"},
        {"call": "AAP-OUT", "group_by": "family"},
        {"call": "LAB-OUT", "group_by": "year"},
        {"programme": p["P1"], "group_by": "region"},
        {"programme": p["P2"], "year": "2026"},
        {"programme": p["P3"], "group_by": "call"},
        {"provider": SIRET_A, "family": "infrastructure", "group_by": "year"},
        {"provider": SIRET_A, "group_by": "programme"},
        {"family": "development", "region": "11", "group_by": "provider"},
        {"region": "32", "group_by": "family"},
        {"year": "2025", "group_by": "call"},
        {"year": "2031", "group_by": "region"},
    ]
    for params in cases:
        check(env, params)


def test_exactness_edges_were_exercised(env, reports):
    """The expectations of the cases above meet each status, half-way
    rounding, suppression and null statuses (so the comparisons test them)."""
    for params in filter_cases(env) + [{"group_by": g} for g in GROUP_ATTR]:
        expected(env, params)
    assert {"met", "near", "below", None} <= SEEN["status"], SEEN
    assert SEEN["half_way"] > 0 and SEEN["suppressed"] > 0 and SEEN["null_status"] > 0, SEEN


CSV_STEMS = {"women": "women", "priority-area": "priorityArea", "low-qualification": "lowQualification",
             "positive-outcome": "positiveOutcome", "fill-rate": "fillRate"}


def test_csv_matches_json(env, reports):
    """CSV: a header, one row per group plus a `total` row, each value equal
    to the JSON's; then the JSON itself is checked against the expectations
    (after the CSV, so that a figure bug does not hide a CSV one)."""
    p = env["programmes"]
    cases = ({}, {"group_by": "programme"}, {"call": "AAP-OUT", "group_by": "provider"},
             {"programme": p["P2"], "group_by": "year"}, {"year": "2026", "group_by": "family"},
             {"call": "LAB-OUT", "group_by": "region"}, {"group_by": "region"})
    for params in cases:
        r = dashboard(env, params)
        assert r.status_code == 200, r.text
        js = normalise(r.json(parse_float=Decimal))
        r = dashboard(env, dict(params, format="csv"))
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("text/csv"), r.headers
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8"))))
        header, body = rows[0], [x for x in rows[1:] if x]
        assert header[0] == "group", header
        for col in ("learners", "cohorts", "plannedSeats") + FIGURE_NAMES:
            assert col in header, (col, header)
        assert all(len(x) == len(header) for x in body), body
        assert [x[0] for x in body].count("total") == 1, body
        groups = [x for x in body if x[0] != "total"]
        total = [x for x in body if x[0] == "total"][0]
        assert [x[0] for x in groups] == [g["group"] for g in js["groups"]], (params, body)
        for row, ref in [(total, js["total"])] + list(zip(groups, js["groups"])):
            cell = dict(zip(header, row))
            for col in ("learners", "cohorts", "plannedSeats"):
                assert int(cell[col]) == ref[col], (params, row[0], col)
            for col in FIGURE_NAMES:
                want = ref[col]
                assert (cell[col] == "" if want is None else Decimal(cell[col]) == want), \
                    (params, row[0], col, cell[col], want)
            for metric, stem in CSV_STEMS.items():
                t = ref["targets"].get(metric)
                if stem + "Target" in cell:
                    assert (cell[stem + "Target"] == "" if t is None else
                            Decimal(cell[stem + "Target"]) == t["target"]), (params, row[0], metric)
                if stem + "Status" in cell:
                    assert cell[stem + "Status"] == ((t or {}).get("status") or ""), (params, row[0], metric)
            if "suppressed" in cell:
                assert sorted(x for x in re.split(r"[;,| ]+", cell["suppressed"]) if x) == ref["suppressed"], \
                    (params, row[0])
    for params in cases:
        check(env, params)


def test_concurrent_first_reports_of_a_cohort(env, reports):
    """Several different reports of the same new cohort at once (e.g. a
    provider's system retrying with corrections): each is stored as a
    version (one 201, then 200s, versions 1..n), none is lost or fails, and
    the figures are those of the version stored last."""
    rng = random.Random(99)
    today = utc_today()
    prog, code = env["programmes"]["P3"], "P3-2026-RENNES"
    n = 6
    variants, bodies = [], []
    for i in range(n):
        ls = enrol(rng, f"conc{i}", 11 + i, women=4, priority=2, home_region="53")
        ex = exits(rng, ls, date(2026, 4, 6), date(2026, 10, 16), completed=7, dropped=2, today=today)
        outcomes(rng, ex, random_kinds(rng, len(ex)))
        v = {"start": date(2026, 4, 6), "end": date(2026, 10, 16), "seats": 12 + i, "region": "53",
             "learners": ls}
        variants.append(v)
        bodies.append(report_doc(prog, code, v))
    barrier = threading.Barrier(n)
    answers = [None] * n

    def send(i):
        barrier.wait()
        answers[i] = requests.put(env["url"] + PUT_PATH.format(prog, code), data=bodies[i],
                                  headers=xml_headers(env["provA"]), timeout=20)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = sql(env["db"], "SELECT r.sha256 FROM cohort_reports r JOIN cohorts c ON c.id = r.cohort_id "
                            "WHERE c.programme = %s AND c.code = %s ORDER BY r.version", (prog, code))
    by_sha = {hashlib.sha256(b).hexdigest(): v for b, v in zip(bodies, variants)}
    if stored:
        # whatever was stored counts from now on (later tests compare figures)
        versions = [by_sha[h] for (h,) in stored]
        reports["CONC"] = {"programme": "P3", "code": code, "tracking": prog, "versions": versions,
                           "final": versions[-1],
                           "meta": {"year": 2026, "region": "53", "family": PROGRAMMES["P3"][3],
                                    "call": PROGRAMMES["P3"][2], "siret": PROGRAMMES["P3"][1], "programme": prog}}
    env.setdefault("rejected_refs", []).extend(l["ref"] for v in variants for l in v["learners"])
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * (n - 1) + [201], "\n".join(f"{a.status_code} {a.text[:160]}" for a in answers)
    assert sorted(a.json()["version"] for a in answers) == list(range(1, n + 1))
    assert len(stored) == n
    check(env, {"programme": prog, "group_by": "region"})


# ---------------------------------------------------------------------------
# Bad input: a clear problem, nothing stored

def snapshot(db):
    return {t: sql(db, f"SELECT count(*) FROM {t}")[0][0] for t in ("cohorts", "cohort_reports", "learners",
                                                                   "outcome_rollup")} | {
        "rollup": sql(db, "SELECT * FROM outcome_rollup ORDER BY 1, 2, 3, 4, 5"),
        "cohort_rows": sql(db, "SELECT id, version, learners, updated_at FROM cohorts ORDER BY id")}


def small_report(rng, today, n=12, start=date(2026, 2, 2)):
    ls = enrol(rng, "bad", n, women=5, priority=3, home_region="32")
    ex = exits(rng, ls, start, date(2026, 10, 30), completed=6, dropped=2, today=today)
    outcomes(rng, ex, random_kinds(rng, len(ex)))
    return {"start": start, "end": date(2026, 10, 30), "seats": 15, "region": "32", "learners": ls}


def test_bad_reports_store_nothing(env, reports):
    url, db = env["url"], env["db"]
    rng = random.Random(7)
    today = utc_today()
    p1, p2, p3 = (env["programmes"][k] for k in ("P1", "P2", "P3"))
    env.setdefault("rejected_refs", [])
    before = snapshot(db)

    def put(prog, code, body, token):
        return requests.put(url + PUT_PATH.format(prog, code), data=body, headers=xml_headers(token), timeout=20)

    def remember(v):
        env["rejected_refs"].extend(l["ref"] for l in v["learners"])

    v = small_report(rng, today)
    remember(v)
    # a programme of another provider: 404, as if it did not exist
    p_other = problem(put(p1, "X-1", report_doc(p1, "X-1", v), env["provB"]), 404)
    # an unknown programme
    p_unknown = problem(put("GEN-2026-999999", "X-1", report_doc("GEN-2026-999999", "X-1", v), env["provA"]), 404)
    assert (p_other["type"], p_other["title"]) == (p_unknown["type"], p_unknown["title"])
    # an existing cohort of another provider cannot be replaced either
    c3 = reports["C3"]
    problem(put(p2, c3["code"], report_doc(p2, c3["code"], v), env["provA"]), 404)
    # programme / cohort attributes not matching the URL
    p = problem(put(p1, "X-1", report_doc(p3, "X-1", v), env["provA"]), 422)
    assert p["errors"] and any("programme" in (e.get("path") or "") + e["message"] for e in p["errors"]), p
    p = problem(put(p1, "X-1", report_doc(p1, "X-2", v), env["provA"]), 422)
    assert p["errors"] and any("cohort" in (e.get("path") or "") + e["message"] for e in p["errors"]), p
    # duplicate learner refs: the error names the ref
    dup = small_report(rng, today)
    dup["learners"][7]["ref"] = dup["learners"][2]["ref"]
    remember(dup)
    p = problem(put(p1, "X-1", report_doc(p1, "X-1", dup), env["provA"]), 422)
    assert any(dup["learners"][2]["ref"] in e["message"] for e in p["errors"]), p
    # exitDate before the start, or after today
    for bad_exit in (v["start"] - timedelta(days=1), today + timedelta(days=3)):
        b = small_report(rng, today)
        remember(b)
        l = [x for x in b["learners"] if x["status"] == "dropped"][0]
        l["exitDate"], l["outcome"] = bad_exit, None
        p = problem(put(p1, "X-1", report_doc(p1, "X-1", b), env["provA"]), 422)
        assert p["errors"] and any("exitDate" in (e.get("path") or "") + e["message"] for e in p["errors"]), p
    # an exited learner without exitDate, an enrolled one with one
    b = small_report(rng, today)
    remember(b)
    l = [x for x in b["learners"] if x["status"] == "completed"][0]
    l["exitDate"], l["outcome"] = None, None
    problem(put(p1, "X-1", report_doc(p1, "X-1", b), env["provA"]), 422)
    b = small_report(rng, today)
    remember(b)
    [x for x in b["learners"] if x["status"] == "enrolled"][0]["exitDate"] = today - timedelta(days=1)
    problem(put(p1, "X-1", report_doc(p1, "X-1", b), env["provA"]), 422)
    # an outcome for a learner still enrolled
    b = small_report(rng, today)
    remember(b)
    l = [x for x in b["learners"] if x["status"] == "enrolled"][0]
    l["outcome"] = ("employed-permanent", today)
    p = problem(put(p1, "X-1", report_doc(p1, "X-1", b), env["provA"]), 422)
    assert any("outcome" in (e.get("path") or "") + e["message"] for e in p["errors"]), p
    # an outcome dated before the exit
    b = small_report(rng, today)
    remember(b)
    l = [x for x in b["learners"] if x["status"] == "completed"][0]
    l["outcome"] = ("employed-permanent", l["exitDate"] - timedelta(days=1))
    problem(put(p1, "X-1", report_doc(p1, "X-1", b), env["provA"]), 422)
    # 5,001 learners (the schema allows 5,000)
    big = [{"ref": f"lrn-toomany-{i:05d}", "gender": "F", "birthYear": 2000, "qualification": "4",
            "priorityArea": False, "rural": False, "jobSeeker": True, "region": "32", "status": "enrolled",
            "exitDate": None, "outcome": None} for i in range(5001)]
    p = problem(put(p1, "X-1", report_doc(p1, "X-1", v, learners=big), env["provA"]), 422)
    assert p["errors"], p
    # roles: staff and reviewers do not report cohorts
    for token in (env["staff"], env["reviewer"]):
        problem(put(p1, "X-1", report_doc(p1, "X-1", v), token), 403)
    r = requests.put(url + PUT_PATH.format(p1, "X-1"), data=report_doc(p1, "X-1", v),
                     headers={"Content-Type": "application/xml"}, timeout=10)
    assert r.status_code == 401, r.text
    # replacing an existing cohort with a bad report leaves it untouched
    c1 = reports["C1"]
    b = small_report(rng, today)
    remember(b)
    b["learners"][1]["ref"] = b["learners"][0]["ref"]
    problem(put(p1, c1["code"], report_doc(p1, c1["code"], b), env["provA"]), 422)
    assert snapshot(db) == before
    # and the figures are those of the good reports only
    check(env, {"group_by": "programme"})


def test_dashboard_access_and_bad_filters(env, reports):
    url = env["url"]
    problem(dashboard(env, {}, token=env["provA"]), 403)
    problem(dashboard(env, {"group_by": "region", "format": "csv"}, token=env["provA"]), 403)
    problem(dashboard(env, {}, token=env["reviewer"]), 403)
    assert requests.get(url + DASH, timeout=5).status_code == 401
    for params in ({"year": "abc"}, {"region": "99"}, {"group_by": "color"}, {"year": "2025x"},
                   {"region": "abc"}, {"family": "gardening"}, {"provider": "12345"}):
        problem(dashboard(env, params), 400)
    # a blank field (as a browser form sends it) means no filter
    blank = dashboard(env, {"group_by": "", "year": ""})
    assert blank.status_code == 200 and blank.json()["groups"] == []
    assert blank.json()["total"] == dashboard(env, {}).json()["total"]


# ---------------------------------------------------------------------------
# Privacy

def test_no_clear_ref_is_stored(env, reports):
    """No learner ref that was sent (accepted or rejected) appears in any
    text-like or bytea column of any table, nor in the server's log."""
    db = env["db"]
    # The 5,000 refs of C8 (and the 5,001 of the rejected report) are
    # searched by their common prefix (a pseudonym is hex: it cannot contain
    # it); every other ref one by one.
    refs = sorted({l["ref"] for c in reports.values() for v in c["versions"] for l in v["learners"]
                   if not l["ref"].startswith("lrn-max5000-")} | set(env.get("rejected_refs", [])) |
                  {"lrn-max5000-", "lrn-toomany-"})
    assert len(refs) > 100
    cols = sql(db, "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
                   "JOIN information_schema.tables t "
                   "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
                   "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.data_type IN "
                   "('text', 'character varying', 'character', 'bytea', 'json', 'jsonb', 'xml', 'ARRAY', "
                   "'USER-DEFINED') ORDER BY 1, 2")
    tables = {t for t, _, _ in cols}
    assert {"cohorts", "cohort_reports", "learners", "audit_log", "jobs"} <= tables, tables
    found = []
    for table, column, dtype in cols:
        if dtype == "bytea":
            match = f'position(convert_to(r, \'UTF8\') in x."{column}") > 0'
        else:
            match = f'position(r in x."{column}"::text) > 0'
        hits = sql(db, f'SELECT r FROM unnest(%s::text[]) AS r WHERE EXISTS '
                       f'(SELECT 1 FROM public."{table}" x WHERE {match})', (refs,))
        found += [(table, column, h[0]) for h in hits]
    assert found == [], found[:10]
    # the stored documents do hold the learners (under pseudonyms)
    assert sql(db, "SELECT count(*) FROM cohort_reports")[0][0] == sum(len(c["versions"]) for c in reports.values())
    log = env["server"].log()
    assert [r for r in refs if r in log] == []
    assert sum(l["ref"].startswith("lrn-max5000-") for l in reports["C8"]["final"]["learners"]) == 5000
