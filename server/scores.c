/* scores.c - see scores.h.
 *
 * Every total of a call is N / D with one common denominator
 * D = L * W / gcd(100, L * W), L the lcm of the scaleMax values and W the
 * sum of the weights, so N = sum(mult_c * s_c) with
 * mult_c = (100 / g) * w_c * (L / scaleMax_c). N <= 100 * D <= 1e13, and
 * with at most SCORE_MAX_REVIEWS reviews every sum of N fits int64 and
 * every k * sum(N^2) fits __int128 (<= 1e36). */
#include "scores.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

__extension__ typedef __int128 i128;

static int64_t
gcd64(int64_t a, int64_t b)
{
	if (a < 0)
		a = -a;
	if (b < 0)
		b = -b;
	while (b != 0) {
		int64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

static struct score_q
q_make(int64_t num, int64_t den)
{
	int64_t g = gcd64(num, den);
	struct score_q q = { 0, 1 };

	if (g == 0)
		return q;
	q.num = num / g;
	q.den = den / g;
	if (q.den < 0) {
		q.num = -q.num;
		q.den = -q.den;
	}
	return q;
}

int
score_q_cmp(struct score_q a, struct score_q b)
{
	i128 l = (i128)a.num * b.den, r = (i128)b.num * a.den;

	return l < r ? -1 : l > r ? 1 : 0;
}

double
score_q_double(struct score_q q)
{
	q = q_make(q.num, q.den);
	return (double)((long double)q.num / (long double)q.den);
}

/* The call's common denominator and per-criterion multipliers. */
struct scale {
	int64_t den;
	int64_t mult[SCORE_MAX_CRITERIA];
};

static int
scale_init(const struct score_criterion *c, size_t n, struct scale *s, char *err, size_t errlen)
{
	int64_t l = 1, w = 0;

	if (c == NULL || n < 1 || n > SCORE_MAX_CRITERIA) {
		snprintf(err, errlen, "a call needs 1 to %d criteria", SCORE_MAX_CRITERIA);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (c[i].weight < 1 || c[i].weight > 1000 || c[i].scale_max < 1 ||
		    c[i].scale_max > 1000) {
			snprintf(err, errlen, "criterion %zu: weight %d or scaleMax %d out of range",
			    i + 1, c[i].weight, c[i].scale_max);
			return -1;
		}
		l = l / gcd64(l, c[i].scale_max) * c[i].scale_max;
		if (l > SCORE_MAX_DENOMINATOR) {
			snprintf(err, errlen, "the criteria's scales have too large a common multiple");
			return -1;
		}
		w += c[i].weight;
	}
	/* l <= 1e11 and w <= 64000: l * w fits int64. */
	int64_t lw = l * w, g = gcd64(100, lw);

	s->den = lw / g;
	if (s->den > SCORE_MAX_DENOMINATOR) {
		snprintf(err, errlen, "the criteria's common denominator is too large");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		s->mult[i] = (100 / g) * c[i].weight * (l / c[i].scale_max);
	return 0;
}

static int
total_n(const struct score_criterion *c, size_t n, const struct scale *s, const int *values,
    size_t n_values, int64_t *out, char *err, size_t errlen)
{
	int64_t t = 0;

	if (n_values != n || (n > 0 && values == NULL)) {
		snprintf(err, errlen, "%zu scores for %zu criteria", n_values, n);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (values[i] < 0 || values[i] > c[i].scale_max) {
			snprintf(err, errlen, "score %d of criterion %zu is outside 0..%d",
			    values[i], i + 1, c[i].scale_max);
			return -1;
		}
		t += s->mult[i] * values[i];
	}
	*out = t;
	return 0;
}

int
score_total(const struct score_criterion *criteria, size_t n_criteria, const int *values,
    size_t n_values, struct score_q *out, char *err, size_t errlen)
{
	struct scale s;
	int64_t n;

	if (scale_init(criteria, n_criteria, &s, err, errlen) < 0 ||
	    total_n(criteria, n_criteria, &s, values, n_values, &n, err, errlen) < 0)
		return -1;
	*out = q_make(n, s.den);
	return 0;
}

/* Per-group sums: k values N, their sum and sum of squares. The population
 * variance is (k * sq - sum^2) / (k * D)^2; var_num() is its numerator. */
struct sums {
	int64_t k;
	i128 sum;
	i128 sq;
};

static void
sums_add(struct sums *s, int64_t n)
{
	s->k++;
	s->sum += n;
	s->sq += (i128)n * n;
}

static i128
var_num(const struct sums *s)
{
	return s->k * s->sq - s->sum * s->sum;
}

/* Population std-dev in points, from the exact variance numerator. */
static long double
stddev_of(const struct sums *s, int64_t den)
{
	if (s->k == 0)
		return 0;
	return sqrtl((long double)var_num(s)) / ((long double)s->k * (long double)den);
}

/* A review's sort key: its application (index into the id-sorted array),
 * its reviewer and its input position. */
struct rkey {
	int app;
	int reviewer;
	size_t i;
};

/* By application, then reviewer, then input order. */
static int
cmp_by_app(const void *a, const void *b)
{
	const struct rkey *x = a, *y = b;

	if (x->app != y->app)
		return x->app < y->app ? -1 : 1;
	if (x->reviewer != y->reviewer)
		return x->reviewer < y->reviewer ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* By reviewer, then input order. */
static int
cmp_by_reviewer(const void *a, const void *b)
{
	const struct rkey *x = a, *y = b;

	if (x->reviewer != y->reviewer)
		return x->reviewer < y->reviewer ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static int
cmp_app_id(const void *a, const void *b)
{
	const struct score_app *x = *(const struct score_app *const *)a;
	const struct score_app *y = *(const struct score_app *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int
cmp_ld(const void *a, const void *b)
{
	long double x = *(const long double *)a, y = *(const long double *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_double_desc(double a, double b)
{
	return a > b ? -1 : a < b ? 1 : 0;
}

static int
cmp_tail(const struct score_row *x, const struct score_row *y)
{
	if (x->first_receipt != y->first_receipt)
		return x->first_receipt < y->first_receipt ? -1 : 1;
	return x->app < y->app ? -1 : x->app > y->app;
}

/* Ranking orders: rankBy score descending, then the other descending, then
 * earlier first receipt, then application id. The raw order is exact; the
 * calibrated order compares doubles, and since an application without any
 * calibrated review gets exactly the display double of its reduced raw
 * rational, equal raw scores never split on the calibrated key. */
static int
cmp_rank_raw(const void *a, const void *b)
{
	const struct score_row *x = a, *y = b;
	int c = -score_q_cmp(x->raw, y->raw);

	if (c == 0)
		c = cmp_double_desc(x->calibrated_score, y->calibrated_score);
	return c != 0 ? c : cmp_tail(x, y);
}

static int
cmp_rank_calibrated(const void *a, const void *b)
{
	const struct score_row *x = a, *y = b;
	int c = cmp_double_desc(x->calibrated_score, y->calibrated_score);

	if (c == 0)
		c = -score_q_cmp(x->raw, y->raw);
	return c != 0 ? c : cmp_tail(x, y);
}

static int
check_call(const struct score_call *call, char *err, size_t errlen)
{
	if (call->kind != SCORE_CALL_PROJECT && call->kind != SCORE_CALL_LABEL) {
		snprintf(err, errlen, "unknown call kind %d", (int)call->kind);
		return -1;
	}
	if (call->rank_by != SCORE_RANK_RAW && call->rank_by != SCORE_RANK_CALIBRATED) {
		snprintf(err, errlen, "unknown rankBy %d", (int)call->rank_by);
		return -1;
	}
	if (call->threshold_tenths < 0 || call->threshold_tenths > 1000) {
		snprintf(err, errlen, "threshold %d tenths is outside 0..1000", call->threshold_tenths);
		return -1;
	}
	if (call->kind == SCORE_CALL_PROJECT && call->budget_cents < 0) {
		snprintf(err, errlen, "a project call needs a budget of at least 0");
		return -1;
	}
	return 0;
}

/* Index of the application with that id in the id-sorted array, or -1. */
static int
find_app(const struct score_app *const *by_id, size_t n, int id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (by_id[mid]->id == id)
			return (int)mid;
		if (by_id[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Working state of one score_rank() run. */
struct run {
	const struct score_call *call;
	const struct score_review *reviews;
	size_t n_reviews, n_apps;
	struct scale sc;
	const struct score_app **by_id; /* applications sorted by id */
	struct rkey *keys;              /* one per review */
	int64_t *nval;                  /* review -> N */
	int *calibrated_of;             /* review -> its reviewer is calibrated */
	long double *tprime;            /* review -> T' */
	long double mu, sigma;          /* of the call */
};

static void
run_free(struct run *r)
{
	free(r->by_id);
	free(r->keys);
	free(r->nval);
	free(r->calibrated_of);
	free(r->tprime);
}

/* Sort the applications by id; refuse duplicates and negative requests. */
static int
index_apps(struct run *r, const struct score_app *apps, char *err, size_t errlen)
{
	r->by_id = xmalloc(r->n_apps * sizeof *r->by_id);
	for (size_t i = 0; i < r->n_apps; i++)
		r->by_id[i] = &apps[i];
	qsort(r->by_id, r->n_apps, sizeof *r->by_id, cmp_app_id);
	for (size_t i = 0; i < r->n_apps; i++) {
		if (i > 0 && r->by_id[i]->id == r->by_id[i - 1]->id) {
			snprintf(err, errlen, "application %d listed twice", r->by_id[i]->id);
			return -1;
		}
		if (r->call->kind == SCORE_CALL_PROJECT && r->by_id[i]->requested_cents < 0) {
			snprintf(err, errlen, "application %d: negative requested amount",
			    r->by_id[i]->id);
			return -1;
		}
	}
	return 0;
}

/* Check every review, compute its exact total, and refuse two reviews of
 * one application by one reviewer. Leaves keys sorted by application. */
static int
total_reviews(struct run *r, struct score_result *out, char *err, size_t errlen)
{
	const struct score_call *call = r->call;

	r->keys = xmalloc(r->n_reviews * sizeof *r->keys);
	r->nval = xmalloc(r->n_reviews * sizeof *r->nval);
	out->totals = xmalloc(r->n_reviews * sizeof *out->totals);
	for (size_t i = 0; i < r->n_reviews; i++) {
		const struct score_review *rv = &r->reviews[i];
		char why[160];
		int a = find_app(r->by_id, r->n_apps, rv->app);

		if (a < 0) {
			snprintf(err, errlen, "review %zu: unknown application %d", i + 1, rv->app);
			return -1;
		}
		if (rv->recommendation != SCORE_REC_FUND && rv->recommendation != SCORE_REC_REJECT &&
		    rv->recommendation != SCORE_REC_DISCUSS) {
			snprintf(err, errlen, "review %zu: unknown recommendation %d", i + 1,
			    (int)rv->recommendation);
			return -1;
		}
		if (rv->n < 0 || total_n(call->criteria, call->n_criteria, &r->sc, rv->values,
		    (size_t)rv->n, &r->nval[i], why, sizeof why) < 0) {
			snprintf(err, errlen, "review %zu of application %d: %s", i + 1, rv->app,
			    rv->n < 0 ? "negative score count" : why);
			return -1;
		}
		out->totals[i] = q_make(r->nval[i], r->sc.den);
		r->keys[i] = (struct rkey){ a, rv->reviewer, i };
	}
	qsort(r->keys, r->n_reviews, sizeof *r->keys, cmp_by_app);
	for (size_t k = 1; k < r->n_reviews; k++) {
		if (r->keys[k].app == r->keys[k - 1].app &&
		    r->keys[k].reviewer == r->keys[k - 1].reviewer) {
			snprintf(err, errlen, "reviewer %d reviewed application %d twice",
			    r->keys[k].reviewer, r->by_id[r->keys[k].app]->id);
			return -1;
		}
	}
	return 0;
}

/* Call and reviewer statistics and every T':
 * T' = mu + sigma * (T - mu_r) / sigma_r, where
 * (T - mu_r) / sigma_r = (k_r N - S_r) / sqrt(var_num_r), D cancelling.
 * Leaves keys sorted by reviewer. */
static void
calibrate(struct run *r, struct score_result *out)
{
	struct sums all = { 0, 0, 0 };
	size_t n = r->n_reviews;

	for (size_t i = 0; i < n; i++)
		sums_add(&all, r->nval[i]);
	r->mu = all.k ? (long double)all.sum / ((long double)all.k * r->sc.den) : 0;
	r->sigma = stddev_of(&all, r->sc.den);
	out->call_mean = (double)r->mu;
	out->call_stddev = (double)r->sigma;

	qsort(r->keys, n, sizeof *r->keys, cmp_by_reviewer);
	r->calibrated_of = xmalloc(n * sizeof *r->calibrated_of);
	r->tprime = xmalloc(n * sizeof *r->tprime);
	out->adjusted = xmalloc(n * sizeof *out->adjusted);
	out->reviewers = xmalloc(n * sizeof *out->reviewers);
	for (size_t k = 0; k < n;) {
		size_t end = k;
		struct sums rs = { 0, 0, 0 };
		int who = r->keys[k].reviewer;

		while (end < n && r->keys[end].reviewer == who)
			sums_add(&rs, r->nval[r->keys[end++].i]);
		i128 vn = var_num(&rs);
		int calibrated = rs.k >= 3 && vn > 0; /* sigma_r > 0, exactly */
		long double root = calibrated ? sqrtl((long double)vn) : 1;
		struct score_reviewer *sr = &out->reviewers[out->n_reviewers++];

		sr->reviewer = who;
		sr->reviews = (int)rs.k;
		sr->mean = (double)((long double)rs.sum / ((long double)rs.k * r->sc.den));
		sr->stddev = (double)stddev_of(&rs, r->sc.den);
		sr->calibrated = calibrated;
		for (; k < end; k++) {
			size_t i = r->keys[k].i;
			r->calibrated_of[i] = calibrated;
			r->tprime[i] = calibrated ?
			    r->mu + r->sigma * (long double)((i128)rs.k * r->nval[i] - rs.sum) / root :
			    (long double)r->nval[i] / r->sc.den;
			out->adjusted[i] = (double)r->tprime[i];
		}
	}
}

/* Fill one row from the reviews keys[from..to) of one application. */
static void
fill_row(const struct run *r, size_t from, size_t to, long double *tp, struct score_row *row)
{
	const struct score_app *app = r->by_id[r->keys[from].app];
	struct sums s = { 0, 0, 0 };
	int recs = 0;
	int64_t den = r->sc.den;
	size_t m = 0;

	for (size_t k = from; k < to; k++) {
		size_t i = r->keys[k].i;
		sums_add(&s, r->nval[i]);
		recs |= r->reviews[i].recommendation == SCORE_REC_FUND ? 1 :
		    r->reviews[i].recommendation == SCORE_REC_REJECT ? 2 : 0;
		row->calibrated_reviews += r->calibrated_of[i];
		tp[m++] = r->tprime[i];
	}
	row->app = app->id;
	row->first_receipt = app->first_receipt;
	row->requested_cents = r->call->kind == SCORE_CALL_PROJECT ? app->requested_cents : 0;
	row->reviews = (int)s.k;
	/* sum <= k * 100 * D <= 1e18 and k * D <= 1e16: both fit int64. */
	row->raw = q_make((int64_t)s.sum, (int64_t)s.k * den);
	row->raw_score = score_q_double(row->raw);
	row->spread = (double)stddev_of(&s, den);
	/* std-dev > 15  <=>  var_num / (k D)^2 > 225. */
	if (var_num(&s) > (i128)225 * s.k * s.k * den * den)
		row->disagreement |= SCORE_DISAGREE_SPREAD;
	if (recs == 3)
		row->disagreement |= SCORE_DISAGREE_FUND_REJECT;
	/* raw >= t / 10  <=>  10 * sum >= t * k * D. */
	row->above_threshold = (i128)10 * s.sum >= (i128)r->call->threshold_tenths * s.k * den;
	if (row->calibrated_reviews == 0) {
		row->calibrated_score = row->raw_score;
	} else {
		/* Summed in ascending order: equal multisets of T' give
		 * bit-identical scores. */
		long double sum = 0;
		qsort(tp, m, sizeof *tp, cmp_ld);
		for (size_t j = 0; j < m; j++)
			sum += tp[j];
		row->calibrated_score = (double)(sum / (long double)m);
	}
}

/* Rank the rows and draw the budget line (project) or the label proposal. */
static void
rank_rows(const struct score_call *call, struct score_result *out)
{
	int64_t spent = 0;
	int cut = 0;

	qsort(out->rows, out->n_rows, sizeof *out->rows,
	    call->rank_by == SCORE_RANK_RAW ? cmp_rank_raw : cmp_rank_calibrated);
	for (size_t j = 0; j < out->n_rows; j++) {
		struct score_row *row = &out->rows[j];

		row->rank = (int)j + 1;
		if (call->kind == SCORE_CALL_LABEL) {
			row->proposed = row->above_threshold;
			continue;
		}
		if (!row->above_threshold)
			continue; /* skipped: neither inside the line nor cutting it */
		if (!cut && row->requested_cents <= call->budget_cents - spent) {
			spent += row->requested_cents;
			row->within_budget = row->proposed = 1;
		} else {
			cut = 1;
		}
	}
}

int
score_rank(const struct score_call *call, const struct score_app *apps, size_t n_apps,
    const struct score_review *reviews, size_t n_reviews, struct score_result *out,
    char *err, size_t errlen)
{
	struct run r = { 0 };
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (call == NULL || (apps == NULL && n_apps > 0) || (reviews == NULL && n_reviews > 0)) {
		snprintf(err, errlen, "missing call, applications or reviews");
		return -1;
	}
	if (check_call(call, err, errlen) < 0 ||
	    scale_init(call->criteria, call->n_criteria, &r.sc, err, errlen) < 0)
		return -1;
	if (n_reviews > SCORE_MAX_REVIEWS || n_apps > SCORE_MAX_REVIEWS) {
		snprintf(err, errlen, "more than %d reviews or applications in one call",
		    SCORE_MAX_REVIEWS);
		return -1;
	}
	r.call = call;
	r.reviews = reviews;
	r.n_reviews = n_reviews;
	r.n_apps = n_apps;
	if (index_apps(&r, apps, err, errlen) < 0 || total_reviews(&r, out, err, errlen) < 0)
		goto done;
	calibrate(&r, out);

	/* One row per application with at least one review. */
	qsort(r.keys, n_reviews, sizeof *r.keys, cmp_by_app);
	out->rows = xcalloc(n_apps, sizeof *out->rows);
	long double *tp = xmalloc(n_reviews * sizeof *tp);
	for (size_t k = 0; k < n_reviews;) {
		size_t end = k;
		while (end < n_reviews && r.keys[end].app == r.keys[k].app)
			end++;
		fill_row(&r, k, end, tp, &out->rows[out->n_rows++]);
		k = end;
	}
	free(tp);
	rank_rows(call, out);
	rc = 0;
done:
	run_free(&r);
	if (rc < 0)
		score_result_free(out);
	return rc;
}

void
score_result_free(struct score_result *r)
{
	free(r->rows);
	free(r->totals);
	free(r->adjusted);
	free(r->reviewers);
	memset(r, 0, sizeof *r);
}
