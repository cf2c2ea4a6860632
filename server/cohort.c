/* cohort.c - see cohort.h. */
#include "cohort.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "figures.h"
#include "pseudonym.h"
#include "xmlform.h"

static void
counts_of(const struct cohort_doc *c, int64_t out[11])
{
	memset(out, 0, 11 * sizeof out[0]);
	for (int i = 0; i < c->n_learners; i++) {
		const struct cohort_learner *l = &c->learners[i];
		int exited = l->status == LEARNER_COMPLETED || l->status == LEARNER_DROPPED;
		out[0]++;
		out[1] += l->gender == 'F';
		out[2] += l->priority_area != 0;
		out[3] += qualification_low(l->qualification) != 0;
		out[4] += l->rural != 0;
		out[5] += l->job_seeker != 0;
		out[6] += l->status == LEARNER_DROPPED;
		out[7] += exited;
		out[8] += exited && l->has_outcome && l->outcome != OUTCOME_UNKNOWN;
		out[9] += exited && l->has_outcome && outcome_kind_positive(l->outcome);
	}
	struct tm a = {0}, b = {0};
	strptime(c->start_date, "%Y-%m-%d", &a);
	strptime(c->end_date, "%Y-%m-%d", &b);
	out[10] = (int64_t)((timegm(&b) - timegm(&a)) / 86400);
}

static const char *
qualification_text(int q)
{
	static const char *const names[] = { "none", "1", "2", "3", "4", "5", "6", "7", "8" };
	return q >= 0 && q <= 8 ? names[q] : "none";
}

void
cohort_today(char out[11])
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

int
cohort_prepare(xmlDocPtr xml, const struct pseudonym_key *key, const char *programme,
    const char *cohort, const char *today, struct form_errors *errs, struct cohort_ready *out)
{
	struct cohort_doc *c = &out->doc;
	char pseudo[65];
	int i = 0;

	memset(out, 0, sizeof *out);
	if (form_cohort_extract(xml, c, errs) != 0)
		return -1;
	if (programme != NULL && strcmp(c->programme, programme) != 0)
		form_errors_add(errs, c->root_line, c->root_column, "/cohortReport/@programme",
		    "the report names programme %s but was sent to %s", c->programme, programme);
	if (cohort != NULL && strcmp(c->cohort, cohort) != 0)
		form_errors_add(errs, c->root_line, c->root_column, "/cohortReport/@cohort",
		    "the report names cohort %s but was sent to %s", c->cohort, cohort);
	form_cohort_check(c, today, errs);
	if (errs->count > 0)
		return -1;
	sbuf_addc(&out->learners, '[');
	for (xmlNodePtr n = xmlDocGetRootElement(xml)->children; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, "learner") != 0 ||
		    i >= c->n_learners)
			continue;
		const struct cohort_learner *l = &c->learners[i++];
		pseudonym_hex(key, l->ref, strlen(l->ref), pseudo);
		xmlSetProp(n, BAD_CAST "ref", BAD_CAST pseudo);
		if (out->learners.len > 1)
			sbuf_addc(&out->learners, ',');
		sbuf_printf(&out->learners, "{\"p\":\"%s\",\"g\":\"%c\",\"b\":%d,\"q\":\"%s\",\"pa\":%s,"
		    "\"ru\":%s,\"js\":%s,\"r\":\"%s\",\"s\":\"%s\"", pseudo, l->gender, l->birth_year,
		    qualification_text(l->qualification), l->priority_area ? "true" : "false",
		    l->rural ? "true" : "false", l->job_seeker ? "true" : "false", l->region,
		    learner_status_name(l->status));
		if (l->has_exit)
			sbuf_printf(&out->learners, ",\"x\":\"%s\"", l->exit_date);
		if (l->has_qpv)
			sbuf_printf(&out->learners, ",\"qpv\":\"%s\"", l->qpv_code);
		if (l->has_outcome)
			sbuf_printf(&out->learners, ",\"o\":\"%s\",\"oa\":\"%s\"", outcome_kind_name(l->outcome),
			    l->outcome_at);
		sbuf_addc(&out->learners, '}');
		/* The clear ref leaves memory as soon as it is no longer needed. */
		memset((char *)l->ref, 0, sizeof l->ref);
	}
	sbuf_addc(&out->learners, ']');
	xmlDocDumpMemoryEnc(xml, &out->stored, &out->stored_len, "UTF-8");
	counts_of(c, out->count);
	sbuf_addc(&out->counts, '[');
	for (int k = 0; k < 11; k++)
		sbuf_printf(&out->counts, "%s%lld", k ? "," : "", (long long)out->count[k]);
	sbuf_addc(&out->counts, ']');
	return 0;
}

void
cohort_ready_free(struct cohort_ready *r)
{
	form_cohort_free(&r->doc);
	if (r->stored)
		xmlFree(r->stored);
	r->stored = NULL;
	sbuf_free(&r->learners);
	sbuf_free(&r->counts);
}

int
cohort_programme_targets(const char *body_hex, struct fig_targets *t)
{
	size_t len = strlen(body_hex) / 2;
	char *body = xmalloc(len + 1);
	struct form_errors *errs = xcalloc(1, sizeof *errs);
	enum form_kind kind;
	struct app_doc a;

	hex_decode(body_hex, len, (unsigned char *)body);
	xmlDocPtr doc = xmlform_parse(body, len, &kind, errs);
	free(body);
	free(errs);
	if (doc == NULL)
		return -1;
	form_app_extract(doc, kind, &a);
	xmlFreeDoc(doc);
	memset(t, 0, sizeof *t);
	t->set[FIG_METRIC_WOMEN] = t->set[FIG_METRIC_PRIORITY_AREA] = 1;
	t->set[FIG_METRIC_LOW_QUALIFICATION] = t->set[FIG_METRIC_POSITIVE_OUTCOME] = 1;
	t->tenths[FIG_METRIC_WOMEN] = a.women_tenths;
	t->tenths[FIG_METRIC_PRIORITY_AREA] = a.priority_area_tenths;
	t->tenths[FIG_METRIC_LOW_QUALIFICATION] = a.low_qualification_tenths;
	t->tenths[FIG_METRIC_POSITIVE_OUTCOME] = a.positive_outcome_tenths;
	return 0;
}
