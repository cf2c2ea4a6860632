/* assign_input.h - the canonical text of one assignment problem, so a run
 * can be stored, hashed and replayed exactly (DESIGN §5 "Assignment").
 * A pure core: no SQL, no sockets, no globals.
 *
 * The text is line-based, every line ends in "\n", fields are separated by
 * one space, and there is exactly one way to write a given problem:
 *
 *   gen-assignment-input 1
 *   call <ref>
 *   seats <n>
 *   app <tracking> <app_id> <family|-> <region|-> <siret>     ascending app_id
 *   rev <user_id> <email> <capacity> <families|-> <regions|-> ascending user_id
 *   conflict <tracking> <user_id>                             see below
 *
 * Families are the names of enum family and regions the INSEE codes of
 * region_index(), each list comma-separated in ascending code order
 * without repeats, "-" when empty. Conflict lines come in the order of the
 * app lines, then ascending user_id, without repeats (the order of
 * (application index, reviewer index)). Every field is printable ASCII
 * without spaces. The parser refuses anything else (another order, a
 * repeat, an unknown family or region, a blank line, "\r"), so the SHA-256
 * of the text identifies the problem: format(parse(x)) == x byte for byte.
 *
 * Application i of the text is application i of the problem, reviewer j is
 * reviewer j: indices follow ascending database ids, as assign.h expects. */
#ifndef GEN_ASSIGN_INPUT_H
#define GEN_ASSIGN_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "assign.h"
#include "util.h"

/** The first line of the text. */
#define ASSIGN_INPUT_MAGIC "gen-assignment-input 1"
/** Field sizes, with the NUL. */
#define ASSIGN_INPUT_REF_MAX 64
#define ASSIGN_INPUT_TRACKING_MAX 32
#define ASSIGN_INPUT_EMAIL_MAX 255
/** Upper bounds checked by the parser. */
#define ASSIGN_INPUT_SEATS_MAX 1000
#define ASSIGN_INPUT_CAPACITY_MAX 1000000

/** One application: an eligible dossier of the call. */
struct assign_input_app {
	char tracking[ASSIGN_INPUT_TRACKING_MAX];
	int64_t id;              /* applications.id, > 0 */
	int family;              /* enum family, or -1 (unknown) */
	int region;              /* region_index(), or -1 (unknown) */
	char siret[15];          /* 14 digits */
};

/** One reviewer: a panel member of the call. */
struct assign_input_rev {
	int64_t id;              /* users.id, > 0 */
	char email[ASSIGN_INPUT_EMAIL_MAX];
	int capacity;            /* seats left in the call, >= 0 */
	uint64_t families;       /* bit (1 << enum family) per family */
	uint64_t regions;        /* bit (1 << region_index()) per region */
};

/** One problem. The three arrays are heap memory owned by the struct
 * (xmalloc'd; free with assign_input_free). A caller that fills one by hand
 * puts applications in ascending id, reviewers in ascending id and
 * conflicts in ascending (app, rev) without repeats, or the text it
 * formats will not parse back. */
struct assign_input {
	char call_ref[ASSIGN_INPUT_REF_MAX];
	int seats;               /* reviewers per application */
	int n_apps;
	int n_revs;
	size_t n_conflicts;
	struct assign_input_app *apps;
	struct assign_input_rev *revs;
	struct assign_conflict *conflicts; /* indices into apps and revs */
};

/** Release the arrays and zero the struct (NULL is fine). */
void assign_input_free(struct assign_input *in);

/** Parse the canonical text (NUL-terminated) into *in (zeroed first).
 * Returns 0, or -1 with "line N: what is wrong" in err and *in empty. */
int assign_input_parse(const char *text, struct assign_input *in, char *err,
    size_t errlen);

/** Append the canonical text of in to out. */
void assign_input_format(const struct assign_input *in, struct sbuf *out);

/** Sort conflicts into canonical order and drop repeats, in place (for a
 * caller that collected them in another order). */
void assign_input_sort_conflicts(struct assign_input *in);

/** The optimiser's problem for in (assign_problem_from_profiles): the
 * capacities, the family and region codes and the conflicted pairs.
 * Returns NULL with a message in err on an invalid input. */
struct assign_problem *assign_input_problem(const struct assign_input *in,
    char *err, size_t errlen);

/** Append the diagnosis of res as JSON: "null" when every seat is filled,
 * else {"applications":[trackings],"reviewers":[emails],"seatsNeeded":N,
 * "capacity":N}, the union of all violators (applications and reviewers in
 * input order; the needs and capacities summed, so seatsNeeded - capacity
 * is the number of empty seats). */
void assign_diagnosis_json(const struct assign_input *in,
    const struct assign_result *res, struct sbuf *out);

/** Append the result of solving in as JSON, deterministic byte for byte:
 * {"filled":N,"unfilled":N,"totalAffinity":N,"assignments":[{"application":
 * tracking,"reviewer":email,"affinity":n},...],"diagnosis":...}, the
 * assignments in ascending (application, reviewer) index order. */
void assign_result_json(const struct assign_input *in,
    const struct assign_result *res, struct sbuf *out);

#endif
