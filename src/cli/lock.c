/* cli/lock.c — one corral per state directory. The lock is a POSIX record
 * lock on <state_dir>/corral.lock: the kernel drops it when corral dies, so a
 * stale file never blocks a start, and it names its holder (F_GETLK), so the
 * PID in the message comes from the kernel, not from a file. */
#include "cli/lock.h"

#include "proc/ident.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int make_dir(const char *dir, struct diag *dg)
{
    if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
        diag_set(dg, -errno, "cannot create state directory %s: %s", dir, strerror(errno));
        return -errno;
    }
    return 0;
}

/* When the holder started, as local time, from /proc (start ticks after boot). */
static void started_text(pid_t pid, char *buf, size_t size)
{
    struct proc_stat st;
    char text[4096];
    long long btime = 0;
    const char *p;
    time_t when;
    struct tm tm;
    snprintf(buf, size, "an unknown time");
    if (proc_stat_read(pid, &st) < 0 ||
        proc_read_at(AT_FDCWD, "/proc/stat", text, sizeof(text)) < 0)
        return;
    p = strstr(text, "\nbtime ");
    if (!p || sscanf(p + 7, "%lld", &btime) != 1)
        return;
    when = (time_t)(btime + (long long)(st.start_ticks / (uint64_t)sysconf(_SC_CLK_TCK)));
    localtime_r(&when, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

int cli_lock(const char *state_dir, struct diag *dg)
{
    char path[4096];
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int fd;
    if (make_dir(state_dir, dg) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/corral.lock", state_dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        diag_set(dg, -errno, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fcntl(fd, F_SETLK, &fl) == 0)
        return fd;
    if (errno == EAGAIN || errno == EACCES) {
        char since[64];
        struct flock who = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        pid_t holder = fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK ? who.l_pid : 0;
        started_text(holder, since, sizeof(since));
        diag_set(dg, -EBUSY, "corral is already running for %s (pid %d, up since %s)", state_dir,
                 (int)holder, since);
    } else {
        diag_set(dg, -errno, "cannot lock %s: %s", path, strerror(errno));
    }
    close(fd);
    return -1;
}
