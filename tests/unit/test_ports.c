/* test_ports.c — /proc/net/{tcp,udp}[6] lines to sockets. */
#include "proc/ports.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* cmocka.h uses setjmp.h, stdarg.h and stddef.h without including them. */
#include <cmocka.h>

static void tcp4_listener(void **state)
{
    struct proc_sock s;
    char addr[64];
    (void)state;
    assert_int_equal(proc_net_parse_line("   3: 0100007F:1F90 00000000:0000 0A 00000000:00000000 "
                                         "00:00000000 00000000  1000        0 123456 1 "
                                         "0000000000000000 100 0 0 10 0",
                                         PROC_TCP, false, &s),
                     0);
    assert_int_equal(s.port, 8080);
    assert_int_equal(s.uid, 1000);
    assert_int_equal(s.inode, 123456);
    assert_true(proc_sock_holds(&s));
    proc_sock_addr_text(&s, addr, sizeof(addr));
    assert_string_equal(addr, "127.0.0.1");
}

static void tcp4_connection_does_not_hold(void **state)
{
    struct proc_sock s;
    (void)state;
    assert_int_equal(proc_net_parse_line("  12: 0100007F:1F90 0100007F:D2B4 01 00000000:00000000 "
                                         "00:00000000 00000000     0        0 99 1",
                                         PROC_TCP, false, &s),
                     0);
    assert_false(proc_sock_holds(&s));
}

static void tcp6_and_udp6(void **state)
{
    struct proc_sock s;
    char addr[64];
    (void)state;
    assert_int_equal(proc_net_parse_line("   0: 00000000000000000000000001000000:0050 "
                                         "00000000000000000000000000000000:0000 0A "
                                         "00000000:00000000 00:00000000 00000000     0        0 "
                                         "777 1",
                                         PROC_TCP, true, &s),
                     0);
    proc_sock_addr_text(&s, addr, sizeof(addr));
    assert_string_equal(addr, "::1");
    assert_int_equal(s.port, 80);
    assert_true(s.v6);
    assert_int_equal(proc_net_parse_line(" 1234: 00000000000000000000000000000000:14E9 "
                                         "00000000000000000000000000000000:0000 07 "
                                         "00000000:00000000 00:00000000 00000000   104        0 "
                                         "4242 2 0000000000000000 0",
                                         PROC_UDP, true, &s),
                     0);
    proc_sock_addr_text(&s, addr, sizeof(addr));
    assert_string_equal(addr, "::");
    assert_int_equal(s.port, 5353);
    assert_true(proc_sock_holds(&s));
}

static void header_and_garbage(void **state)
{
    struct proc_sock s;
    (void)state;
    assert_int_equal(proc_net_parse_line("  sl  local_address rem_address   st tx_queue rx_queue "
                                         "tr tm->when retrnsmt   uid  timeout inode",
                                         PROC_TCP, false, &s),
                     -EINVAL);
    assert_int_equal(proc_net_parse_line("", PROC_TCP, false, &s), -EINVAL);
    /* An IPv6 address where IPv4 is expected, and the other way round. */
    assert_int_equal(proc_net_parse_line("   0: 00000000000000000000000001000000:0050 "
                                         "00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 1",
                                         PROC_TCP, false, &s),
                     -EINVAL);
    assert_int_equal(proc_net_parse_line("   0: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0 1",
                                         PROC_TCP, true, &s),
                     -EINVAL);
    assert_int_equal(proc_net_parse_line("   0: 0100007F:1FFFFF 00000000:0000 0A 0:0 0:0 0 0 0 1",
                                         PROC_TCP, false, &s),
                     -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tcp4_listener),
        cmocka_unit_test(tcp4_connection_does_not_hold),
        cmocka_unit_test(tcp6_and_udp6),
        cmocka_unit_test(header_and_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
