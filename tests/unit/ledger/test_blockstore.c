/* Block store tests: hashes, append and reads (number, hash, txid), refused
 * blocks, recovery (torn tail, unindexed block), verify with a corrupt block
 * in the middle, waiting iterators with deadlines / cancel / close, file
 * rollover, the real Fabric v2.4.9 chain, and allocation failures on the
 * open/commit path. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "ledger/ledger_int.h"
#include "ledger/state_int.h"
#include "test_blockstore_gen.h"
#include "testlib.h"
#include "weft/base.h"
#include "weft/ledger.h"

#define NVEC 76

struct chain {
    uint8_t *bytes[64];
    size_t len[64];
    uint8_t hash[64][32];
    size_t n;
};

static void chain_build(struct chain *c, size_t n, size_t ntx, size_t nw)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(bg_simple_block(i, i > 0 ? c->hash[i - 1] : NULL, i > 0 ? 32 : 0, ntx, nw,
                                         &c->bytes[i], &c->len[i], c->hash[i]),
                         0);
    }
    c->n = n;
}

static void chain_free(struct chain *c)
{
    for (size_t i = 0; i < c->n; i++) {
        weft_free(c->bytes[i]);
    }
}

static struct weft_ledger *open_with(const struct weft_ledger_options *o)
{
    struct weft_ledger *l = NULL;
    struct weft_err err;
    weft_err_clear(&err);
    if (weft_ledger_open(&l, o, &err) != 0) {
        fail_msg("open: %s", err.msg);
    }
    return l;
}

static struct weft_ledger *open_ledger(const char *root, uint64_t max_file)
{
    struct weft_ledger_options o;
    weft_ledger_options_init(&o);
    o.root = root;
    o.channel = "testchannel";
    o.max_file_size = max_file;
    return open_with(&o);
}

static char *chain_dir(const char *root)
{
    return weft_asprintf("%s/ledgersData/chains/testchannel", root);
}

static uint64_t file_size(const char *root, unsigned n)
{
    char *p = weft_asprintf("%s/ledgersData/chains/testchannel/blockfile_%06u", root, n);
    struct stat st;
    int rc = stat(p, &st);
    weft_free(p);
    return rc == 0 ? (uint64_t)st.st_size : 0;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        sprintf(out + 2 * i, "%02x", p[i]);
    }
}

/* ---- hashing ---------------------------------------------------------- */

static void test_header_der(void **state)
{
    (void)state;
    /* Block 0 example from the spec: 30 27 02 01 00 04 00 04 20 <32>. */
    uint8_t dh[32], h1[32], h2[32];
    memset(dh, 0xab, sizeof(dh));
    uint8_t der[41] = {0x30, 0x27, 0x02, 0x01, 0x00, 0x04, 0x00, 0x04, 0x20};
    memcpy(der + 9, dh, 32);
    ProtobufCBinaryData d = {sizeof(der), der};
    weft_ledger_data_hash(&d, 1, h1); /* SHA-256(der) */
    assert_int_equal(weft_ledger_header_hash(0, NULL, 0, dh, 32, h2), 0);
    assert_memory_equal(h1, h2, 32);
    /* 128 needs a leading zero octet: 02 02 00 80. */
    uint8_t der2[42] = {0x30, 0x28, 0x02, 0x02, 0x00, 0x80, 0x04, 0x00, 0x04, 0x20};
    memcpy(der2 + 10, dh, 32);
    d.data = der2;
    d.len = 42;
    weft_ledger_data_hash(&d, 1, h1);
    assert_int_equal(weft_ledger_header_hash(128, NULL, 0, dh, 32, h2), 0);
    assert_memory_equal(h1, h2, 32);
}

/* ---- the real chain ----------------------------------------------------- */

static uint8_t *read_vec_block(unsigned n, size_t *len)
{
    char *p = weft_asprintf("%s/vectors/fabric-2.4.9/blocks/%06u.block", wt_shared_dir(), n);
    uint8_t *b = (uint8_t *)wt_read_file(p, len);
    weft_free(p);
    assert_non_null(b);
    return b;
}

static json_t *read_vec_json(unsigned n)
{
    char *p = weft_asprintf("%s/vectors/fabric-2.4.9/expected/%06u.json", wt_shared_dir(), n);
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    weft_free(p);
    assert_non_null(j);
    return j;
}

static void test_fabric_vectors(void **state)
{
    (void)state;
    char *root = wt_tmpdir("ledger-vec");
    struct weft_ledger *l = open_ledger(root, 0);
    struct weft_err err;
    for (unsigned n = 0; n < NVEC; n++) {
        size_t len;
        uint8_t *b = read_vec_block(n, &len);
        json_t *j = read_vec_json(n);
        Common__Block *blk = common__block__unpack(NULL, len, b);
        assert_non_null(blk);
        uint8_t h[32];
        char hx[65];
        assert_int_equal(ledger__block_header_hash(blk, h), 0);
        hex(h, 32, hx);
        assert_string_equal(hx, json_string_value(json_object_get(j, "header_hash")));
        common__block__free_unpacked(blk, NULL);
        weft_err_clear(&err);
        int rc = weft_ledger_commit_bytes(l, b, len, &err);
        if (rc != 0) {
            fail_msg("commit vector block %u: %s", n, err.msg);
        }
        struct weft_ledger_info info;
        weft_ledger_info(l, &info);
        assert_int_equal(info.height, n + 1);
        assert_memory_equal(info.current_hash, h, 32);
        /* Read back by number and by hash: byte-identical. */
        uint8_t *got;
        size_t glen;
        assert_int_equal(weft_ledger_block_by_number(l, n, &got, &glen, &err), 0);
        assert_int_equal(glen, len);
        assert_memory_equal(got, b, len);
        weft_free(got);
        assert_int_equal(weft_ledger_block_by_hash(l, h, 32, &got, &glen, &err), 0);
        assert_int_equal(glen, len);
        weft_free(got);
        /* Every txid: first occurrence and its validation code. */
        json_t *txs = json_object_get(j, "transactions");
        for (size_t i = 0; i < json_array_size(txs); i++) {
            json_t *t = json_array_get(txs, i);
            const char *txid = json_string_value(json_object_get(t, "txid"));
            int code = (int)json_integer_value(json_object_get(t, "validation_code"));
            struct weft_ledger_txloc loc;
            assert_int_equal(weft_ledger_tx_by_id(l, txid, &loc, &err), 0);
            if (code != 9) { /* DUPLICATE_TXID copies point at the first one */
                assert_int_equal(loc.block, n);
                assert_int_equal(loc.tx, i);
                assert_int_equal(loc.code, code);
            } else {
                assert_true(loc.block < n || (loc.block == n && loc.tx < i));
                assert_int_equal(loc.code, 0);
            }
            assert_int_equal(weft_ledger_block_by_txid(l, txid, &got, &glen, &err), 0);
            assert_int_equal(glen, loc.block == n ? len : glen);
            weft_free(got);
        }
        json_decref(j);
        weft_free(b);
    }
    struct weft_ledger_info info;
    weft_ledger_info(l, &info);
    char hx[65];
    hex(info.current_hash, 32, hx);
    assert_string_equal(hx, "e1f3e9c7e828515e1129cfbc231854104287c83f7bb8b94c203ee94b38e4c77f");
    assert_int_equal(info.previous_hash_len, 32);
    weft_ledger_close(l);

    /* Reopen: same info; verify passes over the whole chain. */
    l = open_ledger(root, 0);
    struct weft_ledger_info info2;
    weft_ledger_info(l, &info2);
    assert_int_equal(info2.height, NVEC);
    assert_memory_equal(info2.current_hash, info.current_hash, 32);
    assert_memory_equal(info2.previous_hash, info.previous_hash, 32);
    weft_ledger_close(l);
    char *cd = chain_dir(root);
    uint64_t h = 0;
    weft_err_clear(&err);
    assert_int_equal(weft_ledger_verify_dir(cd, &h, &err), 0);
    assert_int_equal(h, NVEC);
    weft_free(cd);
    wt_rmtree(root);
    weft_free(root);
}

/* ---- append and reads --------------------------------------------------- */

static void test_append_read(void **state)
{
    (void)state;
    char *root = wt_tmpdir("ledger-rw");
    struct chain c;
    chain_build(&c, 6, 3, 2);
    struct weft_ledger *l = open_ledger(root, 0);
    struct weft_err err;
    struct weft_ledger_info info;
    weft_ledger_info(l, &info);
    assert_int_equal(info.height, 0);
    for (size_t i = 0; i < c.n; i++) {
        assert_int_equal(weft_ledger_commit_bytes(l, c.bytes[i], c.len[i], &err), 0);
    }
    weft_ledger_info(l, &info);
    assert_int_equal(info.height, 6);
    assert_memory_equal(info.current_hash, c.hash[5], 32);
    assert_memory_equal(info.previous_hash, c.hash[4], 32);
    uint8_t *b;
    size_t len;
    for (size_t i = 0; i < c.n; i++) {
        assert_int_equal(weft_ledger_block_by_number(l, i, &b, &len, &err), 0);
        assert_int_equal(len, c.len[i]);
        assert_memory_equal(b, c.bytes[i], len);
        weft_free(b);
        assert_int_equal(weft_ledger_block_by_hash(l, c.hash[i], 32, &b, &len, &err), 0);
        assert_memory_equal(b, c.bytes[i], len);
        weft_free(b);
    }
    assert_int_equal(weft_ledger_block_by_number(l, 6, &b, &len, &err), WEFT_ENOTFOUND);
    uint8_t zero[32] = {0};
    assert_int_equal(weft_ledger_block_by_hash(l, zero, 32, &b, &len, &err), WEFT_ENOTFOUND);
    struct weft_ledger_txloc t;
    assert_int_equal(weft_ledger_tx_by_id(l, "tx4_2", &t, &err), 0);
    assert_int_equal(t.block, 4);
    assert_int_equal(t.tx, 2);
    assert_int_equal(t.code, 0);
    assert_int_equal(weft_ledger_block_by_txid(l, "tx3_1", &b, &len, &err), 0);
    assert_memory_equal(b, c.bytes[3], len);
    weft_free(b);
    assert_int_equal(weft_ledger_tx_by_id(l, "nope", &t, &err), WEFT_ENOTFOUND);

    /* The state got the writes at version (block, tx). */
    MDB_txn *txn;
    assert_int_equal(ledger__read_begin(l, &txn, &err), 0);
    bool found = false;
    struct weft_ledger_version ver;
    const uint8_t *val, *meta;
    size_t vlen, mlen;
    assert_int_equal(ledger__state_get_in(l->state, txn, "basic", (const uint8_t *)"k5_1_0", 6,
                                          &found, &ver, &val, &vlen, &meta, &mlen, &err),
                     0);
    assert_true(found);
    assert_int_equal(ver.block_num, 5);
    assert_int_equal(ver.tx_num, 1);
    assert_int_equal(vlen, 6);
    assert_memory_equal(val, "v5_1_0", 6);
    ledger__read_end(l, txn);
    weft_ledger_close(l);

    /* Reopen and continue the chain. */
    l = open_ledger(root, 0);
    weft_ledger_info(l, &info);
    assert_int_equal(info.height, 6);
    uint8_t *nb;
    size_t nlen;
    uint8_t nh[32];
    assert_int_equal(bg_simple_block(6, c.hash[5], 32, 2, 2, &nb, &nlen, nh), 0);
    assert_int_equal(weft_ledger_commit_bytes(l, nb, nlen, &err), 0);
    weft_ledger_info(l, &info);
    assert_int_equal(info.height, 7);
    assert_memory_equal(info.current_hash, nh, 32);
    weft_free(nb);
    weft_ledger_close(l);
    chain_free(&c);
    wt_rmtree(root);
    weft_free(root);
}

/* Commit through the decoded-block entry point. */
static void test_commit_decoded(void **state)
{
    (void)state;
    char *root = wt_tmpdir("ledger-dec");
    struct chain c;
    chain_build(&c, 3, 2, 1);
    struct weft_ledger *l = open_ledger(root, 0);
    struct weft_err err;
    for (size_t i = 0; i < c.n; i++) {
        Common__Block *blk = common__block__unpack(NULL, c.len[i], c.bytes[i]);
        assert_non_null(blk);
        assert_int_equal(weft_ledger_commit(l, blk, &err), 0);
        common__block__free_unpacked(blk, NULL);
    }
    uint8_t *b;
    size_t len;
    assert_int_equal(weft_ledger_block_by_number(l, 2, &b, &len, &err), 0);
    assert_int_equal(len, c.len[2]);
    assert_memory_equal(b, c.bytes[2], len);
    weft_free(b);
    weft_ledger_close(l);
    chain_free(&c);
    wt_rmtree(root);
    weft_free(root);
}

/* The orderer's ledger: blocks only, no txid index. Up to the pending ids'
 * merge point (64 blocks) and across a reopen, reads by number and hash
 * work and a txid lookup says the index is not kept. */
static struct weft_ledger *open_blocks_only(const char *root)
{
    struct weft_ledger_options o;
    weft_ledger_options_init(&o);
    o.root = root;
    o.channel = "testchannel";
    o.history = false;
    o.no_state = true;
    o.no_txid_index = true;
    return open_with(&o);
}

static void test_no_txid_index(void **state)
{
    (void)state;
    char *root = wt_tmpdir("ledger-notxid");
    struct chain c;
    chain_build(&c, 64, 2, 1);
    struct weft_ledger *l = open_blocks_only(root);
    struct weft_err err;
    for (size_t i = 0; i < c.n; i++) {
        assert_int_equal(weft_ledger_commit_bytes(l, c.bytes[i], c.len[i], &err), 0);
    }
    for (int round = 0; round < 2; round++) {
        struct weft_ledger_info info;
        weft_ledger_info(l, &info);
        assert_int_equal(info.height, 64);
        uint8_t *b;
        size_t len;
        assert_int_equal(weft_ledger_block_by_number(l, 63, &b, &len, &err), 0);
        assert_int_equal(len, c.len[63]);
        assert_memory_equal(b, c.bytes[63], len);
        weft_free(b);
        assert_int_equal(weft_ledger_block_by_hash(l, c.hash[3], 32, &b, &len, &err), 0);
        assert_memory_equal(b, c.bytes[3], len);
        weft_free(b);
        struct weft_ledger_txloc t;
        weft_err_clear(&err);
        assert_int_equal(weft_ledger_tx_by_id(l, "tx4_1", &t, &err), WEFT_EUNSUPPORTED);
        assert_non_null(strstr(err.msg, "no transaction-id index"));
        assert_int_equal(weft_ledger_block_by_txid(l, "tx63_0", &b, &len, &err),
                         WEFT_EUNSUPPORTED);
        weft_ledger_close(l);
        l = round == 0 ? open_blocks_only(root) : NULL;
    }
    chain_free(&c);
    wt_rmtree(root);
    weft_free(root);
}

/* ---- refused blocks ----------------------------------------------------- */

static void test_refused(void **state)
{
    (void)state;
    char *root = wt_tmpdir("ledger-bad");
    struct chain c;
    chain_build(&c, 3, 2, 1);
    struct weft_ledger *l = open_ledger(root, 0);
    struct weft_err err;
    assert_int_equal(weft_ledger_commit_bytes(l, c.bytes[0], c.len[0], &err), 0);
    assert_int_equal(weft_ledger_commit_bytes(l, c.bytes[1], c.len[1], &err), 0);
    uint64_t before = file_size(root, 0);

    /* Wrong number: block 1 again, block 3 (gap). */
    weft_err_clear(&err);
    assert_int_equal(weft_ledger_commit_bytes(l, c.bytes[1], c.len[1], &err), WEFT_EINVAL);
    assert_non_null(strstr(err.msg, "expected 2"));
    uint8_t *b;
    size_t len;
    uint8_t h[32];
    assert_int_equal(bg_simple_block(3, c.hash[1], 32, 1, 1, &b, &len, h), 0);
    assert_int_equal(weft_ledger_commit_bytes(l, b, len, &err), WEFT_EINVAL);
    weft_free(b);
    /* Wrong previous hash. */
    uint8_t bad[32];
    memcpy(bad, c.hash[1], 32);
    bad[7] ^= 1;
    assert_int_equal(bg_simple_block(2, bad, 32, 1, 1, &b, &len, h), 0);
    weft_err_clear(&err);
    assert_int_equal(weft_ledger_commit_bytes(l, b, len, &err), WEFT_EINVAL);
    assert_non_null(strstr(err.msg, "previous hash"));
    weft_free(b);
    /* Wrong data hash: tamper with the data hash field in the header. */
    Common__Block *blk = common__block__unpack(NULL, c.len[2], c.bytes[2]);
    assert_non_null(blk);
    blk->header->data_hash.data[0] ^= 0xff;
    weft_err_clear(&err);
    assert_int_equal(weft_ledger_commit(l, blk, &err), WEFT_EINVAL);
    assert_non_null(strstr(err.msg, "data hash"));
    blk->header->data_hash.data[0] ^= 0xff;
    /* Wrong filter length. */
    uint8_t codes[5] = {0};
    blk->metadata->metadata[2].data = codes;
    blk->metadata->metadata[2].len = 5;
    assert_int_equal(weft_ledger_commit(l, blk, &err), WEFT_EINVAL);
    blk->metadata->metadata[2].data = NULL;
    blk->metadata->metadata[2].len = 0;
    common__block__free_unpacked(blk, NULL);
    /* Not a block at all. */
    uint8_t junk[4] = {0xff, 0xff, 0xff, 0xff};
    assert_int_equal(weft_ledger_commit_bytes(l, junk, sizeof(junk), &err), WEFT_EPARSE);

    /* Nothing was written. */
    assert_int_equal(file_size(root, 0), before);
    struct weft_ledger_info info;
    weft_ledger_info(l, &info);
    assert_int_equal(info.height, 2);
    /* The right block still goes in. */
    assert_int_equal(weft_ledger_commit_bytes(l, c.bytes[2], c.len[2], &err), 0);
    weft_ledger_close(l);
    char *cd = chain_dir(root);
    uint64_t hgt;
    assert_int_equal(weft_ledger_verify_dir(cd, &hgt, &err), 0);
    assert_int_equal(hgt, 3);
    weft_free(cd);
    chain_free(&c);
    wt_rmtree(root);
    weft_free(root);
}

/* ---- recovery ----------------------------------------------------------- */

static void test_torn_tail(void **state)
{
    (void)state;
    char *root = wt_tmpdir("ledger-torn");
    struct chain c;
    chain_build(&c, 4, 2, 2);
    struct weft_ledger *l = open_ledger(root, 0);
    struct weft_err err;
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(weft_ledger_commit_bytes(l, c.bytes[i], c.len[i], &err), 0);
    }
    weft_ledger_close(l);
    uint64_t good = file_size(root, 0);
    /* Half of block 3's record, as if the process died mid-write. */
    uint8_t hdr[LEDGER_REC_HDR];
    ledger__rec_header(hdr, 3, c.bytes[3], c.len[3]);
    char *p = weft_asprintf("%s/ledgersData/chains/testchannel/blockfile_000000", root);
    int fd = open(p, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
    assert_int_equal(write(fd, c.bytes[3], c.len[3] / 2), (ssize_t)(c.len[3] / 2));
    close(fd);
    char *cd = chain_dir(root);
    uint64_t hgt;
    weft_err_clear(&err);
    assert_int_equal(weft_ledger_verify_dir(cd, &hgt, &err), WEFT_ECORRUPT);
    assert_non_null(strstr(err.msg, "torn"));
    l = open_ledger(root, 0);
    struct weft_ledger_info info;
    weft_ledger_info(l, &info);
    assert_int_equal(info.height, 3);
    assert_int_equal(file_size(root, 0), good);
    assert_int_equal(weft_ledger_commit_bytes(l, c.bytes[3], c.len[3], &err), 0);
    weft_ledger_close(l);
    assert_int_equal(weft_ledger_verify_dir(cd, &hgt, &err), 0);
    assert_int_equal(hgt, 4);
    weft_free(cd);
    weft_free(p);
    chain_free(&c);
    wt_rmtree(root);
    weft_free(root);
}

/* A block in the file but not in LMDB (crash between the two) is indexed and
 * applied to the state on open. */
static void test_replay_unindexed(void **state)
{
    (void)state;
    char *root = wt_tmpdir("ledger-replay");
    struct chain c;
    chain_build(&c, 4, 2, 2);
    struct weft_ledger *l = open_ledger(root, 0);
    struct weft_err err;
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(weft_ledger_commit_bytes(l, c.bytes[i], c.len[i], &err), 0);
    }
    struct ledger_blockloc loc;
    assert_int_equal(ledger__file_append(l, 2, c.bytes[2], c.len[2], &loc, &err), 0);
    assert_int_equal(ledger__file_append(l, 3, c.bytes[3], c.len[3], &loc, &err), 0);
    struct weft_ledger_info info;
    weft_ledger_info(l, &info);
    assert_int_equal(info.height, 2);
    weft_ledger_close(l);
    char *cd = chain_dir(root);
    uint64_t hgt;
    assert_int_equal(weft_ledger_verify_dir(cd, &hgt, &err), 0); /* index lag is not damage */
    assert_int_equal(hgt, 4);
    l = open_ledger(root, 0);
    weft_ledger_info(l, &info);
    assert_int_equal(info.height, 4);
    assert_memory_equal(info.current_hash, c.hash[3], 32);
    struct weft_ledger_txloc t;
    assert_int_equal(weft_ledger_tx_by_id(l, "tx3_1", &t, &err), 0);
    assert_int_equal(t.block, 3);
    MDB_txn *txn;
    assert_int_equal(ledger__read_begin(l, &txn, &err), 0);
    bool found = false;
    struct weft_ledger_version ver;
    const uint8_t *val, *meta;
    size_t vlen, mlen;
    assert_int_equal(ledger__state_get_in(l->state, txn, "basic", (const uint8_t *)"k3_1_1", 6,
                                          &found, &ver, &val, &vlen, &meta, &mlen, &err),
                     0);
    assert_true(found);
    assert_int_equal(ver.block_num, 3);
    ledger__read_end(l, txn);
    weft_ledger_close(l);
    assert_int_equal(weft_ledger_verify_dir(cd, &hgt, &err), 0);
    weft_free(cd);
    chain_free(&c);
    wt_rmtree(root);
    weft_free(root);
}

/* A damaged record in the middle: verify names file and offset; reading
 * that block reports corruption. */
static void test_corrupt_middle(void **state)
{
    (void)state;
    char *root = wt_tmpdir("ledger-corrupt");
    struct chain c;
    chain_build(&c, 5, 2, 2);
    struct weft_ledger *l = open_ledger(root, 0);
    struct weft_err err;
    for (size_t i = 0; i < c.n; i++) {
        assert_int_equal(weft_ledger_commit_bytes(l, c.bytes[i], c.len[i], &err), 0);
    }
    weft_ledger_close(l);
    uint64_t off2 = 0;
    for (size_t i = 0; i < 2; i++) {
        off2 += LEDGER_REC_HDR + c.len[i];
    }
    char *p = weft_asprintf("%s/ledgersData/chains/testchannel/blockfile_000000", root);
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    uint8_t byte;
    assert_int_equal(pread(fd, &byte, 1, (off_t)(off2 + LEDGER_REC_HDR + 10)), 1);
    byte ^= 0x40;
    assert_int_equal(pwrite(fd, &byte, 1, (off_t)(off2 + LEDGER_REC_HDR + 10)), 1);
    close(fd);
    char *cd = chain_dir(root);
    uint64_t hgt = 99;
    weft_err_clear(&err);
    assert_int_equal(weft_ledger_verify_dir(cd, &hgt, &err), WEFT_ECORRUPT);
    char want[64];
    snprintf(want, sizeof(want), "blockfile_000000 offset %llu", (unsigned long long)off2);
    assert_non_null(strstr(err.msg, want));
    assert_int_equal(hgt, 2);
    l = open_ledger(root, 0); /* the savepoint is past it: open works */
    uint8_t *b;
    size_t len;
    assert_int_equal(weft_ledger_block_by_number(l, 2, &b, &len, &err), WEFT_ECORRUPT);
    assert_int_equal(weft_ledger_block_by_number(l, 3, &b, &len, &err), 0);
    weft_free(b);
    weft_ledger_close(l);
    weft_free(cd);
    weft_free(p);
    chain_free(&c);
    wt_rmtree(root);
    weft_free(root);
}

static void test_rollover(void **state)
{
    (void)state;
    char *root = wt_tmpdir("ledger-roll");
    struct chain c;
    chain_build(&c, 8, 4, 2);
    struct weft_ledger *l = open_ledger(root, 2048);
    struct weft_err err;
    for (size_t i = 0; i < c.n; i++) {
        assert_int_equal(weft_ledger_commit_bytes(l, c.bytes[i], c.len[i], &err), 0);
    }
    weft_ledger_close(l);
    assert_true(file_size(root, 2) > 0);
    l = open_ledger(root, 2048);
    for (size_t i = 0; i < c.n; i++) {
        uint8_t *b;
        size_t len;
        assert_int_equal(weft_ledger_block_by_number(l, i, &b, &len, &err), 0);
        assert_memory_equal(b, c.bytes[i], len);
        weft_free(b);
    }
    weft_ledger_close(l);
    char *cd = chain_dir(root);
    uint64_t hgt;
    assert_int_equal(weft_ledger_verify_dir(cd, &hgt, &err), 0);
    assert_int_equal(hgt, 8);
    uint8_t *b;
    size_t len;
    assert_int_equal(weft_ledger_read_dir(cd, 5, &b, &len, &err), 0);
    assert_memory_equal(b, c.bytes[5], len);
    weft_free(b);
    weft_free(cd);
    chain_free(&c);
    wt_rmtree(root);
    weft_free(root);
}

/* ---- iterators ---------------------------------------------------------- */

struct appender {
    struct weft_ledger *l;
    struct chain *c;
    size_t from;
    int rc;
};

static void *append_thread(void *arg)
{
    struct appender *a = arg;
    struct weft_err err;
    for (size_t i = a->from; i < a->c->n && a->rc == 0; i++) {
        usleep(5000); /* let the reader block first; correctness does not depend on it */
        a->rc = weft_ledger_commit_bytes(a->l, a->c->bytes[i], a->c->len[i], &err);
    }
    return NULL;
}

static void test_iterator_wait(void **state)
{
    (void)state;
    char *root = wt_tmpdir("ledger-iter");
    struct chain c;
    chain_build(&c, 6, 2, 1);
    struct weft_ledger *l = open_ledger(root, 0);
    struct weft_err err;
    assert_int_equal(weft_ledger_commit_bytes(l, c.bytes[0], c.len[0], &err), 0);
    struct weft_ledger_iter *it;
    assert_int_equal(weft_ledger_iter_new(l, 0, &it, &err), 0);
    struct appender a = {l, &c, 1, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, append_thread, &a), 0);
    for (uint64_t i = 0; i < c.n; i++) {
        uint8_t *b;
        size_t len;
        uint64_t num;
        uint64_t deadline = weft_clock_mono_ns() + 10ull * 1000000000ull;
        assert_int_equal(weft_ledger_iter_next(it, deadline, &b, &len, &num, &err), 0);
        assert_int_equal(num, i);
        assert_memory_equal(b, c.bytes[i], len);
        weft_free(b);
    }
    pthread_join(th, NULL);
    assert_int_equal(a.rc, 0);
    /* Deadline: nothing more comes. */
    uint64_t t0 = weft_clock_mono_ns();
    uint8_t *b;
    size_t len;
    assert_int_equal(weft_ledger_iter_next(it, t0 + 50000000ull, &b, &len, NULL, &err),
                     WEFT_ETIMEDOUT);
    assert_true(weft_clock_mono_ns() - t0 >= 50000000ull);
    weft_ledger_iter_free(it);
    /* Iterator starting in the middle. */
    assert_int_equal(weft_ledger_iter_new(l, 4, &it, &err), 0);
    uint64_t num;
    assert_int_equal(weft_ledger_iter_next(it, 0, &b, &len, &num, &err), 0);
    assert_int_equal(num, 4);
    weft_free(b);
    weft_ledger_iter_free(it);
    weft_ledger_close(l);
    chain_free(&c);
    wt_rmtree(root);
    weft_free(root);
}

struct waiter {
    struct weft_ledger_iter *it;
    int rc;
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    uint8_t *b;
    size_t len;
    struct weft_err err;
    w->rc = weft_ledger_iter_next(w->it, 0, &b, &len, NULL, &err); /* forever */
    return NULL;
}

static void test_iterator_cancel_close(void **state)
{
    (void)state;
    char *root = wt_tmpdir("ledger-cancel");
    struct weft_ledger *l = open_ledger(root, 0);
    struct weft_err err;
    struct waiter w = {NULL, 1};
    assert_int_equal(weft_ledger_iter_new(l, 0, &w.it, &err), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wait_thread, &w), 0);
    usleep(20000);
    weft_ledger_iter_cancel(w.it);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, WEFT_ECANCELED);
    weft_ledger_iter_free(w.it);

    w.rc = 1;
    assert_int_equal(weft_ledger_iter_new(l, 0, &w.it, &err), 0);
    assert_int_equal(pthread_create(&th, NULL, wait_thread, &w), 0);
    usleep(20000);
    weft_ledger_close(l); /* the iterator keeps the ledger alive */
    pthread_join(th, NULL);
    assert_int_equal(w.rc, WEFT_ESHUTDOWN);
    weft_ledger_iter_free(w.it);
    wt_rmtree(root);
    weft_free(root);
}

/* ---- bad options -------------------------------------------------------- */

static void test_bad_options(void **state)
{
    (void)state;
    struct weft_ledger_options o;
    weft_ledger_options_init(&o);
    struct weft_ledger *l = NULL;
    struct weft_err err;
    assert_int_equal(weft_ledger_open(&l, &o, &err), WEFT_EINVAL);
    o.root = "/tmp";
    o.channel = "Bad/Name";
    assert_int_equal(weft_ledger_open(&l, &o, &err), WEFT_EINVAL);
    assert_null(l);
}

/* ---- record parser ------------------------------------------------------ */

static void test_record_parse(void **state)
{
    (void)state;
    uint8_t rec[LEDGER_REC_HDR + 5];
    memcpy(rec + LEDGER_REC_HDR, "hello", 5);
    ledger__rec_header(rec, 42, rec + LEDGER_REC_HDR, 5);
    uint64_t n;
    uint32_t len;
    assert_int_equal(ledger__rec_parse(rec, sizeof(rec), &n, &len), 0);
    assert_int_equal(n, 42);
    assert_int_equal(len, 5);
    assert_int_equal(ledger__rec_parse(rec, sizeof(rec) - 1, &n, &len), WEFT_EPARSE);
    assert_int_equal(ledger__rec_parse(rec, 10, &n, &len), WEFT_EPARSE);
    rec[LEDGER_REC_HDR + 2] ^= 1;
    assert_int_equal(ledger__rec_parse(rec, sizeof(rec), &n, &len), WEFT_ECORRUPT);
    rec[LEDGER_REC_HDR + 2] ^= 1;
    rec[0] ^= 1;
    assert_int_equal(ledger__rec_parse(rec, sizeof(rec), &n, &len), WEFT_ECORRUPT);
    /* CRC-32C check value. */
    assert_int_equal(ledger__crc32c(0, (const uint8_t *)"123456789", 9), 0xE3069283u);
}

/* ---- allocation failures on open / commit ------------------------------- */

static void test_alloc_failures(void **state)
{
    (void)state;
    char *root = wt_tmpdir("ledger-oom");
    struct chain c;
    chain_build(&c, 2, 2, 2);
    struct weft_err err;
    {
        struct weft_ledger *l = open_ledger(root, 0);
        assert_int_equal(weft_ledger_commit_bytes(l, c.bytes[0], c.len[0], &err), 0);
        weft_ledger_close(l);
    }
    bool committed = false;
    for (uint64_t n = 1; n < 5000 && !committed; n++) {
        struct weft_ledger_options o;
        weft_ledger_options_init(&o);
        o.root = root;
        o.channel = "testchannel";
        struct weft_ledger *l = NULL;
        weft_alloc_fail_after(n);
        int rc = weft_ledger_open(&l, &o, &err);
        if (rc == 0) {
            rc = weft_ledger_commit_bytes(l, c.bytes[1], c.len[1], &err);
            committed = rc == 0;
        }
        weft_alloc_fail_after(0);
        if (l != NULL) {
            struct weft_ledger_info info;
            weft_ledger_info(l, &info);
            assert_int_equal(info.height, committed ? 2 : 1);
            weft_ledger_close(l);
        }
        /* Whatever failed, the ledger reopens consistent. */
        struct weft_ledger *l2 = open_ledger(root, 0);
        struct weft_ledger_info info;
        weft_ledger_info(l2, &info);
        assert_int_equal(info.height, committed ? 2 : 1);
        weft_ledger_close(l2);
    }
    assert_true(committed);
    char *cd = chain_dir(root);
    uint64_t hgt;
    assert_int_equal(weft_ledger_verify_dir(cd, &hgt, &err), 0);
    assert_int_equal(hgt, 2);
    weft_free(cd);
    chain_free(&c);
    wt_rmtree(root);
    weft_free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_der),
        cmocka_unit_test(test_record_parse),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_append_read),
        cmocka_unit_test(test_commit_decoded),
        cmocka_unit_test(test_no_txid_index),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_torn_tail),
        cmocka_unit_test(test_replay_unindexed),
        cmocka_unit_test(test_corrupt_middle),
        cmocka_unit_test(test_rollover),
        cmocka_unit_test(test_iterator_wait),
        cmocka_unit_test(test_iterator_cancel_close),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_fabric_vectors),
    };
    return cmocka_run_group_tests_name("ledger_blocks", tests, NULL, NULL);
}
