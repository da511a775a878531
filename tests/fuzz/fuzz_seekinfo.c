/* Fuzz target: the orderer's Deliver request parsing (src/orderer/seekinfo.c).
 * The input is one seek envelope as a Deliver stream delivers it: parsed by
 * orderer__seek_parse without a time window or TLS binding, then with the
 * orderer's 15 minute window and a TLS certificate hash, and each parse that
 * succeeds is resolved by orderer__seek_resolve against several ledger
 * heights. No state is kept between runs. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "orderer/ab.pb-c.h"
#include "orderer/orderer_int.h"

/* 2030-01-01 in ns, fixed so that replays are reproducible */
#define FUZZ_NOW_NS (1893456000LL * 1000000000LL)
#define FUZZ_WINDOW_NS (15LL * 60 * 1000000000LL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void resolve_all(const struct orderer_seek_req *r)
{
    static const uint64_t heights[] = {0, 1, 76, UINT64_MAX};
    for (size_t i = 0; i < sizeof(heights) / sizeof(heights[0]); i++) {
        struct orderer_seek_plan plan;
        char info[ORDERER_INFO_LEN];
        int st = orderer__seek_resolve(r, heights[i], &plan, info);
        if (st != ORDERER_SUCCESS && info[0] == '\0') {
            __builtin_trap(); /* every refusal says why */
        }
        if (st == ORDERER_SUCCESS && r->seek == NULL) {
            __builtin_trap();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t tls_hash[32] = {1, 2, 3};
    for (int pass = 0; pass < 2; pass++) {
        struct orderer_seek_req r;
        memset(&r, 0, sizeof(r));
        char info[ORDERER_INFO_LEN];
        int st = orderer__seek_parse(data, size, FUZZ_NOW_NS, pass ? FUZZ_WINDOW_NS : 0,
                                     pass ? tls_hash : NULL, &r, info);
        if (st == ORDERER_SUCCESS) {
            if (r.chdr == NULL || r.channel_id == NULL || r.data != r.env->payload.data) {
                __builtin_trap();
            }
            resolve_all(&r);
        } else if (info[0] == '\0') {
            __builtin_trap();
        }
        orderer__seek_req_clear(&r);
    }
    return 0;
}
