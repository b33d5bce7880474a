/* cli/lock.c — one corral per state directory. The lock is a POSIX record
 * lock on <state_dir>/corral.lock: the kernel drops it when corral dies, so a
 * stale file never blocks a start, and it names its holder (F_GETLK), so the
 * PID in the message comes from the kernel, not from a file. A lock file can
 * be removed with its directory while corral runs, though, and the next
 * corral of that path would share the instance id, hence the cgroups and the
 * tag, of the one still running: so the instance is guarded too, by an
 * abstract unix socket that only the kernel frees, when its holder dies. */
#include "cli/lock.h"

#include "proc/ident.h"
#include "proc/tree.h"
#include "util/unaddr.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* The holder never accepts, so each probe stays queued (a few hundred bytes
 * of the kernel's) until it exits: past this many the holder is still found,
 * but not its PID. Probes only reach a corral whose lock was lost. */
#define GUARD_BACKLOG  16
#define GUARD_RETRY_MS 20
#define GUARD_WAIT_MS  1000 /* a killed corral's guard, freed as it exits */

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

/* "corral/<instance>", as an abstract name. */
static socklen_t guard_address(const char *instance, struct sockaddr_un *sa)
{
    return unaddr_abstract(sa, "corral/%s", instance);
}

int cli_guard_holder(const char *instance, pid_t *pid, uid_t *uid)
{
    struct sockaddr_un sa;
    socklen_t len = guard_address(instance, &sa);
    struct ucred cred;
    socklen_t cred_len = sizeof(cred);
    /* Nonblocking: the holder never accepts, so a full backlog would make a
     * blocking connect wait for ever; it fails with EAGAIN instead. */
    int r, s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    *pid = 0;
    if (uid)
        *uid = (uid_t)-1;
    if (s < 0)
        return -errno;
    if (connect(s, (const struct sockaddr *)&sa, len) == 0) {
        /* The credentials the holder had when it called listen(). */
        if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0) {
            *pid = cred.pid;
            if (uid)
                *uid = cred.uid;
        }
        r = 1;
    } else {
        r = errno == ECONNREFUSED ? 0 : errno == EAGAIN ? 1 : -errno;
    }
    close(s);
    return r;
}

bool cli_holder_is_cleanup(pid_t pid)
{
    char cmd[256];
    const char *arg;
    if (proc_cmdline_read(pid, cmd, sizeof(cmd)) < 0)
        return false;
    arg = strchr(cmd, ' ');
    return arg && strncmp(arg, " cleanup", 8) == 0 && (arg[8] == ' ' || arg[8] == '\0');
}

static void cleanup_runs(struct diag *dg, pid_t pid)
{
    diag_set(dg, -EADDRINUSE,
             "corral cleanup (pid %d) is stopping the orphans of this instance; start corral once "
             "it is done",
             (int)pid);
}

pid_t cli_lock_holder(const char *state_dir, bool *live)
{
    char path[PATH_MAX + 16];
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    struct stat st;
    pid_t pid = 0;
    int fd;
    if (live)
        *live = false;
    snprintf(path, sizeof(path), "%s/corral.lock", state_dir);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return 0;
    if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
        pid = fl.l_pid > 0 ? fl.l_pid : 0;
    if (pid && live)
        *live = fstat(fd, &st) == 0 && st.st_size > 0;
    close(fd);
    return pid;
}

/* Bind and listen on the instance's name: the fd, or -1 with dg filled. */
/* Whether pid is on its way out: a SIGKILL pending, exiting (PF_EXITING in
 * /proc/PID/stat's flags), or a zombie. A corral killed a moment ago holds
 * its lock until the kernel has torn it down. */
static bool exiting(pid_t pid)
{
    char path[64], text[2048];
    const char *p;
    unsigned long long shd = 0, sig = 0;
    unsigned flags = 0;
    char state = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (proc_read_at(AT_FDCWD, path, text, sizeof(text)) <= 0 || !(p = strrchr(text, ')')))
        return false;
    if (sscanf(p + 1, " %c %*d %*d %*d %*d %*d %u", &state, &flags) != 2)
        return false;
    if (state == 'Z' || state == 'X' || (flags & 0x4))
        return true;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (proc_read_at(AT_FDCWD, path, text, sizeof(text)) <= 0)
        return false;
    if ((p = strstr(text, "\nShdPnd:")))
        shd = strtoull(p + 8, NULL, 16);
    if ((p = strstr(text, "\nSigPnd:")))
        sig = strtoull(p + 8, NULL, 16);
    return ((shd | sig) >> (SIGKILL - 1)) & 1;
}

static int hold_guard(const char *state_dir, const char *instance, struct diag *dg);

static int take_guard(const char *state_dir, char instance[PROC_INSTANCE_LEN + 1], struct diag *dg)
{
    int r = proc_instance_of(state_dir, instance);
    if (r < 0) {
        diag_set(dg, r, "cannot resolve %s: %s", state_dir, strerror(-r));
        return -1;
    }
    return hold_guard(state_dir, instance, dg);
}

int cli_guard_only(struct cli_lock *lk, const char *state_dir, const char *instance,
                   struct diag *dg)
{
    lk->fd = -1;
    snprintf(lk->instance, sizeof(lk->instance), "%s", instance);
    lk->guard = hold_guard(state_dir, instance, dg);
    return lk->guard < 0 ? -1 : 0;
}

static int hold_guard(const char *state_dir, const char *instance, struct diag *dg)
{
    char who[128];
    struct sockaddr_un sa;
    socklen_t len;
    pid_t holder = 0;
    uid_t holder_uid = (uid_t)-1;
    int r, s, found = 0;
    len = guard_address(instance, &sa);
    /* A corral killed a moment ago has let go of its lock but may hold the
     * guard for some milliseconds more, while the kernel tears it down: a
     * start right after a kill -9 waits that out rather than call it a
     * corral that lost its state directory. */
    for (int tries = 0;; tries++) {
        const struct timespec pause = {.tv_nsec = GUARD_RETRY_MS * 1000000L};
        s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s >= 0 && bind(s, (const struct sockaddr *)&sa, len) == 0 &&
            listen(s, GUARD_BACKLOG) == 0)
            return s;
        r = -errno;
        if (s >= 0)
            close(s);
        if (r != -EADDRINUSE)
            break;
        /* One probe per try: each stays queued at a holder that never
         * accepts (see GUARD_BACKLOG), and is what names it below. */
        holder = 0;
        found = cli_guard_holder(instance, &holder, &holder_uid);
        if (tries * GUARD_RETRY_MS >= GUARD_WAIT_MS || found <= 0 || holder <= 0 ||
            !exiting(holder))
            break;
        nanosleep(&pause, NULL);
    }
    if (r != -EADDRINUSE) {
        diag_set(dg, r, "cannot take the guard of instance %s: %s", instance, strerror(-r));
        return -1;
    }
    if (found > 0 && holder > 0 && holder_uid != geteuid()) {
        /* Not a corral of ours: anyone on the host may bind an abstract name. */
        diag_set(dg, -EADDRINUSE,
                 "the guard of instance %s (@corral/%s) is held by pid %d of uid %u, not by a "
                 "corral of this user: corral cannot start until that process lets it go",
                 instance, instance, (int)holder, (unsigned)holder_uid);
        return -1;
    }
    if (holder > 0 && cli_holder_is_cleanup(holder)) {
        cleanup_runs(dg, holder);
        return -1;
    }
    if (holder > 0)
        snprintf(who, sizeof(who), "pid %d", (int)holder);
    else
        snprintf(who, sizeof(who), "pid unknown; `ss -xlp` names the holder of @corral/%s",
                 instance);
    diag_set(dg, -EADDRINUSE,
             "another corral (%s) runs this instance: its state directory %s was removed or "
             "replaced while it runs; stop it first",
             who, state_dir);
    return -1;
}

/* F_SETLK, waiting out a holder that is being killed. */
static int lock_file(int fd)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    for (int tries = 0;; tries++) {
        const struct timespec pause = {.tv_nsec = GUARD_RETRY_MS * 1000000L};
        struct flock who = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if (fcntl(fd, F_SETLK, &fl) == 0)
            return 0;
        if (errno != EAGAIN && errno != EACCES)
            return -1;
        if (tries * GUARD_RETRY_MS >= GUARD_WAIT_MS || fcntl(fd, F_GETLK, &who) < 0 ||
            who.l_type == F_UNLCK || who.l_pid <= 0 || !exiting(who.l_pid)) {
            errno = EAGAIN;
            return -1;
        }
        nanosleep(&pause, NULL);
    }
}

int cli_lock(struct cli_lock *lk, const char *state_dir, struct diag *dg)
{
    char path[4096];
    int fd;
    lk->fd = -1;
    lk->guard = -1;
    lk->instance[0] = '\0';
    if (make_dir(state_dir, dg) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/corral.lock", state_dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        diag_set(dg, -errno, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    /* The file first: of two corrals started together, the second is told
     * the lock's holder and since when. */
    if (lock_file(fd) == 0) {
        lk->guard = take_guard(state_dir, lk->instance, dg);
        if (lk->guard < 0) {
            close(fd);
            return -1;
        }
        lk->fd = fd;
        return 0;
    }
    if (errno == EAGAIN || errno == EACCES) {
        char since[64];
        struct flock who = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        pid_t holder = fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK ? who.l_pid : 0;
        started_text(holder, since, sizeof(since));
        if (holder > 0 && cli_holder_is_cleanup(holder))
            cleanup_runs(dg, holder);
        else
            diag_set(dg, -EBUSY, "corral is already running for %s (pid %d, up since %s)",
                     state_dir, (int)holder, since);
    } else {
        diag_set(dg, -errno, "cannot lock %s: %s", path, strerror(errno));
    }
    close(fd);
    return -1;
}

#define RUNNING_MARK "running\n"

bool cli_lock_mark_running(struct cli_lock *lk)
{
    struct stat st;
    if (fstat(lk->fd, &st) < 0 || st.st_size > 0)
        return true;
    return pwrite(lk->fd, RUNNING_MARK, strlen(RUNNING_MARK), 0) != (ssize_t)strlen(RUNNING_MARK);
}

void cli_lock_mark_stopped(struct cli_lock *lk)
{
    if (lk->fd >= 0)
        (void)!ftruncate(lk->fd, 0);
}

void cli_unlock(struct cli_lock *lk)
{
    if (lk->guard >= 0)
        close(lk->guard);
    if (lk->fd >= 0)
        close(lk->fd);
    lk->guard = -1;
    lk->fd = -1;
}
