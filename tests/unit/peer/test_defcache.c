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

#include "peer/lifecycle/lifecycle.pb-c.h"
#include "peer/peer_internal.h"
#include "peer/proposal_response.pb-c.h"
#include "testlib.h"
#include "vecpeer.h"
#include "weft/chaincode.h"
#include "weft/lifecycle.h"
#include "weft/msp.h"
#include "weft/peer.h"

static struct wt_vecpeer *G;
static char *pkg_b; /* installed before its approval (re-approval test) */

/* Endorses _lifecycle fn on mychannel as who; expects status 200. */
static void lc_endorse(struct weft_msp *who, const char *fn, const uint8_t *arg, size_t al,
                       struct wt_lc_tx *t)
{
    Protos__ProposalResponse *pr = wt_vecpeer_lc_endorse(G, who, "mychannel", fn, arg, al, t);
    if (pr->response->status != 200) {
        fprintf(stderr, "%s: %s\n", fn, pr->response->message);
    }
    assert_int_equal(pr->response->status, 200);
    protos__proposal_response__free_unpacked(pr, NULL);
}

static void lc(struct weft_msp *who, const char *fn, const uint8_t *arg, size_t al, bool commit)
{
    struct wt_lc_tx t;
    lc_endorse(who, fn, arg, al, &t);
    wt_vecpeer_lc_finish(G, &t, commit);
}

/* Org1's vector approval with another sequence, version and package. */
static uint8_t *approve_arg(int64_t seq, const char *version, const char *pkgid, size_t *len)
{
    size_t al;
    uint8_t *a = wt_vec_arg(1, 1, &al);
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
    uint8_t *a = wt_vec_arg(2, 0, &al);
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
    G = wt_vecpeer_new("defcache");
    if (G == NULL) {
        return -1;
    }
    wt_vecpeer_track(G);
    /* the basic package, Org1's approval (its private half stays on this
     * peer), then the vector's approvals and commit of sequence 1 */
    char *pp = wt_vec_path(WT_VEC "/config/basic.tar.gz");
    size_t pl;
    char *pkg = wt_read_file(pp, &pl);
    char *id = NULL;
    struct weft_err e = {0};
    assert_int_equal(weft_peer_install(G->peer, (uint8_t *)pkg, pl, &id, &e), 0);
    assert_string_equal(id, WT_VEC_PKGID);
    size_t al;
    uint8_t *a = wt_vec_arg(1, 1, &al);
    lc(G->admin, "ApproveChaincodeDefinitionForMyOrg", a, al, false);
    wt_vecpeer_commit_vec_block(G, 1);
    wt_vecpeer_commit_vec_block(G, 2);
    weft_free(a);
    weft_free(id);
    weft_free(pkg);
    weft_free(pp);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    wt_vecpeer_free(G);
    weft_free(pkg_b);
    return 0;
}

/* ---- tests --------------------------------------------------------------------------- */

/* Two lookups give the same package; the second reads no private file. */
static void test_second_lookup_cached(void **state)
{
    (void)state;
    expect(WT_VEC_PKGID, "1.0");
    private_store(true);
    expect(WT_VEC_PKGID, "1.0"); /* the slow path needs the file (below) */
    /* same state, cache made stale: the file is needed and missing */
    peer__defcache_bump(G->peer);
    expect_not_installed();
    private_store(false);
    expect(WT_VEC_PKGID, "1.0");
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
    pkg_b = install("basic_b");
    expect(WT_VEC_PKGID, "1.0");
    size_t al;
    uint8_t *a = approve_arg(1, "1.0", pkg_b, &al);
    struct wt_lc_tx t;
    lc_endorse(G->admin, "ApproveChaincodeDefinitionForMyOrg", a, al, &t);
    /* endorsed (private file saved, generation bumped), not committed: the
     * old package, cached again */
    expect(WT_VEC_PKGID, "1.0");
    expect(WT_VEC_PKGID, "1.0");
    wt_vecpeer_lc_finish(G, &t, true);
    expect(pkg_b, "1.0");
    private_store(true);
    expect(pkg_b, "1.0"); /* cached */
    private_store(false);
    weft_free(a);
}

/* Sequence 2 (version 2.0, the same package B) committed: the new version
 * replaces the cached 1.0 although the approved package value is the same. */
static void test_new_sequence(void **state)
{
    (void)state;
    expect(pkg_b, "1.0");
    size_t al;
    uint8_t *a = approve_arg(2, "2.0", pkg_b, &al);
    lc(G->admin, "ApproveChaincodeDefinitionForMyOrg", a, al, true);
    expect(pkg_b, "1.0"); /* sequence 1 is still the definition */
    uint8_t *ca = commit_arg(2, "2.0", &al);
    lc(G->user, "CommitChaincodeDefinition", ca, al, true);
    expect(pkg_b, "2.0");
    private_store(true);
    expect(pkg_b, "2.0"); /* cached */
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
    assert_int_equal(weft_peer_approve_local(G->peer, "mychannel", "basic", 3, pkg_b, &e), 0);
    expect(pkg_b, "3.0");
    expect(pkg_b, "3.0");
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
