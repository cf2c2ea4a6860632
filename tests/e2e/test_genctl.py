"""genctl against a real PostgreSQL: migrations, users, tokens, audit chain,
job listing. Each test checks what an operator would: the exit status, the
message, the stored rows and the audit entries."""
import base64
import hashlib
import os
import shutil
import uuid

import pytest

from conftest import FAST_ITER, PG, ROOT, TEMPLATE, genctl, sql

SIRET = "73282932000074"      # passes Luhn
BAD_SIRET = "73282932000075"  # fails Luhn


@pytest.fixture
def empty_db():
    """A brand-new database without any schema."""
    name = "m_" + uuid.uuid4().hex[:12]
    sql(PG + " dbname=postgres", f'CREATE DATABASE "{name}" TEMPLATE template0')
    yield f"{PG} dbname={name}"
    sql(PG + " dbname=postgres",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    sql(PG + " dbname=postgres", f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture
def fresh_db():
    """A migrated database of its own, for tests that damage it."""
    name = "f_" + uuid.uuid4().hex[:12]
    sql(PG + " dbname=postgres", f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    yield f"{PG} dbname={name}"
    sql(PG + " dbname=postgres",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    sql(PG + " dbname=postgres", f'DROP DATABASE IF EXISTS "{name}"')


def audit_rows(db, subject):
    return sql(db, "SELECT actor, action, reason, detail FROM audit_log WHERE subject = %s "
                   "ORDER BY seq", (subject,))


def pbkdf2_matches(stored, password):
    alg, iterations, salt, digest = stored.split("$")
    assert alg == "pbkdf2-sha256"
    got = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt),
                              int(iterations))
    return got == base64.b64decode(digest)


# ---- usage ----

def test_help_lists_every_command(database):
    r = genctl(database, "--help")
    for cmd in ("migrate", "user add", "token create", "audit verify", "jobs"):
        assert cmd in r.stdout
    assert genctl(database, check=False).returncode == 2
    r = genctl(database, "frobnicate", check=False)
    assert r.returncode == 2 and "unknown command" in r.stderr
    r = genctl(database, "user", "add", "--email", "a@b.c", "--bogus", check=False)
    assert r.returncode == 2 and "--bogus" in r.stderr


# ---- migrate ----

def test_migrate_applies_once_and_detects_a_changed_migration(empty_db, tmp_path):
    schema = tmp_path / "schema"
    shutil.copytree(os.path.join(ROOT, "schema"), schema)
    files = sorted(f for f in os.listdir(schema) if f.endswith(".sql"))
    assert files and files[0] == "0001_core.sql"

    # --db is an alias of GEN_DATABASE_URL and wins over it.
    r = genctl("dbname=does_not_exist", "--db", empty_db, "migrate", "--dir", str(schema))
    assert r.stdout.splitlines() == [f"applied {f}" for f in files]
    rows = sql(empty_db, "SELECT version, name, checksum FROM schema_migrations ORDER BY version")
    assert [(n, c) for _, n, c in rows] == [
        (f, hashlib.sha256((schema / f).read_bytes()).hexdigest()) for f in files]
    assert sql(empty_db, "SELECT to_regclass('audit_log') IS NOT NULL")[0][0]

    r = genctl(empty_db, "migrate", "--dir", str(schema))
    assert r.stdout.strip() == "up to date"

    # A new migration is applied alone; a failing one leaves nothing behind.
    (schema / "9000_extra.sql").write_text("CREATE TABLE extra_t (x int);\n"
                                           "INSERT INTO extra_t VALUES (1);\n")
    r = genctl(empty_db, "migrate", "--dir", str(schema))
    assert r.stdout.strip() == "applied 9000_extra.sql"
    (schema / "9001_broken.sql").write_text("CREATE TABLE broken_t (x int);\n"
                                            "\n"
                                            "SELEC 1;\n")
    r = genctl(empty_db, "migrate", "--dir", str(schema), check=False)
    assert r.returncode == 1
    assert "9001_broken.sql" in r.stderr and "line 3" in r.stderr
    assert sql(empty_db, "SELECT to_regclass('broken_t')")[0][0] is None
    assert sql(empty_db, "SELECT count(*) FROM schema_migrations WHERE version = 9001")[0][0] == 0
    (schema / "9001_broken.sql").unlink()

    # One byte changed in an applied migration: refused, nothing applied.
    core = schema / "0001_core.sql"
    data = bytearray(core.read_bytes())
    data[3] = ord("X") if data[3] != ord("X") else ord("Y")
    core.write_bytes(bytes(data))
    (schema / "9002_after.sql").write_text("CREATE TABLE after_t (x int);\n")
    r = genctl(empty_db, "migrate", "--dir", str(schema), check=False)
    assert r.returncode == 1
    assert "migration 0001_core.sql was changed after being applied" in r.stderr
    assert sql(empty_db, "SELECT to_regclass('after_t')")[0][0] is None


def test_migrate_refuses_a_database_ahead_of_the_directory(empty_db, tmp_path):
    schema = tmp_path / "schema"
    shutil.copytree(os.path.join(ROOT, "schema"), schema)
    (schema / "9100_later.sql").write_text("SELECT 1;\n")
    genctl(empty_db, "migrate", "--dir", str(schema))
    (schema / "9100_later.sql").unlink()
    r = genctl(empty_db, "migrate", "--dir", str(schema), check=False)
    assert r.returncode == 1 and "9100_later.sql" in r.stderr
    # An unapplied migration numbered below an applied one is refused too.
    (schema / "9100_later.sql").write_text("SELECT 1;\n")
    (schema / "9050_between.sql").write_text("SELECT 1;\n")
    r = genctl(empty_db, "migrate", "--dir", str(schema), check=False)
    assert r.returncode == 1 and "9050_between.sql" in r.stderr


def test_migrate_on_the_template_is_up_to_date(database):
    r = genctl(database, "migrate", "--dir", os.path.join(ROOT, "schema"))
    assert r.stdout.strip() == "up to date"


# ---- user add ----

def test_user_add_each_role(database):
    for role in ("staff", "reviewer"):
        email = f"Ann.{role}@Example.ORG"
        r = genctl(database, "user", "add", "--email", email, "--role", role,
                   "--name", f"Ann {role}", "--password-stdin", stdin="correct horse\n")
        assert r.stdout.strip() == f"created user {email.lower()} ({role})"
        row = sql(database, "SELECT role, name, siret, password_hash FROM users WHERE email = %s",
                  (email.lower(),))
        assert len(row) == 1
        got_role, name, siret, ph = row[0]
        assert (got_role, name, siret) == (role, f"Ann {role}", None)
        assert ph.startswith(f"pbkdf2-sha256${FAST_ITER}$")
        assert pbkdf2_matches(ph, "correct horse")
        assert not pbkdf2_matches(ph, "correct horse\n")
        assert audit_rows(database, email.lower()) == [("genctl", "user.add", role, "")]

    r = genctl(database, "user", "add", "--email", "prov@example.org", "--role", "provider",
               "--siret", SIRET, "--name", "Paul Provider", "--org-name", "Numérique Solidaire",
               "--region", "32", "--password-stdin", stdin="s3cret-password\r\n")
    row = sql(database, "SELECT u.role, u.siret, o.name, o.region, u.password_hash FROM users u "
                        "JOIN organisations o ON o.siret = u.siret WHERE u.email = 'prov@example.org'")
    assert row[0][:4] == ("provider", SIRET, "Numérique Solidaire", "32")
    assert pbkdf2_matches(row[0][4], "s3cret-password")

    # A second provider of the same organisation reuses it.
    genctl(database, "user", "add", "--email", "prov2@example.org", "--role", "provider",
           "--siret", SIRET)
    assert sql(database, "SELECT count(*) FROM organisations WHERE siret = %s", (SIRET,))[0][0] == 1
    # No --password-stdin: no password login.
    assert sql(database, "SELECT password_hash FROM users WHERE email = 'prov2@example.org'") == [(None,)]


def test_user_add_refuses_bad_input(database):
    def refused(*args, stdin=None):
        r = genctl(database, "user", "add", *args, stdin=stdin, check=False)
        assert r.returncode == 1, r
        assert r.stderr.startswith("genctl: ")
        return r.stderr

    assert "Luhn" in refused("--email", "bad@example.org", "--role", "provider",
                             "--siret", BAD_SIRET, "--org-name", "X")
    assert "--siret" in refused("--email", "bad@example.org", "--role", "provider")
    assert "--org-name" in refused("--email", "bad@example.org", "--role", "provider",
                                   "--siret", "55208131766522")
    assert "role" in refused("--email", "bad@example.org", "--role", "admin")
    assert "e-mail" in refused("--email", "not-an-address", "--role", "staff")
    assert "shorter" in refused("--email", "bad@example.org", "--role", "staff",
                                "--password-stdin", stdin="short\n")
    assert "empty" in refused("--email", "bad@example.org", "--role", "staff",
                              "--password-stdin", stdin="\n")
    assert "region" in refused("--email", "bad@example.org", "--role", "provider",
                               "--siret", SIRET, "--region", "99")
    assert sql(database, "SELECT count(*) FROM users WHERE email = 'bad@example.org'")[0][0] == 0
    assert sql(database, "SELECT count(*) FROM organisations WHERE siret = '55208131766522'")[0][0] == 0
    r = genctl(database, "user", "add", "--email", "x@example.org", check=False)
    assert r.returncode == 2 and "--role" in r.stderr


def test_user_add_twice_updates(database):
    genctl(database, "user", "add", "--email", "dup@example.org", "--role", "reviewer",
           "--name", "First", "--password-stdin", stdin="first-password\n")
    r = genctl(database, "user", "add", "--email", "DUP@example.org", "--role", "staff",
               "--name", "Second", "--password-stdin", stdin="second-password\n")
    assert r.stdout.strip() == "updated user dup@example.org (staff)"
    rows = sql(database, "SELECT role, name, password_hash FROM users WHERE email = 'dup@example.org'")
    assert len(rows) == 1
    assert rows[0][:2] == ("staff", "Second")
    assert pbkdf2_matches(rows[0][2], "second-password")
    # Re-running without a password keeps the one set before.
    genctl(database, "user", "add", "--email", "dup@example.org", "--role", "staff")
    rows = sql(database, "SELECT name, password_hash FROM users WHERE email = 'dup@example.org'")
    assert rows[0][0] == "Second" and pbkdf2_matches(rows[0][1], "second-password")
    assert [a[1] for a in audit_rows(database, "dup@example.org")] == ["user.add"] * 3


# ---- token create ----

def test_token_create_stores_only_the_hash(database):
    genctl(database, "user", "add", "--email", "tok@example.org", "--role", "staff")
    r = genctl(database, "token", "create", "--email", "Tok@Example.org")
    token = r.stdout
    assert token.endswith("\n") and token.count("\n") == 1
    token = token.strip()
    assert len(token) == 43
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert token not in r.stderr

    digest = hashlib.sha256(token.encode()).digest()
    rows = sql(database, "SELECT t.token_hash FROM api_tokens t JOIN users u ON u.id = t.user_id "
                         "WHERE u.email = 'tok@example.org'")
    assert [bytes(h) for (h,) in rows] == [digest]
    # The clear token is nowhere in the database's tokens or audit log.
    assert sql(database, "SELECT count(*) FROM api_tokens WHERE position(convert_to(%s, 'UTF8') "
                         "IN token_hash) > 0 OR encode(token_hash, 'escape') LIKE %s",
               (token, f"%{token}%"))[0][0] == 0
    assert sql(database, "SELECT count(*) FROM audit_log WHERE concat_ws('|', actor, action, "
                         "subject, reason, detail) LIKE %s", (f"%{token}%",))[0][0] == 0
    assert audit_rows(database, "tok@example.org")[-1][:2] == ("genctl", "token.create")

    second = genctl(database, "token", "create", "--email", "tok@example.org").stdout.strip()
    assert second != token
    r = genctl(database, "token", "create", "--email", "nobody@example.org", check=False)
    assert r.returncode == 1 and "no user nobody@example.org" in r.stderr and r.stdout == ""


# ---- audit verify ----

def test_audit_verify_ok_then_tampered(fresh_db):
    genctl(fresh_db, "user", "add", "--email", "a1@example.org", "--role", "staff")
    genctl(fresh_db, "user", "add", "--email", "a2@example.org", "--role", "reviewer",
           "--name", "Zoë Ødegård ✓")
    sql(fresh_db, "SELECT gen_audit('system', 'test', 'é', 'reason with | pipe', 'détail')")
    n = sql(fresh_db, "SELECT count(*) FROM audit_log")[0][0]
    r = genctl(fresh_db, "audit", "verify")
    assert r.stdout.strip() == f"ok entries={n}"

    sql(fresh_db, "UPDATE audit_log SET reason = 'x' WHERE seq = 2")
    r = genctl(fresh_db, "audit", "verify", check=False)
    assert r.returncode == 1
    assert r.stdout.strip() == "broken seq=2: hash does not match content"
    # The database's own check agrees.
    assert sql(fresh_db, "SELECT ok, broken_seq FROM gen_audit_verify()") == [(False, 2)]


def test_audit_verify_large_log_and_broken_links(fresh_db):
    # More rows than one fetch (10,000), with non-ASCII text.
    sql(fresh_db, "SELECT gen_audit('system', 'bulk', 'GEN-2026-' || lpad(i::text, 6, '0'), "
                  "'ré ' || i, '') FROM generate_series(1, 23456) AS i")
    r = genctl(fresh_db, "audit", "verify")
    assert r.stdout.strip() == "ok entries=23456"

    sql(fresh_db, "DELETE FROM audit_log WHERE seq = 15000")
    r = genctl(fresh_db, "audit", "verify", check=False)
    assert r.returncode == 1 and r.stdout.strip() == "broken seq=15000: missing entry"

    # Re-inserting a forged row with a correct own hash still breaks the chain.
    sql(fresh_db, "INSERT INTO audit_log (seq, at, actor, action, subject, reason, detail, "
                  "prev_hash, hash) SELECT 15000, at, actor, action, subject, reason, detail, "
                  "repeat('0', 64), encode(sha256(convert_to(gen_audit_material(15000, at, actor, "
                  "action, subject, reason, detail, repeat('0', 64)), 'UTF8')), 'hex') "
                  "FROM audit_log WHERE seq = 14999")
    r = genctl(fresh_db, "audit", "verify", check=False)
    assert r.returncode == 1
    assert r.stdout.strip() == "broken seq=15000: previous hash does not match"


# ---- jobs ----

def test_jobs_lists_by_state(database):
    jid = sql(database, "SELECT gen_enqueue('genctl-test', '{}')")[0][0]
    r = genctl(database, "jobs", "--state", "queued")
    assert r.stdout.splitlines()[0].split() == ["id", "kind", "state", "attempts", "error"]
    line = next(l for l in r.stdout.splitlines() if l.split()[0] == str(jid))
    assert line.split()[1:4] == ["genctl-test", "queued", "0/5"]
    r = genctl(database, "jobs", "--state", "dead")
    assert str(jid) not in [l.split()[0] for l in r.stdout.splitlines()]
    assert genctl(database, "jobs", "--state", "bogus", check=False).returncode == 2
    sql(database, "DELETE FROM jobs WHERE id = %s", (jid,))
