/* queue.h - every change of a job's state, in one module.
 *
 * Job states: queued -> running (claim) -> done (in the job's own
 * transaction) | queued (retry after back-off) | dead (out of attempts, or a
 * failure that retrying cannot fix). A running job whose lease expired while
 * no live session holds its row goes back to queued (or dead when it has
 * used its attempts). No other code writes jobs.state.
 *
 * A worker holds its job's row lock (FOR UPDATE) for the whole job
 * transaction, and the reaper skips locked rows, so a slow job is never
 * taken away from a live worker; the lease only rescues jobs whose worker
 * died. Blocking libpq: these run in the worker process only. */
#ifndef GEN_QUEUE_H
#define GEN_QUEUE_H

#include <stddef.h>
#include <libpq-fe.h>

#include "job.h"

/** Free expired leases. A freed job is queued again to run at once, or dead
 * when its attempts are used up (attempts >= min(its max_attempts,
 * max_attempts)). Logs each one. Returns how many, or -1 with err filled. */
int queue_reap(PGconn *c, int max_attempts, char *err, size_t errlen);

/** Claim the oldest ready job for worker `me` with a lease of
 * lease_seconds, counting the attempt. Returns 1 with *job filled (free it
 * with queue_job_free), 0 when no job is ready, -1 with err filled. */
int queue_claim(PGconn *c, const char *me, int lease_seconds, int max_attempts,
    struct job *job, char *err, size_t errlen);

/** Free what queue_claim put in *job. */
void queue_job_free(struct job *job);

/** Inside the job's open transaction: lock the job row and check that the
 * lease is still ours (running, locked by `me`, same attempt). Returns 1
 * when it is, 0 when the lease was lost, -1 with err filled. */
int queue_lock(PGconn *c, const char *me, const struct job *job, char *err,
    size_t errlen);

/** Inside the job's transaction, after queue_lock: mark it done with
 * `result` (a JSON object). Returns 0, or -1 with err filled. */
int queue_done(PGconn *c, const char *me, const struct job *job,
    const char *result, char *err, size_t errlen);

/** Outside any transaction, after the job's was rolled back: record the
 * failure `error`. fatal, or no attempts left: the job is dead; else it is
 * queued again to run in delay_ms. Returns 1 when now dead, 0 when queued
 * again, 2 when the job was no longer ours (nothing changed), -1 with err
 * filled. */
int queue_fail(PGconn *c, const char *me, const struct job *job, int fatal,
    const char *error, long delay_ms, char *err, size_t errlen);

/** Milliseconds until a queued job becomes due or a live lease expires,
 * whichever is first, within [floor_ms, cap_ms]; cap_ms when there is
 * neither; -1 with err filled on a database error. */
long queue_next_wake(PGconn *c, long floor_ms, long cap_ms, char *err,
    size_t errlen);

/** Back-off before the run after failed attempt `attempts` (1-based):
 * 2^attempts seconds scaled by a jitter factor in [0.8, 1.2) drawn from rnd
 * (any 32-bit value), never more than 300 s. Pure. */
long queue_backoff_ms(int attempts, unsigned rnd);

/** Schedule today's daily jobs (label expiry) if no worker did yet.
 * Returns 0 or -1 with err filled. */
int queue_schedule_daily(PGconn *c, char *err, size_t errlen);

#endif
