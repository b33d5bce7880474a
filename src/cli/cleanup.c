/* cli/cleanup.c — `corral cleanup`: stop this corral's orphans, and nothing
 * else. Each tree gets its service's stop signal, then SIGKILL after its stop
 * timeout (and cgroup.kill for a cgroup), and is verified empty; then the
 * empty cgroups go, bottom-up. Every process is signalled through a pidfd
 * opened before its identity and membership are checked again. It asks
 * first, on a terminal; elsewhere it needs --yes. */
#include "cli/cli.h"
#include "cli/lock.h"
#include "cli/own.h"
#include "cli/report.h"
#include "config/config.h"
#include "proc/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CPU_WINDOW_MS   200
#define POLL_MS         50
#define RESCAN_MS       250
#define KILL_GRACE_MS   3000 /* after SIGKILL: then a survivor is named */
#define DEFAULT_STOP_MS 10000

struct victim {
    struct own_proc p; /* p.cgroup owned */
    size_t target;
    int pidfd;
    bool gone;
};

struct target {
    char service[PROC_SERVICE_LEN + 1];
    int signal;
    uint64_t timeout_ms;
    uint64_t deadline_ms;
    bool killing;
};

struct cleanup {
    const char *file;
    const char *state_dir;
    bool dry_run, yes;
    struct cli_lock lock;
    struct cfg_model *m;
    struct own o;
    struct target *t;
    size_t n_t, cap_t;
    struct victim *v;
    size_t n_v, cap_v;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: corral cleanup [-f FILE] [--state-dir DIR] [--dry-run] [--yes]\n");
}

static int parse(struct cleanup *cu, int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'}, {"state-dir", required_argument, NULL, 'S'},
        {"dry-run", no_argument, NULL, 'n'},    {"yes", no_argument, NULL, 'y'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "f:nyh", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            cu->file = optarg;
            break;
        case 'S':
            cu->state_dir = optarg;
            break;
        case 'n':
            cu->dry_run = true;
            break;
        case 'y':
            cu->yes = true;
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        default:
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "corral cleanup: unexpected argument '%s'\n", argv[optind]);
        return CLI_USAGE;
    }
    return -1;
}

/* The stop signals and timeouts come from the config; with --state-dir
 * alone there is none and the defaults (TERM, 10s) apply. */
static int load_config(struct cleanup *cu)
{
    const char *path = cu->file ? cu->file : cu->state_dir ? NULL : "corral.yaml";
    struct diag dg;
    char msg[2048];
    if (!path)
        return 0;
    diag_clear(&dg);
    cu->m = cfg_load(path, &dg);
    if (cu->m)
        return 0;
    diag_format(&dg, msg, sizeof(msg));
    fprintf(stderr,
            "corral cleanup: %s\nnothing done: fix the config, or name the instance with "
            "--state-dir DIR alone to stop its orphans with TERM and a 10s timeout\n",
            msg);
    return CLI_USAGE;
}

/* --- targets and victims ------------------------------------------------------------------- */

static long target_of(struct cleanup *cu, const char *service)
{
    struct target *t;
    long k;
    for (size_t i = 0; i < cu->n_t; i++)
        if (!strcmp(cu->t[i].service, service))
            return (long)i;
    if (!(t = report_grow((void **)&cu->t, &cu->n_t, &cu->cap_t, sizeof(*cu->t))))
        return -1;
    snprintf(t->service, sizeof(t->service), "%s", service);
    t->signal = SIGTERM;
    t->timeout_ms = DEFAULT_STOP_MS;
    k = cu->m ? cfg_find(cu->m, service) : -1;
    if (k >= 0) {
        t->signal = cu->m->services[k].stop.signal;
        t->timeout_ms = cu->m->services[k].stop.timeout_ms;
    }
    return (long)(cu->n_t - 1);
}

static bool tracked(const struct cleanup *cu, pid_t pid, uint64_t start_ticks)
{
    for (size_t i = 0; i < cu->n_v; i++)
        if (cu->v[i].p.pid == pid && cu->v[i].p.start_ticks == start_ticks)
            return true;
    return false;
}

/* Copy p in (cgroup duplicated); the pidfd is opened when it is signalled. */
static struct victim *track(struct cleanup *cu, const struct own_proc *p)
{
    long t = target_of(cu, p->service);
    struct victim *v;
    if (t < 0 || !(v = report_grow((void **)&cu->v, &cu->n_v, &cu->cap_v, sizeof(*cu->v))))
        return NULL;
    v->p = *p;
    v->p.cgroup = p->cgroup ? strdup(p->cgroup) : NULL;
    v->target = (size_t)t;
    v->pidfd = -1;
    return v;
}

/* Open (once) and signal: a victim whose identity or membership no longer
 * holds is gone, as far as this cleanup is concerned. */
static void hit(struct cleanup *cu, struct victim *v, int sig)
{
    if (v->gone)
        return;
    if (v->pidfd < 0 && (v->pidfd = own_pidfd(&cu->o, &v->p)) < 0) {
        v->gone = true;
        return;
    }
    if (proc_pidfd_signal(v->pidfd, sig) == -ESRCH)
        v->gone = true;
}

/* --- the list and the question ------------------------------------------------------------- */

static void print_list(struct cleanup *cu)
{
    uint64_t *ns = calloc(cu->n_v + 1, sizeof(*ns));
    uint64_t t0 = now_ms();
    for (size_t i = 0; ns && i < cu->n_v; i++)
        if (proc_cpu_ns(cu->v[i].p.pid, &ns[i]) < 0)
            ns[i] = UINT64_MAX;
    sleep_ms(CPU_WINDOW_MS);
    printf("%zu orphan%s of the corral for %s (instance %s): %s\n", cu->n_v,
           cu->n_v == 1 ? "" : "s", cu->o.c.state_dir, cu->o.instance,
           cu->o.running ? "their services are not live in the running corral"
                         : "no corral runs for it");
    printf("  %7s  %-14s %8s %6s  %s\n", "PID", "SERVICE", "AGE", "CPU%", "COMMAND");
    for (size_t i = 0; i < cu->n_v; i++) {
        const struct own_proc *p = &cu->v[i].p;
        char age[32], cpu[16] = "-";
        uint64_t after;
        if (ns && ns[i] != UINT64_MAX && proc_cpu_ns(p->pid, &after) == 0)
            snprintf(cpu, sizeof(cpu), "%.1f",
                     proc_cpu_percent(ns[i], after, (now_ms() - t0) * 1000000ULL));
        report_age_text(p->age_ms, age, sizeof(age));
        printf("  %7d  %-14s %8s %6s  %s\n", (int)p->pid, p->service, age, cpu, p->command);
    }
    free(ns);
}

/* 1 go ahead, 0 declined, CLI_USAGE when nobody can be asked. */
static int confirm(struct cleanup *cu)
{
    char line[64];
    if (cu->yes)
        return 1;
    if (!isatty(STDIN_FILENO)) {
        fprintf(stderr, "corral cleanup: not stopping anything without confirmation: stdin is "
                        "not a terminal; pass --yes (or --dry-run to only list)\n");
        return CLI_USAGE;
    }
    printf("Stop these %zu process%s? [y/N] ", cu->n_v, cu->n_v == 1 ? "" : "es");
    fflush(stdout);
    if (!fgets(line, sizeof(line), stdin))
        return 0;
    return line[0] == 'y' || line[0] == 'Y';
}

/* --- stopping ------------------------------------------------------------------------------- */

/* Processes of the targets' services that appeared since the scan (a tree
 * forks while it stops) join them. With a corral running, only for services
 * it still does not have live. */
static void on_tagged(void *ctx, const char *service, const struct proc_member *m)
{
    struct cleanup *cu = ctx;
    struct own_proc p = {.pid = m->pid, .start_ticks = m->start_ticks, .tagged = true};
    if (tracked(cu, m->pid, m->start_ticks))
        return;
    snprintf(p.service, sizeof(p.service), "%s", service);
    if (cu->o.running && !report_orphan_why(true, own_service_state(&cu->o, service)))
        return;
    if (proc_cmdline_read(m->pid, p.command, sizeof(p.command)) < 0)
        p.command[0] = '\0';
    (void)track(cu, &p);
}

struct cg_walk {
    struct cleanup *cu;
    const char *dir;
};

static void on_cg_member(void *ctx, const char *sub, pid_t pid)
{
    struct cg_walk *w = ctx;
    struct cleanup *cu = w->cu;
    struct own_proc p = {.pid = pid};
    char rel[PATH_MAX];
    struct proc_stat st;
    size_t len = strcspn(sub, "/");
    if (proc_stat_read(pid, &st) < 0 || st.state == 'Z' || tracked(cu, pid, st.start_ticks))
        return;
    p.start_ticks = st.start_ticks;
    if (len > PROC_SERVICE_LEN)
        len = PROC_SERVICE_LEN;
    memcpy(p.service, sub, len);
    p.service[len] = '\0';
    if (cu->o.running && (report_hook_cgroup(p.service) ||
                          !report_orphan_why(true, own_service_state(&cu->o, p.service))))
        return;
    snprintf(rel, sizeof(rel), "%s%s%s", w->dir + cu->o.cg_mount_len, *sub ? "/" : "", sub);
    p.cgroup = rel;
    if (proc_cmdline_read(pid, p.command, sizeof(p.command)) < 0)
        p.command[0] = '\0';
    (void)track(cu, &p);
}

static void rescan(struct cleanup *cu)
{
    if (cu->o.running) {
        json_t *body = NULL;
        if (own_api_get(&cu->o, "/v1/services", &body) != 1)
            return; /* cannot tell what is live now: add nobody */
        json_decref(cu->o.services);
        cu->o.services = json_incref(json_object_get(body, "services"));
        json_decref(body);
    }
    (void)proc_tree_scan(cu->o.instance, on_tagged, cu);
    for (size_t i = 0; i < cu->o.n_cg; i++) {
        struct cg_walk w = {.cu = cu, .dir = cu->o.cg_dirs[i]};
        (void)proc_cgroup_walk_procs(cu->o.cg_dirs[i], on_cg_member, &w);
    }
}

/* Exited since: a pidfd is readable once its process is gone. */
static void reap_view(struct cleanup *cu)
{
    for (size_t i = 0; i < cu->n_v; i++) {
        struct victim *v = &cu->v[i];
        struct pollfd pfd = {.fd = v->pidfd, .events = POLLIN};
        if (!v->gone && v->pidfd >= 0 && poll(&pfd, 1, 0) == 1)
            v->gone = true;
    }
}

/* cgroup.kill on the service's cgroup in every corral-<id> directory: only
 * while no corral runs (and, with the state directory there, this cleanup
 * holds its lock), so that nothing a corral starts can be in them. */
static void kill_cgroups(struct cleanup *cu, const struct target *t)
{
    if (cu->o.running)
        return;
    for (size_t i = 0; i < cu->o.n_cg; i++) {
        char dir[PATH_MAX];
        int fd;
        snprintf(dir, sizeof(dir), "%s/%s", cu->o.cg_dirs[i], t->service);
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            continue;
        (void)proc_cgroup_kill(fd);
        close(fd);
    }
}

static size_t left(const struct cleanup *cu)
{
    size_t n = 0;
    for (size_t i = 0; i < cu->n_v; i++)
        n += !cu->v[i].gone;
    return n;
}

/* The stop signal to every victim, SIGKILL to a target's tree once its
 * timeout passed, until nothing is left or KILL_GRACE_MS after the last
 * SIGKILL. Returns how many survive. */
static size_t stop_all(struct cleanup *cu)
{
    uint64_t start = now_ms(), last_scan = start, give_up = 0;
    for (size_t i = 0; i < cu->n_t; i++)
        cu->t[i].deadline_ms = start + cu->t[i].timeout_ms;
    for (size_t i = 0; i < cu->n_v; i++)
        hit(cu, &cu->v[i], cu->t[cu->v[i].target].signal);
    for (;;) {
        uint64_t now = now_ms();
        size_t n_before = cu->n_v;
        reap_view(cu);
        if (now - last_scan >= RESCAN_MS || left(cu) == 0) {
            rescan(cu);
            last_scan = now;
        }
        for (size_t i = n_before; i < cu->n_v; i++) {
            const struct target *t = &cu->t[cu->v[i].target];
            hit(cu, &cu->v[i], t->killing ? SIGKILL : t->signal);
        }
        if (left(cu) == 0)
            return 0;
        for (size_t k = 0; k < cu->n_t; k++) {
            struct target *t = &cu->t[k];
            if (t->killing || now < t->deadline_ms)
                continue;
            t->killing = true;
            give_up = now + KILL_GRACE_MS;
            kill_cgroups(cu, t);
            for (size_t i = 0; i < cu->n_v; i++)
                if (cu->v[i].target == k)
                    hit(cu, &cu->v[i], SIGKILL);
        }
        if (give_up && now >= give_up)
            return left(cu);
        sleep_ms(POLL_MS);
    }
}

static void report_survivors(const struct cleanup *cu)
{
    for (size_t i = 0; i < cu->n_v; i++)
        if (!cu->v[i].gone)
            fprintf(stderr, "corral cleanup: still alive after SIGKILL: pid %d (%s) %s\n",
                    (int)cu->v[i].p.pid, cu->v[i].p.service, cu->v[i].p.command);
}

static int run(struct cleanup *cu)
{
    size_t survivors;
    struct diag held_dg;
    bool held = false;
    int r = load_config(cu);
    if (r)
        return r;
    /* No corral may start while its orphans are stopped and its cgroups go:
     * hold the lock, or with no state directory the instance's guard alone,
     * which a corral takes too (not for a dry run, which changes nothing). */
    if (!cu->dry_run) {
        diag_clear(&held_dg);
        held = (cu->o.state_dir_exists
                    ? cli_lock(&cu->lock, cu->o.c.state_dir, &held_dg)
                    : cli_guard_only(&cu->lock, cu->o.c.state_dir, cu->o.instance, &held_dg)) == 0;
        cu->o.held_lock_fd = cu->lock.fd;
    }
    r = own_scan(&cu->o);
    if (r < 0) {
        fprintf(stderr, "corral cleanup: cannot read /proc: %s\n", strerror(-r));
        return CLI_FAILED;
    }
    if (cu->o.cleanup_pid) {
        fprintf(stderr,
                "corral cleanup: another cleanup (pid %d) is stopping the orphans of %s; "
                "nothing done\n",
                (int)cu->o.cleanup_pid, cu->o.c.state_dir);
        return CLI_FAILED;
    }
    if (cu->o.lock_lost) {
        fprintf(stderr,
                "corral cleanup: a corral (pid %d) runs this instance, but its state directory "
                "%s was removed or replaced while it runs: its API is out of reach, so its live "
                "services cannot be told from orphans; nothing done (stop it first)\n",
                (int)cu->o.corral_pid, cu->o.c.state_dir);
        return CLI_FAILED;
    }
    if (cu->o.guard_foreign_pid) {
        fprintf(stderr,
                "corral cleanup: the guard of instance %s (@corral/%s) is held by pid %d of uid "
                "%u, not by a corral of this user: if it is a corral of that user, its live "
                "services cannot be told from orphans; nothing done (that process must let it "
                "go first)\n",
                cu->o.instance, cu->o.instance, (int)cu->o.guard_foreign_pid,
                (unsigned)cu->o.guard_foreign_uid);
        return CLI_FAILED;
    }
    /* Held by nobody else, yet not by us: a corral could start in the middle
     * and have its live services taken for orphans. */
    if (!cu->dry_run && !held && !cu->o.running) {
        fprintf(stderr,
                "corral cleanup: cannot hold %s against a corral starting meanwhile (%s); "
                "nothing done\n",
                cu->o.c.state_dir, held_dg.msg);
        return CLI_FAILED;
    }
    if (cu->o.running && cu->o.api != 1) {
        fprintf(stderr,
                "corral cleanup: a corral runs for %s (pid %d) but its API does not "
                "answer: cannot tell its live services from orphans; nothing done\n",
                cu->o.c.state_dir, (int)cu->o.corral_pid);
        return CLI_FAILED;
    }
    for (size_t i = 0; i < cu->o.n; i++)
        if (cu->o.v[i].orphan_why && !track(cu, &cu->o.v[i]))
            return CLI_FAILED;
    if (cu->n_v == 0 && (cu->o.running || cu->o.n_cg == 0)) {
        printf("nothing to clean up for %s\n", cu->o.c.state_dir);
        return CLI_OK;
    }
    if (cu->n_v > 0)
        print_list(cu);
    for (size_t i = 0; !cu->o.running && i < cu->o.n_cg; i++)
        printf("cgroup %s: removed once empty\n", cu->o.cg_dirs[i]);
    if (cu->dry_run)
        return CLI_OK;
    if (cu->n_v > 0 && (r = confirm(cu)) != 1) {
        if (r == 0)
            printf("nothing done\n");
        return r == 0 ? CLI_FAILED : r;
    }
    survivors = cu->n_v > 0 ? stop_all(cu) : 0;
    for (size_t i = 0; !cu->o.running && i < cu->o.n_cg; i++)
        proc_cgroup_prune(cu->o.cg_dirs[i]);
    if (survivors) {
        report_survivors(cu);
        return CLI_FAILED;
    }
    printf("stopped %zu process%s\n", cu->n_v, cu->n_v == 1 ? "" : "es");
    return CLI_OK;
}

int cli_cleanup(int argc, char **argv)
{
    struct cleanup cu;
    int r;
    memset(&cu, 0, sizeof(cu));
    cu.lock.fd = -1;
    cu.lock.guard = -1;
    r = parse(&cu, argc, argv);
    if (r >= 0)
        return r;
    r = own_open(&cu.o, cu.file, cu.state_dir);
    if (r == 0)
        r = run(&cu);
    for (size_t i = 0; i < cu.n_v; i++) {
        free(cu.v[i].p.cgroup);
        if (cu.v[i].pidfd >= 0)
            close(cu.v[i].pidfd);
    }
    free(cu.v);
    free(cu.t);
    own_close(&cu.o);
    cfg_free(cu.m);
    cli_unlock(&cu.lock);
    return r;
}
