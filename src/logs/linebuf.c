/* logs/linebuf.c — split a byte stream into lines with a hard bound on held
 * bytes. Complete lines are handed out straight from the caller's buffer; only a
 * trailing partial line is copied, so the common case costs one memchr. */
#include "logs/logs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A piece is "complete" when it ends at a '\n', so the last piece of an
 * over-long line is complete and the ones before it are not. A line of exactly
 * max_line bytes stays whole: a full buffer is only cut when the byte after it
 * turns out not to be a '\n'. */

int logs_linebuf_init(struct logs_linebuf *lb, size_t max_line)
{
    lb->buf = NULL;
    lb->len = 0;
    lb->cap = 0;
    if (max_line == 0)
        return -EINVAL;
    /* The buffer is allocated when a partial line first needs holding: a
     * thousand services that write whole lines, or nothing, cost nothing. */
    lb->cap = max_line;
    return 0;
}

/* Buffer empty: emit from data without copying. Returns bytes consumed. */
static size_t feed_direct(struct logs_linebuf *lb, const char *data, size_t len, logs_line_fn fn,
                          void *ctx)
{
    /* Looking at most cap + 1 bytes ahead keeps a long run without '\n' linear. */
    size_t scan = len < lb->cap + 1 ? len : lb->cap + 1;
    const char *nl = memchr(data, '\n', scan);
    if (nl) {
        fn(ctx, data, (size_t)(nl - data), true);
        return (size_t)(nl - data) + 1;
    }
    if (len <= lb->cap && !lb->buf)
        lb->buf = malloc(lb->cap);
    if (len <= lb->cap && !lb->buf) {
        fn(ctx, data, len, false); /* out of memory: hand it on rather than hold it */
        return len;
    }
    if (len <= lb->cap) {
        memcpy(lb->buf, data, len);
        lb->len = len;
        return len;
    }
    fn(ctx, data, lb->cap, false);
    return lb->cap;
}

/* Buffer holds a partial line: complete it, or top it up and cut a piece. */
static size_t feed_held(struct logs_linebuf *lb, const char *data, size_t len, logs_line_fn fn,
                        void *ctx)
{
    size_t room = lb->cap - lb->len;
    size_t scan = len < room + 1 ? len : room + 1;
    const char *nl = memchr(data, '\n', scan);
    size_t take;

    if (nl) {
        take = (size_t)(nl - data);
        memcpy(lb->buf + lb->len, data, take);
        take += lb->len;
        lb->len = 0;
        fn(ctx, lb->buf, take, true);
        return (size_t)(nl - data) + 1;
    }
    if (len <= room) {
        memcpy(lb->buf + lb->len, data, len);
        lb->len += len;
        return len;
    }
    memcpy(lb->buf + lb->len, data, room);
    lb->len = 0;
    fn(ctx, lb->buf, lb->cap, false);
    return room;
}

void logs_linebuf_feed(struct logs_linebuf *lb, const char *data, size_t len, logs_line_fn fn,
                       void *ctx)
{
    while (len > 0) {
        size_t n =
            lb->len ? feed_held(lb, data, len, fn, ctx) : feed_direct(lb, data, len, fn, ctx);
        data += n;
        len -= n;
    }
}

void logs_linebuf_flush(struct logs_linebuf *lb, logs_line_fn fn, void *ctx)
{
    size_t len = lb->len;
    if (len == 0)
        return;
    lb->len = 0;
    fn(ctx, lb->buf, len, false);
}

void logs_linebuf_free(struct logs_linebuf *lb)
{
    free(lb->buf);
    lb->buf = NULL;
    lb->len = 0;
    lb->cap = 0;
}
