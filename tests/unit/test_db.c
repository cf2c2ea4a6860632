/* test_db.c - the PostgreSQL pool against a real server (no mocks).
 *
 * Needs GEN_DATABASE_URL (make test starts a throw-away PostgreSQL and sets
 * it); without it the suite fails loudly. Every wait is bounded: the loop
 * runs in short slices up to a deadline, and alarm() backs that up. */
#include "db.h"
#include "unit.h"
#include "util.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define APP_NAME "gen-test-db"

static const struct db_stmt base_stmts[] = {
	{ "add", "SELECT $1::int + $2::int", 2 },
	{ "echo", "SELECT $1::int", 1 },
	{ "div", "SELECT 10 / $1::int", 1 },
	{ "text", "SELECT $1::text, octet_length($1::text)", 1 },
	{ "bytes", "SELECT $1::bytea, octet_length($1::bytea)", 1 },
	{ "sleep", "SELECT pg_sleep($1::float8)", 1 },
};

/* ---- fixtures ---- */

static const char *
db_url(void)
{
	const char *u = getenv("GEN_DATABASE_URL");

	if (u == NULL || *u == '\0') {
		fprintf(stderr, "db: GEN_DATABASE_URL is not set; this integration test "
		    "needs a real PostgreSQL (make test provides one)\n");
		exit(1);
	}
	return u;
}

/* The URL with application_name set, in keyword or URI form. */
static char *
conninfo_for(const char *app)
{
	const char *u = db_url();
	struct sbuf b = { 0 };

	sbuf_adds(&b, u);
	if (strstr(u, "://") != NULL)
		sbuf_printf(&b, "%capplication_name=%s", strchr(u, '?') ? '&' : '?', app);
	else
		sbuf_printf(&b, " application_name=%s", app);
	return sbuf_detach(&b);
}

static void
quiet_notice(void *arg, const char *message)
{
}

/* A blocking side connection for setup and for killing the pool's. */
static PGconn *
admin_connect(void)
{
	char *ci = conninfo_for(APP_NAME "-admin");
	PGconn *c = PQconnectdb(ci);

	free(ci);
	PQsetNoticeProcessor(c, quiet_notice, NULL);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "db: admin connect failed: %s", PQerrorMessage(c));
		exit(1);
	}
	return c;
}

static void
admin_exec(const char *sql)
{
	PGconn *c = admin_connect();
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fprintf(stderr, "db: admin %s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

static struct db_pool *
pool_open_st(struct event_base *base, const char *conninfo, int connections,
    int queue_max, int timeout_ms, int statement_timeout_ms,
    const struct db_stmt *stmts, size_t nstmts)
{
	struct db_pool_config cfg = {
		.conninfo = conninfo,
		.connections = connections,
		.queue_max = queue_max,
		.query_timeout_ms = timeout_ms,
		.statement_timeout_ms = statement_timeout_ms,
		.stmts = stmts,
		.nstmts = nstmts,
	};

	alarm(30); /* backstop per case; each wait below is bounded anyway */
	return db_pool_new(base, &cfg);
}

static struct db_pool *
pool_open(struct event_base *base, const char *conninfo, int connections,
    int queue_max, int timeout_ms, const struct db_stmt *stmts, size_t nstmts)
{
	return pool_open_st(base, conninfo, connections, queue_max, timeout_ms, 0,
	    stmts, nstmts);
}

/* Run the loop in 20 ms slices until done(arg) or the deadline. */
static int
run_until(struct event_base *base, int (*done)(void *), void *arg, int timeout_ms)
{
	int64_t deadline = now_usec() + (int64_t)timeout_ms * 1000;
	struct timeval slice = { 0, 20000 };

	while (!done(arg)) {
		if (now_usec() >= deadline)
			return 0;
		event_base_loopexit(base, &slice);
		event_base_loop(base, 0);
	}
	return 1;
}

static int
never(void *arg)
{
	return 0;
}

static void
run_for(struct event_base *base, int ms)
{
	run_until(base, never, NULL, ms);
}

struct want_ready { struct db_pool *p; int n; };

static int
pool_has_ready(void *arg)
{
	struct want_ready *w = arg;
	struct db_pool_stats st;

	db_pool_get_stats(w->p, &st);
	return st.ready >= w->n;
}

static int
wait_ready(struct event_base *base, struct db_pool *p, int n)
{
	struct want_ready w = { p, n };

	return run_until(base, pool_has_ready, &w, 5000);
}

static int
pool_has_in_flight(void *arg)
{
	struct db_pool_stats st;

	db_pool_get_stats(arg, &st);
	return st.in_flight > 0;
}

static int
pool_drained(void *arg)
{
	return db_pool_pending(arg) == 0;
}

/* ---- recording results ---- */

struct tally {
	int done;
	int seq;
	struct db_pool *p; /* when set, sample in-flight at each callback */
	int max_in_flight;
};

struct rec {
	struct tally *t;
	int calls;
	int seq;       /* completion order */
	int status;    /* PQresultStatus, or -1 for res == NULL */
	int null0;     /* first cell is SQL NULL */
	char *v0, *v1; /* first row's cells */
	char *cmd;     /* PQcmdTuples */
	char state[6];
	char *err;
};

static void
on_result(void *arg, PGresult *res, const char *errmsg)
{
	struct rec *r = arg;

	r->calls++;
	r->seq = r->t->seq++;
	r->t->done++;
	if (r->t->p) {
		struct db_pool_stats st;
		db_pool_get_stats(r->t->p, &st);
		if (st.in_flight > r->t->max_in_flight)
			r->t->max_in_flight = st.in_flight;
	}
	if (res == NULL) {
		r->status = -1;
		r->err = xstrdup(errmsg ? errmsg : "(null errmsg)");
		return;
	}
	r->status = (int)PQresultStatus(res);
	snprintf(r->state, sizeof r->state, "%s", db_sqlstate(res));
	r->cmd = xstrdup(PQcmdTuples(res));
	if (r->status == PGRES_TUPLES_OK && PQntuples(res) > 0) {
		r->null0 = PQgetisnull(res, 0, 0);
		r->v0 = xstrdup(PQgetvalue(res, 0, 0));
		if (PQnfields(res) > 1)
			r->v1 = xstrdup(PQgetvalue(res, 0, 1));
	}
}

static struct rec *
recs_new(size_t n, struct tally *t)
{
	struct rec *r = xcalloc(n, sizeof *r);

	for (size_t i = 0; i < n; i++)
		r[i].t = t;
	return r;
}

static void
recs_free(struct rec *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].v0);
		free(r[i].v1);
		free(r[i].cmd);
		free(r[i].err);
	}
	free(r);
}

struct want_done { struct tally *t; int n; };

static int
tally_reached(void *arg)
{
	struct want_done *w = arg;

	return w->t->done >= w->n;
}

static int
wait_done(struct event_base *base, struct tally *t, int n, int timeout_ms)
{
	struct want_done w = { t, n };

	return run_until(base, tally_reached, &w, timeout_ms);
}

static int
query1(struct db_pool *p, const char *stmt, const char *v, struct rec *r)
{
	const char *vals[1] = { v };

	return db_query(p, stmt, 1, vals, NULL, NULL, on_result, r);
}

/* ---- cases ---- */

static void
simple_query(void)
{
	struct event_base *base = event_base_new();
	char *ci = conninfo_for(APP_NAME);
	struct db_pool *p = pool_open(base, ci, 2, 100, 2000, base_stmts, ARRAY_LEN(base_stmts));
	struct tally t = { 0 };
	struct rec *r = recs_new(2, &t);
	const char *vals[2] = { "2", "3" };
	struct db_pool_stats st;

	CHECK(p != NULL);
	CHECK(wait_ready(base, p, 2));
	CHECK_EQ_INT(db_query(p, "add", 2, vals, NULL, NULL, on_result, &r[0]), 0);
	CHECK_EQ_INT(query1(p, "echo", NULL, &r[1]), 0); /* SQL NULL parameter */
	CHECK(wait_done(base, &t, 2, 5000));
	CHECK_EQ_INT(r[0].calls, 1);
	CHECK_EQ_INT(r[0].status, PGRES_TUPLES_OK);
	CHECK_EQ_STR(r[0].v0, "5");
	CHECK_EQ_STR(r[0].state, "");
	CHECK_EQ_INT(r[1].status, PGRES_TUPLES_OK);
	CHECK_EQ_INT(r[1].null0, 1);
	db_pool_get_stats(p, &st);
	CHECK_EQ_INT(st.connections, 2);
	CHECK_EQ_INT(st.ready, 2);
	CHECK_EQ_INT(st.completed, 2);
	CHECK_EQ_INT(st.failed, 0);
	CHECK_EQ_INT(st.in_flight, 0);
	CHECK_EQ_INT(st.queued, 0);
	CHECK_EQ_STR(db_sqlstate(NULL), "");
	db_pool_free(p);
	CHECK_EQ_INT(r[0].calls, 1); /* free does not call completed ones again */
	recs_free(r, 2);
	free(ci);
	event_base_free(base);
}

/* Queue 1000 at once (exactly queue_max), refuse the 1001st, and check every
 * caller gets its own value; returns the most queries seen in flight at
 * once. With one connection, completion order is queue order. */
static int
thousand_on(int connections)
{
	enum { N = 1000 };
	struct event_base *base = event_base_new();
	char *ci = conninfo_for(APP_NAME);
	struct db_pool *p = pool_open(base, ci, connections, N, 10000, base_stmts,
	    ARRAY_LEN(base_stmts));
	struct tally t = { 0, 0, p, 0 };
	struct rec *r = recs_new(N + 1, &t);
	struct db_pool_stats st;
	int accepted = 0;
	char buf[16];

	CHECK(wait_ready(base, p, connections));
	for (int i = 0; i < N; i++) {
		snprintf(buf, sizeof buf, "%d", i);
		accepted += query1(p, "echo", buf, &r[i]) == 0;
	}
	CHECK_EQ_INT(accepted, N);
	CHECK_EQ_INT(query1(p, "echo", "1000", &r[N]), -1);
	db_pool_get_stats(p, &st);
	CHECK_EQ_INT(st.queued, N);
	CHECK_EQ_INT(st.refused, 1);
	CHECK(wait_done(base, &t, N, 15000));
	for (int i = 0; i < N; i++) {
		snprintf(buf, sizeof buf, "%d", i);
		if (r[i].calls != 1 || r[i].status != PGRES_TUPLES_OK ||
		    r[i].v0 == NULL || strcmp(r[i].v0, buf) != 0) {
			CHECK_EQ_STR(r[i].v0, buf);
			CHECK_EQ_INT(r[i].calls, 1);
			break;
		}
		if (connections == 1 && r[i].seq != i) {
			CHECK_EQ_INT(r[i].seq, i);
			break;
		}
	}
	CHECK_EQ_INT(r[N].calls, 0);
	db_pool_get_stats(p, &st);
	CHECK_EQ_INT(st.completed, N);
	CHECK_EQ_INT(st.failed, 0);
	CHECK_EQ_INT(st.in_flight, 0);
	CHECK_EQ_INT(db_pool_pending(p), 0);
	db_pool_free(p);
	recs_free(r, N + 1);
	free(ci);
	event_base_free(base);
	return t.max_in_flight;
}

static void
thousand_queries(void)
{
	int one = thousand_on(1);
	int three = thousand_on(3);

	/* Work is spread: three connections carry more at once than one. */
	CHECK(one > 0);
	CHECK(three > one);
}

static const struct db_stmt table_stmts[] = {
	{ "echo", "SELECT $1::int", 1 },
	{ "div", "SELECT 10 / $1::int", 1 },
	{ "ins", "INSERT INTO gen_test_db_t(v) VALUES (10 / $1::int)", 1 },
	{ "count", "SELECT count(*), coalesce(sum(v), 0) FROM gen_test_db_t", 0 },
};

/* One connection, so all of these share one pipeline: a failing statement
 * must not abort or roll back its neighbours (one Sync per query). */
static void
error_isolated(void)
{
	struct event_base *base = event_base_new();
	char *ci = conninfo_for(APP_NAME);
	struct db_pool *p;
	struct tally t = { 0 };
	struct rec *r = recs_new(7, &t);

	admin_exec("DROP TABLE IF EXISTS gen_test_db_t");
	admin_exec("CREATE TABLE gen_test_db_t (v int NOT NULL)");
	p = pool_open(base, ci, 1, 100, 5000, table_stmts, ARRAY_LEN(table_stmts));
	CHECK(wait_ready(base, p, 1));
	CHECK_EQ_INT(query1(p, "echo", "1", &r[0]), 0);
	CHECK_EQ_INT(query1(p, "div", "0", &r[1]), 0);
	CHECK_EQ_INT(query1(p, "echo", "3", &r[2]), 0);
	CHECK_EQ_INT(query1(p, "ins", "1", &r[3]), 0);  /* inserts 10 */
	CHECK_EQ_INT(query1(p, "ins", "0", &r[4]), 0);  /* division by zero */
	CHECK_EQ_INT(query1(p, "ins", "5", &r[5]), 0);  /* inserts 2 */
	CHECK(wait_done(base, &t, 6, 5000));
	CHECK_EQ_INT(db_query(p, "count", 0, NULL, NULL, NULL, on_result, &r[6]), 0);
	CHECK(wait_done(base, &t, 7, 5000));

	CHECK_EQ_INT(r[0].status, PGRES_TUPLES_OK);
	CHECK_EQ_STR(r[0].v0, "1");
	CHECK_EQ_INT(r[1].status, PGRES_FATAL_ERROR);
	CHECK_EQ_STR(r[1].state, "22012");
	CHECK_EQ_INT(r[2].status, PGRES_TUPLES_OK);
	CHECK_EQ_STR(r[2].v0, "3");
	CHECK_EQ_INT(r[3].status, PGRES_COMMAND_OK);
	CHECK_EQ_STR(r[3].cmd, "1");
	CHECK_EQ_INT(r[4].status, PGRES_FATAL_ERROR);
	CHECK_EQ_STR(r[4].state, "22012");
	CHECK_EQ_INT(r[5].status, PGRES_COMMAND_OK);
	CHECK_EQ_STR(r[6].v0, "2");  /* both good rows stored */
	CHECK_EQ_STR(r[6].v1, "12");
	for (int i = 0; i < 7; i++)
		CHECK_EQ_INT(r[i].seq, i);
	struct db_pool_stats st;
	db_pool_get_stats(p, &st);
	CHECK_EQ_INT(st.completed, 7); /* SQL errors are results, not failures */
	CHECK_EQ_INT(st.failed, 0);
	CHECK_EQ_INT(st.ready, 1);
	db_pool_free(p);
	admin_exec("DROP TABLE IF EXISTS gen_test_db_t");
	recs_free(r, 7);
	free(ci);
	event_base_free(base);
}

/* 8 KB of awkward text and 8 KB of binary with NULs, from buffers the
 * caller wipes and frees right after db_query. */
static void
large_params(void)
{
	enum { SZ = 8192 };
	static const char block[] = "a'\"\\\n\t;\xc3\xa9$1%zZ_!"; /* 16 bytes, valid UTF-8 */
	struct event_base *base = event_base_new();
	char *ci = conninfo_for(APP_NAME);
	struct db_pool *p = pool_open(base, ci, 1, 100, 5000, base_stmts, ARRAY_LEN(base_stmts));
	struct tally t = { 0 };
	struct rec *r = recs_new(2, &t);
	char *text = xmalloc(SZ + 1), *expect_text = xmalloc(SZ + 1);
	unsigned char *bin = xmalloc(SZ);
	char *expect_hex = xmalloc(2 + 2 * SZ + 1);
	const char *vals[1];
	int lens[1] = { SZ }, fmts[1] = { 1 };

	CHECK_EQ_INT(sizeof block - 1, 16);
	for (int i = 0; i < SZ / 16; i++)
		memcpy(text + 16 * i, block, 16);
	text[SZ] = '\0';
	memcpy(expect_text, text, SZ + 1);
	for (int i = 0; i < SZ; i++)
		bin[i] = (unsigned char)(i * 7);
	memcpy(expect_hex, "\\x", 2);
	hex_encode(bin, SZ, expect_hex + 2);

	CHECK(wait_ready(base, p, 1));
	CHECK_EQ_INT(query1(p, "text", text, &r[0]), 0);
	vals[0] = (const char *)bin;
	CHECK_EQ_INT(db_query(p, "bytes", 1, vals, lens, fmts, on_result, &r[1]), 0);
	memset(text, 'X', SZ);
	memset(bin, 0xEE, SZ);
	free(text);
	free(bin);
	CHECK(wait_done(base, &t, 2, 5000));
	CHECK_EQ_INT(r[0].status, PGRES_TUPLES_OK);
	CHECK(r[0].v0 != NULL && strcmp(r[0].v0, expect_text) == 0);
	CHECK_EQ_STR(r[0].v1, "8192");
	CHECK_EQ_INT(r[1].status, PGRES_TUPLES_OK);
	CHECK(r[1].v0 != NULL && strcmp(r[1].v0, expect_hex) == 0);
	CHECK_EQ_STR(r[1].v1, "8192");
	db_pool_free(p);
	recs_free(r, 2);
	free(expect_text);
	free(expect_hex);
	free(ci);
	event_base_free(base);
}

static void
refuse_bad_calls(void)
{
	struct event_base *base = event_base_new();
	char *ci = conninfo_for(APP_NAME);
	struct db_pool *p = pool_open(base, ci, 1, 100, 5000, base_stmts, ARRAY_LEN(base_stmts));
	struct tally t = { 0 };
	struct rec *r = recs_new(2, &t);
	struct db_pool_stats st;
	struct db_stmt dup[2] = { base_stmts[0], base_stmts[0] };
	struct db_pool_config bad = { .conninfo = ci, .connections = 1, .queue_max = 10,
	    .query_timeout_ms = 100, .stmts = dup, .nstmts = 2 };

	CHECK(wait_ready(base, p, 1));
	CHECK_EQ_INT(query1(p, "no_such_statement", "1", &r[0]), -1);
	CHECK_EQ_INT(query1(p, "add", "1", &r[1]), -1); /* wants 2 parameters */
	run_for(base, 100);
	CHECK_EQ_INT(r[0].calls + r[1].calls, 0);
	db_pool_get_stats(p, &st);
	CHECK_EQ_INT(st.refused, 2);
	CHECK_EQ_INT(st.queued, 0);
	db_pool_free(p);

	CHECK(db_pool_new(base, &bad) == NULL); /* duplicate statement name */
	bad.stmts = base_stmts;
	bad.nstmts = 1;
	bad.connections = 0;
	CHECK(db_pool_new(base, &bad) == NULL);

	recs_free(r, 2);
	free(ci);
	event_base_free(base);
}

struct chain {
	struct db_pool *p;
	int next;    /* value of the next query */
	int last;    /* stop after this value */
	int bad;     /* wrong value or refused */
	int done;
};

static void
on_chain(void *arg, PGresult *res, const char *errmsg)
{
	struct chain *c = arg;
	char buf[16];
	const char *vals[1] = { buf };

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK ||
	    atoi(PQgetvalue(res, 0, 0)) != c->next) {
		c->bad++;
		c->done = 1;
		return;
	}
	if (c->next == c->last) {
		c->done = 1;
		return;
	}
	c->next++;
	snprintf(buf, sizeof buf, "%d", c->next);
	/* Re-entrant: from inside the previous query's callback. */
	if (db_query(c->p, "echo", 1, vals, NULL, NULL, on_chain, c) != 0) {
		c->bad++;
		c->done = 1;
	}
}

static int
chain_done(void *arg)
{
	return ((struct chain *)arg)->done;
}

static void
reentrant_chain(void)
{
	struct event_base *base = event_base_new();
	char *ci = conninfo_for(APP_NAME);
	struct db_pool *p = pool_open(base, ci, 2, 10, 5000, base_stmts, ARRAY_LEN(base_stmts));
	struct chain c[3];
	struct db_pool_stats st;

	CHECK(wait_ready(base, p, 2));
	for (int i = 0; i < 3; i++) {
		const char *vals[1] = { "0" };
		c[i] = (struct chain){ p, 0, 200, 0, 0 };
		CHECK_EQ_INT(db_query(p, "echo", 1, vals, NULL, NULL, on_chain, &c[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		CHECK(run_until(base, chain_done, &c[i], 10000));
		CHECK_EQ_INT(c[i].bad, 0);
		CHECK_EQ_INT(c[i].next, 200);
	}
	db_pool_get_stats(p, &st);
	CHECK_EQ_INT(st.completed, 3 * 201);
	db_pool_free(p);
	free(ci);
	event_base_free(base);
}

static int
terminate_pool_backends(void)
{
	PGconn *c = admin_connect();
	PGresult *r = PQexec(c, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
	    "WHERE application_name='" APP_NAME "' AND pid<>pg_backend_pid()");
	int n = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		n = atoi(PQgetvalue(r, 0, 0));
	else
		fprintf(stderr, "db: terminate: %s", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
	return n;
}

/* Kill the backend under a full pipeline: what was sent fails with
 * res == NULL, what was still queued runs after the automatic reconnect,
 * on statements prepared again. */
static void
connection_loss(void)
{
	enum { N = 100 };
	struct event_base *base = event_base_new();
	char *ci = conninfo_for(APP_NAME);
	struct db_pool *p = pool_open(base, ci, 1, N, 10000, base_stmts, ARRAY_LEN(base_stmts));
	struct tally t = { 0 };
	struct rec *r = recs_new(N + 1, &t);
	struct db_pool_stats st;
	int in_flight, queued, lost = 0, ok = 0;
	char buf[16];

	CHECK(wait_ready(base, p, 1));
	CHECK_EQ_INT(query1(p, "sleep", "5", &r[0]), 0); /* holds the pipeline */
	for (int i = 1; i < N; i++) {
		snprintf(buf, sizeof buf, "%d", i);
		CHECK_EQ_INT(query1(p, "echo", buf, &r[i]), 0);
	}
	CHECK(run_until(base, pool_has_in_flight, p, 5000));
	run_for(base, 100); /* let the sleep start on the server */
	db_pool_get_stats(p, &st);
	in_flight = st.in_flight;
	queued = st.queued;
	CHECK(queued > 0); /* the pipeline depth is bounded */
	CHECK_EQ_INT(in_flight + queued, N);
	CHECK_EQ_INT(t.done, 0);

	CHECK(terminate_pool_backends() >= 1);
	CHECK(wait_done(base, &t, N, 10000));
	for (int i = 0; i < N; i++) {
		snprintf(buf, sizeof buf, "%d", i);
		if (i < in_flight && r[i].status == -1 &&
		    strcmp(r[i].err, "database connection lost") == 0)
			lost++;
		if (i >= in_flight && r[i].status == PGRES_TUPLES_OK &&
		    strcmp(r[i].v0, buf) == 0)
			ok++;
	}
	CHECK_EQ_INT(lost, in_flight);
	CHECK_EQ_INT(ok, queued);

	CHECK(wait_ready(base, p, 1));
	const char *vals[2] = { "40", "2" };
	CHECK_EQ_INT(db_query(p, "add", 2, vals, NULL, NULL, on_result, &r[N]), 0);
	CHECK(wait_done(base, &t, N + 1, 5000));
	CHECK_EQ_STR(r[N].v0, "42");
	db_pool_get_stats(p, &st);
	CHECK(st.reconnects >= 1);
	CHECK_EQ_INT(st.failed, in_flight);
	CHECK_EQ_INT(st.completed, queued + 1);
	db_pool_free(p);
	recs_free(r, N + 1);
	free(ci);
	event_base_free(base);
}

/* Queued too long behind a slow pipeline: failed with res == NULL, while
 * the ones already sent still complete. */
static void
queue_timeout(void)
{
	enum { N = 100 };
	struct event_base *base = event_base_new();
	char *ci = conninfo_for(APP_NAME);
	struct db_pool *p = pool_open(base, ci, 1, N, 300, base_stmts, ARRAY_LEN(base_stmts));
	struct tally t = { 0 };
	struct rec *r = recs_new(N, &t);
	struct db_pool_stats st;
	int in_flight, queued, timed_out = 0, ok = 0;

	CHECK(wait_ready(base, p, 1));
	CHECK_EQ_INT(query1(p, "sleep", "1", &r[0]), 0);
	for (int i = 1; i < N; i++)
		CHECK_EQ_INT(query1(p, "echo", "7", &r[i]), 0);
	CHECK(run_until(base, pool_has_in_flight, p, 5000));
	db_pool_get_stats(p, &st);
	in_flight = st.in_flight;
	queued = st.queued;
	CHECK(queued > 0);
	CHECK(wait_done(base, &t, N, 5000));
	for (int i = 0; i < N; i++) {
		if (r[i].status == -1 && strcmp(r[i].err, "database unavailable (timed out)") == 0)
			timed_out++;
		if (r[i].status == PGRES_TUPLES_OK)
			ok++;
	}
	CHECK_EQ_INT(timed_out, queued);
	CHECK_EQ_INT(ok, in_flight);
	CHECK(r[0].status == PGRES_TUPLES_OK && r[N - 1].status == -1);
	CHECK(r[N - 1].seq < r[0].seq); /* failed before the sleep ended */
	db_pool_free(p);
	recs_free(r, N);
	free(ci);
	event_base_free(base);
}

/* Nothing listens on port 1: fail fast, never spin, keep retrying quietly. */
static void
refuse_when_down(void)
{
	struct event_base *base = event_base_new();
	struct db_pool *p = pool_open(base,
	    "host=127.0.0.1 port=1 user=postgres dbname=postgres application_name=" APP_NAME,
	    2, 100, 1000, base_stmts, ARRAY_LEN(base_stmts));
	struct tally t = { 0 };
	struct rec *r = recs_new(4, &t);
	struct db_pool_stats st;
	clock_t cpu0;
	int64_t t0;
	int rc;

	CHECK(p != NULL);
	/* While the pool starts, a query waits; the refused connections end
	 * the start and the query fails then, well before its timeout. */
	t0 = now_usec();
	CHECK_EQ_INT(query1(p, "echo", "1", &r[0]), 0);
	CHECK(wait_done(base, &t, 1, 900));
	CHECK(now_usec() - t0 < 500000);
	CHECK_EQ_INT(r[0].status, -1);
	CHECK_EQ_STR(r[0].err, "database unavailable");
	cpu0 = clock();
	run_for(base, 700); /* several back-off rounds */
	CHECK((double)(clock() - cpu0) / CLOCKS_PER_SEC < 0.3); /* no spinning */
	CHECK_EQ_INT(r[0].calls, 1);

	/* Down: a query starts one attempt at once (refused at once if even
	 * that cannot begin) and hears the outcome long before its timeout. */
	t0 = now_usec();
	rc = query1(p, "echo", "1", &r[1]);
	if (rc == 0) {
		CHECK(wait_done(base, &t, 2, 900));
		CHECK_EQ_INT(r[1].status, -1);
		CHECK_EQ_STR(r[1].err, "database unavailable");
	}
	CHECK(now_usec() - t0 < 500000);
	/* A second query in the same moment starts no second attempt. */
	CHECK_EQ_INT(query1(p, "echo", "1", &r[2]), -1);
	db_pool_get_stats(p, &st);
	CHECK_EQ_INT(st.ready, 0);
	CHECK_EQ_INT(st.refused, rc == 0 ? 1 : 2);
	CHECK_EQ_INT(st.queued, 0);
	CHECK_EQ_INT(db_pool_pending(p), 0);
	CHECK_EQ_INT(r[2].calls, 0);
	db_pool_free(p);
	CHECK_EQ_INT(t.done, rc == 0 ? 2 : 1);
	recs_free(r, 4);
	event_base_free(base);
}

/* With a statement timeout, PostgreSQL cancels a long statement (SQLSTATE
 * 57014, a result like any SQL error); the connection stays and serves the
 * next query. */
static void
statement_timeout(void)
{
	struct event_base *base = event_base_new();
	char *ci = conninfo_for(APP_NAME);
	struct db_pool *p = pool_open_st(base, ci, 1, 100, 5000, 300, base_stmts, ARRAY_LEN(base_stmts));
	struct tally t = { 0 };
	struct rec *r = recs_new(2, &t);
	struct db_pool_stats st;

	CHECK(wait_ready(base, p, 1));
	CHECK_EQ_INT(query1(p, "sleep", "3", &r[0]), 0);
	CHECK_EQ_INT(query1(p, "echo", "9", &r[1]), 0);
	CHECK(wait_done(base, &t, 2, 2000));
	CHECK_EQ_INT(r[0].status, PGRES_FATAL_ERROR);
	CHECK_EQ_STR(r[0].state, "57014");
	CHECK_EQ_STR(r[1].v0, "9");
	db_pool_get_stats(p, &st);
	CHECK_EQ_INT(st.reconnects, 0);
	db_pool_free(p);
	recs_free(r, 2);
	free(ci);
	event_base_free(base);
}

/* A statement that blocks (a lock wait) holds its connection: queries
 * that come after it go to a connection that moves, or wait in the queue
 * and fail at their own timeout; they are not pipelined behind it. */
static void
stalled_connection_skipped(void)
{
	enum { N = 10 };
	struct event_base *base = event_base_new();
	char *ci = conninfo_for(APP_NAME);
	struct db_pool *p = pool_open(base, ci, 2, 100, 500, base_stmts, ARRAY_LEN(base_stmts));
	struct tally t = { 0 };
	struct rec *r = recs_new(N + 2, &t);
	int64_t t0;

	CHECK(wait_ready(base, p, 2));
	CHECK_EQ_INT(query1(p, "sleep", "2", &r[0]), 0);
	run_for(base, 300);
	t0 = now_usec();
	for (int i = 1; i <= N; i++)
		CHECK_EQ_INT(query1(p, "echo", "4", &r[i]), 0);
	CHECK(wait_done(base, &t, N, 1500));
	for (int i = 1; i <= N; i++)
		CHECK_EQ_STR(r[i].v0, "4");
	CHECK(now_usec() - t0 < 1000000);
	CHECK_EQ_INT(r[0].calls, 0); /* the sleep still runs */
	db_pool_free(p);

	/* One connection, stalled: the queue timeout (500 ms) holds. */
	struct tally t2 = { 0 };
	struct rec *r2 = recs_new(2, &t2);
	p = pool_open(base, ci, 1, 100, 500, base_stmts, ARRAY_LEN(base_stmts));
	CHECK(wait_ready(base, p, 1));
	CHECK_EQ_INT(query1(p, "sleep", "2", &r2[0]), 0);
	run_for(base, 300);
	t0 = now_usec();
	CHECK_EQ_INT(query1(p, "echo", "5", &r2[1]), 0);
	CHECK(wait_done(base, &t2, 1, 1500));
	CHECK_EQ_INT(r2[1].status, -1);
	CHECK_EQ_STR(r2[1].err, "database unavailable (timed out)");
	CHECK(now_usec() - t0 < 1000000);
	db_pool_free(p);
	terminate_pool_backends(); /* the sleeps, so later cases see none */
	recs_free(r2, 2);
	recs_free(r, N + 2);
	free(ci);
	event_base_free(base);
}

/* The pool's backends, by application name. */
static int
pool_backend_pids(int *pids, int max)
{
	PGconn *c = admin_connect();
	PGresult *r = PQexec(c, "SELECT pid FROM pg_stat_activity WHERE application_name='" APP_NAME "'");
	int n = 0;

	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		for (int i = 0; i < PQntuples(r) && n < max; i++)
			pids[n++] = atoi(PQgetvalue(r, i, 0));
	PQclear(r);
	PQfinish(c);
	return n;
}

/* A backend that stops answering (SIGSTOP: a paused server, or a network
 * gone without a reset) cannot honour its statement timeout: the pool gives
 * up on it 2 s past the timeout, fails what it had in flight, and serves
 * the next queries on a new connection. */
static void
hung_connection(void)
{
	struct event_base *base = event_base_new();
	char *ci = conninfo_for(APP_NAME);
	struct db_pool *p = pool_open_st(base, ci, 1, 100, 10000, 200, base_stmts, ARRAY_LEN(base_stmts));
	struct tally t = { 0 };
	struct rec *r = recs_new(3, &t);
	struct db_pool_stats st;
	int pid[2], stopped;
	int64_t t0;

	CHECK(wait_ready(base, p, 1));
	CHECK_EQ_INT(pool_backend_pids(pid, 2), 1);
	stopped = kill(pid[0], SIGSTOP) == 0;
	CHECK(stopped);
	if (!stopped)
		goto out;
	t0 = now_usec();
	CHECK_EQ_INT(query1(p, "echo", "1", &r[0]), 0);
	CHECK_EQ_INT(query1(p, "echo", "2", &r[1]), 0);
	CHECK(wait_done(base, &t, 2, 5000));
	CHECK(now_usec() - t0 >= 2000000); /* not before the grace */
	CHECK(now_usec() - t0 < 4000000);
	CHECK_EQ_INT(r[0].status, -1);
	CHECK_EQ_INT(r[1].status, -1);
	CHECK(wait_ready(base, p, 1));
	CHECK_EQ_INT(query1(p, "echo", "3", &r[2]), 0);
	CHECK(wait_done(base, &t, 3, 2000));
	CHECK_EQ_STR(r[2].v0, "3");
	db_pool_get_stats(p, &st);
	CHECK_EQ_INT(st.reconnects, 1);
	kill(pid[0], SIGCONT); /* it finds its client gone and exits */
out:
	db_pool_free(p);
	recs_free(r, 3);
	free(ci);
	event_base_free(base);
}

/* The value libpq settled on for keyword `key` of a live connection. */
static char *
conn_option(PGconn *c, const char *key)
{
	PQconninfoOption *opts = PQconninfo(c);
	char *v = NULL;

	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, key) == 0 && o->val)
			v = xstrdup(o->val);
	PQconninfoFree(opts);
	return v ? v : xstrdup("(unset)");
}

static char *
conn_show(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	char *v = xstrdup(PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : "(error)");

	PQclear(r);
	return v;
}

/* Defaults (keepalives, connect timeout) hold unless the connection string
 * says otherwise; the application name is a fall-back; UTF-8 always. */
static void
connect_params(void)
{
	struct db_params params;
	struct sbuf b = { 0 };
	char *url = xstrdup(db_url()), *with;
	PGconn *c;
	char *v;

	db_params_init(&params, url, "gen-test-params");
	c = PQconnectdbParams(params.keys, params.vals, 1);
	CHECK_EQ_INT(PQstatus(c), CONNECTION_OK);
	CHECK_EQ_STR(v = conn_option(c, "keepalives_idle"), "30"); free(v);
	CHECK_EQ_STR(v = conn_option(c, "keepalives_count"), "3"); free(v);
	CHECK_EQ_STR(v = conn_option(c, "connect_timeout"), "10"); free(v);
	CHECK_EQ_STR(v = conn_show(c, "SHOW application_name"), "gen-test-params"); free(v);
	CHECK_EQ_STR(v = conn_show(c, "SHOW client_encoding"), "UTF8"); free(v);
	PQfinish(c);

	sbuf_adds(&b, url);
	sbuf_adds(&b, strstr(url, "://") ? (strchr(url, '?') ? "&" : "?") : " ");
	sbuf_adds(&b, strstr(url, "://") ? "keepalives_idle=5&application_name=mine&client_encoding=LATIN1"
	    : "keepalives_idle=5 application_name=mine client_encoding=LATIN1");
	with = sbuf_detach(&b);
	db_params_init(&params, with, "gen-test-params");
	c = PQconnectdbParams(params.keys, params.vals, 1);
	CHECK_EQ_INT(PQstatus(c), CONNECTION_OK);
	CHECK_EQ_STR(v = conn_option(c, "keepalives_idle"), "5"); free(v);
	CHECK_EQ_STR(v = conn_show(c, "SHOW application_name"), "mine"); free(v);
	CHECK_EQ_STR(v = conn_show(c, "SHOW client_encoding"), "UTF8"); free(v);
	PQfinish(c);
	free(with);
	free(url);
}

static void
transient_states(void)
{
	static const char *const transient[] = {
		"08000", "08003", "08006", "40001", "40P01", "53100", "53200", "53300",
		"57014", "57P01", "57P03", "58030",
	};
	static const char *const not_transient[] = {
		"08P01", "23505", "23503", "22P02", "42P01", "P0001", "XX000", "",
	};

	for (size_t i = 0; i < ARRAY_LEN(transient); i++)
		CHECK(db_sqlstate_transient(transient[i]));
	for (size_t i = 0; i < ARRAY_LEN(not_transient); i++)
		CHECK(!db_sqlstate_transient(not_transient[i]));
}

#define OUTAGE_ROLE "gen_test_outage"

/* The pool's conninfo, logging in as OUTAGE_ROLE (keyword form: a later
 * keyword wins; URI form: a query parameter). */
static char *
conninfo_outage(void)
{
	char *ci = conninfo_for(APP_NAME);
	struct sbuf b = { 0 };

	sbuf_adds(&b, ci);
	sbuf_adds(&b, strstr(ci, "://") ? "&user=" OUTAGE_ROLE : " user=" OUTAGE_ROLE);
	free(ci);
	return sbuf_detach(&b);
}

static int
terminate_role_backends(void)
{
	PGconn *c = admin_connect();
	PGresult *r = PQexec(c, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
	    "WHERE usename='" OUTAGE_ROLE "'");
	int n = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		n = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return n;
}

/* The database goes away (every connection lost, every new one refused)
 * long enough for the back-off to grow, then comes back: the very next
 * query is served, without waiting for a back-off timer, and nothing is
 * refused once it is back. Queries while it was away were answered at
 * once, not at their timeout. */
static void
outage_recovery(void)
{
	struct event_base *base = event_base_new();
	char *ci = conninfo_outage();
	struct db_pool *p;
	struct tally t = { 0 };
	struct rec *r = recs_new(3, &t);
	struct db_pool_stats st;
	int64_t t0;
	int rc;

	admin_exec("DROP ROLE IF EXISTS " OUTAGE_ROLE);
	admin_exec("CREATE ROLE " OUTAGE_ROLE " LOGIN");
	p = pool_open(base, ci, 3, 100, 10000, base_stmts, ARRAY_LEN(base_stmts));
	CHECK(wait_ready(base, p, 3));

	admin_exec("ALTER ROLE " OUTAGE_ROLE " NOLOGIN");
	CHECK_EQ_INT(terminate_role_backends(), 3);
	run_for(base, 1500); /* lost, then refused for a while: back-off grows */
	db_pool_get_stats(p, &st);
	CHECK_EQ_INT(st.ready, 0);

	t0 = now_usec();
	rc = query1(p, "echo", "1", &r[0]);
	if (rc == 0) {
		CHECK(wait_done(base, &t, 1, 2000));
		CHECK_EQ_INT(r[0].status, -1);
	}
	CHECK(now_usec() - t0 < 1000000); /* not the 10 s queue timeout */

	admin_exec("ALTER ROLE " OUTAGE_ROLE " LOGIN");
	run_for(base, DB_PROBE_GAP_MS); /* past the probe rate limit, well inside the back-off */
	t0 = now_usec();
	CHECK_EQ_INT(query1(p, "echo", "7", &r[1]), 0);
	CHECK_EQ_INT(query1(p, "echo", "8", &r[2]), 0); /* waits for the same attempt */
	CHECK(wait_done(base, &t, rc == 0 ? 3 : 2, 5000));
	CHECK_EQ_STR(r[1].v0, "7");
	CHECK_EQ_STR(r[2].v0, "8");
	CHECK(now_usec() - t0 < 500000);
	db_pool_free(p);
	admin_exec("DROP ROLE " OUTAGE_ROLE);
	recs_free(r, 3);
	free(ci);
	event_base_free(base);
}

/* A statement that cannot be prepared keeps the pool not ready, and the
 * retries back off instead of spinning. */
static void
bad_statement(void)
{
	static const struct db_stmt stmts[] = {
		{ "echo", "SELECT $1::int", 1 },
		{ "bad", "SELECT * FROM gen_no_such_table", 0 },
		{ "add", "SELECT $1::int + $2::int", 2 },
	};
	struct event_base *base = event_base_new();
	char *ci = conninfo_for(APP_NAME);
	struct db_pool *p = pool_open(base, ci, 1, 100, 1000, stmts, ARRAY_LEN(stmts));
	struct tally t = { 0 };
	struct rec *r = recs_new(1, &t);
	struct db_pool_stats st;
	clock_t cpu0 = clock();

	run_for(base, 800);
	CHECK((double)(clock() - cpu0) / CLOCKS_PER_SEC < 0.3);
	db_pool_get_stats(p, &st);
	CHECK_EQ_INT(st.ready, 0);
	/* A query is refused, or starts an attempt that fails the same way. */
	if (query1(p, "echo", "1", &r[0]) == 0) {
		CHECK(wait_done(base, &t, 1, 1000));
		CHECK_EQ_INT(r[0].status, -1);
		CHECK_EQ_STR(r[0].err, "database unavailable");
	}
	db_pool_free(p);
	CHECK(r[0].calls <= 1);
	recs_free(r, 1);
	free(ci);
	event_base_free(base);
}

static void
close_and_free(void)
{
	struct event_base *base = event_base_new();
	char *ci = conninfo_for(APP_NAME);
	struct db_pool *p = pool_open(base, ci, 1, 100, 5000, base_stmts, ARRAY_LEN(base_stmts));
	struct tally t = { 0 };
	struct rec *r = recs_new(16, &t);

	CHECK(wait_ready(base, p, 1));
	for (int i = 0; i < 10; i++)
		CHECK_EQ_INT(query1(p, "echo", "5", &r[i]), 0);
	db_pool_close(p);
	CHECK_EQ_INT(query1(p, "echo", "5", &r[10]), -1);
	CHECK_EQ_INT(db_pool_pending(p), 10);
	CHECK(run_until(base, pool_drained, p, 5000));
	CHECK_EQ_INT(t.done, 10);
	for (int i = 0; i < 10; i++)
		CHECK_EQ_STR(r[i].v0, "5");
	db_pool_free(p);

	/* Freed with work queued and in flight: every callback still fires,
	 * with res == NULL, before db_pool_free returns. */
	p = pool_open(base, ci, 1, 100, 5000, base_stmts, ARRAY_LEN(base_stmts));
	CHECK(wait_ready(base, p, 1));
	CHECK_EQ_INT(query1(p, "sleep", "0.5", &r[11]), 0);
	CHECK(run_until(base, pool_has_in_flight, p, 5000));
	for (int i = 12; i < 16; i++)
		CHECK_EQ_INT(query1(p, "echo", "6", &r[i]), 0);
	db_pool_free(p);
	CHECK_EQ_INT(t.done, 15);
	for (int i = 11; i < 16; i++) {
		CHECK_EQ_INT(r[i].status, -1);
		CHECK_EQ_STR(r[i].err, "database pool shut down");
	}
	CHECK_EQ_INT(r[10].calls, 0);
	recs_free(r, 16);
	free(ci);
	event_base_free(base);
}

UNIT_MAIN("db",
    UNIT_CASE(simple_query),
    UNIT_CASE(thousand_queries),
    UNIT_CASE(error_isolated),
    UNIT_CASE(large_params),
    UNIT_CASE(refuse_bad_calls),
    UNIT_CASE(reentrant_chain),
    UNIT_CASE(connection_loss),
    UNIT_CASE(queue_timeout),
    UNIT_CASE(refuse_when_down),
    UNIT_CASE(outage_recovery),
    UNIT_CASE(statement_timeout),
    UNIT_CASE(stalled_connection_skipped),
    UNIT_CASE(hung_connection),
    UNIT_CASE(transient_states),
    UNIT_CASE(connect_params),
    UNIT_CASE(bad_statement),
    UNIT_CASE(close_and_free))
