/* supervisor/stats.c — a service's tree sampled on demand: its cgroup's
 * processes and counters, or without a cgroup its main process's descendants
 * plus the orphans of its tree that corral (the subreaper) inherited and
 * theirs. A CPU rate needs two samples; the previous one is kept per service. */
#include "health/stats.h"

#include "proc/ident.h"
#include "supervisor/internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RATE_MIN_NS 200000000ull /* a shorter window is noise: keep the last rate */
#define ENVIRON_MAX (256 * 1024)
#define ORPHANS_MAX 4096

/* An orphan of some service's tree, now a child of corral. */
struct orphan {
    size_t svc;
    pid_t pid;
};

struct orphans {
    struct orphan v[ORPHANS_MAX];
    size_t n;
};

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

/* corral's children that are no service's main process, by their tag. Only
 * these few have their environment read. */
static void find_orphans(struct sup *s, struct orphans *o)
{
    pid_t *kids = malloc(sizeof(pid_t) * HEALTH_TREE_MAX);
    pid_t *mains = malloc(sizeof(pid_t) * (s->n + 1));
    char *env = malloc(ENVIRON_MAX);
    size_t n, n_mains = 0;
    o->n = 0;
    if (!kids || !mains || !env)
        goto out;
    for (size_t i = 0; i < s->n; i++)
        if (s->svcs[i]->pid > 0)
            mains[n_mains++] = s->svcs[i]->pid;
    qsort(mains, n_mains, sizeof(*mains), cmp_pid);
    n = health_children(getpid(), kids, 0, HEALTH_TREE_MAX);
    for (size_t k = 0; k < n && o->n < ORPHANS_MAX; k++) {
        char path[64], name[CFG_MAX_NAME + 1];
        struct service *svc;
        int len;
        if (bsearch(&kids[k], mains, n_mains, sizeof(*mains), cmp_pid))
            continue;
        snprintf(path, sizeof(path), "/proc/%d/environ", (int)kids[k]);
        len = proc_read_at(AT_FDCWD, path, env, ENVIRON_MAX);
        if (len <= 0 || !proc_environ_tag(env, (size_t)len, s->instance, name, sizeof(name)))
            continue;
        if ((svc = sup_by_name(s, name)))
            o->v[o->n++] = (struct orphan){.svc = svc->idx, .pid = kids[k]};
    }
out:
    free(kids);
    free(mains);
    free(env);
}

/* The tree's processes sampled into hs: the cgroup's, or the main process
 * and the orphans corral inherited, with their descendants. */
/* The tree's processes sampled into hs: the cgroup's, or the main process
 * and the orphans corral inherited, with their descendants. The main
 * process and the cgroup are read through files kept open. */
static void sample_tree(struct service *svc, const struct orphans *o, bool fds, pid_t *pids,
                        struct health_sample *hs)
{
    size_t n = 0;
    if (svc->cg_fd >= 0) {
        int r = health_cgroup_pids_kept(&svc->files, svc->cg_fd, pids, HEALTH_TREE_MAX);
        /* Without the details (fds, threads) the cgroup gives the CPU time,
         * and statm the rest. */
        if (!fds) {
            health_sample_rss(&svc->files, svc->pid, pids, r > 0 ? (size_t)r : 0, hs);
            return;
        }
        for (int k = 0; k < r; k++) {
            if (pids[k] == svc->pid) {
                (void)health_sample_root(&svc->files, pids[k], NULL, 0, 0, false, fds, hs);
                pids[k--] = pids[--r];
            }
        }
        if (r > 0)
            health_sample_procs(pids, (size_t)r, fds, hs);
        return;
    }
    if (svc->pid > 0)
        n = health_sample_root(&svc->files, svc->pid, pids, 0, HEALTH_TREE_MAX, true, fds, hs);
    for (size_t k = 0; o && k < o->n && n < HEALTH_TREE_MAX; k++)
        if (o->v[k].svc == svc->idx)
            pids[n++] = o->v[k].pid;
    (void)health_sample_tree(pids, n, HEALTH_TREE_MAX, true, fds, hs);
}

void stats_svc_init(struct service *svc)
{
    health_files_init(&svc->files);
}

void stats_svc_free(struct service *svc)
{
    health_files_close_proc(&svc->files);
    health_files_close_cgroup(&svc->files);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A rate against the previous sample of the same run. */
static void cpu_rate(struct service *svc, uint64_t cpu_ns, struct sup_stats *out)
{
    uint64_t now = mono_ns();
    bool same_run = svc->stat_run == svc->runs && svc->stat_wall_ns;
    if (same_run && now - svc->stat_wall_ns < RATE_MIN_NS) {
        out->cpu_percent_ok = svc->stat_rate;
        out->cpu_percent = svc->stat_percent;
        return;
    }
    if (same_run && cpu_ns >= svc->stat_cpu_ns) {
        svc->stat_percent = health_cpu_percent(svc->stat_cpu_ns, cpu_ns, now - svc->stat_wall_ns);
        svc->stat_rate = true;
        out->cpu_percent_ok = true;
        out->cpu_percent = svc->stat_percent;
    } else {
        svc->stat_rate = false;
    }
    svc->stat_run = svc->runs;
    svc->stat_cpu_ns = cpu_ns;
    svc->stat_wall_ns = now;
}

static void sample(struct sup *s, struct service *svc, const struct orphans *o, bool fds,
                   pid_t *pids, struct sup_stats *out)
{
    struct health_sample hs = {0};
    uint64_t cpu_ns;
    memset(out, 0, sizeof(*out));
    out->source = svc->cg_fd >= 0 ? "cgroup" : "proc";
    sample_tree(svc, o, fds, pids, &hs);
    cpu_ns = hs.cpu_ns;
    if (svc->cg_fd >= 0) {
        struct health_cgroup cg;
        health_cgroup_read_kept(&svc->files, svc->cg_fd, s->cg_ctrl, &cg);
        if (cg.cpu_ok)
            cpu_ns = cg.cpu_usec * 1000;
        out->memory_ok = cg.memory_ok;
        out->memory_bytes = cg.memory_bytes;
    }
    out->live = hs.procs > 0;
    out->procs = hs.procs;
    out->threads = hs.threads;
    out->rss_bytes = hs.rss_bytes;
    out->fds_ok = fds && !hs.fds_partial;
    out->fds = hs.fds;
    out->cpu_seconds = (double)cpu_ns / 1e9;
    if (out->live)
        cpu_rate(svc, cpu_ns, out);
}

void sup_stats(struct sup *s, size_t i, bool fds, struct sup_stats *out)
{
    struct service *svc = s->svcs[i];
    struct orphans *o = NULL;
    pid_t *pids = malloc(sizeof(pid_t) * HEALTH_TREE_MAX);
    if (!pids) {
        memset(out, 0, sizeof(*out));
        return;
    }
    if (svc->cg_fd < 0 && (o = malloc(sizeof(*o))))
        find_orphans(s, o);
    sample(s, svc, o, fds, pids, out);
    free(o);
    free(pids);
}

/* Reading a cgroup's cpu.stat first flushes the kernel's per-CPU counters of
 * its whole subtree: done once for corral's subtree, each service's read
 * after it finds little left to flush. */
static void flush_subtree(struct sup *s)
{
    char buf[1024];
    if (s->use_cgroup && s->cg_base_fd >= 0)
        (void)proc_read_at(s->cg_base_fd, "cpu.stat", buf, sizeof(buf));
}

void sup_stats_all(struct sup *s, bool fds, struct sup_stats *out)
{
    struct orphans *o = NULL;
    pid_t *pids = malloc(sizeof(pid_t) * HEALTH_TREE_MAX);
    if (!pids) {
        memset(out, 0, sizeof(*out) * s->n);
        return;
    }
    if (!s->use_cgroup && (o = malloc(sizeof(*o))))
        find_orphans(s, o);
    flush_subtree(s);
    for (size_t i = 0; i < s->n; i++)
        sample(s, s->svcs[i], o, fds, pids, &out[i]);
    free(o);
    free(pids);
}

void stats_sample_each(struct sup *s, bool (*want)(const struct service *svc),
                       void (*fn)(struct service *svc, const struct sup_stats *st))
{
    struct orphans *o = NULL;
    pid_t *pids = malloc(sizeof(pid_t) * HEALTH_TREE_MAX);
    bool scan = false;
    if (!pids)
        return;
    for (size_t i = 0; i < s->n; i++)
        if (want(s->svcs[i]) && s->svcs[i]->cg_fd < 0)
            scan = true;
    if (scan && (o = malloc(sizeof(*o))))
        find_orphans(s, o);
    for (size_t i = 0; i < s->n; i++) {
        struct sup_stats st;
        if (!want(s->svcs[i]))
            continue;
        sample(s, s->svcs[i], o, false, pids, &st);
        fn(s->svcs[i], &st);
    }
    free(o);
    free(pids);
}

int sup_controllers(const struct sup *s)
{
    return s->use_cgroup ? s->cg_ctrl : 0;
}
