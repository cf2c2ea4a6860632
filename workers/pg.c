/* pg.c - see pg.h. */
#include "pg.h"

#include <stdio.h>
#include <string.h>

/* libpq messages end in a newline and may span lines (DETAIL, CONTEXT):
 * keep the first line, which says what went wrong. */
static void
first_line(char *err, size_t errlen, const char *msg)
{
	size_t n = strcspn(msg, "\n");

	if (n == 0)
		msg = "unknown error", n = strlen(msg);
	snprintf(err, errlen, "%.*s", (int)n, msg);
}

PGresult *
pg_exec(PGconn *c, const char *sql, int nparams, const char *const *values,
    int binary, char *err, size_t errlen)
{
	PGresult *r = PQexecParams(c, sql, nparams, NULL, values, NULL, NULL,
	    binary ? 1 : 0);
	ExecStatusType st = PQresultStatus(r);

	if (r != NULL && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK))
		return r;
	/* The primary message alone, without the "ERROR:  " severity. */
	const char *primary = r != NULL ?
	    PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	first_line(err, errlen, primary != NULL ? primary : PQerrorMessage(c));
	PQclear(r);
	return NULL;
}

int
pg_run(PGconn *c, const char *sql, int nparams, const char *const *values,
    char *err, size_t errlen)
{
	PGresult *r = pg_exec(c, sql, nparams, values, 0, err, errlen);

	PQclear(r);
	return r != NULL ? 0 : -1;
}

int
pg_broken(PGconn *c)
{
	return c == NULL || PQstatus(c) == CONNECTION_BAD;
}
