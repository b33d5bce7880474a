/* api/route.h — the API's routes as pure functions: method + path to a route,
 * query values and request bodies to checked parameters. Nothing here touches
 * the network or the supervisor, so it can be unit-tested and fuzzed. */
#ifndef CORRAL_API_ROUTE_H
#define CORRAL_API_ROUTE_H

#include "api/events.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_NAME_MAX  128
#define API_BODY_MAX  (64 * 1024)
#define API_TAIL_MAX  100000
#define API_NAMES_MAX 64

enum api_route_id {
    API_R_HEALTH_LIVE,
    API_R_HEALTH_READY,
    API_R_INFO,     /* GET /v1 */
    API_R_SERVICES, /* GET /v1/services */
    API_R_SERVICE,  /* GET /v1/services/NAME */
    API_R_START,    /* POST /v1/services/NAME/start */
    API_R_STOP,
    API_R_RESTART,
    API_R_SIGNAL,       /* POST /v1/services/NAME/signal {"signal": "HUP"} */
    API_R_SERVICE_LOGS, /* GET /v1/services/NAME/logs */
    API_R_SERVICE_TREE, /* GET /v1/services/NAME/tree */
    API_R_LOGS,         /* GET /v1/logs?service=a,b */
    API_R_TREE,         /* GET /v1/tree */
    API_R_EVENTS,       /* GET /v1/events */
    API_R_RESTART_MANY, /* POST /v1/restart?service=a,b */
    API_R_RELOAD,       /* POST /v1/reload */
    API_R_SHUTDOWN,     /* POST /v1/shutdown */
    API_R_METRICS,      /* GET /metrics, Prometheus text */
    API_R__COUNT
};

struct api_route {
    enum api_route_id id;
    char service[API_NAME_MAX]; /* for the /v1/services/NAME/... routes */
};

/* 0 and r filled, or an HTTP status: 404 (no such route; msg says why) or
 * 405 (*allow names the method the route takes). */
int api_route_match(const char *method, const char *path, struct api_route *r, const char **allow,
                    const char **msg);

/* A service name as the config allows it: [A-Za-z0-9_.-], 1..API_NAME_MAX-1. */
bool api_name_valid(const char *s);

/* A decimal in [0, max]; NULL (absent) gives def. 0 or -EINVAL. */
int api_parse_uint(const char *s, uint64_t max, uint64_t def, uint64_t *out);
/* An instant in RFC 3339: "2026-11-29T10:00:00Z", with an optional fraction
 * of a second (".250") and "Z" or an offset ("+01:00"); years 1970 to 9999.
 * 0 and *ms since the epoch, or -EINVAL. */
int api_parse_time(const char *s, int64_t *ms);
/* The bounds of an event query: since (or last_id, the Last-Event-ID header,
 * which wins), until, since_time, until_time; each NULL when absent. Any u64
 * is an id bound but until=0, which no id is below. 0, or -EINVAL with
 * *field naming the parameter at fault ("since" for last_id too). */
int api_parse_event_bounds(const char *since, const char *last_id, const char *until,
                           const char *since_time, const char *until_time,
                           struct api_event_bounds *b, const char **field);
/* "1", "true", "yes" / "0", "false", "no"; NULL gives def. 0 or -EINVAL. */
int api_parse_flag(const char *s, bool def, bool *out);
/* "a,b,c" into names (pointers into buf, which receives a copy of s). Returns
 * the count, or -EINVAL (bad name) / -E2BIG. */
int api_parse_names(const char *s, char *buf, size_t size, const char **names, size_t max);

/* {"signal": "HUP"} or {"signal": 1}: 0 and *sig, or -EINVAL with msg. */
int api_parse_signal_body(const char *body, size_t len, int *sig, char *msg, size_t msg_size);

/* Bearer-token check in constant time over the expected token's length. */
bool api_token_ok(const char *authorization, const char *token);

#endif
