/*
 * MSP manager: the MSPs of one channel by ID, and a bounded cache of
 * deserialized identities keyed by their exact SerializedIdentity bytes.
 *
 * DESIGN. The MSP list is fixed after set-up (configtx builds a new manager
 * per config block), so lookups take no lock. The cache is a chained hash
 * table (bucket = low bits of a 64-bit FNV-1a of the bytes) plus a FIFO ring
 * for eviction, guarded by one mutex (lock: mgr->lock guards buckets, ring,
 * counters). Deserialization runs outside the lock; two threads racing on the
 * same new bytes both deserialize and the second insert is dropped.
 */
#include <string.h>

#include "msp/identities.pb-c.h"

#include "msp_internal.h"

struct cache_entry {
    struct cache_entry *next; /* bucket chain */
    uint64_t hash;
    struct weft_msp_identity *id; /* holds a reference; key = id->ser */
};

struct weft_msp_mgr {
    struct weft_msp **msps;
    size_t n_msps;
    pthread_mutex_t lock;
    struct cache_entry **buckets;
    size_t n_buckets; /* power of two */
    struct cache_entry **ring;
    size_t cap, head, count;
    uint64_t hits, misses;
};

/* Hash of a serialized identity (~800 bytes, looked up on every signature
 * check): FNV-1a over 8-byte words with a final mix, several times faster
 * than byte-wise FNV on this size. Not collision resistant: entries are
 * compared in full. */
static uint64_t ident_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 1099511628211ull;
    }
    for (; i < n; i++) {
        h = (h ^ p[i]) * 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

struct weft_msp_mgr *weft_msp_mgr_new(size_t cache_capacity)
{
    if (cache_capacity == 0) {
        cache_capacity = 4096;
    }
    struct weft_msp_mgr *m = weft_calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    size_t nb = 16;
    while (nb < cache_capacity) {
        nb <<= 1;
    }
    m->n_buckets = nb;
    m->cap = cache_capacity;
    m->buckets = weft_calloc(nb, sizeof(*m->buckets));
    m->ring = weft_calloc(cache_capacity, sizeof(*m->ring));
    if (m->buckets == NULL || m->ring == NULL || pthread_mutex_init(&m->lock, NULL) != 0) {
        weft_free(m->buckets);
        weft_free(m->ring);
        weft_free(m);
        return NULL;
    }
    return m;
}

void weft_msp_mgr_free(struct weft_msp_mgr *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->n_buckets; i++) {
        struct cache_entry *e = m->buckets[i];
        while (e != NULL) {
            struct cache_entry *n = e->next;
            weft_msp_identity_unref(e->id);
            weft_free(e);
            e = n;
        }
    }
    for (size_t i = 0; i < m->n_msps; i++) {
        weft_msp_unref(m->msps[i]);
    }
    weft_free(m->msps);
    weft_free(m->buckets);
    weft_free(m->ring);
    pthread_mutex_destroy(&m->lock);
    weft_free(m);
}

int weft_msp_mgr_add(struct weft_msp_mgr *m, struct weft_msp *msp, struct weft_err *err)
{
    if (weft_msp_mgr_get(m, msp->id) != NULL) {
        return weft_err_set(err, WEFT_EEXIST, "duplicate MSP ID %s", msp->id);
    }
    struct weft_msp **v = weft_realloc(m->msps, (m->n_msps + 1) * sizeof(*v));
    if (v == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    m->msps = v;
    m->msps[m->n_msps++] = weft_msp_ref(msp);
    return 0;
}

struct weft_msp *weft_msp_mgr_get(const struct weft_msp_mgr *m, const char *mspid)
{
    for (size_t i = 0; i < m->n_msps; i++) {
        if (strcmp(m->msps[i]->id, mspid) == 0) {
            return m->msps[i];
        }
    }
    return NULL;
}

size_t weft_msp_mgr_count(const struct weft_msp_mgr *m)
{
    return m->n_msps;
}

struct weft_msp *weft_msp_mgr_at(const struct weft_msp_mgr *m, size_t i)
{
    return i < m->n_msps ? m->msps[i] : NULL;
}

static struct cache_entry *cache_find(struct weft_msp_mgr *m, uint64_t h, const uint8_t *ser,
                                      size_t len)
{
    for (struct cache_entry *e = m->buckets[h & (m->n_buckets - 1)]; e != NULL; e = e->next) {
        if (e->hash == h && e->id->ser_len == len && memcmp(e->id->ser, ser, len) == 0) {
            return e;
        }
    }
    return NULL;
}

static void cache_unlink(struct weft_msp_mgr *m, struct cache_entry *victim)
{
    struct cache_entry **pp = &m->buckets[victim->hash & (m->n_buckets - 1)];
    while (*pp != NULL && *pp != victim) {
        pp = &(*pp)->next;
    }
    if (*pp == victim) {
        *pp = victim->next;
    }
}

int weft_msp_mgr_deserialize(struct weft_msp_mgr *m, const uint8_t *ser, size_t len,
                             struct weft_msp_identity **out, struct weft_err *err)
{
    if (ser == NULL || out == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "deserialize: missing argument");
    }
    uint64_t h = ident_hash(ser, len);
    pthread_mutex_lock(&m->lock);
    struct cache_entry *e = cache_find(m, h, ser, len);
    if (e != NULL) {
        m->hits++;
        *out = weft_msp_identity_ref(e->id);
        pthread_mutex_unlock(&m->lock);
        return 0;
    }
    m->misses++;
    pthread_mutex_unlock(&m->lock);

    Msp__SerializedIdentity *si = msp__serialized_identity__unpack(&weft_msp__pb_alloc, len, ser);
    if (si == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "could not deserialize a SerializedIdentity");
    }
    struct weft_msp *msp = weft_msp_mgr_get(m, si->mspid);
    if (msp == NULL) {
        int rc = weft_err_set(err, WEFT_ENOTFOUND, "MSP %.64s is unknown", si->mspid);
        msp__serialized_identity__free_unpacked(si, &weft_msp__pb_alloc);
        return rc;
    }
    msp__serialized_identity__free_unpacked(si, &weft_msp__pb_alloc);
    struct weft_msp_identity *id = NULL;
    int rc = weft_msp_deserialize(msp, ser, len, &id, err);
    if (rc != 0) {
        return rc;
    }
    struct cache_entry *ne = weft_malloc(sizeof(*ne));
    if (ne != NULL) {
        pthread_mutex_lock(&m->lock);
        if (cache_find(m, h, ser, len) != NULL) {
            weft_free(ne);
        } else {
            if (m->count == m->cap) {
                struct cache_entry *victim = m->ring[m->head];
                cache_unlink(m, victim);
                weft_msp_identity_unref(victim->id);
                weft_free(victim);
                m->head = (m->head + 1) % m->cap;
                m->count--;
            }
            ne->hash = h;
            ne->id = weft_msp_identity_ref(id);
            ne->next = m->buckets[h & (m->n_buckets - 1)];
            m->buckets[h & (m->n_buckets - 1)] = ne;
            m->ring[(m->head + m->count) % m->cap] = ne;
            m->count++;
        }
        pthread_mutex_unlock(&m->lock);
    }
    *out = id;
    return 0;
}

void weft_msp_mgr_cache_stats(struct weft_msp_mgr *m, uint64_t *hits, uint64_t *misses)
{
    pthread_mutex_lock(&m->lock);
    *hits = m->hits;
    *misses = m->misses;
    pthread_mutex_unlock(&m->lock);
}
