/* Interop harness: a weft peer (library) that joins the Fabric vector
 * channel, installs the Node sample chaincode (run by the built-in Node
 * launcher with fabric-shim from NODE_PATH), and endorses proposals signed
 * by User1@org1. Commands on stdin, one per line:
 *   submit|evaluate <fn> [args...]
 * An argument written '' is empty. submit also orders the endorsed transaction into a block and commits it.
 * Each line answers "<base64 ProposalResponse>" or "ERR <message>".
 *   block <base64 Envelope>
 * wraps a transaction assembled elsewhere (Node) into the next block and
 * commits it; answers "OK <height>" or "ERR <message>".
 *
 * Modes (last argument): plain, tls, ccaas, ccaas-tls as described in
 * chaincode.test.js; grpc and ccaas-grpc serve protos.Endorser on a gRPC
 * server (line "GRPC <port>") and define two chaincodes from the sample,
 * "asset" and "assetb" (different packages, so that assetb can call asset),
 * peer-launched (grpc) or as chaincode-as-a-service (ccaas-grpc: lines
 * "CCAAS <addr> -" and "CCAAS <addr2> -" first); READY then names both
 * package IDs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/common.pb-c.h"
#include "peer/chaincode.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/transaction.pb-c.h"
#include "testlib.h"
#include "weft/crypto.h"
#include "weft/crypto_issue.h"
#include "weft/ledger.h"
#include "weft/msp.h"
#include "weft/peer.h"
#include "weft/rpc.h"

static struct weft_msp *user;
static struct weft_peer *peer;
static uint64_t height = 1;
static uint8_t prev_hash[32];

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(*len + 1);
    protobuf_c_message_pack(m, b);
    return b;
}

static void b64f(FILE *f, const uint8_t *d, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        fputc(t[v >> 18 & 63], f);
        fputc(t[v >> 12 & 63], f);
        fputc(i + 1 < n ? t[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? t[v & 63] : '=', f);
    }
}

static void b64(const uint8_t *d, size_t n)
{
    b64f(stdout, d, n);
}

/* Commits one envelope as the next block (valid in the filter). */
static int commit_env(uint8_t *envb, size_t envl)
{
    struct weft_err e = {0};
    ProtobufCBinaryData data[1] = {{envl, envb}};
    Common__Block blk = COMMON__BLOCK__INIT;
    Common__BlockHeader bh = COMMON__BLOCK_HEADER__INIT;
    Common__BlockData bd = COMMON__BLOCK_DATA__INIT;
    Common__BlockMetadata bm = COMMON__BLOCK_METADATA__INIT;
    uint8_t dh[32], filter[1] = {0};
    weft_ledger_data_hash(data, 1, dh);
    bh.number = height;
    bh.previous_hash.data = prev_hash;
    bh.previous_hash.len = 32;
    bh.data_hash.data = dh;
    bh.data_hash.len = 32;
    bd.n_data = 1;
    bd.data = data;
    ProtobufCBinaryData md[3] = {{0, NULL}, {0, NULL}, {1, filter}};
    bm.n_metadata = 3;
    bm.metadata = md;
    blk.header = &bh;
    blk.data = &bd;
    blk.metadata = &bm;
    size_t bl;
    uint8_t *bb = pack(&blk.base, &bl);
    int rc = weft_peer_commit_block(peer, "mychannel", bb, bl, &e);
    if (rc != 0) {
        fprintf(stderr, "commit: %s\n", e.msg);
    } else {
        if (weft_ledger_header_hash(height, prev_hash, 32, dh, 32, prev_hash) != 0) {
            rc = -1;
        } else {
            height++;
        }
    }
    free(bb);
    return rc;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* "block <base64 Envelope>" */
static void block_cmd(const char *b64s)
{
    size_t n = strlen(b64s);
    uint8_t *out = malloc(n / 4 * 3 + 3);
    size_t ol = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && b64s[i] != '='; i++) {
        int v = b64val((unsigned char)b64s[i]);
        if (v < 0) {
            printf("ERR bad base64\n");
            fflush(stdout);
            free(out);
            return;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[ol++] = (uint8_t)(acc >> bits);
        }
    }
    if (commit_env(out, ol) != 0) {
        printf("ERR commit failed\n");
    } else {
        printf("OK %llu\n", (unsigned long long)height);
    }
    fflush(stdout);
    free(out);
}

static int commit(Common__Header *hdr, const uint8_t *cpp, size_t cppl, const uint8_t *resp,
                  size_t rl)
{
    Protos__ProposalResponse *pr = protos__proposal_response__unpack(NULL, rl, resp);
    if (pr == NULL || pr->endorsement == NULL) {
        return -1;
    }
    Protos__ChaincodeEndorsedAction ea = PROTOS__CHAINCODE_ENDORSED_ACTION__INIT;
    ea.proposal_response_payload = pr->payload;
    Protos__Endorsement *ends[1] = {pr->endorsement};
    ea.n_endorsements = 1;
    ea.endorsements = ends;
    Protos__ChaincodeActionPayload cap = PROTOS__CHAINCODE_ACTION_PAYLOAD__INIT;
    cap.chaincode_proposal_payload.data = (uint8_t *)cpp;
    cap.chaincode_proposal_payload.len = cppl;
    cap.action = &ea;
    Protos__TransactionAction ta = PROTOS__TRANSACTION_ACTION__INIT;
    ta.header = hdr->signature_header;
    size_t capl;
    ta.payload.data = pack(&cap.base, &capl);
    ta.payload.len = capl;
    Protos__TransactionAction *tas[1] = {&ta};
    Protos__Transaction tx = PROTOS__TRANSACTION__INIT;
    tx.n_actions = 1;
    tx.actions = tas;
    Common__Payload pl = COMMON__PAYLOAD__INIT;
    pl.header = hdr;
    size_t txl;
    pl.data.data = pack(&tx.base, &txl);
    pl.data.len = txl;
    Common__Envelope env = COMMON__ENVELOPE__INIT;
    size_t pll;
    env.payload.data = pack(&pl.base, &pll);
    env.payload.len = pll;
    uint8_t sig[80];
    size_t sigl = sizeof(sig);
    struct weft_err e = {0};
    if (weft_msp_sign(user, env.payload.data, pll, sig, &sigl, &e) != 0) {
        return -1;
    }
    env.signature.data = sig;
    env.signature.len = sigl;
    size_t envl;
    uint8_t *envb = pack(&env.base, &envl);
    int rc = commit_env(envb, envl);
    free(envb);
    free(env.payload.data);
    free(pl.data.data);
    free(ta.payload.data);
    protos__proposal_response__free_unpacked(pr, NULL);
    return rc;
}

static void run(char **argv, int argc, bool submit)
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
    cid.name = (char *)"asset";
    Protos__ChaincodeHeaderExtension ext = PROTOS__CHAINCODE_HEADER_EXTENSION__INIT;
    ext.chaincode_id = &cid;
    Common__ChannelHeader ch = COMMON__CHANNEL_HEADER__INIT;
    ch.type = 3;
    ch.channel_id = (char *)"mychannel";
    ch.tx_id = txid;
    size_t el, chl, shl, cisl, cppl, hl, propl;
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
    ProtobufCBinaryData args[16];
    for (int i = 0; i < argc && i < 16; i++) {
        args[i].data = (uint8_t *)argv[i];
        args[i].len = strlen(argv[i]);
    }
    Protos__ChaincodeInput in = PROTOS__CHAINCODE_INPUT__INIT;
    in.n_args = (size_t)argc;
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
    size_t spl;
    uint8_t *spb = pack(&sp.base, &spl);
    uint8_t *resp = NULL;
    size_t rl = 0;
    int rc = weft_peer_endorse(peer, spb, spl, &resp, &rl, &e);
    if (rc != 0) {
        printf("ERR %s\n", e.msg);
    } else {
        if (submit && commit(&hdr, prop.payload.data, cppl, resp, rl) != 0) {
            printf("ERR commit failed\n");
        } else {
            b64(resp, rl);
            putchar('\n');
        }
    }
    fflush(stdout);
    weft_free(resp);
    free(spb);
    free(sp.proposal_bytes.data);
    free(prop.header.data);
    free(prop.payload.data);
    free(cpp.input.data);
    free(hdr.channel_header.data);
    free(hdr.signature_header.data);
    free(ch.extension.data);
}

/* ---- test PKI ---------------------------------------------------------------- */

struct ca {
    struct weft_key *key;
    struct weft_x509 *cert;
};

static void write_text(const char *dir, const char *name, const char *text, bool b64file)
{
    char p[4300];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f == NULL) {
        exit(2);
    }
    if (b64file) {
        /* fabric-shim's CORE_TLS_CLIENT_*_PATH files hold base64 of the PEM */
        b64f(f, (const uint8_t *)text, strlen(text));
    } else {
        fputs(text, f);
    }
    fclose(f);
}

/* Issues a CA (issuer NULL) or a leaf; writes <name>.crt / <name>.key (PEM)
 * into dir, plus base64 forms when b64 is set. */
static void issue(struct ca *out, const struct ca *issuer, const char *cn, bool server,
                  const char *dir, const char *name, bool b64file)
{
    struct weft_err e = {0};
    int64_t now = (int64_t)(weft_clock_wall_ns() / 1000000000u);
    const char *sans[] = {"127.0.0.1", "localhost"};
    struct weft_cert_template t = {
        .organization = "weft interop",
        .common_name = cn,
        .is_ca = issuer == NULL,
        .sans = server ? sans : NULL,
        .n_sans = server ? 2 : 0,
        .key_usage = issuer == NULL ? WEFT_X509_KU_KEY_CERT_SIGN | WEFT_X509_KU_DIGITAL_SIGNATURE
                                    : WEFT_X509_KU_DIGITAL_SIGNATURE |
                                          WEFT_X509_KU_KEY_ENCIPHERMENT,
        .ext_key_usage = issuer == NULL ? WEFT_X509_EKU_SERVER_AUTH | WEFT_X509_EKU_CLIENT_AUTH
                         : server       ? WEFT_X509_EKU_SERVER_AUTH
                                        : WEFT_X509_EKU_CLIENT_AUTH,
        .not_before = now - 300,
        .not_after = now + 86400,
    };
    char *cp = NULL, *kp = NULL;
    size_t l, kl;
    if (weft_key_generate(&out->key, &e) != 0 ||
        weft_x509_issue(&t, out->key, issuer ? issuer->cert : NULL, issuer ? issuer->key : NULL,
                        &out->cert, &e) != 0 ||
        weft_x509_to_pem(out->cert, &cp, &l, &e) != 0 ||
        weft_key_export_private_pem(out->key, &kp, &kl, &e) != 0) {
        fprintf(stderr, "pki: %s\n", e.msg);
        exit(2);
    }
    char n[256];
    snprintf(n, sizeof(n), "%s.crt", name);
    write_text(dir, n, cp, false);
    snprintf(n, sizeof(n), "%s.key", name);
    write_text(dir, n, kp, false);
    if (b64file) {
        snprintf(n, sizeof(n), "%s.crt.b64", name);
        write_text(dir, n, cp, true);
        snprintf(n, sizeof(n), "%s.key.b64", name);
        write_text(dir, n, kp, true);
    }
    weft_free(cp);
    weft_free_secret(kp, kl);
}

static void ca_free(struct ca *c)
{
    weft_x509_free(c->cert);
    weft_key_free(c->key);
}

static char *slurp(const char *dir, const char *name)
{
    char p[4300];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    size_t l;
    char *t = wt_read_file(p, &l);
    if (t == NULL) {
        exit(2);
    }
    return t;
}

/* A ccaas package whose connection.json points at addr (TLS material from
 * tlsdir when given). */
static int ccaas_package(const char *dir, const char *label, const char *addr,
                         const char *tlsdir, uint8_t **pkg, size_t *pl, struct weft_err *e)
{
    char src[4300];
    snprintf(src, sizeof(src), "%s/%s-src", dir, label);
    mkdir(src, 0755);
    char *js;
    if (tlsdir == NULL) {
        js = weft_asprintf("{\"address\":\"%s\",\"dial_timeout\":\"10s\","
                           "\"tls_required\":false}",
                           addr);
    } else {
        /* PEM strings as JSON strings: newlines escaped */
        const char *names[3] = {"ca.crt", "peerclient.crt", "peerclient.key"};
        char *esc[3];
        for (int i = 0; i < 3; i++) {
            char *t = slurp(tlsdir, names[i]);
            esc[i] = weft_malloc(strlen(t) * 2 + 1);
            char *q = esc[i];
            for (const char *c = t; *c; c++) {
                if (*c == '\n') {
                    *q++ = '\\';
                    *q++ = 'n';
                } else {
                    *q++ = *c;
                }
            }
            *q = 0;
            weft_free(t);
        }
        js = weft_asprintf("{\"address\":\"%s\",\"dial_timeout\":\"10s\","
                           "\"tls_required\":true,\"client_auth_required\":true,"
                           "\"root_cert\":\"%s\",\"client_cert\":\"%s\",\"client_key\":\"%s\"}",
                           addr, esc[0], esc[1], esc[2]);
        for (int i = 0; i < 3; i++) {
            weft_free(esc[i]);
        }
    }
    write_text(src, "connection.json", js, false);
    weft_free(js);
    return weft_cc_package_create(label, "ccaas", "", src, pkg, pl, e);
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: cc_harness <shared dir> <sample dir> <node_modules> "
                        "[plain|tls|ccaas|ccaas-tls|grpc|ccaas-grpc]\n");
        return 2;
    }
    const char *mode = argc == 5 ? argv[4] : "plain";
    bool tls = strcmp(mode, "tls") == 0;
    bool ccaas = strncmp(mode, "ccaas", 5) == 0;
    bool ccaas_tls = strcmp(mode, "ccaas-tls") == 0;
    bool grpc = strcmp(mode, "grpc") == 0 || strcmp(mode, "ccaas-grpc") == 0;
    char path[4096];
    char *dir = wt_tmpdir("ccinterop");
    struct weft_err e = {0};
    struct weft_peer_opts o = {
        .fs_path = dir,
        .mspid = "Org1MSP",
        .chaincode_listen = "127.0.0.1:0",
        .node_modules = argv[3],
        .execute_timeout_ms = 30000,
        .startup_timeout_ms = 60000,
        .ledger_no_sync = true,
    };
    char tlsdir[4200], certf[4300], keyf[4300], rootf[4300];
    snprintf(tlsdir, sizeof(tlsdir), "%s/testtls", dir);
    mkdir(tlsdir, 0700);
    if (tls || ccaas_tls) {
        struct ca root = {0}, leaf = {0}, peercl = {0}, foreign = {0}, fleaf = {0};
        issue(&root, NULL, "interop TLS CA", false, tlsdir, "ca", false);
        issue(&leaf, &root, "server", true, tlsdir, "server", false);
        /* the peer's client cert toward a TLS chaincode server */
        issue(&peercl, &root, "peer0 client", false, tlsdir, "peerclient", false);
        /* a client cert from a CA the peer's chaincode listener does not trust */
        issue(&foreign, NULL, "foreign CA", false, tlsdir, "foreignca", false);
        issue(&fleaf, &foreign, "intruder", false, tlsdir, "foreign", true);
        ca_free(&root);
        ca_free(&leaf);
        ca_free(&peercl);
        ca_free(&foreign);
        ca_free(&fleaf);
    }
    if (tls) {
        snprintf(certf, sizeof(certf), "%s/server.crt", tlsdir);
        snprintf(keyf, sizeof(keyf), "%s/server.key", tlsdir);
        snprintf(rootf, sizeof(rootf), "%s/ca.crt", tlsdir);
        o.tls_enabled = true;
        o.tls_cert_file = certf;
        o.tls_key_file = keyf;
        o.tls_root_file = rootf;
    }
    char msp[4096];
    snprintf(msp, sizeof(msp),
             "%s/vectors/fabric-2.4.9/crypto/peerOrganizations/org1.example.com/peers/"
             "peer0.org1.example.com/msp",
             argv[1]);
    o.msp_dir = msp;
    struct weft_rpc_server *rpc = NULL;
    if (grpc) {
        struct weft_rpc_server_opts so = {0};
        so.listen[0] = "127.0.0.1:0";
        so.workers = 8;
        rpc = weft_rpc_server_new(&so, &e);
        if (rpc == NULL) {
            fprintf(stderr, "rpc: %s\n", e.msg);
            return 1;
        }
    }
    peer = weft_peer_new_opts(&o, rpc, &e);
    if (peer == NULL || (rpc != NULL && weft_rpc_server_start(rpc, &e) != 0)) {
        fprintf(stderr, "peer: %s\n", e.msg);
        return 1;
    }
    snprintf(path, sizeof(path),
             "%s/vectors/fabric-2.4.9/crypto/peerOrganizations/org1.example.com/users/"
             "User1@org1.example.com/msp",
             argv[1]);
    if (weft_msp_load_dir(path, "Org1MSP", &user, &e) != 0) {
        fprintf(stderr, "user: %s\n", e.msg);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/vectors/fabric-2.4.9/blocks/genesis.block", argv[1]);
    size_t gl;
    char *g = wt_read_file(path, &gl);
    uint8_t *pkg = NULL;
    size_t pl = 0;
    char *id = NULL, *id2 = NULL;
    uint8_t *pkg2 = NULL;
    size_t pl2 = 0;
    char ccaddr[64], ccaddr2[64];
    snprintf(ccaddr, sizeof(ccaddr), "127.0.0.1:%d", wt_free_port());
    snprintf(ccaddr2, sizeof(ccaddr2), "127.0.0.1:%d", wt_free_port());
    if (g == NULL || weft_peer_join(peer, (uint8_t *)g, gl, NULL, &e) != 0 ||
        (ccaas ? ccaas_package(dir, "asset_ccaas", ccaddr, ccaas_tls ? tlsdir : NULL, &pkg, &pl,
                               &e)
               : weft_cc_package_create("asset_1", "node", "asset-transfer", argv[2], &pkg, &pl,
                                        &e)) != 0 ||
        weft_peer_install(peer, pkg, pl, &id, &e) != 0 ||
        weft_peer_define_chaincode(peer, "mychannel", "asset", "1.0", id, &e) != 0) {
        fprintf(stderr, "setup: %s\n", e.msg);
        return 1;
    }
    /* grpc modes: the same contract as a second chaincode, "assetb" */
    if (grpc &&
        ((ccaas ? ccaas_package(dir, "assetb_ccaas", ccaddr2, NULL, &pkg2, &pl2, &e)
                : weft_cc_package_create("assetb_1", "node", "asset-transfer", argv[2], &pkg2,
                                         &pl2, &e)) != 0 ||
         weft_peer_install(peer, pkg2, pl2, &id2, &e) != 0 ||
         weft_peer_define_chaincode(peer, "mychannel", "assetb", "1.0", id2, &e) != 0)) {
        fprintf(stderr, "setup: %s\n", e.msg);
        return 1;
    }
    /* hash of block 0 for chaining */
    Common__Block *blk = common__block__unpack(NULL, gl, (uint8_t *)g);
    if (blk == NULL || weft_ledger_header_hash(0, NULL, 0, blk->header->data_hash.data,
                                               blk->header->data_hash.len, prev_hash) != 0) {
        return 1;
    }
    common__block__free_unpacked(blk, NULL);
    if (tls) {
        /* a cert the peer's chaincode CA issued, but for another chaincode */
        char *cp = NULL, *kp = NULL;
        size_t kl = 0;
        if (weft_cc_tlsca_issue(weft_peer_cc_tlsca(peer), "other_1:00", &cp, &kp, &kl, &e) != 0) {
            fprintf(stderr, "issue: %s\n", e.msg);
            return 1;
        }
        write_text(tlsdir, "other.crt.b64", cp, true);
        write_text(tlsdir, "other.key.b64", kp, true);
        weft_free(cp);
        weft_free_secret(kp, kl);
        printf("TLS %s %d\n", tlsdir, weft_peer_chaincode_port(peer));
    }
    if (ccaas) {
        printf("CCAAS %s %s\n", ccaddr, ccaas_tls ? tlsdir : "-");
        if (grpc) {
            printf("CCAAS %s -\n", ccaddr2);
        }
    }
    if (grpc) {
        printf("GRPC %d\n", weft_rpc_server_port(rpc, 0));
        printf("READY %s %s\n", id, id2);
    } else {
        printf("READY %s\n", id);
    }
    fflush(stdout);
    static char line[1 << 20];
    while (fgets(line, sizeof(line), stdin) != NULL) {
        char *av[17];
        int ac = 0;
        char *q = line;
        while (*q != 0 && ac < 17) {
            while (*q == ' ' || *q == '\n') {
                *q++ = 0;
            }
            if (*q == 0) {
                break;
            }
            av[ac++] = q;
            while (*q != 0 && *q != ' ' && *q != '\n') {
                q++;
            }
            if (q - av[ac - 1] == 2 && strncmp(av[ac - 1], "''", 2) == 0) {
                av[ac - 1] = q; /* '' stands for an empty argument */
                *av[ac - 1] = 0;
                if (*q == 0) {
                    break;
                }
                q++;
                av[ac - 1] = "";
            }
        }
        if (ac == 2 && strcmp(av[0], "block") == 0) {
            block_cmd(av[1]);
            continue;
        }
        if (ac < 2) {
            continue;
        }
        run(av + 1, ac - 1, strcmp(av[0], "submit") == 0);
    }
    free(g);
    weft_free(pkg);
    weft_free(id);
    weft_free(pkg2);
    weft_free(id2);
    if (rpc != NULL) {
        weft_rpc_server_stop(rpc, 1000);
    }
    weft_peer_free(peer);
    weft_rpc_server_free(rpc);
    weft_msp_unref(user);
    wt_rmtree(dir);
    weft_free(dir);
    return 0;
}
