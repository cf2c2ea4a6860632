/* deliver.c - see deliver.h. */
#include "deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "pg.h"

static int
is_ascii_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

/* A header value: as is when plain ASCII, else an RFC 2047 encoded word. */
static void
header_value(struct sbuf *out, const char *v)
{
	if (is_ascii_printable(v)) {
		sbuf_adds(out, v);
		return;
	}
	char *b = base64_encode((const unsigned char *)v, strlen(v));
	sbuf_printf(out, "=?UTF-8?B?%s?=", b);
	free(b);
}

void
deliver_format(struct sbuf *out, long long id, const char *from, const char *to,
    const char *subject, const char *body, time_t when)
{
	char date[64];
	struct tm tm;

	gmtime_r(&when, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	sbuf_printf(out, "From: %s\r\nTo: ", from);
	header_value(out, to);
	sbuf_adds(out, "\r\nSubject: ");
	header_value(out, subject);
	sbuf_printf(out, "\r\nDate: %s\r\nMessage-ID: <outbox-%lld@gen.invalid>\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n", date, id);
	char *b = base64_encode((const unsigned char *)body, strlen(body));
	size_t n = strlen(b);
	for (size_t i = 0; i < n; i += 76) {
		sbuf_add(out, b + i, n - i < 76 ? n - i : 76);
		sbuf_adds(out, "\r\n");
	}
	free(b);
}

/* mkdir -p */
static int
make_dirs(const char *path)
{
	char *p = xstrdup(path);
	int rc = 0;

	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0750) != 0 && errno != EEXIST)
				rc = -1;
			*s = c;
			if (c == '\0')
				break;
		}
	}
	free(p);
	return rc;
}

static int
write_atomically(const char *dir, long long id, const struct sbuf *msg, char *err, size_t errlen)
{
	char tmp[4096], final[4096];

	snprintf(tmp, sizeof tmp, "%s/.%lld.tmp", dir, id);
	snprintf(final, sizeof final, "%s/%010lld.eml", dir, id);
	if (make_dirs(dir) != 0) {
		snprintf(err, errlen, "cannot create spool directory %s: %s", dir, strerror(errno));
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		return -1;
	}
	size_t off = 0;
	while (off < msg->len) {
		ssize_t w = write(fd, msg->data + off, msg->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
			close(fd);
			unlink(tmp);
			return -1;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, final) != 0) {
		snprintf(err, errlen, "cannot deliver %s: %s", final, strerror(errno));
		unlink(tmp);
		return -1;
	}
	/* The rename is durable once the directory is synced. */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

struct upload {
	const char *data;
	size_t len, off;
};

static size_t
read_message(char *buf, size_t size, size_t nitems, void *arg)
{
	struct upload *u = arg;
	size_t n = size * nitems;

	if (n > u->len - u->off)
		n = u->len - u->off;
	memcpy(buf, u->data + u->off, n);
	u->off += n;
	return n;
}

/* Hand the message to the configured relay (libcurl's SMTP client). The
 * job is marked delivered only when the relay accepted it; a retry after a
 * crash in between may send it twice, which the Message-ID lets receiving
 * systems deduplicate. */
static int
send_smtp(const char *url, const char *from, const char *to, const struct sbuf *msg,
    char *err, size_t errlen)
{
	CURL *curl = curl_easy_init();
	struct curl_slist *rcpt = NULL;
	struct upload u = { msg->data, msg->len, 0 };
	char errbuf[CURL_ERROR_SIZE] = "";
	char bracketed[400];

	if (curl == NULL) {
		snprintf(err, errlen, "cannot initialise libcurl");
		return -1;
	}
	snprintf(bracketed, sizeof bracketed, "<%s>", to);
	rcpt = curl_slist_append(rcpt, bracketed);
	snprintf(bracketed, sizeof bracketed, "<%s>", from);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_MAIL_FROM, bracketed);
	curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_message);
	curl_easy_setopt(curl, CURLOPT_READDATA, &u);
	curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
	CURLcode rc = curl_easy_perform(curl);
	if (rc != CURLE_OK)
		snprintf(err, errlen, "SMTP %s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(curl);
	return rc == CURLE_OK ? 0 : -1;
}

enum job_status
deliver_run(PGconn *conn, const struct job *job, struct sbuf *result, char *err, size_t errlen)
{
	const char *values[1] = { job->payload };
	PGresult *res = PQexecParams(conn,
	    "SELECT o.id, o.recipient, o.subject, o.body, o.delivered_at IS NOT NULL, "
	    "       extract(epoch FROM o.created_at)::bigint "
	    "FROM outbox o WHERE o.id = ($1::jsonb->>'outbox')::bigint FOR UPDATE",
	    1, NULL, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "%s", PQresultErrorMessage(res));
		PQclear(res);
		return JOB_RETRY;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		snprintf(err, errlen, "no outbox message for payload %s", job->payload);
		return JOB_FATAL;
	}
	long long id = atoll(PQgetvalue(res, 0, 0));
	if (strcmp(PQgetvalue(res, 0, 4), "t") == 0) {
		PQclear(res);
		sbuf_printf(result, "{\"outbox\":%lld,\"skipped\":\"already delivered\"}", id);
		return JOB_DONE;
	}
	struct sbuf msg = {0}, from = {0};
	const char *sender = job->cfg && job->cfg->mail_from && *job->cfg->mail_from ?
	    job->cfg->mail_from : "no-reply@grandeecolenumerique.example.fr";
	sbuf_printf(&from, "GEN <%s>", sender);
	char to[321];
	snprintf(to, sizeof to, "%s", PQgetvalue(res, 0, 1));
	deliver_format(&msg, id, from.data, to, PQgetvalue(res, 0, 2),
	    PQgetvalue(res, 0, 3), (time_t)atoll(PQgetvalue(res, 0, 5)));
	PQclear(res);
	sbuf_free(&from);
	int rc;
	const char *via;
	if (job->cfg && job->cfg->smtp_url && *job->cfg->smtp_url) {
		via = "smtp";
		rc = send_smtp(job->cfg->smtp_url, sender, to, &msg, err, errlen);
	} else {
		via = "spool";
		const char *dir = job->cfg && job->cfg->spool_dir ? job->cfg->spool_dir : "var/spool/outbox";
		rc = write_atomically(dir, id, &msg, err, errlen);
	}
	sbuf_free(&msg);
	if (rc != 0)
		return JOB_RETRY;
	char idtext[32];
	snprintf(idtext, sizeof idtext, "%lld", id);
	const char *v2[1] = { idtext };
	if (pg_run(conn, "UPDATE outbox SET delivered_at = now(), attempts = attempts + 1 WHERE id = $1",
	    1, v2, err, errlen) != 0)
		return JOB_RETRY;
	sbuf_printf(result, "{\"outbox\":%lld,\"via\":\"%s\",\"file\":", id, via);
	char file[64];
	snprintf(file, sizeof file, "%010lld.eml", id);
	json_add_str(result, file);
	sbuf_addc(result, '}');
	return JOB_DONE;
}
