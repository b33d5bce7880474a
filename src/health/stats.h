/* health/stats.h — what a service's tree uses, read only when asked: its
 * processes from /proc (found from their roots through the kernel's children
 * lists, or from a cgroup's cgroup.procs), summed, and the figures a cgroup
 * keeps for the whole tree (cpu.stat, memory.current, memory.events).
 * Nothing here keeps state or polls: callers sample, and keep the previous
 * sample if they want a rate. */
#ifndef CORRAL_HEALTH_STATS_H
#define CORRAL_HEALTH_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bound on the processes of one tree that a sample looks at. */
#define HEALTH_TREE_MAX 4096

/* The fields of /proc/PID/stat a sample needs. */
struct health_pstat {
    char state;
    uint64_t utime_ticks, stime_ticks;
    unsigned threads;
    int64_t rss_pages;
};

/* Parse /proc/PID/stat text; fields are counted after the last ')', as the
 * command name may hold spaces and parentheses. Pure; 0 or -EINVAL. */
int health_pstat_parse(const char *text, struct health_pstat *out);

/* The resident set, in pages, from /proc/PID/statm text ("size resident
 * shared ..."). Pure; 0 or -EINVAL. */
int health_statm_parse(const char *text, uint64_t *rss_pages);

/* The value of key in a flat keyed cgroup file ("usage_usec 123\n...": cpu.stat,
 * memory.events). Pure; 0, -ENOENT (no such key) or -EINVAL. */
int health_keyed_parse(const char *text, const char *key, uint64_t *out);

/* A single-value cgroup file ("123\n"); "max" is UINT64_MAX. Pure; 0 or -EINVAL. */
int health_value_parse(const char *text, uint64_t *out);

/* The sum over a set of processes. */
struct health_sample {
    uint64_t cpu_ns;    /* user + system time of the live processes */
    uint64_t rss_bytes; /* resident set size, summed */
    unsigned procs;     /* processes (not threads) */
    unsigned threads;
    unsigned fds;     /* open file descriptors, when counted */
    bool fds_partial; /* some process's fd directory could not be read */
};

/* Add pids[0..n) to s, skipping those that are gone or zombies; count_fds:
 * also count each one's open fds (a directory read per process). */
void health_sample_procs(const pid_t *pids, size_t n, bool count_fds, struct health_sample *s);
/* The same, and with descend each process's children are appended to pids
 * (at most max in all) and sampled in turn: a tree from its roots in one
 * pass. Returns how many PIDs pids holds. */
size_t health_sample_tree(pid_t *pids, size_t n, size_t max, bool descend, bool count_fds,
                          struct health_sample *s);

/* Append the children of every thread of pid to pids (n held, at most max),
 * leaving out those already listed. Returns the new count. */
size_t health_children(pid_t pid, pid_t *pids, size_t n, size_t max);

/* Append to pids (already holding *n roots) every descendant of those roots,
 * from /proc/PID/task/TID/children, up to max in all. Returns the new count. */
size_t health_descendants(pid_t *pids, size_t n, size_t max);

/* Every PID of a cgroup and the cgroups below it, up to max. Count or -errno. */
int health_cgroup_pids(int cg_fd, pid_t *pids, size_t max);

enum health_ctrl { HEALTH_CTRL_CPU = 1, HEALTH_CTRL_MEMORY = 2, HEALTH_CTRL_PIDS = 4 };

/* What the cgroup itself counts for the whole tree; *_ok says which files
 * exist (memory.current and pids.current only with their controller). */
struct health_cgroup {
    bool cpu_ok, memory_ok, pids_ok;
    uint64_t cpu_usec;
    uint64_t memory_bytes;
    uint64_t pids; /* tasks: threads count */
};
/* ctrl: the controllers the cgroup has (enum health_ctrl), so that absent
 * files are not tried. */
void health_cgroup_read(int cg_fd, int ctrl, struct health_cgroup *out);

/* memory.events' oom_kill counter, or -errno (no memory controller). */
int health_cgroup_oom_kills(int cg_fd, uint64_t *out);

/* The controllers a cgroup offers its children: cgroup.controllers (what
 * its parent enabled for it) or cgroup.subtree_control (what it enabled).
 * Bits from enum health_ctrl; -errno when unreadable. */
int health_controllers_parse(const char *text);
int health_cgroup_controllers(int dir_fd, const char *file);
/* Write "+cpu +memory +pids" (those in want) to dir's cgroup.subtree_control,
 * one at a time so that one refused leaves the others. Returns the bits now
 * enabled there. */
int health_cgroup_enable(int dir_fd, int want);

/* Files of one tree kept open between samples, so that a sample costs a
 * pread each instead of an open, a read and a close: what keeps a scrape of
 * a thousand services cheap. A /proc file kept open names its process for
 * good: once that process is gone it reads nothing, whatever the PID's reuse. */
struct health_files {
    pid_t pid;       /* the process stat_fd and children_fd belong to; 0: none */
    int stat_fd;     /* /proc/PID/stat */
    int children_fd; /* /proc/PID/task/PID/children */
    int procs_fd;    /* the cgroup's cgroup.procs */
    int cpu_fd;      /* the cgroup's cpu.stat */
    int statm_fd;    /* /proc/PID/statm */
};
void health_files_init(struct health_files *f);
/* Close the process's files (its process is gone, or another one is meant). */
void health_files_close_proc(struct health_files *f);
/* Close the cgroup's files (before the cgroup's fd is closed). */
void health_files_close_cgroup(struct health_files *f);

/* Sample one process (the root of a tree) through f, opening its files
 * first when f holds another's; with descend its children are appended to
 * pids (n held, max in all). Returns the new count. */
size_t health_sample_root(struct health_files *f, pid_t pid, pid_t *pids, size_t n, size_t max,
                          bool descend, bool count_fds, struct health_sample *s);
/* Only the processes and their RSS, from /proc/PID/statm, which the kernel
 * makes far more cheaply than stat: for a tree whose CPU time its cgroup
 * gives. root (0: none) is read through f. */
void health_sample_rss(struct health_files *f, pid_t root, const pid_t *pids, size_t n,
                       struct health_sample *s);
/* health_cgroup_pids() with cgroup.procs kept open in f. */
int health_cgroup_pids_kept(struct health_files *f, int cg_fd, pid_t *pids, size_t max);
/* health_cgroup_read() with cpu.stat kept open in f. */
void health_cgroup_read_kept(struct health_files *f, int cg_fd, int ctrl,
                             struct health_cgroup *out);

/* CPU use between two samples as a percentage of one core. Pure. */
double health_cpu_percent(uint64_t cpu_ns_before, uint64_t cpu_ns_after, uint64_t wall_ns);

/* corral's own: RSS and CPU time from /proc/self/stat. */
int health_self(uint64_t *rss_bytes, uint64_t *cpu_ns);

#endif
