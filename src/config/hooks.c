/* config/hooks.c — the hooks: list: a command run on chosen events, with the
 * event on its stdin and in its environment, under a timeout. */
#include "config/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The events a hook may be run on: the supervisor's event kinds, as the API
 * names them (a unit test holds the two lists together). */
const char *const cfg_event_names[] = {
    "started",   "exited",        "leftover",       "restarting", "completed",
    "failed",    "stopping",      "killing",        "survivor",   "stopped",
    "logs_lost", "reaped",        "adopted",        "recovering", "stale",
    "blocked",   "orphan",        "limit_exceeded", "starting",   "ready",
    "unhealthy", "notify_denied", "gave_up",        "recovered",  "logs_not_rotated",
};
const size_t cfg_n_event_names = sizeof(cfg_event_names) / sizeof(cfg_event_names[0]);

enum hook_key { HK_ON, HK_COMMAND, HK_SHELL, HK_TIMEOUT, HK_SERVICES, HK__COUNT };
static const char *const hook_keys[HK__COUNT] = {"on", "command", "shell", "timeout", "services"};

/* One hook while it is read: command and services are checked once every
 * key is known (shell changes what command means). */
struct hook_build {
    struct cfg_hook *h;
    const struct cfg_node *map;
    const struct cfg_node *command;
    const struct cfg_node *services;
};

bool cfg_event_known(const char *name)
{
    for (size_t i = 0; i < cfg_n_event_names; i++)
        if (strcmp(name, cfg_event_names[i]) == 0)
            return true;
    return false;
}

static int event_name(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                      const char **out)
{
    const char *s, *near;
    int r = cfg_yaml_scalar(pc, v, field, &s);
    if (r < 0)
        return r;
    if (cfg_event_known(s)) {
        *out = cfg_arena_strdup(pc->ar, s);
        return *out ? 0 : cfg_nomem(pc);
    }
    near = cfg_suggest(s, cfg_event_names, cfg_n_event_names);
    if (near)
        return cfg_err(pc, v, field, "unknown event '%s' (did you mean '%s'?)", s, near);
    return cfg_err(pc, v, field,
                   "unknown event '%s' (events: started, exited, restarting, completed, failed, "
                   "gave_up, recovered, stopping, stopped, ... see docs/api.md)",
                   s);
}

/* A list of scalars (or one scalar) into an arena array of strings. */
static int string_list(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                       int (*one)(struct cfg_ctx *, const struct cfg_node *, const char *,
                                  const char **),
                       const char ***out, size_t *n_out)
{
    char sub[DIAG_FIELD_MAX];
    const char **list;
    size_t i = 0;
    if (v->type == CFG_NODE_SCALAR) {
        list = cfg_arena_array(pc->ar, 1, sizeof(*list));
        if (!list)
            return cfg_nomem(pc);
        *out = list;
        *n_out = 1;
        return one(pc, v, field, &list[0]);
    }
    if (v->type != CFG_NODE_SEQ || !v->n)
        return cfg_err(pc, v, field, "expected a name or a list of names, got %s",
                       v->type == CFG_NODE_SEQ ? "an empty list" : cfg_yaml_type_name(v));
    list = cfg_arena_array(pc->ar, v->n, sizeof(*list));
    if (!list)
        return cfg_nomem(pc);
    for (const struct cfg_node *it = v->child; it; it = it->next, i++) {
        int r;
        snprintf(sub, sizeof(sub), "%s[%zu]", field, i);
        if ((r = one(pc, it, sub, &list[i])) < 0)
            return r;
        for (size_t k = 0; k < i; k++)
            if (!strcmp(list[k], list[i]))
                return cfg_err(pc, it, sub, "'%s' is listed twice", list[i]);
    }
    *out = list;
    *n_out = i;
    return 0;
}

static int any_name(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                    const char **out)
{
    const char *s;
    int r = cfg_yaml_scalar(pc, v, field, &s);
    if (r < 0)
        return r;
    *out = cfg_arena_strdup(pc->ar, s);
    return *out ? 0 : cfg_nomem(pc);
}

static int hook_key(struct cfg_ctx *pc, void *obj, int key, const struct cfg_node *k,
                    const struct cfg_node *v, const char *field)
{
    struct hook_build *hb = obj;
    const char *s;
    int r;
    (void)k;
    switch ((enum hook_key)key) {
    case HK_ON:
        return string_list(pc, v, field, event_name, (const char ***)&hb->h->on, &hb->h->n_on);
    case HK_COMMAND:
        hb->command = v;
        return 0;
    case HK_SHELL:
        r = cfg_yaml_value(pc, v, field, "true or false", &s);
        if (r < 0 || cfg_parse_bool(s, &hb->h->shell) == 0)
            return r;
        return cfg_err(pc, v, field, "expected true or false, got '%s'", s);
    case HK_TIMEOUT:
        r = cfg_yaml_value(pc, v, field, "a duration such as 10s", &s);
        if (r < 0)
            return r;
        if (cfg_parse_duration(s, &hb->h->timeout_ms) < 0 || hb->h->timeout_ms == 0 ||
            hb->h->timeout_ms > CFG_HOOK_TIMEOUT_MAX_MS)
            return cfg_err(pc, v, field,
                           "invalid timeout '%s' (expected a duration from 1ms to 1h, e.g. 10s)",
                           s);
        return 0;
    case HK_SERVICES:
        hb->services = v;
        return 0;
    case HK__COUNT:
        break;
    }
    return 0;
}

static int hook_argv(struct cfg_ctx *pc, struct hook_build *hb, const char *base)
{
    const struct cfg_node *v = hb->command;
    char field[DIAG_FIELD_MAX], sub[DIAG_FIELD_MAX];
    char **argv;
    size_t i = 0;
    cfg_yaml_field(field, sizeof(field), base, "command");
    if (!v)
        return cfg_err(pc, hb->map, field, "missing 'command' (a list such as [./notify.sh])");
    if (v->type == CFG_NODE_SCALAR && hb->h->shell && v->len) {
        argv = cfg_arena_array(pc->ar, 4, sizeof(*argv));
        if (!argv || !(argv[0] = cfg_arena_strdup(pc->ar, "/bin/sh")) ||
            !(argv[1] = cfg_arena_strdup(pc->ar, "-c")) ||
            !(argv[2] = cfg_arena_strndup(pc->ar, v->text, v->len)))
            return cfg_nomem(pc);
        hb->h->argv = argv;
        hb->h->argc = 3;
        return 0;
    }
    if (v->type == CFG_NODE_SCALAR)
        return cfg_err(pc, v, field,
                       hb->h->shell ? "command is empty"
                                    : "command is a string; write it as a list (e.g. "
                                      "[./notify.sh]) or set shell: true");
    if (v->type != CFG_NODE_SEQ || !v->n || v->n > CFG_MAX_ARGV)
        return cfg_err(pc, v, field, "expected a non-empty list of at most %d arguments",
                       CFG_MAX_ARGV);
    if (hb->h->shell)
        return cfg_err(pc, v, field, "shell: true needs command as a single string");
    argv = cfg_arena_array(pc->ar, v->n + 1, sizeof(*argv));
    if (!argv)
        return cfg_nomem(pc);
    for (const struct cfg_node *it = v->child; it; it = it->next, i++) {
        const char *s;
        int r;
        snprintf(sub, sizeof(sub), "%s[%zu]", field, i);
        if ((r = cfg_yaml_scalar(pc, it, sub, &s)) < 0)
            return r;
        if (!(argv[i] = cfg_arena_strndup(pc->ar, s, it->len)))
            return cfg_nomem(pc);
    }
    if (!argv[0][0])
        return cfg_err(pc, v->child, field, "the program (the first item) is empty");
    hb->h->argv = argv;
    hb->h->argc = v->n;
    return 0;
}

/* services: a name or a list of configured services' names, for a hook or
 * a webhook; none: every event. */
static int services_filter(struct cfg_ctx *pc, const struct cfg_node *v, const struct cfg_model *m,
                           const char *base, const char *const **out, size_t *n_out)
{
    char field[DIAG_FIELD_MAX], sub[DIAG_FIELD_MAX];
    const struct cfg_node *it;
    int r;
    if (!v)
        return 0;
    cfg_yaml_field(field, sizeof(field), base, "services");
    r = string_list(pc, v, field, any_name, (const char ***)out, n_out);
    if (r < 0)
        return r;
    it = v->type == CFG_NODE_SEQ ? v->child : v;
    for (size_t i = 0; i < *n_out; i++, it = it ? it->next : NULL) {
        if (cfg_find(m, (*out)[i]) >= 0)
            continue;
        char hint[CFG_HINT_MAX];
        snprintf(sub, sizeof(sub), "%s[%zu]", field, i);
        return cfg_err(pc, it, v->type == CFG_NODE_SEQ ? sub : field, "unknown service '%s'%s",
                       (*out)[i],
                       cfg_did_you_mean(cfg_suggest_service(m, (*out)[i]), hint, sizeof(hint)));
    }
    return 0;
}

/* A filter by service drops corral's own events, which are of no service
 * ("reaped": a descendant reaped). With only those in 'on' it drops all. */
static int filter_can_match(struct cfg_ctx *pc, const struct cfg_node *services, const char *field,
                            const char *const *on, size_t n_on)
{
    char sub[DIAG_FIELD_MAX];
    for (size_t i = 0; i < n_on; i++)
        if (strcmp(on[i], "reaped") != 0)
            return 0;
    cfg_yaml_field(sub, sizeof(sub), field, "services");
    return cfg_err(pc, services, sub,
                   "'reaped' is corral's own event, of no service: with 'services' this never "
                   "runs");
}

static int parse_hook(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                      const struct cfg_model *m, struct cfg_hook *h)
{
    struct hook_build hb = {.h = h, .map = v};
    char on_field[DIAG_FIELD_MAX];
    int r;
    h->pos = v->pos;
    h->timeout_ms = CFG_HOOK_TIMEOUT_DEFAULT_MS;
    r = cfg_yaml_walk(pc, v, field, hook_keys, HK__COUNT, hook_key, &hb);
    if (r < 0)
        return r;
    cfg_yaml_field(on_field, sizeof(on_field), field, "on");
    if (!h->n_on)
        return cfg_err(pc, v, on_field, "missing 'on' (the events to run on, e.g. [failed])");
    r = hook_argv(pc, &hb, field);
    if (r >= 0)
        r = services_filter(pc, hb.services, m, field, &h->services, &h->n_services);
    if (r >= 0 && h->n_services)
        r = filter_can_match(pc, hb.services, field, h->on, h->n_on);
    return r;
}

int cfg_hooks_parse(struct cfg_ctx *pc, const struct cfg_node *v, struct cfg_model *m)
{
    char field[DIAG_FIELD_MAX];
    struct cfg_hook *hooks;
    size_t i = 0;
    int r;
    if (!v)
        return 0;
    if ((r = cfg_yaml_expect(pc, v, CFG_NODE_SEQ, "hooks")) < 0)
        return r;
    if (v->n > CFG_MAX_HOOKS)
        return cfg_err(pc, v, "hooks", "more than %d hooks", CFG_MAX_HOOKS);
    hooks = cfg_arena_array(pc->ar, v->n ? v->n : 1, sizeof(*hooks));
    if (!hooks)
        return cfg_nomem(pc);
    for (const struct cfg_node *it = v->child; it; it = it->next, i++) {
        snprintf(field, sizeof(field), "hooks[%zu]", i);
        if ((r = parse_hook(pc, it, field, m, &hooks[i])) < 0)
            return r;
    }
    m->hooks = hooks;
    m->n_hooks = i;
    return 0;
}

/* --- webhooks: the event's JSON POSTed to a URL ---------------------------------------- */

enum webhook_key { WK_ON, WK_URL, WK_TIMEOUT, WK_RETRIES, WK_SERVICES, WK__COUNT };
static const char *const webhook_keys[WK__COUNT] = {"on", "url", "timeout", "retries", "services"};

struct webhook_build {
    struct cfg_webhook *w;
    const struct cfg_node *services;
};

static int webhook_url(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                       const char **out)
{
    const char *s, *why;
    int r = cfg_yaml_scalar(pc, v, field, &s);
    if (r < 0)
        return r;
    if (cfg_check_url(s, &why) < 0)
        return cfg_err_url(pc, v, field, s, why);
    *out = cfg_arena_strdup(pc->ar, s);
    return *out ? 0 : cfg_nomem(pc);
}

static int webhook_key(struct cfg_ctx *pc, void *obj, int key, const struct cfg_node *k,
                       const struct cfg_node *v, const char *field)
{
    struct webhook_build *wb = obj;
    struct cfg_webhook *w = wb->w;
    const char *s;
    char *end;
    unsigned long n;
    int r;
    (void)k;
    switch ((enum webhook_key)key) {
    case WK_ON:
        return string_list(pc, v, field, event_name, (const char ***)&w->on, &w->n_on);
    case WK_URL:
        return webhook_url(pc, v, field, &w->url);
    case WK_TIMEOUT:
        if ((r = cfg_yaml_value(pc, v, field, "a duration such as 2s", &s)) < 0)
            return r;
        if (cfg_parse_duration(s, &w->timeout_ms) < 0 || w->timeout_ms == 0 ||
            w->timeout_ms > CFG_WEBHOOK_TIMEOUT_MAX_MS)
            return cfg_err(pc, v, field,
                           "invalid timeout '%s' (expected a duration from 1ms to 5m, e.g. 2s)", s);
        return 0;
    case WK_RETRIES:
        if ((r = cfg_yaml_value(pc, v, field, "a whole number", &s)) < 0)
            return r;
        errno = 0;
        n = strtoul(s, &end, 10);
        if (!*s || *end || *s == '-' || errno || n > CFG_WEBHOOK_RETRIES_MAX)
            return cfg_err(pc, v, field, "invalid retries '%s' (expected a number from 0 to %d)", s,
                           CFG_WEBHOOK_RETRIES_MAX);
        w->retries = (unsigned)n;
        return 0;
    case WK_SERVICES:
        wb->services = v;
        return 0;
    case WK__COUNT:
        break;
    }
    return 0;
}

static int parse_webhook(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                         const struct cfg_model *m, struct cfg_webhook *w)
{
    struct webhook_build wb = {.w = w};
    char sub[DIAG_FIELD_MAX];
    int r;
    w->pos = v->pos;
    w->timeout_ms = CFG_WEBHOOK_TIMEOUT_DEFAULT_MS;
    w->retries = CFG_WEBHOOK_RETRIES_DEFAULT;
    r = cfg_yaml_walk(pc, v, field, webhook_keys, WK__COUNT, webhook_key, &wb);
    if (r < 0)
        return r;
    if (!w->n_on) {
        cfg_yaml_field(sub, sizeof(sub), field, "on");
        return cfg_err(pc, v, sub, "missing 'on' (the events to post, e.g. [failed])");
    }
    if (!w->url) {
        cfg_yaml_field(sub, sizeof(sub), field, "url");
        return cfg_err(pc, v, sub, "missing 'url' (e.g. \"http://127.0.0.1:9000/hook\")");
    }
    r = services_filter(pc, wb.services, m, field, &w->services, &w->n_services);
    if (r >= 0 && w->n_services)
        r = filter_can_match(pc, wb.services, field, w->on, w->n_on);
    return r;
}

int cfg_webhooks_parse(struct cfg_ctx *pc, const struct cfg_node *v, struct cfg_model *m)
{
    char field[DIAG_FIELD_MAX];
    struct cfg_webhook *ws;
    size_t i = 0;
    int r;
    if (!v)
        return 0;
    if ((r = cfg_yaml_expect(pc, v, CFG_NODE_SEQ, "webhooks")) < 0)
        return r;
    if (v->n > CFG_MAX_WEBHOOKS)
        return cfg_err(pc, v, "webhooks", "more than %d webhooks", CFG_MAX_WEBHOOKS);
    ws = cfg_arena_array(pc->ar, v->n ? v->n : 1, sizeof(*ws));
    if (!ws)
        return cfg_nomem(pc);
    for (const struct cfg_node *it = v->child; it; it = it->next, i++) {
        snprintf(field, sizeof(field), "webhooks[%zu]", i);
        if ((r = parse_webhook(pc, it, field, m, &ws[i])) < 0)
            return r;
    }
    m->webhooks = ws;
    m->n_webhooks = i;
    return 0;
}
