/*
 * Caller identity cache. See rpc_internal.h for the design: entries are
 * keyed by the connection's grpc_auth_context address, hold a reference on
 * it (so the address cannot be reused while cached) and are evicted in bulk
 * (the unused ones) when RPC_IDENT_MAX is reached, which bounds memory
 * whatever the number of connections seen.
 */
#define _GNU_SOURCE /* memmem */
#include <string.h>

#include <openssl/evp.h>

#include "rpc_internal.h"

static size_t bucket_of(const void *p)
{
    uintptr_t v = (uintptr_t)p;
    v ^= v >> 17;
    v *= 0x9E3779B97F4A7C15ull;
    return (size_t)(v >> 56) % RPC_IDENT_BUCKETS;
}

void rpc_ident_cache_init(struct rpc_ident_cache *ic)
{
    memset(ic, 0, sizeof(*ic));
    pthread_mutex_init(&ic->lock, NULL);
}

static void ident_free(struct rpc_ident *id)
{
    grpc_auth_context_release(id->ac);
    weft_free(id->pem);
    weft_free(id);
}

/* Drops entries only the cache refers to. Lock held. */
static void evict_unused_locked(struct rpc_ident_cache *ic)
{
    for (size_t b = 0; b < RPC_IDENT_BUCKETS; b++) {
        struct rpc_ident **pp = &ic->buckets[b];
        while (*pp != NULL) {
            struct rpc_ident *id = *pp;
            if (id->refs == 1) {
                *pp = id->next;
                ic->count--;
                ident_free(id);
            } else {
                pp = &id->next;
            }
        }
    }
}

void rpc_ident_cache_close(struct rpc_ident_cache *ic)
{
    for (size_t b = 0; b < RPC_IDENT_BUCKETS; b++) {
        struct rpc_ident *id = ic->buckets[b];
        while (id != NULL) {
            struct rpc_ident *next = id->next;
            ident_free(id);
            id = next;
        }
        ic->buckets[b] = NULL;
    }
    ic->count = 0;
    pthread_mutex_destroy(&ic->lock);
}

struct rpc_ident *rpc_ident_get(struct rpc_ident_cache *ic, grpc_call *call)
{
    grpc_auth_context *ac = grpc_call_auth_context(call);
    if (ac == NULL) {
        return NULL;
    }
    size_t b = bucket_of(ac);
    pthread_mutex_lock(&ic->lock);
    for (struct rpc_ident *id = ic->buckets[b]; id != NULL; id = id->next) {
        if (id->ac == ac) {
            id->refs++;
            pthread_mutex_unlock(&ic->lock);
            grpc_auth_context_release(ac); /* the cache holds one already */
            return id;
        }
    }
    pthread_mutex_unlock(&ic->lock);

    struct rpc_ident *id = weft_calloc(1, sizeof(*id));
    if (id == NULL) {
        grpc_auth_context_release(ac);
        return NULL;
    }
    id->ac = ac;
    id->hash_rc = 1;
    grpc_auth_property_iterator it =
        grpc_auth_context_find_properties_by_name(ac, GRPC_X509_PEM_CERT_PROPERTY_NAME);
    const grpc_auth_property *prop = grpc_auth_property_iterator_next(&it);
    if (prop != NULL && prop->value != NULL && prop->value_length > 0) {
        id->pem = weft_strndup(prop->value, prop->value_length);
        if (id->pem == NULL) {
            ident_free(id);
            return NULL;
        }
        id->pem_len = prop->value_length;
    }

    pthread_mutex_lock(&ic->lock);
    for (struct rpc_ident *o = ic->buckets[b]; o != NULL; o = o->next) {
        if (o->ac == ac) { /* another thread inserted it meanwhile */
            o->refs++;
            pthread_mutex_unlock(&ic->lock);
            ident_free(id); /* releases our duplicate reference on ac */
            return o;
        }
    }
    if (ic->count >= RPC_IDENT_MAX) {
        evict_unused_locked(ic);
    }
    if (ic->count < RPC_IDENT_MAX) {
        id->cached = true;
        id->refs = 2;
        id->next = ic->buckets[b];
        ic->buckets[b] = id;
        ic->count++;
    } else {
        id->refs = 1; /* every cached entry in use: serve uncached */
    }
    pthread_mutex_unlock(&ic->lock);
    return id;
}

void rpc_ident_put(struct rpc_ident_cache *ic, struct rpc_ident *id)
{
    if (id == NULL) {
        return;
    }
    pthread_mutex_lock(&ic->lock);
    bool last = --id->refs == 0;
    pthread_mutex_unlock(&ic->lock);
    if (last) {
        ident_free(id);
    }
}

/* Base64 body of the first CERTIFICATE block → DER → SHA-256. */
static int pem_cert_hash(const char *pem, size_t len, uint8_t out[32])
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    static const char end[] = "-----END CERTIFICATE-----";
    const char *b = memmem(pem, len, begin, sizeof(begin) - 1);
    if (b == NULL) {
        return WEFT_EPARSE;
    }
    b += sizeof(begin) - 1;
    const char *e = memmem(b, len - (size_t)(b - pem), end, sizeof(end) - 1);
    if (e == NULL) {
        return WEFT_EPARSE;
    }
    size_t n = (size_t)(e - b);
    char *b64 = weft_malloc(n + 1);
    uint8_t *der = weft_malloc(n);
    int rc = WEFT_ENOMEM;
    if (b64 == NULL || der == NULL) {
        goto cleanup;
    }
    size_t m = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = b[i];
        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') {
            continue;
        }
        if (ch == '=') {
            pad++;
        }
        b64[m++] = ch;
    }
    rc = WEFT_EPARSE;
    if (m == 0 || m % 4 != 0 || pad > 2 || m > INT32_MAX) {
        goto cleanup;
    }
    int dl = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)m);
    if (dl < 0 || (size_t)dl < pad) {
        goto cleanup;
    }
    unsigned int hl = 0;
    if (EVP_Digest(der, (size_t)dl - pad, out, &hl, EVP_sha256(), NULL) != 1 || hl != 32) {
        rc = WEFT_ECRYPTO;
        goto cleanup;
    }
    rc = 0;
cleanup:
    weft_free(b64);
    weft_free(der);
    return rc;
}

int rpc_ident_hash(struct rpc_ident_cache *ic, struct rpc_ident *id, uint8_t out[32])
{
    if (id == NULL || id->pem == NULL) {
        return WEFT_ENOTFOUND;
    }
    pthread_mutex_lock(&ic->lock);
    int rc = id->hash_rc;
    if (rc == 0) {
        memcpy(out, id->hash, 32);
    }
    pthread_mutex_unlock(&ic->lock);
    if (rc != 1) {
        return rc;
    }
    uint8_t h[32];
    rc = pem_cert_hash(id->pem, id->pem_len, h);
    pthread_mutex_lock(&ic->lock);
    if (rc != WEFT_ENOMEM) {
        id->hash_rc = rc;
        memcpy(id->hash, h, 32);
    }
    pthread_mutex_unlock(&ic->lock);
    if (rc == 0) {
        memcpy(out, h, 32);
    }
    return rc;
}
