/* api/metrics.c — the Prometheus text format, one metric family at a time. */
#include "api/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct out {
    char *buf;
    size_t len, cap;
    bool failed;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (o->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = true;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = (o->cap + (size_t)n + 1) * 2;
        char *p = realloc(o->buf, cap);
        if (!p) {
            o->failed = true;
            return;
        }
        o->buf = p;
        o->cap = cap;
    }
}

void api_metrics_escape(const char *in, char *out)
{
    for (; *in; in++) {
        if (*in == '\\' || *in == '"') {
            *out++ = '\\';
            *out++ = *in;
        } else if (*in == '\n') {
            *out++ = '\\';
            *out++ = 'n';
        } else {
            *out++ = *in;
        }
    }
    *out = '\0';
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

enum svc_metric {
    M_UP,
    M_READY,
    M_STATE,
    M_RESTARTS,
    M_LOG_LOST,
    M_LAST_EXIT,
    M_CPU,
    M_RSS,
    M_PROCS,
    M__COUNT
};

static const struct {
    const char *name, *type, *help;
} svc_metrics[M__COUNT] = {
    [M_UP] = {"corral_service_up", "gauge", "1 when the service has a live main process."},
    [M_READY] = {"corral_service_ready", "gauge", "1 when the service is ready."},
    [M_STATE] = {"corral_service_state", "gauge",
                 "1 for the state the service is in (label state)."},
    [M_RESTARTS] = {"corral_service_restarts_total", "counter",
                    "Automatic restarts by the restart policy since corral started."},
    [M_LOG_LOST] = {"corral_service_log_lost_bytes_total", "counter",
                    "Bytes of the service's output its log file could not take (disk full, "
                    "I/O error)."},
    [M_LAST_EXIT] = {"corral_service_last_exit_code", "gauge",
                     "Status of the last run's main process, as a shell's $? (128+N: signal N)."},
    [M_CPU] = {"corral_service_cpu_seconds_total", "counter",
               "CPU time of the service's tree (its cgroup's, else its live processes')."},
    [M_RSS] = {"corral_service_memory_rss_bytes", "gauge",
               "Resident memory of the service's tree, summed over its processes."},
    [M_PROCS] = {"corral_service_processes", "gauge", "Processes in the service's tree."},
};

static void sample(struct out *o, enum svc_metric m, const struct api_metrics_service *s,
                   const char *label)
{
    const char *name = svc_metrics[m].name;
    switch (m) {
    case M_UP:
        put(o, "%s{service=\"%s\"} %d\n", name, label, s->up);
        break;
    case M_READY:
        put(o, "%s{service=\"%s\"} %d\n", name, label, s->ready);
        break;
    case M_STATE: {
        char st[64];
        api_metrics_escape(s->state, st);
        put(o, "%s{service=\"%s\",state=\"%s\"} 1\n", name, label, st);
        break;
    }
    case M_RESTARTS:
        put(o, "%s{service=\"%s\"} %u\n", name, label, s->restarts);
        break;
    case M_LOG_LOST:
        put(o, "%s{service=\"%s\"} %llu\n", name, label, (unsigned long long)s->log_lost_bytes);
        break;
    case M_LAST_EXIT:
        if (s->exited)
            put(o, "%s{service=\"%s\"} %d\n", name, label, s->last_exit_code);
        break;
    case M_CPU:
        /* As stats says it: a stopped service's cgroup keeps its count, and
         * a counter that fell to 0 at each stop would be a reset each time. */
        put(o, "%s{service=\"%s\"} %.6f\n", name, label, s->cpu_seconds);
        break;
    case M_RSS:
        put(o, "%s{service=\"%s\"} %llu\n", name, label,
            (unsigned long long)(s->live ? s->rss_bytes : 0));
        break;
    case M_PROCS:
        put(o, "%s{service=\"%s\"} %u\n", name, label, s->live ? s->procs : 0);
        break;
    case M__COUNT:
        break;
    }
}

static void self_metrics(struct out *o, const struct api_metrics_self *m, size_t n_services)
{
    family(o, "corral_services", "gauge", "Configured services.");
    put(o, "corral_services %zu\n", n_services);
    family(o, "corral_loop_wakeups_total", "counter", "Wake-ups of corral's event loop.");
    put(o, "corral_loop_wakeups_total %llu\n", (unsigned long long)m->loop_wakeups);
    family(o, "corral_events_total", "counter", "Events recorded since corral started.");
    put(o, "corral_events_total %llu\n", (unsigned long long)m->events_total);
    family(o, "corral_event_queue_length", "gauge",
           "Events waiting to be written to the state database.");
    put(o, "corral_event_queue_length %zu\n", m->events_pending);
    family(o, "corral_api_streams", "gauge", "Open event and log streams of the API.");
    put(o, "corral_api_streams %zu\n", m->event_streams);
    family(o, "corral_process_resident_memory_bytes", "gauge", "corral's own resident memory.");
    put(o, "corral_process_resident_memory_bytes %llu\n", (unsigned long long)m->rss_bytes);
    family(o, "corral_process_cpu_seconds_total", "counter", "corral's own CPU time.");
    put(o, "corral_process_cpu_seconds_total %.6f\n", m->cpu_seconds);
    family(o, "corral_process_start_time_seconds", "gauge", "When corral started, unix time.");
    put(o, "corral_process_start_time_seconds %.3f\n", m->start_time);
    family(o, "corral_webhook_deliveries_total", "counter",
           "Webhook deliveries by how they ended: delivered (a 2xx), failed (after their "
           "retries), dropped (from a full queue).");
    put(o, "corral_webhook_deliveries_total{result=\"delivered\"} %llu\n",
        (unsigned long long)m->webhooks_delivered);
    put(o, "corral_webhook_deliveries_total{result=\"failed\"} %llu\n",
        (unsigned long long)m->webhooks_failed);
    put(o, "corral_webhook_deliveries_total{result=\"dropped\"} %llu\n",
        (unsigned long long)m->webhooks_dropped);
}

char *api_metrics_format(const struct api_metrics_service *svcs, size_t n,
                         const struct api_metrics_self *self, size_t *len)
{
    struct out o = {0};
    char *labels = NULL;
    size_t stride = 0;
    /* Each name escaped once, not once per metric. */
    for (size_t i = 0; i < n; i++)
        if (2 * strlen(svcs[i].name) + 1 > stride)
            stride = 2 * strlen(svcs[i].name) + 1;
    if (n && !(labels = malloc(n * stride)))
        return NULL;
    for (size_t i = 0; i < n; i++)
        api_metrics_escape(svcs[i].name, labels + i * stride);
    o.cap = 256 + n * 800;
    o.buf = malloc(o.cap);
    if (!o.buf) {
        free(labels);
        return NULL;
    }
    o.buf[0] = '\0';
    for (int m = 0; m < M__COUNT; m++) {
        family(&o, svc_metrics[m].name, svc_metrics[m].type, svc_metrics[m].help);
        for (size_t i = 0; i < n; i++)
            sample(&o, (enum svc_metric)m, &svcs[i], labels + i * stride);
    }
    self_metrics(&o, self, n);
    free(labels);
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}
