/* Unit tests of the server-rendered pages: the dashboard (dashboard.h) and
 * the login page (login_page.h). The dashboard is parsed
 * back with libxml2's HTML parser and checked with XPath, as a browser test
 * would read it; each inline <svg> is also parsed as XML in the SVG
 * namespace. Hostile strings must come back as the same text, never as
 * markup. Expected coordinates are worked out in the comments. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xpath.h>

#include "dashboard.h"
#include "figures.h"
#include "login_page.h"
#include "unit.h"
#include "util.h"

#define SUPP (-1)   /* a suppressed figure */
#define NUL (-2)    /* a null figure that is not suppressed */
#define SVG_NS "http://www.w3.org/2000/svg"
#define HOSTILE_TITLE "<script>alert(1)</script> \"onmouseover=alert(2) &amp; \xE2\x80\xA8 fin"
#define HOSTILE_VALUE "\"onmouseover=alert(3)"

/* ---- fixtures ------------------------------------------------------------ */

static void
set_fig(struct fig_value *f, int64_t t)
{
	f->present = t >= 0;
	f->suppressed = t == SUPP;
	f->tenths = t >= 0 ? t : 0;
}

/* Figures with the given learners, womenShare and positiveOutcomeRate (in
 * tenths, or SUPP / NUL); the others are 100 + their id. */
static struct fig_values
fv(int64_t learners, int64_t women, int64_t positive)
{
	struct fig_values v;

	memset(&v, 0, sizeof v);
	v.learners = learners;
	v.cohorts = 2;
	v.planned_seats = 40;
	for (int i = 0; i < FIG_ID_COUNT; i++)
		set_fig(&v.v[i], 100 + i);
	set_fig(&v.v[FIG_WOMEN_SHARE], women);
	set_fig(&v.v[FIG_POSITIVE_OUTCOME_RATE], positive);
	return v;
}

static void
set_target(struct fig_values *v, enum fig_metric m, int tenths, enum fig_status s)
{
	v->targets[m].set = 1;
	v->targets[m].tenths = tenths;
	v->targets[m].status = s;
}

struct fixture {
	struct dash_group region[3], family[2], year[3];
	struct dash_filters filters;
	const char *years[3];
	struct dash_input in;
};

/* Regions 84 (27.5 %, 70.5 %), 53 (9 learners: suppressed), 11 (0.0 %,
 * 100.0 %); families 0.5 % and 33.3 %; years 2023, 2024 (suppressed
 * share), 2025. Targets: women 30 (near), positive-outcome 70 (met). */
static void
fixture(struct fixture *f)
{
	memset(f, 0, sizeof *f);
	f->region[0] = (struct dash_group){ "84", NULL, fv(40, 275, 705) };
	f->region[1] = (struct dash_group){ "53", NULL, fv(9, SUPP, SUPP) };
	f->region[2] = (struct dash_group){ "11", "Île-de-France", fv(120, 0, 1000) };
	f->family[0] = (struct dash_group){ "development", NULL, fv(200, 5, 650) };
	f->family[1] = (struct dash_group){ "data-ai-iot", NULL, fv(30, 333, SUPP) };
	f->year[0] = (struct dash_group){ "2023", NULL, fv(500, 250, 700) };
	f->year[1] = (struct dash_group){ "2024", NULL, fv(9, SUPP, SUPP) };
	f->year[2] = (struct dash_group){ "2025", NULL, fv(725, 300, 710) };
	f->years[0] = "2023";
	f->years[1] = "2024";
	f->years[2] = "2025";
	f->filters.year = "2024";
	f->filters.region = "84";
	f->filters.family = "design";
	f->filters.call = "AAP-2024";
	f->filters.provider = "35600000000048";
	f->in.title = "Résultats des formations";
	f->in.query = "year=2024&region=84";
	f->in.filters = &f->filters;
	f->in.total = fv(1234, 275, 700);
	f->in.total.v[FIG_FILL_RATE].present = 0;  /* no planned seats: null, not suppressed */
	set_target(&f->in.total, FIG_METRIC_WOMEN, 300, FIG_STATUS_NEAR);
	set_target(&f->in.total, FIG_METRIC_POSITIVE_OUTCOME, 700, FIG_STATUS_MET);
	f->in.by_region = f->region;
	f->in.n_region = 3;
	f->in.by_family = f->family;
	f->in.n_family = 2;
	f->in.by_year = f->year;
	f->in.n_year = 3;
	f->in.years = f->years;
	f->in.n_years = 3;
}

/* ---- parsing back -------------------------------------------------------- */

struct errors {
	int unexpected;
	int unknown_tags;
};

/* libxml2's HTML parser knows HTML 4 only: unknown-tag errors for the SVG
 * and HTML5 sectioning elements are expected; anything else is not. */
static void
on_error(void *ctx, xmlErrorPtr e)
{
	static const char *const known[] = {
		"svg", "defs", "pattern", "rect", "line", "text", "g", "polyline", "circle",
		"main", "section", "header", "footer", "figure", "figcaption",
	};
	struct errors *errs = ctx;

	if (e->code == XML_HTML_UNKNOWN_TAG && e->str1 != NULL)
		for (size_t i = 0; i < ARRAY_LEN(known); i++)
			if (strcmp(e->str1, known[i]) == 0) {
				errs->unknown_tags++;
				return;
			}
	errs->unexpected++;
	fprintf(stderr, "  parse error %d line %d: %s", e->code, e->line,
	    e->message != NULL ? e->message : "?\n");
}

static htmlDocPtr
parse_html(const struct sbuf *b, struct errors *errs)
{
	htmlDocPtr d;

	memset(errs, 0, sizeof *errs);
	xmlSetStructuredErrorFunc(errs, on_error);
	d = htmlReadMemory(b->data, (int)b->len, "dashboard.html", "UTF-8", HTML_PARSE_NONET);
	xmlSetStructuredErrorFunc(NULL, NULL);
	return d;
}

/* Render f and parse the page; CHECKs that both work without error. */
static htmlDocPtr
render_parse(const struct dash_input *in, struct sbuf *out)
{
	struct errors errs;
	htmlDocPtr d;

	sbuf_reset(out);
	CHECK_EQ_INT(dashboard_render(in, out), 0);
	CHECK(out->data != NULL && utf8_valid(out->data, out->len));
	d = parse_html(out, &errs);
	CHECK(d != NULL);
	CHECK_EQ_INT(errs.unexpected, 0);
	return d;
}

static int
xp_count(xmlDocPtr d, const char *expr)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(d);
	xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	int n = -1;

	if (o != NULL && o->type == XPATH_NODESET)
		n = o->nodesetval != NULL ? o->nodesetval->nodeNr : 0;
	if (n < 0)
		fprintf(stderr, "  bad XPath %s\n", expr);
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return n;
}

/* string(expr), in one of a few static buffers (enough for one CHECK). */
static const char *xp_str(xmlDocPtr d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *
xp_str(xmlDocPtr d, const char *fmt, ...)
{
	static char bufs[4][4096];
	static int next;
	char expr[1024];
	char *buf = bufs[next++ % 4];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(expr, sizeof expr, fmt, ap);
	va_end(ap);
	xmlXPathContextPtr ctx = xmlXPathNewContext(d);
	xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	xmlChar *s = o != NULL ? xmlXPathCastToString(o) : NULL;

	snprintf(buf, sizeof bufs[0], "%s", s != NULL ? (const char *)s : "(bad XPath)");
	xmlFree(s);
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return buf;
}

static int xp_countf(xmlDocPtr d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int
xp_countf(xmlDocPtr d, const char *fmt, ...)
{
	char expr[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(expr, sizeof expr, fmt, ap);
	va_end(ap);
	return xp_count(d, expr);
}

/* The value cell of a figure and group. */
static const char *
cell(xmlDocPtr d, const char *figure, const char *group)
{
	return xp_str(d, "string((//td[@data-figure='%s'][@data-group='%s'])[1])", figure, group);
}

#define BAR_RECTS "//svg[@id='%s']//rect[contains(concat(' ', @class, ' '), ' bar ')]"

/* ---- cases --------------------------------------------------------------- */

static void
names(void)
{
	CHECK_EQ_STR(dashboard_region_name("84"), "Auvergne-Rhône-Alpes");
	CHECK_EQ_STR(dashboard_region_name("01"), "Guadeloupe");
	CHECK_EQ_STR(dashboard_region_name("06"), "Mayotte");
	CHECK_EQ_STR(dashboard_region_name("93"), "Provence-Alpes-Côte d'Azur");
	CHECK_EQ_STR(dashboard_region_name("94"), "Corse");
	CHECK(dashboard_region_name("05") == NULL);
	CHECK(dashboard_region_name("1") == NULL);
	CHECK(dashboard_region_name(NULL) == NULL);
	CHECK_EQ_STR(dashboard_family_label("development"), "Développement");
	CHECK_EQ_STR(dashboard_family_label("data-ai-iot"), "Data, IA et objets connectés");
	CHECK_EQ_STR(dashboard_family_label("management"), "Management et stratégie");
	CHECK(dashboard_family_label("Development") == NULL);
	CHECK(dashboard_family_label(NULL) == NULL);
}

/* A self-contained HTML5 document: doctype first, French, one <style>, no
 * script, no external reference at all. */
static void
document_shape(void)
{
	struct fixture f;
	struct sbuf out = { 0 };
	htmlDocPtr d;

	fixture(&f);
	d = render_parse(&f.in, &out);
	CHECK(strncmp(out.data, "<!DOCTYPE html>\n<html lang=\"fr\">", 32) == 0);
	CHECK(strstr(out.data, "<meta charset=\"utf-8\">") != NULL);
	CHECK(strcasestr(out.data, "<script") == NULL);
	CHECK(strcasestr(out.data, "<link") == NULL);
	CHECK(strcasestr(out.data, "src=") == NULL);
	/* The only absolute URL is the SVG namespace name. */
	for (const char *p = out.data; (p = strstr(p, "http")) != NULL; p++)
		CHECK(strncmp(p, SVG_NS "\"", strlen(SVG_NS) + 1) == 0);
	CHECK_EQ_INT(xp_count(d, "/html[@lang='fr']"), 1);
	CHECK_EQ_INT(xp_count(d, "//style"), 1);
	CHECK_EQ_INT(xp_count(d, "//script"), 0);
	CHECK_EQ_INT(xp_count(d, "//@*[starts-with(name(), 'on')]"), 0);
	CHECK_EQ_STR(xp_str(d, "string(/html/head/title)"), "Résultats des formations");
	CHECK_EQ_STR(xp_str(d, "string(//h1)"), "Résultats des formations");
	CHECK_EQ_INT(xp_count(d, "//svg"), 6);
	CHECK_EQ_STR(xp_str(d, "string(//p[@class='selection'])"),
	    "Sélection : année 2024 ; région Auvergne-Rhône-Alpes ; famille "
	    "Design, interfaces et graphisme ; appel AAP-2024 ; organisme (SIRET) "
	    "35600000000048.");
	xmlFreeDoc(d);
	sbuf_free(&out);
}

/* Hostile strings in the title, a label, a key, the filters and the query
 * come back as the same text: no element, no attribute is created. */
static void
hostile_strings(void)
{
	struct fixture f;
	struct sbuf out = { 0 };
	htmlDocPtr d;

	fixture(&f);
	f.in.title = HOSTILE_TITLE;
	f.region[2].key = HOSTILE_VALUE;
	f.region[2].label = "<script>alert(4)</script>&amp;\xE2\x80\xA8";
	f.family[0].label = "<img src=x onerror=alert(5)>";
	f.filters.call = HOSTILE_VALUE;
	f.filters.programme = "'><script>alert(6)</script>";
	f.filters.year = "</option><script>alert(7)</script>";
	f.in.query = "year=2024&x=\"><script>alert(8)</script>";
	d = render_parse(&f.in, &out);

	CHECK(strcasestr(out.data, "<script") == NULL);
	CHECK(strcasestr(out.data, "<img") == NULL);
	CHECK(strstr(out.data, "&lt;script&gt;alert(1)&lt;/script&gt;") != NULL);
	CHECK(strstr(out.data, "&amp;amp;") != NULL);
	CHECK_EQ_INT(xp_count(d, "//script"), 0);
	CHECK_EQ_INT(xp_count(d, "//img"), 0);
	CHECK_EQ_INT(xp_count(d, "//@onmouseover"), 0);
	CHECK_EQ_INT(xp_count(d, "//@onerror"), 0);
	CHECK_EQ_INT(xp_count(d, "//@*[starts-with(name(), 'on')]"), 0);
	/* Text round-trips exactly, U+2028 and "&amp;" included. */
	CHECK_EQ_STR(xp_str(d, "string(/html/head/title)"), HOSTILE_TITLE);
	CHECK_EQ_STR(xp_str(d, "string(//h1)"), HOSTILE_TITLE);
	CHECK_EQ_STR(xp_str(d, "string(//table[@data-by='region'][1]//tbody/tr[3]/th)"),
	    "<script>alert(4)</script>&amp;\xE2\x80\xA8");
	CHECK_EQ_STR(xp_str(d, "string(//table[@data-by='family'][1]//tbody/tr[1]/th)"),
	    "<img src=x onerror=alert(5)>");
	/* Attribute values too. */
	CHECK_EQ_STR(xp_str(d, "string(//input[@name='call']/@value)"), HOSTILE_VALUE);
	CHECK_EQ_STR(xp_str(d, "string(//input[@name='programme']/@value)"),
	    "'><script>alert(6)</script>");
	CHECK_EQ_INT(xp_countf(d, "//td[@data-figure='womenShare'][@data-group='%s']",
	    HOSTILE_VALUE), 1);
	CHECK_EQ_STR(xp_str(d, "string(//select[@name='year']/option[@selected]/@value)"),
	    "</option><script>alert(7)</script>");
	/* The query is percent-encoded into the link. */
	CHECK_EQ_STR(xp_str(d, "string(//a[.='Télécharger en CSV']/@href)"),
	    "/api/v1/dashboard/outcomes?format=csv&year=2024&x=%22%3E%3Cscript%3Ealert(8)"
	    "%3C/script%3E");
	/* The hostile label is also in the bars' tooltips: each SVG is still
	 * well-formed XML (checked in svg_charts); here, as text. */
	CHECK_EQ_INT(xp_countf(d, "//svg[@id='chart-womenShare-region']//rect/title"
	    "[starts-with(., '<script>alert(4)')]"), 1);
	xmlFreeDoc(d);
	sbuf_free(&out);
}

/* Each <svg> parses as XML in the SVG namespace, has role="img" and a
 * <title>, and has one bar or point per group. */
static void
svg_charts(void)
{
	static const char *const bar_charts[] = {
		"chart-womenShare-region", "chart-positiveOutcomeRate-region",
		"chart-womenShare-family", "chart-positiveOutcomeRate-family",
	};
	struct fixture f;
	struct sbuf out = { 0 };
	struct errors errs = { 0 };
	htmlDocPtr d;
	int nsvg = 0;

	fixture(&f);
	f.region[2].label = "<b>&amp;</b> \"q\" 'a'";
	d = render_parse(&f.in, &out);

	for (const char *p = out.data; (p = strstr(p, "<svg")) != NULL; nsvg++) {
		const char *e = strstr(p, "</svg>");
		xmlDocPtr x;
		xmlNodePtr root;

		CHECK(e != NULL);
		if (e == NULL)
			break;
		e += strlen("</svg>");
		xmlSetStructuredErrorFunc(&errs, on_error);
		x = xmlReadMemory(p, (int)(e - p), "chart.svg", "UTF-8", XML_PARSE_NONET);
		xmlSetStructuredErrorFunc(NULL, NULL);
		CHECK(x != NULL);
		root = x != NULL ? xmlDocGetRootElement(x) : NULL;
		CHECK(root != NULL && strcmp((const char *)root->name, "svg") == 0);
		CHECK(root != NULL && root->ns != NULL &&
		    strcmp((const char *)root->ns->href, SVG_NS) == 0);
		CHECK(root != NULL && xmlHasProp(root, BAD_CAST "viewBox") != NULL);
		xmlFreeDoc(x);
		p = e;
	}
	CHECK_EQ_INT(errs.unexpected + errs.unknown_tags, 0);
	CHECK_EQ_INT(nsvg, 6);

	for (size_t i = 0; i < ARRAY_LEN(bar_charts); i++) {
		const char *id = bar_charts[i];
		int n = strstr(id, "region") != NULL ? 3 : 2;

		CHECK_EQ_STR(xp_str(d, "string(//svg[@id='%s']/@role)", id), "img");
		CHECK_EQ_INT(xp_countf(d, "//svg[@id='%s']/title[@id='%s-title']", id, id), 1);
		CHECK_EQ_STR(xp_str(d, "string(//svg[@id='%s']/@aria-labelledby)", id),
		    xp_str(d, "concat('%s', '-title')", id));
		CHECK_EQ_INT(xp_countf(d, "//svg[@id='%s']/defs/pattern[@id='%s-hatch']", id, id), 1);
		CHECK_EQ_INT(xp_countf(d, BAR_RECTS, id), n);
		CHECK_EQ_INT(xp_countf(d, BAR_RECTS "[title]", id), n);
		CHECK_EQ_INT(xp_countf(d, "//svg[@id='%s']//text[@class='label']", id), n);
		/* Followed by the table of the same numbers: n groups + total. */
		CHECK_EQ_INT(xp_countf(d, "//svg[@id='%s']/following-sibling::table[1]//tbody/tr", id),
		    n + 1);
	}
	CHECK_EQ_STR(xp_str(d, "string(//svg[@id='chart-womenShare-region']//g[@class='bars']"
	    "/text[@class='label'][1])"), "Auvergne-Rhône-Alpes");
	CHECK_EQ_STR(xp_str(d, "string(//svg[@id='chart-womenShare-family']//g[@class='bars']"
	    "/text[@class='label'][2])"), "Data, IA et objets connectés");

	/* Years: a point per learners count, joined by one polyline; the share
	 * has points for 2023 and 2025 and a hatched column for 2024, so no
	 * segment of two points: no polyline. */
	CHECK_EQ_INT(xp_count(d, "//svg[@id='chart-learners-year']//circle"), 3);
	CHECK_EQ_INT(xp_count(d, "//svg[@id='chart-learners-year']//polyline"), 1);
	CHECK_EQ_INT(xp_count(d, "//svg[@id='chart-womenShare-year']//circle"), 2);
	CHECK_EQ_INT(xp_count(d, "//svg[@id='chart-womenShare-year']//polyline"), 0);
	CHECK_EQ_INT(xp_count(d, "//svg[@id='chart-womenShare-year']//rect[@class='bar suppressed']"), 1);
	CHECK_EQ_INT(xp_count(d, "//svg[@id='chart-learners-year']//text[.='Année']"), 1);
	CHECK_EQ_INT(xp_count(d, "//svg[@id='chart-learners-year']//text[.='Apprenants']"), 1);
	CHECK_EQ_INT(xp_count(d, "//svg[@id='chart-learners-year']//text[@class='label']"), 3);
	/* Learners: max 725 -> axis top 1000; 2025 at y = 30 + 200 - 145 = 85,
	 * x = 64 + 36 + 2 * 72 = 244. */
	CHECK_EQ_STR(xp_str(d, "string(//svg[@id='chart-learners-year']//polyline/@points)"),
	    "100,130 172,228 244,85");
	CHECK_EQ_STR(xp_str(d, "string(//svg[@id='chart-learners-year']//text[@class='tick'][6])"),
	    "1000");

	/* With 2024 published, the share is one polyline of 3 points. */
	set_fig(&f.year[1].v.v[FIG_WOMEN_SHARE], 400);
	xmlFreeDoc(d);
	d = render_parse(&f.in, &out);
	CHECK_EQ_INT(xp_count(d, "//svg[@id='chart-womenShare-year']//circle"), 3);
	CHECK_EQ_INT(xp_count(d, "//svg[@id='chart-womenShare-year']//polyline"), 1);
	xmlFreeDoc(d);
	sbuf_free(&out);
}

/* Suppressed values: "—", a visible mark linking to the footnote, and
 * a hatched bar labelled "suppr."; a null (not suppressed) value has no
 * mark; no suppressed value, no footnote. */
static void
suppressed_values(void)
{
	struct fixture f;
	struct sbuf out = { 0 };
	htmlDocPtr d;

	fixture(&f);
	d = render_parse(&f.in, &out);
	CHECK_EQ_STR(cell(d, "womenShare", "53"), "\xE2\x80\x94*");
	CHECK_EQ_STR(xp_str(d, "string((//td[@data-figure='womenShare'][@data-group='53'])[1]"
	    "/@data-suppressed)"), "true");
	CHECK_EQ_STR(xp_str(d, "string((//td[@data-group='53'])[2]/sup[@class='mark']/a/@href)"),
	    "#note-suppressed");
	CHECK_EQ_STR(xp_str(d, "string(//p[@id='note-suppressed'])"),
	    "* " DASHBOARD_SUPPRESSED_NOTE ".");
	CHECK_EQ_INT(xp_count(d, "//svg[@id='chart-womenShare-region']"
	    "//rect[@class='bar suppressed'][@fill='url(#chart-womenShare-region-hatch)']"), 1);
	CHECK_EQ_INT(xp_count(d, "//svg[@id='chart-womenShare-region']//text[.='suppr.']"), 1);
	CHECK_EQ_INT(xp_count(d, "//svg[@id='chart-positiveOutcomeRate-family']"
	    "//rect[@class='bar suppressed']"), 1);
	CHECK_EQ_STR(xp_str(d, "string(//svg[@id='chart-womenShare-region']"
	    "//rect[@class='bar suppressed']/title)"),
	    "Bretagne : non publié (" DASHBOARD_SUPPRESSED_NOTE ")");
	/* fillRate of the total is null without being suppressed. */
	CHECK_EQ_STR(cell(d, "fillRate", "total"), "\xE2\x80\x94");
	CHECK_EQ_STR(xp_str(d, "string(//td[@data-figure='fillRate'][@data-group='total']"
	    "/@data-null)"), "true");
	xmlFreeDoc(d);

	/* Publish everything: no mark, no footnote, no hatched bar. */
	set_fig(&f.region[1].v.v[FIG_WOMEN_SHARE], 111);
	set_fig(&f.region[1].v.v[FIG_POSITIVE_OUTCOME_RATE], 222);
	set_fig(&f.family[1].v.v[FIG_POSITIVE_OUTCOME_RATE], 333);
	set_fig(&f.year[1].v.v[FIG_WOMEN_SHARE], 444);
	d = render_parse(&f.in, &out);
	CHECK_EQ_STR(cell(d, "womenShare", "53"), "11.1");
	CHECK_EQ_INT(xp_count(d, "//p[@id='note-suppressed']"), 0);
	CHECK_EQ_INT(xp_count(d, "//sup[@class='mark']"), 0);
	CHECK_EQ_INT(xp_count(d, "//rect[@class='bar suppressed']"), 0);
	CHECK(strstr(out.data, "suppr.") == NULL);
	xmlFreeDoc(d);
	sbuf_free(&out);
}

/* A dashed target line in each chart of a figure with a target, at the
 * right height; none without targets. */
static void
target_lines(void)
{
	struct fixture f;
	struct sbuf out = { 0 };
	htmlDocPtr d;

	fixture(&f);
	d = render_parse(&f.in, &out);
	CHECK_EQ_INT(xp_count(d, "//line[@class='target']"), 5);
	CHECK_EQ_INT(xp_count(d, "//svg[@id='chart-womenShare-region']//line[@class='target']"), 1);
	CHECK_EQ_INT(xp_count(d, "//svg[@id='chart-womenShare-family']//line[@class='target']"), 1);
	CHECK_EQ_INT(xp_count(d, "//svg[@id='chart-womenShare-year']//line[@class='target']"), 1);
	CHECK_EQ_INT(xp_count(d, "//svg[@id='chart-positiveOutcomeRate-region']"
	    "//line[@class='target']"), 1);
	CHECK_EQ_INT(xp_count(d, "//svg[@id='chart-learners-year']//line[@class='target']"), 0);
	/* 30 % of a 220 px plot under a top margin of 30: y = 250 - 66 = 184. */
	CHECK_EQ_STR(xp_str(d, "string(//svg[@id='chart-womenShare-region']"
	    "//line[@class='target']/@y1)"), "184");
	CHECK_EQ_STR(xp_str(d, "string(//svg[@id='chart-womenShare-region']"
	    "//line[@class='target']/@stroke-dasharray)"), "6 4");
	CHECK_EQ_STR(xp_str(d, "string(//svg[@id='chart-womenShare-region']"
	    "//line[@class='target']/title)"), "Objectif : 30.0 %");
	/* 70 %: y = 250 - 154 = 96. */
	CHECK_EQ_STR(xp_str(d, "string(//svg[@id='chart-positiveOutcomeRate-family']"
	    "//line[@class='target']/@y1)"), "96");
	/* The headline table shows target and status. */
	CHECK_EQ_STR(xp_str(d, "string(//td[@data-target='women'][@data-group='total'][1])"),
	    "30.0");
	CHECK_EQ_STR(xp_str(d, "string(//td[@data-target='women'][@data-status])"), "proche");
	CHECK_EQ_STR(xp_str(d, "string(//td[@data-target='women']/@data-status)"), "near");
	CHECK_EQ_STR(xp_str(d, "string(//td[@data-target='positive-outcome']/@data-status)"),
	    "met");
	CHECK_EQ_INT(xp_count(d, "//td[@data-target='fill-rate']"), 0);
	xmlFreeDoc(d);

	/* A target on a null figure has no status. */
	set_target(&f.in.total, FIG_METRIC_FILL_RATE, 800, FIG_STATUS_NULL);
	d = render_parse(&f.in, &out);
	CHECK_EQ_STR(xp_str(d, "string(//td[@data-target='fill-rate'][1])"), "80.0");
	CHECK_EQ_INT(xp_count(d, "//td[@data-target='fill-rate'][@data-status='']"), 1);
	CHECK_EQ_STR(xp_str(d, "string(//td[@data-target='fill-rate'][@data-status])"),
	    "\xE2\x80\x94");
	xmlFreeDoc(d);

	memset(f.in.total.targets, 0, sizeof f.in.total.targets);
	d = render_parse(&f.in, &out);
	CHECK_EQ_INT(xp_count(d, "//line[@class='target']"), 0);
	CHECK_EQ_INT(xp_count(d, "//*[@class='target']"), 0);
	CHECK_EQ_INT(xp_count(d, "//td[@data-target]"), 0);
	xmlFreeDoc(d);
	sbuf_free(&out);
}

/* Value cells carry the exact one-decimal values of fig_values, as the API
 * writes them, and the bars their heights. */
static void
figure_values(void)
{
	struct fixture f;
	struct sbuf out = { 0 };
	htmlDocPtr d;

	fixture(&f);
	f.in.total.v[FIG_AVERAGE_DURATION_MONTHS].tenths = 1200;
	f.in.total.v[FIG_DROPOUT_RATE].tenths = 0;
	d = render_parse(&f.in, &out);
	CHECK_EQ_STR(cell(d, "learners", "total"), "1234");
	CHECK_EQ_STR(cell(d, "cohorts", "total"), "2");
	CHECK_EQ_STR(cell(d, "plannedSeats", "total"), "40");
	CHECK_EQ_STR(cell(d, "womenShare", "total"), "27.5");
	CHECK_EQ_STR(cell(d, "positiveOutcomeRate", "total"), "70.0");
	CHECK_EQ_STR(cell(d, "averageDurationMonths", "total"), "120.0");
	CHECK_EQ_STR(cell(d, "dropoutRate", "total"), "0.0");
	CHECK_EQ_STR(cell(d, "ruralShare", "total"), "10.4");   /* 100 + FIG_RURAL_SHARE */
	CHECK_EQ_STR(cell(d, "womenShare", "84"), "27.5");
	CHECK_EQ_STR(cell(d, "positiveOutcomeRate", "84"), "70.5");
	CHECK_EQ_STR(cell(d, "learners", "84"), "40");
	CHECK_EQ_STR(cell(d, "womenShare", "11"), "0.0");
	CHECK_EQ_STR(cell(d, "positiveOutcomeRate", "11"), "100.0");
	CHECK_EQ_STR(cell(d, "womenShare", "development"), "0.5");
	CHECK_EQ_STR(cell(d, "womenShare", "data-ai-iot"), "33.3");
	CHECK_EQ_STR(cell(d, "learners", "2025"), "725");
	CHECK_EQ_STR(cell(d, "womenShare", "2025"), "30.0");
	/* All 14 headline rows; every table ends with the total row. */
	CHECK_EQ_INT(xp_count(d, "//table[@class='figures']//td[@data-group='total'][@data-figure]"),
	    14);
	CHECK_EQ_INT(xp_count(d, "//table[@class='data']"), 6);
	CHECK_EQ_INT(xp_count(d, "//table[@class='data']//tr[last()][@class='total']"
	    "/td[@data-group='total']"), 5 * 2 + 1);
	/* 27.5 % of 220 px: 61 px, so y = 250 - 61 = 189; labelled "27.5". */
	CHECK_EQ_STR(xp_str(d, "string((" BAR_RECTS ")[1]/@height)", "chart-womenShare-region"),
	    "61");
	CHECK_EQ_STR(xp_str(d, "string((" BAR_RECTS ")[1]/@y)", "chart-womenShare-region"), "189");
	CHECK_EQ_STR(xp_str(d, "string((" BAR_RECTS ")[1]/title)", "chart-womenShare-region"),
	    "Auvergne-Rhône-Alpes : 27.5 %");
	CHECK_EQ_STR(xp_str(d, "string(//svg[@id='chart-womenShare-region']"
	    "//text[@class='value'][1])"), "27.5");
	/* 0 %: a bar of height 0 at the baseline. */
	CHECK_EQ_STR(xp_str(d, "string((" BAR_RECTS ")[3]/@height)", "chart-womenShare-region"),
	    "0");
	xmlFreeDoc(d);

	/* A value above 100 % raises the axis to the next 20 %: 135.0 -> 140. */
	set_fig(&f.region[0].v.v[FIG_WOMEN_SHARE], 1350);
	d = render_parse(&f.in, &out);
	CHECK_EQ_STR(xp_str(d, "string(//svg[@id='chart-womenShare-region']"
	    "//text[@class='tick'][6])"), "140");
	CHECK_EQ_STR(cell(d, "womenShare", "84"), "135.0");
	xmlFreeDoc(d);
	sbuf_free(&out);
}

/* The CSV links carry the given query, percent-encoding what a query
 * cannot hold. */
static void
csv_link(void)
{
	struct fixture f;
	struct sbuf out = { 0 };
	htmlDocPtr d;

	fixture(&f);
	d = render_parse(&f.in, &out);
	CHECK_EQ_STR(xp_str(d, "string(//a[.='Télécharger en CSV']/@href)"),
	    "/api/v1/dashboard/outcomes?format=csv&year=2024&region=84");
	CHECK_EQ_STR(xp_str(d, "string(//a[.='CSV par région']/@href)"),
	    "/api/v1/dashboard/outcomes?format=csv&group_by=region&year=2024&region=84");
	CHECK_EQ_STR(xp_str(d, "string(//a[.='CSV par année']/@href)"),
	    "/api/v1/dashboard/outcomes?format=csv&group_by=year&year=2024&region=84");
	CHECK(strstr(out.data, "href=\"/api/v1/dashboard/outcomes?format=csv&amp;year=2024"
	    "&amp;region=84\"") != NULL);
	xmlFreeDoc(d);

	f.in.query = "";
	d = render_parse(&f.in, &out);
	CHECK_EQ_STR(xp_str(d, "string(//a[.='Télécharger en CSV']/@href)"),
	    "/api/v1/dashboard/outcomes?format=csv");
	xmlFreeDoc(d);

	f.in.query = NULL;
	d = render_parse(&f.in, &out);
	CHECK_EQ_STR(xp_str(d, "string(//a[.='Télécharger en CSV']/@href)"),
	    "/api/v1/dashboard/outcomes?format=csv");
	xmlFreeDoc(d);

	f.in.query = "?call=AAP-1&programme=P%2D1&x=a b#c%zz\xC3\xA9";
	d = render_parse(&f.in, &out);
	CHECK_EQ_STR(xp_str(d, "string(//a[.='Télécharger en CSV']/@href)"),
	    "/api/v1/dashboard/outcomes?format=csv&call=AAP-1&programme=P%2D1&x=a%20b%23c%25zz%C3%A9");
	xmlFreeDoc(d);
	sbuf_free(&out);
}

/* The filter form: GET /dashboard, the options, the current values. */
static void
filter_form(void)
{
	struct fixture f;
	struct sbuf out = { 0 };
	htmlDocPtr d;

	fixture(&f);
	f.in.csrf_token = "secret-token";
	d = render_parse(&f.in, &out);
	CHECK_EQ_INT(xp_count(d, "//form[@method='get'][@action='/dashboard']"), 1);
	/* The token is only in the sign-out POST form, never in the GET form
	 * or a link (it would travel in a URL). */
	CHECK_EQ_INT(xp_count(d, "//form[@method!='get']"), 1);
	CHECK_EQ_INT(xp_count(d, "//form[@method='post'][@action='/logout'][@class='signout']"), 1);
	CHECK_EQ_STR(xp_str(d, "string(//form[@action='/logout']/input[@type='hidden'][@name='csrf_token']/@value)"),
	    "secret-token");
	CHECK_EQ_INT(xp_count(d, "//form[@action='/logout']//button[@type='submit']"), 1);
	CHECK_EQ_INT(xp_count(d, "//form[@method='get']//input[@type='hidden']"), 0);
	CHECK_EQ_INT(xp_count(d, "//a[contains(@href, 'secret-token')]"), 0);
	{
		const char *first = strstr(out.data, "secret-token");
		CHECK(first != NULL && strstr(first + 1, "secret-token") == NULL);
	}
	CHECK_EQ_INT(xp_count(d, "//select[@name='year']/option"), 4);
	CHECK_EQ_STR(xp_str(d, "string(//select[@name='year']/option[@selected]/@value)"), "2024");
	CHECK_EQ_STR(xp_str(d, "string(//select[@name='year']/option[1])"), "Toutes");
	CHECK_EQ_INT(xp_count(d, "//select[@name='region']/option"), 19);
	CHECK_EQ_INT(xp_count(d, "//select[@name='region']/option[@selected]"), 1);
	CHECK_EQ_STR(xp_str(d, "string(//select[@name='region']/option[@selected])"),
	    "Auvergne-Rhône-Alpes");
	CHECK_EQ_STR(xp_str(d, "string(//select[@name='region']/option[@value='93'])"),
	    "Provence-Alpes-Côte d'Azur");
	CHECK_EQ_INT(xp_count(d, "//select[@name='family']/option"), 8);
	CHECK_EQ_STR(xp_str(d, "string(//select[@name='family']/option[@selected]/@value)"),
	    "design");
	CHECK_EQ_STR(xp_str(d, "string(//input[@name='call']/@value)"), "AAP-2024");
	CHECK_EQ_STR(xp_str(d, "string(//input[@name='provider']/@value)"), "35600000000048");
	CHECK_EQ_STR(xp_str(d, "string(//input[@name='programme']/@value)"), "");
	CHECK_EQ_STR(xp_str(d, "string(//input[@name='provider']/@pattern)"), "[0-9]{14}");
	CHECK_EQ_INT(xp_count(d, "//form[@method='get']//button[@type='submit']"), 1);
	xmlFreeDoc(d);

	/* No session (a Bearer caller): no sign-out form. */
	f.in.csrf_token = NULL;
	d = render_parse(&f.in, &out);
	CHECK_EQ_INT(xp_count(d, "//form"), 1);
	xmlFreeDoc(d);
	f.in.csrf_token = "";
	d = render_parse(&f.in, &out);
	CHECK_EQ_INT(xp_count(d, "//form"), 1);
	xmlFreeDoc(d);

	/* No filters: "all" selected everywhere; a year outside the list is
	 * added so that the form shows it. */
	f.in.filters = NULL;
	d = render_parse(&f.in, &out);
	CHECK_EQ_INT(xp_count(d, "//select/option[@selected][@value='']"), 3);
	CHECK_EQ_STR(xp_str(d, "string(//p[@class='selection'])"),
	    "Sélection : toutes les formations.");
	xmlFreeDoc(d);
	f.in.filters = &f.filters;
	f.filters.year = "2019";
	d = render_parse(&f.in, &out);
	CHECK_EQ_INT(xp_count(d, "//select[@name='year']/option"), 5);
	CHECK_EQ_STR(xp_str(d, "string(//select[@name='year']/option[@selected])"), "2019");
	xmlFreeDoc(d);
	sbuf_free(&out);
}

/* No groups: the page still renders, without charts. */
static void
empty_breakdowns(void)
{
	struct fixture f;
	struct sbuf out = { 0 };
	htmlDocPtr d;

	fixture(&f);
	f.in.n_region = f.in.n_family = f.in.n_year = 0;
	f.in.by_region = f.in.by_family = f.in.by_year = NULL;
	f.in.n_years = 0;
	f.in.years = NULL;
	d = render_parse(&f.in, &out);
	CHECK_EQ_INT(xp_count(d, "//svg"), 0);
	CHECK_EQ_INT(xp_count(d, "//p[@class='empty']"), 3);
	CHECK_EQ_STR(cell(d, "womenShare", "total"), "27.5");
	CHECK_EQ_INT(xp_count(d, "//select[@name='year']/option"), 2); /* "all" and 2024 */
	xmlFreeDoc(d);
	sbuf_free(&out);
}

/* Invalid UTF-8 and control characters become U+FFFD; long labels are
 * shortened on the axis only. */
static void
text_cleaning(void)
{
	struct fixture f;
	struct sbuf out = { 0 };
	htmlDocPtr d;
	const char *longer = "Une région au nom très très long, vraiment très long";

	fixture(&f);
	f.region[0].label = "a\xFF" "b\x01" "c\xC3(d\xED\xA0\x80" "e\xEF\xBF\xBE";
	f.region[2].label = longer;
	d = render_parse(&f.in, &out);
	CHECK(strchr(out.data, '\x01') == NULL);
	CHECK_EQ_STR(xp_str(d, "string(//table[@data-by='region'][1]//tbody/tr[1]/th)"),
	    "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD(d\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
	    "e\xEF\xBF\xBD");
	/* 27 code points and "…" on the axis, the whole label in the table. */
	CHECK_EQ_STR(xp_str(d, "string(//svg[@id='chart-womenShare-region']//g[@class='bars']"
	    "/text[@class='label'][3])"), "Une région au nom très très\xE2\x80\xA6");
	CHECK_EQ_STR(xp_str(d, "string(//table[@data-by='region'][1]//tbody/tr[3]/th)"), longer);
	/* A label of exactly 28 code points is kept whole. */
	f.region[2].label = "Provence-Alpes-Côte d'Azur12";
	xmlFreeDoc(d);
	d = render_parse(&f.in, &out);
	CHECK_EQ_STR(xp_str(d, "string(//svg[@id='chart-womenShare-region']//g[@class='bars']"
	    "/text[@class='label'][3])"), "Provence-Alpes-Côte d'Azur12");
	/* No label: the region's name, the family's label, else the key. */
	f.region[2].label = NULL;
	f.region[2].key = "99";
	xmlFreeDoc(d);
	d = render_parse(&f.in, &out);
	CHECK_EQ_STR(xp_str(d, "string(//table[@data-by='region'][1]//tbody/tr[3]/th)"), "99");
	CHECK_EQ_STR(xp_str(d, "string(//table[@data-by='region'][1]//tbody/tr[2]/th)"), "Bretagne");
	xmlFreeDoc(d);
	sbuf_free(&out);
}

/* Unusable input fails and leaves out as it was. */
static void
bad_input(void)
{
	struct fixture f;
	struct sbuf out = { 0 };

	fixture(&f);
	sbuf_adds(&out, "kept");
	CHECK_EQ_INT(dashboard_render(NULL, &out), -1);
	CHECK_EQ_INT(dashboard_render(&f.in, NULL), -1);
	f.in.by_region = NULL;
	CHECK_EQ_INT(dashboard_render(&f.in, &out), -1);
	fixture(&f);
	f.in.n_family = DASHBOARD_MAX_GROUPS + 1;
	CHECK_EQ_INT(dashboard_render(&f.in, &out), -1);
	fixture(&f);
	f.in.years = NULL;
	CHECK_EQ_INT(dashboard_render(&f.in, &out), -1);
	fixture(&f);
	f.years[1] = NULL;
	CHECK_EQ_INT(dashboard_render(&f.in, &out), -1);
	CHECK_EQ_STR(out.data, "kept");
	/* Appends: a good render keeps what was there. */
	fixture(&f);
	CHECK_EQ_INT(dashboard_render(&f.in, &out), 0);
	CHECK(strncmp(out.data, "kept<!DOCTYPE html>", 19) == 0);
	sbuf_free(&out);
}

/* The login page: one POST form to /api/v1/session with the double-submit
 * token and next as hidden fields, no script; hostile values stay text. */
static void
login_page(void)
{
	struct sbuf out = { 0 };
	struct errors errs;
	struct login_page in = { .csrf_token = "tok\"><script>x</script>", .next = "/dashboard?a=1&b=2" };
	htmlDocPtr d;

	CHECK_EQ_INT(login_page_render(&in, &out), 0);
	CHECK(strncmp(out.data, "<!DOCTYPE html>", 15) == 0);
	d = parse_html(&out, &errs);
	CHECK(d != NULL && errs.unexpected == 0);
	CHECK_EQ_STR(xp_str(d, "string(/html/@lang)"), "fr");
	CHECK_EQ_INT(xp_count(d, "//form"), 1);
	CHECK_EQ_INT(xp_count(d, "//form[@method='post'][@action='/api/v1/session']"), 1);
	CHECK_EQ_STR(xp_str(d, "string(//form/input[@type='hidden'][@name='csrf_token']/@value)"),
	    "tok\"><script>x</script>");
	CHECK_EQ_STR(xp_str(d, "string(//form/input[@type='hidden'][@name='next']/@value)"),
	    "/dashboard?a=1&b=2");
	CHECK_EQ_STR(xp_str(d, "string(//input[@name='email']/@type)"), "email");
	CHECK_EQ_STR(xp_str(d, "string(//input[@name='email']/@value)"), "");
	CHECK_EQ_STR(xp_str(d, "string(//input[@name='password']/@type)"), "password");
	CHECK_EQ_STR(xp_str(d, "string(//input[@name='password']/@autocomplete)"), "current-password");
	CHECK_EQ_INT(xp_count(d, "//button[@type='submit']"), 1);
	CHECK_EQ_INT(xp_count(d, "//script"), 0);
	CHECK_EQ_INT(xp_count(d, "//*[@role='alert']"), 0);
	xmlFreeDoc(d);

	/* After a failure: the message and the e-mail, never the password. */
	in.message = "Mot de passe incorrect <b>";
	in.email = "a@b.test";
	sbuf_reset(&out);
	CHECK_EQ_INT(login_page_render(&in, &out), 0);
	d = parse_html(&out, &errs);
	CHECK(d != NULL);
	CHECK_EQ_STR(xp_str(d, "string(//p[@role='alert'])"), "Mot de passe incorrect <b>");
	CHECK_EQ_STR(xp_str(d, "string(//input[@name='email']/@value)"), "a@b.test");
	CHECK_EQ_INT(xp_count(d, "//b"), 0);
	xmlFreeDoc(d);

	/* Unusable input: -1, out unchanged. */
	sbuf_reset(&out);
	sbuf_adds(&out, "kept");
	in.csrf_token = NULL;
	CHECK_EQ_INT(login_page_render(&in, &out), -1);
	in.csrf_token = "t";
	in.next = NULL;
	CHECK_EQ_INT(login_page_render(&in, &out), -1);
	CHECK_EQ_INT(login_page_render(NULL, &out), -1);
	CHECK_EQ_STR(out.data, "kept");
	sbuf_free(&out);
}

UNIT_MAIN("dashboard",
    UNIT_CASE(login_page),
    UNIT_CASE(names),
    UNIT_CASE(document_shape),
    UNIT_CASE(hostile_strings),
    UNIT_CASE(svg_charts),
    UNIT_CASE(suppressed_values),
    UNIT_CASE(target_lines),
    UNIT_CASE(figure_values),
    UNIT_CASE(csv_link),
    UNIT_CASE(filter_form),
    UNIT_CASE(empty_breakdowns),
    UNIT_CASE(text_cleaning),
    UNIT_CASE(bad_input))
