/* The real Fabric v2.4.9 chain (../shared/vectors/fabric-2.4.9, see its
 * README) through the validator and the ledger:
 *  - every block's orderer signatures are checked against
 *    /Channel/Orderer/BlockValidation of the genesis config;
 *  - with TRANSACTIONS_FILTER cleared, the validator must reproduce Fabric's
 *    code for each of the 511 transactions;
 *  - the committed blocks must have Fabric's header hashes, and the final
 *    world state (values, versions, key-level metadata) and the key
 *    histories must equal expected/state-all-namespaces.json and
 *    expected/history.json;
 *  - tampered copies (endorsement or creator signature flipped, a replayed
 *    envelope, a broken orderer signature) get the codes Fabric gives. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "peer/transaction.pb-c.h"
#include "test_committer.h"
#include "testlib.h"
#include "weft/committer.h"
#include "weft/configtx.h"
#include "weft/crypto.h"
#include "weft/ledger.h"
#include "weft/ledger_state.h"

/* ---- vector access ------------------------------------------------------------ */

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static uint8_t *b64dec(const char *s, size_t *out_len)
{
    size_t n = strlen(s);
    uint8_t *o = malloc(n + 1);
    size_t ol = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(s[i]);
        if (v < 0)
            continue;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[ol++] = (uint8_t)(acc >> bits);
        }
    }
    *out_len = ol;
    return o;
}

static json_t *load_json(const char *rel)
{
    char *p = weft_asprintf("%s/vectors/fabric-2.4.9/%s", wt_shared_dir(), rel);
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    if (j == NULL)
        fail_msg("cannot load %s: %s", p, je.text);
    weft_free(p);
    return j;
}

uint8_t *vec_block_bytes(unsigned n, size_t *len)
{
    char *p = weft_asprintf("%s/vectors/fabric-2.4.9/blocks/%06u.block", wt_shared_dir(), n);
    uint8_t *b = (uint8_t *)wt_read_file(p, len);
    if (b == NULL)
        fail_msg("cannot read %s", p);
    weft_free(p);
    return b;
}

Common__Block *vec_block(unsigned n)
{
    size_t len;
    uint8_t *b = vec_block_bytes(n, &len);
    Common__Block *blk = common__block__unpack(NULL, len, b);
    weft_free(b);
    assert_non_null(blk);
    assert_true(blk->metadata->n_metadata > 2);
    /* the committer's input: the filter as the orderer leaves it (empty) */
    free(blk->metadata->metadata[2].data);
    blk->metadata->metadata[2].data = NULL;
    blk->metadata->metadata[2].len = 0;
    return blk;
}

void vec_expected_codes(unsigned n, uint8_t *codes, size_t *ntx)
{
    char rel[64];
    snprintf(rel, sizeof(rel), "expected/%06u.json", n);
    json_t *j = load_json(rel);
    json_t *c = json_object_get(j, "validation_codes");
    *ntx = json_array_size(c);
    for (size_t i = 0; i < *ntx; i++)
        codes[i] = (uint8_t)json_integer_value(json_array_get(c, i));
    json_decref(j);
}

const char *vec_expected_header_hash(unsigned n)
{
    static char buf[80];
    char rel[64];
    snprintf(rel, sizeof(rel), "expected/%06u.json", n);
    json_t *j = load_json(rel);
    snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(j, "header_hash")));
    json_decref(j);
    return buf;
}

void vec_check_state(struct weft_ledger *l)
{
    json_t *all = load_json("expected/state-all-namespaces.json");
    json_t *pub = json_object_get(all, "public");
    struct weft_ledger_sim *q;
    struct weft_err err = {0};
    assert_int_equal(weft_ledger_qe_new(l, &q, &err), 0);
    const char *ns;
    json_t *keys;
    size_t checked = 0;
    json_object_foreach(pub, ns, keys)
    {
        const char *key;
        json_t *ent;
        json_object_foreach(keys, key, ent)
        {
            uint8_t *v = NULL;
            size_t vl = 0;
            bool found = false;
            struct weft_ledger_version ver;
            if (weft_ledger_sim_get(q, ns, key, strlen(key), &v, &vl, &found, &ver, &err) != 0)
                fail_msg("get %s/%s: %s", ns, key, err.msg);
            if (!found)
                fail_msg("state: %s/%s missing", ns, key);
            size_t wl;
            uint8_t *want = b64dec(json_string_value(json_object_get(ent, "value")), &wl);
            if (wl != vl || memcmp(want, v, vl) != 0)
                fail_msg("state: %s/%s value differs", ns, key);
            char vs[64];
            snprintf(vs, sizeof(vs), "%llu:%llu", (unsigned long long)ver.block_num,
                     (unsigned long long)ver.tx_num);
            if (strcmp(vs, json_string_value(json_object_get(ent, "version"))) != 0)
                fail_msg("state: %s/%s version %s, Fabric %s", ns, key, vs,
                         json_string_value(json_object_get(ent, "version")));
            free(want);
            weft_free(v);
            json_t *md = json_object_get(ent, "metadata");
            uint8_t *meta = NULL;
            size_t ml = 0;
            assert_int_equal(
                weft_ledger_sim_get_metadata(q, ns, key, strlen(key), &meta, &ml, &err), 0);
            if (md != NULL) {
                size_t sl;
                uint8_t *ser =
                    b64dec(json_string_value(json_object_get(md, "serialized")), &sl);
                if (meta == NULL || sl != ml || memcmp(ser, meta, ml) != 0)
                    fail_msg("state: %s/%s metadata differs", ns, key);
                free(ser);
            } else if (meta != NULL) {
                fail_msg("state: %s/%s has metadata Fabric does not have", ns, key);
            }
            weft_free(meta);
            checked++;
        }
        /* no extra keys: count the namespace */
        struct weft_ledger_range_iter *it;
        assert_int_equal(weft_ledger_sim_range(q, ns, "", 0, "", 0, 0, &it, &err), 0);
        struct weft_ledger_kv kv;
        size_t n = 0;
        int rc;
        while ((rc = weft_ledger_range_next(it, &kv, &err)) == 1)
            n++;
        assert_int_equal(rc, 0);
        weft_ledger_range_free(it);
        if (n != json_object_size(keys))
            fail_msg("state: namespace '%s' has %zu keys, Fabric %zu", ns, n,
                     json_object_size(keys));
    }
    assert_true(checked >= 160 + 5 + 1);
    weft_ledger_sim_free(q);
    json_decref(all);
}

void vec_check_history(struct weft_ledger *l)
{
    json_t *hist = load_json("expected/history.json");
    struct weft_ledger_sim *q;
    struct weft_err err = {0};
    assert_int_equal(weft_ledger_qe_new(l, &q, &err), 0);
    const char *key;
    json_t *h;
    json_object_foreach(hist, key, h)
    {
        json_t *entries = json_object_get(h, "entries");
        struct weft_ledger_hist_iter *it;
        assert_int_equal(
            weft_ledger_sim_history(q, "basic", key, strlen(key), true, &it, &err), 0);
        struct weft_ledger_key_mod km;
        size_t i = 0;
        int rc;
        while ((rc = weft_ledger_hist_next(it, &km, &err)) == 1) {
            json_t *e = json_array_get(entries, i);
            if (e == NULL)
                fail_msg("history %s: more entries than Fabric", key);
            assert_string_equal(km.tx_id, json_string_value(json_object_get(e, "txId")));
            assert_int_equal(km.is_delete, json_is_true(json_object_get(e, "isDelete")));
            size_t wl;
            uint8_t *want = b64dec(json_string_value(json_object_get(e, "value")), &wl);
            assert_int_equal(wl, km.value_len);
            assert_memory_equal(want, km.value, wl);
            free(want);
            json_t *ts = json_object_get(e, "timestamp");
            assert_int_equal(km.ts_seconds,
                             strtoll(json_string_value(json_object_get(ts, "seconds")), NULL,
                                     10));
            assert_int_equal(km.ts_nanos, json_integer_value(json_object_get(ts, "nanos")));
            assert_int_equal(km.ver.block_num, json_integer_value(json_object_get(e, "block")));
            assert_int_equal(km.ver.tx_num, json_integer_value(json_object_get(e, "tx")));
            i++;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(i, json_array_size(entries));
        weft_ledger_hist_free(it);
    }
    weft_ledger_sim_free(q);
    json_decref(hist);
}

/* ---- simple tests ---------------------------------------------------------------- */

void test_header_der(void **state)
{
    (void)state;
    uint8_t dh[32], out[128];
    memset(dh, 0xab, sizeof(dh));
    size_t n = weft_block_header_der(0, NULL, 0, dh, 32, out, sizeof(out));
    assert_int_equal(n, 2 + 3 + 2 + 34);
    const uint8_t want0[] = {0x30, 0x27, 0x02, 0x01, 0x00, 0x04, 0x00, 0x04, 0x20};
    assert_memory_equal(out, want0, sizeof(want0));
    n = weft_block_header_der(128, dh, 32, dh, 32, out, sizeof(out));
    const uint8_t want128[] = {0x30, 0x48, 0x02, 0x02, 0x00, 0x80, 0x04, 0x20};
    assert_memory_equal(out, want128, sizeof(want128));
    assert_int_equal(n, 2 + 0x48);
    /* the hash of the DER equals the ledger's header hash */
    uint8_t h1[32], h2[32];
    weft_sha256(out, n, h1);
    assert_int_equal(weft_ledger_header_hash(128, dh, 32, dh, 32, h2), 0);
    assert_memory_equal(h1, h2, 32);
    assert_int_equal(weft_block_header_der(128, dh, 32, dh, 32, out, 10), 0);
}

void test_code_names(void **state)
{
    (void)state;
    assert_string_equal(weft_tx_code_name(0), "VALID");
    assert_string_equal(weft_tx_code_name(11), "MVCC_READ_CONFLICT");
    assert_string_equal(weft_tx_code_name(25), "INVALID_CHAINCODE");
    assert_string_equal(weft_tx_code_name(254), "NOT_VALIDATED");
    assert_string_equal(weft_tx_code_name(255), "INVALID_OTHER_REASON");
    assert_string_equal(weft_tx_code_name(99), "UNKNOWN");
}

/* ---- replay ------------------------------------------------------------------------ */

struct rig {
    char *root;
    struct weft_ledger *l;
    struct weft_vcache *cache;
    struct weft_verifier *ver;
    struct weft_validator *v;
};

static void rig_open(struct rig *r, const char *name)
{
    struct weft_err err = {0};
    r->root = wt_tmpdir(name);
    struct weft_ledger_options o;
    weft_ledger_options_init(&o);
    o.root = r->root;
    o.channel = "mychannel";
    o.no_sync = true;
    assert_int_equal(weft_ledger_open(&r->l, &o, &err), 0);
    r->cache = weft_vcache_new(4096);
    r->ver = weft_verifier_new(1, r->cache);
    assert_non_null(r->ver);
    size_t len;
    uint8_t *g = vec_block_bytes(0, &len);
    struct weft_channel_config *cfg;
    if (weft_channel_config_from_block(g, len, 0, &cfg, &err) != 0)
        fail_msg("genesis config: %s", err.msg);
    weft_free(g);
    assert_int_equal(weft_validator_new(cfg, r->l, r->ver, r->cache, &r->v, &err), 0);
}

static void rig_close(struct rig *r)
{
    weft_validator_free(r->v);
    weft_verifier_free(r->ver);
    weft_vcache_free(r->cache);
    weft_ledger_close(r->l);
    wt_rmtree(r->root);
    weft_free(r->root);
}

static void set_filter(Common__Block *blk, const uint8_t *codes, size_t ntx)
{
    free(blk->metadata->metadata[2].data);
    blk->metadata->metadata[2].data = malloc(ntx + 1);
    memcpy(blk->metadata->metadata[2].data, codes, ntx);
    blk->metadata->metadata[2].len = ntx;
}

/* Validates + commits block n; checks codes and header hash. Returns the
 * number of transactions. */
static size_t replay_block(struct rig *r, unsigned n, size_t *mismatches)
{
    struct weft_err err = {0};
    Common__Block *blk = vec_block(n);
    if (n > 0 && weft_validator_verify_block(r->v, blk, n, &err) != 0)
        fail_msg("orderer signatures of block %u: %s", n, err.msg);
    size_t ntx = blk->data->n_data;
    uint8_t *codes = calloc(ntx + 1, 1), *want = calloc(ntx + 1, 1);
    size_t wn;
    vec_expected_codes(n, want, &wn);
    assert_int_equal(wn, ntx);
    if (weft_validator_validate(r->v, blk, codes, ntx, &err) != 0)
        fail_msg("validate block %u: %s", n, err.msg);
    for (size_t i = 0; i < ntx; i++) {
        if (codes[i] != want[i]) {
            print_error("block %u tx %zu: weft %s, Fabric %s\n", n, i,
                        weft_tx_code_name(codes[i]), weft_tx_code_name(want[i]));
            (*mismatches)++;
        }
    }
    set_filter(blk, codes, ntx);
    if (weft_ledger_commit(r->l, blk, &err) != 0)
        fail_msg("commit block %u: %s", n, err.msg);
    struct weft_ledger_info info;
    weft_ledger_info(r->l, &info);
    char hex[65];
    weft_crypto_hex(info.current_hash, 32, hex);
    assert_string_equal(hex, vec_expected_header_hash(n));
    free(codes);
    free(want);
    common__block__free_unpacked(blk, NULL);
    return ntx;
}

void test_conformance_replay(void **state)
{
    (void)state;
    struct rig r;
    rig_open(&r, "committer-replay");
    size_t mismatches = 0, total = 0;
    for (unsigned n = 0; n < VEC_NBLOCKS; n++)
        total += replay_block(&r, n, &mismatches);
    assert_int_equal(total, 511);
    assert_int_equal(mismatches, 0);
    struct weft_ledger_info info;
    weft_ledger_info(r.l, &info);
    assert_int_equal(info.height, VEC_NBLOCKS);
    vec_check_state(r.l);
    vec_check_history(r.l);
    struct weft_validator_stats st;
    weft_validator_get_stats(r.v, &st);
    assert_int_equal(st.blocks, VEC_NBLOCKS);
    assert_true(st.sig_checks >= 3 * 500);
    rig_close(&r);
}

/* ---- tampered copies ------------------------------------------------------------------ */

/* Replaces data[i] of blk (malloc'd bytes). */
static void set_tx(Common__Block *blk, size_t i, uint8_t *bytes, size_t len)
{
    free(blk->data->data[i].data);
    blk->data->data[i].data = bytes;
    blk->data->data[i].len = len;
}

static uint8_t *pack_msg(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(*len + 1);
    protobuf_c_message_pack(m, b);
    return b;
}


/* Re-signs envelope i with its creator's key from the vector crypto folder
 * (the creator is one of the users there). */
static void resign(Common__Block *blk, size_t i)
{
    static const char *const users[] = {
        "peerOrganizations/org1.example.com/users/User1@org1.example.com",
        "peerOrganizations/org2.example.com/users/User1@org2.example.com",
        "peerOrganizations/org1.example.com/users/Admin@org1.example.com",
        "peerOrganizations/org2.example.com/users/Admin@org2.example.com"};
    Common__Envelope *env =
        common__envelope__unpack(NULL, blk->data->data[i].len, blk->data->data[i].data);
    Common__Payload *pl = common__payload__unpack(NULL, env->payload.len, env->payload.data);
    Common__SignatureHeader *sh = common__signature_header__unpack(
        NULL, pl->header->signature_header.len, pl->header->signature_header.data);
    struct weft_key *key = NULL;
    for (size_t u = 0; u < sizeof(users) / sizeof(users[0]) && key == NULL; u++) {
        const char *name = strrchr(users[u], '/') + 1;
        char *cp = weft_asprintf("%s/vectors/fabric-2.4.9/crypto/%s/msp/signcerts/%s-cert.pem",
                                 wt_shared_dir(), users[u], name);
        size_t cl;
        char *cert = wt_read_file(cp, &cl);
        weft_free(cp);
        assert_non_null(cert);
        if (memmem(sh->creator.data, sh->creator.len, cert, cl) != NULL) {
            char *kp = weft_asprintf("%s/vectors/fabric-2.4.9/crypto/%s/msp/keystore/priv_sk",
                                     wt_shared_dir(), users[u]);
            size_t kl;
            char *pem = wt_read_file(kp, &kl);
            struct weft_err err = {0};
            assert_int_equal(weft_key_load_private(pem, kl, &key, &err), 0);
            weft_free(pem);
            weft_free(kp);
        }
        weft_free(cert);
    }
    assert_non_null(key);
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sl;
    struct weft_err err = {0};
    assert_int_equal(weft_ecdsa_sign(key, env->payload.data, env->payload.len, sig, &sl, &err), 0);
    weft_key_free(key);
    free(env->signature.data);
    env->signature.data = malloc(sl);
    memcpy(env->signature.data, sig, sl);
    env->signature.len = sl;
    size_t l;
    uint8_t *b = pack_msg(&env->base, &l);
    set_tx(blk, i, b, l);
    common__signature_header__free_unpacked(sh, NULL);
    common__payload__free_unpacked(pl, NULL);
    common__envelope__free_unpacked(env, NULL);
}

/* Flips the last byte of the first endorsement's signature of tx i. */
static void flip_endorsement(Common__Block *blk, size_t i)
{
    Common__Envelope *env =
        common__envelope__unpack(NULL, blk->data->data[i].len, blk->data->data[i].data);
    Common__Payload *pl = common__payload__unpack(NULL, env->payload.len, env->payload.data);
    Protos__Transaction *tx = protos__transaction__unpack(NULL, pl->data.len, pl->data.data);
    Protos__TransactionAction *a = tx->actions[0];
    Protos__ChaincodeActionPayload *cap =
        protos__chaincode_action_payload__unpack(NULL, a->payload.len, a->payload.data);
    assert_true(cap->action->n_endorsements >= 2);
    ProtobufCBinaryData *sig = &cap->action->endorsements[0]->signature;
    sig->data[sig->len - 1] ^= 0x01;
    size_t l1, l2, l3, l4;
    uint8_t *b1 = pack_msg(&cap->base, &l1);
    free(a->payload.data);
    a->payload.data = b1;
    a->payload.len = l1;
    uint8_t *b2 = pack_msg(&tx->base, &l2);
    free(pl->data.data);
    pl->data.data = b2;
    pl->data.len = l2;
    uint8_t *b3 = pack_msg(&pl->base, &l3);
    free(env->payload.data);
    env->payload.data = b3;
    env->payload.len = l3;
    uint8_t *b4 = pack_msg(&env->base, &l4);
    set_tx(blk, i, b4, l4);
    resign(blk, i);
    protos__chaincode_action_payload__free_unpacked(cap, NULL);
    protos__transaction__free_unpacked(tx, NULL);
    common__payload__free_unpacked(pl, NULL);
    common__envelope__free_unpacked(env, NULL);
}

static void flip_creator(Common__Block *blk, size_t i)
{
    Common__Envelope *env =
        common__envelope__unpack(NULL, blk->data->data[i].len, blk->data->data[i].data);
    env->signature.data[env->signature.len - 1] ^= 0x01;
    size_t l;
    uint8_t *b = pack_msg(&env->base, &l);
    set_tx(blk, i, b, l);
    common__envelope__free_unpacked(env, NULL);
}

static void validate_expect(struct rig *r, Common__Block *blk, const uint8_t *want, size_t ntx)
{
    struct weft_err err = {0};
    uint8_t *codes = calloc(ntx + 1, 1);
    if (weft_validator_validate(r->v, blk, codes, ntx, &err) != 0)
        fail_msg("validate: %s", err.msg);
    for (size_t i = 0; i < ntx; i++)
        if (codes[i] != want[i])
            fail_msg("tampered block %llu tx %zu: weft %s, expected %s",
                     (unsigned long long)blk->header->number, i, weft_tx_code_name(codes[i]),
                     weft_tx_code_name(want[i]));
    free(codes);
}

void test_tampered_blocks(void **state)
{
    (void)state;
    struct rig r;
    rig_open(&r, "committer-tamper");
    size_t mism = 0;
    for (unsigned n = 0; n < 20; n++)
        replay_block(&r, n, &mism);
    assert_int_equal(mism, 0);
    /* block 20: 20 plain transfers, all VALID in Fabric */
    Common__Block *blk = vec_block(20);
    size_t ntx = blk->data->n_data;
    uint8_t want[64];
    size_t wn;
    vec_expected_codes(20, want, &wn);
    assert_true(ntx >= 4 && ntx < 60);
    for (size_t i = 0; i < ntx; i++)
        assert_int_equal(want[i], 0);
    flip_endorsement(blk, 0);
    want[0] = WEFT_TXC_ENDORSEMENT_POLICY_FAILURE;
    flip_creator(blk, 1);
    want[1] = WEFT_TXC_BAD_CREATOR_SIGNATURE;
    /* a transaction of block 3 replayed here */
    Common__Block *b3 = vec_block(3);
    uint8_t *cp = malloc(b3->data->data[0].len);
    memcpy(cp, b3->data->data[0].data, b3->data->data[0].len);
    set_tx(blk, 2, cp, b3->data->data[0].len);
    want[2] = WEFT_TXC_DUPLICATE_TXID;
    /* the same envelope twice in one block: the second copy is a duplicate */
    uint8_t *cp2 = malloc(blk->data->data[3].len);
    memcpy(cp2, blk->data->data[3].data, blk->data->data[3].len);
    set_tx(blk, 4, cp2, blk->data->data[3].len);
    want[4] = WEFT_TXC_DUPLICATE_TXID;
    validate_expect(&r, blk, want, ntx);
    common__block__free_unpacked(b3, NULL);
    /* the data hash no longer matches: the block is refused */
    struct weft_err err = {0};
    assert_int_equal(weft_validator_verify_block(r.v, blk, 20, &err), WEFT_EINVAL);
    common__block__free_unpacked(blk, NULL);
    /* an orderer signature broken: refused by BlockValidation */
    blk = vec_block(20);
    assert_int_equal(weft_validator_verify_block(r.v, blk, 20, &err), 0);
    assert_int_equal(weft_validator_verify_block(r.v, blk, 21, &err), WEFT_EINVAL);
    Common__Metadata *md = common__metadata__unpack(NULL, blk->metadata->metadata[0].len,
                                                    blk->metadata->metadata[0].data);
    assert_non_null(md);
    assert_true(md->n_signatures >= 1);
    ProtobufCBinaryData *sig = &md->signatures[0]->signature;
    sig->data[sig->len - 1] ^= 0x01;
    size_t ml;
    uint8_t *mb = pack_msg(&md->base, &ml);
    free(blk->metadata->metadata[0].data);
    blk->metadata->metadata[0].data = mb;
    blk->metadata->metadata[0].len = ml;
    common__metadata__free_unpacked(md, NULL);
    assert_int_equal(weft_validator_verify_block(r.v, blk, 20, &err), WEFT_EPOLICY);
    assert_non_null(strstr(err.msg, "block 20"));
    common__block__free_unpacked(blk, NULL);
    /* the untampered block still validates as in Fabric afterwards */
    replay_block(&r, 20, &mism);
    assert_int_equal(mism, 0);
    rig_close(&r);
}
