/* framing.c - see framing.h. */
#include "framing.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <limits.h>
#include <poll.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <http_parser.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "tls.h"
#include "util.h"

/* The failures the filter reports; the index travels in the internal path. */
static const struct failure {
	int status;
	const char *title;
	const char *detail;
} failures[] = {
#define F_MALFORMED 0
	{ 400, "Malformed request", "the request does not follow HTTP/1.1 syntax" },
#define F_HEADERS_TOO_LARGE 1
	{ 431, "Request header fields too large", "the request line and headers exceed the limit" },
#define F_BODY_TOO_LARGE 2
	{ 413, "Content too large", "the request body exceeds the limit" },
#define F_VERSION 3
	{ 505, "HTTP version not supported", "only HTTP/1.0 and HTTP/1.1 are served" },
#define F_METHOD 4
	{ 501, "Method not implemented", "only GET, HEAD, POST, PUT and DELETE are served" },
#define F_TRANSFER_CODING 5
	{ 400, "Unsupported transfer coding", "only Transfer-Encoding: chunked is accepted, without Content-Length" },
#define F_HOST 6
	{ 400, "Bad Host header", "HTTP/1.1 requests need exactly one Host header" },
#define F_EXPECT 7
	{ 417, "Expectation failed", "only Expect: 100-continue is supported" },
#define F_TIMEOUT 8
	{ 408, "Request timeout", "the request was not received in time" },
#define F_CONTENT_LENGTH 9
	{ 400, "Bad Content-Length", "Content-Length must be one run of digits, given once" },
#define F_PLAIN_ON_TLS 10
	{ 400, "Plain HTTP sent to the HTTPS port", "this port speaks TLS only: use https://" },
#define F_TLS 11
	{ 400, "TLS failure", "the TLS handshake or a record failed" },
};

#define INTERNAL_PREFIX "/.gen-framing/"

/* Back-pressure. A client may pipeline requests and never read the
 * answers: evhttp answers one request at a time and each answer waits for
 * the client, while requests handed over pile up in evhttp's input (each
 * rebuilt one in several 1 KB evbuffer chunks: 20 MB sent took 1.7 GB).
 * So the filter hands no more requests while PIPELINE_MAX wait for their
 * answer or PENDING_MAX bytes of them wait for evhttp, and the socket
 * bufferevent stops reading once SOCKET_READ_MAX bytes wait for the
 * filter: the client's TCP window closes. Each answer written resumes
 * (framing_answered, on_resume). */
#define PIPELINE_MAX 16
/* Header fields per request (trailers included): evhttp keeps each as its
 * own allocations, so thousands of tiny fields under the byte limit would
 * cost a hundred times their size. Apache's default limit too. */
#define FIELDS_MAX 100
#define PENDING_MAX (64 * 1024)
#define SOCKET_READ_MAX (64 * 1024)
static char secret[33]; /* per process: clients cannot forge internal paths */
static long live;       /* connections open in this process */
static long capacity = LONG_MAX;     /* framing_set_capacity */
static void (*on_full)(int);
static unsigned long closed; /* connections closed since start */

/* Which header the parser is in, for the few the filter checks. */
enum hdr { H_OTHER, H_HOST, H_TE, H_CL, H_EXPECT, H_CONNECTION };

/* A TLS connection's states. Answers leave encrypted only when UP; a
 * client that spoke plain HTTP to the port gets its one answer in clear;
 * otherwise answers are dropped and the connection closes. */
enum tls_state { TLS_OFF, TLS_HANDSHAKE, TLS_UP, TLS_PLAIN_REPLY, TLS_DEAD };

struct conn {
	struct bufferevent *underlying;
	struct bufferevent *filter;
	struct framing_limits lim;
	http_parser parser;
	/* The current request, rebuilt from what the parser saw (see
	 * on_message_complete): target, header lines, decoded body. */
	struct evbuffer *url, *head, *body;
	struct evbuffer *name;      /* current header name, as sent */
	int skip_header;            /* current header is not passed on */
	struct evbuffer *pending;   /* complete rebuilt request, for evhttp */
	struct event *timer;        /* request receive deadline */
	struct event *wev;          /* socket writable, to finish a reply */
	size_t head_bytes, body_bytes;
	int in_message, headers_done, message_done, failed, fail_code;
	int last;                   /* a request with Connection: close was handed */
	int throttled;              /* input left unread for back-pressure */
	char field[24];             /* current header name (lower case, truncated) */
	size_t field_len;
	int field_overflow, in_value;
	enum hdr hdr;
	int hosts, tes, expects, fields;
	int keep_alive;             /* what the headers (not the trailers) say */
	/* A client may close its sending side and still wait for answers.
	 * evhttp 2.1.12 takes a read EOF as the end of the connection and
	 * drops answers not yet written, so the EOF is held back while
	 * requests handed to evhttp are not all answered, or while input
	 * waits for them (on_socket_event). */
	unsigned handed, answered;
	short held_eof;
	struct event *resume_ev;    /* after an answer: read on, or the EOF */
	bufferevent_data_cb sock_read, sock_write; /* the filter's callbacks */
	bufferevent_event_cb sock_event;           /* on the socket bufferevent */
	void *sock_arg;
	int expect_continue;        /* 1: 100 Continue due, 2: sent */
	/* TLS: ciphertext in, plaintext waiting to be parsed, ciphertext out */
	SSL *ssl;
	enum tls_state tls;
	struct evbuffer *tls_in, *clear, *tls_out;
	char te[32], cl[32], expect[32];
	size_t te_len, cl_len, expect_len;
	/* Connection tokens, read here too: http-parser misses "close"
	 * followed by HTAB. tok holds the current token (truncated). */
	char tok[8];
	size_t tok_len;
	int tok_bad, tok_ws, conn_close;
};

static http_parser_settings settings;

static struct conn *
conn_of(http_parser *p)
{
	return p->data;
}

static void fail(struct conn *c, int code);

static int
is_tchar(char ch)
{
	return ch != '\0' && ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= 'A' && ch <= 'Z') || strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* End of a header name: classify it. */
static void
header_named(struct conn *c)
{
	c->hdr = H_OTHER;
	if (c->field_overflow)
		return;
	c->field[c->field_len] = '\0';
	if (strcmp(c->field, "host") == 0) {
		c->hdr = H_HOST;
		c->hosts++;
	} else if (strcmp(c->field, "transfer-encoding") == 0) {
		c->hdr = H_TE;
		c->tes++;
		c->te_len = 0;
	} else if (strcmp(c->field, "content-length") == 0) {
		c->hdr = H_CL;
		c->cl_len = 0;
	} else if (strcmp(c->field, "connection") == 0) {
		c->hdr = H_CONNECTION;
	} else if (strcmp(c->field, "expect") == 0) {
		c->hdr = H_EXPECT;
		c->expects++;
		c->expect_len = 0;
	}
}

static void
keep(char *buf, size_t cap, size_t *len, const char *at, size_t n)
{
	for (size_t i = 0; i < n && *len + 1 < cap; i++)
		buf[(*len)++] = at[i];
	buf[*len] = '\0';
}

static int
on_message_begin(http_parser *p)
{
	struct conn *c = conn_of(p);
	struct timeval tv = { c->lim.request_timeout_ms / 1000,
	    (c->lim.request_timeout_ms % 1000) * 1000 };

	c->in_message = 1;
	c->headers_done = c->message_done = 0;
	c->head_bytes = c->body_bytes = 0;
	c->field_len = 0;
	c->field_overflow = c->in_value = 0;
	c->hosts = c->tes = c->expects = c->fields = c->expect_continue = 0;
	c->te_len = c->cl_len = c->expect_len = 0;
	c->te[0] = c->cl[0] = c->expect[0] = '\0';
	c->tok_len = 0;
	c->tok_bad = c->tok_ws = c->conn_close = 0;
	evbuffer_drain(c->url, evbuffer_get_length(c->url));
	evbuffer_drain(c->name, evbuffer_get_length(c->name));
	evbuffer_drain(c->head, evbuffer_get_length(c->head));
	evbuffer_drain(c->body, evbuffer_get_length(c->body));
	evtimer_add(c->timer, &tv);
	return 0;
}

/* Count the request line and headers against the limit as they arrive. */
static int
head_bytes(struct conn *c, size_t n)
{
	c->head_bytes += n;
	if (c->head_bytes > c->lim.max_headers) {
		fail(c, F_HEADERS_TOO_LARGE);
		return -1;
	}
	return 0;
}

static int
on_url(http_parser *p, const char *at, size_t n)
{
	struct conn *c = conn_of(p);

	if (head_bytes(c, n) != 0)
		return -1;
	evbuffer_add(c->url, at, n);
	return 0;
}

/* The end of a Connection token: is it close? */
static void
token_done(struct conn *c)
{
	if (!c->tok_bad && c->tok_len == 5 && strncasecmp(c->tok, "close", 5) == 0)
		c->conn_close = 1;
	c->tok_len = 0;
	c->tok_bad = c->tok_ws = 0;
}

/* Bytes of a Connection value: tokens separated by commas, with optional
 * whitespace (SP or HTAB) around them (RFC 9110 §7.6.1). */
static void
connection_bytes(struct conn *c, const char *at, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char ch = at[i];
		if (ch == ',')
			token_done(c);
		else if (ch == ' ' || ch == '\t')
			c->tok_ws = c->tok_len > 0;
		else if (c->tok_ws || c->tok_len == sizeof c->tok)
			c->tok_bad = 1; /* "clo se", or longer than any token we seek */
		else
			c->tok[c->tok_len++] = ch;
	}
}

/* The end of a header line. */
static void
header_done(struct conn *c)
{
	if (c->hdr == H_CONNECTION)
		token_done(c);
	if (!c->skip_header)
		evbuffer_add(c->head, "\r\n", 2);
	c->in_value = 0;
	c->field_len = 0;
	c->field_overflow = 0;
}

static int
on_header_field(http_parser *p, const char *at, size_t n)
{
	struct conn *c = conn_of(p);
	/* A name may come in several calls (split across reads): the ": "
	 * and CRLF of its line are counted once, with its first part. */
	int first = c->in_value || evbuffer_get_length(c->name) == 0;

	if (head_bytes(c, n + (first ? 4 : 0)) != 0)
		return -1;
	if (first && ++c->fields > FIELDS_MAX) {
		fail(c, F_HEADERS_TOO_LARGE);
		return -1;
	}
	if (c->in_value)
		header_done(c);
	/* RFC 9110 field names are tokens: no space before the colon. */
	for (size_t i = 0; i < n; i++)
		if (!is_tchar(at[i])) {
			fail(c, F_MALFORMED);
			return -1;
		}
	for (size_t i = 0; i < n; i++) {
		if (c->field_len + 1 >= sizeof c->field) {
			c->field_overflow = 1;
			break;
		}
		char ch = at[i];
		c->field[c->field_len++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
	}
	evbuffer_add(c->name, at, n);
	return 0;
}

static int
on_header_value(http_parser *p, const char *at, size_t n)
{
	struct conn *c = conn_of(p);

	if (head_bytes(c, n) != 0)
		return -1;
	if (!c->in_value) {
		c->in_value = 1;
		header_named(c);
		/* Transfer-Encoding goes: evhttp gets the decoded body with
		 * its length. Expect goes: it is answered here (evhttp would
		 * refuse an empty one with its own HTML 417). So do trailer
		 * fields (after the headers), the length of a body evhttp
		 * will not read (HEAD, see on_message_complete), and
		 * Connection, rebuilt from its tokens. */
		c->skip_header = c->hdr == H_TE || c->hdr == H_EXPECT || c->hdr == H_CONNECTION || c->headers_done ||
		    (c->hdr == H_CL && p->method == HTTP_HEAD);
		/* Copied, not moved: a moved buffer brings its own chunk
		 * (about 1 KB) for every field, so thousands of tiny fields
		 * would cost a hundred times what they weigh. */
		if (!c->skip_header) {
			size_t len = evbuffer_get_length(c->name);
			evbuffer_add(c->head, evbuffer_pullup(c->name, -1), len);
			evbuffer_add(c->head, ": ", 2);
		}
		evbuffer_drain(c->name, evbuffer_get_length(c->name));
	}
	if (!c->skip_header)
		evbuffer_add(c->head, at, n);
	switch (c->hdr) {
	case H_TE: keep(c->te, sizeof c->te, &c->te_len, at, n); break;
	case H_CL: keep(c->cl, sizeof c->cl, &c->cl_len, at, n); break;
	case H_EXPECT: keep(c->expect, sizeof c->expect, &c->expect_len, at, n); break;
	case H_CONNECTION:
		if (!c->headers_done) /* a trailer field says nothing of the connection */
			connection_bytes(c, at, n);
		break;
	default: break;
	}
	return 0;
}

/* evhttp refuses, with its own HTML 400, a request target that its URI
 * parser cannot read (such as "//host\xc4" taken for an authority), so the
 * same parser, with the same flags, checks it first. */
static int
target_ok(struct conn *c)
{
	size_t n = evbuffer_get_length(c->url);
	char *target = xmalloc(n + 1);

	evbuffer_copyout(c->url, target, n);
	target[n] = '\0';
	struct evhttp_uri *uri = evhttp_uri_parse_with_flags(target, EVHTTP_URI_NONCONFORMANT);
	free(target);
	if (uri == NULL)
		return 0;
	evhttp_uri_free(uri);
	return 1;
}

static int
on_headers_complete(http_parser *p)
{
	struct conn *c = conn_of(p);

	if (c->in_value)
		header_done(c);
	c->headers_done = 1;
	c->keep_alive = http_should_keep_alive(p);
	if (p->http_major != 1 || p->http_minor > 1) {
		fail(c, F_VERSION);
		return -1;
	}
	switch (p->method) {
	case HTTP_GET: case HTTP_HEAD: case HTTP_POST: case HTTP_PUT: case HTTP_DELETE:
		break;
	default:
		fail(c, F_METHOD);
		return -1;
	}
	if (!target_ok(c)) {
		fail(c, F_MALFORMED);
		return -1;
	}
	if (c->hosts > 1 || (p->http_minor == 1 && c->hosts == 0)) {
		fail(c, F_HOST);
		return -1;
	}
	if (c->tes > 1 || (c->te[0] != '\0' && (strcasecmp(c->te, "chunked") != 0 || c->cl[0] != '\0'))) {
		fail(c, F_TRANSFER_CODING);
		return -1;
	}
	if (c->cl[0] != '\0' && strspn(c->cl, "0123456789") != strlen(c->cl)) {
		fail(c, F_CONTENT_LENGTH);
		return -1;
	}
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->lim.max_body) {
		fail(c, F_BODY_TOO_LARGE);
		return -1;
	}
	if (c->expects > 0) {
		if (c->expects > 1 || strcasecmp(c->expect, "100-continue") != 0) {
			fail(c, F_EXPECT);
			return -1;
		}
		/* The body is held here until complete, so the client must be
		 * told to send it (filter_in, once the input is read). */
		if (p->http_minor == 1 && ((p->flags & F_CHUNKED) || p->content_length > 0))
			c->expect_continue = 1;
	}
	return 0;
}

static int
on_body(http_parser *p, const char *at, size_t n)
{
	struct conn *c = conn_of(p);

	c->body_bytes += n;
	if (c->body_bytes > c->lim.max_body) {
		fail(c, F_BODY_TOO_LARGE);
		return -1;
	}
	evbuffer_add(c->body, at, n);
	return 0;
}

/* evhttp takes an absolute-form target (http://host/path) for a proxy
 * request and closes after answering it, unannounced; a server must accept
 * that form (RFC 9112 §3.2.2), so evhttp gets the origin form: the path
 * and the query. Anything else goes as it came. */
static void
add_target(struct evbuffer *out, struct evbuffer *url)
{
	size_t n = evbuffer_get_length(url);
	const char *u = n > 0 ? (const char *)evbuffer_pullup(url, -1) : "";
	struct http_parser_url pu;
	const char *path = "/";
	size_t plen = 1;

	http_parser_url_init(&pu);
	if (n == 0 || u[0] == '/' || http_parser_parse_url(u, n, 0, &pu) != 0 ||
	    !(pu.field_set & (1 << UF_SCHEMA))) {
		evbuffer_add_buffer(out, url);
		return;
	}
	if (pu.field_set & (1 << UF_PATH)) {
		path = u + pu.field_data[UF_PATH].off;
		plen = pu.field_data[UF_PATH].len;
	}
	if (plen >= 2 && path[1] == '/') { /* "//x" would read as an authority */
		evbuffer_add_buffer(out, url);
		return;
	}
	evbuffer_add(out, path, plen);
	if (pu.field_set & (1 << UF_QUERY)) {
		evbuffer_add(out, "?", 1);
		evbuffer_add(out, u + pu.field_data[UF_QUERY].off, pu.field_data[UF_QUERY].len);
	}
	evbuffer_drain(url, n);
}

/* A chunk declares its size first: one that would take the body past
 * the limit is refused at once, not after its bytes trickled in. */
static int
on_chunk_header(http_parser *p)
{
	struct conn *c = conn_of(p);

	if (p->content_length > c->lim.max_body - c->body_bytes) {
		fail(c, F_BODY_TOO_LARGE);
		return -1;
	}
	return 0;
}

static int
on_message_complete(http_parser *p)
{
	struct conn *c = conn_of(p);

	if (c->in_value)
		header_done(c); /* the last trailer field */
	c->message_done = 1;
	c->in_message = 0;
	evtimer_del(c->timer);
	/* evhttp reads a canonical copy, never the client's bytes: its own
	 * lenient parser (chunk extensions refused with an HTML 413, bare LF,
	 * obs-fold, trailers) has nothing left to disagree about. */
	evbuffer_add_printf(c->pending, "%s ", http_method_str(p->method));
	add_target(c->pending, c->url);
	evbuffer_add_printf(c->pending, " HTTP/%d.%d\r\n", p->http_major, p->http_minor);
	evbuffer_add_buffer(c->pending, c->head);
	/* evhttp closes only on the exact value "close" of the first
	 * Connection header, but the close token anywhere in any of them
	 * makes this request the last (RFC 9112 §9.6): it gets exactly that,
	 * and the filter reads nothing after it (parse). http-parser's flag
	 * also covers a close token in a trailer, after which it reads
	 * nothing more, so neither does the filter. */
	c->last = c->conn_close || !c->keep_alive || (p->flags & F_CONNECTION_CLOSE);
	if (c->last)
		evbuffer_add(c->pending, "Connection: close\r\n", 19);
	else if (p->flags & F_CONNECTION_KEEP_ALIVE)
		evbuffer_add(c->pending, "Connection: keep-alive\r\n", 24);
	/* evhttp 2.1.12 never reads the body of a HEAD request: passed on,
	 * it would be read as the next request, unchecked (smuggling). */
	if (p->method == HTTP_HEAD)
		evbuffer_drain(c->body, evbuffer_get_length(c->body));
	else if (p->flags & F_CHUNKED)
		evbuffer_add_printf(c->pending, "Content-Length: %zu\r\n", c->body_bytes);
	evbuffer_add(c->pending, "\r\n", 2);
	evbuffer_add_buffer(c->pending, c->body);
	http_parser_pause(p, 1); /* hand this request over before parsing the next */
	return 0;
}

/* Replace whatever is left by the internal request that reports `code`. */
static void
fail(struct conn *c, int code)
{
	char line[160];

	if (c->failed)
		return;
	c->failed = 1;
	c->fail_code = code;
	evtimer_del(c->timer);
	evbuffer_drain(c->pending, evbuffer_get_length(c->pending));
	c->handed++;
	int n = snprintf(line, sizeof line, "GET " INTERNAL_PREFIX "%s/%d HTTP/1.1\r\nHost: gen\r\n\r\n",
	    secret, code);
	evbuffer_add(bufferevent_get_input(c->filter), line, (size_t)n);
}

/* Whether evhttp still holds the filter: bufferevent_free clears its
 * callbacks at once, but the filter (and this conn) are freed only later,
 * in a finalizer. Until then the events below may still fire, and must not
 * touch the filter: a flush or trigger would take a reference from zero
 * and free the filter twice. */
static int
filter_alive(struct conn *c)
{
	bufferevent_event_cb eventcb = NULL;

	bufferevent_getcb(c->filter, NULL, NULL, &eventcb, NULL);
	return eventcb != NULL;
}

/* ---- the writing side ----
 *
 * evhttp takes a reply as written once the filter's output is empty, and
 * may then shut the socket down at once, which would lose whatever still
 * waited in the socket bufferevent. So replies go to the socket directly
 * while it accepts them (encrypted first under TLS); what it does not take
 * waits in the socket bufferevent, and the reply's last byte stays in the
 * filter until that is empty and the socket has room, then leaves directly
 * too. evhttp hears "written" when every byte is in the kernel. */

/* Write `n` bytes of `wire` straight to the socket; whatever the kernel
 * does not take goes, in order, to the socket bufferevent `dst`. */
static int
write_direct(struct conn *c, struct evbuffer *wire, size_t n, struct evbuffer *dst)
{
	evutil_socket_t fd = bufferevent_getfd(c->underlying);

	if (fd < 0)
		return -1;
	if (evbuffer_get_length(dst) == 0 && n > 0) {
		int w = evbuffer_write_atmost(wire, fd, (ev_ssize_t)n);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (w > 0)
			n -= (size_t)w;
	}
	if (n > 0)
		evbuffer_remove_buffer(wire, dst, n);
	return 0;
}

/* Encrypt `n` bytes of `src` into c->tls_out. */
static int
tls_encrypt(struct conn *c, struct evbuffer *src, size_t n)
{
	while (n > 0) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(src, (ev_ssize_t)n, NULL, &v, 1) < 1)
			return -1;
		size_t len = v.iov_len < n ? v.iov_len : n, done = 0;
		if (SSL_write_ex(c->ssl, v.iov_base, len, &done) != 1 || done == 0) {
			c->tls = TLS_DEAD;
			return -1;
		}
		evbuffer_drain(src, done);
		n -= done;
	}
	return 0;
}

/* Send `n` bytes of the reply in `src`: as they are, or encrypted. */
static int
send_bytes(struct conn *c, struct evbuffer *src, size_t n, struct evbuffer *dst)
{
	if (c->tls != TLS_UP)
		return write_direct(c, src, n, dst);
	if (tls_encrypt(c, src, n) != 0)
		return -1;
	return write_direct(c, c->tls_out, evbuffer_get_length(c->tls_out), dst);
}

/* Bytes OpenSSL produced on its own (handshake, alerts, tickets). */
static void
flush_tls_out(struct conn *c)
{
	if (evbuffer_get_length(c->tls_out) > 0 &&
	    write_direct(c, c->tls_out, evbuffer_get_length(c->tls_out),
	    bufferevent_get_output(c->underlying)) != 0)
		evbuffer_drain(c->tls_out, evbuffer_get_length(c->tls_out));
}

/* An interim answer (100 Continue) while a request is being received. It
 * must not overtake the end of an earlier reply still held by the filter;
 * then it is simply not sent (the client sends its body after a while). */
static void
send_interim(struct conn *c, const char *text, size_t len)
{
	struct evbuffer *b;

	if (evbuffer_get_length(bufferevent_get_output(c->filter)) > 0 ||
	    (c->ssl != NULL && c->tls != TLS_UP))
		return;
	b = evbuffer_new();
	evbuffer_add(b, text, len);
	if (send_bytes(c, b, len, bufferevent_get_output(c->underlying)) != 0 && c->ssl != NULL)
		c->tls = TLS_DEAD;
	evbuffer_free(b);
}

static int
socket_has_room(evutil_socket_t fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLOUT);
}

static void
on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (filter_alive(c))
		bufferevent_flush(c->filter, EV_WRITE, BEV_NORMAL);
}

static enum bufferevent_filter_result
filter_out(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct conn *c = arg;
	size_t n = evbuffer_get_length(src);

	if (n == 0)
		return BEV_OK;
	if (c->ssl != NULL && c->tls != TLS_UP && c->tls != TLS_PLAIN_REPLY) {
		/* No channel to answer on: drop it, evhttp then closes. */
		evbuffer_drain(src, n);
		return BEV_OK;
	}
	if (evbuffer_get_length(dst) > 0)
		return BEV_NEED_MORE; /* the socket bufferevent is still writing */
	evutil_socket_t fd = bufferevent_getfd(c->underlying);
	if (fd < 0)
		goto broken;
	if (c->tls != TLS_UP) {
		/* Plain bytes split anywhere: all at once, keep the last back
		 * only if the kernel does not take everything. */
		if (evbuffer_write(src, fd) < 0 && errno != EAGAIN && errno != EINTR)
			goto broken;
		n = evbuffer_get_length(src);
		if (n == 0)
			return BEV_OK;
		if (n > 1) {
			evbuffer_remove_buffer(src, dst, n - 1);
			return BEV_OK;
		}
	} else {
		/* A record cannot be split: the last byte makes a record of
		 * its own, sent when the kernel surely takes it whole. */
		if (n > 1) {
			if (send_bytes(c, src, n - 1, dst) != 0)
				goto broken;
			if (evbuffer_get_length(dst) > 0)
				return BEV_OK; /* called again once dst is written */
		}
		if (socket_has_room(fd)) {
			if (send_bytes(c, src, 1, dst) != 0)
				goto broken;
			return BEV_OK;
		}
	}
	if (c->wev == NULL)
		c->wev = event_new(bufferevent_get_base(c->filter), fd, EV_WRITE, on_writable, c);
	event_add(c->wev, NULL);
	return BEV_NEED_MORE;
broken:
	/* The peer is gone or TLS failed: nothing more can reach it. */
	evbuffer_drain(src, evbuffer_get_length(src));
	return BEV_OK;
}

/* ---- the reading side ---- */

/* Whether the filter must hand no more requests for now. */
static int
backlogged(struct conn *c)
{
	return c->handed - c->answered >= PIPELINE_MAX ||
	    evbuffer_get_length(bufferevent_get_input(c->filter)) >= PENDING_MAX;
}

/* Run the parser over `in`; whole valid requests, rebuilt, go to `dst`.
 * What follows a request once backlogged stays in `in`. */
static void
parse(struct conn *c, struct evbuffer *in, struct evbuffer *dst)
{
	while (evbuffer_get_length(in) > 0 && !c->failed) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		size_t used = http_parser_execute(&c->parser, &settings, v.iov_base, v.iov_len);
		enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
		if (e != HPE_OK && e != HPE_PAUSED) {
			if (!c->failed)
				fail(c, e == HPE_HEADER_OVERFLOW ? F_HEADERS_TOO_LARGE :
				    e == HPE_INVALID_CONTENT_LENGTH || e == HPE_UNEXPECTED_CONTENT_LENGTH ?
				    F_CONTENT_LENGTH : F_MALFORMED);
			break;
		}
		evbuffer_drain(in, used);
		if (c->message_done) {
			c->message_done = 0;
			/* An Upgrade request stops http-parser; this server
			 * never switches protocols, so the next bytes are
			 * simply the next request. */
			if (c->parser.upgrade)
				http_parser_init(&c->parser, HTTP_REQUEST);
			else
				http_parser_pause(&c->parser, 0);
			/* `dst` is the input that evhttp reads: the whole request. */
			evbuffer_add_buffer(dst, c->pending);
			c->handed++;
			if (c->last)
				break;
			if (backlogged(c)) {
				c->throttled = evbuffer_get_length(in) > 0;
				break;
			}
		}
		if (used == 0)
			break;
	}
	if (c->failed || c->last)
		evbuffer_drain(in, evbuffer_get_length(in));
}

/* The TLS failure of a connection. Plain HTTP sent to the port gets one
 * plain answer saying to use https. */
static void
tls_refuse(struct conn *c)
{
	unsigned long e = ERR_peek_last_error();
	int plain = ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_HTTP_REQUEST;

	fprintf(stderr, "event=tls_failed stage=%s reason=\"%s\"\n",
	    c->tls == TLS_HANDSHAKE ? "handshake" : "record", tls_last_error());
	ERR_clear_error();
	flush_tls_out(c); /* the alert, if any */
	c->tls = plain ? TLS_PLAIN_REPLY : TLS_DEAD;
	fail(c, plain ? F_PLAIN_ON_TLS : F_TLS);
}

/* Decrypt what arrived into c->clear. */
static void
tls_in(struct conn *c, struct evbuffer *src)
{
	char buf[16384];

	evbuffer_add_buffer(c->tls_in, src);
	if (c->tls == TLS_HANDSHAKE) {
		int r = SSL_do_handshake(c->ssl);
		if (r != 1) {
			int err = SSL_get_error(c->ssl, r);
			flush_tls_out(c);
			if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
				tls_refuse(c);
			return;
		}
		c->tls = TLS_UP;
		evtimer_del(c->timer);
	}
	while (c->tls == TLS_UP) {
		size_t got = 0;
		if (SSL_read_ex(c->ssl, buf, sizeof buf, &got) == 1) {
			evbuffer_add(c->clear, buf, got);
			continue;
		}
		int err = SSL_get_error(c->ssl, 0);
		if (err == SSL_ERROR_SSL || err == SSL_ERROR_SYSCALL)
			tls_refuse(c);
		/* close_notify: the client sends nothing more, as with a TCP
		 * half-close, whether or not its FIN follows; passed on as an
		 * EOF once every request handed is answered (on_resume). */
		if (err == SSL_ERROR_ZERO_RETURN && !c->held_eof) {
			c->held_eof = BEV_EVENT_EOF | BEV_EVENT_READING;
			event_active(c->resume_ev, EV_TIMEOUT, 1);
		}
		break; /* WANT_READ, or close_notify */
	}
	flush_tls_out(c);
}

/* 100 Continue, once the request being received asked for it and every
 * request before it is answered: sent earlier, the client would take it
 * for the interim answer of an earlier request (filter_in, or on_resume
 * after the last of those answers). */
static void
send_continue_if_due(struct conn *c)
{
	if (c->failed || !c->in_message || c->expect_continue != 1 || c->answered != c->handed)
		return;
	c->expect_continue = 2;
	send_interim(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

static enum bufferevent_filter_result
filter_in(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct conn *c = arg;

	if (c->failed) {
		evbuffer_drain(src, evbuffer_get_length(src));
		return BEV_OK;
	}
	c->throttled = 0;
	if (backlogged(c)) {
		c->throttled = 1; /* the bytes wait in `src` (and c->clear) */
		return BEV_NEED_MORE;
	}
	if (c->ssl != NULL) {
		tls_in(c, src);
		src = c->clear;
	}
	if (c->last) { /* after Connection: close, nothing is read */
		evbuffer_drain(src, evbuffer_get_length(src));
		return BEV_OK;
	}
	parse(c, src, dst);
	/* 100 Continue only when the body is still to come: sent for a body
	 * already here, it queued ahead of the answer, which evhttp then
	 * dropped if the client had closed its sending side meanwhile. */
	send_continue_if_due(c);
	return BEV_OK;
}

/* The time allowed to receive one request, or to finish a TLS handshake. */
static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (c->failed || (!c->in_message && c->tls != TLS_HANDSHAKE) || !filter_alive(c))
		return;
	if (c->tls == TLS_HANDSHAKE)
		c->tls = TLS_DEAD;
	fail(c, F_TIMEOUT);
	bufferevent_trigger(c->filter, EV_READ, BEV_TRIG_IGNORE_WATERMARKS);
}

/* The socket bufferevent's callbacks go through these, so that a read EOF
 * can wait for the answers (struct conn), and so that the filter is held
 * while libevent's own callbacks run. libevent 2.1.12's filter callbacks
 * take no reference: when evhttp frees the connection from inside one
 * (an answer with Connection: close, written once the socket drained),
 * the filter re-arms its write timeout after it was set to be freed, and
 * the timer then fires on freed memory. Found by the HTTP fuzz harness
 * (a SEGV in event_active_nolock_; event debug mode then named the
 * filter's timer). */
static void
socket_data(struct conn *c, bufferevent_data_cb cb, struct bufferevent *bev)
{
	struct bufferevent *filter = c->filter;

	bufferevent_incref(filter);
	cb(bev, c->sock_arg);
	bufferevent_decref(filter);
}

static void
on_socket_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	socket_data(c, c->sock_read, bev);
}

static void
on_socket_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	socket_data(c, c->sock_write, bev);
}

static void
socket_event(struct conn *c, struct bufferevent *bev, short what)
{
	struct bufferevent *filter = c->filter;

	bufferevent_incref(filter);
	c->sock_event(bev, what, c->sock_arg);
	bufferevent_decref(filter);
}

static void
on_socket_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING) &&
	    (c->answered != c->handed || c->throttled)) {
		c->held_eof = what; /* the socket bufferevent stopped reading */
		return;
	}
	socket_event(c, bev, what);
}

/* After an answer was written: parse what back-pressure left unread
 * (through the socket bufferevent's read callback, so that evhttp hears of
 * the requests handed), then pass on a held EOF once all is answered. */
static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (filter_alive(c) && c->throttled && !backlogged(c))
		bufferevent_trigger(c->underlying, EV_READ, BEV_TRIG_IGNORE_WATERMARKS);
	if (filter_alive(c))
		send_continue_if_due(c);
	if (filter_alive(c) && c->held_eof && !c->throttled && c->answered == c->handed)
		socket_event(c, c->underlying, c->held_eof);
}

void
framing_answered(struct bufferevent *bev)
{
	struct bufferevent *u = bufferevent_get_underlying(bev);
	bufferevent_data_cb readcb = NULL;
	void *arg = NULL;

	if (u != NULL)
		bufferevent_getcb(u, &readcb, NULL, NULL, &arg);
	if (readcb != on_socket_read)
		return; /* not a connection of this filter */
	struct conn *c = arg;
	c->answered++;
	/* Not from inside evhttp's completion: on the next turn. */
	if (c->throttled || (c->answered == c->handed && (c->held_eof || c->expect_continue == 1)))
		event_active(c->resume_ev, EV_TIMEOUT, 1);
}

static void
conn_free(void *arg)
{
	struct conn *c = arg;

	event_free(c->timer);
	event_free(c->resume_ev);
	if (c->wev != NULL)
		event_free(c->wev);
	evbuffer_free(c->url);
	evbuffer_free(c->head);
	evbuffer_free(c->body);
	evbuffer_free(c->name);
	evbuffer_free(c->pending);
	if (c->ssl != NULL) {
		SSL_free(c->ssl); /* and its BIO */
		evbuffer_free(c->tls_in);
		evbuffer_free(c->clear);
		evbuffer_free(c->tls_out);
	}
	free(c);
	live--;
	closed++;
	if (on_full != NULL && live == capacity - 1)
		on_full(0);
}

static struct framing_limits limits;

long
framing_connections(void)
{
	return live;
}

unsigned long
framing_closed(void)
{
	return closed;
}

void
framing_set_capacity(long max, void (*full)(int))
{
	capacity = max;
	on_full = full;
}

int
framing_full(void)
{
	return live >= capacity;
}

static struct bufferevent *
make_bev(struct event_base *base, void *arg)
{
	struct conn *c = xcalloc(1, sizeof *c);

	if (++live == capacity && on_full != NULL)
		on_full(1);
	c->lim = limits;
	c->url = evbuffer_new();
	c->head = evbuffer_new();
	c->body = evbuffer_new();
	c->name = evbuffer_new();
	c->pending = evbuffer_new();
	c->timer = evtimer_new(base, on_deadline, c);
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	if (limits.tls != NULL) {
		struct timeval tv = { c->lim.request_timeout_ms / 1000,
		    (c->lim.request_timeout_ms % 1000) * 1000 };
		c->ssl = SSL_new(limits.tls);
		if (c->ssl == NULL)
			abort();
		c->tls_in = evbuffer_new();
		c->clear = evbuffer_new();
		c->tls_out = evbuffer_new();
		BIO *bio = tls_evbuffer_bio(c->tls_in, c->tls_out);
		SSL_set_bio(c->ssl, bio, bio);
		SSL_set_accept_state(c->ssl);
		c->tls = TLS_HANDSHAKE;
		evtimer_add(c->timer, &tv);
	}
	c->underlying = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	c->filter = bufferevent_filter_new(c->underlying, filter_in, filter_out,
	    BEV_OPT_CLOSE_ON_FREE, conn_free, c);
	c->resume_ev = event_new(base, -1, 0, on_resume, c);
	bufferevent_setwatermark(c->underlying, EV_READ, 0, SOCKET_READ_MAX);
	bufferevent_getcb(c->underlying, &c->sock_read, &c->sock_write, &c->sock_event, &c->sock_arg);
	bufferevent_setcb(c->underlying, on_socket_read, on_socket_write, on_socket_event, c);
	return c->filter;
}

void
framing_install(struct evhttp *http, const struct framing_limits *lim)
{
	unsigned char raw[16];

	limits = *lim;
	if (RAND_bytes(raw, sizeof raw) != 1)
		abort();
	hex_encode(raw, sizeof raw, secret);
	memset(&settings, 0, sizeof settings);
	settings.on_message_begin = on_message_begin;
	settings.on_url = on_url;
	settings.on_header_field = on_header_field;
	settings.on_header_value = on_header_value;
	settings.on_headers_complete = on_headers_complete;
	settings.on_body = on_body;
	settings.on_chunk_header = on_chunk_header;
	settings.on_message_complete = on_message_complete;
	evhttp_set_bevcb(http, make_bev, NULL);
}

int
framing_failure(const char *path, int *status, const char **title, const char **detail)
{
	size_t plen = strlen(INTERNAL_PREFIX);

	if (secret[0] == '\0' || strncmp(path, INTERNAL_PREFIX, plen) != 0 ||
	    strncmp(path + plen, secret, 32) != 0 || path[plen + 32] != '/')
		return 0;
	int64_t code;
	if (parse_int64(path + plen + 33, 0, (int64_t)ARRAY_LEN(failures) - 1, &code) != 0)
		return 0;
	*status = failures[code].status;
	*title = failures[code].title;
	*detail = failures[code].detail;
	return 1;
}
