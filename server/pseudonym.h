/* pseudonym.h - keyed pseudonyms for learner refs (DESIGN §4, §7).
 *
 * A learner's ref (the provider's own identifier) is never stored: only
 * HMAC-SHA-256(key, ref). The 32-byte key lives in a file outside the
 * database, created (mode 0600) on first start; the same ref always maps
 * to the same pseudonym, so reports of one cohort line up. */
#ifndef GEN_PSEUDONYM_H
#define GEN_PSEUDONYM_H

#include <stddef.h>

struct pseudonym_key;

/** Load the key file at path, or create it when absent. NULL with err. */
struct pseudonym_key *pseudonym_key_load(const char *path, char *err, size_t errlen);
void pseudonym_key_free(struct pseudonym_key *k);

/** The pseudonym of n bytes of ref as 64 lower-case hex digits (+NUL). */
void pseudonym_hex(const struct pseudonym_key *k, const char *ref, size_t n, char out[65]);

#endif
