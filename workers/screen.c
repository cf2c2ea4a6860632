/* screen.c - see screen.h. */
#include "screen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "xmlform.h"

static const char sql_payload[] =
	"SELECT CASE WHEN jsonb_typeof(p->'application') = 'number' THEN p->>'application' END,"
	"       CASE WHEN jsonb_typeof(p->'version') = 'number' THEN p->>'version' END"
	"  FROM (SELECT $1::jsonb AS p) s";

static const char sql_app[] =
	"SELECT a.state, a.current_version, a.tracking, a.call_id, c.ref, c.kind,"
	"       c.max_request_cents, c.max_funding_share_tenths"
	"  FROM applications a JOIN calls c ON c.id = a.call_id"
	" WHERE a.id = $1 FOR UPDATE OF a";

static const char sql_targets[] =
	"SELECT metric, min_tenths FROM targets WHERE call_id = $1";

static const char sql_body[] =
	"SELECT body FROM application_versions WHERE application_id = $1 AND version = $2";

static const char sql_transition[] =
	"SELECT gen_app_transition($1, $2, 'worker', $3)";

int
screen_decide(const char *body, size_t len, const char *call_ref,
    const struct call_rules *rules, char *reason, size_t reasonlen)
{
	struct form_errors *errs = xcalloc(1, sizeof *errs);
	enum form_kind kind = FORM_UNKNOWN;
	struct app_doc *a = xcalloc(1, sizeof *a);
	int rc = -1;

	xmlDocPtr doc = xmlform_parse(body, len, &kind, errs);
	if (doc == NULL) {
		const struct form_error *e = &errs->items[0];
		if (errs->count == 0)
			snprintf(reason, reasonlen, "the stored document does not parse");
		else
			snprintf(reason, reasonlen, "the stored document does not validate: line %d: %s",
			    e->line, e->message);
		goto out;
	}
	if (kind != FORM_PROJECT_APPLICATION && kind != FORM_LABEL_APPLICATION) {
		snprintf(reason, reasonlen, "the stored document is a %s, not an application",
		    form_kind_root(kind) ? form_kind_root(kind) : "unknown document");
		goto out;
	}
	form_app_extract(doc, kind, a);
	rc = 0;
	if (form_app_check(a, rules, errs) > 0 && errs->count > 0) {
		snprintf(reason, reasonlen, "%s", errs->items[0].message);
	} else if (strcmp(a->call_ref, call_ref) != 0) {
		snprintf(reason, reasonlen, "the document applies to call %s, not %s",
		    a->call_ref, call_ref);
	} else if (!siret_valid(a->siret)) {
		snprintf(reason, reasonlen, "SIRET %s fails the Luhn check", a->siret);
	} else if (form_app_meets_targets(a, rules, reason, reasonlen)) {
		snprintf(reason, reasonlen, "meets the call's rules and targets");
		rc = 1;
	}
out:
	if (doc != NULL)
		xmlFreeDoc(doc);
	free(errs);
	free(a);
	return rc;
}

/* The call's rules as stored: calls and targets rows. Targets are put in
 * the order of enum target_metric, so "the first unmet target" does not
 * depend on the order the rows come back in. */
static int
load_rules(PGconn *c, PGresult *app, const char *call_id, struct call_rules *r,
    char *err, size_t errlen)
{
	int64_t v;
	const char *p[] = { call_id };

	memset(r, 0, sizeof *r);
	r->kind = strcmp(PQgetvalue(app, 0, 5), "label") == 0 ? CALL_LABEL : CALL_PROJECT;
	if (!PQgetisnull(app, 0, 6)) {
		r->has_max_request = 1;
		parse_int64(PQgetvalue(app, 0, 6), INT64_MIN, INT64_MAX, &r->max_request_cents);
	}
	if (!PQgetisnull(app, 0, 7)) {
		r->has_max_funding_share = 1;
		parse_int64(PQgetvalue(app, 0, 7), 0, 1000, &v);
		r->max_funding_share_tenths = (int)v;
	}
	PGresult *t = pg_exec(c, sql_targets, 1, p, 0, err, errlen);
	if (t == NULL)
		return -1;
	for (int m = 0; m < TARGET_METRIC_COUNT; m++)
		for (int i = 0; i < PQntuples(t); i++) {
			if (strcmp(PQgetvalue(t, i, 0), target_metric_name((enum target_metric)m)) != 0)
				continue;
			if (r->n_targets >= (int)ARRAY_LEN(r->targets))
				break;
			parse_int64(PQgetvalue(t, i, 1), 0, 1000, &v);
			r->targets[r->n_targets].metric = (enum target_metric)m;
			r->targets[r->n_targets].min_tenths = (int)v;
			r->n_targets++;
		}
	PQclear(t);
	return 0;
}

static enum job_status
skipped(struct sbuf *result, const char *why)
{
	sbuf_adds(result, "{\"skipped\":");
	json_add_str(result, why);
	sbuf_addc(result, '}');
	return JOB_DONE;
}

enum job_status
screen_run(PGconn *conn, const struct job *job, struct sbuf *result,
    char *err, size_t errlen)
{
	const char *p[3];
	char app_id[24], version[16], reason[600];
	int64_t id, ver;
	enum job_status st = JOB_RETRY;
	PGresult *app = NULL;

	p[0] = job->payload;
	PGresult *r = pg_exec(conn, sql_payload, 1, p, 0, err, errlen);
	if (r == NULL)
		return JOB_FATAL; /* not even JSON: retrying cannot help */
	int bad = PQgetisnull(r, 0, 0) || PQgetisnull(r, 0, 1) ||
	    parse_int64(PQgetvalue(r, 0, 0), 1, INT64_MAX, &id) != 0 ||
	    parse_int64(PQgetvalue(r, 0, 1), 1, INT32_MAX, &ver) != 0;
	PQclear(r);
	if (bad) {
		snprintf(err, errlen, "payload needs integer \"application\" and \"version\"");
		return JOB_FATAL;
	}
	snprintf(app_id, sizeof app_id, "%lld", (long long)id);
	snprintf(version, sizeof version, "%lld", (long long)ver);

	p[0] = app_id;
	if ((app = pg_exec(conn, sql_app, 1, p, 0, err, errlen)) == NULL)
		return JOB_RETRY;
	if (PQntuples(app) == 0) {
		/* Perhaps not visible yet, or deleted: retried, then dead. */
		snprintf(err, errlen, "no application %s", app_id);
		goto out;
	}
	const char *state = PQgetvalue(app, 0, 0);
	if (strcmp(PQgetvalue(app, 0, 1), version) != 0) {
		st = skipped(result, "superseded");
		goto out;
	}
	if (strcmp(state, "submitted") != 0) {
		char why[64];
		snprintf(why, sizeof why, "state %s", state);
		st = skipped(result, why);
		goto out;
	}

	snprintf(reason, sizeof reason, "screening version %s", version);
	const char *tp[] = { app_id, "screening", reason };
	if (pg_run(conn, sql_transition, 3, tp, err, errlen) != 0)
		goto out;

	struct call_rules rules;
	char call_id[24];
	snprintf(call_id, sizeof call_id, "%s", PQgetvalue(app, 0, 3));
	if (load_rules(conn, app, call_id, &rules, err, errlen) != 0)
		goto out;

	p[0] = app_id;
	p[1] = version;
	PGresult *b = pg_exec(conn, sql_body, 2, p, 1, err, errlen);
	if (b == NULL)
		goto out;
	if (PQntuples(b) == 0) {
		PQclear(b);
		snprintf(err, errlen, "application %s has no stored version %s", app_id, version);
		st = JOB_FATAL;
		goto out;
	}
	int verdict = screen_decide(PQgetvalue(b, 0, 0), (size_t)PQgetlength(b, 0, 0),
	    PQgetvalue(app, 0, 4), &rules, reason, sizeof reason);
	PQclear(b);
	if (verdict < 0) {
		snprintf(err, errlen, "application %s version %s: %s",
		    PQgetvalue(app, 0, 2), version, reason);
		st = JOB_FATAL;
		goto out;
	}

	const char *to = verdict ? "eligible" : "ineligible";
	const char *tp2[] = { app_id, to, reason };
	if (pg_run(conn, sql_transition, 3, tp2, err, errlen) != 0)
		goto out;
	sbuf_adds(result, "{\"state\":");
	json_add_str(result, to);
	sbuf_adds(result, ",\"reason\":");
	json_add_str(result, reason);
	sbuf_addc(result, '}');
	st = JOB_DONE;
out:
	PQclear(app);
	return st;
}
