/*
 * catchup_load: fills an orderer's channel for bench/catchup. Generates the
 * same two-org endorsed transactions as bench/validate (chaingen.h), sends
 * the _lifecycle definition first and waits for its SUCCESS (given once its
 * block is committed, so it precedes every invocation), then the N
 * invocations over S Broadcast streams with up to W envelopes in flight
 * each (TLS). Then, with the orderer idle, it measures the parallel
 * verifier's rate on the same 3 signatures per transaction (the bound of
 * the catch-up that follows). Prints one JSON object; exit 1 unless every
 * envelope was answered SUCCESS.
 *
 * usage: catchup_load --crypto DIR --channel CH --orderer H:P --ca PEM
 *                     [--tx N] [--streams S] [--window W]
 *        catchup_load --crypto DIR --channel CH --bound-only N
 * The second form only measures the verifier's rate again, on N fresh
 * transactions (bench.js runs it after the catch-up, so that the bound is
 * measured on both sides of the run: the host's speed drifts).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../validate/chaingen.h"
#include "common/common.pb-c.h"
#include "orderer/ab.pb-c.h"
#include "weft/base.h"
#include "weft/rpc.h"

struct stream_ctx {
    struct weft_rpc_client *client;
    uint8_t **envs;
    size_t *lens;
    size_t first, step, n; /* envelopes first, first+step, ... (n of them) */
    unsigned window;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    unsigned inflight;
    int done;
    size_t ok, bad;
    int first_bad;
    struct weft_rpc_stream *s;
};

static void *sender(void *arg)
{
    struct stream_ctx *c = arg;
    for (size_t i = 0; i < c->n; i++) {
        pthread_mutex_lock(&c->mu);
        while (c->inflight >= c->window && !c->done) {
            pthread_cond_wait(&c->cond, &c->mu);
        }
        int done = c->done;
        c->inflight++;
        pthread_mutex_unlock(&c->mu);
        size_t e = c->first + i * c->step;
        if (done || weft_rpc_stream_send(c->s, c->envs[e], c->lens[e]) != 0) {
            break;
        }
    }
    if (weft_rpc_stream_close_send(c->s) != 0) {
        fprintf(stderr, "catchup_load: close send failed\n");
    }
    return NULL;
}

static void *stream_main(void *arg)
{
    struct stream_ctx *c = arg;
    struct weft_err err = {0};
    c->s = weft_rpc_client_stream(c->client, "/orderer.AtomicBroadcast/Broadcast", -1, &err);
    if (c->s == NULL) {
        fprintf(stderr, "catchup_load: stream: %s\n", err.msg);
        return NULL;
    }
    pthread_t th;
    pthread_create(&th, NULL, sender, c);
    for (size_t i = 0; i < c->n; i++) {
        uint8_t *msg = NULL;
        size_t len = 0;
        if (weft_rpc_stream_recv(c->s, &msg, &len, 120000) != 0 || msg == NULL) {
            break;
        }
        Orderer__BroadcastResponse *r = orderer__broadcast_response__unpack(NULL, len, msg);
        weft_free(msg);
        if (r != NULL && r->status == COMMON__STATUS__SUCCESS) {
            c->ok++;
        } else {
            if (c->bad++ == 0) {
                c->first_bad = r != NULL ? (int)r->status : -1;
                fprintf(stderr, "catchup_load: status %d: %s\n", c->first_bad,
                        r != NULL && r->info != NULL ? r->info : "");
            }
        }
        if (r != NULL) {
            orderer__broadcast_response__free_unpacked(r, NULL);
        }
        pthread_mutex_lock(&c->mu);
        c->inflight--;
        pthread_cond_signal(&c->cond);
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_lock(&c->mu);
    c->done = 1;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mu);
    pthread_join(th, NULL);
    weft_rpc_stream_free(c->s);
    return NULL;
}

/* Sends envs[first..first+n) over nstreams streams; returns the SUCCESS count. */
static size_t broadcast(struct weft_rpc_client *cl, uint8_t **envs, size_t *lens, size_t first,
                        size_t n, unsigned nstreams, unsigned window)
{
    struct stream_ctx *cs = weft_calloc(nstreams, sizeof(*cs));
    pthread_t *th = weft_calloc(nstreams, sizeof(*th));
    size_t ok = 0;
    if (cs == NULL || th == NULL) {
        goto out;
    }
    for (unsigned k = 0; k < nstreams; k++) {
        struct stream_ctx *c = &cs[k];
        c->client = cl;
        c->envs = envs;
        c->lens = lens;
        c->first = first + k;
        c->step = nstreams;
        c->n = k < n ? (n - k + nstreams - 1) / nstreams : 0;
        c->window = window;
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cond, NULL);
        pthread_create(&th[k], NULL, stream_main, c);
    }
    for (unsigned k = 0; k < nstreams; k++) {
        pthread_join(th[k], NULL);
        ok += cs[k].ok;
        pthread_mutex_destroy(&cs[k].mu);
        pthread_cond_destroy(&cs[k].cond);
    }
out:
    weft_free(cs);
    weft_free(th);
    return ok;
}

/* --bound-only: the verifier's rate on n fresh transactions, as JSON. */
static int measure_bound_only(struct chaingen *g, size_t n)
{
    struct weft_err err = {0};
    uint8_t **envs = weft_calloc(n, sizeof(*envs));
    size_t *lens = weft_calloc(n, sizeof(*lens));
    int rc = envs == NULL || lens == NULL ? 1 : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (chaingen_tx(g, i, &envs[i], &lens[i], &err) != 0) {
            fprintf(stderr, "catchup_load: tx: %s\n", err.msg);
            rc = 1;
        }
    }
    if (rc == 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned vthreads = ncpu > 1 ? (unsigned)(ncpu - 1) : 1;
        double sig_cpu_us = 0;
        double raw = chaingen_verify_rate(g, (const uint8_t *const *)envs, lens, n, vthreads, 2.0,
                                          &sig_cpu_us);
        printf("{\"raw_verify_per_s\":%.1f,\"verify_cpu_us_per_sig\":%.2f,"
               "\"bound_tx_per_s\":%.1f}\n", raw, sig_cpu_us, raw / 3.0);
        rc = raw > 0 ? 0 : 1;
    }
    for (size_t i = 0; envs != NULL && i < n; i++) {
        weft_free(envs[i]);
    }
    weft_free(envs);
    weft_free(lens);
    chaingen_close(g);
    return rc;
}

int main(int argc, char **argv)
{
    const char *crypto = NULL, *channel = NULL, *target = NULL, *ca = NULL;
    size_t ntx = 20000, bound_only = 0;
    unsigned nstreams = 8, window = 128;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--crypto") == 0) {
            crypto = argv[i + 1];
        } else if (strcmp(argv[i], "--channel") == 0) {
            channel = argv[i + 1];
        } else if (strcmp(argv[i], "--orderer") == 0) {
            target = argv[i + 1];
        } else if (strcmp(argv[i], "--ca") == 0) {
            ca = argv[i + 1];
        } else if (strcmp(argv[i], "--tx") == 0) {
            ntx = strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--streams") == 0) {
            nstreams = (unsigned)strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--bound-only") == 0) {
            bound_only = strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--window") == 0) {
            window = (unsigned)strtoul(argv[i + 1], NULL, 10);
        }
    }
    if (crypto == NULL || channel == NULL ||
        (bound_only == 0 && (target == NULL || ca == NULL || ntx == 0 || nstreams == 0 ||
                             window == 0))) {
        fprintf(stderr, "usage: see the comment at the top of catchup_load.c\n");
        return 2;
    }
    struct weft_err err = {0};
    struct chaingen g;
    if (chaingen_open(&g, crypto, channel, "asset", &err) != 0) {
        fprintf(stderr, "catchup_load: %s\n", err.msg);
        return 1;
    }
    if (bound_only > 0) {
        return measure_bound_only(&g, bound_only);
    }
    uint8_t **envs = weft_calloc(ntx + 1, sizeof(*envs));
    size_t *lens = weft_calloc(ntx + 1, sizeof(*lens));
    if (envs == NULL || lens == NULL || chaingen_define_tx(&g, &envs[0], &lens[0], &err) != 0) {
        fprintf(stderr, "catchup_load: definition: %s\n", err.msg);
        return 1;
    }
    uint64_t t0 = weft_clock_mono_ns();
    for (size_t i = 0; i < ntx; i++) {
        if (chaingen_tx(&g, i, &envs[1 + i], &lens[1 + i], &err) != 0) {
            fprintf(stderr, "catchup_load: tx: %s\n", err.msg);
            return 1;
        }
    }
    double gen_s = (double)(weft_clock_mono_ns() - t0) / 1e9;
    struct weft_rpc_client_opts co = {.tls = true, .ca = {.file = ca}};
    struct weft_rpc_client *cl = weft_rpc_client_new(target, &co, &err);
    if (cl == NULL || weft_rpc_client_wait_ready(cl, 10000) != 0) {
        fprintf(stderr, "catchup_load: orderer %s: %s\n", target, err.msg);
        return 1;
    }
    size_t ok = broadcast(cl, envs, lens, 0, 1, 1, 1);
    t0 = weft_clock_mono_ns();
    if (ok == 1) {
        ok += broadcast(cl, envs, lens, 1, ntx, nstreams, window);
    }
    double bc_s = (double)(weft_clock_mono_ns() - t0) / 1e9;
    weft_rpc_client_free(cl);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned vthreads = ncpu > 1 ? (unsigned)(ncpu - 1) : 1;
    double sig_cpu_us = 0;
    double raw = chaingen_verify_rate(&g, (const uint8_t *const *)envs + 1, lens + 1, ntx, vthreads,
                                      2.0, &sig_cpu_us);
    size_t bytes = 0;
    for (size_t i = 0; i <= ntx; i++) {
        bytes += lens[i];
        weft_free(envs[i]);
    }
    weft_free(envs);
    weft_free(lens);
    chaingen_close(&g);
    printf("{\"txs\":%zu,\"envelope_bytes\":%zu,\"acknowledged\":%zu,\"generate_s\":%.2f,"
           "\"broadcast_s\":%.2f,\"broadcast_per_s\":%.1f,\"raw_verify_per_s\":%.1f,"
           "\"verify_cpu_us_per_sig\":%.2f,\"verifier_threads\":%u,\"bound_tx_per_s\":%.1f}\n",
           ntx, bytes, ok, gen_s, bc_s, (double)ntx / bc_s, raw, sig_cpu_us, vthreads, raw / 3.0);
    return ok == ntx + 1 && raw > 0 ? 0 : 1;
}
