/* assign_job.c - see assign_job.h. */
#include "assign_job.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assign.h"
#include "assign_input.h"
#include "auth.h"
#include "form.h"
#include "pg.h"
#include "xmlform.h"

#define SOLVER_NAME "min-cost-flow primal-dual"
#define PARAMS_VERSION 1

static const char sql_payload[] =
	"SELECT CASE WHEN jsonb_typeof(p->'call') = 'number' THEN p->>'call' END,"
	"       coalesce(jsonb_typeof(p->'by'), 'null') IN ('null', 'number'),"
	"       jsonb_typeof(p) = 'object'"
	"  FROM (SELECT $1::jsonb AS p) s";

static const char sql_call[] =
	"SELECT ref, reviewers_per_application FROM calls WHERE id = $1 FOR UPDATE";

enum { A_ID, A_TRACKING, A_FAMILY, A_REGION, A_SIRET, A_VERSION, A_TITLE };
static const char sql_apps[] =
	"SELECT id, tracking, family, region, siret, current_version, title"
	"  FROM applications WHERE call_id = $1 AND state = 'eligible'"
	" ORDER BY id FOR UPDATE";

static const char sql_body[] =
	"SELECT body FROM application_versions WHERE application_id = $1 AND version = $2";

/* Seats left can be negative when limits were lowered after earlier runs:
 * that reviewer takes none. */
enum { R_ID, R_EMAIL, R_CAPACITY, R_FAMILIES, R_REGIONS, R_EMPLOYER };
static const char sql_panel[] =
	"SELECT u.id, u.email, greatest(coalesce(gen_capacity_left(u.id, p.call_id), 0), 0),"
	"       array_to_string(r.families, ','), array_to_string(r.regions, ','),"
	"       r.employer_siret"
	"  FROM panel_members p JOIN reviewers r ON r.user_id = p.user_id"
	"  JOIN users u ON u.id = p.user_id"
	" WHERE p.call_id = $1 ORDER BY u.id";

static const char sql_webmail[] = "SELECT lower(domain) FROM webmail_domains";

static const char sql_conflict_add[] =
	"INSERT INTO conflicts (user_id, siret, source, reason, created_by)"
	" VALUES ($1, $2, $3, $4, 'system: assignment run') ON CONFLICT DO NOTHING";

/* Every conflict, whatever its source, between a panel member and the
 * organisation of an eligible application. */
static const char sql_conflict_pairs[] =
	"SELECT DISTINCT a.id, c.user_id"
	"  FROM applications a JOIN conflicts c ON c.siret = a.siret"
	"  JOIN panel_members p ON p.call_id = a.call_id AND p.user_id = c.user_id"
	" WHERE a.call_id = $1 AND a.state = 'eligible'"
	" ORDER BY 1, 2";

static const char sql_run[] =
	"INSERT INTO assignment_runs (call_id, job_id, input, input_hash, params, result, result_hash)"
	" VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7) RETURNING id";

static const char sql_assignments[] =
	"INSERT INTO assignments (run_id, call_id, application_id, user_id, affinity, origin)"
	" SELECT $1, $2, u.a, u.r, u.w, 'optimiser'"
	"   FROM unnest($3::bigint[], $4::bigint[], $5::int[]) WITH ORDINALITY AS u(a, r, w, n)"
	"  ORDER BY u.n";

static const char sql_transition[] =
	"SELECT gen_app_transition($1, 'in-review', 'worker', $2)";

static const char sql_notify[] =
	"SELECT gen_notify('assignment', $1, $2, $3)";

static const char sql_audit[] =
	"SELECT gen_audit('worker', 'assignment.run', $1, $2, $3)";

/* What the job knows beyond the canonical input. */
struct run {
	char call_id[24];
	char call_ref[ASSIGN_INPUT_REF_MAX];
	int seats;
	PGresult *apps;          /* rows in input order: titles for messages */
	PGresult *panel;
	char (*app_domain)[256]; /* contact e-mail domain per application */
	char **webmail;          /* sorted */
	int n_webmail;
	struct assign_input in;  /* as built from the database */
	struct assign_input parsed; /* as parsed back from the text */
	struct sbuf text;
	struct assign_problem *problem;
	struct assign_result res;
	int solved;
	struct sbuf json;
};

static void
run_free(struct run *r)
{
	PQclear(r->apps);
	PQclear(r->panel);
	free(r->app_domain);
	for (int i = 0; i < r->n_webmail; i++)
		free(r->webmail[i]);
	free(r->webmail);
	assign_input_free(&r->in);
	assign_input_free(&r->parsed);
	sbuf_free(&r->text);
	assign_problem_free(r->problem);
	if (r->solved)
		assign_result_free(&r->res);
	sbuf_free(&r->json);
}

/* The domain of an e-mail address, lower-cased; "" when there is none. */
static void
email_domain(const char *email, char *out, size_t outlen)
{
	const char *at = strrchr(email, '@');
	size_t n = at != NULL ? strlen(at + 1) : 0;

	out[0] = '\0';
	if (n == 0 || n >= outlen)
		return;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)at[1 + i]);
	out[n] = '\0';
}

static int
str_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static int
is_webmail(const struct run *r, const char *domain)
{
	const char *key = domain;

	return bsearch(&key, r->webmail, (size_t)r->n_webmail, sizeof(char *), str_cmp) != NULL;
}

/* The contact e-mail domain of a stored application document. Returns 0,
 * or -1 with why in err (the bytes no longer parse or validate). */
static int
contact_domain(const char *body, size_t len, char *domain, size_t dlen, char *err,
    size_t errlen)
{
	struct form_errors *errs = xcalloc(1, sizeof *errs);
	struct app_doc *a = xcalloc(1, sizeof *a);
	enum form_kind kind = FORM_UNKNOWN;
	int rc = -1;

	xmlDocPtr doc = xmlform_parse(body, len, &kind, errs);
	if (doc == NULL) {
		if (errs->count > 0)
			snprintf(err, errlen, "the stored document does not validate: line %d: %s",
			    errs->items[0].line, errs->items[0].message);
		else
			snprintf(err, errlen, "the stored document does not parse");
	} else if (kind != FORM_PROJECT_APPLICATION && kind != FORM_LABEL_APPLICATION) {
		snprintf(err, errlen, "the stored document is not an application");
	} else {
		form_app_extract(doc, kind, a);
		email_domain(a->contact_email, domain, dlen);
		rc = 0;
	}
	if (doc != NULL)
		xmlFreeDoc(doc);
	free(errs);
	free(a);
	return rc;
}

/* Eligible applications, locked, with their contact's e-mail domain. */
static enum job_status
load_apps(PGconn *c, struct run *r, char *err, size_t errlen)
{
	const char *p[2] = { r->call_id };

	if ((r->apps = pg_exec(c, sql_apps, 1, p, 0, err, errlen)) == NULL)
		return JOB_RETRY;
	int n = PQntuples(r->apps);
	if (n == 0) {
		snprintf(err, errlen, "call %s has no eligible application to assign", r->call_ref);
		return JOB_FATAL;
	}
	r->in.n_apps = n;
	r->in.apps = xcalloc((size_t)n, sizeof *r->in.apps);
	r->app_domain = xcalloc((size_t)n, sizeof *r->app_domain);
	for (int i = 0; i < n; i++) {
		struct assign_input_app *a = &r->in.apps[i];
		const char *tracking = PQgetvalue(r->apps, i, A_TRACKING);
		int64_t id;

		parse_int64(PQgetvalue(r->apps, i, A_ID), 1, INT64_MAX, &id);
		a->id = id;
		if (strlen(tracking) >= sizeof a->tracking) {
			snprintf(err, errlen, "application %.40s...: tracking number too long", tracking);
			return JOB_FATAL;
		}
		snprintf(a->tracking, sizeof a->tracking, "%s", tracking);
		snprintf(a->siret, sizeof a->siret, "%s", PQgetvalue(r->apps, i, A_SIRET));
		a->family = -1;
		if (!PQgetisnull(r->apps, i, A_FAMILY) &&
		    (a->family = family_from_name(PQgetvalue(r->apps, i, A_FAMILY))) < 0) {
			snprintf(err, errlen, "application %s: unknown family \"%s\"", tracking,
			    PQgetvalue(r->apps, i, A_FAMILY));
			return JOB_FATAL;
		}
		a->region = -1;
		if (!PQgetisnull(r->apps, i, A_REGION) &&
		    (a->region = region_index(PQgetvalue(r->apps, i, A_REGION))) < 0) {
			snprintf(err, errlen, "application %s: unknown region \"%s\"", tracking,
			    PQgetvalue(r->apps, i, A_REGION));
			return JOB_FATAL;
		}
		p[0] = PQgetvalue(r->apps, i, A_ID);
		p[1] = PQgetvalue(r->apps, i, A_VERSION);
		PGresult *b = pg_exec(c, sql_body, 2, p, 1, err, errlen);
		if (b == NULL)
			return JOB_RETRY;
		char why[600];
		int ok = PQntuples(b) == 1 && contact_domain(PQgetvalue(b, 0, 0),
		    (size_t)PQgetlength(b, 0, 0), r->app_domain[i], sizeof r->app_domain[i],
		    why, sizeof why) == 0;
		if (!ok && PQntuples(b) != 1)
			snprintf(why, sizeof why, "no stored version %s", p[1]);
		PQclear(b);
		if (!ok) {
			snprintf(err, errlen, "application %s: %s", tracking, why);
			return JOB_FATAL;
		}
	}
	return JOB_DONE;
}

/* Parse a comma-separated list of family names or region codes into a bit
 * set. Returns 0, or -1 with the unknown name in bad. */
static int
code_set(const char *list, int (*code_of)(const char *), uint64_t *out, char *bad,
    size_t badlen)
{
	char tok[64];

	*out = 0;
	for (const char *p = list; *p != '\0';) {
		size_t n = strcspn(p, ",");
		snprintf(tok, sizeof tok, "%.*s", (int)n, p);
		int code = n < sizeof tok ? code_of(tok) : -1;
		if (code < 0 || code >= 64) {
			snprintf(bad, badlen, "%s", tok);
			return -1;
		}
		*out |= (uint64_t)1 << code;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

static enum job_status
load_panel(PGconn *c, struct run *r, char *err, size_t errlen)
{
	const char *p[] = { r->call_id };
	char bad[64];

	if ((r->panel = pg_exec(c, sql_panel, 1, p, 0, err, errlen)) == NULL)
		return JOB_RETRY;
	int n = PQntuples(r->panel);
	if (n == 0) {
		snprintf(err, errlen, "call %s has no panel: a call without a panel cannot be assigned",
		    r->call_ref);
		return JOB_FATAL;
	}
	r->in.n_revs = n;
	r->in.revs = xcalloc((size_t)n, sizeof *r->in.revs);
	for (int i = 0; i < n; i++) {
		struct assign_input_rev *v = &r->in.revs[i];
		const char *email = PQgetvalue(r->panel, i, R_EMAIL);
		int64_t id, cap;

		parse_int64(PQgetvalue(r->panel, i, R_ID), 1, INT64_MAX, &id);
		v->id = id;
		if (strlen(email) >= sizeof v->email) {
			snprintf(err, errlen, "reviewer %.40s...: e-mail address too long", email);
			return JOB_FATAL;
		}
		snprintf(v->email, sizeof v->email, "%s", email);
		if (parse_int64(PQgetvalue(r->panel, i, R_CAPACITY), 0, ASSIGN_INPUT_CAPACITY_MAX,
		    &cap) != 0)
			cap = ASSIGN_INPUT_CAPACITY_MAX;
		v->capacity = (int)cap;
		if (code_set(PQgetvalue(r->panel, i, R_FAMILIES), family_from_name, &v->families,
		    bad, sizeof bad) != 0) {
			snprintf(err, errlen, "reviewer %s: unknown family \"%s\"", email, bad);
			return JOB_FATAL;
		}
		if (code_set(PQgetvalue(r->panel, i, R_REGIONS), region_index, &v->regions,
		    bad, sizeof bad) != 0) {
			snprintf(err, errlen, "reviewer %s: unknown region \"%s\"", email, bad);
			return JOB_FATAL;
		}
	}
	return JOB_DONE;
}

static enum job_status
load_webmail(PGconn *c, struct run *r, char *err, size_t errlen)
{
	PGresult *w = pg_exec(c, sql_webmail, 0, NULL, 0, err, errlen);

	if (w == NULL)
		return JOB_RETRY;
	r->n_webmail = PQntuples(w);
	r->webmail = xcalloc((size_t)r->n_webmail + 1, sizeof(char *));
	for (int i = 0; i < r->n_webmail; i++)
		r->webmail[i] = xstrdup(PQgetvalue(w, i, 0));
	PQclear(w);
	qsort(r->webmail, (size_t)r->n_webmail, sizeof(char *), str_cmp);
	return JOB_DONE;
}

/* The automatic conflicts of DESIGN §5, stored with their source before the
 * conflicts are read; one that exists already is left as it is. */
static enum job_status
record_automatic_conflicts(PGconn *c, struct run *r, char *err, size_t errlen)
{
	int R = r->in.n_revs;
	char (*rev_domain)[256] = xcalloc((size_t)R + 1, sizeof *rev_domain);
	enum job_status st = JOB_DONE;

	for (int j = 0; j < R; j++)
		email_domain(r->in.revs[j].email, rev_domain[j], sizeof rev_domain[j]);
	for (int i = 0; i < r->in.n_apps && st == JOB_DONE; i++) {
		const struct assign_input_app *a = &r->in.apps[i];
		const char *dom = r->app_domain[i];
		int webmail = dom[0] == '\0' || is_webmail(r, dom);
		for (int j = 0; j < R && st == JOB_DONE; j++) {
			const char *employer = PQgetvalue(r->panel, j, R_EMPLOYER);
			char uid[24], reason[600];
			snprintf(uid, sizeof uid, "%" PRId64, r->in.revs[j].id);
			if (!PQgetisnull(r->panel, j, R_EMPLOYER) && strcmp(employer, a->siret) == 0) {
				snprintf(reason, sizeof reason,
				    "the reviewer's employer (SIRET %s) applies with %s", a->siret,
				    a->tracking);
				const char *p[] = { uid, a->siret, "employer", reason };
				if (pg_run(c, sql_conflict_add, 4, p, err, errlen) != 0)
					st = JOB_RETRY;
			}
			if (st == JOB_DONE && !webmail && strcmp(rev_domain[j], dom) == 0) {
				snprintf(reason, sizeof reason,
				    "the reviewer's e-mail domain %s is that of the contact of %s",
				    dom, a->tracking);
				const char *p[] = { uid, a->siret, "email-domain", reason };
				if (pg_run(c, sql_conflict_add, 4, p, err, errlen) != 0)
					st = JOB_RETRY;
			}
		}
	}
	free(rev_domain);
	return st;
}

static int
id_index(const int64_t *ids, int n, int64_t id)
{
	int lo = 0, hi = n - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		if (ids[mid] == id)
			return mid;
		if (ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

static enum job_status
load_conflicts(PGconn *c, struct run *r, char *err, size_t errlen)
{
	const char *p[] = { r->call_id };
	PGresult *q = pg_exec(c, sql_conflict_pairs, 1, p, 0, err, errlen);

	if (q == NULL)
		return JOB_RETRY;
	int A = r->in.n_apps, R = r->in.n_revs, n = PQntuples(q);
	int64_t *app_ids = xmalloc((size_t)A * sizeof(int64_t) + 1);
	int64_t *rev_ids = xmalloc((size_t)R * sizeof(int64_t) + 1);
	for (int i = 0; i < A; i++)
		app_ids[i] = r->in.apps[i].id;
	for (int j = 0; j < R; j++)
		rev_ids[j] = r->in.revs[j].id;
	r->in.conflicts = xcalloc((size_t)n + 1, sizeof *r->in.conflicts);
	for (int k = 0; k < n; k++) {
		int64_t a, v;
		parse_int64(PQgetvalue(q, k, 0), 1, INT64_MAX, &a);
		parse_int64(PQgetvalue(q, k, 1), 1, INT64_MAX, &v);
		int ai = id_index(app_ids, A, a), ri = id_index(rev_ids, R, v);
		if (ai >= 0 && ri >= 0)
			r->in.conflicts[r->in.n_conflicts++] = (struct assign_conflict){ ai, ri };
	}
	assign_input_sort_conflicts(&r->in);
	free(app_ids);
	free(rev_ids);
	PQclear(q);
	return JOB_DONE;
}

/* Format the input, parse it back and solve what was parsed: the stored
 * text, not the in-memory struct, is what the run is a function of. */
static enum job_status
solve(struct run *r, char *err, size_t errlen)
{
	char why[256];

	assign_input_format(&r->in, &r->text);
	if (assign_input_parse(r->text.data, &r->parsed, why, sizeof why) != 0) {
		snprintf(err, errlen, "call %s: the canonical input does not parse back: %s",
		    r->call_ref, why);
		return JOB_FATAL;
	}
	struct sbuf again = { 0 };
	assign_input_format(&r->parsed, &again);
	int same = again.len == r->text.len && memcmp(again.data, r->text.data, again.len) == 0;
	sbuf_free(&again);
	if (!same) {
		snprintf(err, errlen, "call %s: the canonical input does not round-trip", r->call_ref);
		return JOB_FATAL;
	}
	if ((r->problem = assign_input_problem(&r->parsed, why, sizeof why)) == NULL) {
		snprintf(err, errlen, "call %s: %s", r->call_ref, why);
		return JOB_FATAL;
	}
	assign_solve(r->problem, &r->res);
	r->solved = 1;
	if (assign_check(r->problem, &r->res, why, sizeof why) != 0) {
		snprintf(err, errlen, "call %s: the optimiser's result fails its check, not stored: %s",
		    r->call_ref, why);
		return JOB_FATAL;
	}
	assign_result_json(&r->parsed, &r->res, &r->json);
	return JOB_DONE;
}

/* One message per reviewer who got seats, listing the dossiers in input
 * order (a reviewer's matches are scattered through the (app, rev) order:
 * bucket them first). */
static enum job_status
notify_reviewers(PGconn *c, struct run *r, char *err, size_t errlen)
{
	int R = r->parsed.n_revs, M = r->res.n_matches;
	int *start = xcalloc((size_t)R + 1, sizeof(int));
	int *fill = xcalloc((size_t)R + 1, sizeof(int));
	int *apps = xmalloc((size_t)M * sizeof(int) + 1);
	enum job_status st = JOB_DONE;

	for (int k = 0; k < M; k++)
		start[r->res.matches[k].rev + 1]++;
	for (int j = 0; j < R; j++)
		start[j + 1] += start[j];
	for (int k = 0; k < M; k++) {
		int j = r->res.matches[k].rev;
		apps[start[j] + fill[j]++] = r->res.matches[k].app;
	}
	struct sbuf subject = { 0 }, body = { 0 };
	for (int j = 0; j < R && st == JOB_DONE; j++) {
		int n = start[j + 1] - start[j];
		if (n == 0)
			continue;
		sbuf_reset(&subject);
		sbuf_reset(&body);
		sbuf_printf(&subject, "Dossiers à évaluer : appel %s", r->call_ref);
		sbuf_printf(&body, "Bonjour,\n\n%s de l'appel %s vous %s confié%s pour évaluation :\n\n",
		    n == 1 ? "Le dossier suivant" : "Les dossiers suivants", r->call_ref,
		    n == 1 ? "est" : "sont", n == 1 ? "" : "s");
		for (int k = start[j]; k < start[j + 1]; k++)
			sbuf_printf(&body, "- %s « %s »\n", r->parsed.apps[apps[k]].tracking,
			    PQgetvalue(r->apps, apps[k], A_TITLE));
		const char *p[] = { r->parsed.revs[j].email, subject.data, body.data };
		if (pg_run(c, sql_notify, 3, p, err, errlen) != 0)
			st = JOB_RETRY;
	}
	sbuf_free(&subject);
	sbuf_free(&body);
	free(start);
	free(fill);
	free(apps);
	return st;
}

/* The run row, its assignments, the state changes, the messages and the
 * audit entry. */
static enum job_status
store(PGconn *c, const struct job *job, struct run *r, char *run_id, size_t run_id_len,
    char *err, size_t errlen)
{
	char input_hash[65], result_hash[65], job_id[24], reason[64];
	struct sbuf params = { 0 }, a_ids = { 0 }, r_ids = { 0 }, w = { 0 };
	enum job_status st = JOB_RETRY;

	auth_sha256_hex(r->text.data, r->text.len, input_hash);
	auth_sha256_hex(r->json.data, r->json.len, result_hash);
	snprintf(job_id, sizeof job_id, "%" PRId64, job->id);
	sbuf_printf(&params, "{\"seats\":%d,\"solver\":\"%s\",\"version\":%d}",
	    r->parsed.seats, SOLVER_NAME, PARAMS_VERSION);
	const char *rp[] = { r->call_id, job_id, r->text.data, input_hash, params.data,
		r->json.data, result_hash };
	PGresult *q = pg_exec(c, sql_run, 7, rp, 0, err, errlen);
	if (q == NULL)
		goto out;
	snprintf(run_id, run_id_len, "%s", PQgetvalue(q, 0, 0));
	PQclear(q);

	sbuf_addc(&a_ids, '{');
	sbuf_addc(&r_ids, '{');
	sbuf_addc(&w, '{');
	for (int k = 0; k < r->res.n_matches; k++) {
		const struct assign_match *m = &r->res.matches[k];
		const char *sep = k > 0 ? "," : "";
		sbuf_printf(&a_ids, "%s%" PRId64, sep, r->parsed.apps[m->app].id);
		sbuf_printf(&r_ids, "%s%" PRId64, sep, r->parsed.revs[m->rev].id);
		sbuf_printf(&w, "%s%d", sep, m->affinity);
	}
	sbuf_addc(&a_ids, '}');
	sbuf_addc(&r_ids, '}');
	sbuf_addc(&w, '}');
	const char *ap[] = { run_id, r->call_id, a_ids.data, r_ids.data, w.data };
	if (pg_run(c, sql_assignments, 5, ap, err, errlen) != 0)
		goto out;

	snprintf(reason, sizeof reason, "assignment run %s", run_id);
	for (int i = 0; i < r->parsed.n_apps; i++) {
		const char *tp[] = { PQgetvalue(r->apps, i, A_ID), reason };
		if (pg_run(c, sql_transition, 2, tp, err, errlen) != 0)
			goto out;
	}
	if ((st = notify_reviewers(c, r, err, errlen)) != JOB_DONE)
		goto out;
	st = JOB_RETRY;
	char summary[160];
	snprintf(summary, sizeof summary, "run %s: %lld seats filled, %lld unfilled", run_id,
	    r->res.filled, r->res.unfilled_total);
	const char *up[] = { r->call_ref, summary, input_hash };
	if (pg_run(c, sql_audit, 3, up, err, errlen) != 0)
		goto out;
	st = JOB_DONE;
out:
	sbuf_free(&params);
	sbuf_free(&a_ids);
	sbuf_free(&r_ids);
	sbuf_free(&w);
	return st;
}

enum job_status
assign_job_run(PGconn *conn, const struct job *job, struct sbuf *result,
    char *err, size_t errlen)
{
	struct run r;
	enum job_status st;
	int64_t call;
	char run_id[24];

	memset(&r, 0, sizeof r);
	const char *p[] = { job->payload };
	PGresult *q = pg_exec(conn, sql_payload, 1, p, 0, err, errlen);
	if (q == NULL)
		return JOB_FATAL; /* not even JSON */
	int bad = strcmp(PQgetvalue(q, 0, 2), "t") != 0 || PQgetisnull(q, 0, 0) ||
	    parse_int64(PQgetvalue(q, 0, 0), 1, INT64_MAX, &call) != 0 ||
	    strcmp(PQgetvalue(q, 0, 1), "t") != 0;
	PQclear(q);
	if (bad) {
		snprintf(err, errlen, "payload needs an integer \"call\" and an optional integer \"by\"");
		return JOB_FATAL;
	}
	snprintf(r.call_id, sizeof r.call_id, "%" PRId64, call);

	p[0] = r.call_id;
	if ((q = pg_exec(conn, sql_call, 1, p, 0, err, errlen)) == NULL)
		return JOB_RETRY;
	if (PQntuples(q) == 0) {
		PQclear(q);
		snprintf(err, errlen, "no call %s", r.call_id);
		return JOB_FATAL;
	}
	int64_t seats;
	snprintf(r.call_ref, sizeof r.call_ref, "%s", PQgetvalue(q, 0, 0));
	int long_ref = strlen(PQgetvalue(q, 0, 0)) >= sizeof r.call_ref;
	bad = parse_int64(PQgetvalue(q, 0, 1), 0, ASSIGN_INPUT_SEATS_MAX, &seats) != 0;
	PQclear(q);
	if (long_ref || bad) {
		snprintf(err, errlen, "call %s: %s", r.call_ref, long_ref ? "ref too long" :
		    "reviewersPerApplication out of range");
		return JOB_FATAL;
	}
	r.seats = (int)seats;
	snprintf(r.in.call_ref, sizeof r.in.call_ref, "%s", r.call_ref);
	r.in.seats = r.seats;

	if ((st = load_apps(conn, &r, err, errlen)) != JOB_DONE ||
	    (st = load_panel(conn, &r, err, errlen)) != JOB_DONE ||
	    (st = load_webmail(conn, &r, err, errlen)) != JOB_DONE ||
	    (st = record_automatic_conflicts(conn, &r, err, errlen)) != JOB_DONE ||
	    (st = load_conflicts(conn, &r, err, errlen)) != JOB_DONE ||
	    (st = solve(&r, err, errlen)) != JOB_DONE ||
	    (st = store(conn, job, &r, run_id, sizeof run_id, err, errlen)) != JOB_DONE)
		goto out;
	sbuf_printf(result, "{\"run\":%s,\"filled\":%lld,\"unfilled\":%lld,\"totalAffinity\":%lld,"
	    "\"diagnosis\":", run_id, r.res.filled, r.res.unfilled_total, r.res.total_affinity);
	assign_diagnosis_json(&r.parsed, &r.res, result);
	sbuf_addc(result, '}');
out:
	run_free(&r);
	return st;
}
