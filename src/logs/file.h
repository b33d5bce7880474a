/* logs/file.h — corral's own log files (corral.log, hooks.log): appended to
 * by corral and by the processes it gives the fd to (a hook's output, the
 * daemon's stderr), rotated by rename once past their size, as a service's
 * log is, so that a daemon running for months does not fill its disk. */
#ifndef CORRAL_LOGS_FILE_H
#define CORRAL_LOGS_FILE_H

#include <stdint.h>

/* The default of a service's logs: {max_size: 10M, keep: 5}. */
#define LOGS_FILE_MAX_BYTES (10u << 20)
#define LOGS_FILE_KEEP      5

struct logs_file {
    int dirfd; /* borrowed */
    int fd;    /* -1 until opened, or after a failed reopen */
    unsigned rotations;
    uint64_t max_bytes;
    unsigned keep;
    char name[32]; /* "corral" for corral.log */
};

/* Set f up for <dirfd>/<name>.log; nothing is opened yet. */
void logs_file_init(struct logs_file *f, int dirfd, const char *name, uint64_t max_bytes,
                    unsigned keep);

/* The fd to append to (O_APPEND, opened at the first call), after a rotation
 * if the file has reached max_bytes; -errno when it cannot be opened. Writers
 * holding the old fd go on into <name>.log.1. f->rotations counts rotations,
 * for a caller that has the fd duplicated elsewhere. */
int logs_file_fd(struct logs_file *f);

void logs_file_close(struct logs_file *f);

#endif
