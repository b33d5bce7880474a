/* config/sections.c — the settings a service inherits (restart, stop, logs, env,
 * autostart, cwd, user, group), parsed the same way under defaults and under a
 * service so that each level only overrides the fields it names; and a
 * service's own ports, unique across the model. */
#include "config/internal.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const cfg_base_key_names[CFG_BK__COUNT] = {
    [CFG_BK_RESTART] = "restart",
    [CFG_BK_STOP] = "stop",
    [CFG_BK_LOGS] = "logs",
    [CFG_BK_ENV] = "env",
    [CFG_BK_AUTOSTART] = "autostart",
    [CFG_BK_CWD] = "cwd",
    [CFG_BK_USER] = "user",
    [CFG_BK_GROUP] = "group",
    [CFG_BK_ON_RECOVER] = "on_recover",
    [CFG_BK_LIMITS] = "limits",
    [CFG_BK_READY_TIMEOUT] = "ready_timeout",
};

enum restart_key {
    RK_POLICY,
    RK_INITIAL,
    RK_MULTIPLIER,
    RK_MAX,
    RK_JITTER,
    RK_RESET_AFTER,
    RK_MAX_RESTARTS,
    RK_WINDOW,
    RK_RETRY_AFTER,
    RK_SUCCESS_EXIT_CODES,
    RK_RESTART_ON_EXIT_CODES,
    RK__COUNT
};
static const char *const restart_keys[RK__COUNT] = {
    "policy",
    "initial",
    "multiplier",
    "max",
    "jitter",
    "reset_after",
    "max_restarts",
    "window",
    "retry_after",
    "success_exit_codes",
    "restart_on_exit_codes",
};

enum stop_key { STK_SIGNAL, STK_TIMEOUT, STK__COUNT };
static const char *const stop_keys[STK__COUNT] = {"signal", "timeout"};

enum logs_key { LK_MAX_SIZE, LK_KEEP, LK_TIMESTAMPS, LK__COUNT };
static const char *const logs_keys[LK__COUNT] = {"max_size", "keep", "timestamps"};

enum limits_key {
    LIM_MEMORY,
    LIM_CPU,
    LIM_PIDS,
    LIM_NOFILE,
    LIM_ADDRESS_SPACE,
    LIM_CPU_TIME,
    LIM__COUNT
};
static const char *const limits_keys[LIM__COUNT] = {
    [LIM_MEMORY] = "memory",
    [LIM_CPU] = "cpu",
    [LIM_PIDS] = "pids",
    [LIM_NOFILE] = "nofile",
    [LIM_ADDRESS_SPACE] = "address_space",
    [LIM_CPU_TIME] = "cpu_time",
};

/* Big enough for any passwd or group entry we would accept. */
#define PW_BUF_MAX_BYTES (1u << 20)

void cfg_base_init_builtin(struct cfg_base *b, const char *dir)
{
    memset(b, 0, sizeof(*b));
    b->restart = (struct cfg_restart){
        .policy = CFG_RESTART_ON_FAILURE,
        .initial_ms = 100,
        .max_ms = 30000,
        .multiplier = 2.0,
        .jitter = 0.10,
        .reset_after_ms = 60000,
        .max_restarts = 10,
        .window_ms = 60000,
        .retry_after_ms = 600000,
    };
    b->stop = (struct cfg_stop){.signal = SIGTERM, .timeout_ms = 10000};
    b->logs = (struct cfg_logs){.max_size_bytes = 10u << 20, .keep = 5, .timestamps = true};
    b->autostart = true;
    b->cwd = dir;
    b->ready_timeout_ms = CFG_READY_TIMEOUT_DEFAULT_MS;
}

int cfg_duration_value(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                       uint64_t *out)
{
    const char *s;
    int r = cfg_yaml_value(pc, v, field, "a duration such as 10s", &s);
    if (r < 0 || (r = cfg_parse_duration(s, out)) == 0)
        return r;
    if (r == -ERANGE)
        return cfg_err(pc, v, field, "invalid duration '%s': under 1ms, the least corral keeps", s);
    if (s[0] == '-')
        return cfg_err(pc, v, field, "invalid duration '%s': it cannot be negative", s);
    if (!s[0])
        return cfg_err(pc, v, field, "empty duration (expected e.g. 250ms, 10s, 1m30s or 1.5h)");
    if (strspn(s, "0123456789.") == strlen(s))
        return cfg_err(pc, v, field,
                       "invalid duration '%s': missing unit (ms, s, m or h), e.g. %ss", s, s);
    return cfg_err(pc, v, field,
                   "invalid duration '%s' (expected e.g. 250ms, 10s, 1m30s or 1.5h, at most "
                   "100000h)",
                   s);
}

static int uint_value(struct cfg_ctx *pc, const struct cfg_node *v, const char *field, uint64_t max,
                      uint64_t *out)
{
    const char *s;
    int r = cfg_yaml_value(pc, v, field, "a whole number", &s);
    if (r < 0 || cfg_parse_uint(s, max, out) == 0)
        return r;
    return cfg_err(pc, v, field, "invalid number '%s' (expected a whole number from 0 to %llu)", s,
                   (unsigned long long)max);
}

static int bool_value(struct cfg_ctx *pc, const struct cfg_node *v, const char *field, bool *out)
{
    const char *s;
    int r = cfg_yaml_value(pc, v, field, "true or false", &s);
    if (r < 0 || cfg_parse_bool(s, out) == 0)
        return r;
    return cfg_err(pc, v, field, "expected true or false, got '%s'", s);
}

static int restart_number(struct cfg_ctx *pc, struct cfg_restart *rs, int key,
                          const struct cfg_node *v, const char *field)
{
    const char *s;
    uint64_t n;
    const char *what = key == RK_JITTER       ? "a percentage such as 10%"
                       : key == RK_MULTIPLIER ? "a number from 1 to 100"
                                              : "a whole number";
    int r = cfg_yaml_value(pc, v, field, what, &s);
    if (r < 0)
        return r;
    if (key == RK_JITTER && cfg_parse_fraction(s, &rs->jitter) < 0)
        return cfg_err(pc, v, field,
                       "invalid jitter '%s' (expected a percentage such as 10%% or "
                       "a fraction from 0 to 1)",
                       s);
    if (key == RK_MULTIPLIER && (cfg_parse_decimal(s, &rs->multiplier) < 0 ||
                                 rs->multiplier < 1.0 || rs->multiplier > CFG_MAX_MULTIPLIER))
        return cfg_err(pc, v, field, "invalid multiplier '%s' (expected a number from 1 to 100)",
                       s);
    if (key == RK_MAX_RESTARTS) {
        r = uint_value(pc, v, field, CFG_MAX_RESTARTS, &n);
        rs->max_restarts = (unsigned)n;
    }
    return r;
}

/* "never", or a duration that is not zero (one spelling for "give up for
 * good", so that a 0 written by mistake is not read as "retry at once"). */
static int retry_after_value(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                             uint64_t *out)
{
    const char *s;
    int r = cfg_yaml_value(pc, v, field, "a duration such as 10m, or never", &s);
    if (r < 0)
        return r;
    if (strcmp(s, "never") == 0) {
        *out = 0;
        return 0;
    }
    r = cfg_duration_value(pc, v, field, out);
    if (r == 0 && *out == 0)
        return cfg_err(pc, v, field,
                       "retry_after cannot be 0; write 'never' to give up for good, or a delay "
                       "such as 10m");
    return r;
}

/* One exit status: a number 0..255, or a signal name (SIGTERM, TERM) that
 * stands for 128 + its number. */
static int exit_code_value(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                           int *out)
{
    const char *s;
    uint64_t n;
    int sig, r = cfg_yaml_value(pc, v, field, "an exit code (0 to 255) or a signal name", &s);
    if (r < 0)
        return r;
    if (s[0] >= '0' && s[0] <= '9') {
        if (cfg_parse_uint(s, 255, &n) < 0)
            return cfg_err(pc, v, field,
                           "invalid exit code '%s' (expected a number from 0 to 255 or a signal "
                           "name such as SIGTERM)",
                           s);
        *out = (int)n;
        return 0;
    }
    sig = cfg_signal_parse(s);
    if (sig <= 0 || 128 + sig > 255)
        return cfg_err(pc, v, field,
                       "invalid exit code '%s' (expected a number from 0 to 255 or a signal name "
                       "such as SIGTERM)",
                       s);
    *out = 128 + sig;
    return 0;
}

static void exit_set_add(struct cfg_exit_set *set, int code)
{
    set->bits[code / 64] |= 1ull << (code % 64);
}

bool cfg_exit_set_has(const struct cfg_exit_set *set, int code)
{
    if (code < 0 || code > 255)
        return false;
    return (set->bits[code / 64] >> (code % 64)) & 1;
}

/* A list of exit statuses; a list written here replaces the inherited one. */
static int exit_list_value(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                           struct cfg_exit_set *set)
{
    char sub[DIAG_FIELD_MAX];
    size_t i = 0;
    int r = cfg_yaml_expect(pc, v, CFG_NODE_SEQ, field);
    if (r < 0)
        return r;
    memset(set, 0, sizeof(*set));
    for (const struct cfg_node *it = v->child; it; it = it->next, i++) {
        int code;
        snprintf(sub, sizeof(sub), "%s[%zu]", field, i);
        r = exit_code_value(pc, it, sub, &code);
        if (r < 0)
            return r;
        exit_set_add(set, code);
    }
    return 0;
}

/* Once a restart: block is read (over what it inherits): no exit may both
 * count as success and force a restart. The error points at the code in a
 * list this block wrote. */
static int exit_lists_disjoint(struct cfg_ctx *pc, const struct cfg_node *map, const char *field,
                               const struct cfg_restart *rs)
{
    static const char *const lists[2] = {"restart_on_exit_codes", "success_exit_codes"};
    char sub[DIAG_FIELD_MAX];
    int code = -1;
    /* A word at a time: this runs for every service (~1 ms for 1,000 code by code). */
    for (int w = 0; w < 4 && code < 0; w++) {
        uint64_t both = rs->success_exit_codes.bits[w] & rs->restart_on_exit_codes.bits[w];
        if (both)
            code = w * 64 + __builtin_ctzll(both);
    }
    if (code < 0)
        return 0;
    for (int l = 0; l < 2; l++) {
        const struct cfg_node *k = cfg_yaml_find_key(map, lists[l]);
        size_t i = 0;
        if (!k || k->next->type != CFG_NODE_SEQ)
            continue;
        for (const struct cfg_node *it = k->next->child; it; it = it->next, i++) {
            int c;
            snprintf(sub, sizeof(sub), "%s.%s[%zu]", field, lists[l], i);
            if (exit_code_value(pc, it, sub, &c) == 0 && c == code)
                return cfg_err(pc, it, sub,
                               "exit code %d is in both success_exit_codes and "
                               "restart_on_exit_codes; an exit cannot both count as success and "
                               "force a restart",
                               code);
        }
    }
    return cfg_err(pc, map, field,
                   "exit code %d is in both success_exit_codes and restart_on_exit_codes", code);
}

static int restart_key(struct cfg_ctx *pc, void *obj, int key, const struct cfg_node *k,
                       const struct cfg_node *v, const char *field)
{
    struct cfg_base *b = obj;
    struct cfg_restart *rs = &b->restart;
    int policy = 0, r = 0;
    (void)k;
    switch ((enum restart_key)key) {
    case RK_POLICY:
        r = cfg_yaml_enum(pc, v, field, cfg_restart_policy_names, CFG_RESTART__COUNT, &policy);
        rs->policy = (enum cfg_restart_policy)policy;
        b->policy_set = true;
        return r;
    case RK_INITIAL:
        return cfg_duration_value(pc, v, field, &rs->initial_ms);
    case RK_MAX:
        return cfg_duration_value(pc, v, field, &rs->max_ms);
    case RK_RESET_AFTER:
        r = cfg_duration_value(pc, v, field, &rs->reset_after_ms);
        /* Every run, even one that crashed at once, would be stable: the
         * backoff and the give-up window reset at each, and a crash loop
         * would never give up. */
        if (r == 0 && rs->reset_after_ms == 0)
            return cfg_err(pc, v, field,
                           "reset_after cannot be 0: every run would count as stable and a crash "
                           "loop would never give up; write how long a run must last, such as "
                           "60s");
        return r;
    case RK_WINDOW:
        return cfg_duration_value(pc, v, field, &rs->window_ms);
    case RK_RETRY_AFTER:
        return retry_after_value(pc, v, field, &rs->retry_after_ms);
    case RK_SUCCESS_EXIT_CODES:
        return exit_list_value(pc, v, field, &rs->success_exit_codes);
    case RK_RESTART_ON_EXIT_CODES:
        return exit_list_value(pc, v, field, &rs->restart_on_exit_codes);
    case RK_MULTIPLIER:
    case RK_JITTER:
    case RK_MAX_RESTARTS:
        return restart_number(pc, rs, key, v, field);
    case RK__COUNT:
        break;
    }
    return 0;
}

static int stop_key(struct cfg_ctx *pc, void *obj, int key, const struct cfg_node *k,
                    const struct cfg_node *v, const char *field)
{
    struct cfg_stop *st = obj;
    const char *s;
    int r;
    (void)k;
    switch ((enum stop_key)key) {
    case STK_SIGNAL:
        r = cfg_yaml_value(pc, v, field, "a signal name such as TERM", &s);
        if (r < 0)
            return r;
        st->signal = cfg_signal_parse(s);
        if (st->signal > 0)
            return 0;
        return cfg_err(pc, v, field,
                       "unknown signal '%s' (expected a name such as TERM, INT, HUP, QUIT, "
                       "KILL, USR1, or its number)",
                       s);
    case STK_TIMEOUT:
        return cfg_duration_value(pc, v, field, &st->timeout_ms);
    case STK__COUNT:
        break;
    }
    return 0;
}

static int logs_key(struct cfg_ctx *pc, void *obj, int key, const struct cfg_node *k,
                    const struct cfg_node *v, const char *field)
{
    struct cfg_logs *lg = obj;
    const char *s;
    uint64_t n;
    int r;
    (void)k;
    switch ((enum logs_key)key) {
    case LK_MAX_SIZE:
        r = cfg_yaml_value(pc, v, field, "a size such as 10M", &s);
        if (r < 0 || cfg_parse_size(s, &lg->max_size_bytes) == 0)
            return r;
        return cfg_err(pc, v, field,
                       "invalid size '%s' (expected bytes, or a number with K, M, G or T, "
                       "e.g. 10M)",
                       s);
    case LK_KEEP:
        r = uint_value(pc, v, field, CFG_MAX_KEEP, &n);
        lg->keep = (unsigned)n;
        return r;
    case LK_TIMESTAMPS:
        return bool_value(pc, v, field, &lg->timestamps);
    case LK__COUNT:
        break;
    }
    return 0;
}

/* A size of memory; "off" (or 0) lifts a limit set under defaults. A bare
 * small number is bytes, almost always a forgotten unit. */
static int limit_size(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                      uint64_t *out)
{
    const char *s;
    int r = cfg_yaml_value(pc, v, field, "a size such as 512M, or off", &s);
    if (r < 0)
        return r;
    if (!strcmp(s, "off") || !strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    if (cfg_parse_size(s, out) < 0)
        return cfg_err(pc, v, field,
                       "invalid size '%s' (expected a number with K, M, G or T, e.g. 512M, or off)",
                       s);
    if (*out < CFG_MIN_MEMORY_BYTES && s[strspn(s, "0123456789")] == '\0')
        return cfg_err(pc, v, field,
                       "%s bytes is below the least limit of 1M; did you mean %sM? (or write "
                       "off for no limit)",
                       s, s);
    if (*out < CFG_MIN_MEMORY_BYTES)
        return cfg_err(pc, v, field,
                       "%s is below the least limit of 1M (or write off for no limit)", s);
    return 0;
}

static int limit_count(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                       unsigned max, unsigned *out)
{
    const char *s;
    uint64_t n;
    int r = cfg_yaml_value(pc, v, field, "a number, or off", &s);
    if (r < 0)
        return r;
    if (!strcmp(s, "off")) {
        *out = 0;
        return 0;
    }
    if (cfg_parse_uint(s, max, &n) < 0 || n == 0)
        return cfg_err(pc, v, field, "invalid limit '%s' (expected a number from 1 to %u, or off)",
                       s, max);
    *out = (unsigned)n;
    return 0;
}

static int limits_key(struct cfg_ctx *pc, void *obj, int key, const struct cfg_node *k,
                      const struct cfg_node *v, const char *field)
{
    struct cfg_limits *lim = obj;
    const char *s;
    int r;
    (void)k;
    switch ((enum limits_key)key) {
    case LIM_MEMORY:
        return limit_size(pc, v, field, &lim->memory_bytes);
    case LIM_ADDRESS_SPACE:
        return limit_size(pc, v, field, &lim->address_space_bytes);
    case LIM_CPU:
        r = cfg_yaml_value(pc, v, field, "a percentage such as 50%, a number of cores, or off", &s);
        if (r < 0)
            return r;
        if (!strcmp(s, "off")) {
            lim->cpu_percent = 0;
            return 0;
        }
        if (cfg_parse_cpu_percent(s, &lim->cpu_percent) == 0)
            return 0;
        return cfg_err(pc, v, field,
                       "invalid cpu limit '%s' (expected a whole percentage of one core such as "
                       "50%% or 150%%, a number of cores such as 1.5, or off)",
                       s);
    case LIM_PIDS:
        return limit_count(pc, v, field, CFG_MAX_PIDS, &lim->pids);
    case LIM_NOFILE:
        return limit_count(pc, v, field, CFG_MAX_NOFILE, &lim->nofile);
    case LIM_CPU_TIME:
        r = cfg_yaml_value(pc, v, field, "a duration such as 10m, or off", &s);
        if (r < 0)
            return r;
        if (!strcmp(s, "off")) {
            lim->cpu_time_ms = 0;
            return 0;
        }
        if (cfg_parse_duration(s, &lim->cpu_time_ms) == 0 && lim->cpu_time_ms >= 1000)
            return 0;
        return cfg_err(pc, v, field,
                       "invalid cpu_time '%s' (expected a duration of at least 1s, e.g. 10m, "
                       "or off)",
                       s);
    case LIM__COUNT:
        break;
    }
    return 0;
}

/* getpwnam_r(3) lists these as "not found" from some NSS backends. */
static bool not_found(int e)
{
    return e == ENOENT || e == ESRCH || e == EBADF || e == EPERM;
}

/* getpwnam_r and friends want a caller buffer of unknown size; grow on ERANGE. */
static int pw_lookup(const char *name, uid_t uid, bool by_id, struct passwd *pw)
{
    size_t size = 1024;
    for (;;) {
        struct passwd *res = NULL;
        char *buf = malloc(size);
        int r;
        if (!buf)
            return -ENOMEM;
        r = by_id ? getpwuid_r(uid, pw, buf, size, &res) : getpwnam_r(name, pw, buf, size, &res);
        /* Only the ids are kept, so the strings may go with the buffer. */
        free(buf);
        if (r == ERANGE && size < PW_BUF_MAX_BYTES) {
            size *= 2;
            continue;
        }
        return r && !not_found(r) ? -r : res ? 0 : -ENOENT;
    }
}

static int gr_lookup(const char *name, gid_t gid, bool by_id, gid_t *out)
{
    size_t size = 1024;
    for (;;) {
        struct group gr, *res = NULL;
        char *buf = malloc(size);
        int r;
        if (!buf)
            return -ENOMEM;
        r = by_id ? getgrgid_r(gid, &gr, buf, size, &res) : getgrnam_r(name, &gr, buf, size, &res);
        if (res)
            *out = gr.gr_gid;
        free(buf);
        if (r == ERANGE && size < PW_BUF_MAX_BYTES) {
            size *= 2;
            continue;
        }
        return r && !not_found(r) ? -r : res ? 0 : -ENOENT;
    }
}

static bool numeric_id(const char *s, uint64_t *id)
{
    /* (uid_t)-1 means "no change" to setresuid, so it is never an id. */
    return cfg_parse_uint(s, UINT32_MAX - 1, id) == 0;
}

static int user_value(struct cfg_ctx *pc, struct cfg_base *b, const struct cfg_node *v,
                      const char *field)
{
    struct passwd pw;
    const char *s;
    uint64_t id = 0;
    bool num;
    int r = cfg_yaml_value(pc, v, field, "a user name or uid", &s);
    if (r < 0)
        return r;
    num = numeric_id(s, &id);
    r = pw_lookup(s, (uid_t)id, num, &pw);
    if (r == -ENOENT && num) {
        b->uid = (uid_t)id;
        b->user_gid_known = false;
    } else if (r == -ENOENT) {
        return cfg_err(pc, v, field, "unknown user '%s'", s);
    } else if (r < 0) {
        return cfg_err(pc, v, field, "cannot look up user '%s': %s", s, strerror(-r));
    } else {
        b->uid = pw.pw_uid;
        b->user_gid = pw.pw_gid;
        b->user_gid_known = true;
    }
    b->user = cfg_arena_strdup(pc->ar, s);
    b->user_pos = v->pos;
    return b->user ? 0 : cfg_nomem(pc);
}

static int group_value(struct cfg_ctx *pc, struct cfg_base *b, const struct cfg_node *v,
                       const char *field)
{
    const char *s;
    uint64_t id = 0;
    bool num;
    int r = cfg_yaml_value(pc, v, field, "a group name or gid", &s);
    if (r < 0)
        return r;
    num = numeric_id(s, &id);
    r = gr_lookup(s, (gid_t)id, num, &b->group_gid);
    if (r == -ENOENT && num)
        b->group_gid = (gid_t)id;
    else if (r == -ENOENT)
        return cfg_err(pc, v, field, "unknown group '%s'", s);
    else if (r < 0)
        return cfg_err(pc, v, field, "cannot look up group '%s': %s", s, strerror(-r));
    b->group = cfg_arena_strdup(pc->ar, s);
    return b->group ? 0 : cfg_nomem(pc);
}

int cfg_path_value(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                   const char **out)
{
    const char *s;
    int r = cfg_yaml_value(pc, v, field, "a path", &s);
    if (r < 0)
        return r;
    if (!s[0])
        return cfg_err(pc, v, field, "expected a path, got an empty string");
    *out = cfg_path_resolve(pc->ar, pc->dir, s);
    return *out ? 0 : cfg_nomem(pc);
}

int cfg_base_parse_key(struct cfg_ctx *pc, struct cfg_base *b, enum cfg_base_key key,
                       const struct cfg_node *v, const char *field)
{
    switch (key) {
    case CFG_BK_RESTART: {
        int r = cfg_yaml_walk(pc, v, field, restart_keys, RK__COUNT, restart_key, b);
        return r < 0 ? r : exit_lists_disjoint(pc, v, field, &b->restart);
    }
    case CFG_BK_STOP:
        return cfg_yaml_walk(pc, v, field, stop_keys, STK__COUNT, stop_key, &b->stop);
    case CFG_BK_LOGS:
        return cfg_yaml_walk(pc, v, field, logs_keys, LK__COUNT, logs_key, &b->logs);
    case CFG_BK_ENV:
        return cfg_env_parse_map(pc, v, field, &b->env, &b->n_env);
    case CFG_BK_AUTOSTART:
        return bool_value(pc, v, field, &b->autostart);
    case CFG_BK_CWD:
        b->cwd_set = true;
        return cfg_path_value(pc, v, field, &b->cwd);
    case CFG_BK_USER:
        return user_value(pc, b, v, field);
    case CFG_BK_GROUP:
        return group_value(pc, b, v, field);
    case CFG_BK_ON_RECOVER: {
        int r, how = 0;
        r = cfg_yaml_enum(pc, v, field, cfg_recover_names, CFG_RECOVER__COUNT, &how);
        b->on_recover = (enum cfg_recover)how;
        return r;
    }
    case CFG_BK_LIMITS:
        return cfg_yaml_walk(pc, v, field, limits_keys, LIM__COUNT, limits_key, &b->limits);
    case CFG_BK_READY_TIMEOUT:
        return cfg_ready_timeout_parse(pc, v, field, &b->ready_timeout_ms);
    case CFG_BK__COUNT:
        break;
    }
    return 0;
}

bool cfg_env_key_reserved(const char *s, size_t len)
{
    return len >= 7 && strncmp(s, "CORRAL_", 7) == 0;
}

bool cfg_env_key_valid(const char *s, size_t len)
{
    if (!len || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

static int env_pair(struct cfg_ctx *pc, const struct cfg_node *k, const struct cfg_node *v,
                    const char *field, struct cfg_env *e)
{
    char sub[DIAG_FIELD_MAX];
    int r;
    if (k->type != CFG_NODE_SCALAR)
        return cfg_err(pc, k, field, "expected a variable name, got %s", cfg_yaml_type_name(k));
    cfg_yaml_field(sub, sizeof(sub), field, k->text);
    if (!cfg_env_key_valid(k->text, k->len))
        return cfg_err(pc, k, sub,
                       "invalid variable name '%s' (use letters, digits and _, not starting "
                       "with a digit)",
                       k->text);
    if (cfg_env_key_reserved(k->text, k->len))
        return cfg_err(pc, k, sub, "'%s': " CFG_ENV_RESERVED_WHY, k->text);
    if (v->type == CFG_NODE_NULL)
        return cfg_err(pc, v, sub, "'%s' has no value; write \"\" for an empty string", k->text);
    r = cfg_yaml_scalar(pc, v, sub, &e->value);
    if (r < 0)
        return r;
    e->key = cfg_arena_strdup(pc->ar, k->text);
    e->value = cfg_arena_strdup(pc->ar, e->value);
    return e->key && e->value ? 0 : cfg_nomem(pc);
}

int cfg_env_parse_map(struct cfg_ctx *pc, const struct cfg_node *map, const char *field,
                      const struct cfg_env **out, size_t *n_out)
{
    struct cfg_strset seen;
    struct cfg_env *env;
    size_t n = 0;
    int r = cfg_yaml_expect(pc, map, CFG_NODE_MAP, field);
    if (r < 0)
        return r;
    if (map->n / 2 > CFG_MAX_ENV)
        return cfg_err(pc, map, field, "more than %d environment variables", CFG_MAX_ENV);
    env = cfg_arena_array(pc->ar, map->n / 2, sizeof(*env));
    if (!env || cfg_strset_init(&seen, pc->tmp, map->n / 2) < 0)
        return cfg_nomem(pc);
    for (const struct cfg_node *k = map->child; k && k->next; k = k->next->next, n++) {
        r = env_pair(pc, k, k->next, field, &env[n]);
        if (r < 0)
            return r;
        if (cfg_strset_put(&seen, env[n].key, n) >= 0)
            return cfg_err(pc, k, field, "duplicate variable '%s' (first at line %d)", env[n].key,
                           cfg_yaml_find_key(map, k->text)->pos.line);
    }
    *out = env;
    *n_out = n;
    return 0;
}

int cfg_env_merge(struct cfg_ctx *pc, const struct cfg_env *const *lists, const size_t *counts,
                  size_t n_lists, const struct cfg_env **out, size_t *n_out)
{
    struct cfg_strset idx;
    struct cfg_env *env;
    size_t total = 0, n = 0;
    for (size_t l = 0; l < n_lists; l++)
        total += counts[l];
    env = cfg_arena_array(pc->ar, total, sizeof(*env));
    if (!env || cfg_strset_init(&idx, pc->tmp, total) < 0)
        return cfg_nomem(pc);
    for (size_t l = 0; l < n_lists; l++) {
        for (size_t i = 0; i < counts[l]; i++) {
            long at = cfg_strset_put(&idx, lists[l][i].key, n);
            if (at >= 0)
                env[at].value = lists[l][i].value;
            else
                env[n++] = lists[l][i];
        }
    }
    *out = env;
    *n_out = n;
    return 0;
}

/* --- ports ----------------------------------------------------------------------- */

/* "8080" (TCP), "8080/tcp", "8080/udp". */
static int port_value(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                      struct cfg_port *out)
{
    char num[8];
    const char *s, *slash;
    size_t len;
    uint64_t n;
    int proto = CFG_PROTO_TCP;
    if (v->type != CFG_NODE_SCALAR)
        return cfg_err(pc, v, field,
                       "expected a port number or \"PORT/tcp\" or \"PORT/udp\", got %s",
                       cfg_yaml_type_name(v));
    s = v->text;
    slash = strchr(s, '/');
    len = slash ? (size_t)(slash - s) : strlen(s);
    if (slash) {
        proto = -1;
        for (int p = 0; p < CFG_PROTO__COUNT; p++)
            if (!strcmp(slash + 1, cfg_proto_names[p]))
                proto = p;
        if (proto < 0)
            return cfg_err(pc, v, field, "invalid protocol '%s' in '%s' (expected tcp or udp)",
                           slash + 1, s);
    }
    if (len == 0 || len >= sizeof(num) || strspn(s, "0123456789") != len)
        return cfg_err(pc, v, field,
                       "invalid port '%s' (expected a number from 1 to 65535, or \"PORT/tcp\" "
                       "or \"PORT/udp\")",
                       s);
    memcpy(num, s, len);
    num[len] = '\0';
    if (cfg_parse_uint(num, 65535, &n) < 0 || n == 0)
        return cfg_err(pc, v, field, "invalid port %s (expected a number from 1 to 65535)", num);
    out->port = (unsigned)n;
    out->proto = (enum cfg_proto)proto;
    return 0;
}

static bool same_port(const struct cfg_port *a, const struct cfg_port *b)
{
    return a->port == b->port && a->proto == b->proto;
}

int cfg_ports_parse(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                    const struct cfg_port **out, size_t *n_out)
{
    char sub[DIAG_FIELD_MAX];
    struct cfg_port *ports;
    size_t i = 0;
    int r = cfg_yaml_expect(pc, v, CFG_NODE_SEQ, field);
    if (r < 0)
        return r;
    if (v->n > CFG_MAX_PORTS)
        return cfg_err(pc, v, field, "more than %d ports", CFG_MAX_PORTS);
    ports = cfg_arena_array(pc->ar, v->n ? v->n : 1, sizeof(*ports));
    if (!ports)
        return cfg_nomem(pc);
    for (const struct cfg_node *it = v->child; it; it = it->next, i++) {
        const struct cfg_node *first = v->child;
        snprintf(sub, sizeof(sub), "%s[%zu]", field, i);
        r = port_value(pc, it, sub, &ports[i]);
        if (r < 0)
            return r;
        /* At most CFG_MAX_PORTS: the quadratic look-back stays small. */
        for (size_t k = 0; k < i; k++, first = first->next)
            if (same_port(&ports[k], &ports[i]))
                return cfg_err(pc, it, sub, "duplicate port %u/%s (first at line %d, column %d)",
                               ports[i].port, cfg_proto_name(ports[i].proto), first->pos.line,
                               first->pos.col);
    }
    *out = ports;
    *n_out = i;
    return 0;
}

/* The k-th item of a list node. */
static const struct cfg_node *item(const struct cfg_node *list, size_t k)
{
    const struct cfg_node *it = list->child;
    while (k-- > 0 && it)
        it = it->next;
    return it;
}

int cfg_ports_unique(struct cfg_ctx *pc, const struct cfg_service *svcs, size_t n,
                     const struct cfg_node *const *port_nodes)
{
    /* Per port and protocol, 1 + the index of the first service declaring it;
     * CFG_MAX_SERVICES fits in 16 bits. Only made when a port is declared. */
    uint16_t *owner = NULL;
    char field[DIAG_FIELD_MAX];
    for (size_t i = 0; i < n; i++) {
        const struct cfg_service *s = &svcs[i];
        for (size_t k = 0; k < s->n_ports; k++) {
            size_t slot = (size_t)s->ports[k].proto * 65536 + s->ports[k].port;
            const struct cfg_service *o;
            const struct cfg_node *at, *first = NULL;
            if (!owner)
                owner = cfg_arena_array(pc->tmp, (size_t)CFG_PROTO__COUNT * 65536, sizeof(*owner));
            if (!owner)
                return cfg_nomem(pc);
            if (!owner[slot]) {
                owner[slot] = (uint16_t)(i + 1);
                continue;
            }
            o = &svcs[owner[slot] - 1];
            for (size_t j = 0; j < o->n_ports && !first; j++)
                if (same_port(&o->ports[j], &s->ports[k]))
                    first = item(port_nodes[owner[slot] - 1], j);
            at = item(port_nodes[i], k);
            snprintf(field, sizeof(field), "services.%s.ports[%zu]", s->name, k);
            return cfg_err(pc, at, field,
                           "port %u/%s is also declared by service '%s' (line %d, column %d); "
                           "two services cannot hold the same port",
                           s->ports[k].port, cfg_proto_name(s->ports[k].proto), o->name,
                           first ? first->pos.line : 0, first ? first->pos.col : 0);
        }
    }
    return 0;
}
