/* test_xmlform.c - hardened parsing and validation of the §4 forms.
 * Runs from the repository root (schemas in forms/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>

#include "unit.h"
#include "forms_fixture.h"
#include "util.h"
#include "xmlform.h"

/* Parse buf (len bytes); returns 1 when accepted. errs holds the errors. */
static int
parse_n(const char *buf, size_t len, enum form_kind *kind)
{
	xmlDocPtr doc;

	setup();
	doc = xmlform_parse(buf, len, kind, &errs);
	if (doc == NULL)
		return 0;
	xmlFreeDoc(doc);
	return 1;
}

static int
parse(const char *s)
{
	return parse_n(s, strlen(s), NULL);
}

static int
has_error(const char *needle)
{
	for (int i = 0; i < errs.count; i++)
		if (strstr(errs.items[i].message, needle) != NULL)
			return 1;
	return 0;
}

/* The project call example with one substring replaced (unchanged, said
 * so, when the substring is missing: a refusal test then fails). */
static char *
call_with(const char *from, const char *to)
{
	return edit(read_file("forms/examples/call-project.xml", NULL), from, to);
}

/* ---- cases --------------------------------------------------------------- */

static void
kinds_and_roots(void)
{
	CHECK_EQ_STR(form_kind_root(FORM_CALL), "call");
	CHECK_EQ_STR(form_kind_root(FORM_PROJECT_APPLICATION), "projectApplication");
	CHECK_EQ_STR(form_kind_root(FORM_LABEL_APPLICATION), "labelApplication");
	CHECK_EQ_STR(form_kind_root(FORM_RECEIPT), "receipt");
	CHECK_EQ_STR(form_kind_root(FORM_REVIEWER), "reviewer");
	CHECK_EQ_STR(form_kind_root(FORM_PANEL), "panel");
	CHECK_EQ_STR(form_kind_root(FORM_CONFLICT), "conflict");
	CHECK_EQ_STR(form_kind_root(FORM_REVIEW), "review");
	CHECK_EQ_STR(form_kind_root(FORM_DECISIONS), "decisions");
	CHECK_EQ_STR(form_kind_root(FORM_COHORT_REPORT), "cohortReport");
	CHECK(form_kind_root(FORM_UNKNOWN) == NULL);
	CHECK(form_kind_root(FORM_KIND_COUNT) == NULL);
	CHECK_EQ_INT(form_kind_from_root("labelApplication"), FORM_LABEL_APPLICATION);
	CHECK_EQ_INT(form_kind_from_root("review"), FORM_REVIEW);
	CHECK_EQ_INT(form_kind_from_root("cohortReport"), FORM_COHORT_REPORT);
	CHECK_EQ_INT(form_kind_from_root("dossier"), FORM_UNKNOWN);
	CHECK_EQ_INT(form_kind_from_root(NULL), FORM_UNKNOWN);
}

static void
examples_validate(void)
{
	static const struct { const char *file; enum form_kind kind; } ex[] = {
		{ "forms/examples/call-project.xml", FORM_CALL },
		{ "forms/examples/call-label.xml", FORM_CALL },
		{ "forms/examples/projectApplication.xml", FORM_PROJECT_APPLICATION },
		{ "forms/examples/labelApplication.xml", FORM_LABEL_APPLICATION },
	};

	for (size_t i = 0; i < ARRAY_LEN(ex); i++) {
		size_t len;
		char *doc = read_file(ex[i].file, &len);
		enum form_kind kind = FORM_UNKNOWN;

		int ok = parse_n(doc, len, &kind);
		if (!ok) {
			fprintf(stderr, "  %s:\n", ex[i].file);
			dump_errors();
		}
		CHECK(ok);
		CHECK_EQ_INT(kind, ex[i].kind);
		CHECK_EQ_INT(errs.count, 0);
		free(doc);
	}
}

static void
receipt_validates(void)
{
	static const char good[] =
	    "<receipt xmlns=\"urn:gen:forms:1\">"
	    "<tracking>GEN-2026-000123</tracking><version>2</version>"
	    "<receivedAt>2026-03-02T10:15:30.123456Z</receivedAt>"
	    "<sha256>e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855</sha256>"
	    "<signature>4yJpEiu38Jk5en4ZnYAFfDqjncElOZlSpjm2aEPIbX05vEhkS3tUOAj1HIeD3wQjkuCv7NH10Srxvo4O2n8rug==</signature>"
	    "</receipt>";
	enum form_kind kind;
	char *bad;

	CHECK(parse_n(good, strlen(good), &kind));
	CHECK_EQ_INT(kind, FORM_RECEIPT);
	dump_errors();

	/* Upper-case hex, a local time and a 63-byte signature are refused. */
	bad = xstrdup(good);
	memcpy(strstr(bad, "e3b0"), "E3B0", 4);
	CHECK(!parse(bad));
	CHECK_EQ_STR(errs.items[0].path, "/receipt/sha256");
	free(bad);
	bad = xstrdup(good);
	memcpy(strstr(bad, ".123456Z"), ".1234567", 8);
	CHECK(!parse(bad));
	free(bad);
	bad = xstrdup(good);
	memcpy(strstr(bad, "GEN-2026"), "GEN-26XX", 8);
	CHECK(!parse(bad));
	CHECK_EQ_STR(errs.items[0].path, "/receipt/tracking");
	free(bad);
	CHECK(!parse("<receipt xmlns=\"urn:gen:forms:1\"><tracking>GEN-2026-000123</tracking>"
	    "<version>0</version><receivedAt>2026-03-02T10:15:30.123456Z</receivedAt>"
	    "<sha256>e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855</sha256>"
	    "<signature>AAAA</signature></receipt>"));
	CHECK_EQ_INT(errs.count, 2); /* version 0, signature length */
}

static void
doctype_external_entity(void)
{
	/* The entity names a file that exists: it must not be read. */
	static const char doc[] =
	    "<?xml version=\"1.0\"?>\n"
	    "<!DOCTYPE call [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
	    "<call xmlns=\"urn:gen:forms:1\">&x;</call>\n";

	CHECK(!parse(doc));
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].message, "DOCTYPE is not allowed");
	CHECK_EQ_INT(errs.items[0].line, 2);
	CHECK_EQ_INT(errs.items[0].column, 1);

	/* After a comment, further along a line. */
	CHECK(!parse("<!-- é --> <!DOCTYPE call SYSTEM \"file:///dev/zero\"><call/>"));
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].message, "DOCTYPE is not allowed");
	CHECK_EQ_INT(errs.items[0].line, 1);
	CHECK_EQ_INT(errs.items[0].column, 12);

	/* SSRF and parameter entities never get as far as a request. */
	CHECK(!parse("<!DOCTYPE r [<!ENTITY % p SYSTEM \"http://169.254.169.254/x.dtd\"> %p;]><r/>"));
	CHECK_EQ_STR(errs.items[0].message, "DOCTYPE is not allowed");
	CHECK(!parse("<!DOCTYPE r PUBLIC \"-//X//Y\" \"http://127.0.0.1:9/x.dtd\"><r/>"));
	CHECK_EQ_STR(errs.items[0].message, "DOCTYPE is not allowed");
}

/* The process-wide loader refuses everything once xmlform_init has run,
 * even for a parse that asks for entity substitution. */
static void
loader_denies_everything(void)
{
	char path[] = "/tmp/gen-xmlform-XXXXXX";
	int fd = mkstemp(path);
	char doc[512];
	xmlParserCtxtPtr ctxt;
	xmlParserInputPtr in;

	setup();
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, "SECRET-CONTENT", 14) == 14);
	close(fd);

	ctxt = xmlNewParserCtxt();
	in = xmlLoadExternalEntity(path, NULL, ctxt);
	CHECK(in == NULL);
	if (in != NULL)
		xmlFreeInputStream(in);
	xmlFreeParserCtxt(ctxt);

	snprintf(doc, sizeof doc, "<!DOCTYPE r [<!ENTITY x SYSTEM \"file://%s\">]><r>&x;</r>", path);
	xmlDocPtr d = xmlReadMemory(doc, (int)strlen(doc), NULL, NULL,
	    XML_PARSE_NOENT | XML_PARSE_DTDLOAD | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (d != NULL) {
		xmlChar *c = xmlNodeGetContent(xmlDocGetRootElement(d));
		CHECK(c == NULL || strstr((const char *)c, "SECRET") == NULL);
		xmlFree(c);
		xmlFreeDoc(d);
	}
	unlink(path);
}

static void
billion_laughs(void)
{
	struct sbuf b = { 0 };

	sbuf_adds(&b, "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n");
	for (int i = 1; i <= 9; i++) {
		sbuf_printf(&b, " <!ENTITY lol%d \"", i);
		for (int j = 0; j < 10; j++)
			sbuf_printf(&b, i == 1 ? "&lol;" : "&lol%d;", i - 1);
		sbuf_adds(&b, "\">\n");
	}
	sbuf_adds(&b, "]>\n<lolz>&lol9;</lolz>\n");
	CHECK(!parse(b.data));
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].message, "DOCTYPE is not allowed");
	CHECK_EQ_INT(errs.items[0].line, 2);
	/* Without a DTD no entity but the five predefined ones exists. */
	CHECK(!parse("<call xmlns=\"urn:gen:forms:1\">&lol9;</call>"));
	CHECK(has_error("Entity 'lol9' not defined"));
	sbuf_free(&b);
}

static void
xsi_schema_location_ignored(void)
{
	/* A valid document naming another schema is still valid against ours,
	 * and the named schema is never fetched (the port is closed anyway). */
	char *doc = call_with("kind=\"project\"",
	    "kind=\"project\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	    "xsi:schemaLocation=\"urn:gen:forms:1 http://127.0.0.1:9/evil.xsd\"");
	CHECK(parse(doc));
	dump_errors();
	free(doc);
	/* An invalid one stays invalid even if its own schema would allow it. */
	doc = call_with("<budget>2500000.00</budget>",
	    "<budget xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	    "xsi:noNamespaceSchemaLocation=\"file:///etc/passwd\">lots</budget>");
	CHECK(!parse(doc));
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].path, "/call/budget");
	free(doc);
}

static void
xinclude_not_expanded(void)
{
	char *doc = call_with("<title>",
	    "<xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" "
	    "href=\"file:///etc/passwd\" parse=\"text\"/><title>");

	CHECK(!parse(doc));
	CHECK(errs.count >= 1);
	CHECK_EQ_STR(errs.items[0].path, "/call/xi:include");
	CHECK(strstr(errs.items[0].message, "not expected") != NULL);
	CHECK_EQ_INT(errs.items[0].line, 3);
	CHECK_EQ_INT(errs.items[0].column, 3);
	free(doc);
}

static char *
nested(int depth)
{
	struct sbuf b = { 0 };

	sbuf_adds(&b, "<call xmlns=\"urn:gen:forms:1\">");
	for (int i = 1; i < depth; i++)
		sbuf_adds(&b, "<a>");
	for (int i = 1; i < depth; i++)
		sbuf_adds(&b, "</a>");
	sbuf_adds(&b, "</call>");
	return sbuf_detach(&b);
}

static void
depth_bound(void)
{
	char *doc = nested(256);

	/* 256 levels parse; the schema then refuses the stray <a>. */
	CHECK(!parse(doc));
	CHECK(!has_error("nested"));
	CHECK(has_error("This element is not expected"));
	free(doc);

	doc = nested(257);
	CHECK(!parse(doc));
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].message,
	    "elements may be nested at most 256 levels deep");
	CHECK_EQ_INT(errs.items[0].line, 1);
	CHECK_EQ_INT(errs.items[0].column, 31 + 255 * 3);
	free(doc);

	doc = nested(100000);
	CHECK(!parse(doc));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(has_error("nested at most 256"));
	free(doc);
}

static void
attributes(void)
{
	struct sbuf b = { 0 };

	CHECK(!parse("<call xmlns=\"urn:gen:forms:1\" ref=\"ABC\" kind=\"label\" ref=\"DEF\"/>"));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(has_error("Attribute ref redefined"));
	CHECK_EQ_INT(errs.items[0].line, 1);

	/* 64 attributes are parsed (and refused by the schema), 65 are not. */
	sbuf_adds(&b, "<call xmlns=\"urn:gen:forms:1\"");
	for (int i = 1; i < 64; i++)
		sbuf_printf(&b, " a%d=\"\"", i);
	sbuf_adds(&b, "/>");
	CHECK(!parse(b.data));
	CHECK(has_error("The attribute 'a1' is not allowed"));
	sbuf_reset(&b);
	sbuf_adds(&b, "<call xmlns=\"urn:gen:forms:1\"");
	for (int i = 1; i < 65; i++)
		sbuf_printf(&b, " a%d=\"\"", i);
	sbuf_adds(&b, "/>");
	CHECK(!parse(b.data));
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].message, "an element may have at most 64 attributes");
	CHECK_EQ_INT(errs.items[0].column, 1);

	/* 100,000 attributes (or xmlns declarations) are refused before
	 * libxml2's quadratic duplicate check runs. */
	sbuf_reset(&b);
	sbuf_adds(&b, "<call xmlns=\"urn:gen:forms:1\"");
	for (int i = 0; i < 100000; i++)
		sbuf_printf(&b, " a%x=\"\"", i);
	sbuf_adds(&b, "/>");
	int64_t t0 = now_usec();
	CHECK(!parse(b.data));
	CHECK(now_usec() - t0 < 5000000);
	CHECK_EQ_INT(errs.count, 1);
	CHECK(has_error("at most 64 attributes"));
	sbuf_reset(&b);
	sbuf_adds(&b, "<call xmlns=\"urn:gen:forms:1\"");
	for (int i = 0; i < 10000; i++)
		sbuf_printf(&b, " xmlns:p%d=\"urn:x:%d\"", i, i);
	sbuf_adds(&b, "/>");
	CHECK(!parse(b.data));
	CHECK(has_error("at most 64 attributes"));
	sbuf_free(&b);

	/* Undeclared prefixes. */
	CHECK(!parse("<call xmlns=\"urn:gen:forms:1\"><p:title/></call>"));
	CHECK(has_error("Namespace prefix p on title is not defined"));
	CHECK(!parse("<call xmlns=\"urn:gen:forms:1\" p:ref=\"ABC\"/>"));
	CHECK(errs.count >= 1);
}

static void
wrong_root(void)
{
	static const char msg[] = "root element must be one of call, "
	    "projectApplication, labelApplication, receipt, reviewer, panel, "
	    "conflict, review, decisions or cohortReport in namespace "
	    "urn:gen:forms:1";

	CHECK(!parse("<?xml version=\"1.0\"?>\n  <dossier xmlns=\"urn:gen:forms:1\"/>"));
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].message, msg);
	CHECK_EQ_INT(errs.items[0].line, 2);
	CHECK_EQ_INT(errs.items[0].column, 3);
	CHECK_EQ_STR(errs.items[0].path, "/dossier");

	CHECK(!parse("<call xmlns=\"urn:gen:forms:2\" ref=\"ABC\" kind=\"label\"/>"));
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].message, msg);
	CHECK(!parse("<call ref=\"ABC\" kind=\"label\"/>"));
	CHECK_EQ_STR(errs.items[0].message, msg);
	/* A prefixed root in the right namespace is fine. */
	char *doc = call_with("<call xmlns=\"urn:gen:forms:1\"",
	    "<call xmlns=\"urn:gen:forms:1\" xmlns:g=\"urn:gen:forms:1\"");
	CHECK(parse(doc));
	free(doc);
}

/* Append s (UTF-8, BMP only) to b as UTF-16 with its byte order mark. */
static void
to_utf16(struct sbuf *b, const char *s, size_t len, int big_endian)
{
	sbuf_add(b, big_endian ? "\xFE\xFF" : "\xFF\xFE", 2);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		unsigned cp = c;
		if (c >= 0x80) { /* decode the UTF-8 */
			int n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
			cp = c & (0x3F >> n);
			for (int k = 0; k < n; k++)
				cp = cp << 6 | ((unsigned char)s[++i] & 0x3F);
		}
		char u[2] = { (char)(cp & 0xFF), (char)(cp >> 8) };
		if (big_endian) {
			char t = u[0];
			u[0] = u[1];
			u[1] = t;
		}
		sbuf_add(b, u, 2);
	}
}

static void
encodings(void)
{
	size_t len;
	char *doc = read_file("forms/examples/call-label.xml", &len);
	struct sbuf b = { 0 };
	enum form_kind kind;

	/* Labelled UTF-16, bytes UTF-8. */
	CHECK(!parse("<?xml version=\"1.0\" encoding=\"UTF-16\"?><call xmlns=\"urn:gen:forms:1\"/>"));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(has_error("UTF-16"));

	/* Real UTF-16 (with a BOM) is read, declared UTF-16 or undeclared. */
	char *doc16 = call_with("encoding=\"UTF-8\"", "encoding=\"UTF-16\"");
	to_utf16(&b, doc16, strlen(doc16), 0);
	CHECK(parse_n(b.data, b.len, &kind));
	CHECK_EQ_INT(kind, FORM_CALL);
	dump_errors();
	sbuf_reset(&b);
	to_utf16(&b, doc16, strlen(doc16), 1);
	CHECK(parse_n(b.data, b.len, &kind));
	CHECK_EQ_INT(kind, FORM_CALL);
	dump_errors();
	free(doc16);
	sbuf_reset(&b);
	const char *body = strstr(doc, "<call ");
	to_utf16(&b, body, strlen(body), 0);
	CHECK(parse_n(b.data, b.len, &kind));
	CHECK_EQ_INT(kind, FORM_CALL);
	dump_errors();
	sbuf_reset(&b);

	/* ISO-8859-1 is read. */
	static const char latin1[] = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
	    "<receipt xmlns=\"urn:gen:forms:1\"><tracking>GEN-2026-000001</tracking>"
	    "<version>1</version><receivedAt>2026-03-02T10:15:30.123456Z</receivedAt>"
	    "<sha256>e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855</sha256>"
	    "<signature>4yJpEiu38Jk5en4ZnYAFfDqjncElOZlSpjm2aEPIbX05vEhkS3tUOAj1HIeD3wQjkuCv7NH10Srxvo4O2n8rug==</signature>"
	    "<!-- caf\xE9 --></receipt>";
	CHECK(parse_n(latin1, sizeof latin1 - 1, &kind));
	CHECK_EQ_INT(kind, FORM_RECEIPT);
	dump_errors();

	/* UTF-7 and other exotic encodings are refused. */
	CHECK(!parse("<?xml version=\"1.0\" encoding=\"UTF-7\"?>+ADw-call/+AD4-"));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(has_error("encoding UTF-7 is not accepted"));

	/* Invalid UTF-8, an overlong '/', a surrogate and NUL. */
	CHECK(!parse("<call xmlns=\"urn:gen:forms:1\"><title>a\xC3\x28</title></call>"));
	CHECK(has_error("not proper UTF-8"));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(!parse("<call xmlns=\"urn:gen:forms:1\"><title>\xC0\xAF</title></call>"));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(!parse("<call xmlns=\"urn:gen:forms:1\"><title>&#xD800;</title></call>"));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(!parse("<call xmlns=\"urn:gen:forms:1\"><title>&#0;</title></call>"));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(has_error("invalid xmlChar value 0"));
	CHECK_EQ_INT(errs.items[0].line, 1);
	static const char nul[] = "<call xmlns=\"urn:gen:forms:1\"><title>a\0b</title></call>";
	CHECK(!parse_n(nul, sizeof nul - 1, NULL));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(has_error("0x0"));
	sbuf_free(&b);
	free(doc);
}

static void
bom_against_declaration(void)
{
	static const char msg16[] = "the byte order mark says UTF-16LE but the "
	    "XML declaration says encoding=\"UTF-8\": remove the byte order "
	    "mark or declare encoding=\"UTF-16\"";
	static const char msg8[] = "the byte order mark says UTF-8 but the "
	    "XML declaration says encoding=\"ISO-8859-1\": remove the byte order "
	    "mark or declare encoding=\"UTF-8\"";
	struct sbuf b = { 0 };
	enum form_kind kind;
	size_t len;
	char *doc = read_file("forms/examples/call-label.xml", &len);
	char *s;

	CHECK(doc != NULL && strncmp(doc, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 38) == 0);

	/* A UTF-16LE BOM on a document declared UTF-8 (whose declaration is
	 * itself in UTF-16): the encoding pseudo-attribute is at 1:21. */
	to_utf16(&b, doc, len, 0);
	CHECK(!parse_n(b.data, b.len, &kind));
	CHECK_EQ_INT(kind, FORM_UNKNOWN);
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].message, msg16);
	CHECK_EQ_INT(errs.items[0].line, 1);
	CHECK_EQ_INT(errs.items[0].column, 21);
	/* The same in big-endian, and against a single-byte encoding. */
	sbuf_reset(&b);
	to_utf16(&b, doc, len, 1);
	CHECK(!parse_n(b.data, b.len, NULL));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(has_error("byte order mark says UTF-16BE"));
	CHECK(has_error("encoding=\"UTF-8\""));
	s = call_with("encoding=\"UTF-8\"", "encoding='windows-1252'");
	sbuf_reset(&b);
	to_utf16(&b, s, strlen(s), 0);
	CHECK(!parse_n(b.data, b.len, NULL));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(has_error("encoding=\"windows-1252\""));
	free(s);

	/* A UTF-8 BOM on a document declared ISO-8859-1 is not read as
	 * Latin-1. */
	s = call_with("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"");
	sbuf_reset(&b);
	sbuf_adds(&b, "\xEF\xBB\xBF");
	sbuf_adds(&b, s);
	free(s);
	CHECK(!parse_n(b.data, b.len, &kind));
	CHECK_EQ_INT(kind, FORM_UNKNOWN);
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].message, msg8);
	CHECK_EQ_INT(errs.items[0].line, 1);
	CHECK_EQ_INT(errs.items[0].column, 21);
	/* ... nor one declared UTF-16; the position follows line breaks
	 * inside the declaration. */
	CHECK(!parse("\xEF\xBB\xBF<?xml version=\"1.0\"\n   encoding = 'utf-16'?>"
	    "<call xmlns=\"urn:gen:forms:1\"/>"));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(has_error("byte order mark says UTF-8"));
	CHECK(has_error("encoding=\"utf-16\""));
	CHECK_EQ_INT(errs.items[0].line, 2);
	CHECK_EQ_INT(errs.items[0].column, 4);

	/* A UTF-8 BOM with encoding="UTF-8" (any spelling) or without an
	 * encoding declaration is fine, as is no BOM at all. */
	sbuf_reset(&b);
	sbuf_adds(&b, "\xEF\xBB\xBF");
	sbuf_add(&b, doc, len);
	CHECK(parse_n(b.data, b.len, &kind));
	CHECK_EQ_INT(kind, FORM_CALL);
	dump_errors();
	s = call_with("encoding=\"UTF-8\"", "encoding='utf8' standalone='yes'");
	sbuf_reset(&b);
	sbuf_adds(&b, "\xEF\xBB\xBF");
	sbuf_adds(&b, s);
	free(s);
	CHECK(parse_n(b.data, b.len, &kind));
	dump_errors();
	s = call_with(" encoding=\"UTF-8\"", "");
	sbuf_reset(&b);
	sbuf_adds(&b, "\xEF\xBB\xBF");
	sbuf_adds(&b, s);
	CHECK(parse_n(b.data, b.len, &kind));
	dump_errors();
	/* No encoding declaration in UTF-16 either. */
	sbuf_reset(&b);
	to_utf16(&b, s, strlen(s), 1);
	CHECK(parse_n(b.data, b.len, &kind));
	CHECK_EQ_INT(kind, FORM_CALL);
	dump_errors();
	free(s);
	CHECK(parse_n(doc, len, &kind));
	/* Not a declaration: left to libxml2. */
	CHECK(!parse("\xEF\xBB\xBF<?xml-stylesheet encoding='latin1'?>"));
	CHECK(!has_error("byte order mark"));
	/* A truncated declaration after a BOM reads nothing past the end. */
	CHECK(!parse_n("\xFF\xFE<\0?\0x\0m\0l\0 \0e\0n\0", 18, NULL));
	CHECK(!has_error("byte order mark"));
	sbuf_free(&b);
	free(doc);
}

static void
equals_run_position(void)
{
	struct sbuf b = { 0 }, u = { 0 };

	/* The error points at the '<' that opens the offending tag. */
	sbuf_adds(&b, "<call");
	for (int i = 0; i < 10001; i++)
		sbuf_printf(&b, " a%x=\"\"", i);
	sbuf_adds(&b, "/>");
	CHECK(!parse(b.data));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(has_error("more than 10000 '='"));
	CHECK_EQ_INT(errs.items[0].line, 1);
	CHECK_EQ_INT(errs.items[0].column, 1);

	/* On a later line, after multi-byte characters (UTF-8). */
	sbuf_reset(&b);
	sbuf_adds(&b, "<?xml version=\"1.0\"?>\n<!-- \xC3\xA9t\xC3\xA9 -->\n"
	    "<call xmlns=\"urn:gen:forms:1\">\n  <!-- caf\xC3\xA9 a=b --> <title");
	for (int i = 0; i < 10001; i++)
		sbuf_printf(&b, " a%x=\"\"", i);
	sbuf_adds(&b, "/></call>");
	CHECK(!parse(b.data));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(has_error("more than 10000 '='"));
	CHECK_EQ_INT(errs.items[0].line, 4);
	CHECK_EQ_INT(errs.items[0].column, 2 + 17 + 1 + 1);

	/* A UTF-8 BOM is not a column. */
	sbuf_reset(&u);
	sbuf_adds(&u, "\xEF\xBB\xBF");
	sbuf_add(&u, b.data, b.len);
	CHECK(!parse_n(u.data, u.len, NULL));
	CHECK_EQ_INT(errs.items[0].line, 4);
	CHECK_EQ_INT(errs.items[0].column, 21);

	/* UTF-16: columns in characters, the BOM excluded. */
	sbuf_reset(&u);
	to_utf16(&u, b.data, b.len, 0);
	CHECK(!parse_n(u.data, u.len, NULL));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(has_error("more than 10000 '='"));
	CHECK_EQ_INT(errs.items[0].line, 4);
	CHECK_EQ_INT(errs.items[0].column, 21);
	sbuf_reset(&u);
	to_utf16(&u, b.data, b.len, 1);
	CHECK(!parse_n(u.data, u.len, NULL));
	CHECK_EQ_INT(errs.items[0].line, 4);
	CHECK_EQ_INT(errs.items[0].column, 21);

	/* Latin-1: every byte is a character. */
	sbuf_reset(&b);
	sbuf_adds(&b, "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n"
	    "<!-- \xE9\xE9 --><call");
	for (int i = 0; i < 10001; i++)
		sbuf_printf(&b, " a%x=\"\"", i);
	sbuf_adds(&b, "/>");
	CHECK(!parse(b.data));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(has_error("more than 10000 '='"));
	CHECK_EQ_INT(errs.items[0].line, 2);
	CHECK_EQ_INT(errs.items[0].column, 12);

	/* Before any '<' (text cannot start a document, but the scan sees
	 * it first): the start of the document. */
	sbuf_reset(&b);
	sbuf_adds(&b, "<?xml version=\"1.0\"?>");
	for (int i = 0; i < 10001; i++)
		sbuf_adds(&b, "=");
	CHECK(!parse(b.data));
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_INT(errs.items[0].line, 1);
	CHECK_EQ_INT(errs.items[0].column, 1);
	sbuf_free(&b);
	sbuf_free(&u);
}

static void
malformed(void)
{
	CHECK(!parse("<call xmlns=\"urn:gen:forms:1\"/><call xmlns=\"urn:gen:forms:1\"/>"));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(has_error("Extra content at the end of the document"));
	CHECK_EQ_INT(errs.items[0].line, 1);
	CHECK_EQ_INT(errs.items[0].column, 32);
	CHECK(!parse("<call xmlns=\"urn:gen:forms:1\"/>\ngarbage"));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(has_error("Extra content"));
	CHECK(!parse_n("", 0, NULL));
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].message, "document is empty");
	CHECK(!parse_n(NULL, 0, NULL));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(!parse("  \n "));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(!parse("{\"call\": {\"ref\": \"AAP-2026-INNOV\"}}"));
	CHECK_EQ_INT(errs.count, 1);
	CHECK(has_error("Start tag expected"));
	/* A malformed document stops at its first fatal error. */
	CHECK(!parse("<call xmlns=\"urn:gen:forms:1\">\n<title>x</titl>\n<a></b>\n"));
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_INT(errs.items[0].line, 2);
	/* Messages are one line, without a trailing newline. */
	CHECK(strchr(errs.items[0].message, '\n') == NULL);
}

static void
decimal_edges(void)
{
	struct sbuf b = { 0 };
	char *doc;

	/* 10,000 digits: out of range. */
	sbuf_adds(&b, "<budget>");
	for (int i = 0; i < 10000; i++)
		sbuf_addc(&b, '9');
	sbuf_adds(&b, "</budget>");
	doc = call_with("<budget>2500000.00</budget>", b.data);
	CHECK(!parse(doc));
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].path, "/call/budget");
	CHECK_EQ_INT(errs.items[0].line, 6);
	CHECK(strlen(errs.items[0].message) < sizeof errs.items[0].message);
	free(doc);

	/* NaN, INF and -INF are not decimals; -0 is zero. */
	doc = call_with("<budget>2500000.00</budget>", "<budget>NaN</budget>");
	CHECK(!parse(doc));
	CHECK_EQ_INT(errs.count, 1);
	free(doc);
	doc = call_with("<maxRequest>150000.00</maxRequest>", "<maxRequest>INF</maxRequest>");
	CHECK(!parse(doc));
	CHECK_EQ_STR(errs.items[0].path, "/call/maxRequest");
	free(doc);
	doc = call_with("<threshold>55.0</threshold>", "<threshold>-INF</threshold>");
	CHECK(!parse(doc));
	free(doc);
	doc = call_with("<threshold>55.0</threshold>", "<threshold>-0</threshold>");
	CHECK(parse(doc));
	free(doc);
	doc = call_with("<threshold>55.0</threshold>", "<threshold>1e2</threshold>");
	CHECK(!parse(doc));
	free(doc);
	/* Three fraction digits for money, two for a percentage. */
	doc = call_with("<budget>2500000.00</budget>", "<budget>1.005</budget>");
	CHECK(!parse(doc));
	CHECK(has_error("fractionDigits"));
	free(doc);
	doc = call_with("<threshold>55.0</threshold>", "<threshold>55.25</threshold>");
	CHECK(!parse(doc));
	free(doc);
	/* Ranges are inclusive. */
	doc = call_with("<budget>2500000.00</budget>", "<budget>100000000.00</budget>");
	CHECK(parse(doc));
	free(doc);
	doc = call_with("<budget>2500000.00</budget>", "<budget>100000000.01</budget>");
	CHECK(!parse(doc));
	free(doc);
	doc = call_with("<threshold>55.0</threshold>", "<threshold>100.0</threshold>");
	CHECK(parse(doc));
	free(doc);
	doc = call_with("<threshold>55.0</threshold>", "<threshold>100.1</threshold>");
	CHECK(!parse(doc));
	free(doc);
	sbuf_free(&b);
}

static void
datetime_and_integer_edges(void)
{
	char *doc = call_with("2026-01-15T09:00:00+01:00", "2024-02-30T25:61:61Z");

	CHECK(!parse(doc));
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].path, "/call/opensAt");
	CHECK_EQ_INT(errs.items[0].line, 4);
	CHECK_EQ_INT(errs.items[0].column, 3);
	free(doc);
	/* No zone. */
	doc = call_with("2026-01-15T09:00:00+01:00", "2026-01-15T09:00:00");
	CHECK(!parse(doc));
	CHECK_EQ_INT(errs.count, 1);
	free(doc);
	/* A date is not an instant. */
	doc = call_with("2026-01-15T09:00:00+01:00", "2026-01-15");
	CHECK(!parse(doc));
	free(doc);
	/* Integers beyond int64 and far beyond. */
	doc = call_with("<maxLoadPerReviewer>12<", "<maxLoadPerReviewer>9223372036854775808<");
	CHECK(!parse(doc));
	CHECK_EQ_INT(errs.count, 1);
	CHECK_EQ_STR(errs.items[0].path, "/call/maxLoadPerReviewer");
	free(doc);
	doc = call_with("<maxLoadPerReviewer>12<",
	    "<maxLoadPerReviewer>-99999999999999999999999999999999<");
	CHECK(!parse(doc));
	CHECK_EQ_INT(errs.count, 1);
	free(doc);
	doc = call_with("<maxLoadPerReviewer>12<", "<maxLoadPerReviewer>200<");
	CHECK(parse(doc));
	free(doc);
	doc = call_with("<maxLoadPerReviewer>12<", "<maxLoadPerReviewer>201<");
	CHECK(!parse(doc));
	free(doc);
}

/* A hand-written document with exactly three independent violations, one
 * on a start tag spread over two lines and one after multi-byte text. */
static void
three_violations_located(void)
{
	static const char doc[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                      /* 1 */
	    "<call xmlns=\"urn:gen:forms:1\" ref=\"AAP-2026-X\" kind=\"project\">\n" /* 2 */
	    "  <title>Étude « données »</title>\n"                             /* 3 */
	    "  <opensAt>2026-01-15T09:00:00Z</opensAt>\n"                      /* 4 */
	    "  <closesAt>2026-13-01T00:00:00Z</closesAt>\n"                    /* 5 */
	    "  <budget>1000</budget>\n"                                        /* 6 */
	    "  <reviewersPerApplication>3</reviewersPerApplication>\n"        /* 7 */
	    "  <maxLoadPerReviewer>10</maxLoadPerReviewer>\n"                  /* 8 */
	    "  <criteria>\n"                                                   /* 9 */
	    "    <criterion code=\"a\" weight=\"1\" scaleMax=\"5\">A</criterion>\n" /* 10 */
	    "    <criterion code=\"b\"\n"                                      /* 11 */
	    "               weight=\"11\" scaleMax=\"5\">B</criterion>\n"      /* 12 */
	    "  </criteria>\n"                                                  /* 13 */
	    "  <targets><target metric=\"women\" min=\"30\"/><!-- é --><rankBy>raw</rankBy></targets>\n"
	    "</call>\n";

	CHECK(!parse(doc));
	CHECK_EQ_INT(errs.count, 3);
	CHECK_EQ_INT(errs.dropped, 0);
	if (errs.count != 3) {
		dump_errors();
		return;
	}
	CHECK_EQ_INT(errs.items[0].line, 5);
	CHECK_EQ_INT(errs.items[0].column, 3);
	CHECK_EQ_STR(errs.items[0].path, "/call/closesAt");
	CHECK(strstr(errs.items[0].message,
	    "'2026-13-01T00:00:00Z' is not a valid value") != NULL);
	CHECK(strncmp(errs.items[0].message, "Element 'closesAt'", 18) == 0);
	CHECK_EQ_INT(errs.items[1].line, 11);
	CHECK_EQ_INT(errs.items[1].column, 5);
	CHECK_EQ_STR(errs.items[1].path, "/call/criteria/criterion[2]/@weight");
	CHECK(strstr(errs.items[1].message, "attribute 'weight'") != NULL);
	CHECK_EQ_INT(errs.items[2].line, 14);
	CHECK_EQ_INT(errs.items[2].column, 55);
	CHECK_EQ_STR(errs.items[2].path, "/call/targets/rankBy");
	CHECK(strstr(errs.items[2].message, "{urn:gen:forms:1}") == NULL);
}

static void
error_list_is_bounded(void)
{
	size_t len;
	char *doc = read_file("forms/examples/projectApplication.xml", &len);
	char *start = doc ? strstr(doc, "<budget>") : NULL;
	char *end = doc ? strstr(doc, "</budget>") : NULL;
	struct sbuf b = { 0 };

	CHECK(start != NULL && end != NULL);
	if (start == NULL || end == NULL) {
		free(doc);
		return;
	}
	/* 100 budget lines, each with two bad attributes: 200 violations. */
	sbuf_add(&b, doc, (size_t)(start - doc));
	sbuf_adds(&b, "<budget>");
	for (int i = 0; i < 100; i++)
		sbuf_adds(&b, "<line category=\"food\" amount=\"-1\">x</line>\n");
	sbuf_adds(&b, end);
	CHECK(!parse(b.data));
	CHECK_EQ_INT(errs.count, FORM_ERRORS_MAX);
	CHECK_EQ_INT(errs.dropped, 100);
	CHECK_EQ_STR(errs.items[0].path, "/projectApplication/budget/line[1]/@category");
	CHECK_EQ_STR(errs.items[1].path, "/projectApplication/budget/line[1]/@amount");
	CHECK_EQ_STR(errs.items[99].path, "/projectApplication/budget/line[50]/@amount");
	sbuf_free(&b);
	free(doc);
}

static void
errors_truncate_on_utf8_boundary(void)
{
	struct form_errors e;
	struct sbuf b = { 0 };

	memset(&e, 0, sizeof e);
	for (int i = 0; i < 400; i++)
		sbuf_adds(&b, "é"); /* 800 bytes */
	form_errors_add(&e, 1, 2, b.data, "x%s", b.data);
	CHECK_EQ_INT(e.count, 1);
	size_t ml = strlen(e.items[0].message), pl = strlen(e.items[0].path);
	CHECK(ml < sizeof e.items[0].message && ml >= sizeof e.items[0].message - 3);
	CHECK(pl < sizeof e.items[0].path && pl >= sizeof e.items[0].path - 3);
	/* "x" then whole two-byte characters only. */
	CHECK((ml - 1) % 2 == 0);
	CHECK(pl % 2 == 0);
	CHECK_EQ_INT(e.items[0].line, 1);
	CHECK_EQ_INT(e.items[0].column, 2);
	for (int i = 1; i < FORM_ERRORS_MAX + 5; i++)
		form_errors_add(&e, 0, 0, NULL, "e%d", i);
	CHECK_EQ_INT(e.count, FORM_ERRORS_MAX);
	CHECK_EQ_INT(e.dropped, 5);
	CHECK_EQ_STR(e.items[1].path, "");
	sbuf_free(&b);
}

static xmlNodePtr
find_child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr n = parent->children; n != NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0)
			return n;
	return NULL;
}

static void
node_positions(void)
{
	static const char doc[] =
	    "\xEF\xBB\xBF<call xmlns=\"urn:gen:forms:1\"\n"
	    "      ref=\"ABC\" kind=\"label\"><title>ééé</title><opensAt\n"
	    ">2026-01-01T00:00:00Z</opensAt><closesAt>2026-02-01T00:00:00Z</closesAt>\n"
	    "<reviewersPerApplication>1</reviewersPerApplication><maxLoadPerReviewer>1</maxLoadPerReviewer>"
	    "<criteria><criterion code=\"a\" weight=\"1\" scaleMax=\"1\">x</criterion>"
	    "<criterion code=\"b\" weight=\"1\" scaleMax=\"1\">y</criterion></criteria></call>";
	enum form_kind kind;
	int line, col;

	setup();
	xmlDocPtr d = xmlform_parse(doc, sizeof doc - 1, &kind, &errs);
	CHECK(d != NULL);
	dump_errors();
	if (d == NULL)
		return;
	xmlNodePtr root = xmlDocGetRootElement(d);
	xmlform_node_pos(root, &line, &col);
	CHECK_EQ_INT(line, 1);
	CHECK_EQ_INT(col, 1);
	xmlNodePtr title = root->children;
	xmlform_node_pos(title, &line, &col);
	CHECK_EQ_INT(line, 2);
	CHECK_EQ_INT(col, 30);
	xmlform_node_pos(title->children, &line, &col); /* text: its element */
	CHECK_EQ_INT(col, 30);
	xmlNodePtr opens = title->next;
	xmlform_node_pos(opens, &line, &col);
	CHECK_EQ_INT(line, 2);
	CHECK_EQ_INT(col, 48);
	xmlform_node_pos(opens->next, &line, &col);
	CHECK_EQ_INT(line, 3);
	CHECK_EQ_INT(col, 32);
	xmlform_node_pos((xmlNodePtr)root->properties, &line, &col); /* @ref */
	CHECK_EQ_INT(line, 1);
	CHECK_EQ_INT(col, 1);
	xmlform_node_pos((xmlNodePtr)d, &line, &col);
	CHECK_EQ_INT(line, 0);
	CHECK_EQ_INT(col, 0);

	memset(&errs, 0, sizeof errs);
	form_errors_at(&errs, (xmlNodePtr)root->properties->next, "bad %s", "kind");
	CHECK_EQ_STR(errs.items[0].path, "/call/@kind");
	CHECK_EQ_STR(errs.items[0].message, "bad kind");
	CHECK_EQ_INT(errs.items[0].line, 1);
	xmlNodePtr crit = find_child(find_child(root, "criteria"), "criterion")->next;
	form_errors_at(&errs, crit, "second");
	CHECK_EQ_STR(errs.items[1].path, "/call/criteria/criterion[2]");
	form_errors_at(&errs, crit->prev, "first");
	CHECK_EQ_STR(errs.items[2].path, "/call/criteria/criterion[1]");
	xmlFreeDoc(d);
}

/* libxml2 discards consumed input near the end of a document; a start tag
 * there that spans lines, after a long line prefix, is still located. */
static void
positions_near_the_end(void)
{
	size_t len;
	char *text = read_file("forms/examples/projectApplication.xml", &len);
	char *at = text ? strstr(text, "  <cofunding source=\"OPCO Atlas\"") : NULL;
	struct sbuf b = { 0 };
	enum form_kind kind;
	int line, col;

	CHECK(at != NULL);
	if (at == NULL) {
		free(text);
		return;
	}
	sbuf_add(&b, text, (size_t)(at - text));
	sbuf_adds(&b, "  <!-- ");
	for (int i = 0; i < 200; i++)
		sbuf_adds(&b, i < 100 ? "é" : "y");
	sbuf_adds(&b, " --><cofunding\n      source=\"Z\" amount=\"1\"/>\n</projectApplication>\n");
	setup();
	xmlDocPtr d = xmlform_parse(b.data, b.len, &kind, &errs);
	CHECK(d != NULL);
	if (d != NULL) {
		xmlNodePtr last = xmlDocGetRootElement(d)->last;
		while (last != NULL && last->type != XML_ELEMENT_NODE)
			last = last->prev;
		xmlform_node_pos(last, &line, &col);
		CHECK_EQ_INT(line, 112);
		CHECK_EQ_INT(col, 2 + 5 + 200 + 4 + 1);
		xmlFreeDoc(d);
	}
	sbuf_free(&b);
	free(text);
}

static void
pis_comments_cdata(void)
{
	/* <?xml-stylesheet?> is allowed and ignored, as are comments; CDATA is
	 * plain text. */
	char *doc = call_with("<call ",
	    "<?xml-stylesheet type=\"text/xsl\" href=\"http://127.0.0.1:9/x.xsl\"?>\n<!-- c --><call ");
	CHECK(parse(doc));
	free(doc);
	doc = call_with("<title>", "<title><![CDATA[<b>Appel</b> & co]]>");
	CHECK(parse(doc));
	free(doc);
	doc = call_with("<title>", "<title><?pi inside?><!-- note -->");
	CHECK(parse(doc));
	free(doc);
}

static void
init_lifecycle(void)
{
	char err[512] = "";
	struct form_errors e;

	setup();
	/* Idempotent. */
	CHECK_EQ_INT(xmlform_init("forms", err, sizeof err), 0);
	xmlform_shutdown();
	memset(&e, 0, sizeof e);
	CHECK(xmlform_parse("<call/>", 7, NULL, &e) == NULL);
	CHECK_EQ_INT(e.count, 1);
	CHECK_EQ_INT(xmlform_init("no/such/dir", err, sizeof err), -1);
	CHECK(strstr(err, "no/such/dir/call.xsd") != NULL);
	/* The deny-all loader is in place even after a failed start... */
	xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
	xmlParserInputPtr in = xmlLoadExternalEntity("forms/call.xsd", NULL, ctxt);
	CHECK(in == NULL);
	if (in != NULL)
		xmlFreeInputStream(in);
	xmlFreeParserCtxt(ctxt);
	/* ...and a later start still compiles the schemas. */
	CHECK_EQ_INT(xmlform_init("forms", err, sizeof err), 0);
	CHECK(parse("<call xmlns=\"urn:gen:forms:1\"/>") == 0);
	CHECK(has_error("attribute 'ref' is required"));
}

UNIT_MAIN("xmlform",
    UNIT_CASE(kinds_and_roots),
    UNIT_CASE(examples_validate),
    UNIT_CASE(receipt_validates),
    UNIT_CASE(doctype_external_entity),
    UNIT_CASE(loader_denies_everything),
    UNIT_CASE(billion_laughs),
    UNIT_CASE(xsi_schema_location_ignored),
    UNIT_CASE(xinclude_not_expanded),
    UNIT_CASE(depth_bound),
    UNIT_CASE(attributes),
    UNIT_CASE(wrong_root),
    UNIT_CASE(encodings),
    UNIT_CASE(bom_against_declaration),
    UNIT_CASE(equals_run_position),
    UNIT_CASE(malformed),
    UNIT_CASE(decimal_edges),
    UNIT_CASE(datetime_and_integer_edges),
    UNIT_CASE(three_violations_located),
    UNIT_CASE(error_list_is_bounded),
    UNIT_CASE(errors_truncate_on_utf8_boundary),
    UNIT_CASE(node_positions),
    UNIT_CASE(positions_near_the_end),
    UNIT_CASE(pis_comments_cdata),
    UNIT_CASE(init_lifecycle))
