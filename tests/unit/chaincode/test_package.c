/* Chaincode packages: parse, package ID, create, unpack safety, install store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "chaincode/cc_internal.h"
#include "testlib.h"
#include "weft/chaincode.h"

static uint8_t *vector_pkg(size_t *len)
{
    char *p = weft_asprintf("%s/vectors/fabric-2.4.9/config/basic.tar.gz", wt_shared_dir());
    uint8_t *d = (uint8_t *)wt_read_file(p, len);
    weft_free(p);
    assert_non_null(d);
    return d;
}

static void test_vector_package_id(void **state)
{
    (void)state;
    size_t len;
    uint8_t *d = vector_pkg(&len);
    struct weft_cc_package *pkg = NULL;
    struct weft_err e = {0};
    assert_int_equal(weft_cc_package_parse(d, len, &pkg, &e), 0);
    assert_string_equal(pkg->type, "ccaas");
    assert_string_equal(pkg->label, "basic_1.0");
    char *id = NULL;
    assert_int_equal(weft_cc_package_id(pkg->label, d, len, &id), 0);
    char *p = weft_asprintf("%s/vectors/fabric-2.4.9/config/package-id", wt_shared_dir());
    size_t il;
    char *want = wt_read_file(p, &il);
    while (il > 0 && (want[il - 1] == '\n' || want[il - 1] == '\r')) {
        want[--il] = 0;
    }
    assert_string_equal(id, want);
    /* the inner code package holds connection.json */
    char *dir = wt_tmpdir("ccpkg");
    assert_int_equal(weft_cc_untar_gz(pkg->code, pkg->code_len, dir, &e), 0);
    char *cj = weft_asprintf("%s/connection.json", dir);
    assert_int_equal(access(cj, R_OK), 0);
    wt_rmtree(dir);
    weft_free(cj);
    weft_free(dir);
    weft_free(p);
    weft_free(want);
    weft_free(id);
    weft_cc_package_free(pkg);
    weft_free(d);
}

static void test_labels(void **state)
{
    (void)state;
    assert_true(weft_cc_label_valid("basic_1.0"));
    assert_true(weft_cc_label_valid("a+b-c.d_e"));
    assert_false(weft_cc_label_valid(""));
    assert_false(weft_cc_label_valid("_x"));
    assert_false(weft_cc_label_valid("a b"));
    assert_false(weft_cc_label_valid("a:b"));
}

static void test_create_roundtrip_and_malformed(void **state)
{
    (void)state;
    char *src = wt_tmpdir("ccsrc");
    char *f = weft_asprintf("%s/index.js", src);
    assert_int_equal(wt_write_file(f, "module.exports = {};\n", 21), 0);
    uint8_t *pkg = NULL;
    size_t len = 0;
    struct weft_err e = {0};
    assert_int_equal(weft_cc_package_create("mycc_1", "node", "/x", src, &pkg, &len, &e), 0);
    struct weft_cc_package *p = NULL;
    assert_int_equal(weft_cc_package_parse(pkg, len, &p, &e), 0);
    assert_string_equal(p->type, "node");
    assert_string_equal(p->label, "mycc_1");
    char *out = wt_tmpdir("ccout");
    assert_int_equal(weft_cc_untar_gz(p->code, p->code_len, out, &e), 0);
    char *g = weft_asprintf("%s/src/index.js", out);
    size_t gl;
    char *got = wt_read_file(g, &gl);
    assert_non_null(got);
    assert_int_equal(gl, 21);
    weft_cc_package_free(p);

    /* invalid label is refused by create and by parse */
    assert_int_not_equal(weft_cc_package_create("_bad", "node", "", src, &pkg, &len, &e), 0);
    /* not gzip */
    assert_int_equal(weft_cc_package_parse((const uint8_t *)"hello", 5, &p, &e), WEFT_EPARSE);
    /* a package without code.tar.gz */
    struct weft_buf t;
    weft_buf_init(&t, 1 << 20);
    const char *md = "{\"type\":\"node\",\"path\":\"\",\"label\":\"x\"}";
    assert_int_equal(cc__tar_add(&t, "metadata.json", md, strlen(md), 0644), 0);
    assert_int_equal(cc__tar_finish(&t), 0);
    uint8_t *gz = NULL;
    size_t gzl = 0;
    assert_int_equal(cc__gzip(t.data, t.len, &gz, &gzl, &e), 0);
    assert_int_equal(weft_cc_package_parse(gz, gzl, &p, &e), WEFT_EPARSE);
    assert_non_null(strstr(e.msg, "code package"));
    weft_free(gz);
    /* a path escaping the target is refused on unpack */
    weft_buf_reset(&t);
    assert_int_equal(cc__tar_add(&t, "../evil", "x", 1, 0644), 0);
    assert_int_equal(cc__tar_finish(&t), 0);
    assert_int_equal(cc__gzip(t.data, t.len, &gz, &gzl, &e), 0);
    assert_int_equal(weft_cc_untar_gz(gz, gzl, out, &e), WEFT_EPARSE);
    assert_non_null(strstr(e.msg, "unsafe path"));
    weft_free(gz);
    weft_buf_close(&t);

    wt_rmtree(src);
    wt_rmtree(out);
    weft_free(got);
    weft_free(g);
    weft_free(out);
    weft_free(f);
    weft_free(src);
    weft_free(pkg);
}

static void test_store(void **state)
{
    (void)state;
    char *root = wt_tmpdir("ccstore");
    struct weft_cc_store *st = NULL;
    struct weft_err e = {0};
    assert_int_equal(weft_cc_store_open(root, &st, &e), 0);
    size_t len;
    uint8_t *d = vector_pkg(&len);
    char *id = NULL;
    assert_int_equal(weft_cc_store_install(st, d, len, &id, &e), 0);
    assert_true(weft_cc_store_has(st, id));
    char *path = weft_asprintf("%s/lifecycle/chaincodes/basic_1.0.%s.tar.gz", root,
                               strchr(id, ':') + 1);
    assert_int_equal(access(path, R_OK), 0);
    assert_int_equal(weft_cc_store_install(st, d, len, NULL, &e), WEFT_EEXIST);
    assert_non_null(strstr(e.msg, "chaincode already successfully installed"));
    struct weft_cc_installed *list = NULL;
    size_t n = 0;
    assert_int_equal(weft_cc_store_list(st, &list, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].package_id, id);
    assert_string_equal(list[0].label, "basic_1.0");
    weft_cc_installed_free(list, n);
    uint8_t *back = NULL;
    size_t bl = 0;
    assert_int_equal(weft_cc_store_load(st, id, &back, &bl, &e), 0);
    assert_int_equal(bl, len);
    assert_memory_equal(back, d, len);
    assert_int_equal(weft_cc_store_load(st, "nope:00", &back, &bl, &e), WEFT_ENOTFOUND);
    assert_int_equal(weft_cc_store_remove(st, id, &e), 0);
    assert_false(weft_cc_store_has(st, id));
    weft_free(back);
    weft_free(path);
    weft_free(id);
    weft_free(d);
    weft_cc_store_free(st);
    wt_rmtree(root);
    weft_free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector_package_id),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_create_roundtrip_and_malformed),
        cmocka_unit_test(test_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
