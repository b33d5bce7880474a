/* health/stats.c — /proc and cgroup readers for a tree's resource figures. */
#include "health/stats.h"

#include "proc/ident.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CGROUP_DEPTH_MAX 8

int health_pstat_parse(const char *text, struct health_pstat *out)
{
    /* Fields 3.. after the ')': state is 3, utime 14, stime 15, threads 20, rss 24. */
    const char *p = strrchr(text, ')');
    unsigned long long v[25] = {0};
    int field = 3;
    memset(out, 0, sizeof(*out));
    if (!p || p[1] != ' ' || !p[2])
        return -EINVAL;
    p += 2;
    out->state = *p;
    for (p++; field < 24;) {
        char *end;
        while (*p == ' ')
            p++;
        if (!*p)
            return -EINVAL;
        field++;
        /* Every field the sample needs is a plain number; rss may be negative
         * in theory (a signed long), and is then taken as 0. */
        errno = 0;
        if (*p == '-') {
            (void)strtoll(p, &end, 10);
            v[field] = 0;
        } else {
            v[field] = strtoull(p, &end, 10);
        }
        if (end == p || errno)
            return -EINVAL;
        p = end;
    }
    out->utime_ticks = v[14];
    out->stime_ticks = v[15];
    out->threads = (unsigned)v[20];
    out->rss_pages = (int64_t)v[24];
    return 0;
}

int health_keyed_parse(const char *text, const char *key, uint64_t *out)
{
    size_t kl = strlen(key);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ' ') {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(line + kl + 1, &end, 10);
            if (end == line + kl + 1 || errno || (*end && *end != '\n'))
                return -EINVAL;
            *out = v;
            return 0;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return -ENOENT;
}

int health_value_parse(const char *text, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (strncmp(text, "max", 3) == 0 && (!text[3] || text[3] == '\n')) {
        *out = UINT64_MAX;
        return 0;
    }
    if (!isdigit((unsigned char)text[0]))
        return -EINVAL;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno || (*end && *end != '\n'))
        return -EINVAL;
    *out = v;
    return 0;
}

static unsigned count_fds(pid_t pid, bool *partial)
{
    char path[64];
    unsigned n = 0;
    struct dirent *e;
    DIR *d;
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    d = opendir(path);
    if (!d) {
        *partial = true;
        return 0;
    }
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

void health_sample_procs(const pid_t *pids, size_t n, bool count_fds_too, struct health_sample *s)
{
    static long page, hz;
    if (!page) {
        page = sysconf(_SC_PAGESIZE);
        hz = sysconf(_SC_CLK_TCK);
    }
    for (size_t i = 0; i < n; i++) {
        char path[64];
        char buf[1024];
        struct health_pstat st;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pids[i]);
        if (proc_read_at(AT_FDCWD, path, buf, sizeof(buf)) < 0 ||
            health_pstat_parse(buf, &st) < 0 || st.state == 'Z')
            continue;
        s->procs++;
        s->threads += st.threads;
        s->cpu_ns += (st.utime_ticks + st.stime_ticks) * (1000000000ull / (uint64_t)hz);
        s->rss_bytes += st.rss_pages > 0 ? (uint64_t)st.rss_pages * (uint64_t)page : 0;
        if (count_fds_too)
            s->fds += count_fds(pids[i], &s->fds_partial);
    }
}

static bool listed(const pid_t *pids, size_t n, pid_t pid)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

size_t health_children(pid_t pid, pid_t *pids, size_t n, size_t max)
{
    char path[64];
    char buf[1 << 13];
    struct dirent *e;
    DIR *d;
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    d = opendir(path);
    if (!d)
        return n;
    while ((e = readdir(d)) && n < max) {
        char sub[96];
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        snprintf(sub, sizeof(sub), "%s/children", e->d_name);
        if (proc_read_at(dirfd(d), sub, buf, sizeof(buf)) <= 0)
            continue;
        for (char *p = buf; *p && n < max;) {
            char *end;
            long child = strtol(p, &end, 10);
            if (end == p)
                break;
            /* A PID recycled between two reads could close a loop: never twice. */
            if (!listed(pids, n, (pid_t)child))
                pids[n++] = (pid_t)child;
            p = end;
            while (*p == ' ')
                p++;
        }
    }
    closedir(d);
    return n;
}

size_t health_descendants(pid_t *pids, size_t n, size_t max)
{
    /* Breadth first: pids[i] for i < n grows as children are found. */
    for (size_t i = 0; i < n && n < max; i++)
        n = health_children(pids[i], pids, n, max);
    return n;
}

static int cgroup_pids_at(int cg_fd, pid_t *pids, size_t n, size_t max, int depth)
{
    char buf[1 << 14];
    struct dirent *e;
    DIR *d;
    int dfd, r = proc_read_at(cg_fd, "cgroup.procs", buf, sizeof(buf));
    if (r < 0)
        return r;
    for (char *p = buf; *p && n < max;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        pids[n++] = (pid_t)v;
        p = end;
        while (*p == '\n')
            p++;
    }
    if (depth >= CGROUP_DEPTH_MAX || (dfd = dup(cg_fd)) < 0)
        return (int)n;
    d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return (int)n;
    }
    while ((e = readdir(d)) && n < max) {
        int sub;
        if (e->d_type != DT_DIR || e->d_name[0] == '.')
            continue;
        sub = openat(cg_fd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sub < 0)
            continue;
        r = cgroup_pids_at(sub, pids, n, max, depth + 1);
        close(sub);
        if (r > 0)
            n = (size_t)r;
    }
    closedir(d);
    return (int)n;
}

int health_cgroup_pids(int cg_fd, pid_t *pids, size_t max)
{
    return cgroup_pids_at(cg_fd, pids, 0, max, 0);
}

void health_cgroup_read(int cg_fd, struct health_cgroup *out)
{
    char buf[1024];
    memset(out, 0, sizeof(*out));
    /* cpu.stat's usage_usec is there without the cpu controller (5.x). */
    if (proc_read_at(cg_fd, "cpu.stat", buf, sizeof(buf)) > 0)
        out->cpu_ok = health_keyed_parse(buf, "usage_usec", &out->cpu_usec) == 0;
    if (proc_read_at(cg_fd, "memory.current", buf, sizeof(buf)) > 0)
        out->memory_ok = health_value_parse(buf, &out->memory_bytes) == 0;
    if (proc_read_at(cg_fd, "pids.current", buf, sizeof(buf)) > 0)
        out->pids_ok = health_value_parse(buf, &out->pids) == 0;
}

int health_cgroup_oom_kills(int cg_fd, uint64_t *out)
{
    char buf[512];
    int r = proc_read_at(cg_fd, "memory.events", buf, sizeof(buf));
    if (r < 0)
        return r;
    return health_keyed_parse(buf, "oom_kill", out);
}

int health_controllers_parse(const char *text)
{
    static const struct {
        const char *name;
        int bit;
    } known[] = {
        {"cpu", HEALTH_CTRL_CPU}, {"memory", HEALTH_CTRL_MEMORY}, {"pids", HEALTH_CTRL_PIDS}};
    int bits = 0;
    const char *p = text;
    while (*p) {
        size_t len;
        while (*p == ' ' || *p == '\n')
            p++;
        len = strcspn(p, " \n");
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            if (len == strlen(known[i].name) && strncmp(p, known[i].name, len) == 0)
                bits |= known[i].bit;
        p += len;
    }
    return bits;
}

int health_cgroup_controllers(int dir_fd, const char *file)
{
    char buf[512];
    int r = proc_read_at(dir_fd, file, buf, sizeof(buf));
    return r < 0 ? r : health_controllers_parse(buf);
}

int health_cgroup_enable(int dir_fd, int want)
{
    static const char *const words[] = {"+cpu", "+memory", "+pids"};
    int fd = openat(dir_fd, "cgroup.subtree_control", O_WRONLY | O_CLOEXEC);
    int r;
    if (fd >= 0) {
        for (int i = 0; i < 3; i++)
            if (want & (1 << i))
                (void)!write(fd, words[i], strlen(words[i]));
        close(fd);
    }
    r = health_cgroup_controllers(dir_fd, "cgroup.subtree_control");
    return r < 0 ? 0 : r;
}

double health_cpu_percent(uint64_t cpu_ns_before, uint64_t cpu_ns_after, uint64_t wall_ns)
{
    if (!wall_ns || cpu_ns_after < cpu_ns_before)
        return 0.0;
    return (double)(cpu_ns_after - cpu_ns_before) * 100.0 / (double)wall_ns;
}

int health_self(uint64_t *rss_bytes, uint64_t *cpu_ns)
{
    pid_t self = getpid();
    struct health_sample s = {0};
    health_sample_procs(&self, 1, false, &s);
    if (!s.procs)
        return -EIO;
    *rss_bytes = s.rss_bytes;
    *cpu_ns = s.cpu_ns;
    return 0;
}
