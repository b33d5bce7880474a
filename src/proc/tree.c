/* proc/tree.c — walk /proc (or corral's children) for tagged processes. */
#include "proc/tree.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ENVIRON_MAX     (256 * 1024)
#define SERVICE_MAX     128
#define DESCENDANTS_MAX (1 << 20) /* a walk that meets reused PIDs still ends */

struct scan {
    const char *instance;
    proc_tree_fn fn;
    void *ctx;
    char *env;
    int found;
    /* Walking down: children are queued here, to be walked and then visited;
     * incomplete when one may have been missed. */
    bool walk_down;
    bool incomplete;
    pid_t *queue;
    size_t n_queue;
    size_t cap_queue;
};

static void visit(struct scan *sc, pid_t pid)
{
    char service[SERVICE_MAX];
    struct proc_stat st;
    struct proc_member m;
    char path[64];
    int n;
    if (pid == getpid())
        return;
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    n = proc_read_at(AT_FDCWD, path, sc->env, ENVIRON_MAX);
    if (n <= 0 || !proc_environ_tag(sc->env, (size_t)n, sc->instance, service, sizeof(service)))
        return;
    if (proc_stat_read(pid, &st) < 0 || st.state == 'Z')
        return;
    m.pid = pid;
    m.pgid = st.pgid;
    m.start_ticks = st.start_ticks;
    m.state = st.state;
    sc->found++;
    sc->fn(sc->ctx, service, &m);
}

int proc_tag_of(pid_t pid, const char *instance, char *service, size_t size)
{
    char path[64];
    char *env = malloc(ENVIRON_MAX);
    int n, r = 0;
    if (!env)
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    n = proc_read_at(AT_FDCWD, path, env, ENVIRON_MAX);
    if (n > 0)
        r = proc_environ_tag(env, (size_t)n, instance, service, size);
    free(env);
    return r;
}

static void visit_pid_entry(struct scan *sc, int dirfd, const char *name)
{
    (void)dirfd;
    visit(sc, (pid_t)atoi(name));
}

static void enqueue(struct scan *sc, pid_t pid)
{
    if (sc->n_queue == sc->cap_queue) {
        size_t cap = sc->cap_queue ? sc->cap_queue * 2 : 64;
        pid_t *q = cap <= DESCENDANTS_MAX ? realloc(sc->queue, cap * sizeof(*q)) : NULL;
        if (!q) {
            sc->incomplete = true;
            return;
        }
        sc->queue = q;
        sc->cap_queue = cap;
    }
    sc->queue[sc->n_queue++] = pid;
}

static void visit_children_file(struct scan *sc, int dirfd, const char *tid)
{
    char path[64];
    char buf[1 << 14];
    int n;
    snprintf(path, sizeof(path), "%s/children", tid);
    /* A child list longer than the buffer is cut; the cut PIDs are seen by
     * the next check, and a supervisor's own children are mostly known mains. */
    n = proc_read_at(dirfd, path, buf, sizeof(buf));
    if (sc->walk_down && n >= (int)sizeof(buf) - 1)
        sc->incomplete = true; /* perhaps cut */
    for (char *p = buf; n > 0 && *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        if (sc->walk_down)
            enqueue(sc, (pid_t)pid);
        else
            visit(sc, (pid_t)pid);
        p = end;
        while (*p == ' ')
            p++;
    }
}

/* Call each() for every numeric entry of dir. */
static int each_entry(struct scan *sc, const char *dir,
                      void (*each)(struct scan *, int, const char *))
{
    struct dirent *de;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    while ((de = readdir(d)))
        if (isdigit((unsigned char)de->d_name[0]))
            each(sc, dirfd(d), de->d_name);
    closedir(d);
    return 0;
}

static int scan_dir(const char *dir, const char *instance, proc_tree_fn fn, void *ctx,
                    void (*each)(struct scan *, int, const char *))
{
    struct scan sc = {.instance = instance, .fn = fn, .ctx = ctx};
    int r;
    sc.env = malloc(ENVIRON_MAX);
    if (!sc.env)
        return -ENOMEM;
    r = each_entry(&sc, dir, each);
    free(sc.env);
    return r < 0 ? r : sc.found;
}

int proc_instance_of(const char *state_dir, char out[PROC_INSTANCE_LEN + 1])
{
    char real[PATH_MAX];
    if (!realpath(state_dir, real))
        return -errno;
    proc_instance_hash(real, out);
    return 0;
}

void proc_instance_hash(const char *real_path, char out[PROC_INSTANCE_LEN + 1])
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a: stable across versions */
    for (const unsigned char *p = (const unsigned char *)real_path; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    snprintf(out, PROC_INSTANCE_LEN + 1, "%016llx", (unsigned long long)h);
}

int proc_tree_scan(const char *instance, proc_tree_fn fn, void *ctx)
{
    return scan_dir("/proc", instance, fn, ctx, visit_pid_entry);
}

int proc_tree_scan_children(const char *instance, proc_tree_fn fn, void *ctx)
{
    return scan_dir("/proc/self/task", instance, fn, ctx, visit_children_file);
}

int proc_self_children(pid_t *out, size_t max)
{
    struct scan sc = {.walk_down = true}; /* only queued, never visited */
    int r = each_entry(&sc, "/proc/self/task", visit_children_file);
    if (r >= 0 && (sc.incomplete || sc.n_queue > max))
        r = -E2BIG;
    if (r >= 0 && sc.n_queue)
        memcpy(out, sc.queue, sc.n_queue * sizeof(*out));
    if (r >= 0)
        r = (int)sc.n_queue;
    free(sc.queue);
    return r;
}

int proc_tree_scan_descendants(const char *instance, proc_tree_fn fn, void *ctx)
{
    struct scan sc = {.instance = instance, .fn = fn, .ctx = ctx, .walk_down = true};
    int r = each_entry(&sc, "/proc/self/task", visit_children_file);
    /* Breadth first, all of the tree before any visit: a walk that may have
     * missed a process gives way to the whole of /proc. One gone meanwhile
     * has no task directory left to walk. */
    for (size_t i = 0; r >= 0 && i < sc.n_queue; i++) {
        char dir[64];
        snprintf(dir, sizeof(dir), "/proc/%d/task", (int)sc.queue[i]);
        (void)each_entry(&sc, dir, visit_children_file);
    }
    sc.walk_down = false;
    if (r < 0 || sc.incomplete || !(sc.env = malloc(ENVIRON_MAX))) {
        free(sc.queue);
        return proc_tree_scan(instance, fn, ctx);
    }
    for (size_t i = 0; i < sc.n_queue; i++)
        visit(&sc, sc.queue[i]);
    free(sc.queue);
    free(sc.env);
    return sc.found;
}

int proc_member_signal(const struct proc_member *m, int sig)
{
    struct proc_stat st;
    int r;
    int fd = (int)syscall(SYS_pidfd_open, m->pid, 0);
    if (fd < 0)
        return -errno;
    if (proc_stat_read(m->pid, &st) < 0 || st.start_ticks != m->start_ticks)
        r = -ESRCH;
    else
        r = proc_pidfd_signal(fd, sig);
    close(fd);
    return r;
}
