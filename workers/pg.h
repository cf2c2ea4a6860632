/* pg.h - blocking libpq helpers shared by the worker's modules. */
#ifndef GEN_PG_H
#define GEN_PG_H

#include <stddef.h>
#include <libpq-fe.h>

/** Run `sql` with text parameters (NULL entries are SQL NULLs) and text
 * results (binary when `binary`). Returns the result when the statement
 * succeeded (caller PQclears it), or NULL with the server's or libpq's
 * message in err. */
PGresult *pg_exec(PGconn *c, const char *sql, int nparams,
    const char *const *values, int binary, char *err, size_t errlen);

/** pg_exec for a statement whose result is not needed: 0 or -1. */
int pg_run(PGconn *c, const char *sql, int nparams, const char *const *values,
    char *err, size_t errlen);

/** True when the connection is gone (the caller should reconnect). */
int pg_broken(PGconn *c);

#endif
