/* supervisor/sup.c — the service state machine: start in dependency order,
 * reap, restart with backoff, stop in reverse order, and declare a stop done
 * only when the tree is empty. Every transition goes through set_state(). */
#include "supervisor/sup.h"

#include "health/http.h"
#include "logs/ring.h"
#include "proc/ident.h"
#include "proc/scan.h"
#include "proc/spawn.h"
#include "supervisor/internal.h"
#include "supervisor/ports.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define REAP_BATCH 64 /* the reap queue's first size, and the most it keeps when idle */

static const char *const state_names[SVC__COUNT] = {
    [SVC_STARTING] = "starting",   [SVC_STOPPED] = "stopped", [SVC_WAITING] = "waiting",
    [SVC_RUNNING] = "running",     [SVC_BACKOFF] = "backoff", [SVC_STOPPING] = "stopping",
    [SVC_COMPLETED] = "completed", [SVC_EXITED] = "exited",   [SVC_FAILED] = "failed",
    [SVC_BLOCKED] = "blocked",     [SVC_READY] = "ready",     [SVC_UNHEALTHY] = "unhealthy",
};

const char *sup_state_name(enum svc_state st)
{
    return st < SVC__COUNT ? state_names[st] : "?";
}

bool sup_state_up(enum svc_state st)
{
    return st == SVC_STARTING || st == SVC_RUNNING || st == SVC_READY || st == SVC_UNHEALTHY;
}

bool sup_state_name_has_tree(const char *name)
{
    for (int st = 0; st < SVC__COUNT; st++)
        if (!strcmp(state_names[st], name))
            return sup_state_up((enum svc_state)st) || st == SVC_STOPPING;
    return false;
}

bool svc_up(const struct service *svc)
{
    return sup_state_up(svc->state);
}

/* An event about svc (NULL: corral-wide) with the details every one carries. */
struct sup_event svc_event(enum sup_event_kind kind, const struct service *svc, pid_t pid,
                           const char *text)
{
    struct sup_event ev = {
        .kind = kind,
        .service = svc ? svc->cfg->name : NULL,
        .pid = pid,
        .exit_code = svc ? svc->exit_code : 0,
        .text = text,
        .restarts = svc ? svc->restarts : 0,
        .retry_in_ms = svc ? svc_retry_in_ms(svc) : -1,
    };
    return ev;
}

static void say_held(struct sup *s, struct service *svc, enum sup_event_kind kind)
{
    struct sup_event ev = svc_event(kind, svc, svc->pid, NULL);
    s->n_unsaid--;
    if (s->h.on_event)
        s->h.on_event(s->h.ctx, &ev);
}

/* The started and stopping events a pass held back, each in its pass's
 * order: before any other event, so that none reads as if it came first. */
void sup_say_unsaid(struct sup *s)
{
    const size_t *order = s->m->start_order;
    for (size_t k = 0; k < s->n && s->n_unsaid > 0; k++) {
        struct service *svc = s->svcs[order[k]];
        if (svc->start_unsaid) {
            svc->start_unsaid = false;
            say_held(s, svc, SUP_EV_STARTED);
        }
    }
    for (size_t k = s->n; k-- > 0 && s->n_unsaid > 0;) {
        struct service *svc = s->svcs[order[k]];
        if (svc->stop_unsaid) {
            svc->stop_unsaid = false;
            say_held(s, svc, SUP_EV_STOPPING);
        }
    }
}

void sup_emit_started(struct service *svc)
{
    struct sup *s = svc->sup;
    if (!s->starting) {
        sup_emit(s, SUP_EV_STARTED, svc, svc->pid, NULL);
        return;
    }
    svc->start_unsaid = true;
    s->n_unsaid++;
}

void sup_emit_event(struct sup *s, const struct sup_event *ev)
{
    if (s->n_unsaid > 0)
        sup_say_unsaid(s);
    if (s->h.on_event)
        s->h.on_event(s->h.ctx, ev);
}

void sup_emit(struct sup *s, enum sup_event_kind kind, const struct service *svc, pid_t pid,
              const char *text)
{
    struct sup_event ev = svc_event(kind, svc, pid, text);
    sup_emit_event(s, &ev);
}

void sup_kick(struct sup *s)
{
    if (!loop_timer_armed(&s->kick))
        loop_timer_arm(s->lp, &s->kick, 0);
}

void sup_want_check(struct sup *s, uint64_t delay_ms)
{
    if (!loop_timer_armed(&s->check) || s->check.due_ms > loop_now_ms() + delay_ms)
        loop_timer_arm(s->lp, &s->check, delay_ms);
}

static void set_state(struct service *svc, enum svc_state st)
{
    if (svc->state != st)
        svc->state_ms = loop_now_ms();
    svc->state = st;
    sup_kick(svc->sup);
}

void svc_set_state(struct service *svc, enum svc_state st)
{
    set_state(svc, st);
}

/* Allocated only when there is one: an idle thousand services have none, and
 * a buffer in each service was a quarter of a megabyte resident. Formatted
 * aside first: the arguments may be the reason itself. */
static void set_reason_v(struct service *svc, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void set_reason_v(struct service *svc, const char *fmt, va_list ap)
{
    char reason[SUP_REASON_MAX];
    vsnprintf(reason, sizeof(reason), fmt, ap);
    free(svc->reason);
    svc->reason = reason[0] ? strdup(reason) : NULL;
}

void svc_set_reason(struct service *svc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_reason_v(svc, fmt, ap);
    va_end(ap);
}

const char *svc_reason(const struct service *svc)
{
    return svc->reason ? svc->reason : "";
}

void svc_fail(struct service *svc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_reason_v(svc, fmt, ap);
    va_end(ap);
    set_state(svc, SVC_FAILED);
    sup_emit(svc->sup, SUP_EV_FAILED, svc, 0, svc_reason(svc));
}

static int cmp_name(const void *a, const void *b, void *arg)
{
    struct service *const *svcs = arg;
    return strcmp(svcs[*(const size_t *)a]->cfg->name, svcs[*(const size_t *)b]->cfg->name);
}

struct service *sup_by_name(struct sup *s, const char *name)
{
    size_t lo = 0;
    size_t hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, s->svcs[s->by_name[mid]]->cfg->name);
        if (c == 0)
            return s->svcs[s->by_name[mid]];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

struct service *sup_by_main(const struct sup *s, pid_t pid)
{
    struct service *svc = pidmap_get(&s->mains, pid);
    if (svc && svc->pid == pid)
        return svc;
    /* Only once the map could not grow: it holds every main otherwise. */
    if (s->mains_partial)
        for (size_t i = 0; i < s->n; i++)
            if (s->svcs[i]->pid == pid)
                return s->svcs[i];
    return NULL;
}

void svc_set_pid(struct service *svc, pid_t pid)
{
    struct sup *s = svc->sup;
    if (svc->pid && pidmap_get(&s->mains, svc->pid) == svc)
        pidmap_del(&s->mains, svc->pid);
    svc->pid = pid;
    if (pid && pidmap_put(&s->mains, pid, svc) < 0)
        s->mains_partial = true;
}

/* --- exits and stops ------------------------------------------------------------ */

static void describe_exit(int code, char *buf, size_t size)
{
    if (code < 0)
        snprintf(buf, size, "exited, status unknown (adopted: not a child of this corral)");
    else if (code > 128 && code < 128 + NSIG)
        snprintf(buf, size, "killed by SIG%s", cfg_signal_name(code - 128));
    else
        snprintf(buf, size, "exited %d", code);
}

static void on_timer(struct loop *lp, void *data);

static void start_backoff(struct service *svc)
{
    struct sup *s = svc->sup;
    uint64_t delay;
    struct sup_event ev;
    s->rng = s->rng * 1664525u + 1013904223u;
    delay = sup_backoff_ms(&svc->cfg->restart, svc->attempt, s->rng);
    if (svc->attempt < 64)
        svc->attempt++;
    svc->restarts++;
    svc->unstable = true;
    svc->unstable_restarts++;
    set_state(svc, SVC_BACKOFF);
    loop_timer_arm(s->lp, &svc->timer, delay);
    ev = svc_event(SUP_EV_RESTARTING, svc, 0, svc_reason(svc));
    ev.delay_ms = delay;
    sup_emit_event(s, &ev);
}

/* Why a stop ended: the event's reason. */
static const char *stop_why(const struct service *svc)
{
    if (svc->sup->shutting_down)
        return "corral is shutting down";
    if (svc->reload_stop)
        return "a reload changed or removed it";
    if (svc->operator_stopped)
        return "stopped by the operator";
    return "stopped";
}

/* The tree is verifiably empty: finish whatever the stop was for. */
void svc_tree_empty(struct service *svc)
{
    bool fault = svc->fault_stop;
    svc->fault_stop = false;
    loop_timer_disarm(svc->sup->lp, &svc->timer);
    run_close_pipes(svc);
    run_say_lost(svc);
    svc->adopted = false;
    svc->inherited = false;
    /* A previous corral's cgroup, or one cgroup.kill was written to (see
     * contain_prepare): the next run gets a fresh one. */
    if (svc->cg_path || svc->kill_sent)
        contain_release(svc);
    svc->kill_sent = false;
    svc->term_swept = false;
    switch (svc->after) {
    case AFTER_STOPPED:
        set_state(svc, SVC_STOPPED);
        sup_emit(svc->sup, SUP_EV_STOPPED, svc, 0, stop_why(svc));
        break;
    case AFTER_RESTART:
        if (svc->sup->shutting_down || svc->want_stop) {
            set_state(svc, SVC_STOPPED);
            sup_emit(svc->sup, SUP_EV_STOPPED, svc, 0, stop_why(svc));
        } else {
            /* A run that a fault stopped ended without an exit of its own
             * to tell of it: the history says where it ended. */
            if (fault)
                sup_emit(svc->sup, SUP_EV_STOPPED, svc, 0, svc_reason(svc));
            start_backoff(svc);
        }
        break;
    case AFTER_COMPLETED:
        set_state(svc, SVC_COMPLETED);
        sup_emit(svc->sup, SUP_EV_COMPLETED, svc, 0, NULL);
        break;
    case AFTER_EXITED:
        set_state(svc, SVC_EXITED);
        break;
    case AFTER_FAILED:
        if (fault)
            sup_emit(svc->sup, SUP_EV_STOPPED, svc, 0, svc_reason(svc));
        if (svc->giving_up)
            svc_give_up(svc);
        else
            svc_fail(svc, "%s", svc_reason(svc));
        break;
    case AFTER_START:
        if (svc->sup->shutting_down || svc->want_stop) {
            set_state(svc, SVC_STOPPED);
            sup_emit(svc->sup, SUP_EV_STOPPED, svc, 0, stop_why(svc));
        } else {
            /* The old run's end is in the history too, not only the new start. */
            sup_emit(svc->sup, SUP_EV_STOPPED, svc, 0, "stopped to start again");
            svc_set_reason(svc, "%s", ""); /* an earlier exit's: not why it runs now */
            svc->attempt = 0;
            set_state(svc, SVC_WAITING);
        }
        break;
    case AFTER__COUNT:
        break;
    }
}

void svc_begin_stop(struct service *svc, enum after_stop after)
{
    struct sup *s = svc->sup;
    ready_run_over(svc);
    svc->after = after;
    set_state(svc, SVC_STOPPING);
    svc->stop_ms = loop_now_ms();
    svc->stop_ticks = proc_boottime_ticks();
    svc->term_swept = false;
    svc->signalled_pgid = 0;
    contain_signal(svc, svc->cfg->stop.signal);
    loop_timer_arm(s->lp, &svc->timer, svc->cfg->stop.timeout_ms);
    sup_want_check(s, 0);
}

void svc_resume_stop(struct service *svc, enum after_stop after, uint64_t left_ms,
                     uint64_t began_ticks)
{
    struct sup *s = svc->sup;
    ready_run_over(svc);
    svc->after = after;
    set_state(svc, SVC_STOPPING);
    svc->stop_ms = loop_now_ms() - (svc->cfg->stop.timeout_ms - left_ms);
    svc->stop_ticks = began_ticks;
    svc->term_swept = false;
    svc->signalled_pgid = 0;
    loop_timer_arm(s->lp, &svc->timer, left_ms);
    sup_want_check(s, 0);
}

/* why: NULL when the stop timed out, else what asked for it. */
static void kill_tree(struct service *svc, const char *why)
{
    if (svc->kill_sent)
        return;
    svc->kill_sent = true;
    svc->kill_ms = loop_now_ms();
    sup_emit(svc->sup, SUP_EV_KILLING, svc, svc->pid, why);
    contain_signal(svc, SIGKILL);
    sup_want_check(svc->sup, 0);
}

/* Decide what a main-process exit leads to, per kind and restart policy. */
static enum after_stop after_exit(struct service *svc, int code)
{
    const struct cfg_service *c = svc->cfg;
    struct sup *s = svc->sup;
    bool restart = sup_should_restart(&c->restart, c->kind, code);
    if (c->kind == CFG_KIND_ONESHOT && !restart && sup_exit_success(&c->restart, code))
        return AFTER_COMPLETED;
    if (!s->shutting_down && !svc->want_stop && restart) {
        unsigned n = sup_window_note(&svc->window, &c->restart, loop_now_ms());
        if (!sup_window_exceeded(&c->restart, n))
            return AFTER_RESTART;
        char last[SUP_REASON_MAX], counted[128];
        snprintf(last, sizeof(last), "%s", svc_reason(svc));
        sup_giveup_text(&c->restart, n - 1, counted, sizeof(counted));
        svc_set_reason(svc, "gave up after %s (last: %s)", counted, last);
        svc->giving_up = true;
        return AFTER_FAILED;
    }
    /* A stop was asked for and the exit came first: it ends stopped all the
     * same, not "exited", as if the stop signal had done it. */
    if (svc->want_stop)
        return AFTER_STOPPED;
    if (c->kind == CFG_KIND_ONESHOT)
        return AFTER_FAILED;
    /* Not restarted by its policy, it is "exited", not given up on; a run
     * that did not succeed still makes corral's exit status say so
     * (sup_any_failed()). */
    return AFTER_EXITED;
}

enum after_stop svc_after_fault(struct service *svc)
{
    enum after_stop after = after_exit(svc, 1);
    /* A service that was not ready in time or hung did not just end: with no
     * restart it is failed, not exited. */
    return after == AFTER_EXITED ? AFTER_FAILED : after;
}

void svc_main_exit(struct service *svc, int code)
{
    uint64_t ran_ms = loop_now_ms() - svc->started_ms;
    /* Said while the run they tell of is still the service's: its PID. */
    if (svc->sup->n_unsaid > 0)
        sup_say_unsaid(svc->sup);
    ready_run_over(svc);
    svc->main_not_leader = false;
    loop_watch_del(svc->sup->lp, svc->pidfd_watch);
    svc->pidfd_watch = NULL;
    close(svc->pidfd);
    svc->pidfd = -1;
    svc_set_pid(svc, 0);
    svc->start_ticks = 0;
    health_files_close_proc(&svc->files); /* kept open for stats, on a process now gone */
    /* An adopted process we stopped ended as asked; its status is unknown. */
    if (code >= 0 || svc->state != SVC_STOPPING) {
        svc->exit_code = code;
        svc->exited = true;
    }
    /* Also here, for a run whose stability timer had no chance to fire. */
    if (sup_run_stable(&svc->cfg->restart, ran_ms))
        svc_run_stable(svc);
    if (svc->state == SVC_STOPPING) {
        limits_exited(svc, code);
        sup_want_check(svc->sup, 0);
        return;
    }
    if (!svc->exec_failed) {
        char how[96];
        describe_exit(code, how, sizeof(how));
        svc_set_reason(svc, "%s", how);
    }
    limits_exited(svc, code);
    svc->exec_failed = false;
    run_take_output(svc);
    struct sup_event ev = svc_event(SUP_EV_EXITED, svc, 0, svc_reason(svc));
    ev.ran_ms = ran_ms;
    sup_emit_event(svc->sup, &ev);
    svc->after = after_exit(svc, code);
    if (contain_leftover(svc)) {
        sup_emit(svc->sup, SUP_EV_LEFTOVER, svc, 0, NULL);
        svc_begin_stop(svc, svc->after);
        return;
    }
    svc_tree_empty(svc);
}

static void spawn_now(struct service *svc)
{
    struct diag dg;
    if (ports_check(svc) > 0) {
        set_state(svc, SVC_BLOCKED);
        ports_blocked(svc);
        return;
    }
    diag_clear(&dg);
    svc->started_ms = loop_now_ms();
    svc->exec_failed = false;
    svc->adopted = false;
    svc->inherited = false;
    svc->start_ticks = 0;
    svc->runs++;
    if (run_spawn(svc, &dg) < 0) {
        /* Nothing ran: treat it as a run that failed at once, so the restart
         * policy (and its give-up) applies exactly as to an exit. */
        svc_set_reason(svc, "%s", dg.msg);
        svc->exit_code = 127;
        svc->exited = true;
        sup_emit(svc->sup, SUP_EV_EXITED, svc, 0, svc_reason(svc));
        svc->after = after_exit(svc, 127);
        svc_tree_empty(svc);
        return;
    }
    /* The rest once its exec is known: sup_spawn_settle(). */
}

void sup_spawn_settle_one(struct sup *s)
{
    struct service *svc = run_spawn_finish(s);
    if (!svc)
        return;
    if (svc->exec_failed) {
        set_state(svc, SVC_STARTING); /* its exit (127) reports the reason */
        return;
    }
    ready_spawned(svc);
    limits_started(svc);
    hung_started(svc);
    /* Only a service that has been restarting needs to hear that it is
     * stable again: the others cost no timer. */
    if (svc->unstable)
        loop_timer_arm(svc->sup->lp, &svc->timer, svc->cfg->restart.reset_after_ms);
}

void sup_spawn_settle_until(struct sup *s, const struct service *svc)
{
    while (svc->spawning)
        sup_spawn_settle_one(s);
}

void sup_spawn_settle(struct sup *s)
{
    while (s->n_spawning > 0)
        sup_spawn_settle_one(s);
}

static void on_timer(struct loop *lp, void *data)
{
    struct service *svc = data;
    (void)lp;
    if (svc->state == SVC_BACKOFF || svc->state == SVC_BLOCKED) {
        spawn_now(svc);
        sup_spawn_settle(svc->sup);
    } else if (svc->state == SVC_STOPPING)
        kill_tree(svc, NULL);
    else if (svc->state == SVC_FAILED && svc->retry_pending)
        svc_retry_now(svc);
    else if ((svc->state == SVC_RUNNING || svc->state == SVC_READY) && svc->unstable)
        svc_run_stable(svc);
}

bool sup_model_limits_cpu(const struct cfg_model *m)
{
    for (size_t i = 0; i < m->n_services; i++)
        if (m->services[i].limits.cpu_time_ms)
            return true;
    return false;
}

void sup_own_helper(struct sup *s, pid_t pid)
{
    for (size_t i = 0; pid > 0 && i < SUP_HELPERS; i++)
        if (!s->helpers[i]) {
            s->helpers[i] = pid;
            return;
        }
}

static bool is_helper(const struct sup *s, pid_t pid)
{
    for (size_t i = 0; i < SUP_HELPERS; i++)
        if (s->helpers[i] == pid)
            return true;
    return false;
}

static bool handed_over(const struct sup *s, pid_t pid)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->svcs[i]->main_not_leader && s->svcs[i]->run_pgid == pid)
            return true;
    return false;
}

static void reaped(struct sup *s, const struct sup_exit *e)
{
    const siginfo_t *si = &e->si;
    struct service *svc = sup_by_main(s, si->si_pid);
    if (svc) {
        svc->exit_cpu_ms = e->cpu_ms;
        svc_main_exit(svc, sup_exit_code(si->si_code, si->si_status));
    } else if (sup_deliver_claimed(s, si)) {
        return;
    } else if (ready_reaped(s, si->si_pid, sup_exit_code(si->si_code, si->si_status))) {
        return; /* an exec probe's */
    } else if (handed_over(s, si->si_pid)) {
        return; /* a run's first main process, after MAINPID= named another */
    } else if (e->owner_stopping) {
        return; /* ended by its service's stop, which accounts for its tree */
    } else if (s->h.on_event) {
        /* An orphaned descendant, reparented to us as subreaper: reaped
         * above so it never lingers as a zombie; its tree's check follows. */
        struct sup_event ev = {.kind = SUP_EV_REAPED,
                               .pid = si->si_pid,
                               .exit_code = sup_exit_code(si->si_code, si->si_status),
                               .text = e->owner[0] ? e->owner : NULL};
        s->h.on_event(s->h.ctx, &ev);
    }
}

void sup_note_hook_leader(struct sup *s, pid_t leader)
{
    if (s->n_hook_leaders == SUP_HOOK_LEADERS)
        memmove(s->hook_leaders, s->hook_leaders + 1,
                --s->n_hook_leaders * sizeof(*s->hook_leaders));
    s->hook_leaders[s->n_hook_leaders++] = leader;
}

static bool known_child(const struct sup *s, pid_t pid)
{
    if (is_helper(s, pid))
        return true;
    for (size_t i = 0; i < s->n_claims; i++)
        if (s->claims[i].pid == pid)
            return true;
    return sup_by_main(s, pid) != NULL;
}

/* A zombie that was part of a hook run's tree: in its cgroup, or in the
 * session its main process leads (a zombie keeps both). Hooks are not
 * services: what they leave is no service's orphan, and a hook on `reaped`
 * that left a child would otherwise run itself again for ever. */
static bool hook_leftover(const struct sup *s, pid_t pid)
{
    char path[64], text[1024];
    struct proc_stat st;
    if (s->use_cgroup) {
        snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
        if (proc_read_at(AT_FDCWD, path, text, sizeof(text)) > 0 && strstr(text, "/.hook-"))
            return true;
    }
    if (pid_ring_has(&s->hook_left, pid))
        return true;
    if (proc_stat_read(pid, &st) < 0)
        return false;
    for (size_t i = 0; i < s->n_hook_leaders; i++)
        if (st.sid == s->hook_leaders[i])
            return true;
    return false;
}

/* waitid() taking the exit, with its CPU time when asked for: the system
 * call has the rusage argument glibc's wrapper leaves out. */
static bool take_exit(struct sup *s, idtype_t type, pid_t pid, struct sup_exit *e)
{
    struct rusage ru;
    e->cpu_ms = 0;
    if (!s->want_cpu)
        return waitid(type, (id_t)pid, &e->si, WEXITED | WNOHANG) == 0 && e->si.si_pid != 0;
    if (syscall(SYS_waitid, type, (id_t)pid, &e->si, WEXITED | WNOHANG, &ru) != 0 ||
        e->si.si_pid == 0)
        return false;
    e->cpu_ms = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
                (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
    return true;
}

/* The service whose tree an unknown process (a zombie) was in, by its cgroup,
 * else by its process group or session (which a zombie keeps). */
static void orphan_owner(struct sup *s, pid_t pid, struct sup_exit *e)
{
    const struct service *o = NULL;
    struct proc_stat st;
    if (s->use_cgroup) {
        contain_cgroup_owner(s, pid, e->owner, sizeof(e->owner));
        o = e->owner[0] ? sup_by_name(s, e->owner) : NULL;
    } else if (proc_stat_read(pid, &st) == 0) {
        for (size_t i = 0; i < s->n && !o; i++)
            if (s->svcs[i]->run_pgid > 0 &&
                (s->svcs[i]->run_pgid == st.pgid || s->svcs[i]->run_pgid == st.sid))
                o = s->svcs[i];
    }
    if (!o) {
        e->owner[0] = '\0';
        e->owner_stopping = pid_ring_has(&s->stop_hit, pid); /* out of its group: by its tag */
        return;
    }
    snprintf(e->owner, sizeof(e->owner), "%s", o->cfg->name);
    /* A tree exists only while its service is up or stopping: one that is
     * neither has had its stop (the process died in it, unreaped till now). */
    e->owner_stopping = !sup_state_up(o->state);
}

/* The next exit, taken from the kernel; false when there is none. An exit is
 * first looked at (WNOWAIT): a process no part of corral knows is an orphan,
 * whose service is found while /proc still shows it; a hook's leftover is
 * taken without being handed on: *report false. */
static bool reap_next(struct sup *s, struct sup_exit *e, bool *report)
{
    pid_t pid;
    *report = true;
    memset(e, 0, sizeof(*e));
    if (waitid(P_ALL, 0, &e->si, WEXITED | WNOHANG | WNOWAIT) < 0 || e->si.si_pid == 0)
        return false;
    pid = e->si.si_pid;
    memset(e, 0, sizeof(*e));
    if (!known_child(s, pid)) {
        *report = !s->n_hook_leaders || !hook_leftover(s, pid);
        if (*report)
            orphan_owner(s, pid, e);
    }
    return take_exit(s, P_PID, pid, e);
}

/* Take every exit the kernel has, without handling any: a zombie goes at
 * once, and what it means is thought about after (sup_reap). The queue grows
 * as needed; without memory, what is there is handled first. */
void sup_reap_only(struct sup *s)
{
    for (;;) {
        struct sup_exit e;
        bool report;
        if (s->n_reaped == s->cap_reaped) {
            size_t cap = s->cap_reaped ? s->cap_reaped * 2 : REAP_BATCH;
            struct sup_exit *q = realloc(s->reaped, cap * sizeof(*q));
            if (!q)
                return;
            s->reaped = q;
            s->cap_reaped = cap;
        }
        if (!reap_next(s, &e, &report))
            return;
        for (size_t i = 0; i < SUP_HELPERS; i++)
            if (s->helpers[i] == e.si.si_pid) {
                /* corral's own, no orphan; its going is seen by its owner.
                 * Its PID is free for reuse from now on. */
                s->helpers[i] = 0;
                report = false;
            }
        if (report)
            s->reaped[s->n_reaped++] = e;
    }
}

bool sup_reap_queued(const struct sup *s, pid_t pid)
{
    for (size_t i = 0; i < s->n_reaped; i++)
        if (s->reaped[i].si.si_pid == pid)
            return true;
    return false;
}

void sup_reap(struct sup *s)
{
    if (s->reaping) {
        sup_reap_only(s); /* the outer call handles them */
        return;
    }
    s->reaping = true;
    for (;;) {
        sup_reap_only(s);
        if (!s->n_reaped)
            break;
        /* Handling may reap more (a nested call): the queue is read afresh. */
        for (size_t i = 0; i < s->n_reaped; i++) {
            struct sup_exit e = s->reaped[i];
            reaped(s, &e);
        }
        s->n_reaped = 0;
    }
    s->reaping = false;
    /* A burst of a thousand exits must not keep its queue resident. */
    if (s->cap_reaped > REAP_BATCH) {
        free(s->reaped);
        s->reaped = NULL;
        s->cap_reaped = 0;
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->svcs[i]->state == SVC_STOPPING) {
            sup_want_check(s, 0);
            break;
        }
}

/* --- ordering -------------------------------------------------------------------- */

bool sup_dep_met(const struct service *dep, enum cfg_dep_cond cond)
{
    switch (cond) {
    case CFG_DEP_COMPLETED:
        return dep->state == SVC_COMPLETED;
    case CFG_DEP_READY:
        /* RUNNING is ready for ready: started; unhealthy is still a service
         * that became ready. */
        return dep->state == SVC_RUNNING || dep->state == SVC_READY || dep->state == SVC_UNHEALTHY;
    case CFG_DEP_HEALTHY:
        return dep->state == SVC_RUNNING || dep->state == SVC_READY;
    case CFG_DEP_STARTED:
    case CFG_DEP__COUNT:
        break;
    }
    return (svc_up(dep) && !dep->exec_failed) || dep->state == SVC_COMPLETED;
}

/* A dependency that can no longer become met. */
static bool dep_dead(const struct service *dep, enum cfg_dep_cond cond)
{
    switch (dep->state) {
    case SVC_FAILED:
        /* It gave up, but tries again: wait for that, not fail with it. */
        return !dep->retry_pending;
    case SVC_STOPPED:
        /* Stopped for a pending reload that changed it: it comes back once
         * the reload is done, and what waits for it waits on. */
        return !dep->reload_stop;
    case SVC_EXITED:
        return true;
    case SVC_COMPLETED:
        return cond != CFG_DEP_COMPLETED && cond != CFG_DEP_STARTED;
    case SVC_WAITING:
    case SVC_STARTING:
    case SVC_RUNNING:
    case SVC_READY:
    case SVC_UNHEALTHY:
    case SVC_BACKOFF:
    case SVC_BLOCKED:
    case SVC_STOPPING:
    case SVC__COUNT:
        return false;
    }
    return false;
}

static void try_start(struct service *svc)
{
    const struct cfg_service *c = svc->cfg;
    for (size_t d = 0; d < c->n_deps; d++) {
        const struct service *dep = svc->sup->svcs[c->deps[d].index];
        sup_spawn_settle_until(svc->sup, dep); /* whether it runs decides */
        if (dep_dead(dep, c->deps[d].cond)) {
            /* A retry after a give-up that finds its dependency dead waits
             * for the next one: the dependency may come back meanwhile. */
            if (svc->gave_up)
                retry_arm(svc);
            svc_fail(svc, "dependency '%s' %s%s%s", dep->cfg->name, sup_state_name(dep->state),
                     svc_reason(dep)[0] ? ": " : "", svc_reason(dep));
            return;
        }
        /* Met now, but about to be restarted: its next run is the one. */
        if (!sup_dep_met(dep, c->deps[d].cond) || dep->restart_pending)
            return;
    }
    spawn_now(svc);
}

static bool is_live(const struct service *svc)
{
    return svc_up(svc) || svc->state == SVC_STOPPING;
}

/* For each service, how many live services depend on it. Counted once per
 * pass (asking per service was O(N^2): 1,000,000 steps to stop 1,000): a pass
 * only moves services into STOPPING, which still counts as live. */
static void count_live_dependants(struct sup *s)
{
    memset(s->live_dependants, 0, s->n * sizeof(*s->live_dependants));
    for (size_t i = 0; i < s->n; i++) {
        const struct service *o = s->svcs[i];
        if (!is_live(o))
            continue;
        for (size_t d = 0; d < o->cfg->n_deps; d++) {
            size_t idx = o->cfg->deps[d].index;
            /* A service stopped for a reload or a restart waits only for
             * dependants that are stopped too (for the reload, the restart,
             * or by the operator meanwhile); the others keep running across
             * its restart. */
            bool alone = s->svcs[idx]->reload_stop || s->svcs[idx]->restart_pending;
            if (!alone || o->reload_stop || o->restart_pending || o->want_stop ||
                o->state == SVC_STOPPING)
                s->live_dependants[idx]++;
        }
    }
}

/* A restart asked for while the service ran, that finds it no longer up:
 * whatever it went through meanwhile, it is started again now. */
static void restart_idle(struct service *svc)
{
    svc->restart_pending = false;
    if (svc->state == SVC_STOPPING) {
        if (svc->after != AFTER_RESTART)
            svc->after = AFTER_START;
        return;
    }
    make_waiting(svc);
}

static void try_stop(struct service *svc, size_t idx)
{
    struct sup *s = svc->sup;
    bool restart = svc->restart_pending && !svc->want_stop;
    if (restart && !svc_up(svc)) {
        restart_idle(svc);
        return;
    }
    svc->restart_pending = restart; /* a stop asked for since wins */
    switch (svc->state) {
    case SVC_WAITING:
    case SVC_BACKOFF:
    case SVC_BLOCKED:
        loop_timer_disarm(s->lp, &svc->timer);
        ports_unblock(svc);
        svc->want_stop = false;
        set_state(svc, SVC_STOPPED);
        sup_emit(s, SUP_EV_STOPPED, svc, 0, stop_why(svc));
        return;
    case SVC_STARTING:
    case SVC_RUNNING:
    case SVC_READY:
    case SVC_UNHEALTHY:
        if (s->live_dependants[idx] > 0)
            return;
        svc->want_stop = false;
        svc->restart_pending = false;
        svc_begin_stop(svc, restart ? AFTER_START : AFTER_STOPPED);
        svc->stop_unsaid = true; /* announced once the whole pass has signalled */
        s->n_unsaid++;
        return;
    case SVC_STOPPING:
        svc->after = AFTER_STOPPED;
        svc->want_stop = false;
        return;
    case SVC_FAILED:
        svc->want_stop = false;
        /* An operator's stop of a service waiting to retry ends the wait:
         * it is stopped now, as asked. */
        if (retry_cancel(svc) && !s->shutting_down && !svc->reload_stop) {
            set_state(svc, SVC_STOPPED);
            sup_emit(s, SUP_EV_STOPPED, svc, 0, "stopped by the operator (no retry)");
        }
        return;
    case SVC_STOPPED:
    case SVC_COMPLETED:
    case SVC_EXITED:
    case SVC__COUNT:
        svc->want_stop = false;
        return;
    }
}

static bool services_settled(const struct sup *s);

/* One forward pass starts what can start (start_order is topological, so a
 * chain of "started" dependencies goes in one pass); one more pass stops what
 * no live dependant needs any more (a chain of them over several passes, each
 * after the exits that free the next). */
static void advance(struct loop *lp, void *data)
{
    struct sup *s = data;
    const size_t *order = s->m->start_order;
    (void)lp;
    /* Every spawn of the pass first, the events after, as for stops. */
    s->starting = true;
    for (size_t k = 0; k < s->n; k++) {
        struct service *svc = s->svcs[order[k]];
        if (svc->state == SVC_WAITING && !svc->want_stop)
            try_start(svc);
    }
    sup_spawn_settle(s);
    s->starting = false;
    for (size_t k = 0; k < s->n; k++)
        if (s->svcs[k]->want_stop || s->svcs[k]->restart_pending) {
            count_live_dependants(s);
            break;
        }
    /* Every stop signal of the pass first, the events after: the last tree
     * of a thousand is not kept waiting for the others' announcements. The
     * order within a pass is free (a service with a live dependant waits for
     * a later pass), so it is the order of the spawns: the kernel lists our
     * children oldest first, and waitid(P_ALL) walks that list up to the
     * first zombie. Signalled newest first, a stop of 1000 walked ~500,000
     * entries to reap them. */
    for (size_t k = 0; k < s->n; k++) {
        struct service *svc = s->svcs[order[k]];
        if (svc->want_stop || svc->restart_pending)
            try_stop(svc, order[k]);
    }
    if (!s->hold_events)
        sup_say_unsaid(s);
    if (s->next_m && !s->shutting_down && reload_stopped(s))
        reload_swap(s);
    if (!loop_timer_armed(&s->kick) && sup_settled(s) && s->h.on_settled) {
        s->h.on_settled(s->h.ctx);
    } else if (logs_ring_busy(s->logs_ring) && !s->logs_abandoned) {
        s->logs_unsettled = true; /* ask again when they are written */
        if (services_settled(s))
            run_logs_wait(s);
    }
}

static void on_check(struct loop *lp, void *data)
{
    (void)lp;
    contain_check(data);
}

/* --- public ------------------------------------------------------------------------ */

void sup_logs_dir_renew(struct sup *s)
{
    char path[PATH_MAX];
    struct stat st;
    int fd;
    if (s->logs_fd < 0 || (fstat(s->logs_fd, &st) == 0 && st.st_nlink > 0))
        return;
    /* Removed while corral runs: made again, on the same descriptor, which
     * every log sink borrows. */
    snprintf(path, sizeof(path), "%s/logs", s->m->state_dir);
    if (mkdir(path, 0750) < 0 && errno != EEXIST)
        return;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    (void)dup3(fd, s->logs_fd, O_CLOEXEC);
    close(fd);
}

int sup_logs_dir(struct sup *s)
{
    char path[PATH_MAX];
    if (s->logs_fd >= 0)
        return s->logs_fd;
    snprintf(path, sizeof(path), "%s/logs", s->m->state_dir);
    if (mkdir(path, 0750) < 0 && errno != EEXIST)
        return -errno;
    s->logs_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return s->logs_fd >= 0 ? s->logs_fd : -errno;
}

/* Each log file is created at its service's first output, and logs/ with the
 * first of them (making a directory is among the costliest steps of a
 * start): say now, not then, that none can be. */
static int make_dirs(struct sup *s, struct diag *dg)
{
    char path[PATH_MAX];
    int r;
    if (mkdir(s->m->state_dir, 0750) < 0 && errno != EEXIST) {
        diag_set(dg, -errno, "cannot create state directory %s: %s", s->m->state_dir,
                 strerror(errno));
        return -errno;
    }
    /* "logs/." is ENOTDIR when logs is a file; missing, it is made where
     * the check falls back to. */
    snprintf(path, sizeof(path), "%s/logs/.", s->m->state_dir);
    r = faccessat(AT_FDCWD, path, W_OK | X_OK, AT_EACCESS);
    if (r < 0 && errno == ENOENT) {
        struct stat st;
        /* A symlink to nowhere is no directory to be made: mkdir says
         * EEXIST and every byte would be lost. */
        path[strlen(path) - 2] = '\0';
        if (lstat(path, &st) == 0) {
            diag_set(dg, -ENOENT,
                     "cannot write log files in %s: it is a symlink to a missing "
                     "directory",
                     path);
            return -ENOENT;
        }
        strcat(path, "/.");
        r = faccessat(AT_FDCWD, s->m->state_dir, W_OK | X_OK, AT_EACCESS);
    }
    if (r < 0) {
        r = -errno;
        path[strlen(path) - 2] = '\0';
        diag_set(dg, r, "cannot write log files in %s: %s", path, strerror(-r));
        return r;
    }
    return 0;
}

/* The instance id comes from the state directory, so a corral started after
 * a crash recognises its predecessor's processes; the RNG seed is fresh. */
static int make_identity(struct sup *s, struct diag *dg)
{
    int r = 0;
    if (s->h.instance && strlen(s->h.instance) == SUP_INSTANCE_LEN)
        memcpy(s->instance, s->h.instance, SUP_INSTANCE_LEN + 1);
    else
        r = proc_instance_of(s->m->state_dir, s->instance);
    s->h.instance = NULL; /* borrowed for sup_new() only */
    if (r < 0) {
        diag_set(dg, r, "cannot resolve %s: %s", s->m->state_dir, strerror(-r));
        return r;
    }
    if (getrandom(&s->rng, sizeof(s->rng), 0) != (ssize_t)sizeof(s->rng)) {
        diag_set(dg, -errno, "getrandom: %s", strerror(errno));
        return -errno;
    }
    if (proc_boot_id_read(s->boot_id) < 0) {
        diag_set(dg, -EIO, "cannot read the boot id");
        return -EIO;
    }
    return 0;
}

/* Each service holds a few fds (pipes, pidfd, cgroup); a stack of a thousand
 * needs more than the usual soft limit of 1024. Children get the original. */
static void raise_nofile(struct sup *s)
{
    struct rlimit want;
    if (getrlimit(RLIMIT_NOFILE, &s->nofile) < 0)
        return;
    want = s->nofile;
    want.rlim_cur = want.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &want);
}

struct service *service_new(struct sup *s, const struct cfg_service *cfg, size_t idx)
{
    struct service *svc = calloc(1, sizeof(*svc));
    if (!svc)
        return NULL;
    svc->sup = s;
    svc->cfg = cfg;
    svc->idx = idx;
    svc->pidfd = -1;
    svc->cg_fd = -1;
    svc->events_fd = -1;
    svc->pipe[LOGS_OUT] = svc->pipe[LOGS_ERR] = -1;
    loop_timer_init(&svc->timer, on_timer, svc);
    loop_timer_init(&svc->lost_timer, run_lost_timer, svc);
    limits_svc_init(svc);
    stats_svc_init(svc);
    ready_init(svc);
    return svc;
}

void service_free(struct service *svc)
{
    struct sup *s;
    if (!svc)
        return;
    s = svc->sup;
    svc_set_pid(svc, 0);
    loop_timer_disarm(s->lp, &svc->timer);
    loop_watch_del(s->lp, svc->pidfd_watch);
    run_close_pipes(svc);
    loop_timer_disarm(s->lp, &svc->lost_timer);
    if (svc->pidfd >= 0)
        close(svc->pidfd);
    sup_window_free(&svc->window);
    free(svc->reason);
    limits_free(svc);
    stats_svc_free(svc);
    ports_free(svc);
    ready_free(svc);
    run_free(svc);
    contain_release(svc);
    free(svc);
}

void index_by_name(struct sup *s)
{
    for (size_t i = 0; i < s->n; i++)
        s->by_name[i] = i;
    qsort_r(s->by_name, s->n, sizeof(*s->by_name), cmp_name, s->svcs);
}

static int services_init(struct sup *s)
{
    size_t n = s->m->n_services ? s->m->n_services : 1;
    s->svcs = calloc(n, sizeof(*s->svcs));
    s->by_name = calloc(n, sizeof(*s->by_name));
    s->live_dependants = calloc(n, sizeof(*s->live_dependants));
    if (!s->svcs || !s->by_name || !s->live_dependants)
        return -ENOMEM;
    for (size_t i = 0; i < s->m->n_services; i++) {
        s->svcs[i] = service_new(s, &s->m->services[i], i);
        if (!s->svcs[i])
            return -ENOMEM;
        s->n = i + 1;
    }
    index_by_name(s);
    return 0;
}

struct sup *sup_new(struct loop *lp, const struct cfg_model *m, const struct sup_hooks *h,
                    struct diag *dg)
{
    struct sup *s = calloc(1, sizeof(*s));
    if (!s) {
        diag_set(dg, -ENOMEM, "out of memory");
        return NULL;
    }
    s->lp = lp;
    s->m = m;
    s->want_cpu = sup_model_limits_cpu(m);
    s->h = *h;
    s->echo = h->on_output != NULL;
    s->logs_fd = -1;
    s->cg_base_fd = -1;
    s->inotify_fd = -1;
    /* First, while low fd numbers are still free: the spawn slots. */
    if (proc_spawner_init(&s->spawner) < 0) {
        diag_set(dg, -errno, "cannot reserve spawn fds: %s", strerror(errno));
        free(s);
        return NULL;
    }
    loop_timer_init(&s->kick, advance, s);
    loop_timer_init(&s->check, on_check, s);
    run_logs_init(s);
    limits_sup_init(s);
    hung_sup_init(s);
    if (services_init(s) < 0) {
        diag_set(dg, -ENOMEM, "out of memory");
        goto fail;
    }
    if (make_dirs(s, dg) < 0 || make_identity(s, dg) < 0 || contain_init(s, dg) < 0)
        goto fail;
    /* Descendants that double-fork reparent to us, not to init: still ours to
     * reap, find and stop. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
        diag_set(dg, -errno, "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
        goto fail;
    }
    raise_nofile(s);
    return s;
fail:
    sup_free(s);
    return NULL;
}

void sup_free(struct sup *s)
{
    if (!s)
        return;
    while (run_spawn_finish(s)) /* their blocks and environments */
        ;
    for (size_t i = 0; i < s->n; i++)
        service_free(s->svcs[i]);
    http_client_free(s->http); /* after the probes that used it */
    hung_sup_free(s);
    contain_cleanup(s);
    proc_spawner_close(&s->spawner);
    loop_timer_disarm(s->lp, &s->kick);
    loop_timer_disarm(s->lp, &s->check);
    loop_timer_disarm(s->lp, &s->logs_grace);
    limits_sup_free(s);
    /* Services' sinks are closed: what they queued is written before the
     * directory the files are in is closed (unless the disk was given up on:
     * then the ring is kept as it is until the process exits). */
    loop_watch_del(s->lp, s->logs_ring_watch);
    logs_ring_free(s->logs_ring);
    if (s->logs_fd >= 0)
        close(s->logs_fd);
    logs_relay_free(s->relay);
    free(s->svcs);
    free(s->by_name);
    free(s->live_dependants);
    free(s->claims);
    free(s->reaped);
    pidmap_clear(&s->mains);
    free(s);
}

void make_waiting(struct service *svc)
{
    bool idle = svc->state == SVC_STOPPED || svc->state == SVC_EXITED || svc->state == SVC_FAILED ||
                svc->state == SVC_COMPLETED;
    svc->want_stop = false;
    svc->operator_stopped = false;
    (void)retry_cancel(svc);
    if (svc->state == SVC_STOPPING && svc->after == AFTER_STOPPED)
        svc->after = AFTER_START;
    if (svc->state == SVC_BACKOFF || svc->state == SVC_BLOCKED) {
        /* Asked for by name: no reason to sit out the delay. */
        loop_timer_disarm(svc->sup->lp, &svc->timer);
        svc->attempt = 0;
        set_state(svc, SVC_WAITING);
    }
    if (!idle)
        return;
    svc_set_reason(svc, "%s", "");
    svc->attempt = 0;
    sup_window_reset(&svc->window);
    set_state(svc, SVC_WAITING);
}

static void mark_dependency(struct sup *s, size_t idx, unsigned char *wanted)
{
    if (wanted[idx])
        return;
    wanted[idx] = WANT_DEPENDENCY;
    for (size_t d = 0; d < s->svcs[idx]->cfg->n_deps; d++)
        mark_dependency(s, s->svcs[idx]->cfg->deps[d].index, wanted);
}

void mark_wanted(struct sup *s, size_t idx, unsigned char *wanted)
{
    bool seen = wanted[idx] != 0;
    wanted[idx] = WANT_NAMED;
    for (size_t d = 0; !seen && d < s->svcs[idx]->cfg->n_deps; d++)
        mark_dependency(s, s->svcs[idx]->cfg->deps[d].index, wanted);
}

bool wanted_to_wait(const struct service *svc, unsigned char want)
{
    /* A oneshot that completed has done what its dependants need: it runs
     * again when it is named (start, restart, a reload that changed it),
     * not each time something that depends on it starts. */
    return want == WANT_NAMED || (want == WANT_DEPENDENCY && svc->state != SVC_COMPLETED);
}

int sup_start(struct sup *s, const char *const *names, size_t n, struct diag *dg)
{
    if (s->next_m)
        return sup_refuse_busy(s, dg);
    unsigned char *wanted = calloc(s->n ? s->n : 1, sizeof(*wanted));
    if (!wanted)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct service *svc = sup_by_name(s, names[i]);
        if (!svc) {
            char hint[CFG_HINT_MAX];
            diag_set(dg, -ENOENT, "unknown service '%s'%s", names[i],
                     cfg_did_you_mean(cfg_suggest_service(s->m, names[i]), hint, sizeof(hint)));
            free(wanted);
            return -ENOENT;
        }
        mark_wanted(s, (size_t)(svc->idx), wanted);
    }
    for (size_t i = 0; i < s->n && n == 0; i++)
        if (s->svcs[i]->cfg->autostart && !s->svcs[i]->operator_stopped)
            mark_wanted(s, i, wanted);
    for (size_t i = 0; i < s->n; i++) {
        struct service *svc = s->svcs[i];
        /* A start-up's pass leaves a recalled service where it was, and an
         * operator's stop as it is (a service that needs it waits, and
         * says so, as after a reload). */
        bool keep = n == 0 && (svc->recalled || svc->operator_stopped);
        if (!keep && wanted_to_wait(svc, wanted[i]))
            make_waiting(svc);
        svc->recalled = false;
    }
    free(wanted);
    sup_kick(s);
    return 0;
}

void sup_shutdown(struct sup *s)
{
    s->shutting_down = true;
    for (size_t i = 0; i < s->n; i++)
        s->svcs[i]->want_stop = true;
    sup_kick(s);
}

void sup_kick_now(struct sup *s)
{
    if (!loop_timer_armed(&s->kick))
        return;
    loop_timer_disarm(s->lp, &s->kick);
    s->hold_events = true;
    advance(s->lp, s);
    s->hold_events = false;
    if (s->n_unsaid > 0)
        sup_kick(s); /* the next pass says them, if no event has first */
}

void sup_kill_all(struct sup *s)
{
    s->shutting_down = true;
    for (size_t i = 0; i < s->n; i++) {
        struct service *svc = s->svcs[i];
        svc->want_stop = true;
        if (svc_up(svc)) {
            ready_run_over(svc);
            svc->after = AFTER_STOPPED;
            set_state(svc, SVC_STOPPING);
        }
        if (svc->state == SVC_STOPPING) {
            svc->after = AFTER_STOPPED;
            kill_tree(svc, "every tree killed at once, as asked");
        }
    }
    sup_kick(s);
}

/* Waiting only for what a retry after a give-up may bring: no more than the
 * pending retry itself does, that keeps nothing alive. */
static bool waits_on_retry(const struct sup *s, const struct service *svc, unsigned depth)
{
    bool any = false;
    if (svc->state != SVC_WAITING || depth > 64)
        return false;
    for (size_t d = 0; d < svc->cfg->n_deps; d++) {
        const struct service *dep = s->svcs[svc->cfg->deps[d].index];
        if (sup_dep_met(dep, svc->cfg->deps[d].cond))
            continue;
        if (!(dep->state == SVC_FAILED && dep->retry_pending) && !waits_on_retry(s, dep, depth + 1))
            return false;
        any = true;
    }
    return any;
}

static bool services_settled(const struct sup *s)
{
    for (size_t i = 0; i < s->n; i++) {
        enum svc_state st = s->svcs[i]->state;
        if (st == SVC_WAITING && waits_on_retry(s, s->svcs[i], 0))
            continue;
        if (st == SVC_WAITING || sup_state_up(st) || st == SVC_BACKOFF || st == SVC_STOPPING ||
            st == SVC_BLOCKED)
            return false;
    }
    return true;
}

bool sup_settled(const struct sup *s)
{
    /* Output still on its way to a file may yet be lost, and that is said. */
    if (logs_ring_busy(s->logs_ring) && !s->logs_abandoned)
        return false;
    return services_settled(s);
}

/* By where each service ended, not by what happened on the way: one that
 * failed and came back through retry_after, or that the operator restarted or
 * stopped since, does not make corral's exit a failure. */
bool sup_any_failed(const struct sup *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct service *svc = s->svcs[i];
        if (svc->state == SVC_FAILED)
            return true;
        if (svc->state == SVC_EXITED && !sup_exit_success(&svc->cfg->restart, svc->exit_code))
            return true;
    }
    return false;
}

bool sup_any_survivor(const struct sup *s)
{
    return s->any_survivor;
}

const char *sup_log_writes(const struct sup *s, const char **why)
{
    const char *mode = s->logs_ring ? "io_uring" : s->logs_ring_errno ? "direct" : "none yet";
    if (why)
        *why = s->logs_ring         ? LOGS_RING_WHY
               : s->logs_ring_errno ? s->logs_ring_why
                                    : "no service has written output yet";
    return mode;
}

const char *sup_containment(const struct sup *s, const char **why)
{
    if (why)
        *why = s->contain_why;
    return s->use_cgroup ? "cgroup" : "pgroup";
}

const char *sup_instance(const struct sup *s)
{
    return s->instance;
}

const char *sup_boot_id(const struct sup *s)
{
    return s->boot_id;
}

static void no_line(void *ctx, const char *line, size_t len, bool complete)
{
    (void)ctx, (void)line, (void)len, (void)complete;
}

/* Output shown from now on starts where the log file's lines are: a line
 * begun before is taken from the sink, which holds it until its end. */
static void echo_join(struct service *svc)
{
    for (int st = 0; st < LOGS__COUNT; st++) {
        const char *held;
        size_t n = logs_sink_held(svc->sink, (enum logs_stream)st, &held, &svc->echo_ts[st]);
        if (n && logs_linebuf_init(&svc->echo[st], LOGS_MAX_LINE) == 0)
            logs_linebuf_feed(&svc->echo[st], held, n, no_line, NULL); /* no newline in it */
    }
}

void sup_set_output(struct sup *s, bool on)
{
    if (on == s->echo || (on && !s->h.on_output))
        return;
    s->echo = on;
    for (size_t i = 0; i < s->n; i++) {
        if (on) {
            echo_join(s->svcs[i]);
            continue;
        }
        for (int st = 0; st < LOGS__COUNT; st++)
            logs_linebuf_free(&s->svcs[i]->echo[st]); /* partial lines go too */
    }
}
