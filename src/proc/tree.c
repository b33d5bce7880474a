/* proc/tree.c — walk /proc (or corral's children) for tagged processes. */
#include "proc/tree.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ENVIRON_MAX (256 * 1024)
#define SERVICE_MAX 128

struct scan {
    const char *instance;
    proc_tree_fn fn;
    void *ctx;
    char *env;
    int found;
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

static void visit_children_file(struct scan *sc, int dirfd, const char *tid)
{
    char path[64];
    char buf[1 << 14];
    int n;
    snprintf(path, sizeof(path), "%s/children", tid);
    /* A child list longer than the buffer is cut; the cut PIDs are seen by
     * the next check, and a supervisor's own children are mostly known mains. */
    n = proc_read_at(dirfd, path, buf, sizeof(buf));
    for (char *p = buf; n > 0 && *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        visit(sc, (pid_t)pid);
        p = end;
        while (*p == ' ')
            p++;
    }
}

/* Call each() for every numeric entry of dir. */
static int scan_dir(const char *dir, const char *instance, proc_tree_fn fn, void *ctx,
                    void (*each)(struct scan *, int, const char *))
{
    struct scan sc = {.instance = instance, .fn = fn, .ctx = ctx};
    struct dirent *de;
    DIR *d;
    sc.env = malloc(ENVIRON_MAX);
    if (!sc.env)
        return -ENOMEM;
    d = opendir(dir);
    if (!d) {
        free(sc.env);
        return -errno;
    }
    while ((de = readdir(d)))
        if (isdigit((unsigned char)de->d_name[0]))
            each(&sc, dirfd(d), de->d_name);
    closedir(d);
    free(sc.env);
    return sc.found;
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
