/*
 * weft node configuration: Fabric-style YAML files (core.yaml, orderer.yaml,
 * later configtx.yaml and fabric-ca-server-config.yaml) with environment
 * overrides, typed getters, and per-daemon key tables (STYLE.md R35-R37).
 *
 * Life cycle (one thread, at start-up):
 *
 *     char *path;
 *     weft_config_find(flag_config, "core.yaml", &path, &err);
 *     weft_config_load(path, "CORE", &cfg, &err);
 *     weft_config_check(cfg, table, n, NULL, NULL, &err);   // validates, binds the table
 *     ... weft_config_get_*(cfg, "peer.listenAddress", ...) ...
 *     weft_config_free(cfg);
 *
 * After weft_config_check() returns, the config is never modified again and
 * every const function below may be called from any thread at once.
 *
 * Key paths are dotted ("peer.tls.cert.file") and matched case-insensitively,
 * as viper does. Where a value comes from, in order of precedence:
 *   1. the environment: "<PREFIX>_" + the key path upper-cased with '.' -> '_'
 *      (CORE_PEER_TLS_ENABLED, ORDERER_GENERAL_LISTENPORT); the variable name is
 *      compared case-insensitively. The environment is read once, in
 *      weft_config_load(); later changes are not seen. Variables override keys
 *      present in the file as well as absent ones.
 *   2. the file, when the key is present with a non-null value ("key:" alone,
 *      "~" and "null" count as absent);
 *   3. the default in the bound key table;
 *   otherwise the getter returns WEFT_ENOTFOUND. Getters write *out only on
 *   success, so a caller without a table can preset *out with its own default
 *   and treat WEFT_ENOTFOUND as "keep it".
 *
 * Errors name where the bad value came from and the key:
 *   "/etc/weft/core.yaml:42: peer.keepalive.interval: invalid duration \"5x\""
 *   "env CORE_PEER_TLS_ENABLED: peer.tls.enabled: invalid bool \"maybe\""
 * Codes: WEFT_EPARSE (YAML syntax), WEFT_ECONFIG (wrong type, value out of
 * bounds, bad structure), WEFT_ENOTFOUND (key unset / file not found),
 * WEFT_ENOMEM, WEFT_ETOOBIG (file or alias expansion too large), -errno (I/O).
 */
#ifndef WEFT_CONFIG_H
#define WEFT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/base.h"

struct weft_config;      /* a loaded file plus an environment snapshot; opaque */
struct weft_config_node; /* one node of the YAML tree; owned by its weft_config */

/* ---- key tables ---------------------------------------------------------- */

enum weft_config_type {
    WEFT_CONFIG_STRING = 0,
    WEFT_CONFIG_BOOL,        /* true/false, 1/0, t/f, yes/no, on/off */
    WEFT_CONFIG_INT,         /* int64, decimal */
    WEFT_CONFIG_UINT,        /* uint64, decimal */
    WEFT_CONFIG_DURATION,    /* Go syntax: "300ms", "1m30s", "0"; nanoseconds */
    WEFT_CONFIG_SIZE,        /* bytes: "104857600", "10 MB", "512KB" (1024-based) */
    WEFT_CONFIG_STRING_LIST, /* YAML sequence, or a scalar "a b c" / "[a, b, c]" */
    WEFT_CONFIG_PATH,        /* string; relative paths resolve against the file's dir */
    WEFT_CONFIG_PATH_LIST,   /* string list of paths, resolved likewise */
    WEFT_CONFIG_TREE,        /* any YAML subtree, read with the node API */
};

/* Key flags. */
#define WEFT_CONFIG_F_ENV_ONLY 0x1u /* read from the environment only (path = variable name) */
#define WEFT_CONFIG_F_SECRET 0x2u   /* weft_config_dump() prints it redacted */

/* One option of a daemon. Tables are static const arrays (see
 * src/cmd/config_tables.c); the same table drives validation, defaults,
 * `--help`, `config dump` and docs/configuration.md. */
struct weft_config_key {
    const char *path; /* Fabric's key path and spelling, e.g. "peer.tls.enabled" */
    enum weft_config_type type;
    const char *default_value;  /* in file syntax ("30s", "[a, b]"); NULL = no default */
    const char *doc;            /* one line for users, no '|' or newline */
    bool reloadable;            /* may change without a restart */
    unsigned flags;             /* WEFT_CONFIG_F_* */
    int64_t min, max;           /* inclusive bounds when max > min: INT/UINT/SIZE values,
                                   DURATION in nanoseconds */
    const char *const *choices; /* NULL-terminated allowed values (case-insensitive) or NULL */
    const char *env;            /* variable name when not derived from the path, or NULL */
};

/* Name of a type as shown to users ("duration", "string list"). */
const char *weft_config_type_name(enum weft_config_type type);

/* ---- loading ------------------------------------------------------------- */

/* Finds the configuration file to use, as Fabric does:
 *   1. explicit_path (the --config flag) when not NULL: that file, or
 *      <explicit_path>/<file_name> when it names a directory; it must exist;
 *   2. else, when $FABRIC_CFG_PATH is set: $FABRIC_CFG_PATH/<file_name>, which
 *      must exist (no further search, as Fabric's peer);
 *   3. else the first existing of ./<file_name>, ./config/<file_name>,
 *      /etc/hyperledger/fabric/<file_name>.
 * On success *out_path is a new string (caller frees with weft_free).
 * Errors: WEFT_ENOTFOUND with the places searched in err, WEFT_ENOMEM. */
int weft_config_find(const char *explicit_path, const char *file_name, char **out_path,
                     struct weft_err *err) WEFT_WARN_UNUSED;

/* Reads a YAML file into a tree (line numbers kept; anchors, aliases and "<<"
 * merge keys resolved) and takes a snapshot of the environment variables
 * named <env_prefix>_* and FABRIC_* (case-insensitive). Environment values
 * replace file leaves right away, so the node API sees them too.
 *   path: file to read; NULL loads an empty tree (environment and defaults
 *         only; relative paths then resolve against the working directory).
 *   env_prefix: "CORE", "ORDERER", "FABRIC_CA_SERVER"; NULL = no overrides.
 * The file must hold a mapping at the top (an empty file is an empty mapping).
 * Duplicate keys (case-insensitively) are an error. On success *out is a new
 * config the caller frees with weft_config_free(); on failure *out is untouched.
 * Errors: -errno (open/read), WEFT_EPARSE (YAML syntax, with file:line),
 * WEFT_ECONFIG (structure), WEFT_ETOOBIG (file > 16 MiB or > 1M nodes after
 * alias expansion), WEFT_ENOMEM. */
int weft_config_load(const char *path, const char *env_prefix, struct weft_config **out,
                     struct weft_err *err) WEFT_WARN_UNUSED;

/* Same, from a string (tests, configs embedded in other files). name is used
 * in messages and its directory for relative paths; NULL = "<string>". */
int weft_config_load_string(const char *yaml, size_t len, const char *name, const char *env_prefix,
                            struct weft_config **out, struct weft_err *err) WEFT_WARN_UNUSED;

/* Frees a config and everything borrowed from it. NULL-safe. */
void weft_config_free(struct weft_config *cfg);

/* The file path given to weft_config_load() (NULL for none), and the
 * directory relative paths resolve against. Borrowed from cfg. */
const char *weft_config_file(const struct weft_config *cfg);
const char *weft_config_dir(const struct weft_config *cfg);

/* ---- validation ---------------------------------------------------------- */

typedef void (*weft_config_warn_cb)(void *ctx, const char *msg);

/* Validates cfg against a daemon's key table and binds the table to cfg so
 * the getters apply its defaults, bounds and explicit variable names.
 * table must outlive cfg (tables are static). Call once, before sharing cfg.
 *  - every key's effective value must parse as its type, lie within bounds and
 *    be one of its choices: the first failure is returned (WEFT_ECONFIG) with
 *    origin and key in err;
 *  - a key in the file that the table does not know, an env-only key found in
 *    the file, and a <prefix>_ variable matching no key are reported through
 *    warn(ctx, msg) ("core.yaml:7: unknown key peer.foo (ignored)"), or logged
 *    at warn on the "config" logger when warn is NULL. They are not errors.
 * Returns 0, WEFT_ECONFIG or WEFT_ENOMEM. */
int weft_config_check(struct weft_config *cfg, const struct weft_config_key *table, size_t n,
                      weft_config_warn_cb warn, void *warn_ctx,
                      struct weft_err *err) WEFT_WARN_UNUSED;

/* The table entry for a key path (case-insensitive), or NULL. */
const struct weft_config_key *weft_config_key_find(const struct weft_config_key *table, size_t n,
                                                   const char *path);

/* Name of the environment variable that overrides key (explicit env, or the
 * derived "<prefix>_PEER_TLS_ENABLED"). Caller frees with weft_free; NULL on
 * ENOMEM. prefix may be NULL for env-only keys. */
char *weft_config_key_env_name(const struct weft_config_key *key, const char *prefix);

/* ---- typed getters ------------------------------------------------------- */
/* All: 0 on success; WEFT_ENOTFOUND when unset everywhere (err says which
 * key); WEFT_ECONFIG when the value has the wrong type, does not parse, or
 * breaks the bound table's bounds/choices. Thread-safe after check. */

/* Borrowed string, valid until weft_config_free(). */
int weft_config_get_string(const struct weft_config *cfg, const char *path, const char **out,
                           struct weft_err *err) WEFT_WARN_UNUSED;
int weft_config_get_bool(const struct weft_config *cfg, const char *path, bool *out,
                         struct weft_err *err) WEFT_WARN_UNUSED;
int weft_config_get_i64(const struct weft_config *cfg, const char *path, int64_t *out,
                        struct weft_err *err) WEFT_WARN_UNUSED;
int weft_config_get_u64(const struct weft_config *cfg, const char *path, uint64_t *out,
                        struct weft_err *err) WEFT_WARN_UNUSED;
/* Nanoseconds. */
int weft_config_get_duration(const struct weft_config *cfg, const char *path, int64_t *out_ns,
                             struct weft_err *err) WEFT_WARN_UNUSED;
/* Bytes. */
int weft_config_get_size(const struct weft_config *cfg, const char *path, uint64_t *out,
                         struct weft_err *err) WEFT_WARN_UNUSED;
/* A path: "" stays "", absolute stays, relative is joined to weft_config_dir().
 * Caller frees *out with weft_free. */
int weft_config_get_path(const struct weft_config *cfg, const char *path, char **out,
                         struct weft_err *err) WEFT_WARN_UNUSED;

/* A list of strings: a YAML sequence of scalars, or one scalar split as viper
 * does ("[a, b]" = comma-separated with spaces trimmed, otherwise split on
 * whitespace; "" and "[]" = empty). With resolve_paths, each item is resolved
 * like weft_config_get_path(). *out is a NULL-terminated array (also when
 * empty) that the caller frees with weft_config_strlist_free(); *n may be NULL. */
int weft_config_get_strlist(const struct weft_config *cfg, const char *path, bool resolve_paths,
                            char ***out, size_t *n, struct weft_err *err) WEFT_WARN_UNUSED;
void weft_config_strlist_free(char **list);

/* True when the key is set in the environment or the file (not a default). */
bool weft_config_is_set(const struct weft_config *cfg, const char *path);

/* ---- tree access --------------------------------------------------------- */

enum weft_config_kind {
    WEFT_CONFIG_NULL = 0, /* "key:" with no value, "~", "null" */
    WEFT_CONFIG_SCALAR,
    WEFT_CONFIG_MAP,
    WEFT_CONFIG_SEQ,
};

/* The top mapping (never NULL). */
const struct weft_config_node *weft_config_root(const struct weft_config *cfg);
/* The node at a dotted path (case-insensitive), or NULL. Environment values
 * for absent keys are not in the tree; use the getters for those. */
const struct weft_config_node *weft_config_lookup(const struct weft_config *cfg, const char *path);

enum weft_config_kind weft_config_node_kind(const struct weft_config_node *node);
/* Number of entries of a map or items of a sequence; 0 otherwise. */
size_t weft_config_node_len(const struct weft_config_node *node);
/* The i-th entry's value (map, in file order) or item (sequence); NULL when
 * out of range. */
const struct weft_config_node *weft_config_node_at(const struct weft_config_node *node, size_t i);
/* Child of a map by key (case-insensitive), or NULL. */
const struct weft_config_node *weft_config_node_child(const struct weft_config_node *node,
                                                      const char *key);
/* Key of a map entry as written in the file; NULL for the root and sequence items. */
const char *weft_config_node_key(const struct weft_config_node *node);
/* Text of a scalar; NULL for maps, sequences and null. */
const char *weft_config_node_value(const struct weft_config_node *node);
/* 1-based line in the file; 0 when the value came from the environment. */
int weft_config_node_line(const struct weft_config_node *node);
/* Full path for messages, e.g. "chaincode.externalBuilders[0].name". Caller
 * frees with weft_free; NULL on ENOMEM. */
char *weft_config_node_path(const struct weft_config_node *node);

/* Typed reads of a scalar node, with messages that name file, line and
 * node path. NULL node = WEFT_ENOTFOUND. *out written only on success. */
int weft_config_node_string(const struct weft_config *cfg, const struct weft_config_node *node,
                            const char **out, struct weft_err *err) WEFT_WARN_UNUSED;
int weft_config_node_bool(const struct weft_config *cfg, const struct weft_config_node *node,
                          bool *out, struct weft_err *err) WEFT_WARN_UNUSED;
int weft_config_node_i64(const struct weft_config *cfg, const struct weft_config_node *node,
                         int64_t *out, struct weft_err *err) WEFT_WARN_UNUSED;
int weft_config_node_duration(const struct weft_config *cfg, const struct weft_config_node *node,
                              int64_t *out_ns, struct weft_err *err) WEFT_WARN_UNUSED;
int weft_config_node_size(const struct weft_config *cfg, const struct weft_config_node *node,
                          uint64_t *out, struct weft_err *err) WEFT_WARN_UNUSED;

/* ---- output -------------------------------------------------------------- */

/* Prints every key of the table with its effective value and origin, one per
 * line: `peer.tls.enabled = false  # env CORE_PEER_TLS_ENABLED`. Secret keys
 * print as "<redacted>"; trees print in YAML flow style. Returns 0 or -errno
 * on a write error, WEFT_ENOMEM. */
int weft_config_dump(const struct weft_config *cfg, const struct weft_config_key *table, size_t n,
                     FILE *out) WEFT_WARN_UNUSED;

/* Prints the table for users: as aligned text (for --help), or as a Markdown
 * table "| Key | Type | Default | Env | Meaning |" (docs/configuration.md is
 * kept equal to this output by a unit test). prefix names the env variables. */
int weft_config_keys_print(const struct weft_config_key *table, size_t n, const char *prefix,
                           bool markdown, FILE *out) WEFT_WARN_UNUSED;

#endif
