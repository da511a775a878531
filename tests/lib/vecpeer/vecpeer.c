/* The Fabric v2.4.9 vector-chain peer fixture (vecpeer.h). */
#include "vecpeer.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/common.pb-c.h"
#include "peer/peer_internal.h"
#include "peer/proposal.pb-c.h"
#include "peer/transaction.pb-c.h"
#include "testlib.h"
#include "weft/ledger.h"

char *wt_vec_path(const char *rel)
{
    return weft_asprintf("%s/%s", wt_shared_dir(), rel);
}

uint8_t *wt_vec_block(uint64_t n, size_t *len)
{
    char rel[128];
    snprintf(rel, sizeof(rel), WT_VEC "/blocks/%06llu.block", (unsigned long long)n);
    char *p = wt_vec_path(rel);
    uint8_t *b = (uint8_t *)wt_read_file(p, len);
    weft_free(p);
    assert_non_null(b);
    return b;
}

void wt_vec_tx(uint64_t n, size_t i, uint8_t **rwset, size_t *rwset_len, uint8_t **arg,
               size_t *arg_len)
{
    size_t bl;
    uint8_t *b = wt_vec_block(n, &bl);
    Common__Block *blk = common__block__unpack(NULL, bl, b);
    assert_non_null(blk);
    assert_true(i < blk->data->n_data);
    Common__Envelope *env =
        common__envelope__unpack(NULL, blk->data->data[i].len, blk->data->data[i].data);
    Common__Payload *pl = common__payload__unpack(NULL, env->payload.len, env->payload.data);
    Protos__Transaction *tx = protos__transaction__unpack(NULL, pl->data.len, pl->data.data);
    Protos__ChaincodeActionPayload *cap = protos__chaincode_action_payload__unpack(
        NULL, tx->actions[0]->payload.len, tx->actions[0]->payload.data);
    if (rwset != NULL) {
        Protos__ProposalResponsePayload *prp = protos__proposal_response_payload__unpack(
            NULL, cap->action->proposal_response_payload.len,
            cap->action->proposal_response_payload.data);
        Protos__ChaincodeAction *ca =
            protos__chaincode_action__unpack(NULL, prp->extension.len, prp->extension.data);
        assert_non_null(ca);
        *rwset_len = ca->results.len;
        *rwset = weft_malloc(ca->results.len);
        memcpy(*rwset, ca->results.data, ca->results.len);
        protos__chaincode_action__free_unpacked(ca, NULL);
        protos__proposal_response_payload__free_unpacked(prp, NULL);
    }
    Protos__ChaincodeProposalPayload *cpp = protos__chaincode_proposal_payload__unpack(
        NULL, cap->chaincode_proposal_payload.len, cap->chaincode_proposal_payload.data);
    Protos__ChaincodeInvocationSpec *cis =
        protos__chaincode_invocation_spec__unpack(NULL, cpp->input.len, cpp->input.data);
    assert_non_null(cis);
    assert_int_equal(cis->chaincode_spec->input->n_args, 2);
    *arg_len = cis->chaincode_spec->input->args[1].len;
    *arg = weft_malloc(*arg_len + 1);
    memcpy(*arg, cis->chaincode_spec->input->args[1].data, *arg_len);
    protos__chaincode_invocation_spec__free_unpacked(cis, NULL);
    protos__chaincode_proposal_payload__free_unpacked(cpp, NULL);
    protos__chaincode_action_payload__free_unpacked(cap, NULL);
    protos__transaction__free_unpacked(tx, NULL);
    common__payload__free_unpacked(pl, NULL);
    common__envelope__free_unpacked(env, NULL);
    common__block__free_unpacked(blk, NULL);
    weft_free(b);
}

uint8_t *wt_vec_arg(uint64_t n, size_t i, size_t *arg_len)
{
    uint8_t *arg = NULL;
    wt_vec_tx(n, i, NULL, NULL, &arg, arg_len);
    return arg;
}

/* ---- the peer ------------------------------------------------------------------------ */

struct wt_vecpeer *wt_vecpeer_new(const char *prefix)
{
    struct wt_vecpeer *vp = weft_calloc(1, sizeof(*vp));
    vp->dir = wt_tmpdir(prefix);
    char *msp = wt_vec_path(WT_VEC_ORG1 "/peers/peer0.org1.example.com/msp");
    char *amsp = wt_vec_path(WT_VEC_ORG1 "/users/Admin@org1.example.com/msp");
    char *umsp = wt_vec_path(WT_VEC_ORG1 "/users/User1@org1.example.com/msp");
    char *gp = NULL, *g = NULL;
    struct weft_peer_opts o = {
        .fs_path = vp->dir,
        .msp_dir = msp,
        .mspid = "Org1MSP",
        .chaincode_listen = "127.0.0.1:0",
        .execute_timeout_ms = 2000,
        .ledger_no_sync = true,
    };
    struct weft_err e = {0};
    vp->peer = weft_peer_new_opts(&o, NULL, &e);
    if (vp->peer == NULL) {
        fprintf(stderr, "peer: %s\n", e.msg);
        wt_vecpeer_free(vp);
        vp = NULL;
        goto cleanup;
    }
    assert_int_equal(weft_msp_load_dir(amsp, "Org1MSP", &vp->admin, &e), 0);
    assert_int_equal(weft_msp_load_dir(umsp, "Org1MSP", &vp->user, &e), 0);
    gp = wt_vec_path(WT_VEC "/blocks/genesis.block");
    size_t gl;
    g = wt_read_file(gp, &gl);
    assert_int_equal(weft_peer_join(vp->peer, (uint8_t *)g, gl, NULL, &e), 0);
cleanup:
    weft_free(g);
    weft_free(gp);
    weft_free(msp);
    weft_free(amsp);
    weft_free(umsp);
    return vp;
}

void wt_vecpeer_free(struct wt_vecpeer *vp)
{
    if (vp == NULL) {
        return;
    }
    weft_peer_free(vp->peer);
    weft_msp_unref(vp->admin);
    weft_msp_unref(vp->user);
    wt_rmtree(vp->dir);
    weft_free(vp->dir);
    weft_free(vp);
}

void wt_vecpeer_track(struct wt_vecpeer *vp)
{
    struct peer_channel *c = peer__channel(vp->peer, "mychannel");
    assert_non_null(c);
    struct weft_ledger_info info;
    weft_ledger_info(c->ledger, &info);
    vp->height = info.height;
    memcpy(vp->last_hash, info.current_hash, 32);
    vp->track = true;
}

/* ---- commits ------------------------------------------------------------------------- */

void wt_vecpeer_commit(struct wt_vecpeer *vp, const uint8_t *b, size_t len)
{
    struct weft_err e = {0};
    int rc = weft_peer_commit_block(vp->peer, "mychannel", b, len, &e);
    if (rc != 0) {
        fprintf(stderr, "commit: %s\n", e.msg);
    }
    assert_int_equal(rc, 0);
    if (!vp->track) {
        return;
    }
    Common__Block *blk = common__block__unpack(NULL, len, b);
    assert_non_null(blk);
    assert_int_equal(blk->header->number, vp->height);
    assert_int_equal(weft_ledger_header_hash(blk->header->number, blk->header->previous_hash.data,
                                             blk->header->previous_hash.len,
                                             blk->header->data_hash.data,
                                             blk->header->data_hash.len, vp->last_hash),
                     0);
    vp->height++;
    common__block__free_unpacked(blk, NULL);
}

void wt_vecpeer_commit_vec_block(struct wt_vecpeer *vp, uint64_t n)
{
    size_t bl;
    uint8_t *b = wt_vec_block(n, &bl);
    wt_vecpeer_commit(vp, b, bl);
    weft_free(b);
}

void wt_vecpeer_commit_envelope(struct wt_vecpeer *vp, const uint8_t *env, size_t len)
{
    assert_true(vp->track);
    ProtobufCBinaryData data[1] = {{len, (uint8_t *)env}};
    uint8_t filter[1] = {0}; /* VALID */
    uint8_t dh[32];
    weft_ledger_data_hash(data, 1, dh);
    Common__BlockHeader h = COMMON__BLOCK_HEADER__INIT;
    h.number = vp->height;
    h.previous_hash.data = vp->last_hash;
    h.previous_hash.len = 32;
    h.data_hash.data = dh;
    h.data_hash.len = 32;
    Common__BlockData d = COMMON__BLOCK_DATA__INIT;
    d.data = data;
    d.n_data = 1;
    ProtobufCBinaryData md[5] = {{0, NULL}};
    md[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER].data = filter;
    md[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER].len = 1;
    Common__BlockMetadata m = COMMON__BLOCK_METADATA__INIT;
    m.metadata = md;
    m.n_metadata = 5;
    Common__Block b = COMMON__BLOCK__INIT;
    b.header = &h;
    b.data = &d;
    b.metadata = &m;
    size_t bl = common__block__get_packed_size(&b);
    uint8_t *buf = weft_malloc(bl);
    common__block__pack(&b, buf);
    wt_vecpeer_commit(vp, buf, bl);
    weft_free(buf);
}

/* ---- _lifecycle ---------------------------------------------------------------------- */

Protos__ProposalResponse *wt_vecpeer_lc_endorse(struct wt_vecpeer *vp, struct weft_msp *who,
                                                const char *channel, const char *fn,
                                                const uint8_t *arg, size_t arg_len,
                                                struct wt_lc_tx *t)
{
    const uint8_t *args[2] = {(const uint8_t *)fn, arg};
    size_t lens[2] = {strlen(fn), arg_len};
    struct weft_err e = {0};
    t->who = who;
    t->resp = NULL;
    t->resp_len = 0;
    assert_int_equal(
        weft_lc_proposal_new(who, channel, "_lifecycle", args, lens, 2, false, &t->prop, &e), 0);
    int rc = weft_peer_endorse(vp->peer, t->prop.signed_proposal, t->prop.signed_proposal_len,
                               &t->resp, &t->resp_len, &e);
    if (rc != 0) {
        fprintf(stderr, "endorse: %s\n", e.msg);
    }
    assert_int_equal(rc, 0);
    Protos__ProposalResponse *pr = protos__proposal_response__unpack(NULL, t->resp_len, t->resp);
    assert_non_null(pr);
    assert_non_null(pr->response);
    return pr;
}

void wt_vecpeer_lc_finish(struct wt_vecpeer *vp, struct wt_lc_tx *t, bool commit)
{
    if (commit) {
        const uint8_t *rs[1] = {t->resp};
        uint8_t *env = NULL;
        size_t envl = 0;
        struct weft_err e = {0};
        assert_int_equal(weft_lc_tx_new(t->who, &t->prop, rs, &t->resp_len, 1, &env, &envl, &e), 0);
        wt_vecpeer_commit_envelope(vp, env, envl);
        weft_free(env);
    }
    weft_free(t->resp);
    weft_lc_proposal_clear(&t->prop);
}
