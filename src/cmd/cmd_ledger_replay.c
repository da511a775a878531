/*
 * `weft ledger replay`: pushes an existing channel's blocks (Fabric's, as
 * `peer channel fetch` writes them, or pulled from a Deliver service)
 * through weft's own validation and commit pipeline, as a peer does with
 * blocks pulled from the ordering service, and writes a report of what it
 * committed: every block's hashes and validation codes, the final public
 * world state and the height (docs/conformance.md).
 *
 * Pipeline: the genesis block joins the channel (block 0, no orderer
 * signature, as a peer's join); every later block goes to a
 * struct weft_committer with orderer signature checks against the channel's
 * /Channel/Orderer/BlockValidation, so config blocks, _lifecycle
 * definitions, endorsement policies and MVCC all apply. Blocks read from a
 * folder lose their TRANSACTIONS_FILTER first (the committer writes its own).
 * A block that fails its orderer signatures, its data hash or the hash chain
 * stops the replay: nothing of it is committed, the report covers the blocks
 * before it and the exit code is 1.
 *
 * State digest (printed, and recomputed by the conformance test from the
 * report): SHA-256 over every public key in (namespace, key) byte order of
 * u32be len(ns) | ns | u32be len(key) | key | u64be block | u64be tx |
 * u32be len(value) | value.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "common/common.pb-c.h"
#include "ledger/rwset/rwset.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/transaction.pb-c.h"
#include "weft/committer.h"
#include "weft/configtx.h"
#include "weft/crypto.h"
#include "weft/ledger.h"
#include "weft/ledger_state.h"
#include "weft/msp.h"
#include "weft/rpc.h"

#define MAX_BLOCK_FILE (512u * 1024u * 1024u) /* a block file larger than this is refused */
#define MAX_NAMESPACES 100000u

static void *pb_alloc(void *ud, size_t n)
{
    (void)ud;
    return weft_malloc(n > 0 ? n : 1);
}

static void pb_free(void *ud, void *p)
{
    (void)ud;
    weft_free(p);
}

static ProtobufCAllocator replay_pb = {.alloc = pb_alloc, .free = pb_free, .allocator_data = NULL};
#define RPB (&replay_pb)

struct replay_opts {
    const char *genesis;
    const char *blocks;
    const char *dir;
    const char *report;
    const char *deliver; /* host:port */
    const char *msp_dir;
    const char *mspid;
    const char *tls_ca, *tls_cert, *tls_key, *server_name;
    const char *method;
    uint64_t until;
    bool have_until;
    uint64_t timeout_s;
    unsigned threads;
    bool check_filter;
    bool no_sync;
};

/* What the commit callback records of one block (commit thread writes,
 * main thread reads after the committer reports the height). */
struct blk_rec {
    bool done;
    char hh[2 * WEFT_LEDGER_HASH_LEN + 1];
    char *prev, *data; /* hex */
    uint8_t *codes;
    size_t ntx;
};

struct replay {
    struct blk_rec *recs;
    size_t cap;
    char **ns; /* public namespaces written by valid transactions */
    size_t n_ns;
    int cb_err;
};

/* ---- small helpers ---------------------------------------------------------------- */

static char *hex_dup(const uint8_t *p, size_t n)
{
    char *s = weft_malloc(2 * n + 1);
    if (s != NULL) {
        weft_crypto_hex(p, n, s);
    }
    return s;
}

static int read_file(const char *path, uint8_t **out, size_t *len, struct weft_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return weft_err_set(err, -errno, "%s: %s", path, strerror(errno));
    }
    struct weft_buf b;
    weft_buf_init(&b, MAX_BLOCK_FILE);
    uint8_t chunk[65536];
    int rc = 0;
    for (;;) {
        size_t n = fread(chunk, 1, sizeof(chunk), f);
        if (n > 0 && (rc = weft_buf_append(&b, chunk, n)) != 0) {
            weft_err_set(err, rc, "%s: too large or out of memory", path);
            break;
        }
        if (n < sizeof(chunk)) {
            if (ferror(f)) {
                rc = weft_err_set(err, WEFT_EIO, "%s: read error", path);
            }
            break;
        }
    }
    fclose(f);
    if (rc != 0) {
        weft_buf_close(&b);
        return rc;
    }
    if (b.data == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "%s: empty file", path);
    }
    *out = weft_buf_steal(&b, len);
    return 0;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Unpacks a block, drops its TRANSACTIONS_FILTER and packs it again. *out
 * weft_malloc'd; *blk (may be NULL) keeps the unpacked block (free with
 * common__block__free_unpacked(.., RPB)). */
static int strip_filter(const uint8_t *bytes, size_t len, uint8_t **out, size_t *out_len,
                        Common__Block **blk, struct weft_err *err)
{
    Common__Block *b = common__block__unpack(RPB, len, bytes);
    if (b == NULL || b->header == NULL || b->data == NULL) {
        if (b != NULL) {
            common__block__free_unpacked(b, RPB);
        }
        return weft_err_set(err, WEFT_EPARSE, "not a common.Block with header and data");
    }
    if (b->metadata != NULL &&
        b->metadata->n_metadata > COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER) {
        ProtobufCBinaryData *f =
            &b->metadata->metadata[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER];
        weft_free(f->data);
        f->data = NULL;
        f->len = 0;
    }
    size_t n = protobuf_c_message_get_packed_size(&b->base);
    uint8_t *o = weft_malloc(n > 0 ? n : 1);
    if (o == NULL) {
        common__block__free_unpacked(b, RPB);
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    protobuf_c_message_pack(&b->base, o);
    *out = o;
    *out_len = n;
    if (blk != NULL) {
        *blk = b;
    } else {
        common__block__free_unpacked(b, RPB);
    }
    return 0;
}

static int header_hash(const Common__BlockHeader *h, uint8_t out[WEFT_LEDGER_HASH_LEN])
{
    return weft_ledger_header_hash(h->number, h->previous_hash.data, h->previous_hash.len,
                                   h->data_hash.data, h->data_hash.len, out);
}

/* ---- namespaces written by a valid transaction ------------------------------------ */

static void add_ns(struct replay *r, const char *ns)
{
    for (size_t i = 0; i < r->n_ns; i++) {
        if (strcmp(r->ns[i], ns) == 0) {
            return;
        }
    }
    if (r->n_ns >= MAX_NAMESPACES) {
        r->cb_err = WEFT_ETOOBIG;
        return;
    }
    char **n = weft_realloc(r->ns, (r->n_ns + 1) * sizeof(*n));
    char *s = weft_strdup(ns);
    if (n == NULL || s == NULL) {
        if (n != NULL) {
            r->ns = n;
        }
        weft_free(s);
        r->cb_err = WEFT_ENOMEM;
        return;
    }
    r->ns = n;
    r->ns[r->n_ns++] = s;
}

static void action_ns(struct replay *r, const ProtobufCBinaryData *action_payload)
{
    Protos__ChaincodeActionPayload *cap =
        protos__chaincode_action_payload__unpack(RPB, action_payload->len, action_payload->data);
    if (cap == NULL || cap->action == NULL) {
        goto out;
    }
    Protos__ProposalResponsePayload *prp =
        protos__proposal_response_payload__unpack(RPB, cap->action->proposal_response_payload.len,
                                                  cap->action->proposal_response_payload.data);
    if (prp == NULL) {
        goto out;
    }
    Protos__ChaincodeAction *ca =
        protos__chaincode_action__unpack(RPB, prp->extension.len, prp->extension.data);
    if (ca != NULL) {
        Rwset__TxReadWriteSet *rws =
            rwset__tx_read_write_set__unpack(RPB, ca->results.len, ca->results.data);
        for (size_t i = 0; rws != NULL && i < rws->n_ns_rwset; i++) {
            if (rws->ns_rwset[i]->namespace_ != NULL) {
                add_ns(r, rws->ns_rwset[i]->namespace_);
            }
        }
        if (rws != NULL) {
            rwset__tx_read_write_set__free_unpacked(rws, RPB);
        }
        protos__chaincode_action__free_unpacked(ca, RPB);
    }
    protos__proposal_response_payload__free_unpacked(prp, RPB);
out:
    if (cap != NULL) {
        protos__chaincode_action_payload__free_unpacked(cap, RPB);
    }
}

static void tx_ns(struct replay *r, const ProtobufCBinaryData *d)
{
    Common__Envelope *env = common__envelope__unpack(RPB, d->len, d->data);
    Common__Payload *pl =
        env != NULL ? common__payload__unpack(RPB, env->payload.len, env->payload.data) : NULL;
    Common__ChannelHeader *ch =
        pl != NULL && pl->header != NULL
            ? common__channel_header__unpack(RPB, pl->header->channel_header.len,
                                             pl->header->channel_header.data)
            : NULL;
    if (ch != NULL && ch->type == COMMON__HEADER_TYPE__CONFIG) {
        add_ns(r, ""); /* CHANNEL_CONFIG_ENV_BYTES */
    } else if (ch != NULL && ch->type == COMMON__HEADER_TYPE__ENDORSER_TRANSACTION) {
        Protos__Transaction *tx = protos__transaction__unpack(RPB, pl->data.len, pl->data.data);
        for (size_t i = 0; tx != NULL && i < tx->n_actions; i++) {
            action_ns(r, &tx->actions[i]->payload);
        }
        if (tx != NULL) {
            protos__transaction__free_unpacked(tx, RPB);
        }
    }
    if (ch != NULL) {
        common__channel_header__free_unpacked(ch, RPB);
    }
    if (pl != NULL) {
        common__payload__free_unpacked(pl, RPB);
    }
    if (env != NULL) {
        common__envelope__free_unpacked(env, RPB);
    }
}

/* Commit thread: records the committed block. */
static void on_commit(void *ctx, uint64_t number, const uint8_t *codes, size_t ntx,
                      const struct Common__Block *blk)
{
    struct replay *r = ctx;
    if (number >= r->cap) {
        /* a Deliver source sent blocks past --until: record them too (the
         * main thread reads recs only after the committer stopped) */
        size_t nc = (size_t)number + 64;
        struct blk_rec *g =
            number < (uint64_t)1 << 32 ? weft_realloc(r->recs, nc * sizeof(*g)) : NULL;
        if (g == NULL) {
            r->cb_err = WEFT_ENOMEM;
            return;
        }
        memset(g + r->cap, 0, (nc - r->cap) * sizeof(*g));
        r->recs = g;
        r->cap = nc;
    }
    if (r->recs[number].done) {
        return;
    }
    struct blk_rec *rec = &r->recs[number];
    uint8_t hh[WEFT_LEDGER_HASH_LEN];
    if (header_hash(blk->header, hh) != 0) {
        r->cb_err = WEFT_EINVAL;
        return;
    }
    weft_crypto_hex(hh, sizeof(hh), rec->hh);
    rec->prev = hex_dup(blk->header->previous_hash.data, blk->header->previous_hash.len);
    rec->data = hex_dup(blk->header->data_hash.data, blk->header->data_hash.len);
    rec->codes = weft_memdup(codes, ntx > 0 ? ntx : 1);
    rec->ntx = ntx;
    if (rec->prev == NULL || rec->data == NULL || rec->codes == NULL) {
        r->cb_err = WEFT_ENOMEM;
        return;
    }
    for (size_t i = 0; i < ntx; i++) {
        if (codes[i] == WEFT_TXC_VALID) {
            tx_ns(r, &blk->data->data[i]);
        }
    }
    rec->done = true;
}

/* ---- blocks folder --------------------------------------------------------------- */

struct bfile {
    uint64_t number;
    char *path;
    uint8_t hh[WEFT_LEDGER_HASH_LEN];
    uint8_t prev[WEFT_LEDGER_HASH_LEN];
    size_t prev_len; /* 0 or 32; anything else cannot chain */
    uint8_t *filter; /* the TRANSACTIONS_FILTER the file carried (NULL: none) */
    size_t filter_len;
};

static int bfile_cmp(const void *a, const void *b)
{
    const struct bfile *x = a, *y = b;
    return x->number < y->number ? -1 : x->number > y->number ? 1 : 0;
}

static void bfiles_free(struct bfile *bf, size_t n)
{
    for (size_t i = 0; bf != NULL && i < n; i++) {
        weft_free(bf[i].path);
        weft_free(bf[i].filter);
    }
    weft_free(bf);
}

/* Reads every regular file of dir (names not starting with '.') as a block:
 * *out sorted by number, duplicates (same header) merged; a file that is
 * not a block, two different blocks with one number or a gap is an error. */
static int scan_blocks(const char *dir, struct bfile **out, size_t *n_out, struct weft_err *err)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return weft_err_set(err, -errno, "blocks folder %s: %s", dir, strerror(errno));
    }
    struct bfile *bf = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        char *p = weft_asprintf("%s/%s", dir, de->d_name);
        if (p == NULL) {
            rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
            break;
        }
        if (!is_file(p)) {
            weft_free(p);
            continue;
        }
        uint8_t *bytes = NULL;
        size_t len = 0;
        rc = read_file(p, &bytes, &len, err);
        Common__Block *b = rc == 0 ? common__block__unpack(RPB, len, bytes) : NULL;
        weft_free(bytes);
        if (rc == 0 && (b == NULL || b->header == NULL || b->data == NULL)) {
            rc = weft_err_set(err, WEFT_EPARSE, "%s: not a common.Block", p);
        }
        if (rc == 0 && n == cap) {
            size_t nc = cap == 0 ? 128 : 2 * cap;
            struct bfile *g = weft_realloc(bf, nc * sizeof(*g));
            if (g == NULL) {
                rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
            } else {
                bf = g;
                cap = nc;
            }
        }
        if (rc == 0) {
            struct bfile *e = &bf[n];
            memset(e, 0, sizeof(*e));
            e->number = b->header->number;
            e->path = p;
            p = NULL;
            n++;
            if (header_hash(b->header, e->hh) != 0) {
                rc = weft_err_set(err, WEFT_EINVAL, "%s: bad header", e->path);
            }
            e->prev_len = b->header->previous_hash.len;
            if (e->prev_len == WEFT_LEDGER_HASH_LEN) {
                memcpy(e->prev, b->header->previous_hash.data, WEFT_LEDGER_HASH_LEN);
            }
            const ProtobufCBinaryData *f =
                b->metadata != NULL &&
                        b->metadata->n_metadata > COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER
                    ? &b->metadata->metadata[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER]
                    : NULL;
            if (rc == 0 && f != NULL && f->len > 0) {
                e->filter = weft_memdup(f->data, f->len);
                e->filter_len = f->len;
                if (e->filter == NULL) {
                    rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
                }
            }
        }
        weft_free(p);
        if (b != NULL) {
            common__block__free_unpacked(b, RPB);
        }
        if (rc != 0) {
            break;
        }
    }
    closedir(d);
    if (rc == 0 && n == 0) {
        rc = weft_err_set(err, WEFT_ENOTFOUND, "blocks folder %s holds no block", dir);
    }
    if (rc != 0) {
        bfiles_free(bf, n);
        return rc;
    }
    qsort(bf, n, sizeof(*bf), bfile_cmp);
    size_t w = 0, i = 0;
    for (; i < n && rc == 0; i++) {
        if (w > 0 && bf[w - 1].number == bf[i].number) {
            if (memcmp(bf[w - 1].hh, bf[i].hh, WEFT_LEDGER_HASH_LEN) != 0) {
                rc = weft_err_set(err, WEFT_EINVAL, "%s and %s: two different blocks %llu",
                                  bf[w - 1].path, bf[i].path, (unsigned long long)bf[i].number);
            }
            if (bf[w - 1].filter == NULL) { /* keep the copy that has the peer's codes */
                bf[w - 1].filter = bf[i].filter;
                bf[w - 1].filter_len = bf[i].filter_len;
                bf[i].filter = NULL;
            }
            weft_free(bf[i].path); /* a copy of the same block (genesis.block) */
            weft_free(bf[i].filter);
            continue;
        }
        if (bf[i].number != bf[0].number + w) {
            rc = weft_err_set(err, WEFT_ENOTFOUND, "block %llu missing from %s",
                              (unsigned long long)(bf[0].number + w), dir);
        }
        bf[w++] = bf[i];
    }
    if (rc != 0) {
        /* [0, w) were kept, [i, n) not looked at: both still own their paths */
        for (; i < n; i++) {
            weft_free(bf[i].path);
            weft_free(bf[i].filter);
        }
        bfiles_free(bf, w);
        return rc;
    }
    *out = bf;
    *n_out = w;
    return 0;
}

/* ---- report -------------------------------------------------------------------------- */

static int ns_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int put_be(struct weft_sha256 *h, uint64_t v, unsigned bytes)
{
    uint8_t b[8];
    for (unsigned i = 0; i < bytes; i++) {
        b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    }
    return weft_sha256_update(h, b, bytes);
}

static int dump_json(json_t *j, FILE *f)
{
    int rc = j != NULL ? json_dumpf(j, f, JSON_ENCODE_ANY | JSON_COMPACT) : -1;
    json_decref(j);
    return rc == 0 ? 0 : WEFT_EINVAL;
}

static char *b64_dup(const uint8_t *p, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *s = weft_malloc(4 * ((n + 2) / 3) + 1);
    if (s == NULL) {
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) {
            v |= (uint32_t)p[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= p[i + 2];
        }
        s[o++] = tbl[(v >> 18) & 63];
        s[o++] = tbl[(v >> 12) & 63];
        s[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        s[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    s[o] = '\0';
    return s;
}

/* Streams the report (blocks [0, height)) to path and computes the state
 * digest (hex into digest_hex). */
static int write_report(const char *path, struct replay *r, struct weft_ledger *l, uint64_t height,
                        char digest_hex[2 * WEFT_SHA256_LEN + 1], uint64_t *nkeys,
                        struct weft_err *err)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return weft_err_set(err, -errno, "report %s: %s", path, strerror(errno));
    }
    struct weft_sha256 *h = weft_sha256_new();
    struct weft_ledger_sim *q = NULL;
    int rc = h != NULL ? 0 : weft_err_set(err, WEFT_ENOMEM, "out of memory");
    *nkeys = 0;
    fputs("{\"blocks\":[", f);
    for (uint64_t n = 0; rc == 0 && n < height; n++) {
        const struct blk_rec *b = &r->recs[n];
        if (!b->done) {
            rc = weft_err_set(err, WEFT_EINVAL, "block %llu committed but not recorded",
                              (unsigned long long)n);
            break;
        }
        fprintf(f,
                "%s\n{\"number\":%llu,\"header_hash\":\"%s\",\"previous_hash\":\"%s\","
                "\"data_hash\":\"%s\",\"codes\":[",
                n > 0 ? "," : "", (unsigned long long)n, b->hh, b->prev, b->data);
        for (size_t i = 0; i < b->ntx; i++) {
            fprintf(f, "%s\"%s\"", i > 0 ? "," : "", weft_tx_code_name(b->codes[i]));
        }
        fputs("]}", f);
    }
    fputs("\n],\"state\":{", f);
    if (rc == 0) {
        qsort(r->ns, r->n_ns, sizeof(*r->ns), ns_cmp);
        rc = weft_ledger_qe_new(l, &q, err);
    }
    bool first_ns = true;
    for (size_t i = 0; rc == 0 && i < r->n_ns; i++) {
        const char *ns = r->ns[i];
        struct weft_ledger_range_iter *it = NULL;
        rc = weft_ledger_sim_range(q, ns, "", 0, "", 0, 0, &it, err);
        if (rc != 0) {
            break;
        }
        struct weft_ledger_kv kv;
        bool first_key = true;
        int more;
        while ((more = weft_ledger_range_next(it, &kv, err)) == 1) {
            if (first_key) {
                fputs(first_ns ? "\n" : ",\n", f);
                first_ns = false;
                if ((rc = dump_json(json_string(ns), f)) != 0) {
                    weft_err_set(err, rc, "namespace is not UTF-8");
                    break;
                }
                fputs(":{", f);
            }
            fputs(first_key ? "\n" : ",\n", f);
            first_key = false;
            if ((rc = dump_json(json_stringn((const char *)kv.key, kv.key_len), f)) != 0) {
                weft_err_set(err, rc, "namespace %s: a key is not UTF-8", ns);
                break;
            }
            char *v64 = b64_dup(kv.value, kv.value_len);
            if (v64 == NULL) {
                rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
                break;
            }
            fprintf(f, ":{\"value_b64\":\"%s\",\"version\":\"%llu:%llu\"}", v64,
                    (unsigned long long)kv.ver.block_num, (unsigned long long)kv.ver.tx_num);
            weft_free(v64);
            size_t nl = strlen(ns);
            if (put_be(h, nl, 4) != 0 || weft_sha256_update(h, ns, nl) != 0 ||
                put_be(h, kv.key_len, 4) != 0 || weft_sha256_update(h, kv.key, kv.key_len) != 0 ||
                put_be(h, kv.ver.block_num, 8) != 0 || put_be(h, kv.ver.tx_num, 8) != 0 ||
                put_be(h, kv.value_len, 4) != 0 ||
                weft_sha256_update(h, kv.value, kv.value_len) != 0) {
                rc = weft_err_set(err, WEFT_ECRYPTO, "state digest failed");
                break;
            }
            (*nkeys)++;
        }
        if (rc == 0 && more < 0) {
            rc = more;
        }
        if (rc == 0 && !first_key) {
            fputs("}", f);
        }
        weft_ledger_range_free(it);
    }
    weft_ledger_sim_free(q);
    fprintf(f, "\n},\"height\":%llu}\n", (unsigned long long)height);
    uint8_t dg[WEFT_SHA256_LEN];
    if (rc == 0 && weft_sha256_final(h, dg) != 0) {
        rc = weft_err_set(err, WEFT_ECRYPTO, "state digest failed");
    }
    if (rc == 0) {
        weft_crypto_hex(dg, sizeof(dg), digest_hex);
    }
    weft_sha256_free(h);
    if (fclose(f) != 0 && rc == 0) {
        rc = weft_err_set(err, WEFT_EIO, "report %s: write failed", path);
    }
    return rc;
}

/* ---- the command ---------------------------------------------------------------------- */

/* --check-filter: each committed block's codes against the TRANSACTIONS_FILTER
 * its file carried (the codes the Fabric peer it came from assigned). Prints
 * every difference; returns their number (blocks without a filter other
 * than the genesis count as one each). */
static uint64_t check_filters(const struct bfile *bf, size_t nbf, const struct replay *r,
                              uint64_t height)
{
    uint64_t diffs = 0, compared = 0;
    for (size_t k = 0; k < nbf; k++) {
        const struct bfile *b = &bf[k];
        if (b->number >= height) {
            break;
        }
        const struct blk_rec *rec = &r->recs[b->number];
        if (b->filter == NULL) {
            if (b->number > 0) {
                fprintf(stderr, "check-filter: block %llu (%s) carries no TRANSACTIONS_FILTER\n",
                        (unsigned long long)b->number, b->path);
                diffs++;
            }
            continue;
        }
        if (b->filter_len != rec->ntx) {
            fprintf(stderr, "check-filter: block %llu: %zu codes in its filter, %zu transactions\n",
                    (unsigned long long)b->number, b->filter_len, rec->ntx);
            diffs++;
            continue;
        }
        for (size_t i = 0; i < rec->ntx; i++) {
            if (b->filter[i] != rec->codes[i]) {
                fprintf(stderr, "check-filter: block %llu tx %zu: weft %s, the peer %s\n",
                        (unsigned long long)b->number, i, weft_tx_code_name(rec->codes[i]),
                        weft_tx_code_name(b->filter[i]));
                diffs++;
            }
        }
        compared += rec->ntx;
    }
    printf("check-filter: %llu transactions compared with the blocks' TRANSACTIONS_FILTER, "
           "%llu differences\n",
           (unsigned long long)compared, (unsigned long long)diffs);
    return diffs;
}

static int usage(FILE *f)
{
    fprintf(
        f,
        "Usage:\n"
        "  weft ledger replay --genesis FILE --blocks DIR --dir LEDGER_DIR --report REPORT.json\n"
        "  weft ledger replay --blocks VECTOR_DIR --dir LEDGER_DIR --report REPORT.json\n"
        "  (either form: [--check-filter] [--verifier-threads N] [--no-sync])\n"
        "  weft ledger replay --genesis FILE --deliver HOST:PORT --until HEIGHT --msp DIR\n"
        "                     --mspid ID [--tls-ca PEM [--tls-cert PEM --tls-key PEM]\n"
        "                     [--server-name NAME]] [--method /orderer.AtomicBroadcast/Deliver]\n"
        "                     [--timeout SECONDS] --dir LEDGER_DIR --report REPORT.json\n\n"
        "Validates and commits a channel's blocks with weft's committer (orderer\n"
        "signatures against BlockValidation, config blocks, _lifecycle, endorsement\n"
        "policies, MVCC) into a new ledger under LEDGER_DIR, and writes REPORT.json:\n"
        "  {\"blocks\": [{\"number\", \"header_hash\", \"previous_hash\", \"data_hash\",\n"
        "               \"codes\": [...]}], \"state\": {ns: {key: {\"value_b64\",\n"
        "   \"version\": \"block:tx\"}}}, \"height\": N}\n"
        "DIR holds one common.Block per file (any names; `peer channel fetch` output);\n"
        "their TRANSACTIONS_FILTER is removed. A folder with a blocks/ subfolder (the\n"
        "conformance vector layout) is accepted, and blocks/genesis.block (or block 0)\n"
        "is the genesis when --genesis is not given. --deliver pulls the blocks from a\n"
        "Deliver service instead (default method /orderer.AtomicBroadcast/Deliver;\n"
        "a peer's is /protos.Deliver/Deliver), signing seeks with the MSP in DIR.\n"
        "A block failing its orderer signatures, data hash or hash chain stops the\n"
        "replay (exit 1, the report covers the blocks before it). Prints the state\n"
        "digest (docs/conformance.md). --check-filter compares every code with the\n"
        "TRANSACTIONS_FILTER the block files carry (blocks fetched from a Fabric peer)\n"
        "and fails on any difference. --no-sync skips fsync (a throw-away ledger).\n");
    return f == stdout ? 0 : 2;
}

static int parse_args(int argc, char **argv, struct replay_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->timeout_s = 600;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **dst = NULL;
        if (strcmp(a, "--genesis") == 0) {
            dst = &o->genesis;
        } else if (strcmp(a, "--blocks") == 0) {
            dst = &o->blocks;
        } else if (strcmp(a, "--dir") == 0) {
            dst = &o->dir;
        } else if (strcmp(a, "--report") == 0) {
            dst = &o->report;
        } else if (strcmp(a, "--deliver") == 0) {
            dst = &o->deliver;
        } else if (strcmp(a, "--msp") == 0) {
            dst = &o->msp_dir;
        } else if (strcmp(a, "--mspid") == 0) {
            dst = &o->mspid;
        } else if (strcmp(a, "--tls-ca") == 0) {
            dst = &o->tls_ca;
        } else if (strcmp(a, "--tls-cert") == 0) {
            dst = &o->tls_cert;
        } else if (strcmp(a, "--tls-key") == 0) {
            dst = &o->tls_key;
        } else if (strcmp(a, "--server-name") == 0) {
            dst = &o->server_name;
        } else if (strcmp(a, "--method") == 0) {
            dst = &o->method;
        } else if (strcmp(a, "--until") == 0 && v != NULL) {
            if (weft_parse_u64(v, &o->until) != 0 || o->until == 0) {
                return -1;
            }
            o->have_until = true;
            i++;
            continue;
        } else if (strcmp(a, "--timeout") == 0 && v != NULL) {
            if (weft_parse_u64(v, &o->timeout_s) != 0) {
                return -1;
            }
            i++;
            continue;
        } else if (strcmp(a, "--no-sync") == 0) {
            o->no_sync = true;
            continue;
        } else if (strcmp(a, "--check-filter") == 0) {
            o->check_filter = true;
            continue;
        } else if (strcmp(a, "--verifier-threads") == 0 && v != NULL) {
            uint64_t t;
            if (weft_parse_u64(v, &t) != 0 || t == 0 || t > 256) {
                return -1;
            }
            o->threads = (unsigned)t;
            i++;
            continue;
        } else {
            return -1;
        }
        if (v == NULL) {
            return -1;
        }
        *dst = v;
        i++;
    }
    if (o->dir == NULL || o->report == NULL) {
        return -1;
    }
    if (o->deliver != NULL) {
        if (o->blocks != NULL || o->genesis == NULL || !o->have_until || o->msp_dir == NULL ||
            o->mspid == NULL) {
            return -1;
        }
    } else if (o->blocks == NULL) {
        return -1;
    }
    if (o->check_filter && o->blocks == NULL) {
        return -1;
    }
    return 0;
}

struct run {
    struct replay_opts *o;
    struct replay r;
    char *blocks_dir;
    char *genesis_path;
    struct bfile *bf;
    size_t nbf;
    struct weft_ledger *l;
    struct weft_vcache *cache;
    struct weft_verifier *ver;
    struct weft_committer *c;
    struct weft_msp *signer;
    struct weft_blockpuller *puller;
    char *channel;
};

/* Genesis bytes: --genesis, else <blocks>/genesis.block, else block 0. */
static int load_genesis(struct run *x, uint8_t **g, size_t *gl, struct weft_err *err)
{
    const char *p = x->o->genesis;
    if (p == NULL && x->genesis_path != NULL && is_file(x->genesis_path)) {
        p = x->genesis_path;
    }
    if (p == NULL && x->nbf > 0 && x->bf[0].number == 0) {
        p = x->bf[0].path;
    }
    if (p == NULL) {
        return weft_err_set(err, WEFT_ENOTFOUND, "no genesis block: give --genesis FILE");
    }
    int rc = read_file(p, g, gl, err);
    if (rc != 0) {
        return weft_err_prefix(err, "genesis");
    }
    return 0;
}

/* Waits for the committer to have examined everything queued; when a block
 * was refused, reproduces the refusal synchronously to get its reason. */
static int finish_dir(struct run *x, uint64_t target, struct weft_err *err)
{
    uint64_t next = weft_committer_next_number(x->c);
    int rc = weft_committer_wait_height(x->c, next, 0, err);
    if (rc != 0) {
        return rc;
    }
    if (next >= target) {
        return 0;
    }
    /* block `next` was refused: submit it again alone for the reason */
    size_t idx = (size_t)(next - x->bf[0].number);
    uint8_t *bytes = NULL, *stripped = NULL;
    size_t len = 0, sl = 0;
    rc = read_file(x->bf[idx].path, &bytes, &len, err);
    if (rc == 0) {
        rc = strip_filter(bytes, len, &stripped, &sl, NULL, err);
    }
    weft_free(bytes);
    if (rc == 0) {
        rc = weft_committer_commit_block(x->c, stripped, sl, NULL, 0, err);
        if (rc == 0) {
            rc = weft_err_set(err, WEFT_EINVAL, "block %llu refused once, then accepted",
                              (unsigned long long)next);
        }
    }
    weft_free(stripped);
    return rc;
}

static int replay_dir(struct run *x, uint64_t *target, struct weft_err *err)
{
    if (x->bf[0].number > 1) {
        return weft_err_set(err, WEFT_ENOTFOUND, "block 1 missing from %s", x->blocks_dir);
    }
    uint64_t last = x->bf[0].number + x->nbf - 1;
    *target = last + 1;
    const uint8_t *prev_hh = NULL;
    uint8_t g_hh[WEFT_LEDGER_HASH_LEN];
    {
        struct weft_ledger_info info;
        weft_ledger_info(x->l, &info);
        memcpy(g_hh, info.current_hash, sizeof(g_hh));
        prev_hh = g_hh;
    }
    for (size_t i = 0; i < x->nbf; i++) {
        const struct bfile *b = &x->bf[i];
        if (b->number == 0) {
            if (memcmp(b->hh, g_hh, sizeof(g_hh)) != 0) {
                return weft_err_set(err, WEFT_EINVAL, "block 0 (%s) is not the genesis block given",
                                    b->path);
            }
            continue;
        }
        if (weft_committer_refused(x->c, NULL) > 0 || weft_committer_status(x->c, NULL) != 0) {
            break; /* finish_dir reports it */
        }
        if (b->prev_len != WEFT_LEDGER_HASH_LEN ||
            memcmp(b->prev, prev_hh, WEFT_LEDGER_HASH_LEN) != 0) {
            int rc = finish_dir(x, b->number, err);
            if (rc != 0) {
                return rc;
            }
            return weft_err_set(err, WEFT_EINVAL,
                                "block %llu (%s): previous hash does not match the header hash "
                                "of block %llu",
                                (unsigned long long)b->number, b->path,
                                (unsigned long long)(b->number - 1));
        }
        prev_hh = b->hh;
        uint8_t *bytes = NULL, *stripped = NULL;
        size_t len = 0, sl = 0;
        int rc = read_file(b->path, &bytes, &len, err);
        if (rc == 0) {
            rc = strip_filter(bytes, len, &stripped, &sl, NULL, err);
            if (rc != 0) {
                weft_err_prefix(err, "%s", b->path);
            }
        }
        weft_free(bytes);
        if (rc == 0) {
            rc = weft_committer_submit(x->c, stripped, sl, 0, err);
            if (rc != 0) {
                weft_free(stripped);
            }
        }
        if (rc == WEFT_ESHUTDOWN) {
            break;
        }
        if (rc != 0) {
            return rc;
        }
    }
    int rc = weft_committer_status(x->c, err);
    if (rc != 0) {
        return rc;
    }
    return finish_dir(x, *target, err);
}

static int replay_deliver(struct run *x, uint64_t *target, struct weft_err *err)
{
    struct replay_opts *o = x->o;
    *target = o->until;
    int rc = weft_msp_load_dir(o->msp_dir, o->mspid, &x->signer, err);
    if (rc != 0) {
        return weft_err_prefix(err, "msp %s", o->msp_dir);
    }
    struct weft_rpc_client_opts co;
    memset(&co, 0, sizeof(co));
    if (o->tls_ca != NULL) {
        co.tls = true;
        co.ca.file = o->tls_ca;
        co.cert.file = o->tls_cert;
        co.key.file = o->tls_key;
        co.server_name_override = o->server_name;
    }
    const char *eps[1] = {o->deliver};
    struct weft_blockpuller_options po = {
        .channel = x->channel,
        .committer = x->c,
        .endpoints = eps,
        .n_endpoints = 1,
        .client = &co,
        .signer = x->signer,
        .backoff_min_ms = 100,
        .backoff_max_ms = 2000,
        .method = o->method,
    };
    rc = weft_blockpuller_new(&po, &x->puller, err);
    if (rc != 0) {
        return weft_err_prefix(err, "block puller");
    }
    uint64_t deadline = weft_clock_mono_ns() + o->timeout_s * 1000000000ull;
    for (;;) {
        uint64_t step = weft_clock_mono_ns() + 200000000ull;
        rc = weft_committer_wait_height(x->c, o->until, step < deadline ? step : deadline, err);
        if (rc == 0) {
            break;
        }
        if (rc != WEFT_ETIMEDOUT) {
            return rc;
        }
        struct weft_err rerr = {0};
        if (weft_committer_refused(x->c, &rerr) > 0) {
            *err = rerr;
            return rerr.code != 0 ? rerr.code : WEFT_EINVAL;
        }
        if (weft_clock_mono_ns() >= deadline) {
            return weft_err_set(err, WEFT_ETIMEDOUT, "height %llu not reached in %llu s (at %llu)",
                                (unsigned long long)o->until, (unsigned long long)o->timeout_s,
                                (unsigned long long)weft_committer_height(x->c));
        }
    }
    weft_blockpuller_free(x->puller);
    x->puller = NULL;
    return 0;
}

static void run_close(struct run *x)
{
    weft_blockpuller_free(x->puller);
    weft_committer_free(x->c);
    weft_verifier_free(x->ver);
    weft_vcache_free(x->cache);
    weft_ledger_close(x->l);
    weft_msp_unref(x->signer);
    bfiles_free(x->bf, x->nbf);
    weft_free(x->blocks_dir);
    weft_free(x->genesis_path);
    weft_free(x->channel);
    for (size_t i = 0; i < x->r.cap; i++) {
        weft_free(x->r.recs[i].prev);
        weft_free(x->r.recs[i].data);
        weft_free(x->r.recs[i].codes);
    }
    weft_free(x->r.recs);
    for (size_t i = 0; i < x->r.n_ns; i++) {
        weft_free(x->r.ns[i]);
    }
    weft_free(x->r.ns);
}

int cmd_ledger_replay(int argc, char **argv)
{
    if (cmd_wants_help(argc, argv)) {
        return usage(stdout);
    }
    struct replay_opts o;
    if (parse_args(argc, argv, &o) != 0) {
        return usage(stderr);
    }
    struct run x;
    memset(&x, 0, sizeof(x));
    x.o = &o;
    struct weft_err err;
    weft_err_clear(&err);
    uint8_t *g = NULL, *gs = NULL;
    size_t gl = 0, gsl = 0;
    Common__Block *gb = NULL;
    struct weft_channel_config *cfg = NULL;
    uint64_t target = 0, t0 = weft_clock_mono_ns();
    bool committed_any = false;
    int rc = 0;

    if (o.blocks != NULL) {
        char *sub = weft_asprintf("%s/blocks", o.blocks);
        if (sub == NULL) {
            rc = weft_err_set(&err, WEFT_ENOMEM, "out of memory");
            goto out;
        }
        if (is_dir(sub)) {
            x.blocks_dir = sub; /* the vector layout */
        } else {
            weft_free(sub);
            x.blocks_dir = weft_strdup(o.blocks);
        }
        x.genesis_path = weft_asprintf("%s/genesis.block", x.blocks_dir);
        if (x.blocks_dir == NULL || x.genesis_path == NULL) {
            rc = weft_err_set(&err, WEFT_ENOMEM, "out of memory");
            goto out;
        }
        if ((rc = scan_blocks(x.blocks_dir, &x.bf, &x.nbf, &err)) != 0) {
            goto out;
        }
    }
    if ((rc = load_genesis(&x, &g, &gl, &err)) != 0 ||
        (rc = strip_filter(g, gl, &gs, &gsl, &gb, &err)) != 0) {
        goto out;
    }
    if (gb->header->number != 0) {
        rc = weft_err_set(&err, WEFT_EINVAL, "genesis: block %llu is not block 0",
                          (unsigned long long)gb->header->number);
        goto out;
    }
    if ((rc = weft_channel_config_from_block(gs, gsl, 0, &cfg, &err)) != 0) {
        weft_err_prefix(&err, "genesis");
        goto out;
    }
    x.channel = weft_strdup(cfg->channel_id);
    if (x.channel == NULL) {
        rc = weft_err_set(&err, WEFT_ENOMEM, "out of memory");
        goto out;
    }
    {
        struct weft_ledger_options lo;
        weft_ledger_options_init(&lo);
        lo.root = o.dir;
        lo.channel = x.channel;
        lo.no_sync = o.no_sync;
        if ((rc = weft_ledger_open(&x.l, &lo, &err)) != 0) {
            weft_err_prefix(&err, "ledger %s", o.dir);
            goto out;
        }
        struct weft_ledger_info info;
        weft_ledger_info(x.l, &info);
        if (info.height != 0) {
            rc = weft_err_set(&err, WEFT_EEXIST,
                              "ledger %s already holds %llu blocks of %s: use an empty folder",
                              o.dir, (unsigned long long)info.height, x.channel);
            goto out;
        }
    }
    {
        uint64_t cap = o.deliver != NULL ? o.until : x.bf[0].number + x.nbf;
        if (cap < 1 || cap > (uint64_t)1 << 32) {
            rc = weft_err_set(&err, WEFT_EINVAL, "bad height %llu", (unsigned long long)cap);
            goto out;
        }
        x.r.cap = (size_t)cap;
        x.r.recs = weft_calloc(x.r.cap, sizeof(*x.r.recs));
        if (x.r.recs == NULL) {
            rc = weft_err_set(&err, WEFT_ENOMEM, "out of memory");
            goto out;
        }
    }
    {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned threads = o.threads > 0 ? o.threads : ncpu > 1 ? (unsigned)(ncpu - 1) : 1;
        x.cache = weft_vcache_new(65536);
        x.ver = weft_verifier_new(threads, x.cache);
        if (x.cache == NULL || x.ver == NULL) {
            rc = weft_err_set(&err, WEFT_ENOMEM, "cannot start the verifier");
            goto out;
        }
        struct weft_committer_options co = {.config = cfg,
                                            .ledger = x.l,
                                            .verifier = x.ver,
                                            .cache = x.cache,
                                            .verify_orderer_sigs = true,
                                            .on_commit = on_commit,
                                            .ctx = &x.r};
        if ((rc = weft_committer_new(&co, &x.c, &err)) != 0) {
            goto out;
        }
        cfg = NULL; /* owned by the committer */
    }
    /* join: block 0 */
    rc = weft_committer_commit_block(x.c, gs, gsl, NULL, 0, &err);
    if (rc != 0) {
        weft_err_prefix(&err, "genesis");
        goto out;
    }
    committed_any = true;
    rc = o.deliver != NULL ? replay_deliver(&x, &target, &err) : replay_dir(&x, &target, &err);

out:;
    int exit_code = rc == 0 ? 0 : 1;
    if (rc != 0) {
        fprintf(stderr, "weft ledger replay: %s\n", err.msg);
    }
    if (committed_any) {
        /* stop pulling and committing before reading the ledger */
        weft_blockpuller_free(x.puller);
        x.puller = NULL;
        uint64_t height = weft_committer_height(x.c);
        struct weft_validator_stats st;
        weft_committer_get_stats(x.c, &st);
        weft_committer_free(x.c);
        x.c = NULL;
        double secs = (double)(weft_clock_mono_ns() - t0) / 1e9;
        struct weft_err rerr;
        weft_err_clear(&rerr);
        char digest[2 * WEFT_SHA256_LEN + 1] = "";
        uint64_t nkeys = 0;
        if (x.r.cb_err != 0) {
            fprintf(stderr, "weft ledger replay: recording committed blocks failed (%d)\n",
                    x.r.cb_err);
            exit_code = 1;
        } else if (write_report(o.report, &x.r, x.l, height, digest, &nkeys, &rerr) != 0) {
            fprintf(stderr, "weft ledger replay: %s\n", rerr.msg);
            exit_code = 1;
        } else {
            uint64_t counts[256] = {0}, ntx = 0;
            for (uint64_t n = 0; n < height; n++) {
                for (size_t i = 0; i < x.r.recs[n].ntx; i++) {
                    counts[x.r.recs[n].codes[i]]++;
                    ntx++;
                }
            }
            printf("replay %s: height %llu, %llu transactions (", x.channel,
                   (unsigned long long)height, (unsigned long long)ntx);
            bool first = true;
            for (int c = 0; c < 256; c++) {
                if (counts[c] > 0) {
                    printf("%s%s %llu", first ? "" : ", ", weft_tx_code_name(c),
                           (unsigned long long)counts[c]);
                    first = false;
                }
            }
            printf("), %llu signature checks, %.3f s\n", (unsigned long long)st.sig_checks, secs);
            printf("state: %llu keys, digest %s\n", (unsigned long long)nkeys, digest);
            printf("report: %s\n", o.report);
            if (o.check_filter && check_filters(x.bf, x.nbf, &x.r, height) > 0) {
                exit_code = 1;
            }
        }
    }
    weft_free(g);
    weft_free(gs);
    if (gb != NULL) {
        common__block__free_unpacked(gb, RPB);
    }
    weft_channel_config_free(cfg);
    run_close(&x);
    return exit_code;
}
