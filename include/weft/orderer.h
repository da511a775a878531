/*
 * weft orderer: the ordering service behind `weft orderer start`.
 *
 * It serves orderer.AtomicBroadcast (Broadcast, Deliver) on the daemon's
 * gRPC server, the channel participation REST API (Fabric's osnadmin API,
 * /participation/v1/channels) on Admin.ListenAddress, and orders each
 * channel's envelopes into signed blocks through a Raft group (libraft on
 * libuv). It starts with no system channel: channels are joined with their
 * genesis block and reopened from FileLedger.Location at start-up.
 * Operators' guide: docs/orderer.md.
 *
 * Threads: weft_orderer_new and weft_orderer_free run on the daemon's main
 * thread. The orderer owns one consensus loop thread and the admin HTTP
 * server's thread; its gRPC handlers run on the server's worker pool.
 */
#ifndef WEFT_ORDERER_H
#define WEFT_ORDERER_H

#include "weft/base.h"

struct weft_config;
struct weft_rpc_server;
struct weft_ops;
struct weft_orderer;

/* Builds the orderer from a validated orderer.yaml (cfg, borrowed; must
 * outlive the orderer):
 *  - loads the local MSP (General.LocalMSPDir / LocalMSPID): the block signer;
 *  - registers /orderer.AtomicBroadcast/Broadcast and /Deliver on srv, which
 *    must not be started yet (borrowed; must outlive the orderer, and be
 *    stopped before weft_orderer_free);
 *  - reopens every channel found under FileLedger.Location (Raft state under
 *    Consensus.WALDir);
 *  - when ChannelParticipation.Enabled, starts the admin HTTP(S) server on
 *    Admin.ListenAddress (Admin.TLS.*, client certificates required when
 *    Admin.TLS.ClientAuthRequired);
 *  - registers metrics and a "consensus" health check on ops (borrowed, may
 *    be NULL) that fails while a channel has no Raft leader.
 *  - serves the consenter-to-consenter service (the weft.orderer.Cluster methods) on
 *    its own mutual-TLS listener (General.Cluster.ListenPort) or on srv;
 *  - sets SIGPIPE to ignored if it still has the default action (Raft
 *    streams are written with write(2)).
 * Returns NULL with err set on failure (WEFT_ECONFIG, WEFT_EIO, ...). */
struct weft_orderer *weft_orderer_new(const struct weft_config *cfg, struct weft_rpc_server *srv,
                                      struct weft_ops *ops, struct weft_err *err);

/* Port of the admin (channel participation) server; -1 when disabled. */
int weft_orderer_admin_port(const struct weft_orderer *o);

/* Stops the admin server and every channel, closes the ledgers. Call after
 * the gRPC server has stopped (no handler may still run). NULL-safe. */
void weft_orderer_free(struct weft_orderer *o);

#endif
