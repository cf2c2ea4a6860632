"""The staff dashboard in a real browser (Debian's headless Chromium,
driven over the DevTools protocol): it renders, draws its charts, shows the
same numbers as the API, and logs no console error."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest
import requests
import websocket

from conftest import free_port, sql, wait_for
from gen import NS, SIRET_A, account, application, auth, call_doc, parse_receipt, xml_headers

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")


class Browser:
    def __init__(self):
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="gen-chromium-")
        self.p = subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                                   "--no-first-run", "--disable-background-networking", "--disable-component-update",
                                   "--disable-sync", f"--user-data-dir={self.profile}",
                                   f"--remote-debugging-port={self.port}", "about:blank"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ws_url = wait_for(self._page_ws, timeout=30, interval=0.2, what="chromium DevTools")
        self.ws = websocket.create_connection(ws_url, timeout=30)
        self.seq = 0
        self.events = []

    def _page_ws(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json", timeout=2) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            return pages[0]["webSocketDebuggerUrl"] if pages else None
        except OSError:
            return None

    def call(self, method, **params):
        self.seq += 1
        self.ws.send(json.dumps({"id": self.seq, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.seq:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, name, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for e in self.events:
                if e.get("method") == name:
                    self.events.remove(e)
                    return e
            self.ws.settimeout(max(0.1, deadline - time.time()))
            try:
                self.events.append(json.loads(self.ws.recv()))
            except websocket.WebSocketTimeoutException:
                break
        raise AssertionError(f"no {name} event")

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return r["result"].get("value")

    def close(self):
        try:
            self.ws.close()
        finally:
            self.p.terminate()
            self.p.wait(10)
            shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def env(database, server, worker):
    staff = account(database, "staff@gen.test", "staff", password="mot de passe du personnel")
    prov = account(database, "a@orga.test", "provider", SIRET_A)
    # One funded programme and two cohorts, straight through the API.
    url = server.url
    assert requests.post(url + "/api/v1/calls", data=call_doc("AAP-DASH"), headers=xml_headers(staff)).status_code == 201
    requests.post(url + "/api/v1/reviewers", headers=xml_headers(staff),
                  data=(f'<reviewer xmlns="{NS}"><email>r@comite.test</email><name>R</name><family>development</family>'
                        f"<maxLoad>5</maxLoad></reviewer>").encode())
    requests.put(url + "/api/v1/calls/AAP-DASH/panel", headers=xml_headers(staff),
                 data=f'<panel xmlns="{NS}" call="AAP-DASH"><member>r@comite.test</member></panel>'.encode())
    r = requests.post(url + "/api/v1/calls/AAP-DASH/applications", data=application("AAP-DASH"), headers=xml_headers(prov))
    t = parse_receipt(r.content)["tracking"]
    wait_for(lambda: sql(database, "SELECT state FROM applications WHERE tracking=%s", (t,))[0][0] == "eligible")
    r = requests.post(url + "/api/v1/calls/AAP-DASH/assignment", headers=auth(staff))
    job = url + r.headers["Location"]
    wait_for(lambda: requests.get(job, headers=auth(staff)).json()["state"] == "done")
    d = f'<decisions xmlns="{NS}" call="AAP-DASH"><decision application="{t}" outcome="funded"><rationale>ok</rationale></decision></decisions>'
    assert requests.post(url + "/api/v1/calls/AAP-DASH/decisions", data=d.encode(), headers=xml_headers(staff)).status_code == 200
    for code, region, women, total in (("C1", "32", 7, 20), ("C2", "84", 12, 25)):
        learners = "".join(
            f'<learner ref="{code}-{i}" gender="{"F" if i < women else "M"}" birthYear="1999" qualification="4" '
            f'priorityArea="{"true" if i % 3 == 0 else "false"}" rural="false" jobSeeker="true" region="{region}" '
            f'status="completed" exitDate="2026-06-30"><outcome kind="{"employed-permanent" if i % 4 else "job-seeking"}" '
            f'at="2026-10-01"/></learner>' for i in range(total))
        doc = (f'<cohortReport xmlns="{NS}" programme="{t}" cohort="{code}"><startDate>2025-10-01</startDate>'
               f"<endDate>2026-06-30</endDate><plannedSeats>{total + 4}</plannedSeats><region>{region}</region>"
               f"{learners}</cohortReport>").encode()
        r = requests.put(f"{url}/api/v1/programmes/{t}/cohorts/{code}", data=doc, headers=xml_headers(prov))
        assert r.status_code == 201, r.text
    s = requests.Session()
    r = s.post(url + "/api/v1/session", data={"email": "staff@gen.test", "password": "mot de passe du personnel"})
    assert r.status_code == 200
    return {"url": url, "staff": staff, "cookie": s.cookies.get("gen_session")}


def test_dashboard_in_chromium(env):
    b = Browser()
    try:
        b.call("Runtime.enable")
        b.call("Log.enable")
        b.call("Page.enable")
        b.call("Network.enable")
        b.call("Network.setCookie", name="gen_session", value=env["cookie"], url=env["url"] + "/", httpOnly=True)
        b.call("Page.navigate", url=env["url"] + "/dashboard")
        b.wait_event("Page.loadEventFired")
        assert b.eval("document.title")
        assert b.eval("document.documentElement.lang") == "fr"
        # charts are drawn: SVG bar charts with bars and target lines
        assert b.eval("document.querySelectorAll('svg').length") >= 4
        assert b.eval("document.querySelectorAll('svg rect').length") >= 4
        # the page's numbers equal the API's
        api = requests.get(env["url"] + "/api/v1/dashboard/outcomes?group_by=region", headers=auth(env["staff"])).json()
        cells = b.eval("Array.from(document.querySelectorAll('[data-figure][data-group]'))"
                       ".map(e => [e.dataset.figure, e.dataset.group, e.textContent.trim()])")
        assert cells, "no data cells"
        seen = 0
        groups = {g["group"]: g for g in api["groups"]}
        groups["total"] = api["total"]
        for fig, group, text in cells:
            g = groups.get(group)
            if g is None or fig not in g:
                continue
            want = g[fig]
            if want is None:
                assert text in ("—", "suppr.", ""), (fig, group, text)
            else:
                assert float(text.replace(",", ".")) == float(want), (fig, group, text, want)
            seen += 1
        assert seen >= 5
        # no console errors (CSP violations would be reported here)
        errors = [e for e in b.events if e.get("method") in ("Runtime.exceptionThrown",) or
                  (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
        assert errors == [], errors
        # printable: a screenshot renders
        shot = b.call("Page.captureScreenshot", format="png")
        assert len(shot["data"]) > 1000
    finally:
        b.close()


def test_dashboard_needs_staff(env):
    r = requests.get(env["url"] + "/dashboard")
    assert r.status_code == 401
    r = requests.get(env["url"] + "/dashboard?region=99", headers=auth(env["staff"]))
    assert r.status_code == 400


def test_dashboard_form_with_blank_fields(env):
    r = requests.get(env["url"] + "/dashboard?year=&region=84&family=&call=&provider=&programme=",
                     headers=auth(env["staff"]))
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "<script" not in r.text
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
