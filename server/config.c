/* config.c - see config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum cfg_type { T_STR, T_INT };

struct cfg_entry {
	const char *name;
	enum cfg_type type;
	size_t offset;
	const char *def;
	long min, max;
	unsigned progs;
	const char *help;
};

#define S(field) offsetof(struct gen_config, field)
#define ALL (CFG_SERVER | CFG_WORKER | CFG_CTL)
#define SW (CFG_SERVER | CFG_WORKER)

static const struct cfg_entry table[] = {
	{ "database-url", T_STR, S(database_url), "dbname=gen", 0, 0, ALL,
	  "libpq connection string of the PostgreSQL database" },
	{ "forms-dir", T_STR, S(forms_dir), "forms", 0, 0, ALL,
	  "directory holding the XSD schemas of the documents" },
	{ "log-format", T_STR, S(log_format), "text", 0, 0, SW,
	  "log line format: text (key=value)" },
	{ "listen", T_STR, S(listen), "127.0.0.1", 0, 0, CFG_SERVER,
	  "address to listen on" },
	{ "port", T_INT, S(port), "8080", 1, 65535, CFG_SERVER,
	  "TCP port to listen on" },
	{ "workers", T_INT, S(workers), "1", 1, 64, CFG_SERVER,
	  "server processes sharing the port, one event loop each" },
	{ "db-connections", T_INT, S(db_connections), "4", 1, 64, CFG_SERVER,
	  "PostgreSQL connections per server process" },
	{ "db-queue-max", T_INT, S(db_queue_max), "1024", 1, 1000000, CFG_SERVER,
	  "queued queries per process before answering 503" },
	{ "db-timeout-ms", T_INT, S(db_timeout_ms), "5000", 10, 600000, CFG_SERVER,
	  "longest wait of a query for a connection before 503" },
	{ "db-statement-timeout-ms", T_INT, S(db_statement_timeout_ms), "10000", 100, 3600000, CFG_SERVER,
	  "PostgreSQL statement_timeout of the server's connections (503 beyond); "
	  "a connection silent 2 s longer is dropped as hung" },
	{ "max-body", T_INT, S(max_body), "2097152", 1024, 1073741824, CFG_SERVER,
	  "largest request body in bytes (413 beyond)" },
	{ "max-headers", T_INT, S(max_headers), "16384", 1024, 1048576, CFG_SERVER,
	  "largest request header block in bytes" },
	{ "idle-timeout", T_INT, S(idle_timeout), "60", 1, 3600, CFG_SERVER,
	  "seconds a keep-alive connection may stay idle" },
	{ "request-timeout", T_INT, S(request_timeout), "10", 1, 3600, CFG_SERVER,
	  "seconds to receive a whole request" },
	{ "tls-cert", T_STR, S(tls_cert), "", 0, 0, CFG_SERVER,
	  "PEM certificate chain; with tls-key, the port speaks TLS only (1.2+)" },
	{ "tls-key", T_STR, S(tls_key), "", 0, 0, CFG_SERVER,
	  "PEM private key of tls-cert" },
	{ "hsts-seconds", T_INT, S(hsts_seconds), "31536000", 0, 100000000, CFG_SERVER,
	  "max-age of Strict-Transport-Security under TLS (0: header not sent)" },
	{ "receipt-key", T_STR, S(receipt_key), "var/receipt-key.pem", 0, 0, CFG_SERVER,
	  "Ed25519 private key signing receipts (created if absent)" },
	{ "pseudonym-key", T_STR, S(pseudonym_key), "var/pseudonym-key", 0, 0, CFG_SERVER | CFG_CTL,
	  "HMAC key turning learner refs into pseudonyms (created if absent; keep it outside the database)" },
	{ "hash-threads", T_INT, S(hash_threads), "2", 1, 64, CFG_SERVER,
	  "threads per process hashing passwords off the event loop" },
	{ "trusted-proxies", T_STR, S(trusted_proxies), "", 0, 0, CFG_SERVER,
	  "reverse proxies (IP addresses, comma-separated) whose X-Forwarded-For names the client" },
	{ "session-hours", T_INT, S(session_hours), "8", 1, 720, CFG_SERVER,
	  "lifetime of a login session" },
	{ "pbkdf2-iterations", T_INT, S(pbkdf2_iterations), "600000", 1000, 100000000, CFG_SERVER | CFG_CTL,
	  "PBKDF2-HMAC-SHA256 iterations for new password hashes" },
	{ "shutdown-grace", T_INT, S(shutdown_grace), "20", 0, 600, CFG_SERVER,
	  "seconds to finish in-flight requests after SIGTERM" },
	{ "worker-id", T_STR, S(worker_id), "", 0, 0, CFG_WORKER,
	  "name of this worker in job leases (default host:pid)" },
	{ "poll-ms", T_INT, S(poll_ms), "1000", 10, 600000, CFG_WORKER,
	  "fallback polling interval when no NOTIFY arrives" },
	{ "lease-seconds", T_INT, S(lease_seconds), "60", 1, 86400, CFG_WORKER,
	  "how long a claimed job stays leased before the reaper frees it" },
	{ "max-attempts", T_INT, S(max_attempts), "5", 1, 100, CFG_WORKER,
	  "attempts before a failing job is dead" },
	{ "concurrency", T_INT, S(concurrency), "1", 1, 64, CFG_WORKER,
	  "jobs run at once by this worker (one connection each)" },
	{ "spool-dir", T_STR, S(spool_dir), "var/spool/outbox", 0, 0, CFG_WORKER,
	  "directory where notifications are delivered as RFC 5322 .eml files" },
	{ "smtp-url", T_STR, S(smtp_url), "", 0, 0, CFG_WORKER,
	  "SMTP relay (smtp://host:port or smtps://...) to send notifications to instead of the spool" },
	{ "mail-from", T_STR, S(mail_from), "no-reply@grandeecolenumerique.example.fr", 0, 0, CFG_WORKER,
	  "sender address of notifications" },
};

static const struct cfg_entry *
find(const char *name, enum config_prog prog)
{
	for (size_t i = 0; i < ARRAY_LEN(table); i++)
		if (strcmp(table[i].name, name) == 0 && (table[i].progs & prog))
			return &table[i];
	return NULL;
}

static int
set(struct gen_config *c, const struct cfg_entry *e, const char *value,
    const char *origin, char *err, size_t errlen)
{
	char *base = (char *)c;

	if (e->type == T_STR) {
		char **p = (char **)(base + e->offset);
		free(*p);
		*p = xstrdup(value);
		return 0;
	}
	int64_t v;
	if (parse_int64(value, e->min, e->max, &v) != 0) {
		snprintf(err, errlen, "%s: %s must be an integer from %ld to %ld, not \"%s\"",
		    origin, e->name, e->min, e->max, value);
		return -1;
	}
	*(int *)(base + e->offset) = (int)v;
	return 0;
}

static char *
trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int
load_file(struct gen_config *c, enum config_prog prog, const char *path,
    char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[4096], origin[512];
	int lineno = 0, rc = 0;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof line, f)) {
		lineno++;
		char *s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		snprintf(origin, sizeof origin, "%s:%d", path, lineno);
		if (eq == NULL) {
			snprintf(err, errlen, "%s: expected name = value", origin);
			rc = -1;
			break;
		}
		*eq = '\0';
		char *name = trim(s), *value = trim(eq + 1);
		const struct cfg_entry *e = find(name, prog);
		if (e == NULL) {
			/* A file may be shared by the three programs. */
			int known = 0;
			for (size_t i = 0; i < ARRAY_LEN(table); i++)
				known |= strcmp(table[i].name, name) == 0;
			if (!known) {
				snprintf(err, errlen, "%s: unknown setting \"%s\"", origin, name);
				rc = -1;
			}
			continue;
		}
		rc = set(c, e, value, origin, err, errlen);
	}
	fclose(f);
	return rc;
}

int
config_load(struct gen_config *c, enum config_prog prog, int argc,
    char **argv, int *rest, char *err, size_t errlen)
{
	char envname[128];
	const char *file = getenv("GEN_CONFIG");
	int i;

	memset(c, 0, sizeof *c);
	for (size_t k = 0; k < ARRAY_LEN(table); k++)
		if (set(c, &table[k], table[k].def, "default", err, errlen) != 0)
			return -1;
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			file = argv[i + 1];
	if (file != NULL && *file && load_file(c, prog, file, err, errlen) != 0)
		return -1;
	for (size_t k = 0; k < ARRAY_LEN(table); k++) {
		size_t j = 0;
		j += (size_t)snprintf(envname, sizeof envname, "GEN_");
		for (const char *p = table[k].name; *p && j + 1 < sizeof envname; p++)
			envname[j++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
		envname[j] = '\0';
		const char *v = getenv(envname);
		if (v != NULL && (table[k].progs & prog) &&
		    set(c, &table[k], v, envname, err, errlen) != 0)
			return -1;
	}
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0)
			break;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			config_usage(stdout, argv[0], prog);
			return 1;
		}
		if (strcmp(a, "--config") == 0) {
			i++;
			continue;
		}
		const char *name = a + 2, *value = NULL;
		char namebuf[64];
		const char *eq = strchr(name, '=');
		if (eq != NULL) {
			snprintf(namebuf, sizeof namebuf, "%.*s", (int)(eq - name), name);
			name = namebuf;
			value = eq + 1;
		}
		const struct cfg_entry *e = find(name, prog);
		if (e == NULL) {
			snprintf(err, errlen, "unknown option %s (see --help)", a);
			return -1;
		}
		if (value == NULL) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "option %s needs a value", a);
				return -1;
			}
			value = argv[++i];
		}
		if (set(c, e, value, a, err, errlen) != 0)
			return -1;
	}
	if (rest != NULL)
		*rest = i;
	return 0;
}

void
config_usage(FILE *f, const char *program, enum config_prog prog)
{
	fprintf(f, "usage: %s [--config FILE] [--name value ...]\n\n"
	    "Settings (also GEN_NAME in the environment or name = value in FILE):\n",
	    program);
	for (size_t i = 0; i < ARRAY_LEN(table); i++) {
		if (!(table[i].progs & prog))
			continue;
		fprintf(f, "  --%-18s %s (default: %s", table[i].name, table[i].help,
		    *table[i].def ? table[i].def : "none");
		if (table[i].type == T_INT)
			fprintf(f, "; %ld..%ld", table[i].min, table[i].max);
		fprintf(f, ")\n");
	}
}

void
config_free(struct gen_config *c)
{
	char *base = (char *)c;

	for (size_t i = 0; i < ARRAY_LEN(table); i++)
		if (table[i].type == T_STR) {
			char **p = (char **)(base + table[i].offset);
			free(*p);
			*p = NULL;
		}
}
