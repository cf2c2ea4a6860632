/* auth.h - password hashing, random tokens and their digests (OpenSSL).
 *
 * Passwords: PBKDF2-HMAC-SHA256 at OWASP's 600,000 iterations, 16-byte salt,
 * stored as "pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>" so the cost
 * can be raised later. Hashing takes a few hundred milliseconds: the server
 * never calls it on its event-loop thread (see hashpool.h).
 * Tokens: 32 random bytes from RAND_bytes, shown once as URL-safe text and
 * stored only as their SHA-256. */
#ifndef GEN_AUTH_H
#define GEN_AUTH_H

#include <stddef.h>

#define AUTH_PBKDF2_ITERATIONS 600000
#define AUTH_HASH_MAX 160  /* stored password hash, with NUL */
#define AUTH_TOKEN_LEN 43  /* base64url of 32 bytes, no padding */

/** Hash `password` with a fresh salt at `iterations` (0: the default) into
 * out (AUTH_HASH_MAX bytes). Returns 0 or -1. */
int auth_password_hash(const char *password, size_t len, unsigned iterations,
    char *out, size_t outlen);

/** 1 when `password` matches `stored`, 0 when it does not or `stored` is
 * malformed. Constant-time comparison. */
int auth_password_verify(const char *password, size_t len, const char *stored);

/** A new random token (AUTH_TOKEN_LEN chars + NUL) in out. Returns 0 or -1. */
int auth_token_new(char out[AUTH_TOKEN_LEN + 1]);

/** 32 bytes as a token: base64url without padding (AUTH_TOKEN_LEN chars). */
void auth_token_encode(const unsigned char raw[32], char out[AUTH_TOKEN_LEN + 1]);

/** Lower-case hex SHA-256 of n bytes (65 bytes out, with NUL). */
void auth_sha256_hex(const void *data, size_t n, char out[65]);

/** Raw SHA-256 (32 bytes). */
void auth_sha256(const void *data, size_t n, unsigned char out[32]);

#endif
