/* supervisor/reload.c — move a running supervisor to a new config model. The
 * model is immutable, so a reload diffs two of them: a service whose resolved
 * settings (as `check --json` prints them) are equal is unchanged and keeps
 * its process and its struct; removed and changed ones stop first, then the
 * model is swapped in one step, then new and changed ones start. */
#include "supervisor/internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void sup_plan_free(struct sup_plan *p)
{
    free(p->added);
    free(p->removed);
    free(p->changed);
    free(p->unchanged);
    memset(p, 0, sizeof(*p));
}

json_t *svc_settings_json(const struct cfg_service *c)
{
    /* on_recover is read only after a crash of corral: no reason to touch
     * the process. Where a service is written is no setting: a comment or a
     * service added above it moves it down the file. */
    static const char *const ignored[] = {"on_recover", "line"};
    json_t *j = cfg_service_json(c);
    for (size_t i = 0; j && i < sizeof(ignored) / sizeof(ignored[0]); i++)
        json_object_del(j, ignored[i]);
    return j;
}

static bool same_service(const struct cfg_service *a, const struct cfg_service *b)
{
    json_t *ja = svc_settings_json(a);
    json_t *jb = svc_settings_json(b);
    bool same = ja && jb && json_equal(ja, jb);
    json_decref(ja);
    json_decref(jb);
    return same;
}

static bool live(enum svc_state st)
{
    return st == SVC_WAITING || sup_state_up(st) || st == SVC_BACKOFF || st == SVC_STOPPING ||
           st == SVC_BLOCKED;
}

static int plan_alloc(struct sup_plan *p, size_t n_old, size_t n_new)
{
    size_t n = n_old + n_new + 1;
    memset(p, 0, sizeof(*p));
    p->added = calloc(n, sizeof(char *));
    p->removed = calloc(n, sizeof(char *));
    p->changed = calloc(n, sizeof(char *));
    p->unchanged = calloc(n, sizeof(char *));
    if (p->added && p->removed && p->changed && p->unchanged)
        return 0;
    sup_plan_free(p);
    return -ENOMEM;
}

static int refuse(struct sup *s, const struct cfg_model *next, struct diag *dg)
{
    int r = sup_refuse_busy(s, dg);
    if (r < 0)
        return r;
    /* Where the new value is (the file's start when it went back to the
     * default), so that the refusal reads like any config error. */
    if (strcmp(next->state_dir, s->m->state_dir) != 0) {
        diag_at(dg, next->path, next->state_dir_pos.line, next->state_dir_pos.col, "state_dir",
                "state_dir changed (%s -> %s): that needs a restart of corral", s->m->state_dir,
                next->state_dir);
        return -EINVAL;
    }
    if (next->containment != s->m->containment) {
        diag_at(dg, next->path, next->containment_pos.line, next->containment_pos.col,
                "containment", "containment changed (%s -> %s): that needs a restart of corral",
                cfg_containment_name(s->m->containment), cfg_containment_name(next->containment));
        return -EINVAL;
    }
    return 0;
}

int sup_reload(struct sup *s, const struct cfg_model *next, struct sup_plan *plan, struct diag *dg)
{
    int r = refuse(s, next, dg);
    if (r < 0)
        return r;
    if (plan_alloc(plan, s->n, next->n_services) < 0) {
        diag_set(dg, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < s->n; i++) {
        struct service *svc = s->svcs[i];
        long j = cfg_find(next, svc->cfg->name);
        if (j >= 0 && same_service(svc->cfg, &next->services[j])) {
            plan->unchanged[plan->n_unchanged++] = svc->cfg->name;
            continue;
        }
        if (j < 0)
            plan->removed[plan->n_removed++] = svc->cfg->name;
        else
            plan->changed[plan->n_changed++] = svc->cfg->name;
        svc->reload_stop = true;
        /* What runs, ran to completion, or failed (most likely of the
         * settings that just changed) starts again with the new ones; not
         * what the operator stops or stopped, even while it still stops. */
        svc->reload_restart =
            j >= 0 && !svc->operator_stopped &&
            (live(svc->state) || svc->state == SVC_COMPLETED || svc->state == SVC_FAILED);
        svc->want_stop = true;
    }
    for (size_t j = 0; j < next->n_services; j++)
        if (!sup_by_name(s, next->services[j].name))
            plan->added[plan->n_added++] = next->services[j].name;
    s->next_m = next;
    sup_kick(s);
    return 0;
}

bool reload_stopped(const struct sup *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->svcs[i]->reload_stop && live(s->svcs[i]->state))
            return false;
    return true;
}

/* The new array: unchanged services move over (their cfg now points into the
 * new model), the others are new structs, all made before anything moves so
 * that running out of memory changes nothing. Returns which to start. */
static bool *build(struct sup *s, const struct cfg_model *nm, struct service **nsvcs)
{
    bool *start = calloc(nm->n_services + 1, sizeof(*start));
    bool ok = start != NULL;
    for (size_t j = 0; ok && j < nm->n_services; j++) {
        struct service *old = sup_by_name(s, nm->services[j].name);
        if (old && !old->reload_stop)
            continue;
        nsvcs[j] = service_new(s, &nm->services[j], j);
        ok = nsvcs[j] != NULL;
        if (ok)
            start[j] = old ? old->reload_restart : nm->services[j].autostart;
        /* The operator's stop outlives a change of settings, as it does a
         * restart of corral. */
        if (ok && old)
            nsvcs[j]->operator_stopped = old->operator_stopped;
    }
    if (!ok) {
        for (size_t j = 0; j < nm->n_services; j++)
            service_free(nsvcs[j]);
        free(start);
        return NULL;
    }
    for (size_t j = 0; j < nm->n_services; j++)
        if (!nsvcs[j]) {
            nsvcs[j] = sup_by_name(s, nm->services[j].name);
            nsvcs[j]->cfg = &nm->services[j];
            nsvcs[j]->digest[0] = '\0';
            ready_rebind(nsvcs[j]);
            nsvcs[j]->idx = j;
        }
    return start;
}

void reload_swap(struct sup *s)
{
    const struct cfg_model *nm = s->next_m, *old_m = s->m;
    struct service **nsvcs = calloc(nm->n_services + 1, sizeof(*nsvcs));
    size_t *by_name = calloc(nm->n_services + 1, sizeof(*by_name));
    unsigned *live_dependants = calloc(nm->n_services + 1, sizeof(*live_dependants));
    unsigned char *wanted = calloc(nm->n_services + 1, sizeof(*wanted));
    bool *start = nsvcs && by_name && live_dependants && wanted ? build(s, nm, nsvcs) : NULL;
    if (!start) {
        /* Out of memory: try again on the next turn rather than half-swap. */
        free(nsvcs);
        free(by_name);
        free(live_dependants);
        free(wanted);
        loop_timer_arm(s->lp, &s->kick, 100);
        return;
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->svcs[i]->reload_stop)
            service_free(s->svcs[i]); /* stopped: its cgroup is empty and goes */
    free(s->svcs);
    free(s->by_name);
    free(s->live_dependants);
    s->svcs = nsvcs;
    s->by_name = by_name;
    s->live_dependants = live_dependants;
    s->n = nm->n_services;
    s->m = nm;
    s->want_cpu = sup_model_limits_cpu(nm);
    s->next_m = NULL;
    limits_need(s);
    index_by_name(s);
    for (size_t j = 0; j < s->n; j++)
        if (start[j])
            mark_wanted(s, j, wanted);
    /* A dependency the operator stopped stays stopped: a restarted service
     * that needs it waits, and says so, rather than undo the stop. */
    for (size_t j = 0; j < s->n; j++)
        if (!s->svcs[j]->operator_stopped && wanted_to_wait(s->svcs[j], wanted[j]))
            make_waiting(s->svcs[j]);
    free(start);
    free(wanted);
    if (s->h.on_swap)
        s->h.on_swap(s->h.ctx, nm, old_m);
    sup_kick(s);
}
