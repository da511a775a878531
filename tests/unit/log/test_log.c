/* Unit tests for src/base/log.c: Fabric logging specs, per-logger levels,
 * run-time changes, console and JSON output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "weft/log.h"

WEFT_LOGGER(lg_gossip, "gossip");
WEFT_LOGGER(lg_gossip_comm, "gossip.comm");
WEFT_LOGGER(lg_gossipy, "gossipy");
WEFT_LOGGER(lg_ledger, "ledger");

struct capture {
    char text[8192];
    size_t len;
    int records;
};

static void sink(void *ctx, enum weft_log_level level, const char *line, size_t len)
{
    (void)level;
    struct capture *c = ctx;
    if (c->len + len < sizeof(c->text)) {
        memcpy(c->text + c->len, line, len);
        c->len += len;
        c->text[c->len] = '\0';
    }
    c->records++;
}

static int reset(void **state)
{
    (void)state;
    weft_log_sink_set(NULL, NULL);
    weft_log_format_set(WEFT_LOG_FORMAT_CONSOLE);
    return weft_log_spec_set("info", NULL);
}

static enum weft_log_level level_for(const char *spec, const char *name)
{
    enum weft_log_level l = WEFT_LOG_OFF;
    assert_int_equal(weft_log_spec_level_for(spec, name, &l), 0);
    return l;
}

static void test_spec_levels(void **state)
{
    (void)state;
    const char *spec = "info:gossip=debug:ledger,msp=warning";
    assert_int_equal(level_for(spec, "gossip"), WEFT_LOG_DEBUG);
    assert_int_equal(level_for(spec, "gossip.comm"), WEFT_LOG_DEBUG); /* dotted child */
    assert_int_equal(level_for(spec, "gossipy"), WEFT_LOG_INFO);      /* not a child */
    assert_int_equal(level_for(spec, "ledger"), WEFT_LOG_WARN);
    assert_int_equal(level_for(spec, "msp"), WEFT_LOG_WARN);
    assert_int_equal(level_for(spec, "peer"), WEFT_LOG_INFO);
    /* longest matching name wins, wherever it sits in the spec */
    assert_int_equal(level_for("gossip.comm=error:gossip=debug", "gossip.comm.x"), WEFT_LOG_ERROR);
    /* the default may come last, and a later term for a name replaces it */
    assert_int_equal(level_for("peer=debug:peer=error:warn", "peer"), WEFT_LOG_ERROR);
    assert_int_equal(level_for("peer=debug:warn", "other"), WEFT_LOG_WARN);
    /* Fabric's aliases */
    assert_int_equal(level_for("fatal", "x"), WEFT_LOG_ERROR);
    assert_int_equal(level_for("PANIC", "x"), WEFT_LOG_ERROR);
    assert_int_equal(level_for("", "x"), WEFT_LOG_INFO);
}

static void test_spec_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "chatty", "gossip=loud", "=debug", "gossip,=debug", "info::debug", ".x=debug",
        "a b=debug", "info:",
    };
    for (size_t i = 0; i < WEFT_ARRAY_LEN(bad); i++) {
        struct weft_err err = {0};
        assert_int_equal(weft_log_spec_check(bad[i], &err), WEFT_EINVAL);
        assert_non_null(strstr(err.msg, "invalid logging specification"));
    }
    /* a failed set leaves the active spec unchanged */
    assert_int_equal(weft_log_spec_set("gossip=debug:warn", NULL), 0);
    struct weft_err err = {0};
    assert_int_equal(weft_log_spec_set("gossip=verbose", &err), WEFT_EINVAL);
    assert_non_null(strstr(err.msg, "verbose"));
    char *now = weft_log_spec_get();
    assert_string_equal(now, "gossip=debug:warn");
    weft_free(now);
}

static void test_runtime_change(void **state)
{
    (void)state;
    struct capture c = {0};
    weft_log_sink_set(sink, &c);
    WEFT_DEBUG(lg_gossip, "hidden %d", 1);
    assert_int_equal(c.records, 0);
    assert_int_equal(weft_log_spec_set("info:gossip=debug", NULL), 0);
    WEFT_DEBUG(lg_gossip, "shown %d", 2);
    WEFT_DEBUG(lg_gossip_comm, "child %d", 3);
    WEFT_DEBUG(lg_gossipy, "sibling %d", 4);
    WEFT_INFO(lg_ledger, "info %d", 5);
    assert_int_equal(c.records, 3);
    assert_non_null(strstr(c.text, "DEBU [gossip] test_log.c:"));
    assert_non_null(strstr(c.text, "shown 2"));
    assert_non_null(strstr(c.text, "child 3"));
    assert_null(strstr(c.text, "sibling 4"));
    assert_non_null(strstr(c.text, "INFO [ledger]"));
    assert_int_equal(weft_log_spec_set("error", NULL), 0);
    WEFT_WARN(lg_ledger, "now hidden");
    assert_int_equal(c.records, 3);
    assert_true(weft_log_enabled(&lg_ledger, WEFT_LOG_ERROR));
    assert_false(weft_log_enabled(&lg_gossip, WEFT_LOG_WARN));
}

static void test_json_format(void **state)
{
    (void)state;
    struct capture c = {0};
    weft_log_sink_set(sink, &c);
    assert_int_equal(weft_log_format_set_name("json"), 0);
    WEFT_WARN(lg_ledger, "quote \" backslash \\ newline \n end");
    assert_int_equal(c.records, 1);
    assert_non_null(strstr(c.text, "{\"level\":\"warn\",\"ts\":"));
    assert_non_null(strstr(c.text, "\"name\":\"ledger\""));
    assert_non_null(strstr(c.text, "\"msg\":\"quote \\\" backslash \\\\ newline \\u000a end\"}\n"));
    assert_int_equal(weft_log_format_set_name("xml"), WEFT_EINVAL);
}

static void test_file_output(void **state)
{
    (void)state;
    char path[] = "/tmp/weft-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    struct weft_err err = {0};
    assert_int_equal(weft_log_output_set(path, &err), 0);
    WEFT_ERROR(lg_ledger, "to the file");
    assert_int_equal(weft_log_reopen(), 0);
    WEFT_ERROR(lg_ledger, "after reopen");
    weft_log_shutdown();
    char buf[1024] = {0};
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    remove(path);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "to the file"));
    assert_non_null(strstr(buf, "after reopen"));
    assert_int_equal(weft_log_output_set("/nonexistent/dir/x.log", &err), -2);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/x.log"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_spec_levels, reset),
        cmocka_unit_test_setup(test_spec_errors, reset),
        cmocka_unit_test_setup(test_runtime_change, reset),
        cmocka_unit_test_setup(test_json_format, reset),
        cmocka_unit_test_setup(test_file_output, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
