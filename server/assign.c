/* assign.c - see assign.h.
 *
 * The network: source S -> application a (capacity seats, cost 0) ->
 * reviewer r (capacity 1, cost K - affinity(a,r) >= 0) -> sink T (capacity
 * capacity[r], cost 0). Every maximum flow fills the same number of seats F
 * and costs K·F - total affinity, so a minimum-cost maximum flow is exactly
 * the lexicographic optimum asked for, with non-negative integer costs.
 *
 * Why primal-dual with Dinic rather than plain successive shortest paths:
 * a call has ~15,000 seats but the edge costs take only K+1 values, so the
 * length of the shortest augmenting path changes only a few dozen times.
 * Each phase runs one Dijkstra (bucket queue: reduced costs are small
 * integers) to update the potentials, then saturates every shortest path at
 * once with Dinic on the subgraph of zero reduced cost; the next Dijkstra
 * then finds a strictly longer path. Flow only moves along zero-reduced-cost
 * edges, so the potentials stay a valid dual solution throughout and are
 * returned as the optimality certificate.
 *
 * Memory: one 32-bit word per allowed pair (reviewer << 8 | cost), sorted
 * by reviewer inside each application, plus one byte per pair for the flow.
 * A reviewer's taken seats live in a slot list of at most min(capacity,
 * degree) entries, which is all the backward (reviewer -> application)
 * residual edges: the graph is never stored twice. */
#include "assign.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define EDGE(rev, cost) (((uint32_t)(rev) << 8) | (uint32_t)(cost))
#define EDGE_REV(e)     ((int)((e) >> 8))
#define EDGE_COST(e)    ((int)((e) & 0xffu))
#define INF             INT_MAX

struct assign_problem {
	int n_apps;
	int n_revs;
	int seats;
	int cost_base;          /* K: cost = K - affinity */
	int *capacity;          /* n_revs */
	size_t *off;            /* n_apps + 1 */
	uint32_t *adj;          /* off[n_apps] words */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- problems ---------------------------------------------------------- */

static struct assign_problem *
problem_new(int n_apps, int n_revs, int seats, const int *capacity,
    char *err, size_t errlen)
{
	if (n_apps < 0 || n_revs < 0 || n_revs >= ASSIGN_MAX_REVS) {
		set_err(err, errlen, "sizes out of range: %d applications, %d reviewers",
		    n_apps, n_revs);
		return NULL;
	}
	if (seats < 0) {
		set_err(err, errlen, "seats must be >= 0, got %d", seats);
		return NULL;
	}
	if (n_revs > 0 && capacity == NULL) {
		set_err(err, errlen, "capacity missing");
		return NULL;
	}
	for (int r = 0; r < n_revs; r++) {
		if (capacity[r] < 0) {
			set_err(err, errlen, "capacity of reviewer %d is negative", r);
			return NULL;
		}
	}
	struct assign_problem *p = xcalloc(1, sizeof(*p));
	p->n_apps = n_apps;
	p->n_revs = n_revs;
	p->seats = seats;
	p->capacity = xmalloc((size_t)n_revs * sizeof(int) + 1);
	if (n_revs > 0)
		memcpy(p->capacity, capacity, (size_t)n_revs * sizeof(int));
	p->off = xcalloc((size_t)n_apps + 1, sizeof(size_t));
	return p;
}

static int
pair_cmp(const void *x, const void *y)
{
	const struct assign_pair *a = x, *b = y;

	if (a->app != b->app)
		return a->app < b->app ? -1 : 1;
	return (a->rev > b->rev) - (a->rev < b->rev);
}

struct assign_problem *
assign_problem_from_pairs(int n_apps, int n_revs, int seats,
    const int *capacity, const struct assign_pair *pairs, size_t n_pairs,
    char *err, size_t errlen)
{
	if (n_pairs > 0 && pairs == NULL) {
		set_err(err, errlen, "pairs missing");
		return NULL;
	}
	for (size_t i = 0; i < n_pairs; i++) {
		const struct assign_pair *q = &pairs[i];
		if (q->app < 0 || q->app >= n_apps || q->rev < 0 || q->rev >= n_revs) {
			set_err(err, errlen, "pair %zu (%d, %d) out of range", i, q->app, q->rev);
			return NULL;
		}
		if (q->affinity < 0 || q->affinity > ASSIGN_AFFINITY_MAX) {
			set_err(err, errlen, "pair %zu affinity %d outside [0, %d]", i,
			    q->affinity, ASSIGN_AFFINITY_MAX);
			return NULL;
		}
	}
	struct assign_problem *p = problem_new(n_apps, n_revs, seats, capacity, err, errlen);
	if (p == NULL)
		return NULL;
	struct assign_pair *s = xmalloc(n_pairs * sizeof(*s) + 1);
	if (n_pairs > 0)
		memcpy(s, pairs, n_pairs * sizeof(*s));
	qsort(s, n_pairs, sizeof(*s), pair_cmp);
	int wmax = 0;
	for (size_t i = 0; i < n_pairs; i++) {
		if (i > 0 && s[i].app == s[i - 1].app && s[i].rev == s[i - 1].rev) {
			set_err(err, errlen, "pair (%d, %d) given twice", s[i].app, s[i].rev);
			free(s);
			assign_problem_free(p);
			return NULL;
		}
		if (s[i].affinity > wmax)
			wmax = s[i].affinity;
		p->off[s[i].app + 1]++;
	}
	for (int a = 0; a < n_apps; a++)
		p->off[a + 1] += p->off[a];
	p->cost_base = wmax;
	p->adj = xmalloc(n_pairs * sizeof(uint32_t) + 1);
	for (size_t i = 0; i < n_pairs; i++)
		p->adj[i] = EDGE(s[i].rev, wmax - s[i].affinity);
	free(s);
	return p;
}

static int
conflict_cmp(const void *x, const void *y)
{
	const struct assign_conflict *a = x, *b = y;

	if (a->app != b->app)
		return a->app < b->app ? -1 : 1;
	return (a->rev > b->rev) - (a->rev < b->rev);
}

struct assign_problem *
assign_problem_from_profiles(const struct assign_profiles *in, char *err, size_t errlen)
{
	if (in == NULL) {
		set_err(err, errlen, "no profiles");
		return NULL;
	}
	int A = in->n_apps, R = in->n_revs;
	if ((A > 0 && (in->app_family == NULL || in->app_region == NULL)) ||
	    (R > 0 && (in->rev_families == NULL || in->rev_regions == NULL)) ||
	    (in->n_conflicts > 0 && in->conflicts == NULL)) {
		set_err(err, errlen, "profile arrays missing");
		return NULL;
	}
	for (int a = 0; a < A; a++) {
		if (in->app_family[a] < -1 || in->app_family[a] >= ASSIGN_MAX_CODES ||
		    in->app_region[a] < -1 || in->app_region[a] >= ASSIGN_MAX_CODES) {
			set_err(err, errlen, "application %d: family or region code out of range", a);
			return NULL;
		}
	}
	for (size_t i = 0; i < in->n_conflicts; i++) {
		const struct assign_conflict *c = &in->conflicts[i];
		if (c->app < 0 || c->app >= A || c->rev < 0 || c->rev >= R) {
			set_err(err, errlen, "conflict %zu (%d, %d) out of range", i, c->app, c->rev);
			return NULL;
		}
	}
	struct assign_problem *p = problem_new(A, R, in->seats, in->capacity, err, errlen);
	if (p == NULL)
		return NULL;
	struct assign_conflict *c = xmalloc(in->n_conflicts * sizeof(*c) + 1);
	if (in->n_conflicts > 0)
		memcpy(c, in->conflicts, in->n_conflicts * sizeof(*c));
	qsort(c, in->n_conflicts, sizeof(*c), conflict_cmp);
	size_t nc = 0;             /* distinct conflicts, counted per app */
	for (size_t i = 0; i < in->n_conflicts; i++) {
		if (i > 0 && conflict_cmp(&c[i], &c[i - 1]) == 0)
			continue;
		c[nc++] = c[i];
		p->off[c[nc - 1].app + 1]++;     /* conflicts per app, for now */
	}
	for (int a = 0; a < A; a++)
		p->off[a + 1] = p->off[a] + (size_t)R - p->off[a + 1];
	p->cost_base = ASSIGN_FAMILY_WEIGHT + ASSIGN_REGION_WEIGHT;
	p->adj = xmalloc(p->off[A] * sizeof(uint32_t) + 1);
	size_t k = 0, ci = 0;
	for (int a = 0; a < A; a++) {
		int fam = in->app_family[a], reg = in->app_region[a];
		for (int r = 0; r < R; r++) {
			if (ci < nc && c[ci].app == a && c[ci].rev == r) {
				ci++;
				continue;
			}
			int w = 0;
			if (fam >= 0 && ((in->rev_families[r] >> fam) & 1u))
				w += ASSIGN_FAMILY_WEIGHT;
			if (reg >= 0 && ((in->rev_regions[r] >> reg) & 1u))
				w += ASSIGN_REGION_WEIGHT;
			p->adj[k++] = EDGE(r, p->cost_base - w);
		}
	}
	free(c);
	return p;
}

void
assign_problem_free(struct assign_problem *p)
{
	if (p == NULL)
		return;
	free(p->capacity);
	free(p->off);
	free(p->adj);
	free(p);
}

int assign_problem_apps(const struct assign_problem *p) { return p->n_apps; }
int assign_problem_revs(const struct assign_problem *p) { return p->n_revs; }
int assign_problem_seats(const struct assign_problem *p) { return p->seats; }
size_t assign_problem_pairs(const struct assign_problem *p) { return p->off[p->n_apps]; }

int
assign_problem_capacity(const struct assign_problem *p, int rev)
{
	return rev >= 0 && rev < p->n_revs ? p->capacity[rev] : 0;
}

/* Index of the edge (app, rev) in adj, or SIZE_MAX. */
static size_t
edge_find(const struct assign_problem *p, int app, int rev)
{
	if (app < 0 || app >= p->n_apps || rev < 0 || rev >= p->n_revs)
		return SIZE_MAX;
	size_t lo = p->off[app], hi = p->off[app + 1];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = EDGE_REV(p->adj[mid]);
		if (r == rev)
			return mid;
		if (r < rev)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

int
assign_affinity(const struct assign_problem *p, int app, int rev)
{
	size_t e = edge_find(p, app, rev);
	return e == SIZE_MAX ? -1 : p->cost_base - EDGE_COST(p->adj[e]);
}

/* ---- the residual network ---------------------------------------------- */

/* Node ids: applications 0..A-1, reviewers A..A+R-1, sink T = A+R,
 * source S = A+R+1. */
struct flow {
	const struct assign_problem *p;
	int A, R, T, S, V;
	uint8_t *used;          /* per pair: 1 when assigned */
	int *fill;              /* per application: seats taken */
	int *load;              /* per reviewer: seats taken */
	size_t *slot_off;       /* per reviewer: its slot list */
	int *slot_app;
	size_t *slot_edge;
	int *pi;                /* potentials, V */
	/* Dijkstra */
	int *dist;
	int *bnext, *bprev;
	int *bhead;
	int nbuckets, maxbucket; /* distances stay below 2·K·nodes */
	uint8_t *done;
	/* Dinic */
	int *level;
	int *queue;
	size_t *cur;            /* per application: next edge; reviewer: next slot */
	int *path;
	size_t *arc;
};

static void
flow_init(struct flow *f, const struct assign_problem *p)
{
	memset(f, 0, sizeof(*f));
	f->p = p;
	f->A = p->n_apps;
	f->R = p->n_revs;
	f->T = f->A + f->R;
	f->S = f->T + 1;
	f->V = f->S + 1;
	size_t E = p->off[p->n_apps];
	f->used = xcalloc(E + 1, 1);
	f->fill = xcalloc((size_t)f->A + 1, sizeof(int));
	f->load = xcalloc((size_t)f->R + 1, sizeof(int));
	/* A reviewer's slots: min(capacity, degree). */
	size_t *deg = xcalloc((size_t)f->R + 1, sizeof(size_t));
	for (size_t i = 0; i < E; i++)
		deg[EDGE_REV(p->adj[i])]++;
	f->slot_off = xmalloc(((size_t)f->R + 1) * sizeof(size_t));
	f->slot_off[0] = 0;
	for (int r = 0; r < f->R; r++) {
		size_t c = (size_t)p->capacity[r];
		f->slot_off[r + 1] = f->slot_off[r] + (c < deg[r] ? c : deg[r]);
	}
	free(deg);
	f->slot_app = xmalloc(f->slot_off[f->R] * sizeof(int) + 1);
	f->slot_edge = xmalloc(f->slot_off[f->R] * sizeof(size_t) + 1);
	f->pi = xcalloc((size_t)f->V, sizeof(int));
	f->dist = xmalloc((size_t)f->V * sizeof(int));
	f->bnext = xmalloc((size_t)f->V * sizeof(int));
	f->bprev = xmalloc((size_t)f->V * sizeof(int));
	f->done = xmalloc((size_t)f->V);
	f->nbuckets = 64;
	f->bhead = xmalloc((size_t)f->nbuckets * sizeof(int));
	for (int i = 0; i < f->nbuckets; i++)
		f->bhead[i] = -1;
	f->maxbucket = -1;
}

static void
flow_free(struct flow *f)
{
	free(f->used);
	free(f->fill);
	free(f->load);
	free(f->slot_off);
	free(f->slot_app);
	free(f->slot_edge);
	free(f->pi);
	free(f->dist);
	free(f->bnext);
	free(f->bprev);
	free(f->done);
	free(f->bhead);
	free(f->level);
	free(f->queue);
	free(f->cur);
	free(f->path);
	free(f->arc);
}

/* Rebuild the slot lists from `used` (after changes outside augment). */
static void
flow_rebuild_slots(struct flow *f)
{
	const struct assign_problem *p = f->p;

	memset(f->load, 0, (size_t)f->R * sizeof(int));
	for (int a = 0; a < f->A; a++) {
		for (size_t i = p->off[a]; i < p->off[a + 1]; i++) {
			if (!f->used[i])
				continue;
			int r = EDGE_REV(p->adj[i]);
			size_t s = f->slot_off[r] + (size_t)f->load[r]++;
			f->slot_app[s] = a;
			f->slot_edge[s] = i;
		}
	}
}

/* ---- Dijkstra on reduced costs, bucket queue --------------------------- */

static void
bucket_unlink(struct flow *f, int v)
{
	int d = f->dist[v];
	if (f->bprev[v] >= 0)
		f->bnext[f->bprev[v]] = f->bnext[v];
	else
		f->bhead[d] = f->bnext[v];
	if (f->bnext[v] >= 0)
		f->bprev[f->bnext[v]] = f->bprev[v];
}

/* The relaxation: ub is the tentative distance of the target; nothing at
 * or beyond it can matter (see flow_dijkstra). */
static inline void
relax(struct flow *f, int v, int nd, int dst, int *ub)
{
	if (nd >= f->dist[v] || nd >= *ub || f->done[v])
		return;
	if (nd < 0) {           /* a negative reduced cost: invalid potentials */
		fprintf(stderr, "event=fatal reason=assign-negative-reduced-cost\n");
		abort();
	}
	if (f->dist[v] != INF)
		bucket_unlink(f, v);
	if (nd >= f->nbuckets) {
		int n = f->nbuckets;
		while (n <= nd)
			n *= 2;
		f->bhead = xrealloc(f->bhead, (size_t)n * sizeof(int));
		for (int i = f->nbuckets; i < n; i++)
			f->bhead[i] = -1;
		f->nbuckets = n;
	}
	if (nd > f->maxbucket)
		f->maxbucket = nd;
	f->dist[v] = nd;
	f->bprev[v] = -1;
	f->bnext[v] = f->bhead[nd];
	if (f->bhead[nd] >= 0)
		f->bprev[f->bhead[nd]] = v;
	f->bhead[nd] = v;
	if (v == dst)
		*ub = nd;
}

/* Shortest distances from src in the residual network under the reduced
 * costs c(u,v) + pi(u) - pi(v) (all >= 0 while pi is a valid potential),
 * without entering application `excl` (-1: none). Stops when dst is
 * settled: every node closer than dst then has its exact distance, every
 * other one a value >= dist[dst] or INF. Returns dist[dst] or INF. */
static int
flow_dijkstra(struct flow *f, int src, int dst, int excl)
{
	const struct assign_problem *p = f->p;
	const uint32_t *adj = p->adj;
	int *dist = f->dist, *pi = f->pi;
	const int A = f->A, R = f->R, T = f->T, S = f->S, seats = p->seats;
	int ub = INF;

	for (int i = 0; i <= f->maxbucket; i++)
		f->bhead[i] = -1;
	f->maxbucket = -1;
	for (int v = 0; v < f->V; v++)
		dist[v] = INF;
	memset(f->done, 0, (size_t)f->V);
	relax(f, src, 0, dst, &ub);
	for (int k = 0; k <= f->maxbucket && k <= ub; k++) {
		while (f->bhead[k] >= 0) {
			int u = f->bhead[k];
			bucket_unlink(f, u);
			f->done[u] = 1;
			if (u == dst)
				return k;
			if (u < A) {
				int base = k + pi[u];
				for (size_t i = p->off[u]; i < p->off[u + 1]; i++) {
					if (f->used[i])
						continue;
					uint32_t e = adj[i];
					int v = A + EDGE_REV(e);
					int nd = base + EDGE_COST(e) - pi[v];
					if (nd < dist[v] && nd < ub)
						relax(f, v, nd, dst, &ub);
				}
				if (f->fill[u] > 0)
					relax(f, S, base - pi[S], dst, &ub);
			} else if (u < T) {
				int r = u - A, base = k + pi[u];
				for (size_t s = f->slot_off[r]; s < f->slot_off[r] + (size_t)f->load[r]; s++) {
					int b = f->slot_app[s];
					if (b == excl)
						continue;
					relax(f, b, base - EDGE_COST(adj[f->slot_edge[s]]) - pi[b], dst, &ub);
				}
				if (f->load[r] < p->capacity[r])
					relax(f, T, base - pi[T], dst, &ub);
			} else if (u == T) {
				for (int r = 0; r < R; r++)
					if (f->load[r] > 0)
						relax(f, A + r, k + pi[T] - pi[A + r], dst, &ub);
			} else {
				for (int a = 0; a < A; a++)
					if (a != excl && f->fill[a] < seats)
						relax(f, a, k + pi[S] - pi[a], dst, &ub);
			}
		}
	}
	return INF;
}

/* ---- Dinic on the zero-reduced-cost subgraph --------------------------- */

/* Levels from S over admissible residual edges; returns 1 when T is
 * reached. Nodes at T's level or beyond are not expanded. */
static int
dinic_levels(struct flow *f)
{
	const struct assign_problem *p = f->p;
	const uint32_t *adj = p->adj;
	const int A = f->A, T = f->T;
	int *level = f->level, *pi = f->pi, qh = 0, qt = 0, lt = INF;

	for (int v = 0; v < f->V; v++)
		level[v] = -1;
	for (int a = 0; a < A; a++) {
		if (f->fill[a] < p->seats && pi[a] == pi[f->S]) {
			level[a] = 1;
			f->queue[qt++] = a;
		}
	}
	while (qh < qt) {
		int u = f->queue[qh++];
		if (level[u] >= lt)
			break;
		int nl = level[u] + 1;
		if (u < A) {
			int base = pi[u];
			for (size_t i = p->off[u]; i < p->off[u + 1]; i++) {
				if (f->used[i])
					continue;
				int v = A + EDGE_REV(adj[i]);
				if (level[v] < 0 && base + EDGE_COST(adj[i]) == pi[v]) {
					level[v] = nl;
					f->queue[qt++] = v;
				}
			}
		} else {
			int r = u - A;
			for (size_t s = f->slot_off[r]; s < f->slot_off[r] + (size_t)f->load[r]; s++) {
				int b = f->slot_app[s];
				if (level[b] < 0 && pi[u] - EDGE_COST(adj[f->slot_edge[s]]) == pi[b]) {
					level[b] = nl;
					f->queue[qt++] = b;
				}
			}
			if (level[T] < 0 && f->load[r] < p->capacity[r] && pi[u] == pi[T]) {
				level[T] = nl;
				lt = nl;
			}
		}
	}
	return level[T] >= 0;
}

/* Push one unit along path[0..len] (S, a1, r1, ..., ak, rk, T). */
static void
dinic_augment(struct flow *f, int len)
{
	const int A = f->A;
	int *path = f->path;
	size_t *arc = f->arc;

	f->fill[path[1]]++;
	for (int j = 1; j + 1 < len; j += 2) {
		int a = path[j], r = path[j + 1] - A;
		size_t e = arc[j];
		f->used[e] = 1;
		if (path[j + 2] == f->T) {
			size_t s = f->slot_off[r] + (size_t)f->load[r]++;
			f->slot_app[s] = a;
			f->slot_edge[s] = e;
		} else {
			/* r leaves path[j+2] for a: the slot is reused in place. */
			size_t s = f->slot_off[r] + arc[j + 1];
			f->used[f->slot_edge[s]] = 0;
			f->slot_app[s] = a;
			f->slot_edge[s] = e;
		}
	}
}

/* A blocking flow on the level graph, one unit per path (every path has a
 * unit edge), with current-arc pointers and dead-end pruning. Returns the
 * number of units pushed. */
static long long
dinic_block(struct flow *f)
{
	const struct assign_problem *p = f->p;
	const uint32_t *adj = p->adj;
	const int A = f->A, T = f->T, S = f->S;
	int *level = f->level, *pi = f->pi, *path = f->path;
	size_t *cur = f->cur, *arc = f->arc;
	size_t cur_s = 0;
	long long pushed = 0;
	int depth = 0;

	for (int a = 0; a < A; a++)
		cur[a] = p->off[a];
	for (int r = 0; r < f->R; r++)
		cur[A + r] = 0;
	path[0] = S;
	for (;;) {
		int u = path[depth], v = -1;
		if (u == T) {
			dinic_augment(f, depth);
			pushed++;
			depth = 0;
			continue;
		}
		if (u == S) {
			for (; cur_s < (size_t)A; cur_s++) {
				int a = (int)cur_s;
				if (level[a] == 1 && f->fill[a] < p->seats) {
					v = a;
					arc[0] = cur_s;
					break;
				}
			}
		} else if (u < A) {
			int nl = level[u] + 1, base = pi[u];
			for (; cur[u] < p->off[u + 1]; cur[u]++) {
				size_t i = cur[u];
				if (f->used[i])
					continue;
				int w = A + EDGE_REV(adj[i]);
				if (level[w] == nl && base + EDGE_COST(adj[i]) == pi[w]) {
					v = w;
					arc[depth] = i;
					break;
				}
			}
		} else {
			int r = u - A, nl = level[u] + 1;
			for (; cur[u] <= (size_t)f->load[r]; cur[u]++) {
				if (cur[u] == (size_t)f->load[r]) {
					if (level[T] == nl && f->load[r] < p->capacity[r] && pi[u] == pi[T]) {
						v = T;
						arc[depth] = SIZE_MAX;
						break;
					}
					continue;
				}
				size_t s = f->slot_off[r] + cur[u];
				int b = f->slot_app[s];
				if (level[b] == nl && pi[u] - EDGE_COST(adj[f->slot_edge[s]]) == pi[b]) {
					v = b;
					arc[depth] = cur[u];
					break;
				}
			}
		}
		if (v >= 0) {
			path[++depth] = v;
			continue;
		}
		if (u == S)
			break;
		level[u] = -2;          /* dead end */
		depth--;
		if (path[depth] == S)
			cur_s++;
		else
			cur[path[depth]]++;
	}
	return pushed;
}

/* ---- the solver -------------------------------------------------------- */

/* The documented tie-break: while an application could swap a reviewer for
 * a lower-index eligible one of equal affinity with a free seat, do it (the
 * lowest such index first). Each swap is a zero-cost cycle, so the flow
 * stays optimal and the potentials stay valid (every edge of a zero-cost
 * cycle has reduced cost 0); the sum of reviewer indices drops with every
 * swap, so this ends. Dinic's ascending scan of each application's
 * reviewers already leaves no such swap on every instance tested (over
 * 13,000, none triggered it); this pass makes the rule a guarantee that
 * does not hang on the details of the search. One O(pairs · seats) scan. */
static void
canonicalise(struct flow *f)
{
	const struct assign_problem *p = f->p;
	int changed;

	do {
		changed = 0;
		for (int a = 0; a < f->A; a++) {
			for (size_t i = p->off[a]; i < p->off[a + 1]; i++) {
				if (!f->used[i])
					continue;
				int c = EDGE_COST(p->adj[i]), r = EDGE_REV(p->adj[i]);
				for (size_t j = p->off[a]; j < i; j++) {
					int q = EDGE_REV(p->adj[j]);
					if (!f->used[j] && EDGE_COST(p->adj[j]) == c &&
					    f->load[q] < p->capacity[q]) {
						f->used[i] = 0;
						f->used[j] = 1;
						f->load[r]--;
						f->load[q]++;
						changed = 1;
						break;
					}
				}
			}
		}
	} while (changed);
	flow_rebuild_slots(f);
}

static int
int_cmp(const void *x, const void *y)
{
	int a = *(const int *)x, b = *(const int *)y;
	return (a > b) - (a < b);
}

static int
violator_cmp(const void *x, const void *y)
{
	const struct assign_violator *a = x, *b = y;

	if (a->n_apps != b->n_apps)
		return a->n_apps < b->n_apps ? -1 : 1;
	return int_cmp(&a->apps[0], &b->apps[0]);
}

static int
uf_find(int *parent, int x)
{
	while (parent[x] != x) {
		parent[x] = parent[parent[x]];
		x = parent[x];
	}
	return x;
}

/* The applications reachable from S in the final residual network (the
 * source side of the minimal minimum cut), split into pieces that share no
 * eligible reviewer with a free seat limit. */
static void
diagnose(struct flow *f, struct assign_result *res)
{
	const struct assign_problem *p = f->p;
	const int A = f->A, R = f->R;
	uint8_t *reach = xcalloc((size_t)A + (size_t)R + 1, 1);
	int *queue = xmalloc(((size_t)A + (size_t)R + 1) * sizeof(int));
	int qh = 0, qt = 0;

	for (int a = 0; a < A; a++) {
		if (f->fill[a] < p->seats) {
			reach[a] = 1;
			queue[qt++] = a;
		}
	}
	if (qt == 0) {
		free(reach);
		free(queue);
		return;
	}
	while (qh < qt) {
		int u = queue[qh++];
		if (u < A) {
			for (size_t i = p->off[u]; i < p->off[u + 1]; i++) {
				int v = A + EDGE_REV(p->adj[i]);
				if (!f->used[i] && !reach[v]) {
					reach[v] = 1;
					queue[qt++] = v;
				}
			}
		} else {
			int r = u - A;
			for (size_t s = f->slot_off[r]; s < f->slot_off[r] + (size_t)f->load[r]; s++) {
				int b = f->slot_app[s];
				if (!reach[b]) {
					reach[b] = 1;
					queue[qt++] = b;
				}
			}
		}
	}
	/* Pieces: union applications through shared reviewers (limit > 0). */
	int *parent = xmalloc((size_t)A * sizeof(int) + 1);
	int *first = xmalloc((size_t)R * sizeof(int) + 1);
	for (int a = 0; a < A; a++)
		parent[a] = a;
	for (int r = 0; r < R; r++)
		first[r] = -1;
	for (int a = 0; a < A; a++) {
		if (!reach[a])
			continue;
		for (size_t i = p->off[a]; i < p->off[a + 1]; i++) {
			int r = EDGE_REV(p->adj[i]);
			if (p->capacity[r] == 0)
				continue;
			if (first[r] < 0) {
				first[r] = a;
			} else {
				int x = uf_find(parent, a), y = uf_find(parent, first[r]);
				if (x != y)
					parent[x > y ? x : y] = x < y ? x : y;
			}
		}
	}
	/* Members of each piece, in application order. */
	int *group = xmalloc((size_t)A * sizeof(int) + 1);
	int ng = 0;
	for (int a = 0; a < A; a++)
		group[a] = -1;
	for (int a = 0; a < A; a++) {
		if (reach[a] && uf_find(parent, a) == a)
			group[a] = ng++;
	}
	res->violators = xcalloc((size_t)ng + 1, sizeof(struct assign_violator));
	res->n_violators = ng;
	int *size = xcalloc((size_t)ng + 1, sizeof(int));
	for (int a = 0; a < A; a++)
		if (reach[a])
			size[group[uf_find(parent, a)]]++;
	for (int g = 0; g < ng; g++) {
		res->violators[g].apps = xmalloc((size_t)size[g] * sizeof(int));
		res->violators[g].n_apps = 0;
	}
	for (int a = 0; a < A; a++) {
		if (reach[a]) {
			struct assign_violator *v = &res->violators[group[uf_find(parent, a)]];
			v->apps[v->n_apps++] = a;
		}
	}
	int *cnt = xcalloc((size_t)R + 1, sizeof(int));
	int *list = xmalloc((size_t)R * sizeof(int) + 1);
	for (int g = 0; g < ng; g++) {
		struct assign_violator *v = &res->violators[g];
		int nl = 0;
		for (int k = 0; k < v->n_apps; k++) {
			int a = v->apps[k];
			for (size_t i = p->off[a]; i < p->off[a + 1]; i++) {
				int r = EDGE_REV(p->adj[i]);
				if (p->capacity[r] == 0)
					continue;
				if (cnt[r]++ == 0)
					list[nl++] = r;
			}
		}
		qsort(list, (size_t)nl, sizeof(int), int_cmp);
		v->n_revs = nl;
		v->revs = xmalloc((size_t)nl * sizeof(int) + 1);
		v->usable = xmalloc((size_t)nl * sizeof(int) + 1);
		v->seats_needed = (long long)v->n_apps * p->seats;
		v->capacity = 0;
		for (int k = 0; k < nl; k++) {
			int r = list[k];
			v->revs[k] = r;
			v->usable[k] = cnt[r] < p->capacity[r] ? cnt[r] : p->capacity[r];
			v->capacity += v->usable[k];
			cnt[r] = 0;
		}
	}
	qsort(res->violators, (size_t)ng, sizeof(struct assign_violator), violator_cmp);
	free(cnt);
	free(list);
	free(size);
	free(group);
	free(parent);
	free(first);
	free(reach);
	free(queue);
}

int
assign_solve(const struct assign_problem *p, struct assign_result *res)
{
	struct flow f;
	const int A = p->n_apps, R = p->n_revs;

	memset(res, 0, sizeof(*res));
	flow_init(&f, p);
	f.level = xmalloc((size_t)f.V * sizeof(int));
	f.queue = xmalloc((size_t)f.V * sizeof(int));
	f.cur = xmalloc((size_t)f.V * sizeof(size_t));
	f.path = xmalloc(((size_t)f.V + 2) * sizeof(int));
	f.arc = xmalloc(((size_t)f.V + 2) * sizeof(size_t));

	for (;;) {
		int d = flow_dijkstra(&f, f.S, f.T, -1);
		if (d == INF)
			break;
		res->phases++;
		for (int v = 0; v < f.V; v++)
			f.pi[v] += f.dist[v] < d ? f.dist[v] : d;
		while (dinic_levels(&f)) {
			res->rounds++;
			dinic_block(&f);
		}
	}
	canonicalise(&f);

	res->n_apps = A;
	res->n_revs = R;
	res->unfilled = xcalloc((size_t)A + 1, sizeof(int));
	res->load = xcalloc((size_t)R + 1, sizeof(int));
	long long n = 0;
	for (int a = 0; a < A; a++)
		n += f.fill[a];
	res->matches = xmalloc((size_t)n * sizeof(struct assign_match) + 1);
	for (int a = 0; a < A; a++) {
		for (size_t i = p->off[a]; i < p->off[a + 1]; i++) {
			if (!f.used[i])
				continue;
			struct assign_match *m = &res->matches[res->n_matches++];
			m->app = a;
			m->rev = EDGE_REV(p->adj[i]);
			m->affinity = p->cost_base - EDGE_COST(p->adj[i]);
			res->total_affinity += m->affinity;
		}
		res->unfilled[a] = p->seats - f.fill[a];
		res->unfilled_total += res->unfilled[a];
	}
	res->filled = res->n_matches;
	memcpy(res->load, f.load, (size_t)R * sizeof(int));
	res->cost_base = p->cost_base;
	res->price_app = xmalloc((size_t)A * sizeof(int) + 1);
	res->price_rev = xmalloc((size_t)R * sizeof(int) + 1);
	memcpy(res->price_app, f.pi, (size_t)A * sizeof(int));
	memcpy(res->price_rev, f.pi + A, (size_t)R * sizeof(int));
	res->price_sink = f.pi[f.T] - f.pi[f.S];
	res->certified = 1;
	if (res->unfilled_total > 0)
		diagnose(&f, res);
	flow_free(&f);
	return 0;
}

void
assign_result_free(struct assign_result *res)
{
	if (res == NULL)
		return;
	free(res->matches);
	free(res->unfilled);
	free(res->load);
	free(res->price_app);
	free(res->price_rev);
	for (int g = 0; g < res->n_violators; g++) {
		free(res->violators[g].apps);
		free(res->violators[g].revs);
		free(res->violators[g].usable);
	}
	free(res->violators);
	memset(res, 0, sizeof(*res));
}

/* ---- verification ------------------------------------------------------ */

/* [*lo, *hi): the matches of app (matches are sorted by (app, rev)). */
static void
match_range(const struct assign_result *res, int app, int *lo, int *hi)
{
	int l = 0, h = res->n_matches;
	while (l < h) {
		int m = l + (h - l) / 2;
		if (res->matches[m].app < app)
			l = m + 1;
		else
			h = m;
	}
	*lo = l;
	h = res->n_matches;
	while (l < h) {
		int m = l + (h - l) / 2;
		if (res->matches[m].app <= app)
			l = m + 1;
		else
			h = m;
	}
	*hi = l;
}

static int
match_find(const struct assign_result *res, int app, int rev)
{
	int lo, hi;
	match_range(res, app, &lo, &hi);
	for (int i = lo; i < hi; i++)
		if (res->matches[i].rev == rev)
			return i;
	return -1;
}

static int
check_violators(const struct assign_problem *p, const struct assign_result *res,
    char *err, size_t errlen)
{
	const int A = p->n_apps, R = p->n_revs;
	uint8_t *app_seen = xcalloc((size_t)A + 1, 1), *rev_seen = xcalloc((size_t)R + 1, 1);
	int *cnt = xcalloc((size_t)R + 1, sizeof(int));
	long long deficit = 0;
	int rc = 0;

	for (int g = 0; g < res->n_violators && rc == 0; g++) {
		const struct assign_violator *v = &res->violators[g];
		for (int k = 0; k < v->n_apps && rc == 0; k++) {
			int a = v->apps[k];
			if (a < 0 || a >= A || app_seen[a] || (k > 0 && a <= v->apps[k - 1])) {
				set_err(err, errlen, "violator %d: bad application list", g);
				rc = -1;
				break;
			}
			app_seen[a] = 1;
			for (size_t i = p->off[a]; i < p->off[a + 1]; i++) {
				int r = EDGE_REV(p->adj[i]);
				if (p->capacity[r] > 0)
					cnt[r]++;
			}
		}
		long long capsum = 0;
		int k = 0;
		for (int r = 0; r < R && rc == 0; r++) {
			if (cnt[r] == 0)
				continue;
			int u = cnt[r] < p->capacity[r] ? cnt[r] : p->capacity[r];
			if (k >= v->n_revs || v->revs[k] != r || v->usable[k] != u || rev_seen[r]) {
				set_err(err, errlen, "violator %d: reviewer %d missing, shared or miscounted", g, r);
				rc = -1;
			}
			rev_seen[r] = 1;
			capsum += u;
			cnt[r] = 0;
			k++;
		}
		if (rc == 0 && k != v->n_revs) {
			set_err(err, errlen, "violator %d: extra reviewers", g);
			rc = -1;
		}
		if (rc == 0 && (capsum != v->capacity ||
		    v->seats_needed != (long long)v->n_apps * p->seats ||
		    v->seats_needed <= v->capacity)) {
			set_err(err, errlen, "violator %d: needs %lld, capacity %lld (recomputed %lld)",
			    g, v->seats_needed, v->capacity, capsum);
			rc = -1;
		}
		deficit += v->seats_needed - v->capacity;
	}
	if (rc == 0 && deficit != res->unfilled_total) {
		set_err(err, errlen, "violators explain %lld empty seats, %lld are empty",
		    deficit, res->unfilled_total);
		rc = -1;
	}
	free(app_seen);
	free(rev_seen);
	free(cnt);
	return rc;
}

int
assign_check(const struct assign_problem *p, const struct assign_result *res,
    char *err, size_t errlen)
{
	const int A = p->n_apps, R = p->n_revs;

	if (res->n_apps != A || res->n_revs != R) {
		set_err(err, errlen, "result is for another problem");
		return -1;
	}
	int *cnt = xcalloc((size_t)R + 1, sizeof(int));
	long long total = 0, unfilled = 0;
	int rc = 0;
	for (int i = 0; i < res->n_matches && rc == 0; i++) {
		const struct assign_match *m = &res->matches[i];
		if (i > 0 && (m->app < m[-1].app || (m->app == m[-1].app && m->rev <= m[-1].rev))) {
			set_err(err, errlen, "match %d (%d, %d) out of order or repeated", i, m->app, m->rev);
			rc = -1;
		} else if (assign_affinity(p, m->app, m->rev) < 0) {
			set_err(err, errlen, "match (%d, %d) is not an allowed pair", m->app, m->rev);
			rc = -1;
		} else if (assign_affinity(p, m->app, m->rev) != m->affinity) {
			set_err(err, errlen, "match (%d, %d): affinity %d, expected %d", m->app,
			    m->rev, m->affinity, assign_affinity(p, m->app, m->rev));
			rc = -1;
		} else {
			cnt[m->rev]++;
			total += m->affinity;
		}
	}
	for (int a = 0; a < A && rc == 0; a++) {
		int lo, hi;
		match_range(res, a, &lo, &hi);
		if (hi - lo > p->seats || res->unfilled[a] != p->seats - (hi - lo)) {
			set_err(err, errlen, "application %d: %d reviewers, %d unfilled, %d seats",
			    a, hi - lo, res->unfilled[a], p->seats);
			rc = -1;
		}
		unfilled += res->unfilled[a];
	}
	for (int r = 0; r < R && rc == 0; r++) {
		if (cnt[r] > p->capacity[r] || res->load[r] != cnt[r]) {
			set_err(err, errlen, "reviewer %d: %d seats, load %d, limit %d", r, cnt[r],
			    res->load[r], p->capacity[r]);
			rc = -1;
		}
	}
	if (rc == 0 && (res->filled != res->n_matches || res->total_affinity != total ||
	    res->unfilled_total != unfilled)) {
		set_err(err, errlen, "counters disagree with the matches");
		rc = -1;
	}
	free(cnt);
	if (rc != 0 || !res->certified)
		return rc;

	/* Optimality: reduced costs of every residual edge are >= 0. */
	if (res->cost_base != p->cost_base) {
		set_err(err, errlen, "certificate for another cost base");
		return -1;
	}
	const int *pa = res->price_app, *pr = res->price_rev, pt = res->price_sink;
	for (int a = 0; a < A; a++) {
		int lo, hi;
		match_range(res, a, &lo, &hi);
		if ((hi > lo && pa[a] < 0) || (res->unfilled[a] > 0 && pa[a] > 0)) {
			set_err(err, errlen, "certificate: price of application %d", a);
			return -1;
		}
		int k = lo;
		for (size_t i = p->off[a]; i < p->off[a + 1]; i++) {
			int r = EDGE_REV(p->adj[i]);
			long long red = (long long)EDGE_COST(p->adj[i]) + pa[a] - pr[r];
			while (k < hi && res->matches[k].rev < r)
				k++;
			int assigned = k < hi && res->matches[k].rev == r;
			if ((assigned && red > 0) || (!assigned && red < 0)) {
				set_err(err, errlen, "certificate: reduced cost %lld on pair (%d, %d)%s",
				    red, a, r, assigned ? " (assigned)" : "");
				return -1;
			}
		}
	}
	/* The tie-break rule: no equal-affinity lower-index reviewer with a
	 * free seat is left out. */
	for (int a = 0; a < A; a++) {
		int lo, hi;
		match_range(res, a, &lo, &hi);
		for (int k = lo; k < hi; k++) {
			const struct assign_match *m = &res->matches[k];
			int j = lo;
			for (size_t i = p->off[a]; i < p->off[a + 1]; i++) {
				int r = EDGE_REV(p->adj[i]);
				if (r >= m->rev)
					break;
				while (j < hi && res->matches[j].rev < r)
					j++;
				if ((j < hi && res->matches[j].rev == r) ||
				    p->cost_base - EDGE_COST(p->adj[i]) != m->affinity ||
				    res->load[r] >= p->capacity[r])
					continue;
				set_err(err, errlen, "tie-break: application %d has reviewer %d, "
				    "reviewer %d (same affinity) has a free seat", a, m->rev, r);
				return -1;
			}
		}
	}
	for (int r = 0; r < R; r++) {
		if ((res->load[r] < p->capacity[r] && pr[r] < pt) ||
		    (res->load[r] > 0 && pr[r] > pt)) {
			set_err(err, errlen, "certificate: price of reviewer %d", r);
			return -1;
		}
	}
	if (res->unfilled_total == 0 && res->n_violators > 0) {
		set_err(err, errlen, "violators without empty seats");
		return -1;
	}
	return check_violators(p, res, err, errlen);
}

/* ---- explanations ------------------------------------------------------ */

/* A flow state equal to res, with res's prices as potentials. */
static void
flow_from_result(struct flow *f, const struct assign_problem *p,
    const struct assign_result *res)
{
	flow_init(f, p);
	for (int i = 0; i < res->n_matches; i++) {
		const struct assign_match *m = &res->matches[i];
		size_t e = edge_find(p, m->app, m->rev);
		if (e == SIZE_MAX)
			continue;       /* not a result of p: assign_check says so */
		f->used[e] = 1;
		f->fill[m->app]++;
	}
	flow_rebuild_slots(f);
	memcpy(f->pi, res->price_app, (size_t)f->A * sizeof(int));
	memcpy(f->pi + f->A, res->price_rev, (size_t)f->R * sizeof(int));
	f->pi[f->T] = res->price_sink;
	f->pi[f->S] = 0;
}

int
assign_exchange_loss(const struct assign_problem *p, const struct assign_result *res,
    int app, int rev, int alt, long long *loss)
{
	if (!res->certified || match_find(res, app, rev) < 0 || match_find(res, app, alt) >= 0)
		return -1;
	size_t ea = edge_find(p, app, alt), er = edge_find(p, app, rev);
	if (ea == SIZE_MAX)
		return -1;
	struct flow f;
	flow_from_result(&f, p, res);
	int A = f.A;
	int d = flow_dijkstra(&f, A + alt, A + rev, app);
	if (d == INF) {
		*loss = -1;
	} else {
		/* The cycle app -> alt ~> rev -> app; its reduced cost equals
		 * its real cost, the loss of total affinity. */
		long long in = (long long)EDGE_COST(p->adj[ea]) + f.pi[app] - f.pi[A + alt];
		long long out = -(long long)EDGE_COST(p->adj[er]) + f.pi[A + rev] - f.pi[app];
		*loss = in + d + out;
	}
	flow_free(&f);
	return 0;
}

int
assign_explain(const struct assign_problem *p, const struct assign_result *res,
    int app, int rev, int exact, struct assign_explanation *out)
{
	int mi = match_find(res, app, rev);

	memset(out, 0, sizeof(*out));
	if (mi < 0)
		return -1;
	int lo, hi;
	match_range(res, app, &lo, &hi);
	out->app = app;
	out->rev = rev;
	out->affinity = res->matches[mi].affinity;
	out->alt_rev = -1;
	out->alt_affinity = -1;
	out->alt_min_affinity = -1;
	out->exchange_loss = -2;
	int k = lo;
	for (size_t i = p->off[app]; i < p->off[app + 1]; i++) {
		int r = EDGE_REV(p->adj[i]), w = p->cost_base - EDGE_COST(p->adj[i]);
		while (k < hi && res->matches[k].rev < r)
			k++;
		if (k < hi && res->matches[k].rev == r)
			continue;
		if (w > out->alt_affinity) {
			out->alt_rev = r;
			out->alt_affinity = w;
		}
	}
	int n = snprintf(out->text, sizeof(out->text),
	    "reviewer #%d on application #%d: affinity %d; ", rev, app, out->affinity);
	size_t left = sizeof(out->text) - (size_t)n;
	char *t = out->text + n;
	if (out->alt_rev < 0) {
		out->why = ASSIGN_WHY_NO_ALTERNATIVE;
		snprintf(t, left, "no other eligible reviewer");
		return 0;
	}
	int alt = out->alt_rev;
	out->alt_load = res->load[alt];
	out->alt_capacity = p->capacity[alt];
	for (int i = 0; i < res->n_matches; i++)
		if (res->matches[i].rev == alt &&
		    (out->alt_min_affinity < 0 || res->matches[i].affinity < out->alt_min_affinity))
			out->alt_min_affinity = res->matches[i].affinity;
	if (out->alt_affinity < out->affinity) {
		out->why = ASSIGN_WHY_LOWER_AFFINITY;
		n = snprintf(t, left, "best alternative reviewer #%d has lower affinity (%d)",
		    alt, out->alt_affinity);
	} else if (out->alt_affinity == out->affinity && alt > rev) {
		out->why = ASSIGN_WHY_TIE_BY_ID;
		n = snprintf(t, left, "best alternative reviewer #%d has equal affinity (%d); "
		    "tie broken by id (lower id first)", alt, out->alt_affinity);
	} else if (out->alt_load >= out->alt_capacity) {
		out->why = ASSIGN_WHY_AT_CAPACITY;
		if (out->alt_load > 0)
			n = snprintf(t, left, "best alternative reviewer #%d (affinity %d) is at "
			    "capacity: %d/%d seats, all with affinity >= %d", alt, out->alt_affinity,
			    out->alt_load, out->alt_capacity, out->alt_min_affinity);
		else
			n = snprintf(t, left, "best alternative reviewer #%d (affinity %d) is at "
			    "capacity: 0/0 seats", alt, out->alt_affinity);
	} else {
		out->why = ASSIGN_WHY_FREED_LATER;
		n = snprintf(t, left, "best alternative reviewer #%d (affinity %d) has %d free "
		    "seat(s) freed after the solve; a new solve may use it", alt,
		    out->alt_affinity, out->alt_capacity - out->alt_load);
	}
	if (exact && res->certified &&
	    assign_exchange_loss(p, res, app, rev, alt, &out->exchange_loss) == 0 &&
	    n >= 0 && (size_t)n < left) {
		t += n;
		left -= (size_t)n;
		if (out->exchange_loss < 0)
			snprintf(t, left, "; giving it this seat would leave another seat empty");
		else
			snprintf(t, left, "; giving it this seat would lower total affinity by %lld "
			    "(best exchange, same number of filled seats)", out->exchange_loss);
	}
	return 0;
}

/* ---- declines ---------------------------------------------------------- */

int
assign_replace_seat(const struct assign_problem *p, struct assign_result *res,
    int app, int rev, int *replacement)
{
	int mi = match_find(res, app, rev);
	if (mi < 0)
		return -1;
	int lo, hi;
	match_range(res, app, &lo, &hi);
	int best = -1, best_w = -1, k = lo;
	for (size_t i = p->off[app]; i < p->off[app + 1]; i++) {
		int r = EDGE_REV(p->adj[i]), w = p->cost_base - EDGE_COST(p->adj[i]);
		while (k < hi && res->matches[k].rev < r)
			k++;
		if ((k < hi && res->matches[k].rev == r) || res->load[r] >= p->capacity[r])
			continue;
		if (w > best_w) {
			best = r;
			best_w = w;
		}
	}
	res->certified = 0;
	res->load[rev]--;
	res->total_affinity -= res->matches[mi].affinity;
	if (best < 0) {
		memmove(&res->matches[mi], &res->matches[mi + 1],
		    (size_t)(res->n_matches - mi - 1) * sizeof(struct assign_match));
		res->n_matches--;
		res->filled--;
		res->unfilled[app]++;
		res->unfilled_total++;
		*replacement = -1;
		return 0;
	}
	res->load[best]++;
	res->total_affinity += best_w;
	struct assign_match m = { app, best, best_w };
	/* Keep app's slice sorted by reviewer. */
	while (mi > lo && res->matches[mi - 1].rev > best) {
		res->matches[mi] = res->matches[mi - 1];
		mi--;
	}
	while (mi + 1 < hi && res->matches[mi + 1].rev < best) {
		res->matches[mi] = res->matches[mi + 1];
		mi++;
	}
	res->matches[mi] = m;
	*replacement = best;
	return 0;
}
