/* Unit tests for src/base/config*.c and the daemon tables in src/cmd/config_tables.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd/config_tables.h"
#include "testlib.h"
#include "weft/base.h"
#include "weft/config.h"

extern char **environ;

/* ---- helpers -------------------------------------------------------------- */

/* Removes every CORE_, ORDERER_ and FABRIC_ variable so tests are hermetic. */
static void clean_env(void)
{
    bool again = true;
    while (again) {
        again = false;
        for (char **e = environ; *e != NULL; e++) {
            if (strncasecmp(*e, "CORE_", 5) == 0 || strncasecmp(*e, "ORDERER_", 8) == 0 ||
                strncasecmp(*e, "FABRIC_", 7) == 0) {
                char name[256];
                size_t len = strcspn(*e, "=");
                assert_true(len < sizeof(name));
                memcpy(name, *e, len);
                name[len] = '\0';
                unsetenv(name);
                again = true;
                break;
            }
        }
    }
}

static int setup(void **state)
{
    (void)state;
    clean_env();
    return 0;
}

static struct weft_config *load_ok(const char *yaml, const char *prefix)
{
    struct weft_config *cfg = NULL;
    struct weft_err err = {0};
    int rc = weft_config_load_string(yaml, strlen(yaml), "t.yaml", prefix, &cfg, &err);
    if (rc != 0) {
        fail_msg("load failed: %s", err.msg);
    }
    return cfg;
}

static int load_err(const char *yaml, struct weft_err *err)
{
    struct weft_config *cfg = NULL;
    int rc = weft_config_load_string(yaml, strlen(yaml), "t.yaml", "CORE", &cfg, err);
    assert_null(cfg);
    return rc;
}

struct warns {
    int n;
    char msg[32][512];
};

static void collect(void *ctx, const char *msg)
{
    struct warns *w = ctx;
    if (w->n < 32) {
        snprintf(w->msg[w->n], sizeof(w->msg[0]), "%s", msg);
    }
    w->n++;
}

static bool warned(const struct warns *w, const char *needle)
{
    for (int i = 0; i < w->n && i < 32; i++) {
        if (strstr(w->msg[i], needle) != NULL) {
            return true;
        }
    }
    return false;
}

static char *sample_path(const char *name)
{
    return weft_asprintf("%s/config/%s", wt_source_dir(), name);
}

/* ---- loading errors -------------------------------------------------------- */

static void test_missing_file(void **state)
{
    (void)state;
    struct weft_config *cfg = NULL;
    struct weft_err err = {0};
    assert_int_equal(weft_config_load("/nonexistent/weft/core.yaml", "CORE", &cfg, &err), -ENOENT);
    assert_null(cfg);
    assert_non_null(strstr(err.msg, "/nonexistent/weft/core.yaml"));
}

static void test_unreadable(void **state)
{
    (void)state;
    char *dir = wt_tmpdir("cfg");
    struct weft_config *cfg = NULL;
    struct weft_err err = {0};
    /* A directory opens but cannot be read. */
    assert_int_equal(weft_config_load(dir, "CORE", &cfg, &err), -EISDIR);
    assert_non_null(strstr(err.msg, "read"));
    if (geteuid() != 0) { /* root reads anything */
        char *f = weft_asprintf("%s/core.yaml", dir);
        assert_int_equal(wt_write_file(f, "a: 1\n", 5), 0);
        assert_int_equal(chmod(f, 0), 0);
        assert_int_equal(weft_config_load(f, "CORE", &cfg, &err), -EACCES);
        weft_free(f);
    }
    assert_null(cfg);
    wt_rmtree(dir);
    weft_free(dir);
}

static void test_malformed_yaml(void **state)
{
    (void)state;
    struct weft_err err = {0};
    assert_int_equal(load_err("peer:\n  id: a\n  list: [1, 2\n  x: y\n", &err), WEFT_EPARSE);
    assert_non_null(strstr(err.msg, "t.yaml:"));
    assert_non_null(strstr(err.msg, "malformed YAML"));
    /* Where the parser gave up, and where the broken construct began. */
    assert_string_equal(err.msg, "t.yaml:4: malformed YAML: did not find expected ',' or ']' "
                                 "(while parsing a flow sequence at line 3)");

    assert_int_equal(load_err("a: 1\nb: *nope\n", &err), WEFT_EPARSE);
    assert_string_equal(err.msg, "t.yaml:2: malformed YAML: found undefined alias");

    assert_int_equal(load_err("a: b\n\tc: d\n", &err), WEFT_EPARSE);
    assert_non_null(strstr(err.msg, "t.yaml:2:"));

    assert_int_equal(load_err("a: b\n  c: d\n", &err), WEFT_EPARSE);
    assert_non_null(strstr(err.msg, "t.yaml:2:"));
}

static void test_bad_structure(void **state)
{
    (void)state;
    struct weft_err err = {0};
    assert_int_equal(load_err("- a\n- b\n", &err), WEFT_ECONFIG);
    assert_non_null(strstr(err.msg, "t.yaml:1: the top level must be a mapping"));

    assert_int_equal(load_err("peer:\n  id: a\n  ID: b\n", &err), WEFT_ECONFIG);
    assert_string_equal(err.msg, "t.yaml:3: duplicate key \"ID\"");

    assert_int_equal(load_err("? [a, b]\n: c\n", &err), WEFT_ECONFIG);
    assert_non_null(strstr(err.msg, "mapping keys must be scalars"));

    assert_int_equal(load_err("a: &x {b: 1}\nc:\n  <<: 5\n", &err), WEFT_ECONFIG);
    assert_non_null(strstr(err.msg, "t.yaml:3:"));

    /* Exponential alias expansion is stopped, not followed. */
    struct weft_buf b;
    weft_buf_init(&b, 1 << 20);
    assert_int_equal(weft_buf_appendf(&b, "l0: &a0 [x, x, x, x, x, x, x, x]\n"), 0);
    for (int i = 1; i < 10; i++) {
        assert_int_equal(weft_buf_appendf(&b,
                                          "l%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, "
                                          "*a%d, *a%d]\n",
                                          i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
                                          i - 1),
                         0);
    }
    assert_int_equal(load_err((const char *)b.data, &err), WEFT_ETOOBIG);
    weft_buf_close(&b);
}

static void test_empty_and_null(void **state)
{
    (void)state;
    struct weft_config *cfg = load_ok("", "CORE");
    assert_int_equal(weft_config_node_kind(weft_config_root(cfg)), WEFT_CONFIG_MAP);
    assert_int_equal(weft_config_node_len(weft_config_root(cfg)), 0);
    weft_config_free(cfg);

    cfg = load_ok("# only a comment\n", "CORE");
    assert_int_equal(weft_config_node_kind(weft_config_root(cfg)), WEFT_CONFIG_MAP);
    weft_config_free(cfg);

    /* Null values count as absent; a quoted empty string does not. */
    cfg = load_ok("a:\nb: ~\nc: null\nd: \"\"\n", NULL);
    struct weft_err err = {0};
    const char *s = "keep";
    assert_int_equal(weft_config_get_string(cfg, "a", &s, &err), WEFT_ENOTFOUND);
    assert_int_equal(weft_config_get_string(cfg, "b", &s, &err), WEFT_ENOTFOUND);
    assert_int_equal(weft_config_get_string(cfg, "c", &s, &err), WEFT_ENOTFOUND);
    assert_string_equal(s, "keep");
    assert_int_equal(weft_config_get_string(cfg, "d", &s, &err), 0);
    assert_string_equal(s, "");
    assert_int_equal(weft_config_node_kind(weft_config_lookup(cfg, "a")), WEFT_CONFIG_NULL);
    assert_false(weft_config_is_set(cfg, "a"));
    assert_true(weft_config_is_set(cfg, "d"));
    weft_config_free(cfg);
}

/* ---- typed getters ------------------------------------------------------- */

static const char *const typed_yaml = "peer:\n"
                                      "  id: peer7\n"
                                      "  keepalive:\n"
                                      "    interval: 1m30s\n"
                                      "    bad: 5x\n"
                                      "  tls:\n"
                                      "    enabled: true\n"
                                      "    other: yes\n"
                                      "    nope: maybe\n"
                                      "  count: -42\n"
                                      "  big: 18446744073709551615\n"
                                      "  word: abc\n"
                                      "  size: 10 MB\n"
                                      "  rawsize: 104857600\n"
                                      "  badsize: 10 XB\n"
                                      "  list:\n"
                                      "    - a\n"
                                      "    - b\n"
                                      "  spaced: a b  c\n"
                                      "  bracket: \"[x, y ,z]\"\n"
                                      "  empty: []\n"
                                      "  nested: {x: [1, {y: 2}]}\n";

static void test_typed_getters(void **state)
{
    (void)state;
    struct weft_config *cfg = load_ok(typed_yaml, NULL);
    struct weft_err err = {0};
    const char *s = NULL;
    bool b = false;
    int64_t i = 0;
    uint64_t u = 0;

    assert_int_equal(weft_config_get_string(cfg, "peer.id", &s, &err), 0);
    assert_string_equal(s, "peer7");
    /* Key paths are case-insensitive, as in viper. */
    assert_int_equal(weft_config_get_string(cfg, "PEER.ID", &s, &err), 0);
    assert_string_equal(s, "peer7");

    assert_int_equal(weft_config_get_duration(cfg, "peer.keepalive.interval", &i, &err), 0);
    assert_int_equal(i, 90LL * 1000000000LL);
    assert_int_equal(weft_config_get_duration(cfg, "peer.keepalive.bad", &i, &err), WEFT_ECONFIG);
    assert_non_null(strstr(err.msg, "t.yaml:5: peer.keepalive.bad: invalid duration \"5x\""));

    assert_int_equal(weft_config_get_bool(cfg, "peer.tls.enabled", &b, &err), 0);
    assert_true(b);
    b = false;
    assert_int_equal(weft_config_get_bool(cfg, "peer.tls.other", &b, &err), 0);
    assert_true(b);
    assert_int_equal(weft_config_get_bool(cfg, "peer.tls.nope", &b, &err), WEFT_ECONFIG);
    assert_string_equal(err.msg, "t.yaml:9: peer.tls.nope: invalid bool \"maybe\"");

    assert_int_equal(weft_config_get_i64(cfg, "peer.count", &i, &err), 0);
    assert_int_equal(i, -42);
    assert_int_equal(weft_config_get_i64(cfg, "peer.word", &i, &err), WEFT_ECONFIG);
    assert_string_equal(err.msg, "t.yaml:12: peer.word: invalid integer \"abc\"");
    assert_int_equal(weft_config_get_u64(cfg, "peer.big", &u, &err), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(weft_config_get_u64(cfg, "peer.count", &u, &err), WEFT_ECONFIG);

    assert_int_equal(weft_config_get_size(cfg, "peer.size", &u, &err), 0);
    assert_int_equal(u, 10u * 1024 * 1024);
    assert_int_equal(weft_config_get_size(cfg, "peer.rawsize", &u, &err), 0);
    assert_int_equal(u, 104857600u);
    assert_int_equal(weft_config_get_size(cfg, "peer.badsize", &u, &err), WEFT_ECONFIG);
    assert_non_null(strstr(err.msg, "t.yaml:15: peer.badsize: invalid size \"10 XB\""));

    /* A list where a single value is expected, and the other way round. */
    assert_int_equal(weft_config_get_string(cfg, "peer.list", &s, &err), WEFT_ECONFIG);
    assert_string_equal(err.msg, "t.yaml:16: peer.list: expected a single value, found a list");
    assert_int_equal(weft_config_get_i64(cfg, "peer.keepalive", &i, &err), WEFT_ECONFIG);
    assert_non_null(strstr(err.msg, "found a mapping"));

    char **list = NULL;
    size_t n = 0;
    assert_int_equal(weft_config_get_strlist(cfg, "peer.list", false, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0], "a");
    assert_string_equal(list[1], "b");
    assert_null(list[2]);
    weft_config_strlist_free(list);
    assert_int_equal(weft_config_get_strlist(cfg, "peer.spaced", false, &list, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(list[2], "c");
    weft_config_strlist_free(list);
    assert_int_equal(weft_config_get_strlist(cfg, "peer.bracket", false, &list, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(list[0], "x");
    assert_string_equal(list[1], "y");
    assert_string_equal(list[2], "z");
    weft_config_strlist_free(list);
    assert_int_equal(weft_config_get_strlist(cfg, "peer.empty", false, &list, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_null(list[0]);
    weft_config_strlist_free(list);
    assert_int_equal(weft_config_get_strlist(cfg, "peer.nested.x", false, &list, &n, &err),
                     WEFT_ECONFIG);
    assert_non_null(strstr(err.msg, "peer.nested.x[1]: expected a single value, found a mapping"));

    /* Unknown keys without a table: WEFT_ENOTFOUND and *out untouched. */
    i = 77;
    assert_int_equal(weft_config_get_i64(cfg, "peer.missing", &i, &err), WEFT_ENOTFOUND);
    assert_int_equal(i, 77);
    assert_non_null(strstr(err.msg, "peer.missing is not set"));
    weft_config_free(cfg);
}

static void test_paths(void **state)
{
    (void)state;
    char *dir = wt_tmpdir("cfgpath");
    char *f = weft_asprintf("%s/core.yaml", dir);
    const char *yaml = "a: msp\nb: /abs/x\nc: ./tls/ca.crt\nd: \"\"\nl: [x.pem, /y.pem]\n";
    assert_int_equal(wt_write_file(f, yaml, strlen(yaml)), 0);
    struct weft_config *cfg = NULL;
    struct weft_err err = {0};
    assert_int_equal(weft_config_load(f, "CORE", &cfg, &err), 0);
    assert_string_equal(weft_config_file(cfg), f);
    assert_string_equal(weft_config_dir(cfg), dir);
    char *p = NULL;
    char *want = weft_asprintf("%s/msp", dir);
    assert_int_equal(weft_config_get_path(cfg, "a", &p, &err), 0);
    assert_string_equal(p, want);
    weft_free(p);
    weft_free(want);
    assert_int_equal(weft_config_get_path(cfg, "b", &p, &err), 0);
    assert_string_equal(p, "/abs/x");
    weft_free(p);
    want = weft_asprintf("%s/tls/ca.crt", dir);
    assert_int_equal(weft_config_get_path(cfg, "c", &p, &err), 0);
    assert_string_equal(p, want);
    weft_free(p);
    weft_free(want);
    assert_int_equal(weft_config_get_path(cfg, "d", &p, &err), 0);
    assert_string_equal(p, "");
    weft_free(p);
    char **list = NULL;
    assert_int_equal(weft_config_get_strlist(cfg, "l", true, &list, NULL, &err), 0);
    want = weft_asprintf("%s/x.pem", dir);
    assert_string_equal(list[0], want);
    assert_string_equal(list[1], "/y.pem");
    weft_free(want);
    weft_config_strlist_free(list);
    weft_config_free(cfg);

    /* A relative file name resolves against the working directory. */
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(weft_config_load("core.yaml", "CORE", &cfg, &err), 0);
    assert_int_equal(chdir(cwd), 0);
    assert_string_equal(weft_config_dir(cfg), dir);
    weft_config_free(cfg);

    wt_rmtree(dir);
    weft_free(dir);
    weft_free(f);
}

/* ---- environment overrides ---------------------------------------------- */

static void test_env_override(void **state)
{
    (void)state;
    setenv("CORE_PEER_ID", "from-env", 1);
    setenv("CORE_PEER_GOSSIP_BOOTSTRAP", "h1:7051 h2:7051", 1);
    setenv("CORE_PEER_TLS_CLIENTROOTCAS_FILES", "[a.pem, b.pem]", 1);
    setenv("CORE_PEER_KEEPALIVE_INTERVAL", "5x", 1);
    setenv("ORDERER_PEER_ID", "wrong-prefix", 1);
    struct weft_config *cfg = load_ok("peer:\n  id: from-file\n  tls:\n    clientRootCAs:\n"
                                      "      files:\n        - x.pem\n",
                                      "CORE");
    unsetenv("CORE_PEER_ID");
    unsetenv("CORE_PEER_GOSSIP_BOOTSTRAP");
    unsetenv("CORE_PEER_TLS_CLIENTROOTCAS_FILES");
    unsetenv("CORE_PEER_KEEPALIVE_INTERVAL");
    unsetenv("ORDERER_PEER_ID");
    struct weft_err err = {0};
    const char *s = NULL;
    /* Present in the file: the environment wins, and the tree shows it. */
    assert_int_equal(weft_config_get_string(cfg, "peer.id", &s, &err), 0);
    assert_string_equal(s, "from-env");
    const struct weft_config_node *nd = weft_config_lookup(cfg, "peer.id");
    assert_string_equal(weft_config_node_value(nd), "from-env");
    assert_int_equal(weft_config_node_line(nd), 0);
    /* A list in the file replaced by the bracket form. */
    char **list = NULL;
    size_t n = 0;
    assert_int_equal(
        weft_config_get_strlist(cfg, "peer.tls.clientRootCAs.files", false, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[1], "b.pem");
    weft_config_strlist_free(list);
    /* Absent from the file: still overridden, space-separated list form. */
    assert_int_equal(weft_config_get_strlist(cfg, "peer.gossip.bootstrap", false, &list, &n, &err),
                     0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0], "h1:7051");
    assert_string_equal(list[1], "h2:7051");
    weft_config_strlist_free(list);
    assert_true(weft_config_is_set(cfg, "peer.gossip.bootstrap"));
    /* Errors in environment values name the variable. */
    int64_t ns;
    assert_int_equal(weft_config_get_duration(cfg, "peer.keepalive.interval", &ns, &err),
                     WEFT_ECONFIG);
    assert_non_null(strstr(err.msg, "env CORE_PEER_KEEPALIVE_INTERVAL: peer.keepalive.interval: "
                                    "invalid duration \"5x\""));
    weft_config_free(cfg);

    /* The snapshot is taken at load: later changes are not seen. */
    cfg = load_ok("peer:\n  id: f\n", "CORE");
    setenv("CORE_PEER_ID", "late", 1);
    assert_int_equal(weft_config_get_string(cfg, "peer.id", &s, &err), 0);
    assert_string_equal(s, "f");
    unsetenv("CORE_PEER_ID");
    weft_config_free(cfg);
}

static void test_env_case_insensitive(void **state)
{
    (void)state;
    /* Mixed-case file keys and variable names all meet. */
    setenv("ORDERER_GENERAL_LISTENPORT", "8050", 1);
    setenv("orderer_general_listenaddress", "10.0.0.1", 1);
    struct weft_config *cfg =
        load_ok("general:\n  listenport: 7050\n  LISTENADDRESS: 127.0.0.1\n", "ORDERER");
    unsetenv("ORDERER_GENERAL_LISTENPORT");
    unsetenv("orderer_general_listenaddress");
    struct weft_err err = {0};
    assert_int_equal(
        weft_config_check(cfg, cmd_config_orderer_keys, cmd_config_orderer_nkeys, NULL, NULL, &err),
        0);
    int64_t port = 0;
    const char *s = NULL;
    assert_int_equal(weft_config_get_i64(cfg, "General.ListenPort", &port, &err), 0);
    assert_int_equal(port, 8050);
    assert_int_equal(weft_config_get_string(cfg, "General.ListenAddress", &s, &err), 0);
    assert_string_equal(s, "10.0.0.1");
    weft_config_free(cfg);
}

static void test_env_with_table(void **state)
{
    (void)state;
    setenv("CORE_PEER_TLS_ENABLED", "maybe", 1);
    struct weft_config *cfg = load_ok("peer:\n  id: x\n", "CORE");
    unsetenv("CORE_PEER_TLS_ENABLED");
    struct weft_err err = {0};
    struct warns w = {0};
    assert_int_equal(
        weft_config_check(cfg, cmd_config_core_keys, cmd_config_core_nkeys, collect, &w, &err),
        WEFT_ECONFIG);
    assert_string_equal(err.msg,
                        "env CORE_PEER_TLS_ENABLED: peer.tls.enabled: invalid bool \"maybe\"");
    weft_config_free(cfg);

    /* Env-only keys, explicit variable names, and unknown variables. */
    setenv("FABRIC_LOGGING_SPEC", "debug:msp=info", 1);
    setenv("CORE_PEER_LISTENADRESS", "typo", 1);
    setenv("CORE_LEDGER_STATE_STATEDATABASE", "CouchDB", 1);
    cfg = load_ok("FABRIC_LOGGING_SPEC: warn\npeer:\n  id: x\n", "CORE");
    unsetenv("FABRIC_LOGGING_SPEC");
    unsetenv("CORE_PEER_LISTENADRESS");
    unsetenv("CORE_LEDGER_STATE_STATEDATABASE");
    memset(&w, 0, sizeof(w));
    assert_int_equal(
        weft_config_check(cfg, cmd_config_core_keys, cmd_config_core_nkeys, collect, &w, &err), 0);
    const char *s = NULL;
    assert_int_equal(weft_config_get_string(cfg, "FABRIC_LOGGING_SPEC", &s, &err), 0);
    assert_string_equal(s, "debug:msp=info");
    assert_int_equal(weft_config_get_string(cfg, "FABRIC_LOGGING_FORMAT", &s, &err), 0);
    assert_string_equal(s, "console");
    assert_int_equal(weft_config_get_string(cfg, "ledger.state.stateDatabase", &s, &err), 0);
    assert_string_equal(s, "CouchDB");
    assert_int_equal(w.n, 2);
    assert_true(warned(&w, "t.yaml:1: FABRIC_LOGGING_SPEC is read from the environment only"));
    assert_true(warned(&w, "environment variable CORE_PEER_LISTENADRESS matches no known key"));
    weft_config_free(cfg);
}

/* ---- validation against tables ------------------------------------------- */

static void test_check_errors(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        const char *msg;
    } cases[] = {
        {"peer:\n  id: [a, b]\n", "t.yaml:2: peer.id: expected a single value, found a list"},
        {"peer:\n  keepalive:\n    interval: 5x\n",
         "t.yaml:3: peer.keepalive.interval: invalid duration \"5x\""},
        {"peer:\n  maxRecvMsgSize: lots\n", "t.yaml:2: peer.maxRecvMsgSize: invalid size \"lots\""},
        {"peer:\n  maxRecvMsgSize: 4 GB\n", "t.yaml:2: peer.maxRecvMsgSize: 4 GB is out of range"},
        {"peer:\n  tls:\n    enabled: sure\n", "t.yaml:3: peer.tls.enabled: invalid bool \"sure\""},
        {"peer:\n  limits:\n    concurrency:\n      gatewayService: abc\n",
         "t.yaml:4: peer.limits.concurrency.gatewayService: invalid integer \"abc\""},
        {"metrics:\n  provider: graphite\n",
         "t.yaml:2: metrics.provider: \"graphite\" is not one of: disabled, prometheus, statsd"},
        {"peer:\n  tls: yes\n", "t.yaml:2: peer.tls: expected a mapping, found a single value"},
        {"chaincode:\n  keepalive: -1\n",
         "t.yaml:2: chaincode.keepalive: -1 is out of range [0, 86400]"},
        {"peer:\n  tls:\n    clientRootCAs:\n      files: {a: b}\n",
         "t.yaml:4: peer.tls.clientRootCAs.files: expected a single value, found a mapping"},
    };
    for (size_t i = 0; i < WEFT_ARRAY_LEN(cases); i++) {
        struct weft_config *cfg = load_ok(cases[i].yaml, "CORE");
        struct weft_err err = {0};
        struct warns w = {0};
        int rc =
            weft_config_check(cfg, cmd_config_core_keys, cmd_config_core_nkeys, collect, &w, &err);
        if (rc != WEFT_ECONFIG || strstr(err.msg, cases[i].msg) == NULL) {
            fail_msg("case %zu: rc %d msg \"%s\", want \"%s\"", i, rc, err.msg, cases[i].msg);
        }
        weft_config_free(cfg);
    }
    /* Orderer bounds. */
    struct weft_config *cfg = load_ok("General:\n  ListenPort: 70000\n", "ORDERER");
    struct weft_err err = {0};
    assert_int_equal(
        weft_config_check(cfg, cmd_config_orderer_keys, cmd_config_orderer_nkeys, NULL, NULL, &err),
        WEFT_ECONFIG);
    assert_string_equal(err.msg, "t.yaml:2: General.ListenPort: 70000 is out of range [0, 65535]");
    weft_config_free(cfg);
}

static void test_unknown_keys(void **state)
{
    (void)state;
    struct weft_config *cfg = load_ok("peer:\n"
                                      "  id: x\n"
                                      "  foo: 1\n"
                                      "  tls:\n"
                                      "    enabled: false\n"
                                      "    extra:\n"
                                      "      deep: 1\n"
                                      "chaincode:\n"
                                      "  externalBuilders:\n"
                                      "    - name: b\n"
                                      "      anything: goes\n"
                                      "vm:\n"
                                      "  endpoint: unix:///var/run/docker.sock\n",
                                      "CORE");
    struct weft_err err = {0};
    struct warns w = {0};
    assert_int_equal(
        weft_config_check(cfg, cmd_config_core_keys, cmd_config_core_nkeys, collect, &w, &err), 0);
    assert_int_equal(w.n, 3);
    assert_true(warned(&w, "t.yaml:3: unknown key peer.foo (ignored)"));
    assert_true(warned(&w, "t.yaml:6: unknown key peer.tls.extra (ignored)"));
    assert_true(warned(&w, "t.yaml:12: unknown key vm (ignored)"));
    weft_config_free(cfg);
}

static void test_defaults_from_table(void **state)
{
    (void)state;
    struct weft_config *cfg = load_ok("peer:\n  id: x\n", "CORE");
    struct weft_err err = {0};
    assert_int_equal(
        weft_config_check(cfg, cmd_config_core_keys, cmd_config_core_nkeys, NULL, NULL, &err), 0);
    int64_t ns = 0;
    assert_int_equal(weft_config_get_duration(cfg, "chaincode.executetimeout", &ns, &err), 0);
    assert_int_equal(ns, 30LL * 1000000000LL);
    uint64_t sz = 0;
    assert_int_equal(weft_config_get_size(cfg, "peer.maxRecvMsgSize", &sz, &err), 0);
    assert_int_equal(sz, 100u * 1024 * 1024);
    bool b = true;
    assert_int_equal(weft_config_get_bool(cfg, "peer.tls.enabled", &b, &err), 0);
    assert_false(b);
    assert_false(weft_config_is_set(cfg, "peer.tls.enabled"));
    /* No default: unset. */
    assert_int_equal(weft_config_lookup(cfg, "chaincode.externalBuilders"), NULL);
    const char *s;
    assert_int_equal(weft_config_get_string(cfg, "chaincode.externalBuilders", &s, &err),
                     WEFT_ENOTFOUND);
    weft_config_free(cfg);
}

/* Every table: unique keys, documented, and every default valid for its type. */
static void check_table(const struct weft_config_key *t, size_t n, const char *prefix)
{
    for (size_t i = 0; i < n; i++) {
        assert_non_null(t[i].doc);
        assert_true(strlen(t[i].doc) > 5);
        assert_null(strchr(t[i].doc, '|'));
        assert_null(strchr(t[i].doc, '\n'));
        for (size_t j = i + 1; j < n; j++) {
            if (strcasecmp(t[i].path, t[j].path) == 0) {
                fail_msg("duplicate key %s", t[i].path);
            }
        }
    }
    struct weft_config *cfg = load_ok("", prefix);
    struct weft_err err = {0};
    struct warns w = {0};
    int rc = weft_config_check(cfg, t, n, collect, &w, &err);
    if (rc != 0) {
        fail_msg("defaults do not validate: %s", err.msg);
    }
    assert_int_equal(w.n, 0);
    weft_config_free(cfg);
}

static void test_tables(void **state)
{
    (void)state;
    check_table(cmd_config_core_keys, cmd_config_core_nkeys, "CORE");
    check_table(cmd_config_orderer_keys, cmd_config_orderer_nkeys, "ORDERER");
    /* The keys the brief promised are present. */
    static const char *const core_need[] = {"peer.id",
                                            "peer.networkId",
                                            "peer.listenAddress",
                                            "peer.chaincodeListenAddress",
                                            "peer.address",
                                            "peer.fileSystemPath",
                                            "peer.mspConfigPath",
                                            "peer.localMspId",
                                            "peer.tls.enabled",
                                            "peer.tls.clientAuthRequired",
                                            "peer.tls.cert.file",
                                            "peer.tls.key.file",
                                            "peer.tls.rootcert.file",
                                            "peer.tls.clientRootCAs.files",
                                            "peer.keepalive.interval",
                                            "peer.gateway.enabled",
                                            "peer.discovery.enabled",
                                            "peer.gossip.bootstrap",
                                            "peer.gossip.externalEndpoint",
                                            "peer.maxRecvMsgSize",
                                            "peer.maxSendMsgSize",
                                            "ledger.state.stateDatabase",
                                            "ledger.history.enableHistoryDatabase",
                                            "chaincode.externalBuilders",
                                            "chaincode.executetimeout",
                                            "operations.listenAddress",
                                            "operations.tls.enabled",
                                            "metrics.provider",
                                            "FABRIC_LOGGING_SPEC",
                                            "FABRIC_LOGGING_FORMAT"};
    for (size_t i = 0; i < WEFT_ARRAY_LEN(core_need); i++) {
        if (weft_config_key_find(cmd_config_core_keys, cmd_config_core_nkeys, core_need[i]) ==
            NULL) {
            fail_msg("core table lacks %s", core_need[i]);
        }
    }
    static const char *const ord_need[] = {
        "General.ListenAddress",    "General.ListenPort",
        "General.TLS.Enabled",      "General.Keepalive.ServerInterval",
        "General.MaxRecvMsgSize",   "General.Cluster.ListenPort",
        "General.BootstrapMethod",  "General.LocalMSPDir",
        "General.LocalMSPID",       "FileLedger.Location",
        "Consensus.WALDir",         "Consensus.SnapDir",
        "Operations.ListenAddress", "Metrics.Provider",
        "Admin.ListenAddress",      "ChannelParticipation.Enabled",
        "FABRIC_LOGGING_SPEC"};
    for (size_t i = 0; i < WEFT_ARRAY_LEN(ord_need); i++) {
        if (weft_config_key_find(cmd_config_orderer_keys, cmd_config_orderer_nkeys, ord_need[i]) ==
            NULL) {
            fail_msg("orderer table lacks %s", ord_need[i]);
        }
    }
    char *env = weft_config_key_env_name(
        weft_config_key_find(cmd_config_core_keys, cmd_config_core_nkeys, "peer.tls.cert.file"),
        "CORE");
    assert_string_equal(env, "CORE_PEER_TLS_CERT_FILE");
    weft_free(env);
}

/* ---- samples -------------------------------------------------------------- */

static struct weft_config *load_sample(const char *file, enum cmd_config_daemon d)
{
    const struct cmd_config_daemon_info *info = cmd_config_daemon_info(d);
    char *path = sample_path(file);
    struct weft_config *cfg = NULL;
    struct weft_err err = {0};
    if (weft_config_load(path, info->env_prefix, &cfg, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    struct warns w = {0};
    if (weft_config_check(cfg, info->keys, info->nkeys, collect, &w, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    if (w.n != 0) {
        fail_msg("%s: %d warnings, first: %s", file, w.n, w.msg[0]);
    }
    weft_free(path);
    return cfg;
}

static void test_samples(void **state)
{
    (void)state;
    struct weft_err err = {0};
    const char *s = NULL;
    bool b = true;
    int64_t i = 0;
    char *p = NULL;

    struct weft_config *cfg = load_sample("core.yaml", CMD_CONFIG_PEER);
    assert_int_equal(weft_config_get_string(cfg, "peer.listenAddress", &s, &err), 0);
    assert_string_equal(s, "0.0.0.0:7051");
    assert_int_equal(weft_config_get_string(cfg, "operations.listenAddress", &s, &err), 0);
    assert_string_equal(s, "127.0.0.1:9443");
    assert_int_equal(weft_config_get_bool(cfg, "peer.tls.enabled", &b, &err), 0);
    assert_false(b);
    assert_int_equal(weft_config_get_path(cfg, "peer.fileSystemPath", &p, &err), 0);
    char *want = weft_asprintf("%s/config/weft-data/peer", wt_source_dir());
    assert_string_equal(p, want);
    weft_free(want);
    weft_free(p);
    weft_config_free(cfg);

    cfg = load_sample("orderer.yaml", CMD_CONFIG_ORDERER);
    assert_int_equal(weft_config_get_i64(cfg, "General.ListenPort", &i, &err), 0);
    assert_int_equal(i, 7050);
    assert_int_equal(weft_config_get_string(cfg, "Admin.ListenAddress", &s, &err), 0);
    assert_string_equal(s, "127.0.0.1:7053");
    assert_int_equal(weft_config_get_string(cfg, "Operations.ListenAddress", &s, &err), 0);
    assert_string_equal(s, "127.0.0.1:8443");
    assert_int_equal(weft_config_get_string(cfg, "General.BootstrapMethod", &s, &err), 0);
    assert_string_equal(s, "none");
    assert_int_equal(weft_config_get_bool(cfg, "ChannelParticipation.Enabled", &b, &err), 0);
    assert_true(b);
    uint64_t sz = 0;
    assert_int_equal(weft_config_get_size(cfg, "General.MaxRecvMsgSize", &sz, &err), 0);
    assert_int_equal(sz, 100u * 1024 * 1024);
    weft_config_free(cfg);
}

/* Loading a sample fails cleanly at every allocation. */
static void torture(const char *file, enum cmd_config_daemon d)
{
    const struct cmd_config_daemon_info *info = cmd_config_daemon_info(d);
    char *path = sample_path(file);
    struct weft_config *cfg = NULL;
    struct weft_err err = {0};
    struct warns w = {0};

    (void)weft_alloc_fail_after(0);
    assert_int_equal(weft_config_load(path, info->env_prefix, &cfg, &err), 0);
    assert_int_equal(weft_config_check(cfg, info->keys, info->nkeys, collect, &w, &err), 0);
    uint64_t total = weft_alloc_fail_after(0);
    weft_config_free(cfg);
    assert_true(total > 50);

    for (uint64_t n = 1; n <= total + 1; n++) {
        cfg = NULL;
        (void)weft_alloc_fail_after(n);
        int rc = weft_config_load(path, info->env_prefix, &cfg, &err);
        if (rc == 0) {
            rc = weft_config_check(cfg, info->keys, info->nkeys, collect, &w, &err);
        }
        (void)weft_alloc_fail_after(0);
        if (n <= total && rc != WEFT_ENOMEM) {
            fail_msg("%s: allocation %llu of %llu failed but rc = %d (%s)", file,
                     (unsigned long long)n, (unsigned long long)total, rc, err.msg);
        }
        if (n > total) {
            assert_int_equal(rc, 0);
        }
        weft_config_free(cfg);
    }
    weft_free(path);
}

static void test_alloc_torture(void **state)
{
    (void)state;
    torture("core.yaml", CMD_CONFIG_PEER);
    torture("orderer.yaml", CMD_CONFIG_ORDERER);
}

/* ---- tree API ------------------------------------------------------------- */

static void test_tree(void **state)
{
    (void)state;
    struct weft_config *cfg = load_ok("base: &base\n"
                                      "  propagateEnvironment: [A, B]\n"
                                      "  timeout: 10s\n"
                                      "chaincode:\n"
                                      "  externalBuilders:\n"
                                      "    - name: ccaas\n"
                                      "      path: /opt/ccaas\n"
                                      "    - <<: *base\n"
                                      "      name: other\n"
                                      "      timeout: 5q\n",
                                      "CORE");
    struct weft_err err = {0};
    const struct weft_config_node *eb = weft_config_lookup(cfg, "chaincode.externalBuilders");
    assert_int_equal(weft_config_node_kind(eb), WEFT_CONFIG_SEQ);
    assert_int_equal(weft_config_node_len(eb), 2);
    const struct weft_config_node *b0 = weft_config_node_at(eb, 0);
    assert_int_equal(weft_config_node_kind(b0), WEFT_CONFIG_MAP);
    assert_null(weft_config_node_key(b0));
    const char *s = NULL;
    assert_int_equal(weft_config_node_string(cfg, weft_config_node_child(b0, "NAME"), &s, &err), 0);
    assert_string_equal(s, "ccaas");
    assert_int_equal(weft_config_node_line(weft_config_node_child(b0, "path")), 7);
    assert_null(weft_config_node_at(eb, 2));

    const struct weft_config_node *b1 = weft_config_node_at(eb, 1);
    /* Explicit keys win over merged ones; merged ones are added. */
    assert_int_equal(weft_config_node_len(b1), 3);
    assert_string_equal(weft_config_node_key(weft_config_node_at(b1, 0)), "name");
    const struct weft_config_node *pe = weft_config_node_child(b1, "propagateEnvironment");
    assert_int_equal(weft_config_node_len(pe), 2);
    assert_string_equal(weft_config_node_value(weft_config_node_at(pe, 1)), "B");
    int64_t ns;
    assert_int_equal(
        weft_config_node_duration(cfg, weft_config_node_child(b1, "timeout"), &ns, &err),
        WEFT_ECONFIG);
    assert_non_null(
        strstr(err.msg, "t.yaml:10: chaincode.externalBuilders[1].timeout: invalid duration"));
    char *path = weft_config_node_path(weft_config_node_child(b1, "name"));
    assert_string_equal(path, "chaincode.externalBuilders[1].name");
    weft_free(path);
    assert_int_equal(weft_config_node_i64(cfg, NULL, &ns, &err), WEFT_ENOTFOUND);
    assert_null(weft_config_node_value(eb));
    assert_null(weft_config_lookup(cfg, "chaincode.externalBuilders.name"));
    assert_null(weft_config_lookup(cfg, "nothing.here"));
    weft_config_free(cfg);
}

/* ---- discovery ------------------------------------------------------------ */

static void test_find(void **state)
{
    (void)state;
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    char *dir = wt_tmpdir("cfgfind");
    char *cfgdir = weft_asprintf("%s/config", dir);
    char *other = weft_asprintf("%s/other", dir);
    assert_int_equal(mkdir(cfgdir, 0755), 0);
    assert_int_equal(mkdir(other, 0755), 0);
    char *f_cfg = weft_asprintf("%s/core.yaml", cfgdir);
    char *f_other = weft_asprintf("%s/core.yaml", other);
    char *f_here = weft_asprintf("%s/core.yaml", dir);
    assert_int_equal(wt_write_file(f_cfg, "peer: {}\n", 9), 0);
    assert_int_equal(wt_write_file(f_other, "peer: {}\n", 9), 0);
    assert_int_equal(chdir(dir), 0);

    char *p = NULL;
    struct weft_err err = {0};
    /* ./config/core.yaml when nothing else is there. */
    assert_int_equal(weft_config_find(NULL, "core.yaml", &p, &err), 0);
    assert_string_equal(p, "./config/core.yaml");
    weft_free(p);
    /* ./core.yaml comes before ./config/core.yaml. */
    assert_int_equal(wt_write_file(f_here, "peer: {}\n", 9), 0);
    assert_int_equal(weft_config_find(NULL, "core.yaml", &p, &err), 0);
    assert_string_equal(p, "./core.yaml");
    weft_free(p);
    /* FABRIC_CFG_PATH comes before both... */
    setenv("FABRIC_CFG_PATH", other, 1);
    assert_int_equal(weft_config_find(NULL, "core.yaml", &p, &err), 0);
    assert_string_equal(p, f_other);
    weft_free(p);
    /* ...and when set, it is the only place looked at. */
    assert_int_equal(weft_config_find(NULL, "orderer.yaml", &p, &err), WEFT_ENOTFOUND);
    assert_non_null(strstr(err.msg, "FABRIC_CFG_PATH"));
    /* --config beats everything; a directory gets the file name added. */
    assert_int_equal(weft_config_find(f_cfg, "core.yaml", &p, &err), 0);
    assert_string_equal(p, f_cfg);
    weft_free(p);
    assert_int_equal(weft_config_find(cfgdir, "core.yaml", &p, &err), 0);
    assert_string_equal(p, f_cfg);
    weft_free(p);
    assert_int_equal(weft_config_find("/nonexistent/x.yaml", "core.yaml", &p, &err),
                     WEFT_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/x.yaml"));
    unsetenv("FABRIC_CFG_PATH");
    /* Nothing anywhere. */
    struct stat st;
    if (stat("/etc/hyperledger/fabric/orderer.yaml", &st) != 0) {
        assert_int_equal(weft_config_find(NULL, "orderer.yaml", &p, &err), WEFT_ENOTFOUND);
        assert_non_null(strstr(err.msg, "orderer.yaml not found in ., ./config"));
    }
    assert_int_equal(chdir(cwd), 0);

    /* cmd_config_open: find + load + check in one call. */
    setenv("FABRIC_CFG_PATH", other, 1);
    struct weft_config *cfg = NULL;
    assert_int_equal(cmd_config_open(CMD_CONFIG_PEER, NULL, &cfg, &err), 0);
    assert_string_equal(weft_config_file(cfg), f_other);
    weft_config_free(cfg);
    unsetenv("FABRIC_CFG_PATH");
    char *sample = sample_path("orderer.yaml");
    assert_int_equal(cmd_config_open(CMD_CONFIG_ORDERER, sample, &cfg, &err), 0);
    weft_config_free(cfg);
    weft_free(sample);

    wt_rmtree(dir);
    weft_free(dir);
    weft_free(cfgdir);
    weft_free(other);
    weft_free(f_cfg);
    weft_free(f_other);
    weft_free(f_here);
}

/* ---- dump and docs -------------------------------------------------------- */

static void test_dump(void **state)
{
    (void)state;
    setenv("CORE_PEER_ID", "envpeer", 1);
    setenv("CORE_LEDGER_STATE_COUCHDBCONFIG_PASSWORD", "hunter2", 1);
    struct weft_config *cfg =
        load_ok("peer:\n  mspConfigPath: /m\n"
                "chaincode:\n  externalBuilders:\n    - {name: a, path: /b}\n",
                "CORE");
    unsetenv("CORE_PEER_ID");
    unsetenv("CORE_LEDGER_STATE_COUCHDBCONFIG_PASSWORD");
    struct weft_err err = {0};
    assert_int_equal(
        weft_config_check(cfg, cmd_config_core_keys, cmd_config_core_nkeys, NULL, NULL, &err), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(weft_config_dump(cfg, cmd_config_core_keys, cmd_config_core_nkeys, f), 0);
    fclose(f);
    assert_non_null(strstr(buf, "peer.id = envpeer  # env CORE_PEER_ID\n"));
    assert_non_null(strstr(buf, "peer.mspConfigPath = /m  # t.yaml:2\n"));
    assert_non_null(strstr(buf, "peer.tls.enabled = false  # default\n"));
    assert_non_null(
        strstr(buf, "chaincode.externalBuilders = [{name: a, path: /b}]  # t.yaml:4\n"));
    assert_non_null(strstr(buf, "peer.deliveryclient.addressOverrides = (unset)\n"));
    assert_non_null(strstr(buf, "ledger.state.couchDBConfig.password = <redacted>"));
    assert_null(strstr(buf, "hunter2"));
    free(buf); /* allocated by open_memstream */

    buf = NULL;
    f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(
        weft_config_keys_print(cmd_config_core_keys, cmd_config_core_nkeys, "CORE", false, f), 0);
    fclose(f);
    assert_non_null(strstr(buf, "  peer.keepalive.interval (duration, default 7200s, env "
                                "CORE_PEER_KEEPALIVE_INTERVAL)\n"));
    free(buf);
    weft_config_free(cfg);
}

static char *markdown_table(const struct weft_config_key *t, size_t n, const char *prefix)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(weft_config_keys_print(t, n, prefix, true, f), 0);
    fclose(f);
    char *copy = weft_strdup(buf);
    free(buf);
    return copy;
}

/* Replaces (update) or compares the text between the markers for one file. */
static bool doc_section(char **doc, const char *file, const char *want, bool update)
{
    char *begin = weft_asprintf("<!-- BEGIN KEYS %s -->\n", file);
    char *end = weft_asprintf("<!-- END KEYS %s -->", file);
    char *b = strstr(*doc, begin);
    char *e = b ? strstr(b, end) : NULL;
    if (b == NULL || e == NULL) {
        fail_msg("docs/configuration.md lacks the markers %s / %s", begin, end);
    }
    b += strlen(begin);
    bool same = (size_t)(e - b) == strlen(want) && memcmp(b, want, strlen(want)) == 0;
    if (!same && update) {
        char *n = weft_asprintf("%.*s%s%s", (int)(b - *doc), *doc, want, e);
        weft_free(*doc);
        *doc = n;
    }
    weft_free(begin);
    weft_free(end);
    return same;
}

static void test_docs_in_sync(void **state)
{
    (void)state;
    char *path = weft_asprintf("%s/docs/configuration.md", wt_source_dir());
    size_t len = 0;
    char *doc = wt_read_file(path, &len);
    assert_non_null(doc);
    const char *upd = getenv("WEFT_UPDATE_DOCS");
    bool update = upd != NULL && strcmp(upd, "1") == 0;
    char *core = markdown_table(cmd_config_core_keys, cmd_config_core_nkeys, "CORE");
    char *ord = markdown_table(cmd_config_orderer_keys, cmd_config_orderer_nkeys, "ORDERER");
    bool ok = doc_section(&doc, "core.yaml", core, update);
    ok = doc_section(&doc, "orderer.yaml", ord, update) && ok;
    if (!ok && update) {
        assert_int_equal(wt_write_file(path, doc, strlen(doc)), 0);
        print_message("updated %s\n", path);
    } else if (!ok) {
        fail_msg("docs/configuration.md key tables differ from src/cmd/config_tables.c; "
                 "run WEFT_UPDATE_DOCS=1 test_config to regenerate them");
    }
    weft_free(core);
    weft_free(ord);
    weft_free(doc);
    weft_free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_missing_file, setup),
        cmocka_unit_test_setup(test_unreadable, setup),
        cmocka_unit_test_setup(test_malformed_yaml, setup),
        cmocka_unit_test_setup(test_bad_structure, setup),
        cmocka_unit_test_setup(test_empty_and_null, setup),
        cmocka_unit_test_setup(test_typed_getters, setup),
        cmocka_unit_test_setup(test_paths, setup),
        cmocka_unit_test_setup(test_env_override, setup),
        cmocka_unit_test_setup(test_env_case_insensitive, setup),
        cmocka_unit_test_setup(test_env_with_table, setup),
        cmocka_unit_test_setup(test_check_errors, setup),
        cmocka_unit_test_setup(test_unknown_keys, setup),
        cmocka_unit_test_setup(test_defaults_from_table, setup),
        cmocka_unit_test_setup(test_tables, setup),
        cmocka_unit_test_setup(test_samples, setup),
        cmocka_unit_test_setup(test_alloc_torture, setup),
        cmocka_unit_test_setup(test_tree, setup),
        cmocka_unit_test_setup(test_find, setup),
        cmocka_unit_test_setup(test_dump, setup),
        cmocka_unit_test_setup(test_docs_in_sync, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
