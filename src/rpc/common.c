/*
 * rpc common: the refcounted gRPC start-up, routing of gRPC's log lines into
 * weft's logger, status names, and small helpers (channel arguments, PEM
 * loading, byte-buffer copies, deadline conversions) shared by the server
 * and client files.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include "rpc_internal.h"

WEFT_LOGGER(grpc_log, "grpc");

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned init_refs; /* guarded by init_lock */

/* gRPC's log lines: errors become warnings, everything else debug, so the
 * library itself never emits info or error records on its own. */
static void grpc_log_cb(gpr_log_func_args *a)
{
    enum weft_log_level lvl =
        a->severity == GPR_LOG_SEVERITY_ERROR ? WEFT_LOG_WARN : WEFT_LOG_DEBUG;
    if (weft_log_enabled(&grpc_log, lvl)) {
        weft_log_write(&grpc_log, lvl, a->file, a->line, "%s", a->message);
    }
}

/* Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock
 * detector on: every lock gRPC takes then updates a process-wide lock graph
 * under a global spinlock (measured: 2-3% of a loaded peer's CPU, and
 * contention between threads). Release builds of gRPC run with it off; so
 * does weft. The setter is C++ (Abseil's inline namespace included), looked
 * up by its mangled name; when absent the detector is simply left alone. */
static void absl_deadlock_detection_off(void)
{
    static const char *const names[] = {
        "_ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE",
        "_ZN4absl29SetMutexDeadlockDetectionModeENS_15OnDeadlockCycleE",
    };
    for (size_t i = 0; i < WEFT_ARRAY_LEN(names); i++) {
        void *sym = dlsym(RTLD_DEFAULT, names[i]);
        if (sym != NULL) {
            void (*set_mode)(int);
            memcpy(&set_mode, &sym, sizeof(set_mode));
            set_mode(0); /* absl::OnDeadlockCycle::kIgnore */
            return;
        }
    }
    WEFT_DEBUG(grpc_log, "Abseil's deadlock detection setter not found: left as built");
}

int weft_rpc_init(void)
{
    pthread_mutex_lock(&init_lock);
    if (init_refs++ == 0) {
        absl_deadlock_detection_off();
        gpr_set_log_function(grpc_log_cb);
        grpc_init();
    }
    pthread_mutex_unlock(&init_lock);
    return 0;
}

void weft_rpc_shutdown(void)
{
    pthread_mutex_lock(&init_lock);
    if (init_refs > 0 && --init_refs == 0) {
        grpc_shutdown_blocking();
    }
    pthread_mutex_unlock(&init_lock);
}

const char *weft_rpc_code_name(int code)
{
    static const char *const names[] = {
        "OK",           "CANCELLED",         "UNKNOWN",        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED", "NOT_FOUND",    "ALREADY_EXISTS", "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
        "UNIMPLEMENTED", "INTERNAL",         "UNAVAILABLE",    "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    if (code < 0 || (size_t)code >= WEFT_ARRAY_LEN(names)) {
        return "UNKNOWN_CODE";
    }
    return names[code];
}

#define PEM_FILE_LIMIT (1u << 20)

int rpc_pem_load(const struct weft_rpc_pem *p, const char *what, char **out,
                 struct weft_err *err)
{
    *out = NULL;
    if (p->pem != NULL) {
        *out = weft_strdup(p->pem);
        return *out ? 0 : weft_err_set(err, WEFT_ENOMEM, "copying %s", what);
    }
    if (p->file == NULL) {
        return 0;
    }
    FILE *f = fopen(p->file, "rb");
    if (f == NULL) {
        return weft_err_set(err, WEFT_EIO, "opening %s %s: %s", what, p->file, strerror(errno));
    }
    struct weft_buf b;
    weft_buf_init(&b, PEM_FILE_LIMIT);
    char chunk[4096];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = weft_buf_append(&b, chunk, n);
        if (rc != 0) {
            weft_err_set(err, rc == WEFT_ETOOBIG ? WEFT_EIO : rc, "reading %s %s: %s", what,
                         p->file, weft_strerror(rc));
            rc = err ? err->code : WEFT_EIO;
            goto cleanup;
        }
    }
    if (ferror(f)) {
        rc = weft_err_set(err, WEFT_EIO, "reading %s %s", what, p->file);
        goto cleanup;
    }
    if (b.len == 0) {
        rc = weft_err_set(err, WEFT_EIO, "%s %s is empty", what, p->file);
        goto cleanup;
    }
    *out = (char *)weft_buf_steal(&b, &n);
cleanup:
    weft_buf_close(&b);
    fclose(f);
    return rc;
}

void rpc_args_int(struct rpc_args *args, const char *key, int64_t v)
{
    if (args->n >= WEFT_ARRAY_LEN(args->a)) {
        return;
    }
    grpc_arg *a = &args->a[args->n++];
    a->type = GRPC_ARG_INTEGER;
    a->key = (char *)key;
    a->value.integer = v > INT32_MAX ? INT32_MAX : (v < INT32_MIN ? INT32_MIN : (int)v);
}

void rpc_args_str(struct rpc_args *args, const char *key, const char *v)
{
    if (args->n >= WEFT_ARRAY_LEN(args->a)) {
        return;
    }
    grpc_arg *a = &args->a[args->n++];
    a->type = GRPC_ARG_STRING;
    a->key = (char *)key;
    a->value.string = (char *)v;
}

grpc_channel_args rpc_args_view(struct rpc_args *args)
{
    grpc_channel_args ca = {.num_args = args->n, .args = args->a};
    return ca;
}

uint8_t *rpc_bb_copy(grpc_byte_buffer *bb, size_t *len)
{
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb)) {
        return NULL;
    }
    size_t total = grpc_byte_buffer_length(bb);
    uint8_t *out = weft_malloc(total + 1);
    if (out == NULL) {
        grpc_byte_buffer_reader_destroy(&r);
        return NULL;
    }
    size_t off = 0;
    grpc_slice s;
    while (grpc_byte_buffer_reader_next(&r, &s)) {
        size_t n = GRPC_SLICE_LENGTH(s);
        if (off + n <= total) {
            memcpy(out + off, GRPC_SLICE_START_PTR(s), n);
            off += n;
        }
        grpc_slice_unref(s);
    }
    grpc_byte_buffer_reader_destroy(&r);
    out[off] = 0;
    *len = off;
    return out;
}

grpc_byte_buffer *rpc_bb_new(const void *data, size_t len)
{
    grpc_slice s = grpc_slice_from_copied_buffer(data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

static void bb_take_free(void *p)
{
    RPC_HB_ACQUIRE(p); /* gRPC frees it on any of its threads */
    weft_free(p);
}

grpc_byte_buffer *rpc_bb_take(uint8_t *data, size_t len)
{
    if (len == 0) {
        weft_free(data);
        return rpc_bb_new("", 0);
    }
    RPC_HB_RELEASE(data);
    grpc_slice s = grpc_slice_new(data, len, bb_take_free);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

gpr_timespec rpc_deadline_ms(int64_t timeout_ms)
{
    if (timeout_ms < 0 || timeout_ms == INT64_MAX) {
        return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    }
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

uint64_t rpc_deadline_to_mono(gpr_timespec t)
{
    if (gpr_time_cmp(t, gpr_inf_future(t.clock_type)) == 0) {
        return UINT64_MAX;
    }
    gpr_timespec now = gpr_now(t.clock_type);
    gpr_timespec left = gpr_time_sub(t, now);
    int64_t ms = gpr_time_to_millis(left);
    uint64_t base = weft_clock_mono_ns();
    if (ms <= 0) {
        return base;
    }
    if ((uint64_t)ms > (UINT64_MAX - base) / 1000000u) {
        return UINT64_MAX;
    }
    return base + (uint64_t)ms * 1000000u;
}

struct timespec rpc_mono_ts(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
                          .tv_nsec = (long)(ns % 1000000000u)};
    return ts;
}

void rpc_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t at;
    pthread_condattr_init(&at);
    pthread_condattr_setclock(&at, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &at);
    pthread_condattr_destroy(&at);
}
