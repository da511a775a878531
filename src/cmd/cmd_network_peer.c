/*
 * `weft network up`: peers join the channel.
 *
 * DESIGN
 * Fabric peers join through cscc JoinChain (a signed proposal from an org
 * admin). weft's peer does not serve that call yet, so `up` joins each peer
 * before starting it, through the same library call the service will make
 * (weft_peer_join): it opens the peer's state with its own MSP, creates the
 * channel ledger under peer.fileSystemPath and commits the genesis block.
 * `weft peer start` then reopens every channel found there. The peer's
 * chaincode listener is bound to an ephemeral loopback port for the few
 * milliseconds this takes, so it never clashes with the node's own port.
 */
#include <stdio.h>

#include "cmd_network.h"
#include "weft/peer.h"

int net_peer_join_offline(const struct net_node *n, const uint8_t *block, size_t len,
                          struct weft_err *err)
{
    struct weft_peer_opts o = {
        .fs_path = n->data_dir,
        .msp_dir = n->msp_dir,
        .mspid = n->msp_id,
        .chaincode_listen = "127.0.0.1:0",
        .execute_timeout_ms = 30000,
        .startup_timeout_ms = 30000,
    };
    struct weft_peer *p = weft_peer_new_opts(&o, NULL, err);
    if (p == NULL) {
        return weft_err_prefix(err, "%s", n->name);
    }
    char *id = NULL;
    int rc = weft_peer_join(p, block, len, &id, err);
    weft_free(id);
    weft_peer_free(p);
    if (rc != 0) {
        return weft_err_prefix(err, "%s: join", n->name);
    }
    return 0;
}
