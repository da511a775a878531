/*
 * Private to src/crypto: bridges between weft's opaque objects and OpenSSL
 * types, for files in this folder (including issue.c) only.
 */
#ifndef WEFT_CRYPTO_INTERNAL_H
#define WEFT_CRYPTO_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "weft/crypto.h"

/* Borrowed EVP_PKEY of a key (valid as long as the key). */
EVP_PKEY *crypto__key_pkey(const struct weft_key *key);
/* A fresh sign (sign = true) or verify context for key, already
 * initialised; caller frees with EVP_PKEY_CTX_free. NULL on failure. */
EVP_PKEY_CTX *crypto__key_op_ctx(const struct weft_key *key, bool sign);
/* Wraps pkey (reference transferred on success) into a new weft_key. */
int crypto__key_wrap(EVP_PKEY *pkey, struct weft_key **out, struct weft_err *err);

/* SHA-256 of the key's public point (its SKI), used to fingerprint a bare
 * key in the verification cache. */
const uint8_t *crypto__key_fingerprint(const struct weft_key *key);

/* Borrowed X509 of a certificate (valid as long as the certificate). */
X509 *crypto__x509_get(const struct weft_x509 *cert);
/* Builds a weft_x509 from an X509 (takes its own reference; x stays the
 * caller's). */
int crypto__x509_wrap(X509 *x, struct weft_x509 **out, struct weft_err *err);

/* Sets err from the OpenSSL error queue (and clears the queue). */
int crypto__ossl_err(struct weft_err *err, int code, const char *what);

#endif
