-- 0005_integrity.sql - rules the committee's records must keep, found
-- missing by an outside review of the application:
--
-- * decisions: an amount only on a funded decision, never above the amount
--   requested; a funded decision without an amount grants the amount
--   requested; the call's funded total stays within its budget;
-- * a reviewer cannot decline (and so bring in a replacement) once the
--   dossier is decided or withdrawn;
-- * an assignment run cannot be undone once a dossier of it is decided;
-- * a conflict declared while the reviewer holds a seat on a dossier of
--   that organisation (no review submitted yet) ends the seat and gives it
--   to a replacement, as a decline does: never a conflicted active pair;
-- * login throttling no longer lets anyone lock an account out: 5 failures
--   block that account from that address only; the account as a whole
--   only after 50 failures from anywhere (a distributed guess); 30 from
--   one address block that address. Behind a reverse proxy the address is
--   the client's (trusted-proxies), not the proxy's;
-- * a reviewer who declined a dossier (or whose seat a conflict ended) no
--   longer reads it: DESIGN §3 gives it to the assigned reviewers.

-- Cents as euros with two decimals, for messages.
CREATE FUNCTION gen_money(p_cents text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(p_cents::numeric / 100, 'FM999999999999990.00')
$$;

-- End active assignment p_asg (state 'declined', with its reason) and give
-- its seat to the best remaining reviewer; the replacement's e-mail and
-- affinity, or NULLs when nobody is left. Audited and notified.
CREATE FUNCTION gen_seat_replace(p_asg bigint, p_by text, p_reason text,
                                 OUT replacement text, OUT affinity int)
LANGUAGE plpgsql AS $$
DECLARE
    v_asg   assignments%ROWTYPE;
    v_app   applications%ROWTYPE;
    v_email text;
    v_new   bigint;
BEGIN
    SELECT * INTO v_asg FROM assignments WHERE id = p_asg;
    SELECT * INTO v_app FROM applications WHERE id = v_asg.application_id;
    SELECT email INTO v_email FROM users WHERE id = v_asg.user_id;
    UPDATE assignments SET state = 'declined', ended_at = now(), end_reason = p_reason WHERE id = p_asg;
    PERFORM gen_audit(p_by, 'assignment.decline', v_app.tracking, p_reason, v_email);
    SELECT b.user_id, b.affinity INTO v_new, affinity FROM gen_best_reviewer(v_app.id) b;
    IF v_new IS NOT NULL THEN
        INSERT INTO assignments (run_id, call_id, application_id, user_id, affinity, origin, replaces)
        VALUES (v_asg.run_id, v_app.call_id, v_app.id, v_new, affinity, 'replacement', p_asg);
        SELECT email INTO replacement FROM users WHERE id = v_new;
        PERFORM gen_audit('system', 'assignment.replace', v_app.tracking, 'replaces ' || v_email, replacement);
        PERFORM gen_notify('assignment', replacement, 'Nouveau dossier à évaluer : ' || v_app.tracking,
                           'Le dossier ' || v_app.tracking || ' « ' || v_app.title || ' » vous est confié '
                           || 'en remplacement d''un évaluateur qui s''est désisté.');
    ELSE
        PERFORM gen_audit('system', 'assignment.unfilled', v_app.tracking,
                          'no reviewer left for the seat of ' || v_email, '');
    END IF;
END $$;

-- A refusal now says which conflict it is (code), so two 409s can differ.
DROP FUNCTION gen_decline(bigint, text, text);
CREATE FUNCTION gen_decline(p_user bigint, p_tracking text, p_reason text,
                            OUT status int, OUT replacement text, OUT affinity int, OUT code text)
LANGUAGE plpgsql AS $$
DECLARE
    v_asg   assignments%ROWTYPE;
    v_app   applications%ROWTYPE;
BEGIN
    SELECT * INTO v_app FROM applications WHERE tracking = p_tracking FOR UPDATE;
    IF NOT FOUND THEN
        status := 404; RETURN;
    END IF;
    -- Once decided or withdrawn, a dossier takes no new reviewer.
    IF v_app.state NOT IN ('in-review', 'reviewed') THEN
        status := 409; code := v_app.state; RETURN;
    END IF;
    SELECT * INTO v_asg FROM assignments
     WHERE application_id = v_app.id AND user_id = p_user ORDER BY id DESC LIMIT 1 FOR UPDATE;
    IF NOT FOUND THEN
        status := 404; RETURN;
    END IF;
    IF v_asg.state <> 'active' THEN
        status := 409; code := 'ended'; RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM reviews WHERE application_id = v_app.id AND user_id = p_user) THEN
        status := 422; RETURN;   -- a submitted review cannot be declined
    END IF;
    SELECT s.replacement, s.affinity INTO replacement, affinity
      FROM gen_seat_replace(v_asg.id, 'user:' || (SELECT email FROM users WHERE id = p_user), p_reason) s;
    status := 200;
END $$;

-- A declared conflict. Returns 201, 200 (already declared) or 404 (no such
-- reviewer). The reviewer's active seats on dossiers of that organisation
-- still open to review, where no review was submitted, are ended and
-- replaced at once (a submitted review stays on record).
CREATE OR REPLACE FUNCTION gen_conflict_declare(p_actor bigint, p_reviewer text, p_siret text, p_reason text)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    v_user bigint;
    v_id   bigint;
    v_by   text := 'user:' || (SELECT email FROM users WHERE id = p_actor);
    seat   record;
BEGIN
    SELECT u.id INTO v_user FROM users u JOIN reviewers rv ON rv.user_id = u.id WHERE u.email = p_reviewer;
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
    FOR seat IN SELECT x.id FROM assignments x JOIN applications a ON a.id = x.application_id
              WHERE x.user_id = v_user AND x.state = 'active' AND a.siret = p_siret
                AND a.state IN ('in-review', 'reviewed')
                AND NOT EXISTS (SELECT 1 FROM reviews rv WHERE rv.application_id = a.id AND rv.user_id = v_user)
              ORDER BY a.id FOR UPDATE OF x, a LOOP
        PERFORM gen_seat_replace(seat.id, v_by, 'conflict of interest declared: ' || p_reason);
    END LOOP;
    RETURN 201;
END $$;

-- A review by an assigned reviewer (created or replaced). Status: 201/200,
-- 404 never assigned, 403 conflicted (also once the conflict ended the
-- seat), 404 seat ended otherwise, 409 already decided.
CREATE OR REPLACE FUNCTION gen_review_put(p_user bigint, p_tracking text, p_rec text, p_conf int, p_scores jsonb,
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
                                   AND user_id = p_user) THEN
        RETURN 404;
    END IF;
    IF gen_conflicted(p_user, v_app.siret) THEN
        RETURN 403;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM assignments WHERE application_id = v_app.id
                      AND user_id = p_user AND state = 'active') THEN
        RETURN 404;
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

DROP FUNCTION gen_undo_run(bigint, bigint);
CREATE FUNCTION gen_undo_run(p_actor bigint, p_run bigint, OUT status int, OUT code text) LANGUAGE plpgsql AS $$
DECLARE
    v_run assignment_runs%ROWTYPE;
    v_by  text := 'user:' || (SELECT email FROM users WHERE id = p_actor);
    r     record;
BEGIN
    SELECT * INTO v_run FROM assignment_runs WHERE id = p_run FOR UPDATE;
    IF NOT FOUND THEN
        status := 404; RETURN;
    END IF;
    IF v_run.undone_at IS NOT NULL THEN
        status := 409; code := 'undone'; RETURN;
    END IF;
    -- A decision rests on the run's assignments: they stay on record.
    IF EXISTS (SELECT 1 FROM assignments a JOIN decisions d ON d.application_id = a.application_id
                WHERE a.run_id = p_run) THEN
        status := 409; code := 'decided'; RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM assignments a JOIN reviews rv ON rv.application_id = a.application_id
                AND rv.user_id = a.user_id WHERE a.run_id = p_run) THEN
        status := 422; RETURN;
    END IF;
    UPDATE assignments SET state = 'undone', ended_at = now(), end_reason = 'run ' || p_run || ' undone'
     WHERE run_id = p_run AND state = 'active';
    FOR r IN SELECT DISTINCT a.id FROM applications a JOIN assignments x ON x.application_id = a.id
              WHERE x.run_id = p_run AND a.state = 'in-review' ORDER BY a.id LOOP
        PERFORM gen_app_transition(r.id, 'eligible', v_by, 'assignment run ' || p_run || ' undone');
    END LOOP;
    UPDATE assignment_runs SET undone_at = now(), undone_by = v_by WHERE id = p_run;
    PERFORM gen_audit(v_by, 'assignment.undo', (SELECT ref FROM calls WHERE id = v_run.call_id), 'run ' || p_run, '');
    status := 200;
END $$;

CREATE OR REPLACE FUNCTION gen_decide(p_actor bigint, p_call bigint, p_items jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_call   calls%ROWTYPE;
    v_by     text := 'user:' || (SELECT email FROM users WHERE id = p_actor);
    v_errs   jsonb := '[]';
    v_status int := 200;
    v_app    applications%ROWTYPE;
    v_to     text;
    v_amount bigint;
    v_total  bigint;
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
        ELSIF it.v->>'amount' IS NOT NULL AND it.v->>'outcome' <> 'funded' THEN
            v_errs := v_errs || jsonb_build_object('index', it.i, 'tracking', it.v->>'tracking',
                'message', 'an amount applies only to a funded decision, not to ' || (it.v->>'outcome'));
            v_status := 422;
        ELSIF it.v->>'outcome' = 'funded' AND (it.v->>'amount')::bigint > v_app.requested_cents THEN
            v_errs := v_errs || jsonb_build_object('index', it.i, 'tracking', it.v->>'tracking',
                'message', 'funded amount ' || gen_money(it.v->>'amount') || ' exceeds the '
                || gen_money(v_app.requested_cents::text) || ' requested by ' || v_app.tracking);
            v_status := 422;
        END IF;
    END LOOP;
    -- The committee funds within the call's budget: what is already funded
    -- (other than the dossiers decided again here) plus this document's
    -- funded amounts, a funded decision without an amount granting the
    -- amount requested.
    IF v_status = 200 AND v_call.kind = 'project' THEN
        SELECT coalesce(sum(d.amount_cents), 0) INTO v_total
          FROM decisions d JOIN applications a ON a.id = d.application_id
         WHERE a.call_id = p_call AND d.outcome = 'funded'
           AND a.tracking NOT IN (SELECT e->>'tracking' FROM jsonb_array_elements(p_items) e);
        FOR it IN SELECT e.value AS v, e.ordinality - 1 AS i FROM jsonb_array_elements(p_items) WITH ORDINALITY e
                  WHERE e.value->>'outcome' = 'funded' LOOP
            v_total := v_total + coalesce((it.v->>'amount')::bigint,
                (SELECT requested_cents FROM applications WHERE tracking = it.v->>'tracking'), 0);
            IF v_total > v_call.budget_cents THEN
                v_errs := v_errs || jsonb_build_object('index', it.i, 'tracking', it.v->>'tracking',
                    'message', 'funding ' || (it.v->>'tracking') || ' brings the call''s funded total to '
                    || gen_money(v_total::text) || ', above its budget of ' || gen_money(v_call.budget_cents::text));
                v_status := 422;
                EXIT;
            END IF;
        END LOOP;
    END IF;
    IF v_status <> 200 THEN
        RETURN jsonb_build_object('status', v_status, 'errors', v_errs);
    END IF;
    FOR it IN SELECT e.value AS v FROM jsonb_array_elements(p_items) e LOOP
        SELECT * INTO v_app FROM applications WHERE tracking = it.v->>'tracking';
        v_to := it.v->>'outcome';
        v_amount := CASE WHEN v_to = 'funded' THEN coalesce((it.v->>'amount')::bigint, v_app.requested_cents) END;
        PERFORM gen_app_transition(v_app.id, v_to, v_by, it.v->>'rationale');
        INSERT INTO decisions (application_id, outcome, amount_cents, rationale, decided_by)
        VALUES (v_app.id, v_to, v_amount, it.v->>'rationale', p_actor)
        ON CONFLICT (application_id) DO UPDATE SET outcome = EXCLUDED.outcome, amount_cents = EXCLUDED.amount_cents,
            rationale = EXCLUDED.rationale, decided_by = EXCLUDED.decided_by, decided_at = now();
        PERFORM gen_audit(v_by, 'decision.' || v_to, v_app.tracking, it.v->>'rationale',
                          coalesce(v_amount::text, ''));
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

-- Seconds to wait before another attempt (0: go ahead): the longest of the
-- three windows that is full.
CREATE OR REPLACE FUNCTION gen_login_wait(p_email text, p_addr text) RETURNS int LANGUAGE sql STABLE AS $$
    SELECT coalesce(max(w), 0) FROM (
        SELECT CASE WHEN count(*) >= lim THEN
                 ceil(extract(epoch FROM min(at) + interval '15 minutes' - now()))::int END AS w
          FROM (VALUES ('pair:' || lower(p_email) || '|' || p_addr, 5),
                       ('account:' || lower(p_email), 50),
                       ('address:' || p_addr, 30)) k(key, lim)
          CROSS JOIN LATERAL (SELECT at FROM login_failures f WHERE f.key = k.key
                                AND at > now() - interval '15 minutes' ORDER BY at DESC LIMIT k.lim) f
         GROUP BY k.key, k.lim) x
$$;

CREATE OR REPLACE FUNCTION gen_login_failed(p_email text, p_addr text) RETURNS void LANGUAGE sql AS $$
    DELETE FROM login_failures WHERE at < now() - interval '1 hour';
    INSERT INTO login_failures (key) VALUES ('pair:' || lower(p_email) || '|' || p_addr),
        ('account:' || lower(p_email)), ('address:' || p_addr);
$$;

-- A successful login forgets its own failures (this account from this
-- address) and the account's count; the address keeps its count.
CREATE FUNCTION gen_login_succeeded(p_email text, p_addr text) RETURNS void LANGUAGE sql AS $$
    DELETE FROM login_failures WHERE key IN ('pair:' || lower(p_email) || '|' || p_addr,
                                             'account:' || lower(p_email));
$$;

-- Who may read an application: its owner, staff, and reviewers with an
-- active seat on it who are not conflicted.
CREATE OR REPLACE FUNCTION gen_application_view(p_tracking text, p_user bigint, OUT visible boolean, OUT body text)
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
             AND user_id = p_user AND state = 'active')
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
