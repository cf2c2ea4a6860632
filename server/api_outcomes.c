/* api_outcomes.c - cohort reports and the outcome figures (DESIGN §3, §6).
 *
 * A report is validated (schema, then the cohort rules), its learner refs
 * are replaced by keyed pseudonyms, its counts are computed here, and one
 * SQL function stores the version, the learners and the rollups in one
 * transaction. The figures are then sums of rollup rows, never a scan of
 * learners; fig_compute() (figures.c) turns sums into the contract's
 * numbers. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "auth.h"
#include "cohort.h"
#include "dashboard.h"
#include "db.h"
#include "figures.h"
#include "form.h"

#define COUNT_COLUMNS \
	"sum(cohorts)::bigint, sum(planned_seats)::bigint, sum(learners)::bigint, sum(women)::bigint, " \
	"sum(priority_area)::bigint, sum(low_qualification)::bigint, sum(rural)::bigint, " \
	"sum(job_seeker)::bigint, sum(dropped)::bigint, sum(exited)::bigint, sum(outcome_reported)::bigint, " \
	"sum(positive)::bigint, sum(duration_days)::bigint"

/* $1 year, $2 region, $3 family, $4 call ref, $5 siret, $6 group_by, $7 programme */
#define FILTERS \
	" WHERE ($1::int IS NULL OR year = $1::int) AND ($2::text IS NULL OR region = $2)" \
	" AND ($3::text IS NULL OR family = $3) AND ($4::text IS NULL OR call_id = (SELECT id FROM calls WHERE ref = $4))" \
	" AND ($5::text IS NULL OR siret = $5)"
#define GROUP_KEY \
	"CASE $6::text WHEN 'year' THEN year::text WHEN 'region' THEN region WHEN 'family' THEN family" \
	" WHEN 'call' THEN (SELECT ref FROM calls c WHERE c.id = call_id) WHEN 'provider' THEN siret"

const struct db_stmt outcome_statements[] = {
	{ "oc_report",
	  "SELECT status, version FROM gen_cohort_report($1, $2, $3, $4, $5, $6, $7, $8, $9, "
	  "ARRAY(SELECT jsonb_array_elements_text($10::jsonb)::int), $11::jsonb)", 11 },
	{ "oc_figures_rollup",
	  "SELECT g, " COUNT_COLUMNS " FROM (SELECT " GROUP_KEY " ELSE '' END AS g, * FROM outcome_rollup"
	  FILTERS " AND $7::text IS NULL) x GROUP BY GROUPING SETS ((g), ()) ORDER BY g NULLS FIRST", 7 },
	{ "oc_figures_cohorts",
	  "SELECT g, sum(1)::bigint, sum(planned_seats)::bigint, sum(learners)::bigint, sum(women)::bigint, "
	  "sum(priority_area)::bigint, sum(low_qualification)::bigint, sum(rural)::bigint, "
	  "sum(job_seeker)::bigint, sum(dropped)::bigint, sum(exited)::bigint, sum(outcome_reported)::bigint, "
	  "sum(positive)::bigint, sum(duration_days)::bigint "
	  "FROM (SELECT " GROUP_KEY " WHEN 'programme' THEN programme ELSE '' END AS g, * FROM cohorts"
	  FILTERS " AND ($7::text IS NULL OR programme = $7)) x GROUP BY GROUPING SETS ((g), ()) "
	  "ORDER BY g NULLS FIRST", 7 },
	{ "oc_alerts",
	  "SELECT json_build_object('alerts', coalesce(json_agg(json_build_object('programme', programme, "
	  "  'cohort', cohort, 'metric', metric, 'value', value, 'target', target, "
	  "  'openedAt', gen_utc_text(opened_at)) ORDER BY programme, metric), '[]'))::text "
	  "FROM programme_alerts WHERE closed_at IS NULL", 0 },
	{ "oc_targets",
	  "SELECT 'call', (SELECT string_agg(metric || '=' || min_tenths, ',') FROM targets t "
	  "  JOIN calls c ON c.id = t.call_id WHERE c.ref = $1), NULL "
	  "UNION ALL SELECT 'programme', NULL, (SELECT encode(v.body, 'hex') FROM applications a "
	  "  JOIN application_versions v ON v.application_id = a.id AND v.version = a.current_version "
	  "  WHERE a.tracking = $2)", 2 },
};
const int outcome_statement_count = (int)ARRAY_LEN(outcome_statements);

/* ---- cohort reports ---- */

static void
on_report_stored(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	int st = atoi(PQgetvalue(res, 0, 0));
	if (st == 404) {
		api_not_found(q, "no such programme of yours");
		return;
	}
	char body[160];
	int n = snprintf(body, sizeof body, "{\"programme\":\"%s\",\"cohort\":\"%s\",\"version\":%s}",
	    q->param[0], q->param[1], PQgetvalue(res, 0, 1));
	req_json(q, st, body, (size_t)n);
}

void
h_cohort_put(struct req *q)
{
	enum form_kind kind;
	xmlDocPtr doc = api_parse_body(q, &kind, FORM_COHORT_REPORT, FORM_UNKNOWN);
	struct form_errors *errs;
	struct cohort_ready r;
	char today[11];

	if (doc == NULL)
		return;
	cohort_today(today);
	errs = xcalloc(1, sizeof *errs);
	if (cohort_prepare(doc, q->app->pkey, q->param[0], q->param[1], today, errs, &r) != 0) {
		req_problem(q, 422, "rule-violation", "The cohort report breaks a rule",
		    "nothing was stored", errs);
		free(errs);
		cohort_ready_free(&r);
		xmlFreeDoc(doc);
		return;
	}
	free(errs);
	xmlFreeDoc(doc);
	char sha[65], seats[16];
	auth_sha256_hex(q->body, q->body_len, sha);
	snprintf(seats, sizeof seats, "%d", r.doc.planned_seats);
	const char *values[11] = { q->who.user_id_text, q->param[0], q->param[1], (const char *)r.stored, sha,
		r.doc.start_date, r.doc.end_date, seats, r.doc.region, r.counts.data, r.learners.data };
	int lengths[11] = { -1, -1, -1, r.stored_len, -1, -1, -1, -1, -1, -1, -1 };
	req_query(q, "oc_report", 11, values, lengths, on_report_stored);
	cohort_ready_free(&r);
}

/* ---- figures ---- */

struct figures_state {
	char *filter[7]; /* year, region, family, call, provider, group_by, programme */
	int csv;
	int html;        /* the /dashboard page: three groupings, then HTML */
	int stage;       /* html: 0 region, 1 family, 2 year */
	struct fig_targets targets;
	struct fig_values total;
	struct dash_group *groups[3];
	size_t ngroups[3];
	char **keys;     /* group keys kept for the page */
	size_t nkeys;
};

static void
free_figures(void *p)
{
	struct figures_state *s = p;

	for (int i = 0; i < 7; i++)
		free(s->filter[i]);
	for (int i = 0; i < 3; i++)
		free(s->groups[i]);
	for (size_t i = 0; i < s->nkeys; i++)
		free(s->keys[i]);
	free(s->keys);
	free(s);
}

static void run_figures(struct req *q);
static void row_counts(PGresult *res, int row, struct fig_counts *c);

static const char *
keep_key(struct figures_state *s, const char *k)
{
	s->keys = xrealloc(s->keys, (s->nkeys + 1) * sizeof *s->keys);
	s->keys[s->nkeys] = xstrdup(k);
	return s->keys[s->nkeys++];
}

/* The page: three groupings gathered, then rendered once. */
static void
on_page_figures(struct req *q, PGresult *res)
{
	struct figures_state *s = q->state;
	struct fig_counts c;
	int n = PQntuples(res);

	if (!api_result_ok(q, res))
		return;
	s->groups[s->stage] = xcalloc((size_t)n + 1, sizeof *s->groups[0]);
	for (int i = 0; i < n; i++) {
		row_counts(res, i, &c);
		if (PQgetisnull(res, i, 0)) {
			fig_compute(&c, &s->targets, &s->total);
			continue;
		}
		struct dash_group *g = &s->groups[s->stage][s->ngroups[s->stage]++];
		g->key = keep_key(s, PQgetvalue(res, i, 0));
		g->label = s->stage == 0 ? dashboard_region_name(g->key) :
		    s->stage == 1 ? dashboard_family_label(g->key) : g->key;
		if (g->label == NULL)
			g->label = g->key;
		fig_compute(&c, &s->targets, &g->v);
	}
	if (++s->stage < 3) {
		run_figures(q);
		return;
	}
	const char *years[11];
	char ybuf[11][8];
	for (int y = 0; y < 11; y++) {
		snprintf(ybuf[y], sizeof ybuf[y], "%d", 2016 + y);
		years[y] = ybuf[y];
	}
	struct sbuf query = {0};
	static const char *const names[7] = { "year", "region", "family", "call", "provider", "group_by", "programme" };
	for (int i = 0; i < 7; i++)
		if (s->filter[i] != NULL && i != 5)
			sbuf_printf(&query, "%s%s=%s", query.len ? "&" : "", names[i], s->filter[i]);
	struct dash_filters f = { s->filter[0], s->filter[1], s->filter[2], s->filter[3], s->filter[4], s->filter[6] };
	struct dash_input in = {
		.title = "Résultats des formations",
		.query = query.data ? query.data : "",
		.filters = &f,
		.total = s->total,
		.by_region = s->groups[0], .n_region = s->ngroups[0],
		.by_family = s->groups[1], .n_family = s->ngroups[1],
		.by_year = s->groups[2], .n_year = s->ngroups[2],
		.years = years, .n_years = 11,
		.csrf_token = q->csrf,
	};
	struct sbuf page = {0};
	int rc = dashboard_render(&in, &page);
	sbuf_free(&query);
	if (rc != 0) {
		sbuf_free(&page);
		req_problem(q, 500, "internal", "Internal error", "the page could not be rendered", NULL);
		return;
	}
	req_html(q, 200, page.data, page.len);
	sbuf_free(&page);
}

static void
row_counts(PGresult *res, int row, struct fig_counts *c)
{
	int64_t v[FIG_COUNT_COLUMNS];

	for (int i = 0; i < FIG_COUNT_COLUMNS; i++)
		v[i] = PQgetisnull(res, row, i + 1) ? 0 : strtoll(PQgetvalue(res, row, i + 1), NULL, 10);
	fig_counts_from_array(v, c);
}

static void
on_figures(struct req *q, PGresult *res)
{
	struct figures_state *s = q->state;
	struct sbuf b = {0};
	struct fig_values total;
	struct fig_counts zero = {0}, c;
	int n = PQntuples(res), have_total = 0;

	if (!api_result_ok(q, res))
		return;
	/* The total row is the grouping set (): its key is NULL. */
	for (int i = 0; i < n; i++)
		if (PQgetisnull(res, i, 0)) {
			row_counts(res, i, &c);
			fig_compute(&c, &s->targets, &total);
			have_total = 1;
		}
	if (!have_total)
		fig_compute(&zero, &s->targets, &total);
	if (s->csv)
		fig_write_csv_header(&b);
	else {
		sbuf_adds(&b, "{\"total\":");
		fig_write_json(&total, &b);
		sbuf_adds(&b, ",\"groups\":[");
	}
	int first = 1;
	for (int i = 0; s->filter[5] != NULL && i < n; i++) {
		if (PQgetisnull(res, i, 0))
			continue;
		struct fig_values v;
		row_counts(res, i, &c);
		fig_compute(&c, &s->targets, &v);
		if (s->csv) {
			fig_write_csv_row(PQgetvalue(res, i, 0), &v, &b);
			continue;
		}
		sbuf_adds(&b, first ? "{\"group\":" : ",{\"group\":");
		first = 0;
		json_add_str(&b, PQgetvalue(res, i, 0));
		sbuf_addc(&b, ',');
		fig_write_json_members(&v, &b);
		sbuf_addc(&b, '}');
	}
	if (s->csv) {
		fig_write_csv_row("total", &total, &b);
		req_header(q, "Content-Disposition", "attachment; filename=\"outcomes.csv\"");
		req_reply(q, 200, "text/csv; charset=utf-8", b.data, b.len);
	} else {
		sbuf_adds(&b, "]}");
		req_json(q, 200, b.data, b.len);
	}
	sbuf_free(&b);
}

static void
run_figures(struct req *q)
{
	struct figures_state *s = q->state;
	static const char *const page_groups[3] = { "region", "family", "year" };
	const char *values[7];

	for (int i = 0; i < 7; i++)
		values[i] = s->filter[i];
	if (s->html)
		values[5] = page_groups[s->stage];
	int by_cohort = s->filter[6] != NULL || (values[5] && strcmp(values[5], "programme") == 0);
	req_query(q, by_cohort ? "oc_figures_cohorts" : "oc_figures_rollup", 7, values, NULL,
	    s->html ? on_page_figures : on_figures);
}

static void
on_targets(struct req *q, PGresult *res)
{
	struct figures_state *s = q->state;

	if (!api_result_ok(q, res))
		return;
	fig_targets_national(&s->targets);
	if (s->filter[6] != NULL) {
		/* One programme: its commitments are its targets. */
		if (PQgetisnull(res, 1, 2)) {
			api_not_found(q, "no such programme");
			return;
		}
		cohort_programme_targets(PQgetvalue(res, 1, 2), &s->targets);
	} else if (s->filter[3] != NULL) {
		/* One call: the call's targets. */
		memset(&s->targets, 0, sizeof s->targets);
		char *list = PQgetisnull(res, 0, 1) ? xstrdup("") : xstrdup(PQgetvalue(res, 0, 1)), *save = NULL;
		for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(t, '=');
			if (eq == NULL)
				continue;
			*eq = '\0';
			for (int m = 0; m < FIG_METRIC_COUNT; m++)
				if (strcmp(fig_metric_name((enum fig_metric)m), t) == 0) {
					s->targets.set[m] = 1;
					s->targets.tenths[m] = atoi(eq + 1);
				}
		}
		free(list);
	}
	run_figures(q);
}

/* Validate one filter; returns 0, or -1 after answering 400. */
static int
take_filter(struct req *q, const char *name, char **out)
{
	char *v = req_query_param(q, name);
	int ok = 1;

	*out = NULL;
	/* An empty field (a browser form left blank) means no filter. */
	if (v == NULL || v[0] == '\0') {
		free(v);
		return 0;
	}
	if (strcmp(name, "year") == 0) {
		int64_t y;
		ok = parse_int64(v, 2000, 2100, &y) == 0;
	} else if (strcmp(name, "region") == 0) {
		ok = region_index(v) >= 0;
	} else if (strcmp(name, "family") == 0) {
		ok = family_from_name(v) >= 0;
	} else if (strcmp(name, "provider") == 0) {
		ok = strlen(v) == 14 && strspn(v, "0123456789") == 14;
	} else if (strcmp(name, "group_by") == 0) {
		static const char *const keys[] = { "year", "region", "family", "call", "provider", "programme" };
		ok = 0;
		for (size_t i = 0; i < ARRAY_LEN(keys); i++)
			ok |= strcmp(keys[i], v) == 0;
	} else {
		size_t n = strlen(v);
		ok = n >= 1 && n <= 32 && strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == n;
	}
	if (!ok) {
		char detail[160];
		snprintf(detail, sizeof detail, "the %s filter has an unusable value", name);
		free(v);
		req_problem(q, 400, "bad-filter", "Bad filter", detail, NULL);
		return -1;
	}
	*out = v;
	return 0;
}

static void
figures_start(struct req *q, int html)
{
	static const char *const names[7] = { "year", "region", "family", "call", "provider", "group_by", "programme" };
	struct figures_state *s = xcalloc(1, sizeof *s);

	s->html = html;
	q->state = s;
	q->free_state = free_figures;
	for (int i = 0; i < 7; i++)
		if (take_filter(q, names[i], &s->filter[i]) != 0)
			return;
	char *format = req_query_param(q, "format");
	s->csv = format != NULL && strcmp(format, "csv") == 0;
	free(format);
	const char *values[2] = { s->filter[3], s->filter[6] };
	req_query(q, "oc_targets", 2, values, NULL, on_targets);
}

void
h_outcomes(struct req *q)
{
	figures_start(q, 0);
}

void
h_dashboard(struct req *q)
{
	figures_start(q, 1);
}

void
h_alerts(struct req *q)
{
	req_query(q, "oc_alerts", 0, NULL, NULL, api_json_row);
}
