/*
 * Broadcast load client for bench/orderer (bench.js drives it): sends
 * pre-signed envelopes on S concurrent Broadcast streams (TLS), each with up
 * to W envelopes in flight, spread over one or more orderers, while one
 * Deliver stream watches the blocks. Every envelope's payload data starts
 * with its 4-byte little-endian index, so each is timed from its send to its
 * SUCCESS answer (which the orderer gives once the block holding it is
 * committed) and to the moment Deliver hands over its block.
 *
 * usage: orderer_load --targets H:P[,H:P...] --deliver H:P --ca PEMFILE
 *                     --envelopes FILE --seek FILE [--streams S] [--window W]
 * FILE: records of [u32 LE length][serialized common.Envelope]; --seek holds
 * one record (the signed Deliver request). Prints one JSON object.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/common.pb-c.h"
#include "orderer/ab.pb-c.h"
#include "weft/base.h"
#include "weft/rpc.h"

struct env {
    uint8_t *b;
    size_t len;
};

static struct env *envs;
static size_t n_envs;
static struct env seek;
static uint64_t *t_send, *t_ack, *t_deliv;
static int *st_ack;
static struct weft_rpc_client **clients;
static size_t n_targets;
static unsigned n_streams = 8, window = 256;

static int load(const char *path, struct env **out, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    uint8_t h[4];
    while (fread(h, 1, 4, f) == 4) {
        size_t len = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24;
        uint8_t *b = weft_malloc(len + 1);
        if (b == NULL || fread(b, 1, len, f) != len) {
            fclose(f);
            return -1;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 1024;
            *out = weft_realloc(*out, cap * sizeof(**out));
        }
        (*out)[(*n)++] = (struct env){b, len};
    }
    fclose(f);
    return 0;
}

struct stream_ctx {
    unsigned k;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    unsigned inflight;
    size_t *idx; /* indices this stream sends */
    size_t n;
    struct weft_rpc_stream *s;
    int failed;
};

static void *sender(void *arg)
{
    struct stream_ctx *c = arg;
    for (size_t i = 0; i < c->n; i++) {
        pthread_mutex_lock(&c->mu);
        while (c->inflight >= window && !c->failed) {
            pthread_cond_wait(&c->cond, &c->mu);
        }
        c->inflight++;
        /* the next one goes out at once (room in the window): let this one
         * wait for it in gRPC's write buffer; otherwise flush now */
        bool more = c->inflight < window && i + 1 < c->n;
        int failed = c->failed;
        pthread_mutex_unlock(&c->mu);
        if (failed) {
            break;
        }
        size_t e = c->idx[i];
        t_send[e] = weft_clock_mono_ns();
        int rc = more ? weft_rpc_stream_send_more(c->s, envs[e].b, envs[e].len)
                      : weft_rpc_stream_send(c->s, envs[e].b, envs[e].len);
        if (rc != 0) {
            break;
        }
    }
    if (weft_rpc_stream_close_send(c->s) != 0) {
        c->failed = 1;
    }
    return NULL;
}

static void *stream_main(void *arg)
{
    struct stream_ctx *c = arg;
    struct weft_err err = {0};
    c->s = weft_rpc_client_stream(clients[c->k % n_targets], "/orderer.AtomicBroadcast/Broadcast",
                                  -1, &err);
    if (c->s == NULL) {
        fprintf(stderr, "stream: %s\n", err.msg);
        c->failed = 1;
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
        size_t e = c->idx[i];
        t_ack[e] = weft_clock_mono_ns();
        st_ack[e] = r != NULL ? (int)r->status : -1;
        if (r != NULL) {
            orderer__broadcast_response__free_unpacked(r, NULL);
        }
        pthread_mutex_lock(&c->mu);
        c->inflight--;
        pthread_cond_signal(&c->cond);
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_lock(&c->mu);
    c->failed = 1; /* wakes a sender still waiting */
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mu);
    pthread_join(th, NULL);
    weft_rpc_stream_free(c->s);
    return NULL;
}

static size_t n_delivered;

/* Protobuf walking without decoding or copying: the load client must cost
 * little next to the orderer it measures. */
static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            return 0;
        }
    }
    return -1;
}

/* The next length-delimited field number want in [*p, end), advancing *p
 * past it; NULL when there is none or the bytes are malformed. */
static const uint8_t *next_field(const uint8_t **p, const uint8_t *end, uint32_t want,
                                 size_t *len)
{
    while (*p < end) {
        uint64_t key, v;
        if (read_varint(p, end, &key) != 0) {
            return NULL;
        }
        switch (key & 7) {
        case 0:
            if (read_varint(p, end, &v) != 0) {
                return NULL;
            }
            break;
        case 1:
        case 5:
            v = (key & 7) == 1 ? 8 : 4;
            if (v > (uint64_t)(end - *p)) {
                return NULL;
            }
            *p += v;
            break;
        case 2:
            if (read_varint(p, end, &v) != 0 || v > (uint64_t)(end - *p)) {
                return NULL;
            }
            if ((key >> 3) == want) {
                const uint8_t *f = *p;
                *len = (size_t)v;
                *p += v;
                return f;
            }
            *p += v;
            break;
        default:
            return NULL;
        }
    }
    return NULL;
}

/* The first field want of a message, or NULL. */
static const uint8_t *field_of(const uint8_t *m, size_t n, uint32_t want, size_t *len)
{
    const uint8_t *p = m;
    return next_field(&p, m + n, want, len);
}

/* DeliverResponse{block(2){data(2){data(1): Envelope{payload(1): Payload{data(2)}}}}}:
 * records the delivery time of every envelope of the block (its index is
 * the first 4 bytes of Payload.data). Returns -1 for anything but a block. */
static int note_block(const uint8_t *msg, size_t len, uint64_t now)
{
    size_t blen, dlen;
    const uint8_t *blk = field_of(msg, len, 2, &blen);
    const uint8_t *data = blk != NULL ? field_of(blk, blen, 2, &dlen) : NULL;
    if (data == NULL) {
        return -1;
    }
    const uint8_t *p = data, *end = data + dlen;
    size_t elen;
    const uint8_t *env;
    while ((env = next_field(&p, end, 1, &elen)) != NULL) {
        size_t plen, pdlen;
        const uint8_t *pl = field_of(env, elen, 1, &plen);
        const uint8_t *pd = pl != NULL ? field_of(pl, plen, 2, &pdlen) : NULL;
        if (pd == NULL || pdlen < 4) {
            continue;
        }
        size_t idx = (size_t)pd[0] | (size_t)pd[1] << 8 | (size_t)pd[2] << 16 |
                     (size_t)pd[3] << 24;
        if (idx < n_envs && t_deliv[idx] == 0) {
            t_deliv[idx] = now;
            n_delivered++;
        }
    }
    return 0;
}

static void *deliver_main(void *arg)
{
    struct weft_rpc_client *cl = arg;
    struct weft_err err = {0};
    struct weft_rpc_stream *s =
        weft_rpc_client_stream(cl, "/orderer.AtomicBroadcast/Deliver", -1, &err);
    if (s == NULL || weft_rpc_stream_send(s, seek.b, seek.len) != 0) {
        fprintf(stderr, "deliver: %s\n", err.msg);
        weft_rpc_stream_free(s);
        return NULL;
    }
    while (n_delivered < n_envs) {
        uint8_t *msg = NULL;
        size_t len = 0;
        if (weft_rpc_stream_recv(s, &msg, &len, 120000) != 0 || msg == NULL) {
            break;
        }
        uint64_t now = weft_clock_mono_ns();
        int rc = note_block(msg, len, now);
        weft_free(msg);
        if (rc != 0) {
            break; /* a status, or a malformed block */
        }
    }
    weft_rpc_stream_free(s);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p)
{
    if (n == 0) {
        return 0;
    }
    qsort(v, n, sizeof(*v), cmp_u64);
    size_t i = (size_t)(p * (double)(n - 1));
    return (double)v[i] / 1e6;
}

int main(int argc, char **argv)
{
    const char *targets = NULL, *dtarget = NULL, *ca = NULL, *efile = NULL, *sfile = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--targets") == 0) {
            targets = argv[i + 1];
        } else if (strcmp(argv[i], "--deliver") == 0) {
            dtarget = argv[i + 1];
        } else if (strcmp(argv[i], "--ca") == 0) {
            ca = argv[i + 1];
        } else if (strcmp(argv[i], "--envelopes") == 0) {
            efile = argv[i + 1];
        } else if (strcmp(argv[i], "--seek") == 0) {
            sfile = argv[i + 1];
        } else if (strcmp(argv[i], "--streams") == 0) {
            n_streams = (unsigned)strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--window") == 0) {
            window = (unsigned)strtoul(argv[i + 1], NULL, 10);
        }
    }
    struct env *sk = NULL;
    size_t nsk = 0;
    if (targets == NULL || dtarget == NULL || ca == NULL || efile == NULL || sfile == NULL ||
        n_streams == 0 || window == 0 || load(efile, &envs, &n_envs) != 0 ||
        load(sfile, &sk, &nsk) != 0 || nsk != 1) {
        fprintf(stderr, "usage: see the comment at the top of orderer_load.c\n");
        return 2;
    }
    seek = sk[0];
    t_send = calloc(n_envs, 8);
    t_ack = calloc(n_envs, 8);
    t_deliv = calloc(n_envs, 8);
    st_ack = calloc(n_envs, sizeof(int));
    struct weft_rpc_client_opts co = {.tls = true, .ca = {.file = ca}};
    struct weft_err err = {0};
    char *tl = weft_strdup(targets);
    clients = calloc(16, sizeof(*clients));
    for (char *save = NULL, *t = strtok_r(tl, ",", &save); t != NULL && n_targets < 16;
         t = strtok_r(NULL, ",", &save)) {
        clients[n_targets] = weft_rpc_client_new(t, &co, &err);
        if (clients[n_targets] == NULL || weft_rpc_client_wait_ready(clients[n_targets], 10000)) {
            fprintf(stderr, "client %s: %s\n", t, err.msg);
            return 1;
        }
        n_targets++;
    }
    struct weft_rpc_client *dc = weft_rpc_client_new(dtarget, &co, &err);
    if (dc == NULL) {
        fprintf(stderr, "deliver client: %s\n", err.msg);
        return 1;
    }
    pthread_t dth;
    pthread_create(&dth, NULL, deliver_main, dc);
    struct stream_ctx *cs = calloc(n_streams, sizeof(*cs));
    pthread_t *th = calloc(n_streams, sizeof(*th));
    for (unsigned k = 0; k < n_streams; k++) {
        cs[k].k = k;
        pthread_mutex_init(&cs[k].mu, NULL);
        pthread_cond_init(&cs[k].cond, NULL);
        cs[k].idx = calloc(n_envs / n_streams + 1, sizeof(size_t));
        for (size_t i = k; i < n_envs; i += n_streams) {
            cs[k].idx[cs[k].n++] = i;
        }
    }
    uint64_t t0 = weft_clock_mono_ns();
    for (unsigned k = 0; k < n_streams; k++) {
        pthread_create(&th[k], NULL, stream_main, &cs[k]);
    }
    for (unsigned k = 0; k < n_streams; k++) {
        pthread_join(th[k], NULL);
    }
    uint64_t t_acked = weft_clock_mono_ns();
    pthread_join(dth, NULL);
    uint64_t t_end = 0;
    size_t ok = 0;
    uint64_t *lat_ack = calloc(n_envs, 8), *lat_del = calloc(n_envs, 8);
    size_t na = 0, nd = 0;
    for (size_t i = 0; i < n_envs; i++) {
        if (st_ack[i] == 200) {
            ok++;
            lat_ack[na++] = t_ack[i] - t_send[i];
        }
        if (t_deliv[i] != 0 && t_send[i] != 0) {
            lat_del[nd++] = t_deliv[i] > t_send[i] ? t_deliv[i] - t_send[i] : 0;
            if (t_deliv[i] > t_end) {
                t_end = t_deliv[i];
            }
        }
    }
    double secs = (double)((t_end > t0 ? t_end : t_acked) - t0) / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru); /* the whole client, loading included */
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("{\"envelopes\": %zu, \"acknowledged\": %zu, \"delivered\": %zu, \"streams\": %u, "
           "\"window\": %u, \"seconds\": %.3f, \"envelopes_per_s\": %.1f, "
           "\"ack_p50_ms\": %.2f, \"ack_p99_ms\": %.2f, \"delivery_p50_ms\": %.2f, "
           "\"delivery_p99_ms\": %.2f, \"client_cpu_us_per_envelope\": %.1f}\n",
           n_envs, ok, n_delivered, n_streams, window, secs, (double)nd / secs,
           pct(lat_ack, na, 0.5), pct(lat_ack, na, 0.99), pct(lat_del, nd, 0.5),
           pct(lat_del, nd, 0.99), cpu / (double)n_envs * 1e6);
    return ok == n_envs && n_delivered == n_envs ? 0 : 1;
}
