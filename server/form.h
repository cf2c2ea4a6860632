/* form.h - typed views of validated documents and the rules of DESIGN §4.
 *
 * A pure core: functions take a document that xmlform_parse() accepted and
 * fill plain structs; rule checks take those structs and report violations.
 * No I/O, no SQL, no globals, so unit tests call them directly. Money is kept
 * in cents and percentages in tenths of a point, as exact integers. */
#ifndef GEN_FORM_H
#define GEN_FORM_H

#include <stdint.h>
#include <libxml/tree.h>
#include "xmlform.h"

enum call_kind { CALL_PROJECT = 0, CALL_LABEL = 1 };

enum target_metric {
	TARGET_WOMEN = 0,
	TARGET_PRIORITY_AREA,
	TARGET_LOW_QUALIFICATION,
	TARGET_POSITIVE_OUTCOME,
	TARGET_FILL_RATE,
	TARGET_METRIC_COUNT
};

/** "women", "priority-area", ... */
const char *target_metric_name(enum target_metric m);

struct call_criterion {
	char code[33];
	int weight;    /* 1..10 */
	int scale_max; /* 1..20 */
	char label[801];
};

struct call_target {
	enum target_metric metric;
	int min_tenths; /* percent x 10 */
};

/** A `call` document. Instants are kept as written (ISO 8601 with zone);
 * opens_epoch/closes_epoch are the same instants in seconds since 1970 UTC. */
struct call_doc {
	char ref[33];
	enum call_kind kind;
	char title[801];
	char opens_at[64];
	char closes_at[64];
	int64_t opens_epoch, closes_epoch;
	int has_budget;
	int64_t budget_cents;
	int has_max_request;
	int64_t max_request_cents;
	int reviewers_per_application;
	int max_load_per_reviewer;
	int n_criteria;
	struct call_criterion criteria[12];
	int n_targets;
	struct call_target targets[5];
	int threshold_tenths;         /* default 0 */
	int has_max_funding_share;
	int max_funding_share_tenths;
	int rank_calibrated;          /* rankBy: 0 raw (default), 1 calibrated */
};

/** Parse an xs:dateTime that carries a zone ("2026-01-15T09:00:00+01:00",
 * "...:00.25Z") into seconds since 1970 UTC and the fraction of the second
 * in nanoseconds (digits beyond the ninth are ignored). Checks the calendar
 * (leap years, 24:00:00 only as end of day) and the zone (at most 14:00).
 * nanos may be NULL. Returns 0, or -1 when s is not such an instant. */
int form_instant_parse(const char *s, int64_t *epoch, int32_t *nanos);

/** Fill `c` from a validated call document; then check the rules that the
 * XSD cannot express (closesAt after opensAt, budget present exactly for
 * project calls). Returns 0 when valid, -1 with errors appended. */
int form_call_extract(xmlDocPtr doc, struct call_doc *c, struct form_errors *errs);

/** The fields of a projectApplication or labelApplication that the server
 * stores or checks. Text fields are truncated copies for display. */
struct app_doc {
	enum call_kind kind;     /* project or label, from the root element */
	char call_ref[33];
	char siret[15];
	char org_name[801];
	char legal_status[16];
	char region[3];
	char contact_name[801];
	char contact_email[321];
	char title[801];
	char family[24];
	char modality[16];
	int duration_months;
	int learners;
	int cohorts;
	int women_tenths;
	int priority_area_tenths;
	int low_qualification_tenths;
	int positive_outcome_tenths;
	/* projectApplication only */
	int64_t budget_total_cents;   /* sum of budget lines */
	int64_t requested_cents;
	/* positions used by rule errors */
	int requested_line, requested_column;
	int siret_line, siret_column;
	char requested_path[128];
	/* position of the root element, for the call-kind rule */
	int root_line, root_column;
};

/** Fill `a` from a validated application document of either kind.
 * Returns 0 (the schema guarantees the fields exist). */
int form_app_extract(xmlDocPtr doc, enum form_kind kind, struct app_doc *a);

/** True when the 14-digit SIRET passes the Luhn check, or is a La Poste
 * establishment (SIREN 356000000), whose SIRETs are the known exception. */
int siret_valid(const char *siret);

/** What an application is checked against: the call as stored. */
struct call_rules {
	enum call_kind kind;
	int has_max_request;
	int64_t max_request_cents;
	int has_max_funding_share;
	int max_funding_share_tenths;
	int n_targets;
	struct call_target targets[5];
};

/** The rules of DESIGN §4 that concern the document itself (call kind,
 * SIRET Luhn, requested amount against budget, maxRequest and
 * maxFundingShare). The open/closed and ownership checks need the clock and
 * the caller's identity and are done by the caller. Returns the number of
 * violations appended to errs. */
int form_app_check(const struct app_doc *a, const struct call_rules *r,
    struct form_errors *errs);

/** Screening (DESIGN §5): the call's targets applied to the commitments.
 * Writes a human-readable reason for the first unmet target into reason
 * ("women commitment 20.0 % is below the call's minimum of 30.0 %") and
 * returns 1 when every target is met, 0 otherwise. */
int form_app_meets_targets(const struct app_doc *a, const struct call_rules *r,
    char *reason, size_t reasonlen);

#endif
