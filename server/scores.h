/* scores.h - review totals, calibration, disagreement and ranking (DESIGN §5).
 *
 * A pure core: plain structs in, plain structs out, no SQL and no globals.
 * The caller loads one call's criteria, applications and *submitted* reviews,
 * calls score_rank() and stores or renders the result.
 *
 * Exactness. Every review of a call uses the same criteria, so every total
 * T = 100 * sum(w_c * s_c / scaleMax_c) / sum(w_c) is an integer N over one
 * common denominator D of the call. Raw scores, the disagreement spread
 * (variance compared with 225), the threshold comparison and the raw-score
 * ordering are therefore computed exactly in integers; no binary rounding
 * error can move a tie. Calibrated values involve square roots and are
 * doubles (long double internally); whether a reviewer is calibrated
 * (sigma_r > 0) is still decided exactly on the variance numerator. */
#ifndef GEN_SCORES_H
#define GEN_SCORES_H

#include <stddef.h>
#include <stdint.h>

/** At most this many reviews, and applications, per call (keeps every
 * intermediate in range). */
#define SCORE_MAX_REVIEWS 100000
/** At most this many criteria per call (DESIGN allows 2..12). */
#define SCORE_MAX_CRITERIA 64
/** Bound on the call's common denominator D (the criteria of DESIGN §4,
 * weights 1..10 and scaleMax 1..20, stay below 2e9). */
#define SCORE_MAX_DENOMINATOR 100000000000LL

/** A review's recommendation. */
enum score_rec { SCORE_REC_FUND = 1, SCORE_REC_REJECT, SCORE_REC_DISCUSS };
/** A call's kind: project calls have a budget line, label calls do not. */
enum score_kind { SCORE_CALL_PROJECT = 1, SCORE_CALL_LABEL };
/** Which score orders the ranking first (the call's rankBy). */
enum score_rank_by { SCORE_RANK_RAW = 1, SCORE_RANK_CALIBRATED };

/** Bits of score_row.disagreement. */
enum {
	SCORE_DISAGREE_SPREAD = 1,      /**< std-dev of raw totals > 15 */
	SCORE_DISAGREE_FUND_REJECT = 2, /**< both fund and reject recommended */
};

/** An exact non-negative rational num/den, reduced, den > 0. */
struct score_q {
	int64_t num;
	int64_t den;
};

/** One criterion of the call: weight 1..1000, scale_max 1..1000. */
struct score_criterion {
	int weight;
	int scale_max;
};

/** The call's parameters. */
struct score_call {
	enum score_kind kind;
	enum score_rank_by rank_by;
	int threshold_tenths;      /**< threshold in tenths of a point, 0..1000 */
	int64_t budget_cents;      /**< project calls: >= 0; ignored for labels */
	const struct score_criterion *criteria;
	size_t n_criteria;         /**< 1..SCORE_MAX_CRITERIA */
};

/** One application of the call (those without a review are not ranked). */
struct score_app {
	int id;
	int64_t first_receipt;     /**< sortable key, e.g. microseconds since epoch */
	int64_t requested_cents;   /**< project calls: >= 0; ignored for labels */
};

/** One submitted review: values[i] scores criteria[i], 0..scale_max. */
struct score_review {
	int app;                   /**< score_app.id */
	int reviewer;              /**< any stable reviewer id */
	enum score_rec recommendation;
	int n;                     /**< number of values, = call's n_criteria */
	const int *values;
};

/** One ranked application. */
struct score_row {
	int app;
	int rank;                  /**< 1-based position; no shared ranks */
	struct score_q raw;        /**< exact raw score (mean of totals) */
	double raw_score;          /**< raw, for display */
	double calibrated_score;   /**< mean of the calibrated totals T' */
	int reviews;               /**< submitted reviews (>= 1) */
	int calibrated_reviews;    /**< how many of them had T' != T applied */
	double spread;             /**< population std-dev of the raw totals */
	int disagreement;          /**< SCORE_DISAGREE_* bits, 0 = none */
	int64_t first_receipt;
	int64_t requested_cents;   /**< as given (0 for label calls) */
	int above_threshold;       /**< raw >= threshold, exactly */
	/** Project calls: 1 when inside the budget line. 0 for an application
	 * below the threshold (skipped, never funded from the line), for the
	 * first one that does not fit and for everything ranked below it.
	 * Always 0 for label calls, which have no budget line. */
	int within_budget;
	/** Proposed for funding (project: = within_budget) or for the label
	 * (label calls: = above_threshold). */
	int proposed;
};

/** Calibration figures of one reviewer in the call. */
struct score_reviewer {
	int reviewer;
	int reviews;               /**< submitted reviews in the call */
	double mean;               /**< mu_r */
	double stddev;             /**< sigma_r (population) */
	int calibrated;            /**< reviews >= 3 and sigma_r > 0 (exact) */
};

/** Everything score_rank() computes; free with score_result_free(). */
struct score_result {
	struct score_row *rows;    /**< in rank order */
	size_t n_rows;
	struct score_q *totals;    /**< per input review: exact T */
	double *adjusted;          /**< per input review: T' (= T when not calibrated) */
	struct score_reviewer *reviewers; /**< sorted by reviewer id */
	size_t n_reviewers;
	double call_mean;          /**< mu_call */
	double call_stddev;        /**< sigma_call (population) */
};

/** The exact total of one review. Returns 0, or -1 with err filled when a
 * criterion or a value is out of range or n_values != n_criteria. */
int score_total(const struct score_criterion *criteria, size_t n_criteria,
    const int *values, size_t n_values, struct score_q *out, char *err, size_t errlen);

/** Rank one call: totals, raw and calibrated scores, disagreement flags,
 * threshold and budget line (DESIGN §5). reviews must be the submitted ones
 * only. Returns 0 with *out filled (the caller frees it), or -1 with err
 * filled and *out zeroed on invalid input: bad call parameters, duplicate
 * application ids, a review of an unknown application, two reviews by one
 * reviewer of one application, a wrong number of values or a value out of
 * range, more than SCORE_MAX_REVIEWS reviews or applications.
 * Calibration uses every review passed, so pass all submitted reviews of
 * the call, not a subset. */
int score_rank(const struct score_call *call, const struct score_app *apps, size_t n_apps,
    const struct score_review *reviews, size_t n_reviews, struct score_result *out,
    char *err, size_t errlen);

/** Free what score_rank() allocated and zero *r (safe on a zeroed result). */
void score_result_free(struct score_result *r);

/** Exact comparison: -1, 0 or 1 as a < b, a == b, a > b. */
int score_q_cmp(struct score_q a, struct score_q b);

/** q as a double, for display only; equal rationals give equal doubles. */
double score_q_double(struct score_q q);

#endif
