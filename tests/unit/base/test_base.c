/* Unit tests for src/base: errors, buffers, parsers, pool, allocation hook. */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "weft/base.h"

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(weft_strerror(WEFT_ECORRUPT), "persisted data is corrupt");
    assert_string_equal(weft_strerror(0), "success");
    assert_string_equal(weft_strerror(-2), "No such file or directory");
    assert_string_equal(weft_strerror(-99999), "unknown error");
}

static void test_err_prefix(void **state)
{
    (void)state;
    struct weft_err e;
    weft_err_clear(&e);
    assert_int_equal(weft_err_set(&e, WEFT_EPARSE, "line %d", 7), WEFT_EPARSE);
    assert_int_equal(weft_err_prefix(&e, "open %s", "core.yaml"), WEFT_EPARSE);
    assert_string_equal(e.msg, "open core.yaml: line 7");
    assert_int_equal(weft_err_set(NULL, WEFT_EIO, "x"), WEFT_EIO);
}

static void test_buf_limit(void **state)
{
    (void)state;
    struct weft_buf b;
    weft_buf_init(&b, 10);
    assert_int_equal(weft_buf_append(&b, "hello", 5), 0);
    assert_int_equal(weft_buf_appendf(&b, "%d", 1234), 0);
    assert_string_equal((char *)b.data, "hello1234");
    assert_int_equal(weft_buf_append(&b, "ab", 2), WEFT_ETOOBIG);
    assert_int_equal(b.len, 9); /* nothing written on failure */
    size_t n;
    uint8_t *d = weft_buf_steal(&b, &n);
    assert_int_equal(n, 9);
    assert_null(b.data);
    weft_free(d);
    weft_buf_close(&b);
}

static void test_duration(void **state)
{
    (void)state;
    int64_t ns;
    assert_int_equal(weft_parse_duration("2s", &ns), 0);
    assert_int_equal(ns, 2000000000);
    assert_int_equal(weft_parse_duration("500ms", &ns), 0);
    assert_int_equal(ns, 500000000);
    assert_int_equal(weft_parse_duration("1m30s", &ns), 0);
    assert_int_equal(ns, 90000000000);
    assert_int_equal(weft_parse_duration("1.5h", &ns), 0);
    assert_int_equal(ns, 5400000000000);
    assert_int_equal(weft_parse_duration("0", &ns), 0);
    assert_int_equal(ns, 0);
    assert_int_equal(weft_parse_duration("10", &ns), WEFT_EPARSE);
    assert_int_equal(weft_parse_duration("5 s", &ns), WEFT_EPARSE);
    assert_int_equal(weft_parse_duration("abc", &ns), WEFT_EPARSE);
    assert_int_equal(weft_parse_duration("", &ns), WEFT_EPARSE);
    assert_int_equal(weft_parse_duration("3d", &ns), WEFT_EPARSE);
}

static void test_size(void **state)
{
    (void)state;
    uint64_t n;
    assert_int_equal(weft_parse_size("10 MB", &n), 0);
    assert_int_equal(n, 10u * 1024 * 1024);
    assert_int_equal(weft_parse_size("512 KB", &n), 0);
    assert_int_equal(n, 512u * 1024);
    assert_int_equal(weft_parse_size("1GB", &n), 0);
    assert_int_equal(n, 1024u * 1024 * 1024);
    assert_int_equal(weft_parse_size("100", &n), 0);
    assert_int_equal(n, 100);
    assert_int_equal(weft_parse_size("10 XB", &n), WEFT_EPARSE);
    assert_int_equal(weft_parse_size("MB", &n), WEFT_EPARSE);
    assert_int_equal(weft_parse_size("-1 MB", &n), WEFT_EPARSE);
}

static void test_ints_bools(void **state)
{
    (void)state;
    int64_t i;
    uint64_t u;
    bool b;
    assert_int_equal(weft_parse_i64("-42", &i), 0);
    assert_int_equal(i, -42);
    assert_int_equal(weft_parse_i64("42x", &i), WEFT_EPARSE);
    assert_int_equal(weft_parse_i64("99999999999999999999", &i), WEFT_EPARSE);
    assert_int_equal(weft_parse_u64("-1", &u), WEFT_EPARSE);
    assert_int_equal(weft_parse_bool("true", &b), 0);
    assert_true(b);
    assert_int_equal(weft_parse_bool("False", &b), 0);
    assert_false(b);
    assert_int_equal(weft_parse_bool("yes", &b), WEFT_EPARSE);
}

static _Atomic int pool_counter;

static void pool_work(void *arg)
{
    (void)arg;
    pool_counter++;
}

static void test_pool_runs_everything(void **state)
{
    (void)state;
    struct weft_pool *p = weft_pool_new(4);
    assert_non_null(p);
    assert_int_equal(weft_pool_size(p), 4);
    pool_counter = 0;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(weft_pool_submit(p, pool_work, NULL), 0);
    }
    weft_pool_free(p); /* drains the queue before joining */
    assert_int_equal(pool_counter, 1000);
}

/* Threads of this process, from /proc/self/task. */
static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

#define POOL_BLOCKERS 8
static pthread_mutex_t blk_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t blk_cv = PTHREAD_COND_INITIALIZER;
static int blk_arrived;
static int blk_released;

/* Waits (5 s at most) until all POOL_BLOCKERS items run at the same time. */
static void pool_blocker(void *arg)
{
    (void)arg;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 5;
    pthread_mutex_lock(&blk_lock);
    blk_arrived++;
    pthread_cond_broadcast(&blk_cv);
    while (blk_arrived < POOL_BLOCKERS) {
        if (pthread_cond_timedwait(&blk_cv, &blk_lock, &dl) != 0) {
            break;
        }
    }
    blk_released += blk_arrived == POOL_BLOCKERS;
    pthread_mutex_unlock(&blk_lock);
}

/* Workers start on demand: an idle pool holds one thread, yet N blocking
 * items still all run at once. */
static void test_pool_grows_on_demand(void **state)
{
    (void)state;
    int before = thread_count();
    struct weft_pool *p = weft_pool_new(64);
    assert_non_null(p);
    assert_int_equal(weft_pool_size(p), 64);
    assert_int_equal(thread_count() - before, 1);
    blk_arrived = blk_released = 0;
    for (int i = 0; i < POOL_BLOCKERS; i++) {
        assert_int_equal(weft_pool_submit(p, pool_blocker, NULL), 0);
    }
    weft_pool_free(p);
    assert_int_equal(blk_released, POOL_BLOCKERS);
    assert_int_equal(thread_count(), before);
}

static void test_alloc_fail_injection(void **state)
{
    (void)state;
    (void)weft_alloc_fail_after(2);
    void *a = weft_malloc(8);
    void *b = weft_malloc(8);
    void *c = weft_malloc(8);
    assert_non_null(a);
    assert_null(b);
    assert_non_null(c);
    weft_free(a);
    weft_free(c);
    (void)weft_alloc_fail_after(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror),     cmocka_unit_test(test_err_prefix),
        cmocka_unit_test(test_buf_limit),    cmocka_unit_test(test_duration),
        cmocka_unit_test(test_size),         cmocka_unit_test(test_ints_bools),
        cmocka_unit_test(test_pool_runs_everything),
        cmocka_unit_test(test_pool_grows_on_demand),
        cmocka_unit_test(test_alloc_fail_injection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
