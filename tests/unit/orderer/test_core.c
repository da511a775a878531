/*
 * Unit tests for the orderer's I/O-free core: block cutter (a table of sizes
 * and counts), block builder (DER header, hashes, metadata, signature that
 * verifies; Fabric's own orderer signatures in the vector blocks verify with
 * the same code), Broadcast admission (every refusal status), Deliver seek
 * resolution.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/common.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "orderer/ab.pb-c.h"
#include "orderer/orderer_int.h"
#include "testlib.h"
#include "weft/crypto.h"
#include "weft/ledger.h"
#include "weft/msp.h"
#include "weft/policy.h"

#include "test_helpers.h"

/* ---- cutter ---------------------------------------------------------------- */

static struct orderer_msg mk_msg(size_t size)
{
    struct orderer_msg m = {.env = weft_malloc(4), .len = 4, .size = size};
    assert_non_null(m.env);
    memcpy(m.env, "envx", 4);
    return m;
}

struct cut_case {
    const char *name;
    uint32_t max_count, preferred;
    size_t sizes[8];
    size_t n;
    /* expected sizes of batches emitted per message, encoded as counts */
    size_t batches_after[8]; /* number of batches emitted by message i */
    size_t first_batch_len[8];
    bool pending_after[8];
};

static void test_cutter_table(void **state)
{
    (void)state;
    static const struct cut_case cases[] = {
        {"count cut", 3, 100, {10, 10, 10, 10}, 4, {0, 0, 1, 0}, {0, 0, 3, 0},
         {true, true, false, true}},
        {"preferred overflow cuts first", 10, 100, {60, 50, 10}, 3, {0, 1, 0}, {0, 1, 0},
         {true, true, true}},
        {"exactly preferred fits", 10, 100, {50, 50, 1}, 3, {0, 0, 1}, {0, 0, 2},
         {true, true, true}},
        {"oversized alone, no pending", 10, 100, {101, 5}, 2, {1, 0}, {1, 0}, {false, true}},
        {"oversized after pending: two batches", 10, 100, {5, 5, 200}, 3, {0, 0, 2}, {0, 0, 2},
         {true, true, false}},
        {"max count 1", 1, 100, {5, 5}, 2, {1, 1}, {1, 1}, {false, false}},
    };
    for (size_t k = 0; k < WEFT_ARRAY_LEN(cases); k++) {
        const struct cut_case *tc = &cases[k];
        struct orderer_batch_cfg cfg = {.max_message_count = tc->max_count,
                                        .absolute_max_bytes = 1000,
                                        .preferred_max_bytes = tc->preferred};
        struct orderer_cutter c;
        orderer__cutter_init(&c, &cfg);
        for (size_t i = 0; i < tc->n; i++) {
            struct orderer_msg m = mk_msg(tc->sizes[i]);
            struct orderer_batch out[2];
            size_t n = 9;
            bool pending = false;
            assert_int_equal(orderer__cutter_ordered(&c, &m, out, &n, &pending), 0);
            if (n != tc->batches_after[i] || pending != tc->pending_after[i]) {
                fail_msg("%s: message %zu: %zu batches (want %zu), pending %d (want %d)",
                         tc->name, i, n, tc->batches_after[i], pending,
                         tc->pending_after[i]);
            }
            if (n > 0 && out[0].n != tc->first_batch_len[i]) {
                fail_msg("%s: message %zu: first batch has %zu messages, want %zu", tc->name,
                         i, out[0].n, tc->first_batch_len[i]);
            }
            for (size_t b = 0; b < n; b++) {
                orderer__batch_free(&out[b]);
            }
        }
        orderer__cutter_close(&c);
    }
}

static void test_cutter_oversized_order(void **state)
{
    (void)state;
    struct orderer_batch_cfg cfg = {10, 1000, 100, 0};
    struct orderer_cutter c;
    orderer__cutter_init(&c, &cfg);
    struct orderer_msg a = mk_msg(5);
    a.env[0] = 'a';
    struct orderer_msg big = mk_msg(150);
    big.env[0] = 'B';
    struct orderer_batch out[2];
    size_t n;
    bool pending;
    assert_int_equal(orderer__cutter_ordered(&c, &a, out, &n, &pending), 0);
    assert_int_equal(orderer__cutter_ordered(&c, &big, out, &n, &pending), 0);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].n, 1);
    assert_int_equal(out[0].msgs[0].env[0], 'a'); /* pending batch first */
    assert_int_equal(out[1].n, 1);
    assert_int_equal(out[1].msgs[0].env[0], 'B'); /* then the big one alone */
    assert_false(pending);
    orderer__batch_free(&out[0]);
    orderer__batch_free(&out[1]);
    /* timeout cut of an empty cutter gives an empty batch */
    struct orderer_batch e;
    orderer__cutter_cut(&c, &e);
    assert_int_equal(e.n, 0);
    orderer__batch_free(&e);
    orderer__cutter_close(&c);
}

static void test_cutter_alloc_failures(void **state)
{
    (void)state;
    /* every allocation failure leaves a consistent cutter and no leak */
    for (uint64_t k = 1; k < 40; k++) {
        struct orderer_batch_cfg cfg = {4, 1000, 100, 0};
        struct orderer_cutter c;
        orderer__cutter_init(&c, &cfg);
        size_t sizes[] = {10, 95, 10, 10, 10, 10, 300};
        for (size_t i = 0; i < WEFT_ARRAY_LEN(sizes); i++) {
            struct orderer_msg m = {.env = weft_malloc(1), .len = 1, .size = sizes[i]};
            if (m.env == NULL) {
                continue;
            }
            if (i == 2) {
                weft_alloc_fail_after(k);
            }
            struct orderer_batch out[2];
            size_t n = 0;
            bool pending;
            if (orderer__cutter_ordered(&c, &m, out, &n, &pending) == 0) {
                for (size_t b = 0; b < n; b++) {
                    orderer__batch_free(&out[b]);
                }
            }
        }
        weft_alloc_fail_after(0);
        orderer__cutter_close(&c);
    }
}

/* ---- builder ---------------------------------------------------------------- */

static void test_header_der(void **state)
{
    (void)state;
    uint8_t dh[32];
    memset(dh, 0xab, sizeof(dh));
    uint8_t *der;
    size_t len;
    assert_int_equal(orderer__header_der(0, NULL, 0, dh, 32, &der, &len), 0);
    static const uint8_t want0[] = {0x30, 0x27, 0x02, 0x01, 0x00, 0x04, 0x00, 0x04, 0x20};
    assert_int_equal(len, 9 + 32);
    assert_memory_equal(der, want0, sizeof(want0));
    weft_free(der);
    assert_int_equal(orderer__header_der(128, dh, 32, dh, 32, &der, &len), 0);
    static const uint8_t want128[] = {0x30, 0x48, 0x02, 0x02, 0x00, 0x80, 0x04, 0x20};
    assert_memory_equal(der, want128, sizeof(want128));
    weft_free(der);
    /* the hash over the DER equals the ledger's header hash */
    uint8_t h1[32], h2[32];
    assert_int_equal(orderer__header_der(70000, dh, 32, dh, 32, &der, &len), 0);
    weft_sha256(der, len, h1);
    weft_free(der);
    assert_int_equal(weft_ledger_header_hash(70000, dh, 32, dh, 32, h2), 0);
    assert_memory_equal(h1, h2, 32);
}

static void test_build_and_verify(void **state)
{
    (void)state;
    struct th_ident *ord = th_ident_load("ordererOrganizations/example.com/orderers/"
                                         "orderer.example.com/msp",
                                         "OrdererMSP");
    struct weft_msp_mgr *mgr = th_mgr_with(ord);
    struct orderer_signer signer = th_signer(ord);
    const uint8_t *envs[2] = {(const uint8_t *)"hello", (const uint8_t *)"world!"};
    size_t lens[2] = {5, 6};
    uint8_t prev[32] = {0};
    uint8_t hash0[32], hash1[32];
    uint8_t *b0, *b1;
    size_t l0, l1;
    struct orderer_block_in in = {.number = 0, .envs = envs, .lens = lens, .n = 2};
    assert_int_equal(orderer__block_build(&in, &signer, &b0, &l0, hash0, NULL), 0);
    in.number = 1;
    in.prev_hash = hash0;
    in.prev_hash_len = 32;
    in.last_config = 0;
    in.consenter_md = (const uint8_t *)"\x0a\x03\x08\x01\x10";
    in.consenter_md_len = 5;
    assert_int_equal(orderer__block_build(&in, &signer, &b1, &l1, hash1, NULL), 0);
    (void)prev;

    Common__Block *blk = common__block__unpack(NULL, l1, b1);
    assert_non_null(blk);
    assert_int_equal(blk->header->number, 1);
    assert_memory_equal(blk->header->previous_hash.data, hash0, 32);
    uint8_t dh[32];
    weft_ledger_data_hash(blk->data->data, blk->data->n_data, dh);
    assert_memory_equal(blk->header->data_hash.data, dh, 32);
    assert_int_equal(blk->metadata->n_metadata, 5);
    /* LAST_CONFIG{index 0} is Metadata{value = empty} = empty bytes */
    assert_int_equal(blk->metadata->metadata[1].len, 0);
    Common__Metadata *md = common__metadata__unpack(NULL, blk->metadata->metadata[0].len,
                                                    blk->metadata->metadata[0].data);
    assert_non_null(md);
    assert_int_equal(md->n_signatures, 1);
    Common__OrdererBlockMetadata *obm =
        common__orderer_block_metadata__unpack(NULL, md->value.len, md->value.data);
    assert_non_null(obm);
    assert_int_equal(obm->consenter_metadata.len, 5);
    common__orderer_block_metadata__free_unpacked(obm, NULL);
    common__metadata__free_unpacked(md, NULL);
    uint8_t hh[32];
    assert_int_equal(weft_ledger_header_hash(1, hash0, 32, dh, 32, hh), 0);
    assert_memory_equal(hh, hash1, 32);
    common__block__free_unpacked(blk, NULL);

    size_t nvalid = 9;
    assert_int_equal(orderer__block_verify(b1, l1, mgr, &nvalid, NULL), 0);
    assert_int_equal(nvalid, 1);
    /* flip one byte of the data: the header no longer matches the signature */
    b1[l1 / 2] ^= 0x01;
    nvalid = 9;
    if (orderer__block_verify(b1, l1, mgr, &nvalid, NULL) == 0) {
        assert_int_equal(nvalid, 0);
    }
    weft_free(b0);
    weft_free(b1);
    weft_msp_mgr_free(mgr);
    th_ident_free(ord);
}

/* Fabric's orderer signed the vector blocks: our verification of the signed
 * bytes (value || signature_header || DER(header)) must accept them. */
static void test_fabric_block_signatures(void **state)
{
    (void)state;
    struct th_ident *ord = th_ident_load("ordererOrganizations/example.com/orderers/"
                                         "orderer.example.com/msp",
                                         "OrdererMSP");
    struct weft_msp_mgr *mgr = th_mgr_with(ord);
    for (int n = 1; n <= 3; n++) {
        char rel[64];
        snprintf(rel, sizeof(rel), "blocks/%06d.block", n);
        size_t len;
        uint8_t *b = th_vec_file(rel, &len);
        size_t nvalid = 0;
        assert_int_equal(orderer__block_verify(b, len, mgr, &nvalid, NULL), 0);
        assert_int_equal(nvalid, 1);
        weft_free(b);
    }
    weft_msp_mgr_free(mgr);
    th_ident_free(ord);
}

static void test_build_alloc_failures(void **state)
{
    (void)state;
    struct th_ident *ord = th_ident_load("ordererOrganizations/example.com/orderers/"
                                         "orderer.example.com/msp",
                                         "OrdererMSP");
    struct orderer_signer signer = th_signer(ord);
    const uint8_t *envs[1] = {(const uint8_t *)"x"};
    size_t lens[1] = {1};
    struct orderer_block_in in = {.number = 3, .envs = envs, .lens = lens, .n = 1};
    int ok = 0;
    for (uint64_t k = 1; k < 200 && !ok; k++) {
        uint8_t *b = NULL;
        size_t l;
        uint8_t h[32];
        weft_alloc_fail_after(k);
        int rc = orderer__block_build(&in, &signer, &b, &l, h, NULL);
        weft_alloc_fail_after(0);
        if (rc == 0) {
            ok = 1;
            weft_free(b);
        } else {
            assert_true(rc == WEFT_ENOMEM || rc == WEFT_ECRYPTO);
        }
    }
    assert_true(ok);
    th_ident_free(ord);
}

/* ---- Broadcast admission ---------------------------------------------------- */

struct bcast_fixture {
    struct th_ident *user, *other;
    struct weft_msp_mgr *mgr;
    struct weft_policy_mgr *pm;
    struct orderer_chan_view view;
};

static struct bcast_fixture *bcast_setup(void)
{
    struct bcast_fixture *f = weft_calloc(1, sizeof(*f));
    f->user = th_ident_load("peerOrganizations/org1.example.com/users/User1@org1.example.com/msp",
                            "Org1MSP");
    f->other = th_ident_load(
        "peerOrganizations/org2.example.com/users/User1@org2.example.com/msp", "Org2MSP");
    f->mgr = th_mgr_with(f->user);
    f->pm = th_policy_mgr(f->mgr, "OR('Org1MSP.member')");
    f->view = (struct orderer_chan_view){.channel_id = "mychannel",
                                         .absolute_max_bytes = 4096,
                                         .policies = f->pm,
                                         .msps = f->mgr,
                                         .no_expiration_check = true};
    return f;
}

static void bcast_teardown(struct bcast_fixture *f)
{
    weft_policy_mgr_free(f->pm);
    weft_msp_mgr_free(f->mgr);
    th_ident_free(f->user);
    th_ident_free(f->other);
    weft_free(f);
}

static int run_bcast(struct bcast_fixture *f, const uint8_t *env, size_t len, bool known,
                     char *info)
{
    struct orderer_bcast_msg m = {0};
    int st = orderer__bcast_parse(env, len, &m, info);
    if (st == ORDERER_SUCCESS) {
        st = orderer__bcast_check(&m, known ? &f->view : NULL, 0, info);
    }
    orderer__bcast_msg_clear(&m);
    return st;
}

static void test_bcast_statuses(void **state)
{
    (void)state;
    struct bcast_fixture *f = bcast_setup();
    char info[ORDERER_INFO_LEN];
    size_t len;
    uint8_t *env;

    env = th_envelope(f->user, "mychannel", 3, 100, false, &len);
    assert_int_equal(run_bcast(f, env, len, true, info), ORDERER_SUCCESS);
    weft_free(env);

    /* garbage bytes */
    assert_int_equal(run_bcast(f, (const uint8_t *)"\xff\xff\xff", 3, true, info),
                     ORDERER_BAD_REQUEST);
    /* empty envelope */
    assert_int_equal(run_bcast(f, (const uint8_t *)"", 0, true, info), ORDERER_BAD_REQUEST);
    assert_non_null(strstr(info, "empty"));

    /* unknown channel */
    env = th_envelope(f->user, "nochannel", 3, 100, false, &len);
    assert_int_equal(run_bcast(f, env, len, false, info), ORDERER_BAD_REQUEST);
    assert_non_null(strstr(info, "system channel"));
    weft_free(env);

    /* oversize */
    env = th_envelope(f->user, "mychannel", 3, 5000, false, &len);
    assert_int_equal(run_bcast(f, env, len, true, info), ORDERER_TOO_LARGE);
    assert_non_null(strstr(info, "exceeds maximum allowed 4096"));
    weft_free(env);

    /* config update */
    env = th_envelope(f->user, "mychannel", 2, 100, false, &len);
    assert_int_equal(run_bcast(f, env, len, true, info), ORDERER_BAD_REQUEST);
    assert_non_null(strstr(info, "config update"));
    weft_free(env);

    /* bad signature */
    env = th_envelope(f->user, "mychannel", 3, 100, true, &len);
    assert_int_equal(run_bcast(f, env, len, true, info), ORDERER_FORBIDDEN);
    weft_free(env);

    /* unsigned (no signature at all) */
    env = th_envelope_unsigned(f->user, "mychannel", &len);
    assert_int_equal(run_bcast(f, env, len, true, info), ORDERER_FORBIDDEN);
    weft_free(env);

    /* signer from an org the policy does not name (and the channel lacks) */
    env = th_envelope(f->other, "mychannel", 3, 100, false, &len);
    assert_int_equal(run_bcast(f, env, len, true, info), ORDERER_FORBIDDEN);
    assert_non_null(strstr(info, "permission denied"));
    weft_free(env);

    bcast_teardown(f);
}

/* ---- seek info ---------------------------------------------------------------- */

static uint8_t *seek_env(int start_type, uint64_t start_n, int stop_type, uint64_t stop_n,
                         int behavior, int64_t ts_sec, size_t *len)
{
    Orderer__SeekSpecified s1 = ORDERER__SEEK_SPECIFIED__INIT, s2 = ORDERER__SEEK_SPECIFIED__INIT;
    Orderer__SeekNewest nw = ORDERER__SEEK_NEWEST__INIT;
    Orderer__SeekOldest od = ORDERER__SEEK_OLDEST__INIT;
    Orderer__SeekNextCommit nc = ORDERER__SEEK_NEXT_COMMIT__INIT;
    Orderer__SeekPosition p1 = ORDERER__SEEK_POSITION__INIT, p2 = ORDERER__SEEK_POSITION__INIT;
    Orderer__SeekPosition *ps[2] = {&p1, &p2};
    int types[2] = {start_type, stop_type};
    Orderer__SeekSpecified *sp[2] = {&s1, &s2};
    s1.number = start_n;
    s2.number = stop_n;
    for (int i = 0; i < 2; i++) {
        ps[i]->type_case = (Orderer__SeekPosition__TypeCase)types[i];
        switch (types[i]) {
        case 1:
            ps[i]->newest = &nw;
            break;
        case 2:
            ps[i]->oldest = &od;
            break;
        case 3:
            ps[i]->specified = sp[i];
            break;
        case 4:
            ps[i]->next_commit = &nc;
            break;
        default:
            break;
        }
    }
    Orderer__SeekInfo si = ORDERER__SEEK_INFO__INIT;
    si.start = start_type ? &p1 : NULL;
    si.stop = stop_type ? &p2 : NULL;
    si.behavior = (Orderer__SeekInfo__SeekBehavior)behavior;
    size_t sl = orderer__seek_info__get_packed_size(&si);
    uint8_t *sb = weft_malloc(sl + 1);
    orderer__seek_info__pack(&si, sb);
    uint8_t *env = th_envelope_data(NULL, "mychannel", 5, sb, sl, ts_sec, len);
    weft_free(sb);
    return env;
}

static int resolve(uint8_t *env, const size_t *lenp, uint64_t height,
                   struct orderer_seek_plan *plan)
{
    size_t len = *lenp;
    char info[ORDERER_INFO_LEN];
    struct orderer_seek_req r = {0};
    int64_t now = (int64_t)weft_clock_wall_ns();
    int st = orderer__seek_parse(env, len, now, 15LL * 60 * 1000000000LL, NULL, &r, info);
    if (st == ORDERER_SUCCESS) {
        st = orderer__seek_resolve(&r, height, plan, info);
    }
    if (st != ORDERER_SUCCESS && getenv("ORDERER_TEST_VERBOSE") != NULL) {
        print_message("seek status %d: %s\n", st, info);
    }
    orderer__seek_req_clear(&r);
    weft_free(env);
    return st;
}

static void test_seek(void **state)
{
    (void)state;
    struct orderer_seek_plan p;
    size_t len;
    int64_t now = (int64_t)time(NULL);
    /* oldest -> newest */
    assert_int_equal(resolve(seek_env(2, 0, 1, 0, 0, now, &len), &len, 10, &p), 200);
    assert_int_equal(p.start, 0);
    assert_int_equal(p.stop, 9);
    assert_false(p.fail_if_not_ready);
    /* newest -> newest is one block */
    assert_int_equal(resolve(seek_env(1, 0, 1, 0, 1, now, &len), &len, 10, &p), 200);
    assert_int_equal(p.start, 9);
    assert_int_equal(p.stop, 9);
    assert_true(p.fail_if_not_ready);
    /* specified -> specified max */
    assert_int_equal(resolve(seek_env(3, 4, 3, UINT64_MAX, 0, now, &len), &len, 10, &p), 200);
    assert_int_equal(p.start, 4);
    assert_true(p.stop == UINT64_MAX);
    /* start == height is allowed (wait for it), start > height is NOT_FOUND */
    assert_int_equal(resolve(seek_env(3, 10, 3, 20, 0, now, &len), &len, 10, &p), 200);
    assert_int_equal(resolve(seek_env(3, 11, 3, 20, 0, now, &len), &len, 10, &p), 404);
    /* stop before start */
    assert_int_equal(resolve(seek_env(3, 5, 3, 4, 0, now, &len), &len, 10, &p), 400);
    /* next_commit */
    assert_int_equal(resolve(seek_env(4, 0, 3, 100, 0, now, &len), &len, 10, &p), 200);
    assert_int_equal(p.start, 10);
    /* oldest stop = start */
    assert_int_equal(resolve(seek_env(3, 3, 2, 0, 0, now, &len), &len, 10, &p), 200);
    assert_int_equal(p.stop, 3);
    /* missing start or stop */
    assert_int_equal(resolve(seek_env(0, 0, 1, 0, 0, now, &len), &len, 10, &p), 400);
    assert_int_equal(resolve(seek_env(2, 0, 0, 0, 0, now, &len), &len, 10, &p), 400);
    /* timestamp out of the window */
    assert_int_equal(resolve(seek_env(2, 0, 1, 0, 0, now - 3600, &len), &len, 10, &p), 400);
    /* seconds whose nanoseconds overflow int64 (found by fuzz_seekinfo) */
    assert_int_equal(resolve(seek_env(2, 0, 1, 0, 0, INT64_MAX, &len), &len, 10, &p), 400);
    assert_int_equal(resolve(seek_env(2, 0, 1, 0, 0, INT64_MIN, &len), &len, 10, &p), 400);
    assert_int_equal(resolve(seek_env(2, 0, 1, 0, 0, 24978905216LL, &len), &len, 10, &p), 400);
    /* SeekInfo that does not parse */
    uint8_t *env = th_envelope_data(NULL, "mychannel", 5, (const uint8_t *)"\xff\xff", 2, now,
                                    &len);
    assert_int_equal(resolve(env, &len, 10, &p), 400);
    /* garbage envelope */
    len = 4;
    assert_int_equal(resolve(weft_memdup("\x0a\x05zz", 4), &len, 10, &p), 400);
}

/* ---- forwarding wire format and ticket runs --------------------------------- */

static void test_submit_wire(void **state)
{
    (void)state;
    struct weft_buf b;
    weft_buf_init(&b, 1u << 20);
    uint8_t big[300];
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = (uint8_t)i;
    }
    assert_int_equal(orderer__submit_batch_add(&b, (const uint8_t *)"abc", 3), 0);
    assert_int_equal(orderer__submit_batch_add(&b, big, sizeof(big)), 0); /* 2-byte length */
    assert_int_equal(orderer__submit_batch_add(&b, big, 0), 0);
    size_t at = 0;
    const uint8_t *env = NULL;
    size_t len = 0;
    assert_int_equal(orderer__submit_batch_next(b.data, b.len, &at, &env, &len), 1);
    assert_int_equal(len, 3);
    assert_memory_equal(env, "abc", 3);
    assert_int_equal(orderer__submit_batch_next(b.data, b.len, &at, &env, &len), 1);
    assert_int_equal(len, sizeof(big));
    assert_memory_equal(env, big, sizeof(big));
    assert_int_equal(orderer__submit_batch_next(b.data, b.len, &at, &env, &len), 1);
    assert_int_equal(len, 0);
    assert_int_equal(orderer__submit_batch_next(b.data, b.len, &at, &env, &len), 0);
    /* a truncated batch is malformed, never read past its end */
    at = 0;
    assert_int_equal(orderer__submit_batch_next(b.data, 3 + 2 + 100, &at, &env, &len), 1);
    assert_int_equal(orderer__submit_batch_next(b.data, 3 + 2 + 100, &at, &env, &len),
                     WEFT_EPARSE);
    weft_buf_close(&b);

    uint8_t buf[ORDERER_INFO_LEN + 64];
    char info[ORDERER_INFO_LEN];
    uint64_t count = 0;
    int st = 0;
    size_t n = orderer__submit_answer_pack(333, ORDERER_SUCCESS, "", buf);
    assert_int_equal(orderer__submit_answer_unpack(buf, n, &count, &st, info), 0);
    assert_int_equal(count, 333);
    assert_int_equal(st, ORDERER_SUCCESS);
    assert_string_equal(info, "");
    char longinfo[ORDERER_INFO_LEN];
    memset(longinfo, 'x', sizeof(longinfo) - 1);
    longinfo[sizeof(longinfo) - 1] = '\0';
    n = orderer__submit_answer_pack(1, ORDERER_UNAVAILABLE, longinfo, buf);
    assert_true(n <= sizeof(buf));
    assert_int_equal(orderer__submit_answer_unpack(buf, n, &count, &st, info), 0);
    assert_int_equal(count, 1);
    assert_int_equal(st, ORDERER_UNAVAILABLE);
    assert_string_equal(info, longinfo);
    /* the answer is a protobuf message: its BroadcastResponse decodes alone */
    assert_int_equal(buf[0], 0x08);
    assert_int_equal(orderer__submit_answer_unpack(buf, n - 1, &count, &st, info), WEFT_EPARSE);
    /* a count of 0 or a missing response is malformed */
    uint8_t zero[] = {0x08, 0x00, 0x12, 0x00};
    assert_int_equal(orderer__submit_answer_unpack(zero, sizeof(zero), &count, &st, info),
                     WEFT_EPARSE);
    uint8_t nores[] = {0x08, 0x05};
    assert_int_equal(orderer__submit_answer_unpack(nores, sizeof(nores), &count, &st, info),
                     WEFT_EPARSE);
}

struct ticket_log {
    int n;
    int arg[8];
    bool more[8];
};

static struct ticket_log g_tlog;

static void log_ticket(void *arg, int status, const char *info, bool more)
{
    assert_int_equal(status, ORDERER_SUCCESS);
    assert_non_null(info);
    g_tlog.arg[g_tlog.n] = (int)(intptr_t)arg;
    g_tlog.more[g_tlog.n++] = more;
}

static void test_ticket_runs(void **state)
{
    (void)state;
    static const char a = 'a', b = 'b';
    /* groups a a b NULL a, and a NULL slot: `more` only inside a run */
    struct orderer_ticket *t[6] = {
        orderer__ticket_new(log_ticket, (void *)1, &a), orderer__ticket_new(log_ticket, (void *)2, &a),
        orderer__ticket_new(log_ticket, (void *)3, &b), orderer__ticket_new(log_ticket, (void *)4, NULL),
        NULL,                                           orderer__ticket_new(log_ticket, (void *)5, &a)};
    memset(&g_tlog, 0, sizeof(g_tlog));
    orderer__tickets_finish(t, 6, ORDERER_SUCCESS, NULL);
    assert_int_equal(g_tlog.n, 5);
    static const bool want[5] = {true, false, false, false, false};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(g_tlog.arg[i], i + 1);
        assert_int_equal(g_tlog.more[i], want[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cutter_table),
        cmocka_unit_test(test_cutter_oversized_order),
        cmocka_unit_test(test_cutter_alloc_failures),
        cmocka_unit_test(test_header_der),
        cmocka_unit_test(test_build_and_verify),
        cmocka_unit_test(test_fabric_block_signatures),
        cmocka_unit_test(test_build_alloc_failures),
        cmocka_unit_test(test_bcast_statuses),
        cmocka_unit_test(test_seek),
        cmocka_unit_test(test_submit_wire),
        cmocka_unit_test(test_ticket_runs),
        cmocka_unit_test(test_raft_three_groups),
    };
    return cmocka_run_group_tests_name("orderer core", tests, NULL, NULL);
}
