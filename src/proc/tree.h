/* proc/tree.h — find a corral instance's processes without a cgroup: every
 * process whose environment carries CORRAL_INSTANCE=<id>, and the service named
 * by its CORRAL_SERVICE. Found processes are signalled only through a pidfd
 * opened before their identity is re-checked. */
#ifndef CORRAL_PROC_TREE_H
#define CORRAL_PROC_TREE_H

#include "proc/ident.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROC_INSTANCE_LEN 16

/* The instance id of the corral that keeps its state in state_dir: a hash of
 * the directory's real path, so that the corral started after a crash (or a
 * lost database) knows its predecessor's processes by their tag and cgroup.
 * The directory must exist. Returns 0 or -errno. */
int proc_instance_of(const char *state_dir, char out[PROC_INSTANCE_LEN + 1]);
/* The same id from a path already absolute and canonical, as realpath()
 * gives it (for a state directory that no longer exists). Pure. */
void proc_instance_hash(const char *real_path, char out[PROC_INSTANCE_LEN + 1]);

struct proc_member {
    pid_t pid;
    pid_t pgid;
    uint64_t start_ticks;
    char state;
};

/* Called for each tagged process; service is the CORRAL_SERVICE value. */
typedef void (*proc_tree_fn)(void *ctx, const char *service, const struct proc_member *m);

/* Walk /proc once. Zombies and processes that vanish mid-walk are skipped.
 * Returns the number of tagged processes found or -errno. */
int proc_tree_scan(const char *instance, proc_tree_fn fn, void *ctx);

/* Walk only corral's own children (/proc/self/task/ * /children): cheap, and
 * enough to tell whether a tree whose members keep the tag has anything left
 * after its main process exited, since orphans reparent to corral. */
int proc_tree_scan_children(const char *instance, proc_tree_fn fn, void *ctx);

/* Walk every process below corral, down the children files: as a subreaper
 * corral has below it every descendant of a service it started (orphans
 * come back to it), so this finds what proc_tree_scan finds of those, at a
 * cost in proportion to corral's tree rather than to the machine's. Not for
 * an adopted tree: a previous corral's orphans went to another reaper. */
int proc_tree_scan_descendants(const char *instance, proc_tree_fn fn, void *ctx);

/* corral's own children, from every task's children file: their number, or
 * -E2BIG when there are more than max (or a file was cut), or -errno. */
int proc_self_children(pid_t *out, size_t max);

/* The CORRAL_SERVICE of pid when its environment carries this instance's
 * tag: 1 with service filled, 0 when it has none (or is gone). */
int proc_tag_of(pid_t pid, const char *instance, char *service, size_t size);

/* Open a pidfd on the member, verify it is still the process that was found
 * (start time), and send sig through the pidfd. 0, or -ESRCH if it is gone. */
int proc_member_signal(const struct proc_member *m, int sig);

#endif
