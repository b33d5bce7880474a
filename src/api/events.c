/* api/events.c — a ring of the last API_EVENTS_KEEP events. */
#include "api/events.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int api_events_init(struct api_events *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->next_id = 1;
    ev->ring = malloc(API_EVENTS_KEEP * sizeof(*ev->ring));
    return ev->ring ? 0 : -ENOMEM;
}

void api_events_free(struct api_events *ev)
{
    for (size_t k = 0; k < ev->n; k++) {
        free(ev->ring[(ev->head + k) % API_EVENTS_KEEP].json);
        free(ev->ring[(ev->head + k) % API_EVENTS_KEEP].service);
    }
    ev->n = 0;
    free(ev->ring);
    ev->ring = NULL;
}

uint64_t api_events_add(struct api_events *ev, char *json, int64_t time_ms, const char *service)
{
    struct api_event_rec *slot;
    char *svc = service ? strdup(service) : NULL;
    if (!json || (service && !svc)) {
        free(json);
        free(svc);
        return 0;
    }
    if (ev->n == API_EVENTS_KEEP) {
        free(ev->ring[ev->head].json);
        free(ev->ring[ev->head].service);
        ev->head = (ev->head + 1) % API_EVENTS_KEEP;
        ev->n--;
    }
    slot = &ev->ring[(ev->head + ev->n) % API_EVENTS_KEEP];
    slot->id = ev->next_id++;
    ev->recorded++;
    slot->json = json;
    slot->time_ms = time_ms;
    slot->service = svc;
    ev->n++;
    return slot->id;
}

const struct api_event_rec *api_events_at(const struct api_events *ev, size_t k)
{
    return &ev->ring[(ev->head + k) % API_EVENTS_KEEP];
}

size_t api_events_after(const struct api_events *ev, uint64_t after)
{
    /* Ids are consecutive within the ring: no search needed. */
    uint64_t first;
    if (ev->n == 0)
        return 0;
    first = api_events_at(ev, 0)->id;
    if (after < first)
        return 0;
    if (after - first + 1 >= ev->n)
        return ev->n;
    return (size_t)(after - first + 1);
}

bool api_events_within(const struct api_event_bounds *b, uint64_t id, int64_t time_ms)
{
    return id > b->after_id && (!b->has_before || id < b->before_id) && time_ms >= b->from_ms &&
           (!b->has_to || time_ms < b->to_ms);
}
