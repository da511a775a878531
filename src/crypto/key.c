/*
 * ECDSA P-256 keys (struct weft_key): loading from PEM/DER, generation,
 * export, and the Fabric SKI.
 *
 * Design: a key wraps one EVP_PKEY and is immutable after construction, so
 * any number of threads may sign or verify with it at once (OpenSSL allows
 * concurrent use of a const EVP_PKEY). The uncompressed public point and the
 * SKI are computed once at load time because the MSP looks keys up by SKI and
 * the verification cache fingerprints public keys by their point.
 * Reference counting lets a certificate hand its cached key to verifier
 * items and MSP identities without copying.
 */
#include <stdatomic.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "internal.h"

struct weft_key {
    atomic_uint refs;
    bool priv;
    EVP_PKEY *pkey;
    /* Operation contexts initialised once; each sign/verify works on a cheap
     * EVP_PKEY_CTX_dup() of them (creating and initialising a context per
     * call costs about a third of a P-256 signature). Never used directly. */
    EVP_PKEY_CTX *sign_ctx;
    EVP_PKEY_CTX *verify_ctx;
    uint8_t point[WEFT_EC_POINT_LEN];
    uint8_t ski[WEFT_SKI_LEN];
};

EVP_PKEY *crypto__key_pkey(const struct weft_key *key)
{
    return key != NULL ? key->pkey : NULL;
}

EVP_PKEY_CTX *crypto__key_op_ctx(const struct weft_key *key, bool sign)
{
    const EVP_PKEY_CTX *tmpl = sign ? key->sign_ctx : key->verify_ctx;
    if (tmpl != NULL) {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_dup(tmpl);
        if (c != NULL) {
            return c;
        }
    }
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
    if (c != NULL && (sign ? EVP_PKEY_sign_init(c) : EVP_PKEY_verify_init(c)) != 1) {
        EVP_PKEY_CTX_free(c);
        c = NULL;
    }
    return c;
}

static EVP_PKEY_CTX *make_op_ctx(EVP_PKEY *pkey, bool sign)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (c != NULL && (sign ? EVP_PKEY_sign_init(c) : EVP_PKEY_verify_init(c)) != 1) {
        EVP_PKEY_CTX_free(c);
        c = NULL;
    }
    ERR_clear_error();
    return c; /* NULL is tolerated: crypto__key_op_ctx falls back */
}

/* Refuses to prompt for a passphrase: encrypted keys are a parse error. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

static bool is_p256(EVP_PKEY *pkey)
{
    if (!EVP_PKEY_is_a(pkey, "EC")) {
        return false;
    }
    char group[64];
    size_t glen = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &glen) != 1) {
        return false;
    }
    return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0;
}

int crypto__key_wrap(EVP_PKEY *pkey, struct weft_key **out, struct weft_err *err)
{
    if (pkey == NULL || out == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "key: NULL argument");
    }
    if (!is_p256(pkey)) {
        ERR_clear_error();
        return weft_err_set(err, WEFT_EUNSUPPORTED, "key: not an ECDSA P-256 key");
    }
    struct weft_key *k = weft_calloc(1, sizeof(*k));
    if (k == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "key: out of memory");
    }
    size_t plen = 0;
    if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, k->point, sizeof(k->point),
                                        &plen) != 1 ||
        plen != WEFT_EC_POINT_LEN || k->point[0] != 0x04) {
        /* A key stored with a compressed point: ask for the uncompressed form. */
        ERR_clear_error();
        if (EVP_PKEY_set_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                           "uncompressed") != 1 ||
            EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, k->point,
                                            sizeof(k->point), &plen) != 1 ||
            plen != WEFT_EC_POINT_LEN || k->point[0] != 0x04) {
            weft_free(k);
            return crypto__ossl_err(err, WEFT_EPARSE, "key: no usable public point");
        }
    }
    BIGNUM *d = NULL;
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1 && d != NULL) {
        k->priv = true;
    }
    BN_clear_free(d);
    ERR_clear_error();
    weft_sha256(k->point, sizeof(k->point), k->ski);
    k->verify_ctx = make_op_ctx(pkey, false);
    if (k->priv) {
        k->sign_ctx = make_op_ctx(pkey, true);
    }
    atomic_init(&k->refs, 1);
    k->pkey = pkey;
    *out = k;
    return 0;
}

static bool looks_pem(const void *data, size_t len)
{
    const char *s = data;
    /* Allow leading whitespace or text before the first PEM boundary. */
    for (size_t i = 0; i + 5 <= len && i < 4096; i++) {
        if (memcmp(s + i, "-----", 5) == 0) {
            return true;
        }
    }
    return false;
}

static int check_len(const void *data, size_t len, struct weft_err *err)
{
    if (data == NULL || len == 0) {
        return weft_err_set(err, WEFT_EPARSE, "key: empty input");
    }
    if (len > (1u << 20)) {
        return weft_err_set(err, WEFT_ETOOBIG, "key: input larger than 1 MiB");
    }
    return 0;
}

int weft_key_load_private(const void *data, size_t len, struct weft_key **out, struct weft_err *err)
{
    int rc = check_len(data, len, err);
    if (rc != 0) {
        return rc;
    }
    if (out == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "key: NULL argument");
    }
    EVP_PKEY *pkey = NULL;
    if (looks_pem(data, len)) {
        BIO *bio = BIO_new_mem_buf(data, (int)len);
        if (bio == NULL) {
            return weft_err_set(err, WEFT_ENOMEM, "key: out of memory");
        }
        pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
        BIO_free(bio);
    } else {
        const unsigned char *p = data;
        pkey = d2i_AutoPrivateKey(NULL, &p, (long)len);
    }
    if (pkey == NULL) {
        return crypto__ossl_err(err, WEFT_EPARSE, "key: cannot parse private key");
    }
    rc = crypto__key_wrap(pkey, out, err);
    if (rc != 0) {
        EVP_PKEY_free(pkey);
        return rc;
    }
    if (!(*out)->priv) {
        weft_key_free(*out);
        *out = NULL;
        return weft_err_set(err, WEFT_EPARSE, "key: no private scalar");
    }
    return 0;
}

int weft_key_load_public(const void *data, size_t len, struct weft_key **out, struct weft_err *err)
{
    int rc = check_len(data, len, err);
    if (rc != 0) {
        return rc;
    }
    if (out == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "key: NULL argument");
    }
    EVP_PKEY *pkey = NULL;
    if (looks_pem(data, len)) {
        BIO *bio = BIO_new_mem_buf(data, (int)len);
        if (bio == NULL) {
            return weft_err_set(err, WEFT_ENOMEM, "key: out of memory");
        }
        pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
        BIO_free(bio);
    } else {
        const unsigned char *p = data;
        pkey = d2i_PUBKEY(NULL, &p, (long)len);
    }
    if (pkey == NULL) {
        return crypto__ossl_err(err, WEFT_EPARSE, "key: cannot parse public key");
    }
    rc = crypto__key_wrap(pkey, out, err);
    if (rc != 0) {
        EVP_PKEY_free(pkey);
    }
    return rc;
}

int weft_key_from_point(const uint8_t *point, size_t len, struct weft_key **out,
                        struct weft_err *err)
{
    if (point == NULL || out == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "key: NULL argument");
    }
    if (len != WEFT_EC_POINT_LEN || point[0] != 0x04) {
        return weft_err_set(err, WEFT_EPARSE, "key: not an uncompressed P-256 point");
    }
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM params[3];
    params[0] =
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, len);
    params[2] = OSSL_PARAM_construct_end();
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return crypto__ossl_err(err, WEFT_EPARSE, "key: point not on P-256");
    }
    EVP_PKEY_CTX_free(ctx);
    int rc = crypto__key_wrap(pkey, out, err);
    if (rc != 0) {
        EVP_PKEY_free(pkey);
    }
    return rc;
}

int weft_key_generate(struct weft_key **out, struct weft_err *err)
{
    if (out == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "key: NULL argument");
    }
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (pkey == NULL) {
        return crypto__ossl_err(err, WEFT_ECRYPTO, "key: generate P-256");
    }
    int rc = crypto__key_wrap(pkey, out, err);
    if (rc != 0) {
        EVP_PKEY_free(pkey);
    }
    return rc;
}

struct weft_key *weft_key_ref(struct weft_key *key)
{
    if (key != NULL) {
        atomic_fetch_add_explicit(&key->refs, 1, memory_order_relaxed);
    }
    return key;
}

void weft_key_free(struct weft_key *key)
{
    if (key == NULL) {
        return;
    }
    if (atomic_fetch_sub_explicit(&key->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    EVP_PKEY_CTX_free(key->sign_ctx);
    EVP_PKEY_CTX_free(key->verify_ctx);
    EVP_PKEY_free(key->pkey); /* OpenSSL clears the private scalar */
    weft_free(key);
}

bool weft_key_is_private(const struct weft_key *key)
{
    return key != NULL && key->priv;
}

/* Copies a memory BIO's contents into a NUL-terminated weft buffer. */
static int bio_take(BIO *bio, char **out, size_t *out_len, bool secret, struct weft_err *err)
{
    char *mem = NULL;
    long n = BIO_get_mem_data(bio, &mem);
    if (n <= 0 || mem == NULL) {
        return crypto__ossl_err(err, WEFT_ECRYPTO, "key: export");
    }
    char *s = weft_malloc((size_t)n + 1);
    if (s == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "key: out of memory");
    }
    memcpy(s, mem, (size_t)n);
    s[n] = '\0';
    if (secret) {
        OPENSSL_cleanse(mem, (size_t)n);
    }
    *out = s;
    if (out_len != NULL) {
        *out_len = (size_t)n;
    }
    return 0;
}

int weft_key_export_private_pem(const struct weft_key *key, char **pem, size_t *len,
                                struct weft_err *err)
{
    if (key == NULL || pem == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "key: NULL argument");
    }
    if (!key->priv) {
        return weft_err_set(err, WEFT_EINVAL, "key: public-only key has no private part");
    }
    BIO *bio = BIO_new(BIO_s_secmem());
    if (bio == NULL) {
        bio = BIO_new(BIO_s_mem());
    }
    if (bio == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "key: out of memory");
    }
    int rc;
    if (PEM_write_bio_PKCS8PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        rc = crypto__ossl_err(err, WEFT_ECRYPTO, "key: write PKCS#8");
    } else {
        rc = bio_take(bio, pem, len, true, err);
    }
    BIO_free(bio);
    return rc;
}

int weft_key_export_public_pem(const struct weft_key *key, char **pem, size_t *len,
                               struct weft_err *err)
{
    if (key == NULL || pem == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "key: NULL argument");
    }
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "key: out of memory");
    }
    int rc;
    if (PEM_write_bio_PUBKEY(bio, key->pkey) != 1) {
        rc = crypto__ossl_err(err, WEFT_ECRYPTO, "key: write public key");
    } else {
        rc = bio_take(bio, pem, len, false, err);
    }
    BIO_free(bio);
    return rc;
}

int weft_key_export_public_der(const struct weft_key *key, uint8_t **der, size_t *len,
                               struct weft_err *err)
{
    if (key == NULL || der == NULL || len == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "key: NULL argument");
    }
    int n = i2d_PUBKEY(key->pkey, NULL);
    if (n <= 0) {
        return crypto__ossl_err(err, WEFT_ECRYPTO, "key: encode public key");
    }
    uint8_t *buf = weft_malloc((size_t)n);
    if (buf == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "key: out of memory");
    }
    unsigned char *p = buf;
    if (i2d_PUBKEY(key->pkey, &p) != n) {
        weft_free(buf);
        return crypto__ossl_err(err, WEFT_ECRYPTO, "key: encode public key");
    }
    *der = buf;
    *len = (size_t)n;
    return 0;
}

void weft_key_public_point(const struct weft_key *key, uint8_t out[WEFT_EC_POINT_LEN])
{
    memcpy(out, key->point, WEFT_EC_POINT_LEN);
}

void weft_key_ski(const struct weft_key *key, uint8_t out[WEFT_SKI_LEN])
{
    memcpy(out, key->ski, WEFT_SKI_LEN);
}

bool weft_key_public_equal(const struct weft_key *a, const struct weft_key *b)
{
    if (a == NULL || b == NULL) {
        return false;
    }
    return memcmp(a->point, b->point, WEFT_EC_POINT_LEN) == 0;
}

const uint8_t *crypto__key_fingerprint(const struct weft_key *key)
{
    return key->ski;
}
