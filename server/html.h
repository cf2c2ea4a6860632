/* html.h - building server-rendered HTML pages as libxml2 trees.
 *
 * The pages (the dashboard, the login page) are built node by node: every
 * text goes in as a text node and every attribute value through
 * xmlSetProp, which stores it as text; the HTML serialiser escapes both
 * when it writes the document, so nothing is ever pasted into markup.
 * Strings are first made valid UTF-8 without the control characters XML
 * forbids (each such byte or sequence becomes U+FFFD), so the output is a
 * well-formed UTF-8 document whatever the database or the request held.
 *
 * Pages carry no script and load nothing: one <style> element at most, so
 * they suit HTML_PAGE_CSP. Out-of-memory aborts, as everywhere (util.h). */
#ifndef GEN_HTML_H
#define GEN_HTML_H

#include <libxml/tree.h>

#include "util.h"

/** The Content-Security-Policy of every page: no script at all, inline
 * style, data: images (SVG patterns), forms posting only to this origin,
 * never framed. */
#define HTML_PAGE_CSP \
	"default-src 'none'; style-src 'unsafe-inline'; img-src data:; " \
	"form-action 'self'; frame-ancestors 'none'"

/** p, or abort() when p is NULL (libxml2 returns NULL only when out of
 * memory). */
void *html_must(void *p);

/** A malloc'd copy of s (NULL: "") that is valid UTF-8 and holds only XML
 * characters; anything else becomes U+FFFD. */
char *html_clean_text(const char *s);

/** A new document "<!DOCTYPE html><html lang=…>" with its <head> (charset,
 * viewport, robots noindex, title, and `css` as the one <style> when not
 * NULL; the CSS must be a constant: <style> content is not escaped).
 * Returns the document; *body is its empty <body>. */
xmlDocPtr html_page_new(const char *lang, const char *title, const char *css,
    xmlNodePtr *body);

/** A child element in the parent's namespace (none for HTML, SVG inside an
 * <svg>). */
xmlNodePtr html_el(xmlNodePtr parent, const char *name);
/** Same, with text s inside. */
xmlNodePtr html_el_text(xmlNodePtr parent, const char *name, const char *s);
/** Append text s (cleaned) to n. */
void html_add_text(xmlNodePtr n, const char *s);
void html_add_textf(xmlNodePtr n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/** Set attribute name to value (cleaned; NULL is ""). */
void html_set_attr(xmlNodePtr n, const char *name, const char *value);
void html_set_attrf(xmlNodePtr n, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** A <form method="post" action=…> whose first field is the hidden CSRF
 * token (field csrf_token, see websec.h). */
xmlNodePtr html_post_form(xmlNodePtr parent, const char *action, const char *csrf_token);
/** An <input type="hidden"> in form. */
void html_hidden(xmlNodePtr form, const char *name, const char *value);

/** Serialise doc with the HTML serialiser, unformatted (formatting would
 * add newlines inside some elements and change their text), appending the
 * UTF-8 bytes to out. Returns 0, or -1 (out unchanged) on a serialiser
 * failure. */
int html_serialise(xmlDocPtr doc, struct sbuf *out);

#endif
