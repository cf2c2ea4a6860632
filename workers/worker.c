/* worker.c - gen-worker: runs the jobs of the `jobs` table.
 *
 * One process, one blocking libpq connection, one job at a time. It LISTENs
 * on gen_jobs and loops: free expired leases (at most once a second, and
 * after every idle wait), claim the oldest ready job (FOR UPDATE SKIP
 * LOCKED), run it; when nothing is ready, sleep on the connection's socket
 * until a NOTIFY arrives, a queued job falls due, a lease expires or poll-ms
 * passes. A job's effect and its 'done' state commit in one transaction, so
 * a killed worker leaves nothing half done: its job's lease expires and
 * another worker runs it again (at-least-once, effect exactly once).
 *
 * --concurrency N > 1 forks N such processes (each its own connection and
 * worker id host:pid) and supervises them: a child that dies is restarted
 * after a second; SIGTERM/SIGINT are passed on and the parent exits once
 * every child has finished its current job; children get SIGTERM if the
 * supervisor itself dies (PR_SET_PDEATHSIG, Linux).
 *
 * SIGTERM/SIGINT: the current job finishes, then the process exits 0. A lost
 * connection is re-established with back-off; LISTEN is issued again and the
 * queue polled at once, since notifications sent meanwhile are lost. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "config.h"
#include "db.h"
#include "job.h"
#include "pg.h"
#include "queue.h"
#include "util.h"
#include "wlog.h"
#include "xmlform.h"

#define REAP_EVERY_US 1000000   /* free expired leases at least this often */
#define WAIT_FLOOR_MS 20        /* shortest idle wait */
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 10000
#define MAX_CHILDREN 64
#define SUPERVISE_TICK_MS 200

struct worker {
	const struct gen_config *cfg;
	char id[160];
	PGconn *conn;
	int64_t last_reap_us;
};

static volatile sig_atomic_t stop_requested;
static int sig_pipe[2] = { -1, -1 };

/* ---- signals: a flag plus a self-pipe that wakes poll() ---- */

static void
on_stop_signal(int sig)
{
	int saved = errno;

	(void)sig;
	stop_requested = 1;
	if (sig_pipe[1] >= 0)
		(void)!write(sig_pipe[1], "x", 1);
	errno = saved;
}

/* No SA_RESTART: a supervisor blocked in waitpid() must see EINTR. libpq
 * retries its own interrupted calls, so a job in progress is not disturbed. */
static int
signals_init(char *err, size_t errlen)
{
	struct sigaction sa;

	if (sig_pipe[0] >= 0) {
		close(sig_pipe[0]);
		close(sig_pipe[1]);
	}
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

static void
drain_sig_pipe(void)
{
	char buf[64];

	while (read(sig_pipe[0], buf, sizeof buf) > 0)
		;
}

/* Sleep ms milliseconds, or less when a stop signal arrives. */
static void
sleep_ms(long ms)
{
	struct pollfd pfd = { .fd = sig_pipe[0], .events = POLLIN };

	if (!stop_requested && poll(&pfd, 1, (int)ms) > 0)
		drain_sig_pipe();
}

/* ---- connection ---- */

static void
notice_processor(void *arg, const char *message)
{
	char q[512];

	(void)arg;
	wlog("pg_notice", "message=%s", wlog_q(q, sizeof q, message));
}

static int
worker_connect(struct worker *w, char *err, size_t errlen)
{
	struct db_params params;
	char ms[24];

	db_params_init(&params, w->cfg->database_url, "gen-worker");
	w->conn = PQconnectdbParams(params.keys, params.vals, 1);
	if (PQstatus(w->conn) != CONNECTION_OK) {
		snprintf(err, errlen, "%.*s", (int)strcspn(PQerrorMessage(w->conn), "\n"),
		    PQerrorMessage(w->conn));
		PQfinish(w->conn);
		w->conn = NULL;
		return -1;
	}
	PQsetNoticeProcessor(w->conn, notice_processor, NULL);
	/* A worker that hangs inside a job transaction (stopped, swapped out)
	 * loses its session, hence its row lock, so the reaper can rescue the
	 * job once the lease is over. */
	snprintf(ms, sizeof ms, "%lld", (long long)w->cfg->lease_seconds * 1000);
	const char *p[] = { ms };
	if (pg_run(w->conn, "SELECT set_config('idle_in_transaction_session_timeout', $1, false)",
	    1, p, err, errlen) != 0 ||
	    pg_run(w->conn, "LISTEN gen_jobs", 0, NULL, err, errlen) != 0) {
		PQfinish(w->conn);
		w->conn = NULL;
		return -1;
	}
	return 0;
}

/* Connect, retrying with exponential back-off and jitter until it works or
 * a stop is requested. Returns 0 when connected. */
static int
worker_reconnect(struct worker *w)
{
	char err[512], q[600];
	long delay = RECONNECT_MIN_MS;

	if (w->conn != NULL) {
		const char *m = PQerrorMessage(w->conn);
		snprintf(err, sizeof err, "%.*s", (int)strcspn(m, "\n"), m);
		wlog("db_lost", "error=%s", wlog_q(q, sizeof q, err));
		PQfinish(w->conn);
		w->conn = NULL;
	}
	while (!stop_requested) {
		if (worker_connect(w, err, sizeof err) == 0) {
			wlog("db_connected", "server_version=%d", PQserverVersion(w->conn));
			w->last_reap_us = 0; /* poll at once: NOTIFYs were missed */
			return 0;
		}
		long wait = delay / 2 + random() % (delay / 2 + 1);
		wlog("db_connect_failed", "error=%s retry_ms=%ld", wlog_q(q, sizeof q, err), wait);
		sleep_ms(wait);
		delay = delay * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : delay * 2;
	}
	return -1;
}

/* Forget the notifications received so far; returns how many there were. */
static int
drain_notifies(PGconn *c)
{
	PGnotify *n;
	int count = 0;

	while ((n = PQnotifies(c)) != NULL) {
		count++;
		PQfreemem(n);
	}
	return count;
}

/* Wait up to ms for a NOTIFY (or a stop). Returns 1 when notified, 0 on
 * timeout or signal, -1 when the connection broke. */
static int
wait_for_notify(struct worker *w, long ms)
{
	struct pollfd pfd[2] = {
		{ .fd = PQsocket(w->conn), .events = POLLIN },
		{ .fd = sig_pipe[0], .events = POLLIN },
	};

	if (stop_requested)
		return 0;
	int n = poll(pfd, 2, (int)ms);
	if (n <= 0)
		return 0;
	if (pfd[1].revents)
		drain_sig_pipe();
	if (pfd[0].revents) {
		if (PQconsumeInput(w->conn) == 0)
			return -1;
		return drain_notifies(w->conn) > 0;
	}
	return 0;
}

/* ---- one job ---- */

static void
finish_failed(struct worker *w, const struct job *job, enum job_status st,
    const char *why, int64_t t0)
{
	char err[512], q[1100], kq[128];
	long delay = st == JOB_FATAL ? 0 : queue_backoff_ms(job->attempts, (unsigned)random());
	long ms = (long)((now_usec() - t0) / 1000);

	wlog_q(kq, sizeof kq, job->kind);
	if (pg_broken(w->conn)) {
		/* Rolled back by the server; the lease will expire. */
		wlog("job_interrupted", "id=%lld kind=%s ms=%ld error=%s", (long long)job->id,
		    kq, ms, wlog_q(q, sizeof q, why));
		return;
	}
	int rc = queue_fail(w->conn, w->id, job, st == JOB_FATAL, why, delay, err, sizeof err);
	if (rc < 0)
		wlog("job_fail_not_recorded", "id=%lld kind=%s error=%s", (long long)job->id,
		    kq, wlog_q(q, sizeof q, err));
	else if (rc == 2)
		wlog("job_lease_lost", "id=%lld kind=%s", (long long)job->id, kq);
	else if (rc == 1)
		wlog("job_dead", "id=%lld kind=%s attempt=%d/%d ms=%ld error=%s",
		    (long long)job->id, kq, job->attempts, job->max_attempts, ms,
		    wlog_q(q, sizeof q, why));
	else
		wlog("job_retry", "id=%lld kind=%s attempt=%d/%d ms=%ld retry_in_ms=%ld error=%s",
		    (long long)job->id, kq, job->attempts, job->max_attempts, ms, delay,
		    wlog_q(q, sizeof q, why));
}

static void
run_job(struct worker *w, const struct job *job)
{
	char err[1024] = "", q[600], kq[128];
	struct sbuf result = { 0 };
	int64_t t0 = now_usec();
	enum job_status st = JOB_RETRY;
	PGconn *c = w->conn;

	wlog_q(kq, sizeof kq, job->kind);
	wlog("job_start", "id=%lld kind=%s attempt=%d/%d", (long long)job->id, kq,
	    job->attempts, job->max_attempts);
	job_run_fn run = job_runner(job->kind);
	if (run == NULL) {
		snprintf(err, sizeof err, "unknown job kind \"%s\"", job->kind);
		finish_failed(w, job, JOB_FATAL, err, t0);
		return;
	}
	if (pg_run(c, "BEGIN", 0, NULL, err, sizeof err) != 0)
		goto failed;
	int own = queue_lock(c, w->id, job, err, sizeof err);
	if (own <= 0) {
		pg_run(c, "ROLLBACK", 0, NULL, q, sizeof q);
		if (own < 0)
			goto failed;
		wlog("job_lease_lost", "id=%lld kind=%s", (long long)job->id, kq);
		return;
	}
	st = run(c, job, &result, err, sizeof err);
	if (st == JOB_DONE && PQtransactionStatus(c) != PQTRANS_INTRANS) {
		snprintf(err, sizeof err, "runner left its transaction %s",
		    PQtransactionStatus(c) == PQTRANS_INERROR ? "failed" : "closed");
		st = JOB_RETRY;
	}
	if (st == JOB_DONE && queue_done(c, w->id, job, result.len ? result.data : "{}",
	    err, sizeof err) != 0)
		st = JOB_RETRY;
	if (st != JOB_DONE) {
		pg_run(c, "ROLLBACK", 0, NULL, q, sizeof q);
		goto failed;
	}
	PGresult *r = PQexec(c, "COMMIT");
	int committed = PQresultStatus(r) == PGRES_COMMAND_OK &&
	    strcmp(PQcmdStatus(r), "COMMIT") == 0;
	if (!committed)
		snprintf(err, sizeof err, "COMMIT failed: %.*s",
		    (int)strcspn(PQerrorMessage(c), "\n"), PQerrorMessage(c));
	PQclear(r);
	if (!committed) {
		if (pg_broken(c)) {
			/* Outcome unknown: either done, or the lease expires and the
			 * job runs again; never half done. */
			wlog("job_commit_unknown", "id=%lld kind=%s", (long long)job->id, kq);
			sbuf_free(&result);
			return;
		}
		st = JOB_RETRY;
		goto failed;
	}
	wlog("job_done", "id=%lld kind=%s attempt=%d ms=%ld result=%s", (long long)job->id,
	    kq, job->attempts, (long)((now_usec() - t0) / 1000),
	    wlog_q(q, sizeof q, result.len ? result.data : "{}"));
	sbuf_free(&result);
	return;
failed:
	sbuf_free(&result);
	finish_failed(w, job, st == JOB_FATAL ? JOB_FATAL : JOB_RETRY,
	    err[0] ? err : "failed", t0);
}

/* ---- the loop ---- */

static void
log_db_error(const char *what, const char *err)
{
	char q[600];

	wlog("db_error", "during=%s error=%s", what, wlog_q(q, sizeof q, err));
}

static int
worker_run(const struct gen_config *cfg, int index)
{
	struct worker w = { .cfg = cfg };
	char err[512], host[128] = "localhost";
	int timed_out = 1;

	if (cfg->worker_id[0] == '\0' || cfg->concurrency > 1) {
		gethostname(host, sizeof host - 1);
		host[sizeof host - 1] = '\0';
		if (cfg->worker_id[0])
			snprintf(w.id, sizeof w.id, "%s.%d", cfg->worker_id, index);
		else
			snprintf(w.id, sizeof w.id, "%s:%ld", host, (long)getpid());
	} else {
		snprintf(w.id, sizeof w.id, "%s", cfg->worker_id);
	}
	wlog_set_worker(w.id);
	srandom((unsigned)(getpid() ^ now_usec()));
	wlog("worker_start", "pid=%ld poll_ms=%d lease_seconds=%d max_attempts=%d",
	    (long)getpid(), cfg->poll_ms, cfg->lease_seconds, cfg->max_attempts);

	while (!stop_requested) {
		if (pg_broken(w.conn) && worker_reconnect(&w) != 0)
			break;
		int64_t now = now_usec();
		if (timed_out || now - w.last_reap_us >= REAP_EVERY_US) {
			w.last_reap_us = now;
			if (queue_reap(w.conn, cfg->max_attempts, err, sizeof err) < 0 ||
			    queue_schedule_daily(w.conn, err, sizeof err) < 0) {
				log_db_error("reap", err);
				if (!pg_broken(w.conn))
					sleep_ms(cfg->poll_ms);
				continue;
			}
		}
		timed_out = 0;
		struct job job;
		int got = queue_claim(w.conn, w.id, cfg->lease_seconds, cfg->max_attempts,
		    &job, err, sizeof err);
		if (got < 0) {
			log_db_error("claim", err);
			if (!pg_broken(w.conn))
				sleep_ms(cfg->poll_ms);
			continue;
		}
		if (got == 1) {
			job.cfg = cfg;
			run_job(&w, &job);
			queue_job_free(&job);
			continue;
		}
		/* A NOTIFY that came in with the last answers may be for a job
		 * committed after the claim's snapshot: look again first. */
		if (drain_notifies(w.conn) > 0)
			continue;
		long wait = queue_next_wake(w.conn, WAIT_FLOOR_MS, cfg->poll_ms, err, sizeof err);
		if (wait < 0) {
			log_db_error("next_wake", err);
			continue;
		}
		int woke = wait_for_notify(&w, wait);
		if (woke < 0)
			continue; /* broken: reconnect at the top */
		timed_out = woke == 0;
	}
	wlog("worker_stop", "pid=%ld", (long)getpid());
	PQfinish(w.conn);
	return 0;
}

/* ---- several processes ---- */

static pid_t
spawn_child(const struct gen_config *cfg, int index)
{
	char err[256];
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	/* A supervisor killed with SIGKILL cannot pass SIGTERM on: have the
	 * kernel do it, so no worker outlives its supervisor. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
		_exit(0);
	if (signals_init(err, sizeof err) != 0)
		_exit(1);
	int rc = worker_run(cfg, index);
	xmlform_shutdown();
	_exit(rc);
}

/* Polls for dead children rather than blocking in waitpid(), so a stop
 * signal arriving at any moment is seen within SUPERVISE_TICK_MS. */
static int
supervise(const struct gen_config *cfg)
{
	pid_t kids[MAX_CHILDREN] = { 0 };
	int n = cfg->concurrency, alive = 0, forwarded = 0;

	wlog("supervisor_start", "pid=%ld concurrency=%d", (long)getpid(), n);
	for (int i = 0; i < n; i++) {
		kids[i] = spawn_child(cfg, i);
		alive += kids[i] > 0;
	}
	while (alive > 0) {
		int status;
		pid_t pid;

		if (stop_requested && !forwarded) {
			for (int i = 0; i < n; i++)
				if (kids[i] > 0)
					kill(kids[i], SIGTERM);
			forwarded = 1;
		}
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			for (int i = 0; i < n; i++) {
				if (kids[i] != pid)
					continue;
				kids[i] = 0;
				alive--;
				if (stop_requested)
					break;
				wlog("child_exit", "pid=%ld status=%d signal=%d restart_ms=1000",
				    (long)pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
				    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
				sleep_ms(1000);
				if (!stop_requested) {
					kids[i] = spawn_child(cfg, i);
					alive += kids[i] > 0;
				}
				break;
			}
		}
		if (alive > 0)
			sleep_ms(SUPERVISE_TICK_MS);
	}
	wlog("supervisor_stop", "pid=%ld", (long)getpid());
	return 0;
}

int
main(int argc, char **argv)
{
	struct gen_config cfg;
	char err[512];
	int rest = argc;

	int rc = config_load(&cfg, CFG_WORKER, argc, argv, &rest, err, sizeof err);
	if (rc == 1) {
		config_free(&cfg);
		return 0;
	}
	if (rc < 0 || rest < argc) {
		if (rc < 0)
			fprintf(stderr, "gen-worker: %s\n", err);
		else
			fprintf(stderr, "gen-worker: unexpected argument \"%s\" (see --help)\n", argv[rest]);
		config_free(&cfg);
		return 2;
	}
	if (cfg.concurrency > MAX_CHILDREN)
		cfg.concurrency = MAX_CHILDREN;
	if (xmlform_init(cfg.forms_dir, err, sizeof err) != 0) {
		fprintf(stderr, "gen-worker: %s\n", err);
		config_free(&cfg);
		return 1;
	}
	if (signals_init(err, sizeof err) != 0) {
		fprintf(stderr, "gen-worker: %s\n", err);
		xmlform_shutdown();
		config_free(&cfg);
		return 1;
	}
	rc = cfg.concurrency > 1 ? supervise(&cfg) : worker_run(&cfg, 0);
	xmlform_shutdown();
	config_free(&cfg);
	return rc;
}
