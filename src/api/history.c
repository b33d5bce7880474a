/* api/history.c — the event history in state.db. Each event goes into the
 * ring at once and into a queue that a timer writes in one transaction at
 * most every HISTORY_LAZY_MS, so that a thousand services starting together
 * cost one commit. A request that reaches back past the ring is
 * answered from the database; one that the ring covers never touches it. */
#include "api/internal.h"
#include "util/utf8.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Events waiting for a write that fails, or of one very busy turn. */
#define PENDING_MAX (64 * 1024)
/* After a failed write; each try may wait out SQLite's busy timeout. */
#define RETRY_MS        5000
#define HISTORY_LAZY_MS 50

static void pending_clear(struct api_history *h)
{
    for (size_t i = 0; i < h->n_pending; i++) {
        struct store_event *e = &h->pending[i];
        free((char *)e->kind);
        free((char *)e->service);
        free((char *)e->text);
        free((char *)e->json);
    }
    h->n_pending = 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Copy what the store keeps of event f. Its text is cleaned as the JSON's
 * is, so that both say the same. */
static int pending_add(struct api_history *h, const struct api_event_fields *f, uint64_t id,
                       int64_t time_ms, const char *json)
{
    struct store_event *e;
    if (h->n_pending == h->cap_pending) {
        size_t cap = h->cap_pending ? 2 * h->cap_pending : 64;
        struct store_event *p;
        if (cap > PENDING_MAX || !(p = realloc(h->pending, cap * sizeof(*p))))
            return -ENOMEM;
        h->pending = p;
        h->cap_pending = cap;
    }
    e = &h->pending[h->n_pending];
    *e = (struct store_event){
        .id = id,
        .time_ms = time_ms,
        .kind = dup_or_null(f->kind),
        .service = dup_or_null(f->service),
        .pid = f->pid,
        .exited = f->exited,
        .exit_code = f->exited ? f->exit_code : 0,
        .text = f->text ? utf8_cleaned(f->text) : NULL,
        .json = strdup(json),
    };
    h->n_pending++;
    if (!e->kind || !e->json || (f->service && !e->service) || (f->text && !e->text)) {
        h->n_pending--;
        free((char *)e->kind);
        free((char *)e->service);
        free((char *)e->text);
        free((char *)e->json);
        return -ENOMEM;
    }
    return 0;
}

/* The same, of an event read back from its JSON text. */
static void fields_of(const json_t *o, struct api_event_fields *f)
{
    json_t *exit_code = json_object_get(o, "exit_code");
    *f = (struct api_event_fields){
        .kind = json_string_value(json_object_get(o, "kind")),
        .service = json_string_value(json_object_get(o, "service")),
        .text = json_string_value(json_object_get(o, "text")),
        .pid = (pid_t)json_integer_value(json_object_get(o, "pid")),
        .exited = json_is_integer(exit_code),
        .exit_code = (int)json_integer_value(exit_code),
    };
}

static void warn(struct api *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(struct api *a, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (!a->hist.warn)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    a->hist.warn(a->hist.warn_ctx, msg);
}

/* A failed write is reported once and tried again after RETRY_MS with what
 * has come since, so that a database locked for a while loses nothing; the
 * loop never waits longer than one try. Only past PENDING_MAX are events
 * dropped from state.db (the ring still has the newest). */
static void flush(struct api *a)
{
    struct api_history *h = &a->hist;
    loop_timer_disarm(a->lp, &h->flush);
    if (!h->store || h->n_pending == 0)
        return;
    if (store_events_add(h->store, h->pending, h->n_pending, a->m->api.events_keep) == 0) {
        if (h->failing)
            warn(a, "events are written to state.db again");
        h->failing = false;
        pending_clear(h);
        return;
    }
    if (!h->failing)
        warn(a,
             "could not write %zu events to state.db (%s); trying again every %ds, the last %d "
             "are in memory meanwhile",
             h->n_pending, store_error(h->store), RETRY_MS / 1000, API_EVENTS_KEEP);
    h->failing = true;
    loop_timer_arm(a->lp, &h->flush, RETRY_MS);
}

static void on_flush(struct loop *lp, void *data)
{
    (void)lp;
    flush(data);
}

void api_history_init(struct api *a)
{
    loop_timer_init(&a->hist.flush, on_flush, a);
}

void api_history_free(struct api *a)
{
    struct api_history *h = &a->hist;
    if (h->store) {
        char text[64];
        snprintf(text, sizeof(text), "pid %d", (int)getpid());
        api_note(a, "corral_stopped", text);
        flush(a);
    }
    loop_timer_disarm(a->lp, &h->flush);
    pending_clear(h);
    free(h->pending);
    h->pending = NULL;
    h->cap_pending = 0;
}

void api_history_queue(struct api *a, const struct api_event_fields *f, uint64_t id,
                       int64_t time_ms, const char *json)
{
    struct api_history *h = &a->hist;
    if (!h->store)
        return;
    if (pending_add(h, f, id, time_ms, json) < 0) {
        if (!h->dropping)
            warn(a, "%s; event %llu and those after it are not in state.db",
                 h->failing ? "too many events wait for state.db" : "out of memory",
                 (unsigned long long)id);
        h->dropping = true;
        return;
    }
    h->dropping = false;
    /* A burst (a thousand services starting or stopping) costs one commit. */
    if (!loop_timer_armed(&h->flush))
        loop_timer_arm(a->lp, &h->flush, HISTORY_LAZY_MS);
}

/* Events recorded before the store was attached are numbered from next, after
 * the stored ones, so that ids never go back, and queued like any other. */
static void renumber_ring(struct api *a, uint64_t next)
{
    struct api_events *ev = &a->ev;
    for (size_t k = 0; k < ev->n; k++) {
        struct api_event_rec *rec = &ev->ring[(ev->head + k) % API_EVENTS_KEEP];
        json_t *o = json_loads(rec->json, 0, NULL);
        char *text;
        rec->id = next + k;
        if (o)
            json_object_set_new(o, "id", json_integer((json_int_t)rec->id));
        text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (text) {
            struct api_event_fields f;
            fields_of(o, &f);
            free(rec->json);
            rec->json = text;
            api_history_queue(a, &f, rec->id, rec->time_ms, rec->json);
        }
        json_decref(o);
    }
    ev->next_id = next + ev->n;
}

static void last_kind(void *ctx, const struct store_event *e)
{
    snprintf(ctx, 32, "%s", e->kind);
}

void api_keep_history(struct api *a, struct store *st, void (*warn_fn)(void *ctx, const char *msg),
                      void *ctx)
{
    struct store_event_query last = {.limit = 1};
    char kind[32] = "", text[256];
    uint64_t last_id = 0, first;
    if (!a || !st)
        return;
    a->hist.store = st;
    a->hist.warn = warn_fn;
    a->hist.warn_ctx = ctx;
    if (store_events_last_id(st, &last_id) < 0 || store_events_each(st, &last, last_kind, kind) < 0)
        warn(a, "could not read the event history in state.db; event ids start again at %llu",
             (unsigned long long)a->ev.next_id);
    first = a->ev.n ? api_events_at(&a->ev, 0)->id : a->ev.next_id;
    renumber_ring(a, last_id >= first ? last_id + 1 : first);
    if (a->hist.started_noted)
        return;
    snprintf(text, sizeof(text), "corral %s, pid %d, instance %s%s", CORRAL_VERSION, (int)getpid(),
             sup_instance(a->sup),
             kind[0] && strcmp(kind, "corral_stopped") != 0
                 ? "; the previous corral ended without stopping (crash or kill -9)"
                 : "");
    api_note(a, "corral_started", text);
}

void api_note_started(struct api *a)
{
    char text[256];
    if (!a || a->hist.started_noted)
        return;
    snprintf(text, sizeof(text), "corral %s, pid %d, instance %s", CORRAL_VERSION, (int)getpid(),
             sup_instance(a->sup));
    api_note(a, "corral_started", text);
    a->hist.started_noted = true;
}

/* --- reading ------------------------------------------------------------------------- */

static bool wanted_service(const struct api_events_query *q, const char *service)
{
    if (q->n_services == 0)
        return true;
    for (size_t i = 0; service && i < q->n_services; i++)
        if (strcmp(q->services[i], service) == 0)
            return true;
    return false;
}

static bool matches(const struct api_events_query *q, const struct api_event_rec *rec)
{
    return api_events_within(&q->b, rec->id, rec->time_ms) && wanted_service(q, rec->service);
}

static int push(struct api_history_list *l, uint64_t id, const char *json, bool copy)
{
    char *text = copy ? strdup(json) : (char *)json;
    if (!text)
        return -ENOMEM;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        struct api_history_item *p = realloc(l->items, cap * sizeof(*p));
        if (!p) {
            if (copy)
                free(text);
            return -ENOMEM;
        }
        l->items = p;
        l->cap = cap;
    }
    l->items[l->n++] = (struct api_history_item){.id = id, .json = text, .owned = copy};
    return 0;
}

struct from_store {
    struct api_history_list *l;
    int err;
};

static void take_row(void *ctx, const struct store_event *e)
{
    struct from_store *fs = ctx;
    if (fs->err == 0)
        fs->err = push(fs->l, e->id, e->json, true);
}

int api_history_collect(struct api *a, const struct api_events_query *q, struct api_history_list *l)
{
    const struct api_events *ev = &a->ev;
    size_t want = q->limit + 1; /* one more tells whether there are more */
    uint64_t ring_first = ev->n ? api_events_at(ev, 0)->id : ev->next_id;
    bool covered = false;
    memset(l, 0, sizeof(*l));
    /* Newest first, then reversed. */
    for (size_t k = ev->n; k-- > 0 && l->n < want;) {
        const struct api_event_rec *rec = api_events_at(ev, k);
        if (rec->id <= q->b.after_id) {
            covered = true;
            break;
        }
        if (matches(q, rec) && push(l, rec->id, rec->json, false) < 0)
            return -ENOMEM;
    }
    /* ring_first and before_id are 1 or more: no bound wraps. */
    if (l->n < want && !covered && a->hist.store && q->b.after_id < ring_first - 1 &&
        (!q->b.has_before || q->b.after_id < q->b.before_id - 1)) {
        struct store_event_query sq = {
            .after_id = q->b.after_id,
            .before_id =
                q->b.has_before && q->b.before_id < ring_first ? q->b.before_id : ring_first,
            .from_ms = q->b.from_ms,
            .to_ms = q->b.to_ms,
            .has_to = q->b.has_to,
            .services = q->services,
            .n_services = q->n_services,
            .limit = want - l->n,
        };
        struct from_store fs = {.l = l};
        /* Events of this very turn may have left the ring unwritten. */
        if (!a->hist.failing)
            flush(a);
        if (store_events_each(a->hist.store, &sq, take_row, &fs) < 0 && !a->hist.failing)
            warn(a, "could not read the event history from state.db");
        if (fs.err < 0)
            return fs.err;
    }
    l->more = l->n > q->limit;
    if (l->more) {
        struct api_history_item *oldest = &l->items[--l->n];
        if (oldest->owned)
            free(oldest->json);
    }
    for (size_t i = 0; i < l->n / 2; i++) {
        struct api_history_item t = l->items[i];
        l->items[i] = l->items[l->n - 1 - i];
        l->items[l->n - 1 - i] = t;
    }
    return 0;
}

void api_history_list_free(struct api_history_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].owned)
            free(l->items[i].json);
    free(l->items);
    memset(l, 0, sizeof(*l));
}
