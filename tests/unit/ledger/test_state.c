/* World state, history, simulator, query executor and MVCC validator tests
 * on a standalone state (ledger__state_open_dir). The real-chain replay is
 * in test_state_vectors.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ledger/state_int.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/transaction.pb-c.h"
#include "test_state.h"
#include "testlib.h"
#include "weft/ledger_state.h"

/* ---- helpers -------------------------------------------------------------- */

struct fixture {
    char *dir;
    struct ledger_state *st;
    /* envelopes by (block, tx) for the history fetcher */
    uint8_t *env[16][16];
    size_t env_len[16][16];
};

static int fetch_env(void *ctx, uint64_t b, uint64_t t, uint8_t **env, size_t *len,
                     struct weft_err *err)
{
    struct fixture *f = ctx;
    if (b >= 16 || t >= 16 || f->env[b][t] == NULL)
        return weft_err_set(err, WEFT_ENOTFOUND, "no tx %llu:%llu", (unsigned long long)b,
                            (unsigned long long)t);
    *env = weft_memdup(f->env[b][t], f->env_len[b][t]);
    *len = f->env_len[b][t];
    return 0;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->dir = wt_tmpdir("state");
    struct weft_err err = {0};
    assert_int_equal(ledger__state_open_dir(&f->st, f->dir, true, &err), 0);
    ledger__state_set_tx_fetcher(f->st, fetch_env, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    ledger__state_close(f->st);
    for (int b = 0; b < 16; b++)
        for (int t = 0; t < 16; t++)
            weft_free(f->env[b][t]);
    wt_rmtree(f->dir);
    weft_free(f->dir);
    free(f);
    return 0;
}

uint8_t *ts_make_envelope(const char *txid, int64_t secs, const uint8_t *rws, size_t rws_len,
                          size_t *out_len)
{
    Protos__ChaincodeAction ca = PROTOS__CHAINCODE_ACTION__INIT;
    ca.results.data = (uint8_t *)rws;
    ca.results.len = rws_len;
    size_t cal = protos__chaincode_action__get_packed_size(&ca);
    uint8_t *cab = malloc(cal + 1);
    protos__chaincode_action__pack(&ca, cab);
    Protos__ProposalResponsePayload prp = PROTOS__PROPOSAL_RESPONSE_PAYLOAD__INIT;
    prp.extension.data = cab;
    prp.extension.len = cal;
    size_t prpl = protos__proposal_response_payload__get_packed_size(&prp);
    uint8_t *prpb = malloc(prpl + 1);
    protos__proposal_response_payload__pack(&prp, prpb);
    Protos__ChaincodeEndorsedAction cea = PROTOS__CHAINCODE_ENDORSED_ACTION__INIT;
    cea.proposal_response_payload.data = prpb;
    cea.proposal_response_payload.len = prpl;
    Protos__ChaincodeActionPayload cap = PROTOS__CHAINCODE_ACTION_PAYLOAD__INIT;
    cap.action = &cea;
    size_t capl = protos__chaincode_action_payload__get_packed_size(&cap);
    uint8_t *capb = malloc(capl + 1);
    protos__chaincode_action_payload__pack(&cap, capb);
    Protos__TransactionAction ta = PROTOS__TRANSACTION_ACTION__INIT;
    ta.payload.data = capb;
    ta.payload.len = capl;
    Protos__TransactionAction *tas[1] = {&ta};
    Protos__Transaction tx = PROTOS__TRANSACTION__INIT;
    tx.n_actions = 1;
    tx.actions = tas;
    size_t txl = protos__transaction__get_packed_size(&tx);
    uint8_t *txb = malloc(txl + 1);
    protos__transaction__pack(&tx, txb);
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = secs;
    ts.nanos = 5;
    Common__ChannelHeader ch = COMMON__CHANNEL_HEADER__INIT;
    ch.type = 3;
    ch.tx_id = (char *)txid;
    ch.timestamp = &ts;
    size_t chl = common__channel_header__get_packed_size(&ch);
    uint8_t *chb = malloc(chl + 1);
    common__channel_header__pack(&ch, chb);
    Common__Header h = COMMON__HEADER__INIT;
    h.channel_header.data = chb;
    h.channel_header.len = chl;
    Common__Payload pl = COMMON__PAYLOAD__INIT;
    pl.header = &h;
    pl.data.data = txb;
    pl.data.len = txl;
    size_t pll = common__payload__get_packed_size(&pl);
    uint8_t *plb = malloc(pll + 1);
    common__payload__pack(&pl, plb);
    Common__Envelope e = COMMON__ENVELOPE__INIT;
    e.payload.data = plb;
    e.payload.len = pll;
    size_t el = common__envelope__get_packed_size(&e);
    uint8_t *eb = weft_malloc(el + 1);
    common__envelope__pack(&e, eb);
    free(cab);
    free(prpb);
    free(capb);
    free(txb);
    free(chb);
    free(plb);
    *out_len = el;
    return eb;
}

/* Commits a block made of the given rwsets (all valid unless codes given). */
static void commit_block(struct fixture *f, uint64_t num, uint8_t **rws, size_t *rws_len,
                         size_t ntx, const uint8_t *codes)
{
    ProtobufCBinaryData *data = calloc(ntx, sizeof(*data));
    for (size_t i = 0; i < ntx; i++) {
        char txid[32];
        snprintf(txid, sizeof(txid), "tx-%llu-%zu", (unsigned long long)num, i);
        size_t el;
        uint8_t *e = ts_make_envelope(txid, (int64_t)(1000 + num), rws[i], rws_len[i], &el);
        data[i].data = e;
        data[i].len = el;
        if (num < 16 && i < 16) {
            f->env[num][i] = weft_memdup(e, el);
            f->env_len[num][i] = el;
        }
    }
    Common__BlockHeader hdr = COMMON__BLOCK_HEADER__INIT;
    hdr.number = num;
    Common__BlockData bd = COMMON__BLOCK_DATA__INIT;
    bd.n_data = ntx;
    bd.data = data;
    Common__Block blk = COMMON__BLOCK__INIT;
    blk.header = &hdr;
    blk.data = &bd;
    struct ledger_updates *u = NULL;
    struct weft_err err = {0};
    assert_int_equal(ledger__updates_from_block(&blk, codes, ntx, &u, &err), 0);
    assert_int_equal(ledger__state_commit(f->st, u, &err), 0);
    ledger__updates_free(u);
    for (size_t i = 0; i < ntx; i++)
        weft_free(data[i].data);
    free(data);
}

/* Simulates a list of puts in one tx and returns the rwset bytes. */
static uint8_t *sim_puts(struct fixture *f, const char *ns, const char *const *keys,
                         const char *const *vals, size_t n, size_t *len)
{
    struct weft_ledger_sim *s;
    struct weft_err err = {0};
    assert_int_equal(ledger__sim_new(f->st, "t", false, &s, &err), 0);
    for (size_t i = 0; i < n; i++) {
        if (vals[i] == NULL)
            assert_int_equal(weft_ledger_sim_del(s, ns, keys[i], strlen(keys[i]), &err), 0);
        else
            assert_int_equal(weft_ledger_sim_put(s, ns, keys[i], strlen(keys[i]),
                                                 (const uint8_t *)vals[i], strlen(vals[i]), &err),
                             0);
    }
    uint8_t *out;
    assert_int_equal(weft_ledger_sim_rwset(s, &out, len, &err), 0);
    weft_ledger_sim_free(s);
    return out;
}

static void commit_puts(struct fixture *f, uint64_t num, const char *ns, const char *const *keys,
                        const char *const *vals, size_t n)
{
    size_t len;
    uint8_t *r = sim_puts(f, ns, keys, vals, n, &len);
    commit_block(f, num, &r, &len, 1, NULL);
    weft_free(r);
}

static void check_kv(struct fixture *f, const char *ns, const char *key, size_t klen,
                         const char *val, uint64_t b, uint64_t t)
{
    MDB_txn *txn;
    struct weft_err err = {0};
    assert_int_equal(ledger__state_read_begin(f->st, &txn, &err), 0);
    bool found;
    struct weft_ledger_version v;
    const uint8_t *value, *meta;
    size_t vl, ml;
    assert_int_equal(ledger__state_get_in(f->st, txn, ns, (const uint8_t *)key, klen, &found, &v,
                                          &value, &vl, &meta, &ml, &err),
                     0);
    if (val == NULL) {
        assert_false(found);
    } else {
        assert_true(found);
        assert_int_equal(vl, strlen(val));
        assert_memory_equal(value, val, vl);
        assert_int_equal(v.block_num, b);
        assert_int_equal(v.tx_num, t);
    }
    ledger__state_read_end(f->st, txn);
}

/* Collects the keys of a range as "k1,k2,...". */
static char *collect(struct weft_ledger_range_iter *it)
{
    static char buf[4096];
    buf[0] = 0;
    struct weft_ledger_kv kv;
    struct weft_err err = {0};
    int rc;
    while ((rc = weft_ledger_range_next(it, &kv, &err)) == 1) {
        if (buf[0])
            strcat(buf, ",");
        size_t l = strlen(buf);
        for (size_t i = 0; i < kv.key_len; i++)
            buf[l + i] = kv.key[i] == 0 ? '|' : (char)kv.key[i];
        buf[l + kv.key_len] = 0;
    }
    assert_int_equal(rc, 0);
    return buf;
}

/* ---- composite keys --------------------------------------------------------- */

static void test_ckey(void **state)
{
    (void)state;
    struct weft_err err = {0};
    const char *attrs[] = {"red", "asset-1"};
    char *k;
    size_t kl;
    assert_int_equal(weft_ledger_ckey_create("color~name", attrs, 2, &k, &kl, &err), 0);
    assert_int_equal(kl, 1 + 10 + 1 + 3 + 1 + 7 + 1);
    assert_memory_equal(k, "\0color~name\0red\0asset-1\0", kl);
    char *ot, **as;
    size_t na;
    assert_int_equal(weft_ledger_ckey_split(k, kl, &ot, &as, &na, &err), 0);
    assert_string_equal(ot, "color~name");
    assert_int_equal(na, 2);
    assert_string_equal(as[0], "red");
    assert_string_equal(as[1], "asset-1");
    weft_ledger_ckey_free(ot, as, na);
    weft_free(k);
    /* no attributes */
    assert_int_equal(weft_ledger_ckey_create("t", NULL, 0, &k, &kl, &err), 0);
    assert_int_equal(kl, 3);
    assert_int_equal(weft_ledger_ckey_split(k, kl, &ot, &as, &na, &err), 0);
    assert_string_equal(ot, "t");
    assert_int_equal(na, 0);
    weft_ledger_ckey_free(ot, as, na);
    weft_free(k);
    /* invalid components */
    const char *bad1[] = {"a\xf4\x8f\xbf\xbf"};
    assert_int_equal(weft_ledger_ckey_create("t", bad1, 1, &k, &kl, &err), WEFT_EINVAL);
    const char *bad2[] = {"\xc3\x28"};
    assert_int_equal(weft_ledger_ckey_create("t", bad2, 1, &k, &kl, &err), WEFT_EINVAL);
    assert_int_equal(weft_ledger_ckey_create("\xed\xa0\x80", NULL, 0, &k, &kl, &err),
                     WEFT_EINVAL); /* surrogate */
    /* split of a simple key fails */
    assert_int_equal(weft_ledger_ckey_split("abc", 3, &ot, &as, &na, &err), WEFT_EINVAL);
    assert_int_equal(weft_ledger_ckey_split("\0", 1, &ot, &as, &na, &err), WEFT_EINVAL);
    /* range bounds */
    char *s, *e;
    size_t sl, el;
    assert_int_equal(weft_ledger_ckey_range("color~name", attrs, 1, &s, &sl, &e, &el, &err), 0);
    assert_memory_equal(s, "\0color~name\0red\0", sl);
    assert_int_equal(el, sl + 4);
    assert_memory_equal(e + sl, "\xf4\x8f\xbf\xbf", 4);
    weft_free(s);
    weft_free(e);
    assert_int_equal(weft_ledger_simple_key_check("\0x", 2, &err), WEFT_EINVAL);
    assert_int_equal(weft_ledger_simple_key_check("x", 1, &err), 0);
}

/* ---- state: point reads, ranges, composite ranges ------------------------------- */

static void test_state_ranges(void **state)
{
    struct fixture *f = *state;
    struct weft_err err = {0};
    const char *keys[] = {"a", "b", "c", "d", "e"};
    const char *vals[] = {"1", "2", "3", "4", "5"};
    commit_puts(f, 1, "cc", keys, vals, 5);
    const char *ok[] = {"a"};
    const char *ov[] = {"other"};
    commit_puts(f, 2, "cc2", ok, ov, 1);
    char *ck[4];
    size_t ckl[4];
    const char *a1[] = {"red", "x"}, *a2[] = {"red", "y"}, *a3[] = {"blue", "z"};
    assert_int_equal(weft_ledger_ckey_create("color", a1, 2, &ck[0], &ckl[0], &err), 0);
    assert_int_equal(weft_ledger_ckey_create("color", a2, 2, &ck[1], &ckl[1], &err), 0);
    assert_int_equal(weft_ledger_ckey_create("color", a3, 2, &ck[2], &ckl[2], &err), 0);
    struct weft_ledger_sim *s;
    assert_int_equal(ledger__sim_new(f->st, "t", false, &s, &err), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(weft_ledger_sim_put(s, "cc", ck[i], ckl[i], (const uint8_t *)"v", 1, &err),
                         0);
    uint8_t *rw;
    size_t rwl;
    assert_int_equal(weft_ledger_sim_rwset(s, &rw, &rwl, &err), 0);
    weft_ledger_sim_free(s);
    commit_block(f, 3, &rw, &rwl, 1, NULL);
    weft_free(rw);

    check_kv(f, "cc", "c", 1, "3", 1, 0);
    check_kv(f, "cc", "zz", 2, NULL, 0, 0);
    check_kv(f, "cc2", "a", 1, "other", 2, 0);
    check_kv(f, "cc", ck[0], ckl[0], "v", 3, 0);

    struct weft_ledger_sim *q;
    struct weft_ledger_range_iter *it;
    assert_int_equal(ledger__sim_new(f->st, "", true, &q, &err), 0);
    /* exclusive end */
    assert_int_equal(weft_ledger_sim_range(q, "cc", "b", 1, "d", 1, 0, &it, &err), 0);
    assert_string_equal(collect(it), "b,c");
    weft_ledger_range_free(it);
    /* empty end = to the end of the namespace (not into cc2) */
    assert_int_equal(weft_ledger_sim_range(q, "cc", "d", 1, "", 0, 0, &it, &err), 0);
    assert_string_equal(collect(it), "d,e");
    weft_ledger_range_free(it);
    /* peer semantics: "" start includes composite keys, which sort first */
    assert_int_equal(weft_ledger_sim_range(q, "cc", "", 0, "b", 1, 0, &it, &err), 0);
    assert_string_equal(collect(it), "|color|blue|z|,|color|red|x|,|color|red|y|,a");
    weft_ledger_range_free(it);
    /* shim simple-key semantics exclude composite keys */
    assert_int_equal(weft_ledger_sim_range(q, "cc", "", 0, "", 0, WEFT_LEDGER_RANGE_SIMPLE, &it,
                                           &err),
                     0);
    assert_string_equal(collect(it), "a,b,c,d,e");
    weft_ledger_range_free(it);
    assert_int_equal(weft_ledger_sim_range(q, "cc", ck[0], ckl[0], "", 0, WEFT_LEDGER_RANGE_SIMPLE,
                                           &it, &err),
                     WEFT_EINVAL);
    /* partial composite key queries */
    const char *red[] = {"red"};
    assert_int_equal(weft_ledger_sim_range_ckey(q, "cc", "color", red, 1, &it, &err), 0);
    assert_string_equal(collect(it), "|color|red|x|,|color|red|y|");
    weft_ledger_range_free(it);
    assert_int_equal(weft_ledger_sim_range_ckey(q, "cc", "color", NULL, 0, &it, &err), 0);
    assert_string_equal(collect(it), "|color|blue|z|,|color|red|x|,|color|red|y|");
    weft_ledger_range_free(it);
    /* point read through the executor; no write allowed */
    uint8_t *v;
    size_t vl;
    bool found;
    struct weft_ledger_version ver;
    assert_int_equal(weft_ledger_sim_get(q, "cc", "e", 1, &v, &vl, &found, &ver, &err), 0);
    assert_true(found);
    assert_int_equal(vl, 1);
    assert_int_equal(v[0], '5');
    assert_int_equal(ver.block_num, 1);
    assert_int_equal(ver.tx_num, 0);
    weft_free(v);
    assert_int_equal(weft_ledger_sim_put(q, "cc", "x", 1, (const uint8_t *)"1", 1, &err),
                     WEFT_EPERM);
    assert_int_equal(weft_ledger_sim_rwset(q, &rw, &rwl, &err), WEFT_EINVAL);
    weft_ledger_sim_free(q);
    for (int i = 0; i < 3; i++)
        weft_free(ck[i]);
}

static void test_pagination(void **state)
{
    struct fixture *f = *state;
    struct weft_err err = {0};
    const char *keys[] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"};
    const char *vals[] = {"0", "1", "2", "3", "4", "5", "6", "7"};
    commit_puts(f, 1, "cc", keys, vals, 8);
    struct weft_ledger_sim *q;
    assert_int_equal(ledger__sim_new(f->st, "", true, &q, &err), 0);
    char bookmark[64] = "";
    size_t bl = 0;
    const char *pages[] = {"k0,k1,k2", "k3,k4,k5", "k6,k7"};
    const char *marks[] = {"k3", "k6", ""};
    for (int p = 0; p < 3; p++) {
        struct weft_ledger_range_iter *it;
        assert_int_equal(weft_ledger_sim_range_paged(q, "cc", "", 0, "", 0, 3, bookmark, bl, 0,
                                                     &it, &err),
                         0);
        assert_string_equal(collect(it), pages[p]);
        int32_t fetched;
        char *bm;
        assert_int_equal(weft_ledger_range_page_meta(it, &fetched, &bm, &bl, &err), 0);
        assert_int_equal(fetched, p < 2 ? 3 : 2);
        assert_string_equal(bm, marks[p]);
        memcpy(bookmark, bm, bl + 1);
        weft_free(bm);
        weft_ledger_range_free(it);
    }
    /* an end key bounds the pages too: [k1, k5) with page 2 */
    struct weft_ledger_range_iter *it;
    assert_int_equal(
        weft_ledger_sim_range_paged(q, "cc", "k1", 2, "k5", 2, 2, NULL, 0, 0, &it, &err), 0);
    assert_string_equal(collect(it), "k1,k2");
    int32_t fetched;
    char *bm;
    assert_int_equal(weft_ledger_range_page_meta(it, &fetched, &bm, &bl, &err), 0);
    assert_string_equal(bm, "k3");
    weft_free(bm);
    weft_ledger_range_free(it);
    assert_int_equal(
        weft_ledger_sim_range_paged(q, "cc", "k1", 2, "k5", 2, 2, "k3", 2, 0, &it, &err), 0);
    assert_string_equal(collect(it), "k3,k4");
    assert_int_equal(weft_ledger_range_page_meta(it, &fetched, &bm, &bl, &err), 0);
    assert_string_equal(bm, ""); /* k5 is outside the range */
    weft_free(bm);
    weft_ledger_range_free(it);
    weft_ledger_sim_free(q);

    /* in a simulator: no paginated query after a write, no write after one */
    struct weft_ledger_sim *s;
    assert_int_equal(ledger__sim_new(f->st, "tx1", false, &s, &err), 0);
    assert_int_equal(weft_ledger_sim_put(s, "cc", "x", 1, (const uint8_t *)"1", 1, &err), 0);
    assert_int_equal(weft_ledger_sim_range_paged(s, "cc", "", 0, "", 0, 3, NULL, 0, 0, &it, &err),
                     WEFT_ESTATE);
    weft_ledger_sim_free(s);
    assert_int_equal(ledger__sim_new(f->st, "tx2", false, &s, &err), 0);
    assert_int_equal(weft_ledger_sim_range_paged(s, "cc", "", 0, "", 0, 3, NULL, 0, 0, &it, &err),
                     0);
    weft_ledger_range_free(it);
    assert_int_equal(weft_ledger_sim_put(s, "cc", "x", 1, (const uint8_t *)"1", 1, &err),
                     WEFT_ESTATE);
    weft_ledger_sim_free(s);
}

/* ---- simulator output ----------------------------------------------------------- */

static void test_sim_rwset(void **state)
{
    struct fixture *f = *state;
    struct weft_err err = {0};
    const char *keys[] = {"k1", "k2"};
    const char *vals[] = {"old1", "old2"};
    commit_puts(f, 1, "cc", keys, vals, 2);

    struct weft_ledger_sim *s;
    assert_int_equal(ledger__sim_new(f->st, "tx", false, &s, &err), 0);
    /* writes in unsorted order, in two namespaces (also unsorted) */
    assert_int_equal(weft_ledger_sim_put(s, "zz", "b", 1, (const uint8_t *)"B", 1, &err), 0);
    assert_int_equal(weft_ledger_sim_put(s, "cc", "k2", 2, (const uint8_t *)"new2", 4, &err), 0);
    assert_int_equal(weft_ledger_sim_put(s, "cc", "k2", 2, (const uint8_t *)"newer2", 6, &err), 0);
    assert_int_equal(weft_ledger_sim_del(s, "cc", "k1", 2, &err), 0);
    assert_int_equal(weft_ledger_sim_put(s, "cc", "k0", 2, (const uint8_t *)"", 0, &err), 0);
    assert_int_equal(weft_ledger_sim_put_metadata(s, "cc", "k2", 2, "VALIDATION_PARAMETER",
                                                  (const uint8_t *)"P", 1, &err),
                     0);
    /* read after write: committed value, and the read is recorded */
    uint8_t *v;
    size_t vl;
    bool found;
    struct weft_ledger_version ver;
    assert_int_equal(weft_ledger_sim_get(s, "cc", "k2", 2, &v, &vl, &found, &ver, &err), 0);
    assert_true(found);
    assert_int_equal(vl, 4);
    assert_memory_equal(v, "old2", 4);
    weft_free(v);
    /* missing key: nil version */
    assert_int_equal(weft_ledger_sim_get(s, "cc", "absent", 6, &v, &vl, &found, &ver, &err), 0);
    assert_false(found);
    assert_null(v);
    uint8_t *rw;
    size_t rwl;
    assert_int_equal(weft_ledger_sim_rwset(s, &rw, &rwl, &err), 0);
    /* the read txn is gone; later calls fail cleanly */
    assert_int_equal(weft_ledger_sim_get(s, "cc", "k2", 2, &v, &vl, &found, &ver, &err),
                     WEFT_ESTATE);
    weft_ledger_sim_free(s);

    Rwset__TxReadWriteSet *t = rwset__tx_read_write_set__unpack(NULL, rwl, rw);
    assert_non_null(t);
    assert_int_equal(t->data_model, 0);
    assert_int_equal(t->n_ns_rwset, 2);
    assert_string_equal(t->ns_rwset[0]->namespace_, "cc");
    assert_string_equal(t->ns_rwset[1]->namespace_, "zz");
    Kvrwset__KVRWSet *kv = kvrwset__kvrwset__unpack(NULL, t->ns_rwset[0]->rwset.len,
                                                   t->ns_rwset[0]->rwset.data);
    assert_non_null(kv);
    assert_int_equal(kv->n_reads, 2);
    assert_string_equal(kv->reads[0]->key, "absent");
    assert_null(kv->reads[0]->version);
    assert_string_equal(kv->reads[1]->key, "k2");
    assert_int_equal(kv->reads[1]->version->block_num, 1);
    assert_int_equal(kv->reads[1]->version->tx_num, 0);
    assert_int_equal(kv->n_writes, 3);
    assert_string_equal(kv->writes[0]->key, "k0");
    assert_true(kv->writes[0]->is_delete);
    assert_string_equal(kv->writes[1]->key, "k1");
    assert_true(kv->writes[1]->is_delete);
    assert_string_equal(kv->writes[2]->key, "k2");
    assert_false(kv->writes[2]->is_delete);
    assert_int_equal(kv->writes[2]->value.len, 6);
    assert_int_equal(kv->n_metadata_writes, 1);
    assert_string_equal(kv->metadata_writes[0]->entries[0]->name, "VALIDATION_PARAMETER");
    /* protobuf-c re-encoding gives the same bytes */
    size_t pl = kvrwset__kvrwset__get_packed_size(kv);
    assert_int_equal(pl, t->ns_rwset[0]->rwset.len);
    uint8_t *pb = malloc(pl);
    kvrwset__kvrwset__pack(kv, pb);
    assert_memory_equal(pb, t->ns_rwset[0]->rwset.data, pl);
    free(pb);
    size_t tl = rwset__tx_read_write_set__get_packed_size(t);
    assert_int_equal(tl, rwl);
    kvrwset__kvrwset__free_unpacked(kv, NULL);
    rwset__tx_read_write_set__free_unpacked(t, NULL);

    /* commit it: k1 deleted, k2 = newer2 with metadata, version 2:0 */
    commit_block(f, 2, &rw, &rwl, 1, NULL);
    weft_free(rw);
    check_kv(f, "cc", "k1", 2, NULL, 0, 0);
    check_kv(f, "cc", "k2", 2, "newer2", 2, 0);
    check_kv(f, "zz", "b", 1, "B", 2, 0);
    struct weft_ledger_sim *q;
    assert_int_equal(ledger__sim_new(f->st, "", true, &q, &err), 0);
    uint8_t *meta;
    size_t ml;
    assert_int_equal(weft_ledger_sim_get_metadata(q, "cc", "k2", 2, &meta, &ml, &err), 0);
    /* KVMetadataWrite{entries = [{VALIDATION_PARAMETER, "P"}]} */
    static const uint8_t want[] = {0x12, 0x19, 0x0a, 0x14, 'V', 'A', 'L', 'I', 'D', 'A', 'T',
                                   'I',  'O',  'N',  '_',  'P', 'A', 'R', 'A', 'M', 'E', 'T',
                                   'E',  'R',  0x12, 0x01, 'P'};
    assert_int_equal(ml, sizeof(want));
    assert_memory_equal(meta, want, ml);
    weft_free(meta);
    weft_ledger_sim_free(q);

    /* a value-only write keeps metadata; a metadata-only write keeps the value */
    const char *k2[] = {"k2"};
    const char *v2[] = {"third"};
    commit_puts(f, 3, "cc", k2, v2, 1);
    assert_int_equal(ledger__sim_new(f->st, "", true, &q, &err), 0);
    assert_int_equal(weft_ledger_sim_get_metadata(q, "cc", "k2", 2, &meta, &ml, &err), 0);
    assert_int_equal(ml, sizeof(want));
    weft_free(meta);
    weft_ledger_sim_free(q);
    assert_int_equal(ledger__sim_new(f->st, "t4", false, &s, &err), 0);
    assert_int_equal(weft_ledger_sim_put_metadata(s, "cc", "k2", 2, NULL, NULL, 0, &err), 0);
    assert_int_equal(weft_ledger_sim_put_metadata(s, "cc", "nokey", 5, "X",
                                                  (const uint8_t *)"1", 1, &err),
                     0);
    assert_int_equal(weft_ledger_sim_rwset(s, &rw, &rwl, &err), 0);
    weft_ledger_sim_free(s);
    commit_block(f, 4, &rw, &rwl, 1, NULL);
    weft_free(rw);
    check_kv(f, "cc", "k2", 2, "third", 4, 0);
    check_kv(f, "cc", "nokey", 5, NULL, 0, 0);
    assert_int_equal(ledger__sim_new(f->st, "", true, &q, &err), 0);
    assert_int_equal(weft_ledger_sim_get_metadata(q, "cc", "k2", 2, &meta, &ml, &err), 0);
    assert_null(meta);
    weft_ledger_sim_free(q);
}

static void test_sim_range_record(void **state)
{
    struct fixture *f = *state;
    struct weft_err err = {0};
    /* 120 keys: more than 50 => Merkle summary with 3 leaves (51, 51, 18) */
    const char *keys[120], *vals[120];
    char kb[120][16];
    for (int i = 0; i < 120; i++) {
        snprintf(kb[i], sizeof(kb[i]), "a-%03d", i);
        keys[i] = kb[i];
        vals[i] = "v";
    }
    commit_puts(f, 1, "cc", keys, vals, 120);
    struct weft_ledger_sim *s;
    struct weft_ledger_range_iter *it;
    assert_int_equal(ledger__sim_new(f->st, "t", false, &s, &err), 0);
    assert_int_equal(weft_ledger_sim_range(s, "cc", "a-", 2, "a-~", 3, 0, &it, &err), 0);
    collect(it);
    weft_ledger_range_free(it);
    /* the same range again is recorded once */
    assert_int_equal(weft_ledger_sim_range(s, "cc", "a-", 2, "a-~", 3, 0, &it, &err), 0);
    collect(it);
    weft_ledger_range_free(it);
    /* small range: raw reads; a partially read one: not exhausted, end = last key */
    assert_int_equal(weft_ledger_sim_range(s, "cc", "a-010", 5, "a-013", 5, 0, &it, &err), 0);
    collect(it);
    weft_ledger_range_free(it);
    assert_int_equal(weft_ledger_sim_range(s, "cc", "a-050", 5, "", 0, 0, &it, &err), 0);
    struct weft_ledger_kv kv;
    assert_int_equal(weft_ledger_range_next(it, &kv, &err), 1);
    assert_int_equal(weft_ledger_range_next(it, &kv, &err), 1);
    weft_ledger_range_free(it);
    /* an empty range: no reads_info at all */
    assert_int_equal(weft_ledger_sim_range(s, "cc", "b", 1, "c", 1, 0, &it, &err), 0);
    collect(it);
    weft_ledger_range_free(it);
    uint8_t *rw;
    size_t rwl;
    assert_int_equal(weft_ledger_sim_rwset(s, &rw, &rwl, &err), 0);
    weft_ledger_sim_free(s);
    Rwset__TxReadWriteSet *t = rwset__tx_read_write_set__unpack(NULL, rwl, rw);
    assert_non_null(t);
    Kvrwset__KVRWSet *k = kvrwset__kvrwset__unpack(NULL, t->ns_rwset[0]->rwset.len,
                                                  t->ns_rwset[0]->rwset.data);
    assert_non_null(k);
    assert_int_equal(k->n_range_queries_info, 4);
    Kvrwset__RangeQueryInfo *q0 = k->range_queries_info[0];
    assert_string_equal(q0->start_key, "a-");
    assert_string_equal(q0->end_key, "a-~");
    assert_true(q0->itr_exhausted);
    assert_int_equal(q0->reads_info_case, KVRWSET__RANGE_QUERY_INFO__READS_INFO_READS_MERKLE_HASHES);
    assert_int_equal(q0->reads_merkle_hashes->max_degree, 50);
    assert_int_equal(q0->reads_merkle_hashes->max_level, 1);
    assert_int_equal(q0->reads_merkle_hashes->n_max_level_hashes, 3);
    Kvrwset__RangeQueryInfo *q1 = k->range_queries_info[1];
    assert_int_equal(q1->reads_info_case, KVRWSET__RANGE_QUERY_INFO__READS_INFO_RAW_READS);
    assert_int_equal(q1->raw_reads->n_kv_reads, 3);
    assert_string_equal(q1->raw_reads->kv_reads[2]->key, "a-012");
    assert_int_equal(q1->raw_reads->kv_reads[2]->version->block_num, 1);
    Kvrwset__RangeQueryInfo *q2 = k->range_queries_info[2];
    assert_false(q2->itr_exhausted);
    assert_string_equal(q2->end_key, "a-051");
    assert_int_equal(q2->raw_reads->n_kv_reads, 2);
    Kvrwset__RangeQueryInfo *q3 = k->range_queries_info[3];
    assert_true(q3->itr_exhausted);
    assert_int_equal(q3->reads_info_case, KVRWSET__RANGE_QUERY_INFO__READS_INFO__NOT_SET);
    kvrwset__kvrwset__free_unpacked(k, NULL);
    rwset__tx_read_write_set__free_unpacked(t, NULL);

    /* MVCC: the same rwset is valid now; after an update of one key in the
     * Merkle range (version change only) it is a phantom */
    Rwset__TxReadWriteSet *tr = rwset__tx_read_write_set__unpack(NULL, rwl, rw);
    const Rwset__TxReadWriteSet *arr[1] = {tr};
    uint8_t code = 0;
    assert_int_equal(ledger__mvcc_validate(f->st, 2, arr, &code, 1, NULL, &err), 0);
    assert_int_equal(code, 0);
    const char *uk[] = {"a-077"};
    const char *uv[] = {"v"};
    commit_puts(f, 2, "cc", uk, uv, 1);
    code = 0;
    assert_int_equal(ledger__mvcc_validate(f->st, 3, arr, &code, 1, NULL, &err), 0);
    assert_int_equal(code, WEFT_TX_PHANTOM_READ_CONFLICT);
    rwset__tx_read_write_set__free_unpacked(tr, NULL);
    weft_free(rw);
}

/* ---- MVCC ----------------------------------------------------------------------- */

/* Builds a tx: reads `rk`, range [rs, re) fully, writes `wk`. */
static Rwset__TxReadWriteSet *mk_tx(struct fixture *f, const char *rk, const char *rs,
                                    const char *re, const char *wk, bool del)
{
    struct weft_ledger_sim *s;
    struct weft_err err = {0};
    assert_int_equal(ledger__sim_new(f->st, "t", false, &s, &err), 0);
    if (rk != NULL) {
        uint8_t *v;
        size_t vl;
        bool found;
        assert_int_equal(weft_ledger_sim_get(s, "cc", rk, strlen(rk), &v, &vl, &found, NULL, &err),
                         0);
        weft_free(v);
    }
    if (rs != NULL) {
        struct weft_ledger_range_iter *it;
        assert_int_equal(
            weft_ledger_sim_range(s, "cc", rs, strlen(rs), re, strlen(re), 0, &it, &err), 0);
        collect(it);
        weft_ledger_range_free(it);
    }
    if (wk != NULL) {
        if (del)
            assert_int_equal(weft_ledger_sim_del(s, "cc", wk, strlen(wk), &err), 0);
        else
            assert_int_equal(
                weft_ledger_sim_put(s, "cc", wk, strlen(wk), (const uint8_t *)"w", 1, &err), 0);
    }
    uint8_t *rw;
    size_t rwl;
    assert_int_equal(weft_ledger_sim_rwset(s, &rw, &rwl, &err), 0);
    weft_ledger_sim_free(s);
    Rwset__TxReadWriteSet *t = rwset__tx_read_write_set__unpack(NULL, rwl, rw);
    assert_non_null(t);
    weft_free(rw);
    return t;
}

static void test_mvcc(void **state)
{
    struct fixture *f = *state;
    struct weft_err err = {0};
    const char *keys[] = {"a", "c", "e", "g"};
    const char *vals[] = {"1", "1", "1", "1"};
    commit_puts(f, 1, "cc", keys, vals, 4);

    enum { N = 9 };
    Rwset__TxReadWriteSet *t[N];
    t[0] = mk_tx(f, "a", NULL, NULL, "a", false);  /* valid, writes a */
    t[1] = mk_tx(f, "a", NULL, NULL, "x", false);  /* reads a: MVCC (in block) */
    t[2] = mk_tx(f, NULL, "b", "f", "d", false);   /* range [b,f): valid, inserts d */
    t[3] = mk_tx(f, NULL, "b", "f", NULL, false);  /* same range: phantom (d inserted) */
    t[4] = mk_tx(f, "e", NULL, NULL, "e", true);   /* valid, deletes e */
    t[5] = mk_tx(f, NULL, "e", "h", NULL, false);  /* range saw e: phantom (e deleted) */
    t[6] = mk_tx(f, "zz", NULL, NULL, "zz", false); /* absent read: valid */
    t[7] = mk_tx(f, "zz", NULL, NULL, NULL, false); /* absent read, zz now written: MVCC */
    t[8] = mk_tx(f, NULL, "h", "", "q", false);     /* range [h, end) empty: valid */
    uint8_t codes[N] = {0};
    codes[8] = 10; /* already invalid: skipped, its write ignored */
    struct ledger_updates *u = NULL;
    assert_int_equal(ledger__mvcc_validate(f->st, 2, (const Rwset__TxReadWriteSet *const *)t,
                                           codes, N, &u, &err),
                     0);
    uint8_t want[N] = {0, 11, 0, 12, 0, 12, 0, 11, 10};
    assert_memory_equal(codes, want, N);
    assert_int_equal(ledger__state_commit(f->st, u, &err), 0);
    ledger__updates_free(u);
    check_kv(f, "cc", "a", 1, "w", 2, 0);
    check_kv(f, "cc", "d", 1, "w", 2, 2);
    check_kv(f, "cc", "e", 1, NULL, 0, 0);
    check_kv(f, "cc", "zz", 2, "w", 2, 6);
    check_kv(f, "cc", "x", 1, NULL, 0, 0);
    check_kv(f, "cc", "q", 1, NULL, 0, 0);

    /* across blocks: t[0] read a at 1:0, now 2:0 => MVCC; t[2]'s range now sees d */
    uint8_t c2[3] = {0, 0, 0};
    const Rwset__TxReadWriteSet *again[3] = {t[0], t[2], t[6]};
    assert_int_equal(ledger__mvcc_validate(f->st, 3, again, c2, 3, NULL, &err), 0);
    assert_int_equal(c2[0], 11);
    assert_int_equal(c2[1], 12);
    assert_int_equal(c2[2], 11);
    for (int i = 0; i < N; i++)
        rwset__tx_read_write_set__free_unpacked(t[i], NULL);
}

/* ---- history -------------------------------------------------------------------- */

static void test_history(void **state)
{
    struct fixture *f = *state;
    struct weft_err err = {0};
    const char *k[] = {"h"};
    const char *v1[] = {"one"}, *v2[] = {"two"}, *vd[] = {NULL}, *v3[] = {"three"};
    commit_puts(f, 1, "cc", k, v1, 1);
    commit_puts(f, 2, "cc", k, v2, 1);
    commit_puts(f, 3, "cc", k, vd, 1);
    /* block 4: tx0 invalid (no history), tx1 writes */
    size_t l0, l1;
    uint8_t *r[2];
    size_t rl[2];
    r[0] = sim_puts(f, "cc", k, v1, 1, &l0);
    r[1] = sim_puts(f, "cc", k, v3, 1, &l1);
    rl[0] = l0;
    rl[1] = l1;
    uint8_t codes[2] = {11, 0};
    commit_block(f, 4, r, rl, 2, codes);
    weft_free(r[0]);
    weft_free(r[1]);
    /* a key that is a byte prefix of "h" entries must not mix: "hh" */
    const char *kk[] = {"hh"};
    commit_puts(f, 5, "cc", kk, v1, 1);

    struct weft_ledger_sim *q;
    struct weft_ledger_hist_iter *h;
    struct weft_ledger_key_mod km;
    assert_int_equal(ledger__sim_new(f->st, "", true, &q, &err), 0);
    assert_int_equal(weft_ledger_sim_history(q, "cc", "h", 1, true, &h, &err), 0);
    const char *want_v[] = {"three", "", "two", "one"};
    const uint64_t want_b[] = {4, 3, 2, 1};
    const uint64_t want_t[] = {1, 0, 0, 0};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(weft_ledger_hist_next(h, &km, &err), 1);
        assert_int_equal(km.ver.block_num, want_b[i]);
        assert_int_equal(km.ver.tx_num, want_t[i]);
        assert_int_equal(km.value_len, strlen(want_v[i]));
        if (km.value_len > 0)
            assert_memory_equal(km.value, want_v[i], km.value_len);
        assert_int_equal(km.is_delete, i == 1);
        char txid[32];
        snprintf(txid, sizeof(txid), "tx-%llu-%llu", (unsigned long long)want_b[i],
                 (unsigned long long)want_t[i]);
        assert_string_equal(km.tx_id, txid);
        assert_int_equal(km.ts_seconds, (int64_t)(1000 + want_b[i]));
        assert_int_equal(km.ts_nanos, 5);
        if (i == 0) {
            uint8_t *pk;
            size_t pkl;
            assert_int_equal(weft_ledger_key_mod_pack(&km, &pk, &pkl), 0);
            Queryresult__KeyModification *m = queryresult__key_modification__unpack(NULL, pkl, pk);
            assert_non_null(m);
            assert_string_equal(m->tx_id, "tx-4-1");
            assert_int_equal(m->timestamp->seconds, 1004);
            assert_false(m->is_delete);
            queryresult__key_modification__free_unpacked(m, NULL);
            weft_free(pk);
        }
    }
    assert_int_equal(weft_ledger_hist_next(h, &km, &err), 0);
    weft_ledger_hist_free(h);
    /* oldest first */
    assert_int_equal(weft_ledger_sim_history(q, "cc", "h", 1, false, &h, &err), 0);
    assert_int_equal(weft_ledger_hist_next(h, &km, &err), 1);
    assert_int_equal(km.ver.block_num, 1);
    assert_memory_equal(km.value, "one", 3);
    weft_ledger_hist_free(h);
    /* unknown key: empty */
    assert_int_equal(weft_ledger_sim_history(q, "cc", "nope", 4, true, &h, &err), 0);
    assert_int_equal(weft_ledger_hist_next(h, &km, &err), 0);
    weft_ledger_hist_free(h);
    weft_ledger_sim_free(q);
}

/* ---- KVRWSet codec against malformed input --------------------------------------- */

static void test_codec_malformed(void **state)
{
    (void)state;
    struct ledger_kvrwset kv;
    struct weft_err err = {0};
    static const uint8_t trunc[] = {0x0a, 0x05, 0x0a, 0x03, 'a'};
    assert_int_equal(ledger__kvrwset_decode(trunc, sizeof(trunc), &kv, &err), WEFT_EPARSE);
    static const uint8_t badwt[] = {0x08, 0x01}; /* reads as varint */
    assert_int_equal(ledger__kvrwset_decode(badwt, sizeof(badwt), &kv, &err), WEFT_EPARSE);
    static const uint8_t unknown[] = {0x28, 0x01, 0x0a, 0x03, 0x0a, 0x01, 'k'};
    assert_int_equal(ledger__kvrwset_decode(unknown, sizeof(unknown), &kv, &err), 0);
    assert_int_equal(kv.n_reads, 1);
    assert_int_equal(kv.reads[0].key.len, 1);
    ledger__kvrwset_free(&kv);
    /* composite key with NULs survives a round trip */
    struct ledger_kvwrite w = {{(const uint8_t *)"\0t\0a\0", 5}, false, {(const uint8_t *)"v", 1}};
    struct ledger_kvrwset s = {.writes = &w, .n_writes = 1};
    struct weft_buf b;
    weft_buf_init(&b, 1 << 20);
    assert_int_equal(ledger__kvrwset_encode(&s, &b), 0);
    assert_int_equal(ledger__kvrwset_decode(b.data, b.len, &kv, &err), 0);
    assert_int_equal(kv.n_writes, 1);
    assert_int_equal(kv.writes[0].key.len, 5);
    assert_memory_equal(kv.writes[0].key.p, "\0t\0a\0", 5);
    ledger__kvrwset_free(&kv);
    weft_buf_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ckey),
        cmocka_unit_test(test_codec_malformed),
        cmocka_unit_test_setup_teardown(test_state_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sim_rwset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sim_range_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mvcc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history, setup, teardown),
        cmocka_unit_test(test_state_vectors_replay),
        cmocka_unit_test(test_state_vectors_facade),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
