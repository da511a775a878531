/*
 * The Raft wrapper (src/orderer/consensus.c) with three groups in one
 * process, joined by socket pairs through struct orderer_peer_io (the same
 * path cluster.c's gRPC streams take): election, replication, leader crash
 * and restart from the log, and partition of the leader then healing. The
 * applied logs must be identical, in order, with no gaps or duplicates, and
 * nothing proposed by an isolated leader may commit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "orderer/consensus.h"
#include "test_helpers.h"
#include "testlib.h"

#define NN 3
#define MAX_LOG 256

struct tnode;

struct tnet {
    pthread_mutex_t mu;
    struct tnode *nodes[NN];
    bool cut[NN]; /* node i isolated from everybody */
    struct orderer_cons *cons;
    struct orderer_peer voters[NN];
    char *root;
};

struct tnode {
    struct tnet *net;
    int idx;
    struct orderer_cons_group *g;
    struct orderer_peer_io io;
    pthread_mutex_t mu;
    char *log[MAX_LOG];
    size_t n_log;
    /* proposals waiting for on_wake (loop thread proposes them) */
    char *todo[64];
    size_t n_todo;
    int proposed_ok;
};

struct tstream {
    struct tnet *net;
    int from, to;
    int fd;
};

static void n_apply(void *ctx, const uint8_t *data, size_t len)
{
    struct tnode *n = ctx;
    pthread_mutex_lock(&n->mu);
    if (n->n_log < MAX_LOG) {
        n->log[n->n_log++] = weft_strndup((const char *)data, len);
    }
    pthread_mutex_unlock(&n->mu);
}

static void n_leader(void *ctx, bool leader)
{
    (void)ctx;
    (void)leader;
}

static void n_wake(void *ctx)
{
    struct tnode *n = ctx;
    pthread_mutex_lock(&n->mu);
    size_t k = n->n_todo;
    char *todo[64];
    memcpy(todo, n->todo, k * sizeof(*todo));
    n->n_todo = 0;
    pthread_mutex_unlock(&n->mu);
    for (size_t i = 0; i < k; i++) {
        if (orderer__cons_group_propose(n->g, (const uint8_t *)todo[i], strlen(todo[i])) == 0) {
            n->proposed_ok++;
        }
        weft_free(todo[i]);
    }
}

static void n_timer(void *ctx)
{
    (void)ctx;
}

static const struct orderer_group_ops tops = {
    .on_apply = n_apply, .on_leader = n_leader, .on_wake = n_wake, .on_timer = n_timer};

/* ---- socket-pair transport ---------------------------------------------- */

static int t_open(void *ctx, uint64_t id, const char *address, void **stream)
{
    struct tnode *n = ctx;
    struct tnet *net = n->net;
    (void)address;
    int to = (int)id - 1;
    pthread_mutex_lock(&net->mu);
    if (net->cut[n->idx] || net->cut[to] || net->nodes[to] == NULL) {
        pthread_mutex_unlock(&net->mu);
        usleep(20000);
        return -1;
    }
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
        pthread_mutex_unlock(&net->mu);
        return -1;
    }
    orderer__cons_group_accept(net->nodes[to]->g, (uint64_t)n->idx + 1, net->voters[n->idx].address,
                               fds[1]);
    pthread_mutex_unlock(&net->mu);
    struct tstream *s = weft_calloc(1, sizeof(*s));
    assert_non_null(s);
    *s = (struct tstream){.net = net, .from = n->idx, .to = to, .fd = fds[0]};
    *stream = s;
    return 0;
}

static int t_send(void *stream, const uint8_t *buf, size_t len)
{
    struct tstream *s = stream;
    pthread_mutex_lock(&s->net->mu);
    bool cut = s->net->cut[s->from] || s->net->cut[s->to];
    pthread_mutex_unlock(&s->net->mu);
    if (cut) {
        return -1;
    }
    while (len > 0) {
        ssize_t w = send(s->fd, buf, len, MSG_NOSIGNAL);
        if (w <= 0) {
            return -1;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

static void t_cancel(void *stream)
{
    shutdown(((struct tstream *)stream)->fd, SHUT_RDWR);
}

static void t_close(void *stream)
{
    struct tstream *s = stream;
    close(s->fd);
    weft_free(s);
}

/* ---- helpers --------------------------------------------------------------- */

static void node_start(struct tnet *net, int i)
{
    struct tnode *n = weft_calloc(1, sizeof(*n));
    assert_non_null(n);
    pthread_mutex_init(&n->mu, NULL);
    n->net = net;
    n->idx = i;
    n->io = (struct orderer_peer_io){
        .ctx = n, .open = t_open, .send = t_send, .cancel = t_cancel, .close = t_close};
    char *dir = weft_asprintf("%s/n%d", net->root, i);
    struct orderer_group_opts o = {.dir = dir,
                                   .id = (uint64_t)i + 1,
                                   .voters = net->voters,
                                   .n_voters = NN,
                                   .peer_io = &n->io,
                                   .election_ms = 150,
                                   .heartbeat_ms = 30};
    struct weft_err err = {0};
    struct orderer_cons_group *g = NULL;
    int rc = orderer__cons_group_new(net->cons, &o, &tops, n, &g, &err);
    if (rc != 0) {
        fail_msg("group %d: %s", i, err.msg);
    }
    weft_free(dir);
    pthread_mutex_lock(&net->mu);
    n->g = g;
    net->nodes[i] = n;
    pthread_mutex_unlock(&net->mu);
}

/* Crash: the group is stopped; its Raft log stays on disk. */
static void node_stop(struct tnet *net, int i)
{
    pthread_mutex_lock(&net->mu);
    struct tnode *n = net->nodes[i];
    net->nodes[i] = NULL;
    pthread_mutex_unlock(&net->mu);
    if (n == NULL) {
        return;
    }
    orderer__cons_group_free(n->g);
    for (size_t k = 0; k < n->n_log; k++) {
        weft_free(n->log[k]);
    }
    for (size_t k = 0; k < n->n_todo; k++) {
        weft_free(n->todo[k]);
    }
    pthread_mutex_destroy(&n->mu);
    weft_free(n);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The single leader among the live, connected nodes within 10 s, or -1. */
static int wait_leader(struct tnet *net, int except)
{
    for (int t = 0; t < 1000; t++) {
        int found = -1, count = 0;
        for (int i = 0; i < NN; i++) {
            if (i != except && net->nodes[i] != NULL && !net->cut[i] &&
                orderer__cons_group_is_leader(net->nodes[i]->g)) {
                found = i;
                count++;
            }
        }
        if (count == 1) {
            return found;
        }
        sleep_ms(10);
    }
    return -1;
}

static void propose(struct tnode *n, const char *prefix, int k)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s%d", prefix, k);
    pthread_mutex_lock(&n->mu);
    assert_true(n->n_todo < 64);
    n->todo[n->n_todo++] = weft_strdup(buf);
    pthread_mutex_unlock(&n->mu);
    orderer__cons_group_wake(n->g);
}

static size_t log_len(struct tnode *n)
{
    pthread_mutex_lock(&n->mu);
    size_t k = n->n_log;
    pthread_mutex_unlock(&n->mu);
    return k;
}

static void wait_len(struct tnet *net, int i, size_t want)
{
    for (int t = 0; t < 1000 && log_len(net->nodes[i]) < want; t++) {
        sleep_ms(10);
    }
    assert_int_equal(log_len(net->nodes[i]), want);
}

/* Same entries, same order, none twice. */
static void assert_same_logs(struct tnode *a, struct tnode *b)
{
    assert_int_equal(a->n_log, b->n_log);
    for (size_t k = 0; k < a->n_log; k++) {
        assert_string_equal(a->log[k], b->log[k]);
        for (size_t j = 0; j < k; j++) {
            assert_string_not_equal(a->log[j], a->log[k]);
        }
    }
}

void test_raft_three_groups(void **state)
{
    (void)state;
    struct tnet net = {0};
    pthread_mutex_init(&net.mu, NULL);
    net.root = wt_tmpdir("weft-raft-unit");
    static const char *const addr[NN] = {"127.0.0.1:10001", "127.0.0.1:10002", "127.0.0.1:10003"};
    for (int i = 0; i < NN; i++) {
        net.voters[i] = (struct orderer_peer){.id = (uint64_t)i + 1, .address = addr[i]};
    }
    struct weft_err err = {0};
    assert_int_equal(orderer__cons_new(&net.cons, &err), 0);
    for (int i = 0; i < NN; i++) {
        node_start(&net, i);
    }

    /* election and replication */
    int l = wait_leader(&net, -1);
    assert_true(l >= 0);
    for (int i = 0; i < NN; i++) {
        /* followers know who leads */
        for (int t = 0; t < 500 && orderer__cons_group_leader_id(net.nodes[i]->g) == 0; t++) {
            sleep_ms(10);
        }
        assert_int_equal(orderer__cons_group_leader_id(net.nodes[i]->g), (uint64_t)l + 1);
    }
    for (int k = 0; k < 20; k++) {
        propose(net.nodes[l], "a", k);
    }
    for (int i = 0; i < NN; i++) {
        wait_len(&net, i, 20);
    }
    assert_same_logs(net.nodes[0], net.nodes[1]);
    assert_same_logs(net.nodes[0], net.nodes[2]);
    /* a follower refuses to propose */
    int f = (l + 1) % NN;
    assert_int_equal(net.nodes[f]->proposed_ok, 0);
    propose(net.nodes[f], "follower", 0);
    sleep_ms(100);
    assert_int_equal(net.nodes[f]->proposed_ok, 0);

    /* leader crash: the other two elect a leader and go on */
    int crashed = l;
    node_stop(&net, crashed);
    l = wait_leader(&net, crashed);
    assert_true(l >= 0 && l != crashed);
    for (int k = 0; k < 10; k++) {
        propose(net.nodes[l], "b", k);
    }
    for (int i = 0; i < NN; i++) {
        if (i != crashed) {
            wait_len(&net, i, 30);
        }
    }
    /* restart from its log: replays and catches up */
    node_start(&net, crashed);
    wait_len(&net, crashed, 30);
    assert_same_logs(net.nodes[crashed], net.nodes[l]);

    /* partition the leader away: its proposals never commit; the majority
     * elects another leader and orders; after healing all agree */
    int iso = l;
    pthread_mutex_lock(&net.mu);
    net.cut[iso] = true;
    pthread_mutex_unlock(&net.mu);
    for (int k = 0; k < 5; k++) {
        propose(net.nodes[iso], "iso", k);
    }
    l = wait_leader(&net, iso);
    assert_true(l >= 0 && l != iso);
    for (int k = 0; k < 5; k++) {
        propose(net.nodes[l], "c", k);
    }
    for (int i = 0; i < NN; i++) {
        if (i != iso) {
            wait_len(&net, i, 35);
        }
    }
    assert_int_equal(log_len(net.nodes[iso]), 30);
    pthread_mutex_lock(&net.mu);
    net.cut[iso] = false;
    pthread_mutex_unlock(&net.mu);
    wait_len(&net, iso, 35);
    for (int i = 0; i < NN; i++) {
        assert_same_logs(net.nodes[i], net.nodes[(i + 1) % NN]);
        for (size_t k = 0; k < net.nodes[i]->n_log; k++) {
            assert_null(strstr(net.nodes[i]->log[k], "iso"));
            assert_null(strstr(net.nodes[i]->log[k], "follower"));
        }
    }
    /* order: a0..a19, b0..b9, c0..c4 */
    assert_string_equal(net.nodes[0]->log[0], "a0");
    assert_string_equal(net.nodes[0]->log[20], "b0");
    assert_string_equal(net.nodes[0]->log[34], "c4");

    for (int i = 0; i < NN; i++) {
        node_stop(&net, i);
    }
    orderer__cons_free(net.cons);
    wt_rmtree(net.root);
    weft_free(net.root);
    pthread_mutex_destroy(&net.mu);
}
