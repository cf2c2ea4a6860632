/* html.c - see html.h. */
#include "html.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/HTMLtree.h>
#include <libxml/xmlIO.h>

#define REPLACEMENT "\xEF\xBF\xBD"

void *
html_must(void *p)
{
	if (p == NULL)
		abort();
	return p;
}

/* Length of the UTF-8 sequence at s and its code point, or 0 when it is
 * not a valid, shortest-form sequence of a scalar value. */
static size_t
utf8_next(const unsigned char *s, uint32_t *cp)
{
	size_t n;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xE0) == 0xC0) {
		n = 2, c = s[0] & 0x1F, min = 0x80;
	} else if ((s[0] & 0xF0) == 0xE0) {
		n = 3, c = s[0] & 0x0F, min = 0x800;
	} else if ((s[0] & 0xF8) == 0xF0) {
		n = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)   /* also stops at the NUL */
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}

/* XML 1.0 Char production. */
static int
xml_char(uint32_t c)
{
	return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
	    (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* The serialiser copies bytes it does not escape, so cleaning keeps the
 * page well-formed whatever the database holds. */
char *
html_clean_text(const char *s)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	struct sbuf b = { 0 };

	sbuf_reserve(&b, strlen((const char *)p));
	sbuf_add(&b, "", 0);   /* terminated even when s is empty */
	while (*p != '\0') {
		uint32_t c = 0;
		size_t n = utf8_next(p, &c);

		if (n == 0 || !xml_char(c))
			sbuf_adds(&b, REPLACEMENT);
		else
			sbuf_add(&b, p, n);
		p += n != 0 ? n : 1;
	}
	return sbuf_detach(&b);
}

xmlNodePtr
html_el(xmlNodePtr parent, const char *name)
{
	return html_must(xmlNewChild(parent, parent->ns, BAD_CAST name, NULL));
}

void
html_add_text(xmlNodePtr n, const char *s)
{
	char *t = html_clean_text(s);
	xmlNodePtr tn = html_must(xmlNewDocText(n->doc, BAD_CAST t));

	free(t);
	html_must(xmlAddChild(n, tn));
}

void
html_add_textf(xmlNodePtr n, const char *fmt, ...)
{
	struct sbuf b = { 0 };
	va_list ap;

	va_start(ap, fmt);
	sbuf_vprintf(&b, fmt, ap);
	va_end(ap);
	html_add_text(n, b.data);
	sbuf_free(&b);
}

xmlNodePtr
html_el_text(xmlNodePtr parent, const char *name, const char *s)
{
	xmlNodePtr n = html_el(parent, name);

	html_add_text(n, s);
	return n;
}

/* xmlSetProp stores the value as a text node: no entity is parsed. */
void
html_set_attr(xmlNodePtr n, const char *name, const char *value)
{
	char *t = html_clean_text(value);

	html_must(xmlSetProp(n, BAD_CAST name, BAD_CAST t));
	free(t);
}

void
html_set_attrf(xmlNodePtr n, const char *name, const char *fmt, ...)
{
	struct sbuf b = { 0 };
	va_list ap;

	va_start(ap, fmt);
	sbuf_vprintf(&b, fmt, ap);
	va_end(ap);
	html_set_attr(n, name, b.data);
	sbuf_free(&b);
}

xmlDocPtr
html_page_new(const char *lang, const char *title, const char *css, xmlNodePtr *body)
{
	xmlDocPtr doc = html_must(htmlNewDocNoDtD(NULL, NULL));
	xmlNodePtr html, head, m;

	html_must(xmlCreateIntSubset(doc, BAD_CAST "html", NULL, NULL));   /* <!DOCTYPE html> */
	html = html_must(xmlNewDocNode(doc, NULL, BAD_CAST "html", NULL));
	xmlDocSetRootElement(doc, html);
	html_set_attr(html, "lang", lang);
	head = html_el(html, "head");
	m = html_el(head, "meta");
	html_set_attr(m, "charset", "utf-8");
	m = html_el(head, "meta");
	html_set_attr(m, "name", "viewport");
	html_set_attr(m, "content", "width=device-width, initial-scale=1");
	m = html_el(head, "meta");
	html_set_attr(m, "name", "robots");
	html_set_attr(m, "content", "noindex, nofollow");
	html_el_text(head, "title", title);
	if (css != NULL)
		html_el_text(head, "style", css);
	*body = html_el(html, "body");
	return doc;
}

void
html_hidden(xmlNodePtr form, const char *name, const char *value)
{
	xmlNodePtr in = html_el(form, "input");

	html_set_attr(in, "type", "hidden");
	html_set_attr(in, "name", name);
	html_set_attr(in, "value", value);
}

xmlNodePtr
html_post_form(xmlNodePtr parent, const char *action, const char *csrf_token)
{
	xmlNodePtr form = html_el(parent, "form");

	html_set_attr(form, "method", "post");
	html_set_attr(form, "action", action);
	html_hidden(form, "csrf_token", csrf_token);
	return form;
}

/* Into a buffer without encoder: the output is the tree's UTF-8, and only
 * markup characters are escaped. */
int
html_serialise(xmlDocPtr doc, struct sbuf *out)
{
	xmlOutputBufferPtr ob = html_must(xmlAllocOutputBuffer(NULL));
	const xmlChar *p;
	int rc = -1;

	htmlDocContentDumpFormatOutput(ob, doc, "UTF-8", 0);
	xmlOutputBufferFlush(ob);
	p = xmlOutputBufferGetContent(ob);
	if (ob->error == 0 && p != NULL) {
		sbuf_add(out, p, xmlOutputBufferGetSize(ob));
		rc = 0;
	}
	xmlOutputBufferClose(ob);
	return rc;
}
