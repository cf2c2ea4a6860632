/* assign_input.c - see assign_input.h. */
#include "assign_input.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"

#define MAX_FIELDS 7

void
assign_input_free(struct assign_input *in)
{
	if (in == NULL)
		return;
	free(in->apps);
	free(in->revs);
	free(in->conflicts);
	memset(in, 0, sizeof *in);
}

/* ---- format ---- */

static void
add_families(struct sbuf *out, uint64_t set)
{
	int first = 1;

	for (int f = 0; f < FAMILY_COUNT; f++) {
		if (!((set >> f) & 1u))
			continue;
		if (!first)
			sbuf_addc(out, ',');
		sbuf_adds(out, family_name((enum family)f));
		first = 0;
	}
	if (first)
		sbuf_addc(out, '-');
}

static void
add_regions(struct sbuf *out, uint64_t set)
{
	int first = 1;

	for (int r = 0; r < REGION_COUNT; r++) {
		if (!((set >> r) & 1u))
			continue;
		if (!first)
			sbuf_addc(out, ',');
		sbuf_adds(out, region_code(r));
		first = 0;
	}
	if (first)
		sbuf_addc(out, '-');
}

void
assign_input_format(const struct assign_input *in, struct sbuf *out)
{
	sbuf_printf(out, "%s\ncall %s\nseats %d\n", ASSIGN_INPUT_MAGIC, in->call_ref, in->seats);
	for (int i = 0; i < in->n_apps; i++) {
		const struct assign_input_app *a = &in->apps[i];
		const char *fam = a->family >= 0 && a->family < FAMILY_COUNT ?
		    family_name((enum family)a->family) : "-";
		const char *reg = region_code(a->region);
		sbuf_printf(out, "app %s %lld %s %s %s\n", a->tracking, (long long)a->id, fam,
		    reg != NULL ? reg : "-", a->siret);
	}
	for (int i = 0; i < in->n_revs; i++) {
		const struct assign_input_rev *r = &in->revs[i];
		sbuf_printf(out, "rev %lld %s %d ", (long long)r->id, r->email, r->capacity);
		add_families(out, r->families);
		sbuf_addc(out, ' ');
		add_regions(out, r->regions);
		sbuf_addc(out, '\n');
	}
	for (size_t i = 0; i < in->n_conflicts; i++) {
		const struct assign_conflict *c = &in->conflicts[i];
		sbuf_printf(out, "conflict %s %lld\n", in->apps[c->app].tracking,
		    (long long)in->revs[c->rev].id);
	}
}

static int
conflict_cmp(const void *x, const void *y)
{
	const struct assign_conflict *a = x, *b = y;

	if (a->app != b->app)
		return a->app < b->app ? -1 : 1;
	return (a->rev > b->rev) - (a->rev < b->rev);
}

void
assign_input_sort_conflicts(struct assign_input *in)
{
	size_t n = 0;

	if (in->n_conflicts == 0)
		return;
	qsort(in->conflicts, in->n_conflicts, sizeof *in->conflicts, conflict_cmp);
	for (size_t i = 0; i < in->n_conflicts; i++)
		if (n == 0 || conflict_cmp(&in->conflicts[i], &in->conflicts[n - 1]) != 0)
			in->conflicts[n++] = in->conflicts[i];
	in->n_conflicts = n;
}

/* ---- parse ---- */

struct parser {
	int line;
	char *err;
	size_t errlen;
	size_t cap_apps, cap_revs, cap_conflicts;
	int *by_tracking;        /* app indices sorted by tracking */
};

static int
perr(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
perr(struct parser *ps, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (ps->errlen > 0)
		snprintf(ps->err, ps->errlen, "line %d: %s", ps->line, msg);
	return -1;
}

/* A canonical decimal: digits only, no leading zero (except "0"),
 * within [min, max]. */
static int
parse_num(const char *s, int64_t min, int64_t max, int64_t *out)
{
	int64_t v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 18 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A comma-separated list of codes in strictly ascending order, or "-".
 * code_of returns the code of one name or -1. */
static int
parse_set(struct parser *ps, const char *field, const char *what,
    int (*code_of)(const char *), uint64_t *out)
{
	char tok[64];
	int last = -1;

	*out = 0;
	if (strcmp(field, "-") == 0)
		return 0;
	for (const char *p = field;;) {
		size_t n = strcspn(p, ",");
		if (n == 0 || n >= sizeof tok)
			return perr(ps, "bad %s list \"%s\"", what, field);
		memcpy(tok, p, n);
		tok[n] = '\0';
		int code = code_of(tok);
		if (code < 0 || code >= 64)
			return perr(ps, "unknown %s \"%s\"", what, tok);
		if (code <= last)
			return perr(ps, "%s list \"%s\" is not in canonical order without repeats",
			    what, field);
		last = code;
		*out |= (uint64_t)1 << code;
		p += n;
		if (*p == '\0')
			return 0;
		p++;
	}
}

static int
family_code(const char *name)
{
	return family_from_name(name);
}

static int
region_code_of(const char *code)
{
	return region_index(code);
}

static int
token_ok(const char *s, size_t maxlen)
{
	size_t n = strlen(s);

	if (n == 0 || n >= maxlen)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

static int
siret_ok(const char *s)
{
	if (strlen(s) != 14)
		return 0;
	for (int i = 0; i < 14; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static const struct assign_input *tracking_sort_in;

static int
tracking_cmp(const void *x, const void *y)
{
	const struct assign_input *in = tracking_sort_in;

	return strcmp(in->apps[*(const int *)x].tracking, in->apps[*(const int *)y].tracking);
}

/* Index of applications by tracking number; refuses a repeated one. */
static int
index_trackings(struct parser *ps, const struct assign_input *in)
{
	ps->by_tracking = xmalloc((size_t)in->n_apps * sizeof(int) + 1);
	for (int i = 0; i < in->n_apps; i++)
		ps->by_tracking[i] = i;
	/* qsort has no context argument in C11: a file-level pointer, set and
	 * cleared around the call (the parser is not re-entered meanwhile). */
	tracking_sort_in = in;
	qsort(ps->by_tracking, (size_t)in->n_apps, sizeof(int), tracking_cmp);
	tracking_sort_in = NULL;
	for (int i = 1; i < in->n_apps; i++)
		if (strcmp(in->apps[ps->by_tracking[i]].tracking,
		    in->apps[ps->by_tracking[i - 1]].tracking) == 0)
			return perr(ps, "application %s is listed twice",
			    in->apps[ps->by_tracking[i]].tracking);
	return 0;
}

static int
find_tracking(const struct parser *ps, const struct assign_input *in, const char *t)
{
	int lo = 0, hi = in->n_apps - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		int c = strcmp(in->apps[ps->by_tracking[mid]].tracking, t);
		if (c == 0)
			return ps->by_tracking[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

static int
find_rev(const struct assign_input *in, int64_t id)
{
	int lo = 0, hi = in->n_revs - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		if (in->revs[mid].id == id)
			return mid;
		if (in->revs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

static int
parse_app(struct parser *ps, struct assign_input *in, char **f, int nf)
{
	int64_t id;

	if (nf != 6)
		return perr(ps, "an app line has 6 fields, not %d", nf);
	if (in->n_apps == INT32_MAX - 1)
		return perr(ps, "too many applications");
	if ((size_t)in->n_apps == ps->cap_apps) {
		ps->cap_apps = ps->cap_apps ? 2 * ps->cap_apps : 64;
		in->apps = xrealloc(in->apps, ps->cap_apps * sizeof *in->apps);
	}
	struct assign_input_app *a = &in->apps[in->n_apps];
	memset(a, 0, sizeof *a);
	if (!token_ok(f[1], sizeof a->tracking))
		return perr(ps, "bad tracking number \"%.40s\"", f[1]);
	snprintf(a->tracking, sizeof a->tracking, "%s", f[1]);
	if (parse_num(f[2], 1, INT64_MAX, &id) != 0)
		return perr(ps, "bad application id \"%.40s\"", f[2]);
	if (in->n_apps > 0 && id <= in->apps[in->n_apps - 1].id)
		return perr(ps, "application id %lld is not above the previous one", (long long)id);
	a->id = id;
	a->family = -1;
	if (strcmp(f[3], "-") != 0 && (a->family = family_from_name(f[3])) < 0)
		return perr(ps, "unknown family \"%.40s\"", f[3]);
	a->region = -1;
	if (strcmp(f[4], "-") != 0 && (a->region = region_index(f[4])) < 0)
		return perr(ps, "unknown region \"%.40s\"", f[4]);
	if (!siret_ok(f[5]))
		return perr(ps, "bad SIRET \"%.40s\"", f[5]);
	memcpy(a->siret, f[5], 15);
	in->n_apps++;
	return 0;
}

static int
parse_rev(struct parser *ps, struct assign_input *in, char **f, int nf)
{
	int64_t id, cap;

	if (nf != 6)
		return perr(ps, "a rev line has 6 fields, not %d", nf);
	if (in->n_revs == ASSIGN_MAX_REVS - 1)
		return perr(ps, "too many reviewers");
	if ((size_t)in->n_revs == ps->cap_revs) {
		ps->cap_revs = ps->cap_revs ? 2 * ps->cap_revs : 64;
		in->revs = xrealloc(in->revs, ps->cap_revs * sizeof *in->revs);
	}
	struct assign_input_rev *r = &in->revs[in->n_revs];
	memset(r, 0, sizeof *r);
	if (parse_num(f[1], 1, INT64_MAX, &id) != 0)
		return perr(ps, "bad reviewer id \"%.40s\"", f[1]);
	if (in->n_revs > 0 && id <= in->revs[in->n_revs - 1].id)
		return perr(ps, "reviewer id %lld is not above the previous one", (long long)id);
	r->id = id;
	if (!token_ok(f[2], sizeof r->email) || strchr(f[2], '@') == NULL)
		return perr(ps, "bad e-mail \"%.40s\"", f[2]);
	snprintf(r->email, sizeof r->email, "%s", f[2]);
	if (parse_num(f[3], 0, ASSIGN_INPUT_CAPACITY_MAX, &cap) != 0)
		return perr(ps, "bad capacity \"%.40s\"", f[3]);
	r->capacity = (int)cap;
	if (parse_set(ps, f[4], "family", family_code, &r->families) != 0 ||
	    parse_set(ps, f[5], "region", region_code_of, &r->regions) != 0)
		return -1;
	in->n_revs++;
	return 0;
}

static int
parse_conflict(struct parser *ps, struct assign_input *in, char **f, int nf)
{
	int64_t id;

	if (nf != 3)
		return perr(ps, "a conflict line has 3 fields, not %d", nf);
	int a = find_tracking(ps, in, f[1]);
	if (a < 0)
		return perr(ps, "conflict names application \"%.40s\", which is not listed", f[1]);
	if (parse_num(f[2], 1, INT64_MAX, &id) != 0)
		return perr(ps, "bad reviewer id \"%.40s\"", f[2]);
	int r = find_rev(in, id);
	if (r < 0)
		return perr(ps, "conflict names reviewer %lld, who is not listed", (long long)id);
	struct assign_conflict c = { a, r };
	if (in->n_conflicts > 0 && conflict_cmp(&c, &in->conflicts[in->n_conflicts - 1]) <= 0)
		return perr(ps, "conflict %s %lld is out of order or repeated", f[1], (long long)id);
	if (in->n_conflicts == ps->cap_conflicts) {
		ps->cap_conflicts = ps->cap_conflicts ? 2 * ps->cap_conflicts : 64;
		in->conflicts = xrealloc(in->conflicts, ps->cap_conflicts * sizeof *in->conflicts);
	}
	in->conflicts[in->n_conflicts++] = c;
	return 0;
}

/* Split a line (modified in place) at single spaces. Returns the number of
 * fields (only the first MAX_FIELDS are stored), or -1 on an empty field
 * (two spaces, a leading or a trailing one). */
static int
split(char *line, char **f)
{
	int n = 0;

	for (char *p = line;;) {
		char *sp = strchr(p, ' ');
		if (sp == p || *p == '\0')
			return -1;
		if (n < MAX_FIELDS)
			f[n] = p;
		n++;
		if (sp == NULL)
			return n;
		*sp = '\0';
		p = sp + 1;
	}
}

int
assign_input_parse(const char *text, struct assign_input *in, char *err, size_t errlen)
{
	struct parser ps = { .line = 0, .err = err, .errlen = errlen };
	enum { S_MAGIC, S_CALL, S_SEATS, S_APPS, S_REVS, S_CONFLICTS } st = S_MAGIC;
	char *buf = NULL;
	size_t bufcap = 0;
	int rc = -1;

	memset(in, 0, sizeof *in);
	if (errlen > 0)
		err[0] = '\0';
	const char *p = text;
	while (*p != '\0') {
		char *f[MAX_FIELDS];
		int64_t v;

		ps.line++;
		const char *nl = strchr(p, '\n');
		if (nl == NULL) {
			perr(&ps, "no newline at the end of the line");
			goto out;
		}
		size_t n = (size_t)(nl - p);
		if (n + 1 > bufcap) {
			bufcap = n + 1 > 2 * bufcap ? n + 1 : 2 * bufcap;
			buf = xrealloc(buf, bufcap);
		}
		memcpy(buf, p, n);
		buf[n] = '\0';
		p = nl + 1;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] > 0x7e) {
				perr(&ps, "character 0x%02x at column %zu", (unsigned char)buf[i], i + 1);
				goto out;
			}
		if (st == S_MAGIC) {
			if (strcmp(buf, ASSIGN_INPUT_MAGIC) != 0) {
				perr(&ps, "expected \"%s\"", ASSIGN_INPUT_MAGIC);
				goto out;
			}
			st = S_CALL;
			continue;
		}
		int nf = split(buf, f);
		if (nf < 0) {
			perr(&ps, "empty field (fields are separated by one space)");
			goto out;
		}
		const char *kw = f[0];
		if (st == S_CALL) {
			if (strcmp(kw, "call") != 0 || nf != 2 ||
			    !token_ok(f[1], sizeof in->call_ref)) {
				perr(&ps, "expected \"call <ref>\"");
				goto out;
			}
			snprintf(in->call_ref, sizeof in->call_ref, "%s", f[1]);
			st = S_SEATS;
			continue;
		}
		if (st == S_SEATS) {
			if (strcmp(kw, "seats") != 0 || nf != 2 ||
			    parse_num(f[1], 0, ASSIGN_INPUT_SEATS_MAX, &v) != 0) {
				perr(&ps, "expected \"seats <n>\" (0 to %d)", ASSIGN_INPUT_SEATS_MAX);
				goto out;
			}
			in->seats = (int)v;
			st = S_APPS;
			continue;
		}
		if (strcmp(kw, "app") == 0) {
			if (st != S_APPS) {
				perr(&ps, "an app line after rev or conflict lines");
				goto out;
			}
			if (parse_app(&ps, in, f, nf) != 0)
				goto out;
			continue;
		}
		if (st == S_APPS && (strcmp(kw, "rev") == 0 || strcmp(kw, "conflict") == 0)) {
			if (index_trackings(&ps, in) != 0)
				goto out;
			st = S_REVS;
		}
		if (strcmp(kw, "rev") == 0) {
			if (st != S_REVS) {
				perr(&ps, "a rev line after conflict lines");
				goto out;
			}
			if (parse_rev(&ps, in, f, nf) != 0)
				goto out;
			continue;
		}
		if (strcmp(kw, "conflict") == 0) {
			st = S_CONFLICTS;
			if (parse_conflict(&ps, in, f, nf) != 0)
				goto out;
			continue;
		}
		perr(&ps, "unknown line \"%.40s\"", kw);
		goto out;
	}
	ps.line++;
	if (st < S_APPS) {
		perr(&ps, "the text ends before its %s line",
		    st == S_MAGIC ? "first" : st == S_CALL ? "call" : "seats");
		goto out;
	}
	if (st == S_APPS && index_trackings(&ps, in) != 0)
		goto out;
	rc = 0;
out:
	free(buf);
	free(ps.by_tracking);
	if (rc != 0)
		assign_input_free(in);
	return rc;
}

/* ---- problem ---- */

struct assign_problem *
assign_input_problem(const struct assign_input *in, char *err, size_t errlen)
{
	int A = in->n_apps, R = in->n_revs;
	int *capacity = xmalloc((size_t)R * sizeof(int) + 1);
	int *fam = xmalloc((size_t)A * sizeof(int) + 1);
	int *reg = xmalloc((size_t)A * sizeof(int) + 1);
	uint64_t *rfam = xmalloc((size_t)R * sizeof(uint64_t) + 1);
	uint64_t *rreg = xmalloc((size_t)R * sizeof(uint64_t) + 1);

	for (int a = 0; a < A; a++) {
		fam[a] = in->apps[a].family;
		reg[a] = in->apps[a].region;
	}
	for (int r = 0; r < R; r++) {
		capacity[r] = in->revs[r].capacity;
		rfam[r] = in->revs[r].families;
		rreg[r] = in->revs[r].regions;
	}
	struct assign_profiles prof = {
		.n_apps = A, .n_revs = R, .seats = in->seats, .capacity = capacity,
		.app_family = fam, .app_region = reg, .rev_families = rfam,
		.rev_regions = rreg, .conflicts = in->conflicts, .n_conflicts = in->n_conflicts,
	};
	struct assign_problem *p = assign_problem_from_profiles(&prof, err, errlen);
	free(capacity);
	free(fam);
	free(reg);
	free(rfam);
	free(rreg);
	return p;
}

/* ---- result ---- */

void
assign_diagnosis_json(const struct assign_input *in, const struct assign_result *res,
    struct sbuf *out)
{
	if (res->n_violators == 0) {
		sbuf_adds(out, "null");
		return;
	}
	/* The violators are disjoint (applications and reviewers alike), but
	 * mark membership anyway and list in index order, so the union reads
	 * the same whatever order the violators come in. */
	char *app_in = xcalloc((size_t)in->n_apps + 1, 1);
	char *rev_in = xcalloc((size_t)in->n_revs + 1, 1);
	long long need = 0, cap = 0;
	for (int g = 0; g < res->n_violators; g++) {
		const struct assign_violator *v = &res->violators[g];
		for (int i = 0; i < v->n_apps; i++)
			if (v->apps[i] >= 0 && v->apps[i] < in->n_apps)
				app_in[v->apps[i]] = 1;
		for (int i = 0; i < v->n_revs; i++)
			if (v->revs[i] >= 0 && v->revs[i] < in->n_revs)
				rev_in[v->revs[i]] = 1;
		need += v->seats_needed;
		cap += v->capacity;
	}
	int first = 1;
	sbuf_adds(out, "{\"applications\":[");
	for (int a = 0; a < in->n_apps; a++) {
		if (!app_in[a])
			continue;
		if (!first)
			sbuf_addc(out, ',');
		json_add_str(out, in->apps[a].tracking);
		first = 0;
	}
	first = 1;
	sbuf_adds(out, "],\"reviewers\":[");
	for (int r = 0; r < in->n_revs; r++) {
		if (!rev_in[r])
			continue;
		if (!first)
			sbuf_addc(out, ',');
		json_add_str(out, in->revs[r].email);
		first = 0;
	}
	sbuf_printf(out, "],\"seatsNeeded\":%lld,\"capacity\":%lld}", need, cap);
	free(app_in);
	free(rev_in);
}

void
assign_result_json(const struct assign_input *in, const struct assign_result *res,
    struct sbuf *out)
{
	sbuf_printf(out, "{\"filled\":%lld,\"unfilled\":%lld,\"totalAffinity\":%lld,"
	    "\"assignments\":[", res->filled, res->unfilled_total, res->total_affinity);
	for (int i = 0; i < res->n_matches; i++) {
		const struct assign_match *m = &res->matches[i];
		if (i > 0)
			sbuf_addc(out, ',');
		sbuf_adds(out, "{\"application\":");
		json_add_str(out, in->apps[m->app].tracking);
		sbuf_adds(out, ",\"reviewer\":");
		json_add_str(out, in->revs[m->rev].email);
		sbuf_printf(out, ",\"affinity\":%d}", m->affinity);
	}
	sbuf_adds(out, "],\"diagnosis\":");
	assign_diagnosis_json(in, res, out);
	sbuf_addc(out, '}');
}
