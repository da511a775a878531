/* Fuzz target: the gateway's decoders of bytes that come from other nodes
 * (src/peer/gateway_err.c, gateway_plan.c): ProposalResponses returned by
 * remote endorsers (outcome classification and transaction envelope
 * assembly), committed blocks scanned for chaincode events, and endorsement
 * policies (SignaturePolicyEnvelope, ApplicationPolicy) read from chaincode
 * definitions. Input byte 0 picks the decoder; the rest is split into
 * frames (2-byte little-endian length, then the bytes). Policies that name
 * channel policies are resolved in the vector genesis config, made once. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer/gateway_int.h"
#include "peer/proposal_response.pb-c.h"
#include "fuzzlib.h"
#include "weft/configtx.h"

#define FUZZ_NOW 1893456000 /* 2030-01-01, fixed for replay */
#define MAX_FRAMES 8

static struct weft_channel_config *cfg;

static void setup(void)
{
    if (cfg != NULL) {
        return;
    }
    size_t n = 0;
    uint8_t *b = fuzz_read_vector("blocks/genesis.block", &n);
    struct weft_err err;
    if (weft_channel_config_from_block(b, n, FUZZ_NOW, &cfg, &err) != 0) {
        fprintf(stderr, "fuzz_gateway: genesis config: %s\n", err.msg);
        abort();
    }
    weft_free(b);
}

struct frame {
    const uint8_t *p;
    size_t len;
};

static size_t split(const uint8_t *d, size_t n, struct frame *out)
{
    size_t k = 0, off = 0;
    while (k < MAX_FRAMES && n - off >= 2) {
        size_t l = (size_t)d[off] | (size_t)d[off + 1] << 8;
        off += 2;
        if (l > n - off) {
            l = n - off;
        }
        out[k].p = d + off;
        out[k].len = l;
        k++;
        off += l;
    }
    return k;
}

static void check_layouts(const struct gw_layouts *ls)
{
    if (ls->n > GW_MAX_LAYOUTS) {
        __builtin_trap();
    }
    for (size_t i = 0; i < ls->n; i++) {
        for (size_t j = 0; j < ls->v[i].n; j++) {
            if (ls->v[i].orgs[j].mspid == NULL ||
                gw_layout_need(&ls->v[i], ls->v[i].orgs[j].mspid) == 0) {
                __builtin_trap();
            }
        }
    }
}

/* Endorser answers: each frame after the first is a ProposalResponse, the
 * first the proposal they answer. */
static void responses(const struct frame *f, size_t nf)
{
    Protos__ProposalResponse *prs[MAX_FRAMES];
    size_t n = 0;
    for (size_t i = 1; i < nf; i++) {
        Protos__ProposalResponse *pr = protos__proposal_response__unpack(NULL, f[i].len, f[i].p);
        if (pr == NULL) {
            continue;
        }
        struct gw_outcome oc;
        gw_classify(false, false, NULL, pr, &oc);
        if (strnlen(oc.msg, sizeof(oc.msg)) == sizeof(oc.msg)) {
            __builtin_trap();
        }
        prs[n++] = pr;
    }
    if (nf > 0 && n > 0) {
        uint8_t *env = NULL;
        size_t el = 0;
        struct weft_err err;
        if (gw_prepare_envelope(f[0].p, f[0].len, (const Protos__ProposalResponse *const *)prs, n,
                                &env, &el, &err) == 0) {
            weft_free(env);
        }
    }
    for (size_t i = 0; i < n; i++) {
        protos__proposal_response__free_unpacked(prs[i], NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size < 1) {
        return 0;
    }
    uint8_t sel = data[0] % 4;
    data++;
    size--;
    struct weft_err err;
    struct gw_layouts ls;
    memset(&ls, 0, sizeof(ls));
    if (sel == 0) {
        struct frame f[MAX_FRAMES];
        responses(f, split(data, size, f));
    } else if (sel == 1) {
        /* a committed block: events of chaincode "basic", then skipping up
         * to a transaction id */
        for (int pass = 0; pass < 2; pass++) {
            const char *after = pass ? "0000000000000000000000000000000000000000000000000000000000000000" : NULL;
            uint8_t *out = NULL;
            size_t ol = 0;
            uint64_t number = 0;
            if (gw_block_events(data, size, "basic", &after, &out, &ol, &number, &err) == 0) {
                weft_free(out);
            }
        }
    } else if (sel == 2) {
        if (gw_layouts_from_spe(data, size, &ls, &err) == 0) {
            check_layouts(&ls);
            gw_layouts_free(&ls);
        }
    } else {
        if (gw_layouts_from_app_policy(data, size, cfg, &ls, &err) == 0) {
            check_layouts(&ls);
            gw_layouts_free(&ls);
        }
    }
    return 0;
}
