/*
 * The option tables of weft's daemons (STYLE.md R35) and the one call that
 * finds, loads and validates a daemon's configuration file.
 */
#ifndef WEFT_CMD_CONFIG_TABLES_H
#define WEFT_CMD_CONFIG_TABLES_H

#include <stddef.h>

#include "weft/config.h"

/* core.yaml (weft peer), env prefix CORE. */
extern const struct weft_config_key cmd_config_core_keys[];
extern const size_t cmd_config_core_nkeys;

/* orderer.yaml (weft orderer), env prefix ORDERER. */
extern const struct weft_config_key cmd_config_orderer_keys[];
extern const size_t cmd_config_orderer_nkeys;

enum cmd_config_daemon {
    CMD_CONFIG_PEER,
    CMD_CONFIG_ORDERER,
};

/* Everything a daemon's start needs about one daemon's configuration. */
struct cmd_config_daemon_info {
    const char *file_name;  /* "core.yaml" */
    const char *env_prefix; /* "CORE" */
    const struct weft_config_key *keys;
    size_t nkeys;
};

const struct cmd_config_daemon_info *cmd_config_daemon_info(enum cmd_config_daemon d);

/* Finds (weft_config_find with explicit_path = the --config flag or NULL),
 * loads and checks the daemon's configuration. Unknown keys are logged at
 * warn on the "config" logger. On success *out is a validated config the
 * caller frees with weft_config_free(). Errors as weft_config_find/load/check,
 * with the message in err. Call from the main thread at start-up. */
int cmd_config_open(enum cmd_config_daemon d, const char *explicit_path, struct weft_config **out,
                    struct weft_err *err);

#endif
