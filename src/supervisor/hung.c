/* supervisor/hung.c — hang detection: a service whose tree stays above
 * hung.cpu_above for hung.for is hung, reported as unhealthy and (unless
 * restart: false) restarted through its policy like a failing liveness probe.
 * The trees are sampled only while a running service has the rule, by one
 * timer for all of them, a few times per `for`, so a 5m rule costs a sample
 * every 5 s and none when no such service runs. */
#include "supervisor/internal.h"

#include <stdio.h>
#include <string.h>

#define HUNG_SAMPLE_MIN_MS 250
#define HUNG_SAMPLE_MAX_MS 5000
#define HUNG_SAMPLES_PER   4 /* samples within one `for` */

static bool watched(const struct service *svc)
{
    return svc->cfg->hung.cpu_above && svc_up(svc) && svc->pid > 0;
}

static uint64_t period_ms(const struct sup *s)
{
    uint64_t p = HUNG_SAMPLE_MAX_MS;
    for (size_t i = 0; i < s->n; i++)
        if (watched(s->svcs[i]) && s->svcs[i]->cfg->hung.for_ms / HUNG_SAMPLES_PER < p)
            p = s->svcs[i]->cfg->hung.for_ms / HUNG_SAMPLES_PER;
    return p < HUNG_SAMPLE_MIN_MS ? HUNG_SAMPLE_MIN_MS : p;
}

static void check(struct service *svc, const struct sup_stats *st)
{
    const struct cfg_hung *h = &svc->cfg->hung;
    uint64_t now = loop_now_ms();
    char reason[SUP_REASON_MAX], t[32];
    if (!st->cpu_percent_ok)
        return; /* the first sample of a run: no rate yet */
    if (st->cpu_percent < (double)h->cpu_above) {
        /* A stretch that was told of (restart: false) is over: status no
         * longer says it is hung. */
        if (svc->hung_told && !h->restart && !strncmp(svc_reason(svc), "hung: ", 6))
            svc_set_reason(svc, "%s", "");
        svc->hung_since_ms = 0;
        svc->hung_told = false;
        return;
    }
    if (!svc->hung_since_ms)
        svc->hung_since_ms = now;
    if (svc->hung_told || now - svc->hung_since_ms < h->for_ms)
        return;
    svc->hung_told = true;
    cfg_format_duration(h->for_ms, t, sizeof(t));
    snprintf(reason, sizeof(reason), "hung: CPU above %u%% for %s (%.0f%% now)", h->cpu_above, t,
             st->cpu_percent);
    if (h->restart) {
        ready_fault(svc, reason);
    } else {
        svc_set_reason(svc, "%s", reason); /* status says so while it lasts */
        sup_emit(svc->sup, SUP_EV_UNHEALTHY, svc, svc->pid, reason);
    }
}

static void on_tick(struct loop *lp, void *data)
{
    struct sup *s = data;
    stats_sample_each(s, watched, check);
    for (size_t i = 0; i < s->n; i++)
        if (watched(s->svcs[i])) {
            loop_timer_arm(lp, &s->hung_timer, period_ms(s));
            return;
        }
}

void hung_sup_init(struct sup *s)
{
    loop_timer_init(&s->hung_timer, on_tick, s);
}

void hung_sup_free(struct sup *s)
{
    loop_timer_disarm(s->lp, &s->hung_timer);
}

void hung_started(struct service *svc)
{
    struct sup *s = svc->sup;
    svc->hung_since_ms = 0;
    svc->hung_told = false;
    if (!svc->cfg->hung.cpu_above)
        return;
    /* A first sample now, so that the next one has a rate to compare. */
    if (!loop_timer_armed(&s->hung_timer) || s->hung_timer.due_ms > loop_now_ms() + period_ms(s))
        loop_timer_arm(s->lp, &s->hung_timer, 0);
}
