/* proc/scan.c — one walk over /proc into a sorted snapshot, and the readers a
 * check runs on the few processes it singles out. */
#include "proc/scan.h"

#include "proc/cgroup.h"
#include "proc/ident.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ENVIRON_MAX   (256 * 1024) /* the tag is appended last: read it all */
#define STAT_MAX      1024
#define CG_DEPTH_MAX  32
#define CG_DIRS_MAX   100000
#define MOUNTINFO_MAX (1 << 18)

/* --- pure helpers --------------------------------------------------------------------- */

int proc_comm_parse(const char *stat_text, char *out, size_t size)
{
    const char *open = strchr(stat_text, '(');
    const char *close = strrchr(stat_text, ')');
    size_t len;
    if (!open || !close || close < open || size == 0)
        return -EINVAL;
    len = (size_t)(close - open - 1);
    if (len >= size)
        len = size - 1;
    memcpy(out, open + 1, len);
    out[len] = '\0';
    return 0;
}

bool proc_entry_reparented(const struct proc_entry *e, const struct proc_entry *parent)
{
    if (e->sid == e->pid || e->ppid <= 0)
        return false;
    if (e->ppid == 1)
        return true;
    return parent && parent->sid != e->sid;
}

int proc_schedstat_parse(const char *text, uint64_t *ns)
{
    char *end;
    errno = 0;
    *ns = strtoull(text, &end, 10);
    return errno || end == text ? -EINVAL : 0;
}

double proc_cpu_percent(uint64_t ns_before, uint64_t ns_after, uint64_t window_ns)
{
    if (window_ns == 0 || ns_after < ns_before)
        return 0.0;
    return 100.0 * (double)(ns_after - ns_before) / (double)window_ns;
}

uint64_t proc_boottime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t proc_boottime_ticks(void)
{
    long hz = sysconf(_SC_CLK_TCK);
    return proc_boottime_ns() / (1000000000ULL / (uint64_t)(hz > 0 ? hz : 100));
}

uint64_t proc_age_ms(uint64_t start_ticks, uint64_t boottime_ns)
{
    long hz = sysconf(_SC_CLK_TCK);
    uint64_t start_ms = start_ticks * 1000ULL / (uint64_t)(hz > 0 ? hz : 100);
    uint64_t now_ms = boottime_ns / 1000000ULL;
    return now_ms > start_ms ? now_ms - start_ms : 0;
}

/* --- the snapshot --------------------------------------------------------------------- */

struct walk {
    struct proc_snap *s;
    const char *instance;
    char *env;
};

static int grow(struct proc_snap *s)
{
    size_t cap;
    struct proc_entry *v;
    if (s->n < s->cap)
        return 0;
    cap = s->cap ? 2 * s->cap : 1024;
    v = realloc(s->v, cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    s->v = v;
    s->cap = cap;
    return 0;
}

/* dirfd: /proc; name: the PID's entry. 1 added, 0 skipped, -errno. */
static int read_one(struct walk *w, int dirfd, const char *name, pid_t pid)
{
    char path[64], text[STAT_MAX];
    struct proc_stat st;
    struct proc_entry *e;
    int n;
    snprintf(path, sizeof(path), "%s/stat", name);
    n = proc_read_at(dirfd, path, text, sizeof(text));
    if (n <= 0 || proc_stat_parse(text, (size_t)n, &st) < 0)
        return 0; /* gone since readdir */
    if (pid == 2 || st.ppid == 2)
        return 0; /* kernel threads */
    if (grow(w->s) < 0)
        return -ENOMEM;
    e = &w->s->v[w->s->n];
    memset(e, 0, sizeof(*e));
    e->pid = pid;
    e->ppid = st.ppid;
    e->pgid = st.pgid;
    e->sid = st.sid;
    e->state = st.state;
    e->start_ticks = st.start_ticks;
    (void)proc_comm_parse(text, e->comm, sizeof(e->comm));
    if (w->instance && st.state != 'Z') {
        snprintf(path, sizeof(path), "%s/environ", name);
        n = proc_read_at(dirfd, path, w->env, ENVIRON_MAX);
        if (n > 0)
            e->tagged =
                proc_environ_tag(w->env, (size_t)n, w->instance, e->service, sizeof(e->service));
    }
    w->s->n++;
    return 1;
}

bool proc_environ_contains(const char *env, size_t len, const char *entry)
{
    size_t elen = strlen(entry);
    for (size_t i = 0; i < len;) {
        const char *e = env + i;
        size_t n = strnlen(e, len - i);
        if (n == elen && memcmp(e, entry, elen) == 0)
            return true;
        i += n + 1;
    }
    return false;
}

bool proc_environ_has(pid_t pid, const char *entry, char *buf, size_t size)
{
    char path[64];
    int n;
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    n = proc_read_at(AT_FDCWD, path, buf, size);
    return n > 0 && proc_environ_contains(buf, (size_t)n, entry);
}

static int by_pid(const void *a, const void *b)
{
    const struct proc_entry *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

int proc_snap_take(struct proc_snap *s, const char *instance)
{
    struct walk w = {.s = s, .instance = instance};
    struct dirent *de;
    pid_t self = getpid();
    bool sorted = true;
    int r = 0;
    DIR *d;
    memset(s, 0, sizeof(*s));
    w.env = malloc(ENVIRON_MAX);
    d = w.env ? opendir("/proc") : NULL;
    if (!d) {
        r = w.env ? -errno : -ENOMEM;
        free(w.env);
        return r;
    }
    while (r >= 0 && (de = readdir(d))) {
        char *end;
        long pid;
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0 || pid == self)
            continue;
        r = read_one(&w, dirfd(d), de->d_name, (pid_t)pid);
        if (r > 0 && s->n > 1 && s->v[s->n - 2].pid > s->v[s->n - 1].pid)
            sorted = false;
    }
    closedir(d);
    free(w.env);
    if (r < 0) {
        proc_snap_free(s);
        return r;
    }
    if (!sorted)
        qsort(s->v, s->n, sizeof(*s->v), by_pid);
    return 0;
}

int proc_snap_add(struct proc_snap *s, pid_t pid, const char *instance)
{
    struct walk w = {.s = s, .instance = instance};
    char name[32];
    int r;
    if (proc_snap_find(s, pid))
        return 0;
    w.env = malloc(ENVIRON_MAX);
    if (!w.env)
        return -ENOMEM;
    snprintf(name, sizeof(name), "%d", (int)pid);
    r = read_one(&w, AT_FDCWD, name, pid);
    free(w.env);
    if (r <= 0)
        return r;
    /* Rare (a process that appeared after the walk): keep the order simply. */
    qsort(s->v, s->n, sizeof(*s->v), by_pid);
    return 0;
}

void proc_snap_free(struct proc_snap *s)
{
    free(s->v);
    memset(s, 0, sizeof(*s));
}

struct proc_entry *proc_snap_find(const struct proc_snap *s, pid_t pid)
{
    struct proc_entry key = {.pid = pid};
    if (s->n == 0)
        return NULL;
    return bsearch(&key, s->v, s->n, sizeof(*s->v), by_pid);
}

/* --- per-process readers --------------------------------------------------------------- */

static int stat_cpu_ns(pid_t pid, uint64_t *ns)
{
    struct proc_stat st;
    long hz = sysconf(_SC_CLK_TCK);
    int r = proc_stat_read(pid, &st);
    if (r < 0)
        return r;
    *ns = (st.utime_ticks + st.stime_ticks) * (1000000000ULL / (uint64_t)(hz > 0 ? hz : 100));
    return 0;
}

int proc_cpu_ns(pid_t pid, uint64_t *ns)
{
    char path[64];
    struct dirent *de;
    uint64_t sum = 0;
    int tasks = 0;
    DIR *d;
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    d = opendir(path);
    if (!d)
        return errno == ENOENT ? -ESRCH : -errno;
    while ((de = readdir(d))) {
        char text[128], file[64];
        uint64_t v;
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        snprintf(file, sizeof(file), "%s/schedstat", de->d_name);
        if (proc_read_at(dirfd(d), file, text, sizeof(text)) <= 0 ||
            proc_schedstat_parse(text, &v) < 0) {
            closedir(d);
            return stat_cpu_ns(pid, ns); /* no schedstat in this kernel */
        }
        sum += v;
        tasks++;
    }
    closedir(d);
    if (tasks == 0)
        return -ESRCH;
    *ns = sum;
    return 0;
}

int proc_cgroup_of(pid_t pid, char *out, size_t size)
{
    char path[64], text[4096];
    int n;
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    n = proc_read_at(AT_FDCWD, path, text, sizeof(text));
    if (n < 0)
        return n;
    return proc_cgroup_self_parse(text, out, size);
}

int proc_socket_inodes(pid_t pid, uint64_t *inodes, size_t max)
{
    char path[64];
    struct dirent *de;
    size_t n = 0;
    DIR *d;
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    d = opendir(path);
    if (!d)
        return -errno;
    while (n < max && (de = readdir(d))) {
        char link[64];
        ssize_t len;
        if (de->d_name[0] == '.')
            continue;
        len = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
        if (len <= 0)
            continue;
        link[len] = '\0';
        if (sscanf(link, "socket:[%" SCNu64 "]", &inodes[n]) == 1)
            n++;
    }
    closedir(d);
    return (int)n;
}

/* --- cgroups ------------------------------------------------------------------------ */

struct cg_find {
    const char *name;
    void (*fn)(void *ctx, const char *dir);
    void *ctx;
    size_t dirs;
    int found;
};

static void find_in(struct cg_find *f, char *path, size_t len, int depth)
{
    struct dirent *de;
    DIR *d;
    if (depth > CG_DEPTH_MAX || f->dirs++ > CG_DIRS_MAX)
        return;
    d = opendir(path);
    if (!d)
        return;
    while ((de = readdir(d))) {
        size_t nlen = strlen(de->d_name);
        if (de->d_type != DT_DIR || de->d_name[0] == '.' || len + 1 + nlen >= PATH_MAX)
            continue;
        path[len] = '/';
        memcpy(path + len + 1, de->d_name, nlen + 1);
        if (strcmp(de->d_name, f->name) == 0) {
            f->fn(f->ctx, path);
            f->found++;
        } else {
            find_in(f, path, len + 1 + nlen, depth + 1);
        }
        path[len] = '\0';
    }
    closedir(d);
}

int proc_cgroup_find_named(const char *name, void (*fn)(void *ctx, const char *dir), void *ctx,
                           size_t *mount_len)
{
    struct cg_find f = {.name = name, .fn = fn, .ctx = ctx};
    char path[PATH_MAX];
    char *mountinfo = malloc(MOUNTINFO_MAX);
    int r = mountinfo ? proc_read_at(AT_FDCWD, "/proc/self/mountinfo", mountinfo, MOUNTINFO_MAX)
                      : -ENOMEM;
    if (r >= 0)
        r = proc_cgroup_mount_parse(mountinfo, path, sizeof(path));
    free(mountinfo);
    if (r < 0)
        return r;
    if (mount_len)
        *mount_len = strlen(path);
    find_in(&f, path, strlen(path), 0);
    return f.found;
}

/* The whole of a file that may be long (cgroup.procs of a big tree). */
static char *read_all(int dirfd, const char *name)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    ssize_t n;
    if (fd < 0 || !buf) {
        free(buf);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)n;
        if (cap - len - 1 == 0) {
            char *b = realloc(buf, cap * 2);
            if (!b)
                break;
            buf = b;
            cap *= 2;
        }
    }
    close(fd);
    buf[len] = '\0';
    return buf;
}

static void walk_procs(char *path, size_t len, size_t base_len, int depth,
                       void (*fn)(void *ctx, const char *sub, pid_t pid), void *ctx)
{
    struct dirent *de;
    char *procs;
    DIR *d = opendir(path);
    if (!d)
        return;
    procs = read_all(dirfd(d), "cgroup.procs");
    for (char *p = procs; p && *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        fn(ctx, len > base_len ? path + base_len + 1 : "", (pid_t)pid);
        p = end;
        while (*p == '\n')
            p++;
    }
    free(procs);
    while (depth < CG_DEPTH_MAX && (de = readdir(d))) {
        size_t nlen = strlen(de->d_name);
        /* Not "." and "..", but a hook run's ".hook-PID-N" is walked too. */
        if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
            len + 1 + nlen >= PATH_MAX)
            continue;
        path[len] = '/';
        memcpy(path + len + 1, de->d_name, nlen + 1);
        walk_procs(path, len + 1 + nlen, base_len, depth + 1, fn, ctx);
        path[len] = '\0';
    }
    closedir(d);
}

int proc_cgroup_walk_procs(const char *dir, void (*fn)(void *ctx, const char *sub, pid_t pid),
                           void *ctx)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);
    if (len >= sizeof(path))
        return -ENAMETOOLONG;
    memcpy(path, dir, len + 1);
    walk_procs(path, len, len, 0, fn, ctx);
    return 0;
}
