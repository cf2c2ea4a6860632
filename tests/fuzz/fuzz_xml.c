/* fuzz_xml.c - libFuzzer harness for the XML intake: hardened parse,
 * DOCTYPE rejection, validation against the schema of the root, and the
 * field extraction and rules of every document kind.
 *
 * Built two ways: with clang -fsanitize=fuzzer for `make fuzz`, and with
 * replay.c as a plain program that runs every file of the corpus once,
 * which `make test` does so that a crash found once stays fixed. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cohort.h"
#include "form.h"
#include "xmlform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	if (xmlform_init("forms", err, sizeof err) != 0) {
		fprintf(stderr, "fuzz_xml: %s (run from the repository root)\n", err);
		exit(1);
	}
	atexit(xmlform_shutdown);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct form_errors *errs = calloc(1, sizeof *errs);
	enum form_kind kind;

	if (errs == NULL)
		return 0;
	xmlDocPtr doc = xmlform_parse((const char *)data, size, &kind, errs);
	if (doc != NULL) {
		switch (kind) {
		case FORM_CALL: {
			struct call_doc c;
			form_call_extract(doc, &c, errs);
			break;
		}
		case FORM_PROJECT_APPLICATION:
		case FORM_LABEL_APPLICATION: {
			struct app_doc a;
			struct call_rules r = { 0 };
			char reason[256];
			form_app_extract(doc, kind, &a);
			r.kind = a.kind;
			form_app_check(&a, &r, errs);
			form_app_meets_targets(&a, &r, reason, sizeof reason);
			break;
		}
		case FORM_COHORT_REPORT: {
			struct cohort_doc c = { 0 };
			if (form_cohort_extract(doc, &c, errs) == 0)
				form_cohort_check(&c, "2026-11-30", errs);
			form_cohort_free(&c);
			break;
		}
		case FORM_REVIEW: {
			struct review_doc r;
			memset(&r, 0, sizeof r);
			form_review_extract(doc, &r, errs);
			form_review_free(&r);
			break;
		}
		case FORM_DECISIONS: {
			struct decisions_doc d = { 0 };
			form_decisions_extract(doc, &d, errs);
			form_decisions_free(&d);
			break;
		}
		case FORM_PANEL: {
			struct panel_doc p = { 0 };
			form_panel_extract(doc, &p, errs);
			form_panel_free(&p);
			break;
		}
		case FORM_REVIEWER: {
			struct reviewer_doc r;
			form_reviewer_extract(doc, &r, errs);
			break;
		}
		case FORM_CONFLICT: {
			struct conflict_doc c;
			form_conflict_extract(doc, &c, errs);
			break;
		}
		default:
			break;
		}
		xmlFreeDoc(doc);
	}
	free(errs);
	return 0;
}
