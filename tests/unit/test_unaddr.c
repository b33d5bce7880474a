/* test_unaddr.c — abstract unix addresses: the leading NUL, the length that
 * ends the name, a name cut to fit, and the kernel's reading of them. */
#include "util/unaddr.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
/* cmocka.h uses setjmp.h, stdarg.h and stddef.h without including them. */
#include <cmocka.h>

static void test_layout(void **state)
{
    struct sockaddr_un sa;
    socklen_t len = unaddr_abstract(&sa, "corral/%s/%s", "0123abcd", "web");
    (void)state;
    assert_int_equal(sa.sun_family, AF_UNIX);
    assert_int_equal(sa.sun_path[0], '\0');
    assert_int_equal(len,
                     offsetof(struct sockaddr_un, sun_path) + 1 + strlen("corral/0123abcd/web"));
    assert_memory_equal(sa.sun_path + 1, "corral/0123abcd/web", strlen("corral/0123abcd/web"));
}

static void test_cut_to_fit(void **state)
{
    struct sockaddr_un sa;
    char longname[300];
    socklen_t len;
    (void)state;
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    len = unaddr_abstract(&sa, "corral/%s", longname);
    assert_true(len <= sizeof(sa));
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + sizeof(sa.sun_path) - 1);
}

/* What the kernel binds is exactly the name, no trailing NUL: getsockname
 * gives back the same bytes, and a second bind of it is refused. */
static void test_kernel_agrees(void **state)
{
    struct sockaddr_un sa, got;
    socklen_t got_len = sizeof(got);
    char name[64];
    socklen_t len;
    int a, b;
    (void)state;
    snprintf(name, sizeof(name), "corral-test/%d", (int)getpid());
    len = unaddr_abstract(&sa, "%s", name);
    a = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    b = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(a >= 0 && b >= 0);
    assert_int_equal(bind(a, (struct sockaddr *)&sa, len), 0);
    assert_int_equal(getsockname(a, (struct sockaddr *)&got, &got_len), 0);
    assert_int_equal(got_len, len);
    assert_memory_equal(got.sun_path, sa.sun_path, len - offsetof(struct sockaddr_un, sun_path));
    assert_int_equal(bind(b, (struct sockaddr *)&sa, len), -1);
    close(a);
    close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_cut_to_fit),
        cmocka_unit_test(test_kernel_agrees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
