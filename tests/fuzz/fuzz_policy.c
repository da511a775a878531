/*
 * Fuzz target: the policy language parser and the policy compiler.
 * Input byte 0 even: the rest is policy text; whatever parses must compile
 * as a SignaturePolicyEnvelope. Odd: the rest is raw envelope / implicit
 * meta bytes for weft_policy_new, evaluated against an empty signer set.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 70000) {
        return 0;
    }
    bool text = (data[0] & 1) == 0;
    data++;
    size--;
    if (text) {
        char *s = weft_malloc(size + 1);
        if (s == NULL) {
            return 0;
        }
        memcpy(s, data, size);
        s[size] = '\0';
        uint8_t *env = NULL;
        size_t n = 0;
        if (weft_policy_parse(s, &env, &n, NULL) == 0) {
            struct weft_policy *p = NULL;
            if (weft_policy_new(WEFT_POLICY_SIGNATURE, env, n, true, &p, NULL) != 0) {
                abort(); /* the parser produced an envelope we cannot compile */
            }
            weft_policy_free(p);
            weft_free(env);
        }
        if (weft_policy_parse_implicit(s, &env, &n, NULL) == 0) {
            weft_free(env);
        }
        weft_free(s);
        return 0;
    }
    struct weft_policy_idset *set = NULL;
    if (weft_policy_idset_from(NULL, 0, &set) != 0) {
        return 0;
    }
    for (int32_t type = 1; type <= 3; type += 2) {
        struct weft_policy *p = NULL;
        if (weft_policy_new(type, data, size, false, &p, NULL) == 0) {
            (void)weft_policy_evaluate_ids(p, set, NULL);
            weft_policy_free(p);
        }
    }
    weft_policy_idset_free(set);
    return 0;
}
