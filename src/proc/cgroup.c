/* proc/cgroup.c — cgroup v2 detection and the few files corral uses. */
#include "proc/cgroup.h"

#include "proc/ident.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

int proc_cgroup_mount_parse(const char *mountinfo, char *out, size_t size)
{
    const char *line = mountinfo;
    out[0] = '\0';
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        const char *sep = strstr(line, " - ");
        char mnt[PATH_MAX];
        char fstype[32];
        if (sep && (!nl || sep < nl) && sscanf(sep, " - %31s", fstype) == 1 &&
            strcmp(fstype, "cgroup2") == 0 && sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1) {
            if (strlen(mnt) >= size)
                return -ENAMETOOLONG;
            strcpy(out, mnt);
            return 0;
        }
        line = nl ? nl + 1 : NULL;
    }
    return -ENOENT;
}

int proc_cgroup_self_parse(const char *text, char *out, size_t size)
{
    const char *line = text;
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len >= 3 && strncmp(line, "0::", 3) == 0) {
            if (len - 3 >= size)
                return -ENAMETOOLONG;
            memcpy(out, line + 3, len - 3);
            out[len - 3] = '\0';
            return 0;
        }
        line = nl ? nl + 1 : NULL;
    }
    return -ENOENT;
}

/* Where systemd and most distributions mount it: one statfs(2) each, where
 * generating mountinfo costs the kernel a line per mount. */
static int usual_mount(char *mnt, size_t size)
{
    static const char *const usual[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
    for (size_t i = 0; i < sizeof(usual) / sizeof(usual[0]); i++) {
        struct statfs sf;
        if (statfs(usual[i], &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC) {
            snprintf(mnt, size, "%s", usual[i]);
            return 0;
        }
    }
    return -ENOENT;
}

static int listed_mount(char *mnt, size_t size)
{
    enum { MOUNTINFO_MAX = 1 << 18 };
    char *mountinfo = malloc(MOUNTINFO_MAX);
    int r = mountinfo ? proc_read_at(AT_FDCWD, "/proc/self/mountinfo", mountinfo, MOUNTINFO_MAX)
                      : -ENOMEM;
    if (r >= 0)
        r = proc_cgroup_mount_parse(mountinfo, mnt, size);
    free(mountinfo);
    return r;
}

int proc_cgroup_detect(char *dir, size_t size, size_t *mount_len, struct diag *dg)
{
    char self[PATH_MAX];
    char mnt[PATH_MAX];
    char text[4096];
    int r = usual_mount(mnt, sizeof(mnt));
    if (r < 0)
        r = listed_mount(mnt, sizeof(mnt));
    if (r < 0) {
        diag_set(dg, -ENOENT, "no cgroup v2 hierarchy is mounted");
        return -ENOENT;
    }
    r = proc_read_at(AT_FDCWD, "/proc/self/cgroup", text, sizeof(text));
    if (r < 0 || proc_cgroup_self_parse(text, self, sizeof(self)) < 0) {
        diag_set(dg, -ENOENT, "corral is not in a cgroup v2 hierarchy (/proc/self/cgroup)");
        return -ENOENT;
    }
    if (mount_len)
        *mount_len = strlen(mnt);
    if ((size_t)snprintf(dir, size, "%s%s", mnt, strcmp(self, "/") == 0 ? "" : self) >= size) {
        diag_set(dg, -ENAMETOOLONG, "cgroup path too long");
        return -ENAMETOOLONG;
    }
    if (access(dir, W_OK) < 0) {
        r = -errno;
        diag_set(dg, r, "cgroup %s is not writable: %s", dir, strerror(-r));
        return r;
    }
    return 0;
}

int proc_cgroup_make(int parent_fd, const char *name, bool *made)
{
    int fd;
    bool ok = mkdirat(parent_fd, name, 0755) == 0;
    if (made)
        *made = ok;
    if (!ok && errno != EEXIST)
        return -errno;
    fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int proc_cgroup_kill(int cg_fd)
{
    int fd = openat(cg_fd, "cgroup.kill", O_WRONLY | O_CLOEXEC);
    int r = 0;
    if (fd < 0)
        return -errno;
    if (write(fd, "1", 1) != 1)
        r = -errno;
    close(fd);
    return r;
}

static int populated_in(const char *buf)
{
    const char *p = strstr(buf, "populated ");
    if (!p)
        return -EINVAL;
    return p[10] == '1';
}

int proc_cgroup_populated(int cg_fd)
{
    char buf[256];
    int r = proc_read_at(cg_fd, "cgroup.events", buf, sizeof(buf));
    return r < 0 ? r : populated_in(buf);
}

int proc_cgroup_populated_fd(int events_fd)
{
    char buf[256];
    ssize_t n = pread(events_fd, buf, sizeof(buf) - 1, 0);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    return populated_in(buf);
}

int proc_cgroup_pids(int cg_fd, pid_t *pids, size_t max)
{
    char buf[1 << 14];
    size_t n = 0;
    char *p;
    int r = proc_read_at(cg_fd, "cgroup.procs", buf, sizeof(buf));
    if (r < 0)
        return r;
    p = buf;
    while (*p && n < max) {
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

bool proc_cgroup_contains(pid_t pid, const char *rel_path)
{
    char path[64];
    char text[4096];
    char self[PATH_MAX];
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    if (proc_read_at(AT_FDCWD, path, text, sizeof(text)) < 0)
        return false;
    if (proc_cgroup_self_parse(text, self, sizeof(self)) < 0)
        return false;
    return strcmp(self, rel_path) == 0;
}

void proc_cgroup_prune(const char *dir)
{
    char buf[64], path[PATH_MAX];
    struct dirent *de;
    DIR *d = opendir(dir);
    int n;
    if (!d)
        return;
    while ((de = readdir(d))) {
        if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        proc_cgroup_prune(path);
    }
    n = proc_read_at(dirfd(d), "cgroup.procs", buf, sizeof(buf));
    closedir(d);
    if (n == 0)
        (void)rmdir(dir);
}
