/* forms_fixture.h - what the form tests share: the schemas loaded from
 * forms/ (tests run from the repository root), one error list, and the
 * example documents read and edited as text. Include after unit.h. */
#ifndef GEN_FORMS_FIXTURE_H
#define GEN_FORMS_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "form.h"
#include "util.h"
#include "xmlform.h"

static struct form_errors errs;

static void
finish(void)
{
	xmlform_shutdown();
	xmlCleanupParser();
}

/* Load the schemas (once per case: cheap, and each case starts clean). */
static void
setup(void)
{
	static int once;
	char err[512];

	if (!once) {
		once = 1;
		atexit(finish);
	}
	if (xmlform_init("forms", err, sizeof err) != 0) {
		fprintf(stderr, "xmlform_init: %s\n", err);
		exit(2);
	}
	memset(&errs, 0, sizeof errs);
}

/* Every error of the last parse, on stderr. */
static inline void
dump_errors(void)
{
	for (int i = 0; i < errs.count; i++)
		fprintf(stderr, "    %d:%d %s %s\n", errs.items[i].line,
		    errs.items[i].column, errs.items[i].path, errs.items[i].message);
}

/* Parse and validate text as a document of kind `want`; NULL (errors in
 * errs) when refused or of another kind. */
static inline xmlDocPtr
parse_kind(const char *text, enum form_kind want)
{
	enum form_kind kind = FORM_UNKNOWN;
	xmlDocPtr doc;

	setup();
	doc = xmlform_parse(text, strlen(text), &kind, &errs);
	if (doc != NULL && kind != want) {
		fprintf(stderr, "  parsed as kind %d, expected %d\n", kind, want);
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

/* `static int name(const char *text, type *out)`: parse text as `kind`
 * and extract it with `extract`; -2 (out zeroed, errors shown) when the
 * document is refused, else what extract returns. */
#define FORM_FROM(name, type, kind, extract)                                  \
	static int name(const char *text, type *out)                          \
	{                                                                     \
		xmlDocPtr doc = parse_kind(text, kind);                       \
		if (doc == NULL) {                                            \
			dump_errors();                                        \
			memset(out, 0, sizeof *out);                          \
			return -2;                                            \
		}                                                             \
		int rc = extract(doc, out, &errs);                            \
		xmlFreeDoc(doc);                                              \
		return rc;                                                    \
	}

/* The file's bytes, NUL-terminated (its length in *len when len is not
 * NULL); "" after saying so when it cannot be opened. */
static inline char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct sbuf b = { 0 };
	char chunk[4096];
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "  cannot open %s\n", path);
		if (len != NULL)
			*len = 0;
		return xstrdup("");
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		sbuf_add(&b, chunk, n);
	fclose(f);
	if (len != NULL)
		*len = b.len;
	return sbuf_detach(&b);
}

/* doc with the first `from` replaced by `to`; frees doc. */
static inline char *
edit(char *doc, const char *from, const char *to)
{
	char *at = strstr(doc, from);
	struct sbuf b = { 0 };

	if (at == NULL) {
		fprintf(stderr, "  edit: '%s' not found\n", from);
		return doc;
	}
	sbuf_add(&b, doc, (size_t)(at - doc));
	sbuf_adds(&b, to);
	sbuf_adds(&b, at + strlen(from));
	free(doc);
	return sbuf_detach(&b);
}

#endif
