/* tests/unit/test_values.c — the scalar syntaxes of corral.yaml, accepted and
 * rejected forms alike. */
#include "config/config.h"
#include "config/internal.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
/* cmocka.h uses setjmp.h, stdarg.h and stddef.h without including them. */
#include <cmocka.h>

static void expect_duration(const char *s, uint64_t want)
{
    uint64_t ms = 12345;
    if (cfg_parse_duration(s, &ms) != 0)
        fail_msg("duration '%s' rejected", s);
    if (ms != want)
        fail_msg("duration '%s' = %llu, want %llu", s, (unsigned long long)ms,
                 (unsigned long long)want);
}

static void reject_duration(const char *s)
{
    uint64_t ms = 12345;
    if (cfg_parse_duration(s, &ms) != -EINVAL)
        fail_msg("duration '%s' accepted as %llu", s ? s : "(null)", (unsigned long long)ms);
    assert_int_equal(ms, 12345);
}

static void durations_accepted(void **state)
{
    (void)state;
    expect_duration("250ms", 250);
    expect_duration("10s", 10000);
    expect_duration("5m", 300000);
    expect_duration("1h", 3600000);
    expect_duration("1m30s", 90000);
    expect_duration("1h30m", 5400000);
    expect_duration("1h2m3s4ms", 3723004);
    expect_duration("1.5s", 1500);
    expect_duration("0.25h", 900000);
    expect_duration("1.0005s", 1000);
    expect_duration("0", 0);
    expect_duration("0s", 0);
    expect_duration("100000h", 100000ull * 3600 * 1000);
}

static void durations_rejected(void **state)
{
    (void)state;
    reject_duration(NULL);
    reject_duration("");
    reject_duration("10");  /* missing unit */
    reject_duration("1.5"); /* missing unit */
    reject_duration("-1s"); /* negative */
    reject_duration("+1s");
    reject_duration("1x");  /* unknown unit */
    reject_duration("1S");  /* units are lower case */
    reject_duration("1d");  /* no days */
    reject_duration("s");   /* no number */
    reject_duration("1.s"); /* no digit after the point */
    reject_duration(".5s"); /* no digit before it */
    reject_duration("1 s"); /* no spaces */
    reject_duration(" 1s");
    reject_duration("1s ");
    reject_duration("30s1m"); /* units out of order */
    reject_duration("1s1s");  /* unit repeated */
    reject_duration("1e3s");
    reject_duration("00");
    reject_duration("garbage");
    reject_duration("99999999999999999999h"); /* overflows uint64 */
    reject_duration("100001h");               /* past the cap */
    reject_duration("5124095576030431h");     /* overflows when scaled */
}

static void urls(void **state)
{
    static const char *const good[] = {
        "http://127.0.0.1:9000/hook",
        "https://example.org",
        "http://h/",
        "http://h?x=1",
        "http://[::1]:8080/p",
        "http://user:secret@hooks.example:443/x",
        "http://h:65535",
        "HTTP://127.0.0.1:9000/hook", /* a scheme is case-insensitive (RFC 3986) */
        "Https://example.org",
    };
    static const char *const bad[] = {
        "ftp://x",         "http://",      "http:///path", "http:// spaces /",
        "http://h:99999/", "http://h:0/",  "http://h:/",   "http://h:80x/",
        "http://[]:80/",   "http://[::1/", "http://h/a b", "http://h/\x01",
    };
    const char *why = NULL;
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (cfg_check_url(good[i], &why) != 0)
            fail_msg("'%s' refused: %s", good[i], why);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        if (cfg_check_url(bad[i], &why) != -EINVAL || !why)
            fail_msg("'%s' accepted", bad[i]);
    }
}

/* What corral shows of a URL keeps a password and query values out. */
static void urls_redacted(void **state)
{
    static const char *const cases[][2] = {
        {"http://127.0.0.1:9000/hook", "http://127.0.0.1:9000/hook"},
        {"http://alice:s3cret@127.0.0.1:20606/x?token=abc",
         "http://alice:***@127.0.0.1:20606/x?token=***"},
        {"https://alice@h/x", "https://alice@h/x"},
        {"http://h/p?a=1&b&c=3#frag=x", "http://h/p?a=***&b&c=***#frag=x"},
        {"http://u:p@h:1?k=v", "http://u:***@h:1?k=***"},
        {"http://h/a#x?y=1", "http://h/a#x?y=1"},
        {"http://h/p?", "http://h/p?"},
    };
    char buf[128], tiny[8];
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cfg_url_redact(cases[i][0], buf, sizeof(buf));
        assert_string_equal(buf, cases[i][1]);
    }
    cfg_url_redact("http://u:p@h/", tiny, sizeof(tiny)); /* cut, still a string */
    assert_string_equal(tiny, "http://");
}

/* Above zero, but under the millisecond durations are kept in: as 0 it
 * would mean "off" or "forever" to many a key. */
static void durations_under_a_millisecond(void **state)
{
    uint64_t ms = 12345;
    (void)state;
    assert_int_equal(cfg_parse_duration("0.5ms", &ms), -ERANGE);
    assert_int_equal(cfg_parse_duration("0.0001s", &ms), -ERANGE);
    assert_int_equal(ms, 12345);
    expect_duration("0.0ms", 0);
    expect_duration("1.5ms", 1);
}

static void expect_size(const char *s, uint64_t want)
{
    uint64_t b = 7;
    if (cfg_parse_size(s, &b) != 0)
        fail_msg("size '%s' rejected", s);
    if (b != want)
        fail_msg("size '%s' = %llu, want %llu", s, (unsigned long long)b, (unsigned long long)want);
}

static void reject_size(const char *s)
{
    uint64_t b = 7;
    if (cfg_parse_size(s, &b) != -EINVAL)
        fail_msg("size '%s' accepted as %llu", s ? s : "(null)", (unsigned long long)b);
    assert_int_equal(b, 7);
}

static void sizes(void **state)
{
    (void)state;
    expect_size("0", 0);
    expect_size("512", 512);
    expect_size("512B", 512);
    expect_size("10K", 10240);
    expect_size("10k", 10240);
    expect_size("10KB", 10240);
    expect_size("10KiB", 10240);
    expect_size("10M", 10u << 20);
    expect_size("1G", 1u << 30);
    expect_size("2T", 2ull << 40);
    reject_size(NULL);
    reject_size("");
    reject_size("M");
    reject_size("10X");
    reject_size("-1");
    reject_size("1.5M");
    reject_size("10 M");
    reject_size("10Ki");
    reject_size("10iB");
    reject_size("10MBB");
    reject_size("99999999999999999999");
    reject_size("8388608T"); /* 2^63 bytes, past int64 */
}

static void signals_by_name_and_number(void **state)
{
    static const char *const names[] = {
        "HUP",  "INT",  "QUIT",   "ILL",  "TRAP",  "ABRT", "BUS",  "FPE",  "KILL",   "USR1", "SEGV",
        "USR2", "PIPE", "ALRM",   "TERM", "CHLD",  "CONT", "STOP", "TSTP", "TTIN",   "TTOU", "URG",
        "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO",   "PWR",  "SYS",  "STKFLT",
    };
    char buf[32];
    (void)state;
    assert_int_equal(cfg_signal_parse("TERM"), SIGTERM);
    assert_int_equal(cfg_signal_parse("SIGTERM"), SIGTERM);
    assert_int_equal(cfg_signal_parse("term"), SIGTERM);
    assert_int_equal(cfg_signal_parse("SigInt"), SIGINT);
    assert_int_equal(cfg_signal_parse("15"), SIGTERM);
    assert_int_equal(cfg_signal_parse("9"), SIGKILL);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int sig = cfg_signal_parse(names[i]);
        if (sig <= 0)
            fail_msg("signal %s rejected", names[i]);
        assert_string_equal(cfg_signal_name(sig), names[i]);
        snprintf(buf, sizeof(buf), "SIG%s", names[i]);
        assert_int_equal(cfg_signal_parse(buf), sig);
        snprintf(buf, sizeof(buf), "%d", sig);
        assert_int_equal(cfg_signal_parse(buf), sig);
    }
    assert_string_equal(cfg_signal_name(SIGUSR1), "USR1");
}

static void signals_rejected(void **state)
{
    static const char *const bad[] = {"",   "TERMM", "SIG", "SIGSIGTERM", "0",     "99",
                                      "-1", "15x",   " 15", "TERM ",      "RTMIN", "1000000"};
    (void)state;
    assert_int_equal(cfg_signal_parse(NULL), -EINVAL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cfg_signal_parse(bad[i]) != -EINVAL)
            fail_msg("signal '%s' accepted", bad[i]);
    assert_string_equal(cfg_signal_name(0), "?");
    assert_string_equal(cfg_signal_name(999), "?");
}

static void expect_fraction(const char *s, double want)
{
    double v = -1;
    if (cfg_parse_fraction(s, &v) != 0)
        fail_msg("jitter '%s' rejected", s);
    assert_float_equal(v, want, 1e-9);
}

static void jitter(void **state)
{
    static const char *const bad[] = {"",   "101%", "1.5", "-0.1", "%",    "10 %", "abc",
                                      ".5", "5%%",  "nan", "inf",  "1e-1", "2",    "0.5%x"};
    double v = -1;
    (void)state;
    expect_fraction("10%", 0.10);
    expect_fraction("0%", 0.0);
    expect_fraction("100%", 1.0);
    expect_fraction("12.5%", 0.125);
    expect_fraction("0.25", 0.25);
    expect_fraction("0", 0.0);
    expect_fraction("1", 1.0);
    assert_int_equal(cfg_parse_fraction(NULL, &v), -EINVAL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cfg_parse_fraction(bad[i], &v) != -EINVAL)
            fail_msg("jitter '%s' accepted as %g", bad[i], v);
}

static void decimals_and_integers(void **state)
{
    double d = 0;
    uint64_t u = 0;
    (void)state;
    assert_int_equal(cfg_parse_decimal("2", &d), 0);
    assert_float_equal(d, 2.0, 1e-12);
    assert_int_equal(cfg_parse_decimal("1.5", &d), 0);
    assert_float_equal(d, 1.5, 1e-12);
    assert_int_equal(cfg_parse_decimal("-1", &d), -EINVAL);
    assert_int_equal(cfg_parse_decimal("1e3", &d), -EINVAL);
    assert_int_equal(cfg_parse_decimal("", &d), -EINVAL);
    assert_int_equal(cfg_parse_decimal("inf", &d), -EINVAL);
    assert_int_equal(cfg_parse_decimal("99999999999999999", &d), -EINVAL);
    assert_int_equal(cfg_parse_uint("0", 1000, &u), 0);
    assert_int_equal(u, 0);
    assert_int_equal(cfg_parse_uint("1000", 1000, &u), 0);
    assert_int_equal(u, 1000);
    assert_int_equal(cfg_parse_uint("1001", 1000, &u), -EINVAL);
    assert_int_equal(cfg_parse_uint("-1", 1000, &u), -EINVAL);
    assert_int_equal(cfg_parse_uint("1.0", 1000, &u), -EINVAL);
    assert_int_equal(cfg_parse_uint("", 1000, &u), -EINVAL);
}

static void booleans(void **state)
{
    static const char *const bad[] = {"yes", "no", "on", "off", "1", "0", "", "tru", "falsey"};
    bool b = false;
    (void)state;
    assert_int_equal(cfg_parse_bool("true", &b), 0);
    assert_true(b);
    assert_int_equal(cfg_parse_bool("FALSE", &b), 0);
    assert_false(b);
    assert_int_equal(cfg_parse_bool("True", &b), 0);
    assert_true(b);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cfg_parse_bool(bad[i], &b) != -EINVAL)
            fail_msg("boolean '%s' accepted", bad[i]);
}

static void formatting(void **state)
{
    char buf[64];
    (void)state;
    cfg_format_duration(0, buf, sizeof(buf));
    assert_string_equal(buf, "0");
    cfg_format_duration(250, buf, sizeof(buf));
    assert_string_equal(buf, "250ms");
    cfg_format_duration(90000, buf, sizeof(buf));
    assert_string_equal(buf, "1m30s");
    cfg_format_duration(3723004, buf, sizeof(buf));
    assert_string_equal(buf, "1h2m3s4ms");
    cfg_format_size(10u << 20, buf, sizeof(buf));
    assert_string_equal(buf, "10M");
    cfg_format_size(1536, buf, sizeof(buf));
    assert_string_equal(buf, "1536");
    cfg_format_size(0, buf, sizeof(buf));
    assert_string_equal(buf, "0");
}

static void suggestions(void **state)
{
    static const char *const keys[] = {"command", "cwd", "env", "env_file", "restart", "kind"};
    (void)state;
    assert_int_equal(cfg_edit_distance("comand", "command"), 1);
    assert_int_equal(cfg_edit_distance("comamnd", "command"), 1); /* a swap is one edit */
    assert_int_equal(cfg_edit_distance("Command", "command"), 0);
    assert_string_equal(cfg_suggest("comand", keys, 6), "command");
    assert_string_equal(cfg_suggest("restrat", keys, 6), "restart");
    assert_string_equal(cfg_suggest("envfile", keys, 6), "env_file");
    assert_string_equal(cfg_suggest("knd", keys, 6), "kind");
    assert_null(cfg_suggest("xyz", keys, 6));
    assert_null(cfg_suggest("timeout", keys, 6));
    assert_null(cfg_suggest("ed", keys, 6)); /* two edits from a three-letter key is too far */
}

static void utf8(void **state)
{
    (void)state;
    assert_int_equal(cfg_utf8_check("abc", 3), 3);
    assert_int_equal(cfg_utf8_check("h\xc3\xa9llo", 6), 6);
    assert_int_equal(cfg_utf8_check("ab\xff", 3), 2);
    assert_int_equal(cfg_utf8_check("a\xc3", 2), 1);            /* truncated */
    assert_int_equal(cfg_utf8_check("\xc0\xaf", 2), 0);         /* overlong */
    assert_int_equal(cfg_utf8_check("\xed\xa0\x80", 3), 0);     /* surrogate */
    assert_int_equal(cfg_utf8_check("\xf4\x90\x80\x80", 4), 0); /* past U+10FFFF */
    assert_int_equal(cfg_utf8_check("\xf0\x9f\x98\x80", 4), 4); /* emoji */
}

static void cpu_percentages(void **state)
{
    unsigned p = 0;
    (void)state;
    assert_int_equal(cfg_parse_cpu_percent("150%", &p), 0);
    assert_int_equal(p, 150);
    assert_int_equal(cfg_parse_cpu_percent("1.5", &p), 0);
    assert_int_equal(p, 150);
    assert_int_equal(cfg_parse_cpu_percent("0.25", &p), 0);
    assert_int_equal(p, 25);
    assert_int_equal(cfg_parse_cpu_percent("2", &p), 0);
    assert_int_equal(p, 200);
    assert_int_equal(cfg_parse_cpu_percent("1%", &p), 0);
    assert_int_equal(p, 1);
    assert_int_equal(cfg_parse_cpu_percent("102400%", &p), 0);
    assert_int_equal(cfg_parse_cpu_percent("102401%", &p), -EINVAL);
    assert_int_equal(cfg_parse_cpu_percent("0.005", &p), -EINVAL); /* below the 1% grain */
    assert_int_equal(cfg_parse_cpu_percent("12.5%", &p), -EINVAL);
    assert_int_equal(cfg_parse_cpu_percent("0%", &p), -EINVAL);
    assert_int_equal(cfg_parse_cpu_percent("-1", &p), -EINVAL);
    assert_int_equal(cfg_parse_cpu_percent("50 %", &p), -EINVAL);
    assert_int_equal(cfg_parse_cpu_percent("", &p), -EINVAL);
    assert_int_equal(cfg_parse_cpu_percent(NULL, &p), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(durations_accepted),
        cmocka_unit_test(durations_rejected),
        cmocka_unit_test(durations_under_a_millisecond),
        cmocka_unit_test(urls),
        cmocka_unit_test(urls_redacted),
        cmocka_unit_test(sizes),
        cmocka_unit_test(cpu_percentages),
        cmocka_unit_test(signals_by_name_and_number),
        cmocka_unit_test(signals_rejected),
        cmocka_unit_test(jitter),
        cmocka_unit_test(decimals_and_integers),
        cmocka_unit_test(booleans),
        cmocka_unit_test(formatting),
        cmocka_unit_test(suggestions),
        cmocka_unit_test(utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
