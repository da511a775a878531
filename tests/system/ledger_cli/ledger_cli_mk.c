/*
 * Test helper for tests/system/ledger_cli: commits blocks/000000.block ..
 * blocks/<count-1>.block of a vector folder into a ledger.
 * Usage: ledger_cli_mk ROOT CHANNEL BLOCKS_DIR COUNT
 * Prints the ledger's height; exit 0, or 1 with the error on stderr.
 */
#include <stdio.h>
#include <stdlib.h>

#include "testlib.h"
#include "weft/base.h"
#include "weft/ledger.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: ledger_cli_mk ROOT CHANNEL BLOCKS_DIR COUNT\n");
        return 2;
    }
    struct weft_ledger_options o;
    weft_ledger_options_init(&o);
    o.root = argv[1];
    o.channel = argv[2];
    unsigned long count = strtoul(argv[4], NULL, 10);
    struct weft_ledger *l;
    struct weft_err err;
    weft_err_clear(&err);
    if (weft_ledger_open(&l, &o, &err) != 0) {
        fprintf(stderr, "ledger_cli_mk: open: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    for (unsigned long n = 0; n < count && rc == 0; n++) {
        char *p = weft_asprintf("%s/%06lu.block", argv[3], n);
        size_t len = 0;
        char *b = p != NULL ? wt_read_file(p, &len) : NULL;
        if (b == NULL) {
            fprintf(stderr, "ledger_cli_mk: cannot read %s\n", p != NULL ? p : "block");
            rc = 1;
        } else if (weft_ledger_commit_bytes(l, (const uint8_t *)b, len, &err) != 0) {
            fprintf(stderr, "ledger_cli_mk: commit %s: %s\n", p, err.msg);
            rc = 1;
        }
        weft_free(b);
        weft_free(p);
    }
    struct weft_ledger_info info;
    weft_ledger_info(l, &info);
    printf("%llu\n", (unsigned long long)info.height);
    weft_ledger_close(l);
    return rc;
}
