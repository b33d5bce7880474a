/* cli/out.c — nonblocking, bounded stdout for the foreground view. */
#include "cli/out.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct out {
    struct loop *lp;
    int fd;
    bool own_fd;
    bool is_socket;
    bool dead; /* the reader is gone (EPIPE, EIO): output is discarded */
    char *buf; /* grows to OUT_MAX_BYTES while the reader is behind, freed once drained */
    size_t len;
    size_t cap;
    size_t dropped;
    struct loop_timer flush;
    struct loop_watch *watch; /* EPOLLOUT while the reader is behind */
};

#define OUT_MIN_BYTES 4096

static void out_flush(struct out *o);

static void on_flush(struct loop *lp, void *data)
{
    (void)lp;
    out_flush(data);
}

static void on_writable(struct loop *lp, int fd, uint32_t events, void *data)
{
    (void)lp;
    (void)fd;
    (void)events;
    out_flush(data);
}

static int open_fd(struct out *o, int fd)
{
    struct stat st;
    char path[64];
    if (fstat(fd, &st) < 0)
        return -errno;
    o->is_socket = S_ISSOCK(st.st_mode);
    if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        o->fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (o->fd >= 0) {
            o->own_fd = true;
            return 0;
        }
    }
    /* A regular file never blocks for long; a socket gets MSG_DONTWAIT. */
    o->fd = fd;
    return 0;
}

struct out *out_new(struct loop *lp, int fd)
{
    struct out *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->lp = lp;
    o->fd = -1;
    if (open_fd(o, fd) < 0) {
        out_free(o);
        return NULL;
    }
    loop_timer_init(&o->flush, on_flush, o);
    return o;
}

static ssize_t write_some(struct out *o, const char *p, size_t n)
{
    if (o->is_socket)
        return send(o->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    return write(o->fd, p, n);
}

static void set_waiting(struct out *o, bool waiting)
{
    if (waiting && !o->watch)
        o->watch = loop_watch_add(o->lp, o->fd, EPOLLOUT, on_writable, o);
    if (!waiting && o->watch) {
        loop_watch_del(o->lp, o->watch);
        o->watch = NULL;
    }
}

static void out_flush(struct out *o)
{
    size_t done = 0;
    while (done < o->len && !o->dead) {
        ssize_t n = write_some(o, o->buf + done, o->len - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        o->dead = true; /* EPIPE, EIO: nobody will ever read this */
    }
    if (done)
        memmove(o->buf, o->buf + done, o->len - done);
    o->len = o->dead ? 0 : o->len - done;
    if (o->len == 0) {
        /* Idle costs no buffer: a burst of a thousand start lines must not
         * keep its megabyte resident for the rest of corral's life. */
        free(o->buf);
        o->buf = NULL;
        o->cap = 0;
    }
    set_waiting(o, o->len > 0 && !o->dead);
    if (o->dropped && !o->dead && o->len + 128 < OUT_MAX_BYTES) {
        size_t d = o->dropped;
        o->dropped = 0;
        out_printf(o, "corral: %zu bytes of output dropped while stdout was not being read\n", d);
    }
}

static bool room_for(struct out *o, size_t len)
{
    size_t cap = o->cap ? o->cap : OUT_MIN_BYTES;
    char *p;
    while (cap < o->len + len)
        cap *= 2;
    if (cap > OUT_MAX_BYTES)
        cap = OUT_MAX_BYTES;
    if (cap == o->cap)
        return true;
    if (!(p = realloc(o->buf, cap)))
        return false;
    o->buf = p;
    o->cap = cap;
    return true;
}

void out_write(struct out *o, const char *buf, size_t len)
{
    if (o->dead)
        return;
    /* Full: written now, before anything is dropped. A file or a reader
     * that keeps up takes it at once; one that is behind leaves it full. */
    if (len > OUT_MAX_BYTES - o->len && o->len)
        out_flush(o);
    if (o->dead)
        return;
    if (len > OUT_MAX_BYTES - o->len || !room_for(o, len)) {
        o->dropped += len;
        return;
    }
    memcpy(o->buf + o->len, buf, len);
    o->len += len;
    /* Coalesced: one write per loop turn rather than one per line. */
    if (!o->watch && !loop_timer_armed(&o->flush))
        loop_timer_arm(o->lp, &o->flush, 0);
}

void out_vprintf(struct out *o, const char *fmt, va_list ap)
{
    char line[8192];
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    if (n > 0)
        out_write(o, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

void out_printf(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    out_vprintf(o, fmt, ap);
    va_end(ap);
}

void out_drain(struct out *o, int timeout_ms)
{
    int waited_ms = 0;
    out_flush(o);
    while (o->len && !o->dead && waited_ms < timeout_ms) {
        struct pollfd pfd = {.fd = o->fd, .events = POLLOUT};
        (void)poll(&pfd, 1, 50);
        waited_ms += 50;
        out_flush(o);
    }
}

void out_free(struct out *o)
{
    if (!o)
        return;
    if (o->lp) {
        loop_timer_disarm(o->lp, &o->flush);
        set_waiting(o, false);
    }
    if (o->own_fd && o->fd >= 0)
        close(o->fd);
    free(o->buf);
    free(o);
}
