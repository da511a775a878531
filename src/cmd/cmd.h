/* Subcommand dispatch shared by every level of the weft command tree. */
#ifndef WEFT_CMD_H
#define WEFT_CMD_H

#include <stdbool.h>
#include <stddef.h>

#include "weft/base.h"

typedef int (*cmd_fn)(int argc, char **argv);

struct cmd_entry {
    const char *name;
    const char *summary;
    cmd_fn run; /* argv[0] is the subcommand name */
};

/* True when argv holds -h or --help. */
bool cmd_wants_help(int argc, char **argv);
/* Runs the entry named argv[0]; prints usage for no argument, --help or an
 * unknown name. Returns the process exit code. */
int cmd_dispatch(const char *prog, const char *summary, const struct cmd_entry *cmds, size_t n,
                 int argc, char **argv);

/* Subcommands (one file each). */
int cmd_peer(int argc, char **argv);    /* cmd_node.c */
int cmd_orderer(int argc, char **argv); /* cmd_node.c */
int cmd_ledger(int argc, char **argv);  /* cmd_ledger.c */
int cmd_ledger_replay(int argc, char **argv); /* cmd_ledger_replay.c */
int cmd_configtx(int argc, char **argv); /* cmd_configtx.c */
int cmd_crypto(int argc, char **argv);  /* cmd_crypto.c */
int cmd_network(int argc, char **argv); /* cmd_network.c */
int cmd_channel(int argc, char **argv); /* cmd_channel.c */
int cmd_chaincode(int argc, char **argv); /* cmd_chaincode.c */

#endif
