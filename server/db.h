/* db.h - a non-blocking PostgreSQL pool for one libevent loop.
 *
 * Each process owns one pool of a few libpq connections, all driven by its
 * event base: non-blocking connect (PQconnectStartParams/PQconnectPoll),
 * PQsetnonblocking, pipeline mode, and every statement prepared once per
 * connection generation. A query is one prepared statement followed by one
 * Sync, so each query is its own implicit transaction and one failing
 * statement never aborts another caller's. Queries wait in one bounded FIFO,
 * also while a connection is being (re-)established; past the bound, or
 * when the database is away (every attempt failed and the one a new query
 * may start at once, at most every 100 ms, cannot begin), db_query()
 * refuses at once so the caller can answer 503, and queued queries fail as
 * soon as the attempts they waited for have failed. A lost connection fails
 * its in-flight queries (outcome unknown to the caller, who must answer 503)
 * and is re-established in the background with back-off; statements are
 * prepared again on the new connection. Nothing here blocks the loop. */
#ifndef GEN_DB_H
#define GEN_DB_H

#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>
#include <libpq-fe.h>

/** A named statement, prepared on every connection. */
struct db_stmt {
	const char *name;
	const char *sql;
	int nparams; /* all parameters are sent as text unless formats say so */
};

struct db_pool;

/** While the database is away, queries start at most one connection
 * attempt per this many milliseconds. */
#define DB_PROBE_GAP_MS 100

/** Called exactly once per accepted query, on the loop thread.
 * res: the statement's result (PGRES_TUPLES_OK, PGRES_COMMAND_OK or
 * PGRES_FATAL_ERROR for an SQL error -- check PQresultStatus and
 * PG_DIAG_SQLSTATE); the pool frees it after the callback returns.
 * res is NULL when the query could not run or its outcome is unknown
 * (connection lost, timed out in the queue, pool shutting down); errmsg then
 * says why. */
typedef void (*db_result_fn)(void *arg, PGresult *res, const char *errmsg);

struct db_pool_config {
	const char *conninfo;      /* libpq connection string */
	const char *application;   /* fallback_application_name (NULL: none) */
	int connections;           /* per process, 1..64 */
	int queue_max;             /* queued queries beyond which db_query refuses */
	int query_timeout_ms;      /* max wait in the queue before failing */
	int statement_timeout_ms;  /* PostgreSQL's statement_timeout on every
	                            * connection (0: none); a connection that
	                            * answers nothing for 2 s past it is hung:
	                            * its queries fail and it is replaced */
	const struct db_stmt *stmts;
	size_t nstmts;
};

/** Create the pool and start connecting (returns at once). */
struct db_pool *db_pool_new(struct event_base *base, const struct db_pool_config *cfg);

/** Queue prepared statement `stmt` with its parameters (copied, so the
 * caller's buffers may go away). lengths/formats may be NULL for text.
 * Returns 0 when accepted (fn will be called exactly once), or -1 when
 * refused: unknown statement, queue full, database away (no connection up
 * or on its way up, and none could be started), or shutting down (fn is
 * not called). An accepted query waits up to query_timeout_ms. */
int db_query(struct db_pool *p, const char *stmt, int nparams,
    const char *const *values, const int *lengths, const int *formats,
    db_result_fn fn, void *arg);

/** Pool figures for /metrics and /healthz. */
struct db_pool_stats {
	int connections;     /* configured */
	int ready;           /* connected and prepared */
	int queued;          /* waiting for a connection */
	int in_flight;       /* sent, result not yet received */
	uint64_t completed;  /* callbacks with a result */
	uint64_t failed;     /* callbacks with res == NULL */
	uint64_t refused;    /* db_query returned -1 */
	uint64_t reconnects; /* connections re-established */
};
void db_pool_get_stats(const struct db_pool *p, struct db_pool_stats *out);

/** Stop accepting queries; queued and in-flight ones still complete. */
void db_pool_close(struct db_pool *p);
/** Queries still queued or in flight (0 once drained). */
int db_pool_pending(const struct db_pool *p);
/** Fail whatever is left and free everything. */
void db_pool_free(struct db_pool *p);

/** SQLSTATE of an error result ("23505"), or "" for success/none. */
const char *db_sqlstate(const PGresult *res);

/** Keywords and values for PQconnectdbParams / PQconnectStartParams with
 * expand_dbname = 1. Before the connection string, defaults it may
 * override: connect_timeout 10 s, and TCP keepalives (after 30 s idle,
 * every 10 s, 3 probes) so a database host gone silent is noticed in about
 * a minute even on an idle connection. After it, what always holds: the
 * fallback application name and UTF-8. */
struct db_params {
	const char *keys[9];
	const char *vals[9];
};
void db_params_init(struct db_params *p, const char *database_url, const char *application);

/** An SQLSTATE that says the database cannot serve now rather than that
 * the query is wrong: connection (08, but not the protocol violation
 * 08P01), transaction rollback (40: deadlock, serialization), insufficient
 * resources (53: disk full, out of memory, too many connections), operator
 * intervention (57: cancelled, statement timeout, shutting down), system
 * error (58: I/O). Worth a 503 and a retry, not a 500. */
int db_sqlstate_transient(const char *sqlstate);

#endif
