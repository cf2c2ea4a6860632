/* pseudonym.c - see pseudonym.h. */
#include "pseudonym.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "util.h"

struct pseudonym_key {
	unsigned char key[32];
};

static int
read_key(const char *path, struct pseudonym_key *k, char *err, size_t errlen)
{
	char hex[80];
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	size_t n = fread(hex, 1, sizeof hex - 1, f);
	fclose(f);
	hex[n] = '\0';
	while (n > 0 && (hex[n - 1] == '\n' || hex[n - 1] == '\r'))
		hex[--n] = '\0';
	if (n != 64 || hex_decode(hex, 32, k->key) != 0) {
		snprintf(err, errlen, "%s is not a pseudonym key (64 hex digits)", path);
		return -1;
	}
	OPENSSL_cleanse(hex, sizeof hex);
	return 0;
}

struct pseudonym_key *
pseudonym_key_load(const char *path, char *err, size_t errlen)
{
	struct pseudonym_key *k = xcalloc(1, sizeof *k);

	if (access(path, F_OK) != 0) {
		char hex[66];
		if (RAND_bytes(k->key, sizeof k->key) != 1) {
			snprintf(err, errlen, "no randomness for the pseudonym key");
			free(k);
			return NULL;
		}
		hex_encode(k->key, sizeof k->key, hex);
		hex[64] = '\n';
		hex[65] = '\0';
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd >= 0) {
			ssize_t w = write(fd, hex, 65);
			if (w != 65 || fsync(fd) != 0) {
				snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
				close(fd);
				unlink(path);
				free(k);
				return NULL;
			}
			close(fd);
			OPENSSL_cleanse(hex, sizeof hex);
			return k;
		}
		if (errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
			free(k);
			return NULL;
		}
		/* Another process created it first: read theirs. */
	}
	if (read_key(path, k, err, errlen) != 0) {
		free(k);
		return NULL;
	}
	return k;
}

void
pseudonym_key_free(struct pseudonym_key *k)
{
	if (k != NULL) {
		OPENSSL_cleanse(k->key, sizeof k->key);
		free(k);
	}
}

void
pseudonym_hex(const struct pseudonym_key *k, const char *ref, size_t n, char out[65])
{
	unsigned char mac[32];
	unsigned int len = sizeof mac;

	HMAC(EVP_sha256(), k->key, sizeof k->key, (const unsigned char *)ref, n, mac, &len);
	hex_encode(mac, 32, out);
}
