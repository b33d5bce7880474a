/* store/store.h — corral's state on disk: <state_dir>/state.db, SQLite in WAL
 * mode, with a versioned schema. Today it holds what an operator wants of each
 * service (run, or stay stopped), so that a stop survives a restart of corral.
 * A database that cannot be used is moved aside, never a reason not to start. */
#ifndef CORRAL_STORE_STORE_H
#define CORRAL_STORE_STORE_H

#include "util/diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STORE_SCHEMA_VERSION 5

struct store;

/* Open (creating or migrating) <state_dir>/state.db. A file that is not a
 * usable corral database — garbage, truncated, failing its integrity check,
 * from a newer corral, or locked by another process — is renamed to
 * state.db.bad-<time> and a fresh one made; *aside then names that file and
 * why (else it is ""). NULL with dg filled only when no database at all can
 * be made there; dg->code -EAGAIN when the machine failed (a full disk, an
 * I/O error, no permission), and the file was left as it is. */
struct store *store_open(const char *state_dir, char *aside, size_t aside_size, struct diag *dg);
/* Close the store, open or resting. NULL is a no-op. */
void store_close(struct store *st);

/* A store rests between bursts of use: store_rest() closes its connection
 * (which checkpoints the WAL into state.db) and, with no other store open,
 * unloads libsqlite3, whose code would otherwise stay resident for the life
 * of the daemon. Every function below opens it again first when it rests: the
 * library, the file and its settings, no check or migration (the first open
 * did those); failing that, it returns -EIO like any other failure. Not to
 * be called from inside a store_*() call (from one of its callbacks). */
void store_rest(struct store *st);
/* fn(ctx) is called at each use of the store (fn NULL: none), after it is
 * open: what tells its owner when to rest it. fn must not use the store. */
void store_set_on_use(struct store *st, void (*fn)(void *ctx), void *ctx);
/* fn(ctx, what) is called when a state.db removed or overwritten while corral
 * runs was made afresh at a use (what says so): its owner writes again what
 * the old one held. fn must not use the store. */
void store_set_on_remade(struct store *st, void (*fn)(void *ctx, const char *what), void *ctx);

/* The operator's wish for a service, kept across restarts of corral. */
int store_set_stopped(struct store *st, const char *service, bool stopped);
/* The same for n services in one transaction. */
int store_save_stopped(struct store *st, const char *const *names, const bool *stopped, size_t n);
/* Calls fn for every service the operator stopped. 0 or -EIO. */
int store_each_stopped(struct store *st, void (*fn)(void *ctx, const char *service), void *ctx);

/* The last known run of a service: its main process's identity while one is
 * live (pid 0 after its tree emptied), its last exit and its counters. What
 * recovery after a crash of corral starts from; a record is only a lead,
 * verified against /proc through a pidfd before anything is done with it. */
struct store_run {
    const char *service;
    const char *instance; /* corral instance id (CORRAL_INSTANCE) */
    const char *boot_id;
    pid_t pid; /* 0 when no process is live */
    uint64_t start_ticks;
    pid_t pgid;
    const char *cgroup;    /* absolute path of its cgroup, "" without one */
    int64_t started_at_ms; /* wall clock */
    unsigned runs, restarts;
    bool exited; /* last_exit holds the previous run's status */
    int last_exit;
    const char *reason;
    bool ready; /* past its readiness check; records before schema 4 read as ready */
    /* Where the service was, so that a crash of corral is not a fresh start
     * (schema 5; older records read as "" and 0). */
    const char *state;       /* its state's name, as status says it */
    int64_t due_at_ms;       /* wall clock: a backoff's restart or a give-up's retry; 0 none */
    unsigned attempt;        /* backoff steps taken since the last stable run */
    const char *restarts_at; /* wall-clock ms of the restarts in its give-up window,
                              * oldest first, comma-separated */
    bool gave_up;            /* gave up since its last stable run */
    bool stop_then_start;    /* a stop under way was to start it again (a restart) */
    const char *settings;    /* a digest of its settings, where a recall needs it */
};

/* Write the runs of n services in one transaction. 0 or -EIO. */
int store_save_runs(struct store *st, const struct store_run *runs, size_t n);
/* Forget a service's record. */
int store_drop_run(struct store *st, const char *service);
/* Calls fn for every record (strings valid during the call). 0 or -EIO. */
int store_each_run(struct store *st, void (*fn)(void *ctx, const struct store_run *r), void *ctx);

/* The event history: every event the API announces, with the id it was
 * given, the newest `keep` of them kept so that the history outlives a
 * restart of corral and ids go on from the last one stored. */
struct store_event {
    uint64_t id;
    int64_t time_ms;     /* wall clock */
    const char *kind;    /* "started", "exited", ... */
    const char *service; /* NULL for corral's own events */
    pid_t pid;           /* 0: none */
    bool exited;         /* exit_code is set */
    int exit_code;
    const char *text; /* NULL: none */
    const char *json; /* the whole event as the API shows it */
};

/* Append n events, whose ids grow and are above every stored one, then drop
 * all but the newest keep (keep >= 1), in one transaction. 0, or -EIO and
 * nothing written. */
int store_events_add(struct store *st, const struct store_event *evs, size_t n, uint64_t keep);
/* Why the last write of events failed, as SQLite said it. */
const char *store_error(const struct store *st);
/* The highest id stored, 0 when there is none. 0 or -EIO. */
int store_events_last_id(struct store *st, uint64_t *id);

#define STORE_EVENT_SERVICES_MAX 64

/* Which events store_events_each() gives; a zero id bound is no bound. */
struct store_event_query {
    uint64_t after_id;  /* ids above this */
    uint64_t before_id; /* ids below this */
    int64_t from_ms;    /* times at or after this */
    int64_t to_ms;      /* times before this, when has_to: the epoch is one too */
    bool has_to;
    const char *const *services; /* only these services' events */
    size_t n_services;           /* 0: every event, corral's own included */
    size_t limit;                /* the newest limit of those that match */
};

/* Calls fn for each matching event, newest first (strings valid during the
 * call). The count, -EINVAL (more than STORE_EVENT_SERVICES_MAX services) or
 * -EIO. */
int store_events_each(struct store *st, const struct store_event_query *q,
                      void (*fn)(void *ctx, const struct store_event *ev), void *ctx);
/* Open <state_dir>/state.db for reading only, changing nothing on disk: no
 * migration, nothing moved aside, and no -wal or -shm file made (the file is
 * opened immutable unless a corral left a WAL beside it). live: a corral
 * holds the state dir; its store may wake and write at any moment, even
 * with no WAL there while it rests, so the file is read through SQLite's
 * locks, never as immutable (an empty -wal and -shm may then be left for
 * that corral to remove). For `corral doctor`. NULL with dg filled when
 * SQLite cannot open it at all; a file that is not a database opens, and
 * store_check() says so. */
struct store *store_open_readonly(const char *state_dir, bool live, struct diag *dg);
/* Read the schema version and run PRAGMA quick_check. 0 when the database is
 * usable by this corral; -EIO with why filled (not a database, integrity,
 * unknown schema). */
int store_check(struct store *st, int *schema_version, char *why, size_t size);

#endif
