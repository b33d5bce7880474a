/* cli/up.c — `corral up`: start the stack and serve the API, in the
 * foreground (every service's output merged with a name prefix, Ctrl-C stops
 * everything, a second Ctrl-C kills, a third gives up waiting) or, with -d,
 * as a daemon that the command returns from once the stack has started. */
#include "api/api.h"
#include "cli/cli.h"
#include "cli/hold.h"
#include "cli/lock.h"
#include "cli/out.h"
#include "cli/runs.h"
#include "config/config.h"
#include "logs/file.h"
#include "loop/loop.h"
#include "store/store.h"
#include "supervisor/hooks.h"
#include "supervisor/sup.h"
#include "supervisor/webhooks.h"
#include "util/utc.h"
#include "util/utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *const colours[] = {"\033[36m", "\033[33m", "\033[32m", "\033[35m",
                                      "\033[34m", "\033[96m", "\033[93m", "\033[92m"};
#define N_COLOURS (sizeof(colours) / sizeof(colours[0]))

#define START_WAIT_MS     60000 /* up -d: how long to wait for the stack to come up */
#define START_STABLE_MS   1000  /* up -d: a run this long counts as started */
#define UP_MMAP_THRESHOLD (64 * 1024)
#define LOG_BUF_BYTES     8192
#define STORE_RETRY_MS    5000 /* state.db that did not open (a full disk): tried again */
#define STORE_REST_MS     100  /* after the last use of state.db: a burst shares one open */
#define USAGE             "usage: corral up [-f FILE] [-d] [-q] [-t] [--no-color] [SERVICE...]\n"

struct up {
    struct loop *lp;
    struct sup *sup;
    struct sup_hookrun *hooks;     /* the config's hooks: run on events */
    struct sup_webhooks *webhooks; /* the config's webhooks: events POSTed */
    struct api *api;
    struct store *store; /* state.db: what the operator stopped, services' runs */
    struct runs *runs;
    struct cfg_model *m;
    struct cfg_model *next_m; /* loaded by a reload, until the supervisor swaps it in */
    const char *file;
    char **names;
    size_t n_names;
    bool daemon;
    bool colour;
    bool quiet;
    bool timestamps;
    bool controlled;  /* the API started or stopped something: stay up */
    bool api_broken;  /* the HTTP server could not start: everything stops */
    bool api_unbound; /* the first spawns are under way: the API's socket comes next */
    int width;
    int interrupts;
    struct logs_file log; /* <state_dir>/corral.log */
    int state_fd;         /* <state_dir>, which holds it; -1 until it is opened */
    /* corral.log's lines of one turn of the loop, written in one go after it:
     * a start of a thousand services is a thousand lines. */
    char log_buf[LOG_BUF_BYTES];
    size_t log_len;
    struct loop_timer log_flush;
    int status_fd; /* up -d: the waiting parent, until the stack is up */
    struct loop_timer start_wait;
    struct loop_timer start_recheck;
    struct loop_timer store_later;  /* a new state.db is made after the first spawns */
    bool store_retrying;            /* state.db did not open (a full disk): tried again */
    struct loop_timer store_rest;   /* state.db closed and SQLite unloaded after a burst */
    struct loop_timer store_remade; /* a state.db made afresh while running: rewrite it */
    struct out *out;                /* foreground only */
    struct cli_lock *lock;          /* the state directory's, held by run() */
};

/* --- messages ------------------------------------------------------------------------ */

static const char *colour_of(const struct up *u, const char *service)
{
    long idx;
    if (!u->colour)
        return "";
    idx = service ? cfg_find(u->m, service) : -1;
    if (idx < 0)
        return "\033[1m";
    return colours[(size_t)idx % N_COLOURS];
}

static void prefix(struct up *u, const char *name)
{
    if (u->timestamps) {
        struct timeval tv;
        struct tm tm;
        gettimeofday(&tv, NULL);
        localtime_r(&tv.tv_sec, &tm);
        out_printf(u->out, "%02d:%02d:%02d.%03ld ", tm.tm_hour, tm.tm_min, tm.tm_sec,
                   (long)(tv.tv_usec / 1000));
    }
    out_printf(u->out, "%s%-*s |%s ", colour_of(u, name), u->width, name ? name : "corral",
               u->colour ? "\033[0m" : "");
}

static void on_output(void *ctx, const char *service, enum logs_stream st, const char *line,
                      size_t len, bool complete, const struct timespec *when)
{
    struct up *u = ctx;
    api_output(u->api, service, st, line, len, complete, when);
    if (!u->out || u->quiet)
        return;
    prefix(u, service);
    out_write(u->out, line, len);
    out_write(u->out, "\n", 1);
}

/* corral.log, rotated once past its size. The daemon's stderr goes there
 * too (what libraries print), and follows it into the fresh file. -1 before
 * the state directory is open. */
static int log_fd(struct up *u)
{
    unsigned rotations = u->log.rotations;
    int fd;
    if (u->state_fd < 0)
        return -1;
    fd = logs_file_fd(&u->log);
    if (fd >= 0 && u->log.rotations != rotations && u->daemon)
        (void)dup2(fd, STDERR_FILENO);
    return fd;
}

/* A full disk must not stop supervision: lost lines are let go. */
static void log_flush(struct up *u)
{
    int fd;
    if (u->log_len && (fd = log_fd(u)) >= 0)
        (void)!write(fd, u->log_buf, u->log_len);
    u->log_len = 0;
}

static void on_log_flush(struct loop *lp, void *data)
{
    (void)lp;
    log_flush(data);
}

static void log_add(struct up *u, const char *line, size_t len)
{
    if (u->log_len + len > sizeof(u->log_buf))
        log_flush(u);
    if (len > sizeof(u->log_buf) || !u->lp) {
        int fd = log_fd(u);
        if (fd >= 0)
            (void)!write(fd, line, len);
        return;
    }
    memcpy(u->log_buf + u->log_len, line, len);
    u->log_len += len;
    if (!loop_timer_armed(&u->log_flush))
        loop_timer_arm(u->lp, &u->log_flush, 0);
}

/* corral's own messages: to corral.log always, and to the terminal. */
static void say(struct up *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct up *u, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    utf8_printable(msg); /* event texts carry what services (and strangers) sent */
    if (u->out) {
        prefix(u, NULL);
        out_printf(u->out, "%s\n", msg);
    }
    if (u->state_fd >= 0) {
        char line[1200];
        struct timespec ts;
        struct tm tm;
        int n;
        clock_gettime(CLOCK_REALTIME, &ts);
        if (!utc_tm(ts.tv_sec, &tm))
            memset(&tm, 0, sizeof(tm));
        n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, msg);
        if (n > 0)
            log_add(u, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    }
}

static void say_line(void *ctx, const char *msg)
{
    say(ctx, "%s", msg);
}

static void say_event(struct up *u, const struct sup_event *ev)
{
    const char *n = ev->service;
    switch (ev->kind) {
    case SUP_EV_STARTED:
        say(u, "%s started (pid %d)", n, (int)ev->pid);
        break;
    case SUP_EV_EXITED:
        say(u, "%s %s", n, ev->text);
        break;
    case SUP_EV_LEFTOVER:
        say(u, "%s: main process gone, stopping what it left running", n);
        break;
    case SUP_EV_RESTARTING: {
        char in[32];
        /* As the event says it: 20ms, 1.5s, 2m; not "0.0s" for a short delay. */
        cfg_format_duration(ev->delay_ms, in, sizeof(in));
        say(u, "%s restarting in %s (%s)", n, in, ev->text ? ev->text : "asked for");
        break;
    }
    case SUP_EV_COMPLETED:
        say(u, "%s completed", n);
        break;
    case SUP_EV_FAILED:
        say(u, "%s failed: %s", n, ev->text);
        break;
    case SUP_EV_STOPPING:
        say(u, "%s stopping", n);
        break;
    case SUP_EV_KILLING:
        if (ev->text)
            say(u, "%s: SIGKILL to its whole tree (%s)", n, ev->text);
        else
            say(u, "%s did not stop in time: SIGKILL to its whole tree", n);
        break;
    case SUP_EV_SURVIVOR:
        say(u, "%s: pid %d is still alive after SIGKILL: %s", n, (int)ev->pid, ev->text);
        break;
    case SUP_EV_STOPPED:
        say(u, "%s stopped%s%s%s", n, ev->text ? " (" : "", ev->text ? ev->text : "",
            ev->text ? ")" : "");
        break;
    case SUP_EV_LOGS_LOST:
    case SUP_EV_NOT_ROTATED:
        say(u, "%s: %s", n, ev->text);
        break;
    case SUP_EV_REAPED:
        if (ev->text)
            say(u, "reaped orphaned descendant pid %d of %s (status %d)", (int)ev->pid, ev->text,
                ev->exit_code);
        else
            say(u, "reaped orphaned descendant pid %d (status %d)", (int)ev->pid, ev->exit_code);
        break;
    case SUP_EV_ADOPTED:
        say(u, "%s: adopted pid %d, left running by the previous corral", n, (int)ev->pid);
        break;
    case SUP_EV_RECOVERING:
        if (ev->pid && ev->text && !strncmp(ev->text, "to ", 3))
            say(u, "%s: stopping pid %d and its tree, left by the previous corral, %s", n,
                (int)ev->pid, ev->text);
        else if (ev->pid)
            say(u, "%s: stopping pid %d and its tree, left by the previous corral: %s", n,
                (int)ev->pid, ev->text ? ev->text : "");
        else
            say(u, "%s: stopping what the previous corral left of it", n);
        break;
    case SUP_EV_STALE:
        say(u, "%s: stale record ignored (%s); nothing was signalled", n, ev->text);
        break;
    case SUP_EV_BLOCKED:
        say(u, "%s blocked: %s", n, ev->text);
        break;
    case SUP_EV_ORPHAN:
        say(u, "%s: stopping pid %d, an orphan of corral's holding its port: %s", n, (int)ev->pid,
            ev->text);
        break;
    case SUP_EV_LIMIT_EXCEEDED:
        say(u, "%s exceeded a limit: %s", n, ev->text);
        break;
    case SUP_EV_STARTING:
        say(u, "%s starting: waiting for %s", n, ev->text);
        break;
    case SUP_EV_READY:
        say(u, "%s ready (%s)", n, ev->text);
        break;
    case SUP_EV_UNHEALTHY:
        say(u, "%s unhealthy: %s", n, ev->text);
        break;
    case SUP_EV_DENIED:
        say(u, "%s: notify message %s", n, ev->text);
        break;
    case SUP_EV_GAVE_UP:
        if (ev->retry_in_ms >= 0)
            say(u, "%s gave up: %s; trying again in %.1fs", n, ev->text,
                (double)ev->retry_in_ms / 1000.0);
        else
            say(u, "%s gave up: %s; not trying again (retry_after: never)", n, ev->text);
        break;
    case SUP_EV_RECOVERED:
        say(u, "%s recovered: %s", n, ev->text);
        break;
    case SUP_EV__COUNT:
        break;
    }
}

/* --- up -d: tell the waiting parent how the start went ------------------------------- */

static void report(struct up *u, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void listen_api(struct up *u);

static void report(struct up *u, int code, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    int n;
    if (u->status_fd < 0)
        return;
    listen_api(u); /* told the stack is up, a client must find the API */
    if (u->status_fd < 0)
        return;
    n = snprintf(msg, sizeof(msg), "%d ", code);
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    (void)!write(u->status_fd, msg, strlen(msg)); /* a parent gone has nobody to tell */
    close(u->status_fd);
    u->status_fd = -1;
    if (u->lp) { /* none yet when the lock was refused */
        loop_timer_disarm(u->lp, &u->start_wait);
        loop_timer_disarm(u->lp, &u->start_recheck);
    }
}

static void on_start_recheck(struct loop *lp, void *data);

static bool wanted(const struct up *u, const struct sup_info *in)
{
    if (u->n_names == 0) /* a service the operator stopped is not expected up */
        return in->autostart && !in->operator_stopped;
    for (size_t k = 0; k < u->n_names; k++)
        if (strcmp(u->names[k], in->name) == 0)
            return true;
    return false;
}

/* Up when every wanted service has run for START_STABLE_MS (or completed, for
 * a oneshot), so that one crashing at once is not reported as started; a
 * failed one ends the wait at once. Dependencies of named services are not
 * checked: their dependants cannot run without them. */
static void check_started(struct up *u, bool timed_out)
{
    char pending[1024] = "", held[512] = "";
    size_t used = 0, up = 0, n_held = 0, held_used = 0;
    uint64_t young = 0;
    if (u->status_fd < 0)
        return;
    for (size_t i = 0; i < sup_count(u->sup); i++) {
        struct sup_info in;
        sup_info(u->sup, i, &in);
        if (u->n_names == 0 && in.autostart && in.operator_stopped && ++n_held &&
            held_used < sizeof(held))
            held_used += (size_t)snprintf(held + held_used, sizeof(held) - held_used, "%s%s",
                                          held_used ? ", " : "", in.name);
        /* A recovery's restart not begun yet (it waits for a dependant's
         * stop): its old run is no start. */
        if (in.restart_pending) {
            if (wanted(u, &in) && used < sizeof(pending))
                used += (size_t)snprintf(pending + used, sizeof(pending) - used,
                                         "%s%s (restarting)", used ? ", " : "", in.name);
            continue;
        }
        up += in.state == SVC_RUNNING || in.state == SVC_READY || in.state == SVC_UNHEALTHY ||
              in.state == SVC_COMPLETED;
        if (in.state == SVC_RUNNING && in.uptime_ms < START_STABLE_MS && wanted(u, &in) &&
            START_STABLE_MS - in.uptime_ms > young)
            young = START_STABLE_MS - in.uptime_ms;
        if (!wanted(u, &in) || in.state == SVC_COMPLETED || in.state == SVC_READY ||
            (in.state == SVC_RUNNING && in.uptime_ms >= START_STABLE_MS))
            continue;
        if (in.state == SVC_FAILED) {
            report(u, CLI_FAILED, "corral: %s failed: %s (the daemon keeps running, pid %d)\n",
                   in.name, in.reason, (int)getpid());
            return;
        }
        /* Its liveness probe fails and its policy does not restart it. */
        if (in.state == SVC_UNHEALTHY) {
            report(u, CLI_FAILED, "corral: %s unhealthy: %s (the daemon keeps running, pid %d)\n",
                   in.name, in.reason, (int)getpid());
            return;
        }
        /* Exited for good: its restart policy brings it back no more. */
        if (in.state == SVC_EXITED && in.kind == CFG_KIND_LONGRUN) {
            report(u, CLI_FAILED,
                   "corral: %s %s, and its restart policy does not restart it (the daemon keeps "
                   "running, pid %d)\n",
                   in.name, *in.reason ? in.reason : "exited", (int)getpid());
            return;
        }
        if (in.state == SVC_BLOCKED && in.holder && !in.holder->orphan) {
            report(u, CLI_FAILED,
                   "corral: %s blocked: %s (the daemon keeps running and retries, "
                   "pid %d)\n",
                   in.name, in.reason, (int)getpid());
            return;
        }
        if (used < sizeof(pending))
            used += (size_t)snprintf(pending + used, sizeof(pending) - used, "%s%s (%s)",
                                     used ? ", " : "", in.name, sup_state_name(in.state));
    }
    if (young && !loop_timer_armed(&u->start_recheck))
        loop_timer_arm(u->lp, &u->start_recheck, young);
    if (!used && n_held) {
        char started[64] = "corral is up with no service running";
        if (up)
            snprintf(started, sizeof(started), "corral started %zu service%s", up,
                     up == 1 ? "" : "s");
        report(u, CLI_OK,
               "%s; %s %s stopped, as the operator stopped %s (corral start NAME to run one) "
               "(pid %d, state %s)\n",
               started, held, n_held == 1 ? "stays" : "stay", n_held == 1 ? "it" : "them",
               (int)getpid(), u->m->state_dir);
    } else if (!used && up)
        report(u, CLI_OK, "corral started %zu service%s (pid %d, state %s)\n", up,
               up == 1 ? "" : "s", (int)getpid(), u->m->state_dir);
    else if (!used)
        report(u, CLI_OK,
               "corral is up with no service running: none starts on its own (autostart: false) "
               "(pid %d, state %s)\n",
               (int)getpid(), u->m->state_dir);
    else if (timed_out)
        report(u, CLI_FAILED, "corral: not up after %ds: %s (the daemon keeps running, pid %d)\n",
               START_WAIT_MS / 1000, pending, (int)getpid());
}

static void on_start_wait(struct loop *lp, void *data)
{
    (void)lp;
    check_started(data, true);
}

static void on_start_recheck(struct loop *lp, void *data)
{
    (void)lp;
    check_started(data, false);
}

/* --- hooks ------------------------------------------------------------------------- */

static void on_event(void *ctx, const struct sup_event *ev)
{
    struct up *u = ctx;
    const char *json;
    say_event(u, ev);
    json = api_event(u->api, ev);
    /* The same JSON as the event stream's, id and time included. */
    if (json) {
        sup_hookrun_fire(u->hooks, api_event_name(ev->kind), ev->service, json);
        sup_webhooks_fire(u->webhooks, api_event_name(ev->kind), ev->service, json);
    }
    /* A start, and becoming ready: what recovery after a crash acts on. */
    runs_touch(u->runs, ev->service,
               ev->kind == SUP_EV_STARTED || ev->kind == SUP_EV_ADOPTED ||
                   ev->kind == SUP_EV_READY);
    /* Once per loop pass, not per event: the check walks every service. */
    if ((ev->kind == SUP_EV_STARTED || ev->kind == SUP_EV_COMPLETED || ev->kind == SUP_EV_FAILED ||
         ev->kind == SUP_EV_READY) &&
        u->status_fd >= 0 && !loop_timer_armed(&u->start_recheck))
        loop_timer_arm(u->lp, &u->start_recheck, 0);
    if (ev->kind == SUP_EV_BLOCKED)
        check_started(u, false);
}

static uint64_t hooks_grace_ms(const struct cfg_model *m)
{
    uint64_t grace = 0;
    for (size_t i = 0; i < m->n_services; i++)
        if (m->services[i].stop.timeout_ms > grace)
            grace = m->services[i].stop.timeout_ms;
    return grace;
}

static void webhooks_drained(void *ctx)
{
    struct up *u = ctx;
    loop_quit(u->lp);
}

/* Then the webhooks the last events (the hooks' reports among them) queued. */
static void hooks_drained(void *ctx)
{
    struct up *u = ctx;
    sup_webhooks_drain(u->webhooks, hooks_grace_ms(u->m), webhooks_drained, u);
}

static void hook_report(void *ctx, const char *kind, const char *text)
{
    struct up *u = ctx;
    say(u, "%s", text);
    api_note(u->api, kind, text);
}

static void on_settled(void *ctx)
{
    struct up *u = ctx;
    check_started(u, false);
    /* In the foreground a stack that has run its course ends corral, as it
     * always did; once an operator has started or stopped something through
     * the API, or as a daemon, corral waits for more until told to go. The
     * hooks the last events started may finish first, as long as a
     * service may take to stop (the longest stop.timeout). */
    if (sup_shutting_down(u->sup) || (!u->daemon && !u->controlled))
        sup_hookrun_drain(u->hooks, hooks_grace_ms(u->m), hooks_drained, u);
}

/* What the API and up -d's waiting parent are told of a shutdown. */
static void note_shutdown(struct up *u, const char *why)
{
    api_note(u->api, "shutdown", why);
    report(u, CLI_FAILED, "corral: stopped during start-up (%s)\n", why);
}

static void begin_shutdown(struct up *u, const char *why, const char *hint)
{
    say(u, "%s: stopping everything%s", why, hint);
    note_shutdown(u, why);
    if (!sup_shutting_down(u->sup))
        sup_shutdown(u->sup);
}

static void api_shutdown(void *ctx)
{
    struct up *u = ctx;
    u->interrupts = u->interrupts ? u->interrupts : 1;
    begin_shutdown(u, "shutdown requested through the API", "");
}

/* Without its API nothing could stop corral but a signal: better to stop
 * now, at start-up, than to run out of reach. */
static void api_broken(void *ctx, const char *why)
{
    struct up *u = ctx;
    u->api_broken = true;
    u->interrupts = u->interrupts ? u->interrupts : 1;
    begin_shutdown(u, why, "");
}

/* The API's socket is made once the first services are spawned: making its
 * file is among the costliest steps of a start. */
static void listen_api(struct up *u)
{
    struct diag dg;
    if (!u->api_unbound)
        return;
    u->api_unbound = false;
    diag_clear(&dg);
    if (api_listen(u->api, &dg) < 0)
        api_broken(u, dg.msg);
}

/* Keep every service's "stopped by the operator" in state.db, so that a
 * stop outlives a restart of corral (a stop also holds the dependants it
 * took down, so all are written, in one transaction). */
static void save_wishes(struct up *u)
{
    size_t n = sup_count(u->sup);
    const char **names = calloc(n + 1, sizeof(*names));
    bool *stopped = calloc(n + 1, sizeof(*stopped));
    for (size_t i = 0; names && stopped && i < n; i++) {
        struct sup_info in;
        sup_info(u->sup, i, &in);
        names[i] = in.name;
        stopped[i] = in.operator_stopped;
    }
    if (!names || !stopped || store_save_stopped(u->store, names, stopped, n) < 0)
        say(u, "warning: could not record the operator's stops in state.db");
    free(names);
    free(stopped);
}

static void api_controlled(void *ctx)
{
    struct up *u = ctx;
    u->controlled = true;
    if (u->store)
        save_wishes(u);
}

static void hold_one(void *ctx, const char *service)
{
    struct up *u = ctx;
    if (sup_hold(u->sup, service) == 0)
        say(u, "%s stays stopped: the operator stopped it (corral start %s to run it)", service,
            service);
}

static void history_warn(void *ctx, const char *msg)
{
    say(ctx, "warning: %s", msg);
}

/* Every use of state.db puts its rest off: the writes of a burst (the runs
 * after a start, its events, an operator's stops) share one open, and an idle
 * corral has neither the connection nor SQLite's code resident. One-shot, so
 * that idle stays without wake-ups. */
static void on_store_use(void *ctx)
{
    struct up *u = ctx;
    loop_timer_arm(u->lp, &u->store_rest, STORE_REST_MS);
}

static void on_store_rest(struct loop *lp, void *data)
{
    struct up *u = data;
    (void)lp;
    store_rest(u->store);
    /* SQLite's page cache and statements, freed with the connection, would
     * stay resident in the heap for as long as corral idles. */
    malloc_trim(0);
}

/* What the lost state.db held that corral still knows is written again on
 * the next turn, outside the store use that found it gone: every service's
 * run (what recovery after a crash needs) and the operator's stops. */
static void on_store_remade(void *ctx, const char *what)
{
    struct up *u = ctx;
    say(u, "warning: %s; the runs and stops are written again, earlier events are lost", what);
    loop_timer_arm(u->lp, &u->store_remade, 0);
}

static void on_store_rewrite(struct loop *lp, void *data)
{
    struct up *u = data;
    (void)lp;
    if (u->runs)
        runs_set_store(u->runs, u->store);
    save_wishes(u);
}

/* state.db cannot be opened for now: what the operator stopped is read
 * without writing anything. */
static void read_stops_only(struct up *u)
{
    struct diag dg;
    struct store *ro;
    diag_clear(&dg);
    ro = store_open_readonly(u->m->state_dir, false, &dg);
    if (ro && u->n_names == 0 && store_each_stopped(ro, hold_one, u) < 0)
        say(u, "warning: could not read the operator's stops from state.db");
    store_close(ro);
}

/* state.db, and the services an operator stopped before corral last went. A
 * `corral up NAME` names what to run: that wins over an old stop. */
static void open_store(struct up *u)
{
    char aside[1024];
    struct diag dg;
    bool retry = u->store_retrying;
    diag_clear(&dg);
    u->store = store_open(u->m->state_dir, aside, sizeof(aside), &dg);
    if (!u->store && dg.code == -EAGAIN) {
        /* A full disk, say: the file is kept, what it says the operator
         * stopped still holds, and it is opened again later. */
        if (!retry) {
            say(u,
                "warning: %s; trying again every %ds, stops and runs are written once it "
                "opens",
                dg.msg, STORE_RETRY_MS / 1000);
            read_stops_only(u);
        }
        u->store_retrying = true;
        loop_timer_arm(u->lp, &u->store_later, STORE_RETRY_MS);
        return;
    }
    if (!u->store) {
        say(u, "warning: %s; stops will not outlive this corral", dg.msg);
        return;
    }
    if (retry) {
        /* The stops were read at start; what changed since is written. */
        u->store_retrying = false;
        say(u, "state.db opens again");
        store_set_on_use(u->store, on_store_use, u);
        store_set_on_remade(u->store, on_store_remade, u);
        on_store_use(u);
        api_keep_history(u->api, u->store, history_warn, u);
        save_wishes(u);
        return;
    }
    if (aside[0])
        say(u, "warning: %s", aside);
    store_set_on_use(u->store, on_store_use, u);
    store_set_on_remade(u->store, on_store_remade, u);
    on_store_use(u); /* the open was a use */
    api_keep_history(u->api, u->store, history_warn, u);
    if (u->n_names == 0 && store_each_stopped(u->store, hold_one, u) < 0)
        say(u, "warning: could not read the operator's stops from state.db");
    for (size_t i = 0; i < u->n_names; i++)
        (void)store_set_stopped(u->store, u->names[i], false);
}

/* A state.db that does not exist yet holds no stop and no run to recover,
 * and making one (WAL, schema, fsyncs) took longer than starting ten
 * services: it is made once the first spawns are done. */
static bool store_exists(const struct up *u)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/state.db", u->m->state_dir);
    return access(path, F_OK) == 0 || errno != ENOENT;
}

static void on_store_later(struct loop *lp, void *data)
{
    struct up *u = data;
    (void)lp;
    open_store(u);
    runs_set_store(u->runs, u->store);
    if (u->n_names && u->store)
        save_wishes(u); /* see serve() */
}

/* The lock file is marked while a corral runs, and the mark is taken off
 * once it has stopped every tree: found at start, the previous one did not. */
static void mark_stopped(struct up *u)
{
    if (u->sup && sup_settled(u->sup) && !sup_any_survivor(u->sup))
        cli_lock_mark_stopped(u->lock);
}

/* The cleanup's end, said as its own: not an orphan's (nor a `reaped` hook's). */
static void on_cleanup_done(void *ctx, pid_t pid, int code)
{
    struct up *u = ctx;
    if (code == 0)
        say(u, "corral cleanup (pid %d) is done", (int)pid);
    else
        say(u, "corral cleanup (pid %d) ended with status %d: see its lines above", (int)pid, code);
}

/* What a previous corral left of services that are no longer configured has
 * no settings here to be stopped by: `corral cleanup`, which asks this
 * corral which services it has and stops only the others' trees (through
 * identity-checked pidfds), does it beside the loop; its report goes to
 * corral.log. */
static void clean_ghosts(struct up *u)
{
    char *argv[] = {"corral", "cleanup", "--yes", "-f", (char *)u->m->path, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none;
    pid_t pid;
    int r;
    sigemptyset(&none);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    log_flush(u); /* its lines come after ours */
    if ((r = log_fd(u)) >= 0) {
        posix_spawn_file_actions_adddup2(&fa, r, 1);
        posix_spawn_file_actions_adddup2(&fa, r, 2);
    }
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID);
    r = posix_spawn(&pid, "/proc/self/exe", &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (r != 0)
        say(u,
            "warning: processes of services no longer configured are left running; "
            "`corral cleanup` stops them (could not run it: %s)",
            strerror(r));
    else
        say(u,
            "processes of services no longer configured are left running: corral cleanup "
            "(pid %d) stops them",
            (int)pid);
    if (r == 0 && sup_child_claim(u->sup, pid, on_cleanup_done, u) < 0)
        say(u, "warning: out of memory: corral cleanup's end will read as an orphan's");
}

/* The output holder a crashed corral left, holding its services' pipes; a
 * new one is started after the first spawns (see runs.c). */
static struct hold *open_hold(struct up *u)
{
    char why[512];
    struct hold *h = hold_open(u->m->state_dir, HOLD_CONNECT, why, sizeof(why));
    if (!h && why[0])
        say(u, "warning: the output holder did not answer (%s)", why);
    return h;
}

static json_t *names_json(const char **names, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(names[i]));
    return a;
}

/* Load the config again and hand it to the supervisor; on any error nothing
 * changes. */
static int reload(struct up *u, json_t **summary, struct diag *dg)
{
    struct sup_plan plan;
    struct cfg_model *nm;
    char text[256];
    int r;
    nm = cfg_load(u->m->path, dg);
    if (!nm)
        return -EINVAL;
    r = sup_reload(u->sup, nm, &plan, dg);
    if (r < 0) {
        cfg_free(nm);
        return r;
    }
    u->next_m = nm;
    snprintf(text, sizeof(text), "%zu added, %zu removed, %zu changed, %zu unchanged", plan.n_added,
             plan.n_removed, plan.n_changed, plan.n_unchanged);
    say(u, "reload: %s", text);
    api_note(u->api, "reload", text);
    if (!nm->api.listen != !u->m->api.listen ||
        (nm->api.listen && strcmp(nm->api.listen, u->m->api.listen) != 0))
        say(u, "reload: api.listen changed; that takes effect when corral restarts");
    if (summary)
        *summary = json_pack("{s:o,s:o,s:o,s:o}", "added", names_json(plan.added, plan.n_added),
                             "removed", names_json(plan.removed, plan.n_removed), "changed",
                             names_json(plan.changed, plan.n_changed), "unchanged",
                             names_json(plan.unchanged, plan.n_unchanged));
    sup_plan_free(&plan);
    return 0;
}

/* Said, and in the history as a reload event, so that a SIGHUP's refusal
 * is not seen only by whoever reads corral.log. */
static void reload_refused(struct up *u, const char *why)
{
    char text[DIAG_MSG_MAX + DIAG_FILE_MAX + DIAG_FIELD_MAX + 64];
    snprintf(text, sizeof(text), "refused, nothing changed: %s", why);
    say(u, "reload %s", text);
    api_note(u->api, "reload", text);
}

static int api_reload(void *ctx, json_t **summary, struct diag *dg)
{
    struct up *u = ctx;
    int r = reload(u, summary, dg);
    if (r < 0) {
        /* With the place in the file, as a SIGHUP's refusal says it. */
        char why[DIAG_MSG_MAX + DIAG_FILE_MAX + DIAG_FIELD_MAX + 32];
        diag_format(dg, why, sizeof(why));
        reload_refused(u, why);
    }
    return r;
}

static void set_width(struct up *u);

static void on_swap(void *ctx, const struct cfg_model *now, const struct cfg_model *old)
{
    struct up *u = ctx;
    runs_swap(u->runs, old);
    sup_hookrun_retarget(u->hooks, now);
    sup_webhooks_retarget(u->webhooks, now);
    /* While the old model lives: followed logs move to the new one by name. */
    api_retarget(u->api, u->sup, now);
    if (old == u->m) {
        cfg_free(u->m);
        u->m = u->next_m;
        u->next_m = NULL;
    }
    set_width(u);
    say(u, "reload done");
}

static void api_want_output(void *ctx, bool on)
{
    struct up *u = ctx;
    /* The foreground view needs lines anyway. */
    if (u->daemon || u->quiet)
        sup_set_output(u->sup, on);
}

/* A SIGHUP means "reload" to a daemon, but to a foreground corral whose
 * terminal is gone it means the window closed: a stack nobody can see or stop
 * with Ctrl-C any more must not live on. */
static bool terminal_gone(const struct up *u)
{
    int fd;
    if (u->daemon)
        return false;
    fd = open("/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return true;
    close(fd);
    return false;
}

static void on_signal(struct loop *lp, const struct signalfd_siginfo *si, void *data)
{
    struct up *u = data;
    if (si->ssi_signo == SIGCHLD) {
        sup_reap(u->sup);
        return;
    }
    if (si->ssi_signo == SIGHUP && !terminal_gone(u) && !sup_shutting_down(u->sup)) {
        struct diag dg;
        char msg[DIAG_MSG_MAX + DIAG_FILE_MAX + DIAG_FIELD_MAX + 32];
        diag_clear(&dg);
        say(u, "SIGHUP: reloading %s", u->m->path);
        if (reload(u, NULL, &dg) < 0) {
            diag_format(&dg, msg, sizeof(msg));
            reload_refused(u, msg);
        }
        return;
    }
    u->interrupts++;
    if (u->interrupts == 1) {
        char why[32];
        snprintf(why, sizeof(why), "SIG%s", cfg_signal_name((int)si->ssi_signo));
        /* The line first, so that what the stop does reads after it; the
         * stop signals next, and the API's event and the rest after them. */
        say(u, "%s: stopping everything%s", why,
            si->ssi_signo == SIGINT ? " (Ctrl-C again to kill)" : " (again to kill)");
        sup_shutdown(u->sup);
        sup_kick_now(u->sup);
        note_shutdown(u, why);
    } else if (u->interrupts == 2) {
        say(u, "killing every tree now");
        sup_hookrun_kill(u->hooks, "every tree is being killed");
        sup_kill_all(u->sup);
    } else {
        say(u, "giving up waiting for the remaining processes");
        loop_quit(lp);
    }
}

/* --- set-up ----------------------------------------------------------------------- */

static int parse_args(struct up *u, int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {"detach", no_argument, NULL, 'd'},
        {"quiet", no_argument, NULL, 'q'},
        {"timestamps", no_argument, NULL, 't'},
        {"no-color", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    const char *term = getenv("TERM");
    u->colour = isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && !(term && !strcmp(term, "dumb"));
    while ((c = getopt_long(argc, argv, "f:dqth", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            u->file = optarg;
            break;
        case 'd':
            u->daemon = true;
            break;
        case 'q':
            u->quiet = true;
            break;
        case 't':
            u->timestamps = true;
            break;
        case 'C':
            u->colour = false;
            break;
        case 'h':
            printf(USAGE);
            return CLI_OK;
        default:
            fprintf(stderr, USAGE);
            return CLI_USAGE;
        }
    }
    return -1;
}

static void set_width(struct up *u)
{
    u->width = 6; /* "corral" */
    for (size_t i = 0; i < u->m->n_services; i++) {
        int len = (int)strlen(u->m->services[i].name);
        if (len > u->width)
            u->width = len;
    }
}

static int open_log(struct up *u, struct diag *dg)
{
    u->state_fd = open(u->m->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (u->state_fd < 0) {
        diag_set(dg, -errno, "cannot open %s: %s", u->m->state_dir, strerror(errno));
        return -errno;
    }
    /* The file is made at the first flush, after the first spawns: the lock
     * file made beside it says that the directory takes files. */
    logs_file_init(&u->log, u->state_fd, "corral", LOGS_FILE_MAX_BYTES, LOGS_FILE_KEEP);
    return 0;
}

static int start_signals(struct up *u)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    return loop_signals(u->lp, &set, on_signal, u);
}

static void api_webhook_counts(void *ctx, uint64_t *delivered, uint64_t *failed, uint64_t *dropped)
{
    struct up *u = ctx;
    struct sup_webhook_counts c;
    sup_webhooks_counts(u->webhooks, &c);
    *delivered = c.delivered;
    *failed = c.failed;
    *dropped = c.dropped;
}

static int start_api(struct up *u, struct diag *dg)
{
    struct api_hooks ah = {.reload = api_reload,
                           .webhook_counts = api_webhook_counts,
                           .shutdown = api_shutdown,
                           .controlled = api_controlled,
                           .want_output = api_want_output,
                           .broken = api_broken,
                           .ctx = u};
    u->api = api_new(u->lp, u->sup, u->m, &ah, (long long)time(NULL), dg);
    return u->api ? 0 : -1;
}

/* Everything after the lock: supervisor, API, start, loop. */
static int serve(struct up *u, struct diag *dg)
{
    struct sup_hooks h = {.on_event = on_event,
                          .on_output = on_output,
                          .on_settled = on_settled,
                          .on_swap = on_swap,
                          .ctx = u,
                          .instance = u->lock->instance};
    const char *why;
    u->sup = sup_new(u->lp, u->m, &h, dg);
    if (!u->sup)
        return CLI_FAILED;
    u->hooks = sup_hookrun_new(u->sup, u->m, hook_report, u, dg);
    if (!u->hooks)
        return CLI_FAILED;
    u->webhooks = sup_webhooks_new(u->lp, u->m, hook_report, u);
    if (!u->webhooks) {
        diag_set(dg, -ENOMEM, "out of memory");
        return CLI_FAILED;
    }
    if (u->daemon || u->quiet)
        sup_set_output(u->sup, false);
    if (start_signals(u) < 0) {
        diag_set(dg, -EIO, "cannot set up signals");
        return CLI_FAILED;
    }
    if (start_api(u, dg) < 0)
        return CLI_FAILED;
    sup_containment(u->sup, &why);
    say(u, "corral %s, instance %s, pid %d", CORRAL_VERSION, sup_instance(u->sup), (int)getpid());
    say(u, "containment: %s", why);
    say(u, "api: %s/corral.sock%s%s", u->m->state_dir, u->m->api.listen ? ", http://" : "",
        u->m->api.listen ? u->m->api.listen : "");
    bool later = !store_exists(u);
    if (!later)
        open_store(u);
    else
        api_note_started(u->api);
    u->runs = runs_new(u->lp, u->sup, u->store, open_hold(u), u->m->state_dir, say_line, u);
    if (!u->runs) {
        diag_set(dg, -ENOMEM, "out of memory");
        return CLI_FAILED;
    }
    if (runs_recover(u->runs, cli_lock_mark_running(u->lock)) > 0)
        clean_ghosts(u);
    if (sup_start(u->sup, (const char *const *)u->names, u->n_names, dg) < 0)
        return CLI_USAGE;
    /* What up NAME starts, its dependencies included, is no longer stopped
     * by the operator: said so in state.db too, or the next corral would
     * hold them again. */
    if (u->n_names && u->store)
        save_wishes(u);
    /* The first services go before anything said so far is written, and
     * before the API's socket and corral.log are made; a verdict for up -d
     * (a service blocked at once) makes the socket first. */
    u->api_unbound = true;
    sup_kick_now(u->sup);
    listen_api(u);
    if (later)
        loop_timer_arm(u->lp, &u->store_later, 1);
    if (u->status_fd >= 0) {
        loop_timer_arm(u->lp, &u->start_wait, START_WAIT_MS);
        /* Adopted services run already: no start event will ask again. */
        check_started(u, false);
    }
    if (loop_run(u->lp) < 0)
        return CLI_FAILED;
    say(u, "corral exits");
    if (sup_any_survivor(u->sup) || !sup_settled(u->sup))
        return CLI_SURVIVOR;
    return sup_any_failed(u->sup) || u->api_broken ? CLI_FAILED : CLI_OK;
}

static int run(struct up *u)
{
    struct cli_lock lk;
    struct diag dg;
    int r;
    diag_clear(&dg);
    if (cli_lock(&lk, u->m->state_dir, &dg) < 0) {
        bool busy = dg.code == -EBUSY;
        /* up -d on a running instance just reports it. One that holds only
         * the instance's guard cannot be reached through this state
         * directory: that is no success. */
        if (u->status_fd >= 0)
            report(u, busy ? CLI_OK : CLI_FAILED, "corral: %s\n", dg.msg);
        else
            fprintf(stderr, "corral: %s\n", dg.msg);
        return CLI_FAILED;
    }
    u->lock = &lk;
    u->lp = loop_new();
    if (!u->lp || open_log(u, &dg) < 0 ||
        (!u->daemon && !(u->out = out_new(u->lp, STDOUT_FILENO)))) {
        if (!dg.msg[0])
            diag_set(&dg, -errno, "set-up: %s", strerror(errno));
        r = CLI_FAILED;
    } else {
        r = serve(u, &dg);
    }
    if (dg.msg[0]) {
        say(u, "%s", dg.msg);
        report(u, r, "corral: %s\n", dg.msg);
        if (!u->out)
            fprintf(stderr, "corral: %s\n", dg.msg);
    }
    report(u, r, "corral: exited during start-up\n");
    if (u->out)
        out_drain(u->out, 2000);
    /* Before the API goes: a client that finds no socket and a lock without
     * the running mark knows corral is ending, not starting. */
    mark_stopped(u);
    sup_hookrun_free(u->hooks); /* it may still have something to say */
    sup_webhooks_free(u->webhooks);
    api_free(u->api);
    runs_free(u->runs);
    sup_free(u->sup);
    store_close(u->store);
    out_free(u->out);
    log_flush(u);
    if (u->lp)
        loop_timer_disarm(u->lp, &u->log_flush);
    loop_free(u->lp);
    u->lp = NULL;
    cfg_free(u->next_m);
    logs_file_close(&u->log);
    if (u->state_fd >= 0)
        close(u->state_fd);
    cli_unlock(&lk);
    return r;
}

/* up -d: the child becomes the daemon; the parent waits on a pipe for its
 * verdict on the start and exits with it. */
static int detach(struct up *u)
{
    int p[2];
    pid_t pid;
    char buf[2048];
    size_t got = 0;
    ssize_t n;
    fflush(NULL);
    if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
        perror("corral: up -d");
        return CLI_FAILED;
    }
    if (pid == 0) {
        char path[4096];
        int null = open("/dev/null", O_RDWR | O_CLOEXEC), log;
        close(p[0]);
        setsid();
        /* What libraries (or a sanitizer) print to stderr lands in corral.log. */
        (void)mkdir(u->m->state_dir, 0750);
        snprintf(path, sizeof(path), "%s/corral.log", u->m->state_dir);
        log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
            dup2(log >= 0 ? log : null, STDERR_FILENO);
            close(null);
        }
        if (log >= 0)
            close(log);
        u->status_fd = p[1];
        _exit(run(u));
    }
    close(p[1]);
    while (got < sizeof(buf) - 1 && (n = read(p[0], buf + got, sizeof(buf) - 1 - got)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        got += (size_t)n;
    }
    close(p[0]);
    buf[got] = '\0';
    if (got < 2) {
        fprintf(stderr, "corral: the daemon exited during start-up; see %s/corral.log\n",
                u->m->state_dir);
        return CLI_FAILED;
    }
    fputs(buf + 2, buf[0] == '0' ? stdout : stderr);
    return buf[0] - '0';
}

int cli_up(int argc, char **argv)
{
    struct up u;
    int r;
    memset(&u, 0, sizeof(u));
    u.file = "corral.yaml";
    logs_file_init(&u.log, -1, "corral", 0, 0);
    u.state_fd = -1;
    u.status_fd = -1;
    loop_timer_init(&u.start_wait, on_start_wait, &u);
    loop_timer_init(&u.start_recheck, on_start_recheck, &u);
    loop_timer_init(&u.store_later, on_store_later, &u);
    loop_timer_init(&u.log_flush, on_log_flush, &u);
    loop_timer_init(&u.store_rest, on_store_rest, &u);
    loop_timer_init(&u.store_remade, on_store_rewrite, &u);
    r = parse_args(&u, argc, argv);
    if (r >= 0)
        return r;
    /* What whoever started corral left open (a lock of `flock f corral up`,
     * a shell's redirection) would be held for corral's whole life, and
     * passed on to every service and hook. Nothing is open of ours yet. */
    (void)close_range(3, ~0U, 0);
    /* Blocks of 64 KiB and more (the config parser's arena, the start-up
     * burst's lists) get pages of their own, given back whole when freed,
     * instead of leaving holes in the heap that a long-lived daemon keeps
     * resident; the fixed threshold also stops malloc from raising it. */
    (void)mallopt(M_MMAP_THRESHOLD, UP_MMAP_THRESHOLD);
    u.m = cli_load_config(u.file);
    if (!u.m)
        return CLI_USAGE;
    for (int i = optind; i < argc; i++)
        if (cfg_find(u.m, argv[i]) < 0) {
            char hint[CFG_HINT_MAX];
            fprintf(stderr, "corral: %s: unknown service '%s'%s\n", u.file, argv[i],
                    cfg_did_you_mean(cfg_suggest_service(u.m, argv[i]), hint, sizeof(hint)));
            cfg_free(u.m);
            return CLI_USAGE;
        }
    u.names = argv + optind;
    u.n_names = (size_t)(argc - optind);
    set_width(&u);
    /* A reader that went away must cost corral its output, not its life and
     * with it every service's supervision. */
    signal(SIGPIPE, SIG_IGN);
    r = u.daemon ? detach(&u) : run(&u);
    cfg_free(u.m);
    return r;
}
