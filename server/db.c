/* db.c - see db.h.
 *
 * Shape: a pool owns N connections and one FIFO of queries not yet sent.
 * Each connection is a small state machine
 *
 *     DISCONNECTED -> CONNECTING -> PREPARING -> READY
 *                         ^              |          |
 *                         |              v          v
 *                         +--(back-off)-- BROKEN <--+
 *                            (or a query, when all are down)
 *
 * changed only by conn_set_state(). A query leaves the pool FIFO for the
 * in-flight FIFO of the least-loaded READY connection (bounded depth), goes
 * out as Bind/Execute + Sync, and completes when its PGRES_PIPELINE_SYNC
 * arrives. db_query() itself only queues, schedules a dispatch event and
 * may start a connection attempt; it never runs a callback, so callbacks may
 * call it freely: nothing here holds a pointer into a list across a
 * callback. */
#include "db.h"
#include "util.h"

#include <event2/event.h>
#include <event2/event_struct.h> /* embedded struct event, as PgBouncer */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DB_PIPELINE_DEPTH   32   /* queries in flight per connection */
#define DB_CONNECT_TIMEOUT  5000 /* ms for connect + prepare */
#define DB_BACKOFF_MIN      100  /* ms */
#define DB_BACKOFF_MAX      2000 /* ms */
#define DB_TICK_MS          100  /* queue timeout resolution */
#define DB_HUNG_GRACE_MS    2000 /* past the statement timeout: no answer = hung */
#define DB_STALL_MS         200  /* a connection silent this long takes no more work */
#define DB_MAX_PARAMS       65535

enum db_conn_state {
	DB_DISCONNECTED,
	DB_CONNECTING,
	DB_PREPARING,
	DB_READY,
	DB_BROKEN,
};

/* What the connection waits for from libpq next, for the head of its
 * in-flight FIFO (or for the prepare batch while PREPARING). */
enum db_await {
	AWAIT_RESULT, /* result(s) of the head, ended by a NULL */
	AWAIT_SYNC,   /* the PGRES_PIPELINE_SYNC that closes the head */
};

struct db_item {
	struct db_item *next;
	const struct db_stmt *stmt;
	int nparams;
	const char **values; /* copies, in the same allocation */
	int *lengths;
	int *formats;
	db_result_fn fn;
	void *arg;
	int64_t queued_at; /* usec, monotonic */
};

struct db_fifo {
	struct db_item *head, *tail;
	int n;
};

struct db_conn {
	struct db_pool *pool;
	int id;
	enum db_conn_state state;
	PGconn *pg;
	evutil_socket_t fd;      /* socket the io event watches, or -1 */
	short watching;          /* EV_READ/EV_WRITE bits armed, 0 = none */
	struct event io;         /* EV_PERSIST, on fd */
	struct event timer;      /* connect/prepare timeout, or back-off */
	int backoff_ms;          /* next back-off base */
	unsigned generation;     /* times this connection reached READY */
	int sent;                /* dispatch: got work this turn, flush it */
	int64_t progress_at;     /* usec: in-flight head sent or last completion */
	/* result tracking */
	enum db_await await;
	size_t prep_left;        /* PREPARING: prepare results still due */
	PGresult *head_res;      /* last result of the in-flight head */
	struct db_fifo inflight;
};

struct db_pool {
	struct event_base *base;
	char *conninfo;
	char *application;
	struct db_stmt *stmts; /* owned copies */
	size_t nstmts;
	int queue_max;
	int query_timeout_ms;
	int statement_timeout_ms; /* 0: none, and no hung-connection check */
	int closed;
	int nready;
	int attempt_failed; /* a connection attempt failed since the last dispatch */
	int64_t probed_at;  /* usec of the last attempt started by a query */
	uint64_t rng;
	struct db_conn *conns;
	int nconns;
	struct db_fifo queue;
	struct event dispatch; /* activated by db_query and on capacity */
	struct event tick;     /* queue timeouts, armed while queue non-empty */
	uint64_t completed, failed, refused, reconnects;
};

static void conn_connect(struct db_conn *c);
static void conn_service(struct db_conn *c);

static const char *
state_name(enum db_conn_state s)
{
	switch (s) {
	case DB_DISCONNECTED: return "disconnected";
	case DB_CONNECTING: return "connecting";
	case DB_PREPARING: return "preparing";
	case DB_READY: return "ready";
	case DB_BROKEN: return "broken";
	}
	return "?";
}

/* ---- logging ---- */

/* Print s as a double-quoted value on one line: libpq messages end in
 * newlines and may hold quotes. */
static void
log_quoted(const char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		n--;
	fputc('"', stderr);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\')
			fprintf(stderr, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", stderr);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(stderr, "\\x%02x", ch);
		else
			fputc(ch, stderr);
	}
	fputc('"', stderr);
}

static void
log_conn_error(const char *event, const struct db_conn *c, const char *error)
{
	fprintf(stderr, "event=%s conn=%d state=%s error=", event, c->id,
	    state_name(c->state));
	log_quoted(error);
	fputc('\n', stderr);
}

static void
notice_processor(void *arg, const char *message)
{
	const struct db_conn *c = arg;

	fprintf(stderr, "event=db_notice conn=%d message=", c->id);
	log_quoted(message);
	fputc('\n', stderr);
}

/* ---- small helpers ---- */

static void
fifo_push(struct db_fifo *f, struct db_item *it)
{
	it->next = NULL;
	if (f->tail)
		f->tail->next = it;
	else
		f->head = it;
	f->tail = it;
	f->n++;
}

static void
fifo_push_front(struct db_fifo *f, struct db_item *it)
{
	it->next = f->head;
	f->head = it;
	if (f->tail == NULL)
		f->tail = it;
	f->n++;
}

static struct db_item *
fifo_pop(struct db_fifo *f)
{
	struct db_item *it = f->head;

	if (it == NULL)
		return NULL;
	f->head = it->next;
	if (f->head == NULL)
		f->tail = NULL;
	f->n--;
	it->next = NULL;
	return it;
}

/* Detach the whole list, so callbacks run after it cannot disturb it. */
static struct db_item *
fifo_take_all(struct db_fifo *f)
{
	struct db_item *all = f->head;

	f->head = f->tail = NULL;
	f->n = 0;
	return all;
}

static uint64_t
pool_random(struct db_pool *p)
{
	/* xorshift64*: jitter only, no need for quality. */
	p->rng ^= p->rng >> 12;
	p->rng ^= p->rng << 25;
	p->rng ^= p->rng >> 27;
	return p->rng * 2685821657736338717ULL;
}

static struct timeval
ms_tv(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	return tv;
}

static void
pool_kick(struct db_pool *p)
{
	if (p->queue.head != NULL)
		event_active(&p->dispatch, EV_TIMEOUT, 0);
}

/* The tick runs while anything waits: queued queries (their timeout) and,
 * with a statement timeout, queries in flight (the hung-connection check). */
static int
pool_waiting(const struct db_pool *p)
{
	if (p->queue.head != NULL)
		return 1;
	if (p->statement_timeout_ms > 0)
		for (int i = 0; i < p->nconns; i++)
			if (p->conns[i].inflight.head != NULL)
				return 1;
	return 0;
}

static void
pool_tick_update(struct db_pool *p)
{
	if (!pool_waiting(p))
		evtimer_del(&p->tick);
	else if (!evtimer_pending(&p->tick, NULL)) {
		struct timeval tv = ms_tv(DB_TICK_MS);
		evtimer_add(&p->tick, &tv);
	}
}

/* Run one callback and account for it. The item is already off every list;
 * the result is freed after the callback, as db.h promises. */
static void
item_complete(struct db_pool *p, struct db_item *it, PGresult *res,
    const char *errmsg)
{
	if (res) {
		p->completed++;
		it->fn(it->arg, res, PQresultErrorMessage(res));
		PQclear(res);
	} else {
		p->failed++;
		it->fn(it->arg, NULL, errmsg);
	}
	free(it);
}

static void
fail_list(struct db_pool *p, struct db_item *list, const char *errmsg)
{
	while (list) {
		struct db_item *it = list;
		list = it->next;
		item_complete(p, it, NULL, errmsg);
	}
}

/* ---- the connection state machine ---- */

/* The only place a connection changes state. It keeps the pool's READY
 * count in step and refuses a transition not in the diagram above. */
static void
conn_set_state(struct db_conn *c, enum db_conn_state to)
{
	enum db_conn_state from = c->state;
	int ok = 0;

	switch (from) {
	case DB_DISCONNECTED:
		ok = to == DB_CONNECTING;
		break;
	case DB_CONNECTING:
		ok = to == DB_PREPARING || to == DB_BROKEN || to == DB_DISCONNECTED;
		break;
	case DB_PREPARING:
		ok = to == DB_READY || to == DB_BROKEN || to == DB_DISCONNECTED;
		break;
	case DB_READY:
		ok = to == DB_BROKEN || to == DB_DISCONNECTED;
		break;
	case DB_BROKEN:
		ok = to == DB_CONNECTING || to == DB_DISCONNECTED;
		break;
	}
	if (!ok) {
		fprintf(stderr, "event=fatal reason=db_bad_transition conn=%d from=%s to=%s\n",
		    c->id, state_name(from), state_name(to));
		abort();
	}
	if (from == DB_READY)
		c->pool->nready--;
	if (to == DB_READY)
		c->pool->nready++;
	if ((from == DB_CONNECTING || from == DB_PREPARING) && to == DB_BROKEN)
		c->pool->attempt_failed = 1;
	c->state = to;
}

static void conn_io_cb(evutil_socket_t fd, short what, void *arg);

/* Point the io event at the current socket with the wanted interest
 * (EV_READ, EV_WRITE or both; 0 for none). While connecting, `fresh` forces
 * a new registration after every PQconnectPoll step: libpq may close its
 * socket and open another (next host or address) that gets the same number,
 * and epoll forgets a closed descriptor without libevent noticing. */
static void
conn_arm(struct db_conn *c, short what, int fresh)
{
	evutil_socket_t fd = c->pg ? PQsocket(c->pg) : -1;

	if (!fresh && fd == c->fd && what == c->watching)
		return;
	if (c->watching)
		event_del(&c->io);
	c->watching = 0;
	c->fd = fd;
	if (fd < 0 || what == 0)
		return;
	event_assign(&c->io, c->pool->base, fd, what | EV_PERSIST, conn_io_cb, c);
	event_add(&c->io, NULL);
	c->watching = what;
}

/* Close the libpq side of a connection and forget its results; in-flight
 * items are the caller's business. */
static void
conn_close(struct db_conn *c)
{
	if (c->watching)
		event_del(&c->io);
	c->watching = 0;
	c->fd = -1;
	evtimer_del(&c->timer);
	if (c->head_res) {
		PQclear(c->head_res);
		c->head_res = NULL;
	}
	if (c->pg) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	c->await = AWAIT_RESULT;
	c->prep_left = 0;
}

/* The connection failed or was lost: fail what it had in flight (the
 * outcome is unknown to the caller), drop it, and try again after an
 * exponential back-off with jitter. Queued queries stay queued. */
static void
conn_broken(struct db_conn *c, const char *why)
{
	struct db_pool *p = c->pool;
	struct db_item *lost;
	int delay;

	log_conn_error(c->state == DB_CONNECTING ? "db_connect_failed" : "db_lost", c, why);
	lost = fifo_take_all(&c->inflight);
	conn_close(c);
	conn_set_state(c, DB_BROKEN);

	delay = c->backoff_ms / 2 + (int)(pool_random(p) % (uint64_t)(c->backoff_ms / 2 + 1));
	c->backoff_ms = c->backoff_ms * 2 > DB_BACKOFF_MAX ? DB_BACKOFF_MAX : c->backoff_ms * 2;
	struct timeval tv = ms_tv(delay);
	evtimer_add(&c->timer, &tv);

	/* Queued queries wait for the reconnection; if this was the attempt
	 * they waited for, the dispatch tells them the database is away. */
	pool_kick(p);
	/* Last: callbacks may queue new work, which must see this state. */
	fail_list(p, lost, "database connection lost");
}

static void
conn_broken_pg(struct db_conn *c, const char *what)
{
	char buf[512];
	const char *msg = c->pg ? PQerrorMessage(c->pg) : "";

	snprintf(buf, sizeof buf, "%s%s%s", what, *msg ? ": " : "", msg);
	conn_broken(c, buf);
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;

	switch (c->state) {
	case DB_CONNECTING:
		conn_broken(c, "connect timeout");
		break;
	case DB_PREPARING:
		conn_broken(c, "prepare timeout");
		break;
	case DB_BROKEN:
		conn_connect(c);
		break;
	case DB_DISCONNECTED:
	case DB_READY:
		break;
	}
}

void
db_params_init(struct db_params *p, const char *database_url, const char *application)
{
	static const char *const defaults[][2] = {
		{ "connect_timeout", "10" },
		{ "keepalives", "1" },
		{ "keepalives_idle", "30" },
		{ "keepalives_interval", "10" },
		{ "keepalives_count", "3" },
	};
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_LEN(defaults); i++) {
		p->keys[n] = defaults[i][0];
		p->vals[n++] = defaults[i][1];
	}
	p->keys[n] = "dbname";
	p->vals[n++] = database_url;
	if (application != NULL) {
		p->keys[n] = "fallback_application_name";
		p->vals[n++] = application;
	}
	p->keys[n] = "client_encoding";
	p->vals[n++] = "UTF8";
	p->keys[n] = p->vals[n] = NULL;
}

static void
conn_connect(struct db_conn *c)
{
	struct db_params params;

	db_params_init(&params, c->pool->conninfo, c->pool->application);
	conn_set_state(c, DB_CONNECTING);
	c->pg = PQconnectStartParams(params.keys, params.vals, 1);
	if (c->pg == NULL) {
		fprintf(stderr, "event=fatal reason=out-of-memory where=PQconnectStartParams\n");
		abort();
	}
	PQsetNoticeProcessor(c->pg, notice_processor, c);
	struct timeval tv = ms_tv(DB_CONNECT_TIMEOUT);
	evtimer_add(&c->timer, &tv);
	if (PQstatus(c->pg) == CONNECTION_BAD || PQsocket(c->pg) < 0) {
		conn_broken_pg(c, "connect");
		return;
	}
	/* As the libpq manual says: start as if PQconnectPoll said WRITING. */
	conn_arm(c, EV_WRITE, 1);
}

/* Connected: switch to non-blocking pipeline mode and send the session's
 * statement timeout and every prepare in one batch closed by one Sync. */
static void
conn_start_prepare(struct db_conn *c)
{
	struct db_pool *p = c->pool;

	conn_set_state(c, DB_PREPARING);
	if (PQsetnonblocking(c->pg, 1) != 0) {
		conn_broken_pg(c, "PQsetnonblocking");
		return;
	}
	if (!PQenterPipelineMode(c->pg)) {
		conn_broken_pg(c, "PQenterPipelineMode");
		return;
	}
	c->prep_left = p->nstmts;
	if (p->statement_timeout_ms > 0) {
		char ms[16];
		const char *v[1] = { ms };
		snprintf(ms, sizeof ms, "%d", p->statement_timeout_ms);
		if (!PQsendQueryParams(c->pg, "SELECT set_config('statement_timeout', $1, false)",
		    1, NULL, v, NULL, NULL, 0)) {
			conn_broken_pg(c, "PQsendQueryParams");
			return;
		}
		c->prep_left++;
	}
	for (size_t i = 0; i < p->nstmts; i++) {
		const struct db_stmt *s = &p->stmts[i];
		if (!PQsendPrepare(c->pg, s->name, s->sql, s->nparams, NULL)) {
			conn_broken_pg(c, "PQsendPrepare");
			return;
		}
	}
	if (!PQpipelineSync(c->pg)) {
		conn_broken_pg(c, "PQpipelineSync");
		return;
	}
	c->await = c->prep_left ? AWAIT_RESULT : AWAIT_SYNC;
	conn_service(c);
}

static void
conn_poll_connect(struct db_conn *c)
{
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		conn_arm(c, EV_READ, 1);
		break;
	case PGRES_POLLING_WRITING:
		conn_arm(c, EV_WRITE, 1);
		break;
	case PGRES_POLLING_OK:
		conn_start_prepare(c);
		break;
	case PGRES_POLLING_FAILED:
	default:
		conn_broken_pg(c, "connect");
		break;
	}
}

static void
conn_now_ready(struct db_conn *c)
{
	struct db_pool *p = c->pool;

	evtimer_del(&c->timer);
	conn_set_state(c, DB_READY);
	c->backoff_ms = DB_BACKOFF_MIN;
	c->generation++;
	if (c->generation > 1)
		p->reconnects++;
	fprintf(stderr, "event=db_connected conn=%d generation=%u server_version=%d\n",
	    c->id, c->generation, PQserverVersion(c->pg));
	pool_kick(p);
}

/* A FATAL (or PANIC) error ends the session: whatever query it is attached
 * to, the connection is gone, so it is a loss, not an SQL error. */
static int
result_is_fatal(const PGresult *r)
{
	const char *sev;

	if (PQresultStatus(r) != PGRES_FATAL_ERROR)
		return 0;
	sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
	return sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0);
}

/* One result while PREPARING. Returns 0 to go on, -1 when broken. */
static int
conn_prepare_result(struct db_conn *c, PGresult *r)
{
	struct db_pool *p = c->pool;

	if (c->await == AWAIT_RESULT) {
		if (r == NULL) {
			if (--c->prep_left == 0)
				c->await = AWAIT_SYNC;
			return 0;
		}
		/* The statement timeout first (a row), then one per statement. */
		int setting = c->prep_left > p->nstmts;
		if (PQresultStatus(r) != (setting ? PGRES_TUPLES_OK : PGRES_COMMAND_OK)) {
			const char *name = setting ? "statement_timeout" : p->stmts[p->nstmts - c->prep_left].name;
			char buf[512];
			fprintf(stderr, "event=db_prepare_failed conn=%d stmt=%s error=", c->id, name);
			log_quoted(PQresultErrorMessage(r));
			fputc('\n', stderr);
			snprintf(buf, sizeof buf, "prepare %s failed", name);
			PQclear(r);
			conn_broken(c, buf);
			return -1;
		}
		PQclear(r);
		return 0;
	}
	if (r == NULL)
		return 0;
	if (PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
		PQclear(r);
		conn_broken(c, "unexpected result while preparing");
		return -1;
	}
	PQclear(r);
	c->await = AWAIT_RESULT;
	conn_now_ready(c);
	return 0;
}

/* One result while READY, for the head of the in-flight FIFO. Returns 0
 * to go on, -1 when broken. Callbacks run here; they can only queue. */
static int
conn_query_result(struct db_conn *c, PGresult *r)
{
	struct db_pool *p = c->pool;

	if (r && result_is_fatal(r)) {
		char buf[512];
		snprintf(buf, sizeof buf, "%s", PQresultErrorMessage(r));
		PQclear(r);
		conn_broken(c, buf);
		return -1;
	}
	if (c->await == AWAIT_RESULT) {
		if (r == NULL) {
			c->await = AWAIT_SYNC;
			return 0;
		}
		if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			conn_broken(c, "pipeline out of step (sync before result)");
			return -1;
		}
		/* Keep the last result of the query. */
		if (c->head_res)
			PQclear(c->head_res);
		c->head_res = r;
		return 0;
	}
	if (r == NULL)
		return 0; /* tolerated: older libpq sent a NULL after a sync */
	if (PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
		PQclear(r);
		conn_broken(c, "pipeline out of step (result before sync)");
		return -1;
	}
	PQclear(r);

	struct db_item *it = fifo_pop(&c->inflight);
	PGresult *res = c->head_res;
	c->progress_at = now_usec();
	c->head_res = NULL;
	c->await = AWAIT_RESULT;
	pool_kick(p); /* a pipeline slot is free */
	if (res == NULL) {
		item_complete(p, it, NULL, "database returned no result");
	} else if (PQresultStatus(res) == PGRES_PIPELINE_ABORTED) {
		PQclear(res);
		item_complete(p, it, NULL, "query aborted in pipeline");
	} else {
		item_complete(p, it, res, NULL);
	}
	return 0;
}

/* Flush output, read every complete result, discard notifications. Used
 * after each send and on each readiness event: PQflush may itself read
 * input when the socket is full, leaving results in libpq's buffer that no
 * EV_READ would announce. */
static void
conn_service(struct db_conn *c)
{
	int flushed;
	int nulls = 0;
	PGnotify *n;

	flushed = PQflush(c->pg);
	if (flushed < 0) {
		conn_broken_pg(c, "PQflush");
		return;
	}
	for (;;) {
		if (c->state == DB_READY && c->inflight.head == NULL)
			break;
		if (PQisBusy(c->pg))
			break;
		PGresult *r = PQgetResult(c->pg);
		/* Two NULLs in a row mean libpq has nothing more for now;
		 * never spin on it. */
		nulls = r ? 0 : nulls + 1;
		if (nulls > 1)
			break;
		if (c->state == DB_PREPARING) {
			if (conn_prepare_result(c, r) < 0)
				return;
		} else if (conn_query_result(c, r) < 0) {
			return;
		}
	}
	while ((n = PQnotifies(c->pg)) != NULL)
		PQfreemem(n);
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		conn_broken_pg(c, "connection bad");
		return;
	}
	conn_arm(c, flushed == 1 ? EV_READ | EV_WRITE : EV_READ, 0);
}

static void
conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;

	switch (c->state) {
	case DB_CONNECTING:
		conn_poll_connect(c);
		break;
	case DB_PREPARING:
	case DB_READY:
		if ((what & EV_READ) && !PQconsumeInput(c->pg)) {
			conn_broken_pg(c, "PQconsumeInput");
			return;
		}
		conn_service(c);
		break;
	case DB_DISCONNECTED:
	case DB_BROKEN:
		break;
	}
}

/* ---- dispatch and timeouts ---- */

/* The least-loaded READY connection with room that is not stalled: with
 * work in flight and silent since before `stalled` (usec). */
static struct db_conn *
pool_pick(struct db_pool *p, int64_t stalled)
{
	struct db_conn *best = NULL;

	for (int i = 0; i < p->nconns; i++) {
		struct db_conn *c = &p->conns[i];
		if (c->state != DB_READY || c->inflight.n >= DB_PIPELINE_DEPTH)
			continue;
		/* Behind a statement that has been running a while (a lock
		 * wait), a query would wait as long, past its own timeout:
		 * it waits in the queue instead, for a connection that moves,
		 * and fails at the queue timeout if none does. */
		if (c->inflight.n > 0 && c->progress_at < stalled)
			continue;
		if (best == NULL || c->inflight.n < best->inflight.n)
			best = c;
	}
	return best;
}

/* No connection is up and none is on its way up. */
static int
pool_down(const struct db_pool *p)
{
	for (int i = 0; i < p->nconns; i++) {
		enum db_conn_state s = p->conns[i].state;
		if (s == DB_READY || s == DB_CONNECTING || s == DB_PREPARING)
			return 0;
	}
	return 1;
}

/* The pool is down and every connection waits out its back-off: a new
 * query starts one attempt at once instead of being refused until a timer
 * fires, so a database back from a restart serves the very next request.
 * At most one such attempt per DB_PROBE_GAP_MS, so an outage under load
 * costs a few connection attempts a second, not one per request. Returns 0
 * when an attempt is under way. */
static int
pool_probe(struct db_pool *p)
{
	int64_t now = now_usec();

	if (now - p->probed_at < (int64_t)DB_PROBE_GAP_MS * 1000)
		return -1;
	for (int i = 0; i < p->nconns; i++) {
		struct db_conn *c = &p->conns[i];
		if (c->state != DB_BROKEN)
			continue;
		p->probed_at = now;
		evtimer_del(&c->timer);
		conn_connect(c);
		return c->state == DB_CONNECTING || c->state == DB_PREPARING ? 0 : -1;
	}
	return -1;
}

/* Send queued queries to the least-loaded READY connections, one Sync per
 * query so an error stays with its own query, then flush each connection
 * that got work: many db_query calls in one loop turn share one write. */
static void
pool_dispatch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_pool *p = arg;
	struct db_conn *c;

	/* Queries wait through a reconnection, but once the attempts they
	 * waited for have all failed, the database is away: say so now rather
	 * than at their timeout. */
	if (p->attempt_failed) {
		p->attempt_failed = 0;
		if (pool_down(p)) {
			fail_list(p, fifo_take_all(&p->queue), "database unavailable");
			pool_tick_update(p);
			return;
		}
	}
	int64_t stalled = now_usec() - (int64_t)DB_STALL_MS * 1000;

	while (p->queue.head != NULL && (c = pool_pick(p, stalled)) != NULL) {
		struct db_item *it = fifo_pop(&p->queue);
		if (!PQsendQueryPrepared(c->pg, it->stmt->name, it->nparams,
		    it->values, it->lengths, it->formats, 0)) {
			/* Nothing of it was sent: it keeps its place. */
			fifo_push_front(&p->queue, it);
			conn_broken_pg(c, "PQsendQueryPrepared");
			continue;
		}
		if (c->inflight.head == NULL)
			c->progress_at = now_usec();
		fifo_push(&c->inflight, it);
		if (!PQpipelineSync(c->pg)) {
			conn_broken_pg(c, "PQpipelineSync");
			continue;
		}
		c->sent = 1;
	}
	for (int i = 0; i < p->nconns; i++) {
		c = &p->conns[i];
		if (c->sent && c->state == DB_READY)
			conn_service(c);
		c->sent = 0;
	}
	pool_tick_update(p);
}

static void
pool_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_pool *p = arg;
	int64_t limit = now_usec() - (int64_t)p->query_timeout_ms * 1000;

	/* The queue is in arrival order: expire from the front. Items queued
	 * by a callback here are newer and stop the loop. */
	while (p->queue.head != NULL && p->queue.head->queued_at <= limit) {
		struct db_item *it = fifo_pop(&p->queue);
		item_complete(p, it, NULL, "database unavailable (timed out)");
	}
	/* PostgreSQL cancels a statement at the statement timeout and says
	 * so; a connection that has not answered anything well past it is
	 * hung (server paused, network gone without a reset): what it had in
	 * flight fails, outcome unknown, and it is replaced. */
	if (p->statement_timeout_ms > 0) {
		int64_t hung = now_usec() -
		    (int64_t)(p->statement_timeout_ms + DB_HUNG_GRACE_MS) * 1000;
		for (int i = 0; i < p->nconns; i++) {
			struct db_conn *c = &p->conns[i];
			if (c->state == DB_READY && c->inflight.head != NULL && c->progress_at < hung)
				conn_broken(c, "no answer from the database in time");
		}
	}
	pool_tick_update(p);
}

/* ---- public API ---- */

static int
config_valid(const struct db_pool_config *cfg)
{
	if (cfg->conninfo == NULL || cfg->connections < 1 || cfg->connections > 64 ||
	    cfg->queue_max < 1 || cfg->query_timeout_ms < 1 || cfg->statement_timeout_ms < 0 ||
	    (cfg->nstmts > 0 && cfg->stmts == NULL))
		return 0;
	for (size_t i = 0; i < cfg->nstmts; i++) {
		const struct db_stmt *s = &cfg->stmts[i];
		if (s->name == NULL || s->name[0] == '\0' || s->sql == NULL ||
		    s->nparams < 0 || s->nparams > DB_MAX_PARAMS)
			return 0;
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->stmts[j].name, s->name) == 0)
				return 0;
	}
	return 1;
}

struct db_pool *
db_pool_new(struct event_base *base, const struct db_pool_config *cfg)
{
	struct db_pool *p;

	if (!config_valid(cfg)) {
		fprintf(stderr, "event=db_config_invalid\n");
		return NULL;
	}
	p = xcalloc(1, sizeof *p);
	p->base = base;
	p->conninfo = xstrdup(cfg->conninfo);
	p->application = cfg->application ? xstrdup(cfg->application) : NULL;
	p->nstmts = cfg->nstmts;
	p->stmts = xcalloc(cfg->nstmts, sizeof *p->stmts);
	for (size_t i = 0; i < cfg->nstmts; i++) {
		p->stmts[i].name = xstrdup(cfg->stmts[i].name);
		p->stmts[i].sql = xstrdup(cfg->stmts[i].sql);
		p->stmts[i].nparams = cfg->stmts[i].nparams;
	}
	p->queue_max = cfg->queue_max;
	p->query_timeout_ms = cfg->query_timeout_ms;
	p->statement_timeout_ms = cfg->statement_timeout_ms;
	p->rng = (uint64_t)now_usec() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)p;
	if (p->rng == 0)
		p->rng = 0x9e3779b97f4a7c15ULL;
	event_assign(&p->dispatch, base, -1, 0, pool_dispatch_cb, p);
	event_assign(&p->tick, base, -1, EV_PERSIST, pool_tick_cb, p);
	p->nconns = cfg->connections;
	p->conns = xcalloc((size_t)p->nconns, sizeof *p->conns);
	for (int i = 0; i < p->nconns; i++) {
		struct db_conn *c = &p->conns[i];
		c->pool = p;
		c->id = i;
		c->state = DB_DISCONNECTED;
		c->fd = -1;
		c->backoff_ms = DB_BACKOFF_MIN;
		evtimer_assign(&c->timer, base, conn_timer_cb, c);
	}
	for (int i = 0; i < p->nconns; i++)
		conn_connect(&p->conns[i]);
	return p;
}

static const struct db_stmt *
pool_find_stmt(const struct db_pool *p, const char *name)
{
	for (size_t i = 0; i < p->nstmts; i++)
		if (strcmp(p->stmts[i].name, name) == 0)
			return &p->stmts[i];
	return NULL;
}

/* One allocation holds the item and copies of every parameter. Text values
 * are NUL-terminated strings (libpq ignores their length); binary ones are
 * lengths[i] bytes. */
static struct db_item *
item_new(const struct db_stmt *s, int nparams, const char *const *values,
    const int *lengths, const int *formats)
{
	size_t n = (size_t)nparams;
	size_t head = sizeof(struct db_item) + n * sizeof(char *) + 2 * n * sizeof(int);
	size_t bytes = 0;
	struct db_item *it;
	char *data;

	for (size_t i = 0; i < n; i++) {
		if (values[i] == NULL)
			continue;
		if (formats && formats[i])
			bytes += (size_t)(lengths && lengths[i] > 0 ? lengths[i] : 0) + 1;
		else
			bytes += strlen(values[i]) + 1;
	}
	it = xcalloc(1, head + bytes);
	it->stmt = s;
	it->nparams = nparams;
	it->values = (const char **)(void *)(it + 1);
	it->lengths = (int *)(void *)(it->values + n);
	it->formats = it->lengths + n;
	data = (char *)(it->formats + n);
	for (size_t i = 0; i < n; i++) {
		size_t len;
		it->formats[i] = formats ? (formats[i] != 0) : 0;
		if (values[i] == NULL) {
			it->values[i] = NULL;
			continue;
		}
		if (it->formats[i])
			len = (size_t)(lengths && lengths[i] > 0 ? lengths[i] : 0);
		else
			len = strlen(values[i]);
		memcpy(data, values[i], len);
		data[len] = '\0';
		it->values[i] = data;
		it->lengths[i] = (int)len;
		data += len + 1;
	}
	return it;
}

int
db_query(struct db_pool *p, const char *stmt, int nparams,
    const char *const *values, const int *lengths, const int *formats,
    db_result_fn fn, void *arg)
{
	const struct db_stmt *s = pool_find_stmt(p, stmt);
	struct db_item *it;

	if (s == NULL || nparams != s->nparams || (nparams > 0 && values == NULL) ||
	    fn == NULL) {
		fprintf(stderr, "event=db_query_refused stmt=%s reason=%s\n", stmt,
		    s == NULL ? "unknown_statement" : "bad_arguments");
		p->refused++;
		return -1;
	}
	/* While a connection is on its way up, queries wait for it (bounded
	 * by the queue timeout); when none is, a query starts one, and only
	 * when it cannot is the caller told at once that the database is away. */
	if (p->closed || p->queue.n >= p->queue_max || (pool_down(p) && pool_probe(p) < 0)) {
		p->refused++;
		return -1;
	}
	it = item_new(s, nparams, values, lengths, formats);
	it->fn = fn;
	it->arg = arg;
	it->queued_at = now_usec();
	fifo_push(&p->queue, it);
	event_active(&p->dispatch, EV_TIMEOUT, 0);
	pool_tick_update(p);
	return 0;
}

void
db_pool_get_stats(const struct db_pool *p, struct db_pool_stats *out)
{
	memset(out, 0, sizeof *out);
	out->connections = p->nconns;
	out->ready = p->nready;
	out->queued = p->queue.n;
	for (int i = 0; i < p->nconns; i++)
		out->in_flight += p->conns[i].inflight.n;
	out->completed = p->completed;
	out->failed = p->failed;
	out->refused = p->refused;
	out->reconnects = p->reconnects;
}

void
db_pool_close(struct db_pool *p)
{
	p->closed = 1;
}

int
db_pool_pending(const struct db_pool *p)
{
	int n = p->queue.n;

	for (int i = 0; i < p->nconns; i++)
		n += p->conns[i].inflight.n;
	return n;
}

/* Must not be called from inside a db_result_fn of the same pool. */
void
db_pool_free(struct db_pool *p)
{
	struct db_item *left = NULL, **tail = &left;

	if (p == NULL)
		return;
	p->closed = 1;
	event_del(&p->dispatch);
	event_del(&p->tick);
	for (int i = 0; i < p->nconns; i++) {
		struct db_conn *c = &p->conns[i];
		*tail = fifo_take_all(&c->inflight);
		while (*tail)
			tail = &(*tail)->next;
		conn_close(c);
		if (c->state != DB_DISCONNECTED)
			conn_set_state(c, DB_DISCONNECTED);
	}
	*tail = fifo_take_all(&p->queue);
	/* Callbacks may still call db_query (refused: closed) or read stats. */
	fail_list(p, left, "database pool shut down");
	for (size_t i = 0; i < p->nstmts; i++) {
		free((char *)p->stmts[i].name);
		free((char *)p->stmts[i].sql);
	}
	free(p->stmts);
	free(p->conns);
	free(p->conninfo);
	free(p->application);
	free(p);
}

const char *
db_sqlstate(const PGresult *res)
{
	const char *s;

	if (res == NULL)
		return "";
	s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	return s ? s : "";
}

int
db_sqlstate_transient(const char *st)
{
	/* 08P01, a protocol violation, is our bug, not the database's state. */
	if (strncmp(st, "08", 2) == 0)
		return strcmp(st, "08P01") != 0;
	return strncmp(st, "40", 2) == 0 || strncmp(st, "53", 2) == 0 ||
	    strncmp(st, "57", 2) == 0 || strncmp(st, "58", 2) == 0;
}
