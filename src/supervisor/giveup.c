/* supervisor/giveup.c — what follows when the restart policy runs out: the
 * give-up, the retry after restart.retry_after (and its cancellation), and
 * the stable run that resets the backoff and is reported as recovered. */
#include "supervisor/internal.h"

#include <stdio.h>

int64_t svc_retry_in_ms(const struct service *svc)
{
    uint64_t now = loop_now_ms();
    if (!svc->retry_pending)
        return -1;
    return svc->retry_due_ms > now ? (int64_t)(svc->retry_due_ms - now) : 0;
}

void retry_arm(struct service *svc)
{
    struct sup *s = svc->sup;
    uint64_t delay = sup_retry_delay_ms(&svc->cfg->restart);
    if (!delay || s->shutting_down || svc->want_stop || svc->operator_stopped)
        return;
    svc->retry_pending = true;
    svc->retry_due_ms = loop_now_ms() + delay;
    loop_timer_arm(s->lp, &svc->timer, delay);
}

bool retry_cancel(struct service *svc)
{
    if (!svc->retry_pending)
        return false;
    svc->retry_pending = false;
    loop_timer_disarm(svc->sup->lp, &svc->timer);
    return true;
}

void svc_give_up(struct service *svc)
{
    struct sup_event ev;
    svc->giving_up = false;
    svc->gave_up = true;
    svc->unstable = true;
    retry_arm(svc);
    svc_fail(svc, "%s", svc_reason(svc));
    ev = svc_event(SUP_EV_GAVE_UP, svc, 0, svc_reason(svc));
    sup_emit_event(svc->sup, &ev);
}

void svc_retry_now(struct service *svc)
{
    struct sup_event ev;
    svc->retry_pending = false;
    svc->attempt = 0;
    svc_set_reason(svc, "%s", ""); /* the give-up's, stale once it runs again */
    svc_set_state(svc, SVC_WAITING);
    ev = svc_event(SUP_EV_RESTARTING, svc, 0, "retry after giving up");
    sup_emit_event(svc->sup, &ev);
}

void svc_run_stable(struct service *svc)
{
    char text[128];
    svc->attempt = 0;
    sup_window_reset(&svc->window);
    if (!svc->unstable)
        return;
    if (svc->gave_up)
        snprintf(text, sizeof(text), "running again after giving up (%u restarts)",
                 svc->unstable_restarts);
    else
        snprintf(text, sizeof(text), "running stably after %u restart%s", svc->unstable_restarts,
                 svc->unstable_restarts == 1 ? "" : "s");
    svc->unstable = false;
    svc->gave_up = false;
    svc->unstable_restarts = 0;
    sup_emit(svc->sup, SUP_EV_RECOVERED, svc, svc->pid, text);
}
