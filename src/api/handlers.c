/* api/handlers.c — what each route does, in JSON. */
#include "api/internal.h"
#include "logs/tail.h"
#include "util/jtext.h"
#include "util/utc.h"
#include "util/utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TAIL_DEFAULT   100
#define TAIL_MAX_BYTES API_STREAM_BUFFER /* more could not be queued anyway */
#define TAIL_MIN_BYTES (64 * 1024)       /* of each of many services' tails */
#define TREE_MAX       4096

static const char *const event_names[SUP_EV__COUNT] = {
    [SUP_EV_STARTED] = "started",
    [SUP_EV_EXITED] = "exited",
    [SUP_EV_LEFTOVER] = "leftover",
    [SUP_EV_RESTARTING] = "restarting",
    [SUP_EV_COMPLETED] = "completed",
    [SUP_EV_FAILED] = "failed",
    [SUP_EV_STOPPING] = "stopping",
    [SUP_EV_KILLING] = "killing",
    [SUP_EV_SURVIVOR] = "survivor",
    [SUP_EV_STOPPED] = "stopped",
    [SUP_EV_LOGS_LOST] = "logs_lost",
    [SUP_EV_REAPED] = "reaped",
    [SUP_EV_ADOPTED] = "adopted",
    [SUP_EV_RECOVERING] = "recovering",
    [SUP_EV_STALE] = "stale",
    [SUP_EV_BLOCKED] = "blocked",
    [SUP_EV_ORPHAN] = "orphan",
    [SUP_EV_LIMIT_EXCEEDED] = "limit_exceeded",
    [SUP_EV_STARTING] = "starting",
    [SUP_EV_READY] = "ready",
    [SUP_EV_DENIED] = "notify_denied",
    [SUP_EV_UNHEALTHY] = "unhealthy",
    [SUP_EV_GAVE_UP] = "gave_up",
    [SUP_EV_RECOVERED] = "recovered",
    [SUP_EV_NOT_ROTATED] = "logs_not_rotated",
};

const char *api_event_name(enum sup_event_kind kind)
{
    return kind < SUP_EV__COUNT ? event_names[kind] : NULL;
}

static void iso_time(const struct timespec *ts, char *buf, size_t size)
{
    struct tm tm;
    if (!utc_tm(ts->tv_sec, &tm))
        memset(&tm, 0, sizeof(tm));
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts->tv_nsec / 1000000);
}

static json_t *jstrn(const char *s, size_t len)
{
    char *clean = malloc(len + 1);
    json_t *j;
    if (!clean)
        return NULL;
    utf8_clean(s, len, clean);
    j = json_stringn(clean, len);
    free(clean);
    return j;
}

/* --- services ---------------------------------------------------------------------- */

/* What holds the port of a blocked service; null when it is not blocked. */
static json_t *holder_json(const struct sup_holder *h)
{
    if (!h)
        return json_null();
    return json_pack("{s:I,s:s,s:s,s:o,s:s,s:o,s:o,s:b,s:I}", "port", (json_int_t)h->port, "proto",
                     cfg_proto_name(h->proto), "address", h->address, "pid",
                     h->pid ? json_integer(h->pid) : json_null(), "user", h->user, "command",
                     h->pid ? jstrn(h->command, strlen(h->command)) : json_null(), "service",
                     h->service[0] ? json_string(h->service) : json_null(), "orphan", h->orphan,
                     "checks", (json_int_t)h->checks);
}

/* A failed service waiting to try again: when, as a delay and as a time. */
static void retry_json(json_t *o, int64_t retry_in_ms)
{
    struct timespec at;
    char when[40];
    if (retry_in_ms < 0) {
        json_object_set_new(o, "retry_in_ms", json_null());
        json_object_set_new(o, "retry_at", json_null());
        return;
    }
    clock_gettime(CLOCK_REALTIME, &at);
    at.tv_sec += retry_in_ms / 1000;
    at.tv_nsec += (retry_in_ms % 1000) * 1000000;
    if (at.tv_nsec >= 1000000000) {
        at.tv_sec++;
        at.tv_nsec -= 1000000000;
    }
    iso_time(&at, when, sizeof(when));
    json_object_set_new(o, "retry_in_ms", json_integer((json_int_t)retry_in_ms));
    json_object_set_new(o, "retry_at", json_string(when));
}

json_t *api_service_json(const struct api *a, size_t i)
{
    struct sup_info in;
    json_t *o, *last = json_null();
    sup_info(a->sup, i, &in);
    if (in.exited) {
        char text[64];
        if (in.exit_code < 0)
            snprintf(text, sizeof(text), "exited, status unknown (adopted)");
        else if (in.exit_code > 128 && in.exit_code < 128 + 65)
            snprintf(text, sizeof(text), "killed by SIG%s", cfg_signal_name(in.exit_code - 128));
        else
            snprintf(text, sizeof(text), "exited %d", in.exit_code);
        last = json_pack("{s:i,s:s}", "code", in.exit_code, "text", text);
    }
    o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:o,s:s,s:b,s:b,s:s}", "name", in.name, "kind",
                  cfg_kind_name(in.kind), "state", sup_state_name(in.state), "pid",
                  (json_int_t)in.pid, "uptime_ms", (json_int_t)in.uptime_ms, "state_age_ms",
                  (json_int_t)in.state_age_ms, "runs", (json_int_t)in.runs, "restarts",
                  (json_int_t)in.restarts, "last_exit", last, "reason", in.reason, "autostart",
                  in.autostart, "stopped_by_operator", in.operator_stopped, "containment",
                  sup_containment(a->sup, NULL));
    if (o && in.pid == 0)
        json_object_set_new(o, "pid", json_null());
    if (o) {
        json_object_set_new(o, "adopted", json_boolean(in.adopted));
        json_object_set_new(o, "blocked", holder_json(in.holder));
        json_object_set_new(o, "ready", json_string(cfg_ready_kind_name(in.ready_kind)));
        json_object_set_new(o, "status", jstrn(in.status, strlen(in.status)));
        json_object_set_new(o, "probe", jstrn(in.probe_last, strlen(in.probe_last)));
        json_object_set_new(o, "notify_denied", json_integer(in.notify_denied));
        json_object_set_new(o, "notify_stopping", json_boolean(in.notify_stopping));
        json_object_set_new(o, "log_lost_bytes", json_integer((json_int_t)in.log_lost_bytes));
        retry_json(o, in.retry_in_ms);
    }
    return o;
}

/* ?stats=1 samples every tree: a few /proc reads per process, so only when
 * asked; a plain list of a thousand services stays cheap. */
static enum MHD_Result h_services(struct api *a, struct MHD_Connection *c)
{
    const char *q_stats = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "stats");
    struct sup_stats *st = NULL;
    json_t *list;
    bool stats;
    if (api_parse_flag(q_stats, false, &stats) < 0)
        return api_respond_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "stats",
                                 "stats must be 1 or 0 (or true/false, yes/no)");
    if (stats && sup_count(a->sup)) {
        st = calloc(sup_count(a->sup), sizeof(*st));
        if (!st)
            return MHD_NO;
        sup_stats_all(a->sup, true, st);
    }
    list = json_array();
    for (size_t i = 0; i < sup_count(a->sup); i++)
        json_array_append_new(list, api_service_full_json(a, i, st ? &st[i] : NULL));
    free(st);
    return api_respond_json(c, MHD_HTTP_OK, json_pack("{s:o}", "services", list));
}

static long service_index(struct api *a, struct MHD_Connection *c, const char *name)
{
    long i = sup_find(a->sup, name);
    if (i < 0)
        api_respond_error(c, MHD_HTTP_NOT_FOUND, "unknown_service", "service",
                          "unknown service '%s'", name);
    return i;
}

static unsigned status_of(int err)
{
    switch (err) {
    case -ENOENT:
        return MHD_HTTP_NOT_FOUND;
    case -ESHUTDOWN:
    case -ESRCH:
    case -EBUSY:
        return MHD_HTTP_CONFLICT;
    default:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

static const char *code_of(int err)
{
    switch (err) {
    case -ENOENT:
        return "unknown_service";
    case -ESHUTDOWN:
        return "shutting_down";
    case -ESRCH:
        return "not_running";
    case -EBUSY:
        return "reload_in_progress";
    default:
        return "internal";
    }
}

static enum MHD_Result h_control(struct api *a, struct MHD_Connection *c, const struct api_route *r)
{
    const char *names[1] = {r->service};
    struct diag dg;
    long i;
    int err;
    diag_clear(&dg);
    if ((i = service_index(a, c, r->service)) < 0)
        return MHD_YES;
    if (r->id == API_R_START)
        err = sup_shutting_down(a->sup) ? -ESHUTDOWN : sup_start(a->sup, names, 1, &dg);
    else if (r->id == API_R_STOP)
        err = sup_stop(a->sup, names, 1, &dg);
    else
        err = sup_restart(a->sup, names, 1, &dg);
    if (err == -ESHUTDOWN)
        diag_set(&dg, err, "corral is shutting down");
    if (err < 0)
        return api_respond_error(c, status_of(err), code_of(err), NULL, "%s", dg.msg);
    if (a->h.controlled)
        a->h.controlled(a->h.ctx);
    return api_respond_json(c, MHD_HTTP_ACCEPTED,
                            json_pack("{s:o}", "service", api_service_json(a, (size_t)i)));
}

/* Several services restarted as one: what depends on another of them is
 * stopped first and started after it (one request per service would stop
 * each at once). */
static enum MHD_Result h_restart_many(struct api *a, struct MHD_Connection *c)
{
    const char *q_svc = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "service");
    const char *names[API_NAMES_MAX];
    char buf[API_NAMES_MAX * API_NAME_MAX];
    struct diag dg;
    json_t *list;
    int n = q_svc && *q_svc ? api_parse_names(q_svc, buf, sizeof(buf), names, API_NAMES_MAX) : 0;
    int err;
    if (n <= 0)
        return api_respond_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "service",
                                 "service must be a comma-separated list of names (at most %d)",
                                 API_NAMES_MAX);
    for (int k = 0; k < n; k++)
        if (service_index(a, c, names[k]) < 0)
            return MHD_YES;
    diag_clear(&dg);
    err = sup_restart(a->sup, names, (size_t)n, &dg);
    if (err == -ESHUTDOWN)
        diag_set(&dg, err, "corral is shutting down");
    if (err < 0)
        return api_respond_error(c, status_of(err), code_of(err), NULL, "%s", dg.msg);
    if (a->h.controlled)
        a->h.controlled(a->h.ctx);
    list = json_array();
    for (int k = 0; list && k < n; k++)
        json_array_append_new(list, api_service_json(a, (size_t)sup_find(a->sup, names[k])));
    return api_respond_json(c, MHD_HTTP_ACCEPTED, json_pack("{s:o*}", "services", list));
}

static enum MHD_Result h_signal(struct api *a, struct MHD_Connection *c, const struct api_route *r,
                                const struct api_req *req)
{
    char msg[256] = "";
    struct diag dg;
    int sig = 0, err;
    long i;
    if ((i = service_index(a, c, r->service)) < 0)
        return MHD_YES;
    if (api_parse_signal_body(req->body ? req->body : "", req->len, &sig, msg, sizeof(msg)) < 0)
        return api_respond_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "signal", "%s", msg);
    diag_clear(&dg);
    err = sup_signal(a->sup, r->service, sig, &dg);
    if (err < 0)
        return api_respond_error(c, status_of(err), code_of(err), NULL, "%s", dg.msg);
    return api_respond_json(c, MHD_HTTP_OK,
                            json_pack("{s:s,s:o}", "signal", cfg_signal_name(sig), "service",
                                      api_service_json(a, (size_t)i)));
}

/* --- trees -------------------------------------------------------------------------- */

static json_t *tree_json(struct api *a, size_t i, struct sup_proc *procs)
{
    int n = sup_tree(a->sup, i, procs, TREE_MAX);
    json_t *list = json_array();
    struct sup_info in;
    sup_info(a->sup, i, &in);
    for (int k = 0; k < n && k < TREE_MAX; k++) {
        char st[2] = {procs[k].state, '\0'};
        json_array_append_new(list,
                              json_pack("{s:I,s:I,s:s,s:b,s:s}", "pid", (json_int_t)procs[k].pid,
                                        "ppid", (json_int_t)procs[k].ppid, "state", st, "main",
                                        procs[k].main, "cmdline", procs[k].cmdline));
    }
    return json_pack("{s:s,s:s,s:o}", "name", in.name, "state", sup_state_name(in.state),
                     "processes", list);
}

static enum MHD_Result h_tree(struct api *a, struct MHD_Connection *c, const struct api_route *r)
{
    struct sup_proc *procs = calloc(TREE_MAX, sizeof(*procs));
    json_t *body;
    long i = -1;
    if (!procs)
        return MHD_NO;
    if (r->id == API_R_SERVICE_TREE && (i = service_index(a, c, r->service)) < 0) {
        free(procs);
        return MHD_YES;
    }
    if (i >= 0) {
        body = tree_json(a, (size_t)i, procs);
    } else {
        json_t *list = json_array();
        for (size_t k = 0; k < sup_count(a->sup); k++)
            json_array_append_new(list, tree_json(a, k, procs));
        body = json_pack("{s:o}", "services", list);
    }
    free(procs);
    return api_respond_json(c, MHD_HTTP_OK, body);
}

/* --- logs ------------------------------------------------------------------------------ */

/* format=sse, or format=plain (the endpoint's own: "text" or "json"), else
 * the Accept header: 0 with *sse set, or -1 for another format. */
static int stream_format(struct MHD_Connection *c, const char *plain, bool *sse)
{
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
    const char *format = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
    *sse = format ? strcmp(format, "sse") == 0 : accept && strstr(accept, "text/event-stream");
    return !format || *sse || strcmp(format, plain) == 0 ? 0 : -1;
}

static void push_log_line(struct api_stream *st, const char *service, const char *line, size_t len)
{
    if (st->sse) {
        json_t *o = json_pack("{s:s,s:o}", "service", service, "line", jstrn(line, len));
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (text) {
            size_t tn = strlen(text);
            char *msg = malloc(tn + 9);
            if (msg) {
                memcpy(msg, "data: ", 6);
                memcpy(msg + 6, text, tn);
                memcpy(msg + 6 + tn, "\n\n", 2);
                api_stream_push(st, msg, tn + 8);
                free(msg);
            }
            free(text);
        }
        return;
    }
    {
        /* A name longer than the column (a service a reload added) widens it. */
        size_t name = strlen(service), width = name > (size_t)st->width ? name : (size_t)st->width;
        size_t pre = st->prefix ? width + 3 : 0;
        char *msg = malloc(pre + len + 2);
        if (!msg)
            return;
        if (st->prefix)
            snprintf(msg, pre + 1, "%-*s | ", (int)width, service);
        memcpy(msg + pre, line, len);
        msg[pre + len] = '\n';
        api_stream_push(st, msg, pre + len + 1);
        free(msg);
    }
}

/* The last n lines of the service's current log file, read up to max bytes. */
static void read_tail(struct api *a, const char *service, uint64_t n, size_t max,
                      struct logs_tail *t)
{
    char path[PATH_MAX];
    int fd;
    memset(t, 0, sizeof(*t));
    snprintf(path, sizeof(path), "%s/logs/%s.log", a->m->state_dir, service);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    (void)logs_tail_read(fd, max, n, t);
    close(fd);
}

/* Of the tails, the one whose next line is the oldest: lines without a time
 * stamp (raw output) first, as their time is not known; -1 when all are done. */
static int oldest_tail(struct logs_tail *tails, int n)
{
    int best = -1;
    const char *best_stamp = NULL;
    for (int k = 0; k < n; k++) {
        const char *stamp = logs_tail_stamp(&tails[k]);
        if (tails[k].at > tails[k].len || !tails[k].buf)
            continue;
        if (!stamp)
            return k;
        if (best < 0 || memcmp(stamp, best_stamp, LOGS_STAMP_LEN) < 0) {
            best = k;
            best_stamp = stamp;
        }
    }
    return best;
}

/* The services' last n lines each, merged by time, oldest first. All the
 * tails together are read up to what the stream can hold. */
static void push_tails(struct api *a, struct api_stream *st, const char *const *names, int n,
                       uint64_t lines)
{
    struct logs_tail tails[API_NAMES_MAX];
    size_t max = TAIL_MAX_BYTES / (size_t)(n > 0 ? n : 1);
    const char *line;
    size_t len;
    int k;
    if (lines == 0)
        return;
    if (max < TAIL_MIN_BYTES)
        max = TAIL_MIN_BYTES;
    for (k = 0; k < n; k++)
        read_tail(a, names[k], lines, max, &tails[k]);
    while ((k = oldest_tail(tails, n)) >= 0 && !st->dropped)
        if (logs_tail_next(&tails[k], &line, &len))
            push_log_line(st, names[k], line, len);
    for (k = 0; k < n; k++)
        logs_tail_free(&tails[k]);
}

static enum MHD_Result h_logs(struct api *a, struct MHD_Connection *c, const struct api_route *r)
{
    const char *q_tail = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "tail");
    const char *q_follow = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "follow");
    const char *q_svc = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "service");
    const char *names[API_NAMES_MAX];
    char buf[API_NAMES_MAX * API_NAME_MAX];
    struct api_stream *st;
    uint64_t tail;
    bool follow, sse;
    int n = 0;
    if (stream_format(c, "text", &sse) < 0)
        return api_respond_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "format",
                                 "format must be text or sse");
    if (api_parse_uint(q_tail, API_TAIL_MAX, TAIL_DEFAULT, &tail) < 0)
        return api_respond_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "tail",
                                 "tail must be a number of lines from 0 to %d", API_TAIL_MAX);
    if (api_parse_flag(q_follow, false, &follow) < 0)
        return api_respond_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "follow",
                                 "follow must be 1 or 0 (or true/false, yes/no)");
    if (r->id == API_R_SERVICE_LOGS) {
        names[n++] = r->service;
    } else if (q_svc && *q_svc) {
        n = api_parse_names(q_svc, buf, sizeof(buf), names, API_NAMES_MAX);
        if (n < 0)
            return api_respond_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "service",
                                     "service must be a comma-separated list of names");
    } else {
        for (size_t i = 0; i < sup_count(a->sup) && n < API_NAMES_MAX; i++) {
            struct sup_info in;
            sup_info(a->sup, i, &in);
            names[n++] = in.name;
        }
    }
    st = api_stream_new(a, API_STREAM_LOGS);
    if (!st || !(st->want = calloc(sup_count(a->sup) + 1, sizeof(bool)))) {
        free(st);
        return MHD_NO;
    }
    st->n_want = sup_count(a->sup);
    st->all = r->id != API_R_SERVICE_LOGS && !(q_svc && *q_svc);
    st->sse = sse;
    st->follow = follow;
    st->prefix = r->id == API_R_LOGS;
    for (int k = 0; k < n; k++) {
        long i = sup_find(a->sup, names[k]);
        if (i < 0) {
            free(st->want);
            free(st);
            return api_respond_error(c, MHD_HTTP_NOT_FOUND, "unknown_service", "service",
                                     "unknown service '%s'", names[k]);
        }
        st->want[i] = true;
        if ((int)strlen(names[k]) > st->width)
            st->width = (int)strlen(names[k]);
    }
    push_tails(a, st, names, n, tail);
    return api_stream_start(a, c, st);
}

void api_output(struct api *a, const char *service, enum logs_stream stream, const char *line,
                size_t len, bool complete, const struct timespec *when)
{
    long i;
    char prefix[LOGS_PREFIX_MAX];
    size_t pn = 0;
    char *text;
    (void)complete;
    if (!a || !a->log_followers || (i = sup_find(a->sup, service)) < 0)
        return;
    if (a->m->services[i].logs.timestamps) /* as the log file has it */
        pn = logs_line_prefix(prefix, when, stream);
    text = malloc(pn + len + 1);
    if (!text)
        return;
    memcpy(text, prefix, pn);
    memcpy(text + pn, line, len);
    for (struct api_stream *st = a->streams; st; st = st->next)
        if (st->kind == API_STREAM_LOGS && st->follow && (size_t)i < st->n_want && st->want[i])
            push_log_line(st, service, text, pn + len);
    free(text);
}

bool api_wants_output(const struct api *a)
{
    return a && a->log_followers > 0;
}

/* --- events ------------------------------------------------------------------------------ */

/* The event whose members so far are in j (an object left open): its id and
 * time end it, and it goes into the ring, to the streams and towards state.db.
 * Returns its text, valid until the next event; NULL if it could not be kept. */
static const char *record(struct api *a, struct jtext *j, const struct api_event_fields *f)
{
    struct timespec now;
    char when[40];
    char *text;
    uint64_t id;
    int64_t time_ms;
    clock_gettime(CLOCK_REALTIME, &now);
    time_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    iso_time(&now, when, sizeof(when));
    jtext_key(j, "id");
    jtext_int(j, (long long)a->ev.next_id);
    jtext_key(j, "time");
    jtext_str(j, when);
    jtext_close(j);
    text = jtext_take(j);
    id = api_events_add(&a->ev, text, time_ms, f->service);
    if (!id)
        return NULL;
    api_history_queue(a, f, id, time_ms, text);
    api_streams_broadcast_event(a, id, f->service, text);
    return text; /* the ring's newest: it stays until the next event */
}

static void key_int(struct jtext *j, const char *key, long long v)
{
    jtext_key(j, key);
    jtext_int(j, v);
}

/* What each kind of event knows besides its reason (docs/api.md). */
static void event_details(struct jtext *j, const struct sup_event *ev)
{
    jtext_key(j, "details");
    jtext_open(j);
    switch (ev->kind) {
    case SUP_EV_EXITED:
        key_int(j, "exit_code", ev->exit_code);
        jtext_key(j, "signal");
        if (ev->exit_code > 128 && ev->exit_code < 128 + 65) {
            char sig[32];
            snprintf(sig, sizeof(sig), "SIG%s", cfg_signal_name(ev->exit_code - 128));
            jtext_str(j, sig);
        } else {
            jtext_null(j);
        }
        key_int(j, "ran_ms", (long long)ev->ran_ms);
        key_int(j, "restarts", ev->restarts);
        break;
    case SUP_EV_RESTARTING:
        key_int(j, "delay_ms", (long long)ev->delay_ms);
        key_int(j, "restarts", ev->restarts);
        key_int(j, "exit_code", ev->exit_code);
        break;
    case SUP_EV_FAILED:
    case SUP_EV_GAVE_UP:
        key_int(j, "restarts", ev->restarts);
        jtext_key(j, "retry_in_ms");
        if (ev->retry_in_ms >= 0)
            jtext_int(j, (long long)ev->retry_in_ms);
        else
            jtext_null(j);
        break;
    case SUP_EV_RECOVERED:
    case SUP_EV_STOPPED:
    case SUP_EV_COMPLETED:
        key_int(j, "restarts", ev->restarts);
        break;
    case SUP_EV_STARTED:
    case SUP_EV_LEFTOVER:
    case SUP_EV_STOPPING:
    case SUP_EV_KILLING:
    case SUP_EV_SURVIVOR:
    case SUP_EV_LOGS_LOST:
    case SUP_EV_NOT_ROTATED:
    case SUP_EV_REAPED:
    case SUP_EV_ADOPTED:
    case SUP_EV_RECOVERING:
    case SUP_EV_STALE:
    case SUP_EV_BLOCKED:
    case SUP_EV_ORPHAN:
    case SUP_EV_LIMIT_EXCEEDED:
    case SUP_EV_STARTING:
    case SUP_EV_READY:
    case SUP_EV_UNHEALTHY:
    case SUP_EV_DENIED:
    case SUP_EV__COUNT:
        break;
    }
    jtext_close(j);
}

const char *api_event(struct api *a, const struct sup_event *ev)
{
    struct jtext j;
    struct api_event_fields f;
    if (!a || ev->kind >= SUP_EV__COUNT)
        return NULL;
    f = (struct api_event_fields){.kind = event_names[ev->kind],
                                  .service = ev->service,
                                  .text = ev->text,
                                  .pid = ev->pid,
                                  .exited = ev->kind == SUP_EV_EXITED || ev->kind == SUP_EV_REAPED,
                                  .exit_code = ev->exit_code};
    jtext_init(&j);
    jtext_open(&j);
    jtext_key(&j, "kind");
    jtext_str(&j, f.kind);
    jtext_key(&j, "service");
    jtext_str(&j, ev->service);
    jtext_key(&j, "instance");
    jtext_str(&j, sup_instance(a->sup));
    if (ev->pid)
        key_int(&j, "pid", ev->pid);
    if (f.exited)
        key_int(&j, "exit_code", ev->exit_code);
    if (ev->kind == SUP_EV_RESTARTING)
        key_int(&j, "delay_ms", (long long)ev->delay_ms);
    if (ev->text) {
        jtext_key(&j, "text");
        jtext_str(&j, ev->text);
    }
    jtext_key(&j, "reason");
    jtext_str(&j, ev->text);
    event_details(&j, ev);
    return record(a, &j, &f);
}

void api_note(struct api *a, const char *kind, const char *text)
{
    struct jtext j;
    struct api_event_fields f = {.kind = kind, .text = text};
    if (!a)
        return;
    jtext_init(&j);
    jtext_open(&j);
    jtext_key(&j, "kind");
    jtext_str(&j, kind);
    jtext_key(&j, "service");
    jtext_null(&j);
    /* The fields every event has, as a service's events have them. */
    jtext_key(&j, "instance");
    jtext_str(&j, sup_instance(a->sup));
    if (text) {
        jtext_key(&j, "text");
        jtext_str(&j, text);
    }
    jtext_key(&j, "reason");
    jtext_str(&j, text);
    jtext_key(&j, "details");
    jtext_open(&j);
    jtext_close(&j);
    (void)record(a, &j, &f);
}

/* since, until, since_time, until_time, limit and service into q; false
 * after answering 400. names and buf hold what q->services points to. */
static bool events_query(struct MHD_Connection *c, struct api_events_query *q, const char **names,
                         char *buf, size_t size)
{
    const char *q_since = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
    const char *last_id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    const char *q_until = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "until");
    const char *q_from = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since_time");
    const char *q_to = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "until_time");
    const char *q_limit = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    const char *q_svc = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "service");
    const char *bad;
    uint64_t limit;
    int n;
    memset(q, 0, sizeof(*q));
    if (api_parse_event_bounds(q_since, last_id, q_until, q_from, q_to, &q->b, &bad) < 0) {
        if (!strcmp(bad, "since"))
            api_respond_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", bad,
                              "since (or Last-Event-ID) must be an event id");
        else if (!strcmp(bad, "until"))
            api_respond_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", bad,
                              "until must be an event id (1 or more)");
        else
            api_respond_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", bad,
                              "%s must be a time such as 2026-11-29T10:00:00Z (RFC 3339)", bad);
        return false;
    }
    if (api_parse_uint(q_limit, API_EVENTS_LIMIT_MAX, API_EVENTS_KEEP, &limit) < 0 || limit == 0) {
        api_respond_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "limit",
                          "limit must be a number of events from 1 to %d", API_EVENTS_LIMIT_MAX);
        return false;
    }
    q->limit = (size_t)limit;
    if (q_svc && *q_svc) {
        n = api_parse_names(q_svc, buf, size, names, API_NAMES_MAX);
        if (n == -EINVAL) {
            api_respond_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "service",
                              "service holds a name that is no service name (letters, digits, "
                              "'.', '_', '-'; at most %d characters)",
                              CFG_MAX_NAME);
            return false;
        }
        if (n <= 0) {
            api_respond_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "service",
                              "service must be a comma-separated list of at most %d names",
                              API_NAMES_MAX);
            return false;
        }
        q->services = names;
        q->n_services = (size_t)n;
    }
    return true;
}

/* ",a,b," for the live events of a stream that follows some services. */
static char *only_list(const struct api_events_query *q)
{
    size_t len = 2;
    char *s;
    for (size_t i = 0; i < q->n_services; i++)
        len += strlen(q->services[i]) + 1;
    if (!(s = malloc(len)))
        return NULL;
    strcpy(s, ",");
    for (size_t i = 0; i < q->n_services; i++) {
        strcat(s, q->services[i]);
        strcat(s, ",");
    }
    return s;
}

static enum MHD_Result h_events(struct api *a, struct MHD_Connection *c)
{
    const char *q_follow = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "follow");
    const char *names[API_NAMES_MAX];
    char buf[API_NAMES_MAX * API_NAME_MAX];
    struct api_events_query q;
    struct api_history_list l;
    struct api_stream *st;
    bool follow, sse;
    if (stream_format(c, "json", &sse) < 0)
        return api_respond_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "format",
                                 "format must be json or sse");
    if (!events_query(c, &q, names, buf, sizeof(buf)))
        return MHD_YES;
    if (api_parse_flag(q_follow, sse, &follow) < 0)
        return api_respond_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "follow",
                                 "follow must be 1 or 0 (or true/false, yes/no)");
    /* New events all come after any bound: following past one would not end. */
    if (follow && (q.b.has_before || q.b.has_to))
        return api_respond_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "follow",
                                 "follow goes on past any until or until_time: use one or the "
                                 "other (follow=0 with an event stream)");
    if (api_history_collect(a, &q, &l) < 0) {
        api_history_list_free(&l);
        return MHD_NO;
    }
    if (!follow && !sse) {
        json_t *list = json_array();
        bool more = l.more;
        for (size_t k = 0; k < l.n; k++)
            json_array_append_new(list, json_loads(l.items[k].json, 0, NULL));
        api_history_list_free(&l);
        return api_respond_json(c, MHD_HTTP_OK,
                                json_pack("{s:o,s:b}", "events", list, "more", more));
    }
    st = api_stream_new(a, API_STREAM_EVENTS);
    if (!st) {
        api_history_list_free(&l);
        return MHD_NO;
    }
    st->sse = sse;
    st->follow = true; /* so that the history goes out through the same path */
    st->conn = c;
    st->after_id = q.b.after_id;
    if (q.n_services && !(st->only = only_list(&q))) {
        api_history_list_free(&l);
        free(st);
        return MHD_NO;
    }
    for (size_t k = 0; k < l.n; k++) {
        char head[48];
        int hn = sse ? snprintf(head, sizeof(head),
                                "id: %llu\ndata: ", (unsigned long long)l.items[k].id)
                     : 0;
        api_stream_push(st, head, (size_t)hn);
        api_stream_push(st, l.items[k].json, strlen(l.items[k].json));
        api_stream_push(st, sse ? "\n\n" : "\n", sse ? 2 : 1);
    }
    api_history_list_free(&l);
    st->follow = follow;
    return api_stream_start(a, c, st);
}

/* --- the rest ----------------------------------------------------------------------------- */

static enum MHD_Result h_info(struct api *a, struct MHD_Connection *c)
{
    const char *why, *log_why;
    const char *mode = sup_containment(a->sup, &why);
    const char *log_mode = sup_log_writes(a->sup, &log_why);
    char since[40];
    struct timespec ts = {.tv_sec = (time_t)a->started_at};
    iso_time(&ts, since, sizeof(since));
    json_t *o = json_pack(
        "{s:s,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:b}", "version", CORRAL_VERSION, "pid",
        (json_int_t)getpid(), "instance", sup_instance(a->sup), "since", since, "config",
        a->m->path, "state_dir", a->m->state_dir, "containment", mode, "containment_reason", why,
        "services", (json_int_t)sup_count(a->sup), "shutting_down", sup_shutting_down(a->sup));
    if (o) {
        json_object_set_new(o, "controllers", api_controllers_json(sup_controllers(a->sup)));
        json_object_set_new(o, "log_writes", json_string(log_mode));
        json_object_set_new(o, "log_writes_reason", json_string(log_why));
    }
    return api_respond_json(c, MHD_HTTP_OK, o);
}

static bool service_ready(const struct sup_info *in)
{
    /* One started on demand counts while it is on its way up or failing
     * its liveness probe: then something was asked of it that it lacks. */
    if (!in->autostart)
        return in->state != SVC_STARTING && in->state != SVC_UNHEALTHY;
    if (in->kind == CFG_KIND_ONESHOT)
        return in->state == SVC_COMPLETED;
    /* RUNNING is ready for ready: started; STARTING is not yet, UNHEALTHY no
     * longer. */
    return in->state == SVC_RUNNING || in->state == SVC_READY;
}

static enum MHD_Result h_ready(struct api *a, struct MHD_Connection *c)
{
    json_t *waiting = json_array();
    bool ready = !sup_shutting_down(a->sup);
    for (size_t i = 0; i < sup_count(a->sup); i++) {
        struct sup_info in;
        sup_info(a->sup, i, &in);
        if (!service_ready(&in)) {
            ready = false;
            json_array_append_new(waiting, json_pack("{s:s,s:s}", "name", in.name, "state",
                                                     sup_state_name(in.state)));
        }
    }
    return api_respond_json(
        c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
        json_pack("{s:s,s:o}", "status", ready ? "ready" : "not ready", "waiting", waiting));
}

static enum MHD_Result h_reload(struct api *a, struct MHD_Connection *c)
{
    json_t *summary = NULL, *body;
    struct diag dg;
    int err;
    if (!a->h.reload)
        return api_respond_error(c, MHD_HTTP_NOT_IMPLEMENTED, "not_implemented", NULL,
                                 "reload is not available");
    diag_clear(&dg);
    err = a->h.reload(a->h.ctx, &summary, &dg);
    if (err >= 0)
        return api_respond_json(c, MHD_HTTP_OK, summary ? summary : json_object());
    /* A config error names its place, as `corral check` would. */
    body = json_pack("{s:{s:s,s:s,s:s?,s:s?,s:i,s:i}}", "error", "code",
                     err == -EINVAL ? "config_invalid" : code_of(err), "message", dg.msg, "field",
                     dg.field[0] ? dg.field : NULL, "file", dg.file[0] ? dg.file : NULL, "line",
                     dg.line, "column", dg.col);
    return api_respond_json(c, err == -EINVAL ? MHD_HTTP_UNPROCESSABLE_CONTENT : status_of(err),
                            body);
}

enum MHD_Result api_dispatch(struct api *a, struct MHD_Connection *c, const struct api_route *r,
                             const struct api_req *req)
{
    switch (r->id) {
    case API_R_HEALTH_LIVE:
        return api_respond_json(c, MHD_HTTP_OK, json_pack("{s:s}", "status", "live"));
    case API_R_HEALTH_READY:
        return h_ready(a, c);
    case API_R_INFO:
        return h_info(a, c);
    case API_R_SERVICES:
        return h_services(a, c);
    case API_R_SERVICE: {
        struct sup_stats st;
        long i = service_index(a, c, r->service);
        if (i < 0)
            return MHD_YES;
        sup_stats(a->sup, (size_t)i, true, &st);
        return api_respond_json(c, MHD_HTTP_OK, api_service_full_json(a, (size_t)i, &st));
    }
    case API_R_START:
    case API_R_STOP:
    case API_R_RESTART:
        return h_control(a, c, r);
    case API_R_SIGNAL:
        return h_signal(a, c, r, req);
    case API_R_SERVICE_LOGS:
    case API_R_LOGS:
        return h_logs(a, c, r);
    case API_R_SERVICE_TREE:
    case API_R_TREE:
        return h_tree(a, c, r);
    case API_R_EVENTS:
        return h_events(a, c);
    case API_R_RESTART_MANY:
        return h_restart_many(a, c);
    case API_R_RELOAD:
        return h_reload(a, c);
    case API_R_SHUTDOWN:
        if (a->h.shutdown)
            a->h.shutdown(a->h.ctx);
        return api_respond_json(c, MHD_HTTP_ACCEPTED, json_pack("{s:s}", "status", "stopping"));
    case API_R_METRICS:
        return api_metrics_respond(a, c);
    case API_R__COUNT:
        break;
    }
    return api_respond_error(c, MHD_HTTP_NOT_FOUND, "not_found", NULL, "no such route");
}
