/* test_form.c - typed views of the §4 documents and their rules.
 * Runs from the repository root (schemas and examples in forms/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "form.h"
#include "unit.h"
#include "forms_fixture.h"
#include "util.h"
#include "xmlform.h"

/* The file's text with up to two substrings replaced (NULL: none). */
static char *
edited(const char *path, const char *from1, const char *to1,
    const char *from2, const char *to2)
{
	char *doc = read_file(path, NULL);

	if (from1 != NULL)
		doc = edit(doc, from1, to1);
	if (from2 != NULL)
		doc = edit(doc, from2, to2);
	return doc;
}

static xmlDocPtr
parse_doc(const char *text, enum form_kind *kind)
{
	xmlDocPtr doc;

	setup();
	doc = xmlform_parse(text, strlen(text), kind, &errs);
	if (doc == NULL)
		dump_errors();
	return doc;
}

/* Extract a call from text; returns form_call_extract's result, or -2
 * when the text does not even parse. */
static int
call_from(const char *text, struct call_doc *c)
{
	enum form_kind kind;
	xmlDocPtr doc = parse_doc(text, &kind);

	if (doc == NULL)
		return -2;
	int rc = form_call_extract(doc, c, &errs);
	xmlFreeDoc(doc);
	return rc;
}

static int
app_from(const char *text, struct app_doc *a)
{
	enum form_kind kind;
	xmlDocPtr doc = parse_doc(text, &kind);

	if (doc == NULL)
		return -2;
	int rc = form_app_extract(doc, kind, a);
	xmlFreeDoc(doc);
	return rc;
}

static void
rules_from_call(const struct call_doc *c, struct call_rules *r)
{
	memset(r, 0, sizeof *r);
	r->kind = c->kind;
	r->has_max_request = c->has_max_request;
	r->max_request_cents = c->max_request_cents;
	r->has_max_funding_share = c->has_max_funding_share;
	r->max_funding_share_tenths = c->max_funding_share_tenths;
	r->n_targets = c->n_targets;
	memcpy(r->targets, c->targets, sizeof r->targets);
}

/* ---- SIRET --------------------------------------------------------------- */

static void
siret_luhn(void)
{
	CHECK(siret_valid("73282932000074"));
	CHECK(!siret_valid("73282932000075"));
	CHECK(!siret_valid("73282932000004")); /* digit sum 40, not La Poste */
	CHECK(!siret_valid("7328293200007"));
	CHECK(!siret_valid("732829320000740"));
	CHECK(!siret_valid("7328293200007A"));
	CHECK(!siret_valid(" 3282932000074"));
	CHECK(!siret_valid(""));
	CHECK(!siret_valid(NULL));
	CHECK(siret_valid("00000000000000"));
}

static void
siret_la_poste(void)
{
	CHECK(siret_valid("35600000000048"));  /* head office: Luhn holds */
	CHECK(siret_valid("35600000000001"));  /* digit sum 15, Luhn fails */
	CHECK(!siret_valid("35600000000000")); /* digit sum 14 */
	CHECK(!siret_valid("35600000100001")); /* digit sum 16 */
}

/* ---- numbers and instants ----------------------------------------------- */

static void
scaled_numbers(void)
{
	int64_t v;
	char out[32];

	CHECK_EQ_INT(parse_scaled("12.5", 2, &v), 0);
	CHECK_EQ_INT(v, 1250);
	CHECK_EQ_INT(parse_scaled("12.50", 2, &v), 0);
	CHECK_EQ_INT(v, 1250);
	CHECK_EQ_INT(parse_scaled("1.500", 2, &v), 0); /* trailing zero */
	CHECK_EQ_INT(v, 150);
	CHECK_EQ_INT(parse_scaled("1.505", 2, &v), -1);
	CHECK_EQ_INT(parse_scaled("-0", 2, &v), 0);
	CHECK_EQ_INT(v, 0);
	CHECK_EQ_INT(parse_scaled("+5", 1, &v), 0);
	CHECK_EQ_INT(v, 50);
	CHECK_EQ_INT(parse_scaled(".5", 1, &v), 0);
	CHECK_EQ_INT(v, 5);
	CHECK_EQ_INT(parse_scaled("5.", 1, &v), 0);
	CHECK_EQ_INT(v, 50);
	CHECK_EQ_INT(parse_scaled("100000000", 2, &v), 0);
	CHECK_EQ_INT(v, 10000000000LL);
	CHECK_EQ_INT(parse_scaled("-0.05", 2, &v), 0);
	CHECK_EQ_INT(v, -5);
	CHECK_EQ_INT(parse_scaled("", 2, &v), -1);
	CHECK_EQ_INT(parse_scaled(".", 2, &v), -1);
	CHECK_EQ_INT(parse_scaled("-", 2, &v), -1);
	CHECK_EQ_INT(parse_scaled("1e5", 2, &v), -1);
	CHECK_EQ_INT(parse_scaled("NaN", 2, &v), -1);
	CHECK_EQ_INT(parse_scaled(" 5", 2, &v), -1);
	CHECK_EQ_INT(parse_scaled("99999999999999999999", 2, &v), -1);

	struct sbuf b = { 0 };
	for (int i = 0; i < 10000; i++)
		sbuf_addc(&b, '0');
	sbuf_adds(&b, "7.25");
	CHECK_EQ_INT(parse_scaled(b.data, 2, &v), 0);
	CHECK_EQ_INT(v, 725);
	sbuf_reset(&b);
	for (int i = 0; i < 10000; i++)
		sbuf_addc(&b, '9');
	CHECK_EQ_INT(parse_scaled(b.data, 2, &v), -1);
	sbuf_free(&b);

	format_scaled(1250, 2, out, sizeof out);
	CHECK_EQ_STR(out, "12.50");
	format_scaled(-5, 2, out, sizeof out);
	CHECK_EQ_STR(out, "-0.05");
	format_scaled(0, 1, out, sizeof out);
	CHECK_EQ_STR(out, "0.0");
	format_scaled(300, 1, out, sizeof out);
	CHECK_EQ_STR(out, "30.0");
	format_scaled(INT64_MIN, 2, out, sizeof out);
	CHECK_EQ_STR(out, "-92233720368547758.08");
	format_scaled(42, 0, out, sizeof out);
	CHECK_EQ_STR(out, "42");
}

static void
instants(void)
{
	int64_t t;
	int32_t ns;

	CHECK_EQ_INT(form_instant_parse("1970-01-01T00:00:00Z", &t, &ns), 0);
	CHECK_EQ_INT(t, 0);
	CHECK_EQ_INT(ns, 0);
	CHECK_EQ_INT(form_instant_parse("2026-01-15T09:00:00+01:00", &t, NULL), 0);
	CHECK_EQ_INT(t, 1768464000);
	CHECK_EQ_INT(form_instant_parse("2026-01-15T08:00:00Z", &t, NULL), 0);
	CHECK_EQ_INT(t, 1768464000);
	CHECK_EQ_INT(form_instant_parse("2026-01-15T03:30:00-04:30", &t, NULL), 0);
	CHECK_EQ_INT(t, 1768464000);
	CHECK_EQ_INT(form_instant_parse("2026-02-01T00:00:00.25Z", &t, &ns), 0);
	CHECK_EQ_INT(t, 1769904000);
	CHECK_EQ_INT(ns, 250000000);
	CHECK_EQ_INT(form_instant_parse("2026-02-01T00:00:00.1234567891Z", &t, &ns), 0);
	CHECK_EQ_INT(ns, 123456789);
	/* 24:00:00 is the next day's midnight, and nothing later. */
	CHECK_EQ_INT(form_instant_parse("2026-01-31T24:00:00Z", &t, NULL), 0);
	CHECK_EQ_INT(t, 1769904000);
	CHECK_EQ_INT(form_instant_parse("2026-01-31T24:00:01Z", &t, NULL), -1);
	CHECK_EQ_INT(form_instant_parse("2026-01-31T24:00:00.5Z", &t, NULL), -1);
	/* Calendar. */
	CHECK_EQ_INT(form_instant_parse("2024-02-29T12:00:00Z", &t, NULL), 0);
	CHECK_EQ_INT(form_instant_parse("2000-02-29T12:00:00Z", &t, NULL), 0);
	CHECK_EQ_INT(form_instant_parse("2023-02-29T12:00:00Z", &t, NULL), -1);
	CHECK_EQ_INT(form_instant_parse("2100-02-29T12:00:00Z", &t, NULL), -1);
	CHECK_EQ_INT(form_instant_parse("2024-02-30T25:61:61Z", &t, NULL), -1);
	CHECK_EQ_INT(form_instant_parse("2024-04-31T00:00:00Z", &t, NULL), -1);
	CHECK_EQ_INT(form_instant_parse("2024-13-01T00:00:00Z", &t, NULL), -1);
	CHECK_EQ_INT(form_instant_parse("0000-01-01T00:00:00Z", &t, NULL), -1);
	CHECK_EQ_INT(form_instant_parse("2024-01-01T00:60:00Z", &t, NULL), -1);
	CHECK_EQ_INT(form_instant_parse("2024-01-01T00:00:60Z", &t, NULL), -1);
	/* Zones. */
	CHECK_EQ_INT(form_instant_parse("2024-01-01T00:00:00+14:00", &t, NULL), 0);
	CHECK_EQ_INT(form_instant_parse("2024-01-01T00:00:00-14:00", &t, NULL), 0);
	CHECK_EQ_INT(form_instant_parse("2024-01-01T00:00:00+14:01", &t, NULL), -1);
	CHECK_EQ_INT(form_instant_parse("2024-01-01T00:00:00+01:60", &t, NULL), -1);
	CHECK_EQ_INT(form_instant_parse("2024-01-01T00:00:00", &t, NULL), -1);
	CHECK_EQ_INT(form_instant_parse("2024-01-01T00:00:00+0100", &t, NULL), -1);
	CHECK_EQ_INT(form_instant_parse("2024-01-01T00:00:00ZZ", &t, NULL), -1);
	CHECK_EQ_INT(form_instant_parse("2024-01-01T00:00:00.Z", &t, NULL), -1);
	CHECK_EQ_INT(form_instant_parse("2024-01-01", &t, NULL), -1);
	CHECK_EQ_INT(form_instant_parse("", &t, NULL), -1);
	CHECK_EQ_INT(form_instant_parse(NULL, &t, NULL), -1);
}

/* ---- call ---------------------------------------------------------------- */

static void
call_project_example(void)
{
	char *text = read_file("forms/examples/call-project.xml", NULL);
	struct call_doc c;

	CHECK_EQ_INT(call_from(text, &c), 0);
	CHECK_EQ_INT(errs.count, 0);
	CHECK_EQ_STR(c.ref, "AAP-2026-INNOV");
	CHECK_EQ_INT(c.kind, CALL_PROJECT);
	CHECK(strncmp(c.title, "Appel à projets 2026", 21) == 0);
	CHECK_EQ_STR(c.opens_at, "2026-01-15T09:00:00+01:00");
	CHECK_EQ_STR(c.closes_at, "2027-03-31T18:00:00+02:00");
	CHECK_EQ_INT(c.opens_epoch, 1768464000);
	CHECK_EQ_INT(c.closes_epoch, 1806508800);
	CHECK_EQ_INT(c.has_budget, 1);
	CHECK_EQ_INT(c.budget_cents, 250000000);
	CHECK_EQ_INT(c.has_max_request, 1);
	CHECK_EQ_INT(c.max_request_cents, 15000000);
	CHECK_EQ_INT(c.reviewers_per_application, 3);
	CHECK_EQ_INT(c.max_load_per_reviewer, 12);
	CHECK_EQ_INT(c.n_criteria, 4);
	CHECK_EQ_STR(c.criteria[0].code, "innovation");
	CHECK_EQ_INT(c.criteria[0].weight, 3);
	CHECK_EQ_INT(c.criteria[0].scale_max, 5);
	CHECK_EQ_STR(c.criteria[3].code, "feasibility");
	CHECK_EQ_STR(c.criteria[3].label, "Solidité du porteur, du budget et du calendrier");
	CHECK_EQ_INT(c.n_targets, 4);
	CHECK_EQ_INT(c.targets[0].metric, TARGET_WOMEN);
	CHECK_EQ_INT(c.targets[0].min_tenths, 300);
	CHECK_EQ_INT(c.targets[1].metric, TARGET_PRIORITY_AREA);
	CHECK_EQ_INT(c.targets[1].min_tenths, 150);
	CHECK_EQ_INT(c.targets[2].metric, TARGET_LOW_QUALIFICATION);
	CHECK_EQ_INT(c.targets[3].metric, TARGET_POSITIVE_OUTCOME);
	CHECK_EQ_INT(c.threshold_tenths, 550);
	CHECK_EQ_INT(c.has_max_funding_share, 1);
	CHECK_EQ_INT(c.max_funding_share_tenths, 800);
	CHECK_EQ_INT(c.rank_calibrated, 1);
	free(text);
}

static void
call_label_example(void)
{
	char *text = read_file("forms/examples/call-label.xml", NULL);
	struct call_doc c;

	CHECK_EQ_INT(call_from(text, &c), 0);
	CHECK_EQ_INT(errs.count, 0);
	CHECK_EQ_STR(c.ref, "LABEL-2026");
	CHECK_EQ_INT(c.kind, CALL_LABEL);
	CHECK_EQ_INT(c.has_budget, 0);
	CHECK_EQ_INT(c.has_max_request, 0);
	CHECK_EQ_INT(c.has_max_funding_share, 0);
	CHECK_EQ_INT(c.n_criteria, 3);
	CHECK_EQ_INT(c.n_targets, 4);
	CHECK_EQ_INT(c.targets[3].metric, TARGET_FILL_RATE);
	CHECK_EQ_INT(c.targets[3].min_tenths, 800);
	CHECK_EQ_INT(c.threshold_tenths, 600);
	CHECK_EQ_INT(c.rank_calibrated, 0);
	CHECK_EQ_STR(target_metric_name(TARGET_FILL_RATE), "fill-rate");
	CHECK_EQ_STR(target_metric_name(TARGET_PRIORITY_AREA), "priority-area");
	CHECK_EQ_STR(target_metric_name(TARGET_METRIC_COUNT), "unknown");
	free(text);
}

static void
call_defaults_and_blanks(void)
{
	/* Optional elements absent: threshold 0, rankBy raw; numbers with
	 * blanks around them (the schema collapses them) read correctly. */
	char *text = edited("forms/examples/call-project.xml",
	    "<budget>2500000.00</budget>", "<budget>\n   +0012.5 </budget>",
	    "  <threshold>55.0</threshold>\n  <maxFundingShare>80</maxFundingShare>\n"
	    "  <rankBy>calibrated</rankBy>\n", "");
	struct call_doc c;

	CHECK_EQ_INT(call_from(text, &c), 0);
	CHECK_EQ_INT(c.budget_cents, 1250);
	CHECK_EQ_INT(c.threshold_tenths, 0);
	CHECK_EQ_INT(c.has_max_funding_share, 0);
	CHECK_EQ_INT(c.rank_calibrated, 0);
	free(text);
}

static void
call_closes_after_opens(void)
{
	struct call_doc c;
	char *text;

	/* Before. */
	text = edited("forms/examples/call-project.xml",
	    "2027-03-31T18:00:00+02:00", "2026-01-15T07:59:59Z", NULL, NULL);
	CHECK_EQ_INT(call_from(text, &c), -1);
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].path, "/call/closesAt");
	CHECK_EQ_INT(errs.items[0].line, 5);
	CHECK_EQ_INT(errs.items[0].column, 3);
	CHECK(strstr(errs.items[0].message, "closesAt") != NULL);
	CHECK(strstr(errs.items[0].message, "after opensAt") != NULL);
	free(text);
	/* The same instant written in another zone is not after. */
	text = edited("forms/examples/call-project.xml",
	    "2027-03-31T18:00:00+02:00", "2026-01-15T08:00:00Z", NULL, NULL);
	CHECK_EQ_INT(call_from(text, &c), -1);
	CHECK_EQ_INT(errs.count, 1);
	free(text);
	/* A fraction of a second later is after. */
	text = edited("forms/examples/call-project.xml",
	    "2027-03-31T18:00:00+02:00", "2026-01-15T08:00:00.001Z", NULL, NULL);
	CHECK_EQ_INT(call_from(text, &c), 0);
	CHECK_EQ_INT(errs.count, 0);
	free(text);
	text = edited("forms/examples/call-project.xml",
	    "2027-03-31T18:00:00+02:00", "2026-01-15T08:00:01Z", NULL, NULL);
	CHECK_EQ_INT(call_from(text, &c), 0);
	free(text);
}

static void
call_budget_by_kind(void)
{
	struct call_doc c;
	char *text;

	/* A project call without a budget. */
	text = edited("forms/examples/call-project.xml",
	    "  <budget>2500000.00</budget>\n", "", NULL, NULL);
	CHECK_EQ_INT(call_from(text, &c), -1);
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].path, "/call");
	CHECK_EQ_INT(errs.items[0].line, 2);
	CHECK_EQ_INT(errs.items[0].column, 1);
	CHECK(strstr(errs.items[0].message, "budget is required") != NULL);
	CHECK_EQ_INT(c.has_budget, 0);
	free(text);
	/* A label call with one. */
	text = edited("forms/examples/call-label.xml",
	    "  <reviewersPerApplication>", "  <budget>1000</budget>\n  <reviewersPerApplication>",
	    NULL, NULL);
	CHECK_EQ_INT(call_from(text, &c), -1);
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].path, "/call/budget");
	CHECK_EQ_INT(errs.items[0].line, 6);
	CHECK(strstr(errs.items[0].message, "absent") != NULL);
	free(text);
	/* Both rules and the dates at once: every violation is reported. */
	text = edited("forms/examples/call-label.xml",
	    "  <reviewersPerApplication>", "  <budget>1000</budget>\n  <reviewersPerApplication>",
	    "2026-11-30T23:59:59Z", "2026-01-30T23:59:59Z");
	CHECK_EQ_INT(call_from(text, &c), -1);
	CHECK_EQ_INT(errs.count, 2);
	free(text);
}

/* ---- applications -------------------------------------------------------- */

static void
project_example(struct app_doc *a, struct call_rules *r)
{
	char *text = read_file("forms/examples/projectApplication.xml", NULL);
	char *ctext = read_file("forms/examples/call-project.xml", NULL);
	struct call_doc c;

	CHECK_EQ_INT(app_from(text, a), 0);
	CHECK_EQ_INT(call_from(ctext, &c), 0);
	rules_from_call(&c, r);
	memset(&errs, 0, sizeof errs);
	free(text);
	free(ctext);
}

static void
app_extract_project(void)
{
	struct app_doc a;
	struct call_rules r;

	project_example(&a, &r);
	CHECK_EQ_INT(a.kind, CALL_PROJECT);
	CHECK_EQ_STR(a.call_ref, "AAP-2026-INNOV");
	CHECK_EQ_STR(a.siret, "73282932000074");
	CHECK_EQ_STR(a.org_name, "Association Numérique Solidaire des Hauts-de-France");
	CHECK_EQ_STR(a.legal_status, "association");
	CHECK_EQ_STR(a.region, "32");
	CHECK_EQ_STR(a.contact_name, "Nadia Benali");
	CHECK_EQ_STR(a.contact_email, "nadia.benali@numerique-solidaire.example.fr");
	CHECK_EQ_STR(a.family, "development");
	CHECK_EQ_STR(a.modality, "blended");
	CHECK_EQ_INT(a.duration_months, 9);
	CHECK_EQ_INT(a.learners, 96);
	CHECK_EQ_INT(a.cohorts, 4);
	CHECK_EQ_INT(a.women_tenths, 400);
	CHECK_EQ_INT(a.priority_area_tenths, 355);
	CHECK_EQ_INT(a.low_qualification_tenths, 600);
	CHECK_EQ_INT(a.positive_outcome_tenths, 700);
	CHECK_EQ_INT(a.budget_total_cents, 18000000);
	CHECK_EQ_INT(a.requested_cents, 13500000);
	CHECK_EQ_INT(a.root_line, 3);
	CHECK_EQ_INT(a.root_column, 1);
	CHECK_EQ_INT(a.siret_line, 4);
	CHECK_EQ_INT(a.siret_column, 3);
	CHECK(a.requested_line > 100);
	CHECK_EQ_INT(a.requested_column, 3);
	CHECK_EQ_STR(a.requested_path, "/projectApplication/requestedAmount");
	/* The example passes every rule and meets every target. */
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 0);
	CHECK_EQ_INT(errs.count, 0);
	char reason[128] = "x";
	CHECK_EQ_INT(form_app_meets_targets(&a, &r, reason, sizeof reason), 1);
	CHECK_EQ_STR(reason, "");
}

static void
app_extract_label(void)
{
	char *text = read_file("forms/examples/labelApplication.xml", NULL);
	char *ctext = read_file("forms/examples/call-label.xml", NULL);
	struct app_doc a;
	struct call_doc c;
	struct call_rules r;
	char reason[128];

	CHECK_EQ_INT(app_from(text, &a), 0);
	CHECK_EQ_INT(a.kind, CALL_LABEL);
	CHECK_EQ_STR(a.call_ref, "LABEL-2026");
	CHECK_EQ_STR(a.family, "infrastructure");
	CHECK_EQ_INT(a.positive_outcome_tenths, 725);
	CHECK_EQ_INT(a.budget_total_cents, 0);
	CHECK_EQ_INT(a.requested_cents, 0);
	CHECK_EQ_STR(a.requested_path, "");
	CHECK_EQ_INT(call_from(ctext, &c), 0);
	rules_from_call(&c, &r);
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 0);
	/* Money rules do not apply to a label application. */
	r.has_max_request = 1;
	r.max_request_cents = 0;
	r.has_max_funding_share = 1;
	r.max_funding_share_tenths = 0;
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 0);
	/* The label call's fill-rate target (80 %) does not apply. */
	CHECK_EQ_INT(form_app_meets_targets(&a, &r, reason, sizeof reason), 1);
	/* Wrong kind for the extractor. */
	xmlDocPtr doc = parse_doc(text, NULL);
	CHECK_EQ_INT(form_app_extract(doc, FORM_PROJECT_APPLICATION, &a), -1);
	CHECK_EQ_INT(form_app_extract(doc, FORM_CALL, &a), -1);
	xmlFreeDoc(doc);
	free(text);
	free(ctext);
}

static void
check_call_kind(void)
{
	struct app_doc a;
	struct call_rules r;

	project_example(&a, &r);
	r.kind = CALL_LABEL;
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 1);
	CHECK_EQ_INT(errs.count, 1);
	CHECK(strstr(errs.items[0].message, "kind label") != NULL);
	CHECK(strstr(errs.items[0].message, "AAP-2026-INNOV") != NULL);
	CHECK_EQ_STR(errs.items[0].path, "/projectApplication/@call");
	CHECK_EQ_INT(errs.items[0].line, 3);
	CHECK_EQ_INT(errs.items[0].column, 1);
}

static void
check_siret(void)
{
	struct app_doc a;
	struct call_rules r;

	project_example(&a, &r);
	memcpy(a.siret, "73282932000075", 15);
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 1);
	CHECK_EQ_STR(errs.items[0].path, "/projectApplication/organisation/@siret");
	CHECK_EQ_STR(errs.items[0].message, "SIRET 73282932000075 fails the Luhn check");
	CHECK_EQ_INT(errs.items[0].line, 4);
	CHECK_EQ_INT(errs.items[0].column, 3);
	/* The same through a document. */
	char *text = edited("forms/examples/projectApplication.xml",
	    "73282932000074", "73282932000075", NULL, NULL);
	CHECK_EQ_INT(app_from(text, &a), 0);
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 1);
	free(text);
	/* La Poste. */
	project_example(&a, &r);
	memcpy(a.siret, "35600000000001", 15);
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 0);
}

static void
check_requested_vs_budget(void)
{
	struct app_doc a;
	struct call_rules r;

	project_example(&a, &r);
	r.has_max_request = 0;
	r.has_max_funding_share = 0;
	a.requested_cents = a.budget_total_cents; /* equal: fine */
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 0);
	a.requested_cents = a.budget_total_cents + 1;
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 1);
	CHECK_EQ_STR(errs.items[0].message,
	    "requestedAmount 180000.01 exceeds the sum of the budget lines (180000.00)");
	CHECK_EQ_STR(errs.items[0].path, "/projectApplication/requestedAmount");
	CHECK_EQ_INT(errs.items[0].line, a.requested_line);
	CHECK_EQ_INT(errs.items[0].column, 3);
}

static void
check_max_request(void)
{
	struct app_doc a;
	struct call_rules r;

	project_example(&a, &r);
	r.has_max_funding_share = 0;
	r.max_request_cents = a.requested_cents; /* equal: fine */
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 0);
	r.max_request_cents = a.requested_cents - 1;
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 1);
	CHECK_EQ_STR(errs.items[0].message,
	    "requestedAmount 135000.00 exceeds the call's maxRequest (134999.99)");
	r.has_max_request = 0;
	memset(&errs, 0, sizeof errs);
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 0);
}

static void
check_max_funding_share(void)
{
	struct app_doc a;
	struct call_rules r;

	project_example(&a, &r);
	r.has_max_request = 0;
	/* 135000.00 of 180000.00 is exactly 75.0 %. */
	r.max_funding_share_tenths = 750;
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 0);
	a.requested_cents += 1;
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 1);
	CHECK_EQ_STR(errs.items[0].message,
	    "requestedAmount 135000.01 exceeds the call's maxFundingShare of 75.0 % "
	    "of the budget lines (135000.00)");
	/* 74.9 % is below 75 %. */
	project_example(&a, &r);
	r.has_max_request = 0;
	r.max_funding_share_tenths = 749;
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 1);
	/* A share that is not a whole cent: 1/3 of 0.10 at 33.3 %. */
	project_example(&a, &r);
	r.has_max_request = 0;
	a.budget_total_cents = 10;
	a.requested_cents = 3;
	r.max_funding_share_tenths = 333; /* 3*1000 = 3000 <= 3330 */
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 0);
	a.requested_cents = 4; /* 4000 > 3330 */
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 1);
	/* The extremes stay exact. */
	project_example(&a, &r);
	r.has_max_request = 0;
	a.budget_total_cents = 100 * 10000000000LL;
	a.requested_cents = 10000000000LL;
	r.max_funding_share_tenths = 10; /* 1 % of 10^12 cents = 10^10 */
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 0);
	a.requested_cents++;
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 1);
	r.max_funding_share_tenths = 0;
	a.requested_cents = 0;
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 0);
}

static void
check_every_rule_at_once(void)
{
	struct app_doc a;
	struct call_rules r;

	project_example(&a, &r);
	r.kind = CALL_LABEL;
	memcpy(a.siret, "00000000000001", 15);
	a.requested_cents = a.budget_total_cents + 100;
	r.max_request_cents = 100;
	r.max_funding_share_tenths = 500;
	CHECK_EQ_INT(form_app_check(&a, &r, &errs), 5);
	CHECK_EQ_INT(errs.count, 5);
}

static void
targets(void)
{
	struct app_doc a;
	struct call_rules r;
	char reason[160];

	project_example(&a, &r);
	r.n_targets = 0;
	CHECK_EQ_INT(form_app_meets_targets(&a, &r, reason, sizeof reason), 1);

	/* Each committed metric, exactly at the minimum then just below. */
	static const enum target_metric metrics[] = {
		TARGET_WOMEN, TARGET_PRIORITY_AREA, TARGET_LOW_QUALIFICATION,
		TARGET_POSITIVE_OUTCOME,
	};
	for (size_t i = 0; i < ARRAY_LEN(metrics); i++) {
		int have = metrics[i] == TARGET_WOMEN ? a.women_tenths
		    : metrics[i] == TARGET_PRIORITY_AREA ? a.priority_area_tenths
		    : metrics[i] == TARGET_LOW_QUALIFICATION ? a.low_qualification_tenths
		    : a.positive_outcome_tenths;
		r.n_targets = 1;
		r.targets[0].metric = metrics[i];
		r.targets[0].min_tenths = have;
		CHECK_EQ_INT(form_app_meets_targets(&a, &r, reason, sizeof reason), 1);
		r.targets[0].min_tenths = have + 1;
		CHECK_EQ_INT(form_app_meets_targets(&a, &r, reason, sizeof reason), 0);
		CHECK(strncmp(reason, target_metric_name(metrics[i]),
		    strlen(target_metric_name(metrics[i]))) == 0);
	}

	/* The message of DESIGN's example. */
	a.women_tenths = 200;
	r.n_targets = 2;
	r.targets[0].metric = TARGET_FILL_RATE;
	r.targets[0].min_tenths = 1000; /* never applies to commitments */
	r.targets[1].metric = TARGET_WOMEN;
	r.targets[1].min_tenths = 300;
	CHECK_EQ_INT(form_app_meets_targets(&a, &r, reason, sizeof reason), 0);
	CHECK_EQ_STR(reason, "women commitment 20.0 % is below the call's minimum of 30.0 %");
	a.women_tenths = 299;
	CHECK_EQ_INT(form_app_meets_targets(&a, &r, reason, sizeof reason), 0);
	CHECK_EQ_STR(reason, "women commitment 29.9 % is below the call's minimum of 30.0 %");
	a.women_tenths = 300;
	CHECK_EQ_INT(form_app_meets_targets(&a, &r, reason, sizeof reason), 1);
	CHECK_EQ_STR(reason, "");
	/* A NULL or tiny reason buffer is fine. */
	a.women_tenths = 0;
	CHECK_EQ_INT(form_app_meets_targets(&a, &r, NULL, 0), 0);
	char tiny[8];
	CHECK_EQ_INT(form_app_meets_targets(&a, &r, tiny, sizeof tiny), 0);
	CHECK_EQ_STR(tiny, "women c");
	/* The first unmet target is the one reported. */
	a.women_tenths = 0;
	a.positive_outcome_tenths = 0;
	r.n_targets = 3;
	r.targets[0].metric = TARGET_POSITIVE_OUTCOME;
	r.targets[0].min_tenths = 1;
	CHECK_EQ_INT(form_app_meets_targets(&a, &r, reason, sizeof reason), 0);
	CHECK(strncmp(reason, "positive-outcome commitment 0.0 %", 33) == 0);
}

static void
display_copies_fit(void)
{
	/* The longest title the schema allows, in 4-byte characters, fits
	 * title[801] whole. */
	struct sbuf b = { 0 };
	struct app_doc a;

	sbuf_adds(&b, "<title>");
	for (int i = 0; i < 200; i++)
		sbuf_adds(&b, "\xF0\x9F\x8E\x93"); /* U+1F393 */
	sbuf_adds(&b, "</title>");
	char *text = edited("forms/examples/projectApplication.xml",
	    "<title>Développeur·se web et mobile – parcours « Premiers Pas Pro »</title>",
	    b.data, NULL, NULL);
	CHECK_EQ_INT(app_from(text, &a), 0);
	CHECK_EQ_INT(strlen(a.title), 800);
	CHECK(memcmp(a.title + 796, "\xF0\x9F\x8E\x93", 4) == 0);
	free(text);
	sbuf_free(&b);
}

UNIT_MAIN("form",
    UNIT_CASE(siret_luhn),
    UNIT_CASE(siret_la_poste),
    UNIT_CASE(scaled_numbers),
    UNIT_CASE(instants),
    UNIT_CASE(call_project_example),
    UNIT_CASE(call_label_example),
    UNIT_CASE(call_defaults_and_blanks),
    UNIT_CASE(call_closes_after_opens),
    UNIT_CASE(call_budget_by_kind),
    UNIT_CASE(app_extract_project),
    UNIT_CASE(app_extract_label),
    UNIT_CASE(check_call_kind),
    UNIT_CASE(check_siret),
    UNIT_CASE(check_requested_vs_budget),
    UNIT_CASE(check_max_request),
    UNIT_CASE(check_max_funding_share),
    UNIT_CASE(check_every_rule_at_once),
    UNIT_CASE(targets),
    UNIT_CASE(display_copies_fit))
