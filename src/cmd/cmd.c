/* Subcommand dispatch and usage text. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

bool cmd_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            return true;
        }
    }
    return false;
}

static void usage(FILE *f, const char *prog, const char *summary, const struct cmd_entry *cmds,
                  size_t n)
{
    fprintf(f, "%s\n\nUsage: %s <command> [options]\n\nCommands:\n", summary, prog);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "  %-12s %s\n", cmds[i].name, cmds[i].summary);
    }
    fprintf(f, "\nRun '%s <command> --help' for details.\n", prog);
}

int cmd_dispatch(const char *prog, const char *summary, const struct cmd_entry *cmds, size_t n,
                 int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0 ||
        strcmp(argv[0], "help") == 0) {
        usage(argc < 1 ? stderr : stdout, prog, summary, cmds, n);
        return argc < 1 ? 2 : 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(argv[0], cmds[i].name) == 0) {
            return cmds[i].run(argc, argv);
        }
    }
    fprintf(stderr, "%s: unknown command '%s'\n\n", prog, argv[0]);
    usage(stderr, prog, summary, cmds, n);
    return 2;
}
