/*
 * Block cutter: Fabric's batching rules for one channel, without I/O or
 * timers (the batch timeout is the caller's; it cuts on expiry).
 *
 * Rules (block-and-validation.md §5), applied per message of size
 * S = len(payload) + len(signature):
 *   S > PreferredMaxBytes       cut the pending batch if any, then the message
 *                               alone forms a batch;
 *   pending + S > Preferred     cut the pending batch, then start a new one
 *                               with the message;
 *   count >= MaxMessageCount    cut after adding.
 * AbsoluteMaxBytes is enforced earlier, by Broadcast admission.
 */
#include <string.h>

#include "orderer_int.h"

void orderer__batch_free(struct orderer_batch *b)
{
    if (b == NULL) {
        return;
    }
    for (size_t i = 0; i < b->n; i++) {
        weft_free(b->msgs[i].env);
        orderer__ticket_finish(b->msgs[i].ticket, ORDERER_UNAVAILABLE,
                               "the envelope was dropped before it was ordered (leadership "
                               "lost or channel closing)");
    }
    weft_free(b->msgs);
    b->msgs = NULL;
    b->n = 0;
}

void orderer__cutter_init(struct orderer_cutter *c, const struct orderer_batch_cfg *cfg)
{
    memset(c, 0, sizeof(*c));
    c->cfg = *cfg;
    if (c->cfg.max_message_count == 0) {
        c->cfg.max_message_count = 1;
    }
}

void orderer__cutter_close(struct orderer_cutter *c)
{
    struct orderer_batch b;
    orderer__cutter_cut(c, &b);
    orderer__batch_free(&b);
}

void orderer__cutter_cut(struct orderer_cutter *c, struct orderer_batch *out)
{
    out->msgs = c->pending;
    out->n = c->n_pending;
    c->pending = NULL;
    c->n_pending = 0;
    c->cap_pending = 0;
    c->pending_bytes = 0;
}

/* Makes room for one more pending message. */
static int reserve(struct orderer_cutter *c)
{
    if (c->n_pending < c->cap_pending) {
        return 0;
    }
    size_t cap = c->cap_pending == 0 ? 16 : c->cap_pending * 2;
    if (cap > c->cfg.max_message_count) {
        cap = c->cfg.max_message_count;
    }
    if (cap <= c->n_pending) {
        cap = c->n_pending + 1;
    }
    struct orderer_msg *p = weft_realloc(c->pending, cap * sizeof(*p));
    if (p == NULL) {
        return WEFT_ENOMEM;
    }
    c->pending = p;
    c->cap_pending = cap;
    return 0;
}

int orderer__cutter_ordered(struct orderer_cutter *c, struct orderer_msg *msg,
                            struct orderer_batch out[2], size_t *n_out, bool *pending)
{
    *n_out = 0;
    if (msg->size > c->cfg.preferred_max_bytes) {
        struct orderer_msg *alone = weft_malloc(sizeof(*alone));
        if (alone == NULL) {
            weft_free(msg->env);
            msg->env = NULL;
            orderer__ticket_finish(msg->ticket, ORDERER_UNAVAILABLE, "out of memory");
            msg->ticket = NULL;
            return WEFT_ENOMEM;
        }
        *alone = *msg;
        msg->env = NULL;
        msg->ticket = NULL;
        if (c->n_pending > 0) {
            orderer__cutter_cut(c, &out[(*n_out)++]);
        }
        out[*n_out].msgs = alone;
        out[*n_out].n = 1;
        (*n_out)++;
        *pending = false;
        return 0;
    }
    /* Cutting first may leave the new batch without room; reserve after. */
    bool overflow = c->pending_bytes + msg->size > c->cfg.preferred_max_bytes;
    struct orderer_batch first = {0};
    if (overflow && c->n_pending > 0) {
        orderer__cutter_cut(c, &first);
    }
    if (reserve(c) != 0) {
        if (first.n > 0) {
            /* put the cut batch back: nothing changes on failure */
            c->pending = first.msgs;
            c->n_pending = c->cap_pending = first.n;
            for (size_t i = 0; i < first.n; i++) {
                c->pending_bytes += first.msgs[i].size;
            }
        }
        weft_free(msg->env);
        msg->env = NULL;
        orderer__ticket_finish(msg->ticket, ORDERER_UNAVAILABLE, "out of memory");
        msg->ticket = NULL;
        return WEFT_ENOMEM;
    }
    if (first.n > 0) {
        out[(*n_out)++] = first;
    }
    c->pending[c->n_pending++] = *msg;
    c->pending_bytes += msg->size;
    msg->env = NULL;
    msg->ticket = NULL;
    *pending = true;
    if (c->n_pending >= c->cfg.max_message_count) {
        orderer__cutter_cut(c, &out[(*n_out)++]);
        *pending = false;
    }
    return 0;
}
