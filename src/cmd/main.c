/*
 * weft: one binary, subcommands like git. This file only dispatches; each
 * subcommand lives in its own cmd_<name>.c and is listed in commands[].
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

static int cmd_version(int argc, char **argv);

static const struct cmd_entry commands[] = {
    {"peer", "run a peer node", cmd_peer},
    {"orderer", "run an ordering service node", cmd_orderer},
    {"ledger", "verify or inspect a channel's ledger offline", cmd_ledger},
    {"configtx", "build genesis blocks and inspect channel configuration", cmd_configtx},
    {"crypto", "generate development identities (like cryptogen)", cmd_crypto},
    {"network", "run a local development network (up, down, status, logs)", cmd_network},
    {"channel", "a peer's channels: join, list, getinfo, fetch", cmd_channel},
    {"chaincode", "package, install, approve, commit, query and invoke chaincode", cmd_chaincode},
    {"version", "print version information", cmd_version},
};

static int cmd_version(int argc, char **argv)
{
    if (cmd_wants_help(argc, argv)) {
        printf("Usage: weft version\n\nPrints the weft version and build details.\n");
        return 0;
    }
    printf("weft:\n Version: %s\n Commit SHA: %s\n Fabric compatibility: v2.4.9\n", WEFT_VERSION,
           WEFT_COMMIT);
    return 0;
}

int main(int argc, char **argv)
{
    return cmd_dispatch("weft", "weft: a Hyperledger Fabric-compatible ledger network", commands,
                        WEFT_ARRAY_LEN(commands), argc - 1, argv + 1);
}
