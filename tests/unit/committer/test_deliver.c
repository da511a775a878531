/* Deliver service and block puller over loopback gRPC:
 *  - peer A holds the vector chain and serves protos.Deliver;
 *  - peer B (empty ledger, committer with orderer signature checks) pulls
 *    from a list of endpoints whose first one is dead: it fails over and
 *    reaches A's height with A's header hashes;
 *  - DeliverFiltered returns filtered block 20 with its codes and chaincode
 *    event names, then status 200; a requester outside the Readers ACL gets
 *    403; an unknown channel 404; a bad seek 400. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "peer/events.pb-c.h"
#include "test_committer.h"
#include "testlib.h"
#include "weft/committer.h"
#include "weft/configtx.h"
#include "weft/crypto.h"
#include "weft/ledger.h"
#include "weft/msp.h"
#include "weft/rpc.h"

struct peer {
    char *root;
    struct weft_ledger *l;
    struct weft_committer *c;
};

static struct weft_vcache *g_cache;
static struct weft_verifier *g_ver;

static void peer_open(struct peer *p, const char *name)
{
    struct weft_err err = {0};
    p->root = wt_tmpdir(name);
    struct weft_ledger_options o;
    weft_ledger_options_init(&o);
    o.root = p->root;
    o.channel = "mychannel";
    o.no_sync = true;
    assert_int_equal(weft_ledger_open(&p->l, &o, &err), 0);
    size_t glen;
    uint8_t *g = vec_block_bytes(0, &glen);
    struct weft_channel_config *cfg;
    assert_int_equal(weft_channel_config_from_block(g, glen, 0, &cfg, &err), 0);
    weft_free(g);
    struct weft_committer_options co = {.config = cfg,
                                        .ledger = p->l,
                                        .verifier = g_ver,
                                        .cache = g_cache,
                                        .verify_orderer_sigs = true};
    assert_int_equal(weft_committer_new(&co, &p->c, &err), 0);
}

static void peer_close(struct peer *p)
{
    weft_committer_free(p->c);
    weft_ledger_close(p->l);
    wt_rmtree(p->root);
    weft_free(p->root);
}

static int lookup(void *ctx, const char *channel, struct weft_deliver_channel *out)
{
    struct peer *p = ctx;
    if (strcmp(channel, "mychannel") != 0)
        return WEFT_ENOTFOUND;
    out->ledger = p->l;
    out->config = weft_committer_config(p->c);
    return 0;
}

static struct weft_msp *load_msp(const char *rel, const char *mspid)
{
    char *dir = weft_asprintf("%s/vectors/fabric-2.4.9/crypto/%s/msp", wt_shared_dir(), rel);
    struct weft_msp *m;
    struct weft_err err = {0};
    if (weft_msp_load_dir(dir, mspid, &m, &err) != 0)
        fail_msg("msp %s: %s", dir, err.msg);
    weft_free(dir);
    return m;
}

/* One DeliverFiltered/Deliver request; returns the final status and the
 * messages before it (caller frees each with weft_free). */
static int deliver_req(const char *target, const char *method, const char *channel,
                       struct weft_msp *signer, uint64_t start, uint64_t stop, uint8_t **msgs,
                       size_t *lens, size_t *n)
{
    struct weft_err err = {0};
    struct weft_rpc_client *cl = weft_rpc_client_new(target, NULL, &err);
    assert_non_null(cl);
    struct weft_rpc_stream *s = weft_rpc_client_stream(cl, method, 20000, &err);
    assert_non_null(s);
    uint8_t *env;
    size_t envl;
    assert_int_equal(
        weft_blockpuller_seek_envelope(channel, signer, start, stop, &env, &envl, &err), 0);
    assert_int_equal(weft_rpc_stream_send(s, env, envl), 0);
    weft_free(env);
    *n = 0;
    int status = -1;
    for (;;) {
        uint8_t *m;
        size_t ml;
        assert_int_equal(weft_rpc_stream_recv(s, &m, &ml, 20000), 0);
        assert_non_null(m);
        Protos__DeliverResponse *r = protos__deliver_response__unpack(NULL, ml, m);
        assert_non_null(r);
        if (r->type_case == PROTOS__DELIVER_RESPONSE__TYPE_STATUS) {
            status = r->status;
            protos__deliver_response__free_unpacked(r, NULL);
            weft_free(m);
            break;
        }
        protos__deliver_response__free_unpacked(r, NULL);
        msgs[*n] = m;
        lens[(*n)++] = ml;
    }
    weft_rpc_stream_free(s);
    weft_rpc_client_free(cl);
    return status;
}

void test_deliver_and_pull(void **state)
{
    (void)state;
    struct weft_err err = {0};
    g_cache = weft_vcache_new(8192);
    g_ver = weft_verifier_new(1, g_cache);
    struct peer a, b;
    peer_open(&a, "deliver-a");
    for (unsigned n = 0; n < VEC_NBLOCKS; n++) {
        size_t len;
        uint8_t *bytes = vec_block_bytes(n, &len);
        Common__Block *blk = common__block__unpack(NULL, len, bytes);
        weft_free(bytes);
        free(blk->metadata->metadata[2].data);
        blk->metadata->metadata[2].data = NULL;
        blk->metadata->metadata[2].len = 0;
        len = protobuf_c_message_get_packed_size(&blk->base);
        bytes = weft_malloc(len);
        protobuf_c_message_pack(&blk->base, bytes);
        common__block__free_unpacked(blk, NULL);
        assert_int_equal(weft_committer_submit(a.c, bytes, len, 0, &err), 0);
    }
    uint64_t deadline = weft_clock_mono_ns() + 120ull * 1000000000ull;
    assert_int_equal(weft_committer_wait_height(a.c, VEC_NBLOCKS, deadline, &err), 0);

    struct weft_rpc_server_opts so = {.listen = {"127.0.0.1:0"}, .workers = 8, .cq_threads = 1};
    struct weft_rpc_server *srv = weft_rpc_server_new(&so, &err);
    assert_non_null(srv);
    struct weft_deliver_options dopt = {.lookup = lookup, .ctx = &a};
    struct weft_deliver *d;
    assert_int_equal(weft_deliver_register(srv, &dopt, &d, &err), 0);
    assert_int_equal(weft_rpc_server_start(srv, &err), 0);
    char target[64], dead[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", weft_rpc_server_port(srv, 0));
    snprintf(dead, sizeof(dead), "127.0.0.1:%d", wt_free_port());

    struct weft_msp *peer1 = load_msp("peerOrganizations/org1.example.com/peers/peer0.org1.example.com",
                                      "Org1MSP");
    struct weft_msp *orderer =
        load_msp("ordererOrganizations/example.com/users/Admin@example.com", "OrdererMSP");

    /* filtered block 20 */
    uint8_t *msgs[8];
    size_t lens[8], n;
    assert_int_equal(deliver_req(target, "/protos.Deliver/DeliverFiltered", "mychannel", peer1, 20,
                                 20, msgs, lens, &n),
                     200);
    assert_int_equal(n, 1);
    Protos__DeliverResponse *r = protos__deliver_response__unpack(NULL, lens[0], msgs[0]);
    assert_int_equal(r->type_case, PROTOS__DELIVER_RESPONSE__TYPE_FILTERED_BLOCK);
    Protos__FilteredBlock *fb = r->filtered_block;
    assert_int_equal(fb->number, 20);
    assert_string_equal(fb->channel_id, "mychannel");
    uint8_t want[128];
    size_t wn;
    vec_expected_codes(20, want, &wn);
    assert_int_equal(fb->n_filtered_transactions, wn);
    size_t events = 0;
    for (size_t i = 0; i < wn; i++) {
        Protos__FilteredTransaction *ft = fb->filtered_transactions[i];
        assert_int_equal(ft->tx_validation_code, want[i]);
        assert_int_equal(strlen(ft->txid), 64);
        assert_int_equal(ft->type, 3);
        assert_int_equal(ft->data_case, PROTOS__FILTERED_TRANSACTION__DATA_TRANSACTION_ACTIONS);
        for (size_t k = 0; k < ft->transaction_actions->n_chaincode_actions; k++) {
            Protos__ChaincodeEvent *ev = ft->transaction_actions->chaincode_actions[k]->chaincode_event;
            assert_string_equal(ev->chaincode_id, "basic");
            assert_string_equal(ev->event_name, "TransferAsset");
            assert_int_equal(ev->payload.len, 0);
            events++;
        }
    }
    assert_int_equal(events, wn);
    protos__deliver_response__free_unpacked(r, NULL);
    weft_free(msgs[0]);
    /* full blocks 74..75 */
    assert_int_equal(deliver_req(target, "/protos.Deliver/Deliver", "mychannel", peer1, 74, 75,
                                 msgs, lens, &n),
                     200);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        r = protos__deliver_response__unpack(NULL, lens[i], msgs[i]);
        assert_int_equal(r->type_case, PROTOS__DELIVER_RESPONSE__TYPE_BLOCK);
        assert_int_equal(r->block->header->number, 74 + i);
        assert_int_equal(r->block->metadata->metadata[2].len, r->block->data->n_data);
        protos__deliver_response__free_unpacked(r, NULL);
        weft_free(msgs[i]);
    }
    /* private-data flavour wraps the block */
    assert_int_equal(deliver_req(target, "/protos.Deliver/DeliverWithPrivateData", "mychannel",
                                 peer1, 3, 3, msgs, lens, &n),
                     200);
    r = protos__deliver_response__unpack(NULL, lens[0], msgs[0]);
    assert_int_equal(r->type_case, PROTOS__DELIVER_RESPONSE__TYPE_BLOCK_AND_PRIVATE_DATA);
    assert_int_equal(r->block_and_private_data->block->header->number, 3);
    protos__deliver_response__free_unpacked(r, NULL);
    weft_free(msgs[0]);
    /* orderer admin: not an application reader */
    assert_int_equal(deliver_req(target, "/protos.Deliver/Deliver", "mychannel", orderer, 0, 0,
                                 msgs, lens, &n),
                     403);
    assert_int_equal(deliver_req(target, "/protos.Deliver/Deliver", "nochannel", peer1, 0, 0, msgs,
                                 lens, &n),
                     404);
    assert_int_equal(deliver_req(target, "/protos.Deliver/Deliver", "mychannel", peer1, 5, 4, msgs,
                                 lens, &n),
                     400);
    assert_int_equal(deliver_req(target, "/protos.Deliver/Deliver", "mychannel", peer1, 500, 600,
                                 msgs, lens, &n),
                     404);

    /* peer B pulls, failing over from a dead endpoint */
    peer_open(&b, "deliver-b");
    const char *eps[2] = {dead, target};
    struct weft_blockpuller_options po = {.channel = "mychannel",
                                          .committer = b.c,
                                          .endpoints = eps,
                                          .n_endpoints = 2,
                                          .signer = peer1,
                                          .backoff_min_ms = 50,
                                          .backoff_max_ms = 400,
                                          .method = "/protos.Deliver/Deliver"};
    struct weft_blockpuller *pl;
    assert_int_equal(weft_blockpuller_new(&po, &pl, &err), 0);
    if (weft_committer_wait_height(b.c, VEC_NBLOCKS, deadline, &err) != 0)
        fail_msg("pull: %s", err.msg);
    struct weft_blockpuller_stats ps;
    weft_blockpuller_get_stats(pl, &ps);
    assert_true(ps.failovers >= 1);
    assert_true(ps.blocks >= VEC_NBLOCKS);
    weft_blockpuller_free(pl);
    struct weft_ledger_info ia, ib;
    weft_ledger_info(a.l, &ia);
    weft_ledger_info(b.l, &ib);
    assert_int_equal(ib.height, VEC_NBLOCKS);
    assert_memory_equal(ia.current_hash, ib.current_hash, 32);
    vec_check_state(b.l);

    weft_msp_unref(peer1);
    weft_msp_unref(orderer);
    weft_rpc_server_free(srv);
    weft_deliver_free(d);
    peer_close(&b);
    peer_close(&a);
    weft_verifier_free(g_ver);
    weft_vcache_free(g_cache);
}
