/* Unit tests of the assignment core (server/assign.c): exact optimality
 * against exhaustive search on thousands of small random instances, the
 * validity and optimality certificate of every result, the minimality of
 * the Hall-violator diagnosis, the tie-break rule, explanations with their
 * exact exchange cost, declines, determinism and hand-made cases. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assign.h"
#include "unit.h"
#include "util.h"

/* ---- a small instance and its exhaustive solution ---------------------- */

#define MAXN 5

struct small {
	int A, R, seats;
	int cap[MAXN];
	int w[MAXN][MAXN];      /* affinity, -1 = not allowed */
};

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int
below(int n)
{
	return (int)(rnd() % (uint64_t)n);
}

/* Half tight (limits 0..3, any density), half generous (limits 1..3,
 * dense, fewer seats), so both feasible and infeasible cases are common. */
static void
small_random(struct small *s, int wmax)
{
	int generous = below(2);
	s->A = 1 + below(MAXN);
	s->R = 1 + below(MAXN);
	s->seats = 1 + below(generous ? 2 : 3);
	int allow = generous ? 70 + below(31) : 30 + below(71); /* % allowed pairs */
	for (int r = 0; r < s->R; r++)
		s->cap[r] = generous ? 1 + below(3) : below(4);
	for (int a = 0; a < s->A; a++)
		for (int r = 0; r < s->R; r++)
			s->w[a][r] = below(100) < allow ? below(wmax + 1) : -1;
}

static struct assign_problem *
small_problem(const struct small *s)
{
	struct assign_pair pairs[MAXN * MAXN];
	size_t n = 0;
	char err[128];

	/* Listed in reverse so the constructor's sort is exercised. */
	for (int a = s->A - 1; a >= 0; a--)
		for (int r = s->R - 1; r >= 0; r--)
			if (s->w[a][r] >= 0)
				pairs[n++] = (struct assign_pair){ a, r, s->w[a][r] };
	struct assign_problem *p = assign_problem_from_pairs(s->A, s->R, s->seats, s->cap,
	    pairs, n, err, sizeof(err));
	if (p == NULL)
		fprintf(stderr, "  small_problem: %s\n", err);
	return p;
}

/* Exhaustive search: the best (filled, affinity) as filled·10000 +
 * affinity, over every assignment; application fixed_app (or -1) may only
 * take reviewer set fixed_mask. A dynamic program over the applications
 * whose state is the vector of remaining capacities enumerates every
 * assignment (each application any subset of its allowed reviewers of size
 * <= seats). Returns -1 when no assignment is possible (fixed mask unfit). */
static long
brute(const struct small *s, int fixed_app, int fixed_mask)
{
	enum { NST = 1 << (2 * MAXN) };  /* capacities 0..3, 2 bits each */
	static long best[NST], next[NST];
	int start = 0;

	for (int r = 0; r < s->R; r++)
		start |= s->cap[r] << (2 * r);
	for (int i = 0; i < NST; i++)
		best[i] = -1;
	best[start] = 0;
	for (int a = 0; a < s->A; a++) {
		for (int i = 0; i < NST; i++)
			next[i] = -1;
		for (int st = 0; st < NST; st++) {
			if (best[st] < 0)
				continue;
			for (int m = 0; m < (1 << s->R); m++) {
				if (fixed_app == a && m != fixed_mask)
					continue;
				int ok = 1, cnt = 0, aff = 0, ns = st;
				for (int r = 0; r < s->R && ok; r++) {
					if (!(m >> r & 1))
						continue;
					if (s->w[a][r] < 0 || ((ns >> (2 * r)) & 3) == 0)
						ok = 0;
					else {
						ns -= 1 << (2 * r);
						cnt++;
						aff += s->w[a][r];
					}
				}
				if (!ok || cnt > s->seats)
					continue;
				long v = best[st] + cnt * 10000L + aff;
				if (v > next[ns])
					next[ns] = v;
			}
		}
		memcpy(best, next, sizeof(best));
	}
	long v = -1;
	for (int i = 0; i < NST; i++)
		if (best[i] > v)
			v = best[i];
	return v;
}

/* Deficiency of a set of applications (bit mask). */
static int
deficiency(const struct small *s, int set)
{
	int need = 0, have = 0;
	for (int a = 0; a < s->A; a++)
		if (set >> a & 1)
			need += s->seats;
	for (int r = 0; r < s->R; r++) {
		int e = 0;
		for (int a = 0; a < s->A; a++)
			if ((set >> a & 1) && s->w[a][r] >= 0)
				e++;
		have += e < s->cap[r] ? e : s->cap[r];
	}
	return need - have;
}

static int
on_app(const struct assign_result *res, int a, int r)
{
	for (int i = 0; i < res->n_matches; i++)
		if (res->matches[i].app == a && res->matches[i].rev == r)
			return 1;
	return 0;
}

static int
app_mask(const struct assign_result *res, int a)
{
	int m = 0;
	for (int i = 0; i < res->n_matches; i++)
		if (res->matches[i].app == a)
			m |= 1 << res->matches[i].rev;
	return m;
}

static long n_instances, n_infeasible, n_exchanges, n_declines;

/* Every property of one small instance. */
static void
check_small(const struct small *s)
{
	struct assign_problem *p = small_problem(s);
	struct assign_result res, again;
	char err[256];

	CHECK(p != NULL);
	if (p == NULL)
		return;
	n_instances++;
	assign_solve(p, &res);
	if (assign_check(p, &res, err, sizeof(err)) != 0) {
		fprintf(stderr, "  assign_check: %s\n", err);
		CHECK(0);
	}
	long opt = brute(s, -1, 0);
	CHECK_EQ_INT(res.filled * 10000L + res.total_affinity, opt);

	/* Determinism: the same problem gives the same bytes. */
	assign_solve(p, &again);
	CHECK_EQ_INT(again.n_matches, res.n_matches);
	CHECK(memcmp(again.matches, res.matches, (size_t)res.n_matches * sizeof(*res.matches)) == 0);
	CHECK(memcmp(again.price_rev, res.price_rev, (size_t)s->R * sizeof(int)) == 0);
	assign_result_free(&again);

	/* Diagnosis: the union of the violators is the unique minimal set of
	 * maximum deficiency, and that maximum is the number of empty seats. */
	int maxdef = 0, uni = 0;
	for (int set = 0; set < (1 << s->A); set++) {
		int d = deficiency(s, set);
		if (d > maxdef)
			maxdef = d;
	}
	CHECK_EQ_INT(res.unfilled_total, maxdef);
	for (int g = 0; g < res.n_violators; g++)
		for (int k = 0; k < res.violators[g].n_apps; k++)
			uni |= 1 << res.violators[g].apps[k];
	if (maxdef > 0) {
		n_infeasible++;
		CHECK_EQ_INT(deficiency(s, uni), maxdef);
		for (int set = 0; set < (1 << s->A); set++)
			if (deficiency(s, set) == maxdef)
				CHECK((set & uni) == uni);
	} else {
		CHECK_EQ_INT(res.n_violators, 0);
	}

	/* Tie-break rule: no swap to a lower index of equal affinity with a
	 * free seat. */
	for (int i = 0; i < res.n_matches; i++) {
		const struct assign_match *m = &res.matches[i];
		for (int q = 0; q < m->rev; q++)
			if (s->w[m->app][q] == m->affinity && !on_app(&res, m->app, q))
				CHECK(res.load[q] >= s->cap[q]);
	}

	/* Explanations and exact exchange costs. */
	for (int i = 0; i < res.n_matches; i++) {
		struct assign_match m = res.matches[i];
		struct assign_explanation ex;
		CHECK_EQ_INT(assign_explain(p, &res, m.app, m.rev, 1, &ex), 0);
		int alt = -1;
		for (int q = 0; q < s->R; q++)
			if (s->w[m.app][q] >= 0 && !on_app(&res, m.app, q) &&
			    (alt < 0 || s->w[m.app][q] > s->w[m.app][alt]))
				alt = q;
		CHECK_EQ_INT(ex.alt_rev, alt);
		CHECK_EQ_INT(ex.affinity, m.affinity);
		if (alt < 0) {
			CHECK_EQ_INT(ex.why, ASSIGN_WHY_NO_ALTERNATIVE);
			continue;
		}
		if (s->w[m.app][alt] < m.affinity)
			CHECK_EQ_INT(ex.why, ASSIGN_WHY_LOWER_AFFINITY);
		else if (s->w[m.app][alt] == m.affinity && alt > m.rev)
			CHECK_EQ_INT(ex.why, ASSIGN_WHY_TIE_BY_ID);
		else {
			CHECK_EQ_INT(ex.why, ASSIGN_WHY_AT_CAPACITY);
			CHECK_EQ_INT(res.load[alt], s->cap[alt]);
		}
		/* Every possible alternative, not only the best one. */
		for (int q = 0; q < s->R; q++) {
			if (s->w[m.app][q] < 0 || on_app(&res, m.app, q))
				continue;
			long long loss;
			CHECK_EQ_INT(assign_exchange_loss(p, &res, m.app, m.rev, q, &loss), 0);
			long b = brute(s, m.app, (app_mask(&res, m.app) & ~(1 << m.rev)) | 1 << q);
			long want = b / 10000 == res.filled ? res.total_affinity - b % 10000 : -1;
			CHECK_EQ_INT(loss, want);
			if (q == alt)
				CHECK_EQ_INT(ex.exchange_loss, want);
			n_exchanges++;
		}
	}

	/* A decline: the best free reviewer takes the seat, nothing else moves. */
	if (res.n_matches > 0) {
		struct assign_match m = res.matches[below(res.n_matches)];
		struct assign_result before;
		int want = -1, got = -2;
		for (int q = 0; q < s->R; q++)
			if (s->w[m.app][q] >= 0 && !on_app(&res, m.app, q) && res.load[q] < s->cap[q] &&
			    (want < 0 || s->w[m.app][q] > s->w[m.app][want]))
				want = q;
		assign_solve(p, &before);
		CHECK_EQ_INT(assign_replace_seat(p, &res, m.app, m.rev, &got), 0);
		CHECK_EQ_INT(got, want);
		CHECK_EQ_INT(res.certified, 0);
		if (assign_check(p, &res, err, sizeof(err)) != 0) {
			fprintf(stderr, "  after decline: %s\n", err);
			CHECK(0);
		}
		/* Same matches except (app, rev) -> (app, want). */
		int j = 0;
		for (int i = 0; i < before.n_matches; i++) {
			const struct assign_match *b = &before.matches[i];
			if (b->app == m.app && b->rev == m.rev)
				continue;
			CHECK(on_app(&res, b->app, b->rev));
			j++;
		}
		CHECK_EQ_INT(res.n_matches, j + (want >= 0));
		if (want >= 0)
			CHECK(on_app(&res, m.app, want));
		CHECK_EQ_INT(res.unfilled[m.app], before.unfilled[m.app] + (want < 0));
		CHECK_EQ_INT(assign_replace_seat(p, &res, m.app, m.rev, &got), -1);
		assign_result_free(&before);
		n_declines++;
	}
	assign_result_free(&res);
	assign_problem_free(p);
}

static void
exhaustive_random(void)
{
	struct small s;

	for (int i = 0; i < 8000; i++) {
		small_random(&s, 4);
		check_small(&s);
	}
	for (int i = 0; i < 2000; i++) {
		small_random(&s, 1 + below(30));  /* wider affinities */
		check_small(&s);
	}
	printf("assign: %ld random instances (%ld infeasible), %ld exchange costs, %ld declines "
	    "checked against exhaustive search\n", n_instances, n_infeasible, n_exchanges, n_declines);
	CHECK(n_infeasible > 1000 && n_instances - n_infeasible > 1000);
}

/* ---- hand-made cases --------------------------------------------------- */

static struct assign_problem *
pairs_problem(int A, int R, int seats, const int *cap, const struct assign_pair *pairs, size_t n)
{
	char err[128];
	struct assign_problem *p = assign_problem_from_pairs(A, R, seats, cap, pairs, n, err, sizeof(err));
	if (p == NULL)
		fprintf(stderr, "  %s\n", err);
	return p;
}

static void
greedy_is_not_optimal(void)
{
	/* Greedy in application order gives app 0 its best (r0, 4), then app
	 * 1 gets r1 (0): total 4. The optimum crosses: 3 + 4 = 7. */
	static const int cap[] = { 1, 1 };
	static const struct assign_pair pairs[] = {
		{ 0, 0, 4 }, { 0, 1, 3 }, { 1, 0, 4 }, { 1, 1, 0 },
	};
	struct assign_problem *p = pairs_problem(2, 2, 1, cap, pairs, 4);
	struct assign_result res;

	assign_solve(p, &res);
	CHECK_EQ_INT(res.filled, 2);
	CHECK_EQ_INT(res.total_affinity, 7);
	CHECK_EQ_INT(res.matches[0].rev, 1);
	CHECK_EQ_INT(res.matches[1].rev, 0);
	assign_result_free(&res);
	assign_problem_free(p);

	/* Seats first: app 0 prefers r0 (4) but must leave it to app 1, whose
	 * only reviewer it is; 2 seats at affinity 0 + 1 beat 1 seat at 4. */
	static const struct assign_pair pairs2[] = { { 0, 0, 4 }, { 0, 1, 0 }, { 1, 0, 1 } };
	p = pairs_problem(2, 2, 1, cap, pairs2, 3);
	assign_solve(p, &res);
	CHECK_EQ_INT(res.filled, 2);
	CHECK_EQ_INT(res.total_affinity, 1);
	CHECK_EQ_INT(res.unfilled_total, 0);
	CHECK_EQ_INT(res.n_violators, 0);
	assign_result_free(&res);
	assign_problem_free(p);
}

static void
violator_named(void)
{
	/* Apps 0 and 1 (2 seats each) can only use r0 (limit 1) and r1
	 * (limit 5, but only 2 of its seats are usable by 2 applications):
	 * 4 needed, 3 available. App 2 uses r1/r2 and is fine. Apps 3 and 4
	 * form a second, separate bottleneck: both only r3 (limit 1). */
	static const int cap[] = { 1, 5, 5, 1 };
	static const struct assign_pair pairs[] = {
		{ 0, 0, 4 }, { 0, 1, 1 }, { 1, 0, 3 }, { 1, 1, 0 },
		{ 2, 1, 4 }, { 2, 2, 4 }, { 3, 3, 1 }, { 4, 3, 2 },
	};
	struct assign_problem *p = pairs_problem(5, 4, 2, cap, pairs, 8);
	struct assign_result res;
	char err[256];

	assign_solve(p, &res);
	CHECK_EQ_INT(assign_check(p, &res, err, sizeof(err)), 0);
	CHECK_EQ_INT(res.filled, 3 + 2 + 1);
	CHECK_EQ_INT(res.unfilled_total, 4);
	CHECK_EQ_INT(res.n_violators, 2);
	const struct assign_violator *v = &res.violators[0];
	CHECK_EQ_INT(v->n_apps, 2);
	CHECK_EQ_INT(v->apps[0], 0);
	CHECK_EQ_INT(v->apps[1], 1);
	CHECK_EQ_INT(v->n_revs, 2);
	CHECK_EQ_INT(v->revs[0], 0);
	CHECK_EQ_INT(v->revs[1], 1);
	CHECK_EQ_INT(v->usable[0], 1);
	CHECK_EQ_INT(v->usable[1], 2);
	CHECK_EQ_INT(v->seats_needed, 4);
	CHECK_EQ_INT(v->capacity, 3);
	v = &res.violators[1];
	CHECK_EQ_INT(v->n_apps, 2);
	CHECK_EQ_INT(v->apps[0], 3);
	CHECK_EQ_INT(v->n_revs, 1);
	CHECK_EQ_INT(v->revs[0], 3);
	CHECK_EQ_INT(v->seats_needed, 4);
	CHECK_EQ_INT(v->capacity, 1);
	assign_result_free(&res);
	assign_problem_free(p);

	/* No eligible reviewer at all: a violator with no reviewers. */
	static const int cap1[] = { 3 };
	static const struct assign_pair one[] = { { 0, 0, 2 } };
	p = pairs_problem(2, 1, 1, cap1, one, 1);
	assign_solve(p, &res);
	CHECK_EQ_INT(assign_check(p, &res, err, sizeof(err)), 0);
	CHECK_EQ_INT(res.n_violators, 1);
	CHECK_EQ_INT(res.violators[0].n_apps, 1);
	CHECK_EQ_INT(res.violators[0].apps[0], 1);
	CHECK_EQ_INT(res.violators[0].n_revs, 0);
	CHECK_EQ_INT(res.violators[0].capacity, 0);
	assign_result_free(&res);
	assign_problem_free(p);
}

static void
empty_and_degenerate(void)
{
	struct assign_result res;
	char err[256];
	struct assign_problem *p = pairs_problem(0, 0, 3, NULL, NULL, 0);

	CHECK(p != NULL);
	assign_solve(p, &res);
	CHECK_EQ_INT(res.filled, 0);
	CHECK_EQ_INT(res.unfilled_total, 0);
	CHECK_EQ_INT(assign_check(p, &res, err, sizeof(err)), 0);
	assign_result_free(&res);
	assign_problem_free(p);

	static const int zero[] = { 0, 0 };
	static const struct assign_pair pairs[] = { { 0, 0, 4 }, { 0, 1, 4 } };
	p = pairs_problem(1, 2, 2, zero, pairs, 2);
	assign_solve(p, &res);
	CHECK_EQ_INT(res.filled, 0);
	CHECK_EQ_INT(res.unfilled_total, 2);
	CHECK_EQ_INT(res.n_violators, 1);
	CHECK_EQ_INT(res.violators[0].n_revs, 0);   /* limit-0 reviewers are not listed */
	CHECK_EQ_INT(assign_check(p, &res, err, sizeof(err)), 0);
	assign_result_free(&res);
	assign_problem_free(p);

	/* Invalid input is refused with a reason. */
	static const int cap[] = { 1 };
	static const struct assign_pair dup[] = { { 0, 0, 1 }, { 0, 0, 2 } };
	static const struct assign_pair bad[] = { { 0, 0, 256 } };
	static const struct assign_pair out[] = { { 1, 0, 1 } };
	static const int neg[] = { -1 };
	CHECK(assign_problem_from_pairs(1, 1, 1, cap, dup, 2, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "twice") != NULL);
	CHECK(assign_problem_from_pairs(1, 1, 1, cap, bad, 1, err, sizeof(err)) == NULL);
	CHECK(assign_problem_from_pairs(1, 1, 1, cap, out, 1, err, sizeof(err)) == NULL);
	CHECK(assign_problem_from_pairs(1, 1, 1, neg, NULL, 0, err, sizeof(err)) == NULL);
	CHECK(assign_problem_from_pairs(1, 1, -1, cap, NULL, 0, err, sizeof(err)) == NULL);
}

static void
profiles_constructor(void)
{
	/* Families 0..2, regions 0..3. */
	static const int cap[] = { 2, 2, 2 };
	static const int fam[] = { 0, 1, 2, -1 };
	static const int reg[] = { 0, 1, -1, 3 };
	static const uint64_t rfam[] = { 1u << 0 | 1u << 1, 1u << 2, 0 };
	static const uint64_t rreg[] = { 1u << 1, 1u << 0 | 1u << 3, 1u << 0 };
	static const struct assign_conflict conf[] = { { 1, 0 }, { 3, 2 }, { 1, 0 } };
	struct assign_profiles in = {
		.n_apps = 4, .n_revs = 3, .seats = 2, .capacity = cap,
		.app_family = fam, .app_region = reg, .rev_families = rfam, .rev_regions = rreg,
		.conflicts = conf, .n_conflicts = 3,
	};
	char err[128];
	struct assign_problem *p = assign_problem_from_profiles(&in, err, sizeof(err));

	CHECK(p != NULL);
	if (p == NULL)
		return;
	CHECK_EQ_INT(assign_problem_pairs(p), 12 - 2);
	CHECK_EQ_INT(assign_affinity(p, 0, 0), 3);      /* family 0, region 0 not in {1} */
	CHECK_EQ_INT(assign_affinity(p, 0, 1), 1);      /* region 0 */
	CHECK_EQ_INT(assign_affinity(p, 0, 2), 1);
	CHECK_EQ_INT(assign_affinity(p, 1, 0), -1);     /* conflict */
	CHECK_EQ_INT(assign_affinity(p, 1, 1), 0);
	CHECK_EQ_INT(assign_affinity(p, 2, 1), 3);
	CHECK_EQ_INT(assign_affinity(p, 3, 1), 1);      /* unknown family, region 3 */
	CHECK_EQ_INT(assign_affinity(p, 3, 2), -1);
	CHECK_EQ_INT(assign_affinity(p, 9, 0), -1);
	struct assign_result res;
	assign_solve(p, &res);
	CHECK_EQ_INT(assign_check(p, &res, err, sizeof(err)), 0);
	CHECK_EQ_INT(res.filled, 6);                    /* 3 reviewers x 2 */
	assign_result_free(&res);
	assign_problem_free(p);

	static const int badfam[] = { 0, 1, 64, 0 };
	in.app_family = badfam;
	CHECK(assign_problem_from_profiles(&in, err, sizeof(err)) == NULL);
}

static void
explanation_texts(void)
{
	/* Reviewers: r0 limit 1, r1 limit 2, r2 limit 2, r3 limit 1.
	 * App 0 wants r0 (4) like app 1 does, but app 1 has no other good
	 * good reviewer, so r0 goes to app 1 and app 0 takes r1 (3): r0 is "at
	 * capacity" for app 0, and moving it there costs exactly 3 (app 0
	 * gains 1, app 1 falls from 4 to 0 on r2). */
	static const int cap[] = { 1, 2, 2, 1 };
	static const struct assign_pair pairs[] = {
		{ 0, 0, 4 }, { 0, 1, 3 }, { 0, 2, 3 },
		{ 1, 0, 4 }, { 1, 2, 0 },
		{ 2, 1, 2 }, { 2, 2, 2 }, { 2, 3, 1 },
	};
	struct assign_problem *p = pairs_problem(3, 4, 1, cap, pairs, 8);
	struct assign_result res;
	struct assign_explanation ex;
	char err[256];

	assign_solve(p, &res);
	CHECK_EQ_INT(assign_check(p, &res, err, sizeof(err)), 0);
	CHECK_EQ_INT(res.total_affinity, 4 + 3 + 2);
	CHECK(on_app(&res, 0, 1));
	CHECK(on_app(&res, 1, 0));
	CHECK(on_app(&res, 2, 1));      /* tie r1/r2 at 2: lower id, r1 has room */

	CHECK_EQ_INT(assign_explain(p, &res, 0, 1, 1, &ex), 0);
	CHECK_EQ_INT(ex.why, ASSIGN_WHY_AT_CAPACITY);
	CHECK_EQ_INT(ex.alt_rev, 0);
	CHECK_EQ_INT(ex.exchange_loss, 3);
	CHECK_EQ_STR(ex.text, "reviewer #1 on application #0: affinity 3; best alternative "
	    "reviewer #0 (affinity 4) is at capacity: 1/1 seats, all with affinity >= 4; giving "
	    "it this seat would lower total affinity by 3 (best exchange, same number of filled "
	    "seats)");

	CHECK_EQ_INT(assign_explain(p, &res, 0, 1, 0, &ex), 0);
	CHECK_EQ_INT(ex.exchange_loss, -2);
	CHECK_EQ_STR(ex.text, "reviewer #1 on application #0: affinity 3; best alternative "
	    "reviewer #0 (affinity 4) is at capacity: 1/1 seats, all with affinity >= 4");

	CHECK_EQ_INT(assign_explain(p, &res, 2, 1, 1, &ex), 0);
	CHECK_EQ_INT(ex.why, ASSIGN_WHY_TIE_BY_ID);
	CHECK_EQ_INT(ex.exchange_loss, 0);
	CHECK_EQ_STR(ex.text, "reviewer #1 on application #2: affinity 2; best alternative "
	    "reviewer #2 has equal affinity (2); tie broken by id (lower id first); giving it "
	    "this seat would lower total affinity by 0 (best exchange, same number of filled seats)");

	CHECK_EQ_INT(assign_explain(p, &res, 1, 0, 0, &ex), 0);
	CHECK_EQ_INT(ex.why, ASSIGN_WHY_LOWER_AFFINITY);
	CHECK_EQ_STR(ex.text, "reviewer #0 on application #1: affinity 4; best alternative "
	    "reviewer #2 has lower affinity (0)");

	CHECK_EQ_INT(assign_explain(p, &res, 1, 3, 0, &ex), -1);    /* not assigned */

	/* Decline: r1 leaves app 0; r0 is full, so r2 (3, free) replaces it
	 * and every other assignment stays. */
	int got = -9;
	CHECK_EQ_INT(assign_replace_seat(p, &res, 0, 1, &got), 0);
	CHECK_EQ_INT(got, 2);
	CHECK(on_app(&res, 0, 2));
	CHECK(!on_app(&res, 0, 1));
	CHECK(on_app(&res, 1, 0));
	CHECK(on_app(&res, 2, 1));
	CHECK_EQ_INT(res.total_affinity, 4 + 3 + 2);
	CHECK_EQ_INT(assign_check(p, &res, err, sizeof(err)), 0);
	CHECK_EQ_INT(assign_exchange_loss(p, &res, 0, 2, 1, &(long long){0}), -1); /* uncertified */

	/* Uncertified now: no exchange cost, r0 is still full. */
	CHECK_EQ_INT(assign_explain(p, &res, 0, 2, 1, &ex), 0);
	CHECK_EQ_INT(ex.alt_rev, 0);
	CHECK_EQ_INT(ex.why, ASSIGN_WHY_AT_CAPACITY);
	CHECK_EQ_INT(ex.exchange_loss, -2);
	/* App 1 declines r0: the only other reviewer r2 (0) has a free seat. */
	CHECK_EQ_INT(assign_replace_seat(p, &res, 1, 0, &got), 0);
	CHECK_EQ_INT(got, 2);
	/* Now r0 is free and app 0 (reviewer r2) sees it: freed after the solve. */
	CHECK_EQ_INT(assign_explain(p, &res, 0, 2, 0, &ex), 0);
	CHECK_EQ_INT(ex.why, ASSIGN_WHY_FREED_LATER);
	CHECK_EQ_STR(ex.text, "reviewer #2 on application #0: affinity 3; best alternative "
	    "reviewer #0 (affinity 4) has 1 free seat(s) freed after the solve; a new solve may use it");
	/* App 1 declines r2: r0 is free and still an allowed pair of the
	 * problem, so it comes back (the caller records declines as conflicts
	 * before the next solve; replace_seat only excludes the decliner). */
	CHECK_EQ_INT(assign_replace_seat(p, &res, 1, 2, &got), 0);
	CHECK_EQ_INT(got, 0);
	assign_result_free(&res);
	assign_problem_free(p);

	/* No replacement at all: the seat stays empty and is counted. */
	static const int cap1[] = { 1 };
	static const struct assign_pair one[] = { { 0, 0, 2 } };
	p = pairs_problem(1, 1, 1, cap1, one, 1);
	assign_solve(p, &res);
	CHECK_EQ_INT(assign_explain(p, &res, 0, 0, 1, &ex), 0);
	CHECK_EQ_INT(ex.why, ASSIGN_WHY_NO_ALTERNATIVE);
	CHECK_EQ_STR(ex.text, "reviewer #0 on application #0: affinity 2; no other eligible reviewer");
	CHECK_EQ_INT(assign_replace_seat(p, &res, 0, 0, &got), 0);
	CHECK_EQ_INT(got, -1);
	CHECK_EQ_INT(res.filled, 0);
	CHECK_EQ_INT(res.unfilled_total, 1);
	CHECK_EQ_INT(res.unfilled[0], 1);
	CHECK_EQ_INT(res.load[0], 0);
	CHECK_EQ_INT(assign_check(p, &res, err, sizeof(err)), 0);
	assign_result_free(&res);
	assign_problem_free(p);
}

/* A mid-size instance of each constructor: certificate, determinism, and
 * that listing the pairs in another order changes nothing. */
static void
medium_certified(void)
{
	enum { A = 300, R = 120 };
	static int fam[A], reg[A], cap[R];
	static uint64_t rfam[R], rreg[R];
	static struct assign_conflict conf[A * R / 40 + 1];
	static struct assign_pair pairs[A * R];
	size_t nc = 0, np = 0;
	char err[256];

	for (int a = 0; a < A; a++) {
		fam[a] = below(100) < 50 ? 0 : below(7);
		reg[a] = below(18);
	}
	for (int r = 0; r < R; r++) {
		cap[r] = 5 + below(4);
		rfam[r] = 1ull << (6 - below(7) % 7) | 1ull << below(7);
		rreg[r] = 1ull << below(18) | 1ull << below(18);
	}
	for (int a = 0; a < A; a++)
		for (int r = 0; r < R; r++)
			if (below(40) == 0 && nc < A * R / 40)
				conf[nc++] = (struct assign_conflict){ a, r };
	struct assign_profiles in = {
		.n_apps = A, .n_revs = R, .seats = 3, .capacity = cap, .app_family = fam,
		.app_region = reg, .rev_families = rfam, .rev_regions = rreg,
		.conflicts = conf, .n_conflicts = nc,
	};
	struct assign_problem *p = assign_problem_from_profiles(&in, err, sizeof(err));
	struct assign_result res, res2;
	CHECK(p != NULL);
	assign_solve(p, &res);
	CHECK_EQ_INT(assign_check(p, &res, err, sizeof(err)), 0);
	/* The same graph as shuffled pairs. */
	for (int a = 0; a < A; a++)
		for (int r = 0; r < R; r++) {
			int w = assign_affinity(p, a, r);
			if (w >= 0)
				pairs[np++] = (struct assign_pair){ a, r, w };
		}
	for (size_t i = np - 1; i > 0; i--) {
		size_t j = rnd() % (i + 1);
		struct assign_pair t = pairs[i];
		pairs[i] = pairs[j];
		pairs[j] = t;
	}
	struct assign_problem *q = assign_problem_from_pairs(A, R, 3, cap, pairs, np, err, sizeof(err));
	assign_solve(q, &res2);
	CHECK_EQ_INT(assign_check(q, &res2, err, sizeof(err)), 0);
	CHECK_EQ_INT(res2.filled, res.filled);
	CHECK_EQ_INT(res2.total_affinity, res.total_affinity);
	assign_result_free(&res2);

	/* Sparse pairs with wide affinities: many phases, still certified. */
	np = 0;
	for (int a = 0; a < A; a++)
		for (int r = 0; r < R; r++)
			if (below(10) == 0)
				pairs[np++] = (struct assign_pair){ a, r, below(ASSIGN_AFFINITY_MAX + 1) };
	struct assign_problem *s = assign_problem_from_pairs(A, R, 3, cap, pairs, np, err, sizeof(err));
	assign_solve(s, &res2);
	if (assign_check(s, &res2, err, sizeof(err)) != 0) {
		fprintf(stderr, "  sparse: %s\n", err);
		CHECK(0);
	}
	CHECK(res2.phases > 5);
	assign_result_free(&res2);
	assign_problem_free(s);
	assign_result_free(&res);
	assign_problem_free(q);
	assign_problem_free(p);
}

UNIT_MAIN("assign",
    UNIT_CASE(exhaustive_random),
    UNIT_CASE(greedy_is_not_optimal),
    UNIT_CASE(violator_named),
    UNIT_CASE(empty_and_degenerate),
    UNIT_CASE(profiles_constructor),
    UNIT_CASE(explanation_texts),
    UNIT_CASE(medium_certified))
