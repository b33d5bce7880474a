/* proc/tree.c — walk /proc (or corral's children) for tagged processes. */
#include "proc/tree.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

static ssize_t read_environ(pid_t pid, char *buf, size_t size)
{
    char path[64];
    ssize_t got = 0;
    int fd;
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    while ((size_t)got < size) {
        ssize_t n = read(fd, buf + got, size - (size_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += n;
    }
    close(fd);
    return got;
}

static void visit(struct scan *sc, pid_t pid)
{
    char service[SERVICE_MAX];
    struct proc_stat st;
    struct proc_member m;
    ssize_t n;
    if (pid == getpid())
        return;
    n = read_environ(pid, sc->env, ENVIRON_MAX);
    if (n <= 0 || !proc_environ_tag(sc->env, (size_t)n, sc->instance, service, sizeof(service)))
        return;
    if (proc_stat_read(pid, &st) < 0 || st.state == 'Z')
        return;
    m.pid = pid;
    m.start_ticks = st.start_ticks;
    m.state = st.state;
    sc->found++;
    sc->fn(sc->ctx, service, &m);
}

static int scan_init(struct scan *sc, const char *instance, proc_tree_fn fn, void *ctx)
{
    sc->instance = instance;
    sc->fn = fn;
    sc->ctx = ctx;
    sc->found = 0;
    sc->env = malloc(ENVIRON_MAX);
    return sc->env ? 0 : -ENOMEM;
}

int proc_tree_scan(const char *instance, proc_tree_fn fn, void *ctx)
{
    struct scan sc;
    struct dirent *de;
    DIR *d;
    int r = scan_init(&sc, instance, fn, ctx);
    if (r < 0)
        return r;
    d = opendir("/proc");
    if (!d) {
        free(sc.env);
        return -errno;
    }
    while ((de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        visit(&sc, (pid_t)atoi(de->d_name));
    }
    closedir(d);
    free(sc.env);
    return sc.found;
}

static void scan_children_file(struct scan *sc, int dirfd, const char *tid)
{
    char path[64];
    char buf[1 << 14];
    ssize_t n;
    int fd;
    snprintf(path, sizeof(path), "%s/children", tid);
    fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    /* A partial last read can cut a PID; the file is small for a supervisor
     * whose children are mostly known mains, and a cut PID is revisited on
     * the next check. */
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    for (char *p = buf; *p;) {
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

int proc_tree_scan_children(const char *instance, proc_tree_fn fn, void *ctx)
{
    struct scan sc;
    struct dirent *de;
    DIR *d;
    int r = scan_init(&sc, instance, fn, ctx);
    if (r < 0)
        return r;
    d = opendir("/proc/self/task");
    if (!d) {
        free(sc.env);
        return -errno;
    }
    while ((de = readdir(d)))
        if (isdigit((unsigned char)de->d_name[0]))
            scan_children_file(&sc, dirfd(d), de->d_name);
    closedir(d);
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
