/* cli/hold.c — the output holder's protocol, and corral's side of it. */
#include "cli/hold.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOLD_RECV_TIMEOUT_S 5 /* a holder that does not answer is not used */

int hold_send(int sock, char kind, const struct hold_entry *e, size_t n, bool with_fds)
{
    char buf[HOLD_MSG_MAX];
    union {
        char buf[CMSG_SPACE(HOLD_FDS_MAX * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    size_t len = 1;
    struct iovec iov = {.iov_base = buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n > HOLD_FDS_MAX)
        return -E2BIG;
    buf[0] = kind;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(e[i].name) + 1;
        memcpy(buf + len, e[i].name, l);
        len += l;
        buf[len++] = (char)('0' + e[i].st);
    }
    iov.iov_len = len;
    if (with_fds && n) {
        struct cmsghdr *c;
        memset(&ctl, 0, sizeof(ctl));
        msg.msg_control = ctl.buf;
        msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
        c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(n * sizeof(int));
        for (size_t i = 0; i < n; i++)
            memcpy(CMSG_DATA(c) + i * sizeof(int), &e[i].fd, sizeof(int));
    }
    while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

static int parse_entries(const char *buf, size_t len, struct hold_entry *e, size_t max)
{
    size_t n = 0;
    for (size_t at = 1; at < len; n++) {
        const char *end = memchr(buf + at, '\0', len - at);
        size_t l = end ? (size_t)(end - (buf + at)) : 0;
        if (n >= max)
            return -E2BIG;
        if (l == 0 || l >= sizeof(e[n].name))
            return -EPROTO;
        memcpy(e[n].name, buf + at, l + 1);
        at += l + 1;
        if (at >= len || (buf[at] != '0' && buf[at] != '1'))
            return -EPROTO;
        e[n].st = buf[at] == '1' ? LOGS_ERR : LOGS_OUT;
        e[n].fd = -1;
        at++;
    }
    return (int)n;
}

int hold_recv(int sock, char *kind, struct hold_entry *e, size_t max)
{
    char buf[HOLD_MSG_MAX];
    union {
        char buf[CMSG_SPACE(HOLD_FDS_MAX * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = ctl.buf,
                         .msg_controllen = sizeof(ctl.buf)};
    int fds[HOLD_FDS_MAX];
    size_t n_fds = 0;
    ssize_t len;
    int n;
    while ((len = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0)
        if (errno != EINTR)
            return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            for (size_t i = 0;
                 i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) && n_fds < HOLD_FDS_MAX; i++)
                memcpy(&fds[n_fds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    if (len == 0) {
        n = -EPIPE;
    } else {
        *kind = buf[0];
        n = parse_entries(buf, (size_t)len, e, max);
    }
    /* Every fd goes to an entry, in order; any other is closed. */
    for (size_t i = 0; i < n_fds; i++) {
        if (n >= 0 && i < (size_t)n && (msg.msg_flags & MSG_CTRUNC) == 0)
            e[i].fd = fds[i];
        else
            close(fds[i]);
    }
    return n;
}

/* --- corral's side --------------------------------------------------------------- */

struct hold {
    int sock;
    pid_t child; /* the holder, when this corral started it (its child, as subreaper) */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct hold_entry *put;
    size_t n_put, cap_put;
    struct hold_entry *drop;
    size_t n_drop, cap_drop;
};

static int sock_path(const char *state_dir, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if ((size_t)snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/fdhold.sock", state_dir) >=
        sizeof(sa->sun_path))
        return -ENAMETOOLONG;
    return 0;
}

static int connect_to(const struct sockaddr_un *sa)
{
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = HOLD_RECV_TIMEOUT_S};
    if (s < 0)
        return -errno;
    if (connect(s, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
        int r = -errno;
        close(s);
        return r;
    }
    (void)setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return s;
}

/* corral-fdhold sits beside the corral executable (build dir or bindir). */
static int holder_path(char *out, size_t size)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;
    if (n < 0)
        return -errno;
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (!slash)
        return -ENOENT;
    *slash = '\0';
    if ((size_t)snprintf(out, size, "%s/corral-fdhold", self) >= size)
        return -ENAMETOOLONG;
    return 0;
}

/* The listening socket is made here and handed over as fd 3, so there is
 * no race between the holder's bind and our connect. */
static int spawn_holder(const struct sockaddr_un *sa, pid_t *child, char *why, size_t size)
{
    char prog[PATH_MAX];
    int l, p[2];
    mode_t old;
    pid_t pid, got = 0;
    if (holder_path(prog, sizeof(prog)) < 0 || access(prog, X_OK) < 0) {
        snprintf(why, size, "%s: %s", prog, strerror(errno));
        return -1;
    }
    l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (l < 0) {
        snprintf(why, size, "socket: %s", strerror(errno));
        return -1;
    }
    (void)unlink(sa->sun_path); /* no holder answers on it */
    old = umask(0177);
    if (bind(l, (const struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(l, 4) < 0) {
        umask(old);
        snprintf(why, size, "%s: %s", sa->sun_path, strerror(errno));
        close(l);
        return -1;
    }
    umask(old);
    if (pipe2(p, O_CLOEXEC) < 0) {
        snprintf(why, size, "pipe: %s", strerror(errno));
        close(l);
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        /* Its own session: a Ctrl-C meant for corral must not end it. The
         * intermediate child exits at once and tells corral the holder's PID:
         * the holder, reparented to corral as the subreaper, is no service's
         * process (see sup_own_helper), and outlives corral. */
        int null = open("/dev/null", O_RDWR);
        sigset_t all;
        pid_t holder;
        sigfillset(&all);
        sigprocmask(SIG_UNBLOCK, &all, NULL);
        setsid();
        if ((holder = fork()) != 0) {
            if (holder > 0)
                (void)!write(p[1], &holder, sizeof(holder));
            _exit(0);
        }
        if (dup2(l, 3) < 0 || null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
            dup2(null, 2) < 0)
            _exit(127);
        execl(prog, "corral-fdhold", (char *)NULL);
        _exit(127);
    }
    close(l);
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        snprintf(why, size, "fork: %s", strerror(errno));
        return -1;
    }
    (void)waitpid(pid, NULL, 0);
    /* The intermediate is reaped, so the holder is corral's child now (or
     * its zombie): its PID stays its own until corral reaps it. */
    if (read(p[0], &got, sizeof(got)) == (ssize_t)sizeof(got) && got > 0)
        *child = got;
    close(p[0]);
    return 0;
}

struct hold *hold_open(const char *state_dir, enum hold_how how, char *why, size_t size)
{
    struct sockaddr_un sa;
    struct hold *h;
    pid_t child = 0;
    bool start = how != HOLD_CONNECT;
    int s = -ECONNREFUSED;
    why[0] = '\0';
    if (sock_path(state_dir, &sa) < 0) {
        snprintf(why, size, "%s/fdhold.sock: path too long", state_dir);
        return NULL;
    }
    /* No socket file, no holder: a first start need not make a socket to
     * learn that. */
    if (!start && access(sa.sun_path, F_OK) < 0 && errno == ENOENT)
        return NULL;
    if (how != HOLD_START)
        s = connect_to(&sa);
    if (s < 0 && !start)
        return NULL;
    if (s < 0 && (spawn_holder(&sa, &child, why, size) < 0 || (s = connect_to(&sa)) < 0)) {
        if (!why[0])
            snprintf(why, size, "%s: %s", sa.sun_path, strerror(-s));
        return NULL;
    }
    h = calloc(1, sizeof(*h));
    if (!h) {
        close(s);
        snprintf(why, size, "out of memory");
        return NULL;
    }
    h->sock = s;
    h->child = child;
    memcpy(h->path, sa.sun_path, sizeof(h->path));
    return h;
}

pid_t hold_child(const struct hold *h)
{
    return h ? h->child : 0;
}

int hold_sock(const struct hold *h)
{
    return h->sock;
}

int hold_fetch(struct hold *h, void (*fn)(void *ctx, const struct hold_entry *e), void *ctx)
{
    struct hold_entry *e = calloc(HOLD_FDS_MAX, sizeof(*e));
    char kind = 0;
    int r = e ? hold_send(h->sock, 'G', NULL, 0, false) : -ENOMEM;
    while (r >= 0) {
        r = hold_recv(h->sock, &kind, e, HOLD_FDS_MAX);
        if (r < 0 || kind == 'E')
            break;
        for (int i = 0; i < r; i++) {
            if (kind == 'F' && e[i].fd >= 0)
                fn(ctx, &e[i]);
            else if (e[i].fd >= 0)
                close(e[i].fd);
        }
    }
    free(e);
    return r < 0 ? r : 0;
}

static int push(struct hold_entry **v, size_t *n, size_t *cap, const char *name,
                enum logs_stream st, int fd)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        struct hold_entry *nv = realloc(*v, c * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = c;
    }
    snprintf((*v)[*n].name, sizeof((*v)[*n].name), "%s", name);
    (*v)[*n].st = st;
    (*v)[*n].fd = fd;
    (*n)++;
    return 0;
}

void hold_put(struct hold *h, const char *service, const int fds[LOGS__COUNT])
{
    if (!h)
        return;
    for (int st = 0; st < LOGS__COUNT; st++)
        if (fds[st] >= 0) {
            int d = fcntl(fds[st], F_DUPFD_CLOEXEC, 3);
            if (d >= 0 && push(&h->put, &h->n_put, &h->cap_put, service, st, d) < 0)
                close(d);
        }
}

void hold_drop(struct hold *h, const char *service)
{
    if (h)
        (void)push(&h->drop, &h->n_drop, &h->cap_drop, service, LOGS_OUT, -1);
}

int hold_flush(struct hold *h)
{
    int r = 0;
    if (!h)
        return 0;
    /* Drops first: a service that stopped and started again in one pass
     * has its new pipes put after its old ones were dropped. */
    for (size_t i = 0; r == 0 && i < h->n_drop; i += HOLD_FDS_MAX)
        r = hold_send(h->sock, 'D', h->drop + i,
                      h->n_drop - i < HOLD_FDS_MAX ? h->n_drop - i : HOLD_FDS_MAX, false);
    for (size_t i = 0; r == 0 && i < h->n_put; i += HOLD_FDS_MAX)
        r = hold_send(h->sock, 'P', h->put + i,
                      h->n_put - i < HOLD_FDS_MAX ? h->n_put - i : HOLD_FDS_MAX, true);
    for (size_t i = 0; i < h->n_put; i++)
        close(h->put[i].fd);
    /* A start of a thousand services fills them once; a bursts' worth kept
     * for the rest of corral's life would be idle memory. */
    free(h->put);
    free(h->drop);
    h->put = h->drop = NULL;
    h->n_put = h->n_drop = h->cap_put = h->cap_drop = 0;
    return r;
}

static void hold_free(struct hold *h)
{
    for (size_t i = 0; i < h->n_put; i++)
        close(h->put[i].fd);
    free(h->put);
    free(h->drop);
    close(h->sock);
    free(h);
}

void hold_quit(struct hold *h)
{
    if (!h)
        return;
    if (hold_send(h->sock, 'Q', NULL, 0, false) == 0)
        (void)unlink(h->path); /* the holder goes; its socket with it */
    hold_free(h);
}

void hold_close(struct hold *h)
{
    if (h)
        hold_free(h);
}
