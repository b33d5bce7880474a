/* proc/child.h — what a spawned child does between clone and exec (proc/spawn
 * internal). The child shares corral's memory, and corral may run on beside
 * it: it calls no libc function that writes errno or other per-thread state,
 * which would be corral's, and reports a failed step through its block. */
#ifndef CORRAL_PROC_CHILD_H
#define CORRAL_PROC_CHILD_H

#include "proc/spawn.h"

#define CHILD_RLIMITS_MAX 8

enum spawn_step {
    STEP_SETSID,
    STEP_STDIO,
    STEP_CGROUP,
    STEP_CHDIR,
    STEP_IDS,
    STEP_EXEC,
    STEP_RLIMIT
};

/* The child's arguments, a copy of the caller's options (whose strings and
 * arrays the caller keeps until the spawn is finished), and what the child
 * reports back. */
struct child_args {
    const struct proc_spawner *sp;
    sigset_t reset; /* the spawner's, when this child was prepared */
    struct proc_spawn_opts o;
    struct proc_rlimit rlimits[CHILD_RLIMITS_MAX];
    const char *path; /* corral's PATH, searched as execvpe(3) does */
    bool join_cgroup; /* not spawned into it: write the cgroup slot */
    /* Written by the child before it exits 127 after a failed step. */
    enum spawn_step step;
    int err;
    /* CHILD_CLONED, then CHILD_UNSHARED once the child has its own fd table
     * (the slots are free again), then 0 when it has exec'd or exited: the
     * kernel clears it (CLONE_CHILD_CLEARTID) and wakes a futex waiter. */
    uint32_t state;
    uint32_t unshared_waiter; /* corral waits for CHILD_UNSHARED: wake it */
};

enum { CHILD_CLONED = 1, CHILD_UNSHARED = 2 };

/* The child's whole life: never returns. */
int child_entry(void *arg);

#endif
