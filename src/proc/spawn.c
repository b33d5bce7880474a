/* proc/spawn.c — clone3(CLONE_PIDFD [| CLONE_INTO_CGROUP]) + exec, with a
 * close-on-exec pipe that carries the errno of a failed step back. */
#include "proc/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum spawn_step { STEP_SETSID, STEP_STDIO, STEP_CGROUP, STEP_CHDIR, STEP_IDS, STEP_EXEC };

static const char *const step_names[] = {
    [STEP_SETSID] = "setsid", [STEP_STDIO] = "set up stdio", [STEP_CGROUP] = "join cgroup",
    [STEP_CHDIR] = "chdir",   [STEP_IDS] = "switch user",    [STEP_EXEC] = "exec",
};

struct spawn_err {
    int step;
    int err;
};

static void child_fail(int errfd, enum spawn_step step)
{
    struct spawn_err e = {.step = (int)step, .err = errno};
    ssize_t r = write(errfd, &e, sizeof(e));
    (void)r;
    _exit(127);
}

static void child_reset_signals(void)
{
    sigset_t none;
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)sigaction(sig, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static int child_stdio(const struct proc_spawn_opts *o)
{
    int null = open("/dev/null", O_RDWR);
    if (null < 0)
        return -1;
    if (dup2(null, 0) < 0)
        return -1;
    if (dup2(o->stdout_fd >= 0 ? o->stdout_fd : null, 1) < 0)
        return -1;
    if (dup2(o->stderr_fd >= 0 ? o->stderr_fd : null, 2) < 0)
        return -1;
    if (null > 2)
        close(null);
    return 0;
}

static int child_ids(const struct proc_spawn_opts *o)
{
    if (setgroups(o->n_groups, o->groups) < 0)
        return -1;
    if (setgid(o->gid) < 0)
        return -1;
    return setuid(o->uid);
}

static void __attribute__((noreturn))
child_run(const struct proc_spawn_opts *o, int errfd, bool join_cgroup)
{
    child_reset_signals();
    if (setsid() < 0)
        child_fail(errfd, STEP_SETSID);
    if (child_stdio(o) < 0)
        child_fail(errfd, STEP_STDIO);
    if (join_cgroup) {
        int fd = openat(o->cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1)
            child_fail(errfd, STEP_CGROUP);
        close(fd);
    }
    if (o->cwd && chdir(o->cwd) < 0)
        child_fail(errfd, STEP_CHDIR);
    if (o->nofile)
        (void)setrlimit(RLIMIT_NOFILE, o->nofile);
    if (o->set_ids && child_ids(o) < 0)
        child_fail(errfd, STEP_IDS);
    execvpe(o->argv[0], o->argv, o->envp);
    child_fail(errfd, STEP_EXEC);
    _exit(127);
}

/* clone3 straight into the cgroup; fall back to fork + pidfd_open (and the
 * child joining the cgroup itself) on kernels without it. */
static pid_t do_clone(const struct proc_spawn_opts *o, int *pidfd, bool *join_cgroup)
{
    struct clone_args args;
    pid_t pid;
    memset(&args, 0, sizeof(args));
    args.flags = CLONE_PIDFD | (o->cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
    args.pidfd = (uint64_t)(uintptr_t)pidfd;
    args.exit_signal = SIGCHLD;
    args.cgroup = o->cgroup_fd >= 0 ? (uint64_t)o->cgroup_fd : 0;
    *join_cgroup = false;
    pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
    if (pid >= 0 || (errno != ENOSYS && errno != E2BIG && errno != EINVAL))
        return pid;
    *join_cgroup = o->cgroup_fd >= 0;
    pid = fork();
    if (pid > 0) {
        *pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (*pidfd < 0)
            *pidfd = -1;
    }
    return pid;
}

int proc_spawn_result(int exec_fd, const char *argv0, const char *cwd, struct diag *dg)
{
    struct spawn_err e;
    ssize_t n;
    do
        n = read(exec_fd, &e, sizeof(e));
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN ? -EAGAIN : -errno;
    if (n == 0)
        return 0; /* closed by exec: the command runs */
    if (n != (ssize_t)sizeof(e) || e.step < 0 || e.step > STEP_EXEC || e.err <= 0) {
        diag_set(dg, -EIO, "child failed before exec");
        return -EIO;
    }
    diag_set(dg, -e.err, "%s '%s': %s", step_names[e.step],
             e.step == STEP_CHDIR && cwd ? cwd : argv0, strerror(e.err));
    return -e.err;
}

int proc_spawn(const struct proc_spawn_opts *o, struct proc_child *child, struct diag *dg)
{
    int pipefd[2];
    int pidfd = -1;
    bool join_cgroup;
    pid_t pid;
    child->pid = 0;
    child->pidfd = -1;
    child->exec_fd = -1;
    /* Our end is nonblocking; the child's end is closed by exec or written
     * once, and the flag does not matter to it. */
    if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0) {
        diag_set(dg, -errno, "pipe: %s", strerror(errno));
        return -errno;
    }
    pid = do_clone(o, &pidfd, &join_cgroup);
    if (pid == 0) {
        close(pipefd[0]);
        child_run(o, pipefd[1], join_cgroup);
    }
    close(pipefd[1]);
    if (pid < 0) {
        int r = -errno;
        close(pipefd[0]);
        diag_set(dg, r, "clone: %s", strerror(-r));
        return r;
    }
    child->pid = pid;
    child->pidfd = pidfd;
    child->exec_fd = pipefd[0];
    return 0;
}
