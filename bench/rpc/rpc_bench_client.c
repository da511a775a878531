/*
 * Unary load client: N caller threads share one weft_rpc_client (one HTTP/2
 * connection, as an SDK would) and call /interop.Echo/Unary back to back for
 * a fixed time after a short warm-up. Prints one JSON object:
 *   {"concurrency":N,"calls":C,"errors":E,"seconds":S,"rps":R,"p50_ms":..,"p99_ms":..}
 * Usage: rpc_bench_client --target HOST:PORT [--concurrency N] [--seconds S]
 *        [--size BYTES] [--warmup-ms MS]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/log.h"
#include "weft/rpc.h"

struct worker {
    pthread_t th;
    struct weft_rpc_client *c;
    const uint8_t *req;
    size_t req_len;
    double *lat_ms; /* latencies recorded in the measured window */
    size_t n, cap;
    uint64_t errors;
};

static atomic_int phase; /* 0 warm-up, 1 measure, 2 stop */

static void *run(void *arg)
{
    struct worker *w = arg;
    struct weft_rpc_result r = {0};
    for (;;) {
        int ph = atomic_load(&phase);
        if (ph == 2) {
            break;
        }
        uint64_t t0 = weft_clock_mono_ns();
        int rc = weft_rpc_client_unary(w->c, "/interop.Echo/Unary", w->req, w->req_len, 10000, &r);
        uint64_t t1 = weft_clock_mono_ns();
        if (ph != 1 || atomic_load(&phase) != 1) {
            continue; /* only calls wholly inside the window count */
        }
        if (rc != 0 || r.len != w->req_len) {
            w->errors++;
            continue;
        }
        if (w->n == w->cap) {
            size_t nc = w->cap ? w->cap * 2 : 65536;
            double *nl = weft_realloc(w->lat_ms, nc * sizeof(double));
            if (nl == NULL) {
                w->errors++;
                continue;
            }
            w->lat_ms = nl;
            w->cap = nc;
        }
        w->lat_ms[w->n++] = (double)(t1 - t0) / 1e6;
    }
    weft_rpc_result_clear(&r);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

int main(int argc, char **argv)
{
    const char *target = NULL;
    int conc = 1;
    double secs = 3;
    size_t size = 64;
    long warm = 500;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--target") == 0) {
            target = argv[i + 1];
        } else if (strcmp(argv[i], "--concurrency") == 0) {
            conc = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--seconds") == 0) {
            secs = atof(argv[i + 1]);
        } else if (strcmp(argv[i], "--size") == 0) {
            size = (size_t)strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--warmup-ms") == 0) {
            warm = atol(argv[i + 1]);
        }
    }
    if (target == NULL || conc < 1 || secs <= 0) {
        fprintf(stderr, "usage: rpc_bench_client --target HOST:PORT [--concurrency N] "
                        "[--seconds S] [--size BYTES]\n");
        return 2;
    }
    struct weft_err err = {0};
    struct weft_rpc_client_opts o = {.wait_for_ready = true};
    struct weft_rpc_client *c = weft_rpc_client_new(target, &o, &err);
    if (c == NULL || weft_rpc_client_wait_ready(c, 5000) != 0) {
        fprintf(stderr, "cannot connect to %s %s\n", target, err.msg);
        weft_rpc_client_free(c);
        return 1;
    }
    uint8_t *req = weft_malloc(size ? size : 1);
    memset(req, 'x', size);
    struct worker *w = weft_calloc((size_t)conc, sizeof(*w));
    for (int i = 0; i < conc; i++) {
        w[i].c = c;
        w[i].req = req;
        w[i].req_len = size;
        pthread_create(&w[i].th, NULL, run, &w[i]);
    }
    sleep_ms(warm);
    atomic_store(&phase, 1);
    uint64_t t0 = weft_clock_mono_ns();
    sleep_ms((long)(secs * 1000));
    atomic_store(&phase, 2);
    uint64_t t1 = weft_clock_mono_ns();
    size_t total = 0;
    uint64_t errors = 0;
    for (int i = 0; i < conc; i++) {
        pthread_join(w[i].th, NULL);
        total += w[i].n;
        errors += w[i].errors;
    }
    double *all = weft_malloc((total ? total : 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < conc; i++) {
        memcpy(all + k, w[i].lat_ms, w[i].n * sizeof(double));
        k += w[i].n;
        weft_free(w[i].lat_ms);
    }
    qsort(all, total, sizeof(double), cmp_double);
    double el = (double)(t1 - t0) / 1e9;
    double p50 = total ? all[total / 2] : 0, p99 = total ? all[(total * 99) / 100] : 0;
    printf("{\"concurrency\":%d,\"calls\":%zu,\"errors\":%llu,\"seconds\":%.3f,\"rps\":%.1f,"
           "\"p50_ms\":%.4f,\"p99_ms\":%.4f}\n",
           conc, total, (unsigned long long)errors, el, (double)total / el, p50, p99);
    weft_free(all);
    weft_free(w);
    weft_free(req);
    weft_rpc_client_free(c);
    weft_log_shutdown();
    return errors > 0 && total == 0 ? 1 : 0;
}
