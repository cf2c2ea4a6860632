/* xmlform.h - hardened parsing and XSD validation of untrusted XML forms.
 *
 * Every document of DESIGN §4 arrives as untrusted bytes. This module parses
 * them with libxml2 under a fixed, safe option set (no DTD, no entities, no
 * network, DOCTYPE rejected, deny-all external entity loader), validates them
 * against schemas compiled once at start-up, and reports every violation
 * with its line, column and path. It knows nothing about HTTP or SQL. */
#ifndef GEN_XMLFORM_H
#define GEN_XMLFORM_H

#include <stddef.h>
#include <libxml/tree.h>

#define FORM_NS "urn:gen:forms:1"
/** At most this many errors are kept; the rest are counted. */
#define FORM_ERRORS_MAX 100

/** The document kinds, one XSD each in forms/{name}.xsd. */
enum form_kind {
	FORM_UNKNOWN = 0,
	FORM_CALL,
	FORM_PROJECT_APPLICATION,
	FORM_LABEL_APPLICATION,
	FORM_RECEIPT,
	FORM_REVIEWER,
	FORM_PANEL,
	FORM_CONFLICT,
	FORM_REVIEW,
	FORM_DECISIONS,
	FORM_COHORT_REPORT,
	FORM_KIND_COUNT
};

/** One violation. line/column are 1-based; 0 when not known (e.g. rules
 * about the whole document). path is an XPath-like location
 * ("/projectApplication/budget/line[2]/@amount"), empty when unknown. */
struct form_error {
	int line;
	int column;
	char path[256];
	char message[512];
};

struct form_errors {
	struct form_error items[FORM_ERRORS_MAX];
	int count;   /* items used */
	int dropped; /* violations beyond FORM_ERRORS_MAX */
};

/** Root element name of a kind ("projectApplication"), or NULL. */
const char *form_kind_root(enum form_kind kind);
/** Kind whose root element is `root`, or FORM_UNKNOWN. */
enum form_kind form_kind_from_root(const char *root);

/** Compile every schema in forms_dir (forms/{root}.xsd), then install the
 * process-wide deny-all external entity loader. Call once, before fork()
 * and before any other thread starts. Returns 0, or -1 with err filled. */
int xmlform_init(const char *forms_dir, char *err, size_t errlen);
/** Free the compiled schemas (at exit, for leak checkers). */
void xmlform_shutdown(void);

/** Append an error (message printf-style); keeps count of dropped ones. */
void form_errors_add(struct form_errors *e, int line, int column,
    const char *path, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/** Parse `len` bytes and validate them against the schema of their root
 * element, which must be in FORM_NS and one of the known kinds.
 * On success returns the document (caller frees with xmlFreeDoc) and sets
 * *kind. On failure returns NULL with every parse or schema violation in
 * errs (a malformed document stops at its first fatal parse error, as XML
 * requires; a well-formed one reports all its schema violations). */
xmlDocPtr xmlform_parse(const char *buf, size_t len, enum form_kind *kind,
    struct form_errors *errs);

/** Line and column (1-based) where element `node` starts in the source,
 * as recorded during parsing; attributes report their element's. */
void xmlform_node_pos(const xmlNode *node, int *line, int *column);
/** XPath-like location of `node` as used in error paths
 * ("/cohortReport/learner[3]/@exitDate"): an element gets an [n] index when
 * it has siblings of the same name. Empty when node is NULL. */
void xmlform_node_path(const xmlNode *node, char *out, size_t outlen);
/** Append an error located at `node` (line, column and path from it). */
void form_errors_at(struct form_errors *e, const xmlNode *node,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
