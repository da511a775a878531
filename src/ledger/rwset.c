/*
 * Read/write sets: a hand-written codec for kvrwset.KVRWSet (protobuf-c
 * cannot carry composite keys in `string` fields: they contain U+0000),
 * extraction of a TxReadWriteSet from an endorser transaction envelope, the
 * per-block updates list (ledger__updates_*), Fabric's range-query result
 * hashing (Merkle summary of max degree 50) and the packing of query results.
 *
 * Encoding rules are those of Go's proto.Marshal for proto3, which is what
 * Fabric's rwset builder uses: fields in number order, zero scalars and
 * empty strings/bytes omitted, sub-messages written when present even if
 * empty, repeated elements always written. With the same inputs this gives
 * the same bytes, which tests/interop/rwset checks against Node.
 */
#include <stdlib.h>
#include <string.h>

#include "weft/crypto.h"

#include "common/common.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/transaction.pb-c.h"
#include "state_int.h"

/* ---- protobuf wire helpers ------------------------------------------------ */

static int put_varint(struct weft_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v != 0)
            c |= 0x80;
        tmp[n++] = c;
    } while (v != 0);
    return weft_buf_append(b, tmp, n);
}

static int put_tag(struct weft_buf *b, uint32_t field, uint32_t wt)
{
    return put_varint(b, ((uint64_t)field << 3) | wt);
}

/* Length-delimited field; when omit_empty, nothing is written for len 0. */
static int put_bytes(struct weft_buf *b, uint32_t field, const uint8_t *p, size_t len,
                     bool omit_empty)
{
    if (len == 0 && omit_empty)
        return 0;
    int rc = put_tag(b, field, 2);
    if (rc == 0)
        rc = put_varint(b, len);
    if (rc == 0 && len > 0)
        rc = weft_buf_append(b, p, len);
    return rc;
}

static int put_u64(struct weft_buf *b, uint32_t field, uint64_t v)
{
    if (v == 0)
        return 0;
    int rc = put_tag(b, field, 0);
    return rc != 0 ? rc : put_varint(b, v);
}

/* Writes field as a sub-message whose bytes are in sub. */
static int put_sub(struct weft_buf *b, uint32_t field, const struct weft_buf *sub)
{
    return put_bytes(b, field, sub->data, sub->len, false);
}

struct rd {
    const uint8_t *p, *end;
};

static int get_varint(struct rd *r, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return WEFT_EPARSE;
        uint8_t c = *r->p++;
        x |= (uint64_t)(c & 0x7f) << shift;
        if ((c & 0x80) == 0) {
            *v = x;
            return 0;
        }
    }
    return WEFT_EPARSE;
}

/* Reads one field header; for wire type 2 also the payload bounds. */
struct field {
    uint32_t num;
    uint32_t wt;
    uint64_t v;            /* varint / fixed value */
    struct ledger_bytes b; /* wt 2 */
};

static int get_field(struct rd *r, struct field *f)
{
    uint64_t tag;
    if (get_varint(r, &tag) != 0 || tag >> 3 == 0 || tag >> 3 > UINT32_MAX)
        return WEFT_EPARSE;
    f->num = (uint32_t)(tag >> 3);
    f->wt = (uint32_t)(tag & 7);
    switch (f->wt) {
    case 0:
        return get_varint(r, &f->v);
    case 1:
        if (r->end - r->p < 8)
            return WEFT_EPARSE;
        r->p += 8;
        return 0;
    case 5:
        if (r->end - r->p < 4)
            return WEFT_EPARSE;
        r->p += 4;
        return 0;
    case 2: {
        uint64_t len;
        if (get_varint(r, &len) != 0 || len > (uint64_t)(r->end - r->p))
            return WEFT_EPARSE;
        f->b.p = r->p;
        f->b.len = (size_t)len;
        r->p += len;
        return 0;
    }
    default:
        return WEFT_EPARSE;
    }
}

/* Grows a decoded array by one zeroed element. */
static void *grow(void *arr, size_t *n, size_t elem)
{
    void *na = weft_realloc(arr, (*n + 1) * elem);
    if (na == NULL)
        return NULL;
    memset((uint8_t *)na + *n * elem, 0, elem);
    (*n)++;
    return na;
}

static int dec_version(struct ledger_bytes in, struct weft_ledger_version *v)
{
    struct rd r = {in.p, in.p + in.len};
    struct field f;
    *v = (struct weft_ledger_version){0, 0};
    while (r.p < r.end) {
        if (get_field(&r, &f) != 0)
            return WEFT_EPARSE;
        if (f.num == 1 && f.wt == 0)
            v->block_num = f.v;
        else if (f.num == 2 && f.wt == 0)
            v->tx_num = f.v;
        else if (f.num <= 2)
            return WEFT_EPARSE;
    }
    return 0;
}

static int dec_kvread(struct ledger_bytes in, struct ledger_kvread *kr)
{
    struct rd r = {in.p, in.p + in.len};
    struct field f;
    while (r.p < r.end) {
        if (get_field(&r, &f) != 0)
            return WEFT_EPARSE;
        if (f.num == 1 && f.wt == 2) {
            kr->key = f.b;
        } else if (f.num == 2 && f.wt == 2) {
            kr->has_version = true;
            if (dec_version(f.b, &kr->ver) != 0)
                return WEFT_EPARSE;
        } else if (f.num <= 2) {
            return WEFT_EPARSE;
        }
    }
    return 0;
}

static int dec_queryreads(struct ledger_bytes in, struct ledger_rqinfo *q)
{
    struct rd r = {in.p, in.p + in.len};
    struct field f;
    while (r.p < r.end) {
        if (get_field(&r, &f) != 0)
            return WEFT_EPARSE;
        if (f.num == 1 && f.wt == 2) {
            struct ledger_kvread *na = grow(q->raw, &q->n_raw, sizeof(*na));
            if (na == NULL)
                return WEFT_ENOMEM;
            q->raw = na;
            if (dec_kvread(f.b, &q->raw[q->n_raw - 1]) != 0)
                return WEFT_EPARSE;
        } else if (f.num == 1) {
            return WEFT_EPARSE;
        }
    }
    return 0;
}

static int dec_merkle(struct ledger_bytes in, struct ledger_rqinfo *q)
{
    struct rd r = {in.p, in.p + in.len};
    struct field f;
    while (r.p < r.end) {
        if (get_field(&r, &f) != 0)
            return WEFT_EPARSE;
        if (f.num == 1 && f.wt == 0) {
            q->max_degree = (uint32_t)f.v;
        } else if (f.num == 2 && f.wt == 0) {
            q->max_level = (uint32_t)f.v;
        } else if (f.num == 3 && f.wt == 2) {
            struct ledger_bytes *na = grow(q->hashes, &q->n_hashes, sizeof(*na));
            if (na == NULL)
                return WEFT_ENOMEM;
            q->hashes = na;
            q->hashes[q->n_hashes - 1] = f.b;
        } else if (f.num <= 3) {
            return WEFT_EPARSE;
        }
    }
    return 0;
}

static int dec_rqinfo(struct ledger_bytes in, struct ledger_rqinfo *q)
{
    struct rd r = {in.p, in.p + in.len};
    struct field f;
    int rc;
    while (r.p < r.end) {
        if (get_field(&r, &f) != 0)
            return WEFT_EPARSE;
        if (f.num == 1 && f.wt == 2) {
            q->start_key = f.b;
        } else if (f.num == 2 && f.wt == 2) {
            q->end_key = f.b;
        } else if (f.num == 3 && f.wt == 0) {
            q->itr_exhausted = f.v != 0;
        } else if (f.num == 4 && f.wt == 2) {
            /* a later oneof member replaces an earlier one */
            weft_free(q->hashes);
            q->hashes = NULL;
            q->n_hashes = 0;
            weft_free(q->raw);
            q->raw = NULL;
            q->n_raw = 0;
            q->reads_kind = 4;
            if ((rc = dec_queryreads(f.b, q)) != 0)
                return rc;
        } else if (f.num == 5 && f.wt == 2) {
            weft_free(q->raw);
            q->raw = NULL;
            q->n_raw = 0;
            weft_free(q->hashes);
            q->hashes = NULL;
            q->n_hashes = 0;
            q->max_degree = q->max_level = 0;
            q->reads_kind = 5;
            if ((rc = dec_merkle(f.b, q)) != 0)
                return rc;
        } else if (f.num <= 5) {
            return WEFT_EPARSE;
        }
    }
    return 0;
}

static int dec_kvwrite(struct ledger_bytes in, struct ledger_kvwrite *w)
{
    struct rd r = {in.p, in.p + in.len};
    struct field f;
    while (r.p < r.end) {
        if (get_field(&r, &f) != 0)
            return WEFT_EPARSE;
        if (f.num == 1 && f.wt == 2)
            w->key = f.b;
        else if (f.num == 2 && f.wt == 0)
            w->is_delete = f.v != 0;
        else if (f.num == 3 && f.wt == 2)
            w->value = f.b;
        else if (f.num <= 3)
            return WEFT_EPARSE;
    }
    return 0;
}

static int dec_metaentry(struct ledger_bytes in, struct ledger_kvmeta_entry *e)
{
    struct rd r = {in.p, in.p + in.len};
    struct field f;
    while (r.p < r.end) {
        if (get_field(&r, &f) != 0)
            return WEFT_EPARSE;
        if (f.num == 1 && f.wt == 2)
            e->name = f.b;
        else if (f.num == 2 && f.wt == 2)
            e->value = f.b;
        else if (f.num <= 2)
            return WEFT_EPARSE;
    }
    return 0;
}

static int dec_metawrite(struct ledger_bytes in, struct ledger_kvmetawrite *m)
{
    struct rd r = {in.p, in.p + in.len};
    struct field f;
    while (r.p < r.end) {
        if (get_field(&r, &f) != 0)
            return WEFT_EPARSE;
        if (f.num == 1 && f.wt == 2) {
            m->key = f.b;
        } else if (f.num == 2 && f.wt == 2) {
            struct ledger_kvmeta_entry *na = grow(m->entries, &m->n_entries, sizeof(*na));
            if (na == NULL)
                return WEFT_ENOMEM;
            m->entries = na;
            if (dec_metaentry(f.b, &m->entries[m->n_entries - 1]) != 0)
                return WEFT_EPARSE;
        } else if (f.num <= 2) {
            return WEFT_EPARSE;
        }
    }
    return 0;
}

void ledger__kvrwset_free(struct ledger_kvrwset *s)
{
    if (s == NULL)
        return;
    weft_free(s->reads);
    for (size_t i = 0; i < s->n_rqs; i++) {
        weft_free(s->rqs[i].raw);
        weft_free(s->rqs[i].hashes);
    }
    weft_free(s->rqs);
    weft_free(s->writes);
    for (size_t i = 0; i < s->n_mwrites; i++)
        weft_free(s->mwrites[i].entries);
    weft_free(s->mwrites);
    memset(s, 0, sizeof(*s));
}

int ledger__kvrwset_decode(const uint8_t *p, size_t len, struct ledger_kvrwset *out,
                           struct weft_err *err)
{
    struct rd r = {p, p + len};
    struct field f;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    while (r.p < r.end && rc == 0) {
        if (get_field(&r, &f) != 0) {
            rc = WEFT_EPARSE;
            break;
        }
        if (f.num >= 1 && f.num <= 4 && f.wt != 2) {
            rc = WEFT_EPARSE;
            break;
        }
        switch (f.num) {
        case 1: {
            struct ledger_kvread *na = grow(out->reads, &out->n_reads, sizeof(*na));
            if (na == NULL) {
                rc = WEFT_ENOMEM;
                break;
            }
            out->reads = na;
            rc = dec_kvread(f.b, &out->reads[out->n_reads - 1]);
            break;
        }
        case 2: {
            struct ledger_rqinfo *na = grow(out->rqs, &out->n_rqs, sizeof(*na));
            if (na == NULL) {
                rc = WEFT_ENOMEM;
                break;
            }
            out->rqs = na;
            rc = dec_rqinfo(f.b, &out->rqs[out->n_rqs - 1]);
            break;
        }
        case 3: {
            struct ledger_kvwrite *na = grow(out->writes, &out->n_writes, sizeof(*na));
            if (na == NULL) {
                rc = WEFT_ENOMEM;
                break;
            }
            out->writes = na;
            rc = dec_kvwrite(f.b, &out->writes[out->n_writes - 1]);
            break;
        }
        case 4: {
            struct ledger_kvmetawrite *na = grow(out->mwrites, &out->n_mwrites, sizeof(*na));
            if (na == NULL) {
                rc = WEFT_ENOMEM;
                break;
            }
            out->mwrites = na;
            rc = dec_metawrite(f.b, &out->mwrites[out->n_mwrites - 1]);
            break;
        }
        default:
            break; /* unknown field: skipped */
        }
    }
    if (rc != 0) {
        ledger__kvrwset_free(out);
        return weft_err_set(err, rc, rc == WEFT_ENOMEM ? "kvrwset: out of memory"
                                                       : "kvrwset: malformed KVRWSet");
    }
    return 0;
}

int ledger__hashed_reads_decode(const uint8_t *p, size_t len, struct ledger_kvread **out,
                                size_t *n, struct weft_err *err)
{
    struct rd r = {p, p + len};
    struct field f;
    *out = NULL;
    *n = 0;
    while (r.p < r.end) {
        if (get_field(&r, &f) != 0 || (f.num == 1 && f.wt != 2))
            goto bad;
        if (f.num != 1)
            continue;
        struct ledger_kvread *na = grow(*out, n, sizeof(*na));
        if (na == NULL) {
            weft_free(*out);
            *out = NULL;
            *n = 0;
            return weft_err_set(err, WEFT_ENOMEM, "hashed rwset: out of memory");
        }
        *out = na;
        if (dec_kvread(f.b, &na[*n - 1]) != 0)
            goto bad;
    }
    return 0;
bad:
    weft_free(*out);
    *out = NULL;
    *n = 0;
    return weft_err_set(err, WEFT_EPARSE, "hashed rwset: malformed HashedRWSet");
}

/* ---- encoding ---------------------------------------------------------------- */

static int enc_kvread(const struct ledger_kvread *kr, struct weft_buf *b)
{
    int rc = put_bytes(b, 1, kr->key.p, kr->key.len, true);
    if (rc == 0 && kr->has_version) {
        struct weft_buf v;
        weft_buf_init(&v, 64);
        rc = put_u64(&v, 1, kr->ver.block_num);
        if (rc == 0)
            rc = put_u64(&v, 2, kr->ver.tx_num);
        if (rc == 0)
            rc = put_sub(b, 2, &v);
        weft_buf_close(&v);
    }
    return rc;
}

int ledger__queryreads_encode(const struct ledger_kvread *r, size_t n, struct weft_buf *b)
{
    int rc = 0;
    struct weft_buf e;
    weft_buf_init(&e, b->limit);
    for (size_t i = 0; i < n && rc == 0; i++) {
        weft_buf_reset(&e);
        rc = enc_kvread(&r[i], &e);
        if (rc == 0)
            rc = put_sub(b, 1, &e);
    }
    weft_buf_close(&e);
    return rc;
}

static int enc_rqinfo(const struct ledger_rqinfo *q, struct weft_buf *b)
{
    int rc = put_bytes(b, 1, q->start_key.p, q->start_key.len, true);
    if (rc == 0)
        rc = put_bytes(b, 2, q->end_key.p, q->end_key.len, true);
    if (rc == 0 && q->itr_exhausted)
        rc = put_u64(b, 3, 1);
    if (rc != 0 || q->reads_kind == 0)
        return rc;
    struct weft_buf s;
    weft_buf_init(&s, b->limit);
    if (q->reads_kind == 4) {
        rc = ledger__queryreads_encode(q->raw, q->n_raw, &s);
        if (rc == 0)
            rc = put_sub(b, 4, &s);
    } else {
        rc = put_u64(&s, 1, q->max_degree);
        if (rc == 0)
            rc = put_u64(&s, 2, q->max_level);
        for (size_t i = 0; i < q->n_hashes && rc == 0; i++)
            rc = put_bytes(&s, 3, q->hashes[i].p, q->hashes[i].len, false);
        if (rc == 0)
            rc = put_sub(b, 5, &s);
    }
    weft_buf_close(&s);
    return rc;
}

int ledger__kvrwset_encode(const struct ledger_kvrwset *s, struct weft_buf *b)
{
    int rc = 0;
    struct weft_buf e;
    weft_buf_init(&e, b->limit);
    for (size_t i = 0; i < s->n_reads && rc == 0; i++) {
        weft_buf_reset(&e);
        rc = enc_kvread(&s->reads[i], &e);
        if (rc == 0)
            rc = put_sub(b, 1, &e);
    }
    for (size_t i = 0; i < s->n_rqs && rc == 0; i++) {
        weft_buf_reset(&e);
        rc = enc_rqinfo(&s->rqs[i], &e);
        if (rc == 0)
            rc = put_sub(b, 2, &e);
    }
    for (size_t i = 0; i < s->n_writes && rc == 0; i++) {
        const struct ledger_kvwrite *w = &s->writes[i];
        weft_buf_reset(&e);
        rc = put_bytes(&e, 1, w->key.p, w->key.len, true);
        if (rc == 0 && w->is_delete)
            rc = put_u64(&e, 2, 1);
        if (rc == 0)
            rc = put_bytes(&e, 3, w->value.p, w->value.len, true);
        if (rc == 0)
            rc = put_sub(b, 3, &e);
    }
    for (size_t i = 0; i < s->n_mwrites && rc == 0; i++) {
        const struct ledger_kvmetawrite *m = &s->mwrites[i];
        weft_buf_reset(&e);
        rc = put_bytes(&e, 1, m->key.p, m->key.len, true);
        struct weft_buf en;
        weft_buf_init(&en, b->limit);
        for (size_t j = 0; j < m->n_entries && rc == 0; j++) {
            weft_buf_reset(&en);
            rc = put_bytes(&en, 1, m->entries[j].name.p, m->entries[j].name.len, true);
            if (rc == 0)
                rc = put_bytes(&en, 2, m->entries[j].value.p, m->entries[j].value.len, true);
            if (rc == 0)
                rc = put_sub(&e, 2, &en);
        }
        weft_buf_close(&en);
        if (rc == 0)
            rc = put_sub(b, 4, &e);
    }
    weft_buf_close(&e);
    return rc;
}

/* ---- query result packing ------------------------------------------------------ */

int weft_ledger_kv_pack(const struct weft_ledger_kv *kv, uint8_t **out, size_t *out_len)
{
    struct weft_buf b;
    weft_buf_init(&b, SIZE_MAX / 2);
    int rc = put_bytes(&b, 1, (const uint8_t *)kv->ns, kv->ns ? strlen(kv->ns) : 0, true);
    if (rc == 0)
        rc = put_bytes(&b, 2, kv->key, kv->key_len, true);
    if (rc == 0)
        rc = put_bytes(&b, 3, kv->value, kv->value_len, true);
    if (rc == 0 && b.data == NULL)
        rc = weft_buf_reserve(&b, 1);
    if (rc != 0) {
        weft_buf_close(&b);
        return rc;
    }
    *out = weft_buf_steal(&b, out_len);
    return 0;
}

int weft_ledger_key_mod_pack(const struct weft_ledger_key_mod *km, uint8_t **out, size_t *out_len)
{
    struct weft_buf b, ts;
    weft_buf_init(&b, SIZE_MAX / 2);
    weft_buf_init(&ts, 64);
    int rc = put_bytes(&b, 1, (const uint8_t *)km->tx_id, km->tx_id ? strlen(km->tx_id) : 0, true);
    if (rc == 0)
        rc = put_bytes(&b, 2, km->value, km->value_len, true);
    /* Fabric always sets the timestamp message */
    if (rc == 0)
        rc = put_u64(&ts, 1, (uint64_t)km->ts_seconds);
    if (rc == 0)
        rc = put_u64(&ts, 2, (uint64_t)(int64_t)km->ts_nanos);
    if (rc == 0)
        rc = put_sub(&b, 3, &ts);
    if (rc == 0 && km->is_delete)
        rc = put_u64(&b, 4, 1);
    weft_buf_close(&ts);
    if (rc != 0) {
        weft_buf_close(&b);
        return rc;
    }
    *out = weft_buf_steal(&b, out_len);
    return 0;
}

/* ---- transaction decoding ----------------------------------------------------- */

void ledger__txinfo_clear(struct ledger_txinfo *ti)
{
    weft_free(ti->txid);
    if (ti->rws != NULL)
        rwset__tx_read_write_set__free_unpacked(ti->rws, NULL);
    weft_free(ti->config.data);
    memset(ti, 0, sizeof(*ti));
}

int ledger__tx_decode(const uint8_t *env, size_t env_len, struct ledger_txinfo *out,
                      struct weft_err *err)
{
    Common__Envelope *e = NULL;
    Common__Payload *pl = NULL;
    Common__ChannelHeader *ch = NULL;
    Protos__Transaction *tx = NULL;
    Protos__ChaincodeActionPayload *cap = NULL;
    Protos__ProposalResponsePayload *prp = NULL;
    Protos__ChaincodeAction *ca = NULL;
    int rc = WEFT_EPARSE;
    const char *what = "envelope";
    memset(out, 0, sizeof(*out));

    if ((e = common__envelope__unpack(NULL, env_len, env)) == NULL)
        goto out;
    what = "payload";
    if ((pl = common__payload__unpack(NULL, e->payload.len, e->payload.data)) == NULL ||
        pl->header == NULL)
        goto out;
    what = "channel header";
    if ((ch = common__channel_header__unpack(NULL, pl->header->channel_header.len,
                                             pl->header->channel_header.data)) == NULL)
        goto out;
    out->hdr_type = ch->type;
    out->txid = weft_strdup(ch->tx_id != NULL ? ch->tx_id : "");
    if (out->txid == NULL) {
        rc = WEFT_ENOMEM;
        goto out;
    }
    if (ch->timestamp != NULL) {
        out->ts_seconds = ch->timestamp->seconds;
        out->ts_nanos = ch->timestamp->nanos;
    }
    if (ch->type == 1) { /* CONFIG */
        out->config.len = pl->data.len;
        out->config.data = weft_malloc(pl->data.len + 1);
        if (out->config.data != NULL && pl->data.len > 0)
            memcpy(out->config.data, pl->data.data, pl->data.len);
        rc = out->config.data == NULL ? WEFT_ENOMEM : WEFT_ENOTFOUND;
        goto out;
    }
    if (ch->type != 3) {
        rc = WEFT_ENOTFOUND;
        goto out;
    }
    what = "transaction";
    if ((tx = protos__transaction__unpack(NULL, pl->data.len, pl->data.data)) == NULL ||
        tx->n_actions < 1)
        goto out;
    what = "chaincode action payload";
    if ((cap = protos__chaincode_action_payload__unpack(NULL, tx->actions[0]->payload.len,
                                                        tx->actions[0]->payload.data)) == NULL ||
        cap->action == NULL)
        goto out;
    what = "proposal response payload";
    if ((prp = protos__proposal_response_payload__unpack(
             NULL, cap->action->proposal_response_payload.len,
             cap->action->proposal_response_payload.data)) == NULL)
        goto out;
    what = "chaincode action";
    if ((ca = protos__chaincode_action__unpack(NULL, prp->extension.len, prp->extension.data)) ==
        NULL)
        goto out;
    what = "read/write set";
    if ((out->rws = rwset__tx_read_write_set__unpack(NULL, ca->results.len, ca->results.data)) ==
        NULL)
        goto out;
    rc = 0;
out:
    if (ca != NULL)
        protos__chaincode_action__free_unpacked(ca, NULL);
    if (prp != NULL)
        protos__proposal_response_payload__free_unpacked(prp, NULL);
    if (cap != NULL)
        protos__chaincode_action_payload__free_unpacked(cap, NULL);
    if (tx != NULL)
        protos__transaction__free_unpacked(tx, NULL);
    if (ch != NULL)
        common__channel_header__free_unpacked(ch, NULL);
    if (pl != NULL)
        common__payload__free_unpacked(pl, NULL);
    if (e != NULL)
        common__envelope__free_unpacked(e, NULL);
    if (rc == WEFT_EPARSE)
        weft_err_set(err, rc, "tx: malformed %s", what);
    else if (rc == WEFT_ENOMEM)
        weft_err_set(err, rc, "tx: out of memory");
    if (rc != 0 && rc != WEFT_ENOTFOUND) {
        int32_t t = out->hdr_type;
        ledger__txinfo_clear(out);
        out->hdr_type = t;
    }
    return rc;
}

/* ---- updates ------------------------------------------------------------------- */

struct ledger_arena_chunk {
    struct ledger_arena_chunk *next;
    size_t used, cap;
    uint8_t data[];
};

static void *arena_alloc(struct ledger_updates *u, size_t n)
{
    struct ledger_arena_chunk *c = u->chunks;
    n = (n + 7) & ~(size_t)7;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        c = weft_malloc(sizeof(*c) + cap);
        if (c == NULL)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = u->chunks;
        u->chunks = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

static const uint8_t *arena_dup(struct ledger_updates *u, const void *p, size_t n)
{
    uint8_t *d = arena_alloc(u, n + 1);
    if (d == NULL)
        return NULL;
    if (n > 0)
        memcpy(d, p, n);
    d[n] = 0;
    return d;
}

struct ledger_updates *ledger__updates_new(uint64_t block)
{
    struct ledger_updates *u = weft_calloc(1, sizeof(*u));
    if (u != NULL)
        u->block = block;
    return u;
}

void ledger__updates_free(struct ledger_updates *u)
{
    if (u == NULL)
        return;
    struct ledger_arena_chunk *c = u->chunks;
    while (c != NULL) {
        struct ledger_arena_chunk *n = c->next;
        weft_free(c);
        c = n;
    }
    weft_free(u->ops);
    weft_free(u);
}

int ledger__updates_add(struct ledger_updates *u, const struct ledger_op *op)
{
    if (u->n == u->cap) {
        size_t nc = u->cap ? u->cap * 2 : 64;
        struct ledger_op *no = weft_realloc(u->ops, nc * sizeof(*no));
        if (no == NULL)
            return WEFT_ENOMEM;
        u->ops = no;
        u->cap = nc;
    }
    struct ledger_op *d = &u->ops[u->n];
    *d = *op;
    d->ns = (const char *)arena_dup(u, op->ns, strlen(op->ns));
    d->key = arena_dup(u, op->key, op->key_len);
    d->value = op->value_len > 0 ? arena_dup(u, op->value, op->value_len) : NULL;
    d->meta = op->meta != NULL ? arena_dup(u, op->meta, op->meta_len) : NULL;
    if (d->ns == NULL || d->key == NULL || (op->value_len > 0 && d->value == NULL) ||
        (op->meta != NULL && d->meta == NULL))
        return WEFT_ENOMEM;
    u->n++;
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    const struct ledger_kvmeta_entry *x = a, *y = b;
    size_t n = x->name.len < y->name.len ? x->name.len : y->name.len;
    int c = n > 0 ? memcmp(x->name.p, y->name.p, n) : 0;
    if (c != 0)
        return c;
    return x->name.len < y->name.len ? -1 : x->name.len > y->name.len;
}

/* Serialized metadata as Fabric stores it: KVMetadataWrite{entries sorted
 * by name}, no key. NULL when no entries (metadata removed). */
static int meta_serialize(const struct ledger_kvmetawrite *m, struct weft_buf *b)
{
    struct ledger_kvmetawrite c = *m;
    c.key.p = NULL;
    c.key.len = 0;
    c.entries = weft_malloc((m->n_entries + 1) * sizeof(*c.entries));
    if (c.entries == NULL)
        return WEFT_ENOMEM;
    if (m->n_entries > 0)
        memcpy(c.entries, m->entries, m->n_entries * sizeof(*c.entries));
    if (c.n_entries > 1)
        qsort(c.entries, c.n_entries, sizeof(*c.entries), cmp_entry);
    int rc = 0;
    struct weft_buf en;
    weft_buf_init(&en, SIZE_MAX / 2);
    for (size_t j = 0; j < c.n_entries && rc == 0; j++) {
        weft_buf_reset(&en);
        rc = put_bytes(&en, 1, c.entries[j].name.p, c.entries[j].name.len, true);
        if (rc == 0)
            rc = put_bytes(&en, 2, c.entries[j].value.p, c.entries[j].value.len, true);
        if (rc == 0)
            rc = put_sub(b, 2, &en);
    }
    weft_buf_close(&en);
    weft_free(c.entries);
    return rc;
}

static int add_ns_writes(struct ledger_updates *u, uint64_t tx_num, const char *ns,
                         const struct ledger_kvrwset *kv, bool history, struct weft_err *err)
{
    int rc = 0;
    /* value writes (with the tx's own metadata write when there is one) */
    for (size_t i = 0; i < kv->n_writes && rc == 0; i++) {
        const struct ledger_kvwrite *w = &kv->writes[i];
        struct ledger_op op = {.ns = ns, .key = w->key.p, .key_len = w->key.len,
                               .block = u->block, .tx = tx_num, .history = history};
        struct weft_buf mb;
        weft_buf_init(&mb, SIZE_MAX / 2);
        if (w->is_delete || w->value.len == 0) {
            op.kind = LEDGER_OP_DEL;
        } else {
            op.kind = LEDGER_OP_PUT;
            op.value = w->value.p;
            op.value_len = w->value.len;
            for (size_t m = 0; m < kv->n_mwrites; m++) {
                const struct ledger_kvmetawrite *mw = &kv->mwrites[m];
                if (mw->key.len == w->key.len &&
                    (w->key.len == 0 || memcmp(mw->key.p, w->key.p, w->key.len) == 0)) {
                    op.has_meta = true;
                    if ((rc = meta_serialize(mw, &mb)) != 0)
                        break;
                    op.meta = mb.len > 0 ? mb.data : NULL;
                    op.meta_len = mb.len;
                }
            }
        }
        if (rc == 0)
            rc = ledger__updates_add(u, &op);
        weft_buf_close(&mb);
    }
    /* metadata-only writes */
    for (size_t m = 0; m < kv->n_mwrites && rc == 0; m++) {
        const struct ledger_kvmetawrite *mw = &kv->mwrites[m];
        bool with_value = false;
        for (size_t i = 0; i < kv->n_writes; i++) {
            const struct ledger_kvwrite *w = &kv->writes[i];
            if (mw->key.len == w->key.len &&
                (w->key.len == 0 || memcmp(mw->key.p, w->key.p, w->key.len) == 0))
                with_value = true;
        }
        if (with_value)
            continue;
        struct weft_buf mb;
        weft_buf_init(&mb, SIZE_MAX / 2);
        rc = meta_serialize(mw, &mb);
        struct ledger_op op = {.ns = ns, .key = mw->key.p, .key_len = mw->key.len,
                               .block = u->block, .tx = tx_num, .kind = LEDGER_OP_META,
                               .meta = mb.len > 0 ? mb.data : NULL, .meta_len = mb.len};
        if (rc == 0)
            rc = ledger__updates_add(u, &op);
        weft_buf_close(&mb);
    }
    if (rc != 0)
        return weft_err_set(err, rc, "updates: out of memory");
    return 0;
}

/* Hashed writes of one collection: HashedRWSet{hashed_reads 1, hashed_writes
 * 2 (KVWriteHash{key_hash 1, is_delete 2, value_hash 3}), metadata_writes 3
 * (KVMetadataWriteHash{key_hash 1, entries 2})}. Reuses the KVRWSet decoder
 * by mapping fields: writes of a HashedRWSet are field 2, which the KVRWSet
 * decoder would read as range queries, so it is parsed here. */
static int add_hashed(struct ledger_updates *u, uint64_t tx_num, const char *hns,
                      const uint8_t *p, size_t len, struct weft_err *err)
{
    struct rd r = {p, p + len};
    struct field f;
    while (r.p < r.end) {
        if (get_field(&r, &f) != 0)
            return weft_err_set(err, WEFT_EPARSE, "updates: malformed HashedRWSet");
        if (f.num == 2 && f.wt == 2) {
            struct ledger_kvwrite w = {0};
            if (dec_kvwrite(f.b, &w) != 0)
                return weft_err_set(err, WEFT_EPARSE, "updates: malformed KVWriteHash");
            struct ledger_kvrwset one = {.writes = &w, .n_writes = 1};
            int rc = add_ns_writes(u, tx_num, hns, &one, false, err);
            if (rc != 0)
                return rc;
        } else if (f.num == 3 && f.wt == 2) {
            struct ledger_kvmetawrite m = {0};
            int rc = dec_metawrite(f.b, &m);
            if (rc != 0) {
                weft_free(m.entries);
                return weft_err_set(err, WEFT_EPARSE, "updates: malformed KVMetadataWriteHash");
            }
            struct ledger_kvrwset one = {.mwrites = &m, .n_mwrites = 1};
            rc = add_ns_writes(u, tx_num, hns, &one, false, err);
            weft_free(m.entries);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

int ledger__updates_add_tx(struct ledger_updates *u, uint64_t tx_num,
                           const Rwset__TxReadWriteSet *rws, struct weft_err *err)
{
    for (size_t i = 0; i < rws->n_ns_rwset; i++) {
        const Rwset__NsReadWriteSet *n = rws->ns_rwset[i];
        const char *ns = n->namespace_ != NULL ? n->namespace_ : "";
        struct ledger_kvrwset kv;
        int rc = ledger__kvrwset_decode(n->rwset.data, n->rwset.len, &kv, err);
        if (rc != 0)
            return rc;
        rc = add_ns_writes(u, tx_num, ns, &kv, true, err);
        ledger__kvrwset_free(&kv);
        if (rc != 0)
            return rc;
        for (size_t c = 0; c < n->n_collection_hashed_rwset; c++) {
            const Rwset__CollectionHashedReadWriteSet *ch = n->collection_hashed_rwset[c];
            char *hns = weft_asprintf("%s$$h%s", ns, ch->collection_name ? ch->collection_name : "");
            if (hns == NULL)
                return weft_err_set(err, WEFT_ENOMEM, "updates: out of memory");
            rc = add_hashed(u, tx_num, hns, ch->hashed_rwset.data, ch->hashed_rwset.len, err);
            weft_free(hns);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* ---- commit fast path: read/write set straight from the envelope bytes -------
 *
 * The committer needs nothing of a valid endorser transaction but its
 * TxReadWriteSet, nine messages deep. Unpacking every level with protobuf-c
 * allocates and copies the whole transaction at each level; walking the
 * wire bytes finds the same field without a copy. Each message on the path
 * is walked whole and a field on the path with the wrong wire type is
 * refused, as protobuf-c would. Anything unusual (another header type, an
 * absent message field, malformed bytes) goes back to ledger__tx_decode,
 * so the outcome and the error messages are those of the full decoder. */

/* Wire types of a message's fields (index = field number - 1; WT_ANY for
 * reserved numbers) and, for sub-messages that protobuf-c would unpack but
 * the path does not descend into, their own description. */
#define WT_ANY 0xffu
struct wire_fld {
    uint8_t wt;
    const struct wire_msg *sub;
};
struct wire_msg {
    size_t n;
    const struct wire_fld *f;
};
#define WIRE_MSG(arr) {sizeof(arr) / sizeof(arr[0]), arr}

static const struct wire_fld f_bytes2[] = {{2, NULL}, {2, NULL}};
static const struct wire_msg m_bytes2 = WIRE_MSG(f_bytes2); /* two bytes fields */
static const struct wire_fld f_timestamp[] = {{0, NULL}, {0, NULL}};
static const struct wire_msg m_timestamp = WIRE_MSG(f_timestamp);
static const struct wire_fld f_envelope[] = {{2, NULL}, {2, NULL}};
static const struct wire_msg m_envelope = WIRE_MSG(f_envelope);
static const struct wire_fld f_payload[] = {{2, NULL}, {2, NULL}};
static const struct wire_msg m_payload = WIRE_MSG(f_payload);
static const struct wire_fld f_header[] = {{2, NULL}, {2, NULL}};
static const struct wire_msg m_header = WIRE_MSG(f_header);
static const struct wire_fld f_chdr[] = {{0, NULL}, {0, NULL}, {2, &m_timestamp}, {2, NULL},
                                         {2, NULL}, {0, NULL}, {2, NULL},          {2, NULL}};
static const struct wire_msg m_chdr = WIRE_MSG(f_chdr);
static const struct wire_fld f_tx[] = {{2, &m_bytes2}}; /* TransactionAction{header, payload} */
static const struct wire_msg m_tx = WIRE_MSG(f_tx);
static const struct wire_fld f_cap[] = {{2, NULL}, {2, NULL}};
static const struct wire_msg m_cap = WIRE_MSG(f_cap);
/* ChaincodeEndorsedAction{proposal_response_payload, endorsements: Endorsement{endorser, sig}} */
static const struct wire_fld f_cea[] = {{2, NULL}, {2, &m_bytes2}};
static const struct wire_msg m_cea = WIRE_MSG(f_cea);
static const struct wire_fld f_prp[] = {{2, NULL}, {2, NULL}};
static const struct wire_msg m_prp = WIRE_MSG(f_prp);
static const struct wire_fld f_response[] = {{0, NULL}, {2, NULL}, {2, NULL}};
static const struct wire_msg m_response = WIRE_MSG(f_response);
static const struct wire_fld f_ccid[] = {{2, NULL}, {2, NULL}, {2, NULL}};
static const struct wire_msg m_ccid = WIRE_MSG(f_ccid);
/* ChaincodeAction{results, events, response, chaincode_id} */
static const struct wire_fld f_ca[] = {{2, NULL}, {2, NULL}, {2, &m_response}, {2, &m_ccid}};
static const struct wire_msg m_ca = WIRE_MSG(f_ca);

/* Walks a whole message as protobuf-c would unpack it: every field well
 * formed, known fields with their wire type, known sub-messages checked
 * too. Returns 0 or WEFT_EPARSE. */
static int wire_check(struct ledger_bytes msg, const struct wire_msg *m, int depth)
{
    struct rd r = {msg.p, msg.p + msg.len};
    struct field f;
    if (depth > 8)
        return WEFT_EPARSE;
    while (r.p < r.end) {
        if (get_field(&r, &f) != 0)
            return WEFT_EPARSE;
        if (f.num > m->n)
            continue; /* unknown field: skipped */
        const struct wire_fld *d = &m->f[f.num - 1];
        if (d->wt != WT_ANY && d->wt != f.wt)
            return WEFT_EPARSE;
        if (d->sub != NULL && wire_check(f.b, d->sub, depth + 1) != 0)
            return WEFT_EPARSE;
    }
    return 0;
}

/* Finds field num of wire type wt in a message checked with wire_check:
 * the last occurrence (protobuf's rule for a singular field) or, with
 * first, the first one (the first element of a repeated field). 0 = found,
 * 1 = absent. */
static int wire_find(struct ledger_bytes msg, uint32_t num, uint32_t wt, bool first,
                     struct field *out)
{
    struct rd r = {msg.p, msg.p + msg.len};
    struct field f;
    int found = 1;
    while (r.p < r.end) {
        if (get_field(&r, &f) != 0)
            return WEFT_EPARSE;
        if (f.num != num)
            continue;
        if (f.wt != wt)
            return WEFT_EPARSE;
        if (found == 1 || !first) {
            *out = f;
            found = 0;
        }
    }
    return found;
}

/* Bytes field of a message after checking it: absent = empty, as in
 * protobuf. 0 or WEFT_EPARSE. */
static int wire_bytes(struct ledger_bytes msg, const struct wire_msg *m, uint32_t num,
                      struct ledger_bytes *out)
{
    struct field f;
    if (wire_check(msg, m, 0) != 0)
        return WEFT_EPARSE;
    int rc = wire_find(msg, num, 2, false, &f);
    if (rc < 0)
        return rc;
    *out = rc == 0 ? f.b : (struct ledger_bytes){(const uint8_t *)"", 0};
    return 0;
}

/* Message field (absent = NULL in protobuf-c: 1 here). */
static int wire_sub(struct ledger_bytes msg, const struct wire_msg *m, uint32_t num, bool first,
                    struct ledger_bytes *out)
{
    struct field f;
    if (wire_check(msg, m, 0) != 0)
        return WEFT_EPARSE;
    int rc = wire_find(msg, num, 2, first, &f);
    if (rc == 0)
        *out = f.b;
    return rc;
}

/* 0 and the ChaincodeAction.results bytes of an ENDORSER_TRANSACTION
 * envelope; 1 = use ledger__tx_decode instead. */
static int tx_results_fast(const uint8_t *env, size_t env_len, struct ledger_bytes *results)
{
    struct ledger_bytes e = {env, env_len}, pl, hdr, ch, data, act, cap, cea, prp, ext;
    struct field f;
    if (wire_bytes(e, &m_envelope, 1, &pl) != 0 ||     /* Envelope.payload */
        wire_sub(pl, &m_payload, 1, false, &hdr) != 0 || /* Payload.header */
        wire_bytes(pl, &m_payload, 2, &data) != 0 ||     /* Payload.data */
        wire_bytes(hdr, &m_header, 1, &ch) != 0 ||       /* Header.channel_header */
        wire_check(ch, &m_chdr, 0) != 0)
        return 1;
    if (wire_find(ch, 1, 0, false, &f) != 0 || (int32_t)f.v != 3) /* ChannelHeader.type */
        return 1;
    if (wire_sub(data, &m_tx, 1, true, &act) != 0 ||     /* Transaction.actions[0] */
        wire_bytes(act, &m_bytes2, 2, &cap) != 0 ||      /* TransactionAction.payload */
        wire_sub(cap, &m_cap, 2, false, &cea) != 0 ||    /* ChaincodeActionPayload.action */
        wire_bytes(cea, &m_cea, 1, &prp) != 0 ||         /* .proposal_response_payload */
        wire_bytes(prp, &m_prp, 2, &ext) != 0 ||         /* ProposalResponsePayload.extension */
        wire_bytes(ext, &m_ca, 1, results) != 0)         /* ChaincodeAction.results */
        return 1;
    return 0;
}

/* ledger__updates_add_tx over a serialized TxReadWriteSet (data_model 1,
 * ns_rwset 2: NsReadWriteSet{namespace 1, rwset 2, collection_hashed_rwset 3:
 * {collection_name 1, hashed_rwset 2, pvt_rwset_hash 3}}). */
static int add_tx_bytes(struct ledger_updates *u, uint64_t tx_num, struct ledger_bytes rws,
                        struct weft_err *err)
{
    struct rd r = {rws.p, rws.p + rws.len};
    struct field f;
    while (r.p < r.end) {
        if (get_field(&r, &f) != 0 || (f.num == 1 && f.wt != 0) || (f.num == 2 && f.wt != 2))
            return weft_err_set(err, WEFT_EPARSE, "tx: malformed read/write set");
        if (f.num != 2)
            continue;
        struct ledger_bytes nsb = {(const uint8_t *)"", 0}, kvb = {(const uint8_t *)"", 0};
        struct rd n = {f.b.p, f.b.p + f.b.len};
        struct field g;
        while (n.p < n.end) {
            if (get_field(&n, &g) != 0 || (g.num >= 1 && g.num <= 3 && g.wt != 2))
                return weft_err_set(err, WEFT_EPARSE, "tx: malformed read/write set");
            if (g.num == 1)
                nsb = g.b;
            else if (g.num == 2)
                kvb = g.b;
        }
        char nsbuf[256];
        char *ns = nsb.len < sizeof(nsbuf) ? nsbuf : weft_malloc(nsb.len + 1);
        if (ns == NULL)
            return weft_err_set(err, WEFT_ENOMEM, "updates: out of memory");
        if (nsb.len > 0)
            memcpy(ns, nsb.p, nsb.len);
        ns[nsb.len] = '\0';
        struct ledger_kvrwset kv;
        int rc = ledger__kvrwset_decode(kvb.p, kvb.len, &kv, err);
        if (rc == 0) {
            rc = add_ns_writes(u, tx_num, ns, &kv, true, err);
            ledger__kvrwset_free(&kv);
        }
        for (n.p = f.b.p; rc == 0 && n.p < n.end;) {
            if (get_field(&n, &g) != 0)
                rc = weft_err_set(err, WEFT_EPARSE, "tx: malformed read/write set");
            else if (g.num != 3)
                continue;
            struct ledger_bytes cname = {(const uint8_t *)"", 0}, hrw = {(const uint8_t *)"", 0};
            struct rd c = {g.b.p, g.b.p + g.b.len};
            struct field h;
            while (rc == 0 && c.p < c.end) {
                if (get_field(&c, &h) != 0 || (h.num >= 1 && h.num <= 3 && h.wt != 2))
                    rc = weft_err_set(err, WEFT_EPARSE, "tx: malformed read/write set");
                else if (h.num == 1)
                    cname = h.b;
                else if (h.num == 2)
                    hrw = h.b;
            }
            if (rc != 0)
                break;
            char *hns = weft_asprintf("%s$$h%.*s", ns, (int)cname.len, (const char *)cname.p);
            if (hns == NULL) {
                rc = weft_err_set(err, WEFT_ENOMEM, "updates: out of memory");
                break;
            }
            /* protobuf-c stops a string at its first NUL, as %s does here */
            rc = add_hashed(u, tx_num, hns, hrw.p, hrw.len, err);
            weft_free(hns);
        }
        if (ns != nsbuf)
            weft_free(ns);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int ledger__updates_from_block(const Common__Block *blk, const uint8_t *tx_codes, size_t ntx,
                               struct ledger_updates **out, struct weft_err *err)
{
    if (blk->header == NULL || blk->data == NULL)
        return weft_err_set(err, WEFT_EINVAL, "updates: block without header or data");
    if (ntx != blk->data->n_data)
        return weft_err_set(err, WEFT_EINVAL, "updates: %zu codes for %zu transactions", ntx,
                            blk->data->n_data);
    struct ledger_updates *u = ledger__updates_new(blk->header->number);
    if (u == NULL)
        return weft_err_set(err, WEFT_ENOMEM, "updates: out of memory");
    int rc = 0;
    for (size_t i = 0; i < ntx && rc == 0; i++) {
        if (tx_codes != NULL && tx_codes[i] != 0)
            continue;
        struct ledger_bytes results;
        if (tx_results_fast(blk->data->data[i].data, blk->data->data[i].len, &results) == 0) {
            rc = add_tx_bytes(u, i, results, err);
            if (rc != 0)
                weft_err_prefix(err, "block %llu tx %zu", (unsigned long long)u->block, i);
            continue;
        }
        struct ledger_txinfo ti;
        rc = ledger__tx_decode(blk->data->data[i].data, blk->data->data[i].len, &ti, err);
        if (rc == WEFT_ENOTFOUND) {
            rc = 0;
            if (ti.hdr_type == 1) {
                static const char cfgkey[] = "CHANNEL_CONFIG_ENV_BYTES";
                struct ledger_op op = {.ns = "", .key = (const uint8_t *)cfgkey,
                                       .key_len = sizeof(cfgkey) - 1, .value = ti.config.data,
                                       .value_len = ti.config.len, .block = u->block,
                                       .tx = i, .kind = LEDGER_OP_PUT};
                if (ti.config.len > 0 && ledger__updates_add(u, &op) != 0)
                    rc = weft_err_set(err, WEFT_ENOMEM, "updates: out of memory");
            }
        } else if (rc == 0) {
            rc = ledger__updates_add_tx(u, i, ti.rws, err);
        } else {
            weft_err_prefix(err, "block %llu tx %zu", (unsigned long long)u->block, i);
        }
        ledger__txinfo_clear(&ti);
    }
    if (rc != 0) {
        ledger__updates_free(u);
        return rc;
    }
    *out = u;
    return 0;
}

/* ---- range query results hashing -------------------------------------------------- */

void ledger__rqhelper_init(struct ledger_rqhelper *h, bool hashing, uint32_t max_degree,
                           bool own_keys)
{
    memset(h, 0, sizeof(*h));
    h->hashing = hashing;
    h->max_degree = max_degree;
    h->max_level = 1;
    h->own_keys = own_keys;
}

static void free_pending(struct ledger_rqhelper *h)
{
    if (h->own_keys)
        for (size_t i = 0; i < h->n_pending; i++)
            weft_free((void *)h->pending[i].key.p);
    h->n_pending = 0;
}

void ledger__rqhelper_free(struct ledger_rqhelper *h)
{
    free_pending(h);
    weft_free(h->pending);
    for (size_t i = 0; i < 16; i++)
        weft_free(h->levels[i]);
    memset(h, 0, sizeof(*h));
}

static int level_push(struct ledger_rqhelper *h, uint32_t lvl, const uint8_t hash[32])
{
    if (lvl >= 16)
        return WEFT_ETOOBIG;
    if (h->level_n[lvl] == h->level_cap[lvl]) {
        size_t nc = h->level_cap[lvl] ? h->level_cap[lvl] * 2 : 64;
        uint8_t *nl = weft_realloc(h->levels[lvl], nc * 32);
        if (nl == NULL)
            return WEFT_ENOMEM;
        h->levels[lvl] = nl;
        h->level_cap[lvl] = nc;
    }
    memcpy(h->levels[lvl] + h->level_n[lvl] * 32, hash, 32);
    h->level_n[lvl]++;
    return 0;
}

static void combine(const struct ledger_rqhelper *h, uint32_t lvl, uint8_t out[32])
{
    weft_sha256(h->levels[lvl], h->level_n[lvl] * 32, out);
}

/* Adds a leaf; a level with more than max_degree hashes collapses into one
 * hash at the next level. */
static int merkle_update(struct ledger_rqhelper *h, const uint8_t leaf[32])
{
    int rc = level_push(h, 1, leaf);
    for (uint32_t lvl = 1; rc == 0; lvl++) {
        if (h->level_n[lvl] <= h->max_degree)
            return 0;
        uint8_t c[32];
        combine(h, lvl, c);
        h->level_n[lvl] = 0;
        if ((rc = level_push(h, lvl + 1, c)) != 0)
            return rc;
        if (lvl + 1 > h->max_level)
            h->max_level = lvl + 1;
    }
    return rc;
}

static int process_pending(struct ledger_rqhelper *h)
{
    struct weft_buf b;
    weft_buf_init(&b, SIZE_MAX / 2);
    int rc = ledger__queryreads_encode(h->pending, h->n_pending, &b);
    if (rc == 0) {
        uint8_t d[32];
        weft_sha256(b.data != NULL ? b.data : (const uint8_t *)"", b.len, d);
        free_pending(h);
        rc = merkle_update(h, d);
    }
    weft_buf_close(&b);
    return rc;
}

int ledger__rqhelper_add(struct ledger_rqhelper *h, const uint8_t *key, size_t key_len,
                         const struct weft_ledger_version *ver)
{
    if (h->n_pending == h->cap_pending) {
        size_t nc = h->cap_pending ? h->cap_pending * 2 : 64;
        struct ledger_kvread *np = weft_realloc(h->pending, nc * sizeof(*np));
        if (np == NULL)
            return WEFT_ENOMEM;
        h->pending = np;
        h->cap_pending = nc;
    }
    struct ledger_kvread *r = &h->pending[h->n_pending];
    memset(r, 0, sizeof(*r));
    if (h->own_keys) {
        uint8_t *k = weft_malloc(key_len + 1);
        if (k == NULL)
            return WEFT_ENOMEM;
        if (key_len > 0)
            memcpy(k, key, key_len);
        r->key.p = k;
    } else {
        r->key.p = key;
    }
    r->key.len = key_len;
    if (ver != NULL) {
        r->has_version = true;
        r->ver = *ver;
    }
    h->n_pending++;
    if (h->hashing && h->n_pending > h->max_degree)
        return process_pending(h);
    return 0;
}

int ledger__rqhelper_done(struct ledger_rqhelper *h, bool *is_merkle)
{
    *is_merkle = false;
    if (!h->hashing || h->level_n[1] == 0) {
        bool any = false;
        for (uint32_t l = 1; l <= h->max_level && l < 16; l++)
            any = any || h->level_n[l] > 0;
        if (!h->hashing || !any)
            return 0;
    }
    int rc = 0;
    if (h->n_pending > 0 && (rc = process_pending(h)) != 0)
        return rc;
    /* fold every level below the top into the next one */
    for (uint32_t lvl = 1; lvl < h->max_level; lvl++) {
        uint8_t c[32];
        if (h->level_n[lvl] == 0)
            continue;
        if (h->level_n[lvl] == 1)
            memcpy(c, h->levels[lvl], 32);
        else
            combine(h, lvl, c);
        h->level_n[lvl] = 0;
        if ((rc = level_push(h, lvl + 1, c)) != 0)
            return rc;
    }
    if (h->level_n[h->max_level] > h->max_degree) {
        uint8_t c[32];
        combine(h, h->max_level, c);
        h->level_n[h->max_level] = 0;
        h->max_level++;
        if ((rc = level_push(h, h->max_level, c)) != 0)
            return rc;
    }
    *is_merkle = true;
    return 0;
}
