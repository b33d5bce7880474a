/* test_store.c — state.db: kept across opens, and every kind of unusable file
 * moved aside for a fresh one. */
#include "store/sqlfn.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
/* cmocka.h uses setjmp.h, stdarg.h and stddef.h without including them. */
#include <cmocka.h>

static char dir[64];
static char db[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/corral-store-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(db, sizeof(db), "%s/state.db", dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* SQLite for the test's own changes to state.db, loaded as the store loads
 * it (the test links no more of it than corral does). SQLITE_OK or not. */
static int raw_open(sqlite3 **h)
{
    char why[256];
    *h = NULL;
    if (sql_fns_load(why, sizeof(why)) < 0)
        return SQLITE_ERROR;
    return sqlite3_open_v2(db, h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
}

static void raw_close(sqlite3 *h)
{
    sqlite3_close(h);
    sql_fns_unload();
}

static void raw_exec(const char *sql)
{
    sqlite3 *h;
    assert_int_equal(raw_open(&h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    raw_close(h);
}

static void collect(void *ctx, const char *service)
{
    char *out = ctx;
    strcat(out, service);
    strcat(out, " ");
}

static struct store *open_ok(char *aside)
{
    struct diag dg;
    struct store *st = store_open(dir, aside, 512, &dg);
    assert_non_null(st);
    return st;
}

static void stops_survive_a_reopen(void **state)
{
    char aside[512], got[256] = "";
    const char *names[] = {"web", "db", "cron"};
    bool stopped[] = {true, false, true};
    struct store *st;
    (void)state;
    st = open_ok(aside);
    assert_string_equal(aside, "");
    assert_int_equal(store_save_stopped(st, names, stopped, 3), 0);
    assert_int_equal(store_set_stopped(st, "cron", false), 0);
    store_close(st);
    st = open_ok(aside);
    assert_string_equal(aside, "");
    assert_int_equal(store_each_stopped(st, collect, got), 0);
    assert_string_equal(got, "web ");
    store_close(st);
}

static void collect_run(void *ctx, const struct store_run *r)
{
    char *out = ctx;
    char line[512];
    snprintf(line, sizeof(line),
             "%s %s %s %d %llu %d %s %lld %u %u %d:%d %s r%d [%s %lld a%u w%s g%d t%d h%s];",
             r->service, r->instance, r->boot_id, (int)r->pid, (unsigned long long)r->start_ticks,
             (int)r->pgid, r->cgroup, (long long)r->started_at_ms, r->runs, r->restarts, r->exited,
             r->last_exit, r->reason, r->ready, r->state, (long long)r->due_at_ms, r->attempt,
             r->restarts_at, r->gave_up, r->stop_then_start, r->settings);
    strcat(out, line);
}

/* What schema 5 added, dropped again to make an older database. */
#define DROP_SCHEMA_5                                                                              \
    "ALTER TABLE service_run DROP COLUMN state; ALTER TABLE service_run DROP COLUMN due_at; "      \
    "ALTER TABLE service_run DROP COLUMN attempt; "                                                \
    "ALTER TABLE service_run DROP COLUMN restarts_at; "                                            \
    "ALTER TABLE service_run DROP COLUMN gave_up; "                                                \
    "ALTER TABLE service_run DROP COLUMN stop_then_start; "                                        \
    "ALTER TABLE service_run DROP COLUMN settings; "

static void runs_survive_a_reopen_and_are_replaced(void **state)
{
    char aside[512], got[1024] = "";
    struct store_run runs[] = {
        {.service = "web",
         .instance = "i1",
         .boot_id = "b",
         .pid = 42,
         .start_ticks = 7,
         .pgid = 42,
         .cgroup = "/sys/fs/cgroup/x/web",
         .started_at_ms = 1000,
         .runs = 2,
         .restarts = 1,
         .exited = true,
         .last_exit = 137,
         .reason = "killed by SIGKILL",
         .ready = true,
         .state = "running",
         .stop_then_start = true},
        {.service = "db",
         .instance = "i1",
         .boot_id = "b",
         .pid = 43,
         .start_ticks = 8,
         .pgid = 43,
         .runs = 1,
         .state = "backoff",
         .due_at_ms = 5000,
         .attempt = 3,
         .restarts_at = "1,2,3",
         .gave_up = true,
         .settings = "0123456789abcdef"},
    };
    struct store *st;
    (void)state;
    st = open_ok(aside);
    assert_int_equal(store_save_runs(st, runs, 2), 0);
    runs[1].pid = 0; /* its tree emptied */
    runs[1].exited = true;
    assert_int_equal(store_save_runs(st, &runs[1], 1), 0);
    store_close(st);
    st = open_ok(aside);
    assert_int_equal(store_each_run(st, collect_run, got), 0);
    assert_string_equal(got, "db i1 b 0 8 43  0 1 0 1:0  r0 [backoff 5000 a3 w1,2,3 g1 t0 "
                             "h0123456789abcdef];"
                             "web i1 b 42 7 42 /sys/fs/cgroup/x/web 1000 2 1 1:137 killed by "
                             "SIGKILL r1 [running 0 a0 w g0 t1 h];");
    assert_int_equal(store_drop_run(st, "web"), 0);
    got[0] = '\0';
    assert_int_equal(store_each_run(st, collect_run, got), 0);
    assert_string_equal(got, "db i1 b 0 8 43  0 1 0 1:0  r0 [backoff 5000 a3 w1,2,3 g1 t0 "
                             "h0123456789abcdef];");
    store_close(st);
}

/* A run recorded before schema 4 had no ready column: it reads as ready, as
 * such runs were adopted before. */
static void schema_3_runs_read_as_ready(void **state)
{
    char aside[512], got[1024] = "";
    struct store_run run = {.service = "web", .instance = "i", .boot_id = "b", .pid = 9};
    struct store *st;
    (void)state;
    st = open_ok(aside);
    assert_int_equal(store_save_runs(st, &run, 1), 0);
    store_close(st);
    raw_exec(DROP_SCHEMA_5 "ALTER TABLE service_run DROP COLUMN ready; PRAGMA user_version = 3;");
    st = open_ok(aside);
    assert_string_equal(aside, "");
    assert_int_equal(store_each_run(st, collect_run, got), 0);
    assert_non_null(strstr(got, " r1 ["));
    store_close(st);
}

static void write_file(const char *text, size_t len)
{
    int fd = open(db, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static void expect_moved_aside(const char *why)
{
    char aside[512], got[64] = "";
    struct store *st = open_ok(aside);
    assert_non_null(strstr(aside, "moved to"));
    assert_non_null(strstr(aside, why));
    assert_int_equal(store_each_stopped(st, collect, got), 0);
    assert_string_equal(got, "");
    assert_int_equal(store_set_stopped(st, "web", true), 0);
    store_close(st);
}

static void garbage_is_moved_aside(void **state)
{
    (void)state;
    static const char junk[] = "this is not a database, just text long enough to look like one";
    write_file(junk, sizeof(junk) - 1);
    expect_moved_aside("not a database");
}

static void truncated_is_moved_aside(void **state)
{
    char aside[512];
    struct store *st;
    FILE *f;
    long size;
    (void)state;
    st = open_ok(aside);
    for (int i = 0; i < 200; i++) {
        char name[32];
        snprintf(name, sizeof(name), "service-%d", i);
        assert_int_equal(store_set_stopped(st, name, true), 0);
    }
    store_close(st); /* checkpoints the WAL into the file */
    f = fopen(db, "r+");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fclose(f);
    assert_true(size > 4096);
    assert_int_equal(truncate(db, 1000), 0);
    expect_moved_aside("");
}

static void newer_schema_is_moved_aside(void **state)
{
    (void)state;
    raw_exec("PRAGMA user_version = 99;");
    expect_moved_aside("newer");
}

static void locked_by_another_process_is_moved_aside(void **state)
{
    int ready[2], go[2];
    pid_t pid;
    char c;
    (void)state;
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sqlite3 *h;
        close(ready[0]);
        close(go[1]);
        if (raw_open(&h) != SQLITE_OK ||
            sqlite3_exec(h, "PRAGMA journal_mode = DELETE; BEGIN EXCLUSIVE;", NULL, NULL, NULL) !=
                SQLITE_OK)
            _exit(1);
        (void)!write(ready[1], "r", 1);
        (void)!read(go[0], &c, 1);
        _exit(0);
    }
    close(ready[1]);
    close(go[0]);
    assert_int_equal(read(ready[0], &c, 1), 1);
    expect_moved_aside("locked");
    (void)!write(go[1], "g", 1);
    waitpid(pid, NULL, 0);
}

/* --- the event history --------------------------------------------------------------- */

static struct store_event event_at(uint64_t id, char *json, size_t size)
{
    static const char *const services[] = {"web", "db", NULL};
    struct store_event e = {
        .id = id,
        .time_ms = 1000 * (int64_t)id,
        .kind = id % 2 ? "started" : "exited",
        .service = services[id % 3],
        .pid = id % 2 ? (pid_t)(100 + id) : 0,
        .exited = id % 2 == 0,
        .exit_code = (int)id,
        .text = id % 2 ? NULL : "exited 1",
    };
    snprintf(json, size, "{\"id\":%llu}", (unsigned long long)id);
    e.json = json;
    return e;
}

static int add_range(struct store *st, uint64_t from, uint64_t to, uint64_t keep)
{
    struct store_event evs[64];
    char json[64][32];
    size_t n = 0;
    for (uint64_t id = from; id <= to && n < 64; id++, n++)
        evs[n] = event_at(id, json[n], sizeof(json[n]));
    return store_events_add(st, evs, n, keep);
}

static void collect_event(void *ctx, const struct store_event *e)
{
    char *out = ctx;
    char line[160];
    snprintf(line, sizeof(line), "%llu", (unsigned long long)e->id);
    if (strlen(out) + strlen(line) + 2 < 512) {
        strcat(out, line);
        strcat(out, " ");
    }
}

static void check_event_fields(void *ctx, const struct store_event *e)
{
    char json[32];
    struct store_event want = event_at(e->id, json, sizeof(json));
    (void)ctx;
    assert_int_equal(e->time_ms, want.time_ms);
    assert_string_equal(e->kind, want.kind);
    if (want.service)
        assert_string_equal(e->service, want.service);
    else
        assert_null(e->service);
    assert_int_equal(e->pid, want.pid);
    assert_int_equal(e->exited, want.exited);
    if (want.exited)
        assert_int_equal(e->exit_code, want.exit_code);
    if (want.text)
        assert_string_equal(e->text, want.text);
    else
        assert_null(e->text);
    assert_string_equal(e->json, json);
}

static int query(struct store *st, const struct store_event_query *q, char *got)
{
    got[0] = '\0';
    return store_events_each(st, q, collect_event, got);
}

static void events_are_kept_bounded_across_a_reopen(void **state)
{
    char aside[512], got[512];
    struct store_event_query all = {0};
    struct store *st;
    uint64_t last;
    (void)state;
    st = open_ok(aside);
    assert_int_equal(store_events_last_id(st, &last), 0);
    assert_int_equal(last, 0);
    assert_int_equal(store_events_add(st, NULL, 0, 5), 0);
    assert_int_equal(add_range(st, 1, 10, 12), 0);
    assert_int_equal(add_range(st, 11, 20, 12), 0);
    assert_int_equal(add_range(st, 21, 25, 12), 0);
    store_close(st);
    st = open_ok(aside);
    assert_int_equal(store_events_last_id(st, &last), 0);
    assert_int_equal(last, 25);
    assert_int_equal(query(st, &all, got), 12);
    assert_string_equal(got, "25 24 23 22 21 20 19 18 17 16 15 14 ");
    assert_int_equal(store_events_each(st, &all, check_event_fields, NULL), 12);
    /* An id taken twice fails the whole batch: nothing of it is written. */
    assert_int_equal(add_range(st, 25, 27, 12), -EIO);
    assert_int_equal(store_events_last_id(st, &last), 0);
    assert_int_equal(last, 25);
    /* A smaller bound applies at the next write. */
    assert_int_equal(add_range(st, 26, 26, 3), 0);
    assert_int_equal(query(st, &all, got), 3);
    assert_string_equal(got, "26 25 24 ");
    store_close(st);
}

static void events_are_filtered(void **state)
{
    char aside[512], got[512];
    const char *web[] = {"web"}, *both[] = {"web", "db"};
    const char *many[STORE_EVENT_SERVICES_MAX + 1];
    struct store *st;
    (void)state;
    st = open_ok(aside);
    assert_int_equal(add_range(st, 1, 30, 1000), 0);
    assert_int_equal(query(st, &(struct store_event_query){.after_id = 25}, got), 5);
    assert_string_equal(got, "30 29 28 27 26 ");
    assert_int_equal(query(st, &(struct store_event_query){.after_id = 2, .before_id = 6}, got), 3);
    assert_string_equal(got, "5 4 3 ");
    /* Times: from inclusive, to exclusive. */
    assert_int_equal(query(st, &(struct store_event_query){.from_ms = 27000}, got), 4);
    assert_string_equal(got, "30 29 28 27 ");
    assert_int_equal(
        query(st, &(struct store_event_query){.from_ms = 3000, .to_ms = 5000, .has_to = 1}, got),
        2);
    assert_string_equal(got, "4 3 ");
    /* A bound at the epoch is one: nothing before it. */
    assert_int_equal(query(st, &(struct store_event_query){.to_ms = 0, .has_to = true}, got), 0);
    assert_int_equal(query(st, &(struct store_event_query){.to_ms = 5000}, got), 30);
    /* The newest of those that match. */
    assert_int_equal(query(st, &(struct store_event_query){.limit = 3}, got), 3);
    assert_string_equal(got, "30 29 28 ");
    assert_int_equal(query(st, &(struct store_event_query){.after_id = 10, .limit = 2}, got), 2);
    assert_string_equal(got, "30 29 ");
    /* Services; corral's own events (no service) only without the filter. */
    assert_int_equal(
        query(st, &(struct store_event_query){.services = web, .n_services = 1, .after_id = 20},
              got),
        4);
    assert_string_equal(got, "30 27 24 21 ");
    assert_int_equal(
        query(st, &(struct store_event_query){.services = both, .n_services = 2, .after_id = 24},
              got),
        4);
    assert_string_equal(got, "30 28 27 25 ");
    for (size_t i = 0; i <= STORE_EVENT_SERVICES_MAX; i++)
        many[i] = "web";
    assert_int_equal(
        query(st,
              &(struct store_event_query){.services = many, .n_services = STORE_EVENT_SERVICES_MAX},
              got),
        10);
    assert_int_equal(query(st,
                           &(struct store_event_query){.services = many,
                                                       .n_services = STORE_EVENT_SERVICES_MAX + 1},
                           got),
                     -EINVAL);
    store_close(st);
}

static void schema_2_gains_the_event_table(void **state)
{
    char aside[512], got[256] = "";
    const char *names[] = {"web"};
    bool stopped[] = {true};
    struct store *st;
    (void)state;
    st = open_ok(aside);
    assert_int_equal(store_save_stopped(st, names, stopped, 1), 0);
    store_close(st);
    raw_exec(DROP_SCHEMA_5 "DROP TABLE event; ALTER TABLE service_run DROP COLUMN ready; "
                           "PRAGMA user_version = 2;");
    st = open_ok(aside);
    assert_string_equal(aside, "");
    assert_int_equal(store_each_stopped(st, collect, got), 0);
    assert_string_equal(got, "web ");
    assert_int_equal(add_range(st, 1, 2, 10), 0);
    store_close(st);
}

/* A database another process holds fails a batch (after the busy timeout)
 * without harm; the next batch, once it is free, is written. */
static void a_locked_database_fails_one_batch(void **state)
{
    int ready[2], go[2];
    char aside[512], got[512], c;
    struct store *st;
    uint64_t last;
    pid_t pid;
    (void)state;
    st = open_ok(aside);
    assert_int_equal(add_range(st, 1, 3, 100), 0);
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sqlite3 *h;
        close(ready[0]);
        close(go[1]);
        if (raw_open(&h) != SQLITE_OK ||
            sqlite3_exec(h, "BEGIN IMMEDIATE;", NULL, NULL, NULL) != SQLITE_OK)
            _exit(1);
        (void)!write(ready[1], "r", 1);
        (void)!read(go[0], &c, 1);
        _exit(0);
    }
    close(ready[1]);
    close(go[0]);
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(add_range(st, 4, 5, 100), -EIO);
    (void)!write(go[1], "g", 1);
    waitpid(pid, NULL, 0);
    assert_int_equal(add_range(st, 6, 7, 100), 0);
    assert_int_equal(store_events_last_id(st, &last), 0);
    assert_int_equal(last, 7);
    assert_int_equal(query(st, &(struct store_event_query){0}, got), 5);
    assert_string_equal(got, "7 6 3 2 1 ");
    store_close(st);
    close(ready[0]);
    close(go[1]);
}

/* --- resting: the connection closed and SQLite unloaded between uses ------------------ */

static bool sqlite_mapped(void)
{
    char line[4096];
    bool found = false;
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f))
        found = found || strstr(line, "libsqlite3") != NULL;
    fclose(f);
    return found;
}

static int open_fds(void)
{
    char path[64];
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) {
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        n += access(path, F_OK) == 0;
    }
    return n;
}

static void count_use(void *ctx)
{
    (*(int *)ctx)++;
}

static void rest_unloads_sqlite(void **state)
{
    char aside[512];
    struct store *st, *other;
    uint64_t last;
    int uses = 0;
    (void)state;
    assert_false(sqlite_mapped()); /* the test links none of it either */
    st = open_ok(aside);
    assert_true(sqlite_mapped());
    store_rest(st);
    assert_false(sqlite_mapped());
    store_rest(st); /* resting twice is resting */
    assert_false(sqlite_mapped());
    store_set_on_use(st, count_use, &uses);
    assert_int_equal(store_events_last_id(st, &last), 0);
    assert_true(sqlite_mapped());
    assert_int_equal(uses, 1);
    /* A second store keeps it loaded until both rest. */
    other = open_ok(aside);
    store_rest(st);
    assert_true(sqlite_mapped());
    store_rest(other);
    assert_false(sqlite_mapped());
    assert_int_equal(uses, 1); /* resting is no use */
    store_close(other);
    /* Closing a resting store loads nothing. */
    store_close(st);
    assert_false(sqlite_mapped());
}

/* Data written before a rest is read after it, each kind of operation
 * waking the store by itself. */
static void every_operation_wakes_a_resting_store(void **state)
{
    char aside[512], got[1024] = "";
    const char *names[] = {"web", "db"};
    bool stopped[] = {true, true};
    struct store_run run = {.service = "web", .instance = "i", .boot_id = "b", .pid = 7, .runs = 1};
    struct store *st;
    uint64_t last;
    int uses = 0;
    (void)state;
    st = open_ok(aside);
    store_set_on_use(st, count_use, &uses);
    store_rest(st);
    assert_int_equal(store_save_stopped(st, names, stopped, 2), 0);
    store_rest(st);
    assert_int_equal(store_set_stopped(st, "db", false), 0);
    store_rest(st);
    assert_int_equal(store_save_runs(st, &run, 1), 0);
    store_rest(st);
    run.service = "db";
    assert_int_equal(store_save_runs(st, &run, 1), 0);
    store_rest(st);
    assert_int_equal(store_drop_run(st, "db"), 0);
    store_rest(st);
    assert_int_equal(add_range(st, 1, 5, 100), 0);
    store_rest(st);
    assert_false(sqlite_mapped());
    assert_int_equal(uses, 6);

    assert_int_equal(store_each_stopped(st, collect, got), 0);
    assert_string_equal(got, "web ");
    store_rest(st);
    got[0] = '\0';
    assert_int_equal(store_each_run(st, collect_run, got), 0);
    assert_string_equal(got, "web i b 7 0 0  0 1 0 0:0  r0 [ 0 a0 w g0 t0 h];");
    store_rest(st);
    assert_int_equal(store_events_last_id(st, &last), 0);
    assert_int_equal(last, 5);
    store_rest(st);
    assert_int_equal(query(st, &(struct store_event_query){.limit = 2}, got), 2);
    assert_string_equal(got, "5 4 ");
    store_rest(st);
    assert_int_equal(uses, 10);
    assert_false(sqlite_mapped());
    store_close(st);

    /* And by a new corral: the rests checkpointed everything into the file. */
    st = open_ok(aside);
    assert_string_equal(aside, "");
    got[0] = '\0';
    assert_int_equal(store_each_stopped(st, collect, got), 0);
    assert_string_equal(got, "web ");
    assert_int_equal(store_events_last_id(st, &last), 0);
    assert_int_equal(last, 5);
    store_close(st);
}

static void many_rests_keep_working(void **state)
{
    char aside[512], got[512];
    struct store *st;
    uint64_t last;
    int fds;
    (void)state;
    st = open_ok(aside);
    store_rest(st);
    fds = open_fds();
    for (uint64_t id = 1; id <= 300; id++) {
        assert_int_equal(add_range(st, id, id, 50), 0);
        if (id % 3 == 0)
            assert_int_equal(store_set_stopped(st, "web", id % 2), 0);
        store_rest(st);
        assert_int_equal(store_events_last_id(st, &last), 0);
        assert_int_equal(last, id);
        store_rest(st);
    }
    assert_int_equal(open_fds(), fds); /* nothing left open by the cycles */
    assert_false(sqlite_mapped());
    assert_int_equal(query(st, &(struct store_event_query){.limit = 3}, got), 3);
    assert_string_equal(got, "300 299 298 ");
    assert_int_equal(query(st, &(struct store_event_query){0}, got), 50);
    store_close(st);
}

static void on_remade(void *ctx, const char *what)
{
    snprintf(ctx, 512, "%s", what);
}

/* A resting store whose file went away is made afresh at its next use, with
 * its schema, and says so; what the old one held is gone. */
static void a_store_whose_file_went_away_is_made_again(void **state)
{
    char aside[512], got[64] = "", said[512] = "";
    struct store *st;
    (void)state;
    st = open_ok(aside);
    store_set_on_remade(st, on_remade, said);
    assert_int_equal(store_set_stopped(st, "web", true), 0);
    store_rest(st);
    assert_int_equal(unlink(db), 0);
    assert_int_equal(store_set_stopped(st, "db", true), 0);
    assert_non_null(strstr(said, "was removed while corral runs; made afresh"));
    assert_int_equal(store_each_stopped(st, collect, got), 0);
    assert_string_equal(got, "db ");
    store_close(st);
    assert_false(sqlite_mapped());
}

/* One overwritten with what is no database is moved aside first. */
static void a_store_overwritten_is_moved_aside_and_made_again(void **state)
{
    char aside[512], got[64] = "", said[512] = "";
    struct store *st;
    FILE *f;
    (void)state;
    st = open_ok(aside);
    store_set_on_remade(st, on_remade, said);
    assert_int_equal(store_set_stopped(st, "web", true), 0);
    store_rest(st);
    assert_int_equal(unlink(db), 0);
    f = fopen(db, "w");
    assert_non_null(f);
    for (int i = 0; i < 100; i++)
        fputs("not a database\n", f);
    fclose(f);
    assert_int_equal(store_set_stopped(st, "db", true), 0);
    assert_non_null(strstr(said, "was unusable"));
    assert_non_null(strstr(said, "moved to"));
    assert_int_equal(store_each_stopped(st, collect, got), 0);
    assert_string_equal(got, "db ");
    store_close(st);
}

/* A reader (doctor's) never makes one: a missing file stays missing. */
static void a_reader_makes_no_database(void **state)
{
    char aside[512], why[256];
    struct store *st;
    struct diag dg;
    int v;
    (void)state;
    st = open_ok(aside);
    store_close(st);
    st = store_open_readonly(dir, false, &dg);
    assert_non_null(st);
    store_rest(st);
    assert_int_equal(unlink(db), 0);
    assert_int_equal(store_check(st, &v, why, sizeof(why)), -EIO);
    assert_int_equal(access(db, F_OK), -1);
    store_close(st);
    assert_false(sqlite_mapped());
}

/* doctor, reading a schema 4 database an older corral left: the columns of
 * schema 5 read as their defaults, nothing is migrated. */
static void a_reader_of_schema_4_gets_defaults(void **state)
{
    char aside[512], got[512] = "";
    struct store_run run = {.service = "web",
                            .instance = "i",
                            .boot_id = "b",
                            .pid = 9,
                            .ready = true,
                            .state = "running"};
    struct store *st;
    struct diag dg;
    (void)state;
    st = open_ok(aside);
    assert_int_equal(store_save_runs(st, &run, 1), 0);
    store_close(st);
    raw_exec(DROP_SCHEMA_5 "PRAGMA user_version = 4;");
    st = store_open_readonly(dir, false, &dg);
    assert_non_null(st);
    assert_int_equal(store_each_run(st, collect_run, got), 0);
    assert_string_equal(got, "web i b 9 0 0  0 0 0 0:0  r1 [ 0 a0 w g0 t0 h];");
    store_close(st);
}

static void a_readonly_store_rests(void **state)
{
    char aside[512], why[256];
    struct store *st;
    struct diag dg;
    int v;
    (void)state;
    st = open_ok(aside);
    assert_int_equal(store_set_stopped(st, "web", true), 0);
    store_close(st);
    st = store_open_readonly(dir, false, &dg);
    assert_non_null(st);
    store_rest(st);
    assert_false(sqlite_mapped());
    assert_int_equal(store_check(st, &v, why, sizeof(why)), 0);
    assert_int_equal(v, STORE_SCHEMA_VERSION);
    store_close(st);
    assert_false(sqlite_mapped());
}

/* A read-only store of a live corral sees what that corral wrote after the
 * reader opened, though there was no WAL at the time: immutable would read
 * the file alone, and a checkpoint could change it under the reader. */
static void a_live_readonly_store_reads_through_the_locks(void **state)
{
    char aside[512], got[64] = "";
    struct store *st, *ro;
    struct diag dg;
    (void)state;
    st = open_ok(aside);
    assert_int_equal(store_set_stopped(st, "web", true), 0);
    store_rest(st); /* no WAL left */
    ro = store_open_readonly(dir, true, &dg);
    assert_non_null(ro);
    assert_int_equal(store_set_stopped(st, "db", true), 0); /* into the WAL */
    assert_int_equal(store_each_stopped(ro, collect, got), 0);
    assert_string_equal(got, "web db ");
    store_close(ro);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(stops_survive_a_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(runs_survive_a_reopen_and_are_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(schema_3_runs_read_as_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(garbage_is_moved_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(truncated_is_moved_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(newer_schema_is_moved_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(locked_by_another_process_is_moved_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(events_are_kept_bounded_across_a_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(events_are_filtered, setup, teardown),
        cmocka_unit_test_setup_teardown(schema_2_gains_the_event_table, setup, teardown),
        cmocka_unit_test_setup_teardown(a_locked_database_fails_one_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(rest_unloads_sqlite, setup, teardown),
        cmocka_unit_test_setup_teardown(every_operation_wakes_a_resting_store, setup, teardown),
        cmocka_unit_test_setup_teardown(many_rests_keep_working, setup, teardown),
        cmocka_unit_test_setup_teardown(a_store_whose_file_went_away_is_made_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_store_overwritten_is_moved_aside_and_made_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_reader_makes_no_database, setup, teardown),
        cmocka_unit_test_setup_teardown(a_reader_of_schema_4_gets_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(a_readonly_store_rests, setup, teardown),
        cmocka_unit_test_setup_teardown(a_live_readonly_store_reads_through_the_locks, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
