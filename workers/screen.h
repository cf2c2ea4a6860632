/* screen.h - the `screen` job: eligibility screening of DESIGN §5.
 *
 * Payload {"application": id, "version": n}, enqueued by gen_submit for each
 * version received. In the job's transaction: lock the application; a job for
 * a version that is no longer current, or an application no longer in
 * 'submitted', is done with {"skipped": "superseded" | "state <x>"}.
 * Otherwise the application goes submitted -> screening -> eligible |
 * ineligible through gen_app_transition (audited, actor "worker"), after the
 * stored version is parsed and validated again and checked against the
 * rules of DESIGN §4 and the call's targets. Result {"state","reason"}. */
#ifndef GEN_SCREEN_H
#define GEN_SCREEN_H

#include <stddef.h>

#include "form.h"
#include "job.h"

/** The runner of kind "screen" (see job_run_fn). */
enum job_status screen_run(PGconn *conn, const struct job *job,
    struct sbuf *result, char *err, size_t errlen);

/** The decision on one stored document, without SQL: parse and validate
 * `len` bytes, check that it is an application, then the document rules
 * (form_app_check), that it names call `call_ref`, siret_valid, and the
 * call's targets (form_app_meets_targets), in that order. Returns 1 eligible, 0
 * ineligible with the first violation's message in reason, -1 when the
 * stored bytes no longer parse or validate (a system fault, not the
 * provider's: reason says why). */
int screen_decide(const char *body, size_t len, const char *call_ref,
    const struct call_rules *rules, char *reason, size_t reasonlen);

#endif
