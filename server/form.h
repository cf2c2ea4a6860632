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

/* ---- vocabularies shared by several documents ---------------------------- */

/** Profession families (DESIGN §4), in the order of the grammar. */
enum family {
	FAMILY_DEVELOPMENT = 0,
	FAMILY_INFRASTRUCTURE,
	FAMILY_CYBERSECURITY_CLOUD,
	FAMILY_DATA_AI_IOT,
	FAMILY_DESIGN,
	FAMILY_DIGITAL_MARKETING,
	FAMILY_MANAGEMENT,
	FAMILY_COUNT
};

/** "development", "cybersecurity-cloud", ...; "unknown" when out of range. */
const char *family_name(enum family f);
/** The family called `name` (exact spelling of the schema), or -1. */
int family_from_name(const char *name);

/** The INSEE region codes of DESIGN §4. */
#define REGION_COUNT 18
/** Index 0..REGION_COUNT-1 of region code `code` ("01" ... "94", in the
 * order of DESIGN §4), or -1 when it is not one. */
int region_index(const char *code);
/** Code of region index `index` ("84"), or NULL when out of range. */
const char *region_code(int index);

/** Qualification levels are kept as ints: 0 for `none`, else 3..8. */
#define QUALIFICATION_NONE 0
/** 1 when the level is "A-level or below" (none, 3 or 4), else 0. */
int qualification_low(int level);

/* ---- reviewer ------------------------------------------------------------ */

/** A `reviewer` document. */
struct reviewer_doc {
	char email[255];        /* lower-cased */
	char name[801];
	unsigned families;      /* bit (1u << enum family) per family listed */
	uint32_t regions;       /* bit (1u << region_index()) per region listed */
	int max_load;           /* 1..200 */
	int has_employer;
	char employer_siret[15];
};

/** Fill `r` from a validated reviewer document and check that employerSiret,
 * when given, passes the Luhn check (siret_valid). A family or region listed
 * twice counts once. Returns 0, or -1 with errors appended. */
int form_reviewer_extract(xmlDocPtr doc, struct reviewer_doc *r,
    struct form_errors *errs);

/* ---- panel --------------------------------------------------------------- */

#define PANEL_MEMBERS_MAX 1000

/** Line and column of an element. */
struct form_pos {
	int line, column;
};

/** A `panel` document; members and member_pos are heap memory owned by the
 * struct. */
struct panel_doc {
	char call_ref[33];
	struct form_pos root;   /* the panel element (its @call) */
	int n_members;
	char (*members)[255];   /* n_members lower-cased e-mails, document order */
	struct form_pos *member_pos;
};

/** Fill `p` from a validated panel document; a member listed twice (e-mails
 * compared without regard to case) is an error located at the repeat.
 * Returns 0, or -1 with errors appended. Free with form_panel_free() in
 * either case. */
int form_panel_extract(xmlDocPtr doc, struct panel_doc *p,
    struct form_errors *errs);
/** Release what form_panel_extract() allocated; `p` may be reused after. */
void form_panel_free(struct panel_doc *p);

/* ---- conflict ------------------------------------------------------------ */

/** A `conflict` document. */
struct conflict_doc {
	char reviewer[255];     /* lower-cased e-mail */
	char siret[15];
	char reason[4001];
};

/** Fill `c` from a validated conflict document and check the SIRET's Luhn
 * digit. Returns 0, or -1 with errors appended. */
int form_conflict_extract(xmlDocPtr doc, struct conflict_doc *c,
    struct form_errors *errs);

/* ---- review -------------------------------------------------------------- */

enum review_recommendation { REVIEW_FUND = 0, REVIEW_REJECT, REVIEW_DISCUSS };

/** "fund", "reject", "discuss". */
const char *review_recommendation_name(enum review_recommendation r);

#define REVIEW_SCORES_MAX 12

/** One `score` element. */
struct review_score {
	char criterion[33];
	int64_t value;          /* meaningful when value_ok */
	int value_ok;           /* 0 when the integer does not fit in int64 */
	char value_text[32];    /* the value as written (trimmed, cut), for messages */
	int line, column;       /* of the score element */
	char path[64];          /* "/review/score[2]" */
};

/** A `review` document; comment and feedback are heap strings owned by the
 * struct (never NULL after a successful extraction). */
struct review_doc {
	enum review_recommendation recommendation;
	int confidence;         /* 1..3 */
	int n_scores;
	struct review_score scores[REVIEW_SCORES_MAX];
	char *comment;          /* to the committee */
	char *feedback;         /* to the provider, after the decision */
	int root_line, root_column;
};

/** Fill `r` from a validated review document. Returns 0, or -1 (not a
 * review) with an error appended. Free with form_review_free(). */
int form_review_extract(xmlDocPtr doc, struct review_doc *r,
    struct form_errors *errs);
/** Release the review's strings; `r` may be reused after. */
void form_review_free(struct review_doc *r);

/** The review rule of DESIGN §4 against the criteria of the application's
 * call: exactly one score per criterion (a missing criterion, an unknown
 * code and a repeated one are each an error), each value within
 * 0..scaleMax of its criterion. Returns the number of violations appended. */
int form_review_check(const struct review_doc *r,
    const struct call_criterion *criteria, int n, struct form_errors *errs);

/* ---- decisions ----------------------------------------------------------- */

enum decision_outcome {
	DECISION_FUNDED = 0,
	DECISION_LABELLED,
	DECISION_REJECTED,
	DECISION_WAITLISTED
};

/** "funded", "labelled", "rejected", "waitlisted". */
const char *decision_outcome_name(enum decision_outcome o);

#define DECISIONS_MAX 1000

/** One `decision` element; rationale is a heap string owned by the doc. */
struct decision {
	char application[16];   /* tracking number */
	enum decision_outcome outcome;
	int has_amount;
	int64_t amount_cents;
	char *rationale;
	int line, column;       /* of the decision element */
	char path[48];          /* "/decisions/decision[3]" */
};

/** A `decisions` document; items is heap memory owned by the struct. */
struct decisions_doc {
	char call_ref[33];
	struct form_pos root;   /* the decisions element (its @call) */
	int n;
	struct decision *items; /* n decisions, document order */
};

/** Fill `d` from a validated decisions document; an application decided
 * twice is an error located at the repeat's @application. Whether each
 * outcome fits the call's kind, and the applications' calls and states, are
 * the caller's checks. Returns 0, or -1 with errors appended. Free with
 * form_decisions_free() in either case. */
int form_decisions_extract(xmlDocPtr doc, struct decisions_doc *d,
    struct form_errors *errs);
/** Release what form_decisions_extract() allocated. */
void form_decisions_free(struct decisions_doc *d);

/* ---- cohortReport -------------------------------------------------------- */

enum learner_status { LEARNER_ENROLLED = 0, LEARNER_COMPLETED, LEARNER_DROPPED };

/** "enrolled", "completed", "dropped". */
const char *learner_status_name(enum learner_status s);

/** Outcome kinds (DESIGN §4); the first five are positive. */
enum outcome_kind {
	OUTCOME_EMPLOYED_PERMANENT = 0,
	OUTCOME_EMPLOYED_FIXED_TERM,
	OUTCOME_WORK_STUDY,
	OUTCOME_BUSINESS_CREATION,
	OUTCOME_FURTHER_TRAINING,
	OUTCOME_JOB_SEEKING,
	OUTCOME_INACTIVE,
	OUTCOME_UNKNOWN,
	OUTCOME_KIND_COUNT
};

/** "employed-permanent", ...; "unknown" when out of range. */
const char *outcome_kind_name(enum outcome_kind k);
/** The outcome kind called `name`, or -1. */
int outcome_kind_from_name(const char *name);
/** 1 for the five positive kinds, else 0. */
int outcome_kind_positive(enum outcome_kind k);

#define COHORT_LEARNERS_MAX 5000

/** One `learner` element. Dates are "YYYY-MM-DD" (a zone, which xs:date
 * allows, is dropped: a date names a calendar day), "" when absent. */
struct cohort_learner {
	char ref[257];          /* text(1..64): up to 256 bytes of UTF-8 */
	char gender;            /* 'F', 'M' or 'X' */
	int birth_year;         /* 1900..2100 */
	int qualification;      /* QUALIFICATION_NONE or 3..8 */
	int priority_area, rural, job_seeker; /* booleans */
	char region[3];
	enum learner_status status;
	int has_exit;
	char exit_date[11];
	int has_qpv;
	char qpv_code[11];
	int has_outcome;
	enum outcome_kind outcome;
	char outcome_at[11];
	int line, column;       /* of the learner element */
	int outcome_line, outcome_column;
};

/** A `cohortReport` document; learners is heap memory owned by the struct. */
struct cohort_doc {
	char programme[16];     /* tracking number */
	char cohort[33];
	char start_date[11], end_date[11];
	int planned_seats;
	char region[3];
	int n_learners;
	struct cohort_learner *learners; /* n_learners, document order */
	int root_line, root_column;
	int start_line, start_column, end_line, end_column;
};

/** Fill `c` from a validated cohortReport document. Returns 0, or -1 (not
 * a cohortReport) with an error appended. Free with form_cohort_free(). */
int form_cohort_extract(xmlDocPtr doc, struct cohort_doc *c,
    struct form_errors *errs);
/** The cohortReport rules of DESIGN §4: endDate not before startDate; a
 * learner's exitDate present exactly when its status is completed or
 * dropped, and within [startDate, today]; an outcome only for a learner who
 * has exited, dated on or after the exit; learner refs unique. `today` is
 * "YYYY-MM-DD" (NULL: no upper bound). Returns the number of violations
 * appended to errs, in document order. */
int form_cohort_check(const struct cohort_doc *c, const char *today,
    struct form_errors *errs);
/** Release the learners; `c` may be reused after. */
void form_cohort_free(struct cohort_doc *c);

#endif
