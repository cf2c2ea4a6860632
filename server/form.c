/* form.c - see form.h.
 *
 * Extraction walks the children of a document that xmlform_parse() has
 * already validated, by local name in FORM_NS; values are read back with
 * the same lexical rules the schema applied (numbers with surrounding
 * blanks, a leading '+', leading zeros). Money and percentages become
 * exact integers (cents, tenths of a point) so that every rule is integer
 * arithmetic. */
#include "form.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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
value_i64(const xmlNode *n, const char *attr, int64_t min, int64_t max,
    int64_t *v)
{
	xmlChar *raw;
	int rc;

	if (n == NULL)
		return -1;
	raw = attr ? xmlGetNoNsProp(n, BAD_CAST attr) : xmlNodeGetContent(n);
	if (raw == NULL)
		return -1;
	char *s = trim_blanks((char *)raw);
	if (s[0] == '+' && s[1] >= '0' && s[1] <= '9')
		s++;
	rc = parse_int64(s, min, max, v);
	xmlFree(raw);
	return rc;
}

static int
value_int(const xmlNode *n, const char *attr, int64_t min, int64_t max, int *v)
{
	int64_t x;

	if (value_i64(n, attr, min, max, &x) != 0)
		return -1;
	*v = (int)x;
	return 0;
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

/* ---- shared vocabularies ------------------------------------------------- */

static const char *const family_names[FAMILY_COUNT] = {
	[FAMILY_DEVELOPMENT] = "development",
	[FAMILY_INFRASTRUCTURE] = "infrastructure",
	[FAMILY_CYBERSECURITY_CLOUD] = "cybersecurity-cloud",
	[FAMILY_DATA_AI_IOT] = "data-ai-iot",
	[FAMILY_DESIGN] = "design",
	[FAMILY_DIGITAL_MARKETING] = "digital-marketing",
	[FAMILY_MANAGEMENT] = "management",
};

const char *
family_name(enum family f)
{
	if ((int)f < 0 || f >= FAMILY_COUNT)
		return "unknown";
	return family_names[f];
}

int
family_from_name(const char *name)
{
	for (int f = 0; name != NULL && f < FAMILY_COUNT; f++)
		if (strcmp(name, family_names[f]) == 0)
			return f;
	return -1;
}

static const char *const region_codes[REGION_COUNT] = {
	"01", "02", "03", "04", "06", "11", "24", "27", "28",
	"32", "44", "52", "53", "75", "76", "84", "93", "94",
};

int
region_index(const char *code)
{
	for (int i = 0; code != NULL && i < REGION_COUNT; i++)
		if (strcmp(code, region_codes[i]) == 0)
			return i;
	return -1;
}

const char *
region_code(int index)
{
	return index >= 0 && index < REGION_COUNT ? region_codes[index] : NULL;
}

int
qualification_low(int level)
{
	return level == QUALIFICATION_NONE || level == 3 || level == 4;
}

static const char *const recommendation_names[] = {
	[REVIEW_FUND] = "fund",
	[REVIEW_REJECT] = "reject",
	[REVIEW_DISCUSS] = "discuss",
};

const char *
review_recommendation_name(enum review_recommendation r)
{
	if ((int)r < 0 || (size_t)r >= ARRAY_LEN(recommendation_names))
		return "unknown";
	return recommendation_names[r];
}

static const char *const decision_outcome_names[] = {
	[DECISION_FUNDED] = "funded",
	[DECISION_LABELLED] = "labelled",
	[DECISION_REJECTED] = "rejected",
	[DECISION_WAITLISTED] = "waitlisted",
};

const char *
decision_outcome_name(enum decision_outcome o)
{
	if ((int)o < 0 || (size_t)o >= ARRAY_LEN(decision_outcome_names))
		return "unknown";
	return decision_outcome_names[o];
}

static const char *const learner_status_names[] = {
	[LEARNER_ENROLLED] = "enrolled",
	[LEARNER_COMPLETED] = "completed",
	[LEARNER_DROPPED] = "dropped",
};

const char *
learner_status_name(enum learner_status st)
{
	if ((int)st < 0 || (size_t)st >= ARRAY_LEN(learner_status_names))
		return "unknown";
	return learner_status_names[st];
}

static const char *const outcome_kind_names[OUTCOME_KIND_COUNT] = {
	[OUTCOME_EMPLOYED_PERMANENT] = "employed-permanent",
	[OUTCOME_EMPLOYED_FIXED_TERM] = "employed-fixed-term",
	[OUTCOME_WORK_STUDY] = "work-study",
	[OUTCOME_BUSINESS_CREATION] = "business-creation",
	[OUTCOME_FURTHER_TRAINING] = "further-training",
	[OUTCOME_JOB_SEEKING] = "job-seeking",
	[OUTCOME_INACTIVE] = "inactive",
	[OUTCOME_UNKNOWN] = "unknown",
};

const char *
outcome_kind_name(enum outcome_kind k)
{
	if ((int)k < 0 || k >= OUTCOME_KIND_COUNT)
		return "unknown";
	return outcome_kind_names[k];
}

int
outcome_kind_from_name(const char *name)
{
	for (int k = 0; name != NULL && k < OUTCOME_KIND_COUNT; k++)
		if (strcmp(name, outcome_kind_names[k]) == 0)
			return k;
	return -1;
}

int
outcome_kind_positive(enum outcome_kind k)
{
	return (int)k >= OUTCOME_EMPLOYED_PERMANENT && k <= OUTCOME_FURTHER_TRAINING;
}

/* Index of `name` in table[0..n), or -1. */
static int
name_index(const char *const *table, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(name, table[i]) == 0)
			return i;
	return -1;
}

/* ---- helpers for the documents below ------------------------------------- */

/* A token (enumeration value, code, date) of element content or attribute,
 * without the blanks that the schema's whitespace facet may have let by. */
static void
token_copy(const xmlNode *n, const char *attr, char *dst, size_t dstlen)
{
	xmlChar *raw = n == NULL ? NULL : attr != NULL
	    ? xmlGetNoNsProp(n, BAD_CAST attr) : xmlNodeGetContent(n);

	/* Trim before copying: any number of blanks may surround the token. */
	copy_utf8(dst, dstlen, raw != NULL ? trim_blanks((char *)raw) : NULL);
	xmlFree(raw);
}

/* How many children `name` parent has, counting at most max. */
static int
count_named(const xmlNode *parent, const char *name, int max)
{
	int n = 0;

	for (xmlNode *c = child(parent, name); c != NULL && n < max;
	     c = next_named(c->next, name))
		n++;
	return n;
}

/* E-mail addresses are compared and stored lower-cased (the schema admits
 * ASCII only). */
static void
lower_ascii(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* xs:boolean: "true" or "1" (blanks collapsed) is 1, anything else 0. */
static int
value_bool(const xmlNode *n, const char *attr)
{
	char b[8];

	token_copy(n, attr, b, sizeof b);
	return strcmp(b, "true") == 0 || strcmp(b, "1") == 0;
}

/* An xs:date as its calendar day "YYYY-MM-DD" (the schema keeps the year
 * to four digits; a zone, if any, is dropped). Returns 1 when present. */
static int
date_copy(const xmlNode *n, const char *attr, char out[11])
{
	char raw[40];

	out[0] = '\0';
	if (n == NULL || (attr != NULL && !xmlHasProp(n, BAD_CAST attr)))
		return 0;
	token_copy(n, attr, raw, sizeof raw);
	if (strlen(raw) < 10)
		return 0;
	memcpy(out, raw, 10);
	out[10] = '\0';
	return 1;
}

/* Whole element content as a heap string (never NULL). */
static char *
text_dup(const xmlNode *n)
{
	xmlChar *s = n ? xmlNodeGetContent(n) : NULL;
	char *d = xstrdup(s ? (const char *)s : "");

	xmlFree(s);
	return d;
}

/* Path of the i-th (0-based) of n same-named children of the root, the way
 * xmlform_node_path() writes it: an index only when there are several. */
static void
nth_path(char *out, size_t outlen, const char *root, const char *elem,
    int i, int n, const char *suffix)
{
	if (n > 1)
		snprintf(out, outlen, "/%s/%s[%d]%s", root, elem, i + 1, suffix);
	else
		snprintf(out, outlen, "/%s/%s%s", root, elem, suffix);
}

struct keyed {
	const char *key;
	int idx;
};

static int
keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c != 0 ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Repeats among n keys: first[i] is the index of the earliest key equal to
 * keys[i] when i is a repeat, else -1. Sorting keeps this O(n log n) for
 * the 5,000 learners a report may hold. */
static void
find_repeats(const char *const *keys, int n, int *first)
{
	struct keyed *k = xcalloc(n > 0 ? (size_t)n : 1, sizeof *k);

	for (int i = 0; i < n; i++) {
		k[i].key = keys[i];
		k[i].idx = i;
		first[i] = -1;
	}
	qsort(k, (size_t)n, sizeof *k, keyed_cmp);
	for (int i = 1; i < n; i++)
		if (strcmp(k[i].key, k[i - 1].key) == 0) {
			int prev = k[i - 1].idx;
			first[k[i].idx] = first[prev] >= 0 ? first[prev] : prev;
		}
	free(k);
}

/* ---- reviewer ------------------------------------------------------------ */

int
form_reviewer_extract(xmlDocPtr doc, struct reviewer_doc *r,
    struct form_errors *errs)
{
	xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
	xmlNode *n;
	char tok[32];
	int before = errs->count + errs->dropped;

	memset(r, 0, sizeof *r);
	if (!is_form_elem(root, "reviewer")) {
		form_errors_add(errs, 0, 0, "", "not a reviewer document");
		return -1;
	}
	token_copy(child(root, "email"), NULL, r->email, sizeof r->email);
	lower_ascii(r->email);
	text_copy(child(root, "name"), r->name, sizeof r->name);
	for (n = child(root, "family"); n != NULL; n = next_named(n->next, "family")) {
		token_copy(n, NULL, tok, sizeof tok);
		int f = family_from_name(tok);
		if (f >= 0)
			r->families |= 1u << f;
	}
	for (n = child(root, "region"); n != NULL; n = next_named(n->next, "region")) {
		token_copy(n, NULL, tok, sizeof tok);
		int i = region_index(tok);
		if (i >= 0)
			r->regions |= (uint32_t)1 << i;
	}
	value_int(child(root, "maxLoad"), NULL, 1, 200, &r->max_load);
	n = child(root, "employerSiret");
	if (n != NULL) {
		r->has_employer = 1;
		token_copy(n, NULL, r->employer_siret, sizeof r->employer_siret);
		if (!siret_valid(r->employer_siret))
			form_errors_at(errs, n, "employerSiret %s fails the Luhn check",
			    r->employer_siret);
	}
	return errs->count + errs->dropped == before ? 0 : -1;
}

/* ---- panel --------------------------------------------------------------- */

int
form_panel_extract(xmlDocPtr doc, struct panel_doc *p, struct form_errors *errs)
{
	xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
	xmlNode *n, **nodes;
	const char **keys;
	int *first;
	int before = errs->count + errs->dropped;

	memset(p, 0, sizeof *p);
	if (!is_form_elem(root, "panel")) {
		form_errors_add(errs, 0, 0, "", "not a panel document");
		return -1;
	}
	token_copy(root, "call", p->call_ref, sizeof p->call_ref);
	xmlform_node_pos(root, &p->root.line, &p->root.column);
	int cap = count_named(root, "member", PANEL_MEMBERS_MAX);
	p->members = xcalloc(cap > 0 ? (size_t)cap : 1, sizeof p->members[0]);
	p->member_pos = xcalloc(cap > 0 ? (size_t)cap : 1, sizeof p->member_pos[0]);
	nodes = xcalloc(cap > 0 ? (size_t)cap : 1, sizeof nodes[0]);
	for (n = child(root, "member"); n != NULL && p->n_members < cap;
	     n = next_named(n->next, "member")) {
		token_copy(n, NULL, p->members[p->n_members], sizeof p->members[0]);
		lower_ascii(p->members[p->n_members]);
		xmlform_node_pos(n, &p->member_pos[p->n_members].line, &p->member_pos[p->n_members].column);
		nodes[p->n_members++] = n;
	}

	keys = xcalloc(cap > 0 ? (size_t)cap : 1, sizeof keys[0]);
	first = xcalloc(cap > 0 ? (size_t)cap : 1, sizeof first[0]);
	for (int i = 0; i < p->n_members; i++)
		keys[i] = p->members[i];
	find_repeats(keys, p->n_members, first);
	for (int i = 0; i < p->n_members; i++) {
		int line, col;

		if (first[i] < 0)
			continue;
		xmlform_node_pos(nodes[first[i]], &line, &col);
		form_errors_at(errs, nodes[i],
		    "member %s is listed more than once (first at line %d)",
		    p->members[i], line);
	}
	free(keys);
	free(first);
	free(nodes);
	return errs->count + errs->dropped == before ? 0 : -1;
}

void
form_panel_free(struct panel_doc *p)
{
	free(p->members);
	free(p->member_pos);
	p->members = NULL;
	p->member_pos = NULL;
	p->n_members = 0;
}

/* ---- conflict ------------------------------------------------------------ */

int
form_conflict_extract(xmlDocPtr doc, struct conflict_doc *c,
    struct form_errors *errs)
{
	xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
	xmlNode *n;
	int before = errs->count + errs->dropped;

	memset(c, 0, sizeof *c);
	if (!is_form_elem(root, "conflict")) {
		form_errors_add(errs, 0, 0, "", "not a conflict document");
		return -1;
	}
	token_copy(child(root, "reviewer"), NULL, c->reviewer, sizeof c->reviewer);
	lower_ascii(c->reviewer);
	n = child(root, "siret");
	token_copy(n, NULL, c->siret, sizeof c->siret);
	if (n != NULL && !siret_valid(c->siret))
		form_errors_at(errs, n, "SIRET %s fails the Luhn check", c->siret);
	text_copy(child(root, "reason"), c->reason, sizeof c->reason);
	return errs->count + errs->dropped == before ? 0 : -1;
}

/* ---- review -------------------------------------------------------------- */

int
form_review_extract(xmlDocPtr doc, struct review_doc *r, struct form_errors *errs)
{
	xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
	xmlNode *n;
	char tok[16];

	memset(r, 0, sizeof *r);
	if (!is_form_elem(root, "review")) {
		form_errors_add(errs, 0, 0, "", "not a review document");
		return -1;
	}
	xmlform_node_pos(root, &r->root_line, &r->root_column);
	token_copy(child(root, "recommendation"), NULL, tok, sizeof tok);
	int rec = name_index(recommendation_names,
	    (int)ARRAY_LEN(recommendation_names), tok);
	r->recommendation = rec >= 0 ? (enum review_recommendation)rec : REVIEW_DISCUSS;
	value_int(child(root, "confidence"), NULL, 1, 3, &r->confidence);

	for (n = child(root, "score"); n != NULL && r->n_scores < REVIEW_SCORES_MAX;
	     n = next_named(n->next, "score")) {
		struct review_score *sc = &r->scores[r->n_scores++];

		token_copy(n, "criterion", sc->criterion, sizeof sc->criterion);
		token_copy(n, "value", sc->value_text, sizeof sc->value_text);
		sc->value_ok = value_i64(n, "value", INT64_MIN, INT64_MAX,
		    &sc->value) == 0;
		xmlform_node_pos(n, &sc->line, &sc->column);
	}
	for (int i = 0; i < r->n_scores; i++)
		nth_path(r->scores[i].path, sizeof r->scores[i].path, "review",
		    "score", i, r->n_scores, "");
	r->comment = text_dup(child(root, "comment"));
	r->feedback = text_dup(child(root, "feedback"));
	return 0;
}

void
form_review_free(struct review_doc *r)
{
	free(r->comment);
	free(r->feedback);
	r->comment = NULL;
	r->feedback = NULL;
}

int
form_review_check(const struct review_doc *r,
    const struct call_criterion *criteria, int n, struct form_errors *errs)
{
	int scored[12];  /* index of each criterion's first score, or -1 */
	char path[96], codes[12 * 34];
	int bad = 0;

	if (n > (int)ARRAY_LEN(scored))
		n = (int)ARRAY_LEN(scored);
	if (n < 0)
		n = 0;
	codes[0] = '\0';
	for (int c = 0; c < n; c++) {
		size_t len = strlen(codes);
		snprintf(codes + len, sizeof codes - len, "%s%s", c ? ", " : "",
		    criteria[c].code);
	}
	for (int c = 0; c < n; c++)
		scored[c] = -1;

	for (int i = 0; i < r->n_scores && i < (int)ARRAY_LEN(r->scores); i++) {
		const struct review_score *sc = &r->scores[i];
		int c;

		for (c = 0; c < n; c++)
			if (strcmp(sc->criterion, criteria[c].code) == 0)
				break;
		if (c == n) {
			snprintf(path, sizeof path, "%s/@criterion", sc->path);
			form_errors_add(errs, sc->line, sc->column, path,
			    "criterion %s is not a criterion of the call (its "
			    "criteria are %s)", sc->criterion, codes);
			bad++;
			continue;
		}
		if (scored[c] >= 0) {
			snprintf(path, sizeof path, "%s/@criterion", sc->path);
			form_errors_add(errs, sc->line, sc->column, path,
			    "criterion %s is scored more than once (first at line %d)",
			    sc->criterion, r->scores[scored[c]].line);
			bad++;
		} else {
			scored[c] = i;
		}
		if (!sc->value_ok || sc->value < 0 ||
		    sc->value > criteria[c].scale_max) {
			snprintf(path, sizeof path, "%s/@value", sc->path);
			form_errors_add(errs, sc->line, sc->column, path,
			    "value %s for criterion %s is outside its scale 0..%d",
			    sc->value_text, sc->criterion, criteria[c].scale_max);
			bad++;
		}
	}
	for (int c = 0; c < n; c++) {
		if (scored[c] >= 0)
			continue;
		form_errors_add(errs, r->root_line, r->root_column, "/review",
		    "criterion %s of the call has no score", criteria[c].code);
		bad++;
	}
	return bad;
}

/* ---- decisions ----------------------------------------------------------- */

int
form_decisions_extract(xmlDocPtr doc, struct decisions_doc *d,
    struct form_errors *errs)
{
	xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
	xmlNode *n, **nodes;
	const char **keys;
	int *first;
	char tok[16];
	int before = errs->count + errs->dropped;

	memset(d, 0, sizeof *d);
	if (!is_form_elem(root, "decisions")) {
		form_errors_add(errs, 0, 0, "", "not a decisions document");
		return -1;
	}
	token_copy(root, "call", d->call_ref, sizeof d->call_ref);
	xmlform_node_pos(root, &d->root.line, &d->root.column);
	int cap = count_named(root, "decision", DECISIONS_MAX);
	d->items = xcalloc(cap > 0 ? (size_t)cap : 1, sizeof d->items[0]);
	nodes = xcalloc(cap > 0 ? (size_t)cap : 1, sizeof nodes[0]);
	for (n = child(root, "decision"); n != NULL && d->n < cap;
	     n = next_named(n->next, "decision")) {
		struct decision *it = &d->items[d->n];
		int64_t v;

		nodes[d->n++] = n;
		token_copy(n, "application", it->application, sizeof it->application);
		token_copy(n, "outcome", tok, sizeof tok);
		int o = name_index(decision_outcome_names,
		    (int)ARRAY_LEN(decision_outcome_names), tok);
		it->outcome = o >= 0 ? (enum decision_outcome)o : DECISION_REJECTED;
		if (xmlHasProp(n, BAD_CAST "amount") &&
		    value_scaled(n, "amount", 2, &v) == 0) {
			it->has_amount = 1;
			it->amount_cents = v;
		}
		it->rationale = text_dup(child(n, "rationale"));
		xmlform_node_pos(n, &it->line, &it->column);
	}

	keys = xcalloc(cap > 0 ? (size_t)cap : 1, sizeof keys[0]);
	first = xcalloc(cap > 0 ? (size_t)cap : 1, sizeof first[0]);
	for (int i = 0; i < d->n; i++) {
		nth_path(d->items[i].path, sizeof d->items[i].path, "decisions",
		    "decision", i, d->n, "");
		keys[i] = d->items[i].application;
	}
	find_repeats(keys, d->n, first);
	for (int i = 0; i < d->n; i++) {
		xmlAttr *a;

		if (first[i] < 0)
			continue;
		a = xmlHasProp(nodes[i], BAD_CAST "application");
		form_errors_at(errs, a ? (xmlNode *)a : nodes[i],
		    "application %s is decided more than once (first at line %d)",
		    d->items[i].application, d->items[first[i]].line);
	}
	free(keys);
	free(first);
	free(nodes);
	return errs->count + errs->dropped == before ? 0 : -1;
}

void
form_decisions_free(struct decisions_doc *d)
{
	for (int i = 0; d->items != NULL && i < d->n; i++)
		free(d->items[i].rationale);
	free(d->items);
	d->items = NULL;
	d->n = 0;
}

/* ---- cohortReport -------------------------------------------------------- */

int
form_cohort_extract(xmlDocPtr doc, struct cohort_doc *c, struct form_errors *errs)
{
	xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
	xmlNode *n, *o;
	char tok[24];

	memset(c, 0, sizeof *c);
	if (!is_form_elem(root, "cohortReport")) {
		form_errors_add(errs, 0, 0, "", "not a cohortReport document");
		return -1;
	}
	xmlform_node_pos(root, &c->root_line, &c->root_column);
	token_copy(root, "programme", c->programme, sizeof c->programme);
	token_copy(root, "cohort", c->cohort, sizeof c->cohort);
	n = child(root, "startDate");
	date_copy(n, NULL, c->start_date);
	xmlform_node_pos(n, &c->start_line, &c->start_column);
	n = child(root, "endDate");
	date_copy(n, NULL, c->end_date);
	xmlform_node_pos(n, &c->end_line, &c->end_column);
	value_int(child(root, "plannedSeats"), NULL, 1, 10000, &c->planned_seats);
	token_copy(child(root, "region"), NULL, c->region, sizeof c->region);

	int cap = count_named(root, "learner", COHORT_LEARNERS_MAX);
	c->learners = xcalloc(cap > 0 ? (size_t)cap : 1, sizeof c->learners[0]);
	for (n = child(root, "learner"); n != NULL && c->n_learners < cap;
	     n = next_named(n->next, "learner")) {
		struct cohort_learner *l = &c->learners[c->n_learners++];
		int v;

		xmlform_node_pos(n, &l->line, &l->column);
		/* The ref is xs:string: kept exactly as written. */
		attr_copy(n, "ref", l->ref, sizeof l->ref);
		token_copy(n, "gender", tok, sizeof tok);
		l->gender = tok[0];
		value_int(n, "birthYear", 1900, 2100, &l->birth_year);
		token_copy(n, "qualification", tok, sizeof tok);
		l->qualification = strcmp(tok, "none") == 0 ? QUALIFICATION_NONE
		    : value_int(n, "qualification", 3, 8, &v) == 0 ? v
		    : QUALIFICATION_NONE;
		l->priority_area = value_bool(n, "priorityArea");
		l->rural = value_bool(n, "rural");
		l->job_seeker = value_bool(n, "jobSeeker");
		token_copy(n, "region", l->region, sizeof l->region);
		token_copy(n, "status", tok, sizeof tok);
		int st = name_index(learner_status_names,
		    (int)ARRAY_LEN(learner_status_names), tok);
		l->status = st >= 0 ? (enum learner_status)st : LEARNER_ENROLLED;
		l->has_exit = date_copy(n, "exitDate", l->exit_date);
		if (xmlHasProp(n, BAD_CAST "qpvCode")) {
			l->has_qpv = 1;
			token_copy(n, "qpvCode", l->qpv_code, sizeof l->qpv_code);
		}
		o = child(n, "outcome");
		if (o != NULL) {
			l->has_outcome = 1;
			token_copy(o, "kind", tok, sizeof tok);
			int k = outcome_kind_from_name(tok);
			l->outcome = k >= 0 ? (enum outcome_kind)k : OUTCOME_UNKNOWN;
			date_copy(o, "at", l->outcome_at);
			xmlform_node_pos(o, &l->outcome_line, &l->outcome_column);
		}
	}
	return 0;
}

void
form_cohort_free(struct cohort_doc *c)
{
	free(c->learners);
	c->learners = NULL;
	c->n_learners = 0;
}

/* One violation about learner i of n, at (line, column), its path the
 * learner's with `suffix`. Returns 1, to be counted. */
static int __attribute__((format(printf, 7, 8)))
learner_error(struct form_errors *errs, int i, int n, int line, int column,
    const char *suffix, const char *fmt, ...)
{
	char path[96];
	char msg[2 * sizeof errs->items[0].message]; /* form_errors_add trims */
	va_list ap;

	nth_path(path, sizeof path, "cohortReport", "learner", i, n, suffix);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	form_errors_add(errs, line, column, path, "%s", msg);
	return 1;
}

int
form_cohort_check(const struct cohort_doc *c, const char *today,
    struct form_errors *errs)
{
	const char **keys;
	int *first;
	int bad = 0, n = c->n_learners;

	if (strcmp(c->end_date, c->start_date) < 0) {
		form_errors_add(errs, c->end_line, c->end_column,
		    "/cohortReport/endDate", "endDate %s is before startDate %s",
		    c->end_date, c->start_date);
		bad++;
	}

	keys = xcalloc(n > 0 ? (size_t)n : 1, sizeof keys[0]);
	first = xcalloc(n > 0 ? (size_t)n : 1, sizeof first[0]);
	for (int i = 0; i < n; i++)
		keys[i] = c->learners[i].ref;
	find_repeats(keys, n, first);

	for (int i = 0; i < n; i++) {
		const struct cohort_learner *l = &c->learners[i];
		int exited = l->status == LEARNER_COMPLETED ||
		    l->status == LEARNER_DROPPED;

		if (first[i] >= 0)
			bad += learner_error(errs, i, n, l->line, l->column, "/@ref",
			    "learner ref \"%s\" is used more than once in the report "
			    "(first at line %d)", l->ref, c->learners[first[i]].line);
		if (exited && !l->has_exit)
			bad += learner_error(errs, i, n, l->line, l->column, "",
			    "a learner with status %s needs an exitDate",
			    learner_status_name(l->status));
		else if (!exited && l->has_exit)
			bad += learner_error(errs, i, n, l->line, l->column, "/@exitDate",
			    "an enrolled learner has no exitDate: remove it, or set "
			    "status to completed or dropped");
		else if (l->has_exit && strcmp(l->exit_date, c->start_date) < 0)
			bad += learner_error(errs, i, n, l->line, l->column, "/@exitDate",
			    "exitDate %s is before the cohort's startDate %s",
			    l->exit_date, c->start_date);
		else if (l->has_exit && today != NULL && strcmp(l->exit_date, today) > 0)
			bad += learner_error(errs, i, n, l->line, l->column, "/@exitDate",
			    "exitDate %s is in the future (today is %s)",
			    l->exit_date, today);
		/* Facts that cannot hold together: the national figures would
		 * count them. */
		if (l->birth_year > atoi(c->start_date))
			bad += learner_error(errs, i, n, l->line, l->column, "/@birthYear",
			    "birthYear %d is after the cohort's startDate %s",
			    l->birth_year, c->start_date);
		if (l->has_qpv && !l->priority_area)
			bad += learner_error(errs, i, n, l->line, l->column, "/@qpvCode",
			    "qpvCode %s names a priority urban area but priorityArea is "
			    "false: set it to true, or remove the code", l->qpv_code);
		if (!l->has_outcome)
			continue;
		if (!exited)
			bad += learner_error(errs, i, n, l->outcome_line, l->outcome_column,
			    "/outcome", "an outcome is reported only for a learner who has "
			    "exited (status completed or dropped), not for one who is %s",
			    learner_status_name(l->status));
		else if (l->has_exit && strcmp(l->outcome_at, l->exit_date) < 0)
			bad += learner_error(errs, i, n, l->outcome_line, l->outcome_column,
			    "/outcome/@at", "outcome dated %s is before the learner's exitDate %s",
			    l->outcome_at, l->exit_date);
	}
	free(keys);
	free(first);
	return bad;
}
