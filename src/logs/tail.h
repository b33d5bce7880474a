/* logs/tail.h — the last lines of a service's log file, as `corral logs`
 * shows them, and the time a timestamped line carries, by which the tails
 * of several services are merged into one. Pure but for the one read. */
#ifndef CORRAL_LOGS_TAIL_H
#define CORRAL_LOGS_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "2026-11-28T19:53:43.123456Z": what logs_line_prefix() starts a line with. */
#define LOGS_STAMP_LEN 27

struct logs_tail {
    char *buf; /* the file's last bytes, up to the read's limit */
    size_t len;
    size_t at; /* of the next line; past len at the end */
};

/* The last n lines of the file at fd: at most max_bytes are read. A first
 * line cut by that limit is left out, unless it is all there is: then its end
 * is the one line (raw output with a line longer than the limit). 0 with t
 * set (empty for an empty file or n == 0), or -errno. */
int logs_tail_read(int fd, size_t max_bytes, uint64_t n, struct logs_tail *t);
/* The next line, without its newline, oldest first; false at the end. */
bool logs_tail_next(struct logs_tail *t, const char **line, size_t *len);
/* The next line's time stamp (LOGS_STAMP_LEN bytes) or NULL: at the end, or
 * a line without one (raw output). Does not move on. */
const char *logs_tail_stamp(const struct logs_tail *t);
void logs_tail_free(struct logs_tail *t);

#endif
