/* store/store.c — state.db: open, check, migrate, move aside when unusable;
 * rest (the connection closed, SQLite unloaded) and wake again on use. */
#include "store/store.h"

#include "store/sqlfn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUSY_MS 500 /* a database held longer by another process is not ours */

struct store {
    sqlite3 *db; /* NULL while it rests; open, it holds a load of libsqlite3 */
    char *path;  /* what sqlite3_open_v2() is given again on a wake */
    int flags;   /* SQLITE_OPEN_* */
    void (*on_use)(void *ctx);
    void *on_use_ctx;
    char err[256]; /* why the last write failed (store_error) */
    void (*on_remade)(void *ctx, const char *what);
    void *on_remade_ctx;
};

/* Each entry takes the schema from version i to i + 1, in one transaction. */
static const char *const migrations[STORE_SCHEMA_VERSION] = {
    "CREATE TABLE service_wish ("
    "  name TEXT PRIMARY KEY,"
    "  stopped INTEGER NOT NULL CHECK (stopped IN (0, 1)),"
    "  updated_at INTEGER NOT NULL"
    ");",
    "CREATE TABLE service_run ("
    "  name TEXT PRIMARY KEY,"
    "  instance TEXT NOT NULL,"
    "  boot_id TEXT NOT NULL,"
    "  pid INTEGER NOT NULL,"
    "  start_ticks INTEGER NOT NULL,"
    "  pgid INTEGER NOT NULL,"
    "  cgroup TEXT NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  runs INTEGER NOT NULL,"
    "  restarts INTEGER NOT NULL,"
    "  last_exit INTEGER,"
    "  reason TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");",
    /* The API's events; json is what a client is sent, the other columns are
     * there to filter on. Pruned by id, the rowid: no other index to keep. */
    "CREATE TABLE event ("
    "  id INTEGER PRIMARY KEY,"
    "  time_ms INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  service TEXT,"
    "  pid INTEGER,"
    "  exit_code INTEGER,"
    "  text TEXT,"
    "  json TEXT NOT NULL"
    ");",
    /* Whether a run had become ready: an adopted run that had not resumes
     * its readiness check. Earlier records were taken as ready. */
    "ALTER TABLE service_run ADD COLUMN ready INTEGER NOT NULL DEFAULT 1;",
    /* Where a service without a process was (backoff, failed, completed...)
     * and what a stop under way was for: recovery resumes it. */
    "ALTER TABLE service_run ADD COLUMN state TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE service_run ADD COLUMN due_at INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE service_run ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE service_run ADD COLUMN restarts_at TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE service_run ADD COLUMN gave_up INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE service_run ADD COLUMN stop_then_start INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE service_run ADD COLUMN settings TEXT NOT NULL DEFAULT '';",
};

static int user_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *q;
    int r = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL);
    if (r == SQLITE_OK && (r = sqlite3_step(q)) == SQLITE_ROW) {
        *v = sqlite3_column_int(q, 0);
        r = SQLITE_OK;
    }
    sqlite3_finalize(q);
    return r;
}

static int integrity_ok(sqlite3 *db)
{
    sqlite3_stmt *q;
    int ok = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        ok = strcmp((const char *)sqlite3_column_text(q, 0), "ok") == 0;
    sqlite3_finalize(q);
    return ok;
}

/* Every step from `from` to the current schema in one transaction: a fresh
 * database costs one commit, and a failed step leaves the old schema whole. */
static int migrate(sqlite3 *db, int from, char *why, size_t size)
{
    char sql[64];
    char *err = NULL;
    int v = from;
    if (from >= STORE_SCHEMA_VERSION)
        return 0;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE;", NULL, NULL, &err) != SQLITE_OK)
        goto fail;
    for (; v < STORE_SCHEMA_VERSION; v++)
        if (sqlite3_exec(db, migrations[v], NULL, NULL, &err) != SQLITE_OK)
            goto fail;
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d;", STORE_SCHEMA_VERSION);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK &&
        sqlite3_exec(db, "COMMIT;", NULL, NULL, &err) == SQLITE_OK)
        return 0;
fail:
    snprintf(why, size, "migration to schema %d failed: %s", v + 1, err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
    return -EIO;
}

/* What every connection is set to, at the first open and at each wake. */
static int configure(sqlite3 *db, int flags)
{
    sqlite3_busy_timeout(db, BUSY_MS);
    if (flags & SQLITE_OPEN_READONLY)
        return SQLITE_OK;
    /* No lookaside slots (120 KiB per connection): corral's statements are
     * few and run at human rates. */
    (void)sqlite3_db_config(db, SQLITE_DBCONFIG_LOOKASIDE, NULL, 0, 0);
    /* A small page cache: the writes touch a few pages each, and a thousand
     * services' runs must not cost their default 2 MiB. */
    return sqlite3_exec(db,
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                        "PRAGMA cache_size = -256;",
                        NULL, NULL, NULL);
}

/* Open and make usable, or say why not (the caller moves the file aside). */
/* A failure of the machine, not of the file: a full disk, an I/O error, no
 * permission, no memory. The file is then left as it is. */
static bool machine_error(int code)
{
    switch (code & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_NOMEM:
        return true;
    default:
        return false;
    }
}

/* 0 with *out open; -EAGAIN when the machine failed (machine_error); -EIO
 * when the file is no usable corral database. */
static int try_open(const char *path, sqlite3 **out, char *why, size_t size)
{
    sqlite3 *db = NULL;
    int v = 0, r;
    *out = NULL;
    r = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (r == SQLITE_OK)
        r = configure(db, SQLITE_OPEN_READWRITE);
    if (r == SQLITE_OK)
        r = user_version(db, &v);
    if (r != SQLITE_OK) {
        snprintf(why, size, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(r));
    } else if (v > STORE_SCHEMA_VERSION) {
        snprintf(why, size, "schema %d is newer than this corral's %d", v, STORE_SCHEMA_VERSION);
    } else if (!integrity_ok(db)) {
        snprintf(why, size, "integrity check failed");
        r = db ? sqlite3_errcode(db) : SQLITE_ERROR;
    } else if (migrate(db, v, why, size) == 0) {
        *out = db;
        return 0;
    } else {
        r = sqlite3_errcode(db);
    }
    sqlite3_close(db);
    return machine_error(r) ? -EAGAIN : -EIO;
}

/* The -wal and -shm files a failed open left, when the WAL holds nothing:
 * with them there a reader must map -shm (which a full disk refuses);
 * without them it reads state.db alone. */
static void drop_empty_wal(const char *path)
{
    char wal[4200], shm[4200];
    struct stat st;
    snprintf(wal, sizeof(wal), "%s-wal", path);
    snprintf(shm, sizeof(shm), "%s-shm", path);
    if (stat(wal, &st) == 0 && st.st_size == 0 && unlink(wal) == 0)
        (void)unlink(shm);
}

static void move_aside(const char *path, const char *why, char *aside, size_t size)
{
    static const char *const sidecars[] = {"-wal", "-shm"};
    char to[4200], from[4200];
    snprintf(to, sizeof(to), "%s.bad-%lld", path, (long long)time(NULL));
    if (rename(path, to) < 0)
        snprintf(to, sizeof(to), "(could not rename: %s)", strerror(errno));
    for (size_t i = 0; i < 2; i++) {
        snprintf(from, sizeof(from), "%s%s", path, sidecars[i]);
        (void)remove(from); /* they belong to the file moved aside */
    }
    snprintf(aside, size, "%s was unusable (%s); moved to %s, starting with a fresh one", path, why,
             to);
}

/* A store that holds no connection yet: path and flags kept for its wakes. */
static struct store *store_new(const char *path, int flags, struct diag *dg)
{
    struct store *st = calloc(1, sizeof(*st));
    if (!st || !(st->path = strdup(path))) {
        free(st);
        diag_set(dg, -ENOMEM, "out of memory");
        return NULL;
    }
    st->flags = flags;
    return st;
}

struct store *store_open(const char *state_dir, char *aside, size_t aside_size, struct diag *dg)
{
    char path[4096], why[512] = "";
    struct store *st;
    aside[0] = '\0';
    snprintf(path, sizeof(path), "%s/state.db", state_dir);
    /* A wake opens the file made here: one deleted meanwhile is not made
     * again empty, without its schema. */
    st = store_new(path, SQLITE_OPEN_READWRITE, dg);
    if (!st)
        return NULL;
    if (sql_fns_load(why, sizeof(why)) < 0) {
        diag_set(dg, -EIO, "%s", why);
        store_close(st);
        return NULL;
    }
    int r = try_open(path, &st->db, why, sizeof(why));
    if (r == 0)
        return st;
    if (r == -EIO) {
        move_aside(path, why, aside, aside_size);
        r = try_open(path, &st->db, why, sizeof(why));
        if (r == 0)
            return st;
    }
    if (r == -EAGAIN) {
        drop_empty_wal(path);
        diag_set(dg, -EAGAIN, "cannot open %s: %s (the file is left as it is)", path, why);
    } else
        diag_set(dg, -EIO, "cannot create %s: %s", path, why);
    sql_fns_unload();
    store_close(st);
    return NULL;
}

void store_rest(struct store *st)
{
    if (!st || !st->db)
        return;
    /* Fails only with a statement left open, which every function here
     * finalizes: the connection then stays, and so does the library. */
    if (sqlite3_close(st->db) != SQLITE_OK)
        return;
    st->db = NULL;
    sql_fns_unload();
}

void store_close(struct store *st)
{
    if (!st)
        return;
    store_rest(st);
    free(st->path);
    free(st);
}

void store_set_on_remade(struct store *st, void (*fn)(void *ctx, const char *what), void *ctx)
{
    st->on_remade = fn;
    st->on_remade_ctx = ctx;
}

void store_set_on_use(struct store *st, void (*fn)(void *ctx), void *ctx)
{
    st->on_use = fn;
    st->on_use_ctx = ctx;
}

/* A state.db removed, or overwritten with what is no database, while corral
 * runs: made afresh as at start-up (what it held is gone; the owner writes
 * what it has again), rather than every later write failing until a
 * restart. A locked or unreadable one is left alone. */
static bool remake(struct store *st, int r, char *why, size_t size)
{
    char what[1024], aside[768];
    int code = r & 0xff;
    bool gone = code == SQLITE_CANTOPEN && access(st->path, F_OK) < 0 && errno == ENOENT;
    if (!(st->flags & SQLITE_OPEN_READWRITE)) /* a reader's (doctor's): never */
        return false;
    if (!gone && code != SQLITE_NOTADB && code != SQLITE_CORRUPT)
        return false;
    if (gone)
        snprintf(what, sizeof(what), "%s was removed while corral runs; made afresh", st->path);
    else {
        move_aside(st->path, why, aside, sizeof(aside));
        snprintf(what, sizeof(what), "%s (while corral runs)", aside);
    }
    if (try_open(st->path, &st->db, why, size) < 0)
        return false;
    if (st->on_remade)
        st->on_remade(st->on_remade_ctx, what);
    return true;
}

/* Open the connection of a store that has none: the library, the file, its
 * settings; the checks and migrations were the first open's. SQLITE_OK, or
 * an error with why filled and nothing left loaded. */
static int wake(struct store *st, char *why, size_t size)
{
    int r;
    if (sql_fns_load(why, size) < 0)
        return SQLITE_ERROR;
    r = sqlite3_open_v2(st->path, &st->db, st->flags, NULL);
    if (r == SQLITE_OK)
        r = configure(st->db, st->flags);
    if (r == SQLITE_OK)
        return SQLITE_OK;
    snprintf(why, size, "%s", st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(r));
    sqlite3_close(st->db); /* NULL, or the half-made connection */
    st->db = NULL;
    if (remake(st, r, why, size))
        return SQLITE_OK;
    sql_fns_unload();
    return r;
}

/* The connection, woken if the store rests; NULL when it cannot be. */
static sqlite3 *use(struct store *st)
{
    char why[256];
    if (!st->db && wake(st, why, sizeof(why)) != SQLITE_OK) {
        snprintf(st->err, sizeof(st->err), "%s", why);
        return NULL;
    }
    if (st->on_use)
        st->on_use(st->on_use_ctx);
    return st->db;
}

static int set_stopped(sqlite3 *db, const char *service, bool stopped)
{
    sqlite3_stmt *q;
    int r = sqlite3_prepare_v2(db,
                               "INSERT INTO service_wish (name, stopped, updated_at) "
                               "VALUES (?1, ?2, ?3) ON CONFLICT (name) DO UPDATE SET "
                               "stopped = excluded.stopped, updated_at = excluded.updated_at",
                               -1, &q, NULL);
    if (r == SQLITE_OK) {
        sqlite3_bind_text(q, 1, service, -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 2, stopped);
        sqlite3_bind_int64(q, 3, (sqlite3_int64)time(NULL));
        r = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(q);
    return r == SQLITE_OK ? 0 : -EIO;
}

int store_set_stopped(struct store *st, const char *service, bool stopped)
{
    sqlite3 *db = use(st);
    return db ? set_stopped(db, service, stopped) : -EIO;
}

/* Commit, then give the page cache back: writes come a few at a time, at
 * human rates, and what they touch is in the OS's cache anyway; kept, it was
 * a quarter of a megabyte of an idle corral. */
static int commit(sqlite3 *db)
{
    if (sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK)
        return -EIO;
    (void)sqlite3_db_release_memory(db);
    return 0;
}

int store_save_stopped(struct store *st, const char *const *names, const bool *stopped, size_t n)
{
    sqlite3 *db = use(st);
    int r;
    if (!db)
        return -EIO;
    r = sqlite3_exec(db, "BEGIN IMMEDIATE;", NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
    for (size_t i = 0; r == 0 && i < n; i++)
        r = set_stopped(db, names[i], stopped[i]);
    if (r == 0 && commit(db) == 0)
        return 0;
    sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
    return -EIO;
}

int store_each_stopped(struct store *st, void (*fn)(void *ctx, const char *service), void *ctx)
{
    sqlite3 *db = use(st);
    sqlite3_stmt *q;
    int r;
    if (!db)
        return -EIO;
    r = sqlite3_prepare_v2(db, "SELECT name FROM service_wish WHERE stopped = 1", -1, &q, NULL);
    while (r == SQLITE_OK && (r = sqlite3_step(q)) == SQLITE_ROW) {
        fn(ctx, (const char *)sqlite3_column_text(q, 0));
        r = SQLITE_OK;
    }
    sqlite3_finalize(q);
    return r == SQLITE_DONE ? 0 : -EIO;
}

static int save_run(sqlite3_stmt *q, const struct store_run *r, sqlite3_int64 now)
{
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, r->service, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, r->instance, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, r->boot_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, r->pid);
    sqlite3_bind_int64(q, 5, (sqlite3_int64)r->start_ticks);
    sqlite3_bind_int64(q, 6, r->pgid);
    sqlite3_bind_text(q, 7, r->cgroup ? r->cgroup : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 8, r->started_at_ms);
    sqlite3_bind_int64(q, 9, r->runs);
    sqlite3_bind_int64(q, 10, r->restarts);
    if (r->exited)
        sqlite3_bind_int(q, 11, r->last_exit);
    else
        sqlite3_bind_null(q, 11);
    sqlite3_bind_text(q, 12, r->reason ? r->reason : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 13, now);
    sqlite3_bind_int(q, 14, r->ready);
    sqlite3_bind_text(q, 15, r->state ? r->state : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 16, r->due_at_ms);
    sqlite3_bind_int64(q, 17, r->attempt);
    sqlite3_bind_text(q, 18, r->restarts_at ? r->restarts_at : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 19, r->gave_up);
    sqlite3_bind_int(q, 20, r->stop_then_start);
    sqlite3_bind_text(q, 21, r->settings ? r->settings : "", -1, SQLITE_STATIC);
    return sqlite3_step(q) == SQLITE_DONE ? 0 : -EIO;
}

int store_save_runs(struct store *st, const struct store_run *runs, size_t n)
{
    sqlite3 *db = use(st);
    sqlite3_stmt *q = NULL;
    sqlite3_int64 now = (sqlite3_int64)time(NULL);
    int r;
    if (!db)
        return -EIO;
    r = sqlite3_exec(db, "BEGIN IMMEDIATE;", NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
    if (r == 0 && sqlite3_prepare_v2(
                      db,
                      "INSERT OR REPLACE INTO service_run (name, instance, boot_id, pid, "
                      "start_ticks, pgid, cgroup, started_at, runs, restarts, last_exit, "
                      "reason, updated_at, ready, state, due_at, attempt, restarts_at, "
                      "gave_up, stop_then_start, settings) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
                      "?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
                      -1, &q, NULL) != SQLITE_OK)
        r = -EIO;
    for (size_t i = 0; r == 0 && i < n; i++)
        r = save_run(q, &runs[i], now);
    sqlite3_finalize(q);
    if (r == 0 && commit(db) == 0)
        return 0;
    sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
    return -EIO;
}

int store_drop_run(struct store *st, const char *service)
{
    sqlite3 *db = use(st);
    sqlite3_stmt *q;
    int r;
    if (!db)
        return -EIO;
    r = sqlite3_prepare_v2(db, "DELETE FROM service_run WHERE name = ?1", -1, &q, NULL);
    if (r == SQLITE_OK) {
        sqlite3_bind_text(q, 1, service, -1, SQLITE_STATIC);
        r = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(q);
    return r == SQLITE_OK ? 0 : -EIO;
}

static const char *text_col(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    return t ? (const char *)t : "";
}

/* The columns after reason, by schema, newest first. */
static const char *const run_columns[] = {
    "ready, state, due_at, attempt, restarts_at, gave_up, stop_then_start, settings",
    "ready, '', 0, 0, '', 0, 0, ''",
    "1, '', 0, 0, '', 0, 0, ''",
};

int store_each_run(struct store *st, void (*fn)(void *ctx, const struct store_run *r), void *ctx)
{
    sqlite3 *db = use(st);
    sqlite3_stmt *q = NULL;
    int r = SQLITE_ERROR;
    if (!db)
        return -EIO;
    /* A reader (doctor) of an older corral's state.db lacks the newer
     * columns: they read as their defaults. */
    for (size_t v = 0; v < sizeof(run_columns) / sizeof(*run_columns); v++) {
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "SELECT name, instance, boot_id, pid, start_ticks, pgid, cgroup, started_at, "
                 "runs, restarts, last_exit, reason, %s FROM service_run ORDER BY name",
                 run_columns[v]);
        r = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
        if (r == SQLITE_OK)
            break;
    }
    while (r == SQLITE_OK && (r = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_run run = {
            .service = text_col(q, 0),
            .instance = text_col(q, 1),
            .boot_id = text_col(q, 2),
            .pid = (pid_t)sqlite3_column_int64(q, 3),
            .start_ticks = (uint64_t)sqlite3_column_int64(q, 4),
            .pgid = (pid_t)sqlite3_column_int64(q, 5),
            .cgroup = text_col(q, 6),
            .started_at_ms = sqlite3_column_int64(q, 7),
            .runs = (unsigned)sqlite3_column_int64(q, 8),
            .restarts = (unsigned)sqlite3_column_int64(q, 9),
            .exited = sqlite3_column_type(q, 10) != SQLITE_NULL,
            .last_exit = sqlite3_column_int(q, 10),
            .reason = text_col(q, 11),
            .ready = sqlite3_column_int(q, 12) != 0,
            .state = text_col(q, 13),
            .due_at_ms = sqlite3_column_int64(q, 14),
            .attempt = (unsigned)sqlite3_column_int64(q, 15),
            .restarts_at = text_col(q, 16),
            .gave_up = sqlite3_column_int(q, 17) != 0,
            .stop_then_start = sqlite3_column_int(q, 18) != 0,
            .settings = text_col(q, 19),
        };
        fn(ctx, &run);
        r = SQLITE_OK;
    }
    sqlite3_finalize(q);
    return r == SQLITE_DONE ? 0 : -EIO;
}

/* --- the event history --------------------------------------------------------------- */

static int add_event(sqlite3_stmt *q, const struct store_event *e)
{
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)e->id);
    sqlite3_bind_int64(q, 2, e->time_ms);
    sqlite3_bind_text(q, 3, e->kind, -1, SQLITE_STATIC);
    if (e->service)
        sqlite3_bind_text(q, 4, e->service, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 4);
    if (e->pid)
        sqlite3_bind_int64(q, 5, e->pid);
    else
        sqlite3_bind_null(q, 5);
    if (e->exited)
        sqlite3_bind_int(q, 6, e->exit_code);
    else
        sqlite3_bind_null(q, 6);
    if (e->text)
        sqlite3_bind_text(q, 7, e->text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 7);
    sqlite3_bind_text(q, 8, e->json, -1, SQLITE_STATIC);
    return sqlite3_step(q) == SQLITE_DONE ? 0 : -EIO;
}

int store_events_add(struct store *st, const struct store_event *evs, size_t n, uint64_t keep)
{
    sqlite3_stmt *q = NULL;
    uint64_t last = 0;
    sqlite3 *db;
    int r;
    if (n == 0)
        return 0;
    if (!(db = use(st)))
        return -EIO;
    r = sqlite3_exec(db, "BEGIN IMMEDIATE;", NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
    if (r == 0 && sqlite3_prepare_v2(db,
                                     "INSERT INTO event (id, time_ms, kind, service, pid, "
                                     "exit_code, text, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                                     "?8)",
                                     -1, &q, NULL) != SQLITE_OK)
        r = -EIO;
    for (size_t i = 0; r == 0 && i < n; i++) {
        r = add_event(q, &evs[i]);
        if (evs[i].id > last)
            last = evs[i].id;
    }
    sqlite3_finalize(q);
    q = NULL;
    /* A range of the rowid: as cheap as the few rows it removes. */
    if (r == 0 && keep > 0 && last > keep) {
        if (sqlite3_prepare_v2(db, "DELETE FROM event WHERE id <= ?1", -1, &q, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(q, 1, (sqlite3_int64)(last - keep));
            r = sqlite3_step(q) == SQLITE_DONE ? 0 : -EIO;
        } else {
            r = -EIO;
        }
        sqlite3_finalize(q);
    }
    if (r == 0 && commit(db) == 0)
        return 0;
    snprintf(st->err, sizeof(st->err), "%s", sqlite3_errmsg(db));
    sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
    return -EIO;
}

const char *store_error(const struct store *st)
{
    return st->err[0] ? st->err : "unknown error";
}

int store_events_last_id(struct store *st, uint64_t *id)
{
    sqlite3 *db = use(st);
    sqlite3_stmt *q;
    int r;
    *id = 0;
    if (!db)
        return -EIO;
    r = sqlite3_prepare_v2(db, "SELECT max(id) FROM event", -1, &q, NULL);
    if (r == SQLITE_OK && (r = sqlite3_step(q)) == SQLITE_ROW) {
        *id = (uint64_t)sqlite3_column_int64(q, 0); /* NULL reads as 0 */
        r = SQLITE_OK;
    }
    sqlite3_finalize(q);
    return r == SQLITE_OK ? 0 : -EIO;
}

static const char *text_or_null(sqlite3_stmt *q, int i)
{
    return (const char *)sqlite3_column_text(q, i);
}

static int64_t bound(uint64_t v)
{
    return v == 0 || v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

int store_events_each(struct store *st, const struct store_event_query *qy,
                      void (*fn)(void *ctx, const struct store_event *ev), void *ctx)
{
    char sql[512 + STORE_EVENT_SERVICES_MAX * 8];
    size_t len;
    sqlite3_stmt *q;
    sqlite3 *db;
    int r, count = 0;
    if (qy->n_services > STORE_EVENT_SERVICES_MAX)
        return -EINVAL;
    if (!(db = use(st)))
        return -EIO;
    len = (size_t)snprintf(sql, sizeof(sql),
                           "SELECT id, time_ms, kind, service, pid, exit_code, text, json FROM "
                           "event WHERE id > ?1 AND id < ?2 AND time_ms >= ?3 AND time_ms < ?4");
    for (size_t i = 0; i < qy->n_services; i++)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s?%zu",
                                i ? ", " : " AND service IN (", i + 6);
    snprintf(sql + len, sizeof(sql) - len, "%s ORDER BY id DESC LIMIT ?5",
             qy->n_services ? ")" : "");
    r = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
    if (r == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, qy->after_id > INT64_MAX ? INT64_MAX : (int64_t)qy->after_id);
        sqlite3_bind_int64(q, 2, bound(qy->before_id));
        sqlite3_bind_int64(q, 3, qy->from_ms);
        sqlite3_bind_int64(q, 4, qy->has_to ? qy->to_ms : INT64_MAX);
        sqlite3_bind_int64(q, 5, qy->limit ? bound(qy->limit) : -1);
        for (size_t i = 0; i < qy->n_services; i++)
            sqlite3_bind_text(q, (int)i + 6, qy->services[i], -1, SQLITE_STATIC);
    }
    while (r == SQLITE_OK && (r = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_event ev = {
            .id = (uint64_t)sqlite3_column_int64(q, 0),
            .time_ms = sqlite3_column_int64(q, 1),
            .kind = text_col(q, 2),
            .service = text_or_null(q, 3),
            .pid = (pid_t)sqlite3_column_int64(q, 4),
            .exited = sqlite3_column_type(q, 5) != SQLITE_NULL,
            .exit_code = sqlite3_column_int(q, 5),
            .text = text_or_null(q, 6),
            .json = text_col(q, 7),
        };
        fn(ctx, &ev);
        count++;
        r = SQLITE_OK;
    }
    sqlite3_finalize(q);
    return r == SQLITE_DONE ? count : -EIO;
}

/* A path as an SQLite URI: every byte but the unreserved ones %-encoded. */
static int uri_path(const char *path, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || strchr("/._-~", *p);
        if (n + 4 >= size)
            return -ENAMETOOLONG;
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
    return 0;
}

struct store *store_open_readonly(const char *state_dir, bool live, struct diag *dg)
{
    char path[4096], wal[4104], enc[3 * 4096], uri[3 * 4096 + 64], why[256];
    struct store *st;
    snprintf(path, sizeof(path), "%s/state.db", state_dir);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    if (uri_path(path, enc, sizeof(enc)) < 0) {
        diag_set(dg, -ENAMETOOLONG, "%s: path too long", path);
        return NULL;
    }
    /* Without a WAL, a read-only connection would still create -wal and -shm
     * files and leave them behind; immutable reads the file as it is. With
     * one (a corral died, or runs), the WAL holds the latest state and its
     * -shm is there already. A live corral whose store rests has no WAL, but
     * its next checkpoint would write the file under an immutable reader. */
    snprintf(uri, sizeof(uri), "file:%s?mode=ro%s", enc,
             live || access(wal, F_OK) == 0 ? "" : "&immutable=1");
    st = store_new(uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, dg);
    if (!st)
        return NULL;
    if (wake(st, why, sizeof(why)) != SQLITE_OK) {
        diag_set(dg, -EIO, "%s: %s", path, why);
        store_close(st);
        return NULL;
    }
    return st;
}

int store_check(struct store *st, int *schema_version, char *why, size_t size)
{
    sqlite3 *db;
    *schema_version = -1;
    if (!st->db && wake(st, why, size) != SQLITE_OK)
        return -EIO;
    db = use(st);
    if (user_version(db, schema_version) != SQLITE_OK) {
        snprintf(why, size, "%s", sqlite3_errmsg(db));
        return -EIO;
    }
    if (!integrity_ok(db)) {
        snprintf(why, size, "integrity check failed");
        return -EIO;
    }
    if (*schema_version > STORE_SCHEMA_VERSION) {
        snprintf(why, size, "schema %d is newer than this corral's %d", *schema_version,
                 STORE_SCHEMA_VERSION);
        return -EIO;
    }
    why[0] = '\0';
    return 0;
}
