/*
 * The peer's Deliver service (protos.Deliver: Deliver, DeliverFiltered,
 * DeliverWithPrivateData), spec wire.md section 5.
 *
 * DESIGN. Each stream runs on one rpc worker: it takes one seek envelope at
 * a time, answers it fully (blocks, then exactly one status) and reads the
 * next. Blocks come from the ledger's waiting iterator with a short
 * deadline so a cancelled stream is noticed within 200 ms. Full blocks are
 * sent as the stored bytes wrapped by hand in DeliverResponse field 2 (no
 * decode/re-encode); filtered blocks are built from the decoded block.
 * Access: the ACL policy (event/Block or event/FilteredBlock, default
 * /Channel/Application/Readers) is evaluated on the request's signature, and
 * again whenever the channel's config object changes.
 * DeliverWithPrivateData returns BlockAndPrivateData with an empty private
 * data map: weft keeps no private data yet.
 */
#include <string.h>

#include "common/common.pb-c.h"
#include "orderer/ab.pb-c.h"
#include "peer/chaincode_event.pb-c.h"
#include "peer/events.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/transaction.pb-c.h"
#include "validator_int.h"
#include "weft/committer.h"
#include "weft/configtx.h"
#include "weft/ledger.h"
#include "weft/policy.h"
#include "weft/rpc.h"

#define ST_SUCCESS 200
#define ST_BAD_REQUEST 400
#define ST_FORBIDDEN 403
#define ST_NOT_FOUND 404
#define ST_INTERNAL 500
#define ST_UNAVAILABLE 503

#define HDR_ENDORSER 3
#define POLL_NS (200ull * 1000000ull)

enum dkind { DK_FULL, DK_FILTERED, DK_PRIVATE };

struct weft_deliver {
    struct weft_deliver_options opt;
};

struct dctx {
    struct weft_deliver *d;
    enum dkind kind;
};

/* ---- encoding helpers ---------------------------------------------------------- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* DeliverResponse{status} */
static int send_status(struct weft_rpc_call *call, int status)
{
    uint8_t b[12];
    b[0] = 0x08;
    size_t n = 1 + put_varint(b + 1, (uint64_t)status);
    return weft_rpc_call_send(call, b, n);
}

/* Wraps bytes as field `field` (length-delimited), optionally nested once
 * more as field `outer` (0 = not nested). Takes ownership of nothing. */
static uint8_t *wrap(uint32_t outer, uint32_t field, const uint8_t *p, size_t len, size_t *out_len)
{
    uint8_t hdr[24];
    size_t h = 0;
    uint8_t lenb[10];
    size_t ll = put_varint(lenb, len);
    size_t inner = 1 + ll + len;
    if (outer != 0) {
        hdr[h++] = (uint8_t)(outer << 3 | 2);
        h += put_varint(hdr + h, inner);
    }
    hdr[h++] = (uint8_t)(field << 3 | 2);
    memcpy(hdr + h, lenb, ll);
    h += ll;
    uint8_t *o = weft_malloc(h + len > 0 ? h + len : 1);
    if (o == NULL) {
        return NULL;
    }
    memcpy(o, hdr, h);
    if (len > 0) {
        memcpy(o + h, p, len);
    }
    *out_len = h + len;
    return o;
}

/* ---- filtered blocks ------------------------------------------------------------- */

static void fill_actions(Protos__FilteredTransaction *ft, const Common__Payload *pl,
                         Protos__FilteredTransactionActions *fta,
                         Protos__FilteredChaincodeAction ***acts_out, size_t *n_acts)
{
    protos__filtered_transaction_actions__init(fta);
    ft->data_case = PROTOS__FILTERED_TRANSACTION__DATA_TRANSACTION_ACTIONS;
    ft->transaction_actions = fta;
    *acts_out = NULL;
    *n_acts = 0;
    Protos__Transaction *tx = protos__transaction__unpack(PEER_PB, pl->data.len, pl->data.data);
    if (tx == NULL) {
        return;
    }
    Protos__FilteredChaincodeAction **acts =
        tx->n_actions > 0 ? weft_calloc(tx->n_actions, sizeof(*acts)) : NULL;
    size_t n = 0;
    for (size_t i = 0; acts != NULL && i < tx->n_actions; i++) {
        const Protos__TransactionAction *a = tx->actions[i];
        Protos__ChaincodeActionPayload *cap =
            protos__chaincode_action_payload__unpack(PEER_PB, a->payload.len, a->payload.data);
        Protos__ProposalResponsePayload *prp =
            cap != NULL && cap->action != NULL
                ? protos__proposal_response_payload__unpack(
                      PEER_PB, cap->action->proposal_response_payload.len,
                      cap->action->proposal_response_payload.data)
                : NULL;
        Protos__ChaincodeAction *cca =
            prp != NULL ? protos__chaincode_action__unpack(PEER_PB, prp->extension.len,
                                                           prp->extension.data)
                        : NULL;
        Protos__ChaincodeEvent *ev =
            cca != NULL && cca->events.len > 0
                ? protos__chaincode_event__unpack(PEER_PB, cca->events.len, cca->events.data)
                : NULL;
        if (ev != NULL && ev->chaincode_id != NULL && ev->chaincode_id[0] != '\0') {
            Protos__FilteredChaincodeAction *fa = weft_calloc(1, sizeof(*fa));
            Protos__ChaincodeEvent *ce = weft_calloc(1, sizeof(*ce));
            if (fa != NULL && ce != NULL) {
                protos__filtered_chaincode_action__init(fa);
                protos__chaincode_event__init(ce);
                ce->chaincode_id = weft_strdup(ev->chaincode_id);
                ce->tx_id = weft_strdup(ev->tx_id != NULL ? ev->tx_id : "");
                ce->event_name = weft_strdup(ev->event_name != NULL ? ev->event_name : "");
                fa->chaincode_event = ce; /* payload dropped, as Fabric does */
                acts[n++] = fa;
            } else {
                weft_free(fa);
                weft_free(ce);
            }
        }
        if (ev != NULL) {
            protos__chaincode_event__free_unpacked(ev, PEER_PB);
        }
        if (cca != NULL) {
            protos__chaincode_action__free_unpacked(cca, PEER_PB);
        }
        if (prp != NULL) {
            protos__proposal_response_payload__free_unpacked(prp, PEER_PB);
        }
        if (cap != NULL) {
            protos__chaincode_action_payload__free_unpacked(cap, PEER_PB);
        }
    }
    protos__transaction__free_unpacked(tx, PEER_PB);
    fta->n_chaincode_actions = n;
    fta->chaincode_actions = acts;
    *acts_out = acts;
    *n_acts = n;
}

int weft_deliver_filtered_block(const uint8_t *block, size_t len, uint8_t **out, size_t *out_len,
                                struct weft_err *err)
{
    Common__Block *blk = common__block__unpack(PEER_PB, len, block);
    if (blk == NULL || blk->header == NULL || blk->data == NULL) {
        if (blk != NULL) {
            common__block__free_unpacked(blk, PEER_PB);
        }
        return weft_err_set(err, WEFT_EPARSE, "block does not parse");
    }
    size_t ntx = blk->data->n_data;
    const ProtobufCBinaryData *filter =
        blk->metadata != NULL &&
                blk->metadata->n_metadata > COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER
            ? &blk->metadata->metadata[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER]
            : NULL;
    Protos__FilteredBlock fb = PROTOS__FILTERED_BLOCK__INIT;
    fb.number = blk->header->number;
    fb.channel_id = (char *)"";
    Protos__FilteredTransaction *fts = weft_calloc(ntx + 1, sizeof(*fts));
    Protos__FilteredTransaction **ftp = weft_calloc(ntx + 1, sizeof(*ftp));
    Protos__FilteredTransactionActions *ftas = weft_calloc(ntx + 1, sizeof(*ftas));
    Protos__FilteredChaincodeAction ***acts = weft_calloc(ntx + 1, sizeof(*acts));
    size_t *nacts = weft_calloc(ntx + 1, sizeof(*nacts));
    char **txids = weft_calloc(ntx + 1, sizeof(*txids));
    char *chan = NULL;
    int rc = 0;
    if (fts == NULL || ftp == NULL || ftas == NULL || acts == NULL || nacts == NULL ||
        txids == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < ntx; i++) {
        Protos__FilteredTransaction *ft = &fts[i];
        protos__filtered_transaction__init(ft);
        ftp[i] = ft;
        ft->txid = (char *)"";
        ft->tx_validation_code =
            (Protos__TxValidationCode)(filter != NULL && filter->len == ntx ? filter->data[i] : 0);
        Common__Envelope *e = common__envelope__unpack(PEER_PB, blk->data->data[i].len,
                                                       blk->data->data[i].data);
        Common__Payload *pl =
            e != NULL ? common__payload__unpack(PEER_PB, e->payload.len, e->payload.data) : NULL;
        Common__ChannelHeader *ch =
            pl != NULL && pl->header != NULL
                ? common__channel_header__unpack(PEER_PB, pl->header->channel_header.len,
                                                 pl->header->channel_header.data)
                : NULL;
        if (ch != NULL) {
            txids[i] = weft_strdup(ch->tx_id != NULL ? ch->tx_id : "");
            if (txids[i] != NULL) {
                ft->txid = txids[i];
            }
            ft->type = (Common__HeaderType)ch->type;
            if (chan == NULL && ch->channel_id != NULL) {
                chan = weft_strdup(ch->channel_id);
            }
            if (ch->type == HDR_ENDORSER) {
                fill_actions(ft, pl, &ftas[i], &acts[i], &nacts[i]);
            }
            common__channel_header__free_unpacked(ch, PEER_PB);
        }
        if (pl != NULL) {
            common__payload__free_unpacked(pl, PEER_PB);
        }
        if (e != NULL) {
            common__envelope__free_unpacked(e, PEER_PB);
        }
    }
    if (chan != NULL) {
        fb.channel_id = chan;
    }
    fb.n_filtered_transactions = ntx;
    fb.filtered_transactions = ftp;
    *out_len = protobuf_c_message_get_packed_size(&fb.base);
    *out = weft_malloc(*out_len > 0 ? *out_len : 1);
    if (*out == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto cleanup;
    }
    protobuf_c_message_pack(&fb.base, *out);
cleanup:
    for (size_t i = 0; acts != NULL && i < ntx; i++) {
        for (size_t k = 0; k < nacts[i]; k++) {
            Protos__ChaincodeEvent *ce = acts[i][k]->chaincode_event;
            weft_free(ce->chaincode_id);
            weft_free(ce->tx_id);
            weft_free(ce->event_name);
            weft_free(ce);
            weft_free(acts[i][k]);
        }
        weft_free(acts[i]);
    }
    for (size_t i = 0; txids != NULL && i < ntx; i++) {
        weft_free(txids[i]);
    }
    weft_free(txids);
    weft_free(nacts);
    weft_free(acts);
    weft_free(ftas);
    weft_free(ftp);
    weft_free(fts);
    weft_free(chan);
    common__block__free_unpacked(blk, PEER_PB);
    return rc;
}

/* ---- one request -------------------------------------------------------------------- */

static const char *acl_path(const struct weft_channel_config *cfg, enum dkind kind)
{
    const char *res = kind == DK_FILTERED ? "event/FilteredBlock" : "event/Block";
    if (cfg->has_application) {
        for (size_t i = 0; i < cfg->application.n_acls; i++) {
            if (strcmp(cfg->application.acls[i].resource, res) == 0) {
                return cfg->application.acls[i].policy_ref;
            }
        }
    }
    return "/Channel/Application/Readers";
}

static bool acl_ok(const struct weft_channel_config *cfg, enum dkind kind,
                   const struct weft_signed_data *sd)
{
    return weft_policy_mgr_evaluate(cfg->policy_mgr, acl_path(cfg, kind), sd, 1, NULL) == 0;
}

/* Position -> block number. */
static int seek_pos(const Orderer__SeekPosition *p, uint64_t height, bool is_start,
                    uint64_t start, uint64_t *out)
{
    switch (p->type_case) {
    case ORDERER__SEEK_POSITION__TYPE_OLDEST:
        *out = is_start ? 0 : start;
        return 0;
    case ORDERER__SEEK_POSITION__TYPE_NEWEST:
        *out = height > 0 ? height - 1 : 0;
        return 0;
    case ORDERER__SEEK_POSITION__TYPE_SPECIFIED:
        *out = p->specified != NULL ? p->specified->number : 0;
        return 0;
    case ORDERER__SEEK_POSITION__TYPE_NEXT_COMMIT:
        *out = height;
        return 0;
    default:
        return -1;
    }
}

static int send_block(struct weft_rpc_call *call, enum dkind kind, uint8_t *bytes, size_t len)
{
    size_t ol = 0;
    uint8_t *o = NULL;
    if (kind == DK_FULL) {
        o = wrap(0, 2, bytes, len, &ol);
    } else if (kind == DK_PRIVATE) {
        o = wrap(4, 1, bytes, len, &ol); /* BlockAndPrivateData{block}, no private data */
    } else {
        uint8_t *fb;
        size_t fl;
        if (weft_deliver_filtered_block(bytes, len, &fb, &fl, NULL) != 0) {
            return WEFT_ENOMEM;
        }
        o = wrap(0, 3, fb, fl, &ol);
        weft_free(fb);
    }
    if (o == NULL) {
        return WEFT_ENOMEM;
    }
    return weft_rpc_call_send_owned(call, o, ol);
}

/* Handles one seek envelope; returns the final status to send (0 if the
 * stream was cancelled and nothing more must be sent). */
static int handle_seek(struct weft_deliver *d, struct weft_rpc_call *call, enum dkind kind,
                       const uint8_t *msg, size_t len)
{
    int status = ST_BAD_REQUEST;
    Common__Envelope *env = common__envelope__unpack(PEER_PB, len, msg);
    Common__Payload *pl = NULL;
    Common__ChannelHeader *ch = NULL;
    Common__SignatureHeader *sh = NULL;
    Orderer__SeekInfo *si = NULL;
    struct weft_ledger_iter *it = NULL;
    if (env == NULL) {
        goto done;
    }
    pl = common__payload__unpack(PEER_PB, env->payload.len, env->payload.data);
    if (pl == NULL || pl->header == NULL) {
        goto done;
    }
    ch = common__channel_header__unpack(PEER_PB, pl->header->channel_header.len,
                                        pl->header->channel_header.data);
    sh = common__signature_header__unpack(PEER_PB, pl->header->signature_header.len,
                                          pl->header->signature_header.data);
    if (ch == NULL || sh == NULL || ch->timestamp == NULL) {
        goto done;
    }
    int64_t window = d->opt.time_window_ns > 0 ? d->opt.time_window_ns : 900ll * 1000000000ll;
    int64_t ts = ch->timestamp->seconds * 1000000000ll + ch->timestamp->nanos;
    int64_t now = (int64_t)weft_clock_wall_ns();
    if (ts < now - window || ts > now + window) {
        goto done;
    }
    if (d->opt.bind_tls) {
        uint8_t h[32];
        if (weft_rpc_call_tls_cert_hash(call, h) != 0 || ch->tls_cert_hash.len != 32 ||
            memcmp(h, ch->tls_cert_hash.data, 32) != 0) {
            goto done;
        }
    }
    struct weft_deliver_channel dc;
    if (ch->channel_id == NULL || d->opt.lookup(d->opt.ctx, ch->channel_id, &dc) != 0) {
        status = ST_NOT_FOUND;
        goto done;
    }
    si = orderer__seek_info__unpack(PEER_PB, pl->data.len, pl->data.data);
    if (si == NULL) {
        goto done;
    }
    struct weft_signed_data sd = {sh->creator.data, sh->creator.len, env->payload.data,
                                  env->payload.len, env->signature.data, env->signature.len};
    if (!acl_ok(dc.config, kind, &sd)) {
        status = ST_FORBIDDEN;
        goto done;
    }
    const struct weft_channel_config *checked = dc.config;
    if (si->start == NULL || si->stop == NULL) {
        goto done;
    }
    struct weft_ledger_info info;
    weft_ledger_info(dc.ledger, &info);
    uint64_t start, stop;
    if (seek_pos(si->start, info.height, true, 0, &start) != 0 ||
        seek_pos(si->stop, info.height, false, start, &stop) != 0) {
        goto done;
    }
    if (si->stop->type_case == ORDERER__SEEK_POSITION__TYPE_NEWEST &&
        si->start->type_case == ORDERER__SEEK_POSITION__TYPE_NEWEST) {
        stop = start;
    }
    if (stop < start) {
        goto done;
    }
    if (start > info.height) {
        status = ST_NOT_FOUND;
        goto done;
    }
    if (weft_ledger_iter_new(dc.ledger, start, &it, NULL) != 0) {
        status = ST_INTERNAL;
        goto done;
    }
    bool fail_if_not_ready =
        si->behavior == ORDERER__SEEK_INFO__SEEK_BEHAVIOR__FAIL_IF_NOT_READY;
    for (uint64_t n = start;; n++) {
        if (fail_if_not_ready) {
            weft_ledger_info(dc.ledger, &info);
            if (n + 1 > info.height) {
                status = ST_NOT_FOUND;
                goto done;
            }
        }
        uint8_t *b = NULL;
        size_t bl = 0;
        uint64_t num = 0;
        int rc;
        for (;;) {
            if (weft_rpc_call_is_cancelled(call)) {
                status = 0;
                goto done;
            }
            rc = weft_ledger_iter_next(it, weft_clock_mono_ns() + POLL_NS, &b, &bl, &num, NULL);
            if (rc != WEFT_ETIMEDOUT) {
                break;
            }
        }
        if (rc != 0) {
            status = rc == WEFT_ESHUTDOWN ? ST_UNAVAILABLE : ST_INTERNAL;
            goto done;
        }
        /* a config change re-runs the access check */
        if (d->opt.lookup(d->opt.ctx, ch->channel_id, &dc) == 0 && dc.config != checked) {
            checked = dc.config;
            if (!acl_ok(dc.config, kind, &sd)) {
                weft_free(b);
                status = ST_FORBIDDEN;
                goto done;
            }
        }
        rc = send_block(call, kind, b, bl);
        weft_free(b);
        if (rc != 0) {
            status = rc == WEFT_ENOMEM ? ST_INTERNAL : 0;
            goto done;
        }
        if (num >= stop) {
            status = ST_SUCCESS;
            goto done;
        }
    }
done:
    weft_ledger_iter_free(it);
    if (si != NULL) {
        orderer__seek_info__free_unpacked(si, PEER_PB);
    }
    if (sh != NULL) {
        common__signature_header__free_unpacked(sh, PEER_PB);
    }
    if (ch != NULL) {
        common__channel_header__free_unpacked(ch, PEER_PB);
    }
    if (pl != NULL) {
        common__payload__free_unpacked(pl, PEER_PB);
    }
    if (env != NULL) {
        common__envelope__free_unpacked(env, PEER_PB);
    }
    return status;
}

static void stream_main(void *ctx, struct weft_rpc_call *call)
{
    struct dctx *dc = ctx;
    for (;;) {
        uint8_t *msg = NULL;
        size_t len = 0;
        if (weft_rpc_call_recv(call, &msg, &len, -1) != 0 || msg == NULL) {
            return; /* half-close (clean end) or cancellation */
        }
        int status = handle_seek(dc->d, call, dc->kind, msg, len);
        weft_free(msg);
        if (status == 0 || send_status(call, status) != 0) {
            return;
        }
        if (status != ST_SUCCESS) {
            (void)weft_rpc_call_finish(call, WEFT_RPC_OK, NULL);
            return;
        }
    }
}

struct deliver_alloc {
    struct weft_deliver d;
    struct dctx ctx[3];
};

int weft_deliver_register(struct weft_rpc_server *srv, const struct weft_deliver_options *opt,
                          struct weft_deliver **out, struct weft_err *err)
{
    if (srv == NULL || opt == NULL || opt->lookup == NULL || out == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "deliver: server and lookup required");
    }
    struct deliver_alloc *a = weft_calloc(1, sizeof(*a));
    if (a == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    a->d.opt = *opt;
    static const char *const methods[3] = {"/protos.Deliver/Deliver",
                                           "/protos.Deliver/DeliverFiltered",
                                           "/protos.Deliver/DeliverWithPrivateData"};
    static const enum dkind kinds[3] = {DK_FULL, DK_FILTERED, DK_PRIVATE};
    for (int i = 0; i < 3; i++) {
        a->ctx[i].d = &a->d;
        a->ctx[i].kind = kinds[i];
        int rc = weft_rpc_server_add_stream(srv, methods[i], WEFT_RPC_BIDI_STREAMING, stream_main,
                                            &a->ctx[i]);
        if (rc != 0) {
            weft_free(a);
            return weft_err_set(err, rc, "deliver: cannot register %s", methods[i]);
        }
    }
    *out = &a->d;
    return 0;
}

void weft_deliver_free(struct weft_deliver *d)
{
    /* d is the first member of its allocation */
    weft_free(d);
}
