/* assign_job.h - the `assign` job: the optimal reviewer assignment of one
 * call (DESIGN §5 "Assignment").
 *
 * Payload {"call": id, "by": user id or null}, queued by the staff route.
 * In the job's transaction:
 *  1. lock the call row, then its applications in state 'eligible';
 *  2. load those applications (family, region, SIRET, and the contact
 *     e-mail of the current version's document) and the call's panel
 *     (families, regions, seats left = gen_capacity_left, employer SIRET,
 *     e-mail); no eligible application or no panel is a fatal error;
 *  3. record the automatic conflicts (source 'employer': the reviewer's
 *     employer SIRET is the applicant's; source 'email-domain': the
 *     reviewer's e-mail domain is the contact's and not a public webmail
 *     domain), then take every conflict of any source between a panel
 *     member and an applying organisation;
 *  4. write the canonical input text (assign_input.h), parse it back and
 *     solve the problem built from the parsed form, so a replay follows the
 *     same path; assign_check must accept the result (else fatal: an
 *     unverified result is never stored);
 *  5. store the run (input, its SHA-256, params, result JSON, its SHA-256),
 *     its assignments (origin 'optimiser'), move every eligible application
 *     to 'in-review' through gen_app_transition, notify each reviewer who
 *     got seats (gen_notify, one message listing the dossiers), and audit
 *     'assignment.run' with the input hash.
 * Result {"run":N,"filled":F,"unfilled":U,"totalAffinity":A,"diagnosis":…}. */
#ifndef GEN_ASSIGN_JOB_H
#define GEN_ASSIGN_JOB_H

#include <stddef.h>

#include "job.h"

/** The runner of kind "assign" (see job_run_fn). */
enum job_status assign_job_run(PGconn *conn, const struct job *job,
    struct sbuf *result, char *err, size_t errlen);

#endif
