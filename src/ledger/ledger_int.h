/*
 * Internal definitions shared by the files of src/ledger (block store and
 * state). Not installed; <lmdb.h> appears only in src/ledger.
 *
 * Locking (all leaves, never held across a callback):
 *  - txn_lock (gate.h): every LMDB transaction, read or write, runs under the
 *    read side; growing the map (mdb_env_set_mapsize, which LMDB allows only
 *    with no transaction active in the process) takes the write side. Use
 *    ledger__read_begin()/ledger__read_end() for read transactions; a read
 *    may end on another thread than the one that began it.
 *  - mu + cond: guard height, the last header hashes, closing, refs and the
 *    iterators' wake-ups. The committer updates them after the LMDB commit.
 *  - Only the committer thread writes the block file (file_fd, file_no,
 *    file_size); readers use pread on their own descriptors.
 */
#ifndef WEFT_LEDGER_INT_H
#define WEFT_LEDGER_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#include "gate.h"
#include "weft/ledger.h"

struct ledger_state;   /* state_int.h (state helper) */
struct ledger_updates; /* state_int.h (state helper) */

/* Location of one block record in the block files. */
struct ledger_blockloc {
    uint32_t file;   /* blockfile_NNNNNN */
    uint64_t offset; /* offset of the record header */
    uint32_t length; /* block bytes (without the record header) */
};

/* Transaction ids of committed blocks not yet merged into the txids table
 * (blocks [tx_merged, height), blockindex.c): an open-addressing hash set,
 * first occurrence kept. */
struct ledger_txpend_ent {
    uint64_t block;
    uint32_t tx;
    uint32_t key_off; /* in keys */
    uint16_t key_len;
    uint8_t code;
};
struct ledger_txpend {
    struct ledger_txpend_ent *ents;
    size_t n, cap;
    uint32_t *slots; /* entry index + 1, 0 = empty; nslots is a power of two */
    size_t nslots;
    uint8_t *keys;
    size_t keys_len, keys_cap;
    uint64_t blocks; /* blocks whose ids are here */
};

/* Merge the pending ids when this many blocks or ids are pending. */
#define LEDGER_TXID_MERGE_BLOCKS 64u
#define LEDGER_TXID_MERGE_IDS 32768u
#define LEDGER_TXINDEXED_KEY "txindexed"

struct weft_ledger {
    char *chain_dir; /* <root>/ledgersData/chains/<channel> */
    char *index_dir; /* chain_dir/index (the LMDB environment) */
    struct weft_ledger_options opt;

    MDB_env *env;
    MDB_dbi dbi_blocks; /* u64be number -> u32be file, u64be offset, u32be length,
                           32-byte header hash (48 B) */
    MDB_dbi dbi_hashes; /* 32-byte header hash -> u64be number */
    MDB_dbi dbi_txids;  /* txid -> u64be block, u32be tx, u8 code (first occurrence) */
    MDB_dbi dbi_meta;   /* "savepoint" -> u64be; "indexed" -> u64be */
    struct ledger_state *state;

    struct ledger_gate txn_lock;
    size_t map_size;

    /* Block file being appended (committer only). */
    int file_fd;
    uint32_t file_no;
    uint64_t file_size;

    pthread_mutex_t mu;
    pthread_cond_t cond;
    uint64_t height;
    uint8_t last_hash[WEFT_LEDGER_HASH_LEN];
    uint8_t last_prev[WEFT_LEDGER_HASH_LEN];
    size_t last_prev_len;
    bool closing;
    bool broken; /* a failed commit could not be undone: refuse further commits */
    unsigned refs;

    /* Block writer thread (blockfile.c): writes and fdatasyncs the record
     * of the block being committed while the committer builds the LMDB
     * transaction. wr_mu guards the wr_* request fields. */
    pthread_t wr_thread;
    bool wr_started;
    pthread_mutex_t wr_mu;
    pthread_cond_t wr_cond;
    bool wr_busy, wr_stop;
    int wr_fd;
    uint64_t wr_off, wr_number;
    const uint8_t *wr_block;
    size_t wr_len;
    int wr_errno; /* result of the last request: 0 or an errno */
    const char *wr_what;

    /* Pending transaction ids (txp_mu guards txp and tx_merged; only the
     * committer changes them, readers look up under the lock). */
    pthread_mutex_t txp_mu;
    struct ledger_txpend txp;
    uint64_t tx_merged; /* first block whose ids are not in the txids table */
};

/* Read transaction on the ledger's environment (txn_lock read side held
 * until ledger__read_end). */
int ledger__read_begin(struct weft_ledger *l, MDB_txn **txn, struct weft_err *err);
void ledger__read_end(struct weft_ledger *l, MDB_txn *txn);

/* Maps an LMDB return code to a weft code with a message. MDB_MAP_FULL is
 * passed through as itself (LEDGER_EMAPFULL) so that the committer, seeing it
 * come back from any part of the commit transaction (state included), grows
 * the map and retries the whole transaction. */
#define LEDGER_EMAPFULL MDB_MAP_FULL
int ledger__mdb_err(struct weft_err *err, int rc, const char *what);

/* ---- blockhash.c ---- */
/* Header hash of a decoded block (header must be present). */
int ledger__block_header_hash(const Common__Block *blk, uint8_t out[WEFT_LEDGER_HASH_LEN]);

/* ---- blockfile.c ----
 * Record: 24-byte header then the block bytes (docs/ledger.md):
 *   u32le magic "WBLK" (0x4b4c4257), u32le length, u64le block number,
 *   u32le crc32c(length..number bytes || block bytes), u32le reserved (0). */
#define LEDGER_REC_MAGIC 0x4b4c4257u
#define LEDGER_REC_HDR 24u
#define LEDGER_MAX_BLOCK (256u * 1024u * 1024u)

/* CRC-32C with the SSE4.2 instruction when the CPU has it (environment
 * WEFT_LEDGER_CRC_SW forces the table version); _sw is the portable table
 * version (tests compare the two). */
uint32_t ledger__crc32c(uint32_t crc, const uint8_t *p, size_t n);
uint32_t ledger__crc32c_sw(uint32_t crc, const uint8_t *p, size_t n);
/* Builds a record header for a block. */
void ledger__rec_header(uint8_t hdr[LEDGER_REC_HDR], uint64_t number, const uint8_t *block,
                        size_t len);
/* Parses one record at the start of buf (avail bytes available). Returns 0
 * and fills *number, *len (block bytes start at buf + LEDGER_REC_HDR);
 * WEFT_EPARSE when fewer bytes than the record needs are available (torn);
 * WEFT_ECORRUPT on a bad magic, length or checksum. */
int ledger__rec_parse(const uint8_t *buf, size_t avail, uint64_t *number, uint32_t *len);
char *ledger__file_path(const char *chain_dir, uint32_t file_no);
/* pread of a record's block bytes with checksum verification. */
int ledger__file_read(const char *chain_dir, const struct ledger_blockloc *loc, uint8_t **bytes,
                      struct weft_err *err);

/* Scanning the block files in order, record by record. */
struct ledger_scan {
    const char *chain_dir;
    uint32_t file_no;
    uint64_t offset;  /* of the next record */
    int fd;
    uint64_t file_len;
    /* last record returned */
    uint64_t number;
    uint8_t *block;
    uint32_t len;
    struct ledger_blockloc loc;
};
void ledger__scan_init(struct ledger_scan *s, const char *chain_dir, uint32_t file_no,
                       uint64_t offset);
/* 1 = a record was read (s->block valid until the next call), 0 = end of the
 * last file, WEFT_EPARSE = torn tail (s->file_no / s->offset name it),
 * WEFT_ECORRUPT = bad record (same), other negative = I/O error. */
int ledger__scan_next(struct ledger_scan *s, struct weft_err *err);
void ledger__scan_close(struct ledger_scan *s);
/* Number of the highest existing blockfile (or -1 if none). */
int64_t ledger__last_file(const char *chain_dir);
/* Appends a record to the current file (rolling over first when needed),
 * starts its write-back and returns its location. The record is durable
 * only after ledger__file_sync(). */
int ledger__file_append(struct weft_ledger *l, uint64_t number, const uint8_t *block, size_t len,
                        struct ledger_blockloc *loc, struct weft_err *err);
/* Same, but the record is written (and fdatasync'd unless no_sync) by the
 * writer thread; loc is known at once. The block bytes must stay valid until
 * ledger__file_wait() returned. Without a writer thread it is synchronous. */
int ledger__file_append_async(struct weft_ledger *l, uint64_t number, const uint8_t *block,
                              size_t len, struct ledger_blockloc *loc, struct weft_err *err);
/* Waits for the writer's current request; returns its result (0 when none
 * is outstanding). After it, the record is durable (or failed and was cut
 * off again). */
int ledger__file_wait(struct weft_ledger *l, const struct ledger_blockloc *loc,
                      struct weft_err *err);
/* Starts / stops the writer thread (stop is safe when never started). */
int ledger__writer_start(struct weft_ledger *l);
void ledger__writer_stop(struct weft_ledger *l);
/* fdatasync of the file being appended (no-op with no_sync). */
int ledger__file_sync(struct weft_ledger *l, const struct ledger_blockloc *loc,
                      struct weft_err *err);
/* fdatasync of blockfile_<file_no> by path. */
int ledger__sync_path(const char *chain_dir, uint32_t file_no);
int ledger__fsync_dir(const char *dir);
/* Makes file_no the append target (creating it, and fsyncing the folder,
 * when create is true). */
int ledger__file_open_current(struct weft_ledger *l, uint32_t file_no, bool create,
                              struct weft_err *err);

/* ---- blockindex.c ---- */
void ledger__u64be(uint8_t out[8], uint64_t v);
uint64_t ledger__get_u64be(const uint8_t *p);
/* Index entries for one block: number -> location and hash -> number (the
 * transaction ids go through the pending set, below). */
int ledger__index_put(struct weft_ledger *l, MDB_txn *txn, uint64_t number,
                      const uint8_t hash[WEFT_LEDGER_HASH_LEN], const struct ledger_blockloc *loc,
                      struct weft_err *err);
/* Pending transaction ids (see ledger_txpend). reserve makes room for
 * `more` ids of `more_keys` bytes so that add_block cannot fail after it. */
void ledger__txp_free(struct ledger_txpend *p);
void ledger__txp_clear(struct ledger_txpend *p);
int ledger__txp_reserve(struct ledger_txpend *p, size_t more, size_t more_keys);
int ledger__txp_add_block(struct ledger_txpend *p, uint64_t number, const Common__Block *blk);
const struct ledger_txpend_ent *ledger__txp_find(const struct ledger_txpend *p,
                                                 const uint8_t *txid, size_t len);
/* Number of indexable ids of a block and their total length. */
void ledger__block_txid_count(const Common__Block *blk, size_t *n, size_t *bytes);
/* Writes the pending ids plus those of block `number` into the txids table
 * in key order (first occurrence kept) and meta txindexed = number + 1. */
int ledger__txids_merge(struct weft_ledger *l, MDB_txn *txn, const struct ledger_txpend *p,
                        uint64_t number, const Common__Block *blk, struct weft_err *err);
/* Location and header hash (hash may be NULL) of block number; 0,
 * WEFT_ENOTFOUND or WEFT_ECORRUPT. */
int ledger__index_get_loc(MDB_txn *txn, MDB_dbi dbi, uint64_t number, struct ledger_blockloc *loc,
                          uint8_t hash[WEFT_LEDGER_HASH_LEN]);
/* Extracts ChannelHeader.tx_id from a serialized Envelope without
 * allocating. Returns 0 and a pointer into env (not NUL-terminated) or a
 * negative code (no txid: *txid_len == 0 and 0 returned). */
int ledger__envelope_txid(const uint8_t *env, size_t env_len, const uint8_t **txid,
                          size_t *txid_len);
int ledger__meta_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *out);
int ledger__meta_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t v);

#endif
