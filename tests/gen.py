"""Helpers shared by the black-box tests: accounts, documents, receipts."""
import base64
import hashlib
import os
import re
import subprocess
import tempfile
import xml.etree.ElementTree as ET

import requests

from conftest import ROOT, genctl

NS = "urn:gen:forms:1"
EXAMPLES = os.path.join(ROOT, "forms", "examples")

# Valid (Luhn) SIRETs of made-up organisations.
SIRET_A = "73282932000074"
SIRET_B = "55208131766522"
SIRET_C = "44306184100047"


def luhn_ok(digits):
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def example(name):
    with open(os.path.join(EXAMPLES, name), "rb") as f:
        return f.read()


def account(database, email, role, siret=None, password="correct horse battery", org="Organisation test"):
    """Create a user and return an API token for it."""
    args = ["user", "add", "--email", email, "--role", role, "--name", email.split("@")[0]]
    if siret:
        args += ["--siret", siret, "--org-name", org]
    genctl(database, *args, "--password-stdin", stdin=password + "\n")
    return genctl(database, "token", "create", "--email", email).stdout.strip()


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def xml_headers(token, **extra):
    h = {"Authorization": f"Bearer {token}", "Content-Type": "application/xml"}
    h.update(extra)
    return h


def call_doc(ref, kind="project", opens="2026-01-01T00:00:00Z", closes="2099-12-31T23:59:59Z",
             targets='<target metric="women" min="30"/>', budget="500000.00", max_request="150000.00",
             extra=""):
    budget_xml = f"<budget>{budget}</budget>" if kind == "project" else ""
    maxreq = f"<maxRequest>{max_request}</maxRequest>" if max_request else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<call xmlns="{NS}" ref="{ref}" kind="{kind}">
  <title>Appel {ref}</title>
  <opensAt>{opens}</opensAt>
  <closesAt>{closes}</closesAt>
  {budget_xml}
  {maxreq}
  <reviewersPerApplication>2</reviewersPerApplication>
  <maxLoadPerReviewer>10</maxLoadPerReviewer>
  <criteria>
    <criterion code="innovation" weight="3" scaleMax="5">Innovation</criterion>
    <criterion code="inclusion" weight="2" scaleMax="10">Inclusion</criterion>
  </criteria>
  <targets>{targets}</targets>
  {extra}
</call>""".encode()


def application(call_ref, siret=SIRET_A, kind="projectApplication", women="40", requested=None,
                title=None):
    """The example application adapted to a call, an organisation and values."""
    src = example("projectApplication.xml" if kind == "projectApplication" else "labelApplication.xml")
    text = src.decode("utf-8")
    text = re.sub(r'call="[^"]*"', f'call="{call_ref}"', text, count=1)
    text = re.sub(r'siret="[0-9]{14}"', f'siret="{siret}"', text, count=1)
    text = re.sub(r"<womenPercent>[^<]*</womenPercent>", f"<womenPercent>{women}</womenPercent>", text, count=1)
    if requested is not None:
        text = re.sub(r"<requestedAmount>[^<]*</requestedAmount>",
                      f"<requestedAmount>{requested}</requestedAmount>", text, count=1)
    if title is not None:
        text = re.sub(r"<title>[^<]*</title>", f"<title>{title}</title>", text, count=1)
    return text.encode("utf-8")


def parse_receipt(body):
    root = ET.fromstring(body)
    assert root.tag == f"{{{NS}}}receipt", root.tag
    return {child.tag.split("}")[1]: child.text for child in root}


def verify_receipt(base_url, receipt, body=None):
    """Check a receipt's signature with the published key, independently of
    the server, through the openssl command line."""
    pem = requests.get(base_url + "/.well-known/gen-receipt-key.pem", timeout=5).text
    material = f"{receipt['tracking']}|{receipt['version']}|{receipt['receivedAt']}|{receipt['sha256']}"
    with tempfile.TemporaryDirectory() as d:
        for name, data in (("key.pem", pem.encode()), ("msg", material.encode()),
                           ("sig", base64.b64decode(receipt["signature"]))):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "key.pem", "-rawin",
                            "-in", "msg", "-sigfile", "sig"], cwd=d, capture_output=True, text=True)
    if body is not None:
        assert receipt["sha256"] == hashlib.sha256(body).hexdigest()
    return r.returncode == 0 and "Signature Verified Successfully" in r.stdout


def problem(r, status):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/problem+json"), r.headers
    p = r.json()
    assert p["status"] == status and p["title"] and p["type"], p
    return p
