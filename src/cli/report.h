/* cli/report.h — what `corral doctor` found, and its two renderings: a human
 * table and the stable JSON documented in docs/doctor.md. Pure: filled by
 * cli/doctor.c, printed here, so the formats are unit-tested. */
#ifndef CORRAL_CLI_REPORT_H
#define CORRAL_CLI_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define REPORT_CMD_LEN     256
#define REPORT_NAME_LEN    64
#define REPORT_TEXT_LEN    512
#define REPORT_PORTS_MAX   8
#define REPORT_JSON_SCHEMA 1

struct doc_zombie {
    pid_t pid, ppid;
    uint64_t age_ms; /* since it started: the kernel keeps no time of death */
    char command[REPORT_NAME_LEN + 1];
    char parent_command[REPORT_CMD_LEN];
};

struct doc_orphan {
    pid_t pid, ppid;
    char service[REPORT_NAME_LEN + 1];
    const char *why;      /* static text */
    const char *found_by; /* "tag", "cgroup", "tag+cgroup" */
    uint64_t age_ms;
    char command[REPORT_CMD_LEN];
};

struct doc_port {
    unsigned port;
    const char *proto; /* "tcp", "tcp6", "udp", "udp6" */
    char address[64];
};

struct doc_foreign {
    pid_t pid, ppid;
    uint64_t age_ms;
    char user[32];
    char command[REPORT_CMD_LEN];
    char parent_command[REPORT_CMD_LEN];
    struct doc_port ports[REPORT_PORTS_MAX];
    size_t n_ports;
};

struct doc_hung {
    pid_t pid;
    char service[REPORT_NAME_LEN + 1];
    double cpu_percent;
    char command[REPORT_CMD_LEN];
};

struct doc_stale {
    char service[REPORT_NAME_LEN + 1];
    pid_t pid;
    char why[128];
};

struct doc_conflict {
    char service[REPORT_NAME_LEN + 1];
    unsigned port;
    const char *proto;
    pid_t pid; /* 0 when the holder is not visible here */
    char command[REPORT_CMD_LEN];
};

/* How one configured limit is enforced here. */
struct doc_limit {
    char service[REPORT_NAME_LEN + 1];
    const char *limit;       /* "memory", "cpu", ... (static) */
    uint64_t value;          /* bytes, percent, count or ms, as the config has it */
    const char *enforced_by; /* "cgroup", "sampling", "rlimit", "none" (static) */
    const char *how;         /* one line (static) */
};

struct doc_state {
    bool dir_exists, dir_writable;
    bool db_exists, db_ok;
    bool db_intact; /* its quick_check passed (it may still be unusable: a newer schema) */
    int db_schema;  /* -1 when unknown */
    char db_error[256];
    size_t db_set_aside; /* state.db.bad-* files: databases corral moved aside */
    bool lock_held;
    bool lock_lost;    /* held only through the instance's guard: the directory was replaced */
    pid_t lock_pid;    /* 0 when unknown */
    bool lock_cleanup; /* held by `corral cleanup`, not by a running corral */
    /* No lock holder; the instance's guard held by a process of another user */
    pid_t guard_foreign_pid; /* 0: none */
    unsigned guard_foreign_uid;
    bool socket_exists;
    int api; /* -1 not asked (no corral), 0 no answer, 1 answers */
};

struct doc_report {
    char state_dir[4096];
    char instance[32];
    char config[4096];              /* "" when none was read */
    char config_error[1024];        /* "" when it loaded (or none was read) */
    uint64_t window_ms;             /* of the CPU and zombie sampling */
    char containment[16];           /* "cgroup" or "pgroup" */
    char containment_reason[1024];  /* why, as corral says it */
    const char *containment_source; /* "running corral" or "this host and the config" */
    bool containment_problem;       /* cgroup asked for, but not usable here */
    char **cgroups;                 /* corral-<instance> directories found */
    size_t n_cgroups;
    char controllers[64];           /* "cpu memory pids" for corral's cgroups; "" none */
    const char *controllers_source; /* "running corral", "this host", NULL: not cgroup */
    char log_writes[16];            /* "io_uring", "direct" or "none yet" (GET /v1) */
    char log_writes_reason[256];
    const char *log_writes_source; /* "running corral" or "this host" */
    struct doc_limit *limits;
    struct doc_state state;
    struct doc_zombie *zombies;
    struct doc_orphan *orphans;
    struct doc_foreign *foreign;
    struct doc_hung *hung;
    struct doc_stale *stale;
    struct doc_conflict *conflicts;
    size_t n_zombies, n_orphans, n_foreign, n_hung, n_stale, n_conflicts;
    size_t cap_zombies, cap_orphans, cap_foreign, cap_hung, cap_stale, cap_conflicts;
    size_t n_limits, cap_limits;
};

/* Append a zeroed element to one of the report's arrays; NULL on ENOMEM. */
#define REPORT_ADD(r, name)                                                                        \
    report_grow((void **)&(r)->name, &(r)->n_##name, &(r)->cap_##name, sizeof(*(r)->name))
void *report_grow(void **v, size_t *n, size_t *cap, size_t elem);
int report_add_cgroup(struct doc_report *r, const char *dir);
void report_free(struct doc_report *r);

/* Why a process of this instance is an orphan, or NULL when it is not:
 * running: a corral holds the state directory's lock; state: its service's
 * state from the running corral's API, NULL when it has no such service. */
const char *report_orphan_why(bool running, const char *state);
/* A hook run's cgroup (".hook-PID-N") below corral's, whose processes a
 * running corral ends itself: none of them is an orphan while it runs. */
bool report_hook_cgroup(const char *name);

/* Problems among the state checks, as sentences, and notes (not problems). */
size_t report_state_problems(const struct doc_state *s, const char **out, size_t max);
size_t report_state_notes(const struct doc_state *s, const char **out, size_t max);

/* Every finding that makes the exit status 1. */
size_t report_problems(const struct doc_report *r);

/* "850ms", "12s", "3m4s", "2h5m", "3d4h". */
void report_age_text(uint64_t ms, char *buf, size_t size);

int report_json(const struct doc_report *r, FILE *out);
void report_table(const struct doc_report *r, FILE *out);

#endif
