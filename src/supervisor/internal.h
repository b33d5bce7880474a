/* supervisor/internal.h — the supervisor's private structs, shared by its .c
 * files only. */
#ifndef CORRAL_SUPERVISOR_INTERNAL_H
#define CORRAL_SUPERVISOR_INTERNAL_H

#include "health/stats.h"
#include "proc/ident.h"
#include "proc/spawn.h"
#include "proc/tree.h"
#include "supervisor/policy.h"
#include "supervisor/sup.h"
#include "util/pidmap.h"

#include <limits.h>
#include <signal.h>
#include <sys/resource.h>

#define SUP_INSTANCE_LEN PROC_INSTANCE_LEN
#define SUP_REASON_MAX   256
#define SUP_STATUS_MAX   256 /* sd_notify STATUS= */
#define SUP_NOTIFY_PATH  108 /* sun_path */
#define SUP_IDENT_VARS   4   /* HOME, USER, LOGNAME, SHELL */
#define SUP_HOOK_LEADERS 64
#define SUP_HELPERS      4
#define SUP_PID_RING     256

struct health_probe;

/* The last SUP_PID_RING PIDs noted: members of a tree that corral killed by
 * their tag, so that their ends, reaped later, are known as no orphans'. */
struct pid_ring {
    pid_t pid[SUP_PID_RING];
    size_t next;
};

static inline void pid_ring_note(struct pid_ring *r, pid_t pid)
{
    r->pid[r->next++ % SUP_PID_RING] = pid;
}

static inline bool pid_ring_has(const struct pid_ring *r, pid_t pid)
{
    for (size_t i = 0; i < SUP_PID_RING && i < r->next; i++)
        if (r->pid[i] == pid)
            return true;
    return false;
}

/* What a stop in progress leads to once the tree is empty. */
enum after_stop {
    AFTER_STOPPED,
    AFTER_RESTART,
    AFTER_COMPLETED,
    AFTER_EXITED,
    AFTER_FAILED,
    AFTER_START, /* an operator's restart: start again at once */
    AFTER__COUNT
};

/* The environment of one spawn, kept until the spawn is finished. */
struct spawn_env {
    char **envp;
    char *own;      /* one block for the service's own entries and the tag */
    char *pid_text; /* WATCHDOG_PID's value, filled by the child */
};

#define SPAWN_AHEAD 4

struct service {
    struct sup *sup;
    const struct cfg_service *cfg;
    size_t idx; /* in sup.svcs, which is config order */
    enum svc_state state;
    enum after_stop after;
    bool want_stop; /* stop once no dependant is alive */
    /* A restart asked for: stopped once no dependant that restarts too is
     * alive (as want_stop), then started again, and what depends on it waits
     * for that start. */
    bool restart_pending;
    bool stop_unsaid;  /* signalled by advance()'s pass, its stopping event to come */
    bool start_unsaid; /* spawned by advance()'s pass, its started event to come */
    bool term_swept;   /* stop signal sent to the tagged members found by a scan */
    bool kill_sent;
    bool exec_failed; /* reason holds why exec failed; the exit adds nothing */
    bool spawning;    /* in sup.spawning: its exec is not known yet */
    struct proc_child spawn;
    struct spawn_env spawn_env;
    bool events_watched; /* its cgroup.events is on the inotify watch list */
    pid_t pid;           /* main process while unreaped, else 0 */
    int pidfd;
    uint64_t start_ticks;           /* of pid; 0 until read */
    bool adopted;                   /* pid is a previous corral's: not our child */
    bool inherited;                 /* the tree is a previous corral's, adopted or left over */
    struct loop_watch *pidfd_watch; /* its exit, when adopted */
    char *cg_path;                  /* an adopted cgroup outside cg_base, else NULL */
    pid_t signalled_pgid;           /* group signalled with kill(-pgid) during this stop */
    int exit_code;
    int pipe[LOGS__COUNT];
    bool pipe_grown[LOGS__COUNT]; /* resized for a flood (see run.c) */
    struct loop_watch *watch[LOGS__COUNT];
    struct logs_linebuf echo[LOGS__COUNT];
    struct timespec echo_ts[LOGS__COUNT]; /* when each held partial line began */
    struct logs_sink *sink;
    struct ports_block *ports; /* ports.c: why it is blocked; orphans being stopped */
    int cg_fd;
    int events_fd;           /* its cgroup.events, opened at the first check */
    struct loop_timer timer; /* backoff delay or stop deadline */
    uint64_t started_ms;
    uint64_t state_ms;
    uint64_t lost_reported; /* log bytes lost, as last reported */
    uint64_t lost_earlier;  /* ... by log sinks made afresh since (a file removed) */
    uint64_t lost_report_ms;
    uint64_t rot_reported; /* refused log rotations, as last reported */
    uint64_t rot_report_ms;
    struct loop_timer lost_timer; /* a loss to say once LOST_REPORT_MS has passed (run.c) */
    uint64_t stop_ms;             /* when the current stop began */
    uint64_t stop_ticks;          /* the same, in the clock of start_ticks */
    uint64_t kill_ms;
    unsigned attempt;
    unsigned restarts;
    unsigned runs;
    bool exited; /* exit_code is that of a finished run */
    bool operator_stopped;
    bool reload_stop;    /* removed or changed by a pending reload */
    bool reload_restart; /* changed, and was running: start it again after */
    struct sup_window window;
    gid_t *groups; /* supplementary groups of cfg->user (or cfg->group), at the first spawn */
    size_t n_groups;
    /* A switched user's HOME=, USER=, LOGNAME=, SHELL= (NULL: none; without a
     * passwd entry corral's own are dropped and none given). */
    bool ident_switched;
    char *ident[SUP_IDENT_VARS];
    unsigned members;   /* scratch: tree members seen by the current scan */
    bool giving_up;     /* the stop in progress ends in a give-up */
    bool fault_stop;    /* the stop in progress is a fault's (ready.c): its end is said */
    bool retry_pending; /* FAILED after giving up: timer starts it again */
    uint64_t retry_due_ms;
    /* Restarted or gave up since its last stable run: the next run that lasts
     * reset_after is `recovered` (timer, while RUNNING). */
    bool unstable;
    bool gave_up;
    unsigned unstable_restarts;
    bool recalled;   /* put back where it was before a crash: sup_start() leaves it */
    char digest[17]; /* of its settings (recover.c), "" until asked for */
    /* stats.c: files kept open between samples; the previous sample of this
     * run, for a CPU rate */
    struct health_files files;
    unsigned stat_run;
    uint64_t stat_cpu_ns, stat_wall_ns;
    double stat_percent;
    bool stat_rate; /* stat_percent holds a rate */
    /* limits.c */
    struct loop_timer limit_timer; /* RSS sampling, or the deadline of a limit's stop */
    int mem_wd;                    /* inotify watch of memory.events, or -1 */
    uint64_t oom_kills;            /* memory.events oom_kill, as last seen */
    bool limit_stopping;           /* a limit's stop signal went out this run */
    bool cg_limited;               /* its cgroup has limit files written */
    char *limit_reason;            /* why a limit stopped this run; NULL when none */
    /* hung.c */
    uint64_t hung_since_ms; /* above cpu_above since then; 0 when not */
    uint64_t exit_cpu_ms;   /* the main process's CPU time at its exit (sup.want_cpu) */
    bool hung_told;         /* this stretch was reported */
    char *reason;           /* why it is where it is; NULL for none (svc_reason() reads "") */
    /* readiness and liveness (ready.c) */
    struct health_probe *ready_probe; /* ready: a probe */
    struct health_probe *live_probe;  /* liveness: */
    struct loop_timer ready_timer;    /* ready_timeout */
    struct loop_timer watchdog;       /* WATCHDOG=1 due */
    int notify_fd;                    /* the NOTIFY_SOCKET, from the first spawn on */
    struct loop_watch *notify_watch;
    char *notify_path;    /* as in NOTIFY_SOCKET: a path, or "@..." abstract; NULL without */
    int ready_pipe;       /* ready: {fd: N}: our end, during a run */
    int ready_child_end;  /* its other end, until the spawn */
    bool ready_fd_closed; /* every write end closed, no newline: it cannot become ready */
    struct loop_watch *ready_watch;
    struct logs_linebuf probe_lines[LOGS__COUNT]; /* for a log probe */
    char *status;                                 /* the last STATUS= of this run, or NULL */
    unsigned notify_denied;                       /* messages from outside the tree */
    bool notify_stopping;                         /* STOPPING=1 this run */
    bool main_not_leader;                         /* MAINPID= moved pid off the spawned leader */
    bool notify_told;                             /* an ignored message was reported this run */
    pid_t run_pgid;                               /* the process group of this run's spawn */
};

/* An exit taken from the kernel, and the CPU time the process used (its own
 * and its reaped children's, as wait4() says it) when sup.want_cpu. */
struct sup_exit {
    siginfo_t si;
    uint64_t cpu_ms;
    /* Of a process that was no child corral knows (an orphan), looked at
     * before it was reaped: the service whose tree it was in, or "", and
     * whether that tree was being stopped (its end is the stop's). */
    char owner[CFG_MAX_NAME + 1];
    bool owner_stopping;
};

/* A child claimed by another part of corral: see sup_child_claim(). */
struct sup_claim {
    pid_t pid;
    sup_child_fn fn;
    void *ctx;
};

struct sup {
    struct http_client *http;     /* http probes' client, made at the first (ready.c) */
    bool http_failed;             /* libcurl could not be loaded */
    struct loop_timer hung_timer; /* samples the trees with a hung: rule (hung.c) */
    struct loop *lp;
    const struct cfg_model *m;
    const struct cfg_model *next_m; /* a reload waiting for its stops */
    struct sup_hooks h;
    bool echo;             /* output lines go to h.on_output */
    struct service **svcs; /* one allocation each: timers and watches point at them */
    size_t n;
    size_t *by_name;           /* indices sorted by name, for scan callbacks */
    unsigned *live_dependants; /* scratch of advance(): per service */
    char instance[SUP_INSTANCE_LEN + 1];
    char boot_id[PROC_BOOT_ID_LEN + 1];
    bool use_cgroup;
    int cg_base_fd;
    bool cg_base_made; /* by this corral: nothing of a previous one is in it */
    int inotify_fd;    /* cgroup.events changes: a tree emptied */
    struct loop_watch *inotify_watch;
    char cg_base[PATH_MAX]; /* absolute directory of corral's subtree */
    size_t cg_mount_len;    /* cg_base + this = the path /proc/PID/cgroup shows */
    char contain_why[512];
    int logs_fd;                 /* <state_dir>/logs, -1 until sup_logs_dir() first needs it */
    struct logs_relay *relay;    /* made at the first splice */
    struct logs_ring *logs_ring; /* made with the first sink; NULL: writes are made at once */
    struct loop_watch *logs_ring_watch;
    int logs_ring_errno;     /* why there is none, once refused */
    char logs_ring_why[128]; /* and in words */
    bool logs_unsettled;     /* a pass was not settled while log writes were in flight */
    /* At shutdown, with every service down: armed while log writes wait,
     * re-armed at each that ends, disarmed when none is left; when it fires
     * they are given up on. */
    struct loop_timer logs_grace;
    bool logs_abandoned;
    struct loop_timer kick;  /* runs advance() after state changes */
    struct loop_timer check; /* re-checks stopping trees */
    bool shutting_down;
    size_t n_unsaid;  /* events held: start_unsaid and stop_unsaid */
    bool starting;    /* in advance()'s start pass: started events are held */
    bool hold_events; /* sup_kick_now(): a pass that leaves them held */
    bool any_survivor;
    struct rlimit nofile; /* corral's original limit, restored in children */
    int cg_ctrl;          /* health_ctrl bits enabled for service cgroups */
    bool cg_ctrl_tried;   /* limits_need() enabled them, or found them missing */
    /* limits.c: one timer samples the RSS of every tree whose memory limit has
     * no controller; armed only while such a service runs */
    struct loop_timer rss_timer;
    struct proc_spawner spawner;
    /* Spawns begun and not yet finished, oldest first: finished in order
     * (sup_spawn_settle) when SPAWN_AHEAD are under way, when a dependant
     * asks, and before control returns to the loop. Meanwhile corral makes
     * the next services' cgroups, pipes and environments beside the children. */
    struct service *spawning[SPAWN_AHEAD];
    size_t n_spawning;
    uint32_t rng;
    struct sup_claim *claims; /* few: one per hook running */
    struct sup_exit *reaped;  /* exits taken from the kernel, to be handled */
    bool want_cpu;            /* a service has limits.cpu_time: exits carry their CPU time */
    /* See sup_own_helper(); 0: a free slot. Several: a holder that died is
     * reaped after its replacement is owned. */
    pid_t helpers[SUP_HELPERS];
    struct pidmap mains; /* service->pid → service, for every pid not 0 */
    bool mains_partial;  /* ... but one, without memory: searched too */
    size_t n_reaped, cap_reaped;
    bool reaping; /* sup_reap() is handling the queue */
    size_t n_claims, cap_claims;
    /* The last hook runs' main processes, which lead their sessions: while
     * there are any, an exit is looked at before it is taken, and a hook's
     * leftover is reaped without being reported as an orphan. */
    pid_t hook_leaders[SUP_HOOK_LEADERS];
    size_t n_hook_leaders;
    /* Members of hook runs' trees found by their tag outside the session and
     * killed: without a cgroup, their ends are known this way. */
    struct pid_ring hook_left;
    /* Members of stopping trees found by their tag and signalled: one that
     * left its group and session (setsid) is known by its PID when its end
     * is reaped, as the stop's and no orphan's. */
    struct pid_ring stop_hit;
};

/* sup.c */
/* An event about svc (NULL: corral-wide) with the details every one
 * carries, and its delivery. */
struct sup_event svc_event(enum sup_event_kind kind, const struct service *svc, pid_t pid,
                           const char *text);
void sup_emit_event(struct sup *s, const struct sup_event *ev);

/* <state_dir>/logs, made and opened at the first log file: the fd, or -errno. */
int sup_logs_dir(struct sup *s);
/* FAILED with the reason, and the failed event. */
void svc_fail(struct service *svc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The reason, formatted (an empty one clears it); fmt's arguments may be the
 * reason itself. svc_reason() is never NULL. */
void svc_set_reason(struct service *svc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *svc_reason(const struct service *svc);
void svc_tree_empty(struct service *svc);
void sup_want_check(struct sup *s, uint64_t delay_ms);
/* What follows a spawn, once its exec is known: for the oldest spawn under
 * way (sup_spawn_settle_one), for those up to svc, or for all. */
void sup_spawn_settle_one(struct sup *s);
void sup_spawn_settle_until(struct sup *s, const struct service *svc);
void sup_spawn_settle(struct sup *s);
/* Reap every exited child into the queue sup_reap() handles, handling none. */
void sup_reap_only(struct sup *s);
/* Reaped, its exit queued but not yet handled: its PID may be reused. */
bool sup_reap_queued(const struct sup *s, pid_t pid);
/* A hook run began: its leader's session is the hook's. */
void sup_note_hook_leader(struct sup *s, pid_t leader);
/* A hook run's leftover is being killed: its end is no orphan's. */
/* A member of a stopping tree found by its tag was signalled: likewise. */
/* An entry of corral's environment that no child gets: a parent corral's
 * CORRAL_* tag, corral's own NOTIFY_SOCKET and WATCHDOG_*. */
bool sup_env_private(const char *entry);
/* Is dependency dep's condition met for its dependant? */
bool sup_dep_met(const struct service *dep, enum cfg_dep_cond cond);
/* A started event, held to the end of the pass when a pass spawned it. */
void sup_emit_started(struct service *svc);
/* The started and stopping events held so far, now. */
void sup_say_unsaid(struct sup *s);
void sup_emit(struct sup *s, enum sup_event_kind kind, const struct service *svc, pid_t pid,
              const char *text);
struct service *sup_by_name(struct sup *s, const char *name);
/* The service whose main process pid is, or NULL. */
struct service *sup_by_main(const struct sup *s, pid_t pid);
/* svc->pid, kept in the map sup_by_main() reads. */
void svc_set_pid(struct service *svc, pid_t pid);
/* A stop begun by a previous corral, taken up: no stop signal to the main
 * process (it had it), SIGKILL in left_ms, the sweep sparing what started
 * after began_ticks. */
void svc_resume_stop(struct service *svc, enum after_stop after, uint64_t left_ms,
                     uint64_t began_ticks);
void svc_begin_stop(struct service *svc, enum after_stop after);
void sup_kick(struct sup *s);
/* -ESHUTDOWN or -EBUSY (a reload in progress) with dg filled, else 0: when
 * no start, stop, restart or reload may begin. */
int sup_refuse_busy(const struct sup *s, struct diag *dg);
struct service *service_new(struct sup *s, const struct cfg_service *cfg, size_t idx);
void service_free(struct service *svc);
void index_by_name(struct sup *s);
/* From an idle state (or backoff) to WAITING; clears stop wishes. */
void make_waiting(struct service *svc);
/* Mark idx as named (WANT_NAMED) and what it depends on, transitively, as
 * WANT_DEPENDENCY unless named too. */
enum { WANT_NAMED = 1, WANT_DEPENDENCY = 2 };
void mark_wanted(struct sup *s, size_t idx, unsigned char *wanted);
/* Whether a service so marked is to be made waiting (see make_waiting). */
bool wanted_to_wait(const struct service *svc, unsigned char want);

/* sup.c: the main process is gone; code is -1 when its status is unknown. */
void svc_main_exit(struct service *svc, int code);
void svc_set_state(struct service *svc, enum svc_state st);

/* sup.c: what a fault of a running service (not ready in time, a failing
 * liveness probe, a silent watchdog) leads to, per restart policy, as if it
 * had exited 1. */
enum after_stop svc_after_fault(struct service *svc);
/* True while the main process runs (starting, running, ready, unhealthy). */
bool svc_up(const struct service *svc);

/* ready.c: readiness (notify, fd, probe), liveness and the watchdog. */
void ready_init(struct service *svc);
void ready_free(struct service *svc);
/* Before a spawn: the notify socket (made once), the {fd: N} pipe. 0 or
 * -errno with dg filled. */
int ready_prepare(struct service *svc, struct diag *dg);
/* Entries for the spawn's environment: NOTIFY_SOCKET, WATCHDOG_USEC and
 * WATCHDOG_PID (its value is filled by the child). Returns how many were
 * written to envp (at most 3); pid_text points into buf for the spawn. */
size_t ready_env(const struct service *svc, char *buf, size_t size, char **envp, char **pid_text);
/* After a spawn that exec'd: RUNNING, or STARTING until ready. */
void ready_spawned(struct service *svc);
/* A previous corral's process was adopted (RUNNING): its notify socket is
 * bound again at the address its NOTIFY_SOCKET names, it is taken as ready
 * (that was not recorded), and its liveness probe and watchdog run. */
void ready_adopted(struct service *svc, bool was_ready);
/* The run is over or being stopped: probes, timers and the pipe stop. */
void ready_run_over(struct service *svc);
/* Room ready_env() needs. */
size_t ready_env_size(void);
/* A reload kept the service as it is, with its settings in the new model. */
void ready_rebind(struct service *svc);
/* A PID the reaper does not know: an exec probe's? */
bool ready_reaped(struct sup *s, pid_t pid, int code);
/* One output line, for a log probe. */
/* A log probe reads the service's output line by line: it is never spliced
 * past it into the file. */
bool ready_reads_output(const struct service *svc);
void ready_output(struct service *svc, enum logs_stream st, const char *buf, size_t n);
/* giveup.c */
/* Until the retry after a give-up, in ms; -1 when none is due. */
int64_t svc_retry_in_ms(const struct service *svc);
/* After a give-up (or a retry that found a dependency dead): one more start
 * after retry_after, unless it is never or a stop is under way. */
void retry_arm(struct service *svc);
/* An operator's stop, start or restart, a reload or the shutdown: the
 * pending retry is no longer wanted. True when there was one. */
bool retry_cancel(struct service *svc);
/* max_restarts within window: FAILED, gave_up, and the retry armed. */
void svc_give_up(struct service *svc);
/* The retry is due: WAITING for one start. */
void svc_retry_now(struct service *svc);
/* A run lasted reset_after: backoff and window start over; recovered. */
void svc_run_stable(struct service *svc);

/* hung.c */
void hung_sup_init(struct sup *s);
void hung_sup_free(struct sup *s);
/* A run began: watched from now when it has a hung: rule. */
void hung_started(struct service *svc);
/* ready.c: a fault found elsewhere (hung): unhealthy, and stopped to be
 * handled by its restart policy as a failing liveness probe would be. */
void ready_fault(struct service *svc, const char *reason);

/* claim.c: true when another part of corral claimed the child (it is told). */
bool sup_deliver_claimed(struct sup *s, const siginfo_t *si);

/* sup.c: whether a service of m has limits.cpu_time (exits then carry
 * their CPU time, to tell its hard limit's SIGKILL). */
bool sup_model_limits_cpu(const struct cfg_model *m);

/* sup.c: the logs directory made again if it was removed while corral runs. */
void sup_logs_dir_renew(struct sup *s);

/* reload.c */
bool reload_stopped(const struct sup *s);
/* The service's settings as a reload compares them. */
struct json_t *svc_settings_json(const struct cfg_service *c);
/* recover.c: a digest of those settings, made once per config. */
const char *svc_settings_digest(struct service *svc);
void reload_swap(struct sup *s);

/* run.c: environment, output pipes and the spawn of one run, begun: once
 * prepared, and the oldest spawn under way finished if SPAWN_AHEAD are.
 * Returns 0 when a child was created: the service is in s->spawning. Else
 * -errno with dg filled. */
int run_spawn(struct service *svc, struct diag *dg);
/* Waits for the exec of the oldest of s->spawning: it runs the command, or
 * exec_failed is set with the reason and it exits 127 next. Returns that
 * service, or NULL if none is under way. */
struct service *run_spawn_finish(struct sup *s);
/* With output shown (corral up in the foreground): what the service wrote
 * before its main process exited, read now, so that its lines come before
 * the exit's. */
void run_take_output(struct service *svc);
void run_close_pipes(struct service *svc);
/* lost_timer's callback. */
void run_lost_timer(struct loop *lp, void *data);
/* A run's end: the log bytes it lost and that were not said yet, now. */
void run_say_lost(struct service *svc);
/* An exec probe of the service: its environment, cwd, user and cgroup (or
 * tag), output to /dev/null. 0 with child filled, or -errno. */
int run_spawn_probe(struct service *svc, char *const *argv, struct proc_child *child);
/* Watch fd as the service's st pipe, opening its log if needed. 0 or -errno. */
int run_attach_pipe(struct service *svc, enum logs_stream st, int fd);
void run_free(struct service *svc);
/* Shutting down, every service down, log writes in flight: wait for them as
 * long as the disk completes one within the longest stop.timeout (1 s at
 * least); past that, count what waits as lost and let corral go. */
void run_logs_wait(struct sup *s);
void run_logs_init(struct sup *s);

/* contain.c: the tree of one service, by cgroup or by tag. */
int contain_init(struct sup *s, struct diag *dg);
/* After every service is released: the subtree and the inotify watch. */
void contain_cleanup(struct sup *s);
/* Close the service's cgroup and remove it (it is empty by then). */
void contain_release(struct service *svc);
int contain_prepare(struct service *svc);
/* The service's cgroup directory, absolute. */
void contain_cg_path(const struct service *svc, char *buf, size_t size);
/* The name of the service whose cgroup holds pid (a zombie too), or "" when
 * none does or cgroups are not in use. */
void contain_cgroup_owner(const struct sup *s, pid_t pid, char *out, size_t size);
void contain_signal(struct service *svc, int sig);
/* 1 when something of the tree is left besides the main process, 0 if not.
 * Cheap: used right after the main process exits. */
int contain_leftover(struct service *svc);
/* Check every STOPPING service; calls svc_tree_empty() for emptied ones. */
void contain_check(struct sup *s);

/* stats.c: at service_new(), and at service_free() */
void stats_svc_init(struct service *svc);
void stats_svc_free(struct service *svc);
/* Sample every service want() picks, with one walk for orphans, and hand
 * each sample to fn. */
void stats_sample_each(struct sup *s, bool (*want)(const struct service *svc),
                       void (*fn)(struct service *svc, const struct sup_stats *st));

/* limits.c */
/* At service_new(): the timer and the watch start unset. */
void limits_svc_init(struct service *svc);
/* At sup_new() and sup_free(). */
void limits_sup_init(struct sup *s);
void limits_sup_free(struct sup *s);
/* Enable the cpu, memory and pids controllers for the corral subtree, once,
 * when the model has a limit they enforce (at start-up and at a reload). */
void limits_need(struct sup *s);
/* Write the service's cgroup limits (memory.max, cpu.max, pids.max) into its
 * cgroup before a process enters it. */
void limits_cgroup_write(struct service *svc);
/* The rlimits a child sets before exec; returns how many (at most max). */
size_t limits_rlimits(const struct service *svc, struct proc_rlimit *out, size_t max);
/* A run began (spawned or adopted): watch memory.events, or sample RSS. */
void limits_started(struct service *svc);
/* The main process exited: stop sampling, and put the limit that ended the
 * run (an OOM kill included) into svc->reason. */
void limits_exited(struct service *svc, int code);
/* An inotify event for wd: true when it was a memory.events watch. */
bool limits_on_inotify(struct sup *s, int wd);
void limits_free(struct service *svc);

#endif
