/* job.h - what a job runner sees, and the table of job kinds.
 *
 * A runner is called inside the job's transaction, after the worker has
 * locked the job row and checked that its lease is still ours. Everything
 * the runner writes through `conn` commits together with the job's 'done'
 * state, or not at all: a runner must not COMMIT, ROLLBACK or open other
 * connections for its effect. It reports how the job ended; the worker (and
 * only the worker, in queue.c) changes the job's state accordingly. */
#ifndef GEN_JOB_H
#define GEN_JOB_H

#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "config.h"
#include "util.h"

/** A claimed job, as returned by the claim. */
struct job {
	int64_t id;
	char *kind;
	char *payload;     /* jsonb as text */
	int attempts;      /* this run is attempt number `attempts` (1-based) */
	int max_attempts;  /* the smaller of the row's and the worker's limit */
	const struct gen_config *cfg; /* the worker's settings */
};

/** How a run ended. */
enum job_status {
	JOB_DONE = 0,   /* commit the effect; result holds the job's JSON result */
	JOB_RETRY,      /* roll back; retry with back-off, dead after max attempts */
	JOB_FATAL,      /* roll back; dead now (retrying cannot help) */
};

/** A job runner: do the job's effect on `conn` (inside the open job
 * transaction), append a JSON object to `result` on JOB_DONE, or write why
 * into err on JOB_RETRY/JOB_FATAL. */
typedef enum job_status (*job_run_fn)(PGconn *conn, const struct job *job,
    struct sbuf *result, char *err, size_t errlen);

/** The runner of job kind `kind`, or NULL for a kind nobody handles. */
job_run_fn job_runner(const char *kind);

#endif
