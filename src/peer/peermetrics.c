/*
 * Ledger and validation metrics of a peer, named as Fabric's
 * (docs/committer.md "System chaincodes and channels"):
 *
 *   ledger_blockchain_height{channel}               gauge
 *   ledger_block_processing_time{channel}           histogram, seconds:
 *                                                   validation (finish) +
 *                                                   ledger commit of a block
 *   ledger_blockstorage_commit_time{channel}        histogram, seconds: the
 *                                                   block file append and
 *                                                   the LMDB commit (block
 *                                                   index, state, history
 *                                                   in one transaction)
 *   ledger_transaction_count{channel,transaction_type,chaincode,validation_code}
 *                                                   counter
 *   validation_phase_duration{channel,phase}        histogram, seconds
 *                                                   (weft): phase "prepare"
 *                                                   (signatures, parsing)
 *                                                   and "finish" (policies,
 *                                                   MVCC)
 *
 * Handles of the label-less families are looked up per block (a short
 * family mutex); the rest is atomic.
 */
#include <stdio.h>
#include <string.h>

#include "common/common.pb-c.h"
#include "cscc_int.h"
#include "peer/proposal.pb-c.h"
#include "weft/committer.h"
#include "weft/ops.h"

struct peer_metrics {
    struct weft_metrics_gauge_vec *height;
    struct weft_metrics_histogram_vec *processing;
    struct weft_metrics_histogram_vec *storage;
    struct weft_metrics_histogram_vec *phase;
    struct weft_metrics_counter_vec *txs;
};

struct peer_metrics *peer__metrics_new(struct weft_metrics *reg, struct weft_err *err)
{
    struct peer_metrics *m = weft_calloc(1, sizeof(*m));
    if (m == NULL) {
        weft_err_set(err, WEFT_ENOMEM, "out of memory");
        return NULL;
    }
    static const char *const ch[] = {"channel"};
    static const char *const phase[] = {"channel", "phase"};
    static const char *const tx[] = {"channel", "transaction_type", "chaincode", "validation_code"};
    struct weft_metrics_opts o = {.namespace_ = "ledger",
                                  .name = "blockchain_height",
                                  .help = "Height of the chain in blocks.",
                                  .label_names = ch,
                                  .n_labels = 1};
    m->height = weft_metrics_gauge_vec_new(reg, &o, err);
    o.name = "block_processing_time";
    o.help = "Time taken in seconds for ledger block processing.";
    m->processing = m->height != NULL ? weft_metrics_histogram_vec_new(reg, &o, err) : NULL;
    o.name = "blockstorage_commit_time";
    o.help = "Time taken in seconds for committing the block and its state updates to storage.";
    m->storage = m->processing != NULL ? weft_metrics_histogram_vec_new(reg, &o, err) : NULL;
    o.namespace_ = "validation";
    o.name = "phase_duration";
    o.help = "Time taken in seconds by each validation phase of a block.";
    o.label_names = phase;
    o.n_labels = 2;
    m->phase = m->storage != NULL ? weft_metrics_histogram_vec_new(reg, &o, err) : NULL;
    o.namespace_ = "ledger";
    o.name = "transaction_count";
    o.help = "Number of transactions processed.";
    o.label_names = tx;
    o.n_labels = 4;
    m->txs = m->phase != NULL ? weft_metrics_counter_vec_new(reg, &o, err) : NULL;
    if (m->txs == NULL) {
        weft_free(m);
        return NULL;
    }
    return m;
}

void peer__metrics_free(struct peer_metrics *m)
{
    weft_free(m);
}

void peer__metrics_height(struct peer_metrics *m, const char *channel, uint64_t height)
{
    const char *v[] = {channel};
    struct weft_metrics_gauge *g = weft_metrics_gauge_with(m->height, v);
    if (g != NULL) {
        weft_metrics_gauge_set(g, (double)height);
    }
}

static void observe(struct weft_metrics_histogram_vec *vec, const char *const *labels, uint64_t ns)
{
    struct weft_metrics_histogram *h = weft_metrics_histogram_with(vec, labels);
    if (h != NULL) {
        weft_metrics_histogram_observe(h, (double)ns / 1e9);
    }
}

/* Header type name and chaincode name of one envelope (best effort: a
 * malformed transaction is counted with empty labels). */
static void tx_labels(const ProtobufCBinaryData *env, char *type, size_t tcap, char *cc,
                      size_t ccap)
{
    snprintf(type, tcap, "UNKNOWN");
    cc[0] = 0;
    Common__Envelope *e = common__envelope__unpack(NULL, env->len, env->data);
    Common__Payload *pl =
        e != NULL ? common__payload__unpack(NULL, e->payload.len, e->payload.data) : NULL;
    Common__ChannelHeader *ch = NULL;
    if (pl != NULL && pl->header != NULL) {
        ch = common__channel_header__unpack(NULL, pl->header->channel_header.len,
                                            pl->header->channel_header.data);
    }
    if (ch != NULL) {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(&common__header_type__descriptor, ch->type);
        snprintf(type, tcap, "%s", ev != NULL ? ev->name : "UNKNOWN");
        if (ch->type == COMMON__HEADER_TYPE__ENDORSER_TRANSACTION) {
            Protos__ChaincodeHeaderExtension *x = protos__chaincode_header_extension__unpack(
                NULL, ch->extension.len, ch->extension.data);
            if (x != NULL && x->chaincode_id != NULL) {
                snprintf(cc, ccap, "%s", x->chaincode_id->name);
            }
            protos__chaincode_header_extension__free_unpacked(x, NULL);
        }
        common__channel_header__free_unpacked(ch, NULL);
    }
    common__payload__free_unpacked(pl, NULL);
    common__envelope__free_unpacked(e, NULL);
}

void peer__metrics_block(struct peer_metrics *m, const char *channel, uint64_t height,
                         const struct weft_validator_stats *d, const struct Common__Block *blk,
                         const uint8_t *codes, size_t ntx)
{
    const char *c1[] = {channel};
    peer__metrics_height(m, channel, height);
    observe(m->processing, c1, d->finish_ns + d->commit_ns);
    observe(m->storage, c1, d->commit_ns);
    const char *pp[] = {channel, "prepare"};
    observe(m->phase, pp, d->prepare_ns);
    const char *pf[] = {channel, "finish"};
    observe(m->phase, pf, d->finish_ns);
    for (size_t i = 0; blk != NULL && blk->data != NULL && i < ntx && i < blk->data->n_data; i++) {
        char type[64], cc[256];
        tx_labels(&blk->data->data[i], type, sizeof(type), cc, sizeof(cc));
        const char *v[] = {channel, type, cc, weft_tx_code_name(codes[i])};
        struct weft_metrics_counter *k = weft_metrics_counter_with(m->txs, v);
        if (k != NULL) {
            weft_metrics_counter_inc(k);
        }
    }
}
