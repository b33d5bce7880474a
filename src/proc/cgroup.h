/* proc/cgroup.h — cgroup v2 containment: find a writable hierarchy, make one
 * cgroup per service under a corral subtree, kill a whole tree with
 * cgroup.kill, and read whether it is still populated. */
#ifndef CORRAL_PROC_CGROUP_H
#define CORRAL_PROC_CGROUP_H

#include "util/diag.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Find corral's own cgroup v2 directory (from /proc/self/cgroup's "0::" line
 * and the cgroup2 mount: /sys/fs/cgroup, or /sys/fs/cgroup/unified on a
 * hybrid host, when statfs(2) finds cgroup2 there, else the one
 * /proc/self/mountinfo lists) and check it can hold child cgroups. Returns 0 and
 * fills dir, and mount_len (may be NULL) with the length of its mount-point
 * prefix: dir + mount_len is the path /proc/PID/cgroup shows. Else -errno
 * with the reason in dg. */
int proc_cgroup_detect(char *dir, size_t size, size_t *mount_len, struct diag *dg);

/* The cgroup2 mount point from mountinfo text, or "" when there is none. Pure. */
int proc_cgroup_mount_parse(const char *mountinfo, char *out, size_t size);
/* The "0::/path" entry from /proc/PID/cgroup text. Pure. */
int proc_cgroup_self_parse(const char *text, char *out, size_t size);

/* mkdir parent/name (an existing one is reused) and return a directory fd,
 * or -errno; *made (may be NULL) says whether it was made just now. */
int proc_cgroup_make(int parent_fd, const char *name, bool *made);

/* Write "1" to cgroup.kill: SIGKILL to every process in the cgroup, atomically
 * with respect to forks (kernel >= 5.14). */
int proc_cgroup_kill(int cg_fd);

/* 1 if cgroup.events says populated, 0 if empty, -errno. */
int proc_cgroup_populated(int cg_fd);
/* The same from an open cgroup.events: one pread, for the hot path. */
int proc_cgroup_populated_fd(int events_fd);

/* Read up to max PIDs from cgroup.procs; returns the count or -errno. */
int proc_cgroup_pids(int cg_fd, pid_t *pids, size_t max);

/* True when /proc/PID/cgroup places pid in the cgroup at path (relative to the
 * cgroup2 mount, e.g. "/corral-x/web"). */
bool proc_cgroup_contains(pid_t pid, const char *rel_path);

/* Remove dir and the cgroups under it that hold no process, children first;
 * a cgroup with a process in it (and so its parents) stays. */
void proc_cgroup_prune(const char *dir);

#endif
