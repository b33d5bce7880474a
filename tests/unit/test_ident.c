/* test_ident.c — /proc parsers fed fixture text: stat (hostile command names),
 * the environment tag, cgroup and mountinfo lines; and the test's own children
 * as /proc lists them. */
#include "proc/cgroup.h"
#include "proc/ident.h"
#include "proc/scan.h"
#include "proc/tree.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
/* cmocka.h uses setjmp.h, stdarg.h and stddef.h without including them. */
#include <cmocka.h>

static void stat_plain(void **state)
{
    const char *t = "1234 (sleep) S 1 1234 1234 0 -1 4194304 100 0 0 0 7 3 0 0 20 0 1 0 "
                    "987654 5000000 321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0\n";
    struct proc_stat st;
    (void)state;
    assert_int_equal(proc_stat_parse(t, strlen(t), &st), 0);
    assert_int_equal(st.state, 'S');
    assert_int_equal(st.ppid, 1);
    assert_int_equal(st.pgid, 1234);
    assert_int_equal(st.sid, 1234);
    assert_int_equal(st.utime_ticks, 7);
    assert_int_equal(st.stime_ticks, 3);
    assert_int_equal(st.start_ticks, 987654);
    assert_int_equal(st.rss_pages, 321);
}

static void stat_hostile_name(void **state)
{
    /* A command name may contain ") S 1 2 3 (" and spaces: only the last ')' counts. */
    const char *t = "77 (evil) S 1 2 3 () Z 5 77 77 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 "
                    "4242 0 9 0\n";
    struct proc_stat st;
    (void)state;
    assert_int_equal(proc_stat_parse(t, strlen(t), &st), 0);
    assert_int_equal(st.state, 'Z');
    assert_int_equal(st.ppid, 5);
    assert_int_equal(st.start_ticks, 4242);
}

static void stat_truncated(void **state)
{
    const char *t = "77 (x) S 1 2 3";
    struct proc_stat st;
    (void)state;
    assert_int_equal(proc_stat_parse(t, strlen(t), &st), -22);
    assert_int_equal(proc_stat_parse("garbage", 7, &st), -22);
    assert_int_equal(proc_stat_parse("", 0, &st), -22);
}

static void stat_self(void **state)
{
    struct proc_stat st;
    (void)state;
    assert_int_equal(proc_stat_read(getpid(), &st), 0);
    assert_int_equal(st.ppid, getppid());
    assert_true(st.start_ticks > 0);
}

static void environ_tag(void **state)
{
    static const char env[] = "PATH=/bin\0CORRAL_SERVICE=web\0CORRAL_INSTANCE=abc123\0X=1";
    static const char other[] = "CORRAL_SERVICE=web\0CORRAL_INSTANCE=abc1234";
    static const char prefix[] = "CORRAL_SERVICE=web\0CORRAL_INSTANCE=abc";
    char svc[64];
    (void)state;
    assert_int_equal(proc_environ_tag(env, sizeof(env), "abc123", svc, sizeof(svc)), 1);
    assert_string_equal(svc, "web");
    assert_int_equal(proc_environ_tag(env, sizeof(env), "zzz", svc, sizeof(svc)), 0);
    assert_int_equal(proc_environ_tag(other, sizeof(other), "abc123", svc, sizeof(svc)), 0);
    assert_int_equal(proc_environ_tag(prefix, sizeof(prefix) - 1, "abc123", svc, sizeof(svc)), 0);
    assert_int_equal(proc_environ_tag("", 0, "abc123", svc, sizeof(svc)), 0);
}

static void cgroup_lines(void **state)
{
    const char *hybrid = "12:memory:/x\n1:name=systemd:/\n0::/user.slice/a.scope\n";
    const char *mounts =
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
    char out[256];
    (void)state;
    assert_int_equal(proc_cgroup_self_parse(hybrid, out, sizeof(out)), 0);
    assert_string_equal(out, "/user.slice/a.scope");
    assert_int_equal(proc_cgroup_self_parse("1:cpu:/\n", out, sizeof(out)), -2);
    assert_int_equal(proc_cgroup_mount_parse(mounts, out, sizeof(out)), 0);
    assert_string_equal(out, "/sys/fs/cgroup/unified");
    assert_int_equal(proc_cgroup_mount_parse("31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n",
                                             out, sizeof(out)),
                     -2);
}

static void environ_contains(void **state)
{
    static const char env[] = "A=1\0CORRAL_HOOK=abc-1-2\0B=two";
    (void)state;
    assert_true(proc_environ_contains(env, sizeof(env), "CORRAL_HOOK=abc-1-2"));
    assert_true(proc_environ_contains(env, sizeof(env), "B=two"));
    assert_false(proc_environ_contains(env, sizeof(env), "CORRAL_HOOK=abc-1"));    /* a prefix */
    assert_false(proc_environ_contains(env, sizeof(env), "CORRAL_HOOK=abc-1-23")); /* longer */
    assert_false(proc_environ_contains(env, sizeof(env) - 2, "B=two"));            /* cut */
    assert_false(proc_environ_contains(env, 0, "A=1"));
}

static bool listed(const pid_t *pids, int n, pid_t pid)
{
    for (int i = 0; i < n; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

/* Three children that wait for their pipe to close: all three are listed, and
 * a list with room for two says it is too short. */
static void self_children(void **state)
{
    pid_t kids[3], got[8];
    int p[2], n;
    (void)state;
    assert_int_equal(pipe(p), 0);
    for (int i = 0; i < 3; i++) {
        char c;
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            close(p[1]);
            _exit(read(p[0], &c, 1) == 0 ? 0 : 1);
        }
    }
    close(p[0]);
    n = proc_self_children(got, 8);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++)
        assert_true(listed(got, n, kids[i]));
    assert_int_equal(proc_self_children(got, 2), -E2BIG);
    close(p[1]);
    for (int i = 0; i < 3; i++) {
        int st;
        assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_int_equal(proc_self_children(got, 8), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stat_plain),     cmocka_unit_test(stat_hostile_name),
        cmocka_unit_test(stat_truncated), cmocka_unit_test(stat_self),
        cmocka_unit_test(environ_tag),    cmocka_unit_test(environ_contains),
        cmocka_unit_test(cgroup_lines),   cmocka_unit_test(self_children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
