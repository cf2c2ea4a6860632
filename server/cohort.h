/* cohort.h - a cohort report made ready to store (shared by the HTTP route
 * and `genctl import cohorts`).
 *
 * From a validated cohortReport document: the rules of DESIGN §4 (and that
 * the document names the expected programme and cohort), the learners'
 * pseudonyms (the refs are replaced in the document itself, which is what
 * gets stored), the learner rows as JSON for SQL, and the additive counts
 * of DESIGN §6. Pure apart from the key it is given. */
#ifndef GEN_COHORT_H
#define GEN_COHORT_H

#include <stdint.h>
#include <libxml/tree.h>

#include "form.h"
#include "util.h"

struct pseudonym_key;

struct cohort_ready {
	struct cohort_doc doc;       /* the extracted report */
	xmlChar *stored;             /* the document with pseudonyms, UTF-8 */
	int stored_len;
	struct sbuf learners;        /* JSON array of learner rows */
	struct sbuf counts;          /* JSON array of the 11 counts */
	int64_t count[11];           /* learners, women, priority_area, low_qualification,
	                                rural, job_seeker, dropped, exited,
	                                outcome_reported, positive, duration_days */
};

/** Prepare `xml` (already validated, kind FORM_COHORT_REPORT). programme
 * and cohort, when not NULL, must be the ones the document names; today is
 * "YYYY-MM-DD". Returns 0, or -1 with every violation in errs. The
 * document is modified (refs replaced); the caller still frees it. */
int cohort_prepare(xmlDocPtr xml, const struct pseudonym_key *key, const char *programme,
    const char *cohort, const char *today, struct form_errors *errs, struct cohort_ready *out);

/** Release what cohort_prepare() allocated. */
void cohort_ready_free(struct cohort_ready *r);

struct fig_targets;

/** A programme's targets are its commitments: parse the stored application
 * (its bytes as hex, as SQL's encode(body, 'hex') gives them) and set the
 * women, priority-area, low-qualification and positive-outcome targets.
 * Returns 0, or -1 when the stored document no longer parses. */
int cohort_programme_targets(const char *body_hex, struct fig_targets *t);

/** Today's date in UTC as "YYYY-MM-DD". */
void cohort_today(char out[11]);

#endif
