/* cli/runs.c — services' runs in state.db, and their recovery at start-up. */
#include "cli/runs.h"

#include "cli/hold.h"
#include "util/utc.h"

#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

struct runs {
    struct loop *lp;
    struct sup *sup;
    struct store *st;
    runs_say_fn say;
    void *ctx;
    bool *dirty; /* per service index */
    pid_t *held; /* per service index: the run whose pipes the holder has */
    size_t n;
    struct hold *hold;             /* the output holder, or NULL */
    const char *hold_dir;          /* start one there at the next flush, if none yet */
    char *hold_home;               /* the state directory: a holder that goes is replaced there */
    struct loop_watch *hold_watch; /* the holder's going */
    uint64_t hold_since_ms;
    bool hold_replaced; /* the holder is a replacement, started at hold_since_ms */
    size_t taken;       /* pipes taken back at recovery */
    struct loop_timer flush;
    bool failing; /* the last write failed: said once, retried */
};

#define RETRY_MS 5000
/* A new process's identity is written at once (recovery adopts by it); an
 * ended run's waits this long, so that a burst of stops costs one commit. */
#define LAZY_MS         50
#define RUNS_TRIM_AFTER 64   /* records in one flush: a burst worth a malloc_trim() */
#define UNSETTLED_MS    1000 /* a tree stopped after its main process: looked at again */
/* A replacement that goes sooner after its start is not replaced again: one
 * that cannot live would otherwise be started over and over. */
#define HOLD_MIN_LIFE_MS 10000

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

/* A new run's pipes go to the holder, an ended run's are let go. */
static void hand_over(struct runs *r, size_t i, const char *name, pid_t pid)
{
    int fds[LOGS__COUNT];
    if (!r->hold || r->held[i] == pid)
        return;
    if (r->held[i])
        hold_drop(r->hold, name);
    if (pid > 0) {
        sup_output_fds(r->sup, i, fds);
        hold_put(r->hold, name, fds);
    }
    r->held[i] = pid;
}

static void on_hold_gone(struct loop *lp, int fd, uint32_t events, void *data);

/* Its going is watched (a hang-up of its socket, no wake-up otherwise): until
 * a new one holds every service's pipes, a crash of corral would end with
 * SIGPIPE the services it would have adopted. */
static void watch_hold(struct runs *r)
{
    r->hold_since_ms = loop_now_ms();
    r->hold_watch = loop_watch_add(r->lp, hold_sock(r->hold), EPOLLRDHUP, on_hold_gone, r);
}

static void hold_lost(struct runs *r)
{
    bool again =
        r->hold_home && (!r->hold_replaced || loop_now_ms() - r->hold_since_ms >= HOLD_MIN_LIFE_MS);
    loop_watch_del(r->lp, r->hold_watch);
    r->hold_watch = NULL;
    hold_close(r->hold);
    r->hold = NULL;
    memset(r->held, 0, r->n * sizeof(*r->held));
    if (!again) {
        say(r, "warning: the output holder went away; services' output will not outlive a "
               "crash of corral");
        return;
    }
    say(r, "warning: the output holder went away; starting another, which is given every "
           "service's output pipes");
    r->hold_dir = r->hold_home;
    r->hold_replaced = true;
    if (!loop_timer_armed(&r->flush) || r->failing)
        loop_timer_arm(r->lp, &r->flush, 0);
}

static void on_hold_gone(struct loop *lp, int fd, uint32_t events, void *data)
{
    (void)lp;
    (void)fd;
    (void)events;
    hold_lost(data);
}

/* Started after the first spawns rather than before: a start of the stack
 * does not wait for it. Every live service's pipes then go to it. */
static void start_hold(struct runs *r)
{
    char why[512];
    const char *dir = r->hold_dir;
    r->hold_dir = NULL;
    r->hold =
        hold_open(dir, r->hold_replaced ? HOLD_START : HOLD_CONNECT_OR_START, why, sizeof(why));
    if (!r->hold) {
        say(r,
            "warning: no output holder (%s); services' output will not outlive a crash of "
            "corral",
            why);
        return;
    }
    sup_own_helper(r->sup, hold_child(r->hold));
    watch_hold(r);
    for (size_t i = 0; i < r->n; i++)
        r->dirty[i] = true;
}

/* A tree still stopped after its main process ended ends in a state that
 * no event announces (exited): its record is looked at again until then. */
static void recheck_unsettled(struct runs *r, const struct store_run *out, size_t k)
{
    bool again = false;
    for (size_t i = 0; i < k; i++) {
        long idx;
        if (out[i].pid > 0 || strcmp(out[i].state, "stopping") != 0 ||
            (idx = sup_find(r->sup, out[i].service)) < 0 || (size_t)idx >= r->n)
            continue;
        r->dirty[idx] = true;
        again = true;
    }
    if (again)
        loop_timer_arm(r->lp, &r->flush, UNSETTLED_MS);
}

static void flush(struct loop *lp, void *data)
{
    struct runs *r = data;
    const char *instance = sup_instance(r->sup), *boot_id = sup_boot_id(r->sup);
    struct sup_run cur; /* 4 KiB with its path: one at a time, the path copied */
    struct store_run *out;
    size_t k = 0, n_dirty = 0;
    bool ok, oom = false;
    (void)lp;
    if (r->hold_dir)
        start_hold(r);
    for (size_t i = 0; i < r->n; i++)
        n_dirty += r->dirty[i];
    out = calloc(n_dirty ? n_dirty : 1, sizeof(*out));
    for (size_t i = 0; out && i < r->n && i < sup_count(r->sup); i++) {
        struct sup_info in;
        if (!r->dirty[i])
            continue;
        sup_info(r->sup, i, &in);
        sup_run_get(r->sup, i, &cur);
        hand_over(r, i, in.name, cur.pid);
        out[k] = (struct store_run){
            .service = in.name,
            .instance = instance,
            .boot_id = boot_id,
            .pid = cur.pid,
            .start_ticks = cur.start_ticks,
            .pgid = cur.pgid,
            .cgroup = strdup(cur.cgroup),
            .started_at_ms = cur.started_at_ms,
            .runs = cur.runs,
            .restarts = cur.restarts,
            .exited = cur.exited,
            .last_exit = cur.exit_code,
            .reason = cur.reason,
            .ready = cur.ready,
            .state = cur.state,
            .due_at_ms = cur.due_at_ms,
            .attempt = cur.attempt,
            .restarts_at = cur.restarts_at, /* freed below */
            .gave_up = cur.gave_up,
            .stop_then_start = cur.stop_then_start,
            .settings = cur.settings,
        };
        if (!out[k++].cgroup) {
            oom = true;
            break;
        }
    }
    ok = out && !oom;
    if (ok && (!r->st || store_save_runs(r->st, out, k) == 0)) {
        memset(r->dirty, 0, r->n * sizeof(*r->dirty));
        if (r->failing)
            say(r, "services' runs are written to state.db again");
        r->failing = false;
        recheck_unsettled(r, out, k);
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
    for (size_t i = 0; out && i < k; i++) {
        free((char *)out[i].cgroup);
        free((char *)out[i].restarts_at);
    }
    free(out);
    if (r->hold && hold_flush(r->hold) < 0)
        hold_lost(r);
    /* A burst of starts (the config parsed, the spawns, these records) ends
     * here, on a wake-up that happens anyway: give back the heap it freed,
     * which malloc would keep resident for the rest of corral's life. */
    if (k >= RUNS_TRIM_AFTER)
        malloc_trim(0);
}

struct runs *runs_new(struct loop *lp, struct sup *s, struct store *st, struct hold *hold,
                      const char *hold_dir, runs_say_fn fn, void *ctx)
{
    struct runs *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->n = sup_count(s);
    r->dirty = calloc(r->n ? r->n : 1, sizeof(*r->dirty));
    r->held = calloc(r->n ? r->n : 1, sizeof(*r->held));
    if (!r->dirty || !r->held) {
        free(r->dirty);
        free(r->held);
        free(r);
        return NULL;
    }
    r->lp = lp;
    r->sup = s;
    r->st = st;
    r->hold = hold;
    r->hold_dir = hold ? NULL : hold_dir;
    r->hold_home = hold_dir ? strdup(hold_dir) : NULL; /* without memory: not replaced */
    r->say = fn;
    r->ctx = ctx;
    loop_timer_init(&r->flush, flush, r);
    if (hold)
        watch_hold(r);
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
    loop_watch_del(r->lp, r->hold_watch);
    hold_quit(r->hold);
    free(r->hold_home);
    free(r->dirty);
    free(r->held);
    free(r);
}

void runs_swap(struct runs *r, const struct cfg_model *old)
{
    size_t n = sup_count(r->sup);
    bool *dirty;
    pid_t *held;
    for (size_t i = 0; i < old->n_services; i++)
        if (sup_find(r->sup, old->services[i].name) < 0) {
            if (r->st)
                (void)store_drop_run(r->st, old->services[i].name);
            hold_drop(r->hold, old->services[i].name);
        }
    dirty = calloc(n ? n : 1, sizeof(*dirty));
    held = calloc(n ? n : 1, sizeof(*held));
    if (!dirty || !held) {
        free(dirty);
        free(held);
        r->n = 0; /* nothing is written rather than the wrong service */
        return;
    }
    free(r->dirty);
    free(r->held);
    r->dirty = dirty;
    r->held = held;
    r->n = n;
    /* Indices changed: rewrite every record once rather than track them. The
     * services stopped for the reload had their pipes let go already; the
     * others keep theirs. */
    for (size_t i = 0; i < n; i++) {
        struct sup_info in;
        sup_info(r->sup, i, &in);
        held[i] = in.pid;
        runs_touch(r, in.name, false);
    }
    if (!loop_timer_armed(&r->flush))
        loop_timer_arm(r->lp, &r->flush, 0);
}

void runs_set_store(struct runs *r, struct store *st)
{
    if (!st)
        return;
    r->st = st;
    for (size_t i = 0; i < r->n; i++)
        r->dirty[i] = true;
    if (!loop_timer_armed(&r->flush))
        loop_timer_arm(r->lp, &r->flush, 0);
}

void runs_touch(struct runs *r, const char *service, bool now)
{
    uint64_t delay = now ? 0 : LAZY_MS;
    long i;
    if (!r || (!r->st && !r->hold && !r->hold_dir) || !service ||
        (i = sup_find(r->sup, service)) < 0 || (size_t)i >= r->n)
        return;
    r->dirty[i] = true;
    if (r->failing)
        return;
    if (!loop_timer_armed(&r->flush) || r->flush.due_ms > loop_now_ms() + delay)
        loop_timer_arm(r->lp, &r->flush, delay);
}

/* --- recovery -------------------------------------------------------------------- */

#define LEAD_STRS 7 /* owned copies per lead */

struct leads {
    struct sup_lead *v;
    char **strs; /* LEAD_STRS per lead */
    size_t n, cap;
    bool oom;
    bool unclean;        /* the previous corral did not end cleanly */
    bool without_cgroup; /* a record from a corral that ran without cgroups */
};

static bool leads_grow(struct leads *l)
{
    size_t cap = l->cap ? 2 * l->cap : 16;
    struct sup_lead *v = realloc(l->v, cap * sizeof(*v));
    char **strs = v ? realloc(l->strs, LEAD_STRS * cap * sizeof(*strs)) : NULL;
    if (v)
        l->v = v;
    if (!v || !strs)
        return false;
    l->strs = strs;
    l->cap = cap;
    return true;
}

/* A live process's record, and after an unclean end a record of a service
 * without one (sup_recall()). */
static void collect(void *ctx, const struct store_run *run)
{
    struct leads *l = ctx;
    if ((run->pid <= 0 && !l->unclean) || l->oom)
        return;
    if (run->pid > 0 && !run->cgroup[0])
        l->without_cgroup = true;
    if (l->n == l->cap && !leads_grow(l)) {
        l->oom = true;
        return;
    }
    char **s = &l->strs[LEAD_STRS * l->n];
    const char *src[LEAD_STRS] = {run->service,     run->boot_id, run->cgroup,  run->reason,
                                  run->restarts_at, run->state,   run->settings};
    for (size_t i = 0; i < LEAD_STRS; i++)
        if (!(s[i] = strdup(src[i])))
            l->oom = true;
    l->v[l->n] = (struct sup_lead){
        .service = s[0],
        .boot_id = s[1],
        .pid = run->pid,
        .start_ticks = run->start_ticks,
        .cgroup = s[2],
        .started_at_ms = run->started_at_ms,
        .runs = run->runs,
        .restarts = run->restarts,
        .exited = run->exited,
        .last_exit = run->last_exit,
        .reason = s[3],
        .ready = run->ready,
        .state = s[5],
        .due_at_ms = run->due_at_ms,
        .attempt = run->attempt,
        .restarts_at = s[4],
        .gave_up = run->gave_up,
        .stop_then_start = run->stop_then_start,
        .settings = s[6],
        .unclean = l->unclean,
    };
    l->n++;
}

static void recover_one(struct runs *r, const struct sup_lead *lead)
{
    char why[256];
    int got = sup_recover(r->sup, lead, why, sizeof(why));
    if (got == -ENOENT) {
        say(r, "%s (pid %d when last seen) is no longer configured: its record is dropped",
            lead->service, (int)lead->pid);
        (void)store_drop_run(r->st, lead->service);
    } else if (got == 0) {
        runs_touch(r, lead->service, false); /* the stale identity is forgotten */
    }
}

/* An adopted service's old pipe, kept by the holder: logged again. Any other
 * is let go. */
static void take_one(void *ctx, const struct hold_entry *e)
{
    struct runs *r = ctx;
    long i = sup_find(r->sup, e->name);
    if (i >= 0 && (size_t)i < r->n && sup_adopt_output(r->sup, e->name, e->st, e->fd) == 0) {
        struct sup_info in;
        sup_info(r->sup, (size_t)i, &in);
        r->held[i] = in.pid; /* the holder has it already */
        r->taken++;
        return;
    }
    close(e->fd);
    hold_drop(r->hold, e->name);
}

static void take_output_back(struct runs *r)
{
    if (!r->hold)
        return;
    r->taken = 0;
    if (hold_fetch(r->hold, take_one, r) < 0) {
        say(r, "warning: the output holder did not answer; adopted services' output is lost");
        loop_watch_del(r->lp, r->hold_watch);
        r->hold_watch = NULL;
        hold_close(r->hold);
        r->hold = NULL;
        return;
    }
    if (r->taken)
        say(r, "took back %zu output pipes from the output holder", r->taken);
    if (!loop_timer_armed(&r->flush))
        loop_timer_arm(r->lp, &r->flush, 0);
}

/* A service put back in backoff, failed, completed or exited, said once. */
static void recall_one(struct runs *r, const struct sup_lead *lead)
{
    char due[64] = "";
    int64_t in_ms = lead->due_at_ms - utc_now_ms();
    int got = sup_recall(r->sup, lead);
    if (got == -ESTALE)
        say(r,
            "%s: %s when the previous corral ended, but its settings changed since: started "
            "afresh",
            lead->service, lead->state);
    if (got <= 0)
        return;
    if (lead->due_at_ms) {
        char d[32];
        uint64_t ms = in_ms > 0 ? (uint64_t)in_ms : 0;
        cfg_format_duration(ms >= 1000 ? (ms + 500) / 1000 * 1000 : ms, d, sizeof(d));
        snprintf(due, sizeof(due), ", %s in %s",
                 strcmp(lead->state, "backoff") ? "retry" : "restart", d);
    }
    say(r, "%s: %s when the previous corral ended%s%s%s; kept so%s", lead->service, lead->state,
        lead->reason[0] ? " (" : "", lead->reason, lead->reason[0] ? ")" : "", due);
    runs_touch(r, lead->service, false);
}

size_t runs_recover(struct runs *r, bool unclean)
{
    struct leads l = {.unclean = unclean};
    size_t ghosts = 0, live = 0;
    if (r->st && store_each_run(r->st, collect, &l) < 0)
        say(r, "warning: could not read the services' runs from state.db");
    if (l.oom)
        say(r, "warning: out of memory reading the services' runs");
    for (size_t i = 0; !l.oom && i < l.n; i++)
        if (l.v[i].pid > 0) {
            recover_one(r, &l.v[i]);
            live++;
        }
    /* A walk of every process's environment: only when a previous corral
     * left something behind, by its records or by not ending cleanly. */
    if (unclean || live > 0)
        (void)sup_recover_leftovers(r->sup, live == 0 || l.without_cgroup, &ghosts);
    /* After the leftovers: a service whose old tree is being stopped starts
     * afresh once it is gone. */
    for (size_t i = 0; !l.oom && i < l.n; i++)
        if (l.v[i].pid <= 0)
            recall_one(r, &l.v[i]);
    for (size_t i = 0; i < LEAD_STRS * l.n; i++)
        free(l.strs[i]);
    free(l.strs);
    free(l.v);
    take_output_back(r);
    return ghosts;
}
