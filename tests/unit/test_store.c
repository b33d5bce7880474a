/* test_store.c — state.db: kept across opens, and every kind of unusable file
 * moved aside for a fresh one. */
#include "store/store.h"

#include <fcntl.h>
#include <setjmp.h>
#include <sqlite3.h>
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
    snprintf(line, sizeof(line), "%s %s %s %d %llu %d %s %lld %u %u %d:%d %s;", r->service,
             r->instance, r->boot_id, (int)r->pid, (unsigned long long)r->start_ticks, (int)r->pgid,
             r->cgroup, (long long)r->started_at_ms, r->runs, r->restarts, r->exited, r->last_exit,
             r->reason);
    strcat(out, line);
}

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
         .reason = "killed by SIGKILL"},
        {.service = "db",
         .instance = "i1",
         .boot_id = "b",
         .pid = 43,
         .start_ticks = 8,
         .pgid = 43,
         .runs = 1},
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
    assert_string_equal(got,
                        "db i1 b 0 8 43  0 1 0 1:0 ;"
                        "web i1 b 42 7 42 /sys/fs/cgroup/x/web 1000 2 1 1:137 killed by SIGKILL;");
    assert_int_equal(store_drop_run(st, "web"), 0);
    got[0] = '\0';
    assert_int_equal(store_each_run(st, collect_run, got), 0);
    assert_string_equal(got, "db i1 b 0 8 43  0 1 0 1:0 ;");
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
    sqlite3 *h;
    (void)state;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "PRAGMA user_version = 99;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
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
        if (sqlite3_open(db, &h) != SQLITE_OK ||
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(stops_survive_a_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(runs_survive_a_reopen_and_are_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(garbage_is_moved_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(truncated_is_moved_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(newer_schema_is_moved_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(locked_by_another_process_is_moved_aside, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
