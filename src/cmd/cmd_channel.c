/*
 * `weft channel`: a peer's channels, through signed proposals to the peer's
 * Endorser (protos.Endorser/ProcessProposal), as Fabric's `peer channel`:
 *
 *   weft channel join --block FILE      cscc JoinChain (needs a peer-org admin)
 *   weft channel list                   cscc GetChannels (any member of the org)
 *   weft channel getinfo -c CH          qscc GetChainInfo
 *   weft channel fetch WHICH [FILE] -c CH
 *                                       WHICH = newest | oldest | config | N:
 *                                       qscc GetBlockByNumber / cscc
 *                                       GetConfigBlock, from the peer
 *
 * The identity and the connection come from flags or from the environment
 * variables Fabric's CLI reads: CORE_PEER_ADDRESS, CORE_PEER_LOCALMSPID,
 * CORE_PEER_MSPCONFIGPATH, CORE_PEER_TLS_ENABLED,
 * CORE_PEER_TLS_ROOTCERT_FILE, CORE_PEER_TLS_CLIENTCERT_FILE,
 * CORE_PEER_TLS_CLIENTKEY_FILE, CORE_PEER_TLS_SERVERHOSTOVERRIDE.
 * Exit codes: 0 done, 1 refused or failed, 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "common/common.pb-c.h"
#include "common/ledger.pb-c.h"
#include "peer/chaincode.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/query.pb-c.h"
#include "weft/configtx.h"
#include "weft/crypto.h"
#include "weft/msp.h"
#include "weft/rpc.h"

struct chan_opts {
    const char *peer, *mspid, *msp_dir, *channel, *block;
    bool tls;
    const char *cafile, *certfile, *keyfile, *server_name;
    const char *pos[2]; /* positional arguments */
    size_t n_pos;
};

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != 0 ? v : def;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: weft channel <join|list|getinfo|fetch> [options]\n\n"
            "  join --block FILE            join the peer to the channel of a genesis block\n"
            "                               (cscc JoinChain; sign as an admin of the peer's org)\n"
            "  list                         channels the peer has joined (cscc GetChannels)\n"
            "  getinfo -c CHANNEL           height and hashes of the peer's chain (qscc)\n"
            "  fetch newest|oldest|config|N [FILE] -c CHANNEL\n"
            "                               write a block from the peer's ledger to FILE\n"
            "                               (default <channel>_<which>.block)\n\n"
            "Options (environment variable in brackets):\n"
            "  -p, --peer HOST:PORT   the peer's gRPC address [CORE_PEER_ADDRESS]\n"
            "                         (default 127.0.0.1:7051)\n"
            "  --mspid ID             MSP ID of the signing identity [CORE_PEER_LOCALMSPID]\n"
            "  --msp DIR              its MSP folder (signcerts, keystore)\n"
            "                         [CORE_PEER_MSPCONFIGPATH]\n"
            "  -c, --channel NAME     channel (getinfo, fetch)\n"
            "  -b, --block FILE       genesis block (join)\n"
            "  --tls                  TLS to the peer [CORE_PEER_TLS_ENABLED=true]\n"
            "  --cafile FILE          the peer's TLS root [CORE_PEER_TLS_ROOTCERT_FILE]\n"
            "  --certfile FILE        client certificate for mutual TLS\n"
            "                         [CORE_PEER_TLS_CLIENTCERT_FILE]\n"
            "  --keyfile FILE         its key [CORE_PEER_TLS_CLIENTKEY_FILE]\n"
            "  --server-name NAME     expected name in the peer's certificate\n"
            "                         [CORE_PEER_TLS_SERVERHOSTOVERRIDE]\n");
}

/* 0, or 2 after printing a usage error. */
static int parse(int argc, char **argv, struct chan_opts *o)
{
    o->peer = env_or("CORE_PEER_ADDRESS", "127.0.0.1:7051");
    o->mspid = env_or("CORE_PEER_LOCALMSPID", NULL);
    o->msp_dir = env_or("CORE_PEER_MSPCONFIGPATH", NULL);
    const char *t = env_or("CORE_PEER_TLS_ENABLED", "false");
    o->tls = strcmp(t, "true") == 0 || strcmp(t, "1") == 0;
    o->cafile = env_or("CORE_PEER_TLS_ROOTCERT_FILE", NULL);
    o->certfile = env_or("CORE_PEER_TLS_CLIENTCERT_FILE", NULL);
    o->keyfile = env_or("CORE_PEER_TLS_CLIENTKEY_FILE", NULL);
    o->server_name = env_or("CORE_PEER_TLS_SERVERHOSTOVERRIDE", NULL);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (strcmp(a, "-p") == 0 || strcmp(a, "--peer") == 0 || strcmp(a, "--peerAddresses") == 0) {
            dst = &o->peer;
        } else if (strcmp(a, "--mspid") == 0) {
            dst = &o->mspid;
        } else if (strcmp(a, "--msp") == 0) {
            dst = &o->msp_dir;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--channel") == 0 ||
                   strcmp(a, "--channelID") == 0) {
            dst = &o->channel;
        } else if (strcmp(a, "-b") == 0 || strcmp(a, "--block") == 0 ||
                   strcmp(a, "--blockpath") == 0) {
            dst = &o->block;
        } else if (strcmp(a, "--cafile") == 0 || strcmp(a, "--tlsRootCertFiles") == 0) {
            dst = &o->cafile;
        } else if (strcmp(a, "--certfile") == 0) {
            dst = &o->certfile;
        } else if (strcmp(a, "--keyfile") == 0) {
            dst = &o->keyfile;
        } else if (strcmp(a, "--server-name") == 0) {
            dst = &o->server_name;
        } else if (strcmp(a, "--tls") == 0) {
            o->tls = true;
            continue;
        } else if (a[0] == '-') {
            fprintf(stderr, "weft channel %s: unknown option '%s'\n\n", argv[0], a);
            usage(stderr);
            return 2;
        } else if (o->n_pos < 2) {
            o->pos[o->n_pos++] = a;
            continue;
        } else {
            fprintf(stderr, "weft channel %s: unexpected argument '%s'\n", argv[0], a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "weft channel %s: %s needs a value\n", argv[0], a);
            return 2;
        }
        *dst = argv[++i];
    }
    if (o->mspid == NULL || o->msp_dir == NULL) {
        fprintf(stderr,
                "weft channel %s: the signing identity is required: --mspid and --msp "
                "(or CORE_PEER_LOCALMSPID and CORE_PEER_MSPCONFIGPATH)\n",
                argv[0]);
        return 2;
    }
    if (o->tls && o->cafile == NULL) {
        fprintf(stderr, "weft channel %s: --tls needs --cafile (CORE_PEER_TLS_ROOTCERT_FILE)\n",
                argv[0]);
        return 2;
    }
    return 0;
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = weft_malloc(*len + 1);
    if (b != NULL) {
        protobuf_c_message_pack(m, b);
    }
    return b;
}

/* Builds and signs a proposal for cc/args with an empty channel id (as
 * Fabric's CLI does for cscc and qscc). *out weft_free. */
static int make_proposal(struct weft_msp *msp, const char *cc, const ProtobufCBinaryData *args,
                         size_t nargs, uint8_t **out, size_t *out_len, struct weft_err *err)
{
    size_t cl = 0;
    const uint8_t *creator = weft_msp_identity_serialized(weft_msp_signer(msp), &cl);
    uint8_t nonce[24];
    int rc = weft_crypto_random(nonce, sizeof(nonce));
    if (rc != 0) {
        return weft_err_set(err, rc, "no randomness");
    }
    struct weft_sha256 *h = weft_sha256_new();
    uint8_t d[32];
    char txid[65];
    rc = h == NULL ? WEFT_ENOMEM : weft_sha256_update(h, nonce, sizeof(nonce));
    if (rc == 0) {
        rc = weft_sha256_update(h, creator, cl);
    }
    if (rc == 0) {
        rc = weft_sha256_final(h, d);
    }
    weft_sha256_free(h);
    if (rc != 0) {
        return weft_err_set(err, rc, "txid: %s", weft_strerror(rc));
    }
    weft_crypto_hex(d, 32, txid);
    uint64_t now = weft_clock_wall_ns();
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = (int64_t)(now / 1000000000u);
    ts.nanos = (int32_t)((now / 1000000u) % 1000u * 1000000u);
    Protos__ChaincodeID cid = PROTOS__CHAINCODE_ID__INIT;
    cid.name = (char *)cc;
    Protos__ChaincodeHeaderExtension ext = PROTOS__CHAINCODE_HEADER_EXTENSION__INIT;
    ext.chaincode_id = &cid;
    Common__ChannelHeader ch = COMMON__CHANNEL_HEADER__INIT;
    Common__SignatureHeader sh = COMMON__SIGNATURE_HEADER__INIT;
    Common__Header hdr = COMMON__HEADER__INIT;
    Protos__ChaincodeInput in = PROTOS__CHAINCODE_INPUT__INIT;
    Protos__ChaincodeSpec spec = PROTOS__CHAINCODE_SPEC__INIT;
    Protos__ChaincodeInvocationSpec cis = PROTOS__CHAINCODE_INVOCATION_SPEC__INIT;
    Protos__ChaincodeProposalPayload cpp = PROTOS__CHAINCODE_PROPOSAL_PAYLOAD__INIT;
    Protos__Proposal prop = PROTOS__PROPOSAL__INIT;
    Protos__SignedProposal sp = PROTOS__SIGNED_PROPOSAL__INIT;
    uint8_t *eb = NULL;
    size_t el = 0, n = 0;
    eb = pack(&ext.base, &el);
    ch.type = COMMON__HEADER_TYPE__ENDORSER_TRANSACTION;
    ch.timestamp = &ts;
    ch.channel_id = (char *)"";
    ch.tx_id = txid;
    ch.extension.data = eb;
    ch.extension.len = el;
    sh.creator.data = (uint8_t *)(uintptr_t)creator;
    sh.creator.len = cl;
    sh.nonce.data = nonce;
    sh.nonce.len = sizeof(nonce);
    hdr.channel_header.data = pack(&ch.base, &n);
    hdr.channel_header.len = n;
    hdr.signature_header.data = pack(&sh.base, &n);
    hdr.signature_header.len = n;
    in.args = (ProtobufCBinaryData *)(uintptr_t)args;
    in.n_args = nargs;
    spec.type = PROTOS__CHAINCODE_SPEC__TYPE__GOLANG;
    spec.chaincode_id = &cid;
    spec.input = &in;
    cis.chaincode_spec = &spec;
    cpp.input.data = pack(&cis.base, &n);
    cpp.input.len = n;
    prop.header.data = pack(&hdr.base, &n);
    prop.header.len = n;
    prop.payload.data = pack(&cpp.base, &n);
    prop.payload.len = n;
    sp.proposal_bytes.data = pack(&prop.base, &n);
    sp.proposal_bytes.len = n;
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sigl = sizeof(sig);
    if (eb == NULL || hdr.channel_header.data == NULL || hdr.signature_header.data == NULL ||
        cpp.input.data == NULL || prop.header.data == NULL || prop.payload.data == NULL ||
        sp.proposal_bytes.data == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
    } else {
        rc = weft_msp_sign(msp, sp.proposal_bytes.data, sp.proposal_bytes.len, sig, &sigl, err);
    }
    if (rc == 0) {
        sp.signature.data = sig;
        sp.signature.len = sigl;
        *out = pack(&sp.base, out_len);
        if (*out == NULL) {
            rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        }
    }
    weft_free(eb);
    weft_free(hdr.channel_header.data);
    weft_free(hdr.signature_header.data);
    weft_free(cpp.input.data);
    weft_free(prop.header.data);
    weft_free(prop.payload.data);
    weft_free(sp.proposal_bytes.data);
    return rc;
}

/* Sends the proposal and returns the chaincode's payload (*payload
 * weft_free) when the response status is 200; prints why otherwise. */
static int invoke(const struct chan_opts *o, const char *cmd, const char *cc,
                  const ProtobufCBinaryData *args, size_t nargs, uint8_t **payload,
                  size_t *payload_len)
{
    struct weft_err err = {0};
    struct weft_msp *msp = NULL;
    struct weft_rpc_client *cl = NULL;
    struct weft_rpc_result res = {0};
    uint8_t *sp = NULL;
    size_t spl = 0;
    Protos__ProposalResponse *pr = NULL;
    int rc = weft_msp_load_dir(o->msp_dir, o->mspid, &msp, &err);
    if (rc == 0 && weft_msp_signer(msp) == NULL) {
        rc = weft_err_set(&err, WEFT_ECONFIG, "%s has no signing identity", o->msp_dir);
    }
    if (rc != 0) {
        fprintf(stderr, "weft channel %s: MSP %s: %s\n", cmd, o->msp_dir, err.msg);
        goto out;
    }
    rc = make_proposal(msp, cc, args, nargs, &sp, &spl, &err);
    if (rc != 0) {
        fprintf(stderr, "weft channel %s: proposal: %s\n", cmd, err.msg);
        goto out;
    }
    struct weft_rpc_client_opts co = {
        .tls = o->tls,
        .ca = {.file = o->cafile},
        .cert = {.file = o->certfile},
        .key = {.file = o->keyfile},
        .server_name_override = o->server_name,
        .wait_for_ready = true,
    };
    cl = weft_rpc_client_new(o->peer, &co, &err);
    if (cl == NULL) {
        fprintf(stderr, "weft channel %s: peer %s: %s\n", cmd, o->peer, err.msg);
        rc = 1;
        goto out;
    }
    rc = weft_rpc_client_unary(cl, "/protos.Endorser/ProcessProposal", sp, spl, 30000, &res);
    if (rc != 0) {
        fprintf(stderr, "weft channel %s: peer %s: %s (gRPC status %d)\n", cmd, o->peer,
                res.message != NULL ? res.message : "", res.code);
        goto out;
    }
    pr = protos__proposal_response__unpack(NULL, res.len, res.data);
    if (pr == NULL || pr->response == NULL) {
        fprintf(stderr, "weft channel %s: peer %s: malformed ProposalResponse\n", cmd, o->peer);
        rc = 1;
        goto out;
    }
    if (pr->response->status != 200) {
        fprintf(stderr, "weft channel %s: peer %s refused (status %d): %s\n", cmd, o->peer,
                pr->response->status, pr->response->message);
        rc = 1;
        goto out;
    }
    *payload_len = pr->response->payload.len;
    *payload = weft_malloc(*payload_len + 1);
    rc = *payload == NULL ? 1 : 0;
    if (rc == 0 && *payload_len > 0) {
        memcpy(*payload, pr->response->payload.data, *payload_len);
    }
out:
    protos__proposal_response__free_unpacked(pr, NULL);
    weft_rpc_result_clear(&res);
    weft_rpc_client_free(cl);
    weft_free(sp);
    weft_msp_unref(msp);
    return rc == 0 ? 0 : 1;
}

static ProtobufCBinaryData arg(const char *s)
{
    ProtobufCBinaryData a = {strlen(s), (uint8_t *)(uintptr_t)s};
    return a;
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return -errno;
    }
    struct weft_buf b;
    weft_buf_init(&b, WEFT_CONFIGTX_MAX_BLOCK);
    uint8_t chunk[65536];
    size_t got;
    int rc = 0;
    while (rc == 0 && (got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = weft_buf_append(&b, chunk, got);
    }
    fclose(f);
    if (rc != 0) {
        weft_buf_close(&b);
        return rc;
    }
    *out = weft_buf_steal(&b, len);
    return 0;
}

static int cmd_join(int argc, char **argv)
{
    struct chan_opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc != 0) {
        return rc;
    }
    if (o.block == NULL && o.n_pos == 1) {
        o.block = o.pos[0];
    }
    if (o.block == NULL) {
        fprintf(stderr, "weft channel join: --block FILE is required\n");
        return 2;
    }
    uint8_t *blk = NULL;
    size_t bl = 0;
    rc = read_file(o.block, &blk, &bl);
    if (rc != 0) {
        fprintf(stderr, "weft channel join: read %s: %s\n", o.block, weft_strerror(rc));
        return 1;
    }
    uint8_t *env = NULL;
    size_t envl = 0;
    char *ch = NULL;
    struct weft_err err = {0};
    if (weft_configtx_block_config(blk, bl, &env, &envl, &ch, &err) != 0) {
        fprintf(stderr, "weft channel join: %s is not a config block: %s\n", o.block, err.msg);
        weft_free(blk);
        return 1;
    }
    ProtobufCBinaryData args[2] = {arg("JoinChain"), {bl, blk}};
    uint8_t *pl = NULL;
    size_t pll = 0;
    rc = invoke(&o, "join", "cscc", args, 2, &pl, &pll);
    if (rc == 0) {
        printf("peer %s joined channel %s\n", o.peer, ch);
    }
    weft_free(pl);
    weft_free(env);
    weft_free(ch);
    weft_free(blk);
    return rc;
}

static int cmd_list(int argc, char **argv)
{
    struct chan_opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc != 0) {
        return rc;
    }
    ProtobufCBinaryData args[1] = {arg("GetChannels")};
    uint8_t *pl = NULL;
    size_t pll = 0;
    rc = invoke(&o, "list", "cscc", args, 1, &pl, &pll);
    if (rc != 0) {
        return rc;
    }
    Protos__ChannelQueryResponse *q = protos__channel_query_response__unpack(NULL, pll, pl);
    weft_free(pl);
    if (q == NULL) {
        fprintf(stderr, "weft channel list: malformed ChannelQueryResponse\n");
        return 1;
    }
    printf("Channels peers has joined:\n");
    for (size_t i = 0; i < q->n_channels; i++) {
        printf("%s\n", q->channels[i]->channel_id);
    }
    protos__channel_query_response__free_unpacked(q, NULL);
    return 0;
}

static char *b64(const uint8_t *p, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *s = weft_malloc(4 * ((n + 2) / 3) + 1);
    if (s == NULL) {
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) {
            v |= (uint32_t)p[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= p[i + 2];
        }
        s[o++] = tbl[(v >> 18) & 63];
        s[o++] = tbl[(v >> 12) & 63];
        s[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        s[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    s[o] = 0;
    return s;
}

/* qscc GetChainInfo: *info (free_unpacked) or 1. */
static int chain_info(const struct chan_opts *o, const char *cmd, Common__BlockchainInfo **info)
{
    ProtobufCBinaryData args[2] = {arg("GetChainInfo"), arg(o->channel)};
    uint8_t *pl = NULL;
    size_t pll = 0;
    int rc = invoke(o, cmd, "qscc", args, 2, &pl, &pll);
    if (rc != 0) {
        return rc;
    }
    *info = common__blockchain_info__unpack(NULL, pll, pl);
    weft_free(pl);
    if (*info == NULL) {
        fprintf(stderr, "weft channel %s: malformed BlockchainInfo\n", cmd);
        return 1;
    }
    return 0;
}

static int cmd_getinfo(int argc, char **argv)
{
    struct chan_opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc != 0) {
        return rc;
    }
    if (o.channel == NULL) {
        fprintf(stderr, "weft channel getinfo: -c CHANNEL is required\n");
        return 2;
    }
    Common__BlockchainInfo *bi = NULL;
    rc = chain_info(&o, "getinfo", &bi);
    if (rc != 0) {
        return rc;
    }
    char *cur = b64(bi->currentblockhash.data, bi->currentblockhash.len);
    char *prev = b64(bi->previousblockhash.data, bi->previousblockhash.len);
    if (cur == NULL || prev == NULL) {
        rc = 1;
    } else {
        printf("Blockchain info: {\"height\":%llu,\"currentBlockHash\":\"%s\","
               "\"previousBlockHash\":\"%s\"}\n",
               (unsigned long long)bi->height, cur, prev);
    }
    weft_free(cur);
    weft_free(prev);
    common__blockchain_info__free_unpacked(bi, NULL);
    return rc;
}

static int cmd_fetch(int argc, char **argv)
{
    struct chan_opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc != 0) {
        return rc;
    }
    if (o.channel == NULL || o.n_pos < 1) {
        fprintf(stderr, "weft channel fetch: usage: fetch newest|oldest|config|N [FILE] -c "
                        "CHANNEL\n");
        return 2;
    }
    const char *which = o.pos[0];
    char num[32];
    ProtobufCBinaryData args[3];
    const char *cc = "qscc";
    if (strcmp(which, "config") == 0) {
        cc = "cscc";
        args[0] = arg("GetConfigBlock");
        args[1] = arg(o.channel);
    } else {
        unsigned long long n = 0;
        if (strcmp(which, "newest") == 0) {
            Common__BlockchainInfo *bi = NULL;
            rc = chain_info(&o, "fetch", &bi);
            if (rc != 0) {
                return rc;
            }
            n = bi->height > 0 ? bi->height - 1 : 0;
            common__blockchain_info__free_unpacked(bi, NULL);
        } else if (strcmp(which, "oldest") != 0) {
            char *end = NULL;
            errno = 0;
            n = strtoull(which, &end, 10);
            if (errno != 0 || end == which || *end != 0 || which[0] == '-') {
                fprintf(stderr,
                        "weft channel fetch: '%s' is not newest, oldest, config or a "
                        "block number\n",
                        which);
                return 2;
            }
        }
        snprintf(num, sizeof(num), "%llu", n);
        args[0] = arg("GetBlockByNumber");
        args[1] = arg(o.channel);
        args[2] = arg(num);
    }
    uint8_t *pl = NULL;
    size_t pll = 0;
    rc = invoke(&o, "fetch", cc, args, strcmp(cc, "cscc") == 0 ? 2 : 3, &pl, &pll);
    if (rc != 0) {
        return rc;
    }
    char *path =
        o.n_pos >= 2 ? weft_strdup(o.pos[1]) : weft_asprintf("%s_%s.block", o.channel, which);
    FILE *f = path != NULL ? fopen(path, "wb") : NULL;
    if (f == NULL || fwrite(pl, 1, pll, f) != pll) {
        fprintf(stderr, "weft channel fetch: cannot write %s\n", path != NULL ? path : "?");
        rc = 1;
    }
    if (f != NULL && fclose(f) != 0) {
        rc = 1;
    }
    if (rc == 0) {
        printf("wrote %s (%zu bytes)\n", path, pll);
    }
    weft_free(path);
    weft_free(pl);
    return rc;
}

int cmd_channel(int argc, char **argv)
{
    static const struct cmd_entry sub[] = {
        {"join", "join the peer to a channel from its genesis block", cmd_join},
        {"list", "list the channels the peer has joined", cmd_list},
        {"getinfo", "height and current hashes of a channel on the peer", cmd_getinfo},
        {"fetch", "write a block of a channel's ledger on the peer to a file", cmd_fetch},
    };
    if (argc >= 3 && cmd_wants_help(argc - 2, argv + 2)) {
        usage(stdout);
        return 0;
    }
    return cmd_dispatch("weft channel",
                        "weft channel: a peer's channels (join, list, getinfo, "
                        "fetch)",
                        sub, WEFT_ARRAY_LEN(sub), argc - 1, argv + 1);
}
