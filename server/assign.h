/* assign.h - optimal reviewer assignment, its diagnosis and its explanation
 * (DESIGN §5 "Assignment"). A pure core: no SQL, no sockets, no globals.
 *
 * The caller numbers applications 0..n_apps-1 and reviewers 0..n_revs-1 in
 * ascending database id, so "lower index" below means "lower id".
 *
 * The problem: every application needs `seats` reviewers; reviewer r takes
 * at most capacity[r] seats (the caller passes min(maxLoad,
 * maxLoadPerReviewer)); a reviewer serves an application at most once and
 * only over an allowed pair (panel member, not conflicted), which carries an
 * integer affinity. The solver returns an exact lexicographic optimum: the
 * largest number of filled seats, then the largest total affinity among
 * assignments with that many seats. It is a min-cost max-flow with edge cost
 * (K - affinity), solved by a primal-dual method: a bucketed Dijkstra on
 * reduced costs, then a Dinic max-flow on the zero-reduced-cost subgraph,
 * repeated until no augmenting path is left.
 *
 * Determinism: no randomness, no hashing, no floating point, no
 * address-dependent order; the result is a function of the problem (pairs
 * are sorted on construction, so their input order does not matter).
 * Tie-break among optimal assignments (documented rule, checked by the unit
 * tests): after the solve, no application could exchange one of its
 * reviewers for a lower-index eligible reviewer of equal affinity who still
 * has a free seat; ties the rule does not decide follow the fixed search
 * order (applications and reviewers in ascending index).
 *
 * Diagnosis: when seats stay empty, the result names Hall-violator sets (see
 * struct assign_violator) taken from the minimum cut of the final residual
 * graph, with an optimality certificate (dual prices) that assign_check
 * verifies independently. */
#ifndef GEN_ASSIGN_H
#define GEN_ASSIGN_H

#include <stddef.h>
#include <stdint.h>

/** Affinities are integers in [0, ASSIGN_AFFINITY_MAX]. */
#define ASSIGN_AFFINITY_MAX 255
/** Reviewer indices are below this bound (they are packed in 24 bits). */
#define ASSIGN_MAX_REVS (1 << 24)
/** DESIGN §5: affinity = 3·[family matches] + 1·[region matches]. */
#define ASSIGN_FAMILY_WEIGHT 3
#define ASSIGN_REGION_WEIGHT 1
/** Family and region codes of assign_profiles are below this bound. */
#define ASSIGN_MAX_CODES 64

/** One allowed (application, reviewer) pair and its affinity. */
struct assign_pair {
	int app;
	int rev;
	int affinity;
};

/** One forbidden (application, reviewer) pair. */
struct assign_conflict {
	int app;
	int rev;
};

/** The compact form of a call (DESIGN §5): every reviewer is a panel member
 * and may serve every application except the conflicted pairs. Affinity is
 * ASSIGN_FAMILY_WEIGHT·[app_family ∈ rev_families] +
 * ASSIGN_REGION_WEIGHT·[app_region ∈ rev_regions]. A code of -1 (unknown)
 * matches nothing. */
struct assign_profiles {
	int n_apps;
	int n_revs;
	int seats;                      /* seats per application */
	const int *capacity;            /* n_revs seat limits, >= 0 */
	const int *app_family;          /* n_apps codes in [-1, 64) */
	const int *app_region;          /* n_apps codes in [-1, 64) */
	const uint64_t *rev_families;   /* n_revs bit sets of family codes */
	const uint64_t *rev_regions;    /* n_revs bit sets of region codes */
	const struct assign_conflict *conflicts; /* any order; repeats allowed */
	size_t n_conflicts;
};

/** An immutable problem: a compact adjacency (4 bytes per allowed pair)
 * built by one of the two constructors below. */
struct assign_problem;

/** Build a problem from an explicit list of allowed pairs, in any order
 * (it is sorted; a repeated pair is an error). capacity holds n_revs values.
 * Returns NULL with a message in err on an invalid argument. */
struct assign_problem *assign_problem_from_pairs(int n_apps, int n_revs,
    int seats, const int *capacity, const struct assign_pair *pairs,
    size_t n_pairs, char *err, size_t errlen);

/** Build a problem from profiles without materialising pair structs
 * (5,000 x 2,000 builds in tens of milliseconds). Returns NULL with a
 * message in err on an invalid argument. */
struct assign_problem *assign_problem_from_profiles(
    const struct assign_profiles *in, char *err, size_t errlen);

/** Free a problem (NULL is fine). */
void assign_problem_free(struct assign_problem *p);

/** Sizes of a problem. */
int assign_problem_apps(const struct assign_problem *p);
int assign_problem_revs(const struct assign_problem *p);
int assign_problem_seats(const struct assign_problem *p);
size_t assign_problem_pairs(const struct assign_problem *p);
/** Seat limit of reviewer rev. */
int assign_problem_capacity(const struct assign_problem *p, int rev);

/** Affinity of an allowed pair, or -1 when the pair is not allowed or out
 * of range. O(log degree). */
int assign_affinity(const struct assign_problem *p, int app, int rev);

/** One assignment: reviewer rev serves application app. */
struct assign_match {
	int app;
	int rev;
	int affinity;
};

/** A Hall-violator set: applications `apps` (S) can only be reviewed by
 * reviewers `revs` (N(S), those with a non-zero seat limit), and reviewer
 * revs[i] can take at most usable[i] = min(capacity, |S ∩ adj(revs[i])|)
 * of their seats, so seats_needed = |S|·seats > capacity = Σ usable.
 *
 * "Smallest" guaranteed: the union of all violators of a result is the
 * unique inclusion-minimal set of applications of maximum deficiency
 * (deficiency = seats_needed - capacity; its maximum equals the number of
 * empty seats): every set of applications that accounts for all empty
 * seats contains it. It is the source side of the minimal minimum cut. It is
 * split into its connected pieces (no two pieces share an eligible
 * reviewer), each itself a violator, so the deficiencies add up to the
 * number of empty seats. A minimum-cardinality violator (any deficiency) is
 * NP-hard to find in general and is not claimed. */
struct assign_violator {
	int n_apps;
	int *apps;                 /* ascending */
	int n_revs;
	int *revs;                 /* ascending */
	int *usable;               /* n_revs */
	long long seats_needed;
	long long capacity;
};

/** The result of assign_solve. Owned by the caller; free it with
 * assign_result_free. */
struct assign_result {
	int n_apps;
	int n_revs;
	int n_matches;
	struct assign_match *matches;   /* ascending (app, rev) */
	long long filled;               /* = n_matches */
	long long total_affinity;
	long long unfilled_total;
	int *unfilled;                  /* n_apps: seats left empty per app */
	int *load;                      /* n_revs: seats taken per reviewer */
	int n_violators;                /* 0 when every seat is filled */
	struct assign_violator *violators; /* by size, then lowest app */
	/* The optimality certificate (dual prices) for edge cost
	 * c(a,r) = cost_base - affinity: reduced cost c + price_app[a] -
	 * price_rev[r] is >= 0 on unassigned allowed pairs and <= 0 on
	 * assigned ones; price_rev[r] >= price_sink when r has a free seat,
	 * <= price_sink when r has a seat taken; price_app[a] = 0 when a has
	 * an empty seat. */
	int cost_base;
	int *price_app;
	int *price_rev;
	int price_sink;
	/* 1 while matches are the solver's own optimum, so prices and
	 * violators describe them; assign_replace_seat sets it to 0. */
	int certified;
	int phases;                     /* Dijkstra runs (distinct path costs) */
	int rounds;                     /* Dinic level graphs built */
};

/** Solve p exactly into res (zeroed first; free it with
 * assign_result_free). Each phase costs one Dijkstra, O(pairs + nodes), and
 * a few Dinic rounds, O(pairs) each plus the augmenting paths; the number
 * of phases is the number of distinct shortest augmenting-path costs (2-4
 * on DESIGN-like calls, a few hundred with affinities spread over 0..255).
 * Memory: 5 bytes per allowed pair (the problem's 4 plus 1 of flow) and
 * O(apps + revs). Returns 0. */
int assign_solve(const struct assign_problem *p, struct assign_result *res);

/** Free what res holds (res itself is the caller's) and zero it. */
void assign_result_free(struct assign_result *res);

/** An independent verifier: every match is an allowed pair with its
 * affinity, sorted, no duplicate, no application above `seats`, no
 * reviewer above its limit, and the counters agree. When res->certified,
 * also the optimality proof and the tie-break rule: the dual prices
 * satisfy every reduced-cost condition (min total cost for the number of
 * filled seats), no application leaves out an equal-affinity lower-index
 * reviewer with a free seat, and the
 * violators are recomputed from p, have disjoint reviewer sets and their
 * deficiencies add up to unfilled_total (no assignment fills more).
 * O(pairs). Returns 0, or -1 with the first fault in err. */
int assign_check(const struct assign_problem *p,
    const struct assign_result *res, char *err, size_t errlen);

/** Why the best alternative reviewer was not chosen. */
enum assign_why {
	ASSIGN_WHY_NO_ALTERNATIVE,  /* no other eligible reviewer */
	ASSIGN_WHY_LOWER_AFFINITY,  /* the alternative's affinity is lower */
	ASSIGN_WHY_TIE_BY_ID,       /* equal affinity, the alternative's id is higher */
	ASSIGN_WHY_AT_CAPACITY,     /* every seat of the alternative is taken */
	ASSIGN_WHY_FREED_LATER,     /* uncertified result: a seat of the
	                               alternative was freed after the solve */
};

/** The explanation of one assigned pair. */
struct assign_explanation {
	int app;
	int rev;
	int affinity;
	int alt_rev;             /* best alternative: highest affinity among
	                            eligible reviewers not on app, then lowest
	                            index; -1 when none */
	int alt_affinity;
	enum assign_why why;
	int alt_load;            /* seats the alternative holds */
	int alt_capacity;
	int alt_min_affinity;    /* lowest affinity among its seats, -1 none */
	/* With `exact`: the loss of total affinity of the best assignment
	 * with the same number of filled seats in which alt_rev replaces rev
	 * on app (app's other reviewers kept), -1 when no such assignment
	 * exists; -2 when not computed. */
	long long exchange_loss;
	char text[384];          /* one English sentence, indices as "#n" */
};

/** Explain the assigned pair (app, rev) of res. Cost O(degree(app) +
 * matches); with `exact` (certified results only) also one Dijkstra,
 * O(pairs) in the worst case, for exchange_loss. Returns 0, or -1 when
 * (app, rev) is not assigned in res. */
int assign_explain(const struct assign_problem *p,
    const struct assign_result *res, int app, int rev, int exact,
    struct assign_explanation *out);

/** The exact exchange loss of moving app's seat from rev to alt (see
 * assign_explanation.exchange_loss): one Dijkstra on the reduced costs of
 * the certified result, excluding app. Returns 0 with *loss set (>= 0, or
 * -1 when impossible without emptying a seat), or -1 when res is not
 * certified, (app, rev) is not assigned, or alt is not an eligible reviewer
 * of app outside its reviewers. */
int assign_exchange_loss(const struct assign_problem *p,
    const struct assign_result *res, int app, int rev, int alt,
    long long *loss);

/** Reviewer rev declines application app: give that one seat to the
 * eligible reviewer with a free seat, not rev and not already on app, of
 * highest affinity, then lowest index (the optimal choice when every other
 * assignment is kept), and update res in place (matches, counters, loads;
 * certified becomes 0, so prices and violators describe the solve only).
 * The caller records the decline (e.g. as a conflict) before any later full
 * solve. Returns 0 and sets *replacement to the new reviewer, or to -1 when
 * nobody is eligible (the seat then stays empty and counts in unfilled);
 * returns -1, res unchanged, when (app, rev) is not assigned in res. */
int assign_replace_seat(const struct assign_problem *p,
    struct assign_result *res, int app, int rev, int *replacement);

#endif
