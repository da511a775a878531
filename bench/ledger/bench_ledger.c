/*
 * Ledger benchmark (issue 4):
 *  (a) commit blocks of 500 transactions x 4 writes, history on, fsync on:
 *      tx/s and keys/s, peak RSS;
 *  (b) point reads/s from a 1 M-key state through the query executor API;
 *  (c) raw LMDB batched puts/s of the same keys and values (one write txn
 *      per block, same environment flags as the ledger), in the same run;
 * prints ratio (a)/(c) in keys/s and writes a JSON report.
 * Usage: bench_ledger OUT.json [blocks_timed] [state_keys]
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
        char txid[48];
        snprintf(txid, sizeof(txid), "%064llu", (unsigned long long)(number * NTX + t));
        if (bg_envelope("benchchannel", txid, "basic", w, NW, &data[t].data, &data[t].len) != 0) {
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

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_ledger OUT.json [blocks_timed] [state_keys]\n");
        return 2;
    }
    uint64_t nblocks = argc > 2 ? strtoull(argv[2], NULL, 10) : 100;
    uint64_t state_keys = argc > 3 ? strtoull(argv[3], NULL, 10) : 1000000;
    char *root = wt_tmpdir("bench-ledger");
    struct weft_err err;
    weft_err_clear(&err);

    /* Pre-build the timed blocks so (a) measures the commit path only. */
    uint8_t **blocks = weft_calloc(nblocks, sizeof(*blocks));
    size_t *lens = weft_calloc(nblocks, sizeof(*lens));
    uint8_t prev[32];
    for (uint64_t n = 0; n < nblocks; n++) {
        build_block(n, prev, n * NTX * NW, &blocks[n], &lens[n], prev);
    }
    long rss_before = maxrss_kb();

    /* (a) commit */
    struct weft_ledger_options o;
    weft_ledger_options_init(&o);
    o.root = root;
    o.channel = "benchchannel";
    o.history = true;
    struct weft_ledger *l;
    if (weft_ledger_open(&l, &o, &err) != 0) {
        die("open", &err);
    }
    uint64_t t0 = weft_clock_mono_ns();
    for (uint64_t n = 0; n < nblocks; n++) {
        if (weft_ledger_commit_bytes(l, blocks[n], lens[n], &err) != 0) {
            die("commit", &err);
        }
    }
    double ta = (double)(weft_clock_mono_ns() - t0) / 1e9;
    long rss_a = maxrss_kb();
    double tx_s = (double)(nblocks * NTX) / ta;
    double keys_a = (double)(nblocks * NTX * NW) / ta;
    printf("(a) commit: %llu blocks x %d tx x %d writes in %.3f s: %.0f tx/s, %.0f keys/s "
           "(fsync on, history on)\n",
           (unsigned long long)nblocks, NTX, NW, ta, tx_s, keys_a);
    printf("    peak RSS %ld KiB (%ld KiB before the commits, pre-built blocks included)\n",
           rss_a, rss_before);

    /* (c) raw LMDB, same keys and values, one txn per block. */
    char *rawdir = weft_asprintf("%s/raw", root);
    char *cmd = weft_asprintf("mkdir -p %s", rawdir);
    if (system(cmd) != 0) {
        die("mkdir", NULL);
    }
    weft_free(cmd);
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    mdb_env_create(&env);
    mdb_env_set_mapsize(env, (size_t)4 << 30);
    mdb_env_set_maxdbs(env, 4);
    if (mdb_env_open(env, rawdir, MDB_NOTLS | MDB_NOMETASYNC, 0640) != 0) {
        die("raw env", NULL);
    }
    mdb_txn_begin(env, NULL, 0, &txn);
    mdb_dbi_open(txn, "state", MDB_CREATE, &dbi);
    mdb_txn_commit(txn);
    t0 = weft_clock_mono_ns();
    for (uint64_t n = 0; n < nblocks; n++) {
        if (mdb_txn_begin(env, NULL, 0, &txn) != 0) {
            die("raw txn", NULL);
        }
        for (uint64_t i = 0; i < NTX * NW; i++) {
            uint64_t k = n * NTX * NW + i;
            char kb[32];
            kb[0] = 'b';
            kb[1] = 'a';
            kb[2] = 's';
            kb[3] = 'i';
            kb[4] = 'c';
            kb[5] = '\0';
            key_name(kb + 6, sizeof(kb) - 6, k);
            uint8_t vb[VLEN];
            value_of(vb, k);
            MDB_val mk = {6 + strlen(kb + 6), kb}, mv = {VLEN, vb};
            if (mdb_put(txn, dbi, &mk, &mv, 0) != 0) {
                die("raw put", NULL);
            }
        }
        if (mdb_txn_commit(txn) != 0) {
            die("raw commit", NULL);
        }
    }
    double tc = (double)(weft_clock_mono_ns() - t0) / 1e9;
    double keys_c = (double)(nblocks * NTX * NW) / tc;
    mdb_env_close(env);
    weft_free(rawdir);
    printf("(c) raw LMDB: %.0f keys/s (one write txn per block, synced commits)\n", keys_c);
    printf("    ratio (a)/(c) keys/s: %.2f\n", keys_a / keys_c);
    for (uint64_t n = 0; n < nblocks; n++) {
        weft_free(blocks[n]);
    }
    weft_free(blocks);
    weft_free(lens);

    /* Fill the state up to state_keys keys (not timed). */
    uint64_t per = NTX * NW;
    uint64_t n = nblocks;
    while (n * per < state_keys) {
        uint8_t *b;
        size_t len;
        build_block(n, prev, n * per, &b, &len, prev);
        if (weft_ledger_commit_bytes(l, b, len, &err) != 0) {
            die("fill commit", &err);
        }
        weft_free(b);
        n++;
    }
    uint64_t total_keys = n * per;

    /* (b) point reads of random keys through the query executor. */
    uint64_t reads = 500000;
    uint64_t found_n = 0;
    uint64_t rnd = 88172645463325252ull;
    t0 = weft_clock_mono_ns();
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
            if (weft_ledger_sim_get(qe, "basic", kb, strlen(kb), &v, &vl, &found, NULL, &err) !=
                0) {
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
           (unsigned long long)total_keys, (unsigned long long)found_n,
           (unsigned long long)reads);
    weft_ledger_close(l);
    wt_rmtree(root);
    weft_free(root);

    FILE *f = fopen(argv[1], "w");
    if (f == NULL) {
        perror(argv[1]);
        return 1;
    }
    fprintf(f,
            "{\n  \"name\": \"ledger\",\n  \"commit\": {\"blocks\": %llu, \"tx_per_block\": %d, "
            "\"writes_per_tx\": %d, \"seconds\": %.3f, \"tx_per_s\": %.0f, \"keys_per_s\": %.0f, "
            "\"fsync\": true, \"history\": true, \"peak_rss_kib\": %ld},\n"
            "  \"point_reads\": {\"state_keys\": %llu, \"reads\": %llu, \"reads_per_s\": %.0f},\n"
            "  \"raw_lmdb\": {\"keys_per_s\": %.0f},\n  \"ratio_commit_to_raw_keys\": %.3f,\n"
            "  \"targets\": {\"tx_per_s\": 50000, \"ratio\": 0.5}\n}\n",
            (unsigned long long)nblocks, NTX, NW, ta, tx_s, keys_a, rss_a,
            (unsigned long long)total_keys, (unsigned long long)reads, reads_s, keys_c,
            keys_a / keys_c);
    fclose(f);
    printf("wrote %s\n", argv[1]);
    return found_n == reads ? 0 : 1;
}
