/* config/health.c — a service's ready:, liveness:, watchdog: and ready_timeout:
 * keys: the readiness protocol (started, notify, fd) or a probe (tcp, exec,
 * log or http). */
#include "config/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

const char *const cfg_ready_kind_names[CFG_READY__COUNT] = {
    [CFG_READY_STARTED] = "started",
    [CFG_READY_NOTIFY] = "notify",
    [CFG_READY_FD] = "fd",
    [CFG_READY_PROBE] = "probe",
};

const char *const cfg_probe_kind_names[CFG_PROBE__COUNT] = {
    [CFG_PROBE_NONE] = "none", [CFG_PROBE_TCP] = "tcp",   [CFG_PROBE_EXEC] = "exec",
    [CFG_PROBE_LOG] = "log",   [CFG_PROBE_HTTP] = "http",
};

/* Defaults: a readiness probe asks often, as something waits for it; a
 * liveness probe of a running service less so. */
#define READY_INTERVAL_MS    1000
#define LIVENESS_INTERVAL_MS 10000
#define PROBE_TIMEOUT_MS     1000
#define PROBE_MIN_MS         10 /* interval and timeout: no busy loop by typo */

enum probe_key {
    PK_TCP,
    PK_EXEC,
    PK_LOG,
    PK_HTTP,
    PK_INTERVAL,
    PK_TIMEOUT,
    PK_INITIAL_DELAY,
    PK_SUCCESS_THRESHOLD,
    PK_FAILURE_THRESHOLD,
    PK_FD, /* only in ready:, and alone */
    PK__COUNT
};
static const char *const probe_keys[PK__COUNT] = {
    "tcp",
    "exec",
    "log",
    "http",
    "interval",
    "timeout",
    "initial_delay",
    "success_threshold",
    "failure_threshold",
    "fd",
};

enum tcp_key { TCK_HOST, TCK_PORT, TCK__COUNT };
static const char *const tcp_keys[TCK__COUNT] = {"host", "port"};
enum http_key { HK_URL, HK_STATUS, HK_BODY, HK__COUNT };
static const char *const http_keys[HK__COUNT] = {"url", "status", "body"};

struct probe_build {
    struct cfg_probe *p;
    bool ready; /* parsing ready:, where fd is allowed */
    const struct cfg_node *kind_key;
    const struct cfg_node *fd_key;
    int *fd;
    const struct cfg_node *interval, *timeout;
};

const char *cfg_ready_kind_name(enum cfg_ready_kind k)
{
    return (unsigned)k < CFG_READY__COUNT ? cfg_ready_kind_names[k] : "?";
}

const char *cfg_probe_kind_name(enum cfg_probe_kind k)
{
    return (unsigned)k < CFG_PROBE__COUNT ? cfg_probe_kind_names[k] : "?";
}

void cfg_probe_describe(const struct cfg_probe *p, char *buf, size_t size)
{
    switch (p->kind) {
    case CFG_PROBE_TCP:
        snprintf(buf, size, strchr(p->host, ':') ? "tcp [%s]:%u" : "tcp %s:%u", p->host, p->port);
        return;
    case CFG_PROBE_EXEC:
        snprintf(buf, size, "exec %s", p->argv[0]);
        return;
    case CFG_PROBE_LOG:
        snprintf(buf, size, "log /%s/", p->regex);
        return;
    case CFG_PROBE_HTTP: {
        char url[1024];
        cfg_url_redact(p->url, url, sizeof(url));
        snprintf(buf, size, "http %s", url);
        return;
    }
    case CFG_PROBE_NONE:
    case CFG_PROBE__COUNT:
        break;
    }
    snprintf(buf, size, "none");
}

static int uint_value(struct cfg_ctx *pc, const struct cfg_node *v, const char *field, uint64_t min,
                      uint64_t max, uint64_t *out)
{
    const char *s;
    int r = cfg_yaml_value(pc, v, field, "a whole number", &s);
    if (r < 0)
        return r;
    if (cfg_parse_uint(s, max, out) == 0 && *out >= min)
        return 0;
    return cfg_err(pc, v, field, "invalid number '%s' (expected a whole number from %llu to %llu)",
                   s, (unsigned long long)min, (unsigned long long)max);
}

static int tcp_key(struct cfg_ctx *pc, void *obj, int key, const struct cfg_node *k,
                   const struct cfg_node *v, const char *field)
{
    struct cfg_probe *p = obj;
    unsigned char addr[16];
    const char *s;
    uint64_t n;
    int r;
    (void)k;
    if (key == TCK_PORT) {
        r = uint_value(pc, v, field, 1, 65535, &n);
        p->port = (unsigned)n;
        return r;
    }
    r = cfg_yaml_value(pc, v, field, "an IP address", &s);
    if (r < 0)
        return r;
    if (!strcmp(s, "localhost"))
        s = "127.0.0.1";
    /* An address, not a name: resolving one would block the loop. */
    if (inet_pton(AF_INET, s, addr) != 1 && inet_pton(AF_INET6, s, addr) != 1)
        return cfg_err(pc, v, field,
                       "invalid host '%s' (expected an IP address such as 127.0.0.1 or ::1; "
                       "names are not resolved)",
                       s);
    p->host = cfg_arena_strdup(pc->ar, s);
    return p->host ? 0 : cfg_nomem(pc);
}

/* "200", "200-299". */
static int status_range(struct cfg_ctx *pc, struct cfg_probe *p, const struct cfg_node *v,
                        const char *field)
{
    char lo[8] = "", *dash;
    uint64_t a, b;
    const char *s;
    int r =
        cfg_yaml_value(pc, v, field, "a status code such as 200, or a range such as 200-299", &s);
    if (r < 0)
        return r;
    snprintf(lo, sizeof(lo), "%s", s);
    dash = strchr(lo, '-');
    if (dash)
        *dash = '\0';
    if (strlen(s) < sizeof(lo) && cfg_parse_uint(lo, 599, &a) == 0 && a >= 100 &&
        cfg_parse_uint(dash ? strchr(s, '-') + 1 : lo, 599, &b) == 0 && b >= a) {
        p->status_min = (unsigned)a;
        p->status_max = (unsigned)b;
        return 0;
    }
    return cfg_err(pc, v, field,
                   "invalid status '%s' (expected a code such as 200 or a range such as 200-299)",
                   s);
}

static int http_key(struct cfg_ctx *pc, void *obj, int key, const struct cfg_node *k,
                    const struct cfg_node *v, const char *field)
{
    struct cfg_probe *p = obj;
    const char *s, *why;
    int r;
    (void)k;
    if (key == HK_STATUS)
        return status_range(pc, p, v, field);
    r = cfg_yaml_scalar(pc, v, field, &s);
    if (r < 0)
        return r;
    if (key == HK_URL && cfg_check_url(s, &why) < 0)
        return cfg_err_url(pc, v, field, s, why);
    s = cfg_arena_strdup(pc->ar, s);
    if (!s)
        return cfg_nomem(pc);
    if (key == HK_URL)
        p->url = s;
    else
        p->body = s;
    return 0;
}

static int exec_argv(struct cfg_ctx *pc, struct cfg_probe *p, const struct cfg_node *v,
                     const char *field)
{
    char sub[DIAG_FIELD_MAX];
    char **argv;
    size_t i = 0;
    int r = cfg_yaml_expect(pc, v, CFG_NODE_SEQ, field);
    if (r < 0)
        return r;
    if (!v->n)
        return cfg_err(pc, v, field, "the command is empty");
    if (v->n > CFG_MAX_ARGV)
        return cfg_err(pc, v, field, "more than %d arguments", CFG_MAX_ARGV);
    argv = cfg_arena_array(pc->ar, v->n + 1, sizeof(*argv));
    if (!argv)
        return cfg_nomem(pc);
    for (const struct cfg_node *it = v->child; it; it = it->next, i++) {
        const char *s;
        snprintf(sub, sizeof(sub), "%s[%zu]", field, i);
        r = cfg_yaml_scalar(pc, it, sub, &s);
        if (r < 0)
            return r;
        if (!(argv[i] = cfg_arena_strdup(pc->ar, s)))
            return cfg_nomem(pc);
    }
    if (!argv[0][0])
        return cfg_err(pc, v->child, field, "the program (the first item) is empty");
    p->argv = argv;
    p->argc = v->n;
    return 0;
}

static int log_regex(struct cfg_ctx *pc, struct cfg_probe *p, const struct cfg_node *v,
                     const char *field)
{
    char msg[128];
    regex_t rx;
    const char *s;
    int r = cfg_yaml_scalar(pc, v, field, &s);
    if (r < 0)
        return r;
    if (!s[0])
        return cfg_err(pc, v, field, "the regex is empty (it would match every line)");
    r = regcomp(&rx, s, REG_EXTENDED | REG_NOSUB);
    if (r != 0) {
        regerror(r, &rx, msg, sizeof(msg));
        return cfg_err(pc, v, field, "invalid regex '%s': %s (POSIX extended syntax)", s, msg);
    }
    regfree(&rx);
    p->regex = cfg_arena_strdup(pc->ar, s);
    return p->regex ? 0 : cfg_nomem(pc);
}

static int probe_kind(struct cfg_ctx *pc, struct probe_build *pb, int key, const struct cfg_node *k,
                      const struct cfg_node *v, const char *field)
{
    static const enum cfg_probe_kind kinds[] = {CFG_PROBE_TCP, CFG_PROBE_EXEC, CFG_PROBE_LOG,
                                                CFG_PROBE_HTTP};
    struct cfg_probe *p = pb->p;
    int r = 0;
    if (pb->kind_key)
        return cfg_err(pc, k, field, "a probe has one kind, but this one has %s and %s",
                       pb->kind_key->text, k->text);
    pb->kind_key = k;
    p->kind = kinds[key];
    p->pos = k->pos;
    switch (p->kind) {
    case CFG_PROBE_TCP:
        r = cfg_yaml_walk(pc, v, field, tcp_keys, TCK__COUNT, tcp_key, p);
        if (r >= 0 && !p->port)
            return cfg_err(pc, v, field, "missing 'port'");
        if (r >= 0 && !p->host)
            p->host = "127.0.0.1";
        return r;
    case CFG_PROBE_EXEC:
        return exec_argv(pc, p, v, field);
    case CFG_PROBE_LOG:
        return log_regex(pc, p, v, field);
    case CFG_PROBE_HTTP:
        /* As most health checks read it: any success or redirect. */
        p->status_min = 200;
        p->status_max = 399;
        r = cfg_yaml_walk(pc, v, field, http_keys, HK__COUNT, http_key, p);
        if (r >= 0 && !p->url)
            return cfg_err(pc, v, field, "missing 'url'");
        return r;
    case CFG_PROBE_NONE:
    case CFG_PROBE__COUNT:
        break;
    }
    return 0;
}

static int probe_key(struct cfg_ctx *pc, void *obj, int key, const struct cfg_node *k,
                     const struct cfg_node *v, const char *field)
{
    struct probe_build *pb = obj;
    struct cfg_probe *p = pb->p;
    uint64_t n;
    int r;
    switch ((enum probe_key)key) {
    case PK_TCP:
    case PK_EXEC:
    case PK_LOG:
    case PK_HTTP:
        return probe_kind(pc, pb, key, k, v, field);
    case PK_INTERVAL:
        pb->interval = v;
        return cfg_duration_value(pc, v, field, &p->interval_ms);
    case PK_TIMEOUT:
        pb->timeout = v;
        return cfg_duration_value(pc, v, field, &p->timeout_ms);
    case PK_INITIAL_DELAY:
        return cfg_duration_value(pc, v, field, &p->initial_delay_ms);
    case PK_SUCCESS_THRESHOLD:
    case PK_FAILURE_THRESHOLD:
        r = uint_value(pc, v, field, 1, CFG_PROBE_MAX_THRESHOLD, &n);
        *(key == PK_SUCCESS_THRESHOLD ? &p->success_threshold : &p->failure_threshold) =
            (unsigned)n;
        return r;
    case PK_FD:
        if (!pb->ready)
            return cfg_err(pc, k, field,
                           "fd is a readiness protocol (ready: {fd: N}), not a probe");
        pb->fd_key = k;
        r = uint_value(pc, v, field, CFG_READY_FD_MIN, CFG_READY_FD_MAX, &n);
        *pb->fd = (int)n;
        return r;
    case PK__COUNT:
        break;
    }
    return 0;
}

static int probe_check(struct cfg_ctx *pc, const struct probe_build *pb, const struct cfg_node *v,
                       const char *field)
{
    const struct cfg_probe *p = pb->p;
    char sub[DIAG_FIELD_MAX];
    if (p->interval_ms < PROBE_MIN_MS) {
        cfg_yaml_field(sub, sizeof(sub), field, "interval");
        return cfg_err(pc, pb->interval, sub, "interval must be at least %dms", PROBE_MIN_MS);
    }
    if (p->timeout_ms < PROBE_MIN_MS) {
        cfg_yaml_field(sub, sizeof(sub), field, "timeout");
        return cfg_err(pc, pb->timeout, sub, "timeout must be at least %dms", PROBE_MIN_MS);
    }
    if (!pb->kind_key)
        return cfg_err(pc, v, field,
                       "a probe needs one of tcp, exec, log or http (e.g. {tcp: {port: 8000}})");
    return 0;
}

/* A probe mapping (liveness:, or ready: other than a word or {fd: N}). */
static int probe_parse(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                       struct probe_build *pb)
{
    struct cfg_probe *p = pb->p;
    int r = cfg_yaml_expect(pc, v, CFG_NODE_MAP, field);
    if (r < 0)
        return r;
    p->interval_ms = pb->ready ? READY_INTERVAL_MS : LIVENESS_INTERVAL_MS;
    p->timeout_ms = PROBE_TIMEOUT_MS;
    p->success_threshold = 1;
    p->failure_threshold = 3;
    r = cfg_yaml_walk(pc, v, field, probe_keys, PK__COUNT, probe_key, pb);
    if (r < 0)
        return r;
    if (pb->fd_key && (pb->kind_key || v->n > 2))
        return cfg_err(pc, pb->fd_key, field, "ready: {fd: N} takes no other keys");
    if (pb->fd_key)
        return 0;
    return probe_check(pc, pb, v, field);
}

static int ready_parse(struct cfg_ctx *pc, struct cfg_service *svc, const struct cfg_node *v,
                       const char *field)
{
    /* Probes live in the arena apart: most services have none, and two
     * inline would be half the size of every service. */
    struct cfg_probe *p = cfg_arena_alloc(pc->ar, sizeof(*p));
    struct probe_build pb = {.p = p, .ready = true, .fd = &svc->ready.fd};
    int r;
    if (!p)
        return cfg_nomem(pc);
    if (v->type == CFG_NODE_SCALAR) {
        if (!strcmp(v->text, "started") || !strcmp(v->text, "notify")) {
            svc->ready.kind = v->text[0] == 's' ? CFG_READY_STARTED : CFG_READY_NOTIFY;
            return 0;
        }
        return cfg_err(pc, v, field,
                       "invalid value '%s' (expected started, notify, {fd: N} or a probe such "
                       "as {tcp: {port: 8000}})",
                       v->text);
    }
    r = probe_parse(pc, v, field, &pb);
    if (r < 0)
        return r;
    svc->ready.kind = pb.fd_key ? CFG_READY_FD : CFG_READY_PROBE;
    svc->ready.probe = pb.fd_key ? NULL : p;
    return 0;
}

/* --- hung: {cpu_above: 95%, for: 5m, restart: true} ------------------------------- */

enum hung_key { HU_CPU_ABOVE, HU_FOR, HU_RESTART, HU__COUNT };
static const char *const hung_keys[HU__COUNT] = {"cpu_above", "for", "restart"};

static int hung_key(struct cfg_ctx *pc, void *obj, int key, const struct cfg_node *k,
                    const struct cfg_node *v, const char *field)
{
    struct cfg_hung *h = obj;
    const char *s;
    int r;
    (void)k;
    if (key == HU_FOR)
        return cfg_duration_value(pc, v, field, &h->for_ms);
    r = cfg_yaml_value(pc, v, field,
                       key == HU_RESTART ? "true or false" : "a percentage such as 95%", &s);
    if (r < 0)
        return r;
    if (key == HU_RESTART) {
        if (cfg_parse_bool(s, &h->restart) == 0)
            return 0;
        return cfg_err(pc, v, field, "expected true or false, got '%s'", s);
    }
    if (cfg_parse_cpu_percent(s, &h->cpu_above) == 0)
        return 0;
    return cfg_err(pc, v, field,
                   "invalid cpu_above '%s' (expected a whole percentage of one core such as 95%% "
                   "or 150%%, or cores such as 1.5)",
                   s);
}

static int hung_parse(struct cfg_ctx *pc, struct cfg_service *svc, const struct cfg_node *v,
                      const char *field)
{
    char sub[DIAG_FIELD_MAX];
    struct cfg_hung *h = &svc->hung;
    int r;
    if (svc->kind == CFG_KIND_ONESHOT)
        return cfg_err(pc, v, field,
                       "a oneshot is not watched for hanging; bound its CPU time with limits: "
                       "{cpu_time: ...}");
    h->restart = true;
    if ((r = cfg_yaml_walk(pc, v, field, hung_keys, HU__COUNT, hung_key, h)) < 0)
        return r;
    if (!h->cpu_above) {
        cfg_yaml_field(sub, sizeof(sub), field, "cpu_above");
        return cfg_err(pc, v, sub, "missing 'cpu_above' (e.g. {cpu_above: 95%%, for: 5m})");
    }
    if (h->for_ms < CFG_HUNG_FOR_MIN_MS) {
        const struct cfg_node *k = cfg_yaml_find_key(v, "for");
        cfg_yaml_field(sub, sizeof(sub), field, "for");
        if (!k)
            return cfg_err(pc, v, sub, "missing 'for' (e.g. {cpu_above: 95%%, for: 5m})");
        return cfg_err(pc, k->next, sub,
                       "'for' must be at least 1s (e.g. {cpu_above: 95%%, for: 5m})");
    }
    return 0;
}

/* A ready probe whose first attempt comes after ready_timeout can never pass
 * in time: the service would fail without a single attempt. */
static int delay_within_timeout(struct cfg_ctx *pc, const struct cfg_service *svc,
                                const struct cfg_node *ready, const char *field)
{
    const struct cfg_probe *p = svc->ready.probe;
    const struct cfg_node *k;
    char sub[DIAG_FIELD_MAX], delay[32], timeout[32];
    if (svc->ready.kind != CFG_READY_PROBE || !p || !svc->ready.timeout_ms ||
        p->initial_delay_ms < svc->ready.timeout_ms)
        return 0;
    k = cfg_yaml_find_key(ready, "initial_delay");
    cfg_yaml_field(sub, sizeof(sub), field, "initial_delay");
    cfg_format_duration(p->initial_delay_ms, delay, sizeof(delay));
    cfg_format_duration(svc->ready.timeout_ms, timeout, sizeof(timeout));
    return cfg_err(pc, k ? k->next : ready, sub,
                   "initial_delay %s is not below ready_timeout %s: the probe could never pass "
                   "in time",
                   delay, timeout);
}

int cfg_health_parse(struct cfg_ctx *pc, struct cfg_service *svc, const struct cfg_health_nodes *hn,
                     const char *base)
{
    char field[DIAG_FIELD_MAX];
    int r;
    if (hn->ready) {
        cfg_yaml_field(field, sizeof(field), base, "ready");
        if (svc->kind == CFG_KIND_ONESHOT)
            return cfg_err(pc, hn->ready_key, field,
                           "a oneshot has no readiness: it is done when it completes (use "
                           "condition: completed in its dependants)");
        r = ready_parse(pc, svc, hn->ready, field);
        if (r < 0)
            return r;
        if ((r = delay_within_timeout(pc, svc, hn->ready, field)) < 0)
            return r;
    }
    if (hn->liveness) {
        struct cfg_probe *p = cfg_arena_alloc(pc->ar, sizeof(*p));
        struct probe_build pb = {.p = p};
        if (!p)
            return cfg_nomem(pc);
        cfg_yaml_field(field, sizeof(field), base, "liveness");
        if (svc->kind == CFG_KIND_ONESHOT)
            return cfg_err(pc, hn->liveness_key, field, "liveness probes are for longrun services");
        r = probe_parse(pc, hn->liveness, field, &pb);
        if (r < 0)
            return r;
        svc->liveness = p;
    }
    if (hn->hung) {
        cfg_yaml_field(field, sizeof(field), base, "hung");
        if ((r = hung_parse(pc, svc, hn->hung, field)) < 0)
            return r;
    }
    if (hn->watchdog) {
        cfg_yaml_field(field, sizeof(field), base, "watchdog");
        r = cfg_duration_value(pc, hn->watchdog, field, &svc->watchdog_ms);
        if (r < 0)
            return r;
        if (svc->ready.kind != CFG_READY_NOTIFY && svc->watchdog_ms)
            return cfg_err(pc, hn->watchdog, field,
                           "watchdog needs ready: notify (the service sends WATCHDOG=1 on "
                           "$NOTIFY_SOCKET)");
        if (svc->watchdog_ms && svc->watchdog_ms < PROBE_MIN_MS)
            return cfg_err(pc, hn->watchdog, field, "watchdog must be at least %dms", PROBE_MIN_MS);
    }
    return 0;
}

int cfg_ready_timeout_parse(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                            uint64_t *out)
{
    return cfg_duration_value(pc, v, field, out);
}
