/* supervisor/webhooks.c — deliveries of events to URLs (see webhooks.h). */
#include "supervisor/webhooks.h"

#include "health/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One event for one webhook, from queued to delivered or given up. */
struct delivery {
    struct sup_webhooks *w;
    struct delivery *prev, *next; /* in the queue, oldest first */
    char *url;
    char *json;
    uint64_t timeout_ms;
    unsigned retries_left;
    unsigned attempts;
    struct http_req *req;    /* while in flight */
    struct loop_timer retry; /* while waiting to try again */
    char last[160];          /* the last failure, in words */
};

struct sup_webhooks {
    struct loop *lp;
    const struct cfg_model *m;
    sup_webhook_report_fn report;
    void *ctx;
    struct http_client *http; /* at the first delivery */
    bool http_failed;
    struct delivery *head, *tail;
    size_t held, in_flight;
    uint64_t dropped, dropped_told;
    uint64_t delivered, failed; /* for good, after the retries */
    bool draining;
    bool pumping, repump; /* pump() is not re-entered: it scans again instead */
    void (*done)(void *ctx);
    void *done_ctx;
    struct loop_timer grace;
};

static void pump(struct sup_webhooks *w);

static void say(struct sup_webhooks *w, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(struct sup_webhooks *w, const char *kind, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (w->report)
        w->report(w->ctx, kind, text);
}

static void unlink_delivery(struct delivery *d)
{
    struct sup_webhooks *w = d->w;
    if (d->prev)
        d->prev->next = d->next;
    else
        w->head = d->next;
    if (d->next)
        d->next->prev = d->prev;
    else
        w->tail = d->prev;
    w->held--;
}

static void delivery_free(struct delivery *d)
{
    struct sup_webhooks *w = d->w;
    if (d->req) {
        http_cancel(d->req);
        w->in_flight--;
    }
    loop_timer_disarm(w->lp, &d->retry);
    unlink_delivery(d);
    free(d->url);
    free(d->json);
    free(d);
}

static void check_done(struct sup_webhooks *w)
{
    void (*done)(void *) = w->done;
    if (!w->draining || w->held || !done)
        return;
    w->done = NULL;
    loop_timer_disarm(w->lp, &w->grace);
    done(w->done_ctx);
}

static void finished(struct delivery *d)
{
    struct sup_webhooks *w = d->w;
    delivery_free(d);
    if (w->dropped > w->dropped_told && !w->held) {
        say(w, "webhooks_dropped", "%llu webhook deliveries were dropped: the queue was full",
            (unsigned long long)(w->dropped - w->dropped_told));
        w->dropped_told = w->dropped;
    }
    pump(w);
    check_done(w);
}

static void on_retry(struct loop *lp, void *data)
{
    (void)lp;
    pump(((struct delivery *)data)->w);
}

static void failed(struct delivery *d, const char *why)
{
    struct sup_webhooks *w = d->w;
    uint64_t delay = WEBHOOKS_BACKOFF_MS;
    snprintf(d->last, sizeof(d->last), "%s", why);
    if (!d->retries_left || w->draining) {
        char url[1024];
        w->failed++;
        cfg_url_redact(d->url, url, sizeof(url));
        say(w, "webhook_failed", "webhook %s failed after %u attempt%s: %s", url, d->attempts,
            d->attempts == 1 ? "" : "s", why);
        finished(d);
        return;
    }
    d->retries_left--;
    for (unsigned i = 1; i < d->attempts && delay < WEBHOOKS_BACKOFF_MAX; i++)
        delay *= 2;
    loop_timer_arm(w->lp, &d->retry, delay < WEBHOOKS_BACKOFF_MAX ? delay : WEBHOOKS_BACKOFF_MAX);
    pump(w);
}

static void on_answer(void *ctx, const struct http_answer *a)
{
    struct delivery *d = ctx;
    char why[160];
    d->req = NULL;
    d->w->in_flight--;
    if (a->ok && a->status >= 200 && a->status < 300) {
        d->w->delivered++;
        finished(d);
        return;
    }
    if (a->ok)
        snprintf(why, sizeof(why), "answered %ld", a->status);
    else
        snprintf(why, sizeof(why), "%s", a->error);
    failed(d, why);
}

static struct http_client *client(struct sup_webhooks *w)
{
    char why[256];
    if (!w->http && !w->http_failed && !(w->http = http_client_new(w->lp, why, sizeof(why)))) {
        w->http_failed = true;
        say(w, "webhook_failed", "webhooks cannot be sent: %s", why);
    }
    return w->http;
}

static void send_one(struct delivery *d)
{
    struct sup_webhooks *w = d->w;
    struct http_request r = {
        .url = d->url, .body = d->json, .body_len = strlen(d->json), .timeout_ms = d->timeout_ms};
    struct http_client *c = client(w);
    char why[256];
    d->attempts++;
    if (!c) {
        failed(d, "libcurl cannot be loaded");
        return;
    }
    d->req = http_start(c, &r, on_answer, d, why, sizeof(why));
    if (!d->req) {
        failed(d, why);
        return;
    }
    w->in_flight++;
}

/* Oldest first: start what waits (not for a retry timer) while there is
 * room. A send may end its delivery at once (freed), so each one is
 * followed by a fresh scan; every scan starts, retries or ends one, or
 * stops. */
static void pump(struct sup_webhooks *w)
{
    if (w->pumping) {
        w->repump = true;
        return;
    }
    w->pumping = true;
    do {
        w->repump = false;
        for (struct delivery *d = w->head; d && w->in_flight < WEBHOOKS_RUNNING_MAX; d = d->next)
            if (!d->req && !loop_timer_armed(&d->retry)) {
                send_one(d);
                w->repump = true;
                break;
            }
    } while (w->repump && w->in_flight < WEBHOOKS_RUNNING_MAX);
    w->pumping = false;
}

static bool wants(const struct cfg_webhook *wh, const char *kind, const char *service)
{
    bool on = false;
    for (size_t i = 0; i < wh->n_on && !on; i++)
        on = strcmp(wh->on[i], kind) == 0;
    if (!on || !wh->n_services)
        return on;
    for (size_t i = 0; service && i < wh->n_services; i++)
        if (strcmp(wh->services[i], service) == 0)
            return true;
    return false;
}

/* The oldest delivery not in flight makes room; none: the new one is dropped. */
static bool make_room(struct sup_webhooks *w)
{
    for (struct delivery *d = w->head; d; d = d->next)
        if (!d->req) {
            delivery_free(d);
            w->dropped++;
            return true;
        }
    w->dropped++;
    return false;
}

static void enqueue(struct sup_webhooks *w, const struct cfg_webhook *wh, const char *json)
{
    struct delivery *d;
    if (w->held >= WEBHOOKS_QUEUE_MAX && !make_room(w))
        return;
    if (w->dropped > w->dropped_told && w->dropped == w->dropped_told + 1)
        say(w, "webhooks_dropped", "webhook queue full (%d): dropping the oldest deliveries",
            WEBHOOKS_QUEUE_MAX);
    d = calloc(1, sizeof(*d));
    if (!d || !(d->url = strdup(wh->url)) || !(d->json = strdup(json))) {
        if (d) {
            free(d->url);
            free(d);
        }
        w->dropped++;
        return;
    }
    d->w = w;
    d->timeout_ms = wh->timeout_ms;
    d->retries_left = wh->retries;
    loop_timer_init(&d->retry, on_retry, d);
    d->prev = w->tail;
    if (w->tail)
        w->tail->next = d;
    else
        w->head = d;
    w->tail = d;
    w->held++;
}

void sup_webhooks_fire(struct sup_webhooks *w, const char *kind, const char *service,
                       const char *json)
{
    if (!w || !json || w->draining)
        return;
    for (size_t i = 0; i < w->m->n_webhooks; i++)
        if (wants(&w->m->webhooks[i], kind, service))
            enqueue(w, &w->m->webhooks[i], json);
    pump(w);
}

bool sup_webhooks_idle(const struct sup_webhooks *w)
{
    return !w || !w->held;
}

static void on_grace(struct loop *lp, void *data)
{
    struct sup_webhooks *w = data;
    (void)lp;
    if (w->held)
        say(w, "webhook_failed", "%zu webhook deliveries dropped: corral is ending", w->held);
    while (w->head)
        delivery_free(w->head);
    check_done(w);
}

void sup_webhooks_drain(struct sup_webhooks *w, uint64_t grace_ms, void (*done)(void *ctx),
                        void *ctx)
{
    if (!w) {
        done(ctx);
        return;
    }
    w->draining = true;
    w->done = done;
    w->done_ctx = ctx;
    /* No more waiting between retries: each gets one more attempt now. */
    for (struct delivery *d = w->head; d; d = d->next)
        loop_timer_disarm(w->lp, &d->retry);
    pump(w);
    if (w->held)
        loop_timer_arm(w->lp, &w->grace, grace_ms);
    check_done(w);
}

struct sup_webhooks *sup_webhooks_new(struct loop *lp, const struct cfg_model *m,
                                      sup_webhook_report_fn report, void *ctx)
{
    struct sup_webhooks *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->lp = lp;
    w->m = m;
    w->report = report;
    w->ctx = ctx;
    loop_timer_init(&w->grace, on_grace, w);
    return w;
}

void sup_webhooks_retarget(struct sup_webhooks *w, const struct cfg_model *m)
{
    if (w)
        w->m = m;
}

void sup_webhooks_free(struct sup_webhooks *w)
{
    if (!w)
        return;
    while (w->head)
        delivery_free(w->head);
    loop_timer_disarm(w->lp, &w->grace);
    http_client_free(w->http);
    free(w);
}

void sup_webhooks_counts(const struct sup_webhooks *w, struct sup_webhook_counts *out)
{
    *out = (struct sup_webhook_counts){0};
    if (!w)
        return;
    out->delivered = w->delivered;
    out->failed = w->failed;
    out->dropped = w->dropped;
}
