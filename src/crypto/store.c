/*
 * Trust store and chain verification (struct weft_x509_store).
 *
 * Design: roots go into an OpenSSL X509_STORE, intermediates into an
 * untrusted stack, both built while the store is populated and read-only
 * afterwards, so verifications from many threads only create a short-lived
 * X509_STORE_CTX each. Path building, signatures, CA constraints and the
 * validity window (at the caller's time, not the wall clock) are OpenSSL's.
 *
 * Revocation is ours, not OpenSSL's CRL machinery: Fabric looks only at CRLs
 * whose authority key id matches the issuer's subject key id (or, lacking
 * those, whose issuer name matches), checks the CRL signature, and does not
 * care about thisUpdate/nextUpdate or missing CRLs, whereas OpenSSL's
 * X509_V_FLAG_CRL_CHECK would fail on an expired or absent CRL.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "internal.h"

struct certvec {
    struct weft_x509 **v;
    size_t n;
};

struct weft_x509_store {
    X509_STORE *xs;
    STACK_OF(X509) * untrusted;
    struct certvec roots;
    struct certvec inters;
    X509_CRL **crls;
    size_t n_crls;
};

static bool certvec_has(const struct certvec *cv, const struct weft_x509 *c)
{
    for (size_t i = 0; i < cv->n; i++) {
        if (weft_x509_equal(cv->v[i], c)) {
            return true;
        }
    }
    return false;
}

static int certvec_push(struct certvec *cv, struct weft_x509 *c)
{
    struct weft_x509 **nv = weft_realloc(cv->v, (cv->n + 1) * sizeof(*nv));
    if (nv == NULL) {
        return WEFT_ENOMEM;
    }
    nv[cv->n++] = weft_x509_ref(c);
    cv->v = nv;
    return 0;
}

struct weft_x509_store *weft_x509_store_new(void)
{
    struct weft_x509_store *s = weft_calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->xs = X509_STORE_new();
    s->untrusted = sk_X509_new_null();
    if (s->xs == NULL || s->untrusted == NULL) {
        weft_x509_store_free(s);
        return NULL;
    }
    return s;
}

void weft_x509_store_free(struct weft_x509_store *s)
{
    if (s == NULL) {
        return;
    }
    X509_STORE_free(s->xs);
    sk_X509_free(s->untrusted); /* the X509s belong to the weft_x509 objects */
    weft_x509_array_free(s->roots.v, s->roots.n);
    weft_x509_array_free(s->inters.v, s->inters.n);
    for (size_t i = 0; i < s->n_crls; i++) {
        X509_CRL_free(s->crls[i]);
    }
    weft_free(s->crls);
    weft_free(s);
}

int weft_x509_store_add_root(struct weft_x509_store *s, struct weft_x509 *cert,
                             struct weft_err *err)
{
    if (s == NULL || cert == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "trust store: NULL argument");
    }
    if (certvec_has(&s->roots, cert)) {
        return 0;
    }
    if (X509_STORE_add_cert(s->xs, crypto__x509_get(cert)) != 1) {
        return crypto__ossl_err(err, WEFT_ECRYPTO, "trust store: add root");
    }
    if (certvec_push(&s->roots, cert) != 0) {
        return weft_err_set(err, WEFT_ENOMEM, "trust store: out of memory");
    }
    return 0;
}

int weft_x509_store_add_intermediate(struct weft_x509_store *s, struct weft_x509 *cert,
                                     struct weft_err *err)
{
    if (s == NULL || cert == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "trust store: NULL argument");
    }
    if (certvec_has(&s->inters, cert)) {
        return 0;
    }
    if (sk_X509_push(s->untrusted, crypto__x509_get(cert)) <= 0) {
        return weft_err_set(err, WEFT_ENOMEM, "trust store: out of memory");
    }
    if (certvec_push(&s->inters, cert) != 0) {
        (void)sk_X509_pop(s->untrusted);
        return weft_err_set(err, WEFT_ENOMEM, "trust store: out of memory");
    }
    return 0;
}

int weft_x509_store_add_crl(struct weft_x509_store *s, const void *data, size_t len,
                            struct weft_err *err)
{
    if (s == NULL || data == NULL || len == 0) {
        return weft_err_set(err, WEFT_EINVAL, "trust store: empty CRL");
    }
    if (len > (16u << 20)) {
        return weft_err_set(err, WEFT_ETOOBIG, "trust store: CRL larger than 16 MiB");
    }
    X509_CRL *crl = NULL;
    if (len >= 5 && memcmp(data, "-----", 5) == 0) {
        BIO *bio = BIO_new_mem_buf(data, (int)len);
        if (bio == NULL) {
            return weft_err_set(err, WEFT_ENOMEM, "trust store: out of memory");
        }
        crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
        BIO_free(bio);
    } else {
        const unsigned char *p = data;
        crl = d2i_X509_CRL(NULL, &p, (long)len);
    }
    if (crl == NULL) {
        return crypto__ossl_err(err, WEFT_EPARSE, "trust store: cannot parse CRL");
    }
    X509_CRL **nv = weft_realloc(s->crls, (s->n_crls + 1) * sizeof(*nv));
    if (nv == NULL) {
        X509_CRL_free(crl);
        return weft_err_set(err, WEFT_ENOMEM, "trust store: out of memory");
    }
    nv[s->n_crls++] = crl;
    s->crls = nv;
    return 0;
}

size_t weft_x509_store_root_count(const struct weft_x509_store *s)
{
    return s->roots.n;
}

size_t weft_x509_store_intermediate_count(const struct weft_x509_store *s)
{
    return s->inters.n;
}

/* Is this CRL issued by issuer (by key id when both have one, else by name)? */
static bool crl_from(const X509_CRL *crl, const struct weft_x509 *issuer)
{
    size_t ski_len = 0;
    const uint8_t *ski = weft_x509_ski(issuer, &ski_len);
    int crit = 0;
    AUTHORITY_KEYID *akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, &crit, NULL);
    bool match;
    if (akid != NULL && akid->keyid != NULL && ski != NULL) {
        match = (size_t)ASN1_STRING_length(akid->keyid) == ski_len &&
                memcmp(ASN1_STRING_get0_data(akid->keyid), ski, ski_len) == 0;
    } else {
        match = X509_NAME_cmp(X509_CRL_get_issuer(crl),
                              X509_get_subject_name(crypto__x509_get(issuer))) == 0;
    }
    AUTHORITY_KEYID_free(akid);
    return match;
}

bool weft_x509_store_is_revoked(const struct weft_x509_store *s, const struct weft_x509 *cert,
                                const struct weft_x509 *issuer)
{
    if (s == NULL || cert == NULL || issuer == NULL) {
        return false;
    }
    X509 *x = crypto__x509_get(cert);
    EVP_PKEY *ipk = X509_get0_pubkey(crypto__x509_get(issuer));
    bool revoked = false;
    for (size_t i = 0; i < s->n_crls && !revoked; i++) {
        X509_CRL *crl = s->crls[i];
        if (!crl_from(crl, issuer)) {
            continue;
        }
        if (ipk == NULL || X509_CRL_verify(crl, ipk) != 1) {
            continue; /* a CRL not signed by the issuer says nothing */
        }
        X509_REVOKED *rev = NULL;
        if (X509_CRL_get0_by_serial(crl, &rev, (ASN1_INTEGER *)X509_get0_serialNumber(x)) == 1) {
            revoked = true;
        }
    }
    ERR_clear_error();
    return revoked;
}

static struct weft_x509 *find_cert(const struct weft_x509_store *s, X509 *x)
{
    for (size_t i = 0; i < s->roots.n; i++) {
        if (crypto__x509_get(s->roots.v[i]) == x) {
            return s->roots.v[i];
        }
    }
    for (size_t i = 0; i < s->inters.n; i++) {
        if (crypto__x509_get(s->inters.v[i]) == x) {
            return s->inters.v[i];
        }
    }
    for (size_t i = 0; i < s->roots.n; i++) {
        if (X509_cmp(crypto__x509_get(s->roots.v[i]), x) == 0) {
            return s->roots.v[i];
        }
    }
    for (size_t i = 0; i < s->inters.n; i++) {
        if (X509_cmp(crypto__x509_get(s->inters.v[i]), x) == 0) {
            return s->inters.v[i];
        }
    }
    return NULL;
}

static const char *verdict(int code)
{
    switch (code) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return "expired";
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return "not yet valid";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        return "untrusted";
    default:
        return "invalid";
    }
}

void weft_x509_chain_free(struct weft_x509_chain *chain)
{
    if (chain == NULL) {
        return;
    }
    weft_x509_array_free(chain->certs, chain->n);
    chain->certs = NULL;
    chain->n = 0;
}

int weft_x509_verify_chain(const struct weft_x509_store *s, const struct weft_x509 *cert,
                           int64_t at_time, struct weft_x509_chain *chain_out, struct weft_err *err)
{
    if (s == NULL || cert == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "verify chain: NULL argument");
    }
    int rc = 0;
    struct weft_x509 **certs = NULL;
    size_t n = 0;
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (ctx == NULL || X509_STORE_CTX_init(ctx, s->xs, crypto__x509_get(cert), s->untrusted) != 1) {
        rc = crypto__ossl_err(err, WEFT_ENOMEM, "verify chain: init");
        goto out;
    }
    X509_STORE_CTX_set_time(ctx, 0, (time_t)at_time);
    if (X509_verify_cert(ctx) != 1) {
        int code = X509_STORE_CTX_get_error(ctx);
        int depth = X509_STORE_CTX_get_error_depth(ctx);
        rc = weft_err_set(err, WEFT_EPERM, "%s: %s (depth %d, subject %s)", verdict(code),
                          X509_verify_cert_error_string(code), depth, weft_x509_subject(cert));
        goto out;
    }
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
    int len = chain != NULL ? sk_X509_num(chain) : 0;
    if (len < 1) {
        rc = weft_err_set(err, WEFT_ECRYPTO, "verify chain: empty chain");
        goto out;
    }
    certs = weft_calloc((size_t)len, sizeof(*certs));
    if (certs == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "verify chain: out of memory");
        goto out;
    }
    certs[n++] = weft_x509_ref((struct weft_x509 *)cert);
    for (int i = 1; i < len; i++) {
        struct weft_x509 *c = find_cert(s, sk_X509_value(chain, i));
        if (c == NULL) {
            rc = weft_err_set(err, WEFT_ECRYPTO, "verify chain: path left the store");
            goto out;
        }
        certs[n++] = weft_x509_ref(c);
    }
    /* Revocation of every non-root element by its issuer's CRLs. */
    for (size_t i = 0; i + 1 < n; i++) {
        if (weft_x509_store_is_revoked(s, certs[i], certs[i + 1])) {
            rc = weft_err_set(err, WEFT_EPERM, "revoked: serial %s (subject %s)",
                              weft_x509_serial_hex(certs[i]), weft_x509_subject(certs[i]));
            goto out;
        }
    }
    if (chain_out != NULL) {
        chain_out->certs = certs;
        chain_out->n = n;
        certs = NULL;
        n = 0;
    }
out:
    weft_x509_array_free(certs, n);
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}
