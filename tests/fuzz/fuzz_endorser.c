/* Fuzz target: the endorser's proposal checks (src/peer/endorser.c). The
 * input is one SignedProposal as ProcessProposal receives it; it goes
 * through weft_peer_endorse on a peer (Org1MSP of the Fabric vectors) that
 * joined mychannel from the vector genesis block: unmarshalling of every
 * layer, header type, epoch, nonce/creator, txid, the creator's MSP and
 * signature, duplicate txid and the propose ACL. No chaincode is defined or
 * installed, so nothing is launched; system chaincodes answer from the
 * genesis-only ledger. Proposals are never committed, so runs are
 * independent. The peer and its folder are made once. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzzlib.h"
#include "weft/log.h"
#include "weft/peer.h"

static struct weft_peer *peer;
static char tmpdir[256];

static void cleanup(void)
{
    if (tmpdir[0] != '\0') {
        fuzz_rmtree(tmpdir);
    }
}

static void setup(void)
{
    if (peer != NULL) {
        return;
    }
    struct weft_err err;
    if (weft_log_spec_set("fatal", &err) != 0) {
        abort();
    }
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/weft-fuzz-endorser-XXXXXX", t != NULL ? t : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        abort();
    }
    atexit(cleanup);
    char dir[4096], msp[4400];
    fuzz_shared_dir(dir, sizeof(dir));
    snprintf(msp, sizeof(msp),
             "%s/vectors/fabric-2.4.9/crypto/peerOrganizations/org1.example.com/peers/"
             "peer0.org1.example.com/msp",
             dir);
    struct weft_peer_opts o = {
        .fs_path = tmpdir,
        .msp_dir = msp,
        .mspid = "Org1MSP",
        .chaincode_listen = "127.0.0.1:0",
        .execute_timeout_ms = 1000,
        .ledger_no_sync = true,
    };
    peer = weft_peer_new_opts(&o, NULL, &err);
    if (peer == NULL) {
        fprintf(stderr, "fuzz_endorser: peer: %s\n", err.msg);
        abort();
    }
    size_t gl;
    uint8_t *g = fuzz_read_vector("blocks/genesis.block", &gl);
    if (weft_peer_join(peer, g, gl, NULL, &err) != 0) {
        fprintf(stderr, "fuzz_endorser: join: %s\n", err.msg);
        abort();
    }
    weft_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    uint8_t *out = NULL;
    size_t out_len = 0;
    struct weft_err err;
    err.msg[0] = '\0';
    int rc = weft_peer_endorse(peer, data, size, &out, &out_len, &err);
    if (rc == 0) {
        if (out == NULL) {
            __builtin_trap(); /* success always answers a ProposalResponse */
        }
        weft_free(out);
    } else if (rc > 0 || err.msg[0] == '\0') {
        __builtin_trap(); /* errors are negative and say why */
    }
    return 0;
}
