#!/usr/bin/env python3
"""Load the demo data set through the real API (make run).

Everything goes through the same paths as real users: accounts through
genctl, calls and applications as XML over HTTP, screening by the worker.
Run once per database: it does nothing when the demo calls already exist.
Prints the demo accounts, and writes them as JSON lines (email, role,
password, token) to var/demo-accounts.jsonl for scripts."""
import datetime
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
URL = os.environ["GEN_URL"]
EX = os.path.join(ROOT, "forms", "examples")

STAFF = ("claire.martin@grandeecolenumerique.example.fr", "staff", "Claire Martin", None, None, "demo-staff-2026")
PROVIDERS = [
    # email, name, SIRET (Luhn-valid, made up), organisation, region
    ("nadia.benali@numerique-solidaire.example.fr", "Nadia Benali", "73282932000074",
     "Association Numérique Solidaire des Hauts-de-France", "32"),
    ("marc.dubois@codeurs-du-sud.example.fr", "Marc Dubois", "55597971100044",
     "Les Codeurs du Sud SCOP", "76"),
    ("ines.haddad@campus-data-lyon.example.fr", "Inès Haddad", "53888539300040",
     "Campus Data Lyon", "84"),
    ("paul.leroux@atelier-cyber-bretagne.example.fr", "Paul Le Roux", "43957551300023",
     "Atelier Cyber Bretagne", "53"),
]
# The steering committee: e-mail, name, families, regions, max load, employer SIRET.
COMMITTEE = [
    ("sophie.bernard@comite.example.fr", "Sophie Bernard", ["development", "data-ai-iot"], ["32", "11"], 8, None),
    ("karim.mansouri@comite.example.fr", "Karim Mansouri", ["development", "design"], ["93", "76"], 8, None),
    ("helene.garnier@comite.example.fr", "Hélène Garnier", ["cybersecurity-cloud", "infrastructure"], ["53", "52"], 6, None),
    ("yann.kerouac@comite.example.fr", "Yann Kerouac", ["management", "digital-marketing"], ["53"], 6, None),
    ("lucie.fontaine@comite.example.fr", "Lucie Fontaine", ["development", "management"], ["84"], 6,
     "53888539300040"),  # works for Campus Data Lyon: an automatic conflict
]
REVIEWER_PASSWORD = "demo-reviewer-2026"
PROVIDER_PASSWORD = "demo-provider-2026"


def genctl(*args, stdin=None):
    r = subprocess.run([os.path.join(ROOT, "bin", "genctl"), *args], input=stdin,
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"demo: genctl {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout.strip()


def http(method, path, token, body=None, ctype="application/xml"):
    req = urllib.request.Request(URL + path, data=body, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if body is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def instant(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def call_from_example(name, opens, closes):
    text = open(os.path.join(EX, name), encoding="utf-8").read()
    text = re.sub(r"<opensAt>[^<]*</opensAt>", f"<opensAt>{instant(opens)}</opensAt>", text)
    text = re.sub(r"<closesAt>[^<]*</closesAt>", f"<closesAt>{instant(closes)}</closesAt>", text)
    # A budget that funds the first dossiers only, so the ranking shows its line.
    text = re.sub(r"<budget>[^<]*</budget>", "<budget>300000.00</budget>", text)
    return text.encode("utf-8")


def application(kind, siret, org, region, title, women, family=None, requested=None):
    name = "projectApplication.xml" if kind == "project" else "labelApplication.xml"
    text = open(os.path.join(EX, name), encoding="utf-8").read()
    text = re.sub(r'siret="[0-9]{14}"', f'siret="{siret}"', text, count=1)
    text = re.sub(r"(<organisation[^>]*>\s*<name>)[^<]*(</name>)", rf"\g<1>{org}\g<2>", text, count=1)
    text = re.sub(r"(<legalStatus>[^<]*</legalStatus>\s*<region>)[^<]*(</region>)", rf"\g<1>{region}\g<2>", text, count=1)
    text = re.sub(r"(<programme>\s*<title>)[^<]*(</title>)", rf"\g<1>{title}\g<2>", text, count=1)
    text = re.sub(r"<womenPercent>[^<]*</womenPercent>", f"<womenPercent>{women}</womenPercent>", text, count=1)
    if family:
        text = re.sub(r"<family>[^<]*</family>", f"<family>{family}</family>", text, count=1)
    if requested:
        text = re.sub(r"<requestedAmount>[^<]*</requestedAmount>",
                      f"<requestedAmount>{requested}</requestedAmount>", text, count=1)
    return text.encode("utf-8")


def show(accounts):
    """The accounts for people (stdout) and for scripts (var/demo-accounts.jsonl)."""
    with open(os.path.join(ROOT, "var", "demo-accounts.jsonl"), "w") as f:
        for a in accounts:
            f.write(json.dumps(a) + "\n")
    for a in accounts:
        extra = f"  SIRET {a['siret']}" if "siret" in a else ""
        print(f"  {a['role']:9} {a['email']:48} password {a['password']}{extra}")
        print(f"            token {a['token']}")


def main():
    accounts = []
    for email, role, name, siret, org, pw in (STAFF,):
        genctl("user", "add", "--email", email, "--role", role, "--name", name, "--password-stdin", stdin=pw + "\n")
        accounts.append({"email": email, "role": role, "password": pw,
                         "token": genctl("token", "create", "--email", email)})
    tokens = {}
    for email, name, siret, org, region in PROVIDERS:
        genctl("user", "add", "--email", email, "--role", "provider", "--name", name, "--siret", siret,
               "--org-name", org, "--region", region, "--password-stdin", stdin=PROVIDER_PASSWORD + "\n")
        tokens[siret] = genctl("token", "create", "--email", email)
        accounts.append({"email": email, "role": "provider", "password": PROVIDER_PASSWORD,
                         "token": tokens[siret], "siret": siret})
    staff = accounts[0]["token"]
    reviewers = {}
    for email, name, fam, reg, load, employer in COMMITTEE:
        genctl("user", "add", "--email", email, "--role", "reviewer", "--name", name, "--password-stdin",
               stdin=REVIEWER_PASSWORD + "\n")
        reviewers[email] = genctl("token", "create", "--email", email)
        accounts.append({"email": email, "role": "reviewer", "password": REVIEWER_PASSWORD,
                         "token": reviewers[email]})

    status, _ = http("GET", "/api/v1/calls/AAP-2026-INNOV", staff)
    if status == 200:
        show(accounts)
        return
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    for name in ("call-project.xml", "call-label.xml"):
        st, body = http("POST", "/api/v1/calls", staff,
                        call_from_example(name, now - datetime.timedelta(days=45), now + datetime.timedelta(days=120)))
        if st != 201:
            sys.exit(f"demo: creating call from {name}: {st} {body[:300]!r}")

    plan = [
        # kind, provider index, title, women %, family, requested, then what happens
        ("project", 0, "Développeur·se web et mobile – parcours « Premiers Pas Pro »", "40", None, None, None),
        ("project", 1, "Concepteur·rice d'applications – promo Marseille Nord", "45", None, "120000.00", None),
        ("project", 2, "Data analyst en alternance – Villeurbanne", "33.5", "data-ai-iot", "98000.00", None),
        ("project", 3, "Analyste SOC junior – Rennes et Brest", "22", "cybersecurity-cloud", "110000.00", None),
        ("project", 0, "Référent·e numérique en milieu rural", "52", "management", "60000.00", "amend"),
        ("project", 1, "Développeur·se Python – reconversion", "38", None, "90000.00", "withdraw"),
        ("project", 2, "Intégrateur·rice web accessible", "18", "design", "75000.00", None),
        ("label", 0, "Technicien·ne d'assistance informatique – promotion inclusive", "35", None, None, None),
        ("label", 1, "Technicien·ne réseaux et télécoms – Toulouse Mirail", "28", "infrastructure", None, None),
        ("label", 2, "Chargé·e de marketing digital – Lyon 8e", "61", "digital-marketing", None, None),
        ("label", 3, "Administrateur·rice systèmes et cloud", "31", "cybersecurity-cloud", None, "withdraw"),
        ("label", 3, "Designer UX/UI – Lorient", "47", "design", None, None),
    ]
    for kind, pi, title, women, family, requested, then in plan:
        email, name, siret, org, region = PROVIDERS[pi]
        ref = "AAP-2026-INNOV" if kind == "project" else "LABEL-2026"
        doc = application(kind, siret, org, region, title, women, family, requested)
        doc = doc.replace(b'call="LABEL-2026"', f'call="{ref}"'.encode()).replace(
            b'call="AAP-2026-INNOV"', f'call="{ref}"'.encode())
        st, body = http("POST", f"/api/v1/calls/{ref}/applications", tokens[siret], doc)
        if st != 201:
            sys.exit(f"demo: submitting {title}: {st} {body[:400]!r}")
        tracking = re.search(rb"<tracking>([^<]+)</tracking>", body).group(1).decode()
        if then == "amend":
            time.sleep(0.2)
            doc2 = doc.replace(b"<cohorts>4</cohorts>", b"<cohorts>5</cohorts>")
            st, body = http("PUT", f"/api/v1/applications/{tracking}", tokens[siret], doc2)
            if st != 200:
                sys.exit(f"demo: amending {tracking}: {st} {body[:300]!r}")
        elif then == "withdraw":
            st, body = http("POST", f"/api/v1/applications/{tracking}/withdraw", tokens[siret],
                            "Projet reporté à la prochaine campagne".encode(), "text/plain; charset=utf-8")
            if st != 200:
                sys.exit(f"demo: withdrawing {tracking}: {st} {body[:300]!r}")
    review_workflow(staff, reviewers, tokens)
    history(staff, tokens, now)
    show(accounts)


def reviewer_xml(email, name, fam, reg, load, employer):
    x = f'<reviewer xmlns="urn:gen:forms:1"><email>{email}</email><name>{name}</name>'
    x += "".join(f"<family>{f}</family>" for f in fam) + "".join(f"<region>{r}</region>" for r in reg)
    x += f"<maxLoad>{load}</maxLoad>"
    if employer:
        x += f"<employerSiret>{employer}</employerSiret>"
    return (x + "</reviewer>").encode("utf-8")


def wait_job(token, location):
    for _ in range(300):
        st, body = http("GET", location, token)
        j = json.loads(body)
        if j["state"] in ("done", "failed"):
            return j
        time.sleep(0.1)
    sys.exit(f"demo: job {location} did not finish")


def review_workflow(staff, reviewers, tokens):
    """The project call in review: committee, panel, a declared conflict,
    an optimal assignment run, and submitted reviews with a disagreement."""
    for email, name, fam, reg, load, employer in COMMITTEE:
        st, body = http("POST", "/api/v1/reviewers", staff, reviewer_xml(email, name, fam, reg, load, employer))
        if st not in (200, 201):
            sys.exit(f"demo: reviewer {email}: {st} {body[:300]!r}")
    members = "".join(f"<member>{c[0]}</member>" for c in COMMITTEE)
    for ref in ("AAP-2026-INNOV", "LABEL-2026"):
        st, body = http("PUT", f"/api/v1/calls/{ref}/panel", staff,
                        f'<panel xmlns="urn:gen:forms:1" call="{ref}">{members}</panel>'.encode())
        if st != 200:
            sys.exit(f"demo: panel of {ref}: {st} {body[:300]!r}")
    conflict = ('<conflict xmlns="urn:gen:forms:1"><reviewer>karim.mansouri@comite.example.fr</reviewer>'
                '<siret>55597971100044</siret><reason>A enseigné chez Les Codeurs du Sud en 2024.</reason></conflict>')
    http("POST", "/api/v1/conflicts", reviewers["karim.mansouri@comite.example.fr"], conflict.encode("utf-8"))
    # screening is done by the worker: wait until no application is still being screened
    for _ in range(300):
        st, body = http("GET", "/api/v1/calls/AAP-2026-INNOV/applications", staff)
        states = [a["state"] for a in json.loads(body)["applications"]]
        if not any(s in ("submitted", "screening") for s in states):
            break
        time.sleep(0.1)
    st, body = http("POST", "/api/v1/calls/AAP-2026-INNOV/assignment", staff)
    if st != 202:
        sys.exit(f"demo: assignment: {st} {body[:300]!r}")
    job = wait_job(staff, "/api/v1/jobs/" + str(json.loads(body)["job"]))
    if job["state"] != "done":
        sys.exit(f"demo: assignment failed: {job}")
    st, body = http("GET", "/api/v1/calls/AAP-2026-INNOV/assignments", staff)
    seats = [a for a in json.loads(body)["assignments"] if a["state"] == "active"]
    # Scores per reviewer: one generous, one severe, so one dossier disagrees.
    style = {"sophie.bernard@comite.example.fr": (4, 4, 4, 3, "fund"),
             "karim.mansouri@comite.example.fr": (5, 5, 4, 4, "fund"),
             "helene.garnier@comite.example.fr": (3, 4, 3, 3, "discuss"),
             "yann.kerouac@comite.example.fr": (1, 2, 1, 2, "reject"),
             "lucie.fontaine@comite.example.fr": (4, 3, 4, 4, "fund")}
    for i, a in enumerate(seats):
        s = style[a["reviewer"]]
        bump = i % 2
        scores = "".join(f'<score criterion="{c}" value="{min(5, v + bump)}"/>'
                         for c, v in zip(("innovation", "inclusion", "employability", "feasibility"), s[:4]))
        doc = (f'<review xmlns="urn:gen:forms:1"><recommendation>{s[4]}</recommendation><confidence>2</confidence>'
               f"{scores}<comment>Avis du comité sur le dossier {a['application']}.</comment>"
               f"<feedback>Merci pour ce dossier ; voir les points d'amélioration sur le budget.</feedback></review>")
        st, body = http("PUT", f"/api/v1/reviews/{a['application']}", reviewers[a["reviewer"]], doc.encode("utf-8"))
        if st not in (200, 201):
            sys.exit(f"demo: review of {a['application']}: {st} {body[:300]!r}")


# ---- outcome history: the published national figures (DESIGN §1) ----

HISTORY_LEARNERS = 39233
FAMILIES = ["development", "infrastructure", "cybersecurity-cloud", "data-ai-iot", "design",
            "digital-marketing", "management"]
REGIONS = ["11", "84", "93", "32", "76", "75", "44", "52", "53", "28", "27", "24", "01", "04", "94"]


def history(staff, tokens, now):
    """Labelled programmes since 2016 and their cohorts, with learners drawn
    to reproduce the national figures exactly: 39,233 learners, 26 % women,
    19 % from priority areas, 51 % at A-level or below, 74 % positive
    outcomes, about 8 months of training. Programmes go through the real
    workflow (submission, screening, assignment, decision); the cohort
    reports go through `genctl import cohorts`, with the same validation and
    pseudonymisation as the API."""
    import random
    rnd = random.Random(2016)
    text = call_from_example("call-label.xml", datetime.datetime(2016, 1, 4, tzinfo=datetime.timezone.utc),
                             now + datetime.timedelta(days=120)).decode("utf-8")
    text = text.replace('ref="LABEL-2026"', 'ref="LABEL-HIST"')
    text = re.sub(r"<title>[^<]*</title>", "<title>Label GEN – programmes labellisés depuis 2016 (reprise)</title>",
                  text, count=1)
    text = re.sub(r"<targets>.*?</targets>", "", text, flags=re.S)
    st, body = http("POST", "/api/v1/calls", staff, text.encode("utf-8"))
    if st != 201:
        sys.exit(f"demo: history call: {st} {body[:300]!r}")
    members = "".join(f"<member>{c[0]}</member>" for c in COMMITTEE)
    http("PUT", "/api/v1/calls/LABEL-HIST/panel", staff,
         f'<panel xmlns="urn:gen:forms:1" call="LABEL-HIST">{members}</panel>'.encode())
    programmes = []
    for i in range(28):
        email, name, siret, org, region = PROVIDERS[i % len(PROVIDERS)]
        fam = FAMILIES[i % len(FAMILIES)]
        doc = application("label", siret, org, region, f"Parcours {fam} n° {i + 1}", "35", fam)
        doc = doc.replace(b'call="LABEL-2026"', b'call="LABEL-HIST"')
        st, body = http("POST", "/api/v1/calls/LABEL-HIST/applications", tokens[siret], doc)
        if st != 201:
            sys.exit(f"demo: history application: {st} {body[:300]!r}")
        programmes.append((re.search(rb"<tracking>([^<]+)</tracking>", body).group(1).decode(), fam))
    for _ in range(300):
        st, body = http("GET", "/api/v1/calls/LABEL-HIST/applications", staff)
        if all(a["state"] == "eligible" for a in json.loads(body)["applications"]):
            break
        time.sleep(0.1)
    st, body = http("POST", "/api/v1/calls/LABEL-HIST/assignment", staff)
    if st != 202 or wait_job(staff, "/api/v1/jobs/" + str(json.loads(body)["job"]))["state"] != "done":
        sys.exit(f"demo: history assignment: {st} {body[:300]!r}")
    decisions = "".join(f'<decision application="{t}" outcome="labelled"><rationale>Programme labellisé '
                        f'(reprise de l\'historique).</rationale></decision>' for t, _ in programmes)
    st, body = http("POST", "/api/v1/calls/LABEL-HIST/decisions", staff,
                    f'<decisions xmlns="urn:gen:forms:1" call="LABEL-HIST">{decisions}</decisions>'.encode("utf-8"))
    if st != 200:
        sys.exit(f"demo: history decisions: {st} {body[:300]!r}")

    # Cohorts: 2016..2025, about 40 learners each, spread over programmes and regions.
    cohorts = []
    total = 0
    year = 2016
    while total < HISTORY_LEARNERS:
        size = min(rnd.randint(24, 56), HISTORY_LEARNERS - total)
        t, fam = programmes[len(cohorts) % len(programmes)]
        cohorts.append({"programme": t, "year": year, "size": size,
                        "region": REGIONS[rnd.randrange(len(REGIONS))]})
        total += size
        year = 2016 + (len(cohorts) * 7 % 10)
    # Exact quotas over all learners, then shuffled into the cohorts.
    n = HISTORY_LEARNERS

    def quota(share):
        k = round(n * share)
        flags = [True] * k + [False] * (n - k)
        rnd.shuffle(flags)
        return flags

    women, qpv, lowq = quota(0.26), quota(0.19), quota(0.51)
    rural, seeker, dropped = quota(0.12), quota(0.68), quota(0.11)
    reported = quota(0.85)
    positive_kinds = ["employed-permanent", "employed-fixed-term", "work-study", "business-creation",
                      "further-training"]
    other_kinds = ["job-seeking", "inactive"]
    # 74 % of reported outcomes are positive.
    n_reported = sum(reported)
    pos = [True] * round(n_reported * 0.74) + [False] * (n_reported - round(n_reported * 0.74))
    rnd.shuffle(pos)
    outdir = os.path.join(ROOT, "var", "demo-cohorts")
    os.makedirs(outdir, exist_ok=True)
    for f in os.listdir(outdir):
        os.remove(os.path.join(outdir, f))
    k = 0
    p = 0
    for ci, c in enumerate(cohorts):
        start = datetime.date(c["year"], rnd.choice([1, 3, 9, 10]), rnd.randint(1, 25))
        end = start + datetime.timedelta(days=213 if ci % 2 == 0 else 274)  # 8 months on average
        lines = []
        for j in range(c["size"]):
            q = rnd.choice(["none", "3", "4"]) if lowq[k] else rnd.choice(["5", "6", "7"])
            status = "dropped" if dropped[k] else "completed"
            exit_date = (start + datetime.timedelta(days=rnd.randint(20, 120))) if status == "dropped" else end
            attrs = (f'ref="{c["programme"]}-{ci}-{j}" gender="{"F" if women[k] else rnd.choice("MMMMMMMMMX")}" '
                     f'birthYear="{rnd.randint(1970, 2004)}" qualification="{q}" '
                     f'priorityArea="{"true" if qpv[k] else "false"}" rural="{"true" if rural[k] else "false"}" '
                     f'jobSeeker="{"true" if seeker[k] else "false"}" region="{c["region"]}" status="{status}" '
                     f'exitDate="{exit_date.isoformat()}"')
            if reported[k]:
                kind = rnd.choice(positive_kinds) if pos[p] else rnd.choice(other_kinds)
                p += 1
                at = exit_date + datetime.timedelta(days=182)
                lines.append(f'  <learner {attrs}><outcome kind="{kind}" at="{at.isoformat()}"/></learner>')
            else:
                lines.append(f"  <learner {attrs}/>")
            k += 1
        doc = (f'<?xml version="1.0" encoding="UTF-8"?>\n<cohortReport xmlns="urn:gen:forms:1" '
               f'programme="{c["programme"]}" cohort="C{ci:04d}">\n  <startDate>{start.isoformat()}</startDate>\n'
               f"  <endDate>{end.isoformat()}</endDate>\n  <plannedSeats>{c['size'] + rnd.randint(0, 6)}</plannedSeats>\n"
               f"  <region>{c['region']}</region>\n" + "\n".join(lines) + "\n</cohortReport>\n")
        with open(os.path.join(outdir, f"cohort-{ci:04d}.xml"), "w", encoding="utf-8") as f:
            f.write(doc)
    r = subprocess.run([os.path.join(ROOT, "bin", "genctl"), "import", "cohorts", outdir],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"demo: importing cohorts: {r.stderr[-2000:]}")


if __name__ == "__main__":
    main()
