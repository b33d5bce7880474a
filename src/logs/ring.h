/* logs/ring.h — log file writes that never hold up the loop. A write into the
 * page cache can wait for the disk (the kernel throttles writers of a slow
 * one), and a rename can flush a file's data first; through io_uring the
 * kernel waits in a worker of its own and the loop learns of the end through
 * the ring's fd. One ring serves every sink; each sink has at most one
 * operation in flight, so its file's bytes stay in order. */
#ifndef CORRAL_LOGS_RING_H
#define CORRAL_LOGS_RING_H

#include <stdbool.h>

struct io_uring_sqe;
struct logs_ring;

/* What a ring means to an operator (GET /v1, corral doctor). */
#define LOGS_RING_WHY "writes wait in the kernel's worker: a slow disk never holds up corral"
/* ... and what its absence does; %s is strerror of logs_ring_new()'s errno. */
#define LOGS_RING_REFUSED "io_uring refused (%s): a slow disk can hold up corral while it writes"

/* One operation in flight; done() gets the kernel's result (>= 0 or -errno). */
struct logs_op {
    void (*done)(struct logs_op *op, int res);
    struct logs_op *prev, *next; /* the ring's list of operations in flight */
};

/* A ring, or NULL with errno set when the kernel refuses io_uring (not built
 * in, disabled by kernel.io_uring_disabled, or filtered by seccomp, as in
 * many containers): then writes are made at once, as plain writes. */
struct logs_ring *logs_ring_new(void);

/* Readable when completions wait: for the loop to watch. */
int logs_ring_fd(const struct logs_ring *r);

/* An entry to fill for op, or NULL when none is free. */
struct io_uring_sqe *logs_ring_sqe(struct logs_ring *r, struct logs_op *op);

/* Hands what was filled to the kernel: 0 or -errno. */
int logs_ring_submit(struct logs_ring *r);

/* Calls done() for every finished operation, without waiting. Returns how
 * many finished. */
unsigned logs_ring_reap(struct logs_ring *r);

/* Waits until nothing is in flight (done() may start more; they are waited for
 * too): before corral exits or closes the directory the files are in. */
void logs_ring_drain(struct logs_ring *r);

/* Operations in flight. */
unsigned logs_ring_busy(const struct logs_ring *r);

/* Given up on (a disk that completes nothing): no completion is waited for
 * any more, and logs_ring_free() keeps the ring, its operations and what
 * they write from until the process exits, which ends the kernel's workers.
 * The kernel may still be reading that memory: it must not be reused. */
void logs_ring_abandon(struct logs_ring *r);

/* Drains, then frees; an abandoned ring is kept. NULL is a no-op. */
void logs_ring_free(struct logs_ring *r);

#endif
