/* util/diag.h — the one error-reporting path: lower layers fill a struct diag,
 * only cli/ and main.c turn it into a message and an exit status. */
#ifndef CORRAL_UTIL_DIAG_H
#define CORRAL_UTIL_DIAG_H

#include <stdarg.h>

#define DIAG_MSG_MAX   1024
#define DIAG_FIELD_MAX 256
#define DIAG_FILE_MAX  512

/* A failure with its context. file/line/col are set for config errors (line and
 * col are 1-based; 0 means unknown); field names the key path, e.g.
 * "services.web.restart.initial". */
struct diag {
    int code; /* -errno, or 0 when unset */
    int line;
    int col;
    char file[DIAG_FILE_MAX];
    char field[DIAG_FIELD_MAX];
    char msg[DIAG_MSG_MAX];
};

void diag_clear(struct diag *dg);

/* Set code and message; keeps any file/line/col already set. NULL dg is a no-op. */
void diag_set(struct diag *dg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Set a config error at a position with the offending field. */
void diag_at(struct diag *dg, const char *file, int line, int col, const char *field,
             const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Render as "file:line:col: field: message" (parts omitted when unknown). */
void diag_format(const struct diag *dg, char *buf, unsigned long size);

#endif
