/*
 * X.509 certificates (struct weft_x509).
 *
 * Design: a certificate is parsed once and every accessor answers from
 * fields decoded at parse time (DN strings and components, serial, SANs,
 * key usage, basic constraints, SKI/AKI, validity, the public key as a
 * struct weft_key). After weft_x509_parse_* returns, the object is
 * immutable: threads share it without locks, and hot paths (verifier,
 * MSP deserialisation) never re-parse. The original DER is kept byte for
 * byte (never re-encoded) because Fabric hashes it for identity ids and TLS
 * bindings, and its SHA-256 is precomputed for the verification cache.
 *
 * Input is untrusted: every length is checked before use, a certificate
 * whose extensions OpenSSL cannot decode is rejected, and nothing asserts on
 * the bytes.
 */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "internal.h"

#define X509_MAX_INPUT (1u << 20) /* 1 MiB: far above any real certificate */

struct strvec {
    char **v;
    size_t n;
};

enum {
    F_C,
    F_O,
    F_OU,
    F_L,
    F_ST,
    F_STREET,
    F_POSTAL,
    F_COUNT,
};

struct name_parts {
    struct strvec f[F_COUNT];
    char *cn;
    char *serial;
    struct weft_x509_name pub;
};

struct weft_x509 {
    atomic_uint refs;
    X509 *x;
    uint8_t *der;
    size_t der_len;
    uint8_t der_hash[WEFT_SHA256_LEN];
    char *subject;
    char *issuer;
    struct name_parts subj;
    struct name_parts iss;
    uint8_t *serial;
    size_t serial_len;
    char *serial_hex;
    struct strvec san_dns;
    struct strvec san_email;
    struct strvec san_ip_str;
    uint8_t (*san_ip)[16];
    size_t *san_ip_len;
    int64_t not_before;
    int64_t not_after;
    uint32_t ku;
    bool ku_present;
    uint32_t eku;
    bool eku_present;
    bool is_ca;
    bool has_bc;
    int path_len;
    struct weft_key *key;
};

static void strvec_free(struct strvec *v)
{
    for (size_t i = 0; i < v->n; i++) {
        weft_free(v->v[i]);
    }
    weft_free(v->v);
    v->v = NULL;
    v->n = 0;
}

static int strvec_push(struct strvec *v, const char *s, size_t len)
{
    char *copy = weft_strndup(s, len);
    if (copy == NULL) {
        return WEFT_ENOMEM;
    }
    char **nv = weft_realloc(v->v, (v->n + 1) * sizeof(*nv));
    if (nv == NULL) {
        weft_free(copy);
        return WEFT_ENOMEM;
    }
    nv[v->n++] = copy;
    v->v = nv;
    return 0;
}

static void name_parts_free(struct name_parts *np)
{
    for (int i = 0; i < F_COUNT; i++) {
        strvec_free(&np->f[i]);
    }
    weft_free(np->cn);
    weft_free(np->serial);
}

X509 *crypto__x509_get(const struct weft_x509 *cert)
{
    return cert != NULL ? cert->x : NULL;
}

/* Decodes an ASN1_STRING entry as UTF-8. */
static int entry_utf8(const X509_NAME_ENTRY *e, char **out, size_t *out_len)
{
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    if (n < 0) {
        return WEFT_EPARSE;
    }
    *out = (char *)utf8;
    *out_len = (size_t)n;
    return 0;
}

static int parse_name(const X509_NAME *name, struct name_parts *np)
{
    int count = X509_NAME_entry_count(name);
    for (int i = 0; i < count; i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
        int slot = -1;
        switch (nid) {
        case NID_countryName:
            slot = F_C;
            break;
        case NID_organizationName:
            slot = F_O;
            break;
        case NID_organizationalUnitName:
            slot = F_OU;
            break;
        case NID_localityName:
            slot = F_L;
            break;
        case NID_stateOrProvinceName:
            slot = F_ST;
            break;
        case NID_streetAddress:
            slot = F_STREET;
            break;
        case NID_postalCode:
            slot = F_POSTAL;
            break;
        case NID_commonName:
        case NID_serialNumber:
            break;
        default:
            continue;
        }
        char *s = NULL;
        size_t len = 0;
        if (entry_utf8(e, &s, &len) != 0) {
            return WEFT_EPARSE;
        }
        int rc = 0;
        if (slot >= 0) {
            rc = strvec_push(&np->f[slot], s, len);
        } else if (nid == NID_commonName && np->cn == NULL) {
            np->cn = weft_strndup(s, len);
            rc = np->cn == NULL ? WEFT_ENOMEM : 0;
        } else if (nid == NID_serialNumber && np->serial == NULL) {
            np->serial = weft_strndup(s, len);
            rc = np->serial == NULL ? WEFT_ENOMEM : 0;
        }
        OPENSSL_free(s);
        if (rc != 0) {
            return rc;
        }
    }
    if (np->cn == NULL && (np->cn = weft_strdup("")) == NULL) {
        return WEFT_ENOMEM;
    }
    if (np->serial == NULL && (np->serial = weft_strdup("")) == NULL) {
        return WEFT_ENOMEM;
    }
    struct weft_x509_name *p = &np->pub;
    p->country = (const char *const *)np->f[F_C].v;
    p->n_country = np->f[F_C].n;
    p->organization = (const char *const *)np->f[F_O].v;
    p->n_organization = np->f[F_O].n;
    p->organizational_unit = (const char *const *)np->f[F_OU].v;
    p->n_organizational_unit = np->f[F_OU].n;
    p->locality = (const char *const *)np->f[F_L].v;
    p->n_locality = np->f[F_L].n;
    p->province = (const char *const *)np->f[F_ST].v;
    p->n_province = np->f[F_ST].n;
    p->street_address = (const char *const *)np->f[F_STREET].v;
    p->n_street_address = np->f[F_STREET].n;
    p->postal_code = (const char *const *)np->f[F_POSTAL].v;
    p->n_postal_code = np->f[F_POSTAL].n;
    p->common_name = np->cn;
    p->serial_number = np->serial;
    return 0;
}

/* RFC 2253 string (most specific RDN first), UTF-8 kept as is. */
static char *name_string(const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return NULL;
    }
    unsigned long flags = (XN_FLAG_RFC2253 & ~(unsigned long)ASN1_STRFLGS_ESC_MSB);
    char *out = NULL;
    if (X509_NAME_print_ex(bio, name, 0, flags) >= 0) {
        char *mem = NULL;
        long n = BIO_get_mem_data(bio, &mem);
        out = weft_strndup(n > 0 ? mem : "", n > 0 ? (size_t)n : 0);
    }
    BIO_free(bio);
    return out;
}

static int asn1_time_unix(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return WEFT_EPARSE;
    }
    *out = (int64_t)timegm(&tm);
    return 0;
}

static int parse_serial(struct weft_x509 *c)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c->x), NULL);
    if (bn == NULL) {
        return WEFT_EPARSE;
    }
    int rc = WEFT_ENOMEM;
    int n = BN_num_bytes(bn);
    c->serial = weft_malloc(n > 0 ? (size_t)n : 1);
    char *hex = BN_bn2hex(bn);
    if (c->serial == NULL || hex == NULL) {
        goto out;
    }
    c->serial_len = (size_t)BN_bn2bin(bn, c->serial);
    /* BN_bn2hex pads to whole bytes and uses upper case; Go prints %x. */
    const char *h = hex;
    bool neg = *h == '-';
    if (neg) {
        h++;
    }
    while (h[0] == '0' && h[1] != '\0') {
        h++;
    }
    c->serial_hex = weft_asprintf("%s%s", neg ? "-" : "", h);
    if (c->serial_hex == NULL) {
        goto out;
    }
    for (char *p = c->serial_hex; *p; p++) {
        if (*p >= 'A' && *p <= 'F') {
            *p = (char)(*p - 'A' + 'a');
        }
    }
    rc = 0;
out:
    OPENSSL_free(hex);
    BN_free(bn);
    return rc;
}

static int parse_sans(struct weft_x509 *c)
{
    int crit = 0;
    GENERAL_NAMES *gens = X509_get_ext_d2i(c->x, NID_subject_alt_name, &crit, NULL);
    if (gens == NULL) {
        /* crit == -1: absent; -2: present more than once; else undecodable. */
        return crit == -1 ? 0 : WEFT_EPARSE;
    }
    int rc = 0;
    int n = sk_GENERAL_NAME_num(gens);
    for (int i = 0; i < n && rc == 0; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS || g->type == GEN_EMAIL) {
            const ASN1_IA5STRING *s = g->d.ia5;
            rc = strvec_push(g->type == GEN_DNS ? &c->san_dns : &c->san_email,
                             (const char *)ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
        } else if (g->type == GEN_IPADD) {
            int len = ASN1_STRING_length(g->d.ip);
            if (len != 4 && len != 16) {
                rc = WEFT_EPARSE;
                break;
            }
            size_t k = c->san_ip_str.n;
            void *nip = weft_realloc(c->san_ip, (k + 1) * sizeof(*c->san_ip));
            if (nip == NULL) {
                rc = WEFT_ENOMEM;
                break;
            }
            c->san_ip = nip;
            void *nlen = weft_realloc(c->san_ip_len, (k + 1) * sizeof(*c->san_ip_len));
            if (nlen == NULL) {
                rc = WEFT_ENOMEM;
                break;
            }
            c->san_ip_len = nlen;
            memset(c->san_ip[k], 0, 16);
            memcpy(c->san_ip[k], ASN1_STRING_get0_data(g->d.ip), (size_t)len);
            c->san_ip_len[k] = (size_t)len;
            char text[INET6_ADDRSTRLEN];
            if (inet_ntop(len == 4 ? AF_INET : AF_INET6, c->san_ip[k], text, sizeof(text)) ==
                NULL) {
                rc = WEFT_EPARSE;
                break;
            }
            rc = strvec_push(&c->san_ip_str, text, strlen(text));
        }
    }
    GENERAL_NAMES_free(gens);
    return rc;
}

static uint32_t map_ku(uint32_t k)
{
    static const struct {
        uint32_t ossl, weft;
    } map[] = {
        {X509v3_KU_DIGITAL_SIGNATURE, WEFT_X509_KU_DIGITAL_SIGNATURE},
        {X509v3_KU_NON_REPUDIATION, WEFT_X509_KU_NON_REPUDIATION},
        {X509v3_KU_KEY_ENCIPHERMENT, WEFT_X509_KU_KEY_ENCIPHERMENT},
        {X509v3_KU_DATA_ENCIPHERMENT, WEFT_X509_KU_DATA_ENCIPHERMENT},
        {X509v3_KU_KEY_AGREEMENT, WEFT_X509_KU_KEY_AGREEMENT},
        {X509v3_KU_KEY_CERT_SIGN, WEFT_X509_KU_KEY_CERT_SIGN},
        {X509v3_KU_CRL_SIGN, WEFT_X509_KU_CRL_SIGN},
        {X509v3_KU_ENCIPHER_ONLY, WEFT_X509_KU_ENCIPHER_ONLY},
        {X509v3_KU_DECIPHER_ONLY, WEFT_X509_KU_DECIPHER_ONLY},
    };
    uint32_t out = 0;
    for (size_t i = 0; i < WEFT_ARRAY_LEN(map); i++) {
        if (k & map[i].ossl) {
            out |= map[i].weft;
        }
    }
    return out;
}

static int parse_eku(struct weft_x509 *c)
{
    int crit = 0;
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(c->x, NID_ext_key_usage, &crit, NULL);
    if (eku == NULL) {
        return crit == -1 ? 0 : WEFT_EPARSE;
    }
    c->eku_present = true;
    int n = sk_ASN1_OBJECT_num(eku);
    for (int i = 0; i < n; i++) {
        switch (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i))) {
        case NID_server_auth:
            c->eku |= WEFT_X509_EKU_SERVER_AUTH;
            break;
        case NID_client_auth:
            c->eku |= WEFT_X509_EKU_CLIENT_AUTH;
            break;
        case NID_code_sign:
            c->eku |= WEFT_X509_EKU_CODE_SIGNING;
            break;
        case NID_email_protect:
            c->eku |= WEFT_X509_EKU_EMAIL_PROTECTION;
            break;
        case NID_time_stamp:
            c->eku |= WEFT_X509_EKU_TIME_STAMPING;
            break;
        case NID_OCSP_sign:
            c->eku |= WEFT_X509_EKU_OCSP_SIGNING;
            break;
        case NID_anyExtendedKeyUsage:
            c->eku |= WEFT_X509_EKU_ANY;
            break;
        default:
            c->eku |= WEFT_X509_EKU_OTHER;
            break;
        }
    }
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    return 0;
}

/* Fills every cached field from c->x. */
static int decode_fields(struct weft_x509 *c, struct weft_err *err)
{
    uint32_t flags = X509_get_extension_flags(c->x);
    if (flags & EXFLAG_INVALID) {
        return weft_err_set(err, WEFT_EPARSE, "x509: malformed extensions");
    }
    weft_sha256(c->der, c->der_len, c->der_hash);
    int rc = parse_name(X509_get_subject_name(c->x), &c->subj);
    if (rc == 0) {
        rc = parse_name(X509_get_issuer_name(c->x), &c->iss);
    }
    if (rc != 0) {
        return weft_err_set(err, rc, "x509: decode name");
    }
    c->subject = name_string(X509_get_subject_name(c->x));
    c->issuer = name_string(X509_get_issuer_name(c->x));
    if (c->subject == NULL || c->issuer == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "x509: out of memory");
    }
    if ((rc = parse_serial(c)) != 0) {
        return weft_err_set(err, rc, "x509: serial number");
    }
    if (asn1_time_unix(X509_get0_notBefore(c->x), &c->not_before) != 0 ||
        asn1_time_unix(X509_get0_notAfter(c->x), &c->not_after) != 0) {
        return weft_err_set(err, WEFT_EPARSE, "x509: bad validity time");
    }
    if ((rc = parse_sans(c)) != 0) {
        return weft_err_set(err, rc, "x509: subject alternative names");
    }
    if ((rc = parse_eku(c)) != 0) {
        return weft_err_set(err, rc, "x509: extended key usage");
    }
    c->ku_present = (flags & EXFLAG_KUSAGE) != 0;
    c->ku = c->ku_present ? map_ku(X509_get_key_usage(c->x)) : 0;
    c->has_bc = (flags & EXFLAG_BCONS) != 0;
    c->is_ca = c->has_bc && (flags & EXFLAG_CA) != 0;
    long pl = X509_get_pathlen(c->x);
    c->path_len = pl < 0 || pl > 1000000 ? -1 : (int)pl;
    EVP_PKEY *pk = X509_get0_pubkey(c->x);
    if (pk == NULL) {
        return crypto__ossl_err(err, WEFT_EPARSE, "x509: public key");
    }
    if (EVP_PKEY_up_ref(pk) != 1) {
        return crypto__ossl_err(err, WEFT_ECRYPTO, "x509: public key");
    }
    if (crypto__key_wrap(pk, &c->key, NULL) != 0) {
        EVP_PKEY_free(pk);
        c->key = NULL; /* not P-256: the certificate still parses */
    }
    ERR_clear_error();
    return 0;
}

static void x509_destroy(struct weft_x509 *c)
{
    X509_free(c->x);
    weft_free(c->der);
    weft_free(c->subject);
    weft_free(c->issuer);
    name_parts_free(&c->subj);
    name_parts_free(&c->iss);
    weft_free(c->serial);
    weft_free(c->serial_hex);
    strvec_free(&c->san_dns);
    strvec_free(&c->san_email);
    strvec_free(&c->san_ip_str);
    weft_free(c->san_ip);
    weft_free(c->san_ip_len);
    weft_key_free(c->key);
    weft_free(c);
}

int weft_x509_parse_der(const void *der, size_t len, struct weft_x509 **out, struct weft_err *err)
{
    if (out == NULL || (der == NULL && len != 0)) {
        return weft_err_set(err, WEFT_EINVAL, "x509: NULL argument");
    }
    if (len == 0) {
        return weft_err_set(err, WEFT_EPARSE, "x509: empty certificate");
    }
    if (len > X509_MAX_INPUT) {
        return weft_err_set(err, WEFT_ETOOBIG, "x509: certificate larger than 1 MiB");
    }
    struct weft_x509 *c = weft_calloc(1, sizeof(*c));
    if (c == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "x509: out of memory");
    }
    atomic_init(&c->refs, 1);
    c->path_len = -1;
    int rc = 0;
    const unsigned char *p = der;
    c->x = d2i_X509(NULL, &p, (long)len);
    if (c->x == NULL) {
        rc = crypto__ossl_err(err, WEFT_EPARSE, "x509: cannot parse certificate DER");
        goto fail;
    }
    if ((size_t)(p - (const unsigned char *)der) != len) {
        rc = weft_err_set(err, WEFT_EPARSE, "x509: trailing bytes after certificate");
        goto fail;
    }
    c->der = weft_memdup(der, len);
    if (c->der == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "x509: out of memory");
        goto fail;
    }
    c->der_len = len;
    if ((rc = decode_fields(c, err)) != 0) {
        goto fail;
    }
    *out = c;
    return 0;
fail:
    ERR_clear_error();
    x509_destroy(c);
    return rc;
}

int crypto__x509_wrap(X509 *x, struct weft_x509 **out, struct weft_err *err)
{
    if (x == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "x509: NULL argument");
    }
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    if (n <= 0) {
        return crypto__ossl_err(err, WEFT_ECRYPTO, "x509: encode");
    }
    int rc = weft_x509_parse_der(der, (size_t)n, out, err);
    OPENSSL_free(der);
    return rc;
}

/* Iterates PEM blocks; for each CERTIFICATE calls fn. Stops at the first
 * block when one_only. Returns number of certificates or an error. */
static int pem_each(const void *pem, size_t len, bool one_only, struct weft_x509 ***arr, size_t *n,
                    struct weft_err *err)
{
    if (pem == NULL || len == 0) {
        return weft_err_set(err, WEFT_EPARSE, "x509: empty PEM");
    }
    if (len > X509_MAX_INPUT * 16) {
        return weft_err_set(err, WEFT_ETOOBIG, "x509: PEM input too large");
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "x509: out of memory");
    }
    int rc = 0;
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long dlen = 0;
        if (PEM_read_bio(bio, &name, &header, &data, &dlen) != 1) {
            ERR_clear_error();
            break;
        }
        if (strcmp(name, "CERTIFICATE") == 0) {
            struct weft_x509 *c = NULL;
            rc = weft_x509_parse_der(data, (size_t)dlen, &c, err);
            if (rc == 0) {
                struct weft_x509 **na = weft_realloc(*arr, (*n + 1) * sizeof(*na));
                if (na == NULL) {
                    weft_x509_free(c);
                    rc = weft_err_set(err, WEFT_ENOMEM, "x509: out of memory");
                } else {
                    na[(*n)++] = c;
                    *arr = na;
                }
            }
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
        if (rc != 0 || (one_only && *n == 1)) {
            break;
        }
    }
    BIO_free(bio);
    if (rc == 0 && *n == 0) {
        rc = weft_err_set(err, WEFT_EPARSE, "x509: no CERTIFICATE PEM block");
    }
    return rc;
}

int weft_x509_parse_pem(const void *pem, size_t len, struct weft_x509 **out, struct weft_err *err)
{
    if (out == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "x509: NULL argument");
    }
    struct weft_x509 **arr = NULL;
    size_t n = 0;
    int rc = pem_each(pem, len, true, &arr, &n, err);
    if (rc == 0) {
        *out = arr[0];
        weft_free(arr);
        return 0;
    }
    weft_x509_array_free(arr, n);
    return rc;
}

int weft_x509_parse_pem_all(const void *pem, size_t len, struct weft_x509 ***out, size_t *n,
                            struct weft_err *err)
{
    if (out == NULL || n == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "x509: NULL argument");
    }
    struct weft_x509 **arr = NULL;
    size_t cnt = 0;
    int rc = pem_each(pem, len, false, &arr, &cnt, err);
    if (rc != 0) {
        weft_x509_array_free(arr, cnt);
        return rc;
    }
    *out = arr;
    *n = cnt;
    return 0;
}

void weft_x509_array_free(struct weft_x509 **certs, size_t n)
{
    if (certs == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        weft_x509_free(certs[i]);
    }
    weft_free(certs);
}

struct weft_x509 *weft_x509_ref(struct weft_x509 *cert)
{
    if (cert != NULL) {
        atomic_fetch_add_explicit(&cert->refs, 1, memory_order_relaxed);
    }
    return cert;
}

void weft_x509_free(struct weft_x509 *cert)
{
    if (cert == NULL) {
        return;
    }
    if (atomic_fetch_sub_explicit(&cert->refs, 1, memory_order_acq_rel) == 1) {
        x509_destroy(cert);
    }
}

const uint8_t *weft_x509_der(const struct weft_x509 *cert, size_t *len)
{
    if (len != NULL) {
        *len = cert->der_len;
    }
    return cert->der;
}

const uint8_t *weft_x509_der_hash(const struct weft_x509 *cert)
{
    return cert->der_hash;
}

int weft_x509_to_pem(const struct weft_x509 *cert, char **pem, size_t *len, struct weft_err *err)
{
    if (cert == NULL || pem == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "x509: NULL argument");
    }
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "x509: out of memory");
    }
    int rc = 0;
    char *mem = NULL;
    long n = 0;
    if (PEM_write_bio(bio, "CERTIFICATE", "", cert->der, (long)cert->der_len) <= 0 ||
        (n = BIO_get_mem_data(bio, &mem)) <= 0) {
        rc = crypto__ossl_err(err, WEFT_ECRYPTO, "x509: write PEM");
    } else {
        char *s = weft_strndup(mem, (size_t)n);
        if (s == NULL) {
            rc = weft_err_set(err, WEFT_ENOMEM, "x509: out of memory");
        } else {
            *pem = s;
            if (len != NULL) {
                *len = (size_t)n;
            }
        }
    }
    BIO_free(bio);
    return rc;
}

/* ---- sanitized DER (low-S certificate signature) ------------------------ */

/* Reads a DER header (any tag) at der[*off]; returns content length and
 * advances *off past the header, or -1. */
static long der_any(const uint8_t *der, size_t len, size_t *off, uint8_t *tag)
{
    size_t o = *off;
    if (o + 2 > len) {
        return -1;
    }
    *tag = der[o++];
    size_t clen = der[o++];
    if (clen & 0x80) {
        size_t nb = clen & 0x7f;
        if (nb == 0 || nb > 4 || o + nb > len) {
            return -1;
        }
        clen = 0;
        for (size_t i = 0; i < nb; i++) {
            clen = (clen << 8) | der[o++];
        }
    }
    if (clen > len - o) {
        return -1;
    }
    *off = o;
    return (long)clen;
}

static size_t der_put_header(uint8_t *out, uint8_t tag, size_t len)
{
    size_t o = 0;
    out[o++] = tag;
    if (len < 0x80) {
        out[o++] = (uint8_t)len;
    } else if (len <= 0xff) {
        out[o++] = 0x81;
        out[o++] = (uint8_t)len;
    } else if (len <= 0xffff) {
        out[o++] = 0x82;
        out[o++] = (uint8_t)(len >> 8);
        out[o++] = (uint8_t)len;
    } else {
        out[o++] = 0x83;
        out[o++] = (uint8_t)(len >> 16);
        out[o++] = (uint8_t)(len >> 8);
        out[o++] = (uint8_t)len;
    }
    return o;
}

int weft_x509_sanitized_der(const struct weft_x509 *cert, uint8_t **der, size_t *len,
                            struct weft_err *err)
{
    if (cert == NULL || der == NULL || len == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "x509: NULL argument");
    }
    int nid = X509_get_signature_nid(cert->x);
    bool ecdsa = nid == NID_ecdsa_with_SHA256 || nid == NID_ecdsa_with_SHA384 ||
                 nid == NID_ecdsa_with_SHA512 || nid == NID_ecdsa_with_SHA224 ||
                 nid == NID_ecdsa_with_SHA1;
    const uint8_t *d = cert->der;
    size_t dl = cert->der_len;
    size_t off = 0;
    uint8_t tag = 0;
    long outer = der_any(d, dl, &off, &tag);
    size_t tbs_start = off;
    long tbs = outer >= 0 ? der_any(d, dl, &off, &tag) : -1;
    size_t alg_start = tbs >= 0 ? off + (size_t)tbs : 0;
    off = alg_start;
    long alg = tbs >= 0 ? der_any(d, dl, &off, &tag) : -1;
    size_t bits_at = alg >= 0 ? off + (size_t)alg : 0;
    off = bits_at;
    long bits = alg >= 0 ? der_any(d, dl, &off, &tag) : -1;
    if (bits < 2 || tag != 0x03 || d[off] != 0) {
        return weft_err_set(err, WEFT_EPARSE, "x509: unexpected certificate layout");
    }
    const uint8_t *sig = d + off + 1;
    size_t sig_len = (size_t)bits - 1;
    uint8_t low[WEFT_ECDSA_SIG_MAX];
    size_t low_len = 0;
    if (!ecdsa || weft_ecdsa_sig_is_low_s(sig, sig_len) != 0 ||
        weft_ecdsa_sig_normalize(sig, sig_len, low, &low_len) != 0) {
        /* Not ECDSA, already low-S, or not a P-256-sized signature: as is. */
        *der = weft_memdup(d, dl);
        if (*der == NULL) {
            return weft_err_set(err, WEFT_ENOMEM, "x509: out of memory");
        }
        *len = dl;
        return 0;
    }
    /* Rebuild: SEQUENCE { tbs || alg || BIT STRING { 0x00 || low } }. */
    size_t head_len = bits_at - tbs_start; /* tbs and alg, with their headers */
    uint8_t bit_hdr[8];
    size_t bit_hdr_len = der_put_header(bit_hdr, 0x03, low_len + 1);
    size_t body = head_len + bit_hdr_len + 1 + low_len;
    uint8_t outer_hdr[8];
    size_t outer_hdr_len = der_put_header(outer_hdr, 0x30, body);
    uint8_t *buf = weft_malloc(outer_hdr_len + body);
    if (buf == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "x509: out of memory");
    }
    size_t o = 0;
    memcpy(buf + o, outer_hdr, outer_hdr_len);
    o += outer_hdr_len;
    memcpy(buf + o, d + tbs_start, head_len);
    o += head_len;
    memcpy(buf + o, bit_hdr, bit_hdr_len);
    o += bit_hdr_len;
    buf[o++] = 0x00;
    memcpy(buf + o, low, low_len);
    o += low_len;
    *der = buf;
    *len = o;
    return 0;
}

/* ---- accessors ---------------------------------------------------------- */

const char *weft_x509_subject(const struct weft_x509 *cert)
{
    return cert->subject;
}

const char *weft_x509_issuer(const struct weft_x509 *cert)
{
    return cert->issuer;
}

const struct weft_x509_name *weft_x509_subject_name(const struct weft_x509 *cert)
{
    return &cert->subj.pub;
}

const struct weft_x509_name *weft_x509_issuer_name(const struct weft_x509 *cert)
{
    return &cert->iss.pub;
}

static const uint8_t *name_der(const X509_NAME *name, size_t *len)
{
    const unsigned char *p = NULL;
    size_t n = 0;
    if (X509_NAME_get0_der((X509_NAME *)name, &p, &n) != 1) {
        p = NULL;
        n = 0;
    }
    if (len != NULL) {
        *len = n;
    }
    return p;
}

const uint8_t *weft_x509_subject_der(const struct weft_x509 *cert, size_t *len)
{
    return name_der(X509_get_subject_name(cert->x), len);
}

const uint8_t *weft_x509_issuer_der(const struct weft_x509 *cert, size_t *len)
{
    return name_der(X509_get_issuer_name(cert->x), len);
}

size_t weft_x509_ou_count(const struct weft_x509 *cert)
{
    return cert->subj.f[F_OU].n;
}

const char *weft_x509_ou(const struct weft_x509 *cert, size_t i)
{
    return i < cert->subj.f[F_OU].n ? cert->subj.f[F_OU].v[i] : NULL;
}

const uint8_t *weft_x509_serial(const struct weft_x509 *cert, size_t *len)
{
    if (len != NULL) {
        *len = cert->serial_len;
    }
    return cert->serial;
}

const char *weft_x509_serial_hex(const struct weft_x509 *cert)
{
    return cert->serial_hex;
}

size_t weft_x509_san_dns_count(const struct weft_x509 *cert)
{
    return cert->san_dns.n;
}

const char *weft_x509_san_dns(const struct weft_x509 *cert, size_t i)
{
    return i < cert->san_dns.n ? cert->san_dns.v[i] : NULL;
}

size_t weft_x509_san_ip_count(const struct weft_x509 *cert)
{
    return cert->san_ip_str.n;
}

const uint8_t *weft_x509_san_ip(const struct weft_x509 *cert, size_t i, size_t *len)
{
    if (i >= cert->san_ip_str.n) {
        return NULL;
    }
    if (len != NULL) {
        *len = cert->san_ip_len[i];
    }
    return cert->san_ip[i];
}

const char *weft_x509_san_ip_str(const struct weft_x509 *cert, size_t i)
{
    return i < cert->san_ip_str.n ? cert->san_ip_str.v[i] : NULL;
}

size_t weft_x509_san_email_count(const struct weft_x509 *cert)
{
    return cert->san_email.n;
}

const char *weft_x509_san_email(const struct weft_x509 *cert, size_t i)
{
    return i < cert->san_email.n ? cert->san_email.v[i] : NULL;
}

int64_t weft_x509_not_before(const struct weft_x509 *cert)
{
    return cert->not_before;
}

int64_t weft_x509_not_after(const struct weft_x509 *cert)
{
    return cert->not_after;
}

bool weft_x509_valid_at(const struct weft_x509 *cert, int64_t at)
{
    return cert->not_before <= at && at <= cert->not_after;
}

uint32_t weft_x509_key_usage(const struct weft_x509 *cert, bool *present)
{
    if (present != NULL) {
        *present = cert->ku_present;
    }
    return cert->ku;
}

uint32_t weft_x509_ext_key_usage(const struct weft_x509 *cert, bool *present)
{
    if (present != NULL) {
        *present = cert->eku_present;
    }
    return cert->eku;
}

bool weft_x509_is_ca(const struct weft_x509 *cert)
{
    return cert->is_ca;
}

bool weft_x509_has_basic_constraints(const struct weft_x509 *cert)
{
    return cert->has_bc;
}

int weft_x509_path_len(const struct weft_x509 *cert)
{
    return cert->path_len;
}

const uint8_t *weft_x509_ski(const struct weft_x509 *cert, size_t *len)
{
    const ASN1_OCTET_STRING *s = X509_get0_subject_key_id(cert->x);
    if (len != NULL) {
        *len = s != NULL ? (size_t)ASN1_STRING_length(s) : 0;
    }
    return s != NULL ? ASN1_STRING_get0_data(s) : NULL;
}

const uint8_t *weft_x509_aki(const struct weft_x509 *cert, size_t *len)
{
    const ASN1_OCTET_STRING *s = X509_get0_authority_key_id(cert->x);
    if (len != NULL) {
        *len = s != NULL ? (size_t)ASN1_STRING_length(s) : 0;
    }
    return s != NULL ? ASN1_STRING_get0_data(s) : NULL;
}

struct weft_key *weft_x509_key(const struct weft_x509 *cert)
{
    return cert->key;
}

bool weft_x509_issued_by(const struct weft_x509 *cert, const struct weft_x509 *issuer)
{
    if (cert == NULL || issuer == NULL) {
        return false;
    }
    if (X509_NAME_cmp(X509_get_issuer_name(cert->x), X509_get_subject_name(issuer->x)) != 0) {
        return false;
    }
    EVP_PKEY *pk = X509_get0_pubkey(issuer->x);
    bool ok = pk != NULL && X509_verify(cert->x, pk) == 1;
    ERR_clear_error();
    return ok;
}

bool weft_x509_equal(const struct weft_x509 *a, const struct weft_x509 *b)
{
    return a != NULL && b != NULL && a->der_len == b->der_len &&
           memcmp(a->der, b->der, a->der_len) == 0;
}
