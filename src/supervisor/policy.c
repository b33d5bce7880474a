/* supervisor/policy.c — restart decisions, backoff and the give-up window. */
#include "supervisor/policy.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

int sup_exit_code(int cld_code, int status)
{
    if (cld_code == CLD_EXITED)
        return status;
    return 128 + status; /* killed or dumped: as a shell reports it */
}

bool sup_exit_success(const struct cfg_restart *r, int exit_code)
{
    return exit_code == 0 || cfg_exit_set_has(&r->success_exit_codes, exit_code);
}

bool sup_should_restart(const struct cfg_restart *r, enum cfg_kind kind, int exit_code)
{
    bool success = sup_exit_success(r, exit_code);
    if (cfg_exit_set_has(&r->restart_on_exit_codes, exit_code))
        return true;
    if (kind == CFG_KIND_ONESHOT && success)
        return false;
    switch (r->policy) {
    case CFG_RESTART_NO:
        return false;
    case CFG_RESTART_ON_FAILURE:
        return !success;
    case CFG_RESTART_ALWAYS:
        return true;
    case CFG_RESTART__COUNT:
        break;
    }
    return false;
}

bool sup_run_stable(const struct cfg_restart *r, uint64_t ran_ms)
{
    return ran_ms >= r->reset_after_ms;
}

uint64_t sup_retry_delay_ms(const struct cfg_restart *r)
{
    /* Without a give-up limit there is nothing to retry after. */
    return r->max_restarts ? r->retry_after_ms : 0;
}

/* d * m^attempt by squaring, stopped once past max (m >= 1 only grows it):
 * plain arithmetic instead of pow(), the one reason corral linked libm. */
static double grow(double d, double m, unsigned attempt, double max)
{
    for (; attempt && d > 0.0 && d <= max; attempt >>= 1, m *= m)
        if (attempt & 1)
            d *= m;
    return d;
}

uint64_t sup_backoff_ms(const struct cfg_restart *r, unsigned attempt, uint32_t rnd)
{
    double max = (double)r->max_ms;
    double d = grow((double)r->initial_ms, r->multiplier, attempt, max);
    double u = (double)rnd / (double)UINT32_MAX; /* 0..1 */
    if (d > max)                                 /* infinity too: no NaN, as a zero d stays zero */
        d = max;
    d += d * r->jitter * (2.0 * u - 1.0);
    if (d < 0.0)
        d = 0.0;
    return (uint64_t)(d + 0.5); /* rounded, as d >= 0 */
}

void sup_window_reset(struct sup_window *w)
{
    w->head = 0;
    w->count = 0;
}

void sup_window_free(struct sup_window *w)
{
    free(w->times_ms);
    w->times_ms = NULL;
    w->cap = 0;
    sup_window_reset(w);
}

static int window_grow(struct sup_window *w, unsigned cap)
{
    uint64_t *t;
    if (w->cap == cap)
        return 0;
    t = calloc(cap, sizeof(*t));
    if (!t)
        return -1;
    free(w->times_ms);
    w->times_ms = t;
    w->cap = cap;
    sup_window_reset(w);
    return 0;
}

unsigned sup_window_note(struct sup_window *w, const struct cfg_restart *r, uint64_t now_ms)
{
    unsigned cap = r->max_restarts + 1 < SUP_WINDOW_MAX ? r->max_restarts + 1 : SUP_WINDOW_MAX;
    unsigned in_window = 0;
    if (!r->max_restarts || window_grow(w, cap) < 0)
        return 0;
    w->times_ms[w->head] = now_ms;
    w->head = (w->head + 1) % w->cap;
    if (w->count < w->cap)
        w->count++;
    for (unsigned i = 0; i < w->count; i++) {
        unsigned idx = (w->head + w->cap - 1 - i) % w->cap;
        if (r->window_ms && now_ms - w->times_ms[idx] >= r->window_ms)
            break;
        in_window++;
    }
    return in_window;
}

bool sup_window_exceeded(const struct cfg_restart *r, unsigned restarts_in_window)
{
    return r->max_restarts && restarts_in_window > r->max_restarts;
}

void sup_giveup_text(const struct cfg_restart *r, unsigned restarts, char *buf, size_t size)
{
    const char *s = restarts == 1 ? "" : "s";
    char d[32];
    if (!r->window_ms) {
        cfg_format_duration(r->reset_after_ms, d, sizeof(d));
        snprintf(buf, size, "%u restart%s with no run of %s between them", restarts, s, d);
        return;
    }
    /* Whole seconds as before ("in 60s"); a window of 1500ms is not "1s". */
    if (r->window_ms % 1000 == 0)
        snprintf(d, sizeof(d), "%llus", (unsigned long long)(r->window_ms / 1000));
    else
        cfg_format_duration(r->window_ms, d, sizeof(d));
    snprintf(buf, size, "%u restart%s in %s", restarts, s, d);
}
