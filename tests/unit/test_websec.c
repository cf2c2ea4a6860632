/* Unit tests of websec.c: CSRF tokens, cookies, origins, form fields,
 * local redirects, HSTS and the two verdicts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "util.h"
#include "websec.h"

#define SESSION "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

/* The token is base64url(SHA-256("gen-csrf\0" || session)); the expected
 * values were computed with Python's hashlib, independently of this code. */
static void
session_token(void)
{
	char t[WEBSEC_TOKEN_LEN + 1];

	websec_session_token(SESSION, strlen(SESSION), t);
	CHECK_EQ_STR(t, "KgPlsVIxy2DzriRrwN6_D_RxDpfwdbdJvAMrNG9DkEg");
	websec_session_token("abcdefghijklmnopqrstuvwxyz0123456789-_ABCDE", 43, t);
	CHECK_EQ_STR(t, "gYXhHNfu4SzMNAhwtZQ0QGaPQBAAEntKvAvEeDQ2Bas");
	CHECK(websec_token_wellformed(t, strlen(t)));
	CHECK(!websec_token_wellformed(t, strlen(t) - 1));
	CHECK(!websec_token_wellformed("KgPlsVIxy2DzriRrwN6/D+RxDpfwdbdJvAMrNG9DkEg", 43));
	CHECK(!websec_token_wellformed(NULL, 0));

	CHECK(websec_token_equal(t, t));
	CHECK(websec_token_equal("gYXhHNfu4SzMNAhwtZQ0QGaPQBAAEntKvAvEeDQ2Bas", t));
	CHECK(!websec_token_equal("gYXhHNfu4SzMNAhwtZQ0QGaPQBAAEntKvAvEeDQ2Bat", t));
	CHECK(!websec_token_equal("gYXhHNfu4SzMNAhwtZQ0QGaPQBAAEntKvAvEeDQ2Ba", t));
	CHECK(!websec_token_equal("", t));
	CHECK(!websec_token_equal(NULL, t));
	CHECK(!websec_token_equal("", ""));   /* an empty expectation never matches */
}

static void
cookies(void)
{
	size_t n = 0;
	const char *v;

	v = websec_cookie("gen_session=abc; gen_csrf=xyz", "gen_csrf", &n);
	CHECK(v != NULL && n == 3 && memcmp(v, "xyz", 3) == 0);
	v = websec_cookie("gen_session=abc; gen_csrf=xyz", "gen_session", &n);
	CHECK(v != NULL && n == 3 && memcmp(v, "abc", 3) == 0);
	CHECK(websec_cookie("xgen_session=abc", "gen_session", &n) == NULL);
	CHECK(websec_cookie("gen_session_old=abc", "gen_session", &n) == NULL);
	CHECK(websec_cookie("a=gen_session=abc", "gen_session", &n) == NULL);
	v = websec_cookie("a=1;gen_session=q ;b=2", "gen_session", &n);
	CHECK(v != NULL && n == 1 && *v == 'q');
	v = websec_cookie("gen_session=; b=2", "gen_session", &n);
	CHECK(v != NULL && n == 0);
	v = websec_cookie("gen_session=first; gen_session=second", "gen_session", &n);
	CHECK(v != NULL && n == 5 && memcmp(v, "first", 5) == 0);
	CHECK(websec_cookie(NULL, "gen_session", &n) == NULL);
	CHECK(websec_cookie("", "gen_session", &n) == NULL);
	CHECK(websec_cookie(";;; ", "gen_session", &n) == NULL);

	struct sbuf b = { 0 };
	websec_set_cookie(&b, "gen_session", "tok", 3600, 0);
	CHECK_EQ_STR(b.data, "gen_session=tok; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600");
	sbuf_reset(&b);
	websec_set_cookie(&b, "gen_session", "", 0, 1);
	CHECK_EQ_STR(b.data, "gen_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure");
	sbuf_reset(&b);
	websec_set_cookie(&b, "gen_csrf", "t", -1, 1);
	CHECK_EQ_STR(b.data, "gen_csrf=t; Path=/; HttpOnly; SameSite=Strict; Secure");
	sbuf_free(&b);
}

static void
hsts(void)
{
	char h[64] = "";

	CHECK_EQ_INT(websec_hsts(0, 31536000, h, sizeof h), 0);
	CHECK_EQ_INT(websec_hsts(1, 0, h, sizeof h), 0);
	CHECK_EQ_INT(websec_hsts(1, 31536000, h, sizeof h), 1);
	CHECK_EQ_STR(h, "max-age=31536000");
}

static void
origins(void)
{
	/* plain HTTP: http, or https when TLS ends at a proxy in front */
	CHECK(websec_same_origin("http://127.0.0.1:8080", "127.0.0.1:8080", 0));
	CHECK(websec_same_origin("http://GEN.example", "gen.example", 0));
	CHECK(websec_same_origin("http://gen.example:80", "gen.example", 0));
	CHECK(websec_same_origin("http://gen.example", "gen.example:80", 0));
	CHECK(websec_same_origin("https://gen.example", "gen.example", 0));
	CHECK(websec_same_origin("https://gen.example", "gen.example:443", 0));
	CHECK(websec_same_origin("http://[::1]:8080", "[::1]:8080", 0));
	CHECK(!websec_same_origin("http://gen.example", "gen.example:8080", 0));
	CHECK(!websec_same_origin("http://gen.example:8081", "gen.example:8080", 0));
	CHECK(!websec_same_origin("http://evil.example:8080", "gen.example:8080", 0));
	CHECK(!websec_same_origin("http://gen.example.evil.example", "gen.example", 0));
	CHECK(!websec_same_origin("http://gen.exampl", "gen.example", 0));
	CHECK(!websec_same_origin("null", "gen.example", 0));
	CHECK(!websec_same_origin("", "gen.example", 0));
	CHECK(!websec_same_origin("ftp://gen.example", "gen.example", 0));
	CHECK(!websec_same_origin("http://gen.example/", "gen.example", 0));
	CHECK(!websec_same_origin("http://user@gen.example", "gen.example", 0));
	CHECK(!websec_same_origin("http://gen.example:", "gen.example", 0));
	CHECK(!websec_same_origin("http://gen.example:0", "gen.example:0", 0));
	CHECK(!websec_same_origin("http://gen.example:99999", "gen.example:99999", 0));
	CHECK(!websec_same_origin("http://gen.example", NULL, 0));
	CHECK(!websec_same_origin("http://gen.example", "", 0));
	CHECK(!websec_same_origin(NULL, "gen.example", 0));
	CHECK(!websec_same_origin("http://[::1", "[::1", 0));
	CHECK(!websec_same_origin("http://[]", "[]", 0));
	/* TLS: https only */
	CHECK(websec_same_origin("https://gen.example", "gen.example", 1));
	CHECK(websec_same_origin("https://gen.example:8443", "gen.example:8443", 1));
	CHECK(!websec_same_origin("http://gen.example", "gen.example", 1));
	CHECK(!websec_same_origin("http://gen.example:443", "gen.example:443", 1));
}

static void
content_types(void)
{
	CHECK(websec_urlencoded("application/x-www-form-urlencoded"));
	CHECK(websec_urlencoded("Application/X-WWW-Form-Urlencoded; charset=UTF-8"));
	CHECK(!websec_urlencoded("application/x-www-form-urlencodedx"));
	CHECK(!websec_urlencoded(NULL));
	CHECK(websec_form_body("multipart/form-data; boundary=x"));
	CHECK(websec_form_body("text/plain"));
	CHECK(websec_form_body(" text/plain;charset=utf-8"));
	CHECK(!websec_form_body("application/xml"));
	CHECK(!websec_form_body("text/xml"));
	CHECK(!websec_form_body("application/json"));
	CHECK(!websec_form_body(NULL));
	CHECK(!websec_form_body(""));
}

static void
form_fields(void)
{
	char v[16];
	const char *body = "email=a%40b.test&csrf_token=abc%2Dd+e&next=%2Fdashboard";

	CHECK_EQ_INT(websec_form_field(body, strlen(body), "csrf_token", v, sizeof v), 1);
	CHECK_EQ_STR(v, "abc-d e");
	CHECK_EQ_INT(websec_form_field(body, strlen(body), "next", v, sizeof v), 1);
	CHECK_EQ_STR(v, "/dashboard");
	CHECK_EQ_INT(websec_form_field(body, strlen(body), "email", v, sizeof v), 1);
	CHECK_EQ_STR(v, "a@b.test");
	CHECK_EQ_INT(websec_form_field(body, strlen(body), "token", v, sizeof v), 0);
	CHECK_EQ_INT(websec_form_field(body, strlen(body), "csrf", v, sizeof v), 0);
	/* the length bounds the read: the field past it is not seen */
	CHECK_EQ_INT(websec_form_field(body, 16, "csrf_token", v, sizeof v), 0);
	CHECK_EQ_INT(websec_form_field("csrf_token=", 11, "csrf_token", v, sizeof v), 1);
	CHECK_EQ_STR(v, "");
	CHECK_EQ_INT(websec_form_field("csrf_token", 10, "csrf_token", v, sizeof v), 0);
	CHECK_EQ_INT(websec_form_field("&&csrf_token=x&", 15, "csrf_token", v, sizeof v), 1);
	CHECK_EQ_STR(v, "x");
	CHECK_EQ_INT(websec_form_field("csrf_token=a%2", 14, "csrf_token", v, sizeof v), -1);
	CHECK_EQ_INT(websec_form_field("csrf_token=a%zz", 15, "csrf_token", v, sizeof v), -1);
	CHECK_EQ_INT(websec_form_field("csrf_token=a%00", 15, "csrf_token", v, sizeof v), -1);
	CHECK_EQ_INT(websec_form_field("csrf_token=0123456789abcdef", 27, "csrf_token", v, sizeof v), -1);
	CHECK_EQ_INT(websec_form_field("csrf_token=0123456789abcde", 26, "csrf_token", v, sizeof v), 1);
	CHECK_EQ_INT(websec_form_field("csrf_token=a&csrf_token=b", 25, "csrf_token", v, sizeof v), 1);
	CHECK_EQ_STR(v, "a");
	CHECK_EQ_INT(websec_form_field("", 0, "csrf_token", v, sizeof v), 0);
}

static void
local_paths(void)
{
	CHECK(websec_local_path("/"));
	CHECK(websec_local_path("/dashboard"));
	CHECK(websec_local_path("/dashboard?year=2024&region=84#x"));
	CHECK(websec_local_path("/a/b%2F%2Fc"));
	CHECK(!websec_local_path(NULL));
	CHECK(!websec_local_path(""));
	CHECK(!websec_local_path("dashboard"));
	CHECK(!websec_local_path("//evil.example/"));
	CHECK(!websec_local_path("/\\evil.example/"));
	CHECK(!websec_local_path("/a\\b"));
	CHECK(!websec_local_path("https://evil.example/"));
	CHECK(!websec_local_path("/a b"));
	CHECK(!websec_local_path("/a\r\nSet-Cookie: x=y"));
	CHECK(!websec_local_path("/\t/evil.example"));
	CHECK(!websec_local_path("/caf\xC3\xA9"));
	char long_path[600];
	memset(long_path, 'a', sizeof long_path - 1);
	long_path[0] = '/';
	long_path[sizeof long_path - 1] = '\0';
	CHECK(!websec_local_path(long_path));
	long_path[512] = '\0';
	CHECK(websec_local_path(long_path));
}

static void
session_verdicts(void)
{
	const char *tok = "KgPlsVIxy2DzriRrwN6_D_RxDpfwdbdJvAMrNG9DkEg";
	struct websec_request r = { .host = "gen.example:8080", .expected = tok };

	/* a script: XML or JSON, no Origin, no token */
	r.content_type = "application/xml";
	CHECK_EQ_INT(websec_check_session(&r), WEBSEC_OK);
	r.content_type = NULL;
	CHECK_EQ_INT(websec_check_session(&r), WEBSEC_OK);
	/* the same from this server's own page */
	r.origin = "http://gen.example:8080";
	r.fetch_site = "same-origin";
	CHECK_EQ_INT(websec_check_session(&r), WEBSEC_OK);
	/* a form body needs the token, even from our own origin */
	r.content_type = "application/x-www-form-urlencoded";
	CHECK_EQ_INT(websec_check_session(&r), WEBSEC_NO_TOKEN);
	r.content_type = "multipart/form-data; boundary=b";
	CHECK_EQ_INT(websec_check_session(&r), WEBSEC_NO_TOKEN);
	r.content_type = "text/plain";
	CHECK_EQ_INT(websec_check_session(&r), WEBSEC_NO_TOKEN);
	r.token = tok;
	CHECK_EQ_INT(websec_check_session(&r), WEBSEC_OK_TOKEN);
	r.token = "KgPlsVIxy2DzriRrwN6_D_RxDpfwdbdJvAMrNG9DkEh";
	CHECK_EQ_INT(websec_check_session(&r), WEBSEC_BAD_TOKEN);
	r.token = "";
	CHECK_EQ_INT(websec_check_session(&r), WEBSEC_BAD_TOKEN);
	/* another site: refused without a valid token, whatever the body */
	r.token = NULL;
	r.content_type = "application/xml";
	r.origin = "http://evil.example";
	r.fetch_site = NULL;
	CHECK_EQ_INT(websec_check_session(&r), WEBSEC_CROSS_SITE);
	r.origin = "null";
	CHECK_EQ_INT(websec_check_session(&r), WEBSEC_CROSS_SITE);
	r.origin = NULL;
	r.fetch_site = "cross-site";
	CHECK_EQ_INT(websec_check_session(&r), WEBSEC_CROSS_SITE);
	r.fetch_site = "same-site";
	CHECK_EQ_INT(websec_check_session(&r), WEBSEC_CROSS_SITE);
	r.fetch_site = "none";
	CHECK_EQ_INT(websec_check_session(&r), WEBSEC_OK);
	r.fetch_site = "cross-site";
	r.token = tok;
	CHECK_EQ_INT(websec_check_session(&r), WEBSEC_OK_TOKEN);
	/* no expectation (cannot happen with a session): a token never passes */
	r.expected = NULL;
	CHECK_EQ_INT(websec_check_session(&r), WEBSEC_BAD_TOKEN);
	/* under TLS, an http origin is another origin */
	r = (struct websec_request){ .tls = 1, .host = "gen.example", .expected = tok,
	    .origin = "http://gen.example", .content_type = "application/xml" };
	CHECK_EQ_INT(websec_check_session(&r), WEBSEC_CROSS_SITE);
	r.origin = "https://gen.example";
	CHECK_EQ_INT(websec_check_session(&r), WEBSEC_OK);
}

static void
login_verdicts(void)
{
	const char *tok = "KgPlsVIxy2DzriRrwN6_D_RxDpfwdbdJvAMrNG9DkEg";
	struct websec_request r = { .host = "127.0.0.1:8080",
	    .content_type = "application/x-www-form-urlencoded" };

	/* a script: no token, no Origin */
	CHECK_EQ_INT(websec_check_login(&r), WEBSEC_OK);
	/* the login page: the cookie's token */
	r.origin = "http://127.0.0.1:8080";
	r.token = tok;
	r.expected = tok;
	CHECK_EQ_INT(websec_check_login(&r), WEBSEC_OK_TOKEN);
	r.expected = NULL;   /* no cookie */
	CHECK_EQ_INT(websec_check_login(&r), WEBSEC_BAD_TOKEN);
	r.expected = "KgPlsVIxy2DzriRrwN6_D_RxDpfwdbdJvAMrNG9DkEh";
	CHECK_EQ_INT(websec_check_login(&r), WEBSEC_BAD_TOKEN);
	/* another site: refused even with a matching pair (a sibling host can
	 * plant cookies) */
	r.expected = tok;
	r.origin = "http://evil.example";
	CHECK_EQ_INT(websec_check_login(&r), WEBSEC_CROSS_SITE);
	r.origin = NULL;
	r.fetch_site = "same-site";
	CHECK_EQ_INT(websec_check_login(&r), WEBSEC_CROSS_SITE);
	CHECK_EQ_STR(websec_verdict_name(WEBSEC_CROSS_SITE), "cross-site");
	CHECK_EQ_STR(websec_verdict_name(WEBSEC_NO_TOKEN), "no-token");
	CHECK_EQ_STR(websec_verdict_name(WEBSEC_BAD_TOKEN), "bad-token");
}

static void
client_addresses(void)
{
	static const struct {
		const char *peer, *xff, *trusted, *want;
	} cases[] = {
		/* no trusted proxy: the peer, whatever the header says */
		{ "203.0.113.9", "198.51.100.1", "", "203.0.113.9" },
		{ "10.0.0.5", "198.51.100.1", NULL, "10.0.0.5" },
		/* a peer not in the list */
		{ "10.0.0.6", "198.51.100.1", "10.0.0.5", "10.0.0.6" },
		/* the trusted proxy: the entry it appended, the last */
		{ "10.0.0.5", "198.51.100.1", "10.0.0.5", "198.51.100.1" },
		{ "10.0.0.5", "1.2.3.4, 198.51.100.1", "127.0.0.1, 10.0.0.5", "198.51.100.1" },
		{ "10.0.0.5", "1.2.3.4,198.51.100.1 ", "10.0.0.5", "198.51.100.1" },
		{ "::1", "2001:db8::7", "::1", "2001:db8::7" },
		/* no header, or a last entry that is not an address: the peer */
		{ "10.0.0.5", NULL, "10.0.0.5", "10.0.0.5" },
		{ "10.0.0.5", "198.51.100.1, unknown", "10.0.0.5", "10.0.0.5" },
		{ "10.0.0.5", "198.51.100.1, ", "10.0.0.5", "10.0.0.5" },
		{ "10.0.0.5", "999.1.1.1", "10.0.0.5", "10.0.0.5" },
		{ "10.0.0.5", "198.51.100.1 x", "10.0.0.5", "10.0.0.5" },
		/* a list entry must match whole */
		{ "10.0.0.5", "198.51.100.1", "10.0.0.50", "10.0.0.5" },
		{ NULL, "198.51.100.1", "10.0.0.5", "unknown" },
	};
	char out[64];

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		websec_client_addr(cases[i].peer, cases[i].xff, cases[i].trusted, out, sizeof out);
		CHECK_EQ_STR(out, cases[i].want);
	}
}

UNIT_MAIN("websec",
    UNIT_CASE(session_token),
    UNIT_CASE(cookies),
    UNIT_CASE(hsts),
    UNIT_CASE(origins),
    UNIT_CASE(content_types),
    UNIT_CASE(form_fields),
    UNIT_CASE(local_paths),
    UNIT_CASE(session_verdicts),
    UNIT_CASE(login_verdicts),
    UNIT_CASE(client_addresses))
