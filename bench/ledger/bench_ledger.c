/*
 * Ledger benchmark (issue 4):
 *  (a) commit of blocks of 500 transactions x 4 writes through
 *      weft_ledger_commit_bytes, history on, fsync on: tx/s, state keys/s
 *      (the 2,000 state rows of a block) and LMDB entries/s (every entry the
 *      commit writes: 2,000 state rows, 2,000 history entries, 500 txids, the
 *      block-number and block-hash entries and the savepoint = 4,503 a
 *      block), peak RSS;
 *  (b) point reads/s of random keys from a 1 M-key state through the query
 *      executor API;
 *  (c) raw LMDB batched puts/s of the same keys and values, in the same run:
 *      the 2,000 state rows of each block exactly as the commit stores them
 *      (key = namespace 0x00 key, value = the 21-byte version header followed
 *      by the 64-byte value), plain mdb_put in block order, one write txn per
 *      block, same environment flags as the ledger (synced commits,
 *      MDB_NOMETASYNC); prints ratio (a)/(c) in state keys/s;
 *  (d) for reference, raw LMDB puts of ALL 4,503 entries a commit writes
 *      (same tables and values), i.e. what LMDB alone costs for the commit's
 *      writes without block file, decoding, hashing or checks.
 * Keys are new keys in increasing order; transaction ids are random 64-hex
 * strings as Fabric's (SHA-256 hex). Blocks and raw rows are built before
 * the clocks start. Each of (a), (c), (d) runs `rounds` times, interleaved
 * (a c d a c d ...), each on a fresh folder, and the best round of each is
 * reported (the machine is shared); every round's time is in the JSON.
 * With txids "seq" the transaction ids increase instead (the txid index is
 * then appended to, which hides the cost of random inserts).
 * Usage: bench_ledger OUT.json [blocks_timed=100] [state_keys=1000000] [rounds=3]
 *                     [txids=random|seq]
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "test_blockstore_gen.h"
#include "testlib.h"
#include "weft/base.h"
#include "weft/ledger.h"
#include "weft/ledger_state.h"

#define NTX 500
#define NW 4
#define VLEN 64
#define REC_HDR 21 /* state record header: format, block, tx, meta_len */
#define NS "basic"
#define MAX_ROUNDS 16

static void die(const char *what, const struct weft_err *err)
{
    fprintf(stderr, "bench_ledger: %s: %s\n", what, err != NULL ? err->msg : "");
    exit(1);
}

static void key_name(char *out, size_t n, uint64_t k)
{
    snprintf(out, n, "key%010llu", (unsigned long long)k);
}

static void value_of(uint8_t *v, uint64_t k)
{
    for (size_t i = 0; i < VLEN; i++) {
        v[i] = (uint8_t)('a' + (k * 7 + i) % 26);
    }
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static bool seq_txids; /* "seq": increasing txids instead of random ones */

/* Random-looking 64-hex txid of transaction t of block number (or, with
 * seq_txids, its sequence number in 64 digits). */
static void txid_of(char out[65], uint64_t number, uint64_t t)
{
    uint64_t s = number * NTX + t + 1;
    if (seq_txids) {
        snprintf(out, 65, "%064llu", (unsigned long long)s);
        return;
    }
    for (int i = 0; i < 4; i++) {
        snprintf(out + 16 * i, 17, "%016llx", (unsigned long long)splitmix(&s));
    }
}

/* Block `number` writing keys [first, first + NTX*NW). */
static void build_block(uint64_t number, const uint8_t *prev, uint64_t first, uint8_t **out,
                        size_t *len, uint8_t hash[32])
{
    static ProtobufCBinaryData data[NTX];
    char keys[NW][24];
    uint8_t vals[NW][VLEN];
    struct bg_write w[NW];
    for (size_t t = 0; t < NTX; t++) {
        for (size_t i = 0; i < NW; i++) {
            uint64_t k = first + t * NW + i;
            key_name(keys[i], sizeof(keys[i]), k);
            value_of(vals[i], k);
            w[i] = (struct bg_write){keys[i], vals[i], VLEN, false};
        }
        char txid[65];
        txid_of(txid, number, t);
        if (bg_envelope("benchchannel", txid, NS, w, NW, &data[t].data, &data[t].len) != 0) {
            die("build envelope", NULL);
        }
    }
    if (bg_block(number, prev, number > 0 ? 32 : 0, data, NTX, NULL, out, len, hash) != 0) {
        die("build block", NULL);
    }
    for (size_t t = 0; t < NTX; t++) {
        weft_free(data[t].data);
    }
}

static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void put_u64be(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* ---- raw LMDB rows ------------------------------------------------------ */

struct row {
    uint8_t k[80];
    uint8_t klen;
    uint8_t v[REC_HDR + VLEN];
    uint8_t vlen;
    uint8_t dbi; /* 0 state, 1 history, 2 txids, 3 blocks, 4 hashes, 5 meta */
};

/* Every entry a commit of block n writes, in the order the ledger computes
 * them; the first NTX*NW rows of each block are its state rows. */
static struct row *build_rows(uint64_t nblocks, size_t *per_block)
{
    size_t per = (size_t)NTX * NW * 2 + NTX + 3;
    struct row *rows = weft_calloc(nblocks * per, sizeof(*rows));
    if (rows == NULL) {
        die("out of memory", NULL);
    }
    for (uint64_t n = 0; n < nblocks; n++) {
        struct row *r = rows + n * per;
        for (uint64_t i = 0; i < (uint64_t)NTX * NW; i++, r++) {
            uint64_t k = n * NTX * NW + i;
            char kn[24];
            key_name(kn, sizeof(kn), k);
            size_t kl = strlen(kn);
            memcpy(r->k, NS, sizeof(NS)); /* with its NUL */
            memcpy(r->k + sizeof(NS), kn, kl);
            r->klen = (uint8_t)(sizeof(NS) + kl);
            r->v[0] = 1;
            put_u64be(r->v + 1, n);
            put_u64be(r->v + 9, i / NW);
            value_of(r->v + REC_HDR, k);
            r->vlen = REC_HDR + VLEN;
        }
        for (uint64_t i = 0; i < (uint64_t)NTX * NW; i++, r++) {
            uint64_t k = n * NTX * NW + i;
            char kn[24];
            key_name(kn, sizeof(kn), k);
            size_t kl = strlen(kn);
            memcpy(r->k, NS, sizeof(NS));
            uint8_t *p = r->k + sizeof(NS);
            p[0] = p[1] = p[2] = 0;
            p[3] = (uint8_t)kl;
            memcpy(p + 4, kn, kl);
            put_u64be(p + 4 + kl, n);
            put_u64be(p + 12 + kl, i / NW);
            r->klen = (uint8_t)(sizeof(NS) + 4 + kl + 16);
            r->vlen = 1;
            r->dbi = 1;
        }
        for (uint64_t t = 0; t < NTX; t++, r++) {
            char txid[65];
            txid_of(txid, n, t);
            memcpy(r->k, txid, 64);
            r->klen = 64;
            put_u64be(r->v, n);
            r->v[11] = (uint8_t)t;
            r->v[10] = (uint8_t)(t >> 8);
            r->vlen = 13;
            r->dbi = 2;
        }
        put_u64be(r->k, n);
        r->klen = 8;
        r->vlen = 48;
        r->dbi = 3;
        r++;
        put_u64be(r->k, n * 2654435761u + 17); /* a 32-byte "hash" */
        put_u64be(r->k + 8, n);
        r->klen = 32;
        put_u64be(r->v, n);
        r->vlen = 8;
        r->dbi = 4;
        r++;
        memcpy(r->k, "savepoint", 9);
        r->klen = 9;
        put_u64be(r->v, n);
        r->vlen = 8;
        r->dbi = 5;
    }
    *per_block = per;
    return rows;
}

/* Puts rows [0, count) of each block's `per` rows, one txn per block, in a
 * fresh environment under dir. Returns seconds. */
static double raw_run(const char *dir, const struct row *rows, uint64_t nblocks, size_t per,
                      size_t count)
{
    char *cmd = weft_asprintf("mkdir -p %s", dir);
    if (system(cmd) != 0) {
        die("mkdir", NULL);
    }
    weft_free(cmd);
    static const char *const names[] = {"state",  "history",     "txids",
                                        "blocks", "blockhashes", "meta"};
    MDB_env *env;
    MDB_dbi dbi[6];
    MDB_txn *txn;
    if (mdb_env_create(&env) != 0 || mdb_env_set_mapsize(env, (size_t)4 << 30) != 0 ||
        mdb_env_set_maxdbs(env, 8) != 0 ||
        mdb_env_open(env, dir, MDB_NOTLS | MDB_NOMETASYNC, 0640) != 0 ||
        mdb_txn_begin(env, NULL, 0, &txn) != 0) {
        die("raw env", NULL);
    }
    for (int i = 0; i < 6; i++) {
        if (mdb_dbi_open(txn, names[i], MDB_CREATE, &dbi[i]) != 0) {
            die("raw dbi", NULL);
        }
    }
    if (mdb_txn_commit(txn) != 0) {
        die("raw commit", NULL);
    }
    uint64_t t0 = weft_clock_mono_ns();
    for (uint64_t n = 0; n < nblocks; n++) {
        if (mdb_txn_begin(env, NULL, 0, &txn) != 0) {
            die("raw txn", NULL);
        }
        for (size_t i = 0; i < count; i++) {
            const struct row *r = &rows[n * per + i];
            MDB_val mk = {r->klen, (void *)(uintptr_t)r->k},
                    mv = {r->vlen, (void *)(uintptr_t)r->v};
            if (mdb_put(txn, dbi[r->dbi], &mk, &mv, 0) != 0) {
                die("raw put", NULL);
            }
        }
        if (mdb_txn_commit(txn) != 0) {
            die("raw commit", NULL);
        }
    }
    double s = (double)(weft_clock_mono_ns() - t0) / 1e9;
    mdb_env_close(env);
    return s;
}

static struct weft_ledger *open_ledger(const char *root)
{
    struct weft_ledger_options o;
    weft_ledger_options_init(&o);
    o.root = root;
    o.channel = "benchchannel";
    o.history = true;
    struct weft_ledger *l;
    struct weft_err err;
    weft_err_clear(&err);
    if (weft_ledger_open(&l, &o, &err) != 0) {
        die("open", &err);
    }
    return l;
}

static double best_of(const double *t, int n)
{
    double b = t[0];
    for (int i = 1; i < n; i++) {
        b = t[i] < b ? t[i] : b;
    }
    return b;
}

static void json_list(FILE *f, const double *t, int n)
{
    fputc('[', f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s%.4f", i > 0 ? ", " : "", t[i]);
    }
    fputc(']', f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_ledger OUT.json [blocks_timed=100] [state_keys=1000000] "
                        "[rounds=3] [txids=random|seq]\n");
        return 2;
    }
    uint64_t nblocks = argc > 2 ? strtoull(argv[2], NULL, 10) : 100;
    uint64_t state_keys = argc > 3 ? strtoull(argv[3], NULL, 10) : 1000000;
    int rounds = argc > 4 ? atoi(argv[4]) : 3;
    seq_txids = argc > 5 && strcmp(argv[5], "seq") == 0;
    if (nblocks == 0 || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "bench_ledger: blocks must be > 0 and rounds 1..%d\n", MAX_ROUNDS);
        return 2;
    }
    char *root = wt_tmpdir("bench-ledger");
    struct weft_err err;
    weft_err_clear(&err);

    /* Pre-build the timed blocks and raw rows so the clocks measure the
     * commit path and LMDB only. */
    uint8_t **blocks = weft_calloc(nblocks, sizeof(*blocks));
    size_t *lens = weft_calloc(nblocks, sizeof(*lens));
    uint8_t prev[32];
    for (uint64_t n = 0; n < nblocks; n++) {
        build_block(n, prev, n * NTX * NW, &blocks[n], &lens[n], prev);
    }
    size_t per;
    struct row *rows = build_rows(nblocks, &per);
    long rss_before = maxrss_kb();

    const uint64_t state_rows = nblocks * NTX * NW;
    const uint64_t entries = nblocks * per;
    double ta[MAX_ROUNDS], tc[MAX_ROUNDS], td[MAX_ROUNDS];
    long rss_a = 0;
    struct weft_ledger *l = NULL;
    for (int r = 0; r < rounds; r++) {
        /* (a) commit */
        char *lroot = weft_asprintf("%s/ledger%d", root, r);
        l = open_ledger(lroot);
        uint64_t t0 = weft_clock_mono_ns();
        for (uint64_t n = 0; n < nblocks; n++) {
            if (weft_ledger_commit_bytes(l, blocks[n], lens[n], &err) != 0) {
                die("commit", &err);
            }
        }
        ta[r] = (double)(weft_clock_mono_ns() - t0) / 1e9;
        if (r == 0) {
            rss_a = maxrss_kb();
        }
        if (r + 1 < rounds) {
            weft_ledger_close(l);
            l = NULL;
            wt_rmtree(lroot);
        }
        weft_free(lroot);

        /* (c) raw LMDB, the same state rows */
        char *dir = weft_asprintf("%s/raw%d", root, r);
        tc[r] = raw_run(dir, rows, nblocks, per, (size_t)NTX * NW);
        wt_rmtree(dir);
        weft_free(dir);

        /* (d) raw LMDB, every entry of the commit */
        dir = weft_asprintf("%s/rawall%d", root, r);
        td[r] = raw_run(dir, rows, nblocks, per, per);
        wt_rmtree(dir);
        weft_free(dir);
        printf("round %d: (a) %.3f s  (c) %.3f s  (d) %.3f s\n", r + 1, ta[r], tc[r], td[r]);
    }
    double a = best_of(ta, rounds), c = best_of(tc, rounds), d = best_of(td, rounds);
    double tx_s = (double)(nblocks * NTX) / a;
    double keys_a = (double)state_rows / a;
    double ent_a = (double)entries / a;
    double keys_c = (double)state_rows / c;
    double ent_d = (double)entries / d;
    printf("best of %d interleaved rounds, %llu blocks x %d tx x %d writes each, %s txids:\n",
           rounds, (unsigned long long)nblocks, NTX, NW, seq_txids ? "sequential" : "random");
    printf("(a) commit (fsync on, history on): %.0f tx/s, %.0f state keys/s, %.0f LMDB "
           "entries/s (%zu entries a block)\n",
           tx_s, keys_a, ent_a, per);
    printf("    peak RSS %ld KiB, of which %ld KiB before the first commit (the pre-built blocks "
           "and raw rows): +%ld KiB during (a)\n",
           rss_a, rss_before, rss_a - rss_before);
    printf("(c) raw LMDB, the same %d state rows a block: %.0f keys/s\n", NTX * NW, keys_c);
    printf("    ratio (a)/(c) state keys/s: %.2f\n", keys_a / keys_c);
    printf("(d) raw LMDB, all %zu entries a block: %.0f entries/s (ratio (a)/(d) entries/s: "
           "%.2f)\n",
           per, ent_d, ent_a / ent_d);
    for (uint64_t n = 0; n < nblocks; n++) {
        weft_free(blocks[n]);
    }
    weft_free(blocks);
    weft_free(lens);
    weft_free(rows);

    /* Fill the last round's state up to state_keys keys (not timed). */
    uint64_t blk_keys = NTX * NW;
    uint64_t n = nblocks;
    while (n * blk_keys < state_keys) {
        uint8_t *b;
        size_t len;
        build_block(n, prev, n * blk_keys, &b, &len, prev);
        if (weft_ledger_commit_bytes(l, b, len, &err) != 0) {
            die("fill commit", &err);
        }
        weft_free(b);
        n++;
    }
    uint64_t total_keys = n * blk_keys;

    /* (b) point reads of random keys through the query executor. */
    uint64_t reads = 500000;
    uint64_t found_n = 0;
    uint64_t rnd = 88172645463325252ull;
    uint64_t t0 = weft_clock_mono_ns();
    for (uint64_t done = 0; done < reads;) {
        struct weft_ledger_sim *qe;
        if (weft_ledger_qe_new(l, &qe, &err) != 0) {
            die("qe", &err);
        }
        for (int i = 0; i < 1000; i++, done++) {
            rnd ^= rnd << 13;
            rnd ^= rnd >> 7;
            rnd ^= rnd << 17;
            char kb[24];
            key_name(kb, sizeof(kb), rnd % total_keys);
            uint8_t *v = NULL;
            size_t vl = 0;
            bool found = false;
            if (weft_ledger_sim_get(qe, NS, kb, strlen(kb), &v, &vl, &found, NULL, &err) != 0) {
                die("get", &err);
            }
            found_n += found && vl == VLEN;
            weft_free(v);
        }
        weft_ledger_sim_free(qe);
    }
    double tb = (double)(weft_clock_mono_ns() - t0) / 1e9;
    double reads_s = (double)reads / tb;
    printf("(b) point reads: %.0f reads/s from a %llu-key state (%llu/%llu found)\n", reads_s,
           (unsigned long long)total_keys, (unsigned long long)found_n, (unsigned long long)reads);
    weft_ledger_close(l);
    wt_rmtree(root);
    weft_free(root);

    FILE *f = fopen(argv[1], "w");
    if (f == NULL) {
        perror(argv[1]);
        return 1;
    }
    fprintf(f,
            "{\n  \"name\": \"ledger\",\n  \"rounds\": %d,\n  \"txids\": \"%s\",\n"
            "  \"commit\": {\"blocks\": %llu, \"tx_per_block\": %d, \"writes_per_tx\": %d, "
            "\"lmdb_entries_per_block\": %zu, \"best_seconds\": %.4f, \"round_seconds\": ",
            rounds, seq_txids ? "seq" : "random", (unsigned long long)nblocks, NTX, NW, per, a);
    json_list(f, ta, rounds);
    fprintf(f,
            ", \"tx_per_s\": %.0f, \"state_keys_per_s\": %.0f, \"lmdb_entries_per_s\": %.0f, "
            "\"fsync\": true, \"history\": true, \"peak_rss_kib\": %ld},\n",
            tx_s, keys_a, ent_a, rss_a);
    fprintf(f,
            "  \"point_reads\": {\"state_keys\": %llu, \"reads\": %llu, \"reads_per_s\": %.0f},\n",
            (unsigned long long)total_keys, (unsigned long long)reads, reads_s);
    fprintf(f, "  \"raw_lmdb_state_rows\": {\"best_seconds\": %.4f, \"round_seconds\": ", c);
    json_list(f, tc, rounds);
    fprintf(f, ", \"keys_per_s\": %.0f},\n", keys_c);
    fprintf(f, "  \"raw_lmdb_all_entries\": {\"best_seconds\": %.4f, \"round_seconds\": ", d);
    json_list(f, td, rounds);
    fprintf(f, ", \"entries_per_s\": %.0f},\n", ent_d);
    fprintf(f,
            "  \"ratio_commit_to_raw_keys\": %.3f,\n  \"ratio_commit_to_raw_all_entries\": %.3f,\n"
            "  \"targets\": {\"tx_per_s\": 50000, \"ratio\": 0.5}\n}\n",
            keys_a / keys_c, ent_a / ent_d);
    fclose(f);
    printf("wrote %s\n", argv[1]);
    return found_n == reads ? 0 : 1;
}
