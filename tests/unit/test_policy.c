/* test_policy.c — restart decisions, backoff with jitter bounds, give-up window. */
#include "supervisor/policy.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
/* cmocka.h uses setjmp.h, stdarg.h and stddef.h without including them. */
#include <cmocka.h>

static struct cfg_restart policy(void)
{
    struct cfg_restart r = {
        .policy = CFG_RESTART_ON_FAILURE,
        .initial_ms = 100,
        .max_ms = 30000,
        .multiplier = 2.0,
        .jitter = 0.10,
        .reset_after_ms = 60000,
        .max_restarts = 10,
        .window_ms = 60000,
        .retry_after_ms = 600000,
    };
    return r;
}

static void add_code(struct cfg_exit_set *set, int code)
{
    set->bits[code / 64] |= 1ull << (code % 64);
}

static void exit_codes(void **state)
{
    (void)state;
    assert_int_equal(sup_exit_code(CLD_EXITED, 3), 3);
    assert_int_equal(sup_exit_code(CLD_KILLED, SIGKILL), 137);
    assert_int_equal(sup_exit_code(CLD_DUMPED, SIGSEGV), 139);
}

static void should_restart(void **state)
{
    struct cfg_restart r = policy();
    (void)state;
    assert_true(sup_should_restart(&r, CFG_KIND_LONGRUN, 1));
    assert_false(sup_should_restart(&r, CFG_KIND_LONGRUN, 0));
    r.policy = CFG_RESTART_ALWAYS;
    assert_true(sup_should_restart(&r, CFG_KIND_LONGRUN, 0));
    assert_false(sup_should_restart(&r, CFG_KIND_ONESHOT, 0)); /* completed */
    assert_true(sup_should_restart(&r, CFG_KIND_ONESHOT, 2));
    r.policy = CFG_RESTART_NO;
    assert_false(sup_should_restart(&r, CFG_KIND_LONGRUN, 1));
}

static void success_exit_codes(void **state)
{
    struct cfg_restart r = policy();
    (void)state;
    add_code(&r.success_exit_codes, 3);
    add_code(&r.success_exit_codes, 128 + SIGTERM);
    assert_true(sup_exit_success(&r, 0));
    assert_true(sup_exit_success(&r, 3));
    assert_true(sup_exit_success(&r, 143));
    assert_false(sup_exit_success(&r, 1));
    assert_false(sup_exit_success(&r, 137));
    /* on-failure: a success exit is not restarted, others are. */
    assert_false(sup_should_restart(&r, CFG_KIND_LONGRUN, 3));
    assert_false(sup_should_restart(&r, CFG_KIND_LONGRUN, 143));
    assert_true(sup_should_restart(&r, CFG_KIND_LONGRUN, 4));
    /* A oneshot with a success exit has completed, even under always. */
    r.policy = CFG_RESTART_ALWAYS;
    assert_false(sup_should_restart(&r, CFG_KIND_ONESHOT, 3));
    assert_true(sup_should_restart(&r, CFG_KIND_LONGRUN, 3)); /* always is always */
}

static void restart_on_exit_codes(void **state)
{
    struct cfg_restart r = policy();
    (void)state;
    add_code(&r.restart_on_exit_codes, 75);
    add_code(&r.restart_on_exit_codes, 0);
    r.policy = CFG_RESTART_NO;
    /* Forced whatever the policy, for longruns and oneshots alike. */
    assert_true(sup_should_restart(&r, CFG_KIND_LONGRUN, 75));
    assert_true(sup_should_restart(&r, CFG_KIND_ONESHOT, 75));
    assert_true(sup_should_restart(&r, CFG_KIND_ONESHOT, 0));
    assert_false(sup_should_restart(&r, CFG_KIND_LONGRUN, 1));
    /* Not a success: the list says "restart", not "all is well". */
    assert_false(sup_exit_success(&r, 75));
    r.policy = CFG_RESTART_ON_FAILURE;
    assert_true(sup_should_restart(&r, CFG_KIND_LONGRUN, 0));
}

static void stable_run_resets(void **state)
{
    struct cfg_restart r = policy();
    (void)state;
    r.reset_after_ms = 5000;
    assert_false(sup_run_stable(&r, 0));
    assert_false(sup_run_stable(&r, 4999));
    assert_true(sup_run_stable(&r, 5000));
    assert_true(sup_run_stable(&r, 600000));
}

static void retry_after(void **state)
{
    struct cfg_restart r = policy();
    (void)state;
    assert_int_equal(sup_retry_delay_ms(&r), 600000);
    r.retry_after_ms = 2000;
    assert_int_equal(sup_retry_delay_ms(&r), 2000);
    r.retry_after_ms = 0; /* retry_after: never */
    assert_int_equal(sup_retry_delay_ms(&r), 0);
    /* Without a give-up limit nothing gives up, so nothing is retried. */
    r.retry_after_ms = 2000;
    r.max_restarts = 0;
    assert_int_equal(sup_retry_delay_ms(&r), 0);
}

static void backoff_without_jitter(void **state)
{
    struct cfg_restart r = policy();
    const uint64_t want[] = {100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000};
    (void)state;
    r.jitter = 0.0;
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(sup_backoff_ms(&r, i, 12345), want[i]);
    assert_int_equal(sup_backoff_ms(&r, 5000, 0), 30000); /* huge exponent: capped */
    assert_int_equal(sup_backoff_ms(&r, UINT32_MAX, 0), 30000);
}

static void backoff_fractional_multiplier(void **state)
{
    struct cfg_restart r = policy();
    /* 100 * 1.5^n, halves rounded up: 337.5 -> 338, 506.25 -> 506 ... */
    const uint64_t want[] = {100, 150, 225, 338, 506, 759, 1139, 1709, 2563, 3844, 5767, 8650};
    (void)state;
    r.jitter = 0.0;
    r.multiplier = 1.5;
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(sup_backoff_ms(&r, i, 0), want[i]);
    r.multiplier = 1.0; /* no growth, whatever the attempt */
    assert_int_equal(sup_backoff_ms(&r, 1000000, 0), 100);
    r.multiplier = 100.0;
    assert_int_equal(sup_backoff_ms(&r, 2, 0), 30000);
    /* No delay stays none, even where multiplier^attempt overflows. */
    r.initial_ms = 0;
    assert_int_equal(sup_backoff_ms(&r, 3, 0), 0);
    assert_int_equal(sup_backoff_ms(&r, 5000, 0), 0);
}

static void backoff_jitter_bounds(void **state)
{
    struct cfg_restart r = policy();
    uint32_t rnd = 1;
    uint64_t lo = UINT64_MAX;
    uint64_t hi = 0;
    (void)state;
    for (int i = 0; i < 10000; i++) {
        uint64_t d;
        rnd = rnd * 1664525u + 1013904223u;
        d = sup_backoff_ms(&r, 3, rnd); /* nominal 800 */
        assert_in_range(d, 720, 880);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    /* The jitter really spreads: both ends of the band are reached. */
    assert_true(lo < 730);
    assert_true(hi > 870);
    assert_int_equal(sup_backoff_ms(&r, 0, 0), 90);
    assert_int_equal(sup_backoff_ms(&r, 0, UINT32_MAX), 110);
    assert_in_range(sup_backoff_ms(&r, 40, UINT32_MAX), 30000, 33000);
}

static void window_gives_up(void **state)
{
    struct cfg_restart r = policy();
    struct sup_window w = {0};
    unsigned n = 0;
    (void)state;
    r.max_restarts = 3;
    r.window_ms = 1000;
    for (uint64_t t = 0; t < 4; t++) {
        n = sup_window_note(&w, &r, 100 * t);
        assert_int_equal(n, t + 1);
    }
    assert_true(sup_window_exceeded(&r, n)); /* a 4th restart within 1 s */
    /* Long after, the old restarts have left the window. */
    n = sup_window_note(&w, &r, 5000);
    assert_int_equal(n, 1);
    assert_false(sup_window_exceeded(&r, n));
    sup_window_free(&w);
}

static void window_unlimited(void **state)
{
    struct cfg_restart r = policy();
    struct sup_window w = {0};
    (void)state;
    r.max_restarts = 0;
    for (int i = 0; i < 5000; i++)
        assert_false(sup_window_exceeded(&r, sup_window_note(&w, &r, (uint64_t)i)));
    assert_null(w.times_ms); /* nothing allocated when there is no limit */
}

static void giveup_text(void **state)
{
    struct cfg_restart r = policy();
    char buf[128];
    (void)state;
    sup_giveup_text(&r, 10, buf, sizeof(buf));
    assert_string_equal(buf, "10 restarts in 60s");
    r.window_ms = 1500;
    sup_giveup_text(&r, 1, buf, sizeof(buf));
    assert_string_equal(buf, "1 restart in 1s500ms");
    /* window: 0 has no time bound: only a stable run resets the count. */
    r.window_ms = 0;
    r.reset_after_ms = 60000;
    sup_giveup_text(&r, 2, buf, sizeof(buf));
    assert_string_equal(buf, "2 restarts with no run of 1m between them");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exit_codes),
        cmocka_unit_test(should_restart),
        cmocka_unit_test(success_exit_codes),
        cmocka_unit_test(restart_on_exit_codes),
        cmocka_unit_test(stable_run_resets),
        cmocka_unit_test(retry_after),
        cmocka_unit_test(backoff_without_jitter),
        cmocka_unit_test(backoff_fractional_multiplier),
        cmocka_unit_test(backoff_jitter_bounds),
        cmocka_unit_test(window_gives_up),
        cmocka_unit_test(window_unlimited),
        cmocka_unit_test(giveup_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
