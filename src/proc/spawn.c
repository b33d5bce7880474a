/* proc/spawn.c — clone3(CLONE_PIDFD [| CLONE_INTO_CGROUP]) + exec in a child
 * that shares our memory until it has exec'd; a failed step leaves its errno
 * in that memory. */
#include "proc/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#endif

enum spawn_step {
    STEP_SETSID,
    STEP_STDIO,
    STEP_CGROUP,
    STEP_CHDIR,
    STEP_IDS,
    STEP_EXEC,
    STEP_RLIMIT
};

static const char *const step_names[] = {
    [STEP_SETSID] = "setsid",
    [STEP_STDIO] = "set up stdio",
    [STEP_CGROUP] = "join cgroup",
    [STEP_CHDIR] = "chdir",
    [STEP_IDS] = "switch user",
    [STEP_EXEC] = "exec",
    [STEP_RLIMIT] = "set resource limits for",
};

struct child_args {
    const struct proc_spawner *sp;
    const struct proc_spawn_opts *o;
    bool join_cgroup; /* not spawned into it: write the cgroup slot */
    /* Written by the child, read by us once it has exec'd or exited: the
     * memory is shared (CLONE_VM) and we are suspended until then. */
    enum spawn_step step;
    int err;
};

static void __attribute__((noreturn)) child_fail(struct child_args *ca, enum spawn_step step)
{
    ca->step = step;
    ca->err = errno ? errno : EIO;
    _exit(127);
}

static void child_reset_signals(const struct proc_spawner *sp)
{
    sigset_t none;
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(&sp->reset, sig) == 1)
            (void)sigaction(sig, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static int child_stdio(const struct proc_spawner *sp, const struct proc_spawn_opts *o)
{
    if (dup2(o->with_stdin ? sp->slot[SLOT_IN] : sp->devnull, 0) < 0)
        return -1;
    if (dup2(o->stdout_fd >= 0 ? sp->slot[SLOT_OUT] : sp->devnull, 1) < 0)
        return -1;
    if (dup2(o->stderr_fd >= 0 ? sp->slot[SLOT_ERR] : sp->devnull, 2) < 0)
        return -1;
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

/* The fd table is still ours (CLONE_FILES): take a private copy of only the
 * fds up to the slots. Copying, then closing at exec, corral's thousands of
 * fds in every child made starting N services cost O(N^2). */
static int child_own_fds(const struct proc_spawner *sp)
{
    if (syscall(SYS_close_range, sp->max_slot + 1, ~0U, CLOSE_RANGE_UNSHARE) == 0)
        return 0;
    return unshare(CLONE_FILES); /* before 5.9: a full copy, closed at exec */
}

/* Our PID in decimal, without stdio: this child still shares corral's memory. */
static void child_pid_text(char *out)
{
    char tmp[12];
    unsigned v = (unsigned)getpid();
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < 11);
    while (n > 0)
        *out++ = tmp[--n];
    *out = '\0';
}

/* The passed fd lands at its number without close-on-exec; dup2 onto itself
 * would keep the flag, so that case clears it instead. */
static int child_pass_fd(const struct proc_spawner *sp, const struct proc_spawn_opts *o)
{
    if (o->pass_fd < 0)
        return 0;
    if (sp->slot[SLOT_PASS] == o->pass_fd_num)
        return fcntl(o->pass_fd_num, F_SETFD, 0);
    return dup2(sp->slot[SLOT_PASS], o->pass_fd_num) < 0 ? -1 : 0;
}

static void __attribute__((noreturn)) child_run(struct child_args *ca)
{
    const struct proc_spawn_opts *o = ca->o;
    /* Nothing before this may touch the fd table: it is still corral's. */
    if (child_own_fds(ca->sp) < 0)
        child_fail(ca, STEP_STDIO);
    child_reset_signals(ca->sp);
    if (setsid() < 0)
        child_fail(ca, STEP_SETSID);
    if (child_stdio(ca->sp, o) < 0)
        child_fail(ca, STEP_STDIO);
    if (ca->join_cgroup && write(ca->sp->slot[SLOT_CGROUP], "0", 1) != 1)
        child_fail(ca, STEP_CGROUP);
    if (child_pass_fd(ca->sp, o) < 0)
        child_fail(ca, STEP_STDIO);
    if (o->pid_text)
        child_pid_text(o->pid_text);
    if (o->cwd && chdir(o->cwd) < 0)
        child_fail(ca, STEP_CHDIR);
    if (o->nofile)
        (void)setrlimit(RLIMIT_NOFILE, o->nofile);
    for (size_t i = 0; i < o->n_rlimits; i++)
        if (setrlimit(o->rlimits[i].resource, &o->rlimits[i].lim) < 0)
            child_fail(ca, STEP_RLIMIT);
    if (o->set_ids && child_ids(o) < 0)
        child_fail(ca, STEP_IDS);
    execvpe(o->argv[0], o->argv, o->envp);
    child_fail(ca, STEP_EXEC);
}

static int child_entry(void *arg)
{
    child_run(arg);
}

static int slot_cgroup(const struct proc_spawner *sp, int cgroup_fd);

#if defined(__x86_64__)
#define HAVE_CLONE3_ON_STACK 1
/* clone3 with the child on the stack that args names: it calls fn(arg) there
 * and exits with the result, never returning into our C code. glibc has no
 * clone3 wrapper, and through syscall() the child would return on the new
 * stack to a return address that is not there. Returns as a raw syscall does:
 * the child's PID or -errno. */
static long clone3_on_stack(struct clone_args *args, int (*fn)(void *), void *arg)
{
    register long rax __asm__("rax") = SYS_clone3;
    register long rdi __asm__("rdi") = (long)args;
    register long rsi __asm__("rsi") = (long)sizeof(*args);
    register long r12 __asm__("r12") = (long)fn;
    register long r13 __asm__("r13") = (long)arg;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "xor %%ebp, %%ebp\n\t" /* the child's outermost frame */
                     "mov %%r13, %%rdi\n\t"
                     "call *%%r12\n\t"
                     "mov %%eax, %%edi\n\t"
                     "mov $60, %%eax\n\t" /* SYS_exit */
                     "syscall\n\t"
                     "hlt\n"
                     "1:"
                     : "+r"(rax)
                     : "r"(rdi), "r"(rsi), "r"(r12), "r"(r13)
                     : "rcx", "r11", "cc", "memory");
    return rax;
}
#endif

/* Straight into the service's cgroup (CLONE_INTO_CGROUP, 5.7): no migration
 * afterwards. Moving a running process takes the cgroup threadgroup lock for
 * writing, which waits for an RCU grace period when it has not been taken for
 * a while (~10 ms at the first spawn) and costs ~0.15 ms each time after it. */
static pid_t clone_into_cgroup(struct child_args *ca, char *stack, size_t size, int *pidfd)
{
#ifdef HAVE_CLONE3_ON_STACK
    struct clone_args args;
    long pid;
    memset(&args, 0, sizeof(args));
    args.flags = CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_PIDFD | CLONE_INTO_CGROUP;
    args.pidfd = (uint64_t)(uintptr_t)pidfd;
    args.exit_signal = SIGCHLD;
    args.stack = (uint64_t)(uintptr_t)stack;
    args.stack_size = size;
    args.cgroup = (uint64_t)ca->o->cgroup_fd;
    pid = clone3_on_stack(&args, child_entry, ca);
    if (pid >= 0)
        return (pid_t)pid;
    errno = (int)-pid;
#else
    (void)ca;
    (void)stack;
    (void)size;
    (void)pidfd;
    errno = ENOSYS;
#endif
    return -1;
}

/* Like posix_spawn: the child shares our memory and fd table, so there are no
 * page tables or fds to copy and no copy-on-write faults in corral afterwards,
 * and we are suspended until it has exec'd or exited; so it may run on a stack
 * in our frame, the slots stay put until it has its own fds, and what it
 * wrote into ca is there when we resume. Where it cannot be spawned into its
 * cgroup (no clone3 or CLONE_INTO_CGROUP, another architecture, or any error,
 * which the fallback then reports) it joins the cgroup itself before exec,
 * through the cgroup slot. Without CLONE_PIDFD (before 5.2) the pidfd comes
 * from pidfd_open, safe because the child cannot be reaped in between. */
/* Under AddressSanitizer the child's instrumented frames poison the shadow of
 * the stack it ran on, which is our memory, and it never returns to clear
 * it: a later call that reaches as deep would be taken for an overflow. */
static pid_t stack_done(char *stack, size_t size, pid_t pid)
{
#ifdef __SANITIZE_ADDRESS__
    ASAN_UNPOISON_MEMORY_REGION(stack, size);
#else
    (void)stack;
    (void)size;
#endif
    return pid;
}

/* CLONE_PIDFD puts the pidfd into our fd table while the child already shares
 * it, and a shared table that must grow first waits for an RCU grace period:
 * 5-20 ms each time the table doubled (64, 128, 256... fds) on a busy machine.
 * Taking the lowest free fd here, unshared, grows it at once; closed again,
 * it is the number the pidfd gets, now inside the table. */
static void room_for_pidfd(const struct proc_spawner *sp)
{
    int fd = fcntl(sp->devnull, F_DUPFD_CLOEXEC, 0);
    if (fd >= 0)
        close(fd);
}

static pid_t do_clone(const struct proc_spawner *sp, struct child_args *ca, int *pidfd)
{
    /* execvpe keeps a PATH candidate and, for scripts, a new argv on it. */
    char stack[256 * 1024] __attribute__((aligned(16)));
    const int flags = CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD;
    pid_t pid;
    int r;
    room_for_pidfd(sp);
    ca->join_cgroup = false;
    if (ca->o->cgroup_fd >= 0) {
        pid = clone_into_cgroup(ca, stack, sizeof(stack), pidfd);
        if (pid >= 0)
            return stack_done(stack, sizeof(stack), pid);
        if ((r = slot_cgroup(sp, ca->o->cgroup_fd)) < 0) {
            errno = -r;
            return -1;
        }
        ca->join_cgroup = true;
    }
    pid = clone(child_entry, stack + sizeof(stack), flags | CLONE_PIDFD, ca, pidfd);
    if (pid >= 0 || errno != EINVAL)
        return stack_done(stack, sizeof(stack), pid);
    pid = clone(child_entry, stack + sizeof(stack), flags, ca);
    if (pid > 0) {
        *pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (*pidfd < 0)
            *pidfd = -1;
    }
    return stack_done(stack, sizeof(stack), pid);
}

/* The signals whose disposition is not the default: an ignored one would
 * survive exec, a handler must not run in a child that shares our memory.
 * Asked once here rather than resetting all 64 in every child, which cost
 * ~20 us a spawn. */
static void find_signals_to_reset(sigset_t *set)
{
    sigemptyset(set);
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) < 0)
            continue;
        if (sa.sa_handler != SIG_DFL || (sa.sa_flags & SA_SIGINFO))
            sigaddset(set, sig);
    }
}

int proc_spawner_init(struct proc_spawner *sp)
{
    find_signals_to_reset(&sp->reset);
    sp->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    sp->max_slot = sp->devnull;
    for (int i = 0; i < SLOT__COUNT; i++) {
        sp->slot[i] = sp->devnull < 0 ? -1 : fcntl(sp->devnull, F_DUPFD_CLOEXEC, 0);
        if (sp->slot[i] > sp->max_slot)
            sp->max_slot = sp->slot[i];
    }
    for (int i = 0; i < SLOT__COUNT; i++)
        if (sp->slot[i] < 0) {
            int r = -errno;
            proc_spawner_close(sp);
            return r;
        }
    return 0;
}

void proc_spawner_close(struct proc_spawner *sp)
{
    for (int i = 0; i < SLOT__COUNT; i++) {
        if (sp->slot[i] >= 0)
            close(sp->slot[i]);
        sp->slot[i] = -1;
    }
    if (sp->devnull >= 0)
        close(sp->devnull);
    sp->devnull = -1;
}

/* Put fd (or /dev/null) into a slot. Close-on-exec stays on: the child
 * dup2()s what it needs onto 0, 1 and 2. */
static int slot_fill(const struct proc_spawner *sp, int slot, int fd)
{
    return dup3(fd >= 0 ? fd : sp->devnull, sp->slot[slot], O_CLOEXEC) < 0 ? -errno : 0;
}

/* The cgroup's procs file, which the child writes "0" to, joining it. */
static int slot_cgroup(const struct proc_spawner *sp, int cgroup_fd)
{
    int fd;
    int r;
    if (cgroup_fd < 0)
        return 0;
    fd = openat(cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    r = slot_fill(sp, SLOT_CGROUP, fd);
    close(fd);
    return r;
}

/* Our references to the pipe ends must go, or their readers never see EOF;
 * only the slots this spawn filled hold any (the others hold /dev/null). */
static void slots_clear(const struct proc_spawner *sp, unsigned filled)
{
    for (int i = 0; i < SLOT__COUNT; i++)
        if (filled & (1u << i))
            (void)slot_fill(sp, i, -1);
}

/* The child's fds into the slots it dup2()s them from; the bits of those filled. */
static int slots_load(const struct proc_spawner *sp, const struct proc_spawn_opts *o,
                      unsigned *filled)
{
    const struct {
        enum proc_slot slot;
        int fd;
    } want[] = {{SLOT_OUT, o->stdout_fd},
                {SLOT_ERR, o->stderr_fd},
                {SLOT_PASS, o->pass_fd},
                {SLOT_IN, o->with_stdin ? o->stdin_fd : -1}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        int r;
        if (want[i].fd < 0)
            continue;
        if ((r = slot_fill(sp, want[i].slot, want[i].fd)) < 0)
            return r;
        *filled |= 1u << want[i].slot;
    }
    return 0;
}

int proc_spawn(const struct proc_spawner *sp, const struct proc_spawn_opts *o,
               struct proc_child *child, struct diag *dg)
{
    struct child_args ca = {.sp = sp, .o = o};
    unsigned filled = 0;
    int pidfd = -1;
    pid_t pid;
    int r;
    child->pid = 0;
    child->pidfd = -1;
    child->exec_err = 0;
    if ((r = slots_load(sp, o, &filled)) < 0) {
        diag_set(dg, r, "spawn set-up: %s", strerror(-r));
        slots_clear(sp, filled);
        return r;
    }
    pid = do_clone(sp, &ca, &pidfd);
    r = -errno;
    slots_clear(sp, filled | (ca.join_cgroup ? 1u << SLOT_CGROUP : 0));
    if (pid < 0) {
        diag_set(dg, r, "clone: %s", strerror(-r));
        return r;
    }
    child->pid = pid;
    child->pidfd = pidfd;
    if (ca.err) {
        child->exec_err = -ca.err;
        diag_set(dg, -ca.err, "%s '%s': %s", step_names[ca.step],
                 ca.step == STEP_CHDIR && o->cwd ? o->cwd : o->argv[0], strerror(ca.err));
    }
    return 0;
}
