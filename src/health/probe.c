/* health/probe.c — tcp (a non-blocking connect watched on the loop), exec (a
 * contained child, killed through its pidfd at its timeout, its status
 * handed back by the supervisor's reaper) and log (a regex on output lines)
 * probes, one attempt at a time, counted against their thresholds. */
#include "health/probe.h"

#include "health/http.h"
#include "proc/ident.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_GRID_PARTS  20
#define PROBE_GRID_MAX_MS 50
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define LAST_MAX 128

struct health_probe {
    struct loop *lp;
    const struct cfg_probe *cfg;
    struct health_probe_hooks h;
    bool running;
    bool in_flight;             /* an attempt has begun and not ended */
    struct loop_timer next;     /* the next attempt (log: the next tick) */
    struct loop_timer deadline; /* the timeout of the attempt in flight */
    uint64_t begun_ms;
    int sock; /* tcp */
    struct loop_watch *sock_watch;
    struct http_req *req; /* http */
    pid_t pid;            /* exec: until reaped, even after a stop */
    int pidfd;
    bool timed_out;
    regex_t rx; /* log */
    bool rx_ok;
    bool matched; /* log: a line matched since the last tick */
    struct health_count count;
    char last[LAST_MAX];
};

enum health_verdict health_count_note(struct health_count *c, const struct cfg_probe *cfg, bool ok)
{
    if (ok) {
        c->fail_run = 0;
        if (c->ok_run < CFG_PROBE_MAX_THRESHOLD)
            c->ok_run++;
        if (c->verdict != HEALTH_PASSING && c->ok_run >= cfg->success_threshold) {
            c->verdict = HEALTH_PASSING;
            return HEALTH_PASSING;
        }
        return HEALTH_UNKNOWN;
    }
    c->ok_run = 0;
    if (c->fail_run < CFG_PROBE_MAX_THRESHOLD)
        c->fail_run++;
    if (c->verdict != HEALTH_FAILING && c->fail_run >= cfg->failure_threshold) {
        c->verdict = HEALTH_FAILING;
        return HEALTH_FAILING;
    }
    return HEALTH_UNKNOWN;
}

/* --- attempts ------------------------------------------------------------------- */

/* Attempts are due on a grid of a 20th of the interval (at most 50 ms): a
 * thousand services probed every second wake corral 20 times a second, not
 * a thousand, and each attempt is still at most that late. */
static uint64_t on_grid(const struct health_probe *p, uint64_t delay_ms)
{
    uint64_t slack = p->cfg->interval_ms / PROBE_GRID_PARTS, now = loop_now_ms(), due;
    if (slack > PROBE_GRID_MAX_MS)
        slack = PROBE_GRID_MAX_MS;
    if (slack < 2)
        return delay_ms;
    due = (now + delay_ms + slack - 1) / slack * slack;
    return due - now;
}

static void schedule(struct health_probe *p)
{
    uint64_t spent = loop_now_ms() - p->begun_ms;
    /* From the start of the attempt that just ended: a slow one is followed
     * by the next at the next grid step, never overlapped by it. */
    loop_timer_arm(p->lp, &p->next,
                   on_grid(p, spent < p->cfg->interval_ms ? p->cfg->interval_ms - spent : 0));
}

static void result(struct health_probe *p, bool ok, const char *what)
{
    enum health_verdict v;
    char why[LAST_MAX + 32];
    p->in_flight = false;
    loop_timer_disarm(p->lp, &p->deadline);
    snprintf(p->last, sizeof(p->last), "%s", what);
    if (!p->running)
        return;
    v = health_count_note(&p->count, p->cfg, ok);
    if (p->cfg->kind != CFG_PROBE_LOG)
        schedule(p);
    if (v == HEALTH_UNKNOWN)
        return;
    if (v == HEALTH_PASSING)
        snprintf(why, sizeof(why), "passed %u time%s", p->count.ok_run,
                 p->count.ok_run == 1 ? "" : "s");
    else
        snprintf(why, sizeof(why), "%s %u time%s", what, p->count.fail_run,
                 p->count.fail_run == 1 ? "" : "s");
    p->h.on_verdict(p->h.ctx, v, why);
}

static void sock_close(struct health_probe *p)
{
    loop_watch_del(p->lp, p->sock_watch);
    p->sock_watch = NULL;
    if (p->sock >= 0)
        close(p->sock);
    p->sock = -1;
}

static void error_words(int err, char *buf, size_t size)
{
    if (err == ECONNREFUSED)
        snprintf(buf, size, "refused");
    else if (err == ETIMEDOUT)
        snprintf(buf, size, "timed out");
    else
        snprintf(buf, size, "failed: %s", strerror(err));
}

static void on_connect(struct loop *lp, int fd, uint32_t events, void *data)
{
    struct health_probe *p = data;
    char what[LAST_MAX];
    int err = 0;
    socklen_t len = sizeof(err);
    (void)lp;
    (void)events;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    sock_close(p);
    error_words(err, what, sizeof(what));
    result(p, err == 0, err == 0 ? "connected" : what);
}

static int tcp_begin(struct health_probe *p)
{
    struct sockaddr_storage ss;
    socklen_t len;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, p->cfg->host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)p->cfg->port);
        len = sizeof(*in4);
    } else if (inet_pton(AF_INET6, p->cfg->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)p->cfg->port);
        len = sizeof(*in6);
    } else {
        return -EINVAL;
    }
    p->sock = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->sock < 0)
        return -errno;
    if (connect(p->sock, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
        int r = -errno;
        sock_close(p);
        return r;
    }
    /* Even an immediate success is reported from the loop: one path. */
    p->sock_watch = loop_watch_add(p->lp, p->sock, EPOLLOUT, on_connect, p);
    if (!p->sock_watch) {
        int r = -errno;
        sock_close(p);
        return r;
    }
    return 0;
}

/* An answer passes with a status in the range and, when asked, the body
 * holding the substring (in its first HTTP_BODY_MAX bytes). */
static void on_http(void *ctx, const struct http_answer *a)
{
    struct health_probe *p = ctx;
    const struct cfg_probe *c = p->cfg;
    char what[LAST_MAX];
    bool ok;
    p->req = NULL;
    if (!a->ok) {
        snprintf(what, sizeof(what), "failed: %s", a->error);
        result(p, false, what);
        return;
    }
    ok = a->status >= (long)c->status_min && a->status <= (long)c->status_max;
    if (ok && c->body && !strstr(a->body, c->body)) {
        snprintf(what, sizeof(what), "http %ld without \"%.64s\" in its body", a->status, c->body);
        result(p, false, what);
        return;
    }
    snprintf(what, sizeof(what), "http %ld", a->status);
    result(p, ok, what);
}

static int http_begin(struct health_probe *p)
{
    struct http_client *c = p->h.http ? p->h.http(p->h.ctx) : NULL;
    struct http_request r = {.url = p->cfg->url, .timeout_ms = p->cfg->timeout_ms};
    char why[256];
    if (!c)
        return -ENOSYS;
    p->req = http_start(c, &r, on_http, p, why, sizeof(why));
    return p->req ? 0 : -ENOMEM;
}

static int exec_begin(struct health_probe *p)
{
    struct proc_child child;
    int r = p->h.spawn(p->h.ctx, p->cfg->argv, &child);
    if (r < 0)
        return r;
    p->pid = child.pid;
    p->pidfd = child.pidfd;
    p->timed_out = false;
    if (child.exec_err < 0) {
        /* It exits 127 next; the reaper brings that back as the result. */
        snprintf(p->last, sizeof(p->last), "cannot run %s: %s", p->cfg->argv[0],
                 strerror(-child.exec_err));
    }
    return 0;
}

static void exec_kill(struct health_probe *p)
{
    if (p->pid <= 0)
        return;
    if (p->h.kill)
        p->h.kill(p->h.ctx, p->pid, p->pidfd);
    else if (p->pidfd >= 0)
        (void)proc_pidfd_signal(p->pidfd, SIGKILL);
}

static void on_next(struct loop *lp, void *data)
{
    struct health_probe *p = data;
    char what[LAST_MAX];
    int r = 0;
    (void)lp;
    if (!p->running)
        return;
    if (p->cfg->kind == CFG_PROBE_LOG) {
        if (!p->matched) {
            char iv[32];
            cfg_format_duration(p->cfg->interval_ms, iv, sizeof(iv));
            snprintf(what, sizeof(what), "no matching line in %s", iv);
            result(p, false, what);
        }
        p->matched = false;
        loop_timer_arm(p->lp, &p->next, p->cfg->interval_ms);
        return;
    }
    /* An exec probe abandoned by a stop may not have been reaped yet. */
    if (p->in_flight || p->pid > 0) {
        loop_timer_arm(p->lp, &p->next, p->cfg->interval_ms);
        return;
    }
    p->in_flight = true;
    p->begun_ms = loop_now_ms();
    r = p->cfg->kind == CFG_PROBE_TCP    ? tcp_begin(p)
        : p->cfg->kind == CFG_PROBE_HTTP ? http_begin(p)
                                         : exec_begin(p);
    if (r < 0) {
        if (r == -ENOSYS && p->cfg->kind == CFG_PROBE_HTTP)
            snprintf(what, sizeof(what), "cannot start: libcurl cannot be loaded");
        else
            snprintf(what, sizeof(what), "cannot start: %s", strerror(-r));
        result(p, false, what);
        return;
    }
    loop_timer_arm(p->lp, &p->deadline, p->cfg->timeout_ms);
}

static void on_deadline(struct loop *lp, void *data)
{
    struct health_probe *p = data;
    char what[LAST_MAX], to[32];
    (void)lp;
    cfg_format_duration(p->cfg->timeout_ms, to, sizeof(to));
    snprintf(what, sizeof(what), "timed out after %s", to);
    if (p->cfg->kind == CFG_PROBE_TCP || p->cfg->kind == CFG_PROBE_HTTP) {
        sock_close(p);
        http_cancel(p->req);
        p->req = NULL;
        result(p, false, what);
        return;
    }
    /* The attempt ends when the killed child is reaped, not before: until
     * then it is still in flight and the next one waits. */
    p->timed_out = true;
    exec_kill(p);
}

bool health_probe_reaped(struct health_probe *p, pid_t pid, int code)
{
    char what[LAST_MAX], to[32];
    if (!p || p->pid <= 0 || p->pid != pid)
        return false;
    p->pid = 0;
    if (p->pidfd >= 0)
        close(p->pidfd);
    p->pidfd = -1;
    if (!p->in_flight)
        return true; /* abandoned by a stop */
    cfg_format_duration(p->cfg->timeout_ms, to, sizeof(to));
    if (p->timed_out)
        snprintf(what, sizeof(what), "timed out after %s", to);
    else if (code == 127 && strncmp(p->last, "cannot run", 10) == 0)
        snprintf(what, sizeof(what), "%s", p->last);
    else if (code > 128 && code < 128 + NSIG)
        snprintf(what, sizeof(what), "killed by SIG%s", cfg_signal_name(code - 128));
    else
        snprintf(what, sizeof(what), "exited %d", code);
    result(p, code == 0 && !p->timed_out, code == 0 && !p->timed_out ? "exited 0" : what);
    return true;
}

void health_probe_line(struct health_probe *p, const char *line, size_t len)
{
    char buf[4096];
    if (!p || !p->running || !p->rx_ok)
        return;
    /* regexec wants a string; a longer line is matched on its start. */
    if (len >= sizeof(buf))
        len = sizeof(buf) - 1;
    memcpy(buf, line, len);
    buf[len] = '\0';
    if (regexec(&p->rx, buf, 0, NULL, 0) != 0)
        return;
    p->matched = true;
    result(p, true, "a line matched");
}

/* --- life ----------------------------------------------------------------------- */

struct health_probe *health_probe_new(struct loop *lp, const struct cfg_probe *cfg,
                                      const struct health_probe_hooks *h)
{
    struct health_probe *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->lp = lp;
    p->cfg = cfg;
    p->h = *h;
    p->sock = -1;
    p->pidfd = -1;
    loop_timer_init(&p->next, on_next, p);
    loop_timer_init(&p->deadline, on_deadline, p);
    if (cfg->kind == CFG_PROBE_LOG) {
        /* Checked by the config already; a failure here is out of memory. */
        if (regcomp(&p->rx, cfg->regex, REG_EXTENDED | REG_NOSUB) != 0) {
            free(p);
            errno = ENOMEM;
            return NULL;
        }
        p->rx_ok = true;
    }
    return p;
}

void health_probe_start(struct health_probe *p)
{
    if (!p)
        return;
    health_probe_stop(p);
    memset(&p->count, 0, sizeof(p->count));
    p->last[0] = '\0';
    p->matched = false;
    p->running = true;
    p->begun_ms = loop_now_ms();
    loop_timer_arm(p->lp, &p->next,
                   p->cfg->initial_delay_ms +
                       (p->cfg->kind == CFG_PROBE_LOG ? p->cfg->interval_ms : 0));
}

void health_probe_stop(struct health_probe *p)
{
    if (!p)
        return;
    p->running = false;
    p->in_flight = false;
    loop_timer_disarm(p->lp, &p->next);
    loop_timer_disarm(p->lp, &p->deadline);
    sock_close(p);
    http_cancel(p->req);
    p->req = NULL;
    exec_kill(p);
}

void health_probe_rebind(struct health_probe *p, const struct cfg_probe *cfg)
{
    if (p)
        p->cfg = cfg;
}

bool health_probe_running(const struct health_probe *p)
{
    return p && p->running;
}

const char *health_probe_last(const struct health_probe *p)
{
    return p ? p->last : "";
}

void health_probe_free(struct health_probe *p)
{
    if (!p)
        return;
    health_probe_stop(p);
    if (p->pidfd >= 0)
        close(p->pidfd);
    if (p->rx_ok)
        regfree(&p->rx);
    free(p);
}
