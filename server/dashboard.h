/* dashboard.h - the staff dashboard page GET /dashboard (DESIGN §6).
 *
 * A pure renderer: plain structs of outcome figures in, one HTML document
 * out. No SQL, no sockets, no globals; the handler fetches the figures
 * (total, by region, by family, by year), validates the filters and calls
 * dashboard_render().
 *
 * The document is built with libxml2's tree API and serialised by its HTML
 * serialiser, so every text and attribute value is escaped structurally;
 * nothing is pasted into markup. It is self-contained: one <style> element,
 * inline <svg> charts, no script, no external asset, so it suits the CSP
 * "default-src 'none'; style-src 'unsafe-inline'; img-src data:" and prints
 * as is. Every chart is followed by a plain <table> of the same numbers.
 *
 * Numbers. Values are written exactly as the API writes them: one decimal
 * with a decimal POINT ("27.5", "120.0"), counts as plain integers, so a
 * browser test can compare the page with GET /api/v1/dashboard/outcomes.
 * Each value cell carries data-figure (the FIGURES name) and data-group
 * (the group's key, "total" for the total row):
 *     <td class="num" data-figure="womenShare" data-group="84">27.5</td>
 * A suppressed figure (fewer than 10 learners in its denominator) is the
 * text "—" followed by a "*" mark linking to the footnote
 * DASHBOARD_SUPPRESSED_NOTE, with data-suppressed="true"; a null figure that
 * is not suppressed (fillRate without planned seats) is "—" with
 * data-null="true". Target cells carry data-target (the metric name) and
 * status cells data-status ("met", "near", "below", or "" when null).
 *
 * The filter form is GET /dashboard; empty fields submit as empty
 * parameters (year=&call=...), which the handler must treat as absent. It
 * stays a GET form without a CSRF token: it changes nothing, and a token
 * in a URL would leak into history, logs and Referer headers. The only
 * POST form is "Se déconnecter" (POST /logout, class "signout"), shown
 * when the page is served to a cookie session, with its CSRF token. */
#ifndef GEN_DASHBOARD_H
#define GEN_DASHBOARD_H

#include <stddef.h>

#include "figures.h"
#include "util.h"

/** The footnote of suppressed values (UTF-8). */
#define DASHBOARD_SUPPRESSED_NOTE "moins de 10 apprenants : non publié"

/** Most groups one breakdown may have (a chart is one bar or point per
 * group); more makes dashboard_render() fail. */
#define DASHBOARD_MAX_GROUPS 1000

/** One group of a breakdown: key is the API's group value ("84",
 * "development", "2024"); label is what the page shows, or NULL to use
 * dashboard_region_name() / dashboard_family_label() / the key. */
struct dash_group {
	const char *key;
	const char *label;
	struct fig_values v;
};

/** The current filters; a NULL or empty member is not set. */
struct dash_filters {
	const char *year, *region, *family, *call, *provider, *programme;
};

/** Everything the page shows. Strings are UTF-8 (invalid bytes and the
 * control characters XML forbids are shown as U+FFFD). */
struct dash_input {
	const char *title;                 /**< e.g. "Résultats des formations" */
	/** The current, validated filters as a URL query string without "?"
	 * ("year=2024&region=84"), or "" / NULL. It is appended to the CSV
	 * links; characters outside a URI query are percent-encoded anyway. */
	const char *query;
	const struct dash_filters *filters; /**< current values, or NULL */
	struct fig_values total;           /**< its targets draw the target lines */
	const struct dash_group *by_region; size_t n_region;
	const struct dash_group *by_family; size_t n_family;
	const struct dash_group *by_year;   size_t n_year;
	const char *const *years; size_t n_years; /**< options of the year filter */
	/** The session's CSRF token (websec.h) for the sign-out form; NULL
	 * or "" (a Bearer caller, no session): no sign-out form. Never put in
	 * a URL. */
	const char *csrf_token;
};

/** Render the dashboard as a complete HTML document ("<!DOCTYPE html>"
 * first, UTF-8) appended to out. Returns 0, or -1 on an unusable input (NULL
 * in or out, a non-zero count with a NULL array, more than
 * DASHBOARD_MAX_GROUPS groups) or a serialiser failure, in which case out
 * is left as it was. Out-of-memory aborts, as everywhere (util.h).
 * Thread-safe once xmlInitParser() has run. */
int dashboard_render(const struct dash_input *in, struct sbuf *out);

/** French name of an INSEE region code ("84" -> "Auvergne-Rhône-Alpes"),
 * or NULL when code is not one of the 18 regions of DESIGN §4. */
const char *dashboard_region_name(const char *code);

/** French label of a profession family ("data-ai-iot" -> "Data, IA et
 * objets connectés"), or NULL when family is not one of the seven. */
const char *dashboard_family_label(const char *family);

#endif
