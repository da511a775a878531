/*
 * weft ledger state: the world state (namespace, key -> version, value,
 * metadata), key history, the transaction simulator used for endorsement,
 * the read-only query executor and the MVCC validator. Layout and encodings:
 * docs/ledger-state.md.
 *
 * Fabric rules followed (spec/block-and-validation.md §7, chaincode.md §5):
 *  - keys are byte strings (composite keys contain U+0000), so every key is
 *    passed as (pointer, length); namespaces are NUL-terminated strings;
 *  - a simulation reads committed state only: GetState after PutState in the
 *    same simulation returns the COMMITTED value and records the read
 *    (spec §7.2, "the simulator does not read its own writes");
 *  - range queries record a RangeQueryInfo (raw reads, or a Merkle summary of
 *    max degree 50 beyond 50 results) for phantom detection;
 *  - the read/write set is a Fabric TxReadWriteSet, byte-identical to the one
 *    Fabric's rwset builder produces for the same operations.
 *
 * Read transactions: a simulator or query executor holds one LMDB read txn
 * from *_new to *_free (or weft_ledger_sim_done). Keep simulations short and
 * never keep one open across a network wait: an open read txn pins old pages
 * and blocks the map from growing.
 *
 * Threads: one simulator / executor / iterator per thread at a time; any
 * number of them may run in parallel with each other and with a commit.
 * Errors: 0 or a negative WEFT_E* code; struct weft_err gets a message.
 */
#ifndef WEFT_LEDGER_STATE_H
#define WEFT_LEDGER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"

struct weft_ledger;
struct Rwset__TxReadWriteSet;
struct Common__Block;

struct weft_ledger_version {
    uint64_t block_num;
    uint64_t tx_num;
};

/* Validation codes produced here (protos.TxValidationCode). */
#define WEFT_TX_VALID 0
#define WEFT_TX_MVCC_READ_CONFLICT 11
#define WEFT_TX_PHANTOM_READ_CONFLICT 12

/* Fabric's Merkle degree for range query reads and the shim's key bounds. */
#define WEFT_LEDGER_RANGE_MAX_DEGREE 50

/* ---- composite keys (compositekey.c) ---------------------------------------
 * Composite key = U+0000 objectType U+0000 attr1 U+0000 ... attrN U+0000.
 * objectType and attributes must be valid UTF-8 without U+0000 or U+10FFFF
 * (Fabric shim rules). */

/* Creates a composite key; *out (weft_free) is NUL-terminated for
 * convenience but contains NULs: use *out_len. */
int weft_ledger_ckey_create(const char *object_type, const char *const *attrs, size_t n_attrs,
                            char **out, size_t *out_len, struct weft_err *err) WEFT_WARN_UNUSED;
/* Splits a composite key; *object_type and each (*attrs)[i] are separate
 * weft_malloc strings, *attrs itself too (free with weft_ledger_ckey_free). */
int weft_ledger_ckey_split(const char *key, size_t key_len, char **object_type, char ***attrs,
                           size_t *n_attrs, struct weft_err *err) WEFT_WARN_UNUSED;
void weft_ledger_ckey_free(char *object_type, char **attrs, size_t n_attrs);
/* Range bounds of a partial composite key query: start = ckey(prefix),
 * end = start + U+10FFFF (F4 8F BF BF). Both weft_free. */
int weft_ledger_ckey_range(const char *object_type, const char *const *attrs, size_t n_attrs,
                           char **start, size_t *start_len, char **end, size_t *end_len,
                           struct weft_err *err) WEFT_WARN_UNUSED;
/* A simple (non-composite) key must not start with U+0000 (shim rule).
 * Returns 0 or WEFT_EINVAL. */
int weft_ledger_simple_key_check(const char *key, size_t key_len,
                                 struct weft_err *err) WEFT_WARN_UNUSED;

/* ---- simulator and query executor (simulator.c, query.c) ------------------ */

struct weft_ledger_sim;
struct weft_ledger_range_iter;
struct weft_ledger_hist_iter;

/* A simulator records reads/writes for txid; a query executor (read_only)
 * refuses writes and records nothing. Both take a read txn (see above). */
int weft_ledger_sim_new(struct weft_ledger *l, const char *txid, struct weft_ledger_sim **out,
                        struct weft_err *err) WEFT_WARN_UNUSED;
int weft_ledger_qe_new(struct weft_ledger *l, struct weft_ledger_sim **out,
                       struct weft_err *err) WEFT_WARN_UNUSED;
/* Ends the read txn early (results stay available); free afterwards. */
void weft_ledger_sim_done(struct weft_ledger_sim *s);
void weft_ledger_sim_free(struct weft_ledger_sim *s);

/* Committed value of (ns, key): *value (weft_free, NULL when absent),
 * *value_len; ver (may be NULL) gets the version ({0,0} when absent);
 * *found says whether the key exists. Records a KVRead. */
int weft_ledger_sim_get(struct weft_ledger_sim *s, const char *ns, const char *key,
                        size_t key_len, uint8_t **value, size_t *value_len, bool *found,
                        struct weft_ledger_version *ver, struct weft_err *err) WEFT_WARN_UNUSED;
/* Committed metadata of the key as ser(KVMetadataWrite{entries}) (NULL when
 * none). Records the same KVRead as a get. */
int weft_ledger_sim_get_metadata(struct weft_ledger_sim *s, const char *ns, const char *key,
                                 size_t key_len, uint8_t **meta, size_t *meta_len,
                                 struct weft_err *err) WEFT_WARN_UNUSED;
/* Buffered writes: put (an empty value is a delete, as in Fabric), delete,
 * and a metadata write of one entry (name, value): as Fabric's
 * PutStateMetadata it replaces the key's pending metadata write; name NULL
 * writes metadata without entries (removes the key's metadata at commit). */
int weft_ledger_sim_put(struct weft_ledger_sim *s, const char *ns, const char *key,
                        size_t key_len, const uint8_t *value, size_t value_len,
                        struct weft_err *err) WEFT_WARN_UNUSED;
int weft_ledger_sim_del(struct weft_ledger_sim *s, const char *ns, const char *key,
                        size_t key_len, struct weft_err *err) WEFT_WARN_UNUSED;
int weft_ledger_sim_put_metadata(struct weft_ledger_sim *s, const char *ns, const char *key,
                                 size_t key_len, const char *name, const uint8_t *value,
                                 size_t value_len, struct weft_err *err) WEFT_WARN_UNUSED;

/* Range [start, end) of ns in key order; empty start = from the beginning of
 * the namespace, empty end = to its end (peer semantics: composite keys
 * included). With WEFT_LEDGER_RANGE_SIMPLE the shim's simple-key rules apply:
 * start/end must not be composite keys and an empty start becomes "\x01", so
 * composite keys are excluded. The RangeQueryInfo is recorded when the
 * iterator is freed or the simulation ends. */
#define WEFT_LEDGER_RANGE_SIMPLE 1u
int weft_ledger_sim_range(struct weft_ledger_sim *s, const char *ns, const char *start,
                          size_t start_len, const char *end, size_t end_len, unsigned flags,
                          struct weft_ledger_range_iter **out, struct weft_err *err) WEFT_WARN_UNUSED;
/* Paginated range (GetStateByRangeWithPagination): starts at bookmark when it
 * is non-empty, returns at most page_size results (page_size <= 0: no page
 * limit). Not allowed after a write in a simulator (and no write after it). */
int weft_ledger_sim_range_paged(struct weft_ledger_sim *s, const char *ns, const char *start,
                                size_t start_len, const char *end, size_t end_len,
                                int32_t page_size, const char *bookmark, size_t bookmark_len,
                                unsigned flags, struct weft_ledger_range_iter **out,
                                struct weft_err *err) WEFT_WARN_UNUSED;
/* Partial composite key query (all keys with that prefix). */
int weft_ledger_sim_range_ckey(struct weft_ledger_sim *s, const char *ns,
                               const char *object_type, const char *const *attrs, size_t n_attrs,
                               struct weft_ledger_range_iter **out,
                               struct weft_err *err) WEFT_WARN_UNUSED;

struct weft_ledger_kv {
    const char *ns;
    const uint8_t *key; /* not NUL-terminated */
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
    struct weft_ledger_version ver;
};
/* 1 = *kv filled (valid until the next call), 0 = exhausted, < 0 error. */
int weft_ledger_range_next(struct weft_ledger_range_iter *it, struct weft_ledger_kv *kv,
                           struct weft_err *err);
/* Pagination metadata after the page was read (QueryResponseMetadata):
 * fetched count and bookmark = next key after the page ("" if none).
 * *bookmark is weft_malloc'd (NUL-terminated; use *bookmark_len). */
int weft_ledger_range_page_meta(struct weft_ledger_range_iter *it, int32_t *fetched,
                                char **bookmark, size_t *bookmark_len,
                                struct weft_err *err) WEFT_WARN_UNUSED;
void weft_ledger_range_free(struct weft_ledger_range_iter *it);

/* History of (ns, key), newest first (Fabric's order) or oldest first. */
int weft_ledger_sim_history(struct weft_ledger_sim *s, const char *ns, const char *key,
                            size_t key_len, bool newest_first,
                            struct weft_ledger_hist_iter **out, struct weft_err *err) WEFT_WARN_UNUSED;
struct weft_ledger_key_mod {
    const char *tx_id;
    const uint8_t *value; /* empty for a delete */
    size_t value_len;
    int64_t ts_seconds;
    int32_t ts_nanos;
    bool is_delete;
    struct weft_ledger_version ver;
};
/* 1 = *km filled (valid until the next call), 0 = done, < 0 error. */
int weft_ledger_hist_next(struct weft_ledger_hist_iter *it, struct weft_ledger_key_mod *km,
                          struct weft_err *err);
void weft_ledger_hist_free(struct weft_ledger_hist_iter *it);

/* Serializes queryresult.KV / queryresult.KeyModification (query results
 * sent to chaincode). *out weft_free. */
int weft_ledger_kv_pack(const struct weft_ledger_kv *kv, uint8_t **out,
                        size_t *out_len) WEFT_WARN_UNUSED;
int weft_ledger_key_mod_pack(const struct weft_ledger_key_mod *km, uint8_t **out,
                             size_t *out_len) WEFT_WARN_UNUSED;

/* Serialized TxReadWriteSet of the simulation (ends the read txn). *out
 * weft_free. Not available for a query executor. */
int weft_ledger_sim_rwset(struct weft_ledger_sim *s, uint8_t **out, size_t *out_len,
                          struct weft_err *err) WEFT_WARN_UNUSED;

/* ---- MVCC validation (mvcc.c) ---------------------------------------------- */

/* Marks MVCC_READ_CONFLICT / PHANTOM_READ_CONFLICT on a block's transactions
 * in order (spec §7). rws[i] = decoded TxReadWriteSet of tx i (NULL for a
 * non-endorser tx); codes[i] != 0 on entry = already invalid, skipped.
 * Reads committed state in one short read txn. */
int weft_ledger_mvcc_validate(struct weft_ledger *l, uint64_t block_num,
                              const struct Rwset__TxReadWriteSet *const *rws, uint8_t *codes,
                              size_t ntx, struct weft_err *err) WEFT_WARN_UNUSED;
/* Same, extracting the read/write sets from the block itself. */
int weft_ledger_mvcc_validate_block(struct weft_ledger *l, const struct Common__Block *blk,
                                    uint8_t *codes, size_t ntx,
                                    struct weft_err *err) WEFT_WARN_UNUSED;

#endif
