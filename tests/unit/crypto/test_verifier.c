/* Parallel verifier and verification cache. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "certgen.h"
#include "tests.h"
#include "weft/crypto.h"

#define NKEYS 4
#define NITEMS 400

struct fixture {
    struct weft_key *keys[NKEYS];
    struct tg_cert *ca;
    struct tg_cert *leaf;
    struct weft_x509 *cert;
    struct weft_key *cert_priv;
    uint8_t digests[NITEMS][32];
    uint8_t sigs[NITEMS][WEFT_ECDSA_SIG_MAX + 4];
    size_t sig_lens[NITEMS];
    char msgs[NITEMS][32];
    struct weft_verify_item items[NITEMS];
    int expect_kind[NITEMS];
};

/* Builds a mixed batch: valid (key, cert, message forms), high-S, wrong
 * digest, wrong key, malformed DER, and malformed items. */
static void build(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    for (int i = 0; i < NKEYS; i++) {
        assert_int_equal(weft_key_generate(&f->keys[i], NULL), 0);
    }
    f->ca = tg_ca("v.ca", NULL, -100, 100000);
    f->leaf = tg_leaf("v.leaf", "client", f->ca, 7, -100, 100000);
    size_t len = 0;
    uint8_t *der = tg_der(f->leaf, &len);
    assert_int_equal(weft_x509_parse_der(der, len, &f->cert, NULL), 0);
    weft_free(der);
    char *pem = tg_key_pem(f->leaf, &len);
    assert_int_equal(weft_key_load_private(pem, len, &f->cert_priv, NULL), 0);
    weft_free(pem);

    for (int i = 0; i < NITEMS; i++) {
        struct weft_verify_item *it = &f->items[i];
        snprintf(f->msgs[i], sizeof(f->msgs[i]), "message %d", i);
        weft_sha256(f->msgs[i], strlen(f->msgs[i]), f->digests[i]);
        int kind = i % 8;
        f->expect_kind[i] = kind;
        const struct weft_key *signer = kind == 1 ? f->cert_priv : f->keys[i % NKEYS];
        assert_int_equal(
            weft_ecdsa_sign_digest(signer, f->digests[i], f->sigs[i], &f->sig_lens[i], NULL), 0);
        it->sig = f->sigs[i];
        it->sig_len = f->sig_lens[i];
        it->digest = f->digests[i];
        it->key = signer;
        switch (kind) {
        case 0: /* valid, key + digest */
            break;
        case 1: /* valid, cert */
            it->key = NULL;
            it->cert = f->cert;
            break;
        case 2: /* valid, message form */
            it->digest = NULL;
            it->msg = (const uint8_t *)f->msgs[i];
            it->msg_len = strlen(f->msgs[i]);
            break;
        case 3: { /* high-S */
            uint8_t hi[WEFT_ECDSA_SIG_MAX];
            size_t hl = 0;
            assert_int_equal(weft_ecdsa_sig_flip_s(f->sigs[i], f->sig_lens[i], hi, &hl), 0);
            memcpy(f->sigs[i], hi, hl);
            it->sig_len = hl;
            break;
        }
        case 4: /* other digest */
            it->digest = f->digests[(i + 1) % NITEMS];
            break;
        case 5: /* wrong key */
            it->key = f->keys[(i + 1) % NKEYS];
            break;
        case 6: /* malformed DER */
            f->sigs[i][1] ^= 0x40;
            break;
        case 7: /* malformed item: both cert and key */
            it->cert = f->cert;
            break;
        }
    }
}

static void teardown_fixture(struct fixture *f)
{
    for (int i = 0; i < NKEYS; i++) {
        weft_key_free(f->keys[i]);
    }
    weft_key_free(f->cert_priv);
    weft_x509_free(f->cert);
    tg_free(f->leaf);
    tg_free(f->ca);
}

static int expected(int kind)
{
    if (kind <= 2) {
        return 0;
    }
    return kind == 7 ? WEFT_EINVAL : WEFT_EBADSIG;
}

static void test_parallel_equals_single(void **state)
{
    (void)state;
    static struct fixture f;
    build(&f);
    int single[NITEMS];
    for (int i = 0; i < NITEMS; i++) {
        single[i] = weft_verify_item_run(NULL, &f.items[i]);
        assert_int_equal(single[i], expected(f.expect_kind[i]));
        f.items[i].result = 12345;
    }
    struct weft_verifier *v = weft_verifier_new(0, NULL);
    assert_non_null(v);
    assert_true(weft_verifier_threads(v) >= 1);
    assert_int_equal(weft_verifier_run(v, f.items, NITEMS), WEFT_EBADSIG);
    for (int i = 0; i < NITEMS; i++) {
        assert_int_equal(f.items[i].result, single[i]);
        assert_false(f.items[i].cached);
    }
    /* Only valid items: overall 0. */
    struct weft_verify_item ok[3] = {f.items[0], f.items[1], f.items[2]};
    assert_int_equal(weft_verifier_run(v, ok, 3), 0);
    assert_int_equal(weft_verifier_run(v, NULL, 0), 0);
    weft_verifier_free(v);
    teardown_fixture(&f);
}

/* start/finish: two batches in flight at once (the committer's pipeline)
 * give the results run gives; a one-item and an empty batch too. */
static void test_start_finish(void **state)
{
    (void)state;
    static struct fixture f;
    build(&f);
    int single[NITEMS];
    for (int i = 0; i < NITEMS; i++) {
        single[i] = weft_verify_item_run(NULL, &f.items[i]);
    }
    static struct weft_verify_item a[NITEMS], b[NITEMS];
    memcpy(a, f.items, sizeof(a));
    memcpy(b, f.items, sizeof(b));
    for (int i = 0; i < NITEMS; i++) {
        a[i].result = b[i].result = 12345;
    }
    struct weft_verifier *v = weft_verifier_new(2, NULL);
    assert_non_null(v);
    struct weft_verify_batch *ha = weft_verifier_start(v, a, NITEMS);
    struct weft_verify_batch *hb = weft_verifier_start(v, b, NITEMS);
    assert_non_null(ha);
    assert_non_null(hb);
    assert_int_equal(weft_verifier_finish(v, ha), WEFT_EBADSIG);
    assert_int_equal(weft_verifier_finish(v, hb), WEFT_EBADSIG);
    for (int i = 0; i < NITEMS; i++) {
        assert_int_equal(a[i].result, single[i]);
        assert_int_equal(b[i].result, single[i]);
    }
    struct weft_verify_item one = f.items[0];
    one.result = 12345;
    struct weft_verify_batch *h1 = weft_verifier_start(v, &one, 1);
    assert_non_null(h1);
    assert_int_equal(weft_verifier_finish(v, h1), 0);
    assert_int_equal(one.result, 0);
    struct weft_verify_batch *h0 = weft_verifier_start(v, NULL, 0);
    assert_non_null(h0);
    assert_int_equal(weft_verifier_finish(v, h0), 0);
    assert_null(weft_verifier_start(NULL, a, 1));
    assert_int_equal(weft_verifier_finish(v, NULL), WEFT_EINVAL);
    weft_verifier_free(v);
    teardown_fixture(&f);
}

static void test_cache_hits(void **state)
{
    (void)state;
    static struct fixture f;
    build(&f);
    struct weft_vcache *c = weft_vcache_new(10000);
    struct weft_verifier *v = weft_verifier_new(2, c);
    assert_int_equal(weft_verifier_run(v, f.items, NITEMS), WEFT_EBADSIG);
    struct weft_vcache_stats st;
    weft_vcache_get_stats(c, &st);
    assert_int_equal(st.hits, 0);
    /* Malformed items (kind 7) never reach the cache. */
    size_t cacheable = NITEMS - NITEMS / 8;
    assert_int_equal(st.misses, cacheable);
    assert_int_equal(st.inserts, cacheable);
    assert_int_equal(st.size, cacheable);
    int first[NITEMS];
    for (int i = 0; i < NITEMS; i++) {
        first[i] = f.items[i].result;
    }
    assert_int_equal(weft_verifier_run(v, f.items, NITEMS), WEFT_EBADSIG);
    weft_vcache_get_stats(c, &st);
    assert_int_equal(st.hits, cacheable);
    for (int i = 0; i < NITEMS; i++) {
        assert_int_equal(f.items[i].result, first[i]);
        assert_int_equal(f.items[i].cached, f.expect_kind[i] != 7);
    }
    /* A different identity fingerprint is a different entry. */
    struct weft_verify_item it = f.items[0];
    it.identity = (const uint8_t *)"someone else";
    it.identity_len = 12;
    assert_int_equal(weft_verify_item_run(c, &it), 0);
    assert_false(it.cached);
    assert_int_equal(weft_verify_item_run(c, &it), 0);
    assert_true(it.cached);
    weft_verifier_free(v);
    weft_vcache_free(c);
    teardown_fixture(&f);
}

static void test_vcache_bounded(void **state)
{
    (void)state;
    struct weft_vcache *c = weft_vcache_new(64);
    assert_non_null(c);
    assert_null(weft_vcache_new(0));
    uint8_t key[32];
    for (uint32_t i = 0; i < 1000; i++) {
        weft_sha256(&i, sizeof(i), key);
        weft_vcache_insert(c, key, (i & 1) != 0);
    }
    struct weft_vcache_stats st;
    weft_vcache_get_stats(c, &st);
    assert_true(st.size <= 64);
    assert_int_equal(st.capacity, 64);
    assert_int_equal(st.inserts, 1000);
    assert_int_equal(st.evictions, 1000 - st.size);
    /* The newest entries are present with their verdicts, the oldest gone. */
    bool valid = false;
    uint32_t last = 999;
    weft_sha256(&last, sizeof(last), key);
    assert_int_equal(weft_vcache_lookup(c, key, &valid), 0);
    assert_true(valid);
    uint32_t first = 0;
    weft_sha256(&first, sizeof(first), key);
    assert_int_equal(weft_vcache_lookup(c, key, &valid), WEFT_ENOTFOUND);
    /* Replace a verdict. */
    weft_sha256(&last, sizeof(last), key);
    weft_vcache_insert(c, key, false);
    assert_int_equal(weft_vcache_lookup(c, key, &valid), 0);
    assert_false(valid);
    weft_vcache_clear(c);
    assert_int_equal(weft_vcache_lookup(c, key, &valid), WEFT_ENOTFOUND);
    weft_vcache_get_stats(c, &st);
    assert_int_equal(st.size, 0);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.misses, 2);
    /* Key derivation separates signer, digest and signature. */
    uint8_t a[32] = {1}, d[32] = {2}, k1[32], k2[32], k3[32];
    weft_vcache_key(a, d, (const uint8_t *)"sig", 3, k1);
    weft_vcache_key(d, a, (const uint8_t *)"sig", 3, k2);
    weft_vcache_key(a, d, (const uint8_t *)"sih", 3, k3);
    assert_memory_not_equal(k1, k2, 32);
    assert_memory_not_equal(k1, k3, 32);
    weft_vcache_free(c);
}

struct caller {
    struct weft_verifier *v;
    struct weft_verify_item *items;
    size_t n;
    int rounds;
    int bad;
    const int *want;
};

static void *caller_main(void *arg)
{
    struct caller *c = arg;
    for (int r = 0; r < c->rounds; r++) {
        (void)weft_verifier_run(c->v, c->items, c->n);
        for (size_t i = 0; i < c->n; i++) {
            if (c->items[i].result != c->want[i]) {
                c->bad++;
            }
            c->items[i].result = 999;
        }
    }
    return NULL;
}

static void test_concurrent_callers(void **state)
{
    (void)state;
    static struct fixture f;
    build(&f);
    static int want[NITEMS];
    for (int i = 0; i < NITEMS; i++) {
        want[i] = expected(f.expect_kind[i]);
    }
    struct weft_vcache *cache = weft_vcache_new(128); /* small: forces evictions */
    struct weft_verifier *v = weft_verifier_new(2, cache);
    static struct weft_verify_item copy[3][NITEMS];
    struct caller callers[3];
    pthread_t th[3];
    for (int t = 0; t < 3; t++) {
        memcpy(copy[t], f.items, sizeof(f.items));
        callers[t] =
            (struct caller){v, copy[t] + t * 10, NITEMS - (size_t)t * 10, 3, 0, want + t * 10};
        assert_int_equal(pthread_create(&th[t], NULL, caller_main, &callers[t]), 0);
    }
    for (int t = 0; t < 3; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(callers[t].bad, 0);
    }
    struct weft_vcache_stats st;
    weft_vcache_get_stats(cache, &st);
    assert_true(st.size <= 128);
    weft_verifier_free(v);
    weft_vcache_free(cache);
    teardown_fixture(&f);
}

int run_verifier_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parallel_equals_single),
        cmocka_unit_test(test_start_finish),
        cmocka_unit_test(test_cache_hits),
        cmocka_unit_test(test_vcache_bounded),
        cmocka_unit_test(test_concurrent_callers),
    };
    return cmocka_run_group_tests_name("crypto_verifier", tests, NULL, NULL);
}
