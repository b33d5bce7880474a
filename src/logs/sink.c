/* logs/sink.c — one service's log file: bytes as they came, or lines with a time
 * and stream prefix batched into few writes; rotation by rename only, so a
 * follower holding the old file keeps reading it. Failures only count lost bytes. */
#include "logs/logs.h"
#include "util/utc.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SINK_OUT_BYTES  (64 * 1024)     /* batch buffer of the timestamped path */
#define SINK_STAMP_MAX  48              /* "YYYY-MM-DDTHH:MM:SS" plus room for odd years */
#define SINK_PREFIX_MAX LOGS_PREFIX_MAX /* stamp + ".uuuuuuZ " + "err " */
/* Every rotation renames each kept file, so keep bounds the work done while the
 * loop waits; more than this is rejected at open. */
#define SINK_MAX_KEEP 1000
#define SINK_PATH_MAX (CFG_MAX_NAME + 16) /* name + ".log." + 10 digits + NUL */
#define RELAY_BYTES   (1024 * 1024)

_Static_assert(SINK_STAMP_MAX - 1 + 9 + 4 <= SINK_PREFIX_MAX, "prefix bound");
_Static_assert(SINK_OUT_BYTES >= SINK_PREFIX_MAX + LOGS_MAX_LINE + 1, "one line fits the batch");

struct logs_sink {
    int dirfd; /* borrowed */
    int fd;    /* -1 while the file cannot be (re)opened */
    struct cfg_logs opts;
    uint64_t size_bytes; /* of the current file, tracked in memory */
    uint64_t lost_bytes;
    bool rotate_failed; /* rename refused: no retry until the next write call */
    bool no_splice;     /* the file system refused splice(2): bytes go through read */
    /* The rest serves the timestamped path only. */
    struct logs_linebuf lines[LOGS__COUNT];
    struct timespec held_ts[LOGS__COUNT]; /* when each held partial line began */
    char *out;                            /* SINK_OUT_BYTES */
    size_t out_len;
    enum logs_stream cur_st;        /* stream being fed to the linebuf */
    struct timespec now;            /* realtime of the current write call */
    const struct timespec *line_ts; /* time stamped on the next line */
    time_t stamp_sec;               /* second that stamp[] holds */
    bool stamp_valid;
    size_t stamp_len;
    char stamp[SINK_STAMP_MAX];
    char name[CFG_MAX_NAME + 1];
};

const char *logs_stream_name(enum logs_stream st)
{
    switch (st) {
    case LOGS_OUT:
        return "out";
    case LOGS_ERR:
        return "err";
    case LOGS__COUNT:
        break;
    }
    return "?";
}

/* k == 0 is the live file, k >= 1 the rotated ones. */
static void name_path(const char *name, char *path, unsigned k)
{
    if (k == 0)
        snprintf(path, SINK_PATH_MAX, "%s.log", name);
    else
        snprintf(path, SINK_PATH_MAX, "%s.log.%u", name, k);
}

static void log_path(const struct logs_sink *s, char *path, unsigned k)
{
    name_path(s->name, path, k);
}

static int open_file(struct logs_sink *s)
{
    char path[SINK_PATH_MAX];
    struct stat st;
    int fd;

    log_path(s, path, 0);
    /* O_NOCTTY: the file may be a symlink to a terminal, which must not become
     * the daemon's controlling tty. Raw output is spliced, which O_APPEND
     * forbids: that path seeks to the end before each batch instead. */
    fd = openat(s->dirfd, path,
                O_WRONLY | (s->opts.timestamps ? O_APPEND : 0) | O_CREAT | O_CLOEXEC | O_NOCTTY,
                0640);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    s->fd = fd;
    /* Continue an existing file's size; a device (/dev/null) never rotates. */
    s->size_bytes = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    return 0;
}

/* Writes everything or counts the rest as lost; never blocks on anything but
 * the regular-file write itself. */
static void write_all(struct logs_sink *s, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w;
        if (s->fd < 0)
            break;
        w = write(s->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        s->size_bytes += (uint64_t)w;
        p += w;
        n -= (size_t)w;
    }
    s->lost_bytes += n;
}

int logs_rotate_files(int dirfd, const char *name, unsigned keep)
{
    char from[SINK_PATH_MAX];
    char to[SINK_PATH_MAX];

    if (strlen(name) > CFG_MAX_NAME || keep > SINK_MAX_KEEP)
        return -EINVAL;
    name_path(name, from, 0);
    if (keep == 0)
        return unlinkat(dirfd, from, 0) < 0 && errno != ENOENT ? -errno : 0;
    name_path(name, to, keep);
    (void)unlinkat(dirfd, to, 0);
    /* Gaps in the series are normal (fresh service), so ENOENT is ignored. */
    for (unsigned k = keep - 1; k >= 1; k--) {
        name_path(name, from, k);
        name_path(name, to, k + 1);
        (void)renameat(dirfd, from, dirfd, to);
    }
    name_path(name, from, 0);
    name_path(name, to, 1);
    /* ENOENT: someone removed the live file; a fresh one is what we want. */
    return renameat(dirfd, from, dirfd, to) < 0 && errno != ENOENT ? -errno : 0;
}

/* Rename-only, then a fresh <name>.log. A follower with the old file open
 * keeps its inode; nothing is truncated. */
static void rotate(struct logs_sink *s)
{
    if (logs_rotate_files(s->dirfd, s->name, s->opts.keep) < 0)
        goto refused;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->size_bytes = 0;
    /* On failure fd stays -1: writes count as lost until the next call reopens. */
    (void)open_file(s);
    return;
refused:
    /* Keep appending to the current file rather than lose output. */
    s->rotate_failed = true;
}

/* Would adding extra bytes to the file (after what is batched) pass max_size?
 * A file holding nothing yet never rotates, so one over-long line still lands. */
static bool must_rotate(const struct logs_sink *s, size_t extra)
{
    uint64_t max = s->opts.max_size_bytes;
    uint64_t used = s->size_bytes + s->out_len;
    if (max == 0 || s->rotate_failed || s->fd < 0 || used == 0)
        return false;
    return used >= max || extra > max - used;
}

static void flush_out(struct logs_sink *s)
{
    size_t n = s->out_len;
    s->out_len = 0;
    write_all(s, s->out, n);
}

/* The date and time change once a second; only that part is converted. */
static void update_stamp(struct logs_sink *s, time_t sec)
{
    struct tm tm;
    if (s->stamp_valid && s->stamp_sec == sec)
        return;
    s->stamp_len = 0;
    if (utc_tm(sec, &tm))
        s->stamp_len = strftime(s->stamp, sizeof(s->stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    if (s->stamp_len == 0) {
        /* Only for a time_t beyond int's years; keep the prefix parseable. */
        memcpy(s->stamp, "0000-00-00T00:00:00", 19);
        s->stamp_len = 19;
    }
    s->stamp_sec = sec;
    s->stamp_valid = true;
}

static size_t format_prefix(struct logs_sink *s, char *p, const struct timespec *ts,
                            enum logs_stream st)
{
    long usec = ts->tv_nsec / 1000;
    const char *name = logs_stream_name(st);
    size_t n, i;

    if (usec < 0)
        usec = 0;
    if (usec > 999999)
        usec = 999999;
    update_stamp(s, ts->tv_sec);
    memcpy(p, s->stamp, s->stamp_len);
    n = s->stamp_len;
    p[n++] = '.';
    for (i = 6; i > 0; i--) {
        p[n + i - 1] = (char)('0' + usec % 10);
        usec /= 10;
    }
    n += 6;
    p[n++] = 'Z';
    p[n++] = ' ';
    for (i = 0; name[i]; i++)
        p[n++] = name[i];
    p[n++] = ' ';
    return n;
}

size_t logs_line_prefix(char *buf, const struct timespec *realtime, enum logs_stream st)
{
    struct logs_sink one = {0}; /* only its stamp cache is used, once */
    return format_prefix(&one, buf, realtime, st);
}

/* linebuf callback: one prefixed line into the batch, rotating between lines
 * so that a file passes max_size by at most the one line it holds. */
static void put_line(void *ctx, const char *line, size_t len, bool complete)
{
    struct logs_sink *s = ctx;
    char prefix[SINK_PREFIX_MAX];
    size_t plen = format_prefix(s, prefix, s->line_ts, s->cur_st);
    size_t need = plen + len + 1;

    /* A piece or tail is ended with '\n' too: the file stays one record a line. */
    (void)complete;
    s->line_ts = &s->now;
    if (must_rotate(s, need)) {
        flush_out(s);
        rotate(s);
    }
    if (s->out_len + need > SINK_OUT_BYTES)
        flush_out(s);
    memcpy(s->out + s->out_len, prefix, plen);
    memcpy(s->out + s->out_len + plen, line, len);
    s->out[s->out_len + plen + len] = '\n';
    s->out_len += need;
}

static void write_lines(struct logs_sink *s, enum logs_stream st, const char *data, size_t len)
{
    struct logs_linebuf *lb = &s->lines[st];

    s->cur_st = st;
    /* A line finished now is stamped with the time its first bytes were read. */
    s->line_ts = lb->len ? &s->held_ts[st] : &s->now;
    logs_linebuf_feed(lb, data, len, put_line, s);
    /* line_ts points at now once a line went out or when the buffer started
     * empty: then any tail left held began in this call. */
    if (lb->len && s->line_ts == &s->now)
        s->held_ts[st] = s->now;
    flush_out(s);
}

/* Raw files have no O_APPEND: write where the file ends now, even if
 * someone truncated it meanwhile, as O_APPEND would. */
static void seek_end(struct logs_sink *s)
{
    off_t end;
    if (s->fd < 0 || (end = lseek(s->fd, 0, SEEK_END)) < 0)
        return;
    s->size_bytes = (uint64_t)end;
}

/* Straight from the caller's buffer: one write per call unless rotation cuts it. */
static void write_raw(struct logs_sink *s, const char *data, size_t len)
{
    uint64_t max = s->opts.max_size_bytes;

    seek_end(s);
    if (max == 0) {
        write_all(s, data, len);
        return;
    }
    while (len > 0) {
        size_t n = len;
        if (must_rotate(s, n))
            rotate(s);
        if (n > max)
            n = (size_t)max;
        write_all(s, data, n);
        data += n;
        len -= n;
    }
}

void logs_sink_write(struct logs_sink *s, enum logs_stream st, const char *data, size_t len,
                     const struct timespec *realtime)
{
    if (!s || len == 0)
        return;
    assert(st < LOGS__COUNT);
    s->rotate_failed = false;
    if (s->fd < 0)
        (void)open_file(s);
    if (!s->opts.timestamps) {
        write_raw(s, data, len);
        return;
    }
    /* The batch buffer is allocated at the first line: a thousand services
     * that print nothing must not each hold a resident page of it. */
    if (!s->out && !(s->out = malloc(SINK_OUT_BYTES))) {
        s->lost_bytes += len;
        return;
    }
    if (realtime)
        s->now = *realtime;
    else
        clock_gettime(CLOCK_REALTIME, &s->now);
    write_lines(s, st, data, len);
}

/* Room left in the current file before max_size, rotating first when none. */
static size_t splice_room(struct logs_sink *s, size_t want)
{
    uint64_t max = s->opts.max_size_bytes;
    if (max == 0 || s->rotate_failed)
        return want;
    if (s->size_bytes >= max) {
        rotate(s);
        if (s->fd < 0 || s->size_bytes >= max)
            return want; /* rotation refused: the file grows, as write_raw() lets it */
    }
    return max - s->size_bytes < want ? (size_t)(max - s->size_bytes) : want;
}

struct logs_relay {
    int rd, wr;
};

struct logs_relay *logs_relay_new(void)
{
    struct logs_relay *r = malloc(sizeof(*r));
    int p[2];
    if (!r)
        return NULL;
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
        free(r);
        return NULL;
    }
    /* As large as a flooding service's pipe grows: one pass empties it. A
     * smaller one (the default, if refused) only takes more passes. */
    (void)fcntl(p[1], F_SETPIPE_SZ, RELAY_BYTES);
    r->rd = p[0];
    r->wr = p[1];
    return r;
}

void logs_relay_free(struct logs_relay *r)
{
    if (!r)
        return;
    close(r->rd);
    close(r->wr);
    free(r);
}

/* What the file refused is read out of the relay and written, or counted as
 * lost: the relay is empty again for the next sink. */
static void relay_spill(struct logs_sink *s, struct logs_relay *r, size_t n)
{
    char buf[16 * 1024];
    while (n > 0) {
        ssize_t m = read(r->rd, buf, n < sizeof(buf) ? n : sizeof(buf));
        if (m < 0 && errno == EINTR)
            continue;
        if (m <= 0)
            break;
        write_all(s, buf, (size_t)m);
        n -= (size_t)m;
    }
}

static void relay_out(struct logs_sink *s, struct logs_relay *r, size_t n)
{
    while (n > 0) {
        ssize_t m = splice(r->rd, NULL, s->fd, NULL, n, SPLICE_F_MOVE);
        if (m > 0) {
            s->size_bytes += (uint64_t)m;
            n -= (size_t)m;
            continue;
        }
        if (m < 0 && errno == EINTR)
            continue;
        if (m < 0 && (errno == EINVAL || errno == ENOSYS))
            s->no_splice = true;
        break;
    }
    relay_spill(s, r, n);
}

/* One step: pipe to file, through the relay if there is one. */
static ssize_t splice_step(struct logs_sink *s, struct logs_relay *relay, int pipe_fd, size_t len)
{
    ssize_t n;
    if (!relay) {
        n = splice(pipe_fd, NULL, s->fd, NULL, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0)
            s->size_bytes += (uint64_t)n;
        return n;
    }
    n = splice(pipe_fd, NULL, relay->wr, NULL, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0)
        relay_out(s, relay, (size_t)n);
    return n;
}

ssize_t logs_sink_splice(struct logs_sink *s, struct logs_relay *relay, int pipe_fd, size_t max)
{
    size_t done = 0;
    if (!s || s->opts.timestamps || s->no_splice)
        return -EOPNOTSUPP;
    s->rotate_failed = false;
    if (s->fd < 0 && open_file(s) < 0)
        return -EOPNOTSUPP; /* the read path counts what is lost */
    seek_end(s);
    while (done < max && !s->no_splice) {
        size_t room = splice_room(s, max - done);
        ssize_t n;
        if (s->fd < 0)
            return done ? (ssize_t)done : -EOPNOTSUPP;
        n = splice_step(s, relay, pipe_fd, room);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return (ssize_t)done; /* EOF: the next call says 0 */
        if (errno == EAGAIN)
            break;
        if (errno == EINVAL || errno == ENOSYS)
            s->no_splice = true;
        return done ? (ssize_t)done : -EOPNOTSUPP;
    }
    return done ? (ssize_t)done : -EAGAIN;
}

uint64_t logs_sink_lost_bytes(const struct logs_sink *s)
{
    return s ? s->lost_bytes : 0;
}

static void sink_free(struct logs_sink *s)
{
    int st;
    for (st = 0; st < LOGS__COUNT; st++)
        logs_linebuf_free(&s->lines[st]);
    free(s->out);
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

void logs_sink_close(struct logs_sink *s)
{
    int st;
    if (!s)
        return;
    if (s->out) {
        s->rotate_failed = false;
        for (st = 0; st < LOGS__COUNT; st++) {
            if (s->lines[st].len == 0)
                continue;
            if (s->fd < 0)
                (void)open_file(s);
            s->cur_st = (enum logs_stream)st;
            s->line_ts = &s->held_ts[st];
            logs_linebuf_flush(&s->lines[st], put_line, s);
        }
        flush_out(s);
    }
    sink_free(s);
}

static bool valid_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > CFG_MAX_NAME || strchr(name, '/'))
        return false;
    return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

struct logs_sink *logs_sink_open(int dirfd, const char *name, const struct cfg_logs *opts,
                                 struct diag *dg)
{
    struct logs_sink *s;
    int st;
    int r;

    if (!valid_name(name)) {
        r = -EINVAL;
        diag_set(dg, r, "invalid log name '%.*s'", CFG_MAX_NAME, name);
        goto fail;
    }
    if (opts->keep > SINK_MAX_KEEP) {
        r = -EINVAL;
        diag_set(dg, r, "logs keep %u is more than %u", opts->keep, SINK_MAX_KEEP);
        goto fail;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        r = -ENOMEM;
        diag_set(dg, r, "log sink for '%s': out of memory", name);
        goto fail;
    }
    s->fd = -1;
    s->dirfd = dirfd;
    s->opts = *opts;
    memcpy(s->name, name, strlen(name) + 1);
    if (opts->timestamps) {
        for (st = 0; st < LOGS__COUNT; st++) {
            r = logs_linebuf_init(&s->lines[st], LOGS_MAX_LINE);
            if (r < 0)
                goto fail_mem;
        }
    }
    /* The file is opened at the first write: a thousand services that print
     * nothing cost no file creation at start-up. */
    return s;
fail_mem:
    diag_set(dg, r, "log sink for '%s': out of memory", name);
    sink_free(s);
fail:
    errno = -r;
    return NULL;
}
