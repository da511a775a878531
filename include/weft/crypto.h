/*
 * weft crypto library: SHA-256, ECDSA P-256 keys and signatures with Fabric's
 * low-S rule, X.509 certificates, a trust store with chain verification, a
 * parallel signature verifier and a verification cache.
 *
 * Back end: OpenSSL 3. No OpenSSL type appears here (STYLE.md R5); every
 * object is opaque and lives behind a pointer.
 *
 * Conventions (STYLE.md R13-R21):
 *  - fallible functions return 0 or a negative WEFT_E* code and take an
 *    optional struct weft_err * (may be NULL) that receives a message;
 *  - out-parameters are written only on success;
 *  - heap objects pair weft_<obj>_new/parse/load with a NULL-safe _free.
 *
 * Error codes used by this library:
 *  WEFT_EINVAL    a NULL or out-of-range argument (programmer error)
 *  WEFT_ENOMEM    allocation failed
 *  WEFT_EPARSE    malformed PEM / DER / key / certificate / signature bytes
 *  WEFT_EBADSIG   a well-formed signature that does not verify, or that
 *                 Fabric rejects (high-S, r or s out of range)
 *  WEFT_EPERM     a certificate that does not chain to the trust store, is
 *                 expired / not yet valid at the given time, or is revoked
 *  WEFT_EUNSUPPORTED  a key that is not ECDSA P-256
 *  WEFT_ECRYPTO   an unexpected OpenSSL failure
 *
 * Threads: every immutable object (struct weft_key, struct weft_x509, a
 * populated struct weft_x509_store) may be used from any number of threads at
 * once after construction. struct weft_vcache and struct weft_verifier are
 * fully thread-safe. struct weft_sha256 is single-threaded (one per caller).
 *
 * Fabric facts implemented here (../shared/spec/transaction-flow.md section 1):
 *  - identity signatures are ECDSA over SHA-256(message), DER SEQUENCE{r,s};
 *  - signers always emit s <= n/2 (low-S); verifiers reject s > n/2 with an
 *    error, and reject r <= 0, s <= 0; bytes after the DER SEQUENCE are
 *    ignored;
 *  - a key's SKI is SHA-256(0x04 || X || Y) of its uncompressed public point.
 */
#ifndef WEFT_CRYPTO_H
#define WEFT_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"

/* ---- sizes ---------------------------------------------------------------- */

#define WEFT_SHA256_LEN 32
/* Largest DER ECDSA P-256 signature: 2 + 2 * (2 + 33). */
#define WEFT_ECDSA_SIG_MAX 72
/* Uncompressed P-256 point: 0x04 || X(32) || Y(32). */
#define WEFT_EC_POINT_LEN 65
#define WEFT_SKI_LEN 32

/* ---- random --------------------------------------------------------------- */

/* Fills buf with len cryptographically secure random bytes.
 * Returns 0, or WEFT_ECRYPTO if the RNG fails. Any thread. */
int weft_crypto_random(void *buf, size_t len) WEFT_WARN_UNUSED;

/* Writes 2*len lowercase hex characters and a NUL into out (which must hold
 * 2*len+1 bytes). Handy for SKI file names and transaction ids. Any thread. */
void weft_crypto_hex(const uint8_t *data, size_t len, char *out);

/* ---- SHA-256 -------------------------------------------------------------- */

/* One-shot SHA-256 of len bytes at data (data may be NULL when len is 0).
 * Cannot fail. Any thread. */
void weft_sha256(const void *data, size_t len, uint8_t out[WEFT_SHA256_LEN]);

/* Streaming SHA-256. Create with weft_sha256_new(), feed with _update, read
 * with _final (after which the object is reset and may be reused), free with
 * weft_sha256_free(). One object must not be used by two threads at once. */
struct weft_sha256;

/* Returns a new context, or NULL when out of memory. Caller frees with
 * weft_sha256_free(). */
struct weft_sha256 *weft_sha256_new(void);
/* Adds len bytes (data may be NULL when len is 0). 0 or WEFT_ECRYPTO. */
int weft_sha256_update(struct weft_sha256 *h, const void *data, size_t len) WEFT_WARN_UNUSED;
/* Writes the digest of everything fed since creation or the last _final /
 * _reset, then resets the context. 0 or WEFT_ECRYPTO. */
int weft_sha256_final(struct weft_sha256 *h, uint8_t out[WEFT_SHA256_LEN]) WEFT_WARN_UNUSED;
/* Discards anything fed so far. 0 or WEFT_ECRYPTO. */
int weft_sha256_reset(struct weft_sha256 *h) WEFT_WARN_UNUSED;
/* NULL-safe. */
void weft_sha256_free(struct weft_sha256 *h);

/* ---- keys ----------------------------------------------------------------- */

/* An ECDSA P-256 key: either a key pair (can sign) or a public key only.
 * Immutable after construction and reference counted: weft_key_ref() adds a
 * reference, weft_key_free() drops one and frees on the last. Any thread. */
struct weft_key;

/* Loads a private key from PEM: "PRIVATE KEY" (PKCS#8, as cryptogen and
 * fabric-ca write), "EC PRIVATE KEY" (SEC1) or an unencrypted PKCS#8 DER blob
 * when the input does not start with "-----". The first key block is used.
 * pem is borrowed. On success *out receives a new key (caller frees with
 * weft_key_free). Errors: WEFT_EPARSE (garbage, truncated, encrypted key),
 * WEFT_EUNSUPPORTED (not a P-256 EC key), WEFT_ENOMEM. */
int weft_key_load_private(const void *pem, size_t len, struct weft_key **out,
                          struct weft_err *err) WEFT_WARN_UNUSED;

/* Loads a public key from a "PUBLIC KEY" PEM block or SubjectPublicKeyInfo
 * DER. Same ownership and errors as weft_key_load_private. */
int weft_key_load_public(const void *data, size_t len, struct weft_key **out,
                         struct weft_err *err) WEFT_WARN_UNUSED;

/* Builds a public key from an uncompressed point (0x04||X||Y, 65 bytes).
 * Errors: WEFT_EPARSE when the point is not on P-256. */
int weft_key_from_point(const uint8_t *point, size_t len, struct weft_key **out,
                        struct weft_err *err) WEFT_WARN_UNUSED;

/* Generates a fresh P-256 key pair. *out is a new key (weft_key_free). */
int weft_key_generate(struct weft_key **out, struct weft_err *err) WEFT_WARN_UNUSED;

/* Adds a reference; returns key. NULL-safe. */
struct weft_key *weft_key_ref(struct weft_key *key);
/* Drops a reference; frees (and wipes private material) on the last. NULL-safe. */
void weft_key_free(struct weft_key *key);

/* True if the key holds a private scalar (can sign). */
bool weft_key_is_private(const struct weft_key *key);

/* Exports the private key as unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE
 * KEY-----", the form cryptogen writes to priv_sk). *pem is NUL-terminated;
 * caller frees it with weft_free_secret(*pem, *len). Errors: WEFT_EINVAL for a
 * public-only key, WEFT_ENOMEM, WEFT_ECRYPTO. */
int weft_key_export_private_pem(const struct weft_key *key, char **pem, size_t *len,
                                struct weft_err *err) WEFT_WARN_UNUSED;
/* Exports the public key as "PUBLIC KEY" PEM (NUL-terminated) or as
 * SubjectPublicKeyInfo DER. Caller frees with weft_free. */
int weft_key_export_public_pem(const struct weft_key *key, char **pem, size_t *len,
                               struct weft_err *err) WEFT_WARN_UNUSED;
int weft_key_export_public_der(const struct weft_key *key, uint8_t **der, size_t *len,
                               struct weft_err *err) WEFT_WARN_UNUSED;
/* Writes the uncompressed public point (65 bytes). Cannot fail on a valid key. */
void weft_key_public_point(const struct weft_key *key, uint8_t out[WEFT_EC_POINT_LEN]);
/* Writes the Fabric SKI: SHA-256 of the uncompressed public point. The
 * keystore file of a Fabric MSP is named hex(SKI) + "_sk". */
void weft_key_ski(const struct weft_key *key, uint8_t out[WEFT_SKI_LEN]);
/* True if both keys have the same public point (e.g. a keystore key and the
 * signcert's key). */
bool weft_key_public_equal(const struct weft_key *a, const struct weft_key *b);

/* ---- ECDSA P-256 (low-S rule lives in src/crypto/ecdsa.c, R40) ------------ */

/* Signs a 32-byte digest. The signature is DER SEQUENCE{r,s} with s <= n/2
 * (low-S), at most WEFT_ECDSA_SIG_MAX bytes written to sig; *sig_len receives
 * its length. key must be private. Errors: WEFT_EINVAL (public-only key),
 * WEFT_ECRYPTO. Any thread. */
int weft_ecdsa_sign_digest(const struct weft_key *key, const uint8_t digest[WEFT_SHA256_LEN],
                           uint8_t sig[WEFT_ECDSA_SIG_MAX], size_t *sig_len,
                           struct weft_err *err) WEFT_WARN_UNUSED;
/* Signs SHA-256(msg) exactly as Fabric identities sign. */
int weft_ecdsa_sign(const struct weft_key *key, const void *msg, size_t msg_len,
                    uint8_t sig[WEFT_ECDSA_SIG_MAX], size_t *sig_len,
                    struct weft_err *err) WEFT_WARN_UNUSED;

/* Verifies a DER signature over a 32-byte digest as Fabric's verifier does:
 * the DER must parse (trailing bytes ignored), 0 < r, 0 < s <= n/2.
 * Returns 0 if valid; WEFT_EBADSIG if the signature is malformed, high-S or
 * does not match (err says which); WEFT_EINVAL on NULL arguments.
 * Works with public or private keys. Any thread. */
int weft_ecdsa_verify_digest(const struct weft_key *key, const uint8_t digest[WEFT_SHA256_LEN],
                             const uint8_t *sig, size_t sig_len,
                             struct weft_err *err) WEFT_WARN_UNUSED;
/* Verifies a signature over SHA-256(msg). Same results. */
int weft_ecdsa_verify(const struct weft_key *key, const void *msg, size_t msg_len,
                      const uint8_t *sig, size_t sig_len, struct weft_err *err) WEFT_WARN_UNUSED;

/* Parses a DER ECDSA signature with Fabric's (Go encoding/asn1) rules: minimal
 * lengths and integers, trailing bytes after the SEQUENCE ignored, r > 0 and
 * s > 0, each at most 32 bytes. Writes r and s as 32-byte big-endian values.
 * Does NOT apply the low-S rule. Returns 0 or WEFT_EPARSE. */
int weft_ecdsa_sig_parse(const uint8_t *der, size_t len, uint8_t r[32], uint8_t s[32]);
/* Encodes (r, s) (32-byte big-endian each, both non-zero) as minimal DER into
 * out (WEFT_ECDSA_SIG_MAX bytes); *out_len receives the length. 0 or WEFT_EINVAL. */
int weft_ecdsa_sig_encode(const uint8_t r[32], const uint8_t s[32], uint8_t out[WEFT_ECDSA_SIG_MAX],
                          size_t *out_len);
/* 1 if the parsed signature has s <= n/2, 0 if high-S, WEFT_EPARSE if the DER
 * does not parse. */
int weft_ecdsa_sig_is_low_s(const uint8_t *der, size_t len);
/* Re-encodes a signature in canonical low-S form (s := n - s when s > n/2;
 * trailing bytes dropped). Output as for weft_ecdsa_sig_encode. 0 or
 * WEFT_EPARSE. */
int weft_ecdsa_sig_normalize(const uint8_t *der, size_t len, uint8_t out[WEFT_ECDSA_SIG_MAX],
                             size_t *out_len);
/* Re-encodes with s := n - s unconditionally (test helper: turns a low-S
 * signature into its high-S twin and back). 0 or WEFT_EPARSE. */
int weft_ecdsa_sig_flip_s(const uint8_t *der, size_t len, uint8_t out[WEFT_ECDSA_SIG_MAX],
                          size_t *out_len);

/* ---- X.509 certificates --------------------------------------------------- */

/* A parsed certificate. Immutable, reference counted (weft_x509_ref /
 * weft_x509_free), safe to share between threads. Everything an accessor
 * returns is borrowed and valid as long as the certificate. The public key is
 * parsed once at load time and cached. */
struct weft_x509;

/* Key usage bits (RFC 5280 order). */
#define WEFT_X509_KU_DIGITAL_SIGNATURE 0x001u
#define WEFT_X509_KU_NON_REPUDIATION 0x002u
#define WEFT_X509_KU_KEY_ENCIPHERMENT 0x004u
#define WEFT_X509_KU_DATA_ENCIPHERMENT 0x008u
#define WEFT_X509_KU_KEY_AGREEMENT 0x010u
#define WEFT_X509_KU_KEY_CERT_SIGN 0x020u
#define WEFT_X509_KU_CRL_SIGN 0x040u
#define WEFT_X509_KU_ENCIPHER_ONLY 0x080u
#define WEFT_X509_KU_DECIPHER_ONLY 0x100u
/* Extended key usage bits. */
#define WEFT_X509_EKU_SERVER_AUTH 0x01u
#define WEFT_X509_EKU_CLIENT_AUTH 0x02u
#define WEFT_X509_EKU_CODE_SIGNING 0x04u
#define WEFT_X509_EKU_EMAIL_PROTECTION 0x08u
#define WEFT_X509_EKU_TIME_STAMPING 0x10u
#define WEFT_X509_EKU_OCSP_SIGNING 0x20u
#define WEFT_X509_EKU_ANY 0x40u
#define WEFT_X509_EKU_OTHER 0x80u /* an EKU OID weft does not name */

/* Distinguished-name components, each attribute as an array in certificate
 * order (most certificates carry one value, OU often several). Strings are
 * UTF-8, NUL-terminated, borrowed from the certificate. */
struct weft_x509_name {
    const char *const *country;
    size_t n_country;
    const char *const *organization;
    size_t n_organization;
    const char *const *organizational_unit;
    size_t n_organizational_unit;
    const char *const *locality;
    size_t n_locality;
    const char *const *province;
    size_t n_province;
    const char *const *street_address;
    size_t n_street_address;
    const char *const *postal_code;
    size_t n_postal_code;
    const char *common_name;   /* first CN, "" if none */
    const char *serial_number; /* subject serialNumber attribute, "" if none */
};

/* Parses the first "CERTIFICATE" block of a PEM text. pem is borrowed.
 * *out receives a new certificate (caller frees with weft_x509_free).
 * Errors: WEFT_EPARSE (no block, bad base64, bad DER, truncated), WEFT_ENOMEM. */
int weft_x509_parse_pem(const void *pem, size_t len, struct weft_x509 **out,
                        struct weft_err *err) WEFT_WARN_UNUSED;
/* Parses one DER certificate; trailing bytes are an error. */
int weft_x509_parse_der(const void *der, size_t len, struct weft_x509 **out,
                        struct weft_err *err) WEFT_WARN_UNUSED;
/* Parses every "CERTIFICATE" block of a PEM bundle (at least one required).
 * *out receives a weft_malloc'd array of *n new certificates; free with
 * weft_x509_array_free(*out, *n). */
int weft_x509_parse_pem_all(const void *pem, size_t len, struct weft_x509 ***out, size_t *n,
                            struct weft_err *err) WEFT_WARN_UNUSED;
void weft_x509_array_free(struct weft_x509 **certs, size_t n);

/* Adds a reference; returns cert. NULL-safe. */
struct weft_x509 *weft_x509_ref(struct weft_x509 *cert);
/* Drops a reference, frees on the last. NULL-safe. */
void weft_x509_free(struct weft_x509 *cert);

/* Raw DER of the certificate as parsed (borrowed). */
const uint8_t *weft_x509_der(const struct weft_x509 *cert, size_t *len);
/* SHA-256 of the DER (computed once at parse). */
const uint8_t *weft_x509_der_hash(const struct weft_x509 *cert);
/* The certificate as PEM text (NUL-terminated); caller frees with weft_free. */
int weft_x509_to_pem(const struct weft_x509 *cert, char **pem, size_t *len,
                     struct weft_err *err) WEFT_WARN_UNUSED;
/* DER with the certificate's own ECDSA signature re-encoded low-S (Fabric's
 * "sanitized" certificate, whose hash is the identity id). Returns the DER
 * unchanged when the signature is already low-S or not ECDSA. Caller frees
 * *der with weft_free. Errors: WEFT_EPARSE, WEFT_ENOMEM. */
int weft_x509_sanitized_der(const struct weft_x509 *cert, uint8_t **der, size_t *len,
                            struct weft_err *err) WEFT_WARN_UNUSED;

/* Subject / issuer as a DN string in RFC 2253 order, as Go's pkix.Name
 * String() prints it: "CN=peer0.org1.example.com,OU=peer,O=Org1,L=San
 * Francisco,ST=California,C=US". Borrowed, never NULL. */
const char *weft_x509_subject(const struct weft_x509 *cert);
const char *weft_x509_issuer(const struct weft_x509 *cert);
/* Parsed components of the subject / issuer. Borrowed, never NULL. */
const struct weft_x509_name *weft_x509_subject_name(const struct weft_x509 *cert);
const struct weft_x509_name *weft_x509_issuer_name(const struct weft_x509 *cert);
/* DER of the subject / issuer Name (for exact comparisons). Borrowed. */
const uint8_t *weft_x509_subject_der(const struct weft_x509 *cert, size_t *len);
const uint8_t *weft_x509_issuer_der(const struct weft_x509 *cert, size_t *len);
/* Subject OUs (shortcut for subject_name()->organizational_unit). */
size_t weft_x509_ou_count(const struct weft_x509 *cert);
const char *weft_x509_ou(const struct weft_x509 *cert, size_t i); /* NULL if i out of range */

/* Serial number: big-endian magnitude bytes (no sign byte) and as lowercase
 * hex without leading zeros ("0" for zero). Borrowed. */
const uint8_t *weft_x509_serial(const struct weft_x509 *cert, size_t *len);
const char *weft_x509_serial_hex(const struct weft_x509 *cert);

/* Subject alternative names. DNS names as strings; IP addresses as 4 or 16
 * raw bytes and as text ("127.0.0.1", "::1"). Index out of range gives NULL. */
size_t weft_x509_san_dns_count(const struct weft_x509 *cert);
const char *weft_x509_san_dns(const struct weft_x509 *cert, size_t i);
size_t weft_x509_san_ip_count(const struct weft_x509 *cert);
const uint8_t *weft_x509_san_ip(const struct weft_x509 *cert, size_t i, size_t *len);
const char *weft_x509_san_ip_str(const struct weft_x509 *cert, size_t i);
size_t weft_x509_san_email_count(const struct weft_x509 *cert);
const char *weft_x509_san_email(const struct weft_x509 *cert, size_t i);

/* Validity window in seconds since the Unix epoch. */
int64_t weft_x509_not_before(const struct weft_x509 *cert);
int64_t weft_x509_not_after(const struct weft_x509 *cert);
/* True when not_before <= at <= not_after. */
bool weft_x509_valid_at(const struct weft_x509 *cert, int64_t at);

/* Key usage: returns WEFT_X509_KU_* bits; *present (optional) tells whether
 * the extension exists. */
uint32_t weft_x509_key_usage(const struct weft_x509 *cert, bool *present);
/* Extended key usage: WEFT_X509_EKU_* bits; *present as above. */
uint32_t weft_x509_ext_key_usage(const struct weft_x509 *cert, bool *present);
/* Basic constraints: is_ca is true only if the extension is present with
 * cA=TRUE. path_len is -1 when absent/unlimited. */
bool weft_x509_is_ca(const struct weft_x509 *cert);
bool weft_x509_has_basic_constraints(const struct weft_x509 *cert);
int weft_x509_path_len(const struct weft_x509 *cert);
/* Subject / authority key identifier extension bytes, NULL (and *len = 0)
 * when absent. Borrowed. */
const uint8_t *weft_x509_ski(const struct weft_x509 *cert, size_t *len);
const uint8_t *weft_x509_aki(const struct weft_x509 *cert, size_t *len);

/* The certificate's public key (parsed once, cached). Borrowed: take a
 * weft_key_ref() to keep it beyond the certificate. NULL only if the key is
 * not P-256 ECDSA (such certificates still parse; signature checks with them
 * fail with WEFT_EUNSUPPORTED). */
struct weft_key *weft_x509_key(const struct weft_x509 *cert);

/* True if issuer's subject equals cert's issuer and issuer's key verifies
 * cert's signature. */
bool weft_x509_issued_by(const struct weft_x509 *cert, const struct weft_x509 *issuer);
/* True if both hold byte-identical DER. */
bool weft_x509_equal(const struct weft_x509 *a, const struct weft_x509 *b);

/* ---- trust store and chain verification ---------------------------------- */

/* Roots, intermediates and CRLs. Populate from one thread, then verify from
 * any number of threads concurrently (adding after verification has started
 * requires external synchronisation). */
struct weft_x509_store;

/* A verified path: certs[0] is the leaf, certs[n-1] the trusted root. Each
 * entry holds a reference. Free with weft_x509_chain_free. */
struct weft_x509_chain {
    struct weft_x509 **certs;
    size_t n;
};

/* New empty store; NULL when out of memory. Free with weft_x509_store_free. */
struct weft_x509_store *weft_x509_store_new(void);
void weft_x509_store_free(struct weft_x509_store *store);
/* Adds a trusted root / an untrusted intermediate. The store takes its own
 * reference (cert stays owned by the caller). A duplicate is ignored.
 * Errors: WEFT_ENOMEM, WEFT_ECRYPTO. */
int weft_x509_store_add_root(struct weft_x509_store *store, struct weft_x509 *cert,
                             struct weft_err *err) WEFT_WARN_UNUSED;
int weft_x509_store_add_intermediate(struct weft_x509_store *store, struct weft_x509 *cert,
                                     struct weft_err *err) WEFT_WARN_UNUSED;
/* Adds a CRL given as PEM ("X509 CRL") or DER; the bytes are borrowed.
 * A CRL counts only for certificates whose issuer signed it (signature
 * checked at verification); its thisUpdate/nextUpdate are not enforced, as
 * in Fabric. Errors: WEFT_EPARSE, WEFT_ENOMEM. */
int weft_x509_store_add_crl(struct weft_x509_store *store, const void *data, size_t len,
                            struct weft_err *err) WEFT_WARN_UNUSED;
size_t weft_x509_store_root_count(const struct weft_x509_store *store);
size_t weft_x509_store_intermediate_count(const struct weft_x509_store *store);

/* True if cert is listed as revoked by a CRL in the store that was issued
 * (and correctly signed) by issuer. */
bool weft_x509_store_is_revoked(const struct weft_x509_store *store, const struct weft_x509 *cert,
                                const struct weft_x509 *issuer);

/* Builds and checks a path from cert through the store's intermediates to one
 * of its roots, evaluated at time at_time (Unix seconds): every signature,
 * CA constraints, and validity of every certificate at at_time. Then every
 * non-root certificate in the path is checked against the CRLs of its issuer.
 * (Fabric's MSP validates at leaf NotBefore + 1 s and enforces expiry
 * separately; pass that time to get its behaviour.)
 * Extended key usage is not checked (see weft_x509_ext_key_usage).
 * On success returns 0 and, if chain_out is non-NULL, fills it (caller frees
 * with weft_x509_chain_free). Errors: WEFT_EPERM with err->msg starting with
 * "expired", "not yet valid", "revoked", "untrusted" (no path to a root) or
 * "invalid" (bad signature or constraint); WEFT_ENOMEM; WEFT_ECRYPTO.
 * cert and store are borrowed. Any thread. */
int weft_x509_verify_chain(const struct weft_x509_store *store, const struct weft_x509 *cert,
                           int64_t at_time, struct weft_x509_chain *chain_out,
                           struct weft_err *err) WEFT_WARN_UNUSED;
/* Drops the references held by chain and clears it. NULL-safe. */
void weft_x509_chain_free(struct weft_x509_chain *chain);

/* ---- verification cache -------------------------------------------------- */

/* A bounded, thread-safe set of signature verdicts keyed by
 *   K = SHA-256( len64(I) || I || digest(32) || len64(sig) || sig )
 * where I is a 32-byte fingerprint of the signer: SHA-256 of the identity
 * bytes the caller supplies (e.g. the SerializedIdentity), else of the
 * certificate DER (cached in the certificate), else of the public point. So
 * the same (identity, digest, signature) is verified at most once while it
 * stays cached. Least-recently-inserted entries are evicted when full.
 * Counters are updated atomically. */
struct weft_vcache;

struct weft_vcache_stats {
    uint64_t hits;
    uint64_t misses;
    uint64_t inserts;
    uint64_t evictions;
    size_t size;
    size_t capacity;
};

/* New cache holding at most capacity entries (>= 1); NULL on ENOMEM or
 * capacity 0. Free with weft_vcache_free (NULL-safe). */
struct weft_vcache *weft_vcache_new(size_t capacity);
void weft_vcache_free(struct weft_vcache *cache);
/* Computes the cache key from a signer fingerprint (32 bytes), digest and
 * signature. */
void weft_vcache_key(const uint8_t signer[WEFT_SHA256_LEN], const uint8_t digest[WEFT_SHA256_LEN],
                     const uint8_t *sig, size_t sig_len, uint8_t key[WEFT_SHA256_LEN]);
/* Looks a key up. Returns 0 and sets *valid on a hit (counts a hit), or
 * WEFT_ENOTFOUND (counts a miss). */
int weft_vcache_lookup(struct weft_vcache *cache, const uint8_t key[WEFT_SHA256_LEN], bool *valid);
/* Records a verdict (replaces an existing one). Never fails: when full the
 * oldest entry is evicted. */
void weft_vcache_insert(struct weft_vcache *cache, const uint8_t key[WEFT_SHA256_LEN], bool valid);
void weft_vcache_get_stats(struct weft_vcache *cache, struct weft_vcache_stats *out);
/* Drops every entry (counters are kept). */
void weft_vcache_clear(struct weft_vcache *cache);

/* ---- parallel verifier --------------------------------------------------- */

/* One signature to check. Inputs are borrowed for the duration of the call.
 * Signer: cert (its cached key is used) or key; exactly one must be set.
 * Data: digest (32 bytes) or, if digest is NULL, msg/msg_len (SHA-256 is
 * applied as Fabric does). identity/identity_len optionally name the bytes
 * to fingerprint for the cache (e.g. SerializedIdentity); otherwise the
 * certificate DER or the public point is used. Those two fingerprints are
 * precomputed, so a cache hit is cheapest without identity (which is hashed
 * on every call).
 * Output: result = 0 when valid, WEFT_EBADSIG when invalid (including
 * high-S and malformed DER), WEFT_EINVAL for a malformed item,
 * WEFT_EUNSUPPORTED for a non-P-256 certificate key. */
struct weft_verify_item {
    const struct weft_x509 *cert;
    const struct weft_key *key;
    const uint8_t *digest;
    const uint8_t *msg;
    size_t msg_len;
    const uint8_t *sig;
    size_t sig_len;
    const uint8_t *identity;
    size_t identity_len;
    int result;  /* out */
    bool cached; /* out: verdict came from the cache */
};

/* Checks one item on the calling thread, consulting and filling cache (may be
 * NULL). Returns item->result. Any thread. */
int weft_verify_item_run(struct weft_vcache *cache, struct weft_verify_item *item);

/* A pool of verification threads shared by every caller (committer, orderer,
 * gateway). Batches from concurrent callers are served together; the calling
 * thread works on its own batch too, so nthreads = ncores - 1 already uses all
 * cores. */
struct weft_verifier;

/* Starts nthreads worker threads (0 = one per online CPU). cache is borrowed
 * (may be NULL) and must outlive the verifier. Returns NULL on failure. */
struct weft_verifier *weft_verifier_new(unsigned nthreads, struct weft_vcache *cache);
/* Checks items[0..n) in parallel and returns when all results are set.
 * Returns 0 if every item is valid, WEFT_EBADSIG if at least one is not
 * (per-item results tell which), WEFT_ESHUTDOWN after free began. Any thread,
 * concurrently; must not be called from inside a verifier worker. */
int weft_verifier_run(struct weft_verifier *v, struct weft_verify_item *items, size_t n);
/* weft_verifier_run in two halves, so that the caller can do other work
 * while the workers check: start lists items[0..n) for the workers (they
 * must stay valid until finish) and returns a handle, or NULL when out of
 * memory or stopping (then call weft_verifier_run instead); finish works on
 * the batch too, waits until every result is set, frees the handle and
 * returns what weft_verifier_run would have. Same threads as run. */
struct weft_verify_batch;
struct weft_verify_batch *weft_verifier_start(struct weft_verifier *v,
                                              struct weft_verify_item *items, size_t n);
int weft_verifier_finish(struct weft_verifier *v, struct weft_verify_batch *b);
/* Number of worker threads. */
unsigned weft_verifier_threads(const struct weft_verifier *v);
/* Joins the workers and frees. No weft_verifier_run may be in progress.
 * NULL-safe. */
void weft_verifier_free(struct weft_verifier *v);

/* ---- certificate issuance (src/crypto/issue.c, owned by the msp helper) -- */

#endif
