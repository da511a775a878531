/* The _lifecycle system chaincode against the Fabric v2.4.9 vector chain:
 * Org1's approval (block 1, tx 1) and the commit (block 2, tx 0) must give
 * the same read/write sets byte for byte; after committing the vector
 * blocks the _lifecycle state, the queries and the endorsement-time
 * definition lookup must agree with Fabric. Also the rules and ACLs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/common.pb-c.h"
#include "peer/lifecycle/lifecycle.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/transaction.pb-c.h"
#include "testlib.h"
#include "vecpeer.h"
#include "weft/crypto.h"
#include "weft/ledger.h"
#include "weft/ledger_state.h"
#include "weft/lifecycle.h"
#include "weft/msp.h"
#include "weft/peer.h"

static struct wt_vecpeer *G;

/* Calls _lifecycle fn on channel as who; returns the decoded response. */
static Protos__ProposalResponse *call(struct weft_msp *who, const char *channel, const char *fn,
                                      const uint8_t *arg, size_t arg_len)
{
    struct wt_lc_tx t;
    Protos__ProposalResponse *pr = wt_vecpeer_lc_endorse(G, who, channel, fn, arg, arg_len, &t);
    wt_vecpeer_lc_finish(G, &t, false);
    return pr;
}

static uint8_t *results_of(const Protos__ProposalResponse *pr, size_t *len)
{
    Protos__ProposalResponsePayload *prp =
        protos__proposal_response_payload__unpack(NULL, pr->payload.len, pr->payload.data);
    assert_non_null(prp);
    Protos__ChaincodeAction *ca =
        protos__chaincode_action__unpack(NULL, prp->extension.len, prp->extension.data);
    assert_non_null(ca);
    assert_string_equal(ca->chaincode_id->name, "_lifecycle");
    assert_string_equal(ca->chaincode_id->version, "syscc");
    *len = ca->results.len;
    uint8_t *r = weft_malloc(*len + 1);
    memcpy(r, ca->results.data, *len);
    protos__chaincode_action__free_unpacked(ca, NULL);
    protos__proposal_response_payload__free_unpacked(prp, NULL);
    return r;
}

/* ---- setup ------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    G = wt_vecpeer_new("lifecycle");
    return G == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    wt_vecpeer_free(G);
    return 0;
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_install_and_query_installed(void **state)
{
    (void)state;
    char *pp = wt_vec_path(WT_VEC "/config/basic.tar.gz");
    size_t pl;
    char *pkg = wt_read_file(pp, &pl);
    assert_non_null(pkg);
    Lifecycle__InstallChaincodeArgs ia = LIFECYCLE__INSTALL_CHAINCODE_ARGS__INIT;
    ia.chaincode_install_package.data = (uint8_t *)pkg;
    ia.chaincode_install_package.len = pl;
    uint8_t buf[64 * 1024];
    assert_true(protobuf_c_message_get_packed_size(&ia.base) < sizeof(buf));
    size_t al = protobuf_c_message_pack(&ia.base, buf);

    /* a plain member of the org may not install */
    Protos__ProposalResponse *pr = call(G->user, "", "InstallChaincode", buf, al);
    assert_int_equal(pr->response->status, 500);
    assert_non_null(strstr(pr->response->message, "access denied"));
    protos__proposal_response__free_unpacked(pr, NULL);

    pr = call(G->admin, "", "InstallChaincode", buf, al);
    if (pr->response->status != 200) {
        fprintf(stderr, "install: %s\n", pr->response->message);
    }
    assert_int_equal(pr->response->status, 200);
    assert_null(pr->endorsement); /* channel-less: response only */
    Lifecycle__InstallChaincodeResult *ir = lifecycle__install_chaincode_result__unpack(
        NULL, pr->response->payload.len, pr->response->payload.data);
    assert_non_null(ir);
    assert_string_equal(ir->package_id, WT_VEC_PKGID);
    assert_string_equal(ir->label, "basic_1.0");
    lifecycle__install_chaincode_result__free_unpacked(ir, NULL);
    protos__proposal_response__free_unpacked(pr, NULL);

    /* again: Fabric's "already successfully installed" */
    pr = call(G->admin, "", "InstallChaincode", buf, al);
    assert_int_equal(pr->response->status, 500);
    assert_non_null(strstr(pr->response->message, "already successfully installed"));
    protos__proposal_response__free_unpacked(pr, NULL);

    pr = call(G->admin, "", "QueryInstalledChaincodes", (const uint8_t *)"", 0);
    assert_int_equal(pr->response->status, 200);
    Lifecycle__QueryInstalledChaincodesResult *qr = lifecycle__query_installed_chaincodes_result__unpack(
        NULL, pr->response->payload.len, pr->response->payload.data);
    assert_int_equal(qr->n_installed_chaincodes, 1);
    assert_string_equal(qr->installed_chaincodes[0]->package_id, WT_VEC_PKGID);
    lifecycle__query_installed_chaincodes_result__free_unpacked(qr, NULL);
    protos__proposal_response__free_unpacked(pr, NULL);

    Lifecycle__GetInstalledChaincodePackageArgs ga =
        LIFECYCLE__GET_INSTALLED_CHAINCODE_PACKAGE_ARGS__INIT;
    ga.package_id = (char *)WT_VEC_PKGID;
    al = protobuf_c_message_pack(&ga.base, buf);
    pr = call(G->admin, "", "GetInstalledChaincodePackage", buf, al);
    assert_int_equal(pr->response->status, 200);
    Lifecycle__GetInstalledChaincodePackageResult *gr =
        lifecycle__get_installed_chaincode_package_result__unpack(
            NULL, pr->response->payload.len, pr->response->payload.data);
    assert_int_equal(gr->chaincode_install_package.len, pl);
    assert_memory_equal(gr->chaincode_install_package.data, pkg, pl);
    lifecycle__get_installed_chaincode_package_result__free_unpacked(gr, NULL);
    protos__proposal_response__free_unpacked(pr, NULL);

    ga.package_id = (char *)"nope:00";
    al = protobuf_c_message_pack(&ga.base, buf);
    pr = call(G->admin, "", "GetInstalledChaincodePackage", buf, al);
    assert_int_equal(pr->response->status, 404);
    protos__proposal_response__free_unpacked(pr, NULL);
    weft_free(pkg);
    weft_free(pp);
}

static void test_approve_matches_fabric(void **state)
{
    (void)state;
    uint8_t *want = NULL, *arg = NULL;
    size_t wl = 0, al = 0;
    wt_vec_tx(1, 1, &want, &wl, &arg, &al); /* Org1's approval */
    /* approving is for org admins */
    Protos__ProposalResponse *pr =
        call(G->user, "mychannel", "ApproveChaincodeDefinitionForMyOrg", arg, al);
    assert_int_equal(pr->response->status, 500);
    assert_non_null(strstr(pr->response->message, "access denied"));
    protos__proposal_response__free_unpacked(pr, NULL);

    pr = call(G->admin, "mychannel", "ApproveChaincodeDefinitionForMyOrg", arg, al);
    if (pr->response->status != 200) {
        fprintf(stderr, "approve: %s\n", pr->response->message);
    }
    assert_int_equal(pr->response->status, 200);
    assert_non_null(pr->endorsement);
    size_t gl;
    uint8_t *got = results_of(pr, &gl);
    assert_int_equal(gl, wl);
    assert_memory_equal(got, want, wl);
    weft_free(got);
    protos__proposal_response__free_unpacked(pr, NULL);
    weft_free(want);
    weft_free(arg);
}

static void test_commit_matches_fabric(void **state)
{
    (void)state;
    wt_vecpeer_commit_vec_block(G, 1); /* both orgs' approvals */
    uint8_t *want = NULL, *arg = NULL;
    size_t wl = 0, al = 0;
    wt_vec_tx(2, 0, &want, &wl, &arg, &al);

    /* approving the same content again is refused while uncommitted */
    uint8_t *a1 = NULL, *w1 = NULL;
    size_t a1l = 0, w1l = 0;
    wt_vec_tx(1, 1, &w1, &w1l, &a1, &a1l);
    Protos__ProposalResponse *pr =
        call(G->admin, "mychannel", "ApproveChaincodeDefinitionForMyOrg", a1, a1l);
    assert_int_equal(pr->response->status, 500);
    assert_non_null(strstr(pr->response->message, "unchanged content"));
    protos__proposal_response__free_unpacked(pr, NULL);

    /* readiness: both orgs approved */
    pr = call(G->user, "mychannel", "CheckCommitReadiness", arg, al);
    assert_int_equal(pr->response->status, 200);
    Lifecycle__CheckCommitReadinessResult *cr = lifecycle__check_commit_readiness_result__unpack(
        NULL, pr->response->payload.len, pr->response->payload.data);
    assert_int_equal(cr->n_approvals, 2);
    for (size_t i = 0; i < cr->n_approvals; i++) {
        assert_true(cr->approvals[i]->value);
    }
    lifecycle__check_commit_readiness_result__free_unpacked(cr, NULL);
    protos__proposal_response__free_unpacked(pr, NULL);

    /* the approved definition and package, from this peer's private store */
    Lifecycle__QueryApprovedChaincodeDefinitionArgs qa =
        LIFECYCLE__QUERY_APPROVED_CHAINCODE_DEFINITION_ARGS__INIT;
    qa.name = (char *)"basic";
    qa.sequence = 1;
    uint8_t buf[512];
    size_t ql = protobuf_c_message_pack(&qa.base, buf);
    pr = call(G->admin, "mychannel", "QueryApprovedChaincodeDefinition", buf, ql);
    assert_int_equal(pr->response->status, 200);
    Lifecycle__QueryApprovedChaincodeDefinitionResult *ar =
        lifecycle__query_approved_chaincode_definition_result__unpack(
            NULL, pr->response->payload.len, pr->response->payload.data);
    assert_string_equal(ar->version, "1.0");
    assert_string_equal(ar->endorsement_plugin, "escc");
    assert_non_null(ar->source);
    assert_non_null(ar->source->local_package);
    assert_string_equal(ar->source->local_package->package_id, WT_VEC_PKGID);
    lifecycle__query_approved_chaincode_definition_result__free_unpacked(ar, NULL);
    protos__proposal_response__free_unpacked(pr, NULL);

    /* the commit's read/write set equals Fabric's */
    pr = call(G->user, "mychannel", "CommitChaincodeDefinition", arg, al);
    if (pr->response->status != 200) {
        fprintf(stderr, "commit: %s\n", pr->response->message);
    }
    assert_int_equal(pr->response->status, 200);
    size_t gl;
    uint8_t *got = results_of(pr, &gl);
    assert_int_equal(gl, wl);
    assert_memory_equal(got, want, wl);
    weft_free(got);
    protos__proposal_response__free_unpacked(pr, NULL);

    weft_free(want);
    weft_free(arg);
    weft_free(a1);
    weft_free(w1);
}

/* Public _lifecycle state after block 2 = state-all-namespaces.json. */
static void test_state_and_queries_after_commit(void **state)
{
    (void)state;
    wt_vecpeer_commit_vec_block(G, 2);
    /* the commit's writes (equal to block 2's, checked above) are the keys and
     * values of state-all-namespaces.json; read them back through the query */
    Lifecycle__QueryChaincodeDefinitionArgs qa = LIFECYCLE__QUERY_CHAINCODE_DEFINITION_ARGS__INIT;
    qa.name = (char *)"basic";
    uint8_t buf[256];
    size_t ql = protobuf_c_message_pack(&qa.base, buf);
    Protos__ProposalResponse *pr = call(G->user, "mychannel", "QueryChaincodeDefinition", buf, ql);
    assert_int_equal(pr->response->status, 200);
    Lifecycle__QueryChaincodeDefinitionResult *r = lifecycle__query_chaincode_definition_result__unpack(
        NULL, pr->response->payload.len, pr->response->payload.data);
    assert_int_equal(r->sequence, 1);
    assert_string_equal(r->version, "1.0");
    assert_string_equal(r->endorsement_plugin, "escc");
    assert_string_equal(r->validation_plugin, "vscc");
    assert_int_equal(r->validation_parameter.len, 34);
    assert_memory_equal(r->validation_parameter.data, "\x12\x20/Channel/Application/Endorsement",
                        34);
    assert_int_equal(r->n_approvals, 2);
    assert_true(r->approvals[0]->value && r->approvals[1]->value);
    lifecycle__query_chaincode_definition_result__free_unpacked(r, NULL);
    protos__proposal_response__free_unpacked(pr, NULL);

    qa.name = (char *)"nosuch";
    ql = protobuf_c_message_pack(&qa.base, buf);
    pr = call(G->user, "mychannel", "QueryChaincodeDefinition", buf, ql);
    assert_int_equal(pr->response->status, 404);
    assert_non_null(strstr(pr->response->message, "namespace nosuch is not defined"));
    protos__proposal_response__free_unpacked(pr, NULL);

    pr = call(G->user, "mychannel", "QueryChaincodeDefinitions", (const uint8_t *)"", 0);
    assert_int_equal(pr->response->status, 200);
    Lifecycle__QueryChaincodeDefinitionsResult *all =
        lifecycle__query_chaincode_definitions_result__unpack(NULL, pr->response->payload.len,
                                                              pr->response->payload.data);
    assert_int_equal(all->n_chaincode_definitions, 1);
    assert_string_equal(all->chaincode_definitions[0]->name, "basic");
    lifecycle__query_chaincode_definitions_result__free_unpacked(all, NULL);
    protos__proposal_response__free_unpacked(pr, NULL);

    /* the installed package is now referenced by the definition */
    Lifecycle__QueryInstalledChaincodeArgs qi = LIFECYCLE__QUERY_INSTALLED_CHAINCODE_ARGS__INIT;
    qi.package_id = (char *)WT_VEC_PKGID;
    ql = protobuf_c_message_pack(&qi.base, buf);
    pr = call(G->admin, "", "QueryInstalledChaincode", buf, ql);
    assert_int_equal(pr->response->status, 200);
    Lifecycle__QueryInstalledChaincodeResult *ir = lifecycle__query_installed_chaincode_result__unpack(
        NULL, pr->response->payload.len, pr->response->payload.data);
    assert_string_equal(ir->label, "basic_1.0");
    assert_int_equal(ir->n_references, 1);
    assert_string_equal(ir->references[0]->key, "mychannel");
    assert_int_equal(ir->references[0]->value->n_chaincodes, 1);
    assert_string_equal(ir->references[0]->value->chaincodes[0]->name, "basic");
    assert_string_equal(ir->references[0]->value->chaincodes[0]->version, "1.0");
    lifecycle__query_installed_chaincode_result__free_unpacked(ir, NULL);
    protos__proposal_response__free_unpacked(pr, NULL);
}

static void test_rules(void **state)
{
    (void)state;
    uint8_t buf[512];
    Lifecycle__ApproveChaincodeDefinitionForMyOrgArgs a =
        LIFECYCLE__APPROVE_CHAINCODE_DEFINITION_FOR_MY_ORG_ARGS__INIT;
    a.name = (char *)"basic";
    a.version = (char *)"2.0";
    a.sequence = 3;
    size_t l = protobuf_c_message_pack(&a.base, buf);
    Protos__ProposalResponse *pr =
        call(G->admin, "mychannel", "ApproveChaincodeDefinitionForMyOrg", buf, l);
    assert_int_equal(pr->response->status, 500);
    assert_non_null(strstr(pr->response->message, "larger than the next available sequence"));
    protos__proposal_response__free_unpacked(pr, NULL);

    a.sequence = 1; /* the current sequence with other parameters */
    l = protobuf_c_message_pack(&a.base, buf);
    pr = call(G->admin, "mychannel", "ApproveChaincodeDefinitionForMyOrg", buf, l);
    assert_int_equal(pr->response->status, 500);
    assert_non_null(strstr(pr->response->message, "attempted to define the current sequence"));
    protos__proposal_response__free_unpacked(pr, NULL);

    a.name = (char *)"lscc";
    a.sequence = 1;
    l = protobuf_c_message_pack(&a.base, buf);
    pr = call(G->admin, "mychannel", "ApproveChaincodeDefinitionForMyOrg", buf, l);
    assert_int_equal(pr->response->status, 500);
    assert_non_null(strstr(pr->response->message, "system chaincode"));
    protos__proposal_response__free_unpacked(pr, NULL);

    a.name = (char *)"bad name";
    l = protobuf_c_message_pack(&a.base, buf);
    pr = call(G->admin, "mychannel", "ApproveChaincodeDefinitionForMyOrg", buf, l);
    assert_int_equal(pr->response->status, 500);
    assert_non_null(strstr(pr->response->message, "invalid chaincode name"));
    protos__proposal_response__free_unpacked(pr, NULL);

    /* commit of sequence 2 without this org's approval */
    Lifecycle__CommitChaincodeDefinitionArgs c = LIFECYCLE__COMMIT_CHAINCODE_DEFINITION_ARGS__INIT;
    c.name = (char *)"basic";
    c.version = (char *)"2.0";
    c.sequence = 2;
    l = protobuf_c_message_pack(&c.base, buf);
    pr = call(G->user, "mychannel", "CommitChaincodeDefinition", buf, l);
    assert_int_equal(pr->response->status, 500);
    assert_non_null(strstr(pr->response->message, "not agreed to by this org (Org1MSP)"));
    protos__proposal_response__free_unpacked(pr, NULL);

    c.sequence = 1;
    l = protobuf_c_message_pack(&c.base, buf);
    pr = call(G->user, "mychannel", "CommitChaincodeDefinition", buf, l);
    assert_int_equal(pr->response->status, 500);
    assert_non_null(strstr(pr->response->message, "new definition must be sequence 2"));
    protos__proposal_response__free_unpacked(pr, NULL);

    /* approve sequence 2 (new version): an endorsement with the org's hashed writes */
    a.name = (char *)"basic";
    a.sequence = 2;
    l = protobuf_c_message_pack(&a.base, buf);
    pr = call(G->admin, "mychannel", "ApproveChaincodeDefinitionForMyOrg", buf, l);
    assert_int_equal(pr->response->status, 200);
    assert_non_null(pr->endorsement);
    protos__proposal_response__free_unpacked(pr, NULL);

    /* unknown function, wrong arity, channel-less function on a channel */
    pr = call(G->admin, "mychannel", "Frobnicate", buf, l);
    assert_int_equal(pr->response->status, 500);
    assert_non_null(strstr(pr->response->message, "unknown function"));
    protos__proposal_response__free_unpacked(pr, NULL);
    pr = call(G->admin, "mychannel", "QueryInstalledChaincodes", (const uint8_t *)"", 0);
    assert_int_equal(pr->response->status, 500);
    protos__proposal_response__free_unpacked(pr, NULL);
}

static void test_tx_assembly(void **state)
{
    (void)state;
    Lifecycle__QueryChaincodeDefinitionsArgs qa = LIFECYCLE__QUERY_CHAINCODE_DEFINITIONS_ARGS__INIT;
    uint8_t buf[16];
    size_t l = protobuf_c_message_pack(&qa.base, buf);
    const uint8_t *args[2] = {(const uint8_t *)"QueryChaincodeDefinitions", buf};
    size_t lens[2] = {strlen("QueryChaincodeDefinitions"), l};
    struct weft_lc_proposal prop;
    struct weft_err e = {0};
    assert_int_equal(
        weft_lc_proposal_new(G->user, "mychannel", "_lifecycle", args, lens, 2, false, &prop, &e),
        0);
    uint8_t *out = NULL;
    size_t ol = 0;
    assert_int_equal(
        weft_peer_endorse(G->peer, prop.signed_proposal, prop.signed_proposal_len, &out, &ol, &e),
        0);
    const uint8_t *rs[2] = {out, out};
    size_t rl[2] = {ol, ol};
    uint8_t *env = NULL;
    size_t envl = 0;
    assert_int_equal(weft_lc_tx_new(G->user, &prop, rs, rl, 2, &env, &envl, &e), 0);
    Common__Envelope *ev = common__envelope__unpack(NULL, envl, env);
    assert_non_null(ev);
    Common__Payload *pl = common__payload__unpack(NULL, ev->payload.len, ev->payload.data);
    Common__ChannelHeader *ch = common__channel_header__unpack(
        NULL, pl->header->channel_header.len, pl->header->channel_header.data);
    assert_string_equal(ch->tx_id, prop.txid);
    assert_string_equal(ch->channel_id, "mychannel");
    Protos__Transaction *tx = protos__transaction__unpack(NULL, pl->data.len, pl->data.data);
    Protos__ChaincodeActionPayload *cap = protos__chaincode_action_payload__unpack(
        NULL, tx->actions[0]->payload.len, tx->actions[0]->payload.data);
    assert_int_equal(cap->action->n_endorsements, 2);
    /* the creator signed the payload */
    struct weft_msp_identity *me = weft_msp_signer(G->user);
    assert_int_equal(weft_msp_identity_verify(me, NULL, ev->payload.data, ev->payload.len,
                                              ev->signature.data, ev->signature.len, &e),
                     0);
    protos__chaincode_action_payload__free_unpacked(cap, NULL);
    protos__transaction__free_unpacked(tx, NULL);
    common__channel_header__free_unpacked(ch, NULL);
    common__payload__free_unpacked(pl, NULL);
    common__envelope__free_unpacked(ev, NULL);
    /* a failed response is refused */
    Protos__Response bad = PROTOS__RESPONSE__INIT;
    bad.status = 500;
    bad.message = (char *)"boom";
    Protos__ProposalResponse bpr = PROTOS__PROPOSAL_RESPONSE__INIT;
    bpr.response = &bad;
    uint8_t bb[64];
    size_t bbl = protobuf_c_message_pack(&bpr.base, bb);
    const uint8_t *brs[1] = {bb};
    uint8_t *env2 = NULL;
    size_t env2l = 0;
    assert_int_equal(weft_lc_tx_new(G->user, &prop, brs, &bbl, 1, &env2, &env2l, &e),
                     WEFT_EINVAL);
    assert_non_null(strstr(e.msg, "boom"));
    weft_free(env);
    weft_free(out);
    weft_lc_proposal_clear(&prop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_install_and_query_installed),
        cmocka_unit_test(test_approve_matches_fabric),
        cmocka_unit_test(test_commit_matches_fabric),
        cmocka_unit_test(test_state_and_queries_after_commit),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_tx_assembly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
