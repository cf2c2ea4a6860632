/* expiry.h - the daily `label_expiry` job (DESIGN §5).
 *
 * Payload {"day": "YYYY-MM-DD"}, scheduled once a day by whichever worker
 * comes first (queue_schedule_daily). In the job's transaction,
 * gen_label_expiry(day) expires labels past their validUntil (programme and
 * application, audited) and announces once those expiring within 60 days,
 * through the outbox. */
#ifndef GEN_EXPIRY_H
#define GEN_EXPIRY_H

#include "job.h"

/** The runner of kind "label_expiry" (see job_run_fn). */
enum job_status expiry_run(PGconn *conn, const struct job *job,
    struct sbuf *result, char *err, size_t errlen);

#endif
