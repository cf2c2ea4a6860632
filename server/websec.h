/* websec.h - the rules that protect browser sessions: CSRF tokens,
 * same-origin checks, cookies, HSTS and local redirects (DESIGN §7).
 *
 * A pure core: strings in, verdicts and header values out; no sockets, no
 * SQL, no globals. web.c feeds it the request's headers and answers.
 *
 * Who is checked. A browser attaches the session cookie by itself, so a
 * request that authenticates with the cookie (no Authorization header) and
 * may change something (any method but GET and HEAD) must show it was sent
 * by this server's own pages. A Bearer token is never attached by a browser:
 * those requests are not checked.
 *
 * The session's CSRF token is base64url(SHA-256("gen-csrf\0" || session
 * cookie)): only someone who holds the HttpOnly session secret can compute
 * it, and it needs no server state, so every process and every machine
 * agrees on it. It is given to pages (hidden form field) and to scripts
 * (GET /api/v1/me, "csrfToken"), and comes back in the X-CSRF-Token header
 * or, in an application/x-www-form-urlencoded body, the csrf_token field.
 *
 * The rule (websec_check_session), in order:
 *   1. a token is given: it must be the session's (else BAD_TOKEN); a valid
 *      token passes, whatever the origin;
 *   2. Origin is present and is not this server's own (scheme, host, port
 *      against the Host header; "null" is foreign), or Sec-Fetch-Site is
 *      cross-site or same-site: CROSS_SITE;
 *   3. the body has a type an HTML form can send without a CORS preflight
 *      (application/x-www-form-urlencoded, multipart/form-data,
 *      text/plain): NO_TOKEN;
 *   4. otherwise it passes: scripts sending XML or JSON with the cookie and
 *      no Origin keep working (a browser cannot send those types to another
 *      origin without a preflight this server never grants).
 *
 * Login (websec_check_login) has no session yet. A foreign Origin or
 * Sec-Fetch-Site is always refused (login CSRF: being logged in as the
 * attacker), token or not. The HTML login form is a double submit: GET
 * /login sets the gen_csrf cookie and puts the same value in the form; a
 * login that carries a token must carry the cookie's. A login without token
 * and without Origin (a script) passes, as DESIGN §3 promises. */
#ifndef GEN_WEBSEC_H
#define GEN_WEBSEC_H

#include <stddef.h>

#include "util.h"

#define WEBSEC_TOKEN_LEN 43               /* base64url of 32 bytes */
#define WEBSEC_SESSION_COOKIE "gen_session"
#define WEBSEC_LOGIN_COOKIE "gen_csrf"    /* the login form's double submit */
#define WEBSEC_TOKEN_FIELD "csrf_token"   /* form field */
#define WEBSEC_TOKEN_HEADER "X-CSRF-Token"

/** 1 when s (len bytes) is a token as this server makes them: exactly
 * WEBSEC_TOKEN_LEN base64url characters. */
int websec_token_wellformed(const char *s, size_t len);

/** The CSRF token of session cookie value `session` (len bytes) into out. */
void websec_session_token(const char *session, size_t len,
    char out[WEBSEC_TOKEN_LEN + 1]);

/** 1 when `given` equals `expected` (both NUL-terminated); the comparison
 * takes the same time wherever they differ (CRYPTO_memcmp). */
int websec_token_equal(const char *given, const char *expected);

/** The value of cookie `name` in a Cookie header ("a=1; b=2"), or NULL;
 * *len is set to its length. Names match exactly ("xgen_session" is not
 * "gen_session"); the first occurrence wins. */
const char *websec_cookie(const char *header, const char *name, size_t *len);

/** Append a Set-Cookie value to out: name=value; Path=/; HttpOnly;
 * SameSite=Strict, then Max-Age when max_age >= 0 (0 deletes; < 0 is a
 * cookie that ends with the browser session), then Secure when `secure`
 * (the server speaks TLS). */
void websec_set_cookie(struct sbuf *out, const char *name, const char *value,
    int max_age, int secure);

/** The Strict-Transport-Security value ("max-age=N") into out, returning
 * 1; 0 (nothing to send) unless tls and seconds > 0. */
int websec_hsts(int tls, int seconds, char *out, size_t outlen);

/** 1 when `origin` (an Origin header) names this server: scheme https
 * under TLS, http or https otherwise (TLS may end at a proxy in front),
 * and the same host and port as the Host header (a missing port is the
 * scheme's default). "null", a malformed origin or a missing Host: 0. */
int websec_same_origin(const char *origin, const char *host, int tls);

/** 1 when content_type (NULL: none) is application/x-www-form-urlencoded. */
int websec_urlencoded(const char *content_type);

/** 1 when content_type is one an HTML form can send to another origin
 * without a CORS preflight: urlencoded, multipart/form-data, text/plain. */
int websec_form_body(const char *content_type);

/** Find field `name` in an application/x-www-form-urlencoded body of len
 * bytes (not NUL-terminated) and decode its value ('+' and %XX) into out.
 * Returns 1 found, 0 absent, -1 present but malformed or longer than
 * outlen - 1. Reads the body once, allocates nothing. */
int websec_form_field(const char *body, size_t len, const char *name,
    char *out, size_t outlen);

/** 1 when s is a safe target for a redirect after login: a path on this
 * server ("/" then not "/" or "\"), printable ASCII without backslash or
 * space, at most 512 bytes. Anything else could send the user to another
 * site (an open redirect) or break the Location header. */
int websec_local_path(const char *s);

/** The client's address into out: the TCP peer's, unless the peer is one
 * of `trusted` (reverse proxies: IP addresses separated by commas or
 * spaces) and `xff` (the last X-Forwarded-For header, NULL if none) ends
 * in an IP address: the one that proxy appended. Entries before it were
 * written by the client and are never believed. */
void websec_client_addr(const char *peer, const char *xff, const char *trusted,
    char *out, size_t outlen);

/** The request facts the checks need (NULL: header absent). */
struct websec_request {
	int tls;                  /* the server speaks TLS */
	const char *host;         /* Host */
	const char *origin;       /* Origin */
	const char *fetch_site;   /* Sec-Fetch-Site */
	const char *content_type; /* Content-Type */
	const char *token;        /* token the request carries (header or field) */
	const char *expected;     /* the token it must be: the session's, or
	                           * the login cookie's; NULL when there is none */
};

enum websec_verdict {
	WEBSEC_OK,          /* passes; no token was needed */
	WEBSEC_OK_TOKEN,    /* passes with a valid token */
	WEBSEC_CROSS_SITE,  /* from another site, without a valid token */
	WEBSEC_NO_TOKEN,    /* a form body without token */
	WEBSEC_BAD_TOKEN,   /* a token that is not the expected one */
};

/** 1 when Origin or Sec-Fetch-Site say the request comes from another
 * site (see websec_same_origin). */
int websec_cross_site(const struct websec_request *r);

/** The rule for a cookie-authenticated unsafe request (see above). */
enum websec_verdict websec_check_session(const struct websec_request *r);

/** The rule for a login request (see above). */
enum websec_verdict websec_check_login(const struct websec_request *r);

/** A short name of a verdict for logs ("cross-site", "no-token", …). */
const char *websec_verdict_name(enum websec_verdict v);

#endif
