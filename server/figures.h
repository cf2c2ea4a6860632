/* figures.h - outcome figures from rollup counters (DESIGN §6).
 *
 * A pure core. The rollups keep, per cell (e.g. cohort, or programme x year
 * x region), the additive counters of struct fig_counts; a request sums the
 * cells of its selection or group with fig_add() and turns the sum into
 * FIGURES with fig_compute(). No learner is scanned per request.
 *
 * Exactness. Every rate and share is a ratio of integers: it is rounded
 * half away from zero to one decimal in integer arithmetic (1/8 = 12.5 %,
 * 1/16 = 6.25 % -> 6.3 %), and target statuses compare the exact ratio,
 * before rounding.
 *
 * Privacy. The figures "of learners" are the five shares and dropoutRate
 * (denominator learners), positiveOutcomeRate (denominator outcomeReported),
 * positiveOutcomeRateAllExits and outcomeCoverage (denominator exited).
 * When that denominator is below 10 (0 included) the figure is null and
 * listed in "suppressed". fillRate (about seats) and averageDurationMonths
 * (about cohorts) are never suppressed; they are null only when their
 * denominator (plannedSeats, cohorts) is 0. A null figure's target, if any,
 * is still reported, with status null. */
#ifndef GEN_FIGURES_H
#define GEN_FIGURES_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/** Additive counters of one rollup cell; all sums of integers. */
struct fig_counts {
	int64_t learners;
	int64_t cohorts;
	int64_t planned_seats;      /**< sum of the cohorts' plannedSeats */
	int64_t women;              /**< gender F */
	int64_t priority_area;
	int64_t low_qualification;  /**< qualification none, 3 or 4 */
	int64_t rural;
	int64_t job_seeker;
	int64_t dropped;            /**< status dropped */
	int64_t exited;             /**< status completed or dropped */
	int64_t outcome_reported;   /**< exited, with an outcome other than unknown */
	int64_t positive;           /**< exited, with one of the five positive outcomes */
	int64_t duration_days_sum;  /**< sum over cohorts of endDate - startDate, days */
};

/** The derived figures, in FIGURES order. */
enum fig_id {
	FIG_FILL_RATE,
	FIG_WOMEN_SHARE,
	FIG_PRIORITY_AREA_SHARE,
	FIG_LOW_QUALIFICATION_SHARE,
	FIG_RURAL_SHARE,
	FIG_JOB_SEEKER_SHARE,
	FIG_DROPOUT_RATE,
	FIG_POSITIVE_OUTCOME_RATE,
	FIG_POSITIVE_OUTCOME_RATE_ALL_EXITS,
	FIG_OUTCOME_COVERAGE,
	FIG_AVERAGE_DURATION_MONTHS,
	FIG_ID_COUNT
};

/** Target metrics, in the order of DESIGN §6. Each is checked against one
 * figure: women -> womenShare, priority-area -> priorityAreaShare,
 * low-qualification -> lowQualificationShare, positive-outcome ->
 * positiveOutcomeRate (over reported outcomes), fill-rate -> fillRate. */
enum fig_metric {
	FIG_METRIC_WOMEN,
	FIG_METRIC_PRIORITY_AREA,
	FIG_METRIC_LOW_QUALIFICATION,
	FIG_METRIC_POSITIVE_OUTCOME,
	FIG_METRIC_FILL_RATE,
	FIG_METRIC_COUNT
};

/** Targets of a selection: set[m] says whether metric m has one, tenths[m]
 * is its minimum in tenths of a percent (30 % = 300). */
struct fig_targets {
	int set[FIG_METRIC_COUNT];
	int tenths[FIG_METRIC_COUNT];
};

/** A target's status; FIG_STATUS_NULL when the figure is null. */
enum fig_status { FIG_STATUS_NULL = 0, FIG_STATUS_MET, FIG_STATUS_NEAR, FIG_STATUS_BELOW };

/** One derived figure: a percentage (or, for averageDurationMonths, a
 * number of months) rounded half away from zero to one decimal. */
struct fig_value {
	int present;                /**< 0: null */
	int suppressed;             /**< null because of the privacy rule */
	int64_t tenths;             /**< the rounded value times 10, when present */
};

/** A target and its status. */
struct fig_target_value {
	int set;
	int tenths;                 /**< the target, tenths of a percent */
	enum fig_status status;
};

/** FIGURES of one selection or group. */
struct fig_values {
	int64_t learners;
	int64_t cohorts;
	int64_t planned_seats;
	struct fig_value v[FIG_ID_COUNT];
	struct fig_target_value targets[FIG_METRIC_COUNT];
};

/** Smallest denominator at which a figure of learners is published. */
#define FIG_MIN_DENOMINATOR 10
/** "near" means at most this many percentage points below the target. */
#define FIG_NEAR_POINTS 5

/** The FIGURES field name of a figure ("fillRate", ...). */
const char *fig_name(enum fig_id id);
/** The name of a target metric ("women", "priority-area", ...). */
const char *fig_metric_name(enum fig_metric m);
/** The status as in DESIGN §6 ("met", "near", "below"), or NULL. */
const char *fig_status_name(enum fig_status s);

/** Number of counters in the column order used by the rollups and by
 * fig_counts_from_array(). */
#define FIG_COUNT_COLUMNS 13

/** Fill c from the counters in rollup column order: cohorts, planned_seats,
 * learners, women, priority_area, low_qualification, rural, job_seeker,
 * dropped, exited, outcome_reported, positive, duration_days. */
void fig_counts_from_array(const int64_t v[FIG_COUNT_COLUMNS], struct fig_counts *c);

/** Add b's counters to a's (merging rollup cells). */
void fig_add(struct fig_counts *a, const struct fig_counts *b);

/** Check that the counters are consistent (none negative; each part within
 * its whole: women..job_seeker and exited <= learners, dropped <= exited,
 * positive <= outcome_reported <= exited). Returns 0, or -1 with err filled.
 * fig_compute() does not need it; it tells a rollup bug from data. */
int fig_counts_check(const struct fig_counts *c, char *err, size_t errlen);

/** The national default targets: women 30 %, positive-outcome 70 %. */
void fig_targets_national(struct fig_targets *t);

/** Compute FIGURES from summed counters; targets may be NULL (none). */
void fig_compute(const struct fig_counts *c, const struct fig_targets *t, struct fig_values *out);

/** Append the FIGURES object, e.g. {"learners":12,...,"suppressed":[]}.
 * Numbers with one decimal are written with exactly one ("12.0");
 * "targets" lists only the metrics that have a target. */
void fig_write_json(const struct fig_values *v, struct sbuf *out);

/** Append the FIGURES members without the braces, so that a caller can
 * write {"group":"...",<members>} for a group. */
void fig_write_json_members(const struct fig_values *v, struct sbuf *out);

/** Append the CSV header line (RFC 4180, CRLF): group, the FIGURES columns
 * in order, then womenTarget, womenStatus, priorityAreaTarget, ...,
 * fillRateTarget, fillRateStatus (metrics in order), then suppressed. */
void fig_write_csv_header(struct sbuf *out);

/** Append one CSV line for a group ("total" for the total row): null is an
 * empty cell, "suppressed" is the names joined by ';'. The group value is
 * quoted when needed and a leading = + - @ is neutralised with a quote
 * character so that spreadsheets do not run it. */
void fig_write_csv_row(const char *group, const struct fig_values *v, struct sbuf *out);

#endif
