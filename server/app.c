/* app.c - build and free the state of one server process (see app.h).
 *
 * Shared by gen-server (main.c) and the HTTP fuzz harness, so that the
 * harness drives the very front the server runs: same framing filter,
 * limits, allowed methods, pool and request callback. */
#include "app.h"

#include <stdio.h>
#include <string.h>

#include "api.h"
#include "framing.h"
#include "hashpool.h"

int
app_open(struct app *app, const struct gen_config *cfg, struct receipt_key *key,
    struct pseudonym_key *pkey, SSL_CTX *tls, char *err, size_t errlen)
{
	memset(app, 0, sizeof *app);
	app->cfg = cfg;
	app->key = key;
	app->pkey = pkey;
	app->started_us = now_usec();
	app->base = event_base_new();
	app->http = app->base ? evhttp_new(app->base) : NULL;
	if (app->http == NULL) {
		snprintf(err, errlen, "cannot create event loop");
		if (app->base != NULL)
			event_base_free(app->base);
		return -1;
	}
	/* The framing filter enforces the limits first, with problem
	 * documents; evhttp's own checks stay as a looser backstop. */
	struct framing_limits lim = {
		.max_headers = (size_t)cfg->max_headers,
		.max_body = (size_t)cfg->max_body,
		.request_timeout_ms = cfg->request_timeout * 1000,
		.tls = tls,
	};
	framing_install(app->http, &lim);
	evhttp_set_max_body_size(app->http, (ev_ssize_t)cfg->max_body);
	evhttp_set_max_headers_size(app->http, (ev_ssize_t)cfg->max_headers * 2);
	evhttp_set_timeout(app->http, cfg->idle_timeout);
	evhttp_set_allowed_methods(app->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	evhttp_set_default_content_type(app->http, "application/json");
	app->metrics = xcalloc((size_t)route_count + 1, sizeof *app->metrics);
	/* The pool keeps its own copies of the statements. */
	size_t nstmts = (size_t)(app_statement_count + review_statement_count + outcome_statement_count);
	struct db_stmt *stmts = xcalloc(nstmts, sizeof *stmts);
	memcpy(stmts, app_statements, (size_t)app_statement_count * sizeof *stmts);
	memcpy(stmts + app_statement_count, review_statements, (size_t)review_statement_count * sizeof *stmts);
	memcpy(stmts + app_statement_count + review_statement_count, outcome_statements,
	    (size_t)outcome_statement_count * sizeof *stmts);
	struct db_pool_config dbc = {
		.conninfo = cfg->database_url,
		.connections = cfg->db_connections,
		.queue_max = cfg->db_queue_max,
		.application = "gen-server",
		.query_timeout_ms = cfg->db_timeout_ms,
		.statement_timeout_ms = cfg->db_statement_timeout_ms,
		.stmts = stmts,
		.nstmts = nstmts,
	};
	app->db = db_pool_new(app->base, &dbc);
	free(stmts);
	app->hp = hashpool_new(app->base, cfg->hash_threads, 256, (unsigned)cfg->pbkdf2_iterations);
	web_install(app);
	return 0;
}

void
app_close(struct app *app)
{
	evhttp_free(app->http);
	db_pool_free(app->db);
	hashpool_free(app->hp);
	free(app->metrics);
	event_base_free(app->base);
	memset(app, 0, sizeof *app);
}
