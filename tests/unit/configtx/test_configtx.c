/* Unit tests for src/configtx against Fabric v2.4.9 vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/common.pb-c.h"
#include "common/configtx.pb-c.h"
#include "testlib.h"
#include "weft/configtx.h"
#include "weft/crypto.h"

/* ---- fixtures ------------------------------------------------------------ */

static char *vec_path(const char *rel)
{
    char *p = weft_asprintf("%s/vectors/fabric-2.4.9/%s", wt_shared_dir(), rel);
    assert_non_null(p);
    return p;
}

static uint8_t *read_vec(const char *rel, size_t *len)
{
    char *p = vec_path(rel);
    uint8_t *d = (uint8_t *)wt_read_file(p, len);
    assert_non_null(d);
    weft_free(p);
    return d;
}

/* Replaces every "@CRYPTO@" in text with repl; caller frees. */
static char *subst(const char *text, const char *pat, const char *repl)
{
    struct weft_buf b;
    weft_buf_init(&b, 1 << 22);
    const char *s = text;
    const char *hit;
    while ((hit = strstr(s, pat)) != NULL) {
        assert_int_equal(weft_buf_append(&b, s, (size_t)(hit - s)), 0);
        assert_int_equal(weft_buf_append(&b, repl, strlen(repl)), 0);
        s = hit + strlen(pat);
    }
    assert_int_equal(weft_buf_append(&b, s, strlen(s)), 0);
    return (char *)weft_buf_steal(&b, NULL);
}

/* Writes yaml (with @CRYPTO@ replaced) into dir/configtx.yaml; returns path. */
static char *write_yaml(const char *dir, const char *yaml)
{
    char *crypto = vec_path("crypto");
    char *text = subst(yaml, "@CRYPTO@", crypto);
    char *path = weft_asprintf("%s/configtx.yaml", dir);
    assert_int_equal(wt_write_file(path, text, strlen(text)), 0);
    weft_free(text);
    weft_free(crypto);
    return path;
}

static char *vector_yaml_text(void)
{
    char *p = weft_asprintf("%s/tests/unit/configtx/data/vector.yaml", wt_source_dir());
    size_t len;
    char *t = wt_read_file(p, &len);
    assert_non_null(t);
    weft_free(p);
    return t;
}

static struct weft_channel_config *vector_config(void)
{
    size_t len;
    uint8_t *blk = read_vec("blocks/genesis.block", &len);
    struct weft_channel_config *cfg = NULL;
    struct weft_err err;
    int rc = weft_channel_config_from_block(blk, len, 0, &cfg, &err);
    if (rc != 0) {
        fail_msg("parse genesis: %s", err.msg);
    }
    weft_free(blk);
    return cfg;
}

/* ---- reading -------------------------------------------------------------- */

static void test_parse_vector_genesis(void **state)
{
    (void)state;
    struct weft_channel_config *cfg = vector_config();
    assert_string_equal(cfg->channel_id, "mychannel");
    assert_int_equal(cfg->sequence, 0);
    assert_string_equal(cfg->hashing_algorithm, "SHA256");
    assert_int_equal(cfg->block_data_hashing_width, UINT32_MAX);
    assert_int_equal(cfg->orderer_addresses.n, 0);
    assert_null(cfg->consortium);
    assert_true(weft_channel_config_has_capability(cfg, "Channel", "V2_0"));
    assert_true(weft_channel_config_has_capability(cfg, "Orderer", "V2_0"));
    assert_true(weft_channel_config_has_capability(cfg, "Application", "V2_0"));
    assert_false(weft_channel_config_has_capability(cfg, "Application", "V1_4_2"));
    assert_int_equal(cfg->capabilities.n, 1);

    /* orderer */
    assert_true(cfg->has_orderer);
    const struct weft_configtx_orderer *o = &cfg->orderer;
    assert_string_equal(o->consensus_type, "etcdraft");
    assert_int_equal(o->consensus_state, 0);
    assert_int_equal(o->max_message_count, 50);
    assert_int_equal(o->absolute_max_bytes, 10 * 1024 * 1024);
    assert_int_equal(o->preferred_max_bytes, 2 * 1024 * 1024);
    assert_string_equal(o->batch_timeout, "250ms");
    assert_int_equal(o->batch_timeout_ns, 250000000);
    assert_int_equal(o->max_channels, 0);
    assert_int_equal(o->n_consenters, 1);
    assert_string_equal(o->consenters[0].host, "127.0.0.1");
    assert_int_equal(o->consenters[0].port, 17050);
    size_t clen;
    uint8_t *crt =
        read_vec("crypto/ordererOrganizations/example.com/orderers/orderer.example.com/tls/"
                 "server.crt",
                 &clen);
    assert_int_equal(o->consenters[0].client_tls_cert_len, clen);
    assert_memory_equal(o->consenters[0].client_tls_cert, crt, clen);
    assert_memory_equal(o->consenters[0].server_tls_cert, crt, clen);
    weft_free(crt);
    assert_string_equal(o->tick_interval, "500ms");
    assert_int_equal(o->election_tick, 10);
    assert_int_equal(o->heartbeat_tick, 1);
    assert_int_equal(o->max_inflight_blocks, 5);
    assert_int_equal(o->snapshot_interval_size, 16 * 1024 * 1024);
    assert_int_equal(o->n_orgs, 1);
    assert_string_equal(o->orgs[0].name, "OrdererOrg");
    assert_string_equal(o->orgs[0].mspid, "OrdererMSP");
    assert_int_equal(o->orgs[0].endpoints.n, 1);
    assert_string_equal(o->orgs[0].endpoints.v[0], "127.0.0.1:17050");
    assert_true(weft_msp_node_ous_enabled(o->orgs[0].msp));

    /* application */
    assert_true(cfg->has_application);
    const struct weft_configtx_application *a = &cfg->application;
    assert_int_equal(a->n_acls, 0);
    assert_int_equal(a->n_orgs, 2);
    const struct weft_configtx_org *org1 = weft_channel_config_org(cfg, "Org1MSP");
    const struct weft_configtx_org *org2 = weft_channel_config_org(cfg, "Org2MSP");
    assert_non_null(org1);
    assert_non_null(org2);
    assert_null(weft_channel_config_org(cfg, "Org3MSP"));
    assert_string_equal(org1->name, "Org1MSP");
    assert_int_equal(org1->n_anchor_peers, 1);
    assert_string_equal(org1->anchor_peers[0].host, "127.0.0.1");
    assert_int_equal(org1->anchor_peers[0].port, 17060);
    assert_int_equal(org2->anchor_peers[0].port, 17070);
    assert_int_equal(org1->endpoints.n, 0);

    /* MSP manager and policies */
    assert_int_equal(weft_msp_mgr_count(cfg->msp_mgr), 3);
    assert_non_null(weft_msp_mgr_get(cfg->msp_mgr, "OrdererMSP"));
    static const char *const paths[] = {
        "/Channel/Admins",
        "/Channel/Readers",
        "/Channel/Writers",
        "/Channel/Orderer/Admins",
        "/Channel/Orderer/BlockValidation",
        "/Channel/Orderer/Readers",
        "/Channel/Orderer/Writers",
        "/Channel/Orderer/OrdererOrg/Admins",
        "/Channel/Orderer/OrdererOrg/Readers",
        "/Channel/Orderer/OrdererOrg/Writers",
        "/Channel/Application/Admins",
        "/Channel/Application/Endorsement",
        "/Channel/Application/LifecycleEndorsement",
        "/Channel/Application/Readers",
        "/Channel/Application/Writers",
        "/Channel/Application/Org1MSP/Admins",
        "/Channel/Application/Org1MSP/Endorsement",
        "/Channel/Application/Org1MSP/Readers",
        "/Channel/Application/Org1MSP/Writers",
        "/Channel/Application/Org2MSP/Admins",
        "/Channel/Application/Org2MSP/Endorsement",
        "/Channel/Application/Org2MSP/Readers",
        "/Channel/Application/Org2MSP/Writers",
    };
    assert_int_equal(cfg->policy_paths.n, WEFT_ARRAY_LEN(paths));
    for (size_t i = 0; i < WEFT_ARRAY_LEN(paths); i++) {
        assert_true(weft_policy_mgr_has(cfg->policy_mgr, paths[i]));
    }
    assert_false(weft_policy_mgr_has(cfg->policy_mgr, "/Channel/Application/Org3MSP/Admins"));
    weft_channel_config_free(cfg);
}

/* Signs msg with a vector identity; fills sd (buffers owned by caller). */
struct signer {
    struct weft_msp *msp;
    uint8_t sig[80];
    size_t sig_len;
};

static void sign_with(const char *rel_msp, const char *mspid, const uint8_t *msg, size_t len,
                      struct signer *s, struct weft_signed_data *sd)
{
    char *dir = vec_path(rel_msp);
    struct weft_err err;
    int rc = weft_msp_load_dir(dir, mspid, &s->msp, &err);
    if (rc != 0) {
        fail_msg("load %s: %s", dir, err.msg);
    }
    weft_free(dir);
    s->sig_len = sizeof(s->sig);
    assert_int_equal(weft_msp_sign(s->msp, msg, len, s->sig, &s->sig_len, &err), 0);
    size_t idl;
    const uint8_t *id = weft_msp_identity_serialized(weft_msp_signer(s->msp), &idl);
    *sd = (struct weft_signed_data){id, idl, msg, len, s->sig, s->sig_len};
}

static void test_policies_evaluate(void **state)
{
    (void)state;
    struct weft_channel_config *cfg = vector_config();
    static const uint8_t msg[] = "a config update to sign";
    struct signer u1, u2, a1, p1;
    struct weft_signed_data sd[4];
    sign_with("crypto/peerOrganizations/org1.example.com/users/User1@org1.example.com/msp",
              "Org1MSP", msg, sizeof(msg), &u1, &sd[0]);
    sign_with("crypto/peerOrganizations/org2.example.com/users/User1@org2.example.com/msp",
              "Org2MSP", msg, sizeof(msg), &u2, &sd[1]);
    sign_with("crypto/peerOrganizations/org1.example.com/users/Admin@org1.example.com/msp",
              "Org1MSP", msg, sizeof(msg), &a1, &sd[2]);
    sign_with("crypto/peerOrganizations/org1.example.com/peers/peer0.org1.example.com/msp",
              "Org1MSP", msg, sizeof(msg), &p1, &sd[3]);
    struct weft_err err;
    const struct weft_policy_mgr *pm = cfg->policy_mgr;
    /* a client of one org satisfies ANY Writers */
    assert_int_equal(weft_policy_mgr_evaluate(pm, "/Channel/Application/Writers", sd, 1, &err), 0);
    assert_int_equal(weft_policy_mgr_evaluate(pm, "/Channel/Application/Org1MSP/Writers", sd, 1,
                                              &err),
                     0);
    assert_int_equal(weft_policy_mgr_evaluate(pm, "/Channel/Writers", sd, 1, &err), 0);
    /* but not the other org's policy, nor orderer writers, nor endorsement */
    assert_int_equal(weft_policy_mgr_evaluate(pm, "/Channel/Application/Org2MSP/Writers", sd, 1,
                                              &err),
                     WEFT_EPOLICY);
    assert_int_equal(weft_policy_mgr_evaluate(pm, "/Channel/Orderer/Writers", sd, 1, &err),
                     WEFT_EPOLICY);
    assert_int_equal(weft_policy_mgr_evaluate(pm, "/Channel/Application/Org1MSP/Endorsement", sd,
                                              1, &err),
                     WEFT_EPOLICY);
    /* peer satisfies its org's endorsement; MAJORITY Endorsement needs both orgs */
    assert_int_equal(weft_policy_mgr_evaluate(pm, "/Channel/Application/Org1MSP/Endorsement",
                                              &sd[3], 1, &err),
                     0);
    assert_int_equal(weft_policy_mgr_evaluate(pm, "/Channel/Application/Endorsement", &sd[3], 1,
                                              &err),
                     WEFT_EPOLICY);
    /* MAJORITY Admins with 2 orgs needs both admins: one admin is not enough */
    assert_int_equal(weft_policy_mgr_evaluate(pm, "/Channel/Application/Org1MSP/Admins", &sd[2],
                                              1, &err),
                     0);
    assert_int_equal(weft_policy_mgr_evaluate(pm, "/Channel/Application/Admins", &sd[2], 1, &err),
                     WEFT_EPOLICY);
    /* both clients: ALL would hold; Readers satisfied by either */
    assert_int_equal(weft_policy_mgr_evaluate(pm, "/Channel/Application/Readers", sd, 2, &err), 0);
    /* a tampered signature counts for nothing */
    struct weft_signed_data bad = sd[0];
    uint8_t other[] = "another message";
    bad.data = other;
    bad.data_len = sizeof(other);
    assert_int_equal(weft_policy_mgr_evaluate(pm, "/Channel/Application/Writers", &bad, 1, &err),
                     WEFT_EPOLICY);
    assert_int_equal(weft_policy_mgr_evaluate(pm, "/Channel/Nope", sd, 1, &err), WEFT_ENOTFOUND);
    weft_msp_unref(u1.msp);
    weft_msp_unref(u2.msp);
    weft_msp_unref(a1.msp);
    weft_msp_unref(p1.msp);
    weft_channel_config_free(cfg);
}

/* Builds a block with one envelope whose channel header has the given type
 * and whose payload data is data. */
static uint8_t *make_block(int32_t type, const uint8_t *data, size_t dlen, size_t n_env,
                           size_t *out_len)
{
    Common__ChannelHeader ch = COMMON__CHANNEL_HEADER__INIT;
    ch.type = type;
    ch.channel_id = (char *)"c";
    uint8_t chb[64];
    size_t chl = common__channel_header__pack(&ch, chb);
    Common__Header h = COMMON__HEADER__INIT;
    h.channel_header.data = chb;
    h.channel_header.len = chl;
    Common__Payload p = COMMON__PAYLOAD__INIT;
    p.header = &h;
    p.data.data = (uint8_t *)data;
    p.data.len = dlen;
    size_t pl = common__payload__get_packed_size(&p);
    uint8_t *pb = weft_malloc(pl);
    common__payload__pack(&p, pb);
    Common__Envelope e = COMMON__ENVELOPE__INIT;
    e.payload.data = pb;
    e.payload.len = pl;
    size_t el = common__envelope__get_packed_size(&e);
    uint8_t *eb = weft_malloc(el);
    common__envelope__pack(&e, eb);
    ProtobufCBinaryData d[2] = {{el, eb}, {el, eb}};
    Common__BlockData bd = COMMON__BLOCK_DATA__INIT;
    bd.n_data = n_env;
    bd.data = d;
    Common__BlockHeader bh = COMMON__BLOCK_HEADER__INIT;
    Common__Block b = COMMON__BLOCK__INIT;
    b.header = &bh;
    b.data = &bd;
    *out_len = common__block__get_packed_size(&b);
    uint8_t *out = weft_malloc(*out_len);
    common__block__pack(&b, out);
    weft_free(pb);
    weft_free(eb);
    return out;
}

static void test_malformed_blocks(void **state)
{
    (void)state;
    struct weft_channel_config *cfg = NULL;
    struct weft_err err;
    static const uint8_t junk[] = {0x0a, 0xff, 0xff, 0x01, 0x02};
    assert_int_equal(weft_channel_config_from_block(junk, sizeof(junk), 0, &cfg, &err),
                     WEFT_EPARSE);
    assert_non_null(strstr(err.msg, "malformed common.Block"));

    /* wrong header type: a normal transaction block from the vector */
    size_t len;
    uint8_t *b1 = read_vec("blocks/000001.block", &len);
    assert_int_equal(weft_channel_config_from_block(b1, len, 0, &cfg, &err), WEFT_EPARSE);
    weft_free(b1);
    size_t bl;
    uint8_t *blk = make_block(3, NULL, 0, 1, &bl);
    assert_int_equal(weft_channel_config_from_block(blk, bl, 0, &cfg, &err), WEFT_EPARSE);
    assert_non_null(strstr(err.msg, "type is 3, expected CONFIG"));
    weft_free(blk);

    /* two envelopes */
    blk = make_block(1, NULL, 0, 2, &bl);
    assert_int_equal(weft_channel_config_from_block(blk, bl, 0, &cfg, &err), WEFT_EPARSE);
    assert_non_null(strstr(err.msg, "exactly 1 envelope, found 2"));
    weft_free(blk);

    /* CONFIG type but empty / garbage config envelope */
    blk = make_block(1, NULL, 0, 1, &bl);
    assert_int_equal(weft_channel_config_from_block(blk, bl, 0, &cfg, &err), WEFT_EPARSE);
    assert_non_null(strstr(err.msg, "no config"));
    weft_free(blk);
    blk = make_block(1, junk, sizeof(junk), 1, &bl);
    assert_int_equal(weft_channel_config_from_block(blk, bl, 0, &cfg, &err), WEFT_EPARSE);
    assert_non_null(strstr(err.msg, "config envelope"));
    weft_free(blk);

    /* every truncation of the genesis block fails cleanly */
    uint8_t *g = read_vec("blocks/genesis.block", &len);
    for (size_t cut = 0; cut < len; cut += (cut < 64 ? 1 : 97)) {
        uint8_t *t = weft_memdup(g, cut == 0 ? 1 : cut); /* exact-size copy for ASan */
        int rc = weft_channel_config_from_block(t, cut, 0, &cfg, &err);
        assert_int_not_equal(rc, 0);
        weft_free(t);
    }
    assert_null(cfg);
    /* a flipped byte inside a certificate: the MSP refuses, naming the org */
    weft_free(g);
}

static void test_config_value_errors(void **state)
{
    (void)state;
    /* take the vector config, break BatchSize, and parse the envelope */
    size_t len;
    uint8_t *g = read_vec("blocks/genesis.block", &len);
    uint8_t *env;
    size_t envl;
    char *cid;
    struct weft_err err;
    assert_int_equal(weft_configtx_block_config(g, len, &env, &envl, &cid, &err), 0);
    assert_string_equal(cid, "mychannel");
    Common__ConfigEnvelope *ce = common__config_envelope__unpack(NULL, envl, env);
    assert_non_null(ce);
    Common__ConfigGroup *og = NULL;
    ProtobufCBinaryData *slot = NULL, saved = {0, NULL};
    for (size_t i = 0; i < ce->config->channel_group->n_groups; i++) {
        if (strcmp(ce->config->channel_group->groups[i]->key, "Orderer") == 0) {
            og = ce->config->channel_group->groups[i]->value;
        }
    }
    assert_non_null(og);
    for (size_t i = 0; i < og->n_values; i++) {
        if (strcmp(og->values[i]->key, "BatchTimeout") == 0) {
            /* BatchTimeout{timeout: "5x"} */
            static uint8_t bad[] = {0x0a, 0x02, '5', 'x'};
            slot = &og->values[i]->value->value;
            saved = *slot;
            og->values[i]->value->value.data = bad;
            og->values[i]->value->value.len = sizeof(bad);
        }
    }
    size_t nl = common__config_envelope__get_packed_size(ce);
    uint8_t *nb = weft_malloc(nl);
    common__config_envelope__pack(ce, nb);
    struct weft_channel_config *cfg = NULL;
    assert_int_equal(weft_channel_config_from_envelope(nb, nl, cid, 0, &cfg, &err),
                     WEFT_ECONFIG);
    assert_non_null(strstr(err.msg, "BatchTimeout: invalid duration \"5x\""));
    assert_null(cfg);
    /* the unmodified envelope parses */
    assert_int_equal(weft_channel_config_from_envelope(env, envl, cid, 0, &cfg, &err), 0);
    weft_channel_config_free(cfg);
    /* static data cannot be freed by protobuf-c: restore before free */
    assert_non_null(slot);
    *slot = saved;
    protobuf_c_message_free_unpacked(&ce->base, NULL);
    weft_free(nb);
    weft_free(env);
    weft_free(cid);
    weft_free(g);
}

/* ---- building ------------------------------------------------------------- */

static void vector_config_bytes(uint8_t **out, size_t *out_len)
{
    size_t len;
    uint8_t *g = read_vec("blocks/genesis.block", &len);
    uint8_t *env;
    size_t envl;
    struct weft_err err;
    assert_int_equal(weft_configtx_block_config(g, len, &env, &envl, NULL, &err), 0);
    Common__ConfigEnvelope *ce = common__config_envelope__unpack(NULL, envl, env);
    assert_non_null(ce);
    assert_null(ce->last_update);
    size_t cl = common__config__get_packed_size(ce->config);
    uint8_t *cb = weft_malloc(cl);
    common__config__pack(ce->config, cb);
    assert_int_equal(weft_configtx_config_canonical(cb, cl, out, out_len, &err), 0);
    common__config_envelope__free_unpacked(ce, NULL);
    weft_free(cb);
    weft_free(env);
    weft_free(g);
}

static void test_builder_matches_vector(void **state)
{
    (void)state;
    char *dir = wt_tmpdir("configtx");
    char *text = vector_yaml_text();
    char *path = write_yaml(dir, text);
    uint8_t *mine;
    size_t mine_len;
    struct weft_err err;
    int rc = weft_configtx_config_from_yaml(path, "VectorChannel", &mine, &mine_len, &err);
    if (rc != 0) {
        fail_msg("build: %s", err.msg);
    }
    uint8_t *want;
    size_t want_len;
    vector_config_bytes(&want, &want_len);
    if (mine_len != want_len || memcmp(mine, want, want_len) != 0) {
        char *a = weft_asprintf("%s/mine.bin", dir);
        char *b = weft_asprintf("%s/want.bin", dir);
        (void)wt_write_file(a, mine, mine_len);
        (void)wt_write_file(b, want, want_len);
        fail_msg("config differs: %zu vs %zu bytes (see %s, %s)", mine_len, want_len, a, b);
    }
    /* canonical form is a fixed point */
    uint8_t *again;
    size_t again_len;
    assert_int_equal(weft_configtx_config_canonical(mine, mine_len, &again, &again_len, &err), 0);
    assert_int_equal(again_len, mine_len);
    assert_memory_equal(again, mine, mine_len);
    weft_free(again);

    /* the vector's own configtx.yaml (relative paths) gives the same config */
    char *vpath = vec_path("config/configtx.yaml");
    uint8_t *v2;
    size_t v2_len;
    rc = weft_configtx_config_from_yaml(vpath, "TwoOrgsApplicationGenesis", &v2, &v2_len, &err);
    if (rc != 0) {
        fail_msg("build vector yaml: %s", err.msg);
    }
    assert_int_equal(v2_len, want_len);
    assert_memory_equal(v2, want, want_len);
    weft_free(v2);
    weft_free(vpath);

    weft_free(want);
    weft_free(mine);
    weft_free(path);
    weft_free(text);
    wt_rmtree(dir);
    weft_free(dir);
}

static void test_genesis_block(void **state)
{
    (void)state;
    char *dir = wt_tmpdir("configtx");
    char *text = vector_yaml_text();
    char *path = write_yaml(dir, text);
    uint8_t *blk;
    size_t bl;
    struct weft_err err;
    int rc = weft_configtx_genesis_from_yaml(path, "VectorChannel", "mychannel", &blk, &bl, &err);
    if (rc != 0) {
        fail_msg("genesis: %s", err.msg);
    }
    Common__Block *b = common__block__unpack(NULL, bl, blk);
    assert_non_null(b);
    assert_int_equal(b->header->number, 0);
    assert_int_equal(b->header->previous_hash.len, 0);
    assert_int_equal(b->data->n_data, 1);
    uint8_t h[32];
    weft_sha256(b->data->data[0].data, b->data->data[0].len, h);
    assert_int_equal(b->header->data_hash.len, 32);
    assert_memory_equal(b->header->data_hash.data, h, 32);
    /* metadata exactly as the vector genesis block */
    size_t vl;
    uint8_t *vb = read_vec("blocks/genesis.block", &vl);
    Common__Block *v = common__block__unpack(NULL, vl, vb);
    assert_non_null(v);
    size_t ml = common__block_metadata__get_packed_size(b->metadata);
    size_t vml = common__block_metadata__get_packed_size(v->metadata);
    assert_int_equal(ml, vml);
    uint8_t m1[64], m2[64];
    assert_true(ml <= sizeof(m1));
    common__block_metadata__pack(b->metadata, m1);
    common__block_metadata__pack(v->metadata, m2);
    assert_memory_equal(m1, m2, ml);
    /* header: CONFIG, version 1, tx id = hex(sha256(nonce)), no creator */
    Common__Envelope *e = common__envelope__unpack(NULL, b->data->data[0].len,
                                                   b->data->data[0].data);
    Common__Payload *p = common__payload__unpack(NULL, e->payload.len, e->payload.data);
    Common__ChannelHeader *ch = common__channel_header__unpack(
        NULL, p->header->channel_header.len, p->header->channel_header.data);
    Common__SignatureHeader *sh = common__signature_header__unpack(
        NULL, p->header->signature_header.len, p->header->signature_header.data);
    assert_int_equal(ch->type, 1);
    assert_int_equal(ch->version, 1);
    assert_string_equal(ch->channel_id, "mychannel");
    assert_non_null(ch->timestamp);
    assert_true(ch->timestamp->seconds > 1600000000);
    assert_int_equal(sh->nonce.len, 24);
    assert_int_equal(sh->creator.len, 0);
    assert_int_equal(e->signature.len, 0);
    weft_sha256(sh->nonce.data, sh->nonce.len, h);
    char hex[65];
    for (int i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    }
    assert_string_equal(ch->tx_id, hex);
    /* and the block parses back into the same channel config */
    struct weft_channel_config *cfg = NULL;
    assert_int_equal(weft_channel_config_from_block(blk, bl, 0, &cfg, &err), 0);
    assert_string_equal(cfg->channel_id, "mychannel");
    assert_int_equal(cfg->orderer.max_message_count, 50);
    assert_int_equal(cfg->application.n_orgs, 2);
    weft_channel_config_free(cfg);
    common__signature_header__free_unpacked(sh, NULL);
    common__channel_header__free_unpacked(ch, NULL);
    common__payload__free_unpacked(p, NULL);
    common__envelope__free_unpacked(e, NULL);
    common__block__free_unpacked(v, NULL);
    common__block__free_unpacked(b, NULL);
    weft_free(vb);
    weft_free(blk);
    weft_free(path);
    weft_free(text);
    wt_rmtree(dir);
    weft_free(dir);
}

/* Builds text (the vector yaml with a replacement) and expects an error
 * code whose message contains want. */
static void expect_yaml_error(const char *from, const char *to, int code, const char *want)
{
    char *dir = wt_tmpdir("configtx");
    char *text = vector_yaml_text();
    char *t2 = from != NULL ? subst(text, from, to) : weft_strdup(text);
    assert_true(from == NULL || strcmp(t2, text) != 0);
    char *path = write_yaml(dir, t2);
    uint8_t *out = NULL;
    size_t len;
    struct weft_err err;
    weft_err_clear(&err);
    int rc = weft_configtx_config_from_yaml(path, "VectorChannel", &out, &len, &err);
    if (rc != code || strstr(err.msg, want) == NULL) {
        fail_msg("replace '%s': rc %d (want %d), message \"%s\" (want \"%s\")", from, rc, code,
                 err.msg, want);
    }
    assert_null(out);
    weft_free(path);
    weft_free(t2);
    weft_free(text);
    wt_rmtree(dir);
    weft_free(dir);
}

static void test_yaml_errors(void **state)
{
    (void)state;
    /* unknown key: file:line and key path */
    expect_yaml_error("  BatchTimeout: 250ms", "  BatchTimeOut: 250ms\n  Bogus: 1", WEFT_ECONFIG,
                      "configtx.yaml:62: Orderer.Bogus: unknown key");
    expect_yaml_error("    ID: Org1MSP", "    ID: Org1MSP\n    Color: blue", WEFT_ECONFIG,
                      "Organizations[1].Color: unknown key");
    /* bad BatchTimeout */
    expect_yaml_error("BatchTimeout: 250ms", "BatchTimeout: 250 millis", WEFT_ECONFIG,
                      "BatchTimeout");
    /* missing MSP folder */
    expect_yaml_error("org2.example.com/msp", "org9.example.com/msp", WEFT_ENOTFOUND,
                      "org9.example.com/msp does not exist");
    /* missing TLS certificate file */
    expect_yaml_error("tls/server.crt\n        ServerTLSCert", "tls/nope.crt\n        ServerTLSCert",
                      WEFT_ENOTFOUND, "cannot read");
    /* bad policy rule and unknown policy type */
    expect_yaml_error("\"OR('Org1MSP.admin')\"", "\"OR('Org1MSP.admin'\"", WEFT_ECONFIG,
                      "Rule");
    expect_yaml_error("Admins: {Type: Signature, Rule: \"OR('Org2MSP.admin')\"}",
                      "Admins: {Type: Magic, Rule: \"OR('Org2MSP.admin')\"}", WEFT_ECONFIG,
                      "unknown policy type: Magic");
    /* unknown orderer type */
    expect_yaml_error("OrdererType: etcdraft", "OrdererType: pbft", WEFT_ECONFIG,
                      "unknown orderer type: pbft");
    /* missing profile */
    expect_yaml_error("  VectorChannel:", "  OtherChannel:", WEFT_ENOTFOUND,
                      "profile \"VectorChannel\" not found");
    /* YAML syntax error */
    expect_yaml_error("Profiles:", "Profiles: [", WEFT_EPARSE, "configtx.yaml");
}

static void test_yaml_defaults(void **state)
{
    (void)state;
    /* solo orderer with no BatchSize/BatchTimeout: configtxgen defaults; Addresses
     * become /Channel/OrdererAddresses with mod_policy /Channel/Orderer/Admins */
    char *dir = wt_tmpdir("configtx");
    char *text = vector_yaml_text();
    char *t2 = subst(text, "OrdererType: etcdraft", "OrdererType: solo\n  Addresses: [o1:7050]");
    char *t3 = subst(t2, "  BatchTimeout: 250ms\n", "  BatchTimeout: 90s\n");
    char *t4 = subst(t3, "    MaxMessageCount: 50\n", "");
    char *path = write_yaml(dir, t4);
    uint8_t *blk;
    size_t bl;
    struct weft_err err;
    int rc = weft_configtx_genesis_from_yaml(path, "VectorChannel", "ch2", &blk, &bl, &err);
    if (rc != 0) {
        fail_msg("genesis: %s", err.msg);
    }
    struct weft_channel_config *cfg = NULL;
    assert_int_equal(weft_channel_config_from_block(blk, bl, 0, &cfg, &err), 0);
    assert_string_equal(cfg->orderer.consensus_type, "solo");
    assert_int_equal(cfg->orderer.n_consenters, 0);
    assert_int_equal(cfg->orderer.max_message_count, 500);
    assert_string_equal(cfg->orderer.batch_timeout, "1m30s");
    assert_int_equal(cfg->orderer_addresses.n, 1);
    assert_string_equal(cfg->orderer_addresses.v[0], "o1:7050");
    assert_true(weft_policy_mgr_has(cfg->policy_mgr, "/Channel/Orderer/BlockValidation"));
    char *json = NULL;
    assert_int_equal(weft_configtx_to_json(NULL, blk, bl, &json, &err), 0);
    assert_non_null(strstr(json, "\"mod_policy\": \"/Channel/Orderer/Admins\""));
    weft_free(json);
    weft_channel_config_free(cfg);
    weft_free(blk);
    weft_free(path);
    weft_free(t4);
    weft_free(t3);
    weft_free(t2);
    weft_free(text);
    wt_rmtree(dir);
    weft_free(dir);
}

static void test_sample_config(void **state)
{
    (void)state;
    /* config/configtx.yaml: every key is known and the profile exists; the
     * crypto folder it names is not generated here, so the build stops at
     * the first file it needs (a consenter TLS certificate), naming it */
    char *p = weft_asprintf("%s/config/configtx.yaml", wt_source_dir());
    uint8_t *out = NULL;
    size_t len;
    struct weft_err err;
    int rc = weft_configtx_config_from_yaml(p, "TwoOrgsApplicationGenesis", &out, &len, &err);
    if (rc != WEFT_ENOTFOUND || strstr(err.msg, "/config/../crypto-config/ordererOrganizations/") == NULL) {
        fail_msg("sample: rc %d: %s", rc, err.msg);
    }
    assert_null(out);
    weft_free(p);
}

static void test_duration_format(void **state)
{
    (void)state;
    static const struct {
        int64_t ns;
        const char *s;
    } cases[] = {
        {0, "0s"},
        {1, "1ns"},
        {1500, "1.5\xc2\xb5s"},
        {250000000, "250ms"},
        {1500000, "1.5ms"},
        {2000000000, "2s"},
        {2500000000, "2.5s"},
        {60000000000, "1m0s"},
        {90000000000, "1m30s"},
        {3600000000000, "1h0m0s"},
        {3723000000000, "1h2m3s"},
        {-2000000000, "-2s"},
    };
    for (size_t i = 0; i < WEFT_ARRAY_LEN(cases); i++) {
        char buf[48];
        weft_configtx_format_duration(cases[i].ns, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].s);
    }
}

/* ---- printing ------------------------------------------------------------- */

static void test_inspect_json(void **state)
{
    (void)state;
    size_t len;
    uint8_t *g = read_vec("blocks/genesis.block", &len);
    char *s = NULL;
    struct weft_err err;
    assert_int_equal(weft_configtx_to_json(NULL, g, len, &s, &err), 0);
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    if (j == NULL) {
        fail_msg("invalid JSON at line %d: %s", je.line, je.text);
    }
    json_t *payload = json_object_get(
        json_array_get(json_object_get(json_object_get(j, "data"), "data"), 0), "payload");
    json_t *ch = json_object_get(json_object_get(payload, "header"), "channel_header");
    assert_string_equal(json_string_value(json_object_get(ch, "channel_id")), "mychannel");
    assert_int_equal(json_integer_value(json_object_get(ch, "type")), 1);
    json_t *grp = json_object_get(
        json_object_get(json_object_get(payload, "data"), "config"), "channel_group");
    json_t *ord = json_object_get(json_object_get(grp, "groups"), "Orderer");
    json_t *bs = json_object_get(
        json_object_get(json_object_get(json_object_get(ord, "values"), "BatchSize"), "value"),
        "max_message_count");
    assert_int_equal(json_integer_value(bs), 50);
    json_t *ct = json_object_get(
        json_object_get(json_object_get(ord, "values"), "ConsensusType"), "value");
    assert_string_equal(json_string_value(json_object_get(ct, "type")), "etcdraft");
    json_t *cons = json_array_get(
        json_object_get(json_object_get(ct, "metadata"), "consenters"), 0);
    assert_int_equal(json_integer_value(json_object_get(cons, "port")), 17050);
    json_t *org1 = json_object_get(
        json_object_get(json_object_get(grp, "groups"), "Application"), "groups");
    org1 = json_object_get(json_object_get(org1, "Org1MSP"), "values");
    json_t *msp = json_object_get(json_object_get(json_object_get(org1, "MSP"), "value"), "config");
    assert_string_equal(json_string_value(json_object_get(msp, "name")), "Org1MSP");
    json_t *md = json_array_get(json_object_get(json_object_get(j, "metadata"), "metadata"), 0);
    assert_true(json_is_object(json_object_get(json_object_get(md, "value"), "last_config")));
    json_decref(j);
    weft_free(s);

    /* a transaction block decodes down to the read/write sets */
    uint8_t *b2 = read_vec("blocks/000003.block", &len);
    assert_int_equal(weft_configtx_to_json(NULL, b2, len, &s, &err), 0);
    j = json_loads(s, 0, &je);
    assert_non_null(j);
    assert_non_null(strstr(s, "\"ns_rwset\""));
    assert_non_null(strstr(s, "\"CreateAsset\"") != NULL ? s : strstr(s, "\"mspid\""));
    json_decref(j);
    weft_free(s);
    weft_free(b2);

    /* explicit type and garbage */
    assert_int_equal(weft_configtx_to_json("common.Nope", g, len, &s, &err), WEFT_ENOTFOUND);
    static const uint8_t junk[] = {0xff, 0xff, 0xff};
    assert_int_equal(weft_configtx_to_json(NULL, junk, sizeof(junk), &s, &err), WEFT_EPARSE);
    weft_free(g);
}

/* ---- allocation failures -------------------------------------------------- */

static void test_alloc_torture(void **state)
{
    (void)state;
    size_t len;
    uint8_t *g = read_vec("blocks/genesis.block", &len);
    struct weft_err err;
    int ok = 0;
    for (uint64_t n = 1; n < 100000; n += (n < 400 ? 1 : 37)) {
        struct weft_channel_config *cfg = NULL;
        weft_alloc_fail_after(n);
        int rc = weft_channel_config_from_block(g, len, 0, &cfg, &err);
        weft_alloc_fail_after(0);
        if (rc == 0) {
            weft_channel_config_free(cfg);
            ok = 1;
            break;
        }
        assert_null(cfg);
    }
    assert_true(ok);
    for (uint64_t n = 1; n < 100000; n += (n < 200 ? 1 : 13)) {
        char *s = NULL;
        weft_alloc_fail_after(n);
        int rc = weft_configtx_to_json(NULL, g, len, &s, &err);
        weft_alloc_fail_after(0);
        if (rc == 0) {
            weft_free(s);
            break;
        }
    }
    weft_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_vector_genesis),
        cmocka_unit_test(test_policies_evaluate),
        cmocka_unit_test(test_malformed_blocks),
        cmocka_unit_test(test_config_value_errors),
        cmocka_unit_test(test_builder_matches_vector),
        cmocka_unit_test(test_genesis_block),
        cmocka_unit_test(test_yaml_errors),
        cmocka_unit_test(test_yaml_defaults),
        cmocka_unit_test(test_sample_config),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_inspect_json),
        cmocka_unit_test(test_alloc_torture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
