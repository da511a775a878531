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
 * The HTTP client is what `up` and `status` need and no more: one request
 * per connection (Connection: close), blocking socket with a deadline,
 * optional TLS with a client certificate (the orderer's channel
 * participation API wants mutual TLS), Content-Length or chunked bodies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "cmd_network.h"

extern char **environ;

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int spawn(const char *bin, char *const argv[], const char *log, bool setsid_,
                 pid_t *pid, struct weft_err *err)
{
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
    int e = posix_spawn(pid, bin, &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (e != 0) {
        return weft_err_set(err, -e, "cannot run %s: %s", bin, strerror(e));
    }
    return 0;
}

int net_run_tool(const char *bin, char *const argv[], const char *log, struct weft_err *err)
{
    pid_t pid;
    int rc = spawn(bin, argv, log, false, &pid, err);
    if (rc != 0) {
        return rc;
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            return weft_err_set(err, -errno, "wait for %s: %s", argv[0], strerror(errno));
        }
    }
    if (WIFEXITED(st)) {
        return WEXITSTATUS(st);
    }
    return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

int net_start_node(const struct net *net, struct net_node *n, struct weft_err *err)
{
    char *argv[] = {(char *)"weft", (char *)(n->role == NET_PEER ? "peer" : "orderer"),
                    (char *)"start", (char *)"--config", n->config, NULL};
    int rc = spawn(net->bin, argv, n->log, true, &n->pid, err);
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

static int connect_to(const char *host, int port, int timeout_ms, struct weft_err *err)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        return weft_err_set(err, WEFT_EINVAL, "not an IPv4 address: %s", host);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return weft_err_set(err, -errno, "socket: %s", strerror(errno));
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return weft_err_set(err, -e, "connect %s:%d: %s", host, port, strerror(e));
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 ||
        soerr != 0) {
        close(fd);
        return weft_err_set(err, WEFT_EUNAVAILABLE, "connect %s:%d: %s", host, port,
                            soerr != 0 ? strerror(soerr) : "timed out");
    }
    /* Back to blocking, with per-call timeouts. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

struct conn {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
};

static int conn_write(struct conn *c, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        int chunk = n > 65536 ? 65536 : (int)n;
        ssize_t w = c->ssl != NULL ? SSL_write(c->ssl, b, chunk) : write(c->fd, b, (size_t)chunk);
        if (w <= 0) {
            return WEFT_EIO;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static ssize_t conn_read(struct conn *c, void *p, size_t n)
{
    int chunk = n > 65536 ? 65536 : (int)n;
    if (c->ssl != NULL) {
        int r = SSL_read(c->ssl, p, chunk);
        if (r > 0) {
            return r;
        }
        int e = SSL_get_error(c->ssl, r);
        return e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? 0 : -1;
    }
    return read(c->fd, p, (size_t)chunk);
}

static int tls_setup(struct conn *c, const struct net_http_req *r, struct weft_err *err)
{
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (c->ctx == NULL) {
        return weft_err_set(err, WEFT_ECRYPTO, "TLS context");
    }
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    /* evhttp closes after the response without close_notify. */
    SSL_CTX_set_options(c->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (SSL_CTX_load_verify_locations(c->ctx, r->ca_file, NULL) != 1) {
        return weft_err_set(err, WEFT_ECRYPTO, "cannot load TLS root %s", r->ca_file);
    }
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (r->cert_file != NULL &&
        (SSL_CTX_use_certificate_chain_file(c->ctx, r->cert_file) != 1 ||
         SSL_CTX_use_PrivateKey_file(c->ctx, r->key_file, SSL_FILETYPE_PEM) != 1)) {
        return weft_err_set(err, WEFT_ECRYPTO, "cannot load client certificate %s",
                            r->cert_file);
    }
    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        return weft_err_set(err, WEFT_ECRYPTO, "TLS session");
    }
    const char *sni = r->server_name != NULL ? r->server_name : r->host;
    SSL_set_tlsext_host_name(c->ssl, sni);
    SSL_set1_host(c->ssl, sni);
    if (SSL_connect(c->ssl) != 1) {
        unsigned long e = ERR_get_error();
        char msg[160];
        ERR_error_string_n(e, msg, sizeof(msg));
        return weft_err_set(err, WEFT_ECRYPTO, "TLS handshake with %s:%d: %s", r->host, r->port,
                            e != 0 ? msg : "failed");
    }
    return 0;
}

/* Decodes a chunked body in place. */
static int dechunk(struct weft_buf *b)
{
    size_t in = 0, out = 0;
    for (;;) {
        char *end = NULL;
        unsigned long sz = strtoul((char *)b->data + in, &end, 16);
        char *eol = strstr((char *)b->data + in, "\r\n");
        if (end == (char *)b->data + in || eol == NULL) {
            return WEFT_EPARSE;
        }
        in = (size_t)(eol - (char *)b->data) + 2;
        if (sz == 0) {
            break;
        }
        if (in + sz > b->len) {
            return WEFT_EPARSE;
        }
        memmove(b->data + out, b->data + in, sz);
        out += sz;
        in += sz + 2;
        if (in > b->len) {
            return WEFT_EPARSE;
        }
    }
    b->len = out;
    b->data[out] = '\0';
    return 0;
}

int net_http(const struct net_http_req *r, int *status, struct weft_buf *body,
             struct weft_err *err)
{
    struct conn c = {.fd = -1};
    struct weft_buf raw;
    weft_buf_init(&raw, 64u << 20);
    int timeout = r->timeout_ms > 0 ? r->timeout_ms : 5000;
    int rc = 0;
    c.fd = connect_to(r->host, r->port, timeout, err);
    if (c.fd < 0) {
        rc = c.fd;
        goto cleanup;
    }
    if (r->ca_file != NULL) {
        rc = tls_setup(&c, r, err);
        if (rc != 0) {
            goto cleanup;
        }
    }
    char head[1024];
    int hn = snprintf(head, sizeof(head),
                      "%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n"
                      "User-Agent: weft-network\r\nContent-Length: %zu\r\n%s%s%s\r\n",
                      r->method, r->path, r->host, r->port, r->body_len,
                      r->content_type != NULL ? "Content-Type: " : "",
                      r->content_type != NULL ? r->content_type : "",
                      r->content_type != NULL ? "\r\n" : "");
    if (hn < 0 || (size_t)hn >= sizeof(head)) {
        rc = weft_err_set(err, WEFT_EINVAL, "request line too long");
        goto cleanup;
    }
    rc = conn_write(&c, head, (size_t)hn);
    if (rc == 0 && r->body_len > 0) {
        rc = conn_write(&c, r->body, r->body_len);
    }
    if (rc != 0) {
        rc = weft_err_set(err, WEFT_EIO, "send to %s:%d failed", r->host, r->port);
        goto cleanup;
    }
    for (;;) {
        char chunk[16384];
        ssize_t got = conn_read(&c, chunk, sizeof(chunk));
        if (got < 0) {
            rc = weft_err_set(err, WEFT_EIO, "read from %s:%d failed", r->host, r->port);
            goto cleanup;
        }
        if (got == 0) {
            break;
        }
        rc = weft_buf_append(&raw, chunk, (size_t)got);
        if (rc != 0) {
            rc = weft_err_set(err, rc, "response from %s:%d too large", r->host, r->port);
            goto cleanup;
        }
    }
    int code = 0;
    char *sep = raw.data != NULL ? strstr((char *)raw.data, "\r\n\r\n") : NULL;
    if (sep == NULL || sscanf((char *)raw.data, "HTTP/1.%*d %d", &code) != 1) {
        rc = weft_err_set(err, WEFT_EPARSE, "malformed HTTP response from %s:%d", r->host,
                          r->port);
        goto cleanup;
    }
    *sep = '\0';
    bool chunked = strcasestr((char *)raw.data, "transfer-encoding: chunked") != NULL;
    size_t off = (size_t)(sep + 4 - (char *)raw.data);
    weft_buf_reset(body);
    rc = weft_buf_append(body, raw.data + off, raw.len - off);
    if (rc == 0 && body->data == NULL) {
        rc = weft_buf_append(body, "", 1);
        body->len = 0;
    }
    if (rc == 0 && chunked) {
        rc = dechunk(body);
    }
    if (rc != 0) {
        rc = weft_err_set(err, rc, "bad HTTP body from %s:%d", r->host, r->port);
        goto cleanup;
    }
    *status = code;
cleanup:
    if (c.ssl != NULL) {
        SSL_free(c.ssl);
    }
    SSL_CTX_free(c.ctx);
    if (c.fd >= 0) {
        close(c.fd);
    }
    weft_buf_close(&raw);
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
