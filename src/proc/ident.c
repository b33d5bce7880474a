/* proc/ident.c — /proc/PID/stat parsing, boot id, and pidfd-then-verify. */
#include "proc/ident.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define STAT_FIELD_STATE   3
#define STAT_FIELD_UTIME   14
#define STAT_FIELD_RSS     24
#define STAT_FIELD_STARTTM 22

int proc_read_at(int dirfd, const char *path, char *buf, size_t size)
{
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    ssize_t n = 0;
    size_t got = 0;
    if (fd < 0)
        return -errno;
    while (got < size - 1) {
        n = read(fd, buf + got, size - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    n = n < 0 ? -errno : 0;
    close(fd);
    buf[got] = '\0';
    return n < 0 ? (int)n : (int)got;
}

static int parse_field(const char *p, int field, struct proc_stat *st)
{
    char *end;
    errno = 0;
    switch (field) {
    case STAT_FIELD_STATE:
        st->state = *p;
        return 0;
    case 4:
        st->ppid = (pid_t)strtol(p, &end, 10);
        break;
    case 5:
        st->pgid = (pid_t)strtol(p, &end, 10);
        break;
    case 6:
        st->sid = (pid_t)strtol(p, &end, 10);
        break;
    case STAT_FIELD_UTIME:
        st->utime_ticks = strtoull(p, &end, 10);
        break;
    case STAT_FIELD_UTIME + 1:
        st->stime_ticks = strtoull(p, &end, 10);
        break;
    case STAT_FIELD_STARTTM:
        st->start_ticks = strtoull(p, &end, 10);
        break;
    case STAT_FIELD_RSS:
        st->rss_pages = strtoll(p, &end, 10);
        break;
    default:
        return 0;
    }
    return (errno || end == p) ? -EINVAL : 0;
}

int proc_stat_parse(const char *text, size_t len, struct proc_stat *out)
{
    const char *p = NULL;
    const char *end = text + len;
    int field = STAT_FIELD_STATE;
    memset(out, 0, sizeof(*out));
    for (const char *q = text; q < end; q++)
        if (*q == ')')
            p = q;
    if (!p || p + 2 >= end)
        return -EINVAL;
    p += 2; /* ") " */
    while (p < end && field <= STAT_FIELD_RSS) {
        if (parse_field(p, field, out) < 0)
            return -EINVAL;
        while (p < end && *p != ' ')
            p++;
        while (p < end && *p == ' ')
            p++;
        field++;
    }
    return field > STAT_FIELD_RSS ? 0 : -EINVAL;
}

int proc_stat_read(pid_t pid, struct proc_stat *out)
{
    char path[64];
    char buf[1024];
    int n;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    n = proc_read_at(AT_FDCWD, path, buf, sizeof(buf));
    if (n < 0)
        return n == -ENOENT ? -ESRCH : n;
    return proc_stat_parse(buf, (size_t)n, out);
}

int proc_boot_id_read(char out[PROC_BOOT_ID_LEN + 1])
{
    char buf[64];
    int n = proc_read_at(AT_FDCWD, "/proc/sys/kernel/random/boot_id", buf, sizeof(buf));
    if (n < PROC_BOOT_ID_LEN)
        return n < 0 ? n : -EINVAL;
    memcpy(out, buf, PROC_BOOT_ID_LEN);
    out[PROC_BOOT_ID_LEN] = '\0';
    return 0;
}

int proc_ident_read(pid_t pid, const char *boot_id, struct proc_id *out)
{
    struct proc_stat st;
    int r = proc_stat_read(pid, &st);
    if (r < 0)
        return r;
    snprintf(out->boot_id, sizeof(out->boot_id), "%s", boot_id);
    out->pid = pid;
    out->start_ticks = st.start_ticks;
    return 0;
}

int proc_ident_open(const struct proc_id *id, const char *boot_id)
{
    struct proc_stat st;
    int fd;
    if (strcmp(id->boot_id, boot_id) != 0 || id->pid <= 0)
        return -ESRCH;
    fd = (int)syscall(SYS_pidfd_open, id->pid, 0);
    if (fd < 0)
        return -errno;
    /* Only now is the PID pinned: the check below cannot be raced by reuse. */
    if (proc_stat_read(id->pid, &st) < 0 || st.start_ticks != id->start_ticks || st.state == 'Z') {
        close(fd);
        return -ESRCH;
    }
    return fd;
}

int proc_pidfd_signal(int pidfd, int sig)
{
    if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
        return -errno;
    return 0;
}

bool proc_pidfd_exited(int pidfd)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

int proc_cmdline_read(pid_t pid, char *buf, size_t size)
{
    char path[64];
    int n;
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    n = proc_read_at(AT_FDCWD, path, buf, size);
    if (n < 0)
        return n;
    while (n > 0 && buf[n - 1] == '\0')
        n--;
    for (int i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[n] = '\0';
    return n;
}

static const char *env_value(const char *env, size_t len, const char *key)
{
    size_t klen = strlen(key);
    const char *p = env;
    const char *end = env + len;
    while (p < end) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        size_t elen = nul ? (size_t)(nul - p) : (size_t)(end - p);
        if (elen > klen && p[klen] == '=' && memcmp(p, key, klen) == 0)
            return p + klen + 1;
        p += elen + 1;
    }
    return NULL;
}

int proc_environ_tag(const char *env, size_t len, const char *instance, char *service,
                     size_t service_size)
{
    const char *inst = env_value(env, len, "CORRAL_INSTANCE");
    const char *svc = env_value(env, len, "CORRAL_SERVICE");
    size_t ilen = strlen(instance);
    size_t slen;
    if (!inst || !svc)
        return 0;
    if ((size_t)(env + len - inst) < ilen + 1 || memcmp(inst, instance, ilen) != 0 ||
        inst[ilen] != '\0')
        return 0;
    slen = strnlen(svc, (size_t)(env + len - svc));
    if (slen + 1 > service_size)
        return 0;
    memcpy(service, svc, slen);
    service[slen] = '\0';
    return 1;
}
