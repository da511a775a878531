/* rwset_dump DIR: builds a state in DIR (block 1: keys k1..k3 and a-000..a-059
 * in namespace "cc"; block 2: k3 deleted again is not needed), runs one
 * simulation and writes the serialized TxReadWriteSet to stdout.
 *
 * Simulation (namespaces deliberately used out of order):
 *   ns "zz": put "b" = "B"
 *   ns "cc": get k2 (exists, 1:1), get "absent" (nil version),
 *            put k2 = "v2", del k1, put composite key (color, [red, x]) = "c",
 *            put_metadata k3 VALIDATION_PARAMETER = 0x01 0x02,
 *            range [k1, k3) fully read (raw reads, exhausted),
 *            range [a-, a-~) fully read (60 results: Merkle summary),
 *            range [a-010, "") with 2 results read (not exhausted). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger/state_int.h"
#include "weft/ledger_state.h"

static void die(const char *what, const struct weft_err *err)
{
    fprintf(stderr, "rwset_dump: %s: %s\n", what, err->msg);
    exit(1);
}

int main(int argc, char **argv)
{
    struct weft_err err = {0};
    struct ledger_state *st;
    if (argc != 2) {
        fprintf(stderr, "usage: rwset_dump DIR\n");
        return 2;
    }
    if (ledger__state_open_dir(&st, argv[1], true, &err) != 0)
        die("open", &err);
    struct ledger_updates *u = ledger__updates_new(1);
    char key[16];
    for (int i = 0; i < 63; i++) {
        if (i < 3)
            snprintf(key, sizeof(key), "k%d", i + 1);
        else
            snprintf(key, sizeof(key), "a-%03d", i - 3);
        struct ledger_op op = {.ns = "cc", .key = (const uint8_t *)key, .key_len = strlen(key),
                               .value = (const uint8_t *)"v", .value_len = 1, .block = 1,
                               .tx = (uint64_t)(i < 3 ? i : 3), .kind = LEDGER_OP_PUT};
        if (u == NULL || ledger__updates_add(u, &op) != 0)
            die("updates", &err);
    }
    if (ledger__state_commit(st, u, &err) != 0)
        die("commit", &err);
    ledger__updates_free(u);

    struct weft_ledger_sim *s;
    uint8_t *v = NULL;
    size_t vl;
    bool found;
    if (ledger__sim_new(st, "tx", false, &s, &err) != 0 ||
        weft_ledger_sim_put(s, "zz", "b", 1, (const uint8_t *)"B", 1, &err) != 0 ||
        weft_ledger_sim_get(s, "cc", "k2", 2, &v, &vl, &found, NULL, &err) != 0)
        die("sim", &err);
    weft_free(v);
    if (weft_ledger_sim_get(s, "cc", "absent", 6, &v, &vl, &found, NULL, &err) != 0)
        die("get", &err);
    weft_free(v);
    char *ck = NULL;
    size_t ckl;
    const char *attrs[] = {"red", "x"};
    if (weft_ledger_sim_put(s, "cc", "k2", 2, (const uint8_t *)"v2", 2, &err) != 0 ||
        weft_ledger_sim_del(s, "cc", "k1", 2, &err) != 0 ||
        weft_ledger_ckey_create("color", attrs, 2, &ck, &ckl, &err) != 0 ||
        weft_ledger_sim_put(s, "cc", ck, ckl, (const uint8_t *)"c", 1, &err) != 0 ||
        weft_ledger_sim_put_metadata(s, "cc", "k3", 2, "VALIDATION_PARAMETER",
                                     (const uint8_t *)"\x01\x02", 2, &err) != 0)
        die("write", &err);
    weft_free(ck);
    struct weft_ledger_range_iter *it;
    struct weft_ledger_kv kv;
    const char *ranges[][2] = {{"k1", "k3"}, {"a-", "a-~"}};
    for (int r = 0; r < 2; r++) {
        if (weft_ledger_sim_range(s, "cc", ranges[r][0], strlen(ranges[r][0]), ranges[r][1],
                                  strlen(ranges[r][1]), 0, &it, &err) != 0)
            die("range", &err);
        int rc;
        while ((rc = weft_ledger_range_next(it, &kv, &err)) == 1)
            ;
        if (rc != 0)
            die("range next", &err);
        weft_ledger_range_free(it);
    }
    if (weft_ledger_sim_range(s, "cc", "a-010", 5, "", 0, 0, &it, &err) != 0 ||
        weft_ledger_range_next(it, &kv, &err) != 1 || weft_ledger_range_next(it, &kv, &err) != 1)
        die("partial range", &err);
    weft_ledger_range_free(it);
    uint8_t *out;
    size_t out_len;
    if (weft_ledger_sim_rwset(s, &out, &out_len, &err) != 0)
        die("rwset", &err);
    weft_ledger_sim_free(s);
    ledger__state_close(st);
    if (fwrite(out, 1, out_len, stdout) != out_len)
        return 1;
    weft_free(out);
    return 0;
}
