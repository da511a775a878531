/* bench_commit: the Fabric v2.4.9 vector chain (76 blocks, 511 txs)
 * validated and committed through the committer pipeline on fresh ledgers,
 * R times (a fresh verification cache each time, so nothing is free), and
 * the parallel verifier's raw rate on the chain's own creator signatures in
 * the same run. Bound = raw sigs/s / (signature checks per tx).
 * Usage: bench_commit OUT.json [R] [SHARED_DIR] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.pb-c.h"
#include "testlib.h"
#include "weft/committer.h"
#include "weft/configtx.h"
#include "weft/crypto.h"
#include "weft/ledger.h"
#include "weft/msp.h"

#define NB 76

static uint8_t *blocks[NB];
static size_t lens[NB];

static void die(const char *what, const struct weft_err *e)
{
    fprintf(stderr, "bench_commit: %s: %s\n", what, e != NULL ? e->msg : "");
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_commit OUT.json [R] [SHARED_DIR]\n");
        return 2;
    }
    int reps = argc > 2 ? atoi(argv[2]) : 10;
    const char *shared = argc > 3 ? argv[3] : "../shared";
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned vthreads = ncpu > 1 ? (unsigned)(ncpu - 1) : 1;
    struct weft_err err = {0};
    for (int n = 0; n < NB; n++) {
        char p[512];
        snprintf(p, sizeof(p), "%s/vectors/fabric-2.4.9/blocks/%06d.block", shared, n);
        size_t len;
        uint8_t *b = (uint8_t *)wt_read_file(p, &len);
        if (b == NULL)
            die(p, NULL);
        Common__Block *blk = common__block__unpack(NULL, len, b);
        weft_free(b);
        blk->metadata->metadata[2].len = 0; /* clear TRANSACTIONS_FILTER */
        lens[n] = protobuf_c_message_get_packed_size(&blk->base);
        blocks[n] = weft_malloc(lens[n]);
        protobuf_c_message_pack(&blk->base, blocks[n]);
        common__block__free_unpacked(blk, NULL);
    }
    /* raw verifier rate on the creator signatures of the chain */
    struct weft_channel_config *cfg0;
    if (weft_channel_config_from_block(blocks[0], lens[0], 0, &cfg0, &err) != 0)
        die("genesis", &err);
    size_t nitems = 0, cap = 1024;
    struct weft_verify_item *items = calloc(cap, sizeof(*items));
    struct weft_msp_identity **ids = calloc(cap, sizeof(*ids));
    Common__Envelope **envs = calloc(cap, sizeof(*envs));
    for (int n = 1; n < NB && nitems < cap; n++) {
        Common__Block *blk = common__block__unpack(NULL, lens[n], blocks[n]);
        for (size_t i = 0; i < blk->data->n_data && nitems < cap; i++) {
            Common__Envelope *e = common__envelope__unpack(NULL, blk->data->data[i].len,
                                                           blk->data->data[i].data);
            Common__Payload *pl = common__payload__unpack(NULL, e->payload.len, e->payload.data);
            Common__SignatureHeader *sh = common__signature_header__unpack(
                NULL, pl->header->signature_header.len, pl->header->signature_header.data);
            if (weft_msp_mgr_deserialize(cfg0->msp_mgr, sh->creator.data, sh->creator.len,
                                         &ids[nitems], &err) == 0) {
                items[nitems].cert = weft_msp_identity_cert(ids[nitems]);
                items[nitems].msg = e->payload.data;
                items[nitems].msg_len = e->payload.len;
                items[nitems].sig = e->signature.data;
                items[nitems].sig_len = e->signature.len;
                envs[nitems++] = e;
            } else {
                common__envelope__free_unpacked(e, NULL);
            }
            common__signature_header__free_unpacked(sh, NULL);
            common__payload__free_unpacked(pl, NULL);
        }
        common__block__free_unpacked(blk, NULL);
    }
    struct weft_verifier *raw = weft_verifier_new(vthreads, NULL);
    uint64_t t0 = weft_clock_mono_ns();
    size_t checked = 0;
    while (weft_clock_mono_ns() - t0 < 2000000000ull) {
        for (size_t i = 0; i < nitems; i += 64) {
            size_t k = nitems - i < 64 ? nitems - i : 64;
            weft_verifier_run(raw, items + i, k);
            checked += k;
        }
    }
    double raw_rate = (double)checked / ((double)(weft_clock_mono_ns() - t0) / 1e9);
    weft_verifier_free(raw);
    for (size_t i = 0; i < nitems; i++) {
        weft_msp_identity_unref(ids[i]);
        common__envelope__free_unpacked(envs[i], NULL);
    }
    free(items);
    free(ids);
    free(envs);
    weft_channel_config_free(cfg0);

    /* validate + commit */
    uint64_t total_ns = 0, txs = 0, sigs = 0, prep_ns = 0, fin_ns = 0;
    for (int r = 0; r < reps; r++) {
        char *root = wt_tmpdir("bench-commit");
        struct weft_ledger_options o;
        weft_ledger_options_init(&o);
        o.root = root;
        o.channel = "mychannel";
        o.no_sync = true;
        struct weft_ledger *l;
        if (weft_ledger_open(&l, &o, &err) != 0)
            die("ledger", &err);
        struct weft_vcache *cache = weft_vcache_new(65536);
        struct weft_verifier *ver = weft_verifier_new(vthreads, cache);
        struct weft_channel_config *cfg;
        if (weft_channel_config_from_block(blocks[0], lens[0], 0, &cfg, &err) != 0)
            die("genesis", &err);
        struct weft_committer_options co = {.config = cfg,
                                            .ledger = l,
                                            .verifier = ver,
                                            .cache = cache,
                                            .verify_orderer_sigs = true};
        struct weft_committer *c;
        if (weft_committer_new(&co, &c, &err) != 0)
            die("committer", &err);
        uint64_t s = weft_clock_mono_ns();
        for (int n = 0; n < NB; n++) {
            uint8_t *copy = weft_memdup(blocks[n], lens[n]);
            if (weft_committer_submit(c, copy, lens[n], 0, &err) != 0)
                die("submit", &err);
        }
        if (weft_committer_wait_height(c, NB, 0, &err) != 0)
            die("wait", &err);
        total_ns += weft_clock_mono_ns() - s;
        struct weft_validator_stats st;
        weft_committer_get_stats(c, &st);
        txs += st.txs;
        sigs += st.sig_checks;
        prep_ns += st.prepare_ns;
        fin_ns += st.finish_ns;
        weft_committer_free(c);
        weft_verifier_free(ver);
        weft_vcache_free(cache);
        weft_ledger_close(l);
        wt_rmtree(root);
        weft_free(root);
    }
    double secs = (double)total_ns / 1e9;
    double tps = (double)txs / secs;
    double sig_per_tx = (double)sigs / (double)txs;
    double bound = raw_rate / sig_per_tx;
    FILE *f = fopen(argv[1], "w");
    if (f == NULL)
        die(argv[1], NULL);
    fprintf(f,
            "{\"bench\":\"commit\",\"chain\":\"fabric-2.4.9 vectors (76 blocks, 511 txs)\","
            "\"repetitions\":%d,\"verifier_threads\":%u,\"txs\":%llu,\"seconds\":%.3f,"
            "\"tx_per_s\":%.1f,\"sig_checks_per_tx\":%.3f,\"raw_verify_per_s\":%.1f,"
            "\"bound_tx_per_s\":%.1f,\"fraction_of_bound\":%.3f,"
            "\"prepare_ms\":%.1f,\"finish_ms\":%.1f}\n",
            reps, vthreads, (unsigned long long)txs, secs, tps, sig_per_tx, raw_rate, bound,
            tps / bound, (double)prep_ns / 1e6, (double)fin_ns / 1e6);
    fclose(f);
    printf("commit: %.1f tx/s (%.2f sig checks/tx), verifier bound %.1f tx/s (%.1f sigs/s): "
           "%.0f%%\n",
           tps, sig_per_tx, bound, raw_rate, 100.0 * tps / bound);
    for (int n = 0; n < NB; n++)
        weft_free(blocks[n]);
    return 0;
}
