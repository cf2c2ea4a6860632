/* receipt.c - see receipt.h. */
#include "receipt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "xmlform.h"

struct receipt_key {
	EVP_PKEY *pkey;
	char *public_pem;
};

static void
ssl_err(char *err, size_t errlen, const char *what, const char *path)
{
	char buf[256];

	ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
	snprintf(err, errlen, "%s %s: %s", what, path, buf);
}

/* Create the parent directories of path (like mkdir -p of dirname). */
static void
make_parent(const char *path)
{
	char *p = xstrdup(path);

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		mkdir(p, 0700);
		*s = '/';
	}
	free(p);
}

static EVP_PKEY *
create_key(const char *path, char *err, size_t errlen)
{
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);

	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &pkey) <= 0) {
		EVP_PKEY_CTX_free(ctx);
		ssl_err(err, errlen, "cannot generate key for", path);
		return NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	make_parent(path);
	/* O_EXCL: two processes starting at once must not both write. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		EVP_PKEY_free(pkey);
		if (errno == EEXIST)
			return NULL; /* someone else made it: the caller reloads */
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return NULL;
	}
	FILE *f = fdopen(fd, "w");
	int ok = f != NULL && PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) == 1;
	if (f != NULL && fclose(f) != 0)
		ok = 0;
	if (!ok) {
		snprintf(err, errlen, "cannot write %s", path);
		unlink(path);
		EVP_PKEY_free(pkey);
		return NULL;
	}
	return pkey;
}

static EVP_PKEY *
read_key(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return NULL;
	EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (pkey == NULL) {
		ssl_err(err, errlen, "cannot read private key", path);
		return NULL;
	}
	if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
		snprintf(err, errlen, "%s is not an Ed25519 private key", path);
		EVP_PKEY_free(pkey);
		return NULL;
	}
	return pkey;
}

struct receipt_key *
receipt_key_load(const char *path, char *err, size_t errlen)
{
	EVP_PKEY *pkey;

	err[0] = '\0';
	if (access(path, F_OK) == 0) {
		pkey = read_key(path, err, errlen);
	} else {
		pkey = create_key(path, err, errlen);
		if (pkey == NULL && err[0] == '\0')
			pkey = read_key(path, err, errlen);
	}
	if (pkey == NULL)
		return NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	if (bio == NULL || PEM_write_bio_PUBKEY(bio, pkey) != 1) {
		BIO_free(bio);
		EVP_PKEY_free(pkey);
		snprintf(err, errlen, "cannot export public key of %s", path);
		return NULL;
	}
	long n = BIO_get_mem_data(bio, &data);
	struct receipt_key *k = xcalloc(1, sizeof *k);
	k->pkey = pkey;
	k->public_pem = xstrndup(data, (size_t)n);
	BIO_free(bio);
	return k;
}

void
receipt_key_free(struct receipt_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k->public_pem);
	free(k);
}

const char *
receipt_key_public_pem(const struct receipt_key *k)
{
	return k->public_pem;
}

void
receipt_material(const char *tracking, int version, const char *received_at,
    const char *sha256, struct sbuf *out)
{
	sbuf_printf(out, "%s|%d|%s|%s", tracking, version, received_at, sha256);
}

char *
receipt_sign(const struct receipt_key *k, const char *tracking, int version,
    const char *received_at, const char *sha256)
{
	struct sbuf m = {0};
	unsigned char sig[64];
	size_t siglen = sizeof sig;
	char *out = NULL;

	receipt_material(tracking, version, received_at, sha256, &m);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx != NULL && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
	    EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)m.data, m.len) == 1)
		out = base64_encode(sig, siglen);
	EVP_MD_CTX_free(ctx);
	sbuf_free(&m);
	return out;
}

int
receipt_verify(const char *pub_pem, const char *tracking, int version,
    const char *received_at, const char *sha256, const char *sig_b64)
{
	unsigned char sig[128];
	struct sbuf m = {0};
	int ok = 0;

	long siglen = base64_decode(sig_b64, sig, sizeof sig);
	if (siglen != 64)
		return 0;
	BIO *bio = BIO_new_mem_buf(pub_pem, -1);
	EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (pkey == NULL)
		return 0;
	receipt_material(tracking, version, received_at, sha256, &m);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1)
		ok = EVP_DigestVerify(ctx, sig, (size_t)siglen,
		    (const unsigned char *)m.data, m.len) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	sbuf_free(&m);
	return ok;
}

int
receipt_xml(const struct receipt_key *k, const char *tracking, int version,
    const char *received_at, const char *sha256, struct sbuf *out)
{
	char *sig = receipt_sign(k, tracking, version, received_at, sha256);

	if (sig == NULL)
		return -1;
	/* Every field is generated by the server from a fixed alphabet
	 * (tracking, digits, timestamp, hex, base64); escaping is still applied
	 * so the writer stays correct if that ever changes. */
	sbuf_adds(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<receipt xmlns=\"" FORM_NS "\">\n  <tracking>");
	xml_add_escaped(out, tracking);
	sbuf_printf(out, "</tracking>\n  <version>%d</version>\n  <receivedAt>", version);
	xml_add_escaped(out, received_at);
	sbuf_adds(out, "</receivedAt>\n  <sha256>");
	xml_add_escaped(out, sha256);
	sbuf_adds(out, "</sha256>\n  <signature>");
	xml_add_escaped(out, sig);
	sbuf_adds(out, "</signature>\n</receipt>\n");
	free(sig);
	return 0;
}
