/*
 * `weft configtx`: channel configuration tools, like Fabric's configtxgen.
 *   weft configtx genesis --profile P --channel C --output F [--config FILE|DIR]
 *   weft configtx inspect F [--type common.Block]
 * Drop-in spellings of configtxgen are accepted too:
 *   weft configtx -profile P -channelID C -outputBlock F [-configPath DIR]
 *   weft configtx -inspectBlock F
 * Exit codes: 0 done, 1 an error, 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "weft/config.h"
#include "weft/configtx.h"

#define MAX_INPUT (256u * 1024u * 1024u)

static void genesis_usage(FILE *f)
{
    fprintf(f,
            "Usage: weft configtx genesis --profile NAME --channel ID --output FILE\n"
            "                             [--config FILE|DIR]\n\n"
            "Writes the genesis block of an application channel from a Fabric configtx.yaml\n"
            "profile, with the same configuration tree as configtxgen v2.4.9.\n\n"
            "Options:\n"
            "  --profile NAME     profile under Profiles: (configtxgen: -profile)\n"
            "  --channel ID       channel name (configtxgen: -channelID)\n"
            "  --output FILE      where to write the block (configtxgen: -outputBlock)\n"
            "  --config PATH      configtx.yaml, or a folder holding it (configtxgen:\n"
            "                     -configPath DIR). Default: $FABRIC_CFG_PATH/configtx.yaml,\n"
            "                     else ./configtx.yaml, ./config/configtx.yaml,\n"
            "                     /etc/hyperledger/fabric/configtx.yaml\n"
            "  -h, --help         this help\n");
}

static void inspect_usage(FILE *f)
{
    fprintf(f, "Usage: weft configtx inspect FILE [--type MESSAGE]\n\n"
               "Prints a block, envelope, config envelope or config as JSON, with nested\n"
               "messages decoded (payloads, headers, config values, policies, MSPs).\n\n"
               "Options:\n"
               "  --type MESSAGE   decode as this message (e.g. common.Block,\n"
               "                   common.ConfigUpdate); default: guess\n"
               "  -h, --help       this help\n");
}

static void top_usage(FILE *f)
{
    fprintf(f, "Usage: weft configtx <command> [options]\n\n"
               "Commands:\n"
               "  genesis   write a channel genesis block from configtx.yaml\n"
               "  inspect   print a block or config as JSON\n\n"
               "configtxgen flags (-profile, -channelID, -outputBlock, -configPath,\n"
               "-inspectBlock) are accepted as well.\n"
               "Run 'weft configtx <command> --help' for details.\n");
}

static int read_all(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "weft configtx: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct weft_buf b;
    weft_buf_init(&b, MAX_INPUT);
    char chunk[65536];
    size_t r;
    int rc = 0;
    while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (weft_buf_append(&b, chunk, r) != 0) {
            fprintf(stderr, "weft configtx: %s: too large\n", path);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "weft configtx: error reading %s\n", path);
        rc = -1;
    }
    fclose(f);
    if (rc == 0 && b.data == NULL && weft_buf_append(&b, "", 0) != 0) {
        rc = -1;
    }
    if (rc != 0) {
        weft_buf_close(&b);
        return rc;
    }
    *out = weft_buf_steal(&b, len);
    return 0;
}

/* Matches "--name", "-name" (and aliases) with the value in the next
 * argument or after '='. Returns 1 on a match (value in *val), 0 otherwise,
 * -1 when the value is missing. */
static int opt(int argc, char **argv, int *i, const char *const *names, const char **val)
{
    const char *a = argv[*i];
    for (const char *const *n = names; *n != NULL; n++) {
        size_t l = strlen(*n);
        if (strncmp(a, *n, l) != 0) {
            continue;
        }
        if (a[l] == '=') {
            *val = a + l + 1;
            return 1;
        }
        if (a[l] == '\0') {
            if (*i + 1 >= argc) {
                fprintf(stderr, "weft configtx: %s needs a value\n", a);
                return -1;
            }
            (*i)++;
            *val = argv[*i];
            return 1;
        }
    }
    return 0;
}

static int write_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "weft configtx: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t w = fwrite(data, 1, len, f);
    int rc = fclose(f);
    if (w != len || rc != 0) {
        fprintf(stderr, "weft configtx: error writing %s\n", path);
        return -1;
    }
    return 0;
}

static int do_inspect(const char *file, const char *type)
{
    uint8_t *data = NULL;
    size_t len = 0;
    if (read_all(file, &data, &len) != 0) {
        return 1;
    }
    char *json = NULL;
    struct weft_err err;
    weft_err_clear(&err);
    int rc = weft_configtx_to_json(type, data, len, &json, &err);
    weft_free(data);
    if (rc != 0) {
        fprintf(stderr, "weft configtx inspect: %s: %s\n", file, err.msg);
        return 1;
    }
    printf("%s\n", json);
    weft_free(json);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* Genesis with either spelling of the flags; argv[0] is skipped. */
static int do_genesis(int argc, char **argv)
{
    static const char *const o_profile[] = {"--profile", "-profile", NULL};
    static const char *const o_channel[] = {"--channel", "--channelID", "-channelID", NULL};
    static const char *const o_output[] = {"--output", "--outputBlock", "-outputBlock", NULL};
    static const char *const o_config[] = {"--config", "--configPath", "-configPath", NULL};
    static const char *const o_inspect[] = {"--inspectBlock", "-inspectBlock", NULL};
    const char *profile = NULL, *channel = NULL, *output = NULL, *config = NULL;
    const char *inspect = NULL;
    for (int i = 1; i < argc; i++) {
        int m;
        if ((m = opt(argc, argv, &i, o_profile, &profile)) != 0 ||
            (m = opt(argc, argv, &i, o_channel, &channel)) != 0 ||
            (m = opt(argc, argv, &i, o_output, &output)) != 0 ||
            (m = opt(argc, argv, &i, o_config, &config)) != 0 ||
            (m = opt(argc, argv, &i, o_inspect, &inspect)) != 0) {
            if (m < 0) {
                return 2;
            }
            continue;
        }
        fprintf(stderr, "weft configtx genesis: unknown argument '%s'\n\n", argv[i]);
        genesis_usage(stderr);
        return 2;
    }
    if (inspect != NULL) {
        return do_inspect(inspect, "common.Block");
    }
    if (profile == NULL || channel == NULL || output == NULL) {
        fprintf(stderr, "weft configtx genesis: --profile, --channel and --output are "
                        "required\n\n");
        genesis_usage(stderr);
        return 2;
    }
    struct weft_err err;
    weft_err_clear(&err);
    char *path = NULL;
    if (weft_config_find(config, "configtx.yaml", &path, &err) != 0) {
        fprintf(stderr, "weft configtx genesis: %s\n", err.msg);
        return 1;
    }
    uint8_t *block = NULL;
    size_t len = 0;
    int rc = weft_configtx_genesis_from_yaml(path, profile, channel, &block, &len, &err);
    weft_free(path);
    if (rc != 0) {
        fprintf(stderr, "weft configtx genesis: %s\n", err.msg);
        return 1;
    }
    rc = write_file(output, block, len);
    weft_free(block);
    if (rc != 0) {
        return 1;
    }
    fprintf(stderr, "weft configtx: wrote genesis block of channel %s (profile %s) to %s\n",
            channel, profile, output);
    return 0;
}

int cmd_configtx(int argc, char **argv)
{
    if (argc < 2) {
        top_usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
        top_usage(stdout);
        return 0;
    }
    if (strcmp(sub, "genesis") == 0) {
        if (cmd_wants_help(argc - 1, argv + 1)) {
            genesis_usage(stdout);
            return 0;
        }
        return do_genesis(argc - 1, argv + 1);
    }
    if (strcmp(sub, "inspect") == 0) {
        if (cmd_wants_help(argc - 1, argv + 1)) {
            inspect_usage(stdout);
            return 0;
        }
        const char *file = NULL, *type = NULL;
        static const char *const o_type[] = {"--type", NULL};
        for (int i = 2; i < argc; i++) {
            int m = opt(argc, argv, &i, o_type, &type);
            if (m < 0) {
                return 2;
            }
            if (m > 0) {
                continue;
            }
            if (file != NULL || argv[i][0] == '-') {
                fprintf(stderr, "weft configtx inspect: unexpected argument '%s'\n\n", argv[i]);
                inspect_usage(stderr);
                return 2;
            }
            file = argv[i];
        }
        if (file == NULL) {
            inspect_usage(stderr);
            return 2;
        }
        return do_inspect(file, type);
    }
    if (sub[0] == '-') {
        /* configtxgen-style flags */
        return do_genesis(argc, argv);
    }
    fprintf(stderr, "weft configtx: unknown command '%s'\n\n", sub);
    top_usage(stderr);
    return 2;
}
