/* fdhold/main.c — corral-fdhold, the output holder (see cli/hold.h). A
 * program of its own, linked with nothing but libc, so that the one process
 * that outlives corral costs next to no memory. */
#include "cli/hold.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_FD 3

struct held {
    struct hold_entry *v;
    size_t n, cap;
};

static void drop_at(struct held *h, size_t i)
{
    close(h->v[i].fd);
    h->v[i] = h->v[--h->n];
}

static void drop_named(struct held *h, const char *name)
{
    for (size_t i = h->n; i-- > 0;)
        if (strcmp(h->v[i].name, name) == 0)
            drop_at(h, i);
}

static void put(struct held *h, const struct hold_entry *e)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].st == e->st && strcmp(h->v[i].name, e->name) == 0) {
            close(h->v[i].fd);
            h->v[i].fd = e->fd;
            return;
        }
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        struct hold_entry *v = realloc(h->v, cap * sizeof(*v));
        if (!v) {
            close(e->fd); /* that service's pipe is then only corral's */
            return;
        }
        h->v = v;
        h->cap = cap;
    }
    h->v[h->n++] = *e;
}

static int give_all(int sock, const struct held *h)
{
    int r = 0;
    for (size_t i = 0; r == 0 && i < h->n; i += HOLD_FDS_MAX)
        r = hold_send(sock, 'F', h->v + i, h->n - i < HOLD_FDS_MAX ? h->n - i : HOLD_FDS_MAX, true);
    return r ? r : hold_send(sock, 'E', NULL, 0, false);
}

/* One corral's session. Returns 1 when told to quit, 0 when it went away. */
static int serve(int sock, struct held *h, struct hold_entry *e)
{
    for (;;) {
        char kind = 0;
        int n = hold_recv(sock, &kind, e, HOLD_FDS_MAX);
        if (n < 0)
            return 0;
        for (int i = 0; i < n; i++) {
            if (kind == 'P' && e[i].fd >= 0)
                put(h, &e[i]);
            else if (e[i].fd >= 0)
                close(e[i].fd);
            if (kind == 'D')
                drop_named(h, e[i].name);
        }
        if (kind == 'Q')
            return 1;
        if (kind == 'G' && give_all(sock, h) < 0)
            return 0;
    }
}

static bool peer_allowed(int sock)
{
    struct ucred cr;
    socklen_t len = sizeof(cr);
    return getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 &&
           (cr.uid == 0 || cr.uid == geteuid());
}

/* With no corral connected: wait for one, and let go of pipes whose every
 * writer is gone (events 0: only hang-ups wake us, never pending output). */
static int wait_for_corral(struct held *h)
{
    struct pollfd *p = calloc(h->n + 1, sizeof(*p));
    int r;
    if (!p)
        return -ENOMEM;
    p[0].fd = LISTEN_FD;
    p[0].events = POLLIN;
    for (size_t i = 0; i < h->n; i++)
        p[i + 1].fd = h->v[i].fd;
    r = poll(p, h->n + 1, -1);
    for (size_t i = h->n; r > 0 && i-- > 0;)
        if (p[i + 1].revents & (POLLHUP | POLLERR | POLLNVAL))
            drop_at(h, i);
    r = r > 0 && (p[0].revents & POLLIN) ? 1 : 0;
    free(p);
    return r;
}

int main(void)
{
    struct held h = {0};
    struct hold_entry *e = calloc(HOLD_FDS_MAX, sizeof(*e));
    bool served = false;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    if (!e)
        return 1;
    for (;;) {
        int sock;
        if (served && h.n == 0)
            break; /* nothing to keep, nobody to keep it for */
        if (wait_for_corral(&h) <= 0)
            continue;
        sock = accept4(LISTEN_FD, NULL, NULL, SOCK_CLOEXEC);
        if (sock < 0)
            continue;
        if (peer_allowed(sock)) {
            served = true;
            if (serve(sock, &h, e)) {
                close(sock);
                break;
            }
        }
        close(sock);
    }
    while (h.n)
        drop_at(&h, h.n - 1);
    free(h.v);
    free(e);
    return 0;
}
