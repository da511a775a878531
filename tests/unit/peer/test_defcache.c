/* The endorsement-time chaincode definition cache (peer.c). A peer of Org1
 * installs Fabric's basic package, endorses Org1's approval of the v2.4.9
 * vector chain and commits its blocks 1 and 2 (definition basic, sequence
 * 1). The tests then change the committed state through _lifecycle
 * transactions this peer endorses, wrapped in blocks built here:
 *  - a second lookup is a cache hit: it does not read the private approval
 *    file (the folder is moved away and the package is still found);
 *  - a re-approval of sequence 1 with another package is used once its
 *    transaction commits, not before, even when a lookup in between put the
 *    old package in the cache;
 *  - a new definition (sequence 2, same package) replaces the cached one;
 *  - a lookup that failed (package not installed) is not cached;
 *  - a local approval (weft_peer_approve_local) is seen at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/common.pb-c.h"
#include "peer/lifecycle/lifecycle.pb-c.h"
#include "peer/peer_internal.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/transaction.pb-c.h"
#include "testlib.h"
#include "weft/chaincode.h"
#include "weft/crypto.h"
#include "weft/ledger.h"
#include "weft/lifecycle.h"
#include "weft/msp.h"
#include "weft/peer.h"

#define VEC "vectors/fabric-2.4.9"
#define ORG1 VEC "/crypto/peerOrganizations/org1.example.com"
#define PKGID "basic_1.0:c59343e3e1336467f7bdc33b87ca54c093819c27e11cbad057c1254d2acbcf99"

struct fixture {
    char *dir;
    struct weft_peer *peer;
    struct weft_msp *admin, *user;
    uint64_t height;
    uint8_t last_hash[32];
    char *pkg_b; /* installed before its approval (re-approval test) */
};

static struct fixture *G;

static char *vec_path(const char *rel)
{
    return weft_asprintf("%s/%s", wt_shared_dir(), rel);
}

static uint8_t *vec_block(uint64_t n, size_t *len)
{
    char rel[128];
    snprintf(rel, sizeof(rel), VEC "/blocks/%06llu.block", (unsigned long long)n);
    char *p = vec_path(rel);
    uint8_t *b = (uint8_t *)wt_read_file(p, len);
    weft_free(p);
    assert_non_null(b);
    return b;
}

/* The _lifecycle argument (args[1]) of tx i of a vector block. */
static uint8_t *vec_arg(uint64_t n, size_t i, size_t *arg_len)
{
    size_t bl;
    uint8_t *b = vec_block(n, &bl);
    Common__Block *blk = common__block__unpack(NULL, bl, b);
    assert_non_null(blk);
    assert_true(i < blk->data->n_data);
    Common__Envelope *env =
        common__envelope__unpack(NULL, blk->data->data[i].len, blk->data->data[i].data);
    Common__Payload *pl = common__payload__unpack(NULL, env->payload.len, env->payload.data);
    Protos__Transaction *tx = protos__transaction__unpack(NULL, pl->data.len, pl->data.data);
    Protos__ChaincodeActionPayload *cap = protos__chaincode_action_payload__unpack(
        NULL, tx->actions[0]->payload.len, tx->actions[0]->payload.data);
    Protos__ChaincodeProposalPayload *cpp = protos__chaincode_proposal_payload__unpack(
        NULL, cap->chaincode_proposal_payload.len, cap->chaincode_proposal_payload.data);
    Protos__ChaincodeInvocationSpec *cis =
        protos__chaincode_invocation_spec__unpack(NULL, cpp->input.len, cpp->input.data);
    assert_non_null(cis);
    assert_int_equal(cis->chaincode_spec->input->n_args, 2);
    *arg_len = cis->chaincode_spec->input->args[1].len;
    uint8_t *arg = weft_malloc(*arg_len + 1);
    memcpy(arg, cis->chaincode_spec->input->args[1].data, *arg_len);
    protos__chaincode_invocation_spec__free_unpacked(cis, NULL);
    protos__chaincode_proposal_payload__free_unpacked(cpp, NULL);
    protos__chaincode_action_payload__free_unpacked(cap, NULL);
    protos__transaction__free_unpacked(tx, NULL);
    common__payload__free_unpacked(pl, NULL);
    common__envelope__free_unpacked(env, NULL);
    common__block__free_unpacked(blk, NULL);
    weft_free(b);
    return arg;
}

/* Commits a serialized block and remembers its header hash. */
static void commit_bytes(const uint8_t *b, size_t bl)
{
    struct weft_err e = {0};
    int rc = weft_peer_commit_block(G->peer, "mychannel", b, bl, &e);
    if (rc != 0) {
        fprintf(stderr, "commit: %s\n", e.msg);
    }
    assert_int_equal(rc, 0);
    Common__Block *blk = common__block__unpack(NULL, bl, b);
    assert_non_null(blk);
    assert_int_equal(blk->header->number, G->height);
    assert_int_equal(weft_ledger_header_hash(blk->header->number, blk->header->previous_hash.data,
                                             blk->header->previous_hash.len,
                                             blk->header->data_hash.data,
                                             blk->header->data_hash.len, G->last_hash),
                     0);
    G->height++;
    common__block__free_unpacked(blk, NULL);
}

static void commit_vec_block(uint64_t n)
{
    size_t bl;
    uint8_t *b = vec_block(n, &bl);
    commit_bytes(b, bl);
    weft_free(b);
}

/* A block of one valid transaction (env) on top of the chain. */
static void commit_envelope(const uint8_t *env, size_t envl)
{
    ProtobufCBinaryData data[1] = {{envl, (uint8_t *)env}};
    uint8_t filter[1] = {0}; /* VALID */
    uint8_t dh[32];
    weft_ledger_data_hash(data, 1, dh);
    Common__BlockHeader h = COMMON__BLOCK_HEADER__INIT;
    h.number = G->height;
    h.previous_hash.data = G->last_hash;
    h.previous_hash.len = 32;
    h.data_hash.data = dh;
    h.data_hash.len = 32;
    Common__BlockData d = COMMON__BLOCK_DATA__INIT;
    d.data = data;
    d.n_data = 1;
    ProtobufCBinaryData md[5] = {{0, NULL}};
    md[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER].data = filter;
    md[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER].len = 1;
    Common__BlockMetadata m = COMMON__BLOCK_METADATA__INIT;
    m.metadata = md;
    m.n_metadata = 5;
    Common__Block b = COMMON__BLOCK__INIT;
    b.header = &h;
    b.data = &d;
    b.metadata = &m;
    size_t bl = common__block__get_packed_size(&b);
    uint8_t *buf = weft_malloc(bl);
    common__block__pack(&b, buf);
    commit_bytes(buf, bl);
    weft_free(buf);
}

/* An endorsed _lifecycle transaction, not yet committed. */
struct endorsed {
    struct weft_msp *who;
    struct weft_lc_proposal prop;
    uint8_t *resp;
    size_t resp_len;
};

/* Endorses _lifecycle fn on mychannel as who; expects status 200. */
static void lc_endorse(struct weft_msp *who, const char *fn, const uint8_t *arg, size_t al,
                       struct endorsed *t)
{
    const uint8_t *args[2] = {(const uint8_t *)fn, arg};
    size_t lens[2] = {strlen(fn), al};
    struct weft_err e = {0};
    t->who = who;
    assert_int_equal(
        weft_lc_proposal_new(who, "mychannel", "_lifecycle", args, lens, 2, false, &t->prop, &e),
        0);
    assert_int_equal(weft_peer_endorse(G->peer, t->prop.signed_proposal,
                                       t->prop.signed_proposal_len, &t->resp, &t->resp_len, &e),
                     0);
    Protos__ProposalResponse *pr = protos__proposal_response__unpack(NULL, t->resp_len, t->resp);
    assert_non_null(pr);
    assert_non_null(pr->response);
    if (pr->response->status != 200) {
        fprintf(stderr, "%s: %s\n", fn, pr->response->message);
    }
    assert_int_equal(pr->response->status, 200);
    protos__proposal_response__free_unpacked(pr, NULL);
}

/* Commits t in a block of its own (commit false: only frees t). */
static void lc_finish(struct endorsed *t, bool commit)
{
    if (commit) {
        const uint8_t *rs[1] = {t->resp};
        uint8_t *env = NULL;
        size_t envl = 0;
        struct weft_err e = {0};
        assert_int_equal(weft_lc_tx_new(t->who, &t->prop, rs, &t->resp_len, 1, &env, &envl, &e), 0);
        commit_envelope(env, envl);
        weft_free(env);
    }
    weft_free(t->resp);
    weft_lc_proposal_clear(&t->prop);
}

static void lc(struct weft_msp *who, const char *fn, const uint8_t *arg, size_t al, bool commit)
{
    struct endorsed t;
    lc_endorse(who, fn, arg, al, &t);
    lc_finish(&t, commit);
}

/* Org1's vector approval with another sequence, version and package. */
static uint8_t *approve_arg(int64_t seq, const char *version, const char *pkgid, size_t *len)
{
    size_t al;
    uint8_t *a = vec_arg(1, 1, &al);
    Lifecycle__ApproveChaincodeDefinitionForMyOrgArgs *m =
        lifecycle__approve_chaincode_definition_for_my_org_args__unpack(NULL, al, a);
    assert_non_null(m);
    assert_non_null(m->source);
    assert_non_null(m->source->local_package);
    char *old_v = m->version, *old_p = m->source->local_package->package_id;
    m->sequence = seq;
    m->version = (char *)version;
    m->source->local_package->package_id = (char *)pkgid;
    *len = lifecycle__approve_chaincode_definition_for_my_org_args__get_packed_size(m);
    uint8_t *out = weft_malloc(*len + 1);
    lifecycle__approve_chaincode_definition_for_my_org_args__pack(m, out);
    m->version = old_v;
    m->source->local_package->package_id = old_p;
    lifecycle__approve_chaincode_definition_for_my_org_args__free_unpacked(m, NULL);
    weft_free(a);
    return out;
}

/* The vector's commit of basic with another sequence and version. */
static uint8_t *commit_arg(int64_t seq, const char *version, size_t *len)
{
    size_t al;
    uint8_t *a = vec_arg(2, 0, &al);
    Lifecycle__CommitChaincodeDefinitionArgs *m =
        lifecycle__commit_chaincode_definition_args__unpack(NULL, al, a);
    assert_non_null(m);
    char *old_v = m->version;
    m->sequence = seq;
    m->version = (char *)version;
    *len = lifecycle__commit_chaincode_definition_args__get_packed_size(m);
    uint8_t *out = weft_malloc(*len + 1);
    lifecycle__commit_chaincode_definition_args__pack(m, out);
    m->version = old_v;
    lifecycle__commit_chaincode_definition_args__free_unpacked(m, NULL);
    weft_free(a);
    return out;
}

/* Installs a small node package labelled label; returns its package ID. */
static char *install(const char *label)
{
    char *src = weft_asprintf("%s/src-%s", G->dir, label);
    char *f = weft_asprintf("%s/index.js", src);
    assert_int_equal(mkdir(src, 0755), 0);
    assert_int_equal(wt_write_file(f, label, strlen(label)), 0);
    uint8_t *pkg = NULL;
    size_t pl = 0;
    char *id = NULL;
    struct weft_err e = {0};
    assert_int_equal(weft_cc_package_create(label, "node", "", src, &pkg, &pl, &e), 0);
    assert_int_equal(weft_peer_install(G->peer, pkg, pl, &id, &e), 0);
    weft_free(pkg);
    weft_free(f);
    weft_free(src);
    return id;
}

/* peer__definition of basic on mychannel, as the endorser calls it. */
static int resolve(const char *name, char **ccid, char **version, struct weft_err *e)
{
    struct peer_channel *c = peer__channel(G->peer, "mychannel");
    assert_non_null(c);
    *ccid = *version = NULL;
    return peer__definition(G->peer, c, name, ccid, version, e);
}

static void expect(const char *ccid, const char *version)
{
    char *got = NULL, *ver = NULL;
    struct weft_err e = {0};
    int rc = resolve("basic", &got, &ver, &e);
    if (rc != 0) {
        fprintf(stderr, "resolve: %s\n", e.msg);
    }
    assert_int_equal(rc, 0);
    assert_string_equal(got, ccid);
    assert_string_equal(ver, version);
    weft_free(got);
    weft_free(ver);
}

static void expect_not_installed(void)
{
    char *got = NULL, *ver = NULL;
    struct weft_err e = {0};
    assert_int_equal(resolve("basic", &got, &ver, &e), WEFT_ENOTFOUND);
    assert_non_null(strstr(e.msg, "not installed"));
    assert_null(got);
    assert_null(ver);
}

/* Moves this peer's private approvals out of reach (off) or back. */
static void private_store(bool off)
{
    char *on_p = weft_asprintf("%s/lifecycle/private/mychannel", G->dir);
    char *off_p = weft_asprintf("%s/lifecycle/private/mychannel.off", G->dir);
    assert_int_equal(off ? rename(on_p, off_p) : rename(off_p, on_p), 0);
    weft_free(on_p);
    weft_free(off_p);
}

/* ---- setup --------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    G = weft_calloc(1, sizeof(*G));
    G->dir = wt_tmpdir("defcache");
    char *msp = vec_path(ORG1 "/peers/peer0.org1.example.com/msp");
    char *amsp = vec_path(ORG1 "/users/Admin@org1.example.com/msp");
    char *umsp = vec_path(ORG1 "/users/User1@org1.example.com/msp");
    struct weft_peer_opts o = {
        .fs_path = G->dir,
        .msp_dir = msp,
        .mspid = "Org1MSP",
        .chaincode_listen = "127.0.0.1:0",
        .execute_timeout_ms = 2000,
        .ledger_no_sync = true,
    };
    struct weft_err e = {0};
    G->peer = weft_peer_new_opts(&o, NULL, &e);
    if (G->peer == NULL) {
        fprintf(stderr, "peer: %s\n", e.msg);
        return -1;
    }
    assert_int_equal(weft_msp_load_dir(amsp, "Org1MSP", &G->admin, &e), 0);
    assert_int_equal(weft_msp_load_dir(umsp, "Org1MSP", &G->user, &e), 0);
    char *gp = vec_path(VEC "/blocks/genesis.block");
    size_t gl;
    char *g = wt_read_file(gp, &gl);
    assert_int_equal(weft_peer_join(G->peer, (uint8_t *)g, gl, NULL, &e), 0);
    struct peer_channel *c = peer__channel(G->peer, "mychannel");
    assert_non_null(c);
    struct weft_ledger_info info;
    weft_ledger_info(c->ledger, &info);
    G->height = info.height;
    memcpy(G->last_hash, info.current_hash, 32);
    /* the basic package, Org1's approval (its private half stays on this
     * peer), then the vector's approvals and commit of sequence 1 */
    char *pp = vec_path(VEC "/config/basic.tar.gz");
    size_t pl;
    char *pkg = wt_read_file(pp, &pl);
    char *id = NULL;
    assert_int_equal(weft_peer_install(G->peer, (uint8_t *)pkg, pl, &id, &e), 0);
    assert_string_equal(id, PKGID);
    size_t al;
    uint8_t *a = vec_arg(1, 1, &al);
    lc(G->admin, "ApproveChaincodeDefinitionForMyOrg", a, al, false);
    commit_vec_block(1);
    commit_vec_block(2);
    weft_free(a);
    weft_free(id);
    weft_free(pkg);
    weft_free(pp);
    weft_free(g);
    weft_free(gp);
    weft_free(msp);
    weft_free(amsp);
    weft_free(umsp);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    weft_peer_free(G->peer);
    weft_msp_unref(G->admin);
    weft_msp_unref(G->user);
    wt_rmtree(G->dir);
    weft_free(G->dir);
    weft_free(G->pkg_b);
    weft_free(G);
    return 0;
}

/* ---- tests --------------------------------------------------------------------------- */

/* Two lookups give the same package; the second reads no private file. */
static void test_second_lookup_cached(void **state)
{
    (void)state;
    expect(PKGID, "1.0");
    private_store(true);
    expect(PKGID, "1.0"); /* the slow path needs the file (below) */
    /* same state, cache made stale: the file is needed and missing */
    peer__defcache_bump(G->peer);
    expect_not_installed();
    private_store(false);
    expect(PKGID, "1.0");
    /* an unknown chaincode: not found, every time */
    char *got = NULL, *ver = NULL;
    struct weft_err e = {0};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(resolve("nosuch", &got, &ver, &e), WEFT_ENOTFOUND);
        assert_null(got);
    }
}

/* Sequence 1 re-approved with package B: the old package until the approval
 * commits (the private file is saved at endorsement, the committed hash
 * that selects it changes only with the block), B right after. */
static void test_reapprove_other_package(void **state)
{
    (void)state;
    G->pkg_b = install("basic_b");
    expect(PKGID, "1.0");
    size_t al;
    uint8_t *a = approve_arg(1, "1.0", G->pkg_b, &al);
    struct endorsed t;
    lc_endorse(G->admin, "ApproveChaincodeDefinitionForMyOrg", a, al, &t);
    /* endorsed (private file saved, generation bumped), not committed: the
     * old package, cached again */
    expect(PKGID, "1.0");
    expect(PKGID, "1.0");
    lc_finish(&t, true);
    expect(G->pkg_b, "1.0");
    private_store(true);
    expect(G->pkg_b, "1.0"); /* cached */
    private_store(false);
    weft_free(a);
}

/* Sequence 2 (version 2.0, the same package B) committed: the new version
 * replaces the cached 1.0 although the approved package value is the same. */
static void test_new_sequence(void **state)
{
    (void)state;
    expect(G->pkg_b, "1.0");
    size_t al;
    uint8_t *a = approve_arg(2, "2.0", G->pkg_b, &al);
    lc(G->admin, "ApproveChaincodeDefinitionForMyOrg", a, al, true);
    expect(G->pkg_b, "1.0"); /* sequence 1 is still the definition */
    uint8_t *ca = commit_arg(2, "2.0", &al);
    lc(G->user, "CommitChaincodeDefinition", ca, al, true);
    expect(G->pkg_b, "2.0");
    private_store(true);
    expect(G->pkg_b, "2.0"); /* cached */
    private_store(false);
    weft_free(a);
    weft_free(ca);
}

/* Sequence 3 (version 3.0) approved with package C, not installed yet: the
 * failed lookups are not cached, the install is seen at once. */
static void test_new_sequence_not_installed(void **state)
{
    (void)state;
    char *pkg_c = NULL;
    char *ids = NULL;
    struct weft_err e = {0};
    /* package C's ID without installing it yet */
    char *src = weft_asprintf("%s/src-basic_c", G->dir);
    char *f = weft_asprintf("%s/index.js", src);
    assert_int_equal(mkdir(src, 0755), 0);
    assert_int_equal(wt_write_file(f, "basic_c", 7), 0);
    uint8_t *pkg = NULL;
    size_t pl = 0;
    assert_int_equal(weft_cc_package_create("basic_c", "node", "", src, &pkg, &pl, &e), 0);
    assert_int_equal(weft_cc_package_id("basic_c", pkg, pl, &ids), 0);

    size_t al;
    uint8_t *a = approve_arg(3, "3.0", ids, &al);
    lc(G->admin, "ApproveChaincodeDefinitionForMyOrg", a, al, true);
    uint8_t *ca = commit_arg(3, "3.0", &al);
    lc(G->user, "CommitChaincodeDefinition", ca, al, true);
    expect_not_installed();
    expect_not_installed();
    assert_int_equal(weft_peer_install(G->peer, pkg, pl, &pkg_c, &e), 0);
    assert_string_equal(pkg_c, ids);
    expect(pkg_c, "3.0");
    private_store(true);
    expect(pkg_c, "3.0"); /* cached */
    private_store(false);
    weft_free(a);
    weft_free(ca);
    weft_free(pkg);
    weft_free(pkg_c);
    weft_free(ids);
    weft_free(f);
    weft_free(src);
}

/* A local approval (weft_peer_approve_local) of the committed sequence wins
 * over the _lifecycle one and is seen at once, cache or not. */
static void test_local_approval(void **state)
{
    (void)state;
    struct weft_err e = {0};
    assert_int_equal(weft_peer_approve_local(G->peer, "mychannel", "basic", 3, G->pkg_b, &e), 0);
    expect(G->pkg_b, "3.0");
    expect(G->pkg_b, "3.0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_lookup_cached),
        cmocka_unit_test(test_reapprove_other_package),
        cmocka_unit_test(test_new_sequence),
        cmocka_unit_test(test_new_sequence_not_installed),
        cmocka_unit_test(test_local_approval),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
