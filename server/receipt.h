/* receipt.h - signed receipts (DESIGN §4).
 *
 * A receipt proves what the server received and when: its signature is
 * Ed25519 over the UTF-8 string "{tracking}|{version}|{receivedAt}|{sha256}".
 * The private key lives in a PEM file outside the database, created on first
 * start; the public key is published at /.well-known/gen-receipt-key.pem.
 * Ed25519 is deterministic, so a receipt fetched again later is identical. */
#ifndef GEN_RECEIPT_H
#define GEN_RECEIPT_H

#include <stddef.h>
#include "util.h"

struct receipt_key;

/** Load the private key at path, or create it (mode 0600, and its
 * directory) when the file does not exist. Returns NULL with err filled. */
struct receipt_key *receipt_key_load(const char *path, char *err, size_t errlen);
void receipt_key_free(struct receipt_key *k);
/** The public key as PEM text (owned by the key). */
const char *receipt_key_public_pem(const struct receipt_key *k);

/** The string that is signed (into out). */
void receipt_material(const char *tracking, int version, const char *received_at,
    const char *sha256, struct sbuf *out);

/** Base64 Ed25519 signature of the receipt material, malloc'd, or NULL. */
char *receipt_sign(const struct receipt_key *k, const char *tracking, int version,
    const char *received_at, const char *sha256);

/** 1 when sig_b64 is a valid signature of the material under the public
 * key in PEM text pub_pem, else 0. */
int receipt_verify(const char *pub_pem, const char *tracking, int version,
    const char *received_at, const char *sha256, const char *sig_b64);

/** Append the receipt document (XML, namespace urn:gen:forms:1) to out.
 * Returns 0, or -1 when signing failed. */
int receipt_xml(const struct receipt_key *k, const char *tracking, int version,
    const char *received_at, const char *sha256, struct sbuf *out);

#endif
