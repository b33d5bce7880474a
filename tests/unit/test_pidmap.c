/* test_pidmap.c — the PID map agrees with a plain array under random puts and
 * deletes, through growth and the back-shifts of deletion, and with PIDs
 * that collide on purpose. */
#include "util/pidmap.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
/* cmocka.h uses setjmp.h, stdarg.h and stddef.h without including them. */
#include <cmocka.h>

#define MAXPID 4096

static uint32_t next_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void check_all(const struct pidmap *m, void *const *want)
{
    size_t n = 0;
    for (pid_t p = 1; p < MAXPID; p++) {
        if (pidmap_get(m, p) != want[p])
            fail_msg("pid %d: got %p, want %p", (int)p, pidmap_get(m, p), want[p]);
        n += want[p] != NULL;
    }
    assert_int_equal(m->n, n);
}

static void test_random_against_array(void **state)
{
    static void *want[MAXPID];
    struct pidmap m = {0};
    uint32_t x = 2463534242u;
    (void)state;
    for (int round = 0; round < 20000; round++) {
        pid_t p = (pid_t)(next_rand(&x) % (MAXPID - 1)) + 1;
        if (next_rand(&x) % 3) {
            void *v = (void *)(uintptr_t)(round + 1);
            assert_int_equal(pidmap_put(&m, p, v), 0);
            want[p] = v;
        } else {
            pidmap_del(&m, p);
            want[p] = NULL;
        }
        if (round % 997 == 0)
            check_all(&m, want);
    }
    check_all(&m, want);
    assert_true(m.n * 2 <= m.cap);
    pidmap_clear(&m);
    assert_null(pidmap_get(&m, 1));
    assert_int_equal(m.n, 0);
}

/* PIDs a multiple of the table size apart share a home at every size: one
 * long run, deleted from its middle, must keep every later member findable. */
static void test_collisions_and_back_shift(void **state)
{
    struct pidmap m = {0};
    int vals[64];
    (void)state;
    for (int i = 0; i < 64; i++)
        assert_int_equal(pidmap_put(&m, (pid_t)(1 + i * 1024 * 1024), &vals[i]), 0);
    for (int i = 0; i < 64; i += 2)
        pidmap_del(&m, (pid_t)(1 + i * 1024 * 1024));
    for (int i = 0; i < 64; i++)
        assert_ptr_equal(pidmap_get(&m, (pid_t)(1 + i * 1024 * 1024)), i % 2 ? &vals[i] : NULL);
    assert_int_equal(m.n, 32);
    pidmap_del(&m, 77); /* absent: nothing changes */
    assert_int_equal(m.n, 32);
    assert_int_equal(pidmap_put(&m, 1 + 1024 * 1024, &vals[0]), 0); /* replaces */
    assert_ptr_equal(pidmap_get(&m, 1 + 1024 * 1024), &vals[0]);
    assert_int_equal(m.n, 32);
    pidmap_clear(&m);
}

static void test_empty_and_bad_pids(void **state)
{
    struct pidmap m = {0};
    (void)state;
    assert_null(pidmap_get(&m, 1));
    pidmap_del(&m, 1);
    assert_null(pidmap_get(&m, 0));
    assert_null(pidmap_get(&m, -5));
    pidmap_clear(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_against_array),
        cmocka_unit_test(test_collisions_and_back_shift),
        cmocka_unit_test(test_empty_and_bad_pids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
