/*
 * Launching chaincode (spec chaincode.md §6): Fabric external builders
 * (bin/detect, bin/build, bin/release, bin/run with Fabric's arguments,
 * folders and chaincode.json), chaincode-as-a-service (the peer dials
 * protos.Chaincode/Connect at the address in connection.json), and the
 * built-in Node launcher that runs fabric-shim's CLI as a local process
 * which registers back on the chaincode listener.
 *
 * DESIGN
 * Builds are cached under <fileSystemPath>/externalbuilder/builds/<ccid>/
 * (bld/, release/, build-info.json written last, so a half build is redone).
 * Builder programs run synchronously on the launching thread with their
 * output in a log file whose tail goes into the error on failure. Long-lived
 * processes (bin/run, node) are tracked in s->procs, reaped with
 * waitpid(WNOHANG) while the peer waits for REGISTER, and stopped with
 * SIGTERM then SIGKILL after 5 s. A crashed chaincode's stream ends; the
 * next execute finds no handler and launches it again (killing any leftover
 * process first).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cc_support.h"
#include "weft/log.h"
#include "weft/rpc.h"

WEFT_LOGGER(lg_launch, "chaincode.launch");

extern char **environ;

/* ---- options ------------------------------------------------------------------ */

static int dup_opt(const char **field)
{
    if (*field == NULL) {
        return 0;
    }
    char *c = weft_strdup(*field);
    *field = c;
    return c == NULL ? WEFT_ENOMEM : 0;
}

int cc__opts_copy(struct weft_cc_support *s, const struct weft_cc_support_opts *o)
{
    s->opts.builders = NULL;
    s->opts.n_builders = 0;
    int rc = dup_opt(&s->opts.peer_address);
    rc = rc != 0 ? rc : dup_opt(&s->opts.mspid);
    rc = rc != 0 ? rc : dup_opt(&s->opts.node_modules);
    rc = rc != 0 ? rc : dup_opt(&s->opts.node_binary);
    rc = rc != 0 ? rc : dup_opt(&s->opts.tls_root_pem);
    if (rc != 0 || o->n_builders == 0) {
        return rc;
    }
    s->builders = weft_calloc(o->n_builders, sizeof(*s->builders));
    if (s->builders == NULL) {
        return WEFT_ENOMEM;
    }
    s->opts.builders = s->builders;
    s->opts.n_builders = o->n_builders;
    for (size_t i = 0; i < o->n_builders && rc == 0; i++) {
        s->builders[i].name = o->builders[i].name;
        s->builders[i].path = o->builders[i].path;
        rc = dup_opt(&s->builders[i].name);
        rc = rc != 0 ? rc : dup_opt(&s->builders[i].path);
        size_t n = 0;
        while (o->builders[i].propagate_env != NULL && o->builders[i].propagate_env[n] != NULL) {
            n++;
        }
        if (rc == 0 && n > 0) {
            const char **v = weft_calloc(n + 1, sizeof(*v));
            if (v == NULL) {
                return WEFT_ENOMEM;
            }
            for (size_t k = 0; k < n && rc == 0; k++) {
                v[k] = o->builders[i].propagate_env[k];
                rc = dup_opt(&v[k]);
            }
            s->builders[i].propagate_env = v;
        }
    }
    return rc;
}

void cc__opts_free(struct weft_cc_support *s)
{
    weft_free((char *)s->opts.peer_address);
    weft_free((char *)s->opts.mspid);
    weft_free((char *)s->opts.node_modules);
    weft_free((char *)s->opts.node_binary);
    weft_free((char *)s->opts.tls_root_pem);
    for (size_t i = 0; s->builders != NULL && i < s->opts.n_builders; i++) {
        weft_free((char *)s->builders[i].name);
        weft_free((char *)s->builders[i].path);
        for (size_t k = 0; s->builders[i].propagate_env != NULL &&
                           s->builders[i].propagate_env[k] != NULL;
             k++) {
            weft_free((char *)s->builders[i].propagate_env[k]);
        }
        weft_free((void *)s->builders[i].propagate_env);
    }
    weft_free(s->builders);
}

/* ---- environment --------------------------------------------------------------- */

struct envv {
    char *v[64];
    size_t n;
};

static void env_add(struct envv *e, const char *name, const char *value)
{
    if (value == NULL || e->n + 1 >= WEFT_ARRAY_LEN(e->v)) {
        return;
    }
    char *s = weft_asprintf("%s=%s", name, value);
    if (s != NULL) {
        e->v[e->n++] = s;
        e->v[e->n] = NULL;
    }
}

static void env_pass(struct envv *e, const char *name)
{
    env_add(e, name, getenv(name));
}

static void env_free(struct envv *e)
{
    for (size_t i = 0; i < e->n; i++) {
        weft_free(e->v[i]);
    }
    e->n = 0;
}

static void builder_env(const struct weft_cc_builder *b, struct envv *e)
{
    e->n = 0;
    e->v[0] = NULL;
    env_pass(e, "LD_LIBRARY_PATH");
    env_pass(e, "LIBPATH");
    env_pass(e, "PATH");
    env_pass(e, "TMPDIR");
    for (size_t i = 0; b->propagate_env != NULL && b->propagate_env[i] != NULL; i++) {
        env_pass(e, b->propagate_env[i]);
    }
}

/* ---- chaincode TLS material --------------------------------------------------- */

/* A client key pair issued for one launch (PEM). */
struct tls_pair {
    char *cert, *key;
    size_t key_len;
};

static void tls_pair_clear(struct tls_pair *t)
{
    weft_free(t->cert);
    if (t->key != NULL) {
        weft_free_secret(t->key, t->key_len);
    }
    memset(t, 0, sizeof(*t));
}

static int write_b64(const char *path, const char *pem)
{
    char *b = cc__base64(pem, strlen(pem));
    if (b == NULL) {
        return WEFT_ENOMEM;
    }
    int rc = cc__write_file(path, b, strlen(b), 0600);
    weft_free_secret(b, strlen(b));
    return rc;
}

/* Writes the files Fabric's launcher hands a chaincode process into dir
 * (created 0700): client.key / client.crt (base64 of the PEM, read by
 * fabric-shim through CORE_TLS_CLIENT_KEY_PATH / CERT_PATH), client_pem.key /
 * client_pem.crt (PEM, CORE_TLS_CLIENT_KEY_FILE / CERT_FILE) and peer.crt
 * (the listener's root, CORE_PEER_TLS_ROOTCERT_FILE), and adds those
 * variables to e. */
static int tls_files(struct weft_cc_support *s, const char *ccid, const char *dir,
                     struct envv *e, struct weft_err *err)
{
    struct tls_pair t = {0};
    int rc = weft_cc_tlsca_issue(s->opts.tlsca, ccid, &t.cert, &t.key, &t.key_len, err);
    if (rc != 0) {
        return rc;
    }
    char kp[4400], cp[4400], kf[4400], cf[4400], rf[4400];
    snprintf(kp, sizeof(kp), "%s/client.key", dir);
    snprintf(cp, sizeof(cp), "%s/client.crt", dir);
    snprintf(kf, sizeof(kf), "%s/client_pem.key", dir);
    snprintf(cf, sizeof(cf), "%s/client_pem.crt", dir);
    snprintf(rf, sizeof(rf), "%s/peer.crt", dir);
    cc__rmtree(dir);
    rc = cc__mkdirs(dir);
    if (rc == 0) {
        chmod(dir, 0700);
        rc = write_b64(kp, t.key);
    }
    rc = rc != 0 ? rc : write_b64(cp, t.cert);
    rc = rc != 0 ? rc : cc__write_file(kf, t.key, t.key_len, 0600);
    rc = rc != 0 ? rc : cc__write_file(cf, t.cert, strlen(t.cert), 0600);
    const char *root = s->opts.tls_root_pem != NULL ? s->opts.tls_root_pem : "";
    rc = rc != 0 ? rc : cc__write_file(rf, root, strlen(root), 0600);
    tls_pair_clear(&t);
    if (rc != 0) {
        cc__rmtree(dir);
        return weft_err_set(err, rc, "write chaincode TLS files in %s: %s", dir,
                            weft_strerror(rc));
    }
    env_add(e, "CORE_PEER_TLS_ENABLED", "true");
    env_add(e, "CORE_TLS_CLIENT_KEY_PATH", kp);
    env_add(e, "CORE_TLS_CLIENT_CERT_PATH", cp);
    env_add(e, "CORE_TLS_CLIENT_KEY_FILE", kf);
    env_add(e, "CORE_TLS_CLIENT_CERT_FILE", cf);
    env_add(e, "CORE_PEER_TLS_ROOTCERT_FILE", rf);
    return 0;
}

/* ---- processes ----------------------------------------------------------------- */

/* Starts argv with stdout+stderr appended to log_path. */
static int spawn(char *const argv[], char *const envp[], const char *cwd, const char *log_path,
                 pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (cwd != NULL) {
        posix_spawn_file_actions_addchdir_np(&fa, cwd);
    }
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGHUP);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&at, 0);
    int rc = posix_spawn(pid, argv[0], &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return rc == 0 ? 0 : -rc;
}

/* Last ~200 bytes of a log file, one line. */
static void log_tail(const char *path, char *out, size_t cap)
{
    out[0] = 0;
    uint8_t *data = NULL;
    size_t len = 0;
    if (path == NULL || cc__read_file(path, 16u << 20, &data, &len) != 0) {
        return;
    }
    size_t keep = len > 200 ? 200 : len;
    size_t j = 0;
    for (size_t i = len - keep; i < len && j + 1 < cap; i++) {
        char c = (char)data[i];
        out[j++] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    }
    out[j] = 0;
    weft_free(data);
}

/* Runs a builder program to completion. */
static int run_sync(char *const argv[], char *const envp[], const char *log_path, int *status)
{
    pid_t pid;
    int rc = spawn(argv, envp, NULL, log_path, &pid);
    if (rc != 0) {
        return rc;
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            return -errno;
        }
    }
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return 0;
}

static struct cc_proc *proc_add(struct weft_cc_support *s, const char *ccid, pid_t pid,
                                const char *log_path, const char *run_dir)
{
    struct cc_proc *p = weft_calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    p->ccid = weft_strdup(ccid);
    p->log_path = weft_strdup(log_path);
    p->run_dir = run_dir != NULL ? weft_strdup(run_dir) : NULL;
    p->pid = pid;
    pthread_mutex_lock(&s->mu);
    p->next = s->procs;
    s->procs = p;
    pthread_mutex_unlock(&s->mu);
    return p;
}

bool cc__proc_exited(struct weft_cc_support *s, struct cc_proc *p, struct weft_err *err)
{
    (void)s;
    if (!p->exited) {
        int st = 0;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->exited = true;
            p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        } else if (r < 0 && errno == ECHILD) {
            p->exited = true;
        }
    }
    if (p->exited && err != NULL) {
        char tail[256];
        log_tail(p->log_path, tail, sizeof(tail));
        weft_err_set(err, WEFT_EUNAVAILABLE,
                     "chaincode process exited with status %d before registering: %s",
                     p->status, tail);
    }
    return p->exited;
}

void cc__proc_log_tail(struct cc_proc *p, struct weft_err *err)
{
    if (p == NULL || err == NULL) {
        return;
    }
    char tail[256];
    log_tail(p->log_path, tail, sizeof(tail));
    if (tail[0] != 0) {
        size_t l = strlen(err->msg);
        snprintf(err->msg + l, sizeof(err->msg) - l, " (output: %s)", tail);
    }
}

static void proc_kill_wait(struct cc_proc *p)
{
    if (p->exited) {
        return;
    }
    kill(-p->pid, SIGTERM);
    kill(p->pid, SIGTERM);
    uint64_t until = weft_clock_mono_ns() + 5000000000ull;
    while (!p->exited) {
        int st;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid || (r < 0 && errno == ECHILD)) {
            p->exited = true;
            break;
        }
        if (weft_clock_mono_ns() > until) {
            kill(-p->pid, SIGKILL);
            kill(p->pid, SIGKILL);
            (void)waitpid(p->pid, &st, 0);
            p->exited = true;
            break;
        }
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
}

static void proc_free(struct cc_proc *p)
{
    if (p->run_dir != NULL) {
        cc__rmtree(p->run_dir);
    }
    weft_free(p->ccid);
    weft_free(p->log_path);
    weft_free(p->run_dir);
    weft_free(p);
}

void cc__proc_stop(struct weft_cc_support *s, struct cc_proc *p)
{
    pthread_mutex_lock(&s->mu);
    for (struct cc_proc **pp = &s->procs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    proc_kill_wait(p);
    proc_free(p);
}

void cc__proc_stop_ccid(struct weft_cc_support *s, const char *ccid)
{
    for (;;) {
        struct cc_proc *found = NULL;
        pthread_mutex_lock(&s->mu);
        for (struct cc_proc *p = s->procs; p != NULL; p = p->next) {
            if (strcmp(p->ccid, ccid) == 0) {
                found = p;
                break;
            }
        }
        pthread_mutex_unlock(&s->mu);
        if (found == NULL) {
            return;
        }
        cc__proc_stop(s, found);
    }
}

void cc__proc_stop_all(struct weft_cc_support *s)
{
    for (;;) {
        pthread_mutex_lock(&s->mu);
        struct cc_proc *p = s->procs;
        pthread_mutex_unlock(&s->mu);
        if (p == NULL) {
            return;
        }
        cc__proc_stop(s, p);
    }
}

/* ---- CCaaS ---------------------------------------------------------------------- */

struct cc_ccaas_conn {
    struct cc_ccaas_conn *next;
    struct weft_cc_support *s;
    struct weft_rpc_client *client;
    struct weft_rpc_stream *stream;
    pthread_t thread;
};

static int cs_send(void *st, const uint8_t *m, size_t l)
{
    return weft_rpc_stream_send(st, m, l);
}

static int cs_recv(void *st, uint8_t **m, size_t *l, int64_t t)
{
    return weft_rpc_stream_recv(st, m, l, t);
}

static void cs_cancel(void *st)
{
    weft_rpc_stream_cancel(st);
}

static const struct weft_cc_stream_ops ccaas_ops = {
    .send = cs_send, .recv = cs_recv, .cancel = cs_cancel};

static void *ccaas_thread(void *arg)
{
    weft_thread_name("cc-ccaas");
    struct cc_ccaas_conn *c = arg;
    weft_cc_support_serve_stream(c->s, &ccaas_ops, c->stream);
    return NULL;
}

int weft_cc_support_connect(struct weft_cc_support *s, const char *ccid,
                            const struct weft_cc_ccaas *cc, struct weft_err *err)
{
    (void)ccid;
    struct weft_rpc_client_opts o = {0};
    if (cc->tls_required) {
        o.tls = true;
        o.ca.pem = cc->root_cert;
        if (cc->client_auth_required) {
            o.cert.pem = cc->client_cert;
            o.key.pem = cc->client_key;
        }
    }
    struct cc_ccaas_conn *c = weft_calloc(1, sizeof(*c));
    if (c == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    c->s = s;
    c->client = weft_rpc_client_new(cc->address, &o, err);
    if (c->client == NULL) {
        weft_free(c);
        return weft_err_prefix(err, "chaincode server %s", cc->address);
    }
    int64_t dial = cc->dial_timeout_ms > 0 ? cc->dial_timeout_ms : 3000;
    int rc = weft_rpc_client_wait_ready(c->client, dial);
    if (rc != 0) {
        rc = weft_err_set(err, WEFT_EUNAVAILABLE,
                          "error trying to connect to chaincode server %s: not reachable "
                          "within %lld ms",
                          cc->address, (long long)dial);
        goto fail;
    }
    c->stream = weft_rpc_client_stream(c->client, "/protos.Chaincode/Connect", -1, err);
    if (c->stream == NULL) {
        rc = weft_err_prefix(err, "chaincode server %s: Connect", cc->address);
        goto fail;
    }
    pthread_mutex_lock(&s->mu);
    c->next = s->conns;
    s->conns = c;
    rc = pthread_create(&c->thread, NULL, ccaas_thread, c);
    if (rc != 0) {
        s->conns = c->next;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc != 0) {
        rc = weft_err_set(err, -rc, "start chaincode stream thread");
        goto fail;
    }
    return 0;
fail:
    weft_rpc_stream_free(c->stream);
    weft_rpc_client_free(c->client);
    weft_free(c);
    return rc;
}

void cc__ccaas_join_all(struct weft_cc_support *s)
{
    pthread_mutex_lock(&s->mu);
    struct cc_ccaas_conn *c = s->conns;
    s->conns = NULL;
    pthread_mutex_unlock(&s->mu);
    while (c != NULL) {
        struct cc_ccaas_conn *next = c->next;
        weft_rpc_stream_cancel(c->stream);
        pthread_join(c->thread, NULL);
        weft_rpc_stream_free(c->stream);
        weft_rpc_client_free(c->client);
        weft_free(c);
        c = next;
    }
}

/* Reads connection.json (Fabric's ChaincodeServerUserData) and dials it. */
static int connect_json(struct weft_cc_support *s, const char *ccid, const char *path,
                        struct weft_err *err)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (j == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "%s: %s", path, je.text);
    }
    struct weft_cc_ccaas cc = {0};
    cc.address = json_string_value(json_object_get(j, "address"));
    json_t *dt = json_object_get(j, "dial_timeout");
    int64_t ns = 0;
    if (json_is_string(dt)) {
        if (weft_parse_duration(json_string_value(dt), &ns) != 0) {
            ns = 0;
        }
    } else if (json_is_integer(dt)) {
        ns = (int64_t)json_integer_value(dt);
    }
    cc.dial_timeout_ms = ns / 1000000;
    cc.tls_required = json_is_true(json_object_get(j, "tls_required"));
    cc.client_auth_required = json_is_true(json_object_get(j, "client_auth_required"));
    cc.root_cert = json_string_value(json_object_get(j, "root_cert"));
    cc.client_cert = json_string_value(json_object_get(j, "client_cert"));
    cc.client_key = json_string_value(json_object_get(j, "client_key"));
    int rc;
    if (cc.address == NULL || cc.address[0] == 0) {
        rc = weft_err_set(err, WEFT_EPARSE, "%s: chaincode address not provided", path);
    } else if (cc.tls_required && cc.root_cert == NULL) {
        rc = weft_err_set(err, WEFT_EPARSE, "%s: root_cert required when tls_required", path);
    } else {
        rc = weft_cc_support_connect(s, ccid, &cc, err);
    }
    json_decref(j);
    return rc;
}

/* ---- external builders ----------------------------------------------------------- */

static bool is_exec(const char *path)
{
    return access(path, X_OK) == 0;
}

static int builder_run(const struct weft_cc_builder *b, const char *prog, const char *a1,
                       const char *a2, const char *a3, const char *log, int *status)
{
    char exe[4096];
    snprintf(exe, sizeof(exe), "%s/bin/%s", b->path, prog);
    char *argv[5] = {exe, (char *)a1, (char *)a2, (char *)a3, NULL};
    struct envv e;
    builder_env(b, &e);
    int rc = run_sync(argv, e.v, log, status);
    env_free(&e);
    return rc;
}

/* Durable build folder of ccid. */
static char *build_dir(struct weft_cc_support *s, const char *ccid)
{
    char san[512];
    cc__sanitize(ccid, san, sizeof(san));
    return weft_asprintf("%s/externalbuilder/builds/%s", weft_cc_store_root(s->opts.store), san);
}

/* The builder recorded in <dir>/build-info.json, or NULL. */
static const struct weft_cc_builder *cached_builder(struct weft_cc_support *s, const char *dir)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/build-info.json", dir);
    json_t *j = json_load_file(p, 0, NULL);
    const char *name = json_string_value(json_object_get(j, "builder_name"));
    const struct weft_cc_builder *b = NULL;
    for (size_t i = 0; name != NULL && i < s->opts.n_builders; i++) {
        if (strcmp(s->opts.builders[i].name, name) == 0) {
            b = &s->opts.builders[i];
        }
    }
    json_decref(j);
    return b;
}

/* Detects and builds ccid with the external builders. *used = NULL when no
 * builder accepts the package. */
static int external_build(struct weft_cc_support *s, const char *ccid,
                          const struct weft_cc_package *pkg,
                          const struct weft_cc_builder **used, struct weft_err *err)
{
    *used = NULL;
    if (s->opts.n_builders == 0) {
        return 0;
    }
    char *dir = build_dir(s, ccid);
    if (dir == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    const struct weft_cc_builder *b = cached_builder(s, dir);
    if (b != NULL) {
        *used = b;
        weft_free(dir);
        return 0;
    }
    char san[512], tmpl[600];
    cc__sanitize(ccid, san, sizeof(san));
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpl, sizeof(tmpl), "%s/fabric-%sXXXXXX", tmp != NULL ? tmp : "/tmp", san);
    char *scratch = mkdtemp(tmpl);
    int rc = 0;
    if (scratch == NULL) {
        rc = weft_err_set(err, -errno, "create scratch folder: %s", strerror(errno));
        weft_free(dir);
        return rc;
    }
    char src[700], md[700], mdf[720], bld[4200], rel[4200], log[720], info[4200];
    snprintf(src, sizeof(src), "%s/src", scratch);
    snprintf(md, sizeof(md), "%s/metadata", scratch);
    snprintf(mdf, sizeof(mdf), "%s/metadata.json", md);
    snprintf(log, sizeof(log), "%s/builder.log", scratch);
    snprintf(bld, sizeof(bld), "%s/bld", dir);
    snprintf(rel, sizeof(rel), "%s/release", dir);
    snprintf(info, sizeof(info), "%s/build-info.json", dir);
    rc = weft_cc_untar_gz(pkg->code, pkg->code_len, src, err);
    if (rc == 0 && (rc = cc__mkdirs(md)) == 0) {
        rc = cc__write_file(mdf, pkg->metadata, pkg->metadata_len, 0644);
        if (rc != 0) {
            weft_err_set(err, rc, "write %s: %s", mdf, weft_strerror(rc));
        }
    }
    for (size_t i = 0; rc == 0 && i < s->opts.n_builders; i++) {
        const struct weft_cc_builder *cand = &s->opts.builders[i];
        char exe[4200];
        snprintf(exe, sizeof(exe), "%s/bin/detect", cand->path);
        int st = -1;
        if (!is_exec(exe)) {
            continue;
        }
        rc = builder_run(cand, "detect", src, md, NULL, log, &st);
        if (rc != 0) {
            rc = weft_err_set(err, rc, "builder %s: run detect: %s", cand->name,
                              weft_strerror(rc));
            break;
        }
        if (st == 0) {
            b = cand;
            break;
        }
    }
    if (rc == 0 && b != NULL) {
        cc__rmtree(dir);
        int st = 0;
        rc = cc__mkdirs(bld);
        if (rc == 0) {
            rc = cc__mkdirs(rel);
        }
        if (rc == 0) {
            rc = builder_run(b, "build", src, md, bld, log, &st);
        }
        if (rc == 0 && st != 0) {
            char tail[256];
            log_tail(log, tail, sizeof(tail));
            rc = weft_err_set(err, WEFT_EIO, "external builder '%s' failed: exit status %d: %s",
                              b->name, st, tail);
        }
        char exe[4200];
        snprintf(exe, sizeof(exe), "%s/bin/release", b->path);
        if (rc == 0 && is_exec(exe)) {
            rc = builder_run(b, "release", bld, rel, NULL, log, &st);
            if (rc == 0 && st != 0) {
                char tail[256];
                log_tail(log, tail, sizeof(tail));
                rc = weft_err_set(err, WEFT_EIO,
                                  "builder '%s' release failed: exit status %d: %s", b->name, st,
                                  tail);
            }
        }
        if (rc == 0) {
            char js[512];
            int n = snprintf(js, sizeof(js), "{\"builder_name\":\"%s\"}", b->name);
            rc = cc__write_file(info, js, (size_t)n, 0644);
        }
        if (rc != 0) {
            if (err != NULL && err->code == 0) {
                weft_err_set(err, rc, "build %s: %s", ccid, weft_strerror(rc));
            }
            cc__rmtree(dir);
        } else {
            *used = b;
        }
    }
    cc__rmtree(scratch);
    weft_free(dir);
    return rc;
}

int weft_cc_support_build(struct weft_cc_support *s, const char *ccid, struct weft_err *err)
{
    uint8_t *data = NULL;
    size_t len = 0;
    struct weft_cc_package *pkg = NULL;
    int rc = weft_cc_store_load(s->opts.store, ccid, &data, &len, err);
    if (rc == 0) {
        rc = weft_cc_package_parse(data, len, &pkg, err);
    }
    const struct weft_cc_builder *b = NULL;
    if (rc == 0) {
        rc = external_build(s, ccid, pkg, &b, err);
    }
    weft_cc_package_free(pkg);
    weft_free(data);
    return rc;
}

/* Runs bin/run with BUILD_OUTPUT_DIR and a run metadata folder holding
 * chaincode.json. */
static int external_run(struct weft_cc_support *s, const struct weft_cc_builder *b,
                        const char *ccid, struct cc_proc **proc, struct weft_err *err)
{
    char *dir = build_dir(s, ccid);
    char exe[4200], bld[4200], tmpl[600], cj[700], log[700];
    if (dir == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    snprintf(exe, sizeof(exe), "%s/bin/run", b->path);
    snprintf(bld, sizeof(bld), "%s/bld", dir);
    weft_free(dir);
    if (!is_exec(exe)) {
        return weft_err_set(err, WEFT_EUNSUPPORTED,
                            "builder '%s' has no bin/run and the build produced no "
                            "connection.json",
                            b->name);
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpl, sizeof(tmpl), "%s/fabric-runXXXXXX", tmp != NULL ? tmp : "/tmp");
    char *run = mkdtemp(tmpl);
    if (run == NULL) {
        return weft_err_set(err, -errno, "create run folder: %s", strerror(errno));
    }
    snprintf(cj, sizeof(cj), "%s/chaincode.json", run);
    snprintf(log, sizeof(log), "%s.log", run);
    struct tls_pair t = {0};
    if (s->opts.tlsca != NULL) {
        int irc = weft_cc_tlsca_issue(s->opts.tlsca, ccid, &t.cert, &t.key, &t.key_len, err);
        if (irc != 0) {
            cc__rmtree(run);
            return irc;
        }
    }
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s}", "chaincode_id", ccid, "peer_address",
        s->opts.peer_address ? s->opts.peer_address : "", "client_cert",
        t.cert != NULL ? t.cert : "", "client_key", t.key != NULL ? t.key : "", "root_cert",
        t.cert != NULL && s->opts.tls_root_pem != NULL ? s->opts.tls_root_pem : "", "mspid",
        s->opts.mspid ? s->opts.mspid : "");
    tls_pair_clear(&t);
    int rc = j == NULL ? WEFT_ENOMEM : json_dump_file(j, cj, JSON_COMPACT) == 0 ? 0 : WEFT_EIO;
    json_decref(j);
    if (rc == 0) {
        chmod(cj, 0600);
    }
    pid_t pid = 0;
    if (rc == 0) {
        char *argv[4] = {exe, bld, run, NULL};
        struct envv e;
        builder_env(b, &e);
        rc = spawn(argv, e.v, NULL, log, &pid);
        env_free(&e);
    }
    if (rc != 0) {
        cc__rmtree(run);
        return weft_err_set(err, rc, "builder '%s' run: %s", b->name, weft_strerror(rc));
    }
    *proc = proc_add(s, ccid, pid, log, run);
    WEFT_INFO(lg_launch, "started %s for %s (pid %d)", exe, ccid, (int)pid);
    return 0;
}

/* ---- built-in launchers ----------------------------------------------------------- */

/* code.tar.gz of a ccaas package holds connection.json at its top. */
static int builtin_ccaas(struct weft_cc_support *s, const char *ccid,
                         const struct weft_cc_package *pkg, struct weft_err *err)
{
    char *dir = build_dir(s, ccid);
    if (dir == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    char cj[4200];
    snprintf(cj, sizeof(cj), "%s/src/connection.json", dir);
    int rc = 0;
    if (access(cj, R_OK) != 0) {
        char src[4200];
        snprintf(src, sizeof(src), "%s/src", dir);
        rc = weft_cc_untar_gz(pkg->code, pkg->code_len, src, err);
    }
    if (rc == 0) {
        rc = connect_json(s, ccid, cj, err);
    }
    weft_free(dir);
    return rc;
}

static int builtin_node(struct weft_cc_support *s, const char *ccid,
                        const struct weft_cc_package *pkg, struct cc_proc **proc,
                        struct weft_err *err)
{
    char *dir = build_dir(s, ccid);
    if (dir == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    char code[4200], mod[4300], cli[4400], log[4300], ready[4300], tlsdir[4300];
    snprintf(code, sizeof(code), "%s/code", dir);
    snprintf(tlsdir, sizeof(tlsdir), "%s/tls", dir);
    snprintf(ready, sizeof(ready), "%s/.unpacked", dir);
    snprintf(log, sizeof(log), "%s/chaincode.log", dir);
    int rc = 0;
    if (access(ready, F_OK) != 0) {
        cc__rmtree(code);
        rc = weft_cc_untar_gz(pkg->code, pkg->code_len, code, err);
        if (rc == 0) {
            rc = cc__write_file(ready, "", 0, 0644);
        }
    }
    weft_free(dir);
    if (rc != 0) {
        return rc;
    }
    snprintf(mod, sizeof(mod), "%s/src", code);
    if (access(mod, F_OK) != 0) {
        snprintf(mod, sizeof(mod), "%s", code);
    }
    snprintf(cli, sizeof(cli), "%s/node_modules/fabric-shim/cli.js", mod);
    if (access(cli, R_OK) != 0) {
        if (s->opts.node_modules == NULL) {
            return weft_err_set(err, WEFT_ENOTFOUND,
                                "chaincode %s: package has no node_modules/fabric-shim and "
                                "chaincode.node.modulesPath is not set",
                                ccid);
        }
        snprintf(cli, sizeof(cli), "%s/fabric-shim/cli.js", s->opts.node_modules);
        if (access(cli, R_OK) != 0) {
            return weft_err_set(err, WEFT_ENOTFOUND, "fabric-shim not found at %s", cli);
        }
    }
    const char *node = s->opts.node_binary != NULL ? s->opts.node_binary : "node";
    char nodepath[4200];
    if (strchr(node, '/') == NULL) {
        /* resolve through PATH: posix_spawn wants a path */
        const char *path = getenv("PATH");
        nodepath[0] = 0;
        while (path != NULL && *path != 0) {
            const char *c = strchr(path, ':');
            size_t l = c != NULL ? (size_t)(c - path) : strlen(path);
            snprintf(nodepath, sizeof(nodepath), "%.*s/%s", (int)l, path, node);
            if (is_exec(nodepath)) {
                break;
            }
            nodepath[0] = 0;
            path = c != NULL ? c + 1 : NULL;
        }
        if (nodepath[0] == 0) {
            return weft_err_set(err, WEFT_ENOTFOUND, "node binary '%s' not found in PATH", node);
        }
        node = nodepath;
    }
    char *argv[] = {(char *)node, cli, "start", "--peer.address",
                    (char *)(s->opts.peer_address ? s->opts.peer_address : "127.0.0.1:7052"),
                    "--chaincode-id-name", (char *)ccid, "--module-path", mod, NULL};
    struct envv e = {.n = 0};
    e.v[0] = NULL;
    env_pass(&e, "PATH");
    env_pass(&e, "HOME");
    env_pass(&e, "TMPDIR");
    env_add(&e, "NODE_PATH", s->opts.node_modules);
    env_add(&e, "CORE_CHAINCODE_ID_NAME", ccid);
    env_add(&e, "CORE_PEER_ADDRESS", s->opts.peer_address);
    env_add(&e, "CORE_PEER_LOCALMSPID", s->opts.mspid);
    if (s->opts.tlsca != NULL) {
        rc = tls_files(s, ccid, tlsdir, &e, err);
        if (rc != 0) {
            env_free(&e);
            return rc;
        }
    } else {
        env_add(&e, "CORE_PEER_TLS_ENABLED", "false");
    }
    pid_t pid = 0;
    rc = spawn(argv, e.v, mod, log, &pid);
    env_free(&e);
    if (rc != 0) {
        if (s->opts.tlsca != NULL) {
            cc__rmtree(tlsdir);
        }
        return weft_err_set(err, rc, "start node chaincode: %s", weft_strerror(rc));
    }
    WEFT_INFO(lg_launch, "started node chaincode %s (pid %d%s)", ccid, (int)pid,
              s->opts.tlsca != NULL ? ", mutual TLS" : "");
    /* the key files go when the process is reaped */
    *proc = proc_add(s, ccid, pid, log, s->opts.tlsca != NULL ? tlsdir : NULL);
    return *proc == NULL ? weft_err_set(err, WEFT_ENOMEM, "out of memory") : 0;
}

int cc__launch(struct weft_cc_support *s, const char *ccid, struct cc_proc **proc,
               struct weft_err *err)
{
    *proc = NULL;
    cc__proc_stop_ccid(s, ccid); /* a leftover of a crashed instance */
    if (s->opts.launcher != NULL) {
        return s->opts.launcher->launch(s->opts.launcher->ctx, s, ccid, err);
    }
    uint8_t *data = NULL;
    size_t len = 0;
    struct weft_cc_package *pkg = NULL;
    int rc = weft_cc_store_load(s->opts.store, ccid, &data, &len, err);
    if (rc == 0) {
        rc = weft_cc_package_parse(data, len, &pkg, err);
    }
    weft_free(data);
    if (rc != 0) {
        return rc;
    }
    const struct weft_cc_builder *b = NULL;
    rc = external_build(s, ccid, pkg, &b, err);
    if (rc == 0 && b != NULL) {
        char *dir = build_dir(s, ccid);
        char cj[4300];
        snprintf(cj, sizeof(cj), "%s/release/chaincode/server/connection.json",
                 dir != NULL ? dir : "");
        weft_free(dir);
        if (access(cj, R_OK) == 0) {
            rc = connect_json(s, ccid, cj, err);
        } else {
            rc = external_run(s, b, ccid, proc, err);
        }
    } else if (rc == 0 && strcasecmp(pkg->type, "ccaas") == 0) {
        rc = builtin_ccaas(s, ccid, pkg, err);
    } else if (rc == 0 && strcasecmp(pkg->type, "node") == 0) {
        rc = builtin_node(s, ccid, pkg, proc, err);
    } else if (rc == 0) {
        rc = weft_err_set(err, WEFT_EUNSUPPORTED,
                          "no builder for chaincode type '%s' (configure "
                          "chaincode.externalBuilders)",
                          pkg->type);
    }
    weft_cc_package_free(pkg);
    return rc;
}
