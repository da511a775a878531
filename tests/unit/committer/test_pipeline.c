/* The commit pipeline (weft_committer_*): the vector chain submitted as
 * serialized blocks with orderer signature checks on; every code reported
 * by the commit callback equals Fabric's, the state equals Fabric's; a block
 * with a broken orderer signature is refused and the height does not move;
 * the synchronous commit returns the codes. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_committer.h"
#include "testlib.h"
#include "weft/committer.h"
#include "weft/configtx.h"
#include "weft/crypto.h"
#include "weft/ledger.h"

struct seen {
    pthread_mutex_t mu;
    uint64_t next;
    size_t mismatches;
    size_t txs;
};

static void on_commit(void *ctx, uint64_t number, const uint8_t *codes, size_t ntx,
                      const Common__Block *blk)
{
    struct seen *s = ctx;
    uint8_t want[128];
    size_t wn;
    vec_expected_codes((unsigned)number, want, &wn);
    pthread_mutex_lock(&s->mu);
    if (number != s->next || wn != ntx || blk->header->number != number)
        s->mismatches++;
    for (size_t i = 0; i < ntx && i < wn; i++)
        if (codes[i] != want[i])
            s->mismatches++;
    s->next = number + 1;
    s->txs += ntx;
    pthread_mutex_unlock(&s->mu);
}

static uint8_t *serialize(Common__Block *blk, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(&blk->base);
    uint8_t *b = weft_malloc(*len);
    protobuf_c_message_pack(&blk->base, b);
    return b;
}

void test_committer_pipeline(void **state)
{
    (void)state;
    struct weft_err err = {0};
    char *root = wt_tmpdir("committer-pipe");
    struct weft_ledger_options o;
    weft_ledger_options_init(&o);
    o.root = root;
    o.channel = "mychannel";
    o.no_sync = true;
    struct weft_ledger *l;
    assert_int_equal(weft_ledger_open(&l, &o, &err), 0);
    struct weft_vcache *cache = weft_vcache_new(4096);
    struct weft_verifier *ver = weft_verifier_new(1, cache);
    size_t glen;
    uint8_t *g = vec_block_bytes(0, &glen);
    struct weft_channel_config *cfg;
    assert_int_equal(weft_channel_config_from_block(g, glen, 0, &cfg, &err), 0);
    weft_free(g);
    struct seen seen = {.next = 0};
    pthread_mutex_init(&seen.mu, NULL);
    struct weft_committer_options co = {.config = cfg,
                                        .ledger = l,
                                        .verifier = ver,
                                        .cache = cache,
                                        .verify_orderer_sigs = true,
                                        .queue_depth = 4,
                                        .on_commit = on_commit,
                                        .ctx = &seen};
    struct weft_committer *c;
    assert_int_equal(weft_committer_new(&co, &c, &err), 0);
    assert_non_null(weft_committer_config(c));
    /* blocks 0..9 asynchronously */
    for (unsigned n = 0; n < 10; n++) {
        Common__Block *blk = vec_block(n);
        size_t len;
        uint8_t *b = serialize(blk, &len);
        common__block__free_unpacked(blk, NULL);
        assert_int_equal(weft_committer_submit(c, b, len, 0, &err), 0);
    }
    uint64_t deadline = weft_clock_mono_ns() + 60ull * 1000000000ull;
    assert_int_equal(weft_committer_wait_height(c, 10, deadline, &err), 0);
    /* block 10 with a broken orderer signature: refused, height stays */
    Common__Block *blk = vec_block(10);
    Common__Metadata *md = common__metadata__unpack(NULL, blk->metadata->metadata[0].len,
                                                    blk->metadata->metadata[0].data);
    ProtobufCBinaryData *sig = &md->signatures[0]->signature;
    sig->data[sig->len - 1] ^= 0x01;
    size_t ml = protobuf_c_message_get_packed_size(&md->base);
    uint8_t *mb = malloc(ml);
    protobuf_c_message_pack(&md->base, mb);
    free(blk->metadata->metadata[0].data);
    blk->metadata->metadata[0].data = mb;
    blk->metadata->metadata[0].len = ml;
    common__metadata__free_unpacked(md, NULL);
    size_t len;
    uint8_t *bad = serialize(blk, &len);
    common__block__free_unpacked(blk, NULL);
    assert_int_equal(weft_committer_commit_block(c, bad, len, NULL, 0, &err), WEFT_EINVAL);
    assert_non_null(strstr(err.msg, "block 10"));
    weft_free(bad);
    assert_int_equal(weft_committer_refused(c, NULL), 1);
    assert_int_equal(weft_committer_height(c), 10);
    assert_int_equal(weft_committer_next_number(c), 10);
    /* a block out of order is refused too */
    blk = vec_block(12);
    uint8_t *ooo = serialize(blk, &len);
    common__block__free_unpacked(blk, NULL);
    assert_int_equal(weft_committer_commit_block(c, ooo, len, NULL, 0, &err), WEFT_EINVAL);
    weft_free(ooo);
    assert_int_equal(weft_committer_refused(c, NULL), 2);
    /* the good block 10, synchronously, with its codes */
    blk = vec_block(10);
    size_t ntx = blk->data->n_data;
    uint8_t *good = serialize(blk, &len);
    common__block__free_unpacked(blk, NULL);
    uint8_t codes[128], want[128];
    size_t wn;
    assert_int_equal(weft_committer_commit_block(c, good, len, codes, ntx, &err), 0);
    weft_free(good);
    vec_expected_codes(10, want, &wn);
    assert_int_equal(wn, ntx);
    assert_memory_equal(codes, want, ntx);
    /* the rest asynchronously */
    for (unsigned n = 11; n < VEC_NBLOCKS; n++) {
        blk = vec_block(n);
        uint8_t *b = serialize(blk, &len);
        common__block__free_unpacked(blk, NULL);
        assert_int_equal(weft_committer_submit(c, b, len, deadline, &err), 0);
    }
    if (weft_committer_wait_height(c, VEC_NBLOCKS, deadline, &err) != 0)
        fail_msg("pipeline: %s", err.msg);
    assert_int_equal(weft_committer_status(c, NULL), 0);
    pthread_mutex_lock(&seen.mu);
    assert_int_equal(seen.mismatches, 0);
    assert_int_equal(seen.next, VEC_NBLOCKS);
    assert_int_equal(seen.txs, 511);
    pthread_mutex_unlock(&seen.mu);
    struct weft_validator_stats st;
    weft_committer_get_stats(c, &st);
    assert_int_equal(st.blocks, VEC_NBLOCKS);
    weft_committer_free(c);
    vec_check_state(l);
    vec_check_history(l);
    pthread_mutex_destroy(&seen.mu);
    weft_verifier_free(ver);
    weft_vcache_free(cache);
    weft_ledger_close(l);
    wt_rmtree(root);
    weft_free(root);
}
