/* cli/own.h — a corral instance's own processes, as `corral doctor` and
 * `corral cleanup` see them: every process carrying the instance's tag
 * (CORRAL_INSTANCE) or living in its corral-<instance> cgroup subtree, and
 * which of them are orphans — all of them when no corral runs for the state
 * directory; when one runs, those whose service it does not have or has not
 * live. A process without the tag, or with another instance's, and outside
 * the subtree is foreign: it is never here. */
#ifndef CORRAL_CLI_OWN_H
#define CORRAL_CLI_OWN_H

#include "cli/client.h"
#include "proc/ident.h"
#include "proc/scan.h"
#include "proc/tree.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define OWN_CMD_LEN 256

struct own_proc {
    pid_t pid;
    pid_t ppid;
    uint64_t start_ticks;
    char service[PROC_SERVICE_LEN + 1];
    bool tagged;
    char *cgroup;           /* as /proc/PID/cgroup names it; NULL outside the subtree */
    const char *orphan_why; /* NULL: its service is live in the running corral */
    uint64_t age_ms;
    char command[OWN_CMD_LEN];
};

struct own {
    struct client c; /* state_dir, sock */
    char instance[PROC_INSTANCE_LEN + 1];
    char boot_id[PROC_BOOT_ID_LEN + 1];
    bool state_dir_exists;
    bool running;      /* a corral holds <state_dir>/corral.lock, or the instance's guard */
    bool lock_lost;    /* only the guard: its state directory was removed or replaced */
    pid_t corral_pid;  /* the holder, 0 when unknown */
    pid_t cleanup_pid; /* not running: `corral cleanup` holds the lock (its PID) */
    /* The lock file, when this process holds the lock (cleanup): asked through
     * it, as closing any other descriptor of the file would drop the lock. */
    int held_lock_fd;
    /* No lock holder, and the instance's guard held by a process of another
     * user: no corral of ours, but whether it is one cannot be told. */
    pid_t guard_foreign_pid;
    uid_t guard_foreign_uid;
    int api;          /* -1 not asked, 0 no answer, 1 answered */
    json_t *info;     /* GET /v1 */
    json_t *services; /* GET /v1/services "services" */
    char **cg_dirs;   /* every corral-<instance> directory, absolute */
    size_t n_cg;
    size_t cg_mount_len;
    struct proc_snap snap; /* every process, for the checks that need more */
    struct own_proc *v;
    size_t n, cap;
};

/* Pick the state directory as the other commands do (-f FILE, default
 * ./corral.yaml, or --state-dir DIR; a broken config still names it) and
 * compute the instance id, even for a directory that is gone. Returns 0, or a
 * CLI exit status after printing why. */
int own_open(struct own *o, const char *file, const char *state_dir);

/* Whether a corral runs, one pass over /proc (tags read), the cgroup subtree,
 * then the running corral's services (asked after the scan, so that a process
 * seen is judged by a state at least as new as itself). 0 or -errno. */
int own_scan(struct own *o);

void own_close(struct own *o);

/* GET path from the running corral with a short timeout. 1 and *out on a 200
 * answer, else 0 (nothing printed). */
int own_api_get(struct own *o, const char *path, json_t **out);

/* The service's state in the running corral, NULL when it has none. */
const char *own_service_state(const struct own *o, const char *name);

/* A pidfd on the process, opened first; then its identity (boot, PID, start
 * time) and its membership (still in its cgroup, or still carrying this
 * instance's tag) are checked. The fd, or -ESRCH when it is gone or is no
 * longer the process that was found. */
int own_pidfd(const struct own *o, const struct own_proc *p);

#endif
