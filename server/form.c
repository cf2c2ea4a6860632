/* form.c - see form.h.
 *
 * Extraction walks the children of a document that xmlform_parse() has
 * already validated, by local name in FORM_NS; values are read back with
 * the same lexical rules the schema applied (numbers with surrounding
 * blanks, a leading '+', leading zeros). Money and percentages become
 * exact integers (cents, tenths of a point) so that every rule is integer
 * arithmetic. */
#include "form.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

static const char *const metric_names[TARGET_METRIC_COUNT] = {
	[TARGET_WOMEN] = "women",
	[TARGET_PRIORITY_AREA] = "priority-area",
	[TARGET_LOW_QUALIFICATION] = "low-qualification",
	[TARGET_POSITIVE_OUTCOME] = "positive-outcome",
	[TARGET_FILL_RATE] = "fill-rate",
};

const char *
target_metric_name(enum target_metric m)
{
	if ((int)m < 0 || m >= TARGET_METRIC_COUNT)
		return "unknown";
	return metric_names[m];
}

static const char *
call_kind_name(enum call_kind k)
{
	return k == CALL_LABEL ? "label" : "project";
}

/* ---- tree access --------------------------------------------------------- */

static int
is_form_elem(const xmlNode *n, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL &&
	    xmlStrEqual(n->ns->href, BAD_CAST FORM_NS) &&
	    xmlStrEqual(n->name, BAD_CAST name);
}

static xmlNode *
next_named(xmlNode *n, const char *name)
{
	for (; n != NULL; n = n->next)
		if (is_form_elem(n, name))
			return n;
	return NULL;
}

/* First child element `name` of parent, or NULL. */
static xmlNode *
child(const xmlNode *parent, const char *name)
{
	return parent ? next_named(parent->children, name) : NULL;
}

/* Copy at most dstlen-1 bytes of src, never ending inside a UTF-8
 * sequence (display copies of long texts are truncated). */
static void
copy_utf8(char *dst, size_t dstlen, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (dstlen == 0)
		return;
	if (n >= dstlen) {
		n = dstlen - 1;
		/* Back up over continuation bytes to a character start. */
		while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
			n--;
	}
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

static void
text_copy(const xmlNode *n, char *dst, size_t dstlen)
{
	xmlChar *s = n ? xmlNodeGetContent(n) : NULL;

	copy_utf8(dst, dstlen, (const char *)s);
	xmlFree(s);
}

static void
attr_copy(const xmlNode *n, const char *name, char *dst, size_t dstlen)
{
	xmlChar *s = n ? xmlGetNoNsProp(n, BAD_CAST name) : NULL;

	copy_utf8(dst, dstlen, (const char *)s);
	xmlFree(s);
}

/* Strip the XML blanks that the schema's whiteSpace="collapse" ignores for
 * numbers and instants; s is modified in place. */
static char *
trim_blanks(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\n' || end[-1] == '\r'))
		end--;
	*end = '\0';
	return s;
}

static void
trim_in_place(char *s)
{
	char *t = trim_blanks(s);

	if (t != s)
		memmove(s, t, strlen(t) + 1);
}

/* The xs:decimal value of n's content (attr == NULL) or of its attribute
 * attr, scaled by 10^scale. */
static int
value_scaled(const xmlNode *n, const char *attr, int scale, int64_t *v)
{
	xmlChar *raw;
	int rc;

	if (n == NULL)
		return -1;
	raw = attr ? xmlGetNoNsProp(n, BAD_CAST attr) : xmlNodeGetContent(n);
	if (raw == NULL)
		return -1;
	rc = parse_scaled(trim_blanks((char *)raw), scale, v);
	xmlFree(raw);
	return rc;
}

/* xs:integer within [min,max]; a leading '+' is lexically valid there. */
static int
value_int(const xmlNode *n, const char *attr, int64_t min, int64_t max, int *v)
{
	xmlChar *raw;
	int64_t x;
	int rc;

	if (n == NULL)
		return -1;
	raw = attr ? xmlGetNoNsProp(n, BAD_CAST attr) : xmlNodeGetContent(n);
	if (raw == NULL)
		return -1;
	char *s = trim_blanks((char *)raw);
	if (s[0] == '+' && s[1] >= '0' && s[1] <= '9')
		s++;
	rc = parse_int64(s, min, max, &x);
	xmlFree(raw);
	if (rc == 0)
		*v = (int)x;
	return rc;
}

/* ---- instants ------------------------------------------------------------ */

static int
digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int
expect(const char **p, char c)
{
	if (**p != c)
		return -1;
	(*p)++;
	return 0;
}

static int
days_in_month(int y, int m)
{
	static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dim[m - 1];
}

int
form_instant_parse(const char *s, int64_t *epoch, int32_t *nanos)
{
	int y, mo, d, h, mi, sec, zh = 0, zm = 0, zsign = 0;
	int32_t ns = 0;
	const char *p = s;

	if (s == NULL)
		return -1;
	if (digits(&p, 4, &y) || expect(&p, '-') || digits(&p, 2, &mo) ||
	    expect(&p, '-') || digits(&p, 2, &d) || expect(&p, 'T') ||
	    digits(&p, 2, &h) || expect(&p, ':') || digits(&p, 2, &mi) ||
	    expect(&p, ':') || digits(&p, 2, &sec))
		return -1;
	if (*p == '.') {
		int nd = 0;
		p++;
		for (; *p >= '0' && *p <= '9'; p++, nd++)
			if (nd < 9)
				ns = ns * 10 + (*p - '0');
		if (nd == 0)
			return -1;
		for (; nd < 9; nd++)
			ns *= 10;
	}
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		zsign = *p++ == '-' ? -1 : 1;
		if (digits(&p, 2, &zh) || expect(&p, ':') || digits(&p, 2, &zm))
			return -1;
		if (zh > 14 || zm > 59 || (zh == 14 && zm != 0))
			return -1;
	} else {
		return -1; /* no zone */
	}
	if (*p != '\0')
		return -1;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return -1;
	if (mi > 59 || sec > 59)
		return -1;
	/* 24:00:00 is the end of the day (XSD 1.0), nothing later. */
	if (h > 24 || (h == 24 && (mi != 0 || sec != 0 || ns != 0)))
		return -1;

	struct tm tm = { 0 };
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	*epoch = (int64_t)t - (int64_t)zsign * (zh * 3600 + zm * 60);
	if (nanos != NULL)
		*nanos = ns;
	return 0;
}

/* ---- call ---------------------------------------------------------------- */

int
form_call_extract(xmlDocPtr doc, struct call_doc *c, struct form_errors *errs)
{
	xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
	xmlNode *n, *opens, *closes, *budget;
	char kind[16];
	int before = errs->count + errs->dropped;
	int64_t v;
	int32_t open_ns = 0, close_ns = 0;
	int opens_ok, closes_ok;

	memset(c, 0, sizeof *c);
	if (!is_form_elem(root, "call")) {
		form_errors_add(errs, 0, 0, "", "not a call document");
		return -1;
	}
	attr_copy(root, "ref", c->ref, sizeof c->ref);
	attr_copy(root, "kind", kind, sizeof kind);
	c->kind = strcmp(trim_blanks(kind), "label") == 0 ? CALL_LABEL : CALL_PROJECT;
	text_copy(child(root, "title"), c->title, sizeof c->title);

	opens = child(root, "opensAt");
	closes = child(root, "closesAt");
	text_copy(opens, c->opens_at, sizeof c->opens_at);
	text_copy(closes, c->closes_at, sizeof c->closes_at);
	trim_in_place(c->opens_at);
	trim_in_place(c->closes_at);
	opens_ok = form_instant_parse(c->opens_at, &c->opens_epoch, &open_ns) == 0;
	closes_ok = form_instant_parse(c->closes_at, &c->closes_epoch, &close_ns) == 0;
	if (!opens_ok)
		form_errors_at(errs, opens ? opens : root,
		    "opensAt is not an instant with a zone");
	if (!closes_ok)
		form_errors_at(errs, closes ? closes : root,
		    "closesAt is not an instant with a zone");
	if (opens_ok && closes_ok &&
	    (c->closes_epoch < c->opens_epoch ||
	    (c->closes_epoch == c->opens_epoch && close_ns <= open_ns)))
		form_errors_at(errs, closes,
		    "closesAt (%s) must be after opensAt (%s)",
		    c->closes_at, c->opens_at);

	budget = child(root, "budget");
	if (budget != NULL && value_scaled(budget, NULL, 2, &v) == 0) {
		c->has_budget = 1;
		c->budget_cents = v;
	}
	if (c->kind == CALL_PROJECT && budget == NULL)
		form_errors_at(errs, root, "budget is required for a call of kind project");
	if (c->kind == CALL_LABEL && budget != NULL)
		form_errors_at(errs, budget, "budget must be absent for a call of kind label");

	n = child(root, "maxRequest");
	if (n != NULL && value_scaled(n, NULL, 2, &v) == 0) {
		c->has_max_request = 1;
		c->max_request_cents = v;
	}
	value_int(child(root, "reviewersPerApplication"), NULL, 1, 9,
	    &c->reviewers_per_application);
	value_int(child(root, "maxLoadPerReviewer"), NULL, 1, 200,
	    &c->max_load_per_reviewer);

	for (n = child(child(root, "criteria"), "criterion");
	     n != NULL && c->n_criteria < (int)ARRAY_LEN(c->criteria);
	     n = next_named(n->next, "criterion")) {
		struct call_criterion *cr = &c->criteria[c->n_criteria++];
		attr_copy(n, "code", cr->code, sizeof cr->code);
		value_int(n, "weight", 1, 10, &cr->weight);
		value_int(n, "scaleMax", 1, 20, &cr->scale_max);
		text_copy(n, cr->label, sizeof cr->label);
	}

	for (n = child(child(root, "targets"), "target");
	     n != NULL && c->n_targets < (int)ARRAY_LEN(c->targets);
	     n = next_named(n->next, "target")) {
		char metric[24];
		int m;

		attr_copy(n, "metric", metric, sizeof metric);
		for (m = 0; m < TARGET_METRIC_COUNT; m++)
			if (strcmp(trim_blanks(metric), metric_names[m]) == 0)
				break;
		if (m == TARGET_METRIC_COUNT || value_scaled(n, "min", 1, &v) != 0)
			continue;
		c->targets[c->n_targets].metric = (enum target_metric)m;
		c->targets[c->n_targets].min_tenths = (int)v;
		c->n_targets++;
	}

	n = child(root, "threshold");
	if (n != NULL && value_scaled(n, NULL, 1, &v) == 0)
		c->threshold_tenths = (int)v;
	n = child(root, "maxFundingShare");
	if (n != NULL && value_scaled(n, NULL, 1, &v) == 0) {
		c->has_max_funding_share = 1;
		c->max_funding_share_tenths = (int)v;
	}
	n = child(root, "rankBy");
	if (n != NULL) {
		char rank[16];
		text_copy(n, rank, sizeof rank);
		c->rank_calibrated = strcmp(trim_blanks(rank), "calibrated") == 0;
	}
	return errs->count + errs->dropped == before ? 0 : -1;
}

/* ---- applications -------------------------------------------------------- */

int
form_app_extract(xmlDocPtr doc, enum form_kind kind, struct app_doc *a)
{
	xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
	xmlNode *org, *prog, *com, *n;
	const char *root_name = form_kind_root(kind);
	int64_t v;

	memset(a, 0, sizeof *a);
	if ((kind != FORM_PROJECT_APPLICATION && kind != FORM_LABEL_APPLICATION) ||
	    !is_form_elem(root, root_name))
		return -1;
	a->kind = kind == FORM_LABEL_APPLICATION ? CALL_LABEL : CALL_PROJECT;
	xmlform_node_pos(root, &a->root_line, &a->root_column);
	attr_copy(root, "call", a->call_ref, sizeof a->call_ref);

	org = child(root, "organisation");
	attr_copy(org, "siret", a->siret, sizeof a->siret);
	xmlform_node_pos(org, &a->siret_line, &a->siret_column);
	text_copy(child(org, "name"), a->org_name, sizeof a->org_name);
	text_copy(child(org, "legalStatus"), a->legal_status, sizeof a->legal_status);
	text_copy(child(org, "region"), a->region, sizeof a->region);
	text_copy(child(child(org, "contact"), "name"), a->contact_name,
	    sizeof a->contact_name);
	text_copy(child(child(org, "contact"), "email"), a->contact_email,
	    sizeof a->contact_email);

	prog = child(root, "programme");
	text_copy(child(prog, "title"), a->title, sizeof a->title);
	text_copy(child(prog, "family"), a->family, sizeof a->family);
	text_copy(child(prog, "modality"), a->modality, sizeof a->modality);
	value_int(child(prog, "durationMonths"), NULL, 1, 36, &a->duration_months);

	com = child(root, "commitments");
	value_int(child(com, "learners"), NULL, 1, 10000, &a->learners);
	value_int(child(com, "cohorts"), NULL, 1, 100, &a->cohorts);
	if (value_scaled(child(com, "womenPercent"), NULL, 1, &v) == 0)
		a->women_tenths = (int)v;
	if (value_scaled(child(com, "priorityAreaPercent"), NULL, 1, &v) == 0)
		a->priority_area_tenths = (int)v;
	if (value_scaled(child(com, "lowQualificationPercent"), NULL, 1, &v) == 0)
		a->low_qualification_tenths = (int)v;
	if (value_scaled(child(com, "positiveOutcomePercent"), NULL, 1, &v) == 0)
		a->positive_outcome_tenths = (int)v;

	if (a->kind == CALL_PROJECT) {
		/* At most 100 lines of at most 10^10 cents: no overflow. */
		for (n = child(child(root, "budget"), "line"); n != NULL;
		     n = next_named(n->next, "line"))
			if (value_scaled(n, "amount", 2, &v) == 0)
				a->budget_total_cents += v;
		n = child(root, "requestedAmount");
		if (value_scaled(n, NULL, 2, &v) == 0)
			a->requested_cents = v;
		xmlform_node_pos(n, &a->requested_line, &a->requested_column);
		snprintf(a->requested_path, sizeof a->requested_path,
		    "/%s/requestedAmount", root_name);
	}
	return 0;
}

int
siret_valid(const char *siret)
{
	int sum = 0, digit_sum = 0;

	if (siret == NULL)
		return 0;
	for (int i = 0; i < 14; i++)
		if (siret[i] < '0' || siret[i] > '9')
			return 0;
	if (siret[14] != '\0')
		return 0;
	for (int i = 0; i < 14; i++) {
		int d = siret[i] - '0';
		digit_sum += d;
		/* Luhn doubles every second digit from the right. */
		if ((13 - i) % 2 == 1) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	if (sum % 10 == 0)
		return 1;
	/* La Poste's establishments share SIREN 356000000 and have more
	 * SIRETs than Luhn leaves; INSEE checks them by digit sum instead. */
	return strncmp(siret, "356000000", 9) == 0 && digit_sum % 5 == 0;
}

int
form_app_check(const struct app_doc *a, const struct call_rules *r,
    struct form_errors *errs)
{
	const char *root = a->kind == CALL_LABEL ? "labelApplication"
	    : "projectApplication";
	char path[128], req[32], lim[32], share[16];
	int n = 0;

	if (a->kind != r->kind) {
		snprintf(path, sizeof path, "/%s/@call", root);
		form_errors_add(errs, a->root_line, a->root_column, path,
		    "call %s is of kind %s: it takes a %s, not a %s",
		    a->call_ref, call_kind_name(r->kind),
		    r->kind == CALL_LABEL ? "labelApplication" : "projectApplication",
		    root);
		n++;
	}
	if (!siret_valid(a->siret)) {
		snprintf(path, sizeof path, "/%s/organisation/@siret", root);
		form_errors_add(errs, a->siret_line, a->siret_column, path,
		    "SIRET %s fails the Luhn check", a->siret);
		n++;
	}
	if (a->kind != CALL_PROJECT)
		return n;

	format_scaled(a->requested_cents, 2, req, sizeof req);
	if (a->requested_cents > a->budget_total_cents) {
		format_scaled(a->budget_total_cents, 2, lim, sizeof lim);
		form_errors_add(errs, a->requested_line, a->requested_column,
		    a->requested_path,
		    "requestedAmount %s exceeds the sum of the budget lines (%s)",
		    req, lim);
		n++;
	}
	if (r->has_max_request && a->requested_cents > r->max_request_cents) {
		format_scaled(r->max_request_cents, 2, lim, sizeof lim);
		form_errors_add(errs, a->requested_line, a->requested_column,
		    a->requested_path,
		    "requestedAmount %s exceeds the call's maxRequest (%s)",
		    req, lim);
		n++;
	}
	/* requested / total <= share / 1000, kept exact: both sides stay
	 * below 10^16 (cents up to 10^12, tenths up to 1000). */
	if (r->has_max_funding_share &&
	    a->requested_cents * 1000 >
	    (int64_t)r->max_funding_share_tenths * a->budget_total_cents) {
		format_scaled(r->max_funding_share_tenths, 1, share, sizeof share);
		format_scaled((int64_t)r->max_funding_share_tenths *
		    a->budget_total_cents / 1000, 2, lim, sizeof lim);
		form_errors_add(errs, a->requested_line, a->requested_column,
		    a->requested_path,
		    "requestedAmount %s exceeds the call's maxFundingShare of "
		    "%s %% of the budget lines (%s)", req, share, lim);
		n++;
	}
	return n;
}

int
form_app_meets_targets(const struct app_doc *a, const struct call_rules *r,
    char *reason, size_t reasonlen)
{
	if (reason != NULL && reasonlen > 0)
		reason[0] = '\0';
	for (int i = 0; i < r->n_targets && i < (int)ARRAY_LEN(r->targets); i++) {
		const struct call_target *t = &r->targets[i];
		int have;
		char hv[16], mv[16];

		switch (t->metric) {
		case TARGET_WOMEN: have = a->women_tenths; break;
		case TARGET_PRIORITY_AREA: have = a->priority_area_tenths; break;
		case TARGET_LOW_QUALIFICATION: have = a->low_qualification_tenths; break;
		case TARGET_POSITIVE_OUTCOME: have = a->positive_outcome_tenths; break;
		default: continue; /* fill rates are measured, not committed */
		}
		if (have >= t->min_tenths)
			continue;
		if (reason != NULL && reasonlen > 0) {
			format_scaled(have, 1, hv, sizeof hv);
			format_scaled(t->min_tenths, 1, mv, sizeof mv);
			snprintf(reason, reasonlen,
			    "%s commitment %s %% is below the call's minimum of %s %%",
			    target_metric_name(t->metric), hv, mv);
		}
		return 0;
	}
	return 1;
}
