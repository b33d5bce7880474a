/* supervisor/contain.c — what "the whole tree of a service" means: its cgroup
 * when a writable cgroup v2 hierarchy exists, else its process group while the
 * leader is unreaped plus every process tagged with this instance and service. */
#include "proc/cgroup.h"
#include "proc/tree.h"
#include "supervisor/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define SURVIVOR_REPORT_MS 5000
#define SWEEP_AFTER_MS     100
#define CG_PIDS_MAX        4096
#define CHECK_REAP_EVERY   16 /* cgroups read between two reaps while trees end */

/* cgroup.events is modified when "populated" flips: wake the check then
 * instead of waiting for the fallback timer. */
static void on_inotify(struct loop *lp, int fd, uint32_t events, void *data)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    struct sup *s = data;
    bool check = false;
    ssize_t n;
    (void)lp;
    (void)events;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            /* memory.events (an OOM kill) is the limits' business; anything
             * else is a cgroup.events. */
            if (!(ev->mask & IN_MODIFY) || !limits_on_inotify(s, ev->wd))
                check = true;
            p += sizeof(*ev) + ev->len;
        }
    }
    if (check)
        sup_want_check(s, 0);
}

static int watch_events_init(struct sup *s, struct diag *dg)
{
    s->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (s->inotify_fd < 0) {
        diag_set(dg, -errno, "inotify: %s", strerror(errno));
        return -errno;
    }
    s->inotify_watch = loop_watch_add(s->lp, s->inotify_fd, EPOLLIN, on_inotify, s);
    if (!s->inotify_watch) {
        diag_set(dg, -errno, "epoll: %s", strerror(errno));
        return -errno;
    }
    return 0;
}

int contain_init(struct sup *s, struct diag *dg)
{
    struct diag why;
    char own[PATH_MAX];
    int r;
    s->cg_base_fd = -1;
    s->use_cgroup = false;
    if (s->m->containment == CFG_CONTAIN_PGROUP) {
        snprintf(s->contain_why, sizeof(s->contain_why),
                 "process groups + subreaper + environment tag (containment: pgroup in config)");
        return 0;
    }
    diag_clear(&why);
    r = proc_cgroup_detect(own, sizeof(own), &s->cg_mount_len, &why);
    if (r >= 0) {
        if ((size_t)snprintf(s->cg_base, sizeof(s->cg_base), "%s/corral-%s", own, s->instance) >=
            sizeof(s->cg_base))
            r = -ENAMETOOLONG;
        else
            r = s->cg_base_fd = proc_cgroup_make(AT_FDCWD, s->cg_base, &s->cg_base_made);
        if (r < 0)
            diag_set(&why, r, "cannot create %s: %s", s->cg_base, strerror(-r));
    }
    if (r >= 0) {
        snprintf(s->contain_why, sizeof(s->contain_why), "cgroup v2 at %s", s->cg_base);
        s->use_cgroup = true;
        limits_need(s);
        return watch_events_init(s, dg);
    }
    if (s->m->containment == CFG_CONTAIN_CGROUP) {
        diag_set(dg, r, "containment: cgroup was asked for, but %s", why.msg);
        return r;
    }
    snprintf(s->contain_why, sizeof(s->contain_why),
             "process groups + subreaper + environment tag (no usable cgroup v2: %s)", why.msg);
    return 0;
}

void contain_cgroup_owner(const struct sup *s, pid_t pid, char *out, size_t size)
{
    char path[64], text[4096], cg[PATH_MAX];
    const char *base = s->cg_base + s->cg_mount_len;
    size_t blen = strlen(base);
    int n;
    out[0] = '\0';
    if (!s->use_cgroup)
        return;
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    n = proc_read_at(AT_FDCWD, path, text, sizeof(text));
    if (n <= 0 || proc_cgroup_self_parse(text, cg, sizeof(cg)) < 0)
        return;
    if (strncmp(cg, base, blen) == 0 && cg[blen] == '/') {
        snprintf(out, size, "%.*s", (int)strcspn(cg + blen + 1, "/"), cg + blen + 1);
        return;
    }
    /* An adopted tree kept in a previous corral's subtree. */
    for (size_t i = 0; i < s->n; i++) {
        const char *own = s->svcs[i]->cg_path;
        size_t olen = own ? strlen(own) - s->cg_mount_len : 0;
        if (own && strncmp(cg, own + s->cg_mount_len, olen) == 0 &&
            (cg[olen] == '/' || !cg[olen])) {
            snprintf(out, size, "%s", s->svcs[i]->cfg->name);
            return;
        }
    }
}

void contain_cg_path(const struct service *svc, char *buf, size_t size)
{
    if (svc->cg_path)
        snprintf(buf, size, "%s", svc->cg_path);
    else
        snprintf(buf, size, "%s/%s", svc->sup->cg_base, svc->cfg->name);
}

/* Read after every exit of a main process: an fd kept open makes it one
 * pread instead of openat, read and close. */
static int tree_populated(struct service *svc)
{
    if (svc->events_fd < 0)
        svc->events_fd = openat(svc->cg_fd, "cgroup.events", O_RDONLY | O_CLOEXEC);
    if (svc->events_fd < 0)
        return proc_cgroup_populated(svc->cg_fd);
    return proc_cgroup_populated_fd(svc->events_fd);
}

void contain_release(struct service *svc)
{
    svc->mem_wd = -1; /* the watch goes with the directory */
    svc->cg_limited = false;
    health_files_close_cgroup(&svc->files);
    if (svc->events_fd >= 0) {
        close(svc->events_fd);
        svc->events_fd = -1;
    }
    if (svc->cg_fd < 0)
        return;
    close(svc->cg_fd);
    svc->cg_fd = -1;
    if (!svc->cg_path) {
        (void)unlinkat(svc->sup->cg_base_fd, svc->cfg->name, AT_REMOVEDIR);
        return;
    }
    /* A previous corral's subtree elsewhere: its parent goes with its last child. */
    (void)rmdir(svc->cg_path);
    char *slash = strrchr(svc->cg_path, '/');
    if (slash && slash != svc->cg_path) {
        *slash = '\0';
        if (strcmp(svc->cg_path, svc->sup->cg_base) != 0)
            (void)rmdir(svc->cg_path);
    }
    free(svc->cg_path);
    svc->cg_path = NULL;
}

void contain_cleanup(struct sup *s)
{
    loop_watch_del(s->lp, s->inotify_watch);
    s->inotify_watch = NULL;
    if (s->inotify_fd >= 0) {
        close(s->inotify_fd);
        s->inotify_fd = -1;
    }
    if (s->cg_base_fd >= 0) {
        close(s->cg_base_fd);
        s->cg_base_fd = -1;
        /* With whatever empty cgroups are left in it: those of services a
         * previous corral ran and this config no longer has, emptied by
         * `corral cleanup` while this corral ran. */
        proc_cgroup_prune(s->cg_base);
    }
}

/* A new, empty cgroup for the service: the kernel kills every process cloned
 * into a cgroup (CLONE_INTO_CGROUP) that once had cgroup.kill written, as its
 * kill sequence differs from the parent's, so an old empty one is replaced.
 * A populated one (a tree to recover) fails to go with EBUSY and is kept.
 * The mkdir comes first: in the usual case there is none, and that costs no
 * lookup of one. */
static int cgroup_fresh(int base_fd, const char *name)
{
    int fd;
    if (mkdirat(base_fd, name, 0755) < 0) {
        if (errno != EEXIST)
            return -errno;
        if (unlinkat(base_fd, name, AT_REMOVEDIR) == 0 && mkdirat(base_fd, name, 0755) < 0)
            return -errno;
    }
    fd = openat(base_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int contain_prepare(struct service *svc)
{
    struct sup *s = svc->sup;
    if (!s->use_cgroup || svc->cg_fd >= 0)
        return 0;
    svc->cg_fd = cgroup_fresh(s->cg_base_fd, svc->cfg->name);
    return svc->cg_fd < 0 ? svc->cg_fd : 0;
}

/* Is anything of the cgroup's tree left? The first time a tree outlives its
 * main process, its cgroup.events is watched, so that its emptying wakes the
 * check; most trees are empty once the main process is reaped, and a watch
 * for every service at start cost ~10 us each. */
static bool cgroup_left(struct service *svc)
{
    struct sup *s = svc->sup;
    char path[PATH_MAX];
    if (tree_populated(svc) <= 0)
        return false;
    if (svc->events_watched)
        return true;
    svc->events_watched = true;
    contain_cg_path(svc, path, sizeof(path) - sizeof("/cgroup.events"));
    strcat(path, "/cgroup.events");
    /* No wd is kept: any change means "check the stopping trees". */
    (void)inotify_add_watch(s->inotify_fd, path, IN_MODIFY);
    /* It may have emptied between the read and the watch. */
    return tree_populated(svc) > 0;
}

/* The sweep's stop signal goes to what was there when the stop began: a
 * process the stop signal's handler started since (a clean-up script, a
 * deregistration) is its work, not what is being stopped, and is left to
 * finish. A start in the stop's own clock tick cannot be told apart and is
 * signalled. */
static bool born_after_stop(const struct service *svc, uint64_t start_ticks)
{
    return start_ticks > svc->stop_ticks;
}

/* Every member by pidfd, each checked to still be in the cgroup after its
 * pidfd is open, so a PID reused since cgroup.procs was read is never hit. */
static void cgroup_signal_members(struct service *svc, int sig)
{
    pid_t pids[CG_PIDS_MAX];
    char path[PATH_MAX];
    const char *rel;
    int n = proc_cgroup_pids(svc->cg_fd, pids, CG_PIDS_MAX);
    if (n <= 0)
        return;
    /* As /proc/PID/cgroup names it: below the mount point, not below "/". */
    contain_cg_path(svc, path, sizeof(path));
    rel = path + svc->sup->cg_mount_len;
    for (int i = 0; i < n; i++) {
        struct proc_stat st;
        struct proc_id id = {.pid = pids[i]};
        int fd;
        if (pids[i] == svc->pid)
            continue; /* signalled through its own pidfd already */
        if (proc_stat_read(pids[i], &st) < 0 || born_after_stop(svc, st.start_ticks))
            continue;
        snprintf(id.boot_id, sizeof(id.boot_id), "%s", svc->sup->boot_id);
        id.start_ticks = st.start_ticks;
        fd = proc_ident_open(&id, svc->sup->boot_id);
        if (fd < 0)
            continue;
        if (proc_cgroup_contains(pids[i], rel)) {
            (void)proc_pidfd_signal(fd, sig);
            if (sig != SIGKILL) /* see continue_main() */
                (void)proc_pidfd_signal(fd, SIGCONT);
        }
        close(fd);
    }
}

/* A stopped process (SIGSTOP, a debugger's) keeps its stop signal pending
 * until it is continued, and would sit out the whole stop timeout. Continued
 * at the sweep, when the main process is still there SWEEP_AFTER_MS after
 * its stop signal, not with every stop signal: most mains are gone by then. */
static void continue_main(struct service *svc)
{
    if (svc->pid <= 0)
        return;
    if (svc->pidfd >= 0)
        (void)proc_pidfd_signal(svc->pidfd, SIGCONT);
    /* Its group, while its PID still names it (see contain_signal). */
    if (svc->cg_fd < 0 && svc->signalled_pgid == svc->pid && !sup_reap_queued(svc->sup, svc->pid))
        (void)kill(-svc->pid, SIGCONT);
}

/* Each process gets the stop signal once: a second SIGINT means "force quit"
 * to many programs. Here the main process (through its pidfd) or the whole
 * process group; the rest of the tree is swept once by a later check (see
 * contain_check). */
void contain_signal(struct service *svc, int sig)
{
    if (svc->cg_fd >= 0) {
        if (sig == SIGKILL)
            (void)proc_cgroup_kill(svc->cg_fd);
        else if (svc->pidfd >= 0)
            (void)proc_pidfd_signal(svc->pidfd, sig);
        return;
    }
    /* A main process named by MAINPID= need not lead a group: it gets the
     * signal through its pidfd, and the sweep that follows reaches the rest. */
    if (svc->main_not_leader) {
        if (svc->pidfd >= 0)
            (void)proc_pidfd_signal(svc->pidfd, sig);
        svc->signalled_pgid = 0;
        return;
    }
    /* The leader is our unreaped child (or, adopted, alive by its pidfd), so
     * its PID still names this group; one reaped into the queue but not yet
     * handled does not. */
    if (svc->pid > 0 && !sup_reap_queued(svc->sup, svc->pid) &&
        (!svc->adopted || !proc_pidfd_exited(svc->pidfd))) {
        (void)kill(-svc->pid, sig);
        svc->signalled_pgid = svc->pid;
    }
}

static bool report_due(const struct service *svc, uint64_t now)
{
    return svc->kill_sent && now - svc->kill_ms >= SURVIVOR_REPORT_MS;
}

static void emit_survivor(struct service *svc, pid_t pid)
{
    char cmd[512];
    if (proc_cmdline_read(pid, cmd, sizeof(cmd)) < 0)
        cmd[0] = '\0';
    sup_emit(svc->sup, SUP_EV_SURVIVOR, svc, pid, cmd);
}

/* SIGKILL went out a while ago and the tree is still not empty (a process in
 * uninterruptible sleep, say): name every survivor, then again each period. */
struct scan_ctx {
    struct sup *s;
    uint64_t now;
    struct service *only; /* count for one service only */
};

static void on_member(void *ctx, const char *service, const struct proc_member *m)
{
    struct scan_ctx *sc = ctx;
    struct service *svc = sc->only ? sc->only : sup_by_name(sc->s, service);
    if (!svc || strcmp(svc->cfg->name, service) != 0)
        return;
    if (m->pid == svc->pid)
        return;
    svc->members++;
    if (svc->state != SVC_STOPPING)
        return;
    if (svc->kill_sent && report_due(svc, sc->now))
        emit_survivor(svc, m->pid);
    if (svc->kill_sent) {
        (void)proc_member_signal(m, SIGKILL);
        pid_ring_note(&sc->s->stop_hit, m->pid);
    } else if (!svc->term_swept && m->pgid != svc->signalled_pgid &&
               !born_after_stop(svc, m->start_ticks)) {
        (void)proc_member_signal(m, svc->cfg->stop.signal);
        (void)proc_member_signal(m, SIGCONT); /* see continue_main() */
        pid_ring_note(&sc->s->stop_hit, m->pid);
    }
}

int contain_leftover(struct service *svc)
{
    struct scan_ctx sc = {.s = svc->sup, .only = svc};
    if (svc->cg_fd >= 0)
        return tree_populated(svc) > 0;
    svc->members = 0;
    /* A previous corral's tree's orphans went to another reaper, not to us. */
    if (svc->inherited)
        (void)proc_tree_scan(svc->sup->instance, on_member, &sc);
    else
        (void)proc_tree_scan_children(svc->sup->instance, on_member, &sc);
    return svc->members > 0;
}

static void report_survivors(struct service *svc, uint64_t now)
{
    pid_t pids[64];
    int n = 0;
    svc->kill_ms = now;
    svc->sup->any_survivor = true;
    if (svc->cg_fd >= 0)
        n = proc_cgroup_pids(svc->cg_fd, pids, 64);
    for (int i = 0; i < n; i++)
        emit_survivor(svc, pids[i]);
    if (svc->pid > 0)
        emit_survivor(svc, svc->pid);
}

static bool check_done(struct service *svc, bool left, uint64_t now)
{
    if (left) {
        if (report_due(svc, now))
            report_survivors(svc, now);
        return true;
    }
    svc_tree_empty(svc);
    return false;
}

/* Is the rest of the tree due the stop signal? Once the main process is gone,
 * at SIGKILL, or SWEEP_AFTER_MS after the stop began; until then next_ms is
 * lowered to when it will be. */
static bool sweep_due(const struct service *svc, uint64_t now, uint64_t *next_ms)
{
    uint64_t due;
    if (svc->pid == 0 || svc->kill_sent || now - svc->stop_ms >= SWEEP_AFTER_MS)
        return true;
    due = SWEEP_AFTER_MS - (now - svc->stop_ms);
    if (due < *next_ms)
        *next_ms = due;
    return false;
}

/* The stop signal went to the main process; the rest of a cgroup's tree gets
 * it once, from a sweep of cgroup.procs, as soon as the main process is gone
 * and the tree is not empty, or SWEEP_AFTER_MS after the stop began while the
 * main process still runs. Most trees are empty once their main process is
 * reaped and need no sweep (reading every cgroup.procs at once took the CPU
 * that a thousand exiting services needed), and a program that passes the
 * signal on to its own children is not overtaken. While the main process is
 * unreaped the stop cannot be complete and its SIGCHLD brings us back, so the
 * cgroup is not read before that. next_ms: when the next sweep is due. */
static bool check_cgroup(struct service *svc, uint64_t now, uint64_t *next_ms)
{
    bool sweep = !svc->term_swept && !svc->kill_sent;
    bool left = true;
    if (sweep && !sweep_due(svc, now, next_ms)) {
        sweep = false;
    } else if (svc->pid == 0) {
        left = cgroup_left(svc);
    }
    if (left && sweep) {
        cgroup_signal_members(svc, svc->cfg->stop.signal);
        continue_main(svc);
        svc->term_swept = true;
    }
    return check_done(svc, left, now);
}

static int pid_order(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

/* Once its main process is reaped, what is left of a tree has reparented to
 * corral, the subreaper: it is below a child of corral that is no service's
 * main. When every child of corral is a main (or an unreaped zombie of one)
 * or a helper (sup_own_helper), no tree whose main is gone has anything
 * left, and no walk down every child's tree is needed to know it. */
static bool only_mains_below(struct sup *s)
{
    size_t n_known = 0, max = s->n + 16;
    pid_t *known = malloc((s->n + SUP_HELPERS) * sizeof(*known));
    pid_t *kids = malloc(max * sizeof(*kids));
    bool only = false;
    int n;
    if (known && kids && (n = proc_self_children(kids, max)) >= 0) {
        for (size_t i = 0; i < s->n; i++)
            if (s->svcs[i]->pid > 0 && !s->svcs[i]->adopted)
                known[n_known++] = s->svcs[i]->pid;
        for (size_t i = 0; i < SUP_HELPERS; i++)
            if (s->helpers[i] > 0)
                known[n_known++] = s->helpers[i];
        qsort(known, n_known, sizeof(*known), pid_order);
        only = true;
        for (int i = 0; i < n && only; i++)
            only = bsearch(&kids[i], known, n_known, sizeof(*known), pid_order) != NULL;
    }
    free(known);
    free(kids);
    return only;
}

void contain_check(struct sup *s)
{
    struct scan_ctx sc = {.s = s, .now = loop_now_ms()};
    uint64_t next_ms = UINT64_MAX;
    bool need_scan = false;
    bool need_all = false;  /* a previous corral's tree: its orphans are not below us */
    bool need_walk = false; /* a live main's tree is due its sweep: walk down to it */
    bool walked = false;
    bool pending = false;
    size_t read = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct service *svc = s->svcs[i];
        svc->members = 0;
        /* While a main process is unreaped the stop cannot be complete, and
         * SIGCHLD will bring us back: scan only for trees that might be done. */
        if (svc->state != SVC_STOPPING || svc->cg_fd >= 0 ||
            (svc->pid > 0 && svc->term_swept && !svc->kill_sent))
            continue;
        need_scan = true;
        need_all = need_all || svc->inherited;
        /* As with a cgroup, the rest of a live main's tree gets the stop
         * signal once the main is gone or SWEEP_AFTER_MS after the stop
         * began: a program that passes the signal on to its children is not
         * overtaken, and a stop whose mains exit at once walks no tree. */
        if (svc->pid > 0 && sweep_due(svc, sc.now, &next_ms))
            need_walk = true;
    }
    if (need_all) {
        (void)proc_tree_scan(s->instance, on_member, &sc);
        walked = true;
    } else if (need_scan && (need_walk || !only_mains_below(s))) {
        (void)proc_tree_scan_descendants(s->instance, on_member, &sc);
        walked = true;
    }
    for (size_t i = 0; i < s->n; i++) {
        struct service *svc = s->svcs[i];
        if (svc->state != SVC_STOPPING)
            continue;
        if (svc->cg_fd >= 0) {
            /* Trees end while their cgroups are read: their zombies are
             * taken now and then, not left until all are read. */
            if (svc->pid == 0 && ++read % CHECK_REAP_EVERY == 0)
                sup_reap_only(s);
            if (check_cgroup(svc, sc.now, &next_ms))
                pending = true;
            continue;
        }
        /* Walked, every member found had the signal; not walked, a tree
         * whose main is gone has no member left to have it. */
        if (need_scan && (walked || svc->pid == 0)) {
            if (walked && !svc->term_swept && !svc->kill_sent)
                continue_main(svc);
            svc->term_swept = true;
        }
        if (check_done(svc, svc->pid > 0 || svc->members > 0, sc.now))
            pending = true;
    }
    /* Without a cgroup nothing announces an emptied tree but SIGCHLD from the
     * orphans we reap, so poll briefly while a stop is in progress; with one,
     * come back when a sweep is due, else only as a fallback. */
    if (pending)
        sup_want_check(s, next_ms < (need_scan ? 100 : 1000) ? next_ms : need_scan ? 100 : 1000);
    if (s->n_reaped)
        sup_reap(s);
}
