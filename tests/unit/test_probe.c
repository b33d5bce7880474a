/* tests/unit/test_probe.c — a probe's thresholds: passes and failures in a
 * row, and only a crossing reported. */
#include "health/probe.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h uses setjmp.h, stdarg.h and stddef.h without including them. */
#include <cmocka.h>

static const struct cfg_probe two_three = {.success_threshold = 2, .failure_threshold = 3};

static void passes_after_success_threshold_in_a_row(void **state)
{
    struct health_count c = {0};
    (void)state;
    assert_int_equal(health_count_note(&c, &two_three, true), HEALTH_UNKNOWN);
    /* A failure in between starts the count again. */
    assert_int_equal(health_count_note(&c, &two_three, false), HEALTH_UNKNOWN);
    assert_int_equal(health_count_note(&c, &two_three, true), HEALTH_UNKNOWN);
    assert_int_equal(health_count_note(&c, &two_three, true), HEALTH_PASSING);
    /* Reported once, not at every pass after. */
    assert_int_equal(health_count_note(&c, &two_three, true), HEALTH_UNKNOWN);
    assert_int_equal(c.verdict, HEALTH_PASSING);
}

static void fails_after_failure_threshold_in_a_row(void **state)
{
    struct health_count c = {0};
    (void)state;
    assert_int_equal(health_count_note(&c, &two_three, true), HEALTH_UNKNOWN);
    assert_int_equal(health_count_note(&c, &two_three, true), HEALTH_PASSING);
    assert_int_equal(health_count_note(&c, &two_three, false), HEALTH_UNKNOWN);
    assert_int_equal(health_count_note(&c, &two_three, false), HEALTH_UNKNOWN);
    /* A pass resets the failures: two more are not enough. */
    assert_int_equal(health_count_note(&c, &two_three, true), HEALTH_UNKNOWN);
    assert_int_equal(health_count_note(&c, &two_three, false), HEALTH_UNKNOWN);
    assert_int_equal(health_count_note(&c, &two_three, false), HEALTH_UNKNOWN);
    assert_int_equal(health_count_note(&c, &two_three, false), HEALTH_FAILING);
    assert_int_equal(c.fail_run, 3);
    assert_int_equal(health_count_note(&c, &two_three, false), HEALTH_UNKNOWN);
    /* And back: success_threshold passes in a row again. */
    assert_int_equal(health_count_note(&c, &two_three, true), HEALTH_UNKNOWN);
    assert_int_equal(health_count_note(&c, &two_three, true), HEALTH_PASSING);
}

static void first_verdict_can_be_failing(void **state)
{
    static const struct cfg_probe one_one = {.success_threshold = 1, .failure_threshold = 1};
    struct health_count c = {0};
    (void)state;
    assert_int_equal(health_count_note(&c, &one_one, false), HEALTH_FAILING);
    assert_int_equal(health_count_note(&c, &one_one, true), HEALTH_PASSING);
    assert_int_equal(health_count_note(&c, &one_one, false), HEALTH_FAILING);
}

static void counts_saturate(void **state)
{
    static const struct cfg_probe most = {.success_threshold = CFG_PROBE_MAX_THRESHOLD,
                                          .failure_threshold = CFG_PROBE_MAX_THRESHOLD};
    struct health_count c = {0};
    int passing = 0;
    (void)state;
    for (int i = 0; i < 3 * CFG_PROBE_MAX_THRESHOLD; i++)
        passing += health_count_note(&c, &most, true) == HEALTH_PASSING;
    assert_int_equal(passing, 1);
    assert_int_equal(c.ok_run, CFG_PROBE_MAX_THRESHOLD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(passes_after_success_threshold_in_a_row),
        cmocka_unit_test(fails_after_failure_threshold_in_a_row),
        cmocka_unit_test(first_verdict_can_be_failing),
        cmocka_unit_test(counts_saturate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
