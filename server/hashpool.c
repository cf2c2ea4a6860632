/* hashpool.c - see hashpool.h. */
#include "hashpool.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "util.h"

struct hash_job {
	struct hash_job *next;
	char *password;
	size_t len;
	char *stored;
	int ok;
	hashpool_done_fn fn;
	void *arg;
};

struct hashpool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct hash_job *todo, **todo_tail;
	struct hash_job *done;
	int queued, running, queue_max, stop;
	int nthreads;
	pthread_t *threads;
	int pipefd[2];
	struct event *ev;
	char dummy[AUTH_HASH_MAX];
};

static void *
worker_main(void *arg)
{
	struct hashpool *hp = arg;

	pthread_mutex_lock(&hp->mu);
	for (;;) {
		while (!hp->stop && hp->todo == NULL)
			pthread_cond_wait(&hp->cv, &hp->mu);
		if (hp->stop)
			break;
		struct hash_job *j = hp->todo;
		hp->todo = j->next;
		if (hp->todo == NULL)
			hp->todo_tail = &hp->todo;
		hp->queued--;
		hp->running++;
		pthread_mutex_unlock(&hp->mu);

		const char *stored = j->stored ? j->stored : hp->dummy;
		int ok = auth_password_verify(j->password ? j->password : "", j->len, stored);
		j->ok = ok && j->stored != NULL && j->password != NULL;

		pthread_mutex_lock(&hp->mu);
		hp->running--;
		j->next = hp->done;
		hp->done = j;
		pthread_mutex_unlock(&hp->mu);
		char c = 1;
		ssize_t w = write(hp->pipefd[1], &c, 1);
		(void)w; /* a full pipe already guarantees a wake-up */
		pthread_mutex_lock(&hp->mu);
	}
	pthread_mutex_unlock(&hp->mu);
	return NULL;
}

static void
free_job(struct hash_job *j)
{
	if (j->password) {
		OPENSSL_cleanse(j->password, j->len);
		free(j->password);
	}
	free(j->stored);
	free(j);
}

/* On the loop: drain the pipe, run the callbacks of finished jobs in the
 * order they were queued. */
static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct hashpool *hp = arg;
	char buf[256];

	while (read(fd, buf, sizeof buf) > 0)
		;
	pthread_mutex_lock(&hp->mu);
	struct hash_job *list = hp->done, *rev = NULL;
	hp->done = NULL;
	pthread_mutex_unlock(&hp->mu);
	while (list) {
		struct hash_job *n = list->next;
		list->next = rev;
		rev = list;
		list = n;
	}
	while (rev) {
		struct hash_job *n = rev->next;
		rev->fn(rev->arg, rev->ok);
		free_job(rev);
		rev = n;
	}
}

struct hashpool *
hashpool_new(struct event_base *base, int threads, int queue_max, unsigned dummy_iterations)
{
	struct hashpool *hp = xcalloc(1, sizeof *hp);

	pthread_mutex_init(&hp->mu, NULL);
	pthread_cond_init(&hp->cv, NULL);
	hp->todo_tail = &hp->todo;
	hp->queue_max = queue_max;
	if (pipe2(hp->pipefd, O_NONBLOCK | O_CLOEXEC) != 0)
		abort();
	/* The dummy hash makes an unknown account cost a real verification. */
	if (auth_password_hash("dummy-password", 14, dummy_iterations, hp->dummy, sizeof hp->dummy) != 0)
		abort();
	hp->ev = event_new(base, hp->pipefd[0], EV_READ | EV_PERSIST, on_done, hp);
	event_add(hp->ev, NULL);
	hp->nthreads = threads;
	hp->threads = xcalloc((size_t)threads, sizeof *hp->threads);
	for (int i = 0; i < threads; i++)
		if (pthread_create(&hp->threads[i], NULL, worker_main, hp) != 0)
			abort();
	return hp;
}

int
hashpool_verify(struct hashpool *hp, const char *password, size_t len,
    const char *stored, hashpool_done_fn fn, void *arg)
{
	pthread_mutex_lock(&hp->mu);
	if (hp->queued >= hp->queue_max) {
		pthread_mutex_unlock(&hp->mu);
		return -1;
	}
	struct hash_job *j = xcalloc(1, sizeof *j);
	j->password = password ? xstrndup(password, len) : NULL;
	j->len = len;
	j->stored = stored ? xstrdup(stored) : NULL;
	j->fn = fn;
	j->arg = arg;
	*hp->todo_tail = j;
	hp->todo_tail = &j->next;
	hp->queued++;
	pthread_cond_signal(&hp->cv);
	pthread_mutex_unlock(&hp->mu);
	return 0;
}

int
hashpool_pending(const struct hashpool *hp)
{
	struct hashpool *m = (struct hashpool *)hp;

	pthread_mutex_lock(&m->mu);
	int n = m->queued + m->running;
	for (struct hash_job *j = m->done; j; j = j->next)
		n++;
	pthread_mutex_unlock(&m->mu);
	return n;
}

void
hashpool_free(struct hashpool *hp)
{
	if (hp == NULL)
		return;
	pthread_mutex_lock(&hp->mu);
	hp->stop = 1;
	pthread_cond_broadcast(&hp->cv);
	pthread_mutex_unlock(&hp->mu);
	for (int i = 0; i < hp->nthreads; i++)
		pthread_join(hp->threads[i], NULL);
	for (struct hash_job *j = hp->todo, *n; j; j = n) {
		n = j->next;
		free_job(j);
	}
	for (struct hash_job *j = hp->done, *n; j; j = n) {
		n = j->next;
		free_job(j);
	}
	event_free(hp->ev);
	close(hp->pipefd[0]);
	close(hp->pipefd[1]);
	free(hp->threads);
	pthread_mutex_destroy(&hp->mu);
	pthread_cond_destroy(&hp->cv);
	free(hp);
}
