/* logs/logs.h — per-service log capture: a line splitter with a bounded line
 * length, and a log file sink with per-line timestamps and size-based rotation
 * by rename. Nothing here blocks on anything but a regular-file write, and no
 * error is fatal: bytes that cannot be written are counted as lost. */
#ifndef CORRAL_LOGS_LOGS_H
#define CORRAL_LOGS_LOGS_H

#include "config/config.h"
#include "util/diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define LOGS_MAX_LINE 16384 /* longer lines are cut into pieces of this size */

enum logs_stream { LOGS_OUT, LOGS_ERR, LOGS__COUNT };

const char *logs_stream_name(enum logs_stream st); /* "out" / "err" */

/* Called once per line; complete is false for a piece of an over-long line or
 * an unterminated tail flushed at EOF. line excludes the '\n'. */
typedef void (*logs_line_fn)(void *ctx, const char *line, size_t len, bool complete);

/* Splits a byte stream into lines. Holds at most max_line bytes of a partial
 * line, so memory stays bounded whatever the input (binary, no newlines). */
struct logs_linebuf {
    char *buf;
    size_t len;
    size_t cap;
};

int logs_linebuf_init(struct logs_linebuf *lb, size_t max_line);
void logs_linebuf_feed(struct logs_linebuf *lb, const char *data, size_t len, logs_line_fn fn,
                       void *ctx);
/* Emit any held partial line (complete = false) and empty the buffer. */
void logs_linebuf_flush(struct logs_linebuf *lb, logs_line_fn fn, void *ctx);
void logs_linebuf_free(struct logs_linebuf *lb);

/* One service's log file: <dir>/<name>.log, rotated to <name>.log.1 .. .keep.
 * The file is created (or appended to) at the first write, not here (through
 * a ring, the open is that write's queue's first step); a file that cannot be
 * opened then costs its bytes, counted as lost, and the open is retried at the
 * next write. Returns a new sink, or NULL with errno and dg set
 * for an invalid name or option; caller frees with logs_sink_close(). dirfd is
 * borrowed. */
struct logs_sink *logs_sink_open(int dirfd, const char *name, const struct cfg_logs *opts,
                                 struct diag *dg);

/* Append bytes read from one stream of the service. With timestamps each line
 * is written as "2026-11-28T19:53:43.123456Z out <line>\n" (UTC, realtime is
 * the wall-clock time of the read); without them the bytes go as they came. */
void logs_sink_write(struct logs_sink *s, enum logs_stream st, const char *data, size_t len,
                     const struct timespec *realtime);

/* A pipe of the caller's own that spliced bytes pass through on their way
 * from a service's pipe to its file. A splice from a pipe into a file holds
 * the pipe's lock while it copies into the page cache, so the service could
 * not write meanwhile; a splice from pipe to pipe only moves page references,
 * and the copy then runs beside the writer. One serves every sink (it is
 * empty between calls). Returns NULL with errno set. */
struct logs_relay;
struct logs_relay *logs_relay_new(void);
void logs_relay_free(struct logs_relay *r);

/* Without timestamps: move up to max bytes from the pipe pipe_fd (nonblocking)
 * into the file with splice(2), which copies once, in the kernel, instead of
 * twice through a buffer; through relay unless it is NULL. Returns the bytes
 * taken from the pipe (any the file refused are counted as lost); 0 at end of
 * file; -EAGAIN when the pipe is empty; -EOPNOTSUPP when this sink cannot
 * (timestamps on, the file system refuses splice, the file cannot be opened or
 * written): then read the pipe and pass the bytes to logs_sink_write(), which
 * counts any loss. */
ssize_t logs_sink_splice(struct logs_sink *s, struct logs_relay *relay, int pipe_fd, size_t max);

/* Writes through ring (logs/ring.h) from now on: queued, made one at a time
 * by the kernel, so that no write or rotation holds up the caller. Call before
 * the first write; the ring must outlive the sink's queue (logs_ring_drain()). */
struct logs_ring;
void logs_sink_use_ring(struct logs_sink *s, struct logs_ring *ring);

/* With a ring: true while the sink has as much queued as it takes (a splice
 * waiting, or SINK_BACKLOG bytes). The caller stops reading the service's
 * pipe until fn(ctx) says the queue has room again. logs_sink_write() and
 * logs_sink_splice() still take what they are given (the splice then says
 * -EOPNOTSUPP: read and write instead), so a last drain loses nothing. */
typedef void (*logs_idle_fn)(void *ctx);
bool logs_sink_busy(const struct logs_sink *s);
void logs_sink_on_idle(struct logs_sink *s, logs_idle_fn fn, void *ctx);

/* Bytes dropped so far because the file could not be opened or a write
 * failed (disk full, I/O error). */
uint64_t logs_sink_lost_bytes(const struct logs_sink *s);
/* Rotations refused so far (the live file could not be renamed): the file
 * grows past max_size meanwhile, nothing is lost. *err: why the last was. */
uint64_t logs_sink_rotate_refusals(const struct logs_sink *s, int *err);
/* The live file was removed (unlinked, or its directory with it): what is
 * written goes where nobody can read it. */
bool logs_sink_file_gone(const struct logs_sink *s);

/* Bytes taken and not yet in the file: queued for the ring, in flight, or
 * gathering in the batch of timestamped lines. */
uint64_t logs_sink_pending(const struct logs_sink *s);

/* With timestamps, the start of a line of stream st that is still being
 * read (held until its end comes), and when its first bytes were: for a
 * follower that joins mid-line, so that it sees the whole line. Returns its
 * length; 0 without one. */
size_t logs_sink_held(const struct logs_sink *s, enum logs_stream st, const char **data,
                      struct timespec *since);

/* The "2026-11-28T19:53:43.123456Z out " a timestamped log line starts with,
 * written to buf (LOGS_PREFIX_MAX bytes, not NUL-terminated), for whoever
 * shows live lines as the file has them. Returns its length. */
#define LOGS_PREFIX_MAX 64
size_t logs_line_prefix(char *buf, const struct timespec *realtime, enum logs_stream st);

/* Rotate <name>.log by rename: <name>.log.k -> .k+1 (the one past keep is
 * removed), <name>.log -> .1; with keep 0 the live file is removed. Missing
 * files are skipped. 0, or -errno when the live file could not be moved. */
int logs_rotate_files(int dirfd, const char *name, unsigned keep);

/* The stream st ended (the service's pipe reached its end): its unfinished
 * last line is written now, not glued to the next run's first. */
void logs_sink_end_stream(struct logs_sink *s, enum logs_stream st);

/* Flushes partial lines and closes. With a ring, what is still queued is
 * written first: the sink is freed by its last completion. NULL is a no-op. */
void logs_sink_close(struct logs_sink *s);

#endif
