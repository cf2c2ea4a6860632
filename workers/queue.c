/* queue.c - see queue.h. The only module that writes jobs.state. */
#include "queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "util.h"
#include "wlog.h"

/* Rows locked by a live job transaction are skipped: their worker is alive
 * whatever the lease says. The error names the lost worker for operators. */
static const char sql_reap[] =
	"UPDATE jobs SET"
	" state = CASE WHEN attempts >= least(max_attempts, $1::int) THEN 'dead' ELSE 'queued' END,"
	" error = 'lease expired on attempt ' || attempts || ' (worker ' || coalesce(locked_by, '?') || ' lost)'"
	"   || CASE WHEN attempts >= least(max_attempts, $1::int) THEN ', no attempts left' ELSE '' END,"
	" locked_by = NULL, lease_until = NULL, run_at = now(), updated_at = now()"
	" WHERE id IN (SELECT id FROM jobs WHERE state = 'running' AND lease_until < now()"
	"              ORDER BY id FOR UPDATE SKIP LOCKED)"
	" RETURNING id, kind, state, attempts";

static const char sql_claim[] =
	"UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1,"
	" lease_until = now() + make_interval(secs => $2::int), updated_at = now()"
	" WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= now()"
	"             ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
	" RETURNING id, kind, payload::text, attempts, least(max_attempts, $3::int)";

static const char sql_lock[] =
	"SELECT 1 FROM jobs WHERE id = $1 AND state = 'running' AND locked_by = $2"
	" AND attempts = $3 FOR UPDATE";

static const char sql_done[] =
	"UPDATE jobs SET state = 'done', result = $3::jsonb, error = NULL,"
	" lease_until = NULL, updated_at = now()"
	" WHERE id = $1 AND state = 'running' AND locked_by = $2";

static const char sql_fail[] =
	"UPDATE jobs SET"
	" state = CASE WHEN $4::bool OR attempts >= $5::int THEN 'dead' ELSE 'queued' END,"
	" run_at = CASE WHEN $4::bool OR attempts >= $5::int THEN run_at"
	"          ELSE now() + $6::bigint * interval '1 millisecond' END,"
	" error = $7, locked_by = NULL, lease_until = NULL, updated_at = now()"
	" WHERE id = $1 AND state = 'running' AND locked_by = $2 AND attempts = $3"
	" RETURNING state";

static const char sql_next_wake[] =
	"SELECT (SELECT extract(epoch FROM min(run_at) - now()) * 1000"
	"          FROM jobs WHERE state = 'queued'),"
	"       (SELECT extract(epoch FROM min(lease_until) - now()) * 1000"
	"          FROM jobs WHERE state = 'running' AND lease_until > now())";

int
queue_reap(PGconn *c, int max_attempts, char *err, size_t errlen)
{
	char max[16];
	const char *p[] = { max };

	snprintf(max, sizeof max, "%d", max_attempts);
	PGresult *r = pg_exec(c, sql_reap, 1, p, 0, err, errlen);
	if (r == NULL)
		return -1;
	int n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		char kind[128];
		wlog("job_lease_expired", "id=%s kind=%s attempts=%s state=%s",
		    PQgetvalue(r, i, 0), wlog_q(kind, sizeof kind, PQgetvalue(r, i, 1)),
		    PQgetvalue(r, i, 3), PQgetvalue(r, i, 2));
	}
	PQclear(r);
	return n;
}

int
queue_claim(PGconn *c, const char *me, int lease_seconds, int max_attempts,
    struct job *job, char *err, size_t errlen)
{
	char lease[16], max[16];
	const char *p[] = { me, lease, max };
	int64_t v;

	snprintf(lease, sizeof lease, "%d", lease_seconds);
	snprintf(max, sizeof max, "%d", max_attempts);
	memset(job, 0, sizeof *job);
	PGresult *r = pg_exec(c, sql_claim, 3, p, 0, err, errlen);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return 0;
	}
	parse_int64(PQgetvalue(r, 0, 0), 1, INT64_MAX, &job->id);
	job->kind = xstrdup(PQgetvalue(r, 0, 1));
	job->payload = xstrdup(PQgetvalue(r, 0, 2));
	parse_int64(PQgetvalue(r, 0, 3), 0, INT32_MAX, &v);
	job->attempts = (int)v;
	parse_int64(PQgetvalue(r, 0, 4), 0, INT32_MAX, &v);
	job->max_attempts = (int)v;
	PQclear(r);
	return 1;
}

void
queue_job_free(struct job *job)
{
	free(job->kind);
	free(job->payload);
	memset(job, 0, sizeof *job);
}

int
queue_lock(PGconn *c, const char *me, const struct job *job, char *err,
    size_t errlen)
{
	char id[24], att[16];
	const char *p[] = { id, me, att };

	snprintf(id, sizeof id, "%lld", (long long)job->id);
	snprintf(att, sizeof att, "%d", job->attempts);
	PGresult *r = pg_exec(c, sql_lock, 3, p, 0, err, errlen);
	if (r == NULL)
		return -1;
	int n = PQntuples(r);
	PQclear(r);
	return n == 1;
}

int
queue_done(PGconn *c, const char *me, const struct job *job,
    const char *result, char *err, size_t errlen)
{
	char id[24];
	const char *p[] = { id, me, result };

	snprintf(id, sizeof id, "%lld", (long long)job->id);
	PGresult *r = pg_exec(c, sql_done, 3, p, 0, err, errlen);
	if (r == NULL)
		return -1;
	int ok = strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	if (!ok) {
		/* Cannot happen while queue_lock's row lock is held. */
		snprintf(err, errlen, "job %lld is no longer ours", (long long)job->id);
		return -1;
	}
	return 0;
}

int
queue_fail(PGconn *c, const char *me, const struct job *job, int fatal,
    const char *error, long delay_ms, char *err, size_t errlen)
{
	char id[24], att[16], max[16], delay[24];
	const char *p[] = { id, me, att, fatal ? "true" : "false", max, delay, error };

	snprintf(id, sizeof id, "%lld", (long long)job->id);
	snprintf(att, sizeof att, "%d", job->attempts);
	snprintf(max, sizeof max, "%d", job->max_attempts);
	snprintf(delay, sizeof delay, "%ld", delay_ms);
	PGresult *r = pg_exec(c, sql_fail, 7, p, 0, err, errlen);
	if (r == NULL)
		return -1;
	int rc = PQntuples(r) == 0 ? 2 : strcmp(PQgetvalue(r, 0, 0), "dead") == 0;
	PQclear(r);
	return rc;
}

static long
clamp_wait(PGresult *r, int col, long floor_ms, long cap_ms)
{
	if (PQgetisnull(r, 0, col))
		return cap_ms;
	double ms = strtod(PQgetvalue(r, 0, col), NULL);
	if (ms < (double)floor_ms)
		return floor_ms;
	if (ms >= (double)cap_ms)
		return cap_ms;
	/* +1: wake just after the instant, not a hair before it */
	return (long)ms + 1 < cap_ms ? (long)ms + 1 : cap_ms;
}

long
queue_next_wake(PGconn *c, long floor_ms, long cap_ms, char *err,
    size_t errlen)
{
	PGresult *r = pg_exec(c, sql_next_wake, 0, NULL, 0, err, errlen);

	if (r == NULL)
		return -1;
	long a = clamp_wait(r, 0, floor_ms, cap_ms);
	long b = clamp_wait(r, 1, floor_ms, cap_ms);
	PQclear(r);
	return a < b ? a : b;
}

long
queue_backoff_ms(int attempts, unsigned rnd)
{
	long base = 300000;

	if (attempts < 1)
		attempts = 1;
	if (attempts < 9) /* 2^9 s > 300 s */
		base = 1000L << attempts;
	/* jitter in [0.8, 1.2): spreads retries of jobs that failed together */
	long ms = base * 8 / 10 + (long)((rnd % 1000) * (unsigned long)base * 4 / 10000);
	return ms < 300000 ? ms : 300000;
}

int
queue_schedule_daily(PGconn *c, char *err, size_t errlen)
{
	if (pg_run(c,
	    "INSERT INTO jobs (kind, payload) "
	    "VALUES ('label_expiry', jsonb_build_object('day', current_date::text)) "
	    "ON CONFLICT (kind, (payload->>'day')) WHERE kind = 'label_expiry' DO NOTHING",
	    0, NULL, err, errlen) != 0)
		return -1;
	return pg_run(c,
	    "INSERT INTO jobs (kind, payload) "
	    "VALUES ('outcome_alerts', jsonb_build_object('day', current_date::text)) "
	    "ON CONFLICT (kind, (payload->>'day')) WHERE kind = 'outcome_alerts' DO NOTHING",
	    0, NULL, err, errlen);
}
