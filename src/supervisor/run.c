/* supervisor/run.c — one run of a service: its environment, its output pipes
 * into the log file (and the foreground echo), and the spawn itself. */
#include "logs/ring.h"
#include "proc/spawn.h"
#include "supervisor/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK     (64 * 1024)
#define READ_BUDGET    (1024 * 1024) /* per wake-up, so one flood cannot starve the loop */
#define PIPE_FULL      (64 * 1024)   /* a default pipe's capacity, moved in one wake-up */
#define PIPE_FLOOD     (1024 * 1024) /* pipe-max-size's default: allowed without privilege */
#define SUP_GROUPS_MAX 256
#define LOST_REPORT_MS 10000 /* a full disk is reported, but not once per read */
#define ROT_REPORT_MS  60000 /* a rotation refused, likewise */

extern char **environ;

bool sup_env_private(const char *entry)
{
    const char *eq = strchr(entry, '=');
    size_t klen = eq ? (size_t)(eq - entry) : strlen(entry);
    if (klen >= 7 && strncmp(entry, "CORRAL_", 7) == 0)
        return true; /* never leak a parent corral's tag into our services */
    /* corral's own service manager's: a child notifying it would speak for
     * corral. Each service gets its own from corral instead. */
    return (klen == 13 && !strncmp(entry, "NOTIFY_SOCKET", 13)) ||
           (klen == 13 && !strncmp(entry, "WATCHDOG_USEC", 13)) ||
           (klen == 12 && !strncmp(entry, "WATCHDOG_PID", 12));
}

static bool env_overridden(const struct cfg_service *c, const char *entry)
{
    const char *eq = strchr(entry, '=');
    size_t klen = eq ? (size_t)(eq - entry) : strlen(entry);
    if (sup_env_private(entry))
        return true;
    for (size_t i = 0; i < c->n_env; i++)
        if (strlen(c->env[i].key) == klen && strncmp(c->env[i].key, entry, klen) == 0)
            return true;
    return false;
}

static const char *const ident_keys[SUP_IDENT_VARS] = {"HOME", "USER", "LOGNAME", "SHELL"};

/* One of corral's own identity variables, which a switched user's replace. */
static bool is_ident(const char *entry)
{
    const char *eq = strchr(entry, '=');
    size_t klen = eq ? (size_t)(eq - entry) : strlen(entry);
    for (size_t k = 0; k < SUP_IDENT_VARS; k++)
        if (strlen(ident_keys[k]) == klen && strncmp(ident_keys[k], entry, klen) == 0)
            return true;
    return false;
}

static size_t own_size(const struct service *svc)
{
    const struct cfg_service *c = svc->cfg;
    size_t n = sizeof("CORRAL_SERVICE=") + strlen(c->name) + sizeof("CORRAL_INSTANCE=") +
               SUP_INSTANCE_LEN + ready_env_size();
    for (size_t k = 0; k < c->n_env; k++)
        n += strlen(c->env[k].key) + strlen(c->env[k].value) + 2;
    return n;
}

static char *own_entry(char **cursor, const char *key, const char *value)
{
    char *e = *cursor;
    *cursor += sprintf(e, "%s=%s", key, value) + 1;
    return e;
}

/* The environment of one spawn: corral's own entries (borrowed, not copied)
 * minus what the service overrides, then the service's env, then the identity
 * tag that lets corral find the tree without a cgroup. Built per spawn and
 * freed once the spawn is finished, so a thousand idle services hold no copies. */
static int env_build(const struct service *svc, struct spawn_env *se)
{
    const struct cfg_service *c = svc->cfg;
    size_t n = 0;
    size_t i = 0;
    char *cursor;
    for (char **p = environ; *p; p++)
        n++;
    se->envp = malloc((n + c->n_env + 6 + SUP_IDENT_VARS) * sizeof(*se->envp));
    se->own = malloc(own_size(svc));
    if (!se->envp || !se->own) {
        free(se->envp);
        free(se->own);
        return -ENOMEM;
    }
    cursor = se->own;
    for (char **p = environ; *p; p++)
        if (!env_overridden(c, *p) && !(svc->ident_switched && is_ident(*p)))
            se->envp[i++] = *p;
    for (size_t k = 0; k < c->n_env; k++)
        se->envp[i++] = own_entry(&cursor, c->env[k].key, c->env[k].value);
    for (size_t k = 0; svc->ident_switched && k < SUP_IDENT_VARS; k++)
        if (svc->ident[k] && !env_overridden(c, svc->ident[k]))
            se->envp[i++] = svc->ident[k];
    se->envp[i++] = own_entry(&cursor, "CORRAL_SERVICE", c->name);
    se->envp[i++] = own_entry(&cursor, "CORRAL_INSTANCE", svc->sup->instance);
    i += ready_env(svc, cursor, ready_env_size(), se->envp + i, &se->pid_text);
    se->envp[i] = NULL;
    return 0;
}

static void env_free(struct spawn_env *se)
{
    free(se->envp);
    free(se->own);
}

/* Who a spawn runs as. As root whatever the config names is applied, a group
 * alone too; otherwise only a change is tried, and the kernel's refusal is
 * the spawn's error. */
static bool ids_switch(const struct cfg_service *c)
{
    if (!c->user && !c->group)
        return false;
    if (geteuid() == 0)
        return true;
    return (c->user && c->uid != geteuid()) || (c->group && c->gid != getegid());
}

static uid_t ids_uid(const struct cfg_service *c)
{
    return c->user ? c->uid : geteuid();
}

/* As login(1) and systemd's User= do: a program run as www-data must not look
 * for its files in root's home. */
static int ident_build(struct service *svc, const struct passwd *pw)
{
    const char *shell = pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh";
    const char *values[SUP_IDENT_VARS] = {pw->pw_dir, pw->pw_name, pw->pw_name, shell};
    for (size_t k = 0; k < SUP_IDENT_VARS; k++)
        if (asprintf(&svc->ident[k], "%s=%s", ident_keys[k], values[k] ? values[k] : "") < 0) {
            svc->ident[k] = NULL;
            return -ENOMEM;
        }
    return 0;
}

/* The supplementary groups and identity variables of the user the service
 * switches to: the user's groups from the group database, or with a group
 * alone (or a uid without a passwd entry) just that group. */
static int ids_build(struct service *svc, struct diag *dg)
{
    const struct cfg_service *c = svc->cfg;
    struct passwd pw;
    struct passwd *res = NULL;
    char buf[4096];
    int n = SUP_GROUPS_MAX;
    svc->groups = calloc(SUP_GROUPS_MAX, sizeof(gid_t));
    if (!svc->groups)
        return -ENOMEM;
    svc->groups[0] = c->gid;
    svc->n_groups = 1;
    if (!c->user)
        return 0;
    svc->ident_switched = true;
    if (getpwuid_r(c->uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
        return 0;
    if (getgrouplist(pw.pw_name, c->gid, svc->groups, &n) < 0) {
        diag_set(dg, -E2BIG, "user '%s' is in more than %d groups", pw.pw_name, SUP_GROUPS_MAX);
        return -E2BIG;
    }
    svc->n_groups = (size_t)n;
    return ident_build(svc, &pw);
}

void run_free(struct service *svc)
{
    free(svc->groups);
    svc->groups = NULL;
    for (size_t k = 0; k < SUP_IDENT_VARS; k++) {
        free(svc->ident[k]);
        svc->ident[k] = NULL;
    }
    svc->ident_switched = false;
    for (int st = 0; st < LOGS__COUNT; st++)
        logs_linebuf_free(&svc->echo[st]);
    logs_sink_close(svc->sink);
    svc->sink = NULL;
}

/* --- output ------------------------------------------------------------------ */

/* As the log sink stamps lines: a line finished in this read is stamped
 * with the time its first bytes were read, a held one's in an earlier read. */
struct echo_ctx {
    struct sup *s;
    const struct service *svc;
    enum logs_stream st;
    const struct timespec *now;  /* of this read */
    const struct timespec *when; /* of the next line */
};

static void echo_line(void *ctx, const char *line, size_t len, bool complete)
{
    struct echo_ctx *ec = ctx;
    ec->s->h.on_output(ec->s->h.ctx, ec->svc->cfg->name, ec->st, line, len, complete, ec->when);
    ec->when = ec->now;
}

static void say_lost(struct service *svc, uint64_t lost, uint64_t now)
{
    char text[128];
    svc->lost_reported = lost;
    svc->lost_report_ms = now;
    snprintf(text, sizeof(text), "%llu bytes of log output lost so far (log file write failed)",
             (unsigned long long)lost);
    sup_emit(svc->sup, SUP_EV_LOGS_LOST, svc, 0, text);
}

/* At most once per LOST_REPORT_MS: a loss within that time is said when it
 * ends (lost_timer), so that the last count is never left unsaid. */
static void report_lost(struct service *svc)
{
    uint64_t lost = logs_sink_lost_bytes(svc->sink);
    uint64_t now = loop_now_ms();
    if (lost == svc->lost_reported)
        return;
    if (svc->lost_report_ms && now - svc->lost_report_ms < LOST_REPORT_MS) {
        if (!loop_timer_armed(&svc->lost_timer))
            loop_timer_arm(svc->sup->lp, &svc->lost_timer,
                           svc->lost_report_ms + LOST_REPORT_MS - now);
        return;
    }
    say_lost(svc, lost, now);
}

/* A rotation the file system refuses is tried again at the next output, so
 * refusals come in floods: the first is said at once, more at most once a
 * minute. */
static void report_rotation(struct service *svc)
{
    int err;
    uint64_t n = logs_sink_rotate_refusals(svc->sink, &err), now = loop_now_ms();
    char text[256];
    if (n == svc->rot_reported || (svc->rot_report_ms && now - svc->rot_report_ms < ROT_REPORT_MS))
        return;
    svc->rot_reported = n;
    svc->rot_report_ms = now;
    snprintf(text, sizeof(text),
             "cannot rotate %s.log (%s): it grows past max_size until a rotation succeeds "
             "(%llu refused so far)",
             svc->cfg->name, strerror(err), (unsigned long long)n);
    sup_emit(svc->sup, SUP_EV_NOT_ROTATED, svc, 0, text);
}

/* What a write to the sink may have changed: lost bytes, refused rotations. */
static void report_sink(struct service *svc)
{
    report_lost(svc);
    report_rotation(svc);
}

void run_lost_timer(struct loop *lp, void *data)
{
    struct service *svc = data;
    (void)lp;
    if (svc->sink)
        report_lost(svc);
}

static uint64_t logs_grace_ms(const struct sup *s)
{
    uint64_t grace = 1000;
    for (size_t i = 0; i < s->n; i++)
        if (s->svcs[i]->cfg->stop.timeout_ms > grace)
            grace = s->svcs[i]->cfg->stop.timeout_ms;
    return grace;
}

/* The disk has completed nothing for the grace: what waits for it is lost. */
static void on_logs_grace(struct loop *lp, void *data)
{
    struct sup *s = data;
    uint64_t grace = logs_grace_ms(s);
    char text[160];
    (void)lp;
    for (size_t i = 0; i < s->n; i++) {
        uint64_t n = logs_sink_pending(s->svcs[i]->sink);
        if (!n)
            continue;
        snprintf(text, sizeof(text),
                 "%llu bytes of log output not written: the disk completed no write for %llu ms "
                 "as corral stopped",
                 (unsigned long long)n, (unsigned long long)grace);
        sup_emit(s, SUP_EV_LOGS_LOST, s->svcs[i], 0, text);
    }
    logs_ring_abandon(s->logs_ring);
    s->logs_abandoned = true;
    sup_kick(s);
}

void run_logs_init(struct sup *s)
{
    loop_timer_init(&s->logs_grace, on_logs_grace, s);
}

void run_logs_wait(struct sup *s)
{
    if (s->shutting_down && !s->logs_abandoned && !loop_timer_armed(&s->logs_grace))
        loop_timer_arm(s->lp, &s->logs_grace, logs_grace_ms(s));
}

static void on_logs_ring(struct loop *lp, int fd, uint32_t events, void *data)
{
    struct sup *s = data;
    (void)lp;
    (void)fd;
    (void)events;
    /* The disk moves: the wait at shutdown starts over, or is over. */
    if (logs_ring_reap(s->logs_ring) && loop_timer_armed(&s->logs_grace)) {
        if (logs_ring_busy(s->logs_ring))
            loop_timer_arm(s->lp, &s->logs_grace, logs_grace_ms(s));
        else
            loop_timer_disarm(s->lp, &s->logs_grace);
    }
    /* A pass found writes in flight: the stack may be settled now. */
    if (s->logs_unsettled && !logs_ring_busy(s->logs_ring)) {
        s->logs_unsettled = false;
        sup_kick(s);
    }
}

/* The ring every sink writes through, made with the first sink. Without one
 * (the kernel refuses io_uring) log writes are made at once, on the loop. */
static struct logs_ring *logs_ring_of(struct sup *s)
{
    if (s->logs_ring || s->logs_ring_errno)
        return s->logs_ring;
    s->logs_ring = logs_ring_new();
    if (s->logs_ring) {
        s->logs_ring_watch =
            loop_watch_add(s->lp, logs_ring_fd(s->logs_ring), EPOLLIN, on_logs_ring, s);
        if (s->logs_ring_watch)
            return s->logs_ring;
        logs_ring_free(s->logs_ring);
        s->logs_ring = NULL;
    }
    s->logs_ring_errno = errno ? errno : EIO;
    snprintf(s->logs_ring_why, sizeof(s->logs_ring_why), LOGS_RING_REFUSED,
             strerror(s->logs_ring_errno));
    return NULL;
}

static bool pipe_drain(struct service *svc, enum logs_stream st, size_t budget, bool paced);
static void on_pipe(struct loop *lp, int fd, uint32_t events, void *data);

/* The sink has queued all it takes: the pipe waits (and the service with it,
 * once the pipe is full) until the sink has room. The watch goes, rather than
 * its events, as a hang-up is reported to any watch. */
static void pipe_pause(struct service *svc, enum logs_stream st)
{
    loop_watch_del(svc->sup->lp, svc->watch[st]);
    svc->watch[st] = NULL;
}

static void on_sink_idle(void *ctx)
{
    struct service *svc = ctx;
    /* The last writes of a run that is over: its count is final, say it. */
    if (svc->pid <= 0 && svc->pipe[LOGS_OUT] < 0 && svc->pipe[LOGS_ERR] < 0)
        run_say_lost(svc);
    else
        report_lost(svc);
    report_rotation(svc);
    for (int st = 0; st < LOGS__COUNT; st++)
        if (svc->pipe[st] >= 0 && !svc->watch[st])
            svc->watch[st] = loop_watch_add(svc->sup->lp, svc->pipe[st], EPOLLIN, on_pipe, svc);
}

/* The log sink is made at the first output: a thousand services that print
 * nothing hold none. Names and options were checked by the config, so only
 * memory can fail here, and then the output goes to the echo alone. */
static struct logs_sink *sink_of(struct service *svc)
{
    struct diag dg;
    if (!svc->sink) {
        diag_clear(&dg);
        svc->sink = logs_sink_open(sup_logs_dir(svc->sup), svc->cfg->name, &svc->cfg->logs, &dg);
        if (svc->sink)
            logs_sink_use_ring(svc->sink, logs_ring_of(svc->sup));
        logs_sink_on_idle(svc->sink, on_sink_idle, svc);
    }
    return svc->sink;
}

static void output_chunk(struct service *svc, enum logs_stream st, const char *buf, size_t n)
{
    struct sup *s = svc->sup;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (sink_of(svc)) {
        logs_sink_write(svc->sink, st, buf, n, &now);
        report_sink(svc);
    }
    /* A start pass that left its started events held (sup_kick_now) says
     * them before the first line of what it started is shown. */
    if (s->echo && s->n_unsaid > 0)
        sup_say_unsaid(s);
    if (s->echo && (svc->echo[st].cap || logs_linebuf_init(&svc->echo[st], LOGS_MAX_LINE) == 0)) {
        struct echo_ctx ec = {.s = s, .svc = svc, .st = st, .now = &now};
        ec.when = svc->echo[st].len ? &svc->echo_ts[st] : &now;
        logs_linebuf_feed(&svc->echo[st], buf, n, echo_line, &ec);
        if (svc->echo[st].len && ec.when == &now)
            svc->echo_ts[st] = now;
    }
    ready_output(svc, st, buf, n);
}

static void pipe_close(struct service *svc, enum logs_stream st)
{
    struct sup *s = svc->sup;
    if (svc->pipe[st] < 0)
        return;
    if (s->echo) {
        struct echo_ctx ec = {.s = s, .svc = svc, .st = st};
        ec.now = ec.when = &svc->echo_ts[st];
        logs_linebuf_flush(&svc->echo[st], echo_line, &ec);
    }
    logs_sink_end_stream(svc->sink, st);
    loop_watch_del(s->lp, svc->watch[st]);
    svc->watch[st] = NULL;
    close(svc->pipe[st]);
    svc->pipe[st] = -1;
}

/* A pipe that fills up is a flood: a bigger one takes it in fewer wake-ups.
 * Only then, as the kernel allocates a pipe's ring when it is resized. */
static void pipe_grow(struct service *svc, enum logs_stream st, size_t moved)
{
    if (moved < PIPE_FULL || svc->pipe_grown[st])
        return;
    svc->pipe_grown[st] = true;
    (void)fcntl(svc->pipe[st], F_SETPIPE_SZ, PIPE_FLOOD);
}

/* Output nobody reads line by line goes to the file without passing through
 * corral's memory. Returns as pipe_drain(), or -1 when the bytes must be read. */
static int pipe_splice(struct service *svc, enum logs_stream st, size_t budget)
{
    struct sup *s = svc->sup;
    ssize_t n;
    int avail = 0;
    /* Until a sink exists, an empty pipe (its end, mostly: a stop wakes every
     * service's) is for read(2) to tell EOF from EAGAIN, so that no log file
     * is made for it. Later splice tells them apart, and FIONREAD would take
     * the pipe's lock under a writer's feet. */
    if (s->echo || ready_reads_output(svc))
        return -1;
    if (!svc->sink && (ioctl(svc->pipe[st], FIONREAD, &avail) < 0 || avail == 0))
        return -1;
    if (!sink_of(svc))
        return -1;
    if (!s->relay && !s->logs_ring && !svc->cfg->logs.timestamps)
        s->relay = logs_relay_new(); /* without one, straight into the file */
    n = logs_sink_splice(svc->sink, s->relay, svc->pipe[st], budget);
    if (n == -EOPNOTSUPP)
        return -1;
    if (n > 0) {
        pipe_grow(svc, st, (size_t)n);
        report_sink(svc);
    }
    return n != 0;
}

/* Read until EAGAIN or the budget is spent, or, when paced, until the sink is
 * busy; returns false at EOF. */
static bool pipe_drain(struct service *svc, enum logs_stream st, size_t budget, bool paced)
{
    char buf[READ_CHUNK];
    size_t done = 0;
    int spliced = pipe_splice(svc, st, budget);
    if (spliced >= 0)
        return spliced;
    while (done < budget && (!paced || !logs_sink_busy(svc->sink))) {
        ssize_t n = read(svc->pipe[st], buf, sizeof(buf));
        if (n > 0) {
            output_chunk(svc, st, buf, (size_t)n);
            pipe_grow(svc, st, done + (size_t)n);
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && errno == EAGAIN;
    }
    return true;
}

static void on_pipe(struct loop *lp, int fd, uint32_t events, void *data)
{
    struct service *svc = data;
    enum logs_stream st = fd == svc->pipe[LOGS_OUT] ? LOGS_OUT : LOGS_ERR;
    (void)lp;
    /* Hung up with nothing to read: the end of it, known without a read (at a
     * stop of N services, 2N reads and FIONREADs fewer). */
    if ((events & (EPOLLHUP | EPOLLIN)) == EPOLLHUP || !pipe_drain(svc, st, READ_BUDGET, true))
        pipe_close(svc, st);
    else if (logs_sink_busy(svc->sink))
        pipe_pause(svc, st);
}

void run_take_output(struct service *svc)
{
    if (!svc->sup->echo)
        return;
    for (int st = 0; st < LOGS__COUNT; st++)
        if (svc->pipe[st] >= 0 && svc->watch[st] && !pipe_drain(svc, st, READ_BUDGET, true))
            pipe_close(svc, st);
}

void run_close_pipes(struct service *svc)
{
    for (int st = 0; st < LOGS__COUNT; st++) {
        if (svc->pipe[st] < 0)
            continue;
        /* Every writer of the tree is gone; take what is left, bounded in
         * case something that escaped the tree still holds the pipe. */
        (void)pipe_drain(svc, st, 4 * READ_BUDGET, false);
        pipe_close(svc, st);
    }
}

void run_say_lost(struct service *svc)
{
    if (!svc->sink || logs_sink_lost_bytes(svc->sink) == svc->lost_reported)
        return;
    loop_timer_disarm(svc->sup->lp, &svc->lost_timer);
    say_lost(svc, logs_sink_lost_bytes(svc->sink), loop_now_ms());
}

static int pipes_open(struct service *svc, int child_ends[LOGS__COUNT])
{
    for (int st = 0; st < LOGS__COUNT; st++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return -errno;
        /* Only our end is nonblocking: the child's must stay blocking. */
        if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
            int r = -errno;
            close(p[0]);
            close(p[1]);
            return r;
        }
        svc->pipe[st] = p[0];
        svc->pipe_grown[st] = false;
        child_ends[st] = p[1];
        svc->watch[st] = loop_watch_add(svc->sup->lp, p[0], EPOLLIN, on_pipe, svc);
        if (!svc->watch[st])
            return -errno;
    }
    return 0;
}

int run_attach_pipe(struct service *svc, enum logs_stream st, int fd)
{
    if (!sink_of(svc))
        return -EIO;
    if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
        return -errno;
    svc->watch[st] = loop_watch_add(svc->sup->lp, fd, EPOLLIN, on_pipe, svc);
    if (!svc->watch[st])
        return -errno;
    svc->pipe[st] = fd;
    svc->pipe_grown[st] = false;
    return 0;
}

/* --- spawn ------------------------------------------------------------------- */

static int run_prepare(struct service *svc, struct diag *dg)
{
    int r;
    if (ids_switch(svc->cfg) && !svc->groups && (r = ids_build(svc, dg)) < 0)
        return r;
    if ((r = contain_prepare(svc)) < 0) {
        diag_set(dg, r, "cannot create cgroup for %s: %s", svc->cfg->name, strerror(-r));
        return r;
    }
    /* Before the first process enters the cgroup, so none runs unbounded. */
    if (svc->cg_fd >= 0)
        limits_cgroup_write(svc);
    return ready_prepare(svc, dg);
}

int run_spawn(struct service *svc, struct diag *dg)
{
    const struct cfg_service *c = svc->cfg;
    struct sup *s = svc->sup;
    int child_ends[LOGS__COUNT] = {-1, -1};
    struct spawn_env se = {0};
    struct proc_spawn_opts o = {
        .argv = c->argv,
        .cwd = c->cwd,
        .cwd_as_user = c->cwd_set,
        .set_ids = ids_switch(c),
        .uid = ids_uid(c),
        .gid = c->gid,
        .nofile = &s->nofile,
        .pass_fd = -1,
    };
    struct proc_rlimit rl[4];
    int r = run_prepare(svc, dg);
    o.rlimits = rl;
    o.n_rlimits = limits_rlimits(svc, rl, 4);
    if (r >= 0 && (r = env_build(svc, &se)) < 0)
        diag_set(dg, r, "out of memory building the environment");
    /* A log file removed (or its directory) while corral runs is made
     * afresh at the next run, not written where nobody can read it. */
    if (svc->sink && logs_sink_file_gone(svc->sink)) {
        sup_logs_dir_renew(s);
        svc->lost_earlier += logs_sink_lost_bytes(svc->sink);
        logs_sink_close(svc->sink);
        svc->sink = NULL;
        svc->lost_reported = 0; /* the new sink counts from 0 */
        svc->rot_reported = 0;
    }
    if (r >= 0 && (r = pipes_open(svc, child_ends)) < 0)
        diag_set(dg, r, "pipe: %s", strerror(-r));
    if (r >= 0 && s->n_spawning == SPAWN_AHEAD)
        sup_spawn_settle_one(s);
    if (r >= 0) {
        o.envp = se.envp;
        o.groups = svc->groups;
        o.n_groups = svc->n_groups;
        o.cgroup_fd = svc->cg_fd;
        o.stdout_fd = child_ends[LOGS_OUT];
        o.stderr_fd = child_ends[LOGS_ERR];
        o.pass_fd = svc->ready_child_end;
        o.pass_fd_num = c->ready.fd;
        o.pid_text = se.pid_text;
        r = proc_spawn_begin(&s->spawner, &o, &svc->spawn, dg);
    }
    /* The child's fds are in the spawner's slots now, which it copies: its
     * exit alone closes the pipes. */
    if (svc->ready_child_end >= 0)
        close(svc->ready_child_end);
    svc->ready_child_end = -1;
    for (int st = 0; st < LOGS__COUNT; st++)
        if (child_ends[st] >= 0)
            close(child_ends[st]);
    if (r < 0) {
        env_free(&se);
        run_close_pipes(svc);
        return r;
    }
    svc_set_pid(svc, svc->spawn.pid);
    svc->pidfd = svc->spawn.pidfd;
    svc->spawn_env = se;
    svc->spawning = true;
    s->spawning[s->n_spawning++] = svc;
    return 0;
}

struct service *run_spawn_finish(struct sup *s)
{
    struct service *svc;
    struct diag dg;
    if (s->n_spawning == 0)
        return NULL;
    svc = s->spawning[0];
    memmove(s->spawning, s->spawning + 1, --s->n_spawning * sizeof(*s->spawning));
    svc->spawning = false;
    diag_clear(&dg);
    proc_spawn_finish(&s->spawner, &svc->spawn, &dg);
    env_free(&svc->spawn_env);
    svc->exec_failed = svc->spawn.exec_err < 0;
    if (svc->exec_failed)
        svc_set_reason(svc, "%s", dg.msg);
    return svc;
}

int run_spawn_probe(struct service *svc, char *const *argv, struct proc_child *child)
{
    const struct cfg_service *c = svc->cfg;
    struct spawn_env se = {0};
    struct diag dg;
    struct proc_spawn_opts o = {
        .argv = argv,
        .cwd = c->cwd,
        .cwd_as_user = c->cwd_set,
        .set_ids = ids_switch(c),
        .uid = ids_uid(c),
        .gid = c->gid,
        .groups = svc->groups,
        .n_groups = svc->n_groups,
        .cgroup_fd = svc->cg_fd,
        .stdout_fd = -1,
        .stderr_fd = -1,
        .nofile = &svc->sup->nofile,
        .pass_fd = -1,
    };
    int r = env_build(svc, &se);
    if (r < 0)
        return r;
    o.envp = se.envp;
    o.pid_text = se.pid_text;
    diag_clear(&dg);
    r = proc_spawn(&svc->sup->spawner, &o, child, &dg);
    env_free(&se);
    return r;
}
