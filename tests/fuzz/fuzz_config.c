/* Fuzz target: the YAML configuration loader (src/base/config*.c) checked
 * against the daemons' real option tables (src/cmd/config_tables.c, compiled
 * in as the config unit test does). Input byte 0 picks core.yaml (even) or
 * orderer.yaml (odd); the rest is the file. A file that loads is checked;
 * a checked config is read back through the typed getter of every key, the
 * node API walk and weft_config_dump. No environment overrides (env prefix
 * NULL), so runs do not depend on the caller's environment. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/cmd/config_tables.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* results the fuzzer does not check (the calls must not crash) */
static volatile int sink;

static size_t walk(const struct weft_config *cfg, const struct weft_config_node *n, int depth)
{
    size_t count = 1;
    if (n == NULL || depth > 64) {
        return 0;
    }
    struct weft_err err;
    const char *s = NULL;
    bool b;
    int64_t i;
    uint64_t u;
    (void)weft_config_node_key(n);
    (void)weft_config_node_value(n);
    (void)weft_config_node_line(n);
    char *p = weft_config_node_path(n);
    weft_free(p);
    sink += weft_config_node_string(cfg, n, &s, &err);
    sink += weft_config_node_bool(cfg, n, &b, &err);
    sink += weft_config_node_i64(cfg, n, &i, &err);
    sink += weft_config_node_duration(cfg, n, &i, &err);
    sink += weft_config_node_size(cfg, n, &u, &err);
    size_t len = weft_config_node_len(n);
    for (size_t k = 0; k < len; k++) {
        count += walk(cfg, weft_config_node_at(n, k), depth + 1);
    }
    return count;
}

static void read_all(const struct weft_config *cfg, const struct weft_config_key *keys, size_t n)
{
    struct weft_err err;
    for (size_t k = 0; k < n; k++) {
        const struct weft_config_key *key = &keys[k];
        if (key->flags & WEFT_CONFIG_F_ENV_ONLY) {
            continue;
        }
        const char *s;
        bool b;
        int64_t i;
        uint64_t u;
        char *p = NULL, **list = NULL;
        switch (key->type) {
        case WEFT_CONFIG_STRING:
            sink += weft_config_get_string(cfg, key->path, &s, &err);
            break;
        case WEFT_CONFIG_BOOL:
            sink += weft_config_get_bool(cfg, key->path, &b, &err);
            break;
        case WEFT_CONFIG_INT:
            if (weft_config_get_i64(cfg, key->path, &i, &err) == 0 && key->max > key->min &&
                (i < key->min || i > key->max)) {
                __builtin_trap(); /* check() enforces the bounds */
            }
            break;
        case WEFT_CONFIG_UINT:
            sink += weft_config_get_u64(cfg, key->path, &u, &err);
            break;
        case WEFT_CONFIG_DURATION:
            if (weft_config_get_duration(cfg, key->path, &i, &err) == 0 && key->max > key->min &&
                (i < key->min || i > key->max)) {
                __builtin_trap();
            }
            break;
        case WEFT_CONFIG_SIZE:
            sink += weft_config_get_size(cfg, key->path, &u, &err);
            break;
        case WEFT_CONFIG_PATH:
            if (weft_config_get_path(cfg, key->path, &p, &err) == 0) {
                weft_free(p);
            }
            break;
        case WEFT_CONFIG_STRING_LIST:
        case WEFT_CONFIG_PATH_LIST:
            if (weft_config_get_strlist(cfg, key->path, key->type == WEFT_CONFIG_PATH_LIST,
                                        &list, NULL, &err) == 0) {
                weft_config_strlist_free(list);
            }
            break;
        case WEFT_CONFIG_TREE:
            (void)weft_config_lookup(cfg, key->path);
            break;
        }
        (void)weft_config_is_set(cfg, key->path);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536) {
        return 0;
    }
    const struct cmd_config_daemon_info *info =
        cmd_config_daemon_info((data[0] & 1) ? CMD_CONFIG_ORDERER : CMD_CONFIG_PEER);
    struct weft_config *cfg = NULL;
    struct weft_err err;
    if (weft_config_load_string((const char *)data + 1, size - 1, "fuzz.yaml", NULL, &cfg,
                                &err) != 0) {
        return 0;
    }
    (void)walk(cfg, weft_config_root(cfg), 0);
    if (weft_config_check(cfg, info->keys, info->nkeys, NULL, NULL, &err) == 0) {
        read_all(cfg, info->keys, info->nkeys);
        FILE *devnull = fopen("/dev/null", "w");
        if (devnull != NULL) {
            sink += weft_config_dump(cfg, info->keys, info->nkeys, devnull);
            fclose(devnull);
        }
    }
    weft_config_free(cfg);
    return 0;
}
