/* api_review.c - the review workflow's routes (DESIGN §3, §5): reviewers,
 * panels, conflicts, assignment, reviews, ranking and decisions.
 *
 * Each handler validates its document with the pure cores (form.c,
 * scores.c) and runs one SQL function that does the whole operation in one
 * transaction (schema/0002_review.sql), so nothing is ever half-written. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "form.h"
#include "scores.h"

const struct db_stmt review_statements[] = {
	{ "rv_upsert", "SELECT gen_reviewer_upsert($1, $2, $3, "
	  "ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), "
	  "ARRAY(SELECT jsonb_array_elements_text($5::jsonb)), $6, $7)", 7 },
	/* One row per member who is not a reviewer, or one row with NULL when
	 * the panel was stored. */
	{ "rv_panel_set",
	  "SELECT c.id IS NOT NULL, u.m "
	  "FROM (SELECT $2::text AS ref) r LEFT JOIN calls c ON c.ref = r.ref "
	  "LEFT JOIN LATERAL (SELECT gen_panel_set($1, c.id, ARRAY(SELECT jsonb_array_elements_text($3::jsonb))) AS un "
	  "  WHERE c.id IS NOT NULL) g ON true "
	  "LEFT JOIN LATERAL unnest(g.un) u(m) ON true", 3 },
	{ "rv_panel_get",
	  "SELECT c.id IS NOT NULL, json_build_object('call', c.ref, 'members', coalesce((SELECT json_agg(u.email "
	  "  ORDER BY u.email) FROM panel_members p JOIN users u ON u.id = p.user_id WHERE p.call_id = c.id), "
	  "  '[]'))::text FROM (SELECT $1::text AS ref) r LEFT JOIN calls c ON c.ref = r.ref", 1 },
	{ "rv_conflict", "SELECT gen_conflict_declare($1, $2, $3, $4)", 4 },
	{ "rv_assign_request", "SELECT status, job, code FROM gen_request_assignment($1, $2)", 2 },
	{ "rv_assignments",
	  "SELECT c.id IS NOT NULL, json_build_object("
	  " 'call', c.ref,"
	  " 'assignments', coalesce((SELECT json_agg(json_build_object('application', a.tracking,"
	  "    'reviewer', u.email, 'affinity', x.affinity, 'state', x.state, 'origin', x.origin, 'run', x.run_id)"
	  "    ORDER BY a.tracking, u.email) FROM assignments x JOIN applications a ON a.id = x.application_id"
	  "    JOIN users u ON u.id = x.user_id WHERE x.call_id = c.id AND x.state <> 'undone'), '[]'),"
	  " 'unfilled', (SELECT coalesce(sum(greatest(c.reviewers_per_application - (SELECT count(*)"
	  "    FROM assignments x WHERE x.application_id = a.id AND x.state = 'active'), 0)), 0)"
	  "    FROM applications a WHERE a.call_id = c.id AND a.state IN ('in-review', 'reviewed')),"
	  " 'run', (SELECT r.id FROM assignment_runs r WHERE r.call_id = c.id AND r.undone_at IS NULL"
	  "    ORDER BY r.id DESC LIMIT 1),"
	  " 'diagnosis', (SELECT r.result->'diagnosis' FROM assignment_runs r WHERE r.call_id = c.id"
	  "    AND r.undone_at IS NULL ORDER BY r.id DESC LIMIT 1)"
	  ")::text FROM (SELECT $1::text AS ref) q LEFT JOIN calls c ON c.ref = q.ref", 1 },
	{ "rv_explain", "SELECT gen_explain($1, $2, $3)::text", 3 },
	{ "rv_undo", "SELECT status, code FROM gen_undo_run($1, $2)", 2 },
	{ "rv_extra",
	  "SELECT (e).status, (e).reviewer, (e).affinity FROM (SELECT gen_extra_reviewer($1, c.id, $3) AS e "
	  "FROM calls c WHERE c.ref = $2) s", 3 },
	{ "rv_mine",
	  "SELECT json_build_object('reviews', coalesce(json_agg(json_build_object("
	  "  'application', a.tracking, 'call', c.ref, 'title', a.title, 'state', a.state,"
	  "  'assignment', x.state, 'affinity', x.affinity,"
	  "  'submitted', EXISTS (SELECT 1 FROM reviews r WHERE r.application_id = a.id AND r.user_id = x.user_id))"
	  "  ORDER BY a.tracking), '[]'))::text "
	  "FROM assignments x JOIN applications a ON a.id = x.application_id JOIN calls c ON c.id = a.call_id "
	  "WHERE x.user_id = $1 AND x.state IN ('active', 'declined')", 1 },
	{ "rv_review_view",
	  "SELECT v.visible, v.mine_submitted, v.body FROM gen_review_view($1, $2) v", 2 },
	{ "rv_criteria",
	  "SELECT cr.code, cr.weight, cr.scale_max FROM applications a JOIN criteria cr ON cr.call_id = a.call_id "
	  "WHERE a.tracking = $1 ORDER BY cr.position", 1 },
	{ "rv_review_put", "SELECT gen_review_put($1, $2, $3, $4, $5::jsonb, $6, $7, $8)", 8 },
	{ "rv_decline", "SELECT status, replacement, affinity, code FROM gen_decline($1, $2, $3)", 3 },
	{ "rv_ranking_data",
	  "WITH c AS (SELECT * FROM calls WHERE ref = $1) "
	  "SELECT 'call', c.kind, c.rank_by, c.threshold_tenths::text, coalesce(c.budget_cents, 0)::text, c.id::text "
	  "  FROM c "
	  "UNION ALL SELECT 'crit', cr.code, cr.weight::text, cr.scale_max::text, cr.position::text, '' "
	  "  FROM c JOIN criteria cr ON cr.call_id = c.id "
	  "UNION ALL SELECT 'app', a.id::text, a.tracking, coalesce(a.requested_cents, 0)::text, "
	  "  (extract(epoch FROM a.first_received_at) * 1000000)::bigint::text, a.state "
	  "  FROM c JOIN applications a ON a.call_id = c.id "
	  "  WHERE EXISTS (SELECT 1 FROM reviews r WHERE r.application_id = a.id) "
	  "UNION ALL SELECT 'rev', r.application_id::text, r.user_id::text, r.recommendation, "
	  "  (SELECT string_agg((r.scores->>cr.code), ',' ORDER BY cr.position) FROM criteria cr "
	  "   WHERE cr.call_id = c.id), '' "
	  "  FROM c JOIN applications a ON a.call_id = c.id JOIN reviews r ON r.application_id = a.id", 1 },
	/* One row per error (index into the document, message), or one row
	 * with the answer when the decisions were recorded. */
	{ "rv_decide",
	  "SELECT c.id IS NOT NULL, g.res->>'status', g.res::text, e.value->>'index', e.value->>'message' "
	  "FROM (SELECT $2::text AS ref) r LEFT JOIN calls c ON c.ref = r.ref "
	  "LEFT JOIN LATERAL (SELECT gen_decide($1, c.id, $3::jsonb) AS res WHERE c.id IS NOT NULL) g ON true "
	  "LEFT JOIN LATERAL jsonb_array_elements(g.res->'errors') e ON true", 3 },
};
const int review_statement_count = (int)ARRAY_LEN(review_statements);

static void
problem_422(struct req *q, const char *title, struct form_errors *errs)
{
	req_problem(q, 422, "rule-violation", title, "the document breaks a rule", errs);
}

/* ---- reviewers, panels, conflicts ---- */

static void
on_reviewer(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	int st = atoi(PQgetvalue(res, 0, 0));
	if (st == 409) {
		req_problem(q, 409, "not-a-reviewer", "Not a reviewer account",
		    "this e-mail belongs to an account with another role", NULL);
		return;
	}
	struct sbuf b = {0};
	sbuf_adds(&b, "{\"email\":");
	json_add_str(&b, q->s1);
	sbuf_printf(&b, ",\"created\":%s}", st == 201 ? "true" : "false");
	req_json(q, st, b.data, b.len);
	sbuf_free(&b);
}

void
h_reviewer_upsert(struct req *q)
{
	enum form_kind kind;
	xmlDocPtr doc = api_parse_body(q, &kind, FORM_REVIEWER, FORM_UNKNOWN);
	struct form_errors *errs;
	struct reviewer_doc r;

	if (doc == NULL)
		return;
	errs = xcalloc(1, sizeof *errs);
	int rc = form_reviewer_extract(doc, &r, errs);
	xmlFreeDoc(doc);
	if (rc != 0) {
		problem_422(q, "The reviewer breaks a rule", errs);
		free(errs);
		return;
	}
	free(errs);
	struct sbuf fam = {0}, reg = {0};
	sbuf_addc(&fam, '[');
	for (int f = 0; f < FAMILY_COUNT; f++)
		if (r.families & (1u << f)) {
			if (fam.len > 1)
				sbuf_addc(&fam, ',');
			json_add_str(&fam, family_name((enum family)f));
		}
	sbuf_addc(&fam, ']');
	sbuf_addc(&reg, '[');
	for (int i = 0; i < REGION_COUNT; i++)
		if (r.regions & (1u << i)) {
			if (reg.len > 1)
				sbuf_addc(&reg, ',');
			json_add_str(&reg, region_code(i));
		}
	sbuf_addc(&reg, ']');
	char load[16];
	snprintf(load, sizeof load, "%d", r.max_load);
	snprintf(q->s1, sizeof q->s1, "%s", r.email);
	const char *values[7] = { q->who.user_id_text, r.email, r.name, fam.data, reg.data, load,
		r.has_employer ? r.employer_siret : NULL };
	req_query(q, "rv_upsert", 7, values, NULL, on_reviewer);
	sbuf_free(&fam);
	sbuf_free(&reg);
}

static void
panel_state_free(void *p)
{
	form_panel_free(p);
	free(p);
}

static void
on_panel_set(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		api_not_found(q, "no such call");
		return;
	}
	if (!PQgetisnull(res, 0, 1)) {
		/* Each member who is not a reviewer, where it stands, in
		 * document order. */
		const struct panel_doc *p = q->state;
		struct form_errors *errs = xcalloc(1, sizeof *errs);
		for (int k = 0; k < p->n_members; k++) {
			for (int i = 0; i < PQntuples(res); i++) {
				char path[32];
				if (strcmp(p->members[k], PQgetvalue(res, i, 1)) != 0)
					continue;
				snprintf(path, sizeof path, "/panel/member[%d]", k + 1);
				form_errors_add(errs, p->member_pos[k].line, p->member_pos[k].column, path,
				    "%s is not a reviewer", p->members[k]);
				break;
			}
		}
		problem_422(q, "Unknown panel members", errs);
		free(errs);
		return;
	}
	const char *values[1] = { q->param[0] };
	req_query(q, "rv_panel_get", 1, values, NULL, api_call_json);
}

void
h_panel_put(struct req *q)
{
	enum form_kind kind;
	xmlDocPtr doc = api_parse_body(q, &kind, FORM_PANEL, FORM_UNKNOWN);
	struct form_errors *errs;
	struct panel_doc p = {0};

	if (doc == NULL)
		return;
	errs = xcalloc(1, sizeof *errs);
	int rc = form_panel_extract(doc, &p, errs);
	xmlFreeDoc(doc);
	if (rc == 0)
		rc = api_check_call(errs, "panel", p.root.line, p.root.column, p.call_ref, q->param[0]);
	if (rc != 0) {
		problem_422(q, "The panel breaks a rule", errs);
		free(errs);
		form_panel_free(&p);
		return;
	}
	free(errs);
	struct sbuf m = {0};
	sbuf_addc(&m, '[');
	for (int i = 0; i < p.n_members; i++) {
		if (i)
			sbuf_addc(&m, ',');
		json_add_str(&m, p.members[i]);
	}
	sbuf_addc(&m, ']');
	/* Kept for the answer: where each member stands in the document. */
	struct panel_doc *kept = xmalloc(sizeof *kept);
	*kept = p;
	q->state = kept;
	q->free_state = panel_state_free;
	const char *values[3] = { q->who.user_id_text, q->param[0], m.data };
	req_query(q, "rv_panel_set", 3, values, NULL, on_panel_set);
	sbuf_free(&m);
}

void
h_panel_get(struct req *q)
{
	const char *values[1] = { q->param[0] };
	req_query(q, "rv_panel_get", 1, values, NULL, api_call_json);
}

static void
on_conflict(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	int st = atoi(PQgetvalue(res, 0, 0));
	if (st == 404) {
		api_not_found(q, "no such reviewer");
		return;
	}
	struct sbuf b = {0};
	sbuf_adds(&b, "{\"reviewer\":");
	json_add_str(&b, q->s1);
	sbuf_adds(&b, ",\"siret\":");
	json_add_str(&b, q->s2);
	sbuf_printf(&b, ",\"source\":\"declared\",\"created\":%s}", st == 201 ? "true" : "false");
	req_json(q, st, b.data, b.len);
	sbuf_free(&b);
}

void
h_conflict_post(struct req *q)
{
	enum form_kind kind;
	xmlDocPtr doc = api_parse_body(q, &kind, FORM_CONFLICT, FORM_UNKNOWN);
	struct form_errors *errs;
	struct conflict_doc c;

	if (doc == NULL)
		return;
	errs = xcalloc(1, sizeof *errs);
	int rc = form_conflict_extract(doc, &c, errs);
	xmlFreeDoc(doc);
	if (rc != 0) {
		problem_422(q, "The conflict breaks a rule", errs);
		free(errs);
		return;
	}
	free(errs);
	/* A reviewer declares only their own conflicts. */
	if (q->who.role == ROLE_REVIEWER && strcasecmp(c.reviewer, q->who.email) != 0) {
		req_problem(q, 403, "forbidden", "Forbidden",
		    "a reviewer may declare only their own conflicts", NULL);
		return;
	}
	snprintf(q->s1, sizeof q->s1, "%s", c.reviewer);
	snprintf(q->s2, sizeof q->s2, "%s", c.siret);
	const char *values[4] = { q->who.user_id_text, c.reviewer, c.siret, c.reason };
	req_query(q, "rv_conflict", 4, values, NULL, on_conflict);
}

/* ---- assignment ---- */

static void
on_assign_request(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	static const struct status_problem map[] = {
		{ 404, NULL, "not-found", "Not found", "no such call" },
		{ 409, "no-panel", "no-panel", "The call has no panel",
		  "set the call's panel (PUT /api/v1/calls/{ref}/panel) before assignment" },
		{ 409, NULL, "already-queued", "Assignment already queued",
		  "an assignment of this call is queued or running" },
		{ 422, NULL, "no-eligible", "Nothing to assign", "the call has no application in state eligible" },
	};
	if (api_answer_status(q, atoi(PQgetvalue(res, 0, 0)), PQgetvalue(res, 0, 2), map, ARRAY_LEN(map)))
		return;
	char loc[64], body[96];
	const char *job = PQgetvalue(res, 0, 1);
	snprintf(loc, sizeof loc, "/api/v1/jobs/%s", job);
	int n = snprintf(body, sizeof body, "{\"job\":%s,\"state\":\"queued\"}", job);
	req_header(q, "Location", loc);
	req_json(q, 202, body, (size_t)n);
}

void
h_assignment_request(struct req *q)
{
	const char *values[2] = { q->who.user_id_text, q->param[0] };
	req_query(q, "rv_assign_request", 2, values, NULL, on_assign_request);
}

void
h_assignments_get(struct req *q)
{
	const char *values[1] = { q->param[0] };
	req_query(q, "rv_assignments", 1, values, NULL, api_call_json);
}

static void
on_explain(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	const char *j = PQgetvalue(res, 0, 0);
	if (strstr(j, "\"status\": 404") != NULL) {
		api_not_found(q, "no such active assignment of that reviewer to that application in this call");
		return;
	}
	req_json(q, 200, j, strlen(j));
}

void
h_assignment_explain(struct req *q)
{
	char *app = req_query_param(q, "application"), *rev = req_query_param(q, "reviewer");

	if (app == NULL || rev == NULL) {
		free(app);
		free(rev);
		req_problem(q, 400, "bad-request", "Missing parameters",
		    "give ?application=TRACKING&reviewer=EMAIL", NULL);
		return;
	}
	const char *values[3] = { q->param[0], app, rev };
	req_query(q, "rv_explain", 3, values, NULL, on_explain);
	free(app);
	free(rev);
}

static void
on_undo(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	static const struct status_problem map[] = {
		{ 404, NULL, "not-found", "Not found", "no such assignment run" },
		{ 409, "undone", "already-undone", "Already undone", "this run was undone before" },
		{ 409, "decided", "decided", "Cannot undo",
		  "an application of this run is decided; its assignments stay on record" },
		{ 422, NULL, "reviews-exist", "Cannot undo", "reviews were already submitted for this run's assignments" },
	};
	if (api_answer_status(q, atoi(PQgetvalue(res, 0, 0)), PQgetvalue(res, 0, 1), map, ARRAY_LEN(map)))
		return;
	char body[64];
	int n = snprintf(body, sizeof body, "{\"run\":%s,\"undone\":true}", q->param[0]);
	req_json(q, 200, body, (size_t)n);
}

void
h_assignment_undo(struct req *q)
{
	int64_t id;

	if (parse_int64(q->param[0], 1, INT64_MAX, &id) != 0) {
		api_not_found(q, "no such assignment run");
		return;
	}
	const char *values[2] = { q->who.user_id_text, q->param[0] };
	req_query(q, "rv_undo", 2, values, NULL, on_undo);
}

static void
on_extra(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	static const struct status_problem map[] = {
		{ 404, NULL, "not-found", "Not found", "no such application in this call" },
		{ 409, NULL, "not-in-review", "Not in review",
		  "an extra reviewer can be added only to an application in review" },
		{ 422, NULL, "no-reviewer-left", "No reviewer available",
		  "no panel member without conflict and with capacity left" },
	};
	if (api_answer_status(q, PQntuples(res) ? atoi(PQgetvalue(res, 0, 0)) : 404, NULL, map, ARRAY_LEN(map)))
		return;
	struct sbuf b = {0};
	sbuf_adds(&b, "{\"reviewer\":");
	json_add_str(&b, PQgetvalue(res, 0, 1));
	sbuf_printf(&b, ",\"affinity\":%s}", PQgetvalue(res, 0, 2));
	req_json(q, 201, b.data, b.len);
	sbuf_free(&b);
}

void
h_extra_reviewer(struct req *q)
{
	char *app = req_query_param(q, "application");

	if (app == NULL) {
		req_problem(q, 400, "bad-request", "Missing parameter", "give ?application=TRACKING", NULL);
		return;
	}
	const char *values[3] = { q->who.user_id_text, q->param[0], app };
	req_query(q, "rv_extra", 3, values, NULL, on_extra);
	free(app);
}

/* ---- reviews ---- */

void
h_reviews_mine(struct req *q)
{
	const char *values[1] = { q->who.user_id_text };
	req_query(q, "rv_mine", 1, values, NULL, api_json_row);
}

static void
on_review_view(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		api_not_found(q, "no such application among yours");
		return;
	}
	const char *j = PQgetvalue(res, 0, 2);
	req_json(q, 200, j, strlen(j));
}

void
h_review_get(struct req *q)
{
	const char *values[2] = { q->who.user_id_text, q->param[0] };
	req_query(q, "rv_review_view", 2, values, NULL, on_review_view);
}

static void
on_review_stored(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	static const struct status_problem map[] = {
		{ 404, NULL, "not-found", "Not found", "you are not assigned to this application" },
		{ 403, NULL, "conflict-of-interest", "Conflict of interest",
		  "you have a conflict of interest with this organisation" },
		{ 409, NULL, "decided", "Review closed", "the application is no longer in review (decided or withdrawn)" },
	};
	int st = atoi(PQgetvalue(res, 0, 0));
	if (api_answer_status(q, st, NULL, map, ARRAY_LEN(map)))
		return;
	char body[96];
	int n = snprintf(body, sizeof body, "{\"application\":\"%s\",\"stored\":true}", q->param[0]);
	req_json(q, st, body, (size_t)n);
}

static void
on_review_criteria(struct req *q, PGresult *res)
{
	struct review_doc *r = q->state;
	struct call_criterion crit[12];
	int n = PQntuples(res);

	if (!api_result_ok(q, res))
		return;
	if (n == 0) {
		api_not_found(q, "you are not assigned to this application");
		return;
	}
	for (int i = 0; i < n && i < 12; i++) {
		snprintf(crit[i].code, sizeof crit[i].code, "%s", PQgetvalue(res, i, 0));
		crit[i].weight = atoi(PQgetvalue(res, i, 1));
		crit[i].scale_max = atoi(PQgetvalue(res, i, 2));
		crit[i].label[0] = '\0';
	}
	struct form_errors *errs = xcalloc(1, sizeof *errs);
	if (form_review_check(r, crit, n < 12 ? n : 12, errs) > 0) {
		problem_422(q, "The review breaks a rule", errs);
		free(errs);
		return;
	}
	free(errs);
	struct sbuf scores = {0};
	sbuf_addc(&scores, '{');
	for (int i = 0; i < r->n_scores; i++) {
		if (i)
			sbuf_addc(&scores, ',');
		json_add_str(&scores, r->scores[i].criterion);
		sbuf_printf(&scores, ":%lld", (long long)r->scores[i].value);
	}
	sbuf_addc(&scores, '}');
	char conf[8];
	snprintf(conf, sizeof conf, "%d", r->confidence);
	const char *values[8] = { q->who.user_id_text, q->param[0],
		review_recommendation_name(r->recommendation), conf, scores.data,
		r->comment ? r->comment : "", r->feedback ? r->feedback : "", q->body };
	int lengths[8] = { -1, -1, -1, -1, -1, -1, -1, (int)q->body_len };
	req_query(q, "rv_review_put", 8, values, lengths, on_review_stored);
	sbuf_free(&scores);
}

static void
free_review(void *p)
{
	form_review_free(p);
	free(p);
}

void
h_review_put(struct req *q)
{
	enum form_kind kind;
	xmlDocPtr doc = api_parse_body(q, &kind, FORM_REVIEW, FORM_UNKNOWN);
	struct form_errors *errs;

	if (doc == NULL)
		return;
	struct review_doc *r = xcalloc(1, sizeof *r);
	q->state = r;
	q->free_state = free_review;
	errs = xcalloc(1, sizeof *errs);
	int rc = form_review_extract(doc, r, errs);
	xmlFreeDoc(doc);
	if (rc != 0) {
		problem_422(q, "The review breaks a rule", errs);
		free(errs);
		return;
	}
	free(errs);
	const char *values[1] = { q->param[0] };
	req_query(q, "rv_criteria", 1, values, NULL, on_review_criteria);
}

static void
on_declined(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	static const struct status_problem map[] = {
		{ 404, NULL, "not-found", "Not found", "you are not assigned to this application" },
		{ 409, "ended", "already-declined", "Already declined", "this assignment was already declined or ended" },
		{ 409, NULL, "decided", "Cannot decline",
		  "this application is already decided or withdrawn: it takes no new reviewer" },
		{ 422, NULL, "review-submitted", "Cannot decline", "you already submitted a review for this application" },
	};
	if (api_answer_status(q, atoi(PQgetvalue(res, 0, 0)), PQgetvalue(res, 0, 3), map, ARRAY_LEN(map)))
		return;
	struct sbuf b = {0};
	sbuf_adds(&b, "{\"application\":");
	json_add_str(&b, q->param[0]);
	sbuf_adds(&b, ",\"declined\":true,\"replacement\":");
	if (PQgetisnull(res, 0, 1))
		sbuf_adds(&b, "null,\"affinity\":null");
	else {
		json_add_str(&b, PQgetvalue(res, 0, 1));
		sbuf_printf(&b, ",\"affinity\":%s", PQgetvalue(res, 0, 2));
	}
	sbuf_addc(&b, '}');
	req_json(q, 200, b.data, b.len);
	sbuf_free(&b);
}

void
h_review_decline(struct req *q)
{
	char reason[1001] = "declined by the reviewer";

	if (q->body_len > 0) {
		if (q->body_len >= sizeof reason || !utf8_valid(q->body, q->body_len)) {
			req_problem(q, 422, "bad-reason", "Unusable reason",
			    "the reason must be UTF-8 text of at most 1000 bytes", NULL);
			return;
		}
		memcpy(reason, q->body, q->body_len);
		reason[q->body_len] = '\0';
	}
	const char *values[3] = { q->who.user_id_text, q->param[0], reason };
	req_query(q, "rv_decline", 3, values, NULL, on_declined);
}

/* ---- ranking ---- */

static void
money_json(struct sbuf *b, int64_t cents)
{
	char buf[32];

	format_scaled(cents, 2, buf, sizeof buf);
	sbuf_adds(b, buf);
}

static void
on_ranking_data(struct req *q, PGresult *res)
{
	int n = PQntuples(res), csv = (int)q->n1;

	if (!api_result_ok(q, res))
		return;
	if (n == 0 || strcmp(PQgetvalue(res, 0, 0), "call") != 0) {
		api_not_found(q, "no such call");
		return;
	}
	struct score_call call = {0};
	struct score_criterion crit[SCORE_MAX_CRITERIA];
	char crit_code[SCORE_MAX_CRITERIA][33];
	size_t n_crit = 0, n_apps = 0, n_revs = 0;
	struct score_app *apps = xcalloc((size_t)n, sizeof *apps);
	struct score_review *revs = xcalloc((size_t)n, sizeof *revs);
	int *values = xcalloc((size_t)n * SCORE_MAX_CRITERIA, sizeof *values);
	char (*tracking)[16] = xcalloc((size_t)n, sizeof *tracking);

	call.kind = strcmp(PQgetvalue(res, 0, 1), "label") == 0 ? SCORE_CALL_LABEL : SCORE_CALL_PROJECT;
	call.rank_by = strcmp(PQgetvalue(res, 0, 2), "calibrated") == 0 ? SCORE_RANK_CALIBRATED : SCORE_RANK_RAW;
	call.threshold_tenths = atoi(PQgetvalue(res, 0, 3));
	call.budget_cents = atoll(PQgetvalue(res, 0, 4));
	for (int i = 1; i < n; i++) {
		const char *k = PQgetvalue(res, i, 0);
		if (strcmp(k, "crit") == 0 && n_crit < SCORE_MAX_CRITERIA) {
			snprintf(crit_code[n_crit], sizeof crit_code[0], "%s", PQgetvalue(res, i, 1));
			crit[n_crit].weight = atoi(PQgetvalue(res, i, 2));
			crit[n_crit].scale_max = atoi(PQgetvalue(res, i, 3));
			n_crit++;
		} else if (strcmp(k, "app") == 0) {
			apps[n_apps].id = atoi(PQgetvalue(res, i, 1));
			snprintf(tracking[n_apps], sizeof tracking[0], "%s", PQgetvalue(res, i, 2));
			apps[n_apps].requested_cents = atoll(PQgetvalue(res, i, 3));
			apps[n_apps].first_receipt = atoll(PQgetvalue(res, i, 4));
			n_apps++;
		}
	}
	call.criteria = crit;
	call.n_criteria = n_crit;
	for (int i = 1; i < n; i++) {
		if (strcmp(PQgetvalue(res, i, 0), "rev") != 0)
			continue;
		struct score_review *r = &revs[n_revs];
		r->app = atoi(PQgetvalue(res, i, 1));
		r->reviewer = atoi(PQgetvalue(res, i, 2));
		const char *rec = PQgetvalue(res, i, 3);
		r->recommendation = strcmp(rec, "fund") == 0 ? SCORE_REC_FUND :
		    strcmp(rec, "reject") == 0 ? SCORE_REC_REJECT : SCORE_REC_DISCUSS;
		int *v = values + n_revs * SCORE_MAX_CRITERIA;
		char *list = xstrdup(PQgetvalue(res, i, 4)), *save = NULL;
		int k = 0;
		for (char *t = strtok_r(list, ",", &save); t && k < SCORE_MAX_CRITERIA; t = strtok_r(NULL, ",", &save))
			v[k++] = atoi(t);
		free(list);
		r->n = k;
		r->values = v;
		n_revs++;
	}
	struct score_result out;
	char err[256];
	if (score_rank(&call, apps, n_apps, revs, n_revs, &out, err, sizeof err) != 0) {
		fprintf(stderr, "event=ranking_failed id=%s error=\"%s\"\n", q->req_id, err);
		req_problem(q, 500, "internal", "Internal error", "the ranking could not be computed", NULL);
		goto done;
	}
	struct sbuf b = {0};
	if (csv)
		sbuf_adds(&b, "application,rank,rawScore,calibratedScore,reviews,disagreement,"
		    "requestedAmount,withinBudget,aboveThreshold\r\n");
	else
		sbuf_adds(&b, "{\"ranking\":[");
	for (size_t i = 0; i < out.n_rows; i++) {
		const struct score_row *row = &out.rows[i];
		const char *t = "";
		for (size_t j = 0; j < n_apps; j++)
			if (apps[j].id == row->app)
				t = tracking[j];
		const char *within = call.kind == SCORE_CALL_LABEL ? "null" : row->within_budget ? "true" : "false";
		if (csv) {
			sbuf_printf(&b, "%s,%d,%.4f,%.4f,%d,%s,", t, row->rank, row->raw_score,
			    row->calibrated_score, row->reviews, row->disagreement ? "true" : "false");
			money_json(&b, row->requested_cents);
			sbuf_printf(&b, ",%s,%s\r\n", call.kind == SCORE_CALL_LABEL ? "" : within,
			    row->above_threshold ? "true" : "false");
			continue;
		}
		if (i)
			sbuf_addc(&b, ',');
		sbuf_adds(&b, "{\"application\":");
		json_add_str(&b, t);
		sbuf_printf(&b, ",\"rank\":%d,\"rawScore\":%.4f,\"calibratedScore\":%.4f,\"reviews\":%d,"
		    "\"disagreement\":%s,\"requestedAmount\":", row->rank, row->raw_score,
		    row->calibrated_score, row->reviews, row->disagreement ? "true" : "false");
		if (call.kind == SCORE_CALL_LABEL)
			sbuf_adds(&b, "null");
		else
			money_json(&b, row->requested_cents);
		sbuf_printf(&b, ",\"withinBudget\":%s,\"aboveThreshold\":%s,\"proposed\":%s}", within,
		    row->above_threshold ? "true" : "false", row->proposed ? "true" : "false");
	}
	if (csv) {
		req_header(q, "Content-Disposition", "attachment; filename=\"ranking.csv\"");
		req_reply(q, 200, "text/csv; charset=utf-8", b.data, b.len);
	} else {
		sbuf_printf(&b, "],\"rankBy\":\"%s\",\"threshold\":%.1f,\"callMean\":%.4f,\"callStddev\":%.4f}",
		    call.rank_by == SCORE_RANK_CALIBRATED ? "calibrated" : "raw", call.threshold_tenths / 10.0,
		    out.call_mean, out.call_stddev);
		req_json(q, 200, b.data, b.len);
	}
	sbuf_free(&b);
	score_result_free(&out);
done:
	free(apps);
	free(revs);
	free(values);
	free(tracking);
}

void
h_ranking(struct req *q)
{
	char *format = req_query_param(q, "format");

	q->n1 = format != NULL && strcmp(format, "csv") == 0;
	free(format);
	const char *values[1] = { q->param[0] };
	req_query(q, "rv_ranking_data", 1, values, NULL, on_ranking_data);
}

/* ---- decisions ---- */

static void
decisions_state_free(void *p)
{
	form_decisions_free(p);
	free(p);
}

static void
on_decided(struct req *q, PGresult *res)
{
	const struct decisions_doc *d = q->state;

	if (!api_result_ok(q, res))
		return;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		api_not_found(q, "no such call");
		return;
	}
	int st = atoi(PQgetvalue(res, 0, 1));
	if (st == 200) {
		req_json(q, 200, PQgetvalue(res, 0, 2), (size_t)PQgetlength(res, 0, 2));
		return;
	}
	/* The SQL function names each faulty decision by its index in the
	 * document: report it where it stands. */
	struct form_errors *errs = xcalloc(1, sizeof *errs);
	for (int i = 0; i < PQntuples(res); i++) {
		int k = atoi(PQgetvalue(res, i, 3));
		const struct decision *it = k >= 0 && k < d->n ? &d->items[k] : NULL;
		form_errors_add(errs, it ? it->line : 0, it ? it->column : 0, it ? it->path : "/decisions",
		    "%s", PQgetvalue(res, i, 4));
	}
	req_problem(q, st == 409 ? 409 : 422, st == 409 ? "state-conflict" : "rule-violation",
	    st == 409 ? "Decision not possible in this state" : "The decisions break a rule",
	    "no decision was recorded", errs);
	free(errs);
}

void
h_decisions(struct req *q)
{
	enum form_kind kind;
	xmlDocPtr doc = api_parse_body(q, &kind, FORM_DECISIONS, FORM_UNKNOWN);
	struct form_errors *errs;
	struct decisions_doc d = {0};

	if (doc == NULL)
		return;
	errs = xcalloc(1, sizeof *errs);
	int rc = form_decisions_extract(doc, &d, errs);
	xmlFreeDoc(doc);
	if (rc == 0)
		rc = api_check_call(errs, "decisions", d.root.line, d.root.column, d.call_ref, q->param[0]);
	if (rc != 0) {
		problem_422(q, "The decisions break a rule", errs);
		free(errs);
		form_decisions_free(&d);
		return;
	}
	free(errs);
	struct sbuf items = {0};
	sbuf_addc(&items, '[');
	for (int i = 0; i < d.n; i++) {
		if (i)
			sbuf_addc(&items, ',');
		sbuf_adds(&items, "{\"tracking\":");
		json_add_str(&items, d.items[i].application);
		sbuf_adds(&items, ",\"outcome\":");
		json_add_str(&items, decision_outcome_name(d.items[i].outcome));
		if (d.items[i].has_amount)
			sbuf_printf(&items, ",\"amount\":%lld", (long long)d.items[i].amount_cents);
		else
			sbuf_adds(&items, ",\"amount\":null");
		sbuf_adds(&items, ",\"rationale\":");
		json_add_str(&items, d.items[i].rationale ? d.items[i].rationale : "");
		sbuf_addc(&items, '}');
	}
	sbuf_addc(&items, ']');
	/* Kept for the answer: where each decision stands in the document. */
	struct decisions_doc *kept = xmalloc(sizeof *kept);
	*kept = d;
	q->state = kept;
	q->free_state = decisions_state_free;
	const char *values[3] = { q->who.user_id_text, q->param[0], items.data };
	req_query(q, "rv_decide", 3, values, NULL, on_decided);
	sbuf_free(&items);
}
