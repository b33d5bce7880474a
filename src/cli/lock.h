/* cli/lock.h — the single-instance lock of a state directory, and the guard
 * of its instance id. */
#ifndef CORRAL_CLI_LOCK_H
#define CORRAL_CLI_LOCK_H

#include "proc/tree.h"
#include "util/diag.h"

#include <stdbool.h>
#include <sys/types.h>

struct cli_lock {
    int fd;    /* <state_dir>/corral.lock, record-locked */
    int guard; /* listening on the abstract name "corral/<instance>" */
    /* The state directory's instance id the guard was taken for: what the
     * supervisor tags processes with, so both name one directory even if it
     * is replaced meanwhile. */
    char instance[PROC_INSTANCE_LEN + 1];
};

/* Create state_dir if needed, lock it for this process, then take its
 * instance's guard: an abstract unix socket that no file operation can
 * remove, which a corral whose state directory was removed or replaced while
 * it runs still holds. Returns 0 with both fds set (keep them open until
 * cli_unlock()), or -1 with lk's fds at -1 and dg filled: code -EBUSY and
 * "corral is already running for DIR (pid N, up since T)" when another
 * corral holds the lock; -EADDRINUSE when one holds the guard. */
int cli_lock(struct cli_lock *lk, const char *state_dir, struct diag *dg);

/* The lock file also tells whether the last corral of the directory stopped
 * every tree: it is empty once one did, and holds "running" while one runs.
 * cli_lock_mark_running() marks it and returns true when it was marked
 * already (that corral crashed) or cannot tell; cli_lock_mark_stopped()
 * empties it. A mark of its own would be a file made and removed at every
 * start, among the costliest steps of one. */
bool cli_lock_mark_running(struct cli_lock *lk);
void cli_lock_mark_stopped(struct cli_lock *lk);

/* Close what cli_lock() holds; a no-op on fds at -1. */
void cli_unlock(struct cli_lock *lk);

/* Whether a process holds the guard of instance: 1 with *pid its PID and
 * *uid (may be NULL) its user (0 and -1 when the kernel would not say, as
 * when its backlog is full), 0 when none does, or -errno. Never blocks. */
int cli_guard_holder(const char *instance, pid_t *pid, uid_t *uid);

/* The instance's guard alone, for a state directory that does not exist
 * (cleanup after it was removed): no corral of that instance can start while
 * it is held. 0, or -1 with dg filled. */
int cli_guard_only(struct cli_lock *lk, const char *state_dir, const char *instance,
                   struct diag *dg);

/* Whether pid, a holder of the lock or the guard, is `corral cleanup` (which
 * holds both while it stops orphans) rather than a running corral. Only its
 * command line is read. */
bool cli_holder_is_cleanup(pid_t pid);

/* The PID holding <state_dir>/corral.lock, as the kernel says it; 0 when none
 * does (or it cannot be told). *live (may be NULL): the file carries the
 * running mark, which a corral writes before its first spawn and clears once
 * everything stopped, before its API goes. Not for the lock's holder: the
 * close of the descriptor it opens would drop its lock. */
pid_t cli_lock_holder(const char *state_dir, bool *live);

#endif
