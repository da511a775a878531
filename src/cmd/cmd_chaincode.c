/*
 * `weft chaincode`: Fabric's `peer lifecycle chaincode ...` and `peer
 * chaincode invoke|query`, through signed proposals to the peers'
 * Endorser and transactions broadcast to the orderer:
 *
 *   package FILE --path DIR --lang node|ccaas --label L
 *   install FILE                         _lifecycle InstallChaincode
 *   queryinstalled                       _lifecycle QueryInstalledChaincodes
 *   approveformyorg -C CH -n N -v V --sequence S [--package-id ID] ...
 *   checkcommitreadiness -C CH -n N -v V --sequence S ...
 *   commit -C CH -n N -v V --sequence S ... (endorsed on every --peerAddresses)
 *   querycommitted -C CH [-n N]
 *   invoke -C CH -n N -c '{"Args":[...]}' (endorse, broadcast, wait)
 *   query -C CH -n N -c '{"Args":[...]}'
 *
 * Identity and connections as Fabric's CLI: CORE_PEER_MSPCONFIGPATH,
 * CORE_PEER_LOCALMSPID, CORE_PEER_ADDRESS, CORE_PEER_TLS_ENABLED,
 * CORE_PEER_TLS_ROOTCERT_FILE (or --peerAddresses / --tlsRootCertFiles
 * pairs), -o/--orderer with --tls --cafile. A transaction is waited for
 * until the first peer has it committed (qscc GetTransactionByID), and its
 * validation code is reported. Exit codes: 0 done, 1 refused or failed,
 * 2 usage.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "common/common.pb-c.h"
#include "orderer/ab.pb-c.h"
#include "peer/lifecycle/lifecycle.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/transaction.pb-c.h"
#include "weft/chaincode.h"
#include "weft/committer.h"
#include "weft/lifecycle.h"
#include "weft/msp.h"
#include "weft/policy.h"
#include "weft/rpc.h"

#define MAX_PEERS 16

struct cc_opts {
    const char *sub;
    const char *peers[MAX_PEERS];
    const char *roots[MAX_PEERS];
    size_t n_peers, n_roots;
    bool tls;
    const char *orderer, *cafile, *orderer_override;
    const char *mspid, *msp_dir;
    const char *channel, *name, *version, *package_id, *policy, *ctor;
    const char *label, *lang, *path;
    int64_t sequence;
    bool init_required, is_init;
    int64_t wait_ms;
    const char *pos;
};

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != 0 ? v : def;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: weft chaincode <command> [options]\n\n"
            "Commands (Fabric's `peer lifecycle chaincode` and `peer chaincode`):\n"
            "  package FILE --path DIR --lang node|ccaas --label LABEL\n"
            "  install FILE               install a package on the peer(s)\n"
            "  queryinstalled             packages installed on the peer\n"
            "  approveformyorg            approve a definition for your org (needs -C -n -v\n"
            "                             --sequence, optional --package-id)\n"
            "  checkcommitreadiness       which orgs approved a definition\n"
            "  commit                     commit a definition (endorsed on --peerAddresses)\n"
            "  querycommitted             committed definitions (-n for one)\n"
            "  invoke                     submit a transaction (-c '{\"Args\":[...]}')\n"
            "  query                      evaluate on one peer (-c '{\"Args\":[...]}')\n\n"
            "Options:\n"
            "  --peerAddresses H:P        peer to use (repeat) [CORE_PEER_ADDRESS]\n"
            "  --tlsRootCertFiles F       TLS root of the peer at the same position (repeat)\n"
            "                             [CORE_PEER_TLS_ROOTCERT_FILE]\n"
            "  --tls                      TLS to peers and orderer [CORE_PEER_TLS_ENABLED]\n"
            "  -o, --orderer H:P          orderer for approve/commit/invoke\n"
            "  --cafile F                 TLS root of the orderer\n"
            "  --ordererTLSHostnameOverride NAME\n"
            "  -C, --channelID CH   -n, --name N   -v, --version V   --sequence S\n"
            "  --package-id ID            package this org runs (approveformyorg)\n"
            "  --signature-policy EXPR    endorsement policy, e.g. \"AND('Org1MSP.peer')\"\n"
            "  --init-required            the definition needs an Init call\n"
            "  --isInit                   invoke: this is the Init call\n"
            "  -c, --ctor JSON            {\"Args\":[\"fn\",\"arg\",...]} or {\"function\":..}\n"
            "  --waitForEventTimeout SECS wait for commit (default 30)\n"
            "Identity: CORE_PEER_MSPCONFIGPATH, CORE_PEER_LOCALMSPID.\n");
}

static int parse(int argc, char **argv, struct cc_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->sub = argv[0];
    o->mspid = env_or("CORE_PEER_LOCALMSPID", NULL);
    o->msp_dir = env_or("CORE_PEER_MSPCONFIGPATH", NULL);
    const char *t = env_or("CORE_PEER_TLS_ENABLED", "false");
    o->tls = strcmp(t, "true") == 0 || strcmp(t, "1") == 0;
    o->wait_ms = 30000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (strcmp(a, "--peerAddresses") == 0 && v != NULL && o->n_peers < MAX_PEERS) {
            o->peers[o->n_peers++] = v;
        } else if (strcmp(a, "--tlsRootCertFiles") == 0 && v != NULL && o->n_roots < MAX_PEERS) {
            o->roots[o->n_roots++] = v;
        } else if ((strcmp(a, "-o") == 0 || strcmp(a, "--orderer") == 0) && v != NULL) {
            o->orderer = v;
        } else if (strcmp(a, "--cafile") == 0 && v != NULL) {
            o->cafile = v;
        } else if (strcmp(a, "--ordererTLSHostnameOverride") == 0 && v != NULL) {
            o->orderer_override = v;
        } else if ((strcmp(a, "-C") == 0 || strcmp(a, "--channelID") == 0) && v != NULL) {
            o->channel = v;
        } else if ((strcmp(a, "-n") == 0 || strcmp(a, "--name") == 0) && v != NULL) {
            o->name = v;
        } else if ((strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) && v != NULL) {
            o->version = v;
        } else if (strcmp(a, "--sequence") == 0 && v != NULL) {
            char *end = NULL;
            o->sequence = strtoll(v, &end, 10);
            if (end == v || *end != 0 || o->sequence < 0) {
                fprintf(stderr, "weft chaincode: bad --sequence '%s'\n", v);
                return 2;
            }
        } else if (strcmp(a, "--package-id") == 0 && v != NULL) {
            o->package_id = v;
        } else if (strcmp(a, "--signature-policy") == 0 && v != NULL) {
            o->policy = v;
        } else if ((strcmp(a, "-c") == 0 || strcmp(a, "--ctor") == 0) && v != NULL) {
            o->ctor = v;
        } else if (strcmp(a, "--label") == 0 && v != NULL) {
            o->label = v;
        } else if ((strcmp(a, "-l") == 0 || strcmp(a, "--lang") == 0) && v != NULL) {
            o->lang = v;
        } else if ((strcmp(a, "-p") == 0 || strcmp(a, "--path") == 0) && v != NULL) {
            o->path = v;
        } else if (strcmp(a, "--waitForEventTimeout") == 0 && v != NULL) {
            o->wait_ms = strtoll(v, NULL, 10) * 1000;
        } else {
            takes = false;
            if (strcmp(a, "--tls") == 0) {
                o->tls = true;
            } else if (strcmp(a, "--init-required") == 0) {
                o->init_required = true;
            } else if (strcmp(a, "--isInit") == 0) {
                o->is_init = true;
            } else if (a[0] != '-' && o->pos == NULL) {
                o->pos = a;
            } else {
                fprintf(stderr, "weft chaincode %s: unknown or incomplete option '%s'\n", o->sub,
                        a);
                return 2;
            }
        }
        if (takes) {
            i++;
        }
    }
    if (o->n_peers == 0) {
        o->peers[o->n_peers++] = env_or("CORE_PEER_ADDRESS", "127.0.0.1:7051");
        if (o->n_roots == 0 && env_or("CORE_PEER_TLS_ROOTCERT_FILE", NULL) != NULL) {
            o->roots[o->n_roots++] = env_or("CORE_PEER_TLS_ROOTCERT_FILE", NULL);
        }
    }
    if (o->tls && o->n_roots < o->n_peers) {
        fprintf(stderr, "weft chaincode %s: --tls needs one --tlsRootCertFiles per peer\n",
                o->sub);
        return 2;
    }
    return 0;
}

/* ---- peers, proposals, transactions ---------------------------------------------- */

static struct weft_rpc_client *peer_client(const struct cc_opts *o, size_t i)
{
    struct weft_err e = {0};
    struct weft_rpc_client_opts co = {
        .tls = o->tls,
        .ca = {.file = o->tls ? o->roots[i] : NULL},
        .wait_for_ready = true,
    };
    struct weft_rpc_client *c = weft_rpc_client_new(o->peers[i], &co, &e);
    if (c == NULL) {
        fprintf(stderr, "weft chaincode %s: peer %s: %s\n", o->sub, o->peers[i], e.msg);
    }
    return c;
}

/* Sends prop to peer i; *resp = ser(ProposalResponse) on status 200..399. */
static int endorse_one(const struct cc_opts *o, size_t i, const struct weft_lc_proposal *prop,
                       uint8_t **resp, size_t *resp_len, Protos__Response **out)
{
    struct weft_rpc_client *c = peer_client(o, i);
    struct weft_rpc_result res = {0};
    int rc = 1;
    if (c == NULL) {
        return 1;
    }
    if (weft_rpc_client_unary(c, "/protos.Endorser/ProcessProposal", prop->signed_proposal,
                              prop->signed_proposal_len, 60000, &res) != 0) {
        fprintf(stderr, "weft chaincode %s: peer %s: %s (gRPC status %d)\n", o->sub,
                o->peers[i], res.message != NULL ? res.message : "", res.code);
        goto out;
    }
    Protos__ProposalResponse *pr = protos__proposal_response__unpack(NULL, res.len, res.data);
    if (pr == NULL || pr->response == NULL) {
        fprintf(stderr, "weft chaincode %s: peer %s: malformed response\n", o->sub, o->peers[i]);
        protos__proposal_response__free_unpacked(pr, NULL);
        goto out;
    }
    if (pr->response->status < 200 || pr->response->status >= 400) {
        fprintf(stderr, "Error: endorsement failure during %s on %s: status %d, message: %s\n",
                o->sub, o->peers[i], pr->response->status, pr->response->message);
        protos__proposal_response__free_unpacked(pr, NULL);
        goto out;
    }
    if (out != NULL) {
        *out = pr->response;
        pr->response = NULL;
    }
    protos__proposal_response__free_unpacked(pr, NULL);
    *resp = res.data;
    *resp_len = res.len;
    res.data = NULL;
    rc = 0;
out:
    weft_rpc_result_clear(&res);
    weft_rpc_client_free(c);
    return rc;
}

static int load_signer(const struct cc_opts *o, struct weft_msp **msp)
{
    struct weft_err e = {0};
    if (o->msp_dir == NULL || o->mspid == NULL) {
        fprintf(stderr, "weft chaincode %s: set CORE_PEER_MSPCONFIGPATH and "
                "CORE_PEER_LOCALMSPID\n", o->sub);
        return 2;
    }
    if (weft_msp_load_dir(o->msp_dir, o->mspid, msp, &e) != 0 || weft_msp_signer(*msp) == NULL) {
        fprintf(stderr, "weft chaincode %s: MSP %s: %s\n", o->sub, o->msp_dir,
                e.msg[0] != 0 ? e.msg : "no signing identity");
        weft_msp_unref(*msp);
        *msp = NULL;
        return 1;
    }
    return 0;
}

/* Broadcasts env to the orderer; 0 when it answered SUCCESS. */
static int broadcast(const struct cc_opts *o, const uint8_t *env, size_t len)
{
    struct weft_err e = {0};
    struct weft_rpc_client_opts co = {
        .tls = o->tls,
        .ca = {.file = o->cafile},
        .server_name_override = o->orderer_override,
        .wait_for_ready = true,
    };
    struct weft_rpc_client *c = weft_rpc_client_new(o->orderer, &co, &e);
    struct weft_rpc_stream *s =
        c != NULL ? weft_rpc_client_stream(c, "/orderer.AtomicBroadcast/Broadcast", 30000, &e)
                  : NULL;
    uint8_t *msg = NULL;
    size_t ml = 0;
    int rc = 1;
    if (s == NULL || weft_rpc_stream_send(s, env, len) != 0 || weft_rpc_stream_close_send(s) != 0 ||
        weft_rpc_stream_recv(s, &msg, &ml, 30000) != 0 || msg == NULL) {
        fprintf(stderr, "weft chaincode %s: broadcast to %s failed%s%s\n", o->sub, o->orderer,
                e.msg[0] != 0 ? ": " : "", e.msg);
        goto out;
    }
    Orderer__BroadcastResponse *br = orderer__broadcast_response__unpack(NULL, ml, msg);
    if (br == NULL || br->status != COMMON__STATUS__SUCCESS) {
        fprintf(stderr, "weft chaincode %s: orderer refused the transaction: status %d %s\n",
                o->sub, br != NULL ? (int)br->status : -1, br != NULL ? br->info : "");
    } else {
        rc = 0;
    }
    orderer__broadcast_response__free_unpacked(br, NULL);
out:
    weft_free(msg);
    weft_rpc_stream_free(s);
    weft_rpc_client_free(c);
    return rc;
}

/* Waits until the first peer has txid committed; prints its code. */
static int wait_commit(const struct cc_opts *o, struct weft_msp *msp, const char *txid)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        const uint8_t *args[3] = {(const uint8_t *)"GetTransactionByID",
                                  (const uint8_t *)o->channel, (const uint8_t *)txid};
        size_t lens[3] = {strlen("GetTransactionByID"), strlen(o->channel), strlen(txid)};
        struct weft_lc_proposal prop;
        struct weft_err e = {0};
        if (weft_lc_proposal_new(msp, o->channel, "qscc", args, lens, 3, false, &prop, &e) != 0) {
            fprintf(stderr, "weft chaincode %s: %s\n", o->sub, e.msg);
            return 1;
        }
        struct weft_rpc_client *c = peer_client(o, 0);
        struct weft_rpc_result res = {0};
        int code = -1;
        if (c != NULL && weft_rpc_client_unary(c, "/protos.Endorser/ProcessProposal",
                                               prop.signed_proposal, prop.signed_proposal_len,
                                               10000, &res) == 0) {
            Protos__ProposalResponse *pr =
                protos__proposal_response__unpack(NULL, res.len, res.data);
            if (pr != NULL && pr->response != NULL && pr->response->status == 200) {
                Protos__ProcessedTransaction *pt = protos__processed_transaction__unpack(
                    NULL, pr->response->payload.len, pr->response->payload.data);
                if (pt != NULL) {
                    code = pt->validationcode;
                }
                protos__processed_transaction__free_unpacked(pt, NULL);
            }
            protos__proposal_response__free_unpacked(pr, NULL);
        }
        weft_rpc_result_clear(&res);
        weft_rpc_client_free(c);
        weft_lc_proposal_clear(&prop);
        if (code == 0) {
            fprintf(stderr, "txid [%s] committed with status (VALID) at %s\n", txid, o->peers[0]);
            return 0;
        }
        if (code > 0) {
            fprintf(stderr, "Error: transaction invalidated with status (%s)\n",
                    weft_tx_code_name(code));
            return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms > o->wait_ms) {
            fprintf(stderr, "Error: timed out waiting for txid [%s] to be committed on %s\n",
                    txid, o->peers[0]);
            return 1;
        }
        struct timespec d = {0, 200 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
}

/* Proposal on every peer (or the first only), then optionally the
 * transaction. *payload (may be NULL) gets the first response's payload. */
static int run(const struct cc_opts *o, const char *channel, const char *cc,
               const uint8_t *const *args, const size_t *lens, size_t n, bool submit,
               bool all_peers, uint8_t **payload, size_t *payload_len)
{
    struct weft_msp *msp = NULL;
    int rc = load_signer(o, &msp);
    if (rc != 0) {
        return rc;
    }
    struct weft_lc_proposal prop = {0};
    struct weft_err e = {0};
    uint8_t *resp[MAX_PEERS] = {0};
    size_t rl[MAX_PEERS] = {0};
    size_t np = all_peers ? o->n_peers : 1;
    Protos__Response *first = NULL;
    rc = weft_lc_proposal_new(msp, channel, cc, args, lens, n, o->is_init, &prop, &e);
    if (rc != 0) {
        fprintf(stderr, "weft chaincode %s: %s\n", o->sub, e.msg);
        rc = 1;
        goto out;
    }
    for (size_t i = 0; i < np; i++) {
        rc = endorse_one(o, i, &prop, &resp[i], &rl[i], i == 0 ? &first : NULL);
        if (rc != 0) {
            goto out;
        }
    }
    if (payload != NULL) {
        *payload_len = first->payload.len;
        *payload = weft_malloc(first->payload.len + 1);
        if (*payload != NULL && first->payload.len > 0) {
            memcpy(*payload, first->payload.data, first->payload.len);
        }
    }
    if (!submit) {
        goto out;
    }
    if (o->orderer == NULL) {
        fprintf(stderr, "weft chaincode %s: -o/--orderer is required\n", o->sub);
        rc = 2;
        goto out;
    }
    uint8_t *env = NULL;
    size_t envl = 0;
    rc = weft_lc_tx_new(msp, &prop, (const uint8_t *const *)resp, rl, np, &env, &envl, &e);
    if (rc != 0) {
        fprintf(stderr, "weft chaincode %s: %s\n", o->sub, e.msg);
        rc = 1;
        goto out;
    }
    rc = broadcast(o, env, envl);
    weft_free(env);
    if (rc == 0) {
        rc = wait_commit(o, msp, prop.txid);
    }
out:
    protos__response__free_unpacked(first, NULL);
    for (size_t i = 0; i < MAX_PEERS; i++) {
        weft_free(resp[i]);
    }
    weft_lc_proposal_clear(&prop);
    weft_msp_unref(msp);
    return rc;
}

static int lifecycle_call(const struct cc_opts *o, const char *channel, const char *fn,
                          const ProtobufCMessage *arg, bool submit, bool all, uint8_t **payload,
                          size_t *payload_len)
{
    size_t al = protobuf_c_message_get_packed_size(arg);
    uint8_t *ab = weft_malloc(al + 1);
    if (ab == NULL) {
        return 1;
    }
    protobuf_c_message_pack(arg, ab);
    const uint8_t *args[2] = {(const uint8_t *)fn, ab};
    size_t lens[2] = {strlen(fn), al};
    int rc = run(o, channel, "_lifecycle", args, lens, 2, submit, all, payload, payload_len);
    weft_free(ab);
    return rc;
}

/* ---- subcommands ------------------------------------------------------------------ */

static int read_all(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return 1;
    }
    struct weft_buf b;
    weft_buf_init(&b, WEFT_CC_MAX_PACKAGE);
    uint8_t chunk[65536];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = weft_buf_append(&b, chunk, n);
    }
    fclose(f);
    *out = weft_malloc(b.len + 1);
    if (rc != 0 || *out == NULL) {
        weft_free(*out);
        weft_buf_close(&b);
        return 1;
    }
    memcpy(*out, b.data, b.len);
    *len = b.len;
    weft_buf_close(&b);
    return 0;
}

static int cmd_package(const struct cc_opts *o)
{
    if (o->pos == NULL || o->path == NULL || o->label == NULL) {
        fprintf(stderr, "Usage: weft chaincode package FILE --path DIR --lang node|ccaas "
                "--label LABEL\n");
        return 2;
    }
    const char *lang = o->lang != NULL ? o->lang : "node";
    if (strcmp(lang, "node") != 0 && strcmp(lang, "ccaas") != 0 &&
        strcmp(lang, "external") != 0) {
        fprintf(stderr, "weft chaincode package: --lang must be node or ccaas\n");
        return 2;
    }
    uint8_t *pkg = NULL;
    size_t len = 0;
    struct weft_err e = {0};
    if (weft_cc_package_create(o->label, lang, "", o->path, &pkg, &len, &e) != 0) {
        fprintf(stderr, "weft chaincode package: %s\n", e.msg);
        return 1;
    }
    FILE *f = fopen(o->pos, "wb");
    int rc = f == NULL || fwrite(pkg, 1, len, f) != len ? 1 : 0;
    if (f != NULL && fclose(f) != 0) {
        rc = 1;
    }
    char *id = NULL;
    if (rc == 0 && weft_cc_package_id(o->label, pkg, len, &id) == 0) {
        printf("%s\n", id);
    } else if (rc != 0) {
        fprintf(stderr, "weft chaincode package: cannot write %s\n", o->pos);
    }
    weft_free(id);
    weft_free(pkg);
    return rc;
}

static int cmd_install(const struct cc_opts *o)
{
    uint8_t *pkg = NULL;
    size_t len = 0;
    if (o->pos == NULL || read_all(o->pos, &pkg, &len) != 0) {
        fprintf(stderr, "weft chaincode install: cannot read package '%s'\n",
                o->pos != NULL ? o->pos : "");
        return o->pos == NULL ? 2 : 1;
    }
    Lifecycle__InstallChaincodeArgs a = LIFECYCLE__INSTALL_CHAINCODE_ARGS__INIT;
    a.chaincode_install_package.data = pkg;
    a.chaincode_install_package.len = len;
    int rc = 0;
    for (size_t i = 0; i < o->n_peers && rc == 0; i++) {
        struct cc_opts one = *o;
        one.peers[0] = o->peers[i];
        one.roots[0] = o->roots[i];
        uint8_t *pl = NULL;
        size_t pll = 0;
        rc = lifecycle_call(&one, "", "InstallChaincode", &a.base, false, false, &pl, &pll);
        if (rc == 0) {
            Lifecycle__InstallChaincodeResult *r =
                lifecycle__install_chaincode_result__unpack(NULL, pll, pl);
            printf("Installed remotely on %s. Chaincode code package identifier: %s\n",
                   o->peers[i], r != NULL ? r->package_id : "?");
            lifecycle__install_chaincode_result__free_unpacked(r, NULL);
        }
        weft_free(pl);
    }
    weft_free(pkg);
    return rc;
}

static int cmd_queryinstalled(const struct cc_opts *o)
{
    Lifecycle__QueryInstalledChaincodesArgs a = LIFECYCLE__QUERY_INSTALLED_CHAINCODES_ARGS__INIT;
    uint8_t *pl = NULL;
    size_t pll = 0;
    int rc = lifecycle_call(o, "", "QueryInstalledChaincodes", &a.base, false, false, &pl, &pll);
    if (rc != 0) {
        return rc;
    }
    Lifecycle__QueryInstalledChaincodesResult *r =
        lifecycle__query_installed_chaincodes_result__unpack(NULL, pll, pl);
    printf("Installed chaincodes on peer:\n");
    for (size_t i = 0; r != NULL && i < r->n_installed_chaincodes; i++) {
        printf("Package ID: %s, Label: %s\n", r->installed_chaincodes[i]->package_id,
               r->installed_chaincodes[i]->label);
    }
    lifecycle__query_installed_chaincodes_result__free_unpacked(r, NULL);
    weft_free(pl);
    return 0;
}

/* validation_parameter for --signature-policy (ApplicationPolicy{1:
 * SignaturePolicyEnvelope}); *out NULL without the flag. */
static int policy_param(const struct cc_opts *o, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (o->policy == NULL) {
        return 0;
    }
    uint8_t *env = NULL;
    size_t el = 0;
    struct weft_err e = {0};
    if (weft_policy_parse(o->policy, &env, &el, &e) != 0) {
        fprintf(stderr, "weft chaincode %s: --signature-policy: %s\n", o->sub, e.msg);
        return 2;
    }
    *out = weft_malloc(el + 11);
    if (*out == NULL) {
        weft_free(env);
        return 1;
    }
    size_t n = 0;
    (*out)[n++] = 0x0a;
    size_t v = el;
    do {
        (*out)[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
    memcpy(*out + n, env, el);
    *len = n + el;
    weft_free(env);
    return 0;
}

static bool need_def(const struct cc_opts *o, bool version)
{
    if (o->channel == NULL || o->name == NULL || (version && o->version == NULL) ||
        o->sequence <= 0) {
        fprintf(stderr, "weft chaincode %s: needs -C CHANNEL -n NAME%s --sequence N\n", o->sub,
                version ? " -v VERSION" : "");
        return false;
    }
    return true;
}

static int cmd_approve(const struct cc_opts *o)
{
    if (!need_def(o, true)) {
        return 2;
    }
    uint8_t *vp = NULL;
    size_t vpl = 0;
    int rc = policy_param(o, &vp, &vpl);
    if (rc != 0) {
        return rc;
    }
    Lifecycle__ApproveChaincodeDefinitionForMyOrgArgs a =
        LIFECYCLE__APPROVE_CHAINCODE_DEFINITION_FOR_MY_ORG_ARGS__INIT;
    Lifecycle__ChaincodeSource src = LIFECYCLE__CHAINCODE_SOURCE__INIT;
    Lifecycle__ChaincodeSource__Local loc = LIFECYCLE__CHAINCODE_SOURCE__LOCAL__INIT;
    Lifecycle__ChaincodeSource__Unavailable un = LIFECYCLE__CHAINCODE_SOURCE__UNAVAILABLE__INIT;
    a.sequence = o->sequence;
    a.name = (char *)o->name;
    a.version = (char *)o->version;
    a.validation_parameter.data = vp;
    a.validation_parameter.len = vpl;
    a.init_required = o->init_required;
    if (o->package_id != NULL) {
        loc.package_id = (char *)o->package_id;
        src.type_case = LIFECYCLE__CHAINCODE_SOURCE__TYPE_LOCAL_PACKAGE;
        src.local_package = &loc;
    } else {
        src.type_case = LIFECYCLE__CHAINCODE_SOURCE__TYPE_UNAVAILABLE;
        src.unavailable = &un;
    }
    a.source = &src;
    rc = lifecycle_call(o, o->channel, "ApproveChaincodeDefinitionForMyOrg", &a.base, true, true,
                        NULL, NULL);
    weft_free(vp);
    return rc;
}

static int cmd_readiness_commit(const struct cc_opts *o, bool commit)
{
    if (!need_def(o, true)) {
        return 2;
    }
    uint8_t *vp = NULL;
    size_t vpl = 0;
    int rc = policy_param(o, &vp, &vpl);
    if (rc != 0) {
        return rc;
    }
    Lifecycle__CommitChaincodeDefinitionArgs a = LIFECYCLE__COMMIT_CHAINCODE_DEFINITION_ARGS__INIT;
    a.sequence = o->sequence;
    a.name = (char *)o->name;
    a.version = (char *)o->version;
    a.validation_parameter.data = vp;
    a.validation_parameter.len = vpl;
    a.init_required = o->init_required;
    if (commit) {
        rc = lifecycle_call(o, o->channel, "CommitChaincodeDefinition", &a.base, true, true, NULL,
                            NULL);
        weft_free(vp);
        return rc;
    }
    uint8_t *pl = NULL;
    size_t pll = 0;
    /* CheckCommitReadinessArgs has the same fields as CommitChaincodeDefinitionArgs */
    rc = lifecycle_call(o, o->channel, "CheckCommitReadiness", &a.base, false, false, &pl, &pll);
    if (rc == 0) {
        Lifecycle__CheckCommitReadinessResult *r =
            lifecycle__check_commit_readiness_result__unpack(NULL, pll, pl);
        printf("Chaincode definition for chaincode '%s', version '%s', sequence '%lld' on "
               "channel '%s' approval status by org:\n",
               o->name, o->version, (long long)o->sequence, o->channel);
        for (size_t i = 0; r != NULL && i < r->n_approvals; i++) {
            printf("%s: %s\n", r->approvals[i]->key, r->approvals[i]->value ? "true" : "false");
        }
        lifecycle__check_commit_readiness_result__free_unpacked(r, NULL);
    }
    weft_free(pl);
    weft_free(vp);
    return rc;
}

static int cmd_querycommitted(const struct cc_opts *o)
{
    if (o->channel == NULL) {
        fprintf(stderr, "weft chaincode querycommitted: needs -C CHANNEL\n");
        return 2;
    }
    uint8_t *pl = NULL;
    size_t pll = 0;
    int rc;
    if (o->name != NULL) {
        Lifecycle__QueryChaincodeDefinitionArgs a = LIFECYCLE__QUERY_CHAINCODE_DEFINITION_ARGS__INIT;
        a.name = (char *)o->name;
        rc = lifecycle_call(o, o->channel, "QueryChaincodeDefinition", &a.base, false, false, &pl,
                            &pll);
        Lifecycle__QueryChaincodeDefinitionResult *r =
            rc == 0 ? lifecycle__query_chaincode_definition_result__unpack(NULL, pll, pl) : NULL;
        if (r != NULL) {
            printf("Committed chaincode definition for chaincode '%s' on channel '%s':\n"
                   "Version: %s, Sequence: %lld, Endorsement Plugin: %s, Validation Plugin: %s, "
                   "Approvals: [",
                   o->name, o->channel, r->version, (long long)r->sequence,
                   r->endorsement_plugin, r->validation_plugin);
            for (size_t i = 0; i < r->n_approvals; i++) {
                printf("%s%s: %s", i > 0 ? ", " : "", r->approvals[i]->key,
                       r->approvals[i]->value ? "true" : "false");
            }
            printf("]\n");
        }
        lifecycle__query_chaincode_definition_result__free_unpacked(r, NULL);
    } else {
        Lifecycle__QueryChaincodeDefinitionsArgs a =
            LIFECYCLE__QUERY_CHAINCODE_DEFINITIONS_ARGS__INIT;
        rc = lifecycle_call(o, o->channel, "QueryChaincodeDefinitions", &a.base, false, false,
                            &pl, &pll);
        Lifecycle__QueryChaincodeDefinitionsResult *r =
            rc == 0 ? lifecycle__query_chaincode_definitions_result__unpack(NULL, pll, pl) : NULL;
        if (r != NULL) {
            printf("Committed chaincode definitions on channel '%s':\n", o->channel);
            for (size_t i = 0; i < r->n_chaincode_definitions; i++) {
                const Lifecycle__QueryChaincodeDefinitionsResult__ChaincodeDefinition *d =
                    r->chaincode_definitions[i];
                printf("Name: %s, Version: %s, Sequence: %lld, Endorsement Plugin: %s, "
                       "Validation Plugin: %s\n",
                       d->name, d->version, (long long)d->sequence, d->endorsement_plugin,
                       d->validation_plugin);
            }
        }
        lifecycle__query_chaincode_definitions_result__free_unpacked(r, NULL);
    }
    weft_free(pl);
    return rc;
}

/* -c '{"Args":["fn","a"]}' or '{"function":"fn","Args":["a"]}' */
static int cmd_invoke_query(const struct cc_opts *o, bool submit)
{
    if (o->channel == NULL || o->name == NULL || o->ctor == NULL) {
        fprintf(stderr, "weft chaincode %s: needs -C CHANNEL -n NAME -c JSON\n", o->sub);
        return 2;
    }
    json_error_t je;
    json_t *j = json_loads(o->ctor, 0, &je);
    json_t *arr = j != NULL ? json_object_get(j, "Args") : NULL;
    if (arr == NULL) {
        arr = j != NULL ? json_object_get(j, "args") : NULL;
    }
    json_t *fn = j != NULL ? json_object_get(j, "function") : NULL;
    if (fn == NULL && j != NULL) {
        fn = json_object_get(j, "Function");
    }
    size_t n = (arr != NULL && json_is_array(arr) ? json_array_size(arr) : 0) + (fn ? 1 : 0);
    if (j == NULL || (arr != NULL && !json_is_array(arr)) || n == 0 || n > 64) {
        fprintf(stderr, "weft chaincode %s: -c must be {\"Args\":[\"fn\",...]}\n", o->sub);
        json_decref(j);
        return 2;
    }
    const uint8_t *args[64];
    size_t lens[64];
    size_t k = 0;
    if (fn != NULL && json_is_string(fn)) {
        args[k] = (const uint8_t *)json_string_value(fn);
        lens[k++] = json_string_length(fn);
    }
    for (size_t i = 0; arr != NULL && i < json_array_size(arr); i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v)) {
            fprintf(stderr, "weft chaincode %s: arguments must be strings\n", o->sub);
            json_decref(j);
            return 2;
        }
        args[k] = (const uint8_t *)json_string_value(v);
        lens[k++] = json_string_length(v);
    }
    uint8_t *pl = NULL;
    size_t pll = 0;
    int rc = run(o, o->channel, o->name, args, lens, k, submit, submit, &pl, &pll);
    if (rc == 0) {
        if (submit) {
            printf("Chaincode invoke successful. result: status:200 payload:\"%.*s\"\n",
                   (int)pll, (const char *)pl);
        } else {
            fwrite(pl, 1, pll, stdout);
            printf("\n");
        }
    }
    weft_free(pl);
    json_decref(j);
    return rc;
}

int cmd_chaincode(int argc, char **argv)
{
    if (argc < 2 || cmd_wants_help(argc, argv)) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    struct cc_opts o;
    int rc = parse(argc - 1, argv + 1, &o);
    if (rc != 0) {
        return rc;
    }
    if (weft_rpc_init() != 0) {
        fprintf(stderr, "weft chaincode: gRPC init failed\n");
        return 1;
    }
    const char *s = o.sub;
    if (strcmp(s, "package") == 0) {
        rc = cmd_package(&o);
    } else if (strcmp(s, "install") == 0) {
        rc = cmd_install(&o);
    } else if (strcmp(s, "queryinstalled") == 0) {
        rc = cmd_queryinstalled(&o);
    } else if (strcmp(s, "approveformyorg") == 0) {
        rc = cmd_approve(&o);
    } else if (strcmp(s, "checkcommitreadiness") == 0) {
        rc = cmd_readiness_commit(&o, false);
    } else if (strcmp(s, "commit") == 0) {
        rc = cmd_readiness_commit(&o, true);
    } else if (strcmp(s, "querycommitted") == 0) {
        rc = cmd_querycommitted(&o);
    } else if (strcmp(s, "invoke") == 0) {
        rc = cmd_invoke_query(&o, true);
    } else if (strcmp(s, "query") == 0) {
        rc = cmd_invoke_query(&o, false);
    } else {
        fprintf(stderr, "weft chaincode: unknown command '%s'\n", s);
        usage(stderr);
        rc = 2;
    }
    weft_rpc_shutdown();
    return rc;
}
