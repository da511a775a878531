/* Chaincode TLS: the chaincode CA's bindings, and a chaincode listener
 * serving mutual TLS (as the peer does when peer.tls.enabled) with a fake
 * chaincode registering over weft's rpc client: its own cert registers and
 * runs a transaction; a cert issued for another chaincode, a cert from a
 * foreign CA and no cert at all are refused. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "peer/chaincode.pb-c.h"
#include "peer/chaincode_shim.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "testlib.h"
#include "weft/chaincode.h"
#include "weft/crypto.h"
#include "weft/crypto_issue.h"
#include "weft/rpc.h"

/* a real package ID is longer than an X.509 CN may be */
#define CCID "fake_1:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* A CA and a leaf (server or client) issued by it, PEM. */
struct pki {
    struct weft_key *ca_key;
    struct weft_x509 *ca;
    char *ca_pem;
};

static void pki_new(struct pki *p, const char *cn)
{
    struct weft_err e = {0};
    int64_t now = (int64_t)(weft_clock_wall_ns() / 1000000000u);
    struct weft_cert_template t = {.common_name = cn,
                                   .is_ca = true,
                                   .key_usage = WEFT_X509_KU_KEY_CERT_SIGN |
                                                WEFT_X509_KU_DIGITAL_SIGNATURE,
                                   .not_before = now - 60,
                                   .not_after = now + 86400};
    size_t l;
    assert_int_equal(weft_key_generate(&p->ca_key, &e), 0);
    assert_int_equal(weft_x509_issue(&t, p->ca_key, NULL, NULL, &p->ca, &e), 0);
    assert_int_equal(weft_x509_to_pem(p->ca, &p->ca_pem, &l, &e), 0);
}

static void pki_leaf(struct pki *p, bool server, char **cert_pem, char **key_pem)
{
    struct weft_err e = {0};
    int64_t now = (int64_t)(weft_clock_wall_ns() / 1000000000u);
    const char *sans[] = {"127.0.0.1", "localhost"};
    struct weft_cert_template t = {.common_name = server ? "peer0" : "intruder",
                                   .sans = server ? sans : NULL,
                                   .n_sans = server ? 2 : 0,
                                   .key_usage = WEFT_X509_KU_DIGITAL_SIGNATURE,
                                   .ext_key_usage = server ? WEFT_X509_EKU_SERVER_AUTH
                                                           : WEFT_X509_EKU_CLIENT_AUTH,
                                   .not_before = now - 60,
                                   .not_after = now + 86400};
    struct weft_key *k = NULL;
    struct weft_x509 *c = NULL;
    size_t l;
    assert_int_equal(weft_key_generate(&k, &e), 0);
    assert_int_equal(weft_x509_issue(&t, k, p->ca, p->ca_key, &c, &e), 0);
    assert_int_equal(weft_x509_to_pem(c, cert_pem, &l, &e), 0);
    assert_int_equal(weft_key_export_private_pem(k, key_pem, &l, &e), 0);
    weft_x509_free(c);
    weft_key_free(k);
}

static void pki_free(struct pki *p)
{
    weft_free(p->ca_pem);
    weft_x509_free(p->ca);
    weft_key_free(p->ca_key);
}

static void test_bindings(void **state)
{
    (void)state;
    struct weft_cc_tlsca *ca = NULL;
    struct weft_err e = {0};
    assert_int_equal(weft_cc_tlsca_new(&ca, &e), 0);
    assert_non_null(strstr(weft_cc_tlsca_cert_pem(ca), "BEGIN CERTIFICATE"));
    char *cert = NULL, *key = NULL;
    size_t kl = 0;
    assert_int_equal(weft_cc_tlsca_issue(ca, "a_1:aa", &cert, &key, &kl, &e), 0);
    assert_non_null(strstr(key, "PRIVATE KEY"));
    struct weft_x509 *x = NULL, *root = NULL;
    assert_int_equal(weft_x509_parse_pem(cert, strlen(cert), &x, &e), 0);
    const char *rp = weft_cc_tlsca_cert_pem(ca);
    assert_int_equal(weft_x509_parse_pem(rp, strlen(rp), &root, &e), 0);
    assert_string_equal(weft_x509_issuer(x), weft_x509_subject(root));
    assert_true((weft_x509_ext_key_usage(x, NULL) & WEFT_X509_EKU_CLIENT_AUTH) != 0);
    const uint8_t *h = weft_x509_der_hash(x);
    assert_int_equal(weft_cc_tlsca_check(ca, h, "a_1:aa", &e), 0);
    memset(&e, 0, sizeof(e));
    assert_int_equal(weft_cc_tlsca_check(ca, h, "b_1:bb", &e), WEFT_EPERM);
    assert_non_null(strstr(e.msg, "belongs to a different chaincode"));
    uint8_t other[32] = {1};
    assert_int_equal(weft_cc_tlsca_check(ca, other, "a_1:aa", &e), WEFT_EPERM);
    assert_non_null(strstr(e.msg, "not found in registry"));
    assert_int_equal(weft_cc_tlsca_check(ca, NULL, "a_1:aa", &e), WEFT_EPERM);
    assert_non_null(strstr(e.msg, "didn't send certificate"));
    /* bindings expire */
    weft_free(cert);
    weft_free_secret(key, kl);
    weft_x509_free(x);
    weft_cc_tlsca_set_ttl(ca, 0);
    assert_int_equal(weft_cc_tlsca_issue(ca, "c_1:cc", &cert, &key, &kl, &e), 0);
    assert_int_equal(weft_x509_parse_pem(cert, strlen(cert), &x, &e), 0);
    assert_int_equal(weft_cc_tlsca_check(ca, weft_x509_der_hash(x), "c_1:cc", &e), WEFT_EPERM);
    weft_free(cert);
    weft_free_secret(key, kl);
    weft_x509_free(x);
    weft_x509_free(root);
    weft_cc_tlsca_free(ca);
}

/* ---- listener with a fake chaincode ------------------------------------------ */

enum who { OWN_CERT, OTHER_NAME, FOREIGN_CA, NO_CERT };

struct fake {
    int port;
    const char *server_root;
    struct weft_cc_tlsca *ca;
    struct pki *foreign;
    enum who who;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool launched;
    int outcome; /* 0 pending, 1 registered, -1 refused */
    int code;    /* gRPC status when refused */
    char msg[256];
    struct weft_rpc_client *client;
    struct weft_rpc_stream *stream;
};

static void report(struct fake *f, int outcome)
{
    pthread_mutex_lock(&f->mu);
    f->outcome = outcome;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static int send_msg(struct weft_rpc_stream *s, Protos__ChaincodeMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(&m->base);
    uint8_t *b = weft_malloc(n + 1);
    protobuf_c_message_pack(&m->base, b);
    int rc = weft_rpc_stream_send(s, b, n);
    weft_free(b);
    return rc;
}

static Protos__ChaincodeMessage *recv_msg(struct weft_rpc_stream *s)
{
    uint8_t *b = NULL;
    size_t n = 0;
    if (weft_rpc_stream_recv(s, &b, &n, 10000) != 0 || b == NULL) {
        return NULL;
    }
    Protos__ChaincodeMessage *m = protos__chaincode_message__unpack(NULL, n, b);
    weft_free(b);
    return m;
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    char *cert = NULL, *key = NULL;
    size_t kl = 0;
    struct weft_err e = {0};
    if (f->who == OWN_CERT || f->who == OTHER_NAME) {
        assert_int_equal(weft_cc_tlsca_issue(f->ca, f->who == OWN_CERT ? CCID : "other_1:ff",
                                             &cert, &key, &kl, &e),
                         0);
    } else if (f->who == FOREIGN_CA) {
        pki_leaf(f->foreign, false, &cert, &key);
        kl = strlen(key);
    }
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", f->port);
    struct weft_rpc_client_opts o = {.tls = true};
    o.ca.pem = f->server_root;
    o.cert.pem = cert;
    o.key.pem = key;
    f->client = weft_rpc_client_new(target, &o, &e);
    assert_non_null(f->client);
    f->stream = weft_rpc_client_stream(f->client, "/protos.ChaincodeSupport/Register", 30000, &e);
    Protos__ChaincodeID cid = PROTOS__CHAINCODE_ID__INIT;
    cid.name = (char *)CCID;
    uint8_t idb[128];
    size_t idl = protos__chaincode_id__pack(&cid, idb);
    Protos__ChaincodeMessage reg = PROTOS__CHAINCODE_MESSAGE__INIT;
    reg.type = PROTOS__CHAINCODE_MESSAGE__TYPE__REGISTER;
    reg.payload.data = idb;
    reg.payload.len = idl;
    Protos__ChaincodeMessage *m = NULL;
    if (f->stream != NULL && send_msg(f->stream, &reg) == 0) {
        m = recv_msg(f->stream);
    }
    if (m == NULL || m->type != PROTOS__CHAINCODE_MESSAGE__TYPE__REGISTERED) {
        const char *sm = "";
        f->code = -1;
        if (f->stream != NULL && weft_rpc_stream_status(f->stream, 10000, &f->code, &sm) != 0) {
            f->code = -1;
        }
        snprintf(f->msg, sizeof(f->msg), "%s", sm != NULL ? sm : "");
        protos__chaincode_message__free_unpacked(m, NULL);
        report(f, -1);
        goto out;
    }
    protos__chaincode_message__free_unpacked(m, NULL);
    report(f, 1);
    while ((m = recv_msg(f->stream)) != NULL) {
        if (m->type == PROTOS__CHAINCODE_MESSAGE__TYPE__TRANSACTION) {
            Protos__Response r = PROTOS__RESPONSE__INIT;
            r.status = 200;
            r.payload.data = (uint8_t *)"ok";
            r.payload.len = 2;
            uint8_t rb[64];
            size_t rl = protos__response__pack(&r, rb);
            Protos__ChaincodeMessage c = PROTOS__CHAINCODE_MESSAGE__INIT;
            c.type = PROTOS__CHAINCODE_MESSAGE__TYPE__COMPLETED;
            c.txid = m->txid;
            c.channel_id = m->channel_id;
            c.payload.data = rb;
            c.payload.len = rl;
            (void)send_msg(f->stream, &c);
        }
        protos__chaincode_message__free_unpacked(m, NULL);
    }
out:
    weft_free(cert);
    if (key != NULL) {
        weft_free_secret(key, kl);
    }
    return NULL;
}

/* Launcher: runs the fake chaincode and fails the launch when the listener
 * refused it (so execute answers at once instead of after the timeout). */
static int fake_launch(void *ctx, struct weft_cc_support *s, const char *ccid,
                       struct weft_err *err)
{
    (void)s;
    (void)ccid;
    struct fake *f = ctx;
    f->outcome = 0;
    f->launched = true;
    assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
    pthread_mutex_lock(&f->mu);
    while (f->outcome == 0) {
        pthread_cond_wait(&f->cv, &f->mu);
    }
    int o = f->outcome;
    pthread_mutex_unlock(&f->mu);
    return o > 0 ? 0 : weft_err_set(err, WEFT_EPERM, "refused: %d %s", f->code, f->msg);
}

static void fake_join(struct fake *f)
{
    if (!f->launched) {
        return;
    }
    f->launched = false;
    if (f->stream != NULL) {
        weft_rpc_stream_cancel(f->stream);
    }
    pthread_join(f->th, NULL);
    weft_rpc_stream_free(f->stream);
    weft_rpc_client_free(f->client);
    f->stream = NULL;
    f->client = NULL;
}

static int run_case(struct weft_cc_support *s, struct fake *f, enum who who,
                    struct weft_cc_result *res, struct weft_err *e)
{
    f->who = who;
    f->outcome = 0;
    Protos__ChaincodeInput in = PROTOS__CHAINCODE_INPUT__INIT;
    uint8_t ib[16];
    size_t il = protos__chaincode_input__pack(&in, ib);
    struct weft_cc_invocation inv = {.ccid = CCID,
                                     .ns = "fake",
                                     .channel = "ch",
                                     .txid = who == OWN_CERT ? "tx-own" : "tx-other",
                                     .input = ib,
                                     .input_len = il};
    memset(e, 0, sizeof(*e));
    int rc = weft_cc_support_execute(s, &inv, res, e);
    weft_cc_support_stop(s, CCID);
    fake_join(f);
    /* the listener sees the stream end: wait until the handler is gone */
    uint64_t until = weft_clock_mono_ns() + 10000000000ull;
    while (weft_cc_support_connected(s, CCID) && weft_clock_mono_ns() < until) {
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    assert_false(weft_cc_support_connected(s, CCID));
    return rc;
}

static void test_listener_mutual_tls(void **state)
{
    (void)state;
    struct weft_err e = {0};
    char *dir = wt_tmpdir("cctls");
    struct pki peer_pki, foreign;
    pki_new(&peer_pki, "peer TLS CA");
    pki_new(&foreign, "foreign CA");
    char *srv_cert = NULL, *srv_key = NULL;
    pki_leaf(&peer_pki, true, &srv_cert, &srv_key);
    struct weft_cc_tlsca *ca = NULL;
    assert_int_equal(weft_cc_tlsca_new(&ca, &e), 0);

    struct weft_rpc_server_opts so = {0};
    so.listen[0] = "127.0.0.1:0";
    so.tls = WEFT_RPC_TLS_MUTUAL;
    so.cert.pem = srv_cert;
    so.key.pem = srv_key;
    so.client_ca.pem = weft_cc_tlsca_cert_pem(ca);
    so.cq_threads = 1;
    so.workers = 8;
    struct weft_rpc_server *srv = weft_rpc_server_new(&so, &e);
    assert_non_null(srv);
    struct weft_cc_store *st = NULL;
    assert_int_equal(weft_cc_store_open(dir, &st, &e), 0);
    struct fake f = {.port = weft_rpc_server_port(srv, 0),
                     .server_root = peer_pki.ca_pem,
                     .ca = ca,
                     .foreign = &foreign};
    pthread_mutex_init(&f.mu, NULL);
    pthread_cond_init(&f.cv, NULL);
    struct weft_cc_launcher l = {.launch = fake_launch, .ctx = &f};
    struct weft_cc_support_opts co = {.store = st,
                                      .launcher = &l,
                                      .tlsca = ca,
                                      .tls_root_pem = peer_pki.ca_pem,
                                      .execute_timeout_ms = 10000};
    struct weft_cc_support *s = NULL;
    assert_int_equal(weft_cc_support_new(&co, &s, &e), 0);
    assert_int_equal(weft_cc_support_register_service(s, srv, &e), 0);
    assert_int_equal(weft_rpc_server_start(srv, &e), 0);

    struct weft_cc_result res;
    /* the certificate the peer issued for this chaincode: registers, runs */
    assert_int_equal(run_case(s, &f, OWN_CERT, &res, &e), 0);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.payload_len, 2);
    assert_memory_equal(res.payload, "ok", 2);
    weft_cc_result_clear(&res);

    /* issued by the chaincode CA, but for another chaincode */
    assert_int_not_equal(run_case(s, &f, OTHER_NAME, &res, &e), 0);
    assert_int_equal(f.outcome, -1);
    assert_int_equal(f.code, WEFT_RPC_PERMISSION_DENIED);
    assert_non_null(strstr(f.msg, "belongs to a different chaincode"));
    assert_false(weft_cc_support_connected(s, CCID));

    /* a client certificate from a CA the listener does not trust: the TLS
     * handshake fails, nothing reaches the chaincode service */
    assert_int_not_equal(run_case(s, &f, FOREIGN_CA, &res, &e), 0);
    assert_int_equal(f.outcome, -1);
    assert_int_equal(f.code, WEFT_RPC_UNAVAILABLE);
    assert_int_not_equal(run_case(s, &f, NO_CERT, &res, &e), 0);
    assert_int_equal(f.outcome, -1);
    assert_int_equal(f.code, WEFT_RPC_UNAVAILABLE);
    assert_false(weft_cc_support_connected(s, CCID));

    /* and the right one still works afterwards */
    assert_int_equal(run_case(s, &f, OWN_CERT, &res, &e), 0);
    assert_int_equal(res.status, 200);
    weft_cc_result_clear(&res);

    weft_rpc_server_stop(srv, 500);
    weft_cc_support_free(s);
    weft_rpc_server_free(srv);
    weft_cc_store_free(st);
    weft_cc_tlsca_free(ca);
    pthread_mutex_destroy(&f.mu);
    pthread_cond_destroy(&f.cv);
    weft_free(srv_cert);
    weft_free_secret(srv_key, strlen(srv_key));
    pki_free(&peer_pki);
    pki_free(&foreign);
    wt_rmtree(dir);
    weft_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bindings),
        cmocka_unit_test(test_listener_mutual_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
