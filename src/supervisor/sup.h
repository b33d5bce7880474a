/* supervisor/sup.h — the supervisor: one struct service per configured entry,
 * each driven by a small state machine:
 *
 *   STOPPED ─start→ WAITING ─deps met→ (spawn) ─exec'd→ RUNNING ─exit→ (tree empty?) ─┐
 *                                         │ ready: not started                        │
 *                                         └→ STARTING ─ready→ READY                   │
 *   RUNNING, READY ─liveness fails→ UNHEALTHY ─passes→ RUNNING, READY                 │
 *   (STARTING, RUNNING, READY, UNHEALTHY ─stop or fault→ STOPPING ─empty→)            │
 *     ┌───────────────────────────────────────────────────────────────────────────────┘
 *     ├→ BACKOFF ─timer→ (spawn)          ├→ EXITED (no restart)
 *     ├→ COMPLETED (oneshot, exit 0)      ├→ FAILED (gave up, oneshot failed, dependency)
 *     └→ STOPPED
 *
 * A service with ready: started is RUNNING from its exec, which counts as
 * ready. Any other is STARTING from its exec until its protocol or probe says
 * ready (READY), or its ready_timeout passes: a fault. A fault (not ready in
 * time, liveness failing with a restart policy that restarts, a silent
 * watchdog) stops the tree and goes on as an exit 1 would, with the fault as
 * the reason. UNHEALTHY is a failing liveness probe of a service its policy
 * does not restart, or the moment before its stop.
 *
 * A service whose main process exits while other processes of its tree live
 * passes through STOPPING first: nothing is restarted or declared done until
 * its tree is verifiably empty. All state changes happen on the loop.
 *
 * A give-up (max_restarts within window) is FAILED with a retry due after
 * restart.retry_after: FAILED ─timer→ WAITING, one start counted against the
 * window like any restart; an operator's stop, start or restart cancels it.
 *
 * Every spawn (from WAITING or BACKOFF) first checks the service's
 * ports: while one is held it is BLOCKED instead, and tries again after a
 * backoff that counts neither as a run nor as a restart (BLOCKED ─timer→
 * spawn or BLOCKED; ─stop→ STOPPED at once). */
#ifndef CORRAL_SUPERVISOR_SUP_H
#define CORRAL_SUPERVISOR_SUP_H

#include "config/config.h"
#include "logs/logs.h"
#include "loop/loop.h"
#include "util/diag.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "waiting for NAME to be healthy (it is backoff)" */
#define SUP_WAITING_MAX (CFG_MAX_NAME + 64)
#include <sys/types.h>

enum svc_state {
    SVC_STOPPED,
    SVC_WAITING,
    SVC_STARTING, /* exec'd, not yet ready (or a step before exec failed: its exit follows) */
    SVC_RUNNING,
    SVC_BACKOFF,
    SVC_BLOCKED, /* one of its ports is held: not spawned, retried */
    SVC_STOPPING,
    SVC_COMPLETED,
    SVC_EXITED,
    SVC_FAILED,
    SVC_READY,     /* its readiness protocol or probe said so */
    SVC_UNHEALTHY, /* its liveness probe is failing */
    SVC__COUNT
};

const char *sup_state_name(enum svc_state st);
/* The main process runs: starting, running, ready or unhealthy. */
bool sup_state_up(enum svc_state st);
/* For a state's name as the API gives it: corral supervises a tree of the
 * service's in it (its main process runs, or corral is stopping it). */
bool sup_state_name_has_tree(const char *name);

enum sup_event_kind {
    SUP_EV_STARTED,    /* pid */
    SUP_EV_EXITED,     /* exit_code, text = "exited 1" / "killed by SIGKILL" */
    SUP_EV_LEFTOVER,   /* main exited, other processes of the tree are being stopped */
    SUP_EV_RESTARTING, /* delay_ms */
    SUP_EV_COMPLETED,  /* oneshot exited 0 */
    SUP_EV_FAILED,     /* text = reason */
    SUP_EV_STOPPING,
    SUP_EV_KILLING,  /* stop timeout passed: SIGKILL to the tree */
    SUP_EV_SURVIVOR, /* pid, text = command line: still alive after SIGKILL */
    SUP_EV_STOPPED,
    SUP_EV_LOGS_LOST,      /* text = how many bytes the log file could not take */
    SUP_EV_REAPED,         /* an orphaned descendant reparented to corral: pid, exit_code */
    SUP_EV_ADOPTED,        /* a previous corral's process kept (on_recover: adopt): pid */
    SUP_EV_RECOVERING,     /* a previous corral's tree is being stopped to start afresh: pid */
    SUP_EV_STALE,          /* a record named a process that is gone or another one: pid, text */
    SUP_EV_BLOCKED,        /* a port is held: pid of the holder (or 0), text = reason */
    SUP_EV_ORPHAN,         /* an orphan of corral's held a port and is being stopped: pid,
                            * text = its command line */
    SUP_EV_LIMIT_EXCEEDED, /* text = which limit and by how much ("memory limit: 530M > 512M") */
    SUP_EV_STARTING,       /* exec'd, readiness pending: pid, text = what it waits for */
    SUP_EV_READY,          /* text = how it became ready */
    SUP_EV_UNHEALTHY,      /* text = reason ("liveness: tcp 127.0.0.1:8000 refused 3 times") */
    SUP_EV_DENIED,         /* a notify message from outside the tree: pid, text */
    SUP_EV_GAVE_UP,        /* max_restarts in window: failed; text = reason, retry_in_ms */
    SUP_EV_RECOVERED,      /* a run lasted reset_after after restarts or a give-up: text */
    SUP_EV_NOT_ROTATED,    /* the log file could not be rotated: text = why, how often */
    SUP_EV__COUNT
};

struct sup_event {
    enum sup_event_kind kind;
    const char *service; /* NULL for corral-wide events */
    pid_t pid;
    int exit_code;
    uint64_t delay_ms;
    const char *text;
    /* The details every state change carries (see docs/api.md). */
    unsigned restarts;   /* the service's automatic restarts so far */
    uint64_t ran_ms;     /* exited: how long the run lasted */
    int64_t retry_in_ms; /* failed, gave_up: when corral tries again; -1: it will not */
};

struct sup_hooks {
    void (*on_event)(void *ctx, const struct sup_event *ev);
    /* Each line of service output; NULL when output is not echoed. when is
     * the time its first bytes were read: the time its log file gives it. */
    void (*on_output)(void *ctx, const char *service, enum logs_stream st, const char *line,
                      size_t len, bool complete, const struct timespec *when);
    /* Nothing is running, waiting, backing off or stopping any more. */
    void (*on_settled)(void *ctx);
    /* A reload took effect: now is in use, old is no longer referenced. */
    void (*on_swap)(void *ctx, const struct cfg_model *now, const struct cfg_model *old);
    void *ctx;
    /* The state directory's instance id as its lock took it, or NULL: then
     * it is computed from m's state_dir. */
    const char *instance;
};

struct sup;

/* Returns a new supervisor for model m (borrowed; must outlive it): creates the
 * state and log directories, decides containment, becomes a child subreaper.
 * NULL with dg filled on failure. Caller frees with sup_free(). */
struct sup *sup_new(struct loop *lp, const struct cfg_model *m, const struct sup_hooks *h,
                    struct diag *dg);
void sup_free(struct sup *s);

/* Start the named services and what they depend on (all autostart services
 * when n == 0). -ENOENT with dg filled for an unknown name. */
int sup_start(struct sup *s, const char *const *names, size_t n, struct diag *dg);

/* Graceful stop of everything, dependants before their dependencies. */
void sup_shutdown(struct sup *s);
/* The pass a kick asked for, now rather than at the loop's next turn, ahead
 * of the timers already due (log flushes, say): for a caller outside every
 * pass and every library callback, such as a signal's handler. Its stopping
 * events come at the next turn or before the next event, whichever is
 * first: what the caller has to say of the stop goes out ahead of them. */
void sup_kick_now(struct sup *s);
/* SIGKILL every live tree now, ignoring order and timeouts. */
void sup_kill_all(struct sup *s);

/* Call on SIGCHLD: reaps every exited child, services' and orphans'. */
void sup_reap(struct sup *s);
/* A child of corral's that is no service's and that nobody claims (the
 * output holder, reparented to corral): a stop's check knows it is no
 * service's leftover. pid must be an unreaped child, so that it names the
 * same process until sup_reap() takes it and forgets it (its exit is no
 * orphan's, and not reported). A few at a time: one that went is known
 * until it is reaped, though its replacement is owned already. */
void sup_own_helper(struct sup *s, pid_t pid);

/* A child another part of corral started (a hook) and wants the exit of:
 * sup_reap() hands it to fn (exit_code as sup_exit_code() gives it) instead
 * of reporting an orphan. Claim right after the spawn, before the loop runs
 * again, and no reap can come between. 0 or -ENOMEM. */
typedef void (*sup_child_fn)(void *ctx, pid_t pid, int exit_code);
int sup_child_claim(struct sup *s, pid_t pid, sup_child_fn fn, void *ctx);
/* Forget a claim (its owner goes away first); the exit is then an orphan's. */
void sup_child_unclaim(struct sup *s, pid_t pid);

/* Deliver output lines to h.on_output (on by default when it is set), or
 * stop doing so: splitting output into lines costs, and a daemon needs them
 * only while someone follows its logs. */
void sup_set_output(struct sup *s, bool on);

bool sup_settled(const struct sup *s);
/* True when a service is FAILED (gave up, oneshot or dependency failed) or
 * EXITED unsuccessfully: what corral's exit status says. */
bool sup_any_failed(const struct sup *s);
/* True when a stop left a process alive after SIGKILL. */
bool sup_any_survivor(const struct sup *s);

/* --- control (the API's view) ------------------------------------------------ */

/* What holds a port of a BLOCKED service. */
struct sup_holder {
    unsigned port;
    enum cfg_proto proto;
    char address[48]; /* the socket's local address: "127.0.0.1", "::" */
    pid_t pid;        /* 0 when no process in view has the socket open */
    char user[64];    /* the socket's owner, by name when it has one */
    char command[256];
    char service[CFG_MAX_NAME + 1]; /* its CORRAL_SERVICE with this instance's tag, or "" */
    bool orphan;     /* corral's own, left by a service that is not live: being stopped */
    unsigned checks; /* checks in a row that found a port held; the retries are not restarts */
};

struct sup_info {
    const char *name;
    enum cfg_kind kind;
    enum svc_state state;
    pid_t pid;             /* main process, 0 when none */
    uint64_t uptime_ms;    /* of the current run; 0 when none */
    uint64_t state_age_ms; /* time in the current state */
    unsigned runs;         /* spawns since corral started */
    unsigned restarts;     /* automatic restarts by the policy */
    bool exited;           /* exit_code holds the last run's status */
    int exit_code;         /* like a shell's $?: 128+N for signal N */
    const char *reason;    /* why it failed or last exited; "" when none */
    bool autostart;
    bool operator_stopped;   /* stopped through stop, not by itself */
    bool restart_pending;    /* up, but a restart will stop and start it */
    uint64_t log_lost_bytes; /* of its output, not written to its log file */
    bool adopted;            /* pid was started by a previous corral */
    /* While BLOCKED, what holds the port, else NULL; valid until the loop runs. */
    const struct sup_holder *holder;
    /* readiness and liveness */
    enum cfg_ready_kind ready_kind;
    const char *status;            /* the last sd_notify STATUS= of this run; "" when none */
    unsigned notify_denied;        /* notify messages from outside its tree, since corral started */
    bool notify_stopping;          /* it sent STOPPING=1 during this run */
    const char *probe_last;        /* the last probe result (readiness while starting, else
                                    * liveness); "" when none */
    int64_t retry_in_ms;           /* FAILED after giving up: the next try; -1 when none is due */
    char waiting[SUP_WAITING_MAX]; /* WAITING: what for, which reason then points at */
};

size_t sup_count(const struct sup *s);
/* The i-th service in config order; i < sup_count(). */
void sup_info(const struct sup *s, size_t i, struct sup_info *out);
/* Index of the named service, or -1. */
long sup_find(const struct sup *s, const char *name);

/* Stop the named services, and first every service that depends on them, so
 * nothing is left running without what it needs. Returns 0, or -ENOENT /
 * -ESHUTDOWN with dg filled. */
int sup_stop(struct sup *s, const char *const *names, size_t n, struct diag *dg);
/* Stop (if live) and start again, with what they depend on; dependants keep
 * running. A service in backoff is spawned now. */
int sup_restart(struct sup *s, const char *const *names, size_t n, struct diag *dg);
/* Send sig to the service's main process through its pidfd. -ESRCH when it
 * has none. */
int sup_signal(struct sup *s, const char *name, int sig, struct diag *dg);
/* What a reload does to each service, by name. */
struct sup_plan {
    const char **added, **removed, **changed, **unchanged;
    size_t n_added, n_removed, n_changed, n_unchanged;
};
void sup_plan_free(struct sup_plan *p);

/* Move to model next (borrowed; must outlive the supervisor or be handed
 * back through h.on_swap): removed and changed services stop first (their
 * dependants that changed too before them, the others keep running), then the
 * model is swapped, and new and changed services start, all in dependency
 * order. Unchanged services are not touched. Returns 0 with plan filled (the
 * names are valid until on_swap), or -EBUSY (a reload is in progress),
 * -ESHUTDOWN, -EINVAL (state_dir or containment changed: they need a restart
 * of corral) with dg filled. */
int sup_reload(struct sup *s, const struct cfg_model *next, struct sup_plan *plan, struct diag *dg);

/* Mark a service as stopped by the operator before the first start, so that
 * an all-autostart sup_start() leaves it stopped (a stop that outlived a
 * restart of corral). -ENOENT for an unknown name. */
int sup_hold(struct sup *s, const char *name);

/* True once sup_shutdown() or sup_kill_all() has been called. */
bool sup_shutting_down(const struct sup *s);

/* One process of a service's tree, for `corral tree`. */
struct sup_proc {
    pid_t pid;
    pid_t ppid;
    char state; /* R, S, D, Z, ... */
    bool main;
    char cmdline[256];
};
/* Every live process of the service's tree (its cgroup, or its process group
 * and tagged processes). Returns the count (at most max are stored) or -errno. */
int sup_tree(const struct sup *s, size_t i, struct sup_proc *procs, size_t max);

/* --- recovery after a crash of corral ---------------------------------------------- */

/* What is kept on disk about a service's current run. */
struct sup_run {
    pid_t pid; /* main process; 0 when none */
    uint64_t start_ticks;
    pid_t pgid;
    char cgroup[PATH_MAX]; /* absolute; "" without one */
    int64_t started_at_ms; /* wall clock */
    unsigned runs, restarts;
    bool exited;
    int exit_code;
    const char *reason;
    bool ready;           /* past its readiness check (not starting) */
    const char *state;    /* its state's name */
    int64_t due_at_ms;    /* wall clock: the backoff's restart, the give-up's retry; 0 none */
    unsigned attempt;     /* backoff steps since the last stable run */
    char *restarts_at;    /* the give-up window's restarts (see store_run); NULL: none */
    bool gave_up;         /* since its last stable run */
    bool stop_then_start; /* a stop under way is a restart */
    const char *settings; /* digest of its settings where a recall needs it, else NULL */
};
/* out->restarts_at is allocated: the caller frees it. */
void sup_run_get(struct sup *s, size_t i, struct sup_run *out);

/* A previous corral's record of a service's main process: only a lead. */
struct sup_lead {
    const char *service;
    const char *boot_id;
    pid_t pid;
    uint64_t start_ticks;
    const char *cgroup; /* "" without one */
    int64_t started_at_ms;
    unsigned runs, restarts;
    bool exited; /* last_exit holds the previous run's status */
    int last_exit;
    const char *reason;
    bool ready;        /* it had become ready; adopted not ready, it resumes its check */
    const char *state; /* where it was: see sup_recall() */
    int64_t due_at_ms;
    unsigned attempt;
    const char *restarts_at;
    bool gave_up;
    bool stop_then_start; /* a restart was under way */
    const char *settings; /* digest of its settings then */
    bool unclean;         /* the previous corral did not end cleanly */
};

/* Before sup_start(): open a pidfd on the process a record names, and only
 * then check that it is the same process (boot id, PID, start time). If it
 * is, keep it (on_recover: adopt), or stop its tree so that the service
 * starts afresh (restart, and any service the operator stopped). Returns 1
 * when taken over, 0 when the record is stale (nothing is signalled; why says
 * so), -ENOENT when no such service is configured. */
int sup_recover(struct sup *s, const struct sup_lead *lead, char *why, size_t size);
/* After sup_recover() and sup_recover_leftovers(), before sup_start(): a
 * record of a service without a process, left by a corral that did not end
 * cleanly on this boot, puts the service back where it was — backoff (its
 * restart due when it was due), failed (its retry too), completed or exited —
 * rather than starting it afresh; a start-up's sup_start() without names
 * leaves it there. Not when its settings changed since (-ESTALE): it starts
 * afresh, as after a reload. 1 when recalled, else 0 or -ESTALE. */
int sup_recall(struct sup *s, const struct sup_lead *lead);
/* The reading ends of the service's output pipes (-1 where none), for the
 * output holder. */
void sup_output_fds(const struct sup *s, size_t i, int fds[LOGS__COUNT]);
/* Give an adopted service the reading end of its old output pipe, taken back
 * from the output holder: its output reaches its log again. Takes fd on 0;
 * -EBUSY when it is not adopted or has that pipe already. */
int sup_adopt_output(struct sup *s, const char *service, enum logs_stream st, int fd);

/* After the records: stop what a previous corral left of services that have
 * no main process now (their cgroup, or processes carrying their tag).
 * Returns the number of trees being stopped; *ghosts counts what is left of
 * services that are no longer configured (tagged processes, populated
 * cgroups), which the supervisor has no settings to stop by. tags: look
 * for tagged processes even with cgroup containment (the previous corral
 * may have run without it). */
int sup_recover_leftovers(struct sup *s, bool tags, size_t *ghosts);

/* "cgroup" or "pgroup", and why it was chosen. */
const char *sup_containment(const struct sup *s, const char **why);
/* How log files are written: "io_uring" (the loop never waits for the disk),
 * "direct" (the kernel refused io_uring; why says so) or "none yet" (no
 * service has written output: the ring is made with the first log file). */
const char *sup_log_writes(const struct sup *s, const char **why);
const char *sup_instance(const struct sup *s);
const char *sup_boot_id(const struct sup *s);

/* --- resources: stats and limits (stats.c, limits.c) ------------------------------ */

/* A service's tree, sampled when asked: nothing is read between two asks. */
struct sup_stats {
    bool live;           /* it has processes */
    double cpu_seconds;  /* CPU time: its cgroup's (every run since the cgroup was made), else
                          * that of the processes alive now */
    bool cpu_percent_ok; /* false on the first sample of a run */
    double cpu_percent;  /* of one core, since the previous sample (at least 200 ms before) */
    uint64_t rss_bytes;  /* summed over the tree's processes */
    bool memory_ok;      /* memory_bytes holds the cgroup's memory.current */
    uint64_t memory_bytes;
    unsigned procs;
    unsigned threads;
    bool fds_ok; /* every process's fds could be counted */
    unsigned fds;
    const char *source; /* "cgroup" or "proc": where the tree was found */
};

/* Sample service i now; fds: count open fds too (a directory read per process). */
void sup_stats(struct sup *s, size_t i, bool fds, struct sup_stats *out);
/* Every service (out has sup_count() entries), with one walk for orphans. */
void sup_stats_all(struct sup *s, bool fds, struct sup_stats *out);

/* The cgroup controllers service cgroups get (enum health_ctrl bits; 0 without
 * cgroup containment). */
int sup_controllers(const struct sup *s);

#endif
