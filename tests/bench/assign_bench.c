/* assign_bench.c - deterministic instances for the assignment benchmark
 * (tests/bench/assign.sh). Not part of any binary of the server.
 *
 *   assign_bench solve MODE APPS REVS SEATS CONFLICT_PERMILLE SLACK_PERCENT SEED
 *       build and solve one instance, verify it with assign_check, print
 *       one line of key=value figures (times in ms, peak RSS in KiB).
 *   assign_bench lp MODE APPS REVS SEATS CONFLICT_PERMILLE SLACK_PERCENT SEED FILE
 *       the same, and write the instance as a CPLEX-format LP for glpsol:
 *       maximise sum (M + affinity)·x over allowed pairs, M = 4·seats·apps
 *       + 1 > any total affinity, so the LP optimum is M·filled + affinity
 *       (the constraint matrix is totally unimodular: the LP optimum is
 *       integral and equals the assignment optimum).
 *
 * The instances follow DESIGN §5 at the scale of a large call: 7 families
 * and 18 regions with uneven popularity, reviewers with 1-3 families and
 * 0-4 regions, a conflict per pair with probability CONFLICT_PERMILLE/1000,
 * and seat limits summing to (100 + SLACK_PERCENT)% of the seats (a
 * negative slack makes the instance infeasible). MODE "real" draws the
 * reviewers' families with the applications' popularity; "scarce" draws them
 * with the reverse popularity, so experts of the popular families are rare
 * and the optimum needs long exchange chains (many more phases). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "assign.h"
#include "util.h"

static uint64_t rng_state;

static uint64_t
rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int
rng_below(int n)
{
	return (int)(rng_next() % (uint64_t)n);
}

static int
pick(const int *weights, int n)
{
	int total = 0;
	for (int i = 0; i < n; i++)
		total += weights[i];
	int x = rng_below(total);
	for (int i = 0; i < n; i++) {
		if (x < weights[i])
			return i;
		x -= weights[i];
	}
	return n - 1;
}

static const int family_w[7] = { 30, 20, 15, 12, 10, 8, 5 };
static const int region_w[18] = { 22, 14, 10, 8, 7, 6, 5, 5, 4, 4, 3, 3, 2, 2, 2, 1, 1, 1 };

struct instance {
	struct assign_profiles in;
	int *capacity, *fam, *reg;
	uint64_t *rfam, *rreg;
	struct assign_conflict *conf;
};

static void
generate(struct instance *x, int scarce, int A, int R, int seats, int permille, int slack,
    uint64_t seed)
{
	int rfam_w[7];

	for (int i = 0; i < 7; i++)
		rfam_w[i] = scarce ? family_w[6 - i] : family_w[i];
	rng_state = seed;
	x->fam = xmalloc((size_t)A * sizeof(int) + 1);
	x->reg = xmalloc((size_t)A * sizeof(int) + 1);
	x->capacity = xmalloc((size_t)R * sizeof(int) + 1);
	x->rfam = xmalloc((size_t)R * sizeof(uint64_t) + 1);
	x->rreg = xmalloc((size_t)R * sizeof(uint64_t) + 1);
	for (int a = 0; a < A; a++) {
		x->fam[a] = pick(family_w, 7);
		x->reg[a] = pick(region_w, 18);
	}
	for (int r = 0; r < R; r++) {
		int nf = 1 + rng_below(3), nr = rng_below(5);
		x->rfam[r] = 0;
		x->rreg[r] = 0;
		for (int k = 0; k < nf; k++)
			x->rfam[r] |= 1ull << pick(rfam_w, 7);
		for (int k = 0; k < nr; k++)
			x->rreg[r] |= 1ull << pick(region_w, 18);
	}
	long long target = ((long long)A * seats * (100 + slack) + 99) / 100, sum = 0;
	int mean = (int)(target / (R > 0 ? R : 1));
	for (int r = 0; r < R; r++) {
		int c = mean - 3 + rng_below(7);
		x->capacity[r] = c < 1 ? 1 : c;
		sum += x->capacity[r];
	}
	for (int r = 0; R > 0 && sum != target; r = (r + 1) % R) {
		if (sum < target) {
			x->capacity[r]++;
			sum++;
		} else if (x->capacity[r] > 1) {
			x->capacity[r]--;
			sum--;
		}
	}
	size_t n = 0, cap = 1024;
	x->conf = xmalloc(cap * sizeof(*x->conf));
	for (int a = 0; a < A; a++) {
		for (int r = 0; r < R; r++) {
			if (rng_below(1000) >= permille)
				continue;
			if (n == cap)
				x->conf = xrealloc(x->conf, (cap *= 2) * sizeof(*x->conf));
			x->conf[n].app = a;
			x->conf[n].rev = r;
			n++;
		}
	}
	x->in = (struct assign_profiles){
		.n_apps = A, .n_revs = R, .seats = seats, .capacity = x->capacity,
		.app_family = x->fam, .app_region = x->reg,
		.rev_families = x->rfam, .rev_regions = x->rreg,
		.conflicts = x->conf, .n_conflicts = n,
	};
}

static void
write_lp(const char *path, const struct assign_problem *p, long long M)
{
	FILE *fp = fopen(path, "w");
	if (fp == NULL) {
		perror(path);
		exit(2);
	}
	int A = assign_problem_apps(p), R = assign_problem_revs(p), S = assign_problem_seats(p);
	/* Variables x<a>_<r> over allowed pairs. */
	fprintf(fp, "\\ assignment: %d applications, %d reviewers, %d seats\nMaximize\n obj:", A, R, S);
	int k = 0;
	for (int a = 0; a < A; a++)
		for (int r = 0; r < R; r++) {
			int w = assign_affinity(p, a, r);
			if (w < 0)
				continue;
			fprintf(fp, " + %lld x%d_%d", M + w, a, r);
			if (++k % 8 == 0)
				fputs("\n", fp);
		}
	fputs("\nSubject To\n", fp);
	for (int a = 0; a < A; a++) {
		fprintf(fp, " a%d:", a);
		k = 0;
		for (int r = 0; r < R; r++)
			if (assign_affinity(p, a, r) >= 0) {
				fprintf(fp, " + x%d_%d", a, r);
				if (++k % 12 == 0)
					fputs("\n", fp);
			}
		fprintf(fp, " <= %d\n", S);
	}
	for (int r = 0; r < R; r++) {
		fprintf(fp, " r%d:", r);
		k = 0;
		for (int a = 0; a < A; a++)
			if (assign_affinity(p, a, r) >= 0) {
				fprintf(fp, " + x%d_%d", a, r);
				if (++k % 12 == 0)
					fputs("\n", fp);
			}
		fprintf(fp, " <= %d\n", assign_problem_capacity(p, r));
	}
	fputs("Bounds\n", fp);
	for (int a = 0; a < A; a++)
		for (int r = 0; r < R; r++)
			if (assign_affinity(p, a, r) >= 0)
				fprintf(fp, " x%d_%d <= 1\n", a, r);
	fputs("End\n", fp);
	fclose(fp);
}

int
main(int argc, char **argv)
{
	if (argc < 9 || (strcmp(argv[1], "solve") != 0 && strcmp(argv[1], "lp") != 0) ||
	    (strcmp(argv[2], "real") != 0 && strcmp(argv[2], "scarce") != 0) ||
	    (strcmp(argv[1], "lp") == 0 && argc < 10)) {
		fprintf(stderr, "usage: assign_bench solve|lp real|scarce APPS REVS SEATS "
		    "CONFLICT_PERMILLE SLACK_PERCENT SEED [FILE.lp]\n");
		return 2;
	}
	int scarce = strcmp(argv[2], "scarce") == 0;
	int A = atoi(argv[3]), R = atoi(argv[4]), seats = atoi(argv[5]);
	int permille = atoi(argv[6]), slack = atoi(argv[7]);
	uint64_t seed = strtoull(argv[8], NULL, 10);
	struct instance x;
	char err[256];

	generate(&x, scarce, A, R, seats, permille, slack, seed);
	int64_t t0 = now_usec();
	struct assign_problem *p = assign_problem_from_profiles(&x.in, err, sizeof(err));
	if (p == NULL) {
		fprintf(stderr, "assign_bench: %s\n", err);
		return 1;
	}
	int64_t t1 = now_usec();
	struct assign_result res;
	assign_solve(p, &res);
	int64_t t2 = now_usec();
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	if (assign_check(p, &res, err, sizeof(err)) != 0) {
		fprintf(stderr, "assign_bench: CHECK FAILED: %s\n", err);
		return 1;
	}
	int64_t t3 = now_usec();
	/* A decline and an exact explanation, timed, on the first match. */
	long long explain_us = -1;
	if (res.n_matches > 0) {
		struct assign_explanation ex;
		int64_t e0 = now_usec();
		assign_explain(p, &res, res.matches[0].app, res.matches[0].rev, 1, &ex);
		explain_us = now_usec() - e0;
	}
	long long M = 4LL * seats * A + 1;
	int biggest = 0;
	for (int g = 0; g < res.n_violators; g++)
		if (res.violators[g].n_apps > biggest)
			biggest = res.violators[g].n_apps;
	printf("apps=%d revs=%d seats=%d pairs=%zu conflicts=%zu build_ms=%.1f solve_ms=%.1f "
	    "check_ms=%.1f explain_ms=%.1f filled=%lld affinity=%lld unfilled=%lld violators=%d "
	    "largest_violator=%d phases=%d rounds=%d maxrss_kb=%ld lp_obj=%lld\n",
	    A, R, seats, assign_problem_pairs(p), x.in.n_conflicts, (t1 - t0) / 1000.0,
	    (t2 - t1) / 1000.0, (t3 - t2) / 1000.0, explain_us / 1000.0, res.filled,
	    res.total_affinity, res.unfilled_total, res.n_violators, biggest, res.phases,
	    res.rounds, ru.ru_maxrss, M * res.filled + res.total_affinity);
	if (strcmp(argv[1], "lp") == 0)
		write_lp(argv[9], p, M);
	assign_result_free(&res);
	assign_problem_free(p);
	free(x.capacity);
	free(x.fam);
	free(x.reg);
	free(x.rfam);
	free(x.rreg);
	free(x.conf);
	return 0;
}
