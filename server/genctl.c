/* genctl.c - the operator's command line.
 *
 *   genctl [--db URL] [settings] migrate [--dir DIR]
 *   genctl user add --email E --role provider|reviewer|staff [--siret S]
 *                   [--name N] [--org-name O] [--region R] [--password-stdin]
 *   genctl token create --email E
 *   genctl audit verify
 *   genctl jobs [--state S] [--limit N]
 *   genctl assignment replay RUN
 *   genctl assignment show RUN
 *
 * The database comes from GEN_DATABASE_URL, the config file or
 * --database-url (config.h), and --db is accepted anywhere as a shorter
 * alias. Exit status: 0 done, 1 failed (one line on stderr says why),
 * 2 usage error. Every statement is parameterised; the only SQL sent as
 * text is the migration files themselves. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "assign.h"
#include "assign_input.h"
#include "auth.h"
#include "config.h"
#include "db.h"
#include "xmlform.h"
#include "pseudonym.h"
#include "cohort.h"
#include "form.h"
#include "util.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Advisory lock keys: audit chaining uses 7300001 (schema/0001_core.sql). */
#define MIGRATE_LOCK_KEY "7300002"
#define AUDIT_FETCH_ROWS "10000"
#define PASSWORD_MIN_CHARS 8
#define PASSWORD_MAX_BYTES 1024

struct ctl {
	struct gen_config cfg;
	PGconn *conn;
};

struct command {
	const char *name;
	const char *sub;   /* second word, or NULL */
	int (*run)(struct ctl *ctl, const struct command *self, int argc, char **argv);
	const char *args;
	const char *help;
};

static int cmd_migrate(struct ctl *ctl, const struct command *self, int argc, char **argv);
static int cmd_user_add(struct ctl *ctl, const struct command *self, int argc, char **argv);
static int cmd_token_create(struct ctl *ctl, const struct command *self, int argc, char **argv);
static int cmd_audit_verify(struct ctl *ctl, const struct command *self, int argc, char **argv);
static int cmd_jobs(struct ctl *ctl, const struct command *self, int argc, char **argv);
static int cmd_assignment_replay(struct ctl *ctl, const struct command *self, int argc, char **argv);
static int cmd_assignment_show(struct ctl *ctl, const struct command *self, int argc, char **argv);
static int cmd_import_cohorts(struct ctl *ctl, const struct command *self, int argc, char **argv);

static const struct command commands[] = {
	{ "migrate", NULL, cmd_migrate, "[--dir DIR]",
	  "apply the migrations of DIR (default schema) not yet applied, in order" },
	{ "user", "add", cmd_user_add,
	  "--email E --role provider|reviewer|staff [--siret S] [--name N] [--org-name O] "
	  "[--region R] [--password-stdin]",
	  "create or update a user; the password is the first line of stdin" },
	{ "token", "create", cmd_token_create, "--email E",
	  "make an API token for the user and print it (only its hash is stored)" },
	{ "audit", "verify", cmd_audit_verify, "",
	  "check the audit log's hash chain: \"ok entries=N\" or \"broken seq=N: why\"" },
	{ "jobs", NULL, cmd_jobs, "[--state queued|running|done|failed|dead] [--limit N]",
	  "list the most recent jobs" },
	{ "assignment", "replay", cmd_assignment_replay, "RUN",
	  "solve the stored input of assignment run RUN again and compare with the stored "
	  "result: \"identical run=N hash=H\" (exit 0) or \"different run=N stored=H "
	  "replayed=H\" (exit 1)" },
	{ "assignment", "show", cmd_assignment_show, "RUN",
	  "print the stored result JSON of assignment run RUN" },
	{ "import", "cohorts", cmd_import_cohorts, "DIR",
	  "load every DIR/*.xml cohortReport through the same validation as the API, on behalf of "
	  "each programme's owner; files already imported are left as they are (safe to re-run)" },
};


/* ---- messages ---- */

static int
fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
fail(const char *fmt, ...)
{
	va_list ap;

	fputs("genctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAIL;
}

static int
usage_error(const struct command *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
usage_error(const struct command *c, const char *fmt, ...)
{
	va_list ap;

	fputs("genctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (c != NULL)
		fprintf(stderr, "usage: genctl %s%s%s%s%s\n", c->name, c->sub ? " " : "",
		    c->sub ? c->sub : "", *c->args ? " " : "", c->args);
	else
		fputs("see genctl --help\n", stderr);
	return EXIT_USAGE;
}

static void
usage(FILE *f)
{
	const struct command *cmds = commands;
	size_t n = ARRAY_LEN(commands);

	fputs("usage: genctl [--db URL] [settings] COMMAND [options]\n\nCommands:\n", f);
	for (size_t i = 0; i < n; i++) {
		char head[64];
		snprintf(head, sizeof head, "%s%s%s", cmds[i].name, cmds[i].sub ? " " : "",
		    cmds[i].sub ? cmds[i].sub : "");
		fprintf(f, "  %s%s%s\n      %s\n", head, *cmds[i].args ? " " : "", cmds[i].args,
		    cmds[i].help);
	}
	fputs("\nThe database is GEN_DATABASE_URL, or --db URL (alias of --database-url).\n"
	    "Exit status: 0 done, 1 failed, 2 usage error.\n\n", f);
	config_usage(f, "genctl", CFG_CTL);
}

/* The first line of a libpq or server message, without "ERROR:  ". */
static const char *
pg_message(PGconn *conn, const PGresult *r, char *buf, size_t len)
{
	const char *m = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (m == NULL)
		m = PQerrorMessage(conn);
	snprintf(buf, len, "%.*s", (int)strcspn(m, "\n"), m);
	return buf;
}

/* ---- options of a subcommand ---- */

struct opt {
	const char *name;  /* without "--" */
	const char **value; /* for options with a value */
	int *flag;          /* for flags */
};

/* Parse argv[0..argc) against opts. Returns 0, 1 when --help was printed,
 * or EXIT_USAGE after printing the error. */
static int
parse_opts(const struct command *c, int argc, char **argv, const struct opt *opts,
    size_t nopts)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			printf("usage: genctl %s%s%s%s%s\n  %s\n", c->name, c->sub ? " " : "",
			    c->sub ? c->sub : "", *c->args ? " " : "", c->args, c->help);
			return 1;
		}
		if (strncmp(a, "--", 2) != 0)
			return usage_error(c, "unexpected argument \"%s\"", a);
		const char *eq = strchr(a, '=');
		size_t nlen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		const struct opt *o = NULL;
		for (size_t k = 0; k < nopts; k++)
			if (strlen(opts[k].name) == nlen && strncmp(opts[k].name, a + 2, nlen) == 0)
				o = &opts[k];
		if (o == NULL)
			return usage_error(c, "unknown option %.*s", (int)nlen + 2, a);
		if (o->flag != NULL) {
			if (eq != NULL)
				return usage_error(c, "option --%s takes no value", o->name);
			*o->flag = 1;
			continue;
		}
		if (eq != NULL)
			*o->value = eq + 1;
		else if (i + 1 < argc)
			*o->value = argv[++i];
		else
			return usage_error(c, "option --%s needs a value", o->name);
	}
	return 0;
}

/* ---- database ---- */

static int
ctl_connect(struct ctl *ctl)
{
	struct db_params params;
	char msg[512];

	db_params_init(&params, ctl->cfg.database_url, "genctl");
	ctl->conn = PQconnectdbParams(params.keys, params.vals, 1);
	if (PQstatus(ctl->conn) != CONNECTION_OK)
		return fail("cannot connect to the database: %s",
		    pg_message(ctl->conn, NULL, msg, sizeof msg));
	/* NOTICEs ("already exists, skipping") are noise for an operator. */
	PGresult *r = PQexec(ctl->conn, "SET client_min_messages = warning");
	PQclear(r);
	return EXIT_OK;
}

/* Run a parameterised statement; NULL (and a message on stderr naming
 * `what`) when it fails. */
static PGresult *
q(struct ctl *ctl, const char *what, const char *sql, int n,
    const char *const *values)
{
	char msg[512];
	PGresult *r = PQexecParams(ctl->conn, sql, n, NULL, values, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);

	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return r;
	fail("%s: %s", what, pg_message(ctl->conn, r, msg, sizeof msg));
	PQclear(r);
	return NULL;
}

static int
q_run(struct ctl *ctl, const char *what, const char *sql, int n,
    const char *const *values)
{
	PGresult *r = q(ctl, what, sql, n, values);

	PQclear(r);
	return r != NULL ? 0 : -1;
}

static void
rollback(struct ctl *ctl)
{
	PQclear(PQexec(ctl->conn, "ROLLBACK"));
}

/* ---- migrate ---- */

struct migration {
	int version;
	char *name;
	char *sql;
	size_t len;
	char sha256[65];
};

static int
is_migration_name(const char *s)
{
	size_t n = strlen(s);

	for (int i = 0; i < 4; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return s[4] == '_' && n > 9 && strcmp(s + n - 4, ".sql") == 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct migration *)a)->name, ((const struct migration *)b)->name);
}

static void
free_migrations(struct migration *m, int n)
{
	for (int i = 0; i < n; i++) {
		free(m[i].name);
		free(m[i].sql);
	}
	free(m);
}

/* Read the migrations of dir, sorted by name. Returns the count, or -1
 * after printing why. */
static int
load_migrations(const char *dir, struct migration **out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct migration *m = NULL;
	int n = 0, cap = 0;

	*out = NULL;
	if (d == NULL) {
		fail("%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (!is_migration_name(e->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			m = xrealloc(m, (size_t)cap * sizeof *m);
		}
		memset(&m[n], 0, sizeof m[n]);
		m[n].name = xstrdup(e->d_name);
		m[n].version = atoi(e->d_name);
		n++;
	}
	closedir(d);
	qsort(m, (size_t)n, sizeof *m, name_cmp);
	for (int i = 0; i < n; i++) {
		struct sbuf path = { 0 }, body = { 0 };
		char buf[65536];
		size_t got;

		if (i > 0 && m[i].version == m[i - 1].version) {
			fail("two migrations are numbered %04d: %s and %s", m[i].version,
			    m[i - 1].name, m[i].name);
			goto bad;
		}
		sbuf_printf(&path, "%s/%s", dir, m[i].name);
		FILE *f = fopen(path.data, "rb");
		if (f == NULL) {
			fail("%s: %s", path.data, strerror(errno));
			sbuf_free(&path);
			goto bad;
		}
		while ((got = fread(buf, 1, sizeof buf, f)) > 0)
			sbuf_add(&body, buf, got);
		int read_error = ferror(f);
		fclose(f);
		sbuf_free(&path);
		m[i].len = body.len;
		m[i].sql = sbuf_detach(&body);
		if (read_error) {
			fail("%s: read error", m[i].name);
			goto bad;
		}
		if (memchr(m[i].sql, '\0', m[i].len) != NULL) {
			fail("%s: holds a NUL byte", m[i].name);
			goto bad;
		}
		auth_sha256_hex(m[i].sql, m[i].len, m[i].sha256);
	}
	*out = m;
	return n;
bad:
	free_migrations(m, n);
	return -1;
}

/* Line (1-based) of character position pos (1-based, as PostgreSQL counts:
 * characters, not bytes) in UTF-8 text. */
static int
line_of(const char *s, size_t len, long pos)
{
	int line = 1;
	long chars = 0;

	for (size_t i = 0; i < len && chars < pos - 1; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			chars++;
		if (s[i] == '\n')
			line++;
	}
	return line;
}

static int
apply_migration(struct ctl *ctl, const struct migration *m)
{
	char msg[512], version[16];

	if (q_run(ctl, "BEGIN", "BEGIN", 0, NULL) != 0)
		return -1;
	/* The whole file in one simple-query message: plpgsql $$ bodies and
	 * several statements are fine, and it all commits or nothing does. */
	PGresult *r = PQexec(ctl->conn, m->sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
		const char *pos = r ? PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION) : NULL;
		pg_message(ctl->conn, r, msg, sizeof msg);
		if (pos != NULL)
			fail("migration %s failed at line %d: %s", m->name,
			    line_of(m->sql, m->len, atol(pos)), msg);
		else
			fail("migration %s failed: %s", m->name, msg);
		PQclear(r);
		rollback(ctl);
		return -1;
	}
	PQclear(r);
	if (PQtransactionStatus(ctl->conn) != PQTRANS_INTRANS) {
		/* A COMMIT or ROLLBACK in the file broke the all-or-nothing rule. */
		fail("migration %s ends the transaction itself (COMMIT/ROLLBACK in the file): "
		    "not recorded, check the database by hand", m->name);
		rollback(ctl);
		return -1;
	}
	snprintf(version, sizeof version, "%d", m->version);
	const char *p[] = { version, m->name, m->sha256 };
	if (q_run(ctl, m->name, "INSERT INTO schema_migrations (version, name, checksum)"
	    " VALUES ($1, $2, $3)", 3, p) != 0) {
		rollback(ctl);
		return -1;
	}
	if (q_run(ctl, m->name, "COMMIT", 0, NULL) != 0)
		return -1;
	printf("applied %s\n", m->name);
	return 0;
}

static int
cmd_migrate(struct ctl *ctl, const struct command *self, int argc, char **argv)
{
	const char *dir = "schema";
	const struct opt opts[] = { { "dir", &dir, NULL } };
	int rc = parse_opts(self, argc, argv, opts, ARRAY_LEN(opts));
	struct migration *m;
	int applied = 0;

	if (rc != 0)
		return rc == 1 ? EXIT_OK : rc;
	int n = load_migrations(dir, &m);
	if (n < 0)
		return EXIT_FAIL;
	if (n == 0) {
		free(m);
		return fail("%s holds no migration (NNNN_name.sql)", dir);
	}
	if ((rc = ctl_connect(ctl)) != EXIT_OK) {
		free_migrations(m, n);
		return rc;
	}
	rc = EXIT_FAIL;
	/* One migrator at a time, across machines; the lock also covers
	 * creating the bookkeeping table. */
	const char *lk[] = { MIGRATE_LOCK_KEY };
	if (q_run(ctl, "lock", "SELECT pg_advisory_lock($1::bigint)", 1, lk) != 0)
		goto out;
	if (q_run(ctl, "schema_migrations",
	    "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
	    " applied_at timestamptz NOT NULL DEFAULT now())", 0, NULL) != 0)
		goto out;
	PGresult *r = q(ctl, "schema_migrations",
	    "SELECT version, name, checksum FROM schema_migrations ORDER BY version", 0, NULL);
	if (r == NULL)
		goto out;
	int newest = 0, bad = 0;
	char *applied_flags = xcalloc((size_t)n, 1);
	for (int i = 0; i < PQntuples(r) && !bad; i++) {
		int v = atoi(PQgetvalue(r, i, 0));
		int k;
		for (k = 0; k < n && m[k].version != v; k++)
			;
		if (k == n) {
			fail("the database has migration %s, which %s does not hold",
			    PQgetvalue(r, i, 1), dir);
			bad = 1;
		} else if (strcmp(m[k].sha256, PQgetvalue(r, i, 2)) != 0) {
			fail("migration %s was changed after being applied", m[k].name);
			bad = 1;
		} else {
			applied_flags[k] = 1;
		}
		newest = v > newest ? v : newest;
	}
	PQclear(r);
	for (int k = 0; k < n && !bad; k++)
		if (!applied_flags[k] && m[k].version < newest) {
			fail("migration %s is older than one already applied (%04d); "
			    "number it after the newest", m[k].name, newest);
			bad = 1;
		}
	for (int k = 0; k < n && !bad; k++) {
		if (applied_flags[k])
			continue;
		if (apply_migration(ctl, &m[k]) != 0)
			bad = 1;
		else
			applied++;
	}
	free(applied_flags);
	if (!bad) {
		if (applied == 0)
			printf("up to date\n");
		rc = EXIT_OK;
	}
	PQclear(PQexecParams(ctl->conn, "SELECT pg_advisory_unlock($1::bigint)", 1, NULL,
	    lk, NULL, NULL, 0));
out:
	free_migrations(m, n);
	return rc;
}

/* ---- user add ---- */

static int
email_ok(const char *e)
{
	const char *at = strchr(e, '@');
	size_t n = strlen(e);

	if (at == NULL || at == e || at[1] == '\0' || strchr(at + 1, '@') != NULL || n > 254)
		return 0;
	for (const char *p = e; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>' ||
		    *p == ',' || *p == ';' || *p == '"')
			return 0;
	return at[1] != '.' && e[n - 1] != '.';
}

static int
region_ok(const char *r)
{
	static const char *const regions[] = { "01", "02", "03", "04", "06", "11", "24",
		"27", "28", "32", "44", "52", "53", "75", "76", "84", "93", "94" };

	for (size_t i = 0; i < ARRAY_LEN(regions); i++)
		if (strcmp(r, regions[i]) == 0)
			return 1;
	return 0;
}

static size_t
utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* First line of stdin, without its line ending, into buf. */
static int
read_password(char *buf, size_t len)
{
	struct termios saved, quiet;
	int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;

	if (tty) {
		/* Typed by hand: no echo. */
		fputs("password: ", stderr);
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	char *got = fgets(buf, (int)len, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
		fputc('\n', stderr);
	}
	if (got == NULL)
		return fail("no password on stdin");
	size_t n = strlen(buf);
	if (n == len - 1 && buf[n - 1] != '\n' && !feof(stdin))
		return fail("password longer than %d bytes", PASSWORD_MAX_BYTES);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n == 0)
		return fail("empty password on stdin");
	if (utf8_chars(buf) < PASSWORD_MIN_CHARS)
		return fail("password shorter than %d characters", PASSWORD_MIN_CHARS);
	return EXIT_OK;
}

/* A provider's organisation: created when new (it needs a name), else its
 * name and region are changed only when --org-name/--region say so. */
static int
upsert_organisation(struct ctl *ctl, const char *siret, const char *new_name,
    const char *org_name, const char *region)
{
	const char *p[] = { siret, org_name, region };
	PGresult *r = q(ctl, "organisation",
	    "UPDATE organisations SET name = coalesce($2, name), region = coalesce($3, region)"
	    " WHERE siret = $1", 3, p);

	if (r == NULL)
		return -1;
	int found = strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	if (found)
		return 0;
	if (new_name == NULL) {
		fail("organisation %s is new: name it with --org-name", siret);
		return -1;
	}
	const char *ip[] = { siret, new_name, region };
	return q_run(ctl, "organisation", "INSERT INTO organisations (siret, name, region)"
	    " VALUES ($1, $2, $3) ON CONFLICT (siret) DO NOTHING", 3, ip);
}

static int
cmd_user_add(struct ctl *ctl, const struct command *self, int argc, char **argv)
{
	const char *email_in = NULL, *role = NULL, *siret = NULL, *name = NULL,
	    *org_name = NULL, *region = NULL;
	int password_stdin = 0;
	const struct opt opts[] = {
		{ "email", &email_in, NULL }, { "role", &role, NULL },
		{ "siret", &siret, NULL }, { "name", &name, NULL },
		{ "org-name", &org_name, NULL }, { "region", &region, NULL },
		{ "password-stdin", NULL, &password_stdin },
	};
	char password[PASSWORD_MAX_BYTES + 2], hash[AUTH_HASH_MAX] = "";
	int rc = parse_opts(self, argc, argv, opts, ARRAY_LEN(opts));

	if (rc != 0)
		return rc == 1 ? EXIT_OK : rc;
	if (email_in == NULL || role == NULL)
		return usage_error(self, "--email and --role are required");
	char *email = xstrdup(email_in);
	for (char *p = email; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	rc = EXIT_FAIL;
	int provider = strcmp(role, "provider") == 0;
	if (!email_ok(email)) {
		fail("\"%s\" is not an e-mail address (local@domain)", email_in);
		goto out;
	}
	if (!provider && strcmp(role, "reviewer") != 0 && strcmp(role, "staff") != 0) {
		fail("role must be provider, reviewer or staff, not \"%s\"", role);
		goto out;
	}
	if (provider && siret == NULL) {
		fail("a provider needs --siret (the organisation's SIRET)");
		goto out;
	}
	if (!provider && (siret != NULL || org_name != NULL || region != NULL)) {
		fail("--siret, --org-name and --region are for providers only");
		goto out;
	}
	if (siret != NULL && !siret_valid(siret)) {
		fail("SIRET \"%s\" is not 14 digits passing the Luhn check", siret);
		goto out;
	}
	if (region != NULL && !region_ok(region)) {
		fail("region \"%s\" is not an INSEE region code", region);
		goto out;
	}
	if (name != NULL && (strlen(name) > 200 * 4 || utf8_chars(name) > 200)) {
		fail("--name is longer than 200 characters");
		goto out;
	}
	if (password_stdin) {
		if (read_password(password, sizeof password) != EXIT_OK)
			goto out;
		int h = auth_password_hash(password, strlen(password),
		    (unsigned)ctl->cfg.pbkdf2_iterations, hash, sizeof hash);
		OPENSSL_cleanse(password, sizeof password);
		if (h != 0) {
			fail("could not hash the password");
			goto out;
		}
	}
	if (ctl_connect(ctl) != EXIT_OK)
		goto out;
	if (q_run(ctl, "BEGIN", "BEGIN", 0, NULL) != 0)
		goto out;
	if (provider && upsert_organisation(ctl, siret, org_name ? org_name : name,
	    org_name, region) != 0)
		goto out_rollback;
	const char *p[] = { email, role, name, siret, password_stdin ? hash : NULL,
		password_stdin ? "true" : "false" };
	PGresult *r = q(ctl, "user",
	    "INSERT INTO users AS u (email, role, name, siret, password_hash)"
	    " VALUES ($1, $2, coalesce($3, ''), $4, $5)"
	    " ON CONFLICT (email) DO UPDATE SET role = EXCLUDED.role,"
	    "  name = coalesce($3, u.name), siret = EXCLUDED.siret,"
	    "  password_hash = CASE WHEN $6::bool THEN EXCLUDED.password_hash"
	    "                  ELSE u.password_hash END"
	    " RETURNING xmax = 0", 6, p);
	if (r == NULL)
		goto out_rollback;
	int created = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	const char *ap[] = { email, role };
	if (q_run(ctl, "audit", "SELECT gen_audit('genctl', 'user.add', $1, $2, '')", 2, ap) != 0)
		goto out_rollback;
	if (q_run(ctl, "COMMIT", "COMMIT", 0, NULL) != 0)
		goto out;
	printf("%s user %s (%s)\n", created ? "created" : "updated", email, role);
	rc = EXIT_OK;
	goto out;
out_rollback:
	rollback(ctl);
out:
	OPENSSL_cleanse(password, sizeof password);
	OPENSSL_cleanse(hash, sizeof hash);
	free(email);
	return rc;
}

/* ---- token create ---- */

/* The user's id as text, or -1 after printing why. */
static int
user_id(struct ctl *ctl, const char *email, char *out, size_t len)
{
	const char *p[] = { email };
	PGresult *r = q(ctl, "user", "SELECT id FROM users WHERE email = $1", 1, p);

	if (r == NULL)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		fail("no user %s", email);
		return -1;
	}
	snprintf(out, len, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

static int
cmd_token_create(struct ctl *ctl, const struct command *self, int argc, char **argv)
{
	const char *email_in = NULL;
	const struct opt opts[] = { { "email", &email_in, NULL } };
	char token[AUTH_TOKEN_LEN + 1], hex[65], uid[24];
	int rc = parse_opts(self, argc, argv, opts, ARRAY_LEN(opts));

	if (rc != 0)
		return rc == 1 ? EXIT_OK : rc;
	if (email_in == NULL)
		return usage_error(self, "--email is required");
	char *email = xstrdup(email_in);
	for (char *p = email; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	rc = EXIT_FAIL;
	if (ctl_connect(ctl) != EXIT_OK)
		goto out;
	if (auth_token_new(token) != 0) {
		fail("no random bytes for a token");
		goto out;
	}
	auth_sha256_hex(token, strlen(token), hex);
	if (q_run(ctl, "BEGIN", "BEGIN", 0, NULL) != 0)
		goto out;
	if (user_id(ctl, email, uid, sizeof uid) != 0)
		goto out_rollback;
	const char *p[] = { hex, uid };
	PGresult *r = q(ctl, "token", "INSERT INTO api_tokens (token_hash, user_id)"
	    " VALUES (decode($1, 'hex'), $2) RETURNING 'token id ' || id", 2, p);
	if (r == NULL)
		goto out_rollback;
	const char *ap[] = { email, PQgetvalue(r, 0, 0) };
	int a = q_run(ctl, "audit", "SELECT gen_audit('genctl', 'token.create', $1, '', $2)", 2, ap);
	PQclear(r);
	if (a != 0)
		goto out_rollback;
	if (q_run(ctl, "COMMIT", "COMMIT", 0, NULL) != 0)
		goto out;
	if (printf("%s\n", token) < 0 || fflush(stdout) != 0) {
		fail("token id stored but could not be written to stdout: create another");
		goto out;
	}
	rc = EXIT_OK;
	goto out;
out_rollback:
	rollback(ctl);
out:
	OPENSSL_cleanse(token, sizeof token);
	free(email);
	return rc;
}

/* ---- audit verify ---- */

/* Columns in the order gen_audit_material() joins them, then the hash. */
enum { A_SEQ, A_AT, A_ACTOR, A_ACTION, A_SUBJECT, A_REASON, A_DETAIL, A_PREV, A_HASH };

/* Walks the chain in seq order through a cursor, AUDIT_FETCH_ROWS at a
 * time, in one repeatable-read snapshot, recomputing every hash here with
 * OpenSSL rather than trusting the database's gen_audit_verify(). */
static int
cmd_audit_verify(struct ctl *ctl, const struct command *self, int argc, char **argv)
{
	int rc = parse_opts(self, argc, argv, NULL, 0);
	char prev[65], hash[65];
	long long next = 1, entries = 0;
	struct sbuf mat = { 0 };
	const char *broken = NULL;

	if (rc != 0)
		return rc == 1 ? EXIT_OK : rc;
	if ((rc = ctl_connect(ctl)) != EXIT_OK)
		return rc;
	if (q_run(ctl, "audit", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL) != 0 ||
	    q_run(ctl, "audit", "DECLARE audit_walk NO SCROLL CURSOR FOR"
	    " SELECT seq, at, actor, action, subject, reason, detail, prev_hash, hash"
	    "   FROM audit_log ORDER BY seq", 0, NULL) != 0)
		return EXIT_FAIL;
	memset(prev, '0', 64);
	prev[64] = '\0';
	while (broken == NULL) {
		PGresult *r = q(ctl, "audit", "FETCH FORWARD " AUDIT_FETCH_ROWS " FROM audit_walk",
		    0, NULL);
		if (r == NULL) {
			sbuf_free(&mat);
			return EXIT_FAIL;
		}
		int n = PQntuples(r);
		for (int i = 0; i < n && broken == NULL; i++) {
			long long seq = atoll(PQgetvalue(r, i, A_SEQ));
			if (seq != next) {
				broken = "missing entry";
				break;
			}
			if (strcmp(PQgetvalue(r, i, A_PREV), prev) != 0) {
				broken = "previous hash does not match";
				break;
			}
			sbuf_reset(&mat);
			for (int col = A_SEQ; col <= A_PREV; col++) {
				if (col > A_SEQ)
					sbuf_addc(&mat, '|');
				sbuf_add(&mat, PQgetvalue(r, i, col), (size_t)PQgetlength(r, i, col));
			}
			auth_sha256_hex(mat.data, mat.len, hash);
			if (strcmp(hash, PQgetvalue(r, i, A_HASH)) != 0) {
				broken = "hash does not match content";
				break;
			}
			snprintf(prev, sizeof prev, "%s", hash);
			next++;
			entries++;
		}
		PQclear(r);
		if (n == 0)
			break;
	}
	sbuf_free(&mat);
	rollback(ctl);
	if (broken != NULL) {
		printf("broken seq=%lld: %s\n", next, broken);
		return EXIT_FAIL;
	}
	printf("ok entries=%lld\n", entries);
	return EXIT_OK;
}

/* ---- jobs ---- */

static int
cmd_jobs(struct ctl *ctl, const struct command *self, int argc, char **argv)
{
	const char *state = NULL, *limit = "100";
	const struct opt opts[] = { { "state", &state, NULL }, { "limit", &limit, NULL } };
	int rc = parse_opts(self, argc, argv, opts, ARRAY_LEN(opts));
	int64_t lim;

	if (rc != 0)
		return rc == 1 ? EXIT_OK : rc;
	if (state != NULL && strcmp(state, "queued") != 0 && strcmp(state, "running") != 0 &&
	    strcmp(state, "done") != 0 && strcmp(state, "failed") != 0 && strcmp(state, "dead") != 0)
		return usage_error(self, "--state must be queued, running, done, failed or dead");
	if (parse_int64(limit, 1, 100000, &lim) != 0)
		return usage_error(self, "--limit must be an integer from 1 to 100000");
	if ((rc = ctl_connect(ctl)) != EXIT_OK)
		return rc;
	const char *p[] = { state, limit };
	PGresult *r = q(ctl, "jobs",
	    "SELECT id, kind, state, attempts || '/' || max_attempts,"
	    "       coalesce(regexp_replace(error, '\\s+', ' ', 'g'), '')"
	    "  FROM jobs WHERE $1::text IS NULL OR state = $1"
	    " ORDER BY id DESC LIMIT $2::int", 2, p);
	if (r == NULL)
		return EXIT_FAIL;
	printf("%-8s %-12s %-8s %-8s %s\n", "id", "kind", "state", "attempts", "error");
	for (int i = 0; i < PQntuples(r); i++)
		printf("%-8s %-12s %-8s %-8s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
		    PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
	PQclear(r);
	return EXIT_OK;
}

/* ---- assignment replay / show ---- */

/* The RUN operand of an assignment command: argv[0], a positive integer,
 * and nothing after it but --help. Returns 0, 1 when --help was printed,
 * or EXIT_USAGE after printing the error. */
static int
run_operand(const struct command *self, int argc, char **argv, char *out, size_t len)
{
	int64_t id;

	if (argc > 0 && strncmp(argv[0], "--", 2) == 0) {
		int rc = parse_opts(self, argc, argv, NULL, 0);
		return rc != 0 ? rc : usage_error(self, "RUN is required");
	}
	if (argc == 0)
		return usage_error(self, "RUN is required");
	if (parse_int64(argv[0], 1, INT64_MAX, &id) != 0)
		return usage_error(self, "RUN must be a run id (a positive integer), not \"%s\"", argv[0]);
	int rc = parse_opts(self, argc - 1, argv + 1, NULL, 0);
	if (rc != 0)
		return rc;
	snprintf(out, len, "%lld", (long long)id);
	return 0;
}

/* The row of the run named by the command's operand: `sql` selects from
 * assignment_runs WHERE id = $1. Returns the result (run filled), or NULL
 * with *rc the exit code (EXIT_OK after --help). */
static PGresult *
run_row(struct ctl *ctl, const struct command *self, int argc, char **argv, const char *sql,
    char *run, size_t len, int *rc)
{
	*rc = run_operand(self, argc, argv, run, len);
	if (*rc != 0) {
		*rc = *rc == 1 ? EXIT_OK : *rc;
		return NULL;
	}
	if ((*rc = ctl_connect(ctl)) != EXIT_OK)
		return NULL;
	const char *p[] = { run };
	PGresult *r = q(ctl, "assignment run", sql, 1, p);
	if (r == NULL) {
		*rc = EXIT_FAIL;
		return NULL;
	}
	if (PQntuples(r) == 0) {
		PQclear(r);
		*rc = fail("no assignment run %s", run);
		return NULL;
	}
	return r;
}

/* Replays go through the same path as the job: parse the stored canonical
 * text, build the problem from the parsed form, solve, check, format the
 * result JSON. The stored result is jsonb (normalised by PostgreSQL), so it
 * is checked twice: the replayed text's SHA-256 against result_hash, and
 * the replayed JSON against the result column as jsonb values. */
static int
cmd_assignment_replay(struct ctl *ctl, const struct command *self, int argc, char **argv)
{
	char run[24], hash[65], why[256];
	struct assign_input in;
	struct assign_result res;
	struct sbuf json = { 0 };
	int rc;
	PGresult *r = run_row(ctl, self, argc, argv, "SELECT input, input_hash, result_hash"
	    "  FROM assignment_runs WHERE id = $1", run, sizeof run, &rc);

	if (r == NULL)
		return rc;
	const char *input = PQgetvalue(r, 0, 0);
	char stored_result[65];
	snprintf(stored_result, sizeof stored_result, "%s", PQgetvalue(r, 0, 2));
	auth_sha256_hex(input, (size_t)PQgetlength(r, 0, 0), hash);
	if (strcmp(hash, PQgetvalue(r, 0, 1)) != 0) {
		printf("input altered run=%s stored=%s actual=%s\n", run, PQgetvalue(r, 0, 1), hash);
		PQclear(r);
		return EXIT_FAIL;
	}
	rc = assign_input_parse(input, &in, why, sizeof why);
	PQclear(r);
	if (rc != 0)
		return fail("run %s: the stored input does not parse: %s", run, why);
	struct assign_problem *prob = assign_input_problem(&in, why, sizeof why);
	if (prob == NULL) {
		assign_input_free(&in);
		return fail("run %s: %s", run, why);
	}
	assign_solve(prob, &res);
	rc = EXIT_FAIL;
	if (assign_check(prob, &res, why, sizeof why) != 0) {
		fail("run %s: the replayed result fails its check: %s", run, why);
		goto out;
	}
	assign_result_json(&in, &res, &json);
	auth_sha256_hex(json.data, json.len, hash);
	if (strcmp(hash, stored_result) != 0) {
		printf("different run=%s stored=%s replayed=%s\n", run, stored_result, hash);
		goto out;
	}
	const char *jp[] = { run, json.data };
	r = q(ctl, "assignment run",
	    "SELECT result = $2::jsonb,"
	    "       encode(sha256(convert_to(result::text, 'UTF8')), 'hex'),"
	    "       encode(sha256(convert_to($2::jsonb::text, 'UTF8')), 'hex')"
	    "  FROM assignment_runs WHERE id = $1", 2, jp);
	if (r == NULL)
		goto out;
	if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
		printf("identical run=%s hash=%s\n", run, hash);
		rc = EXIT_OK;
	} else if (PQntuples(r) == 1) {
		/* The hash matches but the column was edited: compare like with
		 * like, the SHA-256 of both values in jsonb's own text form. */
		printf("different run=%s stored=%s replayed=%s\n", run, PQgetvalue(r, 0, 1),
		    PQgetvalue(r, 0, 2));
		fprintf(stderr, "genctl: run %s: the stored result column no longer matches its "
		    "result_hash (hashes above are of the jsonb text of both)\n", run);
	} else {
		fail("no assignment run %s", run);
	}
	PQclear(r);
out:
	sbuf_free(&json);
	assign_result_free(&res);
	assign_problem_free(prob);
	assign_input_free(&in);
	return rc;
}

static int
cmd_assignment_show(struct ctl *ctl, const struct command *self, int argc, char **argv)
{
	char run[24];
	int rc;
	PGresult *r = run_row(ctl, self, argc, argv, "SELECT result::text FROM assignment_runs"
	    " WHERE id = $1", run, sizeof run, &rc);

	if (r == NULL)
		return rc;
	printf("%s\n", PQgetvalue(r, 0, 0));
	PQclear(r);
	return EXIT_OK;
}

/* ---- main ---- */

/* Take `--db URL` / `--db=URL` out of argv wherever it is (the config
 * table knows it as --database-url, before the command only). */
static const char *
take_db_option(int *argc, char **argv)
{
	const char *db = NULL;
	int j = 1;

	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--db") == 0 && i + 1 < *argc) {
			db = argv[++i];
			continue;
		}
		if (strncmp(argv[i], "--db=", 5) == 0) {
			db = argv[i] + 5;
			continue;
		}
		argv[j++] = argv[i];
	}
	*argc = j;
	argv[j] = NULL;
	return db;
}

int
main(int argc, char **argv)
{
	struct ctl ctl = { .conn = NULL };
	char err[512];
	int rest = 1;

	const char *db = take_db_option(&argc, argv);
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)) {
		usage(stdout);
		return EXIT_OK;
	}
	int rc = config_load(&ctl.cfg, CFG_CTL, argc, argv, &rest, err, sizeof err);
	if (rc != 0) {
		config_free(&ctl.cfg);
		if (rc == 1)
			return EXIT_OK;
		return usage_error(NULL, "%s", err);
	}
	if (db != NULL) {
		free(ctl.cfg.database_url);
		ctl.cfg.database_url = xstrdup(db);
	}
	if (rest >= argc) {
		config_free(&ctl.cfg);
		usage(stderr);
		return EXIT_USAGE;
	}
	const struct command *cmd = NULL;
	int used = 1;
	for (size_t i = 0; i < ARRAY_LEN(commands) && cmd == NULL; i++) {
		if (strcmp(commands[i].name, argv[rest]) != 0)
			continue;
		if (commands[i].sub == NULL)
			cmd = &commands[i];
		else if (rest + 1 < argc && strcmp(commands[i].sub, argv[rest + 1]) == 0)
			cmd = &commands[i], used = 2;
	}
	if (cmd == NULL) {
		config_free(&ctl.cfg);
		return usage_error(NULL, "unknown command \"%s%s%s\"", argv[rest],
		    rest + 1 < argc ? " " : "", rest + 1 < argc ? argv[rest + 1] : "");
	}
	rc = cmd->run(&ctl, cmd, argc - rest - used, argv + rest + used);
	fflush(stdout);
	PQfinish(ctl.conn);
	config_free(&ctl.cfg);
	return rc;
}

/* ---- import cohorts ---- */

static int
xml_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 4 && strcmp(d->d_name + n - 4, ".xml") == 0 && d->d_name[0] != '.';
}

static void
progress(int done, int total, long long learners, double secs)
{
	int width = 30, fill = total ? done * width / total : width;

	fprintf(stderr, "\r[%.*s%*s] %d/%d files, %lld learners, %.0f learners/s ", fill,
	    "==============================", width - fill, "", done, total, learners,
	    secs > 0 ? (double)learners / secs : 0.0);
	fflush(stderr);
}

static int
import_one(struct ctl *ctl, const struct pseudonym_key *key, const char *path, const char *today,
    long long *learners)
{
	FILE *f = fopen(path, "rb");
	struct sbuf body = {0};
	char chunk[65536], sha[65];
	size_t got;

	if (f == NULL)
		return fail("%s: %s", path, strerror(errno)), -1;
	while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
		sbuf_add(&body, chunk, got);
	fclose(f);
	struct form_errors *errs = xcalloc(1, sizeof *errs);
	enum form_kind kind;
	struct cohort_ready r;
	int rc = -1;
	memset(&r, 0, sizeof r);
	xmlDocPtr doc = xmlform_parse(body.data ? body.data : "", body.len, &kind, errs);
	if (doc != NULL && kind != FORM_COHORT_REPORT)
		form_errors_add(errs, 1, 1, "/", "not a cohortReport document");
	else if (doc != NULL)
		cohort_prepare(doc, key, NULL, NULL, today, errs, &r);
	if (errs->count > 0) {
		for (int i = 0; i < errs->count; i++)
			fprintf(stderr, "%s:%d:%d: %s: %s\n", path, errs->items[i].line, errs->items[i].column,
			    errs->items[i].path, errs->items[i].message);
		goto out;
	}
	auth_sha256_hex(body.data, body.len, sha);
	char *hex = xmalloc((size_t)r.stored_len * 2 + 1), seats[16];
	hex_encode(r.stored, (size_t)r.stored_len, hex);
	snprintf(seats, sizeof seats, "%d", r.doc.planned_seats);
	const char *owner_v[1] = { r.doc.programme };
	PGresult *o = q(ctl, "import", "SELECT a.submitted_by FROM programmes p "
	    "JOIN applications a ON a.id = p.application_id WHERE p.tracking = $1", 1, owner_v);
	if (o == NULL || PQntuples(o) != 1) {
		fprintf(stderr, "%s: no programme %s\n", path, r.doc.programme);
		if (o)
			PQclear(o);
		free(hex);
		goto out;
	}
	const char *values[11] = { PQgetvalue(o, 0, 0), r.doc.programme, r.doc.cohort, hex, sha,
		r.doc.start_date, r.doc.end_date, seats, r.doc.region, r.counts.data, r.learners.data };
	PGresult *res = q(ctl, "import", "SELECT status, version FROM gen_cohort_report($1, $2, $3, decode($4, 'hex'), $5, $6, $7, $8, $9, "
	    "ARRAY(SELECT jsonb_array_elements_text($10::jsonb)::int), $11::jsonb)", 11, values);
	PQclear(o);
	free(hex);
	if (res == NULL)
		goto out;
	if (atoi(PQgetvalue(res, 0, 0)) == 404)
		fprintf(stderr, "%s: programme %s not found\n", path, r.doc.programme);
	else {
		*learners += r.doc.n_learners;
		rc = 0;
	}
	PQclear(res);
out:
	cohort_ready_free(&r);
	if (doc != NULL)
		xmlFreeDoc(doc);
	free(errs);
	sbuf_free(&body);
	return rc;
}

static int
cmd_import_cohorts(struct ctl *ctl, const struct command *self, int argc, char **argv)
{
	char err[512], today[11];
	struct dirent **names = NULL;

	if (argc != 1)
		return usage_error(self, "give the directory of cohortReport files");
	if (xmlform_init(ctl->cfg.forms_dir, err, sizeof err) != 0)
		return fail("%s", err);
	struct pseudonym_key *key = pseudonym_key_load(ctl->cfg.pseudonym_key, err, sizeof err);
	if (key == NULL)
		return fail("%s", err);
	int n = scandir(argv[0], &names, xml_file, alphasort);
	if (n < 0) {
		pseudonym_key_free(key);
		return fail("%s: %s", argv[0], strerror(errno));
	}
	if (ctl_connect(ctl) != 0) {
		for (int i = 0; i < n; i++)
			free(names[i]);
		free(names);
		pseudonym_key_free(key);
		return EXIT_FAIL;
	}
	cohort_today(today);
	int bad = 0, tty = isatty(2);
	long long learners = 0;
	int64_t t0 = now_usec();
	for (int i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", argv[0], names[i]->d_name);
		if (tty)
			fputc('\r', stderr);
		if (import_one(ctl, key, path, today, &learners) != 0)
			bad++;
		if (tty)
			progress(i + 1, n, learners, (double)(now_usec() - t0) / 1e6);
		free(names[i]);
	}
	free(names);
	double secs = (double)(now_usec() - t0) / 1e6;
	if (tty)
		fputc('\n', stderr);
	printf("imported %d of %d files, %lld learners in %.2f s (%.0f learners/s)%s\n", n - bad, n, learners,
	    secs, secs > 0 ? (double)learners / secs : 0.0, bad ? "; files with errors listed above" : "");
	pseudonym_key_free(key);
	xmlform_shutdown();
	return bad ? EXIT_FAIL : EXIT_OK;
}
