/* config/config.h — corral.yaml parsed into an immutable, validated model.
 * Every node keeps file:line:col so that errors (and later reload diffs) can
 * point at the YAML that caused them. The model lives in one allocation arena
 * and is freed with one cfg_free(). */
#ifndef CORRAL_CONFIG_CONFIG_H
#define CORRAL_CONFIG_CONFIG_H

#include "util/diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define CFG_MAX_SERVICES 4096
#define CFG_MAX_NAME     64 /* service names: [A-Za-z0-9_.-], not starting with '.' or '-' */
#define CFG_MAX_ARGV     4096
#define CFG_MAX_ENV      4096
#define CFG_MAX_DEPS     256
#define CFG_MAX_RESTARTS 1000 /* restart.max_restarts; the give-up window holds this many */
#define CFG_MAX_PORTS    256  /* ports: per service */

/* api.events_keep: how many events state.db keeps. */
#define CFG_EVENTS_KEEP_DEFAULT 10000
#define CFG_MAX_EVENTS_KEEP     1000000

enum cfg_kind { CFG_KIND_LONGRUN, CFG_KIND_ONESHOT, CFG_KIND__COUNT };
/* What a corral started after a crash of its predecessor does with a service
 * process that is still running: stop it and start afresh, or keep it. */
enum cfg_recover { CFG_RECOVER_RESTART, CFG_RECOVER_ADOPT, CFG_RECOVER__COUNT };

enum cfg_restart_policy {
    CFG_RESTART_NO,
    CFG_RESTART_ON_FAILURE,
    CFG_RESTART_ALWAYS,
    CFG_RESTART__COUNT
};

/* started: the dependency's process was exec'd; completed: a oneshot exited 0;
 * ready: it became ready (its ready: protocol or probe said so; with ready:
 * started, as soon as it runs); healthy: ready, and its liveness probe (if
 * any) is not failing. */
enum cfg_dep_cond {
    CFG_DEP_STARTED,
    CFG_DEP_COMPLETED,
    CFG_DEP_READY,
    CFG_DEP_HEALTHY,
    CFG_DEP__COUNT
};

/* How service trees are contained. AUTO picks cgroup when a writable cgroup v2
 * hierarchy is found, else pgroup (process group + subreaper + env tag). */
enum cfg_containment {
    CFG_CONTAIN_AUTO,
    CFG_CONTAIN_CGROUP,
    CFG_CONTAIN_PGROUP,
    CFG_CONTAIN__COUNT
};

/* The protocol of a declared port; a plain number means TCP. */
enum cfg_proto { CFG_PROTO_TCP, CFG_PROTO_UDP, CFG_PROTO__COUNT };

struct cfg_pos {
    int line; /* 1-based; 0 when the value is a default */
    int col;
};

/* A set of exit statuses 0..255, as corral reports them (128 + N for a
 * death by signal N). */
struct cfg_exit_set {
    uint64_t bits[4];
};

/* True when code (0..255) is in the set. */
bool cfg_exit_set_has(const struct cfg_exit_set *set, int code);

struct cfg_restart {
    enum cfg_restart_policy policy;
    uint64_t initial_ms;
    uint64_t max_ms;
    double multiplier;       /* >= 1.0 */
    double jitter;           /* fraction of the delay, 0.0 .. 1.0 ("10%" -> 0.10) */
    uint64_t reset_after_ms; /* a run this long resets the backoff */
    unsigned max_restarts;   /* within window_ms, then failed; 0 = unlimited */
    uint64_t window_ms;
    /* After giving up: one more start this much later, and again after each
     * give-up; 0 = never ("retry_after: never"). */
    uint64_t retry_after_ms;
    /* Exits that count as success besides 0 (on-failure does not restart
     * them, a oneshot completes), and exits that restart whatever the policy;
     * a signal death N is the code 128 + N. */
    struct cfg_exit_set success_exit_codes;
    struct cfg_exit_set restart_on_exit_codes;
};

struct cfg_stop {
    int signal; /* signal number */
    uint64_t timeout_ms;
};

struct cfg_logs {
    uint64_t max_size_bytes; /* rotate when the file would pass this; 0 = never */
    unsigned keep;           /* rotated files kept: name.log.1 .. name.log.keep */
    bool timestamps;         /* prefix each line with time and stream */
};

struct cfg_dep {
    const char *name;
    size_t index; /* into cfg_model.services */
    enum cfg_dep_cond cond;
    struct cfg_pos pos;
};

struct cfg_env {
    const char *key;
    const char *value;
};

/* A port the service listens on (TCP) or binds (UDP): checked before every
 * spawn, and no two services of a model declare the same one. */
struct cfg_port {
    unsigned port; /* 1..65535 */
    enum cfg_proto proto;
};

/* limits: resource bounds of a service's whole tree; 0 = no limit. How each
 * is enforced depends on the host (cgroup controllers or rlimits): see
 * docs/config.md. */
struct cfg_limits {
    uint64_t memory_bytes;        /* memory.max, else the tree's RSS sampled */
    unsigned cpu_percent;         /* of one core: cpu.max (a rate); 150 = 1.5 cores */
    unsigned pids;                /* pids.max: processes and threads of the tree */
    unsigned nofile;              /* RLIMIT_NOFILE of each process */
    uint64_t address_space_bytes; /* RLIMIT_AS of each process */
    uint64_t cpu_time_ms;         /* RLIMIT_CPU of each process: CPU time, not a rate */
};

#define CFG_MIN_MEMORY_BYTES (1u << 20)
#define CFG_MAX_CPU_PERCENT  (1024u * 100)
#define CFG_MAX_PIDS         4194304u
#define CFG_MAX_NOFILE       (1u << 30)
/* --- readiness and liveness ------------------------------------------------ */

/* How a longrun tells corral it is ready. */
enum cfg_ready_kind {
    CFG_READY_STARTED, /* as soon as its process runs */
    CFG_READY_NOTIFY,  /* sd_notify: READY=1 on $NOTIFY_SOCKET */
    CFG_READY_FD,      /* s6: a newline written to fd N */
    CFG_READY_PROBE,   /* a probe passes success_threshold times in a row */
    CFG_READY__COUNT
};

enum cfg_probe_kind {
    CFG_PROBE_NONE,
    CFG_PROBE_TCP,  /* connect to host:port */
    CFG_PROBE_EXEC, /* a command exits 0 */
    CFG_PROBE_LOG,  /* a line of the service's output matches a regex */
    CFG_PROBE_HTTP, /* a GET answered with a status in range (and the body substring) */
    CFG_PROBE__COUNT
};

#define CFG_READY_TIMEOUT_DEFAULT_MS 60000
#define CFG_PROBE_MAX_THRESHOLD      1000
#define CFG_READY_FD_MIN             3
#define CFG_READY_FD_MAX             255

struct cfg_probe {
    enum cfg_probe_kind kind; /* NONE: no probe */
    struct cfg_pos pos;       /* of the probe's kind key */
    const char *host;         /* tcp: an IP literal */
    unsigned port;            /* tcp */
    char *const *argv;        /* exec: NULL-terminated */
    size_t argc;
    const char *regex; /* log: POSIX ERE, checked to compile */
    const char *url;   /* http */
    unsigned status_min, status_max;
    const char *body; /* http: a substring the body must hold; NULL = any */
    uint64_t interval_ms;
    uint64_t timeout_ms;
    uint64_t initial_delay_ms;
    unsigned success_threshold;
    unsigned failure_threshold;
};

/* hung: a tree pinned on CPU for a while is hung (and restarted). */
#define CFG_HUNG_FOR_MIN_MS 1000
struct cfg_hung {
    unsigned cpu_above; /* % of one core (150 = 1.5 cores); 0 = no rule */
    uint64_t for_ms;    /* above it without a break this long */
    bool restart;       /* restart it (through its policy) or only report it */
};

struct cfg_ready {
    enum cfg_ready_kind kind;
    int fd;                        /* CFG_READY_FD */
    const struct cfg_probe *probe; /* CFG_READY_PROBE, else NULL */
    uint64_t timeout_ms;           /* ready_timeout: not ready by then is a failure; 0 = never */
};

struct cfg_service {
    const char *name;
    struct cfg_pos pos;
    enum cfg_kind kind;
    char *const *argv; /* NULL-terminated; with shell: {"/bin/sh", "-c", cmd, NULL} */
    size_t argc;
    bool shell;
    bool cwd_set;    /* cwd was written (here or in defaults): entered as user */
    const char *cwd; /* absolute; defaults to the config file's directory */
    /* Final environment additions: env_file entries, then env entries (env wins).
     * corral's own environment is inherited underneath. */
    const struct cfg_env *env;
    size_t n_env;
    const char *env_file; /* absolute path or NULL; already read into env */
    const char *user;     /* NULL when unset */
    const char *group;    /* NULL when unset */
    uid_t uid;            /* valid when user != NULL */
    gid_t gid;            /* user's primary group, or group's gid when group != NULL */
    const struct cfg_dep *deps;
    size_t n_deps;
    const struct cfg_port *ports; /* in file order, no duplicates */
    size_t n_ports;
    struct cfg_restart restart;
    struct cfg_stop stop;
    struct cfg_logs logs;
    bool autostart;
    enum cfg_recover on_recover;
    struct cfg_limits limits;
    /* readiness and liveness */
    struct cfg_ready ready;
    const struct cfg_probe *liveness; /* NULL when unset */
    uint64_t watchdog_ms;             /* with ready: notify; 0 = off */
    struct cfg_hung hung;
};

/* The control API. The Unix socket <state_dir>/corral.sock is always on; a
 * TCP listener only when listen is set, and it requires the bearer token. */
#define CFG_SOCKET_NAME "corral.sock"
struct cfg_api {
    const char *listen;     /* "127.0.0.1:7070" or "[::1]:7070" as written; NULL = off */
    char listen_addr[64];   /* the address part, without brackets */
    unsigned listen_port;   /* 1..65535 when listen is set */
    const char *token_file; /* absolute; default <state_dir>/api.token */
    uint64_t events_keep;   /* the newest events state.db keeps */
};

/* hooks: a command run on chosen events (config/hooks.c, docs/config.md). */
#define CFG_MAX_HOOKS               64
#define CFG_HOOK_TIMEOUT_DEFAULT_MS 10000
#define CFG_HOOK_TIMEOUT_MAX_MS     3600000

struct cfg_hook {
    struct cfg_pos pos;
    const char *const *on; /* event names, each one of cfg_event_names */
    size_t n_on;
    char *const *argv; /* NULL-terminated; with shell: {"/bin/sh", "-c", cmd, NULL} */
    size_t argc;
    bool shell;
    uint64_t timeout_ms;
    const char *const *services; /* only these services' events; none: every event */
    size_t n_services;
};

/* webhooks: the event's JSON POSTed to a URL (config/hooks.c, docs/config.md). */
#define CFG_MAX_WEBHOOKS               64
#define CFG_WEBHOOK_TIMEOUT_DEFAULT_MS 5000
#define CFG_WEBHOOK_TIMEOUT_MAX_MS     300000
#define CFG_WEBHOOK_RETRIES_DEFAULT    3
#define CFG_WEBHOOK_RETRIES_MAX        20

struct cfg_webhook {
    struct cfg_pos pos;
    const char *const *on; /* event names, each one of cfg_event_names */
    size_t n_on;
    const char *url;             /* http:// or https:// */
    uint64_t timeout_ms;         /* of each attempt */
    unsigned retries;            /* attempts after the first, with a growing delay */
    const char *const *services; /* only these services' events; none: every event */
    size_t n_services;
};

/* The event names hooks accept (as the API names them), and a lookup. */
extern const char *const cfg_event_names[];
extern const size_t cfg_n_event_names;
bool cfg_event_known(const char *name);

struct cfg_model {
    const char *path;      /* absolute path of the config file */
    const char *dir;       /* its directory */
    const char *state_dir; /* absolute; default <dir>/.corral */
    enum cfg_containment containment;
    struct cfg_pos state_dir_pos, containment_pos; /* of their values, when set */
    struct cfg_api api;
    const struct cfg_service *services; /* in file order */
    size_t n_services;
    const size_t *start_order;    /* topological: every dependency before its dependants */
    const struct cfg_hook *hooks; /* in file order */
    size_t n_hooks;
    const struct cfg_webhook *webhooks; /* in file order */
    size_t n_webhooks;
    void *arena; /* owns everything above */
};

/* Load and validate a config file. Returns a new model; caller frees with
 * cfg_free(). On error returns NULL and fills dg with file, line, col, field
 * and a message (with a "did you mean" suggestion for misspelt keys). */
struct cfg_model *cfg_load(const char *path, struct diag *dg);

/* Same as cfg_load() for text already in memory; name is used in messages and
 * base_dir resolves relative paths (cwd, env_file). */
struct cfg_model *cfg_load_string(const char *text, size_t len, const char *name,
                                  const char *base_dir, struct diag *dg);

void cfg_free(struct cfg_model *m);

/* Only the state directory the config file names (default <its dir>/.corral),
 * without validating the rest: what a client needs to find the running
 * instance, fast, even when the file has errors a reload would refuse.
 * 0; 1 when the file is not YAML but has a top-level "state_dir: VALUE" line,
 * whose value out then holds, and dg says why it does not load; or -errno
 * with dg filled (unreadable, or not YAML at all). */
int cfg_state_dir(const char *path, char *out, size_t size, struct diag *dg);

/* A service name: 1 to CFG_MAX_NAME of A-Z a-z 0-9 _ . -, not starting with
 * '.' or '-' (it becomes a file and a cgroup name). */
bool cfg_name_valid(const char *s, size_t len);

/* Index of the service called name, or -1. */
long cfg_find(const struct cfg_model *m, const char *name);
/* The candidate nearest to word by edit distance when it is close enough to be a
 * plausible typo, else NULL. */
const char *cfg_suggest(const char *word, const char *const *cands, size_t n);
/* The service whose name word most likely misspells, or NULL. */
const char *cfg_suggest_service(const struct cfg_model *m, const char *word);
/* " (did you mean 'HINT'?)" in buf, or "" when hint is NULL: for a message
 * that names what it did not find. */
#define CFG_HINT_MAX (CFG_MAX_NAME + 24)
const char *cfg_did_you_mean(const char *hint, char *buf, size_t size);

/* "250ms", "10s", "5m", "1h", "1h30m", plain "0"; returns 0, -ERANGE for a
 * duration above zero that is under 1 ms, or -EINVAL. */
int cfg_parse_duration(const char *s, uint64_t *out_ms);
/* "512", "10K", "10M", "1G" (powers of 1024, optional trailing B/iB); 0 or -EINVAL. */
int cfg_parse_size(const char *s, uint64_t *out_bytes);
/* An http:// or https:// URL with a host, a port (if any) of 1 to 65535, and
 * no space or control character: 0, or -EINVAL with *why set. */
/* A TCP listener's bearer token: its length bounds, in characters. */
#define CFG_TOKEN_MIN 16
#define CFG_TOKEN_MAX 64
int cfg_check_url(const char *s, const char **why);
/* url as shown: a password and query values replaced by "***". */
void cfg_url_redact(const char *url, char *buf, size_t size);
/* limits.cpu: "150%" (of one core) or a number of cores ("1.5"); 0 or -EINVAL. */
int cfg_parse_cpu_percent(const char *s, unsigned *out_percent);
/* "TERM", "SIGTERM", "term", "15"; returns the signal number or -EINVAL. */
int cfg_signal_parse(const char *s);
/* "TERM" for SIGTERM; "?" for an unknown number. */
const char *cfg_signal_name(int sig);

const char *cfg_kind_name(enum cfg_kind k);
const char *cfg_recover_name(enum cfg_recover r);
const char *cfg_restart_policy_name(enum cfg_restart_policy p);
const char *cfg_dep_cond_name(enum cfg_dep_cond c);
const char *cfg_containment_name(enum cfg_containment c);
const char *cfg_proto_name(enum cfg_proto p);           /* "tcp", "udp" */
const char *cfg_ready_kind_name(enum cfg_ready_kind k); /* "started", "notify", "fd", "probe" */
const char *cfg_probe_kind_name(enum cfg_probe_kind k); /* "none", "tcp", "exec", "log", "http" */
/* "1m30s", "250ms", "0": a duration as the config would write it. */
void cfg_format_duration(uint64_t ms, char *buf, size_t size);
/* "tcp 127.0.0.1:8000", "exec ./check.sh", "log /ready/": for reasons. */
void cfg_probe_describe(const struct cfg_probe *p, char *buf, size_t size);

/* The resolved model, human-readable or as JSON (jansson), for `corral check`. */
int cfg_dump_text(const struct cfg_model *m, FILE *out);
int cfg_dump_json(const struct cfg_model *m, FILE *out);
/* One service as the JSON object `check --json` prints; a reload compares two
 * of these to tell a changed service from an unchanged one. NULL on ENOMEM. */
struct json_t;
struct json_t *cfg_service_json(const struct cfg_service *s);

#endif
