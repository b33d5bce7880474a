/* supervisor/hooks.c — run the config's hooks on events: a bounded queue, a
 * few slots, each run contained, fed its event on stdin and killed at its
 * timeout; its exit comes through a claim on sup_reap(). */
#include "supervisor/hooks.h"

#include "logs/file.h"
#include "proc/cgroup.h"
#include "proc/ident.h"
#include "proc/scan.h"
#include "proc/spawn.h"
#include "proc/tree.h"
#include "supervisor/internal.h"
#include "util/utc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECK_FIRST_MS   5    /* after a kill, how soon to look whether the tree is gone */
#define CHECK_MAX_MS     1000 /* the look-again delay doubles up to this */
#define CHECK_GIVE_UP    40   /* looks before a tree that will not die is reported and let go */
#define WHAT_MAX         160
#define ENVIRON_READ_MAX (256 * 1024) /* the tag is near the end: read it all */

extern char **environ;

/* One run waiting for a slot. */
struct hook_job {
    const struct cfg_hook *hook;
    size_t index; /* in the model's hooks */
    char *json;
    char kind[32];
    char service[CFG_MAX_NAME + 1];
};

/* A slot: at most one run at a time. */
struct hook_run {
    struct sup_hookrun *hr;
    bool busy;
    pid_t pid;    /* the run's main process until it is reaped, else 0 */
    pid_t leader; /* the same, kept after the reap: it names the run's session */
    int pidfd;
    uint64_t start_ticks;
    int cg_fd; /* its cgroup, -1 without */
    char cg_name[32];
    int in_fd; /* our end of its stdin, while the event is being written */
    struct loop_watch *in_watch;
    char *in_buf;
    size_t in_len, in_off;
    struct loop_timer timer; /* its timeout; after its exit, the look for leftovers */
    bool exec_failed;        /* said at its spawn: its exit 127 is not said again */
    bool timed_out;
    unsigned checks;
    uint64_t check_ms;
    uint64_t timeout_ms;
    char what[WHAT_MAX]; /* "hooks[0] (./notify.sh) on failed web" */
    /* CORRAL_HOOK=<instance>-<corral pid>-<seq> in its environment: without a
     * cgroup, how a descendant that left its session is still found. */
    char tag[80];
};

struct sup_hookrun {
    struct sup *s;
    const struct cfg_model *m;
    struct hook_run run[HOOKS_RUNNING_MAX];
    struct hook_job queue[HOOKS_QUEUE_MAX];
    size_t q_head, q_n;
    uint64_t dropped; /* since the queue was last full */
    bool dropping;
    uint64_t seq;
    struct logs_file log; /* <state_dir>/hooks.log, beside corral.log */
    int state_fd;         /* <state_dir>, -1 until the log's first line */
    bool log_failing;     /* hooks.log cannot be opened: said once, hooks run on */
    sup_hook_report_fn report;
    void *ctx;
    struct loop_timer drain_timer;
    void (*drained)(void *ctx);
    void *drained_ctx;
};

static void report(struct sup_hookrun *hr, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* hooks.log, opened at its first line (a config without hooks never has
 * one), and rotated as it passes its size before a line or a run. It is
 * corral's, as corral.log is, and beside it: in logs/ it would be the log
 * of a service named "hooks". */
static int open_log(struct sup_hookrun *hr, struct diag *dg)
{
    int fd = hr->state_fd;
    if (fd < 0)
        fd = hr->state_fd = open(hr->m->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        fd = -errno;
    else {
        hr->log.dirfd = fd;
        fd = logs_file_fd(&hr->log);
    }
    if (fd < 0)
        diag_set(dg, fd, "cannot open %s/hooks.log: %s", hr->m->state_dir, strerror(-fd));
    return fd;
}

static void log_line(struct sup_hookrun *hr, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One line of the runner's own into hooks.log, between the runs' output. */
static void log_line(struct sup_hookrun *hr, const char *fmt, ...)
{
    char line[512];
    struct timespec ts;
    struct diag dg;
    struct tm tm;
    va_list ap;
    int n;
    int fd;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (!utc_tm(ts.tv_sec, &tm))
        memset(&tm, 0, sizeof(tm));
    n = snprintf(line, sizeof(line),
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ corral: ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    /* A full disk must not stop supervision: the line is let go. */
    if ((fd = open_log(hr, &dg)) >= 0)
        (void)!write(fd, line, (size_t)n);
}

static void report(struct sup_hookrun *hr, const char *kind, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    log_line(hr, "%s", text);
    if (hr->report)
        hr->report(hr->ctx, kind, text);
}

/* --- environment -------------------------------------------------------------------- */

struct hook_env {
    char **envp;
    char *own;
};

static const char *json_str(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

/* corral's environment without its CORRAL_* entries (a hook is nobody's tree
 * member) and its service manager's notify socket, then the event's. */
static int env_build(const struct hook_job *job, const char *tag, struct hook_env *he)
{
    json_t *ev = json_loads(job->json, 0, NULL);
    size_t n = 0, i = 0, size;
    char id[32] = "";
    char *cursor;
    for (char **p = environ; *p; p++)
        n++;
    if (ev && json_is_integer(json_object_get(ev, "id")))
        snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(ev, "id")));
    size = strlen(job->json) + 512 + sizeof(((struct hook_run *)0)->tag) +
           strlen(json_str(ev, "reason")) + strlen(json_str(ev, "time")) +
           strlen(json_str(ev, "instance"));
    he->envp = malloc((n + 9) * sizeof(*he->envp));
    he->own = malloc(size);
    if (!he->envp || !he->own) {
        json_decref(ev);
        free(he->envp);
        free(he->own);
        return -ENOMEM;
    }
    for (char **p = environ; *p; p++)
        if (!sup_env_private(*p))
            he->envp[i++] = *p;
    cursor = he->own;
#define PUT(key, value)                                                                            \
    do {                                                                                           \
        he->envp[i++] = cursor;                                                                    \
        cursor += sprintf(cursor, "%s=%s", key, value) + 1;                                        \
    } while (0)
    PUT("CORRAL_EVENT", job->kind);
    PUT("CORRAL_EVENT_SERVICE", job->service);
    PUT("CORRAL_EVENT_ID", id);
    PUT("CORRAL_EVENT_TIME", json_str(ev, "time"));
    PUT("CORRAL_EVENT_REASON", json_str(ev, "reason"));
    PUT("CORRAL_EVENT_INSTANCE", json_str(ev, "instance"));
#undef PUT
    he->envp[i++] = strcpy(cursor, tag);
    he->envp[i] = NULL;
    json_decref(ev);
    return 0;
}

/* --- a run's end ---------------------------------------------------------------------- */

static void pump(struct sup_hookrun *hr);

static void stdin_close(struct hook_run *run)
{
    loop_watch_del(run->hr->s->lp, run->in_watch);
    run->in_watch = NULL;
    if (run->in_fd >= 0)
        close(run->in_fd);
    run->in_fd = -1;
    free(run->in_buf);
    run->in_buf = NULL;
}

struct members {
    const struct hook_run *run;
    struct proc_member v[64];
    size_t n;
};

/* True when e descends from corral: every process of a hook does (its
 * orphans reparent to corral, a subreaper). A second guard, so that no
 * mistake in telling a hook's processes apart can reach anyone else's. */
static bool descends_from_us(const struct proc_snap *snap, const struct proc_entry *e)
{
    pid_t self = getpid();
    for (int depth = 0; e && depth < 64; depth++) {
        if (e->ppid == self)
            return true;
        if (e->ppid <= 1)
            return false;
        e = proc_snap_find(snap, e->ppid);
    }
    return false;
}

/* Without a cgroup: the processes of the run's session or group (it leads
 * both, see proc_spawn), and those that left both but carry its tag, its
 * main process aside. */
static size_t session_members(const struct hook_run *run, pid_t leader, struct members *ms)
{
    struct proc_snap snap;
    char *env = malloc(ENVIRON_READ_MAX);
    ms->n = 0;
    if (!env || proc_snap_take(&snap, NULL) < 0) {
        free(env);
        return 0;
    }
    for (size_t i = 0; i < snap.n && ms->n < sizeof(ms->v) / sizeof(ms->v[0]); i++) {
        const struct proc_entry *e = &snap.v[i];
        if (e->pid == leader || e->state == 'Z')
            continue;
        if (!descends_from_us(&snap, e))
            continue;
        if (e->sid != leader && e->pgid != leader &&
            !proc_environ_has(e->pid, run->tag, env, ENVIRON_READ_MAX))
            continue;
        ms->v[ms->n++] = (struct proc_member){
            .pid = e->pid, .pgid = e->pgid, .start_ticks = e->start_ticks, .state = e->state};
    }
    proc_snap_free(&snap);
    free(env);
    return ms->n;
}

/* SIGKILL to whatever of the run's tree is left; true when nothing is. */
static bool kill_leftovers(struct hook_run *run, pid_t leader)
{
    struct members ms;
    if (run->cg_fd >= 0) {
        if (proc_cgroup_populated(run->cg_fd) <= 0)
            return true;
        (void)proc_cgroup_kill(run->cg_fd);
        return false;
    }
    if (!session_members(run, leader, &ms))
        return true;
    /* Each through a pidfd opened before its start time is checked again. */
    for (size_t i = 0; i < ms.n; i++) {
        pid_ring_note(&run->hr->s->hook_left, ms.v[i].pid);
        (void)proc_member_signal(&ms.v[i], SIGKILL);
    }
    return false;
}

static void release(struct hook_run *run)
{
    struct sup_hookrun *hr = run->hr;
    loop_timer_disarm(hr->s->lp, &run->timer);
    stdin_close(run);
    if (run->cg_fd >= 0) {
        close(run->cg_fd);
        run->cg_fd = -1;
        (void)unlinkat(hr->s->cg_base_fd, run->cg_name, AT_REMOVEDIR);
    }
    run->busy = false;
    pump(hr);
}

/* After the main process is gone: kill what it left, and look again until
 * nothing is, with a growing delay (only while a tree is dying). */
static void finish(struct hook_run *run)
{
    if (kill_leftovers(run, run->leader)) {
        release(run);
        return;
    }
    if (++run->checks > CHECK_GIVE_UP) {
        report(run->hr, "hook_error", "hook %s: processes it left would not die; let go",
               run->what);
        release(run);
        return;
    }
    run->check_ms = run->check_ms ? run->check_ms * 2 : CHECK_FIRST_MS;
    if (run->check_ms > CHECK_MAX_MS)
        run->check_ms = CHECK_MAX_MS;
    loop_timer_arm(run->hr->s->lp, &run->timer, run->check_ms);
}

static void on_exit_status(void *ctx, pid_t pid, int code)
{
    struct hook_run *run = ctx;
    char status[64];
    (void)pid;
    loop_timer_disarm(run->hr->s->lp, &run->timer);
    if (run->pidfd >= 0)
        close(run->pidfd);
    run->pidfd = -1;
    stdin_close(run);
    if (code > 128 && code < 128 + NSIG)
        snprintf(status, sizeof(status), "killed by SIG%s", cfg_signal_name(code - 128));
    else
        snprintf(status, sizeof(status), "exited %d", code);
    if (run->timed_out)
        log_line(run->hr, "hook %s: %s after its timeout", run->what, status);
    else if (code != 0 && !run->exec_failed)
        report(run->hr, "hook_failed", "hook %s %s", run->what, status);
    else if (code != 0)
        log_line(run->hr, "hook %s: %s", run->what, status);
    else
        log_line(run->hr, "hook %s: exited 0", run->what);
    /* The leader's number names the session still: it cannot be reused
     * while a member of its session or group lives. */
    run->pid = 0;
    finish(run);
}

static void on_timer(struct loop *lp, void *data)
{
    struct hook_run *run = data;
    char t[32];
    (void)lp;
    if (!run->pid) { /* reaped: looking for leftovers */
        finish(run);
        return;
    }
    if (run->timed_out)
        return;
    run->timed_out = true;
    if (run->timeout_ms % 1000)
        snprintf(t, sizeof(t), "%llums", (unsigned long long)run->timeout_ms);
    else
        snprintf(t, sizeof(t), "%llus", (unsigned long long)(run->timeout_ms / 1000));
    report(run->hr, "hook_timeout", "hook %s timed out after %s: killing its tree", run->what, t);
    /* The main process is unreaped, so its group is still its own. */
    if (run->cg_fd >= 0) {
        (void)proc_cgroup_kill(run->cg_fd);
    } else {
        (void)kill(-run->pid, SIGKILL);
        (void)kill_leftovers(run, run->pid);
    }
    (void)proc_pidfd_signal(run->pidfd, SIGKILL);
}

/* --- a run's start ---------------------------------------------------------------------- */

static void on_stdin(struct loop *lp, int fd, uint32_t events, void *data);

/* Write what the pipe takes now; the rest when it is writable again. A hook
 * that never reads its stdin costs a pipe buffer, never a wait. */
static void stdin_feed(struct hook_run *run)
{
    while (run->in_off < run->in_len) {
        ssize_t n = write(run->in_fd, run->in_buf + run->in_off, run->in_len - run->in_off);
        if (n > 0) {
            run->in_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (!run->in_watch)
                run->in_watch = loop_watch_add(run->hr->s->lp, run->in_fd, EPOLLOUT, on_stdin, run);
            if (run->in_watch)
                return;
        }
        break; /* EPIPE: it closed its stdin; or no watch: let it go */
    }
    stdin_close(run);
}

static void on_stdin(struct loop *lp, int fd, uint32_t events, void *data)
{
    (void)lp;
    (void)fd;
    (void)events;
    stdin_feed(data);
}

static void describe(struct hook_run *run, const struct hook_job *job)
{
    snprintf(run->what, sizeof(run->what), "hooks[%zu] (%s) on %s%s%s", job->index,
             job->hook->argv[job->hook->shell ? 2 : 0], job->kind, job->service[0] ? " " : "",
             job->service);
}

static int open_stdin(struct hook_run *run, const struct hook_job *job, int *child_end)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    /* Only our end is nonblocking: the child's must stay blocking. */
    if (fcntl(p[1], F_SETFL, O_NONBLOCK) < 0) {
        int r = -errno;
        close(p[0]);
        close(p[1]);
        return r;
    }
    run->in_fd = p[1];
    *child_end = p[0];
    run->in_len = strlen(job->json) + 1;
    run->in_off = 0;
    run->in_buf = malloc(run->in_len);
    if (!run->in_buf)
        return -ENOMEM;
    memcpy(run->in_buf, job->json, run->in_len - 1);
    run->in_buf[run->in_len - 1] = '\n';
    return 0;
}

static int open_cgroup(struct hook_run *run)
{
    struct sup *s = run->hr->s;
    if (!s->use_cgroup)
        return 0;
    /* A fresh cgroup per run: one that had cgroup.kill written kills what
     * is cloned into it later (see contain_prepare). */
    snprintf(run->cg_name, sizeof(run->cg_name), ".hook-%d-%llu", (int)getpid(),
             (unsigned long long)run->hr->seq);
    run->cg_fd = proc_cgroup_make(s->cg_base_fd, run->cg_name, NULL);
    return run->cg_fd < 0 ? run->cg_fd : 0;
}

static int spawn_run(struct hook_run *run, const struct hook_job *job, struct diag *dg)
{
    struct sup_hookrun *hr = run->hr;
    struct hook_env he = {0};
    struct proc_child child;
    int child_in = -1;
    struct proc_spawn_opts o = {
        .argv = job->hook->argv,
        .cwd = hr->m->dir,
        .cgroup_fd = -1,
        .nofile = &hr->s->nofile,
        .with_stdin = true,
        .pass_fd = -1,
    };
    int r = open_log(hr, dg);
    /* A hook that pages someone must not be lost to its log file: without
     * one its output goes to /dev/null. */
    if (r < 0 && !hr->log_failing)
        report(hr, "hook_error",
               "hook %s: %s; hooks run with their output discarded until it "
               "can be",
               run->what, dg->msg);
    hr->log_failing = r < 0;
    o.stdout_fd = o.stderr_fd = r < 0 ? -1 : r;
    diag_clear(dg);
    r = open_stdin(run, job, &child_in);
    if (r >= 0 && (r = open_cgroup(run)) < 0)
        diag_set(dg, r, "cannot create its cgroup: %s", strerror(-r));
    if (r >= 0 && (r = env_build(job, run->tag, &he)) < 0)
        diag_set(dg, r, "out of memory");
    if (r >= 0) {
        o.envp = he.envp;
        o.stdin_fd = child_in;
        o.cgroup_fd = run->cg_fd;
        r = proc_spawn(&hr->s->spawner, &o, &child, dg);
    }
    free(he.envp);
    free(he.own);
    if (child_in >= 0)
        close(child_in);
    if (r < 0)
        return r;
    run->pid = child.pid;
    run->leader = child.pid;
    run->pidfd = child.pidfd;
    run->exec_failed = child.exec_err < 0;
    if (run->exec_failed)
        report(hr, "hook_failed", "hook %s: %s", run->what, dg->msg);
    return 0;
}

static void start_run(struct hook_run *run, struct hook_job *job)
{
    struct sup_hookrun *hr = run->hr;
    struct proc_stat st;
    struct diag dg;
    diag_clear(&dg);
    hr->seq++;
    run->busy = true;
    run->timed_out = false;
    run->checks = 0;
    run->check_ms = 0;
    run->timeout_ms = job->hook->timeout_ms;
    run->start_ticks = 0;
    snprintf(run->tag, sizeof(run->tag), "CORRAL_HOOK=%s-%d-%llu", hr->s->instance, (int)getpid(),
             (unsigned long long)hr->seq);
    describe(run, job);
    if (spawn_run(run, job, &dg) < 0) {
        report(hr, "hook_failed", "hook %s could not start: %s", run->what, dg.msg);
        release(run);
        return;
    }
    sup_note_hook_leader(hr->s, run->pid);
    if (sup_child_claim(hr->s, run->pid, on_exit_status, run) < 0) {
        /* Unclaimed, its exit would pass for an orphan's: end it now. */
        (void)proc_pidfd_signal(run->pidfd, SIGKILL);
        report(hr, "hook_error", "hook %s: out of memory; killed", run->what);
    }
    if (proc_stat_read(run->pid, &st) == 0)
        run->start_ticks = st.start_ticks;
    log_line(hr, "hook %s: started, pid %d", run->what, (int)run->pid);
    loop_timer_arm(hr->s->lp, &run->timer, run->timeout_ms);
    stdin_feed(run);
}

/* --- the queue ------------------------------------------------------------------------ */

static void job_free(struct hook_job *job)
{
    free(job->json);
    job->json = NULL;
}

static struct hook_job *queue_at(struct sup_hookrun *hr, size_t k)
{
    return &hr->queue[(hr->q_head + k) % HOOKS_QUEUE_MAX];
}

static void queue_drop_oldest(struct sup_hookrun *hr)
{
    job_free(queue_at(hr, 0));
    hr->q_head = (hr->q_head + 1) % HOOKS_QUEUE_MAX;
    hr->q_n--;
    hr->dropped++;
}

static void check_drained(struct sup_hookrun *hr)
{
    void (*done)(void *) = hr->drained;
    if (!done || !sup_hookrun_idle(hr))
        return;
    hr->drained = NULL;
    loop_timer_disarm(hr->s->lp, &hr->drain_timer);
    done(hr->drained_ctx);
}

static void pump(struct sup_hookrun *hr)
{
    for (size_t i = 0; i < HOOKS_RUNNING_MAX && hr->q_n; i++) {
        struct hook_job job;
        if (hr->run[i].busy)
            continue;
        job = *queue_at(hr, 0);
        hr->q_head = (hr->q_head + 1) % HOOKS_QUEUE_MAX;
        hr->q_n--;
        start_run(&hr->run[i], &job);
        job_free(&job);
    }
    if (!hr->q_n && hr->dropping) {
        report(hr, "hooks_dropped",
               "hooks: %llu runs were dropped while %d waited (the oldest go first)",
               (unsigned long long)hr->dropped, HOOKS_QUEUE_MAX);
        hr->dropping = false;
        hr->dropped = 0;
    }
    check_drained(hr);
}

static bool wants(const struct cfg_hook *h, const char *kind, const char *service)
{
    bool on = false;
    for (size_t k = 0; k < h->n_on && !on; k++)
        on = strcmp(h->on[k], kind) == 0;
    if (!on || !h->n_services)
        return on;
    for (size_t k = 0; service && k < h->n_services; k++)
        if (strcmp(h->services[k], service) == 0)
            return true;
    return false;
}

static void enqueue(struct sup_hookrun *hr, size_t index, const char *kind, const char *service,
                    const char *json)
{
    struct hook_job *job;
    char *copy = strdup(json);
    if (!copy) {
        hr->dropped++;
        return;
    }
    if (hr->q_n == HOOKS_QUEUE_MAX) {
        if (!hr->dropping)
            report(hr, "hooks_dropped",
                   "hooks: %d runs are waiting already; dropping the oldest until they drain",
                   HOOKS_QUEUE_MAX);
        hr->dropping = true;
        queue_drop_oldest(hr);
    }
    job = queue_at(hr, hr->q_n++);
    job->hook = &hr->m->hooks[index];
    job->index = index;
    job->json = copy;
    snprintf(job->kind, sizeof(job->kind), "%s", kind);
    snprintf(job->service, sizeof(job->service), "%s", service ? service : "");
}

void sup_hookrun_fire(struct sup_hookrun *hr, const char *kind, const char *service,
                      const char *json)
{
    bool any = false;
    if (!hr || !kind || !json || hr->drained)
        return;
    for (size_t i = 0; i < hr->m->n_hooks; i++)
        if (wants(&hr->m->hooks[i], kind, service)) {
            enqueue(hr, i, kind, service, json);
            any = true;
        }
    if (any)
        pump(hr);
}

/* --- life ---------------------------------------------------------------------------- */

/* The hook cgroups a previous corral of this state directory left (it was
 * killed with hooks running): their processes are killed now, the
 * directories removed once empty (at the latest when this corral ends). A
 * hook cgroup's name starts with a dot, which no service's can. */
static void sweep_cgroups(struct sup_hookrun *hr, bool kill_them)
{
    struct dirent *de;
    DIR *d;
    int fd;
    /* Opened afresh, not dup()ed: a dup shares the directory offset, and
     * reading to the end here would leave the next reader nothing. */
    if (!hr->s->use_cgroup ||
        (fd = openat(hr->s->cg_base_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return;
    if (!(d = fdopendir(fd))) {
        close(fd);
        return;
    }
    while ((de = readdir(d))) {
        int cg;
        if (de->d_type != DT_DIR || strncmp(de->d_name, ".hook-", 6) != 0)
            continue;
        cg = openat(hr->s->cg_base_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cg < 0)
            continue;
        if (kill_them && proc_cgroup_populated(cg) > 0) {
            log_line(hr, "killing what a hook of the previous corral left in %s", de->d_name);
            (void)proc_cgroup_kill(cg);
        }
        close(cg);
        (void)unlinkat(hr->s->cg_base_fd, de->d_name, AT_REMOVEDIR);
    }
    closedir(d);
}

struct sup_hookrun *sup_hookrun_new(struct sup *s, const struct cfg_model *m,
                                    sup_hook_report_fn report_fn, void *ctx, struct diag *dg)
{
    struct sup_hookrun *hr = calloc(1, sizeof(*hr));
    if (!hr) {
        diag_set(dg, -ENOMEM, "out of memory");
        return NULL;
    }
    hr->s = s;
    hr->m = m;
    hr->report = report_fn;
    hr->ctx = ctx;
    hr->state_fd = -1;
    logs_file_init(&hr->log, -1, "hooks", LOGS_FILE_MAX_BYTES, LOGS_FILE_KEEP);
    for (size_t i = 0; i < HOOKS_RUNNING_MAX; i++) {
        hr->run[i] = (struct hook_run){.hr = hr, .pidfd = -1, .cg_fd = -1, .in_fd = -1};
        loop_timer_init(&hr->run[i].timer, on_timer, &hr->run[i]);
    }
    loop_timer_init(&hr->drain_timer, NULL, hr);
    if (!s->cg_base_made)
        sweep_cgroups(hr, true);
    return hr;
}

/* Kill the run's tree now and wait for its main process: corral is going. */
static void run_kill_now(struct hook_run *run)
{
    if (!run->busy)
        return;
    if (run->pid) {
        if (run->cg_fd >= 0)
            (void)proc_cgroup_kill(run->cg_fd);
        else
            (void)kill(-run->pid, SIGKILL);
        (void)kill_leftovers(run, run->pid);
        (void)proc_pidfd_signal(run->pidfd, SIGKILL);
        sup_child_unclaim(run->hr->s, run->pid);
        (void)waitpid(run->pid, NULL, 0); /* SIGKILLed: at once */
        close(run->pidfd);
        run->pidfd = -1;
    }
    /* What it left is killed; the cgroup goes once the kernel has them. */
    for (int i = 0; i < 100 && !kill_leftovers(run, run->leader); i++)
        usleep(1000);
    run->pid = 0;
    loop_timer_disarm(run->hr->s->lp, &run->timer);
    stdin_close(run);
    if (run->cg_fd >= 0) {
        close(run->cg_fd);
        run->cg_fd = -1;
        (void)unlinkat(run->hr->s->cg_base_fd, run->cg_name, AT_REMOVEDIR);
    }
    run->busy = false;
}

static void drop_queue(struct sup_hookrun *hr, const char *why)
{
    size_t n = hr->q_n;
    while (hr->q_n) {
        job_free(queue_at(hr, 0));
        hr->q_head = (hr->q_head + 1) % HOOKS_QUEUE_MAX;
        hr->q_n--;
    }
    if (n)
        report(hr, "hooks_dropped", "hooks: %zu waiting runs dropped (%s)", n, why);
}

void sup_hookrun_free(struct sup_hookrun *hr)
{
    if (!hr)
        return;
    for (size_t i = 0; i < HOOKS_RUNNING_MAX; i++) {
        if (hr->run[i].busy && hr->run[i].pid)
            log_line(hr, "hook %s: killed, corral is exiting", hr->run[i].what);
        run_kill_now(&hr->run[i]);
    }
    drop_queue(hr, "corral is exiting");
    loop_timer_disarm(hr->s->lp, &hr->drain_timer);
    sweep_cgroups(hr, false);
    logs_file_close(&hr->log);
    if (hr->state_fd >= 0)
        close(hr->state_fd);
    free(hr);
}

static bool same_strings(const char *const *a, size_t na, const char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

/* Whether a reload left a hook as it was (where it is written aside). */
static bool same_hook(const struct cfg_hook *a, const struct cfg_hook *b)
{
    return a->shell == b->shell && a->timeout_ms == b->timeout_ms &&
           same_strings((const char *const *)a->argv, a->argc, (const char *const *)b->argv,
                        b->argc) &&
           same_strings(a->on, a->n_on, b->on, b->n_on) &&
           same_strings(a->services, a->n_services, b->services, b->n_services);
}

/* The new model's hook equal to h, or NULL. */
static const struct cfg_hook *hook_in(const struct cfg_model *m, const struct cfg_hook *h,
                                      size_t *index)
{
    for (size_t i = 0; i < m->n_hooks; i++)
        if (same_hook(&m->hooks[i], h)) {
            *index = i;
            return &m->hooks[i];
        }
    return NULL;
}

void sup_hookrun_retarget(struct sup_hookrun *hr, const struct cfg_model *m)
{
    size_t kept = 0, dropped = 0, n;
    if (!hr || hr->m == m)
        return;
    /* Waiting runs of hooks the reload left as they were wait on: a page for
     * a failure must not be lost to an unrelated reload. The others go. */
    n = hr->q_n;
    for (size_t k = 0; k < n; k++) {
        struct hook_job job = *queue_at(hr, k);
        if ((job.hook = hook_in(m, job.hook, &job.index))) {
            *queue_at(hr, kept++) = job;
        } else {
            job_free(&job);
            dropped++;
        }
    }
    hr->q_n = kept;
    if (dropped)
        report(hr, "hooks_dropped",
               "hooks: %zu waiting runs dropped (the reload changed or removed their hooks)",
               dropped);
    hr->m = m;
}

bool sup_hookrun_idle(const struct sup_hookrun *hr)
{
    if (!hr)
        return true;
    for (size_t i = 0; i < HOOKS_RUNNING_MAX; i++)
        if (hr->run[i].busy)
            return false;
    return hr->q_n == 0;
}

void sup_hookrun_kill(struct sup_hookrun *hr, const char *why)
{
    if (!hr)
        return;
    drop_queue(hr, why);
    for (size_t i = 0; i < HOOKS_RUNNING_MAX; i++)
        if (hr->run[i].busy && hr->run[i].pid) {
            report(hr, "hook_timeout", "hook %s: still running as %s: killed", hr->run[i].what,
                   why);
            run_kill_now(&hr->run[i]);
        }
    check_drained(hr);
}

static void on_drain_timeout(struct loop *lp, void *data)
{
    (void)lp;
    sup_hookrun_kill(data, "corral exits");
}

void sup_hookrun_drain(struct sup_hookrun *hr, uint64_t grace_ms, void (*done)(void *ctx),
                       void *ctx)
{
    if (!hr || sup_hookrun_idle(hr)) {
        done(ctx);
        return;
    }
    if (hr->drained)
        return; /* asked again: the first deadline stands */
    hr->drained = done;
    hr->drained_ctx = ctx;
    loop_timer_init(&hr->drain_timer, on_drain_timeout, hr);
    loop_timer_arm(hr->s->lp, &hr->drain_timer, grace_ms);
}
