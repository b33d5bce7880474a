/* api/internal.h — shared by the api/ files only. */
#ifndef CORRAL_API_INTERNAL_H
#define CORRAL_API_INTERNAL_H

#include "api/api.h"
#include "api/events.h"
#include "api/mhdfn.h"
#include "api/route.h"
#include "store/store.h"

#include <jansson.h>
#include <limits.h>

#define API_TOKEN_LEN     64 /* hex characters */
#define API_STREAM_BUFFER (1024 * 1024)
#define API_TRIM_AFTER_MS 1000 /* after the last request, see server.c on_trim() */

enum api_stream_kind { API_STREAM_EVENTS, API_STREAM_LOGS };

/* A response that stays open: the event stream or followed logs. Data is
 * queued here and handed to libmicrohttpd when the socket takes it; a client
 * that reads too slowly loses data (counted and told), never stalls corral. */
struct api_stream {
    struct api *api;
    struct MHD_Connection *conn;
    struct api_stream *prev, *next;
    enum api_stream_kind kind;
    bool sse;
    bool follow;    /* else the stream ends once the buffer is sent */
    bool suspended; /* waiting for data */
    bool counted;   /* in api.log_followers */
    bool prefix;    /* text logs of several services: "name | line" */
    int width;      /* of the name column */
    bool *want;     /* per service index, for logs */
    size_t n_want;
    bool all;   /* logs of every service, those a reload adds included */
    char *only; /* events: ",a,b," for service=a,b; NULL = every event */
    /* events: since= (or Last-Event-ID); a new event at or below it is
     * skipped too, as the history's are. */
    uint64_t after_id;
    char *buf;
    size_t off, len, cap;
    uint64_t dropped;
    /* The client's socket, watched for its hang-up while the connection is
     * parked: libmicrohttpd looks at no parked connection, and a client gone
     * from a quiet stream would keep its slot for ever. */
    struct loop_watch *hup;
    bool gone; /* the client hung up: the stream ends */
};

struct api_listener {
    struct api *api;
    struct MHD_Daemon *d;
    struct loop_watch *watch; /* the listening socket's until the first client, then MHD's */
    int fd;                   /* the listening socket until the server takes it; -1 after */
    bool tcp;
};

/* The event history in state.db (history.c). */
struct api_history {
    struct store *store;         /* NULL: the ring is all there is */
    struct store_event *pending; /* written at the next turn of the loop; owns its strings */
    size_t n_pending, cap_pending;
    struct loop_timer flush;
    bool failing;       /* the last write failed, and that was reported */
    bool dropping;      /* events are being lost, and that was reported */
    bool started_noted; /* corral_started is in the ring already */
    void (*warn)(void *ctx, const char *msg);
    void *warn_ctx;
};

/* What GET /v1/events asks for. */
struct api_events_query {
    struct api_event_bounds b; /* since (Last-Event-ID), until, since_time, until_time */
    const char *const *services;
    size_t n_services;
    size_t limit; /* the newest this many of those that match */
};

struct api_history_item {
    uint64_t id;
    char *json;
    bool owned; /* else borrowed from the ring */
};

/* Oldest first. */
struct api_history_list {
    struct api_history_item *items;
    size_t n, cap;
    bool more; /* older events match too */
};

struct api {
    struct loop *lp;
    struct sup *sup;
    const struct cfg_model *m;
    struct api_hooks h;
    struct api_listener unix_l;
    struct api_listener tcp_l;
    struct loop_timer mhd_timer; /* libmicrohttpd's own timeouts */
    struct loop_timer trim;      /* gives the heap of big answers back (server.c) */
    struct loop_timer ping;      /* SSE keep-alive, only while a stream is open */
    struct api_stream *streams;
    unsigned log_followers;
    struct api_events ev;
    struct api_history hist;
    long long started_at;
    char token[API_TOKEN_LEN + 1];
    char sock_path[PATH_MAX]; /* <state_dir>/corral.sock */
    bool sock_bound;          /* its file is ours, removed at the end */
};

/* One request in progress (MHD's per-request context). */
struct api_req {
    char *body;
    size_t len;
    bool too_big;
};

/* server.c */
enum MHD_Result api_respond_json(struct MHD_Connection *c, unsigned status, json_t *body);
/* Takes text (malloc'd), also on failure. */
enum MHD_Result api_respond_text(struct MHD_Connection *c, unsigned status, char *text, size_t len,
                                 const char *content_type);
enum MHD_Result api_respond_error(struct MHD_Connection *c, unsigned status, const char *code,
                                  const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Run libmicrohttpd now (after a resume) and re-arm its timer. */
void api_poke(struct api *a);
/* The same, from the next turn of the loop. */
void api_poke_soon(struct api *a);

/* handlers.c */
enum MHD_Result api_dispatch(struct api *a, struct MHD_Connection *c, const struct api_route *r,
                             const struct api_req *req);
json_t *api_service_json(const struct api *a, size_t i);

/* resources.c */
json_t *api_stats_json(const struct sup_stats *st);
/* One service with its limits, and its stats when st is given. */
json_t *api_service_full_json(const struct api *a, size_t i, const struct sup_stats *st);
/* The cgroup controllers (enum health_ctrl bits) by name. */
json_t *api_controllers_json(int bits);
/* GET /metrics: every tree sampled, Prometheus text. */
enum MHD_Result api_metrics_respond(struct api *a, struct MHD_Connection *c);

/* stream.c */
/* Queue a streaming response on c; the stream is owned by the response. */
enum MHD_Result api_stream_start(struct api *a, struct MHD_Connection *c, struct api_stream *st);
struct api_stream *api_stream_new(struct api *a, enum api_stream_kind kind);
void api_stream_push(struct api_stream *st, const char *data, size_t len);
/* Push to every event stream that wants service's events (NULL: corral's). */
void api_streams_broadcast_event(struct api *a, uint64_t id, const char *service, const char *json);
/* End the followed streams of one kind once what they hold is sent. */
void api_streams_end(struct api *a, enum api_stream_kind kind);
/* After a reload, followed logs go on for the same names in the new model
 * (their want[] is by index); a stream left with none of its services ends. */
void api_streams_retarget(struct api *a, const struct cfg_model *old, const struct cfg_model *now);
/* Resume every suspended stream so that libmicrohttpd can close them. */
void api_streams_end_all(struct api *a);
void api_ping(struct loop *lp, void *data);

/* history.c */
void api_history_init(struct api *a);
/* Records "corral_stopped" and writes what is pending. */
void api_history_free(struct api *a);
/* What state.db keeps of an event besides its JSON text. */
struct api_event_fields {
    const char *kind;
    const char *service; /* NULL for corral's own events */
    const char *text;
    pid_t pid;
    bool exited; /* exit_code is one */
    int exit_code;
};
/* Queue the event f (its JSON text json) for state.db. */
void api_history_queue(struct api *a, const struct api_event_fields *f, uint64_t id,
                       int64_t time_ms, const char *json);
/* The events q asks for, from the ring and, further back, state.db. 0 or
 * -ENOMEM; free l with api_history_list_free() either way. */
int api_history_collect(struct api *a, const struct api_events_query *q,
                        struct api_history_list *l);
void api_history_list_free(struct api_history_list *l);

#endif
