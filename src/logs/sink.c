/* logs/sink.c — one service's log file: bytes as they came, or lines with a time
 * and stream prefix batched into few writes; rotation by rename only, so a
 * follower holding the old file keeps reading it. Failures only count lost bytes.
 * With a ring (logs/ring.h) writes and rotations wait in a queue and run one at
 * a time in the kernel's worker; without one, they are made at once. */
#include "logs/logs.h"
#include "logs/ring.h"
#include "util/utc.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define SINK_OUT_BYTES (64 * 1024) /* batch buffer of the timestamped path */
/* Through a ring the batch buffer itself is queued, and lines gather in it
 * while a write is in flight: larger batches, fewer writes. */
#define SINK_RING_OUT_BYTES (256 * 1024)
#define SINK_STAMP_MAX      48              /* "YYYY-MM-DDTHH:MM:SS" plus room for odd years */
#define SINK_PREFIX_MAX     LOGS_PREFIX_MAX /* stamp + ".uuuuuuZ " + "err " */
/* Every rotation renames each kept file, so keep bounds the work done while the
 * loop waits; more than this is rejected at open. */
#define SINK_MAX_KEEP 1000
#define SINK_PATH_MAX (CFG_MAX_NAME + 16) /* name + ".log." + 10 digits + NUL */
#define RELAY_BYTES   (1024 * 1024)
/* Bytes a sink queues for its file before it reports itself busy, so that the
 * loop stops reading the service's pipe and the service waits for the disk,
 * as if it wrote the file itself: memory stays bounded, nothing is dropped. */
#define SINK_BACKLOG (1024 * 1024)
/* Bytes queued behind a write in flight join one buffer, up to this: each
 * write through the ring costs a wake-up of the kernel's worker, so fewer,
 * larger ones keep up with a flood. */
#define SEG_MAX (1024 * 1024)
/* Through a ring, each file's bytes that are on disk leave the page cache but
 * for the newest CACHE_KEPT, CACHE_STEP at a time: see drop_behind(). */
#define CACHE_KEPT (16ull << 20)
#define CACHE_STEP (8ull << 20)
#define CACHE_MAX  (1ull << 30) /* one drop's range: the kernel takes 32 bits */
/* A drop's ends, on this boundary: the page cache holds a file in folios of
 * up to 2 MiB, each aligned to its size, and drops only whole ones, so a
 * folio across an end would stay cached for good. */
#define CACHE_ALIGN (2ull << 20)

_Static_assert(SINK_STAMP_MAX - 1 + 9 + 4 <= SINK_PREFIX_MAX, "prefix bound");
_Static_assert(SINK_OUT_BYTES >= SINK_PREFIX_MAX + LOGS_MAX_LINE + 1, "one line fits the batch");

/* Queued output, in file order. SEG_RELAY bytes wait in the sink's relay;
 * SEG_OPEN opens the live file, at the first write or after a failed open. */
enum seg_kind { SEG_BYTES, SEG_RELAY, SEG_ROTATE, SEG_OPEN };

struct sink_seg {
    struct sink_seg *next;
    enum seg_kind kind;
    size_t len, done;
    size_t cap; /* of data */
    char *data; /* SEG_BYTES */
};

struct logs_sink {
    int dirfd; /* borrowed */
    int fd;    /* -1 while the file cannot be (re)opened */
    struct cfg_logs opts;
    uint64_t size_bytes; /* of the current file, tracked in memory */
    uint64_t lost_bytes;
    bool rotate_failed;       /* rename refused: no retry until the next write call */
    uint64_t rotate_refusals; /* rotations the file system refused so far */
    int rotate_errno;         /* why the last one was */
    bool no_splice;           /* the file system refused splice(2): bytes go through read */
    /* With timestamps: a failed write (disk full) left the file ending in
     * part of a line, so its next bytes start with a newline: no record is
     * glued to the cut one. cut_writing: that newline is in the write in
     * flight, whose result counts it first; cut_iov: that write's vector. */
    bool cut, cut_writing;
    struct iovec cut_iov[2];
    /* The rest serves the timestamped path only. */
    struct logs_linebuf lines[LOGS__COUNT];
    struct timespec held_ts[LOGS__COUNT]; /* when each held partial line began */
    char *out;                            /* out_cap bytes */
    size_t out_cap;
    char *spare; /* a written batch buffer, for the next: no malloc a batch */
    size_t out_len;
    enum logs_stream cur_st;        /* stream being fed to the linebuf */
    struct timespec now;            /* realtime of the current write call */
    const struct timespec *line_ts; /* time stamped on the next line */
    time_t stamp_sec;               /* second that stamp[] holds */
    bool stamp_valid;
    size_t stamp_len;
    char stamp[SINK_STAMP_MAX];
    /* The rest serves writes through a ring only. size_bytes then counts what
     * is queued for the current file too, and a queued rotation zeroes it. */
    struct logs_ring *ring; /* borrowed; NULL: writes are made at once */
    struct logs_op op;      /* the head's step in flight */
    bool inflight;
    bool opening; /* a SEG_OPEN is queued: bytes queued meanwhile are its file's */
    bool closing; /* its owner closed it: freed once the queue is written */
    struct sink_seg *head, *tail;
    size_t queued;                /* bytes of the queue's SEG_BYTES and SEG_RELAY */
    struct logs_relay *own_relay; /* where spliced bytes wait for their write */
    bool relay_used;              /* a SEG_RELAY is queued */
    unsigned rot_step;            /* of the rotation at the head */
    /* Drop-behind (through a ring only): the current file's offset after what
     * was written to it, and below which its bytes were dropped; the drop in
     * flight works on its own copy of the fd (-1: none in flight). */
    uint64_t file_at, cached_from;
    unsigned file_gen; /* each open of the live file */
    struct logs_op drop;
    int drop_fd;
    bool drop_synced; /* the range is on disk: its drop from the cache is next */
    bool no_drop;     /* refused by the kernel: not tried again */
    unsigned drop_gen;
    uint64_t drop_from, drop_to;
    char rot_from[SINK_PATH_MAX], rot_to[SINK_PATH_MAX];
    logs_idle_fn on_idle;
    void *idle_ctx;
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

/* Of the last write that failed, the bytes that went: true when they end in
 * part of a line. */
static bool cut_at(const struct logs_sink *s, const char *p, size_t done)
{
    return s->opts.timestamps && done > 0 && p[done - 1] != '\n';
}

/* The newline a cut line waits for, then p: for a writev. */
static void cut_first(struct iovec iov[2], const char *p, size_t n)
{
    iov[0] = (struct iovec){.iov_base = "\n", .iov_len = 1};
    iov[1] = (struct iovec){.iov_base = (void *)p, .iov_len = n};
}

/* write(2), with the newline a cut line waits for in front: the bytes of p
 * written (0 when only the newline went), or -1. */
static ssize_t write_now(struct logs_sink *s, const char *p, size_t n)
{
    struct iovec iov[2];
    ssize_t w;
    if (!s->cut)
        return write(s->fd, p, n);
    cut_first(iov, p, n);
    w = writev(s->fd, iov, 2);
    if (w <= 0)
        return w;
    s->cut = false;
    s->size_bytes++;
    return w - 1;
}

/* Writes everything or counts the rest as lost; never blocks on anything but
 * the regular-file write itself. */
static void write_all(struct logs_sink *s, const char *p, size_t n)
{
    const char *start = p;
    while (n > 0) {
        ssize_t w;
        bool was_cut = s->cut;
        if (s->fd < 0)
            break;
        w = write_now(s, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 || (w == 0 && !was_cut))
            break;
        s->size_bytes += (uint64_t)w;
        p += w;
        n -= (size_t)w;
    }
    if (n > 0 && cut_at(s, start, (size_t)(p - start)))
        s->cut = true;
    s->lost_bytes += n;
}

/* --- the queue of a sink with a ring ------------------------------------------ */

static void kick(struct logs_sink *s);

/* Queues a segment; a SEG_BYTES one takes buf (cap bytes, len used) as its own. */
static bool queue_take(struct logs_sink *s, enum seg_kind kind, char *buf, size_t len, size_t cap)
{
    struct sink_seg *g = malloc(sizeof(*g));
    if (!g)
        return false;
    g->next = NULL;
    g->kind = kind;
    g->len = len;
    g->done = 0;
    g->cap = cap;
    g->data = buf;
    if (kind == SEG_RELAY)
        s->relay_used = true;
    if (s->tail)
        s->tail->next = g;
    else
        s->head = g;
    s->tail = g;
    if (kind != SEG_ROTATE)
        s->queued += len;
    return true;
}

static bool queue_put(struct logs_sink *s, enum seg_kind kind, const char *p, size_t len)
{
    char *buf = NULL;
    if (kind == SEG_BYTES) {
        if (!(buf = malloc(len)))
            return false;
        memcpy(buf, p, len);
    }
    if (queue_take(s, kind, buf, len, len))
        return true;
    free(buf);
    return false;
}

static void seg_pop(struct logs_sink *s)
{
    struct sink_seg *g = s->head;
    s->head = g->next;
    if (!s->head)
        s->tail = NULL;
    if (g->kind != SEG_ROTATE)
        s->queued -= g->len;
    if (g->kind == SEG_RELAY)
        s->relay_used = false;
    if (g->kind == SEG_BYTES && g->cap == s->out_cap && !s->spare)
        s->spare = g->data;
    else
        free(g->data);
    free(g);
}

/* Onto the last queued buffer, unless the kernel is writing from it. */
static bool append_tail(struct logs_sink *s, const char *p, size_t n)
{
    struct sink_seg *g = s->tail;
    if (!g || g->kind != SEG_BYTES || (g == s->head && s->inflight) || g->len + n > SEG_MAX)
        return false;
    if (g->len + n > g->cap) {
        size_t cap = 2 * g->cap > g->len + n ? 2 * g->cap : g->len + n;
        char *grown;
        if (cap < 64 * 1024)
            cap = 64 * 1024;
        if (cap > SEG_MAX)
            cap = SEG_MAX;
        if (!(grown = realloc(g->data, cap)))
            return false;
        g->data = grown;
        g->cap = cap;
    }
    memcpy(g->data + g->len, p, n);
    g->len += n;
    s->queued += n;
    return true;
}

/* Bytes for the current file: written at once, or queued behind what waits. */
static void emit(struct logs_sink *s, const char *p, size_t n)
{
    if (!s->ring) {
        write_all(s, p, n);
        return;
    }
    if (n == 0)
        return;
    if (append_tail(s, p, n)) {
        s->size_bytes += n;
        return;
    }
    if (!queue_put(s, SEG_BYTES, p, n)) {
        s->lost_bytes += n;
        return;
    }
    s->size_bytes += n;
    kick(s);
}

/* Nothing queued or in flight: the file position and size are the file's own. */
static bool settled(const struct logs_sink *s)
{
    return !s->head && !s->inflight;
}

/* Before a write: the live file, unless it is open or its open waits in the
 * queue. Through a ring the open is the queue's first step, so that a disk
 * slow to create a file holds up no one either. */
static void ensure_open(struct logs_sink *s)
{
    if (s->fd >= 0 || !settled(s))
        return;
    if (!s->ring) {
        (void)open_file(s);
        return;
    }
    if (!queue_put(s, SEG_OPEN, NULL, 0))
        return; /* the bytes count as lost; the next write tries again */
    s->opening = true;
    kick(s);
}

/* A rotation is a series of steps, one system call each: remove the oldest
 * kept file, shift the others up one, move the live file to .1 (keep 0:
 * remove it), open a fresh one. Step k's call and paths; step keep is the
 * live file's, step keep + 1 the open. */
enum rot_call { ROT_UNLINK, ROT_RENAME, ROT_OPEN };

static enum rot_call rot_plan(const char *name, unsigned keep, unsigned k, char *from, char *to)
{
    if (k == keep + 1) {
        name_path(name, from, 0);
        return ROT_OPEN;
    }
    if (keep == 0 || k == 0) {
        name_path(name, from, keep);
        return ROT_UNLINK;
    }
    name_path(name, from, k == keep ? 0 : keep - k);
    name_path(name, to, keep - k + 1);
    return ROT_RENAME;
}

int logs_rotate_files(int dirfd, const char *name, unsigned keep)
{
    char from[SINK_PATH_MAX];
    char to[SINK_PATH_MAX];
    int r = 0;

    if (strlen(name) > CFG_MAX_NAME || keep > SINK_MAX_KEEP)
        return -EINVAL;
    /* Gaps in the series are normal (fresh service), so only the live file's
     * step can fail, and not with ENOENT: someone removed the live file, and
     * a fresh one is what we want. */
    for (unsigned k = 0; k <= keep; k++) {
        if (rot_plan(name, keep, k, from, to) == ROT_UNLINK)
            r = unlinkat(dirfd, from, 0);
        else
            r = renameat(dirfd, from, dirfd, to);
    }
    return r < 0 && errno != ENOENT ? -errno : 0;
}

/* Rename-only, then a fresh <name>.log. A follower with the old file open
 * keeps its inode; nothing is truncated. */
static void rotate(struct logs_sink *s)
{
    int r = -ENOMEM;
    if (s->ring) {
        /* Bytes queued from now on belong to the next file. */
        if (!queue_put(s, SEG_ROTATE, NULL, 0))
            goto refused;
        s->size_bytes = 0;
        kick(s);
        return;
    }
    if ((r = logs_rotate_files(s->dirfd, s->name, s->opts.keep)) < 0)
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
    s->rotate_refusals++;
    s->rotate_errno = -r;
}

/* Would adding extra bytes to the file (after what is batched) pass max_size?
 * A file holding nothing yet never rotates, so one over-long line still lands. */
static bool must_rotate(const struct logs_sink *s, size_t extra)
{
    uint64_t max = s->opts.max_size_bytes;
    uint64_t used = s->size_bytes + s->out_len;
    if (max == 0 || s->rotate_failed || (s->fd < 0 && !s->opening) || used == 0)
        return false;
    return used >= max || extra > max - used;
}

static void flush_out(struct logs_sink *s)
{
    size_t n = s->out_len;
    char *fresh;
    s->out_len = 0;
    if (!s->ring || n == 0) {
        emit(s, s->out, n);
        return;
    }
    /* The batch buffer goes to the queue as it is; lines go on in a new one. */
    fresh = s->spare ? s->spare : malloc(s->out_cap);
    s->spare = NULL;
    if (!fresh || !queue_take(s, SEG_BYTES, s->out, n, s->out_cap)) {
        free(fresh);
        emit(s, s->out, n); /* copies, or counts the bytes lost */
        return;
    }
    s->out = fresh;
    s->size_bytes += n;
    kick(s);
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
    if (s->out_len + need > s->out_cap)
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
    /* Behind a write in flight, lines wait in the batch: its end sends them. */
    if (settled(s))
        flush_out(s);
}

/* Raw files have no O_APPEND: write where the file ends now, even if
 * someone truncated it meanwhile, as O_APPEND would. */
static void seek_end(struct logs_sink *s)
{
    off_t end;
    if (s->fd < 0 || !settled(s) || (end = lseek(s->fd, 0, SEEK_END)) < 0)
        return;
    s->size_bytes = (uint64_t)end;
}

/* Straight from the caller's buffer: one write per call unless rotation cuts it. */
static void write_raw(struct logs_sink *s, const char *data, size_t len)
{
    uint64_t max = s->opts.max_size_bytes;

    seek_end(s);
    if (max == 0) {
        emit(s, data, len);
        return;
    }
    while (len > 0) {
        size_t n = len;
        if (must_rotate(s, n))
            rotate(s);
        if (n > max)
            n = (size_t)max;
        emit(s, data, n);
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
    ensure_open(s);
    if (!s->opts.timestamps) {
        write_raw(s, data, len);
        return;
    }
    /* The batch buffer is allocated at the first line: a thousand services
     * that print nothing must not each hold a resident page of it. */
    s->out_cap = s->ring ? SINK_RING_OUT_BYTES : SINK_OUT_BYTES;
    if (!s->out && !(s->out = malloc(s->out_cap))) {
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

/* --- running the queue ----------------------------------------------------------- */

static int open_flags(const struct logs_sink *s)
{
    return O_WRONLY | (s->opts.timestamps ? O_APPEND : 0) | O_CREAT | O_CLOEXEC | O_NOCTTY;
}

/* The size of the file fd is, plus what is queued for it already. */
static void add_file_size(struct logs_sink *s)
{
    struct stat st;
    if (s->fd >= 0 && fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode))
        s->size_bytes += (uint64_t)st.st_size;
}

/* The live file's open ended: res is its fd, or -errno. */
static void opened(struct logs_sink *s, int res)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = res >= 0 ? res : -1; /* -1: queued bytes are lost until a reopen */
    add_file_size(s);
    s->file_gen++;
    s->cut = false; /* a fresh file */
    /* Raw files have no O_APPEND, and writes through the ring go to the
     * file's position: start it at the end of what the file holds (with
     * O_APPEND the position does not matter, and tells the offset). */
    if (s->fd >= 0) {
        off_t end = lseek(s->fd, 0, SEEK_END);
        s->file_at = s->cached_from = end > 0 ? (uint64_t)end : 0;
    }
}

/* Bytes queued for the file the head is about to open or write, and whether
 * a rotation waits behind them. */
static uint64_t queued_ahead(const struct logs_sink *s, bool *rotation_behind)
{
    uint64_t n = 0;
    const struct sink_seg *g;
    for (g = s->head; g && g->kind != SEG_ROTATE; g = g->next)
        if (g->kind == SEG_BYTES || g->kind == SEG_RELAY)
            n += g->len - g->done;
    *rotation_behind = g != NULL;
    return n;
}

/* Before the rest of the queue: a rotation, which the head's segment ends
 * with. False without memory for it. */
static bool rotate_next(struct logs_sink *s)
{
    struct sink_seg *g = malloc(sizeof(*g));
    if (!g)
        return false;
    *g = (struct sink_seg){.kind = SEG_ROTATE, .next = s->head->next};
    s->head->next = g;
    if (s->tail == s->head)
        s->tail = g;
    return true;
}

/* The first open of the live file ended. What was queued meanwhile was sized
 * from an empty file; the file may hold bytes already (corral restarted), so
 * when they and the queue's would pass max_size, the file is rotated first,
 * as a write made at once would have found. */
static void first_opened(struct logs_sink *s, int res)
{
    uint64_t max = s->opts.max_size_bytes;
    uint64_t before = s->size_bytes, held, ahead;
    bool rotation_behind;
    s->opening = false;
    s->size_bytes = 0;
    opened(s, res);
    held = s->size_bytes; /* what the file holds */
    s->size_bytes = before;
    if (s->fd < 0)
        return;
    ahead = queued_ahead(s, &rotation_behind);
    if (max && held && ahead && (held >= max || ahead > max - held) && rotate_next(s))
        return; /* the queued bytes go to a fresh file, as they were sized */
    if (!rotation_behind)
        s->size_bytes += held;
}

/* A rotation step ended; true when the rotation is over. */
static bool rot_result(struct logs_sink *s, int res)
{
    unsigned keep = s->opts.keep;
    if (s->rot_step == keep + 1) {
        opened(s, res);
        s->rot_step = 0;
        return true;
    }
    if (s->rot_step == keep && res < 0 && res != -ENOENT) {
        /* The live file could not be moved: keep appending to it. */
        s->rotate_failed = true;
        s->rotate_refusals++;
        s->rotate_errno = -res;
        add_file_size(s);
        s->rot_step = 0;
        return true;
    }
    s->rot_step++;
    return false;
}

/* The relay's bytes the file did not take, read out so that the relay is
 * empty: in g's place as bytes to write (true: g is freed), or lost. */
static bool relay_unload(struct logs_sink *s, struct sink_seg *g, bool keep_bytes)
{
    size_t n = g->len - g->done;
    struct sink_seg *b = keep_bytes ? malloc(sizeof(*b)) : NULL;
    size_t got = 0;
    char scratch[16 * 1024];
    if (b && !(b->data = malloc(n))) {
        free(b);
        b = NULL;
    }
    while (got < n) {
        char *dst = b ? b->data + got : scratch;
        size_t want = b ? n - got : (n - got < sizeof(scratch) ? n - got : sizeof(scratch));
        ssize_t m = read(s->own_relay->rd, dst, want);
        if (m < 0 && errno == EINTR)
            continue;
        if (m <= 0)
            break;
        got += (size_t)m;
    }
    if (!b) {
        s->lost_bytes += n;
        return false;
    }
    /* In the relay's place at the head, in order. */
    b->kind = SEG_BYTES;
    b->len = got;
    b->done = 0;
    b->cap = n;
    b->next = g->next;
    s->queued = s->queued - g->len + got;
    s->lost_bytes += n - got;
    s->relay_used = false;
    s->head = b;
    if (s->tail == g)
        s->tail = b;
    free(g);
    return true;
}

static void drop_behind(struct logs_sink *s);

/* A write or splice step ended; true when the head is done with. */
static bool io_result(struct logs_sink *s, struct sink_seg *g, int res)
{
    if (s->cut_writing) {
        s->cut_writing = false;
        if (res > 0) {
            s->cut = false;
            s->size_bytes++;
            s->file_at++;
            if (--res == 0)
                return false; /* only the newline went: the bytes next */
        }
    }
    if (res > 0) {
        g->done += (size_t)res;
        s->file_at += (uint64_t)res;
        drop_behind(s);
        return g->done >= g->len;
    }
    if (res == -EINTR || res == -EAGAIN)
        return false;
    if (g->kind == SEG_RELAY && (res == -EINVAL || res == -ENOSYS)) {
        s->no_splice = true; /* the file system refuses splice: write the bytes */
        return !relay_unload(s, g, true);
    }
    /* Disk full, I/O error, or a write that took nothing. */
    if (g->kind == SEG_RELAY) {
        (void)relay_unload(s, g, false);
        return true;
    }
    if (cut_at(s, g->data, g->done))
        s->cut = true;
    s->lost_bytes += g->len - g->done;
    return true;
}

/* --- drop-behind ------------------------------------------------------------------ */

static void sink_free(struct logs_sink *s);

/* A log file is written once and seldom read, yet each of its pages stays in
 * the page cache until memory runs short, pushing out what the services
 * read; and a page cache that keeps growing takes fresh pages, which on a
 * VM whose host takes freed memory back cost a fault on the host each
 * (writes into the cache ran at a third of the speed of writes whose pages
 * are dropped and reused: see docs/benchmarks.md). So, through the ring, in
 * the kernel's worker: once CACHE_STEP more bytes than CACHE_KEPT are in the
 * file, wait for the oldest of them to be on disk (sync_file_range), then
 * drop them (POSIX_FADV_DONTNEED). Followers and tails read the newest
 * bytes, which stay cached. Without a ring nothing is dropped: the waits
 * would hold up the loop. */
static void drop_end(struct logs_sink *s)
{
    close(s->drop_fd);
    s->drop_fd = -1;
    if (s->drop_gen == s->file_gen && s->drop_to > s->cached_from)
        s->cached_from = s->drop_to; /* tried once, whatever came of it */
}

static void on_dropped(struct logs_op *op, int res)
{
    struct logs_sink *s = (struct logs_sink *)((char *)op - offsetof(struct logs_sink, drop));
    struct io_uring_sqe *sqe;
    if (res == -EINVAL || res == -EOPNOTSUPP || res == -ENOSYS)
        s->no_drop = true; /* a kernel without these operations */
    if (!s->drop_synced && res >= 0 && (sqe = logs_ring_sqe(s->ring, &s->drop))) {
        s->drop_synced = true;
        io_uring_prep_fadvise(sqe, s->drop_fd, s->drop_from, (off_t)(s->drop_to - s->drop_from),
                              POSIX_FADV_DONTNEED);
        (void)logs_ring_submit(s->ring);
        return;
    }
    drop_end(s);
    /* A closed file's last bytes too: its writer may have ended mid-drop. */
    drop_behind(s);
    if (s->closing && settled(s) && s->drop_fd < 0)
        sink_free(s);
}

static void drop_behind(struct logs_sink *s)
{
    struct io_uring_sqe *sqe;
    uint64_t to;
    if (!s->ring || s->no_drop || s->drop_fd >= 0 || s->fd < 0 ||
        s->file_at < s->cached_from + CACHE_KEPT + CACHE_STEP)
        return;
    to = (s->file_at - CACHE_KEPT) & ~(CACHE_ALIGN - 1);
    if (to - s->cached_from > CACHE_MAX)
        to = (s->cached_from + CACHE_MAX) & ~(CACHE_ALIGN - 1);
    s->drop_fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 3);
    if (s->drop_fd < 0)
        return; /* tried again at the next write */
    if (!(sqe = logs_ring_sqe(s->ring, &s->drop))) {
        close(s->drop_fd);
        s->drop_fd = -1;
        return;
    }
    s->drop_gen = s->file_gen;
    s->drop_from = s->cached_from & ~(CACHE_ALIGN - 1); /* the first: a file's old end */
    s->drop_to = to;
    s->drop_synced = false;
    io_uring_prep_sync_file_range(sqe, s->drop_fd, (unsigned)(to - s->drop_from), s->drop_from,
                                  SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                      SYNC_FILE_RANGE_WAIT_AFTER);
    (void)logs_ring_submit(s->ring);
}

static void prep(struct logs_sink *s, struct io_uring_sqe *sqe)
{
    struct sink_seg *g = s->head;
    size_t n = g->len - g->done;
    switch (g->kind) {
    case SEG_BYTES:
        /* Offset -1: at the file's position (raw) or its end (O_APPEND). */
        if (s->cut) {
            cut_first(s->cut_iov, g->data + g->done, n);
            s->cut_writing = true;
            io_uring_prep_writev(sqe, s->fd, s->cut_iov, 2, (uint64_t)-1);
            return;
        }
        io_uring_prep_write(sqe, s->fd, g->data + g->done, (unsigned)n, (uint64_t)-1);
        return;
    case SEG_RELAY:
        io_uring_prep_splice(sqe, s->own_relay->rd, -1, s->fd, -1, (unsigned)n, SPLICE_F_MOVE);
        return;
    case SEG_ROTATE:
        switch (rot_plan(s->name, s->opts.keep, s->rot_step, s->rot_from, s->rot_to)) {
        case ROT_OPEN:
            io_uring_prep_openat(sqe, s->dirfd, s->rot_from, open_flags(s), 0640);
            return;
        case ROT_UNLINK:
            io_uring_prep_unlinkat(sqe, s->dirfd, s->rot_from, 0);
            return;
        case ROT_RENAME:
            io_uring_prep_renameat(sqe, s->dirfd, s->rot_from, s->dirfd, s->rot_to, 0);
            return;
        }
        return;
    case SEG_OPEN:
        name_path(s->name, s->rot_from, 0);
        io_uring_prep_openat(sqe, s->dirfd, s->rot_from, open_flags(s), 0640);
        return;
    }
}

/* The same step made at once, when the ring has no free entry. */
static int step_now(struct logs_sink *s)
{
    struct sink_seg *g = s->head;
    size_t n = g->len - g->done;
    ssize_t r = -1;
    switch (g->kind) {
    case SEG_BYTES:
        if (s->cut) {
            struct iovec iov[2];
            cut_first(iov, g->data + g->done, n);
            s->cut_writing = true;
            r = writev(s->fd, iov, 2);
            break;
        }
        r = write(s->fd, g->data + g->done, n);
        break;
    case SEG_RELAY:
        r = splice(s->own_relay->rd, NULL, s->fd, NULL, n, SPLICE_F_MOVE);
        break;
    case SEG_ROTATE:
        switch (rot_plan(s->name, s->opts.keep, s->rot_step, s->rot_from, s->rot_to)) {
        case ROT_OPEN:
            r = openat(s->dirfd, s->rot_from, open_flags(s), 0640);
            break;
        case ROT_UNLINK:
            r = unlinkat(s->dirfd, s->rot_from, 0);
            break;
        case ROT_RENAME:
            r = renameat(s->dirfd, s->rot_from, s->dirfd, s->rot_to);
            break;
        }
        break;
    case SEG_OPEN:
        name_path(s->name, s->rot_from, 0);
        r = openat(s->dirfd, s->rot_from, open_flags(s), 0640);
        break;
    }
    return r < 0 ? -errno : (int)r;
}

static void step_result(struct logs_sink *s, int res)
{
    struct sink_seg *g = s->head;
    bool over = true;
    if (g->kind == SEG_OPEN)
        first_opened(s, res);
    else if (g->kind == SEG_ROTATE)
        over = rot_result(s, res);
    else
        over = io_result(s, g, res);
    if (over)
        seg_pop(s);
}

/* Starts the head's next step unless one is in flight. */
static void kick(struct logs_sink *s)
{
    while (s->head && !s->inflight) {
        struct sink_seg *g = s->head;
        struct io_uring_sqe *sqe;
        if ((g->kind == SEG_BYTES || g->kind == SEG_RELAY) && s->fd < 0) {
            /* The file could not be opened: these bytes have nowhere to go. */
            io_result(s, g, -EBADF);
            seg_pop(s);
            continue;
        }
        sqe = logs_ring_sqe(s->ring, &s->op);
        if (!sqe) {
            step_result(s, step_now(s));
            continue;
        }
        prep(s, sqe);
        s->inflight = true;
        /* A refused submit leaves the entry queued: the next submit sends it. */
        (void)logs_ring_submit(s->ring);
    }
}

static void on_done(struct logs_op *op, int res)
{
    struct logs_sink *s = (struct logs_sink *)((char *)op - offsetof(struct logs_sink, op));
    s->inflight = false;
    step_result(s, res);
    kick(s);
    if (settled(s) && s->out_len)
        flush_out(s);
    if (s->closing) {
        if (settled(s) && s->drop_fd < 0)
            sink_free(s);
        return;
    }
    if (s->on_idle && !logs_sink_busy(s))
        s->on_idle(s->idle_ctx);
}

void logs_sink_use_ring(struct logs_sink *s, struct logs_ring *ring)
{
    if (!s || s->ring || s->fd >= 0)
        return;
    s->ring = ring;
    s->op.done = on_done;
    s->drop.done = on_dropped;
}

void logs_sink_on_idle(struct logs_sink *s, logs_idle_fn fn, void *ctx)
{
    if (!s)
        return;
    s->on_idle = fn;
    s->idle_ctx = ctx;
}

bool logs_sink_busy(const struct logs_sink *s)
{
    return s && s->ring && (s->relay_used || s->queued + s->out_len >= SINK_BACKLOG);
}

/* Through a ring: the pipe's bytes move to the sink's own relay (no disk is
 * touched) and wait there for their splice into the file. */
static ssize_t splice_queued(struct logs_sink *s, int pipe_fd, size_t max)
{
    size_t room;
    ssize_t n;
    if (s->relay_used)
        return -EOPNOTSUPP;
    if (!s->own_relay && !(s->own_relay = logs_relay_new()))
        return -EOPNOTSUPP;
    seek_end(s);
    room = splice_room(s, max < RELAY_BYTES ? max : RELAY_BYTES);
    n = splice(pipe_fd, NULL, s->own_relay->wr, NULL, room, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n < 0)
        return errno == EAGAIN ? -EAGAIN : -EOPNOTSUPP;
    if (n == 0)
        return 0;
    if (!queue_put(s, SEG_RELAY, NULL, (size_t)n)) {
        struct sink_seg g = {.kind = SEG_RELAY, .len = (size_t)n};
        (void)relay_unload(s, &g, false);
        return n;
    }
    s->size_bytes += (uint64_t)n;
    kick(s);
    return n;
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
    if (s->ring) {
        ensure_open(s);
        return splice_queued(s, pipe_fd, max);
    }
    if (s->fd < 0 && (!settled(s) || open_file(s) < 0))
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

size_t logs_sink_held(const struct logs_sink *s, enum logs_stream st, const char **data,
                      struct timespec *since)
{
    if (!s || !s->opts.timestamps || s->lines[st].len == 0)
        return 0;
    *data = s->lines[st].buf;
    *since = s->held_ts[st];
    return s->lines[st].len;
}

bool logs_sink_file_gone(const struct logs_sink *s)
{
    struct stat st;
    return s && s->fd >= 0 && fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 0;
}

uint64_t logs_sink_lost_bytes(const struct logs_sink *s)
{
    return s ? s->lost_bytes : 0;
}

uint64_t logs_sink_rotate_refusals(const struct logs_sink *s, int *err)
{
    *err = s ? s->rotate_errno : 0;
    return s ? s->rotate_refusals : 0;
}

uint64_t logs_sink_pending(const struct logs_sink *s)
{
    uint64_t n = s ? s->queued + s->out_len : 0;
    if (s && s->head)
        n -= s->head->done; /* of the head, what is in the file already */
    return n;
}

static void sink_free(struct logs_sink *s)
{
    int st;
    for (st = 0; st < LOGS__COUNT; st++)
        logs_linebuf_free(&s->lines[st]);
    while (s->head) {
        if (s->head->kind == SEG_BYTES || s->head->kind == SEG_RELAY)
            s->lost_bytes += s->head->len - s->head->done;
        seg_pop(s);
    }
    logs_relay_free(s->own_relay);
    free(s->spare);
    free(s->out);
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

/* The held start of a line that will get no end, written as a line. */
static void flush_held(struct logs_sink *s, enum logs_stream st)
{
    if (!s->out || s->lines[st].len == 0)
        return;
    ensure_open(s);
    s->cur_st = st;
    s->line_ts = &s->held_ts[st];
    logs_linebuf_flush(&s->lines[st], put_line, s);
}

void logs_sink_end_stream(struct logs_sink *s, enum logs_stream st)
{
    if (!s || !s->out || s->lines[st].len == 0)
        return;
    flush_held(s, st);
    if (settled(s))
        flush_out(s);
}

void logs_sink_close(struct logs_sink *s)
{
    if (!s)
        return;
    if (s->out) {
        s->rotate_failed = false;
        for (int st = 0; st < LOGS__COUNT; st++)
            flush_held(s, (enum logs_stream)st);
        flush_out(s);
    }
    if (!settled(s) || s->drop_fd >= 0) {
        /* Freed by the last completion (logs_ring_drain() waits for it). */
        s->closing = true;
        s->on_idle = NULL;
        return;
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
    s->drop_fd = -1;
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
