/* web.c - the request layer: framing checks, routing, identity, replies,
 * problem documents and per-route metrics. Handlers live in api.c. */
#include "app.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>

#include "auth.h"
#include "db.h"
#include "framing.h"
#include "html.h"
#include "websec.h"

#define PROBLEM_BASE "/problems/"

static const double bucket_le[METRIC_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5
};

static void
count_request(struct req *q, int status)
{
	struct route_metrics *m = &q->app->metrics[q->route_index];
	double secs = (double)(now_usec() - q->start_us) / 1e6;
	int cls = status / 100;

	if (cls >= 1 && cls <= 5)
		m->by_status[cls]++;
	m->count++;
	m->sum_seconds += secs;
	for (int i = 0; i < METRIC_BUCKETS; i++)
		if (secs <= bucket_le[i])
			m->latency[i]++;
}

static void
req_free(struct req *q)
{
	if (q->free_state != NULL && q->state != NULL)
		q->free_state(q->state);
	q->app->inflight--;
	free(q);
}

void
req_header(struct req *q, const char *name, const char *value)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(q->r);

	evhttp_remove_header(h, name);
	evhttp_add_header(h, name, value);
}

const char *
req_in_header(struct req *q, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(q->r), name);
}

int
app_tls(const struct app *app)
{
	const struct gen_config *c = app->cfg;

	return c->tls_cert != NULL && c->tls_cert[0] != '\0' && c->tls_key != NULL && c->tls_key[0] != '\0';
}

void
req_set_cookie(struct req *q, const char *name, const char *value, int max_age)
{
	struct sbuf b = {0};

	websec_set_cookie(&b, name, value, max_age, app_tls(q->app));
	/* Appended, not replaced: one answer may set two cookies. */
	evhttp_add_header(evhttp_request_get_output_headers(q->r), "Set-Cookie", b.data);
	sbuf_free(&b);
}

int
req_cookie_token(struct req *q, const char *name, char out[WEBSEC_TOKEN_LEN + 1])
{
	size_t len = 0;
	const char *v = websec_cookie(req_in_header(q, "Cookie"), name, &len);

	out[0] = '\0';
	if (!websec_token_wellformed(v, len))
		return 0;
	memcpy(out, v, len);
	out[len] = '\0';
	return 1;
}

char *
req_query_param(struct req *q, const char *name)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(q->r);
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq kv;
	char *out = NULL;

	if (query == NULL || evhttp_parse_query_str(query, &kv) != 0)
		return NULL;
	const char *v = evhttp_find_header(&kv, name);
	if (v != NULL)
		out = xstrdup(v);
	evhttp_clear_headers(&kv);
	return out;
}

static const char *
reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 303: return "See Other";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Status";
	}
}

static void
on_reply_written(struct evhttp_request *r, void *arg)
{
	struct app *app = arg;

	app->unflushed--;
	framing_answered(evhttp_connection_get_bufferevent(evhttp_request_get_connection(r)));
}

void
req_reply(struct req *q, int status, const char *content_type,
    const char *body, size_t len)
{
	struct evbuffer *buf = evbuffer_new();

	if (content_type != NULL)
		req_header(q, "Content-Type", content_type);
	req_header(q, "X-Content-Type-Options", "nosniff");
	/* Secure defaults for every answer; a page sets its own policy first. */
	struct evkeyvalq *out = evhttp_request_get_output_headers(q->r);
	if (evhttp_find_header(out, "Content-Security-Policy") == NULL)
		evhttp_add_header(out, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
	if (evhttp_find_header(out, "Referrer-Policy") == NULL)
		evhttp_add_header(out, "Referrer-Policy", "no-referrer");
	char hsts[64];
	if (websec_hsts(app_tls(q->app), q->app->cfg->hsts_seconds, hsts, sizeof hsts))
		req_header(q, "Strict-Transport-Security", hsts);
	req_header(q, "Cache-Control", "no-store");
	req_header(q, "X-Request-Id", q->req_id);
	if (q->app->draining)
		req_header(q, "Connection", "close");
	/* evhttp 2.1.12 sends a reply's body to HEAD too, and then no
	 * Content-Length: the client would read the body as the next
	 * response. So HEAD gets no body, and the length GET would have. */
	if (evhttp_request_get_command(q->r) == EVHTTP_REQ_HEAD) {
		char n[24];
		snprintf(n, sizeof n, "%zu", body != NULL ? len : (size_t)0);
		req_header(q, "Content-Length", n);
	} else if (body != NULL && len > 0) {
		evbuffer_add(buf, body, len);
	}
	count_request(q, status);
	if (status >= 500)
		fprintf(stderr, "event=request id=%s route=%s status=%d us=%lld\n",
		    q->req_id, q->route ? q->route->name : "-", status,
		    (long long)(now_usec() - q->start_us));
	/* Shutdown waits until replies are written, not only produced. */
	struct evhttp_connection *evcon = evhttp_request_get_connection(q->r);
	if (evcon != NULL) {
		q->app->unflushed++;
		evhttp_request_set_on_complete_cb(q->r, on_reply_written, q->app);
	}
	evhttp_send_reply(q->r, status, reason_phrase(status), buf);
	/* The reply went into the framing filter while evhttp had writing
	 * disabled; libevent 2.1's filter does not resume on enable, so push
	 * it through now. */
	if (evcon != NULL)
		bufferevent_flush(evhttp_connection_get_bufferevent(evcon), EV_WRITE, BEV_NORMAL);
	evbuffer_free(buf);
	req_free(q);
}

void
req_html(struct req *q, int status, const char *html, size_t len)
{
	req_header(q, "Content-Security-Policy", HTML_PAGE_CSP);
	/* Not no-referrer: under that policy a browser sends "Origin: null"
	 * with the page's own form posts, which the CSRF rule must refuse.
	 * same-origin still gives other sites nothing. */
	req_header(q, "Referrer-Policy", "same-origin");
	req_reply(q, status, "text/html; charset=utf-8", html, len);
}

void
req_redirect(struct req *q, const char *location)
{
	req_header(q, "Location", location);
	req_reply(q, 303, NULL, NULL, 0);
}

void
req_json(struct req *q, int status, const char *json, size_t len)
{
	req_reply(q, status, "application/json", json, len);
}

void
req_problem(struct req *q, int status, const char *type, const char *title,
    const char *detail, const struct form_errors *errs)
{
	struct sbuf b = {0};

	sbuf_adds(&b, "{\"type\":");
	{
		struct sbuf t = {0};
		sbuf_printf(&t, PROBLEM_BASE "%s", type);
		json_add_str(&b, t.data);
		sbuf_free(&t);
	}
	sbuf_adds(&b, ",\"title\":");
	json_add_str(&b, title);
	sbuf_printf(&b, ",\"status\":%d,\"detail\":", status);
	json_add_str(&b, detail ? detail : title);
	if (errs != NULL) {
		sbuf_adds(&b, ",\"errors\":[");
		for (int i = 0; i < errs->count; i++) {
			const struct form_error *e = &errs->items[i];
			if (i)
				sbuf_addc(&b, ',');
			sbuf_printf(&b, "{\"line\":%d,\"column\":%d,\"path\":", e->line, e->column);
			json_add_str(&b, e->path);
			sbuf_adds(&b, ",\"message\":");
			json_add_str(&b, e->message);
			sbuf_addc(&b, '}');
		}
		sbuf_adds(&b, "]");
		if (errs->dropped)
			sbuf_printf(&b, ",\"errorsNotShown\":%d", errs->dropped);
	}
	sbuf_adds(&b, ",\"instance\":");
	json_add_str(&b, q->req_id);
	sbuf_addc(&b, '}');
	req_reply(q, status, "application/problem+json", b.data, b.len);
	sbuf_free(&b);
}

void
req_unavailable(struct req *q, const char *why)
{
	req_header(q, "Retry-After", "1");
	req_problem(q, 503, "unavailable", "Service temporarily unavailable", why, NULL);
}

/* ---- database calls tied to a request ---- */

struct pending_query {
	struct req *q;
	req_db_fn next;
};

static void
on_query_done(void *arg, PGresult *res, const char *errmsg)
{
	struct pending_query *pq = arg;
	struct req *q = pq->q;
	req_db_fn next = pq->next;

	free(pq);
	if (res == NULL) {
		req_unavailable(q, errmsg ? errmsg : "database unavailable");
		return;
	}
	if (PQresultStatus(res) == PGRES_FATAL_ERROR && db_sqlstate_transient(db_sqlstate(res))) {
		req_unavailable(q, "database unavailable");
		return;
	}
	next(q, res);
}

void
req_query(struct req *q, const char *stmt, int nparams,
    const char *const *values, const int *lengths, req_db_fn next)
{
	struct pending_query *pq = xmalloc(sizeof *pq);
	int formats[16];

	pq->q = q;
	pq->next = next;
	for (int i = 0; i < nparams && i < 16; i++)
		formats[i] = lengths != NULL && lengths[i] >= 0 ? 1 : 0;
	if (db_query(q->app->db, stmt, nparams, values, lengths,
	    lengths ? formats : NULL, on_query_done, pq) != 0) {
		free(pq);
		req_unavailable(q, "database unavailable or too busy");
	}
}

/* ---- routing ---- */

/* Match path against pattern, capturing "{}" segments into q->param.
 * A captured segment must be non-empty and made of safe characters. */
static int
match(const char *pattern, const char *path, struct req *q)
{
	int n = 0;

	while (*pattern && *path) {
		if (pattern[0] == '{' && pattern[1] == '}') {
			const char *end = path;
			while (*end && *end != '/')
				end++;
			size_t len = (size_t)(end - path);
			if (len == 0 || len >= sizeof q->param[0] || n >= REQ_MAX_PARAMS)
				return 0;
			for (const char *c = path; c < end; c++)
				if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
				    (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.'))
					return 0;
			memcpy(q->param[n], path, len);
			q->param[n][len] = '\0';
			n++;
			pattern += 2;
			path = end;
			continue;
		}
		if (*pattern != *path)
			return 0;
		pattern++;
		path++;
	}
	return *pattern == '\0' && *path == '\0';
}

static const char *
method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_HEAD: return "HEAD";
	default: return "OTHER";
	}
}

/* ---- identity ---- */

/* The token of the request: "Authorization: Bearer T" or the session
 * cookie. Returns 1 with token set, 0 when none, -1 when malformed. */
static int
request_token(struct req *q, char token[AUTH_TOKEN_LEN + 1])
{
	const char *a = req_in_header(q, "Authorization");
	size_t len = 0;

	if (a == NULL) {
		if (q->session[0] != '\0') {
			memcpy(token, q->session, sizeof q->session);
			return 1;
		}
		return websec_cookie(req_in_header(q, "Cookie"), WEBSEC_SESSION_COOKIE, &len) ? -1 : 0;
	}
	if (strncasecmp(a, "Bearer ", 7) != 0 || !websec_token_wellformed(a + 7, strlen(a + 7)))
		return -1;
	memcpy(token, a + 7, AUTH_TOKEN_LEN + 1);
	return 1;
}

static enum role
role_from_text(const char *s)
{
	if (strcmp(s, "provider") == 0)
		return ROLE_PROVIDER;
	if (strcmp(s, "reviewer") == 0)
		return ROLE_REVIEWER;
	if (strcmp(s, "staff") == 0)
		return ROLE_STAFF;
	return 0;
}

static void
unauthenticated(struct req *q, const char *detail)
{
	req_header(q, "WWW-Authenticate", "Bearer realm=\"gen\"");
	req_problem(q, 401, "unauthenticated", "Authentication required", detail, NULL);
}

static void
on_identity(struct req *q, PGresult *res)
{
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		req_problem(q, 500, "internal", "Internal error", "identity lookup failed", NULL);
		return;
	}
	if (PQntuples(res) != 1) {
		unauthenticated(q, "the session or token is unknown, expired or revoked");
		return;
	}
	q->who.user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(q->who.user_id_text, sizeof q->who.user_id_text, "%s", PQgetvalue(res, 0, 0));
	q->who.role = role_from_text(PQgetvalue(res, 0, 1));
	snprintf(q->who.email, sizeof q->who.email, "%s", PQgetvalue(res, 0, 2));
	snprintf(q->who.siret, sizeof q->who.siret, "%s", PQgetvalue(res, 0, 3));
	q->has_identity = 1;
	if (!(q->route->roles & q->who.role)) {
		req_problem(q, 403, "forbidden", "Forbidden",
		    "your role may not use this route", NULL);
		return;
	}
	q->route->handler(q);
}

/* ---- cross-site request forgery (websec.h) ---- */

static const char *
csrf_detail(enum websec_verdict v, enum req_csrf rule)
{
	switch (v) {
	case WEBSEC_CROSS_SITE:
		return rule == REQ_CSRF_LOGIN ?
		    "logging in from another site is refused; use this server's login page" :
		    "the request comes from another site (Origin or Sec-Fetch-Site) and "
		    "carries no valid CSRF token";
	case WEBSEC_BAD_TOKEN:
		return rule == REQ_CSRF_LOGIN ?
		    "the login form's token does not match its cookie; reload the login page" :
		    "the CSRF token is not this session's; reload the page";
	default:
		return "a form sent with the session cookie needs the session's CSRF token "
		    "(field csrf_token or header X-CSRF-Token; GET /api/v1/me gives it as csrfToken)";
	}
}

int
req_csrf_check(struct req *q, enum req_csrf rule)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(q->r);
	char field[WEBSEC_TOKEN_LEN + 2], login_cookie[WEBSEC_TOKEN_LEN + 1];
	enum websec_verdict v;

	if (m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD)
		return 0;
	if (rule == REQ_CSRF_SESSION && q->csrf[0] == '\0')
		return 0;   /* a Bearer token or no session: nothing a browser adds */
	struct websec_request w = {
		.tls = app_tls(q->app),
		.host = req_in_header(q, "Host"),
		.origin = req_in_header(q, "Origin"),
		.fetch_site = req_in_header(q, "Sec-Fetch-Site"),
		.content_type = req_in_header(q, "Content-Type"),
		.token = req_in_header(q, WEBSEC_TOKEN_HEADER),
	};
	if (w.token == NULL && websec_urlencoded(w.content_type)) {
		int f = websec_form_field(q->body, q->body_len, WEBSEC_TOKEN_FIELD, field, sizeof field);
		if (f != 0)
			w.token = f > 0 ? field : "";   /* unreadable: a wrong token */
	}
	if (rule == REQ_CSRF_LOGIN) {
		w.expected = req_cookie_token(q, WEBSEC_LOGIN_COOKIE, login_cookie) ? login_cookie : NULL;
		v = websec_check_login(&w);
	} else {
		w.expected = q->csrf[0] != '\0' ? q->csrf : NULL;
		v = websec_check_session(&w);
		if (v == WEBSEC_OK && rule == REQ_CSRF_TOKEN)
			v = WEBSEC_NO_TOKEN;
	}
	if (v == WEBSEC_OK || v == WEBSEC_OK_TOKEN)
		return 0;
	fprintf(stderr, "event=csrf_refused id=%s route=%s reason=%s\n",
	    q->req_id, q->route ? q->route->name : "-", websec_verdict_name(v));
	req_problem(q, 403, "csrf", "Cross-site request refused", csrf_detail(v, rule), NULL);
	return -1;
}

/* ---- the generic callback ---- */

static void
on_request(struct evhttp_request *r, void *arg)
{
	struct app *app = arg;
	struct req *q = xcalloc(1, sizeof *q);
	static unsigned long long seq;

	q->r = r;
	q->app = app;
	q->start_us = now_usec();
	q->route_index = route_count; /* "unmatched" until a route matches */
	snprintf(q->req_id, sizeof q->req_id, "%06x%010llx", (unsigned)getpid() & 0xffffff, ++seq);
	app->inflight++;

	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	int fstatus;
	const char *ftitle, *fdetail;
	/* evhttp only ever reads the framing filter's canonical copy of a
	 * request (one Content-Length, no Transfer-Encoding): framing that could
	 * be read two ways was refused there and arrives as a failure. */
	if (path != NULL && framing_failure(path, &fstatus, &ftitle, &fdetail)) {
		req_header(q, "Connection", "close");
		req_problem(q, fstatus, "bad-request", ftitle, fdetail, NULL);
		return;
	}
	if (app->draining) {
		req_unavailable(q, "the server is shutting down");
		return;
	}
	if (path == NULL || path[0] != '/') {
		req_problem(q, 400, "bad-request", "Malformed request",
		    "the request target must be an absolute path", NULL);
		return;
	}
	enum evhttp_cmd_type method = evhttp_request_get_command(r);
	int path_matched = 0;
	struct sbuf allow = {0};
	for (int i = 0; i < route_count; i++) {
		if (!match(routes[i].pattern, path, q))
			continue;
		path_matched = 1;
		if (routes[i].method != method &&
		    !(method == EVHTTP_REQ_HEAD && routes[i].method == EVHTTP_REQ_GET)) {
			sbuf_printf(&allow, "%s%s", allow.len ? ", " : "", method_name(routes[i].method));
			continue;
		}
		q->route = &routes[i];
		q->route_index = i;
		break;
	}
	if (q->route == NULL) {
		if (path_matched) {
			req_header(q, "Allow", allow.data);
			sbuf_free(&allow);
			req_problem(q, 405, "method-not-allowed", "Method not allowed",
			    "this resource does not support that method", NULL);
		} else {
			sbuf_free(&allow);
			req_problem(q, 404, "not-found", "Not found", "no such resource", NULL);
		}
		return;
	}
	sbuf_free(&allow);
	struct evbuffer *in = evhttp_request_get_input_buffer(r);
	q->body_len = evbuffer_get_length(in);
	q->body = q->body_len ? (const char *)evbuffer_pullup(in, -1) : "";

	if (req_cookie_token(q, WEBSEC_SESSION_COOKIE, q->session) &&
	    req_in_header(q, "Authorization") == NULL)
		websec_session_token(q->session, strlen(q->session), q->csrf);
	if (q->route->roles == 0) {
		q->route->handler(q);
		return;
	}
	if (req_csrf_check(q, REQ_CSRF_SESSION) != 0)
		return;
	char token[AUTH_TOKEN_LEN + 1];
	int t = request_token(q, token);
	if (t == 0) {
		unauthenticated(q, "send a session cookie or an Authorization: Bearer token");
		return;
	}
	if (t < 0) {
		unauthenticated(q, "the credentials are malformed");
		return;
	}
	unsigned char digest[32];
	auth_sha256(token, strlen(token), digest);
	const char *values[1] = { (const char *)digest };
	int lengths[1] = { 32 };
	req_query(q, "identity", 1, values, lengths, on_identity);
}

void
web_install(struct app *app)
{
	evhttp_set_gencb(app->http, on_request, app);
}

/* ---- metrics ---- */

void
metrics_render(struct app *app, struct sbuf *out)
{
	struct db_pool_stats st;

	sbuf_adds(out, "# HELP gen_http_requests_total HTTP requests by route and status class.\n"
	    "# TYPE gen_http_requests_total counter\n");
	for (int i = 0; i <= route_count; i++) {
		const char *name = i < route_count ? routes[i].name : "unmatched";
		for (int c = 1; c <= 5; c++)
			if (app->metrics[i].by_status[c])
				sbuf_printf(out, "gen_http_requests_total{route=\"%s\",status=\"%dxx\"} %llu\n",
				    name, c, (unsigned long long)app->metrics[i].by_status[c]);
	}
	sbuf_adds(out, "# HELP gen_http_request_duration_seconds Request latency.\n"
	    "# TYPE gen_http_request_duration_seconds histogram\n");
	for (int i = 0; i <= route_count; i++) {
		const struct route_metrics *m = &app->metrics[i];
		const char *name = i < route_count ? routes[i].name : "unmatched";
		if (m->count == 0)
			continue;
		for (int b = 0; b < METRIC_BUCKETS; b++)
			sbuf_printf(out, "gen_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
			    name, bucket_le[b], (unsigned long long)m->latency[b]);
		sbuf_printf(out, "gen_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
		    "gen_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
		    "gen_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
		    name, (unsigned long long)m->count, name, m->sum_seconds,
		    name, (unsigned long long)m->count);
	}
	db_pool_get_stats(app->db, &st);
	sbuf_printf(out,
	    "# TYPE gen_db_connections gauge\ngen_db_connections %d\n"
	    "# TYPE gen_db_connections_ready gauge\ngen_db_connections_ready %d\n"
	    "# TYPE gen_db_queue_depth gauge\ngen_db_queue_depth %d\n"
	    "# TYPE gen_db_in_flight gauge\ngen_db_in_flight %d\n"
	    "# TYPE gen_db_queries_total counter\ngen_db_queries_total{outcome=\"completed\"} %llu\n"
	    "gen_db_queries_total{outcome=\"failed\"} %llu\ngen_db_queries_total{outcome=\"refused\"} %llu\n"
	    "# TYPE gen_db_reconnects_total counter\ngen_db_reconnects_total %llu\n"
	    "# TYPE gen_http_connections gauge\ngen_http_connections %ld\n"
	    "# TYPE gen_http_in_flight gauge\ngen_http_in_flight %d\n",
	    st.connections, st.ready, st.queued, st.in_flight,
	    (unsigned long long)st.completed, (unsigned long long)st.failed,
	    (unsigned long long)st.refused, (unsigned long long)st.reconnects,
	    framing_connections(), app->inflight);
}
