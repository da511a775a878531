/*
 * Ledger crash test. A child process commits deterministic blocks (8 txs x 3
 * writes or deletes each, through the full commit path with state and
 * history) in a loop and reports every acknowledged height on a pipe; the
 * parent SIGKILLs it after a random delay, then reopens the ledger and
 * checks:
 *   - height >= the last height the child reported (no acknowledged block
 *     lost) and >= the height seen after the previous kill (never backwards);
 *   - weft_ledger_verify_dir() (what `weft ledger verify` runs) passes;
 *   - the state equals the model state (an in-memory replay of the blocks),
 *     and every 10th round and at the end equals a real replay of the
 *     blocks from scratch into a fresh ledger.
 * At least 50 kills, bounded time (WEFT_CRASH_SECONDS, default 90 s cap).
 * Last line: "N passed, N failed".
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ledger/ledger_int.h"
#include "ledger/state_int.h"
#include "test_blockstore_gen.h"
#include "testlib.h"
#include "weft/base.h"
#include "weft/ledger.h"

#define NKEYS 200
#define NTX 8
#define NW 3
#define MIN_KILLS 100

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* ---- deterministic blocks and the model ---------------------------------- */

static unsigned key_of(uint64_t n, size_t t, size_t w)
{
    return (unsigned)((n * 31 + t * 7 + w * 13) % NKEYS);
}

static bool del_of(uint64_t n, size_t t, size_t w)
{
    return n > 3 && (n + t + w) % 5 == 0;
}

/* Block n's serialized bytes; hash of block n-1 in prev (NULL for 0). */
static int make_block(uint64_t n, const uint8_t *prev, uint8_t **out, size_t *len, uint8_t hash[32])
{
    ProtobufCBinaryData data[NTX];
    char keys[NW][16], vals[NW][48], txid[48];
    struct bg_write w[NW];
    int rc = 0;
    for (size_t t = 0; t < NTX; t++) {
        for (size_t i = 0; i < NW; i++) {
            snprintf(keys[i], sizeof(keys[i]), "key%03u", key_of(n, t, i));
            int vl = snprintf(vals[i], sizeof(vals[i]), "value-%llu-%zu-%zu",
                              (unsigned long long)n, t, i);
            w[i].key = keys[i];
            w[i].is_delete = del_of(n, t, i);
            w[i].value = w[i].is_delete ? NULL : (const uint8_t *)vals[i];
            w[i].value_len = w[i].is_delete ? 0 : (size_t)vl;
        }
        snprintf(txid, sizeof(txid), "crash-tx-%llu-%zu", (unsigned long long)n, t);
        rc = bg_envelope("crashchannel", txid, "basic", w, NW, &data[t].data, &data[t].len);
        if (rc != 0) {
            for (size_t k = 0; k < t; k++) {
                weft_free(data[k].data);
            }
            return rc;
        }
    }
    rc = bg_block(n, prev, prev != NULL ? 32 : 0, data, NTX, NULL, out, len, hash);
    for (size_t t = 0; t < NTX; t++) {
        weft_free(data[t].data);
    }
    return rc;
}

struct model_key {
    bool exists;
    uint64_t block, tx;
    char value[48];
};

static void model_replay(struct model_key *m, uint64_t height)
{
    memset(m, 0, sizeof(*m) * NKEYS);
    for (uint64_t n = 0; n < height; n++) {
        for (size_t t = 0; t < NTX; t++) {
            for (size_t i = 0; i < NW; i++) {
                struct model_key *k = &m[key_of(n, t, i)];
                k->exists = !del_of(n, t, i);
                k->block = n;
                k->tx = t;
                snprintf(k->value, sizeof(k->value), "value-%llu-%zu-%zu", (unsigned long long)n,
                         t, i);
            }
        }
    }
}

/* ---- state dump ---------------------------------------------------------- */

struct dump_ent {
    char key[16];
    uint64_t block, tx;
    char value[48];
};

/* Reads every key of namespace "basic" in key order. */
static int dump_state(struct weft_ledger *l, struct dump_ent *out, size_t *n)
{
    struct weft_err err;
    weft_err_clear(&err);
    MDB_txn *txn;
    struct ledger_rscan *s = NULL;
    int rc = ledger__read_begin(l, &txn, &err);
    if (rc != 0) {
        return rc;
    }
    rc = ledger__rscan_open(l->state, txn, "basic", NULL, 0, NULL, 0, false, NULL, &s, &err);
    *n = 0;
    while (rc == 0) {
        struct ledger_scan_item it;
        int r = ledger__rscan_next(s, &it, &err);
        if (r <= 0) {
            rc = r;
            break;
        }
        if (*n >= NKEYS || it.key_len >= sizeof(out->key) || it.value_len >= sizeof(out->value)) {
            rc = WEFT_ECORRUPT;
            break;
        }
        struct dump_ent *e = &out[(*n)++];
        memcpy(e->key, it.key, it.key_len);
        e->key[it.key_len] = '\0';
        memcpy(e->value, it.value, it.value_len);
        e->value[it.value_len] = '\0';
        e->block = it.ver.block_num;
        e->tx = it.ver.tx_num;
    }
    if (rc != 0) {
        fprintf(stderr, "dump: %s\n", err.msg);
    }
    if (s != NULL) {
        ledger__rscan_close(s);
    }
    ledger__read_end(l, txn);
    return rc;
}

static void check_model(struct weft_ledger *l, uint64_t height)
{
    static struct model_key m[NKEYS];
    static struct dump_ent d[NKEYS];
    size_t n = 0;
    model_replay(m, height);
    CHECK(dump_state(l, d, &n) == 0, "state dump failed");
    size_t j = 0;
    for (unsigned k = 0; k < NKEYS; k++) {
        if (!m[k].exists) {
            continue;
        }
        char key[16];
        snprintf(key, sizeof(key), "key%03u", k);
        if (j >= n || strcmp(d[j].key, key) != 0) {
            CHECK(false, "height %llu: key %s missing from state", (unsigned long long)height, key);
            return;
        }
        CHECK(strcmp(d[j].value, m[k].value) == 0 && d[j].block == m[k].block &&
                  d[j].tx == m[k].tx,
              "height %llu: key %s is %s@%llu:%llu, model %s@%llu:%llu", (unsigned long long)height,
              key, d[j].value, (unsigned long long)d[j].block, (unsigned long long)d[j].tx,
              m[k].value, (unsigned long long)m[k].block, (unsigned long long)m[k].tx);
        j++;
    }
    CHECK(j == n, "height %llu: state has %zu keys, model %zu", (unsigned long long)height, n, j);
}

static struct weft_ledger *open_at(const char *root, const char *channel, bool no_sync)
{
    struct weft_ledger_options o;
    weft_ledger_options_init(&o);
    o.root = root;
    o.channel = channel;
    o.no_sync = no_sync;
    o.max_file_size = 256 * 1024; /* several files, so rollover is crashed too */
    struct weft_ledger *l = NULL;
    struct weft_err err;
    weft_err_clear(&err);
    if (weft_ledger_open(&l, &o, &err) != 0) {
        fprintf(stderr, "open %s: %s\n", channel, err.msg);
        return NULL;
    }
    return l;
}

/* Replays blocks 0..height-1 read from l into a fresh ledger and compares
 * the two states. */
static void check_replay(struct weft_ledger *l, const char *root, uint64_t height, int round)
{
    char channel[32];
    snprintf(channel, sizeof(channel), "replay%d", round);
    struct weft_ledger *r = open_at(root, channel, true);
    CHECK(r != NULL, "open replay ledger");
    if (r == NULL) {
        return;
    }
    struct weft_err err;
    for (uint64_t n = 0; n < height; n++) {
        uint8_t *b;
        size_t len;
        weft_err_clear(&err);
        int rc = weft_ledger_block_by_number(l, n, &b, &len, &err);
        if (rc == 0) {
            rc = weft_ledger_commit_bytes(r, b, len, &err);
            weft_free(b);
        }
        CHECK(rc == 0, "replay block %llu: %s", (unsigned long long)n, err.msg);
        if (rc != 0) {
            break;
        }
    }
    static struct dump_ent a[NKEYS], b[NKEYS];
    size_t na = 0, nb = 0;
    CHECK(dump_state(l, a, &na) == 0 && dump_state(r, b, &nb) == 0, "dump for replay");
    CHECK(na == nb && memcmp(a, b, na * sizeof(a[0])) == 0,
          "state differs from a replay from scratch (%zu vs %zu keys)", na, nb);
    weft_ledger_close(r);
}

/* ---- child ---------------------------------------------------------------- */

static void child_main(const char *root, int wfd)
{
    struct weft_ledger *l = open_at(root, "crashchannel", false);
    if (l == NULL) {
        _exit(3);
    }
    struct weft_ledger_info info;
    weft_ledger_info(l, &info);
    uint8_t prev[32];
    memcpy(prev, info.current_hash, 32);
    for (uint64_t n = info.height;; n++) {
        uint8_t *b;
        size_t len;
        uint8_t h[32];
        struct weft_err err;
        weft_err_clear(&err);
        if (make_block(n, n > 0 ? prev : NULL, &b, &len, h) != 0) {
            _exit(4);
        }
        int rc = weft_ledger_commit_bytes(l, b, len, &err);
        weft_free(b);
        if (rc != 0) {
            fprintf(stderr, "child commit %llu: %s\n", (unsigned long long)n, err.msg);
            _exit(5);
        }
        memcpy(prev, h, 32);
        uint64_t acked = n + 1;
        if (write(wfd, &acked, sizeof(acked)) != (ssize_t)sizeof(acked)) {
            _exit(6);
        }
    }
}

int main(void)
{
    char *root = wt_tmpdir("ledger-crash");
    const char *secs = getenv("WEFT_CRASH_SECONDS");
    uint64_t budget_ns = (uint64_t)(secs != NULL ? atoi(secs) : 90) * 1000000000ull;
    uint64_t t0 = weft_clock_mono_ns();
    unsigned seed = (unsigned)time(NULL);
    const char *s = getenv("WEFT_CRASH_SEED");
    if (s != NULL) {
        seed = (unsigned)strtoul(s, NULL, 10);
    }
    printf("ledger_crash: seed %u (set WEFT_CRASH_SEED to repeat)\n", seed);
    srand(seed);
    uint64_t last_height = 0;
    int kills = 0, rounds = 0;
    while (kills < MIN_KILLS && weft_clock_mono_ns() - t0 < budget_ns && failures == 0) {
        int p[2];
        if (pipe(p) != 0) {
            perror("pipe");
            return 1;
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            child_main(root, p[1]);
            _exit(0);
        }
        close(p[1]);
        /* Let it run a random while (up to ~80 ms: reopen, recovery and a
         * few commits), then kill it wherever it is. */
        struct timespec ts = {0, (long)(rand() % 80000) * 1000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        uint64_t acked = 0, v;
        while (read(p[0], &v, sizeof(v)) == (ssize_t)sizeof(v)) {
            acked = v;
        }
        close(p[0]);
        if (WIFEXITED(status)) {
            CHECK(false, "child exited by itself with %d", WEXITSTATUS(status));
            break;
        }
        kills++;
        rounds++;
        struct weft_ledger *l = open_at(root, "crashchannel", false);
        CHECK(l != NULL, "reopen after kill %d", kills);
        if (l == NULL) {
            break;
        }
        struct weft_ledger_info info;
        weft_ledger_info(l, &info);
        CHECK(info.height >= acked, "kill %d: height %llu < acknowledged %llu", kills,
              (unsigned long long)info.height, (unsigned long long)acked);
        CHECK(info.height >= last_height, "kill %d: height went back from %llu to %llu", kills,
              (unsigned long long)last_height, (unsigned long long)info.height);
        last_height = info.height;
        check_model(l, info.height);
        if (rounds % 10 == 0) {
            check_replay(l, root, info.height, rounds);
        }
        weft_ledger_close(l);
        char *cd = weft_asprintf("%s/ledgersData/chains/crashchannel", root);
        struct weft_err err;
        weft_err_clear(&err);
        uint64_t vh = 0;
        int vrc = weft_ledger_verify_dir(cd, &vh, &err);
        CHECK(vrc == 0, "kill %d: verify: %s", kills, err.msg);
        CHECK(vh == info.height, "kill %d: verify saw %llu blocks, ledger %llu", kills,
              (unsigned long long)vh, (unsigned long long)info.height);
        weft_free(cd);
    }
    /* Final full replay check. */
    struct weft_ledger *l = open_at(root, "crashchannel", false);
    CHECK(l != NULL, "final reopen");
    if (l != NULL) {
        struct weft_ledger_info info;
        weft_ledger_info(l, &info);
        check_replay(l, root, info.height, 9999);
        printf("ledger_crash: %d kills, final height %llu, %.1f s\n", kills,
               (unsigned long long)info.height, (double)(weft_clock_mono_ns() - t0) / 1e9);
        weft_ledger_close(l);
    }
    CHECK(kills >= 50, "only %d kills within the time budget", kills);
    wt_rmtree(root);
    weft_free(root);
    printf("%d passed, %d failed\n", failures == 0 ? 1 : 0, failures == 0 ? 0 : 1);
    return failures == 0 ? 0 : 1;
}
