/* config/parse.c — the corral.yaml schema: top-level keys, defaults, and each
 * service merged over them (builtin <- defaults <- service, field by field). */
#include "config/internal.h"

#include <errno.h>
#include <string.h>
#include <sys/un.h>

enum top_key {
    TK_STATE_DIR,
    TK_CONTAINMENT,
    TK_API,
    TK_DEFAULTS,
    TK_SERVICES,
    TK_HOOKS,
    TK_WEBHOOKS,
    TK__COUNT
};
static const char *const top_keys[TK__COUNT] = {"state_dir", "containment", "api",     "defaults",
                                                "services",  "hooks",       "webhooks"};

enum svc_key {
    SK_COMMAND,
    SK_SHELL,
    SK_CWD,
    SK_ENV,
    SK_ENV_FILE,
    SK_USER,
    SK_GROUP,
    SK_KIND,
    SK_DEPENDS_ON,
    SK_RESTART,
    SK_STOP,
    SK_LOGS,
    SK_AUTOSTART,
    SK_ON_RECOVER,
    SK_PORTS,
    SK_LIMITS,
    SK_READY,
    SK_LIVENESS,
    SK_WATCHDOG,
    SK_READY_TIMEOUT,
    SK_HUNG,
    SK__COUNT
};
static const char *const svc_keys[SK__COUNT] = {
    "command", "shell",      "cwd",     "env",      "env_file", "user",          "group",
    "kind",    "depends_on", "restart", "stop",     "logs",     "autostart",     "on_recover",
    "ports",   "limits",     "ready",   "liveness", "watchdog", "ready_timeout", "hung",
};

struct top {
    struct cfg_model *m;
    struct cfg_base base;
    const struct cfg_node *defaults;
    const struct cfg_node *services;
    const struct cfg_node *services_key;
    const struct cfg_node *hooks;
    const struct cfg_node *webhooks;
    const struct cfg_node *state_dir; /* its value, when the config sets it */
    const struct cfg_node *api;       /* its value, when the config has one */
};

/* One service while it is being read; its fields land in svc at the end. */
struct svc_build {
    struct cfg_base b;
    struct cfg_service *svc;
    const struct cfg_node *key;
    const struct cfg_node *command;
    const struct cfg_node *deps;
    const struct cfg_node *ports;
    struct cfg_health_nodes health;
    const struct cfg_env *own_env;
    size_t n_own_env;
    const struct cfg_env *file_env;
    size_t n_file_env;
    char field[DIAG_FIELD_MAX]; /* "services.<name>" */
};

static int top_key(struct cfg_ctx *pc, void *obj, int key, const struct cfg_node *k,
                   const struct cfg_node *v, const char *field)
{
    struct top *t = obj;
    int c = 0, r;
    switch ((enum top_key)key) {
    case TK_STATE_DIR:
        t->state_dir = v;
        t->m->state_dir_pos = v->pos;
        return cfg_path_value(pc, v, field, &t->m->state_dir);
    case TK_CONTAINMENT:
        t->m->containment_pos = v->pos;
        r = cfg_yaml_enum(pc, v, field, cfg_containment_names, CFG_CONTAIN__COUNT, &c);
        t->m->containment = (enum cfg_containment)c;
        return r;
    case TK_API:
        t->api = v;
        return cfg_api_parse(pc, v, field, &t->m->api);
    case TK_DEFAULTS:
        t->defaults = v;
        return 0;
    case TK_SERVICES:
        t->services = v;
        t->services_key = k;
        return 0;
    case TK_HOOKS:
        t->hooks = v;
        return 0;
    case TK_WEBHOOKS:
        t->webhooks = v;
        return 0;
    case TK__COUNT:
        break;
    }
    return 0;
}

static int defaults_key(struct cfg_ctx *pc, void *obj, int key, const struct cfg_node *k,
                        const struct cfg_node *v, const char *field)
{
    (void)k;
    return cfg_base_parse_key(pc, obj, (enum cfg_base_key)key, v, field);
}

static int svc_key(struct cfg_ctx *pc, void *obj, int key, const struct cfg_node *k,
                   const struct cfg_node *v, const char *field)
{
    struct svc_build *sb = obj;
    const char *path;
    int kind = 0, r;
    (void)k;
    switch ((enum svc_key)key) {
    case SK_COMMAND:
        sb->command = v;
        return 0;
    case SK_SHELL:
        r = cfg_yaml_value(pc, v, field, "true or false", &path);
        if (r < 0 || cfg_parse_bool(path, &sb->svc->shell) == 0)
            return r;
        return cfg_err(pc, v, field, "expected true or false, got '%s'", path);
    case SK_ENV:
        return cfg_env_parse_map(pc, v, field, &sb->own_env, &sb->n_own_env);
    case SK_ENV_FILE:
        r = cfg_path_value(pc, v, field, &sb->svc->env_file);
        if (r < 0)
            return r;
        return cfg_envfile_load(pc, sb->svc->env_file, v, field, &sb->file_env, &sb->n_file_env);
    case SK_KIND:
        r = cfg_yaml_enum(pc, v, field, cfg_kind_names, CFG_KIND__COUNT, &kind);
        sb->svc->kind = (enum cfg_kind)kind;
        return r;
    case SK_DEPENDS_ON:
        sb->deps = v;
        return 0;
    case SK_CWD:
        return cfg_base_parse_key(pc, &sb->b, CFG_BK_CWD, v, field);
    case SK_USER:
        return cfg_base_parse_key(pc, &sb->b, CFG_BK_USER, v, field);
    case SK_GROUP:
        return cfg_base_parse_key(pc, &sb->b, CFG_BK_GROUP, v, field);
    case SK_RESTART:
        return cfg_base_parse_key(pc, &sb->b, CFG_BK_RESTART, v, field);
    case SK_STOP:
        return cfg_base_parse_key(pc, &sb->b, CFG_BK_STOP, v, field);
    case SK_LOGS:
        return cfg_base_parse_key(pc, &sb->b, CFG_BK_LOGS, v, field);
    case SK_AUTOSTART:
        return cfg_base_parse_key(pc, &sb->b, CFG_BK_AUTOSTART, v, field);
    case SK_ON_RECOVER:
        return cfg_base_parse_key(pc, &sb->b, CFG_BK_ON_RECOVER, v, field);
    case SK_PORTS:
        sb->ports = v;
        return cfg_ports_parse(pc, v, field, &sb->svc->ports, &sb->svc->n_ports);
    case SK_LIMITS:
        return cfg_base_parse_key(pc, &sb->b, CFG_BK_LIMITS, v, field);
    case SK_READY:
        sb->health.ready_key = k;
        sb->health.ready = v;
        return 0;
    case SK_LIVENESS:
        sb->health.liveness_key = k;
        sb->health.liveness = v;
        return 0;
    case SK_WATCHDOG:
        sb->health.watchdog = v;
        return 0;
    case SK_READY_TIMEOUT:
        return cfg_base_parse_key(pc, &sb->b, CFG_BK_READY_TIMEOUT, v, field);
    case SK_HUNG:
        sb->health.hung = v;
        return 0;
    case SK__COUNT:
        break;
    }
    return 0;
}

static int shell_argv(struct cfg_ctx *pc, struct svc_build *sb, const char *field)
{
    const struct cfg_node *v = sb->command;
    char **argv;
    if (!sb->svc->shell)
        return cfg_err(pc, v, field,
                       "command is a string; write it as a list (e.g. [python3, app.py]) or "
                       "set shell: true to run it with /bin/sh -c");
    if (!v->len)
        return cfg_err(pc, v, field, "command is empty");
    argv = cfg_arena_array(pc->ar, 4, sizeof(*argv));
    if (!argv)
        return cfg_nomem(pc);
    argv[0] = cfg_arena_strdup(pc->ar, "/bin/sh");
    argv[1] = cfg_arena_strdup(pc->ar, "-c");
    argv[2] = cfg_arena_strndup(pc->ar, v->text, v->len);
    if (!argv[0] || !argv[1] || !argv[2])
        return cfg_nomem(pc);
    sb->svc->argv = argv;
    sb->svc->argc = 3;
    return 0;
}

static int list_argv(struct cfg_ctx *pc, struct svc_build *sb, const char *field)
{
    const struct cfg_node *v = sb->command;
    char sub[DIAG_FIELD_MAX];
    char **argv;
    size_t i = 0;
    if (sb->svc->shell)
        return cfg_err(pc, v, field, "shell: true needs command as a single string");
    if (v->n > CFG_MAX_ARGV)
        return cfg_err(pc, v, field, "more than %d arguments", CFG_MAX_ARGV);
    argv = cfg_arena_array(pc->ar, v->n + 1, sizeof(*argv));
    if (!argv)
        return cfg_nomem(pc);
    for (const struct cfg_node *it = v->child; it; it = it->next, i++) {
        const char *s;
        int r;
        snprintf(sub, sizeof(sub), "%s[%zu]", field, i);
        /* Numbers and booleans stay as written: [sleep, 10] runs "sleep" "10". */
        r = cfg_yaml_scalar(pc, it, sub, &s);
        if (r < 0)
            return r;
        argv[i] = cfg_arena_strndup(pc->ar, s, it->len);
        if (!argv[i])
            return cfg_nomem(pc);
    }
    if (!argv[0][0])
        return cfg_err(pc, v->child, field, "the program (the first item) is empty");
    sb->svc->argv = argv;
    sb->svc->argc = v->n;
    return 0;
}

static int build_argv(struct cfg_ctx *pc, struct svc_build *sb)
{
    const struct cfg_node *v = sb->command;
    char field[DIAG_FIELD_MAX];
    cfg_yaml_field(field, sizeof(field), sb->field, "command");
    /* Missing points at the service, where the key belongs; empty at the value. */
    if (!v)
        return cfg_err(pc, sb->key, field,
                       "missing 'command' (a list such as [python3, app.py], or a string with "
                       "shell: true)");
    if (v->type == CFG_NODE_NULL || (v->type == CFG_NODE_SEQ && !v->n))
        return cfg_err(pc, v, field, "command is empty");
    if (v->type == CFG_NODE_SCALAR)
        return shell_argv(pc, sb, field);
    if (v->type == CFG_NODE_SEQ)
        return list_argv(pc, sb, field);
    return cfg_err(pc, v, field, "expected a list (or a string with shell: true), got %s",
                   cfg_yaml_type_name(v));
}

static int finish_env(struct cfg_ctx *pc, struct svc_build *sb)
{
    const struct cfg_env *lists[3] = {sb->b.env, sb->file_env, sb->own_env};
    size_t counts[3] = {sb->b.n_env, sb->n_file_env, sb->n_own_env};
    struct cfg_service *svc = sb->svc;
    int r;
    if (!sb->n_file_env && !sb->n_own_env) {
        /* Nothing to merge: share the defaults' array rather than copy it. */
        svc->env = sb->b.env;
        svc->n_env = sb->b.n_env;
        return 0;
    }
    r = cfg_env_merge(pc, lists, counts, 3, &svc->env, &svc->n_env);
    if (r < 0)
        return r;
    if (svc->n_env > CFG_MAX_ENV)
        return cfg_err(pc, sb->key, sb->field,
                       "more than %d environment variables once defaults.env, env_file and env "
                       "are merged",
                       CFG_MAX_ENV);
    return 0;
}

static int finish_ids(struct cfg_ctx *pc, struct svc_build *sb)
{
    struct cfg_service *svc = sb->svc;
    struct cfg_node at = {.pos = sb->b.user_pos};
    char field[DIAG_FIELD_MAX];
    svc->user = sb->b.user;
    svc->uid = sb->b.uid;
    svc->group = sb->b.group;
    if (svc->group) {
        svc->gid = sb->b.group_gid;
        return 0;
    }
    if (!svc->user || sb->b.user_gid_known) {
        svc->gid = sb->b.user_gid;
        return 0;
    }
    cfg_yaml_field(field, sizeof(field), sb->field, "user");
    return cfg_err(pc, &at, field,
                   "user '%s' has no passwd entry, so it has no primary group; set group too",
                   svc->user);
}

static int finish_service(struct cfg_ctx *pc, struct svc_build *sb)
{
    struct cfg_service *svc = sb->svc;
    int r = build_argv(pc, sb);
    if (r < 0)
        return r;
    r = finish_env(pc, sb);
    if (r < 0)
        return r;
    r = finish_ids(pc, sb);
    if (r < 0)
        return r;
    /* A failed migration should not loop unless the service asks for it. */
    if (svc->kind == CFG_KIND_ONESHOT && !sb->b.policy_set)
        sb->b.restart.policy = CFG_RESTART_NO;
    svc->restart = sb->b.restart;
    svc->stop = sb->b.stop;
    svc->logs = sb->b.logs;
    svc->autostart = sb->b.autostart;
    svc->on_recover = sb->b.on_recover;
    svc->limits = sb->b.limits;
    svc->cwd = sb->b.cwd;
    svc->cwd_set = sb->b.cwd_set;
    svc->ready.timeout_ms = sb->b.ready_timeout_ms;
    return cfg_health_parse(pc, svc, &sb->health, sb->field);
}

bool cfg_name_valid(const char *s, size_t len)
{
    if (len < 1 || len > CFG_MAX_NAME || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* A service's cgroup bears its name, beside the kernel's interface files
 * (cgroup.procs, memory.max, ...), which all start with "cgroup." or a
 * controller's name and a dot. The name is refused on every host, not only
 * where cgroups are in use, so that a config means the same everywhere. */
static bool kernel_cgroup_file(const char *name)
{
    static const char *const prefixes[] = {"cgroup.", "cpu.",  "cpuset.", "io.",
                                           "memory.", "pids.", "rdma.",   "hugetlb.",
                                           "misc.",   "irq.",  "dmem."};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
            return true;
    return false;
}

static int service_name(struct cfg_ctx *pc, const struct cfg_node *map, const struct cfg_node *k,
                        struct cfg_strset *names, size_t idx)
{
    if (k->type != CFG_NODE_SCALAR)
        return cfg_err(pc, k, "services", "expected a service name, got %s", cfg_yaml_type_name(k));
    if (!cfg_name_valid(k->text, k->len))
        return cfg_err(pc, k, "services",
                       "invalid service name '%s' (use 1 to %d of A-Z a-z 0-9 _ . -, not "
                       "starting with '.' or '-')",
                       k->text, CFG_MAX_NAME);
    if (kernel_cgroup_file(k->text))
        return cfg_err(pc, k, "services",
                       "service name '%s' is taken by the kernel: a service's cgroup is named "
                       "after it, beside files such as cgroup.procs and memory.max (use '-' "
                       "instead of the first '.')",
                       k->text);
    if (cfg_strset_put(names, k->text, idx) >= 0)
        return cfg_err(pc, k, "services", "duplicate service '%s' (first defined at line %d)",
                       k->text, cfg_yaml_find_key(map, k->text)->pos.line);
    return 0;
}

static int parse_service(struct cfg_ctx *pc, const struct cfg_base *base, const struct cfg_node *k,
                         struct cfg_service *svc, const struct cfg_node **deps,
                         const struct cfg_node **ports)
{
    struct svc_build sb = {.b = *base, .svc = svc, .key = k};
    int r;
    /* Only a policy written on the service itself overrides oneshot's "no". */
    sb.b.policy_set = false;
    svc->name = cfg_arena_strndup(pc->ar, k->text, k->len);
    if (!svc->name)
        return cfg_nomem(pc);
    svc->pos = k->pos;
    cfg_yaml_field(sb.field, sizeof(sb.field), "services", svc->name);
    r = cfg_yaml_walk(pc, k->next, sb.field, svc_keys, SK__COUNT, svc_key, &sb);
    if (r < 0)
        return r;
    *deps = sb.deps;
    *ports = sb.ports;
    return finish_service(pc, &sb);
}

static int parse_services(struct cfg_ctx *pc, struct top *t)
{
    const struct cfg_node *map = t->services, **dep_nodes, **port_nodes;
    struct cfg_service *svcs;
    struct cfg_strset names;
    size_t n, i = 0;
    int r;
    if (!map)
        return cfg_err(pc, NULL, "services", "missing 'services' (a mapping of name to service)");
    if (map->type == CFG_NODE_NULL || (map->type == CFG_NODE_MAP && !map->n))
        return cfg_err(pc, t->services_key, "services", "no services defined");
    r = cfg_yaml_expect(pc, map, CFG_NODE_MAP, "services");
    if (r < 0)
        return r;
    n = map->n / 2;
    if (n > CFG_MAX_SERVICES)
        return cfg_err(pc, map, "services", "more than %d services", CFG_MAX_SERVICES);
    svcs = cfg_arena_array(pc->ar, n, sizeof(*svcs));
    dep_nodes = cfg_arena_array(pc->tmp, n, sizeof(*dep_nodes));
    port_nodes = cfg_arena_array(pc->tmp, n, sizeof(*port_nodes));
    if (!svcs || !dep_nodes || !port_nodes || cfg_strset_init(&names, pc->tmp, n) < 0)
        return cfg_nomem(pc);
    for (const struct cfg_node *k = map->child; k && k->next; k = k->next->next, i++) {
        r = service_name(pc, map, k, &names, i);
        if (r < 0)
            return r;
        r = parse_service(pc, &t->base, k, &svcs[i], &dep_nodes[i], &port_nodes[i]);
        if (r < 0)
            return r;
    }
    r = cfg_ports_unique(pc, svcs, n, port_nodes);
    if (r < 0)
        return r;
    t->m->services = svcs;
    t->m->n_services = n;
    return cfg_deps_resolve(pc, t->m, svcs, dep_nodes, &names);
}

/* The API's socket is <state_dir>/corral.sock, and a Unix socket's path has
 * room for 107 bytes: a longer one is the config's fault, said before
 * anything starts. */
static int socket_fits(struct cfg_ctx *pc, const struct top *t)
{
    struct sockaddr_un sa;
    size_t len = strlen(t->m->state_dir) + strlen("/" CFG_SOCKET_NAME);
    if (len < sizeof(sa.sun_path))
        return 0;
    if (t->state_dir)
        return cfg_err(pc, t->state_dir, "state_dir",
                       "the API's socket %s/" CFG_SOCKET_NAME " would be %zu bytes, more than "
                       "the %zu a Unix socket allows; choose a shorter path",
                       t->m->state_dir, len, sizeof(sa.sun_path) - 1);
    return cfg_err(pc, NULL, "state_dir",
                   "the API's socket %s/" CFG_SOCKET_NAME " would be %zu bytes, more than the %zu "
                   "a Unix socket allows; set state_dir to a shorter path",
                   t->m->state_dir, len, sizeof(sa.sun_path) - 1);
}

int cfg_parse_model(struct cfg_ctx *pc, const struct cfg_node *root, struct cfg_model *m)
{
    struct top t = {.m = m};
    int r;
    if (!root || root->type == CFG_NODE_NULL)
        return cfg_err(pc, root, "", "the config is empty; it needs at least 'services'");
    r = cfg_yaml_walk(pc, root, "", top_keys, TK__COUNT, top_key, &t);
    if (r < 0)
        return r;
    if (!m->state_dir)
        m->state_dir = cfg_path_resolve(pc->ar, m->dir, ".corral");
    if (!m->state_dir)
        return cfg_nomem(pc);
    if ((r = socket_fits(pc, &t)) < 0)
        return r;
    if (!m->api.token_file)
        m->api.token_file = cfg_path_resolve(pc->ar, m->state_dir, "api.token");
    if (!m->api.token_file)
        return cfg_nomem(pc);
    if ((r = cfg_api_check_token(pc, &m->api, t.api)) < 0)
        return r;
    if (!m->api.events_keep)
        m->api.events_keep = CFG_EVENTS_KEEP_DEFAULT;
    cfg_base_init_builtin(&t.base, m->dir);
    if (t.defaults) {
        r = cfg_yaml_walk(pc, t.defaults, "defaults", cfg_base_key_names, CFG_BK__COUNT,
                          defaults_key, &t.base);
        if (r < 0)
            return r;
    }
    r = parse_services(pc, &t);
    if (r >= 0)
        r = cfg_hooks_parse(pc, t.hooks, m);
    return r < 0 ? r : cfg_webhooks_parse(pc, t.webhooks, m);
}
