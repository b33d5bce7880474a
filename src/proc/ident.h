/* proc/ident.h — who a process is: (boot id, PID, start time), read from /proc,
 * and the only safe way to get a handle on a process we did not just spawn:
 * open a pidfd first, then check the identity, then signal through the pidfd. */
#ifndef CORRAL_PROC_IDENT_H
#define CORRAL_PROC_IDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROC_BOOT_ID_LEN 36

struct proc_id {
    char boot_id[PROC_BOOT_ID_LEN + 1];
    pid_t pid;
    uint64_t start_ticks; /* /proc/PID/stat field 22 */
};

/* The fields of /proc/PID/stat that corral uses. */
struct proc_stat {
    char state; /* R S D Z T ... */
    pid_t ppid;
    pid_t pgid;
    pid_t sid;
    uint64_t utime_ticks;
    uint64_t stime_ticks;
    uint64_t start_ticks;
    int64_t rss_pages;
};

/* Read a small file (relative to dirfd, or AT_FDCWD) into buf, NUL-terminated
 * after at most size - 1 bytes. Returns the length or -errno. */
int proc_read_at(int dirfd, const char *path, char *buf, size_t size);

/* Parse the text of /proc/PID/stat. The command name may hold spaces and ')',
 * so fields are counted after the last ')'. Returns 0 or -EINVAL. */
int proc_stat_parse(const char *text, size_t len, struct proc_stat *out);
int proc_stat_read(pid_t pid, struct proc_stat *out);

/* /proc/sys/kernel/random/boot_id; cached after the first call by the caller. */
int proc_boot_id_read(char out[PROC_BOOT_ID_LEN + 1]);

int proc_ident_read(pid_t pid, const char *boot_id, struct proc_id *out);

/* Open a pidfd on id->pid and verify, after opening, that it is still the same
 * process (boot id and start time). Returns the pidfd (O_CLOEXEC), -ESRCH when
 * the process is gone or the PID now names someone else. */
int proc_ident_open(const struct proc_id *id, const char *boot_id);

/* Signal through a pidfd; -ESRCH if the process already exited. */
int proc_pidfd_signal(int pidfd, int sig);

/* The process behind the pidfd has exited (it may still be a zombie). */
bool proc_pidfd_exited(int pidfd);

/* The command line with NULs as spaces, truncated to size. "" for kernel
 * threads and zombies. Returns length or -errno. */
int proc_cmdline_read(pid_t pid, char *buf, size_t size);

/* Look for "CORRAL_INSTANCE=<instance>" and return the value of CORRAL_SERVICE
 * in the NUL-separated environ block. Returns 1 and copies the service name
 * when the block carries this instance's tag, else 0. Pure. */
int proc_environ_tag(const char *env, size_t len, const char *instance, char *service,
                     size_t service_size);

#endif
