/* Fuzz target: composite key parsing (weft_ledger_ckey_split) and, for keys
 * that split, re-creation: create(split(k)) must give back k up to its last
 * separator whenever the components are valid. The bytes are also fed to the
 * KVRWSet decoder, whose keys are composite keys on the wire. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/state_int.h"
#include "weft/ledger_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct weft_err err;
    char *ot = NULL, **attrs = NULL;
    size_t n = 0;
    if (weft_ledger_ckey_split((const char *)data, size, &ot, &attrs, &n, &err) == 0) {
        char *k = NULL;
        size_t kl = 0;
        if (weft_ledger_ckey_create(ot, (const char *const *)attrs, n, &k, &kl, &err) == 0) {
            if (kl > size || memcmp(k, data, kl) != 0)
                abort();
            weft_free(k);
        }
        weft_ledger_ckey_free(ot, attrs, n);
    }
    struct ledger_kvrwset kv;
    if (ledger__kvrwset_decode(data, size, &kv, &err) == 0) {
        struct weft_buf b;
        weft_buf_init(&b, (size_t)1 << 24);
        if (ledger__kvrwset_encode(&kv, &b) != 0 && b.len < ((size_t)1 << 24))
            abort();
        weft_buf_close(&b);
        ledger__kvrwset_free(&kv);
    }
    return 0;
}
