/*
 * Chaincode support: the registry of chaincode stream handlers, launch on
 * first use, and transaction execution over the shim protocol (spec
 * chaincode.md §2-§5).
 *
 * DESIGN
 * One handler per connected chaincode (keyed by package ID). Every shim
 * message goes through handle_message(), on the thread that received it and
 * in arrival order: the first must be REGISTER; state requests (each a
 * short LMDB read or a buffered simulator write) are answered right there;
 * COMPLETED/ERROR settles the transaction, whose completion callback runs
 * right there (weft_cc_support_execute_async; the synchronous execute waits
 * for that callback); the stream's end, a send failure or the timer thread
 * (execute timeout, a deadline-ordered queue) settle it otherwise;
 * INVOKE_CHAINCODE runs on the support's pool because it waits for another
 * chaincode (possibly behind this very stream). Nothing in that path waits
 * for another thread. Messages are read in place (a field reader, no
 * protobuf-c decode) and the buffer the rpc layer hands over is kept, not
 * copied, as the final message or an INVOKE_CHAINCODE job.
 *
 * Two kinds of stream carry it:
 * - Register (the chaincode dials the peer) is an event-driven rpc stream
 *   (weft_rpc_server_add_stream_cb): no thread per chaincode; open creates
 *   the handler, each message is handled on the rpc completion-queue
 *   thread, end marks it dead. Sends go straight to the call
 *   (weft_rpc_call_send_owned: thread-safe, never blocks, no copy; receipt
 *   pauses by itself while replies back up). The peer ends such a stream
 *   (refused REGISTER, malformed message, stop) with weft_rpc_call_finish
 *   after pausing receipt.
 * - Streams given to weft_cc_support_serve_stream (CCaaS: the peer dials
 *   the chaincode server, ccaas_thread in launch.c; tests and benchmarks)
 *   are read by the calling thread with ops->recv; sends take the handler's
 *   send_mu (one sender at a time).
 *
 * Locking: s->mu guards the handler list, each handler's transaction list,
 * reference counts and flags; s->cv is broadcast on every change. s->launch_mu
 * serialises launches, so a package is started once even when many
 * proposals arrive together. No lock is held across a blocking send or a
 * wait on the ledger, except launch_mu across the launch itself; the rpc
 * calls made under s->mu (pause, finish) never block or run a callback.
 *
 * Lifetimes: an executing transaction and a queued INVOKE_CHAINCODE job each
 * hold a reference on the handler. A thread-read handler is freed by its
 * reader once the stream ended and the references dropped to zero. An
 * event-driven handler is listed from open on (so stopping the support ends
 * it even before REGISTER) and is over once `end` was delivered and no
 * reference is left: whoever sees that last (end, or the last reference
 * dropped) unlinks it, calls weft_rpc_call_done (nothing sends on the call
 * afterwards) and frees it. A transaction's busy count keeps it alive while
 * one of its requests is being served.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cc_internal.h"
#include "cc_support.h"
#include "peer/chaincode.pb-c.h"
#include "peer/chaincode_event.pb-c.h"
#include "peer/chaincode_shim.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "weft/crypto.h"
#include "weft/ledger_state.h"
#include "weft/log.h"
#include "weft/rpc.h"

WEFT_LOGGER(lg_cc, "chaincode");

#define MAX_RESULTS_PER_BATCH 100

static const char *type_name(int t)
{
    switch (t) {
    case PROTOS__CHAINCODE_MESSAGE__TYPE__GET_STATE: return "GET_STATE";
    case PROTOS__CHAINCODE_MESSAGE__TYPE__PUT_STATE: return "PUT_STATE";
    case PROTOS__CHAINCODE_MESSAGE__TYPE__DEL_STATE: return "DEL_STATE";
    case PROTOS__CHAINCODE_MESSAGE__TYPE__INVOKE_CHAINCODE: return "INVOKE_CHAINCODE";
    case PROTOS__CHAINCODE_MESSAGE__TYPE__GET_STATE_BY_RANGE: return "GET_STATE_BY_RANGE";
    case PROTOS__CHAINCODE_MESSAGE__TYPE__GET_QUERY_RESULT: return "GET_QUERY_RESULT";
    case PROTOS__CHAINCODE_MESSAGE__TYPE__QUERY_STATE_NEXT: return "QUERY_STATE_NEXT";
    case PROTOS__CHAINCODE_MESSAGE__TYPE__QUERY_STATE_CLOSE: return "QUERY_STATE_CLOSE";
    case PROTOS__CHAINCODE_MESSAGE__TYPE__GET_HISTORY_FOR_KEY: return "GET_HISTORY_FOR_KEY";
    case PROTOS__CHAINCODE_MESSAGE__TYPE__GET_STATE_METADATA: return "GET_STATE_METADATA";
    case PROTOS__CHAINCODE_MESSAGE__TYPE__PUT_STATE_METADATA: return "PUT_STATE_METADATA";
    case PROTOS__CHAINCODE_MESSAGE__TYPE__GET_PRIVATE_DATA_HASH: return "GET_PRIVATE_DATA_HASH";
    case PROTOS__CHAINCODE_MESSAGE__TYPE__PURGE_PRIVATE_DATA: return "PURGE_PRIVATE_DATA";
    default: return "UNKNOWN";
    }
}

/* Copy of n bytes (p may be NULL when n is 0); never NULL unless out of memory. */
static uint8_t *memdup0(const void *p, size_t n)
{
    uint8_t *d = weft_malloc(n > 0 ? n : 1);
    if (d != NULL && n > 0) {
        memcpy(d, p, n);
    }
    return d;
}

/* ---- minimal protobuf field reader ------------------------------------------
 * Request keys are proto `string`s that carry U+0000 (composite keys), which
 * protobuf-c's NUL-terminated strings would cut short; so request payloads
 * are read field by field with explicit lengths. */

struct pbf {
    const uint8_t *p;
    size_t len;
    uint64_t v; /* varint value */
    unsigned wt; /* wire type */
    bool set;
};

static int read_varint(const uint8_t *b, size_t len, size_t *off, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*off >= len) {
            return WEFT_EPARSE;
        }
        uint8_t c = b[(*off)++];
        v |= (uint64_t)(c & 0x7f) << shift;
        if ((c & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return WEFT_EPARSE;
}

/* Fills f[1..nf-1] from the top-level fields of buf (last occurrence wins). */
static int pb_fields(const uint8_t *buf, size_t len, struct pbf *f, size_t nf)
{
    memset(f, 0, nf * sizeof(*f));
    size_t off = 0;
    while (off < len) {
        uint64_t tag, v;
        if (read_varint(buf, len, &off, &tag) != 0) {
            return WEFT_EPARSE;
        }
        uint64_t fn = tag >> 3;
        unsigned wt = (unsigned)(tag & 7);
        const uint8_t *p = NULL;
        size_t l = 0;
        v = 0;
        switch (wt) {
        case 0:
            if (read_varint(buf, len, &off, &v) != 0) {
                return WEFT_EPARSE;
            }
            break;
        case 1:
            if (len - off < 8) {
                return WEFT_EPARSE;
            }
            off += 8;
            break;
        case 2:
            if (read_varint(buf, len, &off, &v) != 0 || v > len - off) {
                return WEFT_EPARSE;
            }
            p = buf + off;
            l = (size_t)v;
            off += l;
            break;
        case 5:
            if (len - off < 4) {
                return WEFT_EPARSE;
            }
            off += 4;
            break;
        default:
            return WEFT_EPARSE;
        }
        if (fn > 0 && fn < nf) {
            f[fn].p = p;
            f[fn].len = l;
            f[fn].v = v;
            f[fn].wt = wt;
            f[fn].set = true;
        }
    }
    return 0;
}

/* Copy of a string field as a NUL-terminated weft_malloc string (embedded
 * NULs kept; use the length). */
static char *pbf_str(const struct pbf *f)
{
    char *s = weft_malloc(f->len + 1);
    if (s != NULL) {
        if (f->len > 0) {
            memcpy(s, f->p, f->len);
        }
        s[f->len] = 0;
    }
    return s;
}

/* ---- sending ---------------------------------------------------------------- */

/* Sends m, followed by the length-delimited field number `extra_fn` holding
 * the bytes extra (a serialized sub-message; none when extra_fn is 0). */
static int handler_send_ext(struct cc_handler *h, Protos__ChaincodeMessage *m, unsigned extra_fn,
                            const uint8_t *extra, size_t extra_len)
{
    size_t n = protobuf_c_message_get_packed_size(&m->base);
    uint8_t hdr[16];
    size_t hl = 0;
    if (extra_fn != 0) {
        hdr[hl++] = (uint8_t)(extra_fn << 3 | 2);
        uint64_t x = extra_len;
        do {
            hdr[hl++] = (uint8_t)((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
            x >>= 7;
        } while (x != 0);
    } else {
        extra_len = 0;
    }
    size_t total = n + hl + extra_len;
    uint8_t *buf = weft_malloc(total > 0 ? total : 1);
    if (buf == NULL) {
        return WEFT_ENOMEM;
    }
    protobuf_c_message_pack(&m->base, buf);
    if (hl > 0) {
        memcpy(buf + n, hdr, hl);
        if (extra_len > 0) {
            memcpy(buf + n + hl, extra, extra_len);
        }
    }
    if (h->call != NULL) {
        /* event-driven call: sends are thread-safe, never block, and take
         * the buffer as it is */
        return weft_rpc_call_send_owned(h->call, buf, total);
    }
    pthread_mutex_lock(&h->send_mu);
    int rc = h->ops->send(h->stream, buf, total);
    pthread_mutex_unlock(&h->send_mu);
    weft_free(buf);
    return rc;
}

static int handler_send(struct cc_handler *h, Protos__ChaincodeMessage *m)
{
    return handler_send_ext(h, m, 0, NULL, 0);
}

static int send_simple(struct cc_handler *h, Protos__ChaincodeMessage__Type type,
                       const char *txid, const char *channel, const void *payload, size_t len)
{
    Protos__ChaincodeMessage m = PROTOS__CHAINCODE_MESSAGE__INIT;
    m.type = type;
    m.txid = (char *)(txid != NULL ? txid : "");
    m.channel_id = (char *)(channel != NULL ? channel : "");
    m.payload.data = (uint8_t *)(uintptr_t)payload;
    m.payload.len = len;
    return handler_send(h, &m);
}

static void send_error(struct cc_handler *h, int type, const char *txid, const char *channel,
                       const char *cause)
{
    char msg[WEFT_ERR_MSG_LEN + 128];
    snprintf(msg, sizeof(msg), "%s failed: transaction ID: %s: %s", type_name(type), txid,
             cause);
    WEFT_DEBUG(lg_cc, "[%.8s] %s", txid, msg);
    (void)send_simple(h, PROTOS__CHAINCODE_MESSAGE__TYPE__ERROR, txid, channel, msg,
                      strlen(msg));
}

/* ---- transactions and iterators ------------------------------------------------ */

static void iter_free(struct cc_iter *it)
{
    weft_ledger_range_free(it->rit);
    weft_ledger_hist_free(it->hit);
    weft_free(it->pending);
    weft_free(it);
}

static bool str_eq(const char *a, const char *b, size_t blen)
{
    return strlen(a) == blen && memcmp(a, b, blen) == 0;
}

static struct cc_tx *tx_find(struct cc_handler *h, const char *channel, size_t channel_len,
                             const char *txid, size_t txid_len)
{
    for (struct cc_tx *t = h->txs; t != NULL; t = t->next) {
        if (str_eq(t->inv->txid, txid, txid_len) && str_eq(t->inv->channel, channel, channel_len)) {
            return t;
        }
    }
    return NULL;
}

static void new_uuid(char out[37])
{
    uint8_t r[16];
    if (weft_crypto_random(r, sizeof(r)) != 0) {
        uint64_t t = weft_clock_mono_ns();
        memcpy(r, &t, sizeof(t));
        memcpy(r + 8, &t, sizeof(t));
    }
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
             r[13], r[14], r[15]);
}

/* Reads the next batch of it into a serialized QueryResponse. Closes and
 * unlinks the iterator when it is exhausted (caller passes the tx). */
static int iter_batch(struct weft_cc_support *s, struct cc_tx *tx, struct cc_iter *it,
                      uint8_t **out, size_t *out_len, struct weft_err *err)
{
    Protos__QueryResultBytes items[MAX_RESULTS_PER_BATCH];
    Protos__QueryResultBytes *ptrs[MAX_RESULTS_PER_BATCH];
    uint8_t *bufs[MAX_RESULTS_PER_BATCH];
    size_t n = 0;
    bool has_more = false, exhausted = false;
    int rc = 0;
    uint64_t limit = s->opts.total_query_limit;
    size_t batch_max = it->paged ? SIZE_MAX : MAX_RESULTS_PER_BATCH;
    struct weft_buf all; /* paginated pages may exceed one batch */
    weft_buf_init(&all, SIZE_MAX / 2);
    uint8_t **pbufs = bufs;
    size_t pcap = MAX_RESULTS_PER_BATCH;
    Protos__QueryResultBytes *pitems = items;
    Protos__QueryResultBytes **pptrs = ptrs;

    if (it->pending != NULL) {
        bufs[0] = it->pending;
        protos__query_result_bytes__init(&items[0]);
        items[0].resultbytes.data = it->pending;
        items[0].resultbytes.len = it->pending_len;
        ptrs[0] = &items[0];
        it->pending = NULL;
        n = 1;
    }
    for (;;) {
        if (it->total >= limit) {
            exhausted = true;
            break;
        }
        uint8_t *rb = NULL;
        size_t rl = 0;
        int r;
        if (it->rit != NULL) {
            struct weft_ledger_kv kv;
            r = weft_ledger_range_next(it->rit, &kv, err);
            if (r == 1) {
                rc = weft_ledger_kv_pack(&kv, &rb, &rl);
            }
        } else {
            struct weft_ledger_key_mod km;
            r = weft_ledger_hist_next(it->hit, &km, err);
            if (r == 1) {
                rc = weft_ledger_key_mod_pack(&km, &rb, &rl);
            }
        }
        if (r < 0) {
            rc = r;
            break;
        }
        if (r == 0) {
            exhausted = true;
            break;
        }
        if (rc != 0) {
            break;
        }
        it->total++;
        if (n == batch_max) {
            it->pending = rb;
            it->pending_len = rl;
            has_more = true;
            break;
        }
        if (n == pcap) {
            /* only paginated queries grow past one batch */
            size_t ncap = pcap * 2;
            uint8_t **nb = weft_malloc(ncap * sizeof(*nb));
            Protos__QueryResultBytes *ni = weft_malloc(ncap * sizeof(*ni));
            Protos__QueryResultBytes **np = weft_malloc(ncap * sizeof(*np));
            if (nb == NULL || ni == NULL || np == NULL) {
                weft_free(nb);
                weft_free(ni);
                weft_free(np);
                weft_free(rb);
                rc = WEFT_ENOMEM;
                break;
            }
            memcpy(nb, pbufs, n * sizeof(*nb));
            memcpy(ni, pitems, n * sizeof(*ni));
            for (size_t i = 0; i < n; i++) {
                np[i] = &ni[i];
            }
            if (pbufs != bufs) {
                weft_free(pbufs);
                weft_free(pitems);
                weft_free(pptrs);
            }
            pbufs = nb;
            pitems = ni;
            pptrs = np;
            pcap = ncap;
        }
        pbufs[n] = rb;
        protos__query_result_bytes__init(&pitems[n]);
        pitems[n].resultbytes.data = rb;
        pitems[n].resultbytes.len = rl;
        pptrs[n] = &pitems[n];
        n++;
    }
    Protos__QueryResponse qr = PROTOS__QUERY_RESPONSE__INIT;
    Protos__QueryResponseMetadata md = PROTOS__QUERY_RESPONSE_METADATA__INIT;
    uint8_t *mdbuf = NULL;
    char *bookmark = NULL;
    if (rc == 0) {
        qr.n_results = n;
        qr.results = pptrs;
        qr.has_more = has_more;
        qr.id = it->id;
        if (it->paged) {
            int32_t fetched = 0;
            size_t bl = 0;
            rc = weft_ledger_range_page_meta(it->rit, &fetched, &bookmark, &bl, err);
            if (rc == 0) {
                md.fetched_records_count = fetched;
                md.bookmark = bookmark;
                size_t ml = protobuf_c_message_get_packed_size(&md.base);
                mdbuf = weft_malloc(ml > 0 ? ml : 1);
                if (mdbuf == NULL) {
                    rc = WEFT_ENOMEM;
                } else {
                    protobuf_c_message_pack(&md.base, mdbuf);
                    qr.metadata.data = mdbuf;
                    qr.metadata.len = ml;
                }
            }
        }
    }
    if (rc == 0) {
        size_t ql = protobuf_c_message_get_packed_size(&qr.base);
        *out = weft_malloc(ql > 0 ? ql : 1);
        if (*out == NULL) {
            rc = WEFT_ENOMEM;
        } else {
            protobuf_c_message_pack(&qr.base, *out);
            *out_len = ql;
        }
    }
    for (size_t i = 0; i < n; i++) {
        weft_free(pbufs[i]);
    }
    if (pbufs != bufs) {
        weft_free(pbufs);
        weft_free(pitems);
        weft_free(pptrs);
    }
    weft_free(mdbuf);
    weft_free(bookmark);
    weft_buf_close(&all);
    if (rc == 0 && (exhausted || it->paged || !has_more)) {
        /* unlink and close: the peer closes an exhausted iterator */
        for (struct cc_iter **pp = &tx->iters; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == it) {
                *pp = it->next;
                break;
            }
        }
        iter_free(it);
    }
    if (rc != 0 && (err == NULL || err->code == 0)) {
        weft_err_set(err, rc, "%s", weft_strerror(rc));
    }
    return rc;
}

static int tx_add_iter(struct cc_tx *tx, struct cc_iter **out)
{
    struct cc_iter *it = weft_calloc(1, sizeof(*it));
    if (it == NULL) {
        return WEFT_ENOMEM;
    }
    new_uuid(it->id);
    it->next = tx->iters;
    tx->iters = it;
    *out = it;
    return 0;
}

static void tx_drop_iter(struct cc_tx *tx, struct cc_iter *it)
{
    for (struct cc_iter **pp = &tx->iters; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == it) {
            *pp = it->next;
            iter_free(it);
            return;
        }
    }
}

/* ---- request handlers --------------------------------------------------------- */

/* A key field as the simulator takes it (pointer and length, embedded NULs
 * kept): read in place, never NULL. */
static const char *pbf_key(const struct pbf *f)
{
    return f->p != NULL ? (const char *)f->p : "";
}

/* Handles one state request of tx; fills the RESPONSE payload, either resp
 * or, for GET_STATE, *val (weft_malloc'd, handed over as it is), or err. */
static int handle_request(struct weft_cc_support *s, struct cc_tx *tx, int type,
                          const uint8_t *pl, size_t plen, struct weft_buf *resp, uint8_t **val,
                          size_t *val_len, struct weft_err *err)
{
    struct weft_ledger_sim *sim = tx->inv->sim;
    const char *ns = tx->ns;
    struct pbf f[5];
    int rc = 0;
    if (sim == NULL) {
        return weft_err_set(err, WEFT_ESTATE, "no ledger context");
    }
    switch (type) {
    case PROTOS__CHAINCODE_MESSAGE__TYPE__GET_STATE:
    case PROTOS__CHAINCODE_MESSAGE__TYPE__DEL_STATE:
    case PROTOS__CHAINCODE_MESSAGE__TYPE__GET_STATE_METADATA:
    case PROTOS__CHAINCODE_MESSAGE__TYPE__GET_PRIVATE_DATA_HASH:
    case PROTOS__CHAINCODE_MESSAGE__TYPE__PURGE_PRIVATE_DATA: {
        if (pb_fields(pl, plen, f, 3) != 0) {
            return weft_err_set(err, WEFT_EPARSE, "unmarshal failed");
        }
        if (f[2].len > 0 || type == PROTOS__CHAINCODE_MESSAGE__TYPE__GET_PRIVATE_DATA_HASH ||
            type == PROTOS__CHAINCODE_MESSAGE__TYPE__PURGE_PRIVATE_DATA) {
            return weft_err_set(err, WEFT_EUNSUPPORTED, "private data is not supported yet");
        }
        const char *key = pbf_key(&f[1]);
        if (type == PROTOS__CHAINCODE_MESSAGE__TYPE__GET_STATE) {
            bool found = false;
            rc = weft_ledger_sim_get(sim, ns, key, f[1].len, val, val_len, &found, NULL, err);
            if (rc != 0) {
                weft_free(*val);
                *val = NULL;
                *val_len = 0;
            }
        } else if (type == PROTOS__CHAINCODE_MESSAGE__TYPE__DEL_STATE) {
            rc = weft_ledger_sim_del(sim, ns, key, f[1].len, err);
        } else {
            uint8_t *meta = NULL;
            size_t ml = 0;
            rc = weft_ledger_sim_get_metadata(sim, ns, key, f[1].len, &meta, &ml, err);
            if (rc == 0 && meta != NULL) {
                /* KVMetadataWrite{entries(2): {name(1), value(2)}} ->
                 * StateMetadataResult{entries(1): {metakey(1), value(2)}} */
                size_t off = 0;
                while (rc == 0 && off < ml) {
                    uint64_t tag, l;
                    if (read_varint(meta, ml, &off, &tag) != 0 || (tag & 7) != 2 ||
                        read_varint(meta, ml, &off, &l) != 0 || l > ml - off) {
                        rc = weft_err_set(err, WEFT_ECORRUPT, "bad stored metadata");
                        break;
                    }
                    if ((tag >> 3) == 2) {
                        uint8_t hdr[11];
                        size_t hl = 0;
                        hdr[hl++] = 0x0a;
                        uint64_t x = l;
                        do {
                            hdr[hl++] = (uint8_t)((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
                            x >>= 7;
                        } while (x != 0);
                        rc = weft_buf_append(resp, hdr, hl);
                        if (rc == 0) {
                            rc = weft_buf_append(resp, meta + off, (size_t)l);
                        }
                    }
                    off += (size_t)l;
                }
            }
            weft_free(meta);
        }
        return rc;
    }
    case PROTOS__CHAINCODE_MESSAGE__TYPE__PUT_STATE: {
        if (pb_fields(pl, plen, f, 4) != 0) {
            return weft_err_set(err, WEFT_EPARSE, "unmarshal failed");
        }
        if (f[3].len > 0) {
            return weft_err_set(err, WEFT_EUNSUPPORTED, "private data is not supported yet");
        }
        return weft_ledger_sim_put(sim, ns, pbf_key(&f[1]), f[1].len, f[2].p, f[2].len, err);
    }
    case PROTOS__CHAINCODE_MESSAGE__TYPE__PUT_STATE_METADATA: {
        struct pbf m[3];
        if (pb_fields(pl, plen, f, 4) != 0 || pb_fields(f[3].p, f[3].len, m, 3) != 0) {
            return weft_err_set(err, WEFT_EPARSE, "unmarshal failed");
        }
        if (f[2].len > 0) {
            return weft_err_set(err, WEFT_EUNSUPPORTED, "private data is not supported yet");
        }
        char *key = pbf_str(&f[1]);
        char *mk = pbf_str(&m[1]);
        if (key == NULL || mk == NULL) {
            rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        } else {
            rc = weft_ledger_sim_put_metadata(sim, ns, key, f[1].len, mk, m[2].p, m[2].len, err);
        }
        weft_free(key);
        weft_free(mk);
        return rc;
    }
    case PROTOS__CHAINCODE_MESSAGE__TYPE__GET_STATE_BY_RANGE: {
        if (pb_fields(pl, plen, f, 5) != 0) {
            return weft_err_set(err, WEFT_EPARSE, "unmarshal failed");
        }
        if (f[3].len > 0) {
            return weft_err_set(err, WEFT_EUNSUPPORTED, "private data is not supported yet");
        }
        int32_t page_size = 0;
        const uint8_t *bm = NULL;
        size_t bml = 0;
        if (f[4].len > 0) {
            struct pbf q[3];
            if (pb_fields(f[4].p, f[4].len, q, 3) != 0) {
                return weft_err_set(err, WEFT_EPARSE, "unmarshal QueryMetadata failed");
            }
            page_size = (int32_t)q[1].v;
            bm = q[2].p;
            bml = q[2].len;
        }
        bool paged = page_size != 0 || bml > 0;
        struct cc_iter *it = NULL;
        char *start = pbf_str(&f[1]), *end = pbf_str(&f[2]), *bmk = NULL;
        if (start == NULL || end == NULL || tx_add_iter(tx, &it) != 0) {
            rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        } else if (paged) {
            struct pbf bf = {.p = bm, .len = bml};
            bmk = pbf_str(&bf);
            rc = bmk == NULL ? WEFT_ENOMEM
                             : weft_ledger_sim_range_paged(sim, ns, start, f[1].len, end,
                                                           f[2].len, page_size, bmk, bml, 0,
                                                           &it->rit, err);
            it->paged = true;
        } else {
            rc = weft_ledger_sim_range(sim, ns, start, f[1].len, end, f[2].len, 0, &it->rit,
                                       err);
        }
        weft_free(start);
        weft_free(end);
        weft_free(bmk);
        if (rc == 0) {
            uint8_t *qr = NULL;
            size_t ql = 0;
            rc = iter_batch(s, tx, it, &qr, &ql, err);
            if (rc == 0) {
                rc = weft_buf_append(resp, qr, ql);
            }
            weft_free(qr);
        } else if (it != NULL) {
            tx_drop_iter(tx, it);
        }
        return rc;
    }
    case PROTOS__CHAINCODE_MESSAGE__TYPE__GET_HISTORY_FOR_KEY: {
        if (pb_fields(pl, plen, f, 2) != 0) {
            return weft_err_set(err, WEFT_EPARSE, "unmarshal failed");
        }
        struct cc_iter *it = NULL;
        char *key = pbf_str(&f[1]);
        if (key == NULL || tx_add_iter(tx, &it) != 0) {
            rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        } else {
            rc = weft_ledger_sim_history(sim, ns, key, f[1].len, true, &it->hit, err);
        }
        weft_free(key);
        if (rc == 0) {
            uint8_t *qr = NULL;
            size_t ql = 0;
            rc = iter_batch(s, tx, it, &qr, &ql, err);
            if (rc == 0) {
                rc = weft_buf_append(resp, qr, ql);
            }
            weft_free(qr);
        } else if (it != NULL) {
            tx_drop_iter(tx, it);
        }
        return rc;
    }
    case PROTOS__CHAINCODE_MESSAGE__TYPE__QUERY_STATE_NEXT:
    case PROTOS__CHAINCODE_MESSAGE__TYPE__QUERY_STATE_CLOSE: {
        if (pb_fields(pl, plen, f, 2) != 0) {
            return weft_err_set(err, WEFT_EPARSE, "unmarshal failed");
        }
        struct cc_iter *it = tx->iters;
        while (it != NULL && (strlen(it->id) != f[1].len || memcmp(it->id, f[1].p, f[1].len))) {
            it = it->next;
        }
        if (type == PROTOS__CHAINCODE_MESSAGE__TYPE__QUERY_STATE_CLOSE) {
            Protos__QueryResponse qr = PROTOS__QUERY_RESPONSE__INIT;
            char id[64];
            snprintf(id, sizeof(id), "%.*s", (int)(f[1].len < 63 ? f[1].len : 63),
                     f[1].p != NULL ? (const char *)f[1].p : "");
            qr.id = id;
            if (it != NULL) {
                tx_drop_iter(tx, it);
            }
            uint8_t tmp[128];
            size_t ql = protobuf_c_message_pack(&qr.base, tmp);
            return weft_buf_append(resp, tmp, ql);
        }
        if (it == NULL) {
            return weft_err_set(err, WEFT_ENOTFOUND, "query iterator not found");
        }
        uint8_t *qr = NULL;
        size_t ql = 0;
        rc = iter_batch(s, tx, it, &qr, &ql, err);
        if (rc == 0) {
            rc = weft_buf_append(resp, qr, ql);
        }
        weft_free(qr);
        return rc;
    }
    case PROTOS__CHAINCODE_MESSAGE__TYPE__GET_QUERY_RESULT:
        return weft_err_set(err, WEFT_EUNSUPPORTED, "rich queries are not enabled on this peer");
    default:
        return weft_err_set(err, WEFT_EINVAL, "unexpected message type");
    }
}

/* ---- INVOKE_CHAINCODE ----------------------------------------------------------- */

struct c2c_job {
    struct weft_cc_support *s;
    struct cc_handler *h;
    struct cc_tx *tx;
    uint8_t *raw; /* the INVOKE_CHAINCODE message; payload points into it */
    const uint8_t *payload;
    size_t len;
};

static int c2c_invoke(struct weft_cc_support *s, struct cc_tx *tx, const uint8_t *pl, size_t plen,
                      uint8_t **out, size_t *out_len, struct weft_err *err)
{
    Protos__ChaincodeSpec *spec = protos__chaincode_spec__unpack(NULL, plen, pl);
    if (spec == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "unmarshal ChaincodeSpec failed");
    }
    char name[256], *ccid = NULL, *version = NULL;
    uint8_t *input = NULL;
    int rc = 0;
    const char *full = spec->chaincode_id != NULL ? spec->chaincode_id->name : "";
    snprintf(name, sizeof(name), "%s", full);
    char *slash = strchr(name, '/');
    if (slash != NULL) {
        *slash = 0;
        if (strcmp(slash + 1, tx->inv->channel) != 0) {
            rc = weft_err_set(err, WEFT_EUNSUPPORTED,
                              "calling chaincode on another channel (%s) is not supported yet",
                              slash + 1);
            goto out;
        }
    }
    char *colon = strchr(name, ':');
    if (colon != NULL) {
        *colon = 0;
    }
    if (s->opts.resolve == NULL) {
        rc = weft_err_set(err, WEFT_EUNSUPPORTED, "chaincode-to-chaincode calls are disabled");
        goto out;
    }
    rc = s->opts.resolve(s->opts.resolve_ctx, tx->inv->channel, name, &ccid, &version, err);
    if (rc != 0) {
        goto out;
    }
    Protos__ChaincodeInput empty = PROTOS__CHAINCODE_INPUT__INIT;
    const ProtobufCMessage *in = spec->input != NULL ? &spec->input->base : &empty.base;
    size_t il = protobuf_c_message_get_packed_size(in);
    input = weft_malloc(il > 0 ? il : 1);
    if (input == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto out;
    }
    protobuf_c_message_pack(in, input);
    struct weft_cc_invocation inv = *tx->inv;
    inv.ccid = ccid;
    inv.ns = name;
    inv.input = input;
    inv.input_len = il;
    inv.is_init = false;
    rc = cc__execute(s, &inv, out, out_len, err);
out:
    weft_free(ccid);
    weft_free(version);
    weft_free(input);
    protos__chaincode_spec__free_unpacked(spec, NULL);
    return rc;
}

/* ---- handler life cycle ----------------------------------------------------------- */

static void handler_free(struct cc_handler *h)
{
    pthread_mutex_destroy(&h->send_mu);
    weft_free(h->ccid);
    weft_free(h);
}

static void handler_unlink_locked(struct weft_cc_support *s, struct cc_handler *h)
{
    if (!h->listed) {
        return;
    }
    for (struct cc_handler **pp = &s->handlers; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == h) {
            *pp = h->next;
            break;
        }
    }
    h->listed = false;
    pthread_cond_broadcast(&s->cv);
}

/* Event-driven handlers: true when h is over (its stream ended and no
 * reference is left); h is then unlinked and the caller hands it to
 * handler_release() after unlocking. s->mu held. */
static bool handler_over_locked(struct weft_cc_support *s, struct cc_handler *h)
{
    if (h->call == NULL || !h->ended || h->refs > 0) {
        return false;
    }
    handler_unlink_locked(s, h);
    return true;
}

static void handler_release(struct cc_handler *h)
{
    weft_rpc_call_done(h->call);
    handler_free(h);
}

/* Drops a reference (s->mu held); true when the caller is to
 * handler_release(h) after unlocking. */
static bool handler_unref_locked(struct weft_cc_support *s, struct cc_handler *h)
{
    h->refs--;
    pthread_cond_broadcast(&s->cv);
    return handler_over_locked(s, h);
}

/* ---- transaction settlement --------------------------------------------------------- */

/* Takes tx off the timeout queue. s->mu held. */
static void tq_remove_locked(struct weft_cc_support *s, struct cc_tx *tx)
{
    if (!tx->queued) {
        return;
    }
    if (tx->tq_prev != NULL) {
        tx->tq_prev->tq_next = tx->tq_next;
    } else {
        s->tq_head = tx->tq_next;
    }
    if (tx->tq_next != NULL) {
        tx->tq_next->tq_prev = tx->tq_prev;
    } else {
        s->tq_tail = tx->tq_prev;
    }
    tx->tq_prev = tx->tq_next = NULL;
    tx->queued = false;
}

/* Queues tx by its deadline (searched from the tail: the timeout is the
 * same for all, so it goes last); wakes the timer when it becomes first.
 * s->mu held. */
static void tq_insert_locked(struct weft_cc_support *s, struct cc_tx *tx)
{
    struct cc_tx *after = s->tq_tail;
    while (after != NULL && after->deadline_ns > tx->deadline_ns) {
        after = after->tq_prev;
    }
    tx->tq_prev = after;
    tx->tq_next = after != NULL ? after->tq_next : s->tq_head;
    if (tx->tq_next != NULL) {
        tx->tq_next->tq_prev = tx;
    } else {
        s->tq_tail = tx;
    }
    if (after != NULL) {
        after->tq_next = tx;
    } else {
        s->tq_head = tx;
        pthread_cond_signal(&s->timer_cv);
    }
    tx->queued = true;
}

/* Settles tx with its outcome (the first one wins: rc 0 with tx->final set
 * by the caller, or an error with msg). True when it is to be completed now
 * (no request of it is being served). s->mu held. */
static bool tx_settle_locked(struct weft_cc_support *s, struct cc_tx *tx, int rc, const char *msg)
{
    if (tx->done) {
        return false;
    }
    tx->done = true; /* late messages for this tx are refused */
    tx->rc = rc;
    if (rc != 0) {
        weft_err_set(&tx->err, rc, "%s", msg);
    }
    tq_remove_locked(s, tx);
    return tx->busy == 0;
}

/* A settled transaction with busy 0: unlinked from its handler, whose
 * reference it drops, and queued on s->fin for its callback (fin_flush
 * after unlocking). With check_over, true when the handler is over (the
 * caller hands it to handler_release after unlocking). s->mu held. */
static bool tx_complete_locked(struct weft_cc_support *s, struct cc_tx *tx, bool check_over)
{
    struct cc_handler *h = tx->h;
    for (struct cc_tx **pp = &h->txs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == tx) {
            *pp = tx->next;
            break;
        }
    }
    tx->next = s->fin;
    s->fin = tx;
    h->refs--;
    pthread_cond_broadcast(&s->cv);
    return check_over && handler_over_locked(s, h);
}

/* Runs the callbacks of completed transactions and frees them. Called
 * without s->mu by every thread that may have completed one. */
static void fin_flush(struct weft_cc_support *s)
{
    pthread_mutex_lock(&s->mu);
    struct cc_tx *l = s->fin;
    s->fin = NULL;
    pthread_mutex_unlock(&s->mu);
    while (l != NULL) {
        struct cc_tx *tx = l;
        l = tx->next;
        while (tx->iters != NULL) {
            struct cc_iter *it = tx->iters;
            tx->iters = it->next;
            iter_free(it);
        }
        if (tx->rc != 0) {
            weft_free(tx->final);
            tx->fin(tx->fin_ctx, tx->rc, NULL, 0, &tx->err);
        } else {
            tx->fin(tx->fin_ctx, 0, tx->final, tx->final_len, &tx->err);
        }
        weft_free(tx);
    }
}

/* The stream is gone for h's transactions: they fail at once ("chaincode
 * stream terminated"); those not busy are completed (their callbacks wait
 * on s->fin: the caller runs fin_flush after unlocking). Never makes h over
 * by itself: the callers that can end h check. s->mu held. */
static void handler_dead_locked(struct weft_cc_support *s, struct cc_handler *h)
{
    h->dead = true;
    struct cc_tx *nx;
    for (struct cc_tx *t = h->txs; t != NULL; t = nx) {
        nx = t->next;
        if (tx_settle_locked(s, t, WEFT_EUNAVAILABLE, "chaincode stream terminated")) {
            (void)tx_complete_locked(s, t, false);
        }
    }
    pthread_cond_broadcast(&s->cv);
}

/* Event-driven handlers: the peer ends the stream (status code, msg) and
 * reads no further; `end` follows. s->mu held (the rpc calls used never run
 * a stream callback). */
static void handler_close_locked(struct weft_cc_support *s, struct cc_handler *h, int code,
                                 const char *msg)
{
    if (h->call == NULL || h->closed) {
        return;
    }
    h->closed = true;
    weft_rpc_call_pause_recv(h->call);
    (void)weft_rpc_call_finish(h->call, code, msg);
    handler_dead_locked(s, h);
}

/* Stops h's stream (support stop or free). s->mu held. */
static void handler_cancel_locked(struct weft_cc_support *s, struct cc_handler *h)
{
    if (h->call != NULL) {
        handler_close_locked(s, h, WEFT_RPC_UNAVAILABLE, "chaincode stopped by the peer");
    } else if (h->ops->cancel != NULL) {
        h->ops->cancel(h->stream);
    }
}

/* A request of tx was served (busy--): completes tx if it was settled
 * meanwhile. s->mu held; see tx_complete_locked for the result. */
static bool tx_unbusy_locked(struct weft_cc_support *s, struct cc_tx *tx, bool check_over)
{
    tx->busy--;
    return tx->done && tx->busy == 0 && tx_complete_locked(s, tx, check_over);
}

/* An INVOKE_CHAINCODE job is over: its busy count and handler reference. */
static void tx_release(struct weft_cc_support *s, struct cc_handler *h, struct cc_tx *tx)
{
    pthread_mutex_lock(&s->mu);
    (void)tx_unbusy_locked(s, tx, false);
    bool over = handler_unref_locked(s, h);
    pthread_mutex_unlock(&s->mu);
    if (over) {
        handler_release(h);
    }
    fin_flush(s);
}

static void c2c_run(void *arg)
{
    struct c2c_job *j = arg;
    struct weft_err e = {0};
    uint8_t *msg = NULL;
    size_t ml = 0;
    const char *txid = j->tx->inv->txid, *ch = j->tx->inv->channel;
    int rc = c2c_invoke(j->s, j->tx, j->payload, j->len, &msg, &ml, &e);
    if (rc == 0) {
        (void)send_simple(j->h, PROTOS__CHAINCODE_MESSAGE__TYPE__RESPONSE, txid, ch, msg, ml);
    } else {
        send_error(j->h, PROTOS__CHAINCODE_MESSAGE__TYPE__INVOKE_CHAINCODE, txid, ch, e.msg);
    }
    weft_free(msg);
    tx_release(j->s, j->h, j->tx);
    weft_free(j->raw);
    weft_free(j);
}

/* ---- message handling ------------------------------------------------------------ */

/* The fields of a ChaincodeMessage the peer acts on, read in place (no
 * copy): type (1), payload (3), txid (4), channel_id (7). The final
 * COMPLETED/ERROR message is kept whole and decoded by the executing
 * thread. */
struct cc_msg {
    int type;
    const uint8_t *payload;
    size_t payload_len;
    const char *txid;
    size_t txid_len;
    const char *channel;
    size_t channel_len;
};

static int msg_parse(const uint8_t *raw, size_t len, struct cc_msg *m)
{
    struct pbf f[8];
    if (pb_fields(raw, len, f, 8) != 0 || (f[1].set && f[1].wt != 0) ||
        (f[3].set && f[3].wt != 2) || (f[4].set && f[4].wt != 2) || (f[7].set && f[7].wt != 2)) {
        return WEFT_EPARSE;
    }
    m->type = f[1].v <= INT32_MAX ? (int)f[1].v : -1;
    m->payload = f[3].p != NULL ? f[3].p : (const uint8_t *)"";
    m->payload_len = f[3].len;
    m->txid = pbf_key(&f[4]);
    m->txid_len = f[4].len;
    m->channel = pbf_key(&f[7]);
    m->channel_len = f[7].len;
    return 0;
}

static bool handled_type(int t)
{
    return t == PROTOS__CHAINCODE_MESSAGE__TYPE__COMPLETED ||
           t == PROTOS__CHAINCODE_MESSAGE__TYPE__ERROR ||
           (t >= PROTOS__CHAINCODE_MESSAGE__TYPE__GET_STATE &&
            t <= PROTOS__CHAINCODE_MESSAGE__TYPE__INVOKE_CHAINCODE) ||
           (t >= PROTOS__CHAINCODE_MESSAGE__TYPE__GET_STATE_BY_RANGE &&
            t <= PROTOS__CHAINCODE_MESSAGE__TYPE__QUERY_STATE_CLOSE) ||
           (t >= PROTOS__CHAINCODE_MESSAGE__TYPE__GET_HISTORY_FOR_KEY &&
            t <= PROTOS__CHAINCODE_MESSAGE__TYPE__PURGE_PRIVATE_DATA);
}

/* A request for no live transaction: ERROR back, with the message's own
 * txid and channel. */
static void refuse_request(struct cc_handler *h, const struct cc_msg *m, const char *cause)
{
    struct pbf tf = {.p = (const uint8_t *)m->txid, .len = m->txid_len};
    struct pbf cf = {.p = (const uint8_t *)m->channel, .len = m->channel_len};
    char *txid = pbf_str(&tf), *ch = pbf_str(&cf);
    if (txid != NULL && ch != NULL) {
        send_error(h, m->type, txid, ch, cause);
    }
    weft_free(txid);
    weft_free(ch);
}

/* One shim message of a registered stream; takes raw (m points into it). */
static void dispatch(struct weft_cc_support *s, struct cc_handler *h, const struct cc_msg *m,
                     uint8_t *raw, size_t raw_len)
{
    pthread_mutex_lock(&s->mu);
    struct cc_tx *tx = tx_find(h, m->channel, m->channel_len, m->txid, m->txid_len);
    if (m->type == PROTOS__CHAINCODE_MESSAGE__TYPE__COMPLETED ||
        m->type == PROTOS__CHAINCODE_MESSAGE__TYPE__ERROR) {
        bool over = false;
        if (tx != NULL && !tx->done) {
            tx->final = raw; /* handed over whole: decoded by the callback */
            tx->final_len = raw_len;
            raw = NULL;
            if (tx_settle_locked(s, tx, 0, NULL)) {
                over = tx_complete_locked(s, tx, true);
            }
        }
        pthread_mutex_unlock(&s->mu);
        if (over) {
            handler_release(h);
        }
        weft_free(raw);
        fin_flush(s); /* the transaction's callback runs here */
        return;
    }
    if (tx == NULL || tx->done) {
        pthread_mutex_unlock(&s->mu);
        refuse_request(h, m, "no ledger context");
        weft_free(raw);
        return;
    }
    tx->busy++; /* keeps tx (and its invocation's strings) alive */
    const char *txid = tx->inv->txid, *ch = tx->inv->channel;
    if (m->type == PROTOS__CHAINCODE_MESSAGE__TYPE__INVOKE_CHAINCODE) {
        h->refs++;
        pthread_mutex_unlock(&s->mu);
        struct c2c_job *j = weft_calloc(1, sizeof(*j));
        if (j != NULL) {
            j->s = s;
            j->h = h;
            j->tx = tx;
            j->raw = raw;
            j->payload = m->payload;
            j->len = m->payload_len;
            raw = NULL;
        }
        if (j == NULL || weft_pool_submit(s->pool, c2c_run, j) != 0) {
            if (j != NULL) {
                raw = j->raw;
            }
            weft_free(j);
            send_error(h, m->type, txid, ch, "out of memory");
            tx_release(s, h, tx);
            weft_free(raw);
        }
        return;
    }
    pthread_mutex_unlock(&s->mu);
    struct weft_buf resp;
    weft_buf_init(&resp, WEFT_RPC_DEFAULT_MAX_MSG);
    uint8_t *val = NULL;
    size_t vl = 0;
    struct weft_err e = {0};
    int rc = handle_request(s, tx, m->type, m->payload, m->payload_len, &resp, &val, &vl, &e);
    if (rc == 0) {
        (void)send_simple(h, PROTOS__CHAINCODE_MESSAGE__TYPE__RESPONSE, txid, ch,
                          val != NULL ? val : resp.data, val != NULL ? vl : resp.len);
    } else {
        if (e.msg[0] == 0) {
            snprintf(e.msg, sizeof(e.msg), "%s", weft_strerror(rc));
        }
        send_error(h, m->type, txid, ch, e.msg);
    }
    weft_free(val);
    weft_buf_close(&resp);
    pthread_mutex_lock(&s->mu);
    bool over = tx_unbusy_locked(s, tx, true);
    pthread_mutex_unlock(&s->mu);
    if (over) {
        handler_release(h);
    }
    weft_free(raw);
    fin_flush(s);
}

static bool expected_locked(struct weft_cc_support *s, const char *ccid)
{
    for (size_t i = 0; i < s->n_expect; i++) {
        if (strcmp(s->expect[i], ccid) == 0) {
            return true;
        }
    }
    return false;
}

static struct cc_handler *find_handler_locked(struct weft_cc_support *s, const char *ccid)
{
    for (struct cc_handler *h = s->handlers; h != NULL; h = h->next) {
        if (!h->dead && h->ccid != NULL && strcmp(h->ccid, ccid) == 0) {
            return h;
        }
    }
    return NULL;
}

static void refuse(struct cc_handler *h, const char *msg)
{
    if (h->ops->refuse != NULL) {
        h->ops->refuse(h->stream, msg);
    }
}

/* The first message of a stream: REGISTER. Accepts h under the package ID it
 * names (it becomes ready once REGISTERED and READY are sent). Returns 0, or
 * an error when the stream is to be closed (refused already if it was a
 * refusal). */
static int handle_register(struct weft_cc_support *s, struct cc_handler *h, const struct cc_msg *m)
{
    Protos__ChaincodeID *cid = NULL;
    if (m->type != PROTOS__CHAINCODE_MESSAGE__TYPE__REGISTER ||
        (cid = protos__chaincode_id__unpack(NULL, m->payload_len, m->payload)) == NULL ||
        cid->name[0] == 0) {
        WEFT_WARN(lg_cc, "chaincode stream: first message is not a valid REGISTER (type %d)",
                  m->type);
        protos__chaincode_id__free_unpacked(cid, NULL);
        return WEFT_EPARSE;
    }
    if (s->opts.tlsca != NULL && h->ops->peer_cert_hash != NULL) {
        /* the client certificate must be the one issued for this name */
        uint8_t ch[32];
        struct weft_err te = {0};
        bool has = h->ops->peer_cert_hash(h->stream, ch) == 0;
        if (weft_cc_tlsca_check(s->opts.tlsca, has ? ch : NULL, cid->name, &te) != 0) {
            WEFT_WARN(lg_cc, "chaincode REGISTER refused: %s", te.msg);
            refuse(h, te.msg);
            protos__chaincode_id__free_unpacked(cid, NULL);
            return WEFT_EPERM;
        }
    }
    char *ccid = weft_strdup(cid->name);
    protos__chaincode_id__free_unpacked(cid, NULL);
    if (ccid == NULL) {
        return WEFT_ENOMEM;
    }
    pthread_mutex_lock(&s->mu);
    if (!expected_locked(s, ccid) || find_handler_locked(s, ccid) != NULL || s->closing) {
        pthread_mutex_unlock(&s->mu);
        WEFT_WARN(lg_cc, "peer will not accept external chaincode connection %s", ccid);
        weft_free(ccid);
        refuse(h, "peer will not accept external chaincode connection");
        return WEFT_EPERM;
    }
    h->ccid = ccid;
    if (!h->listed) {
        h->next = s->handlers;
        s->handlers = h;
        h->listed = true;
    }
    pthread_mutex_unlock(&s->mu);

    int rc = send_simple(h, PROTOS__CHAINCODE_MESSAGE__TYPE__REGISTERED, "", "", NULL, 0);
    if (rc == 0) {
        rc = send_simple(h, PROTOS__CHAINCODE_MESSAGE__TYPE__READY, "", "", NULL, 0);
    }
    pthread_mutex_lock(&s->mu);
    h->ready = rc == 0;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    WEFT_INFO(lg_cc, "chaincode %s registered", h->ccid);
    return rc;
}

/* The one way a shim message is handled, for both kinds of stream, on the
 * thread that received it (an rpc completion-queue thread for the
 * event-driven Register stream, the reader thread of a stream given to
 * weft_cc_support_serve_stream), in arrival order: REGISTER first; state
 * requests answered here; COMPLETED/ERROR handed to the transaction's
 * executing thread; INVOKE_CHAINCODE to the pool. Never waits for another
 * thread. Takes raw. Returns 0 to read on, or an error: the stream is to be
 * closed. */
static int handle_message(struct weft_cc_support *s, struct cc_handler *h, uint8_t *raw,
                          size_t len)
{
    struct cc_msg m;
    if (msg_parse(raw, len, &m) != 0) {
        WEFT_WARN(lg_cc, "chaincode %s: malformed message, closing stream",
                  h->ccid != NULL ? h->ccid : "(not registered)");
        weft_free(raw);
        return WEFT_EPARSE;
    }
    if (h->ccid == NULL) {
        int rc = handle_register(s, h, &m);
        weft_free(raw);
        return rc;
    }
    if (m.type == PROTOS__CHAINCODE_MESSAGE__TYPE__KEEPALIVE) {
        weft_free(raw); /* ignored */
        return 0;
    }
    if (!handled_type(m.type)) {
        WEFT_WARN(lg_cc, "chaincode %s: unexpected message type %d, closing stream", h->ccid,
                  m.type);
        weft_free(raw);
        return WEFT_EPARSE;
    }
    dispatch(s, h, &m, raw, len);
    return 0;
}

/* ---- streams read by a thread ----------------------------------------------------- */

void weft_cc_support_serve_stream(struct weft_cc_support *s, const struct weft_cc_stream_ops *ops,
                                  void *stream)
{
    struct cc_handler *h = weft_calloc(1, sizeof(*h));
    if (h == NULL) {
        WEFT_WARN(lg_cc, "chaincode stream: out of memory");
        return;
    }
    h->s = s;
    h->ops = ops;
    h->stream = stream;
    pthread_mutex_init(&h->send_mu, NULL);
    uint8_t *raw = NULL;
    size_t len = 0;
    int rc = ops->recv(stream, &raw, &len, s->opts.startup_timeout_ms);
    if (rc != 0 || raw == NULL) {
        WEFT_WARN(lg_cc, "chaincode stream ended before REGISTER: %s",
                  rc != 0 ? weft_strerror(rc) : "closed");
        handler_free(h);
        return;
    }
    rc = handle_message(s, h, raw, len);
    while (rc == 0) {
        raw = NULL;
        rc = ops->recv(stream, &raw, &len, -1);
        if (rc != 0 || raw == NULL) {
            break;
        }
        rc = handle_message(s, h, raw, len);
    }
    if (h->ccid != NULL) {
        WEFT_INFO(lg_cc, "chaincode %s stream terminated", h->ccid);
    }
    pthread_mutex_lock(&s->mu);
    handler_dead_locked(s, h);
    pthread_mutex_unlock(&s->mu);
    fin_flush(s);
    pthread_mutex_lock(&s->mu);
    while (h->refs > 0) {
        pthread_cond_wait(&s->cv, &s->mu);
    }
    handler_unlink_locked(s, h);
    pthread_mutex_unlock(&s->mu);
    handler_free(h);
}

/* ---- execution ------------------------------------------------------------------ */

static void deadline_ts(uint64_t ms_from_now, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    uint64_t ns = (uint64_t)ts->tv_nsec + (ms_from_now % 1000) * 1000000u;
    ts->tv_sec += (time_t)(ms_from_now / 1000 + ns / 1000000000u);
    ts->tv_nsec = (long)(ns % 1000000000u);
}

int cc__expect(struct weft_cc_support *s, const char *ccid, bool on)
{
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (on) {
        char **nv = weft_realloc(s->expect, (s->n_expect + 1) * sizeof(*nv));
        char *c = weft_strdup(ccid);
        if (nv == NULL || c == NULL) {
            weft_free(c);
            if (nv != NULL) {
                s->expect = nv;
            }
            rc = WEFT_ENOMEM;
        } else {
            s->expect = nv;
            s->expect[s->n_expect++] = c;
        }
    } else {
        for (size_t i = 0; i < s->n_expect; i++) {
            if (strcmp(s->expect[i], ccid) == 0) {
                weft_free(s->expect[i]);
                s->expect[i] = s->expect[--s->n_expect];
                break;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Waits (s->mu held) for a ready handler for ccid until deadline or until
 * the launch reports failure through *failed. */
static struct cc_handler *wait_ready_locked(struct weft_cc_support *s, const char *ccid,
                                            const struct timespec *dl)
{
    for (;;) {
        struct cc_handler *h = find_handler_locked(s, ccid);
        if (h != NULL && h->ready) {
            return h;
        }
        if (pthread_cond_timedwait(&s->cv, &s->mu, dl) == ETIMEDOUT) {
            h = find_handler_locked(s, ccid);
            return h != NULL && h->ready ? h : NULL;
        }
    }
}

/* Gets a ready handler for ccid with a reference, launching if needed. */
static int get_handler(struct weft_cc_support *s, const char *ccid, struct cc_handler **out,
                       struct weft_err *err)
{
    pthread_mutex_lock(&s->mu);
    struct cc_handler *h = find_handler_locked(s, ccid);
    if (h != NULL && h->ready) {
        h->refs++;
        pthread_mutex_unlock(&s->mu);
        *out = h;
        return 0;
    }
    pthread_mutex_unlock(&s->mu);

    pthread_mutex_lock(&s->launch_mu);
    pthread_mutex_lock(&s->mu);
    h = find_handler_locked(s, ccid);
    if (h != NULL) {
        struct timespec dl;
        deadline_ts(1000, &dl);
        h = wait_ready_locked(s, ccid, &dl);
    }
    if (h != NULL) {
        h->refs++;
        pthread_mutex_unlock(&s->mu);
        pthread_mutex_unlock(&s->launch_mu);
        *out = h;
        return 0;
    }
    pthread_mutex_unlock(&s->mu);
    int rc = cc__expect(s, ccid, true);
    if (rc != 0) {
        pthread_mutex_unlock(&s->launch_mu);
        return weft_err_set(err, rc, "out of memory");
    }
    struct cc_proc *proc = NULL;
    rc = cc__launch(s, ccid, &proc, err);
    if (rc == 0) {
        uint64_t start = weft_clock_mono_ns();
        uint64_t limit = (uint64_t)s->opts.startup_timeout_ms * 1000000u;
        pthread_mutex_lock(&s->mu);
        for (;;) {
            struct timespec dl;
            deadline_ts(100, &dl);
            h = wait_ready_locked(s, ccid, &dl);
            if (h != NULL) {
                h->refs++;
                break;
            }
            pthread_mutex_unlock(&s->mu);
            if (proc != NULL && cc__proc_exited(s, proc, err)) {
                rc = WEFT_EUNAVAILABLE;
            } else if (weft_clock_mono_ns() - start > limit) {
                rc = weft_err_set(err, WEFT_ETIMEDOUT,
                                  "timeout expired while starting chaincode %s", ccid);
                cc__proc_log_tail(proc, err);
            }
            pthread_mutex_lock(&s->mu);
            if (rc != 0) {
                break;
            }
        }
        pthread_mutex_unlock(&s->mu);
        if (rc != 0 && proc != NULL) {
            cc__proc_stop(s, proc);
        }
    }
    (void)cc__expect(s, ccid, false);
    pthread_mutex_unlock(&s->launch_mu);
    if (rc != 0) {
        return weft_err_prefix(err, "could not launch chaincode %s", ccid);
    }
    *out = h;
    return 0;
}

int cc__start(struct weft_cc_support *s, struct cc_handler *h,
              const struct weft_cc_invocation *inv, cc_fin_fn fin, void *ctx,
              struct weft_err *err)
{
    struct cc_tx *tx = weft_calloc(1, sizeof(*tx));
    pthread_mutex_lock(&s->mu);
    if (tx == NULL ||
        tx_find(h, inv->channel, strlen(inv->channel), inv->txid, strlen(inv->txid)) != NULL) {
        bool over = handler_unref_locked(s, h);
        pthread_mutex_unlock(&s->mu);
        if (over) {
            handler_release(h);
        }
        if (tx == NULL) {
            return weft_err_set(err, WEFT_ENOMEM, "out of memory");
        }
        weft_free(tx);
        return weft_err_set(err, WEFT_ESTATE, "txid: %s(%s) exists", inv->txid, inv->channel);
    }
    tx->inv = inv;
    tx->ns = inv->ns;
    tx->h = h;
    tx->fin = fin;
    tx->fin_ctx = ctx;
    tx->next = h->txs;
    h->txs = tx;
    /* busy while it is being sent: nothing completes (and frees) it under
     * the sender, even if the answer or the stream's end comes first */
    tx->busy = 1;
    bool dead = h->dead;
    if (!dead) {
        tx->deadline_ns = weft_clock_mono_ns() + (uint64_t)s->opts.execute_timeout_ms * 1000000u;
        tq_insert_locked(s, tx);
    }
    pthread_mutex_unlock(&s->mu);

    int rc = WEFT_EUNAVAILABLE;
    if (!dead) {
        Protos__ChaincodeMessage m = PROTOS__CHAINCODE_MESSAGE__INIT;
        m.type = inv->is_init ? PROTOS__CHAINCODE_MESSAGE__TYPE__INIT
                              : PROTOS__CHAINCODE_MESSAGE__TYPE__TRANSACTION;
        m.txid = (char *)inv->txid;
        m.channel_id = (char *)inv->channel;
        m.payload.data = (uint8_t *)(uintptr_t)inv->input;
        m.payload.len = inv->input_len;
        /* the serialized SignedProposal goes in as field proposal (5) as it is */
        rc = handler_send_ext(h, &m, inv->signed_proposal != NULL ? 5 : 0, inv->signed_proposal,
                              inv->signed_proposal_len);
    }
    pthread_mutex_lock(&s->mu);
    if (dead) {
        (void)tx_settle_locked(s, tx, WEFT_EUNAVAILABLE, "chaincode stream terminated");
    } else if (rc != 0) {
        char msg[128];
        snprintf(msg, sizeof(msg), "error sending: %s", weft_strerror(rc));
        (void)tx_settle_locked(s, tx, WEFT_EUNAVAILABLE, msg);
    }
    bool over = tx_unbusy_locked(s, tx, true);
    pthread_mutex_unlock(&s->mu);
    if (over) {
        handler_release(h);
    }
    fin_flush(s);
    return 0;
}

/* ---- execute timeouts: one timer thread per support --------------------------------- */

static void *timer_main(void *arg)
{
    struct weft_cc_support *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->timer_stop) {
        struct cc_tx *tx = s->tq_head;
        if (tx == NULL) {
            pthread_cond_wait(&s->timer_cv, &s->mu);
            continue;
        }
        uint64_t now = weft_clock_mono_ns();
        if (tx->deadline_ns > now) {
            struct timespec ts;
            deadline_ts((tx->deadline_ns - now + 999999u) / 1000000u, &ts);
            (void)pthread_cond_timedwait(&s->timer_cv, &s->mu, &ts);
            continue;
        }
        struct cc_handler *h = tx->h;
        bool over = tx_settle_locked(s, tx, WEFT_ETIMEDOUT,
                                     "timeout expired while executing transaction") &&
                    tx_complete_locked(s, tx, true);
        pthread_mutex_unlock(&s->mu);
        if (over) {
            handler_release(h);
        }
        fin_flush(s);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- synchronous execution: the asynchronous one, waited for ------------------------ */

struct sync_wait {
    struct weft_cc_support *s;
    pthread_cond_t cv;
    bool done;
    int rc;
    uint8_t *final;
    size_t final_len;
    struct weft_err err;
};

static void sync_fin(void *ctx, int rc, uint8_t *final, size_t final_len, struct weft_err *err)
{
    struct sync_wait *w = ctx;
    pthread_mutex_lock(&w->s->mu);
    w->rc = rc;
    w->final = final;
    w->final_len = final_len;
    if (rc != 0) {
        w->err = *err;
    }
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->s->mu);
}

int cc__execute(struct weft_cc_support *s, const struct weft_cc_invocation *inv, uint8_t **final,
                size_t *final_len, struct weft_err *err)
{
    struct cc_handler *h = NULL;
    int rc = get_handler(s, inv->ccid, &h, err);
    if (rc != 0) {
        return rc;
    }
    struct sync_wait w = {.s = s};
    pthread_cond_init(&w.cv, NULL);
    rc = cc__start(s, h, inv, sync_fin, &w, err);
    if (rc == 0) {
        pthread_mutex_lock(&s->mu);
        while (!w.done) {
            pthread_cond_wait(&w.cv, &s->mu);
        }
        pthread_mutex_unlock(&s->mu);
        rc = w.rc;
        if (rc != 0) {
            weft_err_set(err, rc, "%s", w.err.msg);
        } else {
            *final = w.final;
            *final_len = w.final_len;
        }
    }
    pthread_cond_destroy(&w.cv);
    return rc;
}

void weft_cc_result_clear(struct weft_cc_result *r)
{
    weft_free(r->message);
    weft_free(r->payload);
    weft_free(r->response);
    weft_free(r->event);
    memset(r, 0, sizeof(*r));
}

/* The result carried by a final COMPLETED/ERROR message (taken). */
static int decode_final(uint8_t *final, size_t fl, struct weft_cc_result *out,
                        struct weft_err *err)
{
    memset(out, 0, sizeof(*out));
    Protos__ChaincodeMessage *m = protos__chaincode_message__unpack(NULL, fl, final);
    weft_free(final);
    if (m == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "malformed final chaincode message");
    }
    if (m->type == PROTOS__CHAINCODE_MESSAGE__TYPE__ERROR) {
        out->status = 500;
        out->message = weft_asprintf("transaction returned with failure: %.*s",
                                     (int)m->payload.len, (const char *)m->payload.data);
        Protos__Response r = PROTOS__RESPONSE__INIT;
        r.status = 500;
        r.message = out->message != NULL ? out->message : (char *)"";
        size_t n = protobuf_c_message_get_packed_size(&r.base);
        out->response = weft_malloc(n > 0 ? n : 1);
        if (out->response != NULL) {
            protobuf_c_message_pack(&r.base, out->response);
            out->response_len = n;
        }
    } else {
        Protos__Response *r = protos__response__unpack(NULL, m->payload.len, m->payload.data);
        if (r == NULL) {
            protos__chaincode_message__free_unpacked(m, NULL);
            return weft_err_set(err, WEFT_EPARSE, "chaincode sent a malformed Response");
        }
        out->status = r->status;
        out->message = weft_strdup(r->message);
        out->payload = memdup0(r->payload.data, r->payload.len);
        out->payload_len = r->payload.len;
        out->response = memdup0(m->payload.data, m->payload.len);
        out->response_len = m->payload.len;
        protos__response__free_unpacked(r, NULL);
        if (m->chaincode_event != NULL) {
            size_t n = protobuf_c_message_get_packed_size(&m->chaincode_event->base);
            out->event = weft_malloc(n > 0 ? n : 1);
            if (out->event != NULL) {
                protobuf_c_message_pack(&m->chaincode_event->base, out->event);
                out->event_len = n;
            }
        }
    }
    protos__chaincode_message__free_unpacked(m, NULL);
    if (out->message == NULL || out->response == NULL ||
        (out->payload == NULL && out->payload_len > 0)) {
        weft_cc_result_clear(out);
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    return 0;
}

int weft_cc_support_execute(struct weft_cc_support *s, const struct weft_cc_invocation *inv,
                            struct weft_cc_result *out, struct weft_err *err)
{
    uint8_t *final = NULL;
    size_t fl = 0;
    memset(out, 0, sizeof(*out));
    int rc = cc__execute(s, inv, &final, &fl, err);
    if (rc != 0) {
        return rc;
    }
    return decode_final(final, fl, out, err);
}

/* ---- asynchronous execution ------------------------------------------------------ */

struct async_call {
    struct weft_cc_support *s;
    const struct weft_cc_invocation *inv;
    weft_cc_done_fn done;
    void *ctx;
};

static void async_fin(void *ctx, int rc, uint8_t *final, size_t final_len, struct weft_err *err)
{
    struct async_call *a = ctx;
    struct weft_cc_result res = {0};
    if (rc == 0) {
        rc = decode_final(final, final_len, &res, err);
    }
    weft_cc_done_fn done = a->done;
    void *dctx = a->ctx;
    weft_free(a);
    done(dctx, rc, &res, err);
}

/* Support pool: the chaincode has to be launched first (blocks). */
static void async_launch(void *arg)
{
    struct async_call *a = arg;
    struct cc_handler *h = NULL;
    struct weft_err e = {0};
    int rc = get_handler(a->s, a->inv->ccid, &h, &e);
    if (rc == 0) {
        rc = cc__start(a->s, h, a->inv, async_fin, a, &e);
    }
    if (rc != 0) {
        struct weft_cc_result res = {0};
        weft_cc_done_fn done = a->done;
        void *dctx = a->ctx;
        weft_free(a);
        done(dctx, rc, &res, &e);
    }
}

int weft_cc_support_execute_async(struct weft_cc_support *s, const struct weft_cc_invocation *inv,
                                  weft_cc_done_fn done, void *ctx, struct weft_err *err)
{
    struct async_call *a = weft_calloc(1, sizeof(*a));
    if (a == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    a->s = s;
    a->inv = inv;
    a->done = done;
    a->ctx = ctx;
    pthread_mutex_lock(&s->mu);
    struct cc_handler *h = find_handler_locked(s, inv->ccid);
    if (h != NULL && h->ready) {
        h->refs++;
    } else {
        h = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    if (h == NULL) {
        int rc = weft_pool_submit(s->pool, async_launch, a);
        if (rc != 0) {
            weft_free(a);
            return weft_err_set(err, rc, "could not launch chaincode %s: %s", inv->ccid,
                                weft_strerror(rc));
        }
        return 0;
    }
    int rc = cc__start(s, h, inv, async_fin, a, err);
    if (rc != 0) {
        weft_free(a);
    }
    return rc;
}

/* ---- life cycle ------------------------------------------------------------------ */

int weft_cc_support_new(const struct weft_cc_support_opts *opts, struct weft_cc_support **out,
                        struct weft_err *err)
{
    if (opts == NULL || opts->store == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "chaincode support: an install store is required");
    }
    struct weft_cc_support *s = weft_calloc(1, sizeof(*s));
    if (s == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    s->opts = *opts;
    if (s->opts.execute_timeout_ms < 1000) {
        s->opts.execute_timeout_ms = 30000;
    }
    if (s->opts.startup_timeout_ms < 5000) {
        s->opts.startup_timeout_ms = 5000;
    }
    if (s->opts.total_query_limit == 0) {
        s->opts.total_query_limit = 100000;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->launch_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_cond_init(&s->timer_cv, &ca); /* deadline_ts */
    pthread_condattr_destroy(&ca);
    s->pool = weft_pool_new(4);
    int rc = cc__opts_copy(s, opts);
    if (s->pool == NULL || rc != 0) {
        weft_cc_support_free(s);
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    rc = pthread_create(&s->timer, NULL, timer_main, s);
    if (rc != 0) {
        weft_cc_support_free(s);
        return weft_err_set(err, -rc, "chaincode timer thread: %s", strerror(rc));
    }
    s->timer_started = true;
    *out = s;
    return 0;
}

void weft_cc_support_free(struct weft_cc_support *s)
{
    if (s == NULL) {
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->closing = true;
    for (struct cc_handler *h = s->handlers; h != NULL; h = h->next) {
        handler_cancel_locked(s, h);
    }
    pthread_mutex_unlock(&s->mu);
    fin_flush(s);
    cc__ccaas_join_all(s);
    cc__proc_stop_all(s);
    /* every stream ends (its INVOKE_CHAINCODE jobs hold references) before
     * the pool goes: a message being delivered may still submit one */
    pthread_mutex_lock(&s->mu);
    while (s->handlers != NULL) {
        pthread_cond_wait(&s->cv, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    weft_pool_free(s->pool);
    fin_flush(s);
    if (s->timer_started) {
        pthread_mutex_lock(&s->mu);
        s->timer_stop = true;
        pthread_cond_signal(&s->timer_cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->timer, NULL);
    }
    for (size_t i = 0; i < s->n_expect; i++) {
        weft_free(s->expect[i]);
    }
    weft_free(s->expect);
    cc__opts_free(s);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->launch_mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->timer_cv);
    weft_free(s);
}

bool weft_cc_support_connected(struct weft_cc_support *s, const char *ccid)
{
    pthread_mutex_lock(&s->mu);
    struct cc_handler *h = find_handler_locked(s, ccid);
    bool ok = h != NULL && h->ready;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void weft_cc_support_stop(struct weft_cc_support *s, const char *ccid)
{
    pthread_mutex_lock(&s->mu);
    struct cc_handler *h = find_handler_locked(s, ccid);
    if (h != NULL) {
        handler_cancel_locked(s, h);
    }
    pthread_mutex_unlock(&s->mu);
    fin_flush(s);
    cc__proc_stop_ccid(s, ccid);
}

/* ---- the Register service: an event-driven stream ------------------------------- */

static int rpc_send(void *st, const uint8_t *m, size_t l)
{
    return weft_rpc_call_send(st, m, l); /* unused: handler_send sends on h->call */
}

static int rpc_recv(void *st, uint8_t **m, size_t *l, int64_t t)
{
    (void)st;
    (void)m;
    (void)l;
    (void)t;
    return WEFT_ESTATE; /* messages arrive through on_message */
}

static int rpc_cert_hash(void *st, uint8_t out[32])
{
    return weft_rpc_call_tls_cert_hash(st, out);
}

static void rpc_refuse(void *st, const char *msg)
{
    weft_rpc_call_pause_recv(st);
    (void)weft_rpc_call_finish(st, WEFT_RPC_PERMISSION_DENIED, msg);
}

static const struct weft_cc_stream_ops rpc_ops = {.send = rpc_send,
                                                  .recv = rpc_recv,
                                                  .peer_cert_hash = rpc_cert_hash,
                                                  .refuse = rpc_refuse};

static void *on_open(void *ctx, struct weft_rpc_call *call)
{
    struct weft_cc_support *s = ctx;
    struct cc_handler *h = weft_calloc(1, sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
    h->s = s;
    h->ops = &rpc_ops;
    h->stream = call;
    h->call = call;
    pthread_mutex_init(&h->send_mu, NULL);
    pthread_mutex_lock(&s->mu);
    if (s->closing) {
        pthread_mutex_unlock(&s->mu);
        handler_free(h);
        return NULL;
    }
    /* listed from the start, so that stopping the support ends it */
    h->next = s->handlers;
    s->handlers = h;
    h->listed = true;
    pthread_mutex_unlock(&s->mu);
    return h;
}

static void on_message(void *state, struct weft_rpc_call *call, uint8_t *msg, size_t len)
{
    struct cc_handler *h = state;
    struct weft_cc_support *s = h->s;
    (void)call;
    if (handle_message(s, h, msg, len) != 0) {
        pthread_mutex_lock(&s->mu);
        handler_close_locked(s, h, WEFT_RPC_OK, NULL);
        pthread_mutex_unlock(&s->mu);
        fin_flush(s);
    }
}

static void on_end(void *state, struct weft_rpc_call *call, bool cancelled)
{
    struct cc_handler *h = state;
    struct weft_cc_support *s = h->s;
    (void)call;
    if (h->ccid != NULL) {
        WEFT_INFO(lg_cc, "chaincode %s stream terminated%s", h->ccid,
                  cancelled ? " (cancelled or lost)" : "");
    }
    pthread_mutex_lock(&s->mu);
    h->ended = true;
    h->closed = true; /* the call takes no finish any more */
    handler_dead_locked(s, h);
    bool over = handler_over_locked(s, h);
    pthread_mutex_unlock(&s->mu);
    if (over) {
        handler_release(h);
    }
    fin_flush(s);
}

static const struct weft_rpc_stream_cbs register_cbs = {on_open, on_message, on_end};

int weft_cc_support_register_service(struct weft_cc_support *s, struct weft_rpc_server *srv,
                                     struct weft_err *err)
{
    int rc = weft_rpc_server_add_stream_cb(srv, "/protos.ChaincodeSupport/Register",
                                           WEFT_RPC_BIDI_STREAMING, &register_cbs, s);
    return rc == 0 ? 0 : weft_err_set(err, rc, "register ChaincodeSupport: %s",
                                      weft_strerror(rc));
}
