/* Test-only certificate factory; see certgen.h. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certgen.h"
#include "weft/base.h"

struct tg_cert {
    EVP_PKEY *key;
    X509 *x;
};

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext != NULL) {
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
}

static struct tg_cert *make(const char *cn, const char *ou, const struct tg_cert *issuer,
                            long serial, long nb_off, long na_off, int ca)
{
    struct tg_cert *c = weft_calloc(1, sizeof(*c));
    c->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    c->x = X509_new();
    X509_set_version(c->x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c->x), serial);
    X509_gmtime_adj(X509_getm_notBefore(c->x), nb_off);
    X509_gmtime_adj(X509_getm_notAfter(c->x), na_off);
    X509_NAME *name = X509_get_subject_name(c->x);
    X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, (const unsigned char *)"US", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"weft test", -1, -1,
                               0);
    if (ou != NULL) {
        X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, (const unsigned char *)ou, -1, -1, 0);
    }
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509 *iss = issuer != NULL ? issuer->x : c->x;
    X509_set_issuer_name(c->x, X509_get_subject_name(iss));
    X509_set_pubkey(c->x, c->key);
    add_ext(c->x, iss, NID_subject_key_identifier, "hash");
    add_ext(c->x, iss, NID_authority_key_identifier, "keyid:always");
    if (ca) {
        add_ext(c->x, iss, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(c->x, iss, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
    } else {
        add_ext(c->x, iss, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(c->x, iss, NID_key_usage, "critical,digitalSignature");
        char san[300];
        snprintf(san, sizeof(san), "DNS:%s,IP:127.0.0.1,IP:::1", cn);
        add_ext(c->x, iss, NID_subject_alt_name, san);
    }
    X509_sign(c->x, issuer != NULL ? issuer->key : c->key, EVP_sha256());
    return c;
}

struct tg_cert *tg_ca(const char *cn, const struct tg_cert *issuer, long nb_off, long na_off)
{
    static long serial = 1000;
    return make(cn, NULL, issuer, serial++, nb_off, na_off, 1);
}

struct tg_cert *tg_leaf(const char *cn, const char *ou, const struct tg_cert *issuer, long serial,
                        long nb_off, long na_off)
{
    return make(cn, ou, issuer, serial, nb_off, na_off, 0);
}

uint8_t *tg_der(const struct tg_cert *c, size_t *len)
{
    unsigned char *p = NULL;
    int n = i2d_X509(c->x, &p);
    uint8_t *out = weft_memdup(p, (size_t)n);
    OPENSSL_free(p);
    *len = (size_t)n;
    return out;
}

char *tg_key_pem(const struct tg_cert *c, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, c->key, NULL, NULL, 0, NULL, NULL);
    char *mem = NULL;
    long n = BIO_get_mem_data(b, &mem);
    char *out = weft_strndup(mem, (size_t)n);
    *len = (size_t)n;
    BIO_free(b);
    return out;
}

uint8_t *tg_crl(const struct tg_cert *issuer, const long *serials, size_t n, size_t *len)
{
    X509_CRL *crl = X509_CRL_new();
    X509_CRL_set_version(crl, 1);
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer->x));
    ASN1_TIME *t = ASN1_TIME_new();
    X509_gmtime_adj(t, -3600);
    X509_CRL_set1_lastUpdate(crl, t);
    X509_gmtime_adj(t, -60); /* already past nextUpdate: Fabric ignores that */
    X509_CRL_set1_nextUpdate(crl, t);
    for (size_t i = 0; i < n; i++) {
        X509_REVOKED *r = X509_REVOKED_new();
        ASN1_INTEGER *s = ASN1_INTEGER_new();
        ASN1_INTEGER_set(s, serials[i]);
        X509_REVOKED_set_serialNumber(r, s);
        X509_REVOKED_set_revocationDate(r, t);
        X509_CRL_add0_revoked(crl, r);
        ASN1_INTEGER_free(s);
    }
    ASN1_TIME_free(t);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer->x, NULL, NULL, crl, 0);
    X509_EXTENSION *ext =
        X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
    if (ext != NULL) {
        X509_CRL_add_ext(crl, ext, -1);
        X509_EXTENSION_free(ext);
    }
    X509_CRL_sort(crl);
    X509_CRL_sign(crl, issuer->key, EVP_sha256());
    unsigned char *p = NULL;
    int l = i2d_X509_CRL(crl, &p);
    uint8_t *out = weft_memdup(p, (size_t)l);
    OPENSSL_free(p);
    X509_CRL_free(crl);
    *len = (size_t)l;
    return out;
}

void tg_free(struct tg_cert *c)
{
    if (c == NULL) {
        return;
    }
    EVP_PKEY_free(c->key);
    X509_free(c->x);
    weft_free(c);
}
