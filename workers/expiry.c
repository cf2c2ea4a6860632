/* expiry.c - see expiry.h. */
#include "expiry.h"

#include <stdio.h>

#include "pg.h"

enum job_status
expiry_run(PGconn *conn, const struct job *job, struct sbuf *result, char *err, size_t errlen)
{
	const char *values[1] = { job->payload };
	PGresult *res = pg_exec(conn, "SELECT gen_label_expiry(($1::jsonb->>'day')::date)::text",
	    1, values, 0, err, errlen);

	if (res == NULL)
		return JOB_RETRY;
	sbuf_adds(result, PQgetvalue(res, 0, 0));
	PQclear(res);
	return JOB_DONE;
}
