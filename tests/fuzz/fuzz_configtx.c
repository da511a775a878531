/* Fuzz target: channel configuration parsing (src/configtx). The input is
 * treated as a config block; when it is not one, as a bare ConfigEnvelope.
 * Both paths run the full parse (values, etcdraft metadata, MSP setup,
 * policy compilation) and the JSON printer. Nothing may crash or leak. */
#include <stddef.h>
#include <stdint.h>

#include "weft/configtx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct weft_channel_config *cfg = NULL;
    struct weft_err err;
    /* a fixed time keeps runs reproducible (2030-01-01) */
    if (weft_channel_config_from_block(data, size, 1893456000, &cfg, &err) == 0) {
        weft_channel_config_free(cfg);
    } else if (weft_channel_config_from_envelope(data, size, "fuzz", 1893456000, &cfg, &err) ==
               0) {
        weft_channel_config_free(cfg);
    }
    char *json = NULL;
    if (weft_configtx_to_json(NULL, data, size, &json, &err) == 0) {
        weft_free(json);
    }
    return 0;
}
