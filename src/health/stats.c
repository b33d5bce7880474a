/* health/stats.c — /proc and cgroup readers for a tree's resource figures. */
#include "health/stats.h"

#include "proc/ident.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
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

int health_statm_parse(const char *text, uint64_t *rss_pages)
{
    char *end;
    unsigned long long size, rss;
    errno = 0;
    size = strtoull(text, &end, 10);
    if (end == text || *end != ' ' || errno)
        return -EINVAL;
    text = end + 1;
    rss = strtoull(text, &end, 10);
    if (end == text || (*end != ' ' && *end != '\n' && *end) || errno)
        return -EINVAL;
    (void)size;
    *rss_pages = rss;
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

/* The children of a single-threaded process are all in its one thread's
 * list: one read, where a multi-threaded one needs its task directory. */
static size_t children_single(pid_t pid, pid_t *pids, size_t n, size_t max);

static void add(struct health_sample *s, const struct health_pstat *st)
{
    static long page, hz;
    if (!page) {
        page = sysconf(_SC_PAGESIZE);
        hz = sysconf(_SC_CLK_TCK);
    }
    s->procs++;
    s->threads += st->threads;
    s->cpu_ns += (st->utime_ticks + st->stime_ticks) * (1000000000ull / (uint64_t)hz);
    s->rss_bytes += st->rss_pages > 0 ? (uint64_t)st->rss_pages * (uint64_t)page : 0;
}

size_t health_sample_tree(pid_t *pids, size_t n, size_t max, bool descend, bool count_fds_too,
                          struct health_sample *s)
{
    for (size_t i = 0; i < n; i++) {
        char path[64];
        char buf[1024];
        struct health_pstat st;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pids[i]);
        if (proc_read_at(AT_FDCWD, path, buf, sizeof(buf)) < 0 ||
            health_pstat_parse(buf, &st) < 0 || st.state == 'Z')
            continue;
        add(s, &st);
        if (count_fds_too)
            s->fds += count_fds(pids[i], &s->fds_partial);
        if (descend && n < max)
            n = st.threads <= 1 ? children_single(pids[i], pids, n, max)
                                : health_children(pids[i], pids, n, max);
    }
    return n;
}

void health_sample_procs(const pid_t *pids, size_t n, bool count_fds_too, struct health_sample *s)
{
    (void)health_sample_tree((pid_t *)pids, n, n, false, count_fds_too, s);
}

static bool listed(const pid_t *pids, size_t n, pid_t pid)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

static size_t parse_children(char *buf, pid_t *pids, size_t n, size_t max);

/* Append the PIDs listed in a children file (relative to dfd). */
static size_t append_children(int dfd, const char *file, pid_t *pids, size_t n, size_t max)
{
    char buf[1 << 13];
    if (proc_read_at(dfd, file, buf, sizeof(buf)) <= 0)
        return n;
    return parse_children(buf, pids, n, max);
}

static size_t parse_children(char *buf, pid_t *pids, size_t n, size_t max)
{
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
    return n;
}

static size_t children_single(pid_t pid, pid_t *pids, size_t n, size_t max)
{
    char path[80];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
    return append_children(AT_FDCWD, path, pids, n, max);
}

size_t health_children(pid_t pid, pid_t *pids, size_t n, size_t max)
{
    char path[64];
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
        n = append_children(dirfd(d), sub, pids, n, max);
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
    struct stat sb;
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
    /* A cgroup directory's link count is 2 + its subdirectories: most have
     * none, and one fstat spares reading the directory. */
    if (depth >= CGROUP_DEPTH_MAX || fstat(cg_fd, &sb) < 0 || sb.st_nlink <= 2 ||
        (dfd = dup(cg_fd)) < 0)
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

static void read_memory_pids(int cg_fd, int ctrl, struct health_cgroup *out);

/* A whole small file from an fd kept open, NUL-terminated; length or -errno. */
static int read_kept(int fd, char *buf, size_t size)
{
    size_t got = 0;
    while (got < size - 1) {
        ssize_t r = pread(fd, buf + got, size - 1 - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    return (int)got;
}

/* Files are kept open only in the lower half of the fd limit: the rest is
 * for what supervision needs (pipes, pidfds, connections). Past it a sample
 * opens and closes its files as it goes. */
static int keep_open(int *fd, int dir_fd, const char *path)
{
    static int budget;
    if (!budget) {
        struct rlimit rl;
        budget = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur / 2 < INT32_MAX
                     ? (int)(rl.rlim_cur / 2)
                     : 512;
    }
    if (*fd < 0) {
        *fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC);
        if (*fd >= budget) {
            close(*fd);
            *fd = -1;
        }
    }
    return *fd;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

void health_files_init(struct health_files *f)
{
    f->pid = 0;
    f->stat_fd = f->children_fd = f->procs_fd = f->cpu_fd = f->statm_fd = -1;
}

void health_files_close_proc(struct health_files *f)
{
    close_fd(&f->stat_fd);
    close_fd(&f->children_fd);
    close_fd(&f->statm_fd);
    f->pid = 0;
}

static void add_rss(struct health_sample *s, const char *text)
{
    static long page;
    uint64_t pages;
    if (!page)
        page = sysconf(_SC_PAGESIZE);
    /* A zombie's statm is all zeros: it holds no memory, and is no process. */
    if (health_statm_parse(text, &pages) < 0 || !strncmp(text, "0 0 ", 4))
        return;
    s->procs++;
    s->rss_bytes += pages * (uint64_t)page;
}

void health_sample_rss(struct health_files *f, pid_t root, const pid_t *pids, size_t n,
                       struct health_sample *s)
{
    char buf[256], path[64];
    if (root > 0) {
        int r = -ESRCH;
        if (f->pid != root) {
            health_files_close_proc(f);
            f->pid = root;
        }
        snprintf(path, sizeof(path), "/proc/%d/statm", (int)root);
        if (keep_open(&f->statm_fd, AT_FDCWD, path) >= 0)
            r = read_kept(f->statm_fd, buf, sizeof(buf));
        if (r < 0) { /* gone and reused, or not kept: the plain way */
            close_fd(&f->statm_fd);
            r = proc_read_at(AT_FDCWD, path, buf, sizeof(buf));
        }
        if (r > 0)
            add_rss(s, buf);
    }
    for (size_t i = 0; i < n; i++) {
        if (pids[i] == root)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/statm", (int)pids[i]);
        if (proc_read_at(AT_FDCWD, path, buf, sizeof(buf)) > 0)
            add_rss(s, buf);
    }
}

void health_files_close_cgroup(struct health_files *f)
{
    close_fd(&f->procs_fd);
    close_fd(&f->cpu_fd);
}

size_t health_sample_root(struct health_files *f, pid_t pid, pid_t *pids, size_t n, size_t max,
                          bool descend, bool count_fds_too, struct health_sample *s)
{
    char buf[1 << 13];
    struct health_pstat st;
    int r = -ESRCH;
    /* A file of a process that is gone reads ESRCH: its PID, reused, may
     * name the process asked for now, so it is opened afresh once. */
    for (int attempt = 0; attempt < 2 && r < 0; attempt++) {
        if (f->pid != pid || attempt) {
            char path[80];
            health_files_close_proc(f);
            f->pid = pid;
            snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
            (void)keep_open(&f->stat_fd, AT_FDCWD, path);
        }
        if (f->stat_fd >= 0) {
            r = read_kept(f->stat_fd, buf, sizeof(buf));
        } else { /* out of fds, say: read it the plain way */
            char path[80];
            snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
            r = proc_read_at(AT_FDCWD, path, buf, sizeof(buf));
            break;
        }
    }
    if (r <= 0 || health_pstat_parse(buf, &st) < 0 || st.state == 'Z')
        return n;
    add(s, &st);
    if (count_fds_too)
        s->fds += count_fds(pid, &s->fds_partial);
    if (!descend || n >= max)
        return n;
    if (st.threads > 1)
        return health_children(pid, pids, n, max);
    if (f->children_fd < 0) {
        char path[80];
        snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
        (void)keep_open(&f->children_fd, AT_FDCWD, path);
    }
    if (f->children_fd < 0)
        return children_single(pid, pids, n, max);
    if (read_kept(f->children_fd, buf, sizeof(buf)) <= 0)
        return n;
    return parse_children(buf, pids, n, max);
}

int health_cgroup_pids_kept(struct health_files *f, int cg_fd, pid_t *pids, size_t max)
{
    char buf[1 << 14];
    struct stat sb;
    size_t n;
    /* With cgroups below (rare), the walk reads them all. */
    if (keep_open(&f->procs_fd, cg_fd, "cgroup.procs") < 0 || fstat(cg_fd, &sb) < 0 ||
        sb.st_nlink > 2)
        return health_cgroup_pids(cg_fd, pids, max);
    if (read_kept(f->procs_fd, buf, sizeof(buf)) < 0)
        return -EIO;
    n = 0;
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
    return (int)n;
}

void health_cgroup_read_kept(struct health_files *f, int cg_fd, int ctrl, struct health_cgroup *out)
{
    char buf[1024];
    memset(out, 0, sizeof(*out));
    read_memory_pids(cg_fd, ctrl, out);
    if (keep_open(&f->cpu_fd, cg_fd, "cpu.stat") >= 0
            ? read_kept(f->cpu_fd, buf, sizeof(buf)) > 0
            : proc_read_at(cg_fd, "cpu.stat", buf, sizeof(buf)) > 0)
        out->cpu_ok = health_keyed_parse(buf, "usage_usec", &out->cpu_usec) == 0;
}

int health_cgroup_pids(int cg_fd, pid_t *pids, size_t max)
{
    return cgroup_pids_at(cg_fd, pids, 0, max, 0);
}

static void read_memory_pids(int cg_fd, int ctrl, struct health_cgroup *out)
{
    char buf[128];
    if ((ctrl & HEALTH_CTRL_MEMORY) && proc_read_at(cg_fd, "memory.current", buf, sizeof(buf)) > 0)
        out->memory_ok = health_value_parse(buf, &out->memory_bytes) == 0;
    if ((ctrl & HEALTH_CTRL_PIDS) && proc_read_at(cg_fd, "pids.current", buf, sizeof(buf)) > 0)
        out->pids_ok = health_value_parse(buf, &out->pids) == 0;
}

void health_cgroup_read(int cg_fd, int ctrl, struct health_cgroup *out)
{
    char buf[1024];
    memset(out, 0, sizeof(*out));
    /* cpu.stat's usage_usec is there without the cpu controller (5.x). */
    if (proc_read_at(cg_fd, "cpu.stat", buf, sizeof(buf)) > 0)
        out->cpu_ok = health_keyed_parse(buf, "usage_usec", &out->cpu_usec) == 0;
    read_memory_pids(cg_fd, ctrl, out);
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
