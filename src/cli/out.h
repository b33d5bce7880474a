/* cli/out.h — corral up's terminal output: a bounded buffer drained to stdout
 * without ever blocking the loop. A terminal paused with Ctrl-S, or a pipe
 * nobody reads, costs dropped output (counted and announced), never a stalled
 * supervisor. */
#ifndef CORRAL_CLI_OUT_H
#define CORRAL_CLI_OUT_H

#include "loop/loop.h"

#include <stdarg.h>
#include <stddef.h>

#define OUT_MAX_BYTES (1024 * 1024)

struct out;

/* Returns a writer for fd (borrowed; usually STDOUT_FILENO). A pipe or a
 * terminal is reopened through /proc/self/fd so that O_NONBLOCK is set on our
 * own open file description, not on the one the shell shares. */
struct out *out_new(struct loop *lp, int fd);

void out_write(struct out *o, const char *buf, size_t len);
void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void out_vprintf(struct out *o, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* At exit: write what is buffered, waiting at most timeout_ms for the reader. */
void out_drain(struct out *o, int timeout_ms);
void out_free(struct out *o);

#endif
