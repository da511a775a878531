/*
 * weft base library: error codes, allocation hooks, growable bounded buffers,
 * a worker thread pool and clocks. Every other weft library builds on this.
 *
 * Conventions (STYLE.md R13-R21):
 *  - fallible functions return 0 or a negative WEFT_E* code (OS errors as -errno);
 *  - boundary functions take an optional struct weft_err * that receives the code
 *    and a message; each layer may prefix what it was doing;
 *  - all memory goes through weft_malloc()/weft_free() so tests can inject
 *    allocation failures.
 */
#ifndef WEFT_BASE_H
#define WEFT_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEFT_WARN_UNUSED __attribute__((warn_unused_result))
#define WEFT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define WEFT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- errors ------------------------------------------------------------ */

/* X(name, value, message). Our own codes sit at -1000 and below; OS errors
 * travel as -errno and are described by strerror(). */
#define WEFT_ERRORS(X)                                                                     \
    X(WEFT_EINVAL, -1000, "invalid argument")                                              \
    X(WEFT_ENOMEM, -1001, "out of memory")                                                 \
    X(WEFT_ECORRUPT, -1002, "persisted data is corrupt")                                   \
    X(WEFT_EPARSE, -1003, "malformed input")                                               \
    X(WEFT_ENOTFOUND, -1004, "not found")                                                  \
    X(WEFT_EEXIST, -1005, "already exists")                                                \
    X(WEFT_ETOOBIG, -1006, "too large")                                                    \
    X(WEFT_EIO, -1007, "input/output error")                                               \
    X(WEFT_ECONFIG, -1008, "invalid configuration")                                        \
    X(WEFT_ETIMEDOUT, -1009, "timed out")                                                  \
    X(WEFT_ECANCELED, -1010, "canceled")                                                   \
    X(WEFT_ESHUTDOWN, -1011, "shutting down")                                              \
    X(WEFT_EUNAVAILABLE, -1012, "service unavailable")                                     \
    X(WEFT_EPERM, -1013, "permission denied")                                              \
    X(WEFT_ECRYPTO, -1014, "cryptographic operation failed")                               \
    X(WEFT_EBADSIG, -1015, "signature verification failed")                                \
    X(WEFT_EPOLICY, -1016, "policy not satisfied")                                         \
    X(WEFT_ECONFLICT, -1017, "conflict")                                                   \
    X(WEFT_ERPC, -1018, "remote procedure call failed")                                    \
    X(WEFT_EUNSUPPORTED, -1019, "not supported")                                           \
    X(WEFT_ESTATE, -1020, "operation not valid in the current state")

enum weft_error {
#define WEFT__ERR_ENUM(name, value, msg) name = (value),
    WEFT_ERRORS(WEFT__ERR_ENUM)
#undef WEFT__ERR_ENUM
};

/* Static description of a code (weft or -errno). Never NULL. */
const char *weft_strerror(int code);

#define WEFT_ERR_MSG_LEN 256

/* An error with context. Embed it on the stack; no cleanup needed. */
struct weft_err {
    int code;
    char msg[WEFT_ERR_MSG_LEN];
};

/* Sets code and message (printf-style); returns code so callers can write
 * `return weft_err_set(err, WEFT_EPARSE, "...")`. err may be NULL. */
int weft_err_set(struct weft_err *err, int code, const char *fmt, ...) WEFT_PRINTF(3, 4);
/* Prefixes the existing message with "<prefix>: ". Returns err->code (or
 * WEFT_EINVAL when err is NULL). */
int weft_err_prefix(struct weft_err *err, const char *fmt, ...) WEFT_PRINTF(2, 3);
/* Clears an error to "no error". */
void weft_err_clear(struct weft_err *err);

/* ---- allocation ---------------------------------------------------------- */

/* malloc/calloc/realloc/free through a hookable allocator. Return NULL on
 * failure (or when a test's failure injection says so). weft_free(NULL) is a
 * no-op. */
void *weft_malloc(size_t size);
void *weft_calloc(size_t count, size_t size);
void *weft_realloc(void *ptr, size_t size);
void weft_free(void *ptr);
/* Copies a string / a memory block; caller frees with weft_free. */
char *weft_strdup(const char *s);
char *weft_strndup(const char *s, size_t n);
void *weft_memdup(const void *p, size_t n);
/* printf into a new string; caller frees with weft_free. NULL on failure. */
char *weft_asprintf(const char *fmt, ...) WEFT_PRINTF(1, 2);
/* Wipes then frees a buffer that held key material. */
void weft_free_secret(void *ptr, size_t size);

/* Test hook: the n-th allocation from now fails (n = 1 is the next one);
 * n = 0 disables injection. Returns the number of allocations made since
 * the last call (so a test can count them). Thread-safe but process-wide. */
uint64_t weft_alloc_fail_after(uint64_t n);

/* ---- buffer -------------------------------------------------------------- */

/* A growable byte buffer with a hard cap (STYLE.md R24). Initialise with
 * weft_buf_init(); release with weft_buf_close(). data is always NUL-terminated
 * after a successful append so it can be used as a C string. */
struct weft_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t limit; /* hard cap on len; appends past it fail with WEFT_ETOOBIG */
};

void weft_buf_init(struct weft_buf *b, size_t limit);
void weft_buf_close(struct weft_buf *b);
void weft_buf_reset(struct weft_buf *b);
int weft_buf_append(struct weft_buf *b, const void *data, size_t len) WEFT_WARN_UNUSED;
int weft_buf_appendf(struct weft_buf *b, const char *fmt, ...) WEFT_PRINTF(2, 3) WEFT_WARN_UNUSED;
int weft_buf_reserve(struct weft_buf *b, size_t extra) WEFT_WARN_UNUSED;
/* Hands the bytes to the caller (who frees them with weft_free) and resets b. */
uint8_t *weft_buf_steal(struct weft_buf *b, size_t *len);

/* ---- clocks -------------------------------------------------------------- */

/* Monotonic time in nanoseconds (CLOCK_MONOTONIC). */
uint64_t weft_clock_mono_ns(void);
/* Wall-clock time in nanoseconds since the Unix epoch. */
uint64_t weft_clock_wall_ns(void);

/* ---- parsing helpers ----------------------------------------------------- */

/* Parses a Go-style duration ("2s", "500ms", "1m30s", "1h", "250us", "0") into
 * nanoseconds. A bare integer is rejected except "0". */
int weft_parse_duration(const char *s, int64_t *out_ns) WEFT_WARN_UNUSED;
/* Parses a byte size as Fabric/viper does: "10 MB", "98 MB", "512 KB", "1GB",
 * "100" (bytes). Units are powers of 1024 (KB = 1024). */
int weft_parse_size(const char *s, uint64_t *out_bytes) WEFT_WARN_UNUSED;
/* Strict decimal integer parsing with range check. */
int weft_parse_i64(const char *s, int64_t *out) WEFT_WARN_UNUSED;
int weft_parse_u64(const char *s, uint64_t *out) WEFT_WARN_UNUSED;
/* "true"/"false" (and Go's 1/0/t/f/TRUE/FALSE/True/False). */
int weft_parse_bool(const char *s, bool *out) WEFT_WARN_UNUSED;

/* ---- threads --------------------------------------------------------------- */

/* Names the calling thread (truncated to 15 bytes, as Linux keeps), so that
 * `top -H`, perf and gdb show what each thread of a daemon does. */
void weft_thread_name(const char *name);

/* ---- worker pool --------------------------------------------------------- */

struct weft_pool;
typedef void (*weft_pool_work_cb)(void *arg);

/* A pool of up to nthreads workers (0 = number of online CPUs), started on
 * demand: one at once, more while items wait with no idle worker, so up to
 * nthreads items can block at the same time. Queue is unbounded. Returns
 * NULL on failure. */
struct weft_pool *weft_pool_new(unsigned nthreads);
/* Queues fn(arg) to run on a worker. Any thread may call. Returns WEFT_ESHUTDOWN
 * after weft_pool_free() has begun, WEFT_ENOMEM on allocation failure; on error
 * fn is never run. */
int weft_pool_submit(struct weft_pool *p, weft_pool_work_cb fn, void *arg) WEFT_WARN_UNUSED;
/* Maximum number of worker threads (nthreads of weft_pool_new). */
unsigned weft_pool_size(const struct weft_pool *p);
/* Runs every queued item, joins the workers and frees the pool. NULL-safe.
 * Must not be called from a worker of the same pool. */
void weft_pool_free(struct weft_pool *p);

#endif

