/* Unit tests of the scores core (DESIGN §5): exact totals, disagreement at
 * exactly 15, threshold at exactly the score, calibration (3 reviews vs 2,
 * sigma_r = 0), ranking ties, the budget line and label calls. Every
 * expected value is worked out by hand in the comments. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "scores.h"
#include "unit.h"
#include "util.h"

#define NEAR(a, b) (fabs((double)(a) - (double)(b)) < 1e-9)

/* Criteria "A": weights 3 and 2, scales 5 and 10. Every total is then an
 * integer: T = 100 * (3 s1 / 5 + 2 s2 / 10) / 5 = 12 s1 + 4 s2. */
static const struct score_criterion crit_a[] = { { 3, 5 }, { 2, 10 } };

/* Score vectors of criteria A by total: T = 12 s1 + 4 s2. */
static const int t0[] = { 0, 0 };   /* 0 */
static const int t12[] = { 1, 0 };  /* 12 */
static const int t20[] = { 1, 2 };  /* 12 + 8 = 20 */
static const int t24[] = { 2, 0 };  /* 24 */
static const int t36[] = { 3, 0 };  /* 36 */
static const int t40[] = { 3, 1 };  /* 36 + 4 = 40 */
static const int t56[] = { 4, 2 };  /* 48 + 8 = 56 */
static const int t72[] = { 5, 3 };  /* 60 + 12 = 72 */
static const int t92[] = { 5, 8 };  /* 60 + 32 = 92 */

#define REV(app, who, rec, v) { (app), (who), (rec), 2, (v) }

static struct score_call
call_a(enum score_kind kind, enum score_rank_by by, int threshold, int64_t budget)
{
	struct score_call c = { kind, by, threshold, budget, crit_a, 2 };
	return c;
}

static const struct score_row *
row_of(const struct score_result *r, int app)
{
	for (size_t i = 0; i < r->n_rows; i++)
		if (r->rows[i].app == app)
			return &r->rows[i];
	return NULL;
}

static void
totals_exact(void)
{
	struct score_q q;
	char err[200];
	int v[3];

	/* The DESIGN example: (4, 7) -> 100 * (3*4/5 + 2*7/10) / 5
	 * = 100 * (2.4 + 1.4) / 5 = 76. */
	v[0] = 4, v[1] = 7;
	CHECK_EQ_INT(score_total(crit_a, 2, v, 2, &q, err, sizeof err), 0);
	CHECK_EQ_INT(q.num, 76);
	CHECK_EQ_INT(q.den, 1);
	v[0] = 5, v[1] = 10; /* the maximum: 100 */
	CHECK_EQ_INT(score_total(crit_a, 2, v, 2, &q, err, sizeof err), 0);
	CHECK_EQ_INT(q.num, 100);
	CHECK_EQ_INT(q.den, 1);

	/* Weights 1,1,1 scales 3,3,3: (1,0,0) -> 100 * (1/3) / 3 = 100/9. */
	static const struct score_criterion c3[] = { { 1, 3 }, { 1, 3 }, { 1, 3 } };
	v[0] = 1, v[1] = 0, v[2] = 0;
	CHECK_EQ_INT(score_total(c3, 3, v, 3, &q, err, sizeof err), 0);
	CHECK_EQ_INT(q.num, 100);
	CHECK_EQ_INT(q.den, 9);
	CHECK(NEAR(score_q_double(q), 100.0 / 9));

	/* Weights 1,10 scales 19,17: (18,4) -> 100 * (18/19 + 40/17) / 11
	 * = 100 * (306 + 760) / 3553 = 106600/3553 (3553 = 11*17*19). */
	static const struct score_criterion c2[] = { { 1, 19 }, { 10, 17 } };
	v[0] = 18, v[1] = 4;
	CHECK_EQ_INT(score_total(c2, 2, v, 2, &q, err, sizeof err), 0);
	CHECK_EQ_INT(q.num, 106600);
	CHECK_EQ_INT(q.den, 3553);

	/* Errors: a value above scaleMax, a negative one, a wrong count,
	 * a bad criterion. */
	v[0] = 6, v[1] = 0;
	err[0] = '\0';
	CHECK_EQ_INT(score_total(crit_a, 2, v, 2, &q, err, sizeof err), -1);
	CHECK(err[0] != '\0');
	v[0] = 0, v[1] = -1;
	CHECK_EQ_INT(score_total(crit_a, 2, v, 2, &q, err, sizeof err), -1);
	CHECK_EQ_INT(score_total(crit_a, 2, v, 1, &q, err, sizeof err), -1);
	static const struct score_criterion bad[] = { { 0, 5 }, { 1, 5 } };
	v[0] = 1, v[1] = 1;
	CHECK_EQ_INT(score_total(bad, 2, v, 2, &q, err, sizeof err), -1);
	CHECK_EQ_INT(score_total(crit_a, 0, v, 0, &q, err, sizeof err), -1);
}

static void
q_compare(void)
{
	struct score_q a = { 1, 3 }, b = { 2, 6 }, c = { 34, 100 };

	CHECK_EQ_INT(score_q_cmp(a, b), 0);
	CHECK_EQ_INT(score_q_cmp(a, c), -1); /* 1/3 = 0.3333 < 0.34 */
	CHECK_EQ_INT(score_q_cmp(c, a), 1);
	CHECK(score_q_double(a) == score_q_double(b)); /* equal rationals, equal doubles */
}

/* Spread exactly 15 is not flagged; 15 + 5/3553 is. */
static void
disagreement_spread(void)
{
	/* Weights 1,1 scales 1,15: T = 100 * (s1 + s2/15) / 2.
	 * (0,4) -> 100 * (4/15) / 2 = 40/3 = 13.33...
	 * (0,13) -> 100 * (13/15) / 2 = 130/3 = 43.33...
	 * Two totals 30 apart: population std-dev = 30/2 = 15 exactly. In
	 * doubles the same computation gives 15.000000000000002. */
	static const struct score_criterion c15[] = { { 1, 1 }, { 1, 15 } };
	static const int a[] = { 0, 4 }, b[] = { 0, 13 };
	struct score_call call = { SCORE_CALL_LABEL, SCORE_RANK_RAW, 0, 0, c15, 2 };
	struct score_app apps[] = { { 1, 10, 0 } };
	struct score_review rv[] = {
		REV(1, 1, SCORE_REC_FUND, a), REV(1, 2, SCORE_REC_DISCUSS, b),
	};
	struct score_result r;
	char err[200];

	CHECK_EQ_INT(score_rank(&call, apps, 1, rv, 2, &r, err, sizeof err), 0);
	CHECK_EQ_INT(r.n_rows, 1);
	CHECK_EQ_INT(r.rows[0].disagreement, 0);
	CHECK(NEAR(r.rows[0].spread, 15));
	/* raw = (40/3 + 130/3) / 2 = 170/6 = 85/3 */
	CHECK_EQ_INT(r.rows[0].raw.num, 85);
	CHECK_EQ_INT(r.rows[0].raw.den, 3);
	CHECK_EQ_INT(r.totals[0].num, 40);
	CHECK_EQ_INT(r.totals[0].den, 3);
	score_result_free(&r);

	/* Weights 1,10 scales 19,17: (0,0) -> 0 and (18,4) -> 106600/3553
	 * = 30 + 10/3553 (30 * 3553 = 106590). std-dev = 15 + 5/3553
	 * = 15.0014...: flagged. */
	static const struct score_criterion c2[] = { { 1, 19 }, { 10, 17 } };
	static const int z[] = { 0, 0 }, h[] = { 18, 4 };
	call.criteria = c2;
	rv[0].values = z;
	rv[1].values = h;
	CHECK_EQ_INT(score_rank(&call, apps, 1, rv, 2, &r, err, sizeof err), 0);
	CHECK_EQ_INT(r.rows[0].disagreement, SCORE_DISAGREE_SPREAD);
	CHECK(NEAR(r.rows[0].spread, 15 + 5.0 / 3553));
	score_result_free(&r);
}

/* fund + reject is flagged even when the totals agree; fund + discuss and
 * reject + discuss are not. A single review has spread 0. */
static void
disagreement_recommendations(void)
{
	struct score_call call = call_a(SCORE_CALL_LABEL, SCORE_RANK_RAW, 0, 0);
	struct score_app apps[] = { { 1, 1, 0 }, { 2, 2, 0 }, { 3, 3, 0 }, { 4, 4, 0 } };
	struct score_review rv[] = {
		REV(1, 1, SCORE_REC_FUND, t56), REV(1, 2, SCORE_REC_REJECT, t56),
		REV(2, 1, SCORE_REC_FUND, t56), REV(2, 2, SCORE_REC_DISCUSS, t56),
		REV(3, 1, SCORE_REC_REJECT, t56), REV(3, 2, SCORE_REC_DISCUSS, t56),
		REV(4, 3, SCORE_REC_FUND, t92),
	};
	struct score_result r;
	char err[200];

	CHECK_EQ_INT(score_rank(&call, apps, 4, rv, ARRAY_LEN(rv), &r, err, sizeof err), 0);
	CHECK_EQ_INT(r.n_rows, 4);
	CHECK_EQ_INT(row_of(&r, 1)->disagreement, SCORE_DISAGREE_FUND_REJECT);
	CHECK_EQ_INT(row_of(&r, 2)->disagreement, 0);
	CHECK_EQ_INT(row_of(&r, 3)->disagreement, 0);
	CHECK_EQ_INT(row_of(&r, 4)->disagreement, 0);
	CHECK_EQ_INT(row_of(&r, 4)->spread, 0);
	score_result_free(&r);

	/* Both reasons at once: fund 0 and reject 92, std-dev 46. */
	struct score_review both[] = {
		REV(1, 1, SCORE_REC_FUND, t0), REV(1, 2, SCORE_REC_REJECT, t92),
	};
	CHECK_EQ_INT(score_rank(&call, apps, 4, both, 2, &r, err, sizeof err), 0);
	CHECK_EQ_INT(r.rows[0].disagreement, SCORE_DISAGREE_SPREAD | SCORE_DISAGREE_FUND_REJECT);
	CHECK(NEAR(r.rows[0].spread, 46));
	score_result_free(&r);
}

/* A raw score of exactly the threshold is at or above it. */
static void
threshold_exact(void)
{
	/* Weights 1,1 scales 1,15: (0,1) -> 100 * (1/15) / 2 = 10/3 and
	 * (1,5) -> 100 * (1 + 5/15) / 2 = 200/3; raw = (210/3) / 2 = 35.
	 * In doubles (10/3 + 200/3) / 2 is 34.99999999999999. */
	static const struct score_criterion c15[] = { { 1, 1 }, { 1, 15 } };
	static const int a[] = { 0, 1 }, b[] = { 1, 5 };
	struct score_call call = { SCORE_CALL_LABEL, SCORE_RANK_RAW, 350, 0, c15, 2 };
	struct score_app apps[] = { { 7, 10, 0 } };
	struct score_review rv[] = {
		REV(7, 1, SCORE_REC_FUND, a), REV(7, 2, SCORE_REC_FUND, b),
	};
	struct score_result r;
	char err[200];

	CHECK_EQ_INT(score_rank(&call, apps, 1, rv, 2, &r, err, sizeof err), 0);
	CHECK_EQ_INT(r.rows[0].raw.num, 35);
	CHECK_EQ_INT(r.rows[0].raw.den, 1);
	CHECK_EQ_INT(r.rows[0].above_threshold, 1);
	CHECK_EQ_INT(r.rows[0].proposed, 1);
	score_result_free(&r);

	call.threshold_tenths = 351; /* 35.1 > 35 */
	CHECK_EQ_INT(score_rank(&call, apps, 1, rv, 2, &r, err, sizeof err), 0);
	CHECK_EQ_INT(r.rows[0].above_threshold, 0);
	CHECK_EQ_INT(r.rows[0].proposed, 0);
	score_result_free(&r);
}

/* Reviewer 1 has exactly 3 reviews (0, 12, 24) and is calibrated;
 * reviewer 2 has 2 (24, 72) and is not; reviewer 3 has 3 equal ones
 * (20, 20, 20), sigma_r = 0, and is not.
 *   call totals 0 12 24 24 72 20 20 20: sum 192, mu = 24;
 *   deviations -24 -12 0 0 48 -4 -4 -4, squares 576+144+0+0+2304+48 = 3072,
 *   sigma^2 = 3072/8 = 384.
 *   reviewer 1: mu_r = 12, sigma_r^2 = (144+0+144)/3 = 96, so
 *   sigma/sigma_r = sqrt(384/96) = 2 and T' = 24 + 2 (T - 12):
 *   0 -> 0, 12 -> 24, 24 -> 48.
 * Applications:
 *   1: r1 24 (T' 48), r3 20       raw 44/2 = 22,   calibrated 68/2 = 34
 *   2: r1 0 (T' 0), r2 72, r3 20  raw 92/3 = 30.67, calibrated 92/3
 *   3: r1 12 (T' 24), r2 24, r3 20 raw 56/3 = 18.67, calibrated 68/3 = 22.67
 * rankBy calibrated: 1 (34), 2 (30.67), 3 (22.67); rankBy raw: 2, 1, 3. */
static void
calibration(void)
{
	struct score_call call = call_a(SCORE_CALL_LABEL, SCORE_RANK_CALIBRATED, 0, 0);
	struct score_app apps[] = { { 1, 100, 0 }, { 2, 200, 0 }, { 3, 300, 0 }, { 4, 400, 0 } };
	struct score_review rv[] = {
		REV(1, 1, SCORE_REC_FUND, t24), REV(1, 3, SCORE_REC_FUND, t20),
		REV(2, 1, SCORE_REC_FUND, t0), REV(2, 2, SCORE_REC_FUND, t72),
		REV(2, 3, SCORE_REC_FUND, t20),
		REV(3, 1, SCORE_REC_FUND, t12), REV(3, 2, SCORE_REC_FUND, t24),
		REV(3, 3, SCORE_REC_FUND, t20),
	};
	struct score_result r;
	char err[200];

	CHECK_EQ_INT(score_rank(&call, apps, 4, rv, ARRAY_LEN(rv), &r, err, sizeof err), 0);
	CHECK(NEAR(r.call_mean, 24));
	CHECK(NEAR(r.call_stddev, sqrt(384.0)));
	CHECK_EQ_INT(r.n_reviewers, 3);
	CHECK_EQ_INT(r.reviewers[0].reviewer, 1);
	CHECK_EQ_INT(r.reviewers[0].reviews, 3);
	CHECK_EQ_INT(r.reviewers[0].calibrated, 1);
	CHECK(NEAR(r.reviewers[0].mean, 12));
	CHECK(NEAR(r.reviewers[0].stddev, sqrt(96.0)));
	CHECK_EQ_INT(r.reviewers[1].reviews, 2);
	CHECK_EQ_INT(r.reviewers[1].calibrated, 0); /* 2 reviews, sigma_r = 24 > 0 */
	CHECK(NEAR(r.reviewers[1].stddev, 24));
	CHECK_EQ_INT(r.reviewers[2].reviews, 3);
	CHECK_EQ_INT(r.reviewers[2].calibrated, 0); /* sigma_r = 0 */
	CHECK(r.reviewers[2].stddev == 0);

	/* T' per review, in input order. */
	CHECK(NEAR(r.adjusted[0], 48));
	CHECK(NEAR(r.adjusted[1], 20));
	CHECK(NEAR(r.adjusted[2], 0));
	CHECK(r.adjusted[3] == 72); /* reviewer 2 (2 reviews): T' = T exactly */
	CHECK(r.adjusted[4] == 20); /* reviewer 3 (sigma_r = 0): T' = T exactly */
	CHECK(NEAR(r.adjusted[5], 24));
	CHECK(r.adjusted[6] == 24);

	CHECK_EQ_INT(r.n_rows, 3); /* application 4 has no review: not ranked */
	CHECK_EQ_INT(r.rows[0].app, 1);
	CHECK_EQ_INT(r.rows[1].app, 2);
	CHECK_EQ_INT(r.rows[2].app, 3);
	const struct score_row *a1 = row_of(&r, 1), *a2 = row_of(&r, 2), *a3 = row_of(&r, 3);
	CHECK_EQ_INT(a1->raw.num, 22);
	CHECK_EQ_INT(a1->raw.den, 1);
	CHECK(NEAR(a1->calibrated_score, 34));
	CHECK_EQ_INT(a1->calibrated_reviews, 1);
	CHECK_EQ_INT(a1->reviews, 2);
	CHECK_EQ_INT(a2->raw.num, 92);
	CHECK_EQ_INT(a2->raw.den, 3);
	CHECK(NEAR(a2->raw_score, 92.0 / 3));
	CHECK(NEAR(a2->calibrated_score, 92.0 / 3));
	CHECK_EQ_INT(a3->raw.num, 56);
	CHECK_EQ_INT(a3->raw.den, 3);
	CHECK(NEAR(a3->calibrated_score, 68.0 / 3));
	CHECK_EQ_INT(a3->reviews, 3);
	score_result_free(&r);

	call.rank_by = SCORE_RANK_RAW;
	CHECK_EQ_INT(score_rank(&call, apps, 4, rv, ARRAY_LEN(rv), &r, err, sizeof err), 0);
	CHECK_EQ_INT(r.rows[0].app, 2);
	CHECK_EQ_INT(r.rows[1].app, 1);
	CHECK_EQ_INT(r.rows[2].app, 3);
	CHECK_EQ_INT(r.rows[2].rank, 3);
	score_result_free(&r);

	/* Without reviewer 1's third review it has 2 and is not calibrated:
	 * every T' = T and calibrated equals raw exactly. */
	CHECK_EQ_INT(score_rank(&call, apps, 4, rv, 5, &r, err, sizeof err), 0);
	CHECK_EQ_INT(r.reviewers[0].reviews, 2);
	CHECK_EQ_INT(r.reviewers[0].calibrated, 0);
	for (size_t i = 0; i < r.n_rows; i++) {
		CHECK(r.rows[i].calibrated_score == r.rows[i].raw_score);
		CHECK_EQ_INT(r.rows[i].calibrated_reviews, 0);
	}
	score_result_free(&r);
}

/* Reviewer 9 has 0, 12, 24 and is calibrated; everyone else has one
 * review. Call totals 24 12 0 24 72 20 20 20, the same multiset as in
 * calibration(): mu = 24, sigma/sigma_r = 2, T' = 24 + 2 (T - 12).
 *   app 2: r9 24 (T' 48)            raw 24, cal 48, receipt 900
 *   app 1: r1 24                    raw 24, cal 24, receipt 100
 *   app 7: r9 12 (T' 24), r2 72     raw 42, cal (24+72)/2 = 48, receipt 999
 *   app 5: r3 20                    raw 20, cal 20, receipt 100
 *   app 4: r4 20                    raw 20, cal 20, receipt 50
 *   app 3: r5 20                    raw 20, cal 20, receipt 50
 *   app 6: r9 0 (T' 0)              raw 0,  cal 0
 * rankBy raw: 7 (42); 2 before 1 (raw tie 24, cal 48 > 24, despite the
 *   later receipt and higher id); then the 20s by receipt, 3 before 4 by
 *   id (same receipt), then 5; then 6.
 * rankBy calibrated: 7 before 2 (cal tie 48, raw 42 > 24, despite the
 *   later receipt and higher id); then 1 (24); 3, 4, 5; 6. */
static void
ranking_ties(void)
{
	struct score_call call = call_a(SCORE_CALL_LABEL, SCORE_RANK_RAW, 0, 0);
	struct score_app apps[] = {
		{ 1, 100, 0 }, { 2, 900, 0 }, { 3, 50, 0 }, { 4, 50, 0 },
		{ 5, 100, 0 }, { 6, 10, 0 }, { 7, 999, 0 },
	};
	struct score_review rv[] = {
		REV(2, 9, SCORE_REC_FUND, t24), REV(1, 1, SCORE_REC_FUND, t24),
		REV(7, 9, SCORE_REC_FUND, t12), REV(7, 2, SCORE_REC_FUND, t72),
		REV(5, 3, SCORE_REC_FUND, t20), REV(4, 4, SCORE_REC_FUND, t20),
		REV(3, 5, SCORE_REC_FUND, t20), REV(6, 9, SCORE_REC_FUND, t0),
	};
	/* Both orders happen to coincide; each reaches it by its own ties. */
	static const int by_raw[] = { 7, 2, 1, 3, 4, 5, 6 };
	static const int *by_cal = by_raw;
	struct score_result r;
	char err[200];

	CHECK_EQ_INT(score_rank(&call, apps, 7, rv, ARRAY_LEN(rv), &r, err, sizeof err), 0);
	CHECK_EQ_INT(r.n_rows, 7);
	for (size_t i = 0; i < 7 && i < r.n_rows; i++) {
		CHECK_EQ_INT(r.rows[i].app, by_raw[i]);
		CHECK_EQ_INT(r.rows[i].rank, (int)i + 1);
	}
	CHECK(NEAR(row_of(&r, 2)->calibrated_score, 48));
	CHECK(NEAR(row_of(&r, 7)->calibrated_score, 48));
	score_result_free(&r);

	call.rank_by = SCORE_RANK_CALIBRATED;
	CHECK_EQ_INT(score_rank(&call, apps, 7, rv, ARRAY_LEN(rv), &r, err, sizeof err), 0);
	for (size_t i = 0; i < 7 && i < r.n_rows; i++)
		CHECK_EQ_INT(r.rows[i].app, by_cal[i]);
	/* The calibrated tie of 2 and 7 really is a tie in doubles. */
	CHECK(row_of(&r, 2)->calibrated_score == row_of(&r, 7)->calibrated_score);
	score_result_free(&r);
}

/* Reviewer 9 has 0, 12, 36 and is calibrated; the others have one review
 * each (40, 56, 72, 92).
 *   call: sum 0+12+36+40+56+72+92 = 308, mu = 44; deviations -44 -32 -8 -4
 *   12 28 48, squares 1936+1024+64+16+144+784+2304 = 6272, sigma^2 = 896.
 *   reviewer 9: mu_r = 16, sigma_r^2 = (256+16+400)/3 = 224,
 *   sigma/sigma_r = sqrt(896/224) = 2, T' = 44 + 2 (T - 16):
 *   0 -> 12, 12 -> 36, 36 -> 84.
 *   app  raw  cal  requested  (threshold 40.0, budget 100000 cents)
 *   1    92   92   40000      in: spent 40000
 *   2    36   84   90000      raw < 40: skipped (would not have fitted)
 *   3    72   72   60000      in: spent 100000, exactly the budget
 *   4    56   56   20000      does not fit: the line is drawn here
 *   5    40   40    5000      would fit, but below the line; raw = 40 exactly
 *   6    12   36       0      raw < 40
 *   7     0   12       0      raw < 40
 * rankBy calibrated: 1 2 3 4 5 6 7. */
static void
budget_line(void)
{
	struct score_call call = call_a(SCORE_CALL_PROJECT, SCORE_RANK_CALIBRATED, 400, 100000);
	struct score_app apps[] = {
		{ 1, 1, 40000 }, { 2, 2, 90000 }, { 3, 3, 60000 }, { 4, 4, 20000 },
		{ 5, 5, 5000 }, { 6, 6, 0 }, { 7, 7, 0 }, { 8, 8, 1 },
	};
	struct score_review rv[] = {
		REV(1, 1, SCORE_REC_FUND, t92), REV(2, 9, SCORE_REC_FUND, t36),
		REV(3, 2, SCORE_REC_FUND, t72), REV(4, 3, SCORE_REC_FUND, t56),
		REV(5, 4, SCORE_REC_FUND, t40), REV(6, 9, SCORE_REC_FUND, t12),
		REV(7, 9, SCORE_REC_FUND, t0),
	};
	static const int within[] = { 1, 0, 1, 0, 0, 0, 0 };
	static const int above[] = { 1, 0, 1, 1, 1, 0, 0 };
	struct score_result r;
	char err[200];

	CHECK_EQ_INT(score_rank(&call, apps, 8, rv, ARRAY_LEN(rv), &r, err, sizeof err), 0);
	CHECK_EQ_INT(r.n_rows, 7);
	CHECK(NEAR(r.call_mean, 44));
	CHECK(NEAR(r.call_stddev, sqrt(896.0)));
	CHECK(NEAR(r.adjusted[1], 84));
	for (size_t i = 0; i < 7 && i < r.n_rows; i++) {
		const struct score_row *row = &r.rows[i];
		CHECK_EQ_INT(row->app, (int)i + 1);
		CHECK_EQ_INT(row->rank, (int)i + 1);
		CHECK_EQ_INT(row->within_budget, within[i]);
		CHECK_EQ_INT(row->proposed, within[i]);
		CHECK_EQ_INT(row->above_threshold, above[i]);
		CHECK_EQ_INT(row->requested_cents, apps[i].requested_cents);
	}
	score_result_free(&r);

	/* rankBy raw: 1 (92), 3 (72), 4 (56), 5 (40), 2 (36), 6, 7. Line:
	 * 1 in (40000), 3 in (100000), 4 cuts, 5 beyond, 2/6/7 below. */
	call.rank_by = SCORE_RANK_RAW;
	static const int order_raw[] = { 1, 3, 4, 5, 2, 6, 7 };
	static const int within_raw[] = { 1, 1, 0, 0, 0, 0, 0 };
	CHECK_EQ_INT(score_rank(&call, apps, 8, rv, ARRAY_LEN(rv), &r, err, sizeof err), 0);
	for (size_t i = 0; i < 7 && i < r.n_rows; i++) {
		CHECK_EQ_INT(r.rows[i].app, order_raw[i]);
		CHECK_EQ_INT(r.rows[i].within_budget, within_raw[i]);
	}
	score_result_free(&r);

	/* A budget of 0 funds only zero requests: 1 (40000) cuts at once. */
	call.budget_cents = 0;
	CHECK_EQ_INT(score_rank(&call, apps, 8, rv, ARRAY_LEN(rv), &r, err, sizeof err), 0);
	for (size_t i = 0; i < r.n_rows; i++)
		CHECK_EQ_INT(r.rows[i].within_budget, 0);
	score_result_free(&r);
}

/* Label calls: no budget line; raw >= threshold is proposed. Same data as
 * budget_line(), threshold 40.0: 1, 3, 4, 5 (exactly 40) proposed. */
static void
label_call(void)
{
	struct score_call call = call_a(SCORE_CALL_LABEL, SCORE_RANK_CALIBRATED, 400, -1);
	struct score_app apps[] = {
		{ 1, 1, -1 }, { 2, 2, -1 }, { 3, 3, -1 }, { 4, 4, -1 },
		{ 5, 5, -1 }, { 6, 6, -1 }, { 7, 7, -1 },
	};
	struct score_review rv[] = {
		REV(1, 1, SCORE_REC_FUND, t92), REV(2, 9, SCORE_REC_FUND, t36),
		REV(3, 2, SCORE_REC_FUND, t72), REV(4, 3, SCORE_REC_FUND, t56),
		REV(5, 4, SCORE_REC_FUND, t40), REV(6, 9, SCORE_REC_FUND, t12),
		REV(7, 9, SCORE_REC_FUND, t0),
	};
	static const int proposed[] = { 1, 0, 1, 1, 1, 0, 0 };
	struct score_result r;
	char err[200];

	CHECK_EQ_INT(score_rank(&call, apps, 7, rv, ARRAY_LEN(rv), &r, err, sizeof err), 0);
	CHECK_EQ_INT(r.n_rows, 7);
	for (size_t i = 0; i < 7 && i < r.n_rows; i++) {
		CHECK_EQ_INT(r.rows[i].app, (int)i + 1);
		CHECK_EQ_INT(r.rows[i].proposed, proposed[i]);
		CHECK_EQ_INT(r.rows[i].above_threshold, proposed[i]);
		CHECK_EQ_INT(r.rows[i].within_budget, 0);
		CHECK_EQ_INT(r.rows[i].requested_cents, 0);
	}
	score_result_free(&r);
}

static void
invalid_input(void)
{
	struct score_call call = call_a(SCORE_CALL_PROJECT, SCORE_RANK_RAW, 0, 1000);
	struct score_app apps[] = { { 1, 1, 10 }, { 2, 2, 10 } };
	struct score_review rv[] = {
		REV(1, 1, SCORE_REC_FUND, t20), REV(1, 2, SCORE_REC_FUND, t20),
	};
	struct score_result r;
	char err[200];

	/* No review at all: an empty ranking. */
	CHECK_EQ_INT(score_rank(&call, apps, 2, NULL, 0, &r, err, sizeof err), 0);
	CHECK_EQ_INT(r.n_rows, 0);
	score_result_free(&r);

	/* Unknown application. */
	rv[1].app = 3;
	err[0] = '\0';
	CHECK_EQ_INT(score_rank(&call, apps, 2, rv, 2, &r, err, sizeof err), -1);
	CHECK(strstr(err, "unknown application 3") != NULL);
	CHECK(r.rows == NULL && r.n_rows == 0);
	/* One reviewer twice on one application. */
	rv[1].app = 1;
	rv[1].reviewer = 1;
	CHECK_EQ_INT(score_rank(&call, apps, 2, rv, 2, &r, err, sizeof err), -1);
	CHECK(strstr(err, "twice") != NULL);
	rv[1].reviewer = 2;
	/* Wrong number of scores, out of range score, bad recommendation. */
	rv[1].n = 1;
	CHECK_EQ_INT(score_rank(&call, apps, 2, rv, 2, &r, err, sizeof err), -1);
	rv[1].n = 2;
	static const int over[] = { 6, 0 };
	rv[1].values = over;
	CHECK_EQ_INT(score_rank(&call, apps, 2, rv, 2, &r, err, sizeof err), -1);
	rv[1].values = t20;
	rv[1].recommendation = (enum score_rec)0;
	CHECK_EQ_INT(score_rank(&call, apps, 2, rv, 2, &r, err, sizeof err), -1);
	rv[1].recommendation = SCORE_REC_FUND;
	/* Duplicate application id; negative request in a project call. */
	apps[1].id = 1;
	CHECK_EQ_INT(score_rank(&call, apps, 2, rv, 2, &r, err, sizeof err), -1);
	apps[1].id = 2;
	apps[1].requested_cents = -1;
	CHECK_EQ_INT(score_rank(&call, apps, 2, rv, 2, &r, err, sizeof err), -1);
	apps[1].requested_cents = 10;
	/* Bad call: threshold, budget, rankBy. */
	call.threshold_tenths = 1001;
	CHECK_EQ_INT(score_rank(&call, apps, 2, rv, 2, &r, err, sizeof err), -1);
	call.threshold_tenths = 0;
	call.budget_cents = -1;
	CHECK_EQ_INT(score_rank(&call, apps, 2, rv, 2, &r, err, sizeof err), -1);
	call.budget_cents = 0;
	call.rank_by = (enum score_rank_by)7;
	CHECK_EQ_INT(score_rank(&call, apps, 2, rv, 2, &r, err, sizeof err), -1);
	call.rank_by = SCORE_RANK_RAW;
	/* And valid again. */
	CHECK_EQ_INT(score_rank(&call, apps, 2, rv, 2, &r, err, sizeof err), 0);
	CHECK_EQ_INT(r.n_rows, 1);
	score_result_free(&r);
	score_result_free(&r); /* safe twice */
}

UNIT_MAIN("scores",
    UNIT_CASE(totals_exact),
    UNIT_CASE(q_compare),
    UNIT_CASE(disagreement_spread),
    UNIT_CASE(disagreement_recommendations),
    UNIT_CASE(threshold_exact),
    UNIT_CASE(calibration),
    UNIT_CASE(ranking_ties),
    UNIT_CASE(budget_line),
    UNIT_CASE(label_call),
    UNIT_CASE(invalid_input))
