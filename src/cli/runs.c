/* cli/runs.c — services' runs in state.db, and their recovery at start-up. */
#include "cli/runs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct runs {
    struct loop *lp;
    struct sup *sup;
    struct store *st;
    runs_say_fn say;
    void *ctx;
    bool *dirty; /* per service index */
    size_t n;
    struct loop_timer flush;
    bool failing; /* the last write failed: said once, retried */
};

#define RETRY_MS 5000

static void say(struct runs *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct runs *r, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->say(r->ctx, msg);
}

static void flush(struct loop *lp, void *data)
{
    struct runs *r = data;
    struct sup_run *cur = malloc(sizeof(*cur) * (r->n ? r->n : 1));
    struct store_run *out = calloc(r->n ? r->n : 1, sizeof(*out));
    const char *instance = sup_instance(r->sup), *boot_id = sup_boot_id(r->sup);
    size_t k = 0;
    (void)lp;
    for (size_t i = 0; cur && out && i < r->n && i < sup_count(r->sup); i++) {
        struct sup_info in;
        if (!r->dirty[i])
            continue;
        sup_info(r->sup, i, &in);
        sup_run_get(r->sup, i, &cur[k]);
        out[k] = (struct store_run){
            .service = in.name,
            .instance = instance,
            .boot_id = boot_id,
            .pid = cur[k].pid,
            .start_ticks = cur[k].start_ticks,
            .pgid = cur[k].pgid,
            .cgroup = cur[k].cgroup,
            .started_at_ms = cur[k].started_at_ms,
            .runs = cur[k].runs,
            .restarts = cur[k].restarts,
            .exited = cur[k].exited,
            .last_exit = cur[k].exit_code,
            .reason = cur[k].reason,
        };
        k++;
    }
    if (cur && out && store_save_runs(r->st, out, k) == 0) {
        memset(r->dirty, 0, r->n * sizeof(*r->dirty));
        if (r->failing)
            say(r, "services' runs are written to state.db again");
        r->failing = false;
    } else {
        /* Kept marked: a locked or full database is tried again. */
        if (!r->failing)
            say(r,
                "warning: could not write the services' runs to state.db; trying again every "
                "%ds, and a crash of corral meanwhile leaves recovery to the cgroup and the "
                "environment tag",
                RETRY_MS / 1000);
        r->failing = true;
        loop_timer_arm(r->lp, &r->flush, RETRY_MS);
    }
    free(cur);
    free(out);
}

struct runs *runs_new(struct loop *lp, struct sup *s, struct store *st, runs_say_fn fn, void *ctx)
{
    struct runs *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->n = sup_count(s);
    r->dirty = calloc(r->n ? r->n : 1, sizeof(*r->dirty));
    if (!r->dirty) {
        free(r);
        return NULL;
    }
    r->lp = lp;
    r->sup = s;
    r->st = st;
    r->say = fn;
    r->ctx = ctx;
    loop_timer_init(&r->flush, flush, r);
    return r;
}

void runs_free(struct runs *r)
{
    if (!r)
        return;
    if (loop_timer_armed(&r->flush)) {
        if (r->st)
            flush(r->lp, r);
        loop_timer_disarm(r->lp, &r->flush);
    }
    free(r->dirty);
    free(r);
}

void runs_swap(struct runs *r, const struct cfg_model *old)
{
    size_t n = sup_count(r->sup);
    bool *dirty;
    if (!r->st)
        return;
    for (size_t i = 0; i < old->n_services; i++)
        if (sup_find(r->sup, old->services[i].name) < 0)
            (void)store_drop_run(r->st, old->services[i].name);
    dirty = calloc(n ? n : 1, sizeof(*dirty));
    if (!dirty) {
        r->n = 0; /* nothing is written rather than the wrong service */
        return;
    }
    free(r->dirty);
    r->dirty = dirty;
    r->n = n;
    /* Indices changed: rewrite every record once rather than track them. */
    for (size_t i = 0; i < n; i++) {
        struct sup_info in;
        sup_info(r->sup, i, &in);
        runs_touch(r, in.name);
    }
}

void runs_touch(struct runs *r, const char *service)
{
    long i;
    if (!r || !r->st || !service || (i = sup_find(r->sup, service)) < 0 || (size_t)i >= r->n)
        return;
    r->dirty[i] = true;
    if (!loop_timer_armed(&r->flush) && !r->failing)
        loop_timer_arm(r->lp, &r->flush, 0);
}

/* --- recovery -------------------------------------------------------------------- */

struct leads {
    struct sup_lead *v;
    char **strs; /* owned copies, 3 per lead */
    size_t n, cap;
    bool oom;
};

static void collect(void *ctx, const struct store_run *run)
{
    struct leads *l = ctx;
    if (run->pid <= 0 || l->oom)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        struct sup_lead *v = realloc(l->v, cap * sizeof(*v));
        char **strs = v ? realloc(l->strs, 3 * cap * sizeof(*strs)) : NULL;
        if (v)
            l->v = v;
        if (!v || !strs) {
            l->oom = true;
            return;
        }
        l->strs = strs;
        l->cap = cap;
    }
    char **s = &l->strs[3 * l->n];
    s[0] = strdup(run->service);
    s[1] = strdup(run->boot_id);
    s[2] = strdup(run->cgroup);
    l->v[l->n] = (struct sup_lead){
        .service = s[0],
        .boot_id = s[1],
        .pid = run->pid,
        .start_ticks = run->start_ticks,
        .cgroup = s[2],
        .started_at_ms = run->started_at_ms,
        .runs = run->runs,
        .restarts = run->restarts,
    };
    l->n++;
    if (!s[0] || !s[1] || !s[2])
        l->oom = true;
}

static void recover_one(struct runs *r, const struct sup_lead *lead)
{
    char why[256];
    int got = sup_recover(r->sup, lead, why, sizeof(why));
    if (got == -ENOENT) {
        say(r,
            "warning: %s (pid %d) is no longer configured; if it still runs, `corral cleanup` "
            "stops it",
            lead->service, (int)lead->pid);
        (void)store_drop_run(r->st, lead->service);
    } else if (got == 0) {
        runs_touch(r, lead->service); /* the stale identity is forgotten */
    }
}

void runs_recover(struct runs *r)
{
    struct leads l = {0};
    if (r->st && store_each_run(r->st, collect, &l) < 0)
        say(r, "warning: could not read the services' runs from state.db");
    if (l.oom)
        say(r, "warning: out of memory reading the services' runs");
    for (size_t i = 0; !l.oom && i < l.n; i++)
        recover_one(r, &l.v[i]);
    for (size_t i = 0; i < 3 * l.n; i++)
        free(l.strs[i]);
    free(l.strs);
    free(l.v);
    (void)sup_recover_leftovers(r->sup);
}
