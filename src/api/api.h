/* api/api.h — the control API: HTTP/1.1 + JSON on <state_dir>/corral.sock
 * (owner only) and optionally on TCP with a bearer token, served by
 * libmicrohttpd inside corral's one event loop. Routes: docs/api.md. */
#ifndef CORRAL_API_API_H
#define CORRAL_API_API_H

#include "config/config.h"
#include "logs/logs.h"
#include "loop/loop.h"
#include "supervisor/sup.h"
#include "util/diag.h"

#include <stdbool.h>
#include <stddef.h>

struct json_t;

struct api_hooks {
    /* POST /v1/reload: re-read the config. 0 and *summary (a JSON object the
     * API returns and then releases), or -errno with dg filled; on error
     * nothing may have changed. */
    int (*reload)(void *ctx, struct json_t **summary, struct diag *dg);
    /* POST /v1/shutdown. */
    void (*shutdown)(void *ctx);
    /* Someone started, stopped or restarted a service through the API. */
    void (*controlled)(void *ctx);
    /* Service output lines are wanted (a client follows logs) or no longer. */
    void (*want_output)(void *ctx, bool on);
    /* The HTTP server, started at the first connection, could not start:
     * corral cannot be controlled, why says what failed. */
    void (*broken)(void *ctx, const char *why);
    /* For /metrics: the webhooks' deliveries so far (optional). */
    void (*webhook_counts)(void *ctx, uint64_t *delivered, uint64_t *failed, uint64_t *dropped);
    void *ctx;
};

struct api;

/* Listen on TCP when m->api.listen is set and serve requests from lp; the
 * HTTP server itself starts at the first connection. s and m are borrowed;
 * api_retarget() replaces them after a reload. NULL with dg filled on failure
 * (e.g. the socket path is too long, the TCP port is taken). started_at is
 * corral's start (realtime seconds). */
struct api *api_new(struct loop *lp, struct sup *s, const struct cfg_model *m,
                    const struct api_hooks *h, long long started_at, struct diag *dg);
/* Listen on <state_dir>/corral.sock too: put off until the first services are
 * spawned, since making the socket's file is among the costliest steps of a
 * start. -1 with dg filled on failure. */
int api_listen(struct api *a, struct diag *dg);
/* Closes every connection and removes the socket file. NULL is a no-op. */
void api_free(struct api *a);
void api_retarget(struct api *a, struct sup *s, const struct cfg_model *m);

/* Keep every event in st (state.db) too, written in batches within 50 ms,
 * the newest api.events_keep of them, and answer requests for events older
 * than the in-memory ring from it. Event ids go on after the last stored one,
 * and a "corral_started" event is recorded. warn(ctx, msg) is told once when
 * writing starts to fail and once when it works again; supervision goes on
 * either way. st must outlive a: api_free() records "corral_stopped" and
 * writes what is pending. */
struct store;
void api_keep_history(struct api *a, struct store *st, void (*warn)(void *ctx, const char *msg),
                      void *ctx);

/* Note corral_started now, before a state.db that does not exist yet is
 * made and attached (it can hold no previous corral to speak of). */
void api_note_started(struct api *a);

/* The event's kind as the API names it ("gave_up"); NULL when out of range. */
const char *api_event_name(enum sup_event_kind kind);

/* Record a supervisor event in the history and send it to event streams.
 * Returns the event as recorded (the JSON the streams send, with id and
 * time), borrowed until the next event, or NULL when it could not be. */
const char *api_event(struct api *a, const struct sup_event *ev);
/* Record a corral-wide event (kind such as "reload"), text may be NULL. */
void api_note(struct api *a, const char *kind, const char *text);
/* A line of a service's output, for clients following its logs; when: the
 * time its log file gives it. */
void api_output(struct api *a, const char *service, enum logs_stream st, const char *line,
                size_t len, bool complete, const struct timespec *when);
/* True while some client follows logs, i.e. api_output() is wanted. */
bool api_wants_output(const struct api *a);

#endif
