/*
 * chaingen: builds two-org endorsed transactions and signed blocks for the
 * validation benchmarks (bench/validate, bench/catchup), from the
 * identities `weft crypto generate` writes for config/crypto-config.yaml.
 *
 *  - every transaction is a proposal signed by User1@org1 (Org1MSP client,
 *    so the orderer's Writers policy accepts it), endorsed by
 *    peer0.org1 and peer0.org2 (ProposalResponsePayload = proposal hash +
 *    ChaincodeAction; endorsement signature over payload || endorser), and
 *    the envelope signed again by User1: 3 signature checks per
 *    transaction, as transaction-flow.md describes;
 *  - chaingen_define_tx is a _lifecycle transaction (endorsed by both peers,
 *    so MAJORITY Endorsement of two orgs holds) that writes the chaincode
 *    definition keys the validator reads: namespaces/metadata/<cc> and
 *    namespaces/fields/<cc>/{Sequence,EndorsementInfo,ValidationInfo,
 *    Collections}, with the endorsement policy
 *    AND('Org1MSP.peer','Org2MSP.peer');
 *  - chaingen_tx(i) invokes <cc> like asset-transfer's CreateAsset: reads
 *    key asset<i> (absent) and writes a JSON asset of about 120 bytes;
 *  - chaingen_block signs a block as the orderer does (the orderer's own
 *    block builder, src/orderer/blockbuild.c).
 *
 * Errors: 0 or a negative WEFT_E* with a message in err.
 */
#ifndef WEFT_BENCH_CHAINGEN_H
#define WEFT_BENCH_CHAINGEN_H

#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"

struct weft_msp;

struct chaingen {
    struct weft_msp *client;  /* User1@org1.example.com */
    struct weft_msp *peer[2]; /* peer0.org1, peer0.org2 */
    struct weft_msp *orderer; /* orderer.example.com (block signer) */
    char channel[128];
    char cc[64];
};

/* crypto_dir: the --output folder of `weft crypto generate`. */
int chaingen_open(struct chaingen *g, const char *crypto_dir, const char *channel, const char *cc,
                  struct weft_err *err);
void chaingen_close(struct chaingen *g);

/* Serialized envelopes (*env weft_free). */
int chaingen_define_tx(struct chaingen *g, uint8_t **env, size_t *len, struct weft_err *err);
int chaingen_tx(struct chaingen *g, uint64_t i, uint8_t **env, size_t *len, struct weft_err *err);

/* Block `number` holding envs (borrowed), chained to prev_hash (32 bytes),
 * signed by the orderer identity; hash receives its header hash (must not
 * alias prev_hash). */
int chaingen_block(struct chaingen *g, uint64_t number, const uint8_t *prev_hash,
                   const uint8_t *const *envs, const size_t *lens, size_t n, uint8_t **out,
                   size_t *out_len, uint8_t hash[32], struct weft_err *err);

/* The parallel verifier's rate (signatures/s) on the 3 signatures of each
 * of the n transactions envs (creator + 2 endorsements, the certificates of
 * the generator's identities), nthreads workers plus the calling thread,
 * for about `seconds`. No verification cache. < 0 on error. *cpu_us_per_sig
 * (may be NULL): this process's CPU time per signature during the run (the
 * load-independent cost of a check). */
double chaingen_verify_rate(struct chaingen *g, const uint8_t *const *envs, const size_t *lens,
                            size_t n, unsigned nthreads, double seconds, double *cpu_us_per_sig);
/* utime + stime of this process, in seconds. */
double chaingen_cpu_seconds(void);

/* Reads the header hash of a serialized block (hash of DER(header)). */
int chaingen_block_hash(const uint8_t *block, size_t len, uint8_t hash[32]);

#endif
