/* test_forms2.c - the reviewer, panel, conflict, review, decisions and
 * cohortReport documents of DESIGN §4: schemas, typed extraction and rules.
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

/* An example file with one edit. */
static char *
example_with(const char *file, const char *from, const char *to)
{
	char path[128];

	snprintf(path, sizeof path, "forms/examples/%s", file);
	return edit(read_file(path, NULL), from, to);
}

/* 1-based line of the first occurrence of needle in text, 0 if none. */
static int
line_of(const char *text, const char *needle)
{
	const char *at = strstr(text, needle);
	int line = 1;

	if (at == NULL)
		return 0;
	for (const char *p = text; p < at; p++)
		if (*p == '\n')
			line++;
	return line;
}

static int
has_error(const char *needle)
{
	for (int i = 0; i < errs.count; i++)
		if (strstr(errs.items[i].message, needle) != NULL)
			return 1;
	return 0;
}

/* 1 when the schema refuses text (at least one error recorded). */
static int
refused(const char *text)
{
	xmlDocPtr doc;

	setup();
	doc = xmlform_parse(text, strlen(text), NULL, &errs);
	if (doc != NULL) {
		xmlFreeDoc(doc);
		return 0;
	}
	return errs.count > 0;
}

/* ---- extraction wrappers: -2 when the text does not parse ---------------- */

FORM_FROM(reviewer_from, struct reviewer_doc, FORM_REVIEWER, form_reviewer_extract)
FORM_FROM(panel_from, struct panel_doc, FORM_PANEL, form_panel_extract)
FORM_FROM(conflict_from, struct conflict_doc, FORM_CONFLICT, form_conflict_extract)
FORM_FROM(review_from, struct review_doc, FORM_REVIEW, form_review_extract)
FORM_FROM(decisions_from, struct decisions_doc, FORM_DECISIONS, form_decisions_extract)
FORM_FROM(cohort_from, struct cohort_doc, FORM_COHORT_REPORT, form_cohort_extract)

/* The criteria of forms/examples/call-project.xml. */
static int
project_criteria(struct call_criterion crit[12])
{
	char *text = read_file("forms/examples/call-project.xml", NULL);
	xmlDocPtr doc = parse_kind(text, FORM_CALL);
	struct call_doc c;
	int n = 0;

	free(text);
	if (doc == NULL)
		return 0;
	if (form_call_extract(doc, &c, &errs) == 0) {
		n = c.n_criteria;
		memcpy(crit, c.criteria, sizeof c.criteria);
	}
	xmlFreeDoc(doc);
	memset(&errs, 0, sizeof errs);
	return n;
}

/* ---- cases --------------------------------------------------------------- */

static void
examples_validate(void)
{
	static const struct { const char *file; enum form_kind kind; } ex[] = {
		{ "forms/examples/reviewer.xml", FORM_REVIEWER },
		{ "forms/examples/panel.xml", FORM_PANEL },
		{ "forms/examples/conflict.xml", FORM_CONFLICT },
		{ "forms/examples/review.xml", FORM_REVIEW },
		{ "forms/examples/decisions.xml", FORM_DECISIONS },
		{ "forms/examples/cohortReport.xml", FORM_COHORT_REPORT },
	};

	for (size_t i = 0; i < ARRAY_LEN(ex); i++) {
		char *text = read_file(ex[i].file, NULL);
		xmlDocPtr doc = parse_kind(text, ex[i].kind);

		if (doc == NULL) {
			fprintf(stderr, "  %s:\n", ex[i].file);
			dump_errors();
		}
		CHECK(doc != NULL);
		CHECK_EQ_INT(errs.count, 0);
		xmlFreeDoc(doc);
		free(text);
	}
	CHECK_EQ_STR(form_kind_root(FORM_COHORT_REPORT), "cohortReport");
	CHECK_EQ_INT(form_kind_from_root("decisions"), FORM_DECISIONS);
	CHECK_EQ_INT(form_kind_from_root("panel"), FORM_PANEL);
}

static void
vocabularies(void)
{
	CHECK_EQ_INT(FAMILY_COUNT, 7);
	CHECK_EQ_STR(family_name(FAMILY_DEVELOPMENT), "development");
	CHECK_EQ_STR(family_name(FAMILY_CYBERSECURITY_CLOUD), "cybersecurity-cloud");
	CHECK_EQ_STR(family_name(FAMILY_MANAGEMENT), "management");
	CHECK_EQ_STR(family_name(FAMILY_COUNT), "unknown");
	for (int f = 0; f < FAMILY_COUNT; f++)
		CHECK_EQ_INT(family_from_name(family_name((enum family)f)), f);
	CHECK_EQ_INT(family_from_name("data-ai-iot"), FAMILY_DATA_AI_IOT);
	CHECK_EQ_INT(family_from_name("Design"), -1);
	CHECK_EQ_INT(family_from_name(""), -1);
	CHECK_EQ_INT(family_from_name(NULL), -1);

	CHECK_EQ_INT(REGION_COUNT, 18);
	CHECK_EQ_INT(region_index("01"), 0);
	CHECK_EQ_INT(region_index("06"), 4);
	CHECK_EQ_INT(region_index("84"), 15);
	CHECK_EQ_INT(region_index("94"), 17);
	CHECK_EQ_INT(region_index("05"), -1);
	CHECK_EQ_INT(region_index("1"), -1);
	CHECK_EQ_INT(region_index(NULL), -1);
	for (int i = 0; i < REGION_COUNT; i++)
		CHECK_EQ_INT(region_index(region_code(i)), i);
	CHECK(region_code(-1) == NULL);
	CHECK(region_code(REGION_COUNT) == NULL);

	CHECK(qualification_low(QUALIFICATION_NONE));
	CHECK(qualification_low(3));
	CHECK(qualification_low(4));
	CHECK(!qualification_low(5));
	CHECK(!qualification_low(8));

	CHECK_EQ_INT(OUTCOME_KIND_COUNT, 8);
	for (int k = 0; k < OUTCOME_KIND_COUNT; k++)
		CHECK_EQ_INT(outcome_kind_from_name(outcome_kind_name((enum outcome_kind)k)), k);
	CHECK_EQ_INT(outcome_kind_from_name("work-study"), OUTCOME_WORK_STUDY);
	CHECK_EQ_INT(outcome_kind_from_name("employed"), -1);
	CHECK(outcome_kind_positive(OUTCOME_EMPLOYED_PERMANENT));
	CHECK(outcome_kind_positive(OUTCOME_FURTHER_TRAINING));
	CHECK(!outcome_kind_positive(OUTCOME_JOB_SEEKING));
	CHECK(!outcome_kind_positive(OUTCOME_INACTIVE));
	CHECK(!outcome_kind_positive(OUTCOME_UNKNOWN));

	CHECK_EQ_STR(review_recommendation_name(REVIEW_DISCUSS), "discuss");
	CHECK_EQ_STR(decision_outcome_name(DECISION_LABELLED), "labelled");
	CHECK_EQ_STR(decision_outcome_name(DECISION_WAITLISTED), "waitlisted");
	CHECK_EQ_STR(learner_status_name(LEARNER_DROPPED), "dropped");
}

/* ---- reviewer ------------------------------------------------------------ */

static void
reviewer_example(void)
{
	char *text = read_file("forms/examples/reviewer.xml", NULL);
	struct reviewer_doc r;

	CHECK_EQ_INT(reviewer_from(text, &r), 0);
	CHECK_EQ_INT(errs.count, 0);
	CHECK_EQ_STR(r.email, "claire.dumont@datalyon.example.fr");
	CHECK_EQ_STR(r.name, "Claire Dumont");
	CHECK_EQ_INT(r.families, (1u << FAMILY_DATA_AI_IOT) |
	    (1u << FAMILY_DEVELOPMENT) | (1u << FAMILY_CYBERSECURITY_CLOUD));
	CHECK_EQ_INT(r.regions, (1u << region_index("84")) |
	    (1u << region_index("27")) | (1u << region_index("93")));
	CHECK_EQ_INT(r.max_load, 10);
	CHECK_EQ_INT(r.has_employer, 1);
	CHECK_EQ_STR(r.employer_siret, "44223344500018");
	free(text);

	/* No employer, no region, a family twice (counts once). */
	text = example_with("reviewer.xml",
	    "  <employerSiret>44223344500018</employerSiret>\n", "");
	text = edit(text, "  <region>84</region>\n  <region>27</region>\n"
	    "  <region>93</region>\n", "");
	text = edit(text, "<family>development</family>",
	    "<family>data-ai-iot</family>");
	CHECK_EQ_INT(reviewer_from(text, &r), 0);
	CHECK_EQ_INT(r.has_employer, 0);
	CHECK_EQ_INT(r.regions, 0);
	CHECK_EQ_INT(r.families, (1u << FAMILY_DATA_AI_IOT) |
	    (1u << FAMILY_CYBERSECURITY_CLOUD));
	free(text);
}

static void
reviewer_siret_rule(void)
{
	char *text = example_with("reviewer.xml", "44223344500018", "44223344500019");
	struct reviewer_doc r;

	CHECK_EQ_INT(reviewer_from(text, &r), -1);
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].path, "/reviewer/employerSiret");
	CHECK_EQ_INT(errs.items[0].line, line_of(text, "<employerSiret>"));
	CHECK_EQ_INT(errs.items[0].column, 3);
	CHECK(strstr(errs.items[0].message, "44223344500019") != NULL);
	CHECK(strstr(errs.items[0].message, "Luhn") != NULL);
	free(text);
}

static void
reviewer_schema(void)
{
	char *text;
	struct sbuf b = { 0 };

	/* Eight families (all seven plus a repeat): more than family{1..7}. */
	text = example_with("reviewer.xml",
	    "  <family>data-ai-iot</family>\n  <family>development</family>\n"
	    "  <family>cybersecurity-cloud</family>\n",
	    "  <family>development</family>\n  <family>infrastructure</family>\n"
	    "  <family>cybersecurity-cloud</family>\n  <family>data-ai-iot</family>\n"
	    "  <family>design</family>\n  <family>digital-marketing</family>\n"
	    "  <family>management</family>\n  <family>design</family>\n");
	CHECK(refused(text));
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].path, "/reviewer/family[8]");
	free(text);
	/* Seven are fine. */
	text = example_with("reviewer.xml",
	    "  <family>data-ai-iot</family>\n  <family>development</family>\n"
	    "  <family>cybersecurity-cloud</family>\n",
	    "  <family>development</family>\n  <family>infrastructure</family>\n"
	    "  <family>cybersecurity-cloud</family>\n  <family>data-ai-iot</family>\n"
	    "  <family>design</family>\n  <family>digital-marketing</family>\n"
	    "  <family>management</family>\n");
	struct reviewer_doc r;
	CHECK_EQ_INT(reviewer_from(text, &r), 0);
	CHECK_EQ_INT(r.families, (1u << FAMILY_COUNT) - 1);
	free(text);
	/* No family at all. */
	text = example_with("reviewer.xml",
	    "  <family>data-ai-iot</family>\n  <family>development</family>\n"
	    "  <family>cybersecurity-cloud</family>\n", "");
	CHECK(refused(text));
	free(text);
	/* Unknown family, region, maxLoad bounds, order of children. */
	text = example_with("reviewer.xml", "<family>development</family>",
	    "<family>web</family>");
	CHECK(refused(text));
	CHECK_EQ_STR(errs.items[0].path, "/reviewer/family[2]");
	free(text);
	text = example_with("reviewer.xml", "<region>27</region>", "<region>05</region>");
	CHECK(refused(text));
	free(text);
	text = example_with("reviewer.xml", "<maxLoad>10</maxLoad>", "<maxLoad>201</maxLoad>");
	CHECK(refused(text));
	CHECK_EQ_STR(errs.items[0].path, "/reviewer/maxLoad");
	free(text);
	text = example_with("reviewer.xml", "<maxLoad>10</maxLoad>", "<maxLoad>0</maxLoad>");
	CHECK(refused(text));
	free(text);
	text = example_with("reviewer.xml", "  <name>Claire Dumont</name>\n", "");
	text = edit(text, "  <maxLoad>", "  <name>Claire Dumont</name>\n  <maxLoad>");
	CHECK(refused(text));
	free(text);
	text = example_with("reviewer.xml", "<email>Claire.Dumont@DataLyon.example.fr",
	    "<email>claire.dumont");
	CHECK(refused(text));
	CHECK_EQ_STR(errs.items[0].path, "/reviewer/email");
	free(text);
	/* 19 regions: more than region{0..18}. */
	sbuf_adds(&b, "");
	for (int i = 0; i < REGION_COUNT; i++)
		sbuf_printf(&b, "  <region>%s</region>\n", region_code(i));
	sbuf_adds(&b, "  <region>84</region>\n");
	text = example_with("reviewer.xml",
	    "  <region>84</region>\n  <region>27</region>\n  <region>93</region>\n",
	    b.data);
	CHECK(refused(text));
	free(text);
	sbuf_free(&b);
}

/* ---- panel --------------------------------------------------------------- */

static void
panel_example(void)
{
	char *text = read_file("forms/examples/panel.xml", NULL);
	struct panel_doc p;

	CHECK_EQ_INT(panel_from(text, &p), 0);
	CHECK_EQ_INT(errs.count, 0);
	CHECK_EQ_STR(p.call_ref, "AAP-2026-INNOV");
	CHECK_EQ_INT(p.n_members, 6);
	if (p.n_members == 6) {
		CHECK_EQ_STR(p.members[0], "claire.dumont@datalyon.example.fr");
		CHECK_EQ_STR(p.members[1], "jean-marc.lefevre@anct.example.gouv.fr");
		CHECK_EQ_STR(p.members[5], "thomas.bernard@simplon-partenaires.example.org");
	}
	form_panel_free(&p);
	CHECK(p.members == NULL);
	form_panel_free(&p); /* twice is harmless */
	free(text);
}

static void
panel_duplicates(void)
{
	char *text = example_with("panel.xml", "</panel>",
	    "  <member>CLAIRE.Dumont@datalyon.example.fr</member>\n"
	    "  <member>karim.haddad@pole-emploi.example.fr</member>\n</panel>");
	struct panel_doc p;

	CHECK_EQ_INT(panel_from(text, &p), -1);
	CHECK_EQ_INT(errs.count, 2);
	CHECK_EQ_INT(p.n_members, 8);
	CHECK_EQ_STR(errs.items[0].path, "/panel/member[7]");
	CHECK_EQ_INT(errs.items[0].line, line_of(text, "CLAIRE"));
	CHECK_EQ_INT(errs.items[0].column, 3);
	CHECK(strstr(errs.items[0].message, "claire.dumont@datalyon.example.fr") != NULL);
	CHECK(strstr(errs.items[0].message, "first at line 4") != NULL);
	CHECK_EQ_STR(errs.items[1].path, "/panel/member[8]");
	CHECK(strstr(errs.items[1].message, "first at line 7") != NULL);
	form_panel_free(&p);
	free(text);
}

static void
panel_schema(void)
{
	struct sbuf b = { 0 };
	struct panel_doc p;

	CHECK(refused("<panel xmlns=\"urn:gen:forms:1\" call=\"AAP-2026-INNOV\"/>"));
	CHECK(refused("<panel xmlns=\"urn:gen:forms:1\" call=\"aap\">"
	    "<member>a@b.fr</member></panel>"));
	CHECK(refused("<panel xmlns=\"urn:gen:forms:1\"><member>a@b.fr</member></panel>"));
	CHECK(refused("<panel xmlns=\"urn:gen:forms:1\" call=\"AAP-1\">"
	    "<member>not an address</member></panel>"));

	/* 1000 distinct members pass; 1001 do not. */
	sbuf_adds(&b, "<panel xmlns=\"urn:gen:forms:1\" call=\"AAP-2026-INNOV\">\n");
	for (int i = 0; i < 1000; i++)
		sbuf_printf(&b, "<member>expert%04d@gen.example.fr</member>\n", i);
	sbuf_adds(&b, "</panel>\n");
	CHECK_EQ_INT(panel_from(b.data, &p), 0);
	CHECK_EQ_INT(p.n_members, 1000);
	CHECK_EQ_STR(p.members[999], "expert0999@gen.example.fr");
	form_panel_free(&p);
	b.len -= strlen("</panel>\n");
	sbuf_adds(&b, "<member>expert1000@gen.example.fr</member>\n</panel>\n");
	CHECK(refused(b.data));
	CHECK_EQ_STR(errs.items[0].path, "/panel/member[1001]");
	sbuf_free(&b);
}

/* ---- conflict ------------------------------------------------------------ */

static void
conflict_example(void)
{
	char *text = read_file("forms/examples/conflict.xml", NULL);
	struct conflict_doc c;

	CHECK_EQ_INT(conflict_from(text, &c), 0);
	CHECK_EQ_INT(errs.count, 0);
	CHECK_EQ_STR(c.reviewer, "helene.moreau@region-hdf.example.fr");
	CHECK_EQ_STR(c.siret, "73282932000074");
	CHECK(strncmp(c.reason, "J'ai siégé au conseil", 22) == 0);
	free(text);

	text = example_with("conflict.xml", "73282932000074", "73282932000075");
	CHECK_EQ_INT(conflict_from(text, &c), -1);
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].path, "/conflict/siret");
	CHECK_EQ_INT(errs.items[0].line, 5);
	CHECK_EQ_INT(errs.items[0].column, 3);
	CHECK(strstr(errs.items[0].message, "73282932000075 fails the Luhn check") != NULL);
	free(text);
}

static void
conflict_schema(void)
{
	struct sbuf b = { 0 };
	struct conflict_doc c;

	/* reason text(1..1000): 1000 characters (2000 bytes) pass, 1001 fail,
	 * and so does an empty one. */
	sbuf_adds(&b, "<conflict xmlns=\"urn:gen:forms:1\"><reviewer>a@b.fr</reviewer>"
	    "<siret>73282932000074</siret><reason>");
	for (int i = 0; i < 1000; i++)
		sbuf_adds(&b, "é");
	sbuf_adds(&b, "</reason></conflict>");
	CHECK_EQ_INT(conflict_from(b.data, &c), 0);
	CHECK_EQ_INT(strlen(c.reason), 2000);
	b.len -= strlen("</reason></conflict>");
	sbuf_adds(&b, "x</reason></conflict>");
	CHECK(refused(b.data));
	CHECK_EQ_STR(errs.items[0].path, "/conflict/reason");
	sbuf_free(&b);
	CHECK(refused("<conflict xmlns=\"urn:gen:forms:1\"><reviewer>a@b.fr</reviewer>"
	    "<siret>73282932000074</siret><reason></reason></conflict>"));
	CHECK(refused("<conflict xmlns=\"urn:gen:forms:1\"><reviewer>a@b.fr</reviewer>"
	    "<siret>7328293200007</siret><reason>x</reason></conflict>"));
	CHECK(refused("<conflict xmlns=\"urn:gen:forms:1\"><siret>73282932000074</siret>"
	    "<reviewer>a@b.fr</reviewer><reason>x</reason></conflict>"));
}

/* ---- review -------------------------------------------------------------- */

static void
review_example(void)
{
	char *text = read_file("forms/examples/review.xml", NULL);
	struct call_criterion crit[12];
	int n = project_criteria(crit);
	struct review_doc r;

	CHECK_EQ_INT(n, 4);
	CHECK_EQ_INT(review_from(text, &r), 0);
	CHECK_EQ_INT(errs.count, 0);
	CHECK_EQ_INT(r.recommendation, REVIEW_FUND);
	CHECK_EQ_INT(r.confidence, 2);
	CHECK_EQ_INT(r.n_scores, 4);
	CHECK_EQ_STR(r.scores[0].criterion, "innovation");
	CHECK_EQ_INT(r.scores[0].value, 4);
	CHECK_EQ_INT(r.scores[0].value_ok, 1);
	CHECK_EQ_STR(r.scores[1].criterion, "inclusion");
	CHECK_EQ_INT(r.scores[1].value, 5);
	CHECK_EQ_STR(r.scores[3].criterion, "feasibility");
	CHECK_EQ_INT(r.scores[3].value, 4);
	CHECK_EQ_INT(r.scores[2].line, 9);
	CHECK_EQ_INT(r.scores[2].column, 3);
	CHECK_EQ_STR(r.scores[2].path, "/review/score[3]");
	CHECK_EQ_INT(r.root_line, 4);
	CHECK_EQ_INT(r.root_column, 1);
	CHECK(r.comment != NULL && strncmp(r.comment, "Dossier solide", 14) == 0);
	CHECK(r.feedback != NULL && strncmp(r.feedback, "Le comité salue", 16) == 0);
	CHECK_EQ_INT(form_review_check(&r, crit, n, &errs), 0);
	CHECK_EQ_INT(errs.count, 0);
	form_review_free(&r);
	CHECK(r.comment == NULL);
	free(text);

	/* Empty comment and feedback are allowed (text(0..20000)). */
	text = read_file("forms/examples/review.xml", NULL);
	char *c0 = strstr(text, "<comment>"), *c1 = strstr(text, "</feedback>");
	CHECK(c0 != NULL && c1 != NULL);
	if (c0 != NULL && c1 != NULL) {
		struct sbuf b = { 0 };
		sbuf_add(&b, text, (size_t)(c0 - text));
		sbuf_adds(&b, "<comment/><feedback></feedback>");
		sbuf_adds(&b, c1 + strlen("</feedback>"));
		CHECK_EQ_INT(review_from(b.data, &r), 0);
		CHECK_EQ_STR(r.comment, "");
		CHECK_EQ_STR(r.feedback, "");
		CHECK_EQ_INT(r.recommendation, REVIEW_FUND);
		form_review_free(&r);
		sbuf_free(&b);
	}
	free(text);
}

/* Extract the example review with one edit and check it against the
 * project call's criteria; returns the number of rule violations. */
static int
review_violations(const char *from, const char *to, char **textp)
{
	struct call_criterion crit[12];
	int n = project_criteria(crit);
	char *text = example_with("review.xml", from, to);
	struct review_doc r;
	int bad = -1;

	if (review_from(text, &r) == 0)
		bad = form_review_check(&r, crit, n, &errs);
	form_review_free(&r);
	*textp = text;
	return bad;
}

static void
review_rules(void)
{
	char *text;

	/* A criterion without a score. */
	CHECK_EQ_INT(review_violations(
	    "  <score criterion=\"feasibility\" value=\"4\"/>\n", "", &text), 1);
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].path, "/review");
	CHECK_EQ_INT(errs.items[0].line, 4);
	CHECK_EQ_INT(errs.items[0].column, 1);
	CHECK(strstr(errs.items[0].message, "criterion feasibility") != NULL);
	CHECK(strstr(errs.items[0].message, "no score") != NULL);
	free(text);

	/* An unknown code (and so feasibility is missing). */
	CHECK_EQ_INT(review_violations("criterion=\"feasibility\"",
	    "criterion=\"impact\"", &text), 2);
	CHECK_EQ_INT(errs.count, 2);
	CHECK_EQ_STR(errs.items[0].path, "/review/score[4]/@criterion");
	CHECK_EQ_INT(errs.items[0].line, 10);
	CHECK_EQ_INT(errs.items[0].column, 3);
	CHECK(strstr(errs.items[0].message, "impact is not a criterion of the call") != NULL);
	CHECK(strstr(errs.items[0].message,
	    "innovation, inclusion, employability, feasibility") != NULL);
	CHECK(strstr(errs.items[1].message, "feasibility") != NULL);
	free(text);

	/* A criterion scored twice. */
	CHECK_EQ_INT(review_violations("criterion=\"feasibility\"",
	    "criterion=\"inclusion\"", &text), 2);
	CHECK_EQ_STR(errs.items[0].path, "/review/score[4]/@criterion");
	CHECK(strstr(errs.items[0].message, "inclusion is scored more than once") != NULL);
	CHECK(strstr(errs.items[0].message, "first at line 8") != NULL);
	CHECK_EQ_STR(errs.items[1].path, "/review");
	free(text);

	/* Values outside 0..scaleMax (5 for every criterion of this call). */
	CHECK_EQ_INT(review_violations("criterion=\"inclusion\" value=\"5\"",
	    "criterion=\"inclusion\" value=\"6\"", &text), 1);
	CHECK_EQ_STR(errs.items[0].path, "/review/score[2]/@value");
	CHECK_EQ_INT(errs.items[0].line, 8);
	CHECK_EQ_INT(errs.items[0].column, 3);
	CHECK(strstr(errs.items[0].message, "value 6 for criterion inclusion") != NULL);
	CHECK(strstr(errs.items[0].message, "scale 0..5") != NULL);
	free(text);
	CHECK_EQ_INT(review_violations("value=\"3\"", "value=\"-1\"", &text), 1);
	CHECK_EQ_STR(errs.items[0].path, "/review/score[3]/@value");
	free(text);
	CHECK_EQ_INT(review_violations("value=\"3\"",
	    "value=\"99999999999999999999\"", &text), 1);
	CHECK(strstr(errs.items[0].message, "value 99999999999999999999") != NULL);
	free(text);
	/* Bounds are inclusive; xs:integer lexical forms are read right. */
	CHECK_EQ_INT(review_violations("value=\"3\"", "value=\" +005 \"", &text), 0);
	free(text);
	CHECK_EQ_INT(review_violations("value=\"3\"", "value=\"0\"", &text), 0);
	free(text);
	CHECK_EQ_INT(review_violations("value=\"3\"", "value=\"-0\"", &text), 0);
	free(text);

	/* Everything at once, in document order. */
	CHECK_EQ_INT(review_violations(
	    "  <score criterion=\"innovation\" value=\"4\"/>\n",
	    "  <score criterion=\"innovation\" value=\"9\"/>\n"
	    "  <score criterion=\"innovation\" value=\"1\"/>\n"
	    "  <score criterion=\"budget\" value=\"1\"/>\n", &text), 3);
	CHECK_EQ_STR(errs.items[0].path, "/review/score[1]/@value");
	CHECK_EQ_STR(errs.items[1].path, "/review/score[2]/@criterion");
	CHECK_EQ_STR(errs.items[2].path, "/review/score[3]/@criterion");
	free(text);
	CHECK_EQ_INT(review_violations(
	    "  <score criterion=\"feasibility\" value=\"4\"/>\n",
	    "  <score criterion=\"inclusion\" value=\"7\"/>\n", &text), 3);
	CHECK_EQ_INT(errs.count, 3);
	CHECK_EQ_STR(errs.items[0].path, "/review/score[4]/@criterion");
	CHECK_EQ_STR(errs.items[1].path, "/review/score[4]/@value");
	CHECK_EQ_STR(errs.items[2].path, "/review");
	free(text);

	/* A call with other criteria: every score is unknown, every criterion
	 * missing. */
	struct call_criterion other[2] = {
		{ .code = "impact", .weight = 1, .scale_max = 20 },
		{ .code = "clarity", .weight = 1, .scale_max = 10 },
	};
	struct review_doc r;
	text = read_file("forms/examples/review.xml", NULL);
	CHECK_EQ_INT(review_from(text, &r), 0);
	CHECK_EQ_INT(form_review_check(&r, other, 2, &errs), 6);
	CHECK(has_error("criterion impact of the call has no score"));
	CHECK(has_error("criterion clarity of the call has no score"));
	form_review_free(&r);
	free(text);
}

static void
review_schema(void)
{
	char *text;
	struct sbuf b = { 0 };
	struct review_doc r;

	/* Twelve scores, the most a call's criteria allow, pass the schema;
	 * a thirteenth does not. */
	for (int i = 0; i < 12; i++)
		sbuf_printf(&b, "  <score criterion=\"c%d\" value=\"1\"/>\n", i + 1);
	text = example_with("review.xml",
	    "  <score criterion=\"innovation\" value=\"4\"/>\n", b.data);
	text = edit(text, "  <score criterion=\"inclusion\" value=\"5\"/>\n", "");
	text = edit(text, "  <score criterion=\"employability\" value=\"3\"/>\n", "");
	text = edit(text, "  <score criterion=\"feasibility\" value=\"4\"/>\n", "");
	CHECK_EQ_INT(review_from(text, &r), 0);
	CHECK_EQ_INT(r.n_scores, 12);
	CHECK_EQ_STR(r.scores[11].criterion, "c12");
	CHECK_EQ_STR(r.scores[11].path, "/review/score[12]");
	form_review_free(&r);
	text = edit(text, "  <comment>", "  <score criterion=\"c13\" value=\"1\"/>\n  <comment>");
	CHECK(refused(text));
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].path, "/review/score[13]");
	free(text);
	sbuf_free(&b);

	/* A call with 13 criteria is refused too (criterion{2..12}). */
	sbuf_adds(&b, "<criteria>\n");
	for (int i = 0; i < 13; i++)
		sbuf_printf(&b, "    <criterion code=\"c%d\" weight=\"1\" scaleMax=\"5\">"
		    "Critère %d</criterion>\n", i + 1, i + 1);
	text = example_with("call-project.xml", "<criteria>", b.data);
	CHECK(refused(text));
	CHECK(has_error("criterion"));
	free(text);
	sbuf_free(&b);

	text = example_with("review.xml", "<confidence>2</confidence>",
	    "<confidence>4</confidence>");
	CHECK(refused(text));
	CHECK_EQ_STR(errs.items[0].path, "/review/confidence");
	free(text);
	text = example_with("review.xml", "<recommendation>fund", "<recommendation>maybe");
	CHECK(refused(text));
	free(text);
	text = example_with("review.xml", "value=\"4\"", "value=\"3.5\"");
	CHECK(refused(text));
	CHECK_EQ_STR(errs.items[0].path, "/review/score[1]/@value");
	free(text);
	text = example_with("review.xml", "criterion=\"innovation\"", "criterion=\"Innovation\"");
	CHECK(refused(text));
	CHECK_EQ_STR(errs.items[0].path, "/review/score[1]/@criterion");
	free(text);
	text = example_with("review.xml", "criterion=\"innovation\" ", "");
	CHECK(refused(text));
	free(text);
	/* No score at all (score+). */
	text = example_with("review.xml",
	    "  <score criterion=\"innovation\" value=\"4\"/>\n"
	    "  <score criterion=\"inclusion\" value=\"5\"/>\n"
	    "  <score criterion=\"employability\" value=\"3\"/>\n"
	    "  <score criterion=\"feasibility\" value=\"4\"/>\n", "");
	CHECK(refused(text));
	free(text);
	/* comment after feedback: wrong order. */
	CHECK(refused("<review xmlns=\"urn:gen:forms:1\"><recommendation>fund"
	    "</recommendation><confidence>1</confidence>"
	    "<score criterion=\"a\" value=\"1\"/><feedback/><comment/></review>"));
}

/* ---- decisions ----------------------------------------------------------- */

static void
decisions_example(void)
{
	char *text = read_file("forms/examples/decisions.xml", NULL);
	struct decisions_doc d;

	CHECK_EQ_INT(decisions_from(text, &d), 0);
	CHECK_EQ_INT(errs.count, 0);
	CHECK_EQ_STR(d.call_ref, "AAP-2026-INNOV");
	CHECK_EQ_INT(d.n, 4);
	if (d.n == 4) {
		CHECK_EQ_STR(d.items[0].application, "GEN-2026-000001");
		CHECK_EQ_INT(d.items[0].outcome, DECISION_FUNDED);
		CHECK_EQ_INT(d.items[0].has_amount, 1);
		CHECK_EQ_INT(d.items[0].amount_cents, 12000000);
		CHECK(strncmp(d.items[0].rationale, "Classé premier", 15) == 0);
		CHECK_EQ_INT(d.items[0].line, 5);
		CHECK_EQ_INT(d.items[0].column, 3);
		CHECK_EQ_STR(d.items[0].path, "/decisions/decision[1]");
		CHECK_EQ_INT(d.items[1].amount_cents, 8750050);
		CHECK_EQ_STR(d.items[2].application, "GEN-2026-000002");
		CHECK_EQ_INT(d.items[2].outcome, DECISION_WAITLISTED);
		CHECK_EQ_INT(d.items[2].has_amount, 0);
		CHECK_EQ_INT(d.items[3].outcome, DECISION_REJECTED);
		CHECK_EQ_STR(d.items[3].path, "/decisions/decision[4]");
	}
	form_decisions_free(&d);
	CHECK(d.items == NULL);
	free(text);

	/* One decision: no index in its path; labelled with amount 0. */
	CHECK_EQ_INT(decisions_from("<decisions xmlns=\"urn:gen:forms:1\" call=\"LABEL-2026\">"
	    "<decision application=\"GEN-2026-000123\" outcome=\"labelled\" amount=\"0\">"
	    "<rationale>Label accordé pour trois ans.</rationale></decision></decisions>",
	    &d), 0);
	CHECK_EQ_INT(d.n, 1);
	CHECK_EQ_STR(d.items[0].path, "/decisions/decision");
	CHECK_EQ_INT(d.items[0].outcome, DECISION_LABELLED);
	CHECK_EQ_INT(d.items[0].has_amount, 1);
	CHECK_EQ_INT(d.items[0].amount_cents, 0);
	form_decisions_free(&d);
}

static void
decisions_duplicates(void)
{
	char *text = example_with("decisions.xml", "GEN-2026-000007", "GEN-2026-000001");
	struct decisions_doc d;

	CHECK_EQ_INT(decisions_from(text, &d), -1);
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].path, "/decisions/decision[4]/@application");
	CHECK_EQ_INT(errs.items[0].line, 14);
	CHECK_EQ_INT(errs.items[0].column, 3);
	CHECK(strstr(errs.items[0].message, "GEN-2026-000001 is decided more than once") != NULL);
	CHECK(strstr(errs.items[0].message, "first at line 5") != NULL);
	CHECK_EQ_INT(d.n, 4);
	form_decisions_free(&d);
	free(text);
}

static void
decisions_schema(void)
{
	char *text;
	struct sbuf b = { 0 };
	struct decisions_doc d;

	text = example_with("decisions.xml", "GEN-2026-000004", "GEN-26-000004");
	CHECK(refused(text));
	CHECK_EQ_STR(errs.items[0].path, "/decisions/decision[2]/@application");
	free(text);
	text = example_with("decisions.xml", "amount=\"87500.50\"", "amount=\"87500.505\"");
	CHECK(refused(text));
	CHECK_EQ_STR(errs.items[0].path, "/decisions/decision[2]/@amount");
	free(text);
	text = example_with("decisions.xml", "amount=\"87500.50\"", "amount=\"100000000.01\"");
	CHECK(refused(text));
	free(text);
	text = example_with("decisions.xml", "outcome=\"waitlisted\"", "outcome=\"postponed\"");
	CHECK(refused(text));
	CHECK_EQ_STR(errs.items[0].path, "/decisions/decision[3]/@outcome");
	free(text);
	CHECK(refused("<decisions xmlns=\"urn:gen:forms:1\" call=\"AAP-2026-INNOV\"/>"));
	CHECK(refused("<decisions xmlns=\"urn:gen:forms:1\" call=\"AAP-2026-INNOV\">"
	    "<decision application=\"GEN-2026-000001\" outcome=\"rejected\">"
	    "<rationale></rationale></decision></decisions>"));
	CHECK(refused("<decisions xmlns=\"urn:gen:forms:1\" call=\"AAP-2026-INNOV\">"
	    "<decision application=\"GEN-2026-000001\" outcome=\"rejected\"/></decisions>"));

	/* 1000 decisions pass, 1001 do not. */
	sbuf_adds(&b, "<decisions xmlns=\"urn:gen:forms:1\" call=\"AAP-2026-INNOV\">\n");
	for (int i = 1; i <= 1000; i++)
		sbuf_printf(&b, "<decision application=\"GEN-2026-%06d\" outcome=\"rejected\">"
		    "<rationale>Sous le seuil.</rationale></decision>\n", i);
	sbuf_adds(&b, "</decisions>\n");
	CHECK_EQ_INT(decisions_from(b.data, &d), 0);
	CHECK_EQ_INT(d.n, 1000);
	CHECK_EQ_STR(d.items[999].application, "GEN-2026-001000");
	CHECK_EQ_STR(d.items[999].path, "/decisions/decision[1000]");
	CHECK_EQ_INT(d.items[999].line, 1001);
	form_decisions_free(&d);
	b.len -= strlen("</decisions>\n");
	sbuf_adds(&b, "<decision application=\"GEN-2026-001001\" outcome=\"rejected\">"
	    "<rationale>x</rationale></decision>\n</decisions>\n");
	CHECK(refused(b.data));
	CHECK_EQ_STR(errs.items[0].path, "/decisions/decision[1001]");
	sbuf_free(&b);
}

/* ---- cohortReport -------------------------------------------------------- */

static void
cohort_example(void)
{
	char *text = read_file("forms/examples/cohortReport.xml", NULL);
	struct cohort_doc c;
	int women = 0, low = 0, pa = 0, rural = 0, js = 0, dropped = 0;
	int exited = 0, reported = 0, positive = 0, qpv = 0;

	CHECK_EQ_INT(cohort_from(text, &c), 0);
	CHECK_EQ_INT(errs.count, 0);
	CHECK_EQ_STR(c.programme, "GEN-2024-000137");
	CHECK_EQ_STR(c.cohort, "RBX-2025-10");
	CHECK_EQ_STR(c.start_date, "2025-10-06");
	CHECK_EQ_STR(c.end_date, "2026-05-29");
	CHECK_EQ_INT(c.planned_seats, 32);
	CHECK_EQ_STR(c.region, "32");
	CHECK_EQ_INT(c.root_line, 8);
	CHECK_EQ_INT(c.end_line, 10);
	CHECK_EQ_INT(c.end_column, 3);
	CHECK_EQ_INT(c.n_learners, 30);
	for (int i = 0; i < c.n_learners; i++) {
		const struct cohort_learner *l = &c.learners[i];
		women += l->gender == 'F';
		low += qualification_low(l->qualification);
		pa += l->priority_area;
		rural += l->rural;
		js += l->job_seeker;
		dropped += l->status == LEARNER_DROPPED;
		exited += l->status != LEARNER_ENROLLED;
		qpv += l->has_qpv;
		if (l->has_outcome && l->outcome != OUTCOME_UNKNOWN)
			reported++;
		if (l->has_outcome && outcome_kind_positive(l->outcome))
			positive++;
	}
	CHECK_EQ_INT(women, 12);
	CHECK_EQ_INT(low, 24);
	CHECK_EQ_INT(pa, 12);
	CHECK_EQ_INT(qpv, 12);
	CHECK_EQ_INT(rural, 7);
	CHECK_EQ_INT(js, 27);
	CHECK_EQ_INT(dropped, 5);
	CHECK_EQ_INT(exited, 28);
	CHECK_EQ_INT(reported, 22);
	CHECK_EQ_INT(positive, 19);

	const struct cohort_learner *l = &c.learners[0];
	CHECK_EQ_STR(l->ref, "RBX25-001");
	CHECK_EQ_INT(l->gender, 'F');
	CHECK_EQ_INT(l->birth_year, 1999);
	CHECK_EQ_INT(l->qualification, 4);
	CHECK_EQ_INT(l->priority_area, 1);
	CHECK_EQ_INT(l->rural, 0);
	CHECK_EQ_INT(l->job_seeker, 1);
	CHECK_EQ_STR(l->region, "32");
	CHECK_EQ_INT(l->status, LEARNER_COMPLETED);
	CHECK_EQ_INT(l->has_exit, 1);
	CHECK_EQ_STR(l->exit_date, "2026-05-29");
	CHECK_EQ_INT(l->has_qpv, 1);
	CHECK_EQ_STR(l->qpv_code, "QP059001");
	CHECK_EQ_INT(l->has_outcome, 1);
	CHECK_EQ_INT(l->outcome, OUTCOME_EMPLOYED_PERMANENT);
	CHECK_EQ_STR(l->outcome_at, "2026-11-27");
	CHECK_EQ_INT(l->line, 13);
	CHECK_EQ_INT(l->column, 3);
	CHECK_EQ_INT(l->outcome_line, 14);
	CHECK_EQ_INT(l->outcome_column, 5);
	l = &c.learners[2];
	CHECK_EQ_INT(l->qualification, QUALIFICATION_NONE);
	CHECK_EQ_INT(l->rural, 1);
	l = &c.learners[12]; /* RBX25-013, still enrolled */
	CHECK_EQ_STR(l->ref, "RBX25-013");
	CHECK_EQ_INT(l->status, LEARNER_ENROLLED);
	CHECK_EQ_INT(l->has_exit, 0);
	CHECK_EQ_STR(l->exit_date, "");
	CHECK_EQ_INT(l->has_outcome, 0);
	CHECK_EQ_INT(l->has_qpv, 0);
	CHECK_EQ_INT(l->line, line_of(text, "ref=\"RBX25-013\""));
	CHECK_EQ_INT(c.learners[6].gender, 'X');
	CHECK_EQ_INT(c.learners[6].outcome, OUTCOME_UNKNOWN);

	/* Valid on the day of the report and long after. */
	CHECK_EQ_INT(form_cohort_check(&c, "2026-11-30", &errs), 0);
	CHECK_EQ_INT(form_cohort_check(&c, "2030-01-01", &errs), 0);
	CHECK_EQ_INT(form_cohort_check(&c, NULL, &errs), 0);
	CHECK_EQ_INT(errs.count, 0);
	/* Checked on 1 June 2026, the exit of 12 June is in the future; on
	 * 12 June itself it is not. */
	CHECK_EQ_INT(form_cohort_check(&c, "2026-06-01", &errs), 1);
	CHECK_EQ_STR(errs.items[0].path, "/cohortReport/learner[11]/@exitDate");
	CHECK_EQ_INT(errs.items[0].line, line_of(text, "ref=\"RBX25-011\""));
	CHECK_EQ_INT(errs.items[0].column, 3);
	CHECK(strstr(errs.items[0].message, "2026-06-12 is in the future") != NULL);
	memset(&errs, 0, sizeof errs);
	CHECK_EQ_INT(form_cohort_check(&c, "2026-06-12", &errs), 0);
	form_cohort_free(&c);
	CHECK(c.learners == NULL);
	free(text);
}

/* The example report with one edit, extracted and checked on 2026-11-30;
 * returns the number of violations (-2 when it does not even parse). */
static int
cohort_violations(const char *from, const char *to, char **textp)
{
	char *text = example_with("cohortReport.xml", from, to);
	struct cohort_doc c;
	int bad = -2;

	if (cohort_from(text, &c) == 0)
		bad = form_cohort_check(&c, "2026-11-30", &errs);
	form_cohort_free(&c);
	*textp = text;
	return bad;
}

static void
cohort_rules(void)
{
	char *text;

	/* endDate before startDate. */
	CHECK_EQ_INT(cohort_violations("<endDate>2026-05-29", "<endDate>2025-10-05",
	    &text), 1);
	CHECK_EQ_STR(errs.items[0].path, "/cohortReport/endDate");
	CHECK_EQ_INT(errs.items[0].line, 10);
	CHECK_EQ_INT(errs.items[0].column, 3);
	CHECK(strstr(errs.items[0].message, "endDate 2025-10-05 is before startDate 2025-10-06") != NULL);
	free(text);
	/* The same day is fine. */
	CHECK_EQ_INT(cohort_violations("<endDate>2026-05-29", "<endDate>2025-10-06",
	    &text), 0);
	free(text);

	/* Completed without an exitDate. */
	CHECK_EQ_INT(cohort_violations(
	    "status=\"completed\" exitDate=\"2026-05-29\"/>", "status=\"completed\"/>",
	    &text), 1);
	CHECK_EQ_STR(errs.items[0].path, "/cohortReport/learner[17]");
	CHECK_EQ_INT(errs.items[0].line, line_of(text, "ref=\"RBX25-017\""));
	CHECK_EQ_INT(errs.items[0].column, 3);
	CHECK(strstr(errs.items[0].message, "status completed needs an exitDate") != NULL);
	free(text);
	/* Dropped without one, its outcome kept: one error, about the date. */
	CHECK_EQ_INT(cohort_violations(
	    "status=\"dropped\" exitDate=\"2025-12-12\"", "status=\"dropped\"",
	    &text), 1);
	CHECK_EQ_STR(errs.items[0].path, "/cohortReport/learner[4]");
	CHECK(has_error("status dropped needs an exitDate"));
	free(text);

	/* Enrolled with an exitDate. */
	CHECK_EQ_INT(cohort_violations("status=\"enrolled\"/>",
	    "status=\"enrolled\" exitDate=\"2026-05-29\"/>", &text), 1);
	CHECK_EQ_STR(errs.items[0].path, "/cohortReport/learner[13]/@exitDate");
	CHECK_EQ_INT(errs.items[0].line, line_of(text, "ref=\"RBX25-013\""));
	CHECK(has_error("enrolled learner has no exitDate"));
	free(text);

	/* exitDate before startDate; on startDate is fine. */
	CHECK_EQ_INT(cohort_violations("exitDate=\"2025-12-12\"",
	    "exitDate=\"2025-10-05\"", &text), 1);
	CHECK_EQ_STR(errs.items[0].path, "/cohortReport/learner[4]/@exitDate");
	CHECK(has_error("exitDate 2025-10-05 is before the cohort's startDate 2025-10-06"));
	free(text);
	CHECK_EQ_INT(cohort_violations("exitDate=\"2025-12-12\"",
	    "exitDate=\"2025-10-06\"", &text), 0);
	free(text);
	/* exitDate after today; today itself is fine. */
	CHECK_EQ_INT(cohort_violations("exitDate=\"2026-02-06\"",
	    "exitDate=\"2026-12-01\"", &text), 1);
	CHECK_EQ_STR(errs.items[0].path, "/cohortReport/learner[9]/@exitDate");
	CHECK(has_error("2026-12-01 is in the future (today is 2026-11-30)"));
	free(text);
	CHECK_EQ_INT(cohort_violations("exitDate=\"2026-02-06\"",
	    "exitDate=\"2026-11-30\"", &text), 0);
	free(text);

	/* Born after the cohort started; born that year is (just) possible. */
	CHECK_EQ_INT(cohort_violations("ref=\"RBX25-003\" gender=\"F\" birthYear=\"1994\"",
	    "ref=\"RBX25-003\" gender=\"F\" birthYear=\"2026\"", &text), 1);
	CHECK_EQ_STR(errs.items[0].path, "/cohortReport/learner[3]/@birthYear");
	CHECK_EQ_INT(errs.items[0].line, line_of(text, "ref=\"RBX25-003\""));
	CHECK(has_error("birthYear 2026 is after the cohort's startDate 2025-10-06"));
	free(text);
	CHECK_EQ_INT(cohort_violations("ref=\"RBX25-003\" gender=\"F\" birthYear=\"1994\"",
	    "ref=\"RBX25-003\" gender=\"F\" birthYear=\"2025\"", &text), 0);
	free(text);
	/* A QPV code on a learner said not to live in a priority area. */
	CHECK_EQ_INT(cohort_violations("qualification=\"4\" priorityArea=\"true\" rural=\"false\" jobSeeker=\"true\" region=\"32\" status=\"completed\" exitDate=\"2026-05-29\" qpvCode=\"QP059001\"",
	    "qualification=\"4\" priorityArea=\"false\" rural=\"false\" jobSeeker=\"true\" region=\"32\" status=\"completed\" exitDate=\"2026-05-29\" qpvCode=\"QP059001\"", &text), 1);
	CHECK_EQ_STR(errs.items[0].path, "/cohortReport/learner[1]/@qpvCode");
	CHECK(has_error("qpvCode QP059001 names a priority urban area but priorityArea is false"));
	free(text);

	/* An outcome for a learner who has not exited. */
	CHECK_EQ_INT(cohort_violations("status=\"enrolled\"/>",
	    "status=\"enrolled\"><outcome kind=\"work-study\" at=\"2026-09-01\"/></learner>",
	    &text), 1);
	CHECK_EQ_STR(errs.items[0].path, "/cohortReport/learner[13]/outcome");
	CHECK_EQ_INT(errs.items[0].line, line_of(text, "ref=\"RBX25-013\""));
	CHECK_EQ_INT(errs.items[0].column, (int)(strstr(text, "<outcome kind=\"work-study\" at=\"2026-09-01\"")
	    - strstr(text, "  <learner ref=\"RBX25-013\"")) + 1);
	CHECK(has_error("not for one who is enrolled"));
	free(text);

	/* An outcome dated before the exit; on the exit day is fine. */
	CHECK_EQ_INT(cohort_violations("kind=\"job-seeking\" at=\"2026-06-12\"",
	    "kind=\"job-seeking\" at=\"2025-12-11\"", &text), 1);
	CHECK_EQ_STR(errs.items[0].path, "/cohortReport/learner[4]/outcome/@at");
	CHECK_EQ_INT(errs.items[0].line, line_of(text, "ref=\"RBX25-004\"") + 1);
	CHECK_EQ_INT(errs.items[0].column, 5);
	CHECK(has_error("outcome dated 2025-12-11 is before the learner's exitDate 2025-12-12"));
	free(text);
	CHECK_EQ_INT(cohort_violations("kind=\"job-seeking\" at=\"2026-06-12\"",
	    "kind=\"job-seeking\" at=\"2025-12-12\"", &text), 0);
	free(text);

	/* A ref used twice (and a third time): each repeat names it. */
	CHECK_EQ_INT(cohort_violations("ref=\"RBX25-002\"", "ref=\"RBX25-001\"", &text), 1);
	CHECK_EQ_STR(errs.items[0].path, "/cohortReport/learner[2]/@ref");
	CHECK_EQ_INT(errs.items[0].line, 16);
	CHECK_EQ_INT(errs.items[0].column, 3);
	CHECK(has_error("learner ref \"RBX25-001\" is used more than once"));
	CHECK(has_error("first at line 13"));
	text = edit(text, "ref=\"RBX25-030\"", "ref=\"RBX25-001\"");
	struct cohort_doc c;
	CHECK_EQ_INT(cohort_from(text, &c), 0);
	CHECK_EQ_INT(form_cohort_check(&c, "2026-11-30", &errs), 2);
	CHECK_EQ_STR(errs.items[1].path, "/cohortReport/learner[30]/@ref");
	CHECK(strstr(errs.items[1].message, "first at line 13") != NULL);
	form_cohort_free(&c);
	free(text);
	/* Refs are compared exactly. */
	CHECK_EQ_INT(cohort_violations("ref=\"RBX25-002\"", "ref=\"rbx25-001\"", &text), 0);
	free(text);

	/* Every rule at once, in document order. */
	text = example_with("cohortReport.xml", "<endDate>2026-05-29", "<endDate>2025-01-01");
	text = edit(text, "ref=\"RBX25-002\"", "ref=\"RBX25-001\"");
	text = edit(text, "exitDate=\"2025-12-12\"", "exitDate=\"2025-01-01\"");
	text = edit(text, "status=\"enrolled\"/>",
	    "status=\"enrolled\"><outcome kind=\"inactive\" at=\"2026-01-01\"/></learner>");
	CHECK_EQ_INT(cohort_from(text, &c), 0);
	CHECK_EQ_INT(form_cohort_check(&c, "2026-11-30", &errs), 4);
	CHECK_EQ_INT(errs.count, 4);
	CHECK_EQ_STR(errs.items[0].path, "/cohortReport/endDate");
	CHECK_EQ_STR(errs.items[1].path, "/cohortReport/learner[2]/@ref");
	CHECK_EQ_STR(errs.items[2].path, "/cohortReport/learner[4]/@exitDate");
	CHECK_EQ_STR(errs.items[3].path, "/cohortReport/learner[13]/outcome");
	form_cohort_free(&c);
	free(text);
}

/* A report with n learners (refs L1..Ln), all valid. */
static char *
big_report(int n, const char *ref_last)
{
	struct sbuf b = { 0 };

	sbuf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<cohortReport xmlns=\"urn:gen:forms:1\" programme=\"GEN-2024-000137\" "
	    "cohort=\"grand.groupe_2025\">\n"
	    "<startDate>2025-01-06</startDate><endDate>2025-12-19</endDate>\n"
	    "<plannedSeats>10000</plannedSeats><region>11</region>\n");
	for (int i = 1; i <= n; i++) {
		char ref[32];
		snprintf(ref, sizeof ref, "L%d", i);
		sbuf_printf(&b, "<learner ref=\"%s\" gender=\"%c\" birthYear=\"%d\" "
		    "qualification=\"%d\" priorityArea=\"%s\" rural=\"false\" "
		    "jobSeeker=\"true\" region=\"11\" status=\"completed\" "
		    "exitDate=\"2025-12-19\"><outcome kind=\"work-study\" "
		    "at=\"2026-06-19\"/></learner>\n",
		    i == n && ref_last ? ref_last : ref, i % 3 ? 'M' : 'F',
		    1980 + i % 25, 3 + i % 6, i % 5 ? "false" : "true");
	}
	sbuf_adds(&b, "</cohortReport>\n");
	return sbuf_detach(&b);
}

static void
cohort_schema(void)
{
	char *text;
	struct cohort_doc c;

	/* 5000 learners pass, with the rules checked; the last repeating the
	 * first is caught. */
	text = big_report(5000, "L1");
	CHECK_EQ_INT(cohort_from(text, &c), 0);
	CHECK_EQ_INT(c.n_learners, 5000);
	CHECK_EQ_STR(c.learners[4998].ref, "L4999");
	CHECK_EQ_INT(c.learners[4998].line, 5003);
	CHECK_EQ_INT(c.learners[4998].qualification, 3 + 4999 % 6);
	CHECK_EQ_INT(form_cohort_check(&c, "2026-11-30", &errs), 1);
	CHECK_EQ_STR(errs.items[0].path, "/cohortReport/learner[5000]/@ref");
	CHECK(has_error("\"L1\""));
	form_cohort_free(&c);
	free(text);
	/* 5001 do not: a schema error (422), located at the 5001st. */
	text = big_report(5001, NULL);
	CHECK(refused(text));
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].path, "/cohortReport/learner[5001]");
	CHECK_EQ_INT(errs.items[0].line, 5005);
	free(text);
	/* No learner at all is a valid (empty) report. */
	text = big_report(0, NULL);
	CHECK_EQ_INT(cohort_from(text, &c), 0);
	CHECK_EQ_INT(c.n_learners, 0);
	CHECK_EQ_INT(form_cohort_check(&c, "2026-11-30", &errs), 0);
	form_cohort_free(&c);
	free(text);
	/* One learner: paths carry no index. */
	text = big_report(1, NULL);
	text = edit(text, "exitDate=\"2025-12-19\"", "exitDate=\"2025-01-05\"");
	CHECK_EQ_INT(cohort_from(text, &c), 0);
	CHECK_EQ_INT(form_cohort_check(&c, "2026-11-30", &errs), 1);
	CHECK_EQ_STR(errs.items[0].path, "/cohortReport/learner/@exitDate");
	form_cohort_free(&c);
	free(text);

	/* ref text(1..64): 64 characters pass (even of two bytes each), 65
	 * fail, an empty one fails. */
	struct sbuf b = { 0 };
	for (int i = 0; i < 64; i++)
		sbuf_adds(&b, "é");
	text = example_with("cohortReport.xml", "RBX25-001", b.data);
	CHECK_EQ_INT(cohort_from(text, &c), 0);
	CHECK_EQ_INT(strlen(c.learners[0].ref), 128);
	form_cohort_free(&c);
	free(text);
	sbuf_reset(&b);
	for (int i = 0; i < 65; i++)
		sbuf_addc(&b, 'r');
	text = example_with("cohortReport.xml", "RBX25-001", b.data);
	CHECK(refused(text));
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].path, "/cohortReport/learner[1]/@ref");
	CHECK_EQ_INT(errs.items[0].line, 13);
	CHECK_EQ_INT(errs.items[0].column, 3);
	free(text);
	sbuf_free(&b);
	text = example_with("cohortReport.xml", "RBX25-001", "");
	CHECK(refused(text));
	free(text);

	/* qpvCode Q[NP][0-9A-Z]{5,8}. */
	static const char *const bad_qpv[] = {
		"QX059001", "QP0590", "QP059001234", "qp059001", "QP05900a", "Q059001",
	};
	for (size_t i = 0; i < ARRAY_LEN(bad_qpv); i++) {
		char attr[40];
		snprintf(attr, sizeof attr, "qpvCode=\"%s\"", bad_qpv[i]);
		text = example_with("cohortReport.xml", "qpvCode=\"QP059001\"", attr);
		CHECK(refused(text));
		CHECK_EQ_INT(errs.count, 1);
		CHECK_EQ_STR(errs.items[0].path, "/cohortReport/learner[1]/@qpvCode");
		free(text);
	}
	text = example_with("cohortReport.xml", "qpvCode=\"QP059001\"", "qpvCode=\"QN12345678\"");
	CHECK_EQ_INT(cohort_from(text, &c), 0);
	CHECK_EQ_STR(c.learners[0].qpv_code, "QN12345678");
	form_cohort_free(&c);
	free(text);

	/* birthYear 1900..2100. */
	text = example_with("cohortReport.xml", "birthYear=\"1999\"", "birthYear=\"1899\"");
	CHECK(refused(text));
	CHECK_EQ_STR(errs.items[0].path, "/cohortReport/learner[1]/@birthYear");
	free(text);
	text = example_with("cohortReport.xml", "birthYear=\"1999\"", "birthYear=\"2101\"");
	CHECK(refused(text));
	free(text);
	text = example_with("cohortReport.xml", "birthYear=\"1999\"", "birthYear=\"1900\"");
	CHECK_EQ_INT(cohort_from(text, &c), 0);
	CHECK_EQ_INT(c.learners[0].birth_year, 1900);
	form_cohort_free(&c);
	free(text);

	/* Other attributes and elements. */
	static const char *const edits[][2] = {
		{ "gender=\"F\"", "gender=\"f\"" },
		{ "qualification=\"4\"", "qualification=\"2\"" },
		{ "status=\"completed\"", "status=\"graduated\"" },
		{ "exitDate=\"2026-05-29\"", "exitDate=\"2026-02-30\"" },
		{ "exitDate=\"2026-05-29\"", "exitDate=\"29/05/2026\"" },
		{ "priorityArea=\"true\"", "priorityArea=\"yes\"" },
		{ "region=\"32\" status", "region=\"05\" status" },
		{ "kind=\"employed-permanent\"", "kind=\"employed\"" },
		{ "at=\"2026-11-27\"", "at=\"12026-11-27\"" },
		{ "cohort=\"RBX-2025-10\"", "cohort=\"-RBX\"" },
		{ "cohort=\"RBX-2025-10\"", "cohort=\"RBX 2025\"" },
		{ "programme=\"GEN-2024-000137\"", "programme=\"GEN-2024-137\"" },
		{ "<plannedSeats>32", "<plannedSeats>0" },
		{ "<startDate>2025-10-06", "<startDate>2025-10-6" },
		{ "<region>32</region>", "<region>2A</region>" },
		{ "  <startDate>2025-10-06</startDate>\n", "" },
	};
	for (size_t i = 0; i < ARRAY_LEN(edits); i++) {
		text = example_with("cohortReport.xml", edits[i][0], edits[i][1]);
		if (!refused(text))
			fprintf(stderr, "  accepted: %s\n", edits[i][1]);
		CHECK(errs.count >= 1);
		free(text);
	}

	/* A zone on a date is accepted and ignored; booleans and integers in
	 * their other lexical forms read right. */
	text = example_with("cohortReport.xml", "<startDate>2025-10-06<",
	    "<startDate> 2025-10-06+02:00 <");
	text = edit(text, "priorityArea=\"true\"", "priorityArea=\" 1\"");
	text = edit(text, "jobSeeker=\"true\" region=\"32\" status=\"completed\" exitDate=\"2026-05-29\" qpvCode=\"QP059001\"",
	    "jobSeeker=\"            true  \" region=\"32\" status=\"completed\" "
	    "exitDate=\"                                        2026-05-29   \" qpvCode=\"QP059001\"");
	text = edit(text, "birthYear=\"1999\"", "birthYear=\"+01999\"");
	text = edit(text, "rural=\"false\"", "rural=\"0\"");
	CHECK_EQ_INT(cohort_from(text, &c), 0);
	CHECK_EQ_STR(c.start_date, "2025-10-06");
	CHECK_EQ_INT(c.learners[0].priority_area, 1);
	CHECK_EQ_INT(c.learners[0].rural, 0);
	CHECK_EQ_INT(c.learners[0].job_seeker, 1);
	CHECK_EQ_STR(c.learners[0].exit_date, "2026-05-29");
	CHECK_EQ_INT(c.learners[0].birth_year, 1999);
	CHECK_EQ_INT(form_cohort_check(&c, "2026-11-30", &errs), 0);
	form_cohort_free(&c);
	free(text);
}

static void
wrong_document(void)
{
	char *text = read_file("forms/examples/review.xml", NULL);
	xmlDocPtr doc = parse_kind(text, FORM_REVIEW);
	struct reviewer_doc rv;
	struct panel_doc p;
	struct conflict_doc cf;
	struct decisions_doc d;
	struct cohort_doc c;
	struct review_doc r;

	CHECK(doc != NULL);
	CHECK_EQ_INT(form_reviewer_extract(doc, &rv, &errs), -1);
	CHECK_EQ_INT(form_panel_extract(doc, &p, &errs), -1);
	form_panel_free(&p);
	CHECK_EQ_INT(form_conflict_extract(doc, &cf, &errs), -1);
	CHECK_EQ_INT(form_decisions_extract(doc, &d, &errs), -1);
	form_decisions_free(&d);
	CHECK_EQ_INT(form_cohort_extract(doc, &c, &errs), -1);
	form_cohort_free(&c);
	CHECK_EQ_INT(errs.count, 5);
	CHECK(has_error("not a cohortReport document"));
	CHECK_EQ_INT(form_review_extract(NULL, &r, &errs), -1);
	form_review_free(&r);
	xmlFreeDoc(doc);
	free(text);
}

UNIT_MAIN("forms2",
    UNIT_CASE(examples_validate),
    UNIT_CASE(vocabularies),
    UNIT_CASE(reviewer_example),
    UNIT_CASE(reviewer_siret_rule),
    UNIT_CASE(reviewer_schema),
    UNIT_CASE(panel_example),
    UNIT_CASE(panel_duplicates),
    UNIT_CASE(panel_schema),
    UNIT_CASE(conflict_example),
    UNIT_CASE(conflict_schema),
    UNIT_CASE(review_example),
    UNIT_CASE(review_rules),
    UNIT_CASE(review_schema),
    UNIT_CASE(decisions_example),
    UNIT_CASE(decisions_duplicates),
    UNIT_CASE(decisions_schema),
    UNIT_CASE(cohort_example),
    UNIT_CASE(cohort_rules),
    UNIT_CASE(cohort_schema),
    UNIT_CASE(wrong_document))
