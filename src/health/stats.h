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

/* Append the children of every thread of pid to pids (n held, at most max),
 * leaving out those already listed. Returns the new count. */
size_t health_children(pid_t pid, pid_t *pids, size_t n, size_t max);

/* Append to pids (already holding *n roots) every descendant of those roots,
 * from /proc/PID/task/TID/children, up to max in all. Returns the new count. */
size_t health_descendants(pid_t *pids, size_t n, size_t max);

/* Every PID of a cgroup and the cgroups below it, up to max. Count or -errno. */
int health_cgroup_pids(int cg_fd, pid_t *pids, size_t max);

/* What the cgroup itself counts for the whole tree; *_ok says which files
 * exist (memory.current and pids.current only with their controller). */
struct health_cgroup {
    bool cpu_ok, memory_ok, pids_ok;
    uint64_t cpu_usec;
    uint64_t memory_bytes;
    uint64_t pids; /* tasks: threads count */
};
void health_cgroup_read(int cg_fd, struct health_cgroup *out);

/* memory.events' oom_kill counter, or -errno (no memory controller). */
int health_cgroup_oom_kills(int cg_fd, uint64_t *out);

/* The controllers a cgroup offers its children: cgroup.controllers (what
 * its parent enabled for it) or cgroup.subtree_control (what it enabled).
 * Bits from enum health_ctrl; -errno when unreadable. */
enum health_ctrl { HEALTH_CTRL_CPU = 1, HEALTH_CTRL_MEMORY = 2, HEALTH_CTRL_PIDS = 4 };
int health_controllers_parse(const char *text);
int health_cgroup_controllers(int dir_fd, const char *file);
/* Write "+cpu +memory +pids" (those in want) to dir's cgroup.subtree_control,
 * one at a time so that one refused leaves the others. Returns the bits now
 * enabled there. */
int health_cgroup_enable(int dir_fd, int want);

/* CPU use between two samples as a percentage of one core. Pure. */
double health_cpu_percent(uint64_t cpu_ns_before, uint64_t cpu_ns_after, uint64_t wall_ns);

/* corral's own: RSS and CPU time from /proc/self/stat. */
int health_self(uint64_t *rss_bytes, uint64_t *cpu_ns);

#endif
