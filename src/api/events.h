/* api/events.h — the bounded in-memory history of events, each a JSON text
 * with an id that only grows, so that a client can resume after the last id it
 * saw (SSE Last-Event-ID) for as long as that event is still retained. */
#ifndef CORRAL_API_EVENTS_H
#define CORRAL_API_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_EVENTS_KEEP      1000  /* in memory; also the default limit of a request */
#define API_EVENTS_LIMIT_MAX 10000 /* events one request may ask for */

struct api_event_rec {
    uint64_t id;
    int64_t time_ms; /* wall clock */
    char *service;   /* NULL for corral's own events */
    char *json;      /* one line, no newline */
};

struct api_events {
    /* API_EVENTS_KEEP records, malloc'd: only those written are ever read,
     * and pages not yet written are not yet the process's to fault in. */
    struct api_event_rec *ring;
    size_t head; /* index of the oldest */
    size_t n;
    uint64_t next_id;  /* the first event gets id 1 */
    uint64_t recorded; /* by this corral: next_id also counts the history's */
};

/* Which events a query takes, by id and time. Every u64 is an id bound and
 * every instant a time bound, so that a bound given is never read as none:
 * whether an upper bound was given is said apart. */
struct api_event_bounds {
    uint64_t after_id;  /* ids above this (0: from the first) */
    uint64_t before_id; /* ids below this, when has_before */
    int64_t from_ms;    /* times at or after this */
    int64_t to_ms;      /* times before this, when has_to */
    bool has_before;
    bool has_to;
};

/* Whether an event of this id and time lies within b. */
bool api_events_within(const struct api_event_bounds *b, uint64_t id, int64_t time_ms);

/* 0, or -ENOMEM. */
int api_events_init(struct api_events *ev);
void api_events_free(struct api_events *ev);
/* Takes ownership of json (malloc'd), copies service (may be NULL); returns
 * the id given to it, 0 on ENOMEM. */
uint64_t api_events_add(struct api_events *ev, char *json, int64_t time_ms, const char *service);
/* The k-th retained event, oldest first, k < ev->n. */
const struct api_event_rec *api_events_at(const struct api_events *ev, size_t k);
/* Index (for api_events_at) of the first event with an id greater than
 * after; ev->n when there is none. */
size_t api_events_after(const struct api_events *ev, uint64_t after);

#endif
