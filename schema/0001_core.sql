-- 0001_core.sql - identity, calls, applications, jobs and the audit chain.
-- Applied once by `genctl migrate` inside one transaction; never edited after
-- it has been applied anywhere (the checksum is recorded).

-- Organisations are identified by SIRET; providers belong to exactly one.
CREATE TABLE organisations (
    siret       text PRIMARY KEY CHECK (siret ~ '^[0-9]{14}$'),
    name        text NOT NULL,
    region      text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL UNIQUE CHECK (email = lower(email)),
    role          text NOT NULL CHECK (role IN ('provider', 'reviewer', 'staff')),
    name          text NOT NULL DEFAULT '',
    siret         text REFERENCES organisations (siret),
    password_hash text,             -- "pbkdf2-sha256$iterations$salt-b64$hash-b64", NULL: no password login
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (role <> 'provider' OR siret IS NOT NULL)
);

-- Session cookies and API tokens are random 256-bit values; only their
-- SHA-256 is stored.
CREATE TABLE sessions (
    token_hash  bytea PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE api_tokens (
    id          bigserial PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE calls (
    id                        bigserial PRIMARY KEY,
    ref                       text NOT NULL UNIQUE,
    kind                      text NOT NULL CHECK (kind IN ('project', 'label')),
    title                     text NOT NULL,
    opens_at                  timestamptz NOT NULL,
    closes_at                 timestamptz NOT NULL CHECK (closes_at > opens_at),
    budget_cents              bigint,
    max_request_cents         bigint,
    reviewers_per_application int NOT NULL,
    max_load_per_reviewer     int NOT NULL,
    threshold_tenths          int NOT NULL DEFAULT 0,
    max_funding_share_tenths  int,
    rank_by                   text NOT NULL DEFAULT 'raw' CHECK (rank_by IN ('raw', 'calibrated')),
    document                  bytea NOT NULL,   -- the call document, byte for byte
    created_by                bigint REFERENCES users (id),
    created_at                timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'project') = (budget_cents IS NOT NULL))
);

CREATE TABLE criteria (
    call_id     bigint NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    position    int NOT NULL,
    code        text NOT NULL,
    weight      int NOT NULL CHECK (weight BETWEEN 1 AND 10),
    scale_max   int NOT NULL CHECK (scale_max BETWEEN 1 AND 20),
    label       text NOT NULL,
    PRIMARY KEY (call_id, code),
    UNIQUE (call_id, position)
);

CREATE TABLE targets (
    call_id     bigint NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    metric      text NOT NULL CHECK (metric IN ('women', 'priority-area', 'low-qualification', 'positive-outcome', 'fill-rate')),
    min_tenths  int NOT NULL CHECK (min_tenths BETWEEN 0 AND 1000),
    PRIMARY KEY (call_id, metric)
);

-- Per-year counters behind GEN-{year}-{6 digits} tracking numbers.
CREATE TABLE tracking_counters (
    year  int PRIMARY KEY,
    last  int NOT NULL
);

CREATE TABLE applications (
    id                 bigserial PRIMARY KEY,
    tracking           text NOT NULL UNIQUE,
    call_id            bigint NOT NULL REFERENCES calls (id),
    kind               text NOT NULL CHECK (kind IN ('project', 'label')),
    siret              text NOT NULL REFERENCES organisations (siret),
    org_name           text NOT NULL,
    submitted_by       bigint NOT NULL REFERENCES users (id),
    state              text NOT NULL DEFAULT 'submitted',
    state_reason       text,
    current_version    int NOT NULL DEFAULT 1,
    title              text NOT NULL DEFAULT '',
    family             text,
    region             text,
    requested_cents    bigint,
    first_received_at  timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX applications_call ON applications (call_id, id);
CREATE INDEX applications_siret ON applications (siret);

-- Every version exactly as received: the body byte for byte and its SHA-256.
CREATE TABLE application_versions (
    application_id  bigint NOT NULL REFERENCES applications (id),
    version         int NOT NULL,
    body            bytea NOT NULL,
    sha256          text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    received_at     text NOT NULL,     -- exactly as signed: YYYY-MM-DDThh:mm:ss.ssssssZ
    submitted_by    bigint NOT NULL REFERENCES users (id),
    PRIMARY KEY (application_id, version)
);

-- Idempotency-Key: one per (user, key), remembering the body it was used with.
CREATE TABLE idempotency_keys (
    user_id         bigint NOT NULL REFERENCES users (id),
    key             text NOT NULL,
    body_sha256     text NOT NULL,
    application_id  bigint NOT NULL REFERENCES applications (id),
    version         int NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);

-- The job queue shared by every gen-worker.
CREATE TABLE jobs (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL,
    state         text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed', 'dead')),
    payload       jsonb NOT NULL DEFAULT '{}',
    attempts      int NOT NULL DEFAULT 0,
    max_attempts  int NOT NULL DEFAULT 5,
    run_at        timestamptz NOT NULL DEFAULT now(),
    locked_by     text,
    lease_until   timestamptz,
    error         text,
    result        jsonb,
    created_by    bigint REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_ready ON jobs (run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_until) WHERE state = 'running';

-- The audit log is a hash chain: each row's hash covers its own content and
-- the previous row's hash, so any edit or deletion breaks every later link.
-- Rows are chained under a transaction-level advisory lock, in commit order
-- of the lock holders, by the trigger below; `seq` is the chain position.
CREATE TABLE audit_log (
    seq        bigint PRIMARY KEY,
    at         text NOT NULL,       -- UTC instant, microseconds, as hashed
    actor      text NOT NULL,       -- "user:<email>", "worker", "system"
    action     text NOT NULL,       -- e.g. "application.submit", "application.state"
    subject    text NOT NULL,       -- e.g. tracking number or call ref
    reason     text NOT NULL DEFAULT '',
    detail     text NOT NULL DEFAULT '',
    prev_hash  text NOT NULL,
    hash       text NOT NULL
);
CREATE INDEX audit_subject ON audit_log (subject, seq);

-- The exact string that is hashed for a row. genctl audit verify rebuilds it
-- independently in C: keep the two in step.
CREATE FUNCTION gen_audit_material(p_seq bigint, p_at text, p_actor text, p_action text,
                                   p_subject text, p_reason text, p_detail text, p_prev text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT p_seq::text || '|' || p_at || '|' || p_actor || '|' || p_action || '|' ||
           p_subject || '|' || p_reason || '|' || p_detail || '|' || p_prev
$$;

CREATE FUNCTION gen_audit(p_actor text, p_action text, p_subject text,
                          p_reason text DEFAULT '', p_detail text DEFAULT '')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_prev text;
    v_seq  bigint;
    v_at   text := to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
BEGIN
    PERFORM pg_advisory_xact_lock(7300001);
    SELECT seq, hash INTO v_seq, v_prev FROM audit_log ORDER BY seq DESC LIMIT 1;
    IF NOT FOUND THEN
        v_seq := 0;
        v_prev := repeat('0', 64);
    END IF;
    v_seq := v_seq + 1;
    INSERT INTO audit_log (seq, at, actor, action, subject, reason, detail, prev_hash, hash)
    VALUES (v_seq, v_at, p_actor, p_action, p_subject, coalesce(p_reason, ''), coalesce(p_detail, ''), v_prev,
            encode(sha256(convert_to(gen_audit_material(v_seq, v_at, p_actor, p_action, p_subject,
                   coalesce(p_reason, ''), coalesce(p_detail, ''), v_prev), 'UTF8')), 'hex'));
    RETURN v_seq;
END $$;

-- Walks the chain; returns (ok, entries, first broken seq or NULL).
CREATE FUNCTION gen_audit_verify(OUT ok boolean, OUT entries bigint, OUT broken_seq bigint, OUT problem text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r      record;
    v_prev text := repeat('0', 64);
    v_next bigint := 1;
BEGIN
    ok := true; entries := 0; broken_seq := NULL; problem := NULL;
    FOR r IN SELECT * FROM audit_log ORDER BY seq LOOP
        IF r.seq <> v_next THEN
            ok := false; broken_seq := v_next; problem := 'missing entry'; RETURN;
        END IF;
        IF r.prev_hash <> v_prev THEN
            ok := false; broken_seq := r.seq; problem := 'previous hash does not match'; RETURN;
        END IF;
        IF r.hash <> encode(sha256(convert_to(gen_audit_material(r.seq, r.at, r.actor, r.action,
                r.subject, r.reason, r.detail, r.prev_hash), 'UTF8')), 'hex') THEN
            ok := false; broken_seq := r.seq; problem := 'hash does not match content'; RETURN;
        END IF;
        v_prev := r.hash; v_next := v_next + 1; entries := entries + 1;
    END LOOP;
END $$;

-- The one transition function of the application state machine. Every state
-- change goes through it and is audited; an unknown transition is an error.
CREATE FUNCTION gen_app_transition(p_app bigint, p_to text, p_actor text, p_reason text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_from     text;
    v_tracking text;
BEGIN
    SELECT state, tracking INTO v_from, v_tracking FROM applications WHERE id = p_app FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no application %', p_app USING ERRCODE = 'P0002';
    END IF;
    IF NOT (
        (v_from = 'submitted'  AND p_to IN ('screening', 'withdrawn')) OR
        (v_from = 'screening'  AND p_to IN ('eligible', 'ineligible', 'submitted', 'withdrawn')) OR
        (v_from = 'eligible'   AND p_to IN ('in-review', 'submitted', 'withdrawn')) OR
        (v_from = 'ineligible' AND p_to IN ('submitted', 'withdrawn')) OR
        (v_from = 'in-review'  AND p_to IN ('reviewed', 'eligible', 'funded', 'labelled', 'rejected', 'waitlisted', 'withdrawn')) OR
        (v_from = 'reviewed'   AND p_to IN ('in-review', 'funded', 'labelled', 'rejected', 'waitlisted', 'withdrawn')) OR
        (v_from = 'waitlisted' AND p_to IN ('funded', 'labelled', 'rejected')) OR
        (v_from = 'labelled'   AND p_to = 'expired')
    ) THEN
        RAISE EXCEPTION 'application % cannot go from % to %', v_tracking, v_from, p_to
            USING ERRCODE = 'GEN01';
    END IF;
    UPDATE applications SET state = p_to, state_reason = p_reason, updated_at = now() WHERE id = p_app;
    PERFORM gen_audit(p_actor, 'application.state', v_tracking, p_reason, v_from || '->' || p_to);
END $$;

CREATE FUNCTION gen_enqueue(p_kind text, p_payload jsonb, p_by bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_id bigint;
BEGIN
    INSERT INTO jobs (kind, payload, created_by) VALUES (p_kind, p_payload, p_by) RETURNING id INTO v_id;
    PERFORM pg_notify('gen_jobs', p_kind);
    RETURN v_id;
END $$;

CREATE FUNCTION gen_utc_text(p timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(p AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- Submission or amendment of an application, in one transaction:
-- idempotency check, tracking number, stored version, screening job, audit.
-- p_tracking NULL: a new application to p_call; else an amendment of it.
-- Returns status 201 (new), 200 (amended, or idempotent replay of the same
-- body), 409 (key reused with another body), 404 (no such application of
-- this user), 409 call-closed / state conflicts via code.
CREATE FUNCTION gen_submit(p_user bigint, p_call bigint, p_tracking text, p_siret text,
                           p_org_name text, p_region text, p_title text, p_family text,
                           p_requested bigint, p_body bytea, p_sha text, p_key text,
                           OUT status int, OUT code text, OUT tracking text, OUT version int,
                           OUT received_at text)
LANGUAGE plpgsql AS $$
DECLARE
    v_app    bigint;
    v_now    timestamptz := clock_timestamp();
    v_year   int := extract(year FROM v_now AT TIME ZONE 'UTC');
    v_n      int;
    v_email  text;
    v_call   calls%ROWTYPE;
    v_state  text;
    v_prev   record;
BEGIN
    code := '';
    IF p_key IS NOT NULL THEN
        -- Concurrent retries with one key queue here; the second sees the first.
        PERFORM pg_advisory_xact_lock(hashtext(p_user::text), hashtext(p_key));
        SELECT k.body_sha256, k.application_id, k.version INTO v_prev
          FROM idempotency_keys k WHERE k.user_id = p_user AND k.key = p_key;
        IF FOUND THEN
            IF v_prev.body_sha256 <> p_sha THEN
                status := 409; code := 'idempotency-key-reused'; RETURN;
            END IF;
            SELECT a.tracking, v.version, v.received_at INTO tracking, version, received_at
              FROM applications a JOIN application_versions v ON v.application_id = a.id
             WHERE a.id = v_prev.application_id AND v.version = v_prev.version;
            status := 200; code := 'replay'; RETURN;
        END IF;
    END IF;

    SELECT email INTO v_email FROM users WHERE id = p_user;
    IF p_tracking IS NOT NULL THEN
        SELECT a.id, a.state, a.current_version + 1, a.call_id INTO v_app, v_state, version, p_call
          FROM applications a JOIN users u ON u.siret = a.siret
         WHERE a.tracking = p_tracking AND u.id = p_user
         FOR UPDATE OF a;
        IF NOT FOUND THEN
            status := 404; code := 'not-found'; RETURN;
        END IF;
    END IF;
    SELECT * INTO v_call FROM calls WHERE id = p_call;
    IF v_now < v_call.opens_at OR v_now >= v_call.closes_at THEN
        status := 409; code := 'call-closed'; RETURN;
    END IF;

    IF p_tracking IS NULL THEN
        INSERT INTO tracking_counters AS t (year, last) VALUES (v_year, 1)
        ON CONFLICT (year) DO UPDATE SET last = t.last + 1 RETURNING last INTO v_n;
        tracking := 'GEN-' || v_year || '-' || lpad(v_n::text, 6, '0');
        version := 1;
        INSERT INTO applications (tracking, call_id, kind, siret, org_name, submitted_by, state,
                                  title, family, region, requested_cents, first_received_at)
        VALUES (tracking, p_call, v_call.kind, p_siret, p_org_name, p_user, 'submitted',
                p_title, p_family, p_region, p_requested, v_now)
        RETURNING id INTO v_app;
        status := 201;
    ELSE
        IF v_state NOT IN ('submitted', 'screening', 'eligible', 'ineligible') THEN
            status := 409; code := 'not-amendable'; RETURN;
        END IF;
        tracking := p_tracking;
        IF v_state <> 'submitted' THEN
            PERFORM gen_app_transition(v_app, 'submitted', 'user:' || v_email, 'amended to version ' || version);
        END IF;
        UPDATE applications SET current_version = version, org_name = p_org_name, title = p_title,
               family = p_family, region = p_region, requested_cents = p_requested, updated_at = v_now
         WHERE id = v_app;
        status := 200;
    END IF;

    received_at := gen_utc_text(v_now);
    INSERT INTO application_versions (application_id, version, body, sha256, received_at, submitted_by)
    VALUES (v_app, version, p_body, p_sha, received_at, p_user);
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (user_id, key, body_sha256, application_id, version)
        VALUES (p_user, p_key, p_sha, v_app, version);
    END IF;
    PERFORM gen_enqueue('screen', jsonb_build_object('application', v_app, 'version', version), p_user);
    PERFORM gen_audit('user:' || v_email,
                      CASE WHEN status = 201 THEN 'application.submit' ELSE 'application.amend' END,
                      tracking, 'version ' || version, p_sha);
END $$;

-- A new call with its criteria and targets (arrays in document order).
CREATE FUNCTION gen_create_call(p_user bigint, p_ref text, p_kind text, p_title text,
                                p_opens timestamptz, p_closes timestamptz, p_budget bigint,
                                p_max_request bigint, p_rpa int, p_mlpr int, p_threshold int,
                                p_mfs int, p_rank_by text, p_document bytea,
                                p_criteria jsonb, p_targets jsonb)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    v_id    bigint;
    v_email text;
BEGIN
    INSERT INTO calls (ref, kind, title, opens_at, closes_at, budget_cents, max_request_cents,
                       reviewers_per_application, max_load_per_reviewer, threshold_tenths,
                       max_funding_share_tenths, rank_by, document, created_by)
    VALUES (p_ref, p_kind, p_title, p_opens, p_closes, p_budget, p_max_request, p_rpa, p_mlpr,
            p_threshold, p_mfs, p_rank_by, p_document, p_user)
    ON CONFLICT (ref) DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RETURN 409;
    END IF;
    INSERT INTO criteria (call_id, position, code, weight, scale_max, label)
    SELECT v_id, ord, c->>'code', (c->>'weight')::int, (c->>'scaleMax')::int, c->>'label'
      FROM jsonb_array_elements(p_criteria) WITH ORDINALITY AS t(c, ord);
    INSERT INTO targets (call_id, metric, min_tenths)
    SELECT v_id, t->>'metric', (t->>'min')::int FROM jsonb_array_elements(p_targets) AS x(t);
    SELECT email INTO v_email FROM users WHERE id = p_user;
    PERFORM gen_audit(coalesce('user:' || v_email, 'system'), 'call.create', p_ref, p_title, p_kind);
    RETURN 201;
END $$;

-- Withdrawal by the owning organisation, before any decision.
CREATE FUNCTION gen_withdraw(p_user bigint, p_tracking text, p_reason text)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    v_app   bigint;
    v_state text;
    v_email text;
BEGIN
    SELECT a.id, a.state, u.email INTO v_app, v_state, v_email
      FROM applications a JOIN users u ON u.siret = a.siret
     WHERE a.tracking = p_tracking AND u.id = p_user
     FOR UPDATE OF a;
    IF NOT FOUND THEN
        RETURN 404;
    END IF;
    IF v_state IN ('withdrawn', 'funded', 'labelled', 'rejected', 'waitlisted', 'expired') THEN
        RETURN 409;
    END IF;
    PERFORM gen_app_transition(v_app, 'withdrawn', 'user:' || v_email,
                               coalesce(nullif(p_reason, ''), 'withdrawn by the provider'));
    RETURN 200;
END $$;

-- The application as the API shows it (DESIGN §3).
CREATE VIEW application_json AS
SELECT a.id, a.tracking, a.call_id, a.siret,
       json_build_object(
           'tracking', a.tracking,
           'call', c.ref,
           'kind', a.kind,
           'state', a.state,
           'stateReason', a.state_reason,
           'version', a.current_version,
           'receivedAt', v.received_at,
           'firstReceivedAt', gen_utc_text(a.first_received_at),
           'title', a.title,
           'organisation', json_build_object('siret', a.siret, 'name', a.org_name)
       )::text AS json
  FROM applications a
  JOIN calls c ON c.id = a.call_id
  JOIN application_versions v ON v.application_id = a.id AND v.version = a.current_version;

CREATE VIEW call_json AS
SELECT c.id, c.ref,
       json_build_object(
           'ref', c.ref, 'kind', c.kind, 'title', c.title,
           'opensAt', gen_utc_text(c.opens_at), 'closesAt', gen_utc_text(c.closes_at),
           'open', now() >= c.opens_at AND now() < c.closes_at,
           'budget', CASE WHEN c.budget_cents IS NULL THEN NULL ELSE (c.budget_cents / 100.0)::numeric(14,2) END,
           'maxRequest', CASE WHEN c.max_request_cents IS NULL THEN NULL ELSE (c.max_request_cents / 100.0)::numeric(14,2) END,
           'reviewersPerApplication', c.reviewers_per_application,
           'maxLoadPerReviewer', c.max_load_per_reviewer,
           'threshold', c.threshold_tenths / 10.0,
           'rankBy', c.rank_by,
           'criteria', (SELECT coalesce(json_agg(json_build_object('code', code, 'weight', weight,
                                  'scaleMax', scale_max, 'label', label) ORDER BY position), '[]')
                          FROM criteria WHERE call_id = c.id),
           'targets', (SELECT coalesce(json_agg(json_build_object('metric', metric, 'min', min_tenths / 10.0)
                                  ORDER BY metric), '[]')
                          FROM targets WHERE call_id = c.id)
       )::text AS json
  FROM calls c;
