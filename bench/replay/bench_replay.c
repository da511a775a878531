/* bench_replay: `weft ledger replay` of the Fabric v2.4.9 vector chain
 * (76 blocks, 511 txs), as a process, on a fresh ledger each time, until at
 * least MIN_SECONDS of wall time were spent replaying. Reports tx/s (wall),
 * CPU ms per transaction (user + system of the replay processes) and, from
 * the same run, the parallel verifier's bound: the time the verifier needs
 * for the same number of signature checks as the replay reported, measured
 * on the chain's own creator signatures with as many threads as the replay
 * uses. Usage: bench_replay OUT.json WEFT_BIN SHARED_DIR [MIN_SECONDS] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.pb-c.h"
#include "testlib.h"
#include "weft/configtx.h"
#include "weft/crypto.h"
#include "weft/msp.h"

#define NB 76

extern char **environ;

static void die(const char *what, const struct weft_err *e)
{
    fprintf(stderr, "bench_replay: %s: %s\n", what, e != NULL ? e->msg : "");
    exit(1);
}

/* Verifications per second of the chain's creator signatures. */
static double raw_verify_rate(const char *vec, unsigned threads)
{
    struct weft_err err = {0};
    char p[4096];
    snprintf(p, sizeof(p), "%s/blocks/000000.block", vec);
    size_t gl;
    char *g = wt_read_file(p, &gl);
    if (g == NULL)
        die(p, NULL);
    struct weft_channel_config *cfg;
    if (weft_channel_config_from_block((uint8_t *)g, gl, 0, &cfg, &err) != 0)
        die("genesis", &err);
    weft_free(g);
    size_t n = 0, cap = 1024;
    struct weft_verify_item *items = calloc(cap, sizeof(*items));
    struct weft_msp_identity **ids = calloc(cap, sizeof(*ids));
    Common__Envelope **envs = calloc(cap, sizeof(*envs));
    for (int b = 1; b < NB && n < cap; b++) {
        snprintf(p, sizeof(p), "%s/blocks/%06d.block", vec, b);
        size_t len;
        char *bytes = wt_read_file(p, &len);
        if (bytes == NULL)
            die(p, NULL);
        Common__Block *blk = common__block__unpack(NULL, len, (uint8_t *)bytes);
        weft_free(bytes);
        for (size_t i = 0; i < blk->data->n_data && n < cap; i++) {
            Common__Envelope *e =
                common__envelope__unpack(NULL, blk->data->data[i].len, blk->data->data[i].data);
            Common__Payload *pl = common__payload__unpack(NULL, e->payload.len, e->payload.data);
            Common__SignatureHeader *sh = common__signature_header__unpack(
                NULL, pl->header->signature_header.len, pl->header->signature_header.data);
            if (weft_msp_mgr_deserialize(cfg->msp_mgr, sh->creator.data, sh->creator.len, &ids[n],
                                         &err) == 0) {
                items[n].cert = weft_msp_identity_cert(ids[n]);
                items[n].msg = e->payload.data;
                items[n].msg_len = e->payload.len;
                items[n].sig = e->signature.data;
                items[n].sig_len = e->signature.len;
                envs[n++] = e;
            } else {
                common__envelope__free_unpacked(e, NULL);
            }
            common__signature_header__free_unpacked(sh, NULL);
            common__payload__free_unpacked(pl, NULL);
        }
        common__block__free_unpacked(blk, NULL);
    }
    struct weft_verifier *v = weft_verifier_new(threads, NULL);
    uint64_t t0 = weft_clock_mono_ns();
    size_t checked = 0;
    while (weft_clock_mono_ns() - t0 < 2000000000ull) {
        for (size_t i = 0; i < n; i += 64) {
            size_t k = n - i < 64 ? n - i : 64;
            weft_verifier_run(v, items + i, k);
            for (size_t j = 0; j < k; j++) {
                if (items[i + j].result != 0)
                    die("a vector signature does not verify", NULL);
            }
            checked += k;
        }
    }
    double rate = (double)checked / ((double)(weft_clock_mono_ns() - t0) / 1e9);
    weft_verifier_free(v);
    for (size_t i = 0; i < n; i++) {
        weft_msp_identity_unref(ids[i]);
        common__envelope__free_unpacked(envs[i], NULL);
    }
    free(items);
    free(ids);
    free(envs);
    weft_channel_config_free(cfg);
    return rate;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_replay OUT.json WEFT_BIN SHARED_DIR [MIN_SECONDS]\n");
        return 2;
    }
    const char *weft = argv[2];
    double min_s = argc > 4 ? strtod(argv[4], NULL) : 10.0;
    char vec[4096];
    snprintf(vec, sizeof(vec), "%s/vectors/fabric-2.4.9", argv[3]);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = ncpu > 1 ? (unsigned)(ncpu - 1) : 1;

    double raw = raw_verify_rate(vec, threads);

    char *tmp = wt_tmpdir("bench-replay");
    char *ledger = weft_asprintf("%s/ledger", tmp);
    char *report = weft_asprintf("%s/report.json", tmp);
    char *out = weft_asprintf("%s/stdout", tmp);
    char threads_s[16];
    snprintf(threads_s, sizeof(threads_s), "%u", threads);
    char *args[] = {(char *)weft, "ledger", "replay",   "--blocks", vec,
                    "--dir",      ledger,   "--report", report,     "--verifier-threads",
                    threads_s,    NULL,     NULL};
    /* mode 0: durable (fsync per block, the default); mode 1: --no-sync */
    struct mode {
        uint64_t wall_ns, cpu_us, txs, sigs;
        double inproc_s;
        int runs;
    } m[2];
    memset(m, 0, sizeof(m));
    for (int k = 0; (double)(m[0].wall_ns + m[1].wall_ns) / 1e9 < min_s; k ^= 1) {
        args[11] = k == 1 ? "--no-sync" : NULL;
        struct mode *md = &m[k];
        wt_rmtree(ledger);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        pid_t pid;
        uint64_t t0 = weft_clock_mono_ns();
        if (posix_spawn(&pid, weft, &fa, NULL, args, environ) != 0)
            die("spawn weft", NULL);
        posix_spawn_file_actions_destroy(&fa);
        int st;
        struct rusage ru;
        if (wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            die("weft ledger replay failed", NULL);
        md->wall_ns += weft_clock_mono_ns() - t0;
        md->cpu_us += (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
                      (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
        size_t ol;
        char *o = wt_read_file(out, &ol);
        unsigned long long ntx = 0, nsig = 0;
        double s = 0;
        const char *q = o != NULL ? strstr(o, "height 76, ") : NULL;
        const char *r = o != NULL ? strstr(o, "), ") : NULL;
        if (q == NULL || r == NULL || sscanf(q, "height 76, %llu transactions", &ntx) != 1 ||
            sscanf(r, "), %llu signature checks, %lf s", &nsig, &s) != 2 || ntx != 511)
            die("unexpected replay output", NULL);
        weft_free(o);
        md->txs += ntx;
        md->sigs += nsig;
        md->inproc_s += s;
        md->runs++;
    }
    wt_rmtree(tmp);
    FILE *f = fopen(argv[1], "w");
    if (f == NULL)
        die(argv[1], NULL);
    fprintf(f,
            "{\"bench\":\"replay\",\"chain\":\"fabric-2.4.9 vectors (76 blocks, 511 txs)\","
            "\"command\":\"weft ledger replay\",\"verifier_threads\":%u,"
            "\"raw_verify_per_s\":%.1f,\"modes\":{",
            threads, raw);
    for (int k = 0; k < 2; k++) {
        const struct mode *md = &m[k];
        double wall = (double)md->wall_ns / 1e9;
        double tps = (double)md->txs / wall;
        double cpu_ms_tx = (double)md->cpu_us / 1e3 / (double)md->txs;
        double bound_s = (double)md->sigs / raw;
        double bound_tps = (double)md->txs / bound_s;
        const char *name = k == 0 ? "fsync" : "no_sync";
        fprintf(f,
                "%s\"%s\":{\"runs\":%d,\"txs\":%llu,\"wall_seconds\":%.3f,"
                "\"in_process_seconds\":%.3f,\"tx_per_s\":%.1f,\"tx_per_s_in_process\":%.1f,"
                "\"cpu_ms_per_tx\":%.4f,\"sig_checks\":%llu,\"sig_checks_per_tx\":%.3f,"
                "\"bound_seconds\":%.3f,\"bound_tx_per_s\":%.1f,\"fraction_of_bound\":%.3f}",
                k > 0 ? "," : "", name, md->runs, (unsigned long long)md->txs, wall, md->inproc_s,
                tps, (double)md->txs / md->inproc_s, cpu_ms_tx, (unsigned long long)md->sigs,
                (double)md->sigs / (double)md->txs, bound_s, bound_tps, tps / bound_tps);
        printf("replay (%s): %d runs, %.1f tx/s (%.1f in process), %.3f CPU ms/tx; verifier bound "
               "for the same %llu signature checks: %.1f tx/s (%.1f sigs/s), %.0f%% of bound\n",
               name, md->runs, tps, (double)md->txs / md->inproc_s, cpu_ms_tx,
               (unsigned long long)md->sigs, bound_tps, raw, 100.0 * tps / bound_tps);
    }
    fprintf(f, "}}\n");
    fclose(f);
    weft_free(tmp);
    weft_free(ledger);
    weft_free(report);
    weft_free(out);
    return 0;
}
