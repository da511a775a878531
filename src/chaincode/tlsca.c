/*
 * The chaincode TLS CA (spec chaincode.md §6, Fabric's core/chaincode
 * accesscontrol): when the peer's chaincode listener serves mutual TLS, the
 * peer makes at start a throw-away CA held in memory (a new one every run,
 * as Fabric's peer does), trusts only it for client certificates on the
 * listener, and issues one client key pair per launched chaincode. The
 * SHA-256 of each issued certificate's DER is bound to the chaincode name it
 * was issued for; a REGISTER is accepted only when the connection's client
 * certificate hash is bound to the name being registered. A binding expires
 * after WEFT_CC_TLS_BINDING_TTL_S (Fabric: 10 minutes), long enough for the
 * process to start and register; the TLS session it opened stays valid.
 *
 * Locking: ca->mu guards the binding table; the CA certificate and key are
 * immutable after weft_cc_tlsca_new.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cc_internal.h"
#include "weft/crypto.h"
#include "weft/crypto_issue.h"

struct tls_binding {
    uint8_t hash[32];
    char *name;
    uint64_t expires_ns;
};

struct weft_cc_tlsca {
    struct weft_key *key;
    struct weft_x509 *cert;
    char *cert_pem;
    pthread_mutex_t mu;
    struct tls_binding *b; /* guarded by mu */
    size_t n, cap;
    int64_t ttl_s;
};

int weft_cc_tlsca_new(struct weft_cc_tlsca **out, struct weft_err *err)
{
    struct weft_cc_tlsca *ca = weft_calloc(1, sizeof(*ca));
    if (ca == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&ca->mu, NULL);
    ca->ttl_s = WEFT_CC_TLS_BINDING_TTL_S;
    int64_t now = (int64_t)(weft_clock_wall_ns() / 1000000000u);
    struct weft_cert_template t = {
        .organization = "weft",
        .common_name = "weft chaincode TLS CA",
        .is_ca = true,
        .key_usage = WEFT_X509_KU_DIGITAL_SIGNATURE | WEFT_X509_KU_KEY_ENCIPHERMENT |
                     WEFT_X509_KU_KEY_CERT_SIGN | WEFT_X509_KU_CRL_SIGN,
        .ext_key_usage = WEFT_X509_EKU_CLIENT_AUTH | WEFT_X509_EKU_SERVER_AUTH,
        .ext_key_usage_client_first = true,
        .not_before = now - 300,
        .not_after = now + 10 * 365 * 86400,
    };
    size_t len = 0;
    int rc = weft_key_generate(&ca->key, err);
    if (rc == 0) {
        rc = weft_x509_issue(&t, ca->key, NULL, NULL, &ca->cert, err);
    }
    if (rc == 0) {
        rc = weft_x509_to_pem(ca->cert, &ca->cert_pem, &len, err);
    }
    if (rc != 0) {
        weft_cc_tlsca_free(ca);
        return weft_err_prefix(err, "chaincode TLS CA");
    }
    *out = ca;
    return 0;
}

void weft_cc_tlsca_free(struct weft_cc_tlsca *ca)
{
    if (ca == NULL) {
        return;
    }
    for (size_t i = 0; i < ca->n; i++) {
        weft_free(ca->b[i].name);
    }
    weft_free(ca->b);
    weft_free(ca->cert_pem);
    weft_x509_free(ca->cert);
    weft_key_free(ca->key);
    pthread_mutex_destroy(&ca->mu);
    weft_free(ca);
}

const char *weft_cc_tlsca_cert_pem(const struct weft_cc_tlsca *ca)
{
    return ca->cert_pem;
}

void weft_cc_tlsca_set_ttl(struct weft_cc_tlsca *ca, int64_t seconds)
{
    pthread_mutex_lock(&ca->mu);
    ca->ttl_s = seconds;
    pthread_mutex_unlock(&ca->mu);
}

/* Drops expired bindings (ca->mu held). */
static void prune_locked(struct weft_cc_tlsca *ca, uint64_t now)
{
    for (size_t i = 0; i < ca->n;) {
        if (ca->b[i].expires_ns <= now) {
            weft_free(ca->b[i].name);
            ca->b[i] = ca->b[--ca->n];
        } else {
            i++;
        }
    }
}

static int bind_name(struct weft_cc_tlsca *ca, const uint8_t hash[32], const char *name)
{
    char *c = weft_strdup(name);
    if (c == NULL) {
        return WEFT_ENOMEM;
    }
    uint64_t now = weft_clock_mono_ns();
    pthread_mutex_lock(&ca->mu);
    prune_locked(ca, now);
    if (ca->n == ca->cap) {
        size_t nc = ca->cap ? ca->cap * 2 : 8;
        struct tls_binding *nb = weft_realloc(ca->b, nc * sizeof(*nb));
        if (nb == NULL) {
            pthread_mutex_unlock(&ca->mu);
            weft_free(c);
            return WEFT_ENOMEM;
        }
        ca->b = nb;
        ca->cap = nc;
    }
    memcpy(ca->b[ca->n].hash, hash, 32);
    ca->b[ca->n].name = c;
    ca->b[ca->n].expires_ns = now + (uint64_t)(ca->ttl_s > 0 ? ca->ttl_s : 0) * 1000000000u;
    ca->n++;
    pthread_mutex_unlock(&ca->mu);
    return 0;
}

int weft_cc_tlsca_issue(struct weft_cc_tlsca *ca, const char *name, char **cert_pem,
                        char **key_pem, size_t *key_pem_len, struct weft_err *err)
{
    *cert_pem = NULL;
    *key_pem = NULL;
    *key_pem_len = 0;
    int64_t now = (int64_t)(weft_clock_wall_ns() / 1000000000u);
    /* the binding is by hash; the CN only names it (X.509 caps it at 64) */
    char cn[65];
    snprintf(cn, sizeof(cn), "%s", name);
    struct weft_cert_template t = {
        .organization = "weft",
        .common_name = cn,
        .key_usage = WEFT_X509_KU_DIGITAL_SIGNATURE | WEFT_X509_KU_KEY_ENCIPHERMENT,
        .ext_key_usage = WEFT_X509_EKU_CLIENT_AUTH,
        .not_before = now - 300,
        .not_after = now + 365 * 86400,
    };
    struct weft_key *key = NULL;
    struct weft_x509 *cert = NULL;
    size_t len = 0;
    int rc = weft_key_generate(&key, err);
    if (rc == 0) {
        rc = weft_x509_issue(&t, key, ca->cert, ca->key, &cert, err);
    }
    if (rc == 0) {
        rc = weft_x509_to_pem(cert, cert_pem, &len, err);
    }
    if (rc == 0) {
        rc = weft_key_export_private_pem(key, key_pem, key_pem_len, err);
    }
    if (rc == 0) {
        rc = bind_name(ca, weft_x509_der_hash(cert), name);
        if (rc != 0) {
            weft_err_set(err, rc, "out of memory");
        }
    }
    if (rc != 0) {
        weft_free(*cert_pem);
        if (*key_pem != NULL) {
            weft_free_secret(*key_pem, *key_pem_len);
        }
        *cert_pem = NULL;
        *key_pem = NULL;
        *key_pem_len = 0;
        weft_err_prefix(err, "issue chaincode TLS certificate for %s", name);
    }
    weft_x509_free(cert);
    weft_key_free(key);
    return rc;
}

int weft_cc_tlsca_check(struct weft_cc_tlsca *ca, const uint8_t *hash, const char *name,
                        struct weft_err *err)
{
    if (hash == NULL) {
        return weft_err_set(err, WEFT_EPERM,
                            "TLS is active but chaincode %s didn't send certificate", name);
    }
    char hex[65];
    weft_crypto_hex(hash, 32, hex);
    pthread_mutex_lock(&ca->mu);
    prune_locked(ca, weft_clock_mono_ns());
    const char *bound = NULL;
    for (size_t i = 0; i < ca->n; i++) {
        if (memcmp(ca->b[i].hash, hash, 32) == 0) {
            bound = ca->b[i].name;
            break;
        }
    }
    int rc = 0;
    if (bound == NULL) {
        rc = weft_err_set(err, WEFT_EPERM,
                          "chaincode %s with given certificate hash %s not found in registry",
                          name, hex);
    } else if (strcmp(bound, name) != 0) {
        rc = weft_err_set(err, WEFT_EPERM,
                          "chaincode %s with given certificate hash %s belongs to a different "
                          "chaincode",
                          name, hex);
    }
    pthread_mutex_unlock(&ca->mu);
    return rc;
}

static const char b64t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *cc__base64(const void *data, size_t n)
{
    const uint8_t *d = data;
    char *o = weft_malloc((n + 2) / 3 * 4 + 1);
    if (o == NULL) {
        return NULL;
    }
    size_t j = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0u) |
                     (i + 2 < n ? (uint32_t)d[i + 2] : 0u);
        o[j++] = b64t[v >> 18 & 63];
        o[j++] = b64t[v >> 12 & 63];
        o[j++] = i + 1 < n ? b64t[v >> 6 & 63] : '=';
        o[j++] = i + 2 < n ? b64t[v & 63] : '=';
    }
    o[j] = 0;
    return o;
}
