/* Fuzz target: the peer's handling of messages a chaincode sends on its
 * stream (src/chaincode/support.c: weft_cc_support_serve_stream, dispatch,
 * the state request handlers). A fake stream stands in for the
 * ChaincodeSupport/Register gRPC stream: the test launcher starts
 * weft_cc_support_serve_stream on a thread, the "chaincode" REGISTERs, and
 * once the peer has sent its TRANSACTION every frame of the input is
 * delivered as a ChaincodeMessage, then a COMPLETED, then the stream closes.
 *
 * Input: frames, each a 2-byte little-endian length and that many bytes of
 * ChaincodeMessage. The transaction in flight has txid "" on channel "", so
 * messages that leave both fields out reach its simulator (namespace
 * "basic" of a ledger holding vector blocks 0-10). The simulator is made
 * for each run and never committed; chaincode-to-chaincode calls are
 * refused (no resolver). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzzlib.h"
#include "common/common.pb-c.h"
#include "peer/chaincode.pb-c.h"
#include "peer/chaincode_shim.pb-c.h"
#include "weft/chaincode.h"
#include "weft/ledger.h"
#include "weft/ledger_state.h"
#include "weft/log.h"

#define CCID "fuzzcc:0000"
#define SETUP_BLOCKS 11

struct fstream {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const uint8_t *in;
    size_t in_len, off;
    int stage; /* 0 REGISTER next, 1 frames, 2 COMPLETED sent, 3 closed */
    bool tx_sent;
};

static struct weft_cc_store *store;
static struct weft_cc_support *support;
static struct weft_ledger *ledger;
static char tmpdir[256];
static struct fstream fs;
static pthread_t serve_thread;
static bool serving;

static int fs_send(void *st, const uint8_t *msg, size_t len)
{
    struct fstream *f = st;
    Protos__ChaincodeMessage *m = protos__chaincode_message__unpack(NULL, len, msg);
    if (m == NULL) {
        __builtin_trap(); /* the peer sends only well-formed messages */
    }
    if (m->type == PROTOS__CHAINCODE_MESSAGE__TYPE__TRANSACTION) {
        pthread_mutex_lock(&f->mu);
        f->tx_sent = true;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
    }
    protos__chaincode_message__free_unpacked(m, NULL);
    return 0;
}

static uint8_t *pack_msg(Protos__ChaincodeMessage__Type t, const ProtobufCMessage *payload,
                         size_t *len)
{
    Protos__ChaincodeMessage m = PROTOS__CHAINCODE_MESSAGE__INIT;
    uint8_t pl[256];
    m.type = t;
    if (payload != NULL) {
        m.payload.len = protobuf_c_message_pack(payload, pl);
        m.payload.data = pl;
    }
    *len = protobuf_c_message_get_packed_size(&m.base);
    uint8_t *b = weft_malloc(*len + 1);
    if (b == NULL) {
        abort();
    }
    protobuf_c_message_pack(&m.base, b);
    return b;
}

static int fs_recv(void *st, uint8_t **msg, size_t *len, int64_t timeout_ms)
{
    (void)timeout_ms;
    struct fstream *f = st;
    pthread_mutex_lock(&f->mu);
    int stage = f->stage;
    if (stage == 0) {
        f->stage = 1;
        pthread_mutex_unlock(&f->mu);
        Protos__ChaincodeID id = PROTOS__CHAINCODE_ID__INIT;
        id.name = (char *)CCID;
        *msg = pack_msg(PROTOS__CHAINCODE_MESSAGE__TYPE__REGISTER, &id.base, len);
        return 0;
    }
    /* frames only once the transaction is in flight (bounded wait) */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    while (!f->tx_sent) {
        if (pthread_cond_timedwait(&f->cv, &f->mu, &dl) == ETIMEDOUT) {
            f->stage = 3;
            break;
        }
    }
    stage = f->stage;
    if (stage == 1 && f->in_len - f->off >= 2) {
        size_t n = (size_t)f->in[f->off] | (size_t)f->in[f->off + 1] << 8;
        f->off += 2;
        if (n > f->in_len - f->off) {
            n = f->in_len - f->off;
        }
        uint8_t *b = weft_malloc(n + 1);
        if (b == NULL) {
            abort();
        }
        memcpy(b, f->in + f->off, n);
        f->off += n;
        pthread_mutex_unlock(&f->mu);
        *msg = b;
        *len = n;
        return 0;
    }
    if (stage == 1) {
        f->stage = 2;
        pthread_mutex_unlock(&f->mu);
        Protos__Response r = PROTOS__RESPONSE__INIT;
        r.status = 200;
        r.message = (char *)"";
        *msg = pack_msg(PROTOS__CHAINCODE_MESSAGE__TYPE__COMPLETED, &r.base, len);
        return 0;
    }
    f->stage = 3;
    pthread_mutex_unlock(&f->mu);
    *msg = NULL;
    *len = 0;
    return WEFT_ESHUTDOWN;
}

static void fs_cancel(void *st)
{
    (void)st;
}

static const struct weft_cc_stream_ops fs_ops = {
    .send = fs_send,
    .recv = fs_recv,
    .cancel = fs_cancel,
};

static void *serve_main(void *arg)
{
    weft_cc_support_serve_stream(arg, &fs_ops, &fs);
    return NULL;
}

static int launch(void *ctx, struct weft_cc_support *s, const char *ccid, struct weft_err *err)
{
    (void)ctx;
    if (strcmp(ccid, CCID) != 0 || serving) {
        return weft_err_set(err, WEFT_EINVAL, "unexpected launch of %s", ccid);
    }
    if (pthread_create(&serve_thread, NULL, serve_main, s) != 0) {
        return weft_err_set(err, WEFT_ENOMEM, "thread");
    }
    serving = true;
    return 0;
}

static const struct weft_cc_launcher launcher = {.launch = launch};

static void cleanup(void)
{
    if (tmpdir[0] != '\0') {
        fuzz_rmtree(tmpdir);
    }
}

static void setup(void)
{
    if (support != NULL) {
        return;
    }
    struct weft_err err;
    if (weft_log_spec_set("fatal", &err) != 0) {
        abort();
    }
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/weft-fuzz-chaincode-XXXXXX", t != NULL ? t : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        abort();
    }
    atexit(cleanup);
    char sdir[300];
    snprintf(sdir, sizeof(sdir), "%s/store", tmpdir);
    if (weft_cc_store_open(sdir, &store, &err) != 0) {
        fprintf(stderr, "fuzz_chaincode: store: %s\n", err.msg);
        abort();
    }
    struct weft_cc_support_opts o = {
        .store = store,
        .mspid = "Org1MSP",
        .execute_timeout_ms = 10000,
        .total_query_limit = 50,
        .launcher = &launcher,
    };
    if (weft_cc_support_new(&o, &support, &err) != 0) {
        fprintf(stderr, "fuzz_chaincode: support: %s\n", err.msg);
        abort();
    }
    struct weft_ledger_options lo;
    weft_ledger_options_init(&lo);
    lo.root = tmpdir;
    lo.channel = "mychannel";
    lo.no_sync = true;
    if (weft_ledger_open(&ledger, &lo, &err) != 0) {
        fprintf(stderr, "fuzz_chaincode: ledger: %s\n", err.msg);
        abort();
    }
    for (unsigned n = 0; n < SETUP_BLOCKS; n++) {
        char rel[64];
        size_t len;
        snprintf(rel, sizeof(rel), "blocks/%06u.block", n);
        uint8_t *b = fuzz_read_vector(rel, &len);
        if (weft_ledger_commit_bytes(ledger, b, len, &err) != 0) {
            fprintf(stderr, "fuzz_chaincode: block %u: %s\n", n, err.msg);
            abort();
        }
        weft_free(b);
    }
    pthread_mutex_init(&fs.mu, NULL);
    pthread_cond_init(&fs.cv, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    pthread_mutex_lock(&fs.mu);
    fs.in = data;
    fs.in_len = size;
    fs.off = 0;
    fs.stage = 0;
    fs.tx_sent = false;
    pthread_mutex_unlock(&fs.mu);

    struct weft_err err;
    struct weft_ledger_sim *sim = NULL;
    if (weft_ledger_sim_new(ledger, "fuzztx", &sim, &err) != 0) {
        abort();
    }
    ProtobufCBinaryData arg = {.data = (uint8_t *)"f", .len = 1};
    Protos__ChaincodeInput in = PROTOS__CHAINCODE_INPUT__INIT;
    in.n_args = 1;
    in.args = &arg;
    uint8_t input[64];
    size_t il = protobuf_c_message_pack(&in.base, input);
    struct weft_cc_invocation inv = {
        .ccid = CCID,
        .ns = "basic",
        .channel = "",
        .txid = "",
        .sim = sim,
        .input = input,
        .input_len = il,
    };
    struct weft_cc_result res;
    if (weft_cc_support_execute(support, &inv, &res, &err) == 0) {
        if (res.message == NULL || res.response == NULL) {
            __builtin_trap();
        }
        weft_cc_result_clear(&res);
    }
    if (serving) {
        pthread_join(serve_thread, NULL);
        serving = false;
    }
    weft_ledger_sim_free(sim);
    return 0;
}
