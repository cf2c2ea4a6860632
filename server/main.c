/* main.c - gen-server: configuration, listener, worker processes, signals.
 *
 * The parent reads the configuration, compiles the schemas and loads the
 * receipt key (so every child inherits them), binds the listening socket and
 * forks --workers children. Each child runs one libevent loop with its own
 * HTTP front, database pool and hashing threads, all on the shared socket.
 * SIGTERM stops accepting, lets in-flight requests finish (bounded by
 * --shutdown-grace) and exits. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <libxml/parser.h>

#include "app.h"
#include "db.h"
#include "framing.h"
#include "tls.h"
#include "pseudonym.h"
#include "receipt.h"

static struct event *drain_timer;
static struct evhttp_bound_socket *bound;
static int listen_closed; /* this process closed its copy of the listening socket */
static struct event *accept_pause; /* accepting again after running out of descriptors */
static int64_t drain_deadline_us;

static int
listen_socket(const char *host, int port, char *err, size_t errlen)
{
	struct addrinfo hints = {0}, *res = NULL;
	char portstr[16];
	int fd = -1, one = 1;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
	snprintf(portstr, sizeof portstr, "%d", port);
	int rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "listen address %s: %s", host, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
		snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	return fd;
}

static void
on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	struct app *app = arg;

	if ((app->inflight == 0 && app->unflushed <= 0 && db_pool_pending(app->db) == 0) ||
	    now_usec() >= drain_deadline_us) {
		if (app->inflight)
			fprintf(stderr, "event=shutdown_forced inflight=%d\n", app->inflight);
		event_base_loopexit(app->base, NULL);
	}
}

/* accept() failed for want of descriptors or memory. libevent's listener
 * would retry at once, forever (the socket stays readable), spinning and
 * logging; instead pause accepting for a moment, pending connections wait
 * in the kernel's backlog, and say so once per pause. */
static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	struct timeval pause = { 0, 100000 };
	int err = EVUTIL_SOCKET_ERROR();

	fprintf(stderr, "event=accept_paused error=\"%s\" connections=%ld\n",
	    evutil_socket_error_to_string(err), framing_connections());
	evconnlistener_disable(l);
	event_add(accept_pause, &pause);
}

static void
on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	if (bound != NULL && !framing_full())
		evconnlistener_enable(evhttp_bound_socket_get_listener(bound));
}

/* At its connection capacity the process stops accepting (clients wait in
 * the backlog) and starts again when one closes, so the descriptors kept
 * back stay free for the database pool: out of descriptors, it could not
 * reconnect after a database restart for as long as idle clients held them. */
static void
on_capacity(int full)
{
	static int64_t said;
	struct evconnlistener *l = bound ? evhttp_bound_socket_get_listener(bound) : NULL;

	if (l == NULL)
		return;
	if (full) {
		evconnlistener_disable(l);
		if (now_usec() - said > 10 * 1000000LL) { /* one line per 10 s */
			said = now_usec();
			fprintf(stderr, "event=accept_paused reason=capacity connections=%ld\n",
			    framing_connections());
		}
	} else if (!evtimer_pending(accept_pause, NULL)) {
		evconnlistener_enable(l);
	}
}

/* Connections one process may hold: its descriptor limit less a reserve
 * for the database pool (and its reconnections), logs, keys and libevent. */
static long
connection_capacity(const struct gen_config *cfg)
{
	struct rlimit rl;
	long reserve = cfg->db_connections * 2 + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return LONG_MAX;
	return (long)rl.rlim_cur > reserve + 16 ? (long)rl.rlim_cur - reserve : 16;
}

/* Once connections have closed, give the heap they freed back to the
 * system: glibc keeps it otherwise, so a burst of connections or of large
 * documents (a 2 MB body parses into tens of MB of tree) would leave the
 * process at its peak for good. At most every 2 s, only after closes. */
static void
on_trim_tick(evutil_socket_t fd, short what, void *arg)
{
	static unsigned long mark;
	unsigned long now = framing_closed();

	if (now != mark)
		malloc_trim(0);
	mark = now;
}

static void
on_sigterm(evutil_socket_t sig, short what, void *arg)
{
	struct app *app = arg;
	struct timeval tick = { 0, 20000 };

	if (app->draining)
		return;
	app->draining = 1;
	fprintf(stderr, "event=draining pid=%d inflight=%d\n", (int)getpid(), app->inflight);
	if (bound != NULL) {
		event_del(accept_pause);
		evhttp_del_accept_socket(app->http, bound); /* closes the socket */
		bound = NULL;
		listen_closed = 1;
	}
	drain_deadline_us = now_usec() + (int64_t)app->cfg->shutdown_grace * 1000000;
	drain_timer = event_new(app->base, -1, EV_PERSIST, on_drain_tick, app);
	event_add(drain_timer, &tick);
}

/* libevent keeps, for the life of an event loop, a small record for each
 * descriptor number it has ever watched, made the first time. Made while
 * connections come and go, each one lands amid connection memory and keeps
 * that page resident after the connections close: a flood of 20,000
 * connections left 80 MB behind for good. Made here, before the first
 * connection, they take one compact block (32 bytes per descriptor the
 * process may open, at most 65,536). Watching a descriptor number that is
 * not open fails (EBADF) after its record is made, which is all that is
 * wanted here; libevent's warning about it is silenced meanwhile. */
static void
quiet_log(int severity, const char *msg)
{
	(void)severity;
	(void)msg;
}

static void
on_nothing(evutil_socket_t fd, short what, void *arg)
{
}

static void
reserve_descriptor_records(struct event_base *base)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	struct event *ev = event_new(base, -1, EV_READ, on_nothing, NULL);
	int n = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 65536 ? 65536 : (int)rl.rlim_cur;
	event_set_log_callback(quiet_log);
	for (int fd = 0; fd < n; fd++) {
		if (fcntl(fd, F_GETFD) != -1)
			continue; /* open: its record comes when it is watched */
		event_assign(ev, base, fd, EV_READ, on_nothing, NULL);
		if (event_add(ev, NULL) == 0)
			event_del(ev);
	}
	event_set_log_callback(NULL);
	event_free(ev);
}

/* One process's life: loop until drained. */
static int
serve(const struct gen_config *cfg, int fd, struct receipt_key *key, struct pseudonym_key *pkey,
    SSL_CTX *tls)
{
	struct app app;
	struct event *sigs[2];
	char err[256];

	if (app_open(&app, cfg, key, pkey, tls, err, sizeof err) != 0) {
		fprintf(stderr, "event=fatal reason=\"%s\"\n", err);
		return 1;
	}
	reserve_descriptor_records(app.base);
	bound = evhttp_accept_socket_with_handle(app.http, fd);
	if (bound == NULL) {
		fprintf(stderr, "event=fatal reason=\"cannot accept on socket\"\n");
		app_close(&app);
		return 1;
	}
	accept_pause = evtimer_new(app.base, on_accept_resume, NULL);
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(bound), on_accept_error);
	framing_set_capacity(connection_capacity(cfg), on_capacity);
	sigs[0] = evsignal_new(app.base, SIGTERM, on_sigterm, &app);
	sigs[1] = evsignal_new(app.base, SIGINT, on_sigterm, &app);
	event_add(sigs[0], NULL);
	event_add(sigs[1], NULL);
	struct timeval trim_every = { 2, 0 };
	struct event *trim = event_new(app.base, -1, EV_PERSIST, on_trim_tick, NULL);
	event_add(trim, &trim_every);
	/* Signals were blocked since before fork: a SIGTERM that came during
	 * start-up is delivered now, to the loop's handler. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	fprintf(stderr, "event=serving pid=%d listen=%s:%d scheme=%s\n", (int)getpid(), cfg->listen,
	    cfg->port, tls ? "https" : "http");

	event_base_dispatch(app.base);

	fprintf(stderr, "event=stopped pid=%d\n", (int)getpid());
	event_free(sigs[0]);
	event_free(sigs[1]);
	event_free(trim);
	if (drain_timer)
		event_free(drain_timer);
	event_free(accept_pause);
	app_close(&app);
	return 0;
}

/* Stop serving: every child drains on SIGTERM and closes its copy of the
 * listening socket; the supervisor closes its own, so that once all are
 * closed a new client is refused at once (safe to retry) rather than
 * queued where nobody accepts, then reset. */
static void
stop_children(const pid_t *kids, int n, int fd)
{
	for (int i = 0; i < n; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGTERM);
	close(fd);
	listen_closed = 1;
}

/* Fork one server process (SIGTERM and SIGINT blocked by the caller). A
 * supervisor killed with SIGKILL cannot pass SIGTERM on: the kernel does it
 * (PR_SET_PDEATHSIG), so no child keeps serving the port without its
 * supervisor; it drains and exits as on any SIGTERM. */
static pid_t
fork_server(const struct gen_config *cfg, int fd, struct receipt_key *key,
    struct pseudonym_key *pkey, SSL_CTX *tls, pid_t *kids)
{
	pid_t parent = getpid();
	pid_t k = fork();

	if (k != 0)
		return k;
	free(kids);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
		_exit(0);
	_exit(serve(cfg, fd, key, pkey, tls));
}

/* Every connection is a descriptor: use all the system allows this
 * process (the soft limit is often 1,024 against a hard one of 65,536+). */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			fprintf(stderr, "event=warning reason=\"cannot raise the descriptor limit\"\n");
	}
}

/* TLS when both files are configured; one without the other is an error. */
static int
load_tls(const struct gen_config *cfg, SSL_CTX **tls, char *err, size_t errlen)
{
	int cert = cfg->tls_cert[0] != '\0', key = cfg->tls_key[0] != '\0';

	*tls = NULL;
	if (!cert && !key)
		return 0;
	if (!cert || !key) {
		snprintf(err, errlen, "tls-cert and tls-key go together");
		return -1;
	}
	*tls = tls_context_new(cfg->tls_cert, cfg->tls_key, err, errlen);
	return *tls ? 0 : -1;
}

static volatile sig_atomic_t parent_stop;

static void
parent_signal(int sig)
{
	parent_stop = sig;
}

int
main(int argc, char **argv)
{
	struct gen_config cfg;
	char err[512];
	int rest;

	int rc = config_load(&cfg, CFG_SERVER, argc, argv, &rest, err, sizeof err);
	if (rc == 1 || rc != 0 || rest != argc) {
		if (rc != 1)
			fprintf(stderr, "gen-server: %s\n", rc ? err : "unexpected argument (see --help)");
		config_free(&cfg);
		return rc == 1 ? 0 : 2;
	}
	signal(SIGPIPE, SIG_IGN);
	/* One write per log line: the processes share stderr, and unbuffered
	 * lines built in pieces (db.c quotes byte by byte) interleaved. */
	setvbuf(stderr, NULL, _IOLBF, 0);
	raise_fd_limit();
	struct receipt_key *key = NULL;
	struct pseudonym_key *pkey = NULL;
	int fd = -1;
	SSL_CTX *tls = NULL;
	if (load_tls(&cfg, &tls, err, sizeof err) != 0 ||
	    xmlform_init(cfg.forms_dir, err, sizeof err) != 0 ||
	    (key = receipt_key_load(cfg.receipt_key, err, sizeof err)) == NULL ||
	    (pkey = pseudonym_key_load(cfg.pseudonym_key, err, sizeof err)) == NULL ||
	    (fd = listen_socket(cfg.listen, cfg.port, err, sizeof err)) < 0) {
		fprintf(stderr, "gen-server: %s\n", err);
		SSL_CTX_free(tls);
		receipt_key_free(key);
		pseudonym_key_free(pkey);
		xmlform_shutdown();
		config_free(&cfg);
		return 1;
	}
	sigset_t stopsigs;
	sigemptyset(&stopsigs);
	sigaddset(&stopsigs, SIGTERM);
	sigaddset(&stopsigs, SIGINT);
	sigprocmask(SIG_BLOCK, &stopsigs, NULL);
	if (cfg.workers == 1) {
		rc = serve(&cfg, fd, key, pkey, tls);
	} else {
		pid_t *kids = xcalloc((size_t)cfg.workers, sizeof *kids);
		for (int i = 0; i < cfg.workers; i++)
			kids[i] = fork_server(&cfg, fd, key, pkey, tls, kids);
		struct sigaction sa = {0};
		sa.sa_handler = parent_signal;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		sigprocmask(SIG_UNBLOCK, &stopsigs, NULL);
		int alive = cfg.workers, stopping = 0;
		rc = 0;
		while (alive > 0) {
			int status;
			pid_t pid = waitpid(-1, &status, 0);
			if (pid < 0) {
				if (errno == EINTR && parent_stop && !stopping) {
					stopping = 1;
					stop_children(kids, cfg.workers, fd);
				}
				continue;
			}
			for (int i = 0; i < cfg.workers; i++) {
				if (kids[i] != pid)
					continue;
				kids[i] = 0;
				alive--;
				if (stopping || parent_stop)
					break;
				/* A child that dies while we serve is replaced. */
				fprintf(stderr, "event=worker_died pid=%d status=%d\n", (int)pid, status);
				sigprocmask(SIG_BLOCK, &stopsigs, NULL);
				pid_t k = fork_server(&cfg, fd, key, pkey, tls, kids);
				sigprocmask(SIG_UNBLOCK, &stopsigs, NULL);
				if (k > 0) {
					kids[i] = k;
					alive++;
				}
			}
			if (parent_stop && !stopping) {
				stopping = 1;
				stop_children(kids, cfg.workers, fd);
			}
		}
		free(kids);
	}
	if (!listen_closed)
		close(fd);
	SSL_CTX_free(tls);
	receipt_key_free(key);
	pseudonym_key_free(pkey);
	xmlform_shutdown();
	config_free(&cfg);
	return rc;
}
