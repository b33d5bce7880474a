/* config/dump.c — the resolved model for `corral check`: what each service will
 * actually run with once defaults are merged, as text or as one JSON object. */
#include "config/config.h"
#include "config/internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static bool plain_word(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c == '"' || c == '\'' || c == '\\' || c == '$' || c == '`' || c == 0x7f)
            return false;
    }
    return true;
}

/* Quoted only when needed, so that the common argv reads as it was written. */
/* A URL as corral shows it (cfg_url_redact), in buf. */
static const char *redacted(const char *url, char *buf, size_t size)
{
    cfg_url_redact(url, buf, size);
    return buf;
}

static void put_word(FILE *out, const char *s)
{
    if (plain_word(s)) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < ' ' || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void text_ids(const struct cfg_service *s, FILE *out)
{
    if (s->user)
        fprintf(out, "  user         %s (uid %u)\n", s->user, (unsigned)s->uid);
    if (s->group)
        fprintf(out, "  group        %s (gid %u)\n", s->group, (unsigned)s->gid);
    else if (s->user)
        fprintf(out, "  group        primary (gid %u)\n", (unsigned)s->gid);
}

static void text_env_deps(const struct cfg_service *s, FILE *out)
{
    for (size_t i = 0; i < s->n_env; i++) {
        fprintf(out, "  %-12s %s=", i ? "" : "env", s->env[i].key);
        put_word(out, s->env[i].value);
        fputc('\n', out);
    }
    if (s->env_file)
        fprintf(out, "  env_file     %s\n", s->env_file);
    for (size_t i = 0; i < s->n_deps; i++)
        fprintf(out, "  %-12s %s (%s)\n", i ? "" : "depends_on", s->deps[i].name,
                cfg_dep_cond_name(s->deps[i].cond));
    for (size_t i = 0; i < s->n_ports; i++)
        fprintf(out, "%s%u/%s%s", i ? ", " : "  ports        ", s->ports[i].port,
                cfg_proto_name(s->ports[i].proto), i + 1 == s->n_ports ? "\n" : "");
}

/* "0, 3, 143 (SIGTERM)", or "-" for an empty set. */
static void text_exit_set(const char *label, const struct cfg_exit_set *set, FILE *out)
{
    bool any = false;
    fprintf(out, "               %s ", label);
    for (int code = 0; code < 256; code++) {
        if (!cfg_exit_set_has(set, code))
            continue;
        fprintf(out, "%s%d", any ? ", " : "", code);
        if (code > 128 && cfg_signal_name(code - 128)[0] != '?')
            fprintf(out, " (SIG%s)", cfg_signal_name(code - 128));
        any = true;
    }
    fprintf(out, "%s\n", any ? "" : "-");
}

static void text_retry(const struct cfg_restart *r, FILE *out)
{
    char a[32];
    cfg_format_duration(r->retry_after_ms, a, sizeof(a));
    if (r->max_restarts && r->retry_after_ms)
        fprintf(out, "               after giving up, tries again every %s\n", a);
    else if (r->max_restarts)
        fprintf(out, "               after giving up, never tries again (retry_after: never)\n");
    text_exit_set("success exits", &r->success_exit_codes, out);
    text_exit_set("restart exits", &r->restart_on_exit_codes, out);
}

static void text_policies(const struct cfg_service *s, FILE *out)
{
    const struct cfg_restart *r = &s->restart;
    char a[32], b[32], c[32], d[32];
    cfg_format_duration(r->initial_ms, a, sizeof(a));
    cfg_format_duration(r->max_ms, b, sizeof(b));
    cfg_format_duration(r->reset_after_ms, c, sizeof(c));
    cfg_format_duration(r->window_ms, d, sizeof(d));
    fprintf(out, "  restart      %s: delay %s, x%g per failure, up to %s, jitter %g%%\n",
            cfg_restart_policy_name(r->policy), a, r->multiplier, b, r->jitter * 100.0);
    fprintf(out, "               backoff resets after %s up; ", c);
    if (r->max_restarts && r->window_ms)
        fprintf(out, "gives up after %u restarts in %s\n", r->max_restarts, d);
    else if (r->max_restarts) /* window 0: no time bound, only a stable run resets the count */
        fprintf(out, "gives up after %u restarts with no run of %s between them\n", r->max_restarts,
                c);
    else
        fprintf(out, "never gives up\n");
    text_retry(r, out);
    cfg_format_duration(s->stop.timeout_ms, a, sizeof(a));
    fprintf(out, "  stop         %s, then KILL after %s\n", cfg_signal_name(s->stop.signal), a);
    cfg_format_size(s->logs.max_size_bytes, a, sizeof(a));
    if (s->logs.max_size_bytes)
        fprintf(out, "  logs         rotate at %s, keep %u, timestamps %s\n", a, s->logs.keep,
                s->logs.timestamps ? "on" : "off");
    else
        fprintf(out, "  logs         never rotated, timestamps %s\n",
                s->logs.timestamps ? "on" : "off");
}

static void text_limits(const struct cfg_service *s, FILE *out)
{
    const struct cfg_limits *l = &s->limits;
    char a[32];
    const char *sep = "  limits       ";
    if (l->memory_bytes) {
        cfg_format_size(l->memory_bytes, a, sizeof(a));
        fprintf(out, "%smemory %s", sep, a);
        sep = ", ";
    }
    if (l->cpu_percent) {
        fprintf(out, "%scpu %u%%", sep, l->cpu_percent);
        sep = ", ";
    }
    if (l->pids) {
        fprintf(out, "%spids %u", sep, l->pids);
        sep = ", ";
    }
    if (l->nofile) {
        fprintf(out, "%snofile %u", sep, l->nofile);
        sep = ", ";
    }
    if (l->address_space_bytes) {
        cfg_format_size(l->address_space_bytes, a, sizeof(a));
        fprintf(out, "%saddress_space %s", sep, a);
        sep = ", ";
    }
    if (l->cpu_time_ms) {
        cfg_format_duration(l->cpu_time_ms, a, sizeof(a));
        fprintf(out, "%scpu_time %s", sep, a);
        sep = ", ";
    }
    if (sep[0] == ',')
        fputc('\n', out);
}

static void text_probe(const char *label, const struct cfg_probe *p, FILE *out)
{
    char what[512], iv[32], to[32], id[32];
    cfg_probe_describe(p, what, sizeof(what));
    cfg_format_duration(p->interval_ms, iv, sizeof(iv));
    cfg_format_duration(p->timeout_ms, to, sizeof(to));
    cfg_format_duration(p->initial_delay_ms, id, sizeof(id));
    fprintf(out, "  %-12s %s every %s (timeout %s, first after %s), %u ok / %u failed in a row\n",
            label, what, iv, to, id, p->success_threshold, p->failure_threshold);
}

static void text_health(const struct cfg_service *s, FILE *out)
{
    char a[32];
    if (s->kind != CFG_KIND_LONGRUN)
        return;
    cfg_format_duration(s->ready.timeout_ms, a, sizeof(a));
    if (s->ready.kind == CFG_READY_PROBE)
        text_probe("ready", s->ready.probe, out);
    else if (s->ready.kind == CFG_READY_FD)
        fprintf(out, "  ready        fd %d\n", s->ready.fd);
    else
        fprintf(out, "  ready        %s\n", cfg_ready_kind_name(s->ready.kind));
    if (s->ready.kind != CFG_READY_STARTED && s->ready.timeout_ms)
        fprintf(out, "               a fault if not ready within %s (ready_timeout)\n", a);
    else if (s->ready.kind != CFG_READY_STARTED)
        fprintf(out, "               no readiness timeout\n");
    if (s->liveness)
        text_probe("liveness", s->liveness, out);
    cfg_format_duration(s->watchdog_ms, a, sizeof(a));
    if (s->watchdog_ms)
        fprintf(out, "  watchdog     %s\n", a);
    cfg_format_duration(s->hung.for_ms, a, sizeof(a));
    if (s->hung.cpu_above)
        fprintf(out, "  hung         CPU above %u%% for %s: %s\n", s->hung.cpu_above, a,
                s->hung.restart ? "restarted" : "reported");
}

static void text_service(const struct cfg_service *s, FILE *out)
{
    fprintf(out, "\nservice %s (line %d)\n", s->name, s->pos.line);
    fprintf(out, "  kind         %s\n", cfg_kind_name(s->kind));
    fprintf(out, "  argv        ");
    for (size_t i = 0; i < s->argc; i++) {
        fputc(' ', out);
        put_word(out, s->argv[i]);
    }
    fprintf(out, "%s\n", s->shell ? "  (shell)" : "");
    fprintf(out, "  cwd          %s\n", s->cwd);
    text_ids(s, out);
    text_env_deps(s, out);
    text_policies(s, out);
    fprintf(out, "  autostart    %s\n", s->autostart ? "true" : "false");
    fprintf(out, "  on_recover   %s\n", cfg_recover_name(s->on_recover));
    text_limits(s, out);
    text_health(s, out);
}

static void text_hooks(const struct cfg_model *m, FILE *out)
{
    char t[32];
    for (size_t i = 0; i < m->n_hooks; i++) {
        const struct cfg_hook *h = &m->hooks[i];
        fprintf(out, "\nhook %zu (line %d)\n  on          ", i, h->pos.line);
        for (size_t k = 0; k < h->n_on; k++)
            fprintf(out, "%s%s", k ? ", " : " ", h->on[k]);
        fprintf(out, "\n  argv        ");
        for (size_t k = 0; k < h->argc; k++) {
            fputc(' ', out);
            put_word(out, h->argv[k]);
        }
        cfg_format_duration(h->timeout_ms, t, sizeof(t));
        fprintf(out, "%s\n  timeout      %s\n  services    ", h->shell ? "  (shell)" : "", t);
        for (size_t k = 0; k < h->n_services; k++)
            fprintf(out, "%s%s", k ? ", " : " ", h->services[k]);
        fprintf(out, "%s\n", h->n_services ? "" : " every service, and corral's own events");
    }
}

static void text_webhooks(const struct cfg_model *m, FILE *out)
{
    char t[32], url[1024];
    for (size_t i = 0; i < m->n_webhooks; i++) {
        const struct cfg_webhook *w = &m->webhooks[i];
        fprintf(out, "\nwebhook %zu (line %d)\n  on          ", i, w->pos.line);
        for (size_t k = 0; k < w->n_on; k++)
            fprintf(out, "%s%s", k ? ", " : " ", w->on[k]);
        cfg_format_duration(w->timeout_ms, t, sizeof(t));
        fprintf(out, "\n  url          %s\n  timeout      %s, %u retr%s\n  services    ",
                redacted(w->url, url, sizeof(url)), t, w->retries, w->retries == 1 ? "y" : "ies");
        for (size_t k = 0; k < w->n_services; k++)
            fprintf(out, "%s%s", k ? ", " : " ", w->services[k]);
        fprintf(out, "%s\n", w->n_services ? "" : " every service, and corral's own events");
    }
}

int cfg_dump_text(const struct cfg_model *m, FILE *out)
{
    if (!m || !out)
        return -EINVAL;
    fprintf(out, "config       %s\n", m->path);
    fprintf(out, "state_dir    %s\n", m->state_dir);
    fprintf(out, "containment  %s\n", cfg_containment_name(m->containment));
    fprintf(out, "api          %s/corral.sock%s%s\n", m->state_dir, m->api.listen ? ", " : "",
            m->api.listen ? m->api.listen : "");
    for (size_t i = 0; i < m->n_services; i++)
        text_service(&m->services[i], out);
    text_hooks(m, out);
    text_webhooks(m, out);
    fprintf(out, "\nstart order:");
    for (size_t i = 0; i < m->n_services; i++)
        fprintf(out, "%s %s", i ? "," : "", m->services[m->start_order[i]].name);
    fputc('\n', out);
    return ferror(out) ? -EIO : 0;
}

/* Paths come from the caller and may not be UTF-8; JSON must be. */
static json_t *jstr(const char *s)
{
    size_t len, ok;
    char *copy;
    json_t *j;
    if (!s)
        return json_null();
    len = strlen(s);
    ok = cfg_utf8_check(s, len);
    if (ok == len)
        return json_string(s);
    copy = strdup(s);
    if (!copy)
        return NULL;
    for (size_t i = ok; i < len; i += 1 + cfg_utf8_check(copy + i + 1, len - i - 1))
        copy[i] = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

/* Builders below collect failures in *bad instead of checking each call. */
static void put(json_t *obj, const char *key, json_t *val, bool *bad)
{
    /* The _new setters release val themselves when they fail. */
    if (!val || json_object_set_new(obj, key, val) < 0)
        *bad = true;
}

static void push(json_t *arr, json_t *val, bool *bad)
{
    if (!val || json_array_append_new(arr, val) < 0)
        *bad = true;
}

static json_t *json_exit_set(const struct cfg_exit_set *set, bool *bad)
{
    json_t *a = json_array();
    for (int code = 0; code < 256; code++)
        if (cfg_exit_set_has(set, code))
            push(a, json_integer(code), bad);
    return a;
}

static json_t *json_restart(const struct cfg_restart *r, bool *bad)
{
    json_t *o = json_object();
    put(o, "policy", json_string(cfg_restart_policy_name(r->policy)), bad);
    put(o, "initial_ms", json_integer((json_int_t)r->initial_ms), bad);
    put(o, "max_ms", json_integer((json_int_t)r->max_ms), bad);
    put(o, "multiplier", json_real(r->multiplier), bad);
    put(o, "jitter", json_real(r->jitter), bad);
    put(o, "reset_after_ms", json_integer((json_int_t)r->reset_after_ms), bad);
    put(o, "max_restarts", json_integer(r->max_restarts), bad);
    put(o, "window_ms", json_integer((json_int_t)r->window_ms), bad);
    put(o, "retry_after_ms",
        r->retry_after_ms ? json_integer((json_int_t)r->retry_after_ms) : json_null(), bad);
    put(o, "success_exit_codes", json_exit_set(&r->success_exit_codes, bad), bad);
    put(o, "restart_on_exit_codes", json_exit_set(&r->restart_on_exit_codes, bad), bad);
    return o;
}

static json_t *json_stop_logs(const struct cfg_service *s, bool logs, bool *bad)
{
    json_t *o = json_object();
    if (!logs) {
        put(o, "signal", json_string(cfg_signal_name(s->stop.signal)), bad);
        put(o, "timeout_ms", json_integer((json_int_t)s->stop.timeout_ms), bad);
        return o;
    }
    put(o, "max_size_bytes", json_integer((json_int_t)s->logs.max_size_bytes), bad);
    put(o, "keep", json_integer(s->logs.keep), bad);
    put(o, "timestamps", json_boolean(s->logs.timestamps), bad);
    return o;
}

static json_t *json_argv(const struct cfg_service *s, bool *bad)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->argc; i++)
        push(a, jstr(s->argv[i]), bad);
    return a;
}

static json_t *json_env(const struct cfg_service *s, bool *bad)
{
    json_t *o = json_object();
    for (size_t i = 0; i < s->n_env; i++)
        put(o, s->env[i].key, jstr(s->env[i].value), bad);
    return o;
}

static json_t *json_deps(const struct cfg_service *s, bool *bad)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n_deps; i++) {
        json_t *d = json_object();
        put(d, "name", json_string(s->deps[i].name), bad);
        put(d, "condition", json_string(cfg_dep_cond_name(s->deps[i].cond)), bad);
        push(a, d, bad);
    }
    return a;
}

static json_t *json_ports(const struct cfg_service *s, bool *bad)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n_ports; i++) {
        json_t *p = json_object();
        put(p, "port", json_integer(s->ports[i].port), bad);
        put(p, "proto", json_string(cfg_proto_name(s->ports[i].proto)), bad);
        push(a, p, bad);
    }
    return a;
}

/* null for each limit not set. */
static json_t *json_limits(const struct cfg_limits *l, bool *bad)
{
    json_t *o = json_object();
    put(o, "memory_bytes",
        l->memory_bytes ? json_integer((json_int_t)l->memory_bytes) : json_null(), bad);
    put(o, "cpu_percent", l->cpu_percent ? json_integer(l->cpu_percent) : json_null(), bad);
    put(o, "pids", l->pids ? json_integer(l->pids) : json_null(), bad);
    put(o, "nofile", l->nofile ? json_integer(l->nofile) : json_null(), bad);
    put(o, "address_space_bytes",
        l->address_space_bytes ? json_integer((json_int_t)l->address_space_bytes) : json_null(),
        bad);
    put(o, "cpu_time_ms", l->cpu_time_ms ? json_integer((json_int_t)l->cpu_time_ms) : json_null(),
        bad);
    return o;
}

static json_t *json_probe(const struct cfg_probe *p, bool *bad)
{
    char url[1024];
    json_t *o = json_object(), *k = json_object();
    if (!p || p->kind == CFG_PROBE_NONE) {
        json_decref(o);
        json_decref(k);
        return json_null();
    }
    if (p->kind == CFG_PROBE_TCP) {
        put(k, "host", jstr(p->host), bad);
        put(k, "port", json_integer(p->port), bad);
    } else if (p->kind == CFG_PROBE_EXEC) {
        json_t *a = json_array();
        for (size_t i = 0; i < p->argc; i++)
            push(a, jstr(p->argv[i]), bad);
        json_decref(k);
        k = a;
    } else if (p->kind == CFG_PROBE_LOG) {
        json_decref(k);
        k = jstr(p->regex);
    } else {
        put(k, "url", jstr(redacted(p->url, url, sizeof(url))), bad);
        put(k, "status_min", json_integer(p->status_min), bad);
        put(k, "status_max", json_integer(p->status_max), bad);
        put(k, "body", jstr(p->body), bad);
    }
    put(o, cfg_probe_kind_name(p->kind), k, bad);
    put(o, "interval_ms", json_integer((json_int_t)p->interval_ms), bad);
    put(o, "timeout_ms", json_integer((json_int_t)p->timeout_ms), bad);
    put(o, "initial_delay_ms", json_integer((json_int_t)p->initial_delay_ms), bad);
    put(o, "success_threshold", json_integer(p->success_threshold), bad);
    put(o, "failure_threshold", json_integer(p->failure_threshold), bad);
    return o;
}

/* ready: "started" | "notify" | {"fd": N} | a probe object. */
static json_t *json_ready(const struct cfg_service *s, bool *bad)
{
    if (s->ready.kind == CFG_READY_PROBE)
        return json_probe(s->ready.probe, bad);
    if (s->ready.kind == CFG_READY_FD)
        return json_pack("{s:i}", "fd", s->ready.fd);
    return json_string(cfg_ready_kind_name(s->ready.kind));
}

static void json_health(json_t *o, const struct cfg_service *s, bool *bad)
{
    put(o, "ready", json_ready(s, bad), bad);
    put(o, "ready_timeout_ms", json_integer((json_int_t)s->ready.timeout_ms), bad);
    put(o, "liveness", json_probe(s->liveness, bad), bad);
    put(o, "watchdog_ms", json_integer((json_int_t)s->watchdog_ms), bad);
    put(o, "hung",
        s->hung.cpu_above
            ? json_pack("{s:i,s:I,s:b}", "cpu_above_percent", (int)s->hung.cpu_above, "for_ms",
                        (json_int_t)s->hung.for_ms, "restart", (int)s->hung.restart)
            : json_null(),
        bad);
}

static json_t *json_service(const struct cfg_service *s, bool *bad)
{
    json_t *o = json_object();
    bool ids = s->user || s->group;
    put(o, "name", json_string(s->name), bad);
    put(o, "line", json_integer(s->pos.line), bad);
    put(o, "col", json_integer(s->pos.col), bad);
    put(o, "kind", json_string(cfg_kind_name(s->kind)), bad);
    put(o, "argv", json_argv(s, bad), bad);
    put(o, "shell", json_boolean(s->shell), bad);
    put(o, "cwd", jstr(s->cwd), bad);
    put(o, "env", json_env(s, bad), bad);
    put(o, "env_file", jstr(s->env_file), bad);
    put(o, "user", jstr(s->user), bad);
    put(o, "uid", s->user ? json_integer(s->uid) : json_null(), bad);
    put(o, "group", jstr(s->group), bad);
    put(o, "gid", ids ? json_integer(s->gid) : json_null(), bad);
    put(o, "depends_on", json_deps(s, bad), bad);
    put(o, "ports", json_ports(s, bad), bad);
    put(o, "restart", json_restart(&s->restart, bad), bad);
    put(o, "stop", json_stop_logs(s, false, bad), bad);
    put(o, "logs", json_stop_logs(s, true, bad), bad);
    put(o, "autostart", json_boolean(s->autostart), bad);
    put(o, "on_recover", jstr(cfg_recover_name(s->on_recover)), bad);
    put(o, "limits", json_limits(&s->limits, bad), bad);
    json_health(o, s, bad);
    return o;
}

static json_t *json_api(const struct cfg_api *api, bool *bad)
{
    json_t *o = json_object();
    put(o, "listen", api->listen ? jstr(api->listen) : json_null(), bad);
    put(o, "token_file", jstr(api->token_file), bad);
    put(o, "events_keep", json_integer((json_int_t)api->events_keep), bad);
    return o;
}

json_t *cfg_service_json(const struct cfg_service *s)
{
    bool bad = false;
    json_t *o = json_service(s, &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *json_strings(const char *const *list, size_t n, bool *bad)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        push(a, jstr(list[i]), bad);
    return a;
}

static json_t *json_hooks(const struct cfg_model *m, bool *bad)
{
    json_t *a = json_array();
    for (size_t i = 0; i < m->n_hooks; i++) {
        const struct cfg_hook *h = &m->hooks[i];
        json_t *o = json_object();
        put(o, "line", json_integer(h->pos.line), bad);
        put(o, "col", json_integer(h->pos.col), bad);
        put(o, "on", json_strings(h->on, h->n_on, bad), bad);
        put(o, "argv", json_strings((const char *const *)h->argv, h->argc, bad), bad);
        put(o, "shell", json_boolean(h->shell), bad);
        put(o, "timeout_ms", json_integer((json_int_t)h->timeout_ms), bad);
        put(o, "services",
            h->n_services ? json_strings(h->services, h->n_services, bad) : json_null(), bad);
        push(a, o, bad);
    }
    return a;
}

static json_t *json_webhooks(const struct cfg_model *m, bool *bad)
{
    char url[1024];
    json_t *a = json_array();
    for (size_t i = 0; i < m->n_webhooks; i++) {
        const struct cfg_webhook *w = &m->webhooks[i];
        json_t *o = json_object();
        put(o, "line", json_integer(w->pos.line), bad);
        put(o, "col", json_integer(w->pos.col), bad);
        put(o, "on", json_strings(w->on, w->n_on, bad), bad);
        put(o, "url", jstr(redacted(w->url, url, sizeof(url))), bad);
        put(o, "timeout_ms", json_integer((json_int_t)w->timeout_ms), bad);
        put(o, "retries", json_integer(w->retries), bad);
        put(o, "services",
            w->n_services ? json_strings(w->services, w->n_services, bad) : json_null(), bad);
        push(a, o, bad);
    }
    return a;
}

static json_t *json_model(const struct cfg_model *m, bool *bad)
{
    json_t *o = json_object(), *svcs = json_array(), *order = json_array();
    put(o, "path", jstr(m->path), bad);
    put(o, "dir", jstr(m->dir), bad);
    put(o, "state_dir", jstr(m->state_dir), bad);
    put(o, "containment", json_string(cfg_containment_name(m->containment)), bad);
    put(o, "api", json_api(&m->api, bad), bad);
    for (size_t i = 0; i < m->n_services; i++) {
        push(svcs, json_service(&m->services[i], bad), bad);
        push(order, json_string(m->services[m->start_order[i]].name), bad);
    }
    put(o, "services", svcs, bad);
    put(o, "start_order", order, bad);
    put(o, "hooks", json_hooks(m, bad), bad);
    put(o, "webhooks", json_webhooks(m, bad), bad);
    return o;
}

int cfg_dump_json(const struct cfg_model *m, FILE *out)
{
    bool bad = false;
    json_t *root;
    int r = 0;
    if (!m || !out)
        return -EINVAL;
    root = json_model(m, &bad);
    if (bad || !root)
        r = -ENOMEM;
    else if (json_dumpf(root, out, JSON_INDENT(2) | JSON_REAL_PRECISION(12)) < 0 ||
             fputc('\n', out) == EOF || ferror(out))
        r = -EIO;
    json_decref(root);
    return r;
}
