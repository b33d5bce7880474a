/* supervisor/ready.c — when a service is ready and whether it stays healthy:
 * sd_notify on a datagram socket per service (a message counts only when its
 * sender, checked with SCM_CREDENTIALS, is in the service's tree), the s6 fd
 * protocol, probes from health/, the readiness timeout and the watchdog. */
#include "health/http.h"
#include "health/probe.h"
#include "proc/cgroup.h"
#include "proc/ident.h"
#include "proc/tree.h"
#include "supervisor/internal.h"
#include "util/unaddr.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOTIFY_MSG_MAX     4096 /* longer datagrams are not sd_notify messages */
#define NOTIFY_FDS_MAX     16   /* fds sent along (systemd-notify's barrier) are closed */
#define NOTIFY_BUDGET      64   /* messages per wake-up */
#define READY_ENV_MAX      (SUP_NOTIFY_PATH + 96)
#define WATCHDOG_PID_MAX   12
#define READY_FD_CLOSED_MS 100 /* from a ready fd's end to the fault it means */

static void fault(struct service *svc, bool liveness, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- state changes -------------------------------------------------------------- */

void ready_fault(struct service *svc, const char *reason)
{
    fault(svc, true, "%s", reason);
}

static void start_liveness(struct service *svc)
{
    health_probe_start(svc->live_probe);
}

static void became_ready(struct service *svc, const char *how)
{
    if (svc->state != SVC_STARTING || svc->exec_failed)
        return;
    loop_timer_disarm(svc->sup->lp, &svc->ready_timer);
    /* Readiness is a gate passed once per run; liveness watches from here. */
    health_probe_stop(svc->ready_probe);
    svc_set_state(svc, SVC_READY);
    sup_emit(svc->sup, SUP_EV_READY, svc, svc->pid, how);
    start_liveness(svc);
}

/* A running service that is not ready in time, fails its liveness probe or
 * stops feeding its watchdog: stopped and handled as an exit 1 would be by
 * its restart policy. A failing liveness probe of a service the policy would
 * not restart leaves it running, UNHEALTHY, still probed. */
static void fault(struct service *svc, bool liveness, const char *fmt, ...)
{
    const struct cfg_service *c = svc->cfg;
    char reason[SUP_REASON_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (!svc_up(svc))
        return;
    svc_set_reason(svc, "%s", reason);
    if (liveness)
        svc_set_state(svc, SVC_UNHEALTHY);
    sup_emit(svc->sup, SUP_EV_UNHEALTHY, svc, svc->pid, svc_reason(svc));
    if (liveness && !sup_should_restart(&c->restart, c->kind, 1))
        return;
    /* A stop begins: said as an operator's or a restart's is. */
    sup_emit(svc->sup, SUP_EV_STOPPING, svc, svc->pid, NULL);
    svc_begin_stop(svc, svc_after_fault(svc));
    svc->fault_stop = true;
}

static void on_ready_timeout(struct loop *lp, void *data)
{
    struct service *svc = data;
    const struct cfg_ready *r = &svc->cfg->ready;
    char t[32], what[128];
    (void)lp;
    if (svc->state != SVC_STARTING || svc->exec_failed)
        return;
    cfg_format_duration(r->timeout_ms, t, sizeof(t));
    switch (r->kind) {
    case CFG_READY_NOTIFY:
        fault(svc, false, "notify: no READY=1 within %s", t);
        return;
    case CFG_READY_FD:
        if (svc->ready_fd_closed)
            fault(svc, false, "fd %d: closed without a newline", r->fd);
        else
            fault(svc, false, "fd %d: no newline within %s", r->fd, t);
        return;
    case CFG_READY_PROBE:
        cfg_probe_describe(r->probe, what, sizeof(what));
        fault(svc, false, "ready: %s not passing within %s%s%s%s", what, t,
              health_probe_last(svc->ready_probe)[0] ? " (last: " : "",
              health_probe_last(svc->ready_probe),
              health_probe_last(svc->ready_probe)[0] ? ")" : "");
        return;
    case CFG_READY_STARTED:
    case CFG_READY__COUNT:
        break;
    }
}

static void on_watchdog(struct loop *lp, void *data)
{
    struct service *svc = data;
    char t[32];
    (void)lp;
    cfg_format_duration(svc->cfg->watchdog_ms, t, sizeof(t));
    fault(svc, false, "watchdog: no WATCHDOG=1 within %s", t);
}

/* --- probes --------------------------------------------------------------------- */

static void on_ready_verdict(void *ctx, enum health_verdict v, const char *why)
{
    struct service *svc = ctx;
    char how[SUP_REASON_MAX], what[128];
    if (v != HEALTH_PASSING)
        return; /* not ready yet: the readiness timeout decides */
    cfg_probe_describe(svc->cfg->ready.probe, what, sizeof(what));
    snprintf(how, sizeof(how), "ready: %s %s", what, why);
    became_ready(svc, how);
}

static void on_live_verdict(void *ctx, enum health_verdict v, const char *why)
{
    struct service *svc = ctx;
    char what[128];
    cfg_probe_describe(svc->cfg->liveness, what, sizeof(what));
    if (v == HEALTH_FAILING && (svc->state == SVC_RUNNING || svc->state == SVC_READY)) {
        fault(svc, true, "liveness: %s %s", what, why);
        return;
    }
    if (v == HEALTH_PASSING && svc->state == SVC_UNHEALTHY) {
        char how[SUP_REASON_MAX];
        snprintf(how, sizeof(how), "liveness: %s %s", what, why);
        svc_set_reason(svc, "%s", "");
        svc_set_state(svc, svc->cfg->ready.kind == CFG_READY_STARTED ? SVC_RUNNING : SVC_READY);
        sup_emit(svc->sup, SUP_EV_READY, svc, svc->pid, how);
    }
}

/* An exec probe runs like the service: its environment, cwd, user, cgroup
 * (or tag), and it is part of the tree that a stop empties. */
static int probe_spawn(void *ctx, char *const *argv, struct proc_child *child)
{
    struct service *svc = ctx;
    return run_spawn_probe(svc, argv, child);
}

/* The attempt leads its own process group (it is spawned as a service is),
 * and while it is our unreaped child its PID still names that group: the
 * same reasoning as a service's stop signal (contain_signal). */
static void probe_kill(void *ctx, pid_t pid, int pidfd)
{
    struct service *svc = ctx;
    if (!sup_reap_queued(svc->sup, pid) && kill(-pid, SIGKILL) == 0)
        return;
    if (pidfd >= 0)
        (void)proc_pidfd_signal(pidfd, SIGKILL);
}

/* One client for every http probe, made at the first attempt: libcurl is
 * loaded only by a corral that has one. */
static struct http_client *probe_http(void *ctx)
{
    struct service *svc = ctx;
    struct sup *s = svc->sup;
    char why[256];
    /* Tried once: every http attempt then fails saying libcurl is missing. */
    if (!s->http && !s->http_failed && !(s->http = http_client_new(s->lp, why, sizeof(why))))
        s->http_failed = true;
    return s->http;
}

static bool is_log(const struct cfg_probe *p)
{
    return p && p->kind == CFG_PROBE_LOG;
}

static struct health_probe *probe_new(struct service *svc, const struct cfg_probe *cfg, bool ready)
{
    struct health_probe_hooks h = {
        .spawn = probe_spawn,
        .kill = probe_kill,
        .http = probe_http,
        .on_verdict = ready ? on_ready_verdict : on_live_verdict,
        .ctx = svc,
    };
    if (!cfg || cfg->kind == CFG_PROBE_NONE)
        return NULL;
    return health_probe_new(svc->sup->lp, cfg, &h);
}

/* Made at the first spawn, then kept: a reload either leaves the service's
 * settings as they are (ready_rebind) or replaces the service. */
static void probes_make(struct service *svc)
{
    const struct cfg_service *c = svc->cfg;
    if (svc->ready_probe || svc->live_probe)
        return;
    if (c->ready.kind == CFG_READY_PROBE)
        svc->ready_probe = probe_new(svc, c->ready.probe, true);
    svc->live_probe = probe_new(svc, c->liveness, false);
}

bool ready_reaped(struct sup *s, pid_t pid, int code)
{
    for (size_t i = 0; i < s->n; i++)
        if (health_probe_reaped(s->svcs[i]->ready_probe, pid, code) ||
            health_probe_reaped(s->svcs[i]->live_probe, pid, code))
            return true;
    return false;
}

static void probe_line(void *ctx, const char *line, size_t len, bool complete)
{
    struct service *svc = ctx;
    (void)complete;
    if (svc->state == SVC_STARTING && is_log(svc->cfg->ready.probe))
        health_probe_line(svc->ready_probe, line, len);
    if (is_log(svc->cfg->liveness))
        health_probe_line(svc->live_probe, line, len);
}

bool ready_reads_output(const struct service *svc)
{
    return is_log(svc->cfg->ready.probe) || is_log(svc->cfg->liveness);
}

void ready_output(struct service *svc, enum logs_stream st, const char *buf, size_t n)
{
    /* Lines are split only for a log probe that runs. */
    if (!is_log(svc->cfg->ready.probe) && !is_log(svc->cfg->liveness))
        return;
    if (!health_probe_running(svc->ready_probe) && !health_probe_running(svc->live_probe))
        return;
    if (!svc->probe_lines[st].cap && logs_linebuf_init(&svc->probe_lines[st], LOGS_MAX_LINE) < 0)
        return;
    logs_linebuf_feed(&svc->probe_lines[st], buf, n, probe_line, svc);
}

/* --- the tree ------------------------------------------------------------------- */

/* Is pid one of the service's processes? Its cgroup, when it has one; else
 * the spawned process group or the tag in its environment. */
static bool in_tree(const struct service *svc, pid_t pid)
{
    char service[CFG_MAX_NAME + 1];
    struct proc_stat st;
    if (pid <= 0)
        return false;
    if (pid == svc->pid)
        return true;
    if (svc->cg_fd >= 0) {
        char path[PATH_MAX];
        contain_cg_path(svc, path, sizeof(path));
        return proc_cgroup_contains(pid, path + svc->sup->cg_mount_len);
    }
    if (proc_stat_read(pid, &st) == 0 && svc->run_pgid > 0 && st.pgid == svc->run_pgid)
        return true;
    return proc_tag_of(pid, svc->sup->instance, service, sizeof(service)) == 1 &&
           strcmp(service, svc->cfg->name) == 0;
}

static void foreign(struct service *svc, pid_t pid, const char *msg, size_t len)
{
    char text[200];
    char path[32];
    bool gone;
    const char *nl = memchr(msg, '\n', len);
    int first = (int)(nl ? (size_t)(nl - msg) : len);
    /* Counted always, told once per run: a flood must not flood the log. */
    if (svc->notify_denied++ && svc->notify_told)
        return;
    svc->notify_told = true;
    snprintf(path, sizeof(path), "/proc/%d", (int)pid);
    gone = access(path, F_OK) < 0;
    snprintf(text, sizeof(text), "'%.*s' from pid %d, %s: ignored", first > 64 ? 64 : first, msg,
             (int)pid,
             gone ? "which was gone before it could be checked" : "outside the service's tree");
    sup_emit(svc->sup, SUP_EV_DENIED, svc, pid, text);
}

/* --- MAINPID= --------------------------------------------------------------------- */

static void on_main_exit(struct loop *lp, int fd, uint32_t events, void *data)
{
    struct service *svc = data;
    siginfo_t si;
    (void)lp;
    (void)events;
    memset(&si, 0, sizeof(si));
    /* Our child by now (we are its subreaper) once its parent is gone: then
     * its status is ours to take; else its parent reaps it. */
    if (syscall(SYS_waitid, P_PIDFD, fd, &si, WEXITED | WNOHANG, NULL) == 0 && si.si_pid > 0)
        svc_main_exit(svc, sup_exit_code(si.si_code, si.si_status));
    else
        svc_main_exit(svc, -1);
}

/* The pidfd first, then the check that it is in the tree: a PID reused in
 * between cannot be taken for the service's. */
static void main_pid(struct service *svc, const char *value, pid_t sender)
{
    char *end;
    unsigned long long n;
    struct proc_stat st = {0};
    struct loop_watch *w;
    int fd;
    errno = 0;
    n = strtoull(value, &end, 10);
    if (errno || end == value || *end || value[0] < '0' || value[0] > '9' || n == 0 ||
        n > INT32_MAX || (pid_t)n == svc->pid)
        return;
    fd = (int)syscall(SYS_pidfd_open, (pid_t)n, 0);
    if (fd < 0)
        return;
    if (!in_tree(svc, (pid_t)n) || proc_stat_read((pid_t)n, &st) < 0 || st.state == 'Z') {
        /* The sender is in the tree (else foreign() had it); what it names
         * is not, or is gone: said as such, and no stranger's message. */
        char text[160];
        snprintf(text, sizeof(text), "'MAINPID=%llu' from pid %d: pid %llu is %s: ignored", n,
                 (int)sender, n,
                 st.state == 'Z' ? "a zombie" : "not in the service's tree, or gone");
        close(fd);
        sup_emit(svc->sup, SUP_EV_DENIED, svc, sender, text);
        return;
    }
    w = loop_watch_add(svc->sup->lp, fd, EPOLLIN, on_main_exit, svc);
    if (!w) {
        close(fd);
        return;
    }
    /* The old main process is a plain member of the tree from now on. */
    loop_watch_del(svc->sup->lp, svc->pidfd_watch);
    if (svc->pidfd >= 0)
        close(svc->pidfd);
    svc->pidfd_watch = w;
    svc->pidfd = fd;
    svc_set_pid(svc, (pid_t)n);
    svc->start_ticks = st.start_ticks;
    svc->main_not_leader = true;
}

/* --- sd_notify ---------------------------------------------------------------------- */

static void notify_line(struct service *svc, const char *line, size_t len, pid_t sender)
{
    char value[SUP_STATUS_MAX];
    const char *eq = memchr(line, '=', len);
    size_t klen = eq ? (size_t)(eq - line) : len;
    size_t vlen = eq ? len - klen - 1 : 0;
    if (!eq)
        return;
    snprintf(value, sizeof(value), "%.*s", (int)vlen, eq + 1);
    if (klen == 5 && !memcmp(line, "READY", 5) && !strcmp(value, "1")) {
        if (svc->cfg->ready.kind == CFG_READY_NOTIFY)
            became_ready(svc, "notify: READY=1");
    } else if (klen == 6 && !memcmp(line, "STATUS", 6)) {
        free(svc->status);
        svc->status = strdup(value); /* none when out of memory: only shown */
    } else if (klen == 8 && !memcmp(line, "STOPPING", 8) && !strcmp(value, "1")) {
        svc->notify_stopping = true;
    } else if (klen == 8 && !memcmp(line, "WATCHDOG", 8) && svc->cfg->watchdog_ms) {
        if (!strcmp(value, "1"))
            loop_timer_arm(svc->sup->lp, &svc->watchdog, svc->cfg->watchdog_ms);
        else if (!strcmp(value, "trigger"))
            fault(svc, false, "watchdog: WATCHDOG=trigger from pid %d", (int)sender);
    } else if (klen == 7 && !memcmp(line, "MAINPID", 7)) {
        main_pid(svc, value, sender);
    }
}

static void notify_message(struct service *svc, const char *msg, size_t len, pid_t sender)
{
    const char *end = msg + len;
    if (!in_tree(svc, sender)) {
        foreign(svc, sender, msg, len);
        return;
    }
    /* Later lines may stop the service (WATCHDOG=trigger); each checks again. */
    for (const char *p = msg; p < end && svc_up(svc);) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        notify_line(svc, p, n, sender);
        p += n + 1;
    }
}

/* One datagram: fds that came along are closed (systemd-notify waits for
 * its barrier fd to be closed), credentials are the kernel's. Returns false
 * when there is nothing more to read. */
static bool notify_read(struct service *svc)
{
    char buf[NOTIFY_MSG_MAX + 1];
    union {
        struct cmsghdr align;
        char b[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * NOTIFY_FDS_MAX)];
    } ctl;
    struct iovec iov = {.iov_base = buf, .iov_len = NOTIFY_MSG_MAX};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof(ctl)};
    const struct ucred *cred = NULL;
    ssize_t n = recvmsg(svc->notify_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
    if (n < 0)
        return errno == EINTR;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
            c->cmsg_len >= CMSG_LEN(sizeof(*cred)))
            cred = (const struct ucred *)CMSG_DATA(c);
    /* Unattributable, too long, or between runs: dropped; too long is said,
     * once a run, or a READY=1 in it would be missed without a trace. */
    if (cred && (size_t)n <= NOTIFY_MSG_MAX && svc_up(svc)) {
        notify_message(svc, buf, (size_t)n, cred->pid);
    } else if (cred && svc_up(svc) && !svc->notify_told) {
        char text[160];
        svc->notify_told = true;
        snprintf(text, sizeof(text),
                 "a notify message of %zd bytes from pid %d, over %d: dropped, whatever it said", n,
                 (int)cred->pid, NOTIFY_MSG_MAX);
        sup_emit(svc->sup, SUP_EV_DENIED, svc, cred->pid, text);
    }
    /* Only now: a sender waiting on a barrier fd exits once it is closed,
     * and must still be there while its tree membership is checked. */
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
            close(fd);
        }
    }
    return true;
}

static void on_notify(struct loop *lp, int fd, uint32_t events, void *data)
{
    (void)lp;
    (void)fd;
    (void)events;
    for (int i = 0; i < NOTIFY_BUDGET && notify_read(data); i++)
        ;
}

/* <state_dir>/notify/<name> when that fits in sun_path and the service runs
 * as corral's own user (the state directory is not for others to reach);
 * else an abstract name, which sd_notify writes as "@...". */
static void notify_address(const struct service *svc, struct sockaddr_un *sa, socklen_t *len)
{
    const struct sup *s = svc->sup;
    int n;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/notify/%s", s->m->state_dir,
                 svc->cfg->name);
    if (!svc->cfg->user && n > 0 && (size_t)n < sizeof(sa->sun_path)) {
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
        return;
    }
    *len = unaddr_abstract(sa, "corral/%s/%s", s->instance, svc->cfg->name);
}

static int notify_open(struct service *svc, struct diag *dg)
{
    struct sockaddr_un sa;
    socklen_t len;
    char dir[PATH_MAX];
    int one = 1;
    if (svc->notify_fd >= 0)
        return 0;
    notify_address(svc, &sa, &len);
    if (sa.sun_path[0]) {
        snprintf(dir, sizeof(dir), "%s/notify", svc->sup->m->state_dir);
        if (mkdir(dir, 0750) < 0 && errno != EEXIST)
            goto fail;
        (void)unlink(sa.sun_path); /* a previous corral's */
    }
    svc->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (svc->notify_fd < 0 ||
        setsockopt(svc->notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
        bind(svc->notify_fd, (struct sockaddr *)&sa, len) < 0)
        goto fail;
    /* Allocated: a thousand services without notify hold no path buffer. */
    if (!svc->notify_path && !(svc->notify_path = malloc(SUP_NOTIFY_PATH + 1)))
        goto fail;
    if (sa.sun_path[0])
        snprintf(svc->notify_path, SUP_NOTIFY_PATH + 1, "%s", sa.sun_path);
    else
        snprintf(svc->notify_path, SUP_NOTIFY_PATH + 1, "@%s", sa.sun_path + 1);
    svc->notify_watch = loop_watch_add(svc->sup->lp, svc->notify_fd, EPOLLIN, on_notify, svc);
    if (svc->notify_watch)
        return 0;
fail:
    diag_set(dg, -errno, "cannot make the notify socket of %s: %s", svc->cfg->name,
             strerror(errno));
    if (svc->notify_fd >= 0)
        close(svc->notify_fd);
    svc->notify_fd = -1;
    free(svc->notify_path);
    svc->notify_path = NULL;
    return -EIO;
}

static void notify_close(struct service *svc)
{
    loop_watch_del(svc->sup->lp, svc->notify_watch);
    svc->notify_watch = NULL;
    if (svc->notify_fd >= 0)
        close(svc->notify_fd);
    svc->notify_fd = -1;
    if (svc->notify_path && svc->notify_path[0] == '/')
        (void)unlink(svc->notify_path);
    free(svc->notify_path);
    svc->notify_path = NULL;
}

/* --- the fd protocol -------------------------------------------------------------- */

static void pipe_done(struct service *svc)
{
    loop_watch_del(svc->sup->lp, svc->ready_watch);
    svc->ready_watch = NULL;
    if (svc->ready_pipe >= 0)
        close(svc->ready_pipe);
    svc->ready_pipe = -1;
    if (svc->ready_child_end >= 0)
        close(svc->ready_child_end);
    svc->ready_child_end = -1;
}

static void on_ready_pipe(struct loop *lp, int fd, uint32_t events, void *data)
{
    struct service *svc = data;
    char buf[512], how[64];
    ssize_t n;
    (void)lp;
    (void)events;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (memchr(buf, '\n', (size_t)n)) {
            snprintf(how, sizeof(how), "fd %d: newline", svc->cfg->ready.fd);
            pipe_done(svc);
            became_ready(svc, how);
            return;
        }
    }
    if (n != 0)
        return;
    /* Closed without a newline: no one can write it any more. Said after a
     * moment rather than at the readiness timeout; the moment lets a main
     * process whose exit closed it be reaped first, its exit then the reason. */
    pipe_done(svc);
    if (svc->state == SVC_STARTING && !svc->exec_failed) {
        svc->ready_fd_closed = true;
        loop_timer_arm(svc->sup->lp, &svc->ready_timer, READY_FD_CLOSED_MS);
    }
}

static int pipe_open(struct service *svc, struct diag *dg)
{
    int p[2];
    pipe_done(svc);
    if (pipe2(p, O_CLOEXEC) < 0) {
        diag_set(dg, -errno, "pipe: %s", strerror(errno));
        return -errno;
    }
    svc->ready_pipe = p[0];
    svc->ready_child_end = p[1]; /* the child's end stays blocking */
    if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0 ||
        !(svc->ready_watch = loop_watch_add(svc->sup->lp, p[0], EPOLLIN, on_ready_pipe, svc))) {
        int r = -errno;
        diag_set(dg, r, "ready pipe: %s", strerror(-r));
        pipe_done(svc);
        return r;
    }
    return 0;
}

/* --- the run ------------------------------------------------------------------------- */

void ready_init(struct service *svc)
{
    svc->notify_fd = -1;
    svc->ready_pipe = -1;
    svc->ready_child_end = -1;
    loop_timer_init(&svc->ready_timer, on_ready_timeout, svc);
    loop_timer_init(&svc->watchdog, on_watchdog, svc);
}

int ready_prepare(struct service *svc, struct diag *dg)
{
    const struct cfg_ready *r = &svc->cfg->ready;
    svc->ready_fd_closed = false;
    free(svc->status);
    svc->status = NULL;
    svc->notify_stopping = false;
    svc->notify_told = false;
    if (r->kind == CFG_READY_NOTIFY || svc->cfg->watchdog_ms) {
        int e = notify_open(svc, dg);
        if (e < 0)
            return e;
    }
    if (r->kind == CFG_READY_FD)
        return pipe_open(svc, dg);
    return 0;
}

size_t ready_env(const struct service *svc, char *buf, size_t size, char **envp, char **pid_text)
{
    size_t n = 0, off = 0;
    int w;
    *pid_text = NULL;
    if (size < READY_ENV_MAX || !svc->notify_path)
        return 0;
    w = snprintf(buf, size, "NOTIFY_SOCKET=%s", svc->notify_path);
    envp[n++] = buf;
    off = (size_t)w + 1;
    if (!svc->cfg->watchdog_ms)
        return n;
    w = snprintf(buf + off, size - off, "WATCHDOG_USEC=%llu",
                 (unsigned long long)svc->cfg->watchdog_ms * 1000ull);
    envp[n++] = buf + off;
    off += (size_t)w + 1;
    w = snprintf(buf + off, size - off, "WATCHDOG_PID=");
    envp[n++] = buf + off;
    *pid_text = buf + off + w; /* WATCHDOG_PID_MAX bytes of room follow */
    memset(*pid_text, 0, WATCHDOG_PID_MAX);
    return n;
}

size_t ready_env_size(void)
{
    return READY_ENV_MAX + WATCHDOG_PID_MAX;
}

void ready_spawned(struct service *svc)
{
    const struct cfg_service *c = svc->cfg;
    char t[32], what[160];
    struct sup *s = svc->sup;
    svc->run_pgid = svc->pid;
    probes_make(svc);
    if (c->watchdog_ms)
        loop_timer_arm(s->lp, &svc->watchdog, c->watchdog_ms);
    if (c->ready.kind == CFG_READY_STARTED) {
        svc_set_state(svc, SVC_RUNNING);
        sup_emit_started(svc);
        start_liveness(svc);
        return;
    }
    svc_set_state(svc, SVC_STARTING);
    sup_emit_started(svc);
    if (c->ready.kind == CFG_READY_PROBE) {
        cfg_probe_describe(c->ready.probe, what, sizeof(what));
        health_probe_start(svc->ready_probe);
    } else if (c->ready.kind == CFG_READY_FD) {
        snprintf(what, sizeof(what), "a newline on fd %d", c->ready.fd);
    } else {
        snprintf(what, sizeof(what), "READY=1 on %s", svc->notify_path);
    }
    cfg_format_duration(c->ready.timeout_ms, t, sizeof(t));
    if (c->ready.timeout_ms) {
        loop_timer_arm(s->lp, &svc->ready_timer, c->ready.timeout_ms);
        snprintf(what + strlen(what), sizeof(what) - strlen(what), " (within %s)", t);
    }
    sup_emit(s, SUP_EV_STARTING, svc, svc->pid, what);
}

/* A run that had not become ready when the previous corral died waits for it
 * again: its notify socket is the same, a probe starts afresh, and the timeout
 * runs from now. A ready fd did not outlive that corral: taken as ready. */
static bool resume_readiness(struct service *svc)
{
    const struct cfg_service *c = svc->cfg;
    char what[160], t[32];
    if (c->ready.kind != CFG_READY_NOTIFY && c->ready.kind != CFG_READY_PROBE)
        return false;
    svc_set_state(svc, SVC_STARTING);
    if (c->ready.kind == CFG_READY_PROBE) {
        cfg_probe_describe(c->ready.probe, what, sizeof(what));
        health_probe_start(svc->ready_probe);
    } else {
        snprintf(what, sizeof(what), "READY=1 on %s", svc->notify_path);
    }
    if (c->ready.timeout_ms) {
        loop_timer_arm(svc->sup->lp, &svc->ready_timer, c->ready.timeout_ms);
        cfg_format_duration(c->ready.timeout_ms, t, sizeof(t));
        snprintf(what + strlen(what), sizeof(what) - strlen(what), " (within %s)", t);
    }
    sup_emit(svc->sup, SUP_EV_STARTING, svc, svc->pid, what);
    return true;
}

void ready_adopted(struct service *svc, bool was_ready)
{
    const struct cfg_service *c = svc->cfg;
    struct diag dg;
    diag_clear(&dg);
    svc->run_pgid = svc->pid;
    /* Should the address be taken, a watchdog says so in its own time. */
    if (c->ready.kind == CFG_READY_NOTIFY || c->watchdog_ms)
        (void)notify_open(svc, &dg);
    probes_make(svc);
    if (c->watchdog_ms)
        loop_timer_arm(svc->sup->lp, &svc->watchdog, c->watchdog_ms);
    if (c->ready.kind == CFG_READY_STARTED) {
        start_liveness(svc);
        return;
    }
    if (!was_ready && resume_readiness(svc))
        return;
    svc_set_state(svc, SVC_READY);
    sup_emit(svc->sup, SUP_EV_READY, svc, svc->pid,
             was_ready ? "adopted: it was ready"
                       : "adopted: taken as ready (its ready fd did "
                         "not outlive the previous corral)");
    start_liveness(svc);
}

void ready_run_over(struct service *svc)
{
    struct sup *s = svc->sup;
    health_probe_stop(svc->ready_probe);
    health_probe_stop(svc->live_probe);
    loop_timer_disarm(s->lp, &svc->ready_timer);
    loop_timer_disarm(s->lp, &svc->watchdog);
    pipe_done(svc);
    for (int st = 0; st < LOGS__COUNT; st++)
        logs_linebuf_free(&svc->probe_lines[st]);
}

void ready_rebind(struct service *svc)
{
    /* An unchanged service keeps its settings, but they now live in the new
     * model, which the probes must point at before the old one goes. */
    health_probe_rebind(svc->ready_probe, svc->cfg->ready.probe);
    health_probe_rebind(svc->live_probe, svc->cfg->liveness);
}

void ready_free(struct service *svc)
{
    ready_run_over(svc);
    health_probe_free(svc->ready_probe);
    health_probe_free(svc->live_probe);
    svc->ready_probe = svc->live_probe = NULL;
    notify_close(svc);
    free(svc->status);
    svc->status = NULL;
}
