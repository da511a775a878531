/*
 * Certificate and CRL issuing for development identities and tests
 * (include/weft/crypto_issue.h). Owned by the msp helper; uses the crypto
 * library's OpenSSL bridges (internal.h).
 *
 * DESIGN. Certificates are built with OpenSSL's X509 API and signed with
 * EVP_DigestSign (SHA-256). OpenSSL's ECDSA output may be high-S; Fabric's
 * verifiers do not check the low-S rule on certificate signatures, but the
 * MSP hashes a "sanitized" (low-S) DER for identity ids, so we re-sign until
 * the signature is low-S: ids are then the hash of the DER as written.
 */
#include <arpa/inet.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "weft/crypto_issue.h"

#include "internal.h"

static int add_name(X509_NAME *nm, const char *field, const char *v)
{
    if (v == NULL || v[0] == '\0') {
        return 1;
    }
    return X509_NAME_add_entry_by_txt(nm, field, MBSTRING_UTF8, (const unsigned char *)v, -1, -1,
                                      0);
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) {
        return 0;
    }
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

static int set_octet_ext(X509 *x, int nid, const uint8_t *data, size_t len, bool aki)
{
    int ok = 0;
    if (aki) {
        AUTHORITY_KEYID *ak = AUTHORITY_KEYID_new();
        if (ak == NULL) {
            return 0;
        }
        ak->keyid = ASN1_OCTET_STRING_new();
        if (ak->keyid != NULL && ASN1_OCTET_STRING_set(ak->keyid, data, (int)len)) {
            ok = X509_add1_ext_i2d(x, nid, ak, 0, X509V3_ADD_REPLACE);
        }
        AUTHORITY_KEYID_free(ak);
        return ok == 1;
    }
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    if (os != NULL && ASN1_OCTET_STRING_set(os, data, (int)len)) {
        ok = X509_add1_ext_i2d(x, nid, os, 0, X509V3_ADD_REPLACE);
    }
    ASN1_OCTET_STRING_free(os);
    return ok == 1;
}

static bool is_ip(const char *s, uint8_t *buf, int *len)
{
    if (inet_pton(AF_INET, s, buf) == 1) {
        *len = 4;
        return true;
    }
    if (inet_pton(AF_INET6, s, buf) == 1) {
        *len = 16;
        return true;
    }
    return false;
}

static int add_sans(X509 *x, const char *const *sans, size_t n)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    if (gens == NULL) {
        return 0;
    }
    int ok = 1;
    /* Go writes DNS names first, then emails, then IPs. */
    for (int pass = 0; pass < 2 && ok; pass++) {
        for (size_t i = 0; i < n && ok; i++) {
            uint8_t ip[16];
            int iplen = 0;
            bool ipv = is_ip(sans[i], ip, &iplen);
            if ((pass == 0) == ipv) {
                continue;
            }
            GENERAL_NAME *g = GENERAL_NAME_new();
            if (g == NULL) {
                ok = 0;
                break;
            }
            if (ipv) {
                ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
                if (os == NULL || !ASN1_OCTET_STRING_set(os, ip, iplen)) {
                    ASN1_OCTET_STRING_free(os);
                    GENERAL_NAME_free(g);
                    ok = 0;
                    break;
                }
                GENERAL_NAME_set0_value(g, GEN_IPADD, os);
            } else {
                ASN1_IA5STRING *s = ASN1_IA5STRING_new();
                if (s == NULL || !ASN1_STRING_set(s, sans[i], -1)) {
                    ASN1_IA5STRING_free(s);
                    GENERAL_NAME_free(g);
                    ok = 0;
                    break;
                }
                GENERAL_NAME_set0_value(g, GEN_DNS, s);
            }
            if (!sk_GENERAL_NAME_push(gens, g)) {
                GENERAL_NAME_free(g);
                ok = 0;
            }
        }
    }
    if (ok && sk_GENERAL_NAME_num(gens) > 0) {
        ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_REPLACE) == 1;
    }
    GENERAL_NAMES_free(gens);
    return ok;
}

static void ku_string(uint32_t ku, char *out, size_t cap)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {
        {WEFT_X509_KU_DIGITAL_SIGNATURE, "digitalSignature"},
        {WEFT_X509_KU_NON_REPUDIATION, "nonRepudiation"},
        {WEFT_X509_KU_KEY_ENCIPHERMENT, "keyEncipherment"},
        {WEFT_X509_KU_DATA_ENCIPHERMENT, "dataEncipherment"},
        {WEFT_X509_KU_KEY_AGREEMENT, "keyAgreement"},
        {WEFT_X509_KU_KEY_CERT_SIGN, "keyCertSign"},
        {WEFT_X509_KU_CRL_SIGN, "cRLSign"},
    };
    size_t at = (size_t)snprintf(out, cap, "critical");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && at < cap; i++) {
        if (ku & names[i].bit) {
            at += (size_t)snprintf(out + at, cap - at, ",%s", names[i].name);
        }
    }
}

/* Signs until the ECDSA signature is low-S (at most a few tries). */
static int sign_low_s(X509 *x, EVP_PKEY *pk)
{
    for (int tries = 0; tries < 16; tries++) {
        if (X509_sign(x, pk, EVP_sha256()) <= 0) {
            return 0;
        }
        const ASN1_BIT_STRING *sig = NULL;
        X509_get0_signature(&sig, NULL, x);
        if (sig != NULL && weft_ecdsa_sig_is_low_s(ASN1_STRING_get0_data(sig),
                                                   (size_t)ASN1_STRING_length(sig)) == 1) {
            return 1;
        }
    }
    return 0;
}

int weft_x509_issue(const struct weft_cert_template *tpl, const struct weft_key *subject_key,
                    const struct weft_x509 *issuer, const struct weft_key *issuer_key,
                    struct weft_x509 **out, struct weft_err *err)
{
    if (tpl == NULL || subject_key == NULL || out == NULL ||
        (issuer == NULL) != (issuer_key == NULL)) {
        return weft_err_set(err, WEFT_EINVAL, "issue: missing argument");
    }
    const struct weft_key *signer = issuer_key != NULL ? issuer_key : subject_key;
    if (!weft_key_is_private(signer)) {
        return weft_err_set(err, WEFT_EINVAL, "issue: the signing key is not private");
    }
    X509 *x = X509_new();
    BIGNUM *bn = NULL;
    int rc = WEFT_ECRYPTO;
    if (x == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "issue: out of memory");
    }
    uint8_t serial[20];
    size_t serial_len = tpl->serial_len;
    if (serial_len == 0) {
        serial_len = 16;
        if (weft_crypto_random(serial, serial_len) != 0) {
            goto fail;
        }
        serial[0] &= 0x7f;
        if (serial[0] == 0) {
            serial[0] = 1;
        }
    } else {
        if (serial_len > sizeof(serial)) {
            rc = weft_err_set(err, WEFT_EINVAL, "issue: serial too long");
            goto done;
        }
        memcpy(serial, tpl->serial, serial_len);
    }
    bn = BN_bin2bn(serial, (int)serial_len, NULL);
    if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
        !X509_set_version(x, 2)) {
        goto fail;
    }
    if (ASN1_TIME_set(X509_getm_notBefore(x), (time_t)tpl->not_before) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), (time_t)tpl->not_after) == NULL) {
        goto fail;
    }
    X509_NAME *nm = X509_get_subject_name(x);
    if (!add_name(nm, "C", tpl->country) || !add_name(nm, "ST", tpl->province) ||
        !add_name(nm, "L", tpl->locality) || !add_name(nm, "street", tpl->street_address) ||
        !add_name(nm, "postalCode", tpl->postal_code) || !add_name(nm, "O", tpl->organization)) {
        goto fail;
    }
    for (size_t i = 0; i < tpl->n_organizational_units; i++) {
        if (!add_name(nm, "OU", tpl->organizational_units[i])) {
            goto fail;
        }
    }
    if (!add_name(nm, "CN", tpl->common_name)) {
        goto fail;
    }
    X509 *ix = issuer != NULL ? crypto__x509_get(issuer) : x;
    if (!X509_set_issuer_name(x, X509_get_subject_name(ix)) ||
        !X509_set_pubkey(x, crypto__key_pkey(subject_key))) {
        goto fail;
    }
    char ku[160];
    ku_string(tpl->key_usage, ku, sizeof(ku));
    if (tpl->key_usage != 0 && !add_ext(x, ix, NID_key_usage, ku)) {
        goto fail;
    }
    if (tpl->ext_key_usage & (WEFT_X509_EKU_SERVER_AUTH | WEFT_X509_EKU_CLIENT_AUTH)) {
        char eku[64];
        bool s = (tpl->ext_key_usage & WEFT_X509_EKU_SERVER_AUTH) != 0;
        bool c = (tpl->ext_key_usage & WEFT_X509_EKU_CLIENT_AUTH) != 0;
        if (s && c) {
            snprintf(eku, sizeof(eku), "%s",
                     tpl->ext_key_usage_client_first ? "clientAuth,serverAuth"
                                                     : "serverAuth,clientAuth");
        } else {
            snprintf(eku, sizeof(eku), "%s", s ? "serverAuth" : "clientAuth");
        }
        if (!add_ext(x, ix, NID_ext_key_usage, eku)) {
            goto fail;
        }
    }
    if (!add_ext(x, ix, NID_basic_constraints,
                 tpl->is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE")) {
        goto fail;
    }
    if (tpl->is_ca) {
        uint8_t ski[WEFT_SKI_LEN];
        weft_key_ski(subject_key, ski);
        if (!set_octet_ext(x, NID_subject_key_identifier, ski, sizeof(ski), false)) {
            goto fail;
        }
    }
    if (issuer != NULL) {
        size_t akl = 0;
        const uint8_t *aki = weft_x509_ski(issuer, &akl);
        if (aki != NULL && akl > 0 &&
            !set_octet_ext(x, NID_authority_key_identifier, aki, akl, true)) {
            goto fail;
        }
    }
    if (tpl->n_sans > 0 && !add_sans(x, tpl->sans, tpl->n_sans)) {
        rc = weft_err_set(err, WEFT_EINVAL, "issue: bad subject alternative name");
        goto done;
    }
    if (!sign_low_s(x, crypto__key_pkey(signer))) {
        goto fail;
    }
    rc = crypto__x509_wrap(x, out, err);
    goto done;
fail:
    rc = crypto__ossl_err(err, WEFT_ECRYPTO, "issue certificate");
done:
    BN_free(bn);
    X509_free(x);
    return rc;
}

int weft_crl_issue(const struct weft_x509 *issuer, const struct weft_key *issuer_key,
                   struct weft_x509 *const *revoked, size_t n_revoked, int64_t this_update,
                   int64_t next_update, char **pem, size_t *pem_len, struct weft_err *err)
{
    if (issuer == NULL || issuer_key == NULL || pem == NULL || pem_len == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "crl: missing argument");
    }
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *tu = ASN1_TIME_set(NULL, (time_t)this_update);
    ASN1_TIME *nu = ASN1_TIME_set(NULL, (time_t)next_update);
    BIO *bio = NULL;
    int rc;
    if (crl == NULL || tu == NULL || nu == NULL || !X509_CRL_set_version(crl, 1) ||
        !X509_CRL_set_issuer_name(crl, X509_get_subject_name(crypto__x509_get(issuer))) ||
        !X509_CRL_set1_lastUpdate(crl, tu) || !X509_CRL_set1_nextUpdate(crl, nu)) {
        goto fail;
    }
    for (size_t i = 0; i < n_revoked; i++) {
        X509_REVOKED *r = X509_REVOKED_new();
        if (r == NULL ||
            !X509_REVOKED_set_serialNumber(r,
                                           X509_get_serialNumber(crypto__x509_get(revoked[i]))) ||
            !X509_REVOKED_set_revocationDate(r, tu) || !X509_CRL_add0_revoked(crl, r)) {
            X509_REVOKED_free(r);
            goto fail;
        }
    }
    size_t akl = 0;
    const uint8_t *aki = weft_x509_ski(issuer, &akl);
    if (aki != NULL && akl > 0) {
        AUTHORITY_KEYID *ak = AUTHORITY_KEYID_new();
        if (ak == NULL) {
            goto fail;
        }
        ak->keyid = ASN1_OCTET_STRING_new();
        int ok = ak->keyid != NULL && ASN1_OCTET_STRING_set(ak->keyid, aki, (int)akl) &&
                 X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, ak, 0, 0) == 1;
        AUTHORITY_KEYID_free(ak);
        if (!ok) {
            goto fail;
        }
    }
    if (!X509_CRL_sort(crl) ||
        X509_CRL_sign(crl, crypto__key_pkey(issuer_key), EVP_sha256()) <= 0) {
        goto fail;
    }
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || !PEM_write_bio_X509_CRL(bio, crl)) {
        goto fail;
    }
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0 || (*pem = weft_malloc((size_t)n + 1)) == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "crl: out of memory");
        goto done;
    }
    memcpy(*pem, data, (size_t)n);
    (*pem)[n] = '\0';
    *pem_len = (size_t)n;
    rc = 0;
    goto done;
fail:
    rc = crypto__ossl_err(err, WEFT_ECRYPTO, "issue CRL");
done:
    BIO_free(bio);
    ASN1_TIME_free(tu);
    ASN1_TIME_free(nu);
    X509_CRL_free(crl);
    return rc;
}
