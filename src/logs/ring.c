/* logs/ring.c — the io_uring behind asynchronous log writes (see ring.h). */
#include "logs/ring.h"

#include <errno.h>
#include <liburing.h>
#include <stdint.h>
#include <stdlib.h>

/* Each sink has one operation in flight at most; the completion queue (twice
 * this) overflowing is handled by the kernel, which keeps what does not fit. */
#define RING_ENTRIES 64

struct logs_ring {
    struct io_uring uring;
    unsigned inflight;
    struct logs_op *ops; /* in flight, or in the submission queue */
    bool abandoned;
    struct logs_ring *next_abandoned;
};

/* Abandoned rings, and through them what their operations write from: kept,
 * and reachable (a leak checker sees why), until the process exits. */
static struct logs_ring *abandoned;

struct logs_ring *logs_ring_new(void)
{
    struct logs_ring *r = calloc(1, sizeof(*r));
    int e;
    if (!r)
        return NULL;
    e = io_uring_queue_init(RING_ENTRIES, &r->uring, 0);
    if (e < 0) {
        free(r);
        errno = -e;
        return NULL;
    }
    return r;
}

int logs_ring_fd(const struct logs_ring *r)
{
    return r->uring.ring_fd;
}

struct io_uring_sqe *logs_ring_sqe(struct logs_ring *r, struct logs_op *op)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
    if (!sqe)
        return NULL;
    io_uring_sqe_set_data(sqe, op);
    op->prev = NULL;
    op->next = r->ops;
    if (r->ops)
        r->ops->prev = op;
    r->ops = op;
    return sqe;
}

int logs_ring_submit(struct logs_ring *r)
{
    int n = io_uring_submit(&r->uring);
    if (n < 0)
        return n;
    r->inflight += (unsigned)n;
    return 0;
}

static void complete(struct logs_ring *r, struct io_uring_cqe *cqe)
{
    struct logs_op *op = io_uring_cqe_get_data(cqe);
    int res = cqe->res;
    io_uring_cqe_seen(&r->uring, cqe);
    r->inflight--;
    if (r->abandoned)
        return; /* what was given up on stays so: its sink waits for the exit */
    if (op->prev)
        op->prev->next = op->next;
    else
        r->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    op->done(op, res);
}

unsigned logs_ring_reap(struct logs_ring *r)
{
    struct io_uring_cqe *cqe;
    unsigned n = 0;
    for (; io_uring_peek_cqe(&r->uring, &cqe) == 0; n++)
        complete(r, cqe);
    return n;
}

void logs_ring_drain(struct logs_ring *r)
{
    struct io_uring_cqe *cqe;
    while (r && !r->abandoned && r->inflight > 0) {
        int e = io_uring_wait_cqe(&r->uring, &cqe);
        if (e == -EINTR)
            continue;
        if (e < 0)
            break; /* the ring is unusable: nothing more will complete */
        complete(r, cqe);
    }
}

unsigned logs_ring_busy(const struct logs_ring *r)
{
    return r ? r->inflight : 0;
}

void logs_ring_abandon(struct logs_ring *r)
{
    if (!r || r->abandoned)
        return;
    r->abandoned = true;
    r->next_abandoned = abandoned;
    abandoned = r;
}

void logs_ring_free(struct logs_ring *r)
{
    if (!r || r->abandoned)
        return;
    logs_ring_drain(r);
    io_uring_queue_exit(&r->uring);
    free(r);
}
