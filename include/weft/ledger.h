/*
 * weft ledger: the per-channel block store (append-only block files with an
 * LMDB index) and the commit path that applies each block's valid writes to
 * the world state and history in the same LMDB transaction.
 *
 * On-disk layout, commit protocol and recovery: docs/ledger.md.
 *
 * Threads: one committer thread per channel calls weft_ledger_commit*();
 * every read function and the iterators may be used from any thread at the
 * same time as a commit. A struct weft_ledger is reference counted: an
 * iterator keeps it alive, so weft_ledger_close() may run while another
 * thread still waits in weft_ledger_iter_next() (which then returns
 * WEFT_ESHUTDOWN).
 *
 * Errors: 0 or a negative WEFT_E* code (OS errors as -errno); the optional
 * struct weft_err receives a message. Notable codes:
 *   WEFT_ENOTFOUND  block / tx not in the ledger
 *   WEFT_EINVAL     a block refused by commit (wrong number, previous hash or
 *                   data hash); nothing was written
 *   WEFT_ECORRUPT   on-disk data failed a checksum or a hash check
 *   WEFT_ETIMEDOUT, WEFT_ECANCELED, WEFT_ESHUTDOWN  iterator waits
 */
#ifndef WEFT_LEDGER_H
#define WEFT_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.pb-c.h"
#include "weft/base.h"

#define WEFT_LEDGER_HASH_LEN 32

struct weft_ledger;
struct weft_ledger_iter;

struct weft_ledger_options {
    /* peer.fileSystemPath; the channel lives in
     * <root>/ledgersData/chains/<channel>/. Required. */
    const char *root;
    /* Channel name: [a-z][a-z0-9.-]*, at most 249 bytes. Required. */
    const char *channel;
    /* Initial LMDB map size in bytes (0 = 1 GiB); grows on MDB_MAP_FULL. */
    size_t map_size;
    /* Roll over to a new block file past this size (0 = 64 MiB). */
    uint64_t max_file_size;
    /* Skip fsync of block files and LMDB (tests and benchmarks only: a
     * machine crash may then lose committed blocks). */
    bool no_sync;
    /* Keep the history index (default true via weft_ledger_options_init). */
    bool history;
    /* Block store only: no world state, so transactions are never parsed
     * (the orderer's ledger). Default false. */
    bool no_state;
    /* Keep no transaction-id index: weft_ledger_tx_by_id and
     * weft_ledger_block_by_txid answer WEFT_EUNSUPPORTED. The orderer's
     * ledger, which (as Fabric's) indexes blocks by number only. Default
     * false. */
    bool no_txid_index;
};

/* Fills defaults (history on, sync on). */
void weft_ledger_options_init(struct weft_ledger_options *opt);

/* Opens (creating if needed) the ledger of one channel and recovers it:
 * truncates a torn last record, re-indexes blocks missing from the index and
 * replays blocks above the state savepoint. *out is set on success only. */
int weft_ledger_open(struct weft_ledger **out, const struct weft_ledger_options *opt,
                     struct weft_err *err) WEFT_WARN_UNUSED;

/* Drops the caller's reference; wakes every waiting iterator (they return
 * WEFT_ESHUTDOWN). Files close when the last iterator is freed. NULL-safe.
 * Must not run concurrently with a commit. */
void weft_ledger_close(struct weft_ledger *l);

/* Appends one block and commits its state updates. The block must have
 * header.number == height, header.previous_hash == hash of the last header
 * (empty for block 0) and header.data_hash == SHA-256(data[0] || ...).
 * Validation codes come from metadata[TRANSACTIONS_FILTER] (one byte per tx;
 * missing means all VALID). The block is stored as pack(blk). On a refused
 * block nothing is written. Committer thread only. */
int weft_ledger_commit(struct weft_ledger *l, const Common__Block *blk,
                       struct weft_err *err) WEFT_WARN_UNUSED;
/* Same, for a serialized common.Block stored byte for byte as given. */
int weft_ledger_commit_bytes(struct weft_ledger *l, const uint8_t *bytes, size_t len,
                             struct weft_err *err) WEFT_WARN_UNUSED;

struct weft_ledger_info {
    uint64_t height; /* number of blocks; 0 for an empty ledger */
    uint8_t current_hash[WEFT_LEDGER_HASH_LEN];  /* header hash of block height-1 */
    uint8_t previous_hash[WEFT_LEDGER_HASH_LEN]; /* its previous_hash */
    size_t previous_hash_len;                    /* 0 when height <= 1 */
};

/* Height and hashes (qscc GetChainInfo). Never fails. */
void weft_ledger_info(struct weft_ledger *l, struct weft_ledger_info *out);

/* Serialized block by number / by header hash / containing txid. On success
 * *bytes (caller frees with weft_free) and *len are set. */
int weft_ledger_block_by_number(struct weft_ledger *l, uint64_t number, uint8_t **bytes,
                                size_t *len, struct weft_err *err) WEFT_WARN_UNUSED;
int weft_ledger_block_by_hash(struct weft_ledger *l, const uint8_t *hash, size_t hash_len,
                              uint8_t **bytes, size_t *len, struct weft_err *err) WEFT_WARN_UNUSED;
int weft_ledger_block_by_txid(struct weft_ledger *l, const char *txid, uint8_t **bytes,
                              size_t *len, struct weft_err *err) WEFT_WARN_UNUSED;

struct weft_ledger_txloc {
    uint64_t block;
    uint32_t tx;   /* index in BlockData.data */
    uint8_t code;  /* TxValidationCode */
};

/* Validation code and position of the FIRST transaction carrying txid
 * (Fabric's GetTxValidationCodeByTxID; a later DUPLICATE_TXID copy does not
 * replace it). WEFT_ENOTFOUND if absent. */
int weft_ledger_tx_by_id(struct weft_ledger *l, const char *txid, struct weft_ledger_txloc *out,
                         struct weft_err *err) WEFT_WARN_UNUSED;

/* Iterator over blocks from `start` on; next() waits for blocks not yet
 * committed. The iterator holds a reference to the ledger. */
int weft_ledger_iter_new(struct weft_ledger *l, uint64_t start, struct weft_ledger_iter **out,
                         struct weft_err *err) WEFT_WARN_UNUSED;
/* Returns the next block (caller frees *bytes with weft_free) and its number
 * in *number (may be NULL). Waits until it is committed or until
 * deadline_mono_ns (weft_clock_mono_ns() scale; 0 = wait forever):
 * WEFT_ETIMEDOUT, WEFT_ECANCELED after weft_ledger_iter_cancel(),
 * WEFT_ESHUTDOWN after weft_ledger_close(). One thread per iterator. */
int weft_ledger_iter_next(struct weft_ledger_iter *it, uint64_t deadline_mono_ns,
                          uint8_t **bytes, size_t *len, uint64_t *number,
                          struct weft_err *err) WEFT_WARN_UNUSED;
/* Makes a current or later next() return WEFT_ECANCELED. Any thread. */
void weft_ledger_iter_cancel(struct weft_ledger_iter *it);
/* Frees an iterator (not while another thread is inside next()). NULL-safe. */
void weft_ledger_iter_free(struct weft_ledger_iter *it);

/* ---- hashing (Fabric protoutil rules, spec block-and-validation.md §2) ---- */

/* SHA-256 over the ASN.1 DER SEQUENCE{INTEGER number, OCTET STRING prev,
 * OCTET STRING data_hash}. */
int weft_ledger_header_hash(uint64_t number, const uint8_t *prev, size_t prev_len,
                            const uint8_t *data_hash, size_t data_hash_len,
                            uint8_t out[WEFT_LEDGER_HASH_LEN]) WEFT_WARN_UNUSED;
/* SHA-256 over data[0] || data[1] || ... */
void weft_ledger_data_hash(const ProtobufCBinaryData *data, size_t n,
                           uint8_t out[WEFT_LEDGER_HASH_LEN]);

/* ---- offline tools (weft ledger verify / inspect) ------------------------ */

/* Checks a channel folder (<...>/chains/<channel>) without opening it for
 * writing: every record's checksum, the hash chain, data hashes and that the
 * index agrees with the files. Returns 0 when sound, WEFT_ECORRUPT with the
 * first problem (file name and offset) in err otherwise. *height_out (may be
 * NULL) receives the number of good blocks. */
int weft_ledger_verify_dir(const char *chain_dir, uint64_t *height_out,
                           struct weft_err *err) WEFT_WARN_UNUSED;
/* Reads block `number` from a channel folder through its index (or a file
 * scan when the index lacks it). *bytes freed by caller with weft_free. */
int weft_ledger_read_dir(const char *chain_dir, uint64_t number, uint8_t **bytes, size_t *len,
                         struct weft_err *err) WEFT_WARN_UNUSED;

#endif
