/* Unit tests of the small pure cores: util (JSON/XML escaping, encodings,
 * decimals), receipts (material, signature, verification), passwords and
 * tokens, and the configuration table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "receipt.h"
#include "unit.h"
#include "util.h"

static void
json_escaping(void)
{
	struct sbuf b = {0};

	json_add_str(&b, "a\"b\\c\n\t\x01 é €");
	CHECK_EQ_STR(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001 é €\"");
	sbuf_reset(&b);
	json_add_strn(&b, "x\0y\xff\xc0\xaf", 6); /* NUL, invalid byte, overlong '/' */
	CHECK_EQ_STR(b.data, "\"x\\u0000y\\ufffd\\ufffd\\ufffd\"");
	sbuf_reset(&b);
	json_add_str(&b, "\xed\xa0\x80"); /* a UTF-16 surrogate in UTF-8 */
	CHECK_EQ_STR(b.data, "\"\\ufffd\\ufffd\\ufffd\"");
	sbuf_reset(&b);
	json_add_str(&b, NULL);
	CHECK_EQ_STR(b.data, "null");
	sbuf_free(&b);
}

static void
xml_escaping(void)
{
	struct sbuf b = {0};

	xml_add_escaped(&b, "<a href=\"x\">&'</a>");
	CHECK_EQ_STR(b.data, "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;");
	sbuf_free(&b);
}

static void
utf8_validation(void)
{
	CHECK(utf8_valid("Projet reporté", strlen("Projet reporté")));
	CHECK(!utf8_valid("\xe9t\xe9", 3));
	CHECK(!utf8_valid("a\0b", 3));
	CHECK(!utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
	CHECK(utf8_valid("\xf0\x9f\x98\x80", 4));
}

static void
base64_and_hex(void)
{
	char *e = base64_encode((const unsigned char *)"foobar", 6);
	CHECK_EQ_STR(e, "Zm9vYmFy");
	free(e);
	e = base64_encode((const unsigned char *)"fo", 2);
	CHECK_EQ_STR(e, "Zm8=");
	unsigned char out[16];
	CHECK_EQ_INT(base64_decode(e, out, sizeof out), 2);
	CHECK(memcmp(out, "fo", 2) == 0);
	free(e);
	CHECK_EQ_INT(base64_decode("Zm8", out, sizeof out), -1);
	CHECK_EQ_INT(base64_decode("Z=m8", out, sizeof out), -1);
	CHECK_EQ_INT(base64_decode("Zm9v!mFy", out, sizeof out), -1);
	char hex[9];
	hex_encode((const unsigned char *)"\x01\xab\xff\x10", 4, hex);
	CHECK_EQ_STR(hex, "01abff10");
	CHECK_EQ_INT(hex_decode("01abff10", 4, out), 0);
	CHECK(memcmp(out, "\x01\xab\xff\x10", 4) == 0);
	CHECK_EQ_INT(hex_decode("0g", 1, out), -1);
}

static void
decimals(void)
{
	int64_t v;
	char buf[32];

	CHECK_EQ_INT(parse_scaled("12.5", 2, &v), 0);
	CHECK_EQ_INT(v, 1250);
	CHECK_EQ_INT(parse_scaled("100000000", 2, &v), 0);
	CHECK_EQ_INT(v, 10000000000LL);
	CHECK_EQ_INT(parse_scaled("0.1", 1, &v), 0);
	CHECK_EQ_INT(v, 1);
	CHECK_EQ_INT(parse_scaled("1.50", 1, &v), 0); /* trailing zero beyond scale */
	CHECK_EQ_INT(v, 15);
	CHECK_EQ_INT(parse_scaled("1.55", 1, &v), -1);
	CHECK_EQ_INT(parse_scaled("", 1, &v), -1);
	CHECK_EQ_INT(parse_scaled(".", 1, &v), -1);
	CHECK_EQ_INT(parse_scaled("1e3", 1, &v), -1);
	CHECK_EQ_INT(parse_scaled("99999999999999999999", 2, &v), -1);
	format_scaled(1250, 2, buf, sizeof buf);
	CHECK_EQ_STR(buf, "12.50");
	format_scaled(-5, 1, buf, sizeof buf);
	CHECK_EQ_STR(buf, "-0.5");
	format_scaled(7, 0, buf, sizeof buf);
	CHECK_EQ_STR(buf, "7");
	int64_t i;
	CHECK_EQ_INT(parse_int64("42", 0, 100, &i), 0);
	CHECK_EQ_INT(i, 42);
	CHECK_EQ_INT(parse_int64("101", 0, 100, &i), -1);
	CHECK_EQ_INT(parse_int64(" 1", 0, 100, &i), -1);
	CHECK_EQ_INT(parse_int64("+1", 0, 100, &i), -1);
	CHECK_EQ_INT(parse_int64("1x", 0, 100, &i), -1);
	CHECK_EQ_INT(parse_int64("99999999999999999999", 0, INT64_MAX, &i), -1);
}

static void
receipt_signature(void)
{
	char path[] = "/tmp/gen-unit-keyXXXXXX", err[256];
	int fd = mkstemp(path);
	struct sbuf m = {0};

	close(fd);
	unlink(path); /* receipt_key_load creates it */
	struct receipt_key *k = receipt_key_load(path, err, sizeof err);
	CHECK(k != NULL);
	if (k == NULL)
		return;
	receipt_material("GEN-2026-000001", 2, "2026-11-30T10:00:00.123456Z", "ab", &m);
	CHECK_EQ_STR(m.data, "GEN-2026-000001|2|2026-11-30T10:00:00.123456Z|ab");
	const char *sha = "d86f1b0b6b017be44b01e02917f32d08e20c4dd1dd6c974c12198cb27013885d";
	char *sig = receipt_sign(k, "GEN-2026-000001", 1, "2026-11-30T10:00:00.123456Z", sha);
	CHECK(sig != NULL && strlen(sig) == 88);
	const char *pub = receipt_key_public_pem(k);
	CHECK(strstr(pub, "BEGIN PUBLIC KEY") != NULL);
	CHECK(receipt_verify(pub, "GEN-2026-000001", 1, "2026-11-30T10:00:00.123456Z", sha, sig));
	CHECK(!receipt_verify(pub, "GEN-2026-000001", 2, "2026-11-30T10:00:00.123456Z", sha, sig));
	CHECK(!receipt_verify(pub, "GEN-2026-000002", 1, "2026-11-30T10:00:00.123456Z", sha, sig));
	CHECK(!receipt_verify(pub, "GEN-2026-000001", 1, "2026-11-30T10:00:00.123456Z", sha, "AAAA"));
	/* Ed25519 is deterministic: the same receipt signs the same. */
	char *again = receipt_sign(k, "GEN-2026-000001", 1, "2026-11-30T10:00:00.123456Z", sha);
	CHECK_EQ_STR(again, sig);
	/* The key survives a reload from its file. */
	struct receipt_key *k2 = receipt_key_load(path, err, sizeof err);
	CHECK(k2 != NULL && strcmp(receipt_key_public_pem(k2), pub) == 0);
	struct sbuf x = {0};
	CHECK_EQ_INT(receipt_xml(k, "GEN-2026-000001", 1, "2026-11-30T10:00:00.123456Z", sha, &x), 0);
	CHECK(strstr(x.data, "<tracking>GEN-2026-000001</tracking>") != NULL);
	CHECK(strstr(x.data, sig) != NULL);
	sbuf_free(&x);
	free(sig);
	free(again);
	sbuf_free(&m);
	receipt_key_free(k);
	receipt_key_free(k2);
	/* A file that is not a key is an error, not a crash. */
	FILE *f = fopen(path, "w");
	fputs("not a key\n", f);
	fclose(f);
	CHECK(receipt_key_load(path, err, sizeof err) == NULL && err[0] != '\0');
	unlink(path);
}

static void
passwords_and_tokens(void)
{
	char h[AUTH_HASH_MAX], t1[AUTH_TOKEN_LEN + 1], t2[AUTH_TOKEN_LEN + 1];

	CHECK_EQ_INT(auth_password_hash("s3cret pass", 11, 1000, h, sizeof h), 0);
	CHECK(strncmp(h, "pbkdf2-sha256$1000$", 19) == 0);
	CHECK(auth_password_verify("s3cret pass", 11, h));
	CHECK(!auth_password_verify("s3cret pasS", 11, h));
	CHECK(!auth_password_verify("s3cret pass", 11, "pbkdf2-sha256$1000$bad"));
	CHECK(!auth_password_verify("s3cret pass", 11, NULL));
	CHECK(!auth_password_verify("x", 1, "md5$abc"));
	char h2[AUTH_HASH_MAX];
	CHECK_EQ_INT(auth_password_hash("s3cret pass", 11, 1000, h2, sizeof h2), 0);
	CHECK(strcmp(h, h2) != 0); /* fresh salt each time */
	CHECK_EQ_INT(auth_token_new(t1), 0);
	CHECK_EQ_INT(auth_token_new(t2), 0);
	CHECK_EQ_INT(strlen(t1), AUTH_TOKEN_LEN);
	CHECK(strcmp(t1, t2) != 0);
	CHECK(strspn(t1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == AUTH_TOKEN_LEN);
	char hex[65];
	auth_sha256_hex("abc", 3, hex);
	CHECK_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void
config_sources(void)
{
	struct gen_config c;
	char err[256];
	int rest;
	char *argv1[] = { "gen-server", "--port", "9090", "--workers=3", NULL };

	unsetenv("GEN_PORT");
	unsetenv("GEN_CONFIG");
	CHECK_EQ_INT(config_load(&c, CFG_SERVER, 4, argv1, &rest, err, sizeof err), 0);
	CHECK_EQ_INT(c.port, 9090);
	CHECK_EQ_INT(c.workers, 3);
	CHECK_EQ_INT(c.max_body, 2097152);
	CHECK_EQ_INT(c.max_headers, 16384);
	CHECK_EQ_INT(c.idle_timeout, 60);
	CHECK_EQ_STR(c.listen, "127.0.0.1");
	CHECK_EQ_INT(rest, 4);
	config_free(&c);

	/* file < environment < flags */
	char path[] = "/tmp/gen-unit-confXXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	fputs("# comment\nport = 7000\nlisten = 0.0.0.0\npoll-ms = 5\n", f);
	fclose(f);
	setenv("GEN_CONFIG", path, 1);
	setenv("GEN_LISTEN", "::1", 1);
	char *argv2[] = { "gen-server", NULL };
	CHECK_EQ_INT(config_load(&c, CFG_SERVER, 1, argv2, &rest, err, sizeof err), 0);
	CHECK_EQ_INT(c.port, 7000);
	CHECK_EQ_STR(c.listen, "::1");
	config_free(&c);
	unsetenv("GEN_LISTEN");

	/* a bad value in the file names the file, line and bounds */
	f = fopen(path, "w");
	fputs("port = 70000\n", f);
	fclose(f);
	CHECK_EQ_INT(config_load(&c, CFG_SERVER, 1, argv2, &rest, err, sizeof err), -1);
	CHECK(strstr(err, ":1") != NULL && strstr(err, "1 to 65535") != NULL);
	config_free(&c);
	f = fopen(path, "w");
	fputs("no-such-setting = 1\n", f);
	fclose(f);
	CHECK_EQ_INT(config_load(&c, CFG_SERVER, 1, argv2, &rest, err, sizeof err), -1);
	CHECK(strstr(err, "unknown setting") != NULL);
	config_free(&c);
	unsetenv("GEN_CONFIG");
	unlink(path);

	char *argv3[] = { "gen-server", "--port", "abc", NULL };
	CHECK_EQ_INT(config_load(&c, CFG_SERVER, 3, argv3, &rest, err, sizeof err), -1);
	config_free(&c);
	char *argv4[] = { "gen-worker", "--port", "1", NULL }; /* not a worker setting */
	CHECK_EQ_INT(config_load(&c, CFG_WORKER, 3, argv4, &rest, err, sizeof err), -1);
	CHECK(strstr(err, "unknown option") != NULL);
	config_free(&c);
	char *argv5[] = { "genctl", "--db-connections", NULL };
	CHECK_EQ_INT(config_load(&c, CFG_SERVER, 2, argv5, &rest, err, sizeof err), -1);
	config_free(&c);
	char *argv6[] = { "genctl", "migrate", "--dir", "x", NULL };
	CHECK_EQ_INT(config_load(&c, CFG_CTL, 4, argv6, &rest, err, sizeof err), 0);
	CHECK_EQ_INT(rest, 1);
	config_free(&c);
}

UNIT_MAIN("core",
    UNIT_CASE(json_escaping),
    UNIT_CASE(xml_escaping),
    UNIT_CASE(utf8_validation),
    UNIT_CASE(base64_and_hex),
    UNIT_CASE(decimals),
    UNIT_CASE(receipt_signature),
    UNIT_CASE(passwords_and_tokens),
    UNIT_CASE(config_sources))
