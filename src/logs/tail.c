/* logs/tail.c — the last lines of a log file, and their time stamps. */
#include "logs/tail.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where the last n lines of buf[0, len) begin (len: the newline at its end
 * is left out already). */
static size_t last_lines(const char *buf, size_t len, uint64_t n)
{
    size_t start = len;
    for (uint64_t seen = 0; start > 0; start--)
        if (buf[start - 1] == '\n' && ++seen == n)
            break;
    return start;
}

int logs_tail_read(int fd, size_t max_bytes, uint64_t n, struct logs_tail *t)
{
    struct stat sb;
    off_t from;
    size_t len;
    ssize_t got;
    memset(t, 0, sizeof(*t));
    if (fstat(fd, &sb) < 0)
        return -errno;
    if (n == 0 || sb.st_size <= 0)
        return 0;
    from = (uint64_t)sb.st_size > max_bytes ? sb.st_size - (off_t)max_bytes : 0;
    len = (size_t)(sb.st_size - from);
    if (!(t->buf = malloc(len)))
        return -ENOMEM;
    got = pread(fd, t->buf, len, from);
    if (got < 0) {
        int err = -errno;
        logs_tail_free(t);
        return err;
    }
    len = (size_t)got; /* a file cut short meanwhile: what there was */
    if (len && t->buf[len - 1] == '\n')
        len--;
    t->len = len;
    t->at = last_lines(t->buf, len, n);
    if (from > 0 && t->at == 0) {
        /* The first line was cut by the limit: left out, unless it is all
         * there is (the end of a line longer than the limit, not nothing). */
        const char *nl = memchr(t->buf, '\n', len);
        if (nl)
            t->at = (size_t)(nl - t->buf) + 1;
    }
    return 0;
}

bool logs_tail_next(struct logs_tail *t, const char **line, size_t *len)
{
    const char *nl;
    size_t end;
    if (!t->buf || t->at > t->len)
        return false;
    nl = memchr(t->buf + t->at, '\n', t->len - t->at);
    end = nl ? (size_t)(nl - t->buf) : t->len;
    *line = t->buf + t->at;
    *len = end - t->at;
    t->at = end + 1;
    return true;
}

const char *logs_tail_stamp(const struct logs_tail *t)
{
    const char *p;
    if (!t->buf || t->at > t->len || t->len - t->at <= LOGS_STAMP_LEN)
        return NULL;
    p = t->buf + t->at;
    /* Enough of its shape that two stamps compare as times, byte by byte. */
    if (p[4] != '-' || p[10] != 'T' || p[19] != '.' || p[26] != 'Z' || p[27] != ' ')
        return NULL;
    return p;
}

void logs_tail_free(struct logs_tail *t)
{
    free(t->buf);
    memset(t, 0, sizeof(*t));
}
