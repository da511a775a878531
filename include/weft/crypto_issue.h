/*
 * weft certificate and CRL issuing (src/crypto/issue.c): the small CA that
 * `weft crypto generate` (development identities, like Fabric's cryptogen)
 * and the tests use. Production identities come from a real CA (`weft ca`,
 * Fabric CA); nothing here keeps state or a database.
 *
 * Certificates are X.509 v3, signed ECDSA-with-SHA256 (low-S), with the
 * subject attributes in the order Go's crypto/x509 writes them (C, ST, L,
 * street, postalCode, O, OU, CN), so the output looks like cryptogen's.
 *
 * Thread-safety: every function may be called from any thread; inputs are
 * borrowed for the duration of the call.
 */
#ifndef WEFT_CRYPTO_ISSUE_H
#define WEFT_CRYPTO_ISSUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"
#include "weft/crypto.h"

/* What to put in a certificate. Empty strings / NULL arrays are omitted. */
struct weft_cert_template {
    const char *country;
    const char *province;
    const char *locality;
    const char *street_address;
    const char *postal_code;
    const char *organization;
    const char *const *organizational_units;
    size_t n_organizational_units;
    const char *common_name;
    /* subject alternative names: DNS names and IP addresses as text
     * ("127.0.0.1", "::1"); a string that parses as an IP goes to ips. */
    const char *const *sans;
    size_t n_sans;
    bool is_ca;             /* BasicConstraints critical CA:TRUE / CA:FALSE */
    uint32_t key_usage;     /* WEFT_X509_KU_* (critical) */
    uint32_t ext_key_usage; /* WEFT_X509_EKU_* subset: SERVER_AUTH, CLIENT_AUTH; 0 = none */
    bool ext_key_usage_client_first; /* order clientAuth before serverAuth (CA certs) */
    int64_t not_before;              /* Unix seconds */
    int64_t not_after;
    /* serial: 16 random bytes when serial_len is 0 */
    const uint8_t *serial;
    size_t serial_len;
};

/* Issues a certificate for subject_key (its public half is certified).
 * issuer / issuer_key: the signing CA; both NULL for a self-signed
 * certificate (then issuer_key = subject_key, which must be private). Adds
 * SubjectKeyIdentifier = SHA-256 of the public point for CA certificates and
 * AuthorityKeyIdentifier = the issuer's SKI for issued ones.
 * *out is a new certificate (weft_x509_free).
 * Errors: WEFT_EINVAL (missing key, bad SAN), WEFT_ENOMEM, WEFT_ECRYPTO. */
int weft_x509_issue(const struct weft_cert_template *tpl, const struct weft_key *subject_key,
                    const struct weft_x509 *issuer, const struct weft_key *issuer_key,
                    struct weft_x509 **out, struct weft_err *err) WEFT_WARN_UNUSED;

/* Issues a v2 CRL signed by issuer listing the serials of revoked (with
 * revocation time this_update), carrying the issuer's SKI as AKI. *pem is a
 * NUL-terminated "X509 CRL" PEM text (weft_free). */
int weft_crl_issue(const struct weft_x509 *issuer, const struct weft_key *issuer_key,
                   struct weft_x509 *const *revoked, size_t n_revoked, int64_t this_update,
                   int64_t next_update, char **pem, size_t *pem_len,
                   struct weft_err *err) WEFT_WARN_UNUSED;

#endif
