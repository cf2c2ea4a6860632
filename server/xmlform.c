/* xmlform.c - see xmlform.h.
 *
 * The hardening follows research/security.md §1:
 * - one parser context per document, options NONET | NOCDATA | BIG_LINES
 *   only (never NOENT, DTDLOAD, DTDATTR, DTDVALID, XINCLUDE, HUGE, SAX1);
 * - any DOCTYPE stops the parser from the internalSubset SAX hook, before a
 *   single declaration is read, so no entity is ever defined, let alone
 *   expanded or fetched; the tree is checked again for a DTD afterwards;
 * - the schemas are compiled first (their includes load through the
 *   external entity loader), then a deny-all loader is installed for the
 *   whole process, so nothing else can ever be loaded from a file or the
 *   network, whatever a document says (xsi:schemaLocation, XInclude, ...);
 * - validation always uses our compiled schema, never one a document names;
 * - libxml2's global error output is silenced: attacker bytes never reach
 *   stderr, every message goes to the caller's error list instead;
 * - bounds libxml2 2.9 lacks or enforces too late: nesting depth, attributes
 *   per element (with a byte-level pre-count, see XMLFORM_MAX_EQUALS_RUN),
 *   and the encodings a document may declare. The body size is bounded
 *   upstream (HTTP layer);
 * - a byte order mark that contradicts the declared encoding is a fatal
 *   error (XML 1.0 §4.3.3), checked on the raw bytes before parsing since
 *   libxml2 2.9 silently lets one of the two win.
 *
 * Processing instructions, <?xml-stylesheet?> included, are allowed and
 * ignored: nothing here or downstream applies them, and rejecting them
 * would refuse documents produced by ordinary XML editors.
 * NOBLANKS is not used: its "ignorable whitespace" guess can drop the text
 * of an element whose only content is blanks next to a comment, which
 * would change what the schema sees. */
#include "xmlform.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>

#include "util.h"

/* Deepest element nesting accepted (libxml2's own default limit). */
#define XMLFORM_MAX_DEPTH 256
/* Most attributes accepted on one element. The richest element of DESIGN
 * §4 (a cohortReport learner) has 11; libxml2 2.9 links attributes into
 * the tree in quadratic time, so 100,000 of them would stall the process. */
#define XMLFORM_MAX_ATTRIBUTES 64
/* libxml2 2.9 also checks a start tag's attributes for duplicates in
 * quadratic time *before* any SAX hook sees the tag (200,000 attributes in
 * a 2 MiB body cost about 10 s). An attribute needs an '=' and attribute
 * values cannot hold a raw '<', so the '=' signs between two '<' bound the
 * attributes of a tag; counting them first keeps that loop small. Text may
 * contain '=' too, hence a bound far above any real document. */
#define XMLFORM_MAX_EQUALS_RUN 10000
#define XMLFORM_PARSE_OPTIONS \
	(XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES)

static const char *const kind_roots[FORM_KIND_COUNT] = {
	[FORM_UNKNOWN] = NULL,
	[FORM_CALL] = "call",
	[FORM_PROJECT_APPLICATION] = "projectApplication",
	[FORM_LABEL_APPLICATION] = "labelApplication",
	[FORM_RECEIPT] = "receipt",
	[FORM_REVIEWER] = "reviewer",
	[FORM_PANEL] = "panel",
	[FORM_CONFLICT] = "conflict",
	[FORM_REVIEW] = "review",
	[FORM_DECISIONS] = "decisions",
	[FORM_COHORT_REPORT] = "cohortReport",
};

/* Compiled schemas and their validation contexts. A process is
 * single-threaded, so one validation context per schema is enough; it is
 * reusable because libxml2 resets it at the start of each validation. */
static struct {
	int ready;
	xmlSchemaPtr schema[FORM_KIND_COUNT];
	xmlSchemaValidCtxtPtr valid[FORM_KIND_COUNT];
	xmlExternalEntityLoader default_loader;
} xf;

/* What the SAX hooks of one parse share, reached through ctxt->_private. */
struct parse_state {
	const unsigned char *buf; /* the raw document */
	size_t len;
	struct form_errors *errs;
	int failed;   /* an error was recorded */
	int stopped;  /* first fatal error seen: later ones are consequences */
	int doctype;  /* a DOCTYPE was met */
};

const char *
form_kind_root(enum form_kind kind)
{
	if ((int)kind <= FORM_UNKNOWN || kind >= FORM_KIND_COUNT)
		return NULL;
	return kind_roots[kind];
}

enum form_kind
form_kind_from_root(const char *root)
{
	if (root == NULL)
		return FORM_UNKNOWN;
	for (int k = FORM_UNKNOWN + 1; k < FORM_KIND_COUNT; k++)
		if (strcmp(kind_roots[k], root) == 0)
			return (enum form_kind)k;
	return FORM_UNKNOWN;
}

/* ---- UTF-8 safe copies --------------------------------------------------- */

/* Cut s (of length len, NUL-terminated) so that it does not end inside a
 * multi-byte UTF-8 sequence: used after a copy was truncated. */
static void
utf8_trim_partial(char *s, size_t len)
{
	size_t i = len;
	int cont = 0;

	while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80 && cont < 3) {
		i--;
		cont++;
	}
	if (i == 0)
		return;
	unsigned char lead = (unsigned char)s[i - 1];
	size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
	if (lead >= 0x80 && (size_t)cont + 1 < need)
		s[i - 1] = '\0';
}

/* Copy src into dst (size dstlen), truncating on a character boundary. */
static void
copy_utf8(char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);

	if (dstlen == 0)
		return;
	if (n < dstlen) {
		memcpy(dst, src, n + 1);
		return;
	}
	memcpy(dst, src, dstlen - 1);
	dst[dstlen - 1] = '\0';
	utf8_trim_partial(dst, dstlen - 1);
}

/* Make a library message fit for a one-line JSON field: control characters
 * become spaces, runs of spaces collapse, the namespace spelled out as
 * "{urn:gen:forms:1}" before every name is dropped (every element is in it),
 * and trailing blanks go. */
static void
clean_message(const char *msg, char *out, size_t outlen)
{
	static const char ns[] = "{" FORM_NS "}";
	size_t o = 0;

	if (outlen == 0)
		return;
	if (msg == NULL)
		msg = "";
	while (*msg && o + 1 < outlen) {
		if (strncmp(msg, ns, sizeof ns - 1) == 0) {
			msg += sizeof ns - 1;
			continue;
		}
		unsigned char c = (unsigned char)*msg++;
		if (c < 0x20 || c == 0x7F)
			c = ' ';
		if (c == ' ' && (o == 0 || out[o - 1] == ' '))
			continue;
		out[o++] = (char)c;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	if (*msg)
		utf8_trim_partial(out, o);
}

/* ---- error list ---------------------------------------------------------- */

void
form_errors_add(struct form_errors *e, int line, int column,
    const char *path, const char *fmt, ...)
{
	va_list ap;

	if (e->count >= FORM_ERRORS_MAX) {
		e->dropped++;
		return;
	}
	struct form_error *it = &e->items[e->count++];
	it->line = line > 0 ? line : 0;
	it->column = column > 0 ? column : 0;
	copy_utf8(it->path, sizeof it->path, path ? path : "");
	va_start(ap, fmt);
	int n = vsnprintf(it->message, sizeof it->message, fmt, ap);
	va_end(ap);
	if (n < 0)
		it->message[0] = '\0';
	else if ((size_t)n >= sizeof it->message)
		utf8_trim_partial(it->message, sizeof it->message - 1);
}

/* ---- node positions and paths -------------------------------------------- */

/* Element start positions live in node->_private, packed into one pointer
 * so that no allocation has to be freed with the tree. 0 means "none". */
#if UINTPTR_MAX > 0xFFFFFFFFu
#define POS_LINE_BITS 32
#define POS_COL_BITS 32
#else
#define POS_LINE_BITS 20
#define POS_COL_BITS 12
#endif

static void *
pos_pack(long line, long col)
{
	uintptr_t lmax = ((uintptr_t)1 << (POS_LINE_BITS - 1)) - 1;
	uintptr_t cmax = ((uintptr_t)1 << (POS_COL_BITS - 1)) - 1;
	uintptr_t l = line < 0 ? 0 : (uintptr_t)line > lmax ? lmax : (uintptr_t)line;
	uintptr_t c = col < 0 ? 0 : (uintptr_t)col > cmax ? cmax : (uintptr_t)col;

	return (void *)(l << POS_COL_BITS | c);
}

void
xmlform_node_pos(const xmlNode *node, int *line, int *column)
{
	*line = 0;
	*column = 0;
	/* Attributes, text and other children report their element's start. */
	while (node != NULL && node->type != XML_ELEMENT_NODE) {
		if (node->type == XML_DOCUMENT_NODE)
			return;
		node = node->parent;
	}
	if (node == NULL)
		return;
	uintptr_t v = (uintptr_t)node->_private;
	if (v == 0) {
		long l = xmlGetLineNo(node);
		*line = l > 0 && l <= INT_MAX ? (int)l : 0;
		return;
	}
	*line = (int)(v >> POS_COL_BITS);
	*column = (int)(v & (((uintptr_t)1 << POS_COL_BITS) - 1));
}

/* A fixed buffer appender that stops cleanly when full. */
struct pbuf {
	char *p;
	size_t len, cap;
	int full;
};

static void
pbuf_add(struct pbuf *b, const char *s)
{
	size_t n = strlen(s);

	if (b->full)
		return;
	if (b->len + n >= b->cap) {
		n = b->cap - 1 - b->len;
		b->full = 1;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	if (b->full)
		utf8_trim_partial(b->p, b->len);
}

static int
same_ns(const xmlNs *a, const xmlNs *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return xmlStrEqual(a->href, b->href);
}

static void
path_name(struct pbuf *b, const xmlChar *name, const xmlNs *ns)
{
	/* Elements of our namespace go by their local name whatever prefix
	 * the document used; anything else keeps its prefix. */
	if (ns != NULL && ns->prefix != NULL &&
	    !xmlStrEqual(ns->href, BAD_CAST FORM_NS)) {
		pbuf_add(b, (const char *)ns->prefix);
		pbuf_add(b, ":");
	}
	pbuf_add(b, (const char *)name);
}

/* XPath-like location of a node: "/projectApplication/budget/line[2]/@amount".
 * An element gets an [n] index when it has siblings of the same name.
 * (xmlGetNodePath() writes elements of a default namespace as "*", which
 * tells a user nothing, hence this version.) */
void
xmlform_node_path(const xmlNode *node, char *out, size_t outlen)
{
	const xmlNode *chain[XMLFORM_MAX_DEPTH + 8];
	const xmlAttr *attr = NULL;
	size_t depth = 0;
	struct pbuf b = { out, 0, outlen, 0 };

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (node == NULL || outlen < 2)
		return;
	if (node->type == XML_ATTRIBUTE_NODE) {
		attr = (const xmlAttr *)node;
		node = node->parent;
	}
	while (node != NULL && node->type != XML_ELEMENT_NODE &&
	    node->type != XML_DOCUMENT_NODE)
		node = node->parent;
	for (; node != NULL && node->type == XML_ELEMENT_NODE;
	     node = node->parent) {
		if (depth == ARRAY_LEN(chain)) {
			/* Deeper than the parser allows; keep the innermost. */
			memmove(chain + 1, chain, (depth - 1) * sizeof chain[0]);
			depth--;
		}
		chain[depth++] = node;
	}
	while (depth > 0) {
		const xmlNode *n = chain[--depth];
		int before = 0, after = 0;
		const xmlNode *s;
		char idx[24];

		for (s = n->prev; s != NULL; s = s->prev)
			if (s->type == XML_ELEMENT_NODE &&
			    xmlStrEqual(s->name, n->name) && same_ns(s->ns, n->ns))
				before++;
		for (s = n->next; s != NULL && !after; s = s->next)
			if (s->type == XML_ELEMENT_NODE &&
			    xmlStrEqual(s->name, n->name) && same_ns(s->ns, n->ns))
				after = 1;
		pbuf_add(&b, "/");
		path_name(&b, n->name, n->ns);
		if (before || after) {
			snprintf(idx, sizeof idx, "[%d]", before + 1);
			pbuf_add(&b, idx);
		}
	}
	if (attr != NULL) {
		pbuf_add(&b, "/@");
		path_name(&b, attr->name, attr->ns);
	}
}

void
form_errors_at(struct form_errors *e, const xmlNode *node, const char *fmt, ...)
{
	char path[sizeof e->items[0].path];
	char msg[sizeof e->items[0].message];
	int line, column;
	va_list ap;

	if (e->count >= FORM_ERRORS_MAX) {
		e->dropped++;
		return;
	}
	xmlform_node_pos(node, &line, &column);
	xmlform_node_path(node, path, sizeof path);
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		msg[0] = '\0';
	else if ((size_t)n >= sizeof msg)
		utf8_trim_partial(msg, sizeof msg - 1);
	form_errors_add(e, line, column, path, "%s", msg);
}

/* ---- start-up ------------------------------------------------------------ */

static void
silent_generic(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static void
silent_structured(void *ctx, xmlErrorPtr err)
{
	(void)ctx;
	(void)err;
}

/* The process-wide loader once the schemas are compiled: nothing is ever
 * fetched, neither file:// nor the network nor a catalog entry. */
static xmlParserInputPtr
deny_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
	(void)url;
	(void)id;
	(void)ctxt;
	return NULL;
}

/* Schema compilation errors: keep the first one for xmlform_init's caller. */
struct compile_err {
	char *buf;
	size_t len;
	int set;
};

static void
on_compile_error(void *ud, xmlErrorPtr err)
{
	struct compile_err *ce = ud;
	char msg[512];

	if (ce->set || err == NULL || err->level == XML_ERR_WARNING)
		return;
	clean_message(err->message, msg, sizeof msg);
	if (err->file != NULL)
		snprintf(ce->buf, ce->len, "%s:%d: %s", err->file, err->line, msg);
	else
		snprintf(ce->buf, ce->len, "%s", msg);
	ce->set = 1;
}

int
xmlform_init(const char *forms_dir, char *err, size_t errlen)
{
	char path[4096];

	if (xf.ready)
		return 0;
	xmlInitParser();
	/* Nothing attacker-controlled may reach stderr through libxml2's
	 * default handlers; every error we care about is collected through
	 * per-context structured handlers instead. */
	xmlSetGenericErrorFunc(NULL, silent_generic);
	xmlThrDefSetGenericErrorFunc(NULL, silent_generic);
	xmlSetStructuredErrorFunc(NULL, silent_structured);
	xmlThrDefSetStructuredErrorFunc(NULL, silent_structured);

	/* The schemas and their xs:include load through the entity loader:
	 * compile them with the default one (after an earlier shutdown the
	 * deny-all loader may still be there). */
	if (xf.default_loader == NULL) {
		xmlExternalEntityLoader cur = xmlGetExternalEntityLoader();
		xf.default_loader = cur == deny_loader ? NULL : cur;
	}
	if (xf.default_loader != NULL)
		xmlSetExternalEntityLoader(xf.default_loader);

	for (int k = FORM_UNKNOWN + 1; k < FORM_KIND_COUNT; k++) {
		struct compile_err ce = { err, errlen, 0 };
		int n = snprintf(path, sizeof path, "%s/%s.xsd", forms_dir,
		    kind_roots[k]);

		if (n < 0 || (size_t)n >= sizeof path) {
			snprintf(err, errlen, "forms directory path too long");
			goto fail;
		}
		xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(path);
		if (pc == NULL) {
			snprintf(err, errlen, "%s: cannot create schema parser", path);
			goto fail;
		}
		xmlSchemaSetParserStructuredErrors(pc, on_compile_error, &ce);
		xf.schema[k] = xmlSchemaParse(pc);
		xmlSchemaFreeParserCtxt(pc);
		if (xf.schema[k] == NULL) {
			if (!ce.set)
				snprintf(err, errlen, "%s: cannot compile schema", path);
			goto fail;
		}
		xf.valid[k] = xmlSchemaNewValidCtxt(xf.schema[k]);
		if (xf.valid[k] == NULL) {
			snprintf(err, errlen, "%s: cannot create validation context", path);
			goto fail;
		}
	}
	xmlSetExternalEntityLoader(deny_loader);
	xf.ready = 1;
	return 0;
fail:
	xmlform_shutdown();
	xmlSetExternalEntityLoader(deny_loader);
	return -1;
}

void
xmlform_shutdown(void)
{
	for (int k = 0; k < FORM_KIND_COUNT; k++) {
		if (xf.valid[k] != NULL)
			xmlSchemaFreeValidCtxt(xf.valid[k]);
		if (xf.schema[k] != NULL)
			xmlSchemaFree(xf.schema[k]);
		xf.valid[k] = NULL;
		xf.schema[k] = NULL;
	}
	xf.ready = 0;
}

/* ---- parsing ------------------------------------------------------------- */

/* Column of the character at byte `off` of the raw document, when the
 * parser reads it untranscoded (UTF-8); 0 when unknown. */
static int
raw_column(xmlParserCtxtPtr ctxt, size_t off)
{
	const struct parse_state *st = ctxt->_private;
	const unsigned char *p;
	int chars = 0;

	if (st == NULL || (ctxt->input->buf != NULL &&
	    ctxt->input->buf->encoder != NULL) ||
	    off >= st->len || st->buf[off] != '<')
		return 0;
	for (p = st->buf + off; p > st->buf && p[-1] != '\n'; p--)
		if ((p[-1] & 0xC0) != 0x80)
			chars++;
	if (p == st->buf && st->len >= 3 && p[0] == 0xEF && p[1] == 0xBB &&
	    p[2] == 0xBF)
		chars--;
	return chars + 1;
}

/* Line and column of the '<' that opened the markup being parsed, found by
 * scanning back from the parser's current position (just past the name or
 * attributes), whose line and column libxml2 tracks in characters. `open`
 * is the text to find ("<" for an element, "<!DOCTYPE" for the DTD).
 * Falls back to the current position when the text is no longer in the
 * buffer (libxml2 may discard consumed input near the end). */
static void
markup_start_pos(xmlParserCtxtPtr ctxt, const char *open, int *line, int *col)
{
	xmlParserInputPtr in = ctxt->input;
	size_t olen = strlen(open);
	const xmlChar *p, *lt = NULL;
	int nl = 0, chars = 0;

	*line = in ? in->line : 0;
	*col = in ? in->col : 0;
	if (in == NULL || in->cur == NULL || in->base == NULL || in->cur < in->base)
		return;
	for (p = in->cur; p > in->base; p--) {
		if ((size_t)(in->end - (p - 1)) >= olen &&
		    memcmp(p - 1, open, olen) == 0) {
			lt = p - 1;
			break;
		}
	}
	if (lt == NULL)
		return;
	/* Characters and newlines between '<' and the current position. */
	for (p = lt; p < in->cur; p++) {
		if (*p == '\n')
			nl++;
		if ((*p & 0xC0) != 0x80)
			chars++;
	}
	if (nl == 0) {
		*col = in->col - chars;
		if (*col < 1)
			*col = 1;
		return;
	}
	/* The markup spans lines: count the characters from the start of the
	 * line that holds the '<'. */
	*line = in->line - nl;
	chars = 0;
	for (p = lt; p > in->base && p[-1] != '\n'; p--)
		if ((p[-1] & 0xC0) != 0x80)
			chars++;
	if (p == in->base) {
		if (in->consumed != 0) {
			/* libxml2 discarded the start of the line. Without
			 * transcoding, the buffer is the raw document itself. */
			*col = raw_column(ctxt, in->consumed + (size_t)(lt - in->base));
			return;
		}
		/* A byte order mark is not a column. */
		if (in->end - p >= 3 && p[0] == 0xEF && p[1] == 0xBB &&
		    p[2] == 0xBF && lt >= p + 3)
			chars--;
	}
	*col = chars + 1;
}

static void
on_parse_error(void *ud, xmlErrorPtr err)
{
	xmlParserCtxtPtr ctxt = ud;
	struct parse_state *st = ctxt ? ctxt->_private : NULL;
	char msg[512];

	if (st == NULL || err == NULL || err->level < XML_ERR_ERROR)
		return;
	/* After a fatal error the parser only reports consequences of it. */
	if (st->stopped)
		return;
	clean_message(err->message, msg, sizeof msg);
	form_errors_add(st->errs, err->line, err->int2, "", "%s", msg);
	st->failed = 1;
	if (err->level == XML_ERR_FATAL)
		st->stopped = 1;
}

/* Record an error that ends the parse, from inside a SAX hook. */
static void __attribute__((format(printf, 4, 5)))
stop_with(xmlParserCtxtPtr ctxt, int line, int col, const char *fmt, ...)
{
	struct parse_state *st = ctxt->_private;
	char msg[sizeof st->errs->items[0].message];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!st->stopped)
		form_errors_add(st->errs, line, col, "", "%s", msg);
	st->failed = 1;
	st->stopped = 1;
	ctxt->wellFormed = 0;
	xmlStopParser(ctxt);
}

/* Encodings a document may use: UTF-8 and UTF-16, which every XML
 * processor must read, and the ASCII-compatible single-byte ones French
 * systems still produce. Anything else (EBCDIC, UCS-4, UTF-7, ...) is
 * refused: it buys nothing and would defeat the byte-level bound below.
 * Returns the code unit width (1 or 2), or 0 when refused. */
static void
encoding_norm(const char *name, char *norm, size_t normlen)
{
	size_t o = 0;

	for (const char *p = name; *p && o + 1 < normlen; p++) {
		if (*p == '-' || *p == '_')
			continue;
		norm[o++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
	}
	norm[o] = '\0';
}

static int
encoding_width(const char *name)
{
	static const char *const ok8[] = {
		"UTF8", "USASCII", "ASCII", "ISO88591", "LATIN1", "ISO885915",
		"LATIN9", "WINDOWS1252", "CP1252",
	};
	char norm[32];

	encoding_norm(name, norm, sizeof norm);
	for (size_t i = 0; i < ARRAY_LEN(ok8); i++)
		if (strcmp(norm, ok8[i]) == 0)
			return 1;
	if (strcmp(norm, "UTF16") == 0 || strcmp(norm, "UTF16LE") == 0 ||
	    strcmp(norm, "UTF16BE") == 0)
		return 2;
	return 0;
}

/* The first '<'-to-'<' stretch of the raw document holding more than
 * XMLFORM_MAX_EQUALS_RUN '=' signs: returns 1 and the line and column of
 * the '<' that opens it (1:1 when the stretch starts the document), or 0 if
 * there is none. Counts code units of `width` bytes (UTF-16 in its byte
 * order); columns are characters, as libxml2 counts them: UTF-8 (`utf8`)
 * continuation bytes and UTF-16 low surrogates do not count, nor does a
 * byte order mark. */
static int
equals_run_pos(const unsigned char *b, size_t len, int width, int utf8,
    int *line, int *col)
{
	int little = width == 2 && len >= 2 &&
	    ((b[0] == 0xFF && b[1] == 0xFE) || (b[0] != 0 && b[1] == 0));
	size_t run = 0, i = 0;
	int cur_line = 1, cur_col = 1; /* of the next character */

	*line = 1;
	*col = 1;
	if (width == 1 && len >= 3 && b[0] == 0xEF && b[1] == 0xBB &&
	    b[2] == 0xBF)
		i = 3;
	else if (width == 2 && len >= 2 && ((b[0] == 0xFF && b[1] == 0xFE) ||
	    (b[0] == 0xFE && b[1] == 0xFF)))
		i = 2;
	for (; i + (size_t)width <= len; i += (size_t)width) {
		unsigned c;
		if (width == 1)
			c = b[i];
		else if (little)
			c = (unsigned)b[i] | (unsigned)b[i + 1] << 8;
		else
			c = (unsigned)b[i] << 8 | (unsigned)b[i + 1];
		if (c == '<') {
			run = 0;
			*line = cur_line;
			*col = cur_col;
		} else if (c == '\n') {
			cur_line++;
			cur_col = 1;
			continue;
		} else if (c == '=' && ++run > XMLFORM_MAX_EQUALS_RUN) {
			return 1;
		}
		if (width == 1 ? !(utf8 && (c & 0xC0) == 0x80)
		    : !(c >= 0xDC00 && c <= 0xDFFF))
			if (cur_col < INT_MAX)
				cur_col++;
	}
	return 0;
}

/* Read the code unit `u` (0-based, after a byte order mark of `skip`
 * bytes) of a document in `width`-byte units; -1 past the end. */
static long
code_unit(const unsigned char *b, size_t len, size_t skip, int width,
    int little, size_t u)
{
	size_t i = skip + u * (size_t)width;

	if (i + (size_t)width > len)
		return -1;
	if (width == 1)
		return b[i];
	return little ? (long)(b[i] | b[i + 1] << 8) : (long)(b[i] << 8 | b[i + 1]);
}

static int
is_xml_space(long c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A byte order mark fixes the encoding (XML 1.0 §4.3.3, Appendix F): an
 * XML declaration naming another one is a fatal error. libxml2 2.9 lets
 * the declaration win or ignores it (a UTF-8 BOM then "ISO-8859-1" is read
 * as Latin-1; a UTF-16 BOM then "UTF-8" is read as UTF-16), so check the
 * raw bytes first. Only the declaration's pseudo-attributes are read, in
 * ASCII code units of the BOM's width; anything unexpected is left to
 * libxml2. Returns 1 with the error recorded when they disagree. */
static int
bom_contradicts_declaration(const unsigned char *b, size_t len,
    struct form_errors *errs)
{
	static const char xmldecl[] = "<?xml";
	const char *bom, *want;
	size_t skip, u;
	int width, little = 0, line = 1, col;
	char name[16], value[64], norm[64];

	if (len >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF) {
		bom = "UTF-8";
		want = "UTF-8";
		skip = 3;
		width = 1;
	} else if (len >= 2 && b[0] == 0xFF && b[1] == 0xFE) {
		bom = "UTF-16LE";
		want = "UTF-16";
		skip = 2;
		width = 2;
		little = 1;
	} else if (len >= 2 && b[0] == 0xFE && b[1] == 0xFF) {
		bom = "UTF-16BE";
		want = "UTF-16";
		skip = 2;
		width = 2;
	} else {
		return 0;
	}
	for (u = 0; u < sizeof xmldecl - 1; u++)
		if (code_unit(b, len, skip, width, little, u) != xmldecl[u])
			return 0; /* no declaration: the BOM decides */
	if (!is_xml_space(code_unit(b, len, skip, width, little, u)))
		return 0;
	/* Pseudo-attributes: name S? '=' S? quoted value, up to "?>". A
	 * declaration is short; the bound keeps hostile input cheap. */
	col = (int)u + 1;
	while (u < 512) {
		long c = code_unit(b, len, skip, width, little, u);
		size_t n = 0;
		int name_line, name_col;

		if (is_xml_space(c)) {
			if (c == '\n') {
				line++;
				col = 0;
			}
			u++;
			col++;
			continue;
		}
		if (!(c >= 'a' && c <= 'z'))
			return 0; /* "?>" or not a declaration libxml2 accepts */
		name_line = line;
		name_col = col;
		while ((c = code_unit(b, len, skip, width, little, u)) >= 'a' &&
		    c <= 'z') {
			if (n + 1 >= sizeof name)
				return 0;
			name[n++] = (char)c;
			u++;
			col++;
		}
		name[n] = '\0';
		while (is_xml_space(c = code_unit(b, len, skip, width, little, u))) {
			if (c == '\n') {
				line++;
				col = 0;
			}
			u++;
			col++;
		}
		if (c != '=')
			return 0;
		u++;
		col++;
		while (is_xml_space(c = code_unit(b, len, skip, width, little, u))) {
			if (c == '\n') {
				line++;
				col = 0;
			}
			u++;
			col++;
		}
		if (c != '"' && c != '\'')
			return 0;
		long quote = c;
		u++;
		col++;
		n = 0;
		while ((c = code_unit(b, len, skip, width, little, u)) != quote) {
			/* EncName is [A-Za-z][A-Za-z0-9._-]*, and no other
			 * value of the declaration needs more. */
			if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
			    c == '-') || n + 1 >= sizeof value)
				return 0;
			value[n++] = (char)c;
			u++;
			col++;
		}
		value[n] = '\0';
		u++;
		col++;
		if (strcmp(name, "encoding") != 0)
			continue;
		encoding_norm(value, norm, sizeof norm);
		if (strcmp(norm, width == 1 ? "UTF8" : "UTF16") == 0 ||
		    (width == 2 && strcmp(norm, little ? "UTF16LE" : "UTF16BE") == 0))
			return 0;
		form_errors_add(errs, name_line, name_col, "",
		    "the byte order mark says %s but the XML declaration says "
		    "encoding=\"%s\": remove the byte order mark or declare "
		    "encoding=\"%s\"", bom, value, want);
		return 1;
	}
	return 0;
}

/* Called once the XML declaration (if any) is read and the encoding is
 * known, before the first element. */
static void
on_start_document(void *ud)
{
	xmlParserCtxtPtr ctxt = ud;
	struct parse_state *st = ctxt->_private;
	const char *enc = "UTF-8";
	char norm[32];
	int width, line, col;

	xmlSAX2StartDocument(ud);
	if (ctxt->input != NULL && ctxt->input->buf != NULL &&
	    ctxt->input->buf->encoder != NULL &&
	    ctxt->input->buf->encoder->name != NULL)
		enc = ctxt->input->buf->encoder->name;
	width = encoding_width(enc);
	encoding_norm(enc, norm, sizeof norm);
	if (width == 0) {
		stop_with(ctxt, 1, 1, "encoding %s is not accepted: use UTF-8, "
		    "UTF-16, ISO-8859-1, ISO-8859-15 or windows-1252", enc);
		return;
	}
	if (equals_run_pos(st->buf, st->len, width,
	    width == 1 && strcmp(norm, "UTF8") == 0, &line, &col))
		stop_with(ctxt, line, col, "more than %d '=' between two '<': "
		    "an element may have at most %d attributes",
		    XMLFORM_MAX_EQUALS_RUN, XMLFORM_MAX_ATTRIBUTES);
}

/* A DOCTYPE, internal subset or not, is refused before libxml2 reads a
 * single declaration of it (DESIGN §4: no DTD). */
static void
on_doctype(void *ud, const xmlChar *name, const xmlChar *external_id,
    const xmlChar *system_id)
{
	xmlParserCtxtPtr ctxt = ud;
	struct parse_state *st = ctxt->_private;
	int line, col;

	(void)name;
	(void)external_id;
	(void)system_id;
	markup_start_pos(ctxt, "<!DOCTYPE", &line, &col);
	st->doctype = 1;
	stop_with(ctxt, line, col, "%s", "DOCTYPE is not allowed");
}

/* libxml2's element start, then the position of the element's '<' kept in
 * node->_private for error reports; also the depth bound. */
static void
on_start_element(void *ud, const xmlChar *localname, const xmlChar *prefix,
    const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
    int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
	xmlParserCtxtPtr ctxt = ud;
	int line, col;
	int before = ctxt->nodeNr;

	markup_start_pos(ctxt, "<", &line, &col);
	if (nb_attributes + nb_namespaces > XMLFORM_MAX_ATTRIBUTES) {
		stop_with(ctxt, line, col,
		    "an element may have at most %d attributes",
		    XMLFORM_MAX_ATTRIBUTES);
		return;
	}
	if (before + 1 > XMLFORM_MAX_DEPTH) {
		stop_with(ctxt, line, col,
		    "elements may be nested at most %d levels deep",
		    XMLFORM_MAX_DEPTH);
		return;
	}
	xmlSAX2StartElementNs(ud, localname, prefix, uri, nb_namespaces,
	    namespaces, nb_attributes, nb_defaulted, attributes);
	if (ctxt->nodeNr == before + 1 && ctxt->node != NULL)
		ctxt->node->_private = pos_pack(line, col);
}

/* The list of roots for the wrong-root message. */
static void
known_roots(char *out, size_t outlen)
{
	struct pbuf b = { out, 0, outlen, 0 };

	out[0] = '\0';
	for (int k = FORM_UNKNOWN + 1; k < FORM_KIND_COUNT; k++) {
		if (k > FORM_UNKNOWN + 1)
			pbuf_add(&b, k + 1 == FORM_KIND_COUNT ? " or " : ", ");
		pbuf_add(&b, kind_roots[k]);
	}
}

/* libxml2 reports an attribute's violation on its element, naming the
 * attribute in the message ("Element 'line', attribute 'amount': ...").
 * Return that attribute when the element has it, so that the path ends in
 * "/@amount"; otherwise the node itself. */
static const xmlNode *
error_attr(const xmlNode *node, const char *msg)
{
	static const char tag[] = ", attribute '";
	const char *p, *end;
	char name[128];
	const char *uri = NULL, *local = name;

	if (node->type != XML_ELEMENT_NODE || msg == NULL ||
	    strncmp(msg, "Element '", 9) != 0 ||
	    (p = strstr(msg, tag)) == NULL)
		return node;
	p += sizeof tag - 1;
	if ((end = strchr(p, '\'')) == NULL || (size_t)(end - p) >= sizeof name)
		return node;
	memcpy(name, p, (size_t)(end - p));
	name[end - p] = '\0';
	if (name[0] == '{') { /* "{uri}local" */
		char *close = strchr(name, '}');
		if (close == NULL)
			return node;
		*close = '\0';
		uri = name + 1;
		local = close + 1;
	}
	xmlAttrPtr a = xmlHasNsProp(node, BAD_CAST local, BAD_CAST uri);
	return a != NULL && a->type == XML_ATTRIBUTE_NODE ? (const xmlNode *)a : node;
}

static void
on_valid_error(void *ud, xmlErrorPtr err)
{
	struct form_errors *e = ud;
	char msg[512];

	if (err == NULL || err->level < XML_ERR_ERROR)
		return;
	if (e->count >= FORM_ERRORS_MAX) {
		e->dropped++;
		return;
	}
	clean_message(err->message, msg, sizeof msg);
	if (err->node != NULL) {
		form_errors_at(e, error_attr(err->node, err->message), "%s", msg);
	} else {
		form_errors_add(e, err->line, 0, "", "%s", msg);
	}
}

xmlDocPtr
xmlform_parse(const char *buf, size_t len, enum form_kind *kind,
    struct form_errors *errs)
{
	struct parse_state st = { (const unsigned char *)buf, len, errs, 0, 0, 0 };
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc;
	xmlNodePtr root;
	enum form_kind k;
	int before = errs->count + errs->dropped;

	if (kind != NULL)
		*kind = FORM_UNKNOWN;
	if (!xf.ready) {
		form_errors_add(errs, 0, 0, "", "form schemas are not loaded");
		return NULL;
	}
	if (buf == NULL || len == 0) {
		form_errors_add(errs, 1, 1, "", "document is empty");
		return NULL;
	}
	if (len > INT_MAX) {
		form_errors_add(errs, 0, 0, "", "document is too large");
		return NULL;
	}
	if (bom_contradicts_declaration((const unsigned char *)buf, len, errs))
		return NULL;

	ctxt = xmlNewParserCtxt();
	if (ctxt == NULL) {
		form_errors_add(errs, 0, 0, "", "out of memory");
		return NULL;
	}
	/* xmlCtxtReadMemory resets the context but keeps these hooks. */
	ctxt->_private = &st;
	ctxt->sax->serror = on_parse_error;
	ctxt->sax->startDocument = on_start_document;
	ctxt->sax->internalSubset = on_doctype;
	ctxt->sax->externalSubset = on_doctype;
	ctxt->sax->startElementNs = on_start_element;
	doc = xmlCtxtReadMemory(ctxt, buf, (int)len, NULL, NULL,
	    XMLFORM_PARSE_OPTIONS);
	if (doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL)) {
		if (!st.doctype)
			form_errors_add(errs, 0, 0, "", "DOCTYPE is not allowed");
		st.failed = 1;
	}
	if (doc == NULL || st.failed || !ctxt->wellFormed) {
		if (errs->count + errs->dropped == before)
			form_errors_add(errs, 0, 0, "", "document is not well-formed XML");
		xmlFreeDoc(doc);
		xmlFreeParserCtxt(ctxt);
		return NULL;
	}
	xmlFreeParserCtxt(ctxt);

	root = xmlDocGetRootElement(doc);
	k = root != NULL && root->ns != NULL &&
	    xmlStrEqual(root->ns->href, BAD_CAST FORM_NS)
	    ? form_kind_from_root((const char *)root->name) : FORM_UNKNOWN;
	if (k == FORM_UNKNOWN) {
		char roots[256];

		known_roots(roots, sizeof roots);
		if (root != NULL)
			form_errors_at(errs, root,
			    "root element must be one of %s in namespace %s",
			    roots, FORM_NS);
		else
			form_errors_add(errs, 0, 0, "",
			    "root element must be one of %s in namespace %s",
			    roots, FORM_NS);
		xmlFreeDoc(doc);
		return NULL;
	}

	xmlSchemaValidCtxtPtr vc = xf.valid[k];
	xmlSchemaSetValidStructuredErrors(vc, on_valid_error, errs);
	int rc = xmlSchemaValidateDoc(vc, doc);
	xmlSchemaSetValidStructuredErrors(vc, silent_structured, NULL);
	if (rc != 0) {
		if (errs->count + errs->dropped == before)
			form_errors_add(errs, 0, 0, "", rc < 0
			    ? "internal error while validating the document"
			    : "document does not match its schema");
		xmlFreeDoc(doc);
		return NULL;
	}
	if (kind != NULL)
		*kind = k;
	return doc;
}
