/* config/deps.c — depends_on, read once every service's name and kind is known:
 * names and conditions checked, cycles named, and a stable start order. */
#include "config/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum dep_key { DK_CONDITION, DK__COUNT };
static const char *const dep_keys[DK__COUNT] = {"condition"};

struct dep_ctx {
    struct cfg_service *svcs;
    size_t n_svcs;
    const struct cfg_strset *names;
    const char **name_list; /* for suggestions */
    size_t self;
    struct cfg_dep *deps;       /* of svcs[self], writable while it is built */
    struct cfg_dep *dep;        /* the entry being read */
    char field[DIAG_FIELD_MAX]; /* services.<name>.depends_on */
};

static int dep_target(struct cfg_ctx *pc, struct dep_ctx *dc, const struct cfg_node *n,
                      struct cfg_strset *seen, size_t i)
{
    const char *self = dc->svcs[dc->self].name, *s, *hint;
    long idx;
    int r = cfg_yaml_scalar(pc, n, dc->field, &s);
    if (r < 0)
        return r;
    idx = cfg_strset_get(dc->names, s);
    hint = idx < 0 ? cfg_suggest(s, dc->name_list, dc->n_svcs) : NULL;
    if (idx < 0 && hint)
        return cfg_err(pc, n, dc->field, "unknown service '%s' (did you mean '%s'?)", s, hint);
    if (idx < 0)
        return cfg_err(pc, n, dc->field, "unknown service '%s'", s);
    if ((size_t)idx == dc->self)
        return cfg_err(pc, n, dc->field,
                       "dependency cycle: %s -> %s (a service cannot depend on itself)", self,
                       self);
    if (cfg_strset_put(seen, s, i) >= 0)
        return cfg_err(pc, n, dc->field, "duplicate dependency '%s'", s);
    dc->dep = &dc->deps[i];
    dc->dep->name = dc->svcs[idx].name;
    dc->dep->index = (size_t)idx;
    dc->dep->cond = CFG_DEP_STARTED;
    dc->dep->pos = n->pos;
    return 0;
}

static int cond_key(struct cfg_ctx *pc, void *obj, int key, const struct cfg_node *k,
                    const struct cfg_node *v, const char *field)
{
    struct dep_ctx *dc = obj;
    const struct cfg_service *target = &dc->svcs[dc->dep->index];
    int cond = 0;
    int r = cfg_yaml_enum(pc, v, field, cfg_dep_cond_names, CFG_DEP__COUNT, &cond);
    (void)k;
    (void)key;
    if (r < 0)
        return r;
    dc->dep->cond = (enum cfg_dep_cond)cond;
    if ((cond == CFG_DEP_READY || cond == CFG_DEP_HEALTHY) && target->kind != CFG_KIND_LONGRUN)
        return cfg_err(pc, v, field,
                       "condition '%s' needs a longrun service, but '%s' is %s (use condition: "
                       "completed)",
                       v->text, target->name, cfg_kind_name(target->kind));
    if (cond == CFG_DEP_COMPLETED && target->kind != CFG_KIND_ONESHOT)
        return cfg_err(pc, v, field,
                       "condition 'completed' needs a oneshot service, but '%s' is %s (it never "
                       "completes)",
                       target->name, cfg_kind_name(target->kind));
    return 0;
}

static int dep_map(struct cfg_ctx *pc, struct dep_ctx *dc, const struct cfg_node *v,
                   struct cfg_strset *seen)
{
    char sub[DIAG_FIELD_MAX];
    size_t i = 0;
    for (const struct cfg_node *k = v->child; k && k->next; k = k->next->next, i++) {
        int r = dep_target(pc, dc, k, seen, i);
        if (r < 0)
            return r;
        cfg_yaml_field(sub, sizeof(sub), dc->field, k->text);
        r = cfg_yaml_walk(pc, k->next, sub, dep_keys, DK__COUNT, cond_key, dc);
        if (r < 0)
            return r;
    }
    return 0;
}

static int parse_deps(struct cfg_ctx *pc, struct dep_ctx *dc, const struct cfg_node *v)
{
    struct cfg_service *svc = &dc->svcs[dc->self];
    struct cfg_strset seen;
    size_t n, i = 0;
    int r;
    if (!v)
        return 0;
    if (v->type != CFG_NODE_SEQ && v->type != CFG_NODE_MAP)
        return cfg_err(pc, v, dc->field, "expected a list or a mapping, got %s",
                       cfg_yaml_type_name(v));
    n = v->type == CFG_NODE_SEQ ? v->n : v->n / 2;
    if (n > CFG_MAX_DEPS)
        return cfg_err(pc, v, dc->field, "more than %d dependencies", CFG_MAX_DEPS);
    dc->deps = cfg_arena_array(pc->ar, n, sizeof(*dc->deps));
    if (!dc->deps || cfg_strset_init(&seen, pc->tmp, n) < 0)
        return cfg_nomem(pc);
    svc->deps = dc->deps;
    svc->n_deps = n;
    if (v->type == CFG_NODE_MAP)
        return dep_map(pc, dc, v, &seen);
    for (const struct cfg_node *it = v->child; it; it = it->next, i++) {
        r = dep_target(pc, dc, it, &seen, i);
        if (r < 0)
            return r;
    }
    return 0;
}

static int cycle_error(struct cfg_ctx *pc, const struct cfg_service *svcs, const size_t *stack,
                       size_t sp, const struct cfg_dep *closing)
{
    char msg[DIAG_MSG_MAX], field[DIAG_FIELD_MAX];
    struct cfg_node at = {.pos = closing->pos};
    size_t j = 0, off = 0;
    while (j < sp && stack[j] != closing->index)
        j++;
    for (; j < sp && off < sizeof(msg); j++) {
        int w = snprintf(msg + off, sizeof(msg) - off, "%s -> ", svcs[stack[j]].name);
        if (w < 0)
            break;
        off += (size_t)w;
    }
    if (off < sizeof(msg))
        snprintf(msg + off, sizeof(msg) - off, "%s", svcs[closing->index].name);
    snprintf(field, sizeof(field), "services.%s.depends_on", svcs[stack[sp - 1]].name);
    return cfg_err(pc, &at, field, "dependency cycle: %s", msg);
}

/* Depth-first from each service in file order, emitting a service after its
 * dependencies: a topological order in which independent services keep their
 * file order. Iterative, as a chain can be CFG_MAX_SERVICES long. */
static int start_order(struct cfg_ctx *pc, struct cfg_model *m, struct cfg_service *svcs)
{
    size_t n = m->n_services, out = 0;
    unsigned char *state = cfg_arena_alloc(pc->tmp, n); /* 0 new, 1 on stack, 2 done */
    size_t *stack = cfg_arena_array(pc->tmp, n, sizeof(*stack));
    size_t *next = cfg_arena_array(pc->tmp, n, sizeof(*next));
    size_t *order = cfg_arena_array(pc->ar, n, sizeof(*order));
    if (!state || !stack || !next || !order)
        return cfg_nomem(pc);
    for (size_t root = 0; root < n; root++) {
        size_t sp = 0;
        if (state[root])
            continue;
        stack[sp++] = root;
        state[root] = 1;
        while (sp) {
            size_t u = stack[sp - 1];
            if (next[u] == svcs[u].n_deps) {
                state[u] = 2;
                order[out++] = u;
                sp--;
                continue;
            }
            const struct cfg_dep *d = &svcs[u].deps[next[u]++];
            if (state[d->index] == 1)
                return cycle_error(pc, svcs, stack, sp, d);
            if (state[d->index] == 0) {
                state[d->index] = 1;
                stack[sp++] = d->index;
            }
        }
    }
    m->start_order = order;
    return 0;
}

int cfg_deps_resolve(struct cfg_ctx *pc, struct cfg_model *m, struct cfg_service *svcs,
                     const struct cfg_node *const *dep_nodes, const struct cfg_strset *names)
{
    struct dep_ctx dc = {.svcs = svcs, .n_svcs = m->n_services, .names = names};
    dc.name_list = cfg_arena_array(pc->tmp, m->n_services, sizeof(*dc.name_list));
    if (!dc.name_list)
        return cfg_nomem(pc);
    for (size_t i = 0; i < m->n_services; i++)
        dc.name_list[i] = svcs[i].name;
    for (size_t i = 0; i < m->n_services; i++) {
        int r;
        dc.self = i;
        snprintf(dc.field, sizeof(dc.field), "services.%s.depends_on", svcs[i].name);
        r = parse_deps(pc, &dc, dep_nodes[i]);
        if (r < 0)
            return r;
    }
    return start_order(pc, m, svcs);
}
