/*
 * The consensus driver: one libuv loop thread hosting one Raft group per
 * channel (libraft 0.15). Only consensus.c includes <uv.h> and <raft.h>
 * (STYLE.md R5, R31), so a move to another Raft API stays in that file.
 *
 * Threads: every callback in struct orderer_group_ops runs on the loop
 * thread. orderer__cons_group_wake, _is_leader, _leader_id and _accept may be called from any
 * thread; _propose and _timer only from the loop thread (i.e. inside a
 * callback). Group creation and freeing block the calling thread until the
 * loop has done the work (never call them from a callback).
 */
#ifndef WEFT_ORDERER_CONSENSUS_H
#define WEFT_ORDERER_CONSENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"

struct orderer_cons;
struct orderer_cons_group;

struct orderer_group_ops {
    /* A log entry was committed: apply it (a serialized block). Entries
     * replayed at start-up are applied again; the callee skips duplicates. */
    void (*on_apply)(void *ctx, const uint8_t *data, size_t len);
    /* This node became leader (after a barrier: every earlier entry is
     * applied) or stopped being leader. */
    void (*on_leader)(void *ctx, bool leader);
    /* orderer__cons_group_wake() was called (coalesced). */
    void (*on_wake)(void *ctx);
    /* The timer armed with orderer__cons_group_timer() fired. */
    void (*on_timer)(void *ctx);
    /* The leader this node knows of changed to id (0: none known). May be
     * NULL. */
    void (*on_leader_id)(void *ctx, uint64_t id);
};

/* A voter of the group: Raft id and the address other nodes dial
 * ("host:port", the consenter's endpoint). */
struct orderer_peer {
    uint64_t id;
    const char *address;
};

/* Byte streams to other nodes, supplied by the caller (cluster.c speaks
 * gRPC with mutual TLS; unit tests use socket pairs). open and send run on
 * the group's connection threads and may block; cancel may run on any
 * thread while another thread is inside send, and must make it return. */
struct orderer_peer_io {
    void *ctx;
    /* Opens a stream to voter id for this group; *stream is the handle. */
    int (*open)(void *ctx, uint64_t id, const char *address, void **stream);
    /* Sends bytes (in order); nonzero once the stream is broken. */
    int (*send)(void *stream, const uint8_t *buf, size_t len);
    void (*cancel)(void *stream);
    void (*close)(void *stream);
};

struct orderer_group_opts {
    const char *dir;                       /* Raft log and snapshots; created if missing */
    uint64_t id;                           /* this node's Raft id (>= 1) */
    const struct orderer_peer *voters;     /* every voter, this node included */
    unsigned n_voters;                     /* 1: no transport needed (voters may be NULL) */
    const struct orderer_peer_io *peer_io; /* required when n_voters > 1; borrowed,
                                              outlives the group */
    unsigned election_ms;                  /* 0 = 1000 */
    unsigned heartbeat_ms;                 /* 0 = 100 */
};

int orderer__cons_new(struct orderer_cons **out, struct weft_err *err) WEFT_WARN_UNUSED;
/* Every group must be freed first. NULL-safe. */
void orderer__cons_free(struct orderer_cons *c);

int orderer__cons_group_new(struct orderer_cons *c, const struct orderer_group_opts *opts,
                            const struct orderer_group_ops *ops, void *ctx,
                            struct orderer_cons_group **out, struct weft_err *err) WEFT_WARN_UNUSED;
/* Stops the group's Raft instance and frees it; no callback runs after it
 * returns. NULL-safe. */
void orderer__cons_group_free(struct orderer_cons_group *g);
void orderer__cons_group_wake(struct orderer_cons_group *g);
/* Loop thread: arms the one-shot timer (ns > 0), or disarms it (ns <= 0). */
void orderer__cons_group_timer(struct orderer_cons_group *g, int64_t ns);
bool orderer__cons_group_timer_armed(struct orderer_cons_group *g);
/* Loop thread: proposes an entry (copied). WEFT_EUNAVAILABLE when not leader. */
int orderer__cons_group_propose(struct orderer_cons_group *g, const uint8_t *data,
                                size_t len) WEFT_WARN_UNUSED;
/* True once leader and the barrier after election is applied. Any thread. */
bool orderer__cons_group_is_leader(struct orderer_cons_group *g);
/* Id of the leader this node knows of (0 = none). Any thread. */
uint64_t orderer__cons_group_leader_id(struct orderer_cons_group *g);
/* Raft index the next proposal will get (loop thread, leader). */
uint64_t orderer__cons_group_next_index(struct orderer_cons_group *g);
/* Hands an inbound byte stream from voter id (fd, ownership transferred in
 * every case) to the group's Raft instance. Any thread; the caller
 * guarantees the group is not being freed concurrently. */
void orderer__cons_group_accept(struct orderer_cons_group *g, uint64_t id, const char *address,
                                int fd);
/* Raft leader changes seen by this node (a new non-zero leader id). */
uint64_t orderer__cons_group_leader_changes(struct orderer_cons_group *g);

#endif
