/* test_utc.c — utc_tm() agrees with the C library's gmtime_r() field by field,
 * across leap days, century years, times before 1970 and far-off years. */
#include "util/utc.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
/* cmocka.h uses setjmp.h, stdarg.h and stddef.h without including them. */
#include <cmocka.h>

static void same_as_gmtime(time_t t)
{
    struct tm want, got;
    char msg[64];
    snprintf(msg, sizeof(msg), "t=%lld", (long long)t);
    assert_non_null(gmtime_r(&t, &want));
    memset(&got, 0x5a, sizeof(got));
    if (!utc_tm(t, &got))
        fail_msg("%s refused", msg);
    if (got.tm_year != want.tm_year || got.tm_mon != want.tm_mon || got.tm_mday != want.tm_mday ||
        got.tm_hour != want.tm_hour || got.tm_min != want.tm_min || got.tm_sec != want.tm_sec ||
        got.tm_wday != want.tm_wday || got.tm_yday != want.tm_yday || got.tm_isdst != 0 ||
        got.tm_gmtoff != 0)
        fail_msg(
            "%s: got %d-%d-%d %d:%d:%d wday %d yday %d, want %d-%d-%d %d:%d:%d wday %d yday %d",
            msg, got.tm_year, got.tm_mon, got.tm_mday, got.tm_hour, got.tm_min, got.tm_sec,
            got.tm_wday, got.tm_yday, want.tm_year, want.tm_mon, want.tm_mday, want.tm_hour,
            want.tm_min, want.tm_sec, want.tm_wday, want.tm_yday);
}

static void test_known_instants(void **state)
{
    struct tm tm;
    (void)state;
    assert_true(utc_tm(0, &tm));
    assert_int_equal(tm.tm_year, 70);
    assert_int_equal(tm.tm_mday, 1);
    assert_int_equal(tm.tm_wday, 4);
    assert_true(utc_tm(1795948200, &tm)); /* 2026-11-29T10:30:00Z, a Sunday */
    assert_int_equal(tm.tm_year + 1900, 2026);
    assert_int_equal(tm.tm_mon + 1, 11);
    assert_int_equal(tm.tm_mday, 29);
    assert_int_equal(tm.tm_hour, 10);
    assert_int_equal(tm.tm_min, 30);
    assert_int_equal(tm.tm_wday, 0);
    assert_true(utc_tm(951782400, &tm)); /* 2000-02-29: a leap day of a century year */
    assert_int_equal(tm.tm_mon, 1);
    assert_int_equal(tm.tm_mday, 29);
    assert_int_equal(tm.tm_yday, 59);
}

/* Every day of 1896-2404 at a time of day that moves, so that the hours
 * are all visited too; the century years 1900, 2100 and 2200 have no leap
 * day, 2000 and 2400 have one. */
static void test_every_day_of_five_centuries(void **state)
{
    const time_t day = 86400;
    (void)state;
    for (time_t t = -2335219200; t < 13569465600; t += day)
        same_as_gmtime(t + (t / day % 86399 + 86399) % 86399);
}

static void test_edges(void **state)
{
    static const time_t edges[] = {-1,
                                   0,
                                   1,
                                   59,
                                   60,
                                   86399,
                                   86400,
                                   -86400,
                                   -86401,
                                   INT32_MAX,
                                   INT32_MIN,
                                   (time_t)INT32_MAX + 1,
                                   253402300799 /* 9999-12-31T23:59:59Z */,
                                   -62135596800 /* 0001-01-01 */,
                                   67767976233316800};
    (void)state;
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
        same_as_gmtime(edges[i]);
}

static void test_year_beyond_int_is_refused(void **state)
{
    struct tm tm = {.tm_year = 123};
    (void)state;
    assert_false(utc_tm((time_t)INT64_MAX, &tm));
    assert_false(utc_tm((time_t)INT64_MIN / 2, &tm));
    assert_int_equal(tm.tm_year, 123);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_instants),
        cmocka_unit_test(test_every_day_of_five_centuries),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_year_beyond_int_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
