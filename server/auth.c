/* auth.c - see auth.h. */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "util.h"

#define SALT_LEN 16
#define KEY_LEN 32

int
auth_password_hash(const char *password, size_t len, unsigned iterations,
    char *out, size_t outlen)
{
	unsigned char salt[SALT_LEN], key[KEY_LEN];

	if (iterations == 0)
		iterations = AUTH_PBKDF2_ITERATIONS;
	if (RAND_bytes(salt, sizeof salt) != 1)
		return -1;
	if (PKCS5_PBKDF2_HMAC(password, (int)len, salt, sizeof salt,
	    (int)iterations, EVP_sha256(), sizeof key, key) != 1)
		return -1;
	char *s = base64_encode(salt, sizeof salt), *k = base64_encode(key, sizeof key);
	int n = snprintf(out, outlen, "pbkdf2-sha256$%u$%s$%s", iterations, s, k);
	free(s);
	free(k);
	OPENSSL_cleanse(key, sizeof key);
	return (n > 0 && (size_t)n < outlen) ? 0 : -1;
}

int
auth_password_verify(const char *password, size_t len, const char *stored)
{
	char buf[AUTH_HASH_MAX];
	unsigned char salt[64], want[64], got[KEY_LEN];
	int64_t iter;

	if (stored == NULL || strlen(stored) >= sizeof buf)
		return 0;
	strcpy(buf, stored);
	char *alg = strtok(buf, "$"), *it = strtok(NULL, "$"),
	     *s = strtok(NULL, "$"), *h = strtok(NULL, "$");
	if (alg == NULL || strcmp(alg, "pbkdf2-sha256") != 0 || it == NULL ||
	    s == NULL || h == NULL || parse_int64(it, 1000, 100000000, &iter) != 0)
		return 0;
	long slen = base64_decode(s, salt, sizeof salt);
	long hlen = base64_decode(h, want, sizeof want);
	if (slen <= 0 || hlen != KEY_LEN)
		return 0;
	if (PKCS5_PBKDF2_HMAC(password, (int)len, salt, (int)slen, (int)iter,
	    EVP_sha256(), KEY_LEN, got) != 1)
		return 0;
	int ok = CRYPTO_memcmp(got, want, KEY_LEN) == 0;
	OPENSSL_cleanse(got, sizeof got);
	return ok;
}

void
auth_token_encode(const unsigned char raw[32], char out[AUTH_TOKEN_LEN + 1])
{
	char *b = base64_encode(raw, 32);
	size_t j = 0;

	for (size_t i = 0; b[i] && b[i] != '=' && j < AUTH_TOKEN_LEN; i++)
		out[j++] = b[i] == '+' ? '-' : b[i] == '/' ? '_' : b[i];
	out[j] = '\0';
	OPENSSL_cleanse(b, strlen(b));
	free(b);
}

int
auth_token_new(char out[AUTH_TOKEN_LEN + 1])
{
	unsigned char raw[32];

	if (RAND_bytes(raw, sizeof raw) != 1)
		return -1;
	auth_token_encode(raw, out);
	OPENSSL_cleanse(raw, sizeof raw);
	return strlen(out) == AUTH_TOKEN_LEN ? 0 : -1;
}

void
auth_sha256(const void *data, size_t n, unsigned char out[32])
{
	SHA256(data, n, out);
}

void
auth_sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char d[32];

	SHA256(data, n, d);
	hex_encode(d, sizeof d, out);
}
