/* proc/child.c — the child between clone and exec. It runs on its own stack
 * in corral's memory while corral goes on preparing the next spawn, so it
 * makes its system calls itself: a libc wrapper that fails writes errno, and
 * errno is corral's (the child has corral's thread pointer). The PATH search
 * of execvpe(3) is done here for the same reason. */
#include "proc/child.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Not instrumented: AddressSanitizer keeps per-thread state, here corral's. */
#define CHILD __attribute__((no_sanitize_address))

#if defined(__x86_64__)
/* A system call that returns -errno and touches no memory but its arguments. */
static inline long ksys(long nr, long a, long b, long c, long d)
{
    register long r10 __asm__("r10") = d;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
}
#else
/* Elsewhere corral waits for the child (CLONE_VFORK), so errno is free. */
static long ksys(long nr, long a, long b, long c, long d)
{
    long r = syscall(nr, a, b, c, d);
    return r < 0 ? -errno : r;
}
#endif

#define SYS0(nr)             ksys(nr, 0, 0, 0, 0)
#define SYS1(nr, a)          ksys(nr, (long)(a), 0, 0, 0)
#define SYS2(nr, a, b)       ksys(nr, (long)(a), (long)(b), 0, 0)
#define SYS3(nr, a, b, c)    ksys(nr, (long)(a), (long)(b), (long)(c), 0)
#define SYS4(nr, a, b, c, d) ksys(nr, (long)(a), (long)(b), (long)(c), (long)(d))

static CHILD __attribute__((noreturn)) void fail(struct child_args *ca, enum spawn_step step,
                                                 long r)
{
    ca->step = step;
    ca->err = r < 0 ? (int)-r : EIO;
    for (;;)
        SYS1(SYS_exit_group, 127);
}

static CHILD long default_signal(int sig)
{
#if defined(__x86_64__)
    struct {
        void (*handler)(int);
        unsigned long flags;
        void (*restorer)(void);
        uint64_t mask;
    } dfl = {SIG_DFL, 0, NULL, 0};
    return SYS4(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(dfl.mask));
#else
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    return sigaction(sig, &dfl, NULL) < 0 ? -errno : 0;
#endif
}

static CHILD void reset_signals(const sigset_t *reset)
{
    uint64_t none = 0;
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(reset, sig) == 1)
            (void)default_signal(sig);
    (void)SYS4(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none));
}

/* The fd table is still corral's (CLONE_FILES): take a private copy of only
 * the fds up to the slots. Copying, then closing at exec, corral's thousands
 * of fds in every child made starting N services cost O(N^2). Then corral may
 * use the slots again; it is told if it waits for that. */
static CHILD long own_fds(struct child_args *ca)
{
    long r = SYS3(SYS_close_range, ca->sp->max_slot + 1, ~0U, CLOSE_RANGE_UNSHARE);
    if (r < 0)
        r = SYS1(SYS_unshare, CLONE_FILES); /* before 5.9: a full copy, closed at exec */
    __atomic_store_n(&ca->state, CHILD_UNSHARED, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&ca->unshared_waiter, __ATOMIC_SEQ_CST))
        (void)SYS3(SYS_futex, &ca->state, FUTEX_WAKE, 1);
    return r;
}

/* dup2 that also clears close-on-exec when old and new are the same fd. */
static CHILD long move_fd(int old, int new)
{
    if (old == new)
        return SYS3(SYS_fcntl, new, F_SETFD, 0);
    return SYS3(SYS_dup3, old, new, 0);
}

static CHILD long stdio(const struct proc_spawner *sp, const struct proc_spawn_opts *o)
{
    long r;
    if ((r = move_fd(o->with_stdin ? sp->slot[SLOT_IN] : sp->devnull, 0)) < 0)
        return r;
    if ((r = move_fd(o->stdout_fd >= 0 ? sp->slot[SLOT_OUT] : sp->devnull, 1)) < 0)
        return r;
    return move_fd(o->stderr_fd >= 0 ? sp->slot[SLOT_ERR] : sp->devnull, 2);
}

static CHILD long pass_fd(const struct proc_spawner *sp, const struct proc_spawn_opts *o)
{
    if (o->pass_fd < 0)
        return 0;
    return move_fd(sp->slot[SLOT_PASS], o->pass_fd_num);
}

/* Our PID in decimal, into the environment string the caller made room in. */
static CHILD void pid_text(char *out)
{
    char tmp[12];
    unsigned long v = (unsigned long)SYS0(SYS_getpid);
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < 11);
    while (n > 0)
        *out++ = tmp[--n];
    *out = '\0';
}

static CHILD long ids(const struct proc_spawn_opts *o)
{
    long r;
    if ((r = SYS2(SYS_setgroups, o->n_groups, o->groups)) < 0)
        return r;
    if ((r = SYS1(SYS_setgid, o->gid)) < 0)
        return r;
    return SYS1(SYS_setuid, o->uid);
}

static CHILD long limits(const struct child_args *ca)
{
    const struct proc_spawn_opts *o = &ca->o;
    if (o->nofile)
        (void)SYS4(SYS_prlimit64, 0, RLIMIT_NOFILE, o->nofile, NULL);
    for (size_t i = 0; i < o->n_rlimits; i++) {
        long r = SYS4(SYS_prlimit64, 0, ca->rlimits[i].resource, &ca->rlimits[i].lim, NULL);
        if (r < 0)
            return r;
    }
    return 0;
}

/* A file the kernel cannot exec (no #! line) is run by the shell, as
 * execvpe(3) does. */
static CHILD long exec_file(const char *file, const struct proc_spawn_opts *o)
{
    long r = SYS3(SYS_execve, file, o->argv, o->envp);
    size_t argc = 0;
    if (r != -ENOEXEC)
        return r;
    while (o->argv[argc])
        argc++;
    if (argc > 4096)
        return r;
    {
        char *sh[argc + 2];
        sh[0] = (char *)"/bin/sh";
        sh[1] = (char *)file;
        for (size_t i = 1; i <= argc; i++)
            sh[i + 1] = o->argv[i];
        return SYS3(SYS_execve, sh[0], sh, o->envp);
    }
}

/* execvpe(3)'s search: a name with a slash as it is, else each PATH entry in
 * turn (an empty one is the current directory), going on past entries where
 * it is missing or not allowed, and saying EACCES if one was not allowed. */
static CHILD long exec_search(const struct child_args *ca)
{
    const char *file = ca->o.argv[0];
    const char *p = ca->path ? ca->path : "/bin:/usr/bin";
    size_t flen = strlen(file);
    char buf[PATH_MAX];
    bool eacces = false;
    long r = -ENOENT;
    if (flen == 0)
        return -ENOENT;
    if (strchr(file, '/'))
        return exec_file(file, &ca->o);
    if (flen > NAME_MAX)
        return -ENAMETOOLONG;
    for (;;) {
        const char *end = strchrnul(p, ':');
        size_t dlen = (size_t)(end - p);
        if (dlen + 1 + flen < sizeof(buf)) {
            memcpy(buf, p, dlen);
            buf[dlen] = '/';
            memcpy(buf + dlen + (dlen > 0), file, flen + 1);
            r = exec_file(buf, &ca->o);
            switch (-r) {
            case EACCES:
                eacces = true;
                break;
            case ENOENT:
            case ESTALE:
            case ENOTDIR:
            case ENODEV:
            case ETIMEDOUT:
                break;
            default:
                return r;
            }
        }
        if (!*end)
            break;
        p = end + 1;
    }
    return eacces ? -EACCES : r;
}

static CHILD __attribute__((noreturn)) void run(struct child_args *ca)
{
    const struct proc_spawner *sp = ca->sp;
    const struct proc_spawn_opts *o = &ca->o;
    long r;
    /* Nothing before this may touch the fd table: it is still corral's. */
    if ((r = own_fds(ca)) < 0)
        fail(ca, STEP_STDIO, r);
    reset_signals(&ca->reset);
    if ((r = SYS0(SYS_setsid)) < 0)
        fail(ca, STEP_SETSID, r);
    if ((r = stdio(sp, o)) < 0)
        fail(ca, STEP_STDIO, r);
    if (ca->join_cgroup && (r = SYS3(SYS_write, sp->slot[SLOT_CGROUP], "0", 1)) != 1)
        fail(ca, STEP_CGROUP, r);
    if ((r = pass_fd(sp, o)) < 0)
        fail(ca, STEP_STDIO, r);
    if (o->pid_text)
        pid_text(o->pid_text);
    if (o->cwd && !o->cwd_as_user && (r = SYS1(SYS_chdir, o->cwd)) < 0)
        fail(ca, STEP_CHDIR, r);
    if ((r = limits(ca)) < 0)
        fail(ca, STEP_RLIMIT, r);
    if (o->set_ids && (r = ids(o)) < 0)
        fail(ca, STEP_IDS, r);
    if (o->cwd && o->cwd_as_user && (r = SYS1(SYS_chdir, o->cwd)) < 0)
        fail(ca, STEP_CHDIR, r);
    fail(ca, STEP_EXEC, exec_search(ca));
}

CHILD int child_entry(void *arg)
{
    run(arg);
}
