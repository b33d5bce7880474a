/* test_route.c — the API's routing and parameter checks, and the event ring. */
#include "api/events.h"
#include "api/route.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* cmocka.h uses setjmp.h, stdarg.h and stddef.h without including them. */
#include <cmocka.h>

static int match(const char *method, const char *path, struct api_route *r)
{
    const char *allow, *msg;
    return api_route_match(method, path, r, &allow, &msg);
}

static void fixed_routes(void **state)
{
    struct api_route r;
    (void)state;
    assert_int_equal(match("GET", "/v1/services", &r), 0);
    assert_int_equal(r.id, API_R_SERVICES);
    assert_int_equal(match("GET", "/v1/services/", &r), 0);
    assert_int_equal(r.id, API_R_SERVICES);
    assert_int_equal(match("HEAD", "/health/ready", &r), 0);
    assert_int_equal(r.id, API_R_HEALTH_READY);
    assert_int_equal(match("POST", "/v1/reload", &r), 0);
    assert_int_equal(r.id, API_R_RELOAD);
    assert_int_equal(match("POST", "/v1/restart", &r), 0);
    assert_int_equal(r.id, API_R_RESTART_MANY);
    assert_int_equal(match("GET", "/v1/restart", &r), 405);
    assert_int_equal(match("GET", "/v1/events", &r), 0);
    assert_int_equal(r.id, API_R_EVENTS);
    assert_int_equal(match("GET", "/metrics", &r), 0);
    assert_int_equal(r.id, API_R_METRICS);
    assert_int_equal(match("HEAD", "/metrics", &r), 0);
    assert_int_equal(match("POST", "/metrics", &r), 405);
    assert_int_equal(match("GET", "/metricsx", &r), 404);
    assert_int_equal(match("GET", "/", &r), 404);
    assert_int_equal(match("GET", "/v1/servicesx", &r), 404);
    assert_int_equal(match("GET", "/v1/services//", &r), 404);
    assert_int_equal(match("GET", "/v2/services", &r), 404);
}

static void wrong_method_names_the_right_one(void **state)
{
    struct api_route r;
    const char *allow, *msg;
    (void)state;
    assert_int_equal(api_route_match("GET", "/v1/shutdown", &r, &allow, &msg), 405);
    assert_string_equal(allow, "POST");
    assert_int_equal(api_route_match("DELETE", "/v1/services/web", &r, &allow, &msg), 405);
    assert_string_equal(allow, "GET");
    assert_int_equal(api_route_match("POST", "/v1/services/web/logs", &r, &allow, &msg), 405);
    assert_string_equal(allow, "GET");
}

static void service_routes(void **state)
{
    struct api_route r;
    (void)state;
    assert_int_equal(match("GET", "/v1/services/web", &r), 0);
    assert_int_equal(r.id, API_R_SERVICE);
    assert_string_equal(r.service, "web");
    assert_int_equal(match("POST", "/v1/services/db-1.x_y/restart", &r), 0);
    assert_int_equal(r.id, API_R_RESTART);
    assert_string_equal(r.service, "db-1.x_y");
    assert_int_equal(match("POST", "/v1/services/web/signal", &r), 0);
    assert_int_equal(r.id, API_R_SIGNAL);
    assert_int_equal(match("GET", "/v1/services/web/tree", &r), 0);
    assert_int_equal(r.id, API_R_SERVICE_TREE);
    assert_int_equal(match("POST", "/v1/services/web/explode", &r), 404);
    assert_int_equal(match("GET", "/v1/services/../etc", &r), 404);
    assert_int_equal(match("GET", "/v1/services/.hidden", &r), 404);
    assert_int_equal(match("GET", "/v1/services/a b", &r), 404);
    assert_int_equal(match("POST", "/v1/services/web/start/more", &r), 404);
}

static void long_names_are_refused(void **state)
{
    char path[API_NAME_MAX + 64];
    struct api_route r;
    (void)state;
    memset(path, 'a', sizeof(path) - 1);
    path[sizeof(path) - 1] = '\0';
    memcpy(path, "/v1/services/", 13);
    assert_int_equal(match("GET", path, &r), 404);
}

static void numbers_and_flags(void **state)
{
    uint64_t v;
    bool f;
    (void)state;
    assert_int_equal(api_parse_uint(NULL, 10, 7, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(api_parse_uint("10", 10, 0, &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(api_parse_uint("11", 10, 0, &v), -EINVAL);
    assert_int_equal(api_parse_uint("-1", 10, 0, &v), -EINVAL);
    assert_int_equal(api_parse_uint("", 10, 0, &v), -EINVAL);
    assert_int_equal(api_parse_uint("99999999999999999999999", UINT64_MAX / 10, 0, &v), -EINVAL);
    /* Past 2^64 the next step would wrap to a small number: refused. */
    assert_int_equal(api_parse_uint("18446744073709551615", UINT64_MAX, 0, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(api_parse_uint("18446744073709551616", UINT64_MAX, 0, &v), -EINVAL);
    assert_int_equal(api_parse_uint("18446744073709551619", UINT64_MAX, 0, &v), -EINVAL);
    assert_int_equal(api_parse_uint("184467440737095516160", UINT64_MAX, 0, &v), -EINVAL);
    assert_int_equal(api_parse_flag(NULL, false, &f), 0);
    assert_false(f);
    assert_int_equal(api_parse_flag("1", false, &f), 0);
    assert_true(f);
    assert_int_equal(api_parse_flag("", false, &f), 0);
    assert_true(f);
    assert_int_equal(api_parse_flag("no", true, &f), 0);
    assert_false(f);
    assert_int_equal(api_parse_flag("maybe", true, &f), -EINVAL);
}

static void event_bounds(void **state)
{
    struct api_event_bounds b;
    const char *field;
    (void)state;
    assert_int_equal(api_parse_event_bounds(NULL, NULL, NULL, NULL, NULL, &b, &field), 0);
    assert_true(b.after_id == 0 && !b.has_before && !b.has_to);
    /* 2^64 - 1 is an id bound like any other, the largest. */
    assert_int_equal(api_parse_event_bounds("18446744073709551615", NULL, "18446744073709551615",
                                            NULL, NULL, &b, &field),
                     0);
    assert_true(b.after_id == UINT64_MAX && b.has_before && b.before_id == UINT64_MAX);
    assert_int_equal(
        api_parse_event_bounds("18446744073709551616", NULL, NULL, NULL, NULL, &b, &field),
        -EINVAL);
    assert_string_equal(field, "since");
    assert_int_equal(
        api_parse_event_bounds(NULL, NULL, "18446744073709551616", NULL, NULL, &b, &field),
        -EINVAL);
    assert_string_equal(field, "until");
    assert_int_equal(api_parse_event_bounds(NULL, NULL, "0", NULL, NULL, &b, &field), -EINVAL);
    assert_string_equal(field, "until");
    /* Last-Event-ID wins over since. */
    assert_int_equal(api_parse_event_bounds("5", "7", NULL, NULL, NULL, &b, &field), 0);
    assert_true(b.after_id == 7);
    assert_int_equal(api_parse_event_bounds(NULL, "x", NULL, NULL, NULL, &b, &field), -EINVAL);
    assert_string_equal(field, "since");
    /* The epoch is an instant, not the absence of one. */
    assert_int_equal(
        api_parse_event_bounds(NULL, NULL, NULL, NULL, "1970-01-01T00:00:00Z", &b, &field), 0);
    assert_true(b.has_to);
    assert_int_equal(b.to_ms, 0);
    assert_int_equal(api_parse_event_bounds(NULL, NULL, NULL, "1970-01-01", NULL, &b, &field),
                     -EINVAL);
    assert_string_equal(field, "since_time");
    assert_int_equal(api_parse_event_bounds(NULL, NULL, NULL, NULL, "x", &b, &field), -EINVAL);
    assert_string_equal(field, "until_time");
}

static void events_within_bounds(void **state)
{
    struct api_event_bounds b = {0};
    (void)state;
    assert_true(api_events_within(&b, 1, 0));
    assert_true(api_events_within(&b, UINT64_MAX, INT64_MAX));
    b = (struct api_event_bounds){.has_to = true, .to_ms = 0};
    assert_false(api_events_within(&b, 1, 0));
    assert_false(api_events_within(&b, 1, 1795946400000LL));
    b = (struct api_event_bounds){.has_before = true, .before_id = UINT64_MAX};
    assert_true(api_events_within(&b, UINT64_MAX - 1, 0));
    assert_false(api_events_within(&b, UINT64_MAX, 0));
    b = (struct api_event_bounds){.after_id = 10};
    assert_false(api_events_within(&b, 10, 0));
    assert_true(api_events_within(&b, 11, 0));
    b = (struct api_event_bounds){.after_id = UINT64_MAX};
    assert_false(api_events_within(&b, UINT64_MAX, 0));
    b = (struct api_event_bounds){.from_ms = 1000, .has_to = true, .to_ms = 2000};
    assert_false(api_events_within(&b, 1, 999));
    assert_true(api_events_within(&b, 1, 1000));
    assert_false(api_events_within(&b, 1, 2000));
}

static void times(void **state)
{
    int64_t ms;
    (void)state;
    assert_int_equal(api_parse_time("1970-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(api_parse_time("2026-11-29T10:00:00Z", &ms), 0);
    assert_int_equal(ms, 1795946400000LL);
    assert_int_equal(api_parse_time("2026-11-29T10:00:00.25Z", &ms), 0);
    assert_int_equal(ms, 1795946400250LL);
    assert_int_equal(api_parse_time("2026-11-29T10:00:00.123456789Z", &ms), 0);
    assert_int_equal(ms, 1795946400123LL);
    assert_int_equal(api_parse_time("2026-11-29T11:30:00+01:30", &ms), 0);
    assert_int_equal(ms, 1795946400000LL);
    assert_int_equal(api_parse_time("2026-11-29T08:00:00-02:00", &ms), 0);
    assert_int_equal(ms, 1795946400000LL);
    assert_int_equal(api_parse_time("2024-02-29T00:00:00Z", &ms), 0);
    static const char *const bad[] = {
        "",
        "2026-11-29",
        "2026-11-29T10:00:00",
        "2026-11-29 10:00:00Z",
        "2026-11-29T10:00Z",
        "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-11-29T24:00:00Z",
        "2026-11-29T10:60:00Z",
        "1969-12-31T23:59:59Z",
        "2026-11-29T10:00:00.Z",
        "2026-11-29T10:00:00.1234567890Z",
        "2026-11-29T10:00:00+0100",
        "2026-11-29T10:00:00Zjunk",
        "+2026-11-29T10:00:00Z",
        "10m",
        "42",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (api_parse_time(bad[i], &ms) != -EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
    }
    assert_int_equal(api_parse_time(NULL, &ms), -EINVAL);
}

static void name_lists(void **state)
{
    const char *names[3];
    char buf[64];
    (void)state;
    assert_int_equal(api_parse_names("a,b", buf, sizeof(buf), names, 3), 2);
    assert_string_equal(names[0], "a");
    assert_string_equal(names[1], "b");
    assert_int_equal(api_parse_names("a,,b", buf, sizeof(buf), names, 3), 2);
    assert_int_equal(api_parse_names("a,../b", buf, sizeof(buf), names, 3), -EINVAL);
    assert_int_equal(api_parse_names("a,b,c,d", buf, sizeof(buf), names, 3), -E2BIG);
}

static void signal_bodies(void **state)
{
    char msg[256];
    int sig = 0;
    (void)state;
    assert_int_equal(api_parse_signal_body("{\"signal\": \"HUP\"}", 17, &sig, msg, sizeof(msg)), 0);
    assert_int_equal(sig, SIGHUP);
    assert_int_equal(api_parse_signal_body("{\"signal\": \"SIGUSR1\"}", 21, &sig, msg, sizeof(msg)),
                     0);
    assert_int_equal(sig, SIGUSR1);
    assert_int_equal(api_parse_signal_body("{\"signal\": 15}", 14, &sig, msg, sizeof(msg)), 0);
    assert_int_equal(sig, SIGTERM);
    assert_int_equal(api_parse_signal_body("{\"signal\": 0}", 13, &sig, msg, sizeof(msg)), -EINVAL);
    assert_int_equal(api_parse_signal_body("{\"signal\": \"NOPE\"}", 18, &sig, msg, sizeof(msg)),
                     -EINVAL);
    assert_non_null(strstr(msg, "unknown signal"));
    assert_int_equal(api_parse_signal_body("{\"sig\": 1}", 10, &sig, msg, sizeof(msg)), -EINVAL);
    assert_non_null(strstr(msg, "missing field 'signal'"));
    assert_int_equal(api_parse_signal_body("{\"signal\": 1", 12, &sig, msg, sizeof(msg)), -EINVAL);
    assert_non_null(strstr(msg, "malformed JSON"));
    assert_int_equal(api_parse_signal_body("", 0, &sig, msg, sizeof(msg)), -EINVAL);
    assert_int_equal(api_parse_signal_body("[]", 2, &sig, msg, sizeof(msg)), -EINVAL);
    assert_int_equal(api_parse_signal_body("{\"signal\": \"HUP\", \"signal\": \"HUP\"}", 34, &sig,
                                           msg, sizeof(msg)),
                     -EINVAL);
}

static void tokens(void **state)
{
    (void)state;
    assert_true(api_token_ok("Bearer abcdef0123456789", "abcdef0123456789"));
    assert_true(api_token_ok("bearer abcdef0123456789", "abcdef0123456789"));
    assert_false(api_token_ok("Basic abcdef0123456789", "abcdef0123456789"));
    assert_false(api_token_ok("Bearer abcdef012345678", "abcdef0123456789"));
    assert_false(api_token_ok("Bearer abcdef01234567890", "abcdef0123456789"));
    assert_false(api_token_ok("Bearer abcdef0123456788", "abcdef0123456789"));
    assert_false(api_token_ok("abcdef0123456789", "abcdef0123456789"));
    assert_false(api_token_ok("Basic abcdef0123456789", "abcdef0123456789"));
    assert_false(api_token_ok(NULL, "abcdef0123456789"));
    assert_false(api_token_ok("Bearer ", ""));
}

static void event_ring(void **state)
{
    struct api_events *ev = malloc(sizeof(*ev));
    char text[32];
    (void)state;
    assert_int_equal(api_events_init(ev), 0);
    assert_int_equal(api_events_after(ev, 0), 0);
    for (int i = 1; i <= API_EVENTS_KEEP + 10; i++) {
        snprintf(text, sizeof(text), "{\"n\":%d}", i);
        assert_int_equal(api_events_add(ev, strdup(text), i, i % 2 ? "web" : NULL), (uint64_t)i);
    }
    assert_int_equal(ev->n, API_EVENTS_KEEP);
    assert_int_equal(api_events_at(ev, 0)->id, 11);
    assert_string_equal(api_events_at(ev, 0)->json, "{\"n\":11}");
    assert_string_equal(api_events_at(ev, 0)->service, "web");
    assert_null(api_events_at(ev, 1)->service);
    assert_int_equal(api_events_at(ev, 1)->time_ms, 12);
    assert_int_equal(api_events_at(ev, API_EVENTS_KEEP - 1)->id, API_EVENTS_KEEP + 10);
    /* Resume points: before the oldest retained, inside, at the end, beyond. */
    assert_int_equal(api_events_after(ev, 0), 0);
    assert_int_equal(api_events_after(ev, 10), 0);
    assert_int_equal(api_events_after(ev, 11), 1);
    assert_int_equal(api_events_after(ev, 500), 490);
    assert_int_equal(api_events_after(ev, API_EVENTS_KEEP + 10), API_EVENTS_KEEP);
    assert_int_equal(api_events_after(ev, 1u << 30), API_EVENTS_KEEP);
    assert_int_equal(api_events_add(ev, NULL, 0, NULL), 0);
    api_events_free(ev);
    free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixed_routes),      cmocka_unit_test(wrong_method_names_the_right_one),
        cmocka_unit_test(service_routes),    cmocka_unit_test(long_names_are_refused),
        cmocka_unit_test(numbers_and_flags), cmocka_unit_test(name_lists),
        cmocka_unit_test(signal_bodies),     cmocka_unit_test(tokens),
        cmocka_unit_test(event_ring),        cmocka_unit_test(times),
        cmocka_unit_test(event_bounds),      cmocka_unit_test(events_within_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
