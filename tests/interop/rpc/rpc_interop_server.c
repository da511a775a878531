/*
 * Test server for the grpc-js interop suite (rpc.test.js) and the rpc
 * benchmark. Service "interop.Echo" with raw-byte messages:
 *   Unary   echo of the request
 *   Stream  server streaming; request = decimal count or "inf"; replies "msg-<i>"
 *   Bidi    echo of each message until the client half-closes
 *   Stats   "cancelled=<n>": streaming calls that ended cancelled so far
 * Usage: rpc_interop_server [--listen HOST:PORT] [--tls off|server|mutual]
 *        [--cert F --key F --ca F] [--max-recv BYTES] [--workers N] [--threads N]
 * Prints "PORT <n>" once listening; on SIGTERM/SIGINT stops gracefully,
 * prints "cancelled <n>" and exits 0 (the ASan build then checks for leaks).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/log.h"
#include "weft/rpc.h"

static atomic_int cancelled;

static int h_unary(void *ctx, struct weft_rpc_call *call, const uint8_t *req, size_t len,
                   struct weft_buf *resp)
{
    (void)ctx;
    (void)call;
    return weft_buf_append(resp, req, len) == 0 ? WEFT_RPC_OK : WEFT_RPC_INTERNAL;
}

static int h_stats(void *ctx, struct weft_rpc_call *call, const uint8_t *req, size_t len,
                   struct weft_buf *resp)
{
    (void)ctx;
    (void)call;
    (void)req;
    (void)len;
    return weft_buf_appendf(resp, "cancelled=%d", atomic_load(&cancelled)) == 0
               ? WEFT_RPC_OK
               : WEFT_RPC_INTERNAL;
}

static void h_stream(void *ctx, struct weft_rpc_call *call)
{
    (void)ctx;
    size_t len;
    const uint8_t *req = weft_rpc_call_request(call, &len);
    char buf[32];
    snprintf(buf, sizeof(buf), "%.*s", (int)(len < 31 ? len : 31), req ? (const char *)req : "");
    long n = strcmp(buf, "inf") == 0 ? -1 : strtol(buf, NULL, 10);
    for (long i = 0; n < 0 || i < n; i++) {
        char msg[32];
        int ml = snprintf(msg, sizeof(msg), "msg-%ld", i);
        if (weft_rpc_call_send(call, msg, (size_t)ml) != 0) {
            atomic_fetch_add(&cancelled, 1);
            return;
        }
    }
    (void)weft_rpc_call_finish(call, WEFT_RPC_OK, NULL);
}

static void h_bidi(void *ctx, struct weft_rpc_call *call)
{
    (void)ctx;
    for (;;) {
        uint8_t *msg;
        size_t len;
        if (weft_rpc_call_recv(call, &msg, &len, -1) != 0) {
            atomic_fetch_add(&cancelled, 1);
            return;
        }
        if (msg == NULL) {
            break;
        }
        if (weft_rpc_call_send_owned(call, msg, len) != 0) {
            atomic_fetch_add(&cancelled, 1);
            return;
        }
    }
    (void)weft_rpc_call_finish(call, WEFT_RPC_OK, NULL);
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:0", *tls = "off", *cert = NULL, *key = NULL, *ca = NULL;
    size_t max_recv = 0;
    unsigned workers = 0, threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--listen") == 0) {
            listen = argv[i + 1];
        } else if (strcmp(argv[i], "--tls") == 0) {
            tls = argv[i + 1];
        } else if (strcmp(argv[i], "--cert") == 0) {
            cert = argv[i + 1];
        } else if (strcmp(argv[i], "--key") == 0) {
            key = argv[i + 1];
        } else if (strcmp(argv[i], "--ca") == 0) {
            ca = argv[i + 1];
        } else if (strcmp(argv[i], "--max-recv") == 0) {
            max_recv = (size_t)strtoull(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--workers") == 0) {
            workers = (unsigned)strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--threads") == 0) {
            threads = (unsigned)strtoul(argv[i + 1], NULL, 10);
        } else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    /* gRPC's threads inherit this mask, so only sigwait sees the signals */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    struct weft_rpc_server_opts o = {
        .listen = {listen},
        .tls = strcmp(tls, "mutual") == 0   ? WEFT_RPC_TLS_MUTUAL
               : strcmp(tls, "server") == 0 ? WEFT_RPC_TLS_SERVER
                                            : WEFT_RPC_TLS_OFF,
        .cert = {.file = cert},
        .key = {.file = key},
        .client_ca = {.file = ca},
        .max_recv_msg = max_recv,
        .workers = workers,
        .cq_threads = threads,
        .health = true,
    };
    struct weft_err err = {0};
    struct weft_rpc_server *srv = weft_rpc_server_new(&o, &err);
    if (srv == NULL) {
        fprintf(stderr, "server: %s\n", err.msg);
        return 1;
    }
    if (weft_rpc_server_add_unary(srv, "/interop.Echo/Unary", h_unary, NULL) != 0 ||
        weft_rpc_server_add_unary(srv, "/interop.Echo/Stats", h_stats, NULL) != 0 ||
        weft_rpc_server_add_stream(srv, "/interop.Echo/Stream", WEFT_RPC_SERVER_STREAMING,
                                   h_stream, NULL) != 0 ||
        weft_rpc_server_add_stream(srv, "/interop.Echo/Bidi", WEFT_RPC_BIDI_STREAMING, h_bidi,
                                   NULL) != 0 ||
        weft_rpc_server_start(srv, &err) != 0) {
        fprintf(stderr, "server: start failed %s\n", err.msg);
        weft_rpc_server_free(srv);
        return 1;
    }
    printf("PORT %d\n", weft_rpc_server_port(srv, 0));
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    weft_rpc_server_stop(srv, 2000);
    weft_rpc_server_free(srv);
    printf("cancelled %d\n", atomic_load(&cancelled));
    fflush(stdout);
    weft_log_shutdown();
    return 0;
}
