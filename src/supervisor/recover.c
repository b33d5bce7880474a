/* supervisor/recover.c — after a crash of corral: take over what the previous
 * corral of this state directory left running. A record is only a lead: a
 * pidfd is opened first and the identity checked after, so that a PID reused
 * in between is never signalled. */
#include "proc/cgroup.h"
#include "proc/scan.h"
#include "supervisor/internal.h"
#include "util/utc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

/* A time of the loop's clock, as wall-clock ms. */
static int64_t mono_to_wall(uint64_t mono_ms)
{
    return utc_now_ms() + ((int64_t)mono_ms - (int64_t)loop_now_ms());
}

/* A recorded wall-clock time on the loop's clock; one from before this
 * clock's start (the boot) reads as its start. */
static uint64_t wall_to_mono(int64_t wall)
{
    int64_t ago = utc_now_ms() - wall;
    uint64_t now = loop_now_ms();
    if (ago <= 0)
        return now + (uint64_t)-ago;
    return (uint64_t)ago < now ? now - (uint64_t)ago : 0;
}

/* The give-up window's restart times, oldest first: "t1,t2,...". */
static char *window_text(const struct sup_window *w)
{
    size_t size = (size_t)w->count * 21 + 1, len = 0;
    char *t;
    if (!w->count || !(t = malloc(size)))
        return NULL;
    t[0] = '\0';
    for (unsigned i = 0; i < w->count; i++) {
        unsigned idx = (w->head + w->cap - w->count + i) % w->cap;
        len += (size_t)snprintf(t + len, size - len, "%s%lld", i ? "," : "",
                                (long long)mono_to_wall(w->times_ms[idx]));
    }
    return t;
}

/* A digest of the service's settings as a reload compares them (FNV-1a of
 * their JSON): a service whose settings changed while corral was down is not
 * kept where the old ones left it. Made once per config. */
const char *svc_settings_digest(struct service *svc)
{
    json_t *j;
    char *text;
    uint64_t h = 14695981039346656037ULL;
    if (svc->digest[0])
        return svc->digest;
    j = svc_settings_json(svc->cfg);
    text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    if (!text)
        return "";
    for (const char *p = text; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    free(text);
    snprintf(svc->digest, sizeof(svc->digest), "%016llx", (unsigned long long)h);
    return svc->digest;
}

static bool stop_then_start(const struct service *svc)
{
    return svc->restart_pending ||
           (svc->state == SVC_STOPPING &&
            (svc->after == AFTER_START || svc->after == AFTER_RESTART || svc->reload_restart));
}

void sup_run_get(struct sup *s, size_t i, struct sup_run *out)
{
    struct service *svc = s->svcs[i];
    memset(out, 0, sizeof(*out));
    out->runs = svc->runs;
    out->restarts = svc->restarts;
    out->exited = svc->exited;
    out->exit_code = svc->exit_code;
    out->reason = svc_reason(svc);
    out->ready = svc->state != SVC_STARTING;
    out->state = sup_state_name(svc->state);
    if (svc->state == SVC_BACKOFF && loop_timer_armed(&svc->timer))
        out->due_at_ms = mono_to_wall(svc->timer.due_ms);
    else if (svc->state == SVC_FAILED && svc->retry_pending)
        out->due_at_ms = mono_to_wall(svc->retry_due_ms);
    else if (svc->state == SVC_STOPPING && !svc->kill_sent && loop_timer_armed(&svc->timer))
        out->due_at_ms = mono_to_wall(svc->timer.due_ms); /* the stop's SIGKILL */
    out->attempt = svc->attempt;
    out->restarts_at = window_text(&svc->window);
    out->gave_up = svc->gave_up;
    out->stop_then_start = stop_then_start(svc);
    /* Only where a recovery could need it (a recall, an adoption): a
     * thousand starts under on_recover: restart make none. */
    if (svc->pid <= 0 ? svc->state == SVC_BACKOFF || svc->state == SVC_FAILED ||
                            svc->state == SVC_COMPLETED || svc->state == SVC_EXITED
                      : svc->cfg->on_recover == CFG_RECOVER_ADOPT)
        out->settings = svc_settings_digest(svc);
    if (svc->pid <= 0)
        return;
    /* Read once per run, lazily: an unreaped child's stat stays readable. */
    if (!svc->start_ticks) {
        struct proc_stat st;
        if (proc_stat_read(svc->pid, &st) == 0)
            svc->start_ticks = st.start_ticks;
    }
    out->pid = svc->pid;
    out->pgid = svc->pid; /* each run is its own session and group leader */
    out->start_ticks = svc->start_ticks;
    out->started_at_ms = utc_now_ms() - (int64_t)(loop_now_ms() - svc->started_ms);
    if (svc->cg_fd >= 0)
        contain_cg_path(svc, out->cgroup, sizeof(out->cgroup));
}

static void on_adopted_exit(struct loop *lp, int fd, uint32_t events, void *data)
{
    (void)lp;
    (void)fd;
    (void)events;
    /* Not our child: its status went to its new parent. */
    svc_main_exit(data, -1);
}

/* The recorded cgroup, if it still exists; a different place than ours
 * (corral was started from another cgroup this time) is kept by path. */
static void adopt_cgroup(struct service *svc, const char *path)
{
    char ours[PATH_MAX];
    if (!svc->sup->use_cgroup || !path[0])
        return;
    contain_cg_path(svc, ours, sizeof(ours));
    if (strcmp(ours, path) == 0) {
        /* Populated, so it exists: opened, not made (see contain_prepare). */
        svc->cg_fd =
            openat(svc->sup->cg_base_fd, svc->cfg->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return;
    }
    svc->cg_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (svc->cg_fd >= 0 && !(svc->cg_path = strdup(path))) {
        close(svc->cg_fd);
        svc->cg_fd = -1;
    }
}

static void recall_window(struct service *svc, const char *text);

/* Where the restart policy stood: backoff step, give-up window, give-up. */
static void resume_policy(struct service *svc, const struct sup_lead *lead)
{
    svc->attempt = lead->attempt;
    svc->gave_up = lead->gave_up;
    svc->unstable = lead->gave_up || lead->attempt > 0;
    svc->unstable_restarts = lead->attempt;
    recall_window(svc, lead->restarts_at);
    if (lead->reason[0])
        svc_set_reason(svc, "%s", lead->reason);
}

static int take_over(struct service *svc, const struct sup_lead *lead, int pidfd)
{
    struct sup *s = svc->sup;
    int64_t age = utc_now_ms() - lead->started_at_ms;
    svc->pidfd_watch = loop_watch_add(s->lp, pidfd, EPOLLIN, on_adopted_exit, svc);
    if (!svc->pidfd_watch)
        return -errno;
    svc_set_pid(svc, lead->pid);
    svc->pidfd = pidfd;
    svc->start_ticks = lead->start_ticks;
    svc->adopted = true;
    svc->inherited = true;
    svc->runs = lead->runs;
    svc->restarts = lead->restarts;
    svc->exited = lead->exited;
    svc->exit_code = lead->last_exit;
    svc->started_ms =
        loop_now_ms() - (age > 0 && (uint64_t)age < loop_now_ms() ? (uint64_t)age : 0);
    adopt_cgroup(svc, lead->cgroup);
    svc_set_state(svc, SVC_RUNNING);
    limits_started(svc);
    if (lead->unclean)
        resume_policy(svc, lead);
    /* Restarts since its last stable run: that run is told of once it lasts. */
    if (svc->unstable) {
        uint64_t reset = svc->cfg->restart.reset_after_ms, ran = loop_now_ms() - svc->started_ms;
        loop_timer_arm(s->lp, &svc->timer, ran < reset ? reset - ran : 0);
    }
    return 0;
}

static int stale(struct service *svc, const struct sup_lead *lead, char *why, size_t size,
                 const char *what)
{
    snprintf(why, size, "pid %d %s", (int)lead->pid, what);
    sup_emit(svc->sup, SUP_EV_STALE, svc, lead->pid, why);
    return 0;
}

/* A stop the previous corral had begun is taken up where it was: the stop
 * signal is not sent again (a second SIGTERM or SIGINT means "quit now" to
 * many programs, and its handler would run twice), SIGKILL comes when it
 * was due, and what the handler started since is spared by the sweep. */
static void stop_again(struct service *svc, const struct sup_lead *lead, enum after_stop after)
{
    int64_t left = lead->due_at_ms - utc_now_ms();
    uint64_t timeout = svc->cfg->stop.timeout_ms, began_ago;
    long hz = sysconf(_SC_CLK_TCK);
    uint64_t now_ticks = proc_boottime_ticks();
    if (!lead->unclean || strcmp(lead->state, "stopping") != 0 || !lead->due_at_ms) {
        /* Restarted as `corral restart` does it, all of them at once: what
         * depends on it and restarts too is stopped first. */
        if (after == AFTER_START)
            svc->restart_pending = true;
        else
            svc_begin_stop(svc, after);
        return;
    }
    if (left < 0)
        left = 0;
    if ((uint64_t)left > timeout)
        left = (int64_t)timeout;
    began_ago = timeout - (uint64_t)left;
    svc_resume_stop(svc, after, (uint64_t)left,
                    now_ticks - began_ago * (uint64_t)(hz > 0 ? hz : 100) / 1000);
}

int sup_recover(struct sup *s, const struct sup_lead *lead, char *why, size_t size)
{
    struct service *svc = sup_by_name(s, lead->service);
    struct proc_id id = {.pid = lead->pid, .start_ticks = lead->start_ticks};
    int fd;
    why[0] = '\0';
    if (!svc)
        return -ENOENT;
    if (svc->pid > 0 || lead->pid <= 0)
        return 0;
    if (strcmp(lead->boot_id, s->boot_id) != 0)
        return stale(svc, lead, why, size, "recorded before the last reboot");
    snprintf(id.boot_id, sizeof(id.boot_id), "%s", lead->boot_id);
    /* The pidfd first: once it is open, the identity read next is that of
     * the process it holds, or the check fails. */
    fd = proc_ident_open(&id, s->boot_id);
    if (fd < 0)
        return stale(svc, lead, why, size, "gone, or the PID now names another process");
    if (take_over(svc, lead, fd) < 0) {
        close(fd);
        return stale(svc, lead, why, size, "cannot be watched");
    }
    /* A restart that the crash cut short is finished, adopt or not: the
     * process was being stopped. */
    bool restarting = lead->unclean && lead->stop_then_start;
    /* Adopted, it would run the old settings with nothing to say so. */
    bool changed = lead->settings[0] && strcmp(lead->settings, svc_settings_digest(svc)) != 0;
    if (svc->cfg->on_recover == CFG_RECOVER_ADOPT && !svc->operator_stopped && !restarting &&
        !changed) {
        sup_emit(s, SUP_EV_ADOPTED, svc, svc->pid, NULL);
        ready_adopted(svc, lead->ready);
        return 1;
    }
    sup_emit(s, SUP_EV_RECOVERING, svc, svc->pid,
             svc->operator_stopped ? "the operator stopped it"
             : restarting          ? "to finish its restart"
             : changed             ? "to start afresh: its settings changed"
                                   : "to start afresh");
    /* It ran, so it runs again once its old tree is gone: autostart: false
     * (a service started by hand) included. */
    stop_again(svc, lead, svc->operator_stopped ? AFTER_STOPPED : AFTER_START);
    return 1;
}

/* --- recall: where a service without a process was ------------------------------- */

static void recall_window(struct service *svc, const char *text)
{
    char *end;
    while (text && *text) {
        long long t = strtoll(text, &end, 10);
        if (end == text)
            break;
        (void)sup_window_note(&svc->window, &svc->cfg->restart, wall_to_mono(t));
        text = *end == ',' ? end + 1 : end;
    }
}

/* The states a service without a process is kept in across a crash, as the
 * kind it is configured as could have reached them. */
static bool recallable(const struct service *svc, const char *name, enum svc_state *st)
{
    bool oneshot = svc->cfg->kind == CFG_KIND_ONESHOT;
    static const enum svc_state kept[] = {SVC_BACKOFF, SVC_FAILED, SVC_COMPLETED, SVC_EXITED};
    for (size_t i = 0; i < sizeof(kept) / sizeof(*kept); i++)
        if (!strcmp(name, sup_state_name(kept[i]))) {
            *st = kept[i];
            return *st == SVC_COMPLETED ? oneshot : *st == SVC_EXITED ? !oneshot : true;
        }
    return false;
}

static void rearm(struct service *svc, uint64_t due)
{
    uint64_t now = loop_now_ms();
    loop_timer_arm(svc->sup->lp, &svc->timer, due > now ? due - now : 0);
}

/* The counters it had: kept across a crash by a service kept in its state,
 * and by one the operator stopped (which stays stopped: state.db's wishes
 * say so). */
static void recall_counters(struct service *svc, const struct sup_lead *lead)
{
    svc->runs = lead->runs;
    svc->restarts = lead->restarts;
    svc->exited = lead->exited;
    svc->exit_code = lead->last_exit;
}

int sup_recall(struct sup *s, const struct sup_lead *lead)
{
    struct service *svc = sup_by_name(s, lead->service);
    enum svc_state st;
    if (!svc || !lead->unclean || lead->pid > 0 || svc->pid > 0 || svc->state != SVC_STOPPED ||
        strcmp(lead->boot_id, s->boot_id) != 0)
        return 0;
    if (svc->operator_stopped) {
        if (!strcmp(lead->state, sup_state_name(SVC_STOPPED)))
            recall_counters(svc, lead);
        return 0;
    }
    if (!recallable(svc, lead->state, &st))
        return 0;
    if (strcmp(lead->settings, svc_settings_digest(svc)) != 0)
        return -ESTALE; /* changed meanwhile: it starts afresh, as after a reload */
    recall_counters(svc, lead);
    resume_policy(svc, lead);
    svc->recalled = true;
    svc_set_state(svc, st);
    if (st == SVC_BACKOFF) {
        rearm(svc, lead->due_at_ms ? wall_to_mono(lead->due_at_ms) : 0);
    } else if (st == SVC_FAILED && lead->due_at_ms) {
        svc->retry_pending = true;
        svc->retry_due_ms = wall_to_mono(lead->due_at_ms);
        rearm(svc, svc->retry_due_ms);
    }
    return 1;
}

void sup_output_fds(const struct sup *s, size_t i, int fds[LOGS__COUNT])
{
    for (int st = 0; st < LOGS__COUNT; st++)
        fds[st] = s->svcs[i]->pipe[st];
}

int sup_adopt_output(struct sup *s, const char *service, enum logs_stream st, int fd)
{
    struct service *svc = sup_by_name(s, service);
    if (!svc || !svc->adopted || svc->pid <= 0 || svc->pipe[st] >= 0)
        return -EBUSY;
    return run_attach_pipe(svc, st, fd);
}

/* --- leftovers: a tree without its main process -------------------------------- */

struct leftover_scan {
    struct sup *s;
    size_t ghosts; /* processes of services no longer configured */
};

static void count_tagged(void *ctx, const char *service, const struct proc_member *m)
{
    struct leftover_scan *ls = ctx;
    struct service *svc = sup_by_name(ls->s, service);
    (void)m;
    if (svc)
        svc->members++;
    else
        ls->ghosts++;
}

/* Populated cgroups in our subtree of services that are not configured. */
static size_t ghost_cgroups(struct sup *s)
{
    size_t n = 0;
    struct dirent *de;
    DIR *d;
    int fd;
    if (!s->use_cgroup || (fd = dup(s->cg_base_fd)) < 0)
        return 0;
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        return 0;
    }
    while ((de = readdir(d))) {
        int cg;
        if (de->d_type != DT_DIR || de->d_name[0] == '.' || sup_by_name(s, de->d_name))
            continue;
        cg = openat(s->cg_base_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cg >= 0 && proc_cgroup_populated(cg) > 0)
            n++;
        if (cg >= 0)
            close(cg);
    }
    closedir(d);
    return n;
}

static bool has_leftover(struct service *svc)
{
    if (svc->members > 0)
        return true;
    if (!svc->sup->use_cgroup)
        return false;
    /* Opens our cgroup for the service if it exists already; a fresh one is
     * made anyway at the first start. */
    return contain_prepare(svc) == 0 && proc_cgroup_populated(svc->cg_fd) > 0;
}

int sup_recover_leftovers(struct sup *s, bool tags, size_t *ghosts)
{
    struct leftover_scan ls = {.s = s};
    int n = 0;
    for (size_t i = 0; i < s->n; i++)
        s->svcs[i]->members = 0;
    /* Reading every process's environment: needed without cgroups, where
     * the tag is all there is; with them, each tree is its cgroup. */
    if (tags || !s->use_cgroup)
        (void)proc_tree_scan(s->instance, count_tagged, &ls);
    *ghosts = ls.ghosts + ghost_cgroups(s);
    for (size_t i = 0; i < s->n; i++) {
        struct service *svc = s->svcs[i];
        if (svc->pid > 0 || svc->state != SVC_STOPPED || !has_leftover(svc))
            continue;
        sup_emit(s, SUP_EV_RECOVERING, svc, 0, NULL);
        svc->inherited = true;
        svc_begin_stop(svc, AFTER_STOPPED);
        n++;
    }
    return n;
}
