/* hashpool.h - password verification off the event loop.
 *
 * PBKDF2 at 600,000 iterations takes hundreds of milliseconds; done on the
 * loop it would stall every other connection. A few threads per process do
 * it; results come back to the loop through a pipe and the callback runs on
 * the loop thread. The queue is bounded: past it, the caller answers 503. */
#ifndef GEN_HASHPOOL_H
#define GEN_HASHPOOL_H

#include <stddef.h>
#include <event2/event.h>

struct hashpool;

/** Called on the loop thread with ok = 1 when the password matched. */
typedef void (*hashpool_done_fn)(void *arg, int ok);

/** Start `threads` threads (call after fork). The dummy hash that an
 * unknown account is checked against costs dummy_iterations. */
struct hashpool *hashpool_new(struct event_base *base, int threads, int queue_max,
    unsigned dummy_iterations);

/** Queue a verification of password against stored (either may be NULL:
 * a dummy hash is computed so a missing account costs the same time).
 * Returns 0, or -1 when the queue is full (fn is then not called). */
int hashpool_verify(struct hashpool *hp, const char *password, size_t len,
    const char *stored, hashpool_done_fn fn, void *arg);

/** Jobs queued or running. */
int hashpool_pending(const struct hashpool *hp);

/** Stop the threads (running jobs finish; their callbacks are dropped). */
void hashpool_free(struct hashpool *hp);

#endif
