/* bench_validate: validation and commit of pre-built blocks in one process
 * (no network). The chain is generated here (chaingen.h): the genesis block
 * of `weft configtx genesis`, a block with the _lifecycle definition of the
 * chaincode (policy AND('Org1MSP.peer','Org2MSP.peer')), then N two-org
 * endorsed transactions in blocks of B, each block signed by the orderer.
 * The blocks go through struct weft_committer (orderer signatures checked,
 * parallel verifier + verification cache) into a fresh ledger (fsync on, as
 * in the peer); every transaction must come out VALID. Beside it, measured
 * in the same run, the parallel verifier's rate on the same 3 signatures per
 * transaction: bound = rate / 3.
 *
 * usage: bench_validate --crypto DIR --genesis FILE --out JSON
 *                       [--channel NAME] [--tx N] [--block B] [--reps R]
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chaingen.h"
#include "testlib.h"
#include "weft/committer.h"
#include "weft/configtx.h"
#include "weft/crypto.h"
#include "weft/ledger.h"

static void die(const char *what, const struct weft_err *e)
{
    fprintf(stderr, "bench_validate: %s: %s\n", what, e != NULL ? e->msg : "");
    exit(1);
}

struct counts {
    uint64_t valid, invalid;
    int first_bad;
};

static void on_commit(void *ctx, uint64_t number, const uint8_t *codes, size_t ntx,
                      const struct Common__Block *blk)
{
    (void)blk;
    struct counts *c = ctx;
    for (size_t i = 0; i < ntx; i++) {
        if (codes[i] == WEFT_TXC_VALID) {
            c->valid++;
        } else {
            if (c->invalid++ == 0) {
                c->first_bad = codes[i];
                fprintf(stderr, "bench_validate: block %llu tx %zu: %s\n",
                        (unsigned long long)number, i, weft_tx_code_name(codes[i]));
            }
        }
    }
}

/* VmHWM in kB (peak resident set). */
static long vm_hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            v = strtol(line + 6, NULL, 10);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return v;
}

static void reset_hwm(void)
{
    malloc_trim(0); /* give the generator's freed heap back first */
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f != NULL) {
        fputs("5", f);
        fclose(f);
    }
}

int main(int argc, char **argv)
{
    const char *crypto = NULL, *genesis = NULL, *out = NULL, *channel = "benchchannel";
    size_t ntx = 20000, bsize = 500;
    int reps = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--crypto") == 0) {
            crypto = argv[i + 1];
        } else if (strcmp(argv[i], "--genesis") == 0) {
            genesis = argv[i + 1];
        } else if (strcmp(argv[i], "--out") == 0) {
            out = argv[i + 1];
        } else if (strcmp(argv[i], "--channel") == 0) {
            channel = argv[i + 1];
        } else if (strcmp(argv[i], "--tx") == 0) {
            ntx = strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--block") == 0) {
            bsize = strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--reps") == 0) {
            reps = atoi(argv[i + 1]);
        }
    }
    if (crypto == NULL || genesis == NULL || out == NULL || ntx == 0 || bsize == 0 || reps < 1) {
        fprintf(stderr, "usage: bench_validate --crypto DIR --genesis FILE --out JSON "
                        "[--channel NAME] [--tx N] [--block B] [--reps R]\n");
        return 2;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned vthreads = ncpu > 1 ? (unsigned)(ncpu - 1) : 1;
    struct weft_err err = {0};
    struct chaingen g;
    if (chaingen_open(&g, crypto, channel, "asset", &err) != 0) {
        die("identities", &err);
    }

    /* transactions */
    uint64_t tg = weft_clock_mono_ns();
    uint8_t **envs = weft_calloc(ntx + 1, sizeof(*envs));
    size_t *lens = weft_calloc(ntx + 1, sizeof(*lens));
    if (envs == NULL || lens == NULL) {
        die("out of memory", NULL);
    }
    if (chaingen_define_tx(&g, &envs[0], &lens[0], &err) != 0) {
        die("definition", &err);
    }
    for (size_t i = 0; i < ntx; i++) {
        if (chaingen_tx(&g, i, &envs[1 + i], &lens[1 + i], &err) != 0) {
            die("transaction", &err);
        }
    }
    double gen_s = (double)(weft_clock_mono_ns() - tg) / 1e9;

    /* blocks: genesis, definition, then B transactions each */
    size_t nblocks = 2 + (ntx + bsize - 1) / bsize;
    uint8_t **blocks = weft_calloc(nblocks, sizeof(*blocks));
    size_t *blens = weft_calloc(nblocks, sizeof(*blens));
    blocks[0] = (uint8_t *)wt_read_file(genesis, &blens[0]);
    if (blocks[0] == NULL) {
        die(genesis, NULL);
    }
    uint8_t prev[32], hash[32];
    if (chaingen_block_hash(blocks[0], blens[0], prev) != 0) {
        die("genesis hash", NULL);
    }
    size_t bytes = 0;
    for (size_t b = 1; b < nblocks; b++) {
        size_t first = b == 1 ? 0 : 1 + (b - 2) * bsize;
        size_t n = b == 1 ? 1 : (ntx + 1 - first < bsize ? ntx + 1 - first : bsize);
        if (chaingen_block(&g, b, prev, (const uint8_t *const *)envs + first, lens + first, n,
                           &blocks[b], &blens[b], hash, &err) != 0) {
            die("block", &err);
        }
        memcpy(prev, hash, sizeof(prev));
        bytes += blens[b];
    }

    /* the verifier's rate on the same signatures */
    double sig_cpu_us = 0;
    double raw = chaingen_verify_rate(&g, (const uint8_t *const *)envs + 1, lens + 1, ntx, vthreads,
                                      2.0, &sig_cpu_us);
    if (raw <= 0) {
        die("verifier rate: a signature did not verify", NULL);
    }
    double bound = raw / 3.0;
    for (size_t i = 0; i <= ntx; i++) {
        weft_free(envs[i]);
    }
    weft_free(envs);
    weft_free(lens);

    double best_tps = 0, cpu_ms_tx = 0, secs_best = 0, prep_ms = 0, fin_ms = 0, commit_ms = 0;
    double sig_per_tx = 0;
    long hwm = 0, rss0 = 0;
    for (int r = 0; r < reps; r++) {
        char *root = wt_tmpdir("bench-validate");
        struct weft_ledger_options o;
        weft_ledger_options_init(&o);
        o.root = root;
        o.channel = channel;
        struct weft_ledger *l;
        if (weft_ledger_open(&l, &o, &err) != 0) {
            die("ledger", &err);
        }
        struct weft_vcache *cache = weft_vcache_new(65536);
        struct weft_verifier *ver = weft_verifier_new(vthreads, cache);
        struct weft_channel_config *cfg;
        if (weft_channel_config_from_block(blocks[0], blens[0], 0, &cfg, &err) != 0) {
            die("genesis", &err);
        }
        struct counts cnt = {0};
        struct weft_committer_options co = {.config = cfg,
                                            .ledger = l,
                                            .verifier = ver,
                                            .cache = cache,
                                            .verify_orderer_sigs = true,
                                            .on_commit = on_commit,
                                            .ctx = &cnt};
        struct weft_committer *c;
        if (weft_committer_new(&co, &c, &err) != 0) {
            die("committer", &err);
        }
        /* block 0 and the definition block first: not timed */
        for (size_t b = 0; b < 2; b++) {
            if (weft_committer_commit_block(c, blocks[b], blens[b], NULL, 0, &err) != 0) {
                die("commit", &err);
            }
        }
        struct weft_validator_stats st0;
        weft_committer_get_stats(c, &st0);
        reset_hwm();
        long r0 = vm_hwm_kb();
        double cpu0 = chaingen_cpu_seconds();
        uint64_t s = weft_clock_mono_ns();
        for (size_t b = 2; b < nblocks; b++) {
            uint8_t *copy = weft_memdup(blocks[b], blens[b]);
            if (copy == NULL || weft_committer_submit(c, copy, blens[b], 0, &err) != 0) {
                die("submit", &err);
            }
        }
        if (weft_committer_wait_height(c, nblocks, 0, &err) != 0) {
            die("wait", &err);
        }
        double secs = (double)(weft_clock_mono_ns() - s) / 1e9;
        double cpu = chaingen_cpu_seconds() - cpu0;
        long h = vm_hwm_kb();
        struct weft_validator_stats st;
        weft_committer_get_stats(c, &st);
        if (cnt.valid != ntx + 2 || cnt.invalid != 0 || weft_committer_refused(c, NULL) != 0) {
            fprintf(stderr, "bench_validate: %llu valid, %llu invalid (first %s) of %zu\n",
                    (unsigned long long)cnt.valid, (unsigned long long)cnt.invalid,
                    weft_tx_code_name(cnt.first_bad), ntx + 2);
            return 1;
        }
        double tps = (double)ntx / secs;
        if (tps > best_tps) {
            best_tps = tps;
            secs_best = secs;
            cpu_ms_tx = cpu * 1e3 / (double)ntx;
            sig_per_tx = (double)(st.sig_checks - st0.sig_checks) / (double)ntx;
            prep_ms = (double)(st.prepare_ns - st0.prepare_ns) / 1e6;
            fin_ms = (double)(st.finish_ns - st0.finish_ns) / 1e6;
            commit_ms = (double)(st.commit_ns - st0.commit_ns) / 1e6;
            rss0 = r0;
        }
        if (h > hwm) {
            hwm = h;
        }
        weft_committer_free(c);
        weft_verifier_free(ver);
        weft_vcache_free(cache);
        weft_ledger_close(l);
        wt_rmtree(root);
        weft_free(root);
    }
    FILE *f = fopen(out, "w");
    if (f == NULL) {
        die(out, NULL);
    }
    fprintf(f,
            "{\"bench\":\"validate\",\"txs\":%zu,\"block_size\":%zu,\"blocks\":%zu,"
            "\"block_bytes\":%zu,\"repetitions\":%d,\"verifier_threads\":%u,"
            "\"generate_s\":%.2f,\"seconds\":%.3f,\"tx_per_s\":%.1f,\"cpu_ms_per_tx\":%.4f,"
            "\"peak_rss_kb\":%ld,\"rss_at_start_kb\":%ld,\"sig_checks_per_tx\":%.3f,\"raw_verify_"
            "per_s\":%.1f,"
            "\"verify_cpu_us_per_sig\":%.2f,\"cpu_fraction_in_sig_checks\":%.3f,\"bound_tx_per_s\":"
            "%.1f,\"fraction_of_bound\":%.3f,\"prepare_ms\":%.1f,"
            "\"finish_ms\":%.1f,\"commit_ms\":%.1f}\n",
            ntx, bsize, nblocks - 2, bytes, reps, vthreads, gen_s, secs_best, best_tps, cpu_ms_tx,
            hwm, rss0, sig_per_tx, raw, sig_cpu_us, 3 * sig_cpu_us / (cpu_ms_tx * 1e3), bound,
            best_tps / bound, prep_ms, fin_ms, commit_ms);
    fclose(f);
    printf("validate: %zu two-org txs in %zu blocks: %.1f tx/s, %.3f CPU ms/tx (%.0f%% of it the "
           "3 signature checks at %.1f us each), peak RSS %.1f MB (%.1f MB before the commit, "
           "blocks held: %.1f MB); verifier bound %.1f tx/s (%.1f sigs/s / 3): %.0f%%\n",
           ntx, nblocks - 2, best_tps, cpu_ms_tx, 300 * sig_cpu_us / (cpu_ms_tx * 1e3), sig_cpu_us,
           (double)hwm / 1024.0, (double)rss0 / 1024.0, (double)bytes / 1048576.0, bound, raw,
           100.0 * best_tps / bound);
    for (size_t b = 0; b < nblocks; b++) {
        weft_free(blocks[b]);
    }
    weft_free(blocks);
    weft_free(blens);
    chaingen_close(&g);
    return 0;
}
