/* alerts.h - the daily `outcome_alerts` job (DESIGN §6, issue: alerts).
 *
 * For every programme with cohorts, the figures of its latest cohort (by
 * start date) are computed with figures.c against the programme's own
 * targets (its commitments). A figure `below` its target opens an alert
 * (one open alert per programme and metric) and notifies the provider
 * through the outbox; a figure back at `met` or `near` closes it. */
#ifndef GEN_ALERTS_H
#define GEN_ALERTS_H

#include "job.h"

/** The runner of kind "outcome_alerts" (see job_run_fn). */
enum job_status alerts_run(PGconn *conn, const struct job *job,
    struct sbuf *result, char *err, size_t errlen);

#endif
