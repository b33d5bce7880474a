/* test_doctor.c — doctor's pure pieces: the orphan rule, the reparenting
 * rule, /proc text parsers, the report's JSON and table, and a read-only
 * look at state.db that changes nothing on disk. */
#include "cli/report.h"
#include "proc/scan.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
/* cmocka.h uses setjmp.h, stdarg.h and stddef.h without including them. */
#include <cmocka.h>

static void orphan_rule(void **state)
{
    (void)state;
    assert_non_null(report_orphan_why(false, "running"));
    assert_non_null(report_orphan_why(false, NULL));
    assert_null(report_orphan_why(true, "running"));
    assert_null(report_orphan_why(true, "starting"));
    assert_null(report_orphan_why(true, "stopping"));
    /* A ready or unhealthy service's main process runs: never an orphan. */
    assert_null(report_orphan_why(true, "ready"));
    assert_null(report_orphan_why(true, "unhealthy"));
    assert_non_null(report_orphan_why(true, "stopped"));
    assert_non_null(report_orphan_why(true, "failed"));
    assert_non_null(report_orphan_why(true, "backoff"));
    assert_string_equal(report_orphan_why(true, NULL),
                        "its service is not configured in the running corral");
}

static void reparenting_rule(void **state)
{
    struct proc_entry shell = {.pid = 100, .ppid = 90, .sid = 100};
    struct proc_entry child = {.pid = 200, .ppid = 100, .sid = 100};
    struct proc_entry orphan = {.pid = 300, .ppid = 1, .sid = 100};
    struct proc_entry daemon = {.pid = 400, .ppid = 1, .sid = 400};
    struct proc_entry reaper = {.pid = 50, .ppid = 1, .sid = 50};
    struct proc_entry subreaped = {.pid = 500, .ppid = 50, .sid = 100};
    (void)state;
    assert_false(proc_entry_reparented(&child, &shell));
    assert_true(proc_entry_reparented(&orphan, NULL));
    assert_false(proc_entry_reparented(&daemon, NULL)); /* started by init, leads a session */
    assert_true(proc_entry_reparented(&subreaped, &reaper));
    assert_false(proc_entry_reparented(&shell, NULL)); /* a session leader */
}

static void parsers(void **state)
{
    char comm[17];
    uint64_t ns;
    (void)state;
    assert_int_equal(proc_comm_parse("42 (a (b) c) S 1 42 42 0", comm, sizeof(comm)), 0);
    assert_string_equal(comm, "a (b) c");
    assert_int_equal(proc_comm_parse("garbage", comm, sizeof(comm)), -EINVAL);
    assert_int_equal(proc_schedstat_parse("577921366 14842897 80\n", &ns), 0);
    assert_int_equal(ns, 577921366ULL);
    assert_int_equal(proc_schedstat_parse("x", &ns), -EINVAL);
    assert_true(proc_cpu_percent(0, 250000000ULL, 250000000ULL) > 99.9);
    assert_true(proc_cpu_percent(100, 50, 10) == 0.0);
    assert_true(proc_cpu_percent(0, 10, 0) == 0.0);
}

static void ages(void **state)
{
    char b[32];
    (void)state;
    report_age_text(850, b, sizeof(b));
    assert_string_equal(b, "850ms");
    report_age_text(12000, b, sizeof(b));
    assert_string_equal(b, "12s");
    report_age_text(184000, b, sizeof(b));
    assert_string_equal(b, "3m4s");
    report_age_text(7500000, b, sizeof(b));
    assert_string_equal(b, "2h5m");
    report_age_text(273600000, b, sizeof(b));
    assert_string_equal(b, "3d4h");
}

static void fill(struct doc_report *r)
{
    struct doc_zombie *z;
    struct doc_orphan *o;
    struct doc_foreign *f;
    memset(r, 0, sizeof(*r));
    snprintf(r->state_dir, sizeof(r->state_dir), "/srv/.corral");
    snprintf(r->instance, sizeof(r->instance), "0123456789abcdef");
    snprintf(r->containment, sizeof(r->containment), "cgroup");
    snprintf(r->containment_reason, sizeof(r->containment_reason), "cgroup v2 at /x");
    r->containment_source = "running corral";
    r->window_ms = 250;
    r->state = (struct doc_state){.dir_exists = true,
                                  .dir_writable = true,
                                  .db_exists = true,
                                  .db_ok = true,
                                  .db_schema = 2,
                                  .api = -1};
    z = REPORT_ADD(r, zombies);
    z->pid = 10;
    z->ppid = 9;
    snprintf(z->command, sizeof(z->command), "sleep");
    snprintf(z->parent_command, sizeof(z->parent_command), "python3 lazy.py");
    o = REPORT_ADD(r, orphans);
    o->pid = 20;
    snprintf(o->service, sizeof(o->service), "web");
    o->why = report_orphan_why(false, NULL);
    o->found_by = "tag";
    f = REPORT_ADD(r, foreign);
    f->pid = 30;
    f->ppid = 1;
    f->n_ports = 1;
    f->ports[0] = (struct doc_port){.port = 8080, .proto = "tcp", .address = "127.0.0.1"};
}

/* The report as report_json() writes it, parsed back. */
static json_t *report_parsed(const struct doc_report *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    json_t *j;
    assert_non_null(out);
    assert_int_equal(report_json(r, out), 0);
    fclose(out);
    j = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(j);
    return j;
}

/* A command line cut to its buffer inside a character, or not UTF-8 at all,
 * still has its field: the bytes JSON cannot carry become '?'. */
static void json_command_not_utf8(void **state)
{
    struct doc_report r;
    json_t *j, *z;
    (void)state;
    fill(&r);
    snprintf(r.zombies[0].command, sizeof(r.zombies[0].command), "caf\xc3");
    snprintf(r.zombies[0].parent_command, sizeof(r.zombies[0].parent_command),
             "x\xff\xfey \xe2\x82\xac");
    j = report_parsed(&r);
    z = json_array_get(json_object_get(j, "zombies"), 0);
    assert_string_equal(json_string_value(json_object_get(z, "command")), "caf?");
    assert_string_equal(json_string_value(json_object_get(z, "parent_command")),
                        "x??y \xe2\x82\xac");
    json_decref(j);
    report_free(&r);
}

static void json_schema(void **state)
{
    struct doc_report r;
    json_t *j, *z;
    (void)state;
    fill(&r);
    j = report_parsed(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "schema")), REPORT_JSON_SCHEMA);
    assert_false(json_is_true(json_object_get(j, "healthy")));
    assert_int_equal(json_integer_value(json_object_get(j, "problems")), 3);
    z = json_array_get(json_object_get(j, "zombies"), 0);
    assert_int_equal(json_integer_value(json_object_get(z, "ppid")), 9);
    assert_string_equal(json_string_value(json_object_get(z, "parent_command")), "python3 lazy.py");
    assert_int_equal(
        json_integer_value(json_object_get(
            json_array_get(
                json_object_get(json_array_get(json_object_get(j, "foreign_orphans"), 0), "ports"),
                0),
            "port")),
        8080);
    assert_true(json_is_null(
        json_object_get(json_object_get(json_object_get(j, "state"), "socket"), "answers")));
    assert_true(json_is_true(json_object_get(json_object_get(j, "state"), "healthy")));
    assert_int_equal(json_array_size(json_object_get(j, "port_conflicts")), 0);
    json_decref(j);
    report_free(&r);
}

/* How log files are written is said, in JSON and text, and is no problem
 * even where writes cannot go through io_uring. */
static void log_writes_reported(void **state)
{
    struct doc_report r;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    json_t *j, *l;
    size_t problems;
    (void)state;
    fill(&r);
    problems = report_problems(&r);
    snprintf(r.log_writes, sizeof(r.log_writes), "direct");
    snprintf(r.log_writes_reason, sizeof(r.log_writes_reason),
             "io_uring refused (Operation not permitted): a slow disk can hold up corral");
    r.log_writes_source = "this host";
    assert_int_equal(report_problems(&r), problems);
    report_table(&r, out);
    fclose(out);
    assert_non_null(strstr(text, "log writes  direct: io_uring refused (Operation not "
                                 "permitted): a slow disk can hold up corral (this host)\n"));
    j = report_parsed(&r);
    l = json_object_get(j, "log_writes");
    assert_string_equal(json_string_value(json_object_get(l, "mode")), "direct");
    assert_string_equal(json_string_value(json_object_get(l, "source")), "this host");
    assert_non_null(strstr(json_string_value(json_object_get(l, "reason")), "refused"));
    json_decref(j);
    free(text);
    report_free(&r);
}

static void table_and_problems(void **state)
{
    struct doc_report r;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    (void)state;
    fill(&r);
    r.state.lock_held = true;
    r.state.api = 0;
    assert_int_equal(report_problems(&r), 4);
    report_table(&r, out);
    fclose(out);
    assert_non_null(strstr(text, "python3 lazy.py"));
    assert_non_null(strstr(text, "tcp 127.0.0.1:8080"));
    assert_non_null(strstr(text, "API does not answer"));
    assert_non_null(strstr(text, "4 problems found"));
    free(text);
    report_free(&r);
}

/* A corral found by its instance's guard alone: its state directory was
 * replaced, which is the problem named (not the API), PID unknown or not. */
static void lost_lock(void **state)
{
    struct doc_report r;
    char *text = NULL, *js = NULL;
    size_t len = 0, jlen = 0;
    FILE *out = open_memstream(&text, &len), *jout = open_memstream(&js, &jlen);
    const char *p[8];
    json_t *j, *lock;
    (void)state;
    fill(&r);
    r.state.lock_held = true;
    r.state.lock_lost = true;
    r.state.api = 0;
    assert_int_equal(report_state_problems(&r.state, p, 8), 1);
    assert_non_null(strstr(p[0], "removed or replaced"));
    report_table(&r, out);
    fclose(out);
    assert_non_null(strstr(text, "running (pid unknown)"));
    assert_null(strstr(text, "holds the lock but its API"));
    r.state.lock_pid = 4242;
    assert_int_equal(report_json(&r, jout), 0);
    fclose(jout);
    j = json_loads(js, 0, NULL);
    assert_non_null(j);
    lock = json_object_get(json_object_get(j, "state"), "lock");
    assert_true(json_is_true(json_object_get(lock, "held")));
    assert_true(json_is_true(json_object_get(lock, "lost")));
    assert_int_equal(json_integer_value(json_object_get(lock, "pid")), 4242);
    json_decref(j);
    free(text);
    free(js);
    report_free(&r);
}

/* Controllers and each limit's enforcement, in both renderings; a limit is
 * information, not a problem. */
static void limits_and_controllers(void **state)
{
    struct doc_report r;
    struct doc_limit *l;
    char *text = NULL, *js = NULL;
    size_t len = 0, jlen = 0;
    FILE *out = open_memstream(&text, &len), *jout = open_memstream(&js, &jlen);
    json_t *j, *lim;
    (void)state;
    fill(&r);
    size_t before = report_problems(&r);
    snprintf(r.controllers, sizeof(r.controllers), "memory pids");
    r.controllers_source = "running corral";
    l = REPORT_ADD(&r, limits);
    snprintf(l->service, sizeof(l->service), "web");
    l->limit = "cpu";
    l->value = 150;
    l->enforced_by = "none";
    l->how = "not enforced: no cpu controller";
    assert_int_equal(report_problems(&r), before);
    report_table(&r, out);
    fclose(out);
    assert_non_null(strstr(text, "controllers memory pids (running corral)\n"));
    assert_non_null(strstr(text, "limit       web cpu: none, not enforced: no cpu controller\n"));
    assert_int_equal(report_json(&r, jout), 0);
    fclose(jout);
    j = json_loads(js, 0, NULL);
    assert_non_null(j);
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(j, "containment"), "controllers")), 2);
    lim = json_array_get(json_object_get(j, "limits"), 0);
    assert_string_equal(json_string_value(json_object_get(lim, "enforced_by")), "none");
    assert_int_equal(json_integer_value(json_object_get(lim, "value")), 150);
    json_decref(j);
    free(text);
    free(js);
    report_free(&r);
    /* pgroup: no controllers to speak of, null rather than an empty list. */
    fill(&r);
    js = NULL;
    jout = open_memstream(&js, &jlen);
    assert_int_equal(report_json(&r, jout), 0);
    fclose(jout);
    j = json_loads(js, 0, NULL);
    assert_true(json_is_null(json_object_get(json_object_get(j, "containment"), "controllers")));
    assert_int_equal(json_array_size(json_object_get(j, "limits")), 0);
    json_decref(j);
    free(js);
    report_free(&r);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d)))
        n += de->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void readonly_store(void **state)
{
    char dir[] = "/tmp/corral-test-doctor-XXXXXX", aside[256], why[256], path[128];
    struct store *st;
    struct diag dg;
    struct stat before, after;
    int v;
    FILE *fp;
    (void)state;
    assert_non_null(mkdtemp(dir));
    st = store_open(dir, aside, sizeof(aside), &dg);
    assert_non_null(st);
    store_close(st);
    assert_int_equal(count_entries(dir), 1);
    st = store_open_readonly(dir, false, &dg);
    assert_non_null(st);
    assert_int_equal(store_check(st, &v, why, sizeof(why)), 0);
    assert_int_equal(v, STORE_SCHEMA_VERSION);
    store_close(st);
    assert_int_equal(count_entries(dir), 1); /* no -wal, no -shm left behind */
    /* Garbage: reported, and left as it was. */
    snprintf(path, sizeof(path), "%s/state.db", dir);
    fp = fopen(path, "w");
    fputs("this is not a database, not at all, not even close to one\n", fp);
    fclose(fp);
    assert_int_equal(stat(path, &before), 0);
    st = store_open_readonly(dir, false, &dg);
    if (st) {
        assert_int_equal(store_check(st, &v, why, sizeof(why)), -EIO);
        assert_non_null(strstr(why, "not a database"));
        store_close(st);
    }
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_size, after.st_size);
    assert_int_equal(count_entries(dir), 1);
    unlink(path);
    rmdir(dir);
}

/* The guard held by another user's process: no corral runs, and that is
 * named, with the holder, as a problem of its own. */
static void foreign_guard(void **state)
{
    struct doc_report r;
    char *text = NULL, *js = NULL;
    size_t len = 0, jlen = 0;
    FILE *out = open_memstream(&text, &len), *jout = open_memstream(&js, &jlen);
    const char *p[8];
    json_t *j, *foreign;
    (void)state;
    fill(&r);
    assert_int_equal(report_state_problems(&r.state, p, 8), 0);
    r.state.guard_foreign_pid = 4343;
    r.state.guard_foreign_uid = 65534;
    assert_int_equal(report_state_problems(&r.state, p, 8), 1);
    assert_non_null(strstr(p[0], "another user"));
    report_table(&r, out);
    fclose(out);
    assert_non_null(strstr(text, "not running; its guard is held by pid 4343 of uid 65534"));
    assert_int_equal(report_json(&r, jout), 0);
    fclose(jout);
    j = json_loads(js, 0, NULL);
    assert_non_null(j);
    foreign = json_object_get(json_object_get(json_object_get(j, "state"), "lock"), "foreign");
    assert_int_equal(json_integer_value(json_object_get(foreign, "pid")), 4343);
    assert_int_equal(json_integer_value(json_object_get(foreign, "uid")), 65534);
    json_decref(j);
    free(text);
    free(js);
    report_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(orphan_rule),
        cmocka_unit_test(reparenting_rule),
        cmocka_unit_test(parsers),
        cmocka_unit_test(ages),
        cmocka_unit_test(json_schema),
        cmocka_unit_test(log_writes_reported),
        cmocka_unit_test(json_command_not_utf8),
        cmocka_unit_test(limits_and_controllers),
        cmocka_unit_test(table_and_problems),
        cmocka_unit_test(lost_lock),
        cmocka_unit_test(foreign_guard),
        cmocka_unit_test(readonly_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
