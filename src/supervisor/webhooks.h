/* supervisor/webhooks.h — the config's webhooks: each event they name is
 * POSTed as the JSON the event stream sends, through libcurl inside the loop
 * (health/http.h), with the webhook's timeout per attempt and up to its
 * retries after a failure (no answer, or a status outside 2xx), 1 s, 2 s,
 * 4 s ... up to 60 s apart.
 *
 * Nothing here can slow supervision: at most WEBHOOKS_RUNNING_MAX requests
 * are in flight, at most WEBHOOKS_QUEUE_MAX deliveries are held (waiting,
 * in flight or between retries), and past that the oldest waiting one is
 * dropped, counted and reported. A delivery that fails for good is reported
 * with the URL and why; an unreachable endpoint is never fatal. libcurl is
 * loaded at the first delivery, so a config without webhooks costs nothing. */
#ifndef CORRAL_SUPERVISOR_WEBHOOKS_H
#define CORRAL_SUPERVISOR_WEBHOOKS_H

#include "config/config.h"
#include "loop/loop.h"

#include <stdbool.h>
#include <stdint.h>

#define WEBHOOKS_RUNNING_MAX 4
#define WEBHOOKS_QUEUE_MAX   256
#define WEBHOOKS_BACKOFF_MS  1000 /* before the first retry; doubled for each next */
#define WEBHOOKS_BACKOFF_MAX 60000

/* What the runner has to say to the operator: kind is "webhook_failed" or
 * "webhooks_dropped", text the message. */
typedef void (*sup_webhook_report_fn)(void *ctx, const char *kind, const char *text);

struct sup_webhooks;

/* m is borrowed (see retarget). NULL on ENOMEM. */
struct sup_webhooks *sup_webhooks_new(struct loop *lp, const struct cfg_model *m,
                                      sup_webhook_report_fn report, void *ctx);
/* Cancels what is in flight and drops what waits, silently. NULL is a no-op. */
void sup_webhooks_free(struct sup_webhooks *w);
/* After a reload: new events go to m's webhooks; deliveries under way keep
 * their URL and settings (they are copied). */
void sup_webhooks_retarget(struct sup_webhooks *w, const struct cfg_model *m);

/* An event happened: queue a delivery to every webhook that asked for it.
 * kind is the API's name, service NULL for corral-wide events, json the
 * event as the API sent it (copied). */
void sup_webhooks_fire(struct sup_webhooks *w, const char *kind, const char *service,
                       const char *json);

/* Deliveries since corral started: answered with a 2xx, failed after their
 * retries, dropped from a full queue (or for want of memory). */
struct sup_webhook_counts {
    uint64_t delivered, failed, dropped;
};
void sup_webhooks_counts(const struct sup_webhooks *w, struct sup_webhook_counts *out);

/* True when nothing is in flight, waiting or due for a retry. */
bool sup_webhooks_idle(const struct sup_webhooks *w);
/* corral is about to end: no more retries; what is in flight and waiting is
 * sent once more, what is left after grace_ms is dropped; then done(ctx)
 * (at once when idle). */
void sup_webhooks_drain(struct sup_webhooks *w, uint64_t grace_ms, void (*done)(void *ctx),
                        void *ctx);

#endif
