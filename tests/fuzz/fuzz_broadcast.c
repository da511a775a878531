/* Fuzz target: the orderer's Broadcast admission (src/orderer/msgcheck.c).
 * The input is one envelope as a Broadcast stream delivers it: decoded by
 * orderer__bcast_parse, then checked by orderer__bcast_check against the
 * channel of the Fabric vectors (genesis block config: Org1/Org2/Orderer
 * MSPs, /Channel/Writers) and against an unknown channel. The channel is set
 * up once; the checks keep no state, so runs are independent. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "orderer/orderer_int.h"
#include "weft/configtx.h"

/* 2030-01-01: inside the vector certificates' validity, fixed for replay */
#define FUZZ_NOW 1893456000

static struct weft_channel_config *cfg;
static struct orderer_chan_view view;

static void setup(void)
{
    if (cfg != NULL) {
        return;
    }
    size_t len;
    uint8_t *g = fuzz_read_vector("blocks/genesis.block", &len);
    struct weft_err err;
    if (weft_channel_config_from_block(g, len, FUZZ_NOW, &cfg, &err) != 0) {
        fprintf(stderr, "fuzz_broadcast: genesis config: %s\n", err.msg);
        abort();
    }
    weft_free(g);
    view = (struct orderer_chan_view){
        .channel_id = cfg->channel_id,
        .absolute_max_bytes = cfg->orderer.absolute_max_bytes,
        .policies = cfg->policy_mgr,
        .msps = cfg->msp_mgr,
        .no_expiration_check = false,
    };
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    struct orderer_bcast_msg m;
    memset(&m, 0, sizeof(m));
    char info[ORDERER_INFO_LEN];
    int st = orderer__bcast_parse(data, size, &m, info);
    if (strlen(info) >= ORDERER_INFO_LEN) {
        __builtin_trap();
    }
    if (st == ORDERER_SUCCESS) {
        if (m.env == NULL || m.payload == NULL || m.chdr == NULL || m.shdr == NULL) {
            __builtin_trap(); /* success promises every layer */
        }
        bool known = strcmp(m.chdr->channel_id, view.channel_id) == 0;
        st = orderer__bcast_check(&m, known ? &view : NULL, FUZZ_NOW, info);
        if (!known && st == ORDERER_SUCCESS) {
            __builtin_trap(); /* an unknown channel is never admitted */
        }
    } else if (info[0] == '\0') {
        __builtin_trap(); /* every refusal says why */
    }
    orderer__bcast_msg_clear(&m);
    return 0;
}
