/* dashboard.c - the staff dashboard page (DESIGN §6; see dashboard.h).
 *
 * The page is one libxml2 tree built with html.h: HTML elements without a
 * namespace, and inline <svg> elements in the SVG namespace (declared on
 * each <svg>). Text and attribute values go in as text and are escaped by
 * the serialiser; strings from the caller are cleaned to valid UTF-8
 * first (html_clean_text), so the output is always well-formed.
 *
 * Chart geometry is integer pixels, computed in integer arithmetic: no
 * floating point is printed, so no locale can turn a coordinate into
 * "12,5". */
#include "dashboard.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "form.h"
#include "html.h"

#define SVG_NS "http://www.w3.org/2000/svg"
#define CSV_HREF "/api/v1/dashboard/outcomes?format=csv"
#define DASH "\xE2\x80\x94"            /* U+2014, a missing value */
#define ELLIPSIS "\xE2\x80\xA6"

#define COLOR_BAR "#2f6ea5"
#define COLOR_TARGET "#b03a2e"
#define COLOR_AXIS "#333333"
#define COLOR_GRID "#dddddd"
#define COLOR_HATCH "#8a8a8a"

static const char page_css[] =
	"body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;"
	"color:#1a1a1a;line-height:1.4;max-width:72rem;margin:1.5rem auto;padding:0 1rem}\n"
	"h1{font-size:1.6rem;margin:0 0 .25rem}\n"
	"h2{font-size:1.25rem;border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2rem}\n"
	"h3{font-size:1rem}\n"
	"table{border-collapse:collapse;margin:.5rem 0 1.5rem}\n"
	"th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:left;vertical-align:top}\n"
	"thead th{background:#f2f2f2}\n"
	"td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
	"tr.total{font-weight:bold}\n"
	".status-met{color:#1e6b34}.status-near{color:#8a5a00}.status-below{color:#a12a1f}\n"
	".mark{font-size:.75em;vertical-align:super;line-height:0}\n"
	"figure{margin:1rem 0 2rem}\n"
	"figcaption{font-weight:bold;margin-bottom:.25rem}\n"
	"svg{max-width:100%;height:auto;display:block}\n"
	"form.filters fieldset{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:flex-end;"
	"border:1px solid #ccc}\n"
	"form.filters label{display:flex;flex-direction:column;font-size:.9rem}\n"
	"ul.download{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.25rem 1.5rem}\n"
	".note{font-size:.9rem;color:#444}\n"
	"form.signout{float:right;margin:.25rem 0 0 1rem}\n"
	"@media print{form.filters,form.signout,ul.download{display:none}"
	"body{max-width:none;margin:0;padding:0;font-size:10pt}"
	"figure,table{break-inside:avoid}a{color:inherit;text-decoration:none}"
	"*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}\n";

/* ---- vocabularies -------------------------------------------------------- */

/* In the order of region_code() (form.c). */
static const char *const region_names[REGION_COUNT] = {
	"Guadeloupe", "Martinique", "Guyane", "La Réunion", "Mayotte",
	"Île-de-France", "Centre-Val de Loire", "Bourgogne-Franche-Comté",
	"Normandie", "Hauts-de-France", "Grand Est", "Pays de la Loire",
	"Bretagne", "Nouvelle-Aquitaine", "Occitanie", "Auvergne-Rhône-Alpes",
	"Provence-Alpes-Côte d'Azur", "Corse",
};

static const char *const family_labels[FAMILY_COUNT] = {
	[FAMILY_DEVELOPMENT] = "Développement",
	[FAMILY_INFRASTRUCTURE] = "Infrastructures, réseaux et télécoms",
	[FAMILY_CYBERSECURITY_CLOUD] = "Cybersécurité et cloud",
	[FAMILY_DATA_AI_IOT] = "Data, IA et objets connectés",
	[FAMILY_DESIGN] = "Design, interfaces et graphisme",
	[FAMILY_DIGITAL_MARKETING] = "Communication, marketing et e-commerce",
	[FAMILY_MANAGEMENT] = "Management et stratégie",
};

const char *
dashboard_region_name(const char *code)
{
	int i = region_index(code);

	return i < 0 ? NULL : region_names[i];
}

const char *
dashboard_family_label(const char *family)
{
	int f = family_from_name(family);

	return f < 0 ? NULL : family_labels[f];
}

/* Column headers and chart titles of each figure. */
static const struct {
	const char *label;      /* headline table and table columns */
	const char *short_name; /* chart titles: "<short> par région" */
	int metric;             /* enum fig_metric of its target, or -1 */
} fig_info[FIG_ID_COUNT] = {
	[FIG_FILL_RATE] = { "Taux de remplissage (%)", "Taux de remplissage",
	    FIG_METRIC_FILL_RATE },
	[FIG_WOMEN_SHARE] = { "Part des femmes (%)", "Part des femmes",
	    FIG_METRIC_WOMEN },
	[FIG_PRIORITY_AREA_SHARE] = { "Part des habitants des quartiers prioritaires (%)",
	    "Part des habitants des quartiers prioritaires", FIG_METRIC_PRIORITY_AREA },
	[FIG_LOW_QUALIFICATION_SHARE] = { "Part des niveaux bac ou infra (%)",
	    "Part des niveaux bac ou infra", FIG_METRIC_LOW_QUALIFICATION },
	[FIG_RURAL_SHARE] = { "Part des résidents en zone rurale (%)",
	    "Part des résidents en zone rurale", -1 },
	[FIG_JOB_SEEKER_SHARE] = { "Part des demandeurs d'emploi (%)",
	    "Part des demandeurs d'emploi", -1 },
	[FIG_DROPOUT_RATE] = { "Taux d'abandon (%)", "Taux d'abandon", -1 },
	[FIG_POSITIVE_OUTCOME_RATE] = { "Taux de sorties positives, sorties renseignées (%)",
	    "Taux de sorties positives", FIG_METRIC_POSITIVE_OUTCOME },
	[FIG_POSITIVE_OUTCOME_RATE_ALL_EXITS] = { "Taux de sorties positives, toutes sorties (%)",
	    "Taux de sorties positives (toutes sorties)", -1 },
	[FIG_OUTCOME_COVERAGE] = { "Taux de sorties renseignées (%)",
	    "Taux de sorties renseignées", -1 },
	[FIG_AVERAGE_DURATION_MONTHS] = { "Durée moyenne (mois)", "Durée moyenne", -1 },
};

/* The headline table: the counts, then the figures, in the order of the
 * dashboard brief (the key figures first). */
enum { COUNT_LEARNERS = -1, COUNT_COHORTS = -2, COUNT_SEATS = -3 };
static const int headline_rows[] = {
	COUNT_LEARNERS, COUNT_COHORTS, COUNT_SEATS,
	FIG_WOMEN_SHARE, FIG_PRIORITY_AREA_SHARE, FIG_LOW_QUALIFICATION_SHARE,
	FIG_RURAL_SHARE, FIG_JOB_SEEKER_SHARE,
	FIG_POSITIVE_OUTCOME_RATE, FIG_POSITIVE_OUTCOME_RATE_ALL_EXITS,
	FIG_OUTCOME_COVERAGE, FIG_DROPOUT_RATE, FIG_FILL_RATE,
	FIG_AVERAGE_DURATION_MONTHS,
};

static const char *
status_label(enum fig_status s)
{
	switch (s) {
	case FIG_STATUS_MET:
		return "atteint";
	case FIG_STATUS_NEAR:
		return "proche";
	case FIG_STATUS_BELOW:
		return "non atteint";
	default:
		return DASH;
	}
}

/* ---- text helpers ------------------------------------------------------- */

/* Code points of valid UTF-8 s. */
static size_t
cp_count(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* s cut to at most max code points, "…" marking a cut; s is valid UTF-8. */
static char *
shorten(const char *s, size_t max)
{
	size_t cps = 0, i;

	for (i = 0; s[i] != '\0'; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80 && ++cps > max)
			break;
	if (s[i] == '\0')
		return xstrdup(s);
	/* i is the start of code point max + 1: keep max - 1 and the mark. */
	size_t keep = 0;
	cps = 0;
	for (keep = 0; s[keep] != '\0'; keep++)
		if (((unsigned char)s[keep] & 0xC0) != 0x80 && ++cps > max - 1)
			break;
	char *r = xmalloc(keep + sizeof ELLIPSIS);
	memcpy(r, s, keep);
	memcpy(r + keep, ELLIPSIS, sizeof ELLIPSIS);
	return r;
}

/* One decimal with a point, as the API writes it: 275 -> "27.5". */
static void
tenths_str(int64_t t, char *buf, size_t len)
{
	format_scaled(t, 1, buf, len);
}

static int
nonempty(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* ---- the page ------------------------------------------------------------ */

struct page {
	xmlDocPtr doc;
	int any_suppressed;     /* a suppressed value is shown: add the footnote */
};

/* The visible footnote mark after a suppressed value. */
static void
suppressed_mark(struct page *pg, xmlNodePtr parent)
{
	xmlNodePtr sup = html_el(parent, "sup");
	xmlNodePtr a;

	html_set_attr(sup, "class", "mark");
	a = html_el_text(sup, "a", "*");
	html_set_attr(a, "href", "#note-suppressed");
	html_set_attr(a, "title", DASHBOARD_SUPPRESSED_NOTE);
	pg->any_suppressed = 1;
}

static xmlNodePtr
value_cell_begin(xmlNodePtr tr, const char *figure, const char *group)
{
	xmlNodePtr td = html_el(tr, "td");

	html_set_attr(td, "class", "num");
	html_set_attr(td, "data-figure", figure);
	html_set_attr(td, "data-group", group);
	return td;
}

static void
count_cell(xmlNodePtr tr, const char *figure, const char *group, int64_t v)
{
	html_add_textf(value_cell_begin(tr, figure, group), "%" PRId64, v);
}

static void
figure_cell(struct page *pg, xmlNodePtr tr, enum fig_id id, const char *group,
    const struct fig_values *v)
{
	const struct fig_value *fv = &v->v[id];
	xmlNodePtr td = value_cell_begin(tr, fig_name(id), group);
	char buf[32];

	if (fv->present) {
		tenths_str(fv->tenths, buf, sizeof buf);
		html_add_text(td, buf);
	} else if (fv->suppressed) {
		html_set_attr(td, "class", "num suppressed");
		html_set_attr(td, "data-suppressed", "true");
		html_add_text(td, DASH);
		suppressed_mark(pg, td);
	} else {
		html_set_attr(td, "data-null", "true");
		html_add_text(td, DASH);
	}
}

/* The target of a figure when the selection has one, else NULL. */
static const struct fig_target_value *
target_of(const struct fig_values *v, enum fig_id id)
{
	int m = fig_info[id].metric;

	return m >= 0 && v->targets[m].set ? &v->targets[m] : NULL;
}

static const char *
group_key(const struct dash_group *g)
{
	return g->key != NULL ? g->key : "";
}

static const char *
group_label(const char *dim, const struct dash_group *g)
{
	const char *l = NULL;

	if (nonempty(g->label))
		return g->label;
	if (strcmp(dim, "region") == 0)
		l = dashboard_region_name(g->key);
	else if (strcmp(dim, "family") == 0)
		l = dashboard_family_label(g->key);
	if (l != NULL)
		return l;
	return nonempty(g->key) ? g->key : "(non renseigné)";
}

/* ---- head, title, filters ------------------------------------------------ */

/* The session's way out: a POST form carrying the session's CSRF token
 * (never a GET link: a token must not travel in a URL, and a link could be
 * followed by a prefetcher). */
static void
build_signout(xmlNodePtr parent, const char *csrf_token)
{
	xmlNodePtr form = html_post_form(parent, "/logout", csrf_token);
	xmlNodePtr b;

	html_set_attr(form, "class", "signout");
	b = html_el_text(form, "button", "Se déconnecter");
	html_set_attr(b, "type", "submit");
}

static void
selection_item(struct sbuf *b, const char *name, const char *value, const char *label)
{
	if (!nonempty(value))
		return;
	sbuf_adds(b, b->len > 0 ? " ; " : "");
	sbuf_printf(b, "%s %s", name, label != NULL ? label : value);
}

/* A one-line reminder of the filters, for print (the form is hidden). */
static void
build_selection(xmlNodePtr parent, const struct dash_filters *f)
{
	struct sbuf b = { 0 };
	xmlNodePtr p = html_el(parent, "p");

	html_set_attr(p, "class", "selection");
	selection_item(&b, "année", f->year, NULL);
	selection_item(&b, "région", f->region, dashboard_region_name(f->region));
	selection_item(&b, "famille", f->family, dashboard_family_label(f->family));
	selection_item(&b, "appel", f->call, NULL);
	selection_item(&b, "organisme (SIRET)", f->provider, NULL);
	selection_item(&b, "programme", f->programme, NULL);
	html_add_textf(p, "Sélection : %s.", b.len > 0 ? b.data : "toutes les formations");
	sbuf_free(&b);
}

static xmlNodePtr
field(xmlNodePtr parent, const char *label)
{
	xmlNodePtr l = html_el(parent, "label");

	html_el_text(l, "span", label);
	return l;
}

static void
option(xmlNodePtr sel, const char *value, const char *text, const char *current, int *found)
{
	xmlNodePtr o = html_el_text(sel, "option", text);

	html_set_attr(o, "value", value);
	if (strcmp(value, current != NULL ? current : "") == 0) {
		html_set_attr(o, "selected", "selected");
		*found = 1;
	}
}

/* A <select> of "all" and the given (value, text) options. A current value
 * that is not an option (a year outside the list) is added, so the form
 * always shows the filter in force. */
static void
select_field(xmlNodePtr form, const char *label, const char *name, const char *all,
    const char *const *values, const char *const *texts, size_t n, const char *current)
{
	xmlNodePtr sel = html_el(field(form, label), "select");
	int found = 0;

	html_set_attr(sel, "name", name);
	option(sel, "", all, current, &found);
	for (size_t i = 0; i < n; i++)
		option(sel, values[i], texts != NULL ? texts[i] : values[i], current, &found);
	if (!found && nonempty(current))
		option(sel, current, current, current, &found);
}

static void
text_field(xmlNodePtr form, const char *label, const char *name, const char *value,
    const char *pattern, int maxlen, int numeric)
{
	xmlNodePtr in = html_el(field(form, label), "input");

	html_set_attr(in, "type", "text");
	html_set_attr(in, "name", name);
	html_set_attr(in, "value", value != NULL ? value : "");
	html_set_attr(in, "pattern", pattern);
	html_set_attrf(in, "maxlength", "%d", maxlen);
	html_set_attr(in, "autocomplete", "off");
	if (numeric)
		html_set_attr(in, "inputmode", "numeric");
}

static void
build_filters(xmlNodePtr parent, const struct dash_input *in, const struct dash_filters *f)
{
	const char *rcodes[REGION_COUNT], *fnames[FAMILY_COUNT], *flabels[FAMILY_COUNT];
	xmlNodePtr form = html_el(parent, "form");
	xmlNodePtr fs, b, a;

	html_set_attr(form, "method", "get");
	html_set_attr(form, "action", "/dashboard");
	html_set_attr(form, "class", "filters");
	fs = html_el(form, "fieldset");
	html_el_text(fs, "legend", "Filtres");
	for (int i = 0; i < REGION_COUNT; i++)
		rcodes[i] = region_code(i);
	for (int i = 0; i < FAMILY_COUNT; i++) {
		fnames[i] = family_name((enum family)i);
		flabels[i] = family_labels[i];
	}
	select_field(fs, "Année", "year", "Toutes", in->years, NULL, in->n_years, f->year);
	select_field(fs, "Région", "region", "Toutes", rcodes, region_names, REGION_COUNT, f->region);
	select_field(fs, "Famille de métiers", "family", "Toutes", fnames, flabels, FAMILY_COUNT,
	    f->family);
	text_field(fs, "Appel", "call", f->call, "[A-Z0-9\\-]{1,32}", 32, 0);
	text_field(fs, "Organisme (SIRET)", "provider", f->provider, "[0-9]{14}", 14, 1);
	text_field(fs, "Programme", "programme", f->programme, "[A-Z0-9\\-]{1,32}", 32, 0);
	b = html_el_text(fs, "button", "Filtrer");
	html_set_attr(b, "type", "submit");
	a = html_el_text(fs, "a", "Réinitialiser");
	html_set_attr(a, "href", "/dashboard");
}

static int
ascii_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int
hex_digit(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

/* Append "&" and the query. It is validated by the caller; still, any byte
 * that is not allowed in a URI query (or would end it, '#') is
 * percent-encoded, so the link cannot point elsewhere. The kept set is
 * within the one the HTML serialiser leaves alone in href values. */
static void
append_query(struct sbuf *b, const char *q)
{
	static const char keep[] = "-_.!~*'()@/:=?;&,+";

	if (q == NULL)
		return;
	while (*q == '?' || *q == '&')
		q++;
	if (*q == '\0')
		return;
	sbuf_addc(b, '&');
	for (const unsigned char *p = (const unsigned char *)q; *p != '\0'; p++) {
		if (ascii_alnum(*p) || strchr(keep, *p) != NULL)
			sbuf_addc(b, (char)*p);
		else if (*p == '%' && hex_digit(p[1]) && hex_digit(p[2]))
			sbuf_addc(b, '%');
		else
			sbuf_printf(b, "%%%02X", *p);
	}
}

static void
csv_link(xmlNodePtr ul, const char *text, const char *group_by, const char *query)
{
	struct sbuf href = { 0 };
	xmlNodePtr a = html_el_text(html_el(ul, "li"), "a", text);

	sbuf_adds(&href, CSV_HREF);
	if (group_by != NULL)
		sbuf_printf(&href, "&group_by=%s", group_by);
	append_query(&href, query);
	html_set_attr(a, "href", href.data);
	html_set_attr(a, "download", "");
	sbuf_free(&href);
}

static void
build_downloads(xmlNodePtr parent, const char *query)
{
	xmlNodePtr ul = html_el(parent, "ul");

	html_set_attr(ul, "class", "download");
	csv_link(ul, "Télécharger en CSV", NULL, query);
	csv_link(ul, "CSV par région", "region", query);
	csv_link(ul, "CSV par famille", "family", query);
	csv_link(ul, "CSV par année", "year", query);
}

/* ---- headline figures ---------------------------------------------------- */

static void
th_col(xmlNodePtr tr, const char *text)
{
	html_set_attr(html_el_text(tr, "th", text), "scope", "col");
}

static void
th_row(xmlNodePtr tr, const char *text)
{
	html_set_attr(html_el_text(tr, "th", text), "scope", "row");
}

static void
build_headline(struct page *pg, xmlNodePtr content, const struct fig_values *v)
{
	xmlNodePtr sec = html_el(content, "section");
	xmlNodePtr table, tr, tbody;

	html_set_attr(sec, "id", "headline");
	html_el_text(sec, "h2", "Chiffres clés");
	table = html_el(sec, "table");
	html_set_attr(table, "class", "figures");
	tr = html_el(html_el(table, "thead"), "tr");
	th_col(tr, "Indicateur");
	th_col(tr, "Valeur");
	th_col(tr, "Objectif (%)");
	th_col(tr, "Statut");
	tbody = html_el(table, "tbody");
	for (size_t i = 0; i < ARRAY_LEN(headline_rows); i++) {
		int r = headline_rows[i];

		tr = html_el(tbody, "tr");
		if (r < 0) {
			static const char *const names[] = { "learners", "cohorts", "plannedSeats" };
			static const char *const labels[] = { "Apprenants", "Cohortes", "Places prévues" };
			const int64_t counts[] = { v->learners, v->cohorts, v->planned_seats };
			int k = -r - 1;

			th_row(tr, labels[k]);
			count_cell(tr, names[k], "total", counts[k]);
			html_el(tr, "td");
			html_el(tr, "td");
			continue;
		}
		th_row(tr, fig_info[r].label);
		figure_cell(pg, tr, (enum fig_id)r, "total", v);
		const struct fig_target_value *tv = target_of(v, (enum fig_id)r);
		if (tv == NULL) {
			html_el(tr, "td");
			html_el(tr, "td");
			continue;
		}
		const char *metric = fig_metric_name((enum fig_metric)fig_info[r].metric);
		const char *st = fig_status_name(tv->status);
		char buf[32];
		xmlNodePtr td = html_el(tr, "td");

		tenths_str(tv->tenths, buf, sizeof buf);
		html_set_attr(td, "class", "num");
		html_set_attr(td, "data-target", metric);
		html_set_attr(td, "data-group", "total");
		html_add_text(td, buf);
		td = html_el_text(tr, "td", status_label(tv->status));
		html_set_attr(td, "data-status", st != NULL ? st : "");
		html_set_attr(td, "data-target", metric);
		html_set_attr(td, "data-group", "total");
		if (st != NULL)
			html_set_attrf(td, "class", "status-%s", st);
	}
}

/* ---- charts -------------------------------------------------------------- */

struct chart {
	xmlNodePtr svg;
	char id[96];
	int left, top, plot_w, plot_h;
	int64_t vmax;          /* the value at the top of the plot, > 0 */
	int percent;           /* values are tenths of a percent */
};

/* y of value v (clamped to [0, vmax]), rounded to the pixel. */
static int
chart_y(const struct chart *c, int64_t v)
{
	if (v < 0)
		v = 0;
	if (v > c->vmax)
		v = c->vmax;
	return c->top + c->plot_h - (int)((v * c->plot_h + c->vmax / 2) / c->vmax);
}

/* The top of a percentage axis: 100 %, or more in steps of 20 when a value
 * or the target is higher (fill rates can pass 100 %). */
static int64_t
percent_max(const struct dash_group *g, size_t n, enum fig_id id,
    const struct fig_target_value *tv)
{
	int64_t m = 1000;

	for (size_t i = 0; i < n; i++)
		if (g[i].v.v[id].present && g[i].v.v[id].tenths > m)
			m = g[i].v.v[id].tenths;
	if (tv != NULL && tv->tenths > m)
		m = tv->tenths;
	return (m + 199) / 200 * 200;
}

/* 10, 20, 50, 100, 200, ... : the first at or above m. */
static int64_t
nice_max(int64_t m)
{
	int64_t p = 10;

	for (;;) {
		if (m <= p)
			return p;
		if (m <= 2 * p)
			return 2 * p;
		if (m <= 5 * p)
			return 5 * p;
		if (p > INT64_MAX / 100)
			return m;
		p *= 10;
	}
}

static xmlNodePtr
svg_el(xmlNodePtr parent, const char *name, const char *cls)
{
	xmlNodePtr n = html_el(parent, name);

	if (cls != NULL)
		html_set_attr(n, "class", cls);
	return n;
}

static xmlNodePtr
svg_text(xmlNodePtr parent, const char *cls, int x, int y, const char *anchor, const char *s)
{
	xmlNodePtr t = svg_el(parent, "text", cls);

	html_set_attrf(t, "x", "%d", x);
	html_set_attrf(t, "y", "%d", y);
	if (anchor != NULL)
		html_set_attr(t, "text-anchor", anchor);
	html_add_text(t, s);
	return t;
}

static void
svg_line(xmlNodePtr parent, const char *cls, int x1, int y1, int x2, int y2, const char *stroke)
{
	xmlNodePtr l = svg_el(parent, "line", cls);

	html_set_attrf(l, "x1", "%d", x1);
	html_set_attrf(l, "y1", "%d", y1);
	html_set_attrf(l, "x2", "%d", x2);
	html_set_attrf(l, "y2", "%d", y2);
	html_set_attr(l, "stroke", stroke);
}

/* <svg> with its accessible <title>, the hatch pattern of suppressed
 * values, the grid, the y-axis tick labels and the baseline. */
static void
chart_begin(struct chart *c, xmlNodePtr parent, const char *title, int width, int height)
{
	xmlNodePtr svg = html_must(xmlNewChild(parent, NULL, BAD_CAST "svg", NULL));
	xmlNsPtr ns = html_must(xmlNewNs(svg, BAD_CAST SVG_NS, NULL));
	xmlNodePtr t, defs, pat, r;
	char tid[128];

	xmlSetNs(svg, ns);
	c->svg = svg;
	html_set_attr(svg, "id", c->id);
	html_set_attr(svg, "class", "chart");
	html_set_attr(svg, "role", "img");
	snprintf(tid, sizeof tid, "%s-title", c->id);
	html_set_attr(svg, "aria-labelledby", tid);
	html_set_attrf(svg, "width", "%d", width);
	html_set_attrf(svg, "height", "%d", height);
	html_set_attrf(svg, "viewBox", "0 0 %d %d", width, height);
	html_set_attr(svg, "font-family", "sans-serif");
	html_set_attr(svg, "font-size", "11");
	t = html_el_text(svg, "title", title);
	html_set_attr(t, "id", tid);

	defs = html_el(svg, "defs");
	pat = html_el(defs, "pattern");
	html_set_attrf(pat, "id", "%s-hatch", c->id);
	html_set_attr(pat, "width", "6");
	html_set_attr(pat, "height", "6");
	html_set_attr(pat, "patternUnits", "userSpaceOnUse");
	html_set_attr(pat, "patternTransform", "rotate(45)");
	r = html_el(pat, "rect");
	html_set_attr(r, "width", "6");
	html_set_attr(r, "height", "6");
	html_set_attr(r, "fill", "#ffffff");
	svg_line(pat, NULL, 0, 0, 0, 6, COLOR_HATCH);
	html_set_attr(pat->last, "stroke-width", "2");

	xmlNodePtr axis = svg_el(svg, "g", "axis");
	for (int k = 0; k <= 5; k++) {
		int64_t v = c->vmax * k / 5;
		int y = chart_y(c, v);
		char buf[32];

		if (k > 0)
			svg_line(axis, "grid", c->left, y, c->left + c->plot_w, y, COLOR_GRID);
		if (c->percent)
			snprintf(buf, sizeof buf, "%" PRId64, v / 10);
		else
			snprintf(buf, sizeof buf, "%" PRId64, v);
		svg_text(axis, "tick", c->left - 6, y + 4, "end", buf);
	}
	svg_line(axis, "baseline", c->left, c->top + c->plot_h, c->left + c->plot_w,
	    c->top + c->plot_h, COLOR_AXIS);
	svg_line(axis, "y-axis", c->left, c->top, c->left, c->top + c->plot_h, COLOR_AXIS);
	if (c->percent)
		svg_text(axis, "unit", c->left - 6, c->top - 12, "end", "%");
}

/* The selection's target as a dashed horizontal line, labelled at the
 * right of the plot. */
static void
chart_target(struct chart *c, const struct fig_target_value *tv)
{
	char buf[32], txt[64];
	int y = chart_y(c, tv->tenths);
	xmlNodePtr g = svg_el(c->svg, "g", "target");

	tenths_str(tv->tenths, buf, sizeof buf);
	svg_line(g, "target", c->left, y, c->left + c->plot_w, y, COLOR_TARGET);
	html_set_attr(g->last, "stroke-width", "2");
	html_set_attr(g->last, "stroke-dasharray", "6 4");
	snprintf(txt, sizeof txt, "Objectif : %s %%", buf);
	html_el_text(g->last, "title", txt);
	snprintf(txt, sizeof txt, "objectif %s %%", buf);
	html_set_attr(svg_text(g, "target-label", c->left + c->plot_w + 6, y + 4, "start", txt),
	    "fill", COLOR_TARGET);
}

/* A hatched full-height column: the value exists but is not published. */
static void
chart_suppressed_column(struct chart *c, xmlNodePtr parent, int x, int w, const char *tip)
{
	xmlNodePtr r = svg_el(parent, "rect", "bar suppressed");

	html_set_attrf(r, "x", "%d", x);
	html_set_attrf(r, "y", "%d", c->top);
	html_set_attrf(r, "width", "%d", w);
	html_set_attrf(r, "height", "%d", c->plot_h);
	html_set_attrf(r, "fill", "url(#%s-hatch)", c->id);
	html_set_attr(r, "stroke", COLOR_HATCH);
	html_set_attr(r, "stroke-dasharray", "3 2");
	html_el_text(r, "title", tip);
	svg_text(parent, "value suppressed", x + w / 2, c->top - 4, "middle", "suppr.");
}

static void
tip_text(char *buf, size_t len, const char *label, const struct fig_value *fv, const char *unit)
{
	char v[32];

	if (fv->present) {
		tenths_str(fv->tenths, v, sizeof v);
		snprintf(buf, len, "%s : %s%s", label, v, unit);
	} else if (fv->suppressed) {
		snprintf(buf, len, "%s : non publié (%s)", label, DASHBOARD_SUPPRESSED_NOTE);
	} else {
		snprintf(buf, len, "%s : non disponible", label);
	}
}

/* A plain table of the chart's numbers: one row per group and a total
 * row; fig < 0 shows the learners only. */
static void
group_table(struct page *pg, xmlNodePtr parent, const char *dim, const char *dim_label,
    const struct dash_group *g, size_t n, int fig, const struct fig_values *total)
{
	xmlNodePtr table = html_el(parent, "table");
	xmlNodePtr tr, tbody;

	html_set_attr(table, "class", "data");
	html_set_attr(table, "data-by", dim);
	if (fig >= 0)
		html_set_attr(table, "data-figure", fig_name((enum fig_id)fig));
	tr = html_el(html_el(table, "thead"), "tr");
	th_col(tr, dim_label);
	th_col(tr, "Apprenants");
	if (fig >= 0)
		th_col(tr, fig_info[fig].label);
	tbody = html_el(table, "tbody");
	for (size_t i = 0; i <= n; i++) {
		const struct fig_values *v = i < n ? &g[i].v : total;
		const char *key = i < n ? group_key(&g[i]) : "total";

		tr = html_el(tbody, "tr");
		if (i == n)
			html_set_attr(tr, "class", "total");
		th_row(tr, i < n ? group_label(dim, &g[i]) : "Total");
		count_cell(tr, "learners", key, v->learners);
		if (fig >= 0)
			figure_cell(pg, tr, (enum fig_id)fig, key, v);
	}
}

static xmlNodePtr
chart_figure(xmlNodePtr parent, const char *caption)
{
	xmlNodePtr fig = html_el(parent, "figure");

	html_el_text(fig, "figcaption", caption);
	return fig;
}

/* Vertical bars of one percentage figure per group, the target as a
 * horizontal dashed line, then the table. */
static void
bar_chart(struct page *pg, xmlNodePtr parent, const char *dim, const char *dim_word,
    const char *dim_label, const struct dash_group *g, size_t n, enum fig_id id,
    const struct fig_values *total)
{
	enum { TOP = 30, PLOT_H = 220, BOTTOM = 150, SLOT = 44, BAR = 30, RIGHT = 16,
	       RIGHT_TARGET = 110, LABEL_MAX = 28, CP_WIDTH = 5 /* px across, at -40 deg */ };
	const struct fig_target_value *tv = target_of(total, id);
	struct chart c = { 0 };
	char title[256];
	xmlNodePtr fig;
	int left = 44;

	/* The axis labels slant down to the left from their bar: widen the
	 * left margin so that the first ones are not cut off. */
	for (size_t i = 0; i < n && i < LABEL_MAX * CP_WIDTH / SLOT + 1; i++) {
		char *label = html_clean_text(group_label(dim, &g[i]));
		size_t cps = cp_count(label);
		int need = (int)(cps < LABEL_MAX ? cps : LABEL_MAX) * CP_WIDTH + 4 - SLOT / 2 -
		    (int)i * SLOT;

		if (need > left)
			left = need;
		free(label);
	}

	snprintf(title, sizeof title, "%s par %s (%%)", fig_info[id].short_name, dim_word);
	fig = chart_figure(parent, title);
	html_set_attrf(fig, "id", "figure-%s-%s", fig_name(id), dim);
	snprintf(c.id, sizeof c.id, "chart-%s-%s", fig_name(id), dim);
	c.left = left;
	c.top = TOP;
	c.plot_h = PLOT_H;
	c.plot_w = (int)n * SLOT;
	c.vmax = percent_max(g, n, id, tv);
	c.percent = 1;
	chart_begin(&c, fig, title, left + c.plot_w + (tv != NULL ? RIGHT_TARGET : RIGHT),
	    TOP + PLOT_H + BOTTOM);

	xmlNodePtr bars = svg_el(c.svg, "g", "bars");
	for (size_t i = 0; i < n; i++) {
		const struct fig_value *fv = &g[i].v.v[id];
		char *label = html_clean_text(group_label(dim, &g[i]));
		char *axis_label = shorten(label, LABEL_MAX);
		int x = left + (int)i * SLOT + (SLOT - BAR) / 2, cx = x + BAR / 2;
		int ly = TOP + PLOT_H + 14;
		char tip[512], v[32];

		tip_text(tip, sizeof tip, label, fv, " %");
		if (fv->present || !fv->suppressed) {
			int y = fv->present ? chart_y(&c, fv->tenths) : TOP + PLOT_H;
			xmlNodePtr r = svg_el(bars, "rect", fv->present ? "bar" : "bar null");

			html_set_attrf(r, "x", "%d", x);
			html_set_attrf(r, "y", "%d", y);
			html_set_attrf(r, "width", "%d", BAR);
			html_set_attrf(r, "height", "%d", TOP + PLOT_H - y);
			html_set_attr(r, "fill", COLOR_BAR);
			html_el_text(r, "title", tip);
			if (fv->present)
				tenths_str(fv->tenths, v, sizeof v);
			else
				snprintf(v, sizeof v, "%s", DASH);
			svg_text(bars, "value", cx, y - 4, "middle", v);
		} else {
			chart_suppressed_column(&c, bars, x, BAR, tip);
		}
		xmlNodePtr t = svg_text(bars, "label", cx, ly, "end", axis_label);
		html_set_attrf(t, "transform", "rotate(-40 %d %d)", cx, ly);
		free(axis_label);
		free(label);
	}
	if (tv != NULL)
		chart_target(&c, tv);
	group_table(pg, fig, dim, dim_label, g, n, (int)id, total);
}

/* One point per year joined by a polyline (learners, or a percentage
 * figure with gaps where it is not published), then the table. */
static void
year_chart(struct page *pg, xmlNodePtr parent, const struct dash_group *g, size_t n, int id,
    const struct fig_values *total)
{
	enum { LEFT = 64, TOP = 30, PLOT_H = 200, BOTTOM = 56, SLOT = 72, RIGHT = 16,
	       RIGHT_TARGET = 110 };
	const struct fig_target_value *tv = id >= 0 ? target_of(total, (enum fig_id)id) : NULL;
	const char *name = id >= 0 ? fig_name((enum fig_id)id) : "learners";
	struct chart c = { 0 };
	struct sbuf pts = { 0 };
	char title[256];
	xmlNodePtr fig, series, t;
	int npts = 0;

	if (id >= 0)
		snprintf(title, sizeof title, "%s par année (%%)", fig_info[id].short_name);
	else
		snprintf(title, sizeof title, "Apprenants par année");
	fig = chart_figure(parent, title);
	html_set_attrf(fig, "id", "figure-%s-year", name);
	snprintf(c.id, sizeof c.id, "chart-%s-year", name);
	c.left = LEFT;
	c.top = TOP;
	c.plot_h = PLOT_H;
	c.plot_w = (int)n * SLOT;
	c.percent = id >= 0;
	if (id >= 0) {
		c.vmax = percent_max(g, n, (enum fig_id)id, tv);
	} else {
		int64_t m = 0;
		for (size_t i = 0; i < n; i++)
			if (g[i].v.learners > m)
				m = g[i].v.learners;
		c.vmax = nice_max(m);
	}
	int width = LEFT + c.plot_w + (tv != NULL ? RIGHT_TARGET : RIGHT);
	chart_begin(&c, fig, title, width, TOP + PLOT_H + BOTTOM);
	t = svg_text(c.svg, "axis-title", c.left + c.plot_w / 2, TOP + PLOT_H + 44, "middle",
	    "Année");
	t = svg_text(c.svg, "axis-title", 16, TOP + PLOT_H / 2, "middle",
	    id >= 0 ? fig_info[id].label : "Apprenants");
	html_set_attrf(t, "transform", "rotate(-90 16 %d)", TOP + PLOT_H / 2);

	series = svg_el(c.svg, "g", "series");
	/* Polylines first, so points and labels are drawn over them. */
	xmlNodePtr lines = svg_el(series, "g", "lines");
	for (size_t i = 0; i <= n; i++) {
		int present = 0;
		int64_t v = 0;

		if (i < n && id < 0) {
			present = 1, v = g[i].v.learners;
		} else if (i < n) {
			present = g[i].v.v[id].present, v = g[i].v.v[id].tenths;
		}
		if (present) {
			sbuf_printf(&pts, "%s%d,%d", npts > 0 ? " " : "",
			    LEFT + SLOT / 2 + (int)i * SLOT, chart_y(&c, v));
			npts++;
			continue;
		}
		if (npts >= 2) {
			xmlNodePtr pl = svg_el(lines, "polyline", "line");
			html_set_attr(pl, "points", pts.data);
			html_set_attr(pl, "fill", "none");
			html_set_attr(pl, "stroke", COLOR_BAR);
			html_set_attr(pl, "stroke-width", "2");
		}
		sbuf_reset(&pts);
		npts = 0;
	}
	sbuf_free(&pts);

	for (size_t i = 0; i < n; i++) {
		char *label = html_clean_text(group_label("year", &g[i]));
		char *axis_label = shorten(label, 10);
		int cx = LEFT + SLOT / 2 + (int)i * SLOT;
		char tip[512], v[32];

		svg_text(series, "label", cx, TOP + PLOT_H + 18, "middle", axis_label);
		if (id < 0) {
			int cy = chart_y(&c, g[i].v.learners);
			xmlNodePtr p = svg_el(series, "circle", "point");

			snprintf(v, sizeof v, "%" PRId64, g[i].v.learners);
			snprintf(tip, sizeof tip, "%s : %s apprenants", label, v);
			html_set_attrf(p, "cx", "%d", cx);
			html_set_attrf(p, "cy", "%d", cy);
			html_set_attr(p, "r", "4");
			html_set_attr(p, "fill", COLOR_BAR);
			html_el_text(p, "title", tip);
			svg_text(series, "value", cx, cy - 8, "middle", v);
		} else {
			const struct fig_value *fv = &g[i].v.v[id];

			tip_text(tip, sizeof tip, label, fv, " %");
			if (fv->present) {
				int cy = chart_y(&c, fv->tenths);
				xmlNodePtr p = svg_el(series, "circle", "point");

				tenths_str(fv->tenths, v, sizeof v);
				html_set_attrf(p, "cx", "%d", cx);
				html_set_attrf(p, "cy", "%d", cy);
				html_set_attr(p, "r", "4");
				html_set_attr(p, "fill", COLOR_BAR);
				html_el_text(p, "title", tip);
				svg_text(series, "value", cx, cy - 8, "middle", v);
			} else if (fv->suppressed) {
				chart_suppressed_column(&c, series, cx - 10, 20, tip);
			} else {
				svg_text(series, "value", cx, TOP + PLOT_H - 4, "middle", DASH);
			}
		}
		free(axis_label);
		free(label);
	}
	if (tv != NULL)
		chart_target(&c, tv);
	group_table(pg, fig, "year", "Année", g, n, id, total);
}

static void
no_data(xmlNodePtr sec)
{
	html_set_attr(html_el_text(sec, "p", "Aucune donnée pour cette sélection."), "class", "empty");
}

static void
build_breakdown(struct page *pg, xmlNodePtr content, const char *dim, const char *heading,
    const char *dim_word, const char *dim_label, const struct dash_group *g, size_t n,
    const struct fig_values *total)
{
	xmlNodePtr sec = html_el(content, "section");

	html_set_attrf(sec, "id", "by-%s", dim);
	html_el_text(sec, "h2", heading);
	if (n == 0) {
		no_data(sec);
		return;
	}
	bar_chart(pg, sec, dim, dim_word, dim_label, g, n, FIG_WOMEN_SHARE, total);
	bar_chart(pg, sec, dim, dim_word, dim_label, g, n, FIG_POSITIVE_OUTCOME_RATE, total);
}

static void
build_years(struct page *pg, xmlNodePtr content, const struct dash_group *g, size_t n,
    const struct fig_values *total)
{
	xmlNodePtr sec = html_el(content, "section");

	html_set_attr(sec, "id", "by-year");
	html_el_text(sec, "h2", "Par année");
	if (n == 0) {
		no_data(sec);
		return;
	}
	year_chart(pg, sec, g, n, -1, total);
	year_chart(pg, sec, g, n, FIG_WOMEN_SHARE, total);
}

static void
build_footer(struct page *pg, xmlNodePtr body)
{
	xmlNodePtr footer = html_el(body, "footer");
	xmlNodePtr p;

	if (pg->any_suppressed) {
		p = html_el(footer, "p");
		html_set_attr(p, "id", "note-suppressed");
		html_set_attr(p, "class", "note");
		html_set_attr(html_el_text(p, "span", "*"), "class", "mark");
		html_add_textf(p, " %s.", DASHBOARD_SUPPRESSED_NOTE);
	}
	p = html_el_text(footer, "p",
	    "Pourcentages arrondis à une décimale (séparateur décimal : point), comme dans "
	    "l'API et le CSV. Statut « proche » : à moins de 5 points sous l'objectif. "
	    "Objectifs : engagements du programme, cibles de l'appel, sinon objectifs "
	    "nationaux (femmes 30 %, sorties positives 70 %).");
	html_set_attr(p, "class", "note");
}

static int
groups_ok(const struct dash_group *g, size_t n)
{
	return n <= DASHBOARD_MAX_GROUPS && (n == 0 || g != NULL);
}

int
dashboard_render(const struct dash_input *in, struct sbuf *out)
{
	static const struct dash_filters no_filters;
	struct page pg = { 0 };
	xmlNodePtr body, header, content;
	const struct dash_filters *f;
	const char *title;
	int rc;

	if (in == NULL || out == NULL || !groups_ok(in->by_region, in->n_region) ||
	    !groups_ok(in->by_family, in->n_family) || !groups_ok(in->by_year, in->n_year) ||
	    (in->n_years > 0 && in->years == NULL))
		return -1;
	for (size_t i = 0; i < in->n_years; i++)
		if (in->years[i] == NULL)
			return -1;
	f = in->filters != NULL ? in->filters : &no_filters;
	title = nonempty(in->title) ? in->title : "Résultats des formations";

	pg.doc = html_page_new("fr", title, page_css, &body);
	header = html_el(body, "header");
	if (nonempty(in->csrf_token))
		build_signout(header, in->csrf_token);
	html_el_text(header, "h1", title);
	build_selection(header, f);
	build_filters(body, in, f);
	build_downloads(body, in->query);

	content = html_el(body, "main");
	build_headline(&pg, content, &in->total);
	build_breakdown(&pg, content, "region", "Par région", "région", "Région",
	    in->by_region, in->n_region, &in->total);
	build_breakdown(&pg, content, "family", "Par famille de métiers", "famille de métiers",
	    "Famille de métiers", in->by_family, in->n_family, &in->total);
	build_years(&pg, content, in->by_year, in->n_year, &in->total);
	build_footer(&pg, body);

	rc = html_serialise(pg.doc, out);
	xmlFreeDoc(pg.doc);
	return rc;
}
