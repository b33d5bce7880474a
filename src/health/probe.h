/* health/probe.h — one probe of one service (tcp, exec or log), run on the
 * loop: after initial_delay, then every interval, never more than one attempt
 * in flight (a slow attempt delays the next instead of overlapping it), and
 * nothing at all while stopped. Results are counted against the thresholds
 * and only a crossing is reported: success_threshold passes in a row make it
 * passing, failure_threshold failures in a row make it failing. */
#ifndef CORRAL_HEALTH_PROBE_H
#define CORRAL_HEALTH_PROBE_H

#include "config/config.h"
#include "loop/loop.h"
#include "proc/spawn.h"

struct http_client;

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* --- the thresholds (pure) ------------------------------------------------------ */

enum health_verdict { HEALTH_UNKNOWN, HEALTH_PASSING, HEALTH_FAILING };

struct health_count {
    unsigned ok_run;   /* passes in a row */
    unsigned fail_run; /* failures in a row */
    enum health_verdict verdict;
};

/* Count one result; returns the new verdict when this result changed it,
 * else HEALTH_UNKNOWN. */
enum health_verdict health_count_note(struct health_count *c, const struct cfg_probe *cfg, bool ok);

/* --- a running probe ------------------------------------------------------------ */

struct health_probe_hooks {
    /* Start argv for an exec probe, contained and in the environment of the
     * service; fills child (its pidfd is then owned by the probe). 0 or -errno. */
    int (*spawn)(void *ctx, char *const *argv, struct proc_child *child);
    /* SIGKILL to an exec attempt that timed out or was abandoned, with what
     * it started in its process group (a pipeline's other commands); pidfd
     * is its main process's. */
    void (*kill)(void *ctx, pid_t pid, int pidfd);
    /* The HTTP client for http probes, made at the first ask (it loads
     * libcurl); NULL when it cannot be. */
    struct http_client *(*http)(void *ctx);
    /* The verdict changed; why describes the last result ("refused 3 times"). */
    void (*on_verdict)(void *ctx, enum health_verdict v, const char *why);
    void *ctx;
};

struct health_probe;

/* Returns a new, stopped probe for cfg (borrowed; must outlive it). NULL
 * with errno set. Caller frees with health_probe_free(). */
struct health_probe *health_probe_new(struct loop *lp, const struct cfg_probe *cfg,
                                      const struct health_probe_hooks *h);
/* Stops it first. An exec probe still running is killed; its exit is still
 * expected through health_probe_reaped() only while the probe exists. */
void health_probe_free(struct health_probe *p);

/* The same settings at a new address (a reload kept them); NULL p is a no-op. */
void health_probe_rebind(struct health_probe *p, const struct cfg_probe *cfg);

/* Start counting afresh: the first attempt after initial_delay. */
void health_probe_start(struct health_probe *p);
/* No further attempts; an attempt in flight is abandoned (a tcp socket
 * closed, an exec probe killed through its pidfd). */
void health_probe_stop(struct health_probe *p);
bool health_probe_running(const struct health_probe *p);

/* The supervisor reaps every child with waitid(P_ALL): it hands each PID it
 * does not know here. True when it was this probe's child (exit code as a
 * shell's $?). */
bool health_probe_reaped(struct health_probe *p, pid_t pid, int code);

/* A line of the service's output (log probes; others ignore it). */
void health_probe_line(struct health_probe *p, const char *line, size_t len);

/* The last result in words ("refused", "exited 1", "timed out after 1s"),
 * "" before the first. */
const char *health_probe_last(const struct health_probe *p);

#endif
