/* proc/spawn.h — start one process: its own session and process group,
 * optionally born inside a cgroup (CLONE_INTO_CGROUP, so not even its first
 * instruction runs outside), with a pidfd from clone3. exec failures come back
 * through a close-on-exec pipe, so the caller knows the command really ran. */
#ifndef CORRAL_PROC_SPAWN_H
#define CORRAL_PROC_SPAWN_H

#include "util/diag.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

struct proc_spawn_opts {
    char *const *argv;
    char *const *envp;
    const char *cwd; /* NULL: inherit */
    bool set_ids;    /* switch to uid/gid (corral must be root) */
    uid_t uid;
    gid_t gid;
    const gid_t *groups; /* supplementary groups when set_ids */
    size_t n_groups;
    int cgroup_fd;               /* -1: no cgroup */
    int stdout_fd;               /* child's stdout; -1: /dev/null */
    int stderr_fd;               /* child's stderr; -1: /dev/null */
    const struct rlimit *nofile; /* restored in the child; NULL: inherit */
};

struct proc_child {
    pid_t pid;
    int pidfd; /* O_CLOEXEC; owned by the caller */
};

/* Returns 0 with child filled once the child has exec'd. On failure returns
 * -errno and explains in dg (e.g. "exec 'pyhton3': No such file or
 * directory"); a child that failed before exec has already been reaped. */
int proc_spawn(const struct proc_spawn_opts *o, struct proc_child *child, struct diag *dg);

#endif
