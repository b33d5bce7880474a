/* supervisor/control.c — what an operator can ask of a running supervisor:
 * each service's state, stop / restart / signal one, and its process tree. */
#include "health/probe.h"
#include "proc/cgroup.h"
#include "proc/tree.h"
#include "supervisor/internal.h"
#include "supervisor/ports.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TREE_DEPTH_MAX 16

size_t sup_count(const struct sup *s)
{
    return s->n;
}

long sup_find(const struct sup *s, const char *name)
{
    const struct service *svc = sup_by_name((struct sup *)s, name);
    return svc ? (long)svc->idx : -1;
}

int sup_refuse_busy(const struct sup *s, struct diag *dg)
{
    if (s->shutting_down) {
        diag_set(dg, -ESHUTDOWN, "corral is shutting down");
        return -ESHUTDOWN;
    }
    if (s->next_m) {
        diag_set(dg, -EBUSY, "a reload is in progress");
        return -EBUSY;
    }
    return 0;
}

int sup_hold(struct sup *s, const char *name)
{
    struct service *svc = sup_by_name(s, name);
    if (!svc)
        return -ENOENT;
    svc->operator_stopped = true;
    return 0;
}

bool sup_shutting_down(const struct sup *s)
{
    return s->shutting_down;
}

static const char *const dep_verbs[CFG_DEP__COUNT] = {
    [CFG_DEP_STARTED] = "start",
    [CFG_DEP_COMPLETED] = "complete",
    [CFG_DEP_READY] = "be ready",
    [CFG_DEP_HEALTHY] = "be healthy",
};

/* A waiting service's first dependency not yet met, said as its reason. */
static void waiting_for(const struct service *svc, char *buf, size_t size)
{
    const struct cfg_service *c = svc->cfg;
    for (size_t d = 0; d < c->n_deps; d++) {
        const struct service *dep = svc->sup->svcs[c->deps[d].index];
        if (sup_dep_met(dep, c->deps[d].cond) && !dep->restart_pending)
            continue;
        snprintf(buf, size, "waiting for %s to %s (it is %s)", dep->cfg->name,
                 dep_verbs[c->deps[d].cond] ? dep_verbs[c->deps[d].cond] : "start",
                 dep->restart_pending ? "restarting" : sup_state_name(dep->state));
        return;
    }
}

void sup_info(const struct sup *s, size_t i, struct sup_info *out)
{
    const struct service *svc = s->svcs[i];
    uint64_t now = loop_now_ms();
    memset(out, 0, sizeof(*out));
    out->name = svc->cfg->name;
    out->kind = svc->cfg->kind;
    out->state = svc->state;
    out->pid = svc->pid;
    out->uptime_ms = svc->pid ? now - svc->started_ms : 0;
    out->state_age_ms = svc->state_ms ? now - svc->state_ms : 0;
    out->runs = svc->runs;
    out->restarts = svc->restarts;
    out->exited = svc->exited;
    out->exit_code = svc->exit_code;
    out->reason = svc_reason(svc);
    out->autostart = svc->cfg->autostart;
    out->operator_stopped = svc->operator_stopped;
    out->restart_pending = svc->restart_pending;
    out->log_lost_bytes = svc->lost_earlier + logs_sink_lost_bytes(svc->sink);
    out->adopted = svc->adopted;
    out->holder = ports_holder(svc);
    out->ready_kind = svc->cfg->ready.kind;
    out->status = svc->status ? svc->status : "";
    out->notify_denied = svc->notify_denied;
    out->notify_stopping = svc->notify_stopping;
    out->probe_last = "";
    if (svc->state == SVC_STARTING && svc->ready_probe)
        out->probe_last = health_probe_last(svc->ready_probe);
    else if (svc->live_probe)
        out->probe_last = health_probe_last(svc->live_probe);
    out->retry_in_ms = svc_retry_in_ms(svc);
    if (svc->state == SVC_WAITING && !out->reason[0]) {
        waiting_for(svc, out->waiting, sizeof(out->waiting));
        out->reason = out->waiting;
    }
}

/* Resolve every name first, so that a bad one changes nothing. */
static int resolve(struct sup *s, const char *const *names, size_t n, size_t *idx, struct diag *dg)
{
    int r = sup_refuse_busy(s, dg);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        struct service *svc = sup_by_name(s, names[i]);
        if (!svc) {
            diag_set(dg, -ENOENT, "unknown service '%s'", names[i]);
            return -ENOENT;
        }
        idx[i] = (size_t)(svc->idx);
    }
    return 0;
}

static bool depends_on(const struct service *svc, const bool *marked)
{
    for (size_t d = 0; d < svc->cfg->n_deps; d++)
        if (marked[svc->cfg->deps[d].index])
            return true;
    return false;
}

int sup_stop(struct sup *s, const char *const *names, size_t n, struct diag *dg)
{
    size_t *idx = calloc(n ? n : 1, sizeof(*idx));
    bool *marked = calloc(s->n ? s->n : 1, sizeof(*marked));
    int r = -ENOMEM;
    if (!idx || !marked) {
        diag_set(dg, r, "out of memory");
        goto out;
    }
    if ((r = resolve(s, names, n, idx, dg)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        marked[idx[i]] = true;
    /* start_order is topological: one pass marks every transitive dependant. */
    for (size_t k = 0; k < s->n; k++) {
        size_t i = s->m->start_order[k];
        if (!marked[i] && depends_on(s->svcs[i], marked))
            marked[i] = true;
    }
    for (size_t i = 0; i < s->n; i++) {
        struct service *svc = s->svcs[i];
        if (!marked[i])
            continue;
        svc->want_stop = true;
        svc->operator_stopped = true;
        if (svc->state == SVC_STOPPING && svc->after == AFTER_START)
            svc->after = AFTER_STOPPED;
    }
    sup_kick(s);
out:
    free(idx);
    free(marked);
    return r;
}

/* A running service is stopped by the next pass, after its dependants that
 * restart too and before its dependencies that do: a restart of db and web
 * stops web, then db, and starts db, then web, as `down` and `up` would. */
static void restart_one(struct service *svc)
{
    svc->want_stop = false;
    svc->operator_stopped = false;
    switch (svc->state) {
    case SVC_STARTING:
    case SVC_RUNNING:
    case SVC_READY:
    case SVC_UNHEALTHY:
        svc->restart_pending = true;
        break;
    case SVC_STOPPING:
        svc->after = AFTER_START;
        break;
    case SVC_BACKOFF:
    case SVC_BLOCKED:
    case SVC_WAITING:
    case SVC_STOPPED:
    case SVC_COMPLETED:
    case SVC_EXITED:
    case SVC_FAILED:
    case SVC__COUNT:
        break; /* sup_start() below makes these wait for their dependencies */
    }
}

int sup_restart(struct sup *s, const char *const *names, size_t n, struct diag *dg)
{
    size_t *idx = calloc(n ? n : 1, sizeof(*idx));
    int r;
    if (!idx) {
        diag_set(dg, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    r = resolve(s, names, n, idx, dg);
    for (size_t i = 0; i < n && r == 0; i++)
        restart_one(s->svcs[idx[i]]);
    free(idx);
    if (r < 0 || n == 0)
        return r;
    return sup_start(s, names, n, dg);
}

int sup_signal(struct sup *s, const char *name, int sig, struct diag *dg)
{
    struct service *svc = sup_by_name(s, name);
    int r;
    if (!svc) {
        diag_set(dg, -ENOENT, "unknown service '%s'", name);
        return -ENOENT;
    }
    if (svc->pidfd < 0) {
        diag_set(dg, -ESRCH, "%s has no running process (%s)", name, sup_state_name(svc->state));
        return -ESRCH;
    }
    r = proc_pidfd_signal(svc->pidfd, sig);
    if (r < 0)
        diag_set(dg, r, "cannot signal %s (pid %d): %s", name, (int)svc->pid, strerror(-r));
    return r;
}

/* --- the tree ------------------------------------------------------------------------ */

struct tree_acc {
    struct sup_proc *procs;
    size_t max;
    size_t n;
    pid_t main;
};

static void tree_add(struct tree_acc *t, pid_t pid)
{
    struct proc_stat st;
    for (size_t i = 0; i < t->n && i < t->max; i++)
        if (t->procs[i].pid == pid)
            return;
    if (proc_stat_read(pid, &st) < 0)
        return; /* gone meanwhile */
    if (t->n < t->max) {
        struct sup_proc *p = &t->procs[t->n];
        memset(p, 0, sizeof(*p));
        p->pid = pid;
        p->ppid = st.ppid;
        p->state = st.state;
        p->main = pid == t->main;
        if (proc_cmdline_read(pid, p->cmdline, sizeof(p->cmdline)) < 0)
            p->cmdline[0] = '\0';
    }
    t->n++;
}

/* A service may create cgroups below its own: walk them too. */
static void tree_cgroup(struct tree_acc *t, int cg_fd, int depth)
{
    pid_t pids[1024];
    int n = proc_cgroup_pids(cg_fd, pids, sizeof(pids) / sizeof(pids[0]));
    int dfd;
    DIR *d;
    struct dirent *e;
    for (int i = 0; i < n; i++)
        tree_add(t, pids[i]);
    if (depth >= TREE_DEPTH_MAX || (dfd = dup(cg_fd)) < 0)
        return;
    d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    while ((e = readdir(d))) {
        int sub;
        if (e->d_type != DT_DIR || e->d_name[0] == '.')
            continue;
        sub = openat(cg_fd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sub >= 0) {
            tree_cgroup(t, sub, depth + 1);
            close(sub);
        }
    }
    closedir(d);
}

struct tag_ctx {
    struct tree_acc *t;
    const char *name;
};

static void tree_tagged(void *ctx, const char *service, const struct proc_member *m)
{
    struct tag_ctx *tc = ctx;
    if (strcmp(service, tc->name) == 0)
        tree_add(tc->t, m->pid);
}

int sup_tree(const struct sup *s, size_t i, struct sup_proc *procs, size_t max)
{
    const struct service *svc = s->svcs[i];
    struct tree_acc t = {.procs = procs, .max = max, .main = svc->pid};
    if (svc->pid)
        tree_add(&t, svc->pid);
    if (s->use_cgroup && svc->cg_fd >= 0) {
        tree_cgroup(&t, svc->cg_fd, 0);
    } else {
        struct tag_ctx tc = {.t = &t, .name = svc->cfg->name};
        int r = svc->inherited ? proc_tree_scan(s->instance, tree_tagged, &tc)
                               : proc_tree_scan_descendants(s->instance, tree_tagged, &tc);
        if (r < 0)
            return r;
    }
    return (int)t.n;
}
