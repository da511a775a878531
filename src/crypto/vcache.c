/*
 * Verification cache (struct weft_vcache): a bounded set of signature
 * verdicts, so the same (signer, digest, signature) is never checked twice
 * while it stays cached (a transaction's signatures are seen by the endorser,
 * the orderer's broadcast filter and the committer of the same process).
 *
 * Design: keys are SHA-256 values, already uniformly distributed, so their
 * first bytes serve as the hash. The cache is split into shards, each with
 * its own mutex, so the parallel verifier's threads rarely contend. A shard
 * preallocates its entries as a ring: inserting into a full shard reuses the
 * oldest slot (FIFO eviction), so memory is fixed at creation and an insert
 * never allocates or fails. Buckets are singly linked lists of slot indices.
 * Counters are atomics outside the locks.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "internal.h"

#define VC_MAX_SHARDS 16
#define VC_NIL UINT32_MAX

struct vc_entry {
    uint8_t key[WEFT_SHA256_LEN];
    uint32_t next; /* next slot in the same bucket */
    bool used;
    bool valid;
};

struct vc_shard {
    pthread_mutex_t lock;
    struct vc_entry *slots;
    uint32_t *buckets;
    uint32_t nslots;
    uint32_t bucket_mask;
    uint32_t head; /* next slot to fill / evict */
    uint32_t count;
};

struct weft_vcache {
    struct vc_shard shards[VC_MAX_SHARDS];
    unsigned nshards;
    size_t capacity;
    atomic_uint_fast64_t hits;
    atomic_uint_fast64_t misses;
    atomic_uint_fast64_t inserts;
    atomic_uint_fast64_t evictions;
};

static uint64_t key_hash(const uint8_t key[WEFT_SHA256_LEN])
{
    uint64_t h;
    memcpy(&h, key, sizeof(h));
    return h;
}

struct weft_vcache *weft_vcache_new(size_t capacity)
{
    if (capacity == 0 || capacity > (1u << 30)) {
        return NULL;
    }
    struct weft_vcache *c = weft_calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->nshards = capacity < VC_MAX_SHARDS ? (unsigned)capacity : VC_MAX_SHARDS;
    size_t per = capacity / c->nshards;
    c->capacity = per * c->nshards;
    for (unsigned i = 0; i < c->nshards; i++) {
        struct vc_shard *s = &c->shards[i];
        uint32_t nb = 1;
        while (nb < per) {
            nb <<= 1;
        }
        s->nslots = (uint32_t)per;
        s->bucket_mask = nb - 1;
        s->slots = weft_calloc(per, sizeof(*s->slots));
        s->buckets = weft_malloc(nb * sizeof(*s->buckets));
        if (s->slots == NULL || s->buckets == NULL) {
            weft_free(s->slots);
            weft_free(s->buckets);
            s->slots = NULL;
            s->buckets = NULL;
            c->nshards = i;
            weft_vcache_free(c);
            return NULL;
        }
        memset(s->buckets, 0xff, nb * sizeof(*s->buckets));
        pthread_mutex_init(&s->lock, NULL);
    }
    return c;
}

void weft_vcache_free(struct weft_vcache *c)
{
    if (c == NULL) {
        return;
    }
    for (unsigned i = 0; i < c->nshards; i++) {
        pthread_mutex_destroy(&c->shards[i].lock);
        weft_free(c->shards[i].slots);
        weft_free(c->shards[i].buckets);
    }
    weft_free(c);
}

void weft_vcache_key(const uint8_t signer[WEFT_SHA256_LEN], const uint8_t digest[WEFT_SHA256_LEN],
                     const uint8_t *sig, size_t sig_len, uint8_t key[WEFT_SHA256_LEN])
{
    /* len64(I) || I || digest || len64(sig) || sig, lengths big-endian. */
    uint8_t buf[8 + WEFT_SHA256_LEN + WEFT_SHA256_LEN + 8 + 256];
    size_t o = 0;
    uint64_t il = WEFT_SHA256_LEN;
    for (int i = 7; i >= 0; i--) {
        buf[o++] = (uint8_t)(il >> (8 * i));
    }
    memcpy(buf + o, signer, WEFT_SHA256_LEN);
    o += WEFT_SHA256_LEN;
    memcpy(buf + o, digest, WEFT_SHA256_LEN);
    o += WEFT_SHA256_LEN;
    uint64_t sl = sig_len;
    for (int i = 7; i >= 0; i--) {
        buf[o++] = (uint8_t)(sl >> (8 * i));
    }
    if (sig_len <= 256) {
        if (sig_len > 0) {
            memcpy(buf + o, sig, sig_len);
        }
        weft_sha256(buf, o + sig_len, key);
        return;
    }
    /* Oversized signature (never valid, but must still key distinctly). */
    uint8_t sh[WEFT_SHA256_LEN];
    weft_sha256(sig, sig_len, sh);
    memcpy(buf + o, sh, sizeof(sh));
    weft_sha256(buf, o + sizeof(sh), key);
}

static struct vc_shard *shard_of(struct weft_vcache *c, uint64_t h)
{
    return &c->shards[(h >> 56) % c->nshards];
}

/* Finds key in s; returns slot index or VC_NIL. Caller holds the lock. */
static uint32_t shard_find(struct vc_shard *s, const uint8_t key[WEFT_SHA256_LEN], uint64_t h)
{
    uint32_t i = s->buckets[h & s->bucket_mask];
    while (i != VC_NIL) {
        if (memcmp(s->slots[i].key, key, WEFT_SHA256_LEN) == 0) {
            return i;
        }
        i = s->slots[i].next;
    }
    return VC_NIL;
}

int weft_vcache_lookup(struct weft_vcache *c, const uint8_t key[WEFT_SHA256_LEN], bool *valid)
{
    if (c == NULL || key == NULL) {
        return WEFT_EINVAL;
    }
    uint64_t h = key_hash(key);
    struct vc_shard *s = shard_of(c, h);
    pthread_mutex_lock(&s->lock);
    uint32_t i = shard_find(s, key, h);
    bool v = i != VC_NIL && s->slots[i].valid;
    pthread_mutex_unlock(&s->lock);
    if (i == VC_NIL) {
        atomic_fetch_add_explicit(&c->misses, 1, memory_order_relaxed);
        return WEFT_ENOTFOUND;
    }
    atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
    if (valid != NULL) {
        *valid = v;
    }
    return 0;
}

/* Unlinks slot i from its bucket chain. */
static void shard_unlink(struct vc_shard *s, uint32_t i)
{
    uint64_t h = key_hash(s->slots[i].key);
    uint32_t *link = &s->buckets[h & s->bucket_mask];
    while (*link != VC_NIL) {
        if (*link == i) {
            *link = s->slots[i].next;
            return;
        }
        link = &s->slots[*link].next;
    }
}

void weft_vcache_insert(struct weft_vcache *c, const uint8_t key[WEFT_SHA256_LEN], bool valid)
{
    if (c == NULL || key == NULL) {
        return;
    }
    uint64_t h = key_hash(key);
    struct vc_shard *s = shard_of(c, h);
    bool evicted = false;
    pthread_mutex_lock(&s->lock);
    uint32_t i = shard_find(s, key, h);
    if (i != VC_NIL) {
        s->slots[i].valid = valid;
    } else {
        i = s->head;
        s->head = (s->head + 1) % s->nslots;
        struct vc_entry *e = &s->slots[i];
        if (e->used) {
            shard_unlink(s, i);
            evicted = true;
        } else {
            s->count++;
        }
        memcpy(e->key, key, WEFT_SHA256_LEN);
        e->valid = valid;
        e->used = true;
        uint32_t *b = &s->buckets[h & s->bucket_mask];
        e->next = *b;
        *b = i;
    }
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add_explicit(&c->inserts, 1, memory_order_relaxed);
    if (evicted) {
        atomic_fetch_add_explicit(&c->evictions, 1, memory_order_relaxed);
    }
}

void weft_vcache_get_stats(struct weft_vcache *c, struct weft_vcache_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (c == NULL) {
        return;
    }
    out->hits = atomic_load(&c->hits);
    out->misses = atomic_load(&c->misses);
    out->inserts = atomic_load(&c->inserts);
    out->evictions = atomic_load(&c->evictions);
    out->capacity = c->capacity;
    for (unsigned i = 0; i < c->nshards; i++) {
        pthread_mutex_lock(&c->shards[i].lock);
        out->size += c->shards[i].count;
        pthread_mutex_unlock(&c->shards[i].lock);
    }
}

void weft_vcache_clear(struct weft_vcache *c)
{
    if (c == NULL) {
        return;
    }
    for (unsigned i = 0; i < c->nshards; i++) {
        struct vc_shard *s = &c->shards[i];
        pthread_mutex_lock(&s->lock);
        memset(s->slots, 0, s->nslots * sizeof(*s->slots));
        memset(s->buckets, 0xff, (s->bucket_mask + 1) * sizeof(*s->buckets));
        s->head = 0;
        s->count = 0;
        pthread_mutex_unlock(&s->lock);
    }
}
