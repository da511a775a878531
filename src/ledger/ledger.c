/*
 * The ledger facade: open, recovery, commit, reads, waiting iterators and
 * the offline verify/read used by `weft ledger`.
 *
 * Commit protocol (docs/ledger.md): validate the chain (number, previous
 * hash, data hash) and compute the state updates before anything is written;
 * hand the block record to the writer thread (write + fdatasync) and build
 * ONE LMDB write transaction meanwhile: index entries, the state and history
 * updates and the savepoint; wait for the record to be durable, commit the
 * transaction; then height moves and waiting iterators are woken.
 *
 * The block files are the source of truth. The LMDB environment is opened
 * with MDB_NOMETASYNC: a machine crash may undo the last LMDB commit but not
 * corrupt the database, and recovery on open re-indexes and re-applies every
 * block above the savepoint. Since index, state and savepoint move in the
 * same transaction, a block is either fully applied or not at all.
 *
 * Lifetime: the struct is reference counted (the caller's handle plus one per
 * iterator); weft_ledger_close() marks it closing, wakes waiters and drops its
 * reference; the last reference closes files and LMDB.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ledger_int.h"
#include "state_int.h"

#define DEFAULT_MAP_SIZE ((size_t)1 << 30)
#define DEFAULT_FILE_SIZE ((uint64_t)64 << 20)
#define SAVEPOINT_KEY "savepoint"

struct weft_ledger_iter {
    struct weft_ledger *l;
    uint64_t next;
    bool canceled; /* guarded by l->mu */
};

void weft_ledger_options_init(struct weft_ledger_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->history = true;
}

/* ---- LMDB helpers ------------------------------------------------------- */

int ledger__read_begin(struct weft_ledger *l, MDB_txn **txn, struct weft_err *err)
{
    ledger__gate_read_lock(&l->txn_lock);
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, txn);
    if (rc != 0) {
        ledger__gate_read_unlock(&l->txn_lock);
        return ledger__mdb_err(err, rc, "begin read transaction");
    }
    return 0;
}

void ledger__read_end(struct weft_ledger *l, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    ledger__gate_read_unlock(&l->txn_lock);
}

static int grow_map(struct weft_ledger *l, struct weft_err *err)
{
    ledger__gate_write_lock(&l->txn_lock);
    size_t want = l->map_size * 2;
    int rc = mdb_env_set_mapsize(l->env, want);
    if (rc == 0) {
        l->map_size = want;
    }
    ledger__gate_write_unlock(&l->txn_lock);
    return rc == 0 ? 0 : ledger__mdb_err(err, rc, "grow LMDB map");
}

/* ---- paths -------------------------------------------------------------- */

static bool channel_name_ok(const char *c)
{
    size_t n = strlen(c);
    if (n == 0 || n > 249 || !(c[0] >= 'a' && c[0] <= 'z')) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = c[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-')) {
            return false;
        }
    }
    return true;
}

/* mkdir -p; fsyncs the parent of each folder it creates. */
static int mkdirs(const char *path, bool sync)
{
    char *p = weft_strdup(path);
    if (p == NULL) {
        return WEFT_ENOMEM;
    }
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char save = *s;
            *s = '\0';
            if (mkdir(p, 0750) == 0) {
                if (sync) {
                    char *slash = strrchr(p, '/');
                    if (slash != NULL && slash != p) {
                        *slash = '\0';
                        (void)ledger__fsync_dir(p);
                        *slash = '/';
                    }
                }
            } else if (errno != EEXIST) {
                rc = -errno;
                break;
            }
            *s = save;
            if (save == '\0') {
                break;
            }
        }
    }
    weft_free(p);
    return rc;
}

/* ---- lifetime ----------------------------------------------------------- */

static void ledger_free(struct weft_ledger *l)
{
    if (l->state != NULL) {
        ledger__state_close(l->state);
    }
    if (l->env != NULL) {
        mdb_env_close(l->env);
    }
    if (l->file_fd >= 0) {
        close(l->file_fd);
    }
    ledger__writer_stop(l);
    pthread_mutex_destroy(&l->wr_mu);
    pthread_cond_destroy(&l->wr_cond);
    ledger__txp_free(&l->txp);
    pthread_mutex_destroy(&l->txp_mu);
    ledger__gate_destroy(&l->txn_lock);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cond);
    weft_free(l->chain_dir);
    weft_free(l->index_dir);
    weft_free(l);
}

static void ledger_unref(struct weft_ledger *l)
{
    pthread_mutex_lock(&l->mu);
    bool last = --l->refs == 0;
    pthread_mutex_unlock(&l->mu);
    if (last) {
        ledger_free(l);
    }
}

void weft_ledger_close(struct weft_ledger *l)
{
    if (l == NULL) {
        return;
    }
    pthread_mutex_lock(&l->mu);
    l->closing = true;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->mu);
    ledger_unref(l);
}

/* ---- the commit transaction --------------------------------------------- */

/* Codes for a block's transactions: TRANSACTIONS_FILTER, or all VALID when
 * the filter is empty. *owned is set when the array was allocated. */
static int block_codes(const Common__Block *blk, const uint8_t **codes, uint8_t **owned,
                       size_t *ntx, struct weft_err *err)
{
    size_t n = blk->data != NULL ? blk->data->n_data : 0;
    *ntx = n;
    *owned = NULL;
    const ProtobufCBinaryData *f = NULL;
    if (blk->metadata != NULL &&
        blk->metadata->n_metadata > COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER) {
        f = &blk->metadata->metadata[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER];
    }
    if (f != NULL && f->len == n && n > 0) {
        *codes = f->data;
        return 0;
    }
    if (f != NULL && f->len != 0) {
        return weft_err_set(err, WEFT_EINVAL,
                            "block %llu: TRANSACTIONS_FILTER has %zu entries for %zu transactions",
                            (unsigned long long)blk->header->number, f->len, n);
    }
    *owned = weft_calloc(n > 0 ? n : 1, 1);
    if (*owned == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    *codes = *owned;
    return 0;
}

/* Index + state + savepoint in one LMDB transaction; retries after growing
 * the map when it is full. The block's transaction ids join the pending set,
 * or, every LEDGER_TXID_MERGE_BLOCKS blocks, the set and they are merged into
 * the txids table in this transaction. */
static int commit_txn(struct weft_ledger *l, const Common__Block *blk,
                      const uint8_t hash[WEFT_LEDGER_HASH_LEN], const struct ledger_blockloc *loc,
                      struct ledger_updates *updates, bool sync_file, struct weft_err *err)
{
    uint64_t number = blk->header->number;
    bool index_txids = !l->opt.no_txid_index;
    size_t nids = 0, id_bytes = 0;
    if (index_txids) {
        ledger__block_txid_count(blk, &nids, &id_bytes);
    }
    /* Only the committer changes txp: reading it unlocked is safe here. */
    bool merge = index_txids && (l->txp.blocks + 1 >= LEDGER_TXID_MERGE_BLOCKS ||
                                 l->txp.n + nids >= LEDGER_TXID_MERGE_IDS);
    if (index_txids && !merge) {
        /* Room first, so that adding the ids after the commit cannot fail. */
        pthread_mutex_lock(&l->txp_mu);
        int rc = ledger__txp_reserve(&l->txp, nids, id_bytes);
        pthread_mutex_unlock(&l->txp_mu);
        if (rc != 0) {
            return weft_err_set(err, rc, "pending transaction ids: %s", weft_strerror(rc));
        }
    }
    for (int attempt = 0; attempt < 16; attempt++) {
        MDB_txn *txn = NULL;
        ledger__gate_read_lock(&l->txn_lock);
        int rc = mdb_txn_begin(l->env, NULL, 0, &txn);
        if (rc != 0) {
            ledger__gate_read_unlock(&l->txn_lock);
            return ledger__mdb_err(err, rc, "begin commit transaction");
        }
        rc = ledger__index_put(l, txn, number, hash, loc, err);
        if (rc == 0 && merge) {
            rc = ledger__txids_merge(l, txn, &l->txp, number, blk, err);
        }
        if (rc == 0 && updates != NULL) {
            rc = ledger__state_apply(l->state, txn, updates, err);
        }
        if (rc == 0) {
            int mrc = ledger__meta_put_u64(txn, l->dbi_meta, SAVEPOINT_KEY, number);
            if (mrc != 0) {
                rc = ledger__mdb_err(err, mrc, "write savepoint");
            }
        }
        if (rc == 0 && sync_file) {
            /* The block record must be durable before the index says it
             * exists; waiting here overlaps its write-back with the work
             * above. */
            rc = ledger__file_wait(l, loc, err);
            sync_file = rc != 0;
        }
        if (rc == 0) {
            int mrc = mdb_txn_commit(txn);
            txn = NULL;
            if (mrc != 0) {
                rc = ledger__mdb_err(err, mrc, "commit transaction");
            }
        }
        if (txn != NULL) {
            mdb_txn_abort(txn);
        }
        ledger__gate_read_unlock(&l->txn_lock);
        if (rc == 0 && index_txids) {
            pthread_mutex_lock(&l->txp_mu);
            if (merge) {
                ledger__txp_clear(&l->txp);
                l->tx_merged = number + 1;
            } else {
                (void)ledger__txp_add_block(&l->txp, number, blk); /* reserved above */
            }
            pthread_mutex_unlock(&l->txp_mu);
        }
        if (rc != LEDGER_EMAPFULL) {
            return rc;
        }
        weft_err_clear(err);
        rc = grow_map(l, err);
        if (rc != 0) {
            return rc;
        }
    }
    return weft_err_set(err, WEFT_EIO, "LMDB map still full after growing it");
}

/* Checks that blk extends a chain whose height and last hash are given. */
static int check_chain(const Common__Block *blk, uint64_t height, const uint8_t *last_hash,
                       uint8_t hash[WEFT_LEDGER_HASH_LEN], struct weft_err *err)
{
    if (blk->header == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "block has no header");
    }
    const Common__BlockHeader *h = blk->header;
    if (h->number != height) {
        return weft_err_set(err, WEFT_EINVAL, "block number %llu refused: expected %llu",
                            (unsigned long long)h->number, (unsigned long long)height);
    }
    if (height == 0) {
        if (h->previous_hash.len != 0) {
            return weft_err_set(err, WEFT_EINVAL,
                                "block 0 refused: previous hash must be empty");
        }
    } else if (h->previous_hash.len != WEFT_LEDGER_HASH_LEN ||
               memcmp(h->previous_hash.data, last_hash, WEFT_LEDGER_HASH_LEN) != 0) {
        return weft_err_set(err, WEFT_EINVAL,
                            "block %llu refused: previous hash does not match the header hash "
                            "of block %llu",
                            (unsigned long long)h->number, (unsigned long long)height - 1);
    }
    uint8_t dh[WEFT_LEDGER_HASH_LEN];
    weft_ledger_data_hash(blk->data != NULL ? blk->data->data : NULL,
                          blk->data != NULL ? blk->data->n_data : 0, dh);
    if (h->data_hash.len != WEFT_LEDGER_HASH_LEN ||
        memcmp(h->data_hash.data, dh, WEFT_LEDGER_HASH_LEN) != 0) {
        return weft_err_set(err, WEFT_EINVAL,
                            "block %llu refused: data hash does not match its data",
                            (unsigned long long)h->number);
    }
    if (ledger__block_header_hash(blk, hash) != 0) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory hashing block header");
    }
    return 0;
}

static void publish(struct weft_ledger *l, uint64_t number, const uint8_t *hash)
{
    pthread_mutex_lock(&l->mu);
    if (number > 0) {
        memcpy(l->last_prev, l->last_hash, WEFT_LEDGER_HASH_LEN);
        l->last_prev_len = WEFT_LEDGER_HASH_LEN;
    } else {
        l->last_prev_len = 0;
    }
    memcpy(l->last_hash, hash, WEFT_LEDGER_HASH_LEN);
    l->height = number + 1;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->mu);
}

static int do_commit(struct weft_ledger *l, const Common__Block *blk, const uint8_t *bytes,
                     size_t len, struct weft_err *err)
{
    uint8_t hash[WEFT_LEDGER_HASH_LEN];
    const uint8_t *codes;
    uint8_t *owned = NULL;
    size_t ntx;
    struct ledger_updates *updates = NULL;
    struct ledger_blockloc loc;
    int rc;

    if (l->broken) {
        return weft_err_set(err, WEFT_ESTATE,
                            "ledger refuses commits after an unrecoverable write failure; "
                            "reopen it");
    }
    /* Only the committer changes height, so reading it unlocked is safe. */
    rc = check_chain(blk, l->height, l->last_hash, hash, err);
    if (rc != 0) {
        return rc;
    }
    rc = block_codes(blk, &codes, &owned, &ntx, err);
    if (rc != 0) {
        return rc;
    }
    rc = l->opt.no_state ? 0 : ledger__updates_from_block(blk, codes, ntx, &updates, err);
    if (rc != 0) {
        weft_err_prefix(err, "block %llu", (unsigned long long)blk->header->number);
        goto out;
    }
    uint64_t prev_size = l->file_size;
    uint32_t prev_file = l->file_no;
    /* The writer thread writes and fdatasyncs the record while the LMDB
     * transaction is built; commit_txn waits for it before the LMDB commit. */
    rc = ledger__file_append_async(l, blk->header->number, bytes, len, &loc, err);
    if (rc != 0) {
        goto out;
    }
    rc = commit_txn(l, blk, hash, &loc, updates, true, err);
    if (rc != 0) {
        /* The writer must be done with the record (and `bytes`) first. */
        struct weft_err werr;
        weft_err_clear(&werr);
        (void)ledger__file_wait(l, &loc, &werr);
        /* Take the record back so that "refused" means "nothing written".
         * If that fails the file and the index disagree until recovery. */
        if (loc.file != prev_file || ftruncate(l->file_fd, (off_t)loc.offset) != 0 ||
            (!l->opt.no_sync && fdatasync(l->file_fd) != 0)) {
            l->broken = true;
        } else {
            l->file_size = prev_size;
        }
        goto out;
    }
    publish(l, blk->header->number, hash);
out:
    if (updates != NULL) {
        ledger__updates_free(updates);
    }
    weft_free(owned);
    return rc;
}

int weft_ledger_commit(struct weft_ledger *l, const Common__Block *blk, struct weft_err *err)
{
    if (l == NULL || blk == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "no ledger or block");
    }
    size_t len = common__block__get_packed_size(blk);
    uint8_t *buf = weft_malloc(len > 0 ? len : 1);
    if (buf == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    common__block__pack(blk, buf);
    int rc = do_commit(l, blk, buf, len, err);
    weft_free(buf);
    return rc;
}

int weft_ledger_commit_bytes(struct weft_ledger *l, const uint8_t *bytes, size_t len,
                             struct weft_err *err)
{
    if (l == NULL || bytes == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "no ledger or block");
    }
    Common__Block *blk = common__block__unpack(NULL, len, bytes);
    if (blk == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "block refused: not a common.Block");
    }
    int rc = do_commit(l, blk, bytes, len, err);
    common__block__free_unpacked(blk, NULL);
    return rc;
}

/* ---- recovery ----------------------------------------------------------- */

static int truncate_file(struct weft_ledger *l, uint32_t file_no, uint64_t offset,
                         struct weft_err *err)
{
    char *path = ledger__file_path(l->chain_dir, file_no);
    if (path == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    int fd = open(path, O_RDWR | O_CLOEXEC);
    int rc = 0;
    if (fd < 0 || ftruncate(fd, (off_t)offset) != 0 || fsync(fd) != 0) {
        rc = weft_err_set(err, -errno, "truncate %s to %llu: %s", path,
                          (unsigned long long)offset, strerror(errno));
    }
    if (fd >= 0) {
        close(fd);
    }
    weft_free(path);
    return rc;
}

/* Rebuilds the pending transaction ids from blocks [tx_merged, height). A
 * damaged record there does not stop the open (as damage below the savepoint
 * never did): its ids stay unknown and `weft ledger verify` reports it. */
static int load_pending_txids(struct weft_ledger *l, uint64_t height, struct weft_err *err)
{
    for (uint64_t n = l->tx_merged; n < height; n++) {
        uint8_t *bytes = NULL;
        size_t len = 0;
        struct weft_err rerr;
        weft_err_clear(&rerr);
        if (weft_ledger_block_by_number(l, n, &bytes, &len, &rerr) != 0) {
            if (rerr.code == WEFT_ENOMEM) {
                return weft_err_set(err, WEFT_ENOMEM, "out of memory");
            }
            continue;
        }
        Common__Block *blk = common__block__unpack(NULL, len, bytes);
        weft_free(bytes);
        if (blk == NULL) {
            continue;
        }
        int rc = ledger__txp_add_block(&l->txp, n, blk);
        common__block__free_unpacked(blk, NULL);
        if (rc != 0) {
            return weft_err_set(err, rc, "reload transaction ids: %s", weft_strerror(rc));
        }
    }
    return 0;
}

static int recover(struct weft_ledger *l, struct weft_err *err)
{
    MDB_txn *txn;
    uint64_t sp = 0;
    uint64_t height = 0;
    struct ledger_blockloc loc = {0, 0, 0};
    uint8_t hash[WEFT_LEDGER_HASH_LEN];
    int rc = ledger__read_begin(l, &txn, err);
    if (rc != 0) {
        return rc;
    }
    rc = ledger__meta_get_u64(txn, l->dbi_meta, SAVEPOINT_KEY, &sp);
    if (rc == 0) {
        height = sp + 1;
        rc = ledger__index_get_loc(txn, l->dbi_blocks, sp, &loc, hash);
        if (rc == 0 && sp > 0) {
            struct ledger_blockloc ploc;
            rc = ledger__index_get_loc(txn, l->dbi_blocks, sp - 1, &ploc, l->last_prev);
            l->last_prev_len = WEFT_LEDGER_HASH_LEN;
        }
        if (rc != 0) {
            ledger__read_end(l, txn);
            return weft_err_set(err, WEFT_ECORRUPT, "index lacks the savepoint block %llu",
                                (unsigned long long)sp);
        }
        memcpy(l->last_hash, hash, WEFT_LEDGER_HASH_LEN);
    } else if (rc != WEFT_ENOTFOUND) {
        ledger__read_end(l, txn);
        return weft_err_set(err, rc, "read savepoint");
    }
    ledger__read_end(l, txn);
    l->height = height;
    rc = l->opt.no_txid_index ? 0 : load_pending_txids(l, height, err);
    if (rc != 0) {
        return rc;
    }

    /* Blocks after the savepoint: re-index and re-apply each. */
    struct ledger_scan s;
    if (height > 0) {
        ledger__scan_init(&s, l->chain_dir, loc.file, loc.offset + LEDGER_REC_HDR + loc.length);
        /* The savepoint block's record must still be there. */
        char *path = ledger__file_path(l->chain_dir, loc.file);
        struct stat st;
        bool ok = path != NULL && stat(path, &st) == 0 &&
                  (uint64_t)st.st_size >= loc.offset + LEDGER_REC_HDR + loc.length;
        weft_free(path);
        if (!ok) {
            return weft_err_set(err, WEFT_ECORRUPT,
                                "index points past the end of blockfile_%06u (block %llu)",
                                loc.file, (unsigned long long)sp);
        }
    } else {
        ledger__scan_init(&s, l->chain_dir, 0, 0);
    }
    struct weft_err serr;
    weft_err_clear(&serr);
    uint32_t synced_file = UINT32_MAX;
    for (;;) {
        rc = ledger__scan_next(&s, &serr);
        if (rc == 0) {
            break;
        }
        const char *why = NULL;
        Common__Block *blk = NULL;
        if (rc == 1) {
            blk = common__block__unpack(NULL, s.len, s.block);
            if (blk == NULL) {
                why = "record does not hold a common.Block";
            } else if (s.number != l->height ||
                       check_chain(blk, l->height, l->last_hash, hash, &serr) != 0) {
                why = "block does not extend the chain";
            }
            if (why == NULL) {
                const uint8_t *codes;
                uint8_t *owned = NULL;
                size_t ntx;
                struct ledger_updates *updates = NULL;
                rc = block_codes(blk, &codes, &owned, &ntx, err);
                if (rc == 0 && !l->opt.no_state) {
                    rc = ledger__updates_from_block(blk, codes, ntx, &updates, err);
                }
                /* The record may never have been fsync'd (the process died
                 * before): make it durable before indexing it. */
                if (rc == 0 && !l->opt.no_sync && s.loc.file != synced_file) {
                    rc = ledger__sync_path(l->chain_dir, s.loc.file);
                    if (rc != 0) {
                        weft_err_set(err, rc, "fdatasync blockfile_%06u", s.loc.file);
                    }
                    synced_file = s.loc.file;
                }
                if (rc == 0) {
                    rc = commit_txn(l, blk, hash, &s.loc, updates, false, err);
                }
                if (updates != NULL) {
                    ledger__updates_free(updates);
                }
                weft_free(owned);
                if (rc != 0) {
                    common__block__free_unpacked(blk, NULL);
                    ledger__scan_close(&s);
                    return weft_err_prefix(err, "recover block %llu",
                                           (unsigned long long)l->height);
                }
                publish(l, blk->header->number, hash);
                common__block__free_unpacked(blk, NULL);
                continue;
            }
            common__block__free_unpacked(blk, NULL);
            /* A whole record that is not the next block: position of it. */
            s.file_no = s.loc.file;
            s.offset = s.loc.offset;
        } else if (rc != WEFT_EPARSE && rc != WEFT_ECORRUPT) {
            ledger__scan_close(&s);
            return weft_err_set(err, rc, "recovery scan: %s", serr.msg);
        }
        /* A bad record: a torn tail of the last file is cut off (it was never
         * acknowledged: acknowledged records were fsync'd whole); anything
         * else is damage that needs an operator. */
        int64_t last = ledger__last_file(l->chain_dir);
        if ((int64_t)s.file_no != last) {
            ledger__scan_close(&s);
            return weft_err_set(err, WEFT_ECORRUPT, "blockfile_%06u offset %llu: %s",
                                s.file_no, (unsigned long long)s.offset,
                                why != NULL ? why : serr.msg);
        }
        uint32_t fno = s.file_no;
        uint64_t off = s.offset;
        ledger__scan_close(&s);
        return truncate_file(l, fno, off, err);
    }
    ledger__scan_close(&s);
    return 0;
}

/* ---- open --------------------------------------------------------------- */

/* History queries fetch the envelope a history entry points at. */
static int fetch_tx(void *ctx, uint64_t block_num, uint64_t tx_num, uint8_t **env,
                    size_t *env_len, struct weft_err *err)
{
    struct weft_ledger *l = ctx;
    uint8_t *bytes;
    size_t len;
    int rc = weft_ledger_block_by_number(l, block_num, &bytes, &len, err);
    if (rc != 0) {
        return rc;
    }
    Common__Block *blk = common__block__unpack(NULL, len, bytes);
    weft_free(bytes);
    if (blk == NULL) {
        return weft_err_set(err, WEFT_ECORRUPT, "block %llu does not decode",
                            (unsigned long long)block_num);
    }
    if (blk->data == NULL || tx_num >= blk->data->n_data) {
        common__block__free_unpacked(blk, NULL);
        return weft_err_set(err, WEFT_ENOTFOUND, "block %llu has no tx %llu",
                            (unsigned long long)block_num, (unsigned long long)tx_num);
    }
    const ProtobufCBinaryData *d = &blk->data->data[tx_num];
    *env = weft_memdup(d->data, d->len > 0 ? d->len : 1);
    *env_len = d->len;
    common__block__free_unpacked(blk, NULL);
    return *env != NULL ? 0 : weft_err_set(err, WEFT_ENOMEM, "out of memory");
}

static int open_env(struct weft_ledger *l, struct weft_err *err)
{
    int rc = mdb_env_create(&l->env);
    if (rc != 0) {
        l->env = NULL;
        return ledger__mdb_err(err, rc, "create LMDB environment");
    }
    unsigned flags = MDB_NOTLS | MDB_NOMETASYNC;
    if (l->opt.no_sync) {
        flags |= MDB_NOSYNC;
    }
    if ((rc = mdb_env_set_maxdbs(l->env, 32)) != 0 ||
        (rc = mdb_env_set_maxreaders(l->env, 512)) != 0 ||
        (rc = mdb_env_set_mapsize(l->env, l->map_size)) != 0 ||
        (rc = mdb_env_open(l->env, l->index_dir, flags, 0640)) != 0) {
        return ledger__mdb_err(err, rc, "open LMDB environment");
    }
    int dead = 0;
    (void)mdb_reader_check(l->env, &dead);
    /* A map set smaller than the file grows to the file's size. */
    MDB_envinfo info;
    if (mdb_env_info(l->env, &info) == 0 && info.me_mapsize > l->map_size) {
        l->map_size = info.me_mapsize;
    }
    MDB_txn *txn;
    rc = mdb_txn_begin(l->env, NULL, 0, &txn);
    if (rc != 0) {
        return ledger__mdb_err(err, rc, "begin open transaction");
    }
    if ((rc = mdb_dbi_open(txn, "blocks", MDB_CREATE, &l->dbi_blocks)) != 0 ||
        (rc = mdb_dbi_open(txn, "blockhashes", MDB_CREATE, &l->dbi_hashes)) != 0 ||
        (rc = mdb_dbi_open(txn, "txids", MDB_CREATE, &l->dbi_txids)) != 0 ||
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &l->dbi_meta)) != 0) {
        mdb_txn_abort(txn);
        return ledger__mdb_err(err, rc, "open index tables");
    }
    rc = ledger__state_open(&l->state, l->env, txn, err);
    if (rc != 0) {
        l->state = NULL;
        mdb_txn_abort(txn);
        return weft_err_prefix(err, "open state");
    }
    ledger__state_set_lock(l->state, &l->txn_lock);
    ledger__state_set_tx_fetcher(l->state, fetch_tx, l);
    /* First block whose transaction ids are not merged into the txids
     * table. A ledger written before pending ids existed has them all. */
    uint64_t sp;
    int src = ledger__meta_get_u64(txn, l->dbi_meta, SAVEPOINT_KEY, &sp);
    int trc = ledger__meta_get_u64(txn, l->dbi_meta, LEDGER_TXINDEXED_KEY, &l->tx_merged);
    if (trc == WEFT_ENOTFOUND) {
        l->tx_merged = src == 0 ? sp + 1 : 0;
        trc = ledger__meta_put_u64(txn, l->dbi_meta, LEDGER_TXINDEXED_KEY, l->tx_merged);
        if (trc != 0) {
            mdb_txn_abort(txn);
            return ledger__mdb_err(err, trc, "write txindexed");
        }
    } else if (trc != 0 || (src == 0 && l->tx_merged > sp + 1) ||
               (src == WEFT_ENOTFOUND && l->tx_merged != 0)) {
        mdb_txn_abort(txn);
        return weft_err_set(err, WEFT_ECORRUPT, "index: bad txindexed mark");
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        return ledger__mdb_err(err, rc, "commit open transaction");
    }
    return 0;
}

int weft_ledger_open(struct weft_ledger **out, const struct weft_ledger_options *opt,
                     struct weft_err *err)
{
    if (out == NULL || opt == NULL || opt->root == NULL || opt->channel == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "ledger root and channel are required");
    }
    if (!channel_name_ok(opt->channel)) {
        return weft_err_set(err, WEFT_EINVAL, "invalid channel name '%s'", opt->channel);
    }
    struct weft_ledger *l = weft_calloc(1, sizeof(*l));
    if (l == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    int rc;
    l->opt = *opt;
    l->opt.root = NULL;
    l->opt.channel = NULL;
    if (l->opt.max_file_size == 0) {
        l->opt.max_file_size = DEFAULT_FILE_SIZE;
    }
    l->map_size = opt->map_size != 0 ? opt->map_size : DEFAULT_MAP_SIZE;
    l->file_fd = -1;
    l->refs = 1;
    ledger__gate_init(&l->txn_lock);
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->txp_mu, NULL);
    pthread_mutex_init(&l->wr_mu, NULL);
    pthread_cond_init(&l->wr_cond, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cond, &ca);
    pthread_condattr_destroy(&ca);

    l->chain_dir = weft_asprintf("%s/ledgersData/chains/%s", opt->root, opt->channel);
    l->index_dir = l->chain_dir != NULL ? weft_asprintf("%s/index", l->chain_dir) : NULL;
    if (l->index_dir == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto fail;
    }
    rc = mkdirs(l->index_dir, !opt->no_sync);
    if (rc != 0) {
        rc = weft_err_set(err, rc, "create %s: %s", l->index_dir, weft_strerror(rc));
        goto fail;
    }
    rc = open_env(l, err);
    if (rc != 0) {
        goto fail;
    }
    rc = recover(l, err);
    if (rc != 0) {
        goto fail;
    }
    int64_t last = ledger__last_file(l->chain_dir);
    rc = ledger__file_open_current(l, last < 0 ? 0 : (uint32_t)last, last < 0, err);
    if (rc != 0) {
        goto fail;
    }
    /* Without the thread (creation failed) records are written in line. */
    (void)ledger__writer_start(l);
    *out = l;
    return 0;
fail:
    ledger_free(l);
    return rc;
}

/* ---- reads -------------------------------------------------------------- */

void weft_ledger_info(struct weft_ledger *l, struct weft_ledger_info *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&l->mu);
    out->height = l->height;
    if (l->height > 0) {
        memcpy(out->current_hash, l->last_hash, WEFT_LEDGER_HASH_LEN);
        memcpy(out->previous_hash, l->last_prev, l->last_prev_len);
        out->previous_hash_len = l->last_prev_len;
    }
    pthread_mutex_unlock(&l->mu);
}

int weft_ledger_block_by_number(struct weft_ledger *l, uint64_t number, uint8_t **bytes,
                                size_t *len, struct weft_err *err)
{
    MDB_txn *txn;
    struct ledger_blockloc loc;
    int rc = ledger__read_begin(l, &txn, err);
    if (rc != 0) {
        return rc;
    }
    rc = ledger__index_get_loc(txn, l->dbi_blocks, number, &loc, NULL);
    ledger__read_end(l, txn);
    if (rc == WEFT_ENOTFOUND) {
        return weft_err_set(err, rc, "block %llu not found", (unsigned long long)number);
    }
    if (rc != 0) {
        return weft_err_set(err, rc, "index entry of block %llu", (unsigned long long)number);
    }
    rc = ledger__file_read(l->chain_dir, &loc, bytes, err);
    if (rc == 0) {
        *len = loc.length;
    }
    return rc;
}

static int lookup_number(struct weft_ledger *l, MDB_dbi dbi, const void *key, size_t key_len,
                         uint64_t *number, uint8_t *extra, size_t extra_len)
{
    MDB_txn *txn;
    int rc = ledger__read_begin(l, &txn, NULL);
    if (rc != 0) {
        return rc;
    }
    MDB_val k = {key_len, (void *)(uintptr_t)key}, v;
    rc = mdb_get(txn, dbi, &k, &v);
    if (rc == 0 && v.mv_size != 8 + extra_len) {
        rc = WEFT_ECORRUPT;
    } else if (rc == 0) {
        *number = ledger__get_u64be(v.mv_data);
        if (extra_len > 0) {
            memcpy(extra, (uint8_t *)v.mv_data + 8, extra_len);
        }
    } else {
        rc = rc == MDB_NOTFOUND ? WEFT_ENOTFOUND : WEFT_EIO;
    }
    ledger__read_end(l, txn);
    return rc;
}

int weft_ledger_block_by_hash(struct weft_ledger *l, const uint8_t *hash, size_t hash_len,
                              uint8_t **bytes, size_t *len, struct weft_err *err)
{
    uint64_t n;
    if (hash == NULL || hash_len != WEFT_LEDGER_HASH_LEN) {
        return weft_err_set(err, WEFT_ENOTFOUND, "no block has a %zu-byte hash", hash_len);
    }
    int rc = lookup_number(l, l->dbi_hashes, hash, hash_len, &n, NULL, 0);
    if (rc != 0) {
        return weft_err_set(err, rc, "block hash lookup: %s", weft_strerror(rc));
    }
    return weft_ledger_block_by_number(l, n, bytes, len, err);
}

int weft_ledger_tx_by_id(struct weft_ledger *l, const char *txid, struct weft_ledger_txloc *out,
                         struct weft_err *err)
{
    if (l->opt.no_txid_index) {
        return weft_err_set(err, WEFT_EUNSUPPORTED,
                            "transaction '%s': this ledger keeps no transaction-id index",
                            txid != NULL ? txid : "");
    }
    size_t n = txid != NULL ? strlen(txid) : 0;
    if (n == 0 || n > 511) {
        return weft_err_set(err, WEFT_ENOTFOUND, "transaction '%s' not found",
                            txid != NULL ? txid : "");
    }
    /* Pending ids first, then the table: a merge empties the set only after
     * its LMDB commit, so an id is always in one of the two. An id in both
     * (a later copy pending) is the table's, the earlier one. */
    struct ledger_txpend_ent pe = {0, 0, 0, 0, 0};
    bool pending = false;
    pthread_mutex_lock(&l->txp_mu);
    const struct ledger_txpend_ent *e = ledger__txp_find(&l->txp, (const uint8_t *)txid, n);
    if (e != NULL) {
        pe = *e;
        pending = true;
    }
    pthread_mutex_unlock(&l->txp_mu);
    uint8_t extra[5];
    uint64_t block;
    int rc = lookup_number(l, l->dbi_txids, txid, n, &block, extra, sizeof(extra));
    if (rc == WEFT_ENOTFOUND && pending) {
        out->block = pe.block;
        out->tx = pe.tx;
        out->code = pe.code;
        return 0;
    }
    if (rc != 0) {
        return weft_err_set(err, rc, "transaction '%s': %s", txid, weft_strerror(rc));
    }
    out->block = block;
    out->tx = (uint32_t)extra[0] << 24 | (uint32_t)extra[1] << 16 | (uint32_t)extra[2] << 8 |
              extra[3];
    out->code = extra[4];
    return 0;
}

int weft_ledger_block_by_txid(struct weft_ledger *l, const char *txid, uint8_t **bytes,
                              size_t *len, struct weft_err *err)
{
    struct weft_ledger_txloc t;
    int rc = weft_ledger_tx_by_id(l, txid, &t, err);
    if (rc != 0) {
        return rc;
    }
    return weft_ledger_block_by_number(l, t.block, bytes, len, err);
}

/* ---- iterators ---------------------------------------------------------- */

int weft_ledger_iter_new(struct weft_ledger *l, uint64_t start, struct weft_ledger_iter **out,
                         struct weft_err *err)
{
    struct weft_ledger_iter *it = weft_calloc(1, sizeof(*it));
    if (it == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&l->mu);
    if (l->closing) {
        pthread_mutex_unlock(&l->mu);
        weft_free(it);
        return weft_err_set(err, WEFT_ESHUTDOWN, "ledger is closing");
    }
    l->refs++;
    pthread_mutex_unlock(&l->mu);
    it->l = l;
    it->next = start;
    *out = it;
    return 0;
}

int weft_ledger_iter_next(struct weft_ledger_iter *it, uint64_t deadline_mono_ns,
                          uint8_t **bytes, size_t *len, uint64_t *number, struct weft_err *err)
{
    struct weft_ledger *l = it->l;
    struct timespec ts = {(time_t)(deadline_mono_ns / 1000000000u),
                          (long)(deadline_mono_ns % 1000000000u)};
    int rc = 0;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        if (it->canceled) {
            rc = weft_err_set(err, WEFT_ECANCELED, "iterator canceled");
            break;
        }
        if (l->closing) {
            rc = weft_err_set(err, WEFT_ESHUTDOWN, "ledger closed");
            break;
        }
        if (it->next < l->height) {
            break;
        }
        if (deadline_mono_ns == 0) {
            pthread_cond_wait(&l->cond, &l->mu);
        } else if (pthread_cond_timedwait(&l->cond, &l->mu, &ts) == ETIMEDOUT &&
                   it->next >= l->height && !it->canceled && !l->closing) {
            rc = weft_err_set(err, WEFT_ETIMEDOUT, "no block %llu before the deadline",
                              (unsigned long long)it->next);
            break;
        }
    }
    pthread_mutex_unlock(&l->mu);
    if (rc != 0) {
        return rc;
    }
    rc = weft_ledger_block_by_number(l, it->next, bytes, len, err);
    if (rc == 0) {
        if (number != NULL) {
            *number = it->next;
        }
        it->next++;
    }
    return rc;
}

void weft_ledger_iter_cancel(struct weft_ledger_iter *it)
{
    pthread_mutex_lock(&it->l->mu);
    it->canceled = true;
    pthread_cond_broadcast(&it->l->cond);
    pthread_mutex_unlock(&it->l->mu);
}

void weft_ledger_iter_free(struct weft_ledger_iter *it)
{
    if (it == NULL) {
        return;
    }
    ledger_unref(it->l);
    weft_free(it);
}

/* ---- offline verify / read ---------------------------------------------- */

struct ro_index {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi blocks, hashes, txids, meta;
};

/* Opens <chain_dir>/index read-only. 1 when there is no index. */
static int ro_index_open(struct ro_index *x, const char *chain_dir, struct weft_err *err)
{
    memset(x, 0, sizeof(*x));
    char *dir = weft_asprintf("%s/index", chain_dir);
    if (dir == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    char *data = weft_asprintf("%s/data.mdb", dir);
    struct stat st;
    bool exists = data != NULL && stat(data, &st) == 0;
    weft_free(data);
    if (!exists) {
        weft_free(dir);
        return 1;
    }
    int rc = mdb_env_create(&x->env);
    if (rc == 0) {
        (void)mdb_env_set_maxdbs(x->env, 32);
        rc = mdb_env_open(x->env, dir, MDB_RDONLY | MDB_NOTLS, 0640);
    }
    weft_free(dir);
    if (rc == 0) {
        rc = mdb_txn_begin(x->env, NULL, MDB_RDONLY, &x->txn);
    }
    if (rc == 0 && ((rc = mdb_dbi_open(x->txn, "blocks", 0, &x->blocks)) != 0 ||
                    (rc = mdb_dbi_open(x->txn, "blockhashes", 0, &x->hashes)) != 0 ||
                    (rc = mdb_dbi_open(x->txn, "txids", 0, &x->txids)) != 0 ||
                    (rc = mdb_dbi_open(x->txn, "meta", 0, &x->meta)) != 0)) {
        /* fall through */
    }
    if (rc != 0) {
        if (x->txn != NULL) {
            mdb_txn_abort(x->txn);
        }
        if (x->env != NULL) {
            mdb_env_close(x->env);
        }
        memset(x, 0, sizeof(*x));
        return ledger__mdb_err(err, rc, "open index read-only");
    }
    return 0;
}

static void ro_index_close(struct ro_index *x)
{
    if (x->txn != NULL) {
        mdb_txn_abort(x->txn);
    }
    if (x->env != NULL) {
        mdb_env_close(x->env);
    }
}

/* Index checks for one block found in the files. */
static int verify_block_index(struct ro_index *x, const Common__Block *blk,
                              const struct ledger_blockloc *loc, const uint8_t *hash,
                              bool check_txids, struct weft_err *err)
{
    uint64_t n = blk->header->number;
    struct ledger_blockloc il;
    uint8_t ih[WEFT_LEDGER_HASH_LEN];
    int rc = ledger__index_get_loc(x->txn, x->blocks, n, &il, ih);
    if (rc == WEFT_ENOTFOUND) {
        return 1; /* not indexed yet (recovery will) */
    }
    if (rc != 0 || il.file != loc->file || il.offset != loc->offset ||
        il.length != loc->length || memcmp(ih, hash, WEFT_LEDGER_HASH_LEN) != 0) {
        return weft_err_set(err, WEFT_ECORRUPT,
                            "index entry of block %llu disagrees with blockfile_%06u offset %llu",
                            (unsigned long long)n, loc->file, (unsigned long long)loc->offset);
    }
    MDB_val k = {WEFT_LEDGER_HASH_LEN, (void *)(uintptr_t)hash}, v;
    if (mdb_get(x->txn, x->hashes, &k, &v) != 0 || v.mv_size != 8 ||
        ledger__get_u64be(v.mv_data) != n) {
        return weft_err_set(err, WEFT_ECORRUPT, "hash index lacks block %llu",
                            (unsigned long long)n);
    }
    /* Ids of blocks above the txindexed mark are pending (rebuilt in memory
     * on open, merged later): not in the table yet. */
    size_t ntx = check_txids && blk->data != NULL ? blk->data->n_data : 0;
    const ProtobufCBinaryData *f = NULL;
    if (blk->metadata != NULL &&
        blk->metadata->n_metadata > COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER) {
        f = &blk->metadata->metadata[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER];
    }
    for (size_t i = 0; i < ntx; i++) {
        const uint8_t *txid;
        size_t tl;
        if (ledger__envelope_txid(blk->data->data[i].data, blk->data->data[i].len, &txid, &tl) !=
                0 ||
            tl == 0 || tl > 511) {
            continue;
        }
        MDB_val tk = {tl, (void *)(uintptr_t)txid}, tv;
        bool ok = mdb_get(x->txn, x->txids, &tk, &tv) == 0 && tv.mv_size == 13;
        if (ok) {
            const uint8_t *p = tv.mv_data;
            uint64_t b = ledger__get_u64be(p);
            uint32_t t = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
            uint8_t code = f != NULL && f->len == ntx ? f->data[i] : 0;
            /* The entry names the first occurrence: this tx, or an earlier one. */
            ok = b < n || (b == n && t < i) || (b == n && t == i && p[12] == code);
        }
        if (!ok) {
            return weft_err_set(err, WEFT_ECORRUPT,
                                "txid index wrong for block %llu tx %zu (%.*s)",
                                (unsigned long long)n, i, (int)tl, (const char *)txid);
        }
    }
    return 0;
}

int weft_ledger_verify_dir(const char *chain_dir, uint64_t *height_out, struct weft_err *err)
{
    struct stat st;
    if (height_out != NULL) {
        *height_out = 0;
    }
    if (stat(chain_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return weft_err_set(err, WEFT_ENOTFOUND, "%s is not a channel ledger folder", chain_dir);
    }
    if (ledger__last_file(chain_dir) < 0) {
        return weft_err_set(err, WEFT_ENOTFOUND, "%s holds no block files", chain_dir);
    }
    struct ro_index x;
    int rc = ro_index_open(&x, chain_dir, err);
    if (rc < 0) {
        return rc;
    }
    bool have_index = rc == 0;
    /* Ledgers written before the mark existed have every id in the table. */
    uint64_t txindexed = UINT64_MAX;
    int trc = have_index ? ledger__meta_get_u64(x.txn, x.meta, LEDGER_TXINDEXED_KEY, &txindexed)
                         : WEFT_ENOTFOUND;
    if (trc == WEFT_ENOTFOUND) {
        txindexed = UINT64_MAX;
    } else if (trc != 0) {
        ro_index_close(&x);
        return weft_err_set(err, WEFT_ECORRUPT, "index: bad txindexed mark");
    }
    struct ledger_scan s;
    ledger__scan_init(&s, chain_dir, 0, 0);
    uint64_t height = 0;
    uint64_t indexed = 0;
    bool index_gap = false;
    uint8_t last[WEFT_LEDGER_HASH_LEN];
    for (;;) {
        rc = ledger__scan_next(&s, err);
        if (rc <= 0) {
            if (rc < 0 && err != NULL) {
                err->code = WEFT_ECORRUPT; /* message from the scan names file and offset */
                rc = WEFT_ECORRUPT;
            } else if (rc < 0) {
                rc = WEFT_ECORRUPT;
            }
            break;
        }
        struct weft_err berr;
        weft_err_clear(&berr);
        uint8_t hash[WEFT_LEDGER_HASH_LEN];
        Common__Block *blk = common__block__unpack(NULL, s.len, s.block);
        if (blk == NULL) {
            rc = weft_err_set(err, WEFT_ECORRUPT,
                              "blockfile_%06u offset %llu: record does not hold a common.Block",
                              s.loc.file, (unsigned long long)s.loc.offset);
            break;
        }
        rc = s.number != height ? weft_err_set(&berr, WEFT_EINVAL,
                                               "record says block %llu, expected %llu",
                                               (unsigned long long)s.number,
                                               (unsigned long long)height)
                                : check_chain(blk, height, last, hash, &berr);
        if (rc != 0) {
            common__block__free_unpacked(blk, NULL);
            rc = weft_err_set(err, WEFT_ECORRUPT, "blockfile_%06u offset %llu: %s", s.loc.file,
                              (unsigned long long)s.loc.offset, berr.msg);
            break;
        }
        if (have_index) {
            rc = verify_block_index(&x, blk, &s.loc, hash, height < txindexed, err);
            if (rc == 1) {
                index_gap = true;
                rc = 0;
            } else if (rc == 0 && index_gap) {
                rc = weft_err_set(err, WEFT_ECORRUPT, "index has block %llu after a gap",
                                  (unsigned long long)height);
            } else if (rc == 0) {
                indexed++;
            }
        }
        common__block__free_unpacked(blk, NULL);
        if (rc != 0) {
            break;
        }
        memcpy(last, hash, WEFT_LEDGER_HASH_LEN);
        height++;
    }
    ledger__scan_close(&s);
    if (rc == 0 && have_index) {
        /* Nothing indexed beyond the files, and the savepoint agrees. */
        struct ledger_blockloc il;
        uint64_t sp;
        int src = ledger__meta_get_u64(x.txn, x.meta, SAVEPOINT_KEY, &sp);
        if (ledger__index_get_loc(x.txn, x.blocks, height, &il, NULL) != WEFT_ENOTFOUND) {
            rc = weft_err_set(err, WEFT_ECORRUPT,
                              "index holds block %llu, which the block files lack",
                              (unsigned long long)height);
        } else if ((src == 0 && sp + 1 != indexed) || (src == WEFT_ENOTFOUND && indexed != 0) ||
                   (src != 0 && src != WEFT_ENOTFOUND)) {
            rc = weft_err_set(err, WEFT_ECORRUPT, "savepoint disagrees with the %llu indexed blocks",
                              (unsigned long long)indexed);
        } else if (txindexed != UINT64_MAX && txindexed > indexed) {
            rc = weft_err_set(err, WEFT_ECORRUPT,
                              "txindexed mark %llu is above the %llu indexed blocks",
                              (unsigned long long)txindexed, (unsigned long long)indexed);
        }
    }
    if (have_index) {
        ro_index_close(&x);
    }
    if (height_out != NULL) {
        *height_out = height;
    }
    return rc;
}

int weft_ledger_read_dir(const char *chain_dir, uint64_t number, uint8_t **bytes, size_t *len,
                         struct weft_err *err)
{
    struct ro_index x;
    int rc = ro_index_open(&x, chain_dir, err);
    if (rc < 0) {
        return rc;
    }
    if (rc == 0) {
        struct ledger_blockloc loc;
        rc = ledger__index_get_loc(x.txn, x.blocks, number, &loc, NULL);
        ro_index_close(&x);
        if (rc == 0) {
            rc = ledger__file_read(chain_dir, &loc, bytes, err);
            if (rc == 0) {
                *len = loc.length;
            }
            return rc;
        }
    }
    /* Not indexed: scan the files. */
    struct ledger_scan s;
    ledger__scan_init(&s, chain_dir, 0, 0);
    for (;;) {
        rc = ledger__scan_next(&s, err);
        if (rc <= 0) {
            break;
        }
        if (s.number == number) {
            *bytes = s.block;
            *len = s.len;
            s.block = NULL;
            ledger__scan_close(&s);
            return 0;
        }
    }
    ledger__scan_close(&s);
    return rc < 0 ? rc : weft_err_set(err, WEFT_ENOTFOUND, "block %llu not found",
                                      (unsigned long long)number);
}
