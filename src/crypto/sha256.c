/*
 * SHA-256, one-shot and streaming.
 *
 * One-shot hashing uses OpenSSL's SHA256() which dispatches straight to the
 * CPU-specific code (SHA-NI / AVX2) without a provider fetch per call; the
 * hot paths (transaction ids, cache keys, signature digests) call it
 * millions of times. Streaming contexts use EVP with an algorithm fetched
 * once per process.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "internal.h"

struct weft_sha256 {
    EVP_MD_CTX *ctx;
};

static EVP_MD *g_sha256_md; /* fetched once; immutable afterwards */
static pthread_once_t g_sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    g_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256_md(void)
{
    pthread_once(&g_sha256_once, sha256_fetch);
    return g_sha256_md != NULL ? g_sha256_md : EVP_sha256();
}

void weft_sha256(const void *data, size_t len, uint8_t out[WEFT_SHA256_LEN])
{
    static const uint8_t empty[1] = {0};
    SHA256(data != NULL ? data : empty, data != NULL ? len : 0, out);
}

struct weft_sha256 *weft_sha256_new(void)
{
    struct weft_sha256 *h = weft_calloc(1, sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
    h->ctx = EVP_MD_CTX_new();
    if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, sha256_md(), NULL) != 1) {
        weft_sha256_free(h);
        return NULL;
    }
    return h;
}

int weft_sha256_update(struct weft_sha256 *h, const void *data, size_t len)
{
    if (h == NULL || (data == NULL && len != 0)) {
        return WEFT_EINVAL;
    }
    if (len == 0) {
        return 0;
    }
    return EVP_DigestUpdate(h->ctx, data, len) == 1 ? 0 : WEFT_ECRYPTO;
}

int weft_sha256_final(struct weft_sha256 *h, uint8_t out[WEFT_SHA256_LEN])
{
    if (h == NULL || out == NULL) {
        return WEFT_EINVAL;
    }
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(h->ctx, out, &n) != 1 || n != WEFT_SHA256_LEN) {
        return WEFT_ECRYPTO;
    }
    return weft_sha256_reset(h);
}

int weft_sha256_reset(struct weft_sha256 *h)
{
    if (h == NULL) {
        return WEFT_EINVAL;
    }
    return EVP_DigestInit_ex(h->ctx, sha256_md(), NULL) == 1 ? 0 : WEFT_ECRYPTO;
}

void weft_sha256_free(struct weft_sha256 *h)
{
    if (h == NULL) {
        return;
    }
    EVP_MD_CTX_free(h->ctx);
    weft_free(h);
}
