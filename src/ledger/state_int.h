/*
 * Internal API of the world state, history, simulator and MVCC validator
 * (files statedb.c, history.c, simulator.c, query.c, mvcc.c, rwset.c,
 * compositekey.c). The block store (ledger.c) calls the ledger__state_* and
 * ledger__updates_* functions; tests may call everything here.
 *
 * This header does not include <lmdb.h>: it repeats LMDB's own typedefs
 * (identical redeclarations are valid C11), so a test can include it.
 *
 * Layout of the two DBIs owned here ("state", "history"): docs/ledger-state.md.
 *
 * Threads: a struct ledger_state is immutable after open (except the tx
 * fetcher, set once before use) and may be shared by any number of threads;
 * every read runs in its own short read txn; ledger__state_apply runs in the
 * committer's write txn.
 */
#ifndef WEFT_LEDGER_STATE_INT_H
#define WEFT_LEDGER_STATE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.pb-c.h"
#include "gate.h"
#include "ledger/rwset/rwset.pb-c.h"
#include "weft/base.h"
#include "weft/ledger_state.h"

typedef struct MDB_env MDB_env;
typedef struct MDB_txn MDB_txn;
typedef unsigned int MDB_dbi;

/* Fetches the serialized Envelope of transaction tx_num of block block_num.
 * *env is freed by the caller with weft_free. Used by history queries to get
 * the tx id, timestamp and written value (Fabric reads them from the block
 * too). The block store installs one with ledger__state_set_tx_fetcher. */
typedef int (*ledger_tx_fetch_fn)(void *ctx, uint64_t block_num, uint64_t tx_num, uint8_t **env,
                                  size_t *env_len, struct weft_err *err);

struct ledger_state {
    MDB_env *env;
    MDB_dbi dbi_state;   /* ns 0x00 key -> record (docs/ledger-state.md) */
    MDB_dbi dbi_history; /* ns 0x00 u32be(len) key u64be(block) u64be(tx) -> flags */
    bool own_env;        /* opened by ledger__state_open_dir */
    /* Optional: the block store's map-resize lock; every read txn here holds
     * its read side (ledger_int.h txn_lock). NULL for a standalone state. */
    struct ledger_gate *txn_lock;
    ledger_tx_fetch_fn fetch;
    void *fetch_ctx;
};

/* ---- open / close (statedb.c) ------------------------------------------ */

/* Opens (creating) the "state" and "history" DBIs inside txn, a write txn
 * of env that the caller commits. env must allow >= 2 more named DBIs. */
int ledger__state_open(struct ledger_state **out, MDB_env *env, MDB_txn *txn,
                       struct weft_err *err) WEFT_WARN_UNUSED;
/* Frees the handle (and the environment if it owns one). NULL-safe. */
void ledger__state_close(struct ledger_state *st);
/* Standalone state in its own LMDB environment under dir (tests, tools). */
int ledger__state_open_dir(struct ledger_state **out, const char *dir, bool no_sync,
                           struct weft_err *err) WEFT_WARN_UNUSED;
/* Installs the block store's lock / tx fetcher (call right after open). */
void ledger__state_set_lock(struct ledger_state *st, struct ledger_gate *txn_lock);
void ledger__state_set_tx_fetcher(struct ledger_state *st, ledger_tx_fetch_fn fn, void *ctx);

/* Read txn helpers honouring txn_lock. */
int ledger__state_read_begin(struct ledger_state *st, MDB_txn **txn, struct weft_err *err);
void ledger__state_read_end(struct ledger_state *st, MDB_txn *txn);

/* ---- updates of one block (rwset.c) -------------------------------------- */

enum ledger_op_kind {
    LEDGER_OP_PUT = 1,  /* value (and metadata when has_meta) */
    LEDGER_OP_DEL = 2,  /* delete value and metadata */
    LEDGER_OP_META = 3, /* metadata-only write (no-op on a missing key) */
};

/* One write of one valid transaction, in block order. Byte pointers point
 * into the updates' own arena. */
struct ledger_op {
    const char *ns; /* public ns, or ns "$$h" collection for hashed state */
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
    const uint8_t *meta; /* ser(KVMetadataWrite{entries sorted}); NULL = none */
    size_t meta_len;
    uint64_t block, tx;
    uint8_t kind;    /* enum ledger_op_kind */
    bool has_meta;   /* PUT: this tx also wrote the metadata (else carried over) */
    bool history;    /* add a history entry (public KVWrite of an endorser tx) */
};

struct ledger_arena_chunk;

struct ledger_updates {
    uint64_t block;
    struct ledger_op *ops;
    size_t n, cap;
    struct ledger_arena_chunk *chunks;
};

/* Builds the updates of a block from its valid transactions (codes[i] == 0;
 * ntx must equal the number of data entries): endorser transactions' public
 * and hashed writes and metadata writes, and a CONFIG tx's ConfigEnvelope
 * under namespace "" key "CHANNEL_CONFIG_ENV_BYTES". An unparsable valid
 * transaction is an error (WEFT_EPARSE): the committer must mark it first. */
int ledger__updates_from_block(const Common__Block *blk, const uint8_t *tx_codes, size_t ntx,
                               struct ledger_updates **out, struct weft_err *err) WEFT_WARN_UNUSED;
void ledger__updates_free(struct ledger_updates *u);
/* Appends the writes of one valid tx (used by the validator and tests). */
int ledger__updates_add_tx(struct ledger_updates *u, uint64_t tx_num,
                           const Rwset__TxReadWriteSet *rws, struct weft_err *err) WEFT_WARN_UNUSED;
struct ledger_updates *ledger__updates_new(uint64_t block);
int ledger__updates_add(struct ledger_updates *u, const struct ledger_op *op) WEFT_WARN_UNUSED;

/* Applies the updates in txn (the block store's commit txn): state records
 * at version (block, tx) and history entries. */
int ledger__state_apply(struct ledger_state *st, MDB_txn *txn, const struct ledger_updates *u,
                        struct weft_err *err) WEFT_WARN_UNUSED;
/* Standalone commit (own write txn) for a state from ledger__state_open_dir. */
int ledger__state_commit(struct ledger_state *st, const struct ledger_updates *u,
                         struct weft_err *err) WEFT_WARN_UNUSED;

/* ---- record and key encoding (statedb.c) --------------------------------- */

#define LEDGER_REC_FMT 1u
#define LEDGER_REC_HDR_LEN 21u /* fmt(1) block(8) tx(8) meta_len(4) */

/* Builds ns 0x00 key into a new buffer. */
int ledger__state_key(const char *ns, const uint8_t *key, size_t key_len, uint8_t **out,
                      size_t *out_len) WEFT_WARN_UNUSED;
/* Parses a stored record; pointers point into rec. */
int ledger__rec_decode(const uint8_t *rec, size_t len, struct weft_ledger_version *ver,
                       const uint8_t **meta, size_t *meta_len, const uint8_t **value,
                       size_t *value_len) WEFT_WARN_UNUSED;
/* Point read inside txn; *found = false when absent. Pointers valid until txn ends. */
int ledger__state_get_in(struct ledger_state *st, MDB_txn *txn, const char *ns,
                         const uint8_t *key, size_t key_len, bool *found,
                         struct weft_ledger_version *ver, const uint8_t **value, size_t *value_len,
                         const uint8_t **meta, size_t *meta_len, struct weft_err *err) WEFT_WARN_UNUSED;

/* ---- range scan (query.c) ----------------------------------------------- */

/* In-block overlay used by the MVCC validator: keys (ns 0x00 key) written by
 * earlier valid txs of the block, with their new existence and version. */
struct ledger_overlay_ent {
    uint8_t *fkey;
    size_t fkey_len;
    bool exists;
    struct weft_ledger_version ver;
};
struct ledger_overlay {
    struct ledger_overlay_ent **ents; /* sorted by fkey */
    size_t n, cap;
};
void ledger__overlay_init(struct ledger_overlay *o);
void ledger__overlay_free(struct ledger_overlay *o);
struct ledger_overlay_ent *ledger__overlay_find(const struct ledger_overlay *o, const uint8_t *fk,
                                                size_t fk_len);
int ledger__overlay_set(struct ledger_overlay *o, const uint8_t *fk, size_t fk_len, bool exists,
                        struct weft_ledger_version ver) WEFT_WARN_UNUSED;

/* Cursor over [start, end) (or [start, end] when end_inclusive) of one
 * namespace, committed state merged with an optional overlay. Empty end =
 * to the end of the namespace. limit 0 = none. */
struct ledger_scan_item {
    const uint8_t *key;   /* without the namespace prefix */
    size_t key_len;
    struct weft_ledger_version ver;
    const uint8_t *value; /* NULL for overlay items (validator only) */
    size_t value_len;
    const uint8_t *meta;
    size_t meta_len;
};
struct ledger_rscan;
int ledger__rscan_open(struct ledger_state *st, MDB_txn *txn, const char *ns,
                       const uint8_t *start, size_t start_len, const uint8_t *end, size_t end_len,
                       bool end_inclusive, const struct ledger_overlay *ov,
                       struct ledger_rscan **out, struct weft_err *err) WEFT_WARN_UNUSED;
/* 1 = item filled (valid until the next call), 0 = done, < 0 error. */
int ledger__rscan_next(struct ledger_rscan *s, struct ledger_scan_item *it, struct weft_err *err);
void ledger__rscan_close(struct ledger_rscan *s);

/* ---- KVRWSet wire codec (rwset.c) -----------------------------------------
 * protobuf-c maps proto `string` to NUL-terminated char *, which cannot hold
 * composite keys (they contain U+0000), so KVRWSet is encoded and decoded
 * here by hand. Decoded byte pointers point into the input buffer. */

struct ledger_bytes {
    const uint8_t *p;
    size_t len;
};
struct ledger_kvread {
    struct ledger_bytes key;
    bool has_version;
    struct weft_ledger_version ver;
};
struct ledger_kvwrite {
    struct ledger_bytes key;
    bool is_delete;
    struct ledger_bytes value;
};
struct ledger_kvmeta_entry {
    struct ledger_bytes name;
    struct ledger_bytes value;
};
struct ledger_kvmetawrite {
    struct ledger_bytes key;
    struct ledger_kvmeta_entry *entries;
    size_t n_entries;
};
struct ledger_rqinfo {
    struct ledger_bytes start_key, end_key;
    bool itr_exhausted;
    int reads_kind; /* 0 none, 4 raw, 5 merkle */
    struct ledger_kvread *raw;
    size_t n_raw;
    uint32_t max_degree, max_level;
    struct ledger_bytes *hashes;
    size_t n_hashes;
};
struct ledger_kvrwset {
    struct ledger_kvread *reads;
    size_t n_reads;
    struct ledger_rqinfo *rqs;
    size_t n_rqs;
    struct ledger_kvwrite *writes;
    size_t n_writes;
    struct ledger_kvmetawrite *mwrites;
    size_t n_mwrites;
};
/* Decodes ser(KVRWSet); free with ledger__kvrwset_free (input must outlive it). */
int ledger__kvrwset_decode(const uint8_t *p, size_t len, struct ledger_kvrwset *out,
                           struct weft_err *err) WEFT_WARN_UNUSED;
void ledger__kvrwset_free(struct ledger_kvrwset *s);
/* Encodes exactly as Go's proto.Marshal would (field order, proto3 zero
 * omission). Appends to b. */
int ledger__kvrwset_encode(const struct ledger_kvrwset *s, struct weft_buf *b) WEFT_WARN_UNUSED;
/* hashed_reads (field 1) of a HashedRWSet: KVReadHash has KVRead's layout. */
int ledger__hashed_reads_decode(const uint8_t *p, size_t len, struct ledger_kvread **out,
                                size_t *n, struct weft_err *err) WEFT_WARN_UNUSED;
int ledger__queryreads_encode(const struct ledger_kvread *r, size_t n,
                              struct weft_buf *b) WEFT_WARN_UNUSED;

/* Extracts the TxReadWriteSet of a serialized endorser-transaction Envelope,
 * plus tx id and channel-header timestamp. *rws freed with
 * rwset__tx_read_write_set__free_unpacked(*rws, NULL). Returns WEFT_EPARSE on
 * anything malformed and WEFT_ENOTFOUND when the envelope is not an
 * ENDORSER_TRANSACTION (then *hdr_type says what it is). Any out pointer
 * may be NULL. */
struct ledger_txinfo {
    int32_t hdr_type;
    char *txid; /* weft_free */
    int64_t ts_seconds;
    int32_t ts_nanos;
    Rwset__TxReadWriteSet *rws;
    ProtobufCBinaryData config; /* CONFIG: copy of payload.data (weft_free) */
};
int ledger__tx_decode(const uint8_t *env, size_t env_len, struct ledger_txinfo *out,
                      struct weft_err *err) WEFT_WARN_UNUSED;
void ledger__txinfo_clear(struct ledger_txinfo *ti);

/* ---- range query result hashing (rwset.c) --------------------------------- */
#define LEDGER_MERKLE_MAX_DEGREE 50u

struct ledger_rqhelper {
    bool hashing;
    uint32_t max_degree;
    struct ledger_kvread *pending; /* keys borrowed or owned (see owned) */
    size_t n_pending, cap_pending;
    /* merkle tree: levels[1..max_level] of 32-byte hashes */
    uint8_t *levels[16];
    size_t level_n[16], level_cap[16];
    uint32_t max_level;
    bool own_keys;
    bool done_hashing_used;
};
void ledger__rqhelper_init(struct ledger_rqhelper *h, bool hashing, uint32_t max_degree,
                           bool own_keys);
int ledger__rqhelper_add(struct ledger_rqhelper *h, const uint8_t *key, size_t key_len,
                         const struct weft_ledger_version *ver) WEFT_WARN_UNUSED;
/* Finishes: *is_merkle false => raw reads = h->pending[0..n_pending);
 * true => h->max_level and level hashes at h->levels[max_level]. */
int ledger__rqhelper_done(struct ledger_rqhelper *h, bool *is_merkle) WEFT_WARN_UNUSED;
void ledger__rqhelper_free(struct ledger_rqhelper *h);

/* ---- MVCC (mvcc.c) --------------------------------------------------------- */

/* Validates a block's transactions in order against committed state plus
 * earlier valid txs of the same block: rws[i] is tx i's read/write set (NULL
 * for a non-endorser tx, which is left untouched); codes[i] != 0 means
 * already invalid (skipped). Sets codes to 11/12 for conflicts. When
 * updates_out is non-NULL, the updates of the valid txs are returned. */
int ledger__mvcc_validate(struct ledger_state *st, uint64_t block_num,
                          const Rwset__TxReadWriteSet *const *rws, uint8_t *codes, size_t ntx,
                          struct ledger_updates **updates_out, struct weft_err *err) WEFT_WARN_UNUSED;
/* Same from a block: decodes each data entry whose code is 0 (an entry that
 * is not an endorser tx is skipped; an unparsable one gets code 255). */
int ledger__mvcc_validate_block(struct ledger_state *st, const Common__Block *blk, uint8_t *codes,
                                size_t ntx, struct ledger_updates **updates_out,
                                struct weft_err *err) WEFT_WARN_UNUSED;

/* ---- simulator (simulator.c) ----------------------------------------------- */
int ledger__sim_new(struct ledger_state *st, const char *txid, bool read_only,
                    struct weft_ledger_sim **out, struct weft_err *err) WEFT_WARN_UNUSED;

/* ---- history (history.c) --------------------------------------------------- */
int ledger__history_put(struct ledger_state *st, MDB_txn *txn, const struct ledger_op *op,
                        struct weft_err *err) WEFT_WARN_UNUSED;
int ledger__history_key(const char *ns, const uint8_t *key, size_t key_len, uint64_t block,
                        uint64_t tx, bool with_height, uint8_t **out, size_t *out_len) WEFT_WARN_UNUSED;
int ledger__history_open(struct ledger_state *st, const char *ns, const uint8_t *key,
                         size_t key_len, bool newest_first, struct weft_ledger_hist_iter **out,
                         struct weft_err *err) WEFT_WARN_UNUSED;

/* ---- misc helpers ------------------------------------------------------------ */
int ledger__mdb_state_err(struct weft_err *err, int rc, const char *what);
void ledger__put_u64be(uint8_t *p, uint64_t v);
uint64_t ledger__read_u64be(const uint8_t *p);

#endif
