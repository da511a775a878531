/*
 * Fuzz target: msp.SerializedIdentity deserialization and validation,
 * common.MSPPrincipal checks, and msp.MSPConfig set-up.
 * The first input byte picks the decoder; the rest is the message. The
 * identities are checked against Org1MSP of the Fabric vectors (located from
 * this file's path, or $WEFT_SHARED_DIR).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/msp.h"

static struct weft_msp_mgr *mgr;
static struct weft_msp_identity *known;

static void setup(void)
{
    if (mgr != NULL) {
        return;
    }
    char dir[4096];
    const char *shared = getenv("WEFT_SHARED_DIR");
    if (shared != NULL) {
        snprintf(dir, sizeof(dir), "%s", shared);
    } else {
        snprintf(dir, sizeof(dir), "%s", __FILE__);
        char *p = strstr(dir, "tests/fuzz/");
        if (p != NULL) {
            snprintf(p, sizeof(dir) - (size_t)(p - dir), "../shared");
        }
    }
    char msp[4200];
    snprintf(msp, sizeof(msp),
             "%s/vectors/fabric-2.4.9/crypto/peerOrganizations/org1.example.com/peers/"
             "peer0.org1.example.com/msp",
             dir);
    struct weft_msp *m = NULL;
    struct weft_err err;
    if (weft_msp_load_dir(msp, "Org1MSP", &m, &err) != 0) {
        fprintf(stderr, "fuzz_identity: cannot load %s: %s\n", msp, err.msg);
        abort();
    }
    mgr = weft_msp_mgr_new(64);
    if (mgr == NULL || weft_msp_mgr_add(mgr, m, NULL) != 0) {
        abort();
    }
    known = weft_msp_signer(m);
    weft_msp_unref(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size < 1) {
        return 0;
    }
    uint8_t sel = data[0] % 3;
    data++;
    size--;
    if (sel == 0) {
        struct weft_msp_identity *id = NULL;
        if (weft_msp_mgr_deserialize(mgr, data, size, &id, NULL) == 0) {
            (void)weft_msp_identity_validate(id, NULL);
            (void)weft_msp_identity_node_ous(id);
            (void)weft_msp_identity_is_admin(id);
            for (int r = 0; r <= 5; r++) {
                (void)weft_msp_identity_satisfies_role(id, (enum weft_msp_role)r, NULL);
            }
            (void)weft_msp_identity_verify(id, NULL, data, size, data, size, NULL);
            weft_msp_identity_unref(id);
        }
    } else if (sel == 1) {
        (void)weft_msp_identity_satisfies(known, data, size, NULL);
    } else {
        struct weft_msp *m = NULL;
        if (weft_msp_new(data, size, 0, &m, NULL) == 0) {
            weft_msp_unref(m);
        }
    }
    return 0;
}
