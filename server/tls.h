/* tls.h - the TLS pieces of the HTTP front: the server context built from
 * the configured certificate, and a BIO over two evbuffers so that the
 * framing filter can run OpenSSL on the bytes it already holds. */
#ifndef GEN_TLS_H
#define GEN_TLS_H

#include <stddef.h>
#include <event2/buffer.h>
#include <openssl/ssl.h>

/** Server context: TLS 1.2 and 1.3 only, forward-secret AEAD cipher suites,
 * no renegotiation, no compression, ALPN "http/1.1", the certificate chain
 * and key from PEM files (checked against each other). Returns NULL with
 * `err` filled when a file is missing or wrong. Build it before forking:
 * the processes then share its session-ticket keys. */
SSL_CTX *tls_context_new(const char *cert_file, const char *key_file, char *err,
    size_t errlen);

/** A BIO that reads ciphertext from `in` (retry when empty) and appends
 * what OpenSSL writes to `out`. Neither buffer is owned. */
BIO *tls_evbuffer_bio(struct evbuffer *in, struct evbuffer *out);

/** The reason of the last OpenSSL error of this thread, for logs. */
const char *tls_last_error(void);

#endif
