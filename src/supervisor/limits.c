/* supervisor/limits.c — a service's limits put in force: cgroup controller
 * files written before its first process enters its cgroup, rlimits set by the
 * child before exec, and a memory limit watched: memory.events' oom_kill on
 * the inotify watch where the memory controller is delegated, else the tree's
 * RSS sampled on a timer that exists only while such a service runs. */
#include "health/limits.h"

#include "health/stats.h"
#include "supervisor/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

/* RLIMIT_CPU's hard limit, past its soft one (cpu_time): the SIGKILL for a
 * process that ignores SIGXCPU. */
#define CPU_TIME_HARD_S 5

#define CPU_PERIOD_US 100000

static bool memory_by_cgroup(const struct service *svc)
{
    return svc->cg_fd >= 0 && (svc->sup->cg_ctrl & HEALTH_CTRL_MEMORY);
}

static void limits_init(struct sup *s)
{
    char parent[PATH_MAX];
    int want = HEALTH_CTRL_CPU | HEALTH_CTRL_MEMORY | HEALTH_CTRL_PIDS;
    int have = health_cgroup_controllers(s->cg_base_fd, "cgroup.controllers");
    /* What corral's own cgroup does not pass down yet, it may enable there when
     * it may: a delegated cgroup, or the root. The kernel refuses (EBUSY)
     * where processes live in it, and nothing else changes then. */
    if (have >= 0 && (have & want) != want) {
        snprintf(parent, sizeof(parent), "%s", s->cg_base);
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent) {
            int fd;
            *slash = '\0';
            fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd >= 0) {
                (void)health_cgroup_enable(fd, want & ~have);
                close(fd);
            }
        }
        have = health_cgroup_controllers(s->cg_base_fd, "cgroup.controllers");
    }
    s->cg_ctrl = have > 0 ? health_cgroup_enable(s->cg_base_fd, have & want) : 0;
}

static bool model_limits_cgroup(const struct cfg_model *m)
{
    for (size_t i = 0; i < m->n_services; i++) {
        const struct cfg_limits *l = &m->services[i].limits;
        if (l->memory_bytes || l->cpu_percent || l->pids)
            return true;
    }
    return false;
}

/* Only for a config that limits something: a controller enabled in the
 * subtree makes every service cgroup's creation and every fork in it cost
 * more, and the writes themselves are slow where they fail. Services started
 * before then are charged from that moment on. */
void limits_need(struct sup *s)
{
    if (!s->use_cgroup || s->cg_ctrl_tried || !model_limits_cgroup(s->m))
        return;
    s->cg_ctrl_tried = true;
    limits_init(s);
}

static void write_file(int dir_fd, const char *name, const char *value)
{
    int fd = openat(dir_fd, name, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    (void)!write(fd, value, strlen(value));
    close(fd);
}

/* Only for a service with limits, or whose cgroup had some (a reload removed
 * them): then every file is written, set or not, so a removed limit is lifted.
 * A service without limits costs no write on its start. */
void limits_cgroup_write(struct service *svc)
{
    const struct cfg_limits *l = &svc->cfg->limits;
    int ctrl = svc->sup->cg_ctrl;
    bool any = l->memory_bytes || l->cpu_percent || l->pids;
    char v[64];
    if (!ctrl || (!any && !svc->cg_limited))
        return;
    svc->cg_limited = any;
    if (ctrl & HEALTH_CTRL_MEMORY) {
        snprintf(v, sizeof(v), "%" PRIu64, l->memory_bytes);
        write_file(svc->cg_fd, "memory.max", l->memory_bytes ? v : "max");
        /* Else a tree past its limit swaps rather than being stopped. */
        write_file(svc->cg_fd, "memory.swap.max", l->memory_bytes ? "0" : "max");
    }
    if (ctrl & HEALTH_CTRL_CPU) {
        snprintf(v, sizeof(v), "%u %u", l->cpu_percent * (CPU_PERIOD_US / 100), CPU_PERIOD_US);
        write_file(svc->cg_fd, "cpu.max", l->cpu_percent ? v : "max");
    }
    if (ctrl & HEALTH_CTRL_PIDS) {
        snprintf(v, sizeof(v), "%u", l->pids);
        write_file(svc->cg_fd, "pids.max", l->pids ? v : "max");
    }
}

size_t limits_rlimits(const struct service *svc, struct proc_rlimit *out, size_t max)
{
    const struct cfg_limits *l = &svc->cfg->limits;
    size_t n = 0;
    if (l->nofile && n < max)
        out[n++] = (struct proc_rlimit){RLIMIT_NOFILE, {l->nofile, l->nofile}};
    if (l->address_space_bytes && n < max)
        out[n++] =
            (struct proc_rlimit){RLIMIT_AS, {l->address_space_bytes, l->address_space_bytes}};
    /* The soft limit sends SIGXCPU each second past it; the hard one SIGKILL. */
    if (l->cpu_time_ms && n < max)
        out[n++] = (struct proc_rlimit){
            RLIMIT_CPU, {l->cpu_time_ms / 1000, l->cpu_time_ms / 1000 + CPU_TIME_HARD_S}};
    return n;
}

/* Stop the run for a limit; its exit goes through the restart policy with
 * limit_reason as its reason. The stop signal first (a tree at its memory
 * limit is killed by the kernel anyway where the controller exists), SIGKILL
 * after the stop timeout. */
static void exceed(struct service *svc, const char *reason)
{
    struct sup *s = svc->sup;
    free(svc->limit_reason);
    svc->limit_reason = strdup(reason); /* NULL: the exit keeps its own reason */
    sup_emit(s, SUP_EV_LIMIT_EXCEEDED, svc, svc->pid, reason);
    if (!svc_up(svc) || svc->pid <= 0)
        return;
    svc->limit_stopping = true;
    contain_signal(svc, svc->cfg->stop.signal);
    loop_timer_arm(s->lp, &svc->limit_timer, svc->cfg->stop.timeout_ms);
}

/* A run whose memory limit corral enforces by sampling, and that has not
 * been told to stop for it yet. */
static bool sampled(const struct service *svc)
{
    return svc->cfg->limits.memory_bytes && !memory_by_cgroup(svc) && svc_up(svc) && svc->pid > 0 &&
           !svc->limit_stopping;
}

static void check_rss(struct service *svc, const struct sup_stats *st)
{
    char have[32], limit[32], reason[96];
    uint64_t max = svc->cfg->limits.memory_bytes;
    if (st->rss_bytes <= max)
        return;
    health_format_size(st->rss_bytes, have, sizeof(have));
    health_format_size(max, limit, sizeof(limit));
    snprintf(reason, sizeof(reason), "memory limit: %s > %s", have, limit);
    exceed(svc, reason);
}

/* One timer for every sampled tree (one walk for orphans, one wake-up a
 * period), re-armed while any is left. */
static void on_rss_timer(struct loop *lp, void *data)
{
    struct sup *s = data;
    stats_sample_each(s, sampled, check_rss);
    for (size_t i = 0; i < s->n; i++)
        if (sampled(s->svcs[i])) {
            loop_timer_arm(lp, &s->rss_timer, HEALTH_RSS_SAMPLE_MS);
            return;
        }
}

/* The deadline of a limit's stop: what is left of the tree gets SIGKILL. */
static void on_limit_timer(struct loop *lp, void *data)
{
    struct service *svc = data;
    (void)lp;
    if (!svc_up(svc) || svc->pid <= 0 || !svc->limit_stopping)
        return;
    /* As a stop's SIGKILL: noted, so that a cgroup that had cgroup.kill
     * written is made afresh for the next run (see contain_prepare). */
    svc->kill_sent = true;
    svc->kill_ms = loop_now_ms();
    contain_signal(svc, SIGKILL);
}

void limits_sup_init(struct sup *s)
{
    loop_timer_init(&s->rss_timer, on_rss_timer, s);
}

void limits_sup_free(struct sup *s)
{
    loop_timer_disarm(s->lp, &s->rss_timer);
}

void limits_svc_init(struct service *svc)
{
    loop_timer_init(&svc->limit_timer, on_limit_timer, svc);
    svc->mem_wd = -1;
}

void limits_started(struct service *svc)
{
    struct sup *s = svc->sup;
    char path[PATH_MAX];
    loop_timer_disarm(s->lp, &svc->limit_timer);
    svc->limit_stopping = false;
    free(svc->limit_reason);
    svc->limit_reason = NULL;
    if (!svc->cfg->limits.memory_bytes)
        return;
    if (!memory_by_cgroup(svc)) {
        if (!loop_timer_armed(&s->rss_timer))
            loop_timer_arm(s->lp, &s->rss_timer, HEALTH_RSS_SAMPLE_MS);
        return;
    }
    if (health_cgroup_oom_kills(svc->cg_fd, &svc->oom_kills) < 0)
        svc->oom_kills = 0;
    if (svc->mem_wd >= 0)
        return;
    contain_cg_path(svc, path, sizeof(path) - sizeof("/memory.events"));
    strcat(path, "/memory.events");
    /* The kernel notifies a change of memory.events as a modification. */
    svc->mem_wd = inotify_add_watch(s->inotify_fd, path, IN_MODIFY);
}

/* An OOM kill in the tree since the last look: the reason, and the event. */
static bool oom_seen(struct service *svc)
{
    uint64_t n;
    char reason[96], limit[32];
    if (!memory_by_cgroup(svc) || !svc->cfg->limits.memory_bytes ||
        health_cgroup_oom_kills(svc->cg_fd, &n) < 0 || n <= svc->oom_kills)
        return false;
    svc->oom_kills = n;
    health_format_size(svc->cfg->limits.memory_bytes, limit, sizeof(limit));
    snprintf(reason, sizeof(reason), "oom: the tree reached its memory limit of %s", limit);
    exceed(svc, reason);
    return true;
}

void limits_exited(struct service *svc, int code)
{
    loop_timer_disarm(svc->sup->lp, &svc->limit_timer);
    /* The main process killed by the OOM killer may be reaped before
     * memory.events' notice is read. */
    if (!svc->limit_reason && code == 128 + SIGKILL)
        (void)oom_seen(svc);
    /* Only the kernel sends SIGXCPU, at RLIMIT_CPU's soft limit, and its
     * default action ends the process. */
    if (!svc->limit_reason && code == 128 + SIGXCPU && svc->cfg->limits.cpu_time_ms) {
        char reason[96], limit[32];
        cfg_format_duration(svc->cfg->limits.cpu_time_ms, limit, sizeof(limit));
        snprintf(reason, sizeof(reason), "cpu_time limit: used %s of CPU", limit);
        exceed(svc, reason);
    }
    /* A process that ignores SIGXCPU gets SIGKILL at the hard limit: told
     * from any other SIGKILL by the CPU time it had used, as corral sent
     * none (a stop's would be kill_sent). */
    if (!svc->limit_reason && code == 128 + SIGKILL && svc->cfg->limits.cpu_time_ms &&
        !svc->kill_sent && svc->exit_cpu_ms >= svc->cfg->limits.cpu_time_ms) {
        char reason[128], limit[32];
        cfg_format_duration(svc->cfg->limits.cpu_time_ms, limit, sizeof(limit));
        snprintf(reason, sizeof(reason),
                 "cpu_time limit: used %s of CPU, ignored SIGXCPU, killed %ds past it", limit,
                 CPU_TIME_HARD_S);
        exceed(svc, reason);
    }
    if (svc->limit_reason)
        svc_set_reason(svc, "%s", svc->limit_reason);
    free(svc->limit_reason);
    svc->limit_reason = NULL;
    svc->limit_stopping = false;
}

bool limits_on_inotify(struct sup *s, int wd)
{
    bool mine = false;
    for (size_t i = 0; i < s->n; i++) {
        struct service *svc = s->svcs[i];
        if (svc->mem_wd != wd)
            continue;
        mine = true;
        if (svc->pid > 0 && !svc->limit_stopping)
            (void)oom_seen(svc);
    }
    return mine;
}

void limits_free(struct service *svc)
{
    loop_timer_disarm(svc->sup->lp, &svc->limit_timer);
    free(svc->limit_reason);
    svc->limit_reason = NULL;
}
