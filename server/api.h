/* api.h - what the handler modules (api.c, api_review.c) share. */
#ifndef GEN_API_H
#define GEN_API_H

#include "app.h"

/** Parse and validate the request body as a document of kind want1 or
 * want2 (FORM_UNKNOWN for none); answers the problem itself (415, 422) and
 * returns NULL when the document is not acceptable. */
xmlDocPtr api_parse_body(struct req *q, enum form_kind *kind, enum form_kind want1,
    enum form_kind want2);
/** 1 when res succeeded; else answers 500 (logged with the SQL error) and
 * returns 0. */
int api_result_ok(struct req *q, PGresult *res);
/** Log an SQL error and answer 500. */
void api_internal_error(struct req *q, PGresult *res);
/** 404 with a problem document. */
void api_not_found(struct req *q, const char *what);
/** For statements answering (call exists, JSON): 404 "no such call" or
 * the JSON of the second column. */
void api_call_json(struct req *q, PGresult *res);
/** Answer the JSON text in the first column of the first row (404 if none). */
void api_json_row(struct req *q, PGresult *res);

/** A status code returned by an SQL function (with, when not NULL, the
 * code string that refines it), and the problem it means. */
struct status_problem {
	int status;
	const char *code;
	const char *type;
	const char *title;
	const char *detail;
};
/** When `status` (and `code`, for entries that name one; code may be NULL)
 * is listed in map, answer the first matching problem and return 1; else
 * return 0 (the caller answers success). */
int api_answer_status(struct req *q, int status, const char *code,
    const struct status_problem *map, size_t n);
/** Add an error when the document's call `doc_ref` is not the URL's,
 * located at the root element `root_name` (at line, column). */
int api_check_call(struct form_errors *errs, const char *root_name, int line, int column,
    const char *doc_ref, const char *url_ref);

/* Review-workflow handlers (api_review.c) and their statements. */
void h_reviewer_upsert(struct req *q);
void h_panel_put(struct req *q);
void h_panel_get(struct req *q);
void h_conflict_post(struct req *q);
void h_assignment_request(struct req *q);
void h_assignments_get(struct req *q);
void h_assignment_explain(struct req *q);
void h_assignment_undo(struct req *q);
void h_extra_reviewer(struct req *q);
void h_reviews_mine(struct req *q);
void h_review_get(struct req *q);
void h_review_put(struct req *q);
void h_review_decline(struct req *q);
void h_ranking(struct req *q);
void h_decisions(struct req *q);

void h_cohort_put(struct req *q);
void h_outcomes(struct req *q);
void h_alerts(struct req *q);
void h_dashboard(struct req *q);

extern const struct db_stmt outcome_statements[];
extern const int outcome_statement_count;
extern const struct db_stmt review_statements[];
extern const int review_statement_count;

#endif
