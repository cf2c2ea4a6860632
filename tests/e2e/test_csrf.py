"""Browser-session security, black-box against the real server and
PostgreSQL: the login page and its double-submit token, the CSRF rules for
cookie-authenticated requests (session-derived token, Origin and
Sec-Fetch-Site), the sign-out form, and Secure cookies and HSTS under TLS.
Scripts (no Origin, XML bodies) and Bearer clients must keep working."""
import base64
import hashlib
import re
from html.parser import HTMLParser

import pytest
import requests

from conftest import Server, sql
from gen import SIRET_A, account, application, auth, call_doc, parse_receipt, problem, xml_headers

PASSWORD = "correct horse battery"
EVIL = "http://evil.example"


class Forms(HTMLParser):
    """The forms of a page: [{"method", "action", "fields": {name: value}}]."""

    def __init__(self, text):
        super().__init__()
        self.forms = []
        self.scripts = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"method": a.get("method"), "action": a.get("action"), "fields": {}})
        elif tag == "input" and self.forms:
            self.forms[-1]["fields"][a.get("name")] = a.get("value", "")
        elif tag == "script":
            self.scripts += 1


def csrf_of(session_token):
    d = hashlib.sha256(b"gen-csrf\0" + session_token.encode()).digest()
    return base64.urlsafe_b64encode(d).rstrip(b"=").decode()


def set_cookies(r):
    """The Set-Cookie header lines of an answer."""
    return r.raw.headers.getlist("Set-Cookie")


def cookie_line(r, name):
    lines = [c for c in set_cookies(r) if c.startswith(name + "=")]
    assert len(lines) == 1, set_cookies(r)
    return lines[0]


@pytest.fixture(scope="module")
def env(database, server):
    e = {
        "db": database,
        "url": server.url,
        "origin": server.url,  # http://127.0.0.1:PORT, as a browser writes it
        "server": server,
        "staff": account(database, "staff@gen.test", "staff", password=PASSWORD),
        "prov": account(database, "alice@orga.test", "provider", SIRET_A, password=PASSWORD),
    }
    r = requests.post(server.url + "/api/v1/calls", data=call_doc("AAP-CSRF"), headers=xml_headers(e["staff"]))
    assert r.status_code == 201, r.text
    return e


def login(env, email="alice@orga.test"):
    """A scripted login: form fields, no token, no Origin (DESIGN §3)."""
    r = requests.post(env["url"] + "/api/v1/session", data={"email": email, "password": PASSWORD},
                      allow_redirects=False)
    assert r.status_code == 200, r.text
    return re.search(r"gen_session=([^;]+)", r.headers["Set-Cookie"]).group(1)


def sessions(env, email):
    return sql(env["db"], "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = %s",
               (email,))[0][0]


def applications(env):
    return sql(env["db"], "SELECT count(*) FROM applications")[0][0]


def submit(env, cookie, **headers):
    h = {"Cookie": f"gen_session={cookie}", "Content-Type": "application/xml"}
    h.update(headers)
    return requests.post(env["url"] + "/api/v1/calls/AAP-CSRF/applications", data=application("AAP-CSRF"),
                         headers=h, allow_redirects=False)


def login_page(env, s, query=""):
    r = s.get(env["url"] + "/login" + query)
    assert r.status_code == 200, r.text
    page = Forms(r.text)
    assert len(page.forms) == 1
    return r, page.forms[0]


# ---- the login page -------------------------------------------------------

def test_login_page_has_token_and_sets_cookie(env):
    s = requests.Session()
    r, form = login_page(env, s)
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "form-action 'self'" in csp
    assert "<script" not in r.text.lower()
    assert r.headers["Cache-Control"] == "no-store"
    # not no-referrer: under it a browser sends "Origin: null" with the
    # page's own form, which would look like another site
    assert r.headers["Referrer-Policy"] == "same-origin"
    line = cookie_line(r, "gen_csrf")
    assert "HttpOnly" in line and "SameSite=Strict" in line and "Path=/" in line
    assert "Secure" not in line and "Max-Age" not in line  # no TLS; ends with the browser session
    assert form["method"] == "post" and form["action"] == "/api/v1/session"
    assert form["fields"]["csrf_token"] == s.cookies["gen_csrf"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", form["fields"]["csrf_token"])
    assert form["fields"]["next"] == "/dashboard"
    assert set(form["fields"]) == {"csrf_token", "next", "email", "password"}
    # a second visit (another tab) keeps the same token, so both tabs work
    r2, form2 = login_page(env, s)
    assert form2["fields"]["csrf_token"] == form["fields"]["csrf_token"]
    assert not any(c.startswith("gen_csrf=") for c in set_cookies(r2))
    # next: a local path is kept, anything else falls back to the dashboard
    _, f = login_page(env, s, "?next=%2Fdashboard%3Fregion%3D84")
    assert f["fields"]["next"] == "/dashboard?region=84"
    for bad in ("//evil.example/", "https://evil.example/", "/\\evil.example", "dashboard"):
        _, f = login_page(env, s, "?next=" + requests.utils.quote(bad, safe=""))
        assert f["fields"]["next"] == "/dashboard", bad


def test_form_login_with_matching_token(env):
    s = requests.Session()
    _, form = login_page(env, s)
    before = sessions(env, "alice@orga.test")
    fields = dict(form["fields"], email="alice@orga.test", password=PASSWORD, next="/api/v1/me")
    r = s.post(env["url"] + "/api/v1/session", data=fields, allow_redirects=False,
               headers={"Origin": env["origin"], "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 303, r.text
    assert r.headers["Location"] == "/api/v1/me"
    line = cookie_line(r, "gen_session")
    assert "HttpOnly" in line and "SameSite=Strict" in line and "Secure" not in line
    assert sessions(env, "alice@orga.test") == before + 1
    me = s.get(env["url"] + "/api/v1/me")
    assert me.status_code == 200 and me.json()["email"] == "alice@orga.test"


def test_form_login_with_wrong_or_orphan_token(env):
    before = sessions(env, "alice@orga.test")
    s = requests.Session()
    _, form = login_page(env, s)
    fields = dict(form["fields"], email="alice@orga.test", password=PASSWORD)
    # a token that is not the cookie's
    tok = form["fields"]["csrf_token"]
    wrong = tok[:-1] + ("A" if tok[-1] != "A" else "B")
    p = problem(s.post(env["url"] + "/api/v1/session", data=dict(fields, csrf_token=wrong),
                       allow_redirects=False), 403)
    assert p["type"].endswith("/csrf") and "login" in p["detail"]
    # the page's token without its cookie
    problem(requests.post(env["url"] + "/api/v1/session", data=fields, allow_redirects=False), 403)
    # an empty token field
    problem(s.post(env["url"] + "/api/v1/session", data=dict(fields, csrf_token=""), allow_redirects=False), 403)
    assert sessions(env, "alice@orga.test") == before


def test_cross_origin_login_refused(env):
    """Login CSRF: another site must not log the victim in (as the attacker),
    with or without a token pair it planted."""
    before = sessions(env, "alice@orga.test")
    data = {"email": "alice@orga.test", "password": PASSWORD}
    for headers in ({"Origin": EVIL}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site"}, {"Origin": env["origin"].replace("127.0.0.1", "localhost")}):
        p = problem(requests.post(env["url"] + "/api/v1/session", data=data, headers=headers,
                                  allow_redirects=False), 403)
        assert p["type"].endswith("/csrf"), headers
    s = requests.Session()
    _, form = login_page(env, s)
    problem(s.post(env["url"] + "/api/v1/session", data=dict(form["fields"], **data), headers={"Origin": EVIL},
                   allow_redirects=False), 403)
    assert sessions(env, "alice@orga.test") == before
    assert "event=csrf_refused" in env["server"].log() and "route=login reason=cross-site" in env["server"].log()


def test_scripted_login_unchanged(env):
    r = requests.post(env["url"] + "/api/v1/session", data={"email": "alice@orga.test", "password": PASSWORD},
                      allow_redirects=False)
    assert r.status_code == 200 and r.json() == {"email": "alice@orga.test", "role": "provider"}
    # the same from this server's own origin (a page's fetch) is fine too
    r = requests.post(env["url"] + "/api/v1/session", data={"email": "alice@orga.test", "password": PASSWORD},
                      headers={"Origin": env["origin"], "Sec-Fetch-Site": "same-origin"}, allow_redirects=False)
    assert r.status_code == 200, r.text


def test_form_login_failure_shows_the_page(env):
    s = requests.Session()
    _, form = login_page(env, s)
    r = s.post(env["url"] + "/api/v1/session", allow_redirects=False,
               data=dict(form["fields"], email="alice@orga.test", password="wrong"))
    assert r.status_code == 401 and r.headers["Content-Type"].startswith("text/html")
    again = Forms(r.text).forms[0]["fields"]
    assert again["email"] == "alice@orga.test" and again["csrf_token"] == form["fields"]["csrf_token"]
    assert again["next"] == "/dashboard" and again.get("password", "") == ""
    assert "incorrect" in r.text
    # a scripted failure is still a problem document
    problem(requests.post(env["url"] + "/api/v1/session", data={"email": "alice@orga.test", "password": "wrong"}), 401)


def test_login_next_must_be_local(env):
    s = requests.Session()
    _, form = login_page(env, s)
    before = sessions(env, "alice@orga.test")
    for bad in ("//evil.example/", "https://evil.example/", "/\\evil.example", "/a\r\nSet-Cookie: x=1", "x"):
        problem(s.post(env["url"] + "/api/v1/session", allow_redirects=False,
                       data=dict(form["fields"], email="alice@orga.test", password=PASSWORD, next=bad)), 400)
    assert sessions(env, "alice@orga.test") == before


# ---- cookie-authenticated requests -------------------------------------------

def test_me_gives_the_session_token(env):
    cookie = login(env)
    me = requests.get(env["url"] + "/api/v1/me", headers={"Cookie": f"gen_session={cookie}"}).json()
    assert me["csrfToken"] == csrf_of(cookie)
    # a Bearer client needs none
    assert requests.get(env["url"] + "/api/v1/me", headers=auth(env["prov"])).json()["csrfToken"] is None


def test_cookie_xml_post_without_origin_still_works(env):
    """Non-browser clients: cookie, XML body, no Origin, no token."""
    cookie = login(env)
    r = submit(env, cookie)
    assert r.status_code == 201, r.text
    # and from this server's own origin (a page's fetch)
    r = submit(env, cookie, Origin=env["origin"], **{"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 201, r.text


def test_cookie_request_from_another_site_refused(env):
    cookie = login(env)
    before = applications(env)
    for headers in ({"Origin": EVIL}, {"Origin": "null"}, {"Origin": "https://127.0.0.1"},
                    {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}):
        p = problem(submit(env, cookie, **headers), 403)
        assert p["type"].endswith("/csrf") and "another site" in p["detail"], headers
    assert applications(env) == before
    # a valid token passes whatever the origin (only a page of ours can read it)
    r = submit(env, cookie, Origin=EVIL, **{"X-CSRF-Token": csrf_of(cookie)})
    assert r.status_code == 201, r.text
    # a wrong token never passes, even without Origin
    before = applications(env)
    p = problem(submit(env, cookie, **{"X-CSRF-Token": csrf_of(login(env))}), 403)
    assert "not this session's" in p["detail"]
    assert applications(env) == before


def test_cookie_form_post_needs_the_token(env):
    cookie = login(env)
    r = submit(env, cookie)
    tracking = parse_receipt(r.content)["tracking"]
    url = f"{env['url']}/api/v1/applications/{tracking}/withdraw"
    c = {"Cookie": f"gen_session={cookie}"}
    state = lambda: sql(env["db"], "SELECT state FROM applications WHERE tracking = %s", (tracking,))[0][0]  # noqa: E731
    audit = lambda: sql(env["db"], "SELECT count(*) FROM audit_log")[0][0]  # noqa: E731
    before_state, before_audit = state(), audit()
    # the body types an HTML form can send to another site without a preflight
    for ctype, body in (("application/x-www-form-urlencoded", "reason=forged"),
                        ("multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=reason\r\n\r\nx\r\n--b--\r\n"),
                        ("text/plain", "forged")):
        p = problem(requests.post(url, data=body, headers=dict(c, **{"Content-Type": ctype})), 403)
        assert p["type"].endswith("/csrf") and "csrf_token" in p["detail"], ctype
    # with the same origin but still no token: refused (forms carry tokens)
    problem(requests.post(url, data="reason=x", headers=dict(c, **{
        "Content-Type": "application/x-www-form-urlencoded", "Origin": env["origin"]})), 403)
    # a wrong token in the field
    problem(requests.post(url, data={"csrf_token": "x" * 43},
                          headers=dict(c, **{"Origin": env["origin"]})), 403)
    assert state() == before_state and audit() == before_audit
    # the session's token in the field passes
    r = requests.post(url, data={"csrf_token": csrf_of(cookie)}, headers=dict(c, Origin=env["origin"]))
    assert r.status_code == 200 and r.json()["state"] == "withdrawn", r.text
    assert state() == "withdrawn"


def test_header_token_with_a_form_body(env):
    cookie = login(env)
    tracking = parse_receipt(submit(env, cookie).content)["tracking"]
    r = requests.post(f"{env['url']}/api/v1/applications/{tracking}/withdraw", data="plus besoin",
                      headers={"Cookie": f"gen_session={cookie}", "Content-Type": "text/plain",
                               "X-CSRF-Token": csrf_of(cookie)})
    assert r.status_code == 200, r.text


def test_bearer_requests_unaffected(env):
    before = applications(env)
    for headers in ({"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}, {"X-CSRF-Token": "wrong"}):
        r = requests.post(env["url"] + "/api/v1/calls/AAP-CSRF/applications", data=application("AAP-CSRF"),
                          headers=xml_headers(env["prov"], **headers))
        assert r.status_code == 201, (headers, r.text)
    assert applications(env) == before + 3
    # Bearer plus a cookie: the Bearer token decides, no CSRF check
    cookie = login(env)
    r = requests.post(env["url"] + "/api/v1/calls/AAP-CSRF/applications", data=application("AAP-CSRF"),
                      headers=xml_headers(env["prov"], Origin=EVIL, Cookie=f"gen_session={cookie}"))
    assert r.status_code == 201, r.text


def test_safe_methods_unaffected(env):
    cookie = login(env)
    r = requests.get(env["url"] + "/api/v1/me", headers={"Cookie": f"gen_session={cookie}", "Origin": EVIL,
                                                         "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 200


def test_api_logout(env):
    cookie = login(env)
    c = {"Cookie": f"gen_session={cookie}"}
    problem(requests.delete(env["url"] + "/api/v1/session", headers=dict(c, Origin=EVIL)), 403)
    assert requests.get(env["url"] + "/api/v1/me", headers=c).status_code == 200
    r = requests.delete(env["url"] + "/api/v1/session", headers=c)
    assert r.status_code == 204
    assert cookie_line(r, "gen_session").startswith("gen_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
    assert requests.get(env["url"] + "/api/v1/me", headers=c).status_code == 401
    # a malformed cookie names no session but is cleared all the same; no cookie at all: 400
    r = requests.delete(env["url"] + "/api/v1/session", headers={"Cookie": "gen_session=garbage"})
    assert r.status_code == 204 and "Max-Age=0" in cookie_line(r, "gen_session")
    problem(requests.delete(env["url"] + "/api/v1/session"), 400)


# ---- the dashboard's sign-out form ---------------------------------------------

def test_dashboard_sign_out_form(env):
    cookie = login(env, "staff@gen.test")
    c = {"Cookie": f"gen_session={cookie}"}
    r = requests.get(env["url"] + "/dashboard", headers=c)
    assert r.status_code == 200, r.text
    page = Forms(r.text)
    assert page.scripts == 0
    get_forms = [f for f in page.forms if f["method"] == "get"]
    post_forms = [f for f in page.forms if f["method"] == "post"]
    assert len(get_forms) == 1 and "csrf_token" not in get_forms[0]["fields"]
    assert len(post_forms) == 1 and post_forms[0]["action"] == "/logout"
    token = post_forms[0]["fields"]["csrf_token"]
    assert token == csrf_of(cookie) and r.text.count(token) == 1
    # a Bearer caller has no session to end: no sign-out form
    assert len(Forms(requests.get(env["url"] + "/dashboard", headers=auth(env["staff"])).text).forms) == 1
    before = sessions(env, "staff@gen.test")
    # a wrong token, no token, or a non-form request without token: refused
    problem(requests.post(env["url"] + "/logout", data={"csrf_token": csrf_of(login(env))}, headers=c,
                          allow_redirects=False), 403)
    problem(requests.post(env["url"] + "/logout", data={}, headers=dict(c, **{
        "Content-Type": "application/x-www-form-urlencoded"}), allow_redirects=False), 403)
    problem(requests.post(env["url"] + "/logout", headers=dict(c, **{"Content-Type": "application/xml"}),
                          allow_redirects=False), 403)
    assert sessions(env, "staff@gen.test") == before
    assert requests.get(env["url"] + "/api/v1/me", headers=c).status_code == 200
    # the form as the browser sends it
    r = requests.post(env["url"] + "/logout", data=post_forms[0]["fields"], allow_redirects=False,
                      headers=dict(c, Origin=env["origin"], **{"Sec-Fetch-Site": "same-origin"}))
    assert r.status_code == 303 and r.headers["Location"] == "/login"
    assert "Max-Age=0" in cookie_line(r, "gen_session")
    assert sessions(env, "staff@gen.test") == before - 1
    assert requests.get(env["url"] + "/api/v1/me", headers=c).status_code == 401
    # without a session there is nothing to end
    r = requests.post(env["url"] + "/logout", allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/login"


# ---- Secure cookies and HSTS -----------------------------------------------------

@pytest.fixture(scope="module")
def tls_server(env, tmpdir_module):
    with Server(env["db"], tmpdir_module, tls=True, extra=["--hsts-seconds", "600"]) as s:
        yield s


def test_tls_secure_cookies_and_hsts(env, tls_server):
    url = tls_server.url
    get = lambda path, **kw: requests.get(url + path, verify=tls_server.cert, allow_redirects=False, **kw)  # noqa: E731
    for path in ("/healthz", "/login", "/api/v1/nothing-here"):
        assert get(path).headers["Strict-Transport-Security"] == "max-age=600", path
    r = get("/login")
    assert cookie_line(r, "gen_csrf").endswith("; Secure")
    r = requests.post(url + "/api/v1/session", data={"email": "alice@orga.test", "password": PASSWORD},
                      verify=tls_server.cert, allow_redirects=False)
    assert r.status_code == 200, r.text
    assert cookie_line(r, "gen_session").endswith("; Secure")
    cookie = re.search(r"gen_session=([^;]+)", r.headers["Set-Cookie"]).group(1)
    r = requests.delete(url + "/api/v1/session", verify=tls_server.cert, headers={"Cookie": f"gen_session={cookie}"})
    assert r.status_code == 204 and cookie_line(r, "gen_session").endswith("Max-Age=0; Secure")
    # under TLS this server's origin is https://…; http://… is another origin
    cookie = re.search(r"gen_session=([^;]+)", requests.post(
        url + "/api/v1/session", data={"email": "alice@orga.test", "password": PASSWORD},
        verify=tls_server.cert).headers["Set-Cookie"]).group(1)
    h = {"Cookie": f"gen_session={cookie}", "Content-Type": "application/xml"}
    post = lambda **extra: requests.post(url + "/api/v1/calls/AAP-CSRF/applications",  # noqa: E731
                                         data=application("AAP-CSRF"), verify=tls_server.cert, headers=dict(h, **extra))
    problem(post(Origin=f"http://127.0.0.1:{tls_server.port}"), 403)
    assert post(Origin=f"https://127.0.0.1:{tls_server.port}").status_code == 201


def test_no_tls_no_hsts(env):
    r = requests.get(env["url"] + "/healthz")
    assert "Strict-Transport-Security" not in r.headers


# ---- a real browser ------------------------------------------------------------

def test_login_and_sign_out_in_chromium(env):
    """Chromium's own Origin and Sec-Fetch-* headers pass, the login form
    takes it to the dashboard, the sign-out form back to the login page."""
    tdb = pytest.importorskip("test_dashboard_browser")
    if tdb.CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed")
    refusals = env["server"].log().count("event=csrf_refused")
    b = tdb.Browser()
    try:
        b.call("Page.enable")
        b.call("Network.enable")
        b.call("Page.navigate", url=env["url"] + "/login")
        b.wait_event("Page.loadEventFired")
        b.eval("document.querySelector('[name=email]').value = 'staff@gen.test';"
               f"document.querySelector('[name=password]').value = {PASSWORD!r};"
               "document.querySelector('form button').click()")
        b.wait_event("Page.loadEventFired")
        assert b.eval("location.pathname") == "/dashboard", b.eval("document.body.innerText")
        assert b.eval("document.querySelectorAll('form.signout').length") == 1
        b.eval("document.querySelector('form.signout button').click()")
        b.wait_event("Page.loadEventFired")
        assert b.eval("location.pathname") == "/login"
        names = {c["name"] for c in b.call("Network.getCookies", urls=[env["url"] + "/"])["cookies"]}
        assert "gen_session" not in names and "gen_csrf" in names
    finally:
        b.close()
    assert env["server"].log().count("event=csrf_refused") == refusals
