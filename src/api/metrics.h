/* api/metrics.h — GET /metrics: Prometheus text exposition format 0.0.4,
 * rendered from plain figures so that the format is unit-tested apart from
 * the server and the supervisor. */
#ifndef CORRAL_API_METRICS_H
#define CORRAL_API_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct api_metrics_service {
    const char *name;
    const char *state;
    bool up;    /* a live main process */
    bool ready; /* see api_metrics_ready() in handlers.c */
    unsigned restarts;
    uint64_t log_lost_bytes;
    bool exited; /* last_exit_code holds the last run's status */
    int last_exit_code;
    bool live; /* the figures below were sampled from a live tree */
    double cpu_seconds;
    uint64_t rss_bytes;
    unsigned procs;
};

struct api_metrics_self {
    uint64_t loop_wakeups;
    uint64_t events_total; /* events recorded since start */
    size_t events_pending; /* waiting to be written to state.db */
    size_t event_streams;  /* open event and log streams */
    uint64_t rss_bytes;    /* corral's own */
    double cpu_seconds;    /* corral's own */
    double start_time;     /* unix seconds */
    uint64_t webhooks_delivered, webhooks_failed, webhooks_dropped;
};

/* Escape a label value: backslash, double quote and newline. out holds at
 * least 2 * strlen(in) + 1 bytes. Pure. */
void api_metrics_escape(const char *in, char *out);

/* The whole exposition: HELP and TYPE once per metric, then its samples.
 * Returns a new NUL-terminated text (caller frees) and its length in *len,
 * or NULL when out of memory. Pure. */
char *api_metrics_format(const struct api_metrics_service *svcs, size_t n,
                         const struct api_metrics_self *self, size_t *len);

#endif
