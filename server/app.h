/* app.h - the state of one server process and the request layer.
 *
 * One `struct app` per process: its event loop, HTTP front, database pool,
 * hashing threads and receipt key. Each HTTP request gets a `struct req`
 * that lives until its reply is sent: the request and the queries it issues
 * outlive each other safely because only the reply ends the request (libevent
 * frees a request whose client went away when that reply is sent). */
#ifndef GEN_APP_H
#define GEN_APP_H

#include <stdint.h>
#include <event2/event.h>
#include <event2/http.h>
#include <libpq-fe.h>
#include <openssl/ssl.h>

#include "config.h"
#include "db.h"
#include "util.h"
#include "websec.h"
#include "xmlform.h"

struct db_pool;
struct hashpool;
struct receipt_key;
struct pseudonym_key;

/** Per-process counters exported at /metrics. */
#define METRIC_BUCKETS 12
struct route_metrics {
	uint64_t by_status[6];            /* 1xx..5xx, index status/100 */
	uint64_t latency[METRIC_BUCKETS]; /* cumulative histogram buckets */
	uint64_t count;
	double sum_seconds;
};

struct app {
	const struct gen_config *cfg;
	struct event_base *base;
	struct evhttp *http;
	struct db_pool *db;
	struct hashpool *hp;
	struct receipt_key *key;
	struct pseudonym_key *pkey;
	int inflight;   /* requests accepted and not yet answered */
	int unflushed;  /* replies handed to libevent, not yet fully written */
	int draining;   /* SIGTERM received: finish in-flight, then exit */
	int64_t started_us;
	struct route_metrics *metrics; /* one per route, plus "unmatched" */
};

/** Roles as a bit mask, for route permissions. */
enum role { ROLE_PROVIDER = 1, ROLE_REVIEWER = 2, ROLE_STAFF = 4 };
#define ROLE_ANY (ROLE_PROVIDER | ROLE_REVIEWER | ROLE_STAFF)

struct identity {
	int64_t user_id;
	enum role role;
	char user_id_text[24];
	char email[321];
	char siret[15];
};

struct req;
typedef void (*handler_fn)(struct req *q);

/** A route: method, path pattern ("{}" matches one segment), who may call it
 * (0: anyone, no identity needed), the handler, and a name for metrics. */
struct route {
	enum evhttp_cmd_type method;
	const char *pattern;
	unsigned roles;
	handler_fn handler;
	const char *name;
};

#define REQ_MAX_PARAMS 4

struct req {
	struct evhttp_request *r;
	struct app *app;
	const struct route *route;
	int route_index;
	int64_t start_us;
	char param[REQ_MAX_PARAMS][160]; /* path segments matched by {} */
	struct identity who;
	int has_identity;
	const char *body;      /* request body (NUL-terminated copy) */
	size_t body_len;
	char req_id[17];
	/* Browser session (websec.h): the well-formed session cookie, or "";
	 * its CSRF token when the cookie is what authenticates (no
	 * Authorization header), or "". */
	char session[WEBSEC_TOKEN_LEN + 1];
	char csrf[WEBSEC_TOKEN_LEN + 1];
	/* Handler scratch, freed with the request. */
	void *state;
	void (*free_state)(void *);
	int64_t n1, n2;
	char s1[256], s2[256];
};

/** The routes of the API (routes.c) and their count. */
extern const struct route routes[];
extern const int route_count;

/** 1 when the server speaks TLS (tls-cert and tls-key both set). */
int app_tls(const struct app *app);
/** Build one process's state into *app: event loop, HTTP front (framing
 * filter, limits, allowed methods), database pool, hashing threads and the
 * request callback, all from cfg. key, pkey and tls (NULL: plain HTTP)
 * are borrowed. Accepting
 * connections is the caller's (evhttp_accept_socket_with_handle). Returns
 * 0, or -1 with err filled and nothing left allocated. */
int app_open(struct app *app, const struct gen_config *cfg, struct receipt_key *key,
    struct pseudonym_key *pkey, SSL_CTX *tls, char *err, size_t errlen);
/** Free what app_open built, the event loop last. */
void app_close(struct app *app);

/** Install the generic request callback on app->http. */
void web_install(struct app *app);

/** Send a reply and end the request (frees q). body may be NULL. */
void req_reply(struct req *q, int status, const char *content_type,
    const char *body, size_t len);
/** Reply with a JSON body. */
void req_json(struct req *q, int status, const char *json, size_t len);
/** Reply with an RFC 9457 problem document. `type` is the last part of the
 * type URI (…/problems/{type}); errs may be NULL. */
void req_problem(struct req *q, int status, const char *type, const char *title,
    const char *detail, const struct form_errors *errs);
/** 503 because the database could not take or finish the query. */
void req_unavailable(struct req *q, const char *why);
/** Set a response header. */
void req_header(struct req *q, const char *name, const char *value);
/** Append a Set-Cookie header (websec_set_cookie: HttpOnly, SameSite=Strict,
 * Path=/, and Secure when the server speaks TLS). */
void req_set_cookie(struct req *q, const char *name, const char *value, int max_age);
/** 1 when cookie `name` of the request holds a well-formed token, copied to
 * out; else 0 and out is "". */
int req_cookie_token(struct req *q, const char *name, char out[WEBSEC_TOKEN_LEN + 1]);
/** 303 See Other to `location` (a path of this server). */
void req_redirect(struct req *q, const char *location);
/** Reply with an HTML page (text/html, HTML_PAGE_CSP). */
void req_html(struct req *q, int status, const char *html, size_t len);

/** The CSRF rules of websec.h a request must pass. */
enum req_csrf {
	REQ_CSRF_SESSION, /* websec_check_session when the session cookie
	                   * authenticates; nothing otherwise */
	REQ_CSRF_TOKEN,   /* the same, and the session's token is required */
	REQ_CSRF_LOGIN,   /* websec_check_login against the gen_csrf cookie */
};
/** Apply `rule` to an unsafe request (GET and HEAD always pass): 0 when it
 * passes, else answers 403 (problem type csrf, logged
 * as event=csrf_refused) and returns -1. Routes with an identity get
 * REQ_CSRF_SESSION before their handler; public routes that act on a
 * cookie call it themselves. */
int req_csrf_check(struct req *q, enum req_csrf rule);

/** Query parameter `name` of the request URI (decoded, malloc'd), or NULL. */
char *req_query_param(struct req *q, const char *name);
/** Request header (or NULL). */
const char *req_in_header(struct req *q, const char *name);

/** Run prepared statement `stmt` for q; on completion `next(q, res)` is
 * called with the result (never NULL: a database failure answers 503 and
 * `next` is not called). An SQL error result is passed through. */
typedef void (*req_db_fn)(struct req *q, PGresult *res);
void req_query(struct req *q, const char *stmt, int nparams,
    const char *const *values, const int *lengths, req_db_fn next);

/** The prepared statements of every handler (routes.c). */
extern const struct db_stmt app_statements[];
extern const int app_statement_count;

/** Metrics text for /metrics (appended to out). */
void metrics_render(struct app *app, struct sbuf *out);

#endif
