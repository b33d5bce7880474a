/* tests/unit/test_logs.c — line splitting and the log file sink: prefix format,
 * held partial lines, rotation by rename, and lost-byte accounting on a full disk. */
#include "logs/file.h"
#include "logs/logs.h"
#include "logs/ring.h"
#include "logs/tail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
/* cmocka.h uses setjmp.h, stdarg.h and stddef.h without including them. */
#include <cmocka.h>

/* ---- line splitting ---- */

#define MAX_PIECES 4096

struct piece {
    char *data;
    size_t len;
    bool complete;
    const char *src; /* where fn saw the line, to tell copied from direct */
};

struct collect {
    struct piece p[MAX_PIECES];
    size_t n;
};

static void collect_fn(void *ctx, const char *line, size_t len, bool complete)
{
    struct collect *c = ctx;
    assert_true(c->n < MAX_PIECES);
    c->p[c->n].data = malloc(len + 1);
    assert_non_null(c->p[c->n].data);
    memcpy(c->p[c->n].data, line, len);
    c->p[c->n].data[len] = '\0';
    c->p[c->n].len = len;
    c->p[c->n].complete = complete;
    c->p[c->n].src = line;
    c->n++;
}

static struct collect *collect_new(void)
{
    struct collect *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    return c;
}

static void collect_free(struct collect *c)
{
    size_t i;
    for (i = 0; i < c->n; i++)
        free(c->p[i].data);
    free(c);
}

static void expect_piece(const struct collect *c, size_t i, const char *data, size_t len,
                         bool complete)
{
    assert_true(i < c->n);
    assert_int_equal(c->p[i].len, len);
    assert_memory_equal(c->p[i].data, data, len);
    assert_int_equal(c->p[i].complete, complete);
}

static void feed_str(struct logs_linebuf *lb, const char *s, struct collect *c)
{
    logs_linebuf_feed(lb, s, strlen(s), collect_fn, c);
}

static void test_linebuf_complete_lines(void **state)
{
    static const char in[] = "one\ntwo\nthree\n";
    struct logs_linebuf lb;
    struct collect *c = collect_new();
    (void)state;

    assert_int_equal(logs_linebuf_init(&lb, 64), 0);
    logs_linebuf_feed(&lb, in, sizeof(in) - 1, collect_fn, c);
    assert_int_equal(c->n, 3);
    expect_piece(c, 0, "one", 3, true);
    expect_piece(c, 1, "two", 3, true);
    expect_piece(c, 2, "three", 5, true);
    /* Empty buffer: lines come straight from the input, not from a copy. */
    assert_ptr_equal(c->p[0].src, in);
    assert_ptr_equal(c->p[1].src, in + 4);
    assert_ptr_equal(c->p[2].src, in + 8);
    assert_int_equal(lb.len, 0);
    logs_linebuf_free(&lb);
    collect_free(c);
}

static void test_linebuf_split_feeds(void **state)
{
    static const char in[] = "hello world\nsecond line\nthird";
    struct logs_linebuf lb;
    struct collect *c = collect_new();
    size_t i;
    (void)state;

    assert_int_equal(logs_linebuf_init(&lb, 64), 0);
    for (i = 0; i < sizeof(in) - 1; i++)
        logs_linebuf_feed(&lb, in + i, 1, collect_fn, c);
    assert_int_equal(c->n, 2);
    expect_piece(c, 0, "hello world", 11, true);
    expect_piece(c, 1, "second line", 11, true);
    assert_int_equal(lb.len, 5);
    feed_str(&lb, "\nlast\n", c);
    assert_int_equal(c->n, 4);
    expect_piece(c, 2, "third", 5, true);
    expect_piece(c, 3, "last", 4, true);
    logs_linebuf_free(&lb);
    collect_free(c);
}

static void test_linebuf_long_line(void **state)
{
    struct logs_linebuf lb;
    struct collect *c = collect_new();
    (void)state;

    assert_int_equal(logs_linebuf_init(&lb, 4), 0);
    feed_str(&lb, "abcdefghij\n", c);
    assert_int_equal(c->n, 3);
    expect_piece(c, 0, "abcd", 4, false);
    expect_piece(c, 1, "efgh", 4, false);
    expect_piece(c, 2, "ij", 2, true);

    /* Exactly max_line bytes is one whole line, not a piece plus an empty line. */
    feed_str(&lb, "wxyz\n", c);
    assert_int_equal(c->n, 4);
    expect_piece(c, 3, "wxyz", 4, true);
    feed_str(&lb, "WXYZ", c);
    assert_int_equal(c->n, 4);
    feed_str(&lb, "\n", c);
    assert_int_equal(c->n, 5);
    expect_piece(c, 4, "WXYZ", 4, true);

    /* The same across feeds, through the held buffer. */
    feed_str(&lb, "ab", c);
    feed_str(&lb, "cdefg", c);
    assert_int_equal(c->n, 6);
    expect_piece(c, 5, "abcd", 4, false);
    assert_true(lb.len <= lb.cap);
    feed_str(&lb, "h", c);
    assert_int_equal(c->n, 6);
    assert_int_equal(lb.len, 4);
    feed_str(&lb, "\n", c);
    assert_int_equal(c->n, 7);
    expect_piece(c, 6, "efgh", 4, true);
    assert_int_equal(lb.cap, 4);
    logs_linebuf_free(&lb);
    collect_free(c);
}

static void test_linebuf_binary(void **state)
{
    static const char in[] = "a\0b\n\0\0\nxy\0";
    struct logs_linebuf lb;
    struct collect *c = collect_new();
    (void)state;

    assert_int_equal(logs_linebuf_init(&lb, 16), 0);
    logs_linebuf_feed(&lb, in, sizeof(in) - 1, collect_fn, c);
    assert_int_equal(c->n, 2);
    expect_piece(c, 0, "a\0b", 3, true);
    expect_piece(c, 1, "\0\0", 2, true);
    logs_linebuf_flush(&lb, collect_fn, c);
    assert_int_equal(c->n, 3);
    expect_piece(c, 2, "xy\0", 3, false);
    logs_linebuf_free(&lb);
    collect_free(c);
}

static void test_linebuf_empty_lines(void **state)
{
    struct logs_linebuf lb;
    struct collect *c = collect_new();
    (void)state;

    assert_int_equal(logs_linebuf_init(&lb, 8), 0);
    feed_str(&lb, "\n\n", c);
    feed_str(&lb, "x", c);
    feed_str(&lb, "\n\n", c);
    assert_int_equal(c->n, 4);
    expect_piece(c, 0, "", 0, true);
    expect_piece(c, 1, "", 0, true);
    expect_piece(c, 2, "x", 1, true);
    expect_piece(c, 3, "", 0, true);
    logs_linebuf_free(&lb);
    collect_free(c);
}

static void test_linebuf_flush(void **state)
{
    struct logs_linebuf lb;
    struct collect *c = collect_new();
    (void)state;

    assert_int_equal(logs_linebuf_init(&lb, 8), 0);
    logs_linebuf_flush(&lb, collect_fn, c);
    assert_int_equal(c->n, 0);
    feed_str(&lb, "done\ntail", c);
    assert_int_equal(c->n, 1);
    logs_linebuf_flush(&lb, collect_fn, c);
    assert_int_equal(c->n, 2);
    expect_piece(c, 1, "tail", 4, false);
    assert_int_equal(lb.len, 0);
    logs_linebuf_flush(&lb, collect_fn, c);
    assert_int_equal(c->n, 2);
    feed_str(&lb, "new\n", c);
    assert_int_equal(c->n, 3);
    expect_piece(c, 2, "new", 3, true);
    logs_linebuf_free(&lb);
    logs_linebuf_free(&lb);
    collect_free(c);
}

/* Random bytes in random-sized feeds: never more than max_line held, and the
 * pieces put back together (with '\n' after complete ones) are the input. */
static void test_linebuf_bounded_roundtrip(void **state)
{
    enum { IN_BYTES = 1 << 20, MAX_LINE = 100 };
    char *in = malloc(IN_BYTES);
    char *out = malloc(IN_BYTES + 1);
    struct logs_linebuf lb;
    struct collect *c;
    size_t off = 0, n_out = 0, i;
    unsigned seed = 12345;
    (void)state;

    assert_non_null(in);
    assert_non_null(out);
    for (i = 0; i < IN_BYTES; i++) {
        seed = seed * 1103515245u + 12345u;
        /* Mostly no newline, so that long runs are cut. */
        in[i] = (seed >> 16) % 300 == 0 ? '\n' : (char)(seed >> 16);
        if (in[i] == '\n' && (seed >> 16) % 300 != 0)
            in[i] = 'n';
    }
    assert_int_equal(logs_linebuf_init(&lb, MAX_LINE), 0);
    while (off < IN_BYTES) {
        size_t n;
        c = collect_new();
        seed = seed * 1103515245u + 12345u;
        n = (seed >> 16) % 700 + 1;
        if (n > IN_BYTES - off)
            n = IN_BYTES - off;
        logs_linebuf_feed(&lb, in + off, n, collect_fn, c);
        off += n;
        assert_true(lb.len <= MAX_LINE);
        assert_int_equal(lb.cap, MAX_LINE);
        for (i = 0; i < c->n; i++) {
            assert_true(c->p[i].len <= MAX_LINE);
            memcpy(out + n_out, c->p[i].data, c->p[i].len);
            n_out += c->p[i].len;
            if (c->p[i].complete)
                out[n_out++] = '\n';
        }
        collect_free(c);
    }
    c = collect_new();
    logs_linebuf_flush(&lb, collect_fn, c);
    for (i = 0; i < c->n; i++) {
        memcpy(out + n_out, c->p[i].data, c->p[i].len);
        n_out += c->p[i].len;
    }
    collect_free(c);
    assert_int_equal(n_out, IN_BYTES);
    assert_memory_equal(out, in, IN_BYTES);
    logs_linebuf_free(&lb);
    free(in);
    free(out);
}

/* ---- sink ---- */

/* The sink tests run twice: writes made at once, then through a ring, which
 * each call waits for so that the files can be read straight after it. */
static struct logs_ring *ring;

static void sink_write(struct logs_sink *s, enum logs_stream st, const char *data, size_t len,
                       const struct timespec *realtime)
{
    logs_sink_write(s, st, data, len, realtime);
    logs_ring_drain(ring);
}

static ssize_t sink_splice(struct logs_sink *s, struct logs_relay *relay, int pipe_fd, size_t max)
{
    ssize_t n = logs_sink_splice(s, relay, pipe_fd, max);
    logs_ring_drain(ring);
    return n;
}

static void sink_close(struct logs_sink *s)
{
    logs_sink_close(s);
    logs_ring_drain(ring);
}

struct tmpdir {
    char path[64];
    int dfd;
};

static int tmpdir_setup(void **state)
{
    struct tmpdir *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    snprintf(t->path, sizeof(t->path), "/tmp/corral-logs-XXXXXX");
    if (!mkdtemp(t->path))
        return -1;
    t->dfd = open(t->path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (t->dfd < 0)
        return -1;
    *state = t;
    return 0;
}

static void remove_tree(int dfd)
{
    DIR *d = fdopendir(dup(dfd));
    struct dirent *de;
    if (!d)
        return;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (unlinkat(dfd, de->d_name, 0) < 0 && errno == EISDIR) {
            int sub = openat(dfd, de->d_name, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
            if (sub >= 0) {
                remove_tree(sub);
                close(sub);
            }
            (void)unlinkat(dfd, de->d_name, AT_REMOVEDIR);
        }
    }
    closedir(d);
}

static int tmpdir_teardown(void **state)
{
    struct tmpdir *t = *state;
    remove_tree(t->dfd);
    close(t->dfd);
    (void)rmdir(t->path);
    free(t);
    return 0;
}

/* Whole file into a NUL-terminated buffer; NULL when it does not exist. */
static int truncateat_helper(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static char *slurp(int dfd, const char *name, size_t *len)
{
    struct stat st;
    char *buf;
    ssize_t n;
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    assert_int_equal(fstat(fd, &st), 0);
    buf = malloc((size_t)st.st_size + 1);
    assert_non_null(buf);
    n = pread(fd, buf, (size_t)st.st_size, 0);
    assert_int_equal(n, st.st_size);
    buf[n] = '\0';
    close(fd);
    *len = (size_t)n;
    return buf;
}

static bool exists(int dfd, const char *name)
{
    struct stat st;
    return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static const struct timespec ts_a = {.tv_sec = 1795895623, .tv_nsec = 123456789};
static const struct timespec ts_b = {.tv_sec = 1795895624, .tv_nsec = 1000};

#define PREFIX_A "2026-11-28T19:53:43.123456Z "
#define PREFIX_B "2026-11-28T19:53:44.000001Z "

/* A file of n bytes c, as one corral left. */
static void put_file(int dfd, const char *name, char c, size_t n)
{
    char buf[1024];
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    assert_true(fd >= 0 && n <= sizeof(buf));
    memset(buf, c, n);
    assert_int_equal(write(fd, buf, n), (ssize_t)n);
    close(fd);
}

static struct logs_sink *sink_open(struct tmpdir *t, uint64_t max, unsigned keep, bool stamps)
{
    struct cfg_logs o = {.max_size_bytes = max, .keep = keep, .timestamps = stamps};
    struct diag dg;
    struct logs_sink *s;
    diag_clear(&dg);
    s = logs_sink_open(t->dfd, "svc", &o, &dg);
    assert_non_null(s);
    logs_sink_use_ring(s, ring);
    return s;
}

static void write_str(struct logs_sink *s, enum logs_stream st, const char *str,
                      const struct timespec *ts)
{
    sink_write(s, st, str, strlen(str), ts);
}

static void test_sink_timestamp_format(void **state)
{
    struct tmpdir *t = *state;
    struct logs_sink *s = sink_open(t, 0, 0, true);
    regex_t re;
    char *buf, *line, *save = NULL;
    size_t len;
    int n = 0;

    write_str(s, LOGS_OUT, "hello\nworld\n", &ts_a);
    write_str(s, LOGS_ERR, "oops\n", &ts_b);
    sink_close(s);
    buf = slurp(t->dfd, "svc.log", &len);
    assert_non_null(buf);
    assert_string_equal(buf, PREFIX_A "out hello\n" PREFIX_A "out world\n" PREFIX_B "err oops\n");

    assert_int_equal(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                             "\\.[0-9]{6}Z (out|err) [a-z]+$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        assert_int_equal(regexec(&re, line, 0, NULL, 0), 0);
        n++;
    }
    assert_int_equal(n, 3);
    regfree(&re);
    free(buf);
}

static void test_sink_stamp_cache(void **state)
{
    struct tmpdir *t = *state;
    struct logs_sink *s = sink_open(t, 0, 0, true);
    struct timespec ts = ts_a;
    char *buf;
    size_t len;

    /* Same second, new microseconds; then a later second and back: the cached
     * date must follow the second, not stick to the first one seen. */
    write_str(s, LOGS_OUT, "a\n", &ts);
    ts.tv_nsec = 999999999;
    write_str(s, LOGS_OUT, "b\n", &ts);
    ts.tv_sec += 86400;
    ts.tv_nsec = 0;
    write_str(s, LOGS_ERR, "c\n", &ts);
    write_str(s, LOGS_ERR, "d\n", &ts_a);
    sink_close(s);
    buf = slurp(t->dfd, "svc.log", &len);
    assert_non_null(buf);
    assert_string_equal(buf, PREFIX_A "out a\n"
                                      "2026-11-28T19:53:43.999999Z out b\n"
                                      "2026-11-29T19:53:43.000000Z err c\n" PREFIX_A "err d\n");
    free(buf);
}

static void test_sink_raw_identical(void **state)
{
    enum { N = 300000 };
    struct tmpdir *t = *state;
    struct logs_sink *s = sink_open(t, 0, 0, false);
    char *in = malloc(N);
    char *buf;
    size_t off = 0, len, i;

    assert_non_null(in);
    for (i = 0; i < N; i++)
        in[i] = (char)(i * 7 + i / 13);
    in[10] = '\0';
    in[11] = '\n';
    while (off < N) {
        size_t n = (off / 7) % 5000 + 1;
        if (n > N - off)
            n = N - off;
        sink_write(s, (off & 1) ? LOGS_ERR : LOGS_OUT, in + off, n, &ts_a);
        off += n;
    }
    /* Without timestamps nothing is held: the file is complete before close. */
    buf = slurp(t->dfd, "svc.log", &len);
    assert_non_null(buf);
    assert_int_equal(len, N);
    assert_memory_equal(buf, in, N);
    assert_int_equal(logs_sink_lost_bytes(s), 0);
    sink_close(s);
    free(buf);
    free(in);
}

static void test_sink_held_partial(void **state)
{
    struct tmpdir *t = *state;
    struct logs_sink *s = sink_open(t, 0, 0, true);
    char *buf;
    size_t len;

    write_str(s, LOGS_OUT, "par", &ts_a);
    buf = slurp(t->dfd, "svc.log", &len);
    assert_int_equal(len, 0);
    free(buf);

    write_str(s, LOGS_ERR, "e1\n", &ts_b);
    write_str(s, LOGS_OUT, "tial\nnext", &ts_b);
    buf = slurp(t->dfd, "svc.log", &len);
    /* The finished line carries the time its first bytes came. */
    assert_string_equal(buf, PREFIX_B "err e1\n" PREFIX_A "out partial\n");
    free(buf);

    write_str(s, LOGS_ERR, "no newline", &ts_a);
    sink_close(s);
    buf = slurp(t->dfd, "svc.log", &len);
    assert_string_equal(buf, PREFIX_B "err e1\n" PREFIX_A "out partial\n" PREFIX_B
                                      "out next\n" PREFIX_A "err no newline\n");
    free(buf);
}

/* A run's last line without its newline is written when its stream ends,
 * not held until the next run's first bytes finish it. */
static void test_sink_end_of_stream_writes_the_held_line(void **state)
{
    struct tmpdir *t = *state;
    struct logs_sink *s = sink_open(t, 0, 0, true);
    char *buf;
    size_t len;

    write_str(s, LOGS_OUT, "start\nfatal: no newline", &ts_a);
    write_str(s, LOGS_ERR, "held too", &ts_a);
    logs_sink_end_stream(s, LOGS_OUT);
    logs_ring_drain(ring);
    buf = slurp(t->dfd, "svc.log", &len);
    assert_string_equal(buf, PREFIX_A "out start\n" PREFIX_A "out fatal: no newline\n");
    free(buf);
    logs_sink_end_stream(s, LOGS_OUT); /* nothing held: nothing written */
    write_str(s, LOGS_OUT, "next run\n", &ts_b);
    sink_close(s);
    buf = slurp(t->dfd, "svc.log", &len);
    assert_string_equal(buf, PREFIX_A "out start\n" PREFIX_A "out fatal: no newline\n" PREFIX_B
                                      "out next run\n" PREFIX_A "err held too\n");
    free(buf);
}

static void test_sink_long_line_pieces(void **state)
{
    struct tmpdir *t = *state;
    struct logs_sink *s = sink_open(t, 0, 0, true);
    size_t n = LOGS_MAX_LINE * 2 + 10, len;
    char *in = malloc(n + 1);
    char *buf;

    assert_non_null(in);
    memset(in, 'x', n);
    in[n] = '\n';
    sink_write(s, LOGS_OUT, in, n + 1, &ts_a);
    sink_close(s);
    buf = slurp(t->dfd, "svc.log", &len);
    assert_int_equal(len, 3 * (sizeof(PREFIX_A "out ") - 1) + n + 3);
    assert_memory_equal(buf, PREFIX_A "out xxx", sizeof(PREFIX_A "out xxx") - 1);
    assert_memory_equal(buf + sizeof(PREFIX_A "out ") - 1 + LOGS_MAX_LINE, "\n" PREFIX_A "out x",
                        sizeof("\n" PREFIX_A "out x") - 1);
    free(buf);
    free(in);
}

/* Reads svc.log.N .. svc.log.1, svc.log (oldest first) as numbered lines and
 * checks that they are one contiguous run ending at last. */
static void check_rotated_lines(struct tmpdir *t, unsigned keep, uint64_t max, size_t line_len,
                                int last)
{
    char name[32];
    int next = -1;
    size_t total = 0;
    int k;

    for (k = (int)keep; k >= 0; k--) {
        char *buf, *p;
        size_t len;
        if (k)
            snprintf(name, sizeof(name), "svc.log.%d", k);
        else
            snprintf(name, sizeof(name), "svc.log");
        buf = slurp(t->dfd, name, &len);
        assert_non_null(buf);
        assert_true(len > 0);
        assert_true(len <= max + line_len);
        assert_int_equal(len % line_len, 0);
        total += len;
        for (p = buf; p < buf + len; p += line_len) {
            int num;
            assert_memory_equal(p, PREFIX_A "out line ", sizeof(PREFIX_A "out line ") - 1);
            num = atoi(p + sizeof(PREFIX_A "out line ") - 1);
            if (next >= 0)
                assert_int_equal(num, next);
            next = num + 1;
        }
        free(buf);
    }
    assert_int_equal(next, last + 1);
    assert_true(total <= max * (keep + 1) + line_len);
    /* Oldest dropped: what is left does not reach back to line 0. */
    assert_true((size_t)(last + 1) * line_len > total);
}

static void test_sink_rotate_keep3(void **state)
{
    struct tmpdir *t = *state;
    const uint64_t max = 1000;
    const size_t line_len = sizeof(PREFIX_A "out line 000000\n") - 1;
    struct logs_sink *s = sink_open(t, max, 3, true);
    char batch[7 * 16];
    struct stat st_old, st_rot;
    int follower = -1;
    int i = 0;

    /* 10 x max of output, 7 lines per write so rotation falls mid-batch. */
    while ((size_t)i * line_len < 10 * max) {
        size_t n = 0;
        int j;
        for (j = 0; j < 7; j++, i++)
            n += (size_t)snprintf(batch + n, sizeof(batch) - n, "line %06d\n", i);
        sink_write(s, LOGS_OUT, batch, n, &ts_a);
        if (follower < 0) {
            follower = openat(t->dfd, "svc.log", O_RDONLY | O_CLOEXEC);
            assert_true(follower >= 0);
            assert_int_equal(fstat(follower, &st_old), 0);
        }
    }
    assert_int_equal(logs_sink_lost_bytes(s), 0);
    sink_close(s);
    check_rotated_lines(t, 3, max, line_len, i - 1);
    assert_false(exists(t->dfd, "svc.log.4"));
    assert_false(exists(t->dfd, "svc.log.0"));

    /* Rename-only: the follower's file was rotated out and finally dropped,
     * yet it still reads the first lines and grew only up to max_size. */
    assert_int_equal(fstat(follower, &st_rot), 0);
    assert_int_equal(st_rot.st_ino, st_old.st_ino);
    assert_int_equal(st_rot.st_nlink, 0);
    assert_true(st_rot.st_size >= st_old.st_size);
    assert_true((uint64_t)st_rot.st_size <= max);
    {
        char head[64];
        assert_int_equal(pread(follower, head, line_len, 0), (ssize_t)line_len);
        assert_memory_equal(head, PREFIX_A "out line 000000\n", line_len);
    }
    close(follower);
}

static void test_sink_rotate_follower_inode(void **state)
{
    struct tmpdir *t = *state;
    struct logs_sink *s = sink_open(t, 100, 2, false);
    char data[60];
    struct stat st_f, st_1;
    int follower;

    memset(data, 'a', sizeof(data));
    sink_write(s, LOGS_OUT, data, sizeof(data), &ts_a);
    follower = openat(t->dfd, "svc.log", O_RDONLY | O_CLOEXEC);
    assert_true(follower >= 0);
    memset(data, 'b', sizeof(data));
    sink_write(s, LOGS_OUT, data, sizeof(data), &ts_a);
    /* The follower's inode became svc.log.1, untouched. */
    assert_int_equal(fstat(follower, &st_f), 0);
    assert_int_equal(fstatat(t->dfd, "svc.log.1", &st_1, 0), 0);
    assert_int_equal(st_f.st_ino, st_1.st_ino);
    assert_int_equal(st_f.st_size, 60);
    close(follower);
    sink_close(s);
}

static void test_sink_rotate_raw_split(void **state)
{
    struct tmpdir *t = *state;
    struct logs_sink *s = sink_open(t, 100, 3, false);
    char in[350];
    char *buf;
    size_t len, i;

    for (i = 0; i < sizeof(in); i++)
        in[i] = (char)('A' + i % 26);
    sink_write(s, LOGS_OUT, "old", 3, &ts_a);
    /* Bigger than max_size in one call: fresh files, cut by bytes. */
    sink_write(s, LOGS_OUT, in, sizeof(in), &ts_a);
    sink_close(s);

    /* 100 + 100 + 100 + 50; "old" went out with the fourth rotation. */
    buf = slurp(t->dfd, "svc.log.3", &len);
    assert_non_null(buf);
    assert_int_equal(len, 100);
    assert_memory_equal(buf, in, 100);
    free(buf);
    buf = slurp(t->dfd, "svc.log.2", &len);
    assert_int_equal(len, 100);
    assert_memory_equal(buf, in + 100, 100);
    free(buf);
    buf = slurp(t->dfd, "svc.log.1", &len);
    assert_int_equal(len, 100);
    assert_memory_equal(buf, in + 200, 100);
    free(buf);
    buf = slurp(t->dfd, "svc.log", &len);
    assert_int_equal(len, 50);
    assert_memory_equal(buf, in + 300, 50);
    free(buf);
    assert_false(exists(t->dfd, "svc.log.4"));
}

/* A line bigger than max_size goes whole into a fresh file, never after an
 * empty one: each file holds exactly one line. */
static void test_sink_line_over_max(void **state)
{
    struct tmpdir *t = *state;
    struct logs_sink *s = sink_open(t, 20, 2, true);
    char *buf;
    size_t len;

    write_str(s, LOGS_OUT, "first line\n", &ts_a);
    assert_false(exists(t->dfd, "svc.log.1"));
    write_str(s, LOGS_OUT, "second line\nthird line\n", &ts_a);
    sink_close(s);
    buf = slurp(t->dfd, "svc.log.2", &len);
    assert_non_null(buf);
    assert_string_equal(buf, PREFIX_A "out first line\n");
    free(buf);
    buf = slurp(t->dfd, "svc.log.1", &len);
    assert_string_equal(buf, PREFIX_A "out second line\n");
    free(buf);
    buf = slurp(t->dfd, "svc.log", &len);
    assert_string_equal(buf, PREFIX_A "out third line\n");
    free(buf);
}

static void test_sink_keep0(void **state)
{
    struct tmpdir *t = *state;
    struct logs_sink *s = sink_open(t, 100, 0, false);
    char data[40];
    char *buf;
    size_t len;
    int i;

    for (i = 0; i < 10; i++) {
        memset(data, 'a' + i, sizeof(data));
        sink_write(s, LOGS_OUT, data, sizeof(data), &ts_a);
    }
    sink_close(s);
    assert_false(exists(t->dfd, "svc.log.1"));
    buf = slurp(t->dfd, "svc.log", &len);
    assert_non_null(buf);
    /* 40 + 40 fit, the third would pass 100: the file restarted at 'i'. */
    assert_int_equal(len, 80);
    assert_int_equal(buf[0], 'i');
    assert_int_equal(buf[79], 'j');
    free(buf);
}

static void test_sink_continue_size(void **state)
{
    struct tmpdir *t = *state;
    struct logs_sink *s;
    char data[900];
    char *buf;
    size_t len;

    put_file(t->dfd, "svc.log", 'o', 900);

    s = sink_open(t, 1000, 2, false);
    memset(data, 'n', 200);
    sink_write(s, LOGS_OUT, data, 200, &ts_a);
    sink_close(s);
    buf = slurp(t->dfd, "svc.log.1", &len);
    assert_non_null(buf);
    assert_int_equal(len, 900);
    assert_int_equal(buf[899], 'o');
    free(buf);
    buf = slurp(t->dfd, "svc.log", &len);
    assert_int_equal(len, 200);
    assert_int_equal(buf[0], 'n');
    free(buf);
}

static void test_sink_full_disk(void **state)
{
    struct tmpdir *t = *state;
    struct logs_sink *s;
    static const char line[] = "this goes nowhere\n";
    size_t stamped = sizeof(PREFIX_A "out this goes nowhere\n") - 1;

    assert_int_equal(symlinkat("/dev/full", t->dfd, "svc.log"), 0);
    s = sink_open(t, 0, 0, false);
    sink_write(s, LOGS_OUT, line, sizeof(line) - 1, &ts_a);
    sink_write(s, LOGS_ERR, line, 5, &ts_a);
    assert_int_equal(logs_sink_lost_bytes(s), sizeof(line) - 1 + 5);
    sink_close(s);

    /* Timestamped: lost counts the bytes of the file, prefix included. A held
     * tail is not lost yet. */
    s = sink_open(t, 0, 2, true);
    sink_write(s, LOGS_OUT, line, sizeof(line) - 1, &ts_a);
    sink_write(s, LOGS_ERR, "a\nb\nc", 5, &ts_a);
    assert_int_equal(logs_sink_lost_bytes(s), stamped + 2 * (sizeof(PREFIX_A "err a\n") - 1));
    sink_close(s);
}

/* A pipe with len bytes of in waiting, its reading end nonblocking; the
 * writing end stays open in *wfd (or is closed when wfd is NULL: EOF follows). */
static int pipe_with(const char *in, size_t len, int *wfd)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    assert_int_equal(fcntl(p[0], F_SETPIPE_SZ, 1024 * 1024) >= (int)len, 1);
    assert_int_equal(write(p[1], in, len), (ssize_t)len);
    if (wfd)
        *wfd = p[1];
    else
        close(p[1]);
    return p[0];
}

static void sink_splice_identical(void **state, struct logs_relay *relay)
{
    enum { N = 300000 };
    struct tmpdir *t = *state;
    struct logs_sink *s = sink_open(t, 0, 0, false);
    char *in = malloc(N), *buf;
    size_t len;
    int w, r;

    assert_non_null(in);
    for (size_t i = 0; i < N; i++)
        in[i] = (char)(i * 7 + i / 13);
    sink_write(s, LOGS_OUT, "head\n", 5, &ts_a);
    r = pipe_with(in, N, &w);
    /* A budget smaller than what waits: the rest stays for the next call. */
    assert_int_equal(sink_splice(s, relay, r, 1000), 1000);
    assert_int_equal(sink_splice(s, relay, r, N), N - 1000);
    assert_int_equal(sink_splice(s, relay, r, N), -EAGAIN);
    close(w);
    assert_int_equal(sink_splice(s, relay, r, N), 0);
    close(r);
    sink_write(s, LOGS_ERR, "tail\n", 5, &ts_a);
    buf = slurp(t->dfd, "svc.log", &len);
    assert_int_equal(len, N + 10);
    assert_memory_equal(buf, "head\n", 5);
    assert_memory_equal(buf + 5, in, N);
    assert_memory_equal(buf + 5 + N, "tail\n", 5);
    assert_int_equal(logs_sink_lost_bytes(s), 0);
    sink_close(s);
    free(buf);
    free(in);
}

/* Spliced bytes rotate by size like written ones: files of exactly max_size. */
static void sink_splice_rotates(void **state, struct logs_relay *relay)
{
    struct tmpdir *t = *state;
    struct logs_sink *s = sink_open(t, 100, 3, false);
    char in[350], *buf;
    size_t len;
    int r;

    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (char)('A' + i % 26);
    r = pipe_with(in, sizeof(in), NULL);
    /* Made at once, one call moves it all; through a ring, a file's room a call. */
    for (size_t moved = 0; moved < sizeof(in);) {
        ssize_t n = sink_splice(s, relay, r, 1 << 20);
        assert_true(n > 0);
        assert_true(ring || n == sizeof(in));
        moved += (size_t)n;
    }
    assert_int_equal(sink_splice(s, relay, r, 1 << 20), 0);
    close(r);
    sink_close(s);
    for (unsigned k = 0; k < 4; k++) {
        char name[16];
        snprintf(name, sizeof(name), k ? "svc.log.%u" : "svc.log", k);
        buf = slurp(t->dfd, name, &len);
        assert_non_null(buf);
        assert_int_equal(len, k ? 100 : 50);
        assert_memory_equal(buf, in + (k ? 300 - 100 * k : 300), len);
        free(buf);
    }
}

/* A file someone truncated is continued at its new end, as O_APPEND would:
 * no hole of zeros where the old bytes were. */
static void sink_splice_after_truncate(void **state, struct logs_relay *relay)
{
    struct tmpdir *t = *state;
    struct logs_sink *s = sink_open(t, 0, 0, false);
    char *buf;
    size_t len;
    int r;

    sink_write(s, LOGS_OUT, "0123456789", 10, &ts_a);
    assert_int_equal(truncateat_helper(t->dfd, "svc.log"), 0);
    r = pipe_with("abc", 3, NULL);
    assert_int_equal(sink_splice(s, relay, r, 100), 3);
    close(r);
    buf = slurp(t->dfd, "svc.log", &len);
    assert_int_equal(len, 3);
    assert_memory_equal(buf, "abc", 3);
    free(buf);
    sink_close(s);
}

/* Straight into the file, and through a relay pipe: the same bytes land. */
#define SPLICE_BOTH(name)                                                                          \
    static void test_sink_splice_##name(void **state)                                              \
    {                                                                                              \
        sink_splice_##name(state, NULL);                                                           \
    }                                                                                              \
    static void test_sink_splice_##name##_relayed(void **state)                                    \
    {                                                                                              \
        struct logs_relay *relay = logs_relay_new();                                               \
        assert_non_null(relay);                                                                    \
        sink_splice_##name(state, relay);                                                          \
        logs_relay_free(relay);                                                                    \
    }

SPLICE_BOTH(identical)
SPLICE_BOTH(rotates)
SPLICE_BOTH(after_truncate)

/* Where splice cannot go (timestamps on, a file that refuses the bytes) the
 * sink says so and leaves the bytes in the pipe for the read path, which
 * counts what is lost. */
static void test_sink_splice_refused(void **state)
{
    struct tmpdir *t = *state;
    struct logs_sink *s = sink_open(t, 0, 0, true);
    char buf[8];
    int r = pipe_with("abc\n", 4, NULL);

    assert_int_equal(sink_splice(s, NULL, r, 100), -EOPNOTSUPP);
    sink_close(s);
    assert_int_equal(symlinkat("/dev/full", t->dfd, "svc.log"), 0);
    s = sink_open(t, 0, 0, false);
    if (ring) {
        /* Through a ring the bytes wait in the sink's relay: as with a relay
         * (below), the file's refusal costs them, counted. */
        assert_int_equal(sink_splice(s, NULL, r, 100), 4);
        assert_int_equal(logs_sink_lost_bytes(s), 4);
    } else {
        assert_int_equal(sink_splice(s, NULL, r, 100), -EOPNOTSUPP);
        assert_int_equal(read(r, buf, sizeof(buf)), 4);
    }
    close(r);
    sink_close(s);
}

/* Through a relay the bytes have left the pipe when the file refuses them:
 * the sink counts them as lost, and the relay is left empty for the next
 * sink, whose file gets its own bytes and nothing else. */
static void test_sink_splice_refused_relayed(void **state)
{
    struct tmpdir *t = *state;
    struct logs_relay *relay = logs_relay_new();
    struct cfg_logs o = {.timestamps = false};
    struct logs_sink *s, *other;
    char *buf;
    size_t len;
    int r;

    assert_non_null(relay);
    assert_int_equal(symlinkat("/dev/full", t->dfd, "svc.log"), 0);
    s = sink_open(t, 0, 0, false);
    r = pipe_with("abc\n", 4, NULL);
    assert_int_equal(sink_splice(s, relay, r, 100), 4);
    assert_int_equal(logs_sink_lost_bytes(s), 4);
    close(r);
    sink_close(s);
    other = logs_sink_open(t->dfd, "other", &o, NULL);
    assert_non_null(other);
    r = pipe_with("xyz", 3, NULL);
    assert_int_equal(sink_splice(other, relay, r, 100), 3);
    close(r);
    sink_close(other);
    buf = slurp(t->dfd, "other.log", &len);
    assert_int_equal(len, 3);
    assert_memory_equal(buf, "xyz", 3);
    free(buf);
    logs_relay_free(relay);
}

/* The reopen after a rotation fails (the directory is gone): output counts as
 * lost, the open is retried on later writes, nothing crashes. */
static void test_sink_reopen_fails(void **state)
{
    struct tmpdir *t = *state;
    struct cfg_logs o = {.max_size_bytes = 100, .keep = 1, .timestamps = false};
    struct logs_sink *s;
    char data[60];
    int sub;

    assert_int_equal(mkdirat(t->dfd, "d", 0700), 0);
    sub = openat(t->dfd, "d", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    assert_true(sub >= 0);
    s = logs_sink_open(sub, "svc", &o, NULL);
    assert_non_null(s);
    memset(data, 'q', sizeof(data));
    sink_write(s, LOGS_OUT, data, sizeof(data), &ts_a);
    assert_int_equal(logs_sink_lost_bytes(s), 0);
    assert_int_equal(unlinkat(sub, "svc.log", 0), 0);
    assert_int_equal(unlinkat(t->dfd, "d", AT_REMOVEDIR), 0);
    sink_write(s, LOGS_OUT, data, sizeof(data), &ts_a);
    assert_int_equal(logs_sink_lost_bytes(s), 60);
    sink_write(s, LOGS_ERR, data, 30, &ts_a);
    assert_int_equal(logs_sink_lost_bytes(s), 90);
    sink_close(s);
    close(sub);
}

static void test_sink_rotate_refused(void **state)
{
    struct tmpdir *t = *state;
    struct logs_sink *s;
    char data[100];
    size_t len;
    char *buf;

    /* svc.log.1 is a non-empty directory: neither unlink nor rename can take
     * its place, so the sink keeps appending rather than losing output. */
    assert_int_equal(mkdirat(t->dfd, "svc.log.1", 0700), 0);
    assert_int_equal(mknodat(t->dfd, "svc.log.1/x", S_IFREG | 0600, 0), 0);
    s = sink_open(t, 100, 1, false);
    memset(data, 'z', sizeof(data));
    sink_write(s, LOGS_OUT, data, sizeof(data), &ts_a);
    sink_write(s, LOGS_OUT, data, sizeof(data), &ts_a);
    sink_write(s, LOGS_OUT, data, 50, &ts_a);
    assert_int_equal(logs_sink_lost_bytes(s), 0);
    sink_close(s);
    buf = slurp(t->dfd, "svc.log", &len);
    assert_int_equal(len, 250);
    free(buf);
}

/* Opening a sink creates nothing: the file appears with the first bytes. A
 * directory that cannot take the file costs the bytes, counted as lost. */
static void test_sink_opens_at_first_write(void **state)
{
    struct tmpdir *t = *state;
    struct cfg_logs o = {.max_size_bytes = 0, .keep = 1, .timestamps = false};
    struct logs_sink *s = sink_open(t, 0, 1, true);
    char *buf;
    size_t len;

    assert_false(exists(t->dfd, "svc.log"));
    sink_close(s);
    assert_false(exists(t->dfd, "svc.log"));

    s = sink_open(t, 0, 1, false);
    assert_false(exists(t->dfd, "svc.log"));
    write_str(s, LOGS_OUT, "first\n", &ts_a);
    assert_true(exists(t->dfd, "svc.log"));
    sink_close(s);
    buf = slurp(t->dfd, "svc.log", &len);
    assert_int_equal(len, 6);
    free(buf);

    s = logs_sink_open(-1, "svc", &o, NULL);
    assert_non_null(s);
    write_str(s, LOGS_OUT, "nowhere\n", &ts_a);
    assert_int_equal(logs_sink_lost_bytes(s), 8);
    sink_close(s);
}

static void test_sink_open_errors(void **state)
{
    struct tmpdir *t = *state;
    struct cfg_logs o = {.max_size_bytes = 0, .keep = 1, .timestamps = true};
    struct diag dg;

    diag_clear(&dg);
    errno = 0;
    assert_null(logs_sink_open(t->dfd, "../evil", &o, &dg));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(dg.code, -EINVAL);
    assert_null(logs_sink_open(t->dfd, "", &o, &dg));
    assert_int_equal(errno, EINVAL);

    o.keep = 1000000;
    assert_null(logs_sink_open(t->dfd, "svc", &o, &dg));
    assert_int_equal(errno, EINVAL);
    assert_false(exists(t->dfd, "svc.log"));

    sink_close(NULL);
    assert_string_equal(logs_stream_name(LOGS_OUT), "out");
    assert_string_equal(logs_stream_name(LOGS_ERR), "err");
}

#define SINK_TEST(f) cmocka_unit_test_setup_teardown(f, tmpdir_setup, tmpdir_teardown)

static void line_prefix_as_the_file_has_it(void **state)
{
    char buf[LOGS_PREFIX_MAX + 1];
    struct timespec ts = {.tv_sec = 1, .tv_nsec = 2345};
    size_t n = logs_line_prefix(buf, &ts, LOGS_ERR);
    (void)state;
    buf[n] = '\0';
    assert_string_equal(buf, "1970-01-01T00:00:01.000002Z err ");
}

/* --- corral's own files (logs/file.c) ------------------------------------------ */

static void write_n(int fd, char c, size_t n)
{
    char buf[256];
    memset(buf, c, sizeof(buf));
    while (n > 0) {
        size_t k = n < sizeof(buf) ? n : sizeof(buf);
        assert_int_equal(write(fd, buf, k), (ssize_t)k);
        n -= k;
    }
}

static off_t size_of(int dfd, const char *name)
{
    struct stat st;
    assert_int_equal(fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
    return st.st_size;
}

static void test_file_rotates_when_full(void **state)
{
    struct tmpdir *t = *state;
    struct logs_file f;
    int fd, other;
    logs_file_init(&f, t->dfd, "own", 100, 2);
    assert_false(exists(t->dfd, "own.log"));
    fd = logs_file_fd(&f);
    assert_true(fd >= 0);
    /* A writer of its own (a hook, the daemon's stderr) shares the file. */
    other = dup(fd);
    write_n(fd, 'a', 60);
    assert_int_equal(logs_file_fd(&f), fd); /* below max: the same file */
    write_n(other, 'b', 40);
    fd = logs_file_fd(&f); /* 100 bytes, counted from the file: rotated */
    assert_int_equal(f.rotations, 1);
    assert_int_equal(size_of(t->dfd, "own.log.1"), 100);
    assert_int_equal(size_of(t->dfd, "own.log"), 0);
    write_n(other, 'c', 10); /* the old writer goes on into .1 */
    write_n(fd, 'd', 120);
    assert_int_equal(size_of(t->dfd, "own.log.1"), 110);
    fd = logs_file_fd(&f);
    fd = logs_file_fd(&f);
    (void)fd;
    assert_int_equal(f.rotations, 2);
    assert_int_equal(size_of(t->dfd, "own.log.2"), 110);
    assert_int_equal(size_of(t->dfd, "own.log.1"), 120);
    write_n(logs_file_fd(&f), 'e', 100);
    (void)logs_file_fd(&f);
    /* keep 2: the oldest went. */
    assert_int_equal(size_of(t->dfd, "own.log.2"), 120);
    assert_int_equal(size_of(t->dfd, "own.log.1"), 100);
    assert_false(exists(t->dfd, "own.log.3"));
    close(other);
    logs_file_close(&f);
    assert_int_equal(f.fd, -1);
}

static void test_file_appends_to_existing(void **state)
{
    struct tmpdir *t = *state;
    struct logs_file f;
    int fd = openat(t->dfd, "own.log", O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    assert_true(fd >= 0);
    write_n(fd, 'x', 30);
    close(fd);
    logs_file_init(&f, t->dfd, "own", 1000, 1);
    write_n(logs_file_fd(&f), 'y', 5);
    assert_int_equal(size_of(t->dfd, "own.log"), 35);
    assert_int_equal(f.rotations, 0);
    logs_file_close(&f);
    /* Full already when first opened: rotated before the first line. */
    logs_file_init(&f, t->dfd, "own", 35, 1);
    write_n(logs_file_fd(&f), 'z', 5);
    assert_int_equal(f.rotations, 1);
    assert_int_equal(size_of(t->dfd, "own.log.1"), 35);
    assert_int_equal(size_of(t->dfd, "own.log"), 5);
    logs_file_close(&f);
}

static void test_file_never_rotates_at_zero(void **state)
{
    struct tmpdir *t = *state;
    struct logs_file f;
    logs_file_init(&f, t->dfd, "own", 0, 5);
    write_n(logs_file_fd(&f), 'z', 4096);
    (void)logs_file_fd(&f);
    assert_int_equal(f.rotations, 0);
    assert_false(exists(t->dfd, "own.log.1"));
    logs_file_close(&f);
}

static void test_file_refuses_a_link(void **state)
{
    struct tmpdir *t = *state;
    struct logs_file f;
    assert_int_equal(symlinkat("/dev/null", t->dfd, "own.log"), 0);
    logs_file_init(&f, t->dfd, "own", 100, 1);
    assert_int_equal(logs_file_fd(&f), -ELOOP);
    assert_int_equal(f.fd, -1);
    logs_file_close(&f);
}

/* A rotation that cannot rename leaves the one file growing: no line lost.
 * A directory where .1 should go stops it, root or not. */
static void test_file_rotation_refused(void **state)
{
    struct tmpdir *t = *state;
    struct logs_file f;
    int fd, in;
    assert_int_equal(mkdirat(t->dfd, "own.log.1", 0700), 0);
    in = openat(t->dfd, "own.log.1/x", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(in >= 0);
    close(in);
    logs_file_init(&f, t->dfd, "own", 10, 1);
    fd = logs_file_fd(&f);
    write_n(fd, 'a', 20);
    assert_int_equal(logs_file_fd(&f), fd);
    write_n(fd, 'b', 5);
    assert_int_equal(f.rotations, 0);
    assert_int_equal(size_of(t->dfd, "own.log"), 25);
    logs_file_close(&f);
}

/* Through a ring, many writes and rotations queued before any ends: each
 * file gets its bytes in order, none past max_size but by the line that
 * crosses it, and nothing is lost. */
static void test_sink_ring_queues_in_order(void **state)
{
    struct tmpdir *t = *state;
    struct logs_sink *s;
    char line[64];
    char *all, *got;
    size_t all_len = 0, got_len = 0;
    static const char *const names[] = {"svc.log.3", "svc.log.2", "svc.log.1", "svc.log"};

    if (!ring)
        skip();
    all = calloc(1, 64 * 4000);
    got = calloc(1, 64 * 4000);
    assert_non_null(all);
    assert_non_null(got);
    s = sink_open(t, 4096, 3, false);
    for (int i = 0; i < 4000; i++) {
        int n = snprintf(line, sizeof(line), "line %d\n", i);
        logs_sink_write(s, LOGS_OUT, line, (size_t)n, &ts_a); /* no wait in between */
        memcpy(all + all_len, line, (size_t)n);
        all_len += (size_t)n;
    }
    assert_true(logs_ring_busy(ring) > 0); /* queued, not written at once */
    logs_sink_close(s);
    logs_ring_drain(ring);
    assert_int_equal(logs_ring_busy(ring), 0);
    for (size_t k = 0; k < 4; k++) {
        size_t len;
        char *buf = slurp(t->dfd, names[k], &len);
        assert_non_null(buf);
        assert_true(len <= 4096);
        memcpy(got + got_len, buf, len);
        got_len += len;
        free(buf);
    }
    /* The oldest files are gone: what is kept is the stream's tail, whole. */
    assert_true(got_len <= all_len);
    assert_memory_equal(got, all + all_len - got_len, got_len);
    assert_true(got_len > 3 * 4096 - 64);
    free(all);
    free(got);
}

/* Through a ring the first open is queued too, and writes queue behind it
 * sized from an empty file. A file that holds bytes already (corral started
 * again) is rotated first when they and the queue's would pass max_size;
 * otherwise the queue's bytes follow the file's own, none written over. */
static void test_sink_ring_first_open_sizes_the_queue(void **state)
{
    struct tmpdir *t = *state;
    struct logs_sink *s;
    char data[900];
    char *buf;
    size_t len;

    if (!ring)
        skip();
    put_file(t->dfd, "svc.log", 'o', 900);

    s = sink_open(t, 1000, 2, false);
    memset(data, 'n', sizeof(data));
    for (int i = 0; i < 10; i++)
        logs_sink_write(s, LOGS_OUT, data, 150, &ts_a); /* no wait in between */
    sink_close(s);
    buf = slurp(t->dfd, "svc.log.2", &len);
    assert_non_null(buf);
    assert_int_equal(len, 900);
    assert_int_equal(buf[0], 'o');
    free(buf);
    buf = slurp(t->dfd, "svc.log.1", &len);
    assert_non_null(buf);
    assert_int_equal(len, 900);
    assert_int_equal(buf[0], 'n');
    free(buf);
    buf = slurp(t->dfd, "svc.log", &len);
    assert_non_null(buf);
    assert_int_equal(len, 600);
    free(buf);

    /* Room for the queue: appended after the file's bytes. */
    s = sink_open(t, 1000, 2, false);
    logs_sink_write(s, LOGS_OUT, data, 100, &ts_a);
    logs_sink_write(s, LOGS_OUT, data, 100, &ts_a);
    sink_close(s);
    buf = slurp(t->dfd, "svc.log", &len);
    assert_non_null(buf);
    assert_int_equal(len, 800);
    assert_false(exists(t->dfd, "svc.log.3"));
    free(buf);
    buf = slurp(t->dfd, "svc.log.2", &len);
    assert_non_null(buf);
    assert_int_equal(buf[0], 'o'); /* no rotation happened */
    free(buf);
}

/* What was taken and is not in the file yet: what a shutdown that gives up
 * on the disk counts as lost. */
static void test_sink_pending(void **state)
{
    struct tmpdir *t = *state;
    struct logs_sink *s = sink_open(t, 0, 0, true);
    char line[4096];

    memset(line, 'x', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\n';
    assert_int_equal(logs_sink_pending(s), 0);
    assert_int_equal(logs_sink_pending(NULL), 0);
    logs_sink_write(s, LOGS_OUT, line, sizeof(line), &ts_a);
    logs_sink_write(s, LOGS_OUT, line, sizeof(line), &ts_a);
    if (ring) /* queued, or in flight with the second line gathering behind */
        assert_true(logs_sink_pending(s) >= 2 * sizeof(line));
    logs_ring_drain(ring); /* a batch ended is followed by the next */
    assert_int_equal(logs_sink_pending(s), 0);
    sink_close(s);
}

static int ring_setup(void **state)
{
    (void)state;
    ring = logs_ring_new();
    if (!ring)
        fprintf(stderr, "io_uring refused (%s): sink tests through a ring skipped\n",
                strerror(errno));
    return 0;
}

static int ring_teardown(void **state)
{
    (void)state;
    logs_ring_free(ring);
    ring = NULL;
    return 0;
}

/* ---- tails ---- */

/* The lines logs_tail_read(max, n) gives of text, joined by '|'. */
static char *tail_of(const char *text, size_t max, uint64_t n)
{
    static char out[4096];
    char path[] = "/tmp/corral-tail-XXXXXX";
    struct logs_tail t;
    const char *line;
    size_t len, o = 0, lines = 0;
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(logs_tail_read(fd, max, n, &t), 0);
    close(fd);
    out[0] = '\0';
    while (logs_tail_next(&t, &line, &len)) {
        o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%.*s", lines++ ? "|" : "", (int)len,
                              line);
        assert_true(o < sizeof(out));
    }
    logs_tail_free(&t);
    return out;
}

static void tail_gives_the_last_lines(void **state)
{
    (void)state;
    assert_string_equal(tail_of("a\nb\nc\n", 1024, 2), "b|c");
    assert_string_equal(tail_of("a\nb\nc\n", 1024, 10), "a|b|c");
    assert_string_equal(tail_of("a\nb\nc", 1024, 1), "c"); /* unfinished: shown */
    assert_string_equal(tail_of("a\n\nc\n", 1024, 2), "|c");
    assert_string_equal(tail_of("\n", 1024, 5), "");
    assert_string_equal(tail_of("", 1024, 5), "");
    assert_string_equal(tail_of("a\nb\n", 1024, 0), "");
}

static void tail_leaves_out_a_line_cut_by_its_limit(void **state)
{
    (void)state;
    /* 6 bytes of "abcdef\nxy\n": "ef" is a cut line, left out. */
    assert_string_equal(tail_of("abcdef\nxy\n", 5, 10), "xy");
    /* Nothing but the cut line: its end, not nothing. */
    assert_string_equal(tail_of("abcdefgh\n", 4, 10), "fgh");
    assert_string_equal(tail_of("abcdefgh", 4, 10), "efgh");
}

static void tail_stamps_are_those_of_timestamped_lines(void **state)
{
    char path[] = "/tmp/corral-tail-XXXXXX";
    const char *text = "2026-12-01T08:00:00.000001Z out a\nraw line\n"
                       "2026-12-01T08:00:00.000002Z err b\n2026-12-01T08:00:00.0000Z x\n";
    struct logs_tail t;
    const char *line;
    size_t len;
    int fd = mkstemp(path);
    (void)state;
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(logs_tail_read(fd, 1024, 10, &t), 0);
    close(fd);
    assert_non_null(logs_tail_stamp(&t));
    assert_memory_equal(logs_tail_stamp(&t), "2026-12-01T08:00:00.000001Z", LOGS_STAMP_LEN);
    assert_true(logs_tail_next(&t, &line, &len));
    assert_null(logs_tail_stamp(&t)); /* raw */
    assert_true(logs_tail_next(&t, &line, &len));
    assert_memory_equal(logs_tail_stamp(&t), "2026-12-01T08:00:00.000002Z", LOGS_STAMP_LEN);
    assert_true(logs_tail_next(&t, &line, &len));
    assert_null(logs_tail_stamp(&t)); /* not the shape of one */
    assert_true(logs_tail_next(&t, &line, &len));
    assert_null(logs_tail_stamp(&t)); /* the end */
    assert_false(logs_tail_next(&t, &line, &len));
    logs_tail_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tail_gives_the_last_lines),
        cmocka_unit_test(tail_leaves_out_a_line_cut_by_its_limit),
        cmocka_unit_test(tail_stamps_are_those_of_timestamped_lines),
        cmocka_unit_test(line_prefix_as_the_file_has_it),
        cmocka_unit_test(test_linebuf_complete_lines),
        cmocka_unit_test(test_linebuf_split_feeds),
        cmocka_unit_test(test_linebuf_long_line),
        cmocka_unit_test(test_linebuf_binary),
        cmocka_unit_test(test_linebuf_empty_lines),
        cmocka_unit_test(test_linebuf_flush),
        cmocka_unit_test(test_linebuf_bounded_roundtrip),
        SINK_TEST(test_file_rotates_when_full),
        SINK_TEST(test_file_appends_to_existing),
        SINK_TEST(test_file_never_rotates_at_zero),
        SINK_TEST(test_file_refuses_a_link),
        SINK_TEST(test_file_rotation_refused),
    };
    const struct CMUnitTest sink_tests[] = {
        SINK_TEST(test_sink_timestamp_format),
        SINK_TEST(test_sink_stamp_cache),
        SINK_TEST(test_sink_raw_identical),
        SINK_TEST(test_sink_held_partial),
        SINK_TEST(test_sink_end_of_stream_writes_the_held_line),
        SINK_TEST(test_sink_long_line_pieces),
        SINK_TEST(test_sink_rotate_keep3),
        SINK_TEST(test_sink_rotate_follower_inode),
        SINK_TEST(test_sink_rotate_raw_split),
        SINK_TEST(test_sink_line_over_max),
        SINK_TEST(test_sink_keep0),
        SINK_TEST(test_sink_continue_size),
        SINK_TEST(test_sink_full_disk),
        SINK_TEST(test_sink_splice_identical),
        SINK_TEST(test_sink_splice_identical_relayed),
        SINK_TEST(test_sink_splice_rotates),
        SINK_TEST(test_sink_splice_rotates_relayed),
        SINK_TEST(test_sink_splice_after_truncate),
        SINK_TEST(test_sink_splice_after_truncate_relayed),
        SINK_TEST(test_sink_splice_refused),
        SINK_TEST(test_sink_splice_refused_relayed),
        SINK_TEST(test_sink_reopen_fails),
        SINK_TEST(test_sink_rotate_refused),
        SINK_TEST(test_sink_opens_at_first_write),
        SINK_TEST(test_sink_open_errors),
        SINK_TEST(test_sink_ring_queues_in_order),
        SINK_TEST(test_sink_ring_first_open_sizes_the_queue),
        SINK_TEST(test_sink_pending),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("sink, writes made at once", sink_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("sink, writes through io_uring", sink_tests, ring_setup,
                                          ring_teardown);
    return failed;
}
