/* test_since.c — `corral events --since/--until` values: ids, durations back
 * from now, RFC 3339 times, local dates and clock times. */
#include "cli/since.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
/* cmocka.h uses setjmp.h, stdarg.h and stddef.h without including them. */
#include <cmocka.h>

#define NOW_MS  1795948200000LL /* 2026-11-29T10:30:00Z, 11:30 in TZ CET-1 */
#define TEN_UTC 1795946400000LL /* 2026-11-29T10:00:00Z */
#define HOUR_MS 3600000LL

static int64_t time_of(const char *s)
{
    struct cli_when w;
    char msg[256] = "";
    if (cli_when_parse(s, NOW_MS, &w, msg, sizeof(msg)) != 0)
        fail_msg("'%s' refused: %s", s, msg);
    assert_false(w.is_id);
    return w.time_ms;
}

static int setup(void **state)
{
    (void)state;
    /* A fixed offset that needs no zone files: UTC+1, no DST. */
    setenv("TZ", "CET-1", 1);
    tzset();
    return 0;
}

static void ids(void **state)
{
    struct cli_when w;
    char msg[256];
    (void)state;
    assert_int_equal(cli_when_parse("42", NOW_MS, &w, msg, sizeof(msg)), 0);
    assert_true(w.is_id);
    assert_int_equal(w.id, 42);
    assert_int_equal(cli_when_parse("0", NOW_MS, &w, msg, sizeof(msg)), 0);
    assert_true(w.is_id);
    assert_int_equal(w.id, 0);
    /* Every u64 is an event id: the largest is the widest bound. */
    assert_int_equal(cli_when_parse("18446744073709551615", NOW_MS, &w, msg, sizeof(msg)), 0);
    assert_true(w.is_id);
    assert_true(w.id == UINT64_MAX);
    assert_int_equal(cli_when_parse("18446744073709551616", NOW_MS, &w, msg, sizeof(msg)), -EINVAL);
}

static void durations_count_back_from_now(void **state)
{
    (void)state;
    assert_int_equal(time_of("10m"), NOW_MS - 600000);
    assert_int_equal(time_of("2h"), NOW_MS - 2 * HOUR_MS);
    assert_int_equal(time_of("1h30m"), NOW_MS - 90 * 60000);
    assert_int_equal(time_of("1.5s"), NOW_MS - 1500);
    assert_int_equal(time_of("100000h"), NOW_MS - 100000 * HOUR_MS);
}

static void a_duration_past_the_epoch_is_the_epoch(void **state)
{
    struct cli_when w;
    char msg[256];
    (void)state;
    assert_int_equal(cli_when_parse("2h", 1000, &w, msg, sizeof(msg)), 0);
    assert_false(w.is_id);
    assert_int_equal(w.time_ms, 0);
}

static void times(void **state)
{
    (void)state;
    assert_int_equal(time_of("2026-11-29T10:00:00Z"), TEN_UTC);
    assert_int_equal(time_of("2026-11-29T10:00:00.250Z"), TEN_UTC + 250);
    assert_int_equal(time_of("2026-11-29T11:00:00+01:00"), TEN_UTC);
    /* Without a zone: local time. */
    assert_int_equal(time_of("2026-11-29T11:00"), TEN_UTC);
    assert_int_equal(time_of("2026-11-29 11:00:30"), TEN_UTC + 30000);
    assert_int_equal(time_of("2026-11-29"), TEN_UTC - 11 * HOUR_MS);
    /* A clock time: today, or yesterday when it is still to come. */
    assert_int_equal(time_of("11:00"), TEN_UTC);
    assert_int_equal(time_of("11:30"), NOW_MS);
    assert_int_equal(time_of("11:00:05"), TEN_UTC + 5000);
    assert_int_equal(time_of("12:00"), TEN_UTC + HOUR_MS - 24 * HOUR_MS);
    assert_int_equal(time_of("00:00"), TEN_UTC - 11 * HOUR_MS);
}

static void bad_values_say_what_is_accepted(void **state)
{
    static const char *const bad[] = {
        "",
        "abc",
        "-5",
        "10d",
        "10 m",
        " 10m",
        "1e3",
        "25:00",
        "10:0",
        "10:00:61",
        "2026-02-30",
        "2026-13-01",
        "2026-11-29T",
        "2026-11-29T10:00Zx",
        "99999999999999999999999",
        "2026-11-29T10:00:00+1",
    };
    struct cli_when w;
    char msg[256];
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        msg[0] = '\0';
        if (cli_when_parse(bad[i], NOW_MS, &w, msg, sizeof(msg)) != -EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
        assert_non_null(strstr(msg, "is not an event id"));
        assert_non_null(strstr(msg, "10m"));
    }
    assert_int_equal(cli_when_parse(NULL, NOW_MS, &w, msg, sizeof(msg)), -EINVAL);
}

static void query_parameters(void **state)
{
    struct cli_when w = {.is_id = true, .id = 42};
    char buf[64];
    (void)state;
    cli_when_param(&w, "since", buf, sizeof(buf));
    assert_string_equal(buf, "since=42");
    w = (struct cli_when){.time_ms = TEN_UTC + 250};
    cli_when_param(&w, "until", buf, sizeof(buf));
    assert_string_equal(buf, "until_time=2026-11-29T10:00:00.250Z");
    w = (struct cli_when){.time_ms = 0};
    cli_when_param(&w, "since", buf, sizeof(buf));
    assert_string_equal(buf, "since_time=1970-01-01T00:00:00.000Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ids),
        cmocka_unit_test(durations_count_back_from_now),
        cmocka_unit_test(a_duration_past_the_epoch_is_the_epoch),
        cmocka_unit_test(times),
        cmocka_unit_test(bad_values_say_what_is_accepted),
        cmocka_unit_test(query_parameters),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
