/*
 * `weft network`: processes and a minimal HTTP(S) client.
 *
 * DESIGN
 * Nodes are this same binary (`weft peer start --config F`), spawned with
 * posix_spawn in a new session (POSIX_SPAWN_SETSID) so a terminal's Ctrl-C
 * does not reach them and they outlive `weft network up`. Output goes to the
 * node's log file; its PID goes to a PID file under the state directory.
 * A PID alone could be recycled by an unrelated process after a crash, so
 * every signal is preceded by a check that /proc/<pid>/cmdline still names
 * the node's config file: `down` never touches anything it did not start.
 *
 * HTTP goes through libcurl (ARCHITECTURE.md's HTTP client): one blocking
 * request at a time with a deadline, optional TLS with a client certificate
 * (the orderer's channel participation API wants mutual TLS), proxies
 * ignored (every address is loopback).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>


#include "cmd_network.h"

extern char **environ;

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Variables a Fabric CLI session exports (docs: `export CORE_PEER_ADDRESS=...`)
 * that would override the per-node settings of every node's own config, or
 * the identity given to a tool: never passed on. */
static const char *const scrubbed_env[] = {
    "CORE_PEER_ADDRESS",          "CORE_PEER_LOCALMSPID",          "CORE_PEER_MSPCONFIGPATH",
    "CORE_PEER_ID",               "CORE_PEER_LISTENADDRESS",       "CORE_PEER_FILESYSTEMPATH",
    "CORE_PEER_TLS_ENABLED",      "CORE_PEER_TLS_ROOTCERT_FILE",   "CORE_PEER_TLS_CERT_FILE",
    "CORE_PEER_TLS_KEY_FILE",     "CORE_PEER_TLS_CLIENTCERT_FILE", "CORE_PEER_TLS_CLIENTKEY_FILE",
    "CORE_PEER_TLS_SERVERHOSTOVERRIDE", "FABRIC_CFG_PATH",
};

static bool env_named(const char *entry, const char *name)
{
    size_t n = strlen(name);
    return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

/* environ without the scrubbed variables and those set in extra, then
 * extra ("NAME=value" entries, NULL-terminated; may be NULL). Caller frees
 * the array only. */
static char **child_env(char *const extra[])
{
    size_t n = 0, k = 0;
    while (environ[n] != NULL) {
        n++;
    }
    size_t ne = 0;
    while (extra != NULL && extra[ne] != NULL) {
        ne++;
    }
    char **out = weft_calloc(n + ne + 1, sizeof(char *));
    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        bool drop = false;
        for (size_t j = 0; j < WEFT_ARRAY_LEN(scrubbed_env) && !drop; j++) {
            drop = env_named(environ[i], scrubbed_env[j]);
        }
        for (size_t j = 0; j < ne && !drop; j++) {
            const char *eq = strchr(extra[j], '=');
            drop = eq != NULL && strncmp(environ[i], extra[j], (size_t)(eq - extra[j]) + 1) == 0;
        }
        if (!drop) {
            out[k++] = environ[i];
        }
    }
    for (size_t j = 0; j < ne; j++) {
        out[k++] = extra[j];
    }
    out[k] = NULL;
    return out;
}

static int spawn(const char *bin, char *const argv[], char *const extra_env[], const char *log,
                 bool setsid_, pid_t *pid, struct weft_err *err)
{
    char **envp = child_env(extra_env);
    if (envp == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    short flags = POSIX_SPAWN_SETSIGMASK;
    if (setsid_) {
        flags |= POSIX_SPAWN_SETSID;
    }
    posix_spawnattr_setflags(&at, flags);
    int e = posix_spawn(pid, bin, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    weft_free(envp);
    if (e != 0) {
        return weft_err_set(err, -e, "cannot run %s: %s", bin, strerror(e));
    }
    return 0;
}

int net_run_tool(const char *bin, char *const argv[], const char *log, struct weft_err *err)
{
    return net_run_tool_env(bin, argv, NULL, log, err);
}

int net_spawn_tool(const char *bin, char *const argv[], char *const env[], const char *log,
                   pid_t *pid, struct weft_err *err)
{
    return spawn(bin, argv, env, log, false, pid, err);
}

int net_wait_tool(pid_t pid, const char *what, struct weft_err *err)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            return weft_err_set(err, -errno, "wait for %s: %s", what, strerror(errno));
        }
    }
    if (WIFEXITED(st)) {
        return WEXITSTATUS(st);
    }
    return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

int net_run_tool_env(const char *bin, char *const argv[], char *const env[], const char *log,
                     struct weft_err *err)
{
    pid_t pid;
    int rc = spawn(bin, argv, env, log, false, &pid, err);
    if (rc != 0) {
        return rc;
    }
    return net_wait_tool(pid, argv[0], err);
}

int net_start_node(const struct net *net, struct net_node *n, struct weft_err *err)
{
    char *argv[] = {(char *)"weft",  (char *)(n->role == NET_PEER ? "peer" : "orderer"),
                    (char *)"start", (char *)"--config",
                    n->config,       NULL};
    int rc = spawn(net->bin, argv, NULL, n->log, true, &n->pid, err);
    if (rc != 0) {
        return rc;
    }
    FILE *f = fopen(n->pid_file, "w");
    if (f == NULL) {
        return weft_err_set(err, WEFT_EIO, "cannot write %s", n->pid_file);
    }
    fprintf(f, "%ld\n", (long)n->pid);
    if (fclose(f) != 0) {
        return weft_err_set(err, WEFT_EIO, "cannot write %s", n->pid_file);
    }
    return 0;
}

pid_t net_read_pid(const char *pid_file)
{
    FILE *f = fopen(pid_file, "r");
    if (f == NULL) {
        return 0;
    }
    long v = 0;
    if (fscanf(f, "%ld", &v) != 1 || v <= 1) {
        v = 0;
    }
    fclose(f);
    return (pid_t)v;
}

bool net_pid_is_node(pid_t pid, const char *config)
{
    if (pid <= 1) {
        return false;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return false;
    }
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    /* A zombie has an empty command line: it is gone for our purposes. */
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *arg = buf + i;
        if (strcmp(arg, config) == 0) {
            return true;
        }
        i += strlen(arg);
    }
    return false;
}

int net_stop_pid(pid_t pid, const char *config, int grace_ms)
{
    if (!net_pid_is_node(pid, config)) {
        return 0;
    }
    kill(pid, SIGTERM);
    /* Reap it if it is our own child (the up command stopping what it
     * started after a failure); otherwise init does. */
    uint64_t deadline = weft_clock_mono_ns() + (uint64_t)grace_ms * 1000000u;
    while (weft_clock_mono_ns() < deadline) {
        waitpid(pid, NULL, WNOHANG);
        if (!net_pid_is_node(pid, config)) {
            return 0;
        }
        sleep_ms(50);
    }
    kill(pid, SIGKILL);
    deadline = weft_clock_mono_ns() + 5000000000u;
    while (weft_clock_mono_ns() < deadline) {
        waitpid(pid, NULL, WNOHANG);
        if (!net_pid_is_node(pid, config)) {
            return 0;
        }
        sleep_ms(50);
    }
    return WEFT_ETIMEDOUT;
}

/* ---- HTTP --------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct weft_buf *b = ctx;
    size_t n = size * nmemb;
    return weft_buf_append(b, data, n) == 0 ? n : 0;
}

int net_http(const struct net_http_req *r, int *status, struct weft_buf *body,
             struct weft_err *err)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    char url[512], resolve[300], ctype[300];
    int rc = 0;
    if (c == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "HTTP client");
    }
    /* With TLS the URL names the server as its certificate does, and
     * CURLOPT_RESOLVE pins that name to the loopback address. */
    const char *name = r->ca_file != NULL && r->server_name != NULL ? r->server_name : r->host;
    snprintf(url, sizeof(url), "%s://%s:%d%s", r->ca_file != NULL ? "https" : "http", name,
             r->port, r->path);
    snprintf(resolve, sizeof(resolve), "%s:%d:%s", name, r->port, r->host);
    struct curl_slist *res = curl_slist_append(NULL, resolve);
    weft_buf_reset(body);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_RESOLVE, res);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(r->timeout_ms > 0 ? r->timeout_ms : 5000));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    if (r->ca_file != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, r->ca_file);
        curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
        if (r->cert_file != NULL) {
            curl_easy_setopt(c, CURLOPT_SSLCERT, r->cert_file);
            curl_easy_setopt(c, CURLOPT_SSLKEY, r->key_file);
        }
    }
    if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)r->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    }
    if (r->content_type != NULL) {
        snprintf(ctype, sizeof(ctype), "Content-Type: %s", r->content_type);
        hdrs = curl_slist_append(NULL, ctype);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    }
    int wait_ms = r->connect_wait_ms > 0 ? r->connect_wait_ms : 0;
    uint64_t connect_end = weft_clock_mono_ns() + (uint64_t)wait_ms * 1000000u;
    CURLcode cr = curl_easy_perform(c);
    while (cr == CURLE_COULDNT_CONNECT && weft_clock_mono_ns() < connect_end) {
        struct timespec ts = {0, 100000000}; /* 100 ms */
        nanosleep(&ts, NULL);
        weft_buf_reset(body);
        cr = curl_easy_perform(c);
    }
    if (cr != CURLE_OK) {
        rc = weft_err_set(err, cr == CURLE_OPERATION_TIMEDOUT ? WEFT_ETIMEDOUT : WEFT_EUNAVAILABLE,
                          "%s: %s", url, curl_easy_strerror(cr));
    } else {
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        *status = (int)code;
        if (body->data == NULL && weft_buf_append(body, "", 1) == 0) {
            body->len = 0; /* an empty body is still a C string */
        }
    }
    curl_slist_free_all(hdrs);
    curl_slist_free_all(res);
    curl_easy_cleanup(c);
    return rc;
}

int net_tail(const char *path, int lines)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return -errno;
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return WEFT_EIO;
    }
    long size = ftell(f);
    long pos = size;
    int seen = 0;
    /* Walk back one byte at a time through a buffered window. */
    char win[4096];
    while (pos > 0 && seen <= lines) {
        long step = pos > (long)sizeof(win) ? (long)sizeof(win) : pos;
        pos -= step;
        fseek(f, pos, SEEK_SET);
        size_t got = fread(win, 1, (size_t)step, f);
        for (long i = (long)got - 1; i >= 0; i--) {
            if (win[i] == '\n' && pos + i != size - 1 && ++seen > lines) {
                pos += i + 1;
                break;
            }
        }
    }
    fseek(f, pos < 0 ? 0 : pos, SEEK_SET);
    char buf[8192];
    size_t got;
    while ((got = fread(buf, 1, sizeof(buf), f)) > 0) {
        fwrite(buf, 1, got, stdout);
    }
    fclose(f);
    fflush(stdout);
    return 0;
}
