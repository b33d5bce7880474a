/* proc/spawn.c — clone3(CLONE_PIDFD [| CLONE_INTO_CGROUP]) + exec in a child
 * that shares our memory until it has exec'd, running beside us meanwhile; a
 * failed step leaves its errno in that memory. */
#include "proc/spawn.h"

#include "proc/child.h"
#include "util/dlfn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const step_names[] = {
    [STEP_SETSID] = "setsid",
    [STEP_STDIO] = "set up stdio",
    [STEP_CGROUP] = "join cgroup",
    [STEP_CHDIR] = "chdir",
    [STEP_IDS] = "switch user",
    [STEP_EXEC] = "exec",
    [STEP_RLIMIT] = "set resource limits for",
};

/* A child's arguments and stack, kept from one spawn to the next: a spawn
 * may still be under way when corral prepares the next one. Mapped as
 * [guard page][stack ... ][block], the stack growing down towards the guard. */
#define BLOCK_MAP_SIZE (256 * 1024)

struct proc_block {
    struct proc_block *next; /* on the spawner's free list */
    char *map;
    struct child_args ca;
};

static struct proc_block *block_get(struct proc_spawner *sp)
{
    struct proc_block *blk = sp->free_blocks;
    long page = sysconf(_SC_PAGESIZE);
    char *map;
    if (blk) {
        sp->free_blocks = blk->next;
        return blk;
    }
    map = mmap(NULL, BLOCK_MAP_SIZE, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    if (mprotect(map, (size_t)page, PROT_NONE) < 0) {
        munmap(map, BLOCK_MAP_SIZE);
        return NULL;
    }
    blk = (struct proc_block *)(((uintptr_t)map + BLOCK_MAP_SIZE - sizeof(*blk)) & ~(uintptr_t)63);
    blk->map = map;
    return blk;
}

static void block_put(struct proc_spawner *sp, struct proc_block *blk)
{
    blk->next = sp->free_blocks;
    sp->free_blocks = blk;
}

/* The child's stack: between the guard page and the block, 16-aligned. */
static char *block_stack(struct proc_block *blk, size_t *size)
{
    char *lo = blk->map + sysconf(_SC_PAGESIZE);
    char *top = (char *)((uintptr_t)blk & ~(uintptr_t)15);
    *size = (size_t)(top - lo);
    return lo;
}

static void futex_wait(uint32_t *word, uint32_t val)
{
    /* Not FUTEX_PRIVATE: the kernel's wake for CLONE_CHILD_CLEARTID is shared. */
    (void)syscall(SYS_futex, word, FUTEX_WAIT, val, NULL, NULL, 0);
}

/* The last child may still read the slots until it has its own fd table. */
static void wait_unshared(struct proc_spawner *sp)
{
    struct child_args *ca = sp->last ? &sp->last->ca : NULL;
    if (!ca || __atomic_load_n(&ca->state, __ATOMIC_SEQ_CST) != CHILD_CLONED)
        return;
    __atomic_store_n(&ca->unshared_waiter, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&ca->state, __ATOMIC_SEQ_CST) == CHILD_CLONED)
        futex_wait(&ca->state, CHILD_CLONED);
}

/* Until the kernel clears the word at the child's exec or exit. */
static void wait_done(struct child_args *ca)
{
    uint32_t v;
    while ((v = __atomic_load_n(&ca->state, __ATOMIC_ACQUIRE)) != 0)
        futex_wait(&ca->state, v);
}

static int slot_cgroup(struct proc_spawner *sp, int cgroup_fd);

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

/* clone3 (5.3): the child runs beside us, and the kernel tells of its exec
 * or exit by clearing ca->state. Straight into the service's cgroup
 * (CLONE_INTO_CGROUP, 5.7) when there is one: no migration afterwards.
 * Moving a running process takes the cgroup threadgroup lock for writing,
 * which waits for an RCU grace period when it has not been taken for a while
 * (~10 ms at the first spawn) and costs ~0.15 ms each time after it. */
static pid_t clone_beside(struct child_args *ca, char *stack, size_t size, int *pidfd)
{
#ifdef HAVE_CLONE3_ON_STACK
    struct clone_args args;
    long pid;
    memset(&args, 0, sizeof(args));
    args.flags = CLONE_VM | CLONE_FILES | CLONE_PIDFD | CLONE_CHILD_CLEARTID;
    args.pidfd = (uint64_t)(uintptr_t)pidfd;
    args.child_tid = (uint64_t)(uintptr_t)&ca->state;
    args.exit_signal = SIGCHLD;
    args.stack = (uint64_t)(uintptr_t)stack;
    args.stack_size = size;
    if (ca->o.cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t)ca->o.cgroup_fd;
    }
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

/* CLONE_PIDFD puts the pidfd into our fd table while the child already shares
 * it, and a shared table that must grow first waits for an RCU grace period:
 * 5-20 ms each time the table doubled (64, 128, 256... fds) on a busy machine.
 * The same holds for the fds we open while the child has not yet taken its
 * own table. Taking the lowest free fd, and one FD_ROOM above it, here,
 * unshared, grows the table at once; closed again, the lowest is the number
 * the pidfd gets. */
#define FD_ROOM 16

static void room_for_fds(const struct proc_spawner *sp)
{
    int low = fcntl(sp->devnull, F_DUPFD_CLOEXEC, 0);
    int high;
    if (low < 0)
        return;
    high = fcntl(sp->devnull, F_DUPFD_CLOEXEC, low + FD_ROOM);
    if (high >= 0)
        close(high);
    close(low);
}

/* The child runs on the block's stack, with our memory and fd table until it
 * has a small private fd table of its own, so there are no page tables or
 * fds to copy and no copy-on-write faults in corral afterwards. Where clone3
 * cannot be used (before 5.3, another architecture, or any error, which the
 * fallback then reports) the child joins its cgroup itself through the
 * cgroup slot, and we wait for its exec as with vfork; without CLONE_PIDFD
 * (before 5.2) the pidfd comes from pidfd_open, safe because the child cannot
 * be reaped in between. */
static pid_t do_clone(struct proc_spawner *sp, struct proc_block *blk, int *pidfd)
{
    const int flags = CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_CHILD_CLEARTID | SIGCHLD;
    struct child_args *ca = &blk->ca;
    size_t size;
    char *stack = block_stack(blk, &size);
    pid_t pid;
    int r;
    room_for_fds(sp);
    ca->join_cgroup = false;
    pid = clone_beside(ca, stack, size, pidfd);
    if (pid >= 0)
        return pid;
    if (ca->o.cgroup_fd >= 0) {
        if ((r = slot_cgroup(sp, ca->o.cgroup_fd)) < 0) {
            errno = -r;
            return -1;
        }
        ca->join_cgroup = true;
    }
    pid =
        clone(child_entry, stack + size, flags | CLONE_PIDFD, ca, pidfd, NULL, (pid_t *)&ca->state);
    if (pid >= 0 || errno != EINVAL)
        return pid;
    pid = clone(child_entry, stack + size, flags, ca, NULL, NULL, (pid_t *)&ca->state);
    if (pid > 0) {
        *pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (*pidfd < 0)
            *pidfd = -1;
    }
    return pid;
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
    sp->reset_loads = dlfn_loads();
    sp->free_blocks = NULL;
    sp->last = NULL;
    sp->filled = 0;
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
    while (sp->free_blocks) {
        struct proc_block *blk = sp->free_blocks;
        sp->free_blocks = blk->next;
        munmap(blk->map, BLOCK_MAP_SIZE);
    }
    sp->last = NULL;
}

/* Put fd (or /dev/null) into a slot. Close-on-exec stays on: the child
 * dup2()s what it needs onto 0, 1 and 2. */
static int slot_fill(const struct proc_spawner *sp, int slot, int fd)
{
    return dup3(fd >= 0 ? fd : sp->devnull, sp->slot[slot], O_CLOEXEC) < 0 ? -errno : 0;
}

/* The cgroup's procs file, which the child writes "0" to, joining it. */
static int slot_cgroup(struct proc_spawner *sp, int cgroup_fd)
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
    if (r >= 0)
        sp->filled |= 1u << SLOT_CGROUP;
    return r;
}

/* Our references to the pipe ends must go, or their readers never see EOF:
 * the slots that hold any go back to /dev/null. */
static void slots_clear(struct proc_spawner *sp, unsigned which)
{
    for (int i = 0; i < SLOT__COUNT; i++)
        if (sp->filled & which & (1u << i))
            (void)slot_fill(sp, i, -1);
    sp->filled &= ~which;
}

/* The child's fds into the slots it dup2()s them from; a slot the last
 * spawn filled and this one does not is cleared. */
static int slots_load(struct proc_spawner *sp, const struct proc_spawn_opts *o)
{
    const struct {
        enum proc_slot slot;
        int fd;
    } want[] = {{SLOT_OUT, o->stdout_fd},
                {SLOT_ERR, o->stderr_fd},
                {SLOT_PASS, o->pass_fd},
                {SLOT_IN, o->with_stdin ? o->stdin_fd : -1}};
    unsigned mask = 0;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (want[i].fd >= 0)
            mask |= 1u << want[i].slot;
    slots_clear(sp, ~mask);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        int r;
        if (want[i].fd < 0)
            continue;
        if ((r = slot_fill(sp, want[i].slot, want[i].fd)) < 0)
            return r;
        sp->filled |= 1u << want[i].slot;
    }
    return 0;
}

/* The block as the child will see it: a copy of the options, and of the
 * resource limits they point to; the rest they point to stays the caller's. */
static int block_fill(struct proc_block *blk, const struct proc_spawner *sp,
                      const struct proc_spawn_opts *o)
{
    struct child_args *ca = &blk->ca;
    if (o->n_rlimits > CHILD_RLIMITS_MAX)
        return -E2BIG;
    memset(ca, 0, sizeof(*ca));
    ca->sp = sp;
    ca->reset = sp->reset;
    ca->o = *o;
    if (o->n_rlimits)
        memcpy(ca->rlimits, o->rlimits, o->n_rlimits * sizeof(*o->rlimits));
    ca->o.rlimits = ca->rlimits;
    ca->path = getenv("PATH");
    ca->state = CHILD_CLONED;
    return 0;
}

int proc_spawn_begin(struct proc_spawner *sp, const struct proc_spawn_opts *o,
                     struct proc_child *child, struct diag *dg)
{
    struct proc_block *blk;
    int pidfd = -1;
    pid_t pid;
    int r;
    memset(child, 0, sizeof(*child));
    child->pidfd = -1;
    wait_unshared(sp);
    /* Each child reads its own copy: one still under way keeps the old set. */
    if (sp->reset_loads != dlfn_loads()) {
        find_signals_to_reset(&sp->reset);
        sp->reset_loads = dlfn_loads();
    }
    if (!(blk = block_get(sp))) {
        r = -errno;
        diag_set(dg, r, "spawn set-up: %s", strerror(-r));
        return r;
    }
    /* The last child no longer reads the slots: this one's go in. */
    sp->last = NULL;
    if ((r = block_fill(blk, sp, o)) < 0 || (r = slots_load(sp, o)) < 0) {
        diag_set(dg, r, "spawn set-up: %s", strerror(-r));
        slots_clear(sp, ~0u);
        block_put(sp, blk);
        return r;
    }
    pid = do_clone(sp, blk, &pidfd);
    if (pid < 0) {
        r = -errno;
        slots_clear(sp, ~0u);
        block_put(sp, blk);
        diag_set(dg, r, "clone: %s", strerror(-r));
        return r;
    }
    sp->last = blk;
    child->pid = pid;
    child->pidfd = pidfd;
    child->blk = blk;
    return 0;
}

void proc_spawn_finish(struct proc_spawner *sp, struct proc_child *child, struct diag *dg)
{
    struct proc_block *blk = child->blk;
    const struct child_args *ca;
    if (!blk)
        return;
    ca = &blk->ca;
    wait_done(&blk->ca);
    /* Unless a later spawn has taken them, the slots are still this one's. */
    if (sp->last == blk) {
        slots_clear(sp, ~0u);
        sp->last = NULL;
    }
    if (ca->err) {
        child->exec_err = -ca->err;
        diag_set(dg, -ca->err, "%s '%s': %s", step_names[ca->step],
                 ca->step == STEP_CHDIR && ca->o.cwd ? ca->o.cwd : ca->o.argv[0],
                 strerror(ca->err));
    }
    block_put(sp, blk);
    child->blk = NULL;
}

int proc_spawn(struct proc_spawner *sp, const struct proc_spawn_opts *o, struct proc_child *child,
               struct diag *dg)
{
    int r = proc_spawn_begin(sp, o, child, dg);
    if (r >= 0)
        proc_spawn_finish(sp, child, dg);
    return r;
}
