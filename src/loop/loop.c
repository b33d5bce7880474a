/* loop/loop.c — epoll + timer min-heap + signalfd. Watches are freed lazily so a
 * callback may delete any watch, its own included, while a batch of epoll
 * events that still points at it is being dispatched. */
#include "loop/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 256

struct loop_watch {
    int fd;
    bool dead;
    loop_fd_fn fn;
    void *data;
    struct loop_watch *next_dead;
};

struct loop {
    int epfd;
    int sigfd;
    bool quit;
    loop_signal_fn sig_fn;
    void *sig_data;
    struct loop_watch *sig_watch;
    struct loop_timer **heap;
    size_t n_heap;
    size_t cap_heap;
    struct loop_watch *dead; /* deleted during dispatch, freed after it */
    uint64_t wakeups;
};

uint64_t loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct loop *loop_new(void)
{
    struct loop *lp = calloc(1, sizeof(*lp));
    if (!lp)
        return NULL;
    lp->sigfd = -1;
    lp->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (lp->epfd < 0) {
        int e = errno;
        free(lp);
        errno = e;
        return NULL;
    }
    return lp;
}

static void free_dead(struct loop *lp)
{
    while (lp->dead) {
        struct loop_watch *w = lp->dead;
        lp->dead = w->next_dead;
        free(w);
    }
}

void loop_free(struct loop *lp)
{
    if (!lp)
        return;
    loop_watch_del(lp, lp->sig_watch);
    free_dead(lp);
    if (lp->sigfd >= 0)
        close(lp->sigfd);
    if (lp->epfd >= 0)
        close(lp->epfd);
    free(lp->heap);
    free(lp);
}

struct loop_watch *loop_watch_add(struct loop *lp, int fd, uint32_t events, loop_fd_fn fn,
                                  void *data)
{
    struct epoll_event ev = {.events = events};
    struct loop_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->fd = fd;
    w->fn = fn;
    w->data = data;
    ev.data.ptr = w;
    if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int e = errno;
        free(w);
        errno = e;
        return NULL;
    }
    return w;
}

int loop_watch_mod(struct loop *lp, struct loop_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(lp->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
        return -errno;
    return 0;
}

void loop_watch_del(struct loop *lp, struct loop_watch *w)
{
    if (!w || w->dead)
        return;
    /* The fd may already be closed by its owner, which removed it from the set. */
    (void)epoll_ctl(lp->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->dead = true;
    w->next_dead = lp->dead;
    lp->dead = w;
}

/* --- timers: a binary min-heap on due_ms ------------------------------------ */

void loop_timer_init(struct loop_timer *t, loop_timer_fn fn, void *data)
{
    t->due_ms = 0;
    t->heap_idx = SIZE_MAX;
    t->fn = fn;
    t->data = data;
}

bool loop_timer_armed(const struct loop_timer *t)
{
    return t->heap_idx != SIZE_MAX;
}

static void heap_set(struct loop *lp, size_t i, struct loop_timer *t)
{
    lp->heap[i] = t;
    t->heap_idx = i;
}

static void heap_up(struct loop *lp, size_t i)
{
    struct loop_timer *t = lp->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (lp->heap[parent]->due_ms <= t->due_ms)
            break;
        heap_set(lp, i, lp->heap[parent]);
        i = parent;
    }
    heap_set(lp, i, t);
}

static void heap_down(struct loop *lp, size_t i)
{
    struct loop_timer *t = lp->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= lp->n_heap)
            break;
        if (c + 1 < lp->n_heap && lp->heap[c + 1]->due_ms < lp->heap[c]->due_ms)
            c++;
        if (t->due_ms <= lp->heap[c]->due_ms)
            break;
        heap_set(lp, i, lp->heap[c]);
        i = c;
    }
    heap_set(lp, i, t);
}

void loop_timer_disarm(struct loop *lp, struct loop_timer *t)
{
    size_t i = t->heap_idx;
    if (i == SIZE_MAX)
        return;
    t->heap_idx = SIZE_MAX;
    lp->n_heap--;
    if (i == lp->n_heap)
        return;
    struct loop_timer *moved = lp->heap[lp->n_heap];
    heap_set(lp, i, moved);
    heap_up(lp, i);
    heap_down(lp, moved->heap_idx);
}

int loop_timer_arm(struct loop *lp, struct loop_timer *t, uint64_t delay_ms)
{
    loop_timer_disarm(lp, t);
    if (lp->n_heap == lp->cap_heap) {
        size_t cap = lp->cap_heap ? lp->cap_heap * 2 : 64;
        struct loop_timer **h = realloc(lp->heap, cap * sizeof(*h));
        if (!h)
            return -ENOMEM;
        lp->heap = h;
        lp->cap_heap = cap;
    }
    t->due_ms = loop_now_ms() + delay_ms;
    heap_set(lp, lp->n_heap++, t);
    heap_up(lp, t->heap_idx);
    return 0;
}

static int next_timeout_ms(const struct loop *lp)
{
    uint64_t now;
    if (!lp->n_heap)
        return -1;
    now = loop_now_ms();
    if (lp->heap[0]->due_ms <= now)
        return 0;
    if (lp->heap[0]->due_ms - now > INT32_MAX)
        return INT32_MAX;
    return (int)(lp->heap[0]->due_ms - now);
}

static void run_timers(struct loop *lp)
{
    uint64_t now = loop_now_ms();
    /* A callback may re-arm its timer for 0 ms; bound the batch so the loop
     * still reaches epoll and cannot starve fds. */
    size_t budget = lp->n_heap + 16;
    while (lp->n_heap && lp->heap[0]->due_ms <= now && budget--) {
        struct loop_timer *t = lp->heap[0];
        loop_timer_disarm(lp, t);
        t->fn(lp, t->data);
        if (lp->quit)
            return;
    }
}

/* --- signals ----------------------------------------------------------------- */

static void on_signalfd(struct loop *lp, int fd, uint32_t events, void *data)
{
    struct signalfd_siginfo si[16];
    (void)events;
    (void)data;
    for (;;) {
        ssize_t n = read(fd, si, sizeof(si));
        if (n <= 0)
            return;
        for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++)
            lp->sig_fn(lp, &si[i], lp->sig_data);
    }
}

int loop_signals(struct loop *lp, const sigset_t *set, loop_signal_fn fn, void *data)
{
    if (lp->sigfd >= 0)
        return -EBUSY;
    if (sigprocmask(SIG_BLOCK, set, NULL) < 0)
        return -errno;
    lp->sigfd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (lp->sigfd < 0)
        return -errno;
    lp->sig_fn = fn;
    lp->sig_data = data;
    lp->sig_watch = loop_watch_add(lp, lp->sigfd, EPOLLIN, on_signalfd, NULL);
    if (!lp->sig_watch)
        return -errno;
    return 0;
}

/* --- running ------------------------------------------------------------------ */

void loop_quit(struct loop *lp)
{
    lp->quit = true;
}

uint64_t loop_wakeups(const struct loop *lp)
{
    return lp->wakeups;
}

static void dispatch(struct loop *lp, struct epoll_event *evs, int n)
{
    for (int i = 0; i < n && !lp->quit; i++) {
        struct loop_watch *w = evs[i].data.ptr;
        if (!w->dead)
            w->fn(lp, w->fd, evs[i].events, w->data);
    }
}

int loop_run(struct loop *lp)
{
    struct epoll_event evs[LOOP_MAX_EVENTS];
    while (!lp->quit) {
        int n = epoll_wait(lp->epfd, evs, LOOP_MAX_EVENTS, next_timeout_ms(lp));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        lp->wakeups++;
        dispatch(lp, evs, n);
        free_dead(lp);
        if (!lp->quit)
            run_timers(lp);
        free_dead(lp);
    }
    lp->quit = false; /* for the next run */
    return 0;
}
