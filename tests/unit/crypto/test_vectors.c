/* Real Fabric v2.4.9 material (../shared/vectors/fabric-2.4.9): every key and
 * certificate of the cryptogen tree loads, chains verify to their CAs, keys
 * match their certificates and SKIs, OUs and SANs are as cryptogen writes
 * them; and the creator signature of every envelope in the vector blocks
 * verifies (decoded with the generated protobuf-c code). */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/common.pb-c.h"
#include "msp/identities.pb-c.h"
#include "testlib.h"
#include "tests.h"
#include "weft/crypto.h"

static char g_root[1024];

static int setup(void **state)
{
    (void)state;
    snprintf(g_root, sizeof(g_root), "%s/vectors/fabric-2.4.9", wt_shared_dir());
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static struct weft_x509 *load_cert(const char *path)
{
    size_t len = 0;
    char *pem = wt_read_file(path, &len);
    assert_non_null(pem);
    struct weft_x509 *x = NULL;
    struct weft_err err = {0};
    int rc = weft_x509_parse_pem(pem, len, &x, &err);
    if (rc != 0) {
        fail_msg("%s: %s", path, err.msg);
    }
    weft_free(pem);
    return x;
}

static struct weft_key *load_key(const char *path)
{
    size_t len = 0;
    char *pem = wt_read_file(path, &len);
    assert_non_null(pem);
    struct weft_key *k = NULL;
    struct weft_err err = {0};
    int rc = weft_key_load_private(pem, len, &k, &err);
    if (rc != 0) {
        fail_msg("%s: %s", path, err.msg);
    }
    weft_free_secret(pem, len);
    return k;
}

/* First regular file in dir (NULL if none); caller frees with weft_free. */
static char *first_file(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return NULL;
    }
    char *out = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            out = weft_asprintf("%s/%s", dir, e->d_name);
            break;
        }
    }
    closedir(d);
    return out;
}

struct walk_stats {
    int certs;
    int keys;
    int msps;
    int tls;
    int cas;
};

/* Checks one MSP folder: signcert chains to cacerts, keystore key matches. */
static void check_msp(const char *msp, struct walk_stats *ws)
{
    char path[2048];
    snprintf(path, sizeof(path), "%s/signcerts", msp);
    char *sc = first_file(path);
    if (sc == NULL) {
        return; /* org-level msp: no signing identity */
    }
    snprintf(path, sizeof(path), "%s/cacerts", msp);
    char *ca = first_file(path);
    assert_non_null(ca);
    snprintf(path, sizeof(path), "%s/keystore", msp);
    char *ks = first_file(path);
    assert_non_null(ks);

    struct weft_x509 *cert = load_cert(sc);
    struct weft_x509 *cacert = load_cert(ca);
    struct weft_key *key = load_key(ks);

    /* keystore file is hex(SKI)_sk in Fabric's default layout, priv_sk in
     * cryptogen >= 2.x; either way the key must match the signcert. */
    uint8_t ski[32];
    char hex[65];
    weft_key_ski(key, ski);
    weft_crypto_hex(ski, 32, hex);
    const char *base = strrchr(ks, '/') + 1;
    if (strcmp(base, "priv_sk") != 0) {
        char want[80];
        snprintf(want, sizeof(want), "%s_sk", hex);
        assert_string_equal(base, want);
    }
    assert_true(weft_key_public_equal(key, weft_x509_key(cert)));

    struct weft_x509_store *st = weft_x509_store_new();
    assert_int_equal(weft_x509_store_add_root(st, cacert, NULL), 0);
    struct weft_x509_chain chain = {0};
    struct weft_err err = {0};
    int rc = weft_x509_verify_chain(st, cert, weft_x509_not_before(cert) + 1, &chain, &err);
    if (rc != 0) {
        fail_msg("%s: %s", sc, err.msg);
    }
    assert_int_equal(chain.n, 2);
    assert_true(weft_x509_equal(chain.certs[1], cacert));
    weft_x509_chain_free(&chain);

    /* NodeOU: cryptogen writes exactly one role OU. */
    assert_int_equal(weft_x509_ou_count(cert), 1);
    const char *ou = weft_x509_ou(cert, 0);
    const char *cn = weft_x509_subject_name(cert)->common_name;
    if (strncmp(cn, "Admin@", 6) == 0) {
        assert_string_equal(ou, "admin");
    } else if (strncmp(cn, "User", 4) == 0) {
        assert_string_equal(ou, "client");
    } else if (strncmp(cn, "orderer", 7) == 0) {
        assert_string_equal(ou, "orderer");
    } else {
        assert_string_equal(ou, "peer");
    }
    assert_false(weft_x509_is_ca(cert));
    /* Leaf AKI = CA SKI; signing with the key verifies with the cert key. */
    size_t aki_len = 0, cski_len = 0;
    const uint8_t *aki = weft_x509_aki(cert, &aki_len);
    const uint8_t *cski = weft_x509_ski(cacert, &cski_len);
    assert_non_null(aki);
    assert_non_null(cski);
    assert_int_equal(aki_len, cski_len);
    assert_memory_equal(aki, cski, aki_len);
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sig_len = 0;
    assert_int_equal(weft_ecdsa_sign(key, msp, strlen(msp), sig, &sig_len, NULL), 0);
    assert_int_equal(weft_ecdsa_verify(weft_x509_key(cert), msp, strlen(msp), sig, sig_len, NULL),
                     0);

    weft_x509_store_free(st);
    weft_key_free(key);
    weft_x509_free(cacert);
    weft_x509_free(cert);
    weft_free(sc);
    weft_free(ca);
    weft_free(ks);
    ws->msps++;
}

/* Checks a node's tls folder: server/client cert chains to ca.crt. */
static void check_tls(const char *tls, struct walk_stats *ws)
{
    char crt[2048], key[2048], ca[2048];
    bool server = true;
    snprintf(crt, sizeof(crt), "%s/server.crt", tls);
    snprintf(key, sizeof(key), "%s/server.key", tls);
    struct stat sb;
    if (stat(crt, &sb) != 0) {
        server = false;
        snprintf(crt, sizeof(crt), "%s/client.crt", tls);
        snprintf(key, sizeof(key), "%s/client.key", tls);
    }
    snprintf(ca, sizeof(ca), "%s/ca.crt", tls);
    struct weft_x509 *cert = load_cert(crt);
    struct weft_x509 *cacert = load_cert(ca);
    struct weft_key *k = load_key(key);
    assert_true(weft_key_public_equal(k, weft_x509_key(cert)));
    struct weft_x509_store *st = weft_x509_store_new();
    assert_int_equal(weft_x509_store_add_root(st, cacert, NULL), 0);
    struct weft_err err = {0};
    if (weft_x509_verify_chain(st, cert, weft_x509_not_before(cert) + 1, NULL, &err) != 0) {
        fail_msg("%s: %s", crt, err.msg);
    }
    bool present = false;
    uint32_t eku = weft_x509_ext_key_usage(cert, &present);
    assert_true(present);
    assert_true(eku & WEFT_X509_EKU_SERVER_AUTH);
    assert_true(eku & WEFT_X509_EKU_CLIENT_AUTH);
    if (server) {
        /* cryptogen: SANs = host FQDN, short name, localhost? (peers), and the CN. */
        const char *cn = weft_x509_subject_name(cert)->common_name;
        bool has_cn = false;
        for (size_t i = 0; i < weft_x509_san_dns_count(cert); i++) {
            has_cn |= strcmp(weft_x509_san_dns(cert, i), cn) == 0;
        }
        assert_true(has_cn);
    }
    weft_x509_store_free(st);
    weft_key_free(k);
    weft_x509_free(cacert);
    weft_x509_free(cert);
    ws->tls++;
}

/* CA folders (ca/, tlsca/): self-signed CA whose SKI is the Fabric SKI of its key. */
static void check_ca(const char *dir, struct walk_stats *ws)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    char cert_path[2048] = "", key_path[2048] = "";
    while ((e = readdir(d)) != NULL) {
        if (ends_with(e->d_name, "-cert.pem")) {
            snprintf(cert_path, sizeof(cert_path), "%s/%s", dir, e->d_name);
        } else if (ends_with(e->d_name, "_sk")) {
            snprintf(key_path, sizeof(key_path), "%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    assert_true(cert_path[0] && key_path[0]);
    struct weft_x509 *c = load_cert(cert_path);
    struct weft_key *k = load_key(key_path);
    assert_true(weft_x509_is_ca(c));
    assert_true(weft_key_public_equal(k, weft_x509_key(c)));
    uint8_t ski[32];
    weft_key_ski(k, ski);
    size_t ext_len = 0;
    const uint8_t *ext = weft_x509_ski(c, &ext_len);
    assert_int_equal(ext_len, 32);
    assert_memory_equal(ext, ski, 32);
    assert_true(weft_x509_issued_by(c, c));
    bool present = false;
    uint32_t ku = weft_x509_key_usage(c, &present);
    assert_true(ku & WEFT_X509_KU_KEY_CERT_SIGN);
    struct weft_x509_store *st = weft_x509_store_new();
    assert_int_equal(weft_x509_store_add_root(st, c, NULL), 0);
    assert_int_equal(weft_x509_verify_chain(st, c, weft_x509_not_before(c) + 1, NULL, NULL), 0);
    weft_x509_store_free(st);
    weft_key_free(k);
    weft_x509_free(c);
    ws->cas++;
}

static void walk(const char *dir, struct walk_stats *ws)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char path[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat sb;
        assert_int_equal(stat(path, &sb), 0);
        if (S_ISDIR(sb.st_mode)) {
            if (strcmp(e->d_name, "msp") == 0) {
                check_msp(path, ws);
            } else if (strcmp(e->d_name, "tls") == 0) {
                check_tls(path, ws);
            } else if (strcmp(e->d_name, "ca") == 0 || strcmp(e->d_name, "tlsca") == 0) {
                check_ca(path, ws);
            }
            walk(path, ws);
        } else if (ends_with(e->d_name, ".pem") || ends_with(e->d_name, ".crt")) {
            struct weft_x509 *x = load_cert(path);
            assert_true(strlen(weft_x509_subject(x)) > 0);
            weft_x509_free(x);
            ws->certs++;
        } else if (ends_with(e->d_name, "_sk") || ends_with(e->d_name, ".key")) {
            struct weft_key *k = load_key(path);
            weft_key_free(k);
            ws->keys++;
        }
    }
    closedir(d);
}

static void test_fabric_crypto_tree(void **state)
{
    (void)state;
    char dir[1200];
    snprintf(dir, sizeof(dir), "%s/crypto", g_root);
    struct walk_stats ws = {0};
    walk(dir, &ws);
    print_message("fabric vectors: %d certs, %d keys, %d MSPs, %d TLS dirs, %d CAs\n", ws.certs,
                  ws.keys, ws.msps, ws.tls, ws.cas);
    assert_true(ws.certs >= 50);
    assert_true(ws.keys >= 20);
    assert_int_equal(ws.msps,
                     10); /* orderer, Admin@example.com, 2 x (peer0, ccaas, Admin, User1) */
    assert_int_equal(ws.tls, 10);
    assert_int_equal(ws.cas, 6);
}

static void test_peer_tls_sans(void **state)
{
    (void)state;
    char path[1200];
    snprintf(
        path, sizeof(path),
        "%s/crypto/peerOrganizations/org1.example.com/peers/peer0.org1.example.com/tls/server.crt",
        g_root);
    struct weft_x509 *x = load_cert(path);
    assert_int_equal(weft_x509_san_dns_count(x), 3);
    assert_string_equal(weft_x509_san_dns(x, 0), "peer0.org1.example.com");
    assert_string_equal(weft_x509_san_dns(x, 1), "peer0");
    assert_string_equal(weft_x509_san_dns(x, 2), "localhost");
    assert_int_equal(weft_x509_san_ip_count(x), 1);
    assert_string_equal(weft_x509_san_ip_str(x, 0), "127.0.0.1");
    assert_string_equal(weft_x509_subject(x),
                        "CN=peer0.org1.example.com,L=San Francisco,ST=California,C=US");
    weft_x509_free(x);
    snprintf(path, sizeof(path),
             "%s/crypto/peerOrganizations/org1.example.com/peers/peer0.org1.example.com/msp/"
             "signcerts/peer0.org1.example.com-cert.pem",
             g_root);
    x = load_cert(path);
    assert_string_equal(weft_x509_subject(x),
                        "CN=peer0.org1.example.com,OU=peer,L=San Francisco,ST=California,C=US");
    assert_string_equal(weft_x509_subject_name(x)->locality[0], "San Francisco");
    assert_string_equal(weft_x509_issuer_name(x)->organization[0], "org1.example.com");
    weft_x509_free(x);
}

/* Creator signatures of every envelope in blocks 1..75. */
static void test_block_envelope_signatures(void **state)
{
    (void)state;
    struct weft_vcache *cache = weft_vcache_new(4096);
    struct weft_verifier *v = weft_verifier_new(2, cache);
    assert_non_null(v);
    int envelopes = 0;
    for (int b = 1; b <= 75; b++) {
        char path[1200];
        snprintf(path, sizeof(path), "%s/blocks/%06d.block", g_root, b);
        size_t len = 0;
        uint8_t *raw = (uint8_t *)wt_read_file(path, &len);
        assert_non_null(raw);
        Common__Block *blk = common__block__unpack(NULL, len, raw);
        assert_non_null(blk);
        assert_non_null(blk->data);
        size_t n = blk->data->n_data;
        struct weft_verify_item *items = weft_calloc(n, sizeof(*items));
        Common__Envelope **envs = weft_calloc(n, sizeof(*envs));
        Common__Payload **pls = weft_calloc(n, sizeof(*pls));
        Common__SignatureHeader **shs = weft_calloc(n, sizeof(*shs));
        Msp__SerializedIdentity **ids = weft_calloc(n, sizeof(*ids));
        struct weft_x509 **certs = weft_calloc(n, sizeof(*certs));
        for (size_t i = 0; i < n; i++) {
            ProtobufCBinaryData d = blk->data->data[i];
            envs[i] = common__envelope__unpack(NULL, d.len, d.data);
            assert_non_null(envs[i]);
            pls[i] = common__payload__unpack(NULL, envs[i]->payload.len, envs[i]->payload.data);
            assert_non_null(pls[i]);
            assert_non_null(pls[i]->header);
            ProtobufCBinaryData shb = pls[i]->header->signature_header;
            shs[i] = common__signature_header__unpack(NULL, shb.len, shb.data);
            assert_non_null(shs[i]);
            ids[i] =
                msp__serialized_identity__unpack(NULL, shs[i]->creator.len, shs[i]->creator.data);
            assert_non_null(ids[i]);
            assert_int_equal(
                weft_x509_parse_pem(ids[i]->id_bytes.data, ids[i]->id_bytes.len, &certs[i], NULL),
                0);
            items[i].cert = certs[i];
            items[i].msg = envs[i]->payload.data;
            items[i].msg_len = envs[i]->payload.len;
            items[i].sig = envs[i]->signature.data;
            items[i].sig_len = envs[i]->signature.len;
            items[i].identity = shs[i]->creator.data;
            items[i].identity_len = shs[i]->creator.len;
            /* Same answer single-threaded, without the cache. */
            assert_int_equal(weft_ecdsa_verify(weft_x509_key(certs[i]), envs[i]->payload.data,
                                               envs[i]->payload.len, envs[i]->signature.data,
                                               envs[i]->signature.len, NULL),
                             0);
            /* And a flipped payload byte breaks it. */
            envs[i]->payload.data[envs[i]->payload.len / 2] ^= 1;
            assert_int_equal(weft_ecdsa_verify(weft_x509_key(certs[i]), envs[i]->payload.data,
                                               envs[i]->payload.len, envs[i]->signature.data,
                                               envs[i]->signature.len, NULL),
                             WEFT_EBADSIG);
            envs[i]->payload.data[envs[i]->payload.len / 2] ^= 1;
        }
        assert_int_equal(weft_verifier_run(v, items, n), 0);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(items[i].result, 0);
            weft_x509_free(certs[i]);
            msp__serialized_identity__free_unpacked(ids[i], NULL);
            common__signature_header__free_unpacked(shs[i], NULL);
            common__payload__free_unpacked(pls[i], NULL);
            common__envelope__free_unpacked(envs[i], NULL);
        }
        envelopes += (int)n;
        weft_free(certs);
        weft_free(ids);
        weft_free(shs);
        weft_free(pls);
        weft_free(envs);
        weft_free(items);
        common__block__free_unpacked(blk, NULL);
        weft_free(raw);
    }
    print_message("verified %d envelope creator signatures\n", envelopes);
    assert_true(envelopes >= 500);
    weft_verifier_free(v);
    weft_vcache_free(cache);
}

int run_vector_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fabric_crypto_tree),
        cmocka_unit_test(test_peer_tls_sans),
        cmocka_unit_test(test_block_envelope_signatures),
    };
    return cmocka_run_group_tests_name("crypto_fabric_vectors", tests, setup, NULL);
}
