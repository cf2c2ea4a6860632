/* framing.h - strict HTTP/1.1 request framing in front of evhttp.
 *
 * libevent 2.1.12's parser is lenient where a server must not be (chunk
 * sizes like "0x10" or "+5", "Content-Length: +53", a space before the
 * colon, NUL in header values, HTTP/1.10, duplicate Host), waits for a
 * declared body it will refuse, and writes its own errors as HTML. Each
 * connection therefore reads through a bufferevent filter that runs the
 * well-known http-parser (Node's former parser, vendored in
 * server/third_party/http_parser and built in strict mode, with a local
 * patch for chunk extensions and the request line) over the bytes,
 * holds each request until it is complete and valid, and only then hands
 * evhttp a canonical copy of it (request line, header lines, body with its
 * Content-Length: no chunked coding, no trailers). It enforces the header and body limits as soon as a request
 * declares them, and the time allowed to receive one request.
 *
 * A request that breaks a rule is never seen by evhttp: the filter
 * discards it and everything after it, and passes instead a one-line
 * internal request naming the failure, which the request layer answers with
 * a problem document and Connection: close (framing_failure()).
 *
 * With TLS the same filter runs OpenSSL over the socket's bytes (memory
 * BIOs, server/tls.c) rather than stacking libevent's bufferevent_openssl:
 * evhttp shuts the socket down as soon as the top bufferevent's output is
 * empty, and only a filter that writes to the socket itself can make
 * "empty" mean "in the kernel" (libevent 2.1.12's SSL bufferevent has no
 * flush, and as a filter it does not pass the socket down). Plain HTTP sent
 * to a TLS port gets one plain 400 problem saying to use https. */
#ifndef GEN_FRAMING_H
#define GEN_FRAMING_H

#include <stddef.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <openssl/ssl.h>

struct framing_limits {
	size_t max_headers;      /* request line and headers, bytes */
	size_t max_body;         /* declared or chunked body, bytes */
	int request_timeout_ms;  /* milliseconds to receive one whole request,
	                          * or to finish a TLS handshake */
	SSL_CTX *tls;            /* non-NULL: the port speaks TLS only */
};

/** Install the filter on every connection of `http` (evhttp_set_bevcb).
 * The limits are copied. Call once per process, after seeding OpenSSL's
 * random generator (a per-process secret marks internal requests). */
void framing_install(struct evhttp *http, const struct framing_limits *limits);

/** Connections open in this process. */
long framing_connections(void);

/** Stop accepting at `max` connections: `full(1)` is called when the
 * process reaches it, `full(0)` when a connection closes below it. The
 * descriptors left over are for the database pool, which must be able to
 * reconnect however many clients hold connections. */
void framing_set_capacity(long max, void (*full)(int));

/** 1 when the process holds its maximum of connections. */
int framing_full(void);

/** Connections closed in this process since it started. */
unsigned long framing_closed(void);

/** Tell the filter of connection `bev` (evhttp_connection_get_bufferevent)
 * that an answer was written in full. A client that closed its sending
 * side gets every answer before evhttp hears of the close. */
void framing_answered(struct bufferevent *bev);

/** When `path` is an internal failure request made by the filter, return
 * 1 and set *status, *title and *detail (static strings); else 0. */
int framing_failure(const char *path, int *status, const char **title,
    const char **detail);

#endif
