-- pgbench reference for intake: the same inserts as one submission
-- (gen_submit in schema/0001_core.sql), in one transaction, as plain SQL.
-- :provider and :call are set on the command line; the 8 KB body comes from
-- the bench_body table filled by tests/bench/run.sh.
BEGIN;
SELECT email FROM users WHERE id = :provider;
SELECT opens_at, closes_at FROM calls WHERE id = :call;
INSERT INTO tracking_counters AS t (year, last) VALUES (2026, 1)
  ON CONFLICT (year) DO UPDATE SET last = t.last + 1 RETURNING last AS n \gset
INSERT INTO applications (tracking, call_id, kind, siret, org_name, submitted_by, state, title,
                          family, region, requested_cents, first_received_at)
SELECT 'GEN-2026-' || lpad(:n::text, 6, '0'), :call, 'project', u.siret, 'Bench org', :provider,
       'submitted', 'Bench', 'development', '32', 9000000, clock_timestamp()
  FROM users u WHERE u.id = :provider RETURNING id AS app \gset
INSERT INTO application_versions (application_id, version, body, sha256, received_at, submitted_by)
SELECT :app, 1, body, sha, gen_utc_text(clock_timestamp()), :provider FROM bench_body;
INSERT INTO jobs (kind, payload, created_by) VALUES ('screen', jsonb_build_object('application', :app::bigint, 'version', 1), :provider);
SELECT pg_notify('gen_jobs', 'screen');
SELECT gen_audit('user:bench'::text, 'application.submit'::text, ('GEN-2026-' || lpad(CAST(:n AS text), 6, '0'))::text, 'version 1'::text, 'x'::text);
COMMIT;
