-- 0003_outcomes.sql - cohort reports, pseudonymised learners, and the
-- rollups behind the outcome figures of DESIGN §6.
--
-- Learners are stored only under a keyed pseudonym (HMAC-SHA-256 of the
-- provider's ref; the key is a file outside the database). Each report
-- version is kept as the document with its refs replaced by pseudonyms.
-- Rollups are maintained in the same transaction as each report, so the
-- figures are never stale.

CREATE TABLE cohorts (
    id                bigserial PRIMARY KEY,
    programme         text NOT NULL REFERENCES programmes (tracking),
    code              text NOT NULL,
    version           int NOT NULL,
    start_date        date NOT NULL,
    end_date          date NOT NULL,
    planned_seats     int NOT NULL,
    region            text NOT NULL,
    year              int NOT NULL,
    family            text,
    call_id           bigint NOT NULL REFERENCES calls (id),
    siret             text NOT NULL,
    -- additive counts of the current version
    learners          int NOT NULL,
    women             int NOT NULL,
    priority_area     int NOT NULL,
    low_qualification int NOT NULL,
    rural             int NOT NULL,
    job_seeker        int NOT NULL,
    dropped           int NOT NULL,
    exited            int NOT NULL,
    outcome_reported  int NOT NULL,
    positive          int NOT NULL,
    duration_days     int NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (programme, code)
);

CREATE TABLE cohort_reports (
    cohort_id     bigint NOT NULL REFERENCES cohorts (id),
    version       int NOT NULL,
    document      bytea NOT NULL,     -- the report with every learner ref replaced by its pseudonym
    sha256        text NOT NULL,      -- of the bytes as received
    received_at   text NOT NULL,
    submitted_by  bigint NOT NULL REFERENCES users (id),
    PRIMARY KEY (cohort_id, version)
);

CREATE TABLE learners (
    cohort_id      bigint NOT NULL REFERENCES cohorts (id),
    pseudonym      bytea NOT NULL,    -- HMAC-SHA-256(key, provider ref)
    gender         text NOT NULL,
    birth_year     int NOT NULL,
    qualification  text NOT NULL,
    priority_area  boolean NOT NULL,
    rural          boolean NOT NULL,
    job_seeker     boolean NOT NULL,
    region         text NOT NULL,
    status         text NOT NULL,
    exit_date      date,
    qpv_code       text,
    outcome        text,
    outcome_at     date,
    PRIMARY KEY (cohort_id, pseudonym)
);

-- Sums of the cohort counts per (year, region, family, call, provider).
CREATE TABLE outcome_rollup (
    year              int NOT NULL,
    region            text NOT NULL,
    family            text NOT NULL,
    call_id           bigint NOT NULL,
    siret             text NOT NULL,
    cohorts           int NOT NULL,
    planned_seats     bigint NOT NULL,
    learners          bigint NOT NULL,
    women             bigint NOT NULL,
    priority_area     bigint NOT NULL,
    low_qualification bigint NOT NULL,
    rural             bigint NOT NULL,
    job_seeker        bigint NOT NULL,
    dropped           bigint NOT NULL,
    exited            bigint NOT NULL,
    outcome_reported  bigint NOT NULL,
    positive          bigint NOT NULL,
    duration_days     bigint NOT NULL,
    PRIMARY KEY (year, region, family, call_id, siret)
);

-- Add (p_sign 1) or remove (-1) one cohort's counts from the rollup.
CREATE FUNCTION gen_rollup_apply(c cohorts, p_sign int) RETURNS void LANGUAGE sql AS $$
    INSERT INTO outcome_rollup AS r VALUES (c.year, c.region, coalesce(c.family, ''), c.call_id, c.siret,
        p_sign, p_sign * c.planned_seats, p_sign * c.learners, p_sign * c.women, p_sign * c.priority_area,
        p_sign * c.low_qualification, p_sign * c.rural, p_sign * c.job_seeker, p_sign * c.dropped,
        p_sign * c.exited, p_sign * c.outcome_reported, p_sign * c.positive, p_sign * c.duration_days)
    ON CONFLICT (year, region, family, call_id, siret) DO UPDATE SET
        cohorts = r.cohorts + EXCLUDED.cohorts, planned_seats = r.planned_seats + EXCLUDED.planned_seats,
        learners = r.learners + EXCLUDED.learners, women = r.women + EXCLUDED.women,
        priority_area = r.priority_area + EXCLUDED.priority_area,
        low_qualification = r.low_qualification + EXCLUDED.low_qualification,
        rural = r.rural + EXCLUDED.rural, job_seeker = r.job_seeker + EXCLUDED.job_seeker,
        dropped = r.dropped + EXCLUDED.dropped, exited = r.exited + EXCLUDED.exited,
        outcome_reported = r.outcome_reported + EXCLUDED.outcome_reported,
        positive = r.positive + EXCLUDED.positive, duration_days = r.duration_days + EXCLUDED.duration_days;
    -- A cell no cohort is in any more disappears (no empty groups).
    DELETE FROM outcome_rollup WHERE year = c.year AND region = c.region AND family = coalesce(c.family, '')
       AND call_id = c.call_id AND siret = c.siret AND cohorts = 0;
$$;

-- A cohort report by the programme's owner: a new version replaces the
-- learners and the counts of the previous one. p_counts holds, in order:
-- learners, women, priority_area, low_qualification, rural, job_seeker,
-- dropped, exited, outcome_reported, positive, duration_days.
-- Returns (status 201/200/404, version).
CREATE FUNCTION gen_cohort_report(p_user bigint, p_programme text, p_code text, p_document bytea,
                                  p_sha text, p_start date, p_end date, p_seats int, p_region text,
                                  p_counts int[], p_learners jsonb, OUT status int, OUT version int)
LANGUAGE plpgsql AS $$
DECLARE
    v_prog  programmes%ROWTYPE;
    v_old   cohorts%ROWTYPE;
    v_new   cohorts%ROWTYPE;
    v_email text;
BEGIN
    SELECT p.* INTO v_prog FROM programmes p JOIN users u ON u.siret = p.siret
     WHERE p.tracking = p_programme AND u.id = p_user;
    IF NOT FOUND THEN
        status := 404; RETURN;
    END IF;
    SELECT email INTO v_email FROM users WHERE id = p_user;
    -- Reports of one cohort arriving together take turns (the row may not
    -- exist yet, so a row lock cannot do it).
    PERFORM pg_advisory_xact_lock(hashtext(p_programme), hashtext(p_code));
    SELECT * INTO v_old FROM cohorts WHERE programme = p_programme AND code = p_code FOR UPDATE;
    IF FOUND AND (SELECT cr.sha256 FROM cohort_reports cr WHERE cr.cohort_id = v_old.id AND cr.version = v_old.version) = p_sha THEN
        -- The same report again (a retry, an import run twice): nothing changes.
        status := 200; version := v_old.version; RETURN;
    END IF;
    IF FOUND THEN
        PERFORM gen_rollup_apply(v_old, -1);
        version := v_old.version + 1;
        status := 200;
        UPDATE cohorts SET version = gen_cohort_report.version, start_date = p_start, end_date = p_end,
               planned_seats = p_seats, region = p_region, year = extract(year FROM p_start),
               learners = p_counts[1], women = p_counts[2], priority_area = p_counts[3],
               low_qualification = p_counts[4], rural = p_counts[5], job_seeker = p_counts[6],
               dropped = p_counts[7], exited = p_counts[8], outcome_reported = p_counts[9],
               positive = p_counts[10], duration_days = p_counts[11], updated_at = now()
         WHERE id = v_old.id RETURNING * INTO v_new;
        DELETE FROM learners WHERE cohort_id = v_old.id;
    ELSE
        version := 1;
        status := 201;
        INSERT INTO cohorts (programme, code, version, start_date, end_date, planned_seats, region, year,
                             family, call_id, siret, learners, women, priority_area, low_qualification,
                             rural, job_seeker, dropped, exited, outcome_reported, positive, duration_days)
        VALUES (p_programme, p_code, 1, p_start, p_end, p_seats, p_region, extract(year FROM p_start),
                v_prog.family, v_prog.call_id, v_prog.siret, p_counts[1], p_counts[2], p_counts[3],
                p_counts[4], p_counts[5], p_counts[6], p_counts[7], p_counts[8], p_counts[9],
                p_counts[10], p_counts[11])
        RETURNING * INTO v_new;
    END IF;
    PERFORM gen_rollup_apply(v_new, 1);
    INSERT INTO cohort_reports (cohort_id, version, document, sha256, received_at, submitted_by)
    VALUES (v_new.id, version, p_document, p_sha, gen_utc_text(clock_timestamp()), p_user);
    INSERT INTO learners (cohort_id, pseudonym, gender, birth_year, qualification, priority_area, rural,
                          job_seeker, region, status, exit_date, qpv_code, outcome, outcome_at)
    SELECT v_new.id, decode(l.p, 'hex'), l.g, l.b, l.q, l.pa, l.ru, l.js, l.r, l.s, l.x, l.qpv, l.o, l.oa
      FROM jsonb_to_recordset(p_learners) AS l(p text, g text, b int, q text, pa boolean, ru boolean,
           js boolean, r text, s text, x date, qpv text, o text, oa date);
    PERFORM gen_audit('user:' || v_email, 'cohort.report', p_programme || '/' || p_code,
                      'version ' || version, p_sha);
END $$;

-- Programmes whose latest cohort falls below a target (DESIGN §6 statuses),
-- flagged by the worker's daily outcome_alerts job. An alert stays open
-- while the figure stays below; it is closed when a later check finds the
-- figure back at or above `near`.
CREATE TABLE programme_alerts (
    id          bigserial PRIMARY KEY,
    programme   text NOT NULL REFERENCES programmes (tracking),
    cohort      text NOT NULL,
    metric      text NOT NULL,
    value       numeric(5,1),
    target      numeric(5,1) NOT NULL,
    opened_at   timestamptz NOT NULL DEFAULT now(),
    closed_at   timestamptz
);
CREATE UNIQUE INDEX programme_alerts_open ON programme_alerts (programme, metric) WHERE closed_at IS NULL;

CREATE UNIQUE INDEX jobs_daily_alerts ON jobs (kind, (payload->>'day')) WHERE kind = 'outcome_alerts';
