/*
 * Block validator: Fabric v2.4.9's v20 transaction validator, plugin
 * dispatcher and built-in vscc with key-level endorsement
 * (../shared/spec/block-and-validation.md sections 6 and 7).
 *
 * DESIGN. A block is validated in two phases (see weft/committer.h):
 *
 *  prepare  decodes every envelope, runs the structural checks in Fabric's
 *           order and queues each creator signature and each endorsement
 *           signature as one item of a single verifier batch, so the whole
 *           block's signatures fan out over every core at once. The checks
 *           that come after the creator signature in Fabric's order
 *           (txid, proposal hash, channel, dispatcher structure) are
 *           computed now and applied after the batch returns, so the first
 *           failing check still decides the code. Endorsements are reduced
 *           to Fabric's valid identity set (deserialize, de-duplicate by
 *           MSP ID + identity id, drop bad signatures, in order). Nothing
 *           here reads the state, so this overlaps the previous block's
 *           commit.
 *  finish   runs in block order on the committed state of the previous
 *           block: DUPLICATE_TXID against the block index, chaincode
 *           definitions from _lifecycle, endorsement policies with
 *           key-level overrides (policies are evaluated on the prepared
 *           identity sets: no signature is checked twice), in-block
 *           duplicate txids, then MVCC via the ledger. A config transaction
 *           replaces the channel configuration.
 *
 * Ownership: a vblock borrows the Common__Block passed to prepare; all
 * decoded messages hang off it and are freed with it.
 */
#include <string.h>

#include "common/common.pb-c.h"
#include "common/configtx.pb-c.h"
#include "ledger/rwset/rwset.pb-c.h"
#include "peer/chaincode_event.pb-c.h"
#include "peer/collection.pb-c.h"
#include "peer/lifecycle/chaincode_definition.pb-c.h"
#include "peer/lifecycle/db.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/transaction.pb-c.h"
#include "validator_int.h"
#include "weft/committer.h"
#include "weft/configtx.h"
#include "weft/crypto.h"
#include "weft/ledger.h"
#include "weft/ledger_state.h"
#include "weft/msp.h"
#include "weft/policy.h"

#define LIFECYCLE_NS "_lifecycle"
#define IMPLICIT_PREFIX "_implicit_org_"
#define LIFECYCLE_EP_PATH "/Channel/Application/LifecycleEndorsement"
#define VP_NAME "VALIDATION_PARAMETER"

#define HDR_CONFIG 1
#define HDR_CONFIG_UPDATE 2
#define HDR_ENDORSER 3

/* ---- code names ------------------------------------------------------------ */

const char *weft_tx_code_name(int code)
{
    static const char *const names[] = {"VALID",
                                        "NIL_ENVELOPE",
                                        "BAD_PAYLOAD",
                                        "BAD_COMMON_HEADER",
                                        "BAD_CREATOR_SIGNATURE",
                                        "INVALID_ENDORSER_TRANSACTION",
                                        "INVALID_CONFIG_TRANSACTION",
                                        "UNSUPPORTED_TX_PAYLOAD",
                                        "BAD_PROPOSAL_TXID",
                                        "DUPLICATE_TXID",
                                        "ENDORSEMENT_POLICY_FAILURE",
                                        "MVCC_READ_CONFLICT",
                                        "PHANTOM_READ_CONFLICT",
                                        "UNKNOWN_TX_TYPE",
                                        "TARGET_CHAIN_NOT_FOUND",
                                        "MARSHAL_TX_ERROR",
                                        "NIL_TXACTION",
                                        "EXPIRED_CHAINCODE",
                                        "CHAINCODE_VERSION_CONFLICT",
                                        "BAD_HEADER_EXTENSION",
                                        "BAD_CHANNEL_HEADER",
                                        "BAD_RESPONSE_PAYLOAD",
                                        "BAD_RWSET",
                                        "ILLEGAL_WRITESET",
                                        "INVALID_WRITESET",
                                        "INVALID_CHAINCODE"};
    if (code >= 0 && (size_t)code < WEFT_ARRAY_LEN(names)) {
        return names[code];
    }
    if (code == WEFT_TXC_NOT_VALIDATED) {
        return "NOT_VALIDATED";
    }
    if (code == WEFT_TXC_INVALID_OTHER_REASON) {
        return "INVALID_OTHER_REASON";
    }
    return "UNKNOWN";
}

/* ---- objects --------------------------------------------------------------- */

struct cfg_node {
    struct weft_channel_config *cfg;
    struct cfg_node *next;
};

struct weft_validator {
    char *channel_id;
    struct weft_channel_config *cfg; /* current; also in `configs` */
    struct cfg_node *configs;        /* every config ever used, freed at the end */
    struct weft_ledger *ledger;
    struct weft_verifier *verifier;
    struct weft_vcache *cache;
    struct weft_validator_stats stats; /* __atomic: read by metrics threads */
};

struct vtx {
    uint8_t code;      /* final, or NOT_VALIDATED while pending */
    uint8_t post_code; /* first failure among the checks after the creator signature */
    uint8_t dispatch_code; /* dispatcher structural failure (after the ledger dup check) */
    int32_t type;
    Common__Envelope *env;
    Common__Payload *payload;
    Common__ChannelHeader *chdr;
    Common__SignatureHeader *shdr;
    struct weft_msp_identity *creator;
    size_t creator_item; /* index in the verify batch, SIZE_MAX if none */
    /* endorser transactions */
    Protos__Transaction *tx;
    Protos__ChaincodeActionPayload *cap;
    Protos__ProposalResponsePayload *prp;
    Protos__ChaincodeHeaderExtension *ext;
    Protos__ChaincodeAction *cca;
    Rwset__TxReadWriteSet *rws;
    const char *ccname;
    struct peer_ns_keys *nks; /* one per NsReadWriteSet */
    size_t n_nks;
    const char **vns; /* namespaces to validate, in dispatcher order */
    size_t n_vns;
    struct weft_msp_identity **endorsers; /* NULL where deserialization failed */
    uint8_t (*digests)[WEFT_SHA256_LEN];
    size_t n_endorsers;
    size_t end_item0; /* first endorsement item in the batch */
    struct weft_policy_idset *ids;
};

struct weft_vblock {
    const Common__Block *blk;
    uint64_t number;
    size_t ntx;
    struct vtx *txs;
    bool is_config;
    struct weft_verify_item *items;
    size_t n_items, cap_items;
    /* the signature batch between prepare_start and prepare_end */
    bool started;
    struct weft_verify_batch *batch;  /* on the verifier, or NULL: checked in end */
    struct weft_verify_item *live;    /* items with a certificate, when some lack one */
    size_t *live_map;                 /* live[k] is items[live_map[k]] */
    size_t n_live;
    struct weft_verifier *verifier;   /* batch's */
    struct peer_arena arena;          /* every message decoded by prepare */
};

/* ---- small helpers ---------------------------------------------------------- */

static void cfg_retire_all(struct weft_validator *v)
{
    struct cfg_node *n = v->configs;
    while (n != NULL) {
        struct cfg_node *next = n->next;
        weft_channel_config_free(n->cfg);
        weft_free(n);
        n = next;
    }
    v->configs = NULL;
}

static int cfg_push(struct weft_validator *v, struct weft_channel_config *cfg)
{
    struct cfg_node *n = weft_calloc(1, sizeof(*n));
    if (n == NULL) {
        return WEFT_ENOMEM;
    }
    n->cfg = cfg;
    n->next = v->configs;
    v->configs = n;
    v->cfg = cfg;
    return 0;
}

int weft_validator_new(struct weft_channel_config *cfg, struct weft_ledger *ledger,
                       struct weft_verifier *verifier, struct weft_vcache *cache,
                       struct weft_validator **out, struct weft_err *err)
{
    if (cfg == NULL || ledger == NULL || out == NULL || cfg->channel_id == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "validator: config and ledger required");
    }
    struct weft_validator *v = weft_calloc(1, sizeof(*v));
    if (v == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    v->channel_id = weft_strdup(cfg->channel_id);
    if (v->channel_id == NULL || cfg_push(v, cfg) != 0) {
        weft_free(v->channel_id);
        weft_free(v);
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    v->ledger = ledger;
    v->verifier = verifier;
    v->cache = cache;
    *out = v;
    return 0;
}

void weft_validator_free(struct weft_validator *v)
{
    if (v == NULL) {
        return;
    }
    cfg_retire_all(v);
    weft_free(v->channel_id);
    weft_free(v);
}

const struct weft_channel_config *weft_validator_config(const struct weft_validator *v)
{
    return v->cfg;
}

void weft_validator_get_stats(const struct weft_validator *v, struct weft_validator_stats *out)
{
    /* the counters move on the pipeline threads while metrics read them */
    const struct weft_validator_stats *s = &v->stats;
    *out = (struct weft_validator_stats){
        .blocks = __atomic_load_n(&s->blocks, __ATOMIC_RELAXED),
        .txs = __atomic_load_n(&s->txs, __ATOMIC_RELAXED),
        .sig_checks = __atomic_load_n(&s->sig_checks, __ATOMIC_RELAXED),
        .prepare_ns = __atomic_load_n(&s->prepare_ns, __ATOMIC_RELAXED),
        .finish_ns = __atomic_load_n(&s->finish_ns, __ATOMIC_RELAXED),
        .config_updates = __atomic_load_n(&s->config_updates, __ATOMIC_RELAXED),
        .commit_ns = __atomic_load_n(&s->commit_ns, __ATOMIC_RELAXED),
    };
}

static void vtx_clear(struct vtx *t)
{
    weft_policy_idset_free(t->ids);
    for (size_t i = 0; i < t->n_endorsers; i++) {
        weft_msp_identity_unref(t->endorsers[i]);
    }
    weft_free(t->endorsers);
    weft_free(t->digests);
    for (size_t i = 0; i < t->n_nks; i++) {
        peer__ns_keys_clear(&t->nks[i]);
    }
    weft_free(t->nks);
    weft_free(t->vns);
    weft_msp_identity_unref(t->creator);
    /* the decoded messages live in the block's arena */
    memset(t, 0, sizeof(*t));
}

void weft_vblock_free(struct weft_vblock *vb)
{
    if (vb == NULL) {
        return;
    }
    if (vb->batch != NULL) { /* started and never ended: the workers let go first */
        (void)weft_verifier_finish(vb->verifier, vb->batch);
    }
    for (size_t i = 0; i < vb->ntx; i++) {
        vtx_clear(&vb->txs[i]);
    }
    weft_free(vb->txs);
    weft_free(vb->items);
    weft_free(vb->live);
    weft_free(vb->live_map);
    peer__arena_free(&vb->arena);
    weft_free(vb);
}

bool weft_vblock_is_config(const struct weft_vblock *vb)
{
    return vb->is_config;
}

static int add_item(struct weft_vblock *vb, size_t *idx)
{
    if (vb->n_items == vb->cap_items) {
        size_t cap = vb->cap_items == 0 ? 64 : vb->cap_items * 2;
        struct weft_verify_item *n = weft_realloc(vb->items, cap * sizeof(*n));
        if (n == NULL) {
            return WEFT_ENOMEM;
        }
        vb->items = n;
        vb->cap_items = cap;
    }
    memset(&vb->items[vb->n_items], 0, sizeof(vb->items[0]));
    *idx = vb->n_items++;
    return 0;
}

/* ---- phase 1: structure ------------------------------------------------------ */

/* Steps 1-4 of spec 6.1: envelope, payload, common header. */
static uint8_t check_common(struct vtx *t, const ProtobufCBinaryData *d, ProtobufCAllocator *pb)
{
    t->env = common__envelope__unpack(pb, d->len, d->data);
    if (t->env == NULL) {
        return WEFT_TXC_INVALID_OTHER_REASON;
    }
    t->payload = common__payload__unpack(pb, t->env->payload.len, t->env->payload.data);
    if (t->payload == NULL) {
        return WEFT_TXC_BAD_PAYLOAD;
    }
    const Common__Header *h = t->payload->header;
    if (h == NULL) {
        return WEFT_TXC_BAD_COMMON_HEADER;
    }
    t->chdr = common__channel_header__unpack(pb, h->channel_header.len,
                                             h->channel_header.data);
    if (t->chdr == NULL) {
        return WEFT_TXC_BAD_COMMON_HEADER;
    }
    t->shdr = common__signature_header__unpack(pb, h->signature_header.len,
                                               h->signature_header.data);
    if (t->shdr == NULL) {
        return WEFT_TXC_BAD_COMMON_HEADER;
    }
    t->type = t->chdr->type;
    if (t->type != HDR_ENDORSER && t->type != HDR_CONFIG && t->type != HDR_CONFIG_UPDATE) {
        return WEFT_TXC_BAD_COMMON_HEADER;
    }
    if (t->chdr->epoch != 0 || t->shdr->nonce.len == 0 || t->shdr->creator.len == 0) {
        return WEFT_TXC_BAD_COMMON_HEADER;
    }
    return WEFT_TXC_VALID;
}

/* tx_id == hex(SHA-256(nonce || creator)). */
static bool txid_ok(const Common__ChannelHeader *ch, const Common__SignatureHeader *shdr,
                    struct weft_sha256 *sh)
{
    uint8_t h[WEFT_SHA256_LEN];
    if (weft_sha256_reset(sh) != 0 ||
        weft_sha256_update(sh, shdr->nonce.data, shdr->nonce.len) != 0 ||
        weft_sha256_update(sh, shdr->creator.data, shdr->creator.len) != 0 ||
        weft_sha256_final(sh, h) != 0) {
        return false;
    }
    char hex[2 * WEFT_SHA256_LEN + 1];
    weft_crypto_hex(h, sizeof(h), hex);
    return ch->tx_id != NULL && strcmp(ch->tx_id, hex) == 0;
}

/* validateEndorserTransaction (step 7). */
static uint8_t check_endorser_tx(struct vtx *t, ProtobufCAllocator *pb, struct weft_sha256 *sh)
{
    t->tx = protos__transaction__unpack(pb, t->payload->data.len, t->payload->data.data);
    if (t->tx == NULL || t->tx->n_actions != 1 || t->tx->actions[0] == NULL) {
        return WEFT_TXC_INVALID_ENDORSER_TRANSACTION;
    }
    const Protos__TransactionAction *a = t->tx->actions[0];
    Common__SignatureHeader *ash =
        common__signature_header__unpack(pb, a->header.len, a->header.data);
    if (ash == NULL) {
        return WEFT_TXC_INVALID_ENDORSER_TRANSACTION;
    }
    if (ash->nonce.len == 0 || ash->creator.len == 0) { /* ash stays in the arena */
        return WEFT_TXC_INVALID_ENDORSER_TRANSACTION;
    }
    t->cap = protos__chaincode_action_payload__unpack(pb, a->payload.len, a->payload.data);
    if (t->cap == NULL || t->cap->action == NULL) {
        return WEFT_TXC_INVALID_ENDORSER_TRANSACTION;
    }
    const ProtobufCBinaryData *prpb = &t->cap->action->proposal_response_payload;
    t->prp = protos__proposal_response_payload__unpack(pb, prpb->len, prpb->data);
    if (t->prp == NULL) {
        return WEFT_TXC_INVALID_ENDORSER_TRANSACTION;
    }
    /* proposal hash = H(channel header || action's signature header || ccpp) */
    const ProtobufCBinaryData *chb = &t->payload->header->channel_header;
    const ProtobufCBinaryData *ccpp = &t->cap->chaincode_proposal_payload;
    uint8_t h[WEFT_SHA256_LEN];
    if (weft_sha256_reset(sh) != 0 || weft_sha256_update(sh, chb->data, chb->len) != 0 ||
        weft_sha256_update(sh, a->header.data, a->header.len) != 0 ||
        weft_sha256_update(sh, ccpp->data, ccpp->len) != 0 || weft_sha256_final(sh, h) != 0) {
        return WEFT_TXC_INVALID_OTHER_REASON;
    }
    if (t->prp->proposal_hash.len != sizeof(h) ||
        memcmp(t->prp->proposal_hash.data, h, sizeof(h)) != 0) {
        return WEFT_TXC_INVALID_ENDORSER_TRANSACTION;
    }
    return WEFT_TXC_VALID;
}

static bool is_syscc(const char *name)
{
    return strcmp(name, LIFECYCLE_NS) == 0 || strcmp(name, "lscc") == 0 ||
           strcmp(name, "cscc") == 0 || strcmp(name, "qscc") == 0;
}

/* Plugin dispatcher structure (spec 6.2, before the policy). */
static uint8_t check_dispatch(struct vtx *t, ProtobufCAllocator *pb)
{
    t->ext = protos__chaincode_header_extension__unpack(pb, t->chdr->extension.len,
                                                        t->chdr->extension.data);
    if (t->ext == NULL) {
        return WEFT_TXC_BAD_HEADER_EXTENSION;
    }
    t->cca = protos__chaincode_action__unpack(pb, t->prp->extension.len,
                                              t->prp->extension.data);
    if (t->cca == NULL) {
        return WEFT_TXC_BAD_RESPONSE_PAYLOAD;
    }
    t->rws = rwset__tx_read_write_set__unpack(pb, t->cca->results.len, t->cca->results.data);
    if (t->rws == NULL) {
        return WEFT_TXC_BAD_RWSET;
    }
    if (t->rws->n_ns_rwset > 0) {
        t->nks = weft_calloc(t->rws->n_ns_rwset, sizeof(*t->nks));
        if (t->nks == NULL) {
            return WEFT_TXC_INVALID_OTHER_REASON;
        }
    }
    t->n_nks = t->rws->n_ns_rwset;
    for (size_t i = 0; i < t->rws->n_ns_rwset; i++) {
        const Rwset__NsReadWriteSet *ns = t->rws->ns_rwset[i];
        struct peer_ns_keys *nk = &t->nks[i];
        nk->ns = ns->namespace_;
        int rc = peer__kvrwset_keys(ns->rwset.data, ns->rwset.len, nk);
        if (rc == WEFT_ENOMEM) {
            return WEFT_TXC_INVALID_OTHER_REASON;
        }
        if (rc != 0) {
            return WEFT_TXC_BAD_RWSET;
        }
        if (ns->n_collection_hashed_rwset > 0) {
            nk->colls = weft_calloc(ns->n_collection_hashed_rwset, sizeof(*nk->colls));
            if (nk->colls == NULL) {
                return WEFT_TXC_INVALID_OTHER_REASON;
            }
            nk->n_colls = ns->n_collection_hashed_rwset;
        }
        for (size_t c = 0; c < ns->n_collection_hashed_rwset; c++) {
            const Rwset__CollectionHashedReadWriteSet *ch = ns->collection_hashed_rwset[c];
            nk->colls[c].name = ch->collection_name;
            rc = peer__hashed_keys(ch->hashed_rwset.data, ch->hashed_rwset.len, &nk->colls[c]);
            if (rc == WEFT_ENOMEM) {
                return WEFT_TXC_INVALID_OTHER_REASON;
            }
            if (rc != 0) {
                return WEFT_TXC_BAD_RWSET;
            }
            if (nk->colls[c].n_writes > 0 || nk->colls[c].n_meta_writes > 0) {
                nk->has_writes = true;
            }
        }
    }
    if (t->ext->chaincode_id == NULL || t->cca->chaincode_id == NULL) {
        return WEFT_TXC_INVALID_OTHER_REASON;
    }
    const char *name = t->ext->chaincode_id->name;
    if (name == NULL || name[0] == '\0' || t->cca->chaincode_id->name == NULL ||
        strcmp(name, t->cca->chaincode_id->name) != 0 || t->cca->chaincode_id->version == NULL ||
        t->cca->chaincode_id->version[0] == '\0') {
        return WEFT_TXC_INVALID_CHAINCODE;
    }
    t->ccname = name;
    if (t->cca->events.len > 0) {
        Protos__ChaincodeEvent *ev =
            protos__chaincode_event__unpack(pb, t->cca->events.len, t->cca->events.data);
        if (ev == NULL || ev->chaincode_id == NULL || strcmp(ev->chaincode_id, name) != 0) {
            return WEFT_TXC_INVALID_OTHER_REASON;
        }
    }
    for (size_t i = 0; i < t->n_nks; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(t->nks[i].ns, t->nks[j].ns) == 0) {
                return WEFT_TXC_ILLEGAL_WRITESET;
            }
        }
    }
    t->vns = weft_calloc(t->n_nks + 1, sizeof(*t->vns));
    if (t->vns == NULL) {
        return WEFT_TXC_INVALID_OTHER_REASON;
    }
    t->vns[t->n_vns++] = name;
    bool app = !is_syscc(name);
    for (size_t i = 0; i < t->n_nks; i++) {
        if (!t->nks[i].has_writes) {
            continue;
        }
        if (app && strcmp(t->nks[i].ns, "lscc") == 0) {
            return WEFT_TXC_ILLEGAL_WRITESET;
        }
        /* a system chaincode invocation is validated for its own namespace */
        if (app && strcmp(t->nks[i].ns, name) != 0) {
            t->vns[t->n_vns++] = t->nks[i].ns;
        }
    }
    return WEFT_TXC_VALID;
}

/* Queues the endorsement signatures: data = prp bytes || endorser. */
static int queue_endorsements(struct weft_validator *v, struct weft_vblock *vb, struct vtx *t,
                              struct weft_sha256 *sh)
{
    const Protos__ChaincodeEndorsedAction *ea = t->cap->action;
    size_t n = ea->n_endorsements;
    t->end_item0 = vb->n_items;
    if (n == 0) {
        return 0;
    }
    t->endorsers = weft_calloc(n, sizeof(*t->endorsers));
    t->digests = weft_calloc(n, sizeof(*t->digests));
    if (t->endorsers == NULL || t->digests == NULL) {
        return WEFT_ENOMEM;
    }
    t->n_endorsers = n;
    for (size_t i = 0; i < n; i++) {
        const Protos__Endorsement *e = ea->endorsements[i];
        size_t idx;
        if (add_item(vb, &idx) != 0) {
            return WEFT_ENOMEM;
        }
        struct weft_verify_item *it = &vb->items[idx];
        it->result = WEFT_EBADSIG;
        if (e == NULL || weft_msp_mgr_deserialize(v->cfg->msp_mgr, e->endorser.data,
                                                  e->endorser.len, &t->endorsers[i], NULL) != 0) {
            t->endorsers[i] = NULL;
            continue; /* the item stays empty: skipped by the batch */
        }
        if (weft_sha256_reset(sh) != 0 ||
            weft_sha256_update(sh, ea->proposal_response_payload.data,
                               ea->proposal_response_payload.len) != 0 ||
            weft_sha256_update(sh, e->endorser.data, e->endorser.len) != 0 ||
            weft_sha256_final(sh, t->digests[i]) != 0) {
            return WEFT_ECRYPTO;
        }
        it->cert = weft_msp_identity_cert(t->endorsers[i]);
        it->digest = t->digests[i];
        it->sig = e->signature.data;
        it->sig_len = e->signature.len;
    }
    return 0;
}

static int prepare_tx(struct weft_validator *v, struct weft_vblock *vb, struct vtx *t,
                      const ProtobufCBinaryData *d, struct weft_sha256 *sh)
{
    t->creator_item = SIZE_MAX;
    t->code = check_common(t, d, &vb->arena.pb);
    if (t->code != WEFT_TXC_VALID) {
        return 0;
    }
    if (t->type == HDR_CONFIG) {
        vb->is_config = true;
    }
    /* step 5: creator (deserialize + Validate now, signature in the batch) */
    if (weft_msp_mgr_deserialize(v->cfg->msp_mgr, t->shdr->creator.data, t->shdr->creator.len,
                                 &t->creator, NULL) != 0 ||
        weft_msp_identity_validate(t->creator, NULL) != 0) {
        t->code = WEFT_TXC_BAD_CREATOR_SIGNATURE;
        return 0;
    }
    size_t idx;
    if (add_item(vb, &idx) != 0) {
        return WEFT_ENOMEM;
    }
    t->creator_item = idx;
    vb->items[idx].cert = weft_msp_identity_cert(t->creator);
    vb->items[idx].msg = t->env->payload.data;
    vb->items[idx].msg_len = t->env->payload.len;
    vb->items[idx].sig = t->env->signature.data;
    vb->items[idx].sig_len = t->env->signature.len;
    t->code = WEFT_TXC_NOT_VALIDATED;
    /* steps 6-9: decided now, applied if the creator signature holds */
    if (t->type == HDR_ENDORSER) {
        if (!txid_ok(t->chdr, t->shdr, sh)) {
            t->post_code = WEFT_TXC_BAD_PROPOSAL_TXID;
        } else {
            t->post_code = check_endorser_tx(t, &vb->arena.pb, sh);
        }
    } else if (t->type == HDR_CONFIG) {
        if (t->payload->data.len == 0) {
            t->post_code = WEFT_TXC_INVALID_CONFIG_TRANSACTION;
        }
    } else {
        t->post_code = WEFT_TXC_UNSUPPORTED_TX_PAYLOAD;
    }
    /* step 10 */
    if (t->post_code == WEFT_TXC_VALID &&
        (t->chdr->channel_id == NULL || strcmp(t->chdr->channel_id, v->channel_id) != 0)) {
        t->post_code = WEFT_TXC_TARGET_CHAIN_NOT_FOUND;
    }
    if (t->post_code != WEFT_TXC_VALID || t->type != HDR_ENDORSER) {
        return 0;
    }
    t->dispatch_code = check_dispatch(t, &vb->arena.pb);
    return queue_endorsements(v, vb, t, sh);
}

/* Fabric's SignatureSetToValidIdentities over the batch verdicts. */
static int build_idset(struct weft_vblock *vb, struct vtx *t)
{
    struct weft_msp_identity **kept = NULL;
    size_t nk = 0;
    if (t->n_endorsers > 0) {
        kept = weft_calloc(t->n_endorsers, sizeof(*kept));
        if (kept == NULL) {
            return WEFT_ENOMEM;
        }
    }
    for (size_t i = 0; i < t->n_endorsers; i++) {
        struct weft_msp_identity *id = t->endorsers[i];
        if (id == NULL) {
            continue;
        }
        bool dup = false;
        for (size_t k = 0; k < nk && !dup; k++) {
            dup = strcmp(weft_msp_identity_mspid(kept[k]), weft_msp_identity_mspid(id)) == 0 &&
                  strcmp(weft_msp_identity_id(kept[k]), weft_msp_identity_id(id)) == 0;
        }
        if (dup || vb->items[t->end_item0 + i].result != 0) {
            continue;
        }
        kept[nk++] = id;
    }
    int rc = weft_policy_idset_from(kept, nk, &t->ids);
    weft_free(kept);
    return rc;
}

/* The block's signature items still to check: all of them, or a copy of
 * those with a certificate (items of endorsers that did not deserialize
 * are left out); vb->live stays NULL in the first case. */
static int batch_items(struct weft_vblock *vb, struct weft_verify_item **items, size_t *n)
{
    size_t live = 0;
    for (size_t i = 0; i < vb->n_items; i++) {
        live += vb->items[i].cert != NULL;
    }
    vb->n_live = live;
    if (live == vb->n_items) {
        *items = vb->items;
        *n = live;
        return 0;
    }
    *items = NULL;
    *n = 0;
    if (live == 0) {
        return 0;
    }
    vb->live = weft_malloc(live * sizeof(*vb->live));
    vb->live_map = weft_malloc(live * sizeof(*vb->live_map));
    if (vb->live == NULL || vb->live_map == NULL) {
        return WEFT_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < vb->n_items; i++) {
        if (vb->items[i].cert != NULL) {
            vb->live_map[k] = i;
            vb->live[k++] = vb->items[i];
        }
    }
    *items = vb->live;
    *n = live;
    return 0;
}

int weft_validator_prepare_start(struct weft_validator *v, const struct Common__Block *blk,
                                 struct weft_vblock **out, struct weft_err *err)
{
    if (blk == NULL || blk->header == NULL || blk->data == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "validator: block without header or data");
    }
    uint64_t t0 = weft_clock_mono_ns();
    struct weft_vblock *vb = weft_calloc(1, sizeof(*vb));
    if (vb == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    peer__arena_init(&vb->arena);
    vb->blk = blk;
    vb->number = blk->header->number;
    vb->ntx = blk->data->n_data;
    vb->txs = weft_calloc(vb->ntx > 0 ? vb->ntx : 1, sizeof(*vb->txs));
    struct weft_sha256 *sh = weft_sha256_new();
    int rc = 0;
    if (vb->txs == NULL || sh == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (vb->number == 0) {
        /* The genesis block is committed as given (Fabric's JoinChain): its
         * config is the one the validator was created from. */
        for (size_t i = 0; i < vb->ntx; i++) {
            vb->txs[i].code = WEFT_TXC_VALID;
        }
        vb->is_config = true;
        goto cleanup;
    }
    for (size_t i = 0; i < vb->ntx; i++) {
        rc = prepare_tx(v, vb, &vb->txs[i], &blk->data->data[i], sh);
        if (rc != 0) {
            weft_err_set(err, rc, "validator: block %llu tx %zu: %s",
                         (unsigned long long)vb->number, i, weft_strerror(rc));
            goto cleanup;
        }
    }
    /* one batch for every signature of the block */
    vb->started = true;
    struct weft_verify_item *items = NULL;
    size_t n = 0;
    rc = batch_items(vb, &items, &n);
    if (rc != 0) {
        weft_err_set(err, rc, "out of memory");
        goto cleanup;
    }
    if (n > 0 && v->verifier != NULL) {
        vb->verifier = v->verifier;
        vb->batch = weft_verifier_start(v->verifier, items, n); /* NULL: checked in end */
    }
cleanup:
    weft_sha256_free(sh);
    if (rc != 0) {
        weft_vblock_free(vb);
        return rc;
    }
    __atomic_fetch_add(&v->stats.prepare_ns, weft_clock_mono_ns() - t0, __ATOMIC_RELAXED);
    *out = vb;
    return 0;
}

int weft_validator_prepare_end(struct weft_validator *v, struct weft_vblock *vb,
                               struct weft_err *err)
{
    if (!vb->started) {
        return 0; /* the genesis block: nothing to check */
    }
    uint64_t t0 = weft_clock_mono_ns();
    vb->started = false;
    struct weft_verify_item *items = vb->live != NULL ? vb->live : vb->items;
    size_t n = vb->n_live;
    if (vb->batch != NULL) {
        (void)weft_verifier_finish(v->verifier, vb->batch);
        vb->batch = NULL;
    } else if (n > 0 && v->verifier != NULL) {
        (void)weft_verifier_run(v->verifier, items, n);
    } else {
        for (size_t i = 0; i < n; i++) {
            (void)weft_verify_item_run(v->cache, &items[i]);
        }
    }
    if (vb->live != NULL) {
        for (size_t k = 0; k < n; k++) {
            vb->items[vb->live_map[k]].result = vb->live[k].result;
        }
    }
    __atomic_fetch_add(&v->stats.sig_checks, n, __ATOMIC_RELAXED);
    int rc = 0;
    for (size_t i = 0; i < vb->ntx && rc == 0; i++) {
        struct vtx *t = &vb->txs[i];
        if (t->code != WEFT_TXC_NOT_VALIDATED) {
            continue;
        }
        if (vb->items[t->creator_item].result != 0) {
            t->code = WEFT_TXC_BAD_CREATOR_SIGNATURE;
        } else if (t->post_code != WEFT_TXC_VALID) {
            t->code = t->post_code;
        } else if (t->type == HDR_ENDORSER && t->dispatch_code == WEFT_TXC_VALID) {
            rc = build_idset(vb, t);
            if (rc != 0) {
                weft_err_set(err, rc, "out of memory");
            }
        }
    }
    __atomic_fetch_add(&v->stats.prepare_ns, weft_clock_mono_ns() - t0, __ATOMIC_RELAXED);
    return rc;
}

int weft_validator_prepare(struct weft_validator *v, const struct Common__Block *blk,
                           struct weft_vblock **out, struct weft_err *err)
{
    struct weft_vblock *vb = NULL;
    int rc = weft_validator_prepare_start(v, blk, &vb, err);
    if (rc == 0) {
        rc = weft_validator_prepare_end(v, vb, err);
    }
    if (rc != 0) {
        weft_vblock_free(vb);
        return rc;
    }
    *out = vb;
    return 0;
}

/* ---- phase 2: policies --------------------------------------------------------- */

/* A namespace's validation info for one finish() call. */
struct nsinfo {
    const char *ns;
    uint8_t code;          /* VALID, or INVALID_CHAINCODE when undefined */
    uint8_t *app_policy;   /* ser(ApplicationPolicy) (owned) */
    size_t app_policy_len;
    struct weft_policy *compiled; /* signature policy, compiled once */
    char *ref;                    /* or a channel policy path */
    uint8_t *collections;         /* ser(CollectionConfigPackage) or NULL */
    size_t collections_len;
};

/* A key whose validation parameter an earlier, policy-valid tx of this
 * block changed (the "validation parameter updated" rule). */
struct vpkey {
    const char *ns;
    const char *coll; /* NULL for public state */
    struct peer_bytes key;
};

struct fin {
    struct weft_validator *v;
    struct weft_ledger_sim *qe;
    struct nsinfo *ns;
    size_t n_ns;
    struct vpkey *vp;
    size_t n_vp, cap_vp;
    struct weft_err *err;
};

static void fin_clear(struct fin *f)
{
    for (size_t i = 0; i < f->n_ns; i++) {
        weft_free(f->ns[i].app_policy);
        weft_policy_free(f->ns[i].compiled);
        weft_free(f->ns[i].ref);
        weft_free(f->ns[i].collections);
    }
    weft_free(f->ns);
    weft_free(f->vp);
    weft_ledger_sim_free(f->qe);
}

/* Reads a _lifecycle field StateData and returns its Bytes member. 1 = found
 * (*out owned, may be empty), 0 = absent, < 0 error. */
static int lifecycle_bytes(struct fin *f, const char *key, uint8_t **out, size_t *out_len,
                           bool *is_bytes)
{
    uint8_t *val = NULL;
    size_t vl = 0;
    bool found = false;
    int rc = weft_ledger_sim_get(f->qe, LIFECYCLE_NS, key, strlen(key), &val, &vl, &found, NULL,
                                 f->err);
    if (rc != 0) {
        return rc;
    }
    if (!found) {
        weft_free(val);
        return 0;
    }
    Lifecycle__StateData *sd = lifecycle__state_data__unpack(PEER_PB, vl, val);
    weft_free(val);
    *is_bytes = false;
    *out = NULL;
    *out_len = 0;
    if (sd == NULL) {
        return 1;
    }
    if (sd->type_case == LIFECYCLE__STATE_DATA__TYPE_BYTES) {
        *is_bytes = true;
        *out = weft_memdup(sd->bytes.len > 0 ? sd->bytes.data : (const uint8_t *)"",
                           sd->bytes.len);
        *out_len = sd->bytes.len;
        if (*out == NULL) {
            lifecycle__state_data__free_unpacked(sd, PEER_PB);
            return WEFT_ENOMEM;
        }
    }
    lifecycle__state_data__free_unpacked(sd, PEER_PB);
    return 1;
}

/* Majority of application org members: the _lifecycle fallback. */
static int lifecycle_majority(const struct weft_channel_config *cfg, uint8_t **env,
                              size_t *env_len)
{
    struct weft_buf b;
    weft_buf_init(&b, 1u << 20);
    size_t n = cfg->has_application ? cfg->application.n_orgs : 0;
    int rc = weft_buf_appendf(&b, "OutOf(%zu", n / 2 + 1);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = weft_buf_appendf(&b, ",'%s.member'", cfg->application.orgs[i].mspid);
    }
    if (rc == 0) {
        rc = weft_buf_appendf(&b, ")");
    }
    if (rc == 0) {
        rc = weft_policy_parse((const char *)b.data, env, env_len, NULL);
    }
    weft_buf_close(&b);
    return rc;
}

static int ns_info(struct fin *f, const char *ns, struct nsinfo **out)
{
    for (size_t i = 0; i < f->n_ns; i++) {
        if (strcmp(f->ns[i].ns, ns) == 0) {
            *out = &f->ns[i];
            return 0;
        }
    }
    struct nsinfo *n = weft_realloc(f->ns, (f->n_ns + 1) * sizeof(*n));
    if (n == NULL) {
        return WEFT_ENOMEM;
    }
    f->ns = n;
    struct nsinfo *e = &f->ns[f->n_ns++];
    memset(e, 0, sizeof(*e));
    e->ns = ns;
    *out = e;
    const struct weft_channel_config *cfg = f->v->cfg;
    int rc = 0;
    if (strcmp(ns, LIFECYCLE_NS) == 0) {
        if (weft_policy_mgr_has(cfg->policy_mgr, LIFECYCLE_EP_PATH)) {
            e->ref = weft_strdup(LIFECYCLE_EP_PATH);
            return e->ref != NULL ? 0 : WEFT_ENOMEM;
        }
        uint8_t *env;
        size_t env_len;
        rc = lifecycle_majority(cfg, &env, &env_len);
        if (rc != 0) {
            return rc;
        }
        rc = weft_policy_new(WEFT_POLICY_SIGNATURE, env, env_len, false, &e->compiled, NULL);
        weft_free(env);
        return rc == WEFT_ENOMEM ? rc : 0;
    }
    /* namespaces/metadata/<ns> must hold a ChaincodeDefinition */
    char *key = weft_asprintf("namespaces/metadata/%s", ns);
    if (key == NULL) {
        return WEFT_ENOMEM;
    }
    uint8_t *val = NULL;
    size_t vl = 0;
    bool found = false;
    rc = weft_ledger_sim_get(f->qe, LIFECYCLE_NS, key, strlen(key), &val, &vl, &found, NULL,
                             f->err);
    weft_free(key);
    if (rc != 0) {
        return rc;
    }
    Lifecycle__StateMetadata *md =
        found ? lifecycle__state_metadata__unpack(PEER_PB, vl, val) : NULL;
    weft_free(val);
    bool defined = md != NULL && md->datatype != NULL &&
                   strcmp(md->datatype, "ChaincodeDefinition") == 0;
    if (md != NULL) {
        lifecycle__state_metadata__free_unpacked(md, PEER_PB);
    }
    if (!defined) {
        e->code = WEFT_TXC_INVALID_CHAINCODE;
        return 0;
    }
    key = weft_asprintf("namespaces/fields/%s/ValidationInfo", ns);
    if (key == NULL) {
        return WEFT_ENOMEM;
    }
    uint8_t *vi = NULL;
    size_t vi_len = 0;
    bool is_bytes = false;
    rc = lifecycle_bytes(f, key, &vi, &vi_len, &is_bytes);
    weft_free(key);
    if (rc < 0) {
        return rc;
    }
    Lifecycle__ChaincodeValidationInfo *info =
        rc == 1 && is_bytes ? lifecycle__chaincode_validation_info__unpack(PEER_PB, vi_len, vi)
                            : NULL;
    weft_free(vi);
    if (info == NULL || info->validation_plugin == NULL || info->validation_plugin[0] == '\0' ||
        info->validation_parameter.len == 0) {
        if (info != NULL) {
            lifecycle__chaincode_validation_info__free_unpacked(info, PEER_PB);
        }
        e->code = WEFT_TXC_INVALID_CHAINCODE;
        return 0;
    }
    if (strcmp(info->validation_plugin, "vscc") != 0) {
        rc = weft_err_set(f->err, WEFT_EUNSUPPORTED,
                          "chaincode %s: validation plugin '%s' is not available", ns,
                          info->validation_plugin);
        lifecycle__chaincode_validation_info__free_unpacked(info, PEER_PB);
        return rc;
    }
    e->app_policy = weft_memdup(info->validation_parameter.data, info->validation_parameter.len);
    e->app_policy_len = info->validation_parameter.len;
    lifecycle__chaincode_validation_info__free_unpacked(info, PEER_PB);
    if (e->app_policy == NULL) {
        return WEFT_ENOMEM;
    }
    int which;
    struct peer_bytes pv;
    if (peer__app_policy(e->app_policy, e->app_policy_len, &which, &pv) == 0) {
        if (which == 1) {
            if (weft_policy_new(WEFT_POLICY_SIGNATURE, pv.p, pv.len, false, &e->compiled, NULL) ==
                WEFT_ENOMEM) {
                return WEFT_ENOMEM;
            }
        } else if (which == 2) {
            e->ref = weft_strndup((const char *)pv.p, pv.len);
            if (e->ref == NULL) {
                return WEFT_ENOMEM;
            }
        }
    }
    /* collections, for collection-level endorsement policies */
    key = weft_asprintf("namespaces/fields/%s/Collections", ns);
    if (key == NULL) {
        return WEFT_ENOMEM;
    }
    rc = lifecycle_bytes(f, key, &e->collections, &e->collections_len, &is_bytes);
    weft_free(key);
    return rc < 0 ? rc : 0;
}

/* Evaluates a namespace's chaincode policy. 0 satisfied, WEFT_EPOLICY not. */
static int eval_cc(struct fin *f, const struct nsinfo *e, const struct weft_policy_idset *ids)
{
    if (e->compiled != NULL) {
        return weft_policy_evaluate_ids(e->compiled, ids, NULL) == 0 ? 0 : WEFT_EPOLICY;
    }
    if (e->ref != NULL) {
        return weft_policy_mgr_evaluate_ids(f->v->cfg->policy_mgr, e->ref, ids, NULL) == 0
                   ? 0
                   : WEFT_EPOLICY;
    }
    return WEFT_EPOLICY; /* unparsable or empty ApplicationPolicy */
}

/* Evaluates ser(ApplicationPolicy) (collection policies). */
static int eval_app_bytes(struct fin *f, const uint8_t *p, size_t len,
                          const struct weft_policy_idset *ids)
{
    int which;
    struct peer_bytes pv;
    if (peer__app_policy(p, len, &which, &pv) != 0) {
        return WEFT_EPOLICY;
    }
    if (which == 1) {
        struct weft_policy *pol;
        int rc = weft_policy_new(WEFT_POLICY_SIGNATURE, pv.p, pv.len, false, &pol, NULL);
        if (rc != 0) {
            return rc == WEFT_ENOMEM ? rc : WEFT_EPOLICY;
        }
        rc = weft_policy_evaluate_ids(pol, ids, NULL);
        weft_policy_free(pol);
        return rc == 0 ? 0 : WEFT_EPOLICY;
    }
    if (which == 2) {
        char *path = weft_strndup((const char *)pv.p, pv.len);
        if (path == NULL) {
            return WEFT_ENOMEM;
        }
        int rc = weft_policy_mgr_evaluate_ids(f->v->cfg->policy_mgr, path, ids, NULL);
        weft_free(path);
        return rc == 0 ? 0 : WEFT_EPOLICY;
    }
    return WEFT_EPOLICY;
}

/* Evaluates a SignaturePolicyEnvelope (key-level validation parameter). */
static int eval_envelope(const uint8_t *p, size_t len, const struct weft_policy_idset *ids)
{
    struct weft_policy *pol;
    int rc = weft_policy_new(WEFT_POLICY_SIGNATURE, p, len, false, &pol, NULL);
    if (rc != 0) {
        return rc == WEFT_ENOMEM ? rc : WEFT_EPOLICY;
    }
    rc = weft_policy_evaluate_ids(pol, ids, NULL);
    weft_policy_free(pol);
    return rc == 0 ? 0 : WEFT_EPOLICY;
}

/* Collection endorsement policy: 1 = evaluated (rc in *res), 0 = none (use
 * the chaincode policy). */
static int eval_collection(struct fin *f, const struct nsinfo *e, const char *coll,
                           const struct weft_policy_idset *ids, int *res)
{
    size_t pl = strlen(IMPLICIT_PREFIX);
    if (strncmp(coll, IMPLICIT_PREFIX, pl) == 0 && coll[pl] != '\0') {
        /* implicit org collection: signed by any member of that org */
        char *text = weft_asprintf("OR('%s.member')", coll + pl);
        uint8_t *env = NULL;
        size_t env_len = 0;
        if (text == NULL) {
            return WEFT_ENOMEM;
        }
        int rc = weft_policy_parse(text, &env, &env_len, NULL);
        weft_free(text);
        *res = rc == 0 ? eval_envelope(env, env_len, ids) : WEFT_EPOLICY;
        weft_free(env);
        return 1;
    }
    if (e->collections == NULL) {
        return 0;
    }
    Protos__CollectionConfigPackage *pkg =
        protos__collection_config_package__unpack(PEER_PB, e->collections_len, e->collections);
    if (pkg == NULL) {
        return 0;
    }
    int got = 0;
    for (size_t i = 0; i < pkg->n_config && got == 0; i++) {
        const Protos__CollectionConfig *c = pkg->config[i];
        if (c == NULL ||
            c->payload_case != PROTOS__COLLECTION_CONFIG__PAYLOAD_STATIC_COLLECTION_CONFIG ||
            c->static_collection_config == NULL ||
            strcmp(c->static_collection_config->name, coll) != 0) {
            continue;
        }
        const Protos__ApplicationPolicy *ap = c->static_collection_config->endorsement_policy;
        if (ap == NULL || ap->type_case == PROTOS__APPLICATION_POLICY__TYPE__NOT_SET) {
            break;
        }
        size_t n = protobuf_c_message_get_packed_size(&ap->base);
        uint8_t *buf = weft_malloc(n > 0 ? n : 1);
        if (buf == NULL) {
            protos__collection_config_package__free_unpacked(pkg, PEER_PB);
            return WEFT_ENOMEM;
        }
        protobuf_c_message_pack(&ap->base, buf);
        *res = eval_app_bytes(f, buf, n, ids);
        weft_free(buf);
        got = 1;
    }
    protos__collection_config_package__free_unpacked(pkg, PEER_PB);
    return got;
}

/* VALIDATION_PARAMETER of a public key from committed metadata. *vp owned. */
static int key_vp(struct fin *f, const char *ns, const struct peer_bytes *key, uint8_t **vp,
                  size_t *vp_len)
{
    uint8_t *meta = NULL;
    size_t ml = 0;
    *vp = NULL;
    *vp_len = 0;
    int rc = weft_ledger_sim_get_metadata(f->qe, ns, (const char *)key->p, key->len, &meta, &ml,
                                          f->err);
    if (rc != 0 || meta == NULL) {
        weft_free(meta);
        return rc;
    }
    /* ser(KVMetadataWrite{key = 1, entries = 2 {name = 1, value = 2}}) */
    struct peer_pb r = {meta, meta + ml};
    uint32_t fl, wt;
    uint64_t num;
    struct peer_bytes v;
    while (peer__pb_next(&r, &fl, &wt, &num, &v) == 1) {
        if (fl != 2 || wt != 2) {
            continue;
        }
        struct peer_pb er = {v.p, v.p + v.len};
        struct peer_bytes name = {NULL, 0}, value = {NULL, 0}, ev;
        uint32_t ef, ewt;
        while (peer__pb_next(&er, &ef, &ewt, &num, &ev) == 1) {
            if (ef == 1 && ewt == 2) {
                name = ev;
            } else if (ef == 2 && ewt == 2) {
                value = ev;
            }
        }
        if (name.len == strlen(VP_NAME) && memcmp(name.p, VP_NAME, name.len) == 0 &&
            value.len > 0) {
            *vp = weft_memdup(value.p, value.len);
            *vp_len = value.len;
            rc = *vp != NULL ? 0 : WEFT_ENOMEM;
        }
    }
    weft_free(meta);
    return rc;
}

static bool vp_updated(const struct fin *f, const char *ns, const char *coll,
                       const struct peer_bytes *key)
{
    for (size_t i = 0; i < f->n_vp; i++) {
        const struct vpkey *k = &f->vp[i];
        if (strcmp(k->ns, ns) == 0 && (k->coll == NULL) == (coll == NULL) &&
            (coll == NULL || strcmp(k->coll, coll) == 0) && k->key.len == key->len &&
            memcmp(k->key.p, key->p, key->len) == 0) {
            return true;
        }
    }
    return false;
}

static int vp_add(struct fin *f, const char *ns, const char *coll, const struct peer_bytes *key)
{
    if (f->n_vp == f->cap_vp) {
        size_t cap = f->cap_vp == 0 ? 16 : f->cap_vp * 2;
        struct vpkey *n = weft_realloc(f->vp, cap * sizeof(*n));
        if (n == NULL) {
            return WEFT_ENOMEM;
        }
        f->vp = n;
        f->cap_vp = cap;
    }
    f->vp[f->n_vp].ns = ns;
    f->vp[f->n_vp].coll = coll;
    f->vp[f->n_vp].key = *key;
    f->n_vp++;
    return 0;
}

/* One key of the key-level loop: 0 ok, WEFT_EPOLICY failed, < 0 error. */
static int check_key(struct fin *f, const struct nsinfo *e, const char *ns, const char *coll,
                     const struct peer_bytes *key, const struct weft_policy_idset *ids,
                     bool *cc_done, int *cc_res, bool *coll_done, int *coll_res)
{
    if (vp_updated(f, ns, coll, key)) {
        return WEFT_EPOLICY;
    }
    uint8_t *vp = NULL;
    size_t vp_len = 0;
    if (coll == NULL) {
        int rc = key_vp(f, ns, key, &vp, &vp_len);
        if (rc != 0) {
            return rc;
        }
    }
    /* hashed-state metadata is not readable through ledger_state.h yet:
     * collection keys use the collection / chaincode policy */
    if (vp != NULL) {
        int rc = eval_envelope(vp, vp_len, ids);
        weft_free(vp);
        return rc;
    }
    if (coll != NULL) {
        if (!*coll_done) {
            int res = 0;
            int got = eval_collection(f, e, coll, ids, &res);
            if (got < 0) {
                return got;
            }
            *coll_done = true;
            *coll_res = got == 1 ? res : 1; /* 1: fall back to the chaincode policy */
        }
        if (*coll_res != 1) {
            return *coll_res;
        }
    }
    if (!*cc_done) {
        *cc_res = eval_cc(f, e, ids);
        *cc_done = true;
    }
    return *cc_res;
}

/* The vscc plugin for one namespace of one tx. 0 valid, WEFT_EPOLICY, < 0. */
static int validate_ns(struct fin *f, struct vtx *t, const char *ns, const struct nsinfo *e)
{
    const struct peer_ns_keys *nk = NULL;
    for (size_t i = 0; i < t->n_nks; i++) {
        if (strcmp(t->nks[i].ns, ns) == 0) {
            nk = &t->nks[i];
        }
    }
    bool cc_done = false, any = false;
    int cc_res = 0;
    if (nk != NULL) {
        for (int pass = 0; pass < 2; pass++) {
            const struct peer_bytes *keys = pass == 0 ? nk->writes : nk->meta_writes;
            size_t n = pass == 0 ? nk->n_writes : nk->n_meta_writes;
            for (size_t k = 0; k < n; k++) {
                bool cd = false;
                int cr = 0;
                int rc = check_key(f, e, ns, NULL, &keys[k], t->ids, &cc_done, &cc_res, &cd, &cr);
                any = true;
                if (rc != 0) {
                    return rc;
                }
            }
        }
        for (size_t c = 0; c < nk->n_colls; c++) {
            const struct peer_coll_keys *ck = &nk->colls[c];
            bool coll_done = false;
            int coll_res = 0;
            for (int pass = 0; pass < 2; pass++) {
                const struct peer_bytes *keys = pass == 0 ? ck->writes : ck->meta_writes;
                size_t n = pass == 0 ? ck->n_writes : ck->n_meta_writes;
                for (size_t k = 0; k < n; k++) {
                    int rc = check_key(f, e, ns, ck->name, &keys[k], t->ids, &cc_done, &cc_res,
                                       &coll_done, &coll_res);
                    any = true;
                    if (rc != 0) {
                        return rc;
                    }
                }
            }
        }
    }
    if (!any) {
        return eval_cc(f, e, t->ids);
    }
    return 0;
}

/* Records the metadata writes of a tx that passed the policy for ns. */
static int note_vp_writes(struct fin *f, const struct vtx *t, const char *ns)
{
    for (size_t i = 0; i < t->n_nks; i++) {
        const struct peer_ns_keys *nk = &t->nks[i];
        if (strcmp(nk->ns, ns) != 0) {
            continue;
        }
        for (size_t k = 0; k < nk->n_meta_writes; k++) {
            if (vp_add(f, ns, NULL, &nk->meta_writes[k]) != 0) {
                return WEFT_ENOMEM;
            }
        }
        for (size_t c = 0; c < nk->n_colls; c++) {
            for (size_t k = 0; k < nk->colls[c].n_meta_writes; k++) {
                if (vp_add(f, ns, nk->colls[c].name, &nk->colls[c].meta_writes[k]) != 0) {
                    return WEFT_ENOMEM;
                }
            }
        }
    }
    return 0;
}

static int finish_endorser(struct fin *f, struct vtx *t)
{
    /* step 11: DUPLICATE_TXID against the ledger */
    struct weft_ledger_txloc loc;
    struct weft_err lerr = {0};
    int rc = weft_ledger_tx_by_id(f->v->ledger, t->chdr->tx_id, &loc, &lerr);
    if (rc == 0) {
        t->code = WEFT_TXC_DUPLICATE_TXID;
        return 0;
    }
    if (rc != WEFT_ENOTFOUND) {
        return weft_err_set(f->err, rc, "txid lookup: %s", lerr.msg);
    }
    if (t->dispatch_code != WEFT_TXC_VALID) {
        t->code = t->dispatch_code;
        return 0;
    }
    for (size_t i = 0; i < t->n_vns; i++) {
        struct nsinfo *e;
        rc = ns_info(f, t->vns[i], &e);
        if (rc != 0) {
            return rc == WEFT_ENOMEM ? weft_err_set(f->err, rc, "out of memory") : rc;
        }
        if (e->code != WEFT_TXC_VALID) {
            t->code = e->code;
            return 0;
        }
        rc = validate_ns(f, t, t->vns[i], e);
        if (rc == WEFT_EPOLICY) {
            t->code = WEFT_TXC_ENDORSEMENT_POLICY_FAILURE;
            return 0;
        }
        if (rc != 0) {
            return rc;
        }
        rc = note_vp_writes(f, t, t->vns[i]);
        if (rc != 0) {
            return rc;
        }
    }
    t->code = WEFT_TXC_VALID;
    return 0;
}

/* Applies a config transaction (step 13): the ConfigEnvelope must carry the
 * next sequence. Failure stops the block. */
static int apply_config(struct weft_validator *v, const struct vtx *t, struct weft_err *err)
{
    struct weft_channel_config *ncfg = NULL;
    int rc = weft_channel_config_from_envelope(t->payload->data.data, t->payload->data.len,
                                               v->channel_id, 0, &ncfg, err);
    if (rc != 0) {
        return weft_err_prefix(err, "config transaction");
    }
    if (ncfg->sequence != v->cfg->sequence + 1) {
        rc = weft_err_set(err, WEFT_ECONFIG,
                          "config transaction: sequence %llu does not follow %llu",
                          (unsigned long long)ncfg->sequence,
                          (unsigned long long)v->cfg->sequence);
        weft_channel_config_free(ncfg);
        return rc;
    }
    rc = cfg_push(v, ncfg);
    if (rc != 0) {
        weft_channel_config_free(ncfg);
        return weft_err_set(err, rc, "out of memory");
    }
    __atomic_fetch_add(&v->stats.config_updates, 1, __ATOMIC_RELAXED);
    return 0;
}

/* Marks DUPLICATE_TXID on every VALID endorser transaction whose id an
 * earlier VALID one of the block has (the first keeps VALID): one pass with
 * an open-addressing set of the ids seen. 0 or WEFT_ENOMEM. */
static int mark_dup_txids(struct weft_vblock *vb)
{
    size_t cap = 16;
    while (cap < 2 * vb->ntx) {
        cap *= 2;
    }
    const char **set = weft_calloc(cap, sizeof(*set));
    if (set == NULL) {
        return WEFT_ENOMEM;
    }
    for (size_t i = 0; i < vb->ntx; i++) {
        struct vtx *t = &vb->txs[i];
        if (t->code != WEFT_TXC_VALID || t->type != HDR_ENDORSER) {
            continue;
        }
        const char *id = t->chdr->tx_id != NULL ? t->chdr->tx_id : "";
        uint64_t h = 1469598103934665603u; /* FNV-1a */
        for (const char *c = id; *c != '\0'; c++) {
            h = (h ^ (uint8_t)*c) * 1099511628211u;
        }
        size_t k = (size_t)h & (cap - 1);
        while (set[k] != NULL && strcmp(set[k], id) != 0) {
            k = (k + 1) & (cap - 1);
        }
        if (set[k] != NULL) {
            t->code = WEFT_TXC_DUPLICATE_TXID;
        } else {
            set[k] = id;
        }
    }
    weft_free(set);
    return 0;
}

int weft_validator_finish(struct weft_validator *v, struct weft_vblock *vb, uint8_t *codes,
                          size_t ntx, struct weft_err *err)
{
    if (ntx != vb->ntx) {
        return weft_err_set(err, WEFT_EINVAL, "validator: %zu codes for %zu transactions", ntx,
                            vb->ntx);
    }
    uint64_t t0 = weft_clock_mono_ns();
    struct fin f = {.v = v, .err = err};
    int rc = 0;
    if (vb->number > 0) {
        rc = weft_ledger_qe_new(v->ledger, &f.qe, err);
        if (rc != 0) {
            return rc;
        }
    }
    for (size_t i = 0; i < vb->ntx && vb->number > 0; i++) {
        struct vtx *t = &vb->txs[i];
        if (t->code != WEFT_TXC_NOT_VALIDATED) {
            continue;
        }
        if (t->type == HDR_ENDORSER) {
            rc = finish_endorser(&f, t);
            if (rc != 0) {
                weft_err_prefix(err, "block %llu tx %zu", (unsigned long long)vb->number, i);
                goto cleanup;
            }
        } else if (t->type == HDR_CONFIG) {
            rc = apply_config(v, t, err);
            if (rc != 0) {
                weft_err_prefix(err, "block %llu tx %zu", (unsigned long long)vb->number, i);
                goto cleanup;
            }
            t->code = WEFT_TXC_VALID;
        } else {
            t->code = WEFT_TXC_UNKNOWN_TX_TYPE;
        }
    }
    /* a later VALID tx repeating an earlier VALID tx's id */
    rc = mark_dup_txids(vb);
    if (rc != 0) {
        weft_err_set(err, rc, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < vb->ntx; i++) {
        codes[i] = vb->txs[i].code;
    }
    weft_ledger_sim_free(f.qe);
    f.qe = NULL;
    if (vb->number > 0) {
        /* the read/write sets prepare decoded: VALID endorser transactions
         * have one (the same bytes the ledger would decode), others none */
        const Rwset__TxReadWriteSet **rws = weft_calloc(ntx + 1, sizeof(*rws));
        if (rws == NULL) {
            rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
            goto cleanup;
        }
        for (size_t i = 0; i < ntx; i++) {
            if (codes[i] == WEFT_TXC_VALID && vb->txs[i].type == HDR_ENDORSER) {
                rws[i] = vb->txs[i].rws;
            }
        }
        rc = weft_ledger_mvcc_validate(v->ledger, vb->number, rws, codes, ntx, err);
        weft_free(rws);
        if (rc != 0) {
            weft_err_prefix(err, "block %llu: MVCC", (unsigned long long)vb->number);
            goto cleanup;
        }
    }
    for (size_t i = 0; i < ntx; i++) {
        if (codes[i] == WEFT_TXC_NOT_VALIDATED) {
            rc = weft_err_set(err, WEFT_ESTATE, "block %llu tx %zu left unvalidated",
                              (unsigned long long)vb->number, i);
            goto cleanup;
        }
    }
    __atomic_fetch_add(&v->stats.blocks, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&v->stats.txs, ntx, __ATOMIC_RELAXED);
    __atomic_fetch_add(&v->stats.finish_ns, weft_clock_mono_ns() - t0, __ATOMIC_RELAXED);
cleanup:
    fin_clear(&f);
    return rc;
}

int weft_validator_validate(struct weft_validator *v, const struct Common__Block *blk,
                            uint8_t *codes, size_t ntx, struct weft_err *err)
{
    struct weft_vblock *vb;
    int rc = weft_validator_prepare(v, blk, &vb, err);
    if (rc != 0) {
        return rc;
    }
    rc = weft_validator_finish(v, vb, codes, ntx, err);
    weft_vblock_free(vb);
    return rc;
}

/* ---- orderer block verification ----------------------------------------------- */

static size_t der_len(size_t n, uint8_t *out)
{
    if (n < 128) {
        out[0] = (uint8_t)n;
        return 1;
    }
    size_t k = 0;
    for (size_t m = n; m > 0; m >>= 8) {
        k++;
    }
    out[0] = (uint8_t)(0x80u | k);
    for (size_t i = 0; i < k; i++) {
        out[1 + i] = (uint8_t)(n >> (8 * (k - 1 - i)));
    }
    return 1 + k;
}

size_t weft_block_header_der(uint64_t number, const uint8_t *prev, size_t prev_len,
                             const uint8_t *data_hash, size_t data_hash_len, uint8_t *out,
                             size_t cap)
{
    uint8_t num[10];
    size_t nl = 0;
    /* minimal two's complement of a non-negative value */
    uint8_t be[8];
    for (int i = 0; i < 8; i++) {
        be[i] = (uint8_t)(number >> (8 * (7 - i)));
    }
    size_t s = 0;
    while (s < 7 && be[s] == 0) {
        s++;
    }
    if (be[s] & 0x80u) {
        num[nl++] = 0;
    }
    memcpy(num + nl, be + s, 8 - s);
    nl += 8 - s;
    uint8_t l1[9], l2[9], l3[9], l0[9];
    size_t a = der_len(nl, l1), b = der_len(prev_len, l2), c = der_len(data_hash_len, l3);
    size_t body = 1 + a + nl + 1 + b + prev_len + 1 + c + data_hash_len;
    size_t d = der_len(body, l0);
    size_t total = 1 + d + body;
    if (total > cap) {
        return 0;
    }
    size_t o = 0;
    out[o++] = 0x30;
    memcpy(out + o, l0, d);
    o += d;
    out[o++] = 0x02;
    memcpy(out + o, l1, a);
    o += a;
    memcpy(out + o, num, nl);
    o += nl;
    out[o++] = 0x04;
    memcpy(out + o, l2, b);
    o += b;
    if (prev_len > 0) {
        memcpy(out + o, prev, prev_len);
    }
    o += prev_len;
    out[o++] = 0x04;
    memcpy(out + o, l3, c);
    o += c;
    if (data_hash_len > 0) {
        memcpy(out + o, data_hash, data_hash_len);
    }
    o += data_hash_len;
    return o;
}

int weft_validator_verify_block(struct weft_validator *v, const struct Common__Block *blk,
                                uint64_t expected_number, struct weft_err *err)
{
    if (blk == NULL || blk->header == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "block without header");
    }
    unsigned long long num = (unsigned long long)blk->header->number;
    if (blk->header->number != expected_number) {
        return weft_err_set(err, WEFT_EINVAL, "block %llu: expected block %llu", num,
                            (unsigned long long)expected_number);
    }
    if (blk->data == NULL || blk->metadata == NULL || blk->metadata->n_metadata < 1) {
        return weft_err_set(err, WEFT_EINVAL, "block %llu: missing data or metadata", num);
    }
    uint8_t dh[WEFT_LEDGER_HASH_LEN];
    weft_ledger_data_hash(blk->data->data, blk->data->n_data, dh);
    if (blk->header->data_hash.len != sizeof(dh) ||
        memcmp(blk->header->data_hash.data, dh, sizeof(dh)) != 0) {
        return weft_err_set(err, WEFT_EINVAL, "block %llu: data hash mismatch", num);
    }
    if (blk->data->n_data > 0) {
        int ok = 0;
        Common__Envelope *e = common__envelope__unpack(PEER_PB, blk->data->data[0].len,
                                                       blk->data->data[0].data);
        Common__Payload *p =
            e != NULL ? common__payload__unpack(PEER_PB, e->payload.len, e->payload.data) : NULL;
        Common__ChannelHeader *ch =
            p != NULL && p->header != NULL
                ? common__channel_header__unpack(PEER_PB, p->header->channel_header.len,
                                                 p->header->channel_header.data)
                : NULL;
        ok = ch != NULL && ch->channel_id != NULL && strcmp(ch->channel_id, v->channel_id) == 0;
        if (ch != NULL) {
            common__channel_header__free_unpacked(ch, PEER_PB);
        }
        if (p != NULL) {
            common__payload__free_unpacked(p, PEER_PB);
        }
        if (e != NULL) {
            common__envelope__free_unpacked(e, PEER_PB);
        }
        if (!ok) {
            return weft_err_set(err, WEFT_EINVAL, "block %llu: not a block of channel %s", num,
                                v->channel_id);
        }
    }
    const ProtobufCBinaryData *m0 = &blk->metadata->metadata[0];
    Common__Metadata *md = common__metadata__unpack(PEER_PB, m0->len, m0->data);
    if (md == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "block %llu: SIGNATURES metadata does not parse",
                            num);
    }
    size_t hcap = 32 + blk->header->previous_hash.len + blk->header->data_hash.len;
    uint8_t *hder = weft_malloc(hcap);
    struct weft_signed_data *sd = weft_calloc(md->n_signatures + 1, sizeof(*sd));
    uint8_t **bufs = weft_calloc(md->n_signatures + 1, sizeof(*bufs));
    int rc = 0;
    if (hder == NULL || sd == NULL || bufs == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto cleanup;
    }
    size_t hl = weft_block_header_der(blk->header->number, blk->header->previous_hash.data,
                                      blk->header->previous_hash.len, blk->header->data_hash.data,
                                      blk->header->data_hash.len, hder, hcap);
    size_t n = 0;
    for (size_t i = 0; i < md->n_signatures; i++) {
        const Common__MetadataSignature *ms = md->signatures[i];
        Common__SignatureHeader *sh =
            common__signature_header__unpack(PEER_PB, ms->signature_header.len,
                                             ms->signature_header.data);
        if (sh == NULL) {
            continue;
        }
        size_t dl = md->value.len + ms->signature_header.len + hl;
        bufs[n] = weft_malloc(dl > 0 ? dl : 1);
        /* the identity bytes must outlive sh: keep a copy after the data */
        uint8_t *idc = weft_memdup(sh->creator.data, sh->creator.len > 0 ? sh->creator.len : 1);
        if (bufs[n] == NULL || idc == NULL) {
            weft_free(idc);
            common__signature_header__free_unpacked(sh, PEER_PB);
            rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
            goto cleanup;
        }
        memcpy(bufs[n], md->value.data, md->value.len);
        memcpy(bufs[n] + md->value.len, ms->signature_header.data, ms->signature_header.len);
        memcpy(bufs[n] + md->value.len + ms->signature_header.len, hder, hl);
        sd[n].identity = idc;
        sd[n].identity_len = sh->creator.len;
        sd[n].data = bufs[n];
        sd[n].data_len = dl;
        sd[n].signature = ms->signature.data;
        sd[n].signature_len = ms->signature.len;
        common__signature_header__free_unpacked(sh, PEER_PB);
        n++;
    }
    struct weft_policy_idset *ids = NULL;
    rc = weft_policy_idset_new(v->cfg->msp_mgr, v->verifier, v->cache, sd, n, &ids);
    if (rc != 0) {
        weft_err_set(err, rc, "out of memory");
        goto cleanup;
    }
    struct weft_err perr = {0};
    rc = weft_policy_mgr_evaluate_ids(v->cfg->policy_mgr, "/Channel/Orderer/BlockValidation", ids,
                                      &perr);
    weft_policy_idset_free(ids);
    if (rc != 0) {
        rc = weft_err_set(err, WEFT_EPOLICY, "block %llu: orderer signatures: %s", num, perr.msg);
    }
cleanup:
    for (size_t i = 0; sd != NULL && bufs != NULL && i < md->n_signatures; i++) {
        weft_free(bufs[i]);
        weft_free((void *)(uintptr_t)sd[i].identity);
    }
    weft_free(bufs);
    weft_free(sd);
    weft_free(hder);
    common__metadata__free_unpacked(md, PEER_PB);
    return rc;
}
