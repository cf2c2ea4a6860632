/* config.h - every setting of gen-server, gen-worker and genctl in one table.
 *
 * The same table gives the defaults, parses a config file (`name = value`
 * lines, `#` comments), the environment (GEN_<NAME> in upper case, dashes as
 * underscores) and the command line (--name value), checks bounds, and prints
 * --help. Later sources override earlier ones: defaults, file, environment,
 * flags. A bad value stops the program at start with a clear message. */
#ifndef GEN_CONFIG_H
#define GEN_CONFIG_H

#include <stddef.h>
#include <stdio.h>

/** Which programs read a setting. */
enum config_prog { CFG_SERVER = 1, CFG_WORKER = 2, CFG_CTL = 4 };

struct gen_config {
	/* shared */
	char *database_url;
	char *forms_dir;
	char *log_format;
	/* gen-server */
	char *listen;
	int port;
	int workers;
	int db_connections;
	int db_queue_max;
	int db_timeout_ms;
	int db_statement_timeout_ms;
	int max_body;
	int max_headers;
	int idle_timeout;
	int request_timeout;
	char *tls_cert;          /* TLS is on when both are set */
	char *tls_key;
	int hsts_seconds;
	char *trusted_proxies;   /* "" when none */
	char *receipt_key;
	char *pseudonym_key;
	int hash_threads;
	int session_hours;
	int pbkdf2_iterations;
	int shutdown_grace;
	/* gen-worker */
	char *worker_id;
	int poll_ms;
	int lease_seconds;
	int max_attempts;
	int concurrency;
	char *spool_dir;
	char *smtp_url;
	char *mail_from;
};

/** Fill `c` for program `prog` from defaults, the file named by --config
 * (or GEN_CONFIG), the environment and argv (options only; the first
 * argument not starting with "--" and everything after it are left and
 * their index returned through *rest). Returns 0; -1 with err filled on an
 * unknown option or a bad value; 1 when --help was printed. */
int config_load(struct gen_config *c, enum config_prog prog, int argc,
    char **argv, int *rest, char *err, size_t errlen);

/** Print the settings of `prog` with their defaults and help. */
void config_usage(FILE *f, const char *program, enum config_prog prog);

/** Free the strings in `c`. */
void config_free(struct gen_config *c);

#endif
