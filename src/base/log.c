/*
 * The one logger (STYLE.md R33).
 *
 * DESIGN
 * Loggers are static structs registered on first use in a linked list. The
 * active spec is a parsed list of (name, level) terms plus a default level,
 * swapped under spec_lock; each swap bumps weft_log__generation. A logger
 * caches its effective level with the generation it was computed for, so the
 * fast path (weft_log_enabled in log.h) is a load and a compare.
 *
 * Output is formatted into a stack buffer and written with one write(2)
 * under out_lock, so concurrent records never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "weft/log.h"

#define SPEC_MAX_TERMS 64
#define SPEC_NAME_MAX 128
#define LINE_MAX_BYTES 4096

struct spec_term {
    char name[SPEC_NAME_MAX];
    enum weft_log_level level;
};

struct spec {
    enum weft_log_level deflt;
    size_t nterms;
    struct spec_term terms[SPEC_MAX_TERMS];
};

_Atomic uint64_t weft_log__generation = 1;

static pthread_mutex_t spec_lock = PTHREAD_MUTEX_INITIALIZER; /* guards active, loggers */
static struct spec active = {.deflt = WEFT_LOG_INFO};
static struct weft_logger *loggers;

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER; /* guards the fields below */
static int out_fd = 2;
static char *out_path;
static enum weft_log_format out_format = WEFT_LOG_FORMAT_CONSOLE;
static weft_log_sink_cb out_sink;
static void *out_sink_ctx;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

const char *weft_log_level_name(enum weft_log_level level)
{
    if ((unsigned)level < WEFT_ARRAY_LEN(level_names)) {
        return level_names[level];
    }
    return "off";
}

int weft_log_level_parse(const char *s, enum weft_log_level *out)
{
    static const struct {
        const char *name;
        enum weft_log_level level;
    } table[] = {
        {"debug", WEFT_LOG_DEBUG}, {"info", WEFT_LOG_INFO},   {"warn", WEFT_LOG_WARN},
        {"warning", WEFT_LOG_WARN}, {"error", WEFT_LOG_ERROR}, {"panic", WEFT_LOG_ERROR},
        {"fatal", WEFT_LOG_ERROR}, {"dpanic", WEFT_LOG_ERROR},
    };
    for (size_t i = 0; i < WEFT_ARRAY_LEN(table); i++) {
        if (strcasecmp(s, table[i].name) == 0) {
            *out = table[i].level;
            return 0;
        }
    }
    return WEFT_EINVAL;
}

static bool valid_logger_name(const char *s, size_t n)
{
    if (n == 0 || n >= SPEC_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '/' || c == '#')) {
            return false;
        }
    }
    return s[0] != '.' && s[n - 1] != '.';
}

/* Parses "term:term:..." into sp. */
static int spec_parse(const char *text, struct spec *sp, struct weft_err *err)
{
    memset(sp, 0, sizeof(*sp));
    sp->deflt = WEFT_LOG_INFO;
    const char *p = text;
    while (*p == ' ') {
        p++;
    }
    if (*p == '\0') {
        return 0; /* empty spec means "info" */
    }
    for (;;) {
        const char *end = strchr(p, ':');
        size_t tlen = end ? (size_t)(end - p) : strlen(p);
        char term[512];
        if (tlen == 0 || tlen >= sizeof(term)) {
            return weft_err_set(err, WEFT_EINVAL, "invalid logging specification '%s': bad term",
                                text);
        }
        memcpy(term, p, tlen);
        term[tlen] = '\0';
        char *eq = strchr(term, '=');
        enum weft_log_level lvl;
        if (eq == NULL) {
            if (weft_log_level_parse(term, &lvl) != 0) {
                return weft_err_set(err, WEFT_EINVAL,
                                    "invalid logging specification '%s': bad level '%s'", text,
                                    term);
            }
            sp->deflt = lvl;
        } else {
            *eq = '\0';
            if (weft_log_level_parse(eq + 1, &lvl) != 0) {
                return weft_err_set(err, WEFT_EINVAL,
                                    "invalid logging specification '%s': bad level '%s'", text,
                                    eq + 1);
            }
            char *name = term;
            for (;;) {
                char *comma = strchr(name, ',');
                size_t nlen = comma ? (size_t)(comma - name) : strlen(name);
                if (!valid_logger_name(name, nlen)) {
                    return weft_err_set(err, WEFT_EINVAL,
                                        "invalid logging specification '%s': bad logger name "
                                        "'%.*s'",
                                        text, (int)nlen, name);
                }
                /* A later term for the same name replaces the earlier one. */
                size_t i;
                for (i = 0; i < sp->nterms; i++) {
                    if (strlen(sp->terms[i].name) == nlen &&
                        memcmp(sp->terms[i].name, name, nlen) == 0) {
                        break;
                    }
                }
                if (i == sp->nterms) {
                    if (sp->nterms == SPEC_MAX_TERMS) {
                        return weft_err_set(err, WEFT_EINVAL,
                                            "invalid logging specification: more than %d names",
                                            SPEC_MAX_TERMS);
                    }
                    memcpy(sp->terms[i].name, name, nlen);
                    sp->terms[i].name[nlen] = '\0';
                    sp->nterms++;
                }
                sp->terms[i].level = lvl;
                if (comma == NULL) {
                    break;
                }
                name = comma + 1;
            }
        }
        if (end == NULL) {
            break;
        }
        p = end + 1;
    }
    return 0;
}

static enum weft_log_level spec_level(const struct spec *sp, const char *name)
{
    size_t best_len = 0;
    enum weft_log_level lvl = sp->deflt;
    size_t nlen = strlen(name);
    for (size_t i = 0; i < sp->nterms; i++) {
        size_t tl = strlen(sp->terms[i].name);
        if (tl > nlen || tl <= best_len || memcmp(sp->terms[i].name, name, tl) != 0) {
            continue;
        }
        if (tl == nlen || name[tl] == '.') {
            best_len = tl;
            lvl = sp->terms[i].level;
        }
    }
    return lvl;
}

int weft_log__level(struct weft_logger *lg)
{
    pthread_mutex_lock(&spec_lock);
    if (!atomic_load(&lg->_registered)) {
        lg->_next = loggers;
        loggers = lg;
        atomic_store(&lg->_registered, 1);
    }
    int lvl = (int)spec_level(&active, lg->name);
    atomic_store(&lg->_level, lvl);
    atomic_store(&lg->_gen, atomic_load(&weft_log__generation));
    pthread_mutex_unlock(&spec_lock);
    return lvl;
}

int weft_log_spec_check(const char *spec, struct weft_err *err)
{
    struct spec *sp = weft_malloc(sizeof(*sp));
    if (sp == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "logging specification: out of memory");
    }
    int rc = spec_parse(spec, sp, err);
    weft_free(sp);
    return rc;
}

int weft_log_spec_set(const char *spec, struct weft_err *err)
{
    struct spec *sp = weft_malloc(sizeof(*sp));
    if (sp == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "logging specification: out of memory");
    }
    int rc = spec_parse(spec, sp, err);
    if (rc == 0) {
        pthread_mutex_lock(&spec_lock);
        active = *sp;
        atomic_fetch_add(&weft_log__generation, 1);
        pthread_mutex_unlock(&spec_lock);
    }
    weft_free(sp);
    return rc;
}

int weft_log_spec_level_for(const char *spec, const char *name, enum weft_log_level *out)
{
    struct spec *sp = weft_malloc(sizeof(*sp));
    if (sp == NULL) {
        return WEFT_ENOMEM;
    }
    int rc = spec_parse(spec, sp, NULL);
    if (rc == 0) {
        *out = spec_level(sp, name);
    }
    weft_free(sp);
    return rc;
}

char *weft_log_spec_get(void)
{
    struct weft_buf b;
    weft_buf_init(&b, 1 << 16);
    int rc = 0;
    pthread_mutex_lock(&spec_lock);
    /* Canonical form: named terms grouped by level, then the default, as
     * Fabric prints it ("gossip=debug:info"). */
    for (size_t i = 0; i < active.nterms && rc == 0; i++) {
        rc = weft_buf_appendf(&b, "%s=%s:", active.terms[i].name,
                              weft_log_level_name(active.terms[i].level));
    }
    if (rc == 0) {
        rc = weft_buf_appendf(&b, "%s", weft_log_level_name(active.deflt));
    }
    pthread_mutex_unlock(&spec_lock);
    if (rc != 0) {
        weft_buf_close(&b);
        return NULL;
    }
    return (char *)weft_buf_steal(&b, NULL);
}

int weft_log_format_set_name(const char *name)
{
    if (strcmp(name, "console") == 0 || name[0] == '\0') {
        weft_log_format_set(WEFT_LOG_FORMAT_CONSOLE);
        return 0;
    }
    if (strcmp(name, "json") == 0) {
        weft_log_format_set(WEFT_LOG_FORMAT_JSON);
        return 0;
    }
    return WEFT_EINVAL;
}

void weft_log_format_set(enum weft_log_format fmt)
{
    pthread_mutex_lock(&out_lock);
    out_format = fmt;
    pthread_mutex_unlock(&out_lock);
}

static int open_log_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    return fd < 0 ? -errno : fd;
}

int weft_log_output_set(const char *path, struct weft_err *err)
{
    int fd = 2;
    char *copy = NULL;
    if (path != NULL) {
        fd = open_log_file(path);
        if (fd < 0) {
            return weft_err_set(err, fd, "open log file %s: %s", path, weft_strerror(fd));
        }
        copy = weft_strdup(path);
        if (copy == NULL) {
            close(fd);
            return weft_err_set(err, WEFT_ENOMEM, "open log file: out of memory");
        }
    }
    pthread_mutex_lock(&out_lock);
    if (out_fd != 2) {
        close(out_fd);
    }
    weft_free(out_path);
    out_fd = fd;
    out_path = copy;
    pthread_mutex_unlock(&out_lock);
    return 0;
}

int weft_log_reopen(void)
{
    int rc = 0;
    pthread_mutex_lock(&out_lock);
    if (out_path != NULL) {
        int fd = open_log_file(out_path);
        if (fd < 0) {
            rc = fd;
        } else {
            close(out_fd);
            out_fd = fd;
        }
    }
    pthread_mutex_unlock(&out_lock);
    return rc;
}

void weft_log_sink_set(weft_log_sink_cb cb, void *ctx)
{
    pthread_mutex_lock(&out_lock);
    out_sink = cb;
    out_sink_ctx = ctx;
    pthread_mutex_unlock(&out_lock);
}

void weft_log_shutdown(void)
{
    pthread_mutex_lock(&out_lock);
    if (out_fd != 2) {
        close(out_fd);
    }
    out_fd = 2;
    weft_free(out_path);
    out_path = NULL;
    pthread_mutex_unlock(&out_lock);
}

/* Appends s to the line as a JSON string body (no quotes), truncating safely. */
static size_t json_escape(char *dst, size_t cap, size_t at, const char *s)
{
    for (; *s != '\0' && at + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            dst[at++] = '\\';
            dst[at++] = (char)c;
        } else if (c < 0x20) {
            at += (size_t)snprintf(dst + at, cap - at, "\\u%04x", c);
        } else {
            dst[at++] = (char)c;
        }
    }
    return at;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

void weft_log_vwrite(struct weft_logger *lg, enum weft_log_level level, const char *file,
                     int line, const char *fmt, va_list ap)
{
    char msg[LINE_MAX_BYTES];
    vsnprintf(msg, sizeof(msg), fmt, ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    long ms = ts.tv_nsec / 1000000;
    long tid = (long)syscall(SYS_gettid);

    char out[LINE_MAX_BYTES + 512];
    size_t n;
    pthread_mutex_lock(&out_lock);
    if (out_format == WEFT_LOG_FORMAT_JSON) {
        int k = snprintf(out, sizeof(out),
                         "{\"level\":\"%s\",\"ts\":%lld.%06ld,\"name\":\"%s\",\"caller\":\"%s:%d\","
                         "\"msg\":\"",
                         weft_log_level_name(level), (long long)ts.tv_sec, ts.tv_nsec / 1000,
                         lg->name, base_name(file), line);
        n = k < 0 ? 0 : (size_t)k;
        n = json_escape(out, sizeof(out), n, msg);
        n += (size_t)snprintf(out + n, sizeof(out) - n, "\"}\n");
    } else {
        static const char *const upper[] = {"DEBU", "INFO", "WARN", "ERRO"};
        int k = snprintf(out, sizeof(out), "%s.%03ld UTC %04lx %s [%s] %s:%d %s\n", when, ms,
                         (unsigned long)tid & 0xffff, upper[level & 3], lg->name,
                         base_name(file), line, msg);
        n = k < 0 ? 0 : (size_t)k;
    }
    if (n >= sizeof(out)) {
        n = sizeof(out) - 1;
        out[n - 1] = '\n';
    }
    if (out_sink != NULL) {
        out_sink(out_sink_ctx, level, out, n);
    } else {
        const char *p = out;
        while (n > 0) {
            ssize_t w = write(out_fd, p, n);
            if (w < 0) {
                if (errno == EINTR) {
                    continue;
                }
                break;
            }
            p += w;
            n -= (size_t)w;
        }
    }
    pthread_mutex_unlock(&out_lock);
}

void weft_log_write(struct weft_logger *lg, enum weft_log_level level, const char *file,
                    int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    weft_log_vwrite(lg, level, file, line, fmt, ap);
    va_end(ap);
}
