/* Helper process of the conformance test (conformance.test.js):
 *
 *   conformance_tool history ROOT CHANNEL NS KEY...
 *       GetHistoryForKey of each key through the path the chaincode shim's
 *       request takes in weft (weft_ledger_sim_history on a query executor,
 *       newest first, each entry packed as queryresult.KeyModification), read
 *       back from the packed bytes; prints {key: [{txId, isDelete, value
 *       (base64), timestamp: {seconds, nanos}, block, tx}]} as JSON.
 *
 *   conformance_tool serve ROOT GENESIS BLOCKS_DIR N [--orderer] [--tls CERT KEY CA]
 *       A minimal Deliver source: commits blocks 0..N-1 of BLOCKS_DIR
 *       (NNNNNN.block, as stored, with their TRANSACTIONS_FILTER) into a
 *       ledger under ROOT and serves them with weft's Deliver service
 *       (/protos.Deliver/Deliver, ACLs from GENESIS) on 127.0.0.1:<any>.
 *       Prints "port P" once serving; exits when its stdin closes.
 *       --orderer: stand in for an orderer, as a peer's block puller sees
 *       it: the blocks are stored without the peer's TRANSACTIONS_FILTER
 *       (an orderer's blocks carry none), and /orderer.AtomicBroadcast/Deliver
 *       is served as well, each stream relayed (its seek request, then the
 *       responses) through weft's /protos.Deliver/Deliver on the same server.
 *       --tls: serve TLS with CERT/KEY; CA is what the relay trusts.
 *
 *   conformance_tool blocks ROOT CHANNEL
 *       The blocks of a (stopped) ledger: prints [{number, header_hash,
 *       previous_hash, data_hash (hex), codes: [TRANSACTIONS_FILTER bytes]}]
 *       as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/common.pb-c.h"
#include "ledger/queryresult/kv_query_result.pb-c.h"
#include "testlib.h"
#include "weft/committer.h"
#include "weft/configtx.h"
#include "weft/ledger.h"
#include "weft/ledger_state.h"
#include "weft/rpc.h"

static void hex(char *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * n] = '\0';
}

static void die(const char *what, const struct weft_err *e)
{
    fprintf(stderr, "conformance_tool: %s: %s\n", what, e != NULL ? e->msg : "");
    exit(1);
}

static char *b64(const uint8_t *p, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *s = malloc(4 * ((n + 2) / 3) + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        s[o++] = tbl[(v >> 18) & 63];
        s[o++] = tbl[(v >> 12) & 63];
        s[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        s[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    s[o] = '\0';
    return s;
}

static struct weft_ledger *open_ledger(const char *root, const char *channel)
{
    struct weft_ledger_options o;
    weft_ledger_options_init(&o);
    o.root = root;
    o.channel = channel;
    o.no_sync = true;
    struct weft_ledger *l;
    struct weft_err err = {0};
    if (weft_ledger_open(&l, &o, &err) != 0)
        die(root, &err);
    return l;
}

static int cmd_history(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    struct weft_ledger *l = open_ledger(argv[1], argv[2]);
    const char *ns = argv[3];
    struct weft_err err = {0};
    struct weft_ledger_sim *q;
    if (weft_ledger_qe_new(l, &q, &err) != 0)
        die("query executor", &err);
    json_t *out = json_object();
    for (int k = 4; k < argc; k++) {
        const char *key = argv[k];
        struct weft_ledger_hist_iter *it;
        if (weft_ledger_sim_history(q, ns, key, strlen(key), true, &it, &err) != 0)
            die(key, &err);
        json_t *arr = json_array();
        struct weft_ledger_key_mod km;
        int rc;
        while ((rc = weft_ledger_hist_next(it, &km, &err)) == 1) {
            uint8_t *packed;
            size_t pl;
            if (weft_ledger_key_mod_pack(&km, &packed, &pl) != 0)
                die("pack KeyModification", NULL);
            Queryresult__KeyModification *m =
                queryresult__key_modification__unpack(NULL, pl, packed);
            weft_free(packed);
            if (m == NULL)
                die("KeyModification does not unpack", NULL);
            json_t *e = json_object();
            json_object_set_new(e, "txId", json_string(m->tx_id));
            json_object_set_new(e, "isDelete", json_boolean(m->is_delete));
            char *v = b64(m->value.data, m->value.len);
            json_object_set_new(e, "value", json_string(v));
            free(v);
            json_t *ts = json_object();
            json_object_set_new(ts, "seconds",
                                json_integer(m->timestamp != NULL ? m->timestamp->seconds : -1));
            json_object_set_new(ts, "nanos",
                                json_integer(m->timestamp != NULL ? m->timestamp->nanos : -1));
            json_object_set_new(e, "timestamp", ts);
            json_object_set_new(e, "block", json_integer((json_int_t)km.ver.block_num));
            json_object_set_new(e, "tx", json_integer((json_int_t)km.ver.tx_num));
            json_array_append_new(arr, e);
            queryresult__key_modification__free_unpacked(m, NULL);
        }
        if (rc != 0)
            die(key, &err);
        weft_ledger_hist_free(it);
        json_object_set_new(out, key, arr);
    }
    weft_ledger_sim_free(q);
    json_dumpf(out, stdout, JSON_INDENT(1));
    printf("\n");
    json_decref(out);
    weft_ledger_close(l);
    return 0;
}

struct source {
    struct weft_ledger *l;
    struct weft_channel_config *cfg;
};

static int lookup(void *ctx, const char *channel, struct weft_deliver_channel *out)
{
    struct source *s = ctx;
    if (strcmp(channel, s->cfg->channel_id) != 0)
        return WEFT_ENOTFOUND;
    out->ledger = s->l;
    out->config = s->cfg;
    return 0;
}

/* /orderer.AtomicBroadcast/Deliver relayed through /protos.Deliver/Deliver:
 * the request and response messages have the same fields (Envelope in;
 * status = 1, block = 2 out). */
struct relay {
    char target[64];
    struct weft_rpc_client_opts copts;
    bool tls;
};

static void relay_main(void *ctx, struct weft_rpc_call *call)
{
    struct relay *r = ctx;
    struct weft_err err = {0};
    struct weft_rpc_client *cl = weft_rpc_client_new(r->target, r->tls ? &r->copts : NULL, &err);
    struct weft_rpc_stream *s =
        cl != NULL ? weft_rpc_client_stream(cl, "/protos.Deliver/Deliver", -1, &err) : NULL;
    uint8_t *m = NULL;
    size_t ml = 0;
    if (s == NULL || weft_rpc_call_recv(call, &m, &ml, -1) != 0 || m == NULL) {
        fprintf(stderr, "conformance_tool: relay: %s\n", err.msg);
        goto done;
    }
    int rc = weft_rpc_stream_send(s, m, ml);
    weft_free(m);
    while (rc == 0 && !weft_rpc_call_is_cancelled(call)) {
        uint8_t *b = NULL;
        size_t bl = 0;
        rc = weft_rpc_stream_recv(s, &b, &bl, 200);
        if (rc == WEFT_ETIMEDOUT) {
            rc = 0;
            continue;
        }
        if (rc != 0 || b == NULL)
            break;
        rc = weft_rpc_call_send_owned(call, b, bl);
    }
done:
    weft_rpc_stream_free(s);
    weft_rpc_client_free(cl);
}

/* The block without its TRANSACTIONS_FILTER, as an orderer stores it. */
static uint8_t *strip_filter(uint8_t *b, size_t *len)
{
    Common__Block *blk = common__block__unpack(NULL, *len, b);
    if (blk == NULL || blk->metadata == NULL ||
        blk->metadata->n_metadata <= COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER)
        die("block without metadata", NULL);
    blk->metadata->metadata[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER].len = 0;
    size_t n = common__block__get_packed_size(blk);
    uint8_t *out = weft_malloc(n + 1);
    common__block__pack(blk, out);
    common__block__free_unpacked(blk, NULL);
    weft_free(b);
    *len = n;
    return out;
}

static int cmd_serve(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    bool orderer = false;
    const char *tls_cert = NULL, *tls_key = NULL, *tls_ca = NULL;
    for (int i = 5; i < argc; i++) {
        if (strcmp(argv[i], "--orderer") == 0) {
            orderer = true;
        } else if (strcmp(argv[i], "--tls") == 0 && i + 3 < argc) {
            tls_cert = argv[++i];
            tls_key = argv[++i];
            tls_ca = argv[++i];
        } else {
            return 2;
        }
    }
    struct weft_err err = {0};
    size_t gl;
    uint8_t *g = (uint8_t *)wt_read_file(argv[2], &gl);
    if (g == NULL)
        die(argv[2], NULL);
    struct source s;
    if (weft_channel_config_from_block(g, gl, 0, &s.cfg, &err) != 0)
        die("genesis", &err);
    weft_free(g);
    s.l = open_ledger(argv[1], s.cfg->channel_id);
    unsigned long n = strtoul(argv[4], NULL, 10);
    for (unsigned long i = 0; i < n; i++) {
        char p[4096];
        snprintf(p, sizeof(p), "%s/%06lu.block", argv[3], i);
        size_t len;
        uint8_t *b = (uint8_t *)wt_read_file(p, &len);
        if (b == NULL)
            die(p, NULL);
        if (orderer)
            b = strip_filter(b, &len);
        if (weft_ledger_commit_bytes(s.l, b, len, &err) != 0)
            die(p, &err);
        weft_free(b);
    }
    struct weft_rpc_server_opts so = {.listen = {"127.0.0.1:0"}, .workers = 8, .cq_threads = 1};
    if (tls_cert != NULL) {
        so.tls = WEFT_RPC_TLS_SERVER;
        so.cert.file = tls_cert;
        so.key.file = tls_key;
    }
    struct weft_rpc_server *srv = weft_rpc_server_new(&so, &err);
    if (srv == NULL)
        die("server", &err);
    struct weft_deliver_options dopt = {.lookup = lookup, .ctx = &s};
    struct weft_deliver *d;
    if (weft_deliver_register(srv, &dopt, &d, &err) != 0)
        die("deliver", &err);
    static struct relay relay;
    if (orderer) {
        relay.tls = tls_cert != NULL;
        relay.copts.tls = relay.tls;
        relay.copts.ca.file = tls_ca;
        if (weft_rpc_server_add_stream(srv, "/orderer.AtomicBroadcast/Deliver",
                                       WEFT_RPC_BIDI_STREAMING, relay_main, &relay) != 0)
            die("register the relay", NULL);
    }
    /* the port is bound by weft_rpc_server_new; write the target before the
     * workers that read it start */
    snprintf(relay.target, sizeof(relay.target), "127.0.0.1:%d", weft_rpc_server_port(srv, 0));
    if (weft_rpc_server_start(srv, &err) != 0)
        die("start", &err);
    printf("port %d\n", weft_rpc_server_port(srv, 0));
    fflush(stdout);
    char buf[256];
    while (fread(buf, 1, sizeof(buf), stdin) > 0) {
    }
    weft_rpc_server_free(srv);
    weft_deliver_free(d);
    weft_ledger_close(s.l);
    weft_channel_config_free(s.cfg);
    return 0;
}

static int cmd_blocks(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    struct weft_ledger *l = open_ledger(argv[1], argv[2]);
    struct weft_ledger_info info;
    weft_ledger_info(l, &info);
    json_t *out = json_array();
    for (uint64_t n = 0; n < info.height; n++) {
        struct weft_err err = {0};
        uint8_t *b;
        size_t len;
        if (weft_ledger_block_by_number(l, n, &b, &len, &err) != 0)
            die("block", &err);
        Common__Block *blk = common__block__unpack(NULL, len, b);
        weft_free(b);
        if (blk == NULL || blk->header == NULL || blk->metadata == NULL)
            die("block does not decode", NULL);
        uint8_t hh[WEFT_LEDGER_HASH_LEN];
        if (weft_ledger_header_hash(blk->header->number, blk->header->previous_hash.data,
                                    blk->header->previous_hash.len, blk->header->data_hash.data,
                                    blk->header->data_hash.len, hh) != 0)
            die("header hash", NULL);
        char h[2 * WEFT_LEDGER_HASH_LEN + 1], ph[2 * 64 + 1], dh[2 * 64 + 1];
        hex(h, hh, sizeof(hh));
        hex(ph, blk->header->previous_hash.data,
            blk->header->previous_hash.len > 64 ? 64 : blk->header->previous_hash.len);
        hex(dh, blk->header->data_hash.data,
            blk->header->data_hash.len > 64 ? 64 : blk->header->data_hash.len);
        json_t *e = json_object();
        json_object_set_new(e, "number", json_integer((json_int_t)blk->header->number));
        json_object_set_new(e, "header_hash", json_string(h));
        json_object_set_new(e, "previous_hash", json_string(ph));
        json_object_set_new(e, "data_hash", json_string(dh));
        json_t *codes = json_array();
        if (blk->metadata->n_metadata > COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER) {
            const ProtobufCBinaryData *f =
                &blk->metadata->metadata[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER];
            for (size_t i = 0; i < f->len; i++)
                json_array_append_new(codes, json_integer(f->data[i]));
        }
        json_object_set_new(e, "codes", codes);
        json_array_append_new(out, e);
        common__block__free_unpacked(blk, NULL);
    }
    json_dumpf(out, stdout, JSON_COMPACT);
    printf("\n");
    json_decref(out);
    weft_ledger_close(l);
    return 0;
}

int main(int argc, char **argv)
{
    int rc = 2;
    if (argc >= 2 && strcmp(argv[1], "history") == 0)
        rc = cmd_history(argc - 1, argv + 1);
    else if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        rc = cmd_serve(argc - 1, argv + 1);
    else if (argc >= 2 && strcmp(argv[1], "blocks") == 0)
        rc = cmd_blocks(argc - 1, argv + 1);
    if (rc == 2)
        fprintf(stderr,
                "usage: conformance_tool history ROOT CHANNEL NS KEY... |\n"
                "       conformance_tool serve ROOT GENESIS BLOCKS_DIR N [--orderer] "
                "[--tls CERT KEY CA] |\n"
                "       conformance_tool blocks ROOT CHANNEL\n");
    return rc;
}
