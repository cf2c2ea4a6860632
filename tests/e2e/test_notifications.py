"""The outbox: each notification is delivered once, as an RFC 5322 message,
to the spool directory or to an SMTP relay."""
import email
import email.policy
import os
import subprocess
import sys
import time

import pytest

from conftest import Worker, free_port, sql, wait_for


def notify(database, to, subject, body):
    sql(database, "SELECT gen_notify('test', %s, %s, %s)", (to, subject, body))
    return sql(database, "SELECT max(id) FROM outbox")[0][0]


def test_spool_delivery_once(database, tmpdir_module):
    spool = os.path.join(tmpdir_module, "spool")
    w = Worker(database, tmpdir_module, extra=("--spool-dir", spool))
    try:
        oid = notify(database, "nadia.benali@numerique-solidaire.example.fr", "Décision pour le dossier GEN-2026-000001",
                     "Le comité a rendu sa décision : funded.\n\nProjet innovant.")
        wait_for(lambda: sql(database, "SELECT delivered_at IS NOT NULL FROM outbox WHERE id=%s", (oid,))[0][0],
                 what="delivery")
        path = os.path.join(spool, f"{oid:010d}.eml")
        with open(path, "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.default)
        assert msg["To"] == "nadia.benali@numerique-solidaire.example.fr"
        assert msg["Subject"] == "Décision pour le dossier GEN-2026-000001"
        assert msg["Message-ID"] == f"<outbox-{oid}@gen.invalid>"
        assert msg.get_content().replace("\r\n", "\n") == "Le comité a rendu sa décision : funded.\n\nProjet innovant."
        # no temporary file left, exactly one file for the message
        assert sorted(os.listdir(spool)) == [f"{oid:010d}.eml"]
        assert sql(database, "SELECT state FROM jobs WHERE kind='deliver' AND payload->>'outbox' = %s",
                   (str(oid),)) == [("done",)]
    finally:
        w.stop()


def test_smtp_relay(database, tmpdir_module):
    port = free_port()
    log = open(os.path.join(tmpdir_module, "smtpd.log"), "wb")
    relay = subprocess.Popen(["/usr/bin/python3", "-W", "ignore", "-u", "-m", "smtpd", "-n", "-c",
                              "DebuggingServer", f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    time.sleep(0.5)
    w = Worker(database, tmpdir_module, extra=("--smtp-url", f"smtp://127.0.0.1:{port}",
                                              "--mail-from", "noreply@gen.test"))
    try:
        oid = notify(database, "reviewer@comite.test", "Nouveau dossier à évaluer", "Le dossier vous est confié.")
        wait_for(lambda: sql(database, "SELECT delivered_at IS NOT NULL FROM outbox WHERE id=%s", (oid,))[0][0],
                 what="SMTP delivery")
        time.sleep(0.3)
        with open(os.path.join(tmpdir_module, "smtpd.log"), "rb") as f:
            text = f.read().decode("utf-8", "replace")
        assert "To: reviewer@comite.test" in text and f"Message-ID: <outbox-{oid}@gen.invalid>" in text
        assert "X-Peer" in text or "---------- MESSAGE FOLLOWS ----------" in text
    finally:
        w.stop()
        relay.terminate()
        relay.wait(5)
        log.close()


def test_smtp_relay_down_retries(database, tmpdir_module):
    port = free_port()  # nothing listens there
    w = Worker(database, tmpdir_module, extra=("--smtp-url", f"smtp://127.0.0.1:{port}"))
    try:
        oid = notify(database, "x@y.test", "Sujet", "Corps")
        wait_for(lambda: sql(database, "SELECT attempts >= 1 AND state = 'queued' AND error IS NOT NULL FROM jobs "
                                       "WHERE kind='deliver' AND payload->>'outbox' = %s", (str(oid),))[0][0],
                 what="a failed attempt, queued for retry")
        assert sql(database, "SELECT delivered_at FROM outbox WHERE id=%s", (oid,)) == [(None,)]
    finally:
        w.stop()
