/* fuzz_http.c - libFuzzer harness for the HTTP front: each input is the
 * whole byte stream of one client connection, sent to the real front of
 * gen-server (app_open: its event loop, evhttp behind the framing filter,
 * the limits, allowed methods and request callback), the way h2o's
 * fuzz/driver.cc feeds its server.
 *
 * The server state is built once, as in a server process, and every input
 * is one new connection to it. libevent 2.1.12 offers no public call that
 * hands evhttp an already-connected socket, so the harness listens on an
 * abstract AF_UNIX socket (no file, no network) with the server's own
 * evhttp_accept_socket_with_handle, and connects to it: accept() then
 * yields the server end of what is, in effect, a socketpair.
 *
 * The database pool points at a socket directory that does not exist, so
 * every request that needs PostgreSQL gets its 503 at once. The keys live
 * in memory files. Nothing is written to disk.
 *
 * The input is sent in up to four chunks, with the event loop turning in
 * between (partial reads); the split points and the mode come from a hash
 * of the input, so the corpus stays plain HTTP that can be sent as is to a
 * running server. Usually the client then shuts down its writing side; one
 * input in 64 keeps it open, with a 10 ms request deadline and a 20 ms idle
 * timeout, to drive the timeout paths.
 *
 * What the server sends back must be a sequence of well-formed HTTP/1.x
 * responses: status line, header lines, a Content-Length that matches, no
 * 5xx but 501, 503 and 505 (framing's own answers), every error an
 * application/problem+json document, nothing after Connection: close. The
 * server must close the connection within 1.5 s, with no request left in
 * flight, every reply flushed and no event of the connection left in the
 * loop (libevent runs in debug mode; any libevent warning counts). There
 * are no more final answers than requests in the input (smuggling). Any
 * breach aborts, so libFuzzer keeps the input.
 *
 * Built two ways: with clang -fsanitize=fuzzer for `make fuzz`, and with
 * replay.c as a plain program that replays the corpus (`make test`). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <http_parser.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "app.h"
#include "framing.h"
#include "pseudonym.h"
#include "receipt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define BUDGET_US 1500000       /* the server must close within this */
#define KEEP_OPEN_ONE_IN 64
#define FAST_DEADLINE_MS 10
#define FAST_IDLE_MS 20

static struct gen_config cfg;
static struct app app;
static struct receipt_key *rkey;
static struct pseudonym_key *pkey;
static struct sockaddr_un server_addr;
static socklen_t server_addrlen;
static int listen_fd;
static void *libevent_base; /* where libevent's code is loaded */
static FILE *report_file; /* stderr as it was at start: make fuzz runs with
                           * -close_fd_mask=2 to mute the server's log */

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_http: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A memory file holding `text`, as a path the key loaders can open. */
static void
memory_file(const char *name, const char *text, char *path, size_t pathlen)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		die("memfd");
	snprintf(path, pathlen, "/proc/self/fd/%d", fd);
}

/* A fresh Ed25519 receipt key and a fixed pseudonym key, loaded through
 * the server's own loaders from memory files. */
static void
load_keys(void)
{
	char path[64], err[256];
	EVP_PKEY *k = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem;

	if (ctx == NULL || bio == NULL || EVP_PKEY_keygen_init(ctx) <= 0 ||
	    EVP_PKEY_keygen(ctx, &k) <= 0 || PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) != 1) {
		fprintf(stderr, "fuzz_http: cannot make a receipt key\n");
		exit(1);
	}
	BIO_write(bio, "", 1);
	BIO_get_mem_data(bio, &pem);
	memory_file("receipt-key", pem, path, sizeof path);
	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(ctx);
	BIO_free(bio);
	if ((rkey = receipt_key_load(path, err, sizeof err)) == NULL) {
		fprintf(stderr, "fuzz_http: %s\n", err);
		exit(1);
	}
	memory_file("pseudonym-key", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
	    path, sizeof path);
	if ((pkey = pseudonym_key_load(path, err, sizeof err)) == NULL) {
		fprintf(stderr, "fuzz_http: %s\n", err);
		exit(1);
	}
}

static void
shutdown_server(void)
{
	app_close(&app);
	receipt_key_free(rkey);
	pseudonym_key_free(pkey);
	xmlform_shutdown();
	config_free(&cfg);
	fclose(report_file);
}

/* A libevent warning (a reference count off, an event misused) is a
 * finding too. */
static void
libevent_log(int severity, const char *msg)
{
	if (severity < EVENT_LOG_WARN)
		return;
	fprintf(report_file ? report_file : stderr, "libevent: %s\n", msg);
	abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Small limits so that 413 and 431 are within a fuzzer's reach; the
	 * timeouts only matter to inputs that keep the connection open (set
	 * per input below). */
	char *args[] = {
		"fuzz_http",
		"--database-url", "host=/nonexistent/gen-fuzz-http",
		"--forms-dir", "forms",
		"--db-connections", "1",
		"--db-timeout-ms", "100",
		"--max-headers", "1024",
		"--max-body", "4096",
		"--request-timeout", "3",
		"--idle-timeout", "3",
		"--hash-threads", "1",
		"--pbkdf2-iterations", "1000",
	};
	int nargs = (int)ARRAY_LEN(args), rest;
	char err[256];
	extern char **environ;

	/* libevent checks every use of an event (a freed or reassigned
	 * pending event aborts at once instead of corrupting the loop), and
	 * says why where make fuzz's muted stderr does not hide it. */
	event_enable_debug_mode();
	event_set_log_callback(libevent_log);
	/* The environment must not redirect the harness (GEN_DATABASE_URL). */
	for (int again = 1; again;) {
		again = 0;
		for (char **e = environ; *e != NULL; e++)
			if (strncmp(*e, "GEN_", 4) == 0) {
				char name[128];
				snprintf(name, sizeof name, "%.*s", (int)strcspn(*e, "="), *e);
				unsetenv(name);
				again = 1;
				break;
			}
	}
	if (config_load(&cfg, CFG_SERVER, nargs, args, &rest, err, sizeof err) != 0 || rest != nargs) {
		fprintf(stderr, "fuzz_http: config: %s\n", err);
		exit(1);
	}
	int rfd = dup(2);
	if (rfd < 0 || (report_file = fdopen(rfd, "w")) == NULL)
		die("dup");
	setvbuf(report_file, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN); /* as gen-server */
	if (xmlform_init(cfg.forms_dir, err, sizeof err) != 0) {
		fprintf(stderr, "fuzz_http: %s (run from the repository root)\n", err);
		exit(1);
	}
	load_keys();
	if (app_open(&app, &cfg, rkey, pkey, NULL, err, sizeof err) != 0) {
		fprintf(stderr, "fuzz_http: %s\n", err);
		exit(1);
	}
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	/* Binding only the family autobinds a unique abstract address. */
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(sa_family_t)) != 0 || listen(lfd, 16) != 0)
		die("listen");
	server_addrlen = sizeof server_addr;
	if (getsockname(lfd, (struct sockaddr *)&server_addr, &server_addrlen) != 0)
		die("getsockname");
	listen_fd = lfd;
	if (evhttp_accept_socket_with_handle(app.http, lfd) == NULL)
		die("evhttp_accept_socket_with_handle");
	Dl_info info;
	if (dladdr((void *)event_base_loop, &info) == 0)
		die("dladdr");
	libevent_base = info.dli_fbase;
	atexit(shutdown_server);
	return 0;
}

/* ---- the responses ---- */

static int
digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return n > 0;
}

static int
is_tchar(char ch)
{
	return ch != '\0' && ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= 'A' && ch <= 'Z') || strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

#define HEAD_MAX 256

/* The requests http-parser reads in an input: how many began and ended,
 * and which of the first HEAD_MAX are HEAD (their answers have no body). */
struct requests {
	int begun, complete;
	unsigned char head[HEAD_MAX];
};

static int
count_begin(http_parser *p)
{
	((struct requests *)p->data)->begun++;
	return 0;
}

static int
count_headers(http_parser *p)
{
	struct requests *r = p->data;

	if (r->begun >= 1 && r->begun <= HEAD_MAX)
		r->head[r->begun - 1] = p->method == HTTP_HEAD;
	return 0;
}

static int
count_complete(http_parser *p)
{
	((struct requests *)p->data)->complete++;
	return 0;
}

/* How many answers the input may get at most: one per request that
 * http-parser reads in it (restarting after an Upgrade, as the filter
 * does), plus one for a failure or a timeout when it does not end cleanly.
 * More would mean that evhttp read a request the filter never saw
 * (smuggling). *n tells how many requests are whole (the first of them
 * always gets an answer, even after a half-close) and which are HEAD. */
static int
max_answers(const uint8_t *data, size_t size, struct requests *n)
{
	http_parser_settings cb = { .on_message_begin = count_begin,
	    .on_headers_complete = count_headers, .on_message_complete = count_complete };
	http_parser parser;
	int error = 0;

	memset(n, 0, sizeof *n);
	http_parser_init(&parser, HTTP_REQUEST);
	parser.data = n;
	while (size > 0) {
		size_t used = http_parser_execute(&parser, &cb, (const char *)data, size);
		error = HTTP_PARSER_ERRNO(&parser) != HPE_OK;
		if (error || !parser.upgrade || used == 0)
			break;
		http_parser_init(&parser, HTTP_REQUEST);
		parser.data = n;
		data += used;
		size -= used;
	}
	return n->complete + (error || n->begun > n->complete);
}

/* The reason `out` is not a sequence of acceptable responses, at least
 * `least` and at most `limit` of them final ones, the answers to `reqs` in
 * order, or NULL. */
static const char *
check_responses(const char *p, size_t n, int least, int limit, const struct requests *reqs,
    char *why, size_t whylen)
{
	int closed = 0, answers = 0;

	while (n > 0) {
		if (closed)
			return "bytes after a response with Connection: close";
		const char *end = memmem(p, n, "\r\n\r\n", 4);
		if (end == NULL)
			return "truncated or unterminated response head";
		size_t head = (size_t)(end - p) + 4;
		if (head < 16 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
		    p[8] != ' ' || !digits(p + 9, 3) || p[12] != ' ')
			return "malformed status line";
		int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
		const char *line = memchr(p, '\n', head) + 1;
		long long cl = -1;
		int problem = 0, ncl = 0;
		while (line < end + 2) {
			const char *eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
			size_t len = (size_t)(eol - line);
			const char *colon = memchr(line, ':', len);
			if (colon == NULL || colon == line)
				return "header line without a name";
			for (const char *c = line; c < colon; c++)
				if (!is_tchar(*c))
					return "header name with a non-token character";
			for (const char *c = colon + 1; c < eol; c++)
				if ((unsigned char)*c < 0x20 && *c != '\t')
					return "control character in a header value";
			size_t nlen = (size_t)(colon - line);
			const char *v = colon + 1;
			while (v < eol && *v == ' ')
				v++;
			size_t vlen = (size_t)(eol - v);
			if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
				if (!digits(v, vlen) || vlen > 12)
					return "bad Content-Length in a response";
				cl = strtoll(v, NULL, 10);
				ncl++;
			} else if (nlen == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
				problem = vlen == 24 && strncmp(v, "application/problem+json", 24) == 0;
			} else if (nlen == 10 && strncasecmp(line, "Connection", 10) == 0) {
				closed |= vlen == 5 && strncasecmp(v, "close", 5) == 0;
			} else if (nlen == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
				return "Transfer-Encoding in a response";
			}
			line = eol + 2;
		}
		if (ncl > 1)
			return "several Content-Length headers";
		/* Without Content-Length: no body in HTTP/1.1 (HEAD, 204, 1xx);
		 * in HTTP/1.0 the body runs to the close, unless another
		 * response follows (HEAD on a keep-alive connection). */
		size_t body = cl >= 0 ? (size_t)cl : 0;
		int next_follows = n == head || (n - head >= 7 && memcmp(p + head, "HTTP/1.", 7) == 0);
		if (cl < 0 && p[7] == '0' && !next_follows)
			body = n - head;
		/* An answer to HEAD has no body, whatever its Content-Length;
		 * only an error may come from the filter with its problem. */
		if (answers < HEAD_MAX && reqs->head[answers] && status / 100 != 1 &&
		    (status < 400 || next_follows)) {
			if (!next_follows)
				return "a body in the answer to HEAD";
			body = 0;
		}
		if (status / 100 == 1) {
			if (status != 100 || ncl != 0)
				return "unexpected interim response";
			p += head;
			n -= head;
			continue;
		}
		if (head + body > n)
			return "response shorter than its Content-Length";
		if (++answers > limit) {
			snprintf(why, whylen, "more answers than the %d the requests allow", limit);
			return why;
		}
		if (status < 200 || status > 599 ||
		    (status >= 500 && status != 501 && status != 503 && status != 505)) {
			snprintf(why, whylen, "status %d", status);
			return why;
		}
		if (status >= 400 && !problem) {
			snprintf(why, whylen, "status %d without application/problem+json", status);
			return why;
		}
		if (status >= 400 && body > 0) {
			char want[24];
			int wn = snprintf(want, sizeof want, "\"status\":%d", status);
			if (memmem(p + head, body, want, (size_t)wn) == NULL) {
				snprintf(why, whylen, "status %d with a problem document for another status", status);
				return why;
			}
		}
		p += head + body;
		n -= head + body;
	}
	if (answers < least)
		return "a whole request got no answer";
	return NULL;
}

/* ---- one connection ---- */

struct client {
	int fd;
	struct event *rev;
	struct sbuf out;
	int closed;     /* the server closed its end */
	int timed_out;
};

static void
on_client_read(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	char buf[16384];

	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r > 0) {
			sbuf_add(&cl->out, buf, (size_t)r);
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
			cl->closed = 1; /* EOF, or a reset (ECONNRESET) */
			event_del(cl->rev);
		}
		if (r == 0 || errno != EINTR)
			break;
	}
}

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;

	cl->timed_out = 1;
}

static uint64_t
fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* Count the events of libevent's own code (bufferevents, evhttp) but the
 * listener's: none may outlive the connection. */
static int
count_connection_event(const struct event_base *base, const struct event *ev, void *arg)
{
	Dl_info info;

	if (event_get_fd(ev) != listen_fd &&
	    dladdr((void *)event_get_callback(ev), &info) != 0 && info.dli_fbase == libevent_base)
		(*(int *)arg)++;
	return 0;
}

/* Print the exchange (FUZZ_HTTP_SHOW=1 prints every one). */
static void
report(const char *why, const uint8_t *data, size_t size, const struct sbuf *out)
{
	fprintf(report_file, "fuzz_http: %s\n--- input (%zu bytes)\n%.*s\n--- output (%zu bytes)\n%.*s\n---\n",
	    why, size, (int)(size > 4096 ? 4096 : size), (const char *)data,
	    out->len, (int)(out->len > 8192 ? 8192 : out->len), out->data ? out->data : "");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t h = fnv1a(data, size);
	int keep_open = (h >> 2) % KEEP_OPEN_ONE_IN == 0;
	size_t cut[4];
	int ncut = (int)(h & 3) + 1;

	/* Chunk ends, ascending; the last one is the end of the input. */
	for (int i = 0; i < ncut - 1; i++)
		cut[i] = size ? (size_t)((h >> (8 + 16 * i)) & 0xffff) % size : 0;
	cut[ncut - 1] = size;
	for (int i = 1; i < ncut; i++)
		for (int j = i; j > 0 && cut[j] < cut[j - 1]; j--) {
			size_t t = cut[j];
			cut[j] = cut[j - 1];
			cut[j - 1] = t;
		}

	struct framing_limits lim = {
		.max_headers = (size_t)cfg.max_headers,
		.max_body = (size_t)cfg.max_body,
		.request_timeout_ms = keep_open ? FAST_DEADLINE_MS : cfg.request_timeout * 1000,
	};
	struct timeval idle = { keep_open ? 0 : cfg.idle_timeout, keep_open ? FAST_IDLE_MS * 1000 : 0 };
	framing_install(app.http, &lim);
	evhttp_set_timeout_tv(app.http, &idle);

	struct client cl = { .fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) };
	if (cl.fd < 0 || connect(cl.fd, (struct sockaddr *)&server_addr, server_addrlen) != 0)
		die("connect");
	cl.rev = event_new(app.base, cl.fd, EV_READ | EV_PERSIST, on_client_read, &cl);
	struct event *watchdog = evtimer_new(app.base, on_watchdog, &cl);
	struct timeval budget = { BUDGET_US / 1000000, BUDGET_US % 1000000 };
	event_add(cl.rev, NULL);
	event_add(watchdog, &budget);

	size_t off = 0;
	int chunk = 0, shut = 0;
	while (!cl.closed && !cl.timed_out) {
		if (off < size) {
			ssize_t w = write(cl.fd, data + off, cut[chunk] - off);
			if (w > 0)
				off += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR)
				break; /* the server closed first: its answer is read below */
			while (chunk < ncut - 1 && off >= cut[chunk])
				chunk++;
		} else if (!shut && !keep_open) {
			shutdown(cl.fd, SHUT_WR);
			shut = 1;
		}
		/* Between chunks one turn of the loop, so the server reads a
		 * partial request; after the last one, wait for it. */
		event_base_loop(app.base, EVLOOP_ONCE | (off < size ? EVLOOP_NONBLOCK : 0));
	}
	while (!cl.closed && !cl.timed_out)
		event_base_loop(app.base, EVLOOP_ONCE);
	on_client_read(cl.fd, EV_READ, &cl);
	event_free(cl.rev);
	event_free(watchdog);
	close(cl.fd);

	/* The connection is gone: once its deferred frees have run, nothing
	 * of it may stay in the loop (a timer left there fires on freed
	 * memory later). */
	int left = 0;
	for (int turn = 0; turn < 4; turn++) {
		event_base_loop(app.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		left = 0;
		event_base_foreach_event(app.base, count_connection_event, &left);
		if (left == 0)
			break;
	}

	char why[128];
	const char *bad = NULL;
	if (left != 0) {
		event_base_dump_events(app.base, report_file);
		bad = "events of the connection left in the loop";
	} else if (cl.timed_out)
		bad = "the server did not close the connection in time (hang)";
	else if (app.inflight != 0)
		bad = "a request is still in flight after the connection closed";
	else if (app.unflushed != 0)
		bad = "a reply was never reported written";
	else {
		struct requests reqs;
		int most = max_answers(data, size, &reqs);
		bad = check_responses(cl.out.data ? cl.out.data : "", cl.out.len,
		    reqs.complete > 0, most, &reqs, why, sizeof why);
	}
	if (bad != NULL) {
		report(bad, data, size, &cl.out);
		abort();
	}
	if (getenv("FUZZ_HTTP_SHOW") != NULL)
		report("ok", data, size, &cl.out);
	sbuf_free(&cl.out);
	return 0;
}
