/* websec.c - see websec.h. */
#include "websec.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth.h"

_Static_assert(WEBSEC_TOKEN_LEN == AUTH_TOKEN_LEN, "CSRF tokens are written like session tokens");

static int
b64url_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '_';
}

int
websec_token_wellformed(const char *s, size_t len)
{
	if (s == NULL || len != WEBSEC_TOKEN_LEN)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!b64url_char((unsigned char)s[i]))
			return 0;
	return 1;
}

void
websec_session_token(const char *session, size_t len, char out[WEBSEC_TOKEN_LEN + 1])
{
	static const char label[] = "gen-csrf";   /* hashed with its NUL */
	unsigned char d[32];
	unsigned int dlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, label, sizeof label) != 1 ||
	    EVP_DigestUpdate(ctx, session, len) != 1 ||
	    EVP_DigestFinal_ex(ctx, d, &dlen) != 1 || dlen != sizeof d)
		abort();   /* SHA-256 does not fail short of memory */
	EVP_MD_CTX_free(ctx);
	auth_token_encode(d, out);
	OPENSSL_cleanse(d, sizeof d);
}

int
websec_token_equal(const char *given, const char *expected)
{
	size_t n = strlen(expected);

	/* The length is public (every token has the same); the bytes are
	 * compared in constant time. */
	return given != NULL && n > 0 && strlen(given) == n && CRYPTO_memcmp(given, expected, n) == 0;
}

const char *
websec_cookie(const char *header, const char *name, size_t *len)
{
	size_t nlen = strlen(name);
	const char *p = header;

	if (p == NULL)
		return NULL;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		const char *pair = p;
		size_t plen = strcspn(p, ";");
		p += plen;
		const char *eq = memchr(pair, '=', plen);
		if (eq == NULL || (size_t)(eq - pair) != nlen || memcmp(pair, name, nlen) != 0)
			continue;
		const char *v = eq + 1, *end = pair + plen;
		while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		*len = (size_t)(end - v);
		return v;
	}
	return NULL;
}

void
websec_set_cookie(struct sbuf *out, const char *name, const char *value, int max_age, int secure)
{
	sbuf_printf(out, "%s=%s; Path=/; HttpOnly; SameSite=Strict", name, value);
	if (max_age >= 0)
		sbuf_printf(out, "; Max-Age=%d", max_age);
	if (secure)
		sbuf_adds(out, "; Secure");
}

int
websec_hsts(int tls, int seconds, char *out, size_t outlen)
{
	if (!tls || seconds <= 0)
		return 0;
	snprintf(out, outlen, "max-age=%d", seconds);
	return 1;
}

/* host[:port] or [v6]:port of n bytes: the host and the port (-1 when
 * not given). Returns 0, or -1 when malformed. */
static int
split_authority(const char *s, size_t n, const char **host, size_t *hlen, long *port)
{
	size_t i;

	if (n == 0)
		return -1;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (close == NULL)
			return -1;
		i = (size_t)(close - s) + 1;
		for (size_t k = 1; k + 1 < i; k++)
			if (hex_value(s[k]) < 0 && s[k] != ':' && s[k] != '.')
				return -1;
	} else {
		for (i = 0; i < n && s[i] != ':'; i++)
			if (!(b64url_char((unsigned char)s[i]) || s[i] == '.'))
				return -1;
	}
	*host = s;
	*hlen = i;
	*port = -1;
	if (i == 0 || (s[0] == '[' && i <= 2))
		return -1;
	if (i == n)
		return 0;
	if (s[i] != ':' || i + 1 == n || n - i - 1 > 5)
		return -1;
	long p = 0;
	for (size_t k = i + 1; k < n; k++) {
		if (s[k] < '0' || s[k] > '9')
			return -1;
		p = p * 10 + (s[k] - '0');
	}
	if (p < 1 || p > 65535)
		return -1;
	*port = p;
	return 0;
}

int
websec_same_origin(const char *origin, const char *host, int tls)
{
	const char *oh, *hh, *rest;
	size_t ohl, hhl;
	long op, hp, def;

	if (origin == NULL || host == NULL)
		return 0;
	if (strncasecmp(origin, "https://", 8) == 0) {
		rest = origin + 8;
		def = 443;
	} else if (!tls && strncasecmp(origin, "http://", 7) == 0) {
		rest = origin + 7;
		def = 80;
	} else {
		return 0;   /* "null", another scheme, or http under TLS */
	}
	if (split_authority(rest, strlen(rest), &oh, &ohl, &op) != 0 ||
	    split_authority(host, strlen(host), &hh, &hhl, &hp) != 0)
		return 0;
	if (op < 0)
		op = def;
	if (hp < 0)
		hp = def;
	return ohl == hhl && strncasecmp(oh, hh, ohl) == 0 && op == hp;
}

/* The media type of a Content-Type value equals type (case-insensitive). */
static int
media_type_is(const char *content_type, const char *type)
{
	size_t n;

	if (content_type == NULL)
		return 0;
	while (*content_type == ' ' || *content_type == '\t')
		content_type++;
	n = strcspn(content_type, "; \t");
	return n == strlen(type) && strncasecmp(content_type, type, n) == 0;
}

int
websec_urlencoded(const char *content_type)
{
	return media_type_is(content_type, "application/x-www-form-urlencoded");
}

int
websec_form_body(const char *content_type)
{
	return websec_urlencoded(content_type) || media_type_is(content_type, "multipart/form-data") ||
	    media_type_is(content_type, "text/plain");
}

int
websec_form_field(const char *body, size_t len, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name), i = 0;

	while (i < len) {
		size_t start = i;
		while (i < len && body[i] != '&')
			i++;
		const char *pair = body + start;
		size_t plen = i - start;
		i++;   /* past the '&' */
		if (plen <= nlen || pair[nlen] != '=' || memcmp(pair, name, nlen) != 0)
			continue;
		size_t o = 0;
		for (size_t k = nlen + 1; k < plen; k++) {
			int c = (unsigned char)pair[k];
			if (c == '+') {
				c = ' ';
			} else if (c == '%') {
				int hi = k + 2 < plen ? hex_value(pair[k + 1]) : -1;
				int lo = hi >= 0 ? hex_value(pair[k + 2]) : -1;
				if (lo < 0)
					return -1;
				c = hi * 16 + lo;
				k += 2;
			}
			if (c == '\0' || o + 1 >= outlen)
				return -1;
			out[o++] = (char)c;
		}
		if (outlen == 0)
			return -1;
		out[o] = '\0';
		return 1;
	}
	return 0;
}

/* 1 when the list `set` (commas or spaces) holds `addr` exactly. */
static int
addr_listed(const char *set, const char *addr)
{
	size_t n = strlen(addr);

	while (*set) {
		size_t len;
		set += strspn(set, ", \t");
		len = strcspn(set, ", \t");
		if (len == n && len > 0 && strncmp(set, addr, n) == 0)
			return 1;
		set += len;
	}
	return 0;
}

void
websec_client_addr(const char *peer, const char *xff, const char *trusted,
    char *out, size_t outlen)
{
	const char *last;
	char ip[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	size_t len;

	snprintf(out, outlen, "%s", peer ? peer : "unknown");
	if (peer == NULL || xff == NULL || trusted == NULL || !addr_listed(trusted, peer))
		return;
	last = strrchr(xff, ',');
	last = last ? last + 1 : xff;
	last += strspn(last, " \t");
	len = strcspn(last, " \t");
	if (len == 0 || len >= sizeof ip || last[len + strspn(last + len, " \t")] != '\0')
		return;
	memcpy(ip, last, len);
	ip[len] = '\0';
	if (inet_pton(AF_INET, ip, bin) == 1 || inet_pton(AF_INET6, ip, bin) == 1)
		snprintf(out, outlen, "%s", ip);
}

int
websec_local_path(const char *s)
{
	size_t n;

	if (s == NULL || s[0] != '/' || s[1] == '/' || s[1] == '\\')
		return 0;
	n = strlen(s);
	if (n > 512)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == '\\')
			return 0;
	return 1;
}

int
websec_cross_site(const struct websec_request *r)
{
	if (r->origin != NULL && !websec_same_origin(r->origin, r->host, r->tls))
		return 1;
	return r->fetch_site != NULL && (strcasecmp(r->fetch_site, "cross-site") == 0 ||
	    strcasecmp(r->fetch_site, "same-site") == 0);
}

enum websec_verdict
websec_check_session(const struct websec_request *r)
{
	if (r->token != NULL)
		return r->expected != NULL && websec_token_equal(r->token, r->expected) ?
		    WEBSEC_OK_TOKEN : WEBSEC_BAD_TOKEN;
	if (websec_cross_site(r))
		return WEBSEC_CROSS_SITE;
	if (websec_form_body(r->content_type))
		return WEBSEC_NO_TOKEN;
	return WEBSEC_OK;
}

enum websec_verdict
websec_check_login(const struct websec_request *r)
{
	if (websec_cross_site(r))
		return WEBSEC_CROSS_SITE;
	if (r->token == NULL)
		return WEBSEC_OK;
	return r->expected != NULL && websec_token_equal(r->token, r->expected) ?
	    WEBSEC_OK_TOKEN : WEBSEC_BAD_TOKEN;
}

const char *
websec_verdict_name(enum websec_verdict v)
{
	switch (v) {
	case WEBSEC_OK: return "ok";
	case WEBSEC_OK_TOKEN: return "ok-token";
	case WEBSEC_CROSS_SITE: return "cross-site";
	case WEBSEC_NO_TOKEN: return "no-token";
	case WEBSEC_BAD_TOKEN: return "bad-token";
	}
	return "?";
}
