/* api/resources.c — what the API says about resources: each service's
 * limits and how they are enforced, its sampled stats, the cgroup controllers,
 * and GET /metrics. */
#include "api/internal.h"
#include "api/metrics.h"
#include "health/limits.h"
#include "health/stats.h"

#include <stdlib.h>
#include <string.h>

/* The limits set, each with what enforces it on this host. */
static json_t *limits_json(const struct api *a, size_t i)
{
    const struct cfg_limits *lim = &a->m->services[i].limits;
    bool cgroup = strcmp(sup_containment(a->sup, NULL), "cgroup") == 0;
    int ctrl = sup_controllers(a->sup);
    json_t *o = json_object();
    for (int l = 0; l < HEALTH_LIM__COUNT; l++) {
        uint64_t v = health_limit_value(lim, (enum health_limit)l);
        enum health_enforce e = health_limit_enforce((enum health_limit)l, cgroup, ctrl);
        if (v)
            json_object_set_new(o, health_limit_name((enum health_limit)l),
                                json_pack("{s:I,s:s,s:s}", "value", (json_int_t)v, "enforced_by",
                                          health_enforce_name(e), "how",
                                          health_limit_how((enum health_limit)l, e)));
    }
    return o;
}

json_t *api_stats_json(const struct sup_stats *st)
{
    json_t *o =
        json_pack("{s:b,s:f,s:I,s:I,s:I,s:s}", "live", st->live, "cpu_seconds", st->cpu_seconds,
                  "rss_bytes", (json_int_t)st->rss_bytes, "procs", (json_int_t)st->procs, "threads",
                  (json_int_t)st->threads, "source", st->source ? st->source : "proc");
    if (!o)
        return NULL;
    json_object_set_new(o, "cpu_percent",
                        st->cpu_percent_ok ? json_real(st->cpu_percent) : json_null());
    json_object_set_new(o, "memory_bytes",
                        st->memory_ok ? json_integer((json_int_t)st->memory_bytes) : json_null());
    json_object_set_new(o, "fds", st->fds_ok ? json_integer(st->fds) : json_null());
    return o;
}

/* One service with its limits, and its stats when st is given. */
json_t *api_service_full_json(const struct api *a, size_t i, const struct sup_stats *st)
{
    json_t *o = api_service_json(a, i);
    if (!o)
        return NULL;
    json_object_set_new(o, "limits", limits_json(a, i));
    if (st)
        json_object_set_new(o, "stats", api_stats_json(st));
    return o;
}

/* The cgroup controllers corral's service cgroups have, by name. */
json_t *api_controllers_json(int bits)
{
    json_t *l = json_array();
    if (bits & HEALTH_CTRL_CPU)
        json_array_append_new(l, json_string("cpu"));
    if (bits & HEALTH_CTRL_MEMORY)
        json_array_append_new(l, json_string("memory"));
    if (bits & HEALTH_CTRL_PIDS)
        json_array_append_new(l, json_string("pids"));
    return l;
}

/* Ready: its readiness protocol or probe said so, or it has none (running). */
static bool metrics_ready(const struct sup_info *in)
{
    return in->state == SVC_RUNNING || in->state == SVC_READY;
}

static void metrics_self(const struct api *a, struct api_metrics_self *m)
{
    uint64_t cpu_ns = 0;
    memset(m, 0, sizeof(*m));
    m->loop_wakeups = loop_wakeups(a->lp);
    m->events_total = a->ev.recorded;
    m->events_pending = a->hist.n_pending;
    for (const struct api_stream *st = a->streams; st; st = st->next)
        m->event_streams++;
    (void)health_self(&m->rss_bytes, &cpu_ns);
    m->cpu_seconds = (double)cpu_ns / 1e9;
    m->start_time = (double)a->started_at;
    if (a->h.webhook_counts)
        a->h.webhook_counts(a->h.ctx, &m->webhooks_delivered, &m->webhooks_failed,
                            &m->webhooks_dropped);
}

/* Every tree is sampled for a scrape: the only time corral reads them. */
enum MHD_Result api_metrics_respond(struct api *a, struct MHD_Connection *c)
{
    size_t n = sup_count(a->sup), len = 0;
    struct sup_stats *st = calloc(n + 1, sizeof(*st));
    struct api_metrics_service *ms = calloc(n + 1, sizeof(*ms));
    struct api_metrics_self self;
    char *text = NULL;
    if (st && ms) {
        sup_stats_all(a->sup, false, st);
        for (size_t i = 0; i < n; i++) {
            struct sup_info in;
            sup_info(a->sup, i, &in);
            ms[i] = (struct api_metrics_service){
                .name = in.name,
                .state = sup_state_name(in.state),
                .up = in.pid > 0,
                .ready = metrics_ready(&in),
                .restarts = in.restarts,
                .log_lost_bytes = in.log_lost_bytes,
                .exited = in.exited && in.exit_code >= 0,
                .last_exit_code = in.exit_code,
                .live = st[i].live,
                .cpu_seconds = st[i].cpu_seconds,
                .rss_bytes = st[i].rss_bytes,
                .procs = st[i].procs,
            };
        }
        metrics_self(a, &self);
        text = api_metrics_format(ms, n, &self, &len);
    }
    free(st);
    free(ms);
    if (!text)
        return MHD_NO;
    return api_respond_text(c, MHD_HTTP_OK, text, len, API_METRICS_CONTENT_TYPE);
}
