/* proc/spawn.h — start one process: its own session and process group, created
 * in its cgroup (or moved there before exec where clone3 cannot do that), with
 * a pidfd from CLONE_PIDFD. Like posix_spawn the child borrows our memory and
 * fd table until it has a small private fd table, so a spawn costs the same
 * with ten services or ten thousand open fds. Unlike posix_spawn, corral may
 * go on while the child gets to its exec: a spawn is begun, then finished
 * (once the child has exec'd or failed, knowing which), and what corral does
 * in between runs beside the child on another CPU. */
#ifndef CORRAL_PROC_SPAWN_H
#define CORRAL_PROC_SPAWN_H

#include "util/diag.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

/* A resource limit the child sets on itself before exec. */
struct proc_rlimit {
    int resource; /* RLIMIT_NOFILE, RLIMIT_AS, RLIMIT_CPU */
    struct rlimit lim;
};

struct proc_spawn_opts {
    char *const *argv;
    char *const *envp;
    const char *cwd;  /* NULL: inherit */
    bool cwd_as_user; /* entered after the switch to uid/gid, else before it */
    bool set_ids;     /* switch to uid/gid (corral must be root) */
    uid_t uid;
    gid_t gid;
    const gid_t *groups; /* supplementary groups when set_ids */
    size_t n_groups;
    int cgroup_fd;               /* -1: no cgroup */
    int stdout_fd;               /* child's stdout; -1: /dev/null */
    int stderr_fd;               /* child's stderr; -1: /dev/null */
    const struct rlimit *nofile; /* restored in the child; NULL: inherit */
    /* Set after nofile, before the switch of user; one refused fails the spawn. */
    const struct proc_rlimit *rlimits;
    size_t n_rlimits;
    int pass_fd;     /* -1, or an fd the child gets as pass_fd_num */
    int pass_fd_num; /* >= 3 */
    /* NULL, or room for 12 bytes inside one of envp's strings that the child
     * fills with its own PID in decimal before exec (WATCHDOG_PID=). */
    char *pid_text;
    bool with_stdin; /* stdin_fd is the child's stdin; else /dev/null */
    int stdin_fd;
};

/* A few low fds reserved at start-up. Each spawn places the child's stdout
 * and stderr ends (and, where it must join its cgroup itself, cgroup.procs;
 * and the fd passed to it, if any) there, and the child, which shares our fd table
 * until then, keeps a private copy of only the fds up to the highest slot. */
enum proc_slot { SLOT_OUT, SLOT_ERR, SLOT_CGROUP, SLOT_PASS, SLOT_IN, SLOT__COUNT };

struct proc_block;

struct proc_spawner {
    int devnull;
    int slot[SLOT__COUNT];
    int max_slot;
    sigset_t reset;                 /* signals each child sets back to SIG_DFL */
    unsigned reset_loads;           /* dlfn_loads() when reset was found */
    struct proc_block *free_blocks; /* a child's arguments and stack, to reuse */
    struct proc_block *last;        /* the last spawn begun, while it may read the slots */
    unsigned filled;                /* the slots that hold an fd, not /dev/null */
};

/* Call early, while low fd numbers are free, but after the signal
 * dispositions are set: each child resets to the default every signal that
 * was not at its default here, or when the last library was loaded with
 * dlfn_open (a signal ignored otherwise later would stay ignored in the
 * children). Returns 0 or -errno. */
int proc_spawner_init(struct proc_spawner *sp);
void proc_spawner_close(struct proc_spawner *sp);

struct proc_child {
    pid_t pid;
    int pidfd;              /* O_CLOEXEC; owned by the caller */
    int exec_err;           /* 0: the command runs; else the -errno of the failed step */
    struct proc_block *blk; /* while begun and not finished */
};

/* Creates the child and returns 0 with pid and pidfd set, perhaps before the
 * child has exec'd; -errno with dg filled if no child could be created. What
 * the options point to (argv, envp, cwd, groups, nofile, pid_text) must stay
 * as it is until proc_spawn_finish. Several may be under way. */
int proc_spawn_begin(struct proc_spawner *sp, const struct proc_spawn_opts *o,
                     struct proc_child *child, struct diag *dg);
/* Waits until the begun child has exec'd or failed. A child that failed has
 * exec_err set and dg explaining the step (e.g. "exec 'pyhton3': No such file
 * or directory"); it exits 127 and is reaped as usual. A child not begun, or
 * already finished, is left as it is. */
void proc_spawn_finish(struct proc_spawner *sp, struct proc_child *child, struct diag *dg);
/* Both: returns once the child has exec'd or failed. */
int proc_spawn(struct proc_spawner *sp, const struct proc_spawn_opts *o, struct proc_child *child,
               struct diag *dg);

#endif
