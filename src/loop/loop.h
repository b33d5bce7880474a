/* loop/loop.h — the one event loop: epoll over fds, a min-heap of timers, and a
 * signalfd. Single-threaded; idle means epoll_wait with no timeout, so no
 * wake-ups unless an fd is ready or a timer is due. */
#ifndef CORRAL_LOOP_LOOP_H
#define CORRAL_LOOP_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/signalfd.h>

struct loop;
struct loop_watch;

typedef void (*loop_fd_fn)(struct loop *lp, int fd, uint32_t events, void *data);
typedef void (*loop_timer_fn)(struct loop *lp, void *data);
typedef void (*loop_signal_fn)(struct loop *lp, const struct signalfd_siginfo *si, void *data);

/* A timer lives inside its owner's struct; the loop only links it in its heap.
 * Call loop_timer_init() once, then arm/disarm at will. */
struct loop_timer {
    uint64_t due_ms;
    size_t heap_idx; /* SIZE_MAX when disarmed */
    loop_timer_fn fn;
    void *data;
};

/* Returns a new loop; caller frees with loop_free(). NULL with errno set. */
struct loop *loop_new(void);
void loop_free(struct loop *lp);

/* Watch fd for events (EPOLLIN...). The loop never closes fd. Returns a handle
 * for loop_watch_mod/del, or NULL with errno set. */
struct loop_watch *loop_watch_add(struct loop *lp, int fd, uint32_t events, loop_fd_fn fn,
                                  void *data);
int loop_watch_mod(struct loop *lp, struct loop_watch *w, uint32_t events);
/* Safe to call from inside any callback, including w's own. NULL is a no-op. */
void loop_watch_del(struct loop *lp, struct loop_watch *w);

void loop_timer_init(struct loop_timer *t, loop_timer_fn fn, void *data);
/* (Re)arm to fire once after delay_ms. */
int loop_timer_arm(struct loop *lp, struct loop_timer *t, uint64_t delay_ms);
void loop_timer_disarm(struct loop *lp, struct loop_timer *t);
bool loop_timer_armed(const struct loop_timer *t);

/* Block the signals in set for the process and deliver them through a signalfd.
 * One handler for all of them; call once. */
int loop_signals(struct loop *lp, const sigset_t *set, loop_signal_fn fn, void *data);

/* Run until loop_quit(); returns 0, or -errno if epoll fails. A quit asked
 * for before the run (by work done ahead of it) ends it at once. */
int loop_run(struct loop *lp);
void loop_quit(struct loop *lp);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t loop_now_ms(void);

/* Number of epoll wake-ups so far (for tests and benchmarks of idleness). */
uint64_t loop_wakeups(const struct loop *lp);

#endif
