-- 0002_review.sql - reviewers, panels, conflicts, assignment runs, reviews,
-- decisions, programmes and the notification outbox.

CREATE TABLE reviewers (
    user_id         bigint PRIMARY KEY REFERENCES users (id),
    families        text[] NOT NULL,
    regions         text[] NOT NULL DEFAULT '{}',
    max_load        int NOT NULL CHECK (max_load BETWEEN 1 AND 200),
    employer_siret  text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE panel_members (
    call_id  bigint NOT NULL REFERENCES calls (id),
    user_id  bigint NOT NULL REFERENCES reviewers (user_id),
    PRIMARY KEY (call_id, user_id)
);

-- Conflicts of interest between a reviewer and an organisation, typed by
-- their source; automatic ones are stored when found and never deleted.
CREATE TABLE conflicts (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES reviewers (user_id),
    siret       text NOT NULL CHECK (siret ~ '^[0-9]{14}$'),
    source      text NOT NULL CHECK (source IN ('declared', 'employer', 'email-domain')),
    reason      text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, siret, source)
);
CREATE INDEX conflicts_siret ON conflicts (siret);

-- Public webmail domains: sharing one of them is no conflict.
CREATE TABLE webmail_domains (domain text PRIMARY KEY);
INSERT INTO webmail_domains VALUES ('gmail.com'), ('googlemail.com'), ('yahoo.fr'), ('yahoo.com'),
    ('hotmail.fr'), ('hotmail.com'), ('outlook.fr'), ('outlook.com'), ('live.fr'), ('live.com'),
    ('orange.fr'), ('wanadoo.fr'), ('free.fr'), ('sfr.fr'), ('laposte.net'), ('neuf.fr'),
    ('icloud.com'), ('me.com'), ('protonmail.com'), ('proton.me'), ('gmx.fr'), ('gmx.com'),
    ('aol.com'), ('bbox.fr'), ('numericable.fr'), ('yandex.com'), ('mail.com');


-- One run of the assignment optimiser: its exact input (canonical text),
-- the hash of that input, its parameters and result, so it can be replayed
-- and undone as one step.
CREATE TABLE assignment_runs (
    id          bigserial PRIMARY KEY,
    call_id     bigint NOT NULL REFERENCES calls (id),
    job_id      bigint REFERENCES jobs (id),
    input       text NOT NULL,
    input_hash  text NOT NULL,
    params      jsonb NOT NULL,
    result      jsonb NOT NULL,
    result_hash text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    undone_at   timestamptz,
    undone_by   text
);

CREATE TABLE assignments (
    id              bigserial PRIMARY KEY,
    run_id          bigint REFERENCES assignment_runs (id),
    call_id         bigint NOT NULL REFERENCES calls (id),
    application_id  bigint NOT NULL REFERENCES applications (id),
    user_id         bigint NOT NULL REFERENCES reviewers (user_id),
    affinity        int NOT NULL,
    state           text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'declined', 'undone')),
    origin          text NOT NULL CHECK (origin IN ('optimiser', 'replacement', 'extra')),
    replaces        bigint REFERENCES assignments (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz,
    end_reason      text
);
CREATE UNIQUE INDEX assignments_one_active ON assignments (application_id, user_id) WHERE state = 'active';
CREATE INDEX assignments_call ON assignments (call_id, state);
CREATE INDEX assignments_user ON assignments (user_id, state);

CREATE TABLE reviews (
    application_id  bigint NOT NULL REFERENCES applications (id),
    user_id         bigint NOT NULL REFERENCES reviewers (user_id),
    recommendation  text NOT NULL CHECK (recommendation IN ('fund', 'reject', 'discuss')),
    confidence      int NOT NULL CHECK (confidence BETWEEN 1 AND 3),
    scores          jsonb NOT NULL,          -- {"criterion": value, ...}
    comment         text NOT NULL,
    feedback        text NOT NULL,
    document        bytea NOT NULL,
    version         int NOT NULL DEFAULT 1,
    submitted_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (application_id, user_id)
);

CREATE TABLE decisions (
    application_id  bigint PRIMARY KEY REFERENCES applications (id),
    outcome         text NOT NULL CHECK (outcome IN ('funded', 'labelled', 'rejected', 'waitlisted')),
    amount_cents    bigint,
    rationale       text NOT NULL,
    decided_by      bigint NOT NULL REFERENCES users (id),
    decided_at      timestamptz NOT NULL DEFAULT now()
);

-- A funded or labelled application becomes a programme, named by its
-- tracking number; labels carry a validity period.
CREATE TABLE programmes (
    tracking        text PRIMARY KEY REFERENCES applications (tracking),
    application_id  bigint NOT NULL UNIQUE REFERENCES applications (id),
    kind            text NOT NULL CHECK (kind IN ('funded', 'labelled')),
    siret           text NOT NULL,
    family          text,
    call_id         bigint NOT NULL REFERENCES calls (id),
    valid_from      date,
    valid_until     date,
    state           text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'expired')),
    expiry_notified boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Messages written in the same transaction as their event; the worker
-- delivers each one once.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL,
    recipient     text NOT NULL,
    subject       text NOT NULL,
    body          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    delivered_at  timestamptz,
    attempts      int NOT NULL DEFAULT 0,
    last_error    text
);
CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_at IS NULL;

-- Queue a message: the outbox row and its delivery job commit with the
-- event that caused them.
CREATE FUNCTION gen_notify(p_kind text, p_to text, p_subject text, p_body text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE v_id bigint;
BEGIN
    INSERT INTO outbox (kind, recipient, subject, body) VALUES (p_kind, p_to, p_subject, p_body)
    RETURNING id INTO v_id;
    PERFORM gen_enqueue('deliver', jsonb_build_object('outbox', v_id));
END $$;

-- Affinity of a reviewer and an application (DESIGN §5).
CREATE FUNCTION gen_affinity(p_families text[], p_regions text[], p_family text, p_region text)
RETURNS int LANGUAGE sql IMMUTABLE AS $$
    SELECT 3 * (p_family = ANY (p_families))::int + (p_region = ANY (p_regions))::int
$$;

-- Seats a reviewer may still take in a call.
CREATE FUNCTION gen_capacity_left(p_user bigint, p_call bigint)
RETURNS int LANGUAGE sql STABLE AS $$
    SELECT least(r.max_load, c.max_load_per_reviewer)
           - (SELECT count(*) FROM assignments a WHERE a.user_id = p_user AND a.call_id = p_call AND a.state = 'active')::int
      FROM reviewers r, calls c WHERE r.user_id = p_user AND c.id = p_call
$$;

-- Is reviewer p_user in conflict with organisation p_siret (any source)?
CREATE FUNCTION gen_conflicted(p_user bigint, p_siret text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM conflicts WHERE user_id = p_user AND siret = p_siret)
$$;

-- The best reviewer for one more seat of application p_app: a panel member
-- of its call, not conflicted, not already on it (in any state), with
-- capacity left; highest affinity, then lowest id. NULL when none.
CREATE FUNCTION gen_best_reviewer(p_app bigint, OUT user_id bigint, OUT affinity int)
LANGUAGE sql STABLE AS $$
    SELECT r.user_id, gen_affinity(r.families, r.regions, a.family, a.region)
      FROM applications a
      JOIN panel_members p ON p.call_id = a.call_id
      JOIN reviewers r ON r.user_id = p.user_id
     WHERE a.id = p_app
       AND NOT gen_conflicted(r.user_id, a.siret)
       AND NOT EXISTS (SELECT 1 FROM assignments x WHERE x.application_id = a.id AND x.user_id = r.user_id)
       AND gen_capacity_left(r.user_id, a.call_id) > 0
     ORDER BY 2 DESC, r.user_id
     LIMIT 1
$$;

-- Create or update a reviewer (an account without password when new).
-- Returns 201 (created), 200 (updated) or 409 (the e-mail belongs to a
-- non-reviewer account).
CREATE FUNCTION gen_reviewer_upsert(p_actor bigint, p_email text, p_name text, p_families text[],
                                    p_regions text[], p_max_load int, p_employer text)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    v_user  bigint;
    v_role  text;
    v_by    text := 'user:' || (SELECT email FROM users WHERE id = p_actor);
    v_st    int := 200;
BEGIN
    SELECT id, role INTO v_user, v_role FROM users WHERE email = p_email FOR UPDATE;
    IF FOUND AND v_role <> 'reviewer' THEN
        RETURN 409;
    END IF;
    IF NOT FOUND THEN
        INSERT INTO users (email, role, name) VALUES (p_email, 'reviewer', p_name) RETURNING id INTO v_user;
        v_st := 201;
    ELSE
        UPDATE users SET name = p_name WHERE id = v_user;
    END IF;
    INSERT INTO reviewers (user_id, families, regions, max_load, employer_siret)
    VALUES (v_user, p_families, p_regions, p_max_load, p_employer)
    ON CONFLICT (user_id) DO UPDATE SET families = EXCLUDED.families, regions = EXCLUDED.regions,
        max_load = EXCLUDED.max_load, employer_siret = EXCLUDED.employer_siret, updated_at = now();
    IF p_employer IS NOT NULL THEN
        INSERT INTO conflicts (user_id, siret, source, reason, created_by)
        VALUES (v_user, p_employer, 'employer', 'the reviewer''s employer', 'system: reviewer employerSiret')
        ON CONFLICT DO NOTHING;
    END IF;
    PERFORM gen_audit(v_by, CASE WHEN v_st = 201 THEN 'reviewer.create' ELSE 'reviewer.update' END, p_email,
                      '', array_to_string(p_families, ','));
    RETURN v_st;
END $$;

-- Replace the panel of a call. Returns the e-mails that are not reviewers
-- (nothing changed then), or an empty array.
CREATE FUNCTION gen_panel_set(p_actor bigint, p_call bigint, p_members text[])
RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    v_unknown text[];
    v_ref     text;
BEGIN
    SELECT array_agg(m ORDER BY m) INTO v_unknown
      FROM unnest(p_members) AS m
     WHERE NOT EXISTS (SELECT 1 FROM users u JOIN reviewers r ON r.user_id = u.id WHERE u.email = m);
    IF v_unknown IS NOT NULL THEN
        RETURN v_unknown;
    END IF;
    SELECT ref INTO v_ref FROM calls WHERE id = p_call FOR UPDATE;
    DELETE FROM panel_members WHERE call_id = p_call;
    INSERT INTO panel_members (call_id, user_id)
    SELECT p_call, u.id FROM users u WHERE u.email = ANY (p_members);
    PERFORM gen_audit('user:' || (SELECT email FROM users WHERE id = p_actor), 'panel.set', v_ref,
                      cardinality(p_members) || ' members', array_to_string(p_members, ','));
    RETURN '{}';
END $$;

-- A declared conflict. Returns 201, 200 (already declared) or 404 (no such
-- reviewer).
CREATE FUNCTION gen_conflict_declare(p_actor bigint, p_reviewer text, p_siret text, p_reason text)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    v_user bigint;
    v_id   bigint;
    v_by   text := 'user:' || (SELECT email FROM users WHERE id = p_actor);
BEGIN
    SELECT u.id INTO v_user FROM users u JOIN reviewers r ON r.user_id = u.id WHERE u.email = p_reviewer;
    IF NOT FOUND THEN
        RETURN 404;
    END IF;
    INSERT INTO conflicts (user_id, siret, source, reason, created_by)
    VALUES (v_user, p_siret, 'declared', p_reason, v_by)
    ON CONFLICT DO NOTHING RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RETURN 200;
    END IF;
    PERFORM gen_audit(v_by, 'conflict.declare', p_reviewer, p_reason, p_siret);
    RETURN 201;
END $$;

-- A reviewer declines an assignment: that seat alone is given to the best
-- remaining reviewer (gen_best_reviewer); every other assignment stays.
-- Returns (status, replacement e-mail or NULL, its affinity).
CREATE FUNCTION gen_decline(p_user bigint, p_tracking text, p_reason text,
                            OUT status int, OUT replacement text, OUT affinity int)
LANGUAGE plpgsql AS $$
DECLARE
    v_asg   assignments%ROWTYPE;
    v_app   applications%ROWTYPE;
    v_email text;
    v_new   bigint;
BEGIN
    SELECT * INTO v_app FROM applications WHERE tracking = p_tracking FOR UPDATE;
    IF NOT FOUND THEN
        status := 404; RETURN;
    END IF;
    SELECT * INTO v_asg FROM assignments
     WHERE application_id = v_app.id AND user_id = p_user ORDER BY id DESC LIMIT 1 FOR UPDATE;
    IF NOT FOUND THEN
        status := 404; RETURN;
    END IF;
    IF v_asg.state <> 'active' THEN
        status := 409; RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM reviews WHERE application_id = v_app.id AND user_id = p_user) THEN
        status := 422; RETURN;   -- a submitted review cannot be declined
    END IF;
    SELECT email INTO v_email FROM users WHERE id = p_user;
    UPDATE assignments SET state = 'declined', ended_at = now(), end_reason = p_reason WHERE id = v_asg.id;
    PERFORM gen_audit('user:' || v_email, 'assignment.decline', p_tracking, p_reason, '');
    SELECT b.user_id, b.affinity INTO v_new, affinity FROM gen_best_reviewer(v_app.id) b;
    IF v_new IS NOT NULL THEN
        INSERT INTO assignments (run_id, call_id, application_id, user_id, affinity, origin, replaces)
        VALUES (v_asg.run_id, v_app.call_id, v_app.id, v_new, affinity, 'replacement', v_asg.id);
        SELECT email INTO replacement FROM users WHERE id = v_new;
        PERFORM gen_audit('system', 'assignment.replace', p_tracking, 'replaces ' || v_email, replacement);
        PERFORM gen_notify('assignment', replacement, 'Nouveau dossier à évaluer : ' || p_tracking,
                           'Le dossier ' || p_tracking || ' « ' || v_app.title || ' » vous est confié '
                           || 'en remplacement d''un évaluateur qui s''est désisté.');
    ELSE
        PERFORM gen_audit('system', 'assignment.unfilled', p_tracking, 'no reviewer left for the seat of ' || v_email, '');
    END IF;
    status := 200;
END $$;

-- A review by an assigned reviewer (created or replaced). Status: 201/200,
-- 404 not assigned, 403 conflicted, 409 already decided.
CREATE FUNCTION gen_review_put(p_user bigint, p_tracking text, p_rec text, p_conf int, p_scores jsonb,
                               p_comment text, p_feedback text, p_document bytea)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    v_app    applications%ROWTYPE;
    v_email  text;
    v_status int := 201;
    v_seats  int;
    v_done   int;
BEGIN
    SELECT * INTO v_app FROM applications WHERE tracking = p_tracking FOR UPDATE;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM assignments WHERE application_id = v_app.id
                                   AND user_id = p_user AND state = 'active') THEN
        RETURN 404;
    END IF;
    IF gen_conflicted(p_user, v_app.siret) THEN
        RETURN 403;
    END IF;
    IF v_app.state NOT IN ('in-review', 'reviewed') THEN
        RETURN 409;
    END IF;
    SELECT email INTO v_email FROM users WHERE id = p_user;
    INSERT INTO reviews (application_id, user_id, recommendation, confidence, scores, comment, feedback, document)
    VALUES (v_app.id, p_user, p_rec, p_conf, p_scores, p_comment, p_feedback, p_document)
    ON CONFLICT (application_id, user_id) DO UPDATE SET recommendation = EXCLUDED.recommendation,
        confidence = EXCLUDED.confidence, scores = EXCLUDED.scores, comment = EXCLUDED.comment,
        feedback = EXCLUDED.feedback, document = EXCLUDED.document, version = reviews.version + 1,
        submitted_at = now()
    RETURNING CASE WHEN version = 1 THEN 201 ELSE 200 END INTO v_status;
    PERFORM gen_audit('user:' || v_email, 'review.submit', p_tracking, p_rec, p_scores::text);
    SELECT count(*) INTO v_seats FROM assignments WHERE application_id = v_app.id AND state = 'active';
    SELECT count(*) INTO v_done FROM assignments a JOIN reviews r
        ON r.application_id = a.application_id AND r.user_id = a.user_id
     WHERE a.application_id = v_app.id AND a.state = 'active';
    IF v_app.state = 'in-review' AND v_done >= v_seats THEN
        PERFORM gen_app_transition(v_app.id, 'reviewed', 'system', 'all ' || v_seats || ' reviews submitted');
    END IF;
    RETURN v_status;
END $$;

-- One more reviewer for an application (e.g. a disagreement): the best
-- available one. Returns (status, e-mail, affinity): 201, 404, 409 (state),
-- 422 (nobody left).
CREATE FUNCTION gen_extra_reviewer(p_actor bigint, p_call bigint, p_tracking text,
                                   OUT status int, OUT reviewer text, OUT affinity int)
LANGUAGE plpgsql AS $$
DECLARE
    v_app applications%ROWTYPE;
    v_new bigint;
BEGIN
    SELECT * INTO v_app FROM applications WHERE tracking = p_tracking AND call_id = p_call FOR UPDATE;
    IF NOT FOUND THEN
        status := 404; RETURN;
    END IF;
    IF v_app.state NOT IN ('in-review', 'reviewed') THEN
        status := 409; RETURN;
    END IF;
    SELECT b.user_id, b.affinity INTO v_new, affinity FROM gen_best_reviewer(v_app.id) b;
    IF v_new IS NULL THEN
        status := 422; RETURN;
    END IF;
    INSERT INTO assignments (call_id, application_id, user_id, affinity, origin)
    VALUES (p_call, v_app.id, v_new, affinity, 'extra');
    SELECT email INTO reviewer FROM users WHERE id = v_new;
    IF v_app.state = 'reviewed' THEN
        PERFORM gen_app_transition(v_app.id, 'in-review', 'user:' || (SELECT email FROM users WHERE id = p_actor),
                                   'extra reviewer ' || reviewer);
    END IF;
    PERFORM gen_audit('user:' || (SELECT email FROM users WHERE id = p_actor), 'assignment.extra', p_tracking, '', reviewer);
    PERFORM gen_notify('assignment', reviewer, 'Nouveau dossier à évaluer : ' || p_tracking,
                       'Le dossier ' || p_tracking || ' « ' || v_app.title || ' » vous est confié '
                       || 'pour un avis supplémentaire.');
    status := 201;
END $$;

-- Undo an assignment run as one step: its active assignments end, its
-- applications go back to eligible. Refused once a review was submitted.
CREATE FUNCTION gen_undo_run(p_actor bigint, p_run bigint) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    v_run assignment_runs%ROWTYPE;
    v_by  text := 'user:' || (SELECT email FROM users WHERE id = p_actor);
    r     record;
BEGIN
    SELECT * INTO v_run FROM assignment_runs WHERE id = p_run FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 404;
    END IF;
    IF v_run.undone_at IS NOT NULL THEN
        RETURN 409;
    END IF;
    IF EXISTS (SELECT 1 FROM assignments a JOIN reviews rv ON rv.application_id = a.application_id
                AND rv.user_id = a.user_id WHERE a.run_id = p_run) THEN
        RETURN 422;
    END IF;
    UPDATE assignments SET state = 'undone', ended_at = now(), end_reason = 'run ' || p_run || ' undone'
     WHERE run_id = p_run AND state = 'active';
    FOR r IN SELECT DISTINCT a.id FROM applications a JOIN assignments x ON x.application_id = a.id
              WHERE x.run_id = p_run AND a.state = 'in-review' ORDER BY a.id LOOP
        PERFORM gen_app_transition(r.id, 'eligible', v_by, 'assignment run ' || p_run || ' undone');
    END LOOP;
    UPDATE assignment_runs SET undone_at = now(), undone_by = v_by WHERE id = p_run;
    PERFORM gen_audit(v_by, 'assignment.undo', (SELECT ref FROM calls WHERE id = v_run.call_id), 'run ' || p_run, '');
    RETURN 200;
END $$;

-- The committee's decisions for a call, all or nothing. p_items is a JSON
-- array of {"tracking","outcome","amount" (cents or null),"rationale"}.
-- Returns a JSON object {"status": 200|409|422, "errors": [{"index","tracking","message"}]}.
CREATE FUNCTION gen_decide(p_actor bigint, p_call bigint, p_items jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_call   calls%ROWTYPE;
    v_by     text := 'user:' || (SELECT email FROM users WHERE id = p_actor);
    v_errs   jsonb := '[]';
    v_status int := 200;
    v_app    applications%ROWTYPE;
    v_to     text;
    it       record;
BEGIN
    SELECT * INTO v_call FROM calls WHERE id = p_call;
    FOR it IN SELECT e.value AS v, e.ordinality - 1 AS i FROM jsonb_array_elements(p_items) WITH ORDINALITY e LOOP
        SELECT * INTO v_app FROM applications WHERE tracking = it.v->>'tracking' FOR UPDATE;
        IF NOT FOUND OR v_app.call_id <> p_call THEN
            v_errs := v_errs || jsonb_build_object('index', it.i, 'tracking', it.v->>'tracking',
                'message', 'application ' || (it.v->>'tracking') || ' is not an application of call ' || v_call.ref);
            v_status := 422;
        ELSIF (it.v->>'outcome' = 'funded' AND v_call.kind <> 'project')
           OR (it.v->>'outcome' = 'labelled' AND v_call.kind <> 'label') THEN
            v_errs := v_errs || jsonb_build_object('index', it.i, 'tracking', it.v->>'tracking',
                'message', 'outcome ' || (it.v->>'outcome') || ' does not apply to a ' || v_call.kind || ' call');
            v_status := 422;
        ELSIF v_app.state NOT IN ('in-review', 'reviewed', 'waitlisted') OR
              (v_app.state = 'waitlisted' AND it.v->>'outcome' = 'waitlisted') THEN
            v_errs := v_errs || jsonb_build_object('index', it.i, 'tracking', it.v->>'tracking',
                'message', 'application ' || v_app.tracking || ' is ' || v_app.state || ': no decision can be recorded');
            IF v_status = 200 THEN v_status := 409; END IF;
        END IF;
    END LOOP;
    IF v_status <> 200 THEN
        RETURN jsonb_build_object('status', v_status, 'errors', v_errs);
    END IF;
    FOR it IN SELECT e.value AS v FROM jsonb_array_elements(p_items) e LOOP
        SELECT * INTO v_app FROM applications WHERE tracking = it.v->>'tracking';
        v_to := it.v->>'outcome';
        PERFORM gen_app_transition(v_app.id, v_to, v_by, it.v->>'rationale');
        INSERT INTO decisions (application_id, outcome, amount_cents, rationale, decided_by)
        VALUES (v_app.id, v_to, (it.v->>'amount')::bigint, it.v->>'rationale', p_actor)
        ON CONFLICT (application_id) DO UPDATE SET outcome = EXCLUDED.outcome, amount_cents = EXCLUDED.amount_cents,
            rationale = EXCLUDED.rationale, decided_by = EXCLUDED.decided_by, decided_at = now();
        PERFORM gen_audit(v_by, 'decision.' || v_to, v_app.tracking, it.v->>'rationale',
                          coalesce(it.v->>'amount', ''));
        IF v_to IN ('funded', 'labelled') THEN
            INSERT INTO programmes (tracking, application_id, kind, siret, family, call_id, valid_from, valid_until)
            VALUES (v_app.tracking, v_app.id, v_to, v_app.siret, v_app.family, p_call,
                    CASE WHEN v_to = 'labelled' THEN current_date END,
                    CASE WHEN v_to = 'labelled' THEN (current_date + interval '3 years')::date END);
        END IF;
        PERFORM gen_notify('decision', (SELECT email FROM users WHERE id = v_app.submitted_by),
                           'Décision pour le dossier ' || v_app.tracking,
                           'Le comité a rendu sa décision pour « ' || v_app.title || ' » : ' || v_to || E'.\n\n'
                           || (it.v->>'rationale'));
    END LOOP;
    RETURN jsonb_build_object('status', 200, 'errors', '[]'::jsonb, 'decided', jsonb_array_length(p_items));
END $$;

-- Daily: labels past their validity expire; labels expiring within 60 days
-- are announced once.
CREATE FUNCTION gen_label_expiry(p_today date) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r        record;
    v_exp    int := 0;
    v_soon   int := 0;
BEGIN
    FOR r IN SELECT p.*, a.title, u.email FROM programmes p JOIN applications a ON a.id = p.application_id
               JOIN users u ON u.id = a.submitted_by
              WHERE p.kind = 'labelled' AND p.state = 'active' AND p.valid_until < p_today
              ORDER BY p.tracking FOR UPDATE OF p LOOP
        UPDATE programmes SET state = 'expired' WHERE tracking = r.tracking;
        PERFORM gen_app_transition(r.application_id, 'expired', 'worker', 'label valid until ' || r.valid_until);
        PERFORM gen_notify('label-expired', r.email, 'Label expiré : ' || r.tracking,
                           'Le label de « ' || r.title || ' » a expiré le ' || r.valid_until || '.');
        v_exp := v_exp + 1;
    END LOOP;
    FOR r IN SELECT p.*, a.title, u.email FROM programmes p JOIN applications a ON a.id = p.application_id
               JOIN users u ON u.id = a.submitted_by
              WHERE p.kind = 'labelled' AND p.state = 'active' AND NOT p.expiry_notified
                AND p.valid_until < p_today + 60
              ORDER BY p.tracking FOR UPDATE OF p LOOP
        UPDATE programmes SET expiry_notified = true WHERE tracking = r.tracking;
        PERFORM gen_notify('label-expiry-soon', r.email, 'Label bientôt expiré : ' || r.tracking,
                           'Le label de « ' || r.title || ' » expire le ' || r.valid_until || '.');
        v_soon := v_soon + 1;
    END LOOP;
    RETURN jsonb_build_object('expired', v_exp, 'expiringSoon', v_soon);
END $$;

-- Queue the optimal assignment of a call (DESIGN §5). Status 202 with the
-- job, 404 no call, 409 no panel or a run already queued, 422 nothing to
-- assign.
CREATE FUNCTION gen_request_assignment(p_actor bigint, p_ref text, OUT status int, OUT job bigint,
                                       OUT code text)
LANGUAGE plpgsql AS $$
DECLARE
    v_call calls%ROWTYPE;
BEGIN
    SELECT * INTO v_call FROM calls WHERE ref = p_ref FOR UPDATE;
    IF NOT FOUND THEN
        status := 404; code := 'not-found'; RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM panel_members WHERE call_id = v_call.id) THEN
        status := 409; code := 'no-panel'; RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM jobs WHERE kind = 'assign' AND state IN ('queued', 'running')
                AND (payload->>'call')::bigint = v_call.id) THEN
        status := 409; code := 'already-queued'; RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM applications WHERE call_id = v_call.id AND state = 'eligible') THEN
        status := 422; code := 'no-eligible'; RETURN;
    END IF;
    job := gen_enqueue('assign', jsonb_build_object('call', v_call.id, 'by', p_actor), p_actor);
    PERFORM gen_audit('user:' || (SELECT email FROM users WHERE id = p_actor), 'assignment.request', p_ref,
                      'job ' || job, '');
    status := 202; code := '';
END $$;

-- Why a reviewer holds a seat, and the best alternative (DESIGN §5).
CREATE FUNCTION gen_explain(p_ref text, p_tracking text, p_email text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_call  calls%ROWTYPE;
    v_app   applications%ROWTYPE;
    v_user  bigint;
    v_aff   int;
    v_alt   record;
    v_why   text;
BEGIN
    SELECT * INTO v_call FROM calls WHERE ref = p_ref;
    SELECT * INTO v_app FROM applications WHERE tracking = p_tracking AND call_id = v_call.id;
    SELECT id INTO v_user FROM users WHERE email = lower(p_email);
    SELECT affinity INTO v_aff FROM assignments
     WHERE application_id = v_app.id AND user_id = v_user AND state = 'active';
    IF v_call.id IS NULL OR v_app.id IS NULL OR v_user IS NULL OR v_aff IS NULL THEN
        RETURN jsonb_build_object('status', 404);
    END IF;
    SELECT r.user_id, u.email, gen_affinity(r.families, r.regions, v_app.family, v_app.region) AS affinity,
           least(r.max_load, v_call.max_load_per_reviewer) AS capacity,
           gen_capacity_left(r.user_id, v_call.id) AS free
      INTO v_alt
      FROM panel_members p JOIN reviewers r ON r.user_id = p.user_id JOIN users u ON u.id = r.user_id
     WHERE p.call_id = v_call.id AND r.user_id <> v_user
       AND NOT gen_conflicted(r.user_id, v_app.siret)
       AND NOT EXISTS (SELECT 1 FROM assignments x WHERE x.application_id = v_app.id
                        AND x.user_id = r.user_id AND x.state = 'active')
     ORDER BY 3 DESC, r.user_id LIMIT 1;
    IF v_alt.user_id IS NULL THEN
        v_why := 'no other panel member can review this application (conflicts or already on it)';
    ELSIF v_alt.free <= 0 THEN
        v_why := format('the best alternative has affinity %s but is at capacity: %s of %s seats in this call',
                        v_alt.affinity, v_alt.capacity - v_alt.free, v_alt.capacity);
    ELSIF v_alt.affinity < v_aff THEN
        v_why := format('the best alternative has a lower affinity (%s < %s)', v_alt.affinity, v_aff);
    ELSIF v_alt.affinity = v_aff THEN
        v_why := format('the best alternative has the same affinity (%s): ties go to the lower reviewer number '
                        'or to where the optimum needs each reviewer', v_aff);
    ELSE
        v_why := format('the best alternative has a higher affinity (%s > %s) and %s free seats now; '
                        'the run used its seats where they added more in total, or seats were freed since',
                        v_alt.affinity, v_aff, v_alt.free);
    END IF;
    RETURN jsonb_build_object('status', 200, 'application', p_tracking, 'reviewer', lower(p_email),
        'affinity', v_aff,
        'alternative', CASE WHEN v_alt.user_id IS NULL THEN NULL ELSE jsonb_build_object(
            'reviewer', v_alt.email, 'affinity', v_alt.affinity,
            'seatsTaken', v_alt.capacity - v_alt.free, 'capacity', v_alt.capacity) END,
        'why', v_why);
END $$;

-- The application as a given user may see it: (visible, json). Staff see
-- everything; providers their organisation's; reviewers the dossiers they
-- are (or were) assigned and not conflicted with. The decision and the
-- reviews' feedback appear once decided.
CREATE FUNCTION gen_application_view(p_tracking text, p_user bigint, OUT visible boolean, OUT body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_role  text;
    v_siret text;
    v_app   applications%ROWTYPE;
    v_json  jsonb;
BEGIN
    SELECT role, siret INTO v_role, v_siret FROM users WHERE id = p_user;
    SELECT * INTO v_app FROM applications WHERE tracking = p_tracking;
    visible := v_app.id IS NOT NULL AND (
        v_role = 'staff' OR
        (v_role = 'provider' AND v_app.siret = v_siret) OR
        (v_role = 'reviewer' AND EXISTS (SELECT 1 FROM assignments WHERE application_id = v_app.id
             AND user_id = p_user AND state IN ('active', 'declined'))
             AND NOT gen_conflicted(p_user, v_app.siret)));
    IF NOT visible THEN
        RETURN;
    END IF;
    SELECT json::jsonb INTO v_json FROM application_json WHERE id = v_app.id;
    IF EXISTS (SELECT 1 FROM decisions WHERE application_id = v_app.id) THEN
        v_json := v_json || jsonb_build_object('decision',
            (SELECT jsonb_build_object('outcome', outcome, 'amount', CASE WHEN amount_cents IS NULL THEN NULL
                     ELSE (amount_cents / 100.0)::numeric(14,2) END, 'rationale', rationale,
                     'decidedAt', gen_utc_text(decided_at))
               FROM decisions WHERE application_id = v_app.id),
            'feedback', (SELECT coalesce(jsonb_agg(feedback ORDER BY submitted_at), '[]') FROM reviews
                          WHERE application_id = v_app.id AND feedback <> ''));
    END IF;
    body := v_json::text;
END $$;

-- The reviews of an application as user p_user may see them (DESIGN §5):
-- staff see every review; an assigned reviewer sees their own, and the
-- others' only after submitting their own; nobody else sees any.
CREATE FUNCTION gen_review_view(p_user bigint, p_tracking text,
                                OUT visible boolean, OUT mine_submitted boolean, OUT body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_role text;
    v_app  applications%ROWTYPE;
    v_all  boolean;
BEGIN
    SELECT role INTO v_role FROM users WHERE id = p_user;
    SELECT * INTO v_app FROM applications WHERE tracking = p_tracking;
    mine_submitted := EXISTS (SELECT 1 FROM reviews WHERE application_id = v_app.id AND user_id = p_user);
    visible := v_app.id IS NOT NULL AND (v_role = 'staff' OR (v_role = 'reviewer'
        AND EXISTS (SELECT 1 FROM assignments WHERE application_id = v_app.id AND user_id = p_user
                    AND state = 'active')
        AND NOT gen_conflicted(p_user, v_app.siret)));
    IF NOT visible THEN
        RETURN;
    END IF;
    v_all := v_role = 'staff' OR mine_submitted;
    body := jsonb_build_object(
        'application', p_tracking,
        'state', v_app.state,
        'othersVisible', v_all,
        'reviews', coalesce((SELECT jsonb_agg(jsonb_build_object(
                'reviewer', u.email, 'mine', r.user_id = p_user,
                'recommendation', r.recommendation, 'confidence', r.confidence, 'scores', r.scores,
                'comment', r.comment, 'feedback', r.feedback, 'version', r.version,
                'submittedAt', gen_utc_text(r.submitted_at)) ORDER BY u.email)
              FROM reviews r JOIN users u ON u.id = r.user_id
             WHERE r.application_id = v_app.id AND (v_all OR r.user_id = p_user)), '[]'))::text;
END $$;

-- One label-expiry job per day, whichever worker schedules it first.
CREATE UNIQUE INDEX jobs_daily ON jobs (kind, (payload->>'day')) WHERE kind = 'label_expiry';
