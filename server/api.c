/* api.c - the routes of DESIGN §3 and their handlers.
 *
 * Handlers are thin: check the input, call the pure cores (xmlform, form,
 * receipt), run one prepared statement, answer. Every statement the server
 * runs is in `app_statements` below, prepared once per connection. */
#include "app.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "auth.h"
#include "db.h"
#include "form.h"
#include "hashpool.h"
#include "login_page.h"
#include "receipt.h"
#include "api.h"

/* ---- statements ---- */

const struct db_stmt app_statements[] = {
	{ "ping", "SELECT 1", 0 },
	{ "identity",
	  "SELECT u.id, u.role, u.email, coalesce(u.siret, '') FROM users u "
	  "WHERE u.id = (SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at > now() "
	  "              UNION ALL "
	  "              SELECT user_id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL "
	  "              LIMIT 1)", 1 },
	{ "login_lookup",
	  "SELECT u.id, u.password_hash, gen_login_wait($1, $2) FROM (SELECT 1) x "
	  "LEFT JOIN users u ON u.email = lower($1)", 2 },
	{ "login_failed", "SELECT gen_login_failed($1, $2)", 2 },
	{ "session_create",
	  "WITH s AS (INSERT INTO sessions (token_hash, user_id, expires_at) "
	  "           VALUES ($1, $2, now() + make_interval(hours => $3::int)) RETURNING user_id), "
	  "     c AS (SELECT gen_login_succeeded((SELECT email FROM users WHERE id = $2::bigint), $4)) "
	  "SELECT u.role, u.email FROM users u JOIN s ON s.user_id = u.id, c", 4 },
	{ "session_delete", "DELETE FROM sessions WHERE token_hash = $1", 1 },
	{ "call_create",
	  "SELECT gen_create_call($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)", 16 },
	{ "call_get", "SELECT json FROM call_json WHERE ref = $1", 1 },
	{ "call_list",
	  "SELECT '{\"calls\":' || coalesce(json_agg(json::json ORDER BY id), '[]') || '}' FROM call_json", 0 },
	{ "call_rules",
	  "SELECT c.id, c.kind, c.max_request_cents, c.max_funding_share_tenths, "
	  "       extract(epoch FROM c.opens_at)::bigint, extract(epoch FROM c.closes_at)::bigint, "
	  "       coalesce((SELECT string_agg(metric || '=' || min_tenths, ',') FROM targets t WHERE t.call_id = c.id), '') "
	  "FROM calls c WHERE c.ref = $1", 1 },
	{ "amend_rules",
	  "SELECT c.id, c.kind, c.max_request_cents, c.max_funding_share_tenths, "
	  "       extract(epoch FROM c.opens_at)::bigint, extract(epoch FROM c.closes_at)::bigint, "
	  "       coalesce((SELECT string_agg(metric || '=' || min_tenths, ',') FROM targets t WHERE t.call_id = c.id), ''), "
	  "       c.ref "
	  "FROM applications a JOIN calls c ON c.id = a.call_id "
	  "WHERE a.tracking = $1 AND a.siret = $2", 2 },
	{ "submit",
	  "SELECT status, code, tracking, version, received_at FROM "
	  "gen_submit($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)", 12 },
	{ "app_get", "SELECT v.body, v.visible FROM gen_application_view($1, $2) v", 2 },
	{ "app_get_xml",
	  "SELECT encode(v.body, 'hex'), (gen_application_view(a.tracking, $2)).visible FROM applications a "
	  "JOIN application_versions v ON v.application_id = a.id AND v.version = a.current_version "
	  "WHERE a.tracking = $1", 2 },
	{ "app_receipt",
	  "SELECT a.tracking, v.version, v.received_at, v.sha256, a.siret FROM applications a "
	  "JOIN application_versions v ON v.application_id = a.id AND v.version = a.current_version "
	  "WHERE a.tracking = $1", 1 },
	{ "app_withdraw", "SELECT gen_withdraw($1, $2, $3)", 3 },
	{ "call_applications",
	  "SELECT c.id IS NOT NULL, '{\"applications\":' || coalesce((SELECT json_agg(j.json::json ORDER BY j.id) "
	  "  FROM application_json j WHERE j.call_id = c.id), '[]') || '}' "
	  "FROM (SELECT $1::text AS ref) r LEFT JOIN calls c ON c.ref = r.ref", 1 },
	{ "audit_verify", "SELECT ok, entries, broken_seq, problem FROM gen_audit_verify()", 0 },
	{ "job_get",
	  "SELECT json_build_object('id', id, 'kind', kind, "
	  "  'state', CASE state WHEN 'dead' THEN 'failed' ELSE state END, "
	  "  'attempts', attempts, 'error', error, 'result', result)::text FROM jobs WHERE id = $1", 1 },
	{ "job_counts",
	  "SELECT s, (SELECT count(*) FROM jobs WHERE state = s) FROM "
	  "unnest(ARRAY['queued','running','done','failed','dead']) AS s", 0 },
	{ "me",
	  "SELECT json_build_object('email', u.email, 'role', u.role, 'name', u.name, "
	  "  'organisation', CASE WHEN o.siret IS NULL THEN NULL ELSE "
	  "  json_build_object('siret', o.siret, 'name', o.name) END, 'csrfToken', $2::text)::text "
	  "FROM users u LEFT JOIN organisations o ON o.siret = u.siret WHERE u.id = $1", 2 },
};
const int app_statement_count = (int)ARRAY_LEN(app_statements);

/* ---- helpers ---- */

static int
is_xml_content_type(struct req *q)
{
	const char *ct = req_in_header(q, "Content-Type");

	if (ct == NULL)
		return 0;
	size_t n = strcspn(ct, "; \t");
	return (n == 15 && strncasecmp(ct, "application/xml", 15) == 0) ||
	    (n == 8 && strncasecmp(ct, "text/xml", 8) == 0);
}

/* Parse and validate the body as one of the expected kinds; answers the
 * problem itself and returns NULL when the document is not acceptable. */
xmlDocPtr
api_parse_body(struct req *q, enum form_kind *kind, enum form_kind want1, enum form_kind want2)
{
	struct form_errors *errs;

	if (!is_xml_content_type(q)) {
		req_problem(q, 415, "unsupported-media-type", "Unsupported media type",
		    "send the document with Content-Type: application/xml", NULL);
		return NULL;
	}
	if (q->body_len == 0) {
		errs = xcalloc(1, sizeof *errs);
		form_errors_add(errs, 0, 0, "", "the request body is empty");
		req_problem(q, 422, "invalid-document", "Invalid document",
		    "the body is not an XML document", errs);
		free(errs);
		return NULL;
	}
	errs = xcalloc(1, sizeof *errs);
	xmlDocPtr doc = xmlform_parse(q->body, q->body_len, kind, errs);
	if (doc == NULL) {
		req_problem(q, 422, "invalid-document", "Invalid document",
		    "the document is malformed or does not follow its schema", errs);
		free(errs);
		return NULL;
	}
	if (*kind != want1 && *kind != want2) {
		xmlNodePtr root = xmlDocGetRootElement(doc);
		form_errors_at(errs, root, "this route expects a %s%s%s document, not %s",
		    form_kind_root(want1), want2 ? " or " : "", want2 ? form_kind_root(want2) : "",
		    form_kind_root(*kind));
		xmlFreeDoc(doc);
		req_problem(q, 422, "wrong-document", "Wrong document",
		    "the document's root element does not fit this route", errs);
		free(errs);
		return NULL;
	}
	free(errs);
	return doc;
}

void
api_internal_error(struct req *q, PGresult *res)
{
	fprintf(stderr, "event=sql_error id=%s route=%s sqlstate=%s error=\"%s\"\n",
	    q->req_id, q->route->name, db_sqlstate(res), PQresultErrorMessage(res));
	req_problem(q, 500, "internal", "Internal error",
	    "the request could not be completed; it was not stored", NULL);
}

int
api_result_ok(struct req *q, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return 1;
	api_internal_error(q, res);
	return 0;
}

int
api_answer_status(struct req *q, int status, const char *code,
    const struct status_problem *map, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (map[i].status == status &&
		    (map[i].code == NULL || (code != NULL && strcmp(map[i].code, code) == 0))) {
			req_problem(q, status, map[i].type, map[i].title, map[i].detail, NULL);
			return 1;
		}
	return 0;
}

int
api_check_call(struct form_errors *errs, const char *root_name, int line, int column,
    const char *doc_ref, const char *url_ref)
{
	char path[64];

	if (strcmp(doc_ref, url_ref) == 0)
		return 0;
	snprintf(path, sizeof path, "/%s/@call", root_name);
	form_errors_add(errs, line, column, path, "the document names call %s but was sent to call %s",
	    doc_ref, url_ref);
	return -1;
}

void
api_not_found(struct req *q, const char *what)
{
	req_problem(q, 404, "not-found", "Not found", what, NULL);
}

/* ---- public routes ---- */

static void
on_ping(struct req *q, PGresult *res)
{
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		req_unavailable(q, "database unavailable");
		return;
	}
	req_reply(q, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

static void
h_healthz(struct req *q)
{
	req_query(q, "ping", 0, NULL, NULL, on_ping);
}

static int
peer_is_loopback(struct req *q)
{
	struct evhttp_connection *c = evhttp_request_get_connection(q->r);
	const char *addr = NULL;
	ev_uint16_t port;

	if (c == NULL)
		return 0;
	evhttp_connection_get_peer(c, (char **)&addr, &port);
	return addr != NULL && (strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
	    strcmp(addr, "::ffff:127.0.0.1") == 0);
}

static void
on_job_counts(struct req *q, PGresult *res)
{
	struct sbuf out = {0};

	metrics_render(q->app, &out);
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		sbuf_adds(&out, "# HELP gen_jobs Jobs by state.\n# TYPE gen_jobs gauge\n");
		for (int i = 0; i < PQntuples(res); i++)
			sbuf_printf(&out, "gen_jobs{state=\"%s\"} %s\n", PQgetvalue(res, i, 0),
			    PQgetvalue(res, i, 1));
	}
	req_reply(q, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
	sbuf_free(&out);
}

static void
h_metrics(struct req *q)
{
	if (!peer_is_loopback(q)) {
		req_problem(q, 403, "forbidden", "Forbidden", "metrics are served on loopback only", NULL);
		return;
	}
	req_query(q, "job_counts", 0, NULL, NULL, on_job_counts);
}

static void
h_form_schema(struct req *q)
{
	char name[160], path[1024];
	const char *p = q->param[0];
	size_t n = strlen(p);

	if (n < 5 || strcmp(p + n - 4, ".xsd") != 0) {
		api_not_found(q, "no such schema");
		return;
	}
	snprintf(name, sizeof name, "%.*s", (int)(n - 4), p);
	/* Only the schemas of the documents, never an arbitrary file. */
	static const char *const served[] = { "call", "projectApplication", "labelApplication",
		"receipt", "reviewer", "panel", "conflict", "review", "decisions", "cohortReport", "types" };
	int known = 0;
	for (size_t i = 0; i < ARRAY_LEN(served); i++)
		known |= strcmp(served[i], name) == 0;
	if (!known) {
		api_not_found(q, "no such schema");
		return;
	}
	snprintf(path, sizeof path, "%s/%s.xsd", q->app->cfg->forms_dir, name);
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		api_not_found(q, "no such schema");
		return;
	}
	struct sbuf b = {0};
	char chunk[8192];
	size_t got;
	while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
		sbuf_add(&b, chunk, got);
	fclose(f);
	req_header(q, "Cache-Control", "public, max-age=3600");
	req_reply(q, 200, "application/xml", b.data, b.len);
	sbuf_free(&b);
}

static void
h_receipt_key(struct req *q)
{
	const char *pem = receipt_key_public_pem(q->app->key);

	req_reply(q, 200, "application/x-pem-file", pem, strlen(pem));
}

/* ---- session ---- */

/* The browser's default page after logging in: the staff dashboard is the
 * only page so far. */
#define LOGIN_DEFAULT_NEXT "/dashboard"

struct login_state {
	char *email;
	char *password;
	char *next;      /* the HTML form's destination (303), or NULL: JSON */
	int64_t user_id;
	char addr[64];
};

static void
free_login(void *p)
{
	struct login_state *s = p;

	free(s->email);
	free(s->next);
	if (s->password) {
		memset(s->password, 0, strlen(s->password));
		free(s->password);
	}
	free(s);
}

/* The login page, with its double-submit token: the request's gen_csrf
 * cookie when it has one (another open login tab keeps working), else a
 * new one, set as the cookie. */
static void
login_page_answer(struct req *q, int status, const char *next, const char *email,
    const char *message)
{
	char token[WEBSEC_TOKEN_LEN + 1];
	struct sbuf page = {0};

	if (!req_cookie_token(q, WEBSEC_LOGIN_COOKIE, token)) {
		if (auth_token_new(token) != 0) {
			req_problem(q, 500, "internal", "Internal error", "no randomness", NULL);
			return;
		}
		req_set_cookie(q, WEBSEC_LOGIN_COOKIE, token, -1);
	}
	struct login_page in = { .csrf_token = token, .next = next, .email = email, .message = message };
	if (login_page_render(&in, &page) != 0) {
		sbuf_free(&page);
		req_problem(q, 500, "internal", "Internal error", "the page could not be rendered", NULL);
		return;
	}
	req_html(q, status, page.data, page.len);
	sbuf_free(&page);
}

static void
h_login_page(struct req *q)
{
	char *next = req_query_param(q, "next");

	login_page_answer(q, 200, websec_local_path(next) ? next : LOGIN_DEFAULT_NEXT, NULL, NULL);
	free(next);
}

static void
on_session_created(struct req *q, PGresult *res)
{
	struct login_state *s = q->state;

	if (!api_result_ok(q, res))
		return;
	req_set_cookie(q, WEBSEC_SESSION_COOKIE, q->s1, q->app->cfg->session_hours * 3600);
	if (s->next != NULL) {
		req_redirect(q, s->next);
		return;
	}
	struct sbuf b = {0};
	sbuf_adds(&b, "{\"email\":");
	json_add_str(&b, PQgetvalue(res, 0, 1));
	sbuf_adds(&b, ",\"role\":");
	json_add_str(&b, PQgetvalue(res, 0, 0));
	sbuf_adds(&b, "}");
	req_json(q, 200, b.data, b.len);
	sbuf_free(&b);
}

static void
on_failure_recorded(struct req *q, PGresult *res)
{
	struct login_state *s = q->state;

	if (s->next != NULL) {
		login_page_answer(q, 401, s->next, s->email,
		    "Adresse électronique inconnue ou mot de passe incorrect.");
		return;
	}
	req_problem(q, 401, "login-failed", "Login failed", "unknown e-mail or wrong password", NULL);
}

static void
on_password_checked(void *arg, int ok)
{
	struct req *q = arg;
	struct login_state *s = q->state;

	if (!ok || s->user_id == 0) {
		const char *values[2] = { s->email, s->addr };
		req_query(q, "login_failed", 2, values, NULL, on_failure_recorded);
		return;
	}
	unsigned char digest[32];
	if (auth_token_new(q->s1) != 0) {
		req_problem(q, 500, "internal", "Internal error", "no randomness", NULL);
		return;
	}
	auth_sha256(q->s1, strlen(q->s1), digest);
	char uid[24], hours[16];
	snprintf(uid, sizeof uid, "%lld", (long long)s->user_id);
	snprintf(hours, sizeof hours, "%d", q->app->cfg->session_hours);
	const char *values[4] = { (const char *)digest, uid, hours, s->addr };
	int lengths[4] = { 32, -1, -1, -1 };
	req_query(q, "session_create", 4, values, lengths, on_session_created);
}

static void
on_login_lookup(struct req *q, PGresult *res)
{
	struct login_state *s = q->state;
	const char *stored = NULL;

	if (!api_result_ok(q, res))
		return;
	int wait = atoi(PQgetvalue(res, 0, 2));
	if (wait > 0) {
		/* Throttled before any hashing: guessing costs the guesser time. */
		char secs[16];
		snprintf(secs, sizeof secs, "%d", wait);
		req_header(q, "Retry-After", secs);
		if (s->next != NULL) {
			char msg[128];
			snprintf(msg, sizeof msg, "Trop de tentatives de connexion : "
			    "réessayez dans %d secondes.", wait);
			login_page_answer(q, 429, s->next, s->email, msg);
			return;
		}
		req_problem(q, 429, "too-many-logins", "Too many failed logins",
		    "too many failed attempts for this account or address; try again later", NULL);
		return;
	}
	if (!PQgetisnull(res, 0, 1)) {
		s->user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		stored = PQgetvalue(res, 0, 1);
	}
	/* An unknown account still costs one full hash (no timing oracle). */
	if (hashpool_verify(q->app->hp, s->password, strlen(s->password), stored,
	    on_password_checked, q) != 0)
		req_unavailable(q, "too many logins in progress");
}

static void
h_login(struct req *q)
{
	const char *ct = req_in_header(q, "Content-Type");
	struct evkeyvalq kv;

	if (req_csrf_check(q, REQ_CSRF_LOGIN) != 0)
		return;
	if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
		req_problem(q, 415, "unsupported-media-type", "Unsupported media type",
		    "send email and password as application/x-www-form-urlencoded", NULL);
		return;
	}
	if (q->body_len > 4096) {
		req_problem(q, 413, "too-large", "Content too large", "login form too large", NULL);
		return;
	}
	char *form = xstrndup(q->body, q->body_len);
	if (evhttp_parse_query_str(form, &kv) != 0) {
		free(form);
		req_problem(q, 400, "bad-request", "Malformed form", "cannot decode the form", NULL);
		return;
	}
	free(form);
	const char *email = evhttp_find_header(&kv, "email");
	const char *password = evhttp_find_header(&kv, "password");
	if (email == NULL || password == NULL || *email == '\0' || *password == '\0' ||
	    strlen(email) > 320 || strlen(password) > 1024 ||
	    !utf8_valid(email, strlen(email)) || !utf8_valid(password, strlen(password))) {
		evhttp_clear_headers(&kv);
		req_problem(q, 400, "bad-request", "Malformed form",
		    "the form needs non-empty email and password fields", NULL);
		return;
	}
	/* The HTML form names where to go next: only a path on this server,
	 * never another site (an open redirect). */
	const char *next = evhttp_find_header(&kv, "next");
	if (next != NULL && !websec_local_path(next)) {
		evhttp_clear_headers(&kv);
		req_problem(q, 400, "bad-request", "Malformed form",
		    "next must be a path on this server", NULL);
		return;
	}
	struct login_state *s = xcalloc(1, sizeof *s);
	s->email = xstrdup(email);
	s->password = xstrdup(password);
	s->next = next != NULL ? xstrdup(next) : NULL;
	evhttp_clear_headers(&kv);
	q->state = s;
	q->free_state = free_login;
	struct evhttp_connection *c = evhttp_request_get_connection(q->r);
	char *host = NULL;
	ev_uint16_t port;
	const char *xff = NULL;
	if (c != NULL)
		evhttp_connection_get_peer(c, &host, &port);
	/* The last X-Forwarded-For header is the one the proxy added. */
	for (struct evkeyval *h = TAILQ_FIRST(evhttp_request_get_input_headers(q->r)); h != NULL;
	     h = TAILQ_NEXT(h, next))
		if (strcasecmp(h->key, "X-Forwarded-For") == 0)
			xff = h->value;
	websec_client_addr(host, xff, q->app->cfg->trusted_proxies, s->addr, sizeof s->addr);
	const char *values[2] = { s->email, s->addr };
	req_query(q, "login_lookup", 2, values, NULL, on_login_lookup);
}

/* The session is over: clear the cookie; the form gets the login page. */
static void
logged_out(struct req *q)
{
	req_set_cookie(q, WEBSEC_SESSION_COOKIE, "", 0);
	if (q->n1)
		req_redirect(q, "/login");
	else
		req_reply(q, 204, NULL, NULL, 0);
}

static void
on_logout(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	logged_out(q);
}

/* End the session of the request's cookie; `form`: answer 303 to the
 * login page instead of 204. A malformed cookie names no session, but is
 * cleared all the same. */
static void
end_session(struct req *q, int form)
{
	unsigned char digest[32];

	q->n1 = form;
	if (q->session[0] == '\0') {
		logged_out(q);
		return;
	}
	auth_sha256(q->session, strlen(q->session), digest);
	const char *values[1] = { (const char *)digest };
	int lengths[1] = { 32 };
	req_query(q, "session_delete", 1, values, lengths, on_logout);
}

static void
h_logout(struct req *q)
{
	size_t len;

	if (req_csrf_check(q, REQ_CSRF_SESSION) != 0)
		return;
	if (websec_cookie(req_in_header(q, "Cookie"), WEBSEC_SESSION_COOKIE, &len) == NULL) {
		req_problem(q, 400, "bad-request", "No session", "log out needs the session cookie", NULL);
		return;
	}
	end_session(q, 0);
}

/* The sign-out form of the pages: always needs the session's token (a
 * forged sign-out is a nuisance, and the form always has it). Without a
 * session there is nothing to end: back to the login page. */
static void
h_logout_form(struct req *q)
{
	if (q->session[0] != '\0' && req_csrf_check(q, REQ_CSRF_TOKEN) != 0)
		return;
	end_session(q, 1);
}

static void
on_me(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	const char *j = PQgetvalue(res, 0, 0);
	req_json(q, 200, j, strlen(j));
}

static void
h_me(struct req *q)
{
	/* The session's CSRF token for scripts of a cookie session; null for
	 * a Bearer token, which needs none. */
	const char *values[2] = { q->who.user_id_text, q->csrf[0] != '\0' ? q->csrf : NULL };
	req_query(q, "me", 2, values, NULL, on_me);
}

/* ---- calls ---- */

static void
on_call_created(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	if (strcmp(PQgetvalue(res, 0, 0), "409") == 0) {
		req_problem(q, 409, "call-exists", "Call exists",
		    "a call with this ref already exists", NULL);
		return;
	}
	char loc[384];
	snprintf(loc, sizeof loc, "/api/v1/calls/%s", q->s1);
	req_header(q, "Location", loc);
	struct sbuf b = {0};
	sbuf_adds(&b, "{\"ref\":");
	json_add_str(&b, q->s1);
	sbuf_adds(&b, "}");
	req_json(q, 201, b.data, b.len);
	sbuf_free(&b);
}

static void
h_call_create(struct req *q)
{
	enum form_kind kind;
	xmlDocPtr doc = api_parse_body(q, &kind, FORM_CALL, FORM_UNKNOWN);
	struct form_errors *errs;
	struct call_doc *c;

	if (doc == NULL)
		return;
	c = xcalloc(1, sizeof *c);
	errs = xcalloc(1, sizeof *errs);
	int rc = form_call_extract(doc, c, errs);
	xmlFreeDoc(doc);
	if (rc != 0) {
		req_problem(q, 422, "rule-violation", "The call breaks a rule",
		    "the call is valid XML but breaks a rule of the call grammar", errs);
		free(errs);
		free(c);
		return;
	}
	free(errs);
	struct sbuf crit = {0}, tgt = {0};
	sbuf_addc(&crit, '[');
	for (int i = 0; i < c->n_criteria; i++) {
		sbuf_adds(&crit, i ? ",{\"code\":" : "{\"code\":");
		json_add_str(&crit, c->criteria[i].code);
		sbuf_printf(&crit, ",\"weight\":%d,\"scaleMax\":%d,\"label\":",
		    c->criteria[i].weight, c->criteria[i].scale_max);
		json_add_str(&crit, c->criteria[i].label);
		sbuf_addc(&crit, '}');
	}
	sbuf_addc(&crit, ']');
	sbuf_addc(&tgt, '[');
	for (int i = 0; i < c->n_targets; i++) {
		sbuf_adds(&tgt, i ? ",{\"metric\":" : "{\"metric\":");
		json_add_str(&tgt, target_metric_name(c->targets[i].metric));
		sbuf_printf(&tgt, ",\"min\":%d}", c->targets[i].min_tenths);
	}
	sbuf_addc(&tgt, ']');
	char budget[32], maxreq[32], rpa[16], mlpr[16], thr[16], mfs[16];
	snprintf(budget, sizeof budget, "%lld", (long long)c->budget_cents);
	snprintf(maxreq, sizeof maxreq, "%lld", (long long)c->max_request_cents);
	snprintf(rpa, sizeof rpa, "%d", c->reviewers_per_application);
	snprintf(mlpr, sizeof mlpr, "%d", c->max_load_per_reviewer);
	snprintf(thr, sizeof thr, "%d", c->threshold_tenths);
	snprintf(mfs, sizeof mfs, "%d", c->max_funding_share_tenths);
	snprintf(q->s1, sizeof q->s1, "%s", c->ref);
	const char *values[16] = {
		q->who.user_id_text, c->ref, c->kind == CALL_PROJECT ? "project" : "label",
		c->title, c->opens_at, c->closes_at, c->has_budget ? budget : NULL,
		c->has_max_request ? maxreq : NULL, rpa, mlpr, thr,
		c->has_max_funding_share ? mfs : NULL, c->rank_calibrated ? "calibrated" : "raw",
		q->body, crit.data, tgt.data,
	};
	int lengths[16];
	for (int i = 0; i < 16; i++)
		lengths[i] = -1;
	lengths[13] = (int)q->body_len;
	req_query(q, "call_create", 16, values, lengths, on_call_created);
	sbuf_free(&crit);
	sbuf_free(&tgt);
	free(c);
}

void
api_json_row(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	if (PQntuples(res) == 0) {
		api_not_found(q, "no such resource");
		return;
	}
	const char *j = PQgetvalue(res, 0, 0);
	req_json(q, 200, j, strlen(j));
}

static void
h_call_list(struct req *q)
{
	req_query(q, "call_list", 0, NULL, NULL, api_json_row);
}

static void
h_call_get(struct req *q)
{
	const char *values[1] = { q->param[0] };
	req_query(q, "call_get", 1, values, NULL, api_json_row);
}

void
api_call_json(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		api_not_found(q, "no such call");
		return;
	}
	const char *j = PQgetvalue(res, 0, 1);
	req_json(q, 200, j, strlen(j));
}

static void
h_call_applications(struct req *q)
{
	const char *values[1] = { q->param[0] };
	req_query(q, "call_applications", 1, values, NULL, api_call_json);
}

/* ---- applications ---- */

static const char *
app_root_name(const struct app_doc *a)
{
	return form_kind_root(a->kind == CALL_LABEL ? FORM_LABEL_APPLICATION : FORM_PROJECT_APPLICATION);
}

/* A submission in progress: the parsed facts and the body digest. */
struct submit_state {
	struct app_doc app;
	char sha[65];
	char key[256];
	int has_key;
	int amend;
};

static void
fill_call_rules(PGresult *res, struct call_rules *r)
{
	memset(r, 0, sizeof *r);
	r->kind = strcmp(PQgetvalue(res, 0, 1), "label") == 0 ? CALL_LABEL : CALL_PROJECT;
	if (!PQgetisnull(res, 0, 2)) {
		r->has_max_request = 1;
		r->max_request_cents = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	}
	if (!PQgetisnull(res, 0, 3)) {
		r->has_max_funding_share = 1;
		r->max_funding_share_tenths = atoi(PQgetvalue(res, 0, 3));
	}
	char *list = xstrdup(PQgetvalue(res, 0, 6)), *save = NULL;
	for (char *t = strtok_r(list, ",", &save); t && r->n_targets < 5; t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		for (int m = 0; m < TARGET_METRIC_COUNT; m++)
			if (strcmp(target_metric_name((enum target_metric)m), t) == 0) {
				r->targets[r->n_targets].metric = (enum target_metric)m;
				r->targets[r->n_targets].min_tenths = atoi(eq + 1);
				r->n_targets++;
			}
	}
	free(list);
}

static void
on_submitted(struct req *q, PGresult *res)
{
	struct submit_state *s = q->state;

	if (!api_result_ok(q, res))
		return;
	static const struct status_problem map[] = {
		{ 409, "call-closed", "call-closed", "Call closed",
		  "the call is not open for applications at this time" },
		{ 409, "idempotency-key-reused", "idempotency-key-reused", "Idempotency key reused",
		  "this Idempotency-Key was used with a different body" },
		{ 409, NULL, "not-amendable", "Application cannot be amended",
		  "the application's state no longer allows amendments" },
		{ 404, NULL, "not-found", "Not found", "no such application" },
	};
	int status = atoi(PQgetvalue(res, 0, 0));
	const char *code = PQgetvalue(res, 0, 1);
	if (api_answer_status(q, status, code, map, ARRAY_LEN(map)))
		return;
	const char *tracking = PQgetvalue(res, 0, 2);
	int version = atoi(PQgetvalue(res, 0, 3));
	const char *received = PQgetvalue(res, 0, 4);
	struct sbuf x = {0};
	if (receipt_xml(q->app->key, tracking, version, received, s->sha, &x) != 0) {
		req_problem(q, 500, "internal", "Internal error",
		    "the application was stored but its receipt could not be signed; "
		    "fetch it again from /receipt", NULL);
		sbuf_free(&x);
		return;
	}
	char loc[128];
	snprintf(loc, sizeof loc, "/api/v1/applications/%s", tracking);
	req_header(q, "Location", loc);
	if (strcmp(code, "replay") == 0)
		req_header(q, "Idempotent-Replayed", "true");
	req_reply(q, status, "application/xml", x.data, x.len);
	sbuf_free(&x);
}

static void
on_rules(struct req *q, PGresult *res)
{
	struct submit_state *s = q->state;
	struct call_rules rules;
	struct form_errors *errs;

	if (!api_result_ok(q, res))
		return;
	if (PQntuples(res) == 0) {
		api_not_found(q, s->amend ? "no such application" : "no such call");
		return;
	}
	fill_call_rules(res, &rules);
	const char *call_id = PQgetvalue(res, 0, 0);
	time_t now = time(NULL);
	long long opens = atoll(PQgetvalue(res, 0, 4)), closes = atoll(PQgetvalue(res, 0, 5));
	/* A retry carrying an Idempotency-Key may come after closing time and
	 * still deserves its first receipt: gen_submit decides for those. */
	if (!s->has_key && (now < opens || now >= closes)) {
		req_problem(q, 409, "call-closed", "Call closed",
		    "the call is not open for applications at this time", NULL);
		return;
	}
	errs = xcalloc(1, sizeof *errs);
	if (s->amend && strcmp(s->app.call_ref, PQgetvalue(res, 0, 7)) != 0) {
		char path[64];
		snprintf(path, sizeof path, "/%s/@call", app_root_name(&s->app));
		form_errors_add(errs, s->app.root_line, s->app.root_column, path,
		    "the document names call %s but the application belongs to call %s",
		    s->app.call_ref, PQgetvalue(res, 0, 7));
	}
	form_app_check(&s->app, &rules, errs);
	if (strcmp(s->app.siret, q->who.siret) != 0)
		form_errors_add(errs, s->app.siret_line, s->app.siret_column,
		    "/organisation/@siret",
		    "SIRET %s is not your organisation's (%s)", s->app.siret, q->who.siret);
	if (errs->count > 0) {
		req_problem(q, 422, "rule-violation", "The application breaks a rule",
		    "the document is valid but breaks the rules of the call", errs);
		free(errs);
		return;
	}
	free(errs);
	char requested[32];
	snprintf(requested, sizeof requested, "%lld", (long long)s->app.requested_cents);
	const char *values[12] = {
		q->who.user_id_text, call_id, s->amend ? q->param[0] : NULL, s->app.siret,
		s->app.org_name, s->app.region, s->app.title, s->app.family,
		s->app.kind == CALL_PROJECT ? requested : NULL, q->body, s->sha,
		s->has_key ? s->key : NULL,
	};
	int lengths[12];
	for (int i = 0; i < 12; i++)
		lengths[i] = -1;
	lengths[9] = (int)q->body_len;
	req_query(q, "submit", 12, values, lengths, on_submitted);
}

/* Shared by submission (POST to a call) and amendment (PUT). */
static void
submit_common(struct req *q, int amend)
{
	enum form_kind kind;
	const char *key = req_in_header(q, "Idempotency-Key");

	if (key != NULL) {
		size_t n = strlen(key);
		int ok = n >= 1 && n <= 255;
		for (size_t i = 0; ok && i < n; i++)
			ok = key[i] > 0x20 && key[i] < 0x7f;
		if (!ok) {
			req_problem(q, 400, "bad-idempotency-key", "Bad Idempotency-Key",
			    "the key must be 1 to 255 visible ASCII characters", NULL);
			return;
		}
	}
	xmlDocPtr doc = api_parse_body(q, &kind, FORM_PROJECT_APPLICATION, FORM_LABEL_APPLICATION);
	if (doc == NULL)
		return;
	struct submit_state *s = xcalloc(1, sizeof *s);
	q->state = s;
	q->free_state = free;
	s->amend = amend;
	form_app_extract(doc, kind, &s->app);
	xmlFreeDoc(doc);
	if (key != NULL) {
		s->has_key = 1;
		snprintf(s->key, sizeof s->key, "%s", key);
	}
	auth_sha256_hex(q->body, q->body_len, s->sha);
	struct form_errors *errs = xcalloc(1, sizeof *errs);
	if (!amend && api_check_call(errs, app_root_name(&s->app), s->app.root_line, s->app.root_column,
	    s->app.call_ref, q->param[0]) != 0) {
		req_problem(q, 422, "rule-violation", "The application breaks a rule",
		    "the document's call does not match the URL", errs);
		free(errs);
		return;
	}
	free(errs);
	if (amend) {
		const char *values[2] = { q->param[0], q->who.siret };
		req_query(q, "amend_rules", 2, values, NULL, on_rules);
	} else {
		const char *values[1] = { q->param[0] };
		req_query(q, "call_rules", 1, values, NULL, on_rules);
	}
}

static void
h_app_submit(struct req *q)
{
	submit_common(q, 0);
}

static void
h_app_amend(struct req *q)
{
	submit_common(q, 1);
}

/* May the caller see the receipt of an application of organisation
 * `siret`? Providers see their organisation's, staff everything. (Who sees
 * an application itself is decided by gen_application_view.) */
static int
may_see(struct req *q, const char *siret)
{
	if (q->who.role == ROLE_STAFF)
		return 1;
	if (q->who.role == ROLE_PROVIDER)
		return strcmp(siret, q->who.siret) == 0;
	return 0;
}

static void
on_app_get(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
		api_not_found(q, "no such application");
		return;
	}
	if (q->n1) {
		size_t n = (size_t)PQgetlength(res, 0, 0) / 2;
		unsigned char *body = xmalloc(n + 1);
		hex_decode(PQgetvalue(res, 0, 0), n, body);
		req_reply(q, 200, "application/xml", (const char *)body, n);
		free(body);
		return;
	}
	const char *j = PQgetvalue(res, 0, 0);
	req_json(q, 200, j, strlen(j));
}

/* Does the Accept header prefer XML? */
static int
wants_xml(struct req *q)
{
	const char *a = req_in_header(q, "Accept");

	return a != NULL && (strstr(a, "application/xml") != NULL || strstr(a, "text/xml") != NULL) &&
	    strstr(a, "application/json") == NULL;
}

static void
h_app_get(struct req *q)
{
	const char *values[2] = { q->param[0], q->who.user_id_text };

	q->n1 = wants_xml(q);
	req_query(q, q->n1 ? "app_get_xml" : "app_get", 2, values, NULL, on_app_get);
}

static void
on_receipt(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	if (PQntuples(res) == 0 || !may_see(q, PQgetvalue(res, 0, 4))) {
		api_not_found(q, "no such application");
		return;
	}
	struct sbuf x = {0};
	if (receipt_xml(q->app->key, PQgetvalue(res, 0, 0), atoi(PQgetvalue(res, 0, 1)),
	    PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3), &x) != 0) {
		sbuf_free(&x);
		req_problem(q, 500, "internal", "Internal error", "cannot sign the receipt", NULL);
		return;
	}
	req_reply(q, 200, "application/xml", x.data, x.len);
	sbuf_free(&x);
}

static void
h_app_receipt(struct req *q)
{
	const char *values[1] = { q->param[0] };
	req_query(q, "app_receipt", 1, values, NULL, on_receipt);
}

static void
on_withdrawn(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	static const struct status_problem map[] = {
		{ 404, NULL, "not-found", "Not found", "no such application" },
		{ 409, NULL, "not-withdrawable", "Cannot withdraw", "the application is already withdrawn or decided" },
	};
	if (api_answer_status(q, atoi(PQgetvalue(res, 0, 0)), NULL, map, ARRAY_LEN(map)))
		return;
	char json[128];
	int n = snprintf(json, sizeof json, "{\"tracking\":\"%s\",\"state\":\"withdrawn\"}", q->param[0]);
	req_json(q, 200, json, (size_t)n);
}

static void
h_app_withdraw(struct req *q)
{
	char reason[1001] = "";

	/* An optional plain-text reason, UTF-8, up to 1000 bytes. */
	if (q->body_len >= sizeof reason || !utf8_valid(q->body, q->body_len)) {
		req_problem(q, 422, "bad-reason", "Unusable reason",
		    "the reason must be UTF-8 text of at most 1000 bytes", NULL);
		return;
	}
	memcpy(reason, q->body, q->body_len);
	reason[q->body_len] = '\0';
	const char *values[3] = { q->who.user_id_text, q->param[0], reason };
	req_query(q, "app_withdraw", 3, values, NULL, on_withdrawn);
}

/* ---- staff ---- */

static void
on_audit_verify(struct req *q, PGresult *res)
{
	if (!api_result_ok(q, res))
		return;
	struct sbuf b = {0};
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		sbuf_printf(&b, "{\"ok\":true,\"entries\":%s}", PQgetvalue(res, 0, 1));
	} else {
		sbuf_printf(&b, "{\"ok\":false,\"entries\":%s,\"brokenAt\":%s,\"problem\":",
		    PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
		json_add_str(&b, PQgetvalue(res, 0, 3));
		sbuf_addc(&b, '}');
	}
	req_json(q, 200, b.data, b.len);
	sbuf_free(&b);
}

static void
h_audit_verify(struct req *q)
{
	req_query(q, "audit_verify", 0, NULL, NULL, on_audit_verify);
}

static void
h_job_get(struct req *q)
{
	int64_t id;

	if (parse_int64(q->param[0], 1, INT64_MAX, &id) != 0) {
		api_not_found(q, "no such job");
		return;
	}
	const char *values[1] = { q->param[0] };
	req_query(q, "job_get", 1, values, NULL, api_json_row);
}

/* ---- the table ---- */

const struct route routes[] = {
	{ EVHTTP_REQ_GET, "/healthz", 0, h_healthz, "healthz" },
	{ EVHTTP_REQ_GET, "/metrics", 0, h_metrics, "metrics" },
	{ EVHTTP_REQ_GET, "/forms/{}", 0, h_form_schema, "forms" },
	{ EVHTTP_REQ_GET, "/.well-known/gen-receipt-key.pem", 0, h_receipt_key, "receipt_key" },
	{ EVHTTP_REQ_POST, "/api/v1/session", 0, h_login, "login" },
	{ EVHTTP_REQ_DELETE, "/api/v1/session", 0, h_logout, "logout" },
	{ EVHTTP_REQ_GET, "/login", 0, h_login_page, "login_page" },
	{ EVHTTP_REQ_POST, "/logout", 0, h_logout_form, "logout_form" },
	{ EVHTTP_REQ_GET, "/api/v1/me", ROLE_ANY, h_me, "me" },
	{ EVHTTP_REQ_POST, "/api/v1/calls", ROLE_STAFF, h_call_create, "call_create" },
	{ EVHTTP_REQ_GET, "/api/v1/calls", 0, h_call_list, "call_list" },
	{ EVHTTP_REQ_GET, "/api/v1/calls/{}", 0, h_call_get, "call_get" },
	{ EVHTTP_REQ_POST, "/api/v1/calls/{}/applications", ROLE_PROVIDER, h_app_submit, "app_submit" },
	{ EVHTTP_REQ_GET, "/api/v1/calls/{}/applications", ROLE_STAFF, h_call_applications, "call_applications" },
	{ EVHTTP_REQ_PUT, "/api/v1/applications/{}", ROLE_PROVIDER, h_app_amend, "app_amend" },
	{ EVHTTP_REQ_GET, "/api/v1/applications/{}", ROLE_ANY, h_app_get, "app_get" },
	{ EVHTTP_REQ_GET, "/api/v1/applications/{}/receipt", ROLE_PROVIDER | ROLE_STAFF, h_app_receipt, "app_receipt" },
	{ EVHTTP_REQ_POST, "/api/v1/applications/{}/withdraw", ROLE_PROVIDER, h_app_withdraw, "app_withdraw" },
	{ EVHTTP_REQ_GET, "/api/v1/audit/verify", ROLE_STAFF, h_audit_verify, "audit_verify" },
	{ EVHTTP_REQ_POST, "/api/v1/reviewers", ROLE_STAFF, h_reviewer_upsert, "reviewer_upsert" },
	{ EVHTTP_REQ_PUT, "/api/v1/calls/{}/panel", ROLE_STAFF, h_panel_put, "panel_put" },
	{ EVHTTP_REQ_GET, "/api/v1/calls/{}/panel", ROLE_STAFF, h_panel_get, "panel_get" },
	{ EVHTTP_REQ_POST, "/api/v1/conflicts", ROLE_REVIEWER | ROLE_STAFF, h_conflict_post, "conflict_post" },
	{ EVHTTP_REQ_POST, "/api/v1/calls/{}/assignment", ROLE_STAFF, h_assignment_request, "assignment_request" },
	{ EVHTTP_REQ_GET, "/api/v1/calls/{}/assignments", ROLE_STAFF, h_assignments_get, "assignments_get" },
	{ EVHTTP_REQ_GET, "/api/v1/calls/{}/assignments/explain", ROLE_STAFF, h_assignment_explain, "assignment_explain" },
	{ EVHTTP_REQ_POST, "/api/v1/calls/{}/extra-reviewer", ROLE_STAFF, h_extra_reviewer, "extra_reviewer" },
	{ EVHTTP_REQ_POST, "/api/v1/assignment-runs/{}/undo", ROLE_STAFF, h_assignment_undo, "assignment_undo" },
	{ EVHTTP_REQ_GET, "/api/v1/reviews", ROLE_REVIEWER, h_reviews_mine, "reviews_mine" },
	{ EVHTTP_REQ_GET, "/api/v1/reviews/{}", ROLE_REVIEWER | ROLE_STAFF, h_review_get, "review_get" },
	{ EVHTTP_REQ_PUT, "/api/v1/reviews/{}", ROLE_REVIEWER, h_review_put, "review_put" },
	{ EVHTTP_REQ_POST, "/api/v1/reviews/{}/decline", ROLE_REVIEWER, h_review_decline, "review_decline" },
	{ EVHTTP_REQ_GET, "/api/v1/calls/{}/ranking", ROLE_STAFF, h_ranking, "ranking" },
	{ EVHTTP_REQ_POST, "/api/v1/calls/{}/decisions", ROLE_STAFF, h_decisions, "decisions" },
	{ EVHTTP_REQ_PUT, "/api/v1/programmes/{}/cohorts/{}", ROLE_PROVIDER, h_cohort_put, "cohort_put" },
	{ EVHTTP_REQ_GET, "/api/v1/dashboard/outcomes", ROLE_STAFF, h_outcomes, "outcomes" },
	{ EVHTTP_REQ_GET, "/api/v1/dashboard/alerts", ROLE_STAFF, h_alerts, "alerts" },
	{ EVHTTP_REQ_GET, "/dashboard", ROLE_STAFF, h_dashboard, "dashboard" },
	{ EVHTTP_REQ_GET, "/api/v1/jobs/{}", ROLE_STAFF, h_job_get, "job_get" },
};
const int route_count = (int)ARRAY_LEN(routes);
