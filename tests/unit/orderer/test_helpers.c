#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/common.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "test_helpers.h"
#include "testlib.h"
#include "weft/crypto.h"

struct th_ident *th_ident_load(const char *rel, const char *mspid)
{
    char *dir = weft_asprintf("%s/vectors/fabric-2.4.9/crypto/%s", wt_shared_dir(), rel);
    struct th_ident *id = weft_calloc(1, sizeof(*id));
    assert_non_null(id);
    struct weft_err err = {0};
    if (weft_msp_load_dir(dir, mspid, &id->msp, &err) != 0) {
        fail_msg("load %s: %s", dir, err.msg);
    }
    weft_free(dir);
    struct weft_msp_identity *s = weft_msp_signer(id->msp);
    assert_non_null(s);
    id->creator = weft_msp_identity_serialized(s, &id->creator_len);
    return id;
}

void th_ident_free(struct th_ident *id)
{
    if (id != NULL) {
        weft_msp_unref(id->msp);
        weft_free(id);
    }
}

struct weft_msp_mgr *th_mgr_with(struct th_ident *id)
{
    struct weft_msp_mgr *mgr = weft_msp_mgr_new(0);
    assert_non_null(mgr);
    assert_int_equal(weft_msp_mgr_add(mgr, id->msp, NULL), 0);
    return mgr;
}

static int sign_cb(void *ctx, const uint8_t *msg, size_t len, uint8_t *sig, size_t *sig_len,
                   struct weft_err *err)
{
    return weft_msp_sign(ctx, msg, len, sig, sig_len, err);
}

struct orderer_signer th_signer(struct th_ident *id)
{
    return (struct orderer_signer){
        .creator = id->creator, .creator_len = id->creator_len, .sign = sign_cb, .ctx = id->msp};
}

struct weft_policy_mgr *th_policy_mgr(struct weft_msp_mgr *mgr, const char *rule)
{
    struct weft_policy_mgr *pm = weft_policy_mgr_new(mgr, NULL, NULL);
    assert_non_null(pm);
    uint8_t *pol;
    size_t pl;
    assert_int_equal(weft_policy_parse(rule, &pol, &pl, NULL), 0);
    assert_int_equal(weft_policy_mgr_add(pm, "/Channel/Writers", 1, pol, pl, NULL), 0);
    assert_int_equal(weft_policy_mgr_add(pm, "/Channel/Readers", 1, pol, pl, NULL), 0);
    weft_free(pol);
    return pm;
}

uint8_t *th_envelope_data(struct th_ident *id, const char *channel, int type, const uint8_t *data,
                          size_t data_len, int64_t ts_sec, size_t *len)
{
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = ts_sec;
    Common__ChannelHeader ch = COMMON__CHANNEL_HEADER__INIT;
    ch.type = type;
    ch.channel_id = (char *)channel;
    ch.timestamp = &ts;
    ch.tx_id = "txid";
    uint8_t nonce[24];
    assert_int_equal(weft_crypto_random(nonce, sizeof(nonce)), 0);
    Common__SignatureHeader sh = COMMON__SIGNATURE_HEADER__INIT;
    sh.nonce.data = nonce;
    sh.nonce.len = sizeof(nonce);
    if (id != NULL) {
        sh.creator.data = (uint8_t *)id->creator;
        sh.creator.len = id->creator_len;
    }
    uint8_t chb[512], shb[4096];
    size_t chl = common__channel_header__pack(&ch, chb);
    size_t shl = common__signature_header__pack(&sh, shb);
    Common__Header h = COMMON__HEADER__INIT;
    h.channel_header.data = chb;
    h.channel_header.len = chl;
    h.signature_header.data = shb;
    h.signature_header.len = shl;
    Common__Payload p = COMMON__PAYLOAD__INIT;
    p.header = &h;
    p.data.data = (uint8_t *)data;
    p.data.len = data_len;
    size_t pl = common__payload__get_packed_size(&p);
    uint8_t *pb = weft_malloc(pl);
    assert_non_null(pb);
    common__payload__pack(&p, pb);
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sl = 0;
    if (id != NULL) {
        assert_int_equal(weft_msp_sign(id->msp, pb, pl, sig, &sl, NULL), 0);
    }
    Common__Envelope e = COMMON__ENVELOPE__INIT;
    e.payload.data = pb;
    e.payload.len = pl;
    e.signature.data = sig;
    e.signature.len = sl;
    *len = common__envelope__get_packed_size(&e);
    uint8_t *out = weft_malloc(*len);
    assert_non_null(out);
    common__envelope__pack(&e, out);
    weft_free(pb);
    return out;
}

uint8_t *th_envelope(struct th_ident *id, const char *channel, int type, size_t data_size,
                     bool bad_sig, size_t *len)
{
    uint8_t *data = weft_malloc(data_size + 1);
    assert_non_null(data);
    memset(data, 'd', data_size);
    uint8_t *env = th_envelope_data(id, channel, type, data, data_size, (int64_t)time(NULL), len);
    weft_free(data);
    if (bad_sig) {
        /* the signature is the last field: flip a byte inside r */
        env[*len - 10] ^= 0x55;
    }
    return env;
}

uint8_t *th_envelope_unsigned(struct th_ident *id, const char *channel, size_t *len)
{
    size_t l;
    uint8_t *env = th_envelope(id, channel, 3, 10, false, &l);
    Common__Envelope *e = common__envelope__unpack(NULL, l, env);
    assert_non_null(e);
    e->signature.len = 0;
    *len = common__envelope__get_packed_size(e);
    uint8_t *out = weft_malloc(*len);
    common__envelope__pack(e, out);
    common__envelope__free_unpacked(e, NULL);
    weft_free(env);
    return out;
}

uint8_t *th_vec_file(const char *rel, size_t *len)
{
    char *p = weft_asprintf("%s/vectors/fabric-2.4.9/%s", wt_shared_dir(), rel);
    char *d = wt_read_file(p, len);
    if (d == NULL) {
        fail_msg("read %s", p);
    }
    weft_free(p);
    return (uint8_t *)d;
}
