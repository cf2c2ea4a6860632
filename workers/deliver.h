/* deliver.h - the `deliver` job: one outbox message, delivered once.
 *
 * Payload {"outbox": id}, enqueued by gen_notify in the same transaction as
 * the event. The message is written to the spool directory as an RFC 5322
 * file named by its id (written to a temporary name, synced, then renamed,
 * so a reader never sees half a message), and marked delivered in the job's
 * transaction. A crash between the rename and the commit re-runs the job,
 * which writes the same file again under the same name: still one message.
 * With smtp-url set, the message goes to that relay instead (libcurl). */
#ifndef GEN_DELIVER_H
#define GEN_DELIVER_H

#include <stddef.h>
#include <time.h>

#include "job.h"

/** The runner of kind "deliver" (see job_run_fn). */
enum job_status deliver_run(PGconn *conn, const struct job *job,
    struct sbuf *result, char *err, size_t errlen);

/** Append message `id` as RFC 5322 text: headers (From, To, Subject encoded
 * as RFC 2047 UTF-8 base64 when not ASCII, Date, Message-ID, MIME-Version,
 * Content-Type text/plain UTF-8, Content-Transfer-Encoding base64) and the
 * body base64-encoded in 76-column lines. Pure. */
void deliver_format(struct sbuf *out, long long id, const char *from, const char *to,
    const char *subject, const char *body, time_t when);

#endif
