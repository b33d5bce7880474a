/* tests/unit/test_health.c — the /proc and cgroup parsers of health/ fed
 * fixture text as the kernel writes it, and the pure choices of limits. */
#include "health/limits.h"
#include "health/stats.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* cmocka.h uses setjmp.h, stdarg.h and stddef.h without including them. */
#include <cmocka.h>

/* A real /proc/PID/stat line of a process named "a) b (c", 3 threads. */
static const char STAT[] =
    "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 2517 0 0 0 125 37 0 0 20 0 3 0 "
    "812345 26304512 2560 18446744073709551615 1 1 0 0 0 0 0 16781312 2 0 0 0 17 1 0 0 0 0 0\n";

static void pstat_fields(void **state)
{
    struct health_pstat st;
    (void)state;
    assert_int_equal(health_pstat_parse(STAT, &st), 0);
    assert_int_equal(st.state, 'S');
    assert_int_equal(st.utime_ticks, 125);
    assert_int_equal(st.stime_ticks, 37);
    assert_int_equal(st.threads, 3);
    assert_int_equal(st.rss_pages, 2560);
}

static void pstat_rejects(void **state)
{
    struct health_pstat st;
    (void)state;
    assert_int_equal(health_pstat_parse("4242 (x S 1 2", &st), -EINVAL);    /* no ')' */
    assert_int_equal(health_pstat_parse("4242 (x) S 1 2 3", &st), -EINVAL); /* cut short */
    assert_int_equal(health_pstat_parse("", &st), -EINVAL);
    assert_int_equal(health_pstat_parse("1 (x) Z 1 2 3 4 5 6 7 8 9 10 zz", &st), -EINVAL);
}

static void statm(void **state)
{
    uint64_t pages = 0;
    (void)state;
    assert_int_equal(health_statm_parse("6422 2560 1024 1 0 3000 0\n", &pages), 0);
    assert_int_equal(pages, 2560);
    assert_int_equal(health_statm_parse("0 0 0 0 0 0 0\n", &pages), 0);
    assert_int_equal(pages, 0);
    assert_int_equal(health_statm_parse("6422\n", &pages), -EINVAL);
    assert_int_equal(health_statm_parse("x 1", &pages), -EINVAL);
    assert_int_equal(health_statm_parse("", &pages), -EINVAL);
}

static const char CPU_STAT[] = "usage_usec 2468013\nuser_usec 2000000\nsystem_usec 468013\n"
                               "core_sched.force_idle_usec 0\nnr_periods 0\nnr_throttled 0\n";
static const char MEMORY_EVENTS[] = "low 0\nhigh 0\nmax 17\noom 2\noom_kill 1\noom_group_kill 0\n";

static void keyed_files(void **state)
{
    uint64_t v = 0;
    (void)state;
    assert_int_equal(health_keyed_parse(CPU_STAT, "usage_usec", &v), 0);
    assert_int_equal(v, 2468013);
    assert_int_equal(health_keyed_parse(CPU_STAT, "system_usec", &v), 0);
    assert_int_equal(v, 468013);
    /* "oom" is a prefix of "oom_kill" and must not match it, nor the reverse. */
    assert_int_equal(health_keyed_parse(MEMORY_EVENTS, "oom_kill", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(health_keyed_parse(MEMORY_EVENTS, "oom", &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(health_keyed_parse(MEMORY_EVENTS, "oom_k", &v), -ENOENT);
    assert_int_equal(health_keyed_parse("usage_usec x\n", "usage_usec", &v), -EINVAL);
    assert_int_equal(health_keyed_parse("", "usage_usec", &v), -ENOENT);
}

static void single_values(void **state)
{
    uint64_t v = 0;
    (void)state;
    assert_int_equal(health_value_parse("73728000\n", &v), 0);
    assert_int_equal(v, 73728000);
    assert_int_equal(health_value_parse("max\n", &v), 0);
    assert_int_equal(v, UINT64_MAX);
    assert_int_equal(health_value_parse("maxi\n", &v), -EINVAL);
    assert_int_equal(health_value_parse("-1\n", &v), -EINVAL);
    assert_int_equal(health_value_parse("12 34\n", &v), -EINVAL);
}

static void controllers(void **state)
{
    (void)state;
    assert_int_equal(health_controllers_parse("cpuset cpu io memory hugetlb pids rdma misc\n"),
                     HEALTH_CTRL_CPU | HEALTH_CTRL_MEMORY | HEALTH_CTRL_PIDS);
    assert_int_equal(health_controllers_parse("hugetlb\n"), 0);
    assert_int_equal(health_controllers_parse("cpuset pids"), HEALTH_CTRL_PIDS);
    assert_int_equal(health_controllers_parse(""), 0);
}

static void cpu_percent(void **state)
{
    (void)state;
    assert_float_equal(health_cpu_percent(0, 500000000, 1000000000), 50.0, 1e-9);
    assert_float_equal(health_cpu_percent(100, 2000000100, 1000000000), 200.0, 1e-9);
    assert_float_equal(health_cpu_percent(5, 4, 1000), 0.0, 0); /* a counter that went back */
    assert_float_equal(health_cpu_percent(0, 100, 0), 0.0, 0);
}

static void sizes(void **state)
{
    char b[32];
    (void)state;
    health_format_size(512u << 20, b, sizeof(b));
    assert_string_equal(b, "512M");
    health_format_size(530u << 20, b, sizeof(b));
    assert_string_equal(b, "530M");
    health_format_size(1536u << 20, b, sizeof(b));
    assert_string_equal(b, "1.5G");
    health_format_size(12, b, sizeof(b));
    assert_string_equal(b, "12B");
    health_format_size(64u << 20, b, sizeof(b));
    assert_string_equal(b, "64M");
}

static void enforcement(void **state)
{
    int all = HEALTH_CTRL_CPU | HEALTH_CTRL_MEMORY | HEALTH_CTRL_PIDS;
    (void)state;
    assert_int_equal(health_limit_enforce(HEALTH_LIM_MEMORY, true, all), HEALTH_ENF_CGROUP);
    assert_int_equal(health_limit_enforce(HEALTH_LIM_MEMORY, true, 0), HEALTH_ENF_SAMPLING);
    assert_int_equal(health_limit_enforce(HEALTH_LIM_MEMORY, false, all), HEALTH_ENF_SAMPLING);
    assert_int_equal(health_limit_enforce(HEALTH_LIM_CPU, true, HEALTH_CTRL_CPU),
                     HEALTH_ENF_CGROUP);
    assert_int_equal(health_limit_enforce(HEALTH_LIM_CPU, false, all), HEALTH_ENF_NONE);
    assert_int_equal(health_limit_enforce(HEALTH_LIM_PIDS, true, HEALTH_CTRL_MEMORY),
                     HEALTH_ENF_NONE);
    assert_int_equal(health_limit_enforce(HEALTH_LIM_NOFILE, false, 0), HEALTH_ENF_RLIMIT);
    assert_non_null(strstr(health_limit_how(HEALTH_LIM_CPU, HEALTH_ENF_NONE), "not enforced"));
    assert_non_null(
        strstr(health_limit_how(HEALTH_LIM_CPU_TIME, HEALTH_ENF_RLIMIT), "CPU seconds"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pstat_fields),  cmocka_unit_test(pstat_rejects),
        cmocka_unit_test(statm),         cmocka_unit_test(keyed_files),
        cmocka_unit_test(single_values), cmocka_unit_test(controllers),
        cmocka_unit_test(cpu_percent),   cmocka_unit_test(sizes),
        cmocka_unit_test(enforcement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
