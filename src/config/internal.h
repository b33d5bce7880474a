/* config/internal.h — shared by the files of config/ only (and their unit tests):
 * the arena, the position-carrying YAML tree, the parse context and the scalar
 * parsers that have no place in the public API. */
#ifndef CORRAL_CONFIG_INTERNAL_H
#define CORRAL_CONFIG_INTERNAL_H

#include "config/config.h"
#include "util/diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Hard bounds on input, so that no file, however hostile, makes the loader use
 * unbounded memory or time. */
#define CFG_MAX_FILE_BYTES    (4u << 20)                /* corral.yaml */
#define CFG_MAX_ENVFILE_BYTES (1u << 20)                /* each env_file */
#define CFG_ARENA_CAP_BYTES   (64u << 20)               /* model, and separately the YAML tree */
#define CFG_MAX_DEPTH         32                        /* YAML nesting; a valid config needs 5 */
#define CFG_MAX_DURATION_MS   (100000ull * 3600 * 1000) /* 100000h, ~11 years */
#define CFG_MAX_MULTIPLIER    100.0
#define CFG_MAX_KEEP          1000

/* A bump allocator: many allocations, one free. */
struct cfg_arena;
/* Returns a new arena that refuses to grow past cap_bytes; NULL with errno set. */
struct cfg_arena *cfg_arena_new(size_t cap_bytes);
void cfg_arena_free(struct cfg_arena *ar);
/* Zeroed and aligned for any type; NULL when out of memory or over the cap. */
void *cfg_arena_alloc(struct cfg_arena *ar, size_t size);
void *cfg_arena_array(struct cfg_arena *ar, size_t n, size_t size);
char *cfg_arena_strndup(struct cfg_arena *ar, const char *s, size_t len);
char *cfg_arena_strdup(struct cfg_arena *ar, const char *s);

/* Open-addressing string set mapping keys to indexes; keys are borrowed. */
struct cfg_strset {
    size_t cap;
    const char **keys;
    size_t *vals;
};
int cfg_strset_init(struct cfg_strset *set, struct cfg_arena *ar, size_t n_max);
/* Inserts key -> val unless present; returns the existing value or -1. */
long cfg_strset_put(struct cfg_strset *set, const char *key, size_t val);
long cfg_strset_get(const struct cfg_strset *set, const char *key);

size_t cfg_edit_distance(const char *a, const char *b);

/* Scalar syntaxes beyond the public ones; all strict, 0 or -EINVAL. */
int cfg_parse_fraction(const char *s, double *out); /* "10%" or 0..1 */
int cfg_parse_decimal(const char *s, double *out);  /* "2", "1.5" */
int cfg_parse_uint(const char *s, uint64_t max, uint64_t *out);
int cfg_parse_bool(const char *s, bool *out); /* true/false only */
/* Offset of the first byte that is not valid UTF-8, or len when all is valid. */
size_t cfg_utf8_check(const char *s, size_t len);
/* "1m30s", "250ms", "0"; writes at most size bytes. */
void cfg_format_duration(uint64_t ms, char *buf, size_t size);
void cfg_format_size(uint64_t bytes, char *buf, size_t size);

extern const char *const cfg_kind_names[CFG_KIND__COUNT];
extern const char *const cfg_recover_names[CFG_RECOVER__COUNT];
extern const char *const cfg_restart_policy_names[CFG_RESTART__COUNT];
extern const char *const cfg_dep_cond_names[CFG_DEP__COUNT];
extern const char *const cfg_containment_names[CFG_CONTAIN__COUNT];
extern const char *const cfg_proto_names[CFG_PROTO__COUNT];
extern const char *const cfg_ready_kind_names[CFG_READY__COUNT];
extern const char *const cfg_probe_kind_names[CFG_PROBE__COUNT];

/* The YAML document as a small tree that keeps every node's position, which
 * libfyaml 0.7's node API does not expose for collections. */
enum cfg_node_type { CFG_NODE_NULL, CFG_NODE_SCALAR, CFG_NODE_SEQ, CFG_NODE_MAP, CFG_NODE__COUNT };

struct cfg_node {
    enum cfg_node_type type;
    struct cfg_pos pos;
    const char *text; /* scalars: NUL-free, valid UTF-8, NUL-terminated */
    size_t len;
    size_t n;               /* items of a list; keys + values of a mapping */
    struct cfg_node *child; /* first item; a mapping alternates key, value */
    struct cfg_node *next;
};

struct cfg_envfile;

struct cfg_ctx {
    struct cfg_arena *ar;  /* the model's */
    struct cfg_arena *tmp; /* tree and scratch, freed after the load */
    struct diag *dg;
    const char *file;             /* as given by the caller, for messages */
    const char *dir;              /* absolute; relative paths resolve against it */
    struct cfg_envfile *envfiles; /* each env_file is read once */
};

/* Fill dg for node at (or 1:1 when at is NULL); always returns -EINVAL. */
int cfg_err(struct cfg_ctx *pc, const struct cfg_node *at, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int cfg_err_at(struct cfg_ctx *pc, const char *file, int line, int col, const char *field,
               const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* An invalid URL's error, the URL shown as everywhere else (cfg_url_redact):
 * a password or query value in it is no less secret for the typo. */
int cfg_err_url(struct cfg_ctx *pc, const struct cfg_node *at, const char *field, const char *url,
                const char *why);
int cfg_nomem(struct cfg_ctx *pc);

/* A duration's value (config/sections.c), with the reason when it is none. */
int cfg_duration_value(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                       uint64_t *out);

/* Parse text into a tree in pc->tmp; *root is NULL for an empty document. */
int cfg_yaml_load(struct cfg_ctx *pc, const char *text, size_t len, struct cfg_node **root);
const char *cfg_yaml_type_name(const struct cfg_node *n);
/* Require node to be of type want ("expected a list, got a mapping"). */
int cfg_yaml_expect(struct cfg_ctx *pc, const struct cfg_node *n, enum cfg_node_type want,
                    const char *field);
/* A scalar's text, possibly empty; null, lists and mappings are type errors. */
int cfg_yaml_scalar(struct cfg_ctx *pc, const struct cfg_node *n, const char *field,
                    const char **out);
/* A typed key's text: null, lists and mappings are errors that say what the
 * key takes ("expected true or false, got an empty value"). */
int cfg_yaml_value(struct cfg_ctx *pc, const struct cfg_node *n, const char *field,
                   const char *what, const char **out);
/* The first key of map whose text is text, or NULL. */
const struct cfg_node *cfg_yaml_find_key(const struct cfg_node *map, const char *text);
/* "base.key" into buf (or "key" when base is empty). */
void cfg_yaml_field(char *buf, size_t size, const char *base, const char *key);

typedef int (*cfg_yaml_key_fn)(struct cfg_ctx *pc, void *obj, int key, const struct cfg_node *k,
                               const struct cfg_node *v, const char *field);
/* Walk a mapping whose keys must come from keys[]: unknown keys (with a
 * suggestion), non-scalar and duplicate keys are errors. fn gets the key's index
 * and the child field path. */
int cfg_yaml_walk(struct cfg_ctx *pc, const struct cfg_node *map, const char *field,
                  const char *const *keys, int n_keys, cfg_yaml_key_fn fn, void *obj);
/* A value from names[] (enum index), else an error listing them. */
int cfg_yaml_enum(struct cfg_ctx *pc, const struct cfg_node *n, const char *field,
                  const char *const *names, int count, int *out);

/* Settings a service inherits: builtin <- defaults <- service, per field. */
struct cfg_base {
    struct cfg_restart restart;
    struct cfg_stop stop;
    struct cfg_logs logs;
    bool autostart;
    enum cfg_recover on_recover;
    bool cwd_set;
    const char *cwd;
    const char *user;
    uid_t uid;
    gid_t user_gid;
    bool user_gid_known; /* false for a numeric uid without a passwd entry */
    struct cfg_pos user_pos;
    const char *group;
    gid_t group_gid;
    const struct cfg_env *env;
    size_t n_env;
    bool policy_set; /* restart.policy written at this level */
    struct cfg_limits limits;
    uint64_t ready_timeout_ms;
};

enum cfg_base_key {
    CFG_BK_RESTART,
    CFG_BK_STOP,
    CFG_BK_LOGS,
    CFG_BK_ENV,
    CFG_BK_AUTOSTART,
    CFG_BK_CWD,
    CFG_BK_USER,
    CFG_BK_GROUP,
    CFG_BK_ON_RECOVER,
    CFG_BK_LIMITS,
    CFG_BK_READY_TIMEOUT,
    CFG_BK__COUNT
};
extern const char *const cfg_base_key_names[CFG_BK__COUNT];

void cfg_base_init_builtin(struct cfg_base *b, const char *dir);
/* Apply one inheritable key to b; env is parsed into b->env (replacing it). */
int cfg_base_parse_key(struct cfg_ctx *pc, struct cfg_base *b, enum cfg_base_key key,
                       const struct cfg_node *v, const char *field);
int cfg_env_parse_map(struct cfg_ctx *pc, const struct cfg_node *map, const char *field,
                      const struct cfg_env **out, size_t *n_out);
/* Later lists win per key; each key keeps the place of its first appearance. */
int cfg_env_merge(struct cfg_ctx *pc, const struct cfg_env *const *lists, const size_t *counts,
                  size_t n_lists, const struct cfg_env **out, size_t *n_out);
bool cfg_env_key_valid(const char *s, size_t len);
/* CORRAL_*: corral sets CORRAL_SERVICE and CORRAL_INSTANCE itself, the tag
 * by which a service's processes are found; a config does not. */
bool cfg_env_key_reserved(const char *s, size_t len);
#define CFG_ENV_RESERVED_WHY                                                                       \
    "names starting with CORRAL_ are corral's: it sets CORRAL_SERVICE and CORRAL_INSTANCE "        \
    "itself, the tag by which a service's processes are found"
/* Absolute, with "." and doubled slashes removed; ".." kept (symlinks). */
char *cfg_path_resolve(struct cfg_arena *ar, const char *dir, const char *path);
int cfg_path_value(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                   const char **out);

/* Read (once per path) and parse a dotenv file; errors name its path and line. */
int cfg_envfile_load(struct cfg_ctx *pc, const char *path, const struct cfg_node *at,
                     const char *field, const struct cfg_env **out, size_t *n_out);
/* Read a regular file of at most max_bytes into ar, NUL-terminated. */
int cfg_read_file(struct cfg_arena *ar, const char *path, size_t max_bytes, char **out,
                  size_t *len_out);

/* Second pass: depends_on of each service (dep_nodes[i], NULL when absent) now
 * that every name and kind is known, then cycles and the start order. */
int cfg_deps_resolve(struct cfg_ctx *pc, struct cfg_model *m, struct cfg_service *svcs,
                     const struct cfg_node *const *dep_nodes, const struct cfg_strset *names);

/* A service's ports: list (sections.c): numbers (TCP) or "PORT/tcp",
 * "PORT/udp"; a port repeated within the list is an error. */
int cfg_ports_parse(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                    const struct cfg_port **out, size_t *n_out);
/* No two services declare the same port and protocol: port_nodes[i] is the
 * ports: list of services[i], NULL when it has none. */
int cfg_ports_unique(struct cfg_ctx *pc, const struct cfg_service *svcs, size_t n,
                     const struct cfg_node *const *port_nodes);

/* A service's ready:, liveness: and watchdog: (health.c), read once its kind
 * is known; NULL where absent. */
struct cfg_health_nodes {
    const struct cfg_node *ready_key, *ready;
    const struct cfg_node *liveness_key, *liveness;
    const struct cfg_node *watchdog;
    const struct cfg_node *hung;
};
int cfg_health_parse(struct cfg_ctx *pc, struct cfg_service *svc, const struct cfg_health_nodes *hn,
                     const char *base);
int cfg_ready_timeout_parse(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                            uint64_t *out);

/* The whole document into m (allocated by the caller in pc->ar). */
/* The api: section (sections.c). */
int cfg_api_check_token(struct cfg_ctx *pc, const struct cfg_api *api, const struct cfg_node *at);
int cfg_api_parse(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                  struct cfg_api *api);
/* "127.0.0.1:7070", "[::1]:7070": an IP literal and a port; 0 or -EINVAL. */
int cfg_parse_listen(const char *s, char *addr, size_t size, unsigned *port);

int cfg_parse_model(struct cfg_ctx *pc, const struct cfg_node *root, struct cfg_model *m);

/* The hooks: list (hooks.c), once the services are known; v may be NULL. */
int cfg_hooks_parse(struct cfg_ctx *pc, const struct cfg_node *v, struct cfg_model *m);
int cfg_webhooks_parse(struct cfg_ctx *pc, const struct cfg_node *v, struct cfg_model *m);

#endif
