/* tls.c - see tls.h. */
#include "tls.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "util.h"

/* TLS 1.2 suites: ECDHE key exchange and AEAD only (Mozilla's
 * "intermediate" list without DHE); TLS 1.3 keeps OpenSSL's defaults, which
 * are all AEAD. */
static const char tls12_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

const char *
tls_last_error(void)
{
	static char buf[256];
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		return "unknown";
	ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	return buf;
}

/* Only HTTP/1.1 is spoken: agree on it, or on nothing. */
static int
select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h11[] = "\x08http/1.1";
	unsigned char *sel;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, h11, sizeof h11 - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *
tls_context_new(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		snprintf(err, errlen, "cannot create TLS context: %s", tls_last_error());
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Idle connections give their read and write buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
	if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1) {
		snprintf(err, errlen, "cannot set TLS 1.2 ciphers: %s", tls_last_error());
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		snprintf(err, errlen, "tls-cert %s: %s", cert_file, tls_last_error());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen, "tls-key %s: %s", key_file, tls_last_error());
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "tls-key %s does not match tls-cert %s", key_file, cert_file);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* ---- a BIO over evbuffers ---- */

struct pair {
	struct evbuffer *in, *out;
};

static BIO_METHOD *evbuffer_method;

static int
bio_write(BIO *b, const char *data, int len)
{
	struct pair *p = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (evbuffer_add(p->out, data, (size_t)len) != 0)
		return -1;
	return len;
}

static int
bio_read(BIO *b, char *out, int len)
{
	struct pair *p = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	int n = evbuffer_remove(p->in, out, (size_t)len);
	if (n <= 0) {
		BIO_set_retry_read(b);
		return -1;
	}
	return n;
}

static long
bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct pair *p = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING:
		return (long)evbuffer_get_length(p->in);
	case BIO_CTRL_WPENDING:
		return 0;
	default:
		return 0;
	}
}

static int
bio_destroy(BIO *b)
{
	free(BIO_get_data(b));
	BIO_set_data(b, NULL);
	return 1;
}

BIO *
tls_evbuffer_bio(struct evbuffer *in, struct evbuffer *out)
{
	if (evbuffer_method == NULL) {
		evbuffer_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "evbuffer");
		if (evbuffer_method == NULL)
			abort();
		BIO_meth_set_write(evbuffer_method, bio_write);
		BIO_meth_set_read(evbuffer_method, bio_read);
		BIO_meth_set_ctrl(evbuffer_method, bio_ctrl);
		BIO_meth_set_destroy(evbuffer_method, bio_destroy);
	}
	BIO *b = BIO_new(evbuffer_method);
	if (b == NULL)
		abort();
	struct pair *p = xcalloc(1, sizeof *p);
	p->in = in;
	p->out = out;
	BIO_set_data(b, p);
	BIO_set_init(b, 1);
	return b;
}
