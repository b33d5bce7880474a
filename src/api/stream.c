/* api/stream.c — responses that stay open (the event stream, followed logs).
 * Each has a bounded buffer: data goes in as it happens and out as fast as
 * the client reads; with nothing to send the connection is suspended (no
 * polling), and a client too slow to keep up loses data, which it is told
 * about, instead of holding corral's memory or loop. */
#include "api/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define STREAM_BLOCK 32768
#define PING_MS      15000 /* SSE comment, so proxies and clients see a live stream */

struct api_stream *api_stream_new(struct api *a, enum api_stream_kind kind)
{
    struct api_stream *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->api = a;
    st->kind = kind;
    return st;
}

static void stream_unlink(struct api_stream *st)
{
    struct api *a = st->api;
    if (st->prev)
        st->prev->next = st->next;
    else if (a->streams == st)
        a->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    st->prev = st->next = NULL;
}

static void stream_free(void *cls)
{
    struct api_stream *st = cls;
    struct api *a = st->api;
    loop_watch_del(a->lp, st->hup);
    stream_unlink(st);
    if (st->counted && --a->log_followers == 0 && a->h.want_output)
        a->h.want_output(a->h.ctx, false);
    free(st->want);
    free(st->only);
    free(st->buf);
    free(st);
}

static void wake(struct api_stream *st);

static void on_hup(struct loop *lp, int fd, uint32_t events, void *data)
{
    struct api_stream *st = data;
    (void)fd;
    (void)events;
    loop_watch_del(lp, st->hup);
    st->hup = NULL;
    st->gone = true;
    wake(st); /* its next read ends it, and libmicrohttpd frees it */
}

/* Watch the parked connection's socket for the client's hang-up. */
static void watch_hup(struct api_stream *st)
{
    const union MHD_ConnectionInfo *ci;
    if (st->hup || st->gone)
        return;
    ci = MHD_get_connection_info(st->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci)
        st->hup = loop_watch_add(st->api->lp, ci->connect_fd, EPOLLRDHUP, on_hup, st);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct api_stream *st = cls;
    (void)pos;
    if (st->gone)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (st->len > 0) {
        size_t n = st->len < max ? st->len : max;
        memcpy(buf, st->buf + st->off, n);
        st->off += n;
        st->len -= n;
        if (st->len == 0)
            st->off = 0;
        return (ssize_t)n;
    }
    if (!st->follow)
        return MHD_CONTENT_READER_END_OF_STREAM;
    /* Nothing to send: park the connection until api_stream_push(), or
     * until the client hangs up. */
    watch_hup(st);
    MHD_suspend_connection(st->conn);
    st->suspended = true;
    return 0;
}

static bool make_room(struct api_stream *st, size_t len)
{
    size_t cap;
    char *b;
    if (st->off + st->len + len <= st->cap)
        return true;
    if (st->off > 0) {
        memmove(st->buf, st->buf + st->off, st->len);
        st->off = 0;
        if (st->len + len <= st->cap)
            return true;
    }
    if (st->len + len > API_STREAM_BUFFER)
        return false;
    cap = st->cap ? st->cap : STREAM_BLOCK;
    while (cap < st->len + len)
        cap *= 2;
    if (cap > API_STREAM_BUFFER)
        cap = API_STREAM_BUFFER;
    b = realloc(st->buf, cap);
    if (!b)
        return false;
    st->buf = b;
    st->cap = cap;
    return true;
}

static void append(struct api_stream *st, const char *data, size_t len)
{
    memcpy(st->buf + st->off + st->len, data, len);
    st->len += len;
}

/* New data: a parked connection is resumed, and libmicrohttpd runs on the
 * next turn of the loop either way, since a connection that is not parked
 * may be waiting for a write-readiness edge that never comes. */
static void wake(struct api_stream *st)
{
    if (st->suspended) {
        st->suspended = false;
        MHD_resume_connection(st->conn);
    }
    api_poke_soon(st->api);
}

void api_stream_push(struct api_stream *st, const char *data, size_t len)
{
    if (len == 0)
        return;
    if (st->dropped) {
        char note[160];
        int n = st->sse ? snprintf(note, sizeof(note),
                                   "event: dropped\ndata: {\"dropped_bytes\":%llu}\n\n",
                                   (unsigned long long)st->dropped)
                        : snprintf(note, sizeof(note),
                                   "[corral: %llu bytes dropped, the client read too slowly]\n",
                                   (unsigned long long)st->dropped);
        if (!make_room(st, (size_t)n + len)) {
            st->dropped += len;
            return;
        }
        append(st, note, (size_t)n);
        st->dropped = 0;
    } else if (!make_room(st, len)) {
        st->dropped += len;
        return;
    }
    append(st, data, len);
    wake(st);
}

void api_ping(struct loop *lp, void *data)
{
    struct api *a = data;
    bool any = false;
    (void)lp;
    for (struct api_stream *st = a->streams; st; st = st->next)
        if (st->sse && st->follow) {
            api_stream_push(st, ":\n\n", 3);
            any = true;
        }
    if (any)
        loop_timer_arm(a->lp, &a->ping, PING_MS);
}

enum MHD_Result api_stream_start(struct api *a, struct MHD_Connection *c, struct api_stream *st)
{
    struct MHD_Response *resp;
    enum MHD_Result r;
    st->conn = c;
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, st,
                                             stream_free);
    if (!resp) {
        free(st->want);
        free(st->buf);
        free(st);
        return MHD_NO;
    }
    st->next = a->streams;
    if (a->streams)
        a->streams->prev = st;
    a->streams = st;
    if (st->kind == API_STREAM_LOGS && st->follow) {
        st->counted = true;
        if (a->log_followers++ == 0 && a->h.want_output)
            a->h.want_output(a->h.ctx, true);
    }
    if (st->sse && st->follow && !loop_timer_armed(&a->ping))
        loop_timer_arm(a->lp, &a->ping, PING_MS);
    if (st->follow) /* quiet streams are not idle connections */
        MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    MHD_add_response_header(resp, "Content-Type",
                            st->sse ? "text/event-stream" : "text/plain; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    r = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return r;
}

static bool wants_event(const struct api_stream *st, const char *service)
{
    char key[API_NAME_MAX + 3];
    if (!st->only)
        return true;
    if (!service)
        return false;
    snprintf(key, sizeof(key), ",%s,", service);
    return strstr(st->only, key) != NULL;
}

void api_streams_broadcast_event(struct api *a, uint64_t id, const char *service, const char *json)
{
    char head[48];
    int hn = snprintf(head, sizeof(head), "id: %llu\ndata: ", (unsigned long long)id);
    size_t jn = strlen(json);
    for (struct api_stream *st = a->streams; st; st = st->next) {
        if (st->kind != API_STREAM_EVENTS || !st->follow || id <= st->after_id ||
            !wants_event(st, service))
            continue;
        if (st->sse) {
            char *msg = malloc((size_t)hn + jn + 3);
            if (!msg)
                continue;
            memcpy(msg, head, (size_t)hn);
            memcpy(msg + hn, json, jn);
            memcpy(msg + hn + jn, "\n\n", 2);
            api_stream_push(st, msg, (size_t)hn + jn + 2);
            free(msg);
        } else {
            char *msg = malloc(jn + 1);
            if (!msg)
                continue;
            memcpy(msg, json, jn);
            msg[jn] = '\n';
            api_stream_push(st, msg, jn + 1);
            free(msg);
        }
    }
}

void api_streams_end(struct api *a, enum api_stream_kind kind)
{
    for (struct api_stream *st = a->streams; st; st = st->next)
        if (st->kind == kind && st->follow) {
            st->follow = false;
            wake(st);
        }
}

void api_streams_retarget(struct api *a, const struct cfg_model *old, const struct cfg_model *now)
{
    for (struct api_stream *st = a->streams; st; st = st->next) {
        bool *want, any = false;
        if (st->kind != API_STREAM_LOGS || !st->follow)
            continue;
        want = calloc(now->n_services + 1, sizeof(*want));
        for (size_t j = 0; want && j < now->n_services; j++) {
            long i = st->all ? -1 : cfg_find(old, now->services[j].name);
            want[j] = st->all || (i >= 0 && (size_t)i < st->n_want && st->want[i]);
            any = any || want[j];
        }
        free(st->want);
        st->want = want;
        st->n_want = want ? now->n_services : 0;
        if (!any) { /* its services were removed (or no memory): nothing to follow */
            st->follow = false;
            wake(st);
        }
    }
}

void api_streams_end_all(struct api *a)
{
    api_streams_end(a, API_STREAM_EVENTS);
    api_streams_end(a, API_STREAM_LOGS);
    api_poke(a);
}
