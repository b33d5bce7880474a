/* proc/scan.h — a snapshot of every process in one pass over /proc, reading for
 * each only what corral's checks need: its stat line, and its environment for
 * the identity tag. Plus the few readers that run on the handful of processes
 * a check singles out: CPU time, open sockets, cgroup membership. Read-only. */
#ifndef CORRAL_PROC_SCAN_H
#define CORRAL_PROC_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROC_COMM_LEN    16
#define PROC_SERVICE_LEN 64

struct proc_entry {
    pid_t pid;
    pid_t ppid;
    pid_t pgid;
    pid_t sid;
    char state; /* R S D Z T ... */
    uint64_t start_ticks;
    char comm[PROC_COMM_LEN + 1];
    bool tagged;                        /* CORRAL_INSTANCE is the instance asked for */
    char service[PROC_SERVICE_LEN + 1]; /* its CORRAL_SERVICE when tagged */
};

/* Every process but the caller, sorted by PID. */
struct proc_snap {
    struct proc_entry *v;
    size_t n, cap;
};

/* Walk /proc once. instance: read each process's environment for that tag
 * (NULL: do not). Kernel threads and processes that vanish mid-walk are left
 * out. Returns 0 or -errno. Free with proc_snap_free(). */
int proc_snap_take(struct proc_snap *s, const char *instance);
void proc_snap_free(struct proc_snap *s);
/* Add one process read now (one that appeared after the walk). 0 or -errno. */
int proc_snap_add(struct proc_snap *s, pid_t pid, const char *instance);
struct proc_entry *proc_snap_find(const struct proc_snap *s, pid_t pid);

/* True when the environment text (NUL-separated, len bytes) holds exactly
 * the entry "KEY=VALUE". Pure. */
bool proc_environ_contains(const char *env, size_t len, const char *entry);
/* The same for a live process, read into buf (size bytes: a longer
 * environment is cut, and an entry past the cut is not found). */
bool proc_environ_has(pid_t pid, const char *entry, char *buf, size_t size);

/* The command name between the first '(' and the last ')' of a stat line.
 * Pure; 0 or -EINVAL. */
int proc_comm_parse(const char *stat_text, char *out, size_t size);

/* Was the process handed to a reaper rather than started by its parent? Its
 * parent is PID 1, or a process of another session (a subreaper), while it is
 * not the leader of a session of its own: a program started on purpose by
 * init or by a supervisor leads its own session, a double-forked one keeps
 * the session of the shell it left. parent may be NULL (not seen). Pure. */
bool proc_entry_reparented(const struct proc_entry *e, const struct proc_entry *parent);

/* The first field of /proc/PID/task/TID/schedstat: nanoseconds on a CPU. Pure. */
int proc_schedstat_parse(const char *text, uint64_t *ns);
/* CPU time of the whole process in nanoseconds: every thread's schedstat, or
 * utime + stime from stat where schedstat is missing. 0 or -errno. */
int proc_cpu_ns(pid_t pid, uint64_t *ns);
/* CPU use over a window as a percentage of one core. Pure. */
double proc_cpu_percent(uint64_t ns_before, uint64_t ns_after, uint64_t window_ns);

/* Nanoseconds since boot (CLOCK_BOOTTIME, the clock of start_ticks), and a
 * process's age from its start_ticks. */
uint64_t proc_boottime_ns(void);
/* The same in clock ticks, as a process's start_ticks counts them. */
uint64_t proc_boottime_ticks(void);
uint64_t proc_age_ms(uint64_t start_ticks, uint64_t boottime_ns);

/* The cgroup v2 path /proc/PID/cgroup gives ("/system.slice/x.service"). */
int proc_cgroup_of(pid_t pid, char *out, size_t size);

/* Every directory called name anywhere in the cgroup v2 hierarchy (not below
 * another match), absolute. fn is called with each; mount_len (may be NULL)
 * gets the length of the mount point prefix. Returns how many, or -errno. */
int proc_cgroup_find_named(const char *name, void (*fn)(void *ctx, const char *dir), void *ctx,
                           size_t *mount_len);

/* Every PID in dir's cgroup.procs and in every cgroup below it; sub is the
 * path of the cgroup holding it, relative to dir ("web", "web/x"). */
int proc_cgroup_walk_procs(const char *dir, void (*fn)(void *ctx, const char *sub, pid_t pid),
                           void *ctx);

/* Inodes of the sockets open in the process (/proc/PID/fd), up to max. */
int proc_socket_inodes(pid_t pid, uint64_t *inodes, size_t max);

#endif
