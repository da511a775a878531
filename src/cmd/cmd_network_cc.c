/*
 * `weft network up`: deploying the chaincode.
 *
 * DESIGN
 * The Fabric 2.x lifecycle, through `weft chaincode` run as child processes
 * exactly as an operator would type it (output in logs/setup.log):
 *   package  D/channel-artifacts/<name>.tar.gz, label <name>_1.0
 *   install  on every peer, as its organisation's Admin (orgs in parallel)
 *   approveformyorg  per organisation, endorsed by *all* the org's peers:
 *            weft keeps an approval's private values only on the peers that
 *            endorsed it (no private-data gossip yet, docs/chaincode.md)
 *   commit   endorsed by the first peer of every organisation, with the
 *            endorsement policy AND('Org1MSP.peer', ..., 'OrgMMSP.peer')
 * Between steps `up` waits until every peer's height (from /metrics) has
 * reached the orderers', so each endorsement sees the previous step's
 * block; after the commit it checks the definition on every peer
 * (`weft chaincode querycommitted`) and, for the bundled sample, that every
 * peer runs the chaincode (`weft chaincode query GetAllAssets`).
 *
 * The peers run Node chaincode with fabric-shim from the package's own
 * node_modules, else from chaincode.node.modulesPath, which `up` sets to
 * the first node_modules holding fabric-shim among: the chaincode folder's,
 * $CORE_CHAINCODE_NODE_MODULESPATH, $NODE_PATH, and the ones `make setup`
 * installs in the source tree (tests/interop/node_modules).
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd_network.h"
#include "weft/chaincode.h"

#define CC_VERSION "1.0"
#define SYNC_TIMEOUT_MS 60000
#define READY_TIMEOUT_MS 120000

/* ---- argv builder ------------------------------------------------------- */

#define ARGV_MAX 128

struct argv_b {
    char *v[ARGV_MAX + 1];
    char *owned[ARGV_MAX];
    size_t n, n_owned;
    bool bad;
};

static void arg(struct argv_b *a, const char *s)
{
    if (s == NULL || a->n >= ARGV_MAX) {
        a->bad = true;
        return;
    }
    a->v[a->n++] = (char *)s;
    a->v[a->n] = NULL;
}

static void argf(struct argv_b *a, const char *fmt, ...) WEFT_PRINTF(2, 3);
static void argf(struct argv_b *a, const char *fmt, ...)
{
    char buf[PATH_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    char *s = n >= 0 && (size_t)n < sizeof(buf) ? weft_strdup(buf) : NULL;
    if (s == NULL || a->n_owned >= ARGV_MAX) {
        weft_free(s);
        a->bad = true;
        return;
    }
    a->owned[a->n_owned++] = s;
    arg(a, s);
}

static void argv_free(struct argv_b *a)
{
    for (size_t i = 0; i < a->n_owned; i++) {
        weft_free(a->owned[i]);
    }
    memset(a, 0, sizeof(*a));
}

/* ---- resolving the chaincode -------------------------------------------- */

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool has_shim(const char *modules)
{
    char p[PATH_MAX];
    int n = snprintf(p, sizeof(p), "%s/fabric-shim/cli.js", modules);
    return n > 0 && (size_t)n < sizeof(p) && is_file(p);
}

/* realpath of fmt... when it exists (caller frees). */
static char *existing(const char *fmt, ...) WEFT_PRINTF(1, 2);
static char *existing(const char *fmt, ...)
{
    char buf[PATH_MAX], out[PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf) || realpath(buf, out) == NULL) {
        return NULL;
    }
    return weft_strdup(out);
}

/* Folder of this binary (build/bin), without the trailing slash. */
static void bin_dir(const struct net *net, char *out, size_t len)
{
    snprintf(out, len, "%s", net->bin);
    char *slash = strrchr(out, '/');
    if (slash != NULL) {
        *slash = '\0';
    }
}

static char *find_sample(const struct net *net)
{
    char bd[PATH_MAX];
    bin_dir(net, bd, sizeof(bd));
    /* build/bin/weft, PREFIX/bin/weft, bin/weft */
    const char *bases[] = {"../..", "../share/weft", ".."};
    for (size_t i = 0; i < WEFT_ARRAY_LEN(bases); i++) {
        char *d = existing("%s/%s/samples/chaincode/asset-transfer", bd, bases[i]);
        char pj[PATH_MAX + 16];
        if (d != NULL) {
            snprintf(pj, sizeof(pj), "%s/package.json", d);
            if (is_file(pj)) {
                return d;
            }
        }
        weft_free(d);
    }
    return existing("./samples/chaincode/asset-transfer");
}

static char *find_modules(const struct net *net, const char *cc_dir)
{
    char bd[PATH_MAX];
    bin_dir(net, bd, sizeof(bd));
    char *m = existing("%s/node_modules", cc_dir);
    if (m != NULL && has_shim(m)) {
        weft_free(m);
        return NULL; /* the package carries its own */
    }
    weft_free(m);
    const char *env = getenv("CORE_CHAINCODE_NODE_MODULESPATH");
    if (env != NULL && env[0] != '\0' && has_shim(env)) {
        return existing("%s", env);
    }
    const char *np = getenv("NODE_PATH");
    while (np != NULL && *np != '\0') {
        const char *c = strchr(np, ':');
        size_t l = c != NULL ? (size_t)(c - np) : strlen(np);
        char one[PATH_MAX];
        if (l > 0 && l < sizeof(one)) {
            memcpy(one, np, l);
            one[l] = '\0';
            if (has_shim(one)) {
                return existing("%s", one);
            }
        }
        np = c != NULL ? c + 1 : NULL;
    }
    /* What `make setup` / scripts/setup.sh --test installs in the tree. */
    const char *trees[] = {"../..", ".."};
    for (size_t i = 0; i < WEFT_ARRAY_LEN(trees); i++) {
        m = existing("%s/%s/tests/interop/node_modules", bd, trees[i]);
        if (m != NULL && has_shim(m)) {
            return m;
        }
        weft_free(m);
    }
    m = existing("./tests/interop/node_modules");
    if (m != NULL && has_shim(m)) {
        return m;
    }
    weft_free(m);
    return NULL;
}

static bool valid_cc_name(const char *s)
{
    /* Fabric: ^[a-zA-Z0-9]+([-_][a-zA-Z0-9]+)*$ */
    size_t n = strlen(s);
    if (n == 0 || n > 64) {
        return false;
    }
    bool prev_sep = true;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (alnum) {
            prev_sep = false;
        } else if ((c == '-' || c == '_') && !prev_sep) {
            prev_sep = true;
        } else {
            return false;
        }
    }
    return !prev_sep;
}

static bool node_on_path(void)
{
    const char *path = getenv("PATH");
    while (path != NULL && *path != '\0') {
        const char *c = strchr(path, ':');
        size_t l = c != NULL ? (size_t)(c - path) : strlen(path);
        char p[PATH_MAX];
        if (l + 6 < sizeof(p)) {
            snprintf(p, sizeof(p), "%.*s/node", (int)l, path);
            if (access(p, X_OK) == 0) {
                return true;
            }
        }
        path = c != NULL ? c + 1 : NULL;
    }
    return false;
}

int net_cc_resolve(struct net *net, const char *dir_opt, const char *name_opt,
                   struct net_cc *cc)
{
    memset(cc, 0, sizeof(*cc));
    if (dir_opt != NULL) {
        cc->dir = existing("%s", dir_opt);
        if (cc->dir == NULL) {
            fprintf(stderr, "weft network: --chaincode %s: no such folder\n", dir_opt);
            return WEFT_ENOTFOUND;
        }
    } else {
        cc->sample = true;
        cc->dir = find_sample(net);
        if (cc->dir == NULL) {
            fprintf(stderr, "weft network: the sample chaincode (samples/chaincode/asset-transfer) "
                            "is not beside this binary nor in the working folder; give "
                            "--chaincode DIR, or --no-chaincode\n");
            return WEFT_ENOTFOUND;
        }
    }
    const char *base = strrchr(cc->dir, '/');
    base = base != NULL ? base + 1 : cc->dir;
    cc->name = weft_strdup(name_opt != NULL ? name_opt : base);
    if (cc->name == NULL || !valid_cc_name(cc->name)) {
        fprintf(stderr,
                "weft network: chaincode name '%s' is not valid (letters and digits, single "
                "'-' or '_' between them); give --chaincode-name NAME\n",
                cc->name != NULL ? cc->name : "");
        return WEFT_EINVAL;
    }
    cc->label = weft_asprintf("%s_%s", cc->name, CC_VERSION);
    cc->package = net_path(net, "channel-artifacts/%s.tar.gz", cc->name);
    if (cc->label == NULL || cc->package == NULL) {
        return WEFT_ENOMEM;
    }
    if (!node_on_path()) {
        fprintf(stderr, "weft network: `node` is not on PATH: the peers run Node chaincode with "
                        "it (scripts/setup.sh installs it), or use --no-chaincode\n");
        return WEFT_ENOTFOUND;
    }
    char pj[PATH_MAX + 16];
    snprintf(pj, sizeof(pj), "%s/package.json", cc->dir);
    if (!is_file(pj)) {
        fprintf(stderr, "weft network: %s has no package.json: --chaincode wants a Node "
                        "chaincode folder\n",
                cc->dir);
        return WEFT_EINVAL;
    }
    net->cc_modules = find_modules(net, cc->dir);
    char own[PATH_MAX + 32];
    snprintf(own, sizeof(own), "%s/node_modules", cc->dir);
    if (net->cc_modules == NULL && !has_shim(own)) {
        fprintf(stderr,
                "weft network: no fabric-shim for the chaincode: run `npm install` in %s, or "
                "set CORE_CHAINCODE_NODE_MODULESPATH to a node_modules folder holding "
                "fabric-shim and fabric-contract-api (`scripts/setup.sh --test` installs them "
                "in tests/interop/node_modules), or use --no-chaincode\n",
                cc->dir);
        return WEFT_ENOTFOUND;
    }
    char *p = NULL;
    for (int o = 1; o <= net->n_orgs; o++) {
        char *next = weft_asprintf("%s%s'Org%dMSP.peer'", p != NULL ? p : "", o > 1 ? "," : "", o);
        weft_free(p);
        p = next;
        if (p == NULL) {
            return WEFT_ENOMEM;
        }
    }
    cc->policy = weft_asprintf("AND(%s)", p);
    weft_free(p);
    return cc->policy != NULL ? 0 : WEFT_ENOMEM;
}

void net_cc_free(struct net_cc *cc)
{
    weft_free(cc->dir);
    weft_free(cc->name);
    weft_free(cc->label);
    weft_free(cc->package);
    weft_free(cc->package_id);
    weft_free(cc->policy);
    memset(cc, 0, sizeof(*cc));
}

/* ---- deploying ---------------------------------------------------------- */

struct org_env {
    char *v[4];
};

/* An organisation admin's identity for `weft chaincode`. */
static int org_env_init(const struct net *net, int org, struct org_env *e)
{
    char *msp = net_admin_msp(net, org);
    e->v[0] = weft_asprintf("CORE_PEER_LOCALMSPID=Org%dMSP", org);
    e->v[1] = msp != NULL ? weft_asprintf("CORE_PEER_MSPCONFIGPATH=%s", msp) : NULL;
    e->v[2] = weft_strdup("CORE_PEER_TLS_ENABLED=true");
    e->v[3] = NULL;
    weft_free(msp);
    return e->v[0] && e->v[1] && e->v[2] ? 0 : WEFT_ENOMEM;
}

static void org_env_free(struct org_env *e)
{
    for (size_t i = 0; i < 3; i++) {
        weft_free(e->v[i]);
    }
}

static const struct net_node *first_orderer(const struct net *net)
{
    for (size_t k = 0; k < net->n_nodes; k++) {
        if (net->nodes[k].role == NET_ORDERER) {
            return &net->nodes[k];
        }
    }
    return NULL;
}

static void add_peer(struct argv_b *a, const struct net_node *n)
{
    arg(a, "--peerAddresses");
    argf(a, "127.0.0.1:%d", n->port);
    arg(a, "--tlsRootCertFiles");
    arg(a, n->tls_ca);
}

static void add_orderer(struct argv_b *a, const struct net *net)
{
    const struct net_node *o = first_orderer(net);
    char *ca = net_path(net, "crypto/ordererOrganizations/example.com/tlsca/"
                             "tlsca.example.com-cert.pem");
    arg(a, "-o");
    argf(a, "127.0.0.1:%d", o != NULL ? o->port : 0);
    arg(a, "--tls");
    arg(a, "--cafile");
    argf(a, "%s", ca != NULL ? ca : "");
    arg(a, "--ordererTLSHostnameOverride");
    arg(a, o != NULL ? o->name : "");
    weft_free(ca);
}

static void add_definition(struct argv_b *a, const struct net *net, const struct net_cc *cc)
{
    arg(a, "-C");
    arg(a, net->channel);
    arg(a, "-n");
    arg(a, cc->name);
    arg(a, "-v");
    arg(a, CC_VERSION);
    arg(a, "--sequence");
    arg(a, "1");
    arg(a, "--signature-policy");
    arg(a, cc->policy);
    arg(a, "--waitForEventTimeout");
    arg(a, "60");
}

/* One `weft chaincode ...` per organisation, all at once; build(a, org)
 * fills each command line. Returns 0 when every one exited 0. */
static int per_org(const struct net *net, const char *what, const char *log,
                   void (*build)(struct argv_b *a, const struct net *net, const struct net_cc *cc,
                                 int org),
                   const struct net_cc *cc)
{
    pid_t pids[NET_MAX_ORGS + 1] = {0};
    struct org_env envs[NET_MAX_ORGS + 1];
    struct argv_b argvs[NET_MAX_ORGS + 1];
    memset(envs, 0, sizeof(envs));
    memset(argvs, 0, sizeof(argvs));
    int rc = 0;
    bool failed = false;
    for (int o = 1; o <= net->n_orgs && rc == 0; o++) {
        rc = org_env_init(net, o, &envs[o]);
        if (rc == 0) {
            build(&argvs[o], net, cc, o);
            rc = argvs[o].bad ? WEFT_ENOMEM : 0;
        }
        struct weft_err err = {0};
        if (rc == 0) {
            rc = net_spawn_tool(net->bin, argvs[o].v, envs[o].v, log, &pids[o], &err);
        }
        if (rc != 0) {
            fprintf(stderr, "weft network: %s for Org%d: %s\n", what, o,
                    err.msg[0] ? err.msg : weft_strerror(rc));
            failed = true;
        }
    }
    for (int o = 1; o <= net->n_orgs; o++) {
        if (pids[o] > 0) {
            struct weft_err err = {0};
            int st = net_wait_tool(pids[o], what, &err);
            if (st != 0) {
                fprintf(stderr, "weft network: %s for Org%dMSP failed (exit %d)\n", what, o, st);
                failed = true;
            }
        }
        argv_free(&argvs[o]);
        org_env_free(&envs[o]);
    }
    if (failed) {
        fprintf(stderr, "weft network: last lines of %s:\n", log);
        fflush(stderr);
        net_tail(log, 25);
        return WEFT_EUNAVAILABLE;
    }
    return 0;
}

static void build_install(struct argv_b *a, const struct net *net, const struct net_cc *cc,
                          int org)
{
    arg(a, "weft");
    arg(a, "chaincode");
    arg(a, "install");
    arg(a, cc->package);
    arg(a, "--tls");
    for (size_t k = 0; k < net->n_nodes; k++) {
        if (net->nodes[k].role == NET_PEER && net->nodes[k].org == org) {
            add_peer(a, &net->nodes[k]);
        }
    }
}

static void build_approve(struct argv_b *a, const struct net *net, const struct net_cc *cc,
                          int org)
{
    arg(a, "weft");
    arg(a, "chaincode");
    arg(a, "approveformyorg");
    add_orderer(a, net);
    add_definition(a, net, cc);
    arg(a, "--package-id");
    arg(a, cc->package_id);
    for (size_t k = 0; k < net->n_nodes; k++) {
        if (net->nodes[k].role == NET_PEER && net->nodes[k].org == org) {
            add_peer(a, &net->nodes[k]);
        }
    }
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long long node_height(const struct net *net, const struct net_node *n)
{
    return net_peer_height(n, net->channel);
}

/* Waits until every peer's height has reached the highest orderer height
 * (every block ordered so far is committed everywhere). */
static int wait_synced(const struct net *net, const char *what)
{
    uint64_t deadline = weft_clock_mono_ns() + (uint64_t)SYNC_TIMEOUT_MS * 1000000u;
    long long target = -1;
    for (;;) {
        for (size_t k = 0; k < net->n_nodes; k++) {
            if (net->nodes[k].role == NET_ORDERER) {
                long long h = node_height(net, &net->nodes[k]);
                target = h > target ? h : target;
            }
        }
        const struct net_node *behind = NULL;
        long long bh = -1;
        for (size_t k = 0; k < net->n_nodes && target > 0; k++) {
            const struct net_node *n = &net->nodes[k];
            if (n->role == NET_PEER) {
                long long h = node_height(net, n);
                if (h < target) {
                    behind = n;
                    bh = h;
                    break;
                }
            }
        }
        if (target > 0 && behind == NULL) {
            return 0;
        }
        if (weft_clock_mono_ns() > deadline) {
            if (behind != NULL) {
                fprintf(stderr,
                        "weft network: %s: %s is at height %lld after %d s, the orderers at "
                        "%lld (see %s)\n",
                        what, behind->name, bh, SYNC_TIMEOUT_MS / 1000, target, behind->log);
            } else {
                fprintf(stderr, "weft network: %s: no orderer reports its height\n", what);
            }
            return WEFT_ETIMEDOUT;
        }
        sleep_ms(100);
    }
}

/* Runs `weft chaincode <sub>` on every peer, as its org's admin, until each
 * exits 0, `attempts` runs failed or the deadline passes. */
static int on_every_peer(const struct net *net, const struct net_cc *cc, const char *sub,
                         const char *ctor, const char *log, int timeout_ms, int attempts)
{
    uint64_t deadline = weft_clock_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    for (size_t k = 0; k < net->n_nodes; k++) {
        const struct net_node *n = &net->nodes[k];
        if (n->role != NET_PEER) {
            continue;
        }
        struct org_env env;
        memset(&env, 0, sizeof(env));
        struct argv_b a;
        memset(&a, 0, sizeof(a));
        int rc = org_env_init(net, n->org, &env);
        arg(&a, "weft");
        arg(&a, "chaincode");
        arg(&a, sub);
        arg(&a, "-C");
        arg(&a, net->channel);
        arg(&a, "-n");
        arg(&a, cc->name);
        if (ctor != NULL) {
            arg(&a, "-c");
            arg(&a, ctor);
        }
        arg(&a, "--tls");
        add_peer(&a, n);
        int st = -1;
        for (int i = 0; rc == 0 && !a.bad && i < attempts; i++) {
            struct weft_err err = {0};
            st = net_run_tool_env(net->bin, a.v, env.v, log, &err);
            if (st == 0 || st < 0 || weft_clock_mono_ns() > deadline) {
                break;
            }
            sleep_ms(500);
        }
        argv_free(&a);
        org_env_free(&env);
        if (st != 0) {
            fprintf(stderr, "weft network: %s: `weft chaincode %s` fails; last lines of %s:\n",
                    n->name, sub, log);
            fflush(stderr);
            net_tail(log, 20);
            return WEFT_EUNAVAILABLE;
        }
    }
    return 0;
}

static int read_bytes(const char *path, struct weft_buf *b)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return WEFT_EIO;
    }
    char chunk[65536];
    size_t got;
    int rc = 0;
    while (rc == 0 && (got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = weft_buf_append(b, chunk, got);
    }
    fclose(f);
    return rc;
}

int net_cc_deploy(const struct net *net, struct net_cc *cc, const char *log)
{
    struct argv_b a;
    memset(&a, 0, sizeof(a));
    struct weft_err err = {0};
    int rc;

    /* package */
    arg(&a, "weft");
    arg(&a, "chaincode");
    arg(&a, "package");
    arg(&a, cc->package);
    arg(&a, "--path");
    arg(&a, cc->dir);
    arg(&a, "--lang");
    arg(&a, "node");
    arg(&a, "--label");
    arg(&a, cc->label);
    rc = a.bad ? WEFT_ENOMEM : net_run_tool(net->bin, a.v, log, &err);
    argv_free(&a);
    if (rc != 0) {
        fprintf(stderr, "weft network: weft chaincode package failed (%d); last lines of %s:\n",
                rc, log);
        fflush(stderr);
        net_tail(log, 10);
        return WEFT_EUNAVAILABLE;
    }
    struct weft_buf pkg;
    weft_buf_init(&pkg, WEFT_CC_MAX_PACKAGE);
    rc = read_bytes(cc->package, &pkg);
    if (rc == 0) {
        rc = weft_cc_package_id(cc->label, pkg.data, pkg.len, &cc->package_id);
    }
    size_t pkg_len = pkg.len;
    weft_buf_close(&pkg);
    if (rc != 0) {
        fprintf(stderr, "weft network: cannot read the package %s\n", cc->package);
        return rc;
    }
    printf("  packaged %s (%zu bytes): %s\n", cc->dir, pkg_len, cc->package_id);
    fflush(stdout);

    rc = per_org(net, "weft chaincode install", log, build_install, cc);
    if (rc != 0) {
        return rc;
    }
    printf("  installed on every peer\n");
    fflush(stdout);

    rc = per_org(net, "weft chaincode approveformyorg", log, build_approve, cc);
    if (rc == 0) {
        rc = wait_synced(net, "approvals");
    }
    if (rc != 0) {
        return rc;
    }
    printf("  approved by");
    for (int o = 1; o <= net->n_orgs; o++) {
        printf(" Org%dMSP", o);
    }
    printf(" (each endorsed by all of its peers)\n");
    fflush(stdout);

    /* commit, endorsed by one peer of each organisation */
    struct org_env env;
    memset(&env, 0, sizeof(env));
    rc = org_env_init(net, 1, &env);
    arg(&a, "weft");
    arg(&a, "chaincode");
    arg(&a, "commit");
    add_orderer(&a, net);
    add_definition(&a, net, cc);
    for (size_t k = 0; k < net->n_nodes; k++) {
        if (net->nodes[k].role == NET_PEER && net->nodes[k].index == 0) {
            add_peer(&a, &net->nodes[k]);
        }
    }
    if (rc == 0 && !a.bad) {
        rc = net_run_tool_env(net->bin, a.v, env.v, log, &err);
    } else if (rc == 0) {
        rc = WEFT_ENOMEM;
    }
    argv_free(&a);
    org_env_free(&env);
    if (rc != 0) {
        fprintf(stderr, "weft network: weft chaincode commit failed (%d); last lines of %s:\n",
                rc, log);
        fflush(stderr);
        net_tail(log, 20);
        return WEFT_EUNAVAILABLE;
    }
    rc = wait_synced(net, "commit");
    if (rc == 0) {
        rc = on_every_peer(net, cc, "querycommitted", NULL, log, SYNC_TIMEOUT_MS, 20);
    }
    if (rc != 0) {
        return rc;
    }
    printf("  committed %s %s on %s, endorsement policy %s; every peer has it\n", cc->name,
           CC_VERSION, net->channel, cc->policy);
    fflush(stdout);
    if (cc->sample) {
        rc = on_every_peer(net, cc, "query", "{\"Args\":[\"GetAllAssets\"]}", log,
                           READY_TIMEOUT_MS, 3);
        if (rc != 0) {
            return rc;
        }
        printf("  the chaincode answers on every peer (GetAllAssets)\n");
        fflush(stdout);
    }
    return 0;
}
