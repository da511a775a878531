/*
 * Endorsement benchmark (bench/endorse/run.sh, make bench-endorse).
 *
 *   bench_endorse serve node <shared dir> <putcc dir> <node_modules>
 *     A weft peer (library) with its gRPC server on 127.0.0.1:0 serving
 *     protos.Endorser/ProcessProposal and a reference /bench.Echo/Unary, the
 *     Fabric vector channel joined, and chaincode "put" defined on it: the
 *     trivial Node contract bench/endorse/putcc (real fabric-shim 2.5,
 *     Put(key) = one PUT_STATE) run by the peer's built-in Node launcher.
 *
 *   bench_endorse serve inproc <shared dir>
 *     The same peer, but chaincode "put" is an in-process echo handler that
 *     bypasses any chaincode: the launcher hook (weft_peer_opts.launcher)
 *     serves the shim stream from memory (weft_cc_support_serve_stream with
 *     queue-backed send/recv); on TRANSACTION it answers one PUT_STATE, then
 *     COMPLETED. The endorser's checks, the shim handler, the simulation, the
 *     rwset and the signing all run as for a real chaincode, so the peer's
 *     own cost per proposal is what remains.
 *
 *     Both print "READY <port>" and serve until stdin closes.
 *
 *   bench_endorse load --target HOST:PORT --cc put|echo
 *       --concurrency N --seconds S --warmup-ms MS --shared DIR
 *       [--peer-pid PID] [--cc-pid PID]
 *     Pre-signs proposals as User1@org1 (so signing stays out of the window),
 *     then N threads call ProcessProposal (or the echo) back to back over one
 *     connection. Only calls wholly inside the window count; a call counts as
 *     an error unless the ProposalResponse has status 200 and an
 *     endorsement. Prints one JSON object:
 *       {"cc":..,"concurrency":N,"calls":C,"errors":E,"seconds":S,"rps":R,
 *        "p50_ms":..,"p99_ms":..,"peer_cpu_us":..,"chaincode_cpu_us":..}
 *     peer_cpu_us / chaincode_cpu_us: CPU (user + system, /proc/PID/stat)
 *     the peer / chaincode process used during the window, per call;
 *     peer_ctxsw: the peer's context switches (voluntary + nonvoluntary,
 *     summed over /proc/PID/task/TID/status) during the window, per call.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/common.pb-c.h"
#include "peer/chaincode.pb-c.h"
#include "peer/chaincode_shim.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "weft/chaincode.h"
#include "weft/crypto.h"
#include "weft/log.h"
#include "weft/msp.h"
#include "weft/peer.h"
#include "weft/rpc.h"

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = weft_malloc(*len + 1);
    if (b == NULL) {
        exit(2);
    }
    protobuf_c_message_pack(m, b);
    return b;
}

/* ---- the in-process echo handler (launcher hook, memory stream) ----------- */

struct msgq {
    uint8_t *b;
    size_t len;
    struct msgq *next;
};

/* One in-memory shim stream: what the peer sends is answered at once into
 * the queue the peer's stream loop reads. */
struct memstream {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct msgq *head, *tail;
    bool closed;
    char *ccid;
    struct weft_cc_support *support;
    pthread_t th;
    bool started;
};

static struct memstream mem;

static void mem_push(struct memstream *m, uint8_t *b, size_t len)
{
    struct msgq *q = weft_calloc(1, sizeof(*q));
    if (q == NULL) {
        weft_free(b);
        return;
    }
    q->b = b;
    q->len = len;
    pthread_mutex_lock(&m->mu);
    if (m->tail != NULL) {
        m->tail->next = q;
    } else {
        m->head = q;
    }
    m->tail = q;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

static void mem_reply(struct memstream *m, Protos__ChaincodeMessage__Type t, const char *txid,
                      const char *ch, const ProtobufCMessage *payload)
{
    Protos__ChaincodeMessage out = PROTOS__CHAINCODE_MESSAGE__INIT;
    out.type = t;
    out.txid = (char *)txid;
    out.channel_id = (char *)ch;
    uint8_t *pl = NULL;
    size_t pll = 0;
    if (payload != NULL) {
        pl = pack(payload, &pll);
        out.payload.data = pl;
        out.payload.len = pll;
    }
    size_t n;
    uint8_t *b = pack(&out.base, &n);
    weft_free(pl);
    mem_push(m, b, n);
}

/* The peer sends: TRANSACTION -> PUT_STATE k<txid>; the PUT_STATE answer ->
 * COMPLETED(200). REGISTERED, READY and keepalives need no answer. */
static int mem_send(void *stream, const uint8_t *msg, size_t len)
{
    struct memstream *m = stream;
    Protos__ChaincodeMessage *in = protos__chaincode_message__unpack(NULL, len, msg);
    if (in == NULL) {
        return WEFT_EPARSE;
    }
    if (in->type == PROTOS__CHAINCODE_MESSAGE__TYPE__TRANSACTION) {
        char key[24];
        snprintf(key, sizeof(key), "k%.16s", in->txid);
        Protos__PutState ps = PROTOS__PUT_STATE__INIT;
        ps.key = key;
        ps.value.data = (uint8_t *)"v";
        ps.value.len = 1;
        mem_reply(m, PROTOS__CHAINCODE_MESSAGE__TYPE__PUT_STATE, in->txid, in->channel_id,
                  &ps.base);
    } else if (in->type == PROTOS__CHAINCODE_MESSAGE__TYPE__RESPONSE ||
               in->type == PROTOS__CHAINCODE_MESSAGE__TYPE__ERROR) {
        Protos__Response r = PROTOS__RESPONSE__INIT;
        r.status = in->type == PROTOS__CHAINCODE_MESSAGE__TYPE__RESPONSE ? 200 : 500;
        mem_reply(m, PROTOS__CHAINCODE_MESSAGE__TYPE__COMPLETED, in->txid, in->channel_id,
                  &r.base);
    }
    protos__chaincode_message__free_unpacked(in, NULL);
    return 0;
}

static int mem_recv(void *stream, uint8_t **msg, size_t *len, int64_t timeout_ms)
{
    struct memstream *m = stream;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    if (timeout_ms >= 0) {
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&m->mu);
    while (m->head == NULL && !m->closed) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&m->cv, &m->mu);
        } else if (pthread_cond_timedwait(&m->cv, &m->mu, &until) != 0) {
            break;
        }
    }
    struct msgq *q = m->head;
    if (q == NULL) {
        bool closed = m->closed;
        pthread_mutex_unlock(&m->mu);
        return closed ? WEFT_EUNAVAILABLE : WEFT_ETIMEDOUT;
    }
    m->head = q->next;
    if (m->head == NULL) {
        m->tail = NULL;
    }
    pthread_mutex_unlock(&m->mu);
    *msg = q->b;
    *len = q->len;
    weft_free(q);
    return 0;
}

static void mem_cancel(void *stream)
{
    struct memstream *m = stream;
    pthread_mutex_lock(&m->mu);
    m->closed = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

static const struct weft_cc_stream_ops mem_ops = {
    .send = mem_send, .recv = mem_recv, .cancel = mem_cancel};

static void *mem_serve(void *arg)
{
    struct memstream *m = arg;
    weft_cc_support_serve_stream(m->support, &mem_ops, m);
    return NULL;
}

/* Launcher hook: the "chaincode" registers at once from memory. */
static int inproc_launch(void *ctx, struct weft_cc_support *s, const char *ccid,
                         struct weft_err *err)
{
    struct memstream *m = ctx;
    if (m->started) {
        return weft_err_set(err, WEFT_ESTATE, "in-process handler already serving");
    }
    Protos__ChaincodeID cid = PROTOS__CHAINCODE_ID__INIT;
    cid.name = (char *)ccid;
    mem_reply(m, PROTOS__CHAINCODE_MESSAGE__TYPE__REGISTER, "", "", &cid.base);
    m->support = s;
    if (pthread_create(&m->th, NULL, mem_serve, m) != 0) {
        return weft_err_set(err, WEFT_ENOMEM, "thread");
    }
    m->started = true;
    return 0;
}

/* ---- serve ---------------------------------------------------------------------- */

static int echo(void *ctx, struct weft_rpc_call *call, const uint8_t *req, size_t len,
                struct weft_buf *resp)
{
    (void)ctx;
    (void)call;
    return weft_buf_append(resp, req, len) == 0 ? WEFT_RPC_OK : WEFT_RPC_INTERNAL;
}

static char *tmp_dir(void)
{
    const char *t = getenv("TMPDIR");
    char *d = weft_asprintf("%s/weft-bench-endorse-XXXXXX", t != NULL ? t : "/tmp");
    if (d == NULL || mkdtemp(d) == NULL) {
        exit(2);
    }
    return d;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    struct weft_buf b;
    weft_buf_init(&b, 64u << 20);
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
        if (weft_buf_append(&b, tmp, n) != 0) {
            break;
        }
    }
    fclose(f);
    *len = b.len;
    return (char *)b.data;
}

/* putcc NULL: the in-process echo handler. */
static int serve(const char *shared, const char *putcc, const char *nm)
{
    struct weft_err e = {0};
    char *dir = tmp_dir();
    struct weft_rpc_server_opts so = {0};
    so.listen[0] = "127.0.0.1:0";
    so.workers = 128;
    struct weft_rpc_server *rpc = weft_rpc_server_new(&so, &e);
    if (rpc == NULL || weft_rpc_server_add_unary(rpc, "/bench.Echo/Unary", echo, NULL) != 0) {
        fprintf(stderr, "server: %s\n", e.msg);
        return 1;
    }
    char msp[4096];
    snprintf(msp, sizeof(msp),
             "%s/vectors/fabric-2.4.9/crypto/peerOrganizations/org1.example.com/peers/"
             "peer0.org1.example.com/msp",
             shared);
    pthread_mutex_init(&mem.mu, NULL);
    pthread_cond_init(&mem.cv, NULL);
    struct weft_cc_launcher inproc = {.launch = inproc_launch, .ctx = &mem};
    struct weft_peer_opts o = {.fs_path = dir,
                               .msp_dir = msp,
                               .mspid = "Org1MSP",
                               .chaincode_listen = "127.0.0.1:0",
                               .node_modules = nm,
                               .execute_timeout_ms = 30000,
                               .startup_timeout_ms = 60000,
                               .launcher = putcc == NULL ? &inproc : NULL,
                               .ledger_no_sync = true};
    struct weft_peer *peer = weft_peer_new_opts(&o, rpc, &e);
    if (peer == NULL || weft_rpc_server_start(rpc, &e) != 0) {
        fprintf(stderr, "peer: %s\n", e.msg);
        return 1;
    }
    char path[4200];
    snprintf(path, sizeof(path), "%s/vectors/fabric-2.4.9/blocks/genesis.block", shared);
    size_t gl = 0;
    char *g = read_all(path, &gl);
    char src[4300];
    if (putcc == NULL) {
        /* a placeholder package: the launcher hook never reads it */
        char f[4400];
        snprintf(src, sizeof(src), "%s/inproc-src", dir);
        snprintf(f, sizeof(f), "%s/index.js", src);
        mkdir(src, 0755);
        FILE *fp = fopen(f, "w");
        if (fp == NULL) {
            return 1;
        }
        fputs("// in-process handler\n", fp);
        fclose(fp);
        putcc = src;
    }
    uint8_t *pkg = NULL;
    size_t pl = 0;
    char *id = NULL;
    if (g == NULL || weft_peer_join(peer, (uint8_t *)g, gl, NULL, &e) != 0 ||
        weft_cc_package_create("put_1", "node", "", putcc, &pkg, &pl, &e) != 0 ||
        weft_peer_install(peer, pkg, pl, &id, &e) != 0 ||
        weft_peer_define_chaincode(peer, "mychannel", "put", "1.0", id, &e) != 0) {
        fprintf(stderr, "setup: %s\n", e.msg);
        return 1;
    }
    printf("READY %d\n", weft_rpc_server_port(rpc, 0));
    fflush(stdout);
    char line[256];
    while (fgets(line, sizeof(line), stdin) != NULL) {
    }
    weft_rpc_server_stop(rpc, 1000);
    weft_peer_free(peer); /* cancels the memory stream */
    if (mem.started) {
        pthread_join(mem.th, NULL);
    }
    while (mem.head != NULL) {
        struct msgq *q = mem.head;
        mem.head = q->next;
        weft_free(q->b);
        weft_free(q);
    }
    weft_rpc_server_free(rpc);
    weft_free(g);
    weft_free(pkg);
    weft_free(id);
    char cmd[4300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
    weft_free(dir);
    return 0;
}

/* ---- load ------------------------------------------------------------------------ */

struct prop {
    uint8_t *b;
    size_t len;
};

/* A SignedProposal for cc with args, signed by user. */
static struct prop make_prop(struct weft_msp *user, const char *cc, const char *const *argv,
                             size_t argc)
{
    size_t cl;
    const uint8_t *creator = weft_msp_identity_serialized(weft_msp_signer(user), &cl);
    uint8_t nonce[24], h[32], nc[4096];
    if (weft_crypto_random(nonce, sizeof(nonce)) != 0 || cl + 24 > sizeof(nc)) {
        exit(2);
    }
    memcpy(nc, nonce, 24);
    memcpy(nc + 24, creator, cl);
    weft_sha256(nc, 24 + cl, h);
    char txid[65];
    weft_crypto_hex(h, 32, txid);
    Protos__ChaincodeID cid = PROTOS__CHAINCODE_ID__INIT;
    cid.name = (char *)cc;
    Protos__ChaincodeHeaderExtension ext = PROTOS__CHAINCODE_HEADER_EXTENSION__INIT;
    ext.chaincode_id = &cid;
    Common__ChannelHeader ch = COMMON__CHANNEL_HEADER__INIT;
    ch.type = 3;
    ch.channel_id = (char *)"mychannel";
    ch.tx_id = txid;
    size_t el, chl, shl, cisl, cppl, hl, propl, spl;
    ch.extension.data = pack(&ext.base, &el);
    ch.extension.len = el;
    Common__SignatureHeader sh = COMMON__SIGNATURE_HEADER__INIT;
    sh.creator.data = (uint8_t *)creator;
    sh.creator.len = cl;
    sh.nonce.data = nonce;
    sh.nonce.len = 24;
    Common__Header hdr = COMMON__HEADER__INIT;
    hdr.channel_header.data = pack(&ch.base, &chl);
    hdr.channel_header.len = chl;
    hdr.signature_header.data = pack(&sh.base, &shl);
    hdr.signature_header.len = shl;
    ProtobufCBinaryData args[8];
    for (size_t i = 0; i < argc && i < 8; i++) {
        args[i].data = (uint8_t *)argv[i];
        args[i].len = strlen(argv[i]);
    }
    Protos__ChaincodeInput in = PROTOS__CHAINCODE_INPUT__INIT;
    in.n_args = argc;
    in.args = args;
    Protos__ChaincodeSpec spec = PROTOS__CHAINCODE_SPEC__INIT;
    spec.type = PROTOS__CHAINCODE_SPEC__TYPE__NODE;
    spec.chaincode_id = &cid;
    spec.input = &in;
    Protos__ChaincodeInvocationSpec cis = PROTOS__CHAINCODE_INVOCATION_SPEC__INIT;
    cis.chaincode_spec = &spec;
    Protos__ChaincodeProposalPayload cpp = PROTOS__CHAINCODE_PROPOSAL_PAYLOAD__INIT;
    cpp.input.data = pack(&cis.base, &cisl);
    cpp.input.len = cisl;
    Protos__Proposal prop = PROTOS__PROPOSAL__INIT;
    prop.header.data = pack(&hdr.base, &hl);
    prop.header.len = hl;
    prop.payload.data = pack(&cpp.base, &cppl);
    prop.payload.len = cppl;
    Protos__SignedProposal sp = PROTOS__SIGNED_PROPOSAL__INIT;
    sp.proposal_bytes.data = pack(&prop.base, &propl);
    sp.proposal_bytes.len = propl;
    uint8_t sig[80];
    size_t sigl = sizeof(sig);
    struct weft_err e = {0};
    if (weft_msp_sign(user, sp.proposal_bytes.data, propl, sig, &sigl, &e) != 0) {
        exit(2);
    }
    sp.signature.data = sig;
    sp.signature.len = sigl;
    struct prop out;
    out.b = pack(&sp.base, &spl);
    out.len = spl;
    weft_free(sp.proposal_bytes.data);
    weft_free(prop.header.data);
    weft_free(prop.payload.data);
    weft_free(cpp.input.data);
    weft_free(hdr.channel_header.data);
    weft_free(hdr.signature_header.data);
    weft_free(ch.extension.data);
    return out;
}

static atomic_int phase; /* 0 warm-up, 1 measure, 2 stop */
static atomic_size_t next_prop;
static struct prop *props;
static size_t n_props;
static bool is_echo;

struct worker {
    pthread_t th;
    struct weft_rpc_client *c;
    double *lat;
    size_t n, cap;
    uint64_t errors;
    char first_err[200];
};

static bool ok_response(const struct weft_rpc_result *r, struct worker *w)
{
    if (is_echo) {
        return true;
    }
    Protos__ProposalResponse *pr = protos__proposal_response__unpack(NULL, r->len, r->data);
    bool ok = pr != NULL && pr->response != NULL && pr->response->status == 200 &&
              pr->endorsement != NULL && pr->endorsement->signature.len > 0;
    if (!ok && w->first_err[0] == 0) {
        snprintf(w->first_err, sizeof(w->first_err), "%d %s",
                 pr != NULL && pr->response != NULL ? pr->response->status : -1,
                 pr != NULL && pr->response != NULL ? pr->response->message : "unparsable");
    }
    protos__proposal_response__free_unpacked(pr, NULL);
    return ok;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    struct weft_rpc_result r = {0};
    const char *method = is_echo ? "/bench.Echo/Unary" : "/protos.Endorser/ProcessProposal";
    for (;;) {
        int ph = atomic_load(&phase);
        if (ph == 2) {
            break;
        }
        const struct prop *p = &props[atomic_fetch_add(&next_prop, 1) % n_props];
        uint64_t t0 = weft_clock_mono_ns();
        int rc = weft_rpc_client_unary(w->c, method, p->b, p->len, 60000, &r);
        uint64_t t1 = weft_clock_mono_ns();
        bool ok = rc == 0 && ok_response(&r, w);
        if (rc != 0 && w->first_err[0] == 0) {
            snprintf(w->first_err, sizeof(w->first_err), "rpc %s %s",
                     weft_rpc_code_name(r.code), r.message != NULL ? r.message : "");
        }
        weft_rpc_result_clear(&r);
        if (ph != 1 || atomic_load(&phase) != 1) {
            continue;
        }
        if (!ok) {
            w->errors++;
            continue;
        }
        if (w->n == w->cap) {
            size_t nc = w->cap ? w->cap * 2 : 16384;
            double *nl = weft_realloc(w->lat, nc * sizeof(double));
            if (nl == NULL) {
                w->errors++;
                continue;
            }
            w->lat = nl;
            w->cap = nc;
        }
        w->lat[w->n++] = (double)(t1 - t0) / 1e6;
    }
    return NULL;
}

static int cmp_d(const void *a, const void *b)
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

/* CPU seconds (user + system) used so far by pid, from /proc; -1 if gone. */
static double proc_cpu(long pid)
{
    if (pid <= 0) {
        return -1;
    }
    char p[64], buf[2048];
    snprintf(p, sizeof(p), "/proc/%ld/stat", pid);
    FILE *f = fopen(p, "r");
    if (f == NULL) {
        return -1;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    /* fields after the ")" that ends comm: state is field 3; utime 14, stime 15 */
    const char *q = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (q == NULL || sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                            &st) != 2) {
        return -1;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Context switches (voluntary + nonvoluntary) of all threads of pid so far,
 * from /proc/PID/task/TID/status; -1 if gone. Threads that exited in between
 * are not counted. */
static double proc_ctxsw(long pid)
{
    if (pid <= 0) {
        return -1;
    }
    char p[96];
    snprintf(p, sizeof(p), "/proc/%ld/task", pid);
    DIR *d = opendir(p);
    if (d == NULL) {
        return -1;
    }
    double total = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        char sp[160], line[256];
        snprintf(sp, sizeof(sp), "/proc/%ld/task/%s/status", pid, de->d_name);
        FILE *f = fopen(sp, "r");
        if (f == NULL) {
            continue;
        }
        while (fgets(line, sizeof(line), f) != NULL) {
            unsigned long long v;
            if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1 ||
                sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1) {
                total += (double)v;
            }
        }
        fclose(f);
    }
    closedir(d);
    return total;
}

static int load(int argc, char **argv)
{
    const char *target = NULL, *cc = "put", *shared = NULL;
    int conc = 1;
    double secs = 3;
    long warm = 500;
    long peer_pid = 0, cc_pid = 0; /* CPU of these over the window */
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--target") == 0) {
            target = argv[i + 1];
        } else if (strcmp(argv[i], "--cc") == 0) {
            cc = argv[i + 1];
        } else if (strcmp(argv[i], "--concurrency") == 0) {
            conc = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--seconds") == 0) {
            secs = atof(argv[i + 1]);
        } else if (strcmp(argv[i], "--warmup-ms") == 0) {
            warm = atol(argv[i + 1]);
        } else if (strcmp(argv[i], "--shared") == 0) {
            shared = argv[i + 1];
        } else if (strcmp(argv[i], "--peer-pid") == 0) {
            peer_pid = atol(argv[i + 1]);
        } else if (strcmp(argv[i], "--cc-pid") == 0) {
            cc_pid = atol(argv[i + 1]);
        }
    }
    if (target == NULL || shared == NULL || conc < 1) {
        fprintf(stderr, "load: --target and --shared required\n");
        return 2;
    }
    is_echo = strcmp(cc, "echo") == 0;
    struct weft_err e = {0};
    char path[4096];
    snprintf(path, sizeof(path),
             "%s/vectors/fabric-2.4.9/crypto/peerOrganizations/org1.example.com/users/"
             "User1@org1.example.com/msp",
             shared);
    struct weft_msp *user = NULL;
    if (weft_msp_load_dir(path, "Org1MSP", &user, &e) != 0) {
        fprintf(stderr, "user: %s\n", e.msg);
        return 1;
    }
    /* enough distinct proposals that none is in flight twice */
    n_props = 40000;
    props = weft_calloc(n_props, sizeof(*props));
    for (size_t i = 0; i < n_props; i++) {
        char idb[32];
        snprintf(idb, sizeof(idb), "b%zu", i);
        const char *a[] = {"Put", idb};
        props[i] = make_prop(user, "put", a, 2);
    }
    struct weft_rpc_client *c = weft_rpc_client_new(target, NULL, &e);
    if (c == NULL || weft_rpc_client_wait_ready(c, 10000) != 0) {
        fprintf(stderr, "connect %s failed\n", target);
        return 1;
    }
    struct worker *ws = weft_calloc((size_t)conc, sizeof(*ws));
    for (int i = 0; i < conc; i++) {
        ws[i].c = c;
        pthread_create(&ws[i].th, NULL, run, &ws[i]);
    }
    sleep_ms(warm);
    double pc0 = proc_cpu(peer_pid), cc0 = proc_cpu(cc_pid), px0 = proc_ctxsw(peer_pid);
    uint64_t t0 = weft_clock_mono_ns();
    atomic_store(&phase, 1);
    sleep_ms((long)(secs * 1000));
    atomic_store(&phase, 2);
    uint64_t t1 = weft_clock_mono_ns();
    double pc1 = proc_cpu(peer_pid), cc1 = proc_cpu(cc_pid), px1 = proc_ctxsw(peer_pid);
    size_t total = 0;
    uint64_t errors = 0;
    const char *first = "";
    for (int i = 0; i < conc; i++) {
        pthread_join(ws[i].th, NULL);
        total += ws[i].n;
        errors += ws[i].errors;
        if (first[0] == 0 && ws[i].first_err[0] != 0) {
            first = ws[i].first_err;
        }
    }
    double *all = weft_malloc((total + 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < conc; i++) {
        memcpy(all + k, ws[i].lat, ws[i].n * sizeof(double));
        k += ws[i].n;
    }
    qsort(all, total, sizeof(double), cmp_d);
    double el = (double)(t1 - t0) / 1e9;
    double p50 = total ? all[total / 2] : 0, p99 = total ? all[(size_t)((double)total * 0.99)] : 0;
    printf("{\"cc\":\"%s\",\"concurrency\":%d,\"calls\":%zu,\"errors\":%llu,\"seconds\":%.3f,"
           "\"rps\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,",
           cc, conc, total, (unsigned long long)errors, el, (double)total / el, p50, p99);
    /* calls finished in the window ~ calls served in it (closed loop) */
    if (pc0 >= 0 && pc1 >= 0 && total > 0) {
        printf("\"peer_cpu_us\":%.1f,", (pc1 - pc0) * 1e6 / (double)total);
    }
    if (px0 >= 0 && px1 >= 0 && total > 0) {
        printf("\"peer_ctxsw\":%.1f,", (px1 - px0) / (double)total);
    }
    if (cc0 >= 0 && cc1 >= 0 && total > 0) {
        printf("\"chaincode_cpu_us\":%.1f,", (cc1 - cc0) * 1e6 / (double)total);
    }
    printf("\"first_error\":\"");
    for (const char *q = first; *q; q++) {
        if (*q != '"' && *q != '\\' && (unsigned char)*q >= 32) {
            putchar(*q);
        }
    }
    printf("\"}\n");
    for (int i = 0; i < conc; i++) {
        weft_free(ws[i].lat);
    }
    for (size_t i = 0; i < n_props; i++) {
        weft_free(props[i].b);
    }
    weft_free(props);
    weft_free(all);
    weft_free(ws);
    weft_rpc_client_free(c);
    weft_msp_unref(user);
    return total > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (weft_log_spec_set("warning", NULL) != 0) {
        return 2;
    }
    if (argc >= 4 && strcmp(argv[1], "serve") == 0) {
        /* the chaincode process runs elsewhere: absolute paths */
        char sh[4096], cc[4096], nm[4096];
        bool node = strcmp(argv[2], "node") == 0;
        if ((!node && strcmp(argv[2], "inproc") != 0) || (node && argc < 6) ||
            realpath(argv[3], sh) == NULL ||
            (node && (realpath(argv[4], cc) == NULL || realpath(argv[5], nm) == NULL))) {
            fprintf(stderr, "serve: node <shared> <putcc> <node_modules> | inproc <shared>\n");
            return 2;
        }
        return serve(sh, node ? cc : NULL, node ? nm : NULL);
    }
    if (argc >= 2 && strcmp(argv[1], "load") == 0) {
        return load(argc, argv);
    }
    fprintf(stderr, "usage: bench_endorse serve node|inproc ... | load ...\n");
    return 2;
}
