/*
 * weft logging: levels, named loggers and Fabric's logging spec.
 *
 * A logger is a static struct weft_logger declared next to the code that
 * logs (one per module, named like Fabric's: "peer.gateway", "ledger",
 * "msp"). Its effective level is recomputed from the active spec only when
 * the spec changes, so a disabled debug call costs one load and one branch.
 *
 * Spec syntax (FABRIC_LOGGING_SPEC): terms separated by ':'; each term is
 * either a level ("info") which becomes the default, or
 * "name[,name...]=level". A name matches that logger and its dotted
 * children ("gossip" matches "gossip.comm"); the longest matching name wins.
 * Levels: debug, info, warn (or warning), error, panic, fatal (panic and fatal
 * behave like error in weft). Example: "info:gossip=debug:ledger,msp=warning".
 *
 * Output: one line per record on stderr (or a file), in "console" format
 *   2026-11-22 01:02:03.456 UTC 0042 INFO [peer.gateway] message
 * or "json" format ({"level":"info","ts":...,"name":...,"caller":...,"msg":...}).
 * All functions are thread-safe.
 */
#ifndef WEFT_LOG_H
#define WEFT_LOG_H

#include <stdarg.h>
#include <stdint.h>

#include "weft/base.h"

enum weft_log_level {
    WEFT_LOG_DEBUG = 0,
    WEFT_LOG_INFO = 1,
    WEFT_LOG_WARN = 2,
    WEFT_LOG_ERROR = 3,
    WEFT_LOG_OFF = 4,
};

/* Declare with WEFT_LOGGER(var, "name"); fields are private. */
struct weft_logger {
    const char *name;
    _Atomic int _level;        /* effective level, valid when _gen matches */
    _Atomic uint64_t _gen;     /* spec generation the level was computed for */
    struct weft_logger *_next; /* registry link, guarded by the registry lock */
    _Atomic int _registered;
};

#define WEFT_LOGGER(var, logger_name) static struct weft_logger var = {.name = (logger_name)}

/* Effective level of a logger (registers it on first use). */
int weft_log__level(struct weft_logger *lg);
extern _Atomic uint64_t weft_log__generation;

void weft_log_write(struct weft_logger *lg, enum weft_log_level level, const char *file,
                    int line, const char *fmt, ...) WEFT_PRINTF(5, 6);
void weft_log_vwrite(struct weft_logger *lg, enum weft_log_level level, const char *file,
                     int line, const char *fmt, va_list ap) WEFT_PRINTF(5, 0);

static inline int weft_log_enabled(struct weft_logger *lg, enum weft_log_level level)
{
    if (lg->_gen == weft_log__generation) {
        return (int)level >= lg->_level;
    }
    return (int)level >= weft_log__level(lg);
}

#define WEFT_LOG(lg, lvl, ...)                                                                     \
    do {                                                                                           \
        if (weft_log_enabled(&(lg), (lvl))) {                                                      \
            weft_log_write(&(lg), (lvl), __FILE__, __LINE__, __VA_ARGS__);                         \
        }                                                                                          \
    } while (0)
#define WEFT_DEBUG(lg, ...) WEFT_LOG(lg, WEFT_LOG_DEBUG, __VA_ARGS__)
#define WEFT_INFO(lg, ...) WEFT_LOG(lg, WEFT_LOG_INFO, __VA_ARGS__)
#define WEFT_WARN(lg, ...) WEFT_LOG(lg, WEFT_LOG_WARN, __VA_ARGS__)
#define WEFT_ERROR(lg, ...) WEFT_LOG(lg, WEFT_LOG_ERROR, __VA_ARGS__)

/* Parses and activates a spec. On a parse error nothing changes and err says
 * which term was wrong. */
int weft_log_spec_set(const char *spec, struct weft_err *err) WEFT_WARN_UNUSED;
/* Validates a spec without activating it. */
int weft_log_spec_check(const char *spec, struct weft_err *err) WEFT_WARN_UNUSED;
/* The active spec in canonical form; caller frees with weft_free. NULL on ENOMEM. */
char *weft_log_spec_get(void);
/* Level a spec assigns to a logger name (for tests and /logspec). */
int weft_log_spec_level_for(const char *spec, const char *name, enum weft_log_level *out);

enum weft_log_format { WEFT_LOG_FORMAT_CONSOLE = 0, WEFT_LOG_FORMAT_JSON = 1 };
/* Selects the output format. "console"/"json" as in FABRIC_LOGGING_FORMAT;
 * any other value is WEFT_EINVAL. */
int weft_log_format_set_name(const char *name) WEFT_WARN_UNUSED;
void weft_log_format_set(enum weft_log_format fmt);
/* Sends output to a file (append mode), or back to stderr with path NULL.
 * weft_log_reopen() reopens the same path (for SIGHUP / log rotation). */
int weft_log_output_set(const char *path, struct weft_err *err) WEFT_WARN_UNUSED;
int weft_log_reopen(void);
/* Test hook: capture formatted records into a callback instead of the fd.
 * Pass NULL to restore. The callback runs under the output lock. */
typedef void (*weft_log_sink_cb)(void *ctx, enum weft_log_level level, const char *line,
                                 size_t len);
void weft_log_sink_set(weft_log_sink_cb cb, void *ctx);

/* Name of a level ("debug", "info", "warn", "error"). */
const char *weft_log_level_name(enum weft_log_level level);
int weft_log_level_parse(const char *s, enum weft_log_level *out) WEFT_WARN_UNUSED;

/* Frees the active spec and closes a log file (at process exit, for leak checkers). */
void weft_log_shutdown(void);

#endif
